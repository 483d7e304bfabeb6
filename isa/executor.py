"""Instruction-level golden executor: the bit-exact semantics of LMMA programs.

:func:`execute` runs a program on a :class:`Machine` — the register state and memory of one
core, or of a batch of independent cores that run the same program on their own memories (the
leading axis of every array). The RTL and the cycle model are held to the final state it returns.

Semantics, per instruction (see :mod:`lutsim.isa.encoding` for syntax, :mod:`lutsim.isa.golden` for the
fragment layouts and the datapath):

====== ==================================================================================
nop    no state change
ldt    ``t[T] <- unpack_tables(mem[addr : addr + table_fragment_words])``
ldw    ``w[W] <- unpack_weights(mem[addr : addr + weight_fragment_words])``
lda    ``a[A] <- RNE_acc(unpack_acc(mem[addr : addr + acc_fragment_words]))``
sta    ``mem[addr : addr + acc_fragment_words] <- pack_acc(RNE_out(a[A]))``
zacc   ``a[A] <- +0``
lmma   for b in 0 .. B-1: ``a[A] <- a[A] + lookup(t[T], w[W][b]) * 2^b`` (one rounding each)
====== ==================================================================================

Registers start at zero. An access beyond memory or a register the core does not have is an
error naming the instruction; nothing is partially executed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import CoreConfig
from .encoding import Instr, check, decode
from .formats import quantize
from .golden import (
    acc_dtype,
    pack_acc,
    plane_step,
    unpack_acc,
    unpack_tables,
    unpack_weights,
)

__all__ = ["Machine", "execute", "new_machine", "to_instrs"]


@dataclass(frozen=True)
class Machine:
    """State of ``batch`` independent cores.

    ``tables[batch, table_regs, M, E]`` (int64 or float64 values), ``weights[batch, weight_regs,
    B, N]`` (uint8 stored indices), ``accs[batch, acc_regs, M, N]`` (int64 holding int32 values,
    or float16/float32), ``memory[batch, words]`` (uint32)."""

    tables: np.ndarray
    weights: np.ndarray
    accs: np.ndarray
    memory: np.ndarray

    @property
    def batch(self) -> int:
        return self.memory.shape[0]

    def copy(self) -> Machine:
        return Machine(*(x.copy() for x in (self.tables, self.weights, self.accs, self.memory)))


def new_machine(cfg: CoreConfig, memory: np.ndarray) -> Machine:
    """Zeroed registers around ``memory[words]`` or ``memory[batch, words]`` (uint32)."""
    memory = np.asarray(memory, dtype=np.uint32)
    if memory.ndim == 1:
        memory = memory[None, :]
    batch = memory.shape[0]
    table_dtype = np.int64 if cfg.table_format in ("int", "int8") else np.float64
    return Machine(
        tables=np.zeros((batch, cfg.table_regs, cfg.m, cfg.table_entries), dtype=table_dtype),
        weights=np.zeros((batch, cfg.weight_regs, cfg.weight_bits, cfg.n), dtype=np.uint8),
        accs=np.zeros((batch, cfg.acc_regs, cfg.m, cfg.n), dtype=acc_dtype(cfg)),
        memory=memory.copy(),
    )


def to_instrs(program) -> list[Instr]:
    """Words or instructions -> instructions."""
    return [p if isinstance(p, Instr) else decode(p) for p in program]


def execute(cfg: CoreConfig, program, machine: Machine) -> Machine:
    """Run ``program`` (instructions or 64-bit words) and return the final state."""
    instrs = to_instrs(program)
    words = machine.memory.shape[1]
    sizes = {"ldt": cfg.table_fragment_words, "ldw": cfg.weight_fragment_words,
             "lda": cfg.acc_fragment_words, "sta": cfg.acc_fragment_words}  # fmt: skip
    for number, instr in enumerate(instrs):
        problem = check(cfg, instr)
        if problem is None and instr.op in sizes and instr.addr + sizes[instr.op] > words:
            problem = (
                f"fragment [{instr.addr:#x}, {instr.addr + sizes[instr.op]:#x}) is outside "
                f"memory of {words:#x} words"
            )
        if problem:
            raise ValueError(f"instruction {number} ({instr}): {problem}")
    state = machine.copy()
    tables, weights, accs, memory = state.tables, state.weights, state.accs, state.memory
    cast_dtype = acc_dtype(cfg)
    for instr in instrs:
        op = instr.op
        if op == "lmma":
            acc = accs[:, instr.acc]
            entries = tables[:, instr.table].astype(cast_dtype)
            for b in range(cfg.weight_bits):
                acc = plane_step(cfg, acc, entries, weights[:, instr.weight, b], b)
            accs[:, instr.acc] = acc
        elif op == "ldt":
            span = memory[:, instr.addr : instr.addr + cfg.table_fragment_words]
            tables[:, instr.table] = unpack_tables(cfg, span)
        elif op == "ldw":
            span = memory[:, instr.addr : instr.addr + cfg.weight_fragment_words]
            weights[:, instr.weight] = unpack_weights(cfg, span)
        elif op == "lda":
            span = memory[:, instr.addr : instr.addr + cfg.acc_fragment_words]
            accs[:, instr.acc] = quantize(unpack_acc(cfg, span), cfg.acc_format)
        elif op == "sta":
            values = quantize(accs[:, instr.acc].astype(np.float64), cfg.out_format)
            memory[:, instr.addr : instr.addr + cfg.acc_fragment_words] = pack_acc(cfg, values)
        elif op == "zacc":
            accs[:, instr.acc] = 0
    return state
