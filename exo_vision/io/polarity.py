"""Blot polarity: are the bands brighter or darker than the background?"""

from __future__ import annotations

from typing import Literal

import numpy as np

Polarity = Literal["bright", "dark"]

#: An integer image whose median lies below this fraction of its dtype's maximum has bright bands (raw).
RAW_MEDIAN_FRACTION = 0.5


def camera_background(dtype: np.dtype, median: float) -> bool:
    """Whether a blot's background level ``median`` is a camera's: an integer image whose median lies in the
    lower half of its dtype's range is raw, with bright bands, whatever its tails (a membrane above a dark
    floor with one small band, a lysate-only calnexin blot, has its long tail on the dark side)."""
    return bool(np.issubdtype(dtype, np.integer) and median < RAW_MEDIAN_FRACTION * np.iinfo(dtype).max)


def detect_band_polarity(image: np.ndarray, *, tail_percent: float = 0.5) -> Polarity:
    """Decide whether bands are bright on dark or dark on bright.

    The background covers most of a blot, so the median is a background level;
    bands are the far tail. Whichever tail lies further from the median is the
    band side: ``"bright"`` (raw chemiluminescence, bands above background) or
    ``"dark"`` (inverted "for publication" export, bands below a white background).
    An integer image whose median lies in the lower half of its dtype's range has a
    camera's background and is ``"bright"`` whatever its tails.

    Parameters
    ----------
    image : (M, N) ndarray
        Gray blot image, any numeric dtype.
    tail_percent : float
        Percentile (in %) taken as each tail, 0 < ``tail_percent`` < 50.

    Returns
    -------
    {"bright", "dark"}
        Band polarity. A perfectly symmetric image returns ``"bright"``.

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or ``tail_percent`` is out of range.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"`image` must be 2-D (M, N), got shape {array.shape}; pass one gray image")
    if not 0 < tail_percent < 50:
        raise ValueError(f"`tail_percent` must be between 0 and 50, got {tail_percent!r}")
    values = array.astype(np.float64, copy=False)
    if values.size > 1_000_000:
        step = int(np.ceil(np.sqrt(values.size / 1_000_000)))
        values = values[::step, ::step]
    low, median, high = np.percentile(values, [tail_percent, 50.0, 100.0 - tail_percent])
    if camera_background(array.dtype, median):
        return "bright"
    return "dark" if (median - low) > (high - median) else "bright"
