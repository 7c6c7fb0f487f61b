"""Outline overlay of a segmented micrograph: outlines coloured by morphology,
vesicle ids matching the table, a drawn scale bar.

Rendered with OpenCV on arrays (fast for 16 MP images); no matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from exo_vision.figures.style import MORPHOLOGY_RGB

#: Outline colour of a vesicle with no (or an unknown) morphology, RGB.
OTHER_RGB = (200, 200, 200)
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
        The micrograph (any dtype; contrast-stretched to 8 bit).
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.
    table : pandas.DataFrame
        Vesicle table with ``label``, ``morphology`` and ``centroid_x_nm`` /
        ``centroid_y_nm`` columns; ids are drawn at the centroids.
    pixel_size_nm : float
        Pixel edge length in nanometres.
    show_ids : bool
        Write each vesicle's label next to it.
    scale_bar_nm : float, optional
        Scale-bar length in nm; by default a round length near a fifth of the width.
    line_width_px : int, optional
        Outline thickness; by default about 1/1000 of the image size (at least 1).

    Returns
    -------
    (M, N, 3) ndarray of uint8
        RGB overlay. Round outlines are blue, cups orange, irregular magenta.
    """
    labels = np.asarray(labels)
    image = np.asarray(image)
    if image.shape[:2] != labels.shape:
        raise ValueError(f"`labels` (shape {labels.shape}) must have the shape of `image` (shape {image.shape[:2]})")
    if not (np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm!r}")
    grey = to_uint8(image)
    rgb = np.repeat(grey[..., None], 3, axis=2) if grey.ndim == 2 else grey[..., :3].copy()
    rows, cols = labels.shape
    size = max(rows, cols)
    width = line_width_px or max(1, int(round(size / 1000)))

    # Colour index per label: 0 background, 1..3 morphology classes, 4 unknown.
    classes = ("round", "cup", "irregular")
    palette = np.array([(0, 0, 0), *(MORPHOLOGY_RGB[c] for c in classes), OTHER_RGB], dtype=np.uint8)
    max_label = int(labels.max()) if labels.size else 0
    lut = np.zeros(max_label + 1, dtype=np.uint8)
    if max_label:
        lut[1:] = 4
    if len(table) and "label" in table.columns:
        ids = table["label"].to_numpy(dtype=np.int64)
        morph = table["morphology"].astype(str).to_numpy() if "morphology" in table.columns else None
        valid = (ids > 0) & (ids <= max_label)
        for k, name in enumerate(classes, start=1):
            if morph is not None:
                lut[ids[valid & (morph == name)]] = k
    if max_label:
        # Inner boundary: a labelled pixel with a 4-neighbour carrying another value.
        boundary = np.zeros(labels.shape, dtype=bool)
        boundary[:-1] |= labels[:-1] != labels[1:]
        boundary[1:] |= labels[1:] != labels[:-1]
        boundary[:, :-1] |= labels[:, :-1] != labels[:, 1:]
        boundary[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        boundary &= labels > 0
        code = np.where(boundary, lut[labels], 0).astype(np.uint8)
        if width > 1:
            code = cv2.dilate(code, np.ones((width, width), np.uint8))
        drawn = code > 0
        rgb[drawn] = palette[code[drawn]]

    font = cv2.FONT_HERSHEY_SIMPLEX
    text_scale = max(0.35, size / 2500)
    text_thick = max(1, int(round(size / 1500)))
    if show_ids and len(table) and {"label", "centroid_x_nm", "centroid_y_nm"} <= set(table.columns):
        xs = table["centroid_x_nm"].to_numpy(dtype=float) / pixel_size_nm
        ys = table["centroid_y_nm"].to_numpy(dtype=float) / pixel_size_nm
        for label, x, y in zip(table["label"].to_numpy(), xs, ys, strict=True):
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            org = (int(round(x)), int(round(y)))
            text = str(int(label))
            cv2.putText(rgb, text, org, font, text_scale, (0, 0, 0), text_thick + 2, cv2.LINE_AA)
            cv2.putText(rgb, text, org, font, text_scale, (255, 255, 0), text_thick, cv2.LINE_AA)

    length_nm = scale_bar_nm if scale_bar_nm is not None else nice_scale_bar_nm(cols * pixel_size_nm)
    if not (np.isfinite(length_nm) and length_nm > 0):
        raise ValueError(f"scale_bar_nm must be positive, got {scale_bar_nm!r}")
    bar_px = int(round(length_nm / pixel_size_nm))
    margin = max(4, size // 40)
    bar_h = max(2, size // 200)
    x1, y1 = cols - margin, rows - margin
    x0, y0 = max(0, x1 - bar_px), y1 - bar_h
    cv2.rectangle(rgb, (x0 - 1, y0 - 1), (x1 + 1, y1 + 1), (0, 0, 0), -1)
    cv2.rectangle(rgb, (x0, y0), (x1, y1), (255, 255, 255), -1)
    label_text = _label_text(length_nm)
    (tw, th), _ = cv2.getTextSize(label_text, font, text_scale * 1.2, text_thick)
    org = (max(0, (x0 + x1) // 2 - tw // 2), y0 - max(3, bar_h))
    cv2.putText(rgb, label_text, org, font, text_scale * 1.2, (0, 0, 0), text_thick + 2, cv2.LINE_AA)
    cv2.putText(rgb, label_text, org, font, text_scale * 1.2, (255, 255, 255), text_thick, cv2.LINE_AA)

    # Legend, top left.
    y = margin + th
    for name in classes:
        cv2.putText(rgb, name, (margin, y), font, text_scale, (0, 0, 0), text_thick + 2, cv2.LINE_AA)
        cv2.putText(rgb, name, (margin, y), font, text_scale, MORPHOLOGY_RGB[name], text_thick, cv2.LINE_AA)
        y += int(th * 1.6)
    return rgb


def write_png(path: str | Path, rgb: np.ndarray, *, compression: int = 1) -> None:
    """Write an RGB uint8 array as PNG with OpenCV (fast; ``compression`` 0-9)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (M, N, 3) uint8 RGB array, got {rgb.dtype} of shape {rgb.shape}")
    ok = cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise OSError(f"could not write PNG {path}; check the folder exists and is writable")
