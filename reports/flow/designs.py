"""The designs :mod:`lutsim.reports.flow.synth` builds from a core configuration: what each is, what it is
made of, and what is simulated to measure its switching activity.

=========================== ===============================================================
design                      what is built (``hw``), from the configuration's M, N, K, B
=========================== ===============================================================
``core``                    ``LutCore``: the whole LUT tensor core (decoder, sequencer,
                            table/weight/accumulator register files, LUT array)
``lut-array``               ``LutTile``: the LUT array and M x N accumulators, operands
                            from ports (the core's datapath without register files)
``mac-int8``, ``mac-fp16``  ``MacArray``: M x N dequantize-then-MAC DP-K units (INT8 x INT8
                            into int32; FP16 x FP16 into fp32), the same weight bits B; the
                            ``q - z`` operand spans B + 1 bits, so synthesis narrows the
                            multipliers
``mac-int8-dense``,         ``DenseMacArray``: the same units with full INT8 (FP16) weights,
``mac-fp16-dense``          dequantized before the array, as in a GPU tensor core
``add``                     ``AddArray``: bit-serial K-input adder trees (int activations)
``conv-lut``                ``ConvLutArray``: a 2^K-entry table network per unit
``ablation-<step>``         ``LutAblationArray`` step ``conventional``, ``symmetrized``,
                            ``inverted`` or ``precomputed`` (int activations; see
                            :data:`lutsim.hw.lut_ablation.STEPS`)
=========================== ===============================================================

**DP4 level**: any array design at ``m = n = 1`` (:func:`dp4`) is one DP-K unit (K = 4). The
MAC, ADD and conventional-LUT baselines take only M, N, K, B and the activation format from the
configuration (``mac-int8`` forces int8, ``mac-fp16`` fp16), the dense MAC arrays not even B
(their weights arrive in the activation format); their other fields are reset to the defaults
so that they do not change what is built, and one build serves every weight width.

**Activity** (what :func:`measure` simulates, seed 0, about :data:`SIM_CYCLES` cycles):
random operands, every cycle busy. Activations are uniform over the integer format, or
standard normal rounded to fp16; weight codes are uniform over ``0 .. 2^B-1`` (``0 .. 2``
ternary); MAC zero points are uniform per column and fixed for the run. Designs of up to
:data:`AMARANTH_MAX_UNITS` DP-K units run in Amaranth's simulator, larger ones under
Verilator (:mod:`lutsim.hw.vlactivity`): the same stimulus, and the same activity bit for bit
(tests/reports/test_activity.py), except that Verilator also finds the registers whose names
Amaranth's VCD spells otherwise than its Verilog (``i_reg$30``), and counts an output port
that follows an input within the cycle once per settled change, where Amaranth's VCD also
holds the value between the clock edge and the testbench's new inputs.

* ``lut-array`` and ``ablation-*``: one K-group per B cycles; in its cycles the tables
  (:func:`lutsim.isa.golden.precompute_tables` of the group's activations; the activations themselves
  for in-array precompute) stay put and plane b's indices (:func:`lutsim.isa.golden.weight_indices`:
  stored, offline-inverted; raw bits for ``conventional`` and ``symmetrized``) change every
  cycle. Every group has new activations and codes: no table reuse across cycles beyond a
  group's planes, the worst case for the tables' activity.
* ``mac-*``: a new K-group of activations and codes every cycle (``*-dense``: weights drawn
  like the activations).
* ``add``, ``conv-lut``: a new step every B cycles (each is held for its B planes).
* ``core``: one output tile of a random mpGEMM (:func:`lutsim.isa.gemm.random_problem`, M x N x
  (groups x K)) lowered by :func:`lutsim.isa.gemm.lower`, its program (``zacc``, then ``ldt``,
  ``ldw``, ``lmma`` per group, then ``sta``) run by :func:`lutsim.hw.simulate.run_amaranth`
  (or the host of :mod:`lutsim.hw.verilator`); its action counts come from the cycle model
  (:func:`lutsim.sim.core.run_core`) on the same program and memory, whose cycle count must
  equal the RTL's.

Action counts per cycle use the names of :mod:`lutsim.sim.core` (``lut.lookup``,
``acc.int32_add``, ``table.write``, ...) plus ``mac.int8``/``mac.fp16`` (products, as
:mod:`lutsim.sim.gpu`), ``table.compute`` (tables computed in the array) and ``add.tree``
(K-input adder trees evaluated).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from amaranth.hdl import Shape

from lutsim.hw.lut_ablation import STEPS
from lutsim.hw.vlbuild import verilog_of
from lutsim.isa.config import CoreConfig
from lutsim.isa.formats import quantize, to_bits
from lutsim.isa.golden import precompute_tables, weight_indices

from .activity import Activity, counted, drive, driven_activity, measured, wanted_signals

__all__ = [
    "ABLATION",
    "AMARANTH_MAX_UNITS",
    "DESIGNS",
    "ENGINES",
    "SIM_CYCLES",
    "Design",
    "default_engine",
    "dp4",
    "measure",
    "ports",
]

SIM_CYCLES = 128  # about this many cycles are simulated per design (rates are per cycle)
STIMULUS_VERSION = 1  # part of the activity cache key: bump it when a stimulus changes
ENGINES = ("amaranth", "verilator")
AMARANTH_MAX_UNITS = 4
"""The largest design (M x N DP-K units) whose activity Amaranth's simulator measures; larger
ones run under Verilator. Measured (benchmarks/bench_activity.py, 2 cores shared with other
jobs), Amaranth's time grows with the design's logic: at M1N2 0.1 s (integer designs) to
2.5 s (FP16 MAC array), at M2N4 0.2 s to 18 s, at M2N64 9 s (core), 21 s (LUT array),
6 min (FP16 MAC array) and 11 min (dense FP16 MAC array). A Verilator build compiles a
unit's logic once however many units there are (:func:`lutsim.hw.vlactivity.merge_modules`),
the runtime comes from ccache, and it is cached; cold it takes 2.5 to 9 s up to M2N4, at
M2N64 6 s (core), 43 s (LUT array), 71 s (FP16 MAC array) and 2.5 min (dense FP16 MAC
array); cached 0.2 s, and its 128 cycles take milliseconds. So up to
M2N2 Amaranth is as fast or faster and no C++ is compiled (DP4 and M1N2 are what the test
suite synthesizes); above it Verilator wins where it matters (the FP16 arrays: minutes), at
the price of up to about 20 s, cold, on the integer arrays."""

Cycles = list[dict[str, int]]


@dataclass(frozen=True)
class Design:
    """A design synthesis can build.

    ``components``: ``(path pattern, component, action)`` in order; a module's path (relative
    to the top, ``""`` for the top, e.g. ``array.lookup_0_3``) belongs to the first pattern it
    matches in full. ``action`` names the action count (``{acc}``/``{act}``: the formats) the
    component's energy is attributed to, or None (per-cycle energy)."""

    name: str
    summary: str
    configure: Callable[[CoreConfig], CoreConfig]
    build: Callable[[CoreConfig], Any]
    components: tuple[tuple[str, str, str | None], ...]
    stimulus: Callable[[CoreConfig, Any, np.random.Generator], tuple[Cycles, dict[str, float]]]
    macs_per_cycle: Callable[[CoreConfig, dict[str, float]], float]
    shares: bool = False  # ``build`` takes ``shared=True`` (units as instances of one module)

    @property
    def top(self) -> str:
        """The Verilog top module name: ``lut_core`` (as :mod:`lutsim.hw.export`) or the name."""
        return "lut_core" if self.name == "core" else self.name.replace("-", "_")

    def shared(self, cfg: CoreConfig) -> bool:
        """Whether the Verilog of ``cfg`` that synthesis and Verilator take instantiates each
        kind of unit from one module (:mod:`lutsim.hw.units`): for a design that can, when
        Verilator measures its activity (:func:`default_engine`); Amaranth's simulator cannot
        run shared units."""
        return self.shares and default_engine(cfg) == "verilator"

    def exported(self, cfg: CoreConfig) -> Any:
        """The component of ``cfg`` that synthesis exports and Verilator runs: :attr:`build`'s,
        with shared units when :meth:`shared`. The same logic and instance names either way."""
        return self.build(cfg, shared=True) if self.shared(cfg) else self.build(cfg)

    def component(self, cfg: CoreConfig, path: str) -> tuple[str, str | None]:
        """``(component, action)`` of the module at ``path``."""
        for pattern, name, action in self.components:
            if re.fullmatch(pattern, path):
                fill = {"acc": cfg.acc_format, "act": cfg.act_format}
                return name, action.format(**fill) if action else None
        raise RuntimeError(f"module {path!r} of design {self.name!r} belongs to no component")


def dp4(cfg: CoreConfig) -> CoreConfig:
    """The DP4 level: one dot-product unit (m = n = 1) of ``cfg``."""
    return cfg.replace(m=1, n=1)


# ---- operands and packing -----------------------------------------------------------------
def _pack(values, width: int) -> int:
    """Elements in order (row-major), element 0 in the low bits: an ArrayLayout's value."""
    out = 0
    for i, v in enumerate(np.asarray(values).ravel()):
        out |= (int(v) & ((1 << width) - 1)) << (i * width)
    return out


def _operands(cfg: CoreConfig, rng: np.random.Generator, groups: int):
    """Random activation values ``a[G, M, K]`` and weight codes ``q[G, N, K]``."""
    a = _activations(cfg, rng, (groups, cfg.m, cfg.k))
    q = rng.integers(0, cfg.code_max, size=(groups, cfg.n, cfg.k), endpoint=True)
    return a, q


def _activations(cfg: CoreConfig, rng: np.random.Generator, shape: tuple[int, ...]):
    """Random values of the activation format: uniform integers, or standard normal floats."""
    if cfg.act.is_float:
        return quantize(rng.standard_normal(shape), cfg.act_format)
    return rng.integers(cfg.act.min_value, cfg.act.max_finite, size=shape, endpoint=True)


def _groups(cycles_per_group: int) -> int:
    return max(2, math.ceil(SIM_CYCLES / cycles_per_group))


# ---- stimuli ------------------------------------------------------------------------------
def _lut_planes(cfg: CoreConfig, dut, rng) -> tuple[Cycles, dict[str, float]]:
    """``LutTile`` and ``LutAblationArray``: one plane per cycle, B planes per group."""
    step = getattr(dut, "step", None)
    groups = _groups(cfg.weight_bits)
    a, q = _operands(cfg, rng, groups)
    symmetric = cfg.symmetrize if step is None else step != "conventional"
    exact = cfg if step is None else cfg.replace(table_format="int", symmetrize=symmetric)
    raw = step in ("conventional", "symmetrized")
    coding = cfg.replace(symmetrize=False) if raw else exact
    cycles, negated = [], 0
    for g in range(groups):
        if step in (None, "precomputed"):
            entries = precompute_tables(exact, a[g], 1).entries[:, 0, :]
            width = exact.table.bits if step is None else dut.entry_bits
            operand = {"i_tables": _pack(to_bits(entries, exact.table), width)}
        else:
            operand = {"i_a": _pack(to_bits(a[g], cfg.act), cfg.act.bits)}
        index = weight_indices(coding, q[g])[:, :, 0]
        stored = weight_indices(exact, q[g])[:, :, 0]
        for b in range(cfg.weight_bits):
            clear = int(g == 0 and b == 0)
            cycles.append({**operand, "i_valid": 1, "i_clear": clear,
                           "i_index": _pack(index[b], cfg.k), "i_plane": b})  # fmt: skip
            if symmetric:
                negated += cfg.m * int(np.count_nonzero(stored[b] >> (cfg.k - 1) == 0))
    values = cfg.m * cfg.n
    actions = {"lut.lookup": values, f"acc.{cfg.acc_format}_add": values, "acc.write": values}
    if symmetric:
        actions["lut.negate"] = negated / len(cycles)
    if step not in (None, "precomputed"):
        actions["table.compute"] = values / cfg.weight_bits
    return cycles, actions


def _mac_actions(cfg: CoreConfig) -> dict[str, float]:
    """Actions of one MAC-array cycle: M x N x K products, M x N accumulator writes, and one
    accumulator addition per product (float: each product is added) or per K-group (int)."""
    values = cfg.m * cfg.n
    adds = values * (cfg.k if cfg.act.is_float else 1)
    return {f"mac.{cfg.act_format}": values * cfg.k, f"acc.{cfg.acc_format}_add": adds,
            "acc.write": values}  # fmt: skip


def _mac_steps(cfg: CoreConfig, dut, rng) -> tuple[Cycles, dict[str, float]]:
    groups = _groups(1)
    a, q = _operands(cfg, rng, groups)
    zero = _pack(rng.integers(0, cfg.code_max, size=cfg.n, endpoint=True), cfg.weight_bits)
    cycles = [
        {"i_valid": 1, "i_clear": int(g == 0), "i_a": _pack(to_bits(a[g], cfg.act), cfg.act.bits),
         "i_w": _pack(q[g], cfg.weight_bits), "i_zero": zero}
        for g in range(groups)
    ]  # fmt: skip
    return cycles, _mac_actions(cfg)


def _dense_steps(cfg: CoreConfig, dut, rng) -> tuple[Cycles, dict[str, float]]:
    groups = _groups(1)
    a, _ = _operands(cfg, rng, groups)
    w = _activations(cfg, rng, (groups, cfg.n, cfg.k))
    bits = cfg.act.bits
    cycles = [
        {"i_valid": 1, "i_clear": int(g == 0), "i_a": _pack(to_bits(a[g], cfg.act), bits),
         "i_w": _pack(to_bits(w[g], cfg.act), bits)}
        for g in range(groups)
    ]  # fmt: skip
    return cycles, _mac_actions(cfg)


def _bit_serial_steps(cfg: CoreConfig, dut, rng) -> tuple[Cycles, dict[str, float]]:
    """``AddArray``, ``ConvLutArray``: a step held for its B planes."""
    groups = _groups(cfg.weight_bits)
    a, q = _operands(cfg, rng, groups)
    cycles = []
    for g in range(groups):
        step = {"i_valid": 1, "i_clear": int(g == 0), "i_w": _pack(q[g], cfg.weight_bits),
                "i_a": _pack(to_bits(a[g], cfg.act), cfg.act.bits)}  # fmt: skip
        cycles += [step] * cfg.weight_bits
    values = cfg.m * cfg.n
    actions = {"acc.int32_add": values, "acc.write": values}
    if type(dut).__name__ == "ConvLutArray":
        actions |= {"lut.lookup": values, "table.compute": dut.tables / cfg.weight_bits}
    else:
        actions["add.tree"] = values
    return cycles, actions


# ---- measuring ----------------------------------------------------------------------------
def ports(dut) -> tuple[dict[str, int], dict[str, int]]:
    """``(inputs, outputs)``: top-level port name -> width, from the component's signature."""
    inputs, outputs = {}, {}
    for name, member in dut.signature.members.items():
        side = inputs if member.flow.name == "In" else outputs
        side[name] = Shape.cast(member.shape).width
    return inputs, outputs


def default_engine(cfg: CoreConfig) -> str:
    """The simulator :func:`measure` uses by default at ``cfg``: ``"amaranth"`` for designs of
    up to :data:`AMARANTH_MAX_UNITS` DP-K units, else ``"verilator"``."""
    return "amaranth" if cfg.m * cfg.n <= AMARANTH_MAX_UNITS else "verilator"


def measure(
    design: Design,
    cfg: CoreConfig,
    work: Path,
    signals: dict[str, int],
    seed: int = 0,
    engine: str | None = None,
    verilog: str | None = None,
) -> Activity:
    """Simulate ``design`` at ``cfg`` (see the module docstring), files in ``work``; the
    activity of its ports and of the internal ``signals`` (``path.name`` -> width). ``engine``
    (one of :data:`ENGINES`) overrides the choice of :func:`default_engine`; ``verilog``, the
    design's Verilog (``verilog_of(design.exported(cfg), design.top)``) if at hand, spares
    Verilator's first build exporting it again."""
    chosen = default_engine(cfg) if engine is None else engine
    if chosen not in ENGINES:
        raise ValueError(f"activity engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    dut = design.exported(cfg) if chosen == "verilator" else design.build(cfg)
    inputs, outputs = ports(dut)
    vcd = work / "activity.vcd"
    if design.name == "core":
        dut._MustUse__silence = True  # the runners build their own
        return _measure_core(cfg, chosen, vcd, seed, inputs, outputs, signals, verilog)
    cycles, actions = design.stimulus(cfg, dut, np.random.default_rng(seed))
    driven = driven_activity(cycles, inputs)
    what = f"{design.name} ({cfg.mnemonic}), {len(cycles)} cycles of random operands, seed {seed}"
    if chosen == "amaranth":
        drive(dut, cycles, vcd)
        source = f"Amaranth simulation of {what} (reports.synth_designs)"
        return measured(source, vcd, inputs, outputs, signals, actions, driven)
    from lutsim.hw import vlactivity

    dut._MustUse__silence = True  # a cached executable needs no Verilog
    wanted = wanted_signals({}, outputs, signals)
    harness = vlactivity.harness(design.top, inputs)
    text = (lambda: verilog) if verilog is not None else (lambda: verilog_of(dut, design.top))
    exe = vlactivity.executable(_rtl_key(design, cfg), text, design.top, harness, wanted)
    counts = vlactivity.run(exe, cycles, inputs, wanted, design.top)
    source = f"Verilator simulation of {what} (reports.synth_designs)"
    return counted(source, counts, inputs, outputs, signals, actions, driven)


def _rtl_key(design: Design, cfg: CoreConfig) -> tuple[str, ...]:
    """What ``design.exported(cfg)``'s Verilog depends on: the design, the configuration,
    whether its units are shared and the source of ``hw``, ``isa`` and this module."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]
    for path in sorted([*root.glob("hw/*.py"), *root.glob("isa/*.py"), Path(__file__)]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    shared = "shared" if design.shared(cfg) else "inline"
    return design.name, json.dumps(cfg.to_dict(), sort_keys=True), shared, digest.hexdigest()


def _measure_core(cfg, engine: str, vcd: Path, seed: int, inputs, outputs, signals, verilog):
    from lutsim.isa import gemm
    from lutsim.sim.core import run_core

    latency = cfg.latency_cycles
    groups = _groups(latency["ldt"] + latency["ldw"] + latency["lmma"])
    problem = gemm.random_problem(cfg, cfg.m, cfg.n, groups * cfg.k, seed=seed)
    tables = precompute_tables(cfg, problem.a, problem.chunks)
    lowered = gemm.lower(cfg, problem, tables, weight_indices(cfg, problem.w))
    memory = lowered.memories[0]
    if engine == "amaranth":
        from lutsim.hw.simulate import run_amaranth

        rtl = run_amaranth(cfg, [(lowered.program, memory)], vcd=str(vcd))[0]
    else:
        from lutsim.hw import vlactivity

        wanted = wanted_signals(inputs, outputs, signals)
        key = _rtl_key(DESIGNS["core"], cfg)
        rtl, counts = vlactivity.run_program(cfg, lowered.program, memory, wanted, key, verilog)
    model = run_core(cfg, lowered.program, memory)
    if model.cycles != rtl.cycles:
        raise RuntimeError(f"cycle model {model.cycles} != RTL {rtl.cycles} cycles")
    actions = {k: v / rtl.cycles for k, v in model.actions.items() if v}
    source = (
        f"{engine.capitalize()} simulation of the core ({cfg.mnemonic}): one tile of a random "
        f"{cfg.m}x{cfg.n}x{groups * cfg.k} mpGEMM, seed {seed}, {len(lowered.program)} "
        f"instructions, {rtl.cycles} cycles; actions from sim.core"
    )
    if engine == "amaranth":
        return measured(source, vcd, inputs, outputs, signals, actions)
    return counted(source, counts, inputs, outputs, signals, actions)


# ---- the designs --------------------------------------------------------------------------
def _baseline(act: str | None, weights: bool = True) -> Callable[[CoreConfig], CoreConfig]:
    """M, N, K, the weight bits (not ``weights``: the dense MACs, whose weights arrive in the
    activation format) and the activation format (``act``, or the configuration's)."""

    def configure(cfg: CoreConfig) -> CoreConfig:
        bits = {"weight_bits": cfg.weight_bits} if weights else {}
        return CoreConfig(m=cfg.m, n=cfg.n, k=cfg.k, act_format=act or cfg.act_format, **bits)

    return configure


def _same(cfg: CoreConfig) -> CoreConfig:
    return cfg


def _bit_serial_macs(cfg: CoreConfig, actions: dict[str, float]) -> float:
    return cfg.m * cfg.n * cfg.k / cfg.weight_bits


def _core(cfg: CoreConfig):
    from lutsim.hw.core import LutCore

    return LutCore(cfg)


def _lut_tile(cfg: CoreConfig):
    from lutsim.hw.lut_tile import LutTile

    return LutTile(cfg)


def _mac(cfg: CoreConfig, shared: bool = False):
    from lutsim.hw.mac_array import MacArray

    if cfg.act_format == "fp16" and cfg.acc_format != "fp32":
        raise ValueError(f"MacArray accumulates fp16 products in fp32, not in {cfg.acc_format}")
    return MacArray(cfg, shared=shared)


def _dense(cfg: CoreConfig, shared: bool = False):
    from lutsim.hw.dense_mac_array import DenseMacArray

    return DenseMacArray(cfg, shared=shared)


def _add(cfg: CoreConfig):
    from lutsim.hw.add_array import AddArray, check_int_activations

    check_int_activations("AddArray", cfg)  # before an object exists to warn it went unused
    return AddArray(cfg)


def _conv_lut(cfg: CoreConfig):
    from lutsim.hw.add_array import check_int_activations
    from lutsim.hw.conv_lut_array import ConvLutArray

    check_int_activations("ConvLutArray", cfg)
    return ConvLutArray(cfg)


def _ablation(step: str):
    def build(cfg: CoreConfig):
        from lutsim.hw.add_array import check_int_activations
        from lutsim.hw.lut_ablation import LutAblationArray

        check_int_activations("LutAblationArray", cfg)
        return LutAblationArray(cfg, step)

    return build


_UNIT = r"_\d+_\d+(\..*)?"  # a unit's index and anything below it
# fmt: off
_CORE = (
    (r"",                 "control",                None),
    (r"decoder",          "control",                None),
    (r"tables",           "table registers",        "table.write"),
    (r"weights",          "weight registers",       "weight.write"),
    (r"accs",             "accumulator registers",  "acc.write"),
    (r"array",            "lookup (mux + negate)",  "lut.lookup"),  # wiring only
    (r"array\.lookup" + _UNIT, "lookup (mux + negate)", "lut.lookup"),
    (r"array\.acc" + _UNIT,    "shift/accumulate",      "acc.{acc}_add"),
    (r"convert_.*",       "format conversion",      None),
)
_TILE = (
    (r"",                 "accumulator registers",  "acc.write"),
    (r"array",            "lookup (mux + negate)",  "lut.lookup"),
    (r"array\.lookup" + _UNIT, "lookup (mux + negate)", "lut.lookup"),
    (r"array\.acc" + _UNIT,    "shift/accumulate",      "acc.{acc}_add"),
)
_ABLATION = (
    (r"",                 "accumulator registers",  "acc.write"),
    (r"precompute" + _UNIT, "table precompute",     "table.compute"),
    (r"index_\d+",        "index logic",            "lut.lookup"),
    (r"select" + _UNIT,   "mux",                    "lut.lookup"),
    (r"negate" + _UNIT,   "negate",                 "lut.lookup"),
    (r"shift" + _UNIT,    "shift/accumulate",       "acc.int32_add"),
)
_MAC_INT = ((r"", "MAC datapath + accumulator registers", "mac.{act}"),)
_MAC_FP = (
    (r"",                 "accumulator registers (+ dequantize)", "acc.write"),
    (r"mul\d+_\d+_\d+",   "fp16 multipliers",       "mac.fp16"),
    (r"add\d+_\d+_\d+",   "fp32 adders",            "acc.fp32_add"),
)
# fmt: on

DESIGNS: dict[str, Design] = {
    d.name: d
    for d in [
        Design("core", "the LUT tensor core (hw.core.LutCore)", _same, _core, _CORE, None,
               lambda cfg, act: act.get("lut.lookup", 0.0) * cfg.k / cfg.weight_bits),
        Design("lut-array", "LUT array + accumulators, operands from ports (hw.lut_tile.LutTile)",
               _same, _lut_tile, _TILE, _lut_planes, _bit_serial_macs),
        Design("mac-int8", "INT8 dequantize-then-MAC array (hw.mac_array.MacArray)",
               _baseline("int8"), _mac, _MAC_INT, _mac_steps,
               lambda cfg, act: cfg.m * cfg.n * cfg.k),
        Design("mac-fp16", "FP16 dequantize-then-MAC array, fp32 accumulation (MacArray)",
               _baseline("fp16"), _mac, _MAC_FP, _mac_steps,
               lambda cfg, act: cfg.m * cfg.n * cfg.k, shares=True),
        Design("mac-int8-dense", "INT8 MAC array, weights already INT8 (DenseMacArray)",
               _baseline("int8", weights=False), _dense, _MAC_INT, _dense_steps,
               lambda cfg, act: cfg.m * cfg.n * cfg.k),
        Design("mac-fp16-dense", "FP16 MAC array, weights already FP16 (DenseMacArray)",
               _baseline("fp16", weights=False), _dense, _MAC_FP, _dense_steps,
               lambda cfg, act: cfg.m * cfg.n * cfg.k, shares=True),
        Design("add", "bit-serial ADD array (hw.add_array.AddArray)", _baseline(None), _add,
               ((r"", "adder trees + accumulator registers", "acc.int32_add"),),
               _bit_serial_steps, _bit_serial_macs),
        Design("conv-lut", "conventional LUT array, a table network per unit (ConvLutArray)",
               _baseline(None), _conv_lut,
               ((r"", "table networks + muxes + accumulator registers", "lut.lookup"),),
               _bit_serial_steps, _bit_serial_macs),
        *(
            Design(f"ablation-{step}", f"LUT ablation step {step!r}: {what} "
                   "(hw.lut_ablation.LutAblationArray)",
                   _baseline(None), _ablation(step), _ABLATION, _lut_planes, _bit_serial_macs)
            for step, what in STEPS.items()
        ),
    ]
}  # fmt: skip
"""Every design by name (see the module docstring)."""

ABLATION = tuple(f"ablation-{step}" for step in STEPS)
"""The ablation designs in the order of the steps."""
