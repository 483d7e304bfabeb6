"""A whole mpGEMM as an LMMA program: inputs, lowering, execution and residuals.

Problem: ``a[M, K]`` activations, ``w[N, K]`` unsigned weight codes, ``scale`` and ``zero`` of
shape ``(N,)`` (per output channel) or ``(N, C)`` (per group of ``G = K / C`` along K). Without
``scale`` every scale is 1; without ``zero`` every zero point is 0 (1 for ternary weights, whose
zero point is fixed at 1).

Input policy (one-line ``ValueError`` otherwise): integer activations must be integers in the
format's range; float activations must be finite and within the format's range, and are rounded
to it (RNE; the count is reported). Codes must lie in ``0 .. 2^B - 1`` (``0 .. 2`` ternary).
Per-group problems need G to be a multiple of the table K. A per-channel K that is not a multiple
of the table K is **padded** with zero activations (and zero codes) up to the next multiple; the
padding is reported and changes nothing in the result.

Lowering: the output is cut into tiles of ``cfg.m x cfg.n`` (M and N padded with zero rows and
zero-code columns, discarded afterwards). Every tile runs the same program on its own memory
image; :func:`tile_program` gives it. Memory image of a tile (word addresses)::

    0                       tables: group g of the tile's rows at g * table_fragment_words
    NG * TW                 weights: group g of the tile's columns at NG*TW + g * WW
    NG * (TW + WW)          outputs: chunk c at NG*(TW+WW) + c * acc_fragment_words

Program of a tile, chunk by chunk (registers rotate so loads can overlap the datapath)::

    zacc a(c)                               ; per chunk c
    ldt  t(g), [table g]                    ; per group g of the chunk
    ldw  w(g), [weight g]
    lmma a(c), t(g), w(g)
    sta  a(c), [output c]
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._io import atomic_writer, not_regular
from .config import CoreConfig
from .encoding import Instr
from .executor import execute, new_machine
from .formats import quantize, ulp
from .golden import (
    Tables,
    accumulate,
    chunk_dots,
    epilogue,
    error_bound,
    pack_tables,
    pack_weights,
    precompute_tables,
    reference,
    unpack_acc,
    weight_indices,
)

__all__ = [
    "IMPLS",
    "GemmProblem",
    "GemmResult",
    "Lowered",
    "load_npz",
    "check_int32",
    "golden_runner",
    "lower",
    "lut_gemm",
    "read_outputs",
    "make_problem",
    "random_problem",
    "run_gemm",
    "save_npz",
    "tile_program",
]

IMPLS = ("golden",)
"""Levels that can run a GEMM program; the CLI adds runners of the higher layers."""

Runner = Callable[[CoreConfig, list[Instr], np.ndarray], tuple[np.ndarray, int | None]]
"""``runner(cfg, program, memories[tiles, words]) -> (final memories, cycles or None)``."""


@dataclass(frozen=True)
class GemmProblem:
    """A validated problem: ``a`` float64 values of the activation format, ``w`` int64 codes,
    ``scale``/``zero`` float64 ``[N, C]``; ``rounded`` counts activations rounded to the format,
    ``pad_k`` the zero columns added to K."""

    a: np.ndarray
    w: np.ndarray
    scale: np.ndarray
    zero: np.ndarray
    rounded: int = 0
    pad_k: int = 0

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.a.shape[0], self.w.shape[0], self.a.shape[1] - self.pad_k

    @property
    def chunks(self) -> int:
        return self.scale.shape[1]


def _where(index: tuple[int, ...]) -> str:
    return ", ".join(str(int(i)) for i in index)


def make_problem(cfg: CoreConfig, a, w, scale=None, zero=None) -> GemmProblem:
    """Validate and normalize a GEMM problem (see the module docstring for the policy)."""
    a, w = np.asarray(a), np.asarray(w)
    if a.ndim != 2 or w.ndim != 2:
        raise ValueError(f"a and w must be 2-D, not {a.ndim}-D and {w.ndim}-D")
    if 0 in a.shape or 0 in w.shape:
        raise ValueError(f"a ({_dims(a)}) and w ({_dims(w)}) must not be empty")
    if a.shape[1] != w.shape[1]:
        raise ValueError(f"shape mismatch: a is {_dims(a)} and w is {_dims(w)}; K must agree")
    depth, cols = a.shape[1], w.shape[0]
    if not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"w must hold integer weight codes, not {w.dtype}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"a must hold numbers, not {a.dtype}")
    bad = (w < 0) | (w > cfg.code_max)
    if bad.any():
        at = tuple(np.argwhere(bad)[0])
        kind = "ternary" if cfg.ternary else f"{cfg.weight_bits}-bit"
        raise ValueError(
            f"weight code {int(w[at])} at w[{_where(at)}] is out of range 0..{cfg.code_max} "
            f"for {kind} weights"
        )
    a, rounded = _activations(cfg, a)
    scale = _per_group("scale", scale, cols, 1.0)
    zero = _per_group("zero", zero, cols, 1.0 if cfg.ternary else 0.0)
    if scale.shape[1] == 1 and zero.shape[1] > 1:  # an absent or per-channel array broadcasts
        scale = np.repeat(scale, zero.shape[1], axis=1)
    if zero.shape[1] == 1 and scale.shape[1] > 1:
        zero = np.repeat(zero, scale.shape[1], axis=1)
    if scale.shape[1] != zero.shape[1]:
        raise ValueError(f"scale has {scale.shape[1]} groups per row but zero has {zero.shape[1]}")
    if cfg.ternary and np.any(zero != 1):
        at = tuple(np.argwhere(zero != 1)[0])
        raise ValueError(f"ternary weights have zero point 1, not {zero[at]:g} at zero[{at[0]}]")
    chunks = scale.shape[1]
    if not cfg.act.is_float:
        _check_exact_reach(cfg, a, zero)
    pad = 0
    if chunks > 1:
        if depth % chunks:
            raise ValueError(f"K = {depth} does not split into {chunks} equal groups")
        if (depth // chunks) % cfg.k:
            raise ValueError(
                f"group size {depth // chunks} is not a multiple of the table K = {cfg.k}"
            )
    elif depth % cfg.k:
        pad = cfg.k - depth % cfg.k
        a = np.pad(a, ((0, 0), (0, pad)))
        w = np.pad(w, ((0, 0), (0, pad)))
    return GemmProblem(a, w.astype(np.int64), scale, zero, rounded, pad)


_EXACT = 2.0**53


def _check_exact_reach(cfg: CoreConfig, a: np.ndarray, zero: np.ndarray) -> None:
    """Integer activations give exact integer dot products ``sum a (q - z)`` (the reference in
    int64, the epilogue's ``z * sum a`` in float64) while ``(code_max + |z|) * sum |a|`` stays
    below 2^53 in every group; a zero point beyond that is refused, not silently wrapped."""
    rows, depth = a.shape
    chunks = zero.shape[1]
    if depth % chunks:
        return  # refused below with its own message
    reach = np.abs(a).reshape(rows, chunks, -1).sum(axis=2).max(axis=0)  # [C]
    worst = (np.abs(zero) + cfg.code_max) * reach[None, :]  # [N, C]
    if worst.max(initial=0) >= _EXACT:
        n, c = np.unravel_index(int(np.argmax(worst)), worst.shape)
        where = f"zero[{n}]" if chunks == 1 else f"zero[{n}, {c}]"
        raise ValueError(
            f"zero point {zero[n, c]:g} at {where} is too large: with these activations "
            f"(sum of magnitudes {reach[c]:g} per group) the dot products leave the 2^53 "
            "range of exact integers"
        )


def _dims(x: np.ndarray) -> str:
    return "x".join(str(d) for d in x.shape)


def _activations(cfg: CoreConfig, a: np.ndarray) -> tuple[np.ndarray, int]:
    fmt = cfg.act
    values = a.astype(np.float64)
    if not np.all(np.isfinite(values)):
        at = tuple(np.argwhere(~np.isfinite(values))[0])
        raise ValueError(f"activation {values[at]} at a[{_where(at)}] is not finite")
    if not fmt.is_float:
        fractional = values != np.round(values)
        if fractional.any():
            at = tuple(np.argwhere(fractional)[0])
            raise ValueError(
                f"activation {values[at]:g} at a[{_where(at)}] is not an integer ({fmt.name})"
            )
        wide = (values < fmt.min_value) | (values > fmt.max_finite)
        if wide.any():
            at = tuple(np.argwhere(wide)[0])
            raise ValueError(
                f"activation {values[at]:g} at a[{_where(at)}] is out of range "
                f"{fmt.min_value:g}..{fmt.max_finite:g} for {fmt.name}"
            )
        return values, 0
    rounded = quantize(values, fmt)
    over = ~np.isfinite(rounded)
    if over.any():
        at = tuple(np.argwhere(over)[0])
        raise ValueError(
            f"activation {values[at]:g} at a[{_where(at)}] overflows {fmt.name} "
            f"(largest {fmt.max_finite:g})"
        )
    return rounded, int(np.count_nonzero(rounded != values))


def _per_group(name: str, value, cols: int, default: float) -> np.ndarray:
    if value is None:
        return np.full((cols, 1), default)
    value = np.asarray(value)
    if not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
        raise ValueError(f"{name} must hold numbers, not {value.dtype}")
    given = _dims(value)
    if value.ndim == 1:
        value = value[:, None]
    if value.ndim != 2 or value.shape[0] != cols or value.shape[1] == 0:
        raise ValueError(f"{name} must have shape ({cols},) or ({cols}, C), not ({given})")
    value = value.astype(np.float64)
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be finite")
    return value


_ARRAYS = ("a", "w", "scale", "zero")


def memory_budget_bytes() -> int:
    """The default memory budget: half the machine's physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError):
        return 4 << 30


def estimate_bytes(cfg: CoreConfig, m: int, n: int, k: int, chunks: int = 1) -> int:
    """An upper estimate of the memory :func:`run_gemm` needs for an ``M x N x K`` problem
    with ``chunks`` groups per row: the validated inputs (float64 activations, int64 codes, each
    held twice while converted), the float64 outputs, reference and bound, the exact dot products
    per group, the weight indices, and one block's working set (about 8 x :data:`BLOCK_BYTES`:
    memory images, tables, the columns' dequantized weights). Checked against measured peaks in
    ``tests/isa/test_gemm_memory.py``."""
    k = k + (-k) % cfg.k
    inputs = 16 * (m * k + n * k)
    outputs = 8 * m * n * (3 + (2 * chunks if cfg.exact else 0))
    return inputs + outputs + cfg.weight_bits * n * (k // cfg.k) + 10 * BLOCK_BYTES


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_budget(cfg: CoreConfig, m: int, n: int, k: int, chunks: int, budget: int) -> None:
    """Refuse, before anything is allocated, a problem whose estimate exceeds ``budget``."""
    need = estimate_bytes(cfg, m, n, k, chunks)
    if need > budget:
        raise MemoryBudgetError(
            f"a {m}x{n}x{k} GEMM needs about {_size(need)}, more than the budget of "
            f"{_size(budget)}; raise --max-memory or run a smaller problem"
        )


class MemoryBudgetError(ValueError):
    """A problem larger than the memory budget (a ``ValueError``: bad input for this machine)."""


class _NotNpy(Exception):
    pass


def npz_header(path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The declared ``(shape, dtype)`` of every ``.npy`` member of an ``.npz`` file, read from
    the headers alone (nothing is decompressed beyond them)."""
    name = os.fspath(path)
    if not_regular(name):
        raise ValueError(f"cannot read {name[:200]}: not a regular file")
    declared = {}
    try:
        with zipfile.ZipFile(name) as archive:
            members = archive.infolist()
            odd = [m.filename for m in members if not m.filename.endswith(".npy")]
            if odd:
                raise _NotNpy(odd[0])
            for info in members:
                with archive.open(info) as member:
                    fmt = np.lib.format
                    version = fmt.read_magic(member)
                    read = (
                        fmt.read_array_header_1_0
                        if version == (1, 0)
                        else fmt.read_array_header_2_0
                    )
                    shape, _, dtype = read(member)
                declared[info.filename.removesuffix(".npy")] = (tuple(shape), dtype)
    except _NotNpy as err:
        raise ValueError(f"{name}: member {err.args[0]!r} is not an .npy array") from None
    except FileNotFoundError:
        raise ValueError(f"cannot read {name}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"cannot read {name}: not an .npz archive ({err})") from None
    return declared


def check_npz_budget(cfg: CoreConfig, path, budget: int) -> None:
    """Refuse an ``.npz`` problem whose declared sizes exceed ``budget``, before reading it."""
    name = os.fspath(path)
    declared = npz_header(path)
    total = 0
    for key, (shape, dtype) in declared.items():
        if key not in _ARRAYS:
            continue
        total += math.prod(shape) * max(8, dtype.itemsize)
    if total > budget:
        raise MemoryBudgetError(
            f"{name}: its arrays declare {_size(total)}, more than the budget of {_size(budget)}; "
            "raise --max-memory or run a smaller problem"
        )
    a, w = declared.get("a"), declared.get("w")
    if a and w and len(a[0]) == 2 and len(w[0]) == 2:
        groups = declared["scale"][0] if "scale" in declared else (w[0][0],)
        chunks = groups[1] if len(groups) == 2 else 1
        try:
            check_budget(cfg, a[0][0], w[0][0], a[0][1], chunks, budget)
        except MemoryBudgetError as err:
            raise MemoryBudgetError(f"{name}: {err}") from None


def load_npz(cfg: CoreConfig, path) -> GemmProblem:
    """Read a problem from an ``.npz`` file (``a``, ``w``, optional ``scale``, ``zero``)."""
    name = os.fspath(path)
    npz_header(name)  # every member an .npy array, before any is read
    try:
        archive = np.load(name, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"cannot read {name}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"cannot read {name}: not an .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"cannot read {name}: a single array, not an .npz archive")
    with archive:
        unknown = [k for k in archive.files if k not in _ARRAYS]
        if unknown:
            raise ValueError(f"{name}: unexpected array {unknown[0]!r}; expected a, w, scale, zero")
        arrays = {}
        for key in _ARRAYS:
            if key not in archive.files:
                if key in ("a", "w"):
                    raise ValueError(f"{name}: missing array {key!r}")
                continue
            try:
                arrays[key] = archive[key]
            except (ValueError, OSError, zipfile.BadZipFile) as err:
                raise ValueError(f"{name}: array {key!r} cannot be read ({err})") from None
    for key, value in arrays.items():
        if value.dtype.kind not in "iuf":
            raise ValueError(f"{name}: array {key!r} has dtype {value.dtype}; expected numbers")
    try:
        return make_problem(cfg, **arrays)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def save_npz(problem: GemmProblem, path) -> None:
    """Write a problem (without K padding) atomically."""
    depth = problem.a.shape[1] - problem.pad_k
    _atomic_savez(
        path,
        a=problem.a[:, :depth],
        w=problem.w[:, :depth],
        scale=problem.scale,
        zero=problem.zero,
    )


def _atomic_savez(path, **arrays) -> None:
    with atomic_writer(path) as handle:
        np.savez(handle, **arrays)


def random_problem(cfg, m: int, n: int, k: int, group: int | None = None, seed: int = 0):
    """A random problem in the config's formats (fixed seed)."""
    rng = np.random.default_rng(seed)
    fmt = cfg.act
    if fmt.is_float:
        a = rng.standard_normal((m, k)) * (2.0 if fmt.name == "fp8_e4m3" else 1.0)
    else:
        a = rng.integers(fmt.min_value, fmt.max_finite, size=(m, k), endpoint=True)
    w = rng.integers(0, cfg.code_max, size=(n, k), endpoint=True)
    chunks = 1 if group is None else k // group
    scale = rng.uniform(0.005, 0.02, size=(n, chunks))
    zero = (
        np.ones((n, chunks))
        if cfg.ternary
        else rng.integers(0, cfg.code_max, size=(n, chunks), endpoint=True).astype(np.float64)
    )
    return make_problem(cfg, a, w, scale, zero)


# ---- lowering ------------------------------------------------------------------------------
def tile_program(cfg: CoreConfig, groups: int, chunks: int) -> list[Instr]:
    """The program of one output tile (see the module docstring)."""
    table_base, weight_base = 0, groups * cfg.table_fragment_words
    out_base = weight_base + groups * cfg.weight_fragment_words
    per_chunk = groups // chunks
    program = []
    for c in range(chunks):
        acc = c % cfg.acc_regs
        program.append(Instr("zacc", acc=acc))
        for g in range(c * per_chunk, (c + 1) * per_chunk):
            t, wr = g % cfg.table_regs, g % cfg.weight_regs
            program += [
                Instr("ldt", table=t, addr=table_base + g * cfg.table_fragment_words),
                Instr("ldw", weight=wr, addr=weight_base + g * cfg.weight_fragment_words),
                Instr(
                    "lmma", acc=acc, table=t, weight=wr, m=cfg.m, n=cfg.n, k=cfg.k,
                    atype=cfg.act.abbrev, wtype=cfg.weight_type, ctype=cfg.acc.abbrev,
                    otype=cfg.out.abbrev,
                ),
            ]  # fmt: skip
        program.append(Instr("sta", acc=acc, addr=out_base + c * cfg.acc_fragment_words))
    return program


@dataclass(frozen=True)
class Lowered:
    """A problem lowered to tiles: one program and a memory image per tile."""

    program: list[Instr]
    memories: np.ndarray  # [tiles, words] uint32
    tiles: tuple[int, int]  # (row tiles, column tiles)
    out_base: int


def lower(cfg: CoreConfig, problem: GemmProblem, tables: Tables, index: np.ndarray) -> Lowered:
    """Pack tables and weights into per-tile memory images and emit the tile program."""
    rows, cols = problem.a.shape[0], problem.w.shape[0]
    groups = tables.entries.shape[1]
    chunks = problem.chunks
    row_tiles, col_tiles = math.ceil(rows / cfg.m), math.ceil(cols / cfg.n)
    entries = np.zeros((row_tiles * cfg.m,) + tables.entries.shape[1:], tables.entries.dtype)
    entries[:rows] = tables.entries
    # [row tile, group, M, E] -> words [row tile, group * TW]
    tiles_t = entries.reshape(row_tiles, cfg.m, groups, -1).transpose(0, 2, 1, 3)
    table_words = pack_tables(cfg, tiles_t).reshape(row_tiles, -1)
    idx = np.zeros((cfg.weight_bits, col_tiles * cfg.n, groups), np.uint8)
    idx[:, :cols] = index
    pad_cols = col_tiles * cfg.n - cols
    if pad_cols and cfg.symmetrize:  # padded columns: code 0 stored offline-inverted
        idx[:, cols:] = cfg.index_mask
    # [B, col tile, N, NG] -> [col tile, group, B, N]
    tiles_w = idx.reshape(cfg.weight_bits, col_tiles, cfg.n, groups).transpose(1, 3, 0, 2)
    weight_words = pack_weights(cfg, tiles_w).reshape(col_tiles, -1)
    out_base = table_words.shape[1] + weight_words.shape[1]
    size = out_base + chunks * cfg.acc_fragment_words
    memories = np.zeros((row_tiles, col_tiles, size), np.uint32)
    memories[:, :, : table_words.shape[1]] = table_words[:, None, :]
    memories[:, :, table_words.shape[1] : out_base] = weight_words[None, :, :]
    program = tile_program(cfg, groups, chunks)
    return Lowered(
        program, memories.reshape(row_tiles * col_tiles, size), (row_tiles, col_tiles), out_base
    )


def read_outputs(cfg: CoreConfig, lowered: Lowered, memories: np.ndarray, rows, cols, chunks):
    """Stored accumulators of every tile -> ``acc[M, N, C]`` (output-format values)."""
    row_tiles, col_tiles = lowered.tiles
    span = memories[:, lowered.out_base : lowered.out_base + chunks * cfg.acc_fragment_words]
    values = unpack_acc(cfg, span.reshape(-1, chunks, cfg.acc_fragment_words))
    # [row tile, col tile, C, M, N] -> [rows, cols, C]
    values = values.reshape(row_tiles, col_tiles, chunks, cfg.m, cfg.n).transpose(0, 3, 1, 4, 2)
    return values.reshape(row_tiles * cfg.m, col_tiles * cfg.n, chunks)[:rows, :cols]


def golden_runner(cfg: CoreConfig, program, memories: np.ndarray):
    """Run the tile program on every tile's memory with the golden executor (no cycles)."""
    return execute(cfg, program, new_machine(cfg, memories)).memory, None


# ---- running -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GemmResult:
    impl: str
    cfg: CoreConfig
    problem: GemmProblem
    o: np.ndarray
    acc: np.ndarray | None
    reference: np.ndarray
    bound: np.ndarray
    instructions: int
    cycles: int | None
    algorithm_mismatches: int
    tiles: tuple[int, int]
    residual: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.residual["within_bound"]) and self.algorithm_mismatches == 0

    def summary(self) -> dict:
        m, n, k = self.problem.shape
        return {
            "impl": self.impl,
            "mnemonic": self.cfg.mnemonic,
            "shape": {"m": m, "n": n, "k": k, "groups": self.problem.chunks},
            "tiles": self.tiles[0] * self.tiles[1],
            "instructions": self.instructions,
            "cycles": self.cycles,
            "residual": self.residual,
            "algorithm_mismatches": self.algorithm_mismatches,
            "padding": {"k": self.problem.pad_k},
            "rounded_activations": self.problem.rounded,
            "ok": self.ok,
        }


def check_int32(cfg: CoreConfig, tables: Tables) -> None:
    """Refuse problems whose int32 accumulator could wrap (the bound of every partial sum)."""
    if not cfg.int_path:
        return
    rows, groups, _ = tables.entries.shape
    chunks = tables.scale.shape[1]
    peak = np.abs(tables.entries).max(axis=2).reshape(rows, chunks, -1).sum(axis=2)
    reach = peak * (2**cfg.weight_bits - 1)
    worst = np.unravel_index(np.argmax(reach), reach.shape)
    if reach[worst] > 2**31 - 1:
        raise ValueError(
            f"int32 accumulator could overflow: row {worst[0]} reaches {int(reach[worst])} "
            f"> 2^31 - 1; use quantization groups along K"
        )


def lut_gemm(cfg: CoreConfig, problem: GemmProblem) -> tuple[np.ndarray, np.ndarray, Tables]:
    """The vectorized LUT algorithm on a whole problem: ``(o[M, N], acc[M, N, C], tables)``."""
    tables = precompute_tables(cfg, problem.a, problem.chunks)
    check_int32(cfg, tables)
    acc = accumulate(cfg, tables, weight_indices(cfg, problem.w))
    return epilogue(cfg, acc, tables, problem.scale, problem.zero), acc, tables


BLOCK_BYTES = 16 << 20
"""Memory images of the tiles :func:`run_gemm` runs at once (bytes): the GEMM streams over
blocks of output tiles, so its working set is this plus the inputs and the outputs."""


def _block_tiles(cfg: CoreConfig, tiles: tuple[int, int], words: int, depth: int, budget: int):
    """(row tiles, column tiles) of one block: the columns' float64 weights (``depth`` deep) and
    the block's memory images each within ``budget`` bytes, at least one tile of each."""
    fit = max(1, budget // (4 * words))
    col = max(1, min(tiles[1], fit, budget // (8 * depth * cfg.n)))
    return max(1, min(tiles[0], fit // col)), col


def run_gemm(cfg: CoreConfig, problem: GemmProblem, impl: str = "golden",
             runner: Runner | None = None, block_bytes: int = BLOCK_BYTES) -> GemmResult:  # fmt: skip
    """Run the GEMM as LMMA programs on ``impl`` and compare with the reference.

    The output tiles run in blocks of at most ``block_bytes`` of memory images (every output
    depends only on its row's tables and its column's weights, so the blocks are independent
    and the result is that of one run): memory is O(inputs + outputs + one block).

    Residuals: ``max_abs``, ``max_rel`` (over outputs with a nonzero reference), ``max_ulp`` (in
    ulps of the output format at each reference's magnitude; fp32 ulps when outputs are int32),
    ``max_ulp_at_peak`` (the largest error in ulps at the largest reference magnitude, which
    cancellation near zero cannot inflate), ``acc_mismatches`` (exact integer
    dot products, when they exist), and the a-priori ``bound`` the error must stay within."""
    if runner is None:
        if impl != "golden":
            raise ValueError(f"impl {impl!r} is not available; choose from {', '.join(IMPLS)}")
        runner = golden_runner
    a, w, scale, zero = problem.a, problem.w, problem.scale, problem.zero
    rows, cols, chunks = a.shape[0], w.shape[0], problem.chunks
    groups = a.shape[1] // cfg.k
    index = weight_indices(cfg, w)
    program = tile_program(cfg, groups, chunks)
    words = groups * (cfg.table_fragment_words + cfg.weight_fragment_words)
    words += chunks * cfg.acc_fragment_words
    tiles = math.ceil(rows / cfg.m), math.ceil(cols / cfg.n)
    row_tiles, col_tiles = _block_tiles(cfg, tiles, words, a.shape[1], block_bytes)
    row_step, col_step = row_tiles * cfg.m, col_tiles * cfg.n
    integral = not cfg.act.is_float and bool(np.all(zero == np.round(zero)))
    o, ref, bound = (np.empty((rows, cols)) for _ in range(3))
    dots = np.empty((rows, cols, chunks), np.int64) if integral and cfg.exact else None
    cycles: int | None = 0
    mismatches = acc_bad = 0
    residuals = _Residual(cfg)
    for r0 in range(0, rows, row_step):
        r = slice(r0, min(rows, r0 + row_step))
        tables = precompute_tables(cfg, a[r], chunks)
        check_int32(cfg, tables)
        for c0 in range(0, cols, col_step):
            c = slice(c0, min(cols, c0 + col_step))
            part = GemmProblem(a[r], w[c], scale[c], zero[c])
            lowered = lower(cfg, part, tables, index[:, c])
            memories, block_cycles = runner(cfg, lowered.program, lowered.memories)
            cycles = None if cycles is None or block_cycles is None else cycles + block_cycles
            acc = read_outputs(cfg, lowered, memories, r.stop - r.start, c.stop - c.start, chunks)
            expected = accumulate(cfg, tables, index[:, c])
            mismatches += int(
                np.count_nonzero((acc != expected) & ~(np.isnan(acc) & np.isnan(expected)))
            )
            o[r, c] = epilogue(cfg, acc, tables, scale[c], zero[c])
            ref[r, c], block_dots = reference(cfg, a[r], w[c], scale[c], zero[c])
            bound[r, c] = error_bound(cfg, a[r], w[c], scale[c], zero[c], tables)
            residuals.add(o[r, c], ref[r, c], bound[r, c])
            if dots is not None:
                exact = chunk_dots(cfg, acc, tables, zero[c])
                acc_bad += int(np.count_nonzero(exact != block_dots))
                dots[r, c] = exact
    residual = residuals.to_dict()
    if dots is not None:
        residual["acc_mismatches"] = acc_bad
        residual["within_bound"] = residual["within_bound"] and acc_bad == 0
        dots = dots[:, :, 0] if chunks == 1 else dots
    return GemmResult(
        impl=impl, cfg=cfg, problem=problem, o=o, acc=dots, reference=ref, bound=bound,
        instructions=len(program) * tiles[0] * tiles[1], cycles=cycles,
        algorithm_mismatches=mismatches, tiles=tiles, residual=residual,
    )  # fmt: skip


class _Residual:
    """The residuals of :func:`run_gemm`, gathered block by block (maxima and flags only)."""

    def __init__(self, cfg: CoreConfig):
        self.ulp_format = cfg.out_format if cfg.out.is_float else "fp32"
        self.abs = self.rel = self.ulp = self.bound = self.peak_ref = 0.0
        self.finite = self.within = True

    def add(self, o: np.ndarray, ref: np.ndarray, bound: np.ndarray) -> None:
        err = np.abs(o - ref)
        nonzero = ref != 0
        if nonzero.any():
            self.rel = max(self.rel, float((err[nonzero] / np.abs(ref[nonzero])).max()))
        self.abs = max(self.abs, float(err.max()))
        self.ulp = max(self.ulp, float((err / ulp(ref, self.ulp_format)).max()))
        self.bound = max(self.bound, float(bound.max()))
        self.peak_ref = max(self.peak_ref, float(np.abs(ref).max()))
        self.finite = self.finite and bool(np.all(np.isfinite(o)))
        self.within = self.within and bool(np.all(err <= bound))

    def to_dict(self) -> dict:
        return {
            "max_abs": self.abs,
            "max_rel": self.rel,
            "max_ulp": self.ulp,
            "ulp_format": self.ulp_format,
            "max_ulp_at_peak": float(self.abs / ulp(self.peak_ref, self.ulp_format)),
            "acc_mismatches": None,
            "bound": self.bound,
            "within_bound": self.finite and self.within,
        }
