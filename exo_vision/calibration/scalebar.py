"""Reading the pixel size from a burnt-in scale bar, and masking annotations out.

Most TEM images that circulate are PNG/JPEG/TIFF exports with no calibration
tags but a scale bar drawn into the pixels. :func:`read_scale_bar` finds the bar
(a long, thin, uniform dark or light horizontal component), measures its length
to sub-pixel precision from the edge profiles at both ends, finds the label
next to it and reads it with tesseract. It never guesses: when the label cannot
be read with confidence the reading says ``"unreadable"`` and carries no pixel
size. :func:`annotation_mask` marks the bar, its label, any box behind them and
any instrument data strip, so later analysis can ignore them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from skimage.filters import threshold_otsu

from exo_vision.calibration.annotations import find_data_strip, flat_backing, grow_backing_box
from exo_vision.calibration.ocr import (
    LabelValue,
    OcrResult,
    TesseractError,
    glyph_spans,
    parse_scale_label,
    prepare_label_crop,
    read_number_and_unit_batch,
    run_tesseract_batch,
)

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
Status = Literal["ok", "unreadable", "not found"]

#: Pixel sizes outside this range (nm/px) are not believed for a TEM image.
PLAUSIBLE_PIXEL_SIZE_NM = (0.005, 200.0)
#: How many (bar, label) pairs are sent to tesseract at most.
MAX_OCR_ATTEMPTS = 4
#: Most tesseract runs spent on one image (bounds the time on images with no legible label).
MAX_TESSERACT_CALLS = 8


class _Budget:
    """Counts down the tesseract runs left for one image."""

    def __init__(self, calls: int) -> None:
        self.left = calls

    def take(self, calls: int) -> bool:
        if self.left < calls:
            return False
        self.left -= calls
        return True


@dataclass
class ScaleBarReading:
    """What :func:`read_scale_bar` found.

    Attributes
    ----------
    status : {"ok", "unreadable", "not found"}
        ``"ok"``: bar measured and label read with enough confidence.
        ``"unreadable"``: a bar was found but its label could not be trusted.
        ``"not found"``: no scale bar in the image.
    pixel_size_nm : float or None
        Pixel edge length in nanometres; only set when ``status == "ok"``.
    bar_length_px : float or None
        Bar length in pixels (sub-pixel, from the end profiles).
    length_nm : float or None
        Length stated by the label, in nanometres (when parsed).
    label_text : str
        Raw OCR text ("" when nothing was read).
    confidence : float
        0..1; the OCR word confidence times the parser's confidence.
    bar_box : (row0, col0, row1, col1) or None
        Half-open pixel box of the bar.
    label_box : (row0, col0, row1, col1) or None
        Half-open pixel box of the label text.
    reason : str
        Human explanation, in particular of why the status is not ``"ok"``.
    """

    status: Status
    pixel_size_nm: float | None
    bar_length_px: float | None
    length_nm: float | None
    label_text: str
    confidence: float
    bar_box: Box | None
    label_box: Box | None
    reason: str


@dataclass
class _Bar:
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


def _as_gray(image: np.ndarray) -> np.ndarray:
    """Validate and convert to a float32 (M, N) array (RGB(A) -> mean of the colour channels)."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[..., :3].astype(np.float32).mean(axis=2)
    if array.ndim != 2:
        raise ValueError(
            f"`image` must be a 2-D gray image (M, N) or RGB (M, N, 3), got shape {array.shape}; "
            "pick one frame or channel first"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating) or array.dtype == bool):
        raise ValueError(f"`image` must have a numeric dtype, got {array.dtype}")
    if min(array.shape) < 32:
        raise ValueError(f"`image` (shape {array.shape}) is too small to hold a scale bar (need at least 32x32 px)")
    gray = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(gray)):
        raise ValueError("`image` contains NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    return gray


def _rows_with_runs(
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


def _long_runs(mask: np.ndarray, min_length: int, max_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, starts and (exclusive) ends of horizontal runs of True with length in range."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)
    lengths = ends - starts
    keep = (lengths >= min_length) & (lengths <= max_length)
    return rows[keep], starts[keep], ends[keep]


def _group_runs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, tolerance: int = 2) -> list[tuple[int, int, int, int]]:
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
            if abs(group[2] - start) <= tolerance and abs(group[3] - end) <= tolerance:
                group[1] = row
                group[2], group[3] = start, end
                current.append(index)
                previous.remove(index)
                break
        else:
            groups.append([row, row, start, end])
            current.append(len(groups) - 1)
    return [(g[0], g[1] + 1, g[2], g[3]) for g in groups]


class _BarBright:
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


def _bar_candidates(gray: np.ndarray) -> list[tuple[_Bar, _BarBright, float]]:
    """Find bar-like slabs in both polarities.

    Returns a list of (bar, f, threshold) where ``f`` shows the image with the
    bar bright and ``threshold`` separates bar-coloured pixels in ``f``.
    """
    height, width = gray.shape
    sample = gray[:: max(1, height // 256), :: max(1, width // 256)]
    median = float(np.median(sample))
    lo, hi = float(gray.min()), float(gray.max())
    if hi - lo <= 0:
        return []
    min_length = max(12, int(0.02 * width))
    max_length = int(0.7 * width)
    found: list[tuple[_Bar, _BarBright, float]] = []
    for polarity in ("dark", "light"):
        f = _BarBright(gray, lo + hi if polarity == "dark" else None)
        extreme = hi
        level_median = (lo + hi) - median if polarity == "dark" else median
        if extreme - level_median < 0.2 * (hi - lo):
            continue
        threshold = extreme - 0.4 * (extreme - level_median)
        cut = (lo + hi) - threshold

        def bar_coloured(rows: np.ndarray | slice | int, cols: slice = slice(None)) -> np.ndarray:
            part = gray[rows, cols]
            return (part <= cut) if polarity == "dark" else (part >= threshold)

        rows_with_runs, mask_rows = _rows_with_runs(bar_coloured, height, min_length)
        if rows_with_runs.size == 0 or rows_with_runs.size > height // 2:
            continue
        sub_rows, starts, ends = _long_runs(mask_rows, min_length, max_length)
        rows = rows_with_runs[sub_rows]
        if rows.size == 0 or rows.size > 200_000:
            continue
        for row0, row1, col0, col1 in _group_runs(rows, starts, ends):
            thickness = row1 - row0
            length = col1 - col0
            if thickness < 2 or length < 5 * thickness:
                continue
            # The slab must stand free: almost nothing of its colour touches its top or bottom
            # (end ticks may; the stroke of a "2" or "Z" standing on it may not).
            if row0 > 0 and bar_coloured(row0 - 1, slice(col0, col1)).mean() > 0.15:
                continue
            if row1 < height and bar_coloured(row1, slice(col0, col1)).mean() > 0.15:
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
            spread = float(np.percentile(inner, 90) - np.percentile(inner, 10)) / (hi - lo)
            if contrast < 0.25 or spread > 0.25:
                continue
            # A real bar has the same background on both sides; a slab between the bar and the
            # edge of a box behind it (bar on one side, image on the other) does not.
            asymmetry = abs(float(np.median(above)) - float(np.median(below))) / (hi - lo) if above.size and below.size else 0.0
            edge_distance = min(row0, height - row1) / height
            score = contrast * (1.0 - asymmetry) * (1.0 - edge_distance) * np.sqrt(length / width)
            bar = _Bar(polarity, row0, row1, col0, col1, contrast, float(score), level, surround)
            found.append((bar, f, threshold))
    found.sort(key=lambda item: -item[0].score)
    return found


def _measure_length(f: _BarBright, bar: _Bar) -> float:
    """Sub-pixel bar length: summed fractional coverage across both end profiles."""
    width = f.shape[1]
    rows = slice(bar.row0 + (bar.thickness > 2), bar.row1 - (bar.thickness > 2))
    lo = max(bar.col0 - 4, 0)
    hi = min(bar.col1 + 4, width)
    profile = f[rows, lo:hi].mean(axis=0)
    inside = profile[bar.col0 - lo + 2 : bar.col1 - lo - 2]
    level = float(np.median(inside)) if inside.size else float(profile.max())
    left_out = profile[max(bar.col0 - lo - 4, 0) : max(bar.col0 - lo - 1, 1)]
    right_out = profile[bar.col1 - lo + 1 : bar.col1 - lo + 4]
    middle = (bar.col0 + bar.col1) // 2 - lo
    length = 0.0
    for part, outside in ((profile[:middle], left_out), (profile[middle:], right_out)):
        background = float(np.median(outside)) if outside.size else f.floor()
        span = level - background
        if span <= 0:
            return float(bar.length)
        length += float(np.clip((part - background) / span, 0.0, 1.0).sum())
    return length


def _overlaps(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _label_boxes(f: _BarBright, threshold: float, bar: _Bar, avoid: list[Box] = ()) -> list[tuple[Box, int]]:
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
    # Group glyph-sized components into text lines by vertical overlap, tallest first;
    # a line only takes components at least half as tall as its tallest one.
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
            box = (min(b[0] for b in chunk), min(b[1] for b in chunk), max(b[2] for b in chunk), max(b[3] for b in chunk))
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
            if any(_overlaps(box, other) for other in avoid):
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
class _LabelRead:
    text: str
    length_nm: float | None
    confidence: float
    note: str
    agreeing: int = 1


def _read_label(
    f: _BarBright,
    bar: _Bar,
    box: Box,
    glyphs: int,  # from the detection mask; a fallback when the crop shows none
    *,
    min_confidence: float,
    tesseract_cmd: str | None,
    budget: _Budget,
) -> _LabelRead:
    """OCR a label at up to three scales and combine the reads cautiously.

    Three scalings of the label are read in one tesseract run and combined by
    :func:`_combine_reads`; if that is not confident enough, two number/unit
    split reads (two more runs) are added to the vote.
    """
    height, width = f.shape
    box = _extend_label_sideways(f, bar, box)
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
    glyphs = counts if counts else {glyphs}
    if not budget.take(1):
        return _LabelRead("", None, 0.0, f"no OCR attempted (limit of {MAX_TESSERACT_CALLS} tesseract runs per image reached)")
    # All three scalings in one tesseract run (loading the model dominates the cost).
    reads = [(ocr, parse_scale_label(ocr.text)) for ocr in run_tesseract_batch(binaries, tesseract_cmd=tesseract_cmd)]
    combined = _combine_reads(reads, glyphs)
    if combined.length_nm is not None and combined.confidence >= min_confidence:
        return combined
    # Hard case (often a lone "1" read as "i" or "l"): read the number with digits only, then the unit.
    if len(spans) >= 3 and budget.take(2):
        extra = [binaries[0], prepare_label_crop(crop, text_is_bright=True, target_height_px=56)]
        for split in read_number_and_unit_batch(extra, tesseract_cmd=tesseract_cmd):
            if split is not None:
                reads.append((split, parse_scale_label(split.text)))
    return _combine_reads(reads, glyphs)


def _extend_label_sideways(f: _BarBright, bar: _Bar, box: Box) -> Box:
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
    backing = flat_backing(f[top:bottom, lo:hi], (bar.row0 - top, max(bar.col0, lo) - lo, bar.row1 - top, min(bar.col1, hi) - lo))
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


def _glyphs_match(text: str, glyphs: set[int]) -> bool:
    """Whether the OCR text has as many characters (not counting spaces and decimal marks) as glyphs seen."""
    return sum(1 for ch in text if ch not in " .,") in glyphs


def _combine_reads(reads: list[tuple[OcrResult, LabelValue | None]], glyphs: set[int]) -> _LabelRead:
    """Combine OCR reads of one label at several scales into one cautious answer."""
    parsed = [(ocr, label) for ocr, label in reads if label is not None]
    if not parsed:
        texts = ", ".join(repr(ocr.text) for ocr, _ in reads)
        return _LabelRead(reads[0][0].text, None, 0.0, f"OCR read {texts}, none of which is a length")
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
    sure_alone = (
        not others and ocr.confidence >= 0.9 and label.confidence == 1.0 and _glyphs_match(ocr.text, glyphs)
    )
    if len(agreeing) < 2 and not sure_alone:
        # One read is trusted alone only when tesseract is sure of an exact, usual label with the
        # right glyph count and no other read contradicts it.
        confidence *= 0.8
        notes.append(f"only one of {len(reads)} OCR reads gave this value")
    if others:
        confidence *= 0.5
        notes.append(f"OCR reads disagree ({', '.join(repr(o.text) for o, _ in parsed)})")
    if not _glyphs_match(ocr.text, glyphs):
        confidence *= 0.9
        notes.append(f"{'/'.join(map(str, sorted(glyphs)))} glyphs seen but {ocr.text!r} has a different number of characters")
    # Consensus: tesseract's own confidence is low on short non-words such as "1um".
    # When the reads agree on a round value, no dissenting read is a plausible round
    # value, and the character count matches the glyphs seen, the consensus is trusted.
    usual = "not a usual" not in label.note
    # A rival is another round value read as well: by two reads, or by one when only two agree.
    rival_votes = Counter(
        round(o_label.length_nm, 6) for _, o_label in others if o_label.confidence >= 0.6 and "not a usual" not in o_label.note
    )
    rival = any(votes >= 2 or len(agreeing) <= 2 for votes in rival_votes.values())
    if len(agreeing) >= 2 and usual and not rival and _glyphs_match(ocr.text, glyphs):
        cleanest = max(a_label.confidence for _, a_label in agreeing)
        consensus = (0.95 if len(agreeing) >= 3 else 0.85) * cleanest
        if consensus > confidence:
            confidence = consensus
            notes.append(f"{len(agreeing)} of {len(reads)} OCR reads agree and match the glyphs seen")
    return _LabelRead(ocr.text, label.length_nm, confidence, "; ".join(notes), agreeing=len(agreeing))


def read_scale_bar(
    image: np.ndarray, *, min_confidence: float = 0.8, tesseract_cmd: str | None = None
) -> ScaleBarReading:
    """Find a burnt-in scale bar, measure it and read its label.

    Parameters
    ----------
    image : (M, N) or (M, N, 3) ndarray
        The micrograph as exported (gray; RGB is averaged over channels).
    min_confidence : float
        Readings with a lower confidence (0..1) are reported as
        ``"unreadable"`` and carry no pixel size.
    tesseract_cmd : str, optional
        tesseract executable; ``/usr/bin/tesseract`` or ``tesseract`` on
        ``PATH`` by default.

    Returns
    -------
    ScaleBarReading
        ``pixel_size_nm = length_nm / bar_length_px`` when ``status == "ok"``.

    Raises
    ------
    ValueError
        If ``image`` is not a finite 2-D (or RGB) numeric array of at least 32x32 px,
        or ``min_confidence`` is outside 0..1.

    Notes
    -----
    Never returns a pixel size it is not confident about: a missing tesseract,
    an unparseable label, a low OCR confidence or an implausible pixel size
    all give ``"unreadable"`` with the reason spelled out.
    """
    if not 0.0 <= float(min_confidence) <= 1.0:
        raise ValueError(f"`min_confidence` must be between 0 and 1, got {min_confidence!r}")
    gray = _as_gray(image)
    candidates = _bar_candidates(gray)
    if not candidates:
        return ScaleBarReading(
            status="not found",
            pixel_size_nm=None,
            bar_length_px=None,
            length_nm=None,
            label_text="",
            confidence=0.0,
            bar_box=None,
            label_box=None,
            reason="no scale bar found (looked for a long, thin, uniform dark or light horizontal bar); "
            "give the pixel size with --pixel-size-nm or draw a line over the bar",
        )

    attempts: list[tuple[_Bar, _BarBright, Box, int]] = []
    for bar, f, threshold in candidates[:6]:
        avoid = [other.box for other, _, _ in candidates if other is not bar and other.length >= 0.5 * bar.length]
        for box, glyphs in _label_boxes(f, threshold, bar, avoid)[:2]:
            attempts.append((bar, f, box, glyphs))
    best_bar, best_f, _ = candidates[0]
    problems: list[str] = []
    best_unreadable: ScaleBarReading | None = None
    budget = _Budget(MAX_TESSERACT_CALLS)
    for bar, f, box, glyphs in attempts[:MAX_OCR_ATTEMPTS]:
        try:
            read = _read_label(
                f, bar, box, glyphs, min_confidence=min_confidence, tesseract_cmd=tesseract_cmd, budget=budget
            )
        except TesseractError as error:
            length_px = _measure_length(f, bar)
            return _unreadable(
                length_px, bar.box, box,
                f"a scale bar of {length_px:.1f} px was found but its label could not be read: {error}",
            )
        if read.length_nm is None:
            problems.append(read.note)
            continue
        length_px = _measure_length(f, bar)
        pixel_size = read.length_nm / length_px
        reading = ScaleBarReading(
            status="ok",
            pixel_size_nm=pixel_size,
            bar_length_px=length_px,
            length_nm=read.length_nm,
            label_text=read.text,
            confidence=read.confidence,
            bar_box=bar.box,
            label_box=box,
            reason=f"{read.length_nm:g} nm over {length_px:.2f} px" + (f" ({read.note})" if read.note else ""),
        )
        low, high = PLAUSIBLE_PIXEL_SIZE_NM
        if not low <= pixel_size <= high:
            problems.append(f"label {read.text!r} gives an implausible {pixel_size:.4g} nm/px")
            reading.status, reading.pixel_size_nm = "unreadable", None
            reading.reason = f"label {read.text!r} over {length_px:.1f} px gives an implausible {pixel_size:.4g} nm/px"
        elif read.confidence < min_confidence:
            problems.append(f"label {read.text!r} read with confidence {read.confidence:.2f} < {min_confidence:.2f}")
            reading.status, reading.pixel_size_nm = "unreadable", None
            reading.reason = (
                f"label read as {read.text!r} ({read.length_nm:g} nm) but with confidence {read.confidence:.2f} "
                f"below {min_confidence:.2f}" + (f" ({read.note})" if read.note else "") + "; check it and give --pixel-size-nm"
            )
        if reading.status == "ok":
            logger.info("scale bar: %s -> %.4f nm/px (confidence %.2f)", reading.reason, pixel_size, read.confidence)
            return reading
        if best_unreadable is None:
            best_unreadable = reading
    if best_unreadable is not None:
        return best_unreadable
    length_px = _measure_length(best_f, best_bar)
    detail = "; ".join(problems) if problems else "no text was found next to it"
    return _unreadable(
        length_px, best_bar.box, attempts[0][2] if attempts else None,
        f"a scale bar of {length_px:.1f} px was found but its label could not be read ({detail}); "
        "give the pixel size with --pixel-size-nm or draw a line over the bar",
    )


def _unreadable(length_px: float, bar_box: Box, label_box: Box | None, reason: str) -> ScaleBarReading:
    """A reading for a bar that was measured but whose label cannot be trusted."""
    return ScaleBarReading(
        status="unreadable",
        pixel_size_nm=None,
        bar_length_px=length_px,
        length_nm=None,
        label_text="",
        confidence=0.0,
        bar_box=bar_box,
        label_box=label_box,
        reason=reason,
    )


def calibration_from_line(length_px: float, length_nm: float) -> float:
    """Pixel size from a line the user drew over a scale bar of known length.

    Parameters
    ----------
    length_px : float
        Length of the drawn line in pixels (> 0).
    length_nm : float
        Length the scale bar stands for, in nanometres (> 0).

    Returns
    -------
    float
        Pixel edge length in nanometres, ``length_nm / length_px``.

    Raises
    ------
    ValueError
        If either value is not a positive finite number.

    Examples
    --------
    >>> calibration_from_line(801.0, 500.0)
    0.6242197253433208
    """
    for name, value in (("length_px", length_px), ("length_nm", length_nm)):
        try:
            number = float(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`{name}` must be a number, got {value!r}") from error
        if not np.isfinite(number) or number <= 0:
            raise ValueError(
                f"`{name}` must be a positive finite number, got {value!r}; "
                "draw the line along the whole bar and type the length printed on its label"
            )
    if float(length_px) < 2:
        raise ValueError(f"`length_px` = {length_px!r} is too short to calibrate from; draw the line along the whole bar")
    return float(length_nm) / float(length_px)


def locate_scale_bar(image: np.ndarray) -> tuple[Box | None, list[Box]]:
    """Where the scale bar and its label are, without reading the label.

    The most bar-like candidate and the two text boxes next to it that
    :func:`read_scale_bar` would try to read first (nearest first; a speck of
    debris beside the bar can come before the real label, so both are kept).
    Costs no tesseract run, which is most of :func:`read_scale_bar`'s time: a
    mask needs where the label is, not what it says.

    Parameters
    ----------
    image : (M, N) or (M, N, 3) ndarray
        The micrograph.

    Returns
    -------
    bar_box : (row0, col0, row1, col1) or None
        Pixel box (end-exclusive) of the bar; None when no bar is found.
    label_boxes : list of (row0, col0, row1, col1)
        Up to two candidate label boxes, nearest first (empty when none).
    """
    return _locate_in_gray(_as_gray(image))


def _locate_in_gray(gray: np.ndarray) -> tuple[Box | None, list[Box]]:
    """:func:`locate_scale_bar` on an image already through :func:`_as_gray`."""
    candidates = _bar_candidates(gray)
    if not candidates:
        return None, []
    bar, f, threshold = candidates[0]
    avoid = [other.box for other, _, _ in candidates if other is not bar and other.length >= 0.5 * bar.length]
    return bar.box, [box for box, _ in _label_boxes(f, threshold, bar, avoid)[:2]]


def annotation_mask(
    image: np.ndarray, *, reading: ScaleBarReading | None = None, dilation_px: int = 5
) -> np.ndarray:
    """Mask of burnt-in annotations to exclude from analysis.

    Covers the scale bar, its label, a flat box behind them (if any) and an
    instrument data strip along the bottom or top edge (if any).

    Parameters
    ----------
    image : (M, N) or (M, N, 3) ndarray
        The micrograph.
    reading : ScaleBarReading, optional
        A reading of this image from :func:`read_scale_bar`. When not given,
        the bar and its label are located by :func:`locate_scale_bar` (no OCR:
        a mask needs where the label is, not what it says).
    dilation_px : int
        Margin added around every masked box, in pixels (>= 0).

    Returns
    -------
    (M, N) ndarray of bool
        True on annotation pixels.
    """
    if int(dilation_px) != dilation_px or dilation_px < 0:
        raise ValueError(f"`dilation_px` must be a non-negative integer, got {dilation_px!r}")
    gray = _as_gray(image)
    if reading is None:
        bar_box, label_boxes = _locate_in_gray(gray)
    else:
        bar_box = reading.bar_box
        label_boxes = [reading.label_box] if reading.label_box is not None else []
    height, width = gray.shape
    mask = np.zeros((height, width), bool)
    boxes: list[Box] = []
    if bar_box is not None:
        group = bar_box
        for lb in label_boxes:
            group = (min(group[0], lb[0]), min(group[1], lb[1]), max(group[2], lb[2]), max(group[3], lb[3]))
            boxes.append(lb)
        boxes.append(bar_box)
        boxes.append(grow_backing_box(gray, group))
    strip = find_data_strip(gray)
    if strip is not None:
        boxes.append(strip)
    d = int(dilation_px)
    for r0, c0, r1, c1 in boxes:
        mask[max(r0 - d, 0) : min(r1 + d, height), max(c0 - d, 0) : min(c1 + d, width)] = True
    return mask
