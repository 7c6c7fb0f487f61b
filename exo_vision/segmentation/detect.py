"""Candidate detection on a noise-normalised contrast image ("z").

A vesicle, in the vesicle-is-bright convention, is a region lighter than the
stain, closed by a dark membrane and usually surrounded by a dark stain halo.
Cup-shaped vesicles have a dark, stain-filled centre inside a bright rim; the
hole filling here makes them one solid object.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.filters import apply_hysteresis_threshold


def disk(radius_px: float) -> np.ndarray:
    """A disk structuring element (uint8) of the given radius in pixels."""
    r = max(int(round(radius_px)), 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def thresholds(sensitivity: float) -> tuple[float, float]:
    """Hysteresis thresholds (low, high) in noise units for a sensitivity in [0, 1]."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError(f"`sensitivity` must be between 0 and 1, got {sensitivity!r}")
    high = 5.0 - 4.0 * sensitivity  # 0.5 -> 3.0
    low = 0.55 * high
    return low, high


def candidate_mask(z: np.ndarray, *, scale_nm: float, sensitivity: float = 0.5) -> np.ndarray:
    """Solid bright regions: hysteresis threshold, closing, hole filling, opening.

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast, vesicles positive.
    scale_nm : float
        Pixel edge length of ``z`` in nm.
    sensitivity : float
        0 (strict) to 1 (permissive).

    Returns
    -------
    (M, N) ndarray of bool
    """
    low, high = thresholds(sensitivity)
    mask = apply_hysteresis_threshold(z, low, high).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disk(3.0 / scale_nm))
    mask = ndi.binary_fill_holes(mask).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk(2.5 / scale_nm))
    return mask.astype(bool)


def ring_mean(z: np.ndarray, region: np.ndarray, *, inner_px: float, outer_px: float) -> float:
    """Mean of ``z`` in a ring ``inner_px``..``outer_px`` outside ``region``.

    Parameters
    ----------
    z : (m, n) ndarray
    region : (m, n) ndarray of bool
        The object (a crop containing it with margin).
    inner_px, outer_px : float
        Ring limits in pixels from the object's edge.

    Returns
    -------
    float
        NaN when the ring is empty.
    """
    dist = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (dist > inner_px) & (dist <= outer_px)
    if not ring.any():
        return float("nan")
    return float(z[ring].mean())
