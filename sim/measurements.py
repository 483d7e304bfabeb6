"""Published measurements of dense GEMMs on A100 and H100 GPUs, to validate the GPU model.

``data/gpu_measurements.csv`` holds one measured GEMM per row, each with one source (a paper,
vendor document, benchmark repository or public issue thread) and the locator of the number
in it; ``time_us`` or ``tflops`` as published (the other is derived: ``2 M N K / time``).
:func:`load` reads every row and decides, by the fixed rules below, which preset it is
compared with and whether it belongs to the **calibration** set (the only rows any fitted
value of :class:`lutsim.sim.presets.GpuCosts` may use), the **validation** set, or is
**excluded** (with the reason).

Rules (applied in this order; the first that matches decides)
-------------------------------------------------------------
================================================= ============================================
row                                               excluded because
================================================= ============================================
TF32 GEMMs                                        no TF32 preset
H100 PCIe                                         a different GPU (114 SMs, HBM2e 2.0 TB/s) with
                                                  no preset
DeepGEMM grouped (MoE) GEMMs                      several GEMMs in one kernel, not one GEMM
triton issue #6523 (A100)                         35-40 % below the other A100 sources at the
                                                  same sizes: a throttled or shared node
vLLM PR #13917, triton PR #3546                   a per-call floor of 57-69 us at every size:
                                                  host overhead inside the timed region
the older revision of the MAMF table              superseded by the current revision
DeepGEMM's initial README table                   timed with an L2 flush that did not flush
                                                  (DeepGEMM PR #68 fixed it); the same shapes
                                                  timed after the fix come from DeepGEMM issue
                                                  #136 (H100) and PR #168 (H800)
inputs of zeros or small integers (Horace He's    data-dependent power: such inputs draw less
zero and integer rows, the CUTLASS profiler doc   power and hold a higher clock than real data
and CUTLASS issue #956, run with its arguments)
a CUDA-graph replay without an L2 flush           L2-resident: ``do_bench_cudagraph`` replays
(vLLM's ``bench_fp8_gemm``) whose operands and    the same operands without flushing L2, so
result fit in the GPU's L2                        when they fit in L2 every replay after the
                                                  first reads them from L2, not DRAM; the model
                                                  starts each kernel with its operands in DRAM
                                                  (as a model's forward pass does). NVIDIA
                                                  TileGym PR #118 measured such replays of an
                                                  RMSNorm on a GB200 1.6x faster than with a
                                                  flush at half the L2, 1.06x at the L2's size
                                                  and equal at twice it, so rows beyond the L2
                                                  are kept.
                                                  ``benchmarks/validate_gpu.py`` still prints
                                                  the model's error on these rows.
================================================= ============================================

Every other row is compared with the dense preset of its GPU and format: FP16 and BF16 with
``<GPU>-FP16`` at 16-bit weights, FP8 with ``H100-FP8`` at 8-bit weights. The variant is what
the row's source states (the ``variant`` column), nothing else: an A100 80GB uses
``A100-80GB`` (2039 GB/s; the MLX rows' source shows its 80 GB by its own figures: cuBLAS
reads 1783 GB/s, above the 40 GB cards' 1555 GB/s peak), an A100 40GB PCIe uses ``A100`` with the costs of the 250 W card
(:data:`lutsim.sim.presets.VARIANTS` ``"A100-PCIe"``), every other A100 row (SXM4, or not
stated) ``A100``; H100 SXM5, H800 (the H100 SXM5 compute and memory with reduced NVLink) and
every other H100 row (not stated: the SXM5, the H100 the measured libraries target) use
``H100``.

Timing: a row is ``kernel`` time when its harness times the kernel on the GPU alone (DeepGEMM's
``tests/test_core.py``: CUPTI kernel durations through ``bench_kineto``; vLLM's ``bench_fp8_gemm``:
``triton.testing.do_bench_cudagraph``, a CUDA-graph replay), else ``per call`` (CUDA events or
wall clock around each call: the host's launch is inside the timed region).

Split: a row is a calibration row when the SHA-256 of ``source|gpu|dtype|M|N|K|library``
(UTF-8), read as an integer, is divisible by 3; otherwise a validation row. The rule is fixed
before any fit and does not look at the measured value.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from .presets import GPUS, VARIANTS, Machine, machine

__all__ = ["DATA", "L2_RESIDENT", "SPLITS", "Measurement", "bucket", "load"]

DATA = Path(__file__).parent / "data" / "gpu_measurements.csv"
SPLITS = ("calibration", "validation", "excluded")

_EXCLUDED_SOURCES = (  # (text in the source column, reason)
    ("triton-lang/triton GitHub issue #6523",
     "a throttled or shared node: 35-40 % below other A100 sources"),
    ("vllm-project/vllm PR #13917", "harness floor of about 69 us per call at every size"),
    ("triton-lang/triton PR #3546", "harness floor of 57-69 us per call at every size"),
    ("OLDER revision of the MAMF table", "superseded by the current revision of the table"),
    ("deepseek-ai/DeepGEMM README.md, initial-release revision",
     "timed with a broken L2 flush (DeepGEMM PR #68); re-measured in DeepGEMM #136 and #168"),
)  # fmt: skip
_UNFLUSHED = ("vllm-project/vllm PR #23280", "vllm-project/vllm PR #49363")
"""Sources timed by ``triton.testing.do_bench_cudagraph`` (no L2 flush between replays)."""
_KERNEL_TIMED = ("deepseek-ai/DeepGEMM README", "deepseek-ai/DeepGEMM GitHub issue #136",
                 "deepseek-ai/DeepGEMM PR #168", *_UNFLUSHED)  # fmt: skip
L2_RESIDENT = "L2-resident: a CUDA-graph replay without an L2 flush, operands and result fit L2"
_NON_RANDOM = ("torch.zeros inputs", "integer-valued", "integer-valued init")


@dataclass(frozen=True)
class Measurement:
    """One measured GEMM ``O[M, N] = A[M, K] W[N, K]^T`` (``time_us`` per call) with its
    source, the preset and arguments it is simulated with, and its set (:data:`SPLITS`)."""

    gpu: str
    variant: str
    dtype: str
    m: int
    n: int
    k: int
    time_us: float
    library: str
    source: str
    locator: str
    notes: str
    preset: str | None
    costs: str | None  # the variant whose costs apply (a key of presets.GPU_COSTS)
    wbits: int | None
    act: str | None
    split: str
    reason: str
    timing: str  # "kernel" or "per call"
    rule_split: str  # the set the split rule puts it in, excluded or not

    @property
    def bucket(self) -> str:
        return bucket(self.m, self.n, self.k)

    def machine(self) -> Machine:
        """The machine the row is simulated on: its preset with its variant's costs."""
        variant = self.costs if self.costs in VARIANTS else None
        return machine(self.preset, self.wbits, self.act, variant=variant)


def bucket(m: int, n: int, k: int) -> str:
    """A size bucket: ``decode`` (M <= 16: GEMVs and skinny GEMMs) or the cube root of the
    GEMM's M N K rounded to a power of two, from ``256^3`` to ``8192^3``."""
    if m <= 16:
        return "decode (M<=16)"
    side = (m * n * k) ** (1 / 3)
    power = min(13, max(8, round(math.log2(side))))
    return f"{2**power}^3"


def _split(row: dict) -> str:
    key = "|".join(row[c] for c in ("source", "gpu", "dtype", "m", "n", "k", "library"))
    return (
        "calibration"
        if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 3 == 0
        else ("validation")
    )


def _variant(gpu: str, variant: str) -> str:
    """The GPU (or variant) whose preset and costs a row uses, from its stated variant."""
    if gpu == "A100" and "80GB" in variant:
        return "A100-80GB"
    if gpu == "A100" and "PCIe-40GB" in variant:
        return "A100-PCIe"
    return gpu


def _target(row: dict) -> tuple[str | None, int | None, str | None, str]:
    """(preset, weight bits, activation format, exclusion reason or "")."""
    dtype, gpu, variant = row["dtype"], row["gpu"], row["variant"]
    gpu = VARIANTS.get(_variant(gpu, variant), _variant(gpu, variant))
    if dtype == "tf32":
        return None, None, None, "no TF32 preset"
    if "PCIe" in variant and gpu == "H100":
        return None, None, None, "H100 PCIe: a different GPU with no preset"
    if "m_grouped" in row["library"]:
        return None, None, None, "several grouped GEMMs in one kernel"
    for text, reason in _EXCLUDED_SOURCES:
        if text in row["source"]:
            return None, None, None, reason
    if any(text in row["notes"] for text in _NON_RANDOM):
        return None, None, None, "non-random inputs (lower power, higher clock)"
    if dtype.startswith("fp8"):
        preset, wbits, act = f"{gpu}-FP8", 8, dtype
    else:
        preset, wbits, act = f"{gpu}-FP16", 16, "bf16" if dtype == "bf16" else "fp16"
    if row["source"].startswith(_UNFLUSHED) and _fits_l2(row, gpu, wbits):
        return preset, wbits, act, L2_RESIDENT
    return preset, wbits, act, ""


def _fits_l2(row: dict, gpu: str, wbits: int) -> bool:
    """Whether the row's operands (``wbits`` each: a dense preset's activations are as wide as
    its weights) and 16-bit result fit in the L2 of ``gpu``."""
    m, n, k = int(row["m"]), int(row["n"]), int(row["k"])
    working_set = (m + n) * k * wbits // 8 + m * n * 2
    return working_set <= GPUS[gpu].l2_bytes


def load(path: Path | str = DATA) -> list[Measurement]:
    """Every row of the measurements, with its preset and set (see the module docstring)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            m, n, k = int(row["m"]), int(row["n"]), int(row["k"])
            if row["time_us"]:
                time_us = float(row["time_us"])
            else:
                time_us = 2.0 * m * n * k / (float(row["tflops"]) * 1e12) * 1e6
            preset, wbits, act, reason = _target(row)
            rule_split = _split(row)
            rows.append(Measurement(
                gpu=row["gpu"], variant=row["variant"], dtype=row["dtype"], m=m, n=n, k=k,
                time_us=time_us, library=row["library"], source=row["source"],
                locator=row["locator"], notes=row["notes"], preset=preset,
                costs=_variant(row["gpu"], row["variant"]) if preset else None, wbits=wbits,
                act=act, split="excluded" if reason else rule_split, reason=reason,
                timing="kernel" if row["source"].startswith(_KERNEL_TIMED) else "per call",
                rule_split=rule_split,
            ))  # fmt: skip
    return rows
