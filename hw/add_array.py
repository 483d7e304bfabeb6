"""The bit-serial ADD baseline: M x N units, each a K-input adder tree gated by weight bits."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

__all__ = [
    "AddArray",
    "HeldStep",
    "bit_serial_signature",
    "check_int_activations",
    "hold_step",
    "tree_sum",
]


def bit_serial_signature(cfg: CoreConfig) -> dict:
    """Ports shared by the bit-serial baselines (:class:`AddArray`, ``ConvLutArray``)."""
    grid = data.ArrayLayout
    return {
        "i_valid": In(1),
        "i_clear": In(1),
        "i_a": In(grid(grid(cfg.act.bits, cfg.k), cfg.m)),
        "i_w": In(grid(grid(cfg.weight_bits, cfg.k), cfg.n)),
        "o_ready": Out(1),
        "o_busy": Out(1),
        "o_acc": Out(grid(grid(32, cfg.n), cfg.m)),
    }


def check_int_activations(name: str, cfg: CoreConfig) -> None:
    if cfg.act_format not in ("int8", "int16"):
        raise ValueError(f"{name} needs act_format int8 or int16, not {cfg.act_format!r}")


@dataclass(frozen=True)
class HeldStep:
    """The registers of the step in flight: activations, codes, plane, first-plane clear."""

    a: data.View  # [M][K] activation bit patterns
    w: data.View  # [N][K] weight codes
    plane: Signal  # the bit plane b of this cycle
    busy: Signal  # a plane is processed in this cycle
    start_zero: Value  # this cycle's add starts from 0 (i_clear of the step, plane 0)

    def bit(self, col: int, lane: int) -> Value:
        """Bit b of the code of ``col`` for activation ``lane``."""
        return self.w[col][lane].bit_select(self.plane, 1)


def hold_step(m: Module, cfg: CoreConfig, ports) -> HeldStep:
    """Step acceptance and the plane counter of the bit-serial baselines.

    A step is accepted when ``i_valid & o_ready``; its operands are registered and its planes
    b = 0 .. B-1 are processed in the next B cycles. ``o_ready`` is high when idle and in the
    last plane's cycle, so steps issue back to back every B cycles."""
    a = Signal(ports.i_a.shape(), name="a_held")
    w = Signal(ports.i_w.shape(), name="w_held")
    clear = Signal(name="clear_held")
    busy = Signal(name="busy")
    plane = Signal(range(max(cfg.weight_bits, 2)), name="plane")  # no zero-width signal at B = 1
    last = plane == cfg.weight_bits - 1
    ready = ~busy | last
    m.d.comb += [ports.o_ready.eq(ready), ports.o_busy.eq(busy)]
    with m.If(ports.i_valid & ready):
        m.d.sync += [
            a.eq(ports.i_a),
            w.eq(ports.i_w),
            clear.eq(ports.i_clear),
            plane.eq(0),
            busy.eq(1),
        ]
    with m.Elif(busy & last):
        m.d.sync += busy.eq(0)
    with m.Elif(busy):
        m.d.sync += plane.eq(plane + 1)
    return HeldStep(a, w, plane, busy, clear & (plane == 0))


def tree_sum(terms: list) -> Value:
    """The sum of ``terms`` as a balanced adder tree (depth ceil(log2 len)), widths grown by
    Amaranth's rules."""
    while len(terms) > 1:
        terms = [a + b for a, b in zip(terms[0::2], terms[1::2], strict=False)] + (
            [terms[-1]] if len(terms) % 2 else []
        )
    return terms[0]


class AddArray(wiring.Component):
    """A bit-serial ADD array of the LUT core's tile size: one weight bit plane per cycle.

    In the cycle of plane b each of the M x N units adds, with a K-input adder tree, the
    activations of its row whose code bit b (of its column) is 1, and accumulates the sum
    shifted left by b: ``acc += (sum_k bit_b(q_k) a_k) << b`` in int32 (wraps). A step (one
    K-group) thus adds ``sum_k a_k q_k``; the zero point is left to the epilogue, as in the
    LUT core without symmetrization. Semantics: :func:`lutsim.isa.baselines.add_array`, bit for bit.

    Parameters: ``cfg`` — the tile (M, N, K, weight bits B); activations int8 or int16,
    anything else raises ValueError.

    Members:
        ``i_valid``  In(1)                                            a step is offered
        ``i_clear``  In(1)                                            start it from 0
        ``i_a``      In(ArrayLayout(ArrayLayout(act bits, K), M))     activations
        ``i_w``      In(ArrayLayout(ArrayLayout(B, K), N))            weight codes
        ``o_ready``  Out(1)                                           an offered step is accepted
        ``o_busy``   Out(1)                                           planes are in flight
        ``o_acc``    Out(ArrayLayout(ArrayLayout(32, N), M))          int32 accumulators

    Timing: initiation interval B cycles; latency B + 1 cycles: a step accepted in cycle c
    (``i_valid & o_ready``) is registered, its planes run in cycles c + 1 .. c + B, and its
    result is in ``o_acc`` in cycle c + B + 1. ``o_ready`` is high when idle and in a step's
    last plane cycle; ``o_busy`` is low exactly when ``o_acc`` holds every accepted step.
    Registers: the held step (M K act bits + N K B bits + control) and M N x 32 accumulators.
    """

    def __init__(self, cfg: CoreConfig):
        check_int_activations("AddArray", cfg)
        self.cfg = cfg
        super().__init__(bit_serial_signature(cfg))

    @property
    def latency_cycles(self) -> int:
        """Cycles from accepting a step to its result in ``o_acc``: B + 1."""
        return self.cfg.weight_bits + 1

    @property
    def interval_cycles(self) -> int:
        """Cycles between accepted steps, back to back: B."""
        return self.cfg.weight_bits

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        held = hold_step(m, cfg, self)
        lanes = [[held.a[row][k].as_signed() for k in range(cfg.k)] for row in range(cfg.m)]
        for col in range(cfg.n):
            bits = [Signal(name=f"bit{col}_{k}") for k in range(cfg.k)]  # shared by the M rows
            m.d.comb += [bit.eq(held.bit(col, k)) for k, bit in enumerate(bits)]
            for row in range(cfg.m):
                acc = Signal(32, name=f"acc{row}_{col}")
                gated = [Mux(bits[k], lanes[row][k], 0) for k in range(cfg.k)]
                start = Mux(held.start_zero, 0, acc).as_signed()
                with m.If(held.busy):
                    m.d.sync += acc.eq((start + (tree_sum(gated) << held.plane))[:32])
                m.d.comb += self.o_acc[row][col].eq(acc)
        return m
