"""Benchmark: a 100-point design-space sweep on a local pool, then the same sweep fully cached.

    python benchmarks/bench_sweep.py [--workers 2] [--out DIR] [--synth] [--json]

The sweep: 5 GPU presets (A100 with LUT-1X/4X/8X arrays, and the A100's FP16 and INT8 tensor
cores) x register multipliers 1/2/4/8 x 5 token counts M (1, 16, 256, 2048, 8192) of the
LLaMA-2-13B FFN gate+up GEMM (N = 2 x 13824, K = 5120, from the model's published
config.json), W2 weights, INT8 activations through INT8 tables, metrics ``core`` and ``sim``
(fast mode). With ``--synth`` (needs ``lutsim.reports.flow.synth``) the ``synth`` metric too: every point
shares one core (the integer M2N64K4 core), so there is one synthesis (about 2 to 5 minutes
here when the cache of :mod:`lutsim.reports.flow.synth` is cold). Goal: the first run within 10 minutes on
2 cores. The second run finds every point in ``DIR/points`` and computes nothing. Without
``--out`` the results go to a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

from lutsim.reports.sweep.engine import parse_spec, run_sweep

GOAL_S = 600.0
SPEC = {
    "name": "bench-100",
    "seed": 0,
    "metrics": ["core", "sim"],
    "base": {
        "weight_bits": 2,
        "act_format": "int8",
        "table_format": "int8",
        "gemm_n": 27648,
        "gemm_k": 5120,
    },
    "grid": {
        "preset": ["A100-LUT-1X", "A100-LUT-4X", "A100-LUT-8X", "A100-FP16", "A100-INT8"],
        "regs": [1, 2, 4, 8],
        "gemm_m": [1, 16, 256, 2048, 8192],
    },
}


def bench(out: Path, workers: int, synth: bool) -> dict:
    data = {**SPEC, "metrics": SPEC["metrics"] + (["synth"] if synth else [])}
    spec = parse_spec(data, "bench_sweep")
    assert len(spec.points) == 100, len(spec.points)
    first = run_sweep(spec, out, workers=workers)
    cached = run_sweep(spec, out, workers=workers)
    if first.failed or cached.computed:
        raise SystemExit(f"unexpected: {first.summary()}; then {cached.summary()}")
    return {
        "points": first.points,
        "workers": workers,
        "metrics": data["metrics"],
        "first": {
            "summary": first.summary(),
            "wall_s": first.wall_s,
            "points_per_s": first.computed / first.wall_s,
        },  # fmt: skip
        "cached": {"summary": cached.summary(), "wall_s": cached.wall_s},
        "goal_s": GOAL_S,
        "within_goal": first.wall_s <= GOAL_S,
        "python": platform.python_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="local processes (default: 2)")
    parser.add_argument("--out", type=Path, help="results directory (default: a temporary one)")
    parser.add_argument("--synth", action="store_true", help="add the synth metric")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        out = args.out or Path(tmp) / "out"
        if args.out is not None and (out / "points").exists() and any((out / "points").iterdir()):
            raise SystemExit(f"{out}/points is not empty: the first run would not compute")
        result = bench(out, args.workers, args.synth)
    if args.json:
        print(json.dumps(result))
        return 0
    first, cached = result["first"], result["cached"]
    print(f"sweep of {result['points']} points ({', '.join(result['metrics'])}) "
          f"on {result['workers']} local workers")  # fmt: skip
    print(f"first run:  {first['wall_s']:7.1f} s  {first['points_per_s']:.2f} points/s  "
          f"(goal <= {GOAL_S:.0f} s: {'met' if result['within_goal'] else 'MISSED'})")  # fmt: skip
    print(f"cached run: {cached['wall_s']:7.1f} s  ({cached['summary']})")
    return 0 if result["within_goal"] else 1


if __name__ == "__main__":
    sys.exit(main())
