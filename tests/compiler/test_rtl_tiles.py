"""Tiles sampled from compiled full-size models, run on the Verilated RTL and the cycle model.

Each case compiles a full-size model, takes one of its LUT GEMMs, quantizes random weights for
it, precomputes random activations' tables and lays out the GEMM's memory as the compiler
does. Sampled tiles then run their program on their own memory image on the RTL (Verilator)
and on the SimPy core model; both must equal the golden executor's run of the whole GEMM bit
for bit, the LUT algorithm (:func:`lutsim.isa.golden.accumulate`) on those tiles, and the timing
contract's cycles. The cores are those of the default RTL tests, so their builds are shared.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lutsim.compiler import compile_model, parse_quant
from lutsim.compiler.program import pack_table_region
from lutsim.compiler.quant import pack_weight_region, quantize_weight
from lutsim.hw.verilator import run_verilator
from lutsim.isa.config import load_config
from lutsim.isa.gemm import make_problem
from lutsim.isa.golden import accumulate, precompute_tables, weight_indices
from lutsim.sim.core import run_core

SAMPLED_TILES = 6


@pytest.mark.parametrize(
    ("model", "quant", "gemm", "tokens"),
    [
        ("llama2-7b", "w2", "layers.0.mlp.down_proj", 5),
        ("llama2-70b", "w4-g128-int16", "layers.79.self_attn.k_proj", 3),
    ],
)
def test_sampled_tiles_on_rtl_equal_golden(model, quant, gemm, tokens):
    spec = parse_quant(quant)
    compiled = compile_model(model, spec, load_config(), tokens=tokens)
    cfg = compiled.cfg
    node = next(g for g in compiled.gemms() if g.name == gemm)
    program = compiled.program(gemm)
    rng = np.random.default_rng(sum(map(ord, gemm)))

    weights = quantize_weight(rng.normal(size=(node.n, node.k)), spec)
    low, high = int(cfg.act.min_value), int(cfg.act.max_finite)  # the format's full range
    a = rng.integers(low, high + 1, size=(node.rows, node.k)).astype(np.float64)
    problem = make_problem(cfg, a, weights.codes, weights.scale, weights.zero)
    groups = math.ceil(node.k / cfg.k)
    padded = np.zeros((node.rows, groups * cfg.k))
    padded[:, : node.k] = problem.a[:, : node.k]
    tables = precompute_tables(cfg, padded, node.chunks)
    image = program.memory_image(
        pack_table_region(cfg, tables.entries),
        pack_weight_region(cfg, weights.codes, program.col_tiles),
    )
    golden = program.run(image)
    expected = accumulate(cfg, tables, weight_indices(cfg, problem.w))
    np.testing.assert_array_equal(program.read_outputs(golden), expected)

    tiles = list(program.tiles())
    picks = sorted({0, len(tiles) - 1, *rng.choice(len(tiles), SAMPLED_TILES - 2).tolist()})
    index = [program.image_index(*tiles[p]) for p in picks]
    tile_program = program.tile_program()
    rtl = run_verilator(cfg, [(tile_program, image[ix]) for ix in index])
    model_run = run_core(cfg, tile_program, np.stack([image[ix] for ix in index]))
    for pick, ix, run, sim_memory in zip(picks, index, rtl, model_run.memory, strict=True):
        assert not run.error
        np.testing.assert_array_equal(run.memory, golden[ix], err_msg=f"tile {tiles[pick]}")
        np.testing.assert_array_equal(sim_memory, golden[ix], err_msg=f"tile {tiles[pick]}")
        assert run.cycles == model_run.cycles == program.tile_cycles()
