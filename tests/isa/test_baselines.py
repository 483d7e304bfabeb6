"""Baseline arrays, golden level: step sequences against exact references.

``*Cases`` classes hold the cases; a level subclasses them and overrides ``run`` (the RTL does,
in ``tests/hw/test_baselines.py``). Integer arrays must equal an exact int64 reference reduced
modulo 2^32; the fp16 MAC must equal, bit for bit, a scalar float32 loop in the defined order and
stay within the recursive-summation bound of a float64 reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from lutsim.isa.baselines import add_array, conv_lut, mac_fp16, mac_int
from lutsim.isa.config import CoreConfig
from lutsim.isa.formats import from_bits, to_bits, wrap_int


@dataclass(frozen=True)
class Steps:
    """Inputs of a run, one K-group per step: activation bit patterns ``a[S, M, K]``, codes
    ``w[S, N, K]``, zero points ``zero[S, N]`` and ``clear[S]`` (start the step from zero)."""

    a: np.ndarray
    w: np.ndarray
    zero: np.ndarray
    clear: np.ndarray

    def __len__(self) -> int:
        return len(self.clear)

    def values(self, cfg: CoreConfig) -> np.ndarray:
        return from_bits(self.a, cfg.act)


def make_steps(cfg: CoreConfig, a_values, w, zero=None, clear=None) -> Steps:
    w = np.asarray(w, dtype=np.int64)
    count = w.shape[0]
    zero = np.zeros((count, cfg.n), np.int64) if zero is None else np.asarray(zero, np.int64)
    clear = np.zeros(count, bool) if clear is None else np.asarray(clear, bool)
    a = to_bits(np.broadcast_to(a_values, (count, cfg.m, cfg.k)), cfg.act)
    return Steps(a, w, np.broadcast_to(zero, (count, cfg.n)).copy(), clear)


def join(*parts: Steps) -> Steps:
    """One run of several step sequences, one after the other."""
    return Steps(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("a", "w", "zero", "clear"))
    )


def random_steps(cfg: CoreConfig, count: int, seed: int, clear_rate: float = 0.15) -> Steps:
    """Random activations (every finite bit pattern for floats), codes and zero points; the
    first step clears, later ones with probability ``clear_rate``."""
    rng = np.random.default_rng(seed)
    shape = (count, cfg.m, cfg.k)
    if cfg.act.is_float:
        a = rng.integers(0, 1 << cfg.act.bits, shape, dtype=np.uint64)
        a = np.where(np.isfinite(from_bits(a, cfg.act)), a, a & np.uint64(0x83FF))
    else:
        a = to_bits(rng.integers(cfg.act.min_value, cfg.act.max_finite + 1, shape), cfg.act)
    w = rng.integers(0, cfg.code_max + 1, (count, cfg.n, cfg.k))
    zero = rng.integers(0, 1 << cfg.weight_bits, (count, cfg.n))
    clear = rng.random(count) < clear_rate
    clear[0] = True
    return Steps(a, w, zero, clear)


def golden_steps(array: str, cfg: CoreConfig, steps: Steps) -> np.ndarray:
    """Accumulator values after each step ``[S, M, N]`` by :mod:`lutsim.isa.baselines` (from 0)."""
    fn = {"mac": mac_fp16 if cfg.act.is_float else mac_int, "add": add_array,
          "conv_lut": conv_lut}[array]  # fmt: skip
    values = steps.values(cfg)
    acc = np.zeros((cfg.m, cfg.n))
    out = []
    for s in range(len(steps)):
        start = np.zeros_like(acc) if steps.clear[s] else acc
        if array == "mac":
            acc = fn(values[s], steps.w[s], steps.zero[s], cfg.weight_bits, cfg.k, acc=start)
        else:
            acc = fn(values[s], steps.w[s], cfg.weight_bits, cfg.k, acc=start)
        out.append(acc)
    return np.array(out)


def exact_steps(array: str, cfg: CoreConfig, steps: Steps) -> np.ndarray:
    """Independent integer reference: exact running sums (int64), wrapped to int32 per report."""
    a = steps.values(cfg).astype(np.int64)
    w = steps.w.astype(np.int64)
    if array == "mac":
        w = w - steps.zero[:, :, None]
    total = np.zeros((cfg.m, cfg.n), np.int64)
    out = []
    for s in range(len(steps)):
        if steps.clear[s]:
            total = np.zeros_like(total)
        total = total + np.einsum("mk,nk->mn", a[s], w[s])
        out.append(wrap_int(total, 32))
    return np.array(out)


def _where(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in bad[0])


# ---- integer arrays -----------------------------------------------------------------------
INT_CONFIGS = [
    dict(act_format="int8", weight_bits=1),
    dict(act_format="int8", weight_bits=2, ternary=True),
    dict(act_format="int16", weight_bits=3),
    dict(act_format="int8", weight_bits=4, k=3),
]
INT_IDS = ["int8-w1", "int8-ternary", "int16-w3", "int8-w4-k3"]


class IntArrayCases:
    """Cases of an integer baseline array (``array``: mac, add or conv_lut). A level overrides
    :meth:`run`; ``compare_golden`` adds a bit-for-bit comparison with :mod:`lutsim.isa.baselines`."""

    array = "add"
    n = 8
    compare_golden = False

    def run(self, cfg: CoreConfig, steps: Steps) -> np.ndarray:
        """Accumulator values after each step, ``[S, M, N]`` (int64, the int32 values)."""
        return golden_steps(self.array, cfg, steps)

    def check(self, cfg: CoreConfig, steps: Steps) -> np.ndarray:
        got = np.asarray(self.run(cfg, steps))
        expected = {"reference": exact_steps(self.array, cfg, steps)}
        if self.compare_golden:
            expected["golden"] = golden_steps(self.array, cfg, steps)
        for name, exp in expected.items():
            bad = np.argwhere(got != exp)
            assert bad.size == 0, (
                f"step {bad[0][0]} acc[{bad[0][1]}][{bad[0][2]}] = "
                f"{int(got[_where(bad)]) & 0xFFFFFFFF:032b} != "
                f"{int(exp[_where(bad)]) & 0xFFFFFFFF:032b} (expected, {name})"
            )
        return got

    @pytest.mark.parametrize("changes", INT_CONFIGS, ids=INT_IDS)
    def test_random_steps(self, changes):
        cfg = CoreConfig(m=2, n=self.n, **changes)
        self.check(cfg, random_steps(cfg, 30, seed=len(str(changes))))

    @pytest.mark.parametrize("act", ["int8", "int16"])
    def test_extreme_activations(self, act):
        cfg = CoreConfig(m=2, n=self.n, weight_bits=4, act_format=act)
        fmt = cfg.act
        top = cfg.code_max
        w = np.array([np.full((cfg.n, cfg.k), top), np.zeros((cfg.n, cfg.k), np.int64),
                      np.tile([0, top, 5, 10], (cfg.n, 1))])  # fmt: skip
        zero = np.array([np.zeros(cfg.n), np.full(cfg.n, top), np.arange(cfg.n) % (top + 1)])
        runs = []
        for value in (fmt.min_value, fmt.max_finite, [fmt.min_value, fmt.max_finite] * 2):
            a = np.broadcast_to(np.resize(value, cfg.k), (cfg.m, cfg.k))
            for start in (True, False):
                runs.append(make_steps(cfg, a, w, zero, clear=[start, False, True]))
        self.check(cfg, join(*runs))

    def test_all_ones_and_all_zero_codes(self):
        cfg = CoreConfig(m=2, n=self.n, weight_bits=3)
        steps = random_steps(cfg, 12, seed=5)
        w = np.where(np.arange(12)[:, None, None] % 2 == 0, cfg.code_max, 0)
        self.check(cfg, Steps(steps.a, np.broadcast_to(w, steps.w.shape), steps.zero, steps.clear))

    def test_reset_accumulators_are_zero(self):
        cfg = CoreConfig(m=2, n=self.n, weight_bits=2)
        steps = random_steps(cfg, 6, seed=7)
        self.check(cfg, Steps(steps.a, steps.w, steps.zero, np.zeros(6, bool)))

    @pytest.mark.parametrize("k", [2, 5])
    def test_group_sizes(self, k):
        cfg = CoreConfig(m=1, n=3, k=k, weight_bits=2)
        self.check(cfg, random_steps(cfg, 10, seed=k))

    def test_int32_wraps(self):
        """Extreme int16 steps until the accumulator has wrapped."""
        cfg = CoreConfig(m=1, n=2, k=6, weight_bits=4, act_format="int16")
        top, count = cfg.code_max, 740  # 740 * 6 * 32768 * 15 > 2^31
        a = np.array([[cfg.act.min_value] * cfg.k])
        w = np.broadcast_to([[top] * cfg.k, [0] * cfg.k], (count, cfg.n, cfg.k))
        zero = np.broadcast_to([0, top], (count, cfg.n))
        steps = make_steps(cfg, a, w, zero, clear=[True] + [False] * (count - 1))
        exact = exact_steps(self.array, cfg, steps)
        assert (np.diff(exact[:, 0, :], axis=0) > 0).any(), "the reference never wrapped"
        self.check(cfg, steps)


class TestMacIntGolden(IntArrayCases):
    array = "mac"


class TestAddArrayGolden(IntArrayCases):
    array = "add"


class TestConvLutGolden(IntArrayCases):
    array = "conv_lut"


# ---- fp16 MAC -----------------------------------------------------------------------------
def scalar_mac_fp16(cfg: CoreConfig, steps: Steps) -> np.ndarray:
    """The defined order one scalar at a time: ``acc = float32(acc + a * (q - z))`` lane by
    lane, each product exact in float32 (an independent spelling of :func:`mac_fp16`)."""
    values = steps.values(cfg)
    out = np.zeros((len(steps), cfg.m, cfg.n))
    acc = [[np.float32(0.0)] * cfg.n for _ in range(cfg.m)]
    with np.errstate(invalid="ignore", over="ignore"):
        for s in range(len(steps)):
            for m in range(cfg.m):
                for n in range(cfg.n):
                    total = np.float32(0.0) if steps.clear[s] else acc[m][n]
                    for k in range(cfg.k):
                        weight = np.float32(int(steps.w[s, n, k]) - int(steps.zero[s, n]))
                        total = np.float32(total + np.float32(values[s, m, k]) * weight)
                    acc[m][n] = total
                    out[s, m, n] = float(total)
    return out


def fp32_bound(cfg: CoreConfig, steps: Steps) -> tuple[np.ndarray, np.ndarray]:
    """float64 reference ``sum a (q - z)`` (math.fsum, correctly rounded) since the last clear,
    and the a priori bound on the fp32 result's error after each step: with n products added in
    order to +0 (the first addition is exact), ``gamma_(n-1) sum |p|`` (u = 2^-24; underflowing
    additions are exact), plus the reference's half ulp."""
    values = steps.values(cfg)
    ref = np.zeros((len(steps), cfg.m, cfg.n))
    bound = np.zeros_like(ref)
    products: list[list[list[float]]] = [[[] for _ in range(cfg.n)] for _ in range(cfg.m)]
    u = 2.0**-24
    for s in range(len(steps)):
        for m in range(cfg.m):
            for n in range(cfg.n):
                if steps.clear[s]:
                    products[m][n] = []
                weights = steps.w[s, n].astype(float) - float(steps.zero[s, n])
                products[m][n] += list(values[s, m] * weights)
                p = products[m][n]
                count = len(p) - 1
                ref[s, m, n] = math.fsum(p)
                gamma = count * u / (1 - count * u)
                bound[s, m, n] = gamma * math.fsum(abs(x) for x in p) + 2.0**-53 * abs(ref[s, m, n])
    return ref, bound


FP16 = CoreConfig(m=2, n=4, weight_bits=4, act_format="fp16")


class MacFp16Cases:
    """Cases of the fp16 MAC: bits equal to the scalar defined order, error within bound."""

    cfg = FP16
    compare_golden = False

    def run(self, cfg: CoreConfig, steps: Steps) -> np.ndarray:
        """Accumulator values after each step, ``[S, M, N]`` (float64 holding fp32 values)."""
        return golden_steps("mac", cfg, steps)

    def check(self, cfg: CoreConfig, steps: Steps) -> np.ndarray:
        got = to_bits(self.run(cfg, steps), "fp32")
        expected = {"scalar order": to_bits(scalar_mac_fp16(cfg, steps), "fp32")}
        if self.compare_golden:
            expected["golden"] = to_bits(golden_steps("mac", cfg, steps), "fp32")
        for name, exp in expected.items():
            bad = np.argwhere(got != exp)
            assert bad.size == 0, (
                f"step {bad[0][0]} acc[{bad[0][1]}][{bad[0][2]}] = {int(got[_where(bad)]):032b}"
                f" != {int(exp[_where(bad)]):032b} (expected, {name})"
            )
        values = from_bits(got, "fp32")
        if np.isfinite(steps.values(cfg)).all():
            ref, bound = fp32_bound(cfg, steps)
            excess = np.abs(values - ref) - bound
            assert (excess <= 0).all(), f"error exceeds the bound by {excess.max()}"
        return values

    def test_random_steps(self):
        cfg = self.cfg
        self.check(cfg, random_steps(cfg, 30, seed=11))

    def test_random_ternary(self):
        cfg = self.cfg.replace(weight_bits=2, ternary=True, k=3)
        self.check(cfg, random_steps(cfg, 12, seed=12))

    def test_extremes_subnormals_and_signed_zero(self):
        cfg = self.cfg
        top = cfg.code_max
        w = np.tile([top, 0, 1, top], (3, cfg.n, 1))
        zero = np.resize([0, top, 1, 7, top, 0, 0, 0, 3, 3, 3, 3], (3, cfg.n))
        runs = []
        # fmt: off
        for lanes in ([65504.0, -65504.0, 65504.0, 65504.0],    # largest finite fp16
                      [2.0**-24, -(2.0**-24), 2.0**-14, 1023 * 2.0**-24],  # subnormals, smallest normal
                      [-0.0, 0.0, -0.0, -0.0],                  # signed zeros: the sum stays +0
                      [1.0, 2.0**-11, 2.0**-11, -1.0]):         # fp32 ties and cancellation
            # fmt: on
            a = np.array([lanes, lanes[::-1]])
            runs.append(make_steps(cfg, a, w, zero, clear=[True, False, False]))
        self.check(cfg, join(*runs))

    def test_rounding_ties_to_even(self):
        """982560 = 65504 * 15 has an fp32 ulp of 2^-4: adding 2^-5 is a tie, kept even."""
        cfg = self.cfg
        a = np.array([[65504.0, 2.0**-5, 2.0**-5, 2.0**-5], [65504.0, 2.0**-4, 2.0**-5, 0.0]])
        w = np.tile([15, 1, 1, 1], (2, cfg.n, 1))
        acc = self.check(cfg, make_steps(cfg, a, w, clear=[True, True]))
        assert acc[0, 0, 0] == 982560.0, f"{acc[0, 0, 0]} != 982560.0 (exact 982560.09375)"
        assert acc[0, 1, 0] == 982560.125, f"{acc[0, 1, 0]} != 982560.125 (odd + tie: up)"

    def test_inf_and_nan(self):
        cfg = self.cfg
        inf, nan = np.inf, np.nan
        w = np.tile([1, 2, 3, 4], (4, cfg.n, 1))
        zero = np.array([np.zeros(cfg.n), np.full(cfg.n, 1), np.full(cfg.n, 2), np.zeros(cfg.n)])
        a = np.array([[inf, 1.0, 1.0, 1.0], [1.0, -inf, inf, 1.0]])  # Inf * 0 and Inf - Inf: NaN
        first = make_steps(cfg, a, w, zero, clear=[True, False, True, False])
        a = np.array([[nan, 0.0, 0.0, 0.0], [-inf, -inf, 1.0, 0.0]])
        then = make_steps(cfg, a, w, clear=[True, True, False, True])
        signaling = then.a.copy()
        signaling[:, 1, 3] = 0x7D01  # any NaN pattern in: the canonical NaN out
        self.check(cfg, join(first, Steps(signaling, then.w, then.zero, then.clear)))


class TestMacFp16Golden(MacFp16Cases):
    def test_random_steps_round(self):
        steps = random_steps(FP16, 30, seed=11)
        ref, _ = fp32_bound(FP16, steps)
        assert (golden_steps("mac", FP16, steps) != ref).any(), "no rounding in 30 random steps"


# ---- argument checks ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: add_array(np.zeros((2, 8)), np.zeros((3, 4), int), 2, 4),
         r"^a\[2, 8\] and codes\[3, 4\] must share their depth$"),
        (lambda: conv_lut(np.zeros((2, 6)), np.zeros((3, 6), int), 2, 4),
         r"^depth 6 is not a multiple of the group size 4$"),
        (lambda: mac_int(np.zeros((1, 4)), np.full((1, 4), 4), [0], 2, 4),
         r"^weight codes must be 0 to 3$"),
        (lambda: mac_fp16(np.zeros((1, 8)), np.zeros((2, 8), int), np.zeros((2, 3)), 2, 4),
         r"^zero points must be \(N,\) or \(N, C\) with C dividing 8$"),
    ],
)  # fmt: skip
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_whole_gemm_equals_steps():
    """One call over the whole depth with per-group zero points == the step by step run."""
    cfg = CoreConfig(m=2, n=5, weight_bits=3, act_format="int16")
    steps = random_steps(cfg, 6, seed=3, clear_rate=0.0)
    a = steps.values(cfg).transpose(1, 0, 2).reshape(cfg.m, -1)
    w = steps.w.transpose(1, 0, 2).reshape(cfg.n, -1)
    zero = steps.zero.T
    for array, got in (("mac", mac_int(a, w, zero, 3, 4)), ("add", add_array(a, w, 3, 4)),
                       ("conv_lut", conv_lut(a, w, 3, 4))):  # fmt: skip
        assert (got == golden_steps(array, cfg, steps)[-1]).all(), array
    fp = FP16.replace(n=5, weight_bits=3)
    steps = random_steps(fp, 6, seed=4, clear_rate=0.0)
    a = steps.values(fp).transpose(1, 0, 2).reshape(fp.m, -1)
    got = mac_fp16(a, steps.w.transpose(1, 0, 2).reshape(fp.n, -1), steps.zero.T, 3, 4)
    exp = golden_steps("mac", fp, steps)[-1]
    assert (to_bits(got, "fp32") == to_bits(exp, "fp32")).all()
