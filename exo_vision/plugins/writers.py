"""napari writers: labels as a calibrated TIFF, measurements as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile


def _pixel_size_nm(attributes: dict[str, Any]) -> float | None:
    """Pixel size of a layer from its metadata, else its scale when the units are nm."""
    meta = attributes.get("metadata") or {}
    value = meta.get("pixel_size_nm")
    if value is not None:
        return float(value)
    units = attributes.get("units")
    scale = attributes.get("scale")
    if scale is not None and units is not None and str(units[-1]) in ("nm", "nanometer"):
        return float(scale[-1])
    return None


def labels_to_tiff(path: str | Path, labels: np.ndarray, *, pixel_size_nm: float | None) -> Path:
    """Write a label image as an ImageJ TIFF calibrated in nm.

    Parameters
    ----------
    path : str or Path
        Destination ``.tif``/``.tiff``.
    labels : (M, N) ndarray of int
        Label image, 0 = background.
    pixel_size_nm : float or None
        Pixel edge length in nanometres; ``None`` writes an uncalibrated TIFF.

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
        kwargs["resolution"] = (1.0 / pixel_size_nm, 1.0 / pixel_size_nm)
        kwargs["metadata"] = {"unit": "nm", "axes": "YX"}
    else:
        kwargs["metadata"] = {"axes": "YX"}
    target = Path(path)
    tifffile.imwrite(target, data, **kwargs)
    return target


def write_labels_tiff(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """npe2 writer: save a Labels layer as a calibrated TIFF (ImageJ, unit nm)."""
    target = labels_to_tiff(path, np.asarray(data), pixel_size_nm=_pixel_size_nm(attributes))
    return [str(target)]


def write_measurements_csv(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """npe2 writer: save a Labels layer's ``features`` (the per-vesicle table) as CSV.

    Raises
    ------
    ValueError
        When the layer has no measurements (run Vesicle segmentation first).
    """
    features = attributes.get("features")
    table = pd.DataFrame(features) if features is not None else pd.DataFrame()
    if table.empty and not len(table.columns):
        raise ValueError(
            f"layer {attributes.get('name', '')!r} has no measurements to write to {path}; "
            "run the exo_vision Vesicle segmentation widget on it first."
        )
    if "index" in table.columns and "label" in table.columns:
        table = table.drop(columns="index")  # napari's lookup column, a copy of ``label``
    target = Path(path)
    table.to_csv(target, index=False)
    return [str(target)]
