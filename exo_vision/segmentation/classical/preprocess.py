"""Preprocessing of TEM micrographs in physical units, at the classical method's working scale.

Everything here works at a fixed working scale in nm per pixel, so that filter
sizes mean the same thing at any acquisition pixel size:

- :func:`resample_to_scale` shrinks the image to the working scale;
- :func:`estimate_background` and :func:`masked_background` find the slowly
  varying stain level (thickness gradients, stain pools), the second one
  ignoring the objects found so far;
- :func:`normalised_contrast` turns an image into local contrast in units of
  the local noise ("z"), which is what detection thresholds act on.
"""

from __future__ import annotations

import cv2
import numpy as np

from exo_vision._shared.robust import MAD_TO_SD
from exo_vision._shared.validation import MIN_WORKING_SIDE_PX
from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS, ClassicalParameters

#: Above this many values, :func:`robust_std` works on a regular subsample ...
ROBUST_STD_SUBSAMPLE_ABOVE = 200_000
#: ... of about this many values.
ROBUST_STD_SUBSAMPLE_SIZE = 100_000
#: The noise differences' lag is at most the image width divided by this.
NOISE_MAX_LAG_DIVISOR = 4
#: Narrowest noise-averaging window, in coarse pixels.
NOISE_MIN_WINDOW_PX = 5
#: Floors that keep square roots and divisions finite on a flat image.
TINY_VARIANCE = 1e-18
TINY_LEVEL = 1e-12
#: The background's coarse blocks are at most the shorter image side divided by this.
COARSE_BLOCK_MAX_DIVISOR = 3


def resample_to_scale(image: np.ndarray, *, pixel_size_nm: float, working_scale_nm: float) -> tuple[np.ndarray, float]:
    """Shrink ``image`` to ``working_scale_nm`` per pixel (never enlarge).

    Parameters
    ----------
    image : (M, N) ndarray of float32
        Image at its acquisition pixel size.
    pixel_size_nm : float
        Acquisition pixel edge length in nm.
    working_scale_nm : float
        Wanted pixel edge length in nm.

    Returns
    -------
    small : (m, n) ndarray of float32
        Area-averaged image; ``image`` itself when it is already at least as
        coarse as the working scale.
    scale_nm : float
        Effective pixel edge length of ``small`` in nm (mean over both axes).
    """
    factor = pixel_size_nm / working_scale_nm
    if factor >= 1.0:
        return image, pixel_size_nm
    m, n = image.shape
    new_m = max(int(round(m * factor)), MIN_WORKING_SIDE_PX)
    new_n = max(int(round(n * factor)), MIN_WORKING_SIDE_PX)
    small = cv2.resize(image, (new_n, new_m), interpolation=cv2.INTER_AREA)
    scale_nm = 0.5 * (m / new_m + n / new_n) * pixel_size_nm
    return small, scale_nm


def shrink_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Shrink a boolean mask to ``shape``: True where any source pixel under a target pixel is True.

    Target pixel ``i`` covers source rows ``[i * f, (i + 1) * f)`` (``f`` the
    shrink factor), as in area resampling; a source pixel partly under it
    counts. Rows, then columns, are OR-ed over those footprints, within the
    bounding box of the True pixels only (annotation masks are a few boxes).

    Parameters
    ----------
    mask : (M, N) ndarray of bool
    shape : (m, n) tuple of int
        Target shape (not larger than ``mask``).

    Returns
    -------
    (m, n) ndarray of bool
    """
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(shape, bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    (r_lo, r_hi), (c_lo, c_hi) = _footprints(mask.shape[0], shape[0]), _footprints(mask.shape[1], shape[1])
    # target rows/columns whose footprint reaches the bounding box
    i0, i1 = int(np.searchsorted(r_hi, rows[0], side="right")), int(np.searchsorted(r_lo, rows[-1], side="right"))
    j0, j1 = int(np.searchsorted(c_hi, cols[0], side="right")), int(np.searchsorted(c_lo, cols[-1], side="right"))
    sub = mask[r_lo[i0] : r_hi[i1 - 1], c_lo[j0] : c_hi[j1 - 1]]
    rows_done = _or_rows(sub, r_lo[i0:i1] - r_lo[i0], r_hi[i0:i1] - r_lo[i0])
    cols_done = _or_rows(np.ascontiguousarray(rows_done.T), c_lo[j0:j1] - c_lo[j0], c_hi[j0:j1] - c_lo[j0])
    out[i0:i1, j0:j1] = cols_done.T
    return out


def _footprints(big: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last source index under each of ``size`` area-resampling target pixels."""
    f = big / size
    lo = np.floor(np.arange(size) * f).astype(int)
    hi = np.maximum(np.minimum(np.ceil(np.arange(1, size + 1) * f).astype(int), big), lo + 1)
    return lo, hi


def _or_rows(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Row ``i`` of the result: OR of ``mask[lo[i]:hi[i]]``."""
    out = mask[lo].copy()
    for k in range(1, int((hi - lo).max())):
        out |= mask[np.minimum(lo + k, hi - 1)]
    return out


def coarse_block(shape: tuple[int, int], *, pixel_size_nm: float, coarse_scale_nm: float) -> int:
    """Side in pixels of the square blocks that make the coarse grid of the background.

    The whole number of pixels nearest to ``coarse_scale_nm`` (at least 1),
    but no larger than a third of the shorter side.
    """
    block = max(int(round(coarse_scale_nm / pixel_size_nm)), 1)
    return max(min(block, min(shape) // COARSE_BLOCK_MAX_DIVISOR), 1)


def to_coarse(image: np.ndarray, block: int) -> np.ndarray:
    """Mean over ``block`` x ``block`` blocks (float32); the last row/column of blocks is edge-padded.

    Whole blocks let OpenCV average without resampling weights, about three
    times faster than shrinking by a fractional factor.
    """
    image = np.asarray(image, dtype=np.float32)
    if block <= 1:
        return image
    m, n = image.shape
    pad_m, pad_n = (-m) % block, (-n) % block
    if pad_m or pad_n:
        image = cv2.copyMakeBorder(image, 0, pad_m, 0, pad_n, cv2.BORDER_REPLICATE)
    return cv2.resize(image, ((n + pad_n) // block, (m + pad_m) // block), interpolation=cv2.INTER_AREA)


def from_coarse(coarse: np.ndarray, block: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of a :func:`to_coarse` grid back to ``shape`` (float32)."""
    coarse = np.asarray(coarse, dtype=np.float32)
    if block <= 1:
        return coarse
    cm, cn = coarse.shape
    full = cv2.resize(coarse, (cn * block, cm * block), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(full[: shape[0], : shape[1]])


def estimate_background(
    image: np.ndarray, *, pixel_size_nm: float, params: ClassicalParameters = DEFAULT_PARAMETERS
) -> np.ndarray:
    """First, rough stain level: a Gaussian much wider than a typical vesicle.

    Vesicles lift it slightly around themselves; :func:`masked_background`
    then refines it while ignoring the objects found with this one.

    Parameters
    ----------
    image : (M, N) ndarray of float32
    pixel_size_nm : float
        Pixel edge length of ``image`` in nm.
    params : ClassicalParameters
        ``background_sigma_nm`` (the Gaussian) and ``background_grid_nm``
        (the filter runs on a copy shrunk to this pixel size).

    Returns
    -------
    (M, N) ndarray of float32
        Background estimate at the input's resolution.
    """
    block = coarse_block(image.shape, pixel_size_nm=pixel_size_nm, coarse_scale_nm=params.background_grid_nm)
    coarse = to_coarse(image, block)
    sigma_px = params.background_sigma_nm / (block * pixel_size_nm)
    bg = cv2.GaussianBlur(coarse, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    return from_coarse(bg, block, image.shape)


def robust_std(values: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation (outlier-proof)."""
    v = np.asarray(values, dtype=np.float32).ravel()
    if v.size > ROBUST_STD_SUBSAMPLE_ABOVE:  # a regular subsample is plenty for a robust spread
        v = v[:: v.size // ROBUST_STD_SUBSAMPLE_SIZE]
    if v.size == 0:
        return 0.0
    med = np.median(v)
    return float(MAD_TO_SD * np.median(np.abs(v - med)))


def pixel_noise_std(image: np.ndarray) -> float:
    """Per-pixel noise standard deviation from neighbour differences (robust).

    Parameters
    ----------
    image : (M, N) ndarray

    Returns
    -------
    float
        Estimated std of white noise in ``image``'s units.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.shape[1] < 2:
        return 0.0
    diff = img[:, 1:] - img[:, :-1]
    return robust_std(diff) / np.sqrt(2.0)


def masked_background(
    image: np.ndarray,
    fallback: np.ndarray,
    objects: np.ndarray,
    *,
    pixel_size_nm: float,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> np.ndarray:
    """Background that follows stain pools closely but ignores known objects.

    A normalised (masked) Gaussian convolution: the stain level is averaged over
    pixels *not* in ``objects`` with a ``sigma_nm`` Gaussian; where too few
    such pixels are near (inside big objects), ``fallback`` is used.

    Parameters
    ----------
    image : (M, N) ndarray of float32
    fallback : (M, N) ndarray of float32
        Coarser background estimate (e.g. :func:`estimate_background`).
    objects : (M, N) ndarray of bool
        Pixels to ignore (objects with their halos).
    pixel_size_nm : float
        Pixel edge length of ``image`` in nm.
    params : ClassicalParameters
        ``masked_background_sigma_nm`` (the smoothing), ``background_grid_nm``
        (the convolution runs on a copy shrunk to this pixel size) and the
        weights below which the fallback takes over.

    Returns
    -------
    (M, N) ndarray of float32
    """
    block = coarse_block(image.shape, pixel_size_nm=pixel_size_nm, coarse_scale_nm=params.background_grid_nm)
    weight = (~objects).astype(np.float32)
    img_c, w_c, fb_c = to_coarse(image * weight, block), to_coarse(weight, block), to_coarse(fallback, block)
    sigma_px = params.masked_background_sigma_nm / (block * pixel_size_nm)
    num = cv2.GaussianBlur(img_c, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(w_c, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    # blend towards the fallback where the local weight is small
    trust = np.clip(den / params.masked_background_trust_weight, 0.0, 1.0)
    floor = params.masked_background_min_weight
    bg_c = np.where(den > floor, num / np.maximum(den, floor), fb_c) * trust + fb_c * (1 - trust)
    return from_coarse(bg_c.astype(np.float32), block, image.shape)


def smoothed_noise_map(
    smooth: np.ndarray, *, pixel_size_nm: float, params: ClassicalParameters = DEFAULT_PARAMETERS
) -> np.ndarray:
    """Local standard deviation of the noise of a smoothed image.

    Uses differences at a lag of ``params.noise_lag_smoothing_widths``
    smoothing widths (beyond the noise's correlation length, so
    ``var(s(x) - s(x + lag)) = 2 var(noise)``), clipped against edges,
    averaged over ``params.noise_window_nm`` and tied to the global robust value.

    Parameters
    ----------
    smooth : (M, N) ndarray of float32
        The smoothed image.
    pixel_size_nm : float
        Its pixel edge length in nm.
    params : ClassicalParameters
        ``smooth_sigma_nm`` (the Gaussian it was smoothed with) and the ``noise_*`` settings.

    Returns
    -------
    (M, N) ndarray of float32
    """
    m, n = smooth.shape
    lag_px = round(params.noise_lag_smoothing_widths * params.smooth_sigma_nm / pixel_size_nm)
    lag = int(np.clip(lag_px, 2, max(n // NOISE_MAX_LAG_DIVISOR, 2)))
    diff = np.zeros_like(smooth)
    diff[:, :-lag] = smooth[:, lag:] - smooth[:, :-lag]
    diff[:, -lag:] = diff[:, -2 * lag : -lag] if n > 2 * lag else 0.0
    global_std = max(robust_std(diff) / np.sqrt(2.0), params.smallest_noise)
    # in place to spare full-size temporaries: squares in float32, then the
    # clip (against a float64 bound) and everything after it in float64
    np.multiply(diff, diff, out=diff)
    sq = np.minimum(diff, (params.noise_clip_std * np.sqrt(2.0) * global_std) ** 2)
    sq *= 0.5
    # the window is smooth at the background's coarse grid: average there
    block = coarse_block(sq.shape, pixel_size_nm=pixel_size_nm, coarse_scale_nm=params.background_grid_nm)
    win = max(int(round(params.noise_window_nm / (block * pixel_size_nm))), NOISE_MIN_WINDOW_PX)
    local = cv2.blur(to_coarse(sq, block), (win, win), borderType=cv2.BORDER_REFLECT)
    np.maximum(local, TINY_VARIANCE, out=local)
    np.sqrt(local, out=local)
    # clipping shrinks the rms; rescale so the median matches the robust global value
    local *= global_std / max(float(np.median(local)), TINY_LEVEL)
    np.maximum(local, params.noise_floor_fraction * global_std, out=local)
    return from_coarse(local, block, sq.shape)


def normalised_contrast(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    objects: np.ndarray | None = None,
    background: np.ndarray | None = None,
    smoothed: tuple[np.ndarray, np.ndarray] | None = None,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> tuple[np.ndarray, np.ndarray]:
    """Local contrast in units of local noise, after smoothing.

    Parameters
    ----------
    image : (M, N) ndarray of float32
        Image at the working scale.
    pixel_size_nm : float
        Its pixel edge length in nm.
    objects : (M, N) ndarray of bool, optional
        Known objects (with halos) to leave out of the background estimate; when
        given, the background follows stain pools more closely
        (:func:`masked_background`).
    background : (M, N) ndarray of float32, optional
        A coarse background already computed (reused as the fallback).
    smoothed : tuple of two (M, N) ndarray of float32, optional
        ``smooth_and_noise(image, ...)`` if already computed (it does not
        depend on ``objects`` or ``background``, so repeated passes over one
        image share it).
    params : ClassicalParameters
        Background and smoothing settings.

    Returns
    -------
    z : (M, N) ndarray of float32
        ``(smoothed - background) / local noise of smoothed``: 0 on bare stain,
        positive where lighter, negative where darker.
    background : (M, N) ndarray of float32
        The background that was subtracted.
    """
    if background is None:
        background = estimate_background(image, pixel_size_nm=pixel_size_nm, params=params)
    if objects is not None and objects.any():
        background = masked_background(image, background, objects, pixel_size_nm=pixel_size_nm, params=params)
    if smoothed is None:
        smoothed = smooth_and_noise(image, pixel_size_nm=pixel_size_nm, params=params)
    smooth, noise = smoothed
    return ((smooth - background) / noise).astype(np.float32), background


def smooth_and_noise(
    image: np.ndarray, *, pixel_size_nm: float, params: ClassicalParameters = DEFAULT_PARAMETERS
) -> tuple[np.ndarray, np.ndarray]:
    """The denoised image and its local noise, as used by :func:`normalised_contrast`.

    Parameters
    ----------
    image : (M, N) ndarray of float32
        Image at the working scale.
    pixel_size_nm : float
        Its pixel edge length in nm.
    params : ClassicalParameters
        ``smooth_sigma_nm`` (the Gaussian) and the noise settings.

    Returns
    -------
    smooth : (M, N) ndarray of float32
        ``image`` smoothed with a ``smooth_sigma_nm`` Gaussian (``image``
        itself when that is under ``smallest_blur_px``).
    noise : (M, N) ndarray of float32
        :func:`smoothed_noise_map` of ``smooth``.
    """
    sigma_px = params.smooth_sigma_nm / pixel_size_nm
    if sigma_px > params.smallest_blur_px:
        smooth = cv2.GaussianBlur(image, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    else:
        smooth = image
    return smooth, smoothed_noise_map(smooth, pixel_size_nm=pixel_size_nm, params=params)
