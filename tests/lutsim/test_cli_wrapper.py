"""``lutsim export --wrapper``, run as a user runs it (the testbench itself is exercised in
tests/hw/test_wrapper_export.py)."""

import pytest

from lutsim.isa.config import load_config
from tests.lutsim.test_cli import fails, ok, run, usage_error


def test_export_wrapper(tmp_path):
    cfg = load_config("m2n64k4", ["n=4"])
    args = ["export", "--wrapper", "axi-lite", "--set", "n=4", "--data-words", "512", "-o", "ip"]
    out = ok(run(tmp_path, *args, "--program-instrs", "100", "--tb-gemm", "2,4,32", "--lint"))
    assert out.splitlines() == [
        f"wrote lut_axil ({cfg.mnemonic}, axi-lite slave, 512-word scratchpad, "
        "100-instruction program memory) to ip/",
        "files: lut_axil.v, lut_axil.core, tb_lut_axil.v, program.hex, memory.hex, expected.hex, "
        "README.md",
        "lint clean: verilator --lint-only -Wall, 6 waivers",
    ]
    assert "random 2x4x32 GEMM (1 tiles)" in (tmp_path / "ip" / "README.md").read_text()
    out = ok(run(tmp_path, "export", "--wrapper", "wishbone", "--top", "lut", "-o", "wb",
                 "--set", "n=4"))  # fmt: skip
    assert out.splitlines()[1].startswith("files: lut.v, lut.core, tb_lut.v, ")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--data-words", "100"], 1, "scratchpad words must be a positive multiple of bus_words (8), not 100"),
        (["--data-words", "256"], 1, "the testbench GEMM 3x5x64 needs 280 scratchpad words; the wrapper has 256"),
        (["--program-instrs", "0"], 1, "program instructions must be 1 to 1048576, not 0"),
        (["--set", "bus_words=3"], 1, "the scratchpad needs bus_words to be a power of two, not 3"),
        (["--tb-gemm", "2,x,3"], 2, "--tb-gemm must be M,N,K (positive integers), not '2,x,3'"),
        (["--tb-gemm", "2,0,3"], 2, "--tb-gemm must be M,N,K (positive integers), not '2,0,3'"),
        (["--top", "a b"], 1, "top module name 'a b' is not a Verilog identifier"),
    ],
)  # fmt: skip
def test_export_wrapper_errors(tmp_path, args, code, message):
    fails(run(tmp_path, "export", "--wrapper", "axi-lite", "--set", "n=4", "-o", "ip", *args),
          code, message)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_export_wrapper_usage(tmp_path):
    (tmp_path / "file").write_text("")
    fails(run(tmp_path, "export", "--wrapper", "wishbone", "--set", "n=4", "-o", "file"), 1,
          "'file' exists and is not a directory")  # fmt: skip
    fails(run(tmp_path, "export", "--set", "n=4", "-o", "c.v", "--tb-gemm", "1,2,3"), 2,
          "--tb-gemm needs --wrapper")  # fmt: skip
    message = usage_error(run(tmp_path, "export", "--wrapper", "apb", "-o", "x"))
    assert "invalid choice: 'apb'" in message
