import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import (
    ATYPES,
    CTYPES,
    FIELDS,
    OPCODES,
    OTYPES,
    WTYPES,
    AsmError,
    DecodeError,
    Instr,
    assemble,
    check,
    decode,
    disassemble,
    encode,
    parse,
    read_program,
    write_program,
)

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# The layout, written out by hand from the diagram in the module docstring.
# fmt: off
CODES = {"nop": 0, "ldt": 1, "ldw": 2, "lda": 3, "sta": 4, "zacc": 5, "lmma": 6}
LAYOUT = {          # field: (lsb, width)
    "op":     (60, 4),
    "acc":    (56, 4),
    "table":  (52, 4),
    "weight": (48, 4),
    "m":      (44, 4),
    "n":      (35, 9),
    "k":      (32, 3),
    "atype":  (29, 3),
    "wtype":  (26, 3),
    "ctype":  (24, 2),
    "otype":  (22, 2),
    "addr":   (0, 32),
}
USES = {
    "nop":  (),
    "ldt":  ("table", "addr"),
    "ldw":  ("weight", "addr"),
    "lda":  ("acc", "addr"),
    "sta":  ("acc", "addr"),
    "zacc": ("acc",),
    "lmma": ("acc", "table", "weight", "m", "n", "k", "atype", "wtype", "ctype", "otype"),
}
TYPE_NAMES = {"atype": ATYPES, "wtype": WTYPES, "ctype": CTYPES, "otype": OTYPES}
# fmt: on
MAX_ADDR = 2**32 - 1


def word_of(instr: Instr) -> int:
    word = CODES[instr.op] << 60
    for name in USES[instr.op]:
        value = getattr(instr, name)
        if name in TYPE_NAMES:
            value = TYPE_NAMES[name].index(value)
        word |= value << LAYOUT[name][0]
    return word


def text_of(instr: Instr) -> str:
    i = instr
    return {
        "nop": "nop",
        "ldt": f"ldt t{i.table}, [{i.addr:#x}]",
        "ldw": f"ldw w{i.weight}, [{i.addr:#x}]",
        "lda": f"lda a{i.acc}, [{i.addr:#x}]",
        "sta": f"sta a{i.acc}, [{i.addr:#x}]",
        "zacc": f"zacc a{i.acc}",
        "lmma": f"lmma.m{i.m}n{i.n}k{i.k}.{i.atype}.{i.wtype}.{i.ctype}.{i.otype} "
        f"a{i.acc}, t{i.table}, w{i.weight}",
    }[i.op]


# ---- strategies: the whole field space of every opcode ------------------------------------
regs = st.integers(0, 15)
addrs = st.one_of(st.integers(0, MAX_ADDR), st.sampled_from([0, 1, MAX_ADDR - 1, MAX_ADDR]))
instrs = st.one_of(
    st.just(Instr("nop")),
    st.builds(Instr, op=st.just("ldt"), table=regs, addr=addrs),
    st.builds(Instr, op=st.just("ldw"), weight=regs, addr=addrs),
    st.builds(Instr, op=st.just("lda"), acc=regs, addr=addrs),
    st.builds(Instr, op=st.just("sta"), acc=regs, addr=addrs),
    st.builds(Instr, op=st.just("zacc"), acc=regs),
    st.builds(
        Instr,
        op=st.just("lmma"),
        acc=regs,
        table=regs,
        weight=regs,
        m=st.integers(FIELDS["m"].lo, FIELDS["m"].highest),
        n=st.integers(FIELDS["n"].lo, FIELDS["n"].highest),
        k=st.integers(FIELDS["k"].lo, FIELDS["k"].highest),
        atype=st.sampled_from(ATYPES),
        wtype=st.sampled_from(WTYPES),
        ctype=st.sampled_from(CTYPES),
        otype=st.sampled_from(OTYPES),
    ),
)
programs = st.lists(instrs, max_size=12)


# ---- the field table ----------------------------------------------------------------------
def test_field_table_is_the_documented_layout():
    assert {name: (f.lsb, f.width) for name, f in FIELDS.items()} == LAYOUT
    assert {name: o.code for name, o in OPCODES.items()} == CODES
    assert {name: set(o.fields) - {"op"} for name, o in OPCODES.items()} == {
        name: set(uses) for name, uses in USES.items()
    }


def test_fields_of_an_opcode_do_not_overlap():
    for opcode in OPCODES.values():
        used = 0
        for name in opcode.fields:
            mask = FIELDS[name].mask
            assert used & mask == 0, f"{opcode.name}: {name} overlaps"
            assert mask < 1 << 64
            used |= mask
    lmma = sum(FIELDS[name].mask for name in OPCODES["lmma"].fields)
    assert f"{lmma:064b}" == "1" * 42 + "0" * 22
    load = sum(FIELDS[name].mask for name in ("op", "acc", "table", "weight", "addr"))
    assert f"{load:064b}" == "1" * 16 + "0" * 16 + "1" * 32


def test_field_ranges():
    ranges = {name: (f.lo, f.highest) for name, f in FIELDS.items()}
    assert ranges == {
        "op": (0, 15), "acc": (0, 15), "table": (0, 15), "weight": (0, 15),
        "m": (1, 15), "n": (1, 511), "k": (1, 7),
        "atype": (0, 4), "wtype": (0, 4), "ctype": (0, 2), "otype": (0, 2),
        "addr": (0, MAX_ADDR),
    }  # fmt: skip


# ---- round trips --------------------------------------------------------------------------
@PROPERTY
@given(instrs)
def test_encode_decode_round_trip(instr):
    word = encode(instr)
    assert word == word_of(instr), f"{word:064b} != {word_of(instr):064b} (expected)"
    assert decode(word) == instr
    assert str(instr) == text_of(instr)


@PROPERTY
@given(programs)
def test_disassemble_assemble_text(program):
    text = "".join(text_of(i) + "\n" for i in program)
    words = assemble(text)
    assert words == [word_of(i) for i in program]
    assert disassemble(words) == text
    assert [instr for instr, _ in parse(text)] == program


@PROPERTY
@given(programs)
def test_assemble_disassemble_words(program):
    words = [word_of(i) for i in program]
    assert assemble(disassemble(words)) == words


@PROPERTY
@given(st.integers(0, 2**64 - 1))
def test_decode_is_the_inverse_of_encode_where_defined(word):
    try:
        instr = decode(word)
    except DecodeError:
        return
    assert encode(instr) == word


@PROPERTY
@given(programs, st.data())
def test_spacing_comments_and_number_bases_do_not_matter(program, data):
    lines = []
    for instr in program:
        text = text_of(instr)
        if "addr" in OPCODES[instr.op].operands:
            spelled = data.draw(
                st.sampled_from([f"[{instr.addr}]", f"[ {instr.addr:#X} ]".replace("0X", "0x")])
            )
            text = text.replace(f"[{instr.addr:#x}]", spelled)
        text = text.replace(", ", data.draw(st.sampled_from([",", " ,\t", ",  "])))
        indent = data.draw(st.sampled_from(["", "  ", "\t"]))
        comment = data.draw(st.sampled_from(["", "  # note", "; note", "\t#"]))
        end = data.draw(st.sampled_from(["\n", "\r\n", "\n\n", "\n  ; comment line\n"]))
        lines.append(indent + text + comment + end)
    assert assemble("".join(lines)) == [word_of(i) for i in program]


# ---- corner cases -------------------------------------------------------------------------
# fmt: off
@pytest.mark.parametrize("text, word", [
    ("nop",                                      0x0000000000000000),
    ("ldt t0, [0x0]",                            0x1000000000000000),
    ("ldt t15, [0xffffffff]",                    0x10F00000FFFFFFFF),
    ("ldw w15, [0xffffffff]",                    0x200F0000FFFFFFFF),
    ("lda a15, [0x1]",                           0x3F00000000000001),
    ("sta a15, [0x80000000]",                    0x4F00000080000000),
    ("zacc a15",                                 0x5F00000000000000),
    ("lmma.m1n1k1.s8.u1.s32.s32 a0, t0, w0",     0x6000100900000000),
    ("lmma.m15n511k7.f16.t2.f32.f32 a15, t15, w15", 0x6FFFFFFF92800000),
    ("lmma.m2n64k4.s8.u2.s32.s32 a0, t1, w1",    0x6011220404000000),
])
# fmt: on
def test_corner_words(text, word):
    assert assemble(text) == [word], f"{assemble(text)[0]:064b} != {word:064b} (expected)"
    assert disassemble([word]) == text + "\n"


def test_corner_words_by_layout():
    # lmma.m2n64k4.s8.u2.s32.s32 a0, t1, w1 from the layout, field by field
    word = 6 << 60 | 0 << 56 | 1 << 52 | 1 << 48 | 2 << 44 | 64 << 35 | 4 << 32 | 0 << 29 | 1 << 26
    assert assemble("lmma.m2n64k4.s8.u2.s32.s32 a0, t1, w1") == [word]


def test_empty_program():
    assert assemble("") == [] and assemble("\n\n  # only comments\n;\n") == []
    assert disassemble([]) == ""


def test_comments_and_blank_lines():
    text = "# header\n\n   ; another comment\nnop # trailing\n  \t \nzacc a1;x\n\nldt t0,[7]#c\n"
    assert assemble(text) == [0, 5 << 60 | 1 << 56, 1 << 60 | 7]
    assert [number for _, number in parse(text)] == [4, 6, 8]


def test_line_endings():
    assert assemble("nop\r\nzacc a1\rzacc a2\n") == [0, 0x5100000000000000, 0x5200000000000000]
    with pytest.raises(AsmError, match=r"^line 3, column 6: register a16 is out of range a0-a15$"):
        assemble("nop\r\nnop\rzacc a16\n")


def test_config_accepts_its_own_program():
    cfg = CoreConfig(acc_regs=3, table_regs=4, weight_regs=16)
    text = f"ldt t3, [0x0]\nldw w15, [0x10]\nzacc a2\n{cfg.mnemonic} a2, t3, w15\nsta a2, [0x20]\n"
    words = assemble(text, cfg)
    assert disassemble(words) == text
    assert all(check(cfg, decode(w)) is None for w in words)


# ---- assembly errors ----------------------------------------------------------------------
LMMA = "lmma.m2n64k4.s8.u2.s32.s32"

# fmt: off
ASM_ERRORS = [
    ("foo t0",                   "line 1, column 1: unknown mnemonic 'foo'"),
    ("  NOP",                    "line 1, column 3: unknown mnemonic 'NOP'"),
    ("nop\n\n ldx t0, [0]",      "line 3, column 2: unknown mnemonic 'ldx'"),
    ("ldt.s8 t0, [0]",           "line 1, column 1: ldt takes no type suffix, got 'ldt.s8'"),
    ("nop t0",                   "line 1, column 5: nop takes 0 operand(s) (none), got 1"),
    ("ldt t0",                   "line 1, column 1: ldt takes 2 operand(s) "
                                 "(table register, address), got 1"),
    ("zacc",                     "line 1, column 1: zacc takes 1 operand(s) "
                                 "(accumulator register), got 0"),
    ("zacc a0, a1",              "line 1, column 10: zacc takes 1 operand(s) "
                                 "(accumulator register), got 2"),
    (f"{LMMA} a0, t0",           "line 1, column 1: lmma takes 3 operand(s) "
                                 "(accumulator register, table register, weight register), got 2"),
    ("ldt t16, [0]",             "line 1, column 5: register t16 is out of range t0-t15"),
    ("ldw w99, [0]",             "line 1, column 5: register w99 is out of range w0-w15"),
    ("zacc a100000000000000000000", "line 1, column 6: register a100000000000000000000 is out of "
                                 "range a0-a15"),
    ("lda t0, [0]",              "line 1, column 5: expected a accumulator register a0-a15, "
                                 "got 't0'"),
    ("ldt w0, [0]",              "line 1, column 5: expected a table register t0-t15, got 'w0'"),
    ("ldt t-1, [0]",             "line 1, column 5: expected a table register t0-t15, got 't-1'"),
    (f"{LMMA} a0, t0, t0",       "line 1, column 36: expected a weight register w0-w15, "
                                 "got 't0'"),
    ("ldt t0, 0x10",             "line 1, column 9: expected an address like [0x100] or [256], "
                                 "got '0x10'"),
    ("ldt t0, [-1]",             "line 1, column 9: expected an address like [0x100] or [256], "
                                 "got '[-1]'"),
    ("ldt t0, [010]",            "line 1, column 9: expected an address like [0x100] or [256], "
                                 "got '[010]'"),
    ("ldt t0, [0X10]",           "line 1, column 9: expected an address like [0x100] or [256], "
                                 "got '[0X10]'"),
    ("ldt t0, [0x]",             "line 1, column 9: expected an address like [0x100] or [256], "
                                 "got '[0x]'"),
    ("ldt t0, [0x100000000]",    "line 1, column 9: address 0x100000000 is out of range "
                                 "0 to 0xffffffff"),
    ("ldt t0, [4294967296]",     "line 1, column 9: address 4294967296 is out of range "
                                 "0 to 0xffffffff"),
    ("ldt t0, [" + "9" * 5000 + "]", "line 1, column 9: address " + "9" * 5000
                                 + " is out of range 0 to 0xffffffff"),
    ("ldt t0 [0]",               "line 1, column 8: expected ',' between operands, got '[0]'"),
    ("ldt t0,, [0]",             "line 1, column 8: missing operand before ','"),
    ("ldt , t0, [0]",            "line 1, column 5: missing operand before ','"),
    ("ldt t0,",                  "line 1, column 7: missing operand after ','"),
    ("ldt t0, [0",               "line 1, column 9: '[' is never closed"),
    ("lmma a0, t0, w0",          "line 1, column 1: malformed mnemonic 'lmma': "
                                 "expected lmma.m<M>n<N>k<K>.<atype>.<wtype>.<acctype>.<otype>"),
    ("lmma.m2n64.s8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 1: malformed mnemonic 'lmma.m2n64.s8.u2.s32.s32': "
                                 "expected lmma.m<M>n<N>k<K>.<atype>.<wtype>.<acctype>.<otype>"),
    ("lmma.m2n64k4.s8.u2.s32 a0, t0, w0",
                                 "line 1, column 1: malformed mnemonic 'lmma.m2n64k4.s8.u2.s32': "
                                 "expected lmma.m<M>n<N>k<K>.<atype>.<wtype>.<acctype>.<otype>"),
    ("lmma.m2n64k4.S8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 1: malformed mnemonic "
                                 "'lmma.m2n64k4.S8.u2.s32.s32': "
                                 "expected lmma.m<M>n<N>k<K>.<atype>.<wtype>.<acctype>.<otype>"),
    ("lmma.m0n64k4.s8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 7: field m = 0 is out of range 1 to 15"),
    ("lmma.m16n64k4.s8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 7: field m = 16 is out of range 1 to 15"),
    ("lmma.m2n512k4.s8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 9: field n = 512 is out of range 1 to 511"),
    ("lmma.m2n0k4.s8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 9: field n = 0 is out of range 1 to 511"),
    ("lmma.m2n64k8.s8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 12: field k = 8 is out of range 1 to 7"),
    ("lmma.m2n64k0.s8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 12: field k = 0 is out of range 1 to 7"),
    ("lmma.m2n64k" + "9" * 5000 + ".s8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 12: field k = " + "9" * 5000
                                 + " is out of range 1 to 7"),
    ("lmma.m2n64k4.i8.u2.s32.s32 a0, t0, w0",
                                 "line 1, column 14: unknown activation type 'i8'; "
                                 "choose from s8, s16, e4m3, e5m2, f16"),
    ("lmma.m2n64k4.s8.u5.s32.s32 a0, t0, w0",
                                 "line 1, column 17: unknown weight type 'u5'; "
                                 "choose from u1, u2, u3, u4, t2"),
    ("lmma.m2n64k4.s8.u2.s16.s32 a0, t0, w0",
                                 "line 1, column 20: unknown accumulator type 's16'; "
                                 "choose from s32, f16, f32"),
    ("lmma.m2n64k4.s8.u2.s32.bf16 a0, t0, w0",
                                 "line 1, column 24: unknown stored output type 'bf16'; "
                                 "choose from s32, f16, f32"),
    ("\tzacc a0\n  zacc a1 a2",  "line 2, column 11: expected ',' between operands, got 'a2'"),
]
# fmt: on


@pytest.mark.parametrize("text, message", ASM_ERRORS)
def test_assembly_errors(text, message):
    with pytest.raises(AsmError, match=f"^{re.escape(message)}$"):
        assemble(text)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse(text)


CFG = CoreConfig()  # lmma.m2n64k4.s8.u2.s32.s32, 2 registers of each kind


# fmt: off
@pytest.mark.parametrize("text, message", [
    ("lmma.m2n64k4.s8.u3.s32.s32 a0, t0, w0",
     "line 1, column 1: lmma.m2n64k4.s8.u3.s32.s32 does not match this core's "
     "lmma.m2n64k4.s8.u2.s32.s32"),
    ("nop\n  lmma.m4n64k4.s8.u2.s32.s32 a0, t0, w0",
     "line 2, column 3: lmma.m4n64k4.s8.u2.s32.s32 does not match this core's "
     "lmma.m2n64k4.s8.u2.s32.s32"),
    ("lmma.m2n64k4.f16.u2.f32.f32 a0, t0, w0",
     "line 1, column 1: lmma.m2n64k4.f16.u2.f32.f32 does not match this core's "
     "lmma.m2n64k4.s8.u2.s32.s32"),
    ("lmma.m2n64k4.s8.u2.s32.f32 a0, t0, w0",
     "line 1, column 1: lmma.m2n64k4.s8.u2.s32.f32 does not match this core's "
     "lmma.m2n64k4.s8.u2.s32.s32"),
    ("zacc a2",
     "line 1, column 6: register a2 is beyond this core's 2 accumulator registers (a0-a1)"),
    ("ldt t15, [0]",
     "line 1, column 5: register t15 is beyond this core's 2 table registers (t0-t1)"),
    ("nop\nldw w2, [0]",
     "line 2, column 5: register w2 is beyond this core's 2 weight registers (w0-w1)"),
    ("sta a3, [0]",
     "line 1, column 5: register a3 is beyond this core's 2 accumulator registers (a0-a1)"),
    ("lmma.m2n64k4.s8.u2.s32.s32 a1, t1, w2",
     "line 1, column 36: register w2 is beyond this core's 2 weight registers (w0-w1)"),
])
# fmt: on
def test_assembly_errors_against_a_config(text, message):
    assert assemble(text)  # valid without a core
    with pytest.raises(AsmError, match=f"^{re.escape(message)}$"):
        assemble(text, CFG)
    instr, _ = parse(text)[-1]
    assert check(CFG, instr) == message.split(": ", 1)[1]


def test_one_register_core():
    cfg = CoreConfig(acc_regs=1)
    with pytest.raises(AsmError, match=r"^line 1, column 6: register a1 is beyond this core's "
                       r"1 accumulator registers \(a0-a0\)$"):  # fmt: skip
        assemble("zacc a1", cfg)


# ---- decode errors ------------------------------------------------------------------------
# fmt: off
@pytest.mark.parametrize("word, message", [
    (0x7000000000000000, "instruction word 0x7000000000000000: opcode 7 is not assigned"),
    (0xF123456789ABCDEF, "instruction word 0xf123456789abcdef: opcode 15 is not assigned"),
    (0x0000000000000001, "instruction word 0x0000000000000001: "
                         "reserved bits 0x0000000000000001 are set"),
    (0x0800000000000000, "instruction word 0x0800000000000000: "
                         "reserved bits 0x0800000000000000 are set"),
    (0x1300000000000000, "instruction word 0x1300000000000000: "   # ldt has no accumulator
                         "reserved bits 0x0300000000000000 are set"),
    (0x2010000100000000, "instruction word 0x2010000100000000: "   # ldw: table and bit 32
                         "reserved bits 0x0010000100000000 are set"),
    (0x5000000000000010, "instruction word 0x5000000000000010: "
                         "reserved bits 0x0000000000000010 are set"),
    (0x6000100900000001, "instruction word 0x6000100900000001: "
                         "reserved bits 0x0000000000000001 are set"),
    (0x6000000800000000, "instruction word 0x6000000800000000: field m = 0 is out of range 1 to 15"),
    (0x6000100000000000, "instruction word 0x6000100000000000: "
                         "field n = 0 is out of range 1 to 511"),
    (0x6000100800000000 & ~(7 << 32),
                         "instruction word 0x6000100800000000: field k = 0 is out of range 1 to 7"),
    (0x6000100900000000 | 5 << 29,
                         "instruction word 0x60001009a0000000: "
                         "field atype = 5 is out of range 0 to 4"),
    (0x6000100900000000 | 7 << 26,
                         "instruction word 0x600010091c000000: "
                         "field wtype = 7 is out of range 0 to 4"),
    (0x6000100900000000 | 3 << 24,
                         "instruction word 0x6000100903000000: "
                         "field ctype = 3 is out of range 0 to 2"),
    (0x6000100900000000 | 3 << 22,
                         "instruction word 0x6000100900c00000: "
                         "field otype = 3 is out of range 0 to 2"),
    (-1,                 "instruction word -0x1 does not fit in 64 bits"),
    (2**64,              "instruction word 0x10000000000000000 does not fit in 64 bits"),
])
# fmt: on
def test_decode_errors(word, message):
    with pytest.raises(DecodeError, match=f"^{re.escape(message)}$"):
        decode(word)
    with pytest.raises(DecodeError, match=f"^{re.escape(message)}$"):
        disassemble([0, word])


def test_decode_accepts_numpy_words():
    import numpy as np

    words = np.array([0, 0x5100000000000000], dtype=np.uint64)
    assert disassemble(words) == "nop\nzacc a1\n"


# ---- encode errors ------------------------------------------------------------------------
# fmt: off
@pytest.mark.parametrize("instr, message", [
    (Instr("jmp"),                          "unknown mnemonic 'jmp'"),
    (Instr("zacc", acc=16),                 "field acc = 16 is out of range 0 to 15"),
    (Instr("ldt", table=-1),                "field table = -1 is out of range 0 to 15"),
    (Instr("ldt", addr=2**32),              "field addr = 4294967296 is out of range 0 to 4294967295"),
    (Instr("ldt", addr=2**70),              "field addr = a 71-bit integer is out of range "
                                            "0 to 4294967295"),
    (Instr("ldt", addr=1.0),                "field addr = 1.0 is not an integer"),
    (Instr("zacc", acc=1, addr=5),          "zacc does not use field addr; it must be 0, not 5"),
    (Instr("nop", atype="s8"),              "nop does not use field atype; it must be '', not 's8'"),
    (Instr("ldt", acc=1),                   "ldt does not use field acc; it must be 0, not 1"),
    (Instr("lmma", m=2, n=64, k=4, atype="s8", wtype="u2", ctype="s32", otype="s32", addr=1),
                                            "lmma does not use field addr; it must be 0, not 1"),
    (Instr("lmma", m=2, n=64, k=4, atype="i8", wtype="u2", ctype="s32", otype="s32"),
                                            "field atype = 'i8' is not one of s8, s16, e4m3, e5m2, f16"),
    (Instr("lmma", m=0, n=64, k=4, atype="s8", wtype="u2", ctype="s32", otype="s32"),
                                            "field m = 0 is out of range 1 to 15"),
])
# fmt: on
def test_encode_errors(instr, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        encode(instr)


# ---- program files ------------------------------------------------------------------------
@PROPERTY
@given(programs)
def test_program_file_round_trip(tmp_path, program):
    words = [word_of(i) for i in program]
    path = tmp_path / "prog.bin"
    write_program(words, path)
    assert path.stat().st_size == 8 * len(words)
    assert read_program(path) == words
    assert read_program(str(path)) == words


def test_program_file_is_little_endian(tmp_path):
    write_program([0x5100000000000000, 0x1000000000000007], tmp_path / "p.bin")
    assert (tmp_path / "p.bin").read_bytes() == bytes.fromhex("0000000000000051 0700000000000010")


def test_truncated_program_file(tmp_path):
    path = tmp_path / "prog.bin"
    path.write_bytes(bytes(12))
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: 12 bytes is not a whole "
                       "number of 64-bit words$"):  # fmt: skip
        read_program(path)


def test_missing_program_file(tmp_path):
    path = tmp_path / "missing.bin"
    with pytest.raises(ValueError, match=f"^cannot read program file {re.escape(repr(str(path)))}: "
                       "No such file or directory$"):  # fmt: skip
        read_program(path)


def test_write_program_refuses_non_instructions(tmp_path):
    path = tmp_path / "prog.bin"
    for word, message in [
        (0x7000000000000000, "instruction word 0x7000000000000000: opcode 7 is not assigned"),
        (-1, "instruction word -0x1 does not fit in 64 bits"),
    ]:
        with pytest.raises(DecodeError, match=f"^{re.escape(message)}$"):
            write_program([0, word], path)
        assert not path.exists()
