"""One lookup unit: select a table entry by the low index bits, negate it by the high one."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

__all__ = ["LookupUnit"]


class LookupUnit(wiring.Component):
    """Mux + negate for one table row and one weight index (the offline-inverted index of
    :mod:`lutsim.isa.golden`).

    Parameters: ``cfg`` — the core configuration.

    Members:
        ``i_entries`` In(ArrayLayout(table bits, E))  the stored entries of one table
        ``i_index``   In(K)                            stored weight index of one plane
        ``o_value``   Out(table bits)                  ``T[index & mask]``, negated (two's
                                                       complement, or the float sign bit) when
                                                       symmetrized and ``index[K-1] == 0``

    Latency: 0 cycles (combinational). Integer entries are wide enough for their negation
    (``CoreConfig.table_entry_bits``), so the negation never overflows.
    """

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        bits = cfg.table.bits
        super().__init__(
            {
                "i_entries": In(data.ArrayLayout(bits, cfg.table_entries)),
                "i_index": In(cfg.k),
                "o_value": Out(bits),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        bits = cfg.table.bits
        select = self.i_index[: cfg.k - 1 if cfg.symmetrize else cfg.k]
        entry = Signal(bits)
        with m.Switch(select):  # a mux per entry: cheaper to simulate than a shifter
            for j in range(cfg.table_entries):
                with m.Case(j):
                    m.d.comb += entry.eq(self.i_entries[j])
        if not cfg.symmetrize:
            m.d.comb += self.o_value.eq(entry)
            return m
        negate = ~self.i_index[cfg.k - 1]
        if cfg.table.is_float:
            flipped = entry ^ (1 << (bits - 1))
        else:
            flipped = (-entry.as_signed())[:bits]
        m.d.comb += self.o_value.eq(Mux(negate, flipped, entry))
        return m
