"""The LUT tensor core: decodes and executes LMMA programs (see :mod:`lutsim.isa.encoding`).

Top-level ports (all synchronous to ``clk``; ``rst`` is synchronous, active high)
-------------------------------------------------------------------------------
========================= ====== =========================================================
port                      width  meaning
========================= ====== =========================================================
``i_instr_valid``         1      an instruction word is offered
``i_instr``               64     the word (``isa.encoding`` layout)
``o_instr_ready``         1      the core accepts it this cycle (handshake: valid & ready)
``o_rd_valid``            1      the core reads a beat at ``o_rd_addr`` this cycle
``o_rd_addr``             32     word address of the beat's first word
``i_rd_valid``            1      memory answers this cycle; 0 stalls the beat
``i_rd_data``             32*W   words ``o_rd_addr + j`` for lanes j < W (W = bus_words)
``o_wr_valid``            1      the core writes a beat this cycle
``o_wr_addr``             32     word address of the beat's first word
``o_wr_data``             32*W   the beat's words
``o_wr_mask``             W      lanes holding fragment words (the last beat may be partial)
``i_wr_ready``            1      memory takes the beat this cycle; 0 stalls it
``o_busy``                1      an instruction is executing
``o_error``               1      sticky: an illegal word was accepted (and executed as nop)
========================= ====== =========================================================

Memory answers reads combinationally, in the same cycle (a zero-latency port; put a FIFO in
front for anything slower and hold ``i_rd_valid`` low until it has data). Unused lanes of a
partial beat carry don't-care data on reads and are masked on writes.

Timing (the contract of :mod:`lutsim.isa.config`, for the RTL and the cycle model alike)
--------------------------------------------------------------------------------
An instruction accepted in cycle ``c`` executes in cycles ``c+1 .. c+L`` (L its latency:
``CoreConfig.latency_cycles``; lmma one bit plane per cycle, loads and stores one beat per
cycle, nop and zacc one cycle), plus one cycle per stalled beat. ``o_instr_ready`` is high when
the core is idle and in the last execution cycle of an instruction, so back-to-back
instructions issue every L cycles (initiation interval = latency) and a program of n
instructions without stalls finishes ``1 + sum(L)`` cycles after its first word is offered.
Register writes of an instruction are complete before the next one executes, so there are no
hazards. An illegal word (``hw.decoder.Decoder``) sets ``o_error`` and takes one cycle.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import OPCODES, WORD_BITS

from .acc_regs import AccumulatorRegisters
from .decoder import Decoder
from .lut_array import LutArray
from .table_regs import TableRegisters, beat_bits
from .weight_regs import WeightRegisters

__all__ = ["LutCore", "check_buildable"]

OP = {name: opcode.code for name, opcode in OPCODES.items()}


def check_buildable(cfg) -> None:
    """Reject what the RTL cannot build, with a one-line reason. Every configuration that
    :class:`lutsim.isa.config.CoreConfig` accepts is buildable; anything else is not."""
    if not isinstance(cfg, CoreConfig):
        raise ValueError(f"the LUT core is built from a CoreConfig, not {type(cfg).__name__}")


class LutCore(wiring.Component):
    """The LUT tensor core for ``cfg`` (see the module docstring for ports and timing)."""

    def __init__(self, cfg: CoreConfig):
        check_buildable(cfg)
        self.cfg = cfg
        lanes = cfg.bus_words
        super().__init__(
            {
                "i_instr_valid": In(1),
                "i_instr": In(WORD_BITS),
                "o_instr_ready": Out(1),
                "o_rd_valid": Out(1),
                "o_rd_addr": Out(32),
                "i_rd_valid": In(1),
                "i_rd_data": In(data.ArrayLayout(32, lanes)),
                "o_wr_valid": Out(1),
                "o_wr_addr": Out(32),
                "o_wr_data": Out(data.ArrayLayout(32, lanes)),
                "o_wr_mask": Out(lanes),
                "i_wr_ready": In(1),
                "o_busy": Out(1),
                "o_error": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        lanes = cfg.bus_words
        latency = cfg.latency_cycles
        m.submodules.decoder = decoder = Decoder(cfg)
        m.submodules.tables = tables = TableRegisters(cfg)
        m.submodules.weights = weights = WeightRegisters(cfg)
        m.submodules.accs = accs = AccumulatorRegisters(cfg)
        m.submodules.array = array = LutArray(cfg)

        # ---- sequencer ------------------------------------------------------------------
        busy = Signal()
        op = Signal(4)
        acc, table, weight = Signal(4), Signal(4), Signal(4)
        addr = Signal(32)
        count = Signal(beat_bits(cfg))
        error = Signal()

        last_count = Signal.like(count)
        with m.Switch(op):
            for name, code in OP.items():
                with m.Case(code):
                    m.d.comb += last_count.eq(latency[name] - 1)
        is_read = (op == OP["ldt"]) | (op == OP["ldw"]) | (op == OP["lda"])
        is_write = op == OP["sta"]
        progress = Mux(is_read, self.i_rd_valid, Mux(is_write, self.i_wr_ready, 1))
        step = busy & progress
        last = step & (count == last_count)
        ready = ~busy | last
        accept = self.i_instr_valid & ready

        m.d.comb += [
            decoder.i_word.eq(self.i_instr),
            self.o_instr_ready.eq(ready),
            self.o_busy.eq(busy),
            self.o_error.eq(error),
        ]
        with m.If(accept):
            m.d.sync += [
                busy.eq(1),
                op.eq(decoder.o_op),
                acc.eq(decoder.o_acc),
                table.eq(decoder.o_table),
                weight.eq(decoder.o_weight),
                addr.eq(decoder.o_addr),
                count.eq(0),
            ]
            with m.If(decoder.o_illegal):
                m.d.sync += error.eq(1)
        with m.Elif(last):
            m.d.sync += busy.eq(0)
        with m.Elif(step):
            m.d.sync += count.eq(count + 1)

        # ---- memory port --------------------------------------------------------------------
        beat_addr = addr + count * lanes
        m.d.comb += [
            self.o_rd_valid.eq(busy & is_read),
            self.o_rd_addr.eq(beat_addr),
            self.o_wr_valid.eq(busy & is_write),
            self.o_wr_addr.eq(beat_addr),
        ]
        values = cfg.acc_fragment_words
        with m.Switch(count):
            for beat in range(-(-values // lanes)):
                with m.Case(beat):
                    m.d.comb += self.o_wr_mask.eq(
                        sum(1 << j for j in range(lanes) if beat * lanes + j < values)
                    )

        # ---- register files -------------------------------------------------------------
        m.d.comb += [
            tables.i_we.eq(step & (op == OP["ldt"])),
            tables.i_reg.eq(table),
            tables.i_beat.eq(count),
            tables.i_data.eq(self.i_rd_data),
            tables.i_rd_reg.eq(table),
            weights.i_we.eq(step & (op == OP["ldw"])),
            weights.i_reg.eq(weight),
            weights.i_beat.eq(count),
            weights.i_data.eq(self.i_rd_data),
            weights.i_rd_reg.eq(weight),
            weights.i_plane.eq(count),
            accs.i_reg.eq(acc),
            accs.i_rd_reg.eq(acc),
            accs.i_beat.eq(count),
            accs.i_clear.eq(step & (op == OP["zacc"])),
            accs.i_we_all.eq(step & (op == OP["lmma"])),
            accs.i_we_beat.eq(step & (op == OP["lda"])),
            array.i_tables.eq(tables.o_tables),
            array.i_index.eq(weights.o_index),
            array.i_shift.eq(count),
            array.i_acc.eq(accs.o_all),
            accs.i_all.eq(array.o_acc),
        ]
        # lda: output-format words -> accumulator format; sta: the reverse
        for j in range(lanes):
            loaded = self._convert(m, self.i_rd_data[j][: cfg.out.bits], cfg.out, cfg.acc, f"ld{j}")
            stored = self._convert(m, accs.o_beat[j], cfg.acc, cfg.out, f"st{j}")
            m.d.comb += [accs.i_beat_data[j].eq(loaded), self.o_wr_data[j].eq(stored)]
        return m

    @staticmethod
    def _convert(m: Module, value, src, dst, name: str):
        """``value`` (format ``src``) converted to ``dst`` (RNE); integers pass through."""
        if src.name == dst.name or not src.is_float:
            return value
        from .fp_convert import FPConvert

        m.submodules[f"convert_{name}"] = convert = FPConvert(src, dst)
        m.d.comb += convert.i_a.eq(value)
        return convert.o_b
