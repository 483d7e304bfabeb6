import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lutsim.isa.config import CoreConfig, load_config
from lutsim.isa.encoding import Instr
from lutsim.isa.executor import execute, new_machine
from lutsim.isa.gemm import (
    GemmResult,
    load_npz,
    lower,
    lut_gemm,
    make_problem,
    random_problem,
    read_outputs,
    run_gemm,
    save_npz,
)
from lutsim.isa.golden import precompute_tables, weight_indices
from tests.isa.gemm_cases import GemmCases


class TestGoldenGemm(GemmCases):
    """The GEMM as an LMMA program on the golden executor."""


class TestLutAlgorithm(GemmCases):
    """The vectorized LUT algorithm, checked on the same cases."""

    def run(self, cfg, problem) -> GemmResult:
        result = run_gemm(cfg, problem)
        o, acc, _ = lut_gemm(cfg, problem)
        same = (o == result.o) | (np.isnan(o) & np.isnan(result.o))
        assert same.all(), "lut_gemm and the executor disagree"
        return result


def test_float_bound_is_not_vacuous():
    """The bound must be far below the outputs it bounds, or it proves nothing."""
    cfg = CoreConfig(m=2, n=16, act_format="fp16", weight_bits=2)
    result = run_gemm(cfg, random_problem(cfg, 4, 32, 256, seed=5))
    typical = np.median(np.abs(result.reference))
    assert result.bound.max() < 0.05 * typical


# ---- random programs on the executor == the LUT algorithm ---------------------------------
@st.composite
def random_program_case(draw):
    float_path = draw(st.booleans())
    changes = dict(
        m=draw(st.integers(1, 3)),
        n=draw(st.integers(1, 9)),
        k=draw(st.integers(2, 5)),
        weight_bits=draw(st.integers(1, 4)),
        symmetrize=draw(st.booleans()),
        table_regs=draw(st.integers(1, 4)),
        weight_regs=draw(st.integers(1, 4)),
        acc_regs=draw(st.integers(1, 4)),
    )
    if float_path:
        changes.update(act_format="fp16", acc_format=draw(st.sampled_from(["fp16", "fp32"])))
    cfg = CoreConfig(**changes)
    groups = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    return cfg, groups, seed, draw(st.randoms(use_true_random=False))


def _scrambled_program(cfg, groups, rnd, tw, ww, out_base):
    """A valid program for one tile whose register use, load placement and (for integer
    accumulation) group order are random, with junk instructions that must not matter."""
    order = list(range(groups))
    if cfg.int_path:
        rnd.shuffle(order)
    acc = rnd.randrange(cfg.acc_regs)
    program = [Instr("zacc", acc=acc)]
    op_kwargs = dict(
        m=cfg.m, n=cfg.n, k=cfg.k, atype=cfg.act.abbrev, wtype=cfg.weight_type,
        ctype=cfg.acc.abbrev, otype=cfg.out.abbrev,
    )  # fmt: skip
    for g in order:
        t, w = rnd.randrange(cfg.table_regs), rnd.randrange(cfg.weight_regs)
        loads = [
            Instr("ldt", table=t, addr=g * tw),
            Instr("ldw", weight=w, addr=out_base - (groups - g) * ww),
        ]
        rnd.shuffle(loads)
        for instr in loads:
            program.append(instr)
            if rnd.random() < 0.3:
                program.append(Instr("nop"))
            if rnd.random() < 0.2 and cfg.acc_regs > 1:
                other = (acc + 1) % cfg.acc_regs
                program += [
                    Instr("zacc", acc=other),
                    Instr("sta", acc=other, addr=out_base + cfg.acc_fragment_words),
                ]
        program.append(Instr("lmma", acc=acc, table=t, weight=w, **op_kwargs))
    program.append(Instr("sta", acc=acc, addr=out_base))
    return program


@settings(max_examples=60, deadline=None, derandomize=True)
@given(random_program_case())
def test_random_programs_equal_lut_algorithm(case):
    cfg, groups, seed, rnd = case
    problem = random_problem(cfg, cfg.m, cfg.n, groups * cfg.k, seed=seed % 1000)
    tables = precompute_tables(cfg, problem.a, 1)
    index = weight_indices(cfg, problem.w)
    lowered = lower(cfg, problem, tables, index)
    tw, ww = cfg.table_fragment_words, cfg.weight_fragment_words
    memory = np.concatenate([lowered.memories[0], np.zeros(cfg.acc_fragment_words, np.uint32)])
    program = _scrambled_program(cfg, groups, rnd, tw, ww, lowered.out_base)
    final = execute(cfg, program, new_machine(cfg, memory)).memory
    got = read_outputs(cfg, lowered, final, cfg.m, cfg.n, 1)
    _, expected, _ = lut_gemm(cfg, problem)
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    assert same.all(), f"{got.ravel()} != {expected.ravel()} (expected)"


# ---- bad input ---------------------------------------------------------------------------
CFG = load_config("m2n64k4")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(a=np.zeros((2, 8)), w=np.zeros((3, 12), int)),
         r"shape mismatch: a is 2x8 and w is 3x12; K must agree"),
        (dict(a=np.zeros(8), w=np.zeros((3, 8), int)), r"a and w must be 2-D, not 1-D and 2-D"),
        (dict(a=np.zeros((0, 8)), w=np.zeros((3, 8), int)),
         r"a \(0x8\) and w \(3x8\) must not be empty"),
        (dict(a=np.zeros((2, 8)), w=np.full((3, 8), 4)),
         r"weight code 4 at w\[0, 0\] is out of range 0..3 for 2-bit weights"),
        (dict(a=np.zeros((2, 8)), w=np.full((3, 8), -1)),
         r"weight code -1 at w\[0, 0\] is out of range 0..3 for 2-bit weights"),
        (dict(a=np.zeros((2, 8)), w=np.zeros((3, 8))), r"w must hold integer weight codes, not float64"),
        (dict(a=np.full((2, 8), 128), w=np.zeros((3, 8), int)),
         r"activation 128 at a\[0, 0\] is out of range -128..127 for int8"),
        (dict(a=np.full((2, 8), 0.5), w=np.zeros((3, 8), int)),
         r"activation 0.5 at a\[0, 0\] is not an integer \(int8\)"),
        (dict(a=np.full((2, 8), np.nan), w=np.zeros((3, 8), int)),
         r"activation nan at a\[0, 0\] is not finite"),
        (dict(a=np.zeros((2, 8)), w=np.zeros((3, 8), int), scale=np.ones(4)),
         r"scale must have shape \(3,\) or \(3, C\), not \(4\)"),
        (dict(a=np.zeros((2, 12)), w=np.zeros((3, 12), int), scale=np.ones((3, 5))),
         r"K = 12 does not split into 5 equal groups"),
        (dict(a=np.zeros((2, 12)), w=np.zeros((3, 12), int), scale=np.ones((3, 2))),
         r"group size 6 is not a multiple of the table K = 4"),
        (dict(a=np.zeros((2, 8)), w=np.zeros((3, 8), int), scale=np.ones((3, 2)), zero=np.ones((3, 4))),
         r"scale has 2 groups per row but zero has 4"),
        (dict(a=np.zeros((2, 8)), w=np.zeros((3, 8), int), scale=np.full(3, np.inf)),
         r"scale must be finite"),
    ],
)  # fmt: skip
def test_bad_problems(kwargs, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        make_problem(CFG, **kwargs)


def test_ternary_codes_and_zero_point():
    cfg = load_config("m2n64k4-w1.58-int8")
    with pytest.raises(
        ValueError, match=r"^weight code 3 at w\[0, 1\] is out of range 0..2 for ternary weights$"
    ):
        make_problem(cfg, np.zeros((1, 4)), np.array([[0, 3, 1, 2]]))
    with pytest.raises(
        ValueError, match=r"^ternary weights have zero point 1, not 0 at zero\[0\]$"
    ):
        make_problem(cfg, np.zeros((1, 4)), np.array([[0, 2, 1, 2]]), zero=np.zeros(1))


def test_float_activation_overflow_and_rounding():
    cfg = load_config("m2n64k4-w2-fp16")
    with pytest.raises(
        ValueError, match=r"^activation 70000 at a\[0, 1\] overflows fp16 \(largest 65504\)$"
    ):
        make_problem(cfg, np.array([[1.0, 7e4, 0, 0]]), np.zeros((1, 4), int))
    problem = make_problem(cfg, np.array([[1.0 + 2.0**-12, 0.1, 0.5, 0]]), np.zeros((1, 4), int))
    assert problem.rounded == 2 and problem.a[0, 0] == 1.0


def test_int32_overflow_is_refused():
    cfg = CoreConfig(act_format="int16", weight_bits=4)
    a = np.full((1, 8192), -32768)
    w = np.full((1, 8192), 15)
    with pytest.raises(
        ValueError,
        match=r"^int32 accumulator could overflow: row 0 reaches 4026531840 > 2\^31 - 1; use quantization groups along K$",
    ):
        run_gemm(cfg, make_problem(cfg, a, w))
    result = run_gemm(cfg, make_problem(cfg, a, w, scale=np.ones((1, 4))))
    assert result.ok and result.acc[0, 0, 0] == -32768 * 15 * 2048


def test_unknown_impl():
    with pytest.raises(ValueError, match=r"^impl 'rtl' is not available; choose from golden$"):
        run_gemm(CFG, random_problem(CFG, 2, 4, 8), impl="rtl")


# ---- npz files ---------------------------------------------------------------------------
def test_npz_round_trip(tmp_path):
    problem = random_problem(CFG, 3, 5, 16, group=8, seed=2)
    path = tmp_path / "in.npz"
    save_npz(problem, path)
    loaded = load_npz(CFG, path)
    for name in ("a", "w", "scale", "zero"):
        assert np.array_equal(getattr(loaded, name), getattr(problem, name)), name


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(w=np.zeros((3, 8), int)), r"{p}: missing array 'a'"),
        (dict(a=np.zeros((2, 8))), r"{p}: missing array 'w'"),
        (dict(a=np.zeros((2, 8)), w=np.zeros((3, 8), int), scales=np.ones(3)),
         r"{p}: unexpected array 'scales'; expected a, w, scale, zero"),
        (dict(a=np.array([["x"] * 8] * 2), w=np.zeros((3, 8), int)),
         r"{p}: array 'a' has dtype <U1; expected numbers"),
        (dict(a=np.zeros((2, 8)), w=np.zeros((3, 8), bool)),
         r"{p}: array 'w' has dtype bool; expected numbers"),
        (dict(a=np.zeros((2, 8)), w=np.zeros((3, 7), int)),
         r"{p}: shape mismatch: a is 2x8 and w is 3x7; K must agree"),
    ],
)  # fmt: skip
def test_bad_npz(tmp_path, arrays, message):
    path = tmp_path / "in.npz"
    np.savez(path, **arrays)
    with pytest.raises(
        ValueError, match="^" + message.format(p=str(path).replace(".", r"\.")) + "$"
    ):
        load_npz(CFG, path)


def test_npz_with_objects_is_refused(tmp_path):
    path = tmp_path / "in.npz"
    np.savez(path, a=np.array([1, "x", None], dtype=object), w=np.zeros((3, 8), int))
    with pytest.raises(ValueError, match=r"^.*in\.npz: array 'a' cannot be read \(.*\)$"):
        load_npz(CFG, path)


def test_missing_and_corrupt_npz(tmp_path):
    with pytest.raises(ValueError, match=r"^cannot read .*nothere\.npz: no such file$"):
        load_npz(CFG, tmp_path / "nothere.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"^cannot read .*bad\.npz: not an \.npz archive \(.*\)$"):
        load_npz(CFG, bad)


def test_zero_point_beyond_exact_integers_is_refused():
    a = np.full((2, 16), 127)
    w = np.zeros((64, 16), int)
    with pytest.raises(ValueError, match=r"^zero point 3e\+18 at zero\[5\] is too large: with "
                       r"these activations \(sum of magnitudes 2032 per group\) the dot products "
                       r"leave the 2\^53 range of exact integers$"):  # fmt: skip
        make_problem(CFG, a, w, zero=np.where(np.arange(64) == 5, 3e18, 1.0))
    grouped = np.ones((64, 2))
    grouped[7, 1] = -(2.0**46)
    with pytest.raises(
        ValueError, match=r"^zero point -7\.03687e\+13 at zero\[7, 1\] is too large"
    ):
        make_problem(CFG, a, w, zero=grouped)
    ok = make_problem(CFG, a, w, zero=np.full(64, 1e6))
    assert run_gemm(CFG, ok).ok
