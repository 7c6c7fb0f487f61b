"""Band volume: background-subtracted integrated signal."""

from __future__ import annotations

import numpy as np


def band_volume(pixels: np.ndarray, top: int, bottom: int, background_per_px: np.ndarray) -> float:
    """Integrated signal of a band above its background.

    Parameters
    ----------
    pixels : (R, W) ndarray
        Straightened lane pixels (central part of the lane).
    top, bottom : int
        Band rows ``top <= r < bottom`` (lane-relative).
    background_per_px : (bottom - top,) ndarray
        Background level per pixel for each band row.

    Returns
    -------
    float
        ``sum(pixels[top:bottom] - background)`` in intensity x pixel units.
    """
    block = pixels[top:bottom].astype(np.float64)
    bg = np.asarray(background_per_px, dtype=np.float64)
    if bg.shape != (block.shape[0],):
        raise ValueError(f"background has {bg.shape} values for {block.shape[0]} band rows")
    return float(block.sum() - block.shape[1] * bg.sum())
