"""Benchmark: switching activity of full-size designs, Amaranth's simulator against Verilator.

    python benchmarks/bench_activity.py [--designs mac-fp16,core] [--m 2] [--n 64]
                                        [--engines amaranth,verilator] [--json]

For each design at M x N (default the paper's M2N64K4 tile): the registers of its Verilog (the
signals synthesis annotates; the export, timed apart, is cached by synthesis and handed to
``measure``), then :func:`lutsim.reports.flow.designs.measure` with each engine, timed:
Amaranth's simulator (elaborate, simulate writing a VCD, read it); Verilator **cold** (an
empty build cache: elaborate, Verilator, C++ compiler; ccache may hold the Verilator
runtime's objects) and **cached** (the executable found, the design elaborated for its ports
and stimulus). With both engines, the activities are compared: the
input ports and every register both simulations recorded must be identical.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from lutsim.hw.vlactivity import registers
from lutsim.hw.vlbuild import verilator_version, verilog_of
from lutsim.isa.config import CoreConfig
from lutsim.reports.flow.designs import DESIGNS, ENGINES, measure


def timed(design, cfg, signals, engine, verilog):
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-activity.") as work:
        activity = measure(design, cfg, Path(work), signals, engine=engine, verilog=verilog)
    return time.perf_counter() - start, activity


def bench(name: str, m: int, n: int, engines: list[str]) -> dict:
    design = DESIGNS[name]
    cfg = design.configure(CoreConfig(m=m, n=n))
    start = time.perf_counter()
    verilog = verilog_of(design.exported(cfg), design.top)
    signals = registers(verilog, design.top)
    out = {"design": name, "mnemonic": cfg.mnemonic, "register_signals": len(signals),
           "export_s": round(time.perf_counter() - start, 1)}  # fmt: skip
    found = {}
    if "verilator" in engines:
        saved = os.environ.get("LUTSIM_CACHE")
        with tempfile.TemporaryDirectory(prefix="bench-activity-cache.") as cache:
            os.environ["LUTSIM_CACHE"] = cache
            try:
                cold, found["verilator"] = timed(design, cfg, signals, "verilator", verilog)
                cached, again = timed(design, cfg, signals, "verilator", verilog)
            finally:
                if saved is None:
                    os.environ.pop("LUTSIM_CACHE")
                else:
                    os.environ["LUTSIM_CACHE"] = saved
        if again != found["verilator"]:
            raise SystemExit(f"{name}: the cached Verilator run differs from the cold one")
        out |= {"verilator_cold_s": round(cold, 1), "verilator_cached_s": round(cached, 1)}
    if "amaranth" in engines:
        seconds, found["amaranth"] = timed(design, cfg, signals, "amaranth", verilog)
        out["amaranth_s"] = round(seconds, 1)
    if len(found) == 2:
        a, v = found["amaranth"], found["verilator"]
        common = set(a.signals) & set(v.signals)
        out["identical"] = (
            a.cycles == v.cycles
            and a.inputs == v.inputs
            and all(a.signals[s] == v.signals[s] for s in common)
            and a.actions_per_cycle == v.actions_per_cycle
        )
        out["registers_recorded"] = {"amaranth": len(a.signals), "verilator": len(v.signals)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", default="mac-fp16,core")
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    engines = args.engines.split(",")
    rows = []
    for name in args.designs.split(","):
        rows.append(bench(name, args.m, args.n, engines))
        if not args.json:
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
                   "verilator": verilator_version()}  # fmt: skip
        print(json.dumps({"machine": machine, "designs": rows}, indent=2))


if __name__ == "__main__":
    main()
