"""Run LMMA programs on the RTL: Amaranth's simulator here, Verilator in :mod:`lutsim.hw.verilator`.

Both engines drive the same protocol (:mod:`lutsim.isa.timing`): a host offering the program's words
in order, a zero-latency word-addressed memory (reads past its end return 0, writes past it are
dropped), and optional stall patterns. They return the final memory, the cycle count and the
issue cycle of every instruction, so the cycle model can be held to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr, encode
from lutsim.isa.timing import Stalls

__all__ = ["RtlRun", "amaranth_runner", "run_amaranth"]


@dataclass(frozen=True)
class RtlRun:
    """Result of one program on the RTL."""

    memory: np.ndarray  # [words] uint32, final
    cycles: int
    issue: tuple[int, ...]  # cycle each instruction was accepted
    error: bool  # the core flagged an illegal instruction


def _words(program) -> list[int]:
    """Instructions or raw words (illegal words are passed on, for the core to flag)."""
    return [encode(p) if isinstance(p, Instr) else int(p) for p in program]


def run_amaranth(
    cfg: CoreConfig,
    jobs,
    stalls: Stalls | None = None,
    vcd: str | None = None,
    max_cycles: int = 1_000_000,
) -> list[RtlRun]:
    """Run each ``(program, memory)`` of ``jobs`` on one ``hw.core.LutCore(cfg)`` in Amaranth's
    Python simulator, one after the other (each job's cycles and stalls count from its start)."""
    from amaranth.sim import Simulator

    from .core import LutCore

    stalls = stalls or Stalls()
    lanes = cfg.bus_words
    dut = LutCore(cfg)
    runs: list[RtlRun] = []

    async def bench(ctx):
        for program, memory in jobs:
            words = _words(program)
            mem = np.array(memory, dtype=np.uint32).copy()
            size = len(mem)
            issue, pc, cycle = [], 0, 0
            while pc < len(words) or ctx.get(dut.o_busy):
                if cycle >= max_cycles:
                    raise RuntimeError(f"program did not finish within {max_cycles} cycles")
                offer = pc < len(words) and not stalls.at("instr", cycle)
                ctx.set(dut.i_instr_valid, offer)
                ctx.set(dut.i_instr, words[pc] if offer else 0)
                base = ctx.get(dut.o_rd_addr)
                beat = [int(mem[base + j]) if base + j < size else 0 for j in range(lanes)]
                ctx.set(dut.i_rd_data, beat)
                ctx.set(dut.i_rd_valid, not stalls.at("read", cycle))
                write_ready = not stalls.at("write", cycle)
                ctx.set(dut.i_wr_ready, write_ready)
                if offer and ctx.get(dut.o_instr_ready):
                    issue.append(cycle)
                    pc += 1
                if write_ready and ctx.get(dut.o_wr_valid):
                    base, mask = ctx.get(dut.o_wr_addr), ctx.get(dut.o_wr_mask)
                    data = ctx.get(dut.o_wr_data)
                    for j in range(lanes):
                        if mask >> j & 1 and base + j < size:
                            mem[base + j] = data[j]
                await ctx.tick()
                cycle += 1
            ctx.set(dut.i_instr_valid, 0)
            runs.append(RtlRun(mem, cycle, tuple(issue), bool(ctx.get(dut.o_error))))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return runs


def amaranth_runner(cfg: CoreConfig, program, memories: np.ndarray):
    """A :data:`lutsim.isa.gemm.Runner`: every tile's memory through the Amaranth simulation."""
    runs = run_amaranth(cfg, [(program, memory) for memory in memories])
    if any(run.error for run in runs):
        raise ValueError("the core flagged an illegal instruction")
    return np.stack([run.memory for run in runs]), sum(run.cycles for run in runs)
