"""Pareto fronts of sweep results, and their plots.

A point *dominates* another when it is at least as good in every objective and better in at
least one (better: lower for ``"min"``, higher for ``"max"``). The front is the points that no
point dominates; every point off the front is dominated by some point on it. Equal points do
not dominate each other, so duplicates of a front point are all on the front.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lutsim.isa._io import atomic_write_bytes

__all__ = ["GOALS", "dominates", "pareto_front", "plot_front"]

GOALS = ("min", "max")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _costs(points, objectives) -> tuple[list[int], np.ndarray]:
    """Indices of the points with a finite number for every objective, and their values as
    costs (every objective turned into one to minimize)."""
    for column, goal in objectives.items():
        if goal not in GOALS:
            raise ValueError(f"goal of {column!r} must be min or max, not {goal!r}")
    signs = np.array([1.0 if goal == "min" else -1.0 for goal in objectives.values()])
    kept, rows = [], []
    for i, point in enumerate(points):
        values = [_number(point.get(column)) for column in objectives]
        if None not in values:
            kept.append(i)
            rows.append(values)
    return kept, np.array(rows, dtype=float).reshape(len(rows), len(objectives)) * signs


def dominates(a: Mapping[str, Any], b: Mapping[str, Any], objectives: Mapping[str, str]) -> bool:
    """True when ``a`` dominates ``b`` under ``objectives`` (column -> ``"min"``/``"max"``)."""
    kept, costs = _costs([a, b], objectives)
    if kept != [0, 1]:
        return False
    return bool(np.all(costs[0] <= costs[1]) and np.any(costs[0] < costs[1]))


def pareto_front(points: Sequence[Mapping[str, Any]], objectives: Mapping[str, str]) -> list[int]:
    """Indices, ascending, of the points on the Pareto front of ``objectives`` (column ->
    ``"min"`` or ``"max"``). Points without a finite number in every objective column are
    neither on the front nor counted as dominated."""
    if not objectives:
        raise ValueError("a Pareto front needs at least one objective")
    kept, costs = _costs(points, objectives)
    front = []
    for j, cost in enumerate(costs):
        no_worse = np.all(costs <= cost, axis=1)
        better = np.any(costs < cost, axis=1)
        if not np.any(no_worse & better):
            front.append(kept[j])
    return front


def plot_front(
    rows: Sequence[Mapping[str, Any]],
    x: str,
    y: str,
    goals: tuple[str, str],
    path: str | Path,
    *,
    color: str | None = None,
    log: Sequence[str] = (),
    units: Mapping[str, str] | None = None,
    title: str = "",
) -> list[int]:
    """Scatter ``rows`` by columns ``x`` and ``y``, mark their Pareto front (``goals`` for x
    and y), and write a PNG to ``path`` atomically. ``color``: a column whose values color the
    points; ``log``: the axes (``"x"``, ``"y"``) on a log scale. Returns the front's indices."""
    from matplotlib.figure import Figure

    units = units or {}
    objectives = {x: goals[0]} if x == y else {x: goals[0], y: goals[1]}
    front = pareto_front(rows, objectives)
    kept, _ = _costs(rows, {x: "min", y: "min"})
    fig = Figure(figsize=(7, 5), dpi=110)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.93)
    ax = fig.subplots()
    groups: dict[str, list[int]] = {}
    for i in kept:
        groups.setdefault("" if color is None else str(rows[i].get(color)), []).append(i)
    for label, members in groups.items():
        ax.scatter([rows[i][x] for i in members], [rows[i][y] for i in members], s=18,
                   alpha=0.7, label=f"{color} = {label}" if color else "points")  # fmt: skip
    on = sorted(front, key=lambda i: (rows[i][x], rows[i][y]))
    ax.plot([rows[i][x] for i in on], [rows[i][y] for i in on], color="black", lw=1,
            marker="o", mfc="none", ms=9, label=f"Pareto front ({len(front)})")  # fmt: skip
    for axis, column in (("x", x), ("y", y)):
        unit = units.get(column)
        getattr(ax, f"set_{axis}label")(f"{column} ({unit})" if unit else column)
        if axis in log:
            getattr(ax, f"set_{axis}scale")("log")
    goal_words = {"min": "lower is better", "max": "higher is better"}
    ax.set_title(
        title or f"{y} ({goal_words[goals[1]]}) vs {x} ({goal_words[goals[0]]})", fontsize=10
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return front
