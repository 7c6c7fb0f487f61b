"""Finding burnt-in annotation regions: instrument data strips and boxes behind scale bars.

These regions hold text and flat colour, not specimen, and must be kept out of
vesicle segmentation and statistics.
"""

from __future__ import annotations

import cv2
import numpy as np

from exo_vision._shared.validation import to_float32

Box = tuple[int, int, int, int]

#: Grey levels of the quantised image rows are compared on (0..255).
N_LEVELS = 256
#: A data strip row has at least this fraction of its pixels in the strip's colour (the rest is text).
STRIP_MIN_FRACTION = 0.6
#: ... within this many of the N_LEVELS levels of the image's range of that colour.
STRIP_TOLERANCE_LEVELS = 4
#: A band taller than this fraction of the image height is not a data strip.
STRIP_MAX_HEIGHT_FRACTION = 0.3
#: A strip is at least this fraction of the image height ...
STRIP_MIN_HEIGHT_FRACTION = 0.015
#: ... and at least this many rows.
STRIP_MIN_ROWS = 6
#: Strip rows are read on every k-th column, k chosen to leave about this many columns.
STRIP_SAMPLE_COLUMNS = 1024
#: Up to this many frame-line rows may lie between the image edge and the strip.
STRIP_MAX_FRAME_ROWS = 3
#: A backing box's colour tolerance, as a fraction of the image's intensity range ...
BACKING_TOLERANCE_FRACTION = 0.08
#: ... and the fraction of its border (then of each new line) in that colour.
BACKING_MIN_FRACTION = 0.85
#: The intensity range never counts as less than this (a flat image).
MIN_INTENSITY_RANGE = 1e-6
#: A backing box grows by at most twice the box's height, and at least this many px.
BACKING_MIN_GROWTH_PX = 8
#: The flood fill of :func:`flat_backing` accepts this fraction of the image's intensity range ...
FLAT_TOLERANCE_FRACTION = 0.02
#: ... and at least this many grey levels on images whose range exceeds FLAT_WIDE_RANGE (8-bit noise).
FLAT_MIN_TOLERANCE = 3.0
FLAT_WIDE_RANGE = 50
#: The ring of seeds around the bar holds about this many points per row.
FLAT_RING_POINTS = 16
#: At least this fraction of the ring must be the backing's colour.
FLAT_MIN_SEED_FRACTION = 0.75
#: The fill must cover this fraction of its bounding box (the bar itself aside) to be a flat backing.
FLAT_MIN_FILL_FRACTION = 0.6
#: cv2.floodFill flags: 4-connected pixels, and the fill value written in the mask's upper byte.
FLOOD_CONNECTIVITY = 4
FLOOD_MASK_VALUE_SHIFT = 8


def _to_uint8_levels(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Quantise to 0..255 over the range ``lo..hi`` (for mode finding)."""
    image = to_float32(image)
    if hi <= lo:
        return np.zeros(image.shape, np.uint8)
    return np.rint((image - lo) * ((N_LEVELS - 1.0) / (hi - lo))).astype(np.uint8)


def _row_uniformity(levels: np.ndarray, tolerance: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the most common level and the fraction of pixels within ``tolerance`` of it."""
    n_rows = levels.shape[0]
    index = (np.arange(n_rows, dtype=np.int64)[:, None] * N_LEVELS + levels).ravel()
    counts = np.bincount(index, minlength=n_rows * N_LEVELS).reshape(n_rows, N_LEVELS)
    modes = counts.argmax(axis=1)
    cumulative = np.concatenate([np.zeros((n_rows, 1), np.int64), counts.cumsum(axis=1)], axis=1)
    lower = np.clip(modes - tolerance, 0, N_LEVELS)
    upper = np.clip(modes + tolerance + 1, 0, N_LEVELS)
    near = cumulative[np.arange(n_rows), upper] - cumulative[np.arange(n_rows), lower]
    return modes, near / levels.shape[1]


class _RowsFromEdge:
    """Per-row mode and uniformity of an image's rows, counted from its top or bottom edge.

    Rows are quantised and measured in blocks, only as far as they are asked
    for: the search for a data strip stops at the first non-uniform row, which
    is usually within a few rows of the edge.
    """

    _BLOCK = 32

    def __init__(self, image: np.ndarray, *, side: str, limit: int, lo: float, hi: float, tolerance: int) -> None:
        self._image, self._side, self._limit = image, side, limit
        self._lo, self._hi, self._tolerance = lo, hi, tolerance
        self._modes: list[int] = []
        self._fractions: list[float] = []

    def _extend_to(self, index: int) -> None:
        height = self._image.shape[0]
        while index >= len(self._fractions):
            k0 = len(self._fractions)
            k1 = min(k0 + self._BLOCK, self._limit)
            block = self._image[height - k1 : height - k0][::-1] if self._side == "bottom" else self._image[k0:k1]
            modes, fractions = _row_uniformity(_to_uint8_levels(block, self._lo, self._hi), self._tolerance)
            self._modes.extend(int(m) for m in modes)
            self._fractions.extend(float(f) for f in fractions)

    def mode(self, index: int) -> int:
        """Most common grey level (0..255) of row ``index`` from the edge."""
        self._extend_to(index)
        return self._modes[index]

    def fraction(self, index: int) -> float:
        """Fraction of row ``index`` within ``tolerance`` levels of its mode."""
        self._extend_to(index)
        return self._fractions[index]


def find_data_strip(
    image: np.ndarray,
    *,
    min_fraction: float = STRIP_MIN_FRACTION,
    tolerance: int = STRIP_TOLERANCE_LEVELS,
    max_height_fraction: float = STRIP_MAX_HEIGHT_FRACTION,
) -> Box | None:
    """Find an instrument data strip along the bottom or top edge.

    A data strip is a full-width band of one flat colour (often with text:
    magnification, voltage, date, scale bar) that touches the image edge.

    Parameters
    ----------
    image : (M, N) ndarray
        Gray image.
    min_fraction : float
        Fraction of each strip row that must have the strip's colour (the rest
        is text).
    tolerance : int
        Colour tolerance on a 0..255 scale of the image's range.
    max_height_fraction : float
        Strips taller than this fraction of the image height are not strips.

    Returns
    -------
    (row0, col0, row1, col1) or None
        Half-open box of the strip, or ``None`` if there is none. Strips lower
        than 1.5 % of the image height (at least 6 rows) are ignored.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"`image` must be 2-D (M, N), got shape {image.shape}")
    height = image.shape[0]
    limit = max(1, int(height * max_height_fraction))
    min_rows = max(STRIP_MIN_ROWS, int(round(STRIP_MIN_HEIGHT_FRACTION * height)))
    step = max(1, image.shape[1] // STRIP_SAMPLE_COLUMNS)
    sub = image[:, ::step]
    lo, hi = float(sub.min()), float(sub.max())
    best: Box | None = None
    for side in ("bottom", "top"):
        row = _RowsFromEdge(sub, side=side, limit=limit, lo=lo, hi=hi, tolerance=tolerance)
        n = 0
        # Allow a couple of border rows (frame lines) before the strip starts.
        start = 0
        while start < min(STRIP_MAX_FRAME_ROWS, limit) and row.fraction(start) < min_fraction:
            start += 1
        colour = row.mode(start) if start < limit else 0
        while (
            start + n < limit
            and row.fraction(start + n) >= min_fraction
            and abs(row.mode(start + n) - int(colour)) <= tolerance
        ):
            n += 1
        if n < min_rows or start + n >= limit:
            continue
        rows = start + n
        box = (height - rows, 0, height, image.shape[1]) if side == "bottom" else (0, 0, rows, image.shape[1])
        if best is None or (box[2] - box[0]) > (best[2] - best[0]):
            best = box
    return best


def grow_backing_box(
    image: np.ndarray,
    box: Box,
    *,
    tolerance_fraction: float = BACKING_TOLERANCE_FRACTION,
    min_fraction: float = BACKING_MIN_FRACTION,
    max_grow_px: int | None = None,
) -> Box:
    """Grow ``box`` over a flat-coloured backing rectangle around it (e.g. a white box behind a scale bar).

    Each side moves outwards while the next line of pixels is mostly (``min_fraction``)
    the colour of the box's own border. Growth stops at the image edge or after
    twice as many pixels as the box is high.

    Parameters
    ----------
    image : (M, N) ndarray
        Gray image.
    box : (row0, col0, row1, col1)
        Half-open starting box (bar plus label).
    tolerance_fraction : float
        Colour tolerance as a fraction of the image's intensity range.
    min_fraction : float
        Fraction of a line that must match the backing colour.
    max_grow_px : int, optional
        Most pixels any side may move.

    Returns
    -------
    (row0, col0, row1, col1)
        The grown box (``box`` itself when there is no flat backing).
    """
    image = to_float32(image)
    height, width = image.shape
    top, left, bottom, right = box
    r0, c0, r1, c1 = (max(top - 1, 0), max(left - 1, 0), min(bottom + 1, height), min(right + 1, width))
    border = np.concatenate([image[r0, c0:c1], image[r1 - 1, c0:c1], image[r0:r1, c0], image[r0:r1, c1 - 1]])
    colour = float(np.median(border))
    tolerance = tolerance_fraction * max(float(image.max() - image.min()), MIN_INTENSITY_RANGE)
    if np.mean(np.abs(border - colour) <= tolerance) < min_fraction:
        return box
    budget = max(BACKING_MIN_GROWTH_PX, 2 * (r1 - r0)) if max_grow_px is None else int(max_grow_px)

    def matches(line: np.ndarray) -> bool:
        return line.size > 0 and float(np.mean(np.abs(line - colour) <= tolerance)) >= min_fraction

    for _ in range(budget):
        moved = False
        if r0 > 0 and matches(image[r0 - 1, c0:c1]):
            r0 -= 1
            moved = True
        if r1 < height and matches(image[r1, c0:c1]):
            r1 += 1
            moved = True
        if c0 > 0 and matches(image[r0:r1, c0 - 1]):
            c0 -= 1
            moved = True
        if c1 < width and matches(image[r0:r1, c1]):
            c1 += 1
            moved = True
        if not moved:
            break
    return (r0, c0, r1, c1)


def flat_backing(image: np.ndarray, bar_box: Box, *, tolerance_fraction: float = FLAT_TOLERANCE_FRACTION) -> Box | None:
    """The flat-coloured region (box or data strip) a scale bar sits on, if any.

    Flood-fills from just above and below the bar over pixels within a tight
    tolerance of the colour there. On a flat backing the fill covers the
    backing around the label's letters; on a noisy micrograph it stays small
    and ragged, and ``None`` is returned.

    Parameters
    ----------
    image : (M, N) ndarray
        Gray image (or a window of it).
    bar_box : (row0, col0, row1, col1)
        Half-open box of the bar, in ``image`` coordinates.
    tolerance_fraction : float
        Colour tolerance as a fraction of the image's intensity range.

    Returns
    -------
    (row0, col0, row1, col1) or None
        Bounding box of the backing (it contains the bar), or ``None``.
    """
    image = np.ascontiguousarray(to_float32(image))
    height, width = image.shape
    r0, c0, r1, c1 = bar_box
    ring = [
        (row, col)
        for row in (r0 - 2, r1 + 1)
        if 0 <= row < height
        for col in range(c0, c1, max(1, (c1 - c0) // FLAT_RING_POINTS))
    ]
    if not ring:
        return None
    values = np.array([image[row, col] for row, col in ring])
    colour = float(np.median(values))
    span = float(image.max() - image.min())
    tolerance = max(tolerance_fraction * span, FLAT_MIN_TOLERANCE if span > FLAT_WIDE_RANGE else 0.0)
    seeds = [p for p, v in zip(ring, values) if abs(v - colour) <= tolerance]
    if len(seeds) < FLAT_MIN_SEED_FRACTION * len(ring):
        return None  # the bar's surroundings are not one flat colour
    mask = np.zeros((height + 2, width + 2), np.uint8)
    flags = FLOOD_CONNECTIVITY | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << FLOOD_MASK_VALUE_SHIFT)
    for row, col in seeds:
        if mask[row + 1, col + 1] == 0:
            cv2.floodFill(image, mask, (int(col), int(row)), 0, tolerance, tolerance, flags)
    region = mask[1:-1, 1:-1] > 0
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    top, left, bottom, right = int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
    area = (bottom - top) * (right - left)
    if region.sum() < FLAT_MIN_FILL_FRACTION * area - (r1 - r0) * (c1 - c0):
        return None  # ragged: noise that happened to connect, not a flat backing
    if not (top <= r0 and left <= c0 and bottom >= r1 and right >= c1):
        return None
    return (top, left, bottom, right)
