"""Switching activity: Verilator's harness against Amaranth's simulator, bit for bit.

Every design runs the same stimulus (seed 0) in both; the activities of the input ports, of
every register both record, the cycles and the action counts must be identical. Small
configurations (M1N2, DP4 for the FP16 arrays) keep each Verilator build to seconds; builds
are cached in the Verilator cache (as tests/hw/test_verilator.py's).
"""

from __future__ import annotations

import numpy as np
import pytest

from lutsim.hw.vlactivity import Counts, registers
from lutsim.hw.vlbuild import verilog_of
from lutsim.isa.config import CoreConfig
from lutsim.reports.flow import activity as act
from lutsim.reports.flow.designs import AMARANTH_MAX_UNITS, DESIGNS, default_engine, measure

M1N2 = CoreConfig(m=1, n=2)
DP4 = CoreConfig(m=1, n=1)
CASES = [
    ("core", M1N2),
    ("lut-array", M1N2),
    ("mac-int8", M1N2),
    ("mac-fp16", DP4),
    ("mac-fp16-dense", DP4),
    ("add", M1N2),
    ("conv-lut", M1N2),
    ("ablation-inverted", M1N2),
]
SLOW_CASES = [
    ("mac-int8-dense", M1N2),
    ("mac-fp16", M1N2),
    ("ablation-conventional", M1N2),
    ("ablation-symmetrized", M1N2),
    ("ablation-precomputed", M1N2),
    ("core", CoreConfig(m=2, n=4, act_format="fp16", table_format="fp16", acc_format="fp32",
                        out_format="fp32")),
]  # fmt: skip


def both(name: str, cfg: CoreConfig, tmp_path, signals=None):
    design = DESIGNS[name]
    built = design.configure(cfg)
    if signals is None:
        signals = registers(verilog_of(design.build(built), design.top), design.top)
    found = []
    for engine in ("amaranth", "verilator"):
        (tmp_path / engine).mkdir()
        found.append(measure(design, built, tmp_path / engine, signals, engine=engine))
    return signals, *found


def check_identical(name, cfg, tmp_path):
    signals, amaranth, verilator = both(name, cfg, tmp_path)
    assert amaranth.source.startswith("Amaranth simulation of")
    assert verilator.source.startswith("Verilator simulation of")
    assert verilator.cycles == amaranth.cycles
    assert verilator.actions_per_cycle == amaranth.actions_per_cycle
    assert verilator.inputs == amaranth.inputs
    if name != "core":  # see test_output_ports_count_settled_values
        assert verilator.outputs == amaranth.outputs
    assert set(verilator.signals) == set(signals), "Verilator records every register"
    # Amaranth's VCD names a few registers otherwise than its Verilog does (``i_reg$30``)
    renamed = set(signals) - set(amaranth.signals)
    assert all("$" in s for s in renamed), renamed
    assert len(renamed) <= len(signals) // 4, renamed
    for s in amaranth.signals:
        got, exp = verilator.signals[s], amaranth.signals[s]
        assert got == exp, f"{s}: {got} != {exp} (Amaranth)"


@pytest.mark.parametrize("name, cfg", CASES, ids=[c[0] for c in CASES])
def test_verilator_equals_amaranth(name, cfg, tmp_path):
    check_identical(name, cfg, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, cfg", SLOW_CASES, ids=[f"{c[0]}-{c[1].mnemonic}" for c in SLOW_CASES]
)
def test_verilator_equals_amaranth_more(name, cfg, tmp_path):
    check_identical(name, cfg, tmp_path)


def test_output_ports_count_settled_values(tmp_path):
    """``o_instr_ready`` depends on ``i_instr_valid`` within the cycle: Amaranth's VCD also
    records its value between the clock edge and the testbench's new inputs, at the same
    time; both engines count only the settled value of each time."""
    _, amaranth, verilator = both("core", M1N2, tmp_path)
    assert verilator.outputs["o_busy"] == amaranth.outputs["o_busy"]
    assert verilator.outputs["o_instr_ready"] == amaranth.outputs["o_instr_ready"]


def test_changes_within_one_time_are_one_transition(tmp_path):
    """Delta cycles of one timestamp settle first: a bit that goes 0 -> 1 -> 0 at one time
    does not toggle, and 0 -> 1 -> 1 toggles once."""
    period = round(act.SIM_PERIOD_S * 1e15)
    vcd = tmp_path / "t.vcd"
    vcd.write_text(
        "$scope module bench $end\n$scope module top $end\n"
        "$var wire 2 ! s $end\n$upscope $end\n$upscope $end\n$enddefinitions $end\n"
        f"#0\nb00 !\n#{period}\nb01 !\nb00 !\n#{2 * period}\nb11 !\nb11 !\n"
        f"#{3 * period}\nb10 !\nb11 !\n#{4 * period}\n"
    )  # fmt: skip
    rates, duties, cycles = act.signal_activity(vcd, {("", "s"): 2})
    assert cycles == 4
    assert list(rates["", "s"] * cycles) == [1, 1]
    assert np.allclose(duties["", "s"], [0.5, 0.5])


def test_missing_and_mismatched_signals_are_left_out(tmp_path):
    signals = {"o_acc": 64, "array.acc_0_0.o_acc": 7, "array.nothing": 3}
    _, amaranth, verilator = both("lut-array", M1N2, tmp_path, signals)
    assert set(verilator.signals) == set(amaranth.signals) == {"o_acc"}
    assert verilator.signals == amaranth.signals


def test_counted_activity_weighs_the_first_and_last_half_cycle():
    """Samples 0, 1, 1, 0 of one bit: 2 toggles in 3 cycles, 1 of 6 half-cycles at 1 in the
    first cycle, 2 in the second, 1 in the third."""
    counts = Counts(3, {("", "x"): np.array([2])}, {("", "x"): np.array([4])})
    rates, duties, cycles = act.counted_activity(counts)
    assert cycles == 3
    assert rates["", "x"].tolist() == [2 / 3]
    assert duties["", "x"].tolist() == [4 / 6]


def test_engine_by_size():
    assert AMARANTH_MAX_UNITS == 4
    assert default_engine(DP4) == default_engine(M1N2) == "amaranth"
    assert default_engine(CoreConfig(m=2, n=2)) == "amaranth"
    assert default_engine(CoreConfig(m=2, n=4)) == "verilator"
    assert default_engine(CoreConfig(m=2, n=64)) == "verilator"


def test_unknown_engine(tmp_path):
    with pytest.raises(ValueError, match=r"^activity engine must be one of amaranth, verilator, "
                       r"not 'icarus'$"):  # fmt: skip
        measure(DESIGNS["add"], DP4, tmp_path, {}, engine="icarus")


def _unit_ports(cfg: CoreConfig) -> dict[str, int]:
    """Every fp16 multiplier's and fp32 adder's ports of an FP16 MAC array at ``cfg``."""
    out = {}
    for r in range(cfg.m):
        for c in range(cfg.n):
            for k in range(cfg.k):
                out |= {f"mul{r}_{c}_{k}.i_a": 16, f"mul{r}_{c}_{k}.i_b": 16,
                        f"mul{r}_{c}_{k}.o_product": 32, f"add{r}_{c}_{k}.i_a": 32,
                        f"add{r}_{c}_{k}.i_b": 32, f"add{r}_{c}_{k}.o_sum": 32}  # fmt: skip
    return out


@pytest.mark.parametrize("name", ["mac-fp16", "mac-fp16-dense"])
def test_shared_units_change_no_activity(name, tmp_path, monkeypatch):
    """The FP16 MAC arrays' units as instances of one module each (what is exported when
    Verilator measures the activity) run exactly as the inline units: the same activity, bit
    for bit, of the ports, the registers and every unit's ports."""
    from lutsim.reports.flow import designs

    design = DESIGNS[name]
    built = design.configure(M1N2)
    inline = verilog_of(design.build(built), design.top)
    shared = verilog_of(design.build(built, shared=True), design.top)
    assert inline.count("\nmodule ") == 1 + 2 * built.k * built.n  # one module per unit
    assert shared.count("\nmodule ") == 1 + 2
    assert shared.count("\n  fp_mul_fp16_fp32 mul") == built.k * built.n
    signals = registers(inline, design.top) | _unit_ports(built)
    assert registers(shared, design.top) == registers(inline, design.top)
    found = []
    for limit in (AMARANTH_MAX_UNITS, 1):  # M1N2: inline, then shared
        monkeypatch.setattr(designs, "AMARANTH_MAX_UNITS", limit)
        assert design.shared(built) == (limit == 1)
        (tmp_path / str(limit)).mkdir()
        found.append(measure(design, built, tmp_path / str(limit), signals, engine="verilator"))
    first, second = found
    assert set(first.signals) == set(second.signals) == set(signals)
    assert (first.inputs, first.outputs) == (second.inputs, second.outputs)
    for s in signals:
        assert second.signals[s] == first.signals[s], s


def test_summary_does_not_depend_on_the_order_of_the_ports():
    """A cached activity is read back in another order than it was measured in; its summary
    (part of every result) is the same to the last bit."""
    rng = np.random.default_rng(3)
    ports = {f"p{k}": tuple((float(r), float(d)) for r, d in rng.random((7, 2))) for k in range(9)}
    forward = act.Activity("x", 10, inputs=ports)
    backward = act.Activity("x", 10, inputs=dict(reversed(list(ports.items()))))
    assert forward.summary() == backward.summary()
