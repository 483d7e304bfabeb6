"""Benchmark: RTL simulation speed of one LUT core, Amaranth's simulator against Verilator.

    python benchmarks/bench_rtl.py [--config m2n64k4 --k 1024 --repeat 200 --rounds 3] [--json]

Both engines run the same long program: the tile program of a random ``M x N x K`` GEMM tile
(``--k`` along K; M and N from the configuration), on the same memory image. Amaranth runs it
once; Verilator runs it ``--repeat`` times in one process (one job each), best of ``--rounds``.
Build time is excluded: the Verilator executable is built (or fetched from the cache) first,
and Amaranth's elaboration is measured on an empty program and subtracted. Reported: cycles per
second of each (wall clock, and CPU time, which a busy machine disturbs less) and their ratio;
the goal is at least 100k cycles/s through Verilator. Both runs must end in the same memory and
take the cycles of the timing contract.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

from lutsim.hw.simulate import run_amaranth  # noqa: E402
from lutsim.hw.verilator import executable, run_verilator  # noqa: E402
from lutsim.isa.config import load_config  # noqa: E402
from lutsim.isa.gemm import lower, random_problem  # noqa: E402
from lutsim.isa.golden import precompute_tables, weight_indices  # noqa: E402
from lutsim.isa.timing import schedule  # noqa: E402

GOAL_CYCLES_PER_S = 100_000


def timed(fn):
    """``(wall s, CPU s of this process and its children, fn())``."""
    start, cpu = time.perf_counter(), _cpu()
    value = fn()
    return time.perf_counter() - start, _cpu() - cpu, value


def _cpu() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))  # fmt: skip
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="m2n64k4")
    parser.add_argument("--k", type=int, default=1024, help="K of the tile (default: 1024)")
    parser.add_argument("--repeat", type=int, default=200, help="Verilator jobs (default: 200)")
    parser.add_argument("--rounds", type=int, default=3, help="Verilator rounds (default: 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    problem = random_problem(cfg, cfg.m, cfg.n, args.k, seed=0)
    tables = precompute_tables(cfg, problem.a, problem.chunks)
    lowered = lower(cfg, problem, tables, weight_indices(cfg, problem.w))
    program, memory = lowered.program, lowered.memories[0]
    cycles = schedule(cfg, program).cycles

    build_s, _, _ = timed(lambda: executable(cfg))
    jobs = [(program, memory)] * args.repeat
    verilator_s, verilator_cpu, runs = min(
        (timed(lambda: run_verilator(cfg, jobs)) for _ in range(args.rounds)), key=lambda t: t[0]
    )
    setup_s, setup_cpu, _ = timed(lambda: run_amaranth(cfg, [([], memory[:1])]))
    amaranth_s, amaranth_cpu, (amaranth,) = timed(lambda: run_amaranth(cfg, [(program, memory)]))
    amaranth_s, amaranth_cpu = amaranth_s - setup_s, amaranth_cpu - setup_cpu

    assert all(run.cycles == cycles for run in runs) and amaranth.cycles == cycles
    assert all(np.array_equal(run.memory, amaranth.memory) for run in runs)
    verilator_rate = cycles * args.repeat / verilator_s
    amaranth_rate = cycles / amaranth_s
    result = {
        "benchmark": "RTL simulation speed: Amaranth simulator vs Verilator",
        "mnemonic": cfg.mnemonic,
        "program": {"instructions": len(program), "cycles": cycles, "k": args.k},
        "verilator_jobs": args.repeat,
        "verilator_cycles_per_s": round(verilator_rate),
        "amaranth_cycles_per_s": round(amaranth_rate),
        "verilator_cycles_per_cpu_s": round(cycles * args.repeat / verilator_cpu),
        "amaranth_cycles_per_cpu_s": round(cycles / amaranth_cpu),
        "ratio": round(verilator_rate / amaranth_rate, 1),
        "goal_verilator_cycles_per_s": GOAL_CYCLES_PER_S,
        "verilator_build_or_cache_s": round(build_s, 2),
        "amaranth_setup_s": round(setup_s, 2),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
