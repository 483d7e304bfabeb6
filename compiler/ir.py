"""The compiler's intermediate representation: an ordered list of operators on named tensors.

Every tensor is a matrix with one row per token (``rows`` = tokens of the workload), except
inside a routed expert, whose GEMMs and activation have one row per token routed to it
(``expert`` names it; its first GEMMs read the rows of the shared input's tables they need).
Operator types, in the order the passes introduce them:

=================== ============================================================================
:class:`Op`         non-LUT work: embedding, norms, rotary positions, attention products,
                    softmax, MLP activations, residual additions, slices, the MoE router
                    (``router``: an fp16 GEMM to the expert logits, top-k) and combination
                    (``moe_combine``), and the LM head
:class:`Linear`     an mpGEMM ``out[rows, n] = in[rows, k] W[n, k]^T (+ bias)``, before splitting
:class:`Precompute` the table precompute of one activation tensor, shared by every GEMM that
                    reads it; ``fused_into`` names the element-wise operator it runs inside
:class:`LutGemm`    the LUT part of an mpGEMM: tables in, outputs out; ``block`` from the
                    tiling, ``program`` the name of its compact program
=================== ============================================================================

A :class:`Module` carries the model, the quantization, the workload, the operators, the
programs and the costs; each pass returns a new one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import ModelConfig
from .program import LoopProgram
from .quant import QuantSpec

__all__ = ["ELEMENTWISE", "Cost", "Linear", "LutGemm", "Module", "Op", "Precompute", "Workload"]

ELEMENTWISE = ("rmsnorm", "layernorm", "swiglu", "geglu", "gelu", "relu")
"""Operators that compute their output row by row, element by element: a precompute that reads
their output can be fused into them."""


@dataclass(frozen=True)
class Workload:
    """What one forward pass processes: ``tokens`` new tokens (the GEMM M), attending to
    ``context`` tokens (KV length, tokens included); ``buffer_kib`` of on-chip staging per
    LUT core for the tiling rule."""

    tokens: int = 1
    context: int = 1
    buffer_kib: int = 48

    def __post_init__(self):
        for name in ("tokens", "context", "buffer_kib"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.context < self.tokens:
            raise ValueError(
                f"context {self.context} must be at least the {self.tokens} tokens it includes"
            )

    @property
    def buffer_words(self) -> int:
        return self.buffer_kib * 256


@dataclass(frozen=True)
class Op:
    """Non-LUT operator. ``width``: output elements per row; ``depth``: inner size of a
    GEMM-like operator (head size for attention, hidden size for the LM head), or the first
    column of a slice."""

    kind: str
    name: str
    inputs: tuple[str, ...]
    output: str
    layer: int | None
    rows: int
    width: int
    depth: int = 0
    heads: int = 0
    kv_heads: int = 0
    context: int = 0


@dataclass(frozen=True)
class Linear:
    name: str
    input: str
    output: str
    layer: int | None
    rows: int
    n: int
    k: int
    bias: bool = False
    part: str = ""  # q, k, v, qkv, o, gate, up, gate_up, down (checkpoint tensors)
    expert: int | None = None  # routed expert: rows are the tokens routed to it


@dataclass(frozen=True)
class Precompute:
    name: str
    input: str
    output: str
    layer: int | None
    rows: int
    k: int
    chunks: int
    consumers: tuple[str, ...]
    fused_into: str | None = None


@dataclass(frozen=True)
class LutGemm:
    name: str
    tables: str
    output: str
    layer: int | None
    rows: int
    n: int
    k: int
    chunks: int
    bias: bool = False
    block: tuple[int, int, int] | None = None  # (block rows, block cols, slab groups) in tiles
    program: str = ""
    part: str = ""  # as Linear.part
    expert: int | None = None  # as Linear.expert


Node = Op | Linear | Precompute | LutGemm


@dataclass(frozen=True)
class Cost:
    """What one operator costs. ``flops``: arithmetic outside the LUT datapath (precompute
    additions, epilogues, non-LUT operators); ``macs``: multiply-accumulates the LUT GEMM
    replaces; ``dram_bytes``: off-chip traffic by category; ``core_bytes``: words through the
    core's operand/result port x 4."""

    flops: int = 0
    macs: int = 0
    lookups: int = 0
    instructions: Mapping[str, int] = field(default_factory=dict)
    tile_cycles: int = 0
    dram_bytes: Mapping[str, int] = field(default_factory=dict)
    core_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "flops": self.flops, "macs": self.macs, "lookups": self.lookups,
            "instructions": dict(self.instructions), "tile_cycles": self.tile_cycles,
            "dram_bytes": dict(self.dram_bytes), "core_bytes": self.core_bytes,
        }  # fmt: skip


@dataclass(frozen=True)
class Module:
    model: ModelConfig
    quant: QuantSpec
    workload: Workload
    ops: tuple[Node, ...] = ()
    programs: Mapping[str, LoopProgram] = field(default_factory=dict)
    costs: Mapping[str, Cost] = field(default_factory=dict)
    passes: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> Module:
        return dataclasses.replace(self, **changes)

    def of_type(self, kind: type) -> list:
        return [op for op in self.ops if isinstance(op, kind)]

    def producers(self) -> dict[str, Node]:
        """Tensor name -> the operator that writes it."""
        return {op.output: op for op in self.ops}
