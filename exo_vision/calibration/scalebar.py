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
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from exo_vision.calibration.annotations import find_data_strip, grow_backing_box
from exo_vision.calibration.ocr import TesseractError, parse_scale_label, prepare_label_crop, run_tesseract

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
Status = Literal["ok", "unreadable", "not found"]

#: Pixel sizes outside this range (nm/px) are not believed for a TEM image.
PLAUSIBLE_PIXEL_SIZE_NM = (0.005, 200.0)
#: How many (bar, label) pairs are sent to tesseract at most.
MAX_OCR_ATTEMPTS = 4


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
    gray = array.astype(np.float32)
    if not np.all(np.isfinite(gray)):
        raise ValueError("`image` contains NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    return gray


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


def _bar_candidates(gray: np.ndarray) -> list[tuple[_Bar, np.ndarray, float]]:
    """Find bar-like slabs in both polarities.

    Returns a list of (bar, f, threshold) where ``f`` is the image transformed so
    that the bar is bright and ``threshold`` separates bar-coloured pixels.
    """
    height, width = gray.shape
    sample = gray[:: max(1, height // 256), :: max(1, width // 256)]
    median = float(np.median(sample))
    lo, hi = float(gray.min()), float(gray.max())
    if hi - lo <= 0:
        return []
    min_length = max(12, int(0.02 * width))
    max_length = int(0.7 * width)
    found: list[tuple[_Bar, np.ndarray, float]] = []
    for polarity in ("dark", "light"):
        f = (lo + hi) - gray if polarity == "dark" else gray
        extreme = hi
        if extreme - median < 0.2 * (hi - lo):
            continue
        threshold = extreme - 0.4 * (extreme - median)
        mask = f >= threshold
        rows, starts, ends = _long_runs(mask, min_length, max_length)
        if rows.size == 0 or rows.size > 200_000:
            continue
        for row0, row1, col0, col1 in _group_runs(rows, starts, ends):
            thickness = row1 - row0
            length = col1 - col0
            if thickness < 2 or length < 5 * thickness:
                continue
            # The slab must stand out from the rows just above and below it.
            if row0 > 0 and mask[row0 - 1, col0:col1].mean() > 0.5:
                continue
            if row1 < height and mask[row1, col0:col1].mean() > 0.5:
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
            edge_distance = min(row0, height - row1) / height
            score = contrast * (1.0 - edge_distance) * np.sqrt(length / width)
            bar = _Bar(polarity, row0, row1, col0, col1, contrast, float(score))
            found.append((bar, f, threshold))
    found.sort(key=lambda item: -item[0].score)
    return found


def _measure_length(f: np.ndarray, bar: _Bar) -> float:
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
        background = float(np.median(outside)) if outside.size else float(f.min())
        span = level - background
        if span <= 0:
            return float(bar.length)
        length += float(np.clip((part - background) / span, 0.0, 1.0).sum())
    return length


def _label_boxes(f: np.ndarray, threshold: float, bar: _Bar) -> list[Box]:
    """Candidate label boxes near a bar, nearest first."""
    height, width = f.shape
    length, thickness = bar.length, bar.thickness
    reach = int(max(0.6 * length, 12 * thickness, 0.06 * min(height, width)))
    r0, r1 = max(bar.row0 - reach, 0), min(bar.row1 + reach, height)
    c0, c1 = max(bar.col0 - length // 2 - reach // 2, 0), min(bar.col1 + length // 2 + reach // 2, width)
    window = (f[r0:r1, c0:c1] >= threshold).astype(np.uint8)
    # Blank the bar itself (and a pixel around it).
    window[max(bar.row0 - 1 - r0, 0) : bar.row1 + 1 - r0, max(bar.col0 - 2 - c0, 0) : bar.col1 + 2 - c0] = 0
    count, _, stats, _ = cv2.connectedComponentsWithStats(window, connectivity=8)
    comps = []
    for x, y, w, h, area in stats[1:count]:
        if area < 4 or h > reach or w > 2 * length:
            continue
        comps.append((int(y) + r0, int(x) + c0, int(y + h) + r0, int(x + w) + c0))
    if not comps:
        return []
    # Group into text lines by vertical overlap.
    comps.sort(key=lambda b: (b[0] + b[2]) / 2)
    lines: list[list[Box]] = []
    for comp in sorted(comps, key=lambda b: -(b[2] - b[0])):
        for line in lines:
            top = min(b[0] for b in line)
            bottom = max(b[2] for b in line)
            overlap = min(bottom, comp[2]) - max(top, comp[0])
            if overlap >= 0.5 * min(comp[2] - comp[0], bottom - top):
                line.append(comp)
                break
        else:
            lines.append([comp])
    boxes: list[tuple[float, Box]] = []
    centre = (bar.col0 + bar.col1) / 2
    for line in lines:
        line.sort(key=lambda b: b[1])
        line_height = max(b[2] - b[0] for b in line)
        if line_height < 6:
            continue
        # Split the line into chunks at wide gaps; keep the chunk nearest the bar's centre.
        chunks: list[list[Box]] = [[line[0]]]
        for comp in line[1:]:
            if comp[1] - max(b[3] for b in chunks[-1]) > 2.0 * line_height:
                chunks.append([comp])
            else:
                chunks[-1].append(comp)
        for chunk in chunks:
            box = (min(b[0] for b in chunk), min(b[1] for b in chunk), max(b[2] for b in chunk), max(b[3] for b in chunk))
            box_height, box_width = box[2] - box[0], box[3] - box[1]
            if box_width < 0.8 * box_height or box_height < 6:
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
            boxes.append((float(distance), box))
    boxes.sort(key=lambda item: item[0])
    return [box for _, box in boxes]


def _ocr_label(f: np.ndarray, bar: _Bar, box: Box, tesseract_cmd: str | None):
    height, width = f.shape
    pad = max(2, int(round(0.15 * (box[2] - box[0]))))
    r0, r1 = max(box[0] - pad, 0), min(box[2] + pad, height)
    c0, c1 = max(box[1] - pad, 0), min(box[3] + pad, width)
    if box[2] <= bar.row0:
        r1 = min(r1, bar.row0 - 1)
    elif box[0] >= bar.row1:
        r0 = max(r0, bar.row1 + 1)
    binary = prepare_label_crop(f[r0:r1, c0:c1], text_is_bright=True)
    return run_tesseract(binary, tesseract_cmd=tesseract_cmd)


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

    attempts: list[tuple[_Bar, np.ndarray, float, Box]] = []
    for bar, f, threshold in candidates[:6]:
        for box in _label_boxes(f, threshold, bar)[:2]:
            attempts.append((bar, f, threshold, box))
    best_bar, best_f, _ = candidates[0]
    problems: list[str] = []
    best_unreadable: ScaleBarReading | None = None
    for bar, f, _, box in attempts[:MAX_OCR_ATTEMPTS]:
        try:
            ocr = _ocr_label(f, bar, box, tesseract_cmd)
        except TesseractError as error:
            length_px = _measure_length(f, bar)
            return ScaleBarReading(
                status="unreadable",
                pixel_size_nm=None,
                bar_length_px=length_px,
                length_nm=None,
                label_text="",
                confidence=0.0,
                bar_box=bar.box,
                label_box=box,
                reason=f"a scale bar of {length_px:.1f} px was found but its label could not be read: {error}",
            )
        label = parse_scale_label(ocr.text)
        if label is None:
            problems.append(f"label {ocr.text!r} is not a length")
            continue
        length_px = _measure_length(f, bar)
        confidence = ocr.confidence * label.confidence
        pixel_size = label.length_nm / length_px
        reading = ScaleBarReading(
            status="ok",
            pixel_size_nm=pixel_size,
            bar_length_px=length_px,
            length_nm=label.length_nm,
            label_text=ocr.text,
            confidence=confidence,
            bar_box=bar.box,
            label_box=box,
            reason=f"{label.length_nm:g} nm over {length_px:.2f} px" + (f" ({label.note})" if label.note else ""),
        )
        low, high = PLAUSIBLE_PIXEL_SIZE_NM
        if not low <= pixel_size <= high:
            problems.append(f"label {ocr.text!r} gives an implausible {pixel_size:.4g} nm/px")
            reading.status, reading.pixel_size_nm = "unreadable", None
            reading.reason = f"label {ocr.text!r} over {length_px:.1f} px gives an implausible {pixel_size:.4g} nm/px"
        elif confidence < min_confidence:
            problems.append(f"label {ocr.text!r} read with confidence {confidence:.2f} < {min_confidence:.2f}")
            reading.status, reading.pixel_size_nm = "unreadable", None
            reading.reason = (
                f"label read as {ocr.text!r} ({label.length_nm:g} nm) but with confidence {confidence:.2f} "
                f"below {min_confidence:.2f}; check it and give --pixel-size-nm"
            )
        if reading.status == "ok":
            logger.info("scale bar: %s -> %.4f nm/px (confidence %.2f)", reading.reason, pixel_size, confidence)
            return reading
        if best_unreadable is None:
            best_unreadable = reading
    if best_unreadable is not None:
        return best_unreadable
    length_px = _measure_length(best_f, best_bar)
    detail = "; ".join(problems) if problems else "no text was found next to it"
    return ScaleBarReading(
        status="unreadable",
        pixel_size_nm=None,
        bar_length_px=length_px,
        length_nm=None,
        label_text="",
        confidence=0.0,
        bar_box=best_bar.box,
        label_box=attempts[0][3] if attempts else None,
        reason=f"a scale bar of {length_px:.1f} px was found but its label could not be read ({detail}); "
        "give the pixel size with --pixel-size-nm or draw a line over the bar",
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
        A reading of this image from :func:`read_scale_bar`; computed (with
        OCR) when not given.
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
        reading = read_scale_bar(gray)
    height, width = gray.shape
    mask = np.zeros((height, width), bool)
    boxes: list[Box] = []
    if reading.bar_box is not None:
        group = reading.bar_box
        if reading.label_box is not None:
            lb = reading.label_box
            group = (min(group[0], lb[0]), min(group[1], lb[1]), max(group[2], lb[2]), max(group[3], lb[3]))
            boxes.append(lb)
        boxes.append(reading.bar_box)
        boxes.append(grow_backing_box(gray, group))
    strip = find_data_strip(gray)
    if strip is not None:
        boxes.append(strip)
    d = int(dilation_px)
    for r0, c0, r1, c1 in boxes:
        mask[max(r0 - d, 0) : min(r1 + d, height), max(c0 - d, 0) : min(c1 + d, width)] = True
    return mask
