"""Lane-finding profiles: the vertical top-hat of a strip, its column profile, and side profiles.

Lanes are found on a strip's background-free copy (a white top-hat along each column, pen marks
removed) and its column profile (how much band signal each column holds); the profiles just beside
each lane give the local background that a band does not reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.order_stats import median_along
from exo_vision._shared.robust import MAD_TO_SD
from exo_vision.blot.background import MIN_SIDE_WIDTH_PX, SIDE_MARGIN_PX, SIDE_SMOOTH_ROWS, SIDE_WIDTH_PX
from exo_vision.blot.constants import BACKGROUND_WINDOW_MAX_FRACTION, BACKGROUND_WINDOW_MIN_ROWS
from exo_vision.blot.lanes.geometry import Lane
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters
from exo_vision.blot.strips import Strip, block_mean

#: The lane finder's background window, in heights (rows at half height) of the strongest band.
LANE_WINDOW_BAND_HEIGHTS = DEFAULT_BLOT_PARAMETERS.lane_window_band_heights

#: Floor of the profile noise, as a fraction of the profile's range (a quantised profile's MAD can be 0) ...
NOISE_FLOOR_OF_RANGE = 1e-4
#: ... and absolute (a constant profile), so the noise is never zero.
NOISE_FLOOR = 1e-9
#: Median filter (px) that takes the one-level scatter out of an 8-bit export before its opening.
QUANTISED_MEDIAN_PX = 3
#: Smoothing of the top-hat (SD in rows, columns).
TOPHAT_SMOOTHING_SD = (2.0, 1.0)
#: Rows of the flat opening that removes pen marks (a stroke is a few rows tall, a lane much taller).
MARK_OPENING_ROWS = 3
#: The strongest band is measured on its column and this many columns each side.
STRONGEST_COLUMNS_HALF = 2
#: The column profile's background is an opening over 1/COLUMN_OPENING_DIVISOR of the strip's width ...
COLUMN_OPENING_DIVISOR = 3
#: ... at least this many columns ...
MIN_COLUMN_OPENING_PX = 5
#: ... then smoothed over half that, at least this many columns.
MIN_COLUMN_SMOOTHING_PX = 3
#: Strips are block-averaged to at most about this many pixels for lane finding (lanes are wide).
MAX_LANE_FINDING_PIXELS = 3e5
#: The quantisation probe samples about this many rows ...
PROBE_ROWS = 32
#: ... and columns of the strip.
PROBE_COLUMNS = 64
#: A strip is quantised (an 8-bit export) when more than this fraction of the probe is whole levels ...
QUANTISED_WHOLE_FRACTION = 0.9
#: ... and its range is below this many levels (a 16-bit scan spans thousands).
QUANTISED_MAX_RANGE = 1024
#: The pen-mark opening is at least this many columns wide.
MIN_MARK_WIDTH_PX = 5


def profile_noise(profile: np.ndarray) -> float:
    diff = np.diff(profile)
    mad = float(MAD_TO_SD * np.median(np.abs(diff - np.median(diff))) / np.sqrt(2.0))
    # quantised (8-bit) profiles can have a zero MAD: keep a floor
    return max(mad, NOISE_FLOOR_OF_RANGE * float(np.ptp(profile)), NOISE_FLOOR)


def tophat_rows(
    block: np.ndarray, *, mark_width_px: int | None = None, quantised: bool = False, size_px: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Remove the slowly varying background along each column (vertical white top-hat).

    Bands are at most about half a strip tall, so an opening along y with a
    window of 70 % of the strip height keeps them and drops the membrane
    background and its blotches; a light smoothing then lowers the noise.

    With ``mark_width_px``, pen marks and specks are dropped first (before the
    smoothing spreads them): a grey opening with a flat box 3 rows tall and
    ``mark_width_px`` columns wide keeps bands (several rows tall, a lane
    wide) and removes pen strokes (written lane numbers, lines: 1-3 px thick)
    and dots narrower than the box.

    With ``quantised`` (whole grey levels, noise below a level), the opening
    runs on a 3 x 3 median of the block: an isolated pixel one level low would
    otherwise set the opening's minimum for every window that holds it, and
    lift whole column stretches by one level in the top-hat (a false faint
    "lane" one level high, and a half-level floor on faint lanes to reject it).

    With ``size_px`` the opening window is that many rows instead (at least
    15, at most 70 % of the strip): see :func:`band_window`.

    Returns
    -------
    th : (R, C) ndarray
        Top-hat, marks removed (when asked) and smoothed.
    th_raw : (R, C) ndarray
        Top-hat smoothed the same way without the mark removal (its noise is
        the true pixel noise; the opening's output is smoother).
    """
    diff = _unsmoothed_tophat(block, quantised=quantised, size_px=size_px)
    raw = ndi.gaussian_filter(diff, sigma=TOPHAT_SMOOTHING_SD)
    if mark_width_px is None:
        return raw, raw
    return _marks_removed(diff, mark_width_px), raw


def _unsmoothed_tophat(block: np.ndarray, *, quantised: bool, size_px: int | None) -> np.ndarray:
    """The block less its opening along columns (see :func:`tophat_rows`), before any smoothing."""
    size = max(BACKGROUND_WINDOW_MIN_ROWS, int(BACKGROUND_WINDOW_MAX_FRACTION * block.shape[0]))
    if size_px is not None:
        size = min(size, max(BACKGROUND_WINDOW_MIN_ROWS, int(size_px)))
    size = min(size, block.shape[0])
    base = ndi.median_filter(block, size=QUANTISED_MEDIAN_PX, mode="nearest") if quantised else block
    return block - flat_opening(base, (size, 1), edge="nearest")


def _marks_removed(diff: np.ndarray, mark_width_px: int) -> np.ndarray:
    """An unsmoothed top-hat with pen marks opened away, then smoothed (see :func:`tophat_rows`)."""
    # outside the block counts as empty (a stroke on the edge row must not be extended by it)
    marks_off = flat_opening(diff, (MARK_OPENING_ROWS, mark_width_px), edge="zero", mirrored=True)
    return ndi.gaussian_filter(marks_off, sigma=TOPHAT_SMOOTHING_SD)


def flat_opening(image: np.ndarray, box: tuple[int, int], *, edge: str, mirrored: bool = False) -> np.ndarray:
    """Grey opening of a 2-D float image by a flat ``box`` (rows, columns): a running minimum, then a maximum.

    The minimum's window spans ``box[i] // 2`` pixels before a pixel and ``box[i] - box[i] // 2 - 1`` after it
    (the placement of :func:`scipy.ndimage.minimum_filter`); the maximum's window is placed the same way, or
    mirrored (``mirrored``, as :func:`scipy.ndimage.grey_opening` places it; the two differ for even sizes). The
    result equals scipy's ``maximum_filter(minimum_filter(image, box), box)`` (or ``grey_opening(image, box)``)
    exactly, since a minimum and a maximum are exact; OpenCV's separable running extrema are several times faster.

    Parameters
    ----------
    image : (R, C) ndarray of float32 or float64
        Finite values.
    box : (int, int)
        Window height and width (px), each at least 1.
    edge : {"nearest", "zero"}
        Outside the image: the nearest edge pixel (scipy's ``mode="nearest"``), or 0 (``mode="constant"``,
        ``cval=0``).
    mirrored : bool
        Place the maximum's window mirrored about the pixel.

    Returns
    -------
    (R, C) ndarray
        Same dtype as ``image``.
    """
    import cv2  # slow to import: keep `exo-vision --help` fast

    if edge not in ("nearest", "zero"):
        raise ValueError(f"flat_opening: edge must be 'nearest' or 'zero', got {edge!r}")
    rows, cols = int(box[0]), int(box[1])
    if rows < 1 or cols < 1:
        raise ValueError(f"flat_opening: the box must be at least 1 x 1 px, got {box}")
    kernel = np.ones((rows, cols), np.uint8)
    if edge == "nearest":
        border: dict = {"borderType": cv2.BORDER_REPLICATE}
    else:
        border = {"borderType": cv2.BORDER_CONSTANT, "borderValue": 0.0}
    # OpenCV's anchor is the kernel element on the pixel: (column, row), default (cols // 2, rows // 2)
    anchor = (cols - 1 - cols // 2, rows - 1 - rows // 2) if mirrored else (cols // 2, rows // 2)
    low = cv2.erode(np.ascontiguousarray(image), kernel, **border)
    return cv2.dilate(low, kernel, anchor=anchor, **border)


def band_window(th: np.ndarray, *, band_heights: float = LANE_WINDOW_BAND_HEIGHTS) -> int | None:
    """Rows of a background window that keeps the strip's bands but not its blotches, from its strongest band.

    The strongest band (the top-hat's maximum, a few columns wide) is measured down its column: the rows
    where it stays above half its height. A window ``band_heights`` times that is taller than
    any sharp band and much shorter than a strongly blotchy background's blotches, which a window of
    70 % of the strip keeps (they then look like lanes, or drown the faint ones). A smear is tall, so its
    window stays long. None when there is no clear band.
    """
    if th.size == 0 or th.max() <= 0:
        return None
    r, c = np.unravel_index(int(np.argmax(th)), th.shape)
    col = th[:, max(0, c - STRONGEST_COLUMNS_HALF) : c + STRONGEST_COLUMNS_HALF + 1].mean(axis=1)
    half = col[r] / 2
    top = r
    while top > 0 and col[top - 1] > half:
        top -= 1
    bottom = r
    while bottom < col.size - 1 and col[bottom + 1] > half:
        bottom += 1
    return int(np.ceil(band_heights * (bottom - top + 1)))


def column_profile(th: np.ndarray, rows: np.ndarray | None = None, *, median: bool = False) -> np.ndarray:
    """Column profile of a top-hat block: the maximum over rows, or the mean (``median``: the median) over the
    given rows."""
    if rows is None:
        prof = th.max(axis=0).astype(np.float64)
    elif median:
        prof = median_along(th[rows], 0).astype(np.float64)
    else:
        prof = th[rows].mean(axis=0, dtype=np.float64)
    size = max(MIN_COLUMN_OPENING_PX, prof.size // COLUMN_OPENING_DIVISOR)
    base = ndi.grey_opening(prof, size=size, mode="nearest")
    base = ndi.uniform_filter1d(base, max(MIN_COLUMN_SMOOTHING_PX, size // 2), mode="nearest")
    return prof - np.minimum(base, prof)


@dataclass
class StripTophat:
    """A strip prepared for lane finding.

    Attributes
    ----------
    factor : int
        Block-averaging factor (the top-hat's pixel is ``factor`` x ``factor`` image pixels).
    quantised : bool
        Whole grey levels with noise below a level (an 8-bit export).
    th, th_raw : (R, C) ndarray
        Top-hat with pen marks removed, and without (see :func:`tophat_rows`).
    min_lane_width : float
        Narrowest lane in top-hat pixels.
    """

    factor: int
    quantised: bool
    th: np.ndarray
    th_raw: np.ndarray
    min_lane_width: float


def strip_tophat(signal: np.ndarray, strip: Strip, params: BlotParameters = DEFAULT_BLOT_PARAMETERS) -> StripTophat:
    """Block-average a strip to at most ~0.3 MP (lanes are wide) and take its top-hat, pen marks removed.

    The background window is first 70 % of the strip, then (when shorter) ``lane_window_band_heights``
    heights of the strip's strongest band (see :func:`band_window`).
    """
    full = signal[strip.slices()]
    f = max(1, int(np.sqrt(full.size / MAX_LANE_FINDING_PIXELS)))
    block = block_mean(full, f) if f > 1 else np.asarray(full, dtype=np.float32)
    min_width = params.min_lane_width_px / f
    probe = full[:: max(1, full.shape[0] // PROBE_ROWS), :: max(1, full.shape[1] // PROBE_COLUMNS)]
    quantised = (
        f == 1
        and float(np.mean(probe == np.round(probe))) > QUANTISED_WHOLE_FRACTION
        and float(np.ptp(probe)) < QUANTISED_MAX_RANGE
    )
    mark = max(MIN_MARK_WIDTH_PX, 2 * int(np.ceil(min_width)) + 1)
    diff = _unsmoothed_tophat(block, quantised=quantised, size_px=None)
    th = _marks_removed(diff, mark)
    window = band_window(th, band_heights=params.lane_window_band_heights)
    if window is not None and window < int(BACKGROUND_WINDOW_MAX_FRACTION * block.shape[0]):
        th, th_raw = tophat_rows(block, mark_width_px=mark, quantised=quantised, size_px=window)
    else:  # the first window stands: its smoothed top-hat without mark removal (only now needed)
        th_raw = ndi.gaussian_filter(diff, sigma=TOPHAT_SMOOTHING_SD)
    return StripTophat(f, quantised, th, th_raw, min_width)


def gap_profiles(
    signal: np.ndarray,
    lanes: Sequence[Lane],
    strip: Strip,
    *,
    margin_px: int = SIDE_MARGIN_PX,
    smooth_rows: float = SIDE_SMOOTH_ROWS,
) -> list[list[np.ndarray] | None]:
    """Mean background profile of the gap on each side of each lane.

    The gap columns run from ``margin_px`` outside a lane's edge to
    ``margin_px`` before the neighbouring lane (or ``2 x margin_px`` wide
    strips at the strip ends); they follow the lane's tilt.

    Parameters
    ----------
    signal : (M, N) ndarray
        Blot in signal orientation (dust removed).
    lanes : sequence of Lane
        Lanes of one strip, left to right.
    strip : Strip
        The strip.
    margin_px : int
        Columns kept clear of each lane edge.
    smooth_rows : float
        Gaussian smoothing of the profile along rows (SD, rows).

    Returns
    -------
    list of (list of (R,) ndarray) or None
        Per lane, one profile per side whose gap is at least 3 px wide (None
        when neither is).
    """
    out: list[list[np.ndarray] | None] = []
    ordered = list(lanes)
    for i, lane in enumerate(ordered):
        rows = np.arange(lane.y_top_px, lane.y_bottom_px)
        centre = lane.centre_x(rows)
        half = lane.width_px / 2
        sides = []
        left_end = (
            ordered[i - 1].centre_x(rows) + ordered[i - 1].width_px / 2
            if i > 0
            else centre - half - 2 * margin_px - SIDE_WIDTH_PX
        )
        right_end = (
            ordered[i + 1].centre_x(rows) - ordered[i + 1].width_px / 2
            if i + 1 < len(ordered)
            else centre + half + 2 * margin_px + SIDE_WIDTH_PX
        )
        for lo, hi in (
            (left_end + margin_px, centre - half - margin_px),
            (centre + half + margin_px, right_end - margin_px),
        ):
            width = int(np.floor(np.min(hi - lo)))
            if width < MIN_SIDE_WIDTH_PX:
                continue
            first = np.ceil(lo).astype(int)
            cols = first[:, None] + np.arange(width)[None, :]
            if cols.min() < max(0, strip.x_left_px) or cols.max() >= min(signal.shape[1], strip.x_right_px):
                continue
            sides.append(signal[rows[:, None], cols].mean(axis=1, dtype=np.float64))
        out.append([ndi.gaussian_filter1d(p, smooth_rows, mode="nearest") for p in sides] or None)
    return out
