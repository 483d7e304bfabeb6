# amaranth: UnusedElaboratable=no
"""Baseline arrays in Amaranth's simulator: the golden-level cases, bit for bit, with timing.

Every run drives the array cycle by cycle, offering steps back to back with random idle gaps
and junk inputs while ``i_valid`` is low, and checks the documented timing: steps are accepted
every ``interval_cycles`` (or when offered, if later), ``o_ready`` and ``o_busy`` follow the step
in flight, and a step's result is in ``o_acc`` exactly ``latency_cycles`` after its acceptance.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from amaranth import Cat

from lutsim.hw import vlbuild
from lutsim.hw.add_array import AddArray
from lutsim.hw.conv_lut_array import ConvLutArray
from lutsim.hw.mac_array import MacArray
from lutsim.isa.config import CoreConfig
from lutsim.isa.formats import from_bits
from tests.isa.test_baselines import FP16, IntArrayCases, MacFp16Cases, Steps, random_steps

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def _pack(values: np.ndarray, width: int) -> int:
    """Elements in order, element 0 in the low bits (ArrayLayout order)."""
    out = 0
    for i, v in enumerate(np.asarray(values).ravel()):
        out |= (int(v) & ((1 << width) - 1)) << (i * width)
    return out


def simulate(dut, cfg: CoreConfig, steps: Steps, seed: int = 0) -> np.ndarray:
    """Accumulator bit patterns ``[S, M, N]`` (uint64) after each step, read from ``o_acc``
    ``latency_cycles`` after the step's acceptance; asserts the timing on the way."""
    from amaranth.sim import Simulator

    rng = np.random.default_rng(seed)
    count, lat, ii = len(steps), dut.latency_cycles, dut.interval_cycles
    gaps = np.where(rng.random(count) < 0.3, rng.integers(1, ii + 2, count), 0)
    has_zero = hasattr(dut, "i_zero")
    accepted: list[int] = []
    trace: list[tuple[int, int, int]] = []  # per cycle: o_ready, o_busy, o_acc

    ports = [dut.i_valid, dut.i_clear, dut.i_a.as_value(), dut.i_w.as_value()]
    ports += [dut.i_zero.as_value()] if has_zero else []
    inputs = Cat(*ports)

    def offer(ctx, s: int | None) -> None:
        """Step s on the inputs, or junk with i_valid low (one write: one settle)."""
        if s is None:
            junk = random_steps(cfg, 1, seed=int(rng.integers(1 << 30)))
            a, w, zero, clear = junk.a[0], junk.w[0], junk.zero[0], int(rng.integers(2))
        else:
            a, w, zero, clear = steps.a[s], steps.w[s], steps.zero[s], int(steps.clear[s])
        fields = [int(s is not None), clear, _pack(a, cfg.act.bits), _pack(w, cfg.weight_bits)]
        fields += [_pack(zero, cfg.weight_bits)] if has_zero else []
        value, offset = 0, 0
        for field, port in zip(fields, ports, strict=True):
            value |= field << offset
            offset += len(port)
        ctx.set(inputs, value)

    async def bench(ctx):
        s, wait, cycle = 0, int(gaps[0]), 0
        while not accepted or cycle <= accepted[-1] + lat + 1 or s < count:
            offering = s < count and wait == 0
            offer(ctx, s if offering else None)
            ready = ctx.get(dut.o_ready)
            trace.append((ready, ctx.get(dut.o_busy), ctx.get(dut.o_acc.as_value())))
            if offering and ready:
                accepted.append(cycle)
                s += 1
                wait = int(gaps[s]) if s < count else 0
            elif not offering:
                wait = max(wait - 1, 0)
            await ctx.tick()
            cycle += 1
            assert cycle < 64 + count * (ii + 2) * 2, "the array stopped accepting steps"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()

    for s in range(1, count):
        due = max(accepted[s - 1] + ii, accepted[s - 1] + 1 + int(gaps[s]))
        assert accepted[s] == due, f"step {s} accepted in cycle {accepted[s]} != {due} (expected)"
    for cycle, (ready, busy, _) in enumerate(trace):
        exp_busy = any(c < cycle < c + lat for c in accepted)
        exp_ready = not any(c < cycle < c + ii for c in accepted)
        assert (ready, busy) == (exp_ready, exp_busy), (
            f"cycle {cycle}: o_ready, o_busy = {ready:b}, {busy:b} != "
            f"{exp_ready:b}, {exp_busy:b} (expected)"
        )
    words = [trace[c + lat][2] for c in accepted]
    lanes = [[(w >> (32 * i)) & 0xFFFFFFFF for i in range(cfg.m * cfg.n)] for w in words]
    return np.array(lanes, dtype=np.uint64).reshape(count, cfg.m, cfg.n)


# ---- integer arrays -----------------------------------------------------------------------
class IntArrayRtl(IntArrayCases):
    n = 4
    compare_golden = True

    def make(self, cfg: CoreConfig):
        raise NotImplementedError

    def run(self, cfg: CoreConfig, steps: Steps) -> np.ndarray:
        dut = self.make(cfg)
        assert (dut.latency_cycles, dut.interval_cycles) == self.timing(cfg)
        return from_bits(simulate(dut, cfg, steps, seed=len(steps)), "int32")


class TestMacIntRtl(IntArrayRtl):
    array = "mac"

    def make(self, cfg):
        return MacArray(cfg)

    def timing(self, cfg):
        return 1, 1


class TestAddArrayRtl(IntArrayRtl):
    array = "add"

    def make(self, cfg):
        return AddArray(cfg)

    def timing(self, cfg):
        return cfg.weight_bits + 1, cfg.weight_bits


class TestConvLutRtl(IntArrayRtl):
    array = "conv_lut"
    columns_per_table = 1

    def make(self, cfg):
        dut = ConvLutArray(cfg, self.columns_per_table)
        assert dut.tables == cfg.m * cfg.n // self.columns_per_table
        return dut

    def timing(self, cfg):
        return cfg.weight_bits + 1, cfg.weight_bits

    @pytest.mark.parametrize("columns", [2, 4])
    def test_shared_tables(self, columns, monkeypatch):
        monkeypatch.setattr(self, "columns_per_table", columns)
        cfg = CoreConfig(m=2, n=4, weight_bits=3, act_format="int16")
        self.check(cfg, random_steps(cfg, 12, seed=columns))


# ---- fp16 MAC -----------------------------------------------------------------------------
class TestMacFp16Rtl(MacFp16Cases):
    cfg = FP16.replace(n=2)
    compare_golden = True

    def run(self, cfg: CoreConfig, steps: Steps) -> np.ndarray:
        dut = MacArray(cfg)
        assert (dut.latency_cycles, dut.interval_cycles) == (1, 1)
        return from_bits(simulate(dut, cfg, steps, seed=len(steps)), "fp32")


# ---- construction -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MacArray(CoreConfig(act_format="fp8_e4m3")),
         r"^MacArray needs act_format int8, int16 or fp16, not 'fp8_e4m3'$"),
        (lambda: MacArray(CoreConfig(act_format="fp16", acc_format="fp16")),
         r"^MacArray accumulates fp16 products in fp32, not in fp16$"),
        (lambda: MacArray(CoreConfig(act_format="fp16", table_format="int8")),
         r"^MacArray accumulates fp16 products in fp32, not in int32$"),
        (lambda: AddArray(CoreConfig(act_format="fp16")),
         r"^AddArray needs act_format int8 or int16, not 'fp16'$"),
        (lambda: ConvLutArray(CoreConfig(act_format="fp8_e5m2")),
         r"^ConvLutArray needs act_format int8 or int16, not 'fp8_e5m2'$"),
        (lambda: ConvLutArray(CoreConfig(n=8), 3),
         r"^columns_per_table must divide n = 8, not 3$"),
        (lambda: ConvLutArray(CoreConfig(n=8), 0),
         r"^columns_per_table must divide n = 8, not 0$"),
    ],
)  # fmt: skip
def test_unsupported_configs(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda: MacArray(CoreConfig()),
        lambda: MacArray(CoreConfig(act_format="fp16", weight_bits=4)),
        lambda: AddArray(CoreConfig(act_format="int16", weight_bits=3)),
        lambda: ConvLutArray(CoreConfig(weight_bits=4), 8),
    ],
    ids=["mac-int8", "mac-fp16", "add", "conv-lut"],
)
def test_ports_of_the_default_tile(build):
    """The paper's M2N64K4 tile: ports sized from the config."""
    dut = build()
    cfg = dut.cfg
    widths = {name: len(getattr(dut, name).as_value()) for name in ("i_a", "i_w", "o_acc")}
    assert widths == {
        "i_a": cfg.m * cfg.k * cfg.act.bits,
        "i_w": cfg.n * cfg.k * cfg.weight_bits,
        "o_acc": cfg.m * cfg.n * 32,
    }


LINT_WAIVERS = (
    "-Wno-WIDTH",
    "-Wno-CASEINCOMPLETE",
    "-Wno-UNUSEDSIGNAL",
    "-Wno-PROCASSINIT",
    "-Wno-DECLFILENAME",
)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MacArray(CoreConfig(n=4)),
        lambda: MacArray(CoreConfig(m=1, n=1, act_format="fp16")),
        lambda: AddArray(CoreConfig(n=4, weight_bits=1)),
        lambda: ConvLutArray(CoreConfig(n=4, weight_bits=3, act_format="int16"), 2),
    ],
    ids=["mac-int8", "mac-fp16", "add", "conv-lut"],
)
def test_verilog_lints_clean(build):
    verilog = vlbuild.verilog_of(build(), "baseline")
    assert vlbuild.lint(verilog, "baseline", LINT_WAIVERS) == []
