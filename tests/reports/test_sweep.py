"""Sweeps: the spec and its exact errors, keys, resuming, failures, crashes and Dask.

The crash tests run ``lutsim sweep`` as a user does, in a subprocess, with the evaluator
``fake`` defined here (imported through ``LUTSIM_SWEEP_EVALUATORS``). It writes ``start`` and
``done`` lines with its key and process id to the file named by its ``log`` parameter, so the
tests count evaluations across processes. A real Dask cluster (scheduler and two worker
processes on 127.0.0.1) serves the Dask tests.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lutsim.reports.sweep import evaluators, pareto
from lutsim.reports.sweep import spec as sweep_spec
from lutsim.reports.sweep.engine import Task, evaluate, load_spec, parse_spec, run_sweep
from lutsim.reports.sweep.evaluators import EVALUATORS, Evaluator, Metric, Param, register
from lutsim.reports.sweep.spec import canonical_json

ROOT = Path(__file__).resolve().parents[2]
LUTSIM = Path(sys.executable).parent / "lutsim"
SIM_BASE = {"act_format": "fp16", "gemm_m": 16, "gemm_n": 1024, "gemm_k": 1024}


# ---- the fake evaluator --------------------------------------------------------------------
def _log(point, event: str) -> None:
    if point.params["log"]:
        with open(point.params["log"], "a") as handle:
            handle.write(f"{event} {point.key} {os.getpid()}\n")


def _fake_run(point):
    _log(point, "start")
    if point.params["crash"] and len(_events(point.params["log"], "start", point.key)) == 1:
        os._exit(3)  # the worker process dies on the point's first attempt
    time.sleep(point.params["delay_s"])
    if point.params["fail"]:
        raise ValueError("asked to fail")
    if point.params["boom"]:
        raise KeyError("boom")
    _log(point, "done")
    return {"value": point.seed % 1000, "lanes": point.config.m * point.config.n}


FAKE = register(Evaluator(
    name="fake", version=1, run=_fake_run, uses_seed=True,
    params={
        "delay_s": Param(float, 0.0, "seconds to sleep"),
        "fail": Param(bool, False, "raise ValueError"),
        "boom": Param(bool, False, "raise KeyError"),
        "crash": Param(bool, False, "kill the worker process on the first attempt"),
        "log": Param(str, None, "file of start/done lines"),
    },
    metrics={"value": Metric("", "max"), "lanes": Metric("lanes", "min")},
))  # fmt: skip


def _events(log, event: str, key: str | None = None) -> list[tuple[str, int]]:
    """(key, pid) of every ``event`` line of the log."""
    if not log or not Path(log).exists():
        return []
    found = []
    for line in Path(log).read_text().splitlines():
        kind, k, pid = line.split()
        if kind == event and key in (None, k):
            found.append((k, int(pid)))
    return found


def _log_lines(log: Path) -> list[str]:
    return Path(log).read_text().splitlines() if Path(log).exists() else []


def spec_file(tmp_path: Path, data: dict | str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def fake_spec(tmp_path: Path, points: int, **base) -> dict:
    """A spec of fake points (m x n: 1..8 x 16, 32, ...; ``points`` up to 8, or a multiple of
    8) that log to tmp_path/log."""
    grid = {
        "m": list(range(1, min(points, 8) + 1)),
        "n": [16 * (i + 1) for i in range(-(-points // 8))],
    }
    return {"metrics": ["fake"], "base": {"log": str(tmp_path / "log"), **base}, "grid": grid}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def check_points_dir(out: Path, keys: set[str]) -> dict[str, dict]:
    """Every file of out/points is a whole point of ``keys``, named by its key, which is the hash
    of its identity; returns them by key."""
    records = {}
    for path in (out / "points").iterdir():
        if path.name.endswith(".tmp"):
            continue
        record = json.loads(path.read_text())
        assert path.name == f"{record['key']}.json"
        assert (
            record["key"] == hashlib.sha256(canonical_json(record["identity"]).encode()).hexdigest()
        )
        assert record["key"] in keys and record["status"] == "ok"
        records[record["key"]] = record
    return records


def lutsim(*args: str, cwd: Path, timeout: float = 120, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUTSIM_SWEEP_EVALUATORS": __name__}
    return subprocess.run([str(LUTSIM), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, **popen)  # fmt: skip


# ---- spec errors: exact text ---------------------------------------------------------------
SIM_OK = "metrics: [core, sim]\nbase: {gemm_m: 16, gemm_n: 1024, gemm_k: 1024}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metrics: [core\n", "s.yaml: invalid YAML: expected ',' or ']', but got '<stream end>' (at line 2, column 1)"),
        ("metrics: [core]\ngrid: {m: [1]}\ngrid: {n: [2]}\n", "s.yaml: invalid YAML: duplicate key 'grid' (at line 3, column 1)"),
        ("", "s.yaml: the sweep spec is empty"),
        ("- core\n", "s.yaml: a sweep spec must be a mapping of keys, not ['core']"),
        ("metrics: [core]\ngird: {m: [1]}\n", "s.yaml: line 2: unknown spec key 'gird' (did you mean 'grid'?)"),
        ("grid: {m: [1]}\n", "s.yaml: metrics are missing: list the evaluators to run (core, fake, sim, synth)"),
        ("metrics: []\ngrid: {m: [1]}\n", "s.yaml: line 1: metrics is an empty list"),
        ("metrics: core\ngrid: {m: [1]}\n", "s.yaml: line 1: metrics must be a list, not 'core'"),
        ("metrics:\n  - core\n  - energy\ngrid: {m: [1]}\n", "s.yaml: line 3: unknown metric 'energy' (known: core, fake, sim, synth)"),
        ("metrics: [core, core]\ngrid: {m: [1]}\n", "s.yaml: line 1: metric 'core' is listed twice"),
        ("metrics: [core]\ngrid:\n  m: [1]\n  regz: [1]\n", "s.yaml: line 4: unknown parameter 'regz' (did you mean 'regs'?)"),
        ("metrics: [core]\ngrid:\n  m: [1]\n  regs: [1]\n", "s.yaml: line 4: parameter 'regs' needs metric 'sim' in metrics"),
        ("metrics: [core]\ngrid:\n  m: [1]\n  frobs: [1]\n", "s.yaml: line 4: unknown parameter 'frobs' (known: m, n, k, weight_bits, ternary, act_format, table_format, acc_format, out_format, symmetrize, table_regs, weight_regs, acc_regs, bus_words)"),
        (SIM_OK + "grid:\n  regs:\n    - 1\n    - two\n", "s.yaml: line 6: parameter 'regs' must be an integer, not 'two'"),
        ("metrics: [core]\ngrid: {m: [true]}\n", "s.yaml: line 2: parameter 'm' must be an integer, not True"),
        ("metrics: [core]\ngrid: {act_format: [8]}\n", "s.yaml: line 2: parameter 'act_format' must be a string, not 8"),
        (SIM_OK + "grid: {freq_mhz: [fast]}\n", "s.yaml: line 3: parameter 'freq_mhz' must be a number or null, not 'fast'"),
        (SIM_OK + "grid: {regs: 2}\n", "s.yaml: line 3: grid 'regs' must be a list of values, not 2"),
        (SIM_OK + "grid:\n  regs: []\n", "s.yaml: line 4: grid 'regs' is an empty list"),
        ("metrics: [core]\ngrid: {}\n", "s.yaml: line 2: grid is an empty mapping"),
        ("metrics: [core]\ngrid: [m, 1]\n", "s.yaml: line 2: grid must be a mapping, not ['m', 1]"),
        ("metrics: [core]\nbase: {m: 2}\n", "s.yaml: no points: give a grid or a list of points"),
        ("metrics: [core]\nbase: {m: 2}\ngrid:\n  m: [1, 2]\n", "s.yaml: line 4: 'm' is in both base and grid"),
        ("metrics: [core]\npoints:\n  - {m: 2}\n  - 3\n", "s.yaml: line 4: point 2 must be a mapping, not 3"),
        ("metrics: [core]\ngrid: {m: [1, 9]}\n", "s.yaml: line 2: grid point m=9: m must be 1 to 8, not 9"),
        ("metrics: [core]\npoints:\n  - {m: 2}\n  - {ternary: true, weight_bits: 4}\n", "s.yaml: line 4: point 2: ternary weights need weight_bits = 2, not 4"),
        ("metrics: [core]\ngrid: {weight_bits: [2, 4], ternary: [true]}\nexclude:\n  - {weight_bits: [2, 4]}\n", "s.yaml: every grid point is excluded and there are no other points"),
        ("metrics: [core, sim]\ngrid: {regs: [1, 2]}\n", "s.yaml: metric 'sim' needs parameter 'gemm_m' (in base, grid or points)"),
        ("metrics: [core, sim]\nbase: {gemm_n: 8, gemm_k: 8}\npoints:\n  - {gemm_m: 8}\n  - {regs: 2}\n", "s.yaml: line 5: point 2: metric 'sim' needs parameter 'gemm_m'"),
        (SIM_OK + "grid: {regs: [1, 3]}\n", "s.yaml: line 3: grid point regs=3: register multiplier must be one of 1, 2, 4, 8, not 3"),
        (SIM_OK + "grid: {mode: [fast, slow]}\n", "s.yaml: line 3: grid point mode=slow: mode must be one of fast, detailed, not 'slow'"),
        (SIM_OK + "grid: {regs: [1]}\nplots:\n  - {x: sim.latency_us, y: regs}\n", "s.yaml: line 5: plot 1: say whether 'regs' is better low or high: goal: {y: min} or {y: max}"),
        ("metrics: [core]\ngrid: {m: [1]}\nplots:\n  - {x: core.tables, y: m}\n", "s.yaml: line 4: plot 1: x must be a numeric parameter or a column <metric>.<name> of the metrics core, not 'core.tables'"),
        ("metrics: [core]\ngrid: {m: [1]}\nplots:\n  - {x: m, y: act_format}\n", "s.yaml: line 4: plot 1: y must be a numeric parameter or a column <metric>.<name> of the metrics core, not 'act_format'"),
        ("metrics: [core]\ngrid: {m: [1]}\nplots:\n  - {x: core.table_entries, y: m, goal: {x: low}}\n", "s.yaml: line 4: plot 1: say whether 'core.table_entries' is better low or high: goal: {x: min} or {x: max}"),
        ("metrics: [core]\ngrid: {m: [1]}\nplots:\n  - {x: m, y: n, goal: {x: min, y: max}, colour: k}\n", "s.yaml: line 4: plot 1: unknown key 'colour' (known: x, y, goal, color, log)"),
        ("metrics: [core]\nseed: one\ngrid: {m: [1]}\n", "s.yaml: line 2: seed must be an integer, not 'one'"),
    ],
)  # fmt: skip
def test_spec_error(tmp_path, text, message):
    with pytest.raises(ValueError) as info:
        load_spec(spec_file(tmp_path, text))
    assert str(info.value) == message


def test_spec_unknown_preset_names_the_point(tmp_path):
    path = spec_file(tmp_path, SIM_OK + "points:\n  - {preset: B200-LUT-1X}\n")
    with pytest.raises(
        ValueError,
        match=r"^s\.yaml: line 4: point 1: unknown GPU preset 'B200-LUT-1X'; known: A100-LUT-1X, ",
    ):
        load_spec(path)  # fmt: skip


def test_spec_unreadable(tmp_path):
    with pytest.raises(
        ValueError, match=r"^cannot read sweep spec '.*/none\.yaml': No such file or directory$"
    ):
        load_spec(tmp_path / "none.yaml")  # fmt: skip


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("{design: fpu}", "s.yaml: line 4: point 1: unknown synthesis design 'fpu' (known: core, "),
        ("{liberty: /nonexistent.lib}", "s.yaml: line 4: point 1: liberty file '/nonexistent.lib' not found"),
        ("{clock_ns: -1}", "s.yaml: line 4: point 1: clock_ns must be a positive number, not -1.0"),
    ],
)  # fmt: skip
def test_synth_point_errors(tmp_path, points, message):
    path = spec_file(tmp_path, f"metrics: [core, synth]\nbase: {{m: 1}}\npoints:\n  - {points}\n")
    with pytest.raises(ValueError) as info:
        load_spec(path)
    assert str(info.value).startswith(message)


def test_synth_evaluator_calls_synthesize(monkeypatch):
    synth = pytest.importorskip("lutsim.reports.flow.synth")
    calls = []

    class Result:
        def to_dict(self):
            return {"area_um2": 12.5, "fmax_mhz": 300.0, "config": {"m": 1}, "tools": {},
                    "components": {"lookup units": {"area_um2": 5.0, "action": "lut.lookup"}},
                    "liberty": {"path": "x.lib", "sha256": "ab"}, "runtime": {"seconds": 1}}  # fmt: skip

    def synthesize(design, cfg, *, liberty=None, clock_ns=None):
        calls.append((design, cfg, liberty, clock_ns))
        return Result()

    monkeypatch.setattr(synth, "synthesize", synthesize)
    spec = parse_spec({"metrics": ["synth"], "points": [{"m": 1, "clock_ns": 5}]})
    (point,) = spec.points
    assert spec.identities[point.key]["metrics"]["synth"]["inputs"] == {
        "liberty": hashlib.sha256(Path(synth.DEFAULT_LIBERTY).read_bytes()).hexdigest()}  # fmt: skip
    record = evaluate(Task("synth", EVALUATORS["synth"].run, point))
    assert calls == [("core", point.config, None, 5.0)]
    assert record["metrics"] == {
        "area_um2": 12.5, "fmax_mhz": 300.0, "components.lookup units.area_um2": 5.0,
        "components.lookup units.action": "lut.lookup", "liberty.path": "x.lib",
        "liberty.sha256": "ab"}  # fmt: skip


@pytest.mark.slow
def test_synth_sweep_for_real(tmp_path):
    pytest.importorskip("lutsim.reports.flow.synth")
    spec = spec_file(tmp_path, {"metrics": ["core", "synth", "sim"],
                                "base": {**SIM_BASE, "act_format": "int8", "m": 1, "n": 4},
                                "grid": {"weight_bits": [1, 2]}})  # fmt: skip
    done = lutsim("sweep", str(spec), "--out", "out", "--workers", "2", cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "out" / "results.csv")
    assert all(float(r["synth.area_um2"]) > 0 and float(r["synth.fmax_mhz"]) > 0 for r in rows)
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert [lib["name"] for lib in meta["liberty"]] == ["osu018_stdcells"]
    assert {p["x"] for p in meta["plots"]} == {"synth.area_um2", "synth.energy_pj_per_mac",
                                               "sim.compute_roof_tops"}  # fmt: skip


def test_register_refuses_a_taken_name_and_core_keys():
    with pytest.raises(ValueError, match=r"^an evaluator named 'core' is already registered$"):
        register(dataclasses.replace(FAKE, name="core"))
    with pytest.raises(ValueError, match=r"^evaluator 'x': parameter 'm' is a core config key$"):
        register(Evaluator("x", 1, _fake_run, params={"m": Param(int, 1)}))
    with pytest.raises(ValueError, match=r"^evaluator 'x': parameter 'regs' belongs to 'sim'$"):
        register(Evaluator("x", 1, _fake_run, params={"regs": Param(int, 1)}))
    assert "x" not in EVALUATORS


# ---- the points ----------------------------------------------------------------------------
def test_points_grid_exclude_and_duplicates():
    spec = parse_spec({
        "metrics": ["core"],
        "base": {"act_format": "fp16"},
        "grid": {"weight_bits": [1, 2, 4], "m": [1, 2]},
        "exclude": [{"weight_bits": 4, "m": [2]}],
        "points": [{"weight_bits": 2, "m": 1, "table_format": "fp16"}, {"ternary": True}],
    })  # fmt: skip
    got = [(p.config.weight_bits, p.config.m, p.config.ternary) for p in spec.points]
    assert got == [(1, 1, False), (1, 2, False), (2, 1, False), (2, 2, False), (4, 1, False),
                   (2, 2, True)]  # fmt: skip
    assert spec.duplicates == 1  # fp16 tables are what fp16 activations derive anyway
    assert {p.config.table_format for p in spec.points} == {"fp16"}
    assert spec.label(spec.points[-1]) == "m=2, weight_bits=2, ternary=true"
    assert spec.varying == ("m", "weight_bits", "ternary")


def test_exclude_matches_defaults():
    spec = parse_spec({"metrics": ["core", "sim"], "base": SIM_BASE,
                       "grid": {"regs": [1, 2]}, "exclude": [{"preset": "A100-LUT-1X", "regs": 2}]})  # fmt: skip
    assert [p.params["regs"] for p in spec.points] == [1]


# ---- keys ----------------------------------------------------------------------------------
def key_of(**params) -> str:
    (point,) = parse_spec({"metrics": ["core", "sim"], "points": [{**SIM_BASE, **params}]}).points
    return point.key


def test_canonical_json_and_its_hash_are_fixed():
    text = canonical_json({"b": 1, "a": [1.5, "x", None, True], "c": {"é": 2}})
    assert text == '{"a":[1.5,"x",null,true],"b":1,"c":{"\\u00e9":2}}'
    assert sweep_spec.sha256(text) == (
        "b605b2c94559e0b5cbe15d58b43ee73de1cff265e6c4a5b9ac38816ec1e9d0e0"
    )


def test_key_follows_the_resolved_point():
    key = key_of()
    assert key == key_of(regs=1, mode="fast", table_format="fp16", acc_format="fp32")
    assert key == key_of(freq_mhz=None)
    assert key != key_of(regs=2)
    assert key_of(freq_mhz=1410) == key_of(freq_mhz=1410.0)
    assert len({key, key_of(weight_bits=4), key_of(preset="A100-LUT-4X"), key_of(gemm_m=32)}) == 4


def test_key_follows_versions_not_the_commit(monkeypatch):
    key = key_of()
    monkeypatch.setattr(evaluators, "source_digest", lambda paths: "another source")
    assert key_of() != key
    monkeypatch.undo()
    assert key_of() == key
    tools = dict(sweep_spec.tool_versions())
    monkeypatch.setattr(sweep_spec, "tool_versions", lambda: {**tools, "simpy": "5.0"})
    assert key_of() != key
    monkeypatch.undo()
    monkeypatch.setitem(EVALUATORS, "sim", dataclasses.replace(EVALUATORS["sim"], version=2))
    assert key_of() != key
    monkeypatch.undo()
    identity = parse_spec({"metrics": ["core", "sim"], "points": [SIM_BASE]}).identities[key]
    assert "commit" not in canonical_json(identity) and set(identity) == {
        "format", "params", "metrics", "seed"}  # fmt: skip
    assert identity["seed"] is None  # neither core nor sim uses it


def test_seed_enters_the_key_of_seeded_evaluators_only():
    def keys(seed, metric):
        return [p.key for p in parse_spec({"seed": seed, "metrics": [metric],
                                           "grid": {"m": [1, 2]}}).points]  # fmt: skip

    assert keys(0, "core") == keys(1, "core")
    assert set(keys(0, "fake")).isdisjoint(keys(1, "fake"))
    assert keys(7, "fake") == keys(7, "fake")


# ---- running -------------------------------------------------------------------------------
def test_sim_and_core_sweep(tmp_path):
    spec = parse_spec({"name": "t", "metrics": ["core", "sim"], "base": SIM_BASE,
                       "grid": {"preset": ["A100-LUT-1X", "A100-LUT-4X"], "weight_bits": [1, 2]},
                       "plots": [{"x": "sim.compute_roof_tops", "y": "sim.latency_us",
                                  "goal": {"x": "min"}, "color": "preset"}]})  # fmt: skip
    result = run_sweep(spec, tmp_path / "out", workers=1)
    assert result.summary() == "4 points: 4 computed, 0 cached, 0 failed"
    rows = read_csv(tmp_path / "out" / "results.csv")
    assert [r["key"] for r in rows] == [p.key for p in spec.points]
    assert {r["status"] for r in rows} == {"ok"}
    for row in rows:
        assert float(row["sim.latency_us"]) > 0 and float(row["sim.achieved_tops"]) > 0
        assert int(row["core.table_entries"]) == 8
        assert int(row["core.latency_cycles.lmma"]) == int(row["weight_bits"])
        assert row["table_format"] == "fp16" and row["gemm_m"] == "16" and row["freq_mhz"] == ""
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["seed"] == 0 and meta["liberty"] is None
    assert meta["counts"] == {"points": 4, "computed": 4, "cached": 0, "failed": 0,
                              "pending": 0, "duplicates_in_spec": 0}  # fmt: skip
    assert meta["provenance"]["commit"] and meta["provenance"]["tools"]["simpy"]
    assert meta["evaluators"]["sim"]["tools"]["numpy"] == meta["provenance"]["tools"]["numpy"]
    (plot,) = meta["plots"]
    png = tmp_path / "out" / plot["file"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result.plots == [plot["file"]]
    assert plot["front"] and set(plot["front"]) <= {p.key for p in spec.points}


def test_points_share_evaluations_of_their_scope(tmp_path):
    spec = parse_spec({"metrics": ["core", "sim"], "base": SIM_BASE, "grid": {"regs": [1, 2, 4]}})
    run_sweep(spec, tmp_path / "out", workers=2)
    records = check_points_dir(tmp_path / "out", {p.key for p in spec.points})
    core = [json.dumps(r["runs"]["core"]) for r in records.values()]
    sim = [json.dumps(r["runs"]["sim"]) for r in records.values()]
    assert len(set(core)) == 1 and len(set(sim)) == 3  # one core evaluation, three sims


def test_resume_runs_only_missing_points(tmp_path):
    spec = parse_spec(fake_spec(tmp_path, 6))
    out = tmp_path / "out"
    assert run_sweep(spec, out, workers=2).summary() == "6 points: 6 computed, 0 cached, 0 failed"
    assert len(_events(tmp_path / "log", "start")) == 6
    before = (out / "results.csv").read_text()
    gone = [spec.points[1].key, spec.points[4].key]
    for key in gone:
        (out / "points" / f"{key}.json").unlink()
    (out / "points" / ".stale.json.tmp").write_text("{")  # a write cut short by a crash
    result = run_sweep(spec, out, workers=2)
    assert result.summary() == "6 points: 2 computed, 4 cached, 0 failed"
    assert sorted(k for k, _ in _events(tmp_path / "log", "start")[6:]) == sorted(gone)
    assert not list((out / "points").glob(".*"))
    assert (out / "results.csv").read_text().replace("\n", "").count("ok") == before.count("ok")
    result = run_sweep(spec, out, workers=2)
    assert result.summary() == "6 points: 0 computed, 6 cached, 0 failed"
    assert len(_events(tmp_path / "log", "start")) == 8


def test_failed_points_are_recorded_and_retried(tmp_path):
    spec = parse_spec({"metrics": ["fake"], "base": {"log": str(tmp_path / "log")},
                       "points": [{"m": 1}, {"m": 2, "fail": True}, {"m": 3, "boom": True}]})  # fmt: skip
    out = tmp_path / "out"
    result = run_sweep(spec, out, workers=2)
    assert result.summary() == "3 points: 1 computed, 0 cached, 2 failed"
    assert [(f["point"], f["error"]) for f in result.failures] == [
        ("m=2, fail=true, boom=false", "fake: asked to fail"),
        ("m=3, fail=false, boom=true", "fake: KeyError: 'boom'"),
    ]
    rows = read_csv(out / "results.csv")
    assert [(r["status"], r["error"]) for r in rows] == [
        ("ok", ""), ("failed", "fake: asked to fail"), ("failed", "fake: KeyError: 'boom'")]  # fmt: skip
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "failed" and meta["counts"]["failed"] == 2
    assert len(list((out / "points").iterdir())) == 1
    assert len(list((out / "failed").iterdir())) == 2
    result = run_sweep(spec, out, workers=2)  # failures run again, finished points do not
    assert result.summary() == "3 points: 0 computed, 1 cached, 2 failed"
    assert len(_events(tmp_path / "log", "start")) == 5


def test_a_dying_pool_worker_is_replaced(tmp_path):
    spec = parse_spec({"metrics": ["fake"], "base": {"log": str(tmp_path / "log")},
                       "points": [{"m": 1}, {"m": 2, "crash": True}, {"m": 3}]})  # fmt: skip
    result = run_sweep(spec, tmp_path / "out", workers=2)
    assert result.summary() == "3 points: 3 computed, 0 cached, 0 failed"
    assert len(_events(tmp_path / "log", "start", spec.points[1].key)) == 2
    check_points_dir(tmp_path / "out", {p.key for p in spec.points})


def test_evaluate_never_raises_for_its_point():
    point = parse_spec({"metrics": ["fake"], "points": [{"boom": True}]}).points[0]
    record = evaluate(Task("fake", FAKE.run, point))
    assert (record["status"], record["error"], record["metrics"]) == (
        "failed", "fake: KeyError: 'boom'", {})  # fmt: skip


def test_one_sweep_per_directory(tmp_path):
    import fcntl

    spec = parse_spec(fake_spec(tmp_path, 2))
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(ValueError, match=r"^another sweep is writing to '.*/out'$"):
            run_sweep(spec, tmp_path / "out", workers=1)


def test_unreachable_scheduler(tmp_path):
    spec = parse_spec(fake_spec(tmp_path, 2))
    port = _free_port()
    with pytest.raises(ValueError) as info:
        run_sweep(spec, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}", connect_timeout=2)
    assert str(info.value) == (
        f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: Connection refused"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the command line ----------------------------------------------------------------------
def test_cli_sweep_and_resume(tmp_path):
    spec = spec_file(tmp_path, {"metrics": ["core", "sim"], "base": SIM_BASE,
                                "grid": {"regs": [1, 2]}})  # fmt: skip
    done = lutsim("sweep", str(spec), "--out", "out", "--workers", "2", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-1] == "2 points: 2 computed, 0 cached, 0 failed"
    assert "plot: out/pareto-sim_compute_roof_tops-sim_achieved_tops.png" in done.stdout
    again = lutsim("sweep", str(spec), "--out", "out", "--json", cwd=tmp_path)
    assert (again.returncode, again.stderr) == (0, "")
    summary = json.loads(again.stdout)
    assert (summary["computed"], summary["cached"], summary["failed"]) == (0, 2, 0)
    keys = {p.key for p in load_spec(spec).points}  # the same keys in another process
    assert set(check_points_dir(tmp_path / "out", keys)) == keys


def test_cli_failed_points_exit_1(tmp_path):
    spec = spec_file(tmp_path, {"metrics": ["fake"], "points": [{"m": 1}, {"m": 2, "fail": True}]})
    done = lutsim("sweep", str(spec), "--out", "out", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "lutsim: error: 1 of 2 points failed; the first (m=2, fail=true): fake: asked to fail\n"
    )
    assert done.stdout.splitlines()[-1] == "2 points: 1 computed, 0 cached, 1 failed"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--workers", "0"), 2, "--workers must be at least 1, not 0"),
        (("--scheduler", "localhost:8786"), 2,
         "--scheduler must look like tcp://HOST:PORT, not 'localhost:8786'"),
        (("--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"), 2,
         "--workers sets the local pool; it does not go with --scheduler"),
    ],
)  # fmt: skip
def test_cli_usage_errors(tmp_path, args, code, message):
    spec = spec_file(tmp_path, {"metrics": ["core"], "grid": {"m": [1]}})
    done = lutsim("sweep", str(spec), "--out", "out", *args, cwd=tmp_path)
    assert (done.returncode, done.stderr, done.stdout) == (code, f"lutsim: error: {message}\n", "")


def test_cli_bad_spec(tmp_path):
    spec = spec_file(tmp_path, "metrics: [core]\ngrid:\n  regz: [1]\n")
    done = lutsim("sweep", str(spec), "--out", "out", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1, "lutsim: error: s.yaml: line 3: unknown parameter 'regz' (did you mean 'regs'?)\n")  # fmt: skip
    assert not (tmp_path / "out").exists()


def _alive_in_group(group: int) -> list[int]:
    """Processes of a process group that are not zombies (from /proc)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == group and state != "Z":
                alive.append(int(stat.parent.name))
    return alive


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_and_signal(tmp_path: Path, path: Path, sig: int, files: int) -> subprocess.Popen:
    """Start ``lutsim sweep`` on 2 local workers in its own process group, send ``sig`` to the
    group once ``files`` points are finished, wait for it; no process of it may survive."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUTSIM_SWEEP_EVALUATORS": __name__}
    # Ctrl-C as a terminal delivers it, also when this test runs as a background job (where
    # the shell has the sweep inherit SIGINT ignored)
    proc = subprocess.Popen([str(LUTSIM), "sweep", str(path), "--out", "out", "--workers", "2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(list((tmp_path / "out" / "points").glob("*.json"))) < files:
            assert time.monotonic() < deadline and proc.poll() is None, "the sweep did not start"
            time.sleep(0.02)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C does
        else:
            proc.send_signal(sig)  # the sweep process alone
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive_in_group(proc.pid), "pool workers outlived the sweep"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc


def test_cli_interrupted_by_ctrl_c(tmp_path):
    path = spec_file(tmp_path, fake_spec(tmp_path, 8, delay_s=0.5))
    proc = _start_and_signal(tmp_path, path, signal.SIGINT, 1)
    assert (proc.returncode, proc.stderr.read()) == (130, "lutsim: error: interrupted\n")
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["status"] == "interrupted" and meta["counts"]["pending"] > 0


def test_cli_sigkill_loses_and_duplicates_nothing(tmp_path):
    spec = fake_spec(tmp_path, 16, delay_s=0.4)
    path = spec_file(tmp_path, spec)
    keys = {p.key for p in parse_spec(spec).points}
    _start_and_signal(tmp_path, path, signal.SIGKILL, 3)
    finished = check_points_dir(tmp_path / "out", keys)
    assert 3 <= len(finished) < len(keys), "the kill did not land mid-sweep"
    started = len(_events(tmp_path / "log", "start"))

    done = lutsim("sweep", str(path), "--out", "out", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"16 points: {16 - len(finished)} computed, {len(finished)} cached, 0 failed"
    )
    rerun = {k for k, _ in _events(tmp_path / "log", "start")[started:]}
    assert rerun == keys - set(finished), "finished points were computed again"
    records = check_points_dir(tmp_path / "out", keys)
    assert set(records) == keys
    for key, record in finished.items():
        assert records[key] == record
    rows = read_csv(tmp_path / "out" / "results.csv")
    assert sorted(r["key"] for r in rows) == sorted(keys)
    assert {r["status"] for r in rows} == {"ok"}


# ---- Dask ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")  # fmt: skip
    client = distributed.Client(cluster.scheduler_address)
    try:
        yield cluster.scheduler_address, client
    finally:
        client.close()
        cluster.close()


def test_dask_sweep_matches_local(tmp_path, dask_cluster):
    address, _ = dask_cluster
    spec = spec_file(tmp_path, {"metrics": ["core", "sim"], "base": SIM_BASE,
                                "grid": {"preset": ["A100-LUT-1X", "A100-FP16"], "regs": [1, 2]}})  # fmt: skip
    done = lutsim("sweep", str(spec), "--out", "dask", "--scheduler", address, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "4 points: 4 computed, 0 cached, 0 failed"
    run_sweep(load_spec(spec), tmp_path / "local", workers=1)
    meta = json.loads((tmp_path / "dask" / "metadata.json").read_text())
    assert meta["backend"] == {"kind": "dask", "scheduler": address, "workers": 2}

    def metrics(out):
        return {r["key"]: {c: v for c, v in r.items() if c != "wall_s"}
                for r in read_csv(tmp_path / out / "results.csv")}  # fmt: skip

    assert metrics("dask") == metrics("local")


def test_dask_worker_killed_mid_sweep(tmp_path, dask_cluster):
    address, client = dask_cluster
    spec = fake_spec(tmp_path, 8, delay_s=1.0)
    path = spec_file(tmp_path, spec)
    keys = {p.key for p in parse_spec(spec).points}
    pids = set(client.run(os.getpid).values())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUTSIM_SWEEP_EVALUATORS": __name__}
    proc = subprocess.Popen(
        [str(LUTSIM), "sweep", str(path), "--out", "out", "--scheduler", address],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    victim = None
    while victim is None:
        assert time.monotonic() < deadline and proc.poll() is None, "no point started"
        lines = [line.split() for line in _log_lines(tmp_path / "log")]
        first_done = next((i for i, (kind, _, _) in enumerate(lines) if kind == "done"), None)
        done_keys = {k for kind, k, _ in lines if kind == "done"}
        # a point that started after the first finished has most of its delay ahead of it
        running = [(k, int(pid)) for kind, k, pid in lines[(first_done or 0) + 1 :]
                   if kind == "start" and int(pid) in pids and k not in done_keys]  # fmt: skip
        if first_done is not None and running:
            victim = running[-1]
        time.sleep(0.02)
    os.kill(victim[1], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stdout.splitlines()[-1] == "8 points: 8 computed, 0 cached, 0 failed"
    records = check_points_dir(tmp_path / "out", keys)
    assert set(records) == keys
    worker = records[victim[0]]["runs"]["fake"]["worker"]
    assert not worker.endswith(f":{victim[1]}"), "not rerun elsewhere"
    assert len(_events(tmp_path / "log", "start", victim[0])) >= 2
    rows = read_csv(tmp_path / "out" / "results.csv")
    assert sorted(r["key"] for r in rows) == sorted(keys)


# ---- Pareto fronts -------------------------------------------------------------------------
def test_pareto_front_small():
    points = [{"a": 1, "t": 5}, {"a": 2, "t": 9}, {"a": 2, "t": 4}, {"a": 3, "t": 9},
              {"a": 1, "t": 5}, {"a": None, "t": 99}, {"a": 0.5, "t": float("nan")}]  # fmt: skip
    assert pareto.pareto_front(points, {"a": "min", "t": "max"}) == [0, 1, 4]
    assert pareto.pareto_front(points, {"t": "max"}) == [5]
    with pytest.raises(ValueError, match=r"^goal of 't' must be min or max, not 'up'$"):
        pareto.pareto_front(points, {"t": "up"})


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.tuples(*(st.integers(0, 6),) * 3), max_size=40),
    goals=st.lists(st.sampled_from(pareto.GOALS), min_size=1, max_size=3),
)
def test_pareto_front_properties(values, goals):
    objectives = {f"o{i}": goal for i, goal in enumerate(goals)}
    points = [{f"o{i}": v for i, v in enumerate(row)} for row in values]
    front = pareto.pareto_front(points, objectives)
    assert front == sorted(set(front))
    for i in front:
        assert not any(pareto.dominates(p, points[i], objectives) for p in points), (
            f"front point {points[i]} is dominated"
        )
    for i in set(range(len(points))) - set(front):
        assert any(pareto.dominates(points[j], points[i], objectives) for j in front), (
            f"{points[i]} is off the front but no front point dominates it"
        )


def test_plot_front(tmp_path):
    rows = [{"area": a, "tops": t, "kind": k} for a, t, k in
            [(1, 1, "x"), (2, 3, "y"), (3, 2, "x"), (4, 4, "y")]]  # fmt: skip
    front = pareto.plot_front(rows, "area", "tops", ("min", "max"), tmp_path / "p.png",
                              color="kind", log=("x",), units={"tops": "TOPS"})  # fmt: skip
    assert front == [0, 1, 3]
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_example_spec_loads():
    spec = load_spec(ROOT / "examples" / "sweep.yaml")
    assert len(spec.points) == 33 and len(spec.plots) == 2
    assert [ev.name for ev in spec.metrics] == ["core", "sim"]


# ---- foreign directories and endpoints -------------------------------------------------------
def test_another_specs_directory_needs_force(tmp_path):
    first = parse_spec(fake_spec(tmp_path, 2))
    run_sweep(first, tmp_path / "out", workers=1)
    (tmp_path / "out" / "pareto-old.png").write_bytes(b"png")
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    metadata["plots"] = [{"file": "pareto-old.png"}, {"file": "../escape.png"}]
    (tmp_path / "out" / "metadata.json").write_text(json.dumps(metadata))
    (tmp_path / "escape.png").write_bytes(b"keep")
    run_sweep(first, tmp_path / "out", workers=1)  # the same spec resumes
    metadata["plots"] = [{"file": "pareto-old.png"}, {"file": "../escape.png"}]
    (tmp_path / "out" / "metadata.json").write_text(json.dumps(metadata))
    second = parse_spec(fake_spec(tmp_path, 3))
    before = (tmp_path / "out" / "results.csv").read_text()
    with pytest.raises(ValueError, match=r"^'.*/out' holds the results of another sweep spec "
                       r"\('.*'\); choose another output directory, or --force to replace them "
                       r"\(finished points stay as a cache\)$"):  # fmt: skip
        run_sweep(second, tmp_path / "out", workers=1)
    assert (tmp_path / "out" / "results.csv").read_text() == before
    result = run_sweep(second, tmp_path / "out", workers=1, force=True)
    assert result.points == 3
    assert not (tmp_path / "out" / "pareto-old.png").exists()
    assert (tmp_path / "escape.png").read_bytes() == b"keep"


def _serve_once(reply: bytes | None):
    """A TCP server on a free port that answers the first connection with ``reply`` (or
    nothing), in a thread; returns its address."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        if reply is not None:
            conn.sendall(reply)
        with contextlib.suppress(OSError):
            conn.recv(1)  # hold the connection until the client closes it
        conn.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (None, "{a} sent no Dask handshake within 1 s; is it a Dask scheduler?"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "{a} does not answer like a Dask scheduler"),
        (b"\xff" * 64, "{a} does not answer like a Dask scheduler"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "{a} does not answer like a Dask scheduler"),
    ],
)  # fmt: skip
def test_endpoint_that_is_not_a_scheduler(tmp_path, reply, message):
    spec = parse_spec(fake_spec(tmp_path, 1))
    address = _serve_once(reply)
    with pytest.raises(ValueError) as info:
        run_sweep(spec, tmp_path / "out", scheduler=address, connect_timeout=1)
    assert str(info.value) == message.format(a=address)
