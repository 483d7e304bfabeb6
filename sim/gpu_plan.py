"""The work of one mpGEMM kernel on a GPU, cut into thread blocks, warps and pipeline steps.

:class:`Plan` is what both fidelity modes of :mod:`lutsim.sim.gpu` consume: per warp and step the
tensor-core instructions and their cycles, the shared-memory bytes and the vector work; per
thread block (CTA) the bytes it moves through L2 and DRAM (after the L2 reuse model) and its
epilogue. Nothing here depends on time; see :mod:`lutsim.sim.gpu` for the model and its assumptions.

Layout of a CTA (``warps_m x warps_n`` warps, one per tensor core)::

           <-------------- cta_n = warps_n * warp_n weight columns -------------->
         ^ +-----------------------+-----------------------+
         | | warp (0, 0)           | warp (0, 1)           |   each warp tile: warp_m token
   cta_m | | warp_m x warp_n       |                       |   rows x warp_n weight columns,
         | +-----------------------+-----------------------+   accumulators in registers;
         | | warp (1, 0)           | warp (1, 1)           |   K advances k_step per stage
         v +-----------------------+-----------------------+

CTAs are launched in order ``c -> (mi, si, ni)`` with the row tile ``mi`` fastest, then the
K split ``si``, then the column tile ``ni``; SM ``s`` takes the next CTA whenever it is free.
On a GPU with thread-block clusters (:attr:`lutsim.sim.presets.GpuSpec.cluster_multicast`),
each run of that many consecutive row tiles is one cluster: its CTAs share their weight tile,
which TMA multicast reads from L2 once for all of them (each CTA a share); every CTA still
writes the whole tile into its own shared memory.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from lutsim.isa.formats import FORMATS

from .presets import Machine

__all__ = [
    "DEQUANT_OPS_PER_WEIGHT",
    "EPILOGUE_OPS",
    "META_BYTES_PER_COLUMN",
    "Plan",
    "Tiling",
    "check_shape",
    "operands",
    "precompute_ops",
    "resident_bytes",
    "stage_bytes",
    "storage_bytes",
    "warp_register_bytes",
]

DEQUANT_OPS_PER_WEIGHT = 1.0
"""Vector lane-ops per weight to dequantize a low-bit code into the MAC format: one
``lop3``/``prmt`` unpack and one fused subtract-scale on packed pairs (``half2``), i.e. two
instructions per two weights."""

EPILOGUE_OPS = {"lut": 3, "mac": 2}
"""Vector lane-ops per output in the epilogue: LUT ``s'(acc - z' sum a)`` then convert (FMA, MUL,
CVT); MAC ``s acc`` then convert (MUL, CVT)."""

META_BYTES_PER_COLUMN = 4
"""Per output channel: an fp16 scale and an fp16 zero point (none for a dense model)."""


def precompute_ops(cfg) -> int:
    """Vector lane-ops to build one table (one row, one group of K activations).

    A Gray-code walk: the first entry takes K - 1 additions, the doubled activations 2 a_l take
    K - 1 more, each further entry one addition or subtraction (E - 1). Table quantization to
    INT8 adds the group scale from sum |a| (K absolute values, K - 1 additions, one reciprocal)
    and a multiply and a convert per entry."""
    ops = (cfg.k - 1) + (cfg.k - 1) + (cfg.table_entries - 1)
    if cfg.table_quantized:
        ops += 2 * cfg.k + 2 * cfg.table_entries
    return ops


MAX_OUTPUTS = 2**38
"""The most outputs ``M x N`` the model takes (the fast mode holds arrays per thread block):
e.g. a million tokens times a 256 K vocabulary."""
MAX_DEPTH = 2**24
"""The largest K the model takes."""


def check_shape(m, n, k) -> tuple[int, int, int]:
    """``(M, N, K)`` as integers; a one-line ``ValueError`` unless each is a positive integer
    and the GEMM is within :data:`MAX_OUTPUTS` and :data:`MAX_DEPTH`."""
    for name, value in (("M", m), ("N", n), ("K", k)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"GEMM size {name} must be a positive integer, not {value!r}")
    m, n, k = int(m), int(n), int(k)
    if m * n > MAX_OUTPUTS or k > MAX_DEPTH:
        raise ValueError(
            f"a {m}x{n}x{k} GEMM is beyond the model's limits of 2^38 outputs (M x N) and "
            f"K = 2^24; simulate it in parts"
        )
    return m, n, k


def storage_bytes(bits: int) -> int:
    """Bytes of one stored value of ``bits`` bits (tables are stored at 1, 2 or 4 bytes)."""
    return 1 if bits <= 8 else 2 if bits <= 16 else 4


def operands(mach: Machine) -> SimpleNamespace:
    """The instruction tile of ``mach``'s tensor cores and the bytes of its operands: per token
    row and per weight column, for one instruction K."""
    tc = mach.tc
    if mach.is_lut:
        cfg = tc.core
        entry_bytes = storage_bytes(cfg.table_entry_bits)
        row_bytes = cfg.table_entries * entry_bytes  # per row per group
        return SimpleNamespace(
            row_unit=cfg.m, col_unit=cfg.n, k_unit=cfg.k, instr_cycles=tc.lmma_cycles,
            arrays=tc.arrays, entry_bytes=entry_bytes, row_bytes=row_bytes,
            reg_row_bytes=row_bytes, reg_col_extra=0.0,
            col_bytes=cfg.k * mach.weight_bits / 8,
        )  # fmt: skip
    wrows, tokens, kk = tc.shape  # weights are mma's A operand, tokens its B operand
    act_bytes = storage_bytes(FORMATS[tc.operand_format].bits)
    return SimpleNamespace(
        row_unit=tokens, col_unit=wrows, k_unit=kk, instr_cycles=tc.mma_cycles, arrays=1,
        row_bytes=kk * act_bytes, reg_row_bytes=kk * act_bytes,
        # the dequantized copy of a column group; a dense model feeds its weights as stored
        reg_col_extra=0.0 if mach.dense else kk * act_bytes,
        col_bytes=kk * mach.weight_bits / 8,
    )  # fmt: skip


def warp_register_bytes(ops: SimpleNamespace, warp_m: int, warp_n: int) -> int:
    """Registers of one warp tile of a machine with :func:`operands` ``ops``: 32-bit accumulators
    and double-buffered fragments of one instruction K (tables or activations for its rows,
    packed weights for its columns, and on MAC cores the dequantized weights)."""
    fragments = warp_m * ops.reg_row_bytes + warp_n * (ops.col_bytes + ops.reg_col_extra)
    return math.ceil(warp_m * warp_n * 4 + 2 * fragments)


def stage_bytes(ops: SimpleNamespace, cta_m: int, cta_n: int, k_step: int) -> int:
    """Shared memory of one pipeline stage of a machine with :func:`operands` ``ops``: a CTA's
    ``cta_m`` rows and ``cta_n`` columns for one ``k_step``."""
    g = k_step // ops.k_unit
    return math.ceil(g * (cta_m * ops.row_bytes + cta_n * ops.col_bytes))


def resident_bytes(ops: SimpleNamespace, cta_m: int, cta_n: int, k_step: int,
                   split_groups: int) -> tuple[int, int]:  # fmt: skip
    """Shared memory of an N loop (``n_loop > 1``) on a machine with :func:`operands` ``ops``:
    a CTA's ``cta_m`` resident rows of its whole K split (``split_groups`` groups), and one
    stage of its ``cta_n`` weight columns."""
    resident = math.ceil(cta_m * split_groups * ops.row_bytes)
    weights = math.ceil(k_step // ops.k_unit * cta_n * ops.col_bytes)
    return resident, weights


@dataclass(frozen=True)
class Tiling:
    """How a kernel cuts the GEMM (see the module docstring). ``warp_m``/``cta_m`` count token
    rows (M), ``warp_n``/``cta_n`` weight columns (N), ``k_step`` activations along K per
    pipeline stage, ``stages`` the stages in shared memory, ``split_k`` the K splits."""

    warp_m: int
    warp_n: int
    warps_m: int
    warps_n: int
    k_step: int
    stages: int
    split_k: int = 1
    n_loop: int = 1

    @property
    def cta_m(self) -> int:
        return self.warp_m * self.warps_m

    @property
    def cta_n(self) -> int:
        return self.warp_n * self.warps_n

    def to_dict(self) -> dict:
        return {
            "warp_m": self.warp_m,
            "warp_n": self.warp_n,
            "warps_m": self.warps_m,
            "warps_n": self.warps_n,
            "cta_m": self.cta_m,
            "cta_n": self.cta_n,
            "k_step": self.k_step,
            "stages": self.stages,
            "split_k": self.split_k,
            "n_loop": self.n_loop,
        }

    def text(self) -> str:
        loop = f", N loop of {self.n_loop} tiles (rows resident)" if self.n_loop > 1 else ""
        return (
            f"CTA {self.cta_m}x{self.cta_n} (warps {self.warps_m}x{self.warps_n} of "
            f"{self.warp_m}x{self.warp_n}), k_step {self.k_step}, {self.stages} stages, "
            f"split-K {self.split_k}{loop}"
        )


class Plan:
    """The work of the GEMM ``M x N x K`` on ``mach`` cut by ``tiling`` (validated)."""

    def __init__(self, mach: Machine, m: int, n: int, k: int, tiling: Tiling, *,
                 check: bool = True):  # fmt: skip
        if check:
            m, n, k = check_shape(m, n, k)
        self.mach, self.m, self.n, self.k, self.t = mach, m, n, k, tiling
        gpu = mach.gpu
        self.lut = mach.is_lut
        self.ops = ops = operands(mach)
        self.row_unit, self.col_unit, self.k_unit = ops.row_unit, ops.col_unit, ops.k_unit
        self.instr_cycles, self.arrays = ops.instr_cycles, ops.arrays
        self.row_bytes, self.reg_row_bytes = ops.row_bytes, ops.reg_row_bytes
        self.reg_col_extra = ops.reg_col_extra
        if self.lut:
            self.entry_bytes = ops.entry_bytes
        self.dense = mach.dense
        self.meta_bytes = 0 if mach.dense else META_BYTES_PER_COLUMN
        # every issue slot at the sustained issue rate (GpuCosts.issue_efficiency)
        self.slot_cycles = self.instr_cycles / mach.costs.issue_efficiency
        self.col_bytes = ops.col_bytes  # packed weight bits per column per group

        t = tiling
        self.kp = math.ceil(k / self.k_unit) * self.k_unit  # K padded to whole groups
        self.groups = self.kp // self.k_unit
        self.step_groups = t.k_step // self.k_unit
        self.split_groups = math.ceil(self.groups / t.split_k)
        self.splits = math.ceil(self.groups / self.split_groups)
        self.mt = math.ceil(m / t.cta_m)
        self.nt = math.ceil(n / (t.cta_n * t.n_loop))
        self.ctas = self.mt * self.nt * self.splits
        self.sms = gpu.sms
        self.warps = gpu.tensor_cores_per_sm
        self.out_bytes = 2 if self.splits == 1 else 4  # fp16 result, or fp32 atomics (split-K)
        self.frags = (t.warp_m // self.row_unit) * (t.warp_n // self.col_unit)
        if check:
            self.check_tiling()

    @classmethod
    def most_stages(cls, mach: Machine, m: int, n: int, k: int, tiling: Tiling,
                    most: int) -> Plan | None:  # fmt: skip
        """The plan of ``tiling`` with the most stages, up to ``most``, that fit in shared
        memory; None when no number of stages (2 or more) makes a valid plan. ``M``, ``N`` and
        ``K`` must be checked already (:func:`check_shape`); the stages asked for are ignored.
        The same plan as trying ``most``, ``most - 1``, ... 2 stages and keeping the first that
        is valid, without building the ones that are not."""
        try:
            plan = cls(mach, m, n, k, tiling, check=False)
        except ZeroDivisionError:  # a tiling field of 0: not valid with any stages
            return None
        smem = mach.gpu.smem_bytes_per_block
        stage = plan.stage_bytes()
        stages = min(most, smem // stage) if stage else most
        if tiling.n_loop > 1:
            resident, weights = plan.resident_bytes()
            if weights:
                stages = min(stages, (smem - resident) // weights)
            elif resident > smem:
                return None
        if stages < 2:
            return None
        if stages != tiling.stages:
            plan.t = dataclasses.replace(tiling, stages=int(stages))
        try:
            plan.check_tiling()
        except ValueError:
            return None
        return plan

    # ---- validation --------------------------------------------------------------------
    def check_tiling(self) -> None:
        t, mach = self.t, self.mach
        label = mach.preset
        for name in ("warp_m", "warp_n", "warps_m", "warps_n", "k_step", "stages", "split_k",
                     "n_loop"):  # fmt: skip
            value = getattr(t, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"tile {name} must be a positive integer, not {value!r}")
        if t.warps_m * t.warps_n != mach.gpu.tensor_cores_per_sm:
            raise ValueError(
                f"tile has {t.warps_m}x{t.warps_n} warps; {label} needs one warp per tensor "
                f"core, {mach.gpu.tensor_cores_per_sm} in all"
            )
        if t.warp_m % self.row_unit or t.warp_n % self.col_unit:
            raise ValueError(
                f"warp tile {t.warp_m}x{t.warp_n} is not a multiple of the "
                f"{self.row_unit}x{self.col_unit} instruction tile of {label}"
            )
        if t.k_step % self.k_unit:
            raise ValueError(
                f"k_step {t.k_step} is not a multiple of the instruction K = {self.k_unit}"
            )
        if t.stages < 2:
            raise ValueError(f"a pipeline needs at least 2 stages, not {t.stages}")
        steps = math.ceil(self.groups / self.step_groups)
        if t.split_k > steps:
            raise ValueError(
                f"split-K {t.split_k} is more than the {steps} K steps of {t.k_step} "
                f"(K = {self.kp}); at most {steps} splits"
            )
        regs = self.register_bytes()
        budget = mach.register_bytes_per_tensor_core
        if regs > budget:
            raise ValueError(
                f"warp tile {t.warp_m}x{t.warp_n} needs {regs} register bytes per tensor core; "
                f"{label} has {budget} at {mach.regs}x registers"
            )
        smem = t.stages * self.stage_bytes()
        if smem > mach.gpu.smem_bytes_per_block:
            raise ValueError(
                f"{t.stages} stages of {self.stage_bytes()} bytes need {smem} bytes of shared "
                f"memory; {label} has {mach.gpu.smem_bytes_per_block} per thread block"
            )
        if t.n_loop > 1:
            resident, weights = self.resident_bytes()
            if resident + t.stages * weights > mach.gpu.smem_bytes_per_block:
                raise ValueError(
                    f"resident rows of {resident} bytes and {t.stages} stages of {weights} "
                    f"bytes of weights need {resident + t.stages * weights} bytes of shared "
                    f"memory; {label} has {mach.gpu.smem_bytes_per_block} per thread block"
                )

    def register_bytes(self) -> int:
        """Registers of one warp tile (:func:`warp_register_bytes`)."""
        return warp_register_bytes(self.ops, self.t.warp_m, self.t.warp_n)

    def resident_bytes(self) -> tuple[int, int]:
        """Shared memory of an N loop (:func:`resident_bytes`)."""
        t = self.t
        return resident_bytes(self.ops, t.cta_m, t.cta_n, t.k_step, self.split_groups)

    def stage_bytes(self) -> int:
        """Shared memory of one pipeline stage (:func:`stage_bytes`)."""
        return stage_bytes(self.ops, self.t.cta_m, self.t.cta_n, self.t.k_step)

    # ---- per warp and per CTA, for a step of g groups ----------------------------------
    def instrs(self, g: int) -> int:
        """Tensor-core instructions of one warp in a step of ``g`` groups."""
        return self.frags * g

    def tc_cycles(self, g: int) -> float:
        """Cycles the warp's tensor core is busy in a step: instructions in issue slots of
        ``arrays`` at a time, each slot the instruction's latency (back to back) at the
        sustained issue rate (``slot_cycles``; the latency itself on the ideal machine)."""
        return math.ceil(self.instrs(g) / self.arrays) * self.slot_cycles

    def warp_smem_bytes(self, g: int) -> float:
        return g * (self.t.warp_m * self.row_bytes + self.t.warp_n * self.col_bytes)

    def cta_fill_bytes(self, g: int) -> float:
        """Shared-memory bytes written by the loads of one step (whole tile, zero-filled at
        the edges); resident rows are written in the first of ``n_loop`` passes, spread here
        over all of them."""
        t = self.t
        return g * (t.cta_m * self.row_bytes / t.n_loop + t.cta_n * self.col_bytes)

    def dequant_ops(self, g: int) -> float:
        if self.lut or self.dense:
            return 0.0
        return self.t.warp_n * g * self.k_unit * DEQUANT_OPS_PER_WEIGHT

    def vec_cycles(self, ops: float) -> float:
        return ops / self.mach.gpu.vector_lanes_per_tensor_core

    @property
    def epilogue_ops(self) -> float:
        """Per warp, all ``n_loop`` passes."""
        t = self.t
        return t.warp_m * t.warp_n * t.n_loop * EPILOGUE_OPS["lut" if self.lut else "mac"]

    @property
    def epilogue_smem_bytes(self) -> float:
        """The CTA's results staged through shared memory: written, then read."""
        return 2.0 * self.t.cta_m * self.t.cta_n * self.t.n_loop * self.out_bytes

    def split_steps(self, si: int) -> list[int]:
        """Groups of each pipeline step of K split ``si``, over all ``n_loop`` passes."""
        groups = min(self.split_groups, self.groups - si * self.split_groups)
        full, rest = divmod(groups, self.step_groups)
        return ([self.step_groups] * full + ([rest] if rest else [])) * self.t.n_loop

    # ---- per CTA: bytes through L2 and DRAM --------------------------------------------
    @functools.cached_property
    def cta(self) -> dict[str, np.ndarray]:
        """Per-CTA arrays in launch order: tile indices, steps, and bytes (L2 reuse model of
        :mod:`lutsim.sim.gpu`)."""
        t = self.t
        c = np.arange(self.ctas)
        mi = c % self.mt
        si = (c // self.mt) % self.splits
        ni = c // (self.mt * self.splits)
        rows = np.minimum(t.cta_m, self.m - mi * t.cta_m)
        cols = np.minimum(t.cta_n * t.n_loop, self.n - ni * t.cta_n * t.n_loop)
        groups = np.minimum(self.split_groups, self.groups - si * self.split_groups)
        steps = -(-groups // self.step_groups) * t.n_loop
        a_bytes = rows * groups * self.row_bytes
        w_bytes = cols * (groups * self.col_bytes + np.where(si == 0, self.meta_bytes, 0))
        out = rows * cols * self.out_bytes
        # a cluster of row tiles that share a weight tile reads it from L2 once (multicast)
        cluster = self.mach.gpu.cluster_multicast
        sharing = np.minimum(cluster, self.mt - mi // cluster * cluster)

        # L2 reuse: the CTAs of a wave that share a tile fetch it from DRAM once, each a
        # share; a later wave fetches it again unless the bytes touched since its last use (an
        # LRU reuse distance on tile granularity) fit in L2
        sms, l2 = self.sms, self.mach.gpu.l2_bytes
        wave = c // sms
        a_period = self.mt * self.splits
        a_total = float(self.m * self.kp / self.k_unit * self.row_bytes)
        w_avg = float(w_bytes.sum()) / self.ctas  # every CTA holds one weight tile
        out_avg = float(out.sum()) / self.ctas
        a_avg = a_total / a_period
        a_hit = a_total + (self.splits + 1) * w_avg + a_period * out_avg <= l2
        per_wave = min(sms, a_period) * a_avg + (sms / self.mt + 1) * w_avg + sms * out_avg
        w_hit = per_wave <= l2
        dram_read = np.zeros(self.ctas)
        for tile, nbytes, hit in ((mi + self.mt * si, a_bytes, a_hit),
                                  (ni * self.splits + si, w_bytes, w_hit)):  # fmt: skip
            _, index, sharers = np.unique(
                wave * (self.mt * self.nt * self.splits) + tile,
                return_inverse=True,
                return_counts=True,
            )
            first_wave = np.full(int(tile.max()) + 1, np.iinfo(np.int64).max)
            np.minimum.at(first_wave, tile, wave)
            fetch = (wave == first_wave[tile]) | (not hit)
            dram_read += np.where(fetch, nbytes / sharers[index], 0.0)
        last_split = si == self.splits - 1
        return {
            "mi": mi,
            "si": si,
            "ni": ni,
            "steps": steps,
            "work_groups": groups * t.n_loop,
            "l2_read": (a_bytes + w_bytes / sharing).astype(np.float64),
            "dram_read": dram_read,
            "l2_write": out.astype(np.float64),
            "dram_write": np.where(last_split, rows * cols * self.out_bytes, 0).astype(np.float64),
            "a_hit": np.bool_(a_hit),
            "w_hit": np.bool_(w_hit),
        }

    def compulsory_bytes(self) -> float:
        """DRAM bytes a perfect cache would move: tables (or activations), weights (with their
        scales and zero points unless dense), fp16 outputs, each once."""
        a = self.m * self.kp / self.k_unit * self.row_bytes
        w = self.n * (self.kp / self.k_unit * self.col_bytes + self.meta_bytes)
        return a + w + self.m * self.n * 2
