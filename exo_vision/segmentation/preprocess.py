"""Preprocessing of TEM micrographs in physical units.

Everything here works at a fixed working scale in nm per pixel, so that filter
sizes mean the same thing at any acquisition pixel size:

- :func:`resample_to_scale` shrinks the image to the working scale;
- :func:`estimate_background` and :func:`masked_background` find the slowly
  varying stain level (thickness gradients, stain pools), the second one
  ignoring the objects found so far;
- :func:`normalised_contrast` turns an image into local contrast in units of
  the local noise ("z"), which is what detection thresholds act on;
- :func:`fallback_annotation_mask` finds burnt-in scale bars and their labels
  when the calibration module's detector is not available.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Working scale of detection, in nm per pixel.
WORKING_SCALE_NM = 2.0
#: Finest pixel accepted, in nm (0.01 Å: below any electron microscope's pixel).
MIN_PIXEL_SIZE_NM = 1e-3
#: Fewest pixels the shorter side may have at the working scale. Below it the
#: image is not shrunk to the working scale, every filter size in pixels grows
#: as 1 / pixel size (a 512 px image at 1e-6 nm/px asked for 1e7 px kernels).
MIN_WORKING_SIDE_PX = 8
#: Most pixels the image may have once at the working scale (work bound).
MAX_WORKING_PIXELS = 64_000_000


def as_float_image(image: np.ndarray) -> np.ndarray:
    """Return a 2-D float32 copy-or-view of ``image``, validating it.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey-level image of any real dtype (RGB with equal channels is not
        accepted here: convert it to grey first).

    Returns
    -------
    (M, N) ndarray of float32
    """
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(
            f"`image` must be a 2-D grey-level array, got shape {arr.shape}; "
            "convert RGB to grey or pick one frame of a stack first"
        )
    if arr.size == 0 or min(arr.shape) < 8:
        raise ValueError(f"`image` is too small to analyse (shape {arr.shape}); it needs at least 8x8 pixels")
    if arr.dtype.kind not in "uif" or arr.dtype == bool:
        raise ValueError(f"`image` must hold real numbers, got dtype {arr.dtype}")
    out = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(out)):
        raise ValueError("`image` contains NaN or infinite values; replace them (e.g. with the median) first")
    return out


def check_pixel_size(pixel_size_nm: float) -> float:
    """Validate a pixel size in nm and return it as float."""
    try:
        value = float(pixel_size_nm)
    except (TypeError, ValueError):
        raise ValueError(f"`pixel_size_nm` must be a number of nanometres, got {pixel_size_nm!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"`pixel_size_nm` must be a positive number of nanometres, got {pixel_size_nm!r}; "
            "read it from the file, from the scale bar, or pass it explicitly (e.g. 0.8)"
        )
    if value > 50:
        raise ValueError(
            f"`pixel_size_nm` = {value} nm is too coarse to resolve vesicles (30-500 nm); "
            "check the calibration (is it in Angstrom or micrometres?)"
        )
    return value


def check_working_scale(
    shape: tuple[int, ...], *, pixel_size_nm: float, working_scale_nm: float = WORKING_SCALE_NM
) -> None:
    """Refuse a pixel size or image size whose analysis the working scale cannot bound.

    Parameters
    ----------
    shape : tuple of int
        ``(M, N)`` image shape in pixels.
    pixel_size_nm : float
        Pixel edge length in nm (already checked positive and finite).
    working_scale_nm : float
        Pixel edge length of the working scale in nm.

    Raises
    ------
    ValueError
        If the pixel is finer than :data:`MIN_PIXEL_SIZE_NM`, if the image
        spans fewer than :data:`MIN_WORKING_SIDE_PX` working pixels (the
        filters would then be sized for a finer grid than the working scale:
        the work grows as 1 / pixel size squared), or if the image at the
        working scale exceeds :data:`MAX_WORKING_PIXELS`.
    """
    px = float(pixel_size_nm)
    m, n = int(shape[0]), int(shape[1])
    if px < MIN_PIXEL_SIZE_NM:
        raise ValueError(
            f"`pixel_size_nm` = {px:.3g} nm is finer than any electron micrograph (at least "
            f"{MIN_PIXEL_SIZE_NM:g} nm); the calibration is probably in the wrong unit: check it or pass "
            "the pixel size yourself (--pixel-size-nm)"
        )
    field_nm = min(m, n) * px
    if px < working_scale_nm and field_nm < MIN_WORKING_SIDE_PX * working_scale_nm:
        raise ValueError(
            f"the image ({m} x {n} px at {px:.3g} nm/px) spans only {field_nm:.3g} nm, less than "
            f"{MIN_WORKING_SIDE_PX * working_scale_nm:g} nm: too small to hold a vesicle, or its pixel size is "
            "wrong; check the calibration or pass the pixel size yourself (--pixel-size-nm)"
        )
    factor = min(px / working_scale_nm, 1.0)
    working_pixels = (m * factor) * (n * factor)
    if working_pixels > MAX_WORKING_PIXELS:
        raise ValueError(
            f"the image ({m} x {n} px at {px:.3g} nm/px) is {working_pixels / 1e6:.0f} MP at the "
            f"{working_scale_nm:g} nm working scale, more than the {MAX_WORKING_PIXELS / 1e6:.0f} MP "
            "one analysis may take; crop it into tiles or check its pixel size"
        )


def resample_to_scale(
    image: np.ndarray, *, pixel_size_nm: float, working_scale_nm: float = WORKING_SCALE_NM
) -> tuple[np.ndarray, float]:
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
    new_m = max(int(round(m * factor)), 8)
    new_n = max(int(round(n * factor)), 8)
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
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    (r_lo, r_hi), (c_lo, c_hi) = _footprints(mask.shape[0], shape[0]), _footprints(mask.shape[1], shape[1])
    # target rows/columns whose footprint reaches the bounding box
    i0, i1 = int(np.searchsorted(r_hi, rows[0], side="right")), int(np.searchsorted(r_lo, rows[-1], side="right"))
    j0, j1 = int(np.searchsorted(c_hi, cols[0], side="right")), int(np.searchsorted(c_lo, cols[-1], side="right"))
    sub = mask[r_lo[i0]:r_hi[i1 - 1], c_lo[j0]:c_hi[j1 - 1]]
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
    return max(min(block, min(shape) // 3), 1)


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
    image: np.ndarray, *, pixel_size_nm: float, sigma_nm: float = 120.0, coarse_scale_nm: float = 8.0
) -> np.ndarray:
    """First, rough stain level: a Gaussian much wider than a typical vesicle.

    Vesicles lift it slightly around themselves; :func:`masked_background`
    then refines it while ignoring the objects found with this one.

    Parameters
    ----------
    image : (M, N) ndarray of float32
    pixel_size_nm : float
        Pixel edge length of ``image`` in nm.
    sigma_nm : float
        Gaussian sigma in nm.
    coarse_scale_nm : float
        The filter runs on a copy shrunk to this pixel size (for speed).

    Returns
    -------
    (M, N) ndarray of float32
        Background estimate at the input's resolution.
    """
    block = coarse_block(image.shape, pixel_size_nm=pixel_size_nm, coarse_scale_nm=coarse_scale_nm)
    coarse = to_coarse(image, block)
    bg = cv2.GaussianBlur(coarse, (0, 0), sigma_nm / (block * pixel_size_nm), borderType=cv2.BORDER_REFLECT)
    return from_coarse(bg, block, image.shape)


def robust_std(values: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation (outlier-proof)."""
    v = np.asarray(values, dtype=np.float32).ravel()
    if v.size > 200_000:  # a regular subsample is plenty for a robust spread
        v = v[:: v.size // 100_000]
    if v.size == 0:
        return 0.0
    med = np.median(v)
    return float(1.4826 * np.median(np.abs(v - med)))


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
    sigma_nm: float = 80.0,
    coarse_scale_nm: float = 8.0,
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
    sigma_nm : float
        Smoothing of the background in nm.
    coarse_scale_nm : float
        The convolution runs on a copy shrunk to this pixel size.

    Returns
    -------
    (M, N) ndarray of float32
    """
    block = coarse_block(image.shape, pixel_size_nm=pixel_size_nm, coarse_scale_nm=coarse_scale_nm)
    weight = (~objects).astype(np.float32)
    img_c, w_c, fb_c = to_coarse(image * weight, block), to_coarse(weight, block), to_coarse(fallback, block)
    sigma_px = sigma_nm / (block * pixel_size_nm)
    num = cv2.GaussianBlur(img_c, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(w_c, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    # blend towards the fallback where the local weight is small
    trust = np.clip(den / 0.3, 0.0, 1.0)
    bg_c = np.where(den > 1e-3, num / np.maximum(den, 1e-3), fb_c) * trust + fb_c * (1 - trust)
    return from_coarse(bg_c.astype(np.float32), block, image.shape)


def smoothed_noise_map(
    smooth: np.ndarray, *, pixel_size_nm: float, smooth_nm: float, window_nm: float = 300.0
) -> np.ndarray:
    """Local standard deviation of the noise of a smoothed image.

    Uses differences at a lag of three smoothing widths (beyond the noise's
    correlation length, so ``var(s(x) - s(x + lag)) = 2 var(noise)``), clipped
    against edges, averaged over ``window_nm`` and tied to the global robust value.

    Parameters
    ----------
    smooth : (M, N) ndarray of float32
        The smoothed image.
    pixel_size_nm : float
        Its pixel edge length in nm.
    smooth_nm : float
        The Gaussian sigma (nm) it was smoothed with.
    window_nm : float
        Averaging window in nm.

    Returns
    -------
    (M, N) ndarray of float32
    """
    m, n = smooth.shape
    lag = int(np.clip(round(3.0 * smooth_nm / pixel_size_nm), 2, max(n // 4, 2)))
    diff = np.zeros_like(smooth)
    diff[:, :-lag] = smooth[:, lag:] - smooth[:, :-lag]
    diff[:, -lag:] = diff[:, -2 * lag : -lag] if n > 2 * lag else 0.0
    global_std = max(robust_std(diff) / np.sqrt(2.0), 1e-9)
    # in place to spare full-size temporaries: squares in float32, then the
    # clip (against a float64 bound) and everything after it in float64
    np.multiply(diff, diff, out=diff)
    sq = np.minimum(diff, (3.0 * np.sqrt(2.0) * global_std) ** 2)
    sq *= 0.5
    # a 300 nm window is smooth at 8 nm: average on the background's coarse grid
    block = coarse_block(sq.shape, pixel_size_nm=pixel_size_nm, coarse_scale_nm=8.0)
    win = max(int(round(window_nm / (block * pixel_size_nm))), 5)
    local = cv2.blur(to_coarse(sq, block), (win, win), borderType=cv2.BORDER_REFLECT)
    np.maximum(local, 1e-18, out=local)
    np.sqrt(local, out=local)
    # clipping shrinks the rms; rescale so the median matches the robust global value
    local *= global_std / max(float(np.median(local)), 1e-12)
    np.maximum(local, 0.25 * global_std, out=local)
    return from_coarse(local, block, sq.shape)


def normalised_contrast(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    smooth_nm: float = 3.0,
    objects: np.ndarray | None = None,
    background: np.ndarray | None = None,
    smoothed: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Local contrast in units of local noise, after smoothing.

    Parameters
    ----------
    image : (M, N) ndarray of float32
        Image at the working scale.
    pixel_size_nm : float
        Its pixel edge length in nm.
    smooth_nm : float
        Gaussian denoising sigma in nm.
    objects : (M, N) ndarray of bool, optional
        Known objects (with halos) to leave out of the background estimate; when
        given, the background follows stain pools more closely
        (:func:`masked_background`).
    background : (M, N) ndarray of float32, optional
        A coarse background already computed (reused as the fallback).
    smoothed : tuple of two (M, N) ndarray of float32, optional
        ``smooth_and_noise(image, ...)`` at the same ``smooth_nm`` if already
        computed (it does not depend on ``objects`` or ``background``, so
        repeated passes over one image share it).

    Returns
    -------
    z : (M, N) ndarray of float32
        ``(smoothed - background) / local noise of smoothed``: 0 on bare stain,
        positive where lighter, negative where darker.
    background : (M, N) ndarray of float32
        The background that was subtracted.
    """
    if background is None:
        background = estimate_background(image, pixel_size_nm=pixel_size_nm)
    if objects is not None and objects.any():
        background = masked_background(image, background, objects, pixel_size_nm=pixel_size_nm)
    if smoothed is None:
        smoothed = smooth_and_noise(image, pixel_size_nm=pixel_size_nm, smooth_nm=smooth_nm)
    smooth, noise = smoothed
    return ((smooth - background) / noise).astype(np.float32), background


def smooth_and_noise(
    image: np.ndarray, *, pixel_size_nm: float, smooth_nm: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """The denoised image and its local noise, as used by :func:`normalised_contrast`.

    Parameters
    ----------
    image : (M, N) ndarray of float32
        Image at the working scale.
    pixel_size_nm : float
        Its pixel edge length in nm.
    smooth_nm : float
        Gaussian denoising sigma in nm.

    Returns
    -------
    smooth : (M, N) ndarray of float32
        ``image`` smoothed with a ``smooth_nm`` Gaussian (``image`` itself when
        that is under a third of a pixel).
    noise : (M, N) ndarray of float32
        :func:`smoothed_noise_map` of ``smooth``.
    """
    sigma_px = smooth_nm / pixel_size_nm
    smooth = cv2.GaussianBlur(image, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT) if sigma_px > 0.3 else image
    return smooth, smoothed_noise_map(smooth, pixel_size_nm=pixel_size_nm, smooth_nm=smooth_nm)


def fallback_annotation_mask(image: np.ndarray) -> np.ndarray:
    """Burnt-in scale bars (plus the label beside them) and data strips.

    Used when ``exo_vision.calibration.scalebar.annotation_mask`` is not
    available. A scale bar is a long, thin, solid run of the image's extreme
    values (black or white); the label is assumed to lie within a quarter of
    the bar's length above or below it. A data strip is a band of rows that is
    mostly at the extreme values.

    Parameters
    ----------
    image : (M, N) ndarray
        The micrograph.

    Returns
    -------
    (M, N) ndarray of bool
        True on annotations (to be excluded from analysis).
    """
    img = np.asarray(image, dtype=np.float32)
    m, n = img.shape
    out = np.zeros((m, n), dtype=bool)
    lo, hi = float(img.min()), float(img.max())
    span = hi - lo
    if span <= 0:
        return out
    for extreme in (img <= lo + 0.03 * span, img >= hi - 0.03 * span):
        count, _, stats, _ = cv2.connectedComponentsWithStats(extreme.astype(np.uint8), connectivity=8)
        for k in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[k])
            length, thick = max(w, h), max(min(w, h), 1)
            if length < 0.03 * max(m, n) or length < 8 * thick or area < 0.6 * w * h:
                continue
            pad_along = max(int(0.25 * length), 6 * thick)
            if w >= h:  # horizontal bar, label above or below
                r0, r1 = y - pad_along, y + h + pad_along
                c0, c1 = x - int(0.05 * length), x + w + max(int(0.1 * n), int(0.05 * length))
            else:
                r0, r1 = y - int(0.05 * length), y + h + int(0.05 * length)
                c0, c1 = x - pad_along, x + w + pad_along
            out[max(r0, 0):min(r1, m), max(c0, 0):min(c1, n)] = True
        rows = extreme.mean(axis=1) > 0.9
        if rows.any():
            out[rows] = True
    return out
