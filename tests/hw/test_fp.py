# amaranth: UnusedElaboratable=no
"""Floating-point units against the numpy / isa.formats reference, bit for bit.

Corner cases run in the Amaranth simulator; exhaustive sweeps (fp8 adders, conversions, fp16
scaling) and 10^6 stressed random pairs per format run through Verilator executables.
References: fp16/fp32 sums are numpy float16/float32 additions; everything else is computed
exactly in float64 and rounded once with ``isa.formats.quantize``. Any NaN equals any NaN, and
every NaN a unit produces must be the canonical one.
"""

from __future__ import annotations

import functools
import subprocess

import numpy as np
import pytest
from amaranth.sim import Simulator

from lutsim.hw import vlbuild
from lutsim.hw.fp_add import FPAdd
from lutsim.hw.fp_convert import FPConvert
from lutsim.hw.fp_mul import FPMul
from lutsim.hw.fp_scale import FPScale
from lutsim.isa.formats import FORMATS, Format, from_bits, quantize, to_bits, ulp

FLOATS = ("fp8_e4m3", "fp8_e5m2", "fp16", "fp32")
NUMPY = {"fp16": (np.float16, np.uint16), "fp32": (np.float32, np.uint32)}
WAIVERS = ("-Wno-WIDTH", "-Wno-CASEINCOMPLETE", "-Wno-UNUSEDSIGNAL")
MAX_SHIFT = 40


# --- references -------------------------------------------------------------------------------


def ref_add(a, b, fmt: Format) -> np.ndarray:
    if fmt.name in NUMPY:
        ftype, utype = NUMPY[fmt.name]
        with np.errstate(all="ignore"):
            total = a.astype(utype).view(ftype) + b.astype(utype).view(ftype)
        return total.view(utype).astype(np.uint64)
    with np.errstate(invalid="ignore"):  # the float64 sum is exact
        return to_bits(quantize(from_bits(a, fmt) + from_bits(b, fmt), fmt), fmt)


def ref_mul(a, b, src: Format, dst: Format) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # the float64 product is exact
        return to_bits(quantize(from_bits(a, src) * from_bits(b, src), dst), dst)


def ref_convert(a, src: Format, dst: Format) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return to_bits(quantize(from_bits(a, src), dst), dst)


def ref_scale(a, shift, fmt: Format) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return to_bits(quantize(np.ldexp(from_bits(a, fmt), shift), fmt), fmt)


def check(got, exp, fmt: Format, what: str, *operands: np.ndarray) -> None:
    """Bit-exact comparison (NaN as a class), then canonical NaN; the first mismatches in hex
    operands and binary results."""
    got, exp = np.asarray(got, dtype=np.uint64), np.asarray(exp, dtype=np.uint64)
    got_nan, exp_nan = np.isnan(from_bits(got, fmt)), np.isnan(from_bits(exp, fmt))
    bad = np.flatnonzero((got != exp) & ~(got_nan & exp_nan))
    lines = [
        f"{what}({', '.join(f'{int(op[i]):#x}' for op in operands)}) = "
        f"{int(got[i]):0{fmt.bits}b} != {int(exp[i]):0{fmt.bits}b} (expected)"
        for i in bad[:8]
    ]
    assert bad.size == 0, f"{bad.size} of {got.size} mismatch:\n" + "\n".join(lines)
    odd = np.flatnonzero(got_nan & (got != fmt.nan_bits))
    assert odd.size == 0, (
        f"{int(got[odd[0]]):0{fmt.bits}b} != {fmt.nan_bits:0{fmt.bits}b} (expected canonical NaN)"
    )


# --- operands ---------------------------------------------------------------------------------


def _up(bits: int) -> int:
    return bits + 1  # next larger magnitude of a positive finite pattern


def specials(fmt: Format) -> np.ndarray:
    """Every class of special value, both signs, as bit patterns."""
    min_normal = 2.0**fmt.emin
    one_ulp = float(ulp(1.0, fmt))
    values = [
        0.0,
        fmt.min_subnormal,
        2 * fmt.min_subnormal,
        3 * fmt.min_subnormal,
        min_normal - fmt.min_subnormal,  # largest subnormal
        min_normal,
        min_normal + fmt.min_subnormal,
        0.5,
        1.0,
        1.0 + one_ulp,
        1.5,
        2.0 - one_ulp,
        2.0,
        3.0,
        fmt.max_finite / 2,
        fmt.max_finite - float(ulp(fmt.max_finite, fmt)),
        fmt.max_finite,
    ]
    if fmt.has_inf:
        values.append(np.inf)
    bits = to_bits(values, fmt)
    sign = np.uint64(1 << (fmt.bits - 1))
    nans = [fmt.nan_bits, fmt.nan_bits | int(sign)]
    if fmt.has_inf:
        ones = ((1 << fmt.exp) - 1) << fmt.man
        nans += [ones | 1, ones | ((1 << fmt.man) - 1)]  # signaling and all-ones payloads
    return np.concatenate([bits, bits | sign, np.array(nans, dtype=np.uint64)])


def pairs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(values, values, indexing="ij")
    return a.ravel(), b.ravel()


def rounding_cases(fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """Sums exactly halfway between neighbours, just off halfway, cancellation, overflow."""
    one_ulp = float(ulp(1.0, fmt))
    top_ulp = float(ulp(fmt.max_finite, fmt))
    small = fmt.min_subnormal
    min_normal = 2.0**fmt.emin

    def near(value):  # value and its two neighbours in fmt (value > 0, finite)
        bits = int(to_bits(value, fmt))
        return [value, *from_bits([bits - 1, _up(bits)], fmt)]

    cases = [
        *[(1.0, b) for b in near(one_ulp / 2)],  # tie to even (down), just below, just above
        *[(1.0 + one_ulp, b) for b in near(one_ulp / 2)],  # tie to even (up)
        (1.0, -one_ulp / 4),  # tie in the binade below rounds back up to 1
        (1.0, -one_ulp / 2),
        *[(fmt.max_finite, b) for b in near(top_ulp / 2)],  # overflow boundary
        (fmt.max_finite, fmt.max_finite),
        (fmt.max_finite, -fmt.max_finite),
        (1.0 + one_ulp, -1.0),  # cancellation leaves one ulp
        (min_normal, -(min_normal - small)),  # normal minus subnormal: the smallest subnormal
        (min_normal, -(min_normal + small)),
        (min_normal - small, small),  # subnormal + subnormal = smallest normal
        (3.0, -3.0),
        (small, -small),
    ]
    a = np.array([c[0] for c in cases], dtype=np.float64)
    b = np.array([c[1] for c in cases], dtype=np.float64)
    a, b = np.concatenate([a, -a, b]), np.concatenate([b, -b, a])  # both signs, both orders
    return to_bits(a, fmt), to_bits(b, fmt)


def narrowing_cases(src: Format, dst: Format) -> np.ndarray:
    """Values of src halfway between neighbours of dst and one src step either side of them."""
    grid = from_bits(specials(dst), dst)
    grid = grid[np.isfinite(grid) & (grid > 0)]
    mids = (grid + grid + ulp(grid, dst)) / 2
    mids = mids[quantize(mids, src) == mids]
    if mids.size == 0:
        return np.zeros(0, dtype=np.uint64)
    bits = to_bits(mids, src).astype(np.int64)
    out = np.concatenate([bits, bits - 1, bits + 1]).astype(np.uint64)
    out = out[np.isfinite(from_bits(out, src))]
    return np.concatenate([out, out | np.uint64(1 << (src.bits - 1))])


def stress_pairs(fmt: Format, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n operand pairs: a fifth each of random patterns, close exponents (alignment, sticky),
    opposite signs with exponents within one (cancellation), the top two binades (overflow)
    and the bottom three exponent fields (subnormals)."""
    q = n // 5
    top_field = (1 << fmt.exp) - 2 if fmt.has_inf else (1 << fmt.exp) - 1

    def make(sign, exp_field, man):
        return (
            (sign.astype(np.uint64) << np.uint64(fmt.bits - 1))
            | (exp_field.astype(np.uint64) << np.uint64(fmt.man))
            | man.astype(np.uint64)
        )

    def field(lo, hi):
        return rng.integers(lo, hi + 1, q)

    sign_a, sign_b = field(0, 1), field(0, 1)
    man_a, man_b = field(0, (1 << fmt.man) - 1), field(0, (1 << fmt.man) - 1)
    exp_a = field(0, top_field)
    near_man = (man_a + field(-4, 4)) % (1 << fmt.man)
    a = [
        rng.integers(0, 1 << fmt.bits, q, dtype=np.uint64),
        make(sign_a, exp_a, man_a),
        make(sign_a, exp_a, man_a),
        make(sign_a, field(top_field - 1, top_field), man_a),
        make(sign_a, field(0, 2), man_a),
    ]
    b = [
        rng.integers(0, 1 << fmt.bits, q, dtype=np.uint64),
        make(sign_b, np.clip(exp_a + field(-(fmt.man + 4), fmt.man + 4), 0, top_field), man_b),
        make(
            1 - sign_a,
            np.clip(exp_a + field(-1, 1), 0, top_field),
            np.where(field(0, 1) == 1, near_man, man_b),
        ),
        make(sign_b, field(top_field - 1, top_field), man_b),
        make(sign_b, field(0, 2), man_b),
    ]
    return np.concatenate(a), np.concatenate(b)


# --- running the units ------------------------------------------------------------------------


def simulate(dut, inputs: dict[str, np.ndarray], output: str) -> np.ndarray:
    """Outputs of a combinational unit for each row of inputs, by the Amaranth simulator."""
    got = []

    async def testbench(ctx):
        for row in zip(*inputs.values(), strict=True):
            for name, value in zip(inputs, row, strict=True):
                ctx.set(getattr(dut, name), int(value))
            got.append(ctx.get(getattr(dut, output)))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(got, dtype=np.uint64)


HARNESS = r"""
#include <cstdint>
#include <cstdio>
#include <vector>
#include "V{top}.h"

// argv[1]: records of {n} uint32 inputs ({inputs}); argv[2]: one uint32 {output} per record.
int main(int argc, char **argv) {{
    if (argc != 3) return 2;
    std::vector<uint32_t> ops;
    uint32_t buf[1 << 14];
    size_t got;
    FILE *in = std::fopen(argv[1], "rb");
    while ((got = std::fread(buf, sizeof buf[0], 1 << 14, in)) > 0)
        ops.insert(ops.end(), buf, buf + got);
    std::fclose(in);
    size_t records = ops.size() / {n};
    std::vector<uint32_t> res(records);
    V{top} dut;
    for (size_t r = 0; r < records; ++r) {{
        const uint32_t *op = &ops[r * {n}];
{assign}
        dut.eval();
        res[r] = dut.{output};
    }}
    dut.final();
    FILE *out = std::fopen(argv[2], "wb");
    std::fwrite(res.data(), sizeof res[0], records, out);
    std::fclose(out);
    return 0;
}}
"""


@functools.cache
def harness(unit: type, *params) -> tuple:
    """(executable, input port names, output port name) of a Verilator build of ``unit``."""
    dut = unit(*params)
    ports = [path[0] for path, _, _ in dut.signature.flatten(dut)]
    inputs = [p for p in ports if p.startswith("i_")]
    (output,) = [p for p in ports if p.startswith("o_")]
    top = "_".join([unit.__name__.lower(), *map(str, params)])
    assign = "\n".join(f"        dut.{p} = op[{i}];" for i, p in enumerate(inputs))
    cpp = HARNESS.format(
        top=top, n=len(inputs), inputs=", ".join(inputs), output=output, assign=assign
    )
    return vlbuild.build(vlbuild.verilog_of(dut, top), top, cpp), inputs, output


def verilate(tmp_path, unit: type, params: tuple, *inputs: np.ndarray) -> np.ndarray:
    """Outputs of ``unit(*params)`` for each row of inputs, by its Verilator executable."""
    exe, _, _ = harness(unit, *params)
    ops = np.stack([np.asarray(x, dtype=np.uint32) for x in inputs], axis=1)
    ops.tofile(tmp_path / "in.bin")
    subprocess.run([exe, tmp_path / "in.bin", tmp_path / "out.bin"], check=True)
    return np.fromfile(tmp_path / "out.bin", dtype=np.uint32).astype(np.uint64)


# --- parameters and ports ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FPAdd("int8"), "fp_add needs a float format, not int8"),
        (lambda: FPMul("fp16", "int32"), "fp_mul needs float formats, not int32"),
        (lambda: FPMul("int16", "fp16"), "fp_mul needs float formats, not int16"),
        (lambda: FPConvert("int8", "fp16"), "fp_convert needs float formats, not int8"),
        (lambda: FPScale("int32", 4), "fp_scale needs a float format, not int32"),
        (lambda: FPScale("fp16", 0), "fp_scale max_shift must be a positive integer, not 0"),
        (lambda: FPScale("fp16", 2.0), "fp_scale max_shift must be a positive integer, not 2.0"),
    ],
)
def test_parameters_rejected(make, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        make()


def test_port_widths():
    add, mul = FPAdd("fp16"), FPMul(FORMATS["fp16"], "fp32")
    cvt, scale = FPConvert("fp8_e4m3", "fp16"), FPScale("fp32", MAX_SHIFT)
    assert [len(p) for p in (add.i_a, add.i_b, add.o_sum)] == [16, 16, 16]
    assert [len(p) for p in (mul.i_a, mul.i_b, mul.o_product)] == [16, 16, 32]
    assert [len(p) for p in (cvt.i_a, cvt.o_b)] == [8, 16]
    assert [len(p) for p in (scale.i_a, scale.i_shift, scale.o_b)] == [32, 6, 32]


@pytest.mark.parametrize(
    "dut",
    [FPAdd("fp32"), FPMul("fp16", "fp32"), FPConvert("fp32", "fp8_e4m3"), FPScale("fp16", 31)],
    ids=["add", "mul", "convert", "scale"],
)
def test_lint_clean(dut):
    assert vlbuild.lint(vlbuild.verilog_of(dut, "unit"), "unit", WAIVERS) == []


# --- corner cases in the Amaranth simulator ---------------------------------------------------


@pytest.mark.parametrize("name", FLOATS)
def test_add_corner_cases(name):
    fmt = FORMATS[name]
    a, b = pairs(specials(fmt))
    ra, rb = rounding_cases(fmt)
    a, b = np.concatenate([a, ra]), np.concatenate([b, rb])
    dut = FPAdd(fmt)
    check(simulate(dut, {"i_a": a, "i_b": b}, "o_sum"), ref_add(a, b, fmt), fmt, "add", a, b)


MUL_FORMATS = [
    ("fp8_e4m3", "fp8_e4m3"),
    ("fp8_e5m2", "fp8_e5m2"),
    ("fp8_e4m3", "fp16"),
    ("fp16", "fp16"),
    ("fp16", "fp32"),
    ("fp16", "fp8_e4m3"),
    ("fp32", "fp32"),
    ("fp32", "fp16"),
]


@pytest.mark.parametrize(("src", "dst"), MUL_FORMATS)
def test_mul_corner_cases(src, dst):
    src, dst = FORMATS[src], FORMATS[dst]
    a, b = pairs(specials(src))
    dut = FPMul(src, dst)
    got = simulate(dut, {"i_a": a, "i_b": b}, "o_product")
    check(got, ref_mul(a, b, src, dst), dst, "mul", a, b)


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s in FLOATS for d in FLOATS])
def test_convert_corner_cases(src, dst):
    src, dst = FORMATS[src], FORMATS[dst]
    a = np.concatenate([specials(src), narrowing_cases(src, dst)])
    got = simulate(FPConvert(src, dst), {"i_a": a}, "o_b")
    check(got, ref_convert(a, src, dst), dst, "convert", a)


@pytest.mark.parametrize("name", FLOATS)
def test_scale_corner_cases(name):
    fmt = FORMATS[name]
    shifts = np.array([0, 1, 2, 3, fmt.man, fmt.man + 1, 2 * fmt.bias, MAX_SHIFT, 63])
    shifts = shifts[shifts < 64]  # what the 6-bit shift port holds
    a, s = np.meshgrid(specials(fmt), shifts, indexing="ij")
    a, s = a.ravel(), s.ravel()
    got = simulate(FPScale(fmt, MAX_SHIFT), {"i_a": a, "i_shift": s}, "o_b")
    check(got, ref_scale(a, s, fmt), fmt, "scale", a, s)


# --- exhaustive sweeps through Verilator ------------------------------------------------------


# units the core and the baselines instantiate run by default; the others with -m slow
SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "name", [pytest.param("fp8_e4m3", marks=SLOW), pytest.param("fp8_e5m2", marks=SLOW)]
)
def test_add_fp8_exhaustive(name, tmp_path):
    fmt = FORMATS[name]
    a, b = pairs(np.arange(256, dtype=np.uint64))
    got = verilate(tmp_path, FPAdd, (name,), a, b)
    check(got, ref_add(a, b, fmt), fmt, "add", a, b)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        pytest.param("fp8_e4m3", "fp8_e4m3", marks=SLOW),
        pytest.param("fp8_e5m2", "fp16", marks=SLOW),
    ],
)
def test_mul_fp8_exhaustive(src, dst, tmp_path):
    a, b = pairs(np.arange(256, dtype=np.uint64))
    got = verilate(tmp_path, FPMul, (src, dst), a, b)
    check(got, ref_mul(a, b, FORMATS[src], FORMATS[dst]), FORMATS[dst], "mul", a, b)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("fp8_e4m3", "fp16"),
        ("fp8_e5m2", "fp16"),
        pytest.param("fp16", "fp8_e4m3", marks=SLOW),
        pytest.param("fp16", "fp8_e5m2", marks=SLOW),
        ("fp16", "fp32"),
    ],
)
def test_convert_exhaustive(src, dst, tmp_path):
    src, dst = FORMATS[src], FORMATS[dst]
    a = np.arange(1 << src.bits, dtype=np.uint64)
    got = verilate(tmp_path, FPConvert, (src.name, dst.name), a)
    check(got, ref_convert(a, src, dst), dst, "convert", a)


def test_scale_fp16_exhaustive(tmp_path):
    fmt = FORMATS["fp16"]
    a, s = np.meshgrid(np.arange(1 << 16, dtype=np.uint64), np.arange(64), indexing="ij")
    a, s = a.ravel(), s.ravel()  # every input, every value the 6-bit shift port can hold
    got = verilate(tmp_path, FPScale, ("fp16", MAX_SHIFT), a, s)
    check(got, ref_scale(a, s, fmt), fmt, "scale", a, s)


# --- 10^6 stressed random pairs through Verilator ---------------------------------------------

RANDOM_PAIRS = 1_000_000


@pytest.mark.parametrize("name", ["fp16", "fp32"])
def test_add_random(name, tmp_path):
    fmt = FORMATS[name]
    a, b = stress_pairs(fmt, RANDOM_PAIRS, np.random.default_rng(1))
    got = verilate(tmp_path, FPAdd, (name,), a, b)
    check(got, ref_add(a, b, fmt), fmt, "add", a, b)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("fp16", "fp32"),
        pytest.param("fp16", "fp16", marks=SLOW),
        pytest.param("fp32", "fp32", marks=SLOW),
    ],
)
def test_mul_random(src, dst, tmp_path):
    src, dst = FORMATS[src], FORMATS[dst]
    a, b = stress_pairs(src, RANDOM_PAIRS, np.random.default_rng(2))
    got = verilate(tmp_path, FPMul, (src.name, dst.name), a, b)
    check(got, ref_mul(a, b, src, dst), dst, "mul", a, b)


def test_convert_fp32_to_fp16_random(tmp_path):
    src, dst = FORMATS["fp32"], FORMATS["fp16"]
    rng = np.random.default_rng(3)
    a = rng.integers(0, 1 << 32, RANDOM_PAIRS, dtype=np.uint64)
    near = rng.integers(0, 1 << 23, RANDOM_PAIRS, dtype=np.uint64)  # around fp16's range
    near |= rng.integers(127 - 26, 127 + 17, RANDOM_PAIRS, dtype=np.uint64) << np.uint64(23)
    near |= rng.integers(0, 2, RANDOM_PAIRS, dtype=np.uint64) << np.uint64(31)
    a = np.concatenate([a, near])
    got = verilate(tmp_path, FPConvert, ("fp32", "fp16"), a)
    check(got, ref_convert(a, src, dst), dst, "convert", a)
