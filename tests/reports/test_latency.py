"""Whole-model latency (:mod:`lutsim.reports.latency`): its parts against the models it combines."""

from __future__ import annotations

from collections import Counter

import pytest

from lutsim.compiler import compile_model, load_model
from lutsim.compiler.ir import LutGemm
from lutsim.compiler.model import with_expert_load
from lutsim.reports import latency
from lutsim.reports.latency import (
    CATEGORIES,
    Phase,
    decode,
    grouped_gemm,
    model_latency,
    prefill,
    table1,
)
from lutsim.sim import gpu, gpu_detailed
from lutsim.sim.presets import machine

MODEL = "bitnet-b1.58-700m"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Each test its own on-disk cache, empty at the start."""
    monkeypatch.setenv("LUTSIM_CACHE", str(tmp_path / "cache"))


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
    assert not any("experts" in g for g in run.gemms), "a dense model has no grouped GEMMs"
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


LUT = {"wbits": 2, "act": "int8"}


def _experts(model, tokens: int, layer: int = 0, part: str = "gate"):
    """Rows of each active expert of one MoE layer and projection, and its N and K."""
    nodes = [g for g in compile_model(model, tokens=tokens).ir.of_type(LutGemm)
             if g.expert is not None and g.layer == layer and g.part == part]  # fmt: skip
    return [g.rows for g in nodes], nodes[0].n, nodes[0].k


def _skewed(model: str, shares: list[float]):
    model = load_model(model)
    load = shares + [0.0] * (model.num_experts - len(shares))
    return with_expert_load(model, {"expert_load": load}, "test")


@pytest.mark.parametrize(
    ("model", "tokens", "preset", "args"),
    [
        ("qwen3-30b-a3b", 8, "A100-LUT-4X", LUT),  # decode: 64 experts of 1 token
        ("qwen3-30b-a3b", 2048, "A100-LUT-4X", LUT),  # prefill: 128 experts of 128
        ("mixtral-8x7b", 64, "A100-FP16", {"wbits": 2}),
        ("qwen1.5-moe-a2.7b", 512, "A100-LUT-1X", LUT),  # N = 1408: no 256-wide CTA divides it
        (_skewed("mixtral-8x7b", [0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05]), 2048,
         "A100-LUT-4X", LUT),
        (_skewed("mixtral-8x7b", [0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05]), 300,
         "A100-FP16", {"wbits": 16, "act": "fp16"}),
    ],
)  # fmt: skip
def test_grouped_moe_layer_is_between_its_largest_expert_and_all_expert_kernels(
    model, tokens, preset, args
):
    rows, n, k = _experts(model, tokens)
    group = grouped_gemm(preset, rows, n, k, **args)
    alone = [gpu.simulate(preset, m, n, k, precompute="none", **args) for m in rows]
    largest = max(alone, key=lambda run: run.latency_us)
    assert largest.latency_us <= group.latency_us <= sum(run.latency_us for run in alone)
    fixed = machine(preset, args["wbits"], args.get("act")).fixed_cycles
    assert group.fixed_cycles == fixed and group.rows == tuple(sorted(rows, reverse=True))
    assert sum(run.gemm.fixed_cycles for run in alone) == len(rows) * fixed
    # every active expert's weights, no expert's twice: the GEMM's own compulsory bytes
    assert sum(run.shape[1] for run in group.classes) >= len(rows) * n
    weights = len(rows) * n * k * args["wbits"] / 8
    assert group.actions["dram.read_bytes"] >= weights


def test_moe_gemm_time_is_dense_shapes_plus_one_grouped_kernel_per_layer_and_projection():
    phase = decode(batch=8, context=256)
    run = model_latency("qwen3-30b-a3b", "A100-LUT-4X", phase)
    nodes = compile_model("qwen3-30b-a3b", tokens=8).ir.of_type(LutGemm)

    def simulated(expert: bool) -> float:
        shapes = Counter((g.rows, g.n, g.k) for g in nodes if expert or g.expert is None)
        return sum(count * gpu.simulate("A100-LUT-4X", *shape, precompute="none",
                                        **LUT).latency_us
                   for shape, count in shapes.items())  # fmt: skip

    dense = simulated(expert=False)
    parts: dict[tuple, list[int]] = {}
    for g in nodes:
        if g.expert is not None:
            parts.setdefault((g.layer, g.part, g.n, g.k), []).append(g.rows)
    assert len(parts) == 48 * 3
    grouped = sum(grouped_gemm("A100-LUT-4X", rows, n, k, **LUT).latency_us
                  for (_, _, n, k), rows in parts.items())  # fmt: skip
    assert run.us["gemm"] == pytest.approx(dense + grouped, rel=1e-9)
    (row,) = [g for g in run.gemms if "experts" in g and g["n"] == 768]
    assert (row["experts"], row["rows"], row["count"]) == (64, 64, 96)  # gate and up, 48 layers
    assert run.macs == sum(g.rows * g.n * g.k for g in nodes)
    # one kernel per layer and projection: all GEMMs take under a quarter of the fixed times
    # that 64 expert kernels per layer and projection would take
    fixed_us = machine("A100-LUT-4X").fixed_cycles / machine("A100-LUT-4X").gpu.freq_mhz
    assert run.us["gemm"] < 64 * 3 * 48 * fixed_us / 4
    # grouped=False: one kernel per expert GEMM, for comparison
    alone = model_latency("qwen3-30b-a3b", "A100-LUT-4X", phase, grouped=False)
    assert alone.us["gemm"] == pytest.approx(simulated(expert=True), rel=1e-9)
    assert not any("experts" in g for g in alone.gemms) and alone.macs == run.macs
    assert alone.us["gemm"] > 5 * run.us["gemm"]


def test_moe_expert_tables_are_one_precompute_kernel_per_layer():
    separate = model_latency("qwen3-30b-a3b", "A100-LUT-4X", decode(8, 256),
                             precompute="separate")  # fmt: skip
    mach = machine("A100-LUT-4X")
    fixed_us = mach.fixed_cycles / mach.gpu.freq_mhz
    # per layer: the QKV, output and expert-input tables and 64 experts' activation tables
    assert separate.precomputes == {"separate": 48 * (3 + 64)}
    assert 48 * 4 * fixed_us < separate.us["precompute"] < 48 * 5 * fixed_us


def test_measured_routing_moves_moe_latency_the_expected_way():
    """Decode at batch 8: uniform routing touches 64 experts per layer; a measured routing
    that sends every token to the same 8 experts reads an eighth of the expert weights."""
    phase = decode(batch=8, context=256)
    uniform = model_latency("qwen3-30b-a3b", "A100-LUT-4X", phase)
    narrow = model_latency(_skewed("qwen3-30b-a3b", [1 / 8] * 8), "A100-LUT-4X", phase)
    experts = {(g["experts"], g["rows"]) for g in narrow.gemms if "experts" in g}
    assert experts == {(8, 64)}, "8 experts of 8 tokens"
    assert narrow.us["gemm"] < 0.5 * uniform.us["gemm"]
    ratio = uniform.actions["dram.read_bytes"] / narrow.actions["dram.read_bytes"]
    assert ratio > 3, f"{ratio:.2f}"
    # prefill: the same skew puts 2048 tokens on each of 8 experts instead of 128 on each of 128
    narrow = model_latency(_skewed("qwen3-30b-a3b", [1 / 8] * 8), "A100-LUT-4X", prefill(2048))
    uniform = model_latency("qwen3-30b-a3b", "A100-LUT-4X", prefill(2048))
    assert narrow.macs == uniform.macs and narrow.us["gemm"] < uniform.us["gemm"]


@pytest.mark.parametrize(
    ("rows", "n", "message"),
    [
        ([], 768, "expert rows must be non-negative integers, at least one positive, not []"),
        ([0, 0], 768, "expert rows must be non-negative integers, at least one positive, not "
                      "[0, 0]"),
        ([1, -1], 768, "expert rows must be non-negative integers, at least one positive, not "
                       "[1, -1]"),
        ([2, 1.5], 768, "expert rows must be non-negative integers, at least one positive, not "
                        "[2, 1.5]"),
        ([2, 1], 0, "GEMM size N must be a positive integer, not 0"),
    ],
)  # fmt: skip
def test_grouped_gemm_bad_input(rows, n, message):
    with pytest.raises(ValueError) as info:
        grouped_gemm("A100-LUT-4X", rows, n, 2048)
    assert str(info.value) == message


def _forget():
    """Empty every in-process memo of the latency computation."""
    for memo in (gpu._choose, gpu_detailed._run_precompute, latency._simulated,
                 latency._precomputed, latency._roofline, latency._compiled,
                 latency._own_kernel):  # fmt: skip
        memo.cache_clear()


CACHED = [  # (model, preset, phase, keywords): a row of each kind the report simulates
    ("bitnet-b1.58-3b", "A100-LUT-4X", decode(1, 2048), {}),
    ("bitnet-b1.58-3b", "A100-LUT-8X", Phase("decode", 1024, 1, 1), {"precompute": "separate"}),
    ("mixtral-8x7b", "A100-LUT-1X", decode(1, 2048), {}),
    ("mixtral-8x7b", "A100-INT8", decode(1, 2048), {}),
    ("llama2-7b", "A100-FP16", decode(1, 2048), {"dense": True}),
]


def test_memos_and_the_disk_cache_change_no_number():
    _forget()
    computed = [model_latency(m, p, ph, cache=False, **kw).to_dict() for m, p, ph, kw in CACHED]
    expected_table1 = table1(cache=False)
    _forget()
    files = latency.cache_root()
    for written in (False, True):  # first computed and written, then read back
        assert [model_latency(m, p, ph, **kw).to_dict() for m, p, ph, kw in CACHED] == computed
        assert len(list(files.glob("latency-*.json"))) == len(CACHED) + 14 * written
        assert table1() == expected_table1
    assert len(list(files.glob("latency-*.json"))) == len(CACHED) + 14  # table1: 7 rows x 2


def test_the_cache_is_keyed_by_the_source_and_replaces_what_it_cannot_read(monkeypatch):
    model, preset, phase, _ = CACHED[0]
    first = model_latency(model, preset, phase)
    (path,) = latency.cache_root().glob("latency-*.json")
    assert model_latency(model, preset, phase) == first
    source = latency.source_digest
    monkeypatch.setattr(latency, "source_digest", lambda: "changed source")
    assert model_latency(model, preset, phase) == first
    assert len(list(latency.cache_root().glob("latency-*.json"))) == 2, "a miss, written anew"
    monkeypatch.setattr(latency, "source_digest", source)
    path.write_text('{"model": "not a latency"}')
    assert model_latency(model, preset, phase) == first
    assert latency._decode(path.read_text()) == first
    assert latency.source_digest() == latency.source_digest() != "changed source"


def test_scaling_study_is_cached_as_computed():
    args = {"presets": ("A100-LUT-4X",), "regs": (1,), "smem": (1.0,)}
    computed = latency.scaling_study(cache=False, **args)
    assert latency.scaling_study(**args) == computed  # written
    assert latency.scaling_study(**args) == computed  # read
    assert len(list(latency.cache_root().glob("scaling-*.json"))) == 1
