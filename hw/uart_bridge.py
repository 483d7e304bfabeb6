"""A UART bridge: the bus-attached core (:mod:`lutsim.hw.accelerator`) driven over a serial line,
so a host reaches it through a USB-UART with :class:`lutsim.driver.SerialTransport`.

Protocol (8N1 bytes, multi-byte fields little-endian; addresses are the byte addresses of the
accelerator's map)::

    host -> core   0x01 addr[4] data[4]     write a word
                   0x02 addr[4]             read a word
    core -> host   resp                     after a write
                   resp data[4]             after a read

``resp`` is the access's response: 0 OKAY, 2 SLVERR, 3 DECERR. A first byte other than 0x01 or
0x02 is ignored, so a host that lost track sends nine 0x00 bytes and starts again. One access
costs 10 bytes on the line (write: 9 down, 1 up; read: 5 down, 5 up).

Members: ``i_rx`` In(1) and ``o_tx`` Out(1), the serial line; ``o_irq`` Out(1), the core's
interrupt; ``o_busy`` Out(1), a run in progress (STATUS.BUSY), e.g. for a LED.
"""

from __future__ import annotations

from amaranth import C, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .accelerator import DEFAULT_DATA_WORDS, DEFAULT_PROGRAM_INSTRS, LutAccelerator, check_wrapper
from .uart_rx import UartRx, check_divisor
from .uart_tx import UartTx

__all__ = ["CMD_READ", "CMD_WRITE", "UartBridge"]

CMD_WRITE, CMD_READ = 0x01, 0x02


class UartBridge(wiring.Component):
    """``LutCore(cfg)`` with its memories and registers behind a UART at ``divisor`` clock
    cycles per bit (see the module docstring)."""

    def __init__(
        self,
        cfg: CoreConfig,
        divisor: int,
        data_words: int = DEFAULT_DATA_WORDS,
        program_instrs: int = DEFAULT_PROGRAM_INSTRS,
    ):
        check_wrapper(cfg, data_words, program_instrs)
        check_divisor(divisor)
        self.divisor = divisor
        self.accelerator = LutAccelerator(cfg, data_words, program_instrs)
        self.cfg = cfg
        super().__init__({"i_rx": In(1), "o_tx": Out(1), "o_irq": Out(1), "o_busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        m.submodules.accelerator = acc = self.accelerator
        m.d.comb += [rx.i_rx.eq(self.i_rx), self.o_tx.eq(tx.o_tx), self.o_irq.eq(acc.o_irq)]

        write = Signal()
        count = Signal(range(9))  # bytes of the command received after its first
        addr = Signal(32)
        data = Signal(32)
        reply = Signal(40)  # resp, then data, shifted out a byte at a time
        left = Signal(range(6))
        m.d.comb += self.o_busy.eq(acc.o_busy)
        with m.FSM():
            with m.State("COMMAND"):
                with m.If(rx.o_valid & ((rx.o_data == CMD_WRITE) | (rx.o_data == CMD_READ))):
                    m.d.sync += [write.eq(rx.o_data == CMD_WRITE), count.eq(0)]
                    m.next = "FIELDS"
            with m.State("FIELDS"):
                with m.If(rx.o_valid):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count < 4):
                        m.d.sync += addr.eq(Cat(addr[8:], rx.o_data))
                    with m.Else():
                        m.d.sync += data.eq(Cat(data[8:], rx.o_data))
                    with m.If((count == 7) | ((count == 3) & ~write)):
                        m.next = "ACCESS"
            with m.State("ACCESS"):
                m.d.comb += [
                    acc.i_bus_valid.eq(1),
                    acc.i_bus_write.eq(write),
                    acc.i_bus_addr.eq(addr[2:]),
                    acc.i_bus_wdata.eq(data),
                    acc.i_bus_strb.eq(0b1111),
                ]
                m.next = "RESPONSE"
            with m.State("RESPONSE"):  # the accelerator answers in this cycle
                m.d.sync += [
                    reply.eq(Cat(acc.o_bus_resp, C(0, 6), acc.o_bus_rdata)),
                    left.eq(Mux(write, 1, 5)),
                ]
                m.next = "REPLY"
            with m.State("REPLY"):
                m.d.comb += [tx.i_valid.eq(1), tx.i_data.eq(reply[:8])]
                with m.If(tx.o_ready):
                    m.d.sync += [reply.eq(reply >> 8), left.eq(left - 1)]
                    with m.If(left == 1):
                        m.next = "COMMAND"
        return m
