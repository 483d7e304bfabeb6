"""Benchmark: speed of the SimPy core model on a long tile program.

    python benchmarks/bench_sim_core.py [--config m2n64k4 --groups 1024 --stalls 0.0] [--json]

The program is the GEMM tile program of one M x N output tile over K = groups x k
(``zacc``, then ``ldt``/``ldw``/``lmma`` per group, then ``sta``) on the memory image of a random
problem, values included. Reported: the best of ``--repeat`` runs, SimPy events per second,
LMMA instructions per second, all instructions and simulated cycles per second. The run's
cycles are checked against ``isa.timing.schedule``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import simpy

from lutsim.isa.config import load_config
from lutsim.isa.gemm import lower, random_problem
from lutsim.isa.golden import precompute_tables, weight_indices
from lutsim.isa.timing import Stalls, schedule
from lutsim.sim.core import run_core


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="m2n64k4")
    parser.add_argument("--groups", type=int, default=1024, help="K groups of the tile program")
    parser.add_argument("--stalls", type=float, default=0.0, help="probability of each stall")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    problem = random_problem(cfg, cfg.m, cfg.n, args.groups * cfg.k, seed=0)
    tables = precompute_tables(cfg, problem.a, problem.chunks)
    lowered = lower(cfg, problem, tables, weight_indices(cfg, problem.w))
    program, memory = lowered.program, lowered.memories[0]
    horizon = 2 * schedule(cfg, program).cycles
    stalls = Stalls.random(0, horizon, args.stalls) if args.stalls else None
    expected = schedule(cfg, program, stalls).cycles

    best, run = float("inf"), None
    for _ in range(args.repeat):
        start = time.perf_counter()
        run = run_core(cfg, program, memory, stalls)
        best = min(best, time.perf_counter() - start)
    if run.cycles != expected:
        raise SystemExit(f"cycle model: {run.cycles} cycles != {expected} (schedule)")
    lmma = run.actions["instr.lmma"]
    result = {
        "benchmark": "SimPy core model, one tile program",
        "mnemonic": cfg.mnemonic,
        "groups": args.groups,
        "stall_probability": args.stalls,
        "instructions": len(program),
        "lmma_instructions": lmma,
        "cycles": run.cycles,
        "events": run.events,
        "best_s": round(best, 4),
        "events_per_s": round(run.events / best),
        "lmma_per_s": round(lmma / best),
        "instructions_per_s": round(len(program) / best),
        "cycles_per_s": round(run.cycles / best),
        "simpy": simpy.__version__,
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
