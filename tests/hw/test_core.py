"""The LUT core RTL in Amaranth's simulator: golden cases, timing contract, illegal words."""

import os

import numpy as np
import pytest

from lutsim.hw.core import LutCore
from lutsim.hw.simulate import amaranth_runner, run_amaranth
from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr, assemble, encode
from lutsim.isa.executor import execute, new_machine
from lutsim.isa.gemm import GemmResult, lower, run_gemm
from lutsim.isa.golden import precompute_tables, weight_indices
from lutsim.isa.timing import Stalls, schedule
from tests.isa.gemm_cases import GemmCases
from tests.programs import random_memory, random_program

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def tile_jobs(cfg, problem):
    tables = precompute_tables(cfg, problem.a, problem.chunks)
    lowered = lower(cfg, problem, tables, weight_indices(cfg, problem.w))
    return lowered


class TestRtlAmaranth(GemmCases):
    """The same GEMM cases, each tile's program run on the RTL in Amaranth's simulator."""

    sizes = ((1, 1, 4), (3, 6, 12))

    def run(self, cfg, problem) -> GemmResult:
        cfg = cfg.replace(n=min(cfg.n, 4))  # a small tile: Amaranth simulates it in Python
        result = run_gemm(cfg, problem, impl="rtl", runner=amaranth_runner)
        lowered = tile_jobs(cfg, problem)
        tiles = lowered.memories.shape[0]
        expected = schedule(cfg, lowered.program).cycles * tiles
        assert result.cycles == expected, f"{result.cycles} cycles != {expected} (expected)"
        return result


@pytest.mark.parametrize(
    "changes",
    [
        dict(weight_bits=1),
        dict(weight_bits=3, symmetrize=False),
        dict(weight_bits=4, act_format="int16", bus_words=3),
        dict(weight_bits=2, ternary=True, bus_words=1, acc_regs=3, table_regs=3),
    ],
    ids=["w1", "w3-nosym", "w4-int16-bus3", "ternary-bus1"],
)
@pytest.mark.parametrize("stalled", [False, True], ids=["no-stalls", "stalls"])
def test_random_programs_match_golden_state_and_timing(changes, stalled):
    cfg = CoreConfig(m=2, n=8, **changes)
    rng = np.random.default_rng(hash(str(changes)) % 2**32)
    words = 96
    memory = random_memory(rng, words)
    program = random_program(cfg, rng, words, 40)
    stalls = Stalls.random(7, 600, 0.25) if stalled else None
    (run,) = run_amaranth(cfg, [(program, memory)], stalls=stalls)
    golden = execute(cfg, program, new_machine(cfg, memory)).memory[0]
    bad = np.flatnonzero(run.memory != golden)
    assert bad.size == 0, (
        f"mem[{bad[0]}] = {run.memory[bad[0]]:08x} != {golden[bad[0]]:08x} (expected)"
    )
    expected = schedule(cfg, program, stalls)
    assert run.issue == expected.issue
    assert run.cycles == expected.cycles
    assert not run.error


@pytest.mark.parametrize("bus_words", [1, 3, 8])
def test_latency_and_initiation_interval_of_every_instruction(bus_words):
    """Each instruction issued back to back occupies the core for exactly its latency:
    nop/zacc 1, lmma B, loads and stores one beat of bus_words words per cycle."""
    cfg = CoreConfig(m=2, n=8, weight_bits=3, bus_words=bus_words)
    program = assemble(
        f"nop\nzacc a1\nldt t0, [0]\nldw w1, [16]\nlda a0, [32]\n{cfg.mnemonic} a0, t0, w1\n"
        f"{cfg.mnemonic} a0, t0, w1\nsta a0, [64]\nnop\n",
        cfg,
    )
    (run,) = run_amaranth(cfg, [(program, np.zeros(96, np.uint32))])
    latency = cfg.latency_cycles
    ops = ["nop", "zacc", "ldt", "ldw", "lda", "lmma", "lmma", "sta", "nop"]
    gaps = [b - a for a, b in zip(run.issue, run.issue[1:], strict=False)] + [
        run.cycles - 1 - run.issue[-1]
    ]
    assert gaps == [latency[op] for op in ops]
    assert latency["lmma"] == 3 and latency["ldt"] == -(-16 // bus_words)
    assert run.cycles == 1 + sum(latency[op] for op in ops)


def test_illegal_words_raise_the_error_flag_and_act_as_nop():
    cfg = CoreConfig(m=2, n=8)
    wrong_type = encode(
        Instr("lmma", m=2, n=8, k=4, atype="f16", wtype="u2", ctype="f32", otype="f32")
    )
    for word in (7 << 60, wrong_type, encode(Instr("zacc", acc=5)), (5 << 60) | 1):
        (run,) = run_amaranth(cfg, [([word], np.zeros(4, np.uint32))])
        assert run.error, f"{word:016x} was not flagged"
        assert run.cycles == 2
    (run,) = run_amaranth(cfg, [([encode(Instr("zacc", acc=1))], np.zeros(4, np.uint32))])
    assert not run.error


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("cfg", [{"m": 2}, None, "m2n64k4"])
def test_unbuildable_config_is_rejected(cfg):
    name = type(cfg).__name__
    with pytest.raises(ValueError, match=rf"^the LUT core is built from a CoreConfig, not {name}$"):
        LutCore(cfg)
