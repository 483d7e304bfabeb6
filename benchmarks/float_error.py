"""Float paths: error of the LUT GEMM against the float64 dequantization reference.

    python benchmarks/float_error.py [--m 16 --n 256 --k 1024 --seed 0] [--json]

One row per combination of activation format (FP16, FP8 E4M3, FP8 E5M2), table format (the
float precompute format, or INT8 table quantization), accumulator (FP16, FP32) and weight bits
(W1, W2, W4), on a random per-channel problem. Columns: largest absolute and relative error,
the largest error in ulps of the output format (per output, and at the largest output), and the
a-priori bound the error must stay within (isa.golden.error_bound). Exits 1 if any row exceeds
its bound.
"""

from __future__ import annotations

import argparse
import json

from lutsim.isa.config import CoreConfig
from lutsim.isa.gemm import random_problem, run_gemm

# fmt: off
PATHS = (  # act format, table format, accumulator
    ("fp16",     "fp16",     "fp32"),
    ("fp16",     "fp16",     "fp16"),
    ("fp16",     "fp32",     "fp32"),
    ("fp16",     "int8",     "int32"),
    ("fp8_e4m3", "fp16",     "fp32"),
    ("fp8_e4m3", "fp16",     "fp16"),
    ("fp8_e4m3", "int8",     "int32"),
    ("fp8_e5m2", "fp16",     "fp32"),
    ("fp8_e5m2", "int8",     "int32"),
)
# fmt: on


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--k", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for act, table, acc in PATHS:
        for bits in (1, 2, 4):
            cfg = CoreConfig(weight_bits=bits, act_format=act, table_format=table, acc_format=acc)
            result = run_gemm(cfg, random_problem(cfg, args.m, args.n, args.k, seed=args.seed))
            r = result.residual
            rows.append({
                "mnemonic": cfg.mnemonic, "table": table, "max_abs": r["max_abs"],
                "max_rel": r["max_rel"], "max_ulp": r["max_ulp"],
                "max_ulp_at_peak": r["max_ulp_at_peak"], "ulp_format": r["ulp_format"],
                "bound": r["bound"], "ok": result.ok,
            })  # fmt: skip
    if args.json:
        print(json.dumps({"shape": [args.m, args.n, args.k], "rows": rows}))
    else:
        print(f"M={args.m} N={args.n} K={args.k} per-channel, seed {args.seed}")
        head = ("mnemonic", "table", "max abs", "max rel", "max ulp", "ulp@peak", "bound", "ok")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            cells = [row["mnemonic"], row["table"]] + [
                f"{row[key]:.3g}" for key in ("max_abs", "max_rel", "max_ulp", "max_ulp_at_peak", "bound")
            ] + ["ok" if row["ok"] else "EXCEEDS"]  # fmt: skip
            print("| " + " | ".join(cells) + " |")
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
