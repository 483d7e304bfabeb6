"""GEMM cases every level must pass. A level subclasses :class:`GemmCases` and overrides
:meth:`GemmCases.run` (and may narrow :attr:`GemmCases.sizes` to what it can afford)."""

from __future__ import annotations

import numpy as np
import pytest

from lutsim.isa.config import CoreConfig
from lutsim.isa.gemm import GemmResult, make_problem, random_problem, run_gemm

WEIGHTS = [
    {"weight_bits": 1},
    {"weight_bits": 2},
    {"weight_bits": 3},
    {"weight_bits": 4},
    {"weight_bits": 2, "ternary": True},
]
WEIGHT_IDS = ["w1", "w2", "w3", "w4", "ternary"]

INT_CONFIGS = [
    dict(w, act_format=act, symmetrize=sym)
    for w in WEIGHTS
    for act in ("int8", "int16")
    for sym in (True, False)
]
INT_IDS = [
    f"{wid}-{act}-{'sym' if sym else 'nosym'}"
    for wid in WEIGHT_IDS
    for act in ("int8", "int16")
    for sym in (True, False)
]

FLOAT_CONFIGS = [
    dict(weight_bits=bits, act_format=act, table_format=table, acc_format=acc, symmetrize=sym)
    for bits in (1, 2, 4)
    for act, table, acc in (
        ("fp16", "fp16", "fp32"),
        ("fp16", "fp16", "fp16"),
        ("fp16", "fp32", "fp32"),
        ("fp16", "int8", "int32"),
        ("fp8_e4m3", "fp16", "fp32"),
        ("fp8_e4m3", "fp8_e4m3", "fp16"),
        ("fp8_e5m2", "fp16", "fp16"),
        ("fp8_e5m2", "int8", "int32"),
        ("int8", "int8", "int32"),
    )
    for sym in (True, False)
]
FLOAT_IDS = [
    f"w{c['weight_bits']}-{c['act_format']}-t{c['table_format']}-acc{c['acc_format']}"
    f"-{'sym' if c['symmetrize'] else 'nosym'}"
    for c in FLOAT_CONFIGS
]


def _exact_dots(problem) -> np.ndarray:
    """Independent exact reference: Python-int-safe int64 dot products per chunk [M, N, C]."""
    a = problem.a.astype(np.int64)
    w = problem.w.astype(np.int64)
    chunks = problem.chunks
    span = a.shape[1] // chunks
    out = np.empty((a.shape[0], w.shape[0], chunks), dtype=np.int64)
    for c in range(chunks):
        part = slice(c * span, (c + 1) * span)
        centered = w[:, part] - problem.zero[:, c : c + 1].astype(np.int64)
        out[:, :, c] = np.einsum("mk,nk->mn", a[:, part], centered)
    return out


class GemmCases:
    """Golden level: the GEMM as an LMMA program on the instruction-level executor."""

    sizes = ((1, 1, 4), (3, 70, 12), (5, 130, 64))

    def run(self, cfg: CoreConfig, problem) -> GemmResult:
        return run_gemm(cfg, problem)

    def check_exact(self, cfg: CoreConfig, problem) -> None:
        result = self.run(cfg, problem)
        dots = _exact_dots(problem)
        got = result.acc if result.acc.ndim == 3 else result.acc[:, :, None]
        bad = np.argwhere(got != dots)
        assert bad.size == 0, (
            f"acc{tuple(bad[0])} = {got[tuple(bad[0])]} != {dots[tuple(bad[0])]} (expected)"
        )
        assert result.algorithm_mismatches == 0
        assert result.residual["acc_mismatches"] == 0
        assert result.ok

    @pytest.mark.parametrize("changes", INT_CONFIGS, ids=INT_IDS)
    def test_integer_paths_exact(self, changes):
        cfg = CoreConfig(m=2, n=16, **changes)
        rng = np.random.default_rng(len(str(changes)))
        for i, (m, n, k) in enumerate(self.sizes):
            m, n = m + int(rng.integers(0, 3)), n + int(rng.integers(0, 5))
            self.check_exact(cfg, random_problem(cfg, m, n, k, seed=i))
            if k % 8 == 0:
                self.check_exact(cfg, random_problem(cfg, m, n, k, group=k // 2, seed=i))

    @pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
    def test_table_group_sizes(self, k):
        cfg = CoreConfig(m=3, n=8, k=k, weight_bits=3)
        self.check_exact(cfg, random_problem(cfg, 4, 11, 6 * k, seed=k))
        self.check_exact(cfg, random_problem(cfg, 4, 11, 6 * k, group=2 * k, seed=k))

    def test_k_not_multiple_of_table_k_is_padded(self):
        cfg = CoreConfig(m=2, n=8, weight_bits=2)
        problem = random_problem(cfg, 3, 9, 13, seed=3)
        assert problem.pad_k == 3 and problem.shape == (3, 9, 13)
        self.check_exact(cfg, problem)

    @pytest.mark.parametrize("act", ["int8", "int16"])
    def test_extreme_activations(self, act):
        cfg = CoreConfig(m=2, n=8, weight_bits=4, act_format=act)
        fmt = cfg.act
        for value in (fmt.min_value, fmt.max_finite, 0):
            a = np.full((2, 32), value)
            w = np.tile(np.array([0, 15, 7, 8]), (8, 8))
            zero = np.array([0, 15, 8, 3, 0, 0, 1, 2])
            self.check_exact(cfg, make_problem(cfg, a, w, zero=zero))

    @pytest.mark.parametrize("changes", FLOAT_CONFIGS, ids=FLOAT_IDS)
    def test_float_paths_within_bound(self, changes):
        cfg = CoreConfig(m=2, n=16, **changes)
        for i, (m, n, k) in enumerate(self.sizes):
            problem = random_problem(cfg, m + 1, n, k, seed=10 + i)
            result = self.run(cfg, problem)
            err = np.abs(result.o - result.reference)
            worst = np.unravel_index(np.argmax(err - result.bound), err.shape)
            assert np.all(err <= result.bound), (
                f"|o - ref|{worst} = {err[worst]:.3e} > bound {result.bound[worst]:.3e}"
            )
            assert result.algorithm_mismatches == 0
            assert result.ok

    def test_fp16_subnormal_and_signed_zero_activations(self):
        cfg = CoreConfig(m=2, n=8, act_format="fp16", acc_format="fp16", weight_bits=2)
        tiny = 2.0**-24
        a = np.array([[tiny, -tiny, 3 * tiny, -0.0] * 4, [-0.0] * 16, [2.0**-14] * 16])
        w = np.random.default_rng(1).integers(0, 4, size=(8, 16))
        result = self.run(cfg, make_problem(cfg, a, w))
        assert result.algorithm_mismatches == 0 and result.ok
