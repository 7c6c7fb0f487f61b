"""napari reader: every format exo_vision's core reads, opened with its calibration.

The getter returns ``None`` for files it does not handle (never raises). A file
that looks right but cannot be read makes the read function raise one
:class:`ReaderRefusal` naming the file, the problem and the fix: napari shows
that message (and raises it to a script's ``viewer.open``) instead of adding its
own "returned no data" error after a warning.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from napari.utils.notifications import show_info, show_warning

from exo_vision.io import ImageReadError, read_image
from exo_vision.io.read import READABLE_SUFFIXES, non_square_problem
from exo_vision.io.view import read_for_viewing
from exo_vision.plugins._layers import ID_KEY, image_layer_data

logger = logging.getLogger(__name__)

#: File extensions the core reader understands (lower case, with the dot).
EXTENSIONS = tuple(sorted(READABLE_SUFFIXES))


def get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[tuple[Any, dict, str]] | None] | None:
    """Return :func:`read_layers` if every path is a file with a supported extension.

    Parameters
    ----------
    path : str or list of str
        What napari asks about.

    Returns
    -------
    callable or None
        ``None`` when any path is not a file exo_vision reads.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths:
        return None
    for item in paths:
        candidate = Path(item)
        if candidate.suffix.lower() not in EXTENSIONS or not candidate.is_file():
            return None
    return read_layers


#: Layer keywords a Labels layer takes of those an image layer gets.
LABELS_KWARGS = ("name", "scale", "units", "metadata", "translate")


class ReaderRefusal(ValueError):
    """No file handed to the reader could be opened; the message names each file, its problem and the fix."""


def read_layers(path: str | list[str]) -> list[tuple[Any, dict, str]]:
    """Read one or more files into calibrated image layers.

    Parameters
    ----------
    path : str or list of str
        Files to open.

    Returns
    -------
    list of (data, kwargs, "image" or "labels")
        One layer per readable file (a Labels layer for a piecewise-constant integer image: instance
        labels or a mask, such as ``<stem>_labels.tif``), with ``scale`` in nm per pixel, ``units``
        ``("nm", "nm")`` and ``metadata["pixel_size_source"]``. A file that cannot be read while others
        can is left out with one warning notification naming it and what to do.

    Raises
    ------
    ReaderRefusal
        When no file could be read: one message naming every file, its problem and what to do (napari
        shows it, or raises it to the script that called ``viewer.open``).
    """

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    refusals = []
    for item in paths:
        try:
            layers.append(_read_one(item))
        except ValueError as error:  # ImageReadError included: names file + fix
            said = str(error)
            refusals.append(
                f"exo_vision: {said}" if Path(item).name in said else f"exo_vision could not open {item}: {said}"
            )
    if not layers:
        raise ReaderRefusal("\n".join(refusals))
    for message in refusals:
        show_warning(message)
    return layers


def _read_one(item: str | Path) -> tuple[Any, dict, str]:
    """The layer of one file, with its notes shown as notifications.

    Raises
    ------
    ValueError
        The file cannot be read (or not even shown for viewing); the message says why and what to do.
    """
    try:
        image = read_image(item)
    except ImageReadError as error:
        if not error.viewable:
            raise
        return _viewing_layer(item, error)
    for message in image.warnings:
        show_warning(f"{Path(item).name}: {message}")
    if image.pixel_size_nm is None:
        show_info(
            f"{Path(item).name}: no calibration found; shown in pixels. "
            "Use the exo_vision Calibration widget to set nm/px."
        )
    data, kwargs, layer_type = image_layer_data(image)
    if image.metadata.get("label_image"):  # e.g. the <stem>_labels.tif exo-vision tem writes
        layer_type = "labels"
        kwargs = {k: v for k, v in kwargs.items() if k in LABELS_KWARGS}
    return data, kwargs, layer_type


#: What a user does in napari to analyse one frame of a stack opened for viewing.
SPLIT_STACK_HINT = (
    "To analyse one frame, right-click the layer and choose Split Stack (one layer per frame), "
    "or run exo-vision tem with --frame K"
)
#: ... and with a micrograph whose pixels are not square.
RESAMPLE_HINT = (
    "To measure vesicles, resample it to square pixels (e.g. Fiji: Image > Scale) and open the result, "
    "or set one pixel size in the exo_vision Calibration widget"
)


def _viewing_layer(item: str | Path, refusal: ImageReadError) -> tuple[Any, dict, str]:
    """An image layer that shows a stack or non-square micrograph ``read_image`` refused.

    The layer keeps every axis (frames first, scale 1; the slices of a volume their depth in nm) and the image
    axes' calibration in nm, so napari shows the file as stored; the analysis docks refuse it until one 2-D frame
    with square pixels is chosen.
    """
    view = read_for_viewing(item)  # a ValueError names the file and the fix
    name = Path(item).name
    frames = view.n_frame_axes
    y_nm, x_nm = view.pixel_size_yx_nm
    calibrated = y_nm is not None and x_nm is not None
    scale = (1.0,) * frames + ((float(y_nm), float(x_nm)) if calibrated else (1.0, 1.0))
    units = ("pixel",) * frames + (("nm", "nm") if calibrated else ("pixel", "pixel"))
    if view.slice_spacing_nm is not None:  # slices of a volume: depth in nm as rows and columns
        scale, units = (float(view.slice_spacing_nm),) + scale[1:], ("nm",) + units[1:]
    square = not calibrated or non_square_problem(y_nm, x_nm) is None
    hint = " ".join(h for h, wanted in ((SPLIT_STACK_HINT, frames > 0), (RESAMPLE_HINT, not square)) if wanted)
    problem = refusal.problem
    if frames > 0 and not square:
        problem += f", and its pixels are not square (y {y_nm:.4g} nm, x {x_nm:.4g} nm)"
    show_info(f"{name}: opened for viewing only: it {problem}. {hint}")
    for message in view.notes:
        show_warning(f"{name}: {message}")
    metadata = {
        ID_KEY: uuid.uuid4().hex,
        "path": str(view.path),
        "pixel_size_yx_nm": view.pixel_size_yx_nm,
        "pixel_size_source": view.pixel_size_source,
        "kind": "tem",
        "viewing_only": refusal.problem,
        **({"n_frames": int(view.data.shape[0])} if frames == 1 else {}),  # the frame a Split Stack layer shows
    }
    if calibrated and non_square_problem(y_nm, x_nm) is None:  # the frames of a stack can be measured
        metadata["pixel_size_nm"] = float(np.mean([y_nm, x_nm]))
    kwargs: dict[str, Any] = {"name": Path(item).stem, "scale": scale, "units": units, "metadata": metadata}
    kwargs["rgb"] = view.rgb
    return view.data, kwargs, "image"
