"""Saturation: pixels at the detector's (or the export's) clipping level."""

from __future__ import annotations

import numpy as np


def saturation_mask(image: np.ndarray, *, level: float, exclude: np.ndarray | None = None) -> np.ndarray:
    """Pixels sitting exactly at the saturation level.

    Parameters
    ----------
    image : (M, N) ndarray
        Raw blot image (not inverted).
    level : float
        Saturation level: ``max_value`` of a ``.scn``, the dtype maximum of a raw
        TIFF, 0 for an inverted 8-bit export.
    exclude : (M, N) ndarray of bool, optional
        Pixels to ignore (dust specks).

    Returns
    -------
    (M, N) ndarray of bool
    """
    mask = np.asarray(image) == level
    if exclude is not None:
        mask &= ~exclude
    return mask


def export_warnings(image: np.ndarray, *, polarity: str) -> list[str]:
    """Warnings about images unsuitable for quantification.

    Parameters
    ----------
    image : (M, N) ndarray
        Raw blot image.
    polarity : {"bright", "dark"}
        Band polarity.

    Returns
    -------
    list of str
        Empty for a raw 16-bit image.
    """
    out = []
    if np.asarray(image).dtype == np.uint8:
        out.append(
            "8-bit image: this looks like a 'for publication' export, whose contrast was stretched and "
            "clipped to 256 levels; it is UNSUITABLE FOR QUANTIFICATION (results are indicative only). "
            "Export the raw 16-bit image (.scn or 16-bit TIFF) from Image Lab instead"
        )
    if polarity == "dark":
        out.append("inverted image (dark bands on light background): signal was taken as white level minus pixel value")
    return out
