"""Combinational floating-point multiplier with a possibly different result format."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.formats import Format

from .fp_common import float_format, normalize, round_pack, select, unpack

__all__ = ["FPMul"]


class FPMul(wiring.Component):
    """``o_product = a * b``, operands in ``src``, rounded once to nearest even in ``dst``
    (latency 0).

    Parameters
    ----------
    src : Format or str
        Float format of both operands.
    dst : Format or str
        Float format of the product. When ``dst`` holds every product exactly (fp16 x fp16 ->
        fp32, fp8 x fp8 -> fp16 or fp32) no rounding ever happens.

    Members
    -------
    i_a, i_b : In(src.bits)
        Operand bit patterns.
    o_product : Out(dst.bits)
        Product bit pattern, valid in the same cycle (purely combinational, latency 0 cycles).

    Policy (that of :mod:`lutsim.isa.formats`): the sign is the XOR of the operand signs, also for zero
    and Inf results; subnormals in and out; ``Inf * 0`` and any NaN operand give the canonical
    NaN of ``dst``; Inf times a nonzero number is Inf; a product beyond the largest finite value
    of ``dst`` after rounding gives ``±Inf`` (canonical NaN when ``dst`` is fp8_e4m3, also for
    Inf operands); a product that rounds to zero keeps its sign.

    Dataflow: multiply the significands exactly, rebias the exponent sum into ``dst``,
    normalize (left for subnormal operands, right with sticky for subnormal results), round,
    pack.
    """

    def __init__(self, src: Format | str, dst: Format | str):
        self.src = float_format(src, "fp_mul", "float formats")
        self.dst = float_format(dst, "fp_mul", "float formats")
        super().__init__(
            {"i_a": In(self.src.bits), "i_b": In(self.src.bits), "o_product": Out(self.dst.bits)}
        )

    @property
    def module_name(self) -> str:
        """The Verilog module name of this multiplier when it is shared (:mod:`.units`)."""
        return f"fp_mul_{self.src.name}_{self.dst.name}"

    def elaborate(self, platform):
        m = Module()
        src, dst = self.src, self.dst
        a, b = unpack(m, src, self.i_a, "a"), unpack(m, src, self.i_b, "b")

        sig_width = 2 * (src.man + 1)
        product = Signal(sig_width)
        m.d.comb += product.eq(a.sig * b.sig)
        # The top product bit weighs 2^(a.exp + b.exp - 2 * src.bias + 1) (unbiased).
        offset = dst.bias - 2 * src.bias + 1
        max_exp = (1 << src.exp) - 1
        exp = Signal(range(2 + offset, 2 * max_exp + offset + 1))
        m.d.comb += exp.eq(a.exp + b.exp + offset)
        pad = max(0, dst.man + 3 - sig_width)  # room for the rounding bits of dst
        sig = Cat(Const(0, pad), product)

        norm_sig, norm_exp = normalize(m, sig, exp, "norm")
        mag, overflow = round_pack(m, dst, norm_exp, norm_sig, "round")
        m.d.comb += self.o_product.eq(
            select(
                dst,
                sign=a.sign ^ b.sign,
                mag=mag,
                nan=a.is_nan | b.is_nan | (a.is_inf & b.is_zero) | (a.is_zero & b.is_inf),
                inf=a.is_inf | b.is_inf | overflow,
                zero=a.is_zero | b.is_zero,
            )
        )
        return m
