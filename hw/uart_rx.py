"""UART receiver, 8N1: one byte per frame, least significant bit first.

Members: ``i_rx`` In(1) the line (idle high; synchronized here by two flip-flops), ``o_valid``
Out(1) high for one cycle when a byte has been received, ``o_data`` Out(8) that byte (held
until the next one), ``o_error`` Out(1) high for one cycle when a frame's stop bit was low (the
byte is dropped).

Timing: ``divisor`` clock cycles per bit (``clock_hz // baud``; at least 4). A start bit is
confirmed half a bit after the falling edge and every bit is sampled in its middle, so a
frame's byte is valid ``9.5 * divisor + 2`` cycles after its start bit began (two for the
synchronizer); the receiver is ready for the next start bit in the middle of the stop bit.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "check_divisor"]


def check_divisor(divisor: int) -> None:
    """Reject a bit period the UART cannot sample, with a one-line reason."""
    if type(divisor) is not int or divisor < 4:
        raise ValueError(f"UART divisor must be an integer of at least 4, not {divisor!r}")


class UartRx(wiring.Component):
    """An 8N1 UART receiver at ``divisor`` clock cycles per bit (see the module docstring)."""

    def __init__(self, divisor: int):
        check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"i_rx": In(1), "o_valid": Out(1), "o_data": Out(8), "o_error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.i_rx, rx, init=1)
        timer = Signal(range(self.divisor))
        bits = Signal(range(9))
        shift = Signal(8)
        m.d.sync += [self.o_valid.eq(0), self.o_error.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):  # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), shift.eq(Cat(shift[1:], rx))]
                    m.d.sync += bits.eq(bits + 1)
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(rx):
                        m.d.sync += [self.o_valid.eq(1), self.o_data.eq(shift)]
                    with m.Else():
                        m.d.sync += self.o_error.eq(1)
                    m.next = "IDLE"
        return m
