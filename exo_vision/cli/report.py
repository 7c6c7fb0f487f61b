"""`exo-vision report` (being written; see the issue tracker)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `report` subcommand."""
    p = subparsers.add_parser("report", help="(in progress)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not written yet."""
    raise SystemExit("exo-vision report: not available in this build yet")
