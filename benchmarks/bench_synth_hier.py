"""Benchmark: hierarchical synthesis against the flat flow, cold and warm, at full size.

    python benchmarks/bench_synth_hier.py [--designs mac-fp16,lut-array] [--set m=2 ...]
                                          [--flows hierarchical,flat] [--cache DIR] [--json]

For each design at the configuration (default the M2N64K4 tile, W2) and each flow of
:func:`lutsim.reports.flow.synth.synthesize` (``hierarchical``; ``flat``: the flattened netlist,
activity propagated across module boundaries; ``flat-boundaries``: the flattened netlist
annotated as the hierarchical flow annotates its modules), one cold call and one warm call
(the result cached), with the time of each step. Then the differences of area, power and
Fmax of each flow from the hierarchical one, and the hierarchical flow's cold speed-up. Flows
run in the order given and share what they can: the export and the Yosys netlist (the first
flow pays for them), the simulation when they ask for the same signals. Without ``--cache``
everything runs in a temporary cache, removed at the end, so the first flow's times are cold
times. Goal (issue 12): a full-size design's hierarchical synthesis fast enough that the
default report (42 designs) runs cold in 10 minutes on 2 cores, warm in 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from lutsim.isa.config import CoreConfig
from lutsim.reports.flow import synth

FLOWS = {
    "hierarchical": {},
    "flat": {"flat": True},
    "flat-boundaries": {"flat": True, "boundaries": True},
}


def bench(designs: list[str], cfg: CoreConfig, flows: list[str]) -> list[dict]:
    rows = []
    for design in designs:
        results = {}
        for flow in flows:
            start = time.perf_counter()
            cold = synth.synthesize(design, cfg, **FLOWS[flow])
            cold_s = time.perf_counter() - start
            start = time.perf_counter()
            warm = synth.synthesize(design, cfg, **FLOWS[flow])
            warm_s = time.perf_counter() - start
            assert warm == cold and warm.runtime["cached"]["result"], warm.runtime
            results[flow] = (cold, cold_s, warm_s)
            print(f"{design} {flow}: cold {cold_s:.1f} s {cold.runtime['seconds']}, "
                  f"warm {warm_s:.2f} s", file=sys.stderr, flush=True)  # fmt: skip
        base = results.get("hierarchical", results[flows[0]])[0]
        for r, cold_s, warm_s in results.values():
            rows.append({
                "design": design, "mnemonic": r.mnemonic, "flow": r.flow,
                "cold_s": round(cold_s, 2), "warm_s": round(warm_s, 3),
                "steps_s": r.runtime["seconds"], "cached": r.runtime["cached"],
                "area_um2": r.area_um2, "power_mw": r.power_mw, "fmax_mhz": r.fmax_mhz,
                "annotated_register_bits": r.activity["annotated_register_bits"],
                "area_vs_hierarchical": r.area_um2 / base.area_um2 - 1,
                "power_vs_hierarchical": r.power_mw / base.power_mw - 1,
                "power_mw_by_component": {k: v["power_mw"] for k, v in r.components.items()},
            })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", default="mac-fp16", help="comma-separated (mac-fp16)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a CoreConfig field (default: M2N64K4, W2)")  # fmt: skip
    parser.add_argument("--flows", default="hierarchical,flat", help=f"of {', '.join(FLOWS)}")
    parser.add_argument("--cache", type=Path, help="synthesis cache (default: a fresh one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    fields = {k: int(v) if v.isdigit() else v for k, v in (s.split("=", 1) for s in args.set)}
    cfg = CoreConfig(**fields)
    flows = args.flows.split(",")
    unknown = [f for f in flows if f not in FLOWS]
    if unknown:
        raise SystemExit(f"flows must be of {', '.join(FLOWS)}, not {unknown[0]!r}")
    with tempfile.TemporaryDirectory(prefix="lutsim-bench-synth.") as fresh:
        os.environ["LUTSIM_CACHE"] = str(args.cache or fresh)
        rows = bench(args.designs.split(","), cfg, flows)
    if args.json:
        print(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(), "rows": rows}))
        return
    print(f"{'design':16} {'flow':16} {'cold s':>8} {'warm s':>7} {'area um2':>12} "
          f"{'power mW':>10} {'Fmax MHz':>9} {'area':>7} {'power':>8}")  # fmt: skip
    for r in rows:
        print(f"{r['design']:16} {r['flow']:16} {r['cold_s']:8.1f} {r['warm_s']:7.2f} "
              f"{r['area_um2']:12.6g} {r['power_mw']:10.5g} {r['fmax_mhz'] or 0:9.4g} "
              f"{100 * r['area_vs_hierarchical']:+6.2f}% {100 * r['power_vs_hierarchical']:+7.2f}%")  # fmt: skip
    for r in rows:
        print(f"{r['design']} {r['flow']} steps (s): {r['steps_s']}")


if __name__ == "__main__":
    main()
