"""Outline overlay of a segmented micrograph: outlines coloured by morphology,
vesicle ids matching the table, a drawn scale bar.

Rendered with OpenCV on arrays (fast for 16 MP images); no matplotlib.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from exo_vision.figures.style import MORPHOLOGY_RGB

#: Outline colour of a vesicle with no (or an unknown) morphology, RGB.
OTHER_RGB = (200, 200, 200)
#: Legend entry (and morphology stand-in) of vesicles outlined but left out of the statistics.
NOT_COUNTED = "edge: not counted"
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


def _put_text(index: np.ndarray, s: str, org: tuple[int, int], *, scale: float, thickness: int, colour: int) -> None:
    """Write ``s`` into the palette image ``index`` in ``colour`` with a one-pixel black halo, in whole pixels.

    OpenCV 5 draws text with smoothed edges whatever the line type; on a
    palette image those in-between values would be other palette entries
    (other classes' colours) or grey levels. The glyphs are therefore drawn in
    a mask of their own: the pixels they cover at least
    :data:`TEXT_INK_COVERAGE` get ``colour``, their 8 neighbours black, so the
    text reads on light and dark stain alike.
    """
    (w, h), baseline = cv2.getTextSize(s, TEXT_FONT, scale, thickness)
    pad = thickness + 2
    x0, y0 = org[0] - pad, org[1] - h - pad
    x1, y1 = org[0] + w + pad, org[1] + baseline + pad
    r0, c0 = max(y0, 0), max(x0, 0)
    r1, c1 = min(y1, index.shape[0]), min(x1, index.shape[1])
    if r1 <= r0 or c1 <= c0:
        return
    ink = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.putText(ink, s, (org[0] - x0, org[1] - y0), TEXT_FONT, scale, 255, thickness, cv2.LINE_8)
    ink = (ink >= round(255 * TEXT_INK_COVERAGE)).view(np.uint8)
    halo = cv2.dilate(ink, np.ones((3, 3), np.uint8))
    target = index[r0:r1, c0:c1]
    window = np.s_[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
    target[halo[window] > 0] = _BLACK
    target[ink[window] > 0] = colour


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

    Parameters are those of :func:`render_overlay`, plus ``objects``: the
    boxes ``scipy.ndimage.find_objects(labels)`` if the caller already has
    them (they cost a whole pass over the labels), and ``min_side_px``: a
    micrograph whose longer side is shorter is drawn on a copy enlarged by
    the smallest whole factor that reaches it (each pixel repeated), so
    outlines, ids and the legend of a small render stay legible; and
    ``not_counted``: labels the statistics leave out (vesicles cut by the
    image edge), outlined teal and listed in the legend as "edge: not counted".

    Returns
    -------
    index : (M, N) ndarray of uint8
        Palette index per pixel (``k`` M x ``k`` N when enlarged by ``k``).
    palette : (256, 3) ndarray of uint8
        RGB colour of each index (:func:`overlay_palette`).
    """
    labels = np.asarray(labels)
    image = np.asarray(image)
    if image.shape[:2] != labels.shape:
        raise ValueError(f"`labels` (shape {labels.shape}) must have the shape of `image` (shape {image.shape[:2]})")
    if not (np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm!r}")
    factor = -(-int(min_side_px) // max(labels.shape)) if labels.size and max(labels.shape) < min_side_px else 1
    if factor > 1:
        image = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
        labels = np.repeat(np.repeat(labels, factor, axis=0), factor, axis=1)
        pixel_size_nm, objects = pixel_size_nm / factor, None
    index = _grey_index(image)
    rows, cols = labels.shape
    size = max(rows, cols)
    width = line_width_px or max(1, int(round(size / 1000)))

    if objects is not None and len(objects) != (int(labels.max()) if labels.size else 0):
        raise ValueError(
            f"`objects` has {len(objects)} boxes but the labels go up to {int(labels.max())}; "
            "pass scipy.ndimage.find_objects(labels) of these labels, or leave it out"
        )
    set_aside = {int(v) for v in not_counted}
    if set_aside and len(table) and {"label", "morphology"} <= set(table.columns):
        table = table.assign(morphology=table["morphology"].where(~table["label"].isin(set_aside), NOT_COUNTED))
    code = _outline_codes(labels, table, objects)
    if width > 1:
        code = cv2.dilate(code, np.ones((width, width), np.uint8))
    # outline codes (240 and up) are above every grey level and 0 elsewhere: a maximum paints them
    cv2.max(index, code, dst=index)

    text_scale = max(0.4, size / 2500)
    text_thick = max(1, int(round(size / 1500)))

    def text(s: str, org: tuple[int, int], colour: int, scale: float) -> None:
        _put_text(index, s, org, scale=scale, thickness=text_thick, colour=colour)

    if show_ids and len(table) and {"label", "centroid_x_nm", "centroid_y_nm"} <= set(table.columns):
        xs = table["centroid_x_nm"].to_numpy(dtype=float) / pixel_size_nm
        ys = table["centroid_y_nm"].to_numpy(dtype=float) / pixel_size_nm
        for label, x, y in zip(table["label"].to_numpy(), xs, ys, strict=True):
            if np.isfinite(x) and np.isfinite(y):
                text(str(int(label)), (int(round(x)), int(round(y))), _TEXT, text_scale)

    length_nm = scale_bar_nm if scale_bar_nm is not None else nice_scale_bar_nm(cols * pixel_size_nm)
    if not (np.isfinite(length_nm) and length_nm > 0):
        raise ValueError(f"scale_bar_nm must be positive, got {scale_bar_nm!r}")
    bar_px = int(round(length_nm / pixel_size_nm))
    margin = max(4, size // 40)
    bar_h = max(2, size // 200)
    x1, y1 = cols - margin, rows - margin
    x0, y0 = max(0, x1 - bar_px), y1 - bar_h
    cv2.rectangle(index, (x0 - 1, y0 - 1), (x1, y1), _BLACK, -1)
    # Exactly bar_px white pixels wide: columns x0 .. x1 - 1.
    cv2.rectangle(index, (x0, y0), (x1 - 1, y1 - 1), _WHITE, -1)
    label_text = _label_text(length_nm)
    (tw, th), _ = cv2.getTextSize(label_text, TEXT_FONT, text_scale * 1.2, text_thick)
    text(label_text, (max(0, (x0 + x1) // 2 - tw // 2), y0 - max(3, bar_h)), _WHITE, text_scale * 1.2)

    y = margin + th
    for name, k in _CLASS_INDEX.items():
        text(name, (margin, y), k, text_scale)
        y += int(th * 1.8)
    if set_aside:
        text(NOT_COUNTED, (margin, y), _NOT_COUNTED, text_scale)
    return index, overlay_palette()


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
        Outline thickness; by default about 1/1000 of the image size (at least 1).

    Returns
    -------
    (M, N, 3) ndarray of uint8
        RGB overlay. Round outlines are blue, cups orange, irregular magenta,
        unknown grey.
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
