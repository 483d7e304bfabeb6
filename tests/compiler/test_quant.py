import numpy as np
import pytest

from lutsim.compiler.model import load_model
from lutsim.compiler.quant import (
    QuantSpec,
    default_quant,
    pack_weight_region,
    parse_quant,
    quantize_weight,
)
from lutsim.isa.config import CoreConfig
from lutsim.isa.gemm import lower, make_problem
from lutsim.isa.golden import precompute_tables, weight_indices


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("w2-int8", QuantSpec()),
        ("w4-g128-fp16", QuantSpec(weight_bits=4, group_size=128, act_format="fp16")),
        ("w1.58-int8", QuantSpec(weight_bits=2, ternary=True)),
        ("w2-fp16-int8table", QuantSpec(act_format="fp16", table_quant=True)),
        ("w3-g32-fp8_e4m3", QuantSpec(weight_bits=3, group_size=32, act_format="fp8_e4m3")),
    ],
)
def test_text_form_round_trips(text, spec):
    assert parse_quant(text) == spec
    assert str(spec) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("w5", "weight bits must be 1 to 4, not 5"),
        ("w2-x5", "quantization 'w2-x5': unexpected 'x5'; expected w1..w4 or w1.58, gN (group "
                  "size), an activation format (int8, int16, fp8_e4m3, fp8_e5m2, fp16) or int8table"),
        ("w2-w4", "quantization 'w2-w4': unexpected 'w4'; expected w1..w4 or w1.58, gN (group "
                  "size), an activation format (int8, int16, fp8_e4m3, fp8_e5m2, fp16) or int8table"),
        ("fp16", "quantization 'fp16' names no weight bits; expected w1..w4 or w1.58, gN (group "
                 "size), an activation format (int8, int16, fp8_e4m3, fp8_e5m2, fp16) or int8table"),
        ("w2-g0", "group size must be a positive integer, not 0"),
    ],
)  # fmt: skip
def test_bad_text(text, message):
    with pytest.raises(ValueError) as info:
        parse_quant(text)
    assert str(info.value) == message


def test_bad_specs():
    with pytest.raises(ValueError, match=r"^ternary weights need weight_bits = 2, not 3$"):
        QuantSpec(weight_bits=3, ternary=True)
    with pytest.raises(ValueError, match=r"^activation format must be one of .*, not 'bf16'$"):
        QuantSpec(act_format="bf16")


def test_core_takes_the_spec_formats():
    cfg = CoreConfig(acc_regs=4)
    core = parse_quant("w4-fp16-int8table").core(cfg)
    assert (core.weight_bits, core.act_format, core.table_format, core.acc_regs) == (
        4, "fp16", "int8", 4)  # fmt: skip
    assert parse_quant("w2-fp16").core(core).table_format == "fp16"
    assert parse_quant("w1.58").core(cfg).mnemonic == "lmma.m2n64k4.s8.t2.s32.s32"
    assert default_quant(load_model("bitnet-b1.58-3b")) == parse_quant("w1.58")
    assert default_quant(load_model("llama2-7b")) == parse_quant("w2")


@pytest.mark.parametrize("group", [None, 16])
@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_round_to_nearest(bits, group):
    w = np.random.default_rng(bits).standard_normal((6, 64))
    q = quantize_weight(w, QuantSpec(weight_bits=bits, group_size=group))
    assert q.codes.min() >= 0 and q.codes.max() <= 2**bits - 1
    assert np.all(q.zero == np.round(q.zero)), "zero points must be integers"
    span = 64 if group is None else group
    step = np.repeat(q.scale, span, axis=1)
    assert np.all(np.abs(q.dequantize() - w) <= 0.5 * step + 1e-12)


def test_absmean_ternary():
    w = np.random.default_rng(0).standard_normal((8, 32))
    q = quantize_weight(w, parse_quant("w1.58"))
    scale = np.abs(w).mean()
    assert np.allclose(q.scale, scale) and np.all(q.zero == 1)
    assert np.array_equal(q.codes, np.clip(np.round(w / scale), -1, 1) + 1)
    grouped = quantize_weight(w, parse_quant("w1.58-g16"))
    assert np.allclose(grouped.scale[:, 0], np.abs(w[:, :16]).mean(axis=1))


@pytest.mark.parametrize(
    "cfg", [CoreConfig(), CoreConfig(m=1, n=8, k=3, weight_bits=3),
            CoreConfig(n=16, weight_bits=2, ternary=True, symmetrize=False)],
)  # fmt: skip
def test_weight_region_equals_isa_lowering(cfg):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, cfg.code_max, size=(70, 13), endpoint=True)
    problem = make_problem(cfg, np.ones((3, 13)), codes)
    tables = precompute_tables(cfg, problem.a, 1)
    lowered = lower(cfg, problem, tables, weight_indices(cfg, problem.w))
    col_tiles = lowered.tiles[1]
    region = pack_weight_region(cfg, codes, col_tiles)
    table_words = tables.entries.shape[1] * cfg.table_fragment_words
    for j in range(col_tiles):
        image = lowered.memories[j, table_words : lowered.out_base]
        assert np.array_equal(region[j].ravel(), image), f"column tile {j}"
