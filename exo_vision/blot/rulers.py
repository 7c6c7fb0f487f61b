"""Rulers and lines drawn into a blot image by software: one exact grey level across much of its width.

An imager's or an editor's ruler (a bar with tick marks), a frame line or an underline is drawn at one
value, so its pixels are exactly equal along a row, which a membrane's noise never is. Left in, a ruler across
the membrane became a row of "present" bands and, its ticks on the lanes' pitch, extra lanes.
:func:`drawn_line_mask` finds such lines and the marks of the same value joined to them, so that they are
replaced by the background like dust and pen writing.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from exo_vision.blot.signal import EIGHT_CONNECTED  # marks touching a line, also at a corner (a ruler's ticks)

#: A drawn line holds one exact value along at least this fraction of the image's width.
MIN_LINE_WIDTH_FRACTION = 0.5
#: ... and is thin: at most this fraction of the image's height (at least MIN_LINE_ROWS rows) holds such runs
#: (a page clipped white, a flat camera floor or a noise-free image holds them on most rows: nothing stands out);
MAX_LINE_ROWS_FRACTION = 0.02
MIN_LINE_ROWS = 3
#: ... and it and its marks cover at most this fraction of the image.
MAX_MARK_AREA_FRACTION = 0.05
#: Pixels this close to a drawn mark are masked with it (its anti-aliased edge).
MASK_MARGIN_PX = 2


def _longest_equal_run(row: np.ndarray) -> tuple[int, int, float]:
    """Start, length and value of the longest run of exactly equal neighbours in ``row``."""
    change = np.flatnonzero(np.diff(row) != 0) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [row.size])))
    k = int(np.argmax(lengths))
    return int(starts[k]), int(lengths[k]), float(row[starts[k]])


def drawn_line_mask(image: np.ndarray, *, saturation_level: float | None = None) -> np.ndarray:
    """Pixels of lines drawn across the image at one exact grey level, with the marks of that level joined
    to them (a ruler's ticks).

    Parameters
    ----------
    image : (M, N) ndarray
        The raw blot image (before any conversion: equal pixels stay equal).
    saturation_level : float, optional
        The level at which the camera clips: a run at it is saturated signal, not a drawn line.

    Returns
    -------
    (M, N) ndarray of bool
    """
    data = np.asarray(image)
    mask = np.zeros(data.shape, bool)
    if data.ndim != 2 or data.shape[1] < 2:
        return mask
    min_run = MIN_LINE_WIDTH_FRACTION * data.shape[1]
    levels: dict[float, list[tuple[int, int, int]]] = {}
    for r in range(data.shape[0]):
        start, length, value = _longest_equal_run(data[r])
        if length >= min_run and (saturation_level is None or value != saturation_level):
            levels.setdefault(value, []).append((r, start, length))
    max_rows = max(MIN_LINE_ROWS, int(MAX_LINE_ROWS_FRACTION * data.shape[0]))
    if sum(len(runs) for runs in levels.values()) > max_rows:
        return mask
    for value, runs in levels.items():
        parts, _ = ndi.label(data == value, structure=EIGHT_CONNECTED)
        marks = np.isin(parts, sorted({int(parts[r, start]) for r, start, _ in runs}))
        if marks.sum() <= MAX_MARK_AREA_FRACTION * data.size:
            mask |= marks
    if mask.any():
        mask = ndi.binary_dilation(mask, iterations=MASK_MARGIN_PX)
    return mask
