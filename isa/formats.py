"""Number formats of the LUT tensor core, with bit-exact conversion helpers.

Formats
-------
========== ====== ===== ===== ====== ==== ===================== =====================
name       kind   bits  exp   man    bias max finite            min subnormal
========== ====== ===== ===== ====== ==== ===================== =====================
int8       int    8     -     -      -    127                   -
int16      int    16    -     -      -    32767                 -
int32      int    32    -     -      -    2147483647            -
fp8_e4m3   float  8     4     3      7    448                   2^-9
fp8_e5m2   float  8     5     2      15   57344                 2^-16
fp16       float  16    5     10     15   65504                 2^-24
fp32       float  32    8     23     127  (2 - 2^-23) * 2^127   2^-149
========== ====== ===== ===== ====== ==== ===================== =====================

Values travel through the golden model as float64 (floats) or int64 (integers): every
value of every format above is exactly representable there.

Policy (the same at every level: golden, RTL, cycle model)
----------------------------------------------------------
* **Rounding:** round to nearest, ties to even, for every conversion into a float format and
  every float addition. Float to integer conversions (table quantization) also round to nearest
  even.
* **Subnormals:** fully supported in every float format (gradual underflow, no flush to zero).
* **Signed zero:** preserved; a result that rounds to zero keeps the sign of the exact value;
  ``x + (-x)`` is ``+0``.
* **Overflow:** a finite value beyond the largest finite value after rounding becomes ``±Inf`` in
  formats with an infinity (fp16, fp32, fp8_e5m2) and ``NaN`` in fp8_e4m3, which has none (the OCP
  FP8 non-saturating conversion). Integer accumulators (int32) wrap modulo 2^32; the GEMM driver
  refuses problems whose bound could wrap, so a wrap is never silent.
* **NaN and Inf:** Inf and NaN inputs propagate by IEEE 754 rules; every NaN produced is the
  canonical quiet NaN (fp16 ``0x7e00``, fp32 ``0x7fc00000``, e4m3 ``0x7f``, e5m2 ``0x7e``).
  Bit-exact comparisons treat two NaNs as equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "FORMATS",
    "Format",
    "format_by_name",
    "from_bits",
    "quantize",
    "to_bits",
    "ulp",
    "wrap_int",
]


@dataclass(frozen=True)
class Format:
    """One number format. ``exp``/``man`` are zero for integers."""

    name: str
    kind: str  # "int" or "float"
    bits: int
    exp: int = 0
    man: int = 0
    has_inf: bool = True

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def bias(self) -> int:
        return (1 << (self.exp - 1)) - 1

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        if self.has_inf:
            return (1 << self.exp) - 2 - self.bias
        return (1 << self.exp) - 1 - self.bias  # e4m3: the all-ones exponent holds numbers

    @property
    def max_finite(self) -> float:
        if not self.is_float:
            return float((1 << (self.bits - 1)) - 1)
        if self.has_inf:
            return float((2 - 2.0**-self.man) * 2.0**self.emax)
        return float((2 - 2.0 ** (1 - self.man)) * 2.0**self.emax)  # e4m3: S.1111.111 is NaN

    @property
    def min_value(self) -> float:
        return -self.max_finite - (0 if self.is_float else 1)

    @property
    def min_subnormal(self) -> float:
        return float(2.0 ** (self.emin - self.man))

    @property
    def nan_bits(self) -> int:
        if not self.is_float:
            raise ValueError(f"{self.name} has no NaN")
        if self.has_inf:
            return ((1 << self.exp) - 1) << self.man | 1 << (self.man - 1)
        return (1 << (self.bits - 1)) - 1

    @property
    def abbrev(self) -> str:
        """PTX-style type name used in LMMA mnemonics (``s8``, ``f16``, ``e4m3`` ...)."""
        if self.name in _ABBREV:
            return _ABBREV[self.name]
        return f"s{self.bits}" if not self.is_float else self.name


# fmt: off
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("int8",     "int",   8),
    Format("int16",    "int",   16),
    Format("int32",    "int",   32),
    Format("fp8_e4m3", "float", 8,  exp=4, man=3,  has_inf=False),
    Format("fp8_e5m2", "float", 8,  exp=5, man=2),
    Format("fp16",     "float", 16, exp=5, man=10),
    Format("fp32",     "float", 32, exp=8, man=23),
)}
_ABBREV = {"int8": "s8", "int16": "s16", "int32": "s32", "fp8_e4m3": "e4m3",
           "fp8_e5m2": "e5m2", "fp16": "f16", "fp32": "f32"}
# fmt: on
_NUMPY = {"fp16": np.float16, "fp32": np.float32}


def format_by_name(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown number format {name!r}; choose from {', '.join(FORMATS)}"
        ) from None


def _fmt(fmt: Format | str) -> Format:
    return fmt if isinstance(fmt, Format) else format_by_name(fmt)


def wrap_int(x, bits: int) -> np.ndarray:
    """Two's-complement wrap of integers (int64 array) to ``bits`` bits."""
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << np.int64(bits - 1)
    return ((x + half) & ((half << np.int64(1)) - 1)) - half


def quantize(x, fmt: Format | str) -> np.ndarray:
    """Round float64 values to the nearest value of ``fmt`` (ties to even); returns float64.

    Integer formats round to nearest even and saturate to the format's range; float formats
    follow the module policy (overflow to Inf, or NaN in fp8_e4m3).
    """
    fmt = _fmt(fmt)
    x = np.asarray(x, dtype=np.float64)
    if not fmt.is_float:
        with np.errstate(invalid="ignore"):
            return np.clip(np.round(x), fmt.min_value, fmt.max_finite) + 0.0  # no -0 in ints
    if fmt.name in _NUMPY:  # numpy converts float64 to float16/float32 with one RNE rounding
        with np.errstate(over="ignore"):
            return x.astype(_NUMPY[fmt.name]).astype(np.float64)
    mag = np.abs(x)
    finite = np.isfinite(mag)
    with np.errstate(divide="ignore", invalid="ignore"):
        _, e = np.frexp(np.where(finite & (mag > 0), mag, 1.0))  # mag = f * 2^e, f in [0.5, 1)
    e = np.maximum(e - 1, fmt.emin)  # exponent of the leading bit, clamped to the subnormal one
    quantum = np.ldexp(1.0, e - fmt.man)
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.round(mag / quantum) * quantum  # np.round ties to even; the division is exact
    overflow = finite & (r > fmt.max_finite)
    r = np.where(overflow, np.inf if fmt.has_inf else np.nan, r)
    r = np.where(finite, r, mag)
    if not fmt.has_inf:
        r = np.where(np.isinf(r), np.nan, r)
    return np.copysign(r, x)


def to_bits(values, fmt: Format | str) -> np.ndarray:
    """Encode values (already representable in ``fmt``) as unsigned bit patterns (uint64).

    Integers are two's complement in ``fmt.bits`` bits; NaN encodes as the canonical NaN.
    A value that ``fmt`` cannot hold exactly (including Inf in fp8_e4m3) raises ValueError.
    """
    fmt = _fmt(fmt)
    v = np.asarray(values, dtype=np.float64)
    q = quantize(v, fmt)
    held = (q == v) | (np.isnan(q) & np.isnan(v) & fmt.is_float)
    if not held.all():
        bad = float(v[~held].flat[0])
        raise ValueError(f"value {bad!r} is not representable in {fmt.name}")
    mask = np.uint64((1 << fmt.bits) - 1)
    if not fmt.is_float:
        return (v.astype(np.int64).astype(np.uint64)) & mask
    if fmt.name in _NUMPY:
        bits = v.astype(_NUMPY[fmt.name]).view(np.uint16 if fmt.bits == 16 else np.uint32)
        bits = bits.astype(np.uint64)
    else:
        sign = np.signbit(v).astype(np.uint64) << np.uint64(fmt.bits - 1)
        mag = np.abs(v)
        finite = np.isfinite(mag) & (mag > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            _, e = np.frexp(np.where(finite, mag, 1.0))
        e = e - 1
        normal = finite & (e >= fmt.emin)
        exp_field = np.where(normal, e + fmt.bias, 0).astype(np.int64)
        frac = np.where(
            normal,
            np.ldexp(mag, -e) - 1.0,  # in [0, 1)
            np.ldexp(np.where(finite, mag, 0.0), -fmt.emin),  # subnormal: in [0, 1)
        )
        man_field = np.round(np.ldexp(frac, fmt.man)).astype(np.int64)
        bits = (exp_field.astype(np.uint64) << np.uint64(fmt.man)) | man_field.astype(np.uint64)
        if fmt.has_inf:
            inf_bits = np.uint64(((1 << fmt.exp) - 1) << fmt.man)
            bits = np.where(np.isinf(v), inf_bits, bits)
        bits = bits | sign
    nan = np.isnan(v)
    return np.where(nan, np.uint64(fmt.nan_bits), bits).astype(np.uint64)


def from_bits(bits, fmt: Format | str) -> np.ndarray:
    """Decode unsigned bit patterns of ``fmt`` to float64 values (int64 for integers)."""
    fmt = _fmt(fmt)
    b = np.asarray(bits, dtype=np.uint64) & np.uint64((1 << fmt.bits) - 1)
    if not fmt.is_float:
        return wrap_int(b.astype(np.int64), fmt.bits)
    if fmt.name in _NUMPY:
        raw = b.astype(np.uint16 if fmt.bits == 16 else np.uint32)
        with np.errstate(invalid="ignore"):  # signaling NaNs quieten without a warning
            return raw.view(_NUMPY[fmt.name]).astype(np.float64)
    b = b.astype(np.int64)
    sign = np.where((b >> (fmt.bits - 1)) & 1, -1.0, 1.0)
    exp_field = (b >> fmt.man) & ((1 << fmt.exp) - 1)
    man_field = b & ((1 << fmt.man) - 1)
    normal = exp_field > 0
    mag = np.where(
        normal,
        np.ldexp(1.0 + man_field / 2.0**fmt.man, exp_field - fmt.bias),
        np.ldexp(man_field / 2.0**fmt.man, fmt.emin),
    )
    all_ones = exp_field == (1 << fmt.exp) - 1
    if fmt.has_inf:
        mag = np.where(all_ones & (man_field == 0), np.inf, mag)
        mag = np.where(all_ones & (man_field != 0), np.nan, mag)
    else:
        mag = np.where(all_ones & (man_field == (1 << fmt.man) - 1), np.nan, mag)
    return sign * mag


def ulp(x, fmt: Format | str) -> np.ndarray:
    """Unit in the last place of ``fmt`` at the magnitude of each value of x (float64).

    For integers this is 1. Zero gets the subnormal ulp; values beyond the finite range
    (including Inf) get the ulp of the largest binade; NaN gets NaN.
    """
    fmt = _fmt(fmt)
    x = np.abs(np.asarray(x, dtype=np.float64))
    if not fmt.is_float:
        return np.ones_like(x)
    with np.errstate(invalid="ignore"):
        _, e = np.frexp(np.where(np.isinf(x), fmt.max_finite, x))
    e = np.clip(np.where(x > 0, e - 1, fmt.emin), fmt.emin, fmt.emax)
    return np.where(np.isnan(x), np.nan, np.ldexp(1.0, e - fmt.man))
