"""Peak memory of ``lutsim gemm`` on a large problem: the GEMM streams over blocks of tiles, so
the peak is the inputs, the outputs and one block, not the problem times the tiles.

Writes a random W2 x INT8 problem (``--size M N K``, default 4096 4096 4096), then runs
``lutsim gemm --impl golden`` and ``--impl sim`` on it, each in its own process, and prints each
run's wall time and peak resident memory (``ru_maxrss`` of the child) beside
:func:`lutsim.isa.gemm.estimate_bytes`. The 4096^3 problem takes tens of minutes per level.

    .venv/bin/python benchmarks/bench_gemm_memory.py
    .venv/bin/python benchmarks/bench_gemm_memory.py --size 1024 4096 4096 --impl golden
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lutsim.isa import gemm
from lutsim.isa.config import load_config

_CHILD = """
import resource, sys
from lutsim.cli import main
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)  # KiB
sys.exit(code)
"""


_CHILD = """
import resource, sys
from lutsim.cli import main
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)  # KiB
sys.exit(code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", nargs=3, type=int, default=[4096, 4096, 4096], metavar="N")
    parser.add_argument("--impl", action="append", choices=["golden", "sim"])
    parser.add_argument("--config", default="m2n64k4")
    args = parser.parse_args()
    m, n, k = args.size
    cfg = load_config(args.config)
    print(
        f"{cfg.mnemonic}: {m}x{n}x{k}, estimate {gemm.estimate_bytes(cfg, m, n, k) / 2**30:.2f} GiB"
    )
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / "in.npz"
        gemm.save_npz(gemm.random_problem(cfg, m, n, k, seed=1), inputs)
        for impl in args.impl or ["golden", "sim"]:
            out = Path(scratch) / f"{impl}.npz"
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, "gemm", "--config", args.config, "--impl", impl,
                 "--inputs", str(inputs), "--out", str(out)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            wall = time.perf_counter() - start
            *errors, peak_kib = done.stderr.strip().splitlines() or ["0"]
            status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {' '.join(errors)}"
            peak = int(peak_kib) / 2**20
            print(f"  --impl {impl:<6} {wall:8.1f} s   peak RSS {peak:5.2f} GiB   {status}")
            out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
