"""The fast mode against the detailed mode of the GPU model, over a grid of kernels.

    .venv/bin/python benchmarks/fast_vs_detailed.py [--sms 8] [--jobs 2]

Every preset of a grid (dense and dequantizing MAC presets, LUT presets on A100 and H100, with the
GPU's costs under load) runs every GEMM of a grid of shapes on a slice of ``--sms`` SMs (a few
SMs make several waves of CTAs, where the two modes differ most) in the fast mode, then in the
detailed mode with the fast mode's tiling. Prints the worst relative differences of the fast
mode's cycles and how many kernels are within 1 %. The tests hold a fixed subset of these
(``tests/sim/test_gpu.py``, ``tests/sim/test_gpu_costs.py``).
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor

from lutsim.sim.gpu import simulate_machine
from lutsim.sim.gpu_plan import Plan
from lutsim.sim.presets import machine

PRESETS = [("A100-FP16", 16, None), ("H100-FP16", 16, None), ("H100-FP8", 8, "e4m3"),
           ("A100-INT8", 8, "int8"), ("A100-LUT-4X", 2, None), ("H100-LUT-8X", 2, None),
           ("A100-FP16", 4, None), ("H100-FP8", 2, None)]  # fmt: skip
SHAPES = [(64, 1024, 2048), (256, 1024, 1024), (512, 3072, 2048), (1024, 1024, 1024),
          (2048, 1024, 512), (128, 4096, 4096), (100, 1000, 2000)]  # fmt: skip


def compare(job) -> tuple:
    """(preset, weight bits, M, N, K, CTAs, fast cycles, detailed cycles)."""
    (preset, bits, act), (m, n, k), sms = job
    table = "int8" if "LUT" in preset else None
    mach = machine(preset, bits, act, table_format=table)
    if sms:
        mach = mach.with_sms(min(sms, mach.gpu.sms))
    fast = simulate_machine(mach, m, n, k, precompute="separate")
    detailed = simulate_machine(mach, m, n, k, precompute="separate", mode="detailed",
                                tiling=fast.tiling)  # fmt: skip
    ctas = Plan(mach, m, n, k, fast.tiling).ctas
    return preset, bits, m, n, k, ctas, fast.cycles, detailed.cycles


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sms",
        type=int,
        default=8,
        help="SMs of the slice, at most the GPU's; 0: the whole GPU (default: 8)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes (default: 2)")
    parser.add_argument("--worst", type=int, default=12, help="kernels to list (default: 12)")
    args = parser.parse_args(argv)
    if args.sms < 0 or args.jobs < 1:
        parser.error("--sms must be 0 or more and --jobs 1 or more")
    jobs = [(p, s, args.sms) for p, s in itertools.product(PRESETS, SHAPES)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(compare, jobs))
    error = {r: (r[6] - r[7]) / r[7] for r in results}
    where = f"{args.sms} SMs" if args.sms else "the whole GPU"
    print(f"fast against detailed on {where}, {len(results)} kernels")
    for r in sorted(results, key=lambda r: -abs(error[r]))[: args.worst]:
        preset, bits, m, n, k, ctas, fast, detailed = r
        print(f"  {preset:<12} W{bits:<2} {m}x{n}x{k} ({ctas} CTAs): fast {fast} detailed "
              f"{detailed} ({100 * error[r]:+.2f} %)")  # fmt: skip
    within = sum(abs(e) <= 0.01 for e in error.values())
    print(f"within 1 %: {within} of {len(results)}; largest "
          f"{100 * max(abs(e) for e in error.values()):.2f} %")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
