import csv
import json

import numpy as np
import pytest

from lutsim.compiler.driver import compile_model
from lutsim.compiler.model import model_from_dict
from lutsim.compiler.quant import quantize_weight
from lutsim.isa.config import CoreConfig

SMALL = model_from_dict(
    {"architectures": ["LlamaForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
     "vocab_size": 50},
    name="small",
)  # fmt: skip


def test_summary_contents():
    compiled = compile_model("llama2-70b", "w2-g128", tokens=4, context=128)
    s = compiled.summary()
    assert s["core"]["mnemonic"] == "lmma.m2n64k4.s8.u2.s32.s32"
    assert s["quant"]["text"] == "w2-g128-int8" and s["workload"]["context"] == 128
    gemm = s["layers"][0]["gemms"][0]
    assert gemm["name"] == "layers.0.self_attn.q_proj"
    assert (gemm["m"], gemm["n"], gemm["k"], gemm["group_size"], gemm["chunks"]) == (
        4, 8192, 8192, 128, 64)  # fmt: skip
    assert gemm["tiles"] == [2, 128] and gemm["instructions"] == 2 * 128 * (3 * 2048 + 2 * 64)
    assert gemm["table_reuse"] == 128 / 6  # 128 column tiles in 6 blocks of 23
    totals = s["totals"]
    assert totals["precompute"] == {**totals["precompute"], "kernels": 320, "fused": 240,
                                    "unfused": 80}  # fmt: skip
    assert totals["instructions"]["total"] == s["programs"]["expanded_instructions"]
    assert set(s["layers"][0]["nonlut"]) == {"rmsnorm", "rope", "attn_scores", "softmax",
                                             "attn_values", "add", "swiglu"}  # fmt: skip
    assert s["outside_layers"]["nonlut"]["lm_head"]["flops"] == 2 * 4 * 8192 * 32000


def test_write_files(tmp_path):
    compiled = compile_model(SMALL, "w4-fp16", tokens=3)
    paths = compiled.write(tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["layers.csv", "program.lst", "summary.json"]
    assert json.loads(paths["summary"].read_text()) == json.loads(json.dumps(compiled.summary()))
    rows = list(csv.DictReader(paths["layers"].open()))
    assert len(rows) == len(compiled.ir.ops)
    q = next(r for r in rows if r["name"] == "layers.1.self_attn.k_proj")
    assert (q["type"], q["n"], q["k"], q["tiles"], q["program"]) == ("LutGemm", "16", "32", "2x1",
                                                                   "p1")  # fmt: skip
    listing = paths["listing"].read_text()
    assert listing.startswith("; small: 2 layers, w4-fp16, lmma.m2n64k4.f16.u4.f32.f32\n")
    assert "  ; runs layers.{0..1}.self_attn.k_proj, layers.{0..1}.self_attn.v_proj\n" in listing
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind


def test_write_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"^cannot create output directory '.*/file/out': "):
        compile_model(SMALL).write(blocker / "out")


def test_weights_are_packed_and_checked():
    rng = np.random.default_rng(0)
    shapes = compile_model(SMALL, "w2", CoreConfig(n=16))
    weights = {g.name: rng.standard_normal((g.n, g.k)) for g in shapes.gemms()}
    name = "layers.0.mlp.down_proj"
    weights[name] = quantize_weight(weights[name], shapes.quant)
    compiled = compile_model(SMALL, "w2", CoreConfig(n=16), weights=weights)
    packed = compiled.weights["layers.0.mlp.up_proj"]
    assert packed.words.shape == (4, 8, 4)  # 64 / 16 column tiles, 32 / 4 groups, 4 words
    assert compiled.weights[name].quantized is weights[name]
    del weights[name]
    with pytest.raises(ValueError, match=r"^no weights for layers.0.mlp.down_proj$"):
        compile_model(SMALL, "w2", weights=weights)
    weights[name] = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"^weights of layers.0.mlp.down_proj are 3x4, "
                                         r"expected 32x64 \(N x K\)$"):  # fmt: skip
        compile_model(SMALL, "w2", weights=weights)


def test_program_lookup_error():
    with pytest.raises(ValueError, match=r"^no LUT GEMM named 'lm_head'$"):
        compile_model(SMALL).program("lm_head")
