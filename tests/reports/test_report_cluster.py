"""``lutsim report --scheduler``: the synthesis phase on a Dask cluster through the sweep engine
(:func:`lutsim.reports.sweep.engine.backend`): the same results as a local run, a worker killed
mid-task, the one-line errors."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from lutsim.isa.config import CoreConfig
from lutsim.reports.flow import synth
from lutsim.reports.latency import decode
from lutsim.reports.report import ReportSpec, _Steps, _synthesize_all, build_report
from lutsim.reports.sweep.engine import backend
from tests.lutsim.test_cli import run

TINY = ReportSpec(core=CoreConfig(m=1, n=1), weight_bits=(2,), levels=("dp4",),
                  models=("llama2-7b",), phases=(decode(2, 32),))  # fmt: skip


@pytest.fixture
def cluster(tmp_path):
    """A 2-worker loopback cluster whose workers keep their own synthesis cache."""
    distributed = pytest.importorskip("distributed")
    cache = tmp_path / "worker-cache"
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", env={"LUTSIM_CACHE": str(cache)},
    )  # fmt: skip
    client = distributed.Client(cluster.scheduler_address)
    try:
        yield cluster.scheduler_address, client, cache
    finally:
        client.close()
        cluster.close()


def _results(data):
    """``data`` without what differs between runs: times, provenance, where it ran."""
    if isinstance(data, dict):
        skip = {"runtime", "provenance", "timing_s", "wall_s"}
        return {k: _results(v) for k, v in data.items() if k not in skip}
    if isinstance(data, list):
        return [_results(v) for v in data]
    return data


def test_report_on_a_cluster_matches_the_local_run(tmp_path, cluster, monkeypatch):
    address, _, worker_cache = cluster
    mine = tmp_path / "report-cache"
    monkeypatch.setenv("LUTSIM_CACHE", str(mine))
    remote = build_report(tmp_path / "dask", TINY, scheduler=address)
    # every design was synthesized by the workers: this process built no netlist of its own
    assert not (mine / "synth" / "netlist").exists()
    assert any((worker_cache / "synth" / "netlist").iterdir())
    dask = json.loads(remote["json"].read_text())
    assert dask["timing_s"]["backend"] == {"kind": "dask", "scheduler": address, "workers": 2}
    assert f"on the Dask cluster at {address} (2 workers)" in remote["markdown"].read_text()
    monkeypatch.setenv("LUTSIM_CACHE", str(worker_cache))  # the local run finds them cached
    local = json.loads(build_report(tmp_path / "local", TINY)["json"].read_text())
    assert local["timing_s"]["backend"] == {"kind": "local", "workers": 1}
    assert _results(dask) == _results(local)


def test_a_worker_killed_mid_synthesis_is_replaced(tmp_path, cluster, monkeypatch):
    address, client, worker_cache = cluster
    monkeypatch.setenv("LUTSIM_CACHE", str(tmp_path / "report-cache"))
    cfg = CoreConfig(m=1, n=1, weight_bits=2, act_format="fp16")
    jobs = [("mac-fp16-dense", cfg), ("mac-fp16", cfg), ("lut-array", cfg)]
    pids = client.run(os.getpid)
    killed = []

    def step(text: str) -> None:  # the first step is the first result: kill a busy worker
        if killed:
            return
        deadline = time.monotonic() + 60
        while not killed:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(pids[busy[0]])
            assert time.monotonic() < deadline, "no task left running to kill"
            time.sleep(0.05)

    with backend(address) as runner:
        results = _synthesize_all(jobs, {}, runner, _Steps(len(jobs), lambda *_: step("")))
    assert killed and killed[0] not in client.run(os.getpid).values()
    assert [r.design for r in results] == [d for d, _ in jobs]
    monkeypatch.setenv("LUTSIM_CACHE", str(worker_cache))
    for (design, cfg_), again in zip(jobs, results, strict=True):
        alone = synth.synthesize(design, cfg_).to_dict()
        assert _results(again.to_dict()) == _results(alone)


def test_report_scheduler_errors(tmp_path):
    args = ["report", "--set", "m=1", "--set", "n=1", "--wbits", "2", "--levels", "dp4",
            "--models", "llama2-7b", "--out", "out"]  # fmt: skip
    both = run(tmp_path, *args, "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert both.returncode == 2
    assert (
        "--jobs counts local processes; with --scheduler the cluster's workers run" in both.stderr
    )
    bad = run(tmp_path, *args, "--scheduler", "http://example")
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith(
        "a Dask scheduler address looks like tcp://HOST:PORT, not 'http://example'"
    )
    closed = run(tmp_path, *args, "--scheduler", "tcp://127.0.0.1:1")
    assert closed.returncode == 1 and len(closed.stderr.strip().splitlines()) == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in closed.stderr
    assert not (tmp_path / "out").exists()
