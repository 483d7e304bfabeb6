"""The LUT ablation: from a conventional LUT array to the LUT core's datapath, step by step."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig

from .add_array import check_int_activations

__all__ = ["STEPS", "LutAblationArray"]

# fmt: off
STEPS: dict[str, str] = {
    "conventional": "2^K-entry tables computed in every unit, 2^K:1 mux, no negation",
    "symmetrized":  "2^(K-1)-entry +-tables computed in every unit, run-time index inversion, "
                    "mux + negate",
    "inverted":     "as symmetrized, with the index inverted offline: no index logic",
    "precomputed":  "tables precomputed in software and shared along the row: mux + negate only",
}
"""The ablation steps in order; each adds one of the paper's techniques to the one before."""
# fmt: on


class LutAblationArray(wiring.Component):
    """One step of the LUT ablation as an M x N array of the core's tile size, integer
    activations, one weight bit plane per cycle (semantics of each step: :data:`STEPS`).

    Every unit (row r, column c) looks up one value per cycle, shifts it left by the plane b
    and adds it to its int32 accumulator (wraps). Steps and what one unit holds:

    ============== ======================================= ====================================
    step           table                                   lookup of the plane's K bits
    ============== ======================================= ====================================
    conventional   ``T[i] = sum_l bit_l(i) a_l``, 2^K       ``T[i]`` with the raw bits: a
                   entries, an adder network per unit       2^K:1 mux
    symmetrized    ``T[j] = sum_l c_l a_l``, ``c_l = +-1``  raw bits: index logic (low bits
                   (bit l of ``j | 2^(K-1)``), 2^(K-1)      XOR NOT msb, per column), then
                   entries, an adder network per unit       2^(K-1):1 mux and negate
    inverted       as symmetrized                           offline-inverted index
                                                            (:func:`lutsim.isa.golden.weight_indices`):
                                                            mux and negate
    precomputed    from ``i_tables`` (software), one table  as inverted
                   per row shared by its N units
    ============== ======================================= ====================================

    A K-group of B-bit codes ``q_l`` thus adds ``sum_l a_l q_l`` (conventional) or
    ``sum_l a_l (2 q_l - (2^B - 1))`` (every symmetrized step) over its B planes.

    Hierarchy (for per-component synthesis): ``precompute_r_c`` (the adder network),
    ``index_c`` (run-time inversion), ``select_r_c`` (mux), ``negate_r_c``, ``shift_r_c``
    (shift and add); the accumulator registers are in the top module.

    Parameters: ``cfg`` — tile (M, N, K, weight bits) and activations (int8 or int16; anything
    else raises ValueError); ``step`` — a key of :data:`STEPS`.

    Members:
        ``i_valid``   In(1)                                          a plane is offered
        ``i_clear``   In(1)                                          add it to 0
        ``i_a``       In(ArrayLayout(ArrayLayout(act bits, K), M))   activations (not in
                                                                     ``precomputed``)
        ``i_tables``  In(ArrayLayout(ArrayLayout(W, E), M))          tables, only in
                                                                     ``precomputed``; W =
                                                                     :attr:`entry_bits`
        ``i_index``   In(ArrayLayout(K, N))                          the plane's bits (raw, or
                                                                     stored indices: see above)
        ``i_plane``   In(range(max(B, 2)))                           the plane b
        ``o_acc``     Out(ArrayLayout(ArrayLayout(32, N), M))        int32 accumulators

    Timing: initiation interval 1 cycle, latency 1 cycle (as :class:`lutsim.hw.lut_tile.LutTile`).
    Registers: the M x N x 32 accumulator bits only.
    """

    def __init__(self, cfg: CoreConfig, step: str):
        check_int_activations("LutAblationArray", cfg)
        if step not in STEPS:
            raise ValueError(f"ablation step must be one of {', '.join(STEPS)}, not {step!r}")
        self.cfg = cfg
        self.step = step
        grid = data.ArrayLayout
        members = {"i_valid": In(1), "i_clear": In(1)}
        if step == "precomputed":
            members["i_tables"] = In(grid(grid(self.entry_bits, self.entries), cfg.m))
        else:
            members["i_a"] = In(grid(grid(cfg.act.bits, cfg.k), cfg.m))
        members |= {
            "i_index": In(grid(cfg.k, cfg.n)),
            "i_plane": In(range(max(cfg.weight_bits, 2))),
            "o_acc": Out(grid(grid(32, cfg.n), cfg.m)),
        }
        super().__init__(members)

    @property
    def symmetric(self) -> bool:
        return self.step != "conventional"

    @property
    def entries(self) -> int:
        """Entries per table: 2^K, or 2^(K-1) when symmetrized."""
        return 2 ** (self.cfg.k - 1) if self.symmetric else 2**self.cfg.k

    @property
    def entry_bits(self) -> int:
        """Width of a table entry (two's complement), as :attr:`CoreConfig.table_entry_bits`
        for exact tables with or without symmetrization."""
        return self.cfg.replace(table_format="int", symmetrize=self.symmetric).table_entry_bits

    @property
    def latency_cycles(self) -> int:
        return 1

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        index = [self.i_index[c] for c in range(cfg.n)]
        if self.step == "symmetrized":
            index = [self._index_logic(m, bits, f"index_{c}") for c, bits in enumerate(index)]
        for r in range(cfg.m):
            shared = None
            if self.step == "precomputed":
                shared = [self.i_tables[r][j] for j in range(self.entries)]
            for c in range(cfg.n):
                table = shared or self._precompute(m, r, c)
                value = self._lookup(m, table, index[c], f"{r}_{c}")
                acc = Signal(32, name=f"acc{r}_{c}")
                start = Mux(self.i_clear, 0, acc)
                new = self._shift_add(m, start, value, f"shift_{r}_{c}")
                with m.If(self.i_valid):
                    m.d.sync += acc.eq(new)
                m.d.comb += self.o_acc[r][c].eq(acc)
        return m

    def _precompute(self, m: Module, r: int, c: int) -> list[Signal]:
        """The table of row r for unit (r, c), from the activations: an adder network."""
        cfg = self.cfg
        sub = Module()
        m.submodules[f"precompute_{r}_{c}"] = sub
        width = self.entry_bits

        def keep(value, name: str) -> Signal:
            wire = Signal(signed(width), name=f"{name}_{r}_{c}")
            sub.d.comb += wire.eq(value)
            return wire

        lanes = [self.i_a[r][lane].as_signed() for lane in range(cfg.k)]
        if self.symmetric:
            return [keep(v, f"t{j}") for j, v in enumerate(_signed_sums(lanes, keep))]
        table = [keep(0, "t0")]  # entry i adds lane msb(i) to entry i - 2^msb(i)
        for i in range(1, 1 << cfg.k):
            top = i.bit_length() - 1
            rest = i ^ (1 << top)
            table.append(keep(lanes[top] if not rest else table[rest] + lanes[top], f"t{i}"))
        return table

    def _index_logic(self, m: Module, bits, name: str) -> Signal:
        """Run-time inversion of raw plane bits into the stored index (shared by a column)."""
        k = self.cfg.k
        sub = Module()
        m.submodules[name] = sub
        out = Signal(k, name=f"{name}_out")
        low = bits[: k - 1] ^ Cat(*[~bits[k - 1]] * (k - 1))
        sub.d.comb += out.eq(Cat(low, bits[k - 1]))
        return out

    def _lookup(self, m: Module, table: list, index, unit: str) -> Signal:
        """``table[index & mask]``, negated when symmetrized and the index MSB is 0."""
        k, width = self.cfg.k, self.entry_bits
        select = Module()
        m.submodules[f"select_{unit}"] = select
        picked = Signal(signed(width), name=f"picked_{unit}")
        with select.Switch(index[: k - 1] if self.symmetric else index):
            for j, entry in enumerate(table):
                with select.Case(j):
                    select.d.comb += picked.eq(entry)
        if not self.symmetric:
            return picked
        negate = Module()
        m.submodules[f"negate_{unit}"] = negate
        value = Signal(signed(width), name=f"value_{unit}")
        negate.d.comb += value.eq(Mux(index[k - 1], picked, (-picked)[:width]))
        return value

    def _shift_add(self, m: Module, start, value, name: str) -> Signal:
        sub = Module()
        m.submodules[name] = sub
        out = Signal(32, name=f"{name}_out")
        sub.d.comb += out.eq((start.as_signed() + (value << self.i_plane))[:32])
        return out


def _signed_sums(lanes: list, keep, name: str = "s") -> list:
    """``sum_l c_l lanes[l]`` for every sign vector with the last lane positive, entry j taking
    ``c_l = +1`` where bit l of j is set: a divide-and-conquer network, each half's
    positive-leading sums combined with one add or subtract per entry (12 adders for K = 4).
    ``keep(value, name)`` names an intermediate sum."""
    if len(lanes) == 1:
        return [lanes[0]]
    half = len(lanes) // 2
    low = _signed_sums(lanes[:half], keep, name + "l")
    high = _signed_sums(lanes[half:], keep, name + "h")
    if half > 1:
        low = [keep(v, f"{name}l{i}") for i, v in enumerate(low)]
    if len(lanes) - half > 1:
        high = [keep(v, f"{name}h{i}") for i, v in enumerate(high)]
    lo_bits = half - 1  # sign bits of the low half below its top lane
    values = []
    for j in range(1 << (len(lanes) - 1)):
        lo_signs = j & ((1 << half) - 1)
        hi = high[j >> half]
        if lo_signs >> lo_bits & 1:  # the low half's top lane is positive
            values.append(hi + low[lo_signs & ((1 << lo_bits) - 1)])
        else:  # hi - (the low sum with every sign flipped)
            values.append(hi - low[~lo_signs & ((1 << lo_bits) - 1)])
    return values
