"""The timing contract in executable form: when each instruction of a program issues.

This is the reference the RTL (``hw``) and the cycle model (``sim``) are both held to. The
protocol around the core, per cycle ``c`` (see ``hw.core`` for the ports):

1. the host offers the next instruction unless ``stalls.instr[c]``;
2. memory answers a read beat unless ``stalls.read[c]`` and takes a write beat unless
   ``stalls.write[c]``;
3. the core accepts the instruction when it is idle or finishing the last cycle of the
   current one; an instruction accepted in cycle ``a`` executes from ``a + 1`` for
   ``CoreConfig.latency_cycles[op]`` cycles, a load or store beat that meets a stall is retried
   the next cycle.

A program's cycle count is the first cycle in which every instruction has been accepted and the
core is idle: ``1 + sum(latencies)`` without stalls (0 for an empty program).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import CoreConfig
from .encoding import Instr

__all__ = ["Schedule", "Stalls", "schedule"]

_READS = ("ldt", "ldw", "lda")


@dataclass(frozen=True)
class Stalls:
    """Cycles in which the host offers no instruction (``instr``), memory does not answer a
    read (``read``) or does not take a write (``write``); boolean arrays indexed by cycle,
    False past their end."""

    instr: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    read: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    write: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @classmethod
    def random(cls, seed: int, cycles: int, p: float = 0.2) -> Stalls:
        """Each kind of stall independently with probability ``p`` in each of ``cycles``."""
        rng = np.random.default_rng(seed)
        return cls(*(rng.random(cycles) < p for _ in range(3)))

    def at(self, kind: str, cycle: int) -> bool:
        flags = getattr(self, kind)
        return bool(flags[cycle]) if cycle < len(flags) else False

    def padded(self, cycles: int) -> Stalls:
        """The same stalls as arrays of at least ``cycles`` entries (for file exchange)."""

        def pad(flags):
            out = np.zeros(max(cycles, len(flags)), dtype=bool)
            out[: len(flags)] = flags
            return out

        return Stalls(pad(self.instr), pad(self.read), pad(self.write))


@dataclass(frozen=True)
class Schedule:
    """``issue[i]``: the cycle instruction i was accepted; ``cycles``: the program's total."""

    issue: tuple[int, ...]
    cycles: int

    @property
    def per_instruction(self) -> tuple[int, ...]:
        """Cycles from each instruction's issue to the next issue (or to the end)."""
        ends = self.issue[1:] + (self.cycles - 1,)
        return tuple(end - start for start, end in zip(self.issue, ends, strict=True))


def schedule(cfg: CoreConfig, program: list[Instr], stalls: Stalls | None = None) -> Schedule:
    """Issue cycles and total cycles of ``program`` under ``stalls`` (the timing contract)."""
    stalls = stalls or Stalls()
    latency = cfg.latency_cycles
    issue: list[int] = []
    cycle, pc = 0, 0
    busy_op: str | None = None
    remaining = 0
    while pc < len(program) or busy_op is not None:
        # does the executing instruction make progress, and is this its last cycle?
        last = False
        if busy_op is not None:
            stalled = (busy_op in _READS and stalls.at("read", cycle)) or (
                busy_op == "sta" and stalls.at("write", cycle)
            )
            if not stalled:
                remaining -= 1
                last = remaining == 0
        ready = busy_op is None or last
        if last:
            busy_op = None
        if ready and pc < len(program) and not stalls.at("instr", cycle):
            issue.append(cycle)
            busy_op = program[pc].op
            remaining = latency[busy_op]
            pc += 1
        cycle += 1
    return Schedule(tuple(issue), cycle)
