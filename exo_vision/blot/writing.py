"""Hand-writing on a blot frame: pen-written numbers and the dashes beside them.

Labs write a ladder's masses and dashes beside the membrane with a marker, and in a merged chemiluminescence
frame the ink can shine as brightly as a band. Strokes a pixel or two thick are removed by the lane finder's
opening; a fine marker at a ChemiDoc's resolution draws 3-6 px, which survive it, and a column of written
labels then reads as a row of narrow lanes, its dashes as bands.

Writing is told from bands by its **vertical strokes**: a band is a horizontal bar (or a smear as wide as its
lane), and nothing on a membrane is a thin vertical line a few times as tall as it is wide, as the strokes of
written digits are. A small group of bright pixels holding enough such strokes is a written label; a thin bright
bar at a label's rows, just beside it, is its dash. Both are masked, and the signal there is replaced by the
background around them (:func:`exo_vision.blot.signal.remove_dust`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from exo_vision.blot.lanes.geometry import Lane
from exo_vision.blot.signal import image_spread, pixel_noise_sd

#: Stroke sizes scale with the frame: a vertical stroke is at least this fraction of the frame's height
#: tall (and at least MIN_STROKE_LENGTH_PX: the upright part of a digit between its bars) ...
STROKE_LENGTH_FRACTION = 0.004
MIN_STROKE_LENGTH_PX = 5
#: ... and at most this fraction wide (at least MIN_STROKE_WIDTH_PX): a lane is much wider.
STROKE_WIDTH_FRACTION = 0.01
MIN_STROKE_WIDTH_PX = 8
#: A written label is at least this many stroke lengths tall, and at most this fraction of the frame's height
#: tall and of its width wide.
MIN_LABEL_HEIGHT_STROKES = 2
MAX_LABEL_HEIGHT_FRACTION = 0.1
MAX_LABEL_WIDTH_FRACTION = 0.25
#: A label has at least this fraction of its pixels in vertical strokes (digits: 0.3-1; a band with a
#: scratch across it: under 0.1).
MIN_STROKE_PIXEL_FRACTION = 0.2
#: A label is at least this many of its pen widths tall: written strokes are thin lines, while the pieces of a
#: band broken by transfer bubbles are stubby blocks as thick as the band (1-2 of their widths tall).
MIN_LABEL_HEIGHT_PENS = 2.5
#: Ink stands this fraction of the frame's spread (its 99.9th percentile less its median) above the local background
#: (a pen's ink shines like a band; faint writing does not disturb lane finding).
INK_SPREAD_FRACTION = 0.2
#: ... and at least this many pixel-noise SDs.
INK_NOISE_SDS = 10.0
#: A glyph or dash lies at a label's rows, at most this many label heights to its side ...
DASH_REACH_LABEL_HEIGHTS = 2.0
#: ... is at most this many of the label's pen widths tall (a bar drawn with the same pen) ...
DASH_MAX_HEIGHT_STROKES = 2.0
#: ... and at most this many label heights long; a glyph (another digit of the label, whatever its strokes) is
#: within this range of the label's height and at most this many of its heights wide.
DASH_MAX_LENGTH_LABEL_HEIGHTS = 3.0
GLYPH_HEIGHT_RANGE = (0.5, 1.5)
GLYPH_MAX_WIDTH_HEIGHTS = 1.5
#: A label's rim is read on the ring from this many to this many pixels outside its ink (past the ink's soft edge) ...
RIM_RING_PX = (2, 4)
#: ... and lies under this fraction of the ink's median height above the background (a pen's line steps down to
#: the membrane; the top of a smooth band cut at the ink threshold does not).
MAX_RIM_FRACTION = 0.5
#: Glyphs and dashes found beside a label extend it this many times (a word, then its dash).
MAX_CHAIN_STEPS = 3
#: The background under the ink is read on a copy of about this many rows ...
BACKGROUND_ROWS = 300
#: ... and the frame's spread (:func:`exo_vision.blot.signal.image_spread`) on a subsample of about this many
#: pixels.
SPREAD_SAMPLE_PIXELS = 250_000
#: Ink pixels touching at a corner are one component (a pen stroke drawn at a slant).
CONNECTIVITY = 8
#: The mask is widened by this many pixels (the ink's soft edge).
MASK_MARGIN_PX = 2


def _stroke_sizes(shape: tuple[int, int]) -> tuple[int, int]:
    """Shortest vertical stroke and widest stroke (px) looked for in a frame of ``shape``."""
    length = max(MIN_STROKE_LENGTH_PX, round(STROKE_LENGTH_FRACTION * shape[0]))
    width = max(MIN_STROKE_WIDTH_PX, round(STROKE_WIDTH_FRACTION * shape[0]))
    return length, width


def _ink(signal: np.ndarray, noise_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Bright pixels: far above an opening as large as the largest label; and each pixel's height above that opening.

    A band shorter than that is ink too, so a band's rim is never a lone stroke. The opening runs on a copy
    reduced to about :data:`BACKGROUND_ROWS` rows (it only sets the background, which is smooth at that
    scale) and is enlarged back.
    """
    h, w = signal.shape
    k = max(1, h // BACKGROUND_ROWS)
    small = cv2.resize(signal, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    size = 2 * (round(MAX_LABEL_HEIGHT_FRACTION * small.shape[0]) // 2) + 1
    background = cv2.morphologyEx(small, cv2.MORPH_OPEN, np.ones((size, size), np.uint8))
    background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    step = max(1, int(np.sqrt(signal.size / SPREAD_SAMPLE_PIXELS)))
    threshold = max(INK_SPREAD_FRACTION * image_spread(signal[::step, ::step]), INK_NOISE_SDS * noise_sd)
    excess = signal - background
    return excess > threshold, excess


def _vertical_strokes(ink: np.ndarray, length: int, width: int) -> np.ndarray:
    """Ink whose rows are narrow (horizontal runs of at most ``width``) for at least ``length`` rows on end.

    The caps of a round blob are narrow for a row or two only, and a band's rows are wide: neither is a stroke.
    """
    ink8 = ink.view(np.uint8)
    wide = cv2.morphologyEx(ink8, cv2.MORPH_OPEN, np.ones((1, width + 1), np.uint8))
    narrow = (ink8 > 0) & (wide == 0)
    return cv2.morphologyEx(narrow.view(np.uint8), cv2.MORPH_OPEN, np.ones((length, 1), np.uint8)) > 0


def _pen_width(labels: np.ndarray, stats: np.ndarray, i: int) -> float:
    """The pen's stroke width (px) in label ``i``: twice its deepest pixel's distance to the background."""
    x, y = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
    w, h = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
    crop = np.pad((labels[y : y + h, x : x + w] == i).view(np.uint8), 1)
    return 2.0 * float(cv2.distanceTransform(crop, cv2.DIST_L2, cv2.DIST_MASK_3).max())


def _beside(stats: np.ndarray, i: int, pen_px: float) -> np.ndarray:
    """Components that are written with label ``i``: at its rows and to its side, shaped as a glyph or a dash."""
    tops, lefts = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_LEFT]
    h_px, w_px = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]
    reach = DASH_REACH_LABEL_HEIGHTS * h_px[i]
    glyph = (h_px >= GLYPH_HEIGHT_RANGE[0] * h_px[i]) & (h_px <= GLYPH_HEIGHT_RANGE[1] * h_px[i])
    glyph &= w_px <= GLYPH_MAX_WIDTH_HEIGHTS * h_px[i]
    dash = (h_px <= DASH_MAX_HEIGHT_STROKES * pen_px) & (w_px <= DASH_MAX_LENGTH_LABEL_HEIGHTS * h_px[i])
    return (
        (glyph | dash)
        & (tops < tops[i] + h_px[i])
        & (tops + h_px > tops[i])
        & (lefts < lefts[i] + w_px[i] + reach)
        & (lefts + w_px > lefts[i] - reach)
    )


def _steps_down(labels: np.ndarray, stats: np.ndarray, i: int, ink: np.ndarray, excess: np.ndarray) -> bool:
    """Whether component ``i`` is ink with an edge: the membrane a little way outside it lies far below its ink.

    A pen draws a line of ink on the membrane, so a few pixels beside a stroke the signal is back at the
    background. The top of a broad, smooth band (a smear on a blotchy membrane) also rises above the ink
    threshold, and its noisy rim can hold narrow runs that read as strokes; but just outside that rim the band
    is still almost as high. The ring :data:`RIM_RING_PX` pixels outside the component (other ink left out) must
    lie under :data:`MAX_RIM_FRACTION` of the component's median height above the background.
    """
    x, y = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
    w, h = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
    r_in, r_out = RIM_RING_PX
    y0, y1 = max(y - r_out, 0), min(y + h + r_out, labels.shape[0])
    x0, x1 = max(x - r_out, 0), min(x + w + r_out, labels.shape[1])
    own = (labels[y0:y1, x0:x1] == i).view(np.uint8)
    near = cv2.dilate(own, np.ones((2 * r_in + 1, 2 * r_in + 1), np.uint8)) > 0
    far = cv2.dilate(own, np.ones((2 * r_out + 1, 2 * r_out + 1), np.uint8)) > 0
    ring = far & ~near & ~ink[y0:y1, x0:x1]
    if not ring.any():
        return True
    height = float(np.median(excess[y0:y1, x0:x1][own > 0]))
    return float(np.median(excess[y0:y1, x0:x1][ring])) < MAX_RIM_FRACTION * height


def _band_pieces(labels: np.ndarray, stats: np.ndarray, is_label: np.ndarray) -> np.ndarray:
    """Labels that are pieces of a band cut by transfer bubbles rather than writing.

    A band's pieces lie side by side at the same rows and are about as tall as each other; some are blocks too
    thick for a pen's stroke (under :data:`MIN_LABEL_HEIGHT_PENS` of their widths tall), others thin slivers
    between two holes, which read as strokes. A label at the rows of a block, within its own height to its side,
    and a label beside such a label in turn (up to :data:`MAX_CHAIN_STEPS` times), is such a piece. Written
    glyphs beside each other are all thin strokes, and a dash is no taller than two pen widths.
    """
    n = len(stats)
    tops, lefts = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_LEFT]
    h_px, w_px = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]
    pieces = np.zeros(n, bool)
    candidates = np.flatnonzero(is_label).tolist()

    def beside(i: int) -> np.ndarray:
        near = (
            (h_px >= GLYPH_HEIGHT_RANGE[0] * h_px[i])
            & (h_px <= GLYPH_HEIGHT_RANGE[1] * h_px[i])
            & (tops < tops[i] + h_px[i])
            & (tops + h_px > tops[i])
            & (lefts < lefts[i] + w_px[i] + h_px[i])
            & (lefts + w_px > lefts[i] - h_px[i])
        )
        near[0] = near[i] = False
        return near

    blocks = np.zeros(n, bool)
    for i in candidates:
        for j in np.flatnonzero(beside(i) & ~is_label).tolist():
            blocks[j] = blocks[j] or h_px[j] < MIN_LABEL_HEIGHT_PENS * _pen_width(labels, stats, j)
    for _ in range(MAX_CHAIN_STEPS):
        found = [i for i in candidates if not pieces[i] and (beside(i) & (blocks | pieces)).any()]
        if not found:
            break
        pieces[found] = True
    return pieces


def writing_mask(signal: np.ndarray, *, noise_sd: float | None = None) -> np.ndarray:
    """Pixels of pen-written labels (numbers, letters) and of the dashes written beside them.

    Parameters
    ----------
    signal : (M, N) ndarray of float32
        Blot in signal orientation (bands and ink positive).
    noise_sd : float, optional
        Pixel noise standard deviation (estimated from the image if omitted).

    Returns
    -------
    (M, N) ndarray of bool
        True on writing (widened by :data:`MASK_MARGIN_PX`); all False on a frame without any.

    Notes
    -----
    A label is a connected group of ink pixels (far above an opening as large as a label) no taller than
    :data:`MAX_LABEL_HEIGHT_FRACTION` of the frame and no wider than :data:`MAX_LABEL_WIDTH_FRACTION`, with at
    least :data:`MIN_STROKE_PIXEL_FRACTION` of its pixels in thin vertical strokes, and at least
    :data:`MIN_LABEL_HEIGHT_PENS` of its pen widths tall (the pieces of a band with bubble holes are too thick for
    their height). Beside a label (within
    :data:`DASH_REACH_LABEL_HEIGHTS` of its heights, overlapping its rows) lie its other glyphs (about as tall,
    :data:`GLYPH_HEIGHT_RANGE`, and no wider than :data:`GLYPH_MAX_WIDTH_HEIGHTS` of its heights) and its dash (at
    most :data:`DASH_MAX_HEIGHT_STROKES` times the label's pen width tall and :data:`DASH_MAX_LENGTH_LABEL_HEIGHTS`
    label heights long); these extend the label in turn, up to :data:`MAX_CHAIN_STEPS` times. Bands are bars and
    smears as wide as a lane, so they hold no such strokes.
    """
    signal = np.ascontiguousarray(signal, dtype=np.float32)
    mask = np.zeros(signal.shape, bool)
    if min(signal.shape) < 2 * MIN_STROKE_LENGTH_PX:
        return mask
    length, width = _stroke_sizes(signal.shape)
    ink, excess = _ink(signal, pixel_noise_sd(signal) if noise_sd is None else noise_sd)
    if not ink.any():
        return mask
    strokes = _vertical_strokes(ink, length, width)
    rows = np.flatnonzero(strokes.any(axis=1))
    if rows.size == 0:
        return mask
    # labels and their dashes lie at the rows of their strokes: look only there (a band running out of this
    # crop is cut, but holds no stroke either way)
    pad = round(MAX_LABEL_HEIGHT_FRACTION * signal.shape[0])
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, signal.shape[0])
    marked_px = _marked_components(ink[r0:r1], strokes[r0:r1], signal.shape, length, excess[r0:r1])
    mask[r0:r1] = marked_px
    if not mask.any():
        return mask
    k = 2 * MASK_MARGIN_PX + 1
    return cv2.dilate(mask.view(np.uint8), np.ones((k, k), np.uint8)).astype(bool)


def _marked_components(
    ink: np.ndarray, strokes: np.ndarray, frame: tuple[int, int], length: int, excess: np.ndarray
) -> np.ndarray:
    """Pixels of the labels in ``ink`` (a band of the frame's rows) and of the glyphs and dashes beside them.

    ``excess`` is each pixel's height above the background; a label must step down from its ink to the background
    (:func:`_steps_down`).
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8), connectivity=CONNECTIVITY)
    stroke_px = np.bincount(labels[strokes], minlength=n)
    area = stats[:, cv2.CC_STAT_AREA]
    h_px, w_px = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]
    is_label = (
        (stroke_px >= MIN_STROKE_PIXEL_FRACTION * area)
        & (h_px <= MAX_LABEL_HEIGHT_FRACTION * frame[0])
        & (w_px <= MAX_LABEL_WIDTH_FRACTION * frame[1])
        & (h_px >= MIN_LABEL_HEIGHT_STROKES * length)
    )
    is_label[0] = False
    for i in np.flatnonzero(is_label).tolist():
        is_label[i] = h_px[i] >= MIN_LABEL_HEIGHT_PENS * _pen_width(labels, stats, i) and _steps_down(
            labels, stats, i, ink, excess
        )
    is_label &= ~_band_pieces(labels, stats, is_label)
    if not is_label.any():
        return np.zeros(ink.shape, bool)
    marked = is_label.copy()
    fresh = is_label.copy()
    for _ in range(MAX_CHAIN_STEPS):  # a label's other glyphs and dash, then theirs (a word and its dash)
        beside = np.zeros_like(marked)
        for i in np.flatnonzero(fresh).tolist():
            beside |= _beside(stats, i, _pen_width(labels, stats, i))
        beside[0] = False
        fresh = beside & ~marked
        if not fresh.any():
            break
        marked |= fresh
    # paint each marked component inside its own box (a handful of small boxes, not a pass over the whole band)
    out = np.zeros(ink.shape, bool)
    for i in np.flatnonzero(marked).tolist():
        x, y = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
        w, h = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
        out[y : y + h, x : x + w] |= labels[y : y + h, x : x + w] == i
    return out


#: A lane is judged over writing by this central fraction of its width (its edges may touch a dash written
#: right beside it).
LANE_CORE_FRACTION = 0.5


def lanes_over_writing(writing: np.ndarray, lanes: Sequence[Lane]) -> list[tuple[Lane, tuple[int, int, int, int]]]:
    """Lanes whose central part holds removed pen writing, and where (first row, last row, first column, last column).

    Labs write ladder masses, lane numbers and marks beside the lanes, on the margin or off the membrane, never
    inside a loaded lane: a lane over writing is a lane set laid one lane aside (onto the marked margin), or a band
    was taken for writing. The central :data:`LANE_CORE_FRACTION` of each lane is read over its own rows.

    Parameters
    ----------
    writing : (M, N) ndarray of bool
        Pen writing removed from the frame (:func:`writing_mask`).
    lanes : sequence of Lane
        The lanes of the run.

    Returns
    -------
    list of (Lane, (int, int, int, int))
        In the order of ``lanes``; empty when no lane holds writing.
    """
    out = []
    h, w = writing.shape
    for lane in lanes:
        rows = np.arange(max(lane.y_top_px, 0), min(lane.y_bottom_px, h))
        if rows.size == 0:
            continue
        cols = lane.columns(rows, fraction=LANE_CORE_FRACTION)
        inside = (cols >= 0) & (cols < w)
        hit = np.zeros(cols.shape, bool)
        hit[inside] = writing[np.broadcast_to(rows[:, None], cols.shape)[inside], cols[inside]]
        if hit.any():
            r, c = np.nonzero(hit)
            out.append((lane, (int(rows[r.min()]), int(rows[r.max()]), int(cols[hit].min()), int(cols[hit].max()))))
    return out
