"""Combinational multiplication of a float by a power of two."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.formats import Format

from .fp_common import float_format, normalize, round_pack, select, unpack

__all__ = ["FPScale"]


class FPScale(wiring.Component):
    """``o_b = a * 2^shift`` in ``fmt`` (latency 0).

    Parameters
    ----------
    fmt : Format or str
        Float format of input and output.
    max_shift : int
        Largest shift the port must hold (>= 1); ``i_shift`` has ``bits_for(max_shift)`` bits
        and any value it can hold is scaled correctly.

    Members
    -------
    i_a : In(fmt.bits)
        Input bit pattern.
    i_shift : In(range(max_shift + 1))
        Power of two to scale by, unsigned.
    o_b : Out(fmt.bits)
        Scaled bit pattern, valid in the same cycle (purely combinational, latency 0 cycles).

    Policy (that of :mod:`lutsim.isa.formats`): exact unless the result is beyond the largest finite
    value, which gives ``±Inf`` (canonical NaN in fp8_e4m3); subnormal inputs renormalize;
    zeros and Inf keep their sign; NaN gives the canonical NaN.
    """

    def __init__(self, fmt: Format | str, max_shift: int):
        self.fmt = float_format(fmt, "fp_scale")
        if not isinstance(max_shift, int) or isinstance(max_shift, bool) or max_shift < 1:
            raise ValueError(f"fp_scale max_shift must be a positive integer, not {max_shift!r}")
        self.max_shift = max_shift
        bits = self.fmt.bits
        super().__init__({"i_a": In(bits), "i_shift": In(range(max_shift + 1)), "o_b": Out(bits)})

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        a = unpack(m, fmt, self.i_a, "a")

        exp = Signal(range((1 << fmt.exp) + (1 << len(self.i_shift))))
        m.d.comb += exp.eq(a.exp + self.i_shift)
        sig = Cat(Const(0, 2), a.sig)  # two rounding bits that stay zero: the result is exact

        norm_sig, norm_exp = normalize(m, sig, exp, "norm", underflow=False)
        mag, overflow = round_pack(m, fmt, norm_exp, norm_sig, "round")
        m.d.comb += self.o_b.eq(
            select(
                fmt,
                sign=a.sign,
                mag=mag,
                nan=a.is_nan,
                inf=a.is_inf | overflow,
                zero=a.is_zero,
            )
        )
        return m
