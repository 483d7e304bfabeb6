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
table precompute           :func:`lutsim.sim.gpu.simulate_precompute` once per table (Q, K and V
                           share one); ``fused``: only where the compiler fused it into the
                           preceding element-wise operator, a separate kernel elsewhere;
                           ``separate``: every precompute a kernel of its own
attention products, LM     :func:`lutsim.sim.gpu.roofline_cycles` on the GPU's FP16 tensor cores with
head                       the compiler's FLOPs and DRAM bytes (:mod:`lutsim.compiler.passes`)
norms, rotary, softmax,    :func:`lutsim.sim.gpu.roofline_cycles` on the vector lanes
activations, residuals,
embedding
========================== =====================================================================

Operators run one after another, so the latency is the sum. Each simulated kernel carries the
GPU's fixed time per kernel (:class:`lutsim.sim.presets.GpuCosts`); the host's launch is taken
as hidden, as when a forward pass is one CUDA graph; roofline operators have no fixed time.
Identical GEMM shapes are simulated once.

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
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from lutsim.compiler import compile_model, load_model
from lutsim.compiler.ir import LutGemm, Op, Precompute
from lutsim.compiler.model import ModelConfig
from lutsim.compiler.quant import QuantSpec, default_quant, parse_quant
from lutsim.sim import gpu
from lutsim.sim.presets import DENSE_WIDTHS, PRESETS, machine

__all__ = [
    "BASELINES", "CATEGORIES", "ModelLatency", "Phase", "TABLE1", "decode", "lut_core",
    "model_latency", "prefill", "scaling_study", "table1",
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
    gemms: tuple[dict[str, Any], ...]  # distinct GEMM shapes: m, n, k, count, us each, bound
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
) -> ModelLatency:
    """Time one forward pass of ``model`` (a :class:`ModelConfig`, preset name or
    ``config.json``) quantized by ``quant`` (default: the model's) in ``phase`` on ``preset``
    (see the module docstring). ``precompute``: ``"fused"`` or ``"separate"``; ``regs``: the
    register-file multiplier; ``dense``: on a MAC preset, the dense model at the preset's own
    width instead of the quantized one (an error on a LUT preset)."""
    if not isinstance(model, ModelConfig):
        model = load_model(model)
    quant = _quant(model, quant)
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

    linear = compile_model(model, quant, tokens=phase.rows, context=phase.rows)
    shapes = Counter((g.rows, g.n, g.k) for g in linear.ir.of_type(LutGemm))
    gemms = []
    actions: Counter = Counter()
    for (m, n, k), count in sorted(shapes.items()):
        run = gpu.simulate(preset, m, n, k, precompute="none", **sim_args)
        for key, value in run.gemm.actions.items():
            actions[key] += count * value
        gemms.append({"m": m, "n": n, "k": k, "count": count, "us": run.latency_us,
                      "bound": run.gemm.bound, "roof_fraction": run.roof_fraction,
                      "limit": run.gemm.bottleneck["limit"],
                      "why": run.gemm.bottleneck["text"]})  # fmt: skip
        us["gemm"] += count * run.latency_us
    tables: Counter = Counter()
    if lut:
        for node in linear.ir.of_type(Precompute):
            how = "fused" if precompute == "fused" and node.fused_into else "separate"
            tables[how] += 1
            kernel = gpu.simulate_precompute(
                preset, node.rows, node.k, how=how, wbits=_wbits(quant), act=quant.act_format,
                table_format="int8" if quant.table_quant else None, freq_mhz=freq_mhz,
            )  # fmt: skip
            us["precompute"] += kernel.cycles / hz * 1e6
    for node in linear.ir.of_type(Op):
        if node.kind in ATTENTION:
            continue
        cost = linear.ir.costs[node.name]
        unit = "tensor" if node.kind in TENSOR_OPS else "vector"
        cycles = gpu.roofline_cycles(
            preset, cost.flops, sum(cost.dram_bytes.values()), unit=unit, freq_mhz=freq_mhz
        )
        us["lm_head" if node.kind == "lm_head" else "other"] += cycles / hz * 1e6
    attention = compile_model(model, quant, tokens=phase.tokens, context=phase.context)
    for node in attention.ir.of_type(Op):
        if node.kind not in ATTENTION:
            continue
        cost = attention.ir.costs[node.name]
        unit = "tensor" if node.kind in TENSOR_OPS else "vector"
        flops = cost.flops * phase.batch
        nbytes = sum(cost.dram_bytes.values()) * phase.batch
        us["attention"] += gpu.roofline_cycles(preset, flops, nbytes, unit=unit,
                                               freq_mhz=freq_mhz) / hz * 1e6  # fmt: skip
    return ModelLatency(
        model=model.name, quant=str(quant), preset=preset, label=mach.tc.label,
        phase=phase, precompute=precompute if lut else "none", freq_mhz=hz / 1e6, us=us,
        gemms=tuple(gemms), precomputes=dict(tables),
        macs=sum(m * n * k * c for (m, n, k), c in shapes.items()),
        actions=dict(actions), core=mach.tc.core.to_dict() if lut else {},
        baseline=BASELINES[kind], regs=regs,
    )  # fmt: skip


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


def table1(freq_mhz: float = 1410.0, mode: str = "fast") -> list[dict[str, Any]]:
    """Our latency of every row of :data:`TABLE1` in both :data:`TABLE1_PHASES`, in ms, with
    the share of each category."""
    rows = []
    for label, preset, model, dense, regs in TABLE1:
        row: dict[str, Any] = {"row": label, "preset": preset, "model": model, "regs": regs}
        for phase in TABLE1_PHASES:
            run = model_latency(model, preset, phase, precompute="fused", mode=mode,
                                freq_mhz=freq_mhz, regs=regs, dense=dense)  # fmt: skip
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
) -> list[dict[str, Any]]:
    """The linear layers (GEMMs, precompute excluded) of ``model`` in ``phase`` (default:
    decode at batch 1024) on each LUT preset at each register multiplier and shared-memory
    bandwidth multiplier: ms, ms when kernels may keep each CTA's tables in shared memory across
    an N loop (``ms_resident``: :class:`lutsim.sim.gpu_plan.Tiling` ``n_loop``), and per GEMM
    shape its time, limit and the bytes it moves through shared memory and L2, split into
    tables and weights. For the question of what stops LUT-8X from beating LUT-4X, and what
    would."""
    phase = phase or decode(1024, 1)
    model_cfg = load_model(model)
    quant = _quant(model_cfg, None)
    linear = compile_model(model_cfg, quant, tokens=phase.rows, context=phase.rows)
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
