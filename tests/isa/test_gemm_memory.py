"""Bounded memory: :func:`lutsim.isa.gemm.run_gemm` streams over blocks of tiles (the result
is that of one block), and problems larger than a budget are refused before anything is
allocated, from their declared sizes."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from lutsim.isa import gemm
from lutsim.isa.config import load_config

CASES = [  # preset, M, N, K, group
    ("m2n64k4", 5, 130, 64, None),
    ("m2n64k4-w4-int8", 4, 192, 256, 64),
    ("m2n64k4-w2-fp16", 3, 70, 36, None),
    ("m2n64k4-w2-fp8-int8table", 6, 64, 128, 32),
    ("m2n64k4-w1.58-int8", 2, 129, 16, None),
]


def _counting(calls: list):
    def runner(cfg, program, memories):
        calls.append(len(memories))
        out, _ = gemm.golden_runner(cfg, program, memories)
        return out, 7 * len(memories)

    return runner


@pytest.mark.parametrize(("preset", "m", "n", "k", "group"), CASES)
@pytest.mark.parametrize("block_bytes", [1, 40_000])
def test_blocks_give_the_result_of_one_run(preset, m, n, k, group, block_bytes):
    cfg = load_config(preset)
    problem = gemm.random_problem(cfg, m, n, k, group=group, seed=m + n)
    whole, split = [], []
    one = gemm.run_gemm(cfg, problem, runner=_counting(whole))
    blocks = gemm.run_gemm(cfg, problem, runner=_counting(split), block_bytes=block_bytes)
    assert len(whole) == 1 and sum(split) == whole[0] == one.tiles[0] * one.tiles[1]
    if block_bytes == 1:
        assert split == [1] * whole[0], "one tile per block"
    assert one.ok and blocks.ok
    assert blocks.cycles == one.cycles == 7 * whole[0]
    np.testing.assert_array_equal(blocks.o, one.o)
    assert (blocks.acc is None) == (one.acc is None)
    if one.acc is not None:
        np.testing.assert_array_equal(blocks.acc, one.acc)
        np.testing.assert_array_equal(blocks.reference, one.reference)  # from exact dots
        assert blocks.residual == one.residual
    # float64 BLAS may sum a block in another order: the last bits of a float reference and
    # of the bound's float64 term may differ, nothing more
    np.testing.assert_allclose(blocks.reference, one.reference, rtol=1e-13, atol=0)
    np.testing.assert_allclose(blocks.bound, one.bound, rtol=1e-13, atol=0)
    for key in ("max_abs", "max_ulp", "max_ulp_at_peak"):
        assert blocks.residual[key] == pytest.approx(one.residual[key], rel=1e-6, abs=1e-300)
    assert blocks.residual["within_bound"] == one.residual["within_bound"]
    assert blocks.algorithm_mismatches == one.algorithm_mismatches == 0


def test_a_wrong_tile_is_counted_in_any_block():
    cfg = load_config("m2n64k4")
    problem = gemm.random_problem(cfg, 4, 128, 32, seed=1)

    def broken(cfg, program, memories):
        out, _ = gemm.golden_runner(cfg, program, memories)
        out = out.copy()
        out[-1, -1] ^= 1  # the last accumulator word of each block's last tile
        return out, None

    result = gemm.run_gemm(cfg, problem, runner=broken, block_bytes=1)
    assert result.algorithm_mismatches == 4 and result.residual["acc_mismatches"] == 4
    assert not result.ok and result.cycles is None


_PEAK = """
import json, resource, sys
from lutsim.isa import gemm
from lutsim.isa.config import load_config
cfg = load_config(sys.argv[1])
m, n, k = map(int, sys.argv[2:5])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
problem = gemm.random_problem(cfg, m, n, k)
result = gemm.run_gemm(cfg, problem)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"ok": result.ok, "base": base, "peak": peak}))
"""


@pytest.mark.parametrize(("preset", "m", "n", "k"), [("m2n64k4", 64, 2048, 2048),
                                                     ("m2n64k4-w2-fp16", 16, 1024, 1024)])  # fmt: skip
def test_peak_memory_stays_within_the_estimate(preset, m, n, k):
    done = subprocess.run([sys.executable, "-c", _PEAK, preset, str(m), str(n), str(k)],
                          capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    run = json.loads(done.stdout)
    estimate = gemm.estimate_bytes(load_config(preset), m, n, k)
    used = run["peak"] - run["base"]
    assert run["ok"] and used <= estimate, f"{used / 2**20:.0f} MiB > {estimate / 2**20:.0f} MiB"


def test_estimate_grows_with_the_outputs_not_the_tiles():
    cfg = load_config("m2n64k4")
    small, large = (gemm.estimate_bytes(cfg, 4096, 4096, k) for k in (4096, 8192))
    assert large - small < 2 * 16 * 4096 * 4096 + 64 * 2**20  # the inputs' K, not M x N x K
    assert gemm.estimate_bytes(cfg, 4096, 4096, 4096) < 2 * 2**30


def test_budget_refuses_before_allocating():
    cfg = load_config("m2n64k4")
    with pytest.raises(
        gemm.MemoryBudgetError,
        match=r"^a 1000000000000000000x64x64 GEMM needs about \d+\.\d GiB, more than the budget "
        r"of 2\.0 GiB; raise --max-memory or run a smaller problem$",
    ):
        gemm.check_budget(cfg, 10**18, 64, 64, 1, 2 << 30)
    gemm.check_budget(cfg, 64, 64, 64, 1, 2 << 30)


def _declare(path, **shapes):
    """An .npz whose members declare ``shapes`` (int8) but hold only their headers."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, shape in shapes.items():
            header = {"descr": "|i1", "fortran_order": False, "shape": shape}
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array_header_1_0(member, header)


def test_declared_sizes_are_checked_first(tmp_path):
    cfg = load_config("m2n64k4")
    path = tmp_path / "huge.npz"
    _declare(path, a=(10**18, 64), w=(64, 64))
    assert gemm.npz_header(path)["a"][0] == (10**18, 64)
    with pytest.raises(gemm.MemoryBudgetError, match=rf"^{path}: its arrays declare .* GiB, more "
                       r"than the budget of 2\.0 GiB; raise --max-memory or run a smaller problem$"):  # fmt: skip
        gemm.check_npz_budget(cfg, path, 2 << 30)
    _declare(path, a=(40_000, 4096), w=(40_000, 4096))  # inputs fit; outputs M x N do not
    with pytest.raises(gemm.MemoryBudgetError, match=rf"^{path}: a 40000x40000x4096 GEMM needs"):
        gemm.check_npz_budget(cfg, path, 8 << 30)


def test_member_that_is_not_npy_is_refused(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a", b"raw")
    with pytest.raises(ValueError, match=rf"^{path}: member 'a' is not an \.npy array$"):
        gemm.load_npz(load_config("m2n64k4"), path)
