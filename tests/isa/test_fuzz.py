"""Fuzzing the three readers of outside input: assemble(), decode() and load_config().

Each may only fail with its own ValueError, in one printable line. Every fuzz test runs twice:
a quick version by default and a ``slow`` one (``pytest -m slow``) with 10,000 examples.
"""

import dataclasses
import datetime
import json
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lutsim.isa.config import (
    ACC_FORMATS,
    ACT_FORMATS,
    PRESETS,
    TABLE_FORMATS,
    CoreConfig,
    config_from_dict,
    load_config,
)
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
)

FAST = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(FAST, max_examples=10_000)

LINE_BREAK = re.compile(r"\r\n|\r|\n")
ASM_MESSAGE = re.compile(r"line ([1-9][0-9]*), column ([1-9][0-9]*): \S.*")
CONFIGS = [CoreConfig(), CoreConfig(acc_regs=1, table_regs=16, weight_regs=3)] + [
    load_config(name) for name in ("m2n64k4-w1.58-fp16", "m2n64k4-w4-fp8-int8table")
]


# ---- assemble -----------------------------------------------------------------------------
def assert_assembles_or_explains(text: str, cfg: CoreConfig | None) -> None:
    try:
        words = assemble(text, cfg)
    except AsmError as err:
        message = str(err)
        assert message.isprintable(), f"{message!r} is not one printable line"
        match = ASM_MESSAGE.fullmatch(message)
        assert match, f"{message!r} does not start with 'line L, column C: '"
        lines = LINE_BREAK.split(text)
        line, column = int(match[1]), int(match[2])
        assert line <= len(lines), f"{message!r}: the text has {len(lines)} lines"
        assert column <= len(lines[line - 1]) + 1, f"{message!r}: {lines[line - 1]!r}"
    else:
        assert assemble(disassemble(words)) == words
        if cfg is not None:
            assert all(check(cfg, decode(word)) is None for word in words)


regs = st.integers(0, 15)
addrs = st.integers(0, 2**32 - 1)
instrs = st.one_of(
    st.just(Instr("nop")),
    st.builds(Instr, op=st.sampled_from(["lda", "sta"]), acc=regs, addr=addrs),
    st.builds(Instr, op=st.just("ldt"), table=regs, addr=addrs),
    st.builds(Instr, op=st.just("ldw"), weight=regs, addr=addrs),
    st.builds(Instr, op=st.just("zacc"), acc=regs),
    st.builds(
        Instr,
        op=st.just("lmma"),
        acc=regs,
        table=regs,
        weight=regs,
        m=st.integers(1, 15),
        n=st.integers(1, 511),
        k=st.integers(1, 7),
        atype=st.sampled_from(ATYPES),
        wtype=st.sampled_from(WTYPES),
        ctype=st.sampled_from(CTYPES),
        otype=st.sampled_from(OTYPES),
    ),  # fmt: skip
)
valid_programs = st.lists(instrs, min_size=1, max_size=8).map(
    lambda program: disassemble(encode(i) for i in program)
)
ASM_VOCABULARY = [
    *OPCODES, "lmma.m2n64k4.s8.u2.s32.s32", "lmma.m", "lmma.m2n64k4", ".s8", ".u2", ".s32",
    ".f16", ".t2", ".e4m3", "n64", "k4", "m0", "m16", "n512", "k8", ".",
    "a0", "a1", "a15", "a16", "t0", "t15", "w0", "w2", "w15", "w99", "a-1", "t" + "9" * 30,
    "[0x0]", "[0]", "[0xffffffff]", "[4294967295]", "[4294967296]", "[0x100000000]", "[010]",
    "[", "]", "[0x", "0x", "[ 7 ]", "[" + "9" * 60 + "]", "0" * 40 + "1", "9" * 40, "9" * 4400,
    ",", ", ", " ", "  ", "\t", "\n", "\r", "\r\n", "#", ";", "\x0b", "\x0c", "\x1c", "\x85",
    "\u2028", "\u3000", "\x00", "\ufeff", "٣", "𝟙",
]  # fmt: skip
junk_chars = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.sampled_from("".join(ASM_VOCABULARY)),
)
junk_text = st.one_of(
    st.text(junk_chars, max_size=80),
    st.lists(st.one_of(st.sampled_from(ASM_VOCABULARY), st.text(junk_chars, max_size=3)),
             max_size=30).map("".join),
)  # fmt: skip


@st.composite
def mutated(draw, base: st.SearchStrategy[str], pieces: list[str]) -> str:
    """A valid document with a few characters or tokens inserted, deleted or replaced."""
    text = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 6)))
        piece = draw(st.one_of(st.sampled_from(pieces), st.text(junk_chars, max_size=3)))
        text = text[:start] + draw(st.sampled_from(["", piece])) + text[end:]
    return text


HUGE = "9" * 4400  # int() refuses more than 4300 digits
NUMBERS = ["1", "2", "4", "7", "15", "64", "511", "0", "8", "16", "512", "007", "٢", HUGE]
OPERANDS = {
    "acc": ["a0", "a1", "a15", "a16", "a01", "a٣", "a" + HUGE, "t0"],
    "table": ["t0", "t1", "t15", "t16", "t٣", "t" + HUGE, "w0"],
    "weight": ["w0", "w2", "w15", "w99", "w𝟙", "w" + HUGE, "a0"],
    "addr": ["[0x0]", "[0]", "[0xFFFFFFFF]", "[4294967295]", "[010]", "[4294967296]",
             "[0x100000000]", "[0x" + "0" * 50 + "1]", "[" + HUGE + "]", "[٣]", "[ 7 ]", "[0x]",
             "[-1]", "7", "["],
}  # fmt: skip
SEPARATORS = [", ", ",", " ,\t", " ", ",,", ", \x0c", ",\u3000"]
LINE_ENDS = ["\n", "\r\n", "\r", " # c\n", "; c\r\n", "\x0c", "\x85", "\u2028", "\x1e"]


@st.composite
def asm_lines(draw) -> str:
    """Lines shaped like instructions, each part usually valid and sometimes not."""
    junk = st.one_of(st.sampled_from(ASM_VOCABULARY), st.text(junk_chars, max_size=4))
    text = ""
    for _ in range(draw(st.integers(1, 4))):
        opcode = draw(st.sampled_from(list(OPCODES.values())))
        mnemonic = opcode.name
        if opcode.suffix:
            fields = [draw(st.sampled_from(NUMBERS)) for _ in "mnk"]
            fields += [draw(st.sampled_from([*names, "x8", "S8", "", "٢"]))
                       for names in (ATYPES, WTYPES, CTYPES, OTYPES)]  # fmt: skip
            mnemonic = "lmma.m{}n{}k{}.{}.{}.{}.{}".format(*fields)
        mnemonic = draw(st.sampled_from([mnemonic] * 8 + [mnemonic + ".s8", "lmma"])) or "x"
        operands = [
            draw(st.one_of(st.sampled_from(OPERANDS[slot]), junk) if draw(st.integers(0, 9)) == 0
                 else st.sampled_from(OPERANDS[slot][:3]))
            for slot in opcode.operands
        ]  # fmt: skip
        if draw(st.integers(0, 9)) == 0:
            operands = draw(st.sampled_from([operands[:-1], [*operands, "a0"]]))
        separators = [draw(st.sampled_from(SEPARATORS)) for _ in operands[1:]]
        body = operands[0] if operands else ""
        body += "".join(
            sep + operand for sep, operand in zip(separators, operands[1:], strict=True)
        )
        text += draw(st.sampled_from(["", " ", "\t"])) + mnemonic + " " + body
        text += draw(st.sampled_from(LINE_ENDS))
    return text


asm_inputs = st.one_of(junk_text, asm_lines(), mutated(valid_programs, ASM_VOCABULARY))
asm_configs = st.one_of(st.none(), st.sampled_from(CONFIGS))


@FAST
@given(asm_inputs, asm_configs)
def test_assemble_fuzz(text, cfg):
    assert_assembles_or_explains(text, cfg)


@pytest.mark.slow
@SLOW
@given(asm_inputs, asm_configs)
def test_assemble_fuzz_slow(text, cfg):
    assert_assembles_or_explains(text, cfg)


@FAST
@given(valid_programs, asm_configs)
def test_assemble_valid_programs(text, cfg):
    assert disassemble(assemble(text)) == text
    assert_assembles_or_explains(text, cfg)


# ---- decode -------------------------------------------------------------------------------
def assert_decodes_or_explains(word: int) -> None:
    try:
        instr = decode(word)
    except DecodeError as err:
        message = str(err)
        assert message.isprintable(), f"{message!r} is not one printable line"
        assert message.startswith("instruction word "), message
    else:
        assert encode(instr) == word, f"{encode(instr):064b} != {word:064b} (expected)"
        assert assemble(disassemble([word])) == [word]


@st.composite
def near_valid_words(draw) -> int:
    """An opcode with random values in exactly its fields, sometimes plus one stray bit."""
    code = draw(st.integers(0, 15))
    word = code << FIELDS["op"].lsb
    opcode = next((o for o in OPCODES.values() if o.code == code), None)
    for name in opcode.fields[1:] if opcode else ():
        spec = FIELDS[name]
        word |= draw(st.integers(0, (1 << spec.width) - 1)) << spec.lsb
    if draw(st.booleans()):
        word |= 1 << draw(st.integers(0, 63))
    return word


words = st.one_of(
    st.integers(0, 2**64 - 1),
    near_valid_words(),
    st.integers(),
    st.sampled_from([-1, 2**64, -(2**64), 2**200]),
)


@FAST
@given(words)
def test_decode_fuzz(word):
    assert_decodes_or_explains(word)


@pytest.mark.slow
@SLOW
@given(words)
def test_decode_fuzz_slow(word):
    assert_decodes_or_explains(word)


# ---- load_config --------------------------------------------------------------------------
class Raw(str):
    """A value written into the TOML document verbatim."""


FIELD_NAMES = list(CoreConfig().to_dict())
FORMAT_NAMES = sorted({*ACT_FORMATS, *TABLE_FORMATS, *ACC_FORMATS, ""})
RAW_TOML = [
    "9" * 5000, "-" + "9" * 4400, "0x" + "f" * 40, "0o777", "0b101", "1_000", "+7", "-0",
    "1979-05-27T07:32:00Z", "1979-05-27 07:32:00.999999-07:00", "2020-13-01", "2020-02-30",
    "24:00:00", "nan", "-inf", "+inf", "1e400", "'''x\ny'''", '"""a\nb"""', "'lit'", '"\\u00e9"',
    '"\\ud800"', '"\\U0010ffff"', '"\\x"', "[" * 3000 + "]" * 3000, "{a = {b = {c = 1}}}",
    "[1, 'two', 3.0, [4], {five = 5}]", "", "=", "[[", "true false",
]  # fmt: skip
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8))
scalars = st.one_of(
    st.integers(),
    st.integers(-3, 300),
    st.floats(),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(FORMAT_NAMES),
    st.datetimes(timezones=st.sampled_from([None, datetime.UTC])),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
toml_values = st.recursive(
    st.one_of(scalars, st.sampled_from(RAW_TOML).map(Raw)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
BY_TYPE = {"int": st.integers(-1, 300), "bool": st.booleans(), "str": st.sampled_from(FORMAT_NAMES)}
plausible = st.fixed_dictionaries(
    {}, optional={f.name: BY_TYPE[f.type] for f in dataclasses.fields(CoreConfig)}
)


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(value) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict, sections: bool) -> str:
    """``data`` as TOML; with ``sections``, tables become ``[key]`` sections."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items()
             if not (sections and isinstance(v, dict))]  # fmt: skip
    for key, table in data.items():
        if sections and isinstance(table, dict):
            lines.append(f"[{toml_key(key)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@st.composite
def toml_files(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["dict", "plausible", "text", "bytes", "mutated"]))
    if kind == "dict":
        data = draw(st.dictionaries(keys, toml_values, max_size=8))
        text = toml_document(data, sections=draw(st.booleans()))
    elif kind == "plausible":
        text = toml_document(draw(plausible), sections=False)
    elif kind == "text":
        text = draw(st.text(max_size=200))
    elif kind == "bytes":
        return "c.toml", draw(st.binary(max_size=200))
    else:
        presets = st.sampled_from(sorted(PRESETS)).map(lambda name: load_config(name).to_toml())
        text = draw(mutated(presets, ["=", '"', "[", "]", "\n", "#", "0x", "true", "9" * 30]))
    return draw(st.sampled_from(["c.toml", "c"])), text.encode("utf-8", "surrogatepass")


YAML_TAGS = ["", "", "!!int", "!!float", "!!bool", "!!str", "!!null", "!!timestamp", "!!binary",
             "!!set", "!!omap", "!!pairs", "!!map", "!!seq", "!!merge", "!!value",
             "!!python/tuple", "!x", "!<tag:x>", "&a", "*a"]  # fmt: skip
YAML_SCALARS = ["", "x", "_", "-", "0x", "0b", "0o", "0x_", "1:", ":1", "1:2:3", "190:20:30",
                "2001-13-01", "2001-12-14t21:59:43.10-05:00", "2001-12-14 99:00:00", "[1]",
                "[1, [2]]", "{a: 1}", "{a: 1, a: 2}", "[{a: 1}]", "[[1, 2]]", "<<", "*a", HUGE,
                ".nan", "-.inf", "~", "null", "yes", "off", "'s'", '"\\q"', '"\\ud800"', "|", ">",
                "- 1", "? x", "%YAML 1.1", "---", "...", "=", "!!", "4", "int8"]  # fmt: skip


@st.composite
def yaml_lines(draw) -> str:
    """``key: value`` lines with explicit tags, anchors and odd scalars."""
    text = ""
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.one_of(st.sampled_from([*FIELD_NAMES, "<<", "? [1]"]), st.text(max_size=3)))
        indent = draw(st.sampled_from([""] * 12 + ["  ", "- ", "\t"]))
        tag, scalar = draw(st.sampled_from(YAML_TAGS)), draw(st.sampled_from(YAML_SCALARS))
        text += f"{indent}{key}: {tag} {scalar}\n"
    return text


@st.composite
def yaml_files(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["dict", "plausible", "text", "mutated", "lines", "lines"]))
    if kind == "lines":
        text = draw(yaml_lines())
    elif kind == "dict":
        data = draw(st.dictionaries(keys, values, max_size=8))
        text = yaml.safe_dump(_yaml_safe(data), allow_unicode=draw(st.booleans()))
    elif kind == "plausible":
        text = yaml.safe_dump(draw(plausible))
    elif kind == "text":
        text = draw(st.text(max_size=200))
    else:
        presets = st.sampled_from(sorted(PRESETS)).map(
            lambda name: yaml.safe_dump(load_config(name).to_dict())
        )
        text = draw(
            mutated(presets, [":", "- ", "&a", "*a", "<<", "{", "[", "\t", "\n", *YAML_TAGS])
        )
    return draw(st.sampled_from(["c.yaml", "c.yml"])), text.encode("utf-8", "surrogatepass")


def _yaml_safe(value):
    """YAML has no time-of-day type: write times as strings."""
    if isinstance(value, datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return [_yaml_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _yaml_safe(v) for k, v in value.items()}
    return value


overrides = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.builds("{}={}".format, st.sampled_from(FIELD_NAMES), st.text(max_size=8)),
        st.builds("{}={}".format, st.sampled_from(FIELD_NAMES), st.integers(-2, 300)),
    ),
    max_size=3,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def assert_loads_or_explains(workdir, name: str, content: bytes, sets: list[str]) -> None:
    path = workdir / name
    path.write_bytes(content)
    try:
        cfg = load_config(path, sets)
    except ValueError as err:
        message = str(err)
        assert type(err) is ValueError, f"{type(err).__name__} escaped: {message}"
        assert message and message.isprintable(), f"{message!r} is not one printable line"
    else:
        assert config_from_dict(cfg.to_dict()) == cfg


@FAST
@given(toml_files(), overrides)
def test_load_toml_fuzz(workdir, file, sets):
    assert_loads_or_explains(workdir, *file, sets)


@pytest.mark.slow
@SLOW
@given(toml_files(), overrides)
def test_load_toml_fuzz_slow(workdir, file, sets):
    assert_loads_or_explains(workdir, *file, sets)


@FAST
@given(yaml_files(), overrides)
def test_load_yaml_fuzz(workdir, file, sets):
    assert_loads_or_explains(workdir, *file, sets)


@pytest.mark.slow
@SLOW
@given(yaml_files(), overrides)
def test_load_yaml_fuzz_slow(workdir, file, sets):
    assert_loads_or_explains(workdir, *file, sets)


def assert_overrides_apply_or_explain(name: str | None, sets: list[str]) -> None:
    try:
        load_config(name, sets)
    except ValueError as err:
        assert type(err) is ValueError, f"{type(err).__name__} escaped: {err}"
        assert str(err).isprintable(), f"{str(err)!r} is not one printable line"


presets = st.sampled_from([None, *sorted(PRESETS)])


@FAST
@given(presets, overrides)
def test_overrides_fuzz(name, sets):
    assert_overrides_apply_or_explain(name, sets)


@pytest.mark.slow
@SLOW
@given(presets, overrides)
def test_overrides_fuzz_slow(name, sets):
    assert_overrides_apply_or_explain(name, sets)
