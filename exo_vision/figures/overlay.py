"""Outline overlay of a segmented micrograph: outlines coloured by morphology,
vesicle ids matching the table, a drawn scale bar.

Rendered with OpenCV on arrays (fast for 16 MP images); no matplotlib.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from exo_vision.calibration.mask import annotation_mask
from exo_vision.figures.style import MORPHOLOGY_RGB
from exo_vision.measure.tables import MISSING_COLUMN, cut_by_missing_flags

#: Outline colour of a vesicle with no (or an unknown) morphology, RGB.
OTHER_RGB = (200, 200, 200)
#: Legend entry (and morphology stand-in) of vesicles outlined but left out of the statistics.
NOT_COUNTED = "edge: not counted"
#: That legend entry when some of those vesicles touch pixels without a value (``touches_missing``: NaN or
#: infinite padding, a masked-out area) rather than the image edge.
NOT_COUNTED_MISSING = "edge or no-value pixels: not counted"
#: Outline colour of those vesicles, RGB (teal: apart from the morphology colours and from grey levels).
NOT_COUNTED_RGB = (0, 200, 160)
#: Candidate scale-bar lengths in nm; the one nearest a fifth of the width is drawn.
NICE_LENGTHS_NM = (1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000)


def to_uint8(image: np.ndarray, *, low_percentile: float = 0.5, high_percentile: float = 99.5) -> np.ndarray:
    """Contrast-stretch a grey or RGB image to uint8 between two percentiles.

    Parameters
    ----------
    image : (M, N) or (M, N, 3) ndarray
        Any numeric dtype.
    low_percentile, high_percentile : float
        Percentiles mapped to 0 and 255 (estimated on at most ~1e6 pixels).

    Returns
    -------
    (M, N) or (M, N, 3) ndarray of uint8
    """
    data = np.asarray(image)
    if data.dtype == np.uint8:
        return data
    flat = data.reshape(-1)
    step = max(1, flat.size // 1_000_000)
    sample = flat[::step].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return np.zeros(data.shape, dtype=np.uint8)
    low, high = np.percentile(sample, [low_percentile, high_percentile])
    if high <= low:
        high = low + 1.0
    scaled = (data.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)


def nice_scale_bar_nm(field_width_nm: float) -> float:
    """The round length (1, 2, 5 x 10^k nm, or 250 nm) nearest a fifth of the field width."""
    target = field_width_nm / 5.0
    return float(min(NICE_LENGTHS_NM, key=lambda v: abs(np.log(v / target))))


def _label_text(length_nm: float) -> str:
    if length_nm >= 1000:
        return f"{length_nm / 1000:g} µm".replace("µ", "u")
    return f"{length_nm:g} nm"


#: Palette layout of the indexed overlay: grey ramp, then the drawing colours.
GREY_LEVELS = 240
_ROUND, _CUP, _IRREGULAR, _OTHER, _TEXT, _WHITE, _BLACK, _NOT_COUNTED = range(GREY_LEVELS, GREY_LEVELS + 8)
_CLASS_INDEX = {"round": _ROUND, "cup": _CUP, "irregular": _IRREGULAR}
_OUTLINE_INDEX = {**_CLASS_INDEX, NOT_COUNTED: _NOT_COUNTED}


def overlay_palette() -> np.ndarray:
    """(256, 3) uint8 RGB palette of :func:`render_overlay_indexed`."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:GREY_LEVELS] = np.round(np.arange(GREY_LEVELS) * 255.0 / (GREY_LEVELS - 1)).astype(np.uint8)[:, None]
    palette[_ROUND] = MORPHOLOGY_RGB["round"]
    palette[_CUP] = MORPHOLOGY_RGB["cup"]
    palette[_IRREGULAR] = MORPHOLOGY_RGB["irregular"]
    palette[_OTHER] = OTHER_RGB
    palette[_TEXT] = (255, 255, 0)
    palette[_WHITE] = (255, 255, 255)
    palette[_BLACK] = (0, 0, 0)
    palette[_NOT_COUNTED] = NOT_COUNTED_RGB
    return palette


def _grey_index(image: np.ndarray) -> np.ndarray:
    """Contrast-stretched grey levels 0..GREY_LEVELS-1 (a lookup table for 8/16-bit data)."""
    data = np.asarray(image)
    if data.ndim == 3:
        data = data[..., :3].mean(axis=2)
    if data.dtype in (np.uint8, np.uint16):
        flat = data.reshape(-1)
        sample = flat[:: max(1, flat.size // 250_000)]
        low, high = np.percentile(sample, [0.5, 99.5])
        high = high if high > low else low + 1
        gain = (GREY_LEVELS - 1) / (high - low)
        if data.dtype == np.uint8:
            ramp = (np.arange(256, dtype=np.float32) - low) * gain
            return cv2.LUT(np.ascontiguousarray(data), np.clip(np.round(ramp), 0, GREY_LEVELS - 1).astype(np.uint8))
        # 16-bit: round((value - low) * gain), saturated to 0..255 by OpenCV's conversion,
        # then capped; twice as fast as gathering from a 65536-entry lookup table
        data = np.ascontiguousarray(data)
        index = cv2.addWeighted(data, gain, data, 0.0, -low * gain, dtype=cv2.CV_8U)
        return cv2.min(index, GREY_LEVELS - 1, dst=index)
    grey = to_uint8(data)
    lut = np.round(np.arange(256) * (GREY_LEVELS - 1) / 255.0).astype(np.uint8)
    return lut[grey]


#: Font of ids, legend and scale-bar label.
TEXT_FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Coverage from which a pixel of rendered text counts as ink (OpenCV 5 smooths the glyphs' edges).
TEXT_INK_COVERAGE = 0.5
#: Printed width (mm) the overlay's text and lines are sized for: a journal's single column.
PRINT_WIDTH_MM = 85.0
#: Smallest font size (pt) of ids, legend and scale-bar label at that width (journals ask for 6-8 pt).
MIN_TEXT_PT = 7.0
#: Height of a digit as a fraction of the font size (Helvetica and DejaVu Sans: 0.72-0.73 em).
DIGIT_HEIGHT_EM = 0.72
#: Millimetres per typographic point.
MM_PER_PT = 25.4 / 72.0
#: Inked height (px) of a digit in :data:`TEXT_FONT` at scale 1 and thickness 1, as OpenCV draws it.
FONT_DIGIT_PX = 20.0
#: Smallest text scale (digits ~8 px tall): below it digits stop being legible on screen.
MIN_TEXT_SCALE = 0.4
#: Stroke thickness of text per unit of text scale (px): digits read bold, not hairline, once printed.
TEXT_STROKE_PER_SCALE = 1.5
#: Thinnest outline (mm) at :data:`PRINT_WIDTH_MM`: about 0.3 pt, above the 0.25 pt journals accept.
OUTLINE_MIN_MM = 0.1
#: Spacing of legend lines, in digit heights.
LEGEND_LINE_SPACING = 1.8


def min_digit_height_px(size_px: int) -> float:
    """Height (px) a digit needs so that it prints at :data:`MIN_TEXT_PT` when the image is 85 mm wide.

    Parameters
    ----------
    size_px : int
        The image's longer side in pixels (printed at :data:`PRINT_WIDTH_MM`; a portrait image printed
        85 mm wide prints its text larger still).

    Returns
    -------
    float
        ``size_px * MIN_TEXT_PT * DIGIT_HEIGHT_EM * MM_PER_PT / PRINT_WIDTH_MM``: 21.3 px at 1024 px,
        63.9 px at 3072 px.
    """
    return float(size_px) * MIN_TEXT_PT * DIGIT_HEIGHT_EM * MM_PER_PT / PRINT_WIDTH_MM


def text_style(size_px: int) -> tuple[float, int]:
    """OpenCV text scale and stroke thickness (px) whose digits are at least :func:`min_digit_height_px` tall.

    Parameters
    ----------
    size_px : int
        The image's longer side in pixels.

    Returns
    -------
    scale : float
        ``cv2.putText`` font scale (at least :data:`MIN_TEXT_SCALE`).
    thickness : int
        Stroke width in pixels.
    """
    scale = max(MIN_TEXT_SCALE, min_digit_height_px(size_px) / FONT_DIGIT_PX)
    return scale, max(1, int(round(scale * TEXT_STROKE_PER_SCALE)))


def outline_width_px(size_px: int) -> int:
    """Outline thickness (px) that prints at least :data:`OUTLINE_MIN_MM` thick when the image is 85 mm wide."""
    return max(1, int(np.ceil(size_px * OUTLINE_MIN_MM / PRINT_WIDTH_MM)))


def _text_box(s: str, org: tuple[int, int], scale: float, thickness: int) -> tuple[int, int, int, int]:
    """``(row0, col0, row1, col1)`` (end exclusive) that :func:`_put_text` inks for digits and letters without
    descenders ``s`` at ``org``, halo included."""
    (w, _), _ = cv2.getTextSize(s, TEXT_FONT, scale, thickness)
    pad = thickness + 2
    return org[1] - int(np.ceil(FONT_DIGIT_PX * scale)) - pad, org[0] - pad, org[1] + pad, org[0] + w + pad


def _put_text(
    canvas: np.ndarray,
    s: str,
    org: tuple[int, int],
    *,
    scale: float,
    thickness: int,
    colour: int | tuple[int, int, int],
    black: int | tuple[int, int, int] = _BLACK,
) -> None:
    """Write ``s`` into ``canvas`` in ``colour`` with a one-pixel ``black`` halo, in whole pixels.

    ``canvas`` is a palette image (``colour`` and ``black`` palette indices) or
    an RGB image (RGB triples). OpenCV 5 draws text with smoothed edges
    whatever the line type; on a palette image those in-between values would
    be other palette entries (other classes' colours) or grey levels. The
    glyphs are therefore drawn in a mask of their own: the pixels they cover
    at least :data:`TEXT_INK_COVERAGE` get ``colour``, their 8 neighbours
    black, so the text reads on light and dark stain alike.
    """
    (w, h), baseline = cv2.getTextSize(s, TEXT_FONT, scale, thickness)
    pad = thickness + 2
    x0, y0 = org[0] - pad, org[1] - h - pad
    x1, y1 = org[0] + w + pad, org[1] + baseline + pad
    r0, c0 = max(y0, 0), max(x0, 0)
    r1, c1 = min(y1, canvas.shape[0]), min(x1, canvas.shape[1])
    if r1 <= r0 or c1 <= c0:
        return
    ink = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.putText(ink, s, (org[0] - x0, org[1] - y0), TEXT_FONT, scale, 255, thickness, cv2.LINE_8)
    ink = (ink >= round(255 * TEXT_INK_COVERAGE)).view(np.uint8)
    halo = cv2.dilate(ink, np.ones((3, 3), np.uint8))
    target = canvas[r0:r1, c0:c1]
    window = np.s_[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
    target[halo[window] > 0] = black
    target[ink[window] > 0] = colour


def _place_id(
    index: np.ndarray,
    busy: np.ndarray,
    labels: np.ndarray,
    s: str,
    centroid: tuple[float, float],
    box: tuple[slice, slice] | None,
    *,
    scale: float,
    thickness: int,
) -> None:
    """Write a vesicle's id where it covers no outline and no other id, and mark its pixels in ``busy``.

    The id goes centred on the centroid when it fits there; otherwise beside
    the vesicle's bounding box (right, left, above, below, then the corners)
    on background that holds no outline, id or other vesicle; when no such
    place exists, on the centroid after all.
    """
    (w, h), _ = cv2.getTextSize(s, TEXT_FONT, scale, thickness)
    ink = FONT_DIGIT_PX * scale  # a digit's inked height: what is centred
    x, y = centroid
    candidates = [(x, y)]
    if box is not None:
        gap = thickness + 3
        right, left = box[1].stop + gap + w / 2, box[1].start - gap - w / 2
        above, below = box[0].start - gap - h / 2, box[0].stop + gap + h / 2
        candidates += [(right, y), (left, y), (x, above), (x, below)]
        candidates += [(right, above), (left, above), (right, below), (left, below)]
    rows, cols = index.shape
    chosen = None
    for k, (cx, cy) in enumerate(candidates):
        org = (int(round(cx - w / 2)), int(round(cy + ink / 2)))
        r0, c0, r1, c1 = _text_box(s, org, scale, thickness)
        if r0 < 0 or c0 < 0 or r1 > rows or c1 > cols or busy[r0:r1, c0:c1].any():
            continue
        if k == 0 or not labels[r0:r1, c0:c1].any():
            chosen = org
            break
    if chosen is None:
        chosen = (int(round(x - w / 2)), int(round(y + ink / 2)))
    r0, c0, r1, c1 = _text_box(s, chosen, scale, thickness)
    busy[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)] = 1
    _put_text(index, s, chosen, scale=scale, thickness=thickness, colour=_TEXT)


def _scale_bar_layout(
    rows: int, cols: int, length_nm: float, pixel_size_nm: float, *, scale: float, thickness: int
) -> tuple[tuple[int, int, int, int], str, tuple[int, int]]:
    """Where :func:`draw_scale_bar` puts the bar and its label on a ``rows`` x ``cols`` canvas.

    Returns
    -------
    bar : (int, int, int, int)
        ``(x0, y0, x1, y1)``: the white bar covers columns ``x0 .. x1 - 1`` and rows ``y0 .. y1 - 1``.
    text : str
        The label.
    org : (int, int)
        ``cv2.putText`` origin (x, y) of the label.
    """
    size = max(rows, cols)
    bar_px = int(round(length_nm / pixel_size_nm))
    margin = max(4, size // 40)
    bar_h = max(2, size // 200)
    x1, y1 = cols - margin, rows - margin
    x0, y0 = max(0, x1 - bar_px), y1 - bar_h
    text = _label_text(length_nm)
    (tw, _), _ = cv2.getTextSize(text, TEXT_FONT, scale * 1.2, thickness)
    org = (max(0, min((x0 + x1) // 2 - tw // 2, cols - tw - margin // 2)), y0 - max(3, bar_h))
    return (x0, y0, x1, y1), text, org


def scale_bar_box(
    shape: tuple[int, int], length_nm: float, pixel_size_nm: float, *, scale: float, thickness: int
) -> tuple[int, int, int, int]:
    """Rectangle holding every pixel :func:`draw_scale_bar` draws on a canvas of ``shape``.

    Parameters
    ----------
    shape : (int, int)
        Rows and columns of the canvas (px).
    length_nm, pixel_size_nm, scale, thickness
        As for :func:`draw_scale_bar` (nm, nm per pixel, text scale, stroke in px).

    Returns
    -------
    (int, int, int, int)
        ``(row0, col0, row1, col1)`` in canvas pixels, end exclusive, clipped
        to the canvas: the bar, its black edge and its label with the label's halo.
    """
    rows, cols = int(shape[0]), int(shape[1])
    (x0, y0, x1, y1), text, org = _scale_bar_layout(
        rows, cols, length_nm, pixel_size_nm, scale=scale, thickness=thickness
    )
    top, left, bottom, right = _text_box(text, org, scale * 1.2, thickness)
    row0, col0 = max(0, min(top, y0 - 1)), max(0, min(left, x0 - 1))
    return row0, col0, min(rows, max(bottom, y1 + 1)), min(cols, max(right, x1 + 1))


def overlay_scale_bar_box(
    shape: tuple[int, int], pixel_size_nm: float, *, scale_bar_nm: float | None = None
) -> tuple[int, int, int, int]:
    """Rectangle of the scale bar :func:`render_overlay_indexed` draws on a micrograph drawn at ``shape``.

    Parameters
    ----------
    shape : (int, int)
        Rows and columns of the micrograph as drawn in the overlay (px; the
        enlarged size when the overlay was drawn enlarged, the legend strip
        below it left out).
    pixel_size_nm : float
        Pixel edge length of the drawn micrograph in nanometres.
    scale_bar_nm : float, optional
        The bar length the overlay was drawn with; by default the one it
        chooses itself (:func:`nice_scale_bar_nm` of the width).

    Returns
    -------
    (int, int, int, int)
        ``(row0, col0, row1, col1)``, end exclusive (:func:`scale_bar_box`).
    """
    rows, cols = int(shape[0]), int(shape[1])
    length_nm = scale_bar_nm if scale_bar_nm is not None else nice_scale_bar_nm(cols * pixel_size_nm)
    scale, thickness = text_style(max(rows, cols))
    return scale_bar_box((rows, cols), length_nm, pixel_size_nm, scale=scale, thickness=thickness)


def draw_scale_bar(
    canvas: np.ndarray,
    length_nm: float,
    pixel_size_nm: float,
    *,
    scale: float,
    thickness: int,
    white: int | tuple[int, int, int] = _WHITE,
    black: int | tuple[int, int, int] = _BLACK,
) -> tuple[int, int]:
    """Draw a labelled scale bar in the bottom-right corner of ``canvas`` (in place).

    The bar is exactly ``round(length_nm / pixel_size_nm)`` white pixels wide,
    edged in black, with its length written above it at 1.2 times the text
    scale. Everything drawn lies inside :func:`scale_bar_box`.

    Parameters
    ----------
    canvas : (M, N) or (M, N, 3) ndarray of uint8
        A palette image (``white``/``black`` palette indices) or an RGB image (RGB triples).
    length_nm : float
        Bar length in nanometres.
    pixel_size_nm : float
        Pixel edge length of ``canvas`` in nanometres.
    scale, thickness : float, int
        Text scale and stroke (:func:`text_style`).
    white, black : int or (int, int, int)
        Colour of the bar and its label, and of their edge.

    Returns
    -------
    (int, int)
        Row and column of the top-left corner of what was drawn (label included).
    """
    rows, cols = canvas.shape[:2]
    (x0, y0, x1, y1), text, org = _scale_bar_layout(
        rows, cols, length_nm, pixel_size_nm, scale=scale, thickness=thickness
    )
    cv2.rectangle(canvas, (x0 - 1, y0 - 1), (x1, y1), black, -1)
    # Exactly bar_px white pixels wide: columns x0 .. x1 - 1.
    cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), white, -1)
    _put_text(canvas, text, org, scale=scale * 1.2, thickness=thickness, colour=white, black=black)
    top, left, _, _ = _text_box(text, org, scale * 1.2, thickness)
    return max(0, top), max(0, min(left, x0 - 1))


def _draw_legend(
    index: np.ndarray,
    busy: np.ndarray,
    labels: np.ndarray,
    entries: list[tuple[str, int]],
    *,
    scale: float,
    thickness: int,
) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Write the morphology legend where it covers no vesicle, outline, id or scale bar.

    The entries go one per line into the first free corner (top left, top
    right, bottom left); when every corner holds something, into a black
    strip added below the micrograph (the image rows keep their place).

    Returns
    -------
    index : ndarray of uint8
        ``index`` itself, or a copy taller by the strip.
    box : (int, int, int, int) or None
        ``(row0, col0, row1, col1)`` (end exclusive) of the corner the legend took, its padding included;
        None when it went into the strip.
    """
    rows, cols = index.shape
    margin = max(4, max(rows, cols) // 40)
    sizes = [cv2.getTextSize(name, TEXT_FONT, scale, thickness)[0] for name, _ in entries]
    h = max(th for _, th in sizes)
    line = int(round(h * LEGEND_LINE_SPACING))
    pad = thickness + 2
    width = max(tw for tw, _ in sizes) + 2 * pad
    height = (len(entries) - 1) * line + h + 2 * pad
    for top, left in ((margin, margin), (margin, cols - margin - width), (rows - margin - height, margin)):
        if top < 0 or left < 0 or top + height > rows or left + width > cols:
            continue
        box = (max(0, top - pad), max(0, left - pad), top + height + pad, left + width + pad)
        window = np.s_[box[0] : box[2], box[1] : box[3]]
        if busy[window].any() or labels[window].any():
            continue
        for i, (name, colour) in enumerate(entries):
            _put_text(
                index, name, (left + pad, top + pad + h + i * line), scale=scale, thickness=thickness, colour=colour
            )
        return index, box
    # No free corner: entries side by side in a strip below, wrapped to the width.
    space = cv2.getTextSize("  ", TEXT_FONT, scale, thickness)[0][0]
    places, x, y = [], margin, margin + h
    for (name, colour), (tw, _) in zip(entries, sizes, strict=True):
        if x > margin and x + tw > cols - margin:
            x, y = margin, y + line
        places.append((name, colour, (x, y)))
        x += tw + space
    strip = np.full((y + margin, cols), _BLACK, np.uint8)
    for name, colour, org in places:
        _put_text(strip, name, org, scale=scale, thickness=thickness, colour=colour)
    return np.vstack([index, strip]), None


def legend_entries(table: pd.DataFrame, not_counted: Iterable[int] = ()) -> list[tuple[str, int]]:
    """The overlay legend's lines: each morphology class, then the vesicles left out of the statistics.

    Parameters
    ----------
    table : pandas.DataFrame
        The vesicle table (``label``; ``touches_missing`` when the run recorded it).
    not_counted : iterable of int
        Labels the statistics leave out (flagged ``touches_border``). When there are any, a last line names
        them: :data:`NOT_COUNTED` ("edge: not counted"), or :data:`NOT_COUNTED_MISSING` when one of them
        touches pixels without a value (``touches_missing``) rather than the image edge.

    Returns
    -------
    list of (str, int)
        Each line's text and palette index (its colour in :func:`overlay_palette`).
    """
    entries = list(_CLASS_INDEX.items())
    set_aside = {int(v) for v in not_counted}
    if set_aside:
        missing = False
        if len(table) and {"label", MISSING_COLUMN} <= set(table.columns):
            flagged = table.loc[cut_by_missing_flags(table).to_numpy(), "label"]
            missing = bool(set_aside & {int(v) for v in flagged})
        entries.append((NOT_COUNTED_MISSING if missing else NOT_COUNTED, _NOT_COUNTED))
    return entries


def _outline_codes(
    labels: np.ndarray, table: pd.DataFrame, objects: list[tuple[slice, slice] | None] | None = None
) -> np.ndarray:
    """Palette index of each vesicle's inner boundary pixels, 0 elsewhere.

    Works object by object inside each bounding box (plus one pixel), so the
    cost follows the vesicles' area, not the image's.
    """

    code = np.zeros(labels.shape, dtype=np.uint8)
    if not labels.size:
        return code
    morphology: dict[int, str] = {}
    if len(table) and {"label", "morphology"} <= set(table.columns):
        morphology = dict(zip(table["label"].astype(int), table["morphology"].astype(str), strict=True))
    rows, cols = labels.shape
    for lab, box in enumerate(ndimage.find_objects(labels) if objects is None else objects, start=1):
        if box is None:
            continue
        r0, r1 = max(box[0].start - 1, 0), min(box[0].stop + 1, rows)
        c0, c1 = max(box[1].start - 1, 0), min(box[1].stop + 1, cols)
        inside = labels[r0:r1, c0:c1] == lab
        # Interior: the pixel and its four neighbours all belong to the vesicle (image edges count as outside).
        interior = inside.copy()
        interior[1:] &= inside[:-1]
        interior[:-1] &= inside[1:]
        interior[:, 1:] &= inside[:, :-1]
        interior[:, :-1] &= inside[:, 1:]
        if r0 == 0:
            interior[0] = False
        if r1 == rows:
            interior[-1] = False
        if c0 == 0:
            interior[:, 0] = False
        if c1 == cols:
            interior[:, -1] = False
        edge = inside & ~interior
        code[r0:r1, c0:c1][edge] = _OUTLINE_INDEX.get(morphology.get(lab, ""), _OTHER)
    return code


def _finite(image: np.ndarray) -> np.ndarray:
    """``image`` with pixels without a value (NaN padding, dead pixels) set to the median of the others."""
    if image.dtype.kind != "f":
        return image
    finite = np.isfinite(image)
    if finite.all() or not finite.any():
        return image
    return np.where(finite, image, np.median(image[finite])).astype(image.dtype, copy=False)


@dataclass(frozen=True)
class IndexedOverlay:
    """An overlay drawn as palette indices by :func:`draw_overlay`.

    Attributes
    ----------
    index : (M', N) ndarray of uint8
        Palette index per pixel. The micrograph fills rows ``0 .. M - 1``
        (``k`` M x ``k`` N when enlarged by ``k``); rows below it, if any, are
        the legend strip.
    palette : (256, 3) ndarray of uint8
        RGB colour of each index (:func:`overlay_palette`).
    legend_box_px : (int, int, int, int) or None
        ``(row0, col0, row1, col1)`` (end exclusive, in ``index`` pixels) of the corner of the micrograph
        that holds the legend; None when the legend is in the strip below it.
    """

    index: np.ndarray
    palette: np.ndarray
    legend_box_px: tuple[int, int, int, int] | None


def render_overlay_indexed(
    image: np.ndarray,
    labels: np.ndarray,
    table: pd.DataFrame,
    *,
    pixel_size_nm: float,
    show_ids: bool = True,
    scale_bar_nm: float | None = None,
    line_width_px: int | None = None,
    objects: list[tuple[slice, slice] | None] | None = None,
    min_side_px: int = 0,
    not_counted: Iterable[int] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the overlay as palette indices (one byte per pixel: 3x less to encode than RGB).

    :func:`draw_overlay` without the legend's place: its parameters, and its ``index`` and ``palette``.
    """
    drawn = draw_overlay(
        image,
        labels,
        table,
        pixel_size_nm=pixel_size_nm,
        show_ids=show_ids,
        scale_bar_nm=scale_bar_nm,
        line_width_px=line_width_px,
        objects=objects,
        min_side_px=min_side_px,
        not_counted=not_counted,
    )
    return drawn.index, drawn.palette


def draw_overlay(
    image: np.ndarray,
    labels: np.ndarray,
    table: pd.DataFrame,
    *,
    pixel_size_nm: float,
    show_ids: bool = True,
    scale_bar_nm: float | None = None,
    line_width_px: int | None = None,
    objects: list[tuple[slice, slice] | None] | None = None,
    min_side_px: int = 0,
    not_counted: Iterable[int] = (),
    burnt_in: np.ndarray | None = None,
) -> IndexedOverlay:
    """Draw the overlay as palette indices (one byte per pixel: 3x less to encode than RGB).

    Parameters are those of :func:`render_overlay`, plus ``objects``: the
    boxes ``scipy.ndimage.find_objects(labels)`` if the caller already has
    them (they cost a whole pass over the labels), and ``min_side_px``: a
    micrograph whose longer side is shorter is drawn on a copy enlarged by
    the smallest whole factor that reaches it (each pixel repeated), so
    outlines, ids and the legend of a small render stay legible; and
    ``not_counted``: labels the statistics leave out (vesicles cut by the
    image edge or by pixels without a value), outlined teal and listed in the
    legend as "edge: not counted", or "edge or no-value pixels: not counted"
    when the table flags one of them ``touches_missing`` (:func:`legend_entries`); and ``burnt_in``: the
    micrograph's burnt-in scale bar, label and data strip as
    :func:`~exo_vision.calibration.mask.annotation_mask` finds them in ``image``, if the caller already has them
    (found from the image otherwise).

    Text is sized to print at :data:`MIN_TEXT_PT` or more and outlines at
    :data:`OUTLINE_MIN_MM` or more when the longer side is printed
    :data:`PRINT_WIDTH_MM` wide (:func:`text_style`, :func:`outline_width_px`).
    An id sits on its vesicle's centroid, or beside the vesicle where the
    centroid would put it over an outline or another id. The morphology legend
    goes into a corner free of vesicles, ids, the drawn scale bar and the
    micrograph's own annotations (its burnt-in scale bar and label, a data
    strip); when there is none, into a black strip below the micrograph.

    Returns
    -------
    IndexedOverlay
        The palette indices, the palette and where the legend went.
    """
    labels = np.asarray(labels)
    image = np.asarray(image)
    _check_inputs(image, labels, pixel_size_nm, objects)
    factor = -(-int(min_side_px) // max(labels.shape)) if labels.size and max(labels.shape) < min_side_px else 1
    # the micrograph's own scale bar, its label and a data strip: the legend must not hide them either
    if burnt_in is None:
        burnt_in = annotation_mask(_finite(image))
    elif np.shape(burnt_in) != labels.shape:
        raise ValueError(f"`burnt_in` (shape {np.shape(burnt_in)}) must have the shape of `labels` ({labels.shape})")
    burnt_in = np.asarray(burnt_in, dtype=np.uint8)
    if factor > 1:
        image, labels, burnt_in = (
            np.repeat(np.repeat(a, factor, axis=0), factor, axis=1) for a in (image, labels, burnt_in)
        )
        pixel_size_nm, objects = pixel_size_nm / factor, None
    index = _grey_index(image)
    rows, cols = labels.shape
    size = max(rows, cols)
    width = line_width_px or outline_width_px(size)
    entries = legend_entries(table, not_counted)
    set_aside = {int(v) for v in not_counted}
    if set_aside and len(table) and {"label", "morphology"} <= set(table.columns):
        table = table.assign(morphology=table["morphology"].where(~table["label"].isin(set_aside), NOT_COUNTED))
    code = _outline_codes(labels, table, objects)
    if width > 1:
        code = cv2.dilate(code, np.ones((width, width), np.uint8))
    # outline codes (240 and up) are above every grey level and 0 elsewhere: a maximum paints them
    cv2.max(index, code, dst=index)

    scale, thick = text_style(size)

    busy = (code > 0).view(np.uint8)  # outlines, the scale bar and its label, then every id: where text may not go
    length_nm = scale_bar_nm if scale_bar_nm is not None else nice_scale_bar_nm(cols * pixel_size_nm)
    if not (np.isfinite(length_nm) and length_nm > 0):
        raise ValueError(f"scale_bar_nm must be positive, got {scale_bar_nm!r}")
    r0, c0 = draw_scale_bar(index, length_nm, pixel_size_nm, scale=scale, thickness=thick)
    busy[max(0, r0) :, max(0, c0) :] = 1
    if show_ids:
        _draw_ids(index, busy, labels, table, objects, pixel_size_nm=pixel_size_nm, scale=scale, thickness=thick)
    index, box = _draw_legend(index, busy | burnt_in, labels, entries, scale=scale, thickness=thick)
    return IndexedOverlay(index=index, palette=overlay_palette(), legend_box_px=box)


def _check_inputs(
    image: np.ndarray, labels: np.ndarray, pixel_size_nm: float, objects: list[tuple[slice, slice] | None] | None
) -> None:
    """Refuse labels of another shape than the image, a pixel size that is no positive number, and boxes
    (``scipy.ndimage.find_objects``) that do not belong to ``labels``."""
    if image.shape[:2] != labels.shape:
        raise ValueError(f"`labels` (shape {labels.shape}) must have the shape of `image` (shape {image.shape[:2]})")
    if not (np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm!r}")
    if objects is not None and len(objects) != (int(labels.max()) if labels.size else 0):
        raise ValueError(
            f"`objects` has {len(objects)} boxes but the labels go up to {int(labels.max())}; "
            "pass scipy.ndimage.find_objects(labels) of these labels, or leave it out"
        )


def _draw_ids(
    index: np.ndarray,
    busy: np.ndarray,
    labels: np.ndarray,
    table: pd.DataFrame,
    objects: list[tuple[slice, slice] | None] | None,
    *,
    pixel_size_nm: float,
    scale: float,
    thickness: int,
) -> None:
    """Write each vesicle's label at (or beside) its centroid, in place (:func:`_place_id`)."""
    if not len(table) or not {"label", "centroid_x_nm", "centroid_y_nm"} <= set(table.columns):
        return
    boxes = ndimage.find_objects(labels) if objects is None else objects
    xs = table["centroid_x_nm"].to_numpy(dtype=float) / pixel_size_nm
    ys = table["centroid_y_nm"].to_numpy(dtype=float) / pixel_size_nm
    for label, x, y in zip(table["label"].to_numpy(), xs, ys, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            lab = int(label)
            box = boxes[lab - 1] if 0 < lab <= len(boxes) else None
            _place_id(index, busy, labels, str(lab), (x, y), box, scale=scale, thickness=thickness)


def render_overlay(
    image: np.ndarray,
    labels: np.ndarray,
    table: pd.DataFrame,
    *,
    pixel_size_nm: float,
    show_ids: bool = True,
    scale_bar_nm: float | None = None,
    line_width_px: int | None = None,
) -> np.ndarray:
    """Draw vesicle outlines, ids and a scale bar on a micrograph.

    Parameters
    ----------
    image : (M, N) ndarray
        The micrograph (any dtype; contrast-stretched between its 0.5th and
        99.5th percentiles to 240 grey levels).
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.
    table : pandas.DataFrame
        Vesicle table with ``label``, ``morphology`` and ``centroid_x_nm`` /
        ``centroid_y_nm`` columns; ids are drawn at the centroids.
    pixel_size_nm : float
        Pixel edge length in nanometres.
    show_ids : bool
        Write each vesicle's label (yellow) at its centroid.
    scale_bar_nm : float, optional
        Scale-bar length in nm (bottom right, white, labelled); by default a
        round length near a fifth of the width.
    line_width_px : int, optional
        Outline thickness; by default :func:`outline_width_px` of the longer side.

    Returns
    -------
    (M', N, 3) ndarray of uint8
        RGB overlay (taller than the image by the legend strip when no corner
        was free for the legend; see :func:`render_overlay_indexed`). Round
        outlines are blue, cups orange, irregular magenta, unknown grey.
    """
    index, palette = render_overlay_indexed(
        image,
        labels,
        table,
        pixel_size_nm=pixel_size_nm,
        show_ids=show_ids,
        scale_bar_nm=scale_bar_nm,
        line_width_px=line_width_px,
    )
    return palette[index]


def write_indexed_png(path: str | Path, index: np.ndarray, palette: np.ndarray, *, compression: int = 0) -> None:
    """Write a palette PNG (8-bit indices + RGB palette) with Pillow.

    Parameters
    ----------
    path : str or Path
        Destination ``.png``.
    index : (M, N) ndarray of uint8
        Palette index per pixel.
    palette : (256, 3) ndarray of uint8
        RGB palette.
    compression : int
        zlib level 0-9. 0 (stored) is the default: noisy micrographs barely
        compress, and deflate would cost ~0.2 s per 4 MP image.
    """

    index = np.asarray(index)
    if index.dtype != np.uint8 or index.ndim != 2:
        raise ValueError(f"expected an (M, N) uint8 index image, got {index.dtype} of shape {index.shape}")
    picture = Image.fromarray(index, mode="P")
    picture.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    picture.save(path, format="PNG", compress_level=int(compression))


def write_png(path: str | Path, rgb: np.ndarray, *, compression: int = 1) -> None:
    """Write an RGB uint8 array as PNG with OpenCV (``compression`` 0-9)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (M, N, 3) uint8 RGB array, got {rgb.dtype} of shape {rgb.shape}")
    ok = cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise OSError(f"could not write PNG {path}; check the folder exists and is writable")
