"""The one pre-processing that training and inference share: working scale and grey-level normalisation.

Keeping it in one function means the network never sees, at run time, an image
prepared differently from the ones it learnt from.
"""

from __future__ import annotations

import cv2
import numpy as np

from exo_vision._shared.validation import to_float32

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
    img = to_float32(image)
    factor = pixel_size_nm / working_scale_nm
    m, n = img.shape
    new_m, new_n = max(int(round(m * factor)), MIN_WORKING_SIDE_PX), max(int(round(n * factor)), MIN_WORKING_SIDE_PX)
    if (new_m, new_n) == (m, n):
        return img
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, (new_n, new_m), interpolation=interpolation)


def _window_centres(length: int, window_px: int) -> np.ndarray:
    """Centres of windows ``window_px`` wide, half a window apart, covering ``length`` pixels."""
    if length <= window_px:
        return np.array([0.5 * (length - 1)])
    count = int(np.ceil((length - window_px) / (0.5 * window_px))) + 1
    return np.linspace(0.5 * (window_px - 1), length - 0.5 * (window_px + 1), count)


def _interpolation_weights(length: int, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every pixel 0..length-1: the two nearest centres' indices and the second one's linear weight."""
    position = np.interp(np.arange(length), centres, np.arange(centres.size))
    first = np.floor(position).astype(np.intp)
    second = np.minimum(first + 1, centres.size - 1)
    return first, second, (position - first).astype(np.float32)


def _bilinear(grid: np.ndarray, rows: tuple, cols: tuple) -> np.ndarray:
    """``grid`` (one value per window centre) interpolated to every pixel."""
    r0, r1, wr = rows
    c0, c1, wc = cols
    along_rows = grid[r0] * (1 - wr)[:, None] + grid[r1] * wr[:, None]
    return along_rows[:, c0] * (1 - wc)[None, :] + along_rows[:, c1] * wc[None, :]


def _percentile_pair(sample: np.ndarray) -> tuple[float, float] | None:
    """The 1st and 99th percentiles of ``sample``, or None when it is empty or flat."""
    if sample.size == 0:
        return None
    if sample.size > PERCENTILE_SAMPLE_PIXELS:
        sample = sample.ravel()[:: sample.size // PERCENTILE_SAMPLE_PIXELS]
    lo, hi = np.percentile(sample, NORMALISE_PERCENTILES)
    spread = float(hi - lo)
    if not np.isfinite(spread) or spread <= FLAT_SPREAD:
        return None
    return float(lo), float(hi)


def local_percentile_maps(
    image: np.ndarray, *, valid: np.ndarray | None, window_px: int, whole: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel 1st and 99th percentiles read in windows of ``window_px`` and interpolated between them.

    The windows are ``window_px`` square, their centres half a window apart;
    the two percentiles of each window are interpolated bilinearly between the
    centres and held constant beyond the outermost ones. A window without a
    valid pixel, or a flat one, takes the ``whole`` image's pair.

    Returns
    -------
    lo, hi : (M, N) ndarray of float32
    """
    m, n = image.shape
    centres_r, centres_c = _window_centres(m, window_px), _window_centres(n, window_px)
    half = window_px // 2
    pairs = np.empty((2, centres_r.size, centres_c.size), np.float32)
    for i, cr in enumerate(centres_r):
        r0 = max(int(round(cr)) - half, 0)
        for j, cc in enumerate(centres_c):
            c0 = max(int(round(cc)) - half, 0)
            window = image[r0 : r0 + window_px, c0 : c0 + window_px]
            inside = None if valid is None else valid[r0 : r0 + window_px, c0 : c0 + window_px]
            pair = _percentile_pair(window if inside is None else window[inside])
            pairs[:, i, j] = whole if pair is None else pair
    rows, cols = _interpolation_weights(m, centres_r), _interpolation_weights(n, centres_c)
    return _bilinear(pairs[0], rows, cols), _bilinear(pairs[1], rows, cols)


def normalise_for_network(image: np.ndarray, *, valid: np.ndarray | None = None, window_px: int = 0) -> np.ndarray:
    """Map grey levels so that the 1st and 99th percentiles become 0 and 1.

    Parameters
    ----------
    image : (M, N) ndarray
        Image at the working scale.
    valid : (M, N) ndarray of bool, optional
        Pixels the percentiles are taken from (the scale bar and data strip
        excluded); all pixels by default.
    window_px : int, optional
        0 (default): one pair of percentiles for the whole image, as every
        training patch is normalised. A positive value reads the percentiles in
        windows of this many pixels (:func:`local_percentile_maps`), so that a
        large image is mapped the way a training patch of that size was; an
        image no larger than one window is normalised as a whole.

    Returns
    -------
    (M, N) ndarray of float32
        Normalised image (values outside [0, 1] are kept, not clipped).
    """
    img = np.asarray(image, dtype=np.float32)
    usable = valid if valid is not None and valid.any() else None
    whole = _percentile_pair(img if usable is None else img[usable])
    if whole is None:
        return np.zeros_like(img)
    if window_px <= 0 or max(img.shape) <= window_px:
        return (img - np.float32(whole[0])) / np.float32(whole[1] - whole[0])
    lo, hi = local_percentile_maps(img, valid=usable, window_px=window_px, whole=whole)
    return (img - lo) / (hi - lo)
