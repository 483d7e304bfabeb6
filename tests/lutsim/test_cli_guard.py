"""The command line's last guard and its output rules: any exception ends in one line (exit 70
for lutsim's own failures, with ``--debug`` for the traceback), long tokens are cut, outputs
never replace an input or anything but a regular file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from lutsim import cli
from lutsim.isa import gemm
from lutsim.isa.config import load_config

from .test_cli import CANONICAL, fails, ok, run


def _raising(exc: BaseException):
    def command(args):
        raise exc

    return command


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (KeyError("x"), 70, "internal error: KeyError: 'x' (please report it; --debug shows the traceback)"),
        (ZeroDivisionError("division by zero"), 70, "internal error: ZeroDivisionError: division by zero (please report it; --debug shows the traceback)"),
        (MemoryError(), 1, "out of memory: the problem does not fit this machine; make it smaller"),
        (ValueError("bad\nvalue"), 1, "bad; value"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)  # fmt: skip
def test_every_exception_is_one_line(monkeypatch, capsys, exc, code, message):
    monkeypatch.setattr(cli, "_cmd_presets", _raising(exc))
    assert cli.main(["presets"]) == code
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"lutsim: error: {message}\n")


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(cli, "_cmd_presets", _raising(KeyError("x")))
    with pytest.raises(KeyError, match="x"):
        cli.main(["presets", "--debug"])
    with pytest.raises(KeyError, match="x"):
        cli.main(["--debug", "presets"])


def test_long_tokens_are_cut(tmp_path):
    name = "y" * 10_000
    result = run(tmp_path, "presets", name)
    fails(result, 1, f"unknown config '{name[:79]}…': not a preset name or a TOML/YAML file")


def test_output_equal_to_input_is_refused(tmp_path):
    source = tmp_path / "tile.s"
    source.write_text(CANONICAL)
    result = run(tmp_path, "asm", "tile.s", "-o", "./tile.s")
    fails(result, 2, "output './tile.s' is the input 'tile.s'; choose another path")
    assert source.read_text() == CANONICAL
    ok(run(tmp_path, "asm", "tile.s", "-o", "tile.bin"))
    fails(run(tmp_path, "disasm", "tile.bin", "-o", "tile.bin"), 2,
          "output 'tile.bin' is the input 'tile.bin'; choose another path")  # fmt: skip
    cfg = load_config("m2n64k4")
    gemm.save_npz(gemm.random_problem(cfg, 2, 64, 16), tmp_path / "in.npz")
    before = (tmp_path / "in.npz").read_bytes()
    fails(run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "in.npz"), 2,
          "output 'in.npz' is the input 'in.npz'; choose another path")  # fmt: skip
    assert (tmp_path / "in.npz").read_bytes() == before


def test_outputs_only_replace_regular_files(tmp_path):
    (tmp_path / "tile.s").write_text(CANONICAL)
    fails(run(tmp_path, "asm", "tile.s", "-o", "/dev/null"), 1,
          "'/dev/null' is not a regular file; refusing to replace it")  # fmt: skip
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    (tmp_path / "out").mkdir()
    fails(run(tmp_path, "asm", "tile.s", "-o", "out"), 1,
          "'out' is a directory; refusing to replace it")  # fmt: skip
    Path(tmp_path / "link.bin").symlink_to("real.bin")
    ok(run(tmp_path, "asm", "tile.s", "-o", "link.bin"))
    assert (tmp_path / "link.bin").is_symlink()
    words = np.frombuffer((tmp_path / "real.bin").read_bytes(), dtype="<u8")
    assert len(words) == CANONICAL.count("\n")


def test_gemm_memory_budget(tmp_path):
    cfg = load_config("m2n64k4")
    gemm.save_npz(gemm.random_problem(cfg, 64, 256, 512), tmp_path / "in.npz")
    result = run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--max-memory", "1M")
    fails(result, 1, "in.npz: its arrays declare 1.3 MiB, more than the budget of 1.0 MiB; raise "
                     "--max-memory or run a smaller problem")  # fmt: skip
    result = run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--max-memory", "50M")
    assert result.returncode == 1 and "in.npz: a 64x256x512 GEMM needs about" in result.stderr
    assert not (tmp_path / "o.npz").exists()
    ok(run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--max-memory", "1.5GiB"))


@pytest.mark.parametrize("size", ["2X", "", "-1G", "1e30G", "²G", "nan"])
def test_bad_sizes_are_usage_errors(tmp_path, size):
    result = run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--max-memory", size)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "--max-memory" in result.stderr and "Traceback" not in result.stderr


def test_amaranth_size_guard(tmp_path):
    cfg = load_config("m2n64k4")
    gemm.save_npz(gemm.random_problem(cfg, 64, 1024, 1024), tmp_path / "in.npz")
    result = run(tmp_path, "gemm", "--inputs", "in.npz", "--out", "o.npz", "--impl", "rtl-amaranth")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("lutsim: error: --impl rtl-amaranth would simulate ")
    assert result.stderr.endswith(
        " cycles, more than its limit of 200,000; use --impl rtl (Verilator) or a smaller problem\n"
    )
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["asm", "fifo", "-o", "p.bin"], "cannot read assembly file 'fifo': not a regular file"),
        (["disasm", "fifo"], "cannot read program file 'fifo': not a regular file"),
        (["disasm", "/dev/zero"], "cannot read program file '/dev/zero': not a regular file"),
        (["disasm", "--hex", "fifo"], "cannot read hex file 'fifo': not a regular file"),
        (["sweep", "fifo", "--out", "o"], "cannot read sweep spec 'fifo': not a regular file"),
        (["gemm", "--inputs", "fifo", "--out", "o.npz"], "cannot read fifo: not a regular file"),
        (["gemm", "--inputs", "/dev/zero", "--out", "o.npz"], "cannot read /dev/zero: not a regular file"),
    ],
)  # fmt: skip
def test_special_files_are_not_read(tmp_path, args, message):
    os.mkfifo(tmp_path / "fifo")
    fails(run(tmp_path, *args, timeout=60), 1, message)
