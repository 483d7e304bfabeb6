"""The Verilator activity harness counts what its contract says, on a design small enough to
count by hand: a 3-bit counter that adds ``i_step`` every cycle (its register ``count``, in
the Verilog ``o_count``), and a pair of them, which the build merges into one module."""

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lutsim.hw import vlactivity
from lutsim.hw.vlbuild import verilog_of

TOP = "stepper"


class Stepper(wiring.Component):
    i_step: In(2)
    o_count: Out(3)

    def elaborate(self, platform):
        m = Module()
        count = Signal(3)
        m.d.sync += count.eq(count + self.i_step)
        m.d.comb += self.o_count.eq(count)
        return m


class Pair(wiring.Component):
    """Two identical steppers, ``u0`` stepping by ``i_a`` and ``u1`` by ``i_b``."""

    i_a: In(2)
    i_b: In(2)
    o_sum: Out(4)

    def elaborate(self, platform):
        m = Module()
        m.submodules.u0 = u0 = Stepper()
        m.submodules.u1 = u1 = Stepper()
        m.d.comb += [u0.i_step.eq(self.i_a), u1.i_step.eq(self.i_b)]
        m.d.comb += self.o_sum.eq(u0.o_count + u1.o_count)
        return m


@pytest.fixture(scope="module")
def exe():
    signals = [("", "count"), ("", "o_count"), ("", "i_step")]
    inputs = {"i_step": 2}
    cpp = vlactivity.harness(TOP, inputs)
    return vlactivity.executable(("test_vlactivity",), lambda: verilog_of(Stepper(), TOP), TOP,
                                 cpp, signals)  # fmt: skip


def counted(exe, steps):
    signals = {("", "count"): 3, ("", "i_step"): 2, ("", "missing"): 1, ("", "o_count"): 5}
    return vlactivity.run(exe, [{"i_step": s} for s in steps], {"i_step": 2}, signals, TOP)


def test_toggles_and_half_cycles_at_one(exe):
    # samples of count: 0 1 2 3 4 (s_0 .. s_4); bit 0: 0 1 0 1 0, bit 1: 0 0 1 1 0, bit 2: 0 0 0 0 1
    counts = counted(exe, [1, 1, 1, 1])
    assert counts.cycles == 4
    assert counts.toggles["", "count"].tolist() == [4, 2, 1]
    assert counts.halves["", "count"].tolist() == [4, 4, 1]  # s_0 + 2 (s_1 + s_2 + s_3) + s_4
    # the input holds its last value in the final sample: 1 1 1 1 1
    assert counts.toggles["", "i_step"].tolist() == [0, 0]
    assert counts.halves["", "i_step"].tolist() == [8, 0]


def test_input_keeps_its_value_until_set(exe):
    counts = vlactivity.run(exe, [{"i_step": 3}, {}, {"i_step": 0}, {}], {"i_step": 2},
                            {("", "count"): 3}, TOP)  # fmt: skip
    # count: 0 3 6 6 6; bit 0: 0 1 0 0 0, bit 1: 0 1 1 1 1, bit 2: 0 0 1 1 1
    assert counts.toggles["", "count"].tolist() == [2, 1, 1]
    assert np.array_equal(counts.halves["", "count"], [2, 7, 5])


def test_missing_or_other_width_is_not_found(exe):
    counts = counted(exe, [1, 2])
    assert set(counts.toggles) == {("", "count"), ("", "i_step")}


def test_registers_and_public_marks():
    verilog = verilog_of(Stepper(), TOP)
    assert vlactivity.registers(verilog, TOP) == {"o_count": 3}  # count is o_count's alias
    marked = vlactivity.mark_public(verilog, TOP, [("", "count"), ("", "nothing")])
    assert marked.count(vlactivity.PUBLIC) == 1
    assert marked.replace(f" {vlactivity.PUBLIC}", "") == verilog


def test_identical_modules_are_compiled_once_and_counted_apart():
    verilog = verilog_of(Pair(), "pair")
    merged = vlactivity.merge_modules(verilog, "pair")
    assert (verilog.count("\nmodule "), merged.count("\nmodule ")) == (3, 2)
    assert vlactivity.registers(verilog, "pair") == {"u0.count": 3, "u1.count": 3}
    inputs = {"i_a": 2, "i_b": 2}
    signals = {("u0", "count"): 3, ("u1", "count"): 3}
    exe = vlactivity.executable(("test_vlactivity.pair",), lambda: verilog, "pair",
                                vlactivity.harness("pair", inputs), list(signals))  # fmt: skip
    counts = vlactivity.run(exe, [{"i_a": 1, "i_b": 0}] * 4, inputs, signals, "pair")
    assert counts.toggles["u0", "count"].tolist() == [4, 2, 1]  # 0 1 2 3 4
    assert counts.toggles["u1", "count"].tolist() == [0, 0, 0]  # 0 0 0 0 0
