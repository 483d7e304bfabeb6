import math

import numpy as np
import pytest

from lutsim.compiler.driver import compile_model
from lutsim.compiler.program import LoopProgram, pack_table_region
from lutsim.compiler.quant import pack_weight_region
from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr
from lutsim.isa.gemm import random_problem, run_gemm, tile_program
from lutsim.isa.golden import accumulate, epilogue, precompute_tables, weight_indices
from lutsim.isa.timing import schedule

CORES = [
    CoreConfig(),
    CoreConfig(table_regs=3, weight_regs=1, acc_regs=1, weight_bits=3),
    CoreConfig(m=1, n=8, k=3, acc_regs=4, act_format="fp16", weight_bits=4),
    CoreConfig(m=3, n=16, k=5, weight_bits=2, ternary=True, symmetrize=False),
]


SHAPES = [(64, 1), (64, 4), (13, 1), (120, 3)]  # (K, chunks)
TILE_CASES = [(cfg, depth, chunks) for cfg in CORES for depth, chunks in SHAPES
              if math.ceil(depth / cfg.k) % chunks == 0]  # fmt: skip


@pytest.mark.parametrize(("cfg", "depth", "chunks"), TILE_CASES,
                         ids=[f"{c.mnemonic}-K{d}-C{n}" for c, d, n in TILE_CASES])  # fmt: skip
def test_tile_expands_to_isa_tile_program(cfg, depth, chunks):
    program = LoopProgram(cfg, 5, 70, depth, chunks, 2, 2, 4)
    expected = tile_program(cfg, program.groups, chunks)
    assert program.tile_program() == expected
    for i, j in [(0, 0), (program.row_tiles - 1, program.col_tiles - 1)]:
        stream = program.expand_tile(i, j)
        assert [x.op for x in stream] == [x.op for x in expected]
        index = program.image_index(i, j)  # global addresses = the tile image's, mapped
        for got, local in zip(stream, expected, strict=True):
            assert got.addr == (index[local.addr] if local.op in ("ldt", "ldw", "sta") else 0)
    assert sum(program.tile_counts().values()) == len(expected)
    assert program.tile_cycles() == schedule(cfg, expected).cycles


def test_tiles_visit_blocks_and_cover_every_tile():
    program = LoopProgram(CoreConfig(), rows=9, cols=300, depth=64, chunks=1,
                          block_rows=2, block_cols=3)  # fmt: skip
    tiles = list(program.tiles())
    assert sorted(tiles) == [(i, j) for i in range(5) for j in range(5)]
    assert tiles[:7] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3)]
    with pytest.raises(ValueError, match=r"^tile \(5, 0\) is outside the 5 x 5 tiles$"):
        program.expand_tile(5, 0)


@pytest.mark.parametrize("cfg", CORES[:3], ids=lambda c: c.mnemonic)
def test_program_runs_a_gemm(cfg):
    """The GEMM memory image through the batched and the per-tile global programs."""
    problem = random_problem(cfg, 5, 20, 24, seed=3)
    program = LoopProgram(cfg, 5, 20, 24, 1, 2, 1, 4)
    tables = precompute_tables(cfg, problem.a, 1)
    words = pack_weight_region(cfg, problem.w, program.col_tiles)
    image = program.memory_image(pack_table_region(cfg, tables.entries), words)
    batched = program.run(image)
    assert np.array_equal(batched, program.run_sequential(image))
    acc = program.read_outputs(batched)
    expected = accumulate(cfg, tables, weight_indices(cfg, problem.w))
    assert np.array_equal(acc, expected)
    o = epilogue(cfg, acc, tables, problem.scale, problem.zero)
    assert np.array_equal(o, run_gemm(cfg, problem).o)


def test_seventy_b_is_compact():
    compiled = compile_model("llama2-70b", "w2", tokens=16)
    size = compiled.program_size()
    assert size["distinct"] == 4 and size["objects"] < 100 and size["json_bytes"] < 10_000
    assert size["expanded_instructions"] > 10**9  # what a flat program would hold
    stream = compiled.program("layers.79.mlp.down_proj").expand_tile(7, 127)
    assert len(stream) == 3 * 28672 // 4 + 2 and isinstance(stream[0], Instr)


def test_listing_shows_the_nest():
    program = LoopProgram(CoreConfig(), 2, 64, 16, 2)
    text = program.listing("p0")
    assert (
        text.splitlines()[0] == "p0: M=2 N=64 K=16 (4 groups, 2 chunks) lmma.m2n64k4.s8.u2.s32.s32"
    )
    assert "        ldt   t[2*c + g], [0x40*i + 0x20*c + 0x10*g]" in text
    assert "      sta   a[c], [0x80 + 0x100*i + 0x100*j + 0x80*c]" in text
