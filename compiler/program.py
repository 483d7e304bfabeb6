"""Compact LMMA programs: one loop nest per GEMM shape, expanded to instructions on demand.

A GEMM ``O[M, N] = A[M, K] W[N, K]^T`` runs as ``MT x NT`` output tiles of ``cfg.m x cfg.n``
(``MT = ceil(M / m)``, ``NT = ceil(N / n)``), each over all ``G = ceil(K / k)`` groups of K,
in ``C`` chunks (quantization groups). Memory of one GEMM (32-bit words)::

    tables    [MT][G] table fragments     (written by the table precompute)
    weights   [NT][G] weight fragments    (packed offline)
    outputs   [MT][NT][C] accumulator fragments

The program is the loop nest below, whose instruction fields are affine in the loop variables
(register fields are then taken modulo the register count, so loads rotate through the
registers and overlap the datapath). For one tile it is exactly :func:`lutsim.isa.gemm.tile_program`
on the tile's own memory image (its tables, its weights, its outputs, in that order)::

    for (i, j) in tiles, block by block:            # row tile i, column tile j
      for c in 0 .. C-1:
        zacc  a[c]
        for g in 0 .. G/C-1:                        # group c*G/C + g
          ldt   t[c*G/C + g], [tables  + i*G*TW + (c*G/C + g)*TW]
          ldw   w[c*G/C + g], [weights + j*G*WW + (c*G/C + g)*WW]
          lmma  a[c], t[c*G/C + g], w[c*G/C + g]
        sta   a[c], [outputs + (i*NT + j)*C*AW + c*AW]

(TW, WW, AW: table, weight and accumulator fragment words.) A 70B model is a handful of such
objects; :meth:`LoopProgram.expand_tile` yields the instructions of any tile.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr
from lutsim.isa.executor import execute, new_machine
from lutsim.isa.golden import pack_tables, unpack_acc

__all__ = [
    "Affine",
    "Emit",
    "Layout",
    "Loop",
    "LoopProgram",
    "expand",
    "instruction_counts",
    "pack_table_region",
]

ADDRESS_WORDS = 1 << 32
_REGISTERS = {"acc": "acc_regs", "table": "table_regs", "weight": "weight_regs"}
_PREFIX = {"acc": "a", "table": "t", "weight": "w"}


@dataclass(frozen=True)
class Affine:
    """``const + sum(coeff * var)``: an instruction field as a function of loop variables."""

    const: int = 0
    terms: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(const: int = 0, **coeffs: int) -> Affine:
        return Affine(const, tuple((v, c) for v, c in coeffs.items() if c))

    def at(self, env: Mapping[str, int]) -> int:
        return self.const + sum(c * env[v] for v, c in self.terms)

    def text(self, hex_const: bool = False) -> str:
        parts = [(f"{self.const:#x}" if hex_const else str(self.const))] if self.const else []
        parts += [v if c == 1 else f"{c:#x}*{v}" if hex_const else f"{c}*{v}"
                  for v, c in self.terms]  # fmt: skip
        return " + ".join(parts) or "0"


@dataclass(frozen=True)
class Emit:
    """One instruction template; unused fields are None."""

    op: str
    acc: Affine | None = None
    table: Affine | None = None
    weight: Affine | None = None
    addr: Affine | None = None


@dataclass(frozen=True)
class Loop:
    """``for var in 0 .. count-1: body``."""

    var: str
    count: int
    body: tuple[Loop | Emit, ...]


@dataclass(frozen=True)
class Layout:
    """Region bases and per-tile strides (words). A tile image has strides 0."""

    tables: int
    table_row: int
    weights: int
    weight_col: int
    outputs: int
    out_row: int
    out_col: int


def tile_body(cfg: CoreConfig, groups: int, chunks: int, layout: Layout) -> Loop:
    """The loop nest of one tile (see the module docstring), addresses affine in i, j, c, g."""
    per = groups // chunks
    tw, ww, aw = cfg.table_fragment_words, cfg.weight_fragment_words, cfg.acc_fragment_words
    group = Affine.of(c=per, g=1)
    return Loop("c", chunks, (
        Emit("zacc", acc=Affine.of(c=1)),
        Loop("g", per, (
            Emit("ldt", table=group, addr=Affine.of(layout.tables, i=layout.table_row,
                                                    c=per * tw, g=tw)),
            Emit("ldw", weight=group, addr=Affine.of(layout.weights, j=layout.weight_col,
                                                     c=per * ww, g=ww)),
            Emit("lmma", acc=Affine.of(c=1), table=group, weight=group),
        )),
        Emit("sta", acc=Affine.of(c=1), addr=Affine.of(layout.outputs, i=layout.out_row,
                                                       j=layout.out_col, c=aw)),
    ))  # fmt: skip


def _instr(cfg: CoreConfig, emit: Emit, env: Mapping[str, int]) -> Instr:
    fields: dict = {}
    for name, regs in _REGISTERS.items():
        value = getattr(emit, name)
        if value is not None:
            fields[name] = value.at(env) % getattr(cfg, regs)
    if emit.addr is not None:
        fields["addr"] = emit.addr.at(env)
    if emit.op == "lmma":
        fields.update(m=cfg.m, n=cfg.n, k=cfg.k, atype=cfg.act.abbrev, wtype=cfg.weight_type,
                      ctype=cfg.acc.abbrev, otype=cfg.out.abbrev)  # fmt: skip
    return Instr(emit.op, **fields)


def expand(cfg: CoreConfig, node: Loop | Emit, env: dict[str, int]) -> Iterator[Instr]:
    """The instructions of ``node`` with the variables of ``env`` bound."""
    if isinstance(node, Emit):
        yield _instr(cfg, node, env)
        return
    for value in range(node.count):
        env[node.var] = value
        for child in node.body:
            yield from expand(cfg, child, env)
    del env[node.var]


def instruction_counts(node: Loop | Emit) -> Counter:
    """How many instructions of each opcode ``node`` expands to (without expanding it)."""
    if isinstance(node, Emit):
        return Counter({node.op: 1})
    total: Counter = Counter()
    for child in node.body:
        total.update(instruction_counts(child))
    return Counter({op: n * node.count for op, n in total.items()})


def node_count(node: Loop | Emit) -> int:
    """Loop and instruction-template objects of a nest."""
    if isinstance(node, Emit):
        return 1
    return 1 + sum(node_count(child) for child in node.body)


@dataclass(frozen=True)
class LoopProgram:
    """The program of one GEMM shape: tiles, blocks, memory layout and the tile loop nest.

    ``block_rows x block_cols`` tiles form a block whose tables and weights are staged on chip
    together, ``slab_groups`` groups at a time (the capacity rule of :mod:`lutsim.compiler.passes`);
    tiles are visited block by block."""

    cfg: CoreConfig
    rows: int
    cols: int
    depth: int
    chunks: int
    block_rows: int = 1
    block_cols: int = 1
    slab_groups: int = 1
    layout: Layout = field(init=False)
    body: Loop = field(init=False)

    def __post_init__(self):
        cfg = self.cfg
        tw, ww = cfg.table_fragment_words, cfg.weight_fragment_words
        g, c, aw = self.groups, self.chunks, cfg.acc_fragment_words
        weights = self.row_tiles * g * tw
        outputs = weights + self.col_tiles * g * ww
        layout = Layout(0, g * tw, weights, g * ww, outputs, self.col_tiles * c * aw, c * aw)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "body", tile_body(cfg, g, c, layout))

    # ---- shape ---------------------------------------------------------------------------
    @property
    def groups(self) -> int:
        return math.ceil(self.depth / self.cfg.k)

    @property
    def row_tiles(self) -> int:
        return math.ceil(self.rows / self.cfg.m)

    @property
    def col_tiles(self) -> int:
        return math.ceil(self.cols / self.cfg.n)

    @property
    def tile_count(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def row_blocks(self) -> int:
        return math.ceil(self.row_tiles / self.block_rows)

    @property
    def col_blocks(self) -> int:
        return math.ceil(self.col_tiles / self.block_cols)

    @property
    def memory_words(self) -> int:
        return self.layout.outputs + self.tile_count * self.chunks * self.cfg.acc_fragment_words

    @property
    def tile_layout(self) -> Layout:
        """The layout of one tile's own image: tables, weights, outputs; no strides."""
        g = self.groups
        cfg = self.cfg
        weights = g * cfg.table_fragment_words
        return Layout(0, 0, weights, 0, weights + g * cfg.weight_fragment_words, 0, 0)

    # ---- instructions --------------------------------------------------------------------
    def tiles(self) -> Iterator[tuple[int, int]]:
        """``(i, j)`` of every tile, block by block, rows then columns within a block."""
        for bi in range(self.row_blocks):
            for bj in range(self.col_blocks):
                for i in range(bi * self.block_rows, min((bi + 1) * self.block_rows,
                                                         self.row_tiles)):  # fmt: skip
                    for j in range(bj * self.block_cols, min((bj + 1) * self.block_cols,
                                                             self.col_tiles)):  # fmt: skip
                        yield i, j

    def expand_tile(self, i: int, j: int) -> list[Instr]:
        """The instructions of tile ``(i, j)`` with addresses in the GEMM's memory."""
        if not (0 <= i < self.row_tiles and 0 <= j < self.col_tiles):
            raise ValueError(
                f"tile ({i}, {j}) is outside the {self.row_tiles} x {self.col_tiles} tiles"
            )
        return list(expand(self.cfg, self.body, {"i": i, "j": j}))

    def tile_program(self) -> list[Instr]:
        """The program every tile runs on its own image (== :func:`lutsim.isa.gemm.tile_program`)."""
        local = tile_body(self.cfg, self.groups, self.chunks, self.tile_layout)
        return list(expand(self.cfg, local, {"i": 0, "j": 0}))

    def tile_counts(self) -> Counter:
        """Instructions of one tile, by opcode."""
        return instruction_counts(self.body)

    def counts(self) -> Counter:
        """Instructions of the whole GEMM, by opcode."""
        return Counter({op: n * self.tile_count for op, n in self.tile_counts().items()})

    def tile_cycles(self) -> int:
        """Cycles of one tile without stalls: ``1 + sum of latencies`` (the timing contract)."""
        latency = self.cfg.latency_cycles
        return 1 + sum(latency[op] * n for op, n in self.tile_counts().items())

    # ---- memory and execution ------------------------------------------------------------
    def image_index(self, i: int, j: int) -> np.ndarray:
        """Word addresses (in the GEMM's memory) of tile ``(i, j)``'s own image."""
        lay, g, cfg = self.layout, self.groups, self.cfg
        tables = lay.tables + i * lay.table_row
        weights = lay.weights + j * lay.weight_col
        outputs = lay.outputs + i * lay.out_row + j * lay.out_col
        return np.concatenate([
            np.arange(tables, tables + g * cfg.table_fragment_words),
            np.arange(weights, weights + g * cfg.weight_fragment_words),
            np.arange(outputs, outputs + self.chunks * cfg.acc_fragment_words),
        ])  # fmt: skip

    def memory_image(self, table_words: np.ndarray, weight_words: np.ndarray) -> np.ndarray:
        """The GEMM's memory: table region ``[MT, G, TW]``, weight region ``[NT, G, WW]``,
        outputs zeroed."""
        memory = np.zeros(self.memory_words, dtype=np.uint32)
        memory[: self.layout.weights] = np.asarray(table_words, dtype=np.uint32).ravel()
        memory[self.layout.weights : self.layout.outputs] = np.asarray(weight_words).ravel()
        return memory

    def run(self, memory: np.ndarray) -> np.ndarray:
        """Every tile through the golden executor, as one batch of tile images gathered from
        (and written back to) the GEMM's memory; returns the final memory."""
        index = np.stack([self.image_index(i, j) for i, j in self.tiles()])
        machine = new_machine(self.cfg, np.asarray(memory, dtype=np.uint32)[index])
        final = execute(self.cfg, self.tile_program(), machine).memory
        out = np.array(memory, dtype=np.uint32)
        out[index] = final
        return out

    def run_sequential(self, memory: np.ndarray) -> np.ndarray:
        """Every tile's own instruction stream, in tile order, on the one GEMM memory."""
        machine = new_machine(self.cfg, memory)
        for i, j in self.tiles():
            machine = execute(self.cfg, self.expand_tile(i, j), machine)
        return machine.memory[0]

    def read_outputs(self, memory: np.ndarray) -> np.ndarray:
        """Stored accumulators -> ``acc[M, N, C]`` (output-format values)."""
        cfg, mt, nt, c = self.cfg, self.row_tiles, self.col_tiles, self.chunks
        words = np.asarray(memory)[self.layout.outputs : self.memory_words]
        values = unpack_acc(cfg, words.reshape(mt, nt, c, cfg.acc_fragment_words))
        # [MT, NT, C, m, n] -> [MT*m, NT*n, C]
        values = values.transpose(0, 3, 1, 4, 2).reshape(mt * cfg.m, nt * cfg.n, c)
        return values[: self.rows, : self.cols]

    # ---- text ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The program as plain data (shape, blocks, layout, loop nest); no instructions."""
        return {
            "mnemonic": self.cfg.mnemonic, "rows": self.rows, "cols": self.cols,
            "depth": self.depth, "chunks": self.chunks,
            "tiles": [self.row_tiles, self.col_tiles],
            "block": [self.block_rows, self.block_cols, self.slab_groups],
            "layout": dataclasses.asdict(self.layout), "body": _node_data(self.body),
        }  # fmt: skip

    def listing(self, name: str = "program") -> str:
        """The loop nest as text."""
        cfg, lay, g, c = self.cfg, self.layout, self.groups, self.chunks
        mt, nt = self.row_tiles, self.col_tiles
        tw, ww, aw = cfg.table_fragment_words, cfg.weight_fragment_words, cfg.acc_fragment_words
        lines = [
            f"{name}: M={self.rows} N={self.cols} K={self.depth} ({g} groups, {c} "
            f"chunk{'s' * (c != 1)}) {cfg.mnemonic}",
            f"  memory: tables {lay.tables:#x} [{mt}][{g}][{tw}], weights {lay.weights:#x} "
            f"[{nt}][{g}][{ww}], outputs {lay.outputs:#x} [{mt}][{nt}][{c}][{aw}]; "
            f"{self.memory_words:#x} words",
            f"  tiles {mt} x {nt} in blocks of {self.block_rows} x {self.block_cols}, "
            f"staged {self.slab_groups} group{'s' * (self.slab_groups != 1)} at a time",
            f"  for (i, j) in 0..{mt - 1} x 0..{nt - 1}, block by block:",
        ]
        lines += _nest_lines(self.body, "    ")
        lines.append(
            f"  ; registers modulo a{cfg.acc_regs} t{cfg.table_regs} w{cfg.weight_regs}; "
            f"per tile {sum(self.tile_counts().values())} instructions, "
            f"{self.tile_cycles()} cycles"
        )
        return "\n".join(lines) + "\n"


def pack_table_region(cfg: CoreConfig, entries: np.ndarray) -> np.ndarray:
    """Table entries ``[M, G, E]`` (from :func:`lutsim.isa.golden.precompute_tables`) -> the table
    region of a GEMM's memory: words ``[MT, G, table_fragment_words]`` (rows padded with 0)."""
    rows, groups, size = entries.shape
    row_tiles = math.ceil(rows / cfg.m)
    padded = np.zeros((row_tiles * cfg.m, groups, size), dtype=entries.dtype)
    padded[:rows] = entries
    # [MT, m, G, E] -> [MT, G, m, E] -> words [MT, G, m * E]
    return pack_tables(cfg, padded.reshape(row_tiles, cfg.m, groups, size).transpose(0, 2, 1, 3))


def _node_data(node: Loop | Emit):
    if isinstance(node, Loop):
        return {"for": node.var, "count": node.count, "body": [_node_data(c) for c in node.body]}
    fields = {n: getattr(node, n) for n in ("acc", "table", "weight", "addr")}
    return {"op": node.op} | {n: [a.const, [list(t) for t in a.terms]]
                              for n, a in fields.items() if a is not None}  # fmt: skip


def _nest_lines(node: Loop | Emit, indent: str) -> list[str]:
    if isinstance(node, Loop):
        lines = [f"{indent}for {node.var} in 0..{node.count - 1}:"]
        for child in node.body:
            lines += _nest_lines(child, indent + "  ")
        return lines
    operands = [f"{_PREFIX[n]}[{getattr(node, n).text()}]" for n in _PREFIX
                if getattr(node, n) is not None]  # fmt: skip
    if node.addr is not None:
        operands.append(f"[{node.addr.text(hex_const=True)}]")
    return [f"{indent}{node.op:<5} {', '.join(operands)}".rstrip()]
