"""Design-space sweeps: every point of a spec evaluated in parallel, cached point by point.

>>> spec = load_spec("examples/sweep.yaml")      # the spec and its keys: reports.sweep_spec
>>> result = run_sweep(spec, "out")              # a local process pool
>>> result = run_sweep(spec, "out", scheduler="tcp://10.0.0.5:8786")    # a Dask cluster
>>> result.summary()
'33 points: 0 computed, 33 cached, 0 failed'

The spec (grid, points, parameters, metrics, plots) and the key of each point are described in
:mod:`lutsim.reports.sweep.spec`; the metrics (``core``, ``sim``, ``synth``, and how to add one) in
:mod:`lutsim.reports.sweep.evaluators`; Pareto fronts in :mod:`lutsim.reports.sweep.pareto`.

Results (the directory ``out``)
-------------------------------
======================= =======================================================================
``points/<key>.json``   one finished point: key, parameters, seed, metrics, each evaluation's
                        wall time and worker (``runs``), and the identity its key hashes
                        (``sha256(canonical_json(identity))``)
``failed/<key>.json``   the last failure of a point, with its one-line reason; run again on the
                        next run of the sweep
``results.csv``         tidy: one row per point of the spec, in spec order: ``key``, ``status``
                        (ok, failed or pending), the parameters, ``seed``, one
                        ``<metric>.<name>`` column per metric value, ``wall_s`` (of the
                        evaluations it used, shared ones in full), ``error``
``metadata.json``       the spec, seed, commit and tool versions (:func:`lutsim.reports.provenance.
                        provenance`), each evaluator's identity, liberty files, the backend,
                        status, counts (of this run), times, failures, and each plot with the
                        keys of its front
``pareto-<x>-<y>.png``  each plot of the spec, its Pareto front marked
======================= =======================================================================

**Resuming and crashes.** Running the same spec into the same directory again runs only the
points without a file in ``points/``. A point's file is named by its key and written whole
(:func:`lutsim.isa._io.atomic_write_text`) by the sweep process, never by a worker, while it holds the
directory's lock (``out/.lock``, released by the kernel when the process dies), so a sweep
killed at any moment loses no finished point and leaves no half-written one, and no point can
be stored twice. ``results.csv`` and ``metadata.json`` are rebuilt from the points every
``flush_s`` seconds and at the end. Points of other specs in ``points/`` stay, as a cache.
Ctrl-C stops the workers and writes the tables with status ``interrupted``.

**Failures.** An evaluator that raises fails its point with a one-line reason (``failed/``,
``status`` failed in the CSV); the other points go on, and :attr:`SweepResult.failed` counts
them (``lutsim sweep`` then exits 1).

**Execution** (:func:`backend`, also what ``lutsim report`` synthesizes on). A local
:class:`~concurrent.futures.ProcessPoolExecutor` of ``workers``
processes (default ``os.cpu_count()``), which on Linux die with the sweep process; when a
worker dies, the pool is restarted and its unfinished points resubmitted, up to
:data:`POOL_RESTARTS` times. With ``scheduler``, a
``distributed.Client`` on a running Dask cluster whose workers can import this package (and any
plugin evaluator's module): the scheduler runs the task of a worker that dies again on another
(up to ``distributed.scheduler.allowed-failures`` times, 3 by default; then the point fails
with ``KilledWorker``). Results travel back to the sweep process, which alone writes files.

The unit of work is an evaluation: one evaluator on the part of a point it reads
(:meth:`lutsim.reports.sweep.spec.Spec.scoped`), run once for all the points that share it. A point
is written when all its evaluations are in.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import dataclasses
import datetime
import fcntl
import io
import json
import math
import os
import platform
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lutsim.isa._io import atomic_write_text

from ..provenance import provenance
from .evaluators import Point
from .spec import Spec, evaluator_identity, load_spec, parse_spec, row

__all__ = [
    "POOL_RESTARTS",
    "Backend",
    "SweepResult",
    "Task",
    "backend",
    "evaluate",
    "load_spec",
    "parse_spec",
    "run_sweep",
]

POOL_RESTARTS = 3


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


# ---- evaluation (runs in the workers) -----------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One evaluation, what a worker gets: an evaluator's ``run`` and the point it runs on
    (scoped to the evaluator's parameters; its key is the first point that needs it). The
    report's synthesis jobs are tasks too: ``run`` a module-level function, ``point`` its
    picklable argument."""

    metric: str
    run: Callable[[Any], dict[str, Any]]
    point: Point | Any


def _plain(value: Any) -> Any:
    """A JSON-ready copy: numpy scalars as Python numbers, mappings as dicts, else strings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        with contextlib.suppress(TypeError, ValueError):
            return _plain(item())
    return str(value)


def evaluate(task: Task) -> dict[str, Any]:
    """Run one evaluation (in a worker). Never raises for the point's own failure: it returns
    ``status`` ``"failed"`` with a one-line ``error`` that names the metric."""
    start = time.perf_counter()
    try:
        metrics, error = _plain(task.run(task.point)), None
    except Exception as err:  # any failure of one point is that point's alone
        text = (
            _one_line(err)
            if isinstance(err, ValueError)
            else f"{type(err).__name__}: {_one_line(err)}"
        )
        metrics, error = {}, f"{task.metric}: {text}"
    return {
        "status": "ok" if error is None else "failed",
        "metrics": metrics,
        "error": error,
        "wall_s": time.perf_counter() - start,
        "worker": f"{platform.node()}:{os.getpid()}",
    }


# ---- the sweep ----------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What a sweep did; the files hold the results."""

    out: Path
    points: int
    computed: int
    cached: int
    failed: int
    pending: int
    failures: list[dict[str, Any]]
    plots: list[str]
    wall_s: float

    def summary(self) -> str:
        text = (f"{self.points} points: {self.computed} computed, {self.cached} cached, "
                f"{self.failed} failed")  # fmt: skip
        return text + (f", {self.pending} not run" if self.pending else "")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "out": str(self.out)}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` (released by the kernel if the process dies)."""
    handle = open(out / ".lock", "a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another sweep is writing to {str(out)!r}") from None
        yield
    finally:
        handle.close()


class _Sweep:
    """The sweep process's state (the record of every point by key) and the files it writes."""

    def __init__(self, spec: Spec, out: Path, backend: dict[str, Any], flush_s: float):
        self.spec, self.out, self.backend, self.flush_s = spec, out, backend, flush_s
        self.points_dir, self.failed_dir = out / "points", out / "failed"
        self.records: dict[str, dict[str, Any]] = {}  # point key -> its file's record
        self.cached: set[str] = set()  # points finished before this run
        self.needs: dict[str, list[str]] = {}  # point key -> keys of its evaluations
        self.waiting: dict[str, list[Point]] = {}  # evaluation key -> points that need it
        self.results: dict[str, dict[str, Any]] = {}  # evaluation key -> its result
        self.status = "running"
        self.plots: list[dict[str, Any]] = []
        self.started, self.start = _now(), time.perf_counter()
        self.last_flush = self.start
        self.provenance = provenance()

    def prepare(self) -> dict[str, Task]:
        """Remove stale temporary files, load the finished points, and return the evaluations
        the others need, by key."""
        for directory in (self.points_dir, self.failed_dir):
            directory.mkdir(parents=True, exist_ok=True)
            for stale in directory.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        tasks: dict[str, Task] = {}
        for point in self.spec.points:
            record = _read_json(self.points_dir / f"{point.key}.json")
            if isinstance(record, dict) and record.get("key") == point.key:
                self.records[point.key] = record
                self.cached.add(point.key)
                continue
            failed = _read_json(self.failed_dir / f"{point.key}.json")
            if isinstance(failed, dict) and failed.get("key") == point.key:
                self.records[point.key] = failed
            self.needs[point.key] = []
            for ev in self.spec.metrics:
                key, scoped = self.spec.scoped(point, ev)
                tasks.setdefault(key, Task(ev.name, ev.run, scoped))
                self.needs[point.key].append(key)
                self.waiting.setdefault(key, []).append(point)
        return tasks

    def finish(self, key: str, result: dict[str, Any]) -> int:
        """Take one evaluation's result; write every point it completes, atomically (a
        finished point, or its failure). Returns how many points it completed."""
        self.results[key] = result
        completed = 0
        for point in self.waiting.pop(key):
            keys = self.needs[point.key]
            if all(k in self.results for k in keys):
                self.write_point(point, [self.results[k] for k in keys])
                del self.needs[point.key]
                completed += 1
        if time.perf_counter() - self.last_flush >= self.flush_s:
            self.write()
        return completed

    def write_point(self, point: Point, results: list[dict[str, Any]]) -> None:
        errors = [result["error"] for result in results if result["error"]]
        runs = dict(zip((ev.name for ev in self.spec.metrics), results, strict=True))
        record = {
            "key": point.key,
            "status": "failed" if errors else "ok",
            "params": row(point),
            "seed": point.seed,
            "metrics": {name: result["metrics"] for name, result in runs.items()},
            "error": errors[0] if errors else None,
            "wall_s": sum(result["wall_s"] or 0.0 for result in results),
            "runs": {
                name: {"wall_s": result["wall_s"], "worker": result["worker"]}
                for name, result in runs.items()
            },  # fmt: skip
            "finished": _now(),
            "identity": self.spec.identities[point.key],
        }
        text = json.dumps(record, indent=1) + "\n"
        if errors:
            atomic_write_text(self.failed_dir / f"{point.key}.json", text)
        else:
            atomic_write_text(self.points_dir / f"{point.key}.json", text)
            (self.failed_dir / f"{point.key}.json").unlink(missing_ok=True)
        self.records[point.key] = record

    def counts(self) -> dict[str, int]:
        status = [self.records.get(p.key, {}).get("status") for p in self.spec.points]
        return {
            "points": len(status),
            "computed": status.count("ok") - len(self.cached),
            "cached": len(self.cached),
            "failed": status.count("failed"),
            "pending": status.count(None),
            "duplicates_in_spec": self.spec.duplicates,
        }

    def failures(self) -> list[dict[str, Any]]:
        return [
            {"key": p.key, "point": self.spec.label(p), "error": record["error"]}
            for p in self.spec.points
            if (record := self.records.get(p.key)) and record["status"] == "failed"
        ]  # fmt: skip

    def table(self) -> tuple[list[str], list[dict[str, Any]]]:
        """The tidy table: columns, and one row per point of the spec."""
        metric_columns: dict[str, None] = {}
        for ev in self.spec.metrics:
            metric_columns.update(dict.fromkeys(f"{ev.name}.{m}" for m in ev.metrics))
            for record in self.records.values():
                found = record["metrics"].get(ev.name, {})
                metric_columns.update(dict.fromkeys(f"{ev.name}.{m}" for m in found))
        rows = []
        for point in self.spec.points:
            cells = {"key": point.key, "status": "pending", **row(point), "seed": point.seed}
            if (record := self.records.get(point.key)) is not None:
                for name, values in record["metrics"].items():
                    cells.update({f"{name}.{m}": v for m, v in values.items()})
                cells.update(
                    status=record["status"], wall_s=record["wall_s"], error=record["error"]
                )
            rows.append(cells)
        columns = ["key", "status", *self.spec.columns, "seed", *metric_columns, "wall_s", "error"]
        return columns, rows

    def write(self, final: bool = False) -> None:
        """Rewrite results.csv and metadata.json (and at the end the plots) atomically."""
        columns, rows = self.table()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: _cell(cells.get(c)) for c in columns} for cells in rows)
        atomic_write_text(self.out / "results.csv", buffer.getvalue())
        if final:
            self.plots = self.draw(rows)
        metadata = json.dumps(self.metadata(columns), indent=1) + "\n"
        atomic_write_text(self.out / "metadata.json", metadata)
        self.last_flush = time.perf_counter()

    def draw(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from .pareto import plot_front

        units = {f"{ev.name}.{m}": metric.unit
                 for ev in self.spec.metrics for m, metric in ev.metrics.items()}  # fmt: skip
        drawn = []
        for plot in self.spec.plots:
            entry: dict[str, Any] = {"file": plot.file, "x": plot.x, "y": plot.y,
                                     "goals": list(plot.goals)}  # fmt: skip
            usable = [r for r in rows if r["status"] == "ok"
                      and _numeric(r.get(plot.x)) and _numeric(r.get(plot.y))]  # fmt: skip
            if usable:
                front = plot_front(usable, plot.x, plot.y, plot.goals, self.out / plot.file,
                                   color=plot.color, log=plot.log, units=units,
                                   title=f"{self.spec.name}: {plot.y} vs {plot.x}")  # fmt: skip
                entry["front"] = [usable[i]["key"] for i in front]
            else:
                entry.update(file=None, skipped=f"no finished point has {plot.x} and {plot.y}")
            drawn.append(entry)
        return drawn

    def liberties(self) -> list[dict[str, Any]] | None:
        """The liberty files the finished points were synthesized on (their ``liberty.*``
        metrics: path, sha256, name, node), or None when no metric takes a liberty."""
        if not any("liberty" in ev.params for ev in self.spec.metrics):
            return None
        found: dict[str, dict[str, Any]] = {}
        for record in self.records.values():
            for values in record["metrics"].values():
                lib = {k[8:]: v for k, v in values.items() if k.startswith("liberty.")}
                if lib:
                    found[json.dumps(lib, sort_keys=True)] = lib
        return list(found.values())

    def metadata(self, columns: list[str]) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": spec.name,
            "spec_file": spec.source,
            "spec": _plain(spec.data),
            "seed": spec.seed,
            "point_seeds": "column seed: the first 32 bits of sha256('<seed>\\0<parameters>')",
            "evaluators": {ev.name: evaluator_identity(ev) for ev in spec.metrics},
            "provenance": self.provenance,
            "liberty": self.liberties(),
            "backend": self.backend,
            "status": self.status,
            "counts": self.counts(),
            "started": self.started,
            "updated": _now(),
            "wall_s": time.perf_counter() - self.start,
            "columns": columns,
            "failures": self.failures(),
            "plots": self.plots,
        }

    def result(self) -> SweepResult:
        counts = self.counts()
        return SweepResult(
            self.out, counts["points"], counts["computed"], counts["cached"], counts["failed"],
            counts["pending"], self.failures(), [p["file"] for p in self.plots if p["file"]],
            time.perf_counter() - self.start,
        )  # fmt: skip


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def _failure(task: Task, reason: str) -> dict[str, Any]:
    """The result of an evaluation whose worker never returned one."""
    error = f"{task.metric}: {reason}"
    return {"status": "failed", "metrics": {}, "error": error, "wall_s": None, "worker": None}


# ---- backends -------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1  # Linux prctl(2) option: a signal for the process when its parent dies


def _worker_init(parent: int) -> None:
    """Pool workers leave Ctrl-C to the sweep process, and on Linux die with it, so that a
    killed sweep leaves no orphans working on points nobody will collect."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the sweep died before prctl took effect
        os._exit(1)


def _run_local(tasks: dict[str, Task], workers: int, done: Callable[[str, dict], None]) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    remaining = dict(tasks)
    for _ in range(POOL_RESTARTS + 1):
        pool = ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(os.getpid(),))
        broken = False
        try:
            futures = {pool.submit(evaluate, task): key for key, task in remaining.items()}
            for future in as_completed(futures):
                key = futures[future]
                if isinstance(future.exception(), BrokenProcessPool):
                    broken = True
                    continue
                done(key, future.result())
                del remaining[key]
        except BaseException:  # Ctrl-C: stop the points in flight (they stay not run)
            workers_now = list((pool._processes or {}).values())  # no public API before 3.14
            pool.shutdown(wait=False, cancel_futures=True)
            for process in workers_now:
                process.terminate()
            raise
        pool.shutdown(wait=not broken, cancel_futures=True)
        if not remaining:
            return
    for key, task in remaining.items():
        done(key, _failure(task, f"a worker process died {POOL_RESTARTS + 1} times while it ran"))


HANDSHAKE_LIMIT_BYTES = 1 << 20
"""The largest first message a Dask scheduler's handshake is believed to be."""


def _handshake(address: str, timeout: float) -> None:
    """Fail in one line, early, unless a ``tcp://`` address answers with a Dask handshake.

    A Dask scheduler speaks first: an 8-byte little-endian message length, then an 8-byte frame
    count, frame lengths and a msgpack map naming its ``pickle-protocol``. Anything else (an HTTP
    server waits for a request; other servers send text) is refused before
    ``distributed`` reads a length from it and allocates that much."""
    match = re.fullmatch(r"(tcp|tls)://(\[[^\]]+\]|[^:/]+):(\d+)/?", address)
    if match is None:
        raise ValueError(f"a Dask scheduler address looks like tcp://HOST:PORT, not {address!r}")
    host, port = match.group(2).strip("[]"), int(match.group(3))
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            if match.group(1) == "tls":
                return  # the TLS handshake comes first; distributed checks the rest
            conn.settimeout(timeout)
            head = b""
            while len(head) < 16:
                chunk = conn.recv(16 - len(head))
                if not chunk:
                    break
                head += chunk
            size = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
            frames = int.from_bytes(head[8:16], "little") if len(head) == 16 else 0
            body = b""
            if len(head) == 16 and 8 <= size <= HANDSHAKE_LIMIT_BYTES and 1 <= frames <= 64:
                while len(body) < size - 8:
                    chunk = conn.recv(size - 8 - len(body))
                    if not chunk:
                        break
                    body += chunk
    except TimeoutError:
        raise ValueError(
            f"{address} sent no Dask handshake within {timeout:g} s; is it a Dask scheduler?"
        ) from None
    except OSError as err:
        reason = err.strerror or _one_line(err)
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
    if b"pickle-protocol" not in body:
        raise ValueError(f"{address} does not answer like a Dask scheduler")


def _run_dask(client, tasks: dict[str, Task], done: Callable[[str, dict], None]) -> None:
    from distributed import as_completed

    if not tasks:
        return

    run_id = uuid.uuid4().hex[:8]
    futures = {
        client.submit(evaluate, task, key=f"lutsim-{task.metric}-{key[:16]}-{run_id}"): key
        for key, task in tasks.items()
    }
    for future in as_completed(list(futures), loop=client.loop):
        key = futures.pop(future)
        if future.status == "finished":
            done(key, future.result())
        elif future.status == "error":
            err = future.exception()
            done(key, _failure(tasks[key], f"{type(err).__name__}: {_one_line(err)}"))
        else:
            raise RuntimeError(
                f"the Dask scheduler dropped the sweep's tasks ({future.status}); the finished "
                "points are saved: run the sweep again to resume"
            )
        future.release()


def _dask_client(address: str, timeout: float):
    """A ``distributed.Client`` on the scheduler at ``address`` (its handshake checked first),
    to be used as a context manager."""
    _handshake(address, timeout)
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ValueError(
            f"cannot connect to the Dask scheduler at {address}: {_one_line(err)}"
        ) from None


@dataclass(frozen=True)
class Backend:
    """Where evaluations run: ``info`` describes it (``kind`` local or dask, ``workers``, and the
    ``scheduler`` address), ``run(tasks, done)`` runs every task and calls ``done(key, result)``
    with each :func:`evaluate` result as it arrives, in the calling process."""

    info: dict[str, Any]
    run: Callable[[dict[str, Task], Callable[[str, dict], None]], None]


def _check_workers(workers: int | None) -> None:
    if workers is not None and (type(workers) is not int or workers < 1):
        raise ValueError(f"workers must be a positive integer, not {workers!r}")


@contextlib.contextmanager
def backend(
    scheduler: str | None = None, workers: int | None = None, connect_timeout: float = 10.0
) -> Iterator[Backend]:
    """The engine's executor, shared by :func:`run_sweep` and ``lutsim report``: a Dask
    cluster at ``scheduler`` (tcp://HOST:PORT, its handshake checked first), or a local pool of
    ``workers`` processes (default ``os.cpu_count()``). Task failures come back as results
    (:func:`evaluate`); a worker that dies is replaced (see the module docstring)."""
    if scheduler:
        with _dask_client(scheduler, connect_timeout) as client:
            count = len(client.scheduler_info().get("workers", {}))
            info = {"kind": "dask", "scheduler": scheduler, "workers": count}
            yield Backend(info, lambda tasks, done: _run_dask(client, tasks, done))
        return
    _check_workers(workers)
    count = workers or os.cpu_count() or 1

    def run(tasks: dict[str, Task], done: Callable[[str, dict], None]) -> None:
        if tasks:
            _run_local(tasks, min(count, len(tasks)), done)

    yield Backend({"kind": "local", "workers": count}, run)


def _claim(spec: Spec, out: Path, force: bool) -> None:
    """Refuse to write over another spec's results (unless ``force``: then remove its plots)."""
    previous = _read_json(out / "metadata.json")
    if not isinstance(previous, dict) or "spec" not in previous:
        return
    if previous["spec"] == json.loads(json.dumps(_plain(spec.data))):
        return
    if not force:
        name = str(previous.get("name", "?"))[:80]
        raise ValueError(
            f"{str(out)!r} holds the results of another sweep spec ({name!r}); choose another "
            "output directory, or --force to replace them (finished points stay as a cache)"
        )
    for plot in previous.get("plots") or []:
        file = plot.get("file") if isinstance(plot, dict) else None
        if isinstance(file, str) and file == Path(file).name and file.endswith(".png"):
            (out / file).unlink(missing_ok=True)


def run_sweep(
    spec: Spec,
    out: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    flush_s: float = 10.0,
    connect_timeout: float = 10.0,
    force: bool = False,
) -> SweepResult:
    """Run every point of ``spec`` not yet finished in ``out`` and write the results there (see
    the module docstring). ``scheduler``: a Dask scheduler address (tcp://HOST:PORT) instead of
    a local pool of ``workers`` processes (default ``os.cpu_count()``). ``progress``: a progress
    bar on stderr (default: when stderr is a terminal). Points that fail are counted in the
    result, not raised. A directory that holds another spec's results is refused unless
    ``force``, which replaces its tables and removes its plots (its points stay, as a cache)."""
    out = Path(out)
    _check_workers(workers)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create {str(out)!r}: {err.strerror or err}") from None
    with _locked(out), contextlib.ExitStack() as stack:
        _claim(spec, out, force)
        runner = stack.enter_context(backend(scheduler, workers, connect_timeout))
        sweep = _Sweep(spec, out, runner.info, flush_s)
        tasks = sweep.prepare()
        sweep.write()
        bar = stack.enter_context(_progress(spec, len(sweep.cached), progress))

        def done(key: str, result: dict[str, Any]) -> None:
            bar.update(sweep.finish(key, result))
            if result["status"] != "ok":
                bar.set_postfix(failed=sweep.counts()["failed"])

        try:
            runner.run(tasks, done)
            sweep.status = "failed" if sweep.counts()["failed"] else "complete"
        except BaseException:
            sweep.status = "interrupted"
            raise
        finally:
            bar.close()
            sweep.write(final=sweep.status != "interrupted")
        return sweep.result()


def _progress(spec: Spec, cached: int, show: bool | None):
    from tqdm import tqdm

    enabled = sys.stderr.isatty() if show is None else show
    return tqdm(total=len(spec.points), initial=cached, desc=spec.name, unit="point",
                file=sys.stderr, disable=not enabled, dynamic_ncols=True)  # fmt: skip
