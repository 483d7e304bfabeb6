"""Accumulator registers: ``acc_regs`` fragments of M x N values in the accumulator format."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .table_regs import beat_bits

__all__ = ["AccumulatorRegisters"]


class AccumulatorRegisters(wiring.Component):
    """Accumulator register file: whole-fragment and per-beat writes, whole and per-beat reads.

    Parameters: ``cfg`` — the core configuration.

    Members (value ``m * N + n`` of a fragment is output (m, n); a beat holds ``bus_words``
    consecutive values):
        ``i_reg``       In(4)   register written
        ``i_clear``     In(1)   zero it (``zacc``)
        ``i_we_all``    In(1)   write ``i_all`` to it (``lmma``)
        ``i_all``       In(ArrayLayout(acc bits, M*N))
        ``i_we_beat``   In(1)   write ``i_beat_data`` to values ``i_beat * bus_words + j`` (``lda``)
        ``i_beat``      In(...)
        ``i_beat_data`` In(ArrayLayout(acc bits, bus_words))
        ``i_rd_reg``    In(4)   register read
        ``o_all``       Out(ArrayLayout(acc bits, M*N))       its values
        ``o_beat``      Out(ArrayLayout(acc bits, bus_words)) values ``i_beat * bus_words + j``
                                                               (0 past the fragment)

    Latency: writes at the next edge; reads combinational.
    """

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        bits, values, lanes = cfg.acc.bits, cfg.m * cfg.n, cfg.bus_words
        super().__init__(
            {
                "i_reg": In(4),
                "i_clear": In(1),
                "i_we_all": In(1),
                "i_all": In(data.ArrayLayout(bits, values)),
                "i_we_beat": In(1),
                "i_beat": In(beat_bits(cfg)),
                "i_beat_data": In(data.ArrayLayout(bits, lanes)),
                "i_rd_reg": In(4),
                "o_all": Out(data.ArrayLayout(bits, values)),
                "o_beat": Out(data.ArrayLayout(bits, lanes)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        values, lanes = cfg.m * cfg.n, cfg.bus_words
        layout = data.ArrayLayout(cfg.acc.bits, values)
        regs = [Signal(layout, name=f"a{r}") for r in range(cfg.acc_regs)]
        for r, reg in enumerate(regs):
            with m.If(self.i_reg == r):
                with m.If(self.i_clear):
                    m.d.sync += reg.eq(0)
                with m.Elif(self.i_we_all):
                    m.d.sync += reg.eq(self.i_all)
                with m.Elif(self.i_we_beat):
                    for p in range(values):
                        with m.If(self.i_beat == p // lanes):
                            m.d.sync += reg[p].eq(self.i_beat_data[p % lanes])
        with m.Switch(self.i_rd_reg):
            for r, reg in enumerate(regs):
                with m.Case(r):
                    m.d.comb += self.o_all.eq(reg)
        beats = -(-values // lanes)
        with m.Switch(self.i_beat):
            for beat in range(beats):
                with m.Case(beat):
                    for j in range(lanes):  # every lane driven in every case (0 past the end)
                        p = beat * lanes + j
                        m.d.comb += self.o_beat[j].eq(self.o_all[p] if p < values else 0)
            with m.Default():
                m.d.comb += self.o_beat.eq(0)
        return m
