"""The ``exo-vision`` command: one entry point, one module per subcommand.

A subcommand's module is imported only when that subcommand is run (or its help asked for): ``exo-vision
--help``, ``--version`` and a mistyped command import none of them, and so none of the scientific libraries
some of them load (scikit-image, SciPy, pandas, matplotlib, onnxruntime).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterable, Sequence

from exo_vision import __version__
from exo_vision._shared.failures import describe_failure
from exo_vision._shared.interrupt import terminated_as_interrupted

logger = logging.getLogger("exo_vision.cli")

#: Subcommands in the order ``exo-vision --help`` lists them: name -> (module, the line the list shows, which
#: is the ``help`` its module's ``add_parser(subparsers)`` gives; ``add_parser`` also sets ``func``).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "info": ("exo_vision.cli.info", "show kind, shape, dtype and pixel size (with its source) of image files"),
    "tem": ("exo_vision.cli.tem", "segment and measure vesicles in TEM micrographs (batch)"),
    "blot": (
        "exo_vision.cli.blot",
        "quantify western blots (lanes, bands, saturation, LoD, EV/lysate enrichment, MISEV verdict)",
    ),
    "histogram": ("exo_vision.cli.histogram", "publication size histogram from vesicles.csv tables"),
    "report": (
        "exo_vision.cli.report",
        "self-contained HTML characterization report (MISEV) from tem and blot outputs",
    ),
    "train": ("exo_vision.cli.train", "fine-tune the vesicle model on curated micrographs"),
    "model": ("exo_vision.cli.model", "copy the vesicle model with other post-processing settings"),
}


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` runs: its first word that is not an option (the top-level options take no
    value); None when there is none or it is no subcommand."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser.

    Parameters
    ----------
    commands : iterable of str, optional
        The subcommands to register in full (their modules are imported); the others are listed with their
        help line only and cannot parse arguments. None registers every subcommand in full.
    """
    full = set(SUBCOMMANDS) if commands is None else set(commands)
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
    for name, (module, help_line) in SUBCOMMANDS.items():
        if name in full:
            importlib.import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=help_line)
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
    words = list(sys.argv[1:] if argv is None else map(str, argv))
    chosen = _chosen_command(words)
    parser = build_parser(() if chosen is None else (chosen,))
    args = parser.parse_args(words)
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
