"""Units placed in an array either inline or as instances of one shared Verilog module.

Amaranth elaborates every submodule anew and writes one Verilog module per instance: the
full-size FP16 MAC array (M2N64K4) is 512 fp16 multipliers and 512 fp32 adders, 1,025 modules
and about 12 MB of Verilog, and most of its export time goes into elaborating the same unit
again and again. :func:`place` can put a unit in as an ``Instance`` of a module named by the
unit (``unit.module_name``) instead; the array remembers one unit of each kind (its
``shared_units``: module name -> unit) and :func:`lutsim.hw.vlbuild.verilog_of` appends each
such module's Verilog once. The logic is the
same, and so is the instance hierarchy that synthesis and activity see (the instance names do
not change). Amaranth's simulator cannot run an ``Instance``: a design with shared units is
for export only (Yosys, Verilator).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from amaranth.hdl import Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

__all__ = ["place"]


def place(
    m: Module, name: str, unit: wiring.Component, shared: dict[str, wiring.Component] | None
) -> Any:
    """Put ``unit`` into ``m`` as submodule ``name`` and return what to connect: the unit
    itself, or, with ``shared`` (module name -> unit, filled as the array elaborates), an
    ``Instance`` of ``unit.module_name`` and an object whose
    attributes are a signal per port of the unit's signature (named ``<name>_<port>``).
    ``unit.module_name`` must name everything its logic depends on (its formats)."""
    if shared is None:
        m.submodules[name] = unit
        return unit
    module = unit.module_name
    if shared.setdefault(module, unit) is not unit:
        unit._MustUse__silence = True  # the module's first unit is the one exported
    ports, connections = {}, {}
    for port, member in unit.signature.members.items():
        ports[port] = Signal(member.shape, name=f"{name}_{port}")
        connections[("i_" if member.flow == In else "o_") + port] = ports[port]
    m.submodules[name] = Instance(module, **connections)
    return SimpleNamespace(**ports)
