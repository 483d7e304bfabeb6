"""The netlist OpenSTA's power analysis runs on: flattened, each register output re-driven from
a port that carries the register's simulated activity.

OpenSTA 2.0.17 takes activity only at input ports (:mod:`lutsim.reports.flow.sta`); it derives every
register's output from the register's data input, which around a loop (an accumulator, the
sequencer) drifts to nonsense. So for power, every flip-flop whose output net is an RTL signal
the simulation recorded is **cut**: its output pin is left unconnected, and the net is driven
instead by the liberty's smallest buffer from a new input port ``lutsim_q<k>``, which gets the
register bit's measured toggle rate and duty. What OpenSTA then reports:

* every gate between registers sees measured register and input activities;
* the net a register drives: its switching power, on the buffer's output pin (the buffer's own
  internal and leakage power are dropped, they are not part of the design);
* the flip-flop itself: clock and internal power, its output activity being that of its data
  input (propagated from measured activities), at zero output load.

Flip-flops whose output net the simulation does not know (a name Yosys invented) keep their
connection and OpenSTA's own propagation. Timing analysis uses the unchanged netlist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .liberty import Liberty

__all__ = ["PORT_PREFIX", "RegisterBit", "cut", "register_bits", "wire_widths"]

PORT_PREFIX = "lutsim_q"
BUFFER_PREFIX = "lutsim_qbuf"
TIE_PORTS = {"lutsim_tie0": (0.0, 0.0), "lutsim_tie1": (0.0, 1.0)}
"""Ports that replace constants in the power netlist, with their (toggles, duty)."""

_INSTANCE = re.compile(r"^  (\S+) (\\\S+ |\S+) \($")
_CONNECTION = re.compile(r"^(\s*)\.(\w+)\((.*)\)(,?)$")
_NET = re.compile(r"^(\\\S+ |[A-Za-z_][\w$]*)(?:\s*\[(\d+)\])?$")
_WIRE = re.compile(r"^\s*(?:wire|input|output|inout)\s+(?:\[(\d+):(\d+)\]\s+)?(\\\S+ |\S+?)\s*;",
                   re.M)  # fmt: skip
_INTERNAL = re.compile(r"_\d+_")
_CONSTANT = re.compile(r"\b(\d+)'b([01]+)\b")


@dataclass(frozen=True)
class RegisterBit:
    """One flip-flop output of a flattened netlist and the RTL signal bit its net is."""

    net: str  # the connection as written, e.g. ``\\accs.a0 [5]`` or ``o_acc[3]``
    path: str  # module path of the signal, "" for the top
    name: str  # signal name in that module
    bit: int

    @property
    def signal(self) -> str:
        return f"{self.path}.{self.name}" if self.path else self.name


def _name(token: str) -> str:
    return token[1:].rstrip() if token.startswith("\\") else token


def register_bits(flat: str, lib: Liberty) -> list[RegisterBit]:
    """The flip-flop outputs of ``flat`` whose nets are named signals, in netlist order."""
    found = []
    cell = None
    for line in flat.splitlines():
        start = _INSTANCE.match(line)
        if start:
            cell = start.group(1)
            continue
        conn = _CONNECTION.match(line)
        if conn and cell in lib.sequential and conn.group(2) in lib.outputs(cell):
            net = _NET.match(conn.group(3).strip())
            if net:
                path, _, name = _name(net.group(1)).rpartition(".")
                if not _INTERNAL.fullmatch(name):
                    found.append(RegisterBit(conn.group(3), path, name, int(net.group(2) or 0)))
    return found


def wire_widths(flat: str) -> dict[str, int]:
    """Width of every wire and port of ``flat`` by its (unescaped) name."""
    return {
        _name(name): abs(int(hi) - int(lo)) + 1 if hi else 1 for hi, lo, name in _WIRE.findall(flat)
    }


def cut(flat: str, top: str, lib: Liberty, bits: list[RegisterBit]) -> str:
    """``flat`` with the flip-flops driving ``bits`` cut: bit k's net driven by a buffer from
    the new input port ``lutsim_q<k>``; and every constant driven by the port ``lutsim_tie0``
    or ``lutsim_tie1`` (:data:`TIE_PORTS`: OpenSTA 2.0.17 crashes in ``report_power`` on a
    constant assigned to a net that drives gates, and the OSU libraries have no tie cells)."""
    if bits and lib.buffer is None:
        raise ValueError(f"liberty {lib.name!r} has no buffer cell (BUF*) to drive registers' nets")
    index = {bit.net: k for k, bit in enumerate(bits)}
    out = []
    cell = None
    for line in flat.splitlines():
        start = _INSTANCE.match(line)
        if start:
            cell = start.group(1)
        conn = _CONNECTION.match(line)
        if conn and cell in lib.sequential and conn.group(3) in index:
            line = f"{conn.group(1)}.{conn.group(2)}(){conn.group(4)}"
        out.append(line)
    text = _CONSTANT.sub(_tie, "\n".join(out) + "\n")
    ports = [f"{PORT_PREFIX}{k}" for k in range(len(bits))]
    ports += [name for name in TIE_PORTS if re.search(rf"\b{name}\b", text)]
    if not ports:
        return text
    header = re.search(rf"^module \\?{re.escape(top)}\s*\((.*?)\);", text, re.M | re.S)
    declarations = "".join(f"  input {port};\n" for port in ports)
    head, tail = text[: header.end() - 2], text[header.end() + 1 :]
    text = f"{head}, {', '.join(ports)});\n{declarations}{tail}"
    if bits:
        (a,), (y,) = lib.inputs(lib.buffer), lib.outputs(lib.buffer)
        buffers = "".join(
            f"  {lib.buffer} {BUFFER_PREFIX}{k} (.{a}({PORT_PREFIX}{k}), .{y}({bit.net}));\n"
            for k, bit in enumerate(bits)
        )
        end = text.rindex("endmodule")
        text = text[:end] + buffers + text[end:]
    return text


def _tie(constant: re.Match) -> str:
    width, digits = int(constant.group(1)), constant.group(2).rjust(int(constant.group(1)), "0")
    ties = [f"lutsim_tie{d}" for d in digits[-width:]]
    return ties[0] if width == 1 else "{ " + ", ".join(ties) + " }"
