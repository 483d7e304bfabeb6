"""Static timing and power of a gate-level netlist with OpenSTA (Debian package ``opensta``).

:func:`timing` and :func:`power` each write one Tcl script, run ``sta`` on it and parse its
reports:

==================== ========================================================================
step                 what
==================== ========================================================================
read                 the liberty, the netlist, ``link_design <top>``
constraints          ``clk`` at the period; every other input arrives at 0 ns after the edge
                     (driven by the library's smallest buffer), every output is required at
                     the next edge with a load of 4 buffer inputs; ideal clock, no wire load
                     model (the OSU libraries have none): pin capacitances only
timing               on the synthesized netlist (hierarchy kept): ``report_checks -path_delay
                     max``, the worst setup path; its minimum period is ``clock - slack``
                     (setup time included), Fmax = 1 / that
activity             ``set_power_activity``: each input bit's measured toggles per
                     cycle and duty (:mod:`lutsim.reports.flow.activity`), the duty kept within
                     [0.01, 0.99] (:data:`DUTY_MIN`); ``rst`` 0. OpenSTA propagates them
                     through the gates; a register's output takes its data input's activity.
                     This 2019 build cannot annotate internal pins (its ``-pins`` option is
                     broken, ``set_power_pin_activity`` has no effect), so registers are
                     annotated through ports of the power netlist (:mod:`lutsim.reports.flow.power_netlist`)
power                on that netlist: ``report_power`` (W) of the design and of every
                     instance, internal, switching and leakage power at the clock period
==================== ========================================================================
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .liberty import Liberty

__all__ = [
    "DUTY_MIN",
    "Power",
    "Run",
    "Timing",
    "power",
    "power_runs",
    "sta_path",
    "sta_version",
    "timing",
]

_NUMBER = r"(-?[0-9.]+(?:e[-+]?[0-9]+)?)"
_POWER_ROW = re.compile(rf"^\s*{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}\s+(\S.*?)\s*$")
_TOTAL_ROW = re.compile(rf"^Total\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}")
_SLACK = re.compile(rf"^\s*{_NUMBER}\s+slack \((MET|VIOLATED)\)", re.M)
_POINT = re.compile(r"^(Startpoint|Endpoint): (\S+)", re.M)
_MARK = "LUTSIM-SECTION"
DUTY_MIN = 0.01
"""Input duties are kept within [DUTY_MIN, 1 - DUTY_MIN]: OpenSTA 2.0.17's propagation around
a register loop (the core's sequencer) turns a bit stuck at exactly 0 or 1 into NaN."""


@dataclass(frozen=True)
class Timing:
    """The worst setup path at ``clock_ns`` (ns)."""

    clock_ns: float
    slack_ns: float | None  # None: no constrained path
    startpoint: str | None
    endpoint: str | None

    @property
    def min_period_ns(self) -> float | None:
        return None if self.slack_ns is None else self.clock_ns - self.slack_ns


@dataclass(frozen=True)
class Power:
    """Power in mW at the clock period: the design's totals and each leaf instance's."""

    total_mw: dict[str, float]  # internal, switching, leakage, total
    instances_mw: dict[str, tuple[float, float, float, float]]  # same order


def sta_path() -> str:
    """The ``sta`` executable, or ValueError naming the Debian package."""
    found = shutil.which("sta")
    if found is None:
        raise ValueError("OpenSTA ('sta') is not on the PATH: install the Debian package opensta")
    return found


def sta_version() -> str:
    """``OpenSTA <version>`` as ``sta -version`` prints it."""
    done = subprocess.run(
        [sta_path(), "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    return f"OpenSTA {done.stdout.strip() or 'unknown'}"


def _read(
    netlist: Path, top: str, lib: Liberty, clock_ns: float, clocked: bool = True
) -> list[str]:
    """Read and constrain; ``clocked`` False: the netlist has no ``clk`` port, its ports are
    timed against a virtual clock of the same period."""
    lines = [
        f"read_liberty {{{lib.path}}}",
        f"read_verilog {{{netlist}}}",
        f"link_design {top}",
        f"create_clock -name clk -period {clock_ns:.6g}" + (" [get_ports clk]" if clocked else ""),
        "set data_inputs [delete_from_list [all_inputs] [get_ports clk]]",
        "set_input_delay 0 -clock clk $data_inputs",
        "set_output_delay 0 -clock clk [all_outputs]",
    ]
    # ports by name, looked up once: get_ports scans every port, so a command per port bit
    # with get_ports is quadratic (minutes for the 70 000 ports of a full-size power netlist)
    lines += [
        "set lutsim_ports [dict create]",
        "foreach port [concat [all_inputs] [all_outputs]] {",
        "  dict set lutsim_ports [get_full_name $port] $port",
        "}",
    ]
    if lib.buffer is not None:
        lines += [
            f"set_driving_cell -lib_cell {lib.buffer} $data_inputs",
            f"foreach pin [get_lib_pins {{{lib.name}/{lib.buffer}/*}}] {{",
            '  if {[get_property $pin direction] == "input"} {',
            "    set_load [expr 4 * [get_property $pin capacitance]] [all_outputs]",
            "  }",
            "}",
        ]
    return lines


def _run(lines: list[str], top: str) -> dict[str, str]:
    """Run the script; its sections (``puts LUTSIM-SECTION:<name>`` ... ) by name."""
    lines = [*lines, f"puts {_MARK}:end", "exit"]
    with tempfile.TemporaryDirectory(prefix="lutsim-sta.") as work:
        tcl = Path(work) / "run.tcl"
        tcl.write_text("\n".join(lines) + "\n")
        done = subprocess.run(
            [sta_path(), "-no_init", "-no_splash", "-exit", str(tcl)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    out = done.stdout
    errors = [ln for ln in (out + done.stderr).splitlines() if ln.startswith("Error")]
    if done.returncode != 0 or errors or f"{_MARK}:end" not in out:
        first = errors[0] if errors else f"exit status {done.returncode}"
        raise RuntimeError(f"OpenSTA failed on {top}: {first}")
    return dict(re.findall(rf"^{_MARK}:(\w+)\n(.*?)(?=^{_MARK}:)", out, re.M | re.S))


def _activity(ports: dict[str, int], activity, default, exact) -> list[str]:
    """``set_power_activity`` of every input port bit (see :func:`power`); ``exact`` holds
    port names and bits (``name[i]``) whose duty is kept as given."""
    lines = [f"set_power_activity -input -activity {default[0]:.6g} -duty {default[1]:.6g}"]
    for name, width in ports.items():
        if name == "clk":
            continue
        bits = ((0.0, 0.0),) if name == "rst" else activity.get(name, (default,) * width)
        for i, (rate, high) in enumerate(bits):
            port = name if width == 1 else f"{name}[{i}]"
            if name != "rst" and name not in exact and port not in exact:
                high = min(max(high, DUTY_MIN), 1 - DUTY_MIN)
                rate = min(rate, 2 * min(high, 1 - high))
            lines.append(
                f"sta::set_power_input_port_activity [dict get $lutsim_ports {{{port}}}] "
                f"{rate:.6g} {high:.6g}"
            )
    return lines


def timing(netlist: Path, top: str, lib: Liberty, clock_ns: float) -> Timing:
    """The worst setup path of ``netlist`` at ``clock_ns``."""
    lines = _read(netlist, top, lib, clock_ns)
    lines += [f"puts {_MARK}:checks", "report_checks -path_delay max -digits 4"]
    checks = _run(lines, top).get("checks", "")
    slack = _SLACK.search(checks)
    points = dict(_POINT.findall(checks))
    return Timing(
        clock_ns=clock_ns,
        slack_ns=float(slack.group(1)) if slack else None,
        startpoint=points.get("Startpoint"),
        endpoint=points.get("Endpoint"),
    )


def power(
    netlist: Path,
    top: str,
    lib: Liberty,
    clock_ns: float,
    ports: dict[str, int],
    activity: dict[str, tuple[tuple[float, float], ...]],
    default: tuple[float, float],
    exact: tuple[str, ...] = (),
) -> Power:
    """Power of ``netlist`` at ``clock_ns`` with the input ports' activity: ``ports`` maps
    each input port to its width, ``activity`` a port to one ``(toggles per cycle, duty)`` per
    bit (others get ``default``; ``rst`` is held at 0). Duties are kept within
    [DUTY_MIN, 1 - DUTY_MIN] except on ``rst`` and the ``exact`` ports (constants)."""
    lines = _read(netlist, top, lib, clock_ns)
    lines += _activity(ports, activity, default, exact)
    lines += [
        f"puts {_MARK}:power",
        "report_power -digits 6",
        f"puts {_MARK}:instances",
        "report_power -instances [get_cells *] -digits 6",
    ]
    sections = _run(lines, top)
    total = next(
        (m for line in sections.get("power", "").splitlines() if (m := _TOTAL_ROW.match(line))),
        None,
    )
    if total is None:
        raise RuntimeError(f"OpenSTA reported no power for {top}")
    return Power(total_mw=_kinds(total), instances_mw=_instances(sections.get("instances", "")))


_KINDS = ("internal", "switching", "leakage", "total")


def _kinds(total: re.Match) -> dict[str, float]:
    return {k: float(v) * 1e3 for k, v in zip(_KINDS, total.groups(), strict=True)}


def _instances(section: str) -> dict[str, tuple[float, float, float, float]]:
    instances = {}
    for line in section.splitlines():
        row = _POWER_ROW.match(line)
        if row:
            instances[row.group(5)] = tuple(float(v) * 1e3 for v in row.groups()[:4])
    return instances


@dataclass(frozen=True)
class Run:
    """One power analysis of :func:`power_runs`: input activities as :func:`power` takes
    them (``exact``: ports and bits kept as given), and loads (pF) on output port bits."""

    activity: dict[str, tuple[tuple[float, float], ...]]
    exact: frozenset[str] = frozenset()
    loads_pf: dict[str, float] = field(default_factory=dict)


def power_runs(
    netlist: Path,
    top: str,
    lib: Liberty,
    clock_ns: float,
    ports: dict[str, int],
    runs: list[Run],
    default: tuple[float, float],
    instances: tuple[str, ...] = (),
    clocked: bool = True,
    hierarchical: bool = False,
) -> list[Power]:
    """:func:`power` of ``netlist`` once per run, in one OpenSTA session (the netlist is read
    and linked once); each :class:`Power` holds the design's totals and, of its instances,
    only those matching the patterns ``instances`` (``hierarchical``: at any depth, named
    ``a/b/cell``)."""
    lines = _read(netlist, top, lib, clock_ns, clocked)
    for n, run in enumerate(runs):
        lines += _activity(ports, run.activity, default, run.exact)
        lines += [f"set_load {pf:.6g} [dict get $lutsim_ports {{{port}}}]"
                  for port, pf in run.loads_pf.items()]  # fmt: skip
        lines += [f"puts {_MARK}:power{n}", "report_power -digits 6"]
        if instances:
            cells = f"get_cells {'-hierarchical ' if hierarchical else ''}{{{' '.join(instances)}}}"
            lines += [f"puts {_MARK}:instances{n}", f"report_power -instances [{cells}] -digits 6"]
    sections = _run(lines, top)
    out = []
    for n in range(len(runs)):
        total = next((m for line in sections.get(f"power{n}", "").splitlines()
                      if (m := _TOTAL_ROW.match(line))), None)  # fmt: skip
        if total is None:
            raise RuntimeError(f"OpenSTA reported no power for {top}")
        out.append(Power(_kinds(total), _instances(sections.get(f"instances{n}", ""))))
    return out
