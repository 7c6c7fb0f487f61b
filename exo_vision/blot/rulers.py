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

from exo_vision._shared.order_stats import median_along, percentile_of
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
    # a run of L equal pixels holds L - 1 equal neighbour pairs: rows with fewer hold no line (most rows of a
    # noisy membrane; the runs of the few left are read one row at a time)
    equal_pairs = np.count_nonzero(data[:, 1:] == data[:, :-1], axis=1)
    for r in np.flatnonzero(equal_pairs >= min_run - 1):
        start, length, value = _longest_equal_run(data[r])
        if length >= min_run and (saturation_level is None or value != saturation_level):
            levels.setdefault(value, []).append((int(r), start, length))
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


#: A figure's frame line is looked for within this fraction of the image's height (rows) or width (columns) of
#: each edge (at least MIN_FRAME_DEPTH_PX) ...
FRAME_DEPTH_FRACTION = 0.03
MIN_FRAME_DEPTH_PX = 4
#: ... it stands out from the membrane just inside it by at least this share of the image's signal range ...
FRAME_MIN_CONTRAST_SHARE = 0.5
#: ... along at least this fraction of its length ...
FRAME_MIN_LENGTH_FRACTION = 0.9
#: ... and the membrane inside is read on this many lines past the search depth.
FRAME_INSIDE_LINES = 8
#: The image's signal range runs between these percentiles.
FRAME_RANGE_PERCENTILES = (0.1, 99.9)
#: The four edges, as (name, axis of their lines, from the far end).
EDGES = (("top", 0, False), ("bottom", 0, True), ("left", 1, False), ("right", 1, True))


def frame_line_mask(signal: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """A figure's frame line along the image's edges, and what lies outside it.

    A figure crop can keep the thin frame a figure draws around a panel: a straight line, black (or white), along
    an edge just inside the image. Read as membrane, it is an edge the membrane's tilt and the lanes' slant are
    fitted to, and a bright line across every lane. Within :data:`FRAME_DEPTH_FRACTION` of each edge, a row
    (top, bottom) or column (left, right) is a frame line when, along at least
    :data:`FRAME_MIN_LENGTH_FRACTION` of it, it differs from the membrane just inside (the median of the next
    :data:`FRAME_INSIDE_LINES` lines) by at least :data:`FRAME_MIN_CONTRAST_SHARE` of the image's signal range
    (a band row has gaps between its lanes; a dark margin off the membrane differs from it by far less than a
    band). The frame line, what lies between it and the edge, and :data:`MASK_MARGIN_PX` more lines (its
    anti-aliased side) are masked.

    Parameters
    ----------
    signal : (M, N) ndarray
        Blot in signal orientation.

    Returns
    -------
    mask : (M, N) ndarray of bool
    found : list of str
        For each edge with a frame line, e.g. ``"top (rows 0-4)"``.
    """
    data = np.asarray(signal)
    mask = np.zeros(data.shape, bool)
    if data.ndim != 2 or min(data.shape) < 2 * MIN_FRAME_DEPTH_PX + FRAME_INSIDE_LINES:
        return mask, []
    lo, hi = percentile_of(data, FRAME_RANGE_PERCENTILES)  # read in float64
    if hi <= lo:
        return mask, []
    found = []
    for name, axis, far in EDGES:
        lines = data if axis == 0 else data.T
        if far:
            lines = lines[::-1]
        depth = max(MIN_FRAME_DEPTH_PX, int(FRAME_DEPTH_FRACTION * lines.shape[0]))
        # the edge's lines in float64 (only these few are read)
        inside = median_along(np.asarray(lines[depth : depth + FRAME_INSIDE_LINES], dtype=np.float64), 0)
        edge = np.asarray(lines[:depth], dtype=np.float64)
        away = np.abs(edge - inside[None, :]) >= FRAME_MIN_CONTRAST_SHARE * (hi - lo)
        hits = np.flatnonzero(away.mean(axis=1) >= FRAME_MIN_LENGTH_FRACTION)
        if hits.size == 0:
            continue
        last = min(int(hits.max()) + 1 + MASK_MARGIN_PX, depth)
        kind = "rows" if axis == 0 else "columns"
        span = (lines.shape[0] - last, lines.shape[0] - 1) if far else (0, last - 1)
        found.append(f"{name} ({kind} {span[0]}-{span[1]})")
        index = slice(span[0], span[1] + 1)
        if axis == 0:
            mask[index, :] = True
        else:
            mask[:, index] = True
    return mask, found
