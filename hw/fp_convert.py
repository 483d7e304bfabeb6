"""Combinational conversion between floating-point formats."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.formats import Format

from .fp_common import float_format, normalize, round_pack, select, unpack

__all__ = ["FPConvert"]


class FPConvert(wiring.Component):
    """``o_b = a`` converted from ``src`` to ``dst``, rounded to nearest even (latency 0).

    Parameters
    ----------
    src : Format or str
        Float format of the input.
    dst : Format or str
        Float format of the output. Widening conversions (fp8 -> fp16 -> fp32) are exact.

    Members
    -------
    i_a : In(src.bits)
        Input bit pattern.
    o_b : Out(dst.bits)
        Converted bit pattern, valid in the same cycle (purely combinational, latency 0 cycles).

    Policy (that of :mod:`lutsim.isa.formats`): the sign is kept, also for zero and Inf; subnormals in
    and out; a value beyond the largest finite value of ``dst`` after rounding gives ``±Inf``
    (canonical NaN when ``dst`` is fp8_e4m3, also for Inf inputs); NaN gives the canonical NaN
    of ``dst``.

    Dataflow: rebias the exponent, normalize (left for subnormal inputs, right with sticky for
    subnormal outputs), round, pack.
    """

    def __init__(self, src: Format | str, dst: Format | str):
        self.src = float_format(src, "fp_convert", "float formats")
        self.dst = float_format(dst, "fp_convert", "float formats")
        super().__init__({"i_a": In(self.src.bits), "o_b": Out(self.dst.bits)})

    def elaborate(self, platform):
        m = Module()
        src, dst = self.src, self.dst
        a = unpack(m, src, self.i_a, "a")

        offset = dst.bias - src.bias
        exp = Signal(range(1 + offset, (1 << src.exp) + offset))
        m.d.comb += exp.eq(a.exp + offset)
        pad = max(0, dst.man + 3 - (src.man + 1))  # room for the rounding bits of dst
        sig = Cat(Const(0, pad), a.sig)

        norm_sig, norm_exp = normalize(m, sig, exp, "norm")
        mag, overflow = round_pack(m, dst, norm_exp, norm_sig, "round")
        m.d.comb += self.o_b.eq(
            select(
                dst,
                sign=a.sign,
                mag=mag,
                nan=a.is_nan,
                inf=a.is_inf | overflow,
                zero=a.is_zero,
            )
        )
        return m
