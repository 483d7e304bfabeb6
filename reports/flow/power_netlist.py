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
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

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


def cut(
    flat: str,
    top: str,
    lib: Liberty,
    bits: list[RegisterBit],
    *,
    inputs: list[str] | tuple[str, ...] = (),
    outputs: list[str] | tuple[str, ...] = (),
    lines: list[str] | tuple[str, ...] = (),
    disconnect: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> str:
    """``flat`` with the flip-flops driving ``bits`` cut: bit k's net driven by a buffer from
    the new input port ``lutsim_q<k>``; and every constant driven by the port ``lutsim_tie0``
    or ``lutsim_tie1`` (:data:`TIE_PORTS`: OpenSTA 2.0.17 crashes in ``report_power`` on a
    constant assigned to a net that drives gates, and the OSU libraries have no tie cells).
    ``inputs`` and ``outputs`` are further ports to declare, ``lines`` further statements,
    ``disconnect`` (instance, pin) further cell outputs to leave unconnected."""
    if bits and lib.buffer is None:
        raise ValueError(f"liberty {lib.name!r} has no buffer cell (BUF*) to drive registers' nets")
    index = {bit.net: k for k, bit in enumerate(bits)}
    out = []
    cell = None
    instance = None
    for line in flat.splitlines():
        start = _INSTANCE.match(line)
        if start:
            cell, instance = start.group(1), _name(start.group(2))
        conn = _CONNECTION.match(line)
        if conn and (
            (cell in lib.sequential and conn.group(3) in index)
            or (instance, conn.group(2)) in disconnect
        ):
            line = f"{conn.group(1)}.{conn.group(2)}(){conn.group(4)}"
        out.append(line)
    if bits:
        (a,), (y,) = lib.inputs(lib.buffer), lib.outputs(lib.buffer)
        lines = [f"  {lib.buffer} {BUFFER_PREFIX}{k} (.{a}({PORT_PREFIX}{k}), .{y}({bit.net}));"
                 for k, bit in enumerate(bits)] + list(lines)  # fmt: skip
    if lines:
        end = max(i for i, line in enumerate(out) if line.startswith("endmodule"))
        out[end:end] = lines
    text = _CONSTANT.sub(_tie, "\n".join(out) + "\n")
    ports = [f"{PORT_PREFIX}{k}" for k in range(len(bits))] + list(inputs)
    ports += [name for name in TIE_PORTS if re.search(rf"\b{name}\b", text)]
    if not ports and not outputs:
        return text
    header = re.search(rf"^module \\?{re.escape(top)}\s*\((.*?)\);", text, re.M | re.S)
    declarations = "".join(f"  input {port};\n" for port in ports)
    declarations += "".join(f"  output {port};\n" for port in outputs)
    head, tail = text[: header.end() - 2], text[header.end() + 1 :]
    listed = ", ".join([*ports, *outputs])
    return f"{head}{', ' if header.group(1).strip() else ''}{listed});\n{declarations}{tail}"


def _tie(constant: re.Match) -> str:
    width, digits = int(constant.group(1)), constant.group(2).rjust(int(constant.group(1)), "0")
    ties = [f"lutsim_tie{d}" for d in digits[-width:]]
    return ties[0] if width == 1 else "{ " + ", ".join(ties) + " }"


# ---- hierarchical netlists: one module at a time -------------------------------------------
Bit = tuple[str, int | None] | str
"""A bit of a module: ``(wire, index)`` (index None for a scalar wire), or ``"0"``/``"1"``."""

_MODULE = re.compile(r"^module (\\\S+ |\S+?)\s*\((.*?)\);\n(.*?)^endmodule\n", re.M | re.S)
_DECLARATION = re.compile(r"^  (input|output|inout|wire) +(?:\[(\d+):(\d+)\] +)?(\\\S+ |\S+?) *;$",
                          re.M)  # fmt: skip
_BLOCK = re.compile(r"^  (\\\S+ |[A-Za-z_][\w$]*) +(\\\S+ |[A-Za-z_][\w$]*) *\(\n(.*?)^  \);\n",
                    re.M | re.S)  # fmt: skip
_PIN = re.compile(r"^\s*\.(\\\S+ |\w+)\((.*)\),?$")
_ASSIGN = re.compile(r"^  assign (.*?) = (.*);$", re.M)
_TOKEN = re.compile(r"\s*(?:(\\\S+(?: |$))|([A-Za-z_][\w$]*)|(\d+)'b([01xz]+)|\[\s*(\d+)\s*(?::\s*(\d+)"
                    r"\s*)?\]|([{},]))")  # fmt: skip


@dataclass(frozen=True)
class Instance:
    """A cell or submodule instance of a module: its type, name and connections (pin or port
    -> its bits, bit 0 first)."""

    kind: str
    name: str
    pins: dict[str, tuple[Bit, ...]]


@dataclass
class Module:
    """One module of a hierarchical gate netlist, parsed."""

    name: str
    text: str  # the module as written, ``module ... endmodule``
    ports: dict[str, tuple[str, int]]  # name -> (direction, width), in order
    wires: dict[str, tuple[int, int] | None]  # name -> (msb, lsb), None for a scalar
    cells: list[Instance]  # liberty cells
    children: list[Instance]  # submodules
    assigns: list[tuple[tuple[Bit, ...], tuple[Bit, ...]]]
    nets: dict[Bit, Bit] = field(default_factory=dict)  # bit -> its net's representative

    def net(self, bit: Bit) -> Bit:
        """The net of ``bit``: one representative of the bits ``assign`` joins (a constant
        if the net is tied)."""
        seen = []
        while bit in self.nets and self.nets[bit] != bit:
            seen.append(bit)
            bit = self.nets[bit]
        for other in seen:
            self.nets[other] = bit
        return bit

    def ref(self, bit: Bit) -> str:
        """``bit`` as Verilog."""
        if isinstance(bit, str):
            return f"1'b{bit}"
        name, index = bit
        token = name if re.fullmatch(r"[A-Za-z_][\w$]*", name) else f"\\{name} "
        return token if index is None else f"{token}[{index}]"


def parse_modules(netlist: str, lib: Liberty) -> dict[str, Module]:
    """Every module of a hierarchical Yosys netlist (``write_verilog -noattr -noexpr -nohex
    -nodec -simple-lhs``) by name."""
    modules = {}
    for match in _MODULE.finditer(netlist):
        name, body = _name(match.group(1)), match.group(3)
        wires: dict[str, tuple[int, int] | None] = {}
        ports: dict[str, tuple[str, int]] = {}
        for way, hi, lo, wire in _DECLARATION.findall(body):
            wire = _name(wire)
            wires[wire] = (int(hi), int(lo)) if hi else None
            if way != "wire":
                ports[wire] = (way, abs(int(hi) - int(lo)) + 1 if hi else 1)
        order = [_name(p.strip()) for p in match.group(2).split(",")]
        ports = {p: ports[p] for p in order if p in ports}
        cells, children = [], []
        for kind, inst, connections in _BLOCK.findall(body):
            pins = {}
            for line in connections.splitlines():
                pin = _PIN.match(line)
                if pin:
                    pins[_name(pin.group(1))] = _bits(pin.group(2), wires)
            kind = _name(kind)
            (cells if kind in lib.cell_area_um2 else children).append(
                Instance(kind, _name(inst), pins)
            )
        assigns = [(_bits(lhs, wires), _bits(rhs, wires)) for lhs, rhs in _ASSIGN.findall(body)]
        module = Module(name, match.group(0), ports, wires, cells, children, assigns)
        for lhs, rhs in assigns:
            for a, b in zip(lhs, rhs, strict=True):
                a, b = module.net(a), module.net(b)
                if a != b and not (isinstance(a, str) and isinstance(b, str)):
                    if isinstance(a, str):  # a constant stays the representative
                        a, b = b, a
                    module.nets[a] = b
        modules[name] = module
    return modules


def _bits(expression: str, wires: dict[str, tuple[int, int] | None]) -> tuple[Bit, ...]:
    """The bits of a connection or ``assign`` side, bit 0 first (empty: unconnected)."""
    msb_first: list[Bit] = []
    pos = 0
    expression = expression.strip()
    last: str | None = None
    while pos < len(expression):
        token = _TOKEN.match(expression, pos)
        if token is None:
            raise RuntimeError(f"cannot read the netlist expression {expression!r}")
        pos = token.end()
        escaped, simple, width, digits, hi, lo, punct = token.groups()
        if escaped or simple:
            last = _name(escaped or simple)
            span = wires.get(last)
            msb_first += [(last, None)] if span is None else [(last, i) for i in _span(*span)]
        elif digits:
            msb_first += list(digits.replace("x", "0").replace("z", "0").rjust(int(width), "0"))
        elif hi:  # a select of the wire just read
            span = wires[last]
            del msb_first[len(msb_first) - len(_span(*span)) :]
            msb_first += [(last, i) for i in _span(int(hi), int(lo if lo else hi))]
    return tuple(reversed(msb_first))


def _span(hi: int, lo: int) -> list[int]:
    return list(range(hi, lo - 1, -1)) if hi >= lo else list(range(hi, lo + 1))


def port_bits(module: Module, port: str) -> tuple[Bit, ...]:
    """The bits of ``port`` of ``module``, bit 0 first."""
    span = module.wires[port]
    return ((port, None),) if span is None else tuple((port, i) for i in reversed(_span(*span)))


def port_bit(module: Module, port: str, i: int) -> Bit:
    """``port_bits(module, port)[i]``, without building the others."""
    span = module.wires[port]
    if span is None:
        if i != 0:
            raise IndexError(f"bit {i} of the 1-bit port {port!r}")
        return (port, None)
    hi, lo = span
    if not 0 <= i <= abs(hi - lo):
        raise IndexError(f"bit {i} of the {abs(hi - lo) + 1}-bit port {port!r}")
    return (port, lo + i if hi >= lo else lo - i)


class Loads:
    """Capacitive loads (pF, the liberty's input pin capacitances) a module's input ports
    present to the nets that drive them, cells and submodules' inputs below them included
    (the same for every instance)."""

    def __init__(self, modules: dict[str, Module], lib: Liberty):
        self.modules, self.lib = modules, lib
        self._nets: dict[str, dict[Bit, float]] = {}
        self._inputs: dict[str, dict[tuple[str, int], float]] = {}

    def nets(self, name: str) -> dict[Bit, float]:
        """Load on every net of module ``name`` from its cells and its submodules' inputs."""
        if name not in self._nets:
            module = self.modules[name]
            loads: dict[Bit, float] = {}
            for cell in module.cells:
                caps = self.lib.input_pf.get(cell.kind, {})
                for pin, bits in cell.pins.items():
                    if pin in caps and bits:
                        net = module.net(bits[0])
                        loads[net] = loads.get(net, 0.0) + caps[pin]
            for child in module.children:
                inner = self.inputs(child.kind)
                for port, bits in child.pins.items():
                    for i, bit in enumerate(bits):
                        if (port, i) in inner:
                            net = module.net(bit)
                            loads[net] = loads.get(net, 0.0) + inner[port, i]
            self._nets[name] = loads
        return self._nets[name]

    def inputs(self, name: str) -> dict[tuple[str, int], float]:
        """``(port, bit)`` -> the load of module ``name``'s input port bit."""
        if name not in self._inputs:
            module, nets = self.modules[name], self.nets(name)
            self._inputs[name] = {
                (port, i): nets.get(module.net(bit), 0.0)
                for port, (way, _) in module.ports.items()
                if way == "input"
                for i, bit in enumerate(port_bits(module, port))
            }
        return self._inputs[name]


def driver(
    modules: dict[str, Module], tree: dict[str, str], path: str, port: str, bit: int
) -> str | None:
    """The path of the instance whose own cells drive output ``port`` bit ``bit`` of the
    instance at ``path`` (a submodule's, when the port passes its output on); None when no
    cell does: the bit is one of that instance's inputs passed through, or a constant."""
    module = modules[tree[path]]
    net = module.net(port_bit(module, port, bit))
    if isinstance(net, str):
        return None
    for name, (way, _) in module.ports.items():
        if way == "input" and any(module.net(b) == net for b in port_bits(module, name)):
            return None
    for child in module.children:
        inner = modules[child.kind]
        for name, bits in child.pins.items():
            if inner.ports[name][0] == "output":
                for i, b in enumerate(bits):
                    if not isinstance(b, str) and module.net(b) == net:
                        return driver(modules, tree, f"{path}.{child.name}" if path else child.name,
                                      name, i)  # fmt: skip
    return path


@dataclass(frozen=True)
class Part:
    """The power netlist of one module's own cells (``text``, module ``name``): its
    submodules removed, the bits their outputs drive re-driven by a buffer from the input port
    ``lutsim_c<k>`` (``children[k]``: instance, port, bit; the buffer's switching power is
    that net's in this module, at its simulated activity; its internal and leakage power are
    not the design's), likewise the nets into submodules that this module's cells drive
    (``children[k]`` for k >= ``outputs``: the submodule's input; the driving cell's output
    left unconnected), the loads their inputs present on the output ports ``lutsim_l<k>``
    (``loads_pf[k]``), the flip-flops of ``registers`` cut as :func:`cut` does
    (``lutsim_q<k>``), constants on the :data:`TIE_PORTS`."""

    name: str
    text: str
    registers: tuple[RegisterBit, ...]
    children: tuple[tuple[str, str, int], ...]  # the first ``outputs`` are outputs
    outputs: int
    loads_pf: tuple[float, ...]
    constants: dict[tuple[str, str, int], str]  # child output bits the child ties: 0 or 1


CHILD_PREFIX = "lutsim_c"
CHILD_BUFFER_PREFIX = "lutsim_cbuf"
LOAD_PREFIX = "lutsim_l"
PART_TOP = "lutsim_part"


def part(
    module: Module,
    modules: dict[str, Module],
    lib: Liberty,
    registers,
    loads: Loads,
    inline: frozenset[str] = frozenset(),
    outputs: bool = False,
) -> Part:
    """The :class:`Part` of ``module`` with the flip-flops driving ``registers`` cut; the
    submodule instances named in ``inline`` are kept, with all below them (their nets are
    not measured: OpenSTA propagates activity through them, as in a flat analysis);
    ``outputs``: the nets on its own output ports that its cells drive are driven from their
    simulated activity too (``children[k]`` with instance "")."""
    if lib.buffer is None:
        raise ValueError(f"liberty {lib.name!r} has no buffer cell (BUF*) to drive nets")
    text = module.text
    cut_off = [child for child in module.children if child.name not in inline]
    for child in cut_off:
        block = re.search(rf"^  \S+ +{re.escape(module.ref((child.name, None)))} *\(\n.*?^  \);\n",
                          text, re.M | re.S)  # fmt: skip
        text = text[: block.start()] + text[block.end() :]
    driven, constants = [], {}
    load_of: dict[Bit, float] = {}
    for child in cut_off:
        inner = modules[child.kind]
        inputs = loads.inputs(child.kind)
        for port, (way, _) in inner.ports.items():
            for i, bit in enumerate(child.pins.get(port, ())):
                if way == "output" and not isinstance(bit, str):
                    tied = inner.net(port_bit(inner, port, i))
                    if isinstance(tied, str):
                        constants[child.name, port, i] = tied
                    driven.append(((child.name, port, i), bit))
                elif way == "input" and inputs.get((port, i)):
                    net = module.net(bit)
                    if not isinstance(net, str):
                        load_of[net] = load_of.get(net, 0.0) + inputs[port, i]
    # a net into a submodule that a cell of this module drives: driven from the submodule's
    # input as simulated, like a register's (the cell's output left unconnected)
    drivers = {module.net(bits[0]): (cell.name, pin) for cell in module.cells
               for pin, bits in cell.pins.items() if pin in lib.outputs(cell.kind) and bits}  # fmt: skip
    inner_driven = []
    for child in cut_off:
        for port, (way, _) in modules[child.kind].ports.items():
            for i, bit in enumerate(child.pins.get(port, ())):
                if way == "input" and not isinstance(bit, str):
                    net = module.net(bit)
                    if net in drivers and net not in {n for _, n in inner_driven}:
                        inner_driven.append(((child.name, port, i), net))
    if outputs:
        for port, (way, _) in module.ports.items():
            for i, bit in enumerate(port_bits(module, port) if way == "output" else ()):
                net = module.net(bit)
                if net in drivers and net not in {n for _, n in inner_driven}:
                    inner_driven.append((("", port, i), net))
    registers_at = {module.net(_bits(r.net, module.wires)[0]) for r in registers}
    inner_driven = [(c, net) for c, net in inner_driven if net not in registers_at]
    (a,), (y,) = lib.inputs(lib.buffer), lib.outputs(lib.buffer)
    boundary = driven + inner_driven
    lines = [f"  {lib.buffer} {CHILD_BUFFER_PREFIX}{k} (.{a}({CHILD_PREFIX}{k}), "
             f".{y}({module.ref(bit)}));" for k, (_, bit) in enumerate(boundary)]  # fmt: skip
    lines += [f"  assign {LOAD_PREFIX}{k} = {module.ref(net)};" for k, net in enumerate(load_of)]
    below, ties = _inlined(module, modules, lib, inline)
    text = _tie_instances(text, ties)
    text = re.sub(r"^module \S+ ?\(", f"module {PART_TOP}(", text, count=1, flags=re.M)
    text = cut(
        text, PART_TOP, lib, list(registers),
        inputs=[f"{CHILD_PREFIX}{k}" for k in range(len(boundary))],
        outputs=[f"{LOAD_PREFIX}{k}" for k in range(len(load_of))],
        lines=lines,
        disconnect={drivers[net] for _, net in inner_driven},
    )  # fmt: skip
    return Part(module.name, text + below, tuple(registers), tuple(c for c, _ in boundary),
                len(driven), tuple(load_of.values()), constants)  # fmt: skip


def _inlined(module: Module, modules, lib, inline) -> tuple[str, dict[str, list[str]]]:
    """The modules below ``module``'s instances ``inline``, each written once, constants
    on tie ports they pass down; and the tie ports of each of those modules."""
    order: list[str] = []

    def visit(name: str) -> None:
        for child in modules[name].children:
            visit(child.kind)
        if name not in order:
            order.append(name)

    for child in module.children:
        if child.name in inline:
            visit(child.kind)
    ties: dict[str, list[str]] = {}
    texts = []
    for name in order:  # bottom-up: a module's tie ports are known before its users'
        text = cut(_tie_instances(modules[name].text, ties), name, lib, [])
        ties[name] = [t for t in TIE_PORTS if re.search(rf"^  input {t};$", text, re.M)]
        texts.append(text)
    return "".join(texts), ties


def _tie_instances(text: str, ties: dict[str, list[str]]) -> str:
    """``text`` with the tie ports connected on every instance of a module in ``ties``."""
    for name, ports in ties.items():
        if ports:
            head = re.escape(f"\\{name} " if not re.fullmatch(r"[A-Za-z_][\w$]*", name) else name)
            pins = "".join(f",\n    .{t}({t})" for t in ports)
            text = re.sub(rf"(^  {head} +\S+ *\(\n.*?)\n(  \);\n)",
                          lambda m, pins=pins: f"{m.group(1)}{pins}\n{m.group(2)}", text,
                          flags=re.M | re.S)  # fmt: skip
    return text


class Sources:
    """Where the activity of a net of a hierarchical netlist was measured. A simulation
    names a signal in every scope that uses it, and those names need not be the Verilog ones
    (a module's port may be ``i_shift$9`` in its own scope); only the ports of **leaf**
    modules (no submodules) and the top's inputs are named alike in both. :meth:`find` follows
    a net across module boundaries to the first of those on it."""

    def __init__(self, modules: dict[str, Module], tree: dict[str, str]):
        self.modules, self.tree = modules, tree
        self._where: dict[str, dict[Bit, list[tuple[str, str, int, str]]]] = {}
        self._named: dict[str, dict[str, Instance]] = {}

    def _ends(self, path: str) -> dict[Bit, list[tuple[str, str, int, str]]]:
        """Net of the module at ``path`` -> (instance path, port, bit, kind) on it: its
        submodules' ports ("child") and its own ports ("port")."""
        if path not in self._where:
            module = self.modules[self.tree[path]]
            ends: dict[Bit, list[tuple[str, str, int, str]]] = {}
            for port in module.ports:
                for i, bit in enumerate(port_bits(module, port)):
                    ends.setdefault(module.net(bit), []).append((path, port, i, "port"))
            for child in module.children:
                at = f"{path}.{child.name}" if path else child.name
                for port, bits in child.pins.items():
                    for i, bit in enumerate(bits):
                        if not isinstance(bit, str):
                            ends.setdefault(module.net(bit), []).append((at, port, i, "child"))
            self._where[path] = ends
        return self._where[path]

    def _children(self, name: str) -> dict[str, Instance]:
        if name not in self._named:
            self._named[name] = {child.name: child for child in self.modules[name].children}
        return self._named[name]

    def leaf(self, path: str) -> bool:
        return not self.modules[self.tree[path]].children

    def find(self, path: str, port: str, bit: int) -> list[tuple[str, str, int] | str]:
        """For port ``port`` bit ``bit`` of the instance at ``path``, what measured its net,
        nearest first: ``("signal", name, bit)`` (a leaf port, ``path.port``; a simulation
        may record a signal under one of its names only, so all of them), ``("input", port,
        bit)`` (a top input), or a constant ``"0"``/``"1"`` (then alone)."""
        return list(self.search([(path, port, bit)]))

    def find_net(self, path: str, bit: Bit) -> Iterator[tuple[str, str, int] | str]:
        """:meth:`find` for the net of ``bit`` of the module at ``path``, lazily."""
        net = self.modules[self.tree[path]].net(bit)
        if isinstance(net, str):
            return iter([net])
        return self.search([(p, n, b) for p, n, b, _ in self._ends(path).get(net, ())])

    def search(self, todo: list[tuple[str, str, int]]) -> Iterator[tuple[str, str, int] | str]:
        """:meth:`find` from the port bits ``todo`` (instance path, port, bit), lazily: a
        constant ends it."""
        queue = deque(dict.fromkeys(todo))  # breadth first: nearest first
        seen = set(queue)
        expanded = set()  # (path, net): every end of it is queued or seen already
        while queue:
            at, name, i = queue.popleft()
            module = self.modules[self.tree[at]]
            if not at and module.ports[name][0] == "input":
                yield ("input", name, i)
                continue
            nets = [(at, module.net(port_bit(module, name, i)))]
            if at:  # outside: the parent's net on this port
                parent, _, leaf = at.rpartition(".")
                outer = self.modules[self.tree[parent]]
                bits = self._children(outer.name)[leaf].pins.get(name, ())
                if i < len(bits):
                    nets.append((parent, outer.net(bits[i])))
            tied = next((net for _, net in nets if isinstance(net, str)), None)
            if tied is not None:
                yield tied
                return
            if at and self.leaf(at):
                yield ("signal", f"{at}.{name}", i)
            for where, net in nets:
                if (where, net) in expanded:
                    continue
                expanded.add((where, net))
                for p, n, b, kind in self._ends(where).get(net, ()):
                    end = (p, n, b) if kind == "child" else (where, n, b)
                    if end not in seen:
                        seen.add(end)
                        queue.append(end)
