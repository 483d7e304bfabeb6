"""The LUT core as an AXI4-Lite slave: :class:`lutsim.hw.accelerator.LutAccelerator` behind a
32-bit AXI4-Lite front end, with an interrupt line.

Ports (besides ``clk`` and ``rst``, synchronous, active high; A = ``addr_bits``)
-----------------------------------------------------------------------------
=================================================== =====================================
ports                                               meaning
=================================================== =====================================
``s_axi_awvalid/awready/awaddr[A]/awprot[3]``       write address (``awprot`` ignored)
``s_axi_wvalid/wready/wdata[32]/wstrb[4]``          write data, byte strobes honoured
``s_axi_bvalid/bready/bresp[2]``                    write response
``s_axi_arvalid/arready/araddr[A]/arprot[3]``       read address (``arprot`` ignored)
``s_axi_rvalid/rready/rdata[32]/rresp[2]``          read data and response
``irq``                                             high while STATUS.DONE and IRQ_EN are set
=================================================== =====================================

The address map, the registers and the run timing are those of :mod:`lutsim.hw.accelerator`;
the two low address bits are ignored (32-bit accesses). Responses: OKAY, SLVERR (refused: START
during a run, a memory access during a run, a read-only register written, PROG_LEN too large),
DECERR (unmapped address).

Protocol timing: one transaction at a time. In a cycle with no transaction in flight the slave
takes a read (``arready`` high with ``arvalid``; reads first) or else a write (``awready`` and
``wready`` high together, when ``awvalid`` and ``wvalid`` both are). A read taken in cycle ``c``
has ``rvalid`` in cycle ``c + 2``; a write taken in cycle ``c`` takes effect at the end of
``c`` and has ``bvalid`` in ``c + 2``. Both are held until ``rready``/``bready``; the next
transaction can be taken in the cycle after that handshake. A START written in cycle ``c`` starts
the run in that cycle (cycle ``s`` of the accelerator's timing): DONE and ``irq`` rise in cycle
``c + T + 2``, ``T`` being the program's cycles under the timing contract.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .accelerator import DEFAULT_DATA_WORDS, DEFAULT_PROGRAM_INSTRS, LutAccelerator, check_wrapper

__all__ = ["AxiLiteLut"]


class AxiLiteLut(wiring.Component):
    """``LutCore(cfg)`` with its scratchpad and fetcher as an AXI4-Lite slave (see the module
    docstring). ``addr_bits`` is the width of ``s_axi_awaddr``/``s_axi_araddr``."""

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
        a = self.addr_bits
        super().__init__(
            {
                "s_axi_awvalid": In(1),
                "s_axi_awready": Out(1),
                "s_axi_awaddr": In(a),
                "s_axi_awprot": In(3),
                "s_axi_wvalid": In(1),
                "s_axi_wready": Out(1),
                "s_axi_wdata": In(32),
                "s_axi_wstrb": In(4),
                "s_axi_bvalid": Out(1),
                "s_axi_bready": In(1),
                "s_axi_bresp": Out(2),
                "s_axi_arvalid": In(1),
                "s_axi_arready": Out(1),
                "s_axi_araddr": In(a),
                "s_axi_arprot": In(3),
                "s_axi_rvalid": Out(1),
                "s_axi_rready": In(1),
                "s_axi_rdata": Out(32),
                "s_axi_rresp": Out(2),
                "irq": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.accelerator = acc = self.accelerator
        m.d.comb += self.irq.eq(acc.o_irq)
        take_read = Signal()
        take_write = Signal()
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [
                    take_read.eq(self.s_axi_arvalid),
                    take_write.eq(~self.s_axi_arvalid & self.s_axi_awvalid & self.s_axi_wvalid),
                    self.s_axi_arready.eq(take_read),
                    self.s_axi_awready.eq(take_write),
                    self.s_axi_wready.eq(take_write),
                ]
                with m.If(take_read):
                    m.next = "READ"
                with m.Elif(take_write):
                    m.next = "WRITE"
            with m.State("READ"):  # the accelerator answers in this cycle
                m.d.sync += [
                    self.s_axi_rvalid.eq(1),
                    self.s_axi_rdata.eq(acc.o_bus_rdata),
                    self.s_axi_rresp.eq(acc.o_bus_resp),
                ]
                m.next = "READ_RESPONSE"
            with m.State("READ_RESPONSE"):
                with m.If(self.s_axi_rready):
                    m.d.sync += self.s_axi_rvalid.eq(0)
                    m.next = "IDLE"
            with m.State("WRITE"):
                m.d.sync += [self.s_axi_bvalid.eq(1), self.s_axi_bresp.eq(acc.o_bus_resp)]
                m.next = "WRITE_RESPONSE"
            with m.State("WRITE_RESPONSE"):
                with m.If(self.s_axi_bready):
                    m.d.sync += self.s_axi_bvalid.eq(0)
                    m.next = "IDLE"
        m.d.comb += [
            acc.i_bus_valid.eq(take_read | take_write),
            acc.i_bus_write.eq(take_write),
            acc.i_bus_addr.eq(Mux(take_write, self.s_axi_awaddr, self.s_axi_araddr)[2:]),
            acc.i_bus_wdata.eq(self.s_axi_wdata),
            acc.i_bus_strb.eq(self.s_axi_wstrb),
        ]
        return m
