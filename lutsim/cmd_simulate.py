"""``lutsim simulate``: one mpGEMM on a GPU preset through the cycle model (:mod:`lutsim.sim.gpu`).

Prints the cycles (with each kernel's fixed time), the time at the preset's clock, the
utilization of each resource, for every kernel what limits it, how far the next resource is
behind and what would make it faster, the achieved TOPS against the compute and memory roofs,
the bytes moved at each memory level and the action counts; ``--json`` prints
:meth:`lutsim.sim.gpu.GpuRun.to_dict` as one object. ``--wbits 16`` (FP16 presets) and
``--wbits 8`` (INT8, FP8) run a dense model at the tensor core's own width.
"""

from __future__ import annotations

import argparse
import json

from .common import UsageError, fmt_num, print_table

WBITS = ("1", "2", "3", "4", "1.58", "8", "16")


def _digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses)."""
    return text.strip().isascii() and text.strip().isdigit()


def _shape(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(_digits(p) for p in parts):
        raise UsageError(f"--gemm takes M,N,K (three positive integers), not {text!r}")
    m, n, k = (int(p) for p in parts)
    return m, n, k


def _tiling(text: str | None):
    from lutsim.sim.gpu_plan import Tiling

    if text is None:
        return None
    parts = text.split(",")
    if len(parts) not in (6, 7) or not all(_digits(p) for p in parts):
        raise UsageError(
            "--tile takes WARP_M,WARP_N,WARPS_M,WARPS_N,K_STEP,STAGES[,SPLIT_K] "
            f"(positive integers), not {text!r}"
        )
    return Tiling(*(int(p) for p in parts))


def _wbits(text: str) -> int | float:
    if text not in WBITS:
        raise UsageError(f"--wbits must be one of {', '.join(WBITS)}, not {text!r}")
    return float(text) if text == "1.58" else int(text)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from lutsim.sim import gpu, presets

    if args.list_presets:
        for name in presets.preset_names():
            print(name)
        return 0
    if args.preset is None or args.gemm is None:
        raise UsageError("simulate needs --preset P and --gemm M,N,K (or --list-presets)")
    m, n, k = _shape(args.gemm)
    run = gpu.simulate(
        args.preset, m, n, k,
        wbits=_wbits(args.wbits), act=args.act, regs=args.regs, table_format=args.table_format,
        mode=args.mode, precompute=args.precompute, tiling=_tiling(args.tile),
        freq_mhz=args.clock_mhz, max_slots=args.max_slots, sustained=not args.ideal,
        rows_resident=args.rows_resident,
    )  # fmt: skip
    if args.json:
        print(json.dumps(run.to_dict()))
        return 0
    print(f"{run.preset}  {run.label}  MxNxK {m}x{n}x{k}  mode {run.mode}")
    print(f"tiling: {run.tiling.text()}")
    print(
        f"cycles {run.cycles}  time {run.latency_us:.4g} us at {run.freq_mhz:g} MHz  "
        f"achieved {run.achieved_tops:.4g} TOPS (GEMM kernel {run.gemm_tops:.4g})"
    )
    print(
        f"roofs: compute {run.compute_roof_tops:.4g} TOPS, memory {run.memory_roof_tops:.4g} "
        f"TOPS (intensity {run.intensity_ops_per_byte:.4g} ops/byte); the GEMM reaches "
        f"{run.roof_fraction:.3f} of the lower roof"
    )
    rows = [
        (kernel.name, str(kernel.cycles), str(kernel.fixed_cycles), kernel.bottleneck["limit"],
         *(f"{kernel.utilization.get(r, 0.0):.3f}" for r in gpu.RESOURCES))
        for kernel in run.kernels
    ]  # fmt: skip
    print_table(("kernel", "cycles", "fixed", "limit", *(f"util.{r}" for r in gpu.RESOURCES)), rows)
    for kernel in run.kernels:
        print(f"{kernel.name}: {kernel.bottleneck['text']}")
    print("bytes moved: " + "  ".join(f"{key} {fmt_num(v)}" for key, v in run.bytes.items()))
    counts = {key: v for key, v in run.actions.items() if not key.endswith("_bytes")}
    print("actions: " + "  ".join(f"{key} {fmt_num(v)}" for key, v in counts.items()))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand to ``commands``."""
    from lutsim.sim.gpu import DETAILED_SLOTS, MODES, PRECOMPUTE

    p = commands.add_parser("simulate", help="simulate one mpGEMM on a GPU preset")
    p.add_argument("--preset", metavar="P", help="GPU preset, e.g. A100-LUT-4X (--list-presets)")
    p.add_argument("--gemm", metavar="M,N,K", help="O[M,N] = A[M,K] W[N,K]^T")
    p.add_argument("--wbits", default="2", help=f"weight bits: {', '.join(WBITS)} (default: 2)")
    p.add_argument(
        "--act", metavar="FMT",
        help="activation format: LUT cores' (default: fp16); a dense MAC model's (fp16, bf16, "
        "int8, e4m3)",
    )  # fmt: skip
    p.add_argument("--table-format", metavar="FMT", help="LUT cores' table format, e.g. int8")
    p.add_argument(
        "--regs", type=int, default=1, help="register-file multiplier 1, 2, 4 or 8 (default: 1)"
    )
    p.add_argument(
        "--mode",
        default="fast",
        choices=MODES,
        help="fast (tile level) or detailed (default: fast)",
    )
    p.add_argument(
        "--precompute", default="fused", choices=PRECOMPUTE,
        help="table precompute fused into the previous kernel, separate, or none (default: fused)",
    )  # fmt: skip
    p.add_argument("--tile", metavar="WM,WN,WARPS_M,WARPS_N,K_STEP,STAGES[,SPLIT_K]",
                   help="a fixed tiling instead of the search")  # fmt: skip
    p.add_argument("--clock-mhz", type=float, help="another clock (default: the preset's)")
    p.add_argument(
        "--ideal", action="store_true",
        help="the ideal machine: peak rates, no fixed time per kernel (default: the GPU's "
        "costs under load)",
    )  # fmt: skip
    p.add_argument(
        "--max-slots", type=int, default=DETAILED_SLOTS,
        help=f"detailed mode: refuse more tensor-core issue slots (default: {DETAILED_SLOTS})",
    )  # fmt: skip
    p.add_argument(
        "--rows-resident", action="store_true",
        help="let kernels keep each CTA's tables in shared memory across an N loop of column "
        "tiles (they cross L2 once per CTA)",
    )  # fmt: skip
    p.add_argument("--list-presets", action="store_true", help="list the GPU presets and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_simulate)
