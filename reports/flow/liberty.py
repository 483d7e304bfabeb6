"""A standard-cell library (Liberty ``.lib``) as synthesis needs it: checked, named, hashed.

:func:`read_liberty` reads the file once, checks that it is a Liberty library with at least one
flip-flop, and returns a :class:`Liberty`: its path, SHA-256 (part of every synthesis cache
key), library name, nominal voltage, cell areas and the node it represents. The default is OSU
0.18 µm from the Debian package ``qflow-tech-osu018`` (:data:`DEFAULT_LIBERTY`). Nodes of the
libraries we know are in :data:`KNOWN_LIBRARIES`; any other library is synthesized as well, but
its node is unknown, so its results are not scaled to other nodes.

This is not a Liberty parser: Yosys and OpenSTA read the file. It reads the few attributes we
report, with the one-line errors of :mod:`lutsim.common`'s style.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_LIBERTY", "KNOWN_LIBRARIES", "Liberty", "read_liberty"]

DEFAULT_LIBERTY = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib"

# fmt: off
KNOWN_LIBRARIES: dict[str, tuple[str, float]] = {   # library name: (label, node in nm)
    "osu018_stdcells": ("OSU 0.18 µm", 180.0),  # Oklahoma State Univ. cells, TSMC 0.18 µm rules
}
# fmt: on

_LIBRARY = re.compile(r"^\s*library\s*\(\s*\"?([^\s\")]+)\"?\s*\)\s*\{", re.M)
_CELL = re.compile(r"^\s*cell\s*\(\s*\"?([^\s\")]+)\"?\s*\)\s*\{", re.M)
_AREA = re.compile(r"^\s*area\s*:\s*([0-9.eE+-]+)\s*;", re.M)
_FF = re.compile(r"^\s*ff\s*\(", re.M)
_LATCH = re.compile(r"^\s*latch\s*\(", re.M)
_VOLTAGE = re.compile(r"^\s*nom_voltage\s*:\s*([0-9.eE+-]+)\s*;", re.M)
_CAP_UNIT = re.compile(r"^\s*capacitive_load_unit\s*\(\s*([0-9.eE+-]+)\s*,\s*(\w+)\s*\)", re.M)
_PIN_CAP = re.compile(r"^\s*capacitance\s*:\s*([0-9.eE+-]+)\s*;", re.M)
_CAP_PF = {"pf": 1.0, "ff": 1e-3}
_PIN = re.compile(r"^\s*pin\s*\(\s*\"?(\w+)\"?\s*\)\s*\{", re.M)
_DIRECTION = re.compile(r"direction\s*:\s*(\w+)\s*;")


@dataclass(frozen=True)
class Liberty:
    """A checked Liberty file."""

    path: str  # absolute
    sha256: str
    name: str  # the library group's name
    nom_voltage: float | None  # V
    cell_area_um2: dict[str, float]
    sequential: frozenset[str]  # cells with an ff or latch group
    buffer: str | None  # the smallest BUF* cell: drives inputs and loads outputs in analysis
    buffer_input_pf: float | None  # its input capacitance
    pins: dict[str, tuple[tuple[str, str], ...]]  # every cell: (pin, direction)
    input_pf: dict[str, dict[str, float]]  # every cell: input pin -> capacitance (pF)
    node_nm: float | None  # None: a library we do not know
    label: str  # e.g. "OSU 0.18 µm"

    def outputs(self, cell: str) -> tuple[str, ...]:
        """Output pins of a cell."""
        return tuple(pin for pin, way in self.pins.get(cell, ()) if way == "output")

    def inputs(self, cell: str) -> tuple[str, ...]:
        return tuple(pin for pin, way in self.pins.get(cell, ()) if way == "input")

    @property
    def node_label(self) -> str:
        return f"{self.label} (synthesized)"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "name": self.name,
            "nom_voltage": self.nom_voltage,
            "node_nm": self.node_nm,
            "node": self.node_label,
        }


def read_liberty(path: str | Path | None = None) -> Liberty:
    """The Liberty file at ``path`` (default :data:`DEFAULT_LIBERTY`), checked; ValueError with
    one line when it cannot be read or is not a usable library."""
    resolved = Path(path if path is not None else DEFAULT_LIBERTY).expanduser().resolve()
    try:
        raw = resolved.read_bytes()
    except OSError as err:
        hint = " (install the Debian package qflow-tech-osu018)" if path is None else ""
        raise ValueError(
            f"cannot read liberty file {str(path or DEFAULT_LIBERTY)!r}: "
            f"{err.strerror or err}{hint}"
        ) from None
    return _parse(str(resolved), raw, str(path or DEFAULT_LIBERTY))


@functools.lru_cache(maxsize=8)
def _parse(path: str, raw: bytes, shown: str) -> Liberty:
    text = raw.decode("utf-8", errors="replace")
    library = _LIBRARY.search(text)
    if library is None:
        raise ValueError(f"{shown!r} is not a liberty file: it has no library(...) group")
    cells = list(_CELL.finditer(text))
    if not cells:
        raise ValueError(f"liberty file {shown!r} defines no cells")
    areas, sequential, bodies = {}, set(), {}
    for i, cell in enumerate(cells):
        end = cells[i + 1].start() if i + 1 < len(cells) else len(text)
        name = cell.group(1)
        bodies[name] = (cell.end(), end)
        area = _AREA.search(text, cell.end(), end)
        areas[name] = float(area.group(1)) if area else 0.0
        if _FF.search(text, cell.end(), end) or _LATCH.search(text, cell.end(), end):
            sequential.add(name)
    if not _FF.search(text):
        raise ValueError(f"liberty file {shown!r} has no flip-flop cell (no ff group)")
    buffers = sorted((area, name) for name, area in areas.items() if name.upper().startswith("BUF"))
    buffer = buffers[0][1] if buffers else None
    unit = _CAP_UNIT.search(text)
    scale = float(unit.group(1)) * _CAP_PF.get(unit.group(2).lower(), 1.0) if unit else 1.0
    pins, input_pf = {}, {}
    for name, (start, end) in bodies.items():
        found = list(_PIN.finditer(text, start, end))
        directions = []
        input_pf[name] = {}
        for i, pin in enumerate(found):
            stop = found[i + 1].start() if i + 1 < len(found) else end
            direction = _DIRECTION.search(text, pin.end(), stop)
            way = direction.group(1) if direction else "input"
            directions.append((pin.group(1), way))
            cap = _PIN_CAP.search(text, pin.end(), stop)
            if way == "input":
                input_pf[name][pin.group(1)] = float(cap.group(1)) * scale if cap else 0.0
        pins[name] = tuple(directions)
    voltage = _VOLTAGE.search(text)
    name = library.group(1)
    label, node = KNOWN_LIBRARIES.get(name, (name, None))
    return Liberty(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        name=name,
        nom_voltage=float(voltage.group(1)) if voltage else None,
        cell_area_um2=areas,
        sequential=frozenset(sequential),
        buffer=buffer,
        buffer_input_pf=next(iter(input_pf[buffer].values()), None) if buffer else None,
        pins=pins,
        input_pf=input_pf,
        node_nm=node,
        label=label,
    )
