"""The LUT core's datapath on its own: the LUT array and its accumulators, operands from ports."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .lut_array import LutArray

__all__ = ["LutTile"]


class LutTile(wiring.Component):
    """:class:`lutsim.hw.lut_array.LutArray` behind M x N accumulator registers, framed like the
    baseline arrays (:class:`lutsim.hw.mac_array.MacArray`): operands come straight from the ports,
    there are no register files and no decoder. It is what an ``lmma`` exercises in the core,
    one bit plane per cycle, and what synthesis compares with the MAC array.

    Parameters: ``cfg`` — the core configuration (every format the core supports).

    Members:
        ``i_valid``   In(1)                                         a plane is offered
        ``i_clear``   In(1)                                         add it to 0, not to ``o_acc``
        ``i_tables``  In(ArrayLayout(ArrayLayout(table bits, E), M)) the M tables
        ``i_index``   In(ArrayLayout(K, N))                          the plane's stored indices
        ``i_plane``   In(range(max(B, 2)))                           the plane b
        ``o_acc``     Out(ArrayLayout(acc bits, M*N))               accumulators (value m*N + n)

    Timing: initiation interval 1 cycle, latency 1 cycle: a plane offered in cycle c
    (``i_valid``) is in ``o_acc`` from cycle c + 1. A K-group of B-bit weights takes B planes.
    Registers: the M x N accumulators only (reset to 0).
    """

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        super().__init__(
            {
                "i_valid": In(1),
                "i_clear": In(1),
                "i_tables": In(
                    data.ArrayLayout(data.ArrayLayout(cfg.table.bits, cfg.table_entries), cfg.m)
                ),
                "i_index": In(data.ArrayLayout(cfg.k, cfg.n)),
                "i_plane": In(range(max(cfg.weight_bits, 2))),
                "o_acc": Out(data.ArrayLayout(cfg.acc.bits, cfg.m * cfg.n)),
            }
        )

    @property
    def latency_cycles(self) -> int:
        """Cycles from offering a plane to its result in ``o_acc``: 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = array = LutArray(self.cfg)
        acc = Signal(self.o_acc.shape(), name="acc")
        m.d.comb += [
            array.i_tables.eq(self.i_tables),
            array.i_index.eq(self.i_index),
            array.i_shift.eq(self.i_plane),
            array.i_acc.eq(Mux(self.i_clear, 0, acc.as_value())),
            self.o_acc.eq(acc),
        ]
        with m.If(self.i_valid):
            m.d.sync += acc.eq(array.o_acc)
        return m
