"""The JSON file a benchmark writes with ``--json PATH``: its figures, the command line and the versions.

The figures are the printed ones, with their unit in each key (``_fraction``, ``_px``, ``_s``, ``_count``);
NaN (a figure with nothing to measure) is written as ``null`` so the file is strict JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions are recorded (those the measured code runs on).
RECORDED = ("exo_vision", "numpy", "scipy", "scikit-image", "pandas", "opencv-python-headless", "tifffile")


def versions() -> dict[str, str]:
    """Python, the platform and the installed version of each of ``RECORDED`` (absent ones left out)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in RECORDED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, tuples as lists and NaN / inf as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def add_method_option(parser: argparse.ArgumentParser) -> None:
    """``--method``: a TEM segmentation method of the registry (default: the package's default)."""
    from exo_vision.segmentation.api import DEFAULT_METHOD, available_methods

    parser.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        choices=available_methods(),
        help=f"segmentation method (default {DEFAULT_METHOD})",
    )


def write_json(path: Path, figures: dict[str, Any]) -> None:
    """Write ``figures`` to ``path`` with the command line (``command``) and the versions (``versions``)."""
    record = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "versions": versions(),
        **figures,
    }
    path.write_text(json.dumps(plain(record), indent=1) + "\n", encoding="utf-8")
