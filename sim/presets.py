"""GPU presets for the GPU-scale model: public facts about the GPUs, each with its source, and
the tensor cores placed in them (LUT tensor cores built from :class:`lutsim.isa.config.CoreConfig`, or
the GPU's own MAC tensor cores as baselines).

A preset name is ``<GPU>-<tensor core>``: ``A100-LUT-1X``, ``A100-LUT-4X``, ``A100-LUT-8X``,
``A100-FP16``, ``A100-INT8``; the same on ``A100-80GB`` and ``H100``, which also has
``H100-FP8``.
:func:`machine` resolves a name, the weight bits, the activation format and the register
multiplier into one validated :class:`Machine`.

GPU facts (per SM unless marked; every figure comes from ``GPU_SOURCES``)
--------------------------------------------------------------------------
================================ ============= ============= =============
fact                             A100 (40 GB)  A100-80GB     H100 (SXM5)
================================ ============= ============= =============
SMs (GPU)                        108           108           132
tensor cores                     4             4             4
boost clock                      1410 MHz      1410 MHz      1830 MHz
32-bit registers                 65536         65536         65536
shared memory per thread block   163 KiB       163 KiB       227 KiB
shared memory bandwidth          128 B/clk     128 B/clk     128 B/clk
L2 capacity (GPU)                40 MiB        40 MiB        50 MiB
L2 bandwidth (GPU)               5120 B/clk    5120 B/clk    5120 B/clk
DRAM bandwidth (GPU)             1555 GB/s     2039 GB/s     3350 GB/s
FP32 vector lanes                64            64            128
dense FP16 MAC per clock         1024          1024          2048
dense INT8 MAC per clock         2048          2048          4096
dense FP8 MAC per clock          -             -             4096
CTAs per cluster sharing a tile  1             1             2
MAC warp tile multiples          1 x 2^k       1 x 2^k       1 or 3 x 2^k
================================ ============= ============= =============

Thread-block clusters (H100): two CTAs of consecutive row tiles form a cluster and share their
weight tile, which TMA multicast reads from L2 once for both (``h100-clusters``); the A100 has
no clusters. MAC warp tiles are the instruction tile times a power of two; on the H100 also
three times one (e.g. 48, 96, 192 columns), as the tiles of its cuBLAS kernels are
(``h100-tiles``), so the tile search can fill the 132 SMs with fewer idle ones in the last wave.

LUT tensor cores: ``LUT-1X`` is one M2N64K4 array (512 lookup elements) per tensor core, 4
tensor cores per SM (the paper's A100-like arrangement); ``LUT-4X`` and ``LUT-8X`` put 4 and 8
such arrays in each tensor core. The array is the :class:`lutsim.isa.config.CoreConfig` of the machine:
its M, N, K, weight bits and formats, and its LMMA timing ``latency_cycles["lmma"]``, are used
as they are, never re-declared here.

MAC tensor cores execute ``mma.sync`` instructions of the PTX ISA shapes (FP16 m16n8k16, INT8
and FP8 m16n8k32); an instruction occupies its tensor core for MACs / (MACs per clock per tensor
core) cycles: 8 cycles on A100, 4 on H100. A MAC preset runs either the low-bit weights
dequantized on the vector lanes (weight bits 1 to 4 or 1.58), or a **dense** model whose weights
are stored, moved and fed at the tensor core's own width (:data:`DENSE_WIDTHS`: W16 on the FP16
presets with FP16 or BF16 activations, W8 on the INT8 and FP8 presets), with no dequantization.

Costs under load (:class:`GpuCosts`, one per GPU in :data:`GPU_COSTS`; each value names its
source, and the fitted ones the measurements they were fitted to) turn the throughput model into
times comparable with measured kernels: a fixed time per kernel (prologue, epilogue and tail
that the cycle model does not count), the DRAM latency every pipeline step waits for, the
sustained fraction of the DRAM bandwidth, the sustained issue rate of the tensor cores under
load, the power limit on their rate, and the host's launch (only to compare with per-call
measurements). ``sustained=False``
in :func:`machine` gives the ideal machine (peak rates, no fixed time).

==================== ======= ========= ======= ================================================
cost                 A100    A100-PCIe H100    source
==================== ======= ========= ======= ================================================
fixed time / kernel  4.52 us 4.52 us   4.52 us fitted: H100 kernel-timed calibration rows
                                               (A100: carried)
DRAM latency         407 ns  407 ns    370 ns  pointer chase (gpu-benches): A100 40GB 574
                                               cycles at 1410 MHz (A100-80GB: 406 ns); H100
                                               PCIe 650-658 cycles at 1755 MHz
DRAM sustained       0.868   0.868     0.95    gpu-stream read, 100 % occupancy (gpu-benches):
                                               A100 80GB 1769 of 2039 GB/s; H100 PCIe 1942 of
                                               2039 GB/s
issue rate sustained 0.98    0.98      0.82    fitted: calibration rows
power limit (rate)   0.84    0.76      0.76    fitted: calibration rows (A100-PCIe: its own)
power limit, FP8     -       -         0.76    fitted: the H100's FP8 calibration rows
host launch / call   3.93 us 3.93 us   3.71 us fitted: per-call calibration rows (not in
                                               kernel times)
==================== ======= ========= ======= ================================================

The power limit is the highest fraction of the tensor cores' peak rate a GPU sustains within
its board power (400 W A100 SXM4, 250 W A100 PCIe, 700 W H100 SXM5): a kernel that would run
them faster is stretched to it, as the board lowers its clock (:func:`lutsim.sim.gpu.power_limited`).
Each MAC format has its own limit (:attr:`GpuCosts.format_power`): an FP8 ``mma`` does
twice the MACs of an FP16 one per clock, at an energy per clock of its own, so the share of
its peak a board sustains may differ; the LUT presets use the 16-bit limit. On the H100 the
fit finds the same share for FP8 as for FP16 (0.76) on its FP8 calibration rows.
``A100-PCIe`` is a variant (:data:`VARIANTS`): the A100 40GB PCIe has the A100's facts and
costs but its own power limit; ``machine(..., variant="A100-PCIe")`` gives an A100 preset its
costs. The A100-80GB shares the A100's costs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
from dataclasses import dataclass, field

from lutsim.isa.config import CoreConfig

__all__ = [
    "COST_SOURCES",
    "DENSE_WIDTHS",
    "GPUS",
    "GPU_COSTS",
    "PEAK_COSTS",
    "VARIANTS",
    "GPU_SOURCES",
    "MAC_FORMATS",
    "PRESETS",
    "REGISTER_MULTIPLIERS",
    "GpuCosts",
    "GpuSpec",
    "LutTensorCore",
    "MacTensorCore",
    "Machine",
    "machine",
    "preset_names",
]

GPU_SOURCES = types.MappingProxyType(
    {
        "a100-whitepaper": "NVIDIA A100 Tensor Core GPU Architecture (whitepaper, 2020), "
        "Table 1 and 'A100 SM architecture': 108 SMs, 4 tensor cores/SM, 1410 MHz boost, "
        "64K 32-bit registers/SM, 40 MB L2, 1555 GB/s HBM2, 64 FP32 cores/SM, 256 dense "
        "FP16 FMA per tensor core per clock; dense FP16 312 TFLOPS, INT8 624 TOPS",
        "a100-80gb-datasheet": "NVIDIA A100 Tensor Core GPU datasheet (2021): A100 80GB SXM "
        "HBM2e 2039 GB/s",
        "a100-pcie-datasheet": "NVIDIA A100 Tensor Core GPU datasheet (2021): A100 40GB PCIe, "
        "the same GPU (108 SMs, 1410 MHz boost, 1555 GB/s HBM2) at a maximum power of 250 W "
        "against the SXM4's 400 W",
        "h100-whitepaper": "NVIDIA H100 Tensor Core GPU Architecture (whitepaper, 2022), "
        "Table 3 (H100 SXM5): 132 SMs, 4 tensor cores/SM, 128 FP32 cores/SM, 256 KB register "
        "file/SM, 50 MB L2, 3.35 TB/s HBM3; dense FP16 989.4 TFLOPS, INT8 1978.9 TOPS, FP8 "
        "1978.9 TFLOPS",
        "h100-clock": "1830 MHz: the clock at which the H100 SXM5 whitepaper's dense figures "
        "hold, 1978.9e12 FLOP/s / (132 SMs x 8192 FLOP/clk) = 1.830 GHz",
        "design-s5": "DESIGN.md section 5 (public facts for presets): A100 1024 dense FP16 FMA "
        "and 2048 INT8 MAC per SM per clock; H100 dense FP8 8192 FLOP per clock per SM",
        "cuda-guide-smem": "CUDA C++ Programming Guide, compute capabilities 8.x and 9.0, "
        "shared memory: 32 banks, each 32 bits per clock cycle = 128 B/clk/SM; maximum shared "
        "memory per thread block 163 KB (8.0) and 227 KB (9.0)",
        "gtc20-ampere": "Krashinsky et al., 'Inside the NVIDIA Ampere Architecture', GTC 2020 "
        "(S21730): A100 L2 read bandwidth 5120 B/clk (2.3x V100)",
        "h100-l2": "no NVIDIA figure per clock; the A100 5120 B/clk is carried over, as in "
        "Ultrasonics Sonochemistry 99 (2023) 106546, Table 3 (H100 L2 8986 GB/s at 1755 MHz "
        "= 5120 B/clk)",
        "h100-clusters": "H100 whitepaper, 'Thread Block Clusters' and 'Tensor Memory "
        "Accelerator': the CTAs of a cluster run on SMs of one GPC, and TMA multicast loads a "
        "tile from L2 once into the shared memory of several CTAs of the cluster; CUTLASS 3.x "
        "SM90 GEMMs (SM90_TMA_LOAD_MULTICAST, ClusterShape 2x1x1 in its Hopper examples) and "
        "cuBLAS (a 4096^3 GEMM on H100 SXM5 launched as a grid of clusters: NVIDIA/cutlass "
        "issue #1921) use clusters of 2 along M, sharing the B (weight) tile; the A100 has no "
        "clusters (1)",
        "h100-tiles": "cuBLAS 12 on H100 runs GEMMs with tiles that are not powers of two, "
        "e.g. nvjet_hsh_192x192_64x3_2x1_v_bz_coopB_NTN for 16384x16384x1024 (nsys trace in "
        "NVIDIA/Fuser issue #3137); Hopper's wgmma takes any N from 8 to 256 in steps of 8 (PTX "
        "ISA 8.x, wgmma.mma_async shapes); the A100's cuBLAS tiles are powers of two "
        "(ampere_*_128x128, _256x128, ...)",
        "ptx-mma": "PTX ISA 8.x, 'Warp-level matrix multiply-accumulate instructions': "
        "mma.sync shapes m16n8k16 (f16), m16n8k32 (s8, e4m3)",
    }
)
"""Where every GPU figure comes from (keys used in :attr:`GpuSpec.sources`)."""


@dataclass(frozen=True)
class GpuSpec:
    """One GPU: public facts, each with its source in :attr:`sources` (field -> key of
    :data:`GPU_SOURCES`). Bandwidths per clock are at :attr:`freq_mhz`."""

    name: str
    sms: int
    tensor_cores_per_sm: int
    freq_mhz: float
    registers_per_sm: int  # 32-bit registers
    smem_bytes_per_block: int  # shared memory one thread block may use
    smem_bytes_per_cycle: float  # per SM
    l2_bytes: int
    l2_bytes_per_cycle: float  # whole GPU
    dram_bytes_per_s: float
    vector_lanes_per_sm: int  # FP32 lanes: one lane-op per lane per clock
    macs: tuple[tuple[str, int], ...]  # (format, dense MACs per clock) of its own tensor cores
    sources: types.MappingProxyType = field(repr=False, compare=False)
    cluster_multicast: int = 1  # CTAs of a thread-block cluster that share one L2 read of a tile
    mac_tile_multiples: tuple[int, ...] = (1,)  # MAC warp tiles: instruction tile x these x 2^k

    def __post_init__(self):
        for name in ("sms", "tensor_cores_per_sm", "registers_per_sm", "smem_bytes_per_block",
                     "l2_bytes", "vector_lanes_per_sm", "cluster_multicast"):  # fmt: skip
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(
                    f"GPU {self.name}: {name} must be a positive integer, not {value!r}"
                )
        multiples = self.mac_tile_multiples
        if not (multiples and all(type(v) is int and v >= 1 for v in multiples)):
            raise ValueError(f"GPU {self.name}: mac_tile_multiples must be positive integers, "
                             f"not {multiples!r}")  # fmt: skip
        for name in ("freq_mhz", "smem_bytes_per_cycle", "l2_bytes_per_cycle", "dram_bytes_per_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"GPU {self.name}: {name} must be a positive number, not {value!r}"
                )

    @property
    def mac_per_sm_per_cycle(self) -> dict[str, int]:
        return dict(self.macs)

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_bytes_per_s / (self.freq_mhz * 1e6)

    @property
    def register_bytes_per_tensor_core(self) -> int:
        """Register file bytes of one SM sub-partition (one tensor core and its warp)."""
        return self.registers_per_sm * 4 // self.tensor_cores_per_sm

    @property
    def vector_lanes_per_tensor_core(self) -> float:
        return self.vector_lanes_per_sm / self.tensor_cores_per_sm

    def with_clock(self, freq_mhz: float) -> GpuSpec:
        """The same GPU at another clock: per-clock facts stay, DRAM bytes per clock change.
        The clock must be 1 to 100,000 MHz."""
        if not (isinstance(freq_mhz, int | float) and 1 <= freq_mhz <= 100_000):
            raise ValueError(f"clock must be 1 to 100000 MHz, not {freq_mhz!r}")
        return dataclasses.replace(self, freq_mhz=freq_mhz)


def _gpu(name, sources, **facts) -> GpuSpec:
    macs = tuple(facts.pop("mac_per_sm_per_cycle").items())
    return GpuSpec(name=name, macs=macs,
                   sources=types.MappingProxyType(sources), **facts)  # fmt: skip


_A100_SOURCES = {
    "sms": "a100-whitepaper", "tensor_cores_per_sm": "a100-whitepaper",
    "freq_mhz": "a100-whitepaper", "registers_per_sm": "a100-whitepaper",
    "smem_bytes_per_block": "cuda-guide-smem", "smem_bytes_per_cycle": "cuda-guide-smem",
    "l2_bytes": "a100-whitepaper", "l2_bytes_per_cycle": "gtc20-ampere",
    "dram_bytes_per_s": "a100-whitepaper", "vector_lanes_per_sm": "a100-whitepaper",
    "macs": "design-s5", "cluster_multicast": "h100-clusters", "mac_tile_multiples": "h100-tiles",
}  # fmt: skip

# fmt: off
GPUS: dict[str, GpuSpec] = {
    "A100": _gpu(
        "A100", _A100_SOURCES,
        sms=108, tensor_cores_per_sm=4, freq_mhz=1410.0, registers_per_sm=65536,
        smem_bytes_per_block=163 * 1024, smem_bytes_per_cycle=128.0,
        l2_bytes=40 * 1024 * 1024, l2_bytes_per_cycle=5120.0, dram_bytes_per_s=1555e9,
        vector_lanes_per_sm=64, mac_per_sm_per_cycle={"fp16": 1024, "int8": 2048},
    ),
    "A100-80GB": _gpu(
        "A100-80GB", {**_A100_SOURCES, "dram_bytes_per_s": "a100-80gb-datasheet"},
        sms=108, tensor_cores_per_sm=4, freq_mhz=1410.0, registers_per_sm=65536,
        smem_bytes_per_block=163 * 1024, smem_bytes_per_cycle=128.0,
        l2_bytes=40 * 1024 * 1024, l2_bytes_per_cycle=5120.0, dram_bytes_per_s=2039e9,
        vector_lanes_per_sm=64, mac_per_sm_per_cycle={"fp16": 1024, "int8": 2048},
    ),
    "H100": _gpu(
        "H100",
        {"sms": "h100-whitepaper", "tensor_cores_per_sm": "h100-whitepaper",
         "freq_mhz": "h100-clock", "registers_per_sm": "h100-whitepaper",
         "smem_bytes_per_block": "cuda-guide-smem", "smem_bytes_per_cycle": "cuda-guide-smem",
         "l2_bytes": "h100-whitepaper", "l2_bytes_per_cycle": "h100-l2",
         "dram_bytes_per_s": "h100-whitepaper", "vector_lanes_per_sm": "h100-whitepaper",
         "macs": "design-s5 + h100-whitepaper", "cluster_multicast": "h100-clusters",
         "mac_tile_multiples": "h100-tiles"},
        sms=132, tensor_cores_per_sm=4, freq_mhz=1830.0, registers_per_sm=65536,
        smem_bytes_per_block=227 * 1024, smem_bytes_per_cycle=128.0,
        l2_bytes=50 * 1024 * 1024, l2_bytes_per_cycle=5120.0, dram_bytes_per_s=3.35e12,
        vector_lanes_per_sm=128,
        mac_per_sm_per_cycle={"fp16": 2048, "int8": 4096, "fp8": 4096}, cluster_multicast=2,
        mac_tile_multiples=(1, 3),
    ),
}
# fmt: on

# Fitted by ``benchmarks/validate_gpu.py --fit`` (calibration rows only; see COST_SOURCES).
# The power limits are rates (fractions of the tensor cores' peak), fitted with the issue rate,
# one per MAC format with calibration rows (the H100's FP16/BF16 rows and its FP8 rows).
# The on-GPU fixed time is fitted on the H100's kernel-timed calibration rows; no A100 row is
# kernel-timed, so the A100 carries the H100's over and fits its launch time on per-call rows.
A100_FIXED_US = 4.52
A100_ISSUE = 0.98
A100_LAUNCH_US = 3.93
A100_POWER = 0.84
A100_PCIE_POWER = 0.76
H100_POWER = 0.76
H100_FP8_POWER = 0.76
H100_FIXED_US = 4.52
H100_ISSUE = 0.82
H100_LAUNCH_US = 3.71

COST_SOURCES = types.MappingProxyType(
    {
        "gpu-benches-latency": "te42kyfo/gpu-benches (D. Ernst, NHR@FAU), gpu-latency/"
        "h100_pcie.txt @ a7dc559c: pointer chase, DRAM 650-658 cycles at 1755 MHz = 370-375 ns "
        "(H100 PCIe; carried over to the H100 SXM5)",
        "gpu-benches-latency-a100": "te42kyfo/gpu-benches, cuda-latency/a100_40.txt @ 2f915884: "
        "pointer chase (one warp), A100 40GB at 1410 MHz, 572-575 cycles for buffers of 125 MB "
        "to 1.5 GB (beyond the 40 MB L2) = 407 ns",
        "gpu-benches-latency-a100-80gb": "te42kyfo/gpu-benches, cuda-latency/a100_80.txt @ "
        "2f915884: the same pointer chase on an A100 80GB at 1410 MHz, 570-572 cycles for 125 to "
        "340 MB = 406 ns",
        "gpu-benches-stream-a100": "te42kyfo/gpu-benches, cuda-stream/a100_80.txt @ cdcc732d: "
        "gpu-stream read kernel, A100 80GB, 100 % occupancy: 1769 GB/s of 2039 GB/s = 0.868; "
        "carried over to the A100 40GB (the same memory system at 1555 GB/s)",
        "gpu-benches-stream": "te42kyfo/gpu-benches README.md @ 1271e641, gpu-stream, H100 PCIe, "
        "CUDA 11.7, 100 % occupancy: read 1942 GB/s of 2039 GB/s peak = 0.95; carried over to "
        "the H100 SXM5",
        "fitted-calibration": "fitted by benchmarks/validate_gpu.py --fit on the calibration rows "
        "of sim/data/gpu_measurements.csv (split column 'calibration'; the validation rows were "
        "not used); the fit minimizes the mean absolute percentage error of the dense presets",
        "fitted-pcie": "fitted by benchmarks/validate_gpu.py --fit on the calibration rows of "
        "sim/data/gpu_measurements.csv that name an A100 40GB PCIe (250 W against the SXM4's "
        "400 W: a100-pcie-datasheet in GPU_SOURCES); its other costs are the A100's",
        "power-limit": "why a power limit: the board lowers its clocks when it draws more than "
        "its power limit (nvidia-smi documentation, clocks event reason 'SW Power Cap'); limits "
        "400 W A100 SXM4 and 250 W A100 40GB PCIe (NVIDIA A100 datasheet, 2021), up to 700 W "
        "H100 SXM5 (NVIDIA H100 datasheet, 2022); the same GEMM on an A100 reaches 257-295 "
        "TFLOPS depending on how much power its input data draws (Horace He, 'Strangely, "
        "Matrix Multiplications on GPUs Run Faster When Given Predictable Data'); the rate the "
        "limit allows is fitted (fitted-calibration, fitted-pcie)",
        "ideal": "the ideal machine: peak rates, no fixed time",
    }
)
"""Where every cost under load comes from (keys used in :attr:`GpuCosts.sources`)."""


@dataclass(frozen=True)
class GpuCosts:
    """Costs of running kernels on a real GPU that a throughput model does not have.

    ``kernel_fixed_us``: time every kernel takes on the GPU beyond its simulated cycles:
    prologue (argument and descriptor set-up, the first CTAs' address computation), epilogue
    and tail not in the cycle model (fitted). ``launch_us``: the host's launch of one kernel,
    which a timing of each call contains but kernels queued back to back (a CUDA graph, a
    model's forward pass) hide: not part of a simulated kernel's time, added only to compare
    with per-call measurements (fitted). ``dram_latency_ns``: from a DRAM request to its data; every pipeline
    step of a CTA that reads DRAM waits for it, overlapped only by the other stages in flight
    (so a kernel with too few bytes in flight is latency-bound, Little's law).
    ``dram_efficiency``: the sustained fraction of the DRAM peak that streaming reads reach.
    ``issue_efficiency``: the sustained issue rate of a tensor core under load as a fraction of
    its peak (clock below boost under the power limit, warp-scheduling and register-bank
    stalls); every issue slot takes ``latency / issue_efficiency`` cycles. It is a property of
    the GPU, so the LUT presets on that GPU pay it too. ``power_efficiency``: the highest
    fraction of the tensor cores' peak rate the GPU sustains within its power limit (the board
    lowers its clock when a kernel's tensor-core load would draw more); a kernel whose issue
    slots keep the tensor cores busier than that is stretched to it (``power-limit`` in
    :data:`COST_SOURCES`; fitted; per issue slot, so the LUT presets pay it too).
    ``format_power``: the power limit of a MAC format whose energy per peak-rate cycle differs
    from the 16-bit one (an FP8 ``mma`` does twice the MACs per clock of an FP16 one at less
    than twice the energy, so the share of its peak the board sustains is its own), as
    ``(format, fraction)`` pairs (fitted); every other format, and the LUT presets, use
    ``power_efficiency``."""

    kernel_fixed_us: float
    dram_latency_ns: float
    dram_efficiency: float
    issue_efficiency: float
    launch_us: float
    sources: types.MappingProxyType = field(repr=False, compare=False)
    power_efficiency: float = 1.0
    format_power: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        for name in ("kernel_fixed_us", "dram_latency_ns", "launch_us"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, not {value!r}")
        for name in ("dram_efficiency", "issue_efficiency", "power_efficiency"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 1):
                raise ValueError(f"{name} must be a number in (0, 1], not {value!r}")
        for fmt, value in self.format_power:
            if not (isinstance(value, int | float) and 0 < value <= 1):
                raise ValueError(f"power_efficiency of {fmt} must be a number in (0, 1], "
                                 f"not {value!r}")  # fmt: skip

    def power_limit(self, fmt: str | None) -> float:
        """The power limit (a fraction of the peak rate) of tensor cores computing in ``fmt``:
        its own (``format_power``) or ``power_efficiency``."""
        return dict(self.format_power).get(fmt, self.power_efficiency)

    def fixed_cycles(self, freq_mhz: float) -> int:
        """The fixed time of one kernel in cycles."""
        return math.ceil(self.kernel_fixed_us * freq_mhz)

    def dram_latency_cycles(self, freq_mhz: float) -> float:
        return self.dram_latency_ns * freq_mhz / 1e3


def _costs(fixed_us, latency_ns, dram, issue, launch_us, sources, power=1.0,
           format_power=None) -> GpuCosts:  # fmt: skip
    return GpuCosts(fixed_us, latency_ns, dram, issue, launch_us,
                    types.MappingProxyType(sources), power,
                    tuple(sorted((format_power or {}).items())))  # fmt: skip


_FITTED = {"kernel_fixed_us": "fitted-calibration", "dram_latency_ns": "gpu-benches-latency",
           "dram_efficiency": "gpu-benches-stream", "issue_efficiency": "fitted-calibration",
           "launch_us": "fitted-calibration", "power_efficiency": "fitted-calibration",
           "format_power": "fitted-calibration"}  # fmt: skip
_A100_FITTED = {**_FITTED, "dram_latency_ns": "gpu-benches-latency-a100",
                "dram_efficiency": "gpu-benches-stream-a100"}  # fmt: skip
_A100_80GB_FITTED = {**_A100_FITTED, "dram_latency_ns": "gpu-benches-latency-a100-80gb"}

# fmt: off
GPU_COSTS: dict[str, GpuCosts] = {  # fitted values: see COST_SOURCES["fitted-calibration"]
    "A100":      _costs(A100_FIXED_US, 407.0, 0.868, A100_ISSUE, A100_LAUNCH_US, _A100_FITTED,
                        A100_POWER),
    "A100-80GB": _costs(A100_FIXED_US, 406.0, 0.868, A100_ISSUE, A100_LAUNCH_US,
                        _A100_80GB_FITTED, A100_POWER),
    "H100":      _costs(H100_FIXED_US, 370.0, 0.95, H100_ISSUE, H100_LAUNCH_US, _FITTED,
                        H100_POWER, {"fp8": H100_FP8_POWER}),
    "A100-PCIe": _costs(A100_FIXED_US, 407.0, 0.868, A100_ISSUE, A100_LAUNCH_US,
                        {**_A100_FITTED, "power_efficiency": "fitted-pcie"}, A100_PCIE_POWER),
}
# fmt: on
VARIANTS = types.MappingProxyType({"A100-PCIe": "A100"})
"""Variants of a GPU with its facts but costs of their own (:data:`GPU_COSTS`): the A100 40GB
PCIe is the A100 at 250 W (``a100-pcie-datasheet``), with a lower power limit."""
PEAK_COSTS = _costs(0.0, 0.0, 1.0, 1.0, 0.0, dict.fromkeys(_FITTED, "ideal"))
"""The ideal machine's costs: peak rates, no fixed time."""

DENSE_WIDTHS = types.MappingProxyType(
    {  # MAC format: (weight bits, activation formats a dense model may use)
        "fp16": (16, ("fp16", "bf16")),
        "int8": (8, ("int8",)),
        "fp8": (8, ("fp8_e4m3", "fp8_e5m2")),
    }
)
"""Dense models the MAC presets run at their own width: FP16/BF16 W16A16 on the FP16 tensor
cores (BF16 at the FP16 rate, as both whitepapers give), INT8 W8A8, FP8 W8A8 (H100)."""

ACT_ALIASES = types.MappingProxyType({"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2"})
DENSE_BITS = types.MappingProxyType({"fp16": 16, "bf16": 16, "int8": 8, "fp8_e4m3": 8,
                                     "fp8_e5m2": 8})  # fmt: skip
"""Bits of the dense operand formats (``bf16`` is a MAC-preset format only)."""

MAC_FORMATS = types.MappingProxyType(
    {  # format: (activation and weight format after dequantization, mma.sync shape m, n, k)
        "fp16": ("fp16", (16, 8, 16)),
        "int8": ("int8", (16, 8, 32)),
        "fp8": ("fp8_e4m3", (16, 8, 32)),
    }
)
"""MAC tensor-core formats: operand format and ``mma.sync`` shape (``ptx-mma``)."""

REGISTER_MULTIPLIERS = (1, 2, 4, 8)
LUT_ARRAYS = {"LUT-1X": 1, "LUT-4X": 4, "LUT-8X": 8}


@dataclass(frozen=True)
class LutTensorCore:
    """``arrays`` LUT arrays per tensor core, each the core ``core``."""

    arrays: int
    core: CoreConfig

    kind = "lut"

    @functools.cached_property
    def lmma_cycles(self) -> int:
        """Cycles one LMMA occupies an array: the core's timing contract."""
        return self.core.latency_cycles["lmma"]

    @property
    def macs_per_cycle(self) -> float:
        """Peak weight x activation products per clock of one tensor core."""
        c = self.core
        return self.arrays * c.m * c.n * c.k / self.lmma_cycles

    @property
    def label(self) -> str:
        return f"LUT-{self.arrays}X {self.core.mnemonic}"


@dataclass(frozen=True)
class MacTensorCore:
    """The GPU's own tensor core in ``fmt`` (fp16, int8, fp8) at ``macs_per_cycle`` dense MACs
    per clock, executing ``mma.sync`` of shape ``shape`` = (weight rows, tokens, K)."""

    fmt: str
    macs_per_cycle: float
    shape: tuple[int, int, int]

    kind = "mac"

    @property
    def operand_format(self) -> str:
        return MAC_FORMATS[self.fmt][0]

    @functools.cached_property
    def mma_cycles(self) -> int:
        m, n, k = self.shape
        return math.ceil(m * n * k / self.macs_per_cycle)

    @property
    def label(self) -> str:
        m, n, k = self.shape
        return f"{self.fmt.upper()} MAC mma.m{m}n{n}k{k}"


@dataclass(frozen=True)
class Machine:
    """A GPU with its tensor cores, weight bits, activation format and register multiplier."""

    preset: str
    gpu: GpuSpec
    tc: LutTensorCore | MacTensorCore
    weight_bits: int
    ternary: bool
    act_format: str
    regs: int
    costs: GpuCosts = PEAK_COSTS
    dense: bool = False  # a MAC preset running weights at its own width (no dequantization)
    rows_resident: bool = False  # kernels may keep a CTA's tables in shared memory (N loop)

    @property
    def is_lut(self) -> bool:
        return self.tc.kind == "lut"

    @property
    def dram_bytes_per_cycle(self) -> float:
        """Sustained DRAM bytes per clock: the peak times ``costs.dram_efficiency``."""
        return self.gpu.dram_bytes_per_cycle * self.costs.dram_efficiency

    @property
    def dram_latency_cycles(self) -> float:
        """Cycles from a DRAM request to its data (:attr:`GpuCosts.dram_latency_ns`)."""
        return self.costs.dram_latency_cycles(self.gpu.freq_mhz)

    @property
    def power_efficiency(self) -> float:
        """The power limit of its tensor cores (:meth:`GpuCosts.power_limit` of a MAC
        preset's format; a LUT preset's is the GPU's ``power_efficiency``)."""
        return self.costs.power_limit(None if self.is_lut else self.tc.fmt)

    @property
    def fixed_cycles(self) -> int:
        """Cycles every kernel takes beyond its simulated ones (:meth:`GpuCosts.fixed_cycles`)."""
        return self.costs.fixed_cycles(self.gpu.freq_mhz)

    @property
    def register_bytes_per_tensor_core(self) -> int:
        return self.gpu.register_bytes_per_tensor_core * self.regs

    @property
    def macs_per_cycle(self) -> float:
        """Peak MACs per clock of the whole GPU (the compute roof, per clock)."""
        return self.gpu.sms * self.gpu.tensor_cores_per_sm * self.tc.macs_per_cycle

    @property
    def label(self) -> str:
        w = "W1.58" if self.ternary else f"W{self.weight_bits}"
        kind = " dense" if self.dense else ""
        return f"{self.preset} {w}{kind} {self.act_format} regs {self.regs}x"

    def with_sms(self, sms: int) -> Machine:
        """The same machine cut down to ``sms`` SMs, with L2 capacity, L2 bandwidth and DRAM
        bandwidth in proportion (for detailed-mode studies at a small scale)."""
        if isinstance(sms, bool) or not isinstance(sms, int) or not 1 <= sms <= self.gpu.sms:
            raise ValueError(f"SMs must be 1 to {self.gpu.sms}, not {sms!r}")
        share = sms / self.gpu.sms
        gpu = dataclasses.replace(
            self.gpu,
            name=f"{self.gpu.name}/{sms}SM",
            sms=sms,
            l2_bytes=max(1, int(self.gpu.l2_bytes * share)),
            l2_bytes_per_cycle=self.gpu.l2_bytes_per_cycle * share,
            dram_bytes_per_s=self.gpu.dram_bytes_per_s * share,
        )
        return dataclasses.replace(self, preset=f"{self.preset}/{sms}SM", gpu=gpu)


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def _preset_table() -> dict[str, tuple[str, str]]:
    table = {}
    for gpu_name, gpu in GPUS.items():
        for tc_name in LUT_ARRAYS:
            table[f"{gpu_name}-{tc_name}"] = (gpu_name, tc_name)
        for fmt in MAC_FORMATS:
            if fmt in gpu.mac_per_sm_per_cycle:
                table[f"{gpu_name}-{fmt.upper()}"] = (gpu_name, fmt)
    return table


PRESETS: dict[str, tuple[str, str]] = _preset_table()
"""Preset name -> (GPU, tensor core): ``LUT-1X/4X/8X`` or a MAC format."""


def machine(
    preset: str,
    wbits: int | float = 2,
    act: str | None = None,
    regs: int = 1,
    *,
    table_format: str | None = None,
    core: CoreConfig | None = None,
    freq_mhz: float | None = None,
    sustained: bool = True,
    rows_resident: bool = False,
    variant: str | None = None,
) -> Machine:
    """Resolve a preset into a :class:`Machine`.

    ``wbits``: weight bits 1..4, or 1.58 for ternary weights; on a MAC preset also its own
    width (:data:`DENSE_WIDTHS`: 16 on FP16, 8 on INT8 and FP8), a dense model with no
    dequantization; ``act``: activation format of the LUT core (int8, int16, fp8_e4m3,
    fp8_e5m2, fp16; default fp16; ``e4m3``/``e5m2`` stand for the FP8 formats); a MAC preset
    computes in its own format and accepts only that one (an FP16 preset running a dense model
    also bf16);
    ``regs``: register-file multiplier (1, 2, 4, 8); ``table_format``: the LUT core's table
    format (default: derived by :class:`lutsim.isa.config.CoreConfig`); ``core``: a whole core config
    instead (its weight bits and formats win); ``freq_mhz``: another clock (e.g. 1410 for the
    paper's normalization of both GPUs); ``sustained``: the GPU's costs under load
    (:data:`GPU_COSTS`), or with False the ideal machine (:data:`PEAK_COSTS`);
    ``rows_resident``: kernels may keep each CTA's tables (or activations) in shared memory
    across an N loop of several column tiles (:class:`lutsim.sim.gpu_plan.Tiling` ``n_loop``);
    ``variant``: a variant of the preset's GPU (:data:`VARIANTS`, e.g. ``"A100-PCIe"``) whose
    costs under load replace the GPU's.
    """
    mach = _machine(preset, wbits, act, regs, table_format, core, freq_mhz, sustained)
    if variant is not None:
        if variant not in VARIANTS or VARIANTS[variant] != mach.gpu.name:
            known = [v for v, gpu in VARIANTS.items() if gpu == mach.gpu.name]
            raise ValueError(f"{variant!r} is not a variant of {mach.gpu.name}; known: "
                             f"{', '.join(known) or 'none'}")  # fmt: skip
        if sustained:
            mach = dataclasses.replace(mach, costs=GPU_COSTS[variant])
    return dataclasses.replace(mach, rows_resident=True) if rows_resident else mach


def _machine(preset, wbits, act, regs, table_format, core, freq_mhz, sustained) -> Machine:
    if preset not in PRESETS:
        raise ValueError(f"unknown GPU preset {preset!r}; known: {', '.join(PRESETS)}")
    if isinstance(regs, bool) or regs not in REGISTER_MULTIPLIERS:
        raise ValueError(f"register multiplier must be one of 1, 2, 4, 8, not {regs!r}")
    gpu_name, tc_name = PRESETS[preset]
    gpu = GPUS[gpu_name]
    costs = GPU_COSTS[gpu_name] if sustained else PEAK_COSTS
    if freq_mhz is not None:
        if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, int | float):
            raise ValueError(f"clock must be 1 to 100000 MHz, not {freq_mhz!r}")
        gpu = gpu.with_clock(float(freq_mhz))
    act = ACT_ALIASES.get(act, act) if isinstance(act, str) else act
    if core is None and tc_name not in LUT_ARRAYS:
        width, dense_acts = DENSE_WIDTHS[tc_name]
        if not isinstance(wbits, bool) and wbits == width:
            if act not in (None, *dense_acts):
                raise ValueError(
                    f"{preset} runs dense W{width} models on {' or '.join(dense_acts)} "
                    f"activations, not {act}"
                )
            if table_format is not None:
                raise ValueError(f"{preset} has no tables; table_format applies to LUT presets")
            per_tc = gpu.mac_per_sm_per_cycle[tc_name] / gpu.tensor_cores_per_sm
            tc = MacTensorCore(tc_name, per_tc, MAC_FORMATS[tc_name][1])
            return Machine(preset, gpu, tc, width, False, act or dense_acts[0], regs, costs, True)
    if core is None:
        ternary = wbits == 1.58
        if not ternary and (isinstance(wbits, bool) or wbits not in (1, 2, 3, 4)):
            if tc_name in LUT_ARRAYS:
                raise ValueError(f"weight bits must be 1, 2, 3, 4 or 1.58, not {wbits!r}")
            width = DENSE_WIDTHS[tc_name][0]
            raise ValueError(
                f"{preset} takes weight bits 1, 2, 3, 4 or 1.58 (dequantized) or {width} "
                f"(dense), not {wbits!r}"
            )
        changes = {"weight_bits": 2 if ternary else int(wbits), "ternary": ternary}
        if tc_name in LUT_ARRAYS:
            changes["act_format"] = act or "fp16"
            if table_format is not None:
                changes["table_format"] = table_format
        else:
            own = MAC_FORMATS[tc_name][0]
            if act not in (None, own):
                raise ValueError(f"{preset} computes on {own} activations, not {act}")
            if table_format is not None:
                raise ValueError(f"{preset} has no tables; table_format applies to LUT presets")
        core = CoreConfig(**changes)
    if tc_name in LUT_ARRAYS:
        tc: LutTensorCore | MacTensorCore = LutTensorCore(LUT_ARRAYS[tc_name], core)
        act_format = core.act_format
    else:
        per_tc = gpu.mac_per_sm_per_cycle[tc_name] / gpu.tensor_cores_per_sm
        tc = MacTensorCore(tc_name, per_tc, MAC_FORMATS[tc_name][1])
        act_format = MAC_FORMATS[tc_name][0]
    return Machine(preset, gpu, tc, core.weight_bits, core.ternary, act_format, regs, costs)
