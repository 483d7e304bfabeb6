"""Whole-model latency (:mod:`lutsim.reports.latency`): its parts against the models it combines."""

from __future__ import annotations

import pytest

from lutsim.compiler import compile_model
from lutsim.compiler.ir import LutGemm
from lutsim.reports.latency import CATEGORIES, Phase, decode, model_latency, prefill
from lutsim.sim import gpu

MODEL = "bitnet-b1.58-700m"


def test_gemm_time_is_the_sum_of_simulated_shapes():
    phase = Phase("prefill", 2, 64, 64)
    run = model_latency(MODEL, "A100-LUT-4X", phase)
    shapes = {}
    for node in compile_model(MODEL, tokens=128).ir.of_type(LutGemm):
        shapes[(node.rows, node.n, node.k)] = shapes.get((node.rows, node.n, node.k), 0) + 1
    expected = sum(
        count * gpu.simulate("A100-LUT-4X", m, n, k, wbits=1.58, act="int8",
                             precompute="none").latency_us
        for (m, n, k), count in shapes.items()
    )  # fmt: skip
    assert run.us["gemm"] == pytest.approx(expected, rel=1e-12)
    assert sum(g["count"] for g in run.gemms) == sum(shapes.values())
    assert run.macs == sum(m * n * k * c for (m, n, k), c in shapes.items())
    assert set(run.us) == set(CATEGORIES) and run.total_us == pytest.approx(sum(run.us.values()))


def test_lut_and_mac_share_the_non_lut_work():
    phase = decode(batch=4, context=256)
    lut = model_latency("llama2-7b", "A100-LUT-1X", phase, "w2")
    mac = model_latency("llama2-7b", "A100-FP16", phase, "w2")
    for category in ("attention", "lm_head", "other"):
        assert lut.us[category] == mac.us[category] > 0
    assert mac.us["precompute"] == 0 and mac.precompute == "none" and lut.us["precompute"] > 0


def test_separate_precompute_costs_more_than_fused():
    fused = model_latency("llama2-7b", "A100-LUT-4X", prefill(256), "w2")
    separate = model_latency("llama2-7b", "A100-LUT-4X", prefill(256), "w2",
                             precompute="separate")  # fmt: skip
    assert fused.us["gemm"] == separate.us["gemm"]
    assert separate.us["precompute"] > fused.us["precompute"] > 0
    # LLaMA's o_proj reads the attention output: no element-wise operator to fuse into
    assert fused.precomputes == {"fused": 96, "separate": 32}
    assert separate.precomputes == {"separate": 128}
    assert 0 < fused.precompute_share < separate.precompute_share < 1


def test_attention_is_per_sequence():
    one = model_latency(MODEL, "A100-FP16", decode(batch=1, context=1024))
    many = model_latency(MODEL, "A100-FP16", decode(batch=64, context=1024))
    assert many.us["attention"] == pytest.approx(64 * one.us["attention"], rel=0.01)
    assert many.tokens_per_s > one.tokens_per_s


def test_bigger_lut_arrays_are_not_slower_on_prefill():
    times = [model_latency(MODEL, f"A100-LUT-{x}X", prefill(512)).us["gemm"] for x in (1, 4, 8)]
    assert times[0] > times[1] >= times[2]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: model_latency(MODEL, "A100-LUT-1X", prefill(8), precompute="none"),
         "precompute must be fused or separate, not 'none'"),
        (lambda: Phase("decode", 0, 1, 8), "batch must be a positive integer, not 0"),
        (lambda: Phase("decode", 1, 16, 8), "context 8 must be at least the 16 new tokens"),
        (lambda: model_latency(MODEL, "Z80", prefill(8)), "unknown GPU preset 'Z80'; known: "),
    ],
)  # fmt: skip
def test_bad_input(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(message)


def test_rows_name_their_baseline_and_the_fp16_model_reads_8x_the_weights():
    quantized = model_latency("bitnet-b1.58-3b", "A100-FP16", decode(1, 1))
    dense = model_latency("openllama-3b", "A100-FP16", decode(1, 1), dense=True)
    lut = model_latency("bitnet-b1.58-3b", "A100-LUT-4X", decode(1, 1))
    assert quantized.baseline == "the same low-bit model on MAC hardware (dequantized)"
    assert dense.baseline == "the FP16 model"
    assert lut.baseline == "the low-bit model on LUT tensor cores"
    ratio = dense.actions["dram.read_bytes"] / quantized.actions["dram.read_bytes"]
    assert 6 < ratio <= 8, f"{ratio:.2f}"  # W16 vs ternary codes stored in 2 bits, + scales
    assert dense.us["gemm"] > 3 * quantized.us["gemm"]  # 8x the bytes, the same fixed times
    with pytest.raises(ValueError, match=r"^dense models run on MAC presets, not A100-LUT-4X$"):
        model_latency("bitnet-b1.58-3b", "A100-LUT-4X", decode(1, 1), dense=True)


def test_table1_has_the_papers_seven_rows():
    from lutsim.reports import paper
    from lutsim.reports.latency import TABLE1

    assert {preset for _, preset, *_ in TABLE1} == set(paper.BITNET_3B)
    assert [regs for *_, regs in TABLE1] == [1, 1, 2, 2, 1, 2, 2]
