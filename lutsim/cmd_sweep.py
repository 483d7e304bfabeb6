"""``lutsim sweep SPEC.yaml --out DIR``: a design-space sweep (:mod:`lutsim.reports.sweep.engine`).

Runs every point of the spec not yet finished in ``DIR`` on a local process pool
(``--workers N``, default one per CPU) or on a Dask cluster (``--scheduler tcp://HOST:PORT``),
then writes ``DIR/results.csv``, ``DIR/metadata.json`` and the Pareto plots. Run it again to
resume. A progress bar goes to stderr when stderr is a terminal (``--progress`` forces it); the
last line on stdout is ``N points: X computed, Y cached, Z failed``, or with ``--json`` one JSON
object. Exit 1 when any point failed (after all the others finished) or the spec is invalid.
"""

from __future__ import annotations

import argparse
import json
import re

from .common import UsageError, writing

_ADDRESS = re.compile(r"(tcp|tls)://[^\s/]+:\d+/?")


def _run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    if args.scheduler is not None:
        if args.workers is not None:
            raise UsageError("--workers sets the local pool; it does not go with --scheduler")
        if not _ADDRESS.fullmatch(args.scheduler):
            raise UsageError(f"--scheduler must look like tcp://HOST:PORT, not {args.scheduler!r}")
    from lutsim.reports.sweep.engine import load_spec, run_sweep
    from lutsim.reports.sweep.evaluators import load_plugins

    load_plugins()
    spec = load_spec(args.spec)
    with writing(args.out):
        result = run_sweep(
            spec, args.out, scheduler=args.scheduler, workers=args.workers,
            progress=True if args.progress else None, force=args.force,
        )  # fmt: skip
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        for plot in result.plots:
            print(f"plot: {args.out}/{plot}")
        print(f"wrote {args.out}/results.csv and {args.out}/metadata.json")
        print(result.summary())
    if result.failed:
        first = result.failures[0]
        raise ValueError(
            f"{result.failed} of {result.points} points failed; the first ({first['point']}): "
            f"{first['error']}"
        )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand to ``commands``."""
    p = commands.add_parser("sweep", help="run a design-space sweep (resumable)")
    p.add_argument("spec", metavar="SPEC.yaml", help="the sweep spec (see examples/sweep.yaml)")
    p.add_argument("--out", metavar="DIR", required=True, help="results and cache directory")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask scheduler")
    p.add_argument("--workers", type=int, metavar="N", help="local processes (default: CPUs)")
    p.add_argument("--progress", action="store_true", help="progress bar even when not a TTY")
    p.add_argument("--json", action="store_true", help="print one JSON summary")
    p.add_argument(
        "--force", action="store_true",
        help="write into a directory that holds another spec's results (replacing them)",
    )  # fmt: skip
    p.set_defaults(func=_run)
