"""``lutsim gemm --impl sim`` and ``lutsim simulate``, run as a user runs them (subprocess)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lutsim.isa import gemm
from lutsim.isa.config import load_config
from lutsim.isa.golden import reference
from lutsim.isa.timing import schedule
from lutsim.sim import gpu, presets
from tests.lutsim.test_cli import fails, ok, run, usage_error


# ---- gemm --impl sim -------------------------------------------------------------------------
def test_gemm_sim_json_matches_contract_and_reference(tmp_path):
    cfg = load_config("m2n64k4")
    problem = gemm.random_problem(cfg, 3, 70, 40, group=20, seed=4)
    gemm.save_npz(problem, tmp_path / "in.npz")
    args = ("gemm", "--inputs", "in.npz", "--out", "o.npz", "--impl", "sim", "--json")
    summary = json.loads(ok(run(tmp_path, *args)))
    assert (summary["impl"], summary["ok"], summary["tiles"]) == ("sim", True, 4)
    program = gemm.tile_program(cfg, 10, 2)
    assert summary["cycles"] == summary["contract_cycles"] == 4 * schedule(cfg, program).cycles
    assert summary["cycle_residual"] == 0
    assert summary["issue_cycles"] == {
        op: {"min": cfg.latency_cycles[op], "max": cfg.latency_cycles[op]}
        for op in ("zacc", "ldt", "ldw", "lmma", "sta")
    }
    lmmas = sum(instr.op == "lmma" for instr in program)
    actions = summary["actions"]
    assert actions["instr.lmma"] == 4 * lmmas
    assert actions["lut.lookup"] == 4 * lmmas * cfg.m * cfg.n * cfg.weight_bits
    _, dots = reference(cfg, problem.a, problem.w, problem.scale, problem.zero)
    with np.load(tmp_path / "o.npz") as out:
        np.testing.assert_array_equal(out["acc"], dots)


def test_gemm_sim_text(tmp_path):
    cfg = load_config("m2n64k4-w2-fp16")
    gemm.save_npz(gemm.random_problem(cfg, 2, 64, 8, seed=1), tmp_path / "in.npz")
    args = ("gemm", "--inputs", "in.npz", "--out", "o.npz", "--impl", "sim")
    lines = ok(run(tmp_path, *args, "--config", "m2n64k4-w2-fp16")).splitlines()
    cycles = schedule(cfg, gemm.tile_program(cfg, 2, 1)).cycles
    assert lines[0] == f"{cfg.mnemonic}  impl sim  MxNxK 2x64x8  group channel"
    assert lines[1] == f"instructions 8  cycles {cycles}  tiles 1"
    assert lines[3].startswith(f"timing: contract {cycles} cycles, residual 0; ")
    assert lines[4].startswith("actions: instr.issue 8  ")
    assert lines[-1] == "wrote o to o.npz"  # float accumulators are not written


def test_gemm_sim_refuses_vcd(tmp_path):
    gemm.save_npz(gemm.random_problem(load_config(), 2, 64, 8, seed=1), tmp_path / "in.npz")
    result = run(
        tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--impl", "sim", "--vcd", "w"
    )
    fails(result, 2, "--vcd needs an RTL impl (rtl or rtl-amaranth), not 'sim'")


# ---- simulate ------------------------------------------------------------------------------
def test_simulate_text(tmp_path):
    lines = ok(run(tmp_path, "simulate", "--preset", "A100-LUT-4X", "--gemm", "256,4096,4096",
                   "--wbits", "1.58")).splitlines()  # fmt: skip
    direct = gpu.simulate("A100-LUT-4X", 256, 4096, 4096, wbits=1.58)
    assert lines[0].startswith("A100-LUT-4X  A100-LUT-4X W1.58 fp16 regs 1x LUT-4X ")
    assert lines[0].endswith("  MxNxK 256x4096x4096  mode fast")
    assert lines[1] == f"tiling: {direct.tiling.text()}"
    assert lines[2].startswith(f"cycles {direct.cycles}  time {direct.latency_us:.4g} us at 1410")
    head = ["kernel", "cycles", "fixed", "limit", *(f"util.{r}" for r in gpu.RESOURCES)]
    assert lines[4].split() == head
    assert lines[5].startswith("precompute (fused)") and lines[6].startswith("gemm ")
    assert lines[6].split()[1:4] == [
        str(direct.gemm.cycles),
        str(direct.gemm.fixed_cycles),
        direct.gemm.bottleneck["limit"],
    ]
    assert lines[7] == f"precompute (fused): {direct.kernels[0].bottleneck['text']}"
    assert lines[8] == f"gemm: {direct.gemm.bottleneck['text']}"
    assert lines[9].startswith("bytes moved: ") and "dram.read_bytes" in lines[9]
    assert lines[10].startswith("actions: ") and "lut.lookup" in lines[10]


def test_simulate_ideal_and_resident_rows(tmp_path):
    args = ["simulate", "--preset", "A100-LUT-8X", "--gemm", "1024,3200,3200", "--wbits", "1.58",
            "--act", "int8", "--json"]  # fmt: skip
    ideal = json.loads(ok(run(tmp_path, *args, "--ideal")))
    kept = json.loads(ok(run(tmp_path, *args, "--rows-resident")))
    assert ideal["kernels"][-1]["fixed_cycles"] == 0
    direct = gpu.simulate("A100-LUT-8X", 1024, 3200, 3200, wbits=1.58, act="int8",
                          rows_resident=True)  # fmt: skip
    assert kept["cycles"] == direct.cycles and kept["tiling"] == direct.tiling.to_dict()


def test_simulate_dense_baselines(tmp_path):
    for preset, wbits, act in (("H100-FP16", "16", "fp16"), ("H100-FP16", "16", "bf16"),
                               ("A100-INT8", "8", "int8"), ("H100-FP8", "8", "e4m3")):  # fmt: skip
        out = ok(run(tmp_path, "simulate", "--preset", preset, "--gemm", "16,4096,4096",
                     "--wbits", wbits, "--act", act, "--json"))  # fmt: skip
        data = json.loads(out)
        assert f"W{wbits} dense" in data["label"], data["label"]
        assert data["actions"]["vec.dequant_op"] == 0
    fails(
        run(tmp_path, "simulate", "--preset", "A100-FP16", "--gemm", "1,2,3", "--wbits", "8"),
        1,
        "A100-FP16 takes weight bits 1, 2, 3, 4 or 1.58 (dequantized) or 16 (dense), not 8",
    )
    fails(
        run(
            tmp_path,
            "simulate",
            "--preset",
            "H100-FP8",
            "--gemm",
            "1,2,3",
            "--wbits",
            "8",
            "--act",
            "int8",
        ),
        1,
        "H100-FP8 runs dense W8 models on fp8_e4m3 or fp8_e5m2 activations, not int8",
    )
    fails(run(tmp_path, "simulate", "--preset", "A100-LUT-8X", "--gemm", "1,2,3", "--wbits",
              "16"), 1, "weight bits must be 1, 2, 3, 4 or 1.58, not 16")  # fmt: skip


@pytest.mark.parametrize("preset", ["A100-LUT-1X", "H100-FP8", "A100-INT8"])
def test_simulate_json_is_the_library_run(tmp_path, preset):
    args = ["simulate", "--preset", preset, "--gemm", "64,2048,1024", "--mode", "detailed"]
    summary = json.loads(ok(run(tmp_path, *args, "--json", "--clock-mhz", "1000")))
    direct = gpu.simulate(preset, 64, 2048, 1024, mode="detailed", freq_mhz=1000).to_dict()
    assert {k: v for k, v in summary.items() if k != "wall_s"} == {
        k: v for k, v in direct.items() if k != "wall_s"
    }
    assert summary["freq_mhz"] == 1000
    assert summary["cycles"] == sum(kernel["cycles"] for kernel in summary["kernels"])
    assert summary["achieved_tops"] <= summary["compute_roof_tops"]
    assert summary["gemm_tops"] <= summary["memory_roof_tops"] * 1.0001


def test_simulate_list_presets(tmp_path):
    names = ok(run(tmp_path, "simulate", "--list-presets")).split()
    assert "A100-LUT-4X" in names and "H100-FP8" in names and len(names) == len(set(names))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "B200-LUT-1X", "--gemm", "1,2,3"],
         "unknown GPU preset 'B200-LUT-1X'; known: " + ", ".join(presets.preset_names())),
        (["--preset", "A100-LUT-1X", "--gemm", "0,64,64"],
         "GEMM size M must be a positive integer, not 0"),
        (["--preset", "A100-LUT-1X", "--gemm", "64,64,64", "--tile", "64,64,1,1,64,2"],
         "tile has 1x1 warps; A100-LUT-1X needs one warp per tensor core, 4 in all"),
        (["--preset", "A100-LUT-1X", "--gemm", "64,64,64", "--tile", "2,64,2,2,6,2"],
         "k_step 6 is not a multiple of the instruction K = 4"),
        (["--preset", "A100-LUT-1X", "--gemm", "64,64,64", "--tile", "512,512,2,2,64,2"],
         "warp tile 512x512 needs 1065984 register bytes per tensor core; A100-LUT-1X has "
         "65536 at 1x registers"),
        (["--preset", "A100-LUT-1X", "--gemm", "64,64,64", "--regs", "3"],
         "register multiplier must be one of 1, 2, 4, 8, not 3"),
        (["--preset", "A100-FP16", "--gemm", "64,64,64", "--act", "int8"],
         "A100-FP16 computes on fp16 activations, not int8"),
        (["--preset", "A100-LUT-1X", "--gemm", "4096,4096,4096", "--mode", "detailed"],
         "detailed mode would simulate 134217728 tensor-core issue slots, more than "
         "max_slots = 5000000; use the fast mode"),
        (["--preset", "A100-LUT-1X", "--gemm", "64,64,64", "--clock-mhz", "-5"],
         "clock must be 1 to 100000 MHz, not -5.0"),
    ],
)  # fmt: skip
def test_simulate_bad_input(tmp_path, args, message):
    fails(run(tmp_path, "simulate", *args), 1, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gemm", "1,2,3"], "simulate needs --preset P and --gemm M,N,K (or --list-presets)"),
        (["--preset", "A100-LUT-1X", "--gemm", "1x2x3"],
         "--gemm takes M,N,K (three positive integers), not '1x2x3'"),
        (["--preset", "A100-LUT-1X", "--gemm", "1,2,3", "--wbits", "5"],
         "--wbits must be one of 1, 2, 3, 4, 1.58, 8, 16, not '5'"),
        (["--preset", "A100-LUT-1X", "--gemm", "1,2,3", "--tile", "1,1"],
         "--tile takes WARP_M,WARP_N,WARPS_M,WARPS_N,K_STEP,STAGES[,SPLIT_K] (positive "
         "integers), not '1,1'"),
    ],
)  # fmt: skip
def test_simulate_usage(tmp_path, args, message):
    assert usage_error(run(tmp_path, "simulate", *args)) == message
