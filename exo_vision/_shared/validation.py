"""Validation of the inputs every analysis takes: a 2-D grey image, a pixel size in nm, a bounded amount of work.

Each check raises ``ValueError`` naming the value, the problem and the fix. The checks of numbers (and the
limits) import only the standard library, so the parsers of the CLI, which read them, load no scientific
library; the checks of arrays import numpy when called.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Finest pixel accepted, in nm (0.01 Å: below any electron microscope's pixel).
MIN_PIXEL_SIZE_NM = 1e-3
#: Fewest pixels the shorter side may have at the working scale. Below it the
#: image is not shrunk to the working scale, every filter size in pixels grows
#: as 1 / pixel size (a 512 px image at 1e-6 nm/px asked for 1e7 px kernels).
MIN_WORKING_SIDE_PX = 8
#: Most pixels the image may have once at the working scale (work bound).
MAX_WORKING_PIXELS = 64_000_000
#: Fewest pixels an image side may have.
MIN_IMAGE_SIDE_PX = 8
#: Coarsest pixel accepted, in nm (coarser cannot resolve a 30 nm vesicle).
MAX_PIXEL_SIZE_NM = 50.0


#: Grey levels are taken off a wide image's minimum before it becomes float32 when its span is under this
#: fraction of its largest magnitude: float32 keeps 24 bits, so such a span would keep under 2**16 levels.
OFFSET_DOMINATED_SPAN = 2.0**-8


def to_float32(image: np.ndarray) -> np.ndarray:
    """``image`` as float32 without losing its detail to a large offset (shape kept; NaN/inf kept).

    A float64 or wide-integer image whose grey range is small beside its values (a detector's offset, a
    pipeline that adds one) would keep only a few levels in float32; such an image has its minimum taken
    off in float64 first. Segmentation reads only grey-level differences, so nothing else changes.
    """
    import numpy as np

    arr = np.asarray(image)
    if arr.dtype.itemsize <= 2 or arr.dtype == np.float32 or arr.dtype.kind not in "uif" or arr.size == 0:
        return arr.astype(np.float32, copy=False)
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    if finite.size == 0:
        return arr.astype(np.float32, copy=False)
    lo, hi = float(finite.min()), float(finite.max())
    magnitude = max(abs(lo), abs(hi))
    if magnitude > 0 and (hi - lo) < OFFSET_DOMINATED_SPAN * magnitude:
        return (arr.astype(np.float64) - lo).astype(np.float32)
    return arr.astype(np.float32, copy=False)


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
    import numpy as np

    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(
            f"`image` must be a 2-D grey-level array, got shape {arr.shape}; "
            "convert RGB to grey or pick one frame of a stack first"
        )
    if arr.size == 0 or min(arr.shape) < MIN_IMAGE_SIDE_PX:
        raise ValueError(
            f"`image` is too small to analyse (shape {arr.shape}); "
            f"it needs at least {MIN_IMAGE_SIDE_PX}x{MIN_IMAGE_SIDE_PX} pixels"
        )
    if arr.dtype.kind not in "uif" or arr.dtype == bool:
        raise ValueError(f"`image` must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):  # whole numbers are all finite, in float32 too
        raise ValueError("`image` contains NaN or infinite values; replace them (e.g. with the median) first")
    with np.errstate(over="ignore"):
        out = to_float32(arr)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise ValueError(
            "`image` holds values beyond float32's range (about ±3.4e38); rescale it (e.g. divide by its maximum) first"
        )
    return out


def is_bool(value: Any) -> bool:
    """Whether ``value`` is True or False, numpy's included (checked only once numpy is loaded: before, no value
    can be numpy's), so that checking a setting loads no numpy."""
    numpy = sys.modules.get("numpy")
    return isinstance(value, bool) or (numpy is not None and isinstance(value, numpy.bool_))


def check_pixel_size(pixel_size_nm: float) -> float:
    """Validate a pixel size in nm and return it as float."""
    if is_bool(pixel_size_nm):  # True is 1 to float(), not a pixel size
        raise ValueError(f"`pixel_size_nm` must be a number of nanometres, got {pixel_size_nm!r}")
    try:
        value = float(pixel_size_nm)
    except (TypeError, ValueError):
        raise ValueError(f"`pixel_size_nm` must be a number of nanometres, got {pixel_size_nm!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"`pixel_size_nm` must be a positive number of nanometres, got {pixel_size_nm!r}; "
            "read it from the file, from the scale bar, or pass it explicitly (e.g. 0.8)"
        )
    if value > MAX_PIXEL_SIZE_NM:
        raise ValueError(
            f"`pixel_size_nm` = {value} nm is too coarse to resolve vesicles (30-500 nm); "
            "check the calibration (is it in Angstrom or micrometres?)"
        )
    return value


def check_working_scale(
    shape: tuple[int, ...], *, pixel_size_nm: float, working_scale_nm: float, enlarges: bool = False
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
    enlarges : bool
        Whether an image coarser than the working scale is enlarged to it (the learned method)
        rather than analysed at its own pixel size (the classical one): its working size then
        grows as (pixel size / working scale) squared.

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
    factor = px / working_scale_nm if enlarges else min(px / working_scale_nm, 1.0)
    working_pixels = (m * factor) * (n * factor)
    if working_pixels > MAX_WORKING_PIXELS:
        coarse = (
            f" (its {px:.3g} nm pixels are enlarged {factor:.3g} times: at that pixel size a 30 nm vesicle spans "
            f"{30 / px:.2g} px, too few to measure)"
            if factor > 1
            else ""
        )
        raise ValueError(
            f"the image ({m} x {n} px at {px:.3g} nm/px) is {working_pixels / 1e6:.0f} MP at the "
            f"{working_scale_nm:g} nm working scale{coarse}, more than the {MAX_WORKING_PIXELS / 1e6:.0f} MP "
            "one analysis may take; crop it into tiles or check its pixel size"
        )


def check_diameter_range(min_diameter_nm: float, max_diameter_nm: float) -> tuple[float, float]:
    """The one rule for a vesicle size range: finite, ``0 < min_diameter_nm < max_diameter_nm``.

    Returns
    -------
    (float, float)
        The two limits as floats.

    Raises
    ------
    ValueError
        Naming both values and the rule.
    """
    try:
        low, high = float(min_diameter_nm), float(max_diameter_nm)
    except (TypeError, ValueError):
        raise ValueError(
            f"min_diameter_nm and max_diameter_nm must be numbers of nm, got {min_diameter_nm!r} and "
            f"{max_diameter_nm!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise ValueError(f"need 0 < min_diameter_nm < max_diameter_nm, got {min_diameter_nm!r} and {max_diameter_nm!r}")
    return low, high
