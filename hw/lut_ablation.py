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
            shared = self.i_tables[r] if self.step == "precomputed" else None
            for c in range(cfg.n):
                table = shared if shared is not None else self._precompute(m, r, c)
                value = self._lookup(m, table, index[c], f"{r}_{c}")
                acc = Signal(32, name=f"acc{r}_{c}")
                start = Mux(self.i_clear, 0, acc)  # in the top, as LutTile's
                new = self._shift_add(m, start, value, f"shift_{r}_{c}")
                with m.If(self.i_valid):
                    m.d.sync += acc.eq(new)
                m.d.comb += self.o_acc[r][c].eq(acc)
        return m

    # Every unit is a component with its own port names, so that the units of one kind are
    # the same Verilog module but for its name, and synthesis handles the kind once.
    def _precompute(self, m: Module, r: int, c: int):
        """The table of row r for unit (r, c), from the activations: an adder network."""
        unit = _Precompute(self.cfg.act.bits, self.cfg.k, self.entry_bits, self.symmetric)
        m.submodules[f"precompute_{r}_{c}"] = unit
        m.d.comb += unit.i_a.eq(self.i_a[r])
        return unit.o_table

    def _index_logic(self, m: Module, bits, name: str):
        """Run-time inversion of raw plane bits into the stored index (shared by a column)."""
        unit = _IndexLogic(self.cfg.k)
        m.submodules[name] = unit
        m.d.comb += unit.i_bits.eq(bits)
        return unit.o_index

    def _lookup(self, m: Module, table, index, unit: str):
        """``table[index & mask]``, negated when symmetrized and the index MSB is 0."""
        k, width = self.cfg.k, self.entry_bits
        select = _Select(width, self.entries)
        m.submodules[f"select_{unit}"] = select
        m.d.comb += [select.i_table.eq(table), select.i_index.eq(index[: select.index_bits])]
        if not self.symmetric:
            return select.o_value
        negate = _Negate(width)
        m.submodules[f"negate_{unit}"] = negate
        m.d.comb += [negate.i_value.eq(select.o_value), negate.i_keep.eq(index[k - 1])]
        return negate.o_value

    def _shift_add(self, m: Module, start, value, name: str):
        unit = _ShiftAdd(self.entry_bits, len(self.i_plane))
        m.submodules[name] = unit
        m.d.comb += [unit.i_start.eq(start), unit.i_value.eq(value), unit.i_plane.eq(self.i_plane)]
        return unit.o_sum


class _Precompute(wiring.Component):
    """A unit's table from its row's K activations (signed): entry i = sum of the lanes whose
    bit of i is set (2^K entries), or, symmetrized, ``sum_l c_l a_l`` with ``c_l = +-1`` from
    bit l of ``i | 2^(K-1)`` (2^(K-1) entries); entries of ``width`` bits, two's complement."""

    def __init__(self, act_bits: int, k: int, width: int, symmetric: bool):
        self.k, self.width, self.symmetric = k, width, symmetric
        entries = 2 ** (k - 1) if symmetric else 2**k
        super().__init__({
            "i_a": In(data.ArrayLayout(act_bits, k)),
            "o_table": Out(data.ArrayLayout(width, entries)),
        })  # fmt: skip

    def elaborate(self, platform):
        m = Module()

        def keep(value, name: str) -> Signal:
            wire = Signal(signed(self.width), name=name)
            m.d.comb += wire.eq(value)
            return wire

        lanes = [self.i_a[lane].as_signed() for lane in range(self.k)]
        if self.symmetric:
            table = [keep(v, f"t{j}") for j, v in enumerate(_signed_sums(lanes, keep))]
        else:
            table = [keep(0, "t0")]  # entry i adds lane msb(i) to entry i - 2^msb(i)
            for i in range(1, 1 << self.k):
                top = i.bit_length() - 1
                rest = i ^ (1 << top)
                table.append(keep(lanes[top] if not rest else table[rest] + lanes[top], f"t{i}"))
        m.d.comb += [self.o_table[j].eq(entry) for j, entry in enumerate(table)]
        return m


class _IndexLogic(wiring.Component):
    """Raw plane bits -> the stored index: the low K-1 bits XOR NOT the msb, the msb kept."""

    def __init__(self, k: int):
        self.k = k
        super().__init__({"i_bits": In(k), "o_index": Out(k)})

    def elaborate(self, platform):
        m = Module()
        k, bits = self.k, self.i_bits
        low = bits[: k - 1] ^ Cat(*[~bits[k - 1]] * (k - 1))
        m.d.comb += self.o_index.eq(Cat(low, bits[k - 1]))
        return m


class _Select(wiring.Component):
    """``o_value = i_table[i_index]``: an ``entries``:1 mux of ``width``-bit signed entries."""

    def __init__(self, width: int, entries: int):
        self.index_bits = (entries - 1).bit_length()
        super().__init__({
            "i_table": In(data.ArrayLayout(width, entries)),
            "i_index": In(self.index_bits),
            "o_value": Out(signed(width)),
        })  # fmt: skip

    def elaborate(self, platform):
        m = Module()
        with m.Switch(self.i_index):
            for j in range(len(self.i_table)):
                with m.Case(j):
                    m.d.comb += self.o_value.eq(self.i_table[j].as_signed())
        return m


class _Negate(wiring.Component):
    """``o_value = i_value`` when ``i_keep``, else ``-i_value`` (wrapped to ``width`` bits)."""

    def __init__(self, width: int):
        self.width = width
        super().__init__({"i_value": In(signed(width)), "i_keep": In(1),
                          "o_value": Out(signed(width))})  # fmt: skip

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o_value.eq(Mux(self.i_keep, self.i_value, (-self.i_value)[: self.width]))
        return m


class _ShiftAdd(wiring.Component):
    """``o_sum = (i_start + (i_value << i_plane))`` mod 2^32, signed."""

    def __init__(self, width: int, plane_bits: int):
        super().__init__({"i_start": In(32), "i_value": In(signed(width)),
                          "i_plane": In(plane_bits), "o_sum": Out(32)})  # fmt: skip

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o_sum.eq((self.i_start.as_signed() + (self.i_value << self.i_plane))[:32])
        return m


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
