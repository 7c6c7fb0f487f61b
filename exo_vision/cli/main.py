"""The ``exo-vision`` command: one entry point, one module per subcommand."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from exo_vision import __version__
from exo_vision._shared.failures import describe_failure
from exo_vision._shared.interrupt import terminated_as_interrupted
from exo_vision.cli import blot, histogram, info, model, report, tem, train

logger = logging.getLogger("exo_vision.cli")

#: Subcommand modules; each exposes ``add_parser(subparsers)`` which sets ``func``.
SUBCOMMANDS = (info, tem, blot, histogram, report, train, model)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="exo-vision",
        description=(
            "Extracellular-vesicle image analysis: calibrated reading of TEM and blot "
            "images, vesicle segmentation and sizing in nm, western-blot marker quantification."
        ),
    )
    parser.add_argument("--version", action="version", version=f"exo-vision {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    for command in sub.choices.values():  # after the command too, where messages tell users to add it
        command.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debugging detail to stderr"
        )
    return parser


def _printable_streams() -> None:
    """Let stdout and stderr print any name: under an ASCII or Latin-1 locale a file name in another script
    failed the last line of a run that had written all its outputs (exit 2 for a good run)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    _printable_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    # what was typed, recorded by commands that write a run record (run.json "command")
    args.command_line = ["exo-vision", *(sys.argv[1:] if argv is None else map(str, argv))]
    # Other libraries speak only of warnings (matplotlib's PDF backend logs every font subset at INFO).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger("exo_vision").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        with terminated_as_interrupted():  # kill, timeout, a cluster's time limit: stop as on Ctrl-C
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130
    except (ValueError, OSError) as err:
        # Commands turn expected problems into messages themselves; this is the net under them.
        logger.debug("%s failed", args.command, exc_info=True)
        logger.error("%s", describe_failure(err))
        return 2
    except MemoryError as err:
        logger.debug("%s failed", args.command, exc_info=True)
        logger.error("%s", describe_failure(err))
        return 2
    except Exception as err:  # noqa: BLE001 - never a traceback for the user
        logger.debug("%s failed", args.command, exc_info=True)
        logger.error("%s", describe_failure(err))
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
