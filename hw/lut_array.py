"""The LUT array: M x N lookup units, each feeding a shift-and-accumulate unit."""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .lookup import LookupUnit
from .shift_acc import ShiftAccumulate

__all__ = ["LutArray"]


class LutArray(wiring.Component):
    """One bit plane of an ``lmma`` for the whole M x N tile.

    Each table entry fans out to the N lookup units of its row; each weight index to the M
    units of its column (the paper's elongated M2N64K4 tile: 64 and 2).

    Members:
        ``i_tables`` In(ArrayLayout(ArrayLayout(table bits, E), M))  the M tables
        ``i_index``  In(ArrayLayout(K, N))                             plane b's N indices
        ``i_shift``  In(range(B))                                      the plane b
        ``i_acc``    In(ArrayLayout(acc bits, M*N))                    accumulators in
        ``o_acc``    Out(ArrayLayout(acc bits, M*N))                   accumulators out

    Latency: 0 cycles (combinational); the core registers ``o_acc`` once per plane.
    """

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        values = cfg.m * cfg.n
        super().__init__(
            {
                "i_tables": In(
                    data.ArrayLayout(data.ArrayLayout(cfg.table.bits, cfg.table_entries), cfg.m)
                ),
                "i_index": In(data.ArrayLayout(cfg.k, cfg.n)),
                "i_shift": In(range(max(cfg.weight_bits, 2))),
                "i_acc": In(data.ArrayLayout(cfg.acc.bits, values)),
                "o_acc": Out(data.ArrayLayout(cfg.acc.bits, values)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        for row in range(cfg.m):
            for col in range(cfg.n):
                lookup = LookupUnit(cfg)
                accumulate = ShiftAccumulate(cfg)
                m.submodules[f"lookup_{row}_{col}"] = lookup
                m.submodules[f"acc_{row}_{col}"] = accumulate
                p = row * cfg.n + col
                m.d.comb += [
                    lookup.i_entries.eq(self.i_tables[row]),
                    lookup.i_index.eq(self.i_index[col]),
                    accumulate.i_acc.eq(self.i_acc[p]),
                    accumulate.i_value.eq(lookup.o_value),
                    accumulate.i_shift.eq(self.i_shift),
                    self.o_acc[p].eq(accumulate.o_acc),
                ]
        return m
