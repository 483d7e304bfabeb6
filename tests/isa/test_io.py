"""The one output writer (:mod:`lutsim.isa._io`): atomic, regular files only, through symlinks,
with the umask's permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lutsim.isa._io import atomic_write_bytes, atomic_write_text, process_umask, same_file


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o000])
def test_new_file_gets_the_umask(tmp_path, umask, mask):
    umask(mask)
    assert process_umask() == mask
    atomic_write_text(tmp_path / "out.txt", "x")
    assert _mode(tmp_path / "out.txt") == 0o666 & ~mask, f"{_mode(tmp_path / 'out.txt'):o}"


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "out.txt"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert (path.read_text(), _mode(path)) == ("new", 0o640)


def test_symlink_is_written_through(tmp_path):
    target, link = tmp_path / "target.bin", tmp_path / "link.bin"
    target.write_bytes(b"old")
    link.symlink_to(target.name)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and os.readlink(link) == "target.bin"
    assert target.read_bytes() == b"new"


def test_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "link").symlink_to("made")
    atomic_write_text(tmp_path / "link", "x")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "made").read_text() == "x"


def test_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match=rf"^'{tmp_path}' is a directory; refusing to replace it$"):
        atomic_write_text(tmp_path, "x")
    assert tmp_path.is_dir()


def test_fifo_and_device_are_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(
        ValueError, match=rf"^'{fifo}' is not a regular file; refusing to replace it$"
    ):
        atomic_write_text(fifo, "x")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(
        ValueError, match=r"^'/dev/null' is not a regular file; refusing to replace it$"
    ):
        atomic_write_bytes("/dev/null", b"x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"], "temporary file left behind"


def test_same_file(tmp_path):
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    (tmp_path / "l").symlink_to("a")
    assert same_file(tmp_path / "a", tmp_path / "l")
    assert same_file(tmp_path / "a", tmp_path / "sub" / ".." / "a") is False  # sub is missing
    assert same_file(tmp_path / "a", f"{tmp_path}/./a")
    assert not same_file(tmp_path / "a", tmp_path / "b")
    assert not same_file(tmp_path / "a", tmp_path / "missing")
