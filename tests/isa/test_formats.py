import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lutsim.isa.formats import FORMATS, format_by_name, from_bits, quantize, to_bits, ulp, wrap_int

FP8 = ("fp8_e4m3", "fp8_e5m2")
FLOATS = (*FP8, "fp16", "fp32")

# fmt: off
# OCP OFP8 v1.0 constants, written down independently of isa/formats.py.
# name:      (exp, man, bias, max finite, max code, min subnormal, NaN codes,         canonical NaN)
OCP_FP8 = {
    "fp8_e4m3": (4,   3,   7,   448.0,      0x7E,     2.0**-9,      {0x7F, 0xFF},      0x7F),
    "fp8_e5m2": (5,   2,   15,  57344.0,    0x7B,     2.0**-16,     {0x7D, 0x7E, 0x7F,
                                                                     0xFD, 0xFE, 0xFF}, 0x7E),
}
# The value the code after the largest finite one would have with an unbounded exponent:
# e4m3 0x7F (S.1111.111) would be 480, e5m2 0x7C (S.11111.00) would be 65536. Rounding to it
# overflows.
PAST_MAX = {"fp8_e4m3": 480.0, "fp8_e5m2": 65536.0}
# fmt: on


def _ocp_decode(code: int, name: str) -> float:
    """Value of an OFP8 code by the spec's formula, one code at a time."""
    exp, man, bias, _, _, _, nan_codes, _ = OCP_FP8[name]
    if code in nan_codes:
        return math.nan
    sign = -1.0 if code >> 7 else 1.0
    e, m = (code >> man) & ((1 << exp) - 1), code & ((1 << man) - 1)
    if name == "fp8_e5m2" and e == 0b11111:
        return sign * math.inf
    if e == 0:
        return sign * m * 2.0 ** (1 - bias - man)
    return sign * (1 + m / 2**man) * 2.0 ** (e - bias)


def _ref_quantize_codes(x: np.ndarray, name: str) -> np.ndarray:
    """Brute-force RNE into fp8: nearest of all positive codes and PAST_MAX, ties to even code."""
    max_code, nan_code = OCP_FP8[name][4], OCP_FP8[name][7]
    codes = np.arange(max_code + 2)
    grid = np.array([_ocp_decode(c, name) for c in range(max_code + 1)] + [PAST_MAX[name]])
    mag = np.abs(x)
    dist = np.abs(mag[:, None] - grid[None, :])
    tied = dist == dist.min(axis=1, keepdims=True)
    pick = np.argmin(np.where(tied, codes & 1, 2), axis=1)  # among the nearest, the even code
    sign = np.signbit(x).astype(np.int64) << 7
    out = codes[pick] | sign
    overflow = (pick == max_code + 1) | (mag > PAST_MAX[name])  # float64 dist fails up there
    if name == "fp8_e4m3":
        out = np.where(overflow, nan_code, out)
    else:
        out = np.where(overflow, 0x7C | sign, out)
    return np.where(np.isnan(x), nan_code, out)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit-exact comparison of float64 values: NaNs equal, signed zeros distinct."""
    a, b = np.asarray(a), np.asarray(b)
    return (np.isnan(a) & np.isnan(b)) | ((a == b) & (np.signbit(a) == np.signbit(b)))


def _assert_codes(got: np.ndarray, exp: np.ndarray, x: np.ndarray, width: int) -> None:
    bad = np.flatnonzero(got != exp)
    if bad.size:
        i = bad[0]
        pytest.fail(f"x={x[i]!r}: {int(got[i]):0{width}b} != {int(exp[i]):0{width}b} (expected)")


# --- fp8: every code --------------------------------------------------------------------------


@pytest.mark.parametrize("name", FP8)
def test_fp8_decode_all_codes_match_ocp(name):
    codes = np.arange(256)
    got = from_bits(codes, name)
    exp = np.array([_ocp_decode(c, name) for c in range(256)])
    bad = np.flatnonzero(~_same(got, exp))
    assert not bad.size, f"{bad[0]:08b}: {got[bad[0]]!r} != {exp[bad[0]]!r} (expected)"


@pytest.mark.parametrize("name", FP8)
def test_fp8_round_trip_all_codes(name):
    nan_codes, nan_code = OCP_FP8[name][6], OCP_FP8[name][7]
    codes = np.arange(256)
    got = to_bits(from_bits(codes, name), name)
    exp = np.array([nan_code if c in nan_codes else c for c in range(256)])
    _assert_codes(got, exp, codes, 8)


@pytest.mark.parametrize("name", FP8)
def test_fp8_spec_constants(name):
    fmt = FORMATS[name]
    _, _, bias, max_finite, max_code, min_sub, _, nan_code = OCP_FP8[name]
    assert fmt.bias == bias
    assert fmt.max_finite == max_finite
    assert fmt.min_subnormal == min_sub
    assert fmt.nan_bits == nan_code, f"{fmt.nan_bits:08b} != {nan_code:08b} (expected)"
    assert from_bits(max_code, name) == max_finite
    assert from_bits(max_code | 0x80, name) == -max_finite
    assert from_bits(0x01, name) == min_sub
    assert from_bits(0x81, name) == -min_sub
    assert np.signbit(from_bits(0x80, name)) and from_bits(0x80, name) == 0.0
    assert not np.signbit(from_bits(0x00, name))


def test_fp8_infinities():
    assert from_bits(0x7C, "fp8_e5m2") == np.inf
    assert from_bits(0xFC, "fp8_e5m2") == -np.inf
    assert not np.isinf(from_bits(np.arange(256), "fp8_e4m3")).any()
    assert int(to_bits(-np.inf, "fp8_e5m2")) == 0xFC


# --- fp8: quantize against the brute-force reference -------------------------------------------


def _fp8_inputs(name: str) -> np.ndarray:
    rng = np.random.default_rng(20240607)
    man, max_finite, max_code, min_sub = (OCP_FP8[name][i] for i in (1, 3, 4, 5))
    edges = np.array([_ocp_decode(c, name) for c in range(max_code + 1)] + [PAST_MAX[name]])
    mids = (edges[:-1] + edges[1:]) / 2  # exact in float64
    near = np.concatenate(
        [edges, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf), 2 * edges]
    )
    wide = np.exp2(rng.uniform(math.log2(min_sub) - 4, math.log2(max_finite) + 2, 20000))
    sub = rng.uniform(0, 2 * min_sub * 2**man, 4000)  # subnormals and the first normal binade
    special = np.array([0.0, 1e-300, 5e-324, 1e300, np.finfo(np.float64).max, np.inf])
    mags = np.concatenate([near, wide, sub, special])
    signs = rng.choice([-1.0, 1.0], mags.size)
    return np.concatenate([mags, -mags, mags * signs, [-0.0, np.nan]])


@pytest.mark.parametrize("name", FP8)
def test_fp8_quantize_matches_brute_force(name):
    x = _fp8_inputs(name)
    _assert_codes(to_bits(quantize(x, name), name), _ref_quantize_codes(x, name), x, 8)


# fmt: off
@pytest.mark.parametrize("name, x, exp", [
    # e4m3: 448 = S.1111.110; 464 ties 448 (mantissa 110) with 480 (111, the NaN code): even wins
    ("fp8_e4m3", 448.0,                            448.0),
    ("fp8_e4m3", 464.0,                            448.0),
    ("fp8_e4m3", np.nextafter(464.0, np.inf),      np.nan),
    ("fp8_e4m3", -np.nextafter(464.0, np.inf),     np.nan),
    ("fp8_e4m3", 480.0,                            np.nan),
    ("fp8_e4m3", 512.0,                            np.nan),
    ("fp8_e4m3", np.inf,                           np.nan),
    ("fp8_e4m3", -np.inf,                          np.nan),
    # e5m2: 61440 ties 57344 (mantissa 11) with 65536 (next binade, 00): even wins, overflows
    ("fp8_e5m2", np.nextafter(61440.0, 0),         57344.0),
    ("fp8_e5m2", 61440.0,                          np.inf),
    ("fp8_e5m2", -61440.0,                         -np.inf),
    ("fp8_e5m2", np.inf,                           np.inf),
    # subnormals: half the smallest one ties to zero, keeping the sign
    ("fp8_e4m3", 2.0**-10,                         0.0),
    ("fp8_e4m3", -(2.0**-10),                      -0.0),
    ("fp8_e4m3", np.nextafter(2.0**-10, 1),        2.0**-9),
    ("fp8_e4m3", 3 * 2.0**-10,                     2.0**-8),
    ("fp8_e5m2", -(2.0**-17),                      -0.0),
    ("fp8_e5m2", -1e-300,                          -0.0),
    ("fp8_e4m3", -0.0,                             -0.0),
    ("fp8_e5m2", -0.0,                             -0.0),
])
# fmt: on
def test_fp8_quantize_edges(name, x, exp):
    got = quantize(x, name)
    assert _same(got, exp), f"quantize({x!r}, {name}) = {got!r} != {exp!r} (expected)"


# --- fp16 / fp32 ------------------------------------------------------------------------------


def _wide_inputs(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    x = np.exp2(rng.uniform(lo, hi, n)) * rng.choice([-1.0, 1.0], n)
    return np.concatenate([x, [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -1e300]])


@pytest.mark.parametrize("name, np_type, lo, hi", [("fp16", np.float16, -30, 17),
                                                    ("fp32", np.float32, -155, 129)])  # fmt: skip
def test_ieee_quantize_matches_numpy(name, np_type, lo, hi):
    rng = np.random.default_rng(7)
    x = _wide_inputs(rng, 50000, lo, hi)
    codes = rng.integers(0, 1 << (16 if np_type is np.float16 else 32), 20000, dtype=np.uint64)
    a = codes.astype(np.uint16 if np_type is np.float16 else np.uint32).view(np_type)
    a = a[np.isfinite(a)]
    b = np.nextafter(a, np_type(np.inf))
    mids = (a.astype(np.float64) + b.astype(np.float64)) / 2  # exact; Inf past the top
    x = np.concatenate([x, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf)])
    with np.errstate(over="ignore"):
        exp = x.astype(np_type).astype(np.float64)
    got = quantize(x, name)
    bad = np.flatnonzero(~_same(got, exp))
    assert not bad.size, f"x={x[bad[0]]!r}: {got[bad[0]]!r} != {exp[bad[0]]!r} (expected)"


# fmt: off
@pytest.mark.parametrize("name, x, exp", [
    ("fp16", 65504.0,                        65504.0),
    ("fp16", np.nextafter(65520.0, 0),       65504.0),
    ("fp16", 65520.0,                        np.inf),
    ("fp16", -65520.0,                       -np.inf),
    ("fp16", 2.0**-25,                       0.0),
    ("fp16", -(2.0**-25),                    -0.0),
    ("fp16", 3 * 2.0**-25,                   2.0**-23),
    ("fp32", 2.0**-150,                      0.0),
    ("fp32", 2.0**128 - 2.0**103,            np.inf),
    ("fp32", np.nextafter(2.0**128 - 2.0**103, 0), (2 - 2.0**-23) * 2.0**127),
])
# fmt: on
def test_ieee_quantize_edges(name, x, exp):
    got = quantize(x, name)
    assert _same(got, exp), f"quantize({x!r}, {name}) = {got!r} != {exp!r} (expected)"


def test_fp16_round_trip_all_codes():
    codes = np.arange(1 << 16, dtype=np.uint64)
    nan = ((codes & 0x7C00) == 0x7C00) & ((codes & 0x03FF) != 0)
    exp = np.where(nan, np.uint64(0x7E00), codes)
    values = from_bits(codes, "fp16")
    assert np.array_equal(np.isnan(values), nan)
    _assert_codes(to_bits(values, "fp16"), exp, codes, 16)


def test_fp32_round_trip_random_codes():
    rng = np.random.default_rng(32)
    codes = rng.integers(0, 1 << 32, 200000, dtype=np.uint64)
    special = [0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0x7F800000, 0xFF800000,
               0x7F800001, 0xFFC00000, 0x7FFFFFFF]  # fmt: skip
    codes = np.concatenate([codes, np.array(special, dtype=np.uint64)])
    nan = ((codes & 0x7F800000) == 0x7F800000) & ((codes & 0x007FFFFF) != 0)
    exp = np.where(nan, np.uint64(0x7FC00000), codes)
    _assert_codes(to_bits(from_bits(codes, "fp32"), "fp32"), exp, codes, 32)


# --- integers ---------------------------------------------------------------------------------


# fmt: off
@pytest.mark.parametrize("x, bits, exp", [
    (2**31,       32, -(2**31)),
    (2**31 - 1,   32, 2**31 - 1),
    (-(2**31),    32, -(2**31)),
    (-(2**31) - 1, 32, 2**31 - 1),
    (2**32,       32, 0),
    (2**32 + 5,   32, 5),
    (2**63 - 1,   32, -1),
    (-(2**63),    32, 0),
    (128,         8,  -128),
    (255,         8,  -1),
    (256,         8,  0),
    (-129,        8,  127),
    (32768,       16, -32768),
    (-32769,      16, 32767),
])
# fmt: on
def test_wrap_int_edges(x, bits, exp):
    got = int(wrap_int(x, bits))
    assert got == exp, f"{got & (2**bits - 1):0{bits}b} != {exp & (2**bits - 1):0{bits}b} (expected)"


@pytest.mark.parametrize("bits", [8, 16, 32])
def test_wrap_int_random_matches_twos_complement(bits):
    rng = np.random.default_rng(bits)
    x = rng.integers(-(2**62), 2**62, 5000)
    half = 1 << (bits - 1)
    exp = np.array([((int(v) + half) % (2 * half)) - half for v in x])
    assert np.array_equal(wrap_int(x, bits), exp)


# fmt: off
@pytest.mark.parametrize("x, exp", [
    (0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (-0.5, 0.0), (-1.5, -2.0), (-2.5, -2.0),
    (0.49999999999999994, 0.0), (126.5, 126.0), (127.4, 127.0), (127.5, 127.0), (1e9, 127.0),
    (np.inf, 127.0), (-128.5, -128.0), (-129.0, -128.0), (-1e9, -128.0), (-np.inf, -128.0),
    (-0.25, 0.0),
])
# fmt: on
def test_int8_quantize_rounds_half_even_and_saturates(x, exp):
    got = quantize(x, "int8")
    assert _same(got, exp), f"quantize({x!r}, int8) = {got!r} != {exp!r} (expected)"


def test_int_bits():
    assert int(to_bits(-1, "int32")) == 0xFFFFFFFF
    assert int(to_bits(-128, "int8")) == 0x80
    assert int(from_bits(0x80, "int8")) == -128
    assert int(from_bits(0xFFFF, "int16")) == -1
    assert int(from_bits(0x7FFFFFFF, "int32")) == 2**31 - 1
    codes = np.arange(256, dtype=np.uint64)
    _assert_codes(to_bits(from_bits(codes, "int8"), "int8"), codes, codes, 8)


# --- errors -----------------------------------------------------------------------------------


def test_unknown_format():
    msg = r"^unknown number format 'int7'; choose from int8, int16, int32, fp8_e4m3, fp8_e5m2, fp16, fp32$"  # noqa: E501
    with pytest.raises(ValueError, match=msg):
        format_by_name("int7")
    with pytest.raises(ValueError, match=msg):
        quantize(1.0, "int7")


def test_int_has_no_nan():
    with pytest.raises(ValueError, match=r"^int8 has no NaN$"):
        _ = FORMATS["int8"].nan_bits


# fmt: off
@pytest.mark.parametrize("name, x, msg", [
    ("fp8_e4m3", 1000.0,  r"^value 1000\.0 is not representable in fp8_e4m3$"),
    ("fp8_e4m3", np.inf,  r"^value inf is not representable in fp8_e4m3$"),
    ("fp8_e5m2", 0.3,     r"^value 0\.3 is not representable in fp8_e5m2$"),
    ("fp16",     1.1,     r"^value 1\.1 is not representable in fp16$"),
    ("fp32",     1e39,    r"^value 1e\+39 is not representable in fp32$"),
    ("int8",     300,     r"^value 300\.0 is not representable in int8$"),
    ("int8",     1.5,     r"^value 1\.5 is not representable in int8$"),
    ("int32",    np.nan,  r"^value nan is not representable in int32$"),
])
# fmt: on
def test_to_bits_rejects_unrepresentable(name, x, msg):
    with pytest.raises(ValueError, match=msg):
        to_bits([0.0, x], name)


# --- ulp --------------------------------------------------------------------------------------


# fmt: off
@pytest.mark.parametrize("name, x, exp", [
    ("fp8_e4m3", 0.0,       2.0**-9),
    ("fp8_e4m3", 1.0,       2.0**-3),
    ("fp8_e4m3", 448.0,     32.0),
    ("fp8_e4m3", np.inf,    32.0),
    ("fp8_e5m2", 0.0,       2.0**-16),
    ("fp8_e5m2", -np.inf,   8192.0),
    ("fp16",     -0.0,      2.0**-24),
    ("fp16",     2.0**-14,  2.0**-24),
    ("fp16",     1e9,       32.0),
    ("fp32",     1.0,       2.0**-23),
    ("int8",     5.0,       1.0),
])
# fmt: on
def test_ulp_edges(name, x, exp):
    got = ulp(x, name)
    assert got == exp, f"ulp({x!r}, {name}) = {got!r} != {exp!r} (expected)"


def test_ulp_nan():
    assert np.isnan(ulp(np.nan, "fp16"))


# --- properties -------------------------------------------------------------------------------

ALL = tuple(FORMATS)


@st.composite
def _values(draw, name: str) -> float:
    """Finite float64 values at the scale of the format, often on or next to its grid."""
    fmt = FORMATS[name]
    top = 4 * fmt.max_finite
    x = draw(st.floats(-top, top, allow_nan=False) | st.floats(-1e-3, 1e-3))
    if fmt.is_float and draw(st.booleans()):
        step = float(ulp(x, name))
        x = float(quantize(x, name)) + draw(st.sampled_from([0.0, 0.5, -0.5, 0.25])) * step
    return x if math.isfinite(x) else 0.0


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_quantize_idempotent(name, data):
    x = data.draw(_values(name))
    q = quantize(x, name)
    assert _same(quantize(q, name), q), f"quantize({q!r}) moved (x={x!r})"


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_quantize_monotone(name, data):
    x, y = sorted((data.draw(_values(name)), data.draw(_values(name))))
    qx, qy = quantize(x, name), quantize(y, name)
    if not (np.isnan(qx) or np.isnan(qy)):
        assert qx <= qy, f"quantize({x!r}) = {qx!r} > quantize({y!r}) = {qy!r}"


@pytest.mark.parametrize("name", FLOATS)
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_to_bits_from_bits_round_trip(name, data):
    bits = FORMATS[name].bits
    b = data.draw(st.integers(0, (1 << bits) - 1))
    v = from_bits(b, name)
    if not np.isnan(v):
        got = int(to_bits(v, name))
        assert got == b, f"{got:0{bits}b} != {b:0{bits}b} (expected)"


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_quantize_within_half_ulp(name, data):
    fmt = FORMATS[name]
    x = data.draw(_values(name))
    u = float(ulp(x, name))
    assert math.frexp(u)[0] == 0.5, f"ulp({x!r}) = {u!r} is not a power of two"
    if fmt.min_value <= x <= fmt.max_finite:
        err = abs(float(quantize(x, name)) - x)
        assert err <= u / 2, f"|quantize({x!r}) - x| = {err!r} > {u / 2!r}"
