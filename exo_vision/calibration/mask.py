"""The mask of burnt-in annotations (scale bar, its label, the box behind them, a data strip)."""

from __future__ import annotations

import numpy as np

from exo_vision.calibration.annotations import find_data_strip, grow_backing_box
from exo_vision.calibration.bar import MIN_IMAGE_SIDE_PX, Box, as_gray, bar_candidates
from exo_vision.calibration.label import label_boxes
from exo_vision.calibration.orientation import box_to_image, is_vertical, transposed_box, view
from exo_vision.calibration.scalebar import ScaleBarReading, read_scale_bar

#: Margin added around every masked box, px: the antialiased edge of the drawn bar and letters.
DILATION_PX = 5


def locate_scale_bar(image: np.ndarray) -> tuple[Box | None, list[Box]]:
    """Where the scale bar and its label are, without reading the label.

    The most bar-like candidate and the two text boxes next to it that
    :func:`read_scale_bar` would try to read first (nearest first; a speck of
    debris beside the bar can come before the real label, so both are kept).
    Costs no tesseract run (most of :func:`read_scale_bar`'s time: a mask
    needs where the label is, not what it says) unless a vertical line is more
    bar-like than every horizontal one: it is the bar only if its label reads
    (see :func:`locate_in_gray`).

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
    return locate_in_gray(as_gray(image))


def locate_in_gray(gray: np.ndarray) -> tuple[Box | None, list[Box]]:
    """:func:`locate_scale_bar` on an image already through :func:`as_gray`.

    The most bar-like horizontal candidate is the bar. A vertical candidate
    (a micrograph stored turned by 90 degrees) replaces it only when it is
    more bar-like and confirmed as a scale bar: :func:`read_scale_bar` reads
    its label (a length, OCR in a turned view) and finds no horizontal bar
    with a readable label. A stain streak, a filament or a ruler of ticks has
    no label and is never taken for the bar. The OCR runs only in that case.
    Boxes are in ``gray``'s own pixels either way.
    """
    bar_box, labels, score = _locate_horizontal(gray)
    turned_box, turned_labels, turned_score = _locate_horizontal(view(gray, "transpose"))
    if turned_box is None or (bar_box is not None and turned_score <= score):
        return bar_box, labels
    reading = read_scale_bar(gray)
    if reading.status != "ok" or not is_vertical(reading.bar_box) or reading.bar_box is None:
        return bar_box, labels
    shape = gray.shape
    located = box_to_image(turned_box, "transpose", shape)
    if not _overlap(located, reading.bar_box):  # the confirmed bar is another vertical line than the best one
        return reading.bar_box, [] if reading.label_box is None else [reading.label_box]
    return located, [box_to_image(b, "transpose", shape) for b in turned_labels]


def _overlap(a: Box, b: Box) -> bool:
    """Whether two half-open boxes share a pixel."""
    a_top, a_left, a_bottom, a_right = a
    b_top, b_left, b_bottom, b_right = b
    return a_top < b_bottom and b_top < a_bottom and a_left < b_right and b_left < a_right


def _locate_horizontal(gray: np.ndarray) -> tuple[Box | None, list[Box], float]:
    """The best horizontal bar of ``gray``, its two nearest label boxes and its bar score (0 when none)."""
    candidates = bar_candidates(gray)
    if not candidates:
        return None, [], 0.0
    bar, f, threshold = candidates[0]
    avoid = [other.box for other, _, _ in candidates if other is not bar and other.length >= 0.5 * bar.length]
    return bar.box, [box for box, _ in label_boxes(f, threshold, bar, avoid)[:2]], bar.score


def annotation_mask(
    image: np.ndarray, *, reading: ScaleBarReading | None = None, dilation_px: int = DILATION_PX
) -> np.ndarray:
    """Mask of burnt-in annotations to exclude from analysis.

    Covers the scale bar (drawn horizontally or, on a micrograph stored turned
    by 90 degrees, vertically), its label, a flat box behind them (if any) and
    an instrument data strip along the bottom or top edge (if any).

    Parameters
    ----------
    image : (M, N) or (M, N, 3) ndarray
        The micrograph.
    reading : ScaleBarReading, optional
        A reading of this image from :func:`read_scale_bar`. When not given,
        the bar and its label are located by :func:`locate_scale_bar` (no OCR
        unless a vertical line has to be confirmed as the bar by its label).
        A vertical bar box of a reading that is not ``"ok"`` is not masked.
    dilation_px : int
        Margin added around every masked box, in pixels (>= 0).

    Returns
    -------
    (M, N) ndarray of bool
        True on annotation pixels.
    """
    if int(dilation_px) != dilation_px or dilation_px < 0:
        raise ValueError(f"`dilation_px` must be a non-negative integer, got {dilation_px!r}")
    array = np.asarray(image)
    if array.ndim >= 2 and min(array.shape[:2]) < MIN_IMAGE_SIDE_PX:  # a crop too small to hold a scale bar
        return np.zeros(array.shape[:2], bool)
    gray = as_gray(image)
    if reading is None:
        bar_box, label_found = locate_in_gray(gray)
    else:
        bar_box = reading.bar_box
        label_found = [reading.label_box] if reading.label_box is not None else []
        if is_vertical(bar_box) and reading.status != "ok":  # a vertical line is a bar only when its label reads
            bar_box, label_found = None, []
    height, width = gray.shape
    mask = np.zeros((height, width), bool)
    if bar_box is not None:
        if is_vertical(bar_box):  # a bar drawn vertically: its backing box is grown in the transposed image
            turned = _bar_label_boxes(
                view(gray, "transpose"), transposed_box(bar_box), map(transposed_box, label_found)
            )
            _paint(mask.T, turned, int(dilation_px))
        else:
            _paint(mask, _bar_label_boxes(gray, bar_box, label_found), int(dilation_px))
    strip = find_data_strip(gray)
    if strip is not None:
        _paint(mask, [strip], int(dilation_px))
    return mask


def _bar_label_boxes(gray: np.ndarray, bar_box: Box, label_found) -> list[Box]:
    """The bar, its label boxes and the flat box grown behind them, for a horizontal bar of ``gray``."""
    group = bar_box
    boxes: list[Box] = []
    for lb in label_found:
        top, left, bottom, right = group
        label_top, label_left, label_bottom, label_right = lb
        group = (min(top, label_top), min(left, label_left), max(bottom, label_bottom), max(right, label_right))
        boxes.append(lb)
    boxes.append(bar_box)
    boxes.append(grow_backing_box(gray, group))
    return boxes


def _paint(mask: np.ndarray, boxes: list[Box], d: int) -> None:
    """Set every box of ``mask``, widened by ``d`` px on each side and clipped to the image, to True (in place)."""
    height, width = mask.shape
    for r0, c0, r1, c1 in boxes:
        mask[max(r0 - d, 0) : min(r1 + d, height), max(c0 - d, 0) : min(c1 + d, width)] = True
