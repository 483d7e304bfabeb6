"""The instruction fetcher of the bus-attached core: runs an LMMA program from program memory.

The program memory is an :class:`amaranth.lib.memory.Memory` of ``instrs`` 64-bit rows (one
instruction word each, :mod:`lutsim.isa.encoding`) with one synchronous read port and one write
port with byte enables, so FPGA tools infer block RAM. On the bus it is ``2 * instrs`` 32-bit
words: word ``2i`` is the low half of instruction ``i``, word ``2i + 1`` the high half.

Members
-------
================== ======= =====================================================================
member             shape   meaning
================== ======= =====================================================================
``i_start``        In(1)   start fetching from instruction 0 (ignored while running)
``i_length``       In(..)  instructions in the program (held constant while running)
``o_running``      Out(1)  fetching: started, and not every instruction has been accepted
``o_instr_valid``  Out(1)  to the core: an instruction word is offered
``o_instr``        Out(64) the word
``i_instr_ready``  In(1)   from the core: it accepts the word this cycle
``i_bus_addr``     In(..)  word address in the program memory (while not running)
``i_bus_we``       In(1)   write ``i_bus_data`` there at the next clock edge
``i_bus_data``     In(32)  the word written
``i_bus_strb``     In(4)   its byte enables
``o_bus_data``     Out(32) the word at the ``i_bus_addr`` of the previous cycle
================== ======= =====================================================================

Timing: ``i_start`` in cycle ``s`` offers instruction 0 in cycle ``s + 1``. An instruction
accepted in cycle ``c`` (``o_instr_valid & i_instr_ready``) is followed by the next one in cycle
``c + 1``: the fetcher reads one instruction ahead, so it never stalls the core and a program
issues exactly as the timing contract of :mod:`lutsim.isa.timing` says with no ``instr`` stalls.
``o_running`` falls at the clock edge of the cycle that accepts the last instruction (it is low
from ``s + 1`` for an empty program). Bus reads are answered one cycle after the address.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from lutsim.isa.encoding import WORD_BITS

__all__ = ["InstructionFetcher"]


class InstructionFetcher(wiring.Component):
    """Program memory of ``instrs`` instruction words and the fetch logic (see the module
    docstring)."""

    def __init__(self, instrs: int):
        if type(instrs) is not int or not 1 <= instrs <= 1 << 20:
            raise ValueError(f"program instructions must be 1 to {1 << 20}, not {instrs!r}")
        self.instrs = instrs
        super().__init__(
            {
                "i_start": In(1),
                "i_length": In(range(instrs + 1)),
                "o_running": Out(1),
                "o_instr_valid": Out(1),
                "o_instr": Out(WORD_BITS),
                "i_instr_ready": In(1),
                "i_bus_addr": In(range(2 * instrs)),
                "i_bus_we": In(1),
                "i_bus_data": In(32),
                "i_bus_strb": In(4),
                "o_bus_data": Out(32),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.program = mem = Memory(shape=WORD_BITS, depth=self.instrs, init=[])
        write = mem.write_port(granularity=8)
        read = mem.read_port()

        pc = Signal(range(self.instrs + 1))  # instruction in read.data while running
        running = self.o_running
        accept = self.o_instr_valid & self.i_instr_ready
        next_pc = Signal.like(pc)
        m.d.comb += [
            next_pc.eq(pc + accept),
            self.o_instr_valid.eq(running & (pc < self.i_length)),
            self.o_instr.eq(read.data),
        ]
        with m.If(running):
            m.d.comb += read.addr.eq(next_pc)
            m.d.sync += pc.eq(next_pc)
            with m.If(next_pc == self.i_length):
                m.d.sync += running.eq(0)
        with m.Elif(self.i_start):
            m.d.comb += read.addr.eq(0)
            m.d.sync += [pc.eq(0), running.eq(self.i_length != 0)]
        with m.Else():
            m.d.comb += read.addr.eq(self.i_bus_addr >> 1)

        # bus side: 32-bit halves of the 64-bit rows
        half = Signal()
        m.d.sync += half.eq(self.i_bus_addr[0])
        m.d.comb += [
            write.addr.eq(self.i_bus_addr >> 1),
            write.data.eq(self.i_bus_data.replicate(2)),
            write.en.eq(
                Mux(self.i_bus_addr[0], self.i_bus_strb << 4, self.i_bus_strb)
                & (self.i_bus_we & ~running).replicate(8)
            ),
            self.o_bus_data.eq(Mux(half, read.data[32:], read.data[:32])),
        ]
        return m
