"""Shift-and-accumulate: add one looked-up entry, scaled by 2^plane, to an accumulator."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

__all__ = ["ShiftAccumulate"]


class ShiftAccumulate(wiring.Component):
    """``o_acc = i_acc + i_value * 2^i_shift`` in the accumulator format (one bit plane).

    Parameters: ``cfg`` — the core configuration.

    Members:
        ``i_acc``   In(acc bits)     accumulator value (int32 two's complement, or fp16/fp32)
        ``i_value`` In(table bits)   signed table entry from a :class:`LookupUnit`
        ``i_shift`` In(range(B))     the bit plane b
        ``o_acc``   Out(acc bits)    the new accumulator value

    Integer: ``acc + (value << b)`` modulo 2^32 (shift + add). Float: the entry is widened to the
    accumulator format (exact), its exponent raised by b (exact, or Inf on overflow), then one
    round-to-nearest-even addition — bit for bit the ``plane_step`` of :mod:`lutsim.isa.golden`.

    Latency: 0 cycles (combinational).
    """

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        super().__init__(
            {
                "i_acc": In(cfg.acc.bits),
                "i_value": In(cfg.table.bits),
                "i_shift": In(range(max(cfg.weight_bits, 2))),
                "o_acc": Out(cfg.acc.bits),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        if cfg.int_path:
            shifted = self.i_value.as_signed() << self.i_shift
            m.d.comb += self.o_acc.eq((self.i_acc.as_signed() + shifted)[:32])
            return m
        from .fp_add import FPAdd
        from .fp_convert import FPConvert
        from .fp_scale import FPScale

        wide = Signal(cfg.acc.bits)
        if cfg.table.name == cfg.acc.name:
            m.d.comb += wide.eq(self.i_value)
        else:
            m.submodules.widen = widen = FPConvert(cfg.table, cfg.acc)
            m.d.comb += [widen.i_a.eq(self.i_value), wide.eq(widen.o_b)]
        m.submodules.scale = scale = FPScale(cfg.acc, max(cfg.weight_bits - 1, 1))
        m.submodules.add = add = FPAdd(cfg.acc)
        m.d.comb += [
            scale.i_a.eq(wide),
            scale.i_shift.eq(self.i_shift),
            add.i_a.eq(self.i_acc),
            add.i_b.eq(scale.o_b),
            self.o_acc.eq(add.o_sum),
        ]
        return m
