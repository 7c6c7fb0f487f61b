"""``exo-vision info FILE...``: what each file is and how it is calibrated.

Prints one JSON object per file on stdout (JSON Lines), in the order given:
``path``, ``kind``, ``shape``, ``dtype``, ``pixel_size_nm`` (or null),
``pixel_size_source``, for blots ``polarity``, ``max_value``, ``exposure_s``,
and ``warnings`` when there are any. A file that cannot be read gives
``{"path": ..., "error": ...}``; a stack or a file with non-square pixels,
which can be read but not analysed as one 2-D image as it is, gives what can
be read (``shape``, ``dtype``, ``frames``, ``pixel_size_yx_nm`` per axis,
``pixel_size_source``) with an ``error`` that says what to do; every file is reported before the command
exits with status 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from typing import Any, Literal

from exo_vision._shared.paths import display_path, printable

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``info`` subcommand."""
    p = subparsers.add_parser(
        "info",
        help="show kind, shape, dtype and pixel size (with its source) of image files",
        description=(
            "Read each FILE the way every exo-vision command does and print one JSON object "
            "per line: path, kind (tem/blot/unknown), shape, dtype, pixel_size_nm (or null), "
            "pixel_size_source ('file metadata: <tag>', 'scale bar', 'user' or 'none'), and for "
            "blots polarity, max_value (saturation level) and exposure_s. Unreadable files give "
            '{"path": ..., "error": ...}; a stack or a file with non-square pixels gives what can be read '
            "(shape, dtype, frames, pixel_size_yx_nm per axis, pixel_size_source) and an error that says what "
            "to do. The exit status is 1 if any file failed or cannot be analysed as one 2-D image."
        ),
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="image files (TIFF, DM3/DM4, EMD, SER/EMI, MRC, Bio-Rad .scn, PNG, JPEG, BMP)",
    )
    p.add_argument(
        "--kind",
        choices=("auto", "tem", "blot"),
        default="auto",
        help="what the images are; 'auto' decides from format, tags and file name (default: auto)",
    )
    p.add_argument(
        "--frame",
        type=int,
        default=None,
        metavar="N",
        help="frame to read from a stack (3-D/4-D file), counting from 0",
    )
    p.add_argument(
        "--no-scale-bar",
        dest="scale_bar",
        action="store_false",
        help="do not try to read a burnt-in scale bar when the file has no calibration",
    )
    p.add_argument(
        "--max-megapixels",
        type=float,
        default=None,
        metavar="MP",
        help="refuse files that decode to more than MP million values (default 256), checked before decoding",
    )
    p.set_defaults(func=run)


def describe(
    path: str,
    *,
    kind: Literal["auto", "tem", "blot"] = "auto",
    frame: int | None = None,
    scale_bar: bool = True,
    max_megapixels: float | None = None,
) -> dict[str, Any]:
    """Return the JSON-ready description of one file (or its error).

    Parameters
    ----------
    path : str
        File to read.
    kind : {"auto", "tem", "blot"}
        Passed to :func:`exo_vision.io.read_image`.
    frame : int or None
        Frame of a stack to read.
    scale_bar : bool
        Whether to fall back on a burnt-in scale bar.
    max_megapixels : float or None
        Limit on the decoded size (None: the reader's default).

    Returns
    -------
    dict
        ``ImageData.info()`` on success, else ``{"path": path, "error": message}``.
    """
    from exo_vision.io import ImageReadError, read_image

    shown = display_path(path)
    try:
        image = read_image(path, kind=kind, frame=frame, scale_bar=scale_bar, max_megapixels=max_megapixels)
    except ImageReadError as exc:
        if exc.viewable:
            return _describe_unanalysable(path, exc, frame=frame, max_megapixels=max_megapixels)
        return {"path": shown, "error": display_path(str(exc))}
    except (ValueError, OSError) as exc:
        return {"path": shown, "error": display_path(str(exc))}
    except MemoryError:
        return {"path": shown, "error": f"{shown}: not enough memory to read this file"}
    out = image.info()
    out["path"] = shown
    return printable(out)  # type: ignore[return-value]


def _describe_unanalysable(path: str, exc: Any, *, frame: int | None, max_megapixels: float | None) -> dict[str, Any]:
    """What can be read of a stack or a file with non-square pixels, with an ``error`` that says what to do.

    Parameters
    ----------
    path : str
        The file.
    exc : ImageReadError
        Why :func:`exo_vision.io.read_image` refused it (``viewable``: a stack or non-square pixels).
    frame : int or None
        The frame asked for (its stack is described whole).
    max_megapixels : float or None
        Limit on the decoded size.

    Returns
    -------
    dict
        ``path``, ``shape``, ``dtype``, ``frames``, ``rgb``, ``pixel_size_yx_nm`` (nm per pixel along rows and
        columns, null when uncalibrated), ``pixel_size_source``, ``slice_spacing_nm`` when the frames are a
        volume's slices, ``warnings`` when there are any, and ``error``: the problem and the advice.
    """
    import numpy as np

    from exo_vision.io import ImageReadError
    from exo_vision.io.read import non_square_problem
    from exo_vision.io.view import read_for_viewing

    shown = display_path(path)
    try:
        view = read_for_viewing(path, max_megapixels=max_megapixels)
    except (ImageReadError, ValueError, OSError, MemoryError):
        return {"path": shown, "error": display_path(str(exc))}
    frames = int(np.prod(view.data.shape[: view.n_frame_axes])) if view.n_frame_axes else 1
    y_nm, x_nm = view.pixel_size_yx_nm
    advice = []
    if frames > 1 and frame is None:
        advice.append(
            f"it holds {frames} images: add --frame K (0 <= K < {frames}) to describe or analyse one "
            f"(exo-vision info --frame 0 {shlex.quote(shown)}; tem and blot take --frame K too)"
        )
    if (problem := non_square_problem(y_nm, x_nm)) is not None:
        advice.append(
            f"it {problem}: resample it to square pixels before analysing it, or analyse it at one pixel size "
            "you choose with exo-vision tem --pixel-size-nm NM (info describes it as stored)"
        )
    out: dict[str, Any] = {
        "path": shown,
        "shape": list(view.data.shape),
        "dtype": str(view.data.dtype),
        "frames": frames,
        "rgb": view.rgb,
        "pixel_size_yx_nm": [y_nm, x_nm],
        "pixel_size_source": view.pixel_size_source,
    }
    if view.slice_spacing_nm is not None:
        out["slice_spacing_nm"] = view.slice_spacing_nm
    if view.notes:
        out["warnings"] = list(view.notes)
    out["error"] = f"{shown}: cannot be analysed as one 2-D image as it is: " + "; ".join(
        advice or [display_path(str(exc))]
    )
    return printable(out)  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per file; return 1 if any file failed, else 0."""
    failed = 0
    for path in args.files:
        record = describe(
            path, kind=args.kind, frame=args.frame, scale_bar=args.scale_bar, max_megapixels=args.max_megapixels
        )
        if "error" in record:
            failed += 1
            logger.debug("%s failed: %s", display_path(path), record["error"])
        # names as they are on a UTF-8 terminal; \u escapes (still valid JSON) where the terminal cannot show them
        utf8 = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "") == "utf8"
        sys.stdout.write(json.dumps(record, ensure_ascii=not utf8) + "\n")
        sys.stdout.flush()
    if failed:
        logger.error("%d of %d file(s) could not be read or analysed as one 2-D image", failed, len(args.files))
        return 1
    return 0
