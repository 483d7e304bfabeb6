"""The GPU-scale model: preset facts, the tensor-core timing contract, roofline sanity, the two
fidelity modes against each other, LUT-vs-MAC sanity, action counts and input errors.
Run with ``pytest -s`` to see the achieved fractions of the roofs."""

import dataclasses
import json
import math

import pytest
import simpy

from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr
from lutsim.isa.timing import schedule
from lutsim.sim import gpu
from lutsim.sim.gpu import DETAILED_SLOTS, Tiling, simulate, simulate_machine
from lutsim.sim.gpu_detailed import _TensorCore
from lutsim.sim.gpu_plan import Plan
from lutsim.sim.presets import GPU_SOURCES, GPUS, PRESETS, machine

LLAMA2_13B = (2048, 27648, 5120)  # M = 2048 tokens, N = 2 x 13824 (gate and up), K = hidden
DECODE = [(1, 4096, 4096), (1, 11008, 4096), (1, 4096, 11008), (1, 27648, 5120)]
LUTS = ["A100-LUT-1X", "A100-LUT-4X", "A100-LUT-8X", "H100-LUT-4X"]
MACS = ["A100-FP16", "A100-INT8", "H100-FP8"]


def lut(preset, *shape, **kw):
    return simulate(preset, *shape, table_format="int8", **kw)


# ---- presets ----------------------------------------------------------------------------------
def test_every_gpu_fact_has_a_source():
    for chip in GPUS.values():
        facts = {f.name for f in dataclasses.fields(chip)} - {"name", "sources"}
        assert set(chip.sources) == facts, f"{chip.name}: facts without a source"
        for key in chip.sources.values():
            assert all(part in GPU_SOURCES for part in key.split(" + ")), key


@pytest.mark.parametrize(
    ("preset", "tops"),
    [("A100-FP16", 312), ("A100-INT8", 624), ("H100-FP8", 1979), ("H100-FP16", 989)],
)
def test_mac_roofs_match_the_datasheets(preset, tops):
    run = simulate(preset, 1, 4096, 4096)
    assert abs(run.compute_roof_tops - tops) / tops < 0.003, f"{run.compute_roof_tops:.1f} TOPS"


def test_lut_roofs_follow_the_core_config():
    """1X W2 = one M2N64K4 array per tensor core = 256 MACs per clock = the A100 FP16 core."""
    fp16 = simulate("A100-FP16", 1, 4096, 4096).compute_roof_tops
    for preset, arrays in (("A100-LUT-1X", 1), ("A100-LUT-4X", 4), ("A100-LUT-8X", 8)):
        for bits in (1, 2, 4):
            roof = lut(preset, 1, 4096, 4096, wbits=bits).compute_roof_tops
            assert roof == pytest.approx(fp16 * arrays * 2 / bits), f"{preset} W{bits}"


def test_lmma_cycles_come_from_the_config():
    mach = machine("A100-LUT-4X", 3, sustained=False)
    assert mach.tc.lmma_cycles == mach.tc.core.latency_cycles["lmma"] == 3
    plan = Plan(mach, 64, 256, 256, Tiling(16, 128, 2, 2, 16, 2))
    assert plan.tc_cycles(4) == math.ceil(plan.instrs(4) / 4) * 3


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("slots", [1, 7, 40])
def test_tensor_core_follows_the_timing_contract(bits, slots):
    """Back-to-back issue slots on one tensor core take the cycles isa.timing gives the same
    stream of LMMA instructions on one core."""
    cfg = CoreConfig(weight_bits=bits)
    env = simpy.Environment()
    core = _TensorCore(env, cfg.latency_cycles["lmma"])
    done = core.submit(slots)
    env.run(until=done)
    lmma = Instr("lmma", acc=0, table=0, weight=0, m=cfg.m, n=cfg.n, k=cfg.k,
                 atype=cfg.act.abbrev, wtype=cfg.weight_type, ctype=cfg.acc.abbrev,
                 otype=cfg.out.abbrev)  # fmt: skip
    assert env.now == schedule(cfg, [lmma] * slots).cycles


# ---- roofline ---------------------------------------------------------------------------------
GRID = [(1, 4096, 4096), (16, 4096, 4096), (128, 11008, 4096), (1024, 4096, 4096), LLAMA2_13B]


@pytest.mark.parametrize("preset", LUTS + MACS)
def test_no_kernel_beats_its_roofs(preset):
    for shape in GRID:
        for bits in (1, 2, 4):
            kw = {"table_format": "int8"} if "LUT" in preset else {}
            run = simulate(preset, *shape, wbits=bits, **kw)
            assert run.gemm_tops <= run.compute_roof_tops * (1 + 1e-9), (preset, shape, bits)
            assert run.gemm_tops <= run.memory_roof_tops * (1 + 1e-9), (preset, shape, bits)
            for name, value in run.utilization.items():
                assert 0 <= value <= 1 + 1e-9, f"{preset} {shape} W{bits}: {name} {value}"


@pytest.mark.parametrize(
    ("preset", "bits", "regs"),
    [("A100-LUT-1X", 2, 1), ("A100-LUT-1X", 1, 1), ("A100-LUT-4X", 2, 1), ("A100-LUT-4X", 1, 2),
     ("A100-LUT-8X", 4, 2), ("H100-LUT-4X", 2, 1), ("A100-FP16", 4, 1), ("A100-INT8", 4, 1),
     ("H100-FP8", 4, 1)],
)  # fmt: skip
def test_large_gemm_approaches_the_compute_roof(preset, bits, regs):
    kw = {"table_format": "int8"} if "LUT" in preset else {}
    run = simulate(preset, *LLAMA2_13B, wbits=bits, regs=regs, sustained=False, **kw)
    fraction = run.gemm_tops / run.compute_roof_tops
    print(
        f"{preset} W{bits} regs {regs}x 13B: {fraction:.3f} of the compute roof ({run.gemm.bound})"
    )
    assert fraction >= 0.8


@pytest.mark.parametrize("preset", LUTS + MACS)
def test_gemv_approaches_the_memory_roof(preset):
    for shape in DECODE:
        kw = {"table_format": "int8"} if "LUT" in preset else {}
        run = simulate(preset, *shape, wbits=2, sustained=False, **kw)
        fraction = run.gemm_tops / run.memory_roof_tops
        print(f"{preset} W2 {shape}: {fraction:.3f} of the memory roof ({run.gemm.bound})")
        assert run.gemm.bound == "dram" and fraction >= 0.9


def test_more_registers_feed_bigger_arrays():
    """An 8X array starves on shared memory with 1x registers; 2x registers allow bigger warp
    tiles, more reuse per fragment, and so more throughput."""
    one, two = (lut("A100-LUT-8X", *LLAMA2_13B, regs=r) for r in (1, 2))
    print(f"A100-LUT-8X W2 13B: {one.utilization['compute']:.3f} (1x) -> "
          f"{two.utilization['compute']:.3f} (2x registers)")  # fmt: skip
    assert one.gemm.bound == "smem"
    assert two.tiling.warp_m * two.tiling.warp_n > one.tiling.warp_m * one.tiling.warp_n
    assert two.cycles < 0.9 * one.cycles


# ---- fast vs detailed -------------------------------------------------------------------------
AGREEMENT = [  # preset, weight bits, M, N, K, SMs (None: the whole GPU)
    ("A100-LUT-4X", 1, 8, 4096, 4096, None),
    ("A100-LUT-4X", 1, 16, 2048, 8192, None),
    ("A100-LUT-8X", 4, 32, 4096, 4096, None),
    ("H100-LUT-8X", 2, 8, 4096, 4096, None),
    ("A100-INT8", 2, 32, 4096, 4096, None),
    ("A100-LUT-1X", 2, 64, 1024, 2048, 8),
    ("A100-LUT-4X", 1, 128, 512, 4096, 8),
    ("A100-LUT-8X", 4, 256, 1024, 1024, 8),
    ("A100-LUT-4X", 2, 100, 1000, 2000, 8),
    ("H100-LUT-8X", 2, 100, 1000, 2000, 8),
    ("A100-FP16", 4, 128, 512, 4096, 8),
    ("A100-INT8", 2, 100, 1000, 2000, 8),
    ("H100-FP8", 2, 256, 1024, 1024, 8),
    ("H100-FP8", 1, 64, 1024, 2048, 8),
    ("H100-FP16", 16, 1024, 1024, 1024, 8),  # four waves: later CTAs queue behind prefetches
]


@pytest.mark.parametrize(("preset", "bits", "m", "n", "k", "sms"), AGREEMENT)
def test_fast_and_detailed_agree(preset, bits, m, n, k, sms):
    mach = machine(preset, bits, table_format="int8" if "LUT" in preset else None)
    if sms:
        mach = mach.with_sms(sms)
    fast = simulate_machine(mach, m, n, k, precompute="separate")
    detailed = simulate_machine(mach, m, n, k, precompute="separate", mode="detailed",
                                tiling=fast.tiling)  # fmt: skip
    error = (fast.cycles - detailed.cycles) / detailed.cycles
    print(f"{mach.preset} W{bits} {m}x{n}x{k}: fast {fast.cycles} detailed {detailed.cycles} "
          f"({error:+.2%}, {detailed.events} events)")  # fmt: skip
    assert abs(error) <= 0.01, f"{fast.cycles} != {detailed.cycles} (detailed) within 1 %"
    assert fast.actions == detailed.actions
    assert detailed.events >= detailed.actions["tc.issue"]  # an event per issue slot
    for name in ("tensor", "vector", "smem", "l2", "dram"):
        busy_fast = fast.gemm.utilization[name] * fast.gemm.cycles
        busy_detailed = detailed.gemm.utilization[name] * detailed.gemm.cycles
        assert busy_fast == pytest.approx(busy_detailed, rel=1e-9), name


# ---- LUT vs MAC -------------------------------------------------------------------------------
def test_lut_vs_mac_on_the_llama2_13b_ffn_shape():
    fp16 = simulate("A100-FP16", *LLAMA2_13B, wbits=2)
    int8 = simulate("A100-INT8", *LLAMA2_13B, wbits=2)
    w2 = lut("A100-LUT-1X", *LLAMA2_13B, wbits=2)
    w1 = lut("A100-LUT-1X", *LLAMA2_13B, wbits=1)
    w4 = lut("A100-LUT-1X", *LLAMA2_13B, wbits=4)
    x4 = lut("A100-LUT-4X", *LLAMA2_13B, wbits=2)
    for run in (fp16, int8, w2, w1, w4, x4):
        print(f"{run.label}: {run.latency_us:.0f} us, {run.achieved_tops:.0f} TOPS")
    assert w2.latency_us == pytest.approx(fp16.latency_us, rel=0.05)  # the same peak MACs
    assert w1.latency_us == pytest.approx(fp16.latency_us / 2, rel=0.05)
    assert w4.latency_us == pytest.approx(fp16.latency_us * 2, rel=0.05)
    assert int8.latency_us == pytest.approx(fp16.latency_us / 2, rel=0.05)
    assert x4.latency_us < fp16.latency_us / 3
    fused = w2.kernels[0]
    assert fused.name == "precompute (fused)" and fused.cycles < 0.01 * w2.gemm.cycles


@pytest.mark.parametrize("shape", DECODE)
def test_lut_vs_mac_on_decode_gemv(shape):
    """Decode is DRAM-bound: the same packed weights cost the same time; at 1 bit the MAC
    kernel is held up by dequantization on the vector lanes (the ideal machine: no fixed time
    per kernel, which would blur the ratio)."""
    for bits in (1, 2, 4):
        mac = simulate("A100-FP16", *shape, wbits=bits, sustained=False)
        ours = lut("A100-LUT-1X", *shape, wbits=bits, sustained=False)
        print(f"{shape} W{bits}: LUT {ours.latency_us:.2f} us, FP16 MAC {mac.latency_us:.2f} us "
              f"({mac.gemm.bound})")  # fmt: skip
        assert ours.latency_us <= mac.latency_us * 1.01
    one, two = (lut("A100-LUT-1X", *shape, wbits=b, sustained=False).latency_us for b in (1, 2))
    assert one == pytest.approx(two / 2, rel=0.1)
    assert simulate("A100-FP16", *shape, wbits=1, sustained=False).gemm.bound == "vector"


def test_separate_precompute_costs_more_than_fused():
    fused = lut("A100-LUT-4X", *LLAMA2_13B, precompute="fused")
    separate = lut("A100-LUT-4X", *LLAMA2_13B, precompute="separate")
    none = lut("A100-LUT-4X", *LLAMA2_13B, precompute="none")
    assert none.cycles < fused.cycles < separate.cycles
    assert separate.kernels[0].bound == "dram"
    assert fused.gemm.cycles == separate.gemm.cycles == none.gemm.cycles


# ---- counts and output ------------------------------------------------------------------------
def test_action_counts_of_a_lut_kernel():
    run = lut("A100-LUT-1X", 256, 4096, 4096, wbits=2, precompute="none")
    a, cfg = run.actions, machine("A100-LUT-1X", 2, table_format="int8").tc.core
    lmma = 256 // 2 * (4096 // 64) * (4096 // 4)  # no padding at this shape
    assert a["instr.lmma"] == a["instr.ldw"] == lmma
    assert a["lut.lookup"] == a["acc.int32_add"] == a["acc.read"] == lmma * 2 * 64 * 2
    assert a["weight.write"] == lmma * 2 * 64 * 4
    assert a["table.write"] == a["instr.ldt"] * cfg.m * cfg.table_entries
    assert a["mem.read_words"] == (
        a["instr.ldt"] * cfg.table_fragment_words + lmma * cfg.weight_fragment_words
    )
    assert a["dram.read_bytes"] >= 256 * 1024 * 8 + 4096 * 4096 / 4
    assert a["dram.write_bytes"] == 256 * 4096 * 2
    assert run.bytes == {k: v for k, v in a.items() if k.endswith("_bytes")}


def test_action_counts_of_a_mac_kernel():
    run = simulate("A100-FP16", 64, 4096, 4096, wbits=4)
    a = run.actions
    assert a["mac.fp16"] >= 64 * 4096 * 4096
    assert a["mac.fp16"] == a["instr.mma"] * 16 * 8 * 16
    assert a["vec.dequant_op"] >= 4096 * 4096 and "lut.lookup" not in a


def test_output_is_complete_and_json():
    run = lut("H100-LUT-4X", 16, 4096, 4096, wbits=1, precompute="separate")
    data = json.loads(json.dumps(run.to_dict()))
    for key in ("cycles", "time_s", "latency_us", "utilization", "achieved_tops", "bytes",
                "actions", "compute_roof_tops", "memory_roof_tops", "tiling", "kernels"):  # fmt: skip
        assert key in data, key
    assert set(data["utilization"]) == {"compute", "tensor", "vector", "smem", "l2", "dram"}
    assert run.time_s == pytest.approx(run.cycles / 1830e6)
    assert [k["name"] for k in data["kernels"]] == ["precompute (separate)", "gemm"]
    assert run.cycles == sum(k["cycles"] for k in data["kernels"])


def test_other_formats_and_the_paper_clock():
    for kw in ({"wbits": 1.58}, {"wbits": 3}, {"act": "int8"}, {"act": "fp8_e4m3",
               "table_format": "int8"}, {"act": "int16"}):  # fmt: skip
        assert simulate("A100-LUT-4X", 64, 4096, 4096, **kw).cycles > 0, kw
    native = simulate("H100-FP8", 2048, 4096, 4096)
    normalized = simulate("H100-FP8", 2048, 4096, 4096, freq_mhz=1410)
    assert normalized.freq_mhz == 1410 and normalized.latency_us > native.latency_us


def test_presets_resolve():
    for name in PRESETS:
        assert simulate(name, 1, 2048, 2048).cycles > 0, name


# ---- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: simulate("X100-LUT-1X", 1, 1, 1),
         r"^unknown GPU preset 'X100-LUT-1X'; known: A100-LUT-1X, A100-LUT-4X, .*, H100-FP8$"),
        (lambda: simulate("A100-LUT-1X", 0, 4096, 4096),
         r"^GEMM size M must be a positive integer, not 0$"),
        (lambda: simulate("A100-LUT-1X", 1, 4096, -4),
         r"^GEMM size K must be a positive integer, not -4$"),
        (lambda: simulate("A100-FP16", 1, 2.5, 4096),
         r"^GEMM size N must be a positive integer, not 2\.5$"),
        (lambda: simulate("A100-LUT-1X", 1, 64, 64, wbits=5),
         r"^weight bits must be 1, 2, 3, 4 or 1\.58, not 5$"),
        (lambda: simulate("A100-LUT-1X", 1, 64, 64, regs=3),
         r"^register multiplier must be one of 1, 2, 4, 8, not 3$"),
        (lambda: simulate("A100-FP16", 1, 64, 64, act="int8"),
         r"^A100-FP16 computes on fp16 activations, not int8$"),
        (lambda: simulate("A100-LUT-1X", 1, 64, 64, act="fp32"),
         r"^act_format must be one of int8, int16, fp8_e4m3, fp8_e5m2, fp16, not 'fp32'$"),
        (lambda: simulate("A100-LUT-1X", 1, 64, 64, mode="slow"),
         r"^mode must be one of fast, detailed, not 'slow'$"),
        (lambda: simulate("A100-LUT-1X", 1, 64, 64, precompute="later"),
         r"^precompute must be one of fused, separate, none, not 'later'$"),
        (lambda: lut("A100-LUT-1X", 256, 4096, 4096, tiling=Tiling(256, 1024, 2, 2, 64, 2)),
         r"^warp tile 256x1024 needs 1054720 register bytes per tensor core; A100-LUT-1X has "
         r"65536 at 1x registers$"),
        (lambda: simulate("A100-LUT-1X", 64, 64, 64, tiling=Tiling(2, 64, 2, 1, 16, 2)),
         r"^tile has 2x1 warps; A100-LUT-1X needs one warp per tensor core, 4 in all$"),
        (lambda: simulate("A100-LUT-1X", 64, 64, 64, tiling=Tiling(3, 64, 1, 4, 16, 2)),
         r"^warp tile 3x64 is not a multiple of the 2x64 instruction tile of A100-LUT-1X$"),
        (lambda: simulate("A100-INT8", 64, 64, 64, tiling=Tiling(8, 16, 1, 4, 16, 2)),
         r"^k_step 16 is not a multiple of the instruction K = 32$"),
        (lambda: simulate("A100-LUT-1X", 64, 64, 64, tiling=Tiling(2, 64, 1, 4, 16, 1)),
         r"^a pipeline needs at least 2 stages, not 1$"),
        (lambda: simulate("A100-FP16", 64, 64, 4096, tiling=Tiling(64, 16, 4, 1, 256, 4)),
         r"^4 stages of 132096 bytes need 528384 bytes of shared memory; A100-FP16 has 166912 "
         r"per thread block$"),
        (lambda: simulate("A100-LUT-1X", *LLAMA2_13B, mode="detailed"),
         rf"^detailed mode would simulate \d+ tensor-core issue slots, more than max_slots = "
         rf"{DETAILED_SLOTS}; use the fast mode$"),
        (lambda: machine("A100-LUT-1X").with_sms(0), r"^SMs must be 1 to 108, not 0$"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- precompute and roofline helpers for whole models ------------------------------------------
def test_simulate_precompute_is_the_kernel_simulate_puts_first():
    run = simulate("A100-LUT-4X", 512, 4096, 4096, precompute="separate")
    alone = gpu.simulate_precompute("A100-LUT-4X", 512, 4096, how="separate")
    assert alone == run.kernels[0]
    fused = gpu.simulate_precompute("A100-LUT-4X", 512, 4096, how="fused")
    assert fused.cycles < alone.cycles
    assert gpu.simulate_precompute("A100-FP16", 512, 4096) is None
    assert gpu.simulate_precompute("A100-LUT-4X", 512, 4096, how="none") is None


def test_roofline_cycles():
    a100 = machine("A100-FP16").gpu
    flops_per_cycle = 2 * a100.sms * a100.mac_per_sm_per_cycle["fp16"]
    assert gpu.roofline_cycles("A100-FP16", 10 * flops_per_cycle, 0, unit="tensor") == 10
    lanes = a100.sms * a100.vector_lanes_per_sm
    assert gpu.roofline_cycles("A100-LUT-1X", 7 * lanes, 0) == 7
    assert gpu.roofline_cycles("A100-FP16", 1, 100 * a100.dram_bytes_per_cycle) == 100
    with pytest.raises(ValueError, match="^unit must be one of vector, tensor, not 'simd'$"):
        gpu.roofline_cycles("A100-FP16", 1, 1, unit="simd")
    with pytest.raises(ValueError, match="^flops must be a non-negative number, not -1$"):
        gpu.roofline_cycles("A100-FP16", -1, 1)


@pytest.mark.parametrize(
    ("preset", "wbits", "regs", "resident"),
    [("A100-LUT-4X", 1.58, 1, False), ("A100-LUT-8X", 2, 2, True), ("A100-FP16", 4, 1, True),
     ("H100-FP8", 8, 8, False), ("H100-LUT-1X", 1, 4, True)],
)  # fmt: skip
def test_most_stages_is_the_first_valid_plan_from_the_most_stages_down(preset, wbits, regs,
                                                                       resident):  # fmt: skip
    mach = machine(preset, wbits, None, regs, rows_resident=resident)

    def tried(m, n, k, tiling):
        for stages in range(4, 1, -1):
            try:
                return Plan(mach, m, n, k, dataclasses.replace(tiling, stages=stages)).t
            except ValueError:
                continue
        return None

    for m, n, k in [(1, 2560, 2560), (1024, 6912, 2560), (2048, 4096, 11008), (7, 100, 37)]:
        for warp_m, warp_n in [(16, 64), (64, 256), (128, 1024), (256, 512)]:
            for k_step in (16, 64, 256):
                for split, n_loop in [(1, 1), (4, 1), (1, 4), (2, 8)]:
                    tiling = Tiling(warp_m, warp_n, 2, 2, k_step, 4, split, n_loop)
                    plan = Plan.most_stages(mach, m, n, k, tiling, 4)
                    expected = tried(m, n, k, tiling)
                    assert (plan and plan.t) == expected, f"{tiling} on {m}x{n}x{k}"
