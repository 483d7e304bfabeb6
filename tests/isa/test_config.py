import dataclasses
import math
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lutsim.isa.config import (
    ACC_FORMATS,
    ACT_FORMATS,
    DEFAULT_PRESET,
    PRESETS,
    TABLE_FORMATS,
    CoreConfig,
    config_from_dict,
    load_config,
    parse_override,
)
from lutsim.isa.formats import FORMATS

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# fmt: off
RANGES = {
    "m":           (1, 8),
    "n":           (1, 256),
    "k":           (2, 6),
    "weight_bits": (1, 4),
    "table_regs":  (1, 16),
    "weight_regs": (1, 16),
    "acc_regs":    (1, 16),
    "bus_words":   (1, 64),
}
# fmt: on
INT_ACT_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}


def signed_width(lo: int, hi: int) -> int:
    """Fewest two's-complement bits that hold every integer in lo..hi."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def error(message: str):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


# ---- defaults and derived facts -----------------------------------------------------------
def test_defaults():
    cfg = CoreConfig()
    assert cfg.to_dict() == {
        "m": 2, "n": 64, "k": 4, "weight_bits": 2, "ternary": False, "act_format": "int8",
        "table_format": "int", "acc_format": "int32", "out_format": "int32", "symmetrize": True,
        "table_regs": 2, "weight_regs": 2, "acc_regs": 2, "bus_words": 8,
    }  # fmt: skip
    assert load_config() == cfg
    assert load_config(DEFAULT_PRESET) == cfg
    assert cfg.exact and cfg.int_path and not cfg.table_quantized
    assert (
        cfg.act is FORMATS["int8"] and cfg.acc is FORMATS["int32"] and cfg.out is FORMATS["int32"]
    )


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CoreConfig().m = 4  # type: ignore[misc]


@pytest.mark.parametrize("k", range(2, 7))
@pytest.mark.parametrize("symmetrize", [True, False])
def test_table_entries(k, symmetrize):
    cfg = CoreConfig(k=k, symmetrize=symmetrize)
    expected = 2 ** (k - 1) if symmetrize else 2**k
    assert cfg.table_entries == expected
    assert cfg.index_mask == expected - 1
    assert cfg.table_fragment_words == cfg.m * expected


# Entry widths worked out by hand. With symmetrization an entry is a sum of +-a over K
# activations and its negation is also read, so it spans [-K*128, K*128] for int8
# ([-K*32768, K*32768] for int16). Without it, an entry is a sum of a subset of activations,
# so it spans [K*-128, K*127].
# fmt: off
@pytest.mark.parametrize("act, k, symmetrize, bits", [
    ("int8",  2, True,  10),   # [-256, 256]: 256 > 2^8 - 1
    ("int8",  3, True,  10),   # [-384, 384]
    ("int8",  4, True,  11),   # [-512, 512]: 512 > 2^9 - 1
    ("int8",  6, True,  11),   # [-768, 768]
    ("int8",  2, False, 9),    # [-256, 254]: -256 = -2^8
    ("int8",  4, False, 10),   # [-512, 508]: -512 = -2^9
    ("int8",  5, False, 11),   # [-640, 635]
    ("int16", 2, True,  18),   # [-65536, 65536]: 65536 = 2^16 needs 18 signed bits
    ("int16", 4, True,  19),   # [-131072, 131072]
    ("int16", 3, True,  18),   # [-98304, 98304]
    ("int16", 2, False, 17),   # [-65536, 65534]
    ("int16", 4, False, 18),   # [-131072, 131068]
    ("int16", 6, False, 19),   # [-196608, 196602]
])
# fmt: on
def test_table_entry_bits_by_hand(act, k, symmetrize, bits):
    cfg = CoreConfig(act_format=act, k=k, symmetrize=symmetrize)
    assert cfg.table_entry_bits == bits, f"{cfg.table_entry_bits} != {bits} (expected)"
    assert cfg.table.kind == "int" and cfg.table.bits == bits


@pytest.mark.parametrize("act", ["int8", "int16"])
@pytest.mark.parametrize("k", range(2, 7))
@pytest.mark.parametrize("symmetrize", [True, False])
def test_table_entry_bits_is_the_fewest_that_hold_every_sum(act, k, symmetrize):
    lo, hi = INT_ACT_RANGE[act]
    if symmetrize:
        biggest = k * max(-lo, hi)  # +-a per activation, then negated
        sums = (-biggest, biggest)
    else:
        sums = (k * lo, k * hi)
    cfg = CoreConfig(act_format=act, k=k, symmetrize=symmetrize)
    assert cfg.table_entry_bits == signed_width(*sums)


def test_table_entry_bits_of_stored_formats():
    assert CoreConfig(act_format="fp16", table_format="int8").table_entry_bits == 8
    assert CoreConfig(act_format="int16", table_format="int8").table_entry_bits == 8
    assert CoreConfig(act_format="fp16").table_entry_bits == 16
    assert CoreConfig(act_format="fp16", table_format="fp32").table_entry_bits == 32
    assert CoreConfig(act_format="fp8_e5m2", table_format="fp8_e4m3").table_entry_bits == 8
    assert CoreConfig(act_format="fp16", table_format="int8").table is FORMATS["int8"]


# fmt: off
@pytest.mark.parametrize("changes, mnemonic", [
    ({},                                                   "lmma.m2n64k4.s8.u2.s32.s32"),
    ({"m": 8, "n": 256, "k": 6, "weight_bits": 4},         "lmma.m8n256k6.s8.u4.s32.s32"),
    ({"act_format": "int16", "weight_bits": 1},            "lmma.m2n64k4.s16.u1.s32.s32"),
    ({"ternary": True},                                    "lmma.m2n64k4.s8.t2.s32.s32"),
    ({"weight_bits": 3},                                   "lmma.m2n64k4.s8.u3.s32.s32"),
    ({"act_format": "fp16"},                               "lmma.m2n64k4.f16.u2.f32.f32"),
    ({"act_format": "fp16", "acc_format": "fp16"},         "lmma.m2n64k4.f16.u2.f16.f16"),
    ({"act_format": "fp16", "out_format": "fp16"},         "lmma.m2n64k4.f16.u2.f32.f16"),
    ({"act_format": "fp8_e4m3", "table_format": "int8"},   "lmma.m2n64k4.e4m3.u2.s32.s32"),
    ({"act_format": "fp8_e5m2", "table_format": "fp8_e5m2",
      "acc_format": "fp16"},                               "lmma.m2n64k4.e5m2.u2.f16.f16"),
])
# fmt: on
def test_mnemonic(changes, mnemonic):
    assert CoreConfig(**changes).mnemonic == mnemonic


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_weight_codes(bits):
    cfg = CoreConfig(weight_bits=bits)
    assert (cfg.code_max, cfg.weight_type) == (2**bits - 1, f"u{bits}")
    ternary = CoreConfig(ternary=True)
    assert (ternary.code_max, ternary.weight_type) == (2, "t2")


def test_fragment_words_and_latency_default():
    cfg = CoreConfig()
    assert cfg.table_fragment_words == 2 * 8  # M tables x 2^(4-1) entries
    assert cfg.weight_fragment_words == 2 * 64 * 4 // 32  # B x N x K bits
    assert cfg.acc_fragment_words == 2 * 64
    assert cfg.lookups_per_lmma == 2 * 64 * 2
    assert cfg.latency_cycles == {
        "nop": 1, "ldt": 2, "ldw": 2, "lda": 16, "sta": 16, "zacc": 1, "lmma": 2,
    }  # fmt: skip


def test_fragment_words_and_latency_round_up():
    cfg = CoreConfig(m=3, n=100, k=5, weight_bits=3, bus_words=7)
    assert cfg.table_fragment_words == 48  # 3 x 16
    assert cfg.weight_fragment_words == 47  # 3 x 100 x 5 = 1500 bits -> 46.875 words
    assert cfg.acc_fragment_words == 300
    assert cfg.latency_cycles == {
        "nop": 1, "ldt": 7, "ldw": 7, "lda": 43, "sta": 43, "zacc": 1, "lmma": 3,
    }  # fmt: skip
    nosym = CoreConfig(symmetrize=False, bus_words=1)
    assert nosym.latency_cycles["ldt"] == 2 * 16


@PROPERTY
@given(
    m=st.integers(1, 8), n=st.integers(1, 256), k=st.integers(2, 6), bits=st.integers(1, 4),
    bus=st.integers(1, 64), symmetrize=st.booleans(),
)  # fmt: skip
def test_latency_is_words_over_bus(m, n, k, bits, bus, symmetrize):
    cfg = CoreConfig(m=m, n=n, k=k, weight_bits=bits, bus_words=bus, symmetrize=symmetrize)
    entries = 2 ** (k - 1) if symmetrize else 2**k
    weight_words = -(-bits * n * k // 32)
    got = cfg.latency_cycles
    assert got["ldt"] == math.ceil(m * entries / bus)
    assert got["ldw"] == math.ceil(weight_words / bus)
    assert got["lda"] == got["sta"] == math.ceil(m * n / bus)
    assert (got["nop"], got["zacc"], got["lmma"]) == (1, 1, bits)


# ---- derived formats ------------------------------------------------------------------------
# fmt: off
@pytest.mark.parametrize("changes, table, acc, out", [
    ({"act_format": "int8"},                          "int",  "int32", "int32"),
    ({"act_format": "int16"},                         "int",  "int32", "int32"),
    ({"act_format": "int8", "table_format": "int8"},  "int8", "int32", "int32"),
    ({"act_format": "fp16"},                          "fp16", "fp32",  "fp32"),
    ({"act_format": "fp8_e4m3"},                      "fp16", "fp32",  "fp32"),
    ({"act_format": "fp8_e5m2"},                      "fp16", "fp32",  "fp32"),
    ({"act_format": "fp16", "table_format": "int8"},  "int8", "int32", "int32"),
    ({"act_format": "fp16", "table_format": "fp32"},  "fp32", "fp32",  "fp32"),
    ({"act_format": "fp16", "acc_format": "fp16"},    "fp16", "fp16",  "fp16"),
    ({"act_format": "fp16", "out_format": "fp16"},    "fp16", "fp32",  "fp16"),
])
# fmt: on
def test_derived_formats(changes, table, acc, out):
    cfg = CoreConfig(**changes)
    assert (cfg.table_format, cfg.acc_format, cfg.out_format) == (table, acc, out)
    assert cfg.exact == (table == "int")
    assert cfg.table_quantized == (table == "int8")
    assert cfg.int_path == (acc == "int32")


def test_weight_bits_3_int16_override_stays_exact():
    cfg = load_config(None, ["weight_bits=3", "act_format=int16"])
    assert (cfg.table_format, cfg.acc_format, cfg.out_format) == ("int", "int32", "int32")
    assert cfg.exact and cfg.int_path
    assert cfg.table_entry_bits == 19
    assert cfg.mnemonic == "lmma.m2n64k4.s16.u3.s32.s32"


@pytest.mark.parametrize(
    "name", [name for name, p in PRESETS.items() if p.get("act_format", "int8") == "int8"]
)
def test_int16_override_on_integer_presets_stays_exact(name):
    cfg = load_config(name, ["act_format=int16"])
    assert (cfg.table_format, cfg.acc_format) == ("int", "int32")


# ---- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(RANGES))
def test_ranges(name):
    lo, hi = RANGES[name]
    for ok in (lo, hi):
        assert getattr(CoreConfig(**{name: ok}), name) == ok
    for bad in (lo - 1, hi + 1, -(2**40)):
        with error(f"{name} must be {lo} to {hi}, not {bad}"):
            CoreConfig(**{name: bad})


def test_huge_value_reported_by_size():
    huge = 10**5000  # repr() refuses ints of more than 4300 digits
    with error(f"m must be 1 to 8, not a {huge.bit_length()}-bit integer"):
        CoreConfig(m=huge)


# fmt: off
@pytest.mark.parametrize("changes, message", [
    ({"m": "2"},            "config key 'm' must be an integer, not '2'"),
    ({"m": 2.0},            "config key 'm' must be an integer, not 2.0"),
    ({"m": True},           "config key 'm' must be an integer, not True"),
    ({"n": None},           "config key 'n' must be an integer, not None"),
    ({"bus_words": [8]},    "config key 'bus_words' must be an integer, not [8]"),
    ({"ternary": 1},        "config key 'ternary' must be true or false, not 1"),
    ({"symmetrize": "yes"}, "config key 'symmetrize' must be true or false, not 'yes'"),
    ({"act_format": 8},     "config key 'act_format' must be a string, not 8"),
    ({"table_format": None}, "config key 'table_format' must be a string, not None"),
    ({"m": [[[[1]]], 2, 3, 4, 5, 6]},
                            "config key 'm' must be an integer, not [[[...]], 2, 3, 4, ...]"),
])
# fmt: on
def test_types(changes, message):
    with error(message):
        CoreConfig(**changes)


# fmt: off
@pytest.mark.parametrize("changes, message", [
    ({"act_format": "int4"},
     "act_format must be one of int8, int16, fp8_e4m3, fp8_e5m2, fp16, not 'int4'"),
    ({"act_format": "x" * 100},
     "act_format must be one of int8, int16, fp8_e4m3, fp8_e5m2, fp16, "
     f"not '{'x' * 17}...{'x' * 18}'"),
    ({"table_format": "int4"},
     "table_format must be one of int, int8, fp8_e4m3, fp8_e5m2, fp16, fp32, not 'int4'"),
    ({"acc_format": "int16"},
     "acc_format must be one of int32, fp16, fp32, not 'int16'"),
    ({"out_format": "bf16"},
     "out_format must be one of int32, fp16, fp32, not 'bf16'"),
    ({"ternary": True, "weight_bits": 3},
     "ternary weights need weight_bits = 2, not 3"),
    ({"ternary": True, "weight_bits": 1},
     "ternary weights need weight_bits = 2, not 1"),
    ({"table_format": "fp16"},
     "integer activations need table_format int or int8, not 'fp16'"),
    ({"act_format": "int16", "table_format": "fp8_e4m3"},
     "integer activations need table_format int or int8, not 'fp8_e4m3'"),
    ({"act_format": "fp16", "table_format": "int"},
     "table_format 'int' needs integer activations, not fp16"),
    ({"acc_format": "fp32"},
     "table_format 'int' cannot accumulate in fp32: "
     "integer tables accumulate in int32, float tables in fp16 or fp32"),
    ({"act_format": "fp16", "table_format": "int8", "acc_format": "fp16"},
     "table_format 'int8' cannot accumulate in fp16: "
     "integer tables accumulate in int32, float tables in fp16 or fp32"),
    ({"act_format": "fp16", "acc_format": "int32"},
     "table_format 'fp16' cannot accumulate in int32: "
     "integer tables accumulate in int32, float tables in fp16 or fp32"),
    ({"act_format": "fp16", "table_format": "fp32", "acc_format": "fp16"},
     "table_format fp32 does not fit the fp16 accumulator"),
    ({"out_format": "fp32"},
     "out_format fp32 cannot store an int32 accumulator"),
    ({"act_format": "fp16", "out_format": "int32"},
     "out_format int32 cannot store an fp32 accumulator"),
    ({"act_format": "fp16", "acc_format": "fp16", "out_format": "int32"},
     "out_format int32 cannot store an fp16 accumulator"),
])
# fmt: on
def test_rules(changes, message):
    with error(message):
        CoreConfig(**changes)


def test_every_format_combination_is_accepted_or_explained():
    accepted = 0
    for act in ACT_FORMATS:
        for table in ("", *TABLE_FORMATS):
            for acc in ("", *ACC_FORMATS):
                for out in ("", *ACC_FORMATS):
                    try:
                        CoreConfig(act_format=act, table_format=table, acc_format=acc,
                                   out_format=out)  # fmt: skip
                    except ValueError as err:
                        assert "\n" not in str(err)
                    else:
                        accepted += 1
    assert accepted > 0


# ---- presets --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_constructs(name):
    cfg = load_config(name)
    assert (cfg.m, cfg.n, cfg.k) == (2, 64, 4)
    weights = name.split("-")[1] if "-" in name else "w2"
    assert cfg.weight_type == {"w1": "u1", "w2": "u2", "w4": "u4", "w1.58": "t2"}[weights]
    if "fp16" in name.split("-")[2:3]:
        assert cfg.act_format == "fp16"
    if "int8table" in name:
        assert (cfg.table_format, cfg.acc_format) == ("int8", "int32")
    assert cfg.symmetrize == (not name.endswith("nosym"))
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_survives_toml(name, tmp_path):
    cfg = load_config(name)
    path = tmp_path / "core.toml"
    path.write_text(cfg.to_toml())
    assert load_config(path) == cfg
    assert load_config(str(path)) == cfg


def test_unknown_preset():
    with error("unknown config 'm2n64k4-w3': not a preset name or a TOML/YAML file"):
        load_config("m2n64k4-w3")


# ---- files ----------------------------------------------------------------------------------
def test_load_toml(tmp_path):
    path = tmp_path / "core.toml"
    path.write_text('m = 4\nn = 128\nweight_bits = 4\nact_format = "int16"\nsymmetrize = false\n')
    cfg = load_config(path)
    assert cfg == CoreConfig(m=4, n=128, weight_bits=4, act_format="int16", symmetrize=False)


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_load_yaml(tmp_path, suffix):
    path = tmp_path / f"core{suffix}"
    path.write_text("m: 4\nternary: true\nact_format: fp16\nacc_format: fp16\n")
    cfg = load_config(path)
    assert cfg == CoreConfig(m=4, ternary=True, act_format="fp16", acc_format="fp16")


def test_load_empty_files(tmp_path):
    (tmp_path / "a.toml").write_text("")
    (tmp_path / "b.yaml").write_text("# nothing\n")
    assert load_config(tmp_path / "a.toml") == CoreConfig()
    assert load_config(tmp_path / "b.yaml") == CoreConfig()


def test_file_without_suffix_is_toml(tmp_path):
    path = tmp_path / "core"
    path.write_text("k = 3\n")
    assert load_config(path).k == 3


def test_file_then_overrides(tmp_path):
    path = tmp_path / "core.toml"
    path.write_text("m = 4\nweight_bits = 4\n")
    assert load_config(path, ["m=8", "bus_words=0x10"]) == CoreConfig(m=8, weight_bits=4,
                                                                      bus_words=16)  # fmt: skip


# fmt: off
@pytest.mark.parametrize("name, text, message", [
    ("c.toml", "mm = 2\n",              "unknown config key 'mm' in c.toml"),
    ("c.toml", "m = 2\n[core]\nk = 3\n", "unknown config key 'core' in c.toml"),
    ("c.yaml", "M: 2\n",                "unknown config key 'M' in c.yaml"),
    ("c.yaml", "1: 2\n",                "unknown config key 1 in c.yaml"),
    ("c.yaml", "- m\n",                 "c.yaml must be a table of keys, not list"),
    ("c.yaml", "m2n64k4\n",             "c.yaml must be a table of keys, not str"),
    ("c.toml", 'm = "2"\n',             "config key 'm' must be an integer, not '2'"),
    ("c.toml", "m = 2.5\n",             "config key 'm' must be an integer, not 2.5"),
    ("c.toml", "ternary = 1\n",         "config key 'ternary' must be true or false, not 1"),
    ("c.toml", "m = [2]\n",             "config key 'm' must be an integer, not [2]"),
    ("c.toml", "m = {a = 1}\n",         "config key 'm' must be an integer, not {'a': 1}"),
    ("c.toml", "m = 9\n",               "m must be 1 to 8, not 9"),
    ("c.yaml", "m: null\n",             "config key 'm' must be an integer, not None"),
    ("c.yaml", "ternary: yes\nweight_bits: 4\n", "ternary weights need weight_bits = 2, not 4"),
    ("c.toml", "m 2\n",
     "c.toml: invalid TOML: Expected '=' after a key in a key/value pair (at line 1, column 3)"),
    ("c.toml", "m = 2\nm = 3\n",
     "c.toml: invalid TOML: Cannot overwrite a value (at line 2, column 6)"),
    ("c.toml", "m = " + "[" * 1500 + "]" * 1500 + "\n",
     "c.toml: invalid TOML: nesting is too deep"),
    ("c.toml", "m = " + "9" * 5000 + "\n",
     "c.toml: invalid TOML: an integer has too many digits"),
    ("c.yaml", "m: [1,\n",
     "c.yaml: invalid YAML: expected the node content, but found '<stream end>' "
     "(at line 2, column 1)"),
    ("c.yaml", "m: 1\n\tk: 2\n",
     "c.yaml: invalid YAML: found character '\\t' that cannot start any token "
     "(at line 2, column 1)"),
    ("c.yaml", "m: 1\nm: 2\n",
     "c.yaml: invalid YAML: duplicate key 'm' (at line 2, column 1)"),
    ("c.yaml", "m: 1\nk: \x07\n",
     "c.yaml: invalid YAML: character #x0007 is not allowed (at line 2, column 4)"),
    ("c.yaml", "m: 2001-13-01\n",
     "c.yaml: invalid YAML: cannot read '2001-13-01' as !!timestamp: month must be in 1..12 "
     "(at line 1, column 4)"),
    ("c.yaml", "m: !!int x\n",
     "c.yaml: invalid YAML: cannot read 'x' as !!int: invalid literal for int() with base 10: 'x' "
     "(at line 1, column 4)"),
    ("c.yaml", "m: !!bool\n",
     "c.yaml: invalid YAML: cannot read '' as !!bool (at line 1, column 4)"),
    ("c.yaml", "k: 4\nm: !!float _\n",
     "c.yaml: invalid YAML: cannot read '_' as !!float (at line 2, column 4)"),
    ("c.yaml", "m: !!timestamp x\n",
     "c.yaml: invalid YAML: cannot read 'x' as !!timestamp (at line 1, column 4)"),
    ("c.yaml", "m: !!set [1]\n",
     "c.yaml: invalid YAML: expected a mapping node, but found sequence (at line 1, column 4)"),
    ("c.yaml", "m: " + "[" * 1500 + "]" * 1500 + "\n",
     "c.yaml: invalid YAML: nesting is too deep"),
])
# fmt: on
def test_bad_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with error(message):
        load_config(path)


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("<<: {m: 4, k: 3}\nm: 8\n")
    assert (load_config(path).m, load_config(path).k) == (8, 3)


def test_unreadable_files(tmp_path):
    missing = tmp_path / "missing.toml"
    with error(f"cannot read config file {str(missing)!r}: No such file or directory"):
        load_config(missing)
    with error(f"cannot read config file {str(tmp_path / 'd.toml')!r}: Is a directory"):
        (tmp_path / "d.toml").mkdir()
        load_config(tmp_path / "d.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'act_format = "\xe9"\n')
    with error(f"cannot read config file {str(latin)!r}: not UTF-8 (invalid continuation byte "
               "at byte 14)"):  # fmt: skip
        load_config(latin)


# ---- config_from_dict -----------------------------------------------------------------------
def test_config_from_dict():
    assert config_from_dict({"m": 4}) == CoreConfig(m=4)
    with error("unknown config key 'q' in config"):
        config_from_dict({"m": 4, "q": 1})
    with error("my.toml must be a table of keys, not NoneType"):
        config_from_dict(None, "my.toml")


# ---- --set overrides -----------------------------------------------------------------------
# fmt: off
@pytest.mark.parametrize("text, parsed", [
    ("m=4",                 ("m", 4)),
    ("  m =  4 ",           ("m", 4)),
    ("bus_words=0x10",      ("bus_words", 16)),
    ("n=0b101",             ("n", 5)),
    ("n=-3",                ("n", -3)),
    ("ternary=true",        ("ternary", True)),
    ("ternary=True",        ("ternary", True)),
    ("ternary=1",           ("ternary", True)),
    ("symmetrize=false",    ("symmetrize", False)),
    ("symmetrize=0",        ("symmetrize", False)),
    ("act_format=fp16",     ("act_format", "fp16")),
    ("table_format=",       ("table_format", "")),
    ("act_format=a=b",      ("act_format", "a=b")),
])
# fmt: on
def test_parse_override(text, parsed):
    assert parse_override(text) == parsed


# fmt: off
@pytest.mark.parametrize("text, message", [
    ("m",               "override 'm' must look like KEY=VALUE"),
    ("=4",              "override '=4' must look like KEY=VALUE"),
    ("",                "override '' must look like KEY=VALUE"),
    ("mm=4",            "unknown config key 'mm' in --set"),
    ("M=4",             "unknown config key 'M' in --set"),
    ("m=four",          "config key 'm' must be an integer, not 'four'"),
    ("n=٤",             "config key 'n' must be an integer, not '٤'"),
    ("n=²",             "config key 'n' must be an integer, not '²'"),
    ("m=",              "config key 'm' must be an integer, not ''"),
    ("m=2.0",           "config key 'm' must be an integer, not '2.0'"),
    ("ternary=yes",     "config key 'ternary' must be true or false, not 'yes'"),
])
# fmt: on
def test_parse_override_errors(text, message):
    with error(message):
        parse_override(text)


def test_overrides_are_validated_once():
    assert load_config("m2n64k4-w2-fp16", ["acc_format=fp16"]).mnemonic == (
        "lmma.m2n64k4.f16.u2.f16.f16"
    )
    with error("m must be 1 to 8, not 9"):
        load_config(None, ["m=9"])
    with error("unknown config key 'q' in --set"):
        load_config(None, ["q=9"])
    with error("table_format 'int' needs integer activations, not fp16"):
        load_config(None, ["act_format=fp16", "table_format=int"])


# ---- round trips ----------------------------------------------------------------------------
@st.composite
def configs(draw) -> CoreConfig:
    values = {name: draw(st.integers(lo, hi)) for name, (lo, hi) in RANGES.items()}
    values["symmetrize"] = draw(st.booleans())
    values["act_format"] = draw(st.sampled_from(ACT_FORMATS))
    if draw(st.booleans()):
        values["weight_bits"], values["ternary"] = 2, True
    if values["act_format"].startswith("fp"):
        values["table_format"] = draw(st.sampled_from(["", "int8", "fp8_e4m3", "fp16", "fp32"]))
    if values.get("table_format", "").startswith("fp"):
        values["acc_format"] = draw(st.sampled_from(["fp32", "fp16"]))
        if values["table_format"] == "fp32":
            values["acc_format"] = "fp32"
        values["out_format"] = draw(st.sampled_from(["", "fp16", "fp32"]))
    return CoreConfig(**values)


@PROPERTY
@given(cfg=configs())
def test_to_toml_round_trip(tmp_path, cfg):
    path = tmp_path / "core.toml"
    path.write_text(cfg.to_toml())
    assert load_config(path) == cfg
    assert config_from_dict(cfg.to_dict()) == cfg
    assert load_config(None, [f"{key}={value}" for key, value in cfg.to_dict().items()]) == cfg


def test_replace_derives_dependent_formats_again():
    cfg = CoreConfig()
    assert cfg.replace(act_format="fp16").mnemonic == "lmma.m2n64k4.f16.u2.f32.f32"
    assert cfg.replace(act_format="fp16", table_format="int8").acc_format == "int32"
    assert cfg.replace(acc_format="int32").out_format == "int32"
    assert cfg.replace(weight_bits=3).table_format == "int"


@pytest.mark.parametrize("key", ["table_format", "acc_format", "out_format"])
def test_empty_format_is_refused(key):
    with pytest.raises(
        ValueError, match=rf"^config key '{key}' must name a format; leave it out to derive it$"
    ):
        load_config(None, [f"{key}="])


def test_exact_table_format_has_a_type_name():
    assert CoreConfig().table.abbrev == "s11"
    assert CoreConfig(act_format="int16").table.abbrev == "s19"


def test_config_pickles_after_derived_facts_are_cached():
    import pickle

    cfg = CoreConfig(weight_bits=3)
    assert cfg.latency_cycles["lmma"] == 3 and cfg.table.bits == 11
    clone = pickle.loads(pickle.dumps(cfg))
    assert clone == cfg and clone.latency_cycles == cfg.latency_cycles


def test_config_file_must_be_regular(tmp_path):
    fifo = tmp_path / "core.toml"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(ValueError, match=rf"^cannot read config file '{fifo}': not a regular file$"):
        load_config(str(fifo))
    with pytest.raises(ValueError, match=r"^cannot read config file '/dev/null': not a regular file$"):
        load_config("/dev/null")


def test_override_given_twice_is_rejected():
    with pytest.raises(ValueError, match=r"^override 'n' is given twice$"):
        load_config("m2n64k4", ["n=4", "n=8"])
    with pytest.raises(ValueError, match=r"^override 'n' is given twice$"):
        load_config("m2n64k4", ["n=4", " n = 4"])


def test_name_too_long_for_a_path_is_unknown():
    name = "y" * 10_000
    with pytest.raises(ValueError, match=r"^unknown config 'y+': not a preset name or a TOML/YAML file$"):
        load_config(name)
