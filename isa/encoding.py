"""The LMMA instruction set: one field table, from which everything else is derived.

Machine model
-------------
A standalone LUT tensor core holds table registers ``t0..`` (one table fragment each: M tables of
``table_entries`` entries), weight registers ``w0..`` (one weight fragment: B bit planes x N
columns x K index bits, offline-inverted) and accumulator registers ``a0..`` (M x N values in the
accumulator format), and reads and writes a word-addressed memory of 32-bit words.

Instructions
------------
====================================================== ==========================================
syntax                                                 meaning
====================================================== ==========================================
``nop``                                                do nothing for one cycle
``ldt tT, [addr]``                                     tT <- table fragment at addr
``ldw wW, [addr]``                                     wW <- weight fragment at addr
``lda aA, [addr]``                                     aA <- accumulator fragment (out format)
``sta aA, [addr]``                                     accumulator fragment at addr <- aA
``zacc aA``                                            aA <- 0
``lmma.mMnNkK.<at>.<wt>.<acct>.<ot> aA, tT, wW``       aA <- aA + LUT(tT, wW), plane by plane
====================================================== ==========================================

Types: ``<at>`` activation s8 s16 e4m3 e5m2 f16; ``<wt>`` weight u1 u2 u3 u4 t2 (ternary);
``<acct>`` accumulator and ``<ot>`` stored output s32 f16 f32. An ``lmma`` runs only on a core
whose configuration has exactly that shape and those types. Addresses are written ``[0x1f]`` or
``[31]`` (decimal without leading zeros); ``#`` or ``;`` starts a comment. Lines end at ``\n``,
``\r\n`` or ``\r``; errors give 1-based line and column. Fragment layouts in memory are given in
:mod:`lutsim.isa.golden`.

Encoding (64-bit words; bits not used by an opcode must be zero)
----------------------------------------------------------------
::

     63   60 59  56 55  52 51  48 47  44 43      35 34  32 31 29 28 26 25 24 23 22 21      0
    +-------+------+------+------+------+----------+------+-----+-----+-----+-----+---------+
    |  op   | acc  |table |weight|  m   |    n     |  k   |atype|wtype|ctype|otype|    0    | lmma
    +-------+------+------+------+------+----------+------+-----+-----+-----+-----+---------+
    |  op   | acc  |table |weight|      0                 |            addr (32)            | loads
    +-------+------+------+------+------------------------+---------------------------------+

===== ==== ==== ==== ==== ==== ==== ====
op    nop  ldt  ldw  lda  sta  zacc lmma
code  0    1    2    3    4    5    6
===== ==== ==== ==== ==== ==== ==== ====
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

__all__ = [
    "ATYPES",
    "CTYPES",
    "FIELDS",
    "OPCODES",
    "OTYPES",
    "WTYPES",
    "AsmError",
    "DecodeError",
    "Field",
    "Instr",
    "Opcode",
    "assemble",
    "check",
    "decode",
    "disassemble",
    "encode",
    "read_program",
    "write_program",
]

WORD_BITS = 64
ATYPES = ("s8", "s16", "e4m3", "e5m2", "f16")
WTYPES = ("u1", "u2", "u3", "u4", "t2")
CTYPES = ("s32", "f16", "f32")
OTYPES = ("s32", "f16", "f32")


@dataclass(frozen=True)
class Field:
    """One bit field: ``word[lsb + width - 1 : lsb]``, valid values ``lo..hi`` or a name list."""

    name: str
    lsb: int
    width: int
    meaning: str
    lo: int = 0
    hi: int | None = None
    names: tuple[str, ...] = ()

    @property
    def highest(self) -> int:
        if self.names:
            return len(self.names) - 1
        return (1 << self.width) - 1 if self.hi is None else self.hi

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


# fmt: off
FIELDS: dict[str, Field] = {f.name: f for f in (
    #     name      lsb width meaning
    Field("op",     60, 4,  "opcode"),
    Field("acc",    56, 4,  "accumulator register a0-a15"),
    Field("table",  52, 4,  "table register t0-t15"),
    Field("weight", 48, 4,  "weight register w0-w15"),
    Field("m",      44, 4,  "tile rows M",                lo=1),
    Field("n",      35, 9,  "tile columns N",             lo=1),
    Field("k",      32, 3,  "activations per table K",    lo=1),
    Field("atype",  29, 3,  "activation type",            names=ATYPES),
    Field("wtype",  26, 3,  "weight type",                names=WTYPES),
    Field("ctype",  24, 2,  "accumulator type",           names=CTYPES),
    Field("otype",  22, 2,  "stored output type",         names=OTYPES),
    Field("addr",   0,  32, "word address"),
)}
# fmt: on


@dataclass(frozen=True)
class Opcode:
    name: str
    code: int
    operands: tuple[str, ...]  # fields written as operands, in assembly order
    suffix: tuple[str, ...] = ()  # fields written in the mnemonic (lmma only)

    @property
    def fields(self) -> tuple[str, ...]:
        return ("op", *self.suffix, *self.operands)


# fmt: off
OPCODES: dict[str, Opcode] = {o.name: o for o in (
    Opcode("nop",  0, ()),
    Opcode("ldt",  1, ("table", "addr")),
    Opcode("ldw",  2, ("weight", "addr")),
    Opcode("lda",  3, ("acc", "addr")),
    Opcode("sta",  4, ("acc", "addr")),
    Opcode("zacc", 5, ("acc",)),
    Opcode("lmma", 6, ("acc", "table", "weight"),
           suffix=("m", "n", "k", "atype", "wtype", "ctype", "otype")),
)}
# fmt: on
_BY_CODE = {o.code: o for o in OPCODES.values()}
_REG_PREFIX = {"acc": "a", "table": "t", "weight": "w"}
_OPERAND_WORDS = {"acc": "accumulator register", "table": "table register",
                  "weight": "weight register", "addr": "address"}  # fmt: skip


@dataclass(frozen=True)
class Instr:
    """A decoded instruction. Fields an opcode does not use are 0 (or "" for types)."""

    op: str
    acc: int = 0
    table: int = 0
    weight: int = 0
    addr: int = 0
    m: int = 0
    n: int = 0
    k: int = 0
    atype: str = ""
    wtype: str = ""
    ctype: str = ""
    otype: str = ""

    @property
    def mnemonic(self) -> str:
        if self.op != "lmma":
            return self.op
        return (
            f"lmma.m{self.m}n{self.n}k{self.k}.{self.atype}.{self.wtype}.{self.ctype}.{self.otype}"
        )

    def __str__(self) -> str:
        return disassemble_instr(self)


_INSTR_FIELDS = {f.name for f in fields(Instr)}


class AsmError(ValueError):
    """Malformed assembly; the message starts with ``line L, column C:``."""


class DecodeError(ValueError):
    """A word that is not a valid instruction."""


_UNUSED = {f.name: f.default for f in fields(Instr) if f.name != "op"}


def _field_value(instr: Instr, name: str) -> int:
    if name == "op":
        return OPCODES[instr.op].code
    value = getattr(instr, name)
    spec = FIELDS[name]
    if spec.names:
        if value not in spec.names:
            raise ValueError(f"field {name} = {value!r} is not one of {', '.join(spec.names)}")
        return spec.names.index(value)
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"field {name} = {value!r} is not an integer") from None
    problem = _check_range(name, value)
    if problem:
        raise ValueError(problem)
    return value


def _check_range(name: str, value: int) -> str | None:
    spec = FIELDS[name]
    if not spec.lo <= value <= spec.highest:
        shown = value if value.bit_length() <= WORD_BITS else f"a {value.bit_length()}-bit integer"
        return f"field {name} = {shown} is out of range {spec.lo} to {spec.highest}"
    return None


def encode(instr: Instr) -> int:
    """Instruction -> 64-bit word. Fields the opcode does not use must keep their defaults."""
    if instr.op not in OPCODES:
        raise ValueError(f"unknown mnemonic {instr.op!r}")
    opcode = OPCODES[instr.op]
    for name, default in _UNUSED.items():
        if name not in opcode.fields and getattr(instr, name) != default:
            raise ValueError(
                f"{instr.op} does not use field {name}; "
                f"it must be {default!r}, not {getattr(instr, name)!r}"
            )
    word = 0
    for name in opcode.fields:
        word |= _field_value(instr, name) << FIELDS[name].lsb
    return word


def decode(word: int) -> Instr:
    """64-bit word -> instruction, or :class:`DecodeError` with a one-line reason."""
    word = operator.index(word)
    if not 0 <= word < 1 << WORD_BITS:
        raise DecodeError(f"instruction word {word:#x} does not fit in {WORD_BITS} bits")
    code = (word >> FIELDS["op"].lsb) & ((1 << FIELDS["op"].width) - 1)
    if code not in _BY_CODE:
        raise DecodeError(f"instruction word 0x{word:016x}: opcode {code} is not assigned")
    opcode = _BY_CODE[code]
    used = 0
    values: dict[str, object] = {"op": opcode.name}
    for name in opcode.fields:
        spec = FIELDS[name]
        used |= spec.mask
        raw = (word & spec.mask) >> spec.lsb
        if name == "op":
            continue
        problem = _check_range(name, raw)
        if problem:
            raise DecodeError(f"instruction word 0x{word:016x}: {problem}")
        values[name] = spec.names[raw] if spec.names else raw
    if word & ~used:
        raise DecodeError(
            f"instruction word 0x{word:016x}: reserved bits 0x{word & ~used:016x} are set"
        )
    return Instr(**values)  # type: ignore[arg-type]


def disassemble_instr(instr: Instr) -> str:
    """Instruction -> canonical assembly text (validated, so the text assembles back)."""
    encode(instr)
    parts = []
    for name in OPCODES[instr.op].operands:
        value = getattr(instr, name)
        parts.append(f"[{value:#x}]" if name == "addr" else f"{_REG_PREFIX[name]}{value}")
    return instr.mnemonic + (" " + ", ".join(parts) if parts else "")


def disassemble(words) -> str:
    """Words -> canonical assembly text, one instruction per line."""
    return "".join(disassemble_instr(decode(w)) + "\n" for w in words)


# ---- assembler --------------------------------------------------------------------------
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SPACE = re.compile(r"\s*")
_LMMA_SUFFIX = re.compile(
    r"lmma\.m([0-9]+)n([0-9]+)k([0-9]+)\.([a-z0-9]+)\.([a-z0-9]+)\.([a-z0-9]+)\.([a-z0-9]+)"
)
_TOKEN = re.compile(r"\s*(\[[^\]]*\]|[^,\s\[]+)")
_ADDRESS = re.compile(r"\[\s*(0x[0-9a-fA-F]+|0|[1-9][0-9]*)\s*\]")


def _asm_error(line: int, col: int, message: str) -> AsmError:
    return AsmError(f"line {line}, column {col}: {message}")


def _at_most(digits: str, base: int, highest: int) -> int | None:
    """The value of unsigned ``digits`` if it is at most ``highest``, else None (any length)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(np.base_repr(highest, base)):
        return None
    value = int(significant, base)
    return value if value <= highest else None


def _parse_mnemonic(text: str, line: int, col: int) -> tuple[dict[str, object], dict[str, int]]:
    """Mnemonic -> (field values, column of each field)."""
    base = text.split(".", 1)[0]
    if base not in OPCODES:
        raise _asm_error(line, col, f"unknown mnemonic {text!r}")
    if base != "lmma":
        if text != base:
            raise _asm_error(line, col, f"{base} takes no type suffix, got {text!r}")
        return {"op": base}, {"op": col}
    match = _LMMA_SUFFIX.fullmatch(text)
    if not match:
        expected = "lmma.m<M>n<N>k<K>.<atype>.<wtype>.<acctype>.<otype>"
        raise _asm_error(line, col, f"malformed mnemonic {text!r}: expected {expected}")
    values: dict[str, object] = {"op": "lmma"}
    columns = {"op": col}
    for group, name in enumerate(OPCODES["lmma"].suffix, start=1):
        raw, where, spec = match.group(group), col + match.start(group), FIELDS[name]
        if spec.names:
            if raw not in spec.names:
                raise _asm_error(
                    line, where,
                    f"unknown {spec.meaning} {raw!r}; choose from {', '.join(spec.names)}",
                )  # fmt: skip
            values[name] = raw
        else:
            value = _at_most(raw, 10, spec.highest)
            if value is None or value < spec.lo:
                raise _asm_error(
                    line, where, f"field {name} = {raw} is out of range {spec.lo} to {spec.highest}"
                )
            values[name] = value
        columns[name] = where
    return values, columns


def _parse_operand(name: str, token: str, line: int, col: int) -> int:
    if name == "addr":
        match = _ADDRESS.fullmatch(token)
        if not match:
            raise _asm_error(line, col, f"expected an address like [0x100] or [256], got {token!r}")
        text = match.group(1)
        is_hex = text.startswith("0x")
        value = _at_most(text[2 if is_hex else 0 :], 16 if is_hex else 10, FIELDS["addr"].highest)
        if value is None:
            raise _asm_error(line, col, f"address {text} is out of range 0 to 0xffffffff")
        return value
    prefix = _REG_PREFIX[name]
    match = re.fullmatch(rf"{prefix}([0-9]+)", token)
    if not match:
        raise _asm_error(
            line, col, f"expected a {_OPERAND_WORDS[name]} {prefix}0-{prefix}15, got {token!r}"
        )
    value = _at_most(match.group(1), 10, FIELDS[name].highest)
    if value is None:
        raise _asm_error(line, col, f"register {token} is out of range {prefix}0-{prefix}15")
    return value


def _operand_tokens(body: str, start: int, line: int) -> list[tuple[str, int]]:
    """Comma-separated operands of ``body[start:]`` -> (token, column) pairs."""
    tokens: list[tuple[str, int]] = []
    offset = start
    while offset < len(body):  # body has no trailing space
        match = _TOKEN.match(body, offset)
        if not match:
            at = _SPACE.match(body, offset).end()
            if body[at] == ",":
                raise _asm_error(line, at + 1, "missing operand before ','")
            raise _asm_error(line, at + 1, "'[' is never closed")
        tokens.append((match.group(1), match.start(1) + 1))
        after = _SPACE.match(body, match.end()).end()
        if after == len(body):
            break
        if body[after] != ",":
            word = re.match(r"[^,\s]+", body[after:]).group()  # type: ignore[union-attr]
            raise _asm_error(line, after + 1, f"expected ',' between operands, got {word!r}")
        offset = after + 1
        if offset == len(body):
            raise _asm_error(line, after + 1, "missing operand after ','")
    return tokens


def _parse(text: str):
    """Assembly text -> (instruction, line number, column of each field) for each instruction."""
    for number, raw_line in enumerate(_LINE_BREAK.split(text), start=1):
        body = re.split(r"[#;]", raw_line, maxsplit=1)[0].rstrip()
        if not body:
            continue
        head_match = re.match(r"\s*(\S+)", body)
        head, col = head_match.group(1), head_match.start(1) + 1  # type: ignore[union-attr]
        values, columns = _parse_mnemonic(head, number, col)
        opcode = OPCODES[values["op"]]  # type: ignore[index]
        tokens = _operand_tokens(body, head_match.end(1), number)  # type: ignore[union-attr]
        if len(tokens) != len(opcode.operands):
            words = ", ".join(_OPERAND_WORDS[o] for o in opcode.operands) or "none"
            where = tokens[len(opcode.operands)][1] if len(tokens) > len(opcode.operands) else col
            count = f"{opcode.name} takes {len(opcode.operands)} operand(s) ({words})"
            raise _asm_error(number, where, f"{count}, got {len(tokens)}")
        for name, (token, token_col) in zip(opcode.operands, tokens, strict=True):
            values[name] = _parse_operand(name, token, number, token_col)
            columns[name] = token_col
        yield Instr(**values), number, columns  # type: ignore[arg-type]


def parse(text: str) -> list[tuple[Instr, int]]:
    """Assembly text -> (instruction, line number) pairs; errors carry line and column."""
    return [(instr, number) for instr, number, _ in _parse(text)]


def assemble(text: str, cfg=None) -> list[int]:
    """Assembly text -> 64-bit words. With a core config, every instruction is also checked
    against it (:func:`check`) and reported at its line and the offending field's column."""
    words = []
    for instr, number, columns in _parse(text):
        if cfg is not None:
            problem = _mismatch(cfg, instr)
            if problem:
                raise _asm_error(number, columns[problem[0]], problem[1])
        words.append(encode(instr))
    return words


def _mismatch(cfg, instr: Instr) -> tuple[str, str] | None:
    """(field, reason) when ``instr`` cannot run on the core ``cfg``."""
    if instr.op == "lmma" and instr.mnemonic != cfg.mnemonic:
        return "op", f"{instr.mnemonic} does not match this core's {cfg.mnemonic}"
    for name, count in (("acc", cfg.acc_regs), ("table", cfg.table_regs),
                        ("weight", cfg.weight_regs)):  # fmt: skip
        if name in OPCODES[instr.op].operands and getattr(instr, name) >= count:
            prefix = _REG_PREFIX[name]
            return name, (
                f"register {prefix}{getattr(instr, name)} is beyond this core's "
                f"{count} {_OPERAND_WORDS[name]}s ({prefix}0-{prefix}{count - 1})"
            )
    return None


def check(cfg, instr: Instr) -> str | None:
    """Why ``instr`` cannot run on the core ``cfg`` (None when it can)."""
    problem = _mismatch(cfg, instr)
    return problem[1] if problem else None


def write_program(words, path) -> None:
    """Words -> little-endian 64-bit binary file (written atomically). Every word must decode."""
    from ._io import atomic_write_bytes

    words = [operator.index(w) for w in words]
    for word in words:
        decode(word)
    atomic_write_bytes(path, np.asarray(words, dtype="<u8").tobytes())


def read_program(path) -> list[int]:
    """Little-endian 64-bit binary file -> words (not decoded). Only a regular file is read."""
    from ._io import not_regular

    if not_regular(path):
        raise ValueError(f"cannot read program file {str(path)[:200]!r}: not a regular file")
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read program file {str(path)!r}: {err.strerror or err}") from None
    if len(data) % 8:
        raise ValueError(f"{path}: {len(data)} bytes is not a whole number of 64-bit words")
    return [int(w) for w in np.frombuffer(data, dtype="<u8")]
