"""The on-chip scratchpad of the bus-attached core: ``words`` 32-bit words in ``W`` block RAMs.

The scratchpad is word-addressed and moves one beat of ``W = bus_words`` consecutive words per
cycle, at any word address (beats need not be aligned to ``W``). It is built from ``W`` banks,
each an :class:`amaranth.lib.memory.Memory` of ``words / W`` 32-bit rows with one synchronous
read port and one write port with byte enables, so FPGA tools infer block RAM: word ``x`` is
row ``x // W`` of bank ``x % W``. A beat at address ``b`` reads row ``(b + j) // W`` of bank
``(b + j) % W`` for lane ``j``, and the lanes are rotated into place after the banks.

Members
-------
================ ============================ ==============================================
member           shape                        meaning
================ ============================ ==============================================
``i_rd_addr``    In(32)                       word address of the beat to read
``o_rd_addr``    Out(32)                      the address of the beat in ``o_rd_data``
``o_rd_data``    Out(ArrayLayout(32, W))      words ``o_rd_addr + j`` (0 past the end)
``i_wr_en``      In(1)                        write a beat at the next clock edge
``i_wr_addr``    In(32)                       word address of the beat's first word
``i_wr_data``    In(ArrayLayout(32, W))       the beat's words
``i_wr_mask``    In(W)                        lanes written (lanes past the end are dropped)
``i_wr_strb``    In(4)                        byte enables, the same for every written lane
================ ============================ ==============================================

Latency: a read is synchronous, one cycle: the address presented in cycle ``c`` is answered by
``o_rd_addr``/``o_rd_data`` in cycle ``c + 1``, which hold until the next address is taken (every
cycle). A write presented in cycle ``c`` takes effect at the clock edge that ends it; a read
presented in the same cycle sees the written words (the read ports are transparent), so a beat
written by ``sta`` can be loaded again by the very next instruction.
"""

from __future__ import annotations

from amaranth import Array, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

__all__ = ["Scratchpad", "check_scratchpad"]


def check_scratchpad(cfg: CoreConfig, words: int) -> None:
    """Reject a scratchpad the banks cannot be built for, with a one-line reason."""
    lanes = cfg.bus_words
    if lanes & (lanes - 1):
        raise ValueError(f"the scratchpad needs bus_words to be a power of two, not {lanes}")
    if type(words) is not int or words < lanes or words % lanes:
        raise ValueError(
            f"scratchpad words must be a positive multiple of bus_words ({lanes}), not {words!r}"
        )
    if words > 1 << 24:
        raise ValueError(f"scratchpad words must be at most {1 << 24}, not {words}")


class Scratchpad(wiring.Component):
    """``words`` words of block RAM in ``cfg.bus_words`` banks (see the module docstring)."""

    def __init__(self, cfg: CoreConfig, words: int):
        check_scratchpad(cfg, words)
        self.cfg = cfg
        self.words = words
        lanes = cfg.bus_words
        super().__init__(
            {
                "i_rd_addr": In(32),
                "o_rd_addr": Out(32),
                "o_rd_data": Out(data.ArrayLayout(32, lanes)),
                "i_wr_en": In(1),
                "i_wr_addr": In(32),
                "i_wr_data": In(data.ArrayLayout(32, lanes)),
                "i_wr_mask": In(lanes),
                "i_wr_strb": In(4),
            }
        )

    def elaborate(self, platform):
        m = Module()
        lanes = self.cfg.bus_words
        shift = (lanes - 1).bit_length()  # log2(W)
        depth = self.words // lanes

        def bank_of(value):  # x % W as a signal usable as an Array index
            return value[:shift] if shift else 0

        rd_addr = self.o_rd_addr
        m.d.sync += rd_addr.eq(self.i_rd_addr)
        in_range = Signal(lanes)  # lane j of the beat being read lies inside the scratchpad
        m.d.sync += in_range.eq(sum(((self.i_rd_addr + j) < self.words) << j for j in range(lanes)))
        read_data, write_lanes = [], []
        for k in range(lanes):
            mem = Memory(shape=32, depth=depth, init=[])
            m.submodules[f"bank{k}"] = mem
            write = mem.write_port(granularity=8)
            read = mem.read_port(transparent_for=(write,))
            # read: bank k holds lane j = (k - b) mod W of the beat at b, row (b + j) // W
            j_rd = Signal(range(lanes), name=f"rd_lane{k}")
            m.d.comb += j_rd.eq(k - bank_of(self.i_rd_addr))
            m.d.comb += read.addr.eq((self.i_rd_addr + j_rd) >> shift)
            read_data.append(read.data)
            # write: the same mapping for the beat at i_wr_addr
            j_wr = Signal(range(lanes), name=f"wr_lane{k}")
            word = Signal(33, name=f"wr_word{k}")
            m.d.comb += [
                j_wr.eq(k - bank_of(self.i_wr_addr)),
                word.eq(self.i_wr_addr + j_wr),
                write.addr.eq(word >> shift),
                write.data.eq(Array(self.i_wr_data[j] for j in range(lanes))[j_wr]),
            ]
            enable = self.i_wr_en & Array(self.i_wr_mask)[j_wr] & (word < self.words)
            m.d.comb += write.en.eq(self.i_wr_strb.replicate(1) & enable.replicate(4))
            write_lanes.append(write)
        banks = Array(read_data)
        for j in range(lanes):
            lane = Signal(32, name=f"rd_data{j}")
            m.d.comb += lane.eq(banks[bank_of(rd_addr + j)])
            m.d.comb += self.o_rd_data[j].eq(lane & in_range[j].replicate(32))
        return m
