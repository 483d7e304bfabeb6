"""The ``lutsim`` command line, run as a user runs it: in a subprocess, from a scratch directory.

Every error is checked by its exact one-line stderr text and exit code (1 bad input, 2 usage).
GEMM outputs are checked against a numpy reference written here from the definition
``o[m, n] = sum_c s[n, c] * sum_{k in c} a[m, k] * (q[n, k] - z[n, c])``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

from lutsim import cli
from lutsim.isa import encoding, gemm
from lutsim.isa.config import DEFAULT_PRESET, PRESETS, config_from_dict, load_config
from lutsim.isa.timing import schedule

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """\
# one tile of the default core
zacc a0
  ldt t0, [0x0]     ; tables
ldw w1,[16]
lmma.m2n64k4.s8.u2.s32.s32 a0, t0, w1
sta a0, [0x20]
nop
"""
CANONICAL = """\
zacc a0
ldt t0, [0x0]
ldw w1, [0x10]
lmma.m2n64k4.s8.u2.s32.s32 a0, t0, w1
sta a0, [0x20]
nop
"""


def run(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "lutsim", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert result.stderr == ""
    return result.stdout


def fails(result: subprocess.CompletedProcess, code: int, message: str) -> None:
    assert (result.returncode, result.stderr) == (code, f"lutsim: error: {message}\n")


def usage_error(result: subprocess.CompletedProcess) -> str:
    """A usage error: exit 2, one line, no usage dump; returns the message."""
    assert result.returncode == 2
    assert result.stderr.startswith("lutsim: error: ") and result.stderr.count("\n") == 1
    assert "usage:" not in result.stderr and result.stdout == ""
    return result.stderr.removeprefix("lutsim: error: ").rstrip("\n")


# ---- usage ---------------------------------------------------------------------------------
def test_no_command(tmp_path):
    message = usage_error(run(tmp_path))
    assert message == "the following arguments are required: COMMAND (see 'lutsim --help')"


def test_unknown_command(tmp_path):
    assert usage_error(run(tmp_path, "frobnicate")).startswith("argument COMMAND: invalid choice")


def test_help(tmp_path):
    out = ok(run(tmp_path, "--help"))
    for command in ("presets", "asm", "disasm", "gemm", "demo", "export"):
        assert command in out


def test_missing_option(tmp_path):
    message = usage_error(run(tmp_path, "asm", "prog.s"))
    assert message == "the following arguments are required: -o/--output (see 'lutsim asm --help')"


# ---- presets -------------------------------------------------------------------------------
def test_presets_list(tmp_path):
    lines = ok(run(tmp_path, "presets")).splitlines()
    assert [line.split()[0] for line in lines] == list(PRESETS)
    for line, name in zip(lines, PRESETS, strict=True):
        assert load_config(name).mnemonic in line.split()
        assert ("(default)" in line) == (name == DEFAULT_PRESET)


@pytest.mark.parametrize("name", ["m2n64k4", "m2n64k4-w1.58-fp16", "m2n64k4-w2-int8-nosym"])
def test_presets_show_is_the_resolved_config(tmp_path, name):
    out = ok(run(tmp_path, "presets", name))
    cfg = load_config(name)
    assert config_from_dict(tomllib.loads(out)) == cfg
    assert f"# {cfg.mnemonic}\n" in out
    comments = {line.split("  ")[0].removeprefix("# ") for line in out.splitlines()}
    assert f"table_entries = {cfg.table_entries}" in comments
    assert f"table_entry_bits = {cfg.table_entry_bits}" in comments
    assert f"weight_fragment_words = {cfg.weight_fragment_words}" in comments
    assert f"latency_cycles.lmma = {cfg.weight_bits}" in comments


def test_presets_show_file_with_set(tmp_path):
    (tmp_path / "core.yaml").write_text("weight_bits: 4\nact_format: fp16\n")
    out = ok(run(tmp_path, "presets", "core.yaml", "--set", "n=128", "--set", "table_format=int8"))
    expected = load_config(None).replace(
        weight_bits=4, act_format="fp16", n=128, table_format="int8", acc_format="int32",
        out_format="int32",
    )  # fmt: skip
    assert config_from_dict(tomllib.loads(out)) == expected


def test_presets_set_without_name(tmp_path):
    message = usage_error(run(tmp_path, "presets", "--set", "n=4"))
    assert message == "--set needs a preset name or config file (see 'lutsim presets --help')"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["presets", "m2n64k5"], "unknown config 'm2n64k5': not a preset name or a TOML/YAML file"),
        (["presets", "bad.toml"], "unknown config key 'foo' in bad.toml"),
        (["presets", "missing.toml"], "cannot read config file 'missing.toml': No such file or directory"),
        (["presets", "m2n64k4", "--set", "n"], "override 'n' must look like KEY=VALUE"),
        (["presets", "m2n64k4", "--set", "n=x"], "config key 'n' must be an integer, not 'x'"),
        (["presets", "m2n64k4", "--set", "nn=4"], "unknown config key 'nn' in --set"),
        (["presets", "m2n64k4", "--set", "weight_bits=5"], "weight_bits must be 1 to 4, not 5"),
        (["asm", "prog.s", "-o", "p.bin", "--config", "bad.toml"], "unknown config key 'foo' in bad.toml"),
        (["demo", "--set", "ternary=maybe"], "config key 'ternary' must be true or false, not 'maybe'"),
    ],
)  # fmt: skip
def test_config_errors(tmp_path, args, message):
    (tmp_path / "bad.toml").write_text("weight_bits = 4\nfoo = 1\n")
    (tmp_path / "prog.s").write_text(PROGRAM)
    result = run(tmp_path, *args)
    fails(result, 1, message)
    assert result.stdout == "" and not (tmp_path / "p.bin").exists()


# ---- asm / disasm --------------------------------------------------------------------------
def test_asm_disasm_round_trip(tmp_path):
    (tmp_path / "prog.s").write_text(PROGRAM)
    assert ok(run(tmp_path, "asm", "prog.s", "-o", "prog.bin")) == (
        "assembled 6 instructions into prog.bin\n"
    )
    words = encoding.assemble(CANONICAL)
    assert (tmp_path / "prog.bin").read_bytes() == np.asarray(words, dtype="<u8").tobytes()
    assert ok(run(tmp_path, "disasm", "prog.bin")) == CANONICAL
    ok(run(tmp_path, "disasm", "prog.bin", "-o", "back.s"))
    assert (tmp_path / "back.s").read_text() == CANONICAL
    ok(run(tmp_path, "asm", "back.s", "-o", "again.bin"))
    assert (tmp_path / "again.bin").read_bytes() == (tmp_path / "prog.bin").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "again.bin",
        "back.s",
        "prog.bin",
        "prog.s",
    ]


def test_asm_disasm_hex(tmp_path):
    (tmp_path / "prog.s").write_text(PROGRAM)
    ok(run(tmp_path, "asm", "prog.s", "-o", "prog.hex", "--hex"))
    lines = (tmp_path / "prog.hex").read_text().splitlines()
    assert lines == [f"{w:016x}" for w in encoding.assemble(CANONICAL)]
    assert ok(run(tmp_path, "disasm", "prog.hex", "--hex")) == CANONICAL


def test_asm_checks_the_configured_core(tmp_path):
    (tmp_path / "w4.s").write_text("zacc a0\nlmma.m2n64k4.s8.u4.s32.s32 a0, t0, w0\nzacc a1\n")
    fails(
        run(tmp_path, "asm", "w4.s", "-o", "w4.bin"), 1,
        "w4.s: line 2, column 1: lmma.m2n64k4.s8.u4.s32.s32 does not match this core's "
        "lmma.m2n64k4.s8.u2.s32.s32",
    )  # fmt: skip
    assert not (tmp_path / "w4.bin").exists()
    ok(run(tmp_path, "asm", "w4.s", "-o", "w4.bin", "--config", "m2n64k4-w4-int8"))
    ok(run(tmp_path, "asm", "w4.s", "-o", "w4.bin", "--set", "weight_bits=4"))
    fails(
        run(tmp_path, "asm", "w4.s", "-o", "w4.bin", "--set", "weight_bits=4", "--set", "acc_regs=1"),
        1, "w4.s: line 3, column 6: register a1 is beyond this core's 1 accumulator registers (a0-a0)",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nop\n\nfoo a0\n", "prog.s: line 3, column 1: unknown mnemonic 'foo'"),
        ("  ldt t0, [zz]\n", "prog.s: line 1, column 11: expected an address like [0x100] or [256], got '[zz]'"),
        ("zacc a0, a1\n", "prog.s: line 1, column 10: zacc takes 1 operand(s) (accumulator register), got 2"),
        ("zacc a7\n", "prog.s: line 1, column 6: register a7 is beyond this core's 2 accumulator registers (a0-a1)"),
    ],
)  # fmt: skip
def test_asm_errors(tmp_path, text, message):
    (tmp_path / "prog.s").write_text(text)
    result = run(tmp_path, "asm", "prog.s", "-o", "prog.bin")
    fails(result, 1, message)
    assert not (tmp_path / "prog.bin").exists()


def test_asm_unwritable_output(tmp_path):
    (tmp_path / "prog.s").write_text(PROGRAM)
    fails(
        run(tmp_path, "asm", "prog.s", "-o", "nodir/prog.bin"), 1,
        "cannot write 'nodir/prog.bin': No such file or directory",
    )  # fmt: skip


def test_asm_missing_input(tmp_path):
    fails(
        run(tmp_path, "asm", "nope.s", "-o", "nope.bin"),
        1,
        "cannot read assembly file 'nope.s': No such file or directory",
    )


@pytest.mark.parametrize(
    ("name", "data", "args", "message"),
    [
        ("odd.bin", bytes(12), [], "odd.bin: 12 bytes is not a whole number of 64-bit words"),
        ("bad.bin", bytes(8) + (0xF << 60).to_bytes(8, "little"), [],
         "bad.bin: byte 8: instruction word 0xf000000000000000: opcode 15 is not assigned"),
        ("bad.hex", b"0000000000000000\n\n50000000000000001\n", ["--hex"],
         "bad.hex: line 3: expected one 64-bit hex word, got '50000000000000001'"),
        ("bad.hex", b"5000000000000000\n5100000000000001\n", ["--hex"],
         "bad.hex: line 2: instruction word 0x5100000000000001: reserved bits 0x0000000000000001 are set"),
        ("nope.bin", None, [], "cannot read program file 'nope.bin': No such file or directory"),
        ("nope.hex", None, ["--hex"], "cannot read hex file 'nope.hex': No such file or directory"),
    ],
)  # fmt: skip
def test_disasm_errors(tmp_path, name, data, args, message):
    if data is not None:
        (tmp_path / name).write_bytes(data)
    result = run(tmp_path, "disasm", name, "-o", "out.s", *args)
    fails(result, 1, message)
    assert not (tmp_path / "out.s").exists()


# ---- gemm ----------------------------------------------------------------------------------
def reference(a, w, scale, zero):
    """Exact integer dot products per group, ``[M, N, C]`` int64, and ``o`` in float64."""
    rows, depth = a.shape
    chunks = scale.shape[1]
    size = depth // chunks
    dots = np.zeros((rows, w.shape[0], chunks), dtype=np.int64)
    for c in range(chunks):
        span = slice(c * size, (c + 1) * size)
        q = w[:, span].astype(np.int64) - zero[:, c : c + 1].astype(np.int64)
        dots[:, :, c] = a[:, span].astype(np.int64) @ q.T
    o = sum(scale[None, :, c] * dots[:, :, c] for c in range(chunks))
    return dots, o


@pytest.mark.parametrize(
    ("preset", "shape", "group"),
    [
        ("m2n64k4", (8, 256, 512), None),
        ("m2n64k4-w4-int8", (4, 128, 256), 64),
        ("m2n64k4-w1-int8", (3, 70, 10), None),  # M, N and K all padded
        ("m2n64k4-w1.58-int8", (2, 64, 256), 128),
        ("m2n64k4-w2-int8-nosym", (5, 100, 64), 16),
    ],
)
def test_gemm_exact(tmp_path, preset, shape, group):
    cfg = load_config(preset)
    gemm.save_npz(gemm.random_problem(cfg, *shape, group=group, seed=7), tmp_path / "in.npz")
    with np.load(tmp_path / "in.npz") as arrays:
        a, w, scale, zero = (arrays[k] for k in ("a", "w", "scale", "zero"))
    assert w.max() <= (2 if cfg.ternary else 2**cfg.weight_bits - 1)
    if cfg.ternary:
        assert np.all(zero == 1)
    out = ok(run(tmp_path, "gemm", "--config", preset, "--inputs", "in.npz", "--out", "o.npz"))
    assert f"{cfg.mnemonic}  impl golden" in out and "acc mismatches 0" in out
    dots, o = reference(a, w, scale, zero)
    with np.load(tmp_path / "o.npz") as result:
        assert sorted(result.files) == ["acc", "o"]
        acc = result["acc"] if group else result["acc"][:, :, None]
        assert acc.dtype == np.int64
        np.testing.assert_array_equal(acc, dots)
        np.testing.assert_allclose(result["o"], o, rtol=1e-12, atol=0)


def test_gemm_ternary_default_zero_point(tmp_path):
    cfg = load_config("m2n64k4-w1.58-int8")
    problem = gemm.random_problem(cfg, 2, 64, 32, seed=3)
    np.savez(tmp_path / "in.npz", a=problem.a.astype(np.int8), w=problem.w.astype(np.uint8))
    ok(
        run(
            tmp_path,
            "gemm",
            "--config",
            "m2n64k4-w1.58-int8",
            "--inputs",
            "in.npz",
            "--out",
            "o.npz",
        )
    )
    dots, _ = reference(problem.a, problem.w, np.ones((64, 1)), np.ones((64, 1)))
    with np.load(tmp_path / "o.npz") as result:
        np.testing.assert_array_equal(result["acc"], dots[:, :, 0])
        np.testing.assert_array_equal(result["o"], dots[:, :, 0])


@pytest.mark.parametrize(
    ("preset", "group"), [("m2n64k4-w2-fp16", None), ("m2n64k4-w4-fp16-int8table", 64)]
)
def test_gemm_float_json(tmp_path, preset, group):
    cfg = load_config(preset)
    gemm.save_npz(gemm.random_problem(cfg, 4, 64, 128, group=group, seed=1), tmp_path / "in.npz")
    with np.load(tmp_path / "in.npz") as arrays:
        a, w, scale, zero = (arrays[k] for k in ("a", "w", "scale", "zero"))
    result = run(
        tmp_path, "gemm", "--config", preset, "--inputs", "in.npz", "--out", "o.npz", "--json"
    )
    summary = json.loads(ok(result))
    assert result.stdout.count("\n") == 1
    assert (summary["impl"], summary["mnemonic"], summary["ok"]) == ("golden", cfg.mnemonic, True)
    assert summary["shape"] == {"m": 4, "n": 64, "k": 128, "groups": 1 if group is None else 2}
    residual = summary["residual"]
    assert residual["within_bound"] and residual["acc_mismatches"] is None
    size = 128 // (1 if group is None else 2)
    ref = sum(
        scale[None, :, c] * (a[:, c * size : (c + 1) * size] @ (w - zero[:, c : c + 1])[:, c * size : (c + 1) * size].T)
        for c in range(scale.shape[1])
    )  # fmt: skip
    with np.load(tmp_path / "o.npz") as out:
        assert out.files == ["o"]
        err = np.abs(out["o"] - ref)
    assert err.max() <= residual["bound"] * (1 + 1e-9), f"{err.max()} > {residual['bound']}"
    assert err.max() == pytest.approx(residual["max_abs"], rel=1e-6, abs=1e-300)


def _npz(path: Path, **arrays) -> None:
    np.savez(path, **arrays)


A = np.arange(16, dtype=np.int8).reshape(2, 8)
W = np.ones((3, 8), dtype=np.uint8)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (None, "cannot read in.npz: no such file"),
        ({"a": A}, "in.npz: missing array 'w'"),
        ({"a": A, "w": np.array([["x"] * 8] * 3)}, "in.npz: array 'w' has dtype <U1; expected numbers"),
        ({"a": A, "w": W.astype(np.float32)}, "in.npz: w must hold integer weight codes, not float32"),
        ({"a": A, "w": np.where(np.eye(3, 8, 2) > 0, 4, W)},
         "in.npz: weight code 4 at w[0, 2] is out of range 0..3 for 2-bit weights"),
        ({"a": A, "w": np.ones((3, 12), np.uint8)},
         "in.npz: shape mismatch: a is 2x8 and w is 3x12; K must agree"),
    ],
)  # fmt: skip
def test_gemm_input_errors(tmp_path, arrays, message):
    if arrays is not None:
        _npz(tmp_path / "in.npz", **arrays)
    result = run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz")
    fails(result, 1, message)
    assert result.stdout == "" and not (tmp_path / "o.npz").exists()


def test_gemm_unknown_impl(tmp_path):
    _npz(tmp_path / "in.npz", a=A, w=W)
    result = run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--impl", "verilog")
    fails(result, 2, "impl 'verilog' is not available; choose from golden, sim, rtl, rtl-amaranth")
    assert not (tmp_path / "o.npz").exists()


def test_gemm_outside_bound_still_writes(tmp_path, monkeypatch, capsys):
    """A result outside its bound is written, reported and fails (run in-process to force it)."""
    run_gemm = gemm.run_gemm

    def broken(cfg, problem, impl="golden", runner=None):
        result = run_gemm(cfg, problem, impl, runner)
        residual = {**result.residual, "max_abs": 0.5, "acc_mismatches": 3, "bound": 0.25}
        residual["within_bound"] = False
        return type(result)(**{**result.__dict__, "residual": residual})

    monkeypatch.setattr(gemm, "run_gemm", broken)
    _npz(tmp_path / "in.npz", a=A, w=W)
    code = cli.main(
        ["gemm", "--inputs", str(tmp_path / "in.npz"), "--out", str(tmp_path / "o.npz")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert (
        err
        == "lutsim: error: residual (max abs error 0.5, 3 accumulator mismatches) exceeds the bound 0.25\n"
    )
    with np.load(tmp_path / "o.npz") as out:
        np.testing.assert_array_equal(
            out["o"], reference(A, W, np.ones((3, 1)), np.zeros((3, 1)))[1]
        )


# ---- gemm on the RTL -----------------------------------------------------------------------
RTL_TIMEOUT = 900  # a cold run builds the Verilated core first
# the small core of tests/hw/test_verilator.py, so both files share its builds
SMALL_SETS = ["n=8", "weight_bits=3", "bus_words=1", "acc_regs=3", "table_regs=3"]
SMALL_CORE = [arg for kv in SMALL_SETS for arg in ("--set", kv)]


def test_gemm_rtl_json(tmp_path):
    cfg = load_config("m2n64k4")
    problem = gemm.random_problem(cfg, 3, 70, 40, group=20, seed=4)
    gemm.save_npz(problem, tmp_path / "in.npz")
    result = run(
        tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--impl", "rtl", "--json",
        timeout=RTL_TIMEOUT,
    )  # fmt: skip
    summary = json.loads(ok(result))
    assert (summary["impl"], summary["ok"], summary["tiles"]) == ("rtl", True, 4)
    program = gemm.tile_program(cfg, 10, 2)
    contract = 4 * schedule(cfg, program).cycles
    assert summary["cycles"] == summary["contract_cycles"] == contract
    assert summary["cycle_residual"] == 0
    assert summary["latency_cycles"] == cfg.latency_cycles
    assert summary["issue_cycles"] == {
        op: {"min": cfg.latency_cycles[op], "max": cfg.latency_cycles[op]}
        for op in ("zacc", "ldt", "ldw", "lmma", "sta")
    }
    dots, _ = reference(problem.a, problem.w, problem.scale, problem.zero)
    with np.load(tmp_path / "o.npz") as out:
        np.testing.assert_array_equal(out["acc"], dots)


def test_gemm_rtl_text_with_vcd_and_amaranth(tmp_path):
    cfg = load_config("m2n64k4", SMALL_SETS)
    gemm.save_npz(gemm.random_problem(cfg, 2, 8, 8, seed=2), tmp_path / "in.npz")
    args = ["gemm", "--inputs", "in.npz", "--out", "o.npz", *SMALL_CORE]
    out = ok(run(tmp_path, *args, "--impl", "rtl", "--vcd", "w.vcd", timeout=RTL_TIMEOUT))
    lines = out.splitlines()
    latency = cfg.latency_cycles
    cycles = schedule(cfg, gemm.tile_program(cfg, 2, 1)).cycles
    assert cycles == 2 + 2 * (latency["ldt"] + latency["ldw"] + latency["lmma"]) + latency["sta"]
    assert lines[0] == f"{cfg.mnemonic}  impl rtl  MxNxK 2x8x8  group channel"
    assert lines[1] == f"instructions 8  cycles {cycles}  tiles 1"
    per_op = "  ".join(f"{op} {latency[op]}/{latency[op]}" for op in ("zacc", "ldt", "ldw",
                                                                      "lmma", "sta"))  # fmt: skip
    assert lines[3] == (
        f"timing: contract {cycles} cycles, residual 0; cycles per instruction "
        f"(measured/contract): {per_op}"
    )
    assert lines[-2:] == ["wrote o, acc to o.npz", "wrote the first tile's waveform to w.vcd"]
    assert "$var wire 64" in (tmp_path / "w.vcd").read_text()
    golden = ok(run(tmp_path, *args))
    assert golden.splitlines()[1] == "instructions 8  cycles -  tiles 1"
    amaranth = json.loads(ok(run(tmp_path, *args, "--impl", "rtl-amaranth", "--json")))
    assert (amaranth["cycles"], amaranth["cycle_residual"], amaranth["ok"]) == (cycles, 0, True)


def test_gemm_vcd_errors(tmp_path):
    _npz(tmp_path / "in.npz", a=A, w=W)
    result = run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--vcd", "w.vcd")
    fails(result, 2, "--vcd needs an RTL impl (rtl or rtl-amaranth), not 'golden'")
    result = run(
        tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--impl", "rtl-amaranth",
        "--vcd", "nodir/w.vcd", "--set", "n=4",
    )  # fmt: skip
    fails(result, 1, "cannot write 'nodir/w.vcd': No such file or directory")
    assert not (tmp_path / "o.npz").exists()


# ---- export --------------------------------------------------------------------------------
def test_export(tmp_path):
    cfg = load_config("m2n64k4", ["n=4"])
    out = ok(run(tmp_path, "export", "--set", "n=4", "-o", "core.v"))
    assert out == f"wrote lut_core ({cfg.mnemonic}) to core.v\n"
    text = (tmp_path / "core.v").read_text()
    assert text.startswith(f"// lut_core: LUT tensor core executing {cfg.mnemonic}\n")
    assert "\nmodule lut_core(" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["core.v"]


def test_export_fusesoc_and_lint(tmp_path):
    args = ["export", "--config", "m2n64k4-w4-fp16", "--set", "n=4", "-o", "lut.v"]
    out = ok(run(tmp_path, *args, "--top", "lut_w4", "--fusesoc", "--lint"))
    cfg = load_config("m2n64k4-w4-fp16", ["n=4"])
    assert out.splitlines() == [
        f"wrote lut_w4 ({cfg.mnemonic}) to lut.v",
        "wrote FuseSoC core lutsim:lut:m2n4k4_w4_fp16:0.1.0 to lut.core",
        "lint clean: verilator --lint-only -Wall, 6 waivers",
    ]
    core = yaml.safe_load((tmp_path / "lut.core").read_text())
    assert core["filesets"]["rtl"]["files"] == ["lut.v"]
    assert core["targets"]["default"]["toplevel"] == "lut_w4"
    assert "\nmodule lut_w4(" in (tmp_path / "lut.v").read_text()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "the following arguments are required: -o/--output (see 'lutsim export --help')"),
        (["-o", "core.v", "--top", "9lives"], 1, "top module name '9lives' is not a Verilog identifier"),
        (["-o", "nodir/core.v"], 1, "cannot write 'nodir/core.v': No such file or directory"),
        (["-o", "core.core", "--fusesoc"], 1, "the Verilog file 'core.core' must not end in .core"),
        (["-o", "core.v", "--set", "m=0"], 1, "m must be 1 to 8, not 0"),
        (["-o", "core.v", "--set", "n=0"], 1, "override 'n' is given twice"),
        (["-o", "core.v", "--config", "m2n64k5"], 1,
         "unknown config 'm2n64k5': not a preset name or a TOML/YAML file"),
    ],
)  # fmt: skip
def test_export_errors(tmp_path, args, code, message):
    fails(run(tmp_path, "export", "--set", "n=4", *args), code, message)
    assert list(tmp_path.iterdir()) == []


# ---- demo ----------------------------------------------------------------------------------
def test_demo_json(tmp_path):
    result = run(tmp_path, "demo", "--json", "--seed", "3", "--config", "m2n64k4-w2-fp8-int8table")
    report = json.loads(ok(result))
    assert report["ok"] and all(r["ok"] for r in report["runs"])
    presets = [r["preset"] for r in report["runs"][::2]]
    assert presets == ["m2n64k4-w2-fp8-int8table", *cli.DEMO_PRESETS]
    assert [r["shape"]["groups"] for r in report["runs"]] == [1, 4] * len(presets)
    for r in report["runs"]:
        assert r["residual"]["acc_mismatches"] in (0, None)


def test_demo_table(tmp_path):
    out = ok(run(tmp_path, "demo", "--set", "n=32"))
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["preset", "mnemonic", "MxNxK"]
    assert lines[1].split()[:4] == [
        "m2n64k4+n=32",
        "lmma.m2n32k4.s8.u2.s32.s32",
        "8x256x512",
        "channel",
    ]
    assert (
        lines[-1]
        == f"{2 * (len(cli.DEMO_PRESETS) + 1)} of {2 * (len(cli.DEMO_PRESETS) + 1)} runs within their error bound"
    )


def test_demo_failure(monkeypatch, capsys):
    run_gemm = gemm.run_gemm

    def broken(cfg, problem, impl="golden"):
        result = run_gemm(cfg, problem, impl)
        if cfg.ternary and problem.chunks == 1:
            residual = {**result.residual, "within_bound": False}
            return type(result)(**{**result.__dict__, "residual": residual})
        return result

    monkeypatch.setattr(gemm, "run_gemm", broken)
    monkeypatch.setattr(cli, "DEMO_PRESETS", ("m2n64k4-w1.58-int8",))
    monkeypatch.setattr(cli, "DEMO_SHAPE", (2, 64, 256))
    assert cli.main(["demo"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == "3 of 4 runs within their error bound"
    assert (
        captured.err
        == "lutsim: error: 1 of 4 demo runs failed: m2n64k4-w1.58-int8 (group channel)\n"
    )
