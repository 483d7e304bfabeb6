import json

import pytest

from lutsim.compiler.driver import compile_model
from lutsim.compiler.ir import Linear, LutGemm, Module, Op, Precompute, Workload
from lutsim.compiler.model import load_model, preset_names
from lutsim.compiler.passes import (
    PIPELINE,
    block_shape,
    expert_rows,
    lower_blocks,
    run_pipeline,
)
from lutsim.compiler.quant import QuantSpec
from lutsim.isa.config import CoreConfig


def test_pipeline_is_an_explicit_list_of_passes():
    names = [p.__name__ for p in PIPELINE]
    assert names == ["lower_blocks", "split_precompute", "fuse_precompute", "tile", "emit",
                     "account"]  # fmt: skip
    compiled = compile_model("llama2-7b")
    assert list(compiled.ir.passes) == names


def _lowered(name: str, tokens: int = 3, context: int = 5) -> Module:
    ir = Module(load_model(name), QuantSpec(), Workload(tokens, context))
    return lower_blocks(ir, CoreConfig())


def test_llama_block_with_gqa():
    ir = _lowered("llama2-70b")
    linears = {op.name: (op.n, op.k) for op in ir.of_type(Linear) if op.layer == 0}
    assert linears == {
        "layers.0.self_attn.q_proj": (8192, 8192), "layers.0.self_attn.k_proj": (1024, 8192),
        "layers.0.self_attn.v_proj": (1024, 8192), "layers.0.self_attn.o_proj": (8192, 8192),
        "layers.0.mlp.gate_proj": (28672, 8192), "layers.0.mlp.up_proj": (28672, 8192),
        "layers.0.mlp.down_proj": (8192, 28672),
    }  # fmt: skip
    kinds = [op.kind for op in ir.of_type(Op) if op.layer == 0]
    assert kinds == ["rmsnorm", "rope", "rope", "attn_scores", "softmax", "attn_values", "add",
                     "rmsnorm", "swiglu", "add"]  # fmt: skip
    scores = next(op for op in ir.of_type(Op) if op.kind == "attn_scores")
    assert (scores.heads, scores.kv_heads, scores.context, scores.depth) == (64, 8, 5, 128)
    assert len(ir.of_type(Linear)) == 7 * 80


def test_bloom_and_opt_blocks():
    bloom = {op.name: (op.n, op.k) for op in _lowered("bloom-176b").of_type(Linear)
             if op.layer == 0}  # fmt: skip
    assert bloom["layers.0.self_attention.query_key_value"] == (3 * 14336, 14336)
    assert bloom["layers.0.mlp.dense_4h_to_h"] == (14336, 57344)
    opt = _lowered("opt-175b")
    kinds = [op.kind for op in opt.of_type(Op) if op.layer == 0]
    assert kinds == ["layernorm", "attn_scores", "softmax", "attn_values", "add", "layernorm",
                     "relu", "add"]  # fmt: skip
    assert all(op.bias for op in opt.of_type(Linear))


@pytest.mark.parametrize(
    ("name", "fused", "unfused"),
    [
        ("llama2-7b", {"self_attn.q_proj": "layers.0.input_layernorm",
                       "mlp.gate_proj": "layers.0.post_attention_layernorm",
                       "mlp.down_proj": "layers.0.mlp.act"}, ["self_attn.o_proj"]),
        ("bitnet-b1.58-700m", {"self_attn.q_proj": "layers.0.input_layernorm",
                               "self_attn.o_proj": "layers.0.self_attn.inner_attn_ln",
                               "mlp.gate_proj": "layers.0.post_attention_layernorm",
                               "mlp.down_proj": "layers.0.mlp.ffn_layernorm"}, []),
        ("opt-175b", {"self_attn.q_proj": "layers.0.self_attn_layer_norm",
                      "fc1": "layers.0.final_layer_norm", "fc2": "layers.0.activation_fn"},
         ["self_attn.out_proj"]),
    ],
)  # fmt: skip
def test_precompute_split_shared_and_fused(name, fused, unfused):
    compiled = compile_model(name)
    pres = [p for p in compiled.ir.of_type(Precompute) if p.layer == 0]
    by_consumer = {c.removeprefix("layers.0."): p for p in pres for c in p.consumers}
    for consumer, into in fused.items():
        match = [p for key, p in by_consumer.items() if key.startswith(consumer)]
        assert match and all(p.fused_into == into for p in match), consumer
    for consumer in unfused:
        assert by_consumer[consumer].fused_into is None
    qkv = [p for p in pres if any("q_proj" in c for c in p.consumers)]
    assert len(qkv) == 1 and len(qkv[0].consumers) == 3, "Q, K and V share one table"


def test_tiling_capacity_rule():
    cfg = CoreConfig()  # table and weight fragments of 16 words
    assert block_shape(cfg, 1, 8192, 8192, 12288) == (1, 23, 32)
    assert block_shape(cfg, 2048, 8192, 8192, 12288) == (12, 12, 32)
    assert block_shape(cfg, 2, 64, 8, 12288) == (1, 1, 2)
    assert block_shape(cfg, 64, 4096, 4096, 64) == (1, 1, 2)
    with pytest.raises(
        ValueError,
        match=r"^a buffer of 64 bytes cannot hold one table fragment "
        r"\(64 bytes\) and one weight fragment \(64 bytes\)$",
    ):
        block_shape(cfg, 64, 4096, 4096, 16)  # fmt: skip


def test_group_size_errors():
    with pytest.raises(ValueError, match=r"^group size 6 is not a multiple of the table K = 4$"):
        compile_model("llama2-7b", "w2-g6")
    with pytest.raises(
        ValueError, match=r"^group size 128 does not divide K = 5460 of layers.0.mlp.down_proj$"
    ):
        compile_model("bitnet-b1.58-1.3b", "w1.58-g128")


def test_workload_errors():
    with pytest.raises(ValueError, match=r"^tokens must be a positive integer, not 0$"):
        compile_model("llama2-7b", tokens=0)
    with pytest.raises(ValueError, match=r"^context 4 must be at least the 8 tokens it includes$"):
        compile_model("llama2-7b", tokens=8, context=4)


def test_accounting():
    compiled = compile_model("llama2-7b", "w2", tokens=4, context=64)
    gemm = next(g for g in compiled.gemms() if g.name == "layers.0.mlp.down_proj")
    cost = compiled.ir.costs[gemm.name]
    program = compiled.ir.programs[gemm.program]
    assert cost.macs == 4 * 4096 * 11008
    assert cost.instructions["lmma"] == program.tile_count * 11008 // 4
    assert cost.lookups == cost.instructions["lmma"] * 2 * 64 * 2
    assert cost.dram_bytes["weights"] == 64 * 2752 * 16 * 4 * program.row_blocks
    scores = compiled.ir.costs["layers.0.self_attn.scores"]
    assert scores.flops == 2 * 4 * 32 * 64 * 128
    assert scores.dram_bytes["kv_cache"] == 64 * 32 * 128 * 2
    fused = compiled.ir.costs["layers.0.input_layernorm.precompute"]
    unfused = compiled.ir.costs["layers.0.self_attn.values.precompute"]
    assert "activations" not in fused.dram_bytes and unfused.dram_bytes["activations"] > 0
    norm = compiled.ir.costs["layers.0.input_layernorm"]
    assert norm.dram_bytes["activations"] == 4 * 4096 * 2, "a fused norm writes tables only"


def _gemms_per_layer(model, tokens: int) -> int:
    attention = 2 if model.fused_qkv else 4
    dense = (2 if model.fused_gate_up else 3) if model.gated else 2
    if not model.moe:
        return model.num_layers * (attention + dense)
    per_expert = 3 if model.gated else 2
    shared = per_expert if model.shared_expert_size else 0
    total = 0
    for index in range(sum(model.moe_layer(i) for i in range(model.num_layers))):
        active = sum(1 for m in expert_rows(model, index, tokens) if m)
        total += attention + per_expert * active + shared
    return total + (attention + dense) * len(model.dense_layers)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_compiles(name):
    compiled = compile_model(name, tokens=2)
    summary = compiled.summary()
    json.dumps(summary)
    model = load_model(name)
    assert summary["totals"]["lut_gemms"] == _gemms_per_layer(model, 2)
    assert len(summary["layers"]) == model.num_layers
    assert all(isinstance(g, LutGemm) and g.program for g in compiled.gemms())
    assert run_pipeline(compiled.ir.replace(ops=(), passes=()), compiled.cfg).ops == compiled.ir.ops


def test_moe_experts_are_grouped_gemms():
    ir = _lowered("mixtral-8x7b", tokens=5)
    experts = [op for op in ir.of_type(Linear) if op.layer == 0 and op.expert is not None]
    # 5 tokens x top-2 = 10 routed pairs over 8 experts: 2, 2, 1, 1, 1, 1, 1, 1
    assert [op.rows for op in experts if op.part == "up"] == [2, 2, 1, 1, 1, 1, 1, 1]
    names = [op.name for op in experts if op.expert == 0]
    assert names == [f"layers.0.block_sparse_moe.experts.0.{w}" for w in ("w1", "w3", "w2")]
    router = next(op for op in ir.of_type(Op) if op.kind == "router" and op.layer == 0)
    assert (router.width, router.depth, router.rows) == (8, 4096, 5)
    decode = _lowered("qwen3-30b-a3b", tokens=1)
    up = [op for op in decode.of_type(Linear) if op.layer == 0 and op.part == "up"]
    assert [(op.expert, op.rows, op.n, op.k) for op in up] == [(e, 1, 768, 2048) for e in range(8)]
    compiled = compile_model("mixtral-8x7b", tokens=5)
    pre = next(p for p in compiled.ir.of_type(Precompute)
               if "layers.0.block_sparse_moe.experts.0.w1" in p.consumers)  # fmt: skip
    assert (pre.rows, len(pre.consumers), pre.fused_into) == (
        5, 16, "layers.0.post_attention_layernorm")  # fmt: skip


def test_measured_routing_sets_expert_rows():
    model = load_model("mixtral-8x7b").replace(expert_load=((0.5, 0.3, 0.2) + (0.0,) * 5,))
    ir = lower_blocks(Module(model, QuantSpec(), Workload(10, 10)), CoreConfig())
    up = [(op.expert, op.rows) for op in ir.of_type(Linear) if op.layer == 3 and op.part == "up"]
    assert up == [(0, 10), (1, 6), (2, 4)], "experts without tokens have no GEMM"


def test_block_structures():
    def kinds(name_or_model, layer=0):
        model = load_model(name_or_model) if isinstance(name_or_model, str) else name_or_model
        ir = lower_blocks(Module(model, QuantSpec(), Workload(2, 2)), CoreConfig())
        return [op.kind for op in ir.ops if op.layer == layer and isinstance(op, Op)]

    assert kinds("gemma2-2b") == [
        "rmsnorm", "rope", "rope", "attn_scores", "softmax", "attn_values", "rmsnorm", "add",
        "rmsnorm", "geglu", "rmsnorm", "add"]  # fmt: skip
    neox = load_model("llama2-7b").replace(parallel="two-norms", norm="layernorm")
    assert kinds(neox) == ["layernorm", "layernorm", "rope", "rope", "attn_scores", "softmax",
                           "attn_values", "swiglu", "add", "add"]  # fmt: skip
    post = load_model("opt-175b").replace(norm_placement="post")
    assert kinds(post) == ["attn_scores", "softmax", "attn_values", "add", "layernorm", "relu",
                           "add", "layernorm"]  # fmt: skip
    assert kinds("qwen3-30b-a3b")[:5] == ["rmsnorm", "rmsnorm", "rmsnorm", "rope", "rope"]
    phi = {op.name: (op.n, op.k) for op in _lowered("phi3-mini").of_type(Linear) if op.layer == 0}
    assert phi == {"layers.0.self_attn.qkv_proj": (9216, 3072),
                   "layers.0.self_attn.o_proj": (3072, 3072),
                   "layers.0.mlp.gate_up_proj": (16384, 3072),
                   "layers.0.mlp.down_proj": (3072, 8192)}  # fmt: skip
    gemma = {op.name: (op.n, op.k) for op in _lowered("gemma2-2b").of_type(Linear)
             if op.layer == 0}  # fmt: skip
    assert gemma["layers.0.self_attn.q_proj"] == (2048, 2304), "head_dim 256 x 8 heads"
    assert gemma["layers.0.self_attn.o_proj"] == (2304, 2048)
