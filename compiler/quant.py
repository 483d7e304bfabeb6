"""Quantization specs and weight preprocessing.

A :class:`QuantSpec` says how a model's linear layers are quantized: weight bits (1 to 4, or
ternary), the group size along K (None: one scale per output channel), the activation format
and whether tables are quantized to INT8. Its text form, used on command lines, is
dash-separated: ``w2``, ``w4-g128``, ``w1.58`` (ternary), ``w2-fp16``, ``w2-fp16-int8table``;
activations default to int8. :meth:`QuantSpec.core` applies a spec to a core configuration.

Weight quantization (float weights ``W[N, K]`` -> codes, scale, zero point)
--------------------------------------------------------------------------
* **Round to nearest** (1 to 4 bits), per output channel or per group of G along K:
  ``s = (max - min) / (2^B - 1)`` (1 where max = min), ``z = clip(round(-min / s), 0, 2^B - 1)``,
  ``q = clip(round(W / s) + z, 0, 2^B - 1)``. Zero points are integers, so integer activations
  keep the exact path.
* **Absmean ternary** (BitNet b1.58): ``s = mean |W|`` over the whole matrix (or each group),
  ``q = clip(round(W / s), -1, 1) + 1``, zero point 1.

Preprocessing for the core reuses :mod:`lutsim.isa.golden`: bit planes with weight reinterpretation
and offline inversion (:func:`lutsim.isa.golden.weight_indices`), fragments packed by
:func:`lutsim.isa.golden.pack_weights`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lutsim.isa.config import ACT_FORMATS, CoreConfig
from lutsim.isa.golden import pack_weights, weight_indices

__all__ = [
    "QuantSpec",
    "QuantizedWeight",
    "default_quant",
    "pack_weight_region",
    "parse_quant",
    "quantize_weight",
]

_TEXT_HELP = (
    "expected w1..w4 or w1.58, gN (group size), an activation format "
    f"({', '.join(ACT_FORMATS)}) or int8table"
)


@dataclass(frozen=True)
class QuantSpec:
    """How linear layers are quantized (see the module docstring)."""

    weight_bits: int = 2
    ternary: bool = False
    group_size: int | None = None
    act_format: str = "int8"
    table_quant: bool = False

    def __post_init__(self):
        if type(self.weight_bits) is not int or not 1 <= self.weight_bits <= 4:
            raise ValueError(f"weight bits must be 1 to 4, not {self.weight_bits!r}")
        if self.ternary and self.weight_bits != 2:
            raise ValueError(f"ternary weights need weight_bits = 2, not {self.weight_bits}")
        if self.group_size is not None and (
            type(self.group_size) is not int or self.group_size < 1
        ):
            raise ValueError(f"group size must be a positive integer, not {self.group_size!r}")
        if self.act_format not in ACT_FORMATS:
            raise ValueError(
                f"activation format must be one of {', '.join(ACT_FORMATS)}, "
                f"not {self.act_format!r}"
            )

    def __str__(self) -> str:
        parts = ["w1.58" if self.ternary else f"w{self.weight_bits}"]
        if self.group_size is not None:
            parts.append(f"g{self.group_size}")
        parts.append(self.act_format)
        if self.table_quant:
            parts.append("int8table")
        return "-".join(parts)

    def core(self, cfg: CoreConfig) -> CoreConfig:
        """``cfg`` with this spec's weight and activation formats (formats derived from a
        changed one are derived again; INT8 tables when ``table_quant``)."""
        changes: dict = {}
        if (cfg.weight_bits, cfg.ternary) != (self.weight_bits, self.ternary):
            changes.update(weight_bits=self.weight_bits, ternary=self.ternary)
        if cfg.act_format != self.act_format:
            changes["act_format"] = self.act_format
        if self.table_quant and cfg.table_format != "int8":
            changes["table_format"] = "int8"
        elif not self.table_quant and cfg.table_format == "int8":
            changes["table_format"] = ""
        return cfg.replace(**changes) if changes else cfg

    def to_dict(self) -> dict:
        return {"text": str(self), "weight_bits": self.weight_bits, "ternary": self.ternary,
                "group_size": self.group_size, "act_format": self.act_format,
                "table_quant": self.table_quant}  # fmt: skip


def parse_quant(text: str) -> QuantSpec:
    """``w2``, ``w4-g128``, ``w1.58-int8``, ``w2-fp16-int8table`` ... -> :class:`QuantSpec`."""
    fields: dict = {}
    for token in text.strip().split("-"):
        if token in ("w1.58", "ternary") and "weight_bits" not in fields:
            fields.update(weight_bits=2, ternary=True)
        elif token[:1] == "w" and token[1:].isdigit() and "weight_bits" not in fields:
            fields["weight_bits"] = int(token[1:])
        elif token[:1] == "g" and token[1:].isdigit() and "group_size" not in fields:
            fields["group_size"] = int(token[1:])
        elif token in ACT_FORMATS and "act_format" not in fields:
            fields["act_format"] = token
        elif token == "int8table" and "table_quant" not in fields:
            fields["table_quant"] = True
        else:
            raise ValueError(f"quantization {text!r}: unexpected {token!r}; {_TEXT_HELP}")
    if "weight_bits" not in fields:
        raise ValueError(f"quantization {text!r} names no weight bits; {_TEXT_HELP}")
    return QuantSpec(**fields)


def default_quant(model) -> QuantSpec:
    """BitNet models: ternary weights, INT8 activations; others: W2 x INT8 per channel."""
    if model.family == "bitnet":
        return QuantSpec(weight_bits=2, ternary=True)
    return QuantSpec()


@dataclass(frozen=True)
class QuantizedWeight:
    """``codes[N, K]`` (int64), ``scale[N, C]`` and ``zero[N, C]`` (float64), C = K / group."""

    codes: np.ndarray
    scale: np.ndarray
    zero: np.ndarray

    def dequantize(self) -> np.ndarray:
        """``s * (q - z)`` as float64 ``[N, K]``."""
        span = self.codes.shape[1] // self.scale.shape[1]
        per_k = np.repeat(np.arange(self.scale.shape[1]), span)
        return self.scale[:, per_k] * (self.codes - self.zero[:, per_k])


def quantize_weight(w: np.ndarray, quant: QuantSpec) -> QuantizedWeight:
    """Float weights ``w[N, K]`` -> codes, scales and zero points (see the module docstring)."""
    w = np.asarray(w, dtype=np.float64)
    rows, depth = w.shape
    group = depth if quant.group_size is None else quant.group_size
    if depth % group:
        raise ValueError(f"group size {group} does not divide K = {depth}")
    chunks = depth // group
    grouped = w.reshape(rows, chunks, group)
    if quant.ternary:
        if quant.group_size is None:
            mean = np.full((rows, 1), np.abs(w).mean())
        else:
            mean = np.abs(grouped).mean(axis=2)
        scale = np.maximum(mean, 1e-5)
        codes = np.clip(np.round(grouped / scale[:, :, None]), -1, 1) + 1
        zero = np.ones_like(scale)
    else:
        top = 2**quant.weight_bits - 1
        lo, hi = grouped.min(axis=2), grouped.max(axis=2)
        scale = np.where(hi > lo, (hi - lo) / top, 1.0)
        zero = np.clip(np.round(-lo / scale), 0, top)
        codes = np.clip(np.round(grouped / scale[:, :, None]) + zero[:, :, None], 0, top)
    return QuantizedWeight(codes.reshape(rows, depth).astype(np.int64), scale, zero)


def pack_weight_region(cfg: CoreConfig, codes: np.ndarray, col_tiles: int) -> np.ndarray:
    """Weight codes ``[N, K]`` -> the weight region of a GEMM's memory: words
    ``[col tile, group, weight_fragment_words]`` (uint32). Columns beyond N hold code 0 and K
    is padded with zero codes to whole groups."""
    rows, depth = codes.shape
    groups = math.ceil(depth / cfg.k)
    padded = np.zeros((col_tiles * cfg.n, groups * cfg.k), dtype=np.int64)
    padded[:rows, :depth] = codes
    index = weight_indices(cfg, padded)  # [B, N, NG]: bit planes, offline-inverted
    # [B, col tile, n, NG] -> [col tile, NG, B, n]
    tiles = index.reshape(cfg.weight_bits, col_tiles, cfg.n, groups).transpose(1, 3, 0, 2)
    return pack_weights(cfg, tiles)
