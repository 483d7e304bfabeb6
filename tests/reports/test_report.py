"""``lutsim report`` at a small scale: real synthesis (DP4-sized designs), real simulation."""

from __future__ import annotations

import json

import pytest

from lutsim.isa.config import CoreConfig
from lutsim.reports.energy import core_cycles, datapath_energy
from lutsim.reports.flow import synth
from lutsim.reports.flow.scaling import scale_factors
from lutsim.reports.latency import decode, model_latency, prefill
from lutsim.reports.report import ReportSpec, build_report
from tests.lutsim.test_cli import fails, run, usage_error

SMALL = ReportSpec(
    core=CoreConfig(m=1, n=1), weight_bits=(2,), levels=("dp4",),
    models=("llama2-7b", "mixtral-8x7b"), phases=(prefill(16), decode(2, 32)),
)  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    steps = []
    files = build_report(out, SMALL, lambda done, total, text: steps.append((done, total)))
    return out, files, steps


def test_report_has_table1_and_the_scaling_study(report):
    out, files, _ = report
    data = json.loads(files["json"].read_text())
    assert len(data["table1"]) == 7 and {"prefill", "decode"} <= set(data["table1"][0])
    assert {(r["preset"], r["regs"], r["smem"]) for r in data["scaling"]} >= {
        ("A100-LUT-8X", 8, 4.0),
        ("A100-LUT-4X", 1, 1.0),
    }
    text = files["markdown"].read_text()
    assert "## 5a. Table 1 in the paper's configuration" in text
    assert "5.51x the paper's" in text and "2.06x the paper's" in text
    assert (out / "scaling.png").is_file()
    assert "| model | phase | preset | GEMM (MxNxK x count) | limit | in words |" in text
    assert "| x FP16 MAC | linear x FP16 MAC | x FP16 model |" in text
    assert {r["fused"]["baseline"] for r in data["fp16_model"]} == {"the FP16 model"}
    assert len(data["fp16_model"]) == len(SMALL.models) * len(SMALL.phases)
    for row in data["latency"]:
        for g in row["fused"]["gemms"]:
            assert g["limit"] and "faster with" in g["why"]


def test_report_has_a_mixture_of_experts_model(report):
    from lutsim.compiler import load_model

    assert any(load_model(model).moe for model in ReportSpec().models), "the default report"
    _, files, _ = report
    data = json.loads(files["json"].read_text())
    rows = [r for r in data["latency"] if r["model"] == "mixtral-8x7b"]
    assert len(rows) == len(SMALL.phases) * len(SMALL.presets)
    for row in rows:  # 32 layers x gate, up and down, each one grouped kernel
        grouped = [g for g in row["fused"]["gemms"] if "experts" in g]
        assert sum(g["count"] for g in grouped) == 32 * 3
        tokens = row["phase"]["batch"] * row["phase"]["tokens"]  # x top-2 over 8 experts
        assert {g["experts"] for g in grouped} == {min(8, 2 * tokens)}
    direct = model_latency("mixtral-8x7b", "A100-LUT-4X", prefill(16)).to_dict()
    row = next(r for r in rows if r["preset"] == "A100-LUT-4X" and r["phase"]["tokens"] == 16)
    assert row["fused"]["us"] == direct["us"]
    text = files["markdown"].read_text()
    assert "| mixtral-8x7b | decode BS2 ctx 32 | A100-LUT-4X |" in text
    assert "8 experts of up to 4x14336x4096 (32 rows), grouped x64" in text


def test_report_cli_default_models(tmp_path):
    result = run(tmp_path, "report", "--help")
    assert result.returncode == 0
    assert f"default {','.join(ReportSpec().models)})" in " ".join(result.stdout.split())


def test_report_files_and_progress(report):
    out, files, steps = report
    figures = ("area", "lut_vs_mac", "latency", "scaling")
    assert {p.name for p in files.values()} == {"report.md", "report.json"} | {
        f"{name}.{fmt}" for name in figures for fmt in ("svg", "png")
    }
    for path in files.values():
        assert path.parent == out and path.stat().st_size > 0
    data = json.loads(files["json"].read_text())
    assert data["figures"] == {name: {"svg": f"{name}.svg", "png": f"{name}.png"}
                               for name in figures}  # fmt: skip
    assert steps == [(i, len(steps)) for i in range(1, len(steps) + 1)]
    text = (out / "report.md").read_text()
    for heading in ("## 1. The LUT core", "## 2. LUT vs MAC", "## 3. Ablation",
                    "## 4. Scaled to other nodes", "## 5. Latency", "## 6. Energy",
                    "## Provenance"):  # fmt: skip
        assert heading in text
    assert "osu018_stdcells" in text and "not synthesized" in text
    links = [line for line in text.splitlines() if line.startswith("![")]
    assert [line[line.index("](") + 2 : -1] for line in links] == [f"{n}.svg" for n in figures]


def test_report_numbers_come_from_the_tools(report):
    out, _, _ = report
    data = json.loads((out / "report.json").read_text())
    core = synth.synthesize("core", SMALL.core)
    assert data["core"]["area_um2"] == core.area_um2
    assert data["core"]["power_mw"] == core.power_mw
    pairs = [(r["act_format"], r["baseline"]) for r in data["lut_vs_mac"]]
    assert pairs == [("int8", "mac-int8"), ("int8", "mac-int8-dense"), ("fp16", "mac-fp16"),
                     ("fp16", "mac-fp16-dense")]  # fmt: skip
    int8 = data["lut_vs_mac"][0]
    lut = synth.synthesize("lut-array", SMALL.core)
    assert int8["lut"]["area_um2"] == lut.area_um2
    assert [r["step"] for r in data["ablation"]] == [
        "conventional", "symmetrized", "inverted", "precomputed"
    ]  # fmt: skip
    # the latency rows are the library's, preset by preset
    rows = [r for r in data["latency"]
            if r["phase"]["name"] == "decode" and r["model"] == "llama2-7b"]  # fmt: skip
    assert len(rows) == len(SMALL.presets)
    direct = model_latency("llama2-7b", "A100-LUT-4X", decode(2, 32)).to_dict()
    row = next(r for r in rows if r["preset"] == "A100-LUT-4X")
    assert row["fused"]["us"] == direct["us"] and "separate" in row
    assert "separate" not in next(r for r in rows if r["preset"] == "A100-FP16")
    # energy: action counts x the synthesized energy per action
    energy = next(e for e in data["energy"] if e["preset"] == "A100-LUT-4X"
                  and e["phase"]["name"] == "decode" and e["model"] == "llama2-7b")  # fmt: skip
    priced = lut.to_dict()
    expected = datapath_energy(direct["actions"], priced, CoreConfig(**direct["core"]))
    assert energy["pj"] == pytest.approx(expected["pj"], rel=1e-12) and energy["pj"] > 0
    assert energy["pj_per_token"] == pytest.approx(energy["pj"] / 2)


def test_datapath_energy_terms():
    cfg = CoreConfig()
    priced = {
        "design": "lut-array",
        "mnemonic": cfg.replace(m=1, n=1).mnemonic,
        "config": {"m": 1, "n": 1},
        "node": "x",
        "energy_pj_per_action": {"lut.lookup": 2.0, "acc.int32_add": 3.0, "cycle": 0.5},
    }
    actions = {"lut.lookup": 10, "acc.int32_add": 4, "instr.lmma": 3, "instr.ldt": 5}
    energy = datapath_energy(actions, priced, cfg)
    assert energy["terms"] == {"lut.lookup": 20.0, "acc.int32_add": 12.0,
                               "cycle": 0.5 * 3 * cfg.latency_cycles["lmma"]}  # fmt: skip
    assert core_cycles(cfg, actions) == 3 * cfg.latency_cycles["lmma"] + 5 * cfg.latency_cycles[
        "ldt"]  # fmt: skip
    mac = {"design": "mac-fp16", "energy_pj_per_mac": 1.5, "node": "x"}
    assert datapath_energy({"mac.fp16": 4}, mac)["pj"] == 6.0
    with pytest.raises(ValueError, match="^the kernel ran lmma.m2n64k4.s8.u4.s32.s32, but the "):
        datapath_energy(actions, priced, cfg.replace(weight_bits=4))
    with pytest.raises(ValueError, match="^no energy model for design 'add'"):
        datapath_energy(actions, {"design": "add"}, cfg)


def test_report_cli(tmp_path, report):
    args = ["report", "--set", "m=1", "--set", "n=1", "--wbits", "2", "--levels", "dp4",
            "--models", "llama2-7b", "--out", "out", "--jobs", "2"]  # fmt: skip
    result = run(tmp_path, *args, timeout=900)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("[1/")  # progress, one line per step
    assert "synthesized mac-fp16-dense lmma.m1n1k4.f16.u2.f32.f32" in result.stderr
    assert result.stdout.startswith(
        "wrote out/report.md with 4 figures (SVG and PNG) and report.json in "
    )
    assert (tmp_path / "out" / "report.md").exists()
    # synthesis on 2 processes gives what one process gave
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    alone = json.loads((report[0] / "report.json").read_text())
    assert data["timing_s"]["workers"] == 2 and alone["timing_s"]["workers"] == 1
    for key in ("core", "lut_vs_mac", "ablation"):
        assert _without_runtime(data[key]) == _without_runtime(alone[key])


def _without_runtime(value):
    if isinstance(value, dict):
        return {
            k: _without_runtime(v) for k, v in value.items() if k not in ("runtime", "provenance")
        }
    if isinstance(value, list):
        return [_without_runtime(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wbits", "5"], "--wbits takes weight widths 1..4 separated by commas, not '5'"),
        (["--levels", "chip"], "--levels takes array and/or dp4, not 'chip'"),
        (["--jobs", "0"], "--jobs must be at least 1, not 0"),
    ],
)
def test_report_usage(tmp_path, args, message):
    assert usage_error(run(tmp_path, "report", *args)) == message


def test_report_bad_output_dir(tmp_path):
    (tmp_path / "file").write_text("")
    result = run(tmp_path, "report", "--out", "file/out", "--quiet")
    fails(result, 1, "cannot create output directory 'file/out': Not a directory")


def test_report_unknown_model(tmp_path):
    result = run(tmp_path, "report", "--set", "m=1", "--set", "n=1", "--wbits", "2", "--levels",
                 "dp4", "--models", "gpt5", "--quiet", timeout=900)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("lutsim: error: unknown model 'gpt5': not a preset")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "report").exists()  # checked before anything runs or is written


def test_energy_check_against_published(report):
    out, _, _ = report
    data = json.loads((out / "report.json").read_text())
    checks = {e["operation"]: e for e in data["energy_check"]}
    assert set(checks) == {"fp16 multiply", "fp32 add", "int8 MAC (multiply + int32 add)"}
    fp16 = synth.synthesize("mac-fp16-dense", SMALL.core.replace(act_format="fp16"))
    add = checks["fp32 add"]
    assert add["pj"] == synth.energy_per_action(fp16)["acc.fp32_add"] > 0
    factor = scale_factors(180.0, 45.0, "stillmaker-2017", 1.8, 0.9)["energy"]
    assert add["scaling"] == "stillmaker-2017"
    assert add["pj_scaled_45nm"] == pytest.approx(add["pj"] * factor, rel=1e-12)
    assert add["published_pj_45nm"] == 0.9
    assert checks["int8 MAC (multiply + int32 add)"]["published_pj_45nm"] == pytest.approx(0.3)
    text = (out / "report.md").read_text()
    assert "### Beside the paper's published numbers" in text
    assert "Why the numbers differ:" in text
    assert "takes 1.8 V at 180 nm down to 0.45 V at 45 nm, and the Stillmaker-Baas fits" in text
    assert "ours scaled to 45 nm at 0.9 V by the Stillmaker-Baas fits" in text
    scaled = [s for s in data["scaled"] if s["model"] == "stillmaker-2017"]
    assert scaled and {s["node"].split()[0] for s in scaled} == {"32"}


def _pair(level, bits, act, baseline, area, power, density):
    side = {"macs_per_cycle": 512.0, "energy_pj_per_mac": 10.0}
    return {"level": level, "weight_bits": bits, "act_format": act, "baseline": baseline,
            "area_ratio": area, "power_ratio": power, "density_ratio": density,
            "lut": dict(side), "mac": dict(side)}  # fmt: skip


def test_beside_paper_rows_are_our_measurements():
    from lutsim.reports.report import _beside_paper

    data = {
        "lut_vs_mac": [
            _pair("array", 1, "fp16", "mac-fp16-dense", 0.2, 0.25, 5.0),
            _pair("dp4", 1, "fp16", "mac-fp16-dense", 0.5, 0.5, 7.5),
            _pair("array", 1, "int8", "mac-int8", 0.5, 1.25, 2.0),
        ],
        "ablation": [
            {"area_um2": 300.0, "power_mw": 3.0},
            {"area_um2": 150.0, "power_mw": 2.0},
        ],
        "core": {"liberty": {"node_nm": 56.0, "node": "56 nm"}},
    }
    rows = {(b["where"], b["against"]): b for b in _beside_paper(data)}
    assert rows[("§1, §4.2.2", "mac-fp16-dense, array, W1 FP16")]["ours"] == (
        "area 5.00x, power 4.00x lower"
    )
    assert rows[("§1, §4.2.2", "mac-int8, array, W1 INT8")]["ours"] == (
        "area 2.00x, power 0.80x lower"
    )
    assert rows[("Fig. 12", "mac-fp16-dense, DP4")]["ours"].startswith("7.50x")
    assert rows[("Fig. 12", "mac-fp16-dense, DP4")]["paper"].startswith("18.2x")
    assert rows[("Fig. 15", "mac-fp16-dense, array")]["ours"].startswith("20.0 % at 1.00x")
    assert rows[("Table 2", "ablation, INT8 acts")]["ours"] == "2.00x area, 1.50x power"
    # 10 pJ/MAC = 0.2 TOPS/W; 56 nm -> 28 nm is kappa 2, energy / 8
    assert rows[("Table 3", "lut-array, array, W1 INT8")]["ours"] == (
        "0.2 TOPS/W at 56 nm; 1.6 scaled to 28 nm (Dennard)"
    )
    assert len(rows) == 6  # none for the baselines the data does not have (mac-fp16, int8-dense)
    # at a node the Stillmaker-Baas fits tabulate, with its voltage known: both scalings
    data["core"]["liberty"] = {"node_nm": 180.0, "node": "180 nm", "nom_voltage": 1.8}
    fitted = scale_factors(180.0, 32.0, "stillmaker-2017", 1.8, 0.9)["energy"]
    row = {(b["where"], b["against"]): b for b in _beside_paper(data)}[
        ("Table 3", "lut-array, array, W1 INT8")
    ]
    assert row["ours"] == (
        f"0.2 TOPS/W at 180 nm; {0.2 * 180**3 / 28**3:.4g} scaled to 28 nm (Dennard), "
        f"{0.2 / fitted:.4g} scaled to 32 nm at 0.9 V (Stillmaker-Baas; no 28 nm row)"
    )


def _arrays(jobs) -> list[tuple[str, str]]:
    return [(d, c.mnemonic) for d, c in jobs if c.m * c.n > 1]


def test_without_fp16_arrays_fp16_is_measured_on_the_dp4_unit():
    """The main job's default leaves out exactly the FP16 arrays (LUT and MAC) and prices
    and checks FP16 on the DP4 unit; everything else is synthesized as with them."""
    from lutsim.reports.report import _priced, _synthesis_jobs

    full, lean = ReportSpec(), ReportSpec(fp16_arrays=False)
    kept, every = _synthesis_jobs(lean), _synthesis_jobs(full)
    dropped = [job for job in every if job not in kept]
    assert [job for job in kept if job not in every] == []
    assert dropped and all(c.act_format == "fp16" and c.m * c.n > 1 for _, c in dropped)
    assert not any(c.act_format == "fp16" and c.m * c.n > 1 for _, c in kept)
    assert any(c.act_format == "fp16" for _, c in kept), "FP16 stays at the DP4 level"
    design, cfg, _ = _priced(lean, "llama2-7b", "A100-FP16")
    assert (design, cfg.m, cfg.n) == ("mac-fp16-dense", 1, 1)
    assert _priced(full, "llama2-7b", "A100-FP16")[1].n == full.core.n
    assert _priced(lean, "llama2-7b", "A100-INT8")[1].n == lean.core.n


def test_dense_arrays_are_built_once_for_every_weight_width():
    """The dense MAC arrays take no weight bits: one design per format and tile."""
    from lutsim.reports.report import _synthesis_jobs

    arrays = _arrays(_synthesis_jobs(ReportSpec()))
    assert [d for d, _ in arrays].count("mac-int8-dense") == 1
    assert [d for d, _ in arrays].count("mac-fp16-dense") == 1
    assert [d for d, _ in arrays].count("mac-int8") == 3  # W1, W2, W4
    dense = synth.DESIGNS["mac-fp16-dense"]
    assert dense.configure(CoreConfig(weight_bits=1)) == dense.configure(CoreConfig(weight_bits=4))


def test_report_cli_notes_the_fp16_arrays_left_out(tmp_path):
    result = run(tmp_path, "report", "--models", "gpt5")  # fails before anything runs
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 2
    assert lines[0] == ("report: the FP16 arrays are left out (minutes each, cold; FP16 is "
                        "compared on the DP4 unit); --fp16-arrays adds them")  # fmt: skip
    assert lines[1].startswith("lutsim: error: unknown model 'gpt5'")
    result = run(tmp_path, "report", "--models", "gpt5", "--fp16-arrays")
    assert result.stderr.startswith("lutsim: error: unknown model 'gpt5'")
