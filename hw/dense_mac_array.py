"""A dense MAC array: M x N DP-K units whose weights arrive already in the activation format."""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .add_array import tree_sum
from .units import place

__all__ = ["DenseMacArray"]


class DenseMacArray(wiring.Component):
    """The MAC datapath of a conventional tensor core, of the LUT core's tile size: weights are
    dequantized before they reach it (in software or another unit), so both operands are full
    INT8 (or FP16) values and no synthesis tool can narrow the multipliers, unlike
    :class:`lutsim.hw.mac_array.MacArray`, whose ``q - z`` front end spans B + 1 bits.

    ========== ===================================== =========================================
    act        multiply                              accumulate
    ========== ===================================== =========================================
    int8       INT8 x INT8                           ``acc + sum_k a_k w_k`` in int32, wraps
    fp16       FP16 x FP16 -> fp32 (exact)           ``acc = RNE(acc + p_0)``, then ``+ p_1``
                                                     ... ``+ p_{K-1}``: K chained fp32 adders
    ========== ===================================== =========================================

    Parameters: ``cfg`` — the tile (M, N, K) and the activation format (int8 or fp16, anything
    else raises ValueError); the weight bits do not apply. ``shared``: as
    :class:`lutsim.hw.mac_array.MacArray`'s (one module per kind of fp16 unit).

    Members:
        ``i_valid``  In(1)                                         a step is offered
        ``i_clear``  In(1)                                         start it from +0
        ``i_a``      In(ArrayLayout(ArrayLayout(act bits, K), M))  activations (bit patterns)
        ``i_w``      In(ArrayLayout(ArrayLayout(act bits, K), N))  weights, same format
        ``o_acc``    Out(ArrayLayout(ArrayLayout(32, N), M))       accumulators (int32/fp32)

    Timing: initiation interval 1 cycle, latency 1 cycle (as ``MacArray``); registers: the
    M x N x 32 accumulator bits only.
    """

    def __init__(self, cfg: CoreConfig, *, shared: bool = False):
        if cfg.act_format not in ("int8", "fp16"):
            raise ValueError(f"DenseMacArray needs act_format int8 or fp16, not {cfg.act_format!r}")
        self.cfg = cfg
        self.shared_units: dict | None = {} if shared else None  # hw.units.place
        grid = data.ArrayLayout
        super().__init__(
            {
                "i_valid": In(1),
                "i_clear": In(1),
                "i_a": In(grid(grid(cfg.act.bits, cfg.k), cfg.m)),
                "i_w": In(grid(grid(cfg.act.bits, cfg.k), cfg.n)),
                "o_acc": Out(grid(grid(32, cfg.n), cfg.m)),
            }
        )

    @property
    def latency_cycles(self) -> int:
        return 1

    def elaborate(self, platform):
        from .fp_add import FPAdd
        from .fp_mul import FPMul

        m = Module()
        cfg = self.cfg
        fp32 = cfg.replace(act_format="fp16").acc  # the fp32 accumulator format
        shared = self.shared_units
        for row in range(cfg.m):
            for col in range(cfg.n):
                acc = Signal(32, name=f"acc{row}_{col}")
                start = Mux(self.i_clear, 0, acc)
                if cfg.act.is_float:
                    total = start
                    for k in range(cfg.k):
                        mul = place(m, f"mul{row}_{col}_{k}", FPMul(cfg.act, fp32), shared)
                        add = place(m, f"add{row}_{col}_{k}", FPAdd(fp32), shared)
                        m.d.comb += [
                            mul.i_a.eq(self.i_a[row][k]),
                            mul.i_b.eq(self.i_w[col][k]),
                            add.i_a.eq(total),
                            add.i_b.eq(mul.o_product),
                        ]
                        total = add.o_sum
                    new = total
                else:
                    products = [self.i_a[row][k].as_signed() * self.i_w[col][k].as_signed()
                                for k in range(cfg.k)]  # fmt: skip
                    new = (start.as_signed() + tree_sum(products))[:32]
                with m.If(self.i_valid):
                    m.d.sync += acc.eq(new)
                m.d.comb += self.o_acc[row][col].eq(acc)
        return m
