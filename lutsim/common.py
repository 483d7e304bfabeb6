"""What every ``lutsim`` subcommand shares: the usage error, one-line messages, reading and
writing files with errors that name them, and the ``--config``/``--set`` options.

A subcommand module defines ``register(commands)``, which adds its parser to the subparsers
``commands`` and sets ``func`` to a function ``(args) -> exit code``. It raises
:class:`UsageError` for a command line that cannot be carried out (exit 2) and ``ValueError``
or ``RuntimeError`` for bad input (exit 1); :func:`lutsim.cli.main` turns both into one line.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from lutsim.isa._io import atomic_writer, not_regular, same_file
from lutsim.isa.config import DEFAULT_PRESET, CoreConfig, load_config


class UsageError(Exception):
    """A command line that cannot be carried out as written (exit code 2)."""


LONG_TOKEN = 80
"""Characters of one whitespace-free token an error message keeps (then ``…``)."""


def _cut(token: str) -> str:
    """``token`` cut to :data:`LONG_TOKEN` characters, keeping its closing punctuation."""
    if len(token) <= LONG_TOKEN:
        return token
    body = token.rstrip("'\":,;.)]}")
    return body[:LONG_TOKEN] + "…" + token[len(body) :][-3:]


def one_line(text: str) -> str:
    """``text`` on one line, each token longer than :data:`LONG_TOKEN` characters cut short
    (an error that echoes a 10 MB argument stays one readable line)."""
    line = "; ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return " ".join(_cut(token) for token in line.split(" "))


def check_output(output: str | None, *inputs: str | None) -> None:
    """Refuse an output path that names one of the command's input files."""
    for source in inputs:
        if output is not None and source is not None and same_file(output, source):
            raise UsageError(
                f"output {_cut(output)!r} is the input {_cut(source)!r}; choose another path"
            )


def os_message(err: OSError) -> str:
    if err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


def config(args: argparse.Namespace) -> CoreConfig:
    """The core configuration of ``--config`` with its ``--set`` overrides."""
    return load_config(args.config, args.sets)


def read_text(path: str, what: str) -> str:
    if not_regular(path):
        raise ValueError(f"cannot read {what} file {_cut(path)!r}: not a regular file")
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read {what} file {path!r}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        reason = f"not UTF-8 ({err.reason} at byte {err.start})"
        raise ValueError(f"cannot read {what} file {path!r}: {reason}") from None


@contextlib.contextmanager
def writing(path: str):
    """Turn a failure to write ``path`` into a one-line message that names it."""
    try:
        yield
    except OSError as err:
        raise ValueError(f"cannot write {path!r}: {err.strerror or err}") from None


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write an uncompressed ``.npz`` atomically: a reader sees the old file or the new one."""
    with writing(path), atomic_writer(path) as handle:
        np.savez(handle, **arrays)


def fmt_num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}"


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print ``rows`` under ``header`` in left-aligned columns."""
    table = (header, *rows)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="CFG", default=DEFAULT_PRESET,
        help=f"preset name or TOML/YAML file (default: {DEFAULT_PRESET})",
    )  # fmt: skip
    add_sets(parser)


def add_sets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", metavar="KEY=VALUE", action="append", default=[], dest="sets",
        help="override one config key (repeatable), e.g. --set weight_bits=4",
    )  # fmt: skip


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
    """A size such as ``2G``, ``512M``, ``1.5G`` or ``1000000`` (bytes; K/M/G/T are powers of
    1024, with an optional ``iB``/``B``), for ``type=`` of an argparse option."""
    body = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = body[-1:] if body[-1:] in _UNITS else ""
    number = body[: len(body) - len(unit)]
    try:
        if not number.isascii():
            raise ValueError
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {_cut(text)!r} (e.g. 2G, 512M)") from None
    if not (value >= 1 and value < 2**63):
        raise argparse.ArgumentTypeError(f"size {_cut(text)!r} is out of range")
    return int(value)
