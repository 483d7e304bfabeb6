"""Benchmark: the GPU-scale model's speed, and the LUT-vs-MAC table it produces.

    python benchmarks/bench_sim_gpu.py [--gpu A100] [--json]

1. Detailed mode: SimPy events per second and LMMA instructions per second on one kernel
   (A100-LUT-1X, W2, 8 x 4096 x 4096), with the fast mode's cycles beside it.
2. Fast mode: every linear layer of one LLaMA-2-7B decode step (QKV, O, gate, up, down in each
   of the 32 layers) at batch 1 and batch 1024 on A100-LUT-4X (W2, FP16 activations, INT8
   tables, precompute fused); goal: at most 10 s for both.
3. The LUT-vs-MAC table, fast mode: the LLaMA-2-13B FFN shape M=2048 N=27648 K=5120 and the
   13B decode GEMVs (batch 1), for W1/W2/W4, LUT arrays 1X/4X/8X and registers 1x/2x, against
   the GPU's FP16 and INT8 (and on H100 FP8) tensor cores with dequantization.

Model shapes from the published ``config.json`` of meta-llama/Llama-2-7b-hf (hidden 4096,
intermediate 11008, 32 layers, 32 heads, 32 KV heads) and meta-llama/Llama-2-13b-hf (hidden
5120, intermediate 13824, 40 layers, 40 heads, 40 KV heads).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import simpy

from lutsim.sim.gpu import simulate
from lutsim.sim.presets import GPUS

LLAMA2_7B = {"hidden": 4096, "intermediate": 11008, "layers": 32, "heads": 32, "kv_heads": 32}
LLAMA2_13B = {"hidden": 5120, "intermediate": 13824, "layers": 40, "heads": 40, "kv_heads": 40}
FFN_13B = (2048, 2 * LLAMA2_13B["intermediate"], LLAMA2_13B["hidden"])  # gate and up, 2048 tokens


def linears(model: dict, tokens: int) -> list[tuple[str, tuple[int, int, int]]]:
    """The linear layers of one transformer layer as (name, (M, N, K))."""
    h, f = model["hidden"], model["intermediate"]
    kv = h * model["kv_heads"] // model["heads"]
    return [
        ("qkv", (tokens, h + 2 * kv, h)),
        ("o", (tokens, h, h)),
        ("gate", (tokens, f, h)),
        ("up", (tokens, f, h)),
        ("down", (tokens, h, f)),
    ]


def bench_detailed(gpu: str) -> dict:
    preset, shape = f"{gpu}-LUT-1X", (8, 4096, 4096)
    fast = simulate(preset, *shape, wbits=2, table_format="int8", precompute="none")
    start = time.perf_counter()
    run = simulate(preset, *shape, wbits=2, table_format="int8", precompute="none",
                   mode="detailed", tiling=fast.tiling)  # fmt: skip
    wall = time.perf_counter() - start
    return {
        "preset": preset,
        "shape": shape,
        "tiling": fast.tiling.text(),
        "cycles_detailed": run.cycles,
        "cycles_fast": fast.cycles,
        "events": run.events,
        "lmma_instructions": int(run.actions["instr.lmma"]),
        "wall_s": round(wall, 3),
        "events_per_s": round(run.events / wall),
        "lmma_per_s": round(run.actions["instr.lmma"] / wall),
    }


def bench_decode_step(gpu: str) -> dict:
    preset = f"{gpu}-LUT-4X"
    result = {"preset": preset, "model": "LLaMA-2-7B", "layers": LLAMA2_7B["layers"]}
    start = time.perf_counter()
    for batch in (1, 1024):
        total_us, gemms = 0.0, 0
        per_layer = {}
        for _ in range(LLAMA2_7B["layers"]):
            for name, shape in linears(LLAMA2_7B, batch):
                run = simulate(preset, *shape, wbits=2, table_format="int8", precompute="fused")
                total_us += run.latency_us
                per_layer[name] = round(run.latency_us, 2)
                gemms += 1
        result[f"batch_{batch}"] = {
            "gemms": gemms,
            "linear_time_us": round(total_us, 1),
            "per_layer_us": per_layer,
        }
    result["wall_s"] = round(time.perf_counter() - start, 3)
    result["goal_s"] = 10.0
    return result


def bench_table(gpu: str) -> dict:
    h, f = LLAMA2_13B["hidden"], LLAMA2_13B["intermediate"]
    shapes = {
        "13B FFN 2048x27648x5120": FFN_13B,
        "decode QKV 1x15360x5120": (1, 3 * h, h),
        "decode O 1x5120x5120": (1, h, h),
        "decode gate+up 1x27648x5120": (1, 2 * f, h),
        "decode down 1x5120x13824": (1, h, f),
    }
    macs = [fmt.upper() for fmt, _ in GPUS[gpu].macs]
    rows = []
    start = time.perf_counter()
    for bits in (1, 2, 4):
        baseline = simulate(f"{gpu}-FP16", *FFN_13B, wbits=bits).latency_us
        configs = [(f"LUT-{a}X", r) for a in (1, 4, 8) for r in (1, 2)] + [(m, 1) for m in macs]
        for core, regs in configs:
            preset = f"{gpu}-{core}"
            kw = {"table_format": "int8"} if core.startswith("LUT") else {}
            row = {"tensor core": core, "W": bits, "regs": f"{regs}x"}
            for name, shape in shapes.items():
                run = simulate(preset, *shape, wbits=bits, regs=regs, **kw)
                row[f"{name} us"] = run.latency_us
                if shape == FFN_13B:
                    row["x FP16"] = baseline / run.latency_us
                    row["compute %"] = 100 * run.utilization["compute"]
                    row["bound"] = run.gemm.bound
            rows.append(row)
    return {"gpu": gpu, "rows": rows, "wall_s": round(time.perf_counter() - start, 3)}


def markdown(rows: list[dict]) -> str:
    def cell(value):
        if isinstance(value, float):
            return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
        return str(value)

    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(row[key]) for key in head) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", default="A100", choices=list(GPUS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = {
        "benchmark": "GPU-scale model",
        "detailed": bench_detailed(args.gpu),
        "decode_step": bench_decode_step(args.gpu),
        "table": bench_table(args.gpu),
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    d = result["detailed"]
    print(f"detailed mode, {d['preset']} W2 {'x'.join(map(str, d['shape']))} ({d['tiling']}):")
    print(f"  {d['events']} events, {d['lmma_instructions']} LMMA in {d['wall_s']} s: "
          f"{d['events_per_s']} events/s, {d['lmma_per_s']} LMMA/s; "
          f"cycles {d['cycles_detailed']} (fast mode {d['cycles_fast']})")  # fmt: skip
    s = result["decode_step"]
    print(f"fast mode, {s['model']} decode step linears on {s['preset']} W2 (fused precompute):")
    for batch in (1, 1024):
        b = s[f"batch_{batch}"]
        print(f"  batch {batch}: {b['gemms']} GEMMs, {b['linear_time_us']} us; per layer "
              + ", ".join(f"{k} {v} us" for k, v in b["per_layer_us"].items()))  # fmt: skip
    print(f"  wall {s['wall_s']} s (goal <= {s['goal_s']} s)")
    t = result["table"]
    print(f"\nLUT vs MAC on {t['gpu']}, fast mode, latency in us ({t['wall_s']} s):\n")
    print(markdown(t["rows"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
