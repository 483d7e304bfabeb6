"""The MAC baseline: M x N dot-product units of K multipliers behind a dequantization front end."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig
from lutsim.isa.formats import to_bits

from .add_array import tree_sum
from .units import place

__all__ = ["MacArray"]


class MacArray(wiring.Component):
    """A dequantize-then-MAC array of the LUT core's tile size, one K-group per cycle.

    Each of the M x N dot-product units multiplies the K activations of its row by the K
    dequantized weights of its column and adds the products to its accumulator. The front end
    dequantizes each weight code ``q`` with its column's zero point ``z`` to ``q - z`` in the
    multiplier's weight format. Variants, by ``cfg.act_format``:

    ========== ============================ ============================================
    act        multiply                     accumulate
    ========== ============================ ============================================
    int8       INT8 x INT8                  ``acc + sum_k a_k (q_k - z)`` in int32, wraps
    int16      INT16 x INT8                 the same
    fp16       FP16 x FP16 -> fp32 (exact)  ``acc = RNE(acc + p_0)``, then ``+ p_1`` ...
                                            ``+ p_{K-1}``: K chained fp32 adders
    ========== ============================ ============================================

    ``fp16(q - z)`` is exact, and so is every fp16 x fp16 product in fp32. The semantics are
    :func:`lutsim.isa.baselines.mac_int` and :func:`lutsim.isa.baselines.mac_fp16`, bit for bit.

    Parameters: ``cfg`` — the tile (M, N, K, weight bits) and formats; activations int8, int16
    or fp16; fp16 needs fp32 accumulation. Anything else raises ValueError. ``shared``: the
    fp16 multipliers and fp32 adders are instances of one module each (:mod:`lutsim.hw.units`),
    for a fast export; Amaranth's simulator cannot run that variant.

    Members:
        ``i_valid``  In(1)                                            a step is offered
        ``i_clear``  In(1)                                            start it from +0
        ``i_a``      In(ArrayLayout(ArrayLayout(act bits, K), M))     activations (bit patterns)
        ``i_w``      In(ArrayLayout(ArrayLayout(B, K), N))            weight codes
        ``i_zero``   In(ArrayLayout(B, N))                            zero point of each column
        ``o_ready``  Out(1)                                           always 1
        ``o_busy``   Out(1)                                           always 0
        ``o_acc``    Out(ArrayLayout(ArrayLayout(32, N), M))          accumulators (int32/fp32)

    Timing: initiation interval 1 cycle; latency 1 cycle: a step offered in cycle c
    (``i_valid``) is in ``o_acc`` from cycle c + 1. The datapath is combinational from the
    ports to the accumulator registers (M x N x 32 flip-flops, reset to 0); there are no input
    registers.

    Synthesis note: the multipliers' weight operands come from the ``q - z`` front end, which
    spans only B + 1 bits, so a synthesis tool may narrow the INT8 (or FP16) multipliers to that
    width. That narrowing is part of this baseline: it is a dequantizing MAC, not a full
    INT8 x INT8 array.
    """

    def __init__(self, cfg: CoreConfig, *, shared: bool = False):
        if cfg.act_format not in ("int8", "int16", "fp16"):
            raise ValueError(
                f"MacArray needs act_format int8, int16 or fp16, not {cfg.act_format!r}"
            )
        if cfg.act_format == "fp16" and cfg.acc_format != "fp32":
            raise ValueError(f"MacArray accumulates fp16 products in fp32, not in {cfg.acc_format}")
        self.cfg = cfg
        self.shared_units: dict | None = {} if shared else None  # hw.units.place
        grid = data.ArrayLayout
        super().__init__(
            {
                "i_valid": In(1),
                "i_clear": In(1),
                "i_a": In(grid(grid(cfg.act.bits, cfg.k), cfg.m)),
                "i_w": In(grid(grid(cfg.weight_bits, cfg.k), cfg.n)),
                "i_zero": In(grid(cfg.weight_bits, cfg.n)),
                "o_ready": Out(1),
                "o_busy": Out(1),
                "o_acc": Out(grid(grid(32, cfg.n), cfg.m)),
            }
        )

    @property
    def latency_cycles(self) -> int:
        """Cycles from offering a step to its result in ``o_acc``: 1."""
        return 1

    @property
    def interval_cycles(self) -> int:
        """Cycles between accepted steps, back to back: 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.d.comb += [self.o_ready.eq(1), self.o_busy.eq(0)]
        # dequantization front end: one q - z per weight, shared by the M rows
        diff = [
            [(self.i_w[n][k] - self.i_zero[n]).as_signed() for k in range(cfg.k)]
            for n in range(cfg.n)
        ]
        if cfg.act_format == "fp16":
            weights = [[self._to_fp16(m, d, f"w{n}_{k}") for k, d in enumerate(row)]
                       for n, row in enumerate(diff)]  # fmt: skip
        else:
            weights = [[Signal(signed(8), name=f"w{n}_{k}") for k in range(cfg.k)]
                       for n in range(cfg.n)]  # fmt: skip
            for n in range(cfg.n):
                m.d.comb += [weights[n][k].eq(diff[n][k]) for k in range(cfg.k)]
        for row in range(cfg.m):
            for col in range(cfg.n):
                acc = Signal(32, name=f"acc{row}_{col}")
                start = Mux(self.i_clear, 0, acc)
                if cfg.act_format == "fp16":
                    new = self._fp_unit(m, row, col, start, weights[col])
                else:
                    products = [self.i_a[row][k].as_signed() * weights[col][k]
                                for k in range(cfg.k)]  # fmt: skip
                    new = (start.as_signed() + tree_sum(products))[:32]
                with m.If(self.i_valid):
                    m.d.sync += acc.eq(new)
                m.d.comb += self.o_acc[row][col].eq(acc)
        return m

    def _to_fp16(self, m: Module, diff, name: str) -> Signal:
        """fp16 bit pattern of the small integer ``diff`` (a constant per value)."""
        out = Signal(16, name=name)
        top = (1 << self.cfg.weight_bits) - 1  # codes and zero points: 0 .. 2^B - 1
        with m.Switch(diff.as_unsigned()):
            for value in range(-top, top + 1):
                with m.Case(value & ((1 << len(diff)) - 1)):
                    m.d.comb += out.eq(int(to_bits(float(value), "fp16")))
        return out

    def _fp_unit(self, m: Module, row: int, col: int, start, weights):
        """K fp16 x fp16 -> fp32 multipliers and K chained fp32 adders (lane 0 first)."""
        from .fp_add import FPAdd
        from .fp_mul import FPMul

        cfg = self.cfg
        total = start
        for k in range(cfg.k):
            mul = place(m, f"mul{row}_{col}_{k}", FPMul(cfg.act, cfg.acc), self.shared_units)
            add = place(m, f"add{row}_{col}_{k}", FPAdd(cfg.acc), self.shared_units)
            m.d.comb += [
                mul.i_a.eq(self.i_a[row][k]),
                mul.i_b.eq(weights[k]),
                add.i_a.eq(total),
                add.i_b.eq(mul.o_product),
            ]
            total = add.o_sum
        return total
