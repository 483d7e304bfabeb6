"""GPU-scale model: mpGEMM kernels on a GPU of LUT tensor cores, or of MAC tensor cores that
dequantize the weights, in two fidelity modes that agree.

>>> run = simulate("A100-LUT-4X", 2048, 27648, 5120, wbits=2, table_format="int8")
>>> run.cycles, run.latency_us, run.gemm_tops, run.utilization["compute"], run.gemm.bound

The model counts and times; it never prices (``reports`` turns the action counts into area and
energy). One time unit is one clock cycle at the preset's clock.

What is modeled
---------------
* **Machine** (:mod:`lutsim.sim.presets`): SMs, 4 tensor cores per SM, the register file, shared
  memory capacity and bandwidth per SM, L2 capacity and bandwidth, DRAM bandwidth, FP32 vector
  lanes; public facts with their sources. Bandwidths are bytes per clock at the preset clock.
* **Tensor cores.** A LUT tensor core holds 1, 4 or 8 arrays, each the core
  :class:`lutsim.isa.config.CoreConfig` (the paper's M2N64K4). It executes its warp's LMMA
  instructions in order, ``arrays`` at a time; each issue slot occupies the arrays for
  ``CoreConfig.latency_cycles["lmma"]`` (= weight bits) cycles under the issue rule of
  :mod:`lutsim.isa.timing` (accepted in the last cycle of the previous one, or, after an idle gap, in
  the first cycle its operands are there; executed from the next). A MAC tensor core does the
  same with ``mma.sync`` instructions of MACs / (MACs per clock) cycles.
* **Operands live in registers** (LMMA is warp-level, like ``mma.sync``): a warp tile's 32-bit
  accumulators and two instruction-K slices of its fragments (tables or activations, packed
  weights, on MAC cores also the dequantized weights) must fit in one SM sub-partition's
  register file times the register multiplier (1x, 2x, 4x, 8x). The register file bounds the
  warp tile; the warp tile sets how often each table and weight fragment is reused, and so the
  shared-memory traffic per lookup.
* **Kernel** (:mod:`lutsim.sim.gpu_plan`): thread blocks (CTAs) of one warp per tensor core, launched
  in order onto free SMs, one CTA per SM at a time; a pipeline of ``stages`` shared-memory
  stages of ``k_step`` activations along K; split-K with fp32 atomic adds in L2 when the tiles
  alone would leave SMs idle. Tables (LUT) or activations (MAC) and packed low-bit weights with
  an fp16 scale and zero point per column move DRAM -> L2 -> shared memory -> registers; fp16
  results (fp32 under split-K) go registers -> shared memory -> L2 -> DRAM.
* **L2 reuse:** the CTAs of one wave that share an operand tile fetch it from DRAM once (each a
  share); a later wave fetches it again unless the bytes touched since its last use (an LRU
  reuse distance on tiles) fit in L2. Results are written back from L2 to DRAM with lower
  priority than reads (buffered writes); a kernel ends when they have drained.
* **MAC baselines** dequantize on the fly: each warp unpacks its weight columns on its vector
  lanes (:data:`lutsim.sim.gpu_plan.DEQUANT_OPS_PER_WEIGHT`) before its ``mma`` instructions, once per
  CTA that uses them; weights are ``mma``'s A operand, tokens its B operand (8 per instruction).
* **Table precompute** on the vector lanes (:func:`lutsim.sim.gpu_plan.precompute_ops` per table).
  ``"fused"`` into the preceding element-wise kernel: only the extra arithmetic, plus the extra
  DRAM bytes when tables are larger than the activations they replace (reported as a kernel
  ``precompute (fused)`` of those extra cycles). ``"separate"``: its own kernel that reads the
  activations and writes the tables, simulated chunk by chunk (16 KiB) in both modes.
  ``"none"``: tables are given. Epilogue: :data:`lutsim.sim.gpu_plan.EPILOGUE_OPS` per output.
* **Thread-block clusters** (H100, :attr:`lutsim.sim.presets.GpuSpec.cluster_multicast`): two
  CTAs of consecutive row tiles share their weight tile, read from L2 once by TMA multicast.
* **Tile search:** without a :class:`Tiling`, :func:`choose_tiling` ranks every feasible tiling
  (warp tile of powers of two times the instruction tile, on the H100's MAC cores also three
  times a power of two (:attr:`lutsim.sim.presets.GpuSpec.mac_tile_multiples`), warp
  arrangement, k_step, split-K;
  the most stages that fit, up to 4) by a quick estimate and keeps the fastest of the best 8 by
  the fast mode, as an autotuning compiler would.

Fidelity modes
--------------
``"detailed"`` (:mod:`lutsim.sim.gpu_detailed`): every tensor-core issue slot and every pipeline step of
every CTA is a SimPy event; DRAM, L2 and shared memory are first-come first-served bandwidth
resources the SMs contend for. ``"fast"`` (:mod:`lutsim.sim.gpu_fast`): tile-level steady state in
closed form per CTA, with the start-up queueing of the first wave, for sweeps and whole models.
The tests hold them within 1 % of each other on decode and small-batch shapes of the presets
and on multi-wave shapes of scaled-down GPUs (:meth:`lutsim.sim.presets.Machine.with_sms`). Kernels of
a few thousand cycles whose CTAs run a dozen steps or fewer with several resources in balance
can differ by more (the fast mode lower, by up to about 11 % in our sweeps): their queueing at
L2, DRAM and shared memory never reaches a steady state.

Costs under load (:class:`lutsim.sim.presets.GpuCosts`, applied identically in both modes)
-------------------------------------------------------------------------------------------
* **Fixed time per kernel**: every kernel (the GEMM, a separate precompute; not a fused one)
  takes ``kernel_fixed_us`` on top of its simulated cycles (:attr:`KernelRun.fixed_cycles`).
* **DRAM latency**: a step's DRAM data arrives ``dram_latency_ns`` after its request; the
  ``stages`` buffers of a CTA overlap it, so a kernel with too few bytes in flight (Little's
  law) is paced by latency, not bandwidth. The host's launch is not included (kernels queued back to
  back hide it); ``benchmarks/validate_gpu.py`` adds it to compare with per-call timings.
* **Sustained rates**: DRAM at ``dram_efficiency`` of its peak; every tensor-core issue slot at
  ``latency / issue_efficiency`` cycles (issue stalls, the clock a light load holds).
* **Power limit**: a GEMM whose tensor cores would run above the power limit of their format
  (``power_efficiency``, or its own in ``format_power``: FP8 on the H100) as a fraction of
  their peak rate is stretched to that rate (:func:`power_limited`): the board lowers its
  clock when a dense tensor-core load would draw more than its power limit (400 W A100 SXM4,
  250 W A100 PCIe, 700 W H100 SXM5), as a large GEMM's does and a small or memory-bound one's
  does not.
* **Waves**: CTAs go to SMs in launch order, one per SM at a time, so a last wave that fills
  few SMs (wave quantization) and CTAs fewer than SMs cost what they cost.
* ``sustained=False`` (:func:`simulate`) gives the ideal machine: peak rates, no fixed time.
* :func:`lutsim.sim.gpu_bottleneck.explain` says for every kernel what limits it.

What is not modeled, and why
----------------------------
* Latencies of L2 and shared memory: small beside DRAM's and hidden by the stages.
* The standalone core's operand port (``ldt``/``ldw``/``lda``/``sta`` over ``bus_words`` per
  cycle): in a GPU the operands come from the register file with the instruction, as for
  ``mma.sync``, so fragment moves overlap the lookups. Their counts are reported
  (``instr.ldt``, ``mem.read_words``), not timed; a core that serializes them, as the RTL's
  contract does, would add ``latency(ldt)`` or ``latency(ldw)`` per fragment change.
* Data-dependent counts (``lut.negate``): the model has no data.
* Bank conflicts, warp scheduling and issue limits one by one (their sum is in the sustained
  issue rate), more than one CTA per SM, clusters other than pairs along M sharing weights,
  cache lines and DRAM pages, L2 slices and the two L2 partitions; per-group scales in MAC
  kernels (per-channel scales are assumed); kernels other than the GEMM and the table
  precompute.

Action counts (:attr:`GpuRun.actions`; counted here, priced in ``reports``)
---------------------------------------------------------------------------
======================== ========= ===========================================================
action                   unit      counted
======================== ========= ===========================================================
``instr.lmma``           instrs    LMMA instructions (padding included)
``instr.ldt``            instrs    table fragments loaded into the arrays (one per warp row
                                   fragment, group and array that uses it)
``instr.ldw``            instrs    weight fragments loaded (one per LMMA)
``instr.zacc``           instrs    accumulator fragments cleared, and ``instr.sta`` stored
``tc.issue``             slots     tensor-core issue slots (up to ``arrays`` instructions each)
``lut.lookup``           lookups   M x N x B per LMMA (as in :mod:`lutsim.sim.core`)
``acc.<format>_add``     additions M x N x B per LMMA; MAC: accumulator updates per ``mma``
``acc.read``             values    M x N x B per LMMA, and ``acc.write`` the same
``table.write``          entries   M x E per ``instr.ldt``
``weight.write``         bits      B x N x K per ``instr.ldw``
``mem.read_words``       words     fragment words into the arrays (the core's port format)
``mem.write_words``      words     accumulator words stored
``instr.mma``            instrs    MAC ``mma.sync`` instructions; ``mac.<format>`` their MACs
``vec.op``               lane-ops  vector work: ``vec.precompute_op``, ``vec.dequant_op``,
                                   ``vec.epilogue_op``
``precompute.table``     tables    tables built
``dram.read_bytes``      bytes     and ``dram.write_bytes``, ``l2.read_bytes``,
                                   ``l2.write_bytes``, ``smem.read_bytes``, ``smem.write_bytes``
======================== ========= ===========================================================
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .gpu_bottleneck import explain
from .gpu_fast import run_fast
from .gpu_plan import (
    DEQUANT_OPS_PER_WEIGHT,
    Plan,
    Tiling,
    check_shape,
    operands,
    precompute_ops,
    resident_bytes,
    stage_bytes,
    storage_bytes,
    warp_register_bytes,
)
from .presets import Machine, machine

__all__ = [
    "DETAILED_SLOTS",
    "MODES",
    "PRECOMPUTE",
    "GpuRun",
    "KernelRun",
    "Tiling",
    "OTHER_UNITS",
    "choose_tiling",
    "roofline_cycles",
    "simulate",
    "simulate_machine",
    "power_limited",
    "simulate_precompute",
]

MODES = ("fast", "detailed")
PRECOMPUTE = ("fused", "separate", "none")
MAX_STAGES = 4
SPLITS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32)  # split-K factors tried
N_LOOPS = (1, 2, 4, 8)  # column tiles per CTA tried when the machine keeps rows resident
RANKED = 8  # tilings with the best quick estimates that the fast mode then evaluates
DETAILED_SLOTS = 5_000_000  # default limit of tensor-core issue slots in detailed mode
RESOURCES = ("tensor", "vector", "smem", "l2", "dram")


@dataclass(frozen=True)
class KernelRun:
    """One kernel: cycles, utilization of each resource, bytes and action counts."""

    name: str
    cycles: int
    utilization: dict[str, float]  # busy fraction of each resource over the kernel
    bytes: dict[str, float]  # "dram.read_bytes", ... (also in actions)
    actions: dict[str, float]
    bound: str  # the busiest resource
    events: int = 0  # SimPy events (detailed mode)
    fixed_cycles: int = 0  # of ``cycles``: the fixed time of a kernel (GpuCosts), both modes
    bottleneck: dict[str, Any] = field(default_factory=dict, compare=False)  # see explain()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cycles": self.cycles,
            "fixed_cycles": self.fixed_cycles,
            "bound": self.bound,
            "bottleneck": self.bottleneck,
            "utilization": self.utilization,
            "bytes": self.bytes,
            "actions": self.actions,
            "events": self.events,
        }


@dataclass(frozen=True)
class GpuRun:
    """One simulated mpGEMM ``O[M, N] = A[M, K] W[N, K]^T`` with its table precompute."""

    preset: str
    label: str  # the tensor core, weight bits, formats and registers
    mode: str
    shape: tuple[int, int, int]
    precompute: str
    tiling: Tiling
    freq_mhz: float
    cycles: int  # all kernels
    kernels: tuple[KernelRun, ...]  # the precompute (if any), then the GEMM
    utilization: dict[str, float]  # of the GEMM kernel; "compute" = useful MACs / peak
    compute_roof_tops: float  # peak of the tensor cores, 1e12 ops (2 per MAC) per second
    memory_roof_tops: float  # DRAM bandwidth x (2 M N K / compulsory DRAM bytes of the GEMM)
    intensity_ops_per_byte: float  # 2 M N K / compulsory DRAM bytes of the GEMM
    actions: dict[str, float]  # all kernels
    events: int  # SimPy events (detailed mode)
    wall_s: float = field(compare=False)

    @property
    def time_s(self) -> float:
        return self.cycles / (self.freq_mhz * 1e6)

    @property
    def latency_us(self) -> float:
        return self.time_s * 1e6

    @property
    def gemm(self) -> KernelRun:
        return self.kernels[-1]

    @property
    def achieved_tops(self) -> float:
        """2 M N K over the whole time (precompute included), 1e12 ops per second."""
        m, n, k = self.shape
        return 2.0 * m * n * k / self.time_s / 1e12

    @property
    def gemm_tops(self) -> float:
        """2 M N K over the GEMM kernel alone."""
        m, n, k = self.shape
        return 2.0 * m * n * k / (self.gemm.cycles / (self.freq_mhz * 1e6)) / 1e12

    @property
    def roof_tops(self) -> float:
        return min(self.compute_roof_tops, self.memory_roof_tops)

    @property
    def roof_fraction(self) -> float:
        """The GEMM kernel's throughput over the lower of its two roofs."""
        return self.gemm_tops / self.roof_tops

    @property
    def bytes(self) -> dict[str, float]:
        """Bytes moved at each level, all kernels."""
        return {key: value for key, value in self.actions.items() if key.endswith("_bytes")}

    def to_dict(self) -> dict[str, Any]:
        m, n, k = self.shape
        return {
            "preset": self.preset,
            "label": self.label,
            "mode": self.mode,
            "shape": {"m": m, "n": n, "k": k},
            "precompute": self.precompute,
            "tiling": self.tiling.to_dict(),
            "freq_mhz": self.freq_mhz,
            "cycles": self.cycles,
            "time_s": self.time_s,
            "latency_us": self.latency_us,
            "achieved_tops": self.achieved_tops,
            "gemm_tops": self.gemm_tops,
            "compute_roof_tops": self.compute_roof_tops,
            "memory_roof_tops": self.memory_roof_tops,
            "roof_fraction": self.roof_fraction,
            "intensity_ops_per_byte": self.intensity_ops_per_byte,
            "utilization": self.utilization,
            "bytes": self.bytes,
            "actions": self.actions,
            "kernels": [kernel.to_dict() for kernel in self.kernels],
            "events": self.events,
            "wall_s": self.wall_s,
        }


# ---- tiling search --------------------------------------------------------------------------
def _powers(start: int, stop: int, multiples: tuple[int, ...] = (1,)) -> list[int]:
    """``start`` times each of ``multiples`` times the powers of two, up to ``stop``."""
    values = set()
    for multiple in multiples:
        value = start * multiple
        while value <= stop:
            values.add(value)
            value *= 2
    return sorted(values)


def _candidates(mach: Machine, m: int, n: int, k: int):
    """Every tiling worth trying: warp tiles of powers of two times the instruction tile, no
    larger than the GEMM needs; split-K only while the tiles leave SMs idle; none whose two
    stages (beside the resident rows of an N loop) would overflow shared memory."""
    if mach.is_lut:
        cfg = mach.tc.core
        row_unit, col_unit, k_unit = cfg.m, cfg.n, cfg.k
        rows_max, cols_max = 256, 1024
    else:
        col_unit, row_unit, k_unit = mach.tc.shape
        rows_max, cols_max = 256, 256
    tcs, sms = mach.gpu.tensor_cores_per_sm, mach.gpu.sms
    arrangements = [(a, tcs // a) for a in range(1, tcs + 1) if tcs % a == 0]
    k_padded = math.ceil(k / k_unit) * k_unit
    groups = k_padded // k_unit
    k_steps = [s for s in (16, 32, 64, 128, 256) if s % k_unit == 0 and s <= k_padded] or [k_unit]
    multiples = (1,) if mach.is_lut else mach.gpu.mac_tile_multiples
    ops, budget = operands(mach), mach.register_bytes_per_tensor_core
    smem = mach.gpu.smem_bytes_per_block
    for wm, wn in arrangements:
        rows = _powers(row_unit, rows_max, multiples)
        for warp_m in rows:
            if warp_m > row_unit and rows[rows.index(warp_m) - 1] * wm >= m:
                continue
            cols = _powers(col_unit, cols_max, multiples)
            for warp_n in cols:
                if warp_n > col_unit and cols[cols.index(warp_n) - 1] * wn >= n:
                    continue
                if warp_register_bytes(ops, warp_m, warp_n) > budget:
                    break  # and every wider warp tile
                tiles = math.ceil(m / (warp_m * wm)) * math.ceil(n / (warp_n * wn))
                for k_step in k_steps:
                    if 2 * stage_bytes(ops, warp_m * wm, warp_n * wn, k_step) > smem:
                        break  # not even 2 stages fit, nor with any longer k_step
                    for split in SPLITS:
                        if split > 1 and (k_padded // split < k_step or tiles * split > 4 * sms):
                            break
                        loops = (1,)
                        if mach.rows_resident:  # an N loop where 2 stages fit beside the rows
                            resident, weights = resident_bytes(
                                ops, warp_m * wm, warp_n * wn, k_step, math.ceil(groups / split)
                            )
                            loops = N_LOOPS if resident + 2 * weights <= smem else (1,)
                        for n_loop in loops:
                            if n_loop > 1 and (n_loop // 2) * warp_n * wn >= n:
                                break
                            yield Tiling(warp_m, warp_n, wm, wn, k_step, MAX_STAGES, split,
                                         n_loop)  # fmt: skip


def _fitted(mach: Machine, m: int, n: int, k: int, tiling: Tiling) -> Plan | None:
    """The plan with the most stages (up to MAX_STAGES) that fit, or None."""
    return Plan.most_stages(mach, m, n, k, tiling, MAX_STAGES)


def _estimate(plan: Plan) -> float:
    """A quick steady-state estimate to rank tilings: whole waves of CTAs, the slowest resource
    per step, pipeline fill and epilogue, DRAM bytes from the L2 rules in aggregate."""
    gpu, t, sg = plan.mach.gpu, plan.t, plan.step_groups
    waves = math.ceil(plan.ctas / plan.sms)
    active = min(plan.ctas, plan.sms)
    steps = math.ceil(plan.split_groups / sg) * t.n_loop
    a_total = plan.m * plan.kp / plan.k_unit * plan.row_bytes
    a_reads = 1 if a_total <= gpu.l2_bytes / 2 else min(waves, plan.nt)
    dram = a_total * a_reads + plan.compulsory_bytes() - a_total
    smem = (plan.cta_fill_bytes(sg) + plan.warps * plan.warp_smem_bytes(sg)) / (
        gpu.smem_bytes_per_cycle
    )
    latency = plan.mach.dram_latency_cycles if dram > 0 else 0.0
    step = max(
        (latency + smem) / t.stages,
        plan.tc_cycles(sg),
        plan.vec_cycles(plan.dequant_ops(sg)),
        smem,
        active
        * sg
        * (
            t.cta_m * plan.row_bytes / t.n_loop
            + t.cta_n * plan.col_bytes / min(gpu.cluster_multicast, plan.mt)
        )
        / gpu.l2_bytes_per_cycle,
        dram / (waves * steps) / plan.mach.dram_bytes_per_cycle,
    )
    overhead = (
        smem
        + plan.vec_cycles(plan.epilogue_ops)
        + plan.epilogue_smem_bytes / gpu.smem_bytes_per_cycle
    )
    return max(waves * (steps * step + overhead), dram / plan.mach.dram_bytes_per_cycle)


@functools.lru_cache(maxsize=4096)
def _choose(mach: Machine, m: int, n: int, k: int) -> Tiling:
    ranked = []
    for tiling in _candidates(mach, m, n, k):
        plan = _fitted(mach, m, n, k, tiling)
        if plan is not None:
            ranked.append((_estimate(plan), plan.register_bytes(), str(plan.t), plan))
    if not ranked:
        raise ValueError(f"no tiling of {m}x{n}x{k} fits {mach.preset} at {mach.regs}x registers")
    ranked.sort(key=lambda item: item[:3])
    best = min(ranked[:RANKED], key=lambda item: (run_fast(item[3])["cycles"], *item[1:3]))
    return best[3].t


def choose_tiling(mach: Machine, m: int, n: int, k: int) -> Tiling:
    """The fastest feasible tiling of ``M x N x K`` on ``mach`` (see the module docstring)."""
    return _choose(mach, *check_shape(m, n, k))


# ---- counts, bytes, kernels -----------------------------------------------------------------
def _gemm_actions(plan: Plan) -> dict[str, float]:
    """Action counts and bytes of the GEMM kernel (the same in both modes)."""
    cta, warps, t = plan.cta, plan.warps, plan.t
    total_groups = slots = 0
    smem_write = smem_read = 0.0
    for si in range(plan.splits):
        count = int(np.count_nonzero(cta["si"] == si))
        steps = plan.split_steps(si)
        total_groups += count * sum(steps)
        slots += count * warps * sum(math.ceil(plan.instrs(g) / plan.arrays) for g in steps)
        smem_write += count * sum(plan.cta_fill_bytes(g) for g in steps)
        smem_read += count * warps * sum(plan.warp_smem_bytes(g) for g in steps)
    smem_write += plan.ctas * plan.epilogue_smem_bytes / 2
    smem_read += plan.ctas * plan.epilogue_smem_bytes / 2
    instrs = plan.frags * warps * total_groups
    acc_frags = plan.frags * warps * plan.ctas * t.n_loop
    epilogue = plan.ctas * warps * plan.epilogue_ops
    if plan.lut:
        cfg = plan.mach.tc.core
        per_lmma = cfg.m * cfg.n * cfg.weight_bits
        ldt = warps * (t.warp_m // cfg.m) * min(plan.arrays, t.warp_n // cfg.n) * total_groups
        actions = {
            "instr.lmma": instrs,
            "instr.ldt": ldt,
            "instr.ldw": instrs,
            "instr.zacc": acc_frags,
            "instr.sta": acc_frags,
            "tc.issue": slots,
            "lut.lookup": instrs * per_lmma,
            f"acc.{cfg.acc_format}_add": instrs * per_lmma,
            "acc.read": instrs * per_lmma,
            "acc.write": instrs * per_lmma,
            "table.write": ldt * cfg.m * cfg.table_entries,
            "weight.write": instrs * cfg.weight_bits * cfg.n * cfg.k,
            "mem.read_words": ldt * cfg.table_fragment_words + instrs * cfg.weight_fragment_words,
            "mem.write_words": acc_frags * cfg.acc_fragment_words,
            "vec.op": epilogue,
            "vec.epilogue_op": epilogue,
        }
    else:
        tc = plan.mach.tc
        wrows, tokens, kk = tc.shape
        acc = "int32" if tc.fmt == "int8" else "fp32"
        dequant = (
            0.0
            if plan.dense
            else (warps * t.warp_n * plan.k_unit * total_groups * DEQUANT_OPS_PER_WEIGHT)
        )
        actions = {
            "instr.mma": instrs,
            "tc.issue": slots,
            f"mac.{tc.fmt}": instrs * wrows * tokens * kk,
            f"acc.{acc}_add": instrs * wrows * tokens,
            "vec.op": dequant + epilogue,
            "vec.dequant_op": dequant,
            "vec.epilogue_op": epilogue,
        }
    actions.update(
        {
            "dram.read_bytes": float(cta["dram_read"].sum()),
            "dram.write_bytes": float(cta["dram_write"].sum()),
            "l2.read_bytes": float(cta["l2_read"].sum()),
            "l2.write_bytes": float(cta["l2_write"].sum()),
            "smem.read_bytes": smem_read,
            "smem.write_bytes": smem_write,
        }
    )
    return {key: float(value) for key, value in actions.items()}


def _busy(mach: Machine, actions: dict[str, float], slot_cycles: float) -> dict[str, float]:
    """Busy cycles of each resource, summed over its units, from the counts."""
    gpu = mach.gpu

    def total(*keys):
        return sum(actions.get(key, 0.0) for key in keys)

    return {
        "tensor": total("tc.issue") * slot_cycles,
        "vector": total("vec.op") / gpu.vector_lanes_per_tensor_core,
        "smem": total("smem.read_bytes", "smem.write_bytes") / gpu.smem_bytes_per_cycle,
        "l2": total("l2.read_bytes", "l2.write_bytes") / gpu.l2_bytes_per_cycle,
        "dram": total("dram.read_bytes", "dram.write_bytes") / mach.dram_bytes_per_cycle,
    }


def _kernel(
    name: str, mach: Machine, cycles: int, busy, actions, events: int, fixed: int = 0,
    plan: Plan | None = None, stretch: float = 1.0,
) -> KernelRun:  # fmt: skip
    gpu = mach.gpu
    tcs = gpu.sms * gpu.tensor_cores_per_sm
    units = {"tensor": tcs, "vector": tcs, "smem": gpu.sms, "l2": 1, "dram": 1}
    cycles = int(cycles) + fixed
    util = {r: busy[r] / (units[r] * cycles) for r in RESOURCES}
    nbytes = {key: value for key, value in actions.items() if key.endswith("_bytes")}
    why = explain(mach, cycles, fixed, util, plan, stretch)
    return KernelRun(name, cycles, util, nbytes, actions, max(RESOURCES, key=util.get), events,
                     fixed, why)  # fmt: skip


def power_limited(mach: Machine, cycles: int, peak_cycles: float) -> int:
    """A kernel's ``cycles`` within the GPU's power limit: its tensor cores run at
    ``peak_cycles`` (their issue slots at the peak rate, summed over the tensor cores) /
    (tensor cores x ``cycles``) of their peak rate; above the power limit of their format
    (:attr:`lutsim.sim.presets.Machine.power_efficiency`) the clock drops until the rate is that
    (:class:`lutsim.sim.presets.GpuCosts`)."""
    tcs = mach.gpu.sms * mach.gpu.tensor_cores_per_sm
    rate = peak_cycles / (tcs * max(cycles, 1))
    return max(cycles, math.ceil(cycles * rate / mach.power_efficiency))


def _precompute(mach: Machine, m: int, k: int, how: str) -> KernelRun | None:
    """The table precompute: extra work fused into the previous kernel, or its own kernel."""
    if not mach.is_lut or how == "none":
        return None
    from .gpu_detailed import run_precompute

    cfg, gpu = mach.tc.core, mach.gpu
    tables = m * math.ceil(k / cfg.k)
    ops = float(tables * precompute_ops(cfg))
    act_bytes = float(tables * cfg.k * storage_bytes(cfg.act.bits))
    table_bytes = float(tables * cfg.table_entries * storage_bytes(cfg.table_entry_bits))
    actions = {"vec.op": ops, "vec.precompute_op": ops, "precompute.table": float(tables)}
    if how == "fused":
        extra = max(0.0, table_bytes - act_bytes)
        cycles = math.ceil(
            ops / (gpu.sms * gpu.vector_lanes_per_sm) + extra / mach.dram_bytes_per_cycle
        )
        actions.update({"l2.write_bytes": extra, "dram.write_bytes": extra})
        events = 0
    else:
        result = run_precompute(gpu, act_bytes, table_bytes, ops, tables,
                                mach.dram_bytes_per_cycle)  # fmt: skip
        cycles, events = result["cycles"], result["events"]
        actions.update({"dram.read_bytes": act_bytes, "l2.read_bytes": act_bytes,
                        "l2.write_bytes": table_bytes, "dram.write_bytes": table_bytes})  # fmt: skip
    busy = _busy(mach, actions, 0)
    fixed = 0 if how == "fused" else mach.fixed_cycles  # a fused precompute launches nothing
    return _kernel(f"precompute ({how})", mach, max(cycles, 1), busy, actions, events, fixed)


def simulate_machine(
    mach: Machine,
    m: int,
    n: int,
    k: int,
    *,
    mode: str = "fast",
    precompute: str = "fused",
    tiling: Tiling | None = None,
    max_slots: int = DETAILED_SLOTS,
) -> GpuRun:
    """Simulate the mpGEMM ``M x N x K`` on ``mach`` (see :func:`simulate`)."""
    start = time.perf_counter()
    m, n, k = check_shape(m, n, k)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if precompute not in PRECOMPUTE:
        raise ValueError(f"precompute must be one of {', '.join(PRECOMPUTE)}, not {precompute!r}")
    plan = Plan(mach, m, n, k, tiling if tiling is not None else choose_tiling(mach, m, n, k))
    actions = _gemm_actions(plan)
    if mode == "detailed":
        if actions["tc.issue"] > max_slots:
            raise ValueError(
                f"detailed mode would simulate {int(actions['tc.issue'])} tensor-core issue "
                f"slots, more than max_slots = {max_slots}; use the fast mode"
            )
        from .gpu_detailed import run_detailed

        result = run_detailed(plan)
        busy, events = result["busy"], result["events"]
    else:
        result = run_fast(plan)
        busy, events = _busy(mach, actions, plan.slot_cycles), 0
    cycles = power_limited(mach, result["cycles"], actions["tc.issue"] * plan.instr_cycles)
    gemm = _kernel("gemm", mach, cycles, busy, actions, events, mach.fixed_cycles, plan,
                   cycles / max(result["cycles"], 1))  # fmt: skip
    kernels = [kernel for kernel in (_precompute(mach, m, k, precompute), gemm) if kernel]
    totals: dict[str, float] = {}
    for kernel in kernels:
        for key, value in kernel.actions.items():
            totals[key] = totals.get(key, 0.0) + value
    gpu = mach.gpu
    hz = gpu.freq_mhz * 1e6
    peak = mach.macs_per_cycle
    intensity = 2.0 * m * n * k / plan.compulsory_bytes()
    return GpuRun(
        preset=mach.preset,
        label=f"{mach.label} {mach.tc.label}",
        mode=mode,
        shape=(m, n, k),
        precompute=precompute if mach.is_lut else "none",
        tiling=plan.t,
        freq_mhz=gpu.freq_mhz,
        cycles=sum(kernel.cycles for kernel in kernels),
        kernels=tuple(kernels),
        utilization={**gemm.utilization, "compute": m * n * k / (peak * gemm.cycles)},
        compute_roof_tops=2.0 * peak * hz / 1e12,
        memory_roof_tops=gpu.dram_bytes_per_s * intensity / 1e12,
        intensity_ops_per_byte=intensity,
        actions=totals,
        events=sum(kernel.events for kernel in kernels),
        wall_s=time.perf_counter() - start,
    )


def simulate(
    preset: str,
    m: int,
    n: int,
    k: int,
    *,
    wbits: int | float = 2,
    act: str | None = None,
    regs: int = 1,
    table_format: str | None = None,
    mode: str = "fast",
    precompute: str = "fused",
    tiling: Tiling | None = None,
    freq_mhz: float | None = None,
    max_slots: int = DETAILED_SLOTS,
    sustained: bool = True,
    rows_resident: bool = False,
) -> GpuRun:
    """Simulate the mpGEMM ``O[M, N] = A[M, K] W[N, K]^T`` on a GPU preset.

    ``preset``: a name of :data:`lutsim.sim.presets.PRESETS` (``A100-LUT-4X``, ``H100-FP8``, ...);
    ``wbits``: 1..4 or 1.58 (ternary), or a MAC preset's own width for a dense model (16 on
    FP16, 8 on INT8 and FP8: no dequantization); ``act``: the LUT core's activation format
    (default fp16; MAC presets compute in their own, FP16 presets also bf16); ``regs``: register multiplier 1, 2, 4 or 8;
    ``table_format``: the LUT core's table format (``"int8"``: table quantization; default as
    :class:`lutsim.isa.config.CoreConfig` derives it); ``mode``: ``"fast"`` or ``"detailed"``;
    ``precompute``: ``"fused"``, ``"separate"`` or ``"none"``; ``tiling``: a fixed
    :class:`Tiling` instead of the search; ``freq_mhz``: another clock (1410 normalizes both
    GPUs as the paper does); ``max_slots``: refuse detailed runs of more tensor-core issue
    slots; ``sustained``: the GPU's costs under load (fixed time per kernel, sustained rates:
    :class:`lutsim.sim.presets.GpuCosts`), or with False the ideal machine; ``rows_resident``:
    let the tile search keep each CTA's tables in shared memory across an N loop of column
    tiles (:class:`Tiling` ``n_loop``). Every bad argument is a one-line ``ValueError``."""
    mach = machine(preset, wbits, act, regs, table_format=table_format, freq_mhz=freq_mhz,
                   sustained=sustained, rows_resident=rows_resident)  # fmt: skip
    return simulate_machine(
        mach, m, n, k, mode=mode, precompute=precompute, tiling=tiling, max_slots=max_slots
    )


def simulate_precompute(
    preset: str,
    m: int,
    k: int,
    *,
    how: str = "separate",
    wbits: int | float = 2,
    act: str | None = None,
    table_format: str | None = None,
    freq_mhz: float | None = None,
    sustained: bool = True,
) -> KernelRun | None:
    """The table precompute of ``m`` activation rows of length ``k`` on a LUT preset, as the
    kernel :func:`simulate` puts before a GEMM: ``how`` = ``"fused"`` (extra work inside the
    previous element-wise kernel) or ``"separate"`` (its own kernel); None on MAC presets or
    with ``how="none"``. For tables shared by several GEMMs (Q, K and V read one table)."""
    if how not in PRECOMPUTE:
        raise ValueError(f"precompute must be one of {', '.join(PRECOMPUTE)}, not {how!r}")
    mach = machine(preset, wbits, act, 1, table_format=table_format, freq_mhz=freq_mhz,
                   sustained=sustained)  # fmt: skip
    _, _, k = check_shape(m, 1, k)
    return _precompute(mach, int(m), k, how)


OTHER_UNITS = ("vector", "tensor")


def roofline_cycles(
    preset: str, flops: float, dram_bytes: float, *, unit: str = "vector",
    freq_mhz: float | None = None,
) -> int:  # fmt: skip
    """Cycles of non-LUT work on ``preset``'s GPU by its roofline: the larger of ``flops`` at
    the peak of ``unit`` (``"vector"``: one operation per FP32 lane per clock; ``"tensor"``:
    the GPU's own FP16 tensor cores, 2 operations per MAC) and ``dram_bytes`` at the DRAM
    bandwidth. For attention products, softmax, norms and the LM head, which the model does not
    simulate instruction by instruction; no launch overhead, no overlap between kernels."""
    if unit not in OTHER_UNITS:
        raise ValueError(f"unit must be one of {', '.join(OTHER_UNITS)}, not {unit!r}")
    for name, value in (("flops", flops), ("dram_bytes", dram_bytes)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number, not {value!r}")
    gpu = machine(preset, freq_mhz=freq_mhz).gpu
    if unit == "vector":
        rate = gpu.sms * gpu.vector_lanes_per_sm
    else:
        rate = 2 * gpu.sms * gpu.mac_per_sm_per_cycle["fp16"]
    return math.ceil(max(flops / rate, dram_bytes / gpu.dram_bytes_per_cycle))
