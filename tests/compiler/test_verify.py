import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lutsim.compiler.driver import compile_model
from lutsim.compiler.model import model_from_dict, preset_names
from lutsim.compiler.verify import _routes, verify
from lutsim.isa.config import CoreConfig


def _model(arch: str, heads: int, kv: int, layers: int = 3, **extra):
    data = {"architectures": [arch], "hidden_size": 32, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": 40,
            "intermediate_size": 48, "ffn_dim": 64, **extra}  # fmt: skip
    return model_from_dict(data, name=f"{arch}-{heads}h{kv}kv")


# fmt: off
SMALL = {
    "llama-gqa":  _model("LlamaForCausalLM", 4, 2),
    "llama-mqa":  _model("LlamaForCausalLM", 4, 1),
    "llama-mha":  _model("LlamaForCausalLM", 2, 2),
    "bitnet":     _model("BitnetForCausalLM", 4, 4),
    "opt-relu":   _model("OPTForCausalLM", 4, 4),
    "opt-gelu":   _model("OPTForCausalLM", 2, 2, activation_function="gelu"),
    "bloom-gelu": _model("BloomForCausalLM", 4, 4, n_inner=64),
    "qwen2-moe":  _model("Qwen2MoeForCausalLM", 4, 2, num_experts=6, num_experts_per_tok=2,
                         moe_intermediate_size=16, shared_expert_intermediate_size=32,
                         mlp_only_layers=[1]),
    "qwen3-moe":  _model("Qwen3MoeForCausalLM", 4, 1, num_experts=4, num_experts_per_tok=3,
                         moe_intermediate_size=16, head_dim=16),
    "gemma3":     _model("Gemma3ForCausalLM", 2, 1, head_dim=24),
    "neox":       _model("GPTNeoXForCausalLM", 4, 4, hidden_act="gelu", rotary_pct=0.5),
    "falcon":     _model("FalconForCausalLM", 4, 4, multi_query=True, bias=True),
    "falcon-new": _model("FalconForCausalLM", 4, 4, new_decoder_architecture=True, num_kv_heads=2),
    "opt-post":   _model("OPTForCausalLM", 4, 4, do_layer_norm_before=False),
    "phi3":       _model("Phi3ForCausalLM", 4, 2),
}
EXACT = [  # (model, quantization, core changes)
    ("llama-gqa", "w2", {}),
    ("llama-mqa", "w4-g16", {"table_regs": 3, "acc_regs": 1}),
    ("llama-mha", "w3-int16", {"m": 1, "n": 8}),
    ("bitnet", "w1.58", {}),
    ("opt-relu", "w1", {"n": 16, "symmetrize": False}),
    ("opt-gelu", "w2-g8", {"k": 2, "n": 32}),
    ("bloom-gelu", "w4", {"m": 3, "n": 16}),
    ("qwen2-moe", "w2", {}),
    ("qwen3-moe", "w4-g16", {"n": 16}),
    ("gemma3", "w3", {}),
    ("neox", "w2-g16", {}),
    ("falcon", "w1", {}),
    ("falcon-new", "w4", {"m": 1}),
    ("opt-post", "w2", {}),
    ("phi3", "w2", {}),
]
FLOAT = [
    ("llama-gqa", "w2-fp16", {}),
    ("llama-mha", "w4-g16-fp16", {"act_format": "fp16", "acc_format": "fp16"}),
    ("bitnet", "w1.58-int8-int8table", {}),
    ("opt-relu", "w2-fp8_e4m3", {}),
    ("bloom-gelu", "w3-fp16-int8table", {"n": 16}),
    ("opt-gelu", "w2-fp8_e5m2", {"act_format": "fp8_e5m2", "table_format": "fp32"}),
    ("qwen2-moe", "w4-g16-fp16", {}),
    ("neox", "w2-fp16-int8table", {}),
]
# fmt: on


@pytest.mark.parametrize(
    ("model", "quant", "changes"), EXACT, ids=[f"{m}-{q}" for m, q, _ in EXACT]
)
def test_exact_paths_equal_the_reference(model, quant, changes):
    result = verify(SMALL[model], quant, CoreConfig(**changes), tiny=False, seed=len(quant))
    assert result.exact and result.bound == 0.0
    assert np.array_equal(result.logits, result.reference), f"residual {result.residual}"
    assert all(g.acc_mismatches == 0 and g.algorithm_mismatches == 0 for g in result.gemms)
    assert result.ok, result.report()
    assert result.gemms and all(g.instructions > 0 for g in result.gemms)


@pytest.mark.parametrize(
    ("model", "quant", "changes"), FLOAT, ids=[f"{m}-{q}" for m, q, _ in FLOAT]
)
def test_float_paths_within_bound(model, quant, changes):
    result = verify(SMALL[model], quant, CoreConfig(**changes), tiny=False, seed=3)
    assert not result.exact and result.bound is None
    assert result.golden_residual == 0.0, "compiled logits != golden LUT-algorithm logits"
    for gemm in result.gemms:
        assert gemm.within_bound, f"{gemm.name}: {gemm.residual:.3e} > bound {gemm.bound:.3e}"
        assert gemm.algorithm_mismatches == 0
    assert result.ok, result.report()
    assert 0 < result.residual < 0.5 * np.abs(result.reference).max()


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_verifies_tiny(name):
    result = verify(name)
    assert result.ok and result.residual == 0.0, result.report()
    assert result.model.hidden_size == 64 and result.model.num_layers == 2


def test_tiny_shrinks_group_size_and_report():
    result = verify("llama2-7b", "w2-g128-fp16")
    assert result.quant.group_size == 32 and result.ok
    line = result.report()
    assert line.startswith("llama2-7b-tiny (2 layers, hidden 64, 8 tokens) w2-g32-fp16 ")
    assert line.endswith(": ok")
    assert result.summary()["gemm_failures"] == []


def test_a_wrong_program_is_caught(monkeypatch):
    """Swapping two GEMMs' packed weights breaks both the GEMM checks and the logits."""
    from lutsim.compiler import driver

    original = driver._pack

    def swapped(cfg, ir, quant, weights):
        packed = original(cfg, ir, quant, weights)
        q, o = "layers.0.self_attn.q_proj", "layers.0.self_attn.o_proj"
        packed[q], packed[o] = (
            dataclasses.replace(packed[q], words=packed[o].words),
            dataclasses.replace(packed[o], words=packed[q].words),
        )
        return packed  # fmt: skip

    monkeypatch.setattr(driver, "_pack", swapped)
    result = verify(SMALL["llama-mha"], "w2", tiny=False)
    assert not result.ok and result.residual > 0
    assert {g.name for g in result.gemms if not g.ok} == {
        "layers.0.self_attn.q_proj", "layers.0.self_attn.o_proj"}  # fmt: skip


@given(tokens=st.integers(1, 40), experts=st.integers(2, 12), data=st.data())
@settings(max_examples=40, deadline=None)
def test_routing_realizes_the_compiled_rows(tokens, experts, data):
    """Every token gets k different experts and every expert exactly its compiled rows."""
    top = data.draw(st.integers(1, experts))
    model = SMALL["qwen3-moe"].replace(num_experts=experts, experts_per_token=top, num_layers=1,
                                       dense_layers=())  # fmt: skip
    weights = data.draw(st.lists(st.integers(0, 5), min_size=experts, max_size=experts))
    shares = [w / sum(weights) for w in weights] if sum(weights) else []
    if shares and max(shares) <= 1 / top:
        model = model.replace(expert_load=(tuple(shares),))
    compiled = compile_model(model, "w2", tokens=tokens)
    (route,) = _routes(compiled, tokens).values()
    assert route.picks.shape == (tokens, top)
    assert all(len(set(row)) == top for row in route.picks.tolist())
    rows = {g.expert: g.rows for g in compiled.gemms() if g.expert is not None}
    for e in range(experts):
        assert len(route.tokens[e]) == rows.get(e, 0) == int((route.picks == e).sum())


def test_full_size_verify_is_refused_beyond_the_budget():
    with pytest.raises(ValueError, match=r"^verifying llama2-7b needs about 197\.\d GiB of memory, "
                       r"more than the budget of 8\.0 GiB; add --tiny to verify a shrunk model "
                       r"\(seconds\), or raise --max-memory$"):  # fmt: skip
        verify("llama2-7b", tiny=False, max_bytes=8 << 30)
    result = verify("llama2-7b", tiny=True, max_bytes=8 << 30)
    assert result.ok
