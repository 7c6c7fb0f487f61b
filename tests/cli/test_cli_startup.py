"""`exo-vision --help`, `--version`, subcommand help and argument errors load no scientific library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exo_vision.cli.main import SUBCOMMANDS, build_parser

#: Libraries that take a noticeable part of a second to import; none is needed to print help or a usage error.
HEAVY = (
    "numpy",
    "skimage",
    "scipy",
    "pandas",
    "onnxruntime",
    "matplotlib",
    "cv2",
    "torch",
    "dask",
    "tifffile",
    "imagecodecs",
    "rsciio",
    "h5py",
    "mrcfile",
    "PIL",
    "napari",
)

#: Parses ``argv`` (JSON) with the CLI in a fresh interpreter and prints the exit status and the heavy
#: libraries then loaded.
_PROBE = """
import json, sys
from exo_vision.cli.main import main
argv, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
try:
    status = main(argv)
except SystemExit as stop:
    status = stop.code
print(json.dumps({"status": status, "loaded": [m for m in heavy if m in sys.modules]}), file=sys.__stdout__)
"""


def _probe(argv: list[str]) -> dict:
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["--help"], 0),
        (["--version"], 0),
        ([], 2),  # no command: the usage on stderr
        (["nosuch"], 2),  # a mistyped command
        (["-v", "histogram", "--help"], 0),
        (["histogram"], 2),  # missing tables and --out
        (["histogram", "t.csv", "--out", "f.svg", "--layout", "pie"], 2),
        (["info", "--help"], 0),
        (["tem", "--help"], 0),
        (["report", "--help"], 0),
        (["model", "--help"], 0),
        # `blot --help` took 3 s (its parser's defaults and choices came from modules that load scikit-image,
        # SciPy, pandas and OpenCV), `tem --help` loaded numpy and `train --help` OpenCV
        (["blot", "--help"], 0),
        (["blot", "b.tif"], 2),  # --out missing
        (["train", "--help"], 0),
    ],
)
def test_help_and_usage_errors_load_no_heavy_library(argv, status):
    result = _probe(argv)
    assert result == {"status": status, "loaded": []}


def test_the_command_list_shows_each_modules_own_help_line():
    listed = build_parser(()).format_help()
    assert listed == build_parser().format_help()
    for name, (_, line) in SUBCOMMANDS.items():
        assert name in listed and " ".join(line.split()[:3]) in listed
    # a command registered in full parses its arguments; listed ones do not
    assert build_parser(("histogram",)).parse_args(["histogram", "a.csv", "--out", "f.svg"]).tables == ["a.csv"]
