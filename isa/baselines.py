"""Golden semantics of the baseline datapaths that the LUT core is compared against.

Each function runs a whole GEMM the way its array does, step by step (one group of K
activations per step, groups in increasing K), vectorized over the M x N outputs, starting from
the accumulators ``acc`` (zero when omitted). The RTL of each array (``hw/mac_array.py``,
``hw/add_array.py``, ``hw/conv_lut_array.py``) matches these functions bit for bit.

Notation: activations ``a[M, D]`` (values: integers for int8/int16, float64 holding fp16 values
for fp16), unsigned weight codes ``codes[N, D]`` with ``D`` a multiple of the group size K, zero
points ``zero`` of shape ``(N,)`` or ``(N, C)`` (one per group of ``D / C`` along D, C dividing
D), in the code range. Integer accumulators are int32 and wrap modulo 2^32 (returned as int64
values); the fp16 MAC accumulates in fp32 (returned as float64 holding fp32 values).

One step, for one group of K activations ``a_l`` and codes ``q_l`` of each output:

========== ============================================================= ==============
function   one step                                                      accumulator
========== ============================================================= ==============
mac_int    ``acc += sum_l a_l (q_l - z)``                                int32, wraps
mac_fp16   ``acc = RNE(acc + a_l * fp16(q_l - z))`` for l = 0 .. K-1 in  fp32
           turn; each product is exact in fp32
add_array  for b = 0 .. B-1: ``acc += (sum_l bit_b(q_l) a_l) << b``      int32, wraps
conv_lut   ``T[i] = sum_l bit_l(i) a_l`` (2^K entries), then for         int32, wraps
           b = 0 .. B-1: ``acc += T[sum_l bit_b(q_l) << l] << b``
========== ============================================================= ==============

The MAC arrays dequantize in the datapath (``q - z``); the bit-serial ADD and conventional LUT
arrays compute ``sum a q`` and leave the zero point to the epilogue (``- z sum a``), like the LUT
core without symmetrization. Because int32 addition modulo 2^32 is associative, every integer
array ends with ``wrap32(acc + sum_d a_d w_d)`` whatever its order; the fp16 MAC's order is part
of its result.
"""

from __future__ import annotations

import numpy as np

from .formats import wrap_int

__all__ = ["add_array", "conv_lut", "mac_fp16", "mac_int"]


def _check(a, codes, bits: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    a, codes = np.asarray(a), np.asarray(codes)
    if a.ndim != 2 or codes.ndim != 2 or a.shape[1] != codes.shape[1]:
        raise ValueError(f"a{list(a.shape)} and codes{list(codes.shape)} must share their depth")
    if a.shape[1] % k:
        raise ValueError(f"depth {a.shape[1]} is not a multiple of the group size {k}")
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << bits):
        raise ValueError(f"weight codes must be 0 to {(1 << bits) - 1}")
    return a, codes.astype(np.int64)


def _zero_per_lane(zero, n: int, depth: int) -> np.ndarray:
    """Zero points ``(N,)`` or ``(N, C)`` spread to every lane: ``[N, D]`` (int64)."""
    zero = np.asarray(zero, dtype=np.int64)
    if zero.ndim == 1:
        zero = zero[:, None]
    if zero.ndim != 2 or zero.shape[0] != n or depth % zero.shape[1]:
        raise ValueError(f"zero points must be (N,) or (N, C) with C dividing {depth}")
    return np.repeat(zero, depth // zero.shape[1], axis=1)


def _start(acc, rows: int, cols: int, dtype) -> np.ndarray:
    if acc is None:
        return np.zeros((rows, cols), dtype=dtype)
    return np.asarray(acc).astype(dtype).reshape(rows, cols)


def mac_int(a, codes, zero, bits: int, k: int, acc=None) -> np.ndarray:
    """INT MAC array: ``wrap32(acc + sum_d a[m, d] (codes[n, d] - zero[n, d]))``, int64 [M, N]."""
    a, codes = _check(a, codes, bits, k)
    weights = codes - _zero_per_lane(zero, codes.shape[0], codes.shape[1])
    out = _start(acc, a.shape[0], codes.shape[0], np.int64)
    for g in range(0, a.shape[1], k):
        group = slice(g, g + k)
        out = wrap_int(out + a[:, group].astype(np.int64) @ weights[:, group].T, 32)
    return out


def mac_fp16(a, codes, zero, bits: int, k: int, acc=None) -> np.ndarray:
    """FP16 MAC array, fp32 accumulation in the defined order: lane by lane along D,
    ``acc = RNE32(acc + a[m, d] * fp16(codes[n, d] - zero[n, d]))``. Returns float64 [M, N]
    holding fp32 values (NaN for any NaN; Inf and NaN follow IEEE 754)."""
    a, codes = _check(a, codes, bits, k)
    weights = (codes - _zero_per_lane(zero, codes.shape[0], codes.shape[1])).astype(np.float32)
    out = _start(acc, a.shape[0], codes.shape[0], np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        lanes = np.asarray(a, dtype=np.float64).astype(np.float32)  # fp16 values: exact
        for d in range(a.shape[1]):
            # fp16 x small integer: 11 x 5 significant bits, exact in fp32
            out = out + lanes[:, d, None] * weights[None, :, d]
    return out.astype(np.float64)


def add_array(a, codes, bits: int, k: int, acc=None) -> np.ndarray:
    """Bit-serial ADD array: ``wrap32(acc + sum_d a[m, d] codes[n, d])``, int64 [M, N]."""
    a, codes = _check(a, codes, bits, k)
    a = a.astype(np.int64)
    out = _start(acc, a.shape[0], codes.shape[0], np.int64)
    for g in range(0, a.shape[1], k):
        group = slice(g, g + k)
        for b in range(bits):
            plane = (codes[:, group] >> b) & 1  # [N, K]
            out = wrap_int(out + ((a[:, group] @ plane.T) << b), 32)
    return out


def conv_lut(a, codes, bits: int, k: int, acc=None) -> np.ndarray:
    """Conventional LUT array (full 2^K-entry tables, no symmetrization):
    ``wrap32(acc + sum_d a[m, d] codes[n, d])``, int64 [M, N]."""
    a, codes = _check(a, codes, bits, k)
    a = a.astype(np.int64)
    entry = np.arange(1 << k)
    selects = (entry[:, None] >> np.arange(k)[None, :]) & 1  # [2^K, K]: bit l of entry i
    out = _start(acc, a.shape[0], codes.shape[0], np.int64)
    for g in range(0, a.shape[1], k):
        group = slice(g, g + k)
        table = a[:, group] @ selects.T  # [M, 2^K]
        for b in range(bits):
            index = (((codes[:, group] >> b) & 1) << np.arange(k)).sum(axis=1)  # [N]
            out = wrap_int(out + (table[:, index] << b), 32)
    return out
