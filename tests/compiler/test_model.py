import json

import pytest

from lutsim.compiler.model import load_model, model_from_dict, preset_names, tiny

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
}
# fmt: on
BASE = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "vocab_size": 100,
}  # fmt: skip


def test_every_preset_is_listed():
    assert sorted(PUBLISHED) == preset_names()


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
    assert (bitnet.family, bitnet.arch.sub_norm, bitnet.norm) == ("bitnet", True, "rmsnorm")
    bloom = load_model("bloom-176b")
    assert (bloom.norm, bloom.positions, bloom.bias, bloom.arch.fused_qkv) == (
        "layernorm", "alibi", True, True)  # fmt: skip
    assert load_model("opt-175b").positions == "learned"
    assert load_model("llama3-8b").rope_theta == 500000.0


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
         "config.json: unsupported architecture 'GPT2LMHeadModel'; supported: BitnetForCausalLM, "
         "BloomForCausalLM, LlamaForCausalLM, OPTForCausalLM"),
        ({k: v for k, v in BASE.items() if k != "architectures"} | {"model_type": "gpt2"},
         'config.json: unsupported model_type "gpt2"; supported: bitnet, bloom, llama, opt'),
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
        ({**BASE, "hidden_act": "gelu"}, 'config.json: LlamaForCausalLM needs hidden_act "silu", not "gelu"'),
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
        ("nope", "unknown model 'nope': not a preset name or a JSON file"),
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
    }
    # fmt: on
    for name, (kv, inter) in expected.items():
        small = tiny(load_model(name))
        assert (small.hidden_size, small.num_heads, small.num_layers, small.vocab_size) == (
            64, 4, 2, 128)  # fmt: skip
        assert (small.num_kv_heads, small.intermediate_size) == (kv, inter), name
        assert small.architecture == load_model(name).architecture
