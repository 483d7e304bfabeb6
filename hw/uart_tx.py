"""UART transmitter, 8N1: one byte per frame, least significant bit first.

Members: ``i_valid`` In(1) a byte is offered, ``i_data`` In(8) the byte, ``o_ready`` Out(1)
the transmitter takes it this cycle (handshake: valid & ready), ``o_tx`` Out(1) the line (idle
high).

Timing: ``divisor`` clock cycles per bit. A byte taken in cycle ``c`` drives its start bit from
``c + 1`` and occupies the line for ``10 * divisor`` cycles; ``o_ready`` is high again in the
last cycle of its stop bit, so bytes offered back to back leave no gap between frames.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .uart_rx import check_divisor

__all__ = ["UartTx"]


class UartTx(wiring.Component):
    """An 8N1 UART transmitter at ``divisor`` clock cycles per bit (see the module docstring)."""

    def __init__(self, divisor: int):
        check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"i_valid": In(1), "i_data": In(8), "o_ready": Out(1), "o_tx": Out(1)})

    def elaborate(self, platform):
        m = Module()
        frame = Signal(10, init=0x3FF)  # stop, data[7:0], start; shifted out LSB first
        bits = Signal(range(11))  # bits of the frame still to send (after the current one)
        timer = Signal(range(self.divisor))
        idle = (bits == 0) & (timer == 0)
        m.d.comb += [self.o_tx.eq(frame[0]), self.o_ready.eq(idle)]
        with m.If(self.i_valid & idle):
            m.d.sync += [frame.eq(1 << 9 | self.i_data << 1), bits.eq(9),
                         timer.eq(self.divisor - 1)]  # fmt: skip
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Elif(bits != 0):
            m.d.sync += [frame.eq(1 << 9 | frame >> 1), bits.eq(bits - 1),
                         timer.eq(self.divisor - 1)]  # fmt: skip
        return m
