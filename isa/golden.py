"""The numpy golden model: the dequantization reference and the LUT algorithm, bit for bit.

Notation: activations ``a[M, K]`` in the activation format; weight codes ``q[N, K]`` (unsigned,
B bits); per output channel or per group of G along K a scale ``s[N, C]`` and zero point
``z[N, C]`` (C = K / G chunks). The GEMM is ``o[m, n] = sum_k a[m, k] * s[n, c(k)] * (q[n, k] -
z[n, c(k)])``.

The LUT algorithm (what the hardware computes)
----------------------------------------------
1. **Table precompute** (software). For each row m and group g of K activations
   ``a_0..a_{K-1}``, entry j of the table is

   * with symmetrization: ``T[j] = sum_l c_l a_l`` where ``c_l = +1`` if bit l of
     ``j | 2^(K-1)`` is set, else ``-1`` (2^(K-1) entries; the MSB is implied);
   * without: ``T[j] = sum_l bit_l(j) a_l`` (2^K entries).

   The sum is exact (float64 holds it exactly for every supported format) and is rounded once
   to the table format (RNE). With table quantization (``table_format = "int8"``) the scale is
   chosen **per row and chunk**: ``s_t[m, c] = max |T| / 127`` over every table of row m in chunk
   c (1.0 when that maximum is 0), and entries are ``RNE(T / s_t)``, in -127..127. A chunk is the
   span between two accumulator stores (one weight-quantization group, or the whole K), so the
   integer accumulation inside it shares one scale.
2. **Weight reinterpretation and bit planes** (offline). Plane b of a group holds the K bits
   ``bit_b(q[n, g*K + l])`` as an index ``i = sum_l bit << l``. With symmetrization the bits are
   read as +-1 (``q' = 2q - (2^B - 1)``) and **offline inversion** stores ``i`` when its MSB is
   1 and ``i ^ (2^(K-1) - 1)`` (low bits inverted, MSB 0) otherwise.
3. **Lookup + negate.** ``x = T[i & mask]``, negated when symmetrized and the MSB of ``i`` is 0.
4. **Shift and accumulate**, in the accumulator format, in this order: groups in increasing K,
   planes b = 0 .. B-1 within a group, one rounded addition ``acc <- acc + x * 2^b`` per plane
   (the scaling by 2^b is exact). int32 accumulation wraps modulo 2^32; because that is
   associative, the vectorized integer path may sum in any order and wrap once.
5. **Store** converts the accumulator to the output format (RNE).
6. **Epilogue** (software, float64): per chunk ``d = f * (s_t * acc - z_eff * sum(a))`` with
   ``f = 1/2, z_eff = 2z + 1 - 2^B`` when symmetrized, ``f = 1, z_eff = z`` otherwise; then
   ``o = sum_c s[n, c] * d[c]`` (chunks in order). The activation sums are exact.

Memory layouts of fragments (32-bit words, little-endian bit numbering)
-----------------------------------------------------------------------
* table fragment: word ``m * E + j`` holds entry j of row m's table (two's complement in the
  entry width, or the float bit pattern), zero-extended.
* weight fragment: bit ``p = (b * N + n) * K + l`` of the stream (word ``p // 32``, bit
  ``p % 32``) is bit l of the stored index of plane b, column n.
* accumulator fragment: word ``m * N + n`` holds the value in the output format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import CoreConfig
from .formats import from_bits, quantize, to_bits, wrap_int

__all__ = [
    "Tables",
    "accumulate",
    "combine_chunks",
    "epilogue",
    "error_bound",
    "lookup",
    "pack_acc",
    "pack_tables",
    "pack_weights",
    "plane_step",
    "precompute_tables",
    "reference",
    "sign_matrix",
    "unpack_acc",
    "unpack_tables",
    "unpack_weights",
    "weight_indices",
]

_F64_EXACT = 2.0**53


def sign_matrix(cfg: CoreConfig) -> np.ndarray:
    """(E, K) coefficients of each stored entry: +-1 when symmetrized, 0/1 otherwise."""
    j = np.arange(cfg.table_entries)
    if cfg.symmetrize:
        j = j | (1 << (cfg.k - 1))
    bits = (j[:, None] >> np.arange(cfg.k)[None, :]) & 1
    return (2 * bits - 1) if cfg.symmetrize else bits


def acc_dtype(cfg: CoreConfig):
    return {"int32": np.int64, "fp16": np.float16, "fp32": np.float32}[cfg.acc_format]


@dataclass(frozen=True)
class Tables:
    """Precomputed tables of a whole activation matrix.

    ``entries[M, NG, E]`` in the table format (int64 for integer tables, float64 otherwise);
    ``scale[M, C]`` the table-quantization scale (1.0 without quantization); ``act_sum[M, C]``
    the exact activation sum of each chunk (float64)."""

    entries: np.ndarray
    scale: np.ndarray
    act_sum: np.ndarray


def precompute_tables(cfg: CoreConfig, a: np.ndarray, chunks: int) -> Tables:
    """Tables for ``a[M, K]`` (K a multiple of cfg.k), split into ``chunks`` equal chunks."""
    rows, depth = a.shape
    groups = depth // cfg.k
    grouped = a.reshape(rows, groups, cfg.k).astype(np.float64)
    exact = grouped @ sign_matrix(cfg).T.astype(np.float64)  # (M, NG, E); exact in float64
    act_sum = grouped.reshape(rows, chunks, -1).sum(axis=2)
    scale = np.ones((rows, chunks))
    if cfg.table_format == "int":
        entries = exact.astype(np.int64)
    elif cfg.table_format == "int8":
        peak = np.abs(exact).reshape(rows, chunks, -1).max(axis=2)
        scale = np.where(peak > 0, peak / 127.0, 1.0)
        per_group = np.repeat(scale, groups // chunks, axis=1)[:, :, None]
        entries = np.clip(np.round(exact / per_group), -127, 127).astype(np.int64)
    else:
        entries = quantize(exact, cfg.table_format)
    return Tables(entries, scale, act_sum)


def weight_indices(cfg: CoreConfig, codes: np.ndarray) -> np.ndarray:
    """Stored lookup indices ``idx[B, N, NG]`` (uint8): bit planes, offline-inverted."""
    n, depth = codes.shape
    grouped = codes.astype(np.uint8).reshape(n, depth // cfg.k, cfg.k)
    index = np.empty((cfg.weight_bits, n, depth // cfg.k), dtype=np.uint8)
    for b in range(cfg.weight_bits):
        plane = (grouped >> np.uint8(b)) & np.uint8(1)
        index[b] = plane[:, :, 0]
        for lane in range(1, cfg.k):
            index[b] |= plane[:, :, lane] << np.uint8(lane)
    if cfg.symmetrize:
        positive = (index >> np.uint8(cfg.k - 1)) == 1
        index = np.where(positive, index, index ^ np.uint8(cfg.index_mask))
    return index


def lookup(cfg: CoreConfig, entries: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Signed entries for one plane: ``entries[..., M, E]`` and ``index[..., N]`` -> ``[..., M, N]``.

    Index bits below the MSB select the entry; with symmetrization an MSB of 0 negates it.
    Integer negation is two's complement in the entry width (it never wraps for tables the
    precompute makes; a table loaded from arbitrary memory may hold the one value that does)."""
    idx = np.broadcast_to(
        (index & cfg.index_mask)[..., None, :], entries.shape[:-1] + index.shape[-1:]
    )
    picked = np.take_along_axis(entries, idx.astype(np.intp), axis=-1)
    if cfg.symmetrize:
        negate = ((index >> (cfg.k - 1)) & 1) == 0
        flipped = -picked
        if not cfg.table.is_float:
            flipped = wrap_int(flipped, cfg.table.bits)
        picked = np.where(negate[..., None, :], flipped, picked)
    return picked


def plane_step(cfg: CoreConfig, acc: np.ndarray, entries: np.ndarray, index, plane: int):
    """One cycle of the datapath: ``acc + lookup * 2^plane`` in the accumulator format.

    ``entries`` must already be in the accumulator's dtype (int64 or float16/float32)."""
    x = lookup(cfg, entries, index)
    if cfg.int_path:
        return wrap_int(acc + (x << plane), 32)
    with np.errstate(over="ignore", invalid="ignore"):
        return acc + x * acc.dtype.type(2.0**plane)


def accumulate(cfg: CoreConfig, tables: Tables, index: np.ndarray) -> np.ndarray:
    """The core's work for a whole GEMM: ``acc[M, N, C]`` as stored (output format values).

    Integer accumulation sums exactly (float64 one-hot products, all partial sums below 2^53) and
    wraps to int32 once; float accumulation runs plane by plane in the defined order."""
    entries = tables.entries
    rows, groups, _ = entries.shape
    chunks = tables.scale.shape[1]
    per_chunk = groups // chunks
    n = index.shape[1]
    out = np.empty((rows, n, chunks), dtype=np.float64 if not cfg.int_path else np.int64)
    if cfg.int_path:
        peak = np.abs(entries).max(axis=2).reshape(rows, chunks, per_chunk).sum(axis=2)
        reach = (peak * (2**cfg.weight_bits - 1)).max(initial=0)
        if reach >= _F64_EXACT:
            raise ValueError("integer sums exceed 2^53; split the problem into smaller chunks")
        # every product and partial sum is an integer below 2^24 (float32) or 2^53 (float64),
        # so BLAS computes the exact sum in whatever order it chooses
        exact_dtype = np.float32 if reach < 2.0**24 else np.float64
        flat = entries.astype(exact_dtype)
        for c in range(chunks):
            span = slice(c * per_chunk, (c + 1) * per_chunk)
            rhs = flat[:, span, :].reshape(rows, -1).T  # [NG * E, M]
            exact = np.empty((n, rows), dtype=exact_dtype)
            for start, coef in _lookup_counts(cfg, index[:, :, span], exact_dtype):
                exact[start : start + coef.shape[0]] = coef @ rhs
            out[:, :, c] = wrap_int(exact.T.astype(np.int64), 32)
        return out
    dtype = acc_dtype(cfg)
    cast = entries.astype(dtype)
    for c in range(chunks):
        acc = np.zeros((rows, n), dtype=dtype)
        for g in range(c * per_chunk, (c + 1) * per_chunk):
            for b in range(cfg.weight_bits):
                acc = plane_step(cfg, acc, cast[:, g, :], index[b, :, g], b)
        out[:, :, c] = quantize(acc.astype(np.float64), cfg.out_format)
    return out


def _lookup_counts(cfg: CoreConfig, index: np.ndarray, dtype, block: int = 256):
    """Yield ``(n0, coef)`` with ``coef[n, g * E + e] = sum_b 2^b * sign`` over the lookups of
    entry e of group g by column ``n0 + n``: the lookups as a matrix, ``block`` columns at a
    time (so that ``coef @ tables`` is the shift-and-accumulate of those columns)."""
    planes, n, groups = index.shape
    entries = cfg.table_entries
    coef = np.zeros((min(block, n), groups * entries), dtype=dtype)
    flat = coef.reshape(-1)
    base = (np.arange(coef.shape[0])[:, None] * groups + np.arange(groups)[None, :]) * entries
    mask, sign_bit = np.uint8(cfg.index_mask), np.uint8(cfg.k - 1)
    for start in range(0, n, block):
        rows = min(block, n - start)
        coef.fill(0)
        for b in range(planes):
            idx = index[b, start : start + rows]  # [rows, NG]; one lookup per (n, g) and plane
            weight = dtype(2.0**b)
            value = np.where((idx >> sign_bit) & 1, weight, -weight) if cfg.symmetrize else weight
            flat[(base[:rows] + (idx & mask)).ravel()] += np.broadcast_to(value, idx.shape).ravel()
        yield start, coef[:rows]


def combine_chunks(dots: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``o[m, n] = sum_c scale[n, c] * dots[m, n, c]``, chunks added in order (float64)."""
    out = np.zeros(dots.shape[:2])
    for c in range(dots.shape[2]):
        out = out + scale[None, :, c] * dots[:, :, c]
    return out


def chunk_dots(cfg: CoreConfig, acc: np.ndarray, tables: Tables, zero: np.ndarray) -> np.ndarray:
    """Per-chunk dot products ``sum a (q - z)`` from stored accumulators (float64, [M, N, C])."""
    bits = cfg.weight_bits
    factor, z_eff = (0.5, 2 * zero + 1 - 2**bits) if cfg.symmetrize else (1.0, zero)
    scaled = tables.scale[:, None, :] * acc.astype(np.float64)
    return factor * (scaled - z_eff[None, :, :] * tables.act_sum[:, None, :])


def epilogue(cfg, acc, tables, scale, zero) -> np.ndarray:
    """Dequantization epilogue: stored accumulators -> ``o[M, N]`` (float64)."""
    return combine_chunks(chunk_dots(cfg, acc, tables, zero), scale)


def reference(cfg: CoreConfig, a, codes, scale, zero) -> tuple[np.ndarray, np.ndarray | None]:
    """Dequantize and multiply. Returns ``(o, dots)``: exact per-chunk integer dot products
    ``dots[M, N, C]`` (int64) when activations and zero points are integers, else None; ``o``
    is float64 (from the exact dots when they exist, else ``a @ (s (q - z))^T`` in float64)."""
    chunks = scale.shape[1]
    rows, depth = a.shape
    span = depth // chunks
    integral = not cfg.act.is_float and bool(np.all(zero == np.round(zero)))
    if integral:
        dots = np.empty((rows, codes.shape[0], chunks), dtype=np.int64)
        for c in range(chunks):
            part = slice(c * span, (c + 1) * span)
            centered = codes[:, part].astype(np.int64) - zero[:, c : c + 1].astype(np.int64)
            dots[:, :, c] = _int_matmul(a[:, part].astype(np.int64), centered.T)
        return combine_chunks(dots.astype(np.float64), scale), dots
    per_k = np.repeat(np.arange(chunks), span)
    weights = scale[:, per_k] * (codes - zero[:, per_k])
    return a.astype(np.float64) @ weights.T, None


def _int_matmul(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Exact integer matmul: float64 BLAS when every partial sum stays below 2^53."""
    bound = np.abs(lhs).sum(axis=1).max(initial=0) * np.abs(rhs).max(initial=0)
    if bound < _F64_EXACT:
        return (lhs.astype(np.float64) @ rhs.astype(np.float64)).astype(np.int64)
    return lhs @ rhs


def error_bound(cfg: CoreConfig, a, codes, scale, zero, tables: Tables) -> np.ndarray:
    """A priori bound on ``|o - reference|`` per output (float64 ``[M, N]``).

    Terms, per chunk, in accumulator units: table rounding (``u_t |T| + eta_t`` per lookup, or
    half an INT8 step), recursive summation of ``n = groups * B`` terms (``gamma_(n-1) sum |x|``),
    the store rounding to the output format, all scaled by ``f * s_t * |s|``; plus float64
    rounding of the reference and the epilogue. Integer exact paths get 0 besides float64."""
    rows, depth = a.shape
    chunks = scale.shape[1]
    span = depth // chunks
    groups = span // cfg.k
    weight_sum = 2**cfg.weight_bits - 1
    factor = 0.5 if cfg.symmetrize else 1.0
    mag = np.abs(a.astype(np.float64)).reshape(rows, chunks, groups, cfg.k).sum(axis=3)
    bound = np.zeros((rows, codes.shape[0]))
    if not cfg.exact:
        if cfg.table_quantized:
            # exact integer sums of entries each within half a step (plus float64 ties) of T/s_t
            per_chunk = 0.5 * (1 + 2.0**-40) * weight_sum * groups * tables.scale
        else:
            t, u_a = cfg.table, 2.0 ** -(cfg.acc.man + 1)
            u_t, eta_t = 2.0 ** -(t.man + 1), t.min_subnormal / 2
            stored = cfg.out_format != cfg.acc_format
            u_o = 2.0 ** -(cfg.out.man + 1) if stored else 0.0
            eta_o = cfg.out.min_subnormal / 2 if stored else 0.0
            table_err = weight_sum * (u_t * mag + eta_t).sum(axis=2)  # exact sum of lookups
            terms = weight_sum * (mag * (1 + u_t) + eta_t).sum(axis=2)  # >= sum |x_i|
            count = groups * cfg.weight_bits - 1  # roundings: the first add to +0 is exact
            gamma = count * u_a / (1 - count * u_a) if count * u_a < 1 else np.inf
            per_chunk = table_err + gamma * terms + u_o * (1 + gamma) * terms + eta_o
        per_output = np.broadcast_to(factor * per_chunk[:, None, :], bound.shape + (chunks,))
        bound = combine_chunks(per_output, np.abs(scale))
    # float64 roundings of the reference and the epilogue: every intermediate is at most
    # sum |a| |s| (|q| + |z| + 2^B - 1)
    per_k = np.repeat(np.arange(chunks), span)
    deq = np.abs(scale)[:, per_k] * (np.abs(codes) + np.abs(zero)[:, per_k] + weight_sum)
    f64 = (depth + 4 * chunks + 16) * 2.0**-52 * (np.abs(a.astype(np.float64)) @ deq.T)
    return bound + f64


# ---- fragment packing --------------------------------------------------------------------
def pack_tables(cfg: CoreConfig, entries: np.ndarray) -> np.ndarray:
    """Table fragments ``entries[..., M, E]`` -> words ``[..., M * E]`` (uint32)."""
    bits = to_bits(entries, cfg.table)
    return bits.reshape(entries.shape[:-2] + (-1,)).astype(np.uint32)


def unpack_tables(cfg: CoreConfig, words: np.ndarray) -> np.ndarray:
    values = from_bits(words, cfg.table)
    return values.reshape(words.shape[:-1] + (cfg.m, cfg.table_entries))


def pack_weights(cfg: CoreConfig, index: np.ndarray) -> np.ndarray:
    """Weight fragments ``index[..., B, N]`` -> words ``[..., weight_fragment_words]``."""
    bits = (index[..., None] >> np.arange(cfg.k)) & 1  # [..., B, N, K]
    flat = bits.reshape(index.shape[:-2] + (-1,)).astype(np.uint64)
    pad = cfg.weight_fragment_words * 32 - flat.shape[-1]
    flat = np.concatenate([flat, np.zeros(flat.shape[:-1] + (pad,), np.uint64)], axis=-1)
    lanes = flat.reshape(flat.shape[:-1] + (cfg.weight_fragment_words, 32))
    return (lanes << np.arange(32, dtype=np.uint64)).sum(axis=-1).astype(np.uint32)


def unpack_weights(cfg: CoreConfig, words: np.ndarray) -> np.ndarray:
    bits = (words.astype(np.uint64)[..., None] >> np.arange(32, dtype=np.uint64)) & 1
    flat = bits.reshape(words.shape[:-1] + (-1,))[..., : cfg.weight_bits * cfg.n * cfg.k]
    grouped = flat.reshape(words.shape[:-1] + (cfg.weight_bits, cfg.n, cfg.k))
    return (grouped << np.arange(cfg.k, dtype=np.uint64)).sum(axis=-1).astype(np.uint8)


def pack_acc(cfg: CoreConfig, values: np.ndarray) -> np.ndarray:
    """Accumulator fragments ``values[..., M, N]`` (output-format values) -> words."""
    bits = to_bits(values, cfg.out)
    return bits.reshape(values.shape[:-2] + (-1,)).astype(np.uint32)


def unpack_acc(cfg: CoreConfig, words: np.ndarray) -> np.ndarray:
    values = from_bits(words, cfg.out)
    return values.reshape(words.shape[:-1] + (cfg.m, cfg.n))
