"""Real quantized checkpoints -> LMMA weight codes, scales and zero points, and their check.

:func:`load_checkpoint` reads the quantized linear layers of a checkpoint and converts each into
a :class:`CoreWeight`: the codes, scales and zero points the core runs (``w = s (q - z)``, a
scale and zero point per chunk of K), plus the two exact re-blockings below. Every format is
also dequantized by its own definition (:attr:`CoreWeight.reference`), independently of the
conversion; :func:`check_layer` runs the compiled LMMA program of one layer on random
activations and compares the three.

Formats
-------
============== ==================================================================================
GPTQ (INT4/2)  safetensors ``qweight`` int32 ``[K*B/32, N]`` (codes along K, code i of a word at
               bits ``B*i``), ``qzeros`` int32 ``[G, N*B/32]`` (along N, stored as z - 1),
               ``scales`` ``[G, N]``, optional ``g_idx`` ``[K]``;
               ``w[n, k] = s[g(k), n] (q[k, n] - z[g(k), n] - 1)`` (``gptq_v2``: without the
               1, when the folder's quantization config says so). Act-order (``g_idx`` not
               ``k // group``) is re-blocked exactly: K is permuted so every group is
               contiguous, and the same permutation gathers the activations (``gather``).
AWQ (INT4)     safetensors ``qweight`` int32 ``[K, N/8]`` and ``qzeros`` ``[K/group, N/8]`` packed
               along N in the order 0, 2, 4, 6, 1, 3, 5, 7 (code of column 8j + order[i] at
               bits 4i), ``scales`` ``[K/group, N]``; ``w = s (q - z)``.
BitNet b1.58   safetensors ``weight`` uint8 ``[N/4, K]`` (row r of slice i holds output row
               ``i N/4 + r`` at bits 2i), ``weight_scale``; ``w = (q - 1) / weight_scale``:
               ternary codes, zero point 1, scale ``1 / weight_scale``.
GGUF Q4_0      blocks of 32: fp16 ``d``, 4-bit q; ``w = d (q - 8)``.
GGUF Q8_0      blocks of 32: fp16 ``d``, int8 q; ``w = d q``. The core takes at most 4 bits:
               re-blocked exactly as two 4-bit chunks per block on the same activations,
               ``u = q + 128 = 16 hi + lo``: ``w = 16 d (hi - 8) + d lo`` (K doubles).
GGUF TQ2_0     blocks of 256: 2-bit q in {0, 1, 2}, fp16 ``d``; ``w = d (q - 1)``: ternary.
GGUF TQ1_0     blocks of 256: base-3 packed trits, fp16 ``d``; ``w = d (q - 1)``: ternary.
GGUF Q4_K      super-blocks of 256: fp16 ``d``, ``dmin``, 6-bit scale and min per 32;
               ``w = d sc_j q - dmin m_j``. The min is not an integer zero point of the scale
               ``d sc_j``: re-blocked exactly as chunks of 32 with scale ``d sc_j``, zero point
               0 and an **offset** ``dmin m_j`` times the chunk's activation sum (from the
               table precompute) subtracted in the epilogue.
GGUF Q5_K      as Q4_K with a fifth bit per code (``qh``): ``u = 16 hi + lo`` becomes a 1-bit
               chunk of scale ``16 d sc_j`` and a 4-bit chunk of scale ``d sc_j`` (K doubles).
GGUF Q6_K      super-blocks of 256: 6-bit u, int8 scale per 16, fp16 ``d``;
               ``w = d sc_j (u - 32)``: two chunks per 16, ``16 d sc_j (hi - 2) + d sc_j lo``.
============== ==================================================================================

Other GGUF types and float tensors are refused with a one-line reason (codebook types such as
IQ2_XXS or MXFP4 cannot be reproduced by ``s (q - z)`` at all). A safetensors checkpoint
may be one file or a folder of shards. Tensors are matched to
the compiled model's LUT GEMMs by their Hugging Face module names (safetensors: the name
ending in ``layers.<i>.<module>``) or llama.cpp's names (GGUF: ``blk.<i>.attn_q``,
``ffn_gate_exps`` indexed by expert, ...).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lutsim.isa.config import CoreConfig
from lutsim.isa.gemm import check_int32, make_problem
from lutsim.isa.golden import (
    accumulate,
    chunk_dots,
    combine_chunks,
    error_bound,
    precompute_tables,
    reference,
    weight_indices,
)

from .ir import LutGemm
from .passes import block_shape
from .program import LoopProgram, pack_table_region
from .quant import pack_weight_region

__all__ = [
    "AWQ_ORDER",
    "CoreWeight",
    "LayerCheck",
    "check_layer",
    "load_checkpoint",
]

AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)
QK_K = 256
GGUF_PARTS = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "qkv": "attn_qkv",
              "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up", "gate_up": "ffn_up",
              "down": "ffn_down"}  # fmt: skip
GGUF_FORMATS = ("Q4_0", "Q8_0", "TQ1_0", "TQ2_0", "Q4_K", "Q5_K", "Q6_K")


@dataclass(frozen=True)
class CoreWeight:
    """One checkpoint tensor as the core runs it, and as its format defines it.

    ``codes[N, Kc]`` (int64) with ``scale``/``zero`` ``[N, C]`` (float64, chunks of Kc/C);
    ``gather[Kc]``: the activation each code column multiplies (None: column k multiplies
    activation k); ``offset[N, C]`` (or None): subtracted times the chunk's activation sum.
    ``reference[N, K]``: the format's own dequantization (float64); ``gguf_reference``: the
    ``gguf`` package's dequantization (float32 values), for GGUF tensors."""

    format: str
    codes: np.ndarray
    scale: np.ndarray
    zero: np.ndarray
    bits: int
    ternary: bool
    reference: np.ndarray
    gather: np.ndarray | None = None
    offset: np.ndarray | None = None
    gguf_reference: np.ndarray | None = None
    note: str = ""

    @property
    def chunks(self) -> int:
        return self.scale.shape[1]

    def dense(self) -> np.ndarray:
        """The converted weights in the original K order, ``s (q - z) - offset`` summed over
        the code columns that share an activation (float64 ``[N, K]``)."""
        rows, depth = self.codes.shape
        per_k = np.repeat(np.arange(self.chunks), depth // self.chunks)
        w = self.scale[:, per_k] * (self.codes - self.zero[:, per_k])
        if self.offset is not None:
            w = w - self.offset[:, per_k]
        if self.gather is None:
            return w
        out = np.zeros((rows, self.reference.shape[1]))
        np.add.at(out.T, self.gather, w.T)
        return out


# ---- packing helpers ------------------------------------------------------------------------
def unpack_int32(words: np.ndarray, bits: int, axis: int, order=None) -> np.ndarray:
    """Codes packed ``32 / bits`` to an int32 along ``axis`` (code i at bits ``bits * i``;
    with ``order``, code i belongs to position ``order[i]`` of its word's group)."""
    per = 32 // bits
    values = (words.astype(np.int64)[..., None] >> (bits * np.arange(per))) & (2**bits - 1)
    if order is not None:
        values = values[..., np.argsort(order)]
    moved = np.moveaxis(values, axis, -2)
    merged = moved.reshape(*moved.shape[:-2], -1)
    return np.moveaxis(merged, -1, axis)


def pack_int32(codes: np.ndarray, bits: int, axis: int, order=None) -> np.ndarray:
    """The inverse of :func:`unpack_int32` (int32 words)."""
    per = 32 // bits
    moved = np.moveaxis(np.asarray(codes, dtype=np.int64), axis, -1)
    grouped = moved.reshape(*moved.shape[:-1], -1, per)
    if order is not None:
        grouped = grouped[..., list(order)]
    words = (grouped << (bits * np.arange(per))).sum(axis=-1)
    return np.moveaxis(words.astype(np.uint32).view(np.int32), -1, axis)


def unpack_bitnet(packed: np.ndarray) -> np.ndarray:
    """BitNet's uint8 ``[N/4, K]`` -> codes ``[N, K]`` in {0, 1, 2} (q - 1 is the weight)."""
    return np.concatenate([(packed.astype(np.int64) >> (2 * i)) & 3 for i in range(4)], axis=0)


def pack_bitnet(codes: np.ndarray) -> np.ndarray:
    rows = codes.shape[0] // 4
    out = np.zeros((rows, codes.shape[1]), dtype=np.uint8)
    for i in range(4):
        out |= (codes[i * rows : (i + 1) * rows].astype(np.uint8) & 3) << (2 * i)
    return out


# ---- safetensors formats ---------------------------------------------------------------------
def _group_layout(label: str, g_idx: np.ndarray | None, depth: int, groups: int):
    """(permutation or None, group size) of a GPTQ layer; equal groups or a one-line error."""
    if depth % groups:
        raise ValueError(f"{label}: {groups} groups do not split K = {depth}")
    size = depth // groups
    if g_idx is None or np.array_equal(g_idx, np.arange(depth) // size):
        return None, size
    g_idx = np.asarray(g_idx, dtype=np.int64)
    if g_idx.shape != (depth,) or g_idx.min() < 0 or g_idx.max() >= groups:
        raise ValueError(f"{label}: g_idx must hold {depth} group numbers below {groups}")
    counts = np.bincount(g_idx, minlength=groups)
    if np.any(counts != size):
        raise ValueError(
            f"{label}: act-order groups have {counts.min()} to {counts.max()} channels; the "
            f"core needs equal groups of {size}"
        )
    return np.argsort(g_idx, kind="stable"), size


def gptq_weight(label: str, qweight, qzeros, scales, g_idx, shape, zero_offset=1) -> CoreWeight:
    n, depth = shape
    bits = 32 * qweight.shape[0] // depth
    if bits not in (2, 4) or qweight.shape != (depth * bits // 32, n):
        raise ValueError(
            f"{label}: GPTQ qweight is {'x'.join(map(str, qweight.shape))}; expected "
            f"{depth // 8}x{n} (4-bit) or {depth // 16}x{n} (2-bit) for N x K = {n}x{depth}"
        )
    groups = scales.shape[0]
    perm, size = _group_layout(label, g_idx, depth, groups)
    q = unpack_int32(qweight, bits, axis=0)  # [K, N]
    z = unpack_int32(qzeros, bits, axis=1)[:, :n] + zero_offset  # [G, N], stored as z - 1 (v1)
    s = scales.astype(np.float64)
    rows = np.asarray(g_idx, dtype=np.int64) if g_idx is not None else np.arange(depth) // size
    reference = (s[rows] * (q - z[rows])).T
    codes = q.T if perm is None else q.T[:, perm]
    note = "act-order: K permuted into contiguous groups" if perm is not None else ""
    return CoreWeight(f"gptq-int{bits}", codes, s.T.copy(), z.T.astype(np.float64), bits, False,
                      reference, gather=perm, note=note)  # fmt: skip


def awq_weight(label: str, qweight, qzeros, scales, shape) -> CoreWeight:
    n, depth = shape
    if qweight.shape != (depth, n // 8):
        raise ValueError(
            f"{label}: AWQ qweight is {'x'.join(map(str, qweight.shape))}; expected "
            f"{depth}x{n // 8} for N x K = {n}x{depth}"
        )
    groups = scales.shape[0]
    if depth % groups:
        raise ValueError(f"{label}: {groups} groups do not split K = {depth}")
    q = unpack_int32(qweight, 4, axis=1, order=AWQ_ORDER)  # [K, N]
    z = unpack_int32(qzeros, 4, axis=1, order=AWQ_ORDER)  # [G, N]
    s = scales.astype(np.float64)
    rows = np.arange(depth) // (depth // groups)
    reference = (s[rows] * (q - z[rows])).T
    return CoreWeight("awq-int4", q.T.copy(), s.T.copy(), z.T.astype(np.float64), 4, False,
                      reference)  # fmt: skip


def bitnet_weight(label: str, packed, weight_scale, shape) -> CoreWeight:
    n, depth = shape
    if packed.shape != (n // 4, depth) or n % 4:
        raise ValueError(
            f"{label}: BitNet weight is {'x'.join(map(str, packed.shape))}; expected "
            f"{n // 4}x{depth} for N x K = {n}x{depth}"
        )
    ws = np.asarray(weight_scale, dtype=np.float64).reshape(-1)
    if ws.size != 1 or not np.isfinite(ws[0]) or ws[0] <= 0:
        raise ValueError(f"{label}: weight_scale must be one positive number")
    codes = unpack_bitnet(packed)
    if codes.max() > 2:
        raise ValueError(f"{label}: BitNet codes must be 0, 1 or 2 (ternary), not 3")
    reference = (codes - 1) / ws[0]
    scale = np.full((n, 1), 1 / ws[0])
    return CoreWeight("bitnet-b1.58", codes, scale, np.ones((n, 1)), 2, True, reference)


# ---- GGUF formats ----------------------------------------------------------------------------
def _fp16(raw: np.ndarray) -> np.ndarray:
    return raw.copy().view(np.float16).astype(np.float64)


def gguf_weight(label: str, kind: str, raw: np.ndarray, shape) -> CoreWeight:
    """One GGUF tensor's rows ``raw[N, bytes]`` -> :class:`CoreWeight`."""
    import gguf

    n, depth = shape
    if kind.startswith("IQ") or kind in ("MXFP4", "NVFP4"):
        raise ValueError(
            f"{label}: GGUF type {kind} indexes a non-uniform codebook, which no s (q - z) of "
            f"the LUT core reproduces exactly; supported: {', '.join(GGUF_FORMATS)}"
        )
    if kind not in GGUF_FORMATS:
        raise ValueError(
            f"{label}: GGUF type {kind} is not converted; supported: {', '.join(GGUF_FORMATS)}"
        )
    qtype = gguf.GGMLQuantizationType[kind]
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    if depth % block or raw.shape != (n, depth // block * size):
        raise ValueError(f"{label}: a {kind} tensor of {n}x{depth} needs K a multiple of {block}")
    blocks = raw.reshape(n, depth // block, size)
    theirs = gguf.quants.dequantize(raw, qtype).astype(np.float64)
    if kind == "Q4_0":
        d = _fp16(blocks[..., :2]).reshape(n, -1)
        qs = blocks[..., 2:].astype(np.int64)
        codes = np.concatenate([qs & 15, qs >> 4], axis=2).reshape(n, depth)
        reference = np.repeat(d, block, axis=1) * (codes - 8)
        return CoreWeight("gguf-Q4_0", codes, d, np.full_like(d, 8.0), 4, False, reference,
                          gguf_reference=theirs)  # fmt: skip
    if kind == "Q8_0":
        d = _fp16(blocks[..., :2]).reshape(n, -1)
        q = blocks[..., 2:].copy().view(np.int8).astype(np.int64)  # [N, NB, 32]
        reference = (d[:, :, None] * q).reshape(n, depth)
        return _split(f"gguf-{kind}", (q + 128).reshape(n, depth), d, 32, 128, None, reference,
                      theirs, "8-bit codes as two 4-bit chunks (K doubled)")  # fmt: skip
    if kind == "Q6_K":
        ql = blocks[..., :128].astype(np.int64).reshape(n, -1, 2, 1, 64)  # 2 halves of 128
        ql = ((ql >> np.array([0, 4])[:, None]) & 15).reshape(n, -1, 256)
        qh = blocks[..., 128:192].astype(np.int64).reshape(n, -1, 2, 1, 32)
        qh = ((qh >> np.array([0, 2, 4, 6])[:, None]) & 3).reshape(n, -1, 256)
        u = (ql | (qh << 4)).reshape(n, depth)  # q + 32, 0..63
        sc = blocks[..., 192:208].copy().view(np.int8).astype(np.float64)  # [N, NB, 16]
        scale = (_fp16(blocks[..., 208:210]) * sc).reshape(n, -1)  # per 16
        reference = np.repeat(scale, 16, axis=1) * (u - 32)
        return _split(f"gguf-{kind}", u, scale, 16, 32, None, reference, theirs,
                      "6-bit codes as 4-bit + 2-bit chunks (K doubled)")  # fmt: skip
    if kind == "Q5_K":
        d, dmin = _fp16(blocks[..., 0:2]), _fp16(blocks[..., 2:4])
        sc, mins = q4k_scales(blocks[..., 4:16])
        qh = blocks[..., 16:48].astype(np.int64).reshape(n, -1, 1, 32)
        qh = ((qh >> np.arange(8)[:, None]) & 1).reshape(n, -1, 256)
        ql = blocks[..., 48:].astype(np.int64).reshape(n, -1, 4, 1, 32)
        ql = ((ql >> np.array([0, 4])[:, None]) & 15).reshape(n, -1, 256)
        u = (ql | (qh << 4)).reshape(n, depth)  # 0..31
        scale, offset = (d * sc).reshape(n, -1), (dmin * mins).reshape(n, -1)
        reference = np.repeat(scale, 32, axis=1) * u - np.repeat(offset, 32, axis=1)
        note = "5-bit codes as 4-bit + 1-bit chunks (K doubled); mins as offsets"
        return _split(f"gguf-{kind}", u, scale, 32, 0, offset, reference, theirs, note)
    if kind in ("TQ1_0", "TQ2_0"):
        codes = (_trits_tq1(blocks) if kind == "TQ1_0" else _trits_tq2(blocks)).reshape(n, depth)
        d = _fp16(blocks[..., -2:]).reshape(n, -1)
        reference = np.repeat(d, block, axis=1) * (codes - 1)
        return CoreWeight(f"gguf-{kind}", codes, d, np.ones_like(d), 2, True, reference,
                          gguf_reference=theirs)  # fmt: skip
    # Q4_K
    d = _fp16(blocks[..., 0:2])  # [N, NB, 1]
    dmin = _fp16(blocks[..., 2:4])
    sc, mins = q4k_scales(blocks[..., 4:16])  # [N, NB, 8]
    qs = blocks[..., 16:].reshape(n, -1, 4, 32).astype(np.int64)  # 4 x 32 bytes: 2 sub-blocks
    codes = np.stack([qs & 15, qs >> 4], axis=3).reshape(n, depth)  # low nibbles first
    scale = (d * sc).reshape(n, -1)
    offset = (dmin * mins).reshape(n, -1)
    reference = np.repeat(scale, 32, axis=1) * codes - np.repeat(offset, 32, axis=1)
    return CoreWeight("gguf-Q4_K", codes, scale, np.zeros_like(scale), 4, False, reference,
                      offset=offset, gguf_reference=theirs,
                      note="mins as a per-chunk offset on the activation sums")  # fmt: skip


def _split(fmt, u, scale, sub, bias, offset, reference, theirs, note) -> CoreWeight:
    """Codes ``u`` of more than 4 bits with ``w = s (u - bias) - offset`` per sub-block of
    ``sub``, as two 4-bit chunks per sub-block on the same activations (K doubles):
    ``w = 16 s (hi - bias / 16) + s lo - offset``, ``u = 16 hi + lo`` (``bias`` a multiple of
    16, so both zero points are integers)."""
    n, depth = u.shape
    subs = depth // sub
    u = u.reshape(n, subs, sub)
    codes = np.stack([u >> 4, u & 15], axis=2).reshape(n, 2 * depth)  # per sub-block: hi, lo
    scales = np.stack([16 * scale, scale], axis=2).reshape(n, -1)
    zero = np.tile([bias / 16, 0.0], (n, subs))
    if offset is not None:
        offset = np.stack([np.zeros_like(offset), offset], axis=2).reshape(n, -1)
    starts = np.arange(0, depth, sub)
    gather = (starts[:, None, None] + np.arange(sub)[None, None, :]).repeat(2, axis=1)
    return CoreWeight(fmt, codes, scales, zero, 4, False, reference, gather=gather.reshape(-1),
                      offset=offset, gguf_reference=theirs, note=note)  # fmt: skip


def q4k_scales(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K's 12 bytes -> eight 6-bit scales and eight 6-bit mins (int64)."""
    b = packed.astype(np.int64)
    sc = np.concatenate([b[..., 0:4] & 63, (b[..., 8:12] & 15) | ((b[..., 0:4] >> 6) << 4)], -1)
    mn = np.concatenate([b[..., 4:8] & 63, (b[..., 8:12] >> 4) | ((b[..., 4:8] >> 6) << 4)], -1)
    return sc, mn


def _trits_tq2(blocks: np.ndarray) -> np.ndarray:
    qs = blocks[..., : QK_K // 4].astype(np.int64).reshape(*blocks.shape[:-1], -1, 1, 32)
    return ((qs >> (2 * np.arange(4))[:, None]) & 3).reshape(*blocks.shape[:-1], QK_K)


def _trits_tq1(blocks: np.ndarray) -> np.ndarray:
    """Base-3 bytes: byte x holds trit j as ``((x * 3^j mod 256) * 3) >> 8``."""
    head = blocks.shape[:-1]
    qs, qh = blocks[..., :48].astype(np.int64), blocks[..., 48:52].astype(np.int64)
    powers = 3 ** np.arange(5)

    def trits(x, count, width):
        x = x.reshape(*head, -1, 1, width)
        return ((((x * powers[:count, None]) & 255) * 3) >> 8).reshape(*head, -1)

    return np.concatenate([trits(qs[..., :32], 5, 32), trits(qs[..., 32:], 5, 16),
                           trits(qh, 4, 4)], axis=-1)  # fmt: skip


# ---- reading a checkpoint --------------------------------------------------------------------
_TENSOR = re.compile(
    r"(?:^|\.)(layers\.\d+\..+)\.(qweight|qzeros|scales|g_idx|weight|weight_scale)$"
)


def _module(key: str) -> tuple[str, str] | None:
    """``model.layers.3.self_attn.q_proj.qweight`` -> (``layers.3.self_attn.q_proj``,
    ``qweight``)."""
    match = _TENSOR.search(key)
    return (match.group(1), match.group(2)) if match else None


def _safetensors(label: str, files: list[Path], gemms: list[LutGemm],
                 zero_offset: int) -> dict[str, CoreWeight]:  # fmt: skip
    """Every LUT GEMM's tensors from one or more safetensors files (shards)."""
    from safetensors import safe_open

    with contextlib.ExitStack() as stack:
        modules: dict[str, dict[str, tuple]] = {}
        for path in files:
            try:
                f = stack.enter_context(safe_open(str(path), framework="np"))
            except Exception as err:  # safetensors raises its own error types
                raise ValueError(
                    f"cannot read checkpoint {path.name!r}: {' '.join(str(err).split())}"
                ) from None
            for key in f.keys():
                found = _module(key)
                if found:
                    modules.setdefault(found[0], {})[found[1]] = (f, key)
        out = {}
        for gemm in gemms:
            parts = modules.get(gemm.name)
            where = f"{label}: {gemm.name}"
            if parts is None:
                raise ValueError(f"{label}: no tensors for {gemm.name}")
            get = {name: f.get_tensor(key) for name, (f, key) in parts.items()}
            shape = (gemm.n, gemm.k)
            if "qweight" in get:
                qw = get["qweight"]
                if qw.shape == (gemm.k, gemm.n // 8) and "g_idx" not in get:
                    out[gemm.name] = awq_weight(where, qw, get["qzeros"], get["scales"], shape)
                else:
                    out[gemm.name] = gptq_weight(where, qw, get["qzeros"], get["scales"],
                                                 get.get("g_idx"), shape, zero_offset)  # fmt: skip
            elif "weight" in get and get["weight"].dtype == np.uint8 and "weight_scale" in get:
                out[gemm.name] = bitnet_weight(where, get["weight"], get["weight_scale"], shape)
            else:
                kind = get["weight"].dtype if "weight" in get else "no quantized tensors"
                raise ValueError(
                    f"{where}: not quantized ({kind}); formats: GPTQ, AWQ, BitNet b1.58, GGUF"
                )
    return out


def _gptq_zero_offset(folder: Path) -> int:
    """1 (GPTQ's stored zeros are z - 1), or 0 when the folder's quantization config says
    ``checkpoint_format: gptq_v2``."""
    for name, key in (("quantize_config.json", None), ("config.json", "quantization_config")):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            data = data.get(key, {}) if key and isinstance(data, dict) else data
            if isinstance(data, dict) and data.get("checkpoint_format") == "gptq_v2":
                return 0
    return 1


def _gguf(path: Path, gemms: list[LutGemm]) -> dict[str, CoreWeight]:
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as err:  # the reader raises ValueError, struct and numpy errors
        raise ValueError(
            f"cannot read checkpoint {path.name!r}: {' '.join(str(err).split())}"
        ) from None
    tensors = {t.name: t for t in reader.tensors}
    out = {}
    for gemm in gemms:
        part = GGUF_PARTS.get(gemm.part)
        name = f"blk.{gemm.layer}.{part}.weight"
        if gemm.expert is not None:
            name = f"blk.{gemm.layer}.{part}_exps.weight"
        elif ".shared_expert." in gemm.name:
            name = f"blk.{gemm.layer}.{part}_shexp.weight"
        label = f"{path.name}: {name}"
        if part is None or name not in tensors:
            raise ValueError(f"{path.name}: no tensor {name} for {gemm.name}")
        tensor = tensors[name]
        raw = np.asarray(tensor.data)
        dims = [int(d) for d in reversed(tensor.shape)]  # GGUF lists the fastest dimension first
        if gemm.expert is not None:
            raw, dims = raw[gemm.expert], dims[1:]
        if dims != [gemm.n, gemm.k]:
            raise ValueError(
                f"{label} is {'x'.join(map(str, dims))}; {gemm.name} is {gemm.n}x{gemm.k} (N x K)"
            )
        out[gemm.name] = gguf_weight(label, tensor.tensor_type.name, raw, (gemm.n, gemm.k))
    return out


def load_checkpoint(path: str | os.PathLike[str], gemms: list[LutGemm]) -> dict[str, CoreWeight]:
    """The weights of every LUT GEMM in ``gemms`` from a ``.safetensors`` or ``.gguf`` file,
    or a folder of safetensors shards (a GPTQ ``checkpoint_format`` of ``gptq_v2`` in its
    ``quantize_config.json`` or ``config.json`` means zeros stored as they are)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise ValueError(f"checkpoint folder {str(path)!r} holds no .safetensors files")
        return _safetensors(path.name, files, gemms, _gptq_zero_offset(path))
    if not path.is_file():
        raise ValueError(f"cannot read checkpoint {str(path)!r}: no such file")
    if path.suffix == ".gguf":
        return _gguf(path, gemms)
    if path.suffix == ".safetensors":
        return _safetensors(path.name, [path], gemms, _gptq_zero_offset(path.parent))
    raise ValueError(f"checkpoint {path.name!r}: expected a .safetensors or .gguf file or a folder")


def core_for(cfg: CoreConfig, weights: Mapping[str, CoreWeight]) -> CoreConfig:
    """``cfg`` with the checkpoint's weight bits (one width for every layer, or an error)."""
    kinds = {(w.bits, w.ternary) for w in weights.values()}
    if len(kinds) != 1:
        raise ValueError(f"the checkpoint mixes weight widths {sorted(kinds)}; give one")
    ((bits, ternary),) = kinds
    if (cfg.weight_bits, cfg.ternary) == (bits, ternary):
        return cfg
    return cfg.replace(weight_bits=bits, ternary=ternary)


# ---- the per-layer check ---------------------------------------------------------------------
@dataclass(frozen=True)
class LayerCheck:
    """One layer's compiled program on a checkpoint's weights against its dequantization."""

    name: str
    format: str
    shape: tuple[int, int, int]  # M, N, K of the layer
    core_k: int  # K the core runs (re-blocking may double it)
    chunks: int
    instructions: int
    weight_mismatches: int  # converted weights != the format's dequantization (exact)
    algorithm_mismatches: int  # program accumulators != the vectorized LUT algorithm
    dot_mismatches: int | None  # exact paths: chunk dot products != the reference's
    residual: float  # max |o - a W_format^T|
    bound: float
    gguf_residual: float | None  # max |o - a W_gguf^T| (gguf's float32 dequantization)
    gguf_bound: float | None

    @property
    def ok(self) -> bool:
        gguf_ok = self.gguf_residual is None or self.gguf_residual <= self.gguf_bound
        return (self.weight_mismatches == 0 and self.algorithm_mismatches == 0
                and self.dot_mismatches in (None, 0) and self.residual <= self.bound
                and gguf_ok)  # fmt: skip


def check_layer(cfg: CoreConfig, name: str, weight: CoreWeight, a: np.ndarray,
                buffer_words: int = 48 * 256) -> LayerCheck:  # fmt: skip
    """Run ``weight``'s compiled program on activations ``a[M, K]`` (values of the core's
    activation format) and compare: converted weights with the format's dequantization
    (exactly), the program with the LUT algorithm (bit for bit), chunk dot products with the
    reference (exactly, on exact paths) and outputs with ``a W^T`` of the format's (within the
    float64 rounding bound, or :func:`lutsim.isa.golden.error_bound` on float paths) and of
    ``gguf``'s dequantization (plus its float32 rounding)."""
    rows, depth = a.shape
    codes = weight.codes
    a_core = a if weight.gather is None else a[:, weight.gather]
    problem = make_problem(cfg, a_core, codes, weight.scale, weight.zero)
    core_k = problem.a.shape[1]
    tables = precompute_tables(cfg, problem.a, weight.chunks)
    check_int32(cfg, tables)
    n = codes.shape[0]
    program = LoopProgram(cfg, rows, n, core_k, weight.chunks,
                          *block_shape(cfg, rows, n, core_k, buffer_words))  # fmt: skip
    image = program.memory_image(pack_table_region(cfg, tables.entries),
                                 pack_weight_region(cfg, problem.w, program.col_tiles))  # fmt: skip
    acc = program.read_outputs(program.run(image))
    expected = accumulate(cfg, tables, weight_indices(cfg, problem.w))
    same = (acc == expected) | (np.isnan(acc) & np.isnan(expected))
    dots = chunk_dots(cfg, acc, tables, problem.zero)
    ref, ref_dots = reference(cfg, problem.a, problem.w, problem.scale, problem.zero)
    exact = cfg.exact and ref_dots is not None
    o = combine_chunks(dots, problem.scale)
    bound = error_bound(cfg, problem.a, problem.w, problem.scale, problem.zero, tables)
    magnitude = np.abs(a) @ np.abs(weight.reference).T
    if weight.offset is not None:
        o = o - tables.act_sum @ weight.offset.T
        bound = bound + (weight.chunks + 2) * 2.0**-52 * (np.abs(tables.act_sum) @
                                                          np.abs(weight.offset).T)  # fmt: skip
    bound = bound + (depth + 16) * 2.0**-52 * magnitude  # the reference's own rounding
    residual = np.abs(o - a @ weight.reference.T)
    gguf_residual = gguf_bound = None
    if weight.gguf_reference is not None:
        theirs = np.abs(o - a @ weight.gguf_reference.T)
        limit = bound + 2.0**-24 * magnitude + (depth + 16) * 2.0**-52 * (
            np.abs(a) @ np.abs(weight.gguf_reference).T)  # fmt: skip
        gguf_residual, gguf_bound = float(theirs.max()), float(limit.max())
        if np.any(theirs > limit):
            gguf_bound = -1.0  # an element is outside its own bound
    within = bool(np.all(residual <= bound))
    return LayerCheck(
        name=name, format=weight.format, shape=(rows, n, depth), core_k=core_k,
        chunks=weight.chunks, instructions=sum(program.counts().values()),
        weight_mismatches=int(np.count_nonzero(weight.dense() != weight.reference)),
        algorithm_mismatches=int(np.count_nonzero(~same)),
        dot_mismatches=int(np.count_nonzero(dots != ref_dots)) if exact else None,
        residual=float(residual.max()), bound=float(bound.max()) if within else -1.0,
        gguf_residual=gguf_residual, gguf_bound=gguf_bound,
    )  # fmt: skip


def random_activations(cfg: CoreConfig, rows: int, depth: int, seed: int) -> np.ndarray:
    """Activations of the core's format: integers over the whole range, or normal floats
    rounded to the format."""
    from lutsim.isa.formats import quantize

    rng = np.random.default_rng(seed)
    fmt = cfg.act
    if not fmt.is_float:
        top = int(fmt.max_finite)
        return rng.integers(-top, top + 1, size=(rows, depth)).astype(np.float64)
    return quantize(rng.standard_normal((rows, depth)) * math.sqrt(2), fmt)
