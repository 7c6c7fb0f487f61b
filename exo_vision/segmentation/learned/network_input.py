"""The one pre-processing that training and inference share: working scale and grey-level normalisation.

Keeping it in one function means the network never sees, at run time, an image
prepared differently from the ones it learnt from.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Percentiles mapped to 0 and 1 by :func:`normalise_for_network`.
NORMALISE_PERCENTILES = (1.0, 99.0)
#: Smallest side of the working-scale image, px (a network tile needs a few pixels to pool).
MIN_WORKING_SIDE_PX = 8
#: The percentiles are read on a regular subsample of about this many pixels (same values, faster).
PERCENTILE_SAMPLE_PIXELS = 200_000
#: A percentile spread at or under this is a flat image: it normalises to zeros.
FLAT_SPREAD = 1e-12


def to_working_scale(image: np.ndarray, *, pixel_size_nm: float, working_scale_nm: float) -> np.ndarray:
    """Resample ``image`` so that one pixel is ``working_scale_nm`` wide.

    Shrinking averages areas (no aliasing); enlarging (renders coarser than the
    working scale) interpolates linearly.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey-level image.
    pixel_size_nm : float
        Its pixel edge length, nm.
    working_scale_nm : float
        The network's pixel edge length, nm.

    Returns
    -------
    (m, n) ndarray of float32
        ``m = round(M * pixel_size_nm / working_scale_nm)`` (at least 8), likewise ``n``.
    """
    img = np.asarray(image, dtype=np.float32)
    factor = pixel_size_nm / working_scale_nm
    m, n = img.shape
    new_m, new_n = max(int(round(m * factor)), MIN_WORKING_SIDE_PX), max(int(round(n * factor)), MIN_WORKING_SIDE_PX)
    if (new_m, new_n) == (m, n):
        return img
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, (new_n, new_m), interpolation=interpolation)


def normalise_for_network(image: np.ndarray, *, valid: np.ndarray | None = None) -> np.ndarray:
    """Map grey levels so that the 1st and 99th percentiles become 0 and 1.

    Parameters
    ----------
    image : (M, N) ndarray
        Image at the working scale.
    valid : (M, N) ndarray of bool, optional
        Pixels the percentiles are taken from (the scale bar and data strip
        excluded); all pixels by default.

    Returns
    -------
    (M, N) ndarray of float32
        Normalised image (values outside [0, 1] are kept, not clipped).
    """
    img = np.asarray(image, dtype=np.float32)
    sample = img[valid] if valid is not None and valid.any() else img
    if sample.size > PERCENTILE_SAMPLE_PIXELS:
        sample = sample.ravel()[:: sample.size // PERCENTILE_SAMPLE_PIXELS]
    lo, hi = np.percentile(sample, NORMALISE_PERCENTILES)
    spread = float(hi - lo)
    if not np.isfinite(spread) or spread <= FLAT_SPREAD:
        return np.zeros_like(img)
    return (img - np.float32(lo)) / np.float32(spread)
