"""The LUT core as a Wishbone B4 slave: :class:`lutsim.hw.accelerator.LutAccelerator` behind a
32-bit Wishbone B4 classic front end (as LiteX and most soft-CPU SoCs use), with an interrupt line.

Ports (besides ``clk`` and ``rst``, synchronous, active high; A = ``addr_bits``)
-----------------------------------------------------------------------------
================== ========= ===================================================================
port               width     meaning
================== ========= ===================================================================
``wb_cyc``         1         bus cycle in progress
``wb_stb``         1         strobe: a transfer is requested
``wb_we``          1         the transfer is a write
``wb_adr``         A - 2     **word** address (the byte address without its two low bits)
``wb_dat_w``       32        write data
``wb_sel``         4         byte selects of a write
``wb_dat_r``       32        read data, valid with ``wb_ack``
``wb_ack``         1         the transfer completed
``wb_err``         1         the transfer was refused or its address is unmapped
``irq``            1         high while STATUS.DONE and IRQ_EN are set
================== ========= ===================================================================

The address map (here in words), the registers and the run timing are those of
:mod:`lutsim.hw.accelerator`. A transfer the AXI4-Lite wrapper would answer with SLVERR or
DECERR ends with ``wb_err`` instead of ``wb_ack``; its write has no effect.

Protocol timing (classic cycles, registered feedback): a transfer seen with ``wb_cyc & wb_stb``
in cycle ``c`` ends with ``wb_ack`` or ``wb_err`` for exactly one cycle, ``c + 1``, and the
slave takes the next transfer from ``c + 2``: 2 cycles per transfer, also when the master holds
``wb_stb`` high between transfers. Writes take effect at the end of cycle ``c``. A START written
in cycle ``c`` starts the run in that cycle: DONE and ``irq`` rise in cycle ``c + T + 2``.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .accelerator import (
    DEFAULT_DATA_WORDS,
    DEFAULT_PROGRAM_INSTRS,
    RESP_OKAY,
    LutAccelerator,
    check_wrapper,
)

__all__ = ["WishboneLut"]


class WishboneLut(wiring.Component):
    """``LutCore(cfg)`` with its scratchpad and fetcher as a Wishbone B4 classic slave (see the
    module docstring). ``addr_bits`` is the width of a byte address; ``wb_adr`` has two fewer."""

    def __init__(
        self,
        cfg: CoreConfig,
        data_words: int = DEFAULT_DATA_WORDS,
        program_instrs: int = DEFAULT_PROGRAM_INSTRS,
    ):
        check_wrapper(cfg, data_words, program_instrs)  # before anything is built
        self.accelerator = LutAccelerator(cfg, data_words, program_instrs)
        self.cfg = cfg
        self.addr_bits = self.accelerator.addr_bits
        super().__init__(
            {
                "wb_cyc": In(1),
                "wb_stb": In(1),
                "wb_we": In(1),
                "wb_adr": In(self.addr_bits - 2),
                "wb_dat_w": In(32),
                "wb_sel": In(4),
                "wb_dat_r": Out(32),
                "wb_ack": Out(1),
                "wb_err": Out(1),
                "irq": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.accelerator = acc = self.accelerator
        pending = Signal()  # a transfer was taken last cycle: it ends in this one
        take = self.wb_cyc & self.wb_stb & ~pending
        m.d.sync += pending.eq(take)
        ok = acc.o_bus_resp == RESP_OKAY
        m.d.comb += [
            acc.i_bus_valid.eq(take),
            acc.i_bus_write.eq(self.wb_we),
            acc.i_bus_addr.eq(self.wb_adr),
            acc.i_bus_wdata.eq(self.wb_dat_w),
            acc.i_bus_strb.eq(self.wb_sel),
            self.wb_ack.eq(acc.o_bus_ack & ok & self.wb_cyc),
            self.wb_err.eq(acc.o_bus_ack & ~ok & self.wb_cyc),
            self.wb_dat_r.eq(acc.o_bus_rdata),
            self.irq.eq(acc.o_irq),
        ]
        return m
