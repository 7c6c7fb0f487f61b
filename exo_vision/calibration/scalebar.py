"""Reading the pixel size from a burnt-in scale bar, and masking annotations out.

Most TEM images that circulate are PNG/JPEG/TIFF exports with no calibration
tags but a scale bar drawn into the pixels. :func:`read_scale_bar` finds the bar
(a long, thin, uniform dark or light horizontal component), measures its length
to sub-pixel precision from the edge profiles at both ends, finds the label
next to it and reads it with tesseract. It never guesses: when the label cannot
be read with confidence the reading says ``"unreadable"`` and carries no pixel
size. The bar is found and measured in :mod:`.bar`, the label found and read in
:mod:`.label`; :mod:`.mask` builds the mask of burnt-in annotations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from exo_vision.calibration.bar import Bar, BarBright, Box, as_gray, bar_candidates, measure_bar_length
from exo_vision.calibration.label import (
    MAX_OCR_ATTEMPTS,
    MAX_TESSERACT_CALLS,
    OcrBudget,
    end_ticks,
    label_boxes,
    outline_of,
    read_label,
)
from exo_vision.calibration.ocr import TesseractError
from exo_vision.calibration.orientation import TURNED_FRAMES, box_to_image, view

logger = logging.getLogger(__name__)

Status = Literal["ok", "unreadable", "not found"]

#: Pixel sizes outside this range (nm/px) are not believed for a TEM image.
PLAUSIBLE_PIXEL_SIZE_NM = (0.005, 200.0)
#: A label read with less confidence than this (0-1) leaves the reading "unreadable".
MIN_CONFIDENCE = 0.8
#: Labels are looked for next to at most this many bar candidates, the most bar-like first.
MAX_BARS_TRIED = 6


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


def _not_found() -> ScaleBarReading:
    """The reading of an image without a scale bar."""
    return ScaleBarReading(
        status="not found",
        pixel_size_nm=None,
        bar_length_px=None,
        length_nm=None,
        label_text="",
        confidence=0.0,
        bar_box=None,
        label_box=None,
        reason="no scale bar found (looked for a long, thin, uniform dark or light bar, horizontal or vertical); "
        "give the pixel size with --pixel-size-nm or draw a line over the bar",
    )


def read_scale_bar(
    image: np.ndarray, *, min_confidence: float = MIN_CONFIDENCE, tesseract_cmd: str | None = None
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
    gray = as_gray(image)
    candidates = _bars(gray)
    reading = _read_candidates(candidates, min_confidence, tesseract_cmd) if candidates else _not_found()
    if reading.status == "ok":
        return reading
    # A micrograph stored turned by 90 degrees (or transposed) has its bar vertical. A vertical line is taken
    # for the bar only when its label reads in a turned view (a stain streak, a filament or a ruler of ticks
    # has no label); otherwise the horizontal reading (unreadable or not found) stands.
    vertical = read_vertical_bar(gray, candidates, min_confidence=min_confidence, tesseract_cmd=tesseract_cmd)
    return vertical if vertical is not None else reading


def read_vertical_bar(
    gray: np.ndarray,
    horizontal: list[tuple[Bar, BarBright, float]],
    *,
    min_confidence: float = MIN_CONFIDENCE,
    tesseract_cmd: str | None = None,
) -> ScaleBarReading | None:
    """A confident reading of a vertical scale bar of ``gray``, or None.

    Read only when a vertical candidate is more bar-like than the best
    horizontal one (``horizontal``, from :func:`_bars`); its label is read in
    the turned views (:data:`~.orientation.TURNED_FRAMES`).

    Parameters
    ----------
    gray : (M, N) ndarray
        The micrograph through :func:`as_gray`.
    horizontal : list
        The horizontal bar candidates of ``gray``, best first (may be empty).
    min_confidence : float
        Minimum OCR confidence (0..1) for the label.
    tesseract_cmd : str, optional
        tesseract executable.

    Returns
    -------
    ScaleBarReading or None
        The reading (``status == "ok"``, boxes in ``gray``'s own pixels) when
        a vertical bar's label reads as a length with a plausible pixel size;
        None otherwise (no vertical candidate, or none with a readable label).
    """
    best = horizontal[0][0].score if horizontal else 0.0
    turned = _bars(view(gray, "transpose"))
    if not turned or turned[0][0].score <= best:
        return None
    for frame in TURNED_FRAMES:
        candidates = turned if frame == "transpose" else _bars(view(gray, frame))
        found = _read_candidates(candidates, min_confidence, tesseract_cmd)
        if found.status == "ok":
            found.bar_box = None if found.bar_box is None else box_to_image(found.bar_box, frame, gray.shape)
            found.label_box = None if found.label_box is None else box_to_image(found.label_box, frame, gray.shape)
            return found
    return None


def _read_candidates(
    candidates: list[tuple[Bar, BarBright, float]], min_confidence: float, tesseract_cmd: str | None
) -> ScaleBarReading:
    """Read the labels next to the (horizontal) bar candidates, best first: the first confident reading, else
    the best unreadable one; boxes in the pixels the candidates were found in."""
    if not candidates:
        return _not_found()

    attempts = _label_attempts(candidates)
    best_bar, best_f, _ = candidates[0]
    problems: list[str] = []
    best_unreadable: ScaleBarReading | None = None
    budget = OcrBudget(MAX_TESSERACT_CALLS)
    for bar, f, box, glyphs, ticks in attempts[:MAX_OCR_ATTEMPTS]:
        try:
            read = read_label(
                f,
                bar,
                box,
                glyphs,
                min_confidence=min_confidence,
                tesseract_cmd=tesseract_cmd,
                budget=budget,
                ticks=ticks,
            )
        except TesseractError as error:
            length_px = measure_bar_length(f, bar)
            return _unreadable(
                length_px,
                bar.box,
                box,
                f"a scale bar of {length_px:.1f} px was found but its label could not be read: {error}",
            )
        if read.length_nm is None:
            problems.append(read.note)
            continue
        length_px = measure_bar_length(f, bar)
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
                f"below {min_confidence:.2f}"
                + (f" ({read.note})" if read.note else "")
                + "; check it and give --pixel-size-nm"
            )
        if reading.status == "ok":
            logger.info("scale bar: %s -> %.4f nm/px (confidence %.2f)", reading.reason, pixel_size, read.confidence)
            return reading
        if best_unreadable is None:
            best_unreadable = reading
    if best_unreadable is not None:
        return best_unreadable
    length_px = measure_bar_length(best_f, best_bar)
    detail = "; ".join(problems) if problems else "no text was found next to it"
    return _unreadable(
        length_px,
        best_bar.box,
        attempts[0][2] if attempts else None,
        f"a scale bar of {length_px:.1f} px was found but its label could not be read ({detail}); "
        "give the pixel size with --pixel-size-nm or draw a line over the bar",
    )


def _bars(gray: np.ndarray) -> list:
    """The bar candidates of ``gray`` (:func:`bar_candidates`) less the lines of a bar's outline: measured, they
    gave a bar framed in another colour twice the frame's width too long."""
    candidates = bar_candidates(gray)
    return [c for c in candidates if not any(outline_of(c[0], o[0]) for o in candidates if o is not c)]


def _label_attempts(
    candidates: list[tuple[Bar, BarBright, float]],
) -> list[tuple[Bar, BarBright, Box, int, tuple[Box, ...]]]:
    """(bar, bar-is-bright image, label box, glyph count, end ticks) to try, best bar first, two label boxes
    per bar.

    A label box may not cover another bar-like candidate at least half as long.
    """
    attempts: list[tuple[Bar, BarBright, Box, int, tuple[Box, ...]]] = []
    for bar, f, threshold in candidates[:MAX_BARS_TRIED]:
        avoid = [other.box for other, _, _ in candidates if other is not bar and other.length >= 0.5 * bar.length]
        rivals = [other for other, _, _ in candidates if other is not bar]
        ticks = end_ticks(f, threshold, bar)
        for box, glyphs in label_boxes(f, threshold, bar, avoid, rivals, ticks)[:2]:
            attempts.append((bar, f, box, glyphs, ticks))
    return attempts


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
        raise ValueError(
            f"`length_px` = {length_px!r} is too short to calibrate from; draw the line along the whole bar"
        )
    return float(length_nm) / float(length_px)
