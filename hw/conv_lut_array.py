"""The conventional LUT baseline: full 2^K-entry tables computed in hardware, one per unit."""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring

from lutsim.isa.config import CoreConfig

from .add_array import bit_serial_signature, check_int_activations, hold_step

__all__ = ["ConvLutArray"]


class ConvLutArray(wiring.Component):
    """A conventional LUT array of the LUT core's tile size: one weight bit plane per cycle.

    Unlike the LUT core, the tables are not precomputed in software, halved by symmetrization
    or shared along the whole row. Each **unit** — one row and a group of
    ``columns_per_table`` adjacent columns — owns an adder network that computes the full table
    of its row's K held activations, ``T[i] = sum_l bit_l(i) a_l`` for i = 0 .. 2^K - 1
    (2^K - 1 - K adders; entries recomputed combinationally from the held activations, no table
    registers). In the cycle of plane b each column of the unit looks up ``T[i]`` with the
    index ``i = sum_l bit_b(q_l) << l`` of its K codes (a 2^K:1 multiplexer; no negation) and
    accumulates it shifted left by b in int32 (wraps). A step thus adds ``sum_k a_k q_k``; the
    zero point is left to the epilogue. Semantics: :func:`lutsim.isa.baselines.conv_lut`, bit for bit.

    Parameters:
        ``cfg``                the tile (M, N, K, weight bits B); activations int8 or int16.
                               ``table_format`` and ``symmetrize`` do not apply (tables are
                               exact and full).
        ``columns_per_table``  columns sharing one table network; must divide N. The default 1
                               is a conventional LUT dot-product unit: every one of the M x N
                               units computes its own table; N shares one table per row, as
                               the LUT core does.

    Members:
        ``i_valid``  In(1)                                            a step is offered
        ``i_clear``  In(1)                                            start it from 0
        ``i_a``      In(ArrayLayout(ArrayLayout(act bits, K), M))     activations
        ``i_w``      In(ArrayLayout(ArrayLayout(B, K), N))            weight codes
        ``o_ready``  Out(1)                                           an offered step is accepted
        ``o_busy``   Out(1)                                           planes are in flight
        ``o_acc``    Out(ArrayLayout(ArrayLayout(32, N), M))          int32 accumulators

    Timing: as :class:`lutsim.hw.add_array.AddArray` — initiation interval B cycles; latency B + 1
    cycles (a step accepted in cycle c is registered, planes run in c + 1 .. c + B, the result
    is in ``o_acc`` in cycle c + B + 1).
    """

    def __init__(self, cfg: CoreConfig, columns_per_table: int = 1):
        check_int_activations("ConvLutArray", cfg)
        if type(columns_per_table) is not int or columns_per_table < 1 or cfg.n % columns_per_table:
            raise ValueError(
                f"columns_per_table must divide n = {cfg.n}, not {columns_per_table!r}"
            )
        self.cfg = cfg
        self.columns_per_table = columns_per_table
        super().__init__(bit_serial_signature(cfg))

    @property
    def tables(self) -> int:
        """Table networks in the array: M x N / columns_per_table."""
        return self.cfg.m * self.cfg.n // self.columns_per_table

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
        index = []
        for col in range(cfg.n):
            i = Signal(cfg.k, name=f"index{col}")  # shared by the M rows
            m.d.comb += i.eq(Cat(held.bit(col, lane) for lane in range(cfg.k)))
            index.append(i)
        for row in range(cfg.m):
            for first in range(0, cfg.n, self.columns_per_table):
                table = Array(self._table(m, [held.a[row][lane] for lane in range(cfg.k)],
                                          f"t{row}_{first}"))  # fmt: skip
                for col in range(first, first + self.columns_per_table):
                    acc = Signal(32, name=f"acc{row}_{col}")
                    start = Mux(held.start_zero, 0, acc).as_signed()
                    with m.If(held.busy):
                        m.d.sync += acc.eq((start + (table[index[col]] << held.plane))[:32])
                    m.d.comb += self.o_acc[row][col].eq(acc)
        return m

    def _table(self, m: Module, lanes, name: str) -> list:
        """The 2^K entries of one table: entry i adds activation ``msb(i)`` to entry
        ``i - 2^msb(i)``; each entry is as wide as a sum of popcount(i) activations."""
        width = self.cfg.act.bits
        entries = [Const(0, signed(width))]
        for i in range(1, 1 << self.cfg.k):
            top = i.bit_length() - 1
            rest = i ^ (1 << top)
            if not rest:
                entries.append(lanes[top].as_signed())
                continue
            entry = Signal(signed(width + (i.bit_count() - 1).bit_length()), name=f"{name}_{i}")
            m.d.comb += entry.eq(entries[rest] + lanes[top].as_signed())
            entries.append(entry)
        return entries
