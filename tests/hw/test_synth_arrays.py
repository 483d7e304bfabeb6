# amaranth: UnusedElaboratable=no
"""The arrays that exist for synthesis: ``LutTile`` (the core's datapath alone) and the four
``LutAblationArray`` steps, in Amaranth's simulator against numpy references."""

from __future__ import annotations

import os

import numpy as np
import pytest
from amaranth import Value

from lutsim.hw.lut_ablation import STEPS, LutAblationArray
from lutsim.hw.lut_tile import LutTile
from lutsim.isa.config import CoreConfig
from lutsim.isa.formats import from_bits, to_bits
from lutsim.isa.golden import accumulate, precompute_tables, weight_indices

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def _pack(values, width: int) -> int:
    out = 0
    for i, v in enumerate(np.asarray(values).ravel()):
        out |= (int(v) & ((1 << width) - 1)) << (i * width)
    return out


def run_planes(dut, planes: list[dict]) -> list[int]:
    """Offer each plane (port name -> packed value) in turn, one per cycle; ``o_acc`` after
    each (the value of the cycle after it was offered)."""
    from amaranth.sim import Simulator

    seen: list[int] = []

    async def bench(ctx):
        for plane in planes:
            for name, value in plane.items():
                ctx.set(Value.cast(getattr(dut, name)), value)
            ctx.set(dut.i_valid, 1)
            await ctx.tick()
            seen.append(ctx.get(dut.o_acc.as_value()))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return seen


def _lanes(word: int, count: int, width: int, fmt: str) -> np.ndarray:
    bits = np.array([(word >> (width * i)) & ((1 << width) - 1) for i in range(count)], np.uint64)
    return from_bits(bits, fmt)


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("bits", [1, 3])
def test_ablation_step_sums(step, bits):
    cfg = CoreConfig(m=2, n=3, weight_bits=bits)
    rng = np.random.default_rng(bits)
    groups = 3
    a = rng.integers(-128, 128, size=(groups, cfg.m, cfg.k))
    a[0] = -128  # the extreme entry: the negation of -4 * 128 must fit
    q = rng.integers(0, 2**bits, size=(groups, cfg.n, cfg.k))
    dut = LutAblationArray(cfg, step)
    sym = cfg.replace(symmetrize=step != "conventional", table_format="int")
    planes = []
    for g in range(groups):
        index = weight_indices(sym, q[g]) if step != "symmetrized" else weight_indices(
            cfg.replace(symmetrize=False), q[g])  # fmt: skip
        for b in range(bits):
            plane = {"i_index": _pack(index[b, :, 0], cfg.k), "i_plane": b,
                     "i_clear": int(g == 0 and b == 0)}  # fmt: skip
            if step == "precomputed":
                entries = precompute_tables(sym, a[g].reshape(cfg.m, cfg.k), 1).entries
                plane["i_tables"] = _pack(entries, dut.entry_bits)
            else:
                plane["i_a"] = _pack(a[g], cfg.act.bits)
            planes.append(plane)
    seen = run_planes(dut, planes)
    got = np.stack([_lanes(seen[(g + 1) * bits - 1], cfg.m * cfg.n, 32, "int32")
                    for g in range(groups)])  # fmt: skip
    dots = np.einsum("gmk,gnk->gmn", a, q)
    if step != "conventional":  # sum a (2q - (2^B - 1))
        dots = 2 * dots - (2**bits - 1) * a.sum(axis=2)[:, :, None]
    exp = np.cumsum(dots, axis=0).reshape(groups, -1)
    assert np.array_equal(got, exp), f"{got.tolist()} != {exp.tolist()} (expected)"


def test_ablation_rejects_bad_input():
    with pytest.raises(ValueError, match=r"^ablation step must be one of conventional, "
                       r"symmetrized, inverted, precomputed, not 'x'$"):  # fmt: skip
        LutAblationArray(CoreConfig(), "x")
    with pytest.raises(ValueError, match=r"^LutAblationArray needs act_format int8 or int16, "
                       r"not 'fp16'$"):  # fmt: skip
        LutAblationArray(CoreConfig(act_format="fp16"), "inverted")


@pytest.mark.parametrize("act", ["int8", "fp16"])
def test_lut_tile_equals_golden(act):
    cfg = CoreConfig(m=2, n=3, weight_bits=2, act_format=act)
    rng = np.random.default_rng(7)
    groups = 3
    a = rng.standard_normal((cfg.m, groups * cfg.k)) if act == "fp16" else rng.integers(
        -128, 128, size=(cfg.m, groups * cfg.k))  # fmt: skip
    q = rng.integers(0, 4, size=(cfg.n, groups * cfg.k))
    tables = precompute_tables(cfg, a, 1)
    index = weight_indices(cfg, q)
    planes = []
    for g in range(groups):
        for b in range(cfg.weight_bits):
            planes.append({
                "i_tables": _pack(to_bits(tables.entries[:, g], cfg.table), cfg.table.bits),
                "i_index": _pack(index[b, :, g], cfg.k), "i_plane": b,
                "i_clear": int(g == 0 and b == 0),
            })  # fmt: skip
    seen = run_planes(LutTile(cfg), planes)
    got = _lanes(seen[-1], cfg.m * cfg.n, cfg.acc.bits, cfg.acc_format).reshape(cfg.m, cfg.n)
    exp = accumulate(cfg, tables, index)[:, :, 0]
    assert np.array_equal(got, exp), f"{got.tolist()} != {exp.tolist()} (expected)"


@pytest.mark.parametrize("act", ["int8", "fp16"])
def test_dense_mac_array(act):
    from lutsim.hw.dense_mac_array import DenseMacArray

    cfg = CoreConfig(m=2, n=3, act_format=act)
    rng = np.random.default_rng(3)
    steps = 3
    if act == "fp16":
        a, w = (rng.standard_normal((steps, rows, cfg.k)).astype(np.float16)
                for rows in (cfg.m, cfg.n))  # fmt: skip
    else:
        a, w = (rng.integers(-128, 128, size=(steps, rows, cfg.k)) for rows in (cfg.m, cfg.n))
    planes = [
        {"i_a": _pack(to_bits(a[s], cfg.act), 16 if act == "fp16" else 8),
         "i_w": _pack(to_bits(w[s], cfg.act), 16 if act == "fp16" else 8),
         "i_clear": int(s == 0)}
        for s in range(steps)
    ]  # fmt: skip
    seen = run_planes(DenseMacArray(cfg), planes)
    got = _lanes(seen[-1], cfg.m * cfg.n, 32, "int32" if act == "int8" else "fp32")
    if act == "fp16":
        exp = np.zeros((cfg.m, cfg.n), np.float32)
        for s in range(steps):
            for k in range(cfg.k):  # fp16 x fp16 is exact in fp32; each add rounds once
                exp = exp + a[s, :, k, None].astype(np.float32) * w[s, None, :, k].astype(
                    np.float32)  # fmt: skip
    else:
        exp = np.einsum("smk,snk->mn", a, w)
    assert np.array_equal(got.reshape(cfg.m, cfg.n), exp), f"{got} != {exp} (expected)"
    with pytest.raises(ValueError, match=r"^DenseMacArray needs act_format int8 or fp16, "
                       r"not 'int16'$"):  # fmt: skip
        DenseMacArray(CoreConfig(act_format="int16"))
