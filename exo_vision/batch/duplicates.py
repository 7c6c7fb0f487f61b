"""Find inputs that are one micrograph stored at another bit depth or value scale.

A camera's 16-bit file and its 8-bit export (``raw // 257``, or ImageJ's conversion of the display range), or
the same field saved as uint8, uint16, int16 and float32, hold pixels whose values are an increasing affine map of
each other (up to the rounding of the coarser one), so their pixel checksums differ. Two steps find them:

1. a cheap **signature** per input (:func:`pixels_signature`): its shape and a 16 x 16 thumbnail (area means)
   of its values scaled by their 1st and 99th percentiles to 0-255. Inputs of the same shape and pixel size whose
   thumbnails correlate (Pearson r >= :data:`SIGNATURE_MIN_CORRELATION`) are candidates;
2. each candidate pair is **confirmed at full resolution** (:func:`affine_match`): the pixel values correlate
   with r >= :data:`MIN_CORRELATION` *and* the least-squares increasing affine map from the finer image's values
   to the coarser one's leaves a root-mean-square residual of at most :data:`MAX_RESIDUAL_STEPS` of the coarser
   image's value step (rounding to whole steps leaves 0.29 step). Pixels at the coarser image's lowest or
   highest value are left out of the fit (an export that clips the display range), as long as at least
   :data:`MIN_UNCLIPPED_FRACTION` of the pixels remain.

Two different micrographs, however alike they look (two fields of one grid, two crops of one field of the same
size, one field shifted by a few pixels), leave residuals of many steps: their noise differs pixel by pixel. A
crop differs in shape and is never a candidate. Maps that are not affine (gamma, an inverted copy, JPEG
compression) are not recognised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

#: Side (pixels) of the thumbnail of :func:`pixels_signature`.
SIGNATURE_SIDE = 16
#: Percentiles of the values that the thumbnail scales to 0 and 255.
SIGNATURE_PERCENTILES = (1.0, 99.0)
#: Pixels sampled at most to find those percentiles (a regular sub-grid).
SIGNATURE_SAMPLE_PIXELS = 1_000_000
#: Correlation of two thumbnails above which their full-resolution pixels are compared.
SIGNATURE_MIN_CORRELATION = 0.9
#: Correlation of the full-resolution pixel values two copies of one micrograph reach at least.
MIN_CORRELATION = 0.99
#: Largest root-mean-square residual of the affine map, in value steps of the coarser image.
MAX_RESIDUAL_STEPS = 0.5
#: Fewest pixels (fraction) strictly inside the coarser image's value range that the fit needs.
MIN_UNCLIPPED_FRACTION = 0.9
#: Pixel sizes closer than this (relative) are the same.
PIXEL_SIZE_RELATIVE_TOLERANCE = 1e-4


def pixels_signature(pixels: np.ndarray) -> str:
    """Shape and percentile-scaled 16 x 16 thumbnail of a 2-D image, as text (``"HxW:<512 hex digits>"``).

    Equal, up to a few levels, for copies whose values are an increasing affine map of each other. Values
    without a number are replaced by the median. An image of one value, or not 2-D, gives ``""``.
    """
    array = np.asarray(pixels)
    if array.ndim != 2 or array.size == 0:
        return ""
    values = array.astype(np.float32, copy=False)
    finite = None if array.dtype.kind in "iub" else np.isfinite(values)  # whole numbers are all finite
    if finite is not None and not finite.all():
        if not finite.any():
            return ""
        values = np.where(finite, values, np.median(values[finite]))
    step = max(1, int(np.sqrt(values.size / SIGNATURE_SAMPLE_PIXELS)))
    low, high = np.percentile(values[::step, ::step], SIGNATURE_PERCENTILES)
    if not high > low:
        return ""
    thumbnail = cv2.resize(values, (SIGNATURE_SIDE, SIGNATURE_SIDE), interpolation=cv2.INTER_AREA)
    scaled = np.clip((thumbnail - low) / (high - low), 0.0, 1.0) * 255.0
    return f"{array.shape[0]}x{array.shape[1]}:" + np.round(scaled).astype(np.uint8).tobytes().hex()


def signatures_alike(a: str, b: str) -> bool:
    """Whether two :func:`pixels_signature` texts are of the same shape with correlated thumbnails (r >=
    :data:`SIGNATURE_MIN_CORRELATION`): a candidate pair for :func:`affine_match`."""
    if not a or not b or a.split(":")[0] != b.split(":")[0]:
        return False
    try:
        x = np.frombuffer(bytes.fromhex(a.split(":")[1]), dtype=np.uint8).astype(float)
        y = np.frombuffer(bytes.fromhex(b.split(":")[1]), dtype=np.uint8).astype(float)
    except (ValueError, IndexError):
        return False
    if x.size != y.size or x.size == 0 or x.std() == 0 or y.std() == 0:
        return False
    return bool(np.corrcoef(x, y)[0, 1] >= SIGNATURE_MIN_CORRELATION)


@dataclass(frozen=True)
class AffineMatch:
    """The full-resolution comparison of two images of the same shape.

    Attributes
    ----------
    same : bool
        Whether they are one micrograph: ``correlation`` >= :data:`MIN_CORRELATION` and ``residual_steps`` <=
        :data:`MAX_RESIDUAL_STEPS`.
    correlation : float
        Pearson correlation of the pixel values (NaN when not comparable).
    residual_steps : float
        RMS residual of the increasing affine map from the finer to the coarser image, in the coarser image's
        value steps (NaN when not comparable).
    """

    same: bool
    correlation: float
    residual_steps: float

    def reason(self) -> str:
        """Why two inputs are one micrograph, for run.json and the report."""
        return (
            "the same pixels at another bit depth or value scale (an increasing affine map of the values, "
            f"r = {self.correlation:.6f}, residual {self.residual_steps:.2f} value step)"
        )


_NOT_COMPARABLE = AffineMatch(False, float("nan"), float("nan"))


def _value_step(values: np.ndarray) -> float:
    """The smallest difference between two distinct values (the rounding step of an integer or exported image)."""
    distinct = np.unique(values)
    if distinct.size < 2:
        return 0.0
    return float(np.min(np.diff(distinct)))


def affine_match(a: np.ndarray, b: np.ndarray) -> AffineMatch:
    """Compare two images pixel by pixel: is one an increasing affine map of the other, up to rounding?

    Parameters
    ----------
    a, b : (H, W) ndarray
        Pixel values of any numeric dtype.

    Returns
    -------
    AffineMatch
        Not the same when the shapes differ, the pixels without a number are not the same, or either image
        holds one value.
    """
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape or x.size == 0:
        return _NOT_COMPARABLE
    x, y = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    finite = np.isfinite(x)
    if not np.array_equal(finite, np.isfinite(y)) or not finite.any():
        return _NOT_COMPARABLE
    x, y = x[finite], y[finite]
    if x.std() == 0 or y.std() == 0:
        return _NOT_COMPARABLE
    correlation = float(np.corrcoef(x, y)[0, 1])
    if not correlation > 0:
        return AffineMatch(False, correlation, float("nan"))
    step_x, step_y = _value_step(x), _value_step(y)
    if step_x / x.std() > step_y / y.std():  # fit the coarser image (larger step for its spread) from the finer
        x, y, step_y = y, x, step_x
    inside = (y > y.min()) & (y < y.max())
    if inside.mean() < MIN_UNCLIPPED_FRACTION or x[inside].std() == 0:
        return AffineMatch(False, correlation, float("nan"))
    slope, intercept = np.polyfit(x[inside], y[inside], 1)
    residual = float(np.sqrt(np.mean((y[inside] - (slope * x[inside] + intercept)) ** 2)))
    steps = residual / step_y if step_y > 0 else (0.0 if residual == 0 else float("inf"))
    same = slope > 0 and correlation >= MIN_CORRELATION and steps <= MAX_RESIDUAL_STEPS
    return AffineMatch(bool(same), correlation, float(steps))


def same_pixel_size(a: Any, b: Any) -> bool:
    """Whether two recorded pixel sizes (nm, or None) are the same."""
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= PIXEL_SIZE_RELATIVE_TOLERANCE * max(abs(float(a)), abs(float(b)))


def rescaled_copies(
    records: Mapping[int, Mapping[str, Any]],
    read: Callable[[int], np.ndarray | None],
    *,
    skip: Callable[[int, int], bool] = lambda i, j: False,
) -> list[tuple[int, int, AffineMatch]]:
    """Pairs of records that are one micrograph at another bit depth or value scale.

    Parameters
    ----------
    records : mapping of int to dict
        Successful run.json image records (with ``pixels_signature`` and ``pixel_size_nm``), by input order.
    read : callable
        Index -> the input's pixels (None when they cannot be read: the pair is not confirmed).
    skip : callable, optional
        (i, j) -> True for a pair already known to be one micrograph (identical bytes or pixels).

    Returns
    -------
    list of (int, int, AffineMatch)
        (earlier index, later index, the confirming comparison) for every confirmed pair.
    """
    order = sorted(records)
    found = []
    for n, i in enumerate(order):
        for j in order[n + 1 :]:
            ri, rj = records[i], records[j]
            if skip(i, j) or not same_pixel_size(ri.get("pixel_size_nm"), rj.get("pixel_size_nm")):
                continue
            if not signatures_alike(str(ri.get("pixels_signature") or ""), str(rj.get("pixels_signature") or "")):
                continue
            a, b = read(i), read(j)
            if a is None or b is None:
                continue
            match = affine_match(a, b)
            if match.same:
                found.append((i, j, match))
    return found
