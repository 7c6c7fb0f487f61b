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
from exo_vision.calibration.bar import Bar, BarBright, Box, overlaps
from exo_vision.calibration.ocr import (
    LabelValue,
    OcrResult,
    glyph_spans,
    parse_scale_label,
    prepare_label_crop,
    read_number_and_unit_batch,
    run_tesseract_batch,
)

logger = logging.getLogger(__name__)

#: How many (bar, label) pairs are sent to tesseract at most.
MAX_OCR_ATTEMPTS = 4
#: Most tesseract runs spent on one image (bounds the time on images with no legible label).
MAX_TESSERACT_CALLS = 8


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
    for comp in sorted((b for b in comps if b[2] - b[0] >= 6), key=lambda b: -(b[2] - b[0])):
        comp_height = comp[2] - comp[0]
        for line in lines:
            top, bottom = min(b[0] for b in line), max(b[2] for b in line)
            tallest = max(b[2] - b[0] for b in line)
            overlap = min(bottom, comp[2]) - max(top, comp[0])
            if overlap >= 0.5 * comp_height and comp_height >= 0.5 * tallest:
                line.append(comp)
                break
        else:
            lines.append([comp])
    return lines


def label_boxes(f: BarBright, threshold: float, bar: Bar, avoid: Sequence[Box] = ()) -> list[tuple[Box, int]]:
    """Candidate label boxes near a bar, nearest first, with their number of connected glyphs.

    Text pixels are those as close to the bar's colour as the bar's own threshold.
    """
    height, width = f.shape
    length, thickness = bar.length, bar.thickness
    reach = int(max(0.6 * length, 12 * thickness, 0.06 * min(height, width)))
    r0, r1 = max(bar.row0 - reach, 0), min(bar.row1 + reach, height)
    c0, c1 = max(bar.col0 - length // 2 - reach // 2, 0), min(bar.col1 + length // 2 + reach // 2, width)
    # A bar on a flat backing (a box behind it, or a data strip) has its label on the same backing:
    # search only there, so that image content next to the box cannot join the label.
    backing = flat_backing(f[r0:r1, c0:c1], (bar.row0 - r0, bar.col0 - c0, bar.row1 - r0, bar.col1 - c0))
    if backing is not None:
        r0, c0, r1, c1 = r0 + backing[0], c0 + backing[1], r0 + backing[2], c0 + backing[3]
    window = (f[r0:r1, c0:c1] >= threshold).astype(np.uint8)
    # Blank the bar itself (and a pixel around it).
    window[max(bar.row0 - 1 - r0, 0) : bar.row1 + 1 - r0, max(bar.col0 - 2 - c0, 0) : bar.col1 + 2 - c0] = 0
    # Rejoin glyphs whose thin strokes broke at the threshold (vertically only, so letters stay apart).
    window = cv2.dilate(window, np.ones((3, 1), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(window, connectivity=8)
    comps = []
    for x, y, w, h, area in stats[1:count]:
        # A glyph (or a few touching ones) is never much wider than three times its height.
        if area < 4 or h > reach or w > 3 * h + 2:
            continue
        comps.append((int(y) + r0, int(x) + c0, int(y + h) + r0, int(x + w) + c0))
    if not comps:
        return []
    lines = _text_lines(comps)
    boxes: list[tuple[float, Box, int]] = []
    centre = (bar.col0 + bar.col1) / 2
    for line in lines:
        line.sort(key=lambda b: b[1])
        line_height = max(b[2] - b[0] for b in line)
        # Split the line into words at wide gaps.
        chunks: list[list[Box]] = [[line[0]]]
        for comp in line[1:]:
            if comp[1] - max(b[3] for b in chunks[-1]) > 1.5 * line_height:
                chunks.append([comp])
            else:
                chunks[-1].append(comp)
        for chunk in chunks:
            box = (
                min(b[0] for b in chunk),
                min(b[1] for b in chunk),
                max(b[2] for b in chunk),
                max(b[3] for b in chunk),
            )
            glyphs = len(chunk)  # decimal points are too small to count
            # Pieces of broken glyphs just above or below the word (e.g. the flag of a thin "5").
            for piece in comps:
                middle = (piece[1] + piece[3]) / 2
                if (
                    box[1] <= middle < box[3]
                    and piece[2] - piece[0] <= line_height
                    and piece[3] - piece[1] <= line_height
                    and box[0] - 0.6 * line_height <= piece[0]
                    and piece[2] <= box[2] + 0.6 * line_height
                    and (piece[2] >= box[0] - 2 and piece[0] <= box[2] + 2)  # touching, not a speck nearby
                    and max(box[2], piece[2]) - min(box[0], piece[0]) <= 1.4 * line_height
                ):
                    box = (min(box[0], piece[0]), box[1], max(box[2], piece[2]), box[3])
            box_height, box_width = box[2] - box[0], box[3] - box[1]
            if box_width < 0.8 * box_height or box_height < 6 or glyphs < 2:
                continue
            if box_height > 0.8 * length:  # letters taller than the bar is long: not this bar's label
                continue
            # A label never covers another bar-like slab (e.g. the edge of the box behind the bar).
            if any(overlaps(box, other) for other in avoid):
                continue
            if box[2] <= bar.row0:  # above
                if box[3] < bar.col0 - 0.3 * length or box[1] > bar.col1 + 0.3 * length:
                    continue
                distance = bar.row0 - box[2] + 0.1 * abs((box[1] + box[3]) / 2 - centre)
            elif box[0] >= bar.row1:  # below
                if box[3] < bar.col0 - 0.3 * length or box[1] > bar.col1 + 0.3 * length:
                    continue
                distance = box[0] - bar.row1 + 0.1 * abs((box[1] + box[3]) / 2 - centre)
            elif box[1] >= bar.col1:  # right of the bar, same height
                distance = box[1] - bar.col1
            elif box[3] <= bar.col0:  # left of the bar
                distance = bar.col0 - box[3]
            else:
                continue
            if distance > 2.5 * box_height + 2 * thickness:
                continue
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
) -> LabelRead:
    """OCR a label at up to three scales and combine the reads cautiously.

    Three scalings of the label are read in one tesseract run and combined by
    :func:`combine_reads`; if that is not confident enough, two number/unit
    split reads (two more runs) are added to the vote.
    """
    height, width = f.shape
    box = extend_label_sideways(f, bar, box)
    pad = max(2, int(round(0.15 * (box[2] - box[0]))))
    r0, r1 = max(box[0] - pad, 0), min(box[2] + pad, height)
    c0, c1 = max(box[1] - pad, 0), min(box[3] + pad, width)
    if box[2] <= bar.row0:
        r1 = min(r1, bar.row0 - 1)
    elif box[0] >= bar.row1:
        r0 = max(r0, bar.row1 + 1)
    crop = f[r0:r1, c0:c1]

    scales = (40, 28, 64)
    binaries = [prepare_label_crop(crop, text_is_bright=True, target_height_px=px) for px in scales]
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
    combined = combine_reads(reads, glyph_counts)
    if combined.length_nm is not None and combined.confidence >= min_confidence:
        return combined
    # Hard case (often a lone "1" read as "i" or "l"): read the number with digits only, then the unit.
    if len(spans) >= 3 and budget.take(2):
        extra = [binaries[0], prepare_label_crop(crop, text_is_bright=True, target_height_px=56)]
        for split in read_number_and_unit_batch(extra, tesseract_cmd=tesseract_cmd):
            if split is not None:
                reads.append((split, parse_scale_label(split.text)))
    return combine_reads(reads, glyph_counts)


def extend_label_sideways(f: BarBright, bar: Bar, box: Box) -> Box:
    """Widen a label box over neighbouring ink on the same text line.

    Thin glyphs can fall apart at the detection threshold and be left out of
    the box ("250 nm" found as "50 nm"); here each side grows while columns of
    the line hold ink at a local Otsu threshold, across gaps narrower than
    the letter height.
    """
    r0, c0, r1, c1 = box
    line_height = r1 - r0
    height, width = f.shape
    reach = 3 * line_height
    lo, hi = max(c0 - reach, 0), min(c1 + reach, width)
    # Stay on the box or strip behind the bar, if there is one.
    top, bottom = max(min(r0, bar.row0) - 3, 0), min(max(r1, bar.row1) + 3, height)
    backing = flat_backing(
        f[top:bottom, lo:hi], (bar.row0 - top, max(bar.col0, lo) - lo, bar.row1 - top, min(bar.col1, hi) - lo)
    )
    if backing is not None:
        lo, hi = lo + backing[1], lo + backing[3]
    band = f[r0:r1, lo:hi]
    if band.size == 0 or float(band.max()) <= float(band.min()) or not lo <= c0 < c1 <= hi:
        return box
    threshold = max(threshold_otsu(band), 0.5 * (bar.level + bar.surround))
    # A column holds ink when a few pixels of it do (single noise specks do not count).
    inked = (band >= threshold).sum(axis=0) >= max(2, int(0.15 * line_height))
    max_gap = max(2, int(0.6 * line_height))
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
    values = [round(label.length_nm, 6) for _, label in parsed]

    # Most votes first; on a tie prefer a round value, then the more confident reads.
    def support(value: float) -> tuple[int, bool, float]:
        group = [(o, lab) for o, lab in parsed if round(lab.length_nm, 6) == value]
        return (len(group), all("not a usual" not in lab.note for _, lab in group), sum(o.confidence for o, _ in group))

    best_value = max(set(values), key=support)
    agreeing = [(ocr, label) for ocr, label in parsed if round(label.length_nm, 6) == best_value]
    others = [(ocr, label) for ocr, label in parsed if round(label.length_nm, 6) != best_value]
    ocr, label = max(agreeing, key=lambda item: item[0].confidence)
    confidence = ocr.confidence * label.confidence
    notes = [label.note] if label.note else []
    sure_alone = not others and ocr.confidence >= 0.9 and label.confidence == 1.0 and glyphs_match(ocr.text, glyphs)
    if len(agreeing) < 2 and not sure_alone:
        # One read is trusted alone only when tesseract is sure of an exact, usual label with the
        # right glyph count and no other read contradicts it.
        confidence *= 0.8
        notes.append(f"only one of {len(reads)} OCR reads gave this value")
    if others:
        confidence *= 0.5
        notes.append(f"OCR reads disagree ({', '.join(repr(o.text) for o, _ in parsed)})")
    if not glyphs_match(ocr.text, glyphs):
        confidence *= 0.9
        notes.append(
            f"{'/'.join(map(str, sorted(glyphs)))} glyphs seen but {ocr.text!r} has a different number of characters"
        )
    # Consensus: tesseract's own confidence is low on short non-words such as "1um".
    # When the reads agree on a round value, no dissenting read is a plausible round
    # value, and the character count matches the glyphs seen, the consensus is trusted.
    usual = "not a usual" not in label.note
    # A rival is another round value read as well: by two reads, or by one when only two agree.
    rival_votes = Counter(
        round(o_label.length_nm, 6)
        for _, o_label in others
        if o_label.confidence >= 0.6 and "not a usual" not in o_label.note
    )
    rival = any(votes >= 2 or len(agreeing) <= 2 for votes in rival_votes.values())
    if len(agreeing) >= 2 and usual and not rival and glyphs_match(ocr.text, glyphs):
        cleanest = max(a_label.confidence for _, a_label in agreeing)
        consensus = (0.95 if len(agreeing) >= 3 else 0.85) * cleanest
        if consensus > confidence:
            confidence = consensus
            notes.append(f"{len(agreeing)} of {len(reads)} OCR reads agree and match the glyphs seen")
    return LabelRead(ocr.text, label.length_nm, confidence, "; ".join(notes), agreeing=len(agreeing))
