"""Energy of the tensor cores' datapath: the cycle model's action counts x energy per action.

The cycle model counts (:mod:`lutsim.sim.core`, :mod:`lutsim.sim.gpu`); synthesis prices
(:func:`lutsim.reports.flow.synth.energy_per_action`: pJ per action and per cycle of the synthesized design
at its measured switching activity). This module multiplies them:

* **LUT presets**: ``E = sum_a n_a e_a + C e_cycle`` over the actions ``a`` the synthesized
  design prices, with ``n_a`` the kernel's counts. Priced by the LUT array (design
  ``lut-array``: lookups, shift/accumulate additions, accumulator writes), ``C`` is the array
  cycles of the ``lmma`` instructions; priced by the whole core (design ``core``: also table,
  weight and accumulator register writes), ``C`` is the cycles every instruction occupies by the
  timing contract (``sum_op instr.<op> x latency_cycles[op]``). ``C e_cycle`` carries the
  per-cycle energy (clock, control, leakage) of the components no action owns;
* **MAC presets**: ``E = n_mac e_mac``, with ``e_mac`` the synthesized MAC array's energy per
  cycle over its MACs per cycle (the array's only action is the product).

The fair comparison is array against array (``lut-array`` against ``mac-*``): neither includes
the delivery of its operands (register files, tables, weights), which the ``core`` design adds
on the LUT side only.

The priced design may have another tile (M x N) than the kernel's core, with the same formats
and weight bits: energies per action (one lookup, one addition, one accumulator write) do not
depend on the tile; the per-cycle remainder does, and is zero for ``lut-array``, whose every
component is charged to an action.

Only the tensor-core datapath is priced: register files, shared memory, L2 and DRAM traffic
and the vector lanes (dequantization, precompute) are not, because no synthesized design of
ours covers them; their bytes and operation counts stay in the cycle model's output. Energies
are at the synthesized node and clock target; :func:`lutsim.reports.flow.synth.scale` gives other nodes.
"""

from __future__ import annotations

from typing import Any

from lutsim.isa.config import CoreConfig

__all__ = ["core_cycles", "datapath_energy"]


def core_cycles(cfg: CoreConfig, actions: dict[str, float], ops: tuple[str, ...] = ()) -> float:
    """Cycles the counted instructions (only ``ops`` if given) occupy their cores, by the
    timing contract."""
    return sum(
        actions.get(f"instr.{op}", 0.0) * c
        for op, c in cfg.latency_cycles.items()
        if not ops or op in ops
    )


def datapath_energy(
    actions: dict[str, float], synth: dict[str, Any], cfg: CoreConfig | None = None
) -> dict[str, Any]:
    """Energy in pJ of a kernel's tensor-core datapath (see the module docstring).

    ``actions``: the kernel's counts (:attr:`lutsim.sim.gpu.GpuRun.actions` or
    :attr:`lutsim.sim.core.CoreRun.actions`); ``synth``: :meth:`lutsim.reports.flow.synth.SynthResult.to_dict` of
    the LUT array or core (``lut-array``, ``core``, with ``cfg`` its configuration) or of a MAC array
    (``mac-int8``/``mac-fp16``). Returns ``pj`` and its ``terms`` (action -> pJ)."""
    design = synth["design"]
    if design.startswith("mac-"):
        fmt = design.removeprefix("mac-").removesuffix("-dense")
        macs = actions.get(f"mac.{fmt}", 0.0)
        if synth.get("energy_pj_per_mac") is None:
            raise ValueError(f"synthesis of {design} has no energy per MAC")
        terms = {f"mac.{fmt}": macs * synth["energy_pj_per_mac"]}
    elif design in ("core", "lut-array"):
        if cfg is None:
            raise ValueError(f"the energy of {design} needs the core configuration")
        tile = {"m": synth["config"]["m"], "n": synth["config"]["n"]}
        if cfg.replace(**tile).mnemonic != synth["mnemonic"]:
            raise ValueError(
                f"the kernel ran {cfg.mnemonic}, but the synthesized design is {synth['mnemonic']}"
            )
        per_action = synth["energy_pj_per_action"]
        terms = {
            action: actions.get(action, 0.0) * pj
            for action, pj in per_action.items()
            if action != "cycle"
        }
        ops = ("lmma",) if design == "lut-array" else ()
        terms["cycle"] = core_cycles(cfg, actions, ops) * per_action.get("cycle", 0.0)
    else:
        raise ValueError(
            f"no energy model for design {design!r}: use core, lut-array, mac-int8 or mac-fp16"
        )
    return {"pj": sum(terms.values()), "terms": terms, "design": design, "node": synth["node"]}
