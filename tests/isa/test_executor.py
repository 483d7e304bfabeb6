import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr, assemble
from lutsim.isa.executor import execute, new_machine
from lutsim.isa.formats import from_bits, quantize, to_bits
from lutsim.isa.golden import (
    pack_acc,
    pack_tables,
    pack_weights,
    sign_matrix,
    unpack_acc,
    unpack_tables,
    unpack_weights,
    weight_indices,
)

CFG = CoreConfig(m=2, n=8, k=4, weight_bits=2, acc_regs=3)


def lmma(cfg, acc=0, table=0, weight=0):
    return f"{cfg.mnemonic} a{acc}, t{table}, w{weight}\n"


def test_sign_matrix_symmetrized_and_full():
    sym = sign_matrix(CoreConfig(k=3))
    assert sym.tolist() == [[-1, -1, 1], [1, -1, 1], [-1, 1, 1], [1, 1, 1]]
    full = sign_matrix(CoreConfig(k=2, symmetrize=False))
    assert full.tolist() == [[0, 0], [1, 0], [0, 1], [1, 1]]


def test_offline_inversion_by_hand():
    cfg = CoreConfig(k=4, weight_bits=1)
    # codes of one group, bit l of the index = code of activation l
    codes = np.array([[1, 0, 1, 1], [1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    idx = weight_indices(cfg, codes)[0, :, 0]
    # 0b1101 has MSB 1: stored as is; 0b0101 has MSB 0: low bits inverted -> 0b0010
    assert [f"{i:04b}" for i in idx] == ["1101", "0010", "0111", "1111"]


def _machine_with(cfg, a_row_tables, index, acc_init=None):
    tw, ww, aw = cfg.table_fragment_words, cfg.weight_fragment_words, cfg.acc_fragment_words
    memory = np.zeros(tw + ww + 2 * aw, np.uint32)
    memory[:tw] = pack_tables(cfg, a_row_tables)
    memory[tw : tw + ww] = pack_weights(cfg, index)
    if acc_init is not None:
        memory[tw + ww : tw + ww + aw] = pack_acc(cfg, acc_init)
    return memory, tw, tw + ww, tw + ww + aw


def test_lmma_adds_shifted_lookups_plane_by_plane():
    cfg = CFG
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(cfg.m, cfg.k))
    tables = a @ sign_matrix(cfg).T  # [M, E]
    codes = rng.integers(0, 4, size=(cfg.n, cfg.k))
    index = weight_indices(cfg, codes)[:, :, 0]  # [B, N]
    init = rng.integers(-1000, 1000, size=(cfg.m, cfg.n))
    memory, wa, aa, out = _machine_with(cfg, tables, index, init)
    program = assemble(
        f"ldt t1, [0]\nldw w0, [{wa}]\nlda a2, [{aa}]\n"
        + lmma(cfg, 2, 1, 0)
        + f"sta a2, [{out}]\n",
        cfg,
    )
    final = execute(cfg, program, new_machine(cfg, memory))
    got = unpack_acc(cfg, final.memory[0, out : out + cfg.acc_fragment_words])
    # symmetrized: acc + sum_k a_k (2q - 3)
    expected = init + a @ (2 * codes - 3).T
    assert np.array_equal(got, expected), f"{got} != {expected} (expected)"
    assert np.array_equal(final.accs[0, 2], expected)


def test_zacc_nop_and_register_independence():
    cfg = CFG
    memory = np.zeros(64, np.uint32)
    memory[:16] = pack_acc(cfg, np.full((cfg.m, cfg.n), 7))
    program = assemble("lda a0, [0]\nlda a1, [0]\nnop\nzacc a0\nsta a0, [16]\nsta a1, [32]\n", cfg)
    final = execute(cfg, program, new_machine(cfg, memory)).memory[0]
    assert np.all(final[16:32] == 0) and np.all(final[32:48] == 7)


def test_machine_is_not_modified_and_batches_are_independent():
    cfg = CFG
    memory = np.zeros((3, 48), np.uint32)
    for b in range(3):
        memory[b, :16] = pack_acc(cfg, np.full((cfg.m, cfg.n), b - 1))
    machine = new_machine(cfg, memory)
    final = execute(cfg, assemble("lda a0, [0]\nsta a0, [16]\n", cfg), machine)
    assert np.all(machine.memory[:, 16:] == 0)
    for b in range(3):
        assert np.all(from_bits(final.memory[b, 16:32], "int32") == b - 1)


def test_fp32_accumulator_stored_as_fp16_rounds_and_overflows():
    wide = CoreConfig(m=1, n=2, act_format="fp16", acc_format="fp32", out_format="fp32")
    narrow = wide.replace(out_format="fp16")
    memory = np.zeros(8, np.uint32)
    memory[:2] = to_bits(np.array([1.0 + 2.0**-11, 70000.0]), "fp32")  # a tie; an overflow
    loaded = execute(wide, assemble("lda a0, [0]\n", wide), new_machine(wide, memory))
    stored = execute(narrow, assemble("sta a0, [4]\n", narrow), loaded)
    got = from_bits(stored.memory[0, 4:6], "fp16")
    assert got[0] == 1.0 and np.isinf(got[1]), f"{got} != [1.0, inf] (expected)"


@pytest.mark.parametrize(
    "text, message",
    [
        ("ldt t0, [0x3f]\n", r"instruction 0 \(ldt t0, \[0x3f\]\): fragment \[0x3f, 0x4f\) is outside memory of 0x40 words"),
        ("sta a0, [0x31]\n", r"instruction 0 \(sta a0, \[0x31\]\): fragment \[0x31, 0x41\) is outside memory of 0x40 words"),
        ("nop\nzacc a3\n", r"instruction 1 \(zacc a3\): register a3 is beyond this core's 3 accumulator registers \(a0-a2\)"),
        ("lmma.m2n8k4.f16.u2.f32.f32 a0, t0, w0\n", r"instruction 0 \(lmma.m2n8k4.f16.u2.f32.f32 a0, t0, w0\): lmma.m2n8k4.f16.u2.f32.f32 does not match this core's lmma.m2n8k4.s8.u2.s32.s32"),
    ],
)  # fmt: skip
def test_execution_errors(text, message):
    machine = new_machine(CFG, np.zeros(64, np.uint32))
    with pytest.raises(ValueError, match=rf"^{message}$"):
        execute(CFG, assemble(text), machine)


def test_errors_execute_nothing():
    machine = new_machine(CFG, np.zeros(64, np.uint32))
    with pytest.raises(ValueError):
        execute(CFG, [Instr("zacc", acc=0), Instr("ldt", table=0, addr=0x3F)], machine)
    assert np.all(machine.memory == 0)


# ---- fragment layouts --------------------------------------------------------------------
@st.composite
def layout_case(draw):
    cfg = CoreConfig(
        m=draw(st.integers(1, 8)),
        n=draw(st.integers(1, 40)),
        k=draw(st.integers(2, 6)),
        weight_bits=draw(st.integers(1, 4)),
        symmetrize=draw(st.booleans()),
        act_format=draw(st.sampled_from(["int8", "int16", "fp16", "fp8_e4m3"])),
    )
    return cfg, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(layout_case())
def test_fragment_pack_unpack_round_trip(case):
    cfg, seed = case
    rng = np.random.default_rng(seed)
    index = rng.integers(0, 2**cfg.k, size=(3, cfg.weight_bits, cfg.n)).astype(np.uint8)
    words = pack_weights(cfg, index)
    assert words.shape == (3, cfg.weight_fragment_words)
    assert np.array_equal(unpack_weights(cfg, words), index)
    fmt = cfg.table
    if fmt.is_float:
        entries = quantize(rng.standard_normal((3, cfg.m, cfg.table_entries)) * 8, fmt)
    else:
        lo, hi = -(2 ** (fmt.bits - 1)), 2 ** (fmt.bits - 1) - 1
        entries = rng.integers(lo, hi, size=(3, cfg.m, cfg.table_entries), endpoint=True)
    words = pack_tables(cfg, entries)
    assert words.shape == (3, cfg.table_fragment_words)
    assert np.array_equal(unpack_tables(cfg, words), entries)


def test_weight_bit_stream_layout():
    cfg = CoreConfig(m=1, n=3, k=4, weight_bits=2)
    index = np.array([[0x1, 0x2, 0x3], [0x4, 0x5, 0xF]], np.uint8)  # [B, N]
    (word,) = pack_weights(cfg, index)
    # bit p = (b * N + n) * K + l: nibbles in plane-major, column order
    assert f"{word:032b}" == f"{0xF54321:032b}"


def test_numpy_fp16_addition_is_correctly_rounded():
    """The golden model adds fp16 with numpy, which rounds through fp32; 24 >= 2 * 11 + 2 makes
    that double rounding innocuous. Checked here against an exact float64 sum."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**16, size=(2, 200_000), dtype=np.uint64)
    x, y = from_bits(bits[0], "fp16"), from_bits(bits[1], "fp16")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    with np.errstate(over="ignore"):
        got = (x.astype(np.float16) + y.astype(np.float16)).astype(np.float64)
    exact = quantize(x + y, "fp16")  # x + y is exact in float64
    same = (got == exact) & (np.signbit(got) == np.signbit(exact))
    assert same.all(), f"{x[~same][0]} + {y[~same][0]}: {got[~same][0]} != {exact[~same][0]}"
