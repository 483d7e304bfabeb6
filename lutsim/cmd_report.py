"""``lutsim report``: the main job. Synthesizes the LUT core and its baselines, simulates whole
models on GPU presets, prices the datapath energy, and writes a Markdown report with figures
(:mod:`lutsim.reports.report`). Progress goes to stderr, one line per step; synthesis is cached, so a
second run takes seconds. ``--scheduler tcp://HOST:PORT`` synthesizes on a Dask cluster, through
the engine ``lutsim sweep`` uses (:func:`lutsim.reports.sweep.engine.backend`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .common import UsageError, add_config, config


def _progress(start: float):
    def report(done: int, total: int, text: str) -> None:
        sys.stderr.write(f"[{done}/{total}] {time.perf_counter() - start:6.0f} s  {text}\n")
        sys.stderr.flush()

    return report


def _ints(text: str, what: str) -> tuple[int, ...]:
    parts = text.split(",")
    if not all(p.isdigit() and 1 <= int(p) <= 4 for p in parts):
        raise UsageError(f"{what} takes weight widths 1..4 separated by commas, not {text!r}")
    return tuple(int(p) for p in parts)


def _cmd_report(args: argparse.Namespace) -> int:
    from lutsim.reports.report import ReportSpec, build_report

    levels = tuple(args.levels.split(","))
    if not set(levels) <= {"array", "dp4"} or not levels:
        raise UsageError(f"--levels takes array and/or dp4, not {args.levels!r}")
    models = ReportSpec().models if args.models is None else tuple(args.models.split(","))
    spec = ReportSpec(
        core=config(args), weight_bits=_ints(args.wbits, "--wbits"), levels=levels,
        models=models, gpu=args.gpu, liberty=args.liberty, clock_ns=args.clock_ns,
        fp16_arrays=args.fp16_arrays,
    )  # fmt: skip
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    if args.jobs is not None and args.scheduler:
        raise UsageError(
            "--jobs counts local processes; with --scheduler the cluster's workers run"
        )
    jobs = args.jobs or os.cpu_count() or 1
    if "array" in levels and not args.fp16_arrays and not args.quiet:
        sys.stderr.write("report: the FP16 arrays are left out (minutes each, cold; FP16 is "
                         "compared on the DP4 unit); --fp16-arrays adds them\n")  # fmt: skip
    start = time.perf_counter()
    progress = None if args.quiet else _progress(start)
    files = build_report(args.out, spec, progress, jobs, args.scheduler)
    if args.json:
        print(json.dumps({name: str(path) for name, path in files.items()}))
        return 0
    figures = len({name.rsplit(".", 1)[0] for name in files} - {"json", "markdown"})
    print(f"wrote {files['markdown']} with {figures} figures (SVG and PNG) and report.json "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand to ``commands``."""
    p = commands.add_parser("report", help="synthesis + simulation + energy report (main job)")
    p.add_argument("--out", metavar="DIR", default="report", help="output directory (report/)")
    add_config(p)
    p.add_argument("--wbits", default="1,2,4", help="weight widths compared (default 1,2,4)")
    p.add_argument("--levels", default="array,dp4", help="array and/or dp4 (default both)")
    p.add_argument("--models", help="models simulated (presets or config.json, comma-separated; "
                   "default bitnet-b1.58-3b,llama2-7b,mixtral-8x7b)")  # fmt: skip
    p.add_argument("--fp16-arrays", action="store_true",
                   help="also synthesize the FP16 LUT and MAC arrays (at full size minutes "
                   "each, cold); without it FP16 is compared on the DP4 unit")  # fmt: skip
    p.add_argument("--gpu", default="A100", choices=("A100", "A100-80GB", "H100"))
    p.add_argument("--liberty", metavar="PATH", help="liberty file (default OSU 0.18 um)")
    p.add_argument("--clock-ns", type=float, help="clock target of every design (default 10)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="synthesis processes (default: one per CPU)")  # fmt: skip
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="synthesize on this Dask cluster (the engine lutsim sweep uses)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(func=_cmd_report)
