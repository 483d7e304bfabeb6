"""The LUT core RTL under Verilator: the golden GEMM cases on the full M2N64K4 tile, random
programs against the golden executor and the timing contract, and the Amaranth harness, run for
run, cycle for cycle.

Each distinct configuration is one Verilator build (cached), so the default run keeps to a few
and marks the rest of the GEMM case matrix ``slow`` (``pytest -m slow`` runs it all).
"""

import re

import numpy as np
import pytest

from lutsim.hw.simulate import run_amaranth
from lutsim.hw.verilator import run_verilator, verilator_runner
from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr, assemble, encode
from lutsim.isa.executor import Machine, execute, new_machine
from lutsim.isa.gemm import GemmResult, run_gemm
from lutsim.isa.timing import Stalls, schedule
from tests.hw.test_core import tile_jobs
from tests.isa.gemm_cases import (
    FLOAT_CONFIGS,
    FLOAT_IDS,
    INT_CONFIGS,
    INT_IDS,
    GemmCases,
)
from tests.programs import random_memory, random_program

FULL_TILE = dict(m=2, n=64)  # the paper's M2N64K4 tile; K and the formats come from each case
FULL = CoreConfig(**FULL_TILE)

# GEMM cases in the default run, three builds: 1, 2 and 4 bits, both integer activation
# formats, with and without symmetrization (3-bit and ternary weights: the small cores below)
DEFAULT_INT = {"w1-int16-nosym", "w2-int8-sym", "w4-int16-sym"}

# small cores for the Amaranth comparison: 1 and 2 bus lanes, the ways Verilator stores a port
# besides FULL's VlWide (IData, QData)
SMALL = {
    "w3-bus1-regs3": CoreConfig(m=2, n=8, weight_bits=3, bus_words=1, acc_regs=3, table_regs=3),
    "ternary-int16-nosym-bus2": CoreConfig(m=2, n=8, ternary=True, act_format="int16",
                                           symmetrize=False, bus_words=2),
}  # fmt: skip


def _params(configs, ids, default=()):
    return [
        pytest.param(c, id=i, marks=() if i in default else pytest.mark.slow)
        for c, i in zip(configs, ids, strict=True)
    ]


class TestRtlVerilator(GemmCases):
    """The GEMM cases on the full-size tile (``m=2, n=64``; each case's K, weights and formats
    kept), every tile's program run on the Verilated core."""

    def run(self, cfg, problem) -> GemmResult:
        cfg = cfg.replace(**FULL_TILE)
        result = run_gemm(cfg, problem, impl="rtl", runner=verilator_runner)
        lowered = tile_jobs(cfg, problem)
        expected = sum(schedule(cfg, lowered.program).cycles for _ in lowered.memories)
        assert result.cycles == expected, f"{result.cycles} cycles != {expected} (expected)"
        return result

    @pytest.mark.parametrize("changes", _params(INT_CONFIGS, INT_IDS, DEFAULT_INT))
    def test_integer_paths_exact(self, changes):
        super().test_integer_paths_exact(changes)

    @pytest.mark.parametrize("changes", _params(FLOAT_CONFIGS, FLOAT_IDS))
    def test_float_paths_within_bound(self, changes):
        super().test_float_paths_within_bound(changes)

    @pytest.mark.slow
    @pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
    def test_table_group_sizes(self, k):
        super().test_table_group_sizes(k)

    @pytest.mark.parametrize("act", [pytest.param("int8", marks=pytest.mark.slow), "int16"])
    def test_extreme_activations(self, act):
        super().test_extreme_activations(act)

    @pytest.mark.slow
    def test_fp16_subnormal_and_signed_zero_activations(self):
        super().test_fp16_subnormal_and_signed_zero_activations()


def _jobs(cfg, seed, count, words=512, length=60):
    rng = np.random.default_rng(seed)
    return [
        (random_program(cfg, rng, words, length), random_memory(rng, words)) for _ in range(count)
    ]


def _golden(cfg, jobs) -> list[np.ndarray]:
    """Final memories of ``jobs`` run one after the other on one core (registers carry over)."""
    state, finals = None, []
    for program, memory in jobs:
        start = new_machine(cfg, memory)
        if state is not None:
            start = Machine(state.tables, state.weights, state.accs, start.memory)
        state = execute(cfg, program, start)
        finals.append(state.memory[0])
    return finals


@pytest.mark.parametrize("stalled", [False, True], ids=["no-stalls", "stalls"])
def test_random_programs_on_the_full_core(stalled):
    jobs = _jobs(FULL, seed=11 + stalled, count=4)
    stalls = Stalls.random(5, 3000, 0.3) if stalled else None
    runs = run_verilator(FULL, jobs, stalls=stalls)
    for number, (run, golden, (program, _)) in enumerate(
        zip(runs, _golden(FULL, jobs), jobs, strict=True)
    ):
        bad = np.flatnonzero(run.memory != golden)
        assert bad.size == 0, (
            f"job {number}: mem[{bad[0]}] = {run.memory[bad[0]]:08x} != {golden[bad[0]]:08x} "
            "(expected)"
        )
        expected = schedule(FULL, program, stalls)
        assert run.issue == expected.issue, f"job {number}: issue cycles differ"
        assert run.cycles == expected.cycles, f"job {number}: {run.cycles} != {expected.cycles}"
        assert not run.error


@pytest.mark.parametrize("name", SMALL)
def test_amaranth_and_verilator_agree_run_for_run(name):
    """Same jobs, same stalls: the same memories, cycles, issue cycles and (sticky) error flag,
    including a job with an illegal word and the jobs after it."""
    cfg = SMALL[name]
    jobs = _jobs(cfg, seed=len(name), count=3, words=96, length=30)
    jobs.insert(2, ([encode(Instr("nop")), 7 << 60, encode(Instr("zacc", acc=0))], jobs[0][1]))
    stalls = Stalls.random(3, 400, 0.25)
    for stall in (None, stalls):
        amaranth = run_amaranth(cfg, jobs, stalls=stall)
        verilator = run_verilator(cfg, jobs, stalls=stall)
        assert [r.error for r in verilator] == [False, False, True, True]
        for number, (a, v) in enumerate(zip(amaranth, verilator, strict=True)):
            assert (v.cycles, v.issue, v.error) == (a.cycles, a.issue, a.error), f"job {number}"
            bad = np.flatnonzero(v.memory != a.memory)
            assert bad.size == 0, (
                f"job {number}: mem[{bad[0]}] = {v.memory[bad[0]]:08x} != {a.memory[bad[0]]:08x} "
                "(Amaranth)"
            )


def test_latency_and_initiation_interval_of_every_instruction():
    """On the full core, back to back: nop/zacc 1, lmma B, loads and stores one beat per cycle."""
    cfg = FULL
    program = assemble(
        f"nop\nzacc a1\nldt t0, [0]\nldw w1, [16]\nlda a0, [32]\n{cfg.mnemonic} a0, t0, w1\n"
        f"{cfg.mnemonic} a0, t0, w1\nsta a0, [160]\nnop\n",
        cfg,
    )
    (run,) = run_verilator(cfg, [(program, np.zeros(300, np.uint32))])
    ops = ["nop", "zacc", "ldt", "ldw", "lda", "lmma", "lmma", "sta", "nop"]
    gaps = [b - a for a, b in zip(run.issue, run.issue[1:], strict=False)]
    gaps.append(run.cycles - 1 - run.issue[-1])
    assert gaps == [cfg.latency_cycles[op] for op in ops]
    assert [cfg.latency_cycles[op] for op in ("ldt", "ldw", "lda", "lmma")] == [2, 2, 16, 2]


def test_illegal_words_raise_the_error_flag_and_act_as_nop():
    wrong_type = encode(
        Instr("lmma", m=2, n=64, k=4, atype="f16", wtype="u2", ctype="f32", otype="f32")
    )
    memory = np.arange(4, dtype=np.uint32)
    for word in (7 << 60, wrong_type, encode(Instr("zacc", acc=5)), (5 << 60) | 1):
        (run,) = run_verilator(FULL, [([word], memory)])
        assert run.error, f"{word:016x} was not flagged"
        assert run.cycles == 2
        np.testing.assert_array_equal(run.memory, memory)
        with pytest.raises(ValueError, match=r"^the core flagged an illegal instruction$"):
            verilator_runner(FULL, [word], memory[None, :])
    (run,) = run_verilator(FULL, [([encode(Instr("zacc", acc=1))], memory)])
    assert not run.error


def test_empty_jobs_and_memory_edges():
    """No jobs; an empty program; reads past the end of memory give 0, writes there are
    dropped (a store half outside a 40-word memory)."""
    assert run_verilator(FULL, []) == []
    (run,) = run_verilator(FULL, [([], np.zeros(0, np.uint32))])
    assert (run.cycles, run.issue, run.error, run.memory.size) == (0, (), False, 0)
    program = assemble("lda a0, [24]\nsta a0, [8]\n", FULL)
    memory = np.arange(1, 41, dtype=np.uint32)
    (run,) = run_verilator(FULL, [(program, memory)])
    expected = memory.copy()
    expected[8:40] = np.concatenate([memory[24:40], np.zeros(16, np.uint32)])
    np.testing.assert_array_equal(run.memory, expected)


def test_runaway_program_is_stopped():
    program = [encode(Instr("nop"))] * 50
    with pytest.raises(RuntimeError, match=r"^program did not finish within 20 cycles$"):
        run_verilator(FULL, [(program, np.zeros(4, np.uint32))], max_cycles=20)


def test_vcd_has_every_cycle_and_changes_nothing(tmp_path):
    cfg = SMALL["w3-bus1-regs3"]
    jobs = _jobs(cfg, seed=2, count=2, words=96, length=20)
    plain = run_verilator(cfg, jobs)
    traced = run_verilator(cfg, jobs, vcd=tmp_path / "wave.vcd")
    for a, b in zip(plain, traced, strict=True):
        assert (a.cycles, a.issue, a.error) == (b.cycles, b.issue, b.error)
        np.testing.assert_array_equal(a.memory, b.memory)
    text = (tmp_path / "wave.vcd").read_text()
    for port in ("clk", "rst", "i_instr", "o_rd_addr", "i_rd_data", "o_wr_mask", "o_busy"):
        assert re.search(rf"\$var wire +\d+ \S+ {port}\b", text), f"{port} is not traced"
    times = re.findall(r"^#(\d+)$", text, flags=re.M)
    cycles = 1 + sum(run.cycles for run in plain)  # the reset cycle, then every job's
    assert len(times) == 2 * cycles and int(times[-1]) == 10_000 * cycles - 5_000


def test_vcd_path_that_cannot_be_written(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_verilator(
            SMALL["w3-bus1-regs3"], [([], np.zeros(1, np.uint32))], vcd=tmp_path / "no/w.vcd"
        )
