"""Decoder-only transformers as one generic description: :class:`ModelConfig`.

A :class:`ModelConfig` says everything the compiler needs of a decoder: its sizes and how each
block is built. It is read from a Hugging Face ``config.json`` (a preset in ``compiler/models/``
or any file) through the family table :data:`FAMILIES`, or from a **model description** (a small
YAML file naming the fields below directly), by :func:`load_model`; one check turns every problem
into a one-line ``ValueError``. Adding a family is one :class:`Family` entry: fixed structure,
default values and, where a family's ``config.json`` needs it, a small ``read`` function.

Fields of the description (all but the first eight have defaults)
------------------------------------------------------------------
===================== ======================================================================
hidden_size           model width
intermediate_size     dense MLP width (per branch of a gated MLP)
num_layers            decoder blocks
num_heads             query heads
num_kv_heads          key/value heads (MHA = num_heads, GQA fewer, MQA 1)
vocab_size            vocabulary (the LM head's N)
mlp                   ``swiglu`` | ``geglu`` (gated: gate and up, ``act(gate) * up``), ``gelu``,
                      ``relu`` (one up projection)
name                  a label
head_dim              size of one head (default ``hidden_size / num_heads``)
norm                  ``rmsnorm`` | ``layernorm``
norm_placement        ``pre`` (before each sublayer), ``post`` (after each residual add),
                      ``sandwich`` (before each sublayer and on its output)
parallel              ``none``; ``shared-norm`` (attention and MLP read one norm of the same
                      input, Falcon-7B); ``two-norms`` (each its own norm, GPT-NeoX, Falcon-40B)
positions             ``rope`` | ``alibi`` | ``learned``; ``rotary_fraction`` (of head_dim,
                      partial rotary) and ``rope_theta``
qkv_bias, o_bias,     biases of the q/k/v projections, of the output projection, of the MLP
mlp_bias
qk_norm               an RMSNorm over each head of q and k before the rotary embedding
fused_qkv,            one q|k|v projection (``qkv``), one gate|up projection (``gate_up``)
fused_gate_up
sub_norm              BitNet's sub-LN: a norm before o_proj and before down_proj
embed_norm            a norm after the embedding (BLOOM)
embed_scale           embeddings multiplied by ``sqrt(hidden_size)`` (Gemma)
tie_embeddings        the LM head is the embedding matrix
num_experts           mixture of experts: routed experts per MoE layer (0: dense model)
experts_per_token     top-k
expert_size           one expert's intermediate size
shared_expert_size    intermediate size of the always-on shared expert (0: none)
shared_expert_gate    a sigmoid gate on the shared expert (Qwen2-MoE)
dense_layers          layers of an MoE model that keep the dense MLP
expert_load           measured routing: the share of routed (token, expert) pairs each expert
                      receives, one list for every MoE layer or one per MoE layer (default:
                      uniform); see :func:`lutsim.compiler.passes.expert_rows`
norm_eps, max_positions, source
===================== ======================================================================

Families (the first entry of ``architectures``; else ``model_type``)
--------------------------------------------------------------------
See :data:`FAMILIES`: Llama 2/3.x, Mistral, Mixtral, Qwen2/2.5, Qwen2-MoE, Qwen3, Qwen3-MoE,
Gemma, Gemma 2, Gemma 3, Phi-3, GPT-NeoX/Pythia, Falcon, OPT, BLOOM and BitNet b1.58. Keys read
are the families' own (``hidden_size`` or ``n_embed``, ``intermediate_size`` or ``ffn_dim``/
``n_inner``/``ffn_hidden_size``, ``num_key_value_heads`` or ``num_kv_heads``, ``head_dim``,
``hidden_act``/``hidden_activation``/``activation_function``, ``attention_bias``, ``mlp_bias``,
``tie_word_embeddings``, ``num_local_experts``/``num_experts``, ``num_experts_per_tok``,
``moe_intermediate_size``, ``shared_expert_intermediate_size``, ``decoder_sparse_step``,
``mlp_only_layers``, ...); other keys are ignored (``config.json`` files carry many).
Not modelled: sliding-window attention (attention is costed over the whole context), logit
soft-capping, rope scaling; they change no GEMM shape.

A model description (YAML) is checked against the field table: unknown keys are errors::

    name: my-decoder
    hidden_size: 2048
    intermediate_size: 5632
    num_layers: 22
    num_heads: 32
    num_kv_heads: 4
    vocab_size: 32000
    mlp: swiglu
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lutsim.isa._io import not_regular
from lutsim.isa.config import _strict_yaml_loader

__all__ = [
    "FAMILIES",
    "MODELS_DIR",
    "Family",
    "ModelConfig",
    "describe_from_dict",
    "load_model",
    "model_from_dict",
    "module_names",
    "preset_names",
    "tiny",
]

MODELS_DIR = Path(__file__).resolve().parent / "models"
MLPS = ("swiglu", "geglu", "gelu", "relu")
GATED = ("swiglu", "geglu")
NORMS = ("rmsnorm", "layernorm")
PLACEMENTS = ("pre", "post", "sandwich")
PARALLEL = ("none", "shared-norm", "two-norms")
POSITIONS = ("rope", "alibi", "learned")
DESCRIBE_HINT = (
    "or describe the model's shapes in a YAML file (README: compile, 'Describing a model')"
)


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer: sizes and block structure (see the module docstring)."""

    name: str
    architecture: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    mlp: str  # swiglu | geglu | gelu | relu
    family: str = "custom"
    head_dim: int = 0  # 0: hidden_size // num_heads
    norm: str = "rmsnorm"
    norm_placement: str = "pre"
    parallel: str = "none"
    positions: str = "rope"
    rotary_fraction: float = 1.0
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    fused_qkv: bool = False
    fused_gate_up: bool = False
    sub_norm: bool = False
    embed_norm: bool = False
    embed_scale: bool = False
    tie_embeddings: bool = False
    num_experts: int = 0
    experts_per_token: int = 0
    expert_size: int = 0
    shared_expert_size: int = 0
    shared_expert_gate: bool = False
    dense_layers: tuple[int, ...] = ()
    expert_load: tuple[tuple[float, ...], ...] = ()
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_positions: int = 2048
    source: str = ""

    def __post_init__(self):
        if self.head_dim == 0:
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_heads)

    @property
    def bias(self) -> bool:
        """Whether any linear layer has a bias."""
        return self.qkv_bias or self.o_bias or self.mlp_bias

    @property
    def gated(self) -> bool:
        return self.mlp in GATED

    @property
    def kv_size(self) -> int:
        """Width of the key (and of the value) projection: KV heads x head dim."""
        return self.num_kv_heads * self.head_dim

    @property
    def rotary_dim(self) -> int:
        """Leading dimensions of each head that get the rotary embedding (even)."""
        return 2 * int(self.head_dim * self.rotary_fraction // 2)

    @property
    def attention(self) -> str:
        """``MHA`` when every query head has its own KV head, else ``GQA`` (``MQA`` for one)."""
        if self.num_kv_heads == self.num_heads:
            return "MHA"
        return "MQA" if self.num_kv_heads == 1 else "GQA"

    @property
    def moe(self) -> bool:
        return self.num_experts > 0

    def moe_layer(self, layer: int) -> bool:
        """Whether block ``layer`` has a mixture-of-experts MLP."""
        return self.moe and layer not in self.dense_layers

    def replace(self, **changes: Any) -> ModelConfig:
        if "head_dim" not in changes and {"hidden_size", "num_heads"} & changes.keys():
            changes["head_dim"] = 0
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(bias=self.bias, attention=self.attention)
        return out


# ---- the family table ------------------------------------------------------------------------
_LLAMA_NAMES = {
    "attn_norm": "input_layernorm", "q": "self_attn.q_proj", "k": "self_attn.k_proj",
    "v": "self_attn.v_proj", "qkv": "self_attn.qkv_proj", "o": "self_attn.o_proj",
    "attn": "self_attn", "q_norm": "self_attn.q_norm", "k_norm": "self_attn.k_norm",
    "post_attn_norm": "post_attention_layernorm", "mlp_norm": "post_attention_layernorm",
    "post_mlp_norm": "post_feedforward_layernorm", "gate": "mlp.gate_proj",
    "up": "mlp.up_proj", "gate_up": "mlp.gate_up_proj", "down": "mlp.down_proj",
    "act": "mlp.act", "router": "mlp.gate", "experts": "mlp.experts",
    "shared": "mlp.shared_expert", "expert_gate": "gate_proj", "expert_up": "up_proj",
    "expert_down": "down_proj", "combine": "mlp.combine", "final_norm": "norm",
}  # fmt: skip


def _names(**changes: str) -> dict[str, str]:
    return {**_LLAMA_NAMES, **changes}


@dataclass(frozen=True)
class Family:
    """How one architecture's ``config.json`` maps onto :class:`ModelConfig`.

    ``fixed``: fields every model of the family has; ``defaults``: values of optional keys the
    family's config class defaults to; ``gated``: the MLP has gate and up projections (the
    activation key chooses SwiGLU or GeGLU) or one up projection (it chooses GELU or ReLU);
    ``read(label, data) -> fields``: family-specific keys; ``names``: module names (Hugging
    Face's) of each part, for listings and checkpoints."""

    name: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    gated: bool = True
    read: Callable[[str, dict], dict] | None = None
    names: Mapping[str, str] = field(default_factory=lambda: dict(_LLAMA_NAMES))


def _read_llama(label: str, data: dict) -> dict:
    bias = _flag(label, data, "attention_bias", False)
    return {"qkv_bias": bias, "o_bias": bias, "mlp_bias": _flag(label, data, "mlp_bias", False)}


def _read_qwen3(label: str, data: dict) -> dict:
    bias = _flag(label, data, "attention_bias", False)
    return {"qkv_bias": bias, "o_bias": bias}


def _read_moe(label: str, data: dict) -> dict:
    """Mixtral's and Qwen's MoE keys."""
    experts_key = "num_local_experts" if "num_local_experts" in data else "num_experts"
    experts = _positive_int(label, experts_key, _get(label, data, experts_key))
    top = _positive_int(label, "num_experts_per_tok", _get(label, data, "num_experts_per_tok"))
    if top > experts:
        raise ValueError(f"{label}: num_experts_per_tok {top} is more than the {experts} experts")
    out: dict[str, Any] = {"num_experts": experts, "experts_per_token": top}
    if "moe_intermediate_size" in data:
        out["expert_size"] = _positive_int(
            label, "moe_intermediate_size", data["moe_intermediate_size"]
        )
    shared = data.get("shared_expert_intermediate_size") or 0
    if shared:
        out["shared_expert_size"] = _positive_int(label, "shared_expert_intermediate_size", shared)
    step = data.get("decoder_sparse_step", 1)
    step = _positive_int(label, "decoder_sparse_step", step)
    dense = data.get("mlp_only_layers") or []
    if not isinstance(dense, list) or not all(type(i) is int and i >= 0 for i in dense):
        raise ValueError(f"{label}: 'mlp_only_layers' must be a list of layer numbers")
    layers = _lookup(label, data, "num_hidden_layers")
    out["dense_layers"] = tuple(i for i in range(layers) if i in dense or (i + 1) % step != 0)
    return out


def _read_qwen2_moe(label: str, data: dict) -> dict:
    return {**_read_moe(label, data), "shared_expert_gate": True}


def _read_mixtral(label: str, data: dict) -> dict:
    out = _read_moe(label, data)
    out["expert_size"] = _lookup(label, data, "intermediate_size")
    return out


def _read_phi3(label: str, data: dict) -> dict:
    fraction = data.get("partial_rotary_factor", 1.0)
    return {"rotary_fraction": _fraction(label, "partial_rotary_factor", fraction)}


def _read_neox(label: str, data: dict) -> dict:
    bias = _flag(label, data, "attention_bias", True)
    parallel = _flag(label, data, "use_parallel_residual", True)
    return {
        "qkv_bias": bias, "o_bias": bias, "mlp_bias": True,
        "rotary_fraction": _fraction(label, "rotary_pct", data.get("rotary_pct", 0.25)),
        "parallel": "two-norms" if parallel else "none",
    }  # fmt: skip


def _read_falcon(label: str, data: dict) -> dict:
    heads = _lookup(label, data, "num_attention_heads")
    new = _flag(label, data, "new_decoder_architecture", False)
    if new:
        kv = _positive_int(label, "num_kv_heads", data.get("num_kv_heads", heads))
    else:
        kv = 1 if _flag(label, data, "multi_query", True) else heads
    bias = _flag(label, data, "bias", False)
    parallel = "none"
    if _flag(label, data, "parallel_attn", True):
        two = new and data.get("num_ln_in_parallel_attn", 2) == 2
        parallel = "two-norms" if two else "shared-norm"
    return {
        "num_kv_heads": kv, "qkv_bias": bias, "o_bias": bias, "mlp_bias": bias,
        "positions": "alibi" if _flag(label, data, "alibi", False) else "rope",
        "parallel": parallel,
    }  # fmt: skip


def _read_opt(label: str, data: dict) -> dict:
    bias = _flag(label, data, "enable_bias", True)
    before = _flag(label, data, "do_layer_norm_before", True)
    return {"qkv_bias": bias, "o_bias": bias, "mlp_bias": bias,
            "norm_placement": "pre" if before else "post"}  # fmt: skip


_BIASED = {"qkv_bias": True, "o_bias": True, "mlp_bias": True}
_GEMMA = {"embed_scale": True}
_GEMMA2_NAMES = _names(post_attn_norm="post_attention_layernorm",
                       mlp_norm="pre_feedforward_layernorm")  # fmt: skip
_MIXTRAL_NAMES = _names(router="block_sparse_moe.gate", experts="block_sparse_moe.experts",
                        expert_gate="w1", expert_up="w3", expert_down="w2",
                        combine="block_sparse_moe.combine")  # fmt: skip
_NEOX_NAMES = _names(qkv="attention.query_key_value", o="attention.dense", attn="attention",
                     up="mlp.dense_h_to_4h", down="mlp.dense_4h_to_h", act="mlp.act",
                     final_norm="final_layer_norm")  # fmt: skip
_FALCON_NAMES = _names(attn_norm="ln_attn", mlp_norm="ln_mlp", shared_norm="input_layernorm",
                       qkv="self_attention.query_key_value", o="self_attention.dense",
                       attn="self_attention", up="mlp.dense_h_to_4h", down="mlp.dense_4h_to_h",
                       act="mlp.act", final_norm="ln_f")  # fmt: skip
_OPT_NAMES = _names(attn_norm="self_attn_layer_norm", o="self_attn.out_proj",
                    mlp_norm="final_layer_norm", up="fc1", down="fc2", act="activation_fn",
                    final_norm="decoder.final_layer_norm")  # fmt: skip
_BLOOM_NAMES = _names(qkv="self_attention.query_key_value", o="self_attention.dense",
                      attn="self_attention", up="mlp.dense_h_to_4h", down="mlp.dense_4h_to_h",
                      act="mlp.gelu_impl", final_norm="ln_f")  # fmt: skip
_BITNET_NAMES = _names()

# fmt: off
FAMILIES: dict[str, Family] = {
    "LlamaForCausalLM":    Family("llama", read=_read_llama),
    "MistralForCausalLM":  Family("mistral", read=_read_llama),
    "MixtralForCausalLM":  Family("mixtral", read=_read_mixtral, names=_MIXTRAL_NAMES),
    "Qwen2ForCausalLM":    Family("qwen2", fixed={"qkv_bias": True}),
    "Qwen2MoeForCausalLM": Family("qwen2_moe", fixed={"qkv_bias": True}, read=_read_qwen2_moe),
    "Qwen3ForCausalLM":    Family("qwen3", fixed={"qk_norm": True}, read=_read_qwen3),
    "Qwen3MoeForCausalLM": Family("qwen3_moe", fixed={"qk_norm": True},
                                  read=lambda label, d: {**_read_qwen3(label, d),
                                                         **_read_moe(label, d)}),
    "GemmaForCausalLM":    Family("gemma", fixed=_GEMMA, defaults={"tie_embeddings": True}),
    "Gemma2ForCausalLM":   Family("gemma2", fixed={**_GEMMA, "norm_placement": "sandwich"},
                                  defaults={"tie_embeddings": True}, names=_GEMMA2_NAMES),
    "Gemma3ForCausalLM":   Family("gemma3", fixed={**_GEMMA, "norm_placement": "sandwich",
                                                   "qk_norm": True},
                                  defaults={"tie_embeddings": True}, names=_GEMMA2_NAMES),
    "Phi3ForCausalLM":     Family("phi3", fixed={"fused_qkv": True, "fused_gate_up": True},
                                  read=_read_phi3),
    "GPTNeoXForCausalLM":  Family("gpt_neox", fixed={"norm": "layernorm", "fused_qkv": True},
                                  gated=False, read=_read_neox, names=_NEOX_NAMES),
    "FalconForCausalLM":   Family("falcon", fixed={"norm": "layernorm", "fused_qkv": True},
                                  defaults={"tie_embeddings": True, "mlp": "gelu"}, gated=False,
                                  read=_read_falcon, names=_FALCON_NAMES),
    "OPTForCausalLM":      Family("opt", fixed={"norm": "layernorm", "positions": "learned"},
                                  defaults={"tie_embeddings": True, "mlp": "relu"}, gated=False,
                                  read=_read_opt, names=_OPT_NAMES),
    "BloomForCausalLM":    Family("bloom", fixed={"norm": "layernorm", "positions": "alibi",
                                                  "fused_qkv": True, "embed_norm": True,
                                                  **_BIASED, "mlp": "gelu"},
                                  defaults={"tie_embeddings": True}, gated=False,
                                  names=_BLOOM_NAMES),
    "BitnetForCausalLM":   Family("bitnet", fixed={"sub_norm": True}, names=_BITNET_NAMES),
}
_MODEL_TYPES = {  # model_type -> architecture, for configs without "architectures"
    "llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "mixtral": "MixtralForCausalLM",
    "qwen2": "Qwen2ForCausalLM", "qwen2_moe": "Qwen2MoeForCausalLM", "qwen3": "Qwen3ForCausalLM",
    "qwen3_moe": "Qwen3MoeForCausalLM", "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
    "gemma3_text": "Gemma3ForCausalLM", "phi3": "Phi3ForCausalLM", "gpt_neox": "GPTNeoXForCausalLM",
    "falcon": "FalconForCausalLM", "opt": "OPTForCausalLM", "bloom": "BloomForCausalLM",
    "bitnet": "BitnetForCausalLM", "RefinedWebModel": "FalconForCausalLM",
    "RefinedWeb": "FalconForCausalLM",
}
_WRAPPERS = {"Gemma3ForConditionalGeneration": "Gemma3ForCausalLM"}  # read their text_config
_RENAMED = {"RWForCausalLM": "FalconForCausalLM"}  # Falcon's configs before transformers 4.33
_ALIASES = {             # key: names it may have in the original config files, in order
    "hidden_size":         ("hidden_size", "n_embed"),
    "num_hidden_layers":   ("num_hidden_layers", "n_layer"),
    "num_attention_heads": ("num_attention_heads", "n_head"),
    "vocab_size":          ("vocab_size",),
    "intermediate_size":   ("intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size"),
}
_GATED_ACTS = {"silu": "swiglu", "swish": "swiglu", "gelu": "geglu",
               "gelu_pytorch_tanh": "geglu", "gelu_new": "geglu"}
_PLAIN_ACTS = {"relu": "relu", "gelu": "gelu", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu",
               "gelu_fast": "gelu"}
# fmt: on


def module_names(model: ModelConfig) -> Mapping[str, str]:
    """Module names of each part of ``model`` (its family's, Llama's for a description)."""
    for family in FAMILIES.values():
        if family.name == model.family:
            return family.names
    return _LLAMA_NAMES


def preset_names() -> list[str]:
    """Names of the shipped presets (the JSON files of ``compiler/models``)."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


# ---- checks -----------------------------------------------------------------------------------
def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value read from JSON, for a message: as JSON when short, else its JSON type."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return type(value).__name__
    return text if len(text) <= 40 else _json_type(value)


def _positive_int(label: str, key: str, value: Any) -> int:
    if type(value) is not int or value < 1:
        raise ValueError(f"{label}: {key!r} must be a positive integer, not {_show(value)}")
    return value


def _number(label: str, key: str, value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{label}: {key!r} must be a positive number, not {_show(value)}")
    return float(value)


def _fraction(label: str, key: str, value: Any) -> float:
    if type(value) not in (int, float) or not 0 < value <= 1:
        raise ValueError(f"{label}: {key!r} must be a number in (0, 1], not {_show(value)}")
    return float(value)


def _flag(label: str, data: dict, key: str, default: bool) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if type(value) is not bool:
        raise ValueError(f"{label}: {key!r} must be true or false, not {_show(value)}")
    return value


def _get(label: str, data: dict, key: str) -> Any:
    if key not in data:
        raise ValueError(f"{label}: missing key {key!r}")
    return data[key]


def _lookup(label: str, data: dict, key: str) -> int:
    for name in _ALIASES[key]:
        if data.get(name) is not None:
            return _positive_int(label, name, data[name])
    raise ValueError(f"{label}: missing key {key!r}")


def _unsupported(label: str, what: str) -> ValueError:
    return ValueError(
        f"{label}: unsupported {what}; supported: {', '.join(sorted(FAMILIES))}; {DESCRIBE_HINT}"
    )


def _architecture(label: str, data: dict) -> str:
    if "architectures" in data:
        names = data["architectures"]
        if not isinstance(names, list) or not names or not isinstance(names[0], str):
            raise ValueError(
                f"{label}: 'architectures' must be a list of names, not {_show(names)}"
            )
        name = names[0]
    elif "model_type" in data:
        kind = data["model_type"]
        if kind not in _MODEL_TYPES:
            raise _unsupported(label, f"model_type {_show(kind)}")
        name = _MODEL_TYPES[kind]
    else:
        raise ValueError(f"{label}: missing key 'architectures' (or 'model_type')")
    name = _RENAMED.get(name, name)
    if name not in FAMILIES and name not in _WRAPPERS:
        raise _unsupported(label, f"architecture {name!r}")
    return name


def _mlp(label: str, name: str, family: Family, data: dict) -> str:
    if "mlp" in family.fixed:
        return family.fixed["mlp"]
    key = next((k for k in ("hidden_activation", "hidden_act", "activation_function")
                if data.get(k) is not None), None)  # fmt: skip
    if key is None:
        return family.defaults.get("mlp", "swiglu" if family.gated else "gelu")
    table = _GATED_ACTS if family.gated else _PLAIN_ACTS
    if data[key] not in table:
        raise ValueError(
            f"{label}: {name} needs {key} {' or '.join(repr(a) for a in table)}, "
            f"not {_show(data[key])}"
        )
    return table[data[key]]


MAX_LAYERS = 10_000
"""The most layers a model may have: the compiler builds every layer's operators, so a mistyped
config of 10^9 layers is refused up front instead of filling memory."""
MAX_EXPERTS = 100_000
"""The most experts per MoE layer, for the same reason."""


def _validate(label: str, model: ModelConfig) -> ModelConfig:
    """Consistency of a model's sizes (shared by config.json files and descriptions)."""
    if model.num_layers > MAX_LAYERS:
        raise ValueError(
            f"{label}: {model.num_layers} layers is more than the compiler's limit of "
            f"{MAX_LAYERS:,} (published models have a few hundred at most)"
        )
    if model.num_experts > MAX_EXPERTS:
        raise ValueError(
            f"{label}: {model.num_experts} experts is more than the compiler's limit of "
            f"{MAX_EXPERTS:,}"
        )
    heads, kv = model.num_heads, model.num_kv_heads
    if heads % kv:
        raise ValueError(
            f"{label}: num_attention_heads {heads} is not divisible by num_key_value_heads {kv}"
        )
    if model.positions == "rope" and model.rotary_fraction == 1.0 and model.head_dim % 2:
        raise ValueError(f"{label}: head size {model.head_dim} must be even for rotary positions")
    if model.moe:
        if not model.experts_per_token or not model.expert_size:
            raise ValueError(
                f"{label}: a mixture of experts needs experts_per_token and expert_size"
            )
        if model.experts_per_token > model.num_experts:
            raise ValueError(
                f"{label}: experts_per_token {model.experts_per_token} is more than the "
                f"{model.num_experts} experts"
            )
        _check_load(label, model)
    return model


def _check_load(label: str, model: ModelConfig) -> None:
    moe_layers = sum(model.moe_layer(i) for i in range(model.num_layers))
    load = model.expert_load
    if load and len(load) not in (1, moe_layers):
        raise ValueError(
            f"{label}: expert_load has {len(load)} lists; give 1 or one per MoE layer "
            f"({moe_layers})"
        )
    for row in load:
        if len(row) != model.num_experts:
            raise ValueError(
                f"{label}: expert_load lists need {model.num_experts} shares, not {len(row)}"
            )
        if any(not math.isfinite(x) or x < 0 for x in row) or abs(sum(row) - 1) > 1e-6:
            raise ValueError(f"{label}: expert_load shares must be >= 0 and add up to 1")
        if max(row) > 1 / model.experts_per_token + 1e-9:
            raise ValueError(
                f"{label}: an expert share of {max(row):g} is more than 1/{model.experts_per_token}"
                f" (each token picks {model.experts_per_token} different experts)"
            )


def model_from_dict(data: Any, label: str = "model config", name: str = "") -> ModelConfig:
    """The one check: a ``config.json`` mapping -> :class:`ModelConfig` (``label`` starts
    every error message)."""
    if not isinstance(data, dict):
        raise ValueError(f"{label}: a model config must be a JSON object, not {_json_type(data)}")
    arch = _architecture(label, data)
    if arch in _WRAPPERS:
        text = data.get("text_config")
        if not isinstance(text, dict):
            raise ValueError(f"{label}: {arch} needs a 'text_config' object")
        arch, data = _WRAPPERS[arch], {**text, "_source": data.get("_source", "")}
    family = FAMILIES[arch]
    hidden = _lookup(label, data, "hidden_size")
    layers = _lookup(label, data, "num_hidden_layers")
    heads = _lookup(label, data, "num_attention_heads")
    kv = data.get("num_key_value_heads")
    kv = heads if kv is None else _positive_int(label, "num_key_value_heads", kv)
    fields: dict[str, Any] = {
        "name": name or str(data.get("_name_or_path") or "model"),
        "architecture": arch, "family": family.name, "hidden_size": hidden,
        "num_layers": layers, "num_heads": heads, "num_kv_heads": kv,
        "vocab_size": _lookup(label, data, "vocab_size"),
        "mlp": _mlp(label, arch, family, data), "source": str(data.get("_source", "")),
    }  # fmt: skip
    fields.update({k: v for k, v in family.defaults.items() if k != "mlp"})
    fields.update({k: v for k, v in family.fixed.items() if k != "mlp"})
    if family.read is not None:
        fields.update(family.read(label, data))
    if data.get("head_dim") is not None:
        fields["head_dim"] = _positive_int(label, "head_dim", data["head_dim"])
    elif hidden % heads:
        raise ValueError(
            f"{label}: hidden_size {hidden} is not divisible by num_attention_heads {heads}"
        )
    if any(data.get(k) is not None for k in _ALIASES["intermediate_size"]):
        fields["intermediate_size"] = _lookup(label, data, "intermediate_size")
    elif arch in ("BloomForCausalLM", "FalconForCausalLM", "GPTNeoXForCausalLM"):
        fields["intermediate_size"] = 4 * hidden
    elif fields.get("num_experts") and len(fields.get("dense_layers", ())) == 0:
        fields["intermediate_size"] = fields["expert_size"]  # no layer has a dense MLP
    else:
        raise ValueError(f"{label}: missing key 'intermediate_size'")
    fields["tie_embeddings"] = _flag(
        label, data, "tie_word_embeddings", fields.get("tie_embeddings", False)
    )
    eps_key = next((k for k in ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon")
                    if data.get(k) is not None), None)  # fmt: skip
    if eps_key is not None:
        fields["norm_eps"] = _number(label, eps_key, data[eps_key])
    if data.get("rope_theta") is not None:
        fields["rope_theta"] = _number(label, "rope_theta", data["rope_theta"])
    if data.get("max_position_embeddings") is not None:
        fields["max_positions"] = _positive_int(
            label, "max_position_embeddings", data["max_position_embeddings"]
        )
    return _validate(label, ModelConfig(**fields))


# ---- model descriptions -----------------------------------------------------------------------
_REQUIRED = ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
             "vocab_size", "mlp")  # fmt: skip
_CHOICES = {"mlp": MLPS, "norm": NORMS, "norm_placement": PLACEMENTS, "parallel": PARALLEL,
            "positions": POSITIONS}  # fmt: skip
_DESCRIBED = {f.name for f in dataclasses.fields(ModelConfig)} - {"architecture", "family"}


def describe_from_dict(data: Any, label: str = "model description", name: str = "") -> ModelConfig:
    """The one check of a model description (fields of the module docstring's table)."""
    if not isinstance(data, dict):
        raise ValueError(f"{label}: a model description must be a mapping, not {_json_type(data)}")
    unknown = sorted(str(k) for k in data if k not in _DESCRIBED)
    if unknown:
        raise ValueError(
            f"{label}: unknown key {unknown[0]!r}; known: {', '.join(sorted(_DESCRIBED))}"
        )
    for key in _REQUIRED:
        if key not in data:
            raise ValueError(f"{label}: missing key {key!r}")
    fields: dict[str, Any] = {"architecture": "description", "family": "custom",
                              "name": str(data.get("name") or name or "model")}  # fmt: skip
    types = {f.name: f.type for f in dataclasses.fields(ModelConfig)}
    for key, value in data.items():
        kind = types[key]
        if key in _CHOICES:
            if value not in _CHOICES[key]:
                raise ValueError(
                    f"{label}: {key!r} must be one of {', '.join(_CHOICES[key])}, "
                    f"not {_show(value)}"
                )
        elif kind == "bool":
            value = _flag(label, data, key, False)
        elif kind == "int":
            value = 0 if value == 0 and key in _ZERO_OK else _positive_int(label, key, value)
        elif kind == "float":
            value = (_fraction if key == "rotary_fraction" else _number)(label, key, value)
        elif key == "dense_layers":
            if not isinstance(value, list) or not all(type(i) is int and i >= 0 for i in value):
                raise ValueError(f"{label}: 'dense_layers' must be a list of layer numbers")
            value = tuple(value)
        elif key == "expert_load":
            value = _load_rows(label, value)
        elif key != "name":
            value = str(value)
        fields[key] = value
    if "head_dim" not in fields and fields["hidden_size"] % fields["num_heads"]:
        raise ValueError(
            f"{label}: hidden_size {fields['hidden_size']} is not divisible by num_heads "
            f"{fields['num_heads']}; give head_dim"
        )
    return _validate(label, ModelConfig(**fields))


_ZERO_OK = ("num_experts", "experts_per_token", "expert_size", "shared_expert_size", "head_dim")


def _load_rows(label: str, value: Any) -> tuple[tuple[float, ...], ...]:
    """``[shares]`` or ``[[shares], ...]`` -> rows of floats."""
    rows = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    out = []
    for row in rows:
        if not isinstance(row, list) or not row or not all(type(x) in (int, float) for x in row):
            raise ValueError(
                f"{label}: expert_load must be a list of shares or a list of such lists"
            )
        out.append(tuple(float(x) for x in row))
    return tuple(out)


def with_expert_load(model: ModelConfig, data: Any, label: str) -> ModelConfig:
    """``model`` with a measured routing (a mapping with the one key ``expert_load``)."""
    if not model.moe:
        raise ValueError(f"{label}: {model.name} has no mixture of experts to route")
    if not isinstance(data, dict) or set(data) != {"expert_load"}:
        raise ValueError(f"{label}: a routing file holds one key, 'expert_load'")
    return _validate(label, model.replace(expert_load=_load_rows(label, data["expert_load"])))


# ---- files ------------------------------------------------------------------------------------
def _read_text(path: Path, what: str) -> str:
    if not_regular(path):
        raise ValueError(f"cannot read {what} {str(path)[:200]!r}: not a regular file")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        reason = err.strerror or " ".join(str(err).split())
        raise ValueError(f"cannot read {what} {str(path)!r}: {reason}") from None
    except UnicodeDecodeError as err:
        raise ValueError(
            f"cannot read {what} {str(path)!r}: not UTF-8 ({err.reason} at byte {err.start})"
        ) from None


def read_data(path: Path, label: str, what: str = "model file") -> Any:
    """A JSON or YAML file (by suffix) -> its data; one-line errors (``what`` names the file's
    role in them)."""
    text = _read_text(path, what)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.load(text, Loader=_strict_yaml_loader())  # a key given twice is an error
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(err, "problem", None) or "not YAML"
            raise ValueError(f"{label}: invalid YAML: {problem}{where}") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as err:
        raise ValueError(f"{label}: invalid JSON: duplicate key {err.args[0]!r}") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{label}: invalid JSON: {err.msg} (at line {err.lineno}, column {err.colno})"
        ) from None
    except RecursionError:
        raise ValueError(f"{label}: invalid JSON: nesting is too deep") from None


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (as YAML and TOML require)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKey(key)
        data[key] = value
    return data


def _label(path: Path) -> str:
    return path.name if path.name.isprintable() else repr(path.name)


def load_model(name: str | os.PathLike[str]) -> ModelConfig:
    """A preset name (``llama2-7b``; see :func:`preset_names`), a ``config.json`` path or a
    model description (``.yaml``/``.yml``)."""
    text_name = os.fspath(name)
    preset = MODELS_DIR / f"{text_name}.json"
    if "/" not in text_name and os.sep not in text_name and preset.is_file():
        return model_from_dict(read_data(preset, f"preset {text_name!r}"),
                               f"preset {text_name!r}", text_name)  # fmt: skip
    path = Path(text_name)
    if path.suffix in (".yaml", ".yml"):
        label = _label(path)
        return describe_from_dict(read_data(path, label), label, path.stem)
    if text_name.endswith(".json") or path.exists():
        label = _label(path)
        model_name = path.parent.name if path.name == "config.json" else path.stem
        return model_from_dict(read_data(path, label), label, model_name or "model")
    raise ValueError(
        f"unknown model {text_name!r}: not a preset, a JSON config or a YAML description; "
        f"presets: {', '.join(preset_names())}"
    )


# ---- the tiny rule ---------------------------------------------------------------------------
TINY_HIDDEN, TINY_HEADS, TINY_LAYERS, TINY_VOCAB, TINY_POSITIONS = 64, 4, 2, 128, 64
TINY_EXPERTS = 8


def _tiny_width(size: int, hidden: int) -> int:
    return 32 * max(1, round(2 * size / hidden))


def tiny(model: ModelConfig) -> ModelConfig:
    """The same architecture at a size that runs in seconds.

    hidden 64 with 4 heads (head size 16); KV heads ``max(1, 4 * kv // heads)`` rounded down to
    a divisor of 4 (the GQA ratio is kept where 4 heads allow it); intermediate size
    ``32 * max(1, round(2 * intermediate / hidden))`` (the MLP ratio to a multiple of 32);
    2 layers; vocabulary 128; 64 positions. Mixtures of experts keep at most 8 experts (top-k at
    most half of them), expert and shared-expert sizes by the intermediate rule, the dense
    layers among the first two, and no measured routing."""
    kv = max(1, TINY_HEADS * model.num_kv_heads // model.num_heads)
    kv = max(d for d in (1, 2, 4) if d <= kv)
    changes: dict[str, Any] = {}
    if model.moe:
        experts = min(model.num_experts, TINY_EXPERTS)
        changes = {
            "num_experts": experts,
            "experts_per_token": max(1, min(model.experts_per_token, experts // 2)),
            "expert_size": _tiny_width(model.expert_size, model.hidden_size),
            "shared_expert_size": model.shared_expert_size
            and _tiny_width(model.shared_expert_size, model.hidden_size),
            "dense_layers": tuple(i for i in model.dense_layers if i < TINY_LAYERS),
            "expert_load": (),
        }
    return model.replace(
        name=f"{model.name}-tiny",
        hidden_size=TINY_HIDDEN,
        intermediate_size=_tiny_width(model.intermediate_size, model.hidden_size),
        num_layers=TINY_LAYERS,
        num_heads=TINY_HEADS,
        num_kv_heads=kv,
        head_dim=TINY_HIDDEN // TINY_HEADS,
        vocab_size=TINY_VOCAB,
        max_positions=TINY_POSITIONS,
        **changes,
    )
