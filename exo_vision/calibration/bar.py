"""Finding and measuring a burnt-in scale bar: a long, thin, uniform dark or light horizontal component.

The bar's length is measured to sub-pixel precision from the edge profiles at
both ends (:func:`measure_bar_length`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from exo_vision._shared.validation import to_float32

#: A half-open pixel box ``(row0, col0, row1, col1)``.
Box = tuple[int, int, int, int]
#: Indices of a Box's sides: first row, first column, end row, end column.
TOP = 0
LEFT = 1
BOTTOM = 2
RIGHT = 3

#: A colour image is (rows, columns, channels) with the channels of RGB or RGBA; the colour channels
#: are the first RGB_CHANNELS.
COLOUR_NDIM = 3
COLOUR_CHANNEL_COUNTS = (3, 4)
RGB_CHANNELS = 3
#: Smallest image side that can hold a scale bar and its label, px.
MIN_IMAGE_SIDE_PX = 32
#: The image's median is read on every k-th row and column, k chosen to leave about this many.
MEDIAN_SAMPLE_SIDE = 256
#: A bar is at least this fraction of the image width long ...
BAR_MIN_LENGTH_FRACTION = 0.02
#: ... and at least this many px ...
BAR_MIN_LENGTH_PX = 12
#: ... and at most this fraction of the width (longer runs are frame lines or strip edges).
BAR_MAX_LENGTH_FRACTION = 0.7
#: A polarity is searched only when its brightest level stands this fraction of the intensity range
#: above the image's median (else nothing in it stands out).
MIN_EXTREME_CONTRAST = 0.2
#: Bar-coloured pixels are within this fraction of the way from the extreme level to the median.
BAR_THRESHOLD_FRACTION = 0.4
#: More candidate run rows than this are texture, not a bar (the search is skipped).
MAX_RUN_ROWS = 200_000
#: A bar is at least this many times as long as it is thick.
MIN_LENGTH_PER_THICKNESS = 5
#: At most this fraction of the row just above or below a bar may be bar-coloured (it stands free).
MAX_TOUCHING_FRACTION = 0.15
#: A bar's contrast with its surround is at least this fraction of the intensity range ...
MIN_BAR_CONTRAST = 0.25
#: ... and the spread of its inside (the BAR_SPREAD_PERCENTILES) at most this fraction: it is uniform.
MAX_BAR_SPREAD = 0.25
BAR_SPREAD_PERCENTILES = (10, 90)
#: The end profiles of a bar reach this many px beyond each end (the background read there).
END_PROFILE_PX = 4
#: Columns at least this many px inside the bar's thresholded ends are its interior: fully covered.
#: Coverage is summed fractionally only over the two end transitions (the noise of a JPEG inside a
#: thin, saturated bar can only lower a pixel's coverage, and summed over the whole length it made
#: 3 px bars 1-1.6 % short).
INTERIOR_INSET_PX = 2


@dataclass
class Bar:
    """A scale-bar candidate in the "bar is bright" image ``f``."""

    polarity: Literal["dark", "light"]
    row0: int
    row1: int
    col0: int
    col1: int
    contrast: float
    score: float
    level: float  # bar intensity in the "bar is bright" image
    surround: float  # intensity just above and below the bar, same image

    @property
    def box(self) -> Box:
        return (self.row0, self.col0, self.row1, self.col1)

    @property
    def thickness(self) -> int:
        return self.row1 - self.row0

    @property
    def length(self) -> int:
        return self.col1 - self.col0


def as_gray(image: np.ndarray) -> np.ndarray:
    """Validate and convert to a float32 (M, N) array (RGB(A) -> mean of the colour channels)."""
    array = np.asarray(image)
    if array.ndim == COLOUR_NDIM and array.shape[2] in COLOUR_CHANNEL_COUNTS:
        array = array[..., :RGB_CHANNELS].astype(np.float32).mean(axis=2)
    if array.ndim != 2:
        raise ValueError(
            f"`image` must be a 2-D gray image (M, N) or RGB (M, N, 3), got shape {array.shape}; "
            "pick one frame or channel first"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating) or array.dtype == bool):
        raise ValueError(f"`image` must have a numeric dtype, got {array.dtype}")
    if min(array.shape) < MIN_IMAGE_SIDE_PX:
        raise ValueError(f"`image` (shape {array.shape}) is too small to hold a scale bar (need at least 32x32 px)")
    gray = to_float32(array)
    if array.dtype.kind == "f" and not np.all(np.isfinite(gray)):  # whole numbers and booleans are all finite
        raise ValueError("`image` contains NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    return gray


def rows_with_runs(
    bar_coloured: Callable[..., np.ndarray], height: int, min_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows holding a horizontal run of at least ``min_length`` bar-coloured pixels, and those rows' masks.

    A run that long covers two neighbouring samples of every ``min_length // 2``-th
    column, so only rows where such a pair is bar-coloured are checked in full
    (with a fast erosion in OpenCV); the rest of the image is never thresholded.

    Parameters
    ----------
    bar_coloured : callable
        ``bar_coloured(rows, cols)`` gives the boolean mask of those pixels.
    height : int
        Number of image rows.
    min_length : int
        Shortest run, in pixels (>= 2).

    Returns
    -------
    rows : (K,) ndarray of int
    masks : (K, N) ndarray of uint8
        The bar-coloured mask of each of those rows.
    """
    step = max(min_length // 2, 1)
    sampled = bar_coloured(slice(None), slice(None, None, step))
    candidates = np.flatnonzero((sampled[:, 1:] & sampled[:, :-1]).any(axis=1))
    if candidates.size == 0:
        return candidates, np.zeros((0, 0), np.uint8)
    masks = bar_coloured(candidates).view(np.uint8)
    eroded = cv2.erode(masks, np.ones((1, min_length), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    keep = eroded.max(axis=1) > 0
    return candidates[keep], masks[keep]


def long_runs(mask: np.ndarray, min_length: int, max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, starts and (exclusive) ends of horizontal runs of True with length in range."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)
    lengths = ends - starts
    keep = (lengths >= min_length) & (lengths <= max_length)
    return rows[keep], starts[keep], ends[keep]


def group_runs(
    rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, tolerance: int = 2
) -> list[tuple[int, int, int, int]]:
    """Stack runs of consecutive rows with (nearly) the same ends into slabs (row0, row1, col0, col1)."""
    groups: list[list[int]] = []  # [row0, last_row, start, end]
    previous: list[int] = []
    current: list[int] = []
    current_row = -2
    for row, start, end in zip(rows.tolist(), starts.tolist(), ends.tolist()):
        if row != current_row:
            previous = current if row == current_row + 1 else []
            current = []
            current_row = row
        for index in previous:
            group = groups[index]
            _, _, group_start, group_end = group
            if abs(group_start - start) <= tolerance and abs(group_end - end) <= tolerance:
                group[1:] = [row, start, end]
                current.append(index)
                previous.remove(index)
                break
        else:
            groups.append([row, row, start, end])
            current.append(len(groups) - 1)
    return [(first, last + 1, start, end) for first, last, start, end in groups]


class BarBright:
    """The image seen with the bar's colour as bright: ``gray`` or ``flip - gray``, computed per slice."""

    def __init__(self, gray: np.ndarray, flip: float | None) -> None:
        self.gray = gray
        self.flip = flip
        self.shape = gray.shape

    def __getitem__(self, index) -> np.ndarray:
        part = self.gray[index]
        return part if self.flip is None else self.flip - part

    def floor(self) -> float:
        return float(self.gray.min()) if self.flip is None else self.flip - float(self.gray.max())


def bar_candidates(gray: np.ndarray) -> list[tuple[Bar, BarBright, float]]:
    """Find bar-like slabs in both polarities.

    Returns a list of (bar, f, threshold) where ``f`` shows the image with the
    bar bright and ``threshold`` separates bar-coloured pixels in ``f``.
    """
    height, width = gray.shape
    sample = gray[:: max(1, height // MEDIAN_SAMPLE_SIDE), :: max(1, width // MEDIAN_SAMPLE_SIDE)]
    median = float(np.median(sample))
    lo, hi = float(gray.min()), float(gray.max())
    if hi - lo <= 0:
        return []
    min_length = max(BAR_MIN_LENGTH_PX, int(BAR_MIN_LENGTH_FRACTION * width))
    max_length = int(BAR_MAX_LENGTH_FRACTION * width)
    found: list[tuple[Bar, BarBright, float]] = []
    for polarity in ("dark", "light"):
        f = BarBright(gray, lo + hi if polarity == "dark" else None)
        extreme = hi
        level_median = (lo + hi) - median if polarity == "dark" else median
        if extreme - level_median < MIN_EXTREME_CONTRAST * (hi - lo):
            continue
        threshold = extreme - BAR_THRESHOLD_FRACTION * (extreme - level_median)
        cut = (lo + hi) - threshold

        def bar_coloured(
            rows: np.ndarray | slice | int,
            cols: slice = slice(None),
            cut: float = cut,
            polarity: str = polarity,
            threshold: float = threshold,
        ) -> np.ndarray:
            part = gray[rows, cols]
            return (part <= cut) if polarity == "dark" else (part >= threshold)

        run_rows, mask_rows = rows_with_runs(bar_coloured, height, min_length)
        if run_rows.size == 0 or run_rows.size > height // 2:
            continue
        sub_rows, starts, ends = long_runs(mask_rows, min_length, max_length)
        rows = run_rows[sub_rows]
        if rows.size == 0 or rows.size > MAX_RUN_ROWS:
            continue
        for row0, row1, col0, col1 in group_runs(rows, starts, ends):
            thickness = row1 - row0
            length = col1 - col0
            if thickness < 2 or length < MIN_LENGTH_PER_THICKNESS * thickness:
                continue
            # The slab must stand free: almost nothing of its colour touches its top or bottom
            # (end ticks may; the stroke of a "2" or "Z" standing on it may not).
            if row0 > 0 and bar_coloured(row0 - 1, slice(col0, col1)).mean() > MAX_TOUCHING_FRACTION:
                continue
            if row1 < height and bar_coloured(row1, slice(col0, col1)).mean() > MAX_TOUCHING_FRACTION:
                continue
            inner = f[row0 + (thickness > 2) : row1 - (thickness > 2), col0 + 1 : col1 - 1]
            level = float(np.median(inner))
            margin = max(2, thickness)
            above = f[max(row0 - margin, 0) : row0, col0:col1]
            below = f[row1 : row1 + margin, col0:col1]
            ring = np.concatenate([above.ravel(), below.ravel()])
            if ring.size == 0:
                continue
            surround = float(np.median(ring))
            contrast = (level - surround) / (hi - lo)
            low_level, high_level = BAR_SPREAD_PERCENTILES
            spread = float(np.percentile(inner, high_level) - np.percentile(inner, low_level)) / (hi - lo)
            if contrast < MIN_BAR_CONTRAST or spread > MAX_BAR_SPREAD:
                continue
            # A real bar has the same background on both sides; a slab between the bar and the
            # edge of a box behind it (bar on one side, image on the other) does not.
            asymmetry = (
                abs(float(np.median(above)) - float(np.median(below))) / (hi - lo) if above.size and below.size else 0.0
            )
            edge_distance = min(row0, height - row1) / height
            score = contrast * (1.0 - asymmetry) * (1.0 - edge_distance) * np.sqrt(length / width)
            bar = Bar(polarity, row0, row1, col0, col1, contrast, float(score), level, surround)
            found.append((bar, f, threshold))
    found.sort(key=lambda item: -item[0].score)
    return found


def measure_bar_length(f: BarBright, bar: Bar) -> float:
    """Sub-pixel bar length (px): the interior counted whole, plus the fractional coverage of both ends.

    Columns ``INTERIOR_INSET_PX`` or more inside the thresholded ends count 1 px each; over the two end
    transitions (out to ``END_PROFILE_PX`` beyond the ends) each column counts its coverage, the profile
    scaled between the background read beyond that end (0) and the bar's median level (1), clipped to 0..1.
    """
    width = f.shape[1]
    rows = slice(bar.row0 + (bar.thickness > 2), bar.row1 - (bar.thickness > 2))
    lo = max(bar.col0 - END_PROFILE_PX, 0)
    hi = min(bar.col1 + END_PROFILE_PX, width)
    profile = f[rows, lo:hi].mean(axis=0)
    first, last = bar.col0 - lo + INTERIOR_INSET_PX, bar.col1 - lo - INTERIOR_INSET_PX
    inside = profile[first:last]
    level = float(np.median(inside)) if inside.size else float(profile.max())
    left_out = profile[max(bar.col0 - lo - END_PROFILE_PX, 0) : max(bar.col0 - lo - 1, 1)]
    right_out = profile[bar.col1 - lo + 1 : bar.col1 - lo + END_PROFILE_PX]
    if inside.size:
        ends, length = (profile[:first], profile[last:]), float(last - first)
    else:  # too short to have an interior: every column by its coverage
        middle = (bar.col0 + bar.col1) // 2 - lo
        ends, length = (profile[:middle], profile[middle:]), 0.0
    for part, outside in zip(ends, (left_out, right_out)):
        background = float(np.median(outside)) if outside.size else f.floor()
        span = level - background
        if span <= 0:
            return float(bar.length)
        length += float(np.clip((part - background) / span, 0.0, 1.0).sum())
    return length


def overlaps(a: Box, b: Box) -> bool:
    a_top, a_left, a_bottom, a_right = a
    b_top, b_left, b_bottom, b_right = b
    return min(a_bottom, b_bottom) > max(a_top, b_top) and min(a_right, b_right) > max(a_left, b_left)
