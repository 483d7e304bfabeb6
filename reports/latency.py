"""Whole-model latency: a compiled model's operators timed on a GPU preset.

:func:`model_latency` compiles the model (:func:`lutsim.compiler.compile_model`) and times each
operator of one forward pass on a preset of :mod:`lutsim.sim.presets`:

========================== =====================================================================
operator                   timed by
========================== =====================================================================
LUT GEMM (LUT presets)     :func:`lutsim.sim.gpu.simulate` of its ``M x N x K`` on the preset, with the
                           quantization's weight bits, activation format and table format,
                           precompute excluded (timed below)
mpGEMM (MAC presets)       :func:`lutsim.sim.gpu.simulate` of the same shape on the MAC tensor cores
                           (weights dequantized on the vector lanes); no precompute. With
                           ``dense=True`` the weights are the preset's own width instead (W16
                           FP16, W8 INT8 or FP8): the dense model, no dequantization
routed experts (MoE)       one **grouped GEMM** per MoE layer and projection (gate, up, down), on
                           either kind of preset: :func:`grouped_gemm` of the active experts' rows
                           (the compiler's ``LutGemm.expert``, grouped by ``layer`` and ``part``);
                           see "Grouped expert GEMMs" below
table precompute           :func:`lutsim.sim.gpu.simulate_precompute` once per table (Q, K and V
                           share one); ``fused``: only where the compiler fused it into the
                           preceding element-wise operator, a separate kernel elsewhere;
                           ``separate``: every precompute a kernel of its own. The tables of
                           one MoE layer's expert activations are one precompute of all their
                           rows (row by row, so exactly the work of the experts' own)
attention products, LM     :func:`lutsim.sim.gpu.roofline_cycles` on the GPU's FP16 tensor cores with
head                       the compiler's FLOPs and DRAM bytes (:mod:`lutsim.compiler.passes`)
norms, rotary, softmax,    :func:`lutsim.sim.gpu.roofline_cycles` on the vector lanes
activations, residuals,
embedding
========================== =====================================================================

Operators run one after another, so the latency is the sum. Each simulated kernel carries the
GPU's fixed time per kernel (:class:`lutsim.sim.presets.GpuCosts`); the host's launch is taken
as hidden, as when a forward pass is one CUDA graph; roofline operators have no fixed time.

Identical work is done once: in a process, each model and phase is compiled once and each GEMM
shape, precompute kernel and roofline is computed once per preset and arguments; across processes,
:func:`model_latency` and :func:`scaling_study` results are kept on disk (:func:`cache_root`),
keyed by their arguments and by :func:`source_digest`, so any change to the code or data they
depend on recomputes them. Neither changes a number: a cached result is the computed one,
field for field (``cache=False`` computes it anew).

Grouped expert GEMMs
--------------------
MoE inference runs the experts of one layer and projection as **one kernel** whose tiles come
from every active expert: vLLM's ``fused_moe`` sorts the routed (token, expert) pairs by
expert, pads each expert's rows to the kernel's M block (``moe_align_block_size``) and
launches ``cdiv(padded rows, BLOCK_M) x cdiv(N, BLOCK_N)`` programs, each taking its expert's
weights (``expert_ids[pid_m]``) and gathering its tokens' rows of the shared input; DeepGEMM's
M-grouped kernels do the same with each expert's segment aligned to the M block
("contiguous" layout, prefill) or every expert padded to one maximum M with only the valid rows
computed ("masked" layout, decode); CUTLASS's grouped GEMM is one persistent launch whose
scheduler hands out the tiles of all problems. :func:`grouped_gemm` times that kernel with the
cycle model's own :func:`lutsim.sim.gpu.simulate_machine`, through equivalent GEMMs:

1. **One tiling for the launch**, as a grouped kernel has. Candidates: the tile search's
   choice for the equivalent shape ``(largest expert's rows) x (E x N) x K`` (E active
   experts), for the largest expert alone, and for each run of experts of similar rows (cut
   where the rows halve), each as found and with its CTA columns narrowed (warp columns
   halved, then warps moved from columns to rows) until they divide N. The candidate whose
   kernel (steps 2 and 3) takes the fewest cycles wins, as an autotuned grouped kernel's
   would.
2. **Row classes.** Under that tiling expert ``e`` takes ``r_e = ceil(m_e / CTA rows)`` row
   tiles; the experts with the same ``r_e`` form a class, simulated as the GEMM
   ``(largest m_e of the class) x (experts of the class x N_pad) x K`` with that tiling.
   ``N_pad`` is N rounded up to the CTA's columns: each expert has ``ceil(N / CTA columns)``
   column tiles of its own, as in the real kernel (``cdiv(N, BLOCK_N)`` in vLLM), and no
   CTA spans two experts.
3. **One fixed time.** The kernel's time is the classes' simulated cycles without their fixed
   time, added, plus the fixed time of one kernel (:class:`lutsim.sim.presets.GpuCosts`).
4. **A cap.** The classes run one after another here, while in one launch a tensor-bound class
   (experts with many tokens) overlaps a DRAM-bound one (experts with few tokens streaming
   their weights). When that omission makes the kernel slower than the experts' own kernels
   (their own tilings) back to back with one fixed time, that sum is taken instead
   (``schedule = "experts"``). Skewed measured routings reach it by a wide margin (a class of
   many tokens wants another tiling than one of few); with uniform routing it is taken only
   in DRAM-bound decode kernels, where it differs from step 3 by about 2 % or less.

What this counts exactly, and what it over- or under-counts:

=============================== ============================================================
CTAs (tiles) and their K steps  exact: every expert's ``r_e x ceil(N / CTA columns)`` tiles,
                                padding included
weight bytes, scales, zeros     exact: every active expert's, once per row tile of it (the
                                L2 reuse model of one GEMM); experts without tokens read
                                nothing. Over-counted by padded columns when the tiling's
                                CTA columns do not divide N (``N_pad > N``; the real kernel
                                masks their loads); the narrowed candidates avoid it, and a
                                padded one wins only when it is faster all the same
table (activation) bytes, L2    over-counted when the experts of a class differ in rows: each
                                reads the class's largest ``m_e`` (uniform routing differs by
                                at most one row)
table bytes, DRAM               under-counted: the equivalent GEMM reads the largest expert's
                                rows once per class, the real kernel gathers every routed
                                token's row (at most ``tokens`` rows x K/4 groups x table
                                entries; small beside the weights in decode, and read at full
                                bandwidth in compute-bound prefill)
outputs                         over-counted like L2 table bytes (largest ``m_e`` per class)
ramp, overlap                   over-counted with more than one class: each class pays its
                                own pipeline fill, last wave and drain, and classes bound by
                                different resources do not overlap, which one launch would
                                allow (uniform routing: one class, or two when the rows
                                straddle a CTA boundary); bounded by the cap of step 4
fixed time per kernel           exact: one per layer and projection
=============================== ============================================================

An exact model of the launch would need :mod:`lutsim.sim` to plan one kernel over several
problems: per CTA its expert (weight tiles distinct per expert), its rows, and the table rows it
gathers from the one table tensor of all tokens, with the CTAs of all experts sharing the
waves. The row classes above approximate that with single-problem plans.

Gate and up stay two kernels, as the compiler lowers them (vLLM fuses them into one ``w13``
GEMM, which would save one more fixed time per layer). Shared experts and dense layers are
ordinary GEMMs.

Each result names its **baseline** (:data:`BASELINES`): the LUT tensor cores; the same
low-bit model on MAC hardware (dequantized); or a dense model at the MAC preset's width (the
FP16 model, the INT8 model, the FP8 model).

A **phase** is ``batch`` independent sequences, each adding ``tokens`` new tokens to a context
of ``context`` tokens: prefill is ``batch 1, tokens = context = 2048`` and decode is ``tokens
1``. Linear layers see ``M = batch x tokens`` rows. Attention is per sequence: it is compiled
for one sequence (``tokens`` attending to ``context``) and its costs are counted ``batch``
times, KV cache included. The MAC baselines execute the same linear layers (same shapes and
weight bits) through dequantization, and the same non-LUT work.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lutsim.compiler import compile_model, load_model
from lutsim.compiler.ir import LutGemm, Op, Precompute
from lutsim.compiler.model import ModelConfig
from lutsim.compiler.quant import QuantSpec, default_quant, parse_quant
from lutsim.isa._io import atomic_write_text
from lutsim.sim import gpu
from lutsim.sim.gpu_plan import Plan, check_shape
from lutsim.sim.presets import DENSE_WIDTHS, PRESETS, Machine, machine

__all__ = [
    "BASELINES", "CATEGORIES", "GroupedRun", "ModelLatency", "Phase", "TABLE1", "cache_root",
    "decode", "grouped_gemm", "lut_core", "model_latency", "prefill", "scaling_study",
    "source_digest", "table1",
]  # fmt: skip

CATEGORIES = ("gemm", "precompute", "attention", "lm_head", "other")
ATTENTION = ("attn_scores", "softmax", "attn_values")
TENSOR_OPS = ("attn_scores", "attn_values", "lm_head")
BASELINES = {
    "lut": "the low-bit model on LUT tensor cores",
    "dequantized": "the same low-bit model on MAC hardware (dequantized)",
    "fp16": "the FP16 model",
    "int8": "the INT8 model",
    "fp8": "the FP8 model",
}
"""What a latency row is, by kind: LUT, dequantizing MAC, or a dense model at a MAC width."""


@dataclass(frozen=True)
class Phase:
    """``batch`` sequences, each adding ``tokens`` new tokens to a ``context``-token context."""

    name: str
    batch: int
    tokens: int
    context: int

    def __post_init__(self):
        for key in ("batch", "tokens", "context"):
            value = getattr(self, key)
            if type(value) is not int or value < 1:
                raise ValueError(f"{key} must be a positive integer, not {value!r}")
        if self.context < self.tokens:
            raise ValueError(
                f"context {self.context} must be at least the {self.tokens} new tokens"
            )

    @property
    def rows(self) -> int:
        """Rows of every linear layer (the GEMM M)."""
        return self.batch * self.tokens

    def text(self) -> str:
        return f"{self.name} (batch {self.batch}, {self.tokens} new tokens, context {self.context})"


def prefill(tokens: int = 2048, batch: int = 1) -> Phase:
    return Phase("prefill", batch, tokens, tokens)


def decode(batch: int = 1, context: int = 2048) -> Phase:
    return Phase("decode", batch, 1, context)


@dataclass(frozen=True)
class ModelLatency:
    model: str
    quant: str
    preset: str
    label: str
    phase: Phase
    precompute: str
    freq_mhz: float
    us: dict[str, float]  # category -> microseconds (CATEGORIES)
    gemms: tuple[dict[str, Any], ...]  # distinct GEMM shapes: m, n, k, count, us each, bound;
    # a grouped expert GEMM also has experts, rows (all of them), classes and tiling
    precomputes: dict[str, int]  # "fused" / "separate" -> tables
    macs: int  # weight x activation MACs of the linear layers
    actions: dict[str, float]  # action counts of the GEMM kernels (precompute excluded)
    core: dict[str, Any]  # the LUT core's CoreConfig.to_dict() (LUT presets), else {}
    baseline: str = BASELINES["lut"]  # what this row is (BASELINES)
    regs: int = 1  # register-file multiplier

    @property
    def total_us(self) -> float:
        return sum(self.us.values())

    @property
    def tokens_per_s(self) -> float:
        return self.phase.rows / (self.total_us * 1e-6)

    @property
    def precompute_share(self) -> float:
        """Precompute time over the linear layers' time (GEMMs + precompute)."""
        linear = self.us["gemm"] + self.us["precompute"]
        return self.us["precompute"] / linear if linear else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "quant": self.quant, "preset": self.preset,
            "label": self.label, "phase": dataclasses.asdict(self.phase),
            "precompute": self.precompute, "freq_mhz": self.freq_mhz, "us": dict(self.us),
            "total_us": self.total_us, "tokens_per_s": self.tokens_per_s,
            "precompute_share": self.precompute_share, "gemms": list(self.gemms),
            "precomputes": dict(self.precomputes), "macs": self.macs,
            "actions": dict(self.actions), "core": dict(self.core),
            "baseline": self.baseline, "regs": self.regs,
        }  # fmt: skip


def _quant(model: ModelConfig, quant: QuantSpec | str | None) -> QuantSpec:
    if quant is None:
        return default_quant(model)
    return quant if isinstance(quant, QuantSpec) else parse_quant(quant)


def _wbits(quant: QuantSpec) -> int | float:
    return 1.58 if quant.ternary else quant.weight_bits


def _machine(preset: str, quant: QuantSpec):
    """The preset's machine for ``quant``'s weights and formats, and the formats passed to
    the simulation (a LUT preset runs the quantization's activation and table formats)."""
    lut = machine(preset, _wbits(quant)).is_lut  # validates the preset first
    formats = {}
    if lut:
        formats["act"] = quant.act_format
        if quant.table_quant:
            formats["table_format"] = "int8"
    mach = machine(preset, _wbits(quant), formats.get("act"),
                   table_format=formats.get("table_format"))  # fmt: skip
    return mach, formats


@dataclass(frozen=True)
class GroupedRun:
    """One grouped GEMM kernel (:func:`grouped_gemm`): the active experts' rows, the launch's
    tiling and the equivalent GEMM simulated for each row class (see the module docstring)."""

    rows: tuple[int, ...]  # rows (tokens) of each active expert, largest first
    n: int
    k: int
    padded_n: int  # N of each expert in the equivalent GEMMs (N unless no CTA width divides it)
    tiling: gpu.Tiling  # the launch's tiling (schedule "classes")
    freq_mhz: float
    cycles: int  # the runs' cycles without their fixed time, plus one kernel's fixed time
    fixed_cycles: int
    classes: tuple[gpu.GpuRun, ...]  # the runs added: one per row class, or one per expert
    schedule: str = "classes"  # "classes": one tiling; "experts": the experts' own kernels

    @property
    def latency_us(self) -> float:
        return self.cycles / self.freq_mhz

    @property
    def main(self) -> gpu.GpuRun:
        """The class that takes the most cycles (its limit is the kernel's)."""
        return max(self.classes, key=lambda run: run.cycles)

    @property
    def actions(self) -> dict[str, float]:
        """Action counts of all classes (padded rows of a class included)."""
        total: Counter = Counter()
        for run in self.classes:
            total.update(run.gemm.actions)
        return dict(total)


def _column_unit(mach: Machine) -> int:
    """Columns (N) of one tensor-core instruction: the LUT core's N, or the MMA's weight rows."""
    return mach.tc.core.n if mach.is_lut else mach.tc.shape[0]


def _fitted(mach: Machine, m: int, n: int, k: int, tiling: gpu.Tiling) -> gpu.Tiling | None:
    """``tiling`` with the most stages (up to its own) that fit, or None."""
    for stages in range(tiling.stages, 1, -1):
        candidate = dataclasses.replace(tiling, stages=stages)
        try:
            Plan(mach, m, n, k, candidate)
        except ValueError:
            continue
        return candidate
    return None


def _narrowed(mach: Machine, m: int, n: int, k: int, tiling: gpu.Tiling) -> gpu.Tiling | None:
    """``tiling`` with its CTA columns narrowed until they divide ``n`` (warp columns halved,
    then warps moved from columns to rows), as far as whole instruction tiles allow."""
    unit = _column_unit(mach)
    while n % tiling.cta_n:
        if tiling.warp_n > unit:
            tiling = dataclasses.replace(tiling, warp_n=tiling.warp_n // 2)
        elif tiling.warps_n > 1:
            tiling = dataclasses.replace(
                tiling, warps_m=tiling.warps_m * 2, warps_n=tiling.warps_n // 2
            )
        else:
            break
    return _fitted(mach, m, n, k, tiling)


def _grouped_with(mach: Machine, rows: tuple[int, ...], n: int, k: int, tiling: gpu.Tiling,
                  mode: str) -> GroupedRun:  # fmt: skip
    """The grouped kernel of ``rows`` x ``n`` x ``k`` with ``tiling`` (steps 2 and 3)."""
    padded = n if n % tiling.cta_n == 0 else math.ceil(n / tiling.cta_n) * tiling.cta_n
    classes: dict[int, list[int]] = {}
    for r in rows:
        classes.setdefault(math.ceil(r / tiling.cta_m), []).append(r)
    runs = tuple(
        gpu.simulate_machine(mach, max(members), len(members) * padded, k, mode=mode,
                             precompute="none", tiling=tiling)
        for _, members in sorted(classes.items(), reverse=True)
    )  # fmt: skip
    fixed = mach.fixed_cycles
    cycles = sum(run.cycles - run.gemm.fixed_cycles for run in runs) + fixed
    return GroupedRun(rows, n, k, padded, tiling, mach.gpu.freq_mhz, cycles, fixed, runs)


def grouped_gemm(
    preset: str,
    rows: list[int] | tuple[int, ...],
    n: int,
    k: int,
    *,
    wbits: int | float = 2,
    act: str | None = None,
    regs: int = 1,
    table_format: str | None = None,
    mode: str = "fast",
    freq_mhz: float | None = None,
) -> GroupedRun:
    """One grouped GEMM kernel on ``preset``: expert ``e`` computes ``rows[e] x n x k`` with
    weights of its own, all experts in one launch (see "Grouped expert GEMMs" in the module
    docstring). Experts with 0 rows take no part. The keywords are those of
    :func:`lutsim.sim.gpu.simulate`; the table precompute is not included."""
    good = isinstance(rows, list | tuple) and all(
        isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in rows
    )
    if not good or not any(rows):
        raise ValueError(
            f"expert rows must be non-negative integers, at least one positive, not {rows!r}"
        )
    active = tuple(sorted((r for r in rows if r), reverse=True))
    m, n, k = check_shape(active[0], n, k)
    mach = machine(preset, wbits, act, regs, table_format=table_format, freq_mhz=freq_mhz)
    shapes = [(m, len(active) * n), (m, n)]  # the equivalent GEMM, the largest expert alone
    shapes += [(rows[0], len(rows) * n) for rows in _row_groups(active)]  # each distinct M
    candidates: list[gpu.Tiling] = []
    for rows, width in dict.fromkeys(shapes):
        searched = gpu.choose_tiling(mach, rows, width, k)
        for tiling in (searched, _narrowed(mach, m, n, k, searched)):
            if tiling is not None and tiling not in candidates:
                candidates.append(tiling)
    best = min((_grouped_with(mach, active, n, k, tiling, mode) for tiling in candidates),
               key=lambda run: run.cycles)  # fmt: skip
    own = tuple(_own_kernel(mach, r, n, k, mode) for r in active)
    cycles = sum(run.cycles - run.gemm.fixed_cycles for run in own) + best.fixed_cycles
    if cycles < best.cycles:  # the cap of the module docstring
        return dataclasses.replace(best, cycles=cycles, classes=own, schedule="experts")
    return best


@functools.lru_cache(maxsize=4096)
def _own_kernel(mach: Machine, m: int, n: int, k: int, mode: str) -> gpu.GpuRun:
    """One expert's GEMM as a kernel of its own (the tile search's tiling)."""
    return gpu.simulate_machine(mach, m, n, k, mode=mode, precompute="none")


def _row_groups(rows: tuple[int, ...]) -> list[tuple[int, ...]]:
    """``rows`` (largest first) cut where they halve: the experts of similar size."""
    groups = [[rows[0]]]
    for r in rows[1:]:
        if 2 * r <= groups[-1][0]:
            groups.append([])
        groups[-1].append(r)
    return [tuple(g) for g in groups]


def lut_core(model: ModelConfig | str, preset: str, quant: QuantSpec | str | None = None):
    """The LUT core configuration (:class:`lutsim.isa.config.CoreConfig`) that :func:`model_latency`
    runs ``model`` on with ``preset``; None for a MAC preset."""
    if not isinstance(model, ModelConfig):
        model = load_model(model)
    mach, _ = _machine(preset, _quant(model, quant))
    return mach.tc.core if mach.is_lut else None


def model_latency(
    model: ModelConfig | str,
    preset: str,
    phase: Phase,
    quant: QuantSpec | str | None = None,
    *,
    precompute: str = "fused",
    mode: str = "fast",
    freq_mhz: float | None = None,
    regs: int = 1,
    dense: bool = False,
    grouped: bool = True,
    cache: bool = True,
) -> ModelLatency:
    """Time one forward pass of ``model`` (a :class:`ModelConfig`, preset name or
    ``config.json``) quantized by ``quant`` (default: the model's) in ``phase`` on ``preset``
    (see the module docstring). ``precompute``: ``"fused"`` or ``"separate"``; ``regs``: the
    register-file multiplier; ``dense``: on a MAC preset, the dense model at the preset's own
    width instead of the quantized one (an error on a LUT preset); ``grouped``: a MoE layer's
    experts as one grouped GEMM per projection (with False: one kernel per expert GEMM and per
    expert table, for comparison); ``cache``: read and write the result in the on-disk cache
    (:func:`cache_root`; keyed by every argument and by the source of the model, so a change
    to ``sim/``, ``compiler/``, ``isa/`` or this module misses it)."""
    if not isinstance(model, ModelConfig):
        model = load_model(model)
    quant = _quant(model, quant)
    args = {"preset": preset, "phase": phase, "precompute": precompute, "mode": mode,
            "freq_mhz": freq_mhz, "regs": regs, "dense": dense, "grouped": grouped}  # fmt: skip
    if not cache:
        return _model_latency(model, quant, **args)
    key = {"model": model, "quant": quant, **args}
    return _through_cache("latency", key, lambda: _model_latency(model, quant, **args),
                          _encode, _decode)  # fmt: skip


def _model_latency(
    model: ModelConfig, quant: QuantSpec, *, preset: str, phase: Phase, precompute: str,
    mode: str, freq_mhz: float | None, regs: int, dense: bool, grouped: bool,
) -> ModelLatency:  # fmt: skip
    """:func:`model_latency`, computed."""
    if precompute not in ("fused", "separate"):
        raise ValueError(f"precompute must be fused or separate, not {precompute!r}")
    mach, formats = _machine(preset, quant)
    lut = mach.is_lut
    sim_args: dict[str, Any] = {"wbits": _wbits(quant), "freq_mhz": freq_mhz, "mode": mode,
                                "regs": regs}  # fmt: skip
    sim_args.update(formats)
    if dense:
        if lut:
            raise ValueError(f"dense models run on MAC presets, not {preset}")
        width, acts = DENSE_WIDTHS[mach.tc.fmt]
        sim_args.update(wbits=width, act=acts[0])
        mach = machine(preset, width, acts[0], regs)
        kind = mach.tc.fmt
    else:
        kind = "lut" if lut else "dequantized"
    hz = (freq_mhz or mach.gpu.freq_mhz) * 1e6
    us = dict.fromkeys(CATEGORIES, 0.0)

    linear = _compiled(model, quant, phase.rows, phase.rows)
    nodes = linear.ir.of_type(LutGemm)
    shapes = Counter((g.rows, g.n, g.k) for g in nodes if g.expert is None or not grouped)
    experts: dict[tuple, list[int]] = {}  # (layer, part, n, k) -> rows of each active expert
    for g in nodes:
        if g.expert is not None and grouped:
            experts.setdefault((g.layer, g.part, g.n, g.k), []).append(g.rows)
    grouped = Counter((tuple(sorted(rows, reverse=True)), n, k)
                      for (_, _, n, k), rows in experts.items())  # fmt: skip
    gemms = []
    actions: Counter = Counter()
    for (m, n, k), count in sorted(shapes.items()):
        run = _simulated(preset, m, n, k, precompute="none", **sim_args)
        for key, value in run.gemm.actions.items():
            actions[key] += count * value
        gemms.append({"m": m, "n": n, "k": k, "count": count, "us": run.latency_us,
                      "bound": run.gemm.bound, "roof_fraction": run.roof_fraction,
                      "limit": run.gemm.bottleneck["limit"],
                      "why": run.gemm.bottleneck["text"]})  # fmt: skip
        us["gemm"] += count * run.latency_us
    for (rows, n, k), count in sorted(grouped.items(), key=lambda item: item[0][1:]):
        group = grouped_gemm(preset, list(rows), n, k, **sim_args)
        for key, value in group.actions.items():
            actions[key] += count * value
        main = group.main
        gemms.append({"m": rows[0], "n": n, "k": k, "count": count, "us": group.latency_us,
                      "experts": len(rows), "rows": sum(rows), "classes": len(group.classes),
                      "tiling": group.tiling.text(), "schedule": group.schedule,
                      "bound": main.gemm.bound,
                      "roof_fraction": main.roof_fraction,
                      "limit": main.gemm.bottleneck["limit"],
                      "why": main.gemm.bottleneck["text"]})  # fmt: skip
        us["gemm"] += count * group.latency_us
    tables: Counter = Counter()
    if lut:
        expert_gemms = {g.name: g.part for g in nodes if g.expert is not None and grouped}
        kernels: Counter = Counter()  # (layer, k, how, parts) -> rows of one precompute kernel
        for node in linear.ir.of_type(Precompute):
            how = "fused" if precompute == "fused" and node.fused_into else "separate"
            tables[how] += 1
            if all(name in expert_gemms for name in node.consumers):  # one MoE layer's experts
                parts = frozenset(expert_gemms[name] for name in node.consumers)
                kernels[(node.layer, node.k, how, parts)] += node.rows
            else:
                kernels[(node.name, node.k, how, None)] += node.rows
        for (_, k, how, _), rows in kernels.items():
            kernel = _precomputed(
                preset, rows, k, how=how, wbits=_wbits(quant), act=quant.act_format,
                table_format="int8" if quant.table_quant else None, freq_mhz=freq_mhz,
            )  # fmt: skip
            us["precompute"] += kernel.cycles / hz * 1e6
    for node in linear.ir.of_type(Op):
        if node.kind in ATTENTION:
            continue
        cost = linear.ir.costs[node.name]
        unit = "tensor" if node.kind in TENSOR_OPS else "vector"
        cycles = _roofline(
            preset, cost.flops, sum(cost.dram_bytes.values()), unit=unit, freq_mhz=freq_mhz
        )
        us["lm_head" if node.kind == "lm_head" else "other"] += cycles / hz * 1e6
    attention = _compiled(model, quant, phase.tokens, phase.context)
    for node in attention.ir.of_type(Op):
        if node.kind not in ATTENTION:
            continue
        cost = attention.ir.costs[node.name]
        unit = "tensor" if node.kind in TENSOR_OPS else "vector"
        flops = cost.flops * phase.batch
        nbytes = sum(cost.dram_bytes.values()) * phase.batch
        cycles = _roofline(preset, flops, nbytes, unit=unit, freq_mhz=freq_mhz)
        us["attention"] += cycles / hz * 1e6
    return ModelLatency(
        model=model.name, quant=str(quant), preset=preset, label=mach.tc.label,
        phase=phase, precompute=precompute if lut else "none", freq_mhz=hz / 1e6, us=us,
        gemms=tuple(gemms), precomputes=dict(tables),
        macs=sum(g.rows * g.n * g.k for g in nodes),
        actions=dict(actions), core=mach.tc.core.to_dict() if lut else {},
        baseline=BASELINES[kind], regs=regs,
    )  # fmt: skip


@functools.lru_cache(maxsize=32)
def _compiled(model: ModelConfig, quant: QuantSpec, tokens: int, context: int):
    """:func:`lutsim.compiler.compile_model` once per model, quantization, tokens and context
    in a process (its IR is only read here)."""
    return compile_model(model, quant, tokens=tokens, context=context)


_simulated = functools.lru_cache(maxsize=4096, typed=True)(gpu.simulate)
"""A GEMM simulated once per preset, shape and arguments in a process (the same shapes recur
across layers, phases and the fused and separate runs); the same for a precompute kernel and
for the roofline of an operator."""
_precomputed = functools.lru_cache(maxsize=4096, typed=True)(gpu.simulate_precompute)
_roofline = functools.lru_cache(maxsize=16384, typed=True)(gpu.roofline_cycles)


# ---- the on-disk cache of model_latency ------------------------------------------------
CACHE_VERSION = 1
"""Bumped when the cached form of a :class:`ModelLatency` changes."""


def cache_root() -> Path:
    """``$LUTSIM_CACHE/latency``, or ``~/.cache/lutsim/latency``: one JSON file per
    :func:`model_latency` or :func:`scaling_study` result, named by the digest of its
    arguments and of :func:`source_digest`, written atomically. A file that cannot be read
    back is a miss and is replaced; a cache that cannot be written is not used."""
    base = os.environ.get("LUTSIM_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "lutsim") / "latency"


@functools.cache
def source_digest() -> str:
    """SHA-256 of every file of the packages a latency depends on (``sim/``, ``compiler/``
    and ``isa/``, data and model configurations included) and of this module, read once per
    process."""
    from lutsim import compiler, isa, sim

    digest = hashlib.sha256()
    files = [Path(__file__)]
    for package in (compiler, isa, sim):
        root = Path(package.__file__).parent
        files += sorted(f for f in root.rglob("*")
                        if f.is_file() and "__pycache__" not in f.parts)  # fmt: skip
    for f in files:
        digest.update(f"{f.parent.name}/{f.name}\0".encode())
        digest.update(f.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _through_cache(kind: str, key: dict[str, Any], compute, encode=json.dumps,
                   decode=json.loads):  # fmt: skip
    """``compute()`` read from the cache file of ``kind`` and ``key`` (each value by its
    ``repr``) if it holds one, else computed and written there, unless ``encode`` and
    ``decode`` would not give it back as it is."""
    key = {"kind": kind, "version": CACHE_VERSION, "source": source_digest(),
           "numpy": np.__version__, "python": list(sys.version_info[:2]),
           **{name: repr(value) for name, value in key.items()}}  # fmt: skip
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    path = cache_root() / f"{kind}-{digest}.json"
    try:
        return decode(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        pass  # a miss, or a file to replace
    result = compute()
    text = encode(result)
    if decode(text) == result:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
        except OSError:
            pass
    return result


def _encode(result: ModelLatency) -> str:
    fields = {field.name: getattr(result, field.name) for field in dataclasses.fields(result)}
    return json.dumps(fields, default=dataclasses.asdict)


def _decode(text: str) -> ModelLatency:
    data = json.loads(text)
    data["phase"] = Phase(**data["phase"])
    data["gemms"] = tuple(data["gemms"])
    return ModelLatency(**data)


def lut_presets(gpu_name: str) -> list[str]:
    """The LUT and MAC presets of one GPU (``A100`` -> A100-LUT-1X, ..., A100-INT8)."""
    return [name for name, (g, _) in PRESETS.items() if g == gpu_name]


def speedup(base: ModelLatency, other: ModelLatency) -> float:
    return base.total_us / other.total_us if other.total_us else math.inf


TABLE1 = (  # (row, preset, model, dense, registers): the paper's Table 1 configuration
    ("A100 FP16, LLaMA 3B W16A16", "A100-FP16", "openllama-3b", True, 1),
    ("A100 INT8, BitNet b1.58 3B W8A8", "A100-INT8", "bitnet-b1.58-3b", True, 1),
    ("A100-LUT-4X*, BitNet b1.58 3B", "A100-LUT-4X", "bitnet-b1.58-3b", False, 2),
    ("A100-LUT-8X*, BitNet b1.58 3B", "A100-LUT-8X", "bitnet-b1.58-3b", False, 2),
    ("H100 FP8, BitNet b1.58 3B W8A8", "H100-FP8", "bitnet-b1.58-3b", True, 1),
    ("H100-LUT-4X*, BitNet b1.58 3B", "H100-LUT-4X", "bitnet-b1.58-3b", False, 2),
    ("H100-LUT-8X*, BitNet b1.58 3B", "H100-LUT-8X", "bitnet-b1.58-3b", False, 2),
)
"""The seven rows of the paper's Table 1 (Mo et al., ISCA 2025): the FP16 reference is the
dense FP16 LLaMA 3B (OpenLLaMA 3B, the shapes of BitNet b1.58 3B); INT8 and FP8 run BitNet b1.58
3B dense at 8 bits; the LUT rows run it ternary with INT8 activations and, where the paper marks
"*", double registers. Both GPUs at 1.41 GHz, as the paper normalizes them."""

TABLE1_PHASES = (prefill(2048, 1), decode(1024, 1))
"""BS1 SEQ2048 (prefill) and BS1024 SEQ1 (decode; context 1: one new token, no history)."""


def table1(
    freq_mhz: float = 1410.0, mode: str = "fast", cache: bool = True
) -> list[dict[str, Any]]:
    """Our latency of every row of :data:`TABLE1` in both :data:`TABLE1_PHASES`, in ms, with
    the share of each category; ``cache`` as :func:`model_latency`."""
    rows = []
    for label, preset, model, dense, regs in TABLE1:
        row: dict[str, Any] = {"row": label, "preset": preset, "model": model, "regs": regs}
        for phase in TABLE1_PHASES:
            run = model_latency(model, preset, phase, precompute="fused", mode=mode,
                                freq_mhz=freq_mhz, regs=regs, dense=dense,
                                cache=cache)  # fmt: skip
            row[phase.name] = {"ms": run.total_us / 1e3, "us": dict(run.us),
                               "bound": dict(Counter(g["bound"] for g in run.gemms))}  # fmt: skip
            row["baseline"] = run.baseline
        rows.append(row)
    return rows


def scaling_study(
    model: str = "bitnet-b1.58-3b",
    phase: Phase | None = None,
    presets: tuple[str, ...] = ("A100-LUT-4X", "A100-LUT-8X"),
    regs: tuple[int, ...] = (1, 2, 4, 8),
    smem: tuple[float, ...] = (1.0, 2.0, 4.0),
    cache: bool = True,
) -> list[dict[str, Any]]:
    """The linear layers (GEMMs, precompute excluded) of ``model`` in ``phase`` (default:
    decode at batch 1024) on each LUT preset at each register multiplier and shared-memory
    bandwidth multiplier: ms, ms when kernels may keep each CTA's tables in shared memory across
    an N loop (``ms_resident``: :class:`lutsim.sim.gpu_plan.Tiling` ``n_loop``), and per GEMM
    shape its time, limit and the bytes it moves through shared memory and L2, split into
    tables and weights. For the question of what stops LUT-8X from beating LUT-4X, and what
    would. ``cache``: read and write the result in the on-disk cache, as
    :func:`model_latency`."""
    phase = phase or decode(1024, 1)
    args = {"model": model, "phase": phase, "presets": presets, "regs": regs, "smem": smem}
    if not cache:
        return _scaling_study(**args)
    return _through_cache("scaling", args, lambda: _scaling_study(**args))


def _scaling_study(model, phase, presets, regs, smem) -> list[dict[str, Any]]:
    model_cfg = load_model(model)
    quant = _quant(model_cfg, None)
    linear = _compiled(model_cfg, quant, phase.rows, phase.rows)
    shapes = Counter((g.rows, g.n, g.k) for g in linear.ir.of_type(LutGemm))
    rows = []
    for preset in presets:
        for r in regs:
            for scale in smem:
                mach, formats = _machine(preset, quant)
                mach = machine(preset, _wbits(quant), formats.get("act"), r,
                               table_format=formats.get("table_format"))  # fmt: skip
                gpu_spec = dataclasses.replace(
                    mach.gpu, smem_bytes_per_cycle=mach.gpu.smem_bytes_per_cycle * scale
                )
                mach = dataclasses.replace(mach, gpu=gpu_spec)
                total, per_shape = 0.0, []
                resident = dataclasses.replace(mach, rows_resident=True)
                total_resident = 0.0
                for (m, n, k), count in sorted(shapes.items()):
                    run = gpu.simulate_machine(mach, m, n, k, precompute="none")
                    total += count * run.latency_us
                    kept = gpu.simulate_machine(resident, m, n, k, precompute="none")
                    total_resident += count * kept.latency_us
                    per_shape.append({
                        "m": m, "n": n, "k": k, "count": count, "us": run.latency_us,
                        "limit": run.gemm.bottleneck["limit"],
                        "utilization": dict(run.gemm.utilization),
                        "tiling": run.tiling.to_dict(), **_traffic(mach, m, n, k, run.tiling),
                    })  # fmt: skip
                rows.append({"preset": preset, "regs": r, "smem": scale, "ms": total / 1e3,
                             "ms_resident": total_resident / 1e3, "shapes": per_shape})  # fmt: skip
    return rows


def _traffic(mach, m: int, n: int, k: int, tiling) -> dict[str, float]:
    """Bytes of tables and of weights through shared memory (stage writes and warp reads) and
    through L2 (CTA reads), for the GEMM's plan."""
    from lutsim.sim.gpu_plan import Plan

    plan = Plan(mach, m, n, k, tiling)
    t, groups = plan.t, plan.groups
    ctas_n, ctas_m = plan.nt, plan.mt
    smem_tables = groups * (ctas_n * plan.m * plan.row_bytes * (1 + t.warps_n))
    smem_weights = groups * (ctas_m * plan.n * plan.col_bytes * (1 + t.warps_m))
    return {
        "smem_table_bytes": float(smem_tables),
        "smem_weight_bytes": float(smem_weights),
        "l2_table_bytes": float(groups * ctas_n * plan.m * plan.row_bytes),
        "l2_weight_bytes": float(groups * ctas_m * plan.n * plan.col_bytes),
    }
