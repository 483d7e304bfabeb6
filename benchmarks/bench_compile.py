"""Benchmark: compile a full-size model (shapes and programs only, no weights).

    python benchmarks/bench_compile.py [--model llama2-70b --quant w2 --tokens 1 --repeat 3] [--json]

Runs the whole pipeline (lower, split and fuse the precompute, tile, emit the compact programs,
account) and builds the summary, ``--repeat`` times; reports the best time (goal: at most 10 s
for LLaMA-2-70B) and the program size: compact loop-nest objects and bytes against the
instructions (64-bit words) a flat program would hold.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

from lutsim.compiler.driver import compile_model
from lutsim.isa.config import load_config

GOAL_S = 10.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama2-70b")
    parser.add_argument("--quant", default="w2")
    parser.add_argument("--config", default="m2n64k4")
    parser.add_argument("--tokens", type=int, default=1)
    parser.add_argument("--context", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        compiled = compile_model(args.model, args.quant, cfg, tokens=args.tokens,
                                 context=args.context)  # fmt: skip
        summary = compiled.summary()
        times.append(time.perf_counter() - start)
    best = min(times)
    size = summary["programs"]
    result = {
        "benchmark": "compile a full-size model (no weights)",
        "model": args.model,
        "quant": summary["quant"]["text"],
        "mnemonic": summary["core"]["mnemonic"],
        "tokens": args.tokens,
        "lut_gemms": summary["totals"]["lut_gemms"],
        "seconds": best,
        "goal_seconds": GOAL_S,
        "within_goal": best <= GOAL_S,
        "programs": size,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model} {result['quant']} {result['mnemonic']}, {args.tokens} tokens: "
              f"{result['lut_gemms']} LUT GEMMs")  # fmt: skip
        print(f"compile + summary: {best:.3f} s (best of {args.repeat}; goal <= {GOAL_S:g} s)")
        print(f"compact programs: {size['distinct']} programs, {size['objects']} objects, "
              f"{size['json_bytes']} bytes as JSON, {size['listing_bytes']} bytes of listing")  # fmt: skip
        print(f"flat equivalent: {size['expanded_instructions']:,} instructions, "
              f"{size['expanded_bytes']:,} bytes")  # fmt: skip
    return 0 if result["within_goal"] else 1


if __name__ == "__main__":
    sys.exit(main())
