"""Cycle model of one LUT tensor core in SimPy: the timing of ``hw.core``, cycle for cycle.

One SimPy time unit is one clock cycle. Three processes talk through two request queues, with
the protocol of :mod:`lutsim.isa.timing`:

========== ===============================================================================
process    behaviour
========== ===============================================================================
host       answers each instruction request of the core with the next word of the program,
           in the first cycle (from the request on) that ``stalls.instr`` leaves free
sequencer  requests a word whenever it is ready (idle, or in the last cycle of an
           instruction), decodes the accepted word and executes it from the next cycle: one
           bit plane (``lmma``) or one bus beat (loads, ``sta``) per cycle, a refused beat
           again in the following cycle; ``nop``, ``zacc`` and illegal words take one cycle
memory     a zero-latency port of 32-bit words: answers a read beat of ``bus_words`` words
           unless ``stalls.read``, takes a write beat unless ``stalls.write``; reads past the
           end of memory return 0, writes past it are dropped, beat addresses wrap at 2^32
========== ===============================================================================

Values come from the golden semantics: each instruction is executed by
:func:`lutsim.isa.executor.execute` on the core's registers and a memory holding only the fragment the
port moved (a load when its last beat has arrived, ``sta`` before its first beat goes out,
``lmma`` in its last plane). An illegal word (one :func:`lutsim.isa.encoding.decode` or
:func:`lutsim.isa.encoding.check` rejects) executes as a one-cycle ``nop`` and sets the sticky
``error``, as in the RTL. The core's timing never depends on data, so a batch of memories
(``memory[batch, words]``) runs as ``batch`` cores in lockstep in one simulation.

Action counts (:attr:`CoreRun.actions`; counted here, priced in ``reports``; sums over a batch)
----------------------------------------------------------------------------------------------
======================= ========= ==========================================================
action                  unit      counted
======================= ========= ==========================================================
``instr.issue``         words     instruction words accepted (illegal ones included)
``instr.<op>``          instrs    legal instructions of each opcode
``instr.illegal``       words     illegal words (executed as ``nop``)
``table.write``         entries   table entries written: M x E per ``ldt``
``weight.write``        bits      weight index bits written: B x N x K per ``ldw``
``acc.read``            values    accumulator values read: M x N per plane, M x N per ``sta``
``acc.write``           values    accumulator values written: M x N per plane, per ``lda``
                                  and per ``zacc``
``lut.lookup``          lookups   table lookups: M x N per plane
``lut.negate``          lookups   lookups whose entry is negated (symmetrized cores, index
                                  MSB 0): M per such index per plane
``acc.<format>_add``    additions accumulator additions in ``acc_format``: M x N per plane
``mem.read_words``      words     fragment words read (a partial last beat counts only those)
``mem.write_words``     words     fragment words written
``mem.read_beats``      beats     read beats answered
``mem.write_beats``     beats     write beats taken
``stall.read``          cycles    cycles a read beat was refused
``stall.write``         cycles    cycles a write beat was refused
``stall.instr``         cycles    cycles the core was ready and the host offered no word
======================= ========= ==========================================================

On one core every nonempty program satisfies ``cycles = 1 + sum(latency_cycles[op] of each
accepted word, 1 for an illegal one) + stall.read + stall.write + stall.instr``.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import simpy

from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import OPCODES, WORD_BITS, DecodeError, Instr, check, decode, encode
from lutsim.isa.executor import Machine, execute, new_machine
from lutsim.isa.timing import Stalls

__all__ = ["CoreRun", "action_names", "run_core", "sim_runner"]

_ADDR_MASK = (1 << 32) - 1


@dataclass(frozen=True)
class CoreRun:
    """Result of one program on the cycle model."""

    memory: np.ndarray  # [words] uint32, final
    cycles: int  # first cycle with every word accepted and the core idle (0: empty program)
    issue: tuple[int, ...]  # cycle each word was accepted
    actions: dict[str, int]  # action name -> count (see the module docstring)
    error: bool  # an illegal word was accepted (and executed as nop)
    events: int  # SimPy events processed


def action_names(cfg: CoreConfig) -> tuple[str, ...]:
    """Every action :func:`run_core` counts for the core ``cfg``, in a fixed order."""
    return (
        "instr.issue",
        *(f"instr.{op}" for op in OPCODES),
        "instr.illegal",
        "table.write",
        "weight.write",
        "acc.read",
        "acc.write",
        "lut.lookup",
        "lut.negate",
        f"acc.{cfg.acc_format}_add",
        "mem.read_words",
        "mem.write_words",
        "mem.read_beats",
        "mem.write_beats",
        "stall.read",
        "stall.write",
        "stall.instr",
    )


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it schedules."""

    def __init__(self):
        super().__init__()
        self.events = 0

    def schedule(self, event, priority=simpy.core.NORMAL, delay=0):
        self.events += 1
        super().schedule(event, priority, delay)


class _Channel:
    """A point-to-point request queue between two processes (a lean ``simpy.Store``):
    ``get()`` is an event that fires with the next item, in the cycle it is ``put``."""

    __slots__ = ("env", "items", "waiting")

    def __init__(self, env: simpy.Environment):
        self.env, self.items, self.waiting = env, collections.deque(), None

    def put(self, item) -> None:
        if self.waiting is None:
            self.items.append(item)
        else:
            waiting, self.waiting = self.waiting, None
            waiting.succeed(item)

    def get(self) -> simpy.Event:
        event = self.env.event()
        if self.items:
            event.succeed(self.items.popleft())
        else:
            self.waiting = event
        return event


class _Beat:
    """One bus beat the sequencer asks the memory port for; ``done`` carries the answer:
    the words read, True for a write taken, None when refused this cycle."""

    __slots__ = ("kind", "addr", "data", "done")

    def __init__(self, kind: str, addr: int, data, done: simpy.Event):
        self.kind, self.addr, self.data, self.done = kind, addr, data, done


class _Core:
    """The three processes of one core and the state they share."""

    def __init__(self, env, cfg: CoreConfig, words: list[int], memory: np.ndarray, stalls):
        self.env, self.cfg, self.stalls = env, cfg, stalls
        self.memory = memory
        self.batch = len(memory)
        self.machine = new_machine(cfg, np.zeros((self.batch, 0), np.uint32))  # registers only
        self.actions = dict.fromkeys(action_names(cfg), 0)
        self.issue: list[int] = []
        self.error = False
        self.ready_at = 0  # the cycle the sequencer last became ready
        self.fetch = _Channel(env)  # instruction requests: sequencer -> host
        self.port = _Channel(env)  # beat requests: sequencer -> memory
        self._decoded: dict[int, Instr | None] = {}
        self._at_zero: dict[Instr, Instr] = {}  # loads and stores moved to address 0
        self._fragment_words = {
            "ldt": cfg.table_fragment_words,
            "ldw": cfg.weight_fragment_words,
            "lda": cfg.acc_fragment_words,
            "sta": cfg.acc_fragment_words,
        }
        self._values = cfg.m * cfg.n * self.batch  # accumulator values in the batch
        self._add = f"acc.{cfg.acc_format}_add"
        env.process(self._host(words))
        env.process(self._sequencer())
        env.process(self._memory_port())

    # ---- host --------------------------------------------------------------------------
    def _host(self, words: list[int]):
        env, actions = self.env, self.actions
        for word in words:
            request = yield self.fetch.get()  # the core is ready for a word
            while self.stalls.at("instr", env.now):
                actions["stall.instr"] += self.batch
                yield env.timeout(1)
            request.succeed(word)

    # ---- memory port -------------------------------------------------------------------
    def _memory_port(self):
        env, memory, lanes = self.env, self.memory, self.cfg.bus_words
        size = memory.shape[1]
        while True:
            beat = yield self.port.get()
            if self.stalls.at(beat.kind, env.now):
                beat.done.succeed(None)
            elif beat.kind == "read":
                base = beat.addr
                if base + lanes <= size:
                    beat.done.succeed(memory[:, base : base + lanes].copy())
                else:  # words past the end read as 0
                    words = np.zeros((len(memory), lanes), np.uint32)
                    if base < size:
                        words[:, : size - base] = memory[:, base:]
                    beat.done.succeed(words)
            else:
                base, data = beat.addr, beat.data
                stop = min(base + data.shape[1], size)  # words past the end are dropped
                if stop > base:
                    memory[:, base:stop] = data[:, : stop - base]
                beat.done.succeed(True)

    # ---- sequencer ---------------------------------------------------------------------
    def _sequencer(self):
        env, actions = self.env, self.actions
        while True:
            self.ready_at = env.now
            request = env.event()
            self.fetch.put(request)
            word = yield request
            self.issue.append(env.now)
            actions["instr.issue"] += self.batch
            instr = self._decode(word)
            yield env.timeout(1)  # the first execution cycle
            if instr is None:
                self.error = True
                actions["instr.illegal"] += self.batch
                continue
            op = instr.op
            actions[f"instr.{op}"] += self.batch
            if op == "lmma":
                yield from self._lmma(instr)
            elif op == "sta":
                yield from self._store(instr)
            elif op in self._fragment_words:
                yield from self._load(instr)
            elif op == "zacc":
                self._execute(instr)
                actions["acc.write"] += self._values
            # nop: nothing in its one cycle

    def _decode(self, word: int) -> Instr | None:
        """The instruction, or None for a word the core does not run."""
        if word not in self._decoded:
            try:
                instr = decode(word)
            except DecodeError:
                instr = None
            if instr is not None and check(self.cfg, instr) is not None:
                instr = None
            self._decoded[word] = instr
        return self._decoded[word]

    def _execute(self, instr: Instr, fragment: np.ndarray | None = None) -> np.ndarray:
        """Run ``instr`` with the golden executor on the registers and a memory that holds only
        its fragment; returns that memory afterwards (what ``sta`` stores)."""
        if fragment is None:
            fragment = np.zeros((self.batch, 0), np.uint32)
        if instr.op in self._fragment_words:
            if instr not in self._at_zero:
                self._at_zero[instr] = dataclasses.replace(instr, addr=0)
            instr = self._at_zero[instr]
        regs = self.machine
        state = execute(self.cfg, [instr], Machine(regs.tables, regs.weights, regs.accs, fragment))
        self.machine = state
        return state.memory

    def _lmma(self, instr: Instr):
        cfg, env, actions = self.cfg, self.env, self.actions
        index = self.machine.weights[:, instr.weight]  # [batch, B, N], unchanged while it runs
        for plane in range(cfg.weight_bits):
            if plane:
                yield env.timeout(1)
            actions["lut.lookup"] += self._values
            actions[self._add] += self._values
            actions["acc.read"] += self._values
            actions["acc.write"] += self._values
            if cfg.symmetrize:
                msb_clear = np.count_nonzero((index[:, plane] >> (cfg.k - 1)) & 1 == 0)
                actions["lut.negate"] += cfg.m * int(msb_clear)
        self._execute(instr)

    def _beats(self, kind: str, instr: Instr, fragment: np.ndarray | None):
        """Move the fragment of ``instr`` one beat per cycle, retrying refused beats; returns
        the words read (reads) in the last beat's cycle."""
        env, actions, lanes = self.env, self.actions, self.cfg.bus_words
        words = self._fragment_words[instr.op]
        beats = math.ceil(words / lanes)
        batch = self.batch
        received = np.zeros((batch, beats * lanes), np.uint32) if fragment is None else None
        for beat in range(beats):
            if beat:
                yield env.timeout(1)
            start = beat * lanes
            data = None if fragment is None else fragment[:, start : start + lanes]
            while True:
                done = env.event()
                self.port.put(_Beat(kind, (instr.addr + start) & _ADDR_MASK, data, done))
                answer = yield done
                if answer is not None:
                    break
                actions[f"stall.{kind}"] += batch
                yield env.timeout(1)  # refused: the same beat again next cycle
            actions[f"mem.{kind}_beats"] += batch
            actions[f"mem.{kind}_words"] += batch * min(lanes, words - start)
            if received is not None:
                received[:, start : start + lanes] = answer
        return None if received is None else received[:, :words]

    def _load(self, instr: Instr):
        fragment = yield from self._beats("read", instr, None)
        self._execute(instr, fragment)
        cfg, batch = self.cfg, self.batch
        if instr.op == "ldt":
            self.actions["table.write"] += batch * cfg.m * cfg.table_entries
        elif instr.op == "ldw":
            self.actions["weight.write"] += batch * cfg.weight_bits * cfg.n * cfg.k
        else:
            self.actions["acc.write"] += self._values

    def _store(self, instr: Instr):
        words = np.zeros((self.batch, self._fragment_words["sta"]), np.uint32)
        fragment = self._execute(instr, words)
        self.actions["acc.read"] += self._values
        yield from self._beats("write", instr, fragment)


def _program_words(program) -> list[int]:
    """Instructions or raw 64-bit words (illegal words pass, for the core to flag)."""
    words, encoded = [], {}
    for number, item in enumerate(program):
        if isinstance(item, Instr):
            if item not in encoded:
                encoded[item] = encode(item)
            word = encoded[item]
        else:
            word = int(item)
        if not 0 <= word < 1 << WORD_BITS:
            raise ValueError(f"instruction {number}: word {word:#x} does not fit in 64 bits")
        words.append(word)
    return words


def _memory_words(memory) -> np.ndarray:
    """``memory`` as a fresh ``[batch, words]`` uint32 array (the caller's is never written)."""
    array = np.asarray(memory)
    if array.ndim not in (1, 2):
        raise ValueError(
            f"memory must be words [words] or a batch of them [batch, words], not shape {array.shape}"
        )
    if array.size and (
        array.dtype.kind not in "iu" or array.min() < 0 or int(array.max()) > _ADDR_MASK
    ):
        raise ValueError("memory words must be integers in 0..0xffffffff")
    return np.array(array, dtype=np.uint32, ndmin=2)


def run_core(cfg: CoreConfig, program, memory, stalls: Stalls | None = None) -> CoreRun:
    """Run ``program`` (instructions or 64-bit words) on one core around ``memory[words]``
    (uint32) under ``stalls``; see the module docstring for the model and the counts.

    ``memory[batch, words]`` runs ``batch`` cores in lockstep, each on its own memory: the
    timing of the core never depends on data, so one simulation gives every core's values.
    ``cycles`` and ``issue`` are then those of each core, ``actions`` the sums over the batch,
    and ``memory`` comes back as ``[batch, words]``."""
    words = _program_words(program)
    array = _memory_words(memory)
    env = CountingEnvironment()
    core = _Core(env, cfg, words, array, stalls or Stalls())
    env.run()
    return CoreRun(
        memory=core.memory if np.ndim(memory) == 2 else core.memory[0],
        cycles=core.ready_at + 1 if words else 0,
        issue=tuple(core.issue),
        actions=core.actions,
        error=core.error,
        events=env.events,
    )


def sim_runner(cfg: CoreConfig, program, memories: np.ndarray):
    """A :data:`lutsim.isa.gemm.Runner`: the tiles run one after another on one core (reset between
    tiles), so the cycles are those of one tile times the tiles; simulated as one batch."""
    memories = np.asarray(memories)
    run = run_core(cfg, program, memories)
    if run.error:
        raise ValueError("the core flagged an illegal instruction")
    return run.memory, run.cycles * len(memories)
