"""Table registers: ``table_regs`` fragments of M tables x E entries."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

__all__ = ["TableRegisters"]


def beat_bits(cfg: CoreConfig) -> int:
    """Width of a beat counter for any fragment of the core."""
    return max(cfg.latency_cycles.values()).bit_length() + 1


class TableRegisters(wiring.Component):
    """Table register file, written one memory beat at a time, read one register at a time.

    Parameters: ``cfg`` — the core configuration.

    Members:
        ``i_we``      In(1)    write this cycle
        ``i_reg``     In(4)    register written
        ``i_beat``    In(...)  beat number: words ``beat * bus_words + j`` of the fragment
        ``i_data``    In(ArrayLayout(32, bus_words))  the beat's words (entry in the low bits)
        ``i_rd_reg``  In(4)    register read
        ``o_tables``  Out(ArrayLayout(ArrayLayout(table bits, E), M))  its M tables

    Fragment word ``m * E + j`` is entry j of table m (:mod:`lutsim.isa.golden`). Latency: writes take
    effect at the next clock edge; reads are combinational.
    """

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        self.table_layout = data.ArrayLayout(
            data.ArrayLayout(cfg.table.bits, cfg.table_entries), cfg.m
        )
        super().__init__(
            {
                "i_we": In(1),
                "i_reg": In(4),
                "i_beat": In(beat_bits(cfg)),
                "i_data": In(data.ArrayLayout(32, cfg.bus_words)),
                "i_rd_reg": In(4),
                "o_tables": Out(self.table_layout),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        bits, entries, lanes = cfg.table.bits, cfg.table_entries, cfg.bus_words
        regs = [Signal(self.table_layout, name=f"t{r}") for r in range(cfg.table_regs)]
        for r, reg in enumerate(regs):
            with m.If(self.i_we & (self.i_reg == r)):
                for p in range(cfg.table_fragment_words):
                    with m.If(self.i_beat == p // lanes):
                        m.d.sync += reg[p // entries][p % entries].eq(self.i_data[p % lanes][:bits])
        with m.Switch(self.i_rd_reg):
            for r, reg in enumerate(regs):
                with m.Case(r):
                    m.d.comb += self.o_tables.eq(reg)
        return m
