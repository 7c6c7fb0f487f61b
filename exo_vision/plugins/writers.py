"""napari writers: labels as a calibrated TIFF, measurements as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
from napari.utils.notifications import show_warning

from exo_vision._shared.atomic import atomic_write_text
from exo_vision.batch.image_outputs import table_csv_text
from exo_vision.plugins._layers import scale_in_nm


def _pixel_size_yx_nm(attributes: dict[str, Any]) -> tuple[float, float] | None:
    """Pixel size (rows, columns) of a layer in nm: its napari scale when its units are lengths (any: nm, µm ...),
    else exo_vision's calibration in its metadata, else None."""
    yx = scale_in_nm(attributes.get("scale") or (), attributes.get("units") or ())
    if yx is not None:
        return yx
    value = (attributes.get("metadata") or {}).get("pixel_size_nm")
    return None if value is None else (float(value), float(value))


def _refused(error: ValueError) -> list[str]:
    """A writer's refusal shown to the user: napari takes a ValueError from a writer for "not a valid writer"."""
    show_warning(str(error))
    return []


def labels_to_tiff(path: str | Path, labels: np.ndarray, *, pixel_size_nm: float | tuple[float, float] | None) -> Path:
    """Write a label image as an ImageJ TIFF calibrated in nm.

    Parameters
    ----------
    path : str or Path
        Destination ``.tif``/``.tiff``.
    labels : (M, N) ndarray of int
        Label image, 0 = background.
    pixel_size_nm : float, (float, float) or None
        Pixel edge length in nanometres, or (rows, columns) for pixels that are not square; ``None`` writes
        an uncalibrated TIFF.

    Returns
    -------
    Path
        The written file.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels to write to {path} must be 2-D, got shape {labels.shape}; save one frame at a time.")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels to write to {path} contain negative values; labels must be >= 0.")
    top = int(labels.max()) if labels.size else 0
    data = labels.astype(np.uint16) if top < 2**16 else labels.astype(np.float32)
    kwargs: dict[str, Any] = {"imagej": True}
    if pixel_size_nm is not None:
        y_nm, x_nm = (pixel_size_nm, pixel_size_nm) if np.ndim(pixel_size_nm) == 0 else pixel_size_nm  # type: ignore[misc]
        kwargs["resolution"] = (1.0 / float(x_nm), 1.0 / float(y_nm))
        kwargs["metadata"] = {"unit": "nm", "axes": "YX"}
    else:
        kwargs["metadata"] = {"axes": "YX"}
    target = Path(path)
    tifffile.imwrite(target, data, **kwargs)
    return target


def write_labels_tiff(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """npe2 writer: save a Labels layer as a calibrated TIFF (ImageJ, unit nm)."""
    try:
        target = labels_to_tiff(path, np.asarray(data), pixel_size_nm=_pixel_size_yx_nm(attributes))
    except ValueError as error:
        return _refused(error)
    return [str(target)]


def write_measurements_csv(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """npe2 writer: save a Labels layer's ``features`` (the per-vesicle table) as CSV.

    A layer without measurements is refused with a warning naming the fix (run Vesicle segmentation first).
    """
    features = attributes.get("features")
    table = pd.DataFrame(features) if features is not None else pd.DataFrame()
    if table.empty and not len(table.columns):
        return _refused(
            ValueError(
                f"layer {attributes.get('name', '')!r} has no measurements to write to {path}; "
                "run the exo_vision Vesicle segmentation widget on it first."
            )
        )
    if "index" in table.columns and "label" in table.columns:
        table = table.drop(columns="index")  # napari's lookup column, a copy of ``label``
    target = Path(path)
    atomic_write_text(target, table_csv_text(table))  # the bytes exo-vision tem writes for the same table
    return [str(target)]
