"""Weight registers: ``weight_regs`` fragments of B bit planes x N stored indices."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .table_regs import beat_bits

__all__ = ["WeightRegisters"]


class WeightRegisters(wiring.Component):
    """Weight register file, written one memory beat at a time; reads one plane of one register.

    Parameters: ``cfg`` — the core configuration.

    Members:
        ``i_we``, ``i_reg``, ``i_beat``, ``i_data``   as in :class:`TableRegisters`
        ``i_rd_reg``  In(4)          register read
        ``i_plane``   In(range(B))   bit plane read
        ``o_index``   Out(ArrayLayout(K, N))  the N stored K-bit indices of that plane

    The fragment is the bit stream of :mod:`lutsim.isa.golden`: bit ``(b * N + n) * K + l`` is bit l of
    plane b's index for column n. Latency: writes at the next edge; reads combinational.
    """

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        super().__init__(
            {
                "i_we": In(1),
                "i_reg": In(4),
                "i_beat": In(beat_bits(cfg)),
                "i_data": In(data.ArrayLayout(32, cfg.bus_words)),
                "i_rd_reg": In(4),
                "i_plane": In(range(max(cfg.weight_bits, 2))),
                "o_index": Out(data.ArrayLayout(cfg.k, cfg.n)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        words, lanes = cfg.weight_fragment_words, cfg.bus_words
        plane_bits = cfg.n * cfg.k
        regs = [Signal(words * 32, name=f"w{r}") for r in range(cfg.weight_regs)]
        for r, reg in enumerate(regs):
            with m.If(self.i_we & (self.i_reg == r)):
                for word in range(words):
                    with m.If(self.i_beat == word // lanes):
                        m.d.sync += reg[word * 32 : (word + 1) * 32].eq(self.i_data[word % lanes])
        selected = Signal(words * 32)
        with m.Switch(self.i_rd_reg):
            for r, reg in enumerate(regs):
                with m.Case(r):
                    m.d.comb += selected.eq(reg)
        with m.Switch(self.i_plane):
            for b in range(cfg.weight_bits):
                with m.Case(b):
                    m.d.comb += self.o_index.eq(selected[b * plane_bits : (b + 1) * plane_bits])
        return m
