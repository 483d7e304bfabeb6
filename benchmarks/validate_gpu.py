"""The GPU model against measured hardware: dense GEMMs on A100 and H100 from published sources.

Every row of ``sim/data/gpu_measurements.csv`` that is not excluded (:mod:`lutsim.sim.measurements`
gives the rules) is simulated on its dense preset (``<GPU>-FP16`` at 16-bit weights, ``H100-FP8``
at 8-bit weights) with the GPU's costs under load (:data:`lutsim.sim.presets.GPU_COSTS`), and
compared with its measured time. Prints the mean absolute percentage error (MAPE) and the worst
cases per GPU and per size bucket, on the validation rows and on the calibration rows separately,
and the excluded rows with their reasons; for the L2-resident ones (replays whose operands stay
in L2, which the model does not assume) also the model's error and the validation MAPE with
them kept.

``--fit`` refits the fitted costs (per GPU: the fixed time of a kernel, the host's launch, the
sustained issue rate of the tensor cores and their power limit, one per MAC format the GPU's
rows use; for the A100 40GB PCIe its own power limit) on the calibration rows only, and prints
the values to put into ``sim/presets.py``: for each issue rate of a grid, every calibration row
is simulated without fixed time and power limit; each combination of power limits of a grid
then stretches the kernels above their format's limit, and
the fixed time that minimizes the calibration MAPE is the weighted median of the residuals
(weights 1 / measured time); the combination with the lowest MAPE wins.

    .venv/bin/python benchmarks/validate_gpu.py            # MAPE with the preset costs
    .venv/bin/python benchmarks/validate_gpu.py --fit      # refit on the calibration rows
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import sys
from collections import defaultdict

import numpy as np

from lutsim.sim import measurements
from lutsim.sim.gpu import simulate_machine
from lutsim.sim.presets import GPU_COSTS, PRESETS, VARIANTS

ISSUE_GRID = np.round(np.arange(0.70, 1.0001, 0.02), 2)
POWER_GRID = np.round(np.arange(0.50, 1.0001, 0.02), 2)


def predict_us(row, costs=None) -> float:
    """The model's time of ``row`` on its preset, with ``costs`` (default: the preset's): the
    simulated kernel, plus the host's launch when the row times each call."""
    mach = row.machine()
    if costs is not None:
        mach = dataclasses.replace(mach, costs=costs)
    launch = mach.costs.launch_us if row.timing == "per call" else 0.0
    return simulate_machine(mach, row.m, row.n, row.k).latency_us + launch


def ape(pred: float, meas: float) -> float:
    return abs(pred - meas) / meas


def report(rows, preds, split: str, worst: int = 5) -> dict:
    """Print MAPE per GPU and per bucket of ``split``; return {gpu: mape}."""
    chosen = [(r, p) for r, p in zip(rows, preds, strict=True) if r.split == split]
    print(f"\n## {split}: {len(chosen)} rows")
    result = {}
    for gpu in sorted({r.gpu for r, _ in chosen}):
        mine = [(r, p) for r, p in chosen if r.gpu == gpu]
        errors = [ape(p, r.time_us) for r, p in mine]
        result[gpu] = statistics.fmean(errors)
        ratio = statistics.median(p / r.time_us for r, p in mine)
        print(f"{gpu}: MAPE {100 * result[gpu]:.1f} % over {len(mine)} rows "
              f"(median predicted/measured {ratio:.3f})")  # fmt: skip
        by_bucket = defaultdict(list)
        for r, p in mine:
            by_bucket[r.bucket].append(ape(p, r.time_us))
        order = sorted(by_bucket, key=lambda b: (b.startswith("decode"), int(b.split("^")[0])
                                                 if "^" in b else 0))  # fmt: skip
        for b in order:
            print(
                f"  {b:>15}: MAPE {100 * statistics.fmean(by_bucket[b]):5.1f} %  "
                f"max {100 * max(by_bucket[b]):5.1f} %  ({len(by_bucket[b])} rows)"
            )
        ranked = sorted(mine, key=lambda rp: -ape(rp[1], rp[0].time_us))[:worst]
        for r, p in ranked:
            print(
                f"  worst: {r.dtype} {r.m}x{r.n}x{r.k} measured {r.time_us:.4g} us, model "
                f"{p:.4g} us ({100 * (p / r.time_us - 1):+.0f} %) [{r.source[:60]}]"
            )
    everything = [ape(p, r.time_us) for r, p in chosen]
    if everything:
        result["all"] = statistics.fmean(everything)
        print(f"all: MAPE {100 * result['all']:.1f} % over {len(everything)} rows")
    return result


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _family(row) -> str:
    """The GPU whose fitted costs a row's fit uses: its own, or for a variant
    (:data:`lutsim.sim.presets.VARIANTS`) the variant's (the A100 80GB shares the A100's)."""
    return row.costs if row.costs in VARIANTS else row.gpu


def _format(row) -> str:
    """The tensor-core format of a row's preset (its power limit is fitted per format)."""
    return row.machine().tc.fmt


def fit(rows) -> dict:
    """Per GPU: the (on-GPU fixed time, host launch time, issue rate, power limit per
    tensor-core format) that minimize the calibration MAPE. For each issue rate of the grid
    every row is simulated once without fixed time and power limit; each combination of power
    limits of the grid (one per format the GPU's rows use) then stretches the kernels whose
    tensor-core rate is above their format's limit (:func:`lutsim.sim.gpu.power_limited`); the
    fixed time comes from the kernel-timed rows, the launch time from the per-call rows'
    residuals beyond it; a GPU without kernel-timed rows takes the fixed time of the GPU fitted
    before it (H100 first). A variant (the A100 40GB PCIe, 250 W) fits its power limits alone on
    its own rows, with its GPU's other costs."""
    best: dict = {}
    calibration = [r for r in rows if r.split == "calibration"]
    families = sorted({_family(r) for r in calibration},
                      key=lambda f: (f in VARIANTS, f != "H100", f))  # fmt: skip
    for family in families:
        cal = [r for r in calibration if _family(r) == family]
        meas = np.array([r.time_us for r in cal])
        kernel = np.array([r.timing == "kernel" for r in cal])
        fmts = np.array([_format(r) for r in cal])
        formats = sorted({str(f) for f in fmts}, key=lambda f: (f != "fp16", f))
        base = GPU_COSTS[family]
        parent = best.get(VARIANTS.get(family))
        for issue in [parent[2]] if parent else ISSUE_GRID:
            costs = dataclasses.replace(base, kernel_fixed_us=0.0, launch_us=0.0,
                                        issue_efficiency=float(issue), power_efficiency=1.0,
                                        format_power=())  # fmt: skip
            runs = [simulate_machine(dataclasses.replace(r.machine(), costs=costs),
                                     r.m, r.n, r.k) for r in cal]  # fmt: skip
            gemm_us = np.array([run.gemm.cycles / run.freq_mhz for run in runs])
            rate = np.array([run.gemm.utilization["tensor"] for run in runs]) * issue
            for powers in itertools.product(POWER_GRID, repeat=len(formats)):
                limit = np.select([fmts == f for f in formats], powers)
                pred = gemm_us * np.maximum(1.0, rate / limit)
                residual, weight = meas - pred, 1.0 / meas
                if parent:
                    fixed, launch = parent[:2]
                else:
                    if kernel.any():
                        fixed = max(0.0, _weighted_median(residual[kernel], weight[kernel]))
                    else:
                        fixed = best["H100"][0]
                    launch = max(0.0, _weighted_median(residual[~kernel] - fixed,
                                                       weight[~kernel]))  # fmt: skip
                total = pred + fixed + np.where(kernel, 0.0, launch)
                mape = float(np.mean(np.abs(total - meas) / meas))
                power = {f: float(v) for f, v in zip(formats, powers, strict=True)}
                print(f"{family} issue {issue:.2f} power {power}: fixed {fixed:.2f} us, "
                      f"launch {launch:.2f} us, calibration MAPE {100 * mape:.2f} %",
                      file=sys.stderr)  # fmt: skip
                if family not in best or mape < best[family][4] - 1e-12:
                    best[family] = (round(fixed, 2), round(launch, 2), float(issue), power,
                                    mape)  # fmt: skip
    for family, (fixed, launch, issue, power, mape) in best.items():
        print(f"{family}: kernel_fixed_us = {fixed}, launch_us = {launch}, issue_efficiency = "
              f"{issue}, power limits {power} (calibration MAPE {100 * mape:.2f} % over its "
              f"rows)")  # fmt: skip
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fit", action="store_true", help="refit on the calibration rows")
    parser.add_argument("--worst", type=int, default=5, help="worst cases to list per GPU")
    args = parser.parse_args(argv)
    rows = measurements.load()
    used = [r for r in rows if r.split != "excluded"]
    assert all(r.preset in PRESETS for r in used)
    if args.fit:
        fit(used)
        return 0
    preds = [predict_us(r) for r in used]
    for gpu, costs in sorted(GPU_COSTS.items()):
        print(
            f"{gpu}: fixed {costs.kernel_fixed_us} us + DRAM latency {costs.dram_latency_ns} "
            f"ns per kernel (+ launch {costs.launch_us} us per timed call), DRAM "
            f"{costs.dram_efficiency} of peak, issue rate {costs.issue_efficiency} of peak, "
            f"power limit {costs.power_efficiency} of peak"
            + "".join(f", {fmt} {value}" for fmt, value in costs.format_power)
        )
    report(used, preds, "validation", args.worst)
    report(used, preds, "calibration", args.worst)
    print("\n## excluded")
    reasons = defaultdict(int)
    for r in rows:
        if r.split == "excluded":
            reasons[r.reason] += 1
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        print(f"{count:4d}  {reason}")
    resident = [r for r in rows if r.reason == measurements.L2_RESIDENT]
    if resident:
        print("\nthe L2-resident rows against the model, which reads their operands from DRAM:")
        resident_preds = [predict_us(r) for r in resident]
        for r, p in zip(resident, resident_preds, strict=True):
            print(f"  {r.rule_split:<11} {r.dtype} {r.m}x{r.n}x{r.k} measured {r.time_us:.4g} us, "
                  f"model {p:.4g} us ({100 * (p / r.time_us - 1):+.0f} %)")  # fmt: skip
        pairs = [*zip(used, preds, strict=True), *zip(resident, resident_preds, strict=True)]
        both = [ape(p, r.time_us) for r, p in pairs if r.rule_split == "validation"]
        mape = statistics.fmean(both)
        print(f"validation MAPE if they were kept (their split by the rule): {100 * mape:.1f} % "
              f"over {len(both)} rows")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
