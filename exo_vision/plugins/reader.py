"""napari reader: every format exo_vision's core reads, opened with its calibration.

The getter returns ``None`` for files it does not handle (never raises); a file
that looks right but cannot be read is reported as a napari notification.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_info, show_warning

from exo_vision.io import read_image
from exo_vision.plugins._layers import image_layer_data

logger = logging.getLogger(__name__)

#: File extensions the core reader understands (lower case, with the dot).
EXTENSIONS = (
    ".tif", ".tiff", ".dm3", ".dm4", ".mrc", ".emd", ".ser", ".emi",
    ".png", ".jpg", ".jpeg", ".bmp", ".scn",
)  # fmt: skip


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


def read_layers(path: str | list[str]) -> list[tuple[Any, dict, str]] | None:
    """Read one or more files into calibrated image layers.

    Parameters
    ----------
    path : str or list of str
        Files to open.

    Returns
    -------
    list of (data, kwargs, "image" or "labels") or None
        One layer per readable file (a Labels layer for a piecewise-constant integer image: instance
        labels or a mask, such as ``<stem>_labels.tif``), with ``scale`` in nm per pixel, ``units``
        ``("nm", "nm")`` and ``metadata["pixel_size_source"]``. ``None`` (napari then
        tries other readers) when no file could be read; each failure is shown as a
        warning notification naming the file and what to do.
    """

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for item in paths:
        try:
            image = read_image(item)
        except ValueError as error:  # ImageReadError is a ValueError and names file + fix
            show_warning(f"exo_vision could not open {item}: {error}")
            continue
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
        layers.append((data, kwargs, layer_type))
    return layers or None
