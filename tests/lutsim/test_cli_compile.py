"""``lutsim compile``, run as a user runs it (subprocess), against the library it wraps."""

from __future__ import annotations

import csv
import json

import pytest

from lutsim import cli
from lutsim.compiler import compile_model, verify
from lutsim.compiler.verify import VerifyResult
from lutsim.reports.latency import Phase, model_latency
from tests.lutsim.test_cli import fails, ok, run, usage_error


def test_compile_text_and_files(tmp_path):
    out = ok(run(tmp_path, "compile", "llama2-7b", "--tokens", "3", "-o", "out"))
    lines = out.splitlines()
    assert lines[0] == (
        "llama2-7b: 32 layers, hidden 4096, intermediate 11008, heads 32/32 KV, vocabulary "
        "32000, MLP swiglu"
    )
    assert lines[1] == "quant w2-int8  core lmma.m2n64k4.s8.u2.s32.s32  3 tokens, context 3"
    gemms = [line.split() for line in lines[4:11]]
    assert [g[0] for g in gemms] == [
        f"layers.0.{name}" for name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                        "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                        "mlp.down_proj")
    ]  # fmt: skip
    assert gemms[4][1:3] == ["3x11008x4096", "2x172"]
    assert gemms[4][5] == "0.750"  # 3 rows padded to 2 row tiles of 2: the padding cost
    assert lines[11] == (
        "precompute: 128 kernels, 96 fused into the preceding element-wise operator; unfused: "
        "layers.{0..31}.self_attn.values.precompute"
    )
    assert lines[-1] == "wrote program.lst, summary.json, layers.csv to out"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    expected = compile_model("llama2-7b", tokens=3).summary()
    assert summary == json.loads(json.dumps(expected))
    rows = list(csv.DictReader((tmp_path / "out" / "layers.csv").open()))
    assert sum(row["type"] == "LutGemm" for row in rows) == 224
    assert "for " in (tmp_path / "out" / "program.lst").read_text()


def test_compile_json(tmp_path):
    summary = json.loads(ok(run(tmp_path, "compile", "bitnet-b1.58-700m", "--json")))
    assert summary["quant"]["text"] == "w1.58-int8"
    assert summary["written"] == {}
    assert summary["totals"]["lut_gemms"] == 7 * summary["model"]["num_layers"]


def test_compile_latency_matches_the_library(tmp_path):
    args = ["compile", "bitnet-b1.58-700m", "--tokens", "1", "--context", "512", "--batch", "8",
            "--latency", "A100-LUT-4X", "--latency", "A100-INT8", "--json"]  # fmt: skip
    runs = json.loads(ok(run(tmp_path, *args)))["latency"]
    phase = Phase("decode", 8, 1, 512)
    for got, preset in zip(runs, ("A100-LUT-4X", "A100-INT8"), strict=True):
        direct = model_latency("bitnet-b1.58-700m", preset, phase).to_dict()
        assert got == json.loads(json.dumps(direct))
    lut, mac = runs
    # BitNet normalizes before o_proj and down_proj too (sub-LN): every precompute is fused
    assert lut["precomputes"] == {"fused": 96} and mac["precomputes"] == {}
    assert lut["us"]["attention"] == mac["us"]["attention"] > 0
    text = ok(run(tmp_path, *args[:-1])).splitlines()
    assert text[-4] == (
        "latency, decode: batch 8, 1 new tokens, context 512; precompute fused (us):"
    )
    assert text[-2].startswith("A100-LUT-4X  ") and text[-1].startswith("A100-INT8  ")


@pytest.mark.parametrize(
    ("model", "quant"),
    [("llama3-8b", "w2"), ("bitnet-b1.58-3b", "w1.58"), ("bloom-176b", "w4-g128-fp16")],
)
def test_compile_verify_tiny(tmp_path, model, quant):
    summary = json.loads(
        ok(run(tmp_path, "compile", model, "--quant", quant, "--verify", "--tiny", "--json"))
    )
    assert summary["ok"] and summary["model"] == f"{model}-tiny"
    assert summary["golden_residual"] == 0 and summary["algorithm_mismatches"] == 0
    text = ok(run(tmp_path, "compile", model, "--quant", quant, "--verify", "--tiny"))
    assert text.startswith(f"{model}-tiny (2 layers, hidden 64, 8 tokens) ")
    assert text.rstrip().endswith(": ok")


def test_compile_verify_failure_exits_1(monkeypatch, capsys):
    """A failed check is reported and exits 1 (forced in-process)."""
    from lutsim import compiler

    def failing(*args, **kwargs) -> VerifyResult:
        result = verify(*args, **kwargs)
        return VerifyResult(**{**result.__dict__, "ok": False})

    monkeypatch.setattr(compiler, "verify", failing)
    assert cli.main(["compile", "llama2-7b", "--verify", "--tiny"]) == 1
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(": FAIL")
    assert err.startswith("lutsim: error: verification failed: llama2-7b-tiny (2 layers, ")


def _write(path, text):
    path.write_text(text)
    return path.name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "unknown model 'nosuch': not a preset name or a JSON file"),
        (["llama2-7b", "--quant", "w2-g100"],
         "group size 100 does not divide K = 4096 of layers.0.self_attn.q_proj"),
        (["llama2-7b", "--quant", "w7"], "weight bits must be 1 to 4, not 7"),
        (["llama2-7b", "--context", "1", "--tokens", "4"],
         "context 1 must be at least the 4 tokens it includes"),
        (["llama2-7b", "--latency", "X100"],
         "unknown GPU preset 'X100'; known: A100-LUT-1X, A100-LUT-4X, A100-LUT-8X, A100-FP16, "
         "A100-INT8, A100-80GB-LUT-1X, A100-80GB-LUT-4X, A100-80GB-LUT-8X, A100-80GB-FP16, "
         "A100-80GB-INT8, H100-LUT-1X, H100-LUT-4X, H100-LUT-8X, H100-FP16, H100-INT8, H100-FP8"),
        (["llama2-7b", "-o", "file/out"],
         "cannot create output directory 'file/out': Not a directory"),
    ],
)  # fmt: skip
def test_compile_bad_input(tmp_path, args, message):
    (tmp_path / "file").write_text("")
    fails(run(tmp_path, "compile", *args), 1, message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model_type": "mamba", "hidden_size": 64}',
         'm.json: unsupported model_type "mamba"; supported: bitnet, bloom, llama, opt'),
        ('{"model_type": "llama",', "m.json: invalid JSON: Expecting property name enclosed in "
         "double quotes (at line 2, column 1)"),
        ('{"model_type": "llama", "hidden_size": 64}', "m.json: missing key 'num_hidden_layers'"),
    ],
)  # fmt: skip
def test_compile_bad_config_json(tmp_path, text, message):
    (tmp_path / "m.json").write_text(text + "\n")
    fails(run(tmp_path, "compile", "m.json"), 1, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["llama2-7b", "--tiny"], "--tiny and --seed apply to --verify"),
        (["llama2-7b", "--batch", "4"], "--batch applies to --latency"),
        (["llama2-7b", "--verify", "--latency", "A100-FP16"],
         "--latency and --verify are separate runs; give one of them"),
        (["llama2-7b", "--tokens", "0"],
         "argument --tokens: must be a positive integer, not '0' (see 'lutsim compile --help')"),
    ],
)  # fmt: skip
def test_compile_usage(tmp_path, args, message):
    assert usage_error(run(tmp_path, "compile", *args)) == message
