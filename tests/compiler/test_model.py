import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lutsim.compiler.model import (
    FAMILIES,
    MODELS_DIR,
    describe_from_dict,
    load_model,
    model_from_dict,
    preset_names,
    tiny,
    with_expert_load,
)
from lutsim.compiler.passes import expert_rows

# fmt: off
PUBLISHED = {  # name: (hidden, intermediate, layers, heads, kv heads, vocab, mlp, source)
    "llama2-7b":         (4096, 11008, 32, 32, 32, 32000, "swiglu", "meta-llama/Llama-2-7b-hf"),
    "llama2-13b":        (5120, 13824, 40, 40, 40, 32000, "swiglu", "meta-llama/Llama-2-13b-hf"),
    "llama2-70b":        (8192, 28672, 80, 64, 8, 32000, "swiglu", "meta-llama/Llama-2-70b-hf"),
    "llama3-8b":         (4096, 14336, 32, 32, 8, 128256, "swiglu", "meta-llama/Meta-Llama-3-8B"),
    "bitnet-b1.58-700m": (1536, 4096, 24, 16, 16, 32002, "swiglu", "1bitLLM/bitnet_b1_58-large"),
    "bitnet-b1.58-1.3b": (2048, 5460, 24, 32, 32, 32002, "swiglu", "1bitLLM/bitnet_b1_58-xl"),
    "bitnet-b1.58-3b":   (3200, 8640, 26, 32, 32, 32002, "swiglu", "1bitLLM/bitnet_b1_58-3B"),
    "opt-175b":          (12288, 49152, 96, 96, 96, 50272, "relu", "facebook/opt-175b"),
    "bloom-176b":        (14336, 57344, 70, 112, 112, 250880, "gelu", "bigscience/bloom"),
    "llama3.2-1b":       (2048, 8192, 16, 32, 8, 128256, "swiglu", "meta-llama/Llama-3.2-1B"),
    "mistral-7b":        (4096, 14336, 32, 32, 8, 32000, "swiglu", "mistralai/Mistral-7B"),
    "mixtral-8x7b":      (4096, 14336, 32, 32, 8, 32000, "swiglu", "mistralai/Mixtral-8x7B"),
    "qwen2.5-7b":        (3584, 18944, 28, 28, 4, 152064, "swiglu", "Qwen/Qwen2.5-7B"),
    "qwen3-30b-a3b":     (2048, 768, 48, 32, 4, 151936, "swiglu", "Qwen/Qwen3-30B-A3B"),
    "gemma2-2b":         (2304, 9216, 26, 8, 4, 256000, "geglu", "google/gemma-2-2b"),
    "phi3-mini":         (3072, 8192, 32, 32, 32, 32064, "swiglu", "microsoft/Phi-3-mini-4k"),
    "pythia-12b":        (5120, 20480, 36, 40, 40, 50688, "gelu", "EleutherAI/pythia-12b"),
    "qwen1.5-moe-a2.7b": (2048, 5632, 24, 16, 16, 151936, "swiglu", "Qwen/Qwen1.5-MoE-A2.7B"),
}
# fmt: on
SUPPORTED = (
    "supported: BitnetForCausalLM, BloomForCausalLM, FalconForCausalLM, GPTNeoXForCausalLM, "
    "Gemma2ForCausalLM, Gemma3ForCausalLM, GemmaForCausalLM, LlamaForCausalLM, MistralForCausalLM, "
    "MixtralForCausalLM, OPTForCausalLM, Phi3ForCausalLM, Qwen2ForCausalLM, Qwen2MoeForCausalLM, "
    "Qwen3ForCausalLM, Qwen3MoeForCausalLM; or describe the model's shapes in a YAML file "
    "(README: compile, 'Describing a model')"
)
BASE = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "vocab_size": 100,
}  # fmt: skip


def test_every_preset_is_listed():
    assert sorted(PUBLISHED) == [n for n in preset_names() if n != "openllama-3b"]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_has_published_shape(name):
    model = load_model(name)
    hidden, inter, layers, heads, kv, vocab, mlp, source = PUBLISHED[name]
    got = (model.hidden_size, model.intermediate_size, model.num_layers, model.num_heads,
           model.num_kv_heads, model.vocab_size, model.mlp)  # fmt: skip
    assert got == (hidden, inter, layers, heads, kv, vocab, mlp)
    assert model.source.startswith(source), f"{model.source!r} does not name {source!r}"
    assert model.name == name


def test_architecture_facts():
    assert load_model("llama2-70b").attention == "GQA"
    assert load_model("llama2-7b").attention == "MHA"
    bitnet = load_model("bitnet-b1.58-700m")
    assert (bitnet.family, bitnet.sub_norm, bitnet.norm) == ("bitnet", True, "rmsnorm")
    bloom = load_model("bloom-176b")
    assert (bloom.norm, bloom.positions, bloom.bias, bloom.fused_qkv, bloom.tie_embeddings) == (
        "layernorm", "alibi", True, True, True)  # fmt: skip
    assert load_model("opt-175b").positions == "learned"
    assert load_model("llama3-8b").rope_theta == 500000.0
    small = load_model("llama3.2-1b")
    assert (small.head_dim, small.tie_embeddings, small.qkv_bias) == (64, True, False)
    qwen = load_model("qwen2.5-7b")
    assert (qwen.qkv_bias, qwen.o_bias, qwen.head_dim, qwen.norm_eps) == (True, False, 128, 1e-6)
    mixtral = load_model("mixtral-8x7b")
    assert (mixtral.num_experts, mixtral.experts_per_token, mixtral.expert_size) == (8, 2, 14336)
    assert mixtral.dense_layers == () and mixtral.moe_layer(31)
    moe = load_model("qwen3-30b-a3b")
    assert (moe.num_experts, moe.experts_per_token, moe.expert_size, moe.head_dim) == (
        128, 8, 768, 128)  # fmt: skip
    assert moe.qk_norm and moe.shared_expert_size == 0 and moe.attention == "GQA"
    gemma = load_model("gemma2-2b")
    assert (gemma.head_dim, gemma.norm_placement, gemma.embed_scale, gemma.tie_embeddings) == (
        256, "sandwich", True, True)  # fmt: skip
    pythia = load_model("pythia-12b")
    assert (pythia.parallel, pythia.rotary_dim, pythia.fused_qkv, pythia.qkv_bias) == (
        "two-norms", 32, True, True)  # fmt: skip
    qmoe = load_model("qwen1.5-moe-a2.7b")
    assert (qmoe.num_experts, qmoe.experts_per_token, qmoe.expert_size) == (60, 4, 1408)
    assert (qmoe.shared_expert_size, qmoe.shared_expert_gate, qmoe.qkv_bias) == (5632, True, True)
    phi = load_model("phi3-mini")
    assert (phi.fused_qkv, phi.fused_gate_up, phi.head_dim) == (True, True, 96)


# fmt: off
FAMILY_CONFIGS = {  # architecture: (extra config.json keys, expected ModelConfig fields)
    "LlamaForCausalLM":    ({"attention_bias": True}, {"qkv_bias": True, "o_bias": True}),
    "MistralForCausalLM":  ({"head_dim": 32}, {"head_dim": 32, "mlp": "swiglu"}),
    "MixtralForCausalLM":  ({"num_local_experts": 8, "num_experts_per_tok": 2},
                            {"num_experts": 8, "experts_per_token": 2, "expert_size": 128}),
    "Qwen2ForCausalLM":    ({}, {"qkv_bias": True, "o_bias": False}),
    "Qwen2MoeForCausalLM": ({"num_experts": 6, "num_experts_per_tok": 2,
                             "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64,
                             "decoder_sparse_step": 1, "mlp_only_layers": [1]},
                            {"shared_expert_size": 64, "shared_expert_gate": True,
                             "dense_layers": (1,), "expert_size": 32}),
    "Qwen3ForCausalLM":    ({"head_dim": 8}, {"qk_norm": True, "head_dim": 8}),
    "Qwen3MoeForCausalLM": ({"num_experts": 4, "num_experts_per_tok": 2,
                             "moe_intermediate_size": 32, "decoder_sparse_step": 2},
                            {"qk_norm": True, "dense_layers": (0,), "num_experts": 4}),
    "GemmaForCausalLM":    ({"hidden_act": "gelu"}, {"mlp": "geglu", "embed_scale": True,
                                                      "tie_embeddings": True}),
    "Gemma2ForCausalLM":   ({"hidden_activation": "gelu_pytorch_tanh"},
                            {"mlp": "geglu", "norm_placement": "sandwich"}),
    "Gemma3ForCausalLM":   ({}, {"qk_norm": True, "norm_placement": "sandwich"}),
    "Phi3ForCausalLM":     ({}, {"fused_qkv": True, "fused_gate_up": True}),
    "GPTNeoXForCausalLM":  ({"hidden_act": "gelu", "rotary_pct": 0.25},
                            {"mlp": "gelu", "parallel": "two-norms", "rotary_fraction": 0.25,
                             "norm": "layernorm", "qkv_bias": True, "fused_qkv": True}),
    "FalconForCausalLM":   ({"multi_query": True, "parallel_attn": True},
                            {"num_kv_heads": 1, "parallel": "shared-norm", "mlp": "gelu",
                             "qkv_bias": False}),
    "OPTForCausalLM":      ({"do_layer_norm_before": False},
                            {"norm_placement": "post", "positions": "learned", "mlp": "relu"}),
    "BloomForCausalLM":    ({}, {"positions": "alibi", "embed_norm": True, "mlp": "gelu"}),
    "BitnetForCausalLM":   ({}, {"sub_norm": True}),
}
# fmt: on


def test_every_family_has_a_case():
    assert sorted(FAMILY_CONFIGS) == sorted(FAMILIES)


@pytest.mark.parametrize("arch", sorted(FAMILY_CONFIGS))
def test_family_reads_its_config(arch):
    extra, expected = FAMILY_CONFIGS[arch]
    model = model_from_dict({**BASE, "architectures": [arch], **extra}, "config.json")
    got = {key: getattr(model, key) for key in expected}
    assert got == expected
    assert (model.hidden_size, model.num_layers, model.family) == (64, 2, FAMILIES[arch].name)


def test_published_falcon_7b_config():
    """tiiuae/falcon-7b-instruct's config.json (huggingface.co/tiiuae/falcon-7b-instruct,
    refs/pr/126), and the older RWForCausalLM form of tiiuae/falcon-7b's (n_head, n_layer)."""
    data = {"alibi": False, "architectures": ["FalconForCausalLM"], "bias": False,
            "hidden_size": 4544, "layer_norm_epsilon": 1e-05, "model_type": "falcon",
            "multi_query": True, "new_decoder_architecture": False, "num_attention_heads": 71,
            "num_hidden_layers": 32, "parallel_attn": True, "vocab_size": 65024}  # fmt: skip
    old = {**{k: v for k, v in data.items() if k not in ("num_attention_heads",
                                                          "num_hidden_layers")},
           "architectures": ["RWForCausalLM"], "model_type": "RefinedWebModel", "n_head": 71,
           "n_layer": 32}  # fmt: skip
    for config in (data, old):
        model = model_from_dict(config)
        got = (model.family, model.hidden_size, model.num_heads, model.num_kv_heads, model.head_dim,
               model.intermediate_size, model.parallel, model.bias, model.positions)  # fmt: skip
        assert got == ("falcon", 4544, 71, 1, 64, 18176, "shared-norm", False, "rope")


def test_falcon_new_decoder_architecture():
    model = model_from_dict({**BASE, "architectures": ["FalconForCausalLM"],
                             "new_decoder_architecture": True, "num_kv_heads": 2,
                             "ffn_hidden_size": None})  # fmt: skip
    assert (model.num_kv_heads, model.parallel) == (2, "two-norms")


def test_gemma3_multimodal_config_reads_its_text_config():
    text = {k: v for k, v in BASE.items() if k != "architectures"}
    model = model_from_dict({"architectures": ["Gemma3ForConditionalGeneration"],
                             "text_config": {**text, "head_dim": 32}})  # fmt: skip
    assert (model.family, model.head_dim, model.qk_norm) == ("gemma3", 32, True)


def test_model_description(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("hidden_size: 96\nintermediate_size: 160\nnum_layers: 3\nnum_heads: 4\n"
                    "num_kv_heads: 2\nvocab_size: 50\nmlp: geglu\nhead_dim: 32\n"
                    "qkv_bias: true\nparallel: two-norms\nnum_experts: 4\n"
                    "experts_per_token: 2\nexpert_size: 32\ndense_layers: [0]\n")  # fmt: skip
    model = load_model(path)
    assert (model.name, model.family, model.head_dim, model.parallel) == (
        "mine", "custom", 32, "two-norms")  # fmt: skip
    assert (model.moe_layer(0), model.moe_layer(1), model.qkv_bias) == (False, True, True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"hidden_size": 64}, "m.yaml: missing key 'intermediate_size'"),
        ({**dict(hidden_size=64, intermediate_size=64, num_layers=1, num_heads=4, num_kv_heads=4,
                 vocab_size=9, mlp="swiglu"), "heads": 4},
         "m.yaml: unknown key 'heads'; known: dense_layers, embed_norm, embed_scale, "
         "expert_load, expert_size, experts_per_token, fused_gate_up, fused_qkv, head_dim, "
         "hidden_size, intermediate_size, max_positions, mlp, mlp_bias, name, norm, norm_eps, "
         "norm_placement, num_experts, num_heads, num_kv_heads, num_layers, o_bias, parallel, "
         "positions, qk_norm, qkv_bias, rope_theta, rotary_fraction, shared_expert_gate, "
         "shared_expert_size, source, sub_norm, tie_embeddings, vocab_size"),
        ({**dict(hidden_size=64, intermediate_size=64, num_layers=1, num_heads=4, num_kv_heads=4,
                 vocab_size=9, mlp="swish")},
         "m.yaml: 'mlp' must be one of swiglu, geglu, gelu, relu, not \"swish\""),
        ({**dict(hidden_size=64, intermediate_size=64, num_layers=1, num_heads=4, num_kv_heads=4,
                 vocab_size=9, mlp="relu", num_experts=4)},
         "m.yaml: a mixture of experts needs experts_per_token and expert_size"),
        ([1], "m.yaml: a model description must be a mapping, not an array"),
    ],
)  # fmt: skip
def test_bad_description(data, message):
    with pytest.raises(ValueError, match=r"^" + __import__("re").escape(message) + r"$"):
        describe_from_dict(data, "m.yaml")


@given(tokens=st.integers(1, 300), experts=st.integers(1, 64), data=st.data())
def test_expert_rows_split_every_pair(tokens, experts, data):
    top = data.draw(st.integers(1, experts))
    model = load_model("mixtral-8x7b").replace(num_experts=experts, experts_per_token=top)
    rows = expert_rows(model, 0, tokens)
    assert sum(rows) == tokens * top and max(rows) <= tokens and max(rows) - min(rows) <= 1
    weights = data.draw(st.lists(st.integers(1, 9), min_size=experts, max_size=experts))
    shares = [w / sum(weights) for w in weights]
    if max(shares) <= 1 / top:
        measured = model.replace(expert_load=(tuple(shares),))
        rows = expert_rows(measured, 0, tokens)
        assert sum(rows) == tokens * top and max(rows) <= tokens
        assert all(abs(r - s * tokens * top) < 1 for r, s in zip(rows, shares, strict=True))


def test_routing_file_errors():
    model = load_model("mixtral-8x7b")
    good = with_expert_load(model, {"expert_load": [0.125] * 8}, "r.yaml")
    assert good.expert_load == ((0.125,) * 8,)
    cases = [
        ({"load": []}, "r.yaml: a routing file holds one key, 'expert_load'"),
        ({"expert_load": [0.5] * 2}, "r.yaml: expert_load lists need 8 shares, not 2"),
        ({"expert_load": [0.1] * 8}, "r.yaml: expert_load shares must be >= 0 and add up to 1"),
        ({"expert_load": [0.58] + [0.06] * 7},
         "r.yaml: an expert share of 0.58 is more than 1/2 (each token picks 2 different experts)"),
        ({"expert_load": [[0.125] * 8] * 3},
         "r.yaml: expert_load has 3 lists; give 1 or one per MoE layer (32)"),
    ]  # fmt: skip
    for data, message in cases:
        with pytest.raises(ValueError) as info:
            with_expert_load(model, data, "r.yaml")
        assert str(info.value) == message
    with pytest.raises(ValueError, match=r"^r.yaml: llama2-7b has no mixture of experts to route$"):
        with_expert_load(load_model("llama2-7b"), {"expert_load": [1.0]}, "r.yaml")


def test_config_json_file(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**BASE, "num_key_value_heads": 2}))
    model = load_model(folder / "config.json")
    assert (model.name, model.num_kv_heads, model.head_dim) == ("my-model", 2, 16)


def test_aliases_and_defaults():
    bloom = model_from_dict({"model_type": "bloom", "n_embed": 64, "n_layer": 2, "n_head": 4,
                             "vocab_size": 10})  # fmt: skip
    assert (bloom.hidden_size, bloom.intermediate_size, bloom.num_kv_heads) == (64, 256, 4)
    opt = model_from_dict({"model_type": "opt", "hidden_size": 64, "ffn_dim": 96,
                           "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 9,
                           "activation_function": "gelu"})  # fmt: skip
    assert (opt.intermediate_size, opt.mlp) == (96, "gelu")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "config.json: a model config must be a JSON object, not an array"),
        ({**BASE, "architectures": ["GPT2LMHeadModel"]},
         "config.json: unsupported architecture 'GPT2LMHeadModel'; " + SUPPORTED),
        ({k: v for k, v in BASE.items() if k != "architectures"} | {"model_type": "gpt2"},
         'config.json: unsupported model_type "gpt2"; ' + SUPPORTED),
        ({k: v for k, v in BASE.items() if k != "architectures"},
         "config.json: missing key 'architectures' (or 'model_type')"),
        ({**BASE, "architectures": []}, "config.json: 'architectures' must be a list of names, not []"),
        ({k: v for k, v in BASE.items() if k != "hidden_size"}, "config.json: missing key 'hidden_size'"),
        ({k: v for k, v in BASE.items() if k != "intermediate_size"},
         "config.json: missing key 'intermediate_size'"),
        ({**BASE, "hidden_size": "64"}, "config.json: 'hidden_size' must be a positive integer, not \"64\""),
        ({**BASE, "hidden_size": True}, "config.json: 'hidden_size' must be a positive integer, not true"),
        ({**BASE, "num_hidden_layers": 0}, "config.json: 'num_hidden_layers' must be a positive integer, not 0"),
        ({**BASE, "num_attention_heads": 5}, "config.json: hidden_size 64 is not divisible by num_attention_heads 5"),
        ({**BASE, "num_key_value_heads": 3},
         "config.json: num_attention_heads 4 is not divisible by num_key_value_heads 3"),
        ({**BASE, "hidden_size": 60}, "config.json: head size 15 must be even for rotary positions"),
        ({**BASE, "hidden_act": "relu"},
         "config.json: LlamaForCausalLM needs hidden_act 'silu' or 'swish' or 'gelu' or "
         "'gelu_pytorch_tanh' or 'gelu_new', not \"relu\""),
        ({**BASE, "architectures": ["MixtralForCausalLM"], "num_local_experts": 2,
          "num_experts_per_tok": 3},
         "config.json: num_experts_per_tok 3 is more than the 2 experts"),
        ({**BASE, "rms_norm_eps": -1}, "config.json: 'rms_norm_eps' must be a positive number, not -1"),
    ],
)  # fmt: skip
def test_bad_config(data, message):
    with pytest.raises(ValueError) as info:
        model_from_dict(data, "config.json")
    assert str(info.value) == message


def test_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hidden_size": 1,}')
    cases = [
        (bad, "bad.json: invalid JSON: Expecting property name enclosed in double quotes "
              "(at line 1, column 19)"),
        ("nope", "unknown model 'nope': not a preset, a JSON config or a YAML description; "
                 "presets: " + ", ".join(preset_names())),
        (tmp_path / "none.json",
         f"cannot read model file '{tmp_path / 'none.json'}': No such file or directory"),
    ]  # fmt: skip
    for name, message in cases:
        with pytest.raises(ValueError) as info:
            load_model(name)
        assert str(info.value) == message


def test_tiny_rule():
    # fmt: off
    expected = {  # name: (kv heads, intermediate)
        "llama2-7b": (4, 160), "llama2-70b": (1, 224), "llama3-8b": (1, 224),
        "bitnet-b1.58-1.3b": (4, 160), "opt-175b": (4, 256), "bloom-176b": (4, 256),
        "gemma2-2b": (2, 256), "qwen3-30b-a3b": (1, 32),
    }
    # fmt: on
    for name, (kv, inter) in expected.items():
        small = tiny(load_model(name))
        assert (small.hidden_size, small.num_heads, small.num_layers, small.vocab_size) == (
            64, 4, 2, 128)  # fmt: skip
        assert (small.num_kv_heads, small.intermediate_size) == (kv, inter), name
        assert small.architecture == load_model(name).architecture
        assert small.head_dim == 16
    moe = tiny(load_model("qwen3-30b-a3b"))
    assert (moe.num_experts, moe.experts_per_token, moe.expert_size) == (8, 4, 32)


# ---- files that must not be read as they are ----------------------------------------------------
def _llama(tmp_path, name="config.json", **changes):
    data = json.loads((MODELS_DIR / "llama2-7b.json").read_text())
    data.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_absurd_layer_count_is_refused_up_front(tmp_path):
    path = _llama(tmp_path, num_hidden_layers=10**9)
    with pytest.raises(ValueError, match=r"^config\.json: 1000000000 layers is more than the "
                       r"compiler's limit of 10,000 \(published models have a few hundred at most\)$"):  # fmt: skip
        load_model(path)


def test_duplicate_keys_are_refused(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "hidden_size": 8}')
    with pytest.raises(
        ValueError, match=r"^config\.json: invalid JSON: duplicate key 'hidden_size'$"
    ):
        load_model(path)
    described = tmp_path / "model.yaml"
    described.write_text("hidden_size: 64\nhidden_size: 8\n")
    with pytest.raises(ValueError, match=r"^model\.yaml: invalid YAML: duplicate key 'hidden_size' \(at line 2, column 1\)$"):  # fmt: skip
        load_model(described)


def test_fifo_is_not_read(tmp_path):
    import os

    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(
        ValueError, match=r"^cannot read model file '.*config\.json': not a regular file$"
    ):
        load_model(fifo)
