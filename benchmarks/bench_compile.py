"""Benchmark: compile a full-size model (shapes and programs only, no weights).

    python benchmarks/bench_compile.py [--model llama2-70b --quant w2 --tokens 1 --repeat 3] [--json]

Runs the whole pipeline (lower, split and fuse the precompute, tile, emit the compact programs,
account) and builds the summary, ``--repeat`` times; reports the best time (goal: at most 10 s
for LLaMA-2-70B) and the program size: compact loop-nest objects and bytes against the
instructions (64-bit words) a flat program would hold.

    python benchmarks/bench_compile.py --checkpoint [--n 4096 --k 4096 --tokens 4]

times a quantized checkpoint's path instead: converting one N x K layer (GPTQ INT4 g128 with
act-order, and GGUF Q8_0, from random codes) and checking its compiled program
(:func:`lutsim.compiler.checkpoint.check_layer`, what ``lutsim compile --weights --verify`` runs
per layer).
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
    parser.add_argument("--checkpoint", action="store_true", help="time a checkpoint layer")
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--k", type=int, default=4096)
    args = parser.parse_args(argv)
    if args.checkpoint:
        return checkpoint_layer(args)
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


def checkpoint_layer(args) -> int:
    """Convert and check one random GPTQ (act-order) and one Q8_0 layer of N x K."""
    import gguf
    import numpy as np

    from lutsim.compiler.checkpoint import (
        check_layer,
        gguf_weight,
        gptq_weight,
        pack_int32,
        random_activations,
    )

    rng = np.random.default_rng(0)
    n, k, group, rows = args.n, args.k, 128, max(args.tokens, 4)
    cfg = load_config(args.config).replace(weight_bits=4)
    a = random_activations(cfg, rows, k, 0)
    q8 = gguf.quants.quantize(
        rng.standard_normal((n, k)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0
    )
    gptq = (
        pack_int32(rng.integers(0, 16, (k, n)), 4, 0),
        pack_int32(rng.integers(0, 16, (k // group, n)), 4, 1),
        (rng.random((k // group, n)) / 50).astype(np.float16),
        rng.permutation(np.arange(k) // group).astype(np.int32),
    )
    makers = {  # the random checkpoint tensors exist before the clock starts
        "gptq-int4-g128-act-order": lambda: gptq_weight("layer", *gptq, (n, k)),
        "gguf-Q8_0": lambda: gguf_weight("layer", "Q8_0", q8, (n, k)),
    }  # fmt: skip
    results = []
    for name, make in makers.items():
        start = time.perf_counter()
        weight = make()
        convert = time.perf_counter() - start
        start = time.perf_counter()
        check = check_layer(cfg, name, weight, a)
        results.append({"format": name, "m": rows, "n": n, "k": k, "convert_s": convert,
                        "check_s": time.perf_counter() - start,
                        "instructions": check.instructions, "ok": check.ok,
                        "residual": check.residual})  # fmt: skip
    if args.json:
        print(json.dumps(results))
    for r in results if not args.json else ():
        print(
            f"{r['format']} {r['m']}x{r['n']}x{r['k']}: convert {r['convert_s']:.2f} s, "
            f"check {r['check_s']:.2f} s ({r['instructions']:,} instructions), residual "
            f"{r['residual']:.3g}, {'ok' if r['ok'] else 'FAIL'}"
        )
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
