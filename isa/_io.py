"""The one output writer: atomic, and safe for what it replaces.

Every file lutsim writes goes through :func:`atomic_write_bytes` (or ``_text``):

* **atomic**: the data goes to a temporary file in the destination's directory, is flushed to
  disk and renamed over the destination; a reader sees the old file or the whole new one, and
  a failure leaves the old file as it was;
* **only regular files are replaced**: a destination that exists and is not a regular file (a
  directory, a device node, a FIFO, a socket) is refused with a ``ValueError``;
* **symlinks are written through**: the link's final target is replaced and the link stays
  (a dangling link creates its target);
* **permissions**: a new file gets ``0o666`` less the process umask, as ``open()`` would give
  it; a replaced file keeps its mode.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "atomic_write_bytes", "atomic_write_text", "atomic_writer", "not_regular", "process_umask",
    "same_file",
]  # fmt: skip


def process_umask() -> int:
    """The umask of this process, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def not_regular(path) -> bool:
    """Whether ``path`` names something that exists and is neither a regular file nor a
    directory (a FIFO, a device, a socket): reading it could block forever or never end."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False  # missing or unnamable: reading it fails with its own message
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def same_file(a, b) -> bool:
    """Whether two paths name the same existing file (through links and ``..``)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _destination(path: Path) -> tuple[Path, int]:
    """The file to replace (symlinks followed) and the mode it gets."""
    target = Path(os.path.realpath(path))
    try:
        info = target.stat()
    except FileNotFoundError:
        return target, 0o666 & ~process_umask()
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ValueError(f"{str(path)[:200]!r} is {kind}; refusing to replace it")
    return target, stat.S_IMODE(info.st_mode)


@contextlib.contextmanager
def atomic_writer(path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, atomically (see the module docstring): the
    destination is replaced when the block ends without an exception, and left as it was
    otherwise. For outputs too large to build in memory first."""
    target, mode = _destination(Path(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())
