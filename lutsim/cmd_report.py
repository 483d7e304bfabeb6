"""``lutsim report``."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand to ``commands``."""
