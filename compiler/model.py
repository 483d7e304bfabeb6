"""Transformer model shapes from Hugging Face style ``config.json`` files.

A :class:`ModelConfig` holds what the compiler needs of a decoder-only transformer: its sizes
and the kind of each block component. It is read from a ``config.json`` (a preset in
``compiler/models/`` or any file) by :func:`load_model`, through one check
(:func:`model_from_dict`) that turns every problem into a one-line ``ValueError``.

Supported architectures (the first entry of ``architectures``, else ``model_type``)
------------------------------------------------------------------------------------
================== ========= ========= ============ ========= ==== ===============================
architecture       family    norm      MLP          positions bias notes
================== ========= ========= ============ ========= ==== ===============================
LlamaForCausalLM   llama     RMSNorm   SwiGLU       rotary    no   ``hidden_act`` must be silu
BitnetForCausalLM  bitnet    RMSNorm   SwiGLU       rotary    no   SubLN: an RMSNorm before
                                                                   o_proj and before down_proj
OPTForCausalLM     opt       LayerNorm ReLU or GELU learned   yes  ``activation_function``
                                                                   (relu in the published ones)
BloomForCausalLM   bloom     LayerNorm GELU         ALiBi     yes  fused query_key_value;
                                                                   LayerNorm after the embedding
================== ========= ========= ============ ========= ==== ===============================

Keys read (Hugging Face names; aliases of the original configs in brackets): ``hidden_size``
[``n_embed``], ``intermediate_size`` [OPT ``ffn_dim``; BLOOM ``n_inner``, default 4 x hidden],
``num_hidden_layers`` [``n_layer``], ``num_attention_heads`` [``n_head``],
``num_key_value_heads`` (default: as many as attention heads), ``vocab_size``; optional
``rms_norm_eps``/``layer_norm_eps``/``layer_norm_epsilon``, ``rope_theta``,
``max_position_embeddings``. Other keys are ignored (``config.json`` files carry many).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ARCHITECTURES",
    "MODELS_DIR",
    "ModelConfig",
    "load_model",
    "model_from_dict",
    "preset_names",
    "tiny",
]

MODELS_DIR = Path(__file__).resolve().parent / "models"


@dataclass(frozen=True)
class _Arch:
    family: str
    norm: str  # rmsnorm | layernorm
    positions: str  # rope | learned | alibi
    bias: bool
    sub_norm: bool = False
    fused_qkv: bool = False
    embed_norm: bool = False


# fmt: off
ARCHITECTURES: dict[str, _Arch] = {
    "LlamaForCausalLM":  _Arch("llama",  "rmsnorm",   "rope",    bias=False),
    "BitnetForCausalLM": _Arch("bitnet", "rmsnorm",   "rope",    bias=False, sub_norm=True),
    "OPTForCausalLM":    _Arch("opt",    "layernorm", "learned", bias=True),
    "BloomForCausalLM":  _Arch("bloom",  "layernorm", "alibi",   bias=True, fused_qkv=True,
                               embed_norm=True),
}
_MODEL_TYPES = {"llama": "LlamaForCausalLM", "bitnet": "BitnetForCausalLM",
                "opt": "OPTForCausalLM", "bloom": "BloomForCausalLM"}
_ALIASES = {             # key: names it may have in the original config files, in order
    "hidden_size":         ("hidden_size", "n_embed"),
    "num_hidden_layers":   ("num_hidden_layers", "n_layer"),
    "num_attention_heads": ("num_attention_heads", "n_head"),
    "vocab_size":          ("vocab_size",),
}
# fmt: on
_MLP_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "gelu_new": "gelu"}


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer: sizes and block components (see the module docstring)."""

    name: str
    architecture: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    mlp: str  # swiglu | gelu | relu
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_positions: int = 2048
    source: str = ""

    @property
    def arch(self) -> _Arch:
        return ARCHITECTURES[self.architecture]

    @property
    def family(self) -> str:
        return self.arch.family

    @property
    def norm(self) -> str:
        return self.arch.norm

    @property
    def positions(self) -> str:
        return self.arch.positions

    @property
    def bias(self) -> bool:
        return self.arch.bias

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def kv_size(self) -> int:
        """Width of the key (and of the value) projection: KV heads x head dim."""
        return self.num_kv_heads * self.head_dim

    @property
    def attention(self) -> str:
        """``MHA`` when every query head has its own KV head, else ``GQA`` (``MQA`` for one)."""
        if self.num_kv_heads == self.num_heads:
            return "MHA"
        return "MQA" if self.num_kv_heads == 1 else "GQA"

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(family=self.family, norm=self.norm, positions=self.positions,
                   bias=self.bias, head_dim=self.head_dim, attention=self.attention)  # fmt: skip
        return out


def preset_names() -> list[str]:
    """Names of the shipped presets (the JSON files of ``compiler/models``)."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value read from JSON, for a message: as JSON when short, else its JSON type."""
    text = json.dumps(value)
    return text if len(text) <= 40 else _json_type(value)


def _positive_int(label: str, key: str, value: Any) -> int:
    if type(value) is not int or value < 1:
        raise ValueError(f"{label}: {key!r} must be a positive integer, not {_show(value)}")
    return value


def _number(label: str, key: str, value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{label}: {key!r} must be a positive number, not {_show(value)}")
    return float(value)


def _lookup(label: str, data: dict, key: str) -> Any:
    for name in _ALIASES[key]:
        if name in data:
            return _positive_int(label, name, data[name])
    raise ValueError(f"{label}: missing key {key!r}")


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
            raise ValueError(
                f"{label}: unsupported model_type {_show(kind)}; "
                f"supported: {', '.join(sorted(_MODEL_TYPES))}"
            )
        name = _MODEL_TYPES[kind]
    else:
        raise ValueError(f"{label}: missing key 'architectures' (or 'model_type')")
    if name not in ARCHITECTURES:
        raise ValueError(
            f"{label}: unsupported architecture {name!r}; "
            f"supported: {', '.join(sorted(ARCHITECTURES))}"
        )
    return name


def _mlp(label: str, arch: str, data: dict) -> str:
    family = ARCHITECTURES[arch].family
    if family in ("llama", "bitnet"):
        act = data.get("hidden_act", "silu")
        if act != "silu":
            raise ValueError(f'{label}: {arch} needs hidden_act "silu", not {_show(act)}')
        return "swiglu"
    if family == "bloom":
        return "gelu"
    act = data.get("activation_function", "relu")
    if act not in _MLP_ACTIVATIONS:
        raise ValueError(
            f"{label}: activation_function must be one of {', '.join(_MLP_ACTIVATIONS)}, "
            f"not {_show(act)}"
        )
    return _MLP_ACTIVATIONS[act]


def model_from_dict(data: Any, label: str = "model config", name: str = "") -> ModelConfig:
    """The one check: a ``config.json`` mapping -> :class:`ModelConfig` (``label`` starts
    every error message)."""
    if not isinstance(data, dict):
        raise ValueError(f"{label}: a model config must be a JSON object, not {_json_type(data)}")
    arch = _architecture(label, data)
    hidden = _lookup(label, data, "hidden_size")
    layers = _lookup(label, data, "num_hidden_layers")
    heads = _lookup(label, data, "num_attention_heads")
    vocab = _lookup(label, data, "vocab_size")
    family = ARCHITECTURES[arch].family
    inter_key = {"opt": "ffn_dim", "bloom": "n_inner"}.get(family, "intermediate_size")
    if family == "bloom" and data.get(inter_key) is None:
        inter = 4 * hidden
    elif inter_key not in data:
        raise ValueError(f"{label}: missing key {inter_key!r}")
    else:
        inter = _positive_int(label, inter_key, data[inter_key])
    kv = data.get("num_key_value_heads")
    kv = heads if kv is None else _positive_int(label, "num_key_value_heads", kv)
    if hidden % heads:
        raise ValueError(
            f"{label}: hidden_size {hidden} is not divisible by num_attention_heads {heads}"
        )
    if heads % kv:
        raise ValueError(
            f"{label}: num_attention_heads {heads} is not divisible by num_key_value_heads {kv}"
        )
    if ARCHITECTURES[arch].positions == "rope" and (hidden // heads) % 2:
        raise ValueError(f"{label}: head size {hidden // heads} must be even for rotary positions")
    eps_key = next((k for k in ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon")
                    if k in data), None)  # fmt: skip
    theta = data.get("rope_theta")
    positions = data.get("max_position_embeddings")
    return ModelConfig(
        name=name or str(data.get("_name_or_path") or "model"),
        architecture=arch,
        hidden_size=hidden,
        intermediate_size=inter,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
        vocab_size=vocab,
        mlp=_mlp(label, arch, data),
        norm_eps=1e-5 if eps_key is None else _number(label, eps_key, data[eps_key]),
        rope_theta=10000.0 if theta is None else _number(label, "rope_theta", theta),
        max_positions=2048
        if positions is None
        else _positive_int(label, "max_position_embeddings", positions),
        source=str(data.get("_source", "")),
    )


def load_model(name: str | os.PathLike[str]) -> ModelConfig:
    """A preset name (``llama2-7b``; see :func:`preset_names`) or a path to a ``config.json``."""
    text_name = os.fspath(name)
    preset = MODELS_DIR / f"{text_name}.json"
    if "/" not in text_name and os.sep not in text_name and preset.is_file():
        path, label, model_name = preset, f"preset {text_name!r}", text_name
    elif text_name.endswith(".json") or Path(text_name).exists():
        path = Path(text_name)
        label = path.name if path.name.isprintable() else repr(path.name)
        model_name = path.parent.name if path.name == "config.json" else path.stem
    else:
        raise ValueError(f"unknown model {text_name!r}: not a preset name or a JSON file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        reason = err.strerror or " ".join(str(err).split())
        raise ValueError(f"cannot read model file {str(path)!r}: {reason}") from None
    except UnicodeDecodeError as err:
        raise ValueError(
            f"cannot read model file {str(path)!r}: not UTF-8 ({err.reason} at byte {err.start})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{label}: invalid JSON: {err.msg} (at line {err.lineno}, column {err.colno})"
        ) from None
    except RecursionError:
        raise ValueError(f"{label}: invalid JSON: nesting is too deep") from None
    return model_from_dict(data, label, model_name or "model")


# ---- the tiny rule ---------------------------------------------------------------------------
TINY_HIDDEN, TINY_HEADS, TINY_LAYERS, TINY_VOCAB, TINY_POSITIONS = 64, 4, 2, 128, 64


def tiny(model: ModelConfig) -> ModelConfig:
    """The same architecture at a size that runs in seconds.

    hidden 64 with 4 heads (head size 16); KV heads ``max(1, 4 * kv // heads)`` rounded down to
    a divisor of 4 (the GQA ratio is kept where 4 heads allow it); intermediate size
    ``32 * max(1, round(2 * intermediate / hidden))`` (the MLP ratio to a multiple of 32);
    2 layers; vocabulary 128; 64 positions."""
    kv = max(1, TINY_HEADS * model.num_kv_heads // model.num_heads)
    kv = max(d for d in (1, 2, 4) if d <= kv)
    ratio = max(1, round(2 * model.intermediate_size / model.hidden_size))
    return model.replace(
        name=f"{model.name}-tiny",
        hidden_size=TINY_HIDDEN,
        intermediate_size=32 * ratio,
        num_layers=TINY_LAYERS,
        num_heads=TINY_HEADS,
        num_kv_heads=kv,
        vocab_size=TINY_VOCAB,
        max_positions=TINY_POSITIONS,
    )
