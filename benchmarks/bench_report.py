"""Benchmark: the main job (``lutsim report`` on its built-in defaults) from an empty cache, then
again warm, each phase timed: simulate (the models on the GPU presets), synthesize (every design,
on the local processes), assemble (the tables from the synthesized results).

    python benchmarks/bench_report.py [--jobs 2] [--cache DIR] [--warm-only] [--json] [-- ARGS]

Without ``--cache`` the synthesis cache is a new temporary directory (``$LUTSIM_CACHE``), removed
at the end, so the first run is cold whatever ran before; ``--cache DIR`` keeps it (and, if DIR
already holds results, the first run is not cold). ARGS after ``--`` go to ``lutsim report``
(e.g. ``-- --set n=4 --levels dp4``). Prints each run's phases and its slowest designs (the
seconds of each step of :func:`lutsim.reports.flow.synth.synthesize`). Goals: cold within
:data:`COLD_GOAL_S`, warm within :data:`WARM_GOAL_S`, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLD_GOAL_S = 600.0
WARM_GOAL_S = 30.0


def run(out: Path, cache: Path, jobs: int, extra: list[str]) -> dict:
    """One ``lutsim report`` into ``out`` with the cache at ``cache``: wall time and phases."""
    env = {**os.environ, "LUTSIM_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "lutsim", "report", "--out", str(out), "--jobs", str(jobs),
           "--quiet", *extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"lutsim report failed (exit {done.returncode}): {done.stderr.strip()}")
    took = json.loads((out / "report.json").read_text())["timing_s"]
    return {"wall_s": wall, **{k: took[k] for k in ("simulation", "synthesis", "assembly",
                                                    "designs", "workers", "slowest")}}  # fmt: skip


def show(name: str, r: dict, goal: float) -> None:
    verdict = "within" if r["wall_s"] <= goal else "OVER"
    print(f"{name}: {r['wall_s']:.1f} s wall ({verdict} the {goal:.0f} s goal): simulate "
          f"{r['simulation']:.1f} s, synthesize {r['synthesis']:.1f} s ({r['designs']} designs "
          f"on {r['workers']} processes), assemble {r['assembly']:.1f} s")  # fmt: skip
    for s in r["slowest"][:5]:
        steps = ", ".join(f"{k} {v:.1f}" for k, v in s["seconds"].items() if k != "total")
        print(f"  {s['design']} {s['mnemonic']}: {s['seconds'].get('total', 0):.1f} s ({steps})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cache", type=Path, help="synthesis cache to use and keep")
    ap.add_argument("--warm-only", action="store_true", help="skip the cold run (needs --cache)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("extra", nargs="*", help="arguments for lutsim report (after --)")
    args = ap.parse_args()
    if args.warm_only and args.cache is None:
        ap.error("--warm-only needs --cache")
    work = Path(tempfile.mkdtemp(prefix="bench-report."))
    cache = args.cache or work / "cache"
    try:
        runs = {}
        if not args.warm_only:
            runs["cold"] = run(work / "cold", cache, args.jobs, args.extra)
        runs["warm"] = run(work / "warm", cache, args.jobs, args.extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {"machine": f"{platform.node()} ({os.cpu_count()} CPUs)", **runs}
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"lutsim report {' '.join(args.extra) or '(defaults)'} on {figures['machine']}")
    for name, r in runs.items():
        show(name, r, COLD_GOAL_S if name == "cold" else WARM_GOAL_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
