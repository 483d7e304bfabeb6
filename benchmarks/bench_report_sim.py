"""Benchmark: the simulation phase of ``lutsim report`` on its defaults, part by part.

    python benchmarks/bench_report_sim.py [--models M ...] [--profile N] [--cache DIR] [--dump F]

The parts, as :func:`lutsim.reports.report.build_report` runs them: the latency rows (every
model x phase x preset, with a ``precompute="separate"`` run on LUT presets), the FP16 model of
every model x phase, :func:`lutsim.reports.latency.table1` and
:func:`lutsim.reports.latency.scaling_study`. Prints the seconds of each part and the total.

``$LUTSIM_CACHE`` is a new temporary directory unless ``--cache DIR`` is given (then it is kept,
and the run is warm if DIR already holds results). ``--profile N`` prints the N costliest
functions by cumulative time (cProfile). Goal: :data:`WARM_GOAL_S` with a warm cache.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

WARM_GOAL_S = 20.0


def parts(spec) -> dict[str, callable]:
    """The four parts of the simulation phase of ``spec``'s report, as report.py runs them."""
    from lutsim.reports.latency import model_latency, scaling_study, table1

    def latency_rows():
        rows = []
        for model in spec.models:
            for phase in spec.phases:
                for preset in spec.presets:
                    fused = model_latency(model, preset, phase)
                    row = {"fused": fused.to_dict()}
                    if fused.precompute != "none":
                        row["separate"] = model_latency(
                            model, preset, phase, precompute="separate"
                        ).to_dict()
                    rows.append(row)
        return rows

    def fp16_rows():
        return [
            model_latency(model, f"{spec.gpu}-FP16", phase, dense=True).to_dict()
            for model in spec.models
            for phase in spec.phases
        ]

    return {"latency rows": latency_rows, "FP16 rows": fp16_rows, "table1": table1,
            "scaling_study": scaling_study}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", help="models (default: the report's)")
    ap.add_argument("--cache", type=Path, help="$LUTSIM_CACHE to use and keep")
    ap.add_argument("--dump", type=Path, help="write every part's results to this JSON file")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="print the N costliest functions (cumulative)")  # fmt: skip
    args = ap.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="lutsim-bench-sim-"))
    os.environ["LUTSIM_CACHE"] = str(cache)
    from lutsim.reports.report import ReportSpec

    spec = ReportSpec()
    if args.models:
        spec = dataclasses.replace(spec, models=tuple(args.models))
    profile = cProfile.Profile() if args.profile else None
    took, results = {}, {}
    try:
        for name, part in parts(spec).items():
            start = time.perf_counter()
            results[name] = profile.runcall(part) if profile else part()
            took[name] = time.perf_counter() - start
            print(f"{name:14s} {took[name]:7.2f} s", flush=True)
    finally:
        if args.cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    if args.dump:
        args.dump.write_text(json.dumps(results, indent=1, sort_keys=True))
    total = sum(took.values())
    verdict = "within" if total <= WARM_GOAL_S else "over"
    print(f"{'total':14s} {total:7.2f} s ({verdict} the {WARM_GOAL_S:.0f} s warm goal; "
          f"{len(spec.models)} models, {len(spec.phases)} phases, "
          f"{len(spec.presets)} presets)")  # fmt: skip
    if profile:
        pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
