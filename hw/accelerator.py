"""The LUT core with its scratchpad, instruction fetcher and control registers, behind a simple
word-wide local bus. The AXI4-Lite and Wishbone wrappers (:mod:`lutsim.hw.axi_lite`,
:mod:`lutsim.hw.wishbone`) put their bus protocol in front of this; everything else is shared.

Address map (bytes; ``R = region_words(...)``, a power of two of 32-bit words)
--------------------------------------------------------------------------
=============== ================= ==========================================================
bytes           region            contents
=============== ================= ==========================================================
``0 .. 4R``     registers         the table below; other offsets are unmapped
``4R .. 8R``    program           instruction ``i``: low half at ``4R + 8i``, high at ``+4``
``8R .. 12R``   data scratchpad   word ``x`` at ``8R + 4x``: the core's memory (word ``x``)
``12R .. 16R``  (unmapped)
=============== ================= ==========================================================

Offsets past the program's ``2 * program_instrs`` words or the scratchpad's ``data_words``
words are unmapped too. An access to an unmapped address answers DECERR (``RESP_DECERR``).

Registers (32 bits; RO: a write answers SLVERR; W1C: writing 1 clears the bit)
------------------------------------------------------------------------------
====== ============== ===== ===================================================================
offset name           kind  meaning
====== ============== ===== ===================================================================
0x00   ``ID``         RO    ``0x4C555443`` ("LUTC")
0x04   ``CTRL``       W     bit 0 START: run the program (answers SLVERR and sets REFUSED
                            while a run is in progress); reads 0
0x08   ``STATUS``     R/W1C bit 0 BUSY (RO), bit 1 DONE (W1C), bit 2 ERROR (RO: the last run
                            accepted an illegal word, executed as nop), bit 3 REFUSED (W1C)
0x0C   ``IRQ_EN``     RW    bit 0: raise ``o_irq`` while DONE is set
0x10   ``PROG_LEN``   RW    instructions in the program (at most ``program_instrs``; more, or
                            a write during a run, answers SLVERR)
0x14   ``CYCLES``     RO    cycles of the current or last run (see Timing)
0x18   ``DATA_WORDS`` RO    scratchpad size in words
0x1C   ``PROG_WORDS`` RO    program capacity in instructions
0x20   ``CONFIG_ID``  RO    CRC-32 of the core configuration as TOML (:func:`config_id`)
0x24   ``REGION``     RO    ``R``, the size of a region in words
====== ============== ===== ===================================================================

While a run is in progress the core owns both memories: a program or scratchpad access answers
SLVERR, and so does a write to PROG_LEN. Registers stay readable.

Local bus (what the front ends drive)
-------------------------------------
A request is presented for one cycle ``c`` (``i_bus_valid``, ``i_bus_write``, ``i_bus_addr`` in
words, ``i_bus_wdata``, ``i_bus_strb``); its response is ``o_bus_ack`` with ``o_bus_resp``
(``RESP_OKAY``, ``RESP_SLVERR`` or ``RESP_DECERR``, the AXI encodings) and, for reads,
``o_bus_rdata`` in cycle ``c + 1``. A request may be presented in every cycle.

Timing of a run
---------------
A START accepted in cycle ``s`` resets the core (its registers and its sticky error flag), sets
BUSY and clears DONE; the fetcher offers instruction 0 in cycle ``s + 1``, which is cycle 0 of the
timing contract (:mod:`lutsim.isa.timing`). The scratchpad answers every read beat of the core
in the cycle it is asked for (it fetches the beat one cycle ahead from the instruction's address
and the beat count) and takes every write beat, and the fetcher offers every instruction as soon
as the core is ready, so a run has no stalls: it ends after exactly ``T = 1 + sum(latencies)``
cycles (0 for an empty program), and CYCLES counts them. BUSY falls and DONE rises (and, when
enabled, ``o_irq``) in cycle ``s + T + 2``: the bus overhead of a run is 2 cycles on top of the
contract, one for the fetch and one for the completion register.
"""

from __future__ import annotations

import zlib

from amaranth import Module, Mux, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .core import LutCore, check_buildable
from .fetcher import InstructionFetcher
from .scratchpad import Scratchpad, check_scratchpad

__all__ = [
    "DEFAULT_DATA_WORDS",
    "DEFAULT_PROGRAM_INSTRS",
    "ID_VALUE",
    "REGISTERS",
    "RESP_DECERR",
    "RESP_OKAY",
    "RESP_SLVERR",
    "LutAccelerator",
    "check_wrapper",
    "config_id",
    "region_words",
]

DEFAULT_DATA_WORDS = 4096
DEFAULT_PROGRAM_INSTRS = 1024
ID_VALUE = 0x4C555443
RESP_OKAY, RESP_SLVERR, RESP_DECERR = 0, 2, 3

# fmt: off
REGISTERS = {          # name: word offset in the register region
    "ID":         0,
    "CTRL":       1,
    "STATUS":     2,
    "IRQ_EN":     3,
    "PROG_LEN":   4,
    "CYCLES":     5,
    "DATA_WORDS": 6,
    "PROG_WORDS": 7,
    "CONFIG_ID":  8,
    "REGION":     9,
}
# fmt: on
STATUS_BUSY, STATUS_DONE, STATUS_ERROR, STATUS_REFUSED = 1, 2, 4, 8


def config_id(cfg: CoreConfig) -> int:
    """CRC-32 of ``cfg.to_toml()``: lets a host check which core it talks to."""
    return zlib.crc32(cfg.to_toml().encode())


def region_words(data_words: int, program_instrs: int) -> int:
    """Size of one address-map region in words: a power of two holding either memory."""
    need = max(data_words, 2 * program_instrs, len(REGISTERS))
    return 1 << (need - 1).bit_length()


def check_wrapper(cfg: CoreConfig, data_words: int, program_instrs: int) -> None:
    """Reject a wrapper that cannot be built, with a one-line reason."""
    check_buildable(cfg)
    check_scratchpad(cfg, data_words)
    if type(program_instrs) is not int or not 1 <= program_instrs <= 1 << 20:
        raise ValueError(f"program instructions must be 1 to {1 << 20}, not {program_instrs!r}")


class LutAccelerator(wiring.Component):
    """``LutCore(cfg)`` with a ``data_words``-word scratchpad, a ``program_instrs``-instruction
    program memory and control registers, on the local bus of the module docstring.

    Members: ``i_bus_valid`` In(1), ``i_bus_write`` In(1), ``i_bus_addr`` In(address bits - 2),
    ``i_bus_wdata`` In(32), ``i_bus_strb`` In(4), ``o_bus_ack`` Out(1), ``o_bus_resp`` Out(2),
    ``o_bus_rdata`` Out(32), ``o_irq`` Out(1), ``o_busy`` Out(1) (STATUS.BUSY). ``addr_bits`` is
    the width of a byte address.
    """

    def __init__(
        self,
        cfg: CoreConfig,
        data_words: int = DEFAULT_DATA_WORDS,
        program_instrs: int = DEFAULT_PROGRAM_INSTRS,
    ):
        check_wrapper(cfg, data_words, program_instrs)
        self.cfg = cfg
        self.data_words = data_words
        self.program_instrs = program_instrs
        self.region = region_words(data_words, program_instrs)
        self.addr_bits = self.region.bit_length() - 1 + 2 + 2  # 4 regions of 4R bytes
        super().__init__(
            {
                "i_bus_valid": In(1),
                "i_bus_write": In(1),
                "i_bus_addr": In(self.addr_bits - 2),
                "i_bus_wdata": In(32),
                "i_bus_strb": In(4),
                "o_bus_ack": Out(1),
                "o_bus_resp": Out(2),
                "o_bus_rdata": Out(32),
                "o_irq": Out(1),
                "o_busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        lanes = cfg.bus_words
        start = Signal()
        core = LutCore(cfg)
        m.submodules.core = ResetInserter({"sync": start})(core)
        m.submodules.scratchpad = pad = Scratchpad(cfg, self.data_words)
        m.submodules.fetcher = fetch = InstructionFetcher(self.program_instrs)

        # ---- run control --------------------------------------------------------------------
        running = Signal()
        done, refused, irq_en = Signal(), Signal(), Signal()
        length = Signal(range(self.program_instrs + 1))
        cycles = Signal(32)
        finished = running & ~fetch.o_running & ~core.o_busy
        with m.If(start):
            m.d.sync += [running.eq(1), done.eq(0), cycles.eq(0)]
        with m.Elif(finished):
            m.d.sync += [running.eq(0), done.eq(1)]
        with m.Elif(running):
            m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += [
            fetch.i_start.eq(start),
            fetch.i_length.eq(length),
            core.i_instr_valid.eq(fetch.o_instr_valid),
            core.i_instr.eq(fetch.o_instr),
            fetch.i_instr_ready.eq(core.o_instr_ready),
            self.o_irq.eq(done & irq_en),
            self.o_busy.eq(running),
        ]

        # ---- the core's memory port: every beat answered in the cycle it is asked for --------
        hit = pad.o_rd_addr == core.o_rd_addr  # the beat fetched one cycle ahead is this one
        accept = fetch.o_instr_valid & core.o_instr_ready
        predicted = Signal(32)
        with m.If(accept):
            m.d.comb += predicted.eq(fetch.o_instr[:32])  # a load's address field
        with m.Elif(core.o_rd_valid & ~hit):
            m.d.comb += predicted.eq(core.o_rd_addr)  # retry (cannot happen without stalls)
        with m.Elif(core.o_busy):
            m.d.comb += predicted.eq(core.o_rd_addr + lanes)
        with m.Else():
            m.d.comb += predicted.eq(core.o_rd_addr)
        m.d.comb += [
            core.i_rd_valid.eq(hit),
            core.i_rd_data.eq(pad.o_rd_data),
            core.i_wr_ready.eq(1),
        ]

        # ---- local bus decode -----------------------------------------------------------------
        req = self.i_bus_valid
        addr = self.i_bus_addr
        region_bits = self.region.bit_length() - 1
        region = addr[region_bits:]
        offset = addr[:region_bits]
        is_reg, is_prog, is_data = region == 0, region == 1, region == 2
        resp = Signal(2)
        reg_rdata = Signal(32)
        sel = Signal(2)  # which read data answers: 0 registers, 1 program, 2 data
        m.d.sync += [self.o_bus_ack.eq(req), self.o_bus_resp.eq(resp)]
        with m.If(req):
            m.d.sync += sel.eq(Mux(is_prog, 1, Mux(is_data, 2, 0)))
        mapped = Signal()
        m.d.comb += mapped.eq(
            (is_reg & (offset < len(REGISTERS)))
            | (is_prog & (offset < 2 * self.program_instrs))
            | (is_data & (offset < self.data_words))
        )
        write = req & self.i_bus_write & mapped
        with m.If(~mapped):
            m.d.comb += resp.eq(RESP_DECERR)
        with m.Elif((is_prog | is_data) & running):
            m.d.comb += resp.eq(RESP_SLVERR)

        # registers
        regs = {
            "ID": ID_VALUE,
            "STATUS": (refused << 3) | (core.o_error << 2) | (done << 1) | running,
            "IRQ_EN": irq_en,
            "PROG_LEN": length,
            "CYCLES": cycles,
            "DATA_WORDS": self.data_words,
            "PROG_WORDS": self.program_instrs,
            "CONFIG_ID": config_id(cfg),
            "REGION": self.region,
        }
        with m.If(req & is_reg & ~self.i_bus_write):
            with m.Switch(offset):
                for name, value in regs.items():
                    with m.Case(REGISTERS[name]):
                        m.d.sync += reg_rdata.eq(value)
                with m.Default():
                    m.d.sync += reg_rdata.eq(0)
        wdata = self.i_bus_wdata
        with m.If(write & is_reg):
            with m.Switch(offset):
                with m.Case(REGISTERS["CTRL"]):
                    with m.If(wdata[0] & running):
                        m.d.comb += resp.eq(RESP_SLVERR)
                        m.d.sync += refused.eq(1)
                    with m.Elif(wdata[0]):
                        m.d.comb += start.eq(1)
                with m.Case(REGISTERS["STATUS"]):
                    with m.If(wdata[1] & ~finished):  # a run ending now keeps its DONE
                        m.d.sync += done.eq(0)
                    with m.If(wdata[3]):
                        m.d.sync += refused.eq(0)
                with m.Case(REGISTERS["IRQ_EN"]):
                    m.d.sync += irq_en.eq(wdata[0])
                with m.Case(REGISTERS["PROG_LEN"]):
                    with m.If(running | (wdata > self.program_instrs)):
                        m.d.comb += resp.eq(RESP_SLVERR)
                    with m.Else():
                        m.d.sync += length.eq(wdata)
                with m.Default():
                    m.d.comb += resp.eq(RESP_SLVERR)  # read-only

        # memories: the bus while idle, the core while running
        m.d.comb += [
            fetch.i_bus_addr.eq(offset),
            fetch.i_bus_we.eq(write & is_prog & ~running),
            fetch.i_bus_data.eq(wdata),
            fetch.i_bus_strb.eq(self.i_bus_strb),
        ]
        with m.If(running):
            m.d.comb += [
                pad.i_rd_addr.eq(predicted),
                pad.i_wr_en.eq(core.o_wr_valid),
                pad.i_wr_addr.eq(core.o_wr_addr),
                pad.i_wr_data.eq(core.o_wr_data),
                pad.i_wr_mask.eq(core.o_wr_mask),
                pad.i_wr_strb.eq(0b1111),
            ]
        with m.Else():
            m.d.comb += [
                pad.i_rd_addr.eq(offset),
                pad.i_wr_en.eq(write & is_data),
                pad.i_wr_addr.eq(offset),
                pad.i_wr_data[0].eq(wdata),
                pad.i_wr_mask.eq(1),
                pad.i_wr_strb.eq(self.i_bus_strb),
            ]
        with m.Switch(sel):
            with m.Case(0):
                m.d.comb += self.o_bus_rdata.eq(reg_rdata)
            with m.Case(1):
                m.d.comb += self.o_bus_rdata.eq(fetch.o_bus_data)
            with m.Default():
                m.d.comb += self.o_bus_rdata.eq(pad.o_rd_data[0])
        return m
