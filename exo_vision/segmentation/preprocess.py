"""Preprocessing of TEM micrographs in physical units.

Everything here works at a fixed working scale in nm per pixel, so that filter
sizes mean the same thing at any acquisition pixel size:

- :func:`resample_to_scale` shrinks the image to the working scale;
- :func:`estimate_background` finds the slowly varying stain level
  (thickness gradients, stain pools) with a median filter far larger than a
  vesicle;
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


def estimate_background(
    image: np.ndarray, *, pixel_size_nm: float, window_nm: float = 900.0, coarse_scale_nm: float = 16.0
) -> np.ndarray:
    """Slowly varying stain level: a median far wider than any vesicle.

    Parameters
    ----------
    image : (M, N) ndarray of float32
    pixel_size_nm : float
        Pixel edge length of ``image`` in nm.
    window_nm : float
        Side of the median window in nm; objects much smaller than this
        (vesicles up to ~500 nm) do not move it.
    coarse_scale_nm : float
        The median runs on a copy shrunk to this pixel size (for speed).

    Returns
    -------
    (M, N) ndarray of float32
        Background estimate at the input's resolution.
    """
    m, n = image.shape
    factor = min(pixel_size_nm / coarse_scale_nm, 1.0)
    cm, cn = max(int(round(m * factor)), 3), max(int(round(n * factor)), 3)
    coarse = cv2.resize(image, (cn, cm), interpolation=cv2.INTER_AREA) if factor < 1 else image.copy()
    lo, hi = np.percentile(coarse, [0.5, 99.5])
    span = max(float(hi - lo), 1e-6)
    as_u8 = np.clip((coarse - lo) / span * 255.0, 0, 255).astype(np.uint8)
    cell_nm = pixel_size_nm / factor
    k = int(round(window_nm / cell_nm)) | 1
    k = max(min(k, (min(cm, cn) // 2) * 2 - 1), 3)
    med = cv2.medianBlur(as_u8, k).astype(np.float32) * (span / 255.0) + lo
    med = cv2.GaussianBlur(med, (0, 0), max(k / 6.0, 1.0), borderType=cv2.BORDER_REFLECT)
    if med.shape != (m, n):
        med = cv2.resize(med, (n, m), interpolation=cv2.INTER_LINEAR)
    return med


def robust_std(values: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation (outlier-proof)."""
    v = np.asarray(values, dtype=np.float32).ravel()
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


def normalised_contrast(
    image: np.ndarray, *, pixel_size_nm: float, smooth_nm: float = 3.0, noise_window_nm: float = 300.0
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
    noise_window_nm : float
        Side of the window over which local noise is measured, in nm.

    Returns
    -------
    z : (M, N) ndarray of float32
        ``(smoothed - background) / local noise of smoothed``: 0 on bare stain,
        positive where lighter, negative where darker.
    background : (M, N) ndarray of float32
        The background that was subtracted.
    """
    background = estimate_background(image, pixel_size_nm=pixel_size_nm)
    sigma_px = smooth_nm / pixel_size_nm
    smooth = cv2.GaussianBlur(image, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT) if sigma_px > 0.3 else image
    # Local pixel noise map from the fine residual, then the global ratio that
    # converts it into noise of the smoothed image.
    fine = image - cv2.GaussianBlur(image, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    win = max(int(round(noise_window_nm / pixel_size_nm)), 5)
    local_var = cv2.blur(fine * fine, (win, win), borderType=cv2.BORDER_REFLECT)
    # Medians are robust to the vesicles themselves.
    fine_std = robust_std(fine[::2, ::2])
    flat = smooth - background
    smooth_std = robust_std(flat[::2, ::2])
    local_fine = np.sqrt(np.maximum(local_var, 1e-12))
    ratio = smooth_std / max(fine_std, 1e-12)
    # A local rms is inflated by edges; tie its median to the robust global value.
    scale = fine_std / max(float(np.median(local_fine)), 1e-12)
    noise = np.maximum(local_fine * scale * ratio, 1e-6 + 0.25 * smooth_std)
    return (flat / noise).astype(np.float32), background


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
