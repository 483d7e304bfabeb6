"""Sweep specs: a YAML file of design points, validated whole before anything runs.

The spec
--------
A YAML mapping (``examples/sweep.yaml`` is a commented example)::

    name: lut-arrays            # optional label (progress bar, metadata); default "sweep"
    seed: 0                     # optional, default 0: each point's seed derives from it
    metrics: [core, sim]        # required: the evaluators to run (reports.evaluators)
    base:                       # optional: parameters every point shares
      act_format: fp16
      gemm_m: 2048
    grid:                       # optional: the cartesian product of these lists
      preset: [A100-LUT-1X, A100-LUT-4X]
      regs: [1, 2, 4, 8]
    points:                     # optional: more points, each over base
      - {preset: A100-FP16, regs: 1}
    exclude:                    # optional: drop the grid points that match (a list: any of)
      - {preset: A100-LUT-1X, regs: [4, 8]}
    plots:                      # optional Pareto plots (below)
      - {x: sim.compute_roof_tops, y: sim.achieved_tops, goal: {x: min}, color: preset}

**Parameters** are every key of :class:`lutsim.isa.config.CoreConfig` (``m``, ``n``, ``k``,
``weight_bits``, ``ternary``, ``act_format``, ``table_format``, ``acc_format``,
``out_format``, ``symmetrize``, ``table_regs``, ``weight_regs``, ``acc_regs``,
``bus_words``) and those the chosen evaluators add (:mod:`lutsim.reports.sweep.evaluators`):

============ ============ =================================================================
parameter    default      meaning
============ ============ =================================================================
preset       A100-LUT-1X  ``sim``: GPU preset of :mod:`lutsim.sim.presets` (A100-LUT-4X, H100-FP8)
regs         1            ``sim``: register file multiplier 1, 2, 4 or 8
gemm_m       (required)   ``sim``: tokens M of the mpGEMM ``O[M,N] = A[M,K] W[N,K]^T``
gemm_n       (required)   ``sim``: output columns N
gemm_k       (required)   ``sim``: reduction K
mode         fast         ``sim``: fast or detailed
precompute   fused        ``sim``: table precompute fused, separate or none
freq_mhz     null         ``sim``: clock in MHz; null is the preset's
design       core         ``synth``: a design of :data:`lutsim.reports.flow.synth.DESIGNS` (lut-array, ...)
liberty      null         ``synth``: liberty file; null is reports.synth's (OSU 0.18 µm)
clock_ns     null         ``synth``: clock period constraint in ns
============ ============ =================================================================

A point is ``base``, then its grid values or its ``points`` entry. Core keys it leaves out take
the :class:`~lutsim.isa.config.CoreConfig` defaults and derivations (so the LUT core computes on int8
activations unless ``act_format`` says otherwise), evaluator parameters their defaults. A
parameter of an evaluator that is not in ``metrics`` is an error. Points that resolve to the
same parameters are one point. ``exclude`` rules match the values as written, with defaults
filled in (not derived formats), so they can drop combinations a core would refuse.

**Validation.** Every point is checked when the spec is read, before anything runs: the core
config, and each evaluator's own check (``sim``: the preset resolves with this core, the GEMM
shape is positive). Errors are one line, ``<file>: line <n>: <message>``; a point's error names
it: ``sweep.yaml: line 9: grid point m=9, regs=1: m must be 1 to 8, not 9``.

**Plots.** ``x`` and ``y`` name columns: a numeric parameter or ``<metric>.<name>``
(``sim.latency_us``). Declared metrics know whether lower or higher is better; ``goal: {x:
min|max, y: min|max}`` says it for the others. ``color`` names a parameter; ``log: [x, y]`` sets log
axes. Without a ``plots`` key the sweep draws those of :data:`DEFAULT_PLOTS` that its metrics
provide; ``plots: []`` draws none.

Keys
----
A point's key is the sha256 of the canonical JSON (:func:`canonical_json`) of its identity:
its resolved parameters (core keys with derived formats filled in, then the evaluators'), and
per evaluator its version, the versions of the tools it names, a digest of the source packages
it names and digests of its input files (a liberty). The point's seed enters only when an
evaluator uses it. The commit does not: a re-run on a new commit reuses every point whose
code, tools and inputs are unchanged, and recomputes those whose code changed.

An evaluator sees only the core config, its own parameters and the seed, so the points that
agree on those share one evaluation (:meth:`Spec.scoped`): a sweep of 100 GPU configurations
of one core synthesizes it once.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lutsim.isa._io import not_regular
from lutsim.isa.config import _show, _strict_yaml_loader, config_from_dict

from ..provenance import tool_versions
from . import evaluators
from .evaluators import CORE_PARAMS, REQUIRED, Evaluator, Param, Point

__all__ = [
    "DEFAULT_PLOTS",
    "MAX_POINTS",
    "PlotSpec",
    "Spec",
    "canonical_json",
    "describe",
    "evaluator_identity",
    "load_spec",
    "parse_spec",
    "row",
]

SPEC_KEYS = ("name", "seed", "metrics", "base", "grid", "points", "exclude", "plots")
PLOT_KEYS = ("x", "y", "goal", "color", "log")
MAX_POINTS = 100_000
KEY_FORMAT = 1  # bump when the layout of the identity changes
DEFAULT_PLOTS = (  # (x, goal, y, goal), drawn when the spec's metrics provide both columns
    ("synth.area_um2", "min", "sim.achieved_tops", "max"),
    ("synth.energy_pj_per_mac", "min", "sim.achieved_tops", "max"),
    ("sim.compute_roof_tops", "min", "sim.achieved_tops", "max"),
)
_KIND_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class PlotSpec:
    """A Pareto plot of columns ``x`` and ``y`` with their goals (``"min"``/``"max"``)."""

    x: str
    y: str
    goals: tuple[str, str]
    color: str | None = None
    log: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        names = (re.sub(r"[^A-Za-z0-9_]+", "_", column) for column in (self.x, self.y))
        return "pareto-" + "-".join(names) + ".png"


@dataclass(frozen=True)
class Spec:
    """A validated sweep: its points, each with its key and identity, its evaluators, plots."""

    source: str  # the spec file's name, as messages show it
    name: str
    seed: int
    metrics: tuple[Evaluator, ...]
    points: tuple[Point, ...]
    identities: Mapping[str, dict[str, Any]]  # key -> what the key hashes
    plots: tuple[PlotSpec, ...]
    data: Any  # the spec as read
    duplicates: int = 0  # points as written that resolved to an earlier point

    @property
    def columns(self) -> tuple[str, ...]:
        """The parameter columns: core keys, then each evaluator's parameters."""
        return (*CORE_PARAMS, *(name for ev in self.metrics for name in ev.params))

    @functools.cached_property
    def varying(self) -> tuple[str, ...]:
        """The parameter columns whose values differ between points."""
        rows = [row(point) for point in self.points]
        return tuple(c for c in self.columns if len({repr(r[c]) for r in rows}) > 1)

    def scoped(self, point: Point, ev: Evaluator) -> tuple[str, Point]:
        """What ``ev`` is run on for ``point``: the key of that evaluation, and the point with
        only ``ev``'s own parameters (an evaluator reads the core config, its parameters and
        the seed, nothing else). Points that agree on these share one evaluation."""
        scope = {
            "metric": ev.name,
            **self.identities[point.key]["metrics"][ev.name],
            "config": point.config.to_dict(),
            "params": {name: point.params[name] for name in ev.params},
            "seed": point.seed if ev.uses_seed else None,
        }
        own = {name: point.params[name] for name in ev.params}
        return sha256(canonical_json(scope)), dataclasses.replace(point, params=own)

    def label(self, point: Point) -> str:
        """The point in a few words: the parameters that vary (or its key)."""
        values = row(point)
        return describe({c: values[c] for c in self.varying}) or f"key {point.key[:12]}"


def row(point: Point) -> dict[str, Any]:
    """A point's parameters: the resolved core keys, then the evaluators' parameters."""
    return {**point.config.to_dict(), **point.params}


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` that keys hash: sorted keys, no spaces, ASCII."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)  # fmt: skip


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def describe(values: Mapping[str, Any]) -> str:
    """``k=v, ...`` for messages (true, false and null spelled as in YAML)."""

    def text(value: Any) -> str:
        return json.dumps(value) if isinstance(value, bool) or value is None else str(value)

    return ", ".join(f"{key}={text(value)}" for key, value in values.items())


# ---- YAML with lines ----------------------------------------------------------------------
class _Map(dict):
    """A mapping read from YAML, with the line of the mapping and of each key."""

    line: int = 0
    lines: Mapping[Any, int] = {}


class _Seq(list):
    """A list read from YAML, with the line of the list and of each item."""

    line: int = 0
    lines: tuple[int, ...] = ()


def _located_loader():
    """The strict YAML loader of :mod:`lutsim.isa.config`, keeping the line of every key and item."""

    class Loader(_strict_yaml_loader()):
        pass

    def mapping(loader, node):
        data = _Map()
        data.line = node.start_mark.line + 1
        yield data
        data.update(loader.construct_mapping(node))
        data.lines = {
            loader.construct_object(key): key.start_mark.line + 1
            for key, _ in node.value
            if isinstance(key, yaml.ScalarNode)
        }

    def sequence(loader, node):
        data = _Seq()
        data.line = node.start_mark.line + 1
        yield data
        data.extend(loader.construct_sequence(node))
        data.lines = tuple(item.start_mark.line + 1 for item in node.value)

    Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", sequence)
    return Loader


def _line_of(container: Any, key: Any = None) -> int:
    """The line of ``container[key]`` (of ``container`` without a key), 0 when unknown."""
    if isinstance(container, _Map) and key is not None:
        return container.lines.get(key, container.line)
    if isinstance(container, _Seq) and isinstance(key, int) and key < len(container.lines):
        return container.lines[key]
    return getattr(container, "line", 0)


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate a sweep spec file (see the module docstring)."""
    path = Path(path)
    if not_regular(path):
        raise ValueError(f"cannot read sweep spec {str(path)[:200]!r}: not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read sweep spec {str(path)!r}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        reason = f"not UTF-8 ({err.reason} at byte {err.start})"
        raise ValueError(f"cannot read sweep spec {str(path)!r}: {reason}") from None
    label = path.name if path.name.isprintable() else _show(path.name)
    try:
        data = yaml.load(text, Loader=_located_loader())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        reason = _one_line(err.problem or err.context or "syntax error")
        raise ValueError(f"{label}: invalid YAML: {reason}{at}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{label}: invalid YAML: {_one_line(err)}") from None
    except RecursionError:
        raise ValueError(f"{label}: invalid YAML: nesting is too deep") from None
    return parse_spec(data, label)


# ---- validation ---------------------------------------------------------------------------
def _suggest(name: Any, known) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"


class _Reader:
    """One spec being validated; every error reads ``<source>: line <n>: <message>``."""

    def __init__(self, data: Any, source: str):
        self.data, self.source = data, source
        self.params: dict[str, Param] = dict(CORE_PARAMS)  # of the core and chosen metrics
        self.owners = {p: ev.name for ev in evaluators.EVALUATORS.values() for p in ev.params}

    def error(self, message: str, container: Any = None, key: Any = None) -> ValueError:
        line = _line_of(container, key) if container is not None else 0
        return ValueError(f"{self.source}: line {line}: {message}" if line else
                          f"{self.source}: {message}")  # fmt: skip

    def get(self, key: str, kind: type, what: str) -> Any:
        value = self.data[key]
        if not isinstance(value, kind):
            word = "a mapping" if kind is dict else "a list"
            raise self.error(f"{what} must be {word}, not {_show(value)}", self.data, key)
        return value

    def param(self, container: Any, key: Any) -> str:
        if isinstance(key, str) and key in self.params:
            return key
        if key in self.owners:
            message = f"parameter {key!r} needs metric {self.owners[key]!r} in metrics"
        else:
            close = difflib.get_close_matches(str(key), [*self.params, *self.owners], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else _suggest(key, self.params)
            message = f"unknown parameter {_show(key)}{hint}"
        raise self.error(message, container, key)

    def value(self, container: Any, key: Any, name: str, value: Any) -> Any:
        """``value`` as parameter ``name`` (an integer is taken as a number where one fits)."""
        kind, default = self.params[name].kind, self.params[name].default
        if value is None and default is None:
            return None
        if kind is float and type(value) is int and abs(value) < 2**1023:
            return float(value)
        if type(value) is not kind or (kind is float and not math.isfinite(value)):
            words = _KIND_WORDS[kind] + (" or null" if default is None else "")
            raise self.error(
                f"parameter {name!r} must be {words}, not {_show(value)}", container, key
            )
        return value

    def scalars(self, container: Any, key: Any, what: str) -> dict[str, Any]:
        mapping = container[key]
        if not isinstance(mapping, dict):
            raise self.error(f"{what} must be a mapping, not {_show(mapping)}", container, key)
        return {self.param(mapping, k): self.value(mapping, k, k, v) for k, v in mapping.items()}


def parse_spec(data: Any, source: str = "spec") -> Spec:
    """Validate a sweep spec parsed from YAML (``source`` names it in messages)."""
    r = _Reader(data, source)
    if data is None:
        raise r.error("the sweep spec is empty")
    if not isinstance(data, dict):
        raise r.error(f"a sweep spec must be a mapping of keys, not {_show(data)}")
    for key in data:
        if key not in SPEC_KEYS:
            raise r.error(f"unknown spec key {_show(key)}{_suggest(key, SPEC_KEYS)}", data, key)
    label = data.get("name", "sweep")
    if not isinstance(label, str):
        raise r.error(f"name must be a string, not {_show(label)}", data, "name")
    seed = data.get("seed", 0)
    if type(seed) is not int:
        raise r.error(f"seed must be an integer, not {_show(seed)}", data, "seed")

    metrics = _metrics(r)
    for ev in metrics:
        r.params.update(ev.params)
    written = _written(r)
    for ev in metrics:
        for name, p in ev.params.items():
            if p.default is REQUIRED and not any(name in point for point, _ in written):
                raise r.error(
                    f"metric {ev.name!r} needs parameter {name!r} (in base, grid or points)"
                )

    identities = {ev.name: evaluator_identity(ev) for ev in metrics}
    points: dict[str, Point] = {}
    keys: dict[str, dict[str, Any]] = {}
    for values, where in written:
        try:
            point, identity = _resolve(values, metrics, seed, identities)
        except ValueError as err:
            raise ValueError(f"{source}: {where}: {_one_line(err)}") from None
        points.setdefault(point.key, point)
        keys.setdefault(point.key, identity)
    return Spec(source, label, seed, metrics, tuple(points.values()), keys, _plots(r, metrics),
                data, len(written) - len(points))  # fmt: skip


def _metrics(r: _Reader) -> tuple[Evaluator, ...]:
    if "metrics" not in r.data:
        known = ", ".join(sorted(evaluators.EVALUATORS))
        raise r.error(f"metrics are missing: list the evaluators to run ({known})")
    names = r.get("metrics", list, "metrics")
    if not names:
        raise r.error("metrics is an empty list", r.data, "metrics")
    chosen: list[Evaluator] = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise r.error(f"a metric must be a name, not {_show(name)}", names, i)
        try:
            ev = evaluators.evaluator(name)
            if ev.setup is not None:
                ev.setup()
        except ValueError as err:
            raise r.error(str(err), names, i) from None
        if ev in chosen:
            raise r.error(f"metric {name!r} is listed twice", names, i)
        chosen.append(ev)
    return tuple(chosen)


def _written(r: _Reader) -> list[tuple[dict[str, Any], str]]:
    """Every point as written (base, then grid values or a points entry), with where it is,
    after the exclusions."""
    data = r.data
    base = r.scalars(data, "base", "base") if "base" in data else {}
    grid: dict[str, list] = {}
    if "grid" in data:
        mapping = r.get("grid", dict, "grid")
        if not mapping:
            raise r.error("grid is an empty mapping", data, "grid")
        for key, items in mapping.items():
            r.param(mapping, key)
            if key in base:
                raise r.error(f"{key!r} is in both base and grid", mapping, key)
            if not isinstance(items, list):
                raise r.error(
                    f"grid {key!r} must be a list of values, not {_show(items)}", mapping, key
                )
            if not items:
                raise r.error(f"grid {key!r} is an empty list", mapping, key)
            grid[key] = [r.value(items, i, key, item) for i, item in enumerate(items)]
        size = math.prod(len(values) for values in grid.values())
        if size > MAX_POINTS:
            raise r.error(f"the grid has {size} points, more than {MAX_POINTS}", data, "grid")
    extra = []
    if "points" in data:
        items = r.get("points", list, "points")
        for i in range(len(items)):
            extra.append((r.scalars(items, i, f"point {i + 1}"), _line_of(items, i)))
    if not grid and not extra:
        raise r.error("no points: give a grid or a list of points")
    rules = []
    if "exclude" in data:
        items = r.get("exclude", list, "exclude")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not item:
                raise r.error(
                    f"exclude {i + 1} must be a non-empty mapping, not {_show(item)}", items, i
                )
            rule = {}
            for key, options in item.items():
                options = options if isinstance(options, list) else [options]
                rule[r.param(item, key)] = [r.value(item, key, key, o) for o in options]
            rules.append(rule)

    defaults = {n: p.default for n, p in r.params.items() if p.default not in (REQUIRED, "")}
    written = []
    at = f"line {_line_of(data, 'grid')}: grid point"
    for combo in itertools.product(*grid.values()) if grid else ():
        values = dict(zip(grid, combo, strict=True))
        point = {**base, **values}
        full = {**defaults, **point}
        if not any(
            all(k in full and full[k] in opts for k, opts in rule.items()) for rule in rules
        ):
            written.append((point, f"{at} {describe(values)}"))
    for i, (values, line) in enumerate(extra):
        written.append(({**base, **values}, f"line {line}: point {i + 1}"))
    if not written:
        raise r.error("every grid point is excluded and there are no other points")
    return written


def evaluator_identity(ev: Evaluator) -> dict[str, Any]:
    """What an evaluator contributes to every key: version, tool versions, source digest."""
    tools = tool_versions()
    return {
        "version": ev.version,
        "tools": {name: tools.get(name, "not installed") for name in ev.tools},
        "sources": evaluators.source_digest(ev.sources) if ev.sources else None,
    }


def _resolve(values, metrics, seed, identities) -> tuple[Point, dict[str, Any]]:
    """One validated point and the identity its key hashes."""
    config = config_from_dict({k: v for k, v in values.items() if k in CORE_PARAMS}, "the point")
    params = {}
    for ev in metrics:
        for name, p in ev.params.items():
            if name not in values and p.default is REQUIRED:
                raise ValueError(f"metric {ev.name!r} needs parameter {name!r}")
            params[name] = values.get(name, p.default)
    values = {**config.to_dict(), **params}
    point_seed = int(sha256(f"{seed}\0{canonical_json(values)}")[:8], 16)
    point = Point(config, params, point_seed, key="")
    for ev in metrics:
        if ev.check is not None:
            ev.check(point)
    identity = {
        "format": KEY_FORMAT,
        "params": values,
        "metrics": {
            ev.name: {**identities[ev.name], "inputs": ev.inputs(point) if ev.inputs else {}}
            for ev in metrics
        },
        "seed": point_seed if any(ev.uses_seed for ev in metrics) else None,
    }
    return dataclasses.replace(point, key=sha256(canonical_json(identity))), identity


def _plots(r: _Reader, metrics: tuple[Evaluator, ...]) -> tuple[PlotSpec, ...]:
    by_name = {ev.name: ev for ev in metrics}

    def known(column: Any) -> bool:
        if not isinstance(column, str):
            return False
        if column in r.params:
            return r.params[column].kind in (int, float)
        prefix, _, metric = column.partition(".")
        ev = by_name.get(prefix)
        return ev is not None and bool(metric) and (ev.open_metrics or metric in ev.metrics)

    def goal_of(column: str) -> str | None:
        prefix, _, metric = column.partition(".")
        declared = by_name[prefix].metrics.get(metric) if prefix in by_name else None
        return declared.goal if declared else None

    if "plots" not in r.data:
        return tuple(
            PlotSpec(x, y, (gx, gy))
            for x, gx, y, gy in DEFAULT_PLOTS
            if known(x) and known(y)
        )  # fmt: skip
    plots = []
    items = r.get("plots", list, "plots")
    for i, item in enumerate(items):
        what = f"plot {i + 1}"
        if not isinstance(item, dict):
            raise r.error(f"{what} must be a mapping, not {_show(item)}", items, i)
        for key in item:
            if key not in PLOT_KEYS:
                raise r.error(
                    f"{what}: unknown key {_show(key)} (known: {', '.join(PLOT_KEYS)})", item, key
                )
        goal = item.get("goal", {})
        if not isinstance(goal, dict) or not set(goal) <= {"x", "y"}:
            raise r.error(
                f"{what}: goal must map x and/or y to min or max, not {_show(goal)}", item, "goal"
            )
        for axis in ("x", "y"):
            if axis not in item:
                raise r.error(f"{what} needs {axis}", items, i)
            if not known(item[axis]):
                raise r.error(
                    f"{what}: {axis} must be a numeric parameter or a column <metric>.<name> of "
                    f"the metrics {', '.join(by_name)}, not {_show(item[axis])}", item, axis,
                )  # fmt: skip
        goals = []
        for axis in ("x", "y"):
            column = item[axis]
            chosen = goal.get(axis, goal_of(column))
            if chosen not in ("min", "max"):
                raise r.error(
                    f"{what}: say whether {column!r} is better low or high: "
                    f"goal: {{{axis}: min}} or {{{axis}: max}}", item, axis,
                )  # fmt: skip
            goals.append(chosen)
        color = item.get("color")
        if color is not None and (not isinstance(color, str) or color not in r.params):
            raise r.error(f"{what}: color must name a parameter, not {_show(color)}", item, "color")
        log = item.get("log", [])
        if not isinstance(log, list) or not set(log) <= {"x", "y"}:
            raise r.error(
                f"{what}: log must be a list of x and/or y, not {_show(log)}", item, "log"
            )
        plots.append(PlotSpec(item["x"], item["y"], (goals[0], goals[1]), color, tuple(log)))
    return tuple(plots)
