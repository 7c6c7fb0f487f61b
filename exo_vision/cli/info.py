"""`exo-vision info` (being written; see the issue tracker)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `info` subcommand."""
    p = subparsers.add_parser("info", help="(in progress)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not written yet."""
    raise SystemExit("exo-vision info: not available in this build yet")
