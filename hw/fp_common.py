"""Combinational building blocks shared by the floating-point units (no components here).

Every float unit follows the same dataflow: ``unpack`` the operands, compute an exact or
sticky-collapsed significand and a biased exponent, ``normalize`` it, ``round_pack`` it to
nearest even and choose the encoding with ``select``::

    bits ─ unpack ─ (sign, exp, sig, is_zero/is_inf/is_nan)
                          │ unit-specific: align + add, multiply, rebias, add shift
                          ▼
            (exp, sig) ─ normalize ─ round_pack ─ (mag, overflow) ─ select ─ bits

Significand convention: a ``w``-bit significand ``sig`` with biased exponent ``exp`` in a format
of bias ``b`` has the value ``sig / 2^(w-1) * 2^(exp - b)``: the top bit weighs ``2^(exp - b)``.
Bits below the rounding position may be collapsed into bit 0 ("sticky"); that keeps round to
nearest even exact as long as at least two bits lie below the kept ones.

The rules follow THE POLICY of :mod:`lutsim.isa.formats`: round to nearest even, subnormals in and
out, signed zero, overflow to Inf (NaN in fp8_e4m3), canonical NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from lutsim.isa.formats import Format, format_by_name

__all__ = [
    "Unpacked",
    "float_format",
    "leading_zeros",
    "normalize",
    "round_pack",
    "select",
    "shift_right_sticky",
    "unpack",
]


def float_format(fmt: Format | str, unit: str, what: str = "a float format") -> Format:
    """The Format named by ``fmt``; a one-line ValueError unless it is a float format."""
    fmt = fmt if isinstance(fmt, Format) else format_by_name(fmt)
    if not fmt.is_float:
        raise ValueError(f"{unit} needs {what}, not {fmt.name}")
    return fmt


@dataclass(frozen=True)
class Unpacked:
    """The fields of one float operand, as signals.

    ``exp`` is the biased exponent with subnormals and zero read as exponent 1, ``sig`` the
    ``man + 1``-bit significand with the hidden bit on top (0 for subnormals and zero), so every
    finite value equals ``sig / 2^man * 2^(exp - bias)``.
    """

    sign: Signal
    exp: Signal
    sig: Signal
    is_zero: Signal
    is_inf: Signal
    is_nan: Signal


def unpack(m: Module, fmt: Format, bits: Value, name: str) -> Unpacked:
    """Split a ``fmt.bits``-bit pattern into sign, exponent, significand and its class."""
    man = bits[: fmt.man]
    exp = bits[fmt.man : fmt.man + fmt.exp]
    exp_ones = exp == (1 << fmt.exp) - 1
    normal = exp != 0
    if fmt.has_inf:
        is_inf = exp_ones & (man == 0)
        is_nan = exp_ones & (man != 0)
    else:  # fp8_e4m3: S.1111.111 is NaN, the rest of the top binade holds numbers
        is_inf = Const(0, 1)
        is_nan = exp_ones & (man == (1 << fmt.man) - 1)
    fields = Unpacked(
        sign=Signal(name=f"{name}_sign"),
        exp=Signal(fmt.exp, name=f"{name}_exp"),
        sig=Signal(fmt.man + 1, name=f"{name}_sig"),
        is_zero=Signal(name=f"{name}_is_zero"),
        is_inf=Signal(name=f"{name}_is_inf"),
        is_nan=Signal(name=f"{name}_is_nan"),
    )
    m.d.comb += [
        fields.sign.eq(bits[fmt.bits - 1]),
        fields.exp.eq(Mux(normal, exp, 1)),
        fields.sig.eq(Cat(man, normal)),
        fields.is_zero.eq(bits[: fmt.bits - 1] == 0),
        fields.is_inf.eq(is_inf),
        fields.is_nan.eq(is_nan),
    ]
    return fields


def _leading_zeros(value: Value) -> Value:
    width = len(value)
    if width == 1:
        return ~value[0]
    half = width // 2  # the upper part has width - half >= half bits
    lo, hi = value[:half], value[half:]
    return Mux(hi == 0, (width - half) + _leading_zeros(lo), _leading_zeros(hi))


def leading_zeros(m: Module, value: Value, name: str) -> Signal:
    """Number of zero bits above the highest set bit of ``value`` (``len(value)`` for zero)."""
    count = Signal(range(len(value) + 1), name=name)
    m.d.comb += count.eq(_leading_zeros(value))
    return count


def shift_right_sticky(m: Module, value: Value, amount: Value, name: str) -> Signal:
    """``value >> amount`` in ``len(value)`` bits with every shifted-out bit ORed into bit 0."""
    width = len(value)
    clamped = Signal(range(width + 1), name=f"{name}_amount")
    wide = Signal(2 * width, name=f"{name}_wide")
    shifted = Signal(width, name=name)
    m.d.comb += [
        clamped.eq(Mux(amount > width, width, amount)),
        wide.eq(Cat(Const(0, width), value) >> clamped),
        shifted.eq(Cat(wide[width] | (wide[:width] != 0), wide[width + 1 :])),
    ]
    return shifted


def normalize(
    m: Module, sig: Value, exp: Value, name: str, *, underflow: bool = True
) -> tuple[Signal, Signal]:
    """Shift ``sig`` until its top bit is set, keeping the exponent at 1 or above.

    Returns ``(sig, exp)`` signals of the same value (shifted-out bits collapse into bit 0) with
    ``exp >= 1`` and either the top bit set or ``exp == 1`` (a subnormal, or zero). A nonzero
    ``sig`` is required for the returned exponent to mean anything. With ``underflow=False`` the
    caller guarantees ``exp >= 1`` and no right-shift logic is built.
    """
    width = len(sig)
    room = Signal(signed(len(exp) + 1), name=f"{name}_room")  # left shift before exp < 1
    lz = leading_zeros(m, sig, f"{name}_lz")
    left = Signal(range(width + 1), name=f"{name}_left")
    sig_left = Signal(width, name=f"{name}_sig_left")
    m.d.comb += [
        room.eq(exp - 1),
        sig_left.eq(sig << left),
    ]
    out_exp = Signal(signed(len(exp) + 2), name=f"{name}_exp")
    if not underflow:
        m.d.comb += [
            left.eq(Mux(lz < room, lz, room)),
            out_exp.eq(exp - left),
        ]
        return sig_left, out_exp
    right = Signal(len(exp) + 1, name=f"{name}_right")
    m.d.comb += [
        left.eq(Mux(room <= 0, 0, Mux(lz < room, lz, room))),
        right.eq(Mux(room < 0, -room, 0)),
        out_exp.eq(exp - left + right),
    ]
    return shift_right_sticky(m, sig_left, right, f"{name}_sig"), out_exp


def round_pack(m: Module, fmt: Format, exp: Value, sig: Value, name: str) -> tuple[Signal, Signal]:
    """Round a normalized ``(exp, sig)`` to nearest even in ``fmt``.

    ``sig`` has ``fmt.man + 3`` bits or more, its top bit set unless ``exp == 1``. Returns
    signals of the ``fmt.bits - 1``-bit magnitude encoding and of an overflow flag (the rounded
    value is beyond the largest finite value of ``fmt``; the magnitude is then meaningless).
    """
    width, man = len(sig), fmt.man
    if width < man + 3:
        raise ValueError(f"round_pack needs at least {man + 3} significand bits, not {width}")
    kept = sig[width - 1 - man :]  # hidden bit and mantissa
    half = sig[width - 2 - man]
    sticky = sig[: width - 2 - man] != 0
    up = Signal(name=f"{name}_up")
    total = Signal(len(exp) + man + 2, name=f"{name}_total")
    mag = Signal(fmt.bits - 1, name=f"{name}_mag")
    overflow = Signal(name=f"{name}_overflow")
    if fmt.has_inf:
        limit = ((1 << fmt.exp) - 1) << man
    else:
        limit = (1 << (fmt.exp + man)) - 1  # S.1111.111 is NaN in fp8_e4m3
    m.d.comb += [
        up.eq(half & (sticky | kept[0])),
        # A hidden bit of 0 means exp == 1 (subnormal): (exp - 1) << man + kept encodes both
        # cases, and the rounding carry ripples from the mantissa into the exponent field.
        total.eq(((exp - 1) << man) + kept + up),
        mag.eq(total),
        overflow.eq(total >= limit),
    ]
    return mag, overflow


def select(fmt: Format, *, sign: Value, mag: Value, nan: Value, inf: Value, zero: Value) -> Value:
    """The result encoding: canonical NaN, else signed zero, else signed Inf (NaN in fp8_e4m3),
    else the signed magnitude ``mag``. A zero flag overrides an overflow flag in ``inf``."""
    if fmt.has_inf:
        inf_bits = Cat(Const(((1 << fmt.exp) - 1) << fmt.man, fmt.bits - 1), sign)
    else:
        inf_bits = Const(fmt.nan_bits, fmt.bits)
    zero_bits = Cat(Const(0, fmt.bits - 1), sign)
    return Mux(nan, fmt.nan_bits, Mux(zero, zero_bits, Mux(inf, inf_bits, Cat(mag, sign))))
