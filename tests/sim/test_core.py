"""The SimPy core model: golden GEMM cases, values against the golden executor, issue cycles
against the timing contract and the RTL, stalls, illegal words and action counts."""

import os

import numpy as np
import pytest

from lutsim.hw.simulate import run_amaranth
from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr, assemble, encode
from lutsim.isa.executor import execute, new_machine
from lutsim.isa.gemm import GemmResult, lower, run_gemm
from lutsim.isa.golden import precompute_tables, weight_indices
from lutsim.isa.timing import Stalls, schedule
from lutsim.sim.core import action_names, run_core, sim_runner
from tests.isa.gemm_cases import GemmCases
from tests.programs import random_memory, random_program

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


class TestSimCore(GemmCases):
    """The same GEMM cases, each tile's program run on the cycle model."""

    def run(self, cfg, problem) -> GemmResult:
        result = run_gemm(cfg, problem, impl="sim", runner=sim_runner)
        tables = precompute_tables(cfg, problem.a, problem.chunks)
        lowered = lower(cfg, problem, tables, weight_indices(cfg, problem.w))
        expected = schedule(cfg, lowered.program).cycles * lowered.memories.shape[0]
        assert result.cycles == expected, f"{result.cycles} cycles != {expected} (expected)"
        return result


def check_consistent(cfg, program, run):
    """Counts that follow from the program alone, and the cycle identity of ``sim.core``."""
    latency = cfg.latency_cycles
    ops = [p.op if isinstance(p, Instr) else "illegal" for p in program]
    a = run.actions
    assert a["instr.issue"] == len(program)
    for op in (*latency, "illegal"):
        assert a[f"instr.{op}"] == ops.count(op), f"instr.{op}"
    busy = sum(latency.get(op, 1) for op in ops)
    stalled = a["stall.read"] + a["stall.write"] + a["stall.instr"]
    assert run.cycles == (1 + busy + stalled if program else 0)
    assert set(a) == set(action_names(cfg))


# fmt: off
CONFIGS = {
    "w1":            dict(weight_bits=1),
    "w3-nosym":      dict(weight_bits=3, symmetrize=False),
    "w4-int16-bus3": dict(weight_bits=4, act_format="int16", bus_words=3),
    "ternary-bus1":  dict(weight_bits=2, ternary=True, bus_words=1, acc_regs=3, table_regs=3),
    "fp16-f16out":   dict(m=1, n=6, act_format="fp16", out_format="fp16", bus_words=5,
                          weight_regs=4),
    "fp8-fp16acc":   dict(act_format="fp8_e4m3", table_format="fp8_e4m3", acc_format="fp16",
                          bus_words=2),
    "fp16-int8tab":  dict(act_format="fp16", table_format="int8", bus_words=16),
    "m3n5k3":        dict(m=3, n=5, k=3, bus_words=4),
    "m1n3k6-w4":     dict(m=1, n=3, k=6, weight_bits=4, bus_words=2, symmetrize=False),
}
# fmt: on
RTL_CONFIGS = ["w1", "w4-int16-bus3", "ternary-bus1", "fp16-f16out", "m3n5k3"]


def _case(name, stalled, wild=False):
    changes = CONFIGS[name]
    cfg = CoreConfig(**{"m": 2, "n": 8, **changes})
    rng = np.random.default_rng([sum(map(ord, name)), int(stalled), int(wild)])
    words = 96
    memory = random_memory(rng, words)
    program = random_program(cfg, rng, words, 60, wild=wild)
    stalls = Stalls.random(int(rng.integers(1000)), 900, 0.25) if stalled else None
    return cfg, program, memory, stalls


# random table words in float formats hold NaN and Inf; casting them is defined, and loud
NAN_CASTS = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")


@NAN_CASTS
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("stalled", [False, True], ids=["no-stalls", "stalls"])
def test_random_programs_match_golden_and_schedule(name, stalled):
    cfg, program, memory, stalls = _case(name, stalled)
    run = run_core(cfg, program, memory, stalls)
    golden = execute(cfg, program, new_machine(cfg, memory)).memory[0]
    bad = np.flatnonzero(run.memory != golden)
    assert bad.size == 0, (
        f"mem[{bad[0]}] = {run.memory[bad[0]]:08x} != {golden[bad[0]]:08x} (expected)"
    )
    expected = schedule(cfg, program, stalls)
    assert run.issue == expected.issue
    assert run.cycles == expected.cycles
    assert not run.error
    check_consistent(cfg, program, run)
    if stalled:
        assert run.actions["stall.read"] and run.actions["stall.write"]
        assert run.actions["stall.instr"]


@NAN_CASTS
@pytest.mark.parametrize("name", RTL_CONFIGS)
@pytest.mark.parametrize(
    ("stalled", "wild"),
    [(False, False), (True, False), (True, True)],
    ids=["no-stalls", "stalls", "stalls-illegal-out-of-range"],
)
def test_random_programs_match_rtl(name, stalled, wild):
    """The same programs on the RTL: issue cycles, cycles, final memory and error flag agree.
    Wild programs hold illegal words and fragments past the end of memory."""
    cfg, program, memory, stalls = _case(name, stalled, wild)
    run = run_core(cfg, program, memory, stalls)
    (rtl,) = run_amaranth(cfg, [(program, memory)], stalls=stalls)
    assert run.issue == rtl.issue
    assert run.cycles == rtl.cycles
    bad = np.flatnonzero(run.memory != rtl.memory)
    assert bad.size == 0, (
        f"mem[{bad[0]}] = {run.memory[bad[0]]:08x} != {rtl.memory[bad[0]]:08x} (RTL)"
    )
    assert run.error == rtl.error == wild
    as_nops = [p if isinstance(p, Instr) else Instr("nop") for p in program]
    expected = schedule(cfg, as_nops, stalls)
    assert (run.issue, run.cycles) == (expected.issue, expected.cycles)
    check_consistent(cfg, program, run)


def test_a_batch_runs_in_lockstep():
    """memory[batch, words]: every core's memory as if run alone, actions summed."""
    cfg, program, _, stalls = _case("w3-nosym", True)
    rng = np.random.default_rng(5)
    memories = random_memory(rng, 3 * 96).reshape(3, 96)
    batch = run_core(cfg, program, memories, stalls)
    alone = [run_core(cfg, program, memory, stalls) for memory in memories]
    assert batch.memory.shape == (3, 96)
    for i, run in enumerate(alone):
        assert np.array_equal(batch.memory[i], run.memory), f"core {i}"
        assert (batch.issue, batch.cycles) == (run.issue, run.cycles)
    for key, count in batch.actions.items():
        total = sum(run.actions[key] for run in alone)
        assert count == total, f"{key}: {count} != {total} (expected)"


def test_action_counts_by_hand():
    # M=2 N=8 K=4 B=3, E=8: one weight plane is one word of 8 four-bit indices
    cfg = CoreConfig(m=2, n=8, weight_bits=3, bus_words=3)
    lmma = cfg.mnemonic
    program = assemble(
        f"ldt t0, [0]\nldw w1, [16]\nzacc a0\n{lmma} a0, t0, w1\n{lmma} a1, t0, w1\n"
        "lda a1, [32]\nsta a0, [48]\nnop\n",
        cfg,
    )
    memory = np.zeros(64, np.uint32)
    memory[:16] = np.arange(16)
    memory[16:19] = [0x88888888, 0x00000000, 0x0F0F0F0F]  # index MSBs: 8 set, none, 4 set
    stalls = Stalls(read=np.array([False, True, True]), write=np.zeros(40, bool))
    run = run_core(cfg, program, memory, stalls)
    beats = {"ldt": 6, "ldw": 1, "lda": 6, "sta": 6}  # ceil(16 / 3), ceil(3 / 3)
    expected = {
        "instr.issue": 8, "instr.nop": 1, "instr.ldt": 1, "instr.ldw": 1, "instr.lda": 1,
        "instr.sta": 1, "instr.zacc": 1, "instr.lmma": 2, "instr.illegal": 0,
        "table.write": 2 * 8,
        "weight.write": 3 * 8 * 4,
        "acc.read": 2 * (2 * 8 * 3) + 2 * 8,             # planes, sta
        "acc.write": 2 * (2 * 8 * 3) + 2 * 8 + 2 * 8,    # planes, zacc, lda
        "lut.lookup": 2 * (2 * 8 * 3),
        "lut.negate": 2 * 2 * (0 + 8 + 4),
        "acc.int32_add": 2 * (2 * 8 * 3),
        "mem.read_words": 16 + 3 + 16,
        "mem.write_words": 16,
        "mem.read_beats": beats["ldt"] + beats["ldw"] + beats["lda"],
        "mem.write_beats": beats["sta"],
        "stall.read": 2, "stall.write": 0, "stall.instr": 0,
    }  # fmt: skip
    assert run.actions == expected
    assert run.cycles == 1 + 6 + 1 + 1 + 3 + 3 + 6 + 6 + 1 + 2
    nosym = run_core(cfg.replace(symmetrize=False), [], memory)
    assert nosym.actions["lut.negate"] == 0 and nosym.cycles == 0
    assert run_core(cfg.replace(symmetrize=False), program[:5], memory).actions["lut.negate"] == 0


def test_float_accumulator_additions_are_named_by_format():
    cfg = CoreConfig(m=2, n=8, act_format="fp16", acc_format="fp16")
    run = run_core(cfg, assemble(f"{cfg.mnemonic} a0, t0, w0\n", cfg), np.zeros(4, np.uint32))
    assert run.actions["acc.fp16_add"] == 2 * 8 * 2
    assert "acc.int32_add" not in run.actions


def test_illegal_words_raise_the_error_flag_and_act_as_nop():
    cfg = CoreConfig(m=2, n=8)
    wrong_type = encode(
        Instr("lmma", m=2, n=8, k=4, atype="f16", wtype="u2", ctype="f32", otype="f32")
    )
    memory = np.arange(4, dtype=np.uint32)
    for word in (7 << 60, wrong_type, encode(Instr("zacc", acc=5)), (5 << 60) | 1):
        run = run_core(cfg, [word, encode(Instr("nop"))], memory)
        assert run.error, f"{word:016x} was not flagged"
        assert run.issue == (0, 1) and run.cycles == 3
        assert run.actions["instr.illegal"] == 1 and run.actions["instr.nop"] == 1
        assert np.array_equal(run.memory, memory)
    assert not run_core(cfg, [encode(Instr("zacc", acc=1))], memory).error


def test_empty_program_and_instruction_stalls_before_the_first_word():
    cfg = CoreConfig(m=2, n=8)
    empty = run_core(cfg, [], np.zeros(2, np.uint32), Stalls.random(0, 10, 0.9))
    assert (empty.cycles, empty.issue, empty.error) == (0, (), False)
    stalls = Stalls(instr=np.array([True, True, False, True]))
    run = run_core(cfg, [Instr("nop"), Instr("nop")], np.zeros(2, np.uint32), stalls)
    assert run.issue == (2, 4) and run.cycles == 6 and run.actions["stall.instr"] == 3


def test_caller_memory_is_not_written():
    cfg = CoreConfig(m=1, n=2, acc_regs=1)
    memory = np.full(4, 7, np.uint32)
    run = run_core(cfg, [Instr("zacc"), Instr("sta", addr=2)], memory)
    assert list(run.memory) == [7, 7, 0, 0] and list(memory) == [7] * 4


def test_runner_refuses_illegal_programs():
    cfg = CoreConfig(m=2, n=8)
    with pytest.raises(ValueError, match=r"^the core flagged an illegal instruction$"):
        sim_runner(cfg, [7 << 60], np.zeros((2, 4), np.uint32))


@pytest.mark.parametrize(
    ("program", "memory", "message"),
    [
        ([1 << 64], np.zeros(2, np.uint32), r"^instruction 0: word 0x10000000000000000 does not fit in 64 bits$"),
        ([0, -1], np.zeros(2, np.uint32), r"^instruction 1: word -0x1 does not fit in 64 bits$"),
        ([0], np.zeros((2, 2, 2), np.uint32), r"^memory must be words \[words\] or a batch of them \[batch, words\], not shape \(2, 2, 2\)$"),
        ([0], np.array([1.5]), r"^memory words must be integers in 0..0xffffffff$"),
        ([0], np.array([1 << 32]), r"^memory words must be integers in 0..0xffffffff$"),
    ],
)  # fmt: skip
def test_bad_inputs_are_refused(program, memory, message):
    with pytest.raises(ValueError, match=message):
        run_core(CoreConfig(m=2, n=8), program, memory)
