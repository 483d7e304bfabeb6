import subprocess
import time

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.hw import vlbuild


class Counter(wiring.Component):
    """Counts enabled clock cycles modulo 2^width."""

    def __init__(self, width: int):
        super().__init__({"i_en": In(1), "o_count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.i_en):
            m.d.sync += self.o_count.eq(self.o_count + 1)
        return m


MAIN = r"""
#include <cstdio>
#include <cstdlib>
#include "Vcounter.h"

int main(int argc, char **argv) {
    Vcounter top;
    int cycles = std::atoi(argv[1]);
    top.rst = 1; top.clk = 0; top.eval(); top.clk = 1; top.eval(); top.rst = 0;
    for (int i = 0; i < cycles; ++i) {
        top.i_en = (i % 3) != 0;
        top.clk = 0; top.eval();
        top.clk = 1; top.eval();
    }
    std::printf("%u\n", (unsigned)top.o_count);
    return 0;
}
"""


@pytest.fixture(scope="module")
def counter_verilog() -> str:
    return vlbuild.verilog_of(Counter(8), "counter")


def test_verilog_has_ports(counter_verilog):
    assert "module counter" in counter_verilog
    for port in ("clk", "rst", "i_en", "o_count"):
        assert port in counter_verilog


def test_build_runs_and_counts(counter_verilog):
    exe = vlbuild.build(counter_verilog, "counter", MAIN)
    out = subprocess.run([exe, "1000"], capture_output=True, text=True, check=True).stdout
    exp = sum(1 for i in range(1000) if i % 3) % 256
    assert int(out) == exp, f"{int(out):08b} != {exp:08b} (expected)"


def test_model_split_into_pieces_builds(counter_verilog):
    exe = vlbuild.build(counter_verilog, "counter", MAIN, extra_args=("--output-split", "1"))
    out = subprocess.run([exe, "9"], capture_output=True, text=True, check=True).stdout
    assert int(out) == 6, f"{int(out):08b} != {6:08b} (expected)"


def test_second_build_is_cache_hit(counter_verilog):
    first = vlbuild.build(counter_verilog, "counter", MAIN)
    start = time.perf_counter()
    second = vlbuild.build(counter_verilog, "counter", MAIN)
    assert second == first
    assert time.perf_counter() - start < 0.5


def test_cache_dir_argument(counter_verilog, tmp_path):
    exe = vlbuild.build(counter_verilog, "counter", MAIN, cache_dir=tmp_path)
    assert exe.parent.parent == tmp_path
    assert exe.is_file()
    assert sorted(p.name for p in exe.parent.iterdir()) == ["build.log", "main.cpp", "sim", "top.v"]


def test_build_failure_names_first_error(counter_verilog, tmp_path):
    broken = MAIN.replace("top.eval(); top.rst = 0;", "top.eval() top.rst = 0;")
    with pytest.raises(RuntimeError, match=r"^verilator build of counter failed: .*error.*\(log: "):
        vlbuild.build(counter_verilog, "counter", broken, cache_dir=tmp_path)
    assert list(tmp_path.glob("*.failed/build.log"))
    assert not list(tmp_path.glob("*/sim"))


def test_lint_clean_with_waivers(counter_verilog):
    waivers = ("-Wno-PROCASSINIT", "-Wno-UNUSEDSIGNAL")
    assert vlbuild.lint(counter_verilog, "counter", waivers) == []


def test_lint_reports_warnings():
    bad = "module bad(input [7:0] a, output [3:0] y);\n  assign y = a;\nendmodule\n"
    warnings = vlbuild.lint(bad, "bad", ())
    assert warnings and all(w.startswith("%Warning") for w in warnings)
    assert any("WIDTH" in w for w in warnings)


def test_version_names_verilator():
    assert vlbuild.verilator_version()
    assert (vlbuild.verilator_root() / "bin" / "verilator").is_file()
