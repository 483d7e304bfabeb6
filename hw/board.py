"""The top level of a board build: the bus-attached core behind its UART bridge, on the board's
clock, USB-UART and LEDs (``lutsim fpga --board``, :func:`lutsim.reports.flow.fpga.run_board`).

``BoardTop(cfg, baud, data_words, program_instrs)`` is elaborated by an Amaranth platform (from
``amaranth-boards``): it takes the platform's default clock as ``sync`` (no reset pin: the
design starts from its power-on state), requests ``uart`` 0 and connects it to
:class:`lutsim.hw.uart_bridge.UartBridge` at ``round(clock / baud)`` cycles a bit, and shows the
interrupt on ``led`` 0 and a run in progress on ``led`` 1 when the board has them. The host
reaches the core with :class:`lutsim.driver.SerialTransport` at ``baud``, 8N1.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module
from amaranth.build import ResourceError
from amaranth.lib import io

from lutsim.isa.config import CoreConfig

from .accelerator import DEFAULT_DATA_WORDS, DEFAULT_PROGRAM_INSTRS, check_wrapper
from .uart_bridge import UartBridge

__all__ = ["DEFAULT_BAUD", "BoardTop"]

DEFAULT_BAUD = 115_200


class BoardTop(Elaboratable):
    """The core, its memories and a UART bridge on a board (see the module docstring)."""

    def __init__(
        self,
        cfg: CoreConfig,
        baud: int = DEFAULT_BAUD,
        data_words: int = DEFAULT_DATA_WORDS,
        program_instrs: int = DEFAULT_PROGRAM_INSTRS,
    ):
        check_wrapper(cfg, data_words, program_instrs)
        if type(baud) is not int or baud <= 0:
            raise ValueError(f"baud rate must be a positive integer, not {baud!r}")
        self.cfg, self.baud = cfg, baud
        self.data_words, self.program_instrs = data_words, program_instrs

    def divisor(self, clock_hz: float) -> int:
        return round(clock_hz / self.baud)

    def elaborate(self, platform):
        m = Module()
        divisor = self.divisor(platform.default_clk_frequency)
        bridge = UartBridge(self.cfg, divisor, self.data_words, self.program_instrs)
        m.submodules.bridge = bridge
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [bridge.i_rx.eq(rx.i), tx.o.eq(bridge.o_tx)]
        for number, signal in enumerate((bridge.o_irq, bridge.o_busy)):
            try:
                pin = platform.request("led", number, dir="-")
            except ResourceError:
                break
            m.submodules[f"led{number}"] = led = io.Buffer("o", pin)
            m.d.comb += led.o.eq(signal)
        return m
