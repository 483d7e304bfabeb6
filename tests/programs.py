"""Random LMMA programs and memories shared by the RTL and cycle-model tests."""

import numpy as np

from lutsim.isa.encoding import Instr, encode

_SIZE = {"ldt": "table_fragment_words", "ldw": "weight_fragment_words",
         "lda": "acc_fragment_words", "sta": "acc_fragment_words"}  # fmt: skip
_REG = {"ldt": "table", "ldw": "weight", "lda": "acc", "sta": "acc"}


def random_program(cfg, rng, memory_words, length, wild=False):
    """Random instructions of every opcode with random registers and addresses inside memory.
    ``wild`` mixes in illegal words and fragments reaching past the end of memory."""
    lmma = dict(
        m=cfg.m, n=cfg.n, k=cfg.k, atype=cfg.act.abbrev, wtype=cfg.weight_type,
        ctype=cfg.acc.abbrev, otype=cfg.out.abbrev,
    )  # fmt: skip
    illegal = [
        7 << 60,
        (5 << 60) | 1,
        encode(Instr("zacc", acc=cfg.acc_regs)) if cfg.acc_regs < 16 else 15 << 60,
        encode(Instr("lmma", **dict(lmma, n=cfg.n % 256 + 1))),
    ]
    program = []
    for _ in range(length):
        op = ("nop", "ldt", "ldw", "lda", "sta", "zacc", "lmma")[rng.integers(7)]
        regs = {name: int(rng.integers(getattr(cfg, f"{name}_regs")))
                for name in ("acc", "table", "weight")}  # fmt: skip
        if wild and rng.random() < 0.1:
            program.append(illegal[rng.integers(len(illegal))])
        elif op == "lmma":
            program.append(Instr("lmma", **regs, **lmma))
        elif op in _SIZE:
            size = getattr(cfg, _SIZE[op])
            top = memory_words + size if wild else memory_words - size + 1
            reg = _REG[op]
            program.append(Instr(op, addr=int(rng.integers(0, top)), **{reg: regs[reg]}))
        elif op == "zacc":
            program.append(Instr("zacc", acc=regs["acc"]))
        else:
            program.append(Instr("nop"))
    return program


def random_memory(rng, words):
    """Random words: every bit pattern is a table entry, weight bits or accumulator value."""
    return rng.integers(0, 2**32, size=words, dtype=np.uint64).astype(np.uint32)
