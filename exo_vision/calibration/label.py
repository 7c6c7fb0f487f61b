"""Finding the label beside a scale bar and reading it with tesseract (within a budget of runs)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.filters import threshold_otsu

from exo_vision.calibration.annotations import flat_backing
from exo_vision.calibration.bar import BOTTOM, LEFT, RIGHT, TOP, Bar, BarBright, Box, overlaps
from exo_vision.calibration.ocr import (
    LabelValue,
    OcrResult,
    glyph_spans,
    parse_scale_label,
    prepare_label_crop,
    read_number_and_unit_batch,
    run_tesseract_batch,
    shows_decimal_point,
)

logger = logging.getLogger(__name__)

#: How many (bar, label) pairs are sent to tesseract at most.
MAX_OCR_ATTEMPTS = 4
#: Most tesseract runs spent on one image (bounds the time on images with no legible label).
MAX_TESSERACT_CALLS = 8

#: A decimal point counts when it is seen at this many of the label's OCR scalings.
MIN_POINT_SCALINGS = 2
#: Components lower than this (px) are not glyphs; neither is a label box lower than this.
MIN_GLYPH_HEIGHT_PX = 6
#: Components with fewer pixels than this are specks, not glyphs.
MIN_GLYPH_AREA_PX = 4
#: A glyph (or a few touching ones) is never wider than this many times its height (plus 2 px).
MAX_GLYPH_WIDTH_PER_HEIGHT = 3
#: Labels are searched within this many bar lengths of the bar ...
LABEL_REACH_BAR_LENGTHS = 0.6
#: ... or this many bar thicknesses ...
LABEL_REACH_THICKNESSES = 12
#: ... or this fraction of the image's shorter side, whichever is farthest.
LABEL_REACH_IMAGE_FRACTION = 0.06
#: Glyphs whose thin strokes broke at the threshold are rejoined by this vertical dilation.
GLYPH_JOIN_KERNEL = np.ones((3, 1), np.uint8)
#: Pixels touching by a corner are one glyph.
CONNECTIVITY = 8
#: A gap wider than this many line heights splits a line into words.
WORD_GAP_LINE_HEIGHTS = 1.5
#: Pieces of broken glyphs join a word when they lie within this many line heights above or below it ...
PIECE_REACH_LINE_HEIGHTS = 0.6
#: ... and the word stays at most this many line heights tall.
MAX_WORD_LINE_HEIGHTS = 1.4
#: A label box is at least this many times as wide as it is tall ...
MIN_LABEL_WIDTH_PER_HEIGHT = 0.8
#: ... and at most this many bar lengths tall (taller letters belong to something else).
MAX_LABEL_HEIGHT_BAR_LENGTHS = 0.8
#: A label above or below the bar may overhang its ends by at most this many bar lengths.
LABEL_OVERHANG_BAR_LENGTHS = 0.3
#: Distance (px) off the bar's centre counts this much against a label above or below it.
OFF_CENTRE_WEIGHT = 0.1
#: A label is at most this many label heights (plus two bar thicknesses) from the bar.
MAX_DISTANCE_LABEL_HEIGHTS = 2.5
#: The crop read by OCR is padded by this fraction of the label's height (at least 2 px).
LABEL_PAD_FRACTION = 0.15
#: The label is read scaled to these heights (px): a mid size, a small and a large one.
OCR_HEIGHTS_PX = (40, 28, 64)
#: The number/unit split read is tried on labels of at least this many glyphs ...
MIN_SPLIT_GLYPHS = 3
#: ... scaled to this height (px) besides the first of OCR_HEIGHTS_PX.
SPLIT_READ_HEIGHT_PX = 56
#: A label is widened sideways over ink within this many line heights of it ...
SIDEWAYS_REACH_LINE_HEIGHTS = 3
#: ... on the backing found within this margin (px) above and below the bar and label ...
SIDEWAYS_MARGIN_PX = 3
#: ... where a column holds ink when this fraction of the line height (at least 2 px) is inked ...
INKED_COLUMN_FRACTION = 0.15
#: ... across gaps of at most this many line heights (at least 2 px).
MAX_GAP_LINE_HEIGHTS = 0.6
#: A label beside the bar (or its end ticks) stops this many px short of them when widened or cropped
#: (the bar's anti-aliased end column is not ink of the label).
OBSTACLE_CLEARANCE_PX = 2
#: End ticks ("|----|") are strokes joined to the bar within this many bar thicknesses of its ends ...
TICK_ZONE_THICKNESSES = 2
#: ... (at least this many px) ...
MIN_TICK_ZONE_PX = 6
#: ... at both ends, whose tops and bottoms agree within this fraction of their height (at least 2 px)
#: and whose widths agree within TICK_WIDTH_MATCH_PX (a glyph touching one of them makes it wider).
TICK_MATCH_FRACTION = 0.1
TICK_WIDTH_MATCH_PX = 2
#: A line this many px or less above or below a bar, of the other polarity and with the same ends (within
#: OUTLINE_END_THICKNESSES of its own thickness plus 2 px), is the bar's outline, not a rival bar.
OUTLINE_GAP_PX = 2
OUTLINE_END_THICKNESSES = 2
#: Lengths read by OCR are compared rounded to this many decimals (nm).
LENGTH_DECIMALS = 6
#: A lone read is trusted when tesseract's confidence is at least this (and the label is exact and usual).
SURE_OCR_CONFIDENCE = 0.9
#: The confidence of a lone read not sure enough is multiplied by this ...
LONE_READ_FACTOR = 0.8
#: ... and that of a read whose character count differs from the glyphs seen by this.
GLYPH_MISMATCH_FACTOR = 0.9
#: A dissenting read is a rival round value when its label confidence is at least this.
RIVAL_MIN_CONFIDENCE = 0.6
#: Reads that agree give a consensus confidence of this times the cleanest label's confidence when
#: CONSENSUS_MANY_READS or more agree, CONSENSUS_TWO_FACTOR times it when two do.
CONSENSUS_MANY_READS = 3
CONSENSUS_MANY_FACTOR = 0.95
CONSENSUS_TWO_FACTOR = 0.85


class OcrBudget:
    """Counts down the tesseract runs left for one image."""

    def __init__(self, calls: int) -> None:
        self.left = calls

    def take(self, calls: int) -> bool:
        if self.left < calls:
            return False
        self.left -= calls
        return True


def _text_lines(comps: list[Box]) -> list[list[Box]]:
    """Glyph-sized components grouped into text lines by vertical overlap, tallest first.

    A line only takes components at least half as tall as its tallest one.
    """
    lines: list[list[Box]] = []
    for comp in sorted(
        (b for b in comps if b[BOTTOM] - b[TOP] >= MIN_GLYPH_HEIGHT_PX), key=lambda b: -(b[BOTTOM] - b[TOP])
    ):
        comp_height = comp[BOTTOM] - comp[TOP]
        for line in lines:
            top, bottom = min(b[TOP] for b in line), max(b[BOTTOM] for b in line)
            tallest = max(b[BOTTOM] - b[TOP] for b in line)
            overlap = min(bottom, comp[BOTTOM]) - max(top, comp[TOP])
            if overlap >= 0.5 * comp_height and comp_height >= 0.5 * tallest:
                line.append(comp)
                break
        else:
            lines.append([comp])
    return lines


def _with_broken_pieces(box: Box, comps: list[Box], line_height: int) -> Box:
    """``box`` grown over pieces of broken glyphs just above or below the word (e.g. the flag of a thin "5")."""
    for piece in comps:
        middle = (piece[LEFT] + piece[RIGHT]) / 2
        if (
            box[LEFT] <= middle < box[RIGHT]
            and piece[BOTTOM] - piece[TOP] <= line_height
            and piece[RIGHT] - piece[LEFT] <= line_height
            and box[TOP] - PIECE_REACH_LINE_HEIGHTS * line_height <= piece[TOP]
            and piece[BOTTOM] <= box[BOTTOM] + PIECE_REACH_LINE_HEIGHTS * line_height
            and (piece[BOTTOM] >= box[TOP] - 2 and piece[TOP] <= box[BOTTOM] + 2)  # touching, not a speck nearby
            and max(box[BOTTOM], piece[BOTTOM]) - min(box[TOP], piece[TOP]) <= MAX_WORD_LINE_HEIGHTS * line_height
        ):
            box = (min(box[TOP], piece[TOP]), box[LEFT], max(box[BOTTOM], piece[BOTTOM]), box[RIGHT])
    return box


def _distance_to_bar(box: Box, bar: Bar) -> float | None:
    """How far a label box lies from the bar (px; off-centre counts a little above and below), None when misplaced.

    A label lies above, below, right or left of the bar; above or below it overhangs the bar's ends by
    at most LABEL_OVERHANG_BAR_LENGTHS.
    """
    centre = (bar.col0 + bar.col1) / 2
    overhang = LABEL_OVERHANG_BAR_LENGTHS * bar.length
    if box[BOTTOM] <= bar.row0 or box[TOP] >= bar.row1:  # above or below
        if box[RIGHT] < bar.col0 - overhang or box[LEFT] > bar.col1 + overhang:
            return None
        gap = bar.row0 - box[BOTTOM] if box[BOTTOM] <= bar.row0 else box[TOP] - bar.row1
        return gap + OFF_CENTRE_WEIGHT * abs((box[LEFT] + box[RIGHT]) / 2 - centre)
    if box[LEFT] >= bar.col1:  # right of the bar, same height
        return box[LEFT] - bar.col1
    if box[RIGHT] <= bar.col0:  # left of the bar
        return bar.col0 - box[RIGHT]
    return None


def _nearer(box: Box, bar: Bar, distance: float) -> bool:
    """Whether ``box`` lies where a label of ``bar`` may lie, nearer it than ``distance`` (:func:`_distance_to_bar`)."""
    own = _distance_to_bar(box, bar)
    return own is not None and own < distance


def end_ticks(f: BarBright, threshold: float, bar: Bar) -> tuple[Box, ...]:
    """The end ticks of a "|----|" bar: the boxes of the strokes joined to it at both of its ends.

    A stroke counts only when one stands at each end, within ``TICK_ZONE_THICKNESSES`` bar thicknesses of
    it, the two reaching the same rows (within ``TICK_MATCH_FRACTION`` of their height) and as wide (within
    ``TICK_WIDTH_MATCH_PX``), and nothing else of the bar's colour is joined to the bar: a glyph standing on
    the bar, or touching one tick, is never taken for a tick (blanking it would change the label).

    Parameters
    ----------
    f : BarBright
        The image with the bar bright.
    threshold : float
        Bar-coloured pixels are at least this in ``f``.
    bar : Bar
        The bar.

    Returns
    -------
    tuple of Box
        The two tick boxes (left end, right end), half-open pixel boxes; empty when the bar has no end ticks.
    """
    height, width = f.shape
    zone = max(TICK_ZONE_THICKNESSES * bar.thickness, MIN_TICK_ZONE_PX)
    reach = max(int(LABEL_REACH_BAR_LENGTHS * bar.length), LABEL_REACH_THICKNESSES * bar.thickness)
    r0, r1 = max(bar.row0 - reach, 0), min(bar.row1 + reach, height)
    c0, c1 = max(bar.col0 - zone, 0), min(bar.col1 + zone, width)
    mask = (f[r0:r1, c0:c1] >= threshold).astype(np.uint8)
    _, labels = cv2.connectedComponents(mask, connectivity=CONNECTIVITY)
    middle = labels[(bar.row0 + bar.row1) // 2 - r0, bar.col0 - c0 : bar.col1 - c0]
    if not middle.any():
        return ()
    own = labels == np.bincount(middle[middle > 0]).argmax()
    own[bar.row0 - r0 : bar.row1 - r0, :] = False  # what is joined to the bar, off its rows
    rows, cols = np.nonzero(own)
    if rows.size == 0:
        return ()
    cols = cols + c0
    left, right = cols < bar.col0 + zone, cols >= bar.col1 - zone
    if not (left | right).all() or not left.any() or not right.any():
        return ()  # something joins the bar away from its ends (a glyph, texture): no ticks
    ticks = []
    for side in (left, right):
        ticks.append(
            (
                int(rows[side].min()) + r0,
                int(cols[side].min()),
                int(rows[side].max()) + r0 + 1,
                int(cols[side].max()) + 1,
            )
        )
    (top_l, left_l, bottom_l, right_l), (top_r, left_r, bottom_r, right_r) = ticks
    tolerance = max(2, TICK_MATCH_FRACTION * max(bottom_l - top_l, bottom_r - top_r))
    if abs(top_l - top_r) > tolerance or abs(bottom_l - bottom_r) > tolerance:
        return ()
    if abs((right_l - left_l) - (right_r - left_r)) > TICK_WIDTH_MATCH_PX:
        return ()
    return tuple(ticks)


def _frames(line: Bar, bar: Bar) -> bool:
    """Whether ``line`` is the outline of ``bar`` (a thin line of the other colour just above or below it, with
    the same ends): a white bar framed in black has its label nearer the frame's line than the bar itself."""
    if line.polarity == bar.polarity:
        return False
    adjacent = 0 <= bar.row0 - line.row1 <= OUTLINE_GAP_PX or 0 <= line.row0 - bar.row1 <= OUTLINE_GAP_PX
    tolerance = OUTLINE_END_THICKNESSES * line.thickness + 2
    return adjacent and abs(line.col0 - bar.col0) <= tolerance and abs(line.col1 - bar.col1) <= tolerance


def outline_of(line: Bar, bar: Bar) -> bool:
    """Whether ``line`` is one side of ``bar``'s outline: it frames the bar (:func:`_frames`) and runs past both of
    its ends (a white bar framed in black on a light field: the frame's dark lines are bar-like too, 2 x the
    frame's width longer, and their label is the bar's)."""
    return _frames(line, bar) and line.col0 <= bar.col0 and line.col1 >= bar.col1 and line.length > bar.length


def _label_backing(window: np.ndarray, bar_box: Box) -> Box | None:
    """The flat backing behind the bar in ``window`` (:func:`flat_backing`), when it can hold a label.

    A backing that reaches less than a glyph's height (``MIN_GLYPH_HEIGHT_PX``) beyond the bar on every side
    is the bar's own outline (a white bar framed in black), not a box around bar and label: searching only
    inside it found no label.
    """
    backing = flat_backing(window, bar_box)
    if backing is None:
        return None
    beyond = max(
        bar_box[TOP] - backing[TOP],
        backing[BOTTOM] - bar_box[BOTTOM],
        bar_box[LEFT] - backing[LEFT],
        backing[RIGHT] - bar_box[RIGHT],
    )
    return backing if beyond >= MIN_GLYPH_HEIGHT_PX else None


def label_boxes(
    f: BarBright,
    threshold: float,
    bar: Bar,
    avoid: Sequence[Box] = (),
    rivals: Sequence[Bar] = (),
    ticks: Sequence[Box] = (),
) -> list[tuple[Box, int]]:
    """Candidate label boxes near a bar, nearest first, with their number of connected glyphs.

    Text pixels are those as close to the bar's colour as the bar's own threshold; the bar and its end
    ``ticks`` (:func:`end_ticks`) are not text. A box that lies nearer one of the ``rivals`` (the other
    bar-like candidates) than this bar is that bar's label, not this one's (a longer line beside a labelled
    bar reached its label and took it: pixel sizes 2-3 times too small); the lines of the bar's own outline
    (:func:`_frames`) are no rivals.
    """
    height, width = f.shape
    length, thickness = bar.length, bar.thickness
    reach = int(
        max(
            LABEL_REACH_BAR_LENGTHS * length,
            LABEL_REACH_THICKNESSES * thickness,
            LABEL_REACH_IMAGE_FRACTION * min(height, width),
        )
    )
    r0, r1 = max(bar.row0 - reach, 0), min(bar.row1 + reach, height)
    c0, c1 = max(bar.col0 - length // 2 - reach // 2, 0), min(bar.col1 + length // 2 + reach // 2, width)
    # A bar on a flat backing (a box behind it, or a data strip) has its label on the same backing:
    # search only there, so that image content next to the box cannot join the label.
    backing = _label_backing(f[r0:r1, c0:c1], (bar.row0 - r0, bar.col0 - c0, bar.row1 - r0, bar.col1 - c0))
    if backing is not None:
        r0, c0, r1, c1 = r0 + backing[TOP], c0 + backing[LEFT], r0 + backing[BOTTOM], c0 + backing[RIGHT]
    window = (f[r0:r1, c0:c1] >= threshold).astype(np.uint8)
    # Blank the bar itself (and a pixel around it) and its end ticks.
    for top, left, bottom, right in (bar.box, *ticks):
        window[max(top - 1 - r0, 0) : max(bottom + 1 - r0, 0), max(left - 2 - c0, 0) : max(right + 2 - c0, 0)] = 0
    rivals = [rival for rival in rivals if not _frames(rival, bar)]
    # Rejoin glyphs whose thin strokes broke at the threshold (vertically only, so letters stay apart).
    window = cv2.dilate(window, GLYPH_JOIN_KERNEL)
    count, _, stats, _ = cv2.connectedComponentsWithStats(window, connectivity=CONNECTIVITY)
    comps = []
    for x, y, w, h, area in stats[1:count]:
        # A glyph (or a few touching ones) is never much wider than three times its height.
        if area < MIN_GLYPH_AREA_PX or h > reach or w > MAX_GLYPH_WIDTH_PER_HEIGHT * h + 2:
            continue
        comps.append((int(y) + r0, int(x) + c0, int(y + h) + r0, int(x + w) + c0))
    if not comps:
        return []
    lines = _text_lines(comps)
    boxes: list[tuple[float, Box, int]] = []
    for line in lines:
        line.sort(key=lambda b: b[LEFT])
        line_height = max(b[BOTTOM] - b[TOP] for b in line)
        # Split the line into words at wide gaps.
        chunks: list[list[Box]] = [[line[0]]]
        for comp in line[1:]:
            if comp[LEFT] - max(b[RIGHT] for b in chunks[-1]) > WORD_GAP_LINE_HEIGHTS * line_height:
                chunks.append([comp])
            else:
                chunks[-1].append(comp)
        for chunk in chunks:
            box = (
                min(b[TOP] for b in chunk),
                min(b[LEFT] for b in chunk),
                max(b[BOTTOM] for b in chunk),
                max(b[RIGHT] for b in chunk),
            )
            glyphs = len(chunk)  # decimal points are too small to count
            box = _with_broken_pieces(box, comps, line_height)
            box_height, box_width = box[BOTTOM] - box[TOP], box[RIGHT] - box[LEFT]
            if box_width < MIN_LABEL_WIDTH_PER_HEIGHT * box_height or box_height < MIN_GLYPH_HEIGHT_PX or glyphs < 2:
                continue
            # Letters taller than the bar is long are not this bar's label.
            if box_height > MAX_LABEL_HEIGHT_BAR_LENGTHS * length:
                continue
            # A label never covers another bar-like slab (e.g. the edge of the box behind the bar).
            if any(overlaps(box, other) for other in avoid):
                continue
            distance = _distance_to_bar(box, bar)
            if distance is None:
                continue
            if distance > MAX_DISTANCE_LABEL_HEIGHTS * box_height + 2 * thickness:
                continue
            if any(_nearer(box, rival, distance) for rival in rivals):
                continue  # better placed for another bar-like line: its label, not this bar's
            boxes.append((float(distance), box, glyphs))
    boxes.sort(key=lambda item: item[0])
    return [(box, glyphs) for _, box, glyphs in boxes]


@dataclass
class LabelRead:
    text: str
    length_nm: float | None
    confidence: float
    note: str
    agreeing: int = 1


def read_label(
    f: BarBright,
    bar: Bar,
    box: Box,
    glyphs: int,  # from the detection mask; a fallback when the crop shows none
    *,
    min_confidence: float,
    tesseract_cmd: str | None,
    budget: OcrBudget,
    ticks: Sequence[Box] = (),
) -> LabelRead:
    """OCR a label at up to three scales and combine the reads cautiously.

    Three scalings of the label are read in one tesseract run and combined by
    :func:`combine_reads`; if that is not confident enough, two number/unit
    split reads (two more runs) are added to the vote. The crop read stops short
    of the bar and its end ``ticks`` beside the label.
    """
    height, width = f.shape
    box = extend_label_sideways(f, bar, box, ticks)
    pad = max(2, int(round(LABEL_PAD_FRACTION * (box[BOTTOM] - box[TOP]))))
    r0, r1 = max(box[TOP] - pad, 0), min(box[BOTTOM] + pad, height)
    c0, c1 = _clear_of((r0, box[LEFT], r1, box[RIGHT]), (bar.box, *ticks), box[LEFT] - pad, box[RIGHT] + pad)
    c0, c1 = max(c0, 0), min(c1, width)
    if box[BOTTOM] <= bar.row0:
        r1 = min(r1, bar.row0 - 1)
    elif box[TOP] >= bar.row1:
        r0 = max(r0, bar.row1 + 1)
    crop = f[r0:r1, c0:c1]

    binaries = [prepare_label_crop(crop, text_is_bright=True, target_height_px=px) for px in OCR_HEIGHTS_PX]
    # Glyphs counted on what tesseract sees (more faithful than the detection mask for thin
    # fonts), at each scaling: neighbouring letters touch at one scaling and not another.
    spans = glyph_spans(binaries[0])
    counts = {len(glyph_spans(binary)) for binary in binaries} - {0}
    glyph_counts = counts if counts else {glyphs}
    if not budget.take(1):
        return LabelRead(
            "", None, 0.0, f"no OCR attempted (limit of {MAX_TESSERACT_CALLS} tesseract runs per image reached)"
        )
    # All three scalings in one tesseract run (loading the model dominates the cost).
    reads = [(ocr, parse_scale_label(ocr.text)) for ocr in run_tesseract_batch(binaries, tesseract_cmd=tesseract_cmd)]
    combined = _with_its_point(combine_reads(reads, glyph_counts), binaries)
    if combined.length_nm is not None and combined.confidence >= min_confidence:
        return combined
    # Hard case (often a lone "1" read as "i" or "l"): read the number with digits only, then the unit.
    if len(spans) >= MIN_SPLIT_GLYPHS and budget.take(2):
        extra = [binaries[0], prepare_label_crop(crop, text_is_bright=True, target_height_px=SPLIT_READ_HEIGHT_PX)]
        for split in read_number_and_unit_batch(extra, tesseract_cmd=tesseract_cmd):
            if split is not None:
                reads.append((split, parse_scale_label(split.text)))
    return _with_its_point(combine_reads(reads, glyph_counts), binaries)


def _with_its_point(read: LabelRead, binaries: list[np.ndarray]) -> LabelRead:
    """``read``, unless the label shows a decimal point (at two scalings or more) that its text lacks: the OCR
    left it out ("2.5 nm" read "25 nm", ten times off) and the reading is not trusted."""
    if read.length_nm is None or any(mark in read.text for mark in ".,"):
        return read
    if sum(shows_decimal_point(binary) for binary in binaries) < MIN_POINT_SCALINGS:
        return read
    return LabelRead(
        read.text,
        None,
        0.0,
        f"the label shows a decimal point that the OCR read {read.text!r} left out; read it yourself (draw a line "
        "over the bar or type nm/px)",
    )


def _clear_of(box: Box, obstacles: Sequence[Box], lo: int, hi: int) -> tuple[int, int]:
    """The columns ``lo .. hi`` narrowed to stop short of the obstacles beside ``box`` on its rows.

    An obstacle (the bar, an end tick) that shares rows with ``box`` and lies wholly left of it moves
    ``lo`` to ``OBSTACLE_CLEARANCE_PX`` past its right side; one wholly right of it moves ``hi`` likewise.
    """
    for top, left, bottom, right in obstacles:
        if min(bottom, box[BOTTOM]) <= max(top, box[TOP]):
            continue  # not on the label's rows
        if right <= box[LEFT]:
            lo = max(lo, right + OBSTACLE_CLEARANCE_PX)
        elif left >= box[RIGHT]:
            hi = min(hi, left - OBSTACLE_CLEARANCE_PX)
    return lo, hi


def extend_label_sideways(f: BarBright, bar: Bar, box: Box, ticks: Sequence[Box] = ()) -> Box:
    """Widen a label box over neighbouring ink on the same text line.

    Thin glyphs can fall apart at the detection threshold and be left out of
    the box ("250 nm" found as "50 nm"); here each side grows while columns of
    the line hold ink at a local Otsu threshold, across gaps narrower than
    the letter height. It never grows over the bar or its end ``ticks``
    (a label beside the bar took the bar's end: "200 nm =").
    """
    r0, c0, r1, c1 = box
    line_height = r1 - r0
    height, width = f.shape
    reach = SIDEWAYS_REACH_LINE_HEIGHTS * line_height
    lo, hi = max(c0 - reach, 0), min(c1 + reach, width)
    # Stay on the box or strip behind the bar, if there is one.
    top = max(min(r0, bar.row0) - SIDEWAYS_MARGIN_PX, 0)
    bottom = min(max(r1, bar.row1) + SIDEWAYS_MARGIN_PX, height)
    backing = _label_backing(
        f[top:bottom, lo:hi], (bar.row0 - top, max(bar.col0, lo) - lo, bar.row1 - top, min(bar.col1, hi) - lo)
    )
    if backing is not None:
        lo, hi = lo + backing[LEFT], lo + backing[RIGHT]
    lo, hi = _clear_of(box, (bar.box, *ticks), lo, hi)
    band = f[r0:r1, lo:hi]
    if band.size == 0 or float(band.max()) <= float(band.min()) or not lo <= c0 < c1 <= hi:
        return box
    threshold = max(threshold_otsu(band), 0.5 * (bar.level + bar.surround))
    # A column holds ink when a few pixels of it do (single noise specks do not count).
    inked = (band >= threshold).sum(axis=0) >= max(2, int(INKED_COLUMN_FRACTION * line_height))
    max_gap = max(2, int(MAX_GAP_LINE_HEIGHTS * line_height))
    left, gap = c0 - lo, 0
    for col in range(c0 - lo - 1, -1, -1):
        if inked[col]:
            left, gap = col, 0
        else:
            gap += 1
            if gap > max_gap:
                break
    right, gap = c1 - lo, 0
    for col in range(c1 - lo, hi - lo):
        if inked[col]:
            right, gap = col + 1, 0
        else:
            gap += 1
            if gap > max_gap:
                break
    return (r0, lo + left, r1, lo + right)


def glyphs_match(text: str, glyphs: set[int]) -> bool:
    """Whether the OCR text has as many characters (not counting spaces and decimal marks) as glyphs seen."""
    return sum(1 for ch in text if ch not in " .,") in glyphs


def combine_reads(reads: list[tuple[OcrResult, LabelValue | None]], glyphs: set[int]) -> LabelRead:
    """Combine OCR reads of one label at several scales into one cautious answer."""
    parsed = [(ocr, label) for ocr, label in reads if label is not None]
    if not parsed:
        texts = ", ".join(repr(ocr.text) for ocr, _ in reads)
        return LabelRead(reads[0][0].text, None, 0.0, f"OCR read {texts}, none of which is a length")
    values = [round(label.length_nm, LENGTH_DECIMALS) for _, label in parsed]

    # Most votes first; on a tie prefer a round value, then the more confident reads.
    def support(value: float) -> tuple[int, bool, float]:
        group = [(o, lab) for o, lab in parsed if round(lab.length_nm, LENGTH_DECIMALS) == value]
        return (len(group), all("not a usual" not in lab.note for _, lab in group), sum(o.confidence for o, _ in group))

    best_value = max(set(values), key=support)
    agreeing = [(ocr, label) for ocr, label in parsed if round(label.length_nm, LENGTH_DECIMALS) == best_value]
    others = [(ocr, label) for ocr, label in parsed if round(label.length_nm, LENGTH_DECIMALS) != best_value]
    ocr, label = max(agreeing, key=lambda item: item[0].confidence)
    confidence = ocr.confidence * label.confidence
    notes = [label.note] if label.note else []
    sure_alone = (
        not others
        and ocr.confidence >= SURE_OCR_CONFIDENCE
        and label.confidence == 1.0
        and glyphs_match(ocr.text, glyphs)
    )
    if len(agreeing) < 2 and not sure_alone:
        # One read is trusted alone only when tesseract is sure of an exact, usual label with the
        # right glyph count and no other read contradicts it.
        confidence *= LONE_READ_FACTOR
        notes.append(f"only one of {len(reads)} OCR reads gave this value")
    if others:
        confidence *= 0.5
        notes.append(f"OCR reads disagree ({', '.join(repr(o.text) for o, _ in parsed)})")
    if not glyphs_match(ocr.text, glyphs):
        confidence *= GLYPH_MISMATCH_FACTOR
        notes.append(
            f"{'/'.join(map(str, sorted(glyphs)))} glyphs seen but {ocr.text!r} has a different number of characters"
        )
    # Consensus: tesseract's own confidence is low on short non-words such as "1um".
    # When the reads agree on a round value, no dissenting read is a plausible round
    # value, and the character count matches the glyphs seen, the consensus is trusted.
    usual = "not a usual" not in label.note
    # A rival is another round value read as well: by two reads, or by one when only two agree.
    rival_votes = Counter(
        round(o_label.length_nm, LENGTH_DECIMALS)
        for _, o_label in others
        if o_label.confidence >= RIVAL_MIN_CONFIDENCE and "not a usual" not in o_label.note
    )
    rival = any(votes >= 2 or len(agreeing) <= 2 for votes in rival_votes.values())
    if len(agreeing) >= 2 and usual and not rival and glyphs_match(ocr.text, glyphs):
        cleanest = max(a_label.confidence for _, a_label in agreeing)
        consensus = (
            CONSENSUS_MANY_FACTOR if len(agreeing) >= CONSENSUS_MANY_READS else CONSENSUS_TWO_FACTOR
        ) * cleanest
        if consensus > confidence:
            confidence = consensus
            notes.append(f"{len(agreeing)} of {len(reads)} OCR reads agree and match the glyphs seen")
    return LabelRead(ocr.text, label.length_nm, confidence, "; ".join(notes), agreeing=len(agreeing))
