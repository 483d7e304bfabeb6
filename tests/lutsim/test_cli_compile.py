"""``lutsim compile``, run as a user runs it (subprocess), against the library it wraps."""

from __future__ import annotations

import csv
import json

import pytest

from lutsim import cli
from lutsim.compiler import compile_model, load_model, preset_names, verify
from lutsim.compiler.verify import VerifyResult
from lutsim.reports.latency import Phase, model_latency
from tests.compiler.test_model import SUPPORTED
from tests.lutsim.test_cli import fails, ok, run, usage_error


def test_compile_list(tmp_path):
    lines = ok(run(tmp_path, "compile", "--list")).splitlines()
    assert lines[0].split() == ["preset", "architecture", "shape"]
    assert [line.split()[0] for line in lines[1:]] == preset_names()
    mixtral = next(line for line in lines if line.startswith("mixtral-8x7b "))
    assert mixtral.split(None, 2)[1:] == [
        "MixtralForCausalLM", "32 layers, hidden 4096, intermediate 14336, heads 32/8 KV, "
        "vocabulary 32000, MLP swiglu, 8 experts of 14336 (top 2)"]  # fmt: skip


def test_compile_moe_latency_and_routing(tmp_path):
    """A MoE preset times through --latency; a measured routing changes the expert GEMMs."""
    args = ["compile", "qwen3-30b-a3b", "--tokens", "1", "--context", "256", "--batch", "4",
            "--latency", "A100-LUT-4X", "--json"]  # fmt: skip
    out = json.loads(ok(run(tmp_path, *args)))
    (lut,) = out["latency"]
    assert lut["us"]["gemm"] > 0 and lut["precomputes"]["fused"] > 0
    experts = [g for g in out["layers"][0]["gemms"] if ".experts." in g["name"]]
    assert len(experts) == 3 * 8 and {g["m"] for g in experts} == {1}, "1 token x top-8"
    shares = [1 / 8] * 8 + [0.0] * 120
    (tmp_path / "routing.yaml").write_text(f"expert_load: {shares}\n")
    out = json.loads(ok(run(tmp_path, "compile", "qwen3-30b-a3b", "--tokens", "4",
                            "--routing", "routing.yaml", "--json")))  # fmt: skip
    experts = [g for g in out["layers"][0]["gemms"] if ".experts." in g["name"]]
    assert {(g["name"].split(".")[4], g["m"]) for g in experts} == {(str(e), 4) for e in range(8)}
    skewed = json.loads(ok(run(tmp_path, *args[:-1], "--routing", "routing.yaml", "--json")))
    assert skewed["latency"][0]["us"]["gemm"] != lut["us"]["gemm"], "--latency sees the routing"
    text = ok(run(tmp_path, *args[:-1])).splitlines()
    assert text[8].split()[:2] == ["layers.0.mlp.experts.{0..7}.gate_proj", "1x768x2048"]


def test_compile_model_description(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "hidden_size: 64\nintermediate_size: 128\nnum_layers: 2\nnum_heads: 4\n"
        "num_kv_heads: 2\nvocab_size: 100\nmlp: swiglu\n"
    )
    out = ok(run(tmp_path, "compile", "mine.yaml", "--verify", "--json"))
    assert json.loads(out)["ok"]
    assert load_model(tmp_path / "mine.yaml").name == "mine"


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
        (["nosuch"], "unknown model 'nosuch': not a preset, a JSON config or a YAML description; "
                     "presets: " + ", ".join(preset_names())),
        (["llama2-7b", "--routing", "r.yaml"],
         "r.yaml: llama2-7b has no mixture of experts to route"),
        (["mixtral-8x7b", "--routing", "bad.yaml"],
         "bad.yaml: expert_load lists need 8 shares, not 2"),
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
    (tmp_path / "r.yaml").write_text("expert_load: [1.0]\n")
    (tmp_path / "bad.yaml").write_text("expert_load: [0.5, 0.5]\n")
    fails(run(tmp_path, "compile", *args), 1, message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model_type": "mamba", "hidden_size": 64}',
         'm.json: unsupported model_type "mamba"; ' + SUPPORTED),
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
        (["llama2-7b", "--tiny"], "--tiny, --seed and --max-memory apply to --verify"),
        (["llama2-7b", "--max-memory", "1G"], "--tiny, --seed and --max-memory apply to --verify"),
        ([], "give a MODEL (a preset, a config.json or a YAML description) or --list"),
        (["llama2-7b", "--list"], "--list takes no MODEL"),
        (["llama2-7b", "--batch", "4"], "--batch applies to --latency"),
        (["llama2-7b", "--verify", "--latency", "A100-FP16"],
         "--latency and --verify are separate runs; give one of them"),
        (["llama2-7b", "--tokens", "0"],
         "argument --tokens: must be a positive integer, not '0' (see 'lutsim compile --help')"),
    ],
)  # fmt: skip
def test_compile_usage(tmp_path, args, message):
    assert usage_error(run(tmp_path, "compile", *args)) == message


def _small_config(tmp_path, hidden: int = 64, inter: int = 128, layers: int = 2) -> str:
    data = {"architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
            "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 100}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(data))
    return "config.json"


def test_compile_weights_verify(tmp_path):
    from tests.compiler.test_checkpoint import small_model, write_gguf, write_gptq

    config = _small_config(tmp_path)
    write_gptq(tmp_path / "gptq.safetensors", small_model(), act_order=True)
    args = ["compile", config, "--weights", "gptq.safetensors", "--verify", "--tokens", "3"]
    lines = ok(run(tmp_path, *args)).splitlines()
    assert lines[:3] == [
        "weights gptq.safetensors:",
        "format     tensors  chunk  re-blocking",
        "gptq-int4  14       32     act-order: K permuted into contiguous groups",
    ]
    assert lines[-1] == (
        "14 layers on lmma.m2n64k4.s8.u4.s32.s32: weights equal their dequantization, programs "
        "equal the LUT algorithm, dot products exact; worst residual 0: ok"
    )
    summary = json.loads(ok(run(tmp_path, *args, "--json")))
    assert summary["ok"] and len(summary["layers"]) == 14
    assert {layer["dot_mismatches"] for layer in summary["layers"]} == {0}
    only = json.loads(ok(run(tmp_path, *args, "--only", r"layers\.1\..*proj$", "--json")))
    assert [layer["name"] for layer in only["layers"]] == [
        f"layers.1.{p}" for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                  "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                  "mlp.down_proj")]  # fmt: skip
    big = _small_config(tmp_path, 256, 256, 1)
    write_gguf(tmp_path / "q8.gguf", small_model(256, 256, 1), "Q8_0")
    summary = json.loads(ok(run(tmp_path, "compile", big, "--weights", "q8.gguf", "--verify",
                                "--quant", "w4-fp16", "--json")))  # fmt: skip
    assert summary["ok"] and summary["mnemonic"] == "lmma.m2n64k4.f16.u4.f32.f32"
    assert all(layer["core_k"] == 512 and layer["gguf_residual"] <= layer["gguf_bound"]
               for layer in summary["layers"])  # fmt: skip
    text = ok(run(tmp_path, "compile", big, "--weights", "q8.gguf")).splitlines()
    assert text[-2:] == [
        "format     tensors  chunk  re-blocking",
        "gguf-Q8_0  7        32     8-bit codes as two 4-bit chunks (K doubled)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--weights", "none.gguf"], "cannot read checkpoint 'none.gguf': no such file"),
        (["--weights", "b.safetensors", "--quant", "w2"],
         "--quant w2 disagrees with the checkpoint's ternary weights"),
        (["--weights", "b.safetensors", "--only", "experts"],
         "--only 'experts' matches no LUT GEMM of model"),
        (["--weights", "b.safetensors", "--only", "("],
         "--only '(' is not a regular expression: missing ), unterminated subpattern at "
         "position 0"),
    ],
)  # fmt: skip
def test_compile_weights_bad_input(tmp_path, args, message):
    from tests.compiler.test_checkpoint import small_model, write_bitnet

    write_bitnet(tmp_path / "b.safetensors", small_model())
    fails(run(tmp_path, "compile", _small_config(tmp_path), *args), 1, message)
    assert usage_error(run(tmp_path, "compile", "llama2-7b", "--weights", "x", "--tiny")) == (
        "--tiny does not apply to --weights (the checkpoint sets the sizes)"
    )
    assert usage_error(run(tmp_path, "compile", "llama2-7b", "--only", "x")) == (
        "--only applies to --weights"
    )


def test_compile_routing_file_unreadable(tmp_path):
    fails(run(tmp_path, "compile", "mixtral-8x7b", "--routing", "none.yaml"), 1,
          "cannot read routing file 'none.yaml': No such file or directory")  # fmt: skip
