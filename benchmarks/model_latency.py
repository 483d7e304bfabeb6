"""Whole-model latency on A100-like presets: LUT 1X/4X/8X against FP16 and INT8 MAC cores.

    python benchmarks/model_latency.py [--models llama2-7b,bitnet-b1.58-3b] [--gpu A100] [--json]

For each model (default quantization: W2 INT8 for LLaMA, ternary INT8 for BitNet): prefill
(batch 1, 2048 tokens) and decode (1 new token per sequence, context 2048) at batch 1 to 4096.
Per preset: the linear layers (GEMMs + table precompute, the part the tensor core changes), the
precompute alone fused and separate, and the whole pass (attention, LM head and element-wise
work by their rooflines; see :mod:`lutsim.reports.latency`). For a mixture-of-experts model
(e.g. ``--models mixtral-8x7b,qwen3-30b-a3b``) also the linear layers with one kernel per expert
GEMM instead of one grouped GEMM per layer and projection (``per-expert us``). Times in
microseconds; the wall time of the whole table is printed last. Memory capacity is not modeled:
at large batch the KV cache of a 2048-token context exceeds any one GPU, so the totals there are
rooflines of the traffic, not a deployment."""

from __future__ import annotations

import argparse
import json
import sys
import time

from lutsim.compiler import load_model
from lutsim.reports.latency import decode, model_latency, prefill

BATCHES = (1, 16, 256, 1024, 4096)


def rows(model: str, gpu: str) -> list[dict]:
    presets = [f"{gpu}-LUT-1X", f"{gpu}-LUT-4X", f"{gpu}-LUT-8X", f"{gpu}-FP16", f"{gpu}-INT8"]
    out = []
    moe = load_model(model).moe
    for phase in (prefill(2048), *(decode(b, 2048) for b in BATCHES)):
        base = None
        for preset in presets:
            fused = model_latency(model, preset, phase)
            separate = model_latency(model, preset, phase, precompute="separate")
            linear = fused.us["gemm"] + fused.us["precompute"]
            if preset.endswith("FP16"):
                base = (linear, fused.total_us)
            alone = None
            if moe:  # one kernel per expert GEMM instead of one grouped GEMM
                run = model_latency(model, preset, phase, grouped=False)
                alone = run.us["gemm"] + run.us["precompute"]
            out.append({
                "model": model, "phase": phase.name, "batch": phase.batch, "preset": preset,
                "linear_us": linear, "gemm_us": fused.us["gemm"],
                "linear_per_expert_us": alone,
                "precompute_fused_us": fused.us["precompute"],
                "precompute_separate_us": separate.us["precompute"],
                "precompute_share_fused": fused.precompute_share,
                "precompute_share_separate": separate.precompute_share,
                "total_us": fused.total_us, "total_separate_us": separate.total_us,
            })  # fmt: skip
        for row in out[-len(presets) :]:
            row["linear_speedup_vs_fp16"] = base[0] / row["linear_us"]
            row["total_speedup_vs_fp16"] = base[1] / row["total_us"]
    return out


def markdown(table: list[dict]) -> str:
    head = ("model", "phase", "batch", "preset", "linear us", "per-expert us", "x FP16",
            "precompute fused %", "precompute separate %", "total us", "x FP16 total")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table:
        alone = r["linear_per_expert_us"]
        cells = (r["model"], r["phase"], str(r["batch"]), r["preset"], f"{r['linear_us']:.4g}",
                 "-" if alone is None else f"{alone:.4g}", f"{r['linear_speedup_vs_fp16']:.2f}",
                 f"{100 * r['precompute_share_fused']:.1f}",
                 f"{100 * r['precompute_share_separate']:.1f}", f"{r['total_us']:.4g}",
                 f"{r['total_speedup_vs_fp16']:.2f}")  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="llama2-7b,bitnet-b1.58-3b")
    parser.add_argument("--gpu", default="A100")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    table = [row for model in args.models.split(",") for row in rows(model, args.gpu)]
    wall = time.perf_counter() - start
    if args.json:
        print(json.dumps({"rows": table, "wall_s": wall}))
    else:
        print(markdown(table))
        print(f"\n{len(table)} rows in {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
