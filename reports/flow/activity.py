"""Switching activity of a design's ports and registers, measured by simulating its RTL.

Power analysis needs, for every input port bit and every register bit, its **toggle rate**
(transitions per clock cycle) and its **duty** (the fraction of the time it is 1). We run the
design's RTL on random operands and count, for every bit of the signals asked for, its
transitions and its time at 1: either in Amaranth's simulator, writing a VCD that
:func:`signal_activity` reads (:func:`measured`), or under Verilator, counting in C++ as the
design runs (:mod:`lutsim.hw.vlactivity`, :func:`counted`). Given the same stimulus the two
give identical activities: the harness counts what the VCD holds (each cycle half at the old
value, half at the new; see :func:`counted_activity`). Power
analysis (:mod:`lutsim.reports.flow.sta`, :mod:`lutsim.reports.flow.power_netlist`) sets them on the input ports and on
the registers' output nets; OpenSTA propagates them through the gates in between.

An :class:`Activity` also carries the action counts per cycle of what was simulated (lookups,
accumulator additions, MACs, ...: the names of :mod:`lutsim.sim.core`), so that synthesis can turn
power into energy per action. :func:`uniform` is the vectorless alternative: every input bit
toggles at one given rate.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Activity",
    "counted",
    "counted_activity",
    "drive",
    "driven_activity",
    "measured",
    "signal_activity",
    "uniform",
    "wanted_signals",
]

SIM_PERIOD_S = 1e-8  # the simulator's clock period (any value: rates are per cycle)


@dataclass(frozen=True)
class Activity:
    """Toggle rates (transitions per cycle) and duties of a design's input port bits and
    register bits.

    ``inputs`` maps a port name to one ``(toggle rate, duty)`` per bit, bit 0 first; a port
    missing from it gets ``default``. ``signals`` does the same for internal signals
    (``path.name``, path relative to the top), the register outputs power analysis annotates
    (:mod:`lutsim.reports.flow.power_netlist`). ``outputs`` holds the mean toggle rate of each output
    port's bits as measured, for reference. ``actions_per_cycle`` counts what the simulated
    cycles did."""

    source: str
    cycles: int
    inputs: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    default: tuple[float, float] = (0.0, 0.0)
    signals: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    outputs: dict[str, float] = field(default_factory=dict)
    actions_per_cycle: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "cycles": self.cycles,
            "inputs": {name: [list(bit) for bit in bits] for name, bits in self.inputs.items()},
            "default": list(self.default),
            "signals": {name: [list(bit) for bit in bits] for name, bits in self.signals.items()},
            "outputs": dict(self.outputs),
            "actions_per_cycle": dict(self.actions_per_cycle),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Activity:
        return cls(
            source=data["source"],
            cycles=data["cycles"],
            inputs={k: tuple(tuple(bit) for bit in v) for k, v in data["inputs"].items()},
            default=tuple(data["default"]),
            signals={k: tuple(tuple(bit) for bit in v) for k, v in data["signals"].items()},
            outputs=dict(data["outputs"]),
            actions_per_cycle=dict(data["actions_per_cycle"]),
        )

    def digest(self) -> str:
        """SHA-256 of the content (enters the synthesis cache key)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def summary(self) -> dict[str, object]:
        """The source, the cycles and mean rates (what a result reports about its activity)."""
        bits = [bit for port in self.inputs.values() for bit in port]
        # exactly rounded sums: the same whichever order the ports were read in
        mean_toggle = math.fsum(b[0] for b in bits) / len(bits) if bits else self.default[0]
        mean_duty = math.fsum(b[1] for b in bits) / len(bits) if bits else self.default[1]
        return {
            "source": self.source,
            "cycles": self.cycles,
            "input_bits": len(bits),
            "register_bits": sum(len(v) for v in self.signals.values()),
            "mean_input_toggles_per_cycle": mean_toggle,
            "mean_input_duty": mean_duty,
            "mean_output_toggles_per_cycle": dict(self.outputs),
            "actions_per_cycle": dict(self.actions_per_cycle),
        }


def uniform(toggle_rate: float, duty: float = 0.5) -> Activity:
    """Vectorless activity: every input bit toggles ``toggle_rate`` times per cycle."""
    if not 0.0 <= toggle_rate <= 1.0:
        raise ValueError(f"toggle rate must be 0 to 1 per cycle, not {toggle_rate!r}")
    return Activity(
        source=f"vectorless: every input bit toggles {toggle_rate:g} per cycle, duty {duty:g}",
        cycles=0,
        default=(float(toggle_rate), float(duty)),
    )


def drive(dut, cycles: Sequence[dict[str, int]], vcd_path: str | os.PathLike) -> list[int]:
    """Run ``dut`` in Amaranth's simulator for ``len(cycles)`` cycles, setting in each the
    ports of that cycle's dict (port name -> value; ports keep their value otherwise), and
    write every signal to ``vcd_path``. Returns the ``o_acc`` value after each cycle, if the
    design has that port."""
    from amaranth import Value
    from amaranth.sim import Simulator

    seen: list[int] = []
    out = getattr(dut, "o_acc", None)

    async def bench(ctx):
        for values in cycles:
            for name, value in values.items():
                ctx.set(Value.cast(getattr(dut, name)), value)
            await ctx.tick()
            if out is not None:
                seen.append(ctx.get(Value.cast(out)))

    sim = Simulator(dut)
    sim.add_clock(SIM_PERIOD_S)
    sim.add_testbench(bench)
    with sim.write_vcd(str(vcd_path)):
        sim.run()
    return seen


_VAR = re.compile(r"\$var\s+\S+\s+(\d+)\s+(\S+)\s+(.+?)\s+\$end")
TOP_SCOPE = ("bench", "top")  # where Amaranth's VCD writer puts the design


def signal_activity(
    vcd_path: str | os.PathLike, wanted: dict[tuple[str, str], int]
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], np.ndarray], int]:
    """Per-bit toggles per cycle and fraction of time at 1 of the signals ``wanted``
    (``(module path, name)`` -> width; path "" is the top, ``a.b`` a submodule) in an
    Amaranth VCD, and the number of clock cycles it spans. A signal the VCD lacks, or holds at
    another width, is left out. Values set at time 0 are the initial state, not transitions."""
    ids: dict[str, tuple[str, str]] = {}
    path: list[str] = []
    with open(vcd_path) as vcd:
        for line in vcd:
            if line.startswith("$scope"):
                path.append(line.split()[2])
            elif line.startswith("$upscope"):
                path.pop()
            elif line.startswith("$var") and tuple(path[:2]) == TOP_SCOPE:
                match = _VAR.match(line)
                key = (".".join(path[2:]), match.group(3).lstrip("\\"))
                if wanted.get(key) == int(match.group(1)) and key not in ids.values():
                    ids[match.group(2)] = key
            elif line.startswith("$enddefinitions"):
                break
        value = {code: 0 for code in ids}
        since = {code: 0 for code in ids}
        toggles = {code: np.zeros(wanted[key], np.int64) for code, key in ids.items()}
        high = {code: np.zeros(wanted[key], np.float64) for code, key in ids.items()}
        settled: dict[str, int] = {}  # the last value written at the current timestamp

        def settle(at: int) -> None:
            """A timestamp's changes, as one transition from its settled value: the delta
            cycles of one time (a register's update, then the logic it feeds, then an input
            the testbench sets at the same edge) are not separate toggles."""
            for code, new in settled.items():
                if at and new != value[code]:
                    width = len(toggles[code])
                    high[code] += _bits(value[code], width) * (at - since[code])
                    toggles[code] += _bits(value[code] ^ new, width)
                    value[code], since[code] = new, at
                elif not at:
                    value[code] = new
            settled.clear()

        now = 0
        for line in vcd:
            head = line[:1]
            if head == "#":
                settle(now)
                now = int(line[1:])
                continue
            if head == "b":
                bits, code = line[1:].split()
            elif head in "01xz" and len(line) > 1:
                bits, code = head, line[1:].strip()
            else:
                continue
            if code in ids:
                settled[code] = int(bits.replace("x", "0").replace("z", "0"), 2)
        settle(now)
    period_fs = round(SIM_PERIOD_S * 1e15)
    cycles = max(now // period_fs, 1)
    duration = cycles * period_fs
    rates, duties = {}, {}
    for code, key in ids.items():
        high[code] += _bits(value[code], len(high[code])) * max(duration - since[code], 0)
        rates[key] = toggles[code] / cycles
        duties[key] = np.clip(high[code] / duration, 0.0, 1.0)
    return rates, duties, int(cycles)


def _bits(value: int, width: int) -> np.ndarray:
    """The bits of ``value`` as an int array, bit 0 first."""
    raw = value.to_bytes((width + 7) // 8 or 1, "little")
    return np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[:width].astype(np.int64)


def driven_activity(
    cycles: Sequence[dict[str, int]], widths: dict[str, int]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-bit toggles per cycle and duty of the ports :func:`drive` sets from ``cycles``
    (a port keeps its value until set again; the first cycle's values are the initial state)."""
    toggles, duty = {}, {}
    for name, width in widths.items():
        value = 0
        values = []
        for cycle in cycles:
            value = cycle.get(name, value)
            values.append(_bits(value, width))
        trace = np.array(values) if values else np.zeros((1, width), np.int64)
        toggles[name] = np.abs(np.diff(trace, axis=0)).sum(axis=0) / max(len(cycles), 1)
        duty[name] = trace.mean(axis=0)
    return toggles, duty


def counted_activity(
    counts,
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], np.ndarray], int]:
    """:func:`signal_activity`'s result from a Verilator harness's
    :class:`lutsim.hw.vlactivity.Counts`, computed as from a VCD of the same run: Amaranth's
    simulator sets inputs at the rising edge, half a period after time 0, so ``halves`` (half
    cycles at 1) is the time at 1 in half periods, over ``cycles`` periods."""
    period_fs = round(SIM_PERIOD_S * 1e15)
    cycles = max(counts.cycles, 1)
    duration = cycles * period_fs
    rates, duties = {}, {}
    for key, toggles in counts.toggles.items():
        high = counts.halves[key].astype(np.float64) * (period_fs // 2)
        rates[key] = toggles / cycles
        duties[key] = np.clip(high / duration, 0.0, 1.0)
    return rates, duties, int(cycles)


def measured(
    source: str,
    vcd_path: str | os.PathLike,
    inputs: dict[str, int],
    outputs: dict[str, int],
    signals: dict[str, int],
    actions_per_cycle: dict[str, float],
    driven: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
) -> Activity:
    """The :class:`Activity` of a simulation's VCD. ``inputs`` and ``outputs`` map top-level
    port names to widths; ``signals`` maps internal signals (``path.name``) to widths, kept
    where the VCD has them (by name and width). The inputs' activity is ``driven`` when given
    (:func:`driven_activity`: what the testbench set, immune to the VCD writer renaming a port
    whose name a submodule's signal shares), else read from the VCD, which must have them."""
    wanted = wanted_signals(inputs if driven is None else {}, outputs, signals)
    found = signal_activity(vcd_path, wanted)
    return _activity(source, found, inputs, outputs, signals, actions_per_cycle, driven)


def counted(
    source: str,
    counts,
    inputs: dict[str, int],
    outputs: dict[str, int],
    signals: dict[str, int],
    actions_per_cycle: dict[str, float],
    driven: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
) -> Activity:
    """:func:`measured`, from what a Verilator harness counted (:mod:`lutsim.hw.vlactivity`,
    asked for :func:`wanted_signals`) instead of a VCD."""
    found = counted_activity(counts)
    return _activity(source, found, inputs, outputs, signals, actions_per_cycle, driven)


def _key(signal: str) -> tuple[str, str]:
    """``(module path, name)`` of ``path.name``."""
    path, _, name = signal.rpartition(".")
    return path, name


def wanted_signals(
    inputs: dict[str, int], outputs: dict[str, int], signals: dict[str, int]
) -> dict[tuple[str, str], int]:
    """``(module path, name)`` -> width of the top-level ports and internal ``signals``
    (``path.name``) a simulation must record."""
    wanted = {("", n): w for n, w in outputs.items()}
    wanted |= {_key(s): w for s, w in signals.items()}
    return wanted | {("", n): w for n, w in inputs.items()}


def _activity(source, found, inputs, outputs, signals, actions_per_cycle, driven) -> Activity:
    toggles, duty, cycles = found
    if driven is not None:
        toggles |= {("", n): v for n, v in driven[0].items()}
        duty |= {("", n): v for n, v in driven[1].items()}
    missing = [n for n in inputs if ("", n) not in toggles]
    if missing:
        raise RuntimeError(f"the simulation did not record input port {missing[0]!r}")

    def bits(k: tuple[str, str]) -> tuple[tuple[float, float], ...]:
        return tuple(_consistent(t, d) for t, d in zip(toggles[k], duty[k], strict=True))

    return Activity(
        source=source,
        cycles=cycles,
        inputs={name: bits(("", name)) for name in inputs},
        signals={s: bits(_key(s)) for s in signals if _key(s) in toggles},
        outputs={
            n: round(float(np.mean(toggles["", n])), 6) for n in outputs if ("", n) in toggles
        },
        actions_per_cycle={k: round(float(v), 6) for k, v in actions_per_cycle.items()},
    )


def _consistent(toggles: float, duty: float) -> tuple[float, float]:
    """``(toggles, duty)`` rounded, the rate capped at ``2 min(duty, 1 - duty)`` per cycle:
    a bit that changes at most once a cycle cannot toggle more often, except by the edges of
    a finite window, and OpenSTA's propagation turns such pairs into NaN."""
    duty = round(float(duty), 6)
    return round(min(float(toggles), 2 * min(duty, 1 - duty)), 6), duty


def cached(key: str, root: Path, make) -> Activity:
    """The activity stored under ``key`` in ``root``, or ``make()`` stored there."""
    from lutsim.isa._io import atomic_write_text

    file = root / f"{key}.json"
    if file.is_file():
        return Activity.from_dict(json.loads(file.read_text()))
    activity = make()
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, json.dumps(activity.to_dict(), sort_keys=True))
    return activity
