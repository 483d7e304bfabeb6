"""Combinational floating-point adder."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.formats import Format

from .fp_common import float_format, normalize, round_pack, select, shift_right_sticky, unpack

__all__ = ["FPAdd"]


class FPAdd(wiring.Component):
    """``o_sum = a + b`` rounded once to nearest even, as IEEE 754 addition (latency 0).

    Parameters
    ----------
    fmt : Format or str
        A float format of :mod:`lutsim.isa.formats` (fp8_e4m3, fp8_e5m2, fp16, fp32); operands and sum
        share it.

    Members
    -------
    i_a, i_b : In(fmt.bits)
        Operand bit patterns.
    o_sum : Out(fmt.bits)
        Sum bit pattern, valid in the same cycle (purely combinational, latency 0 cycles).

    Policy (that of :mod:`lutsim.isa.formats`): subnormals in and out; ``x + (-x) = +0``,
    ``(-0) + (-0) = -0``; ``Inf + Inf = Inf``, ``Inf - Inf`` and any NaN operand give the
    canonical NaN; a sum beyond the largest finite value after rounding gives ``±Inf``
    (canonical NaN in fp8_e4m3). Equal, bit for bit, to numpy float16/float32 addition.

    Dataflow: order the operands by magnitude, align the smaller one with guard, round and
    sticky bits, add or subtract, normalize (never below exponent 1), round, pack.
    """

    def __init__(self, fmt: Format | str):
        self.fmt = float_format(fmt, "fp_add")
        bits = self.fmt.bits
        super().__init__({"i_a": In(bits), "i_b": In(bits), "o_sum": Out(bits)})

    @property
    def module_name(self) -> str:
        """The Verilog module name of this adder when it is shared (:mod:`.units`)."""
        return f"fp_add_{self.fmt.name}"

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        width = fmt.man + 1 + 3  # hidden bit, mantissa, guard, round, sticky

        swap = self.i_b[: fmt.bits - 1] > self.i_a[: fmt.bits - 1]
        x = unpack(m, fmt, Mux(swap, self.i_b, self.i_a), "x")  # the larger magnitude
        y = unpack(m, fmt, Mux(swap, self.i_a, self.i_b), "y")
        subtract = x.sign ^ y.sign

        distance = Signal(fmt.exp)
        m.d.comb += distance.eq(x.exp - y.exp)
        x_sig = Cat(Const(0, 3), x.sig)
        y_sig = shift_right_sticky(m, Cat(Const(0, 3), y.sig), distance, "y_aligned")
        total = Signal(width + 1)  # one carry bit on top
        m.d.comb += total.eq(Mux(subtract, x_sig - y_sig, x_sig + y_sig))

        # The carry bit of `total` weighs 2^(x.exp + 1 - bias).
        norm_sig, norm_exp = normalize(m, total, x.exp + 1, "norm", underflow=False)
        mag, overflow = round_pack(m, fmt, norm_exp, norm_sig, "round")
        exact_zero = total == 0
        m.d.comb += self.o_sum.eq(
            select(
                fmt,
                sign=Mux(exact_zero, x.sign & y.sign, x.sign),
                mag=mag,
                nan=x.is_nan | y.is_nan | (x.is_inf & y.is_inf & subtract),
                inf=x.is_inf | overflow,  # x is the larger: an infinite y makes x infinite
                zero=exact_zero,
            )
        )
        return m
