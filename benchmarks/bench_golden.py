"""Benchmark: the vectorized LUT golden model against dequantize-and-matmul, in one run.

    python benchmarks/bench_golden.py [--m 64 --n 4096 --k 4096 --repeat 3] [--json]

Both sides compute the same W2 x INT8 GEMM (per-channel scale and zero point). The LUT side is
the whole algorithm: table precompute, bit planes with offline inversion, lookups with negation,
shift-and-accumulate in int32, and the epilogue. The reference dequantizes the weights to float64
and calls ``np.matmul``. Reported: the best of ``--repeat`` runs of each, and their ratio; the
goal is a ratio within 4. The largest difference between the two results (float64 rounding
of the reference) is printed too.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from lutsim.isa.config import load_config
from lutsim.isa.gemm import lut_gemm, random_problem


def best_of(repeat: int, fn):
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=64)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--config", default="m2n64k4-w2-int8")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    problem = random_problem(cfg, args.m, args.n, args.k, seed=0)

    def dequantize_matmul():
        weights = problem.scale * (problem.w - problem.zero)  # per-channel [N, 1] broadcasts
        return problem.a @ weights.T

    ref_s, ref = best_of(args.repeat, dequantize_matmul)
    lut_s, (o, _, _) = best_of(args.repeat, lambda: lut_gemm(cfg, problem))
    max_abs = float(np.abs(o - ref).max())
    result = {
        "benchmark": "golden LUT GEMM vs dequantize + np.matmul",
        "mnemonic": cfg.mnemonic,
        "shape": {"m": args.m, "n": args.n, "k": args.k},
        "lut_s": round(lut_s, 4),
        "reference_s": round(ref_s, 4),
        "ratio": round(lut_s / ref_s, 2),
        "goal_ratio": 4.0,
        "max_abs_difference": max_abs,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
