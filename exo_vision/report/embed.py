"""Pictures for the report: downscaled, encoded and embedded as ``data:`` URIs.

The report must open with no network and no side files, so every picture is
carried inside the HTML as base64 (PNG for figures and line art, JPEG for
micrograph overlays, which are 10x smaller that way).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from exo_vision.figures.overlay import PRINT_WIDTH_MM, draw_scale_bar, nice_scale_bar_nm, text_style
from exo_vision.measure.tables import truth_values

#: Longest side (px) of an embedded wide-field overlay.
WIDE_FIELD_MAX_PX = 1100
#: Longest side (px) a close-up is enlarged or reduced to.
CLOSE_UP_PX = 520
#: Printed width (mm) a close-up's scale-bar label is sized for: half a column, the close-up beside its wide field.
CLOSE_UP_PRINT_MM = PRINT_WIDTH_MM / 2


@dataclass
class CloseUp:
    """A crop of an overlay around a few neighbouring vesicles.

    Attributes
    ----------
    box_px : (int, int, int, int)
        ``(row0, col0, row1, col1)`` of the crop in overlay pixels (end exclusive).
    labels : list of int
        Vesicle labels the crop was centred on (those whose centre it still holds when it was moved off the
        overlay's scale bar or legend).
    width_nm : float
        Field width of the crop in nanometres.
    """

    box_px: tuple[int, int, int, int]
    labels: list[int]
    width_nm: float


def data_uri(data: bytes, *, mime: str) -> str:
    """``data:`` URI of some bytes.

    Parameters
    ----------
    data : bytes
        Encoded file content (PNG, JPEG, ...).
    mime : str
        Its MIME type, e.g. ``"image/png"``.
    """
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def figure_data_uri(fig: Figure, *, dpi: int = 150) -> str:
    """Render a matplotlib figure to a PNG ``data:`` URI.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (Figure API; no pyplot).
    dpi : int
        Rendering resolution in dots per inch.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return data_uri(buffer.getvalue(), mime="image/png")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG as an (M, N, 3) uint8 RGB array (palette and alpha flattened onto white).

    Parameters
    ----------
    path : str or Path
        The picture file.

    Returns
    -------
    (M, N, 3) ndarray of uint8
    """
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
        return np.asarray(im.convert("RGB"))


def rgb_data_uri(rgb: np.ndarray, *, max_px: int | None = None, fmt: str = "JPEG", quality: int = 88) -> str:
    """Encode an RGB image as a ``data:`` URI, shrinking it so its longest side is at most ``max_px``.

    Parameters
    ----------
    rgb : (M, N, 3) ndarray of uint8
        The picture.
    max_px : int, optional
        Longest side after shrinking (never enlarged); no limit by default.
    fmt : {"JPEG", "PNG"}
        Encoding.
    quality : int
        JPEG quality (1-95).
    """
    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    if max_px is not None and max(im.size) > max_px:
        factor = max_px / max(im.size)
        im = im.resize((max(1, round(im.width * factor)), max(1, round(im.height * factor))), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if fmt.upper() == "JPEG":
        im.save(buffer, format="JPEG", quality=quality, optimize=True)
        return data_uri(buffer.getvalue(), mime="image/jpeg")
    im.save(buffer, format="PNG", optimize=True)
    return data_uri(buffer.getvalue(), mime="image/png")


def _away_from(
    box: tuple[int, int, int, int], avoid: tuple[int, int, int, int], shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The square ``box`` moved the least distance that takes it off ``avoid``, inside ``shape``.

    ``box`` and ``avoid`` are ``(row0, col0, row1, col1)``, end exclusive. When
    no move clears ``avoid`` (the square is too large for the room beside it),
    the square shrinks to the largest that fits above, below, left or right of
    ``avoid`` and is placed as near its old place as it can.
    """
    r0, c0, r1, c1 = box
    a0, b0, a1, b1 = avoid
    m, n = shape
    if r1 <= a0 or r0 >= a1 or c1 <= b0 or c0 >= b1:
        return box
    side = r1 - r0
    # room above, below, left and right of the avoided box: (row0, col0, row1, col1)
    rooms = [(0, 0, a0, n), (a1, 0, m, n), (0, 0, m, b0), (0, b1, m, n)]
    best: tuple[float, tuple[int, int, int, int]] | None = None
    for fit in (True, False):
        for q0, p0, q1, p1 in rooms:
            s = side if fit else min(side, q1 - q0, p1 - p0)
            if s <= 0 or s > q1 - q0 or s > p1 - p0:
                continue
            row0 = int(np.clip(r0 + (side - s) // 2, q0, q1 - s))
            col0 = int(np.clip(c0 + (side - s) // 2, p0, p1 - s))
            # a larger square first, then the smaller move
            cost = (side - s) * (m + n) + abs(row0 - r0) + abs(col0 - c0)
            if best is None or cost < best[0]:
                best = (cost, (row0, col0, row0 + s, col0 + s))
        if best is not None:
            return best[1]
    return box


def _overlap(box: tuple[int, int, int, int], other: tuple[int, int, int, int]) -> bool:
    """Whether two ``(row0, col0, row1, col1)`` boxes (end exclusive) share a pixel."""
    return not (box[2] <= other[0] or box[0] >= other[2] or box[3] <= other[1] or box[1] >= other[3])


def _as_boxes(avoid: Any) -> list[tuple[int, int, int, int]]:
    """One ``(row0, col0, row1, col1)`` box, or a sequence of them, as a list of boxes of ints."""
    boxes = [avoid] if len(avoid) == 4 and all(isinstance(v, (int, np.integer)) for v in avoid) else avoid
    return [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in boxes]


def _clear_of(
    box: tuple[int, int, int, int], avoid: list[tuple[int, int, int, int]], shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``box`` moved off every box of ``avoid`` in turn (:func:`_away_from`), again while a move off one put
    it on another; the last move wins when no place clears them all."""
    for _ in range(len(avoid) + 1):
        for other in avoid:
            box = _away_from(box, other, shape)
        if not any(_overlap(box, other) for other in avoid):
            break
    return box


def choose_close_up(
    vesicles: pd.DataFrame,
    *,
    image_shape: tuple[int, int],
    pixel_size_nm: float,
    n_neighbours: int = 3,
    avoid_px: tuple[int, int, int, int] | Sequence[tuple[int, int, int, int]] | None = None,
) -> CloseUp | None:
    """Pick a crop around the most crowded group of a few whole vesicles.

    The centre vesicle is the whole (not border-touching) vesicle with the
    smallest distance to its ``n_neighbours``-th nearest whole neighbour; the
    crop encloses it and those neighbours with a margin of half the largest
    diameter, and is made square. When ``avoid_px`` is given (the overlay's
    own scale bar, its legend) the crop is moved off it by the shortest
    distance, or made smaller when there is no room for it beside it, so the
    close-up never shows a cut-off copy of the wide field's bar or legend
    next to its own bar.

    Parameters
    ----------
    vesicles : pandas.DataFrame
        Vesicle table of one image (``label``, ``centroid_x_nm``,
        ``centroid_y_nm``, ``equivalent_diameter_nm``, optional ``touches_border``).
    image_shape : (int, int)
        Shape (M, N) of the overlay in pixels.
    pixel_size_nm : float
        Pixel edge length in nanometres.
    n_neighbours : int
        How many neighbours to include beside the centre vesicle.
    avoid_px : (int, int, int, int) or list of them, optional
        ``(row0, col0, row1, col1)`` (overlay pixels, end exclusive) the crop
        must not overlap, e.g. :func:`exo_vision.figures.overlay.overlay_scale_bar_box`
        and the legend's :attr:`~exo_vision.figures.overlay.IndexedOverlay.legend_box_px`.

    Returns
    -------
    CloseUp or None
        None when the image holds no whole vesicle.
    """
    if not np.isfinite(pixel_size_nm) or pixel_size_nm <= 0:
        raise ValueError(f"pixel_size_nm must be a positive number of nm, got {pixel_size_nm!r}")
    table = vesicles
    if "touches_border" in table.columns:
        table = table.loc[~truth_values(table["touches_border"])]
    if table.empty:
        return None
    xy = table[["centroid_x_nm", "centroid_y_nm"]].to_numpy(dtype=float) / pixel_size_nm
    radius = table["equivalent_diameter_nm"].to_numpy(dtype=float) / pixel_size_nm / 2
    k = min(n_neighbours, len(table) - 1)
    distances = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    order = np.argsort(distances, axis=1)
    centre = int(np.argmin(distances[np.arange(len(table)), order[:, k]])) if k > 0 else 0
    members = order[centre, : k + 1]
    margin = float(radius[members].max())
    x0, x1 = (xy[members, 0] - radius[members]).min() - margin, (xy[members, 0] + radius[members]).max() + margin
    y0, y1 = (xy[members, 1] - radius[members]).min() - margin, (xy[members, 1] + radius[members]).max() + margin
    side = max(x1 - x0, y1 - y0, 48.0)
    m, n = image_shape
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # A close-up shows detail: at most 60 % of the field, centred on the centre vesicle when the group is wider.
    limit = max(48.0, 0.6 * min(m, n))
    if side > limit:
        side, (cx, cy) = limit, xy[centre]
    side = min(side, float(min(m, n)))
    col0 = int(round(np.clip(cx - side / 2, 0, n - side)))
    row0 = int(round(np.clip(cy - side / 2, 0, m - side)))
    s = int(round(side))
    box = (row0, col0, row0 + s, col0 + s)
    if avoid_px is not None:
        box = _clear_of(box, _as_boxes(avoid_px), (m, n))
        # a move off the bar or legend can leave a neighbour's centre outside: the caption names those inside
        inside = [i for i in members if box[0] <= xy[i, 1] < box[2] and box[1] <= xy[i, 0] < box[3]]
        members = np.asarray(inside, dtype=int) if inside else members
    labels = [int(v) for v in table["label"].to_numpy()[members]]
    return CloseUp(box_px=box, labels=labels, width_nm=(box[3] - box[1]) * pixel_size_nm)


def mark_box(
    rgb: np.ndarray, box_px: tuple[int, int, int, int], *, colour: tuple[int, int, int] = (255, 200, 0)
) -> np.ndarray:
    """Copy of ``rgb`` with a rectangle drawn around ``box_px`` (line width ~0.4 % of the image).

    Parameters
    ----------
    rgb : (M, N, 3) ndarray of uint8
        The picture.
    box_px : (int, int, int, int)
        ``(row0, col0, row1, col1)``, end exclusive.
    colour : (int, int, int)
        RGB of the line.
    """
    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    width = max(2, round(0.004 * max(im.size)))
    r0, c0, r1, c1 = box_px
    ImageDraw.Draw(im).rectangle((c0, r0, c1 - 1, r1 - 1), outline=colour, width=width)
    return np.asarray(im)


def close_up_scale_bar_nm(close_up: CloseUp) -> float:
    """Length (nm) of the scale bar :func:`close_up_rgb` draws: the round length nearest a fifth of the field."""
    return nice_scale_bar_nm(close_up.width_nm)


def close_up_rgb(rgb: np.ndarray, close_up: CloseUp, *, size_px: int = CLOSE_UP_PX) -> np.ndarray:
    """The crop of ``rgb`` described by ``close_up``, resized to ``size_px`` square, with its own scale bar.

    The bar (bottom right, white, labelled) is :func:`close_up_scale_bar_nm`
    long: ``round(length_nm * size_px / close_up.width_nm)`` pixels. Its label
    prints at 7 pt or more when the close-up is :data:`CLOSE_UP_PRINT_MM` wide.

    Parameters
    ----------
    rgb : (M, N, 3) ndarray of uint8
        The overlay.
    close_up : CloseUp
        The crop.
    size_px : int
        Output side in pixels (nearest-neighbour when enlarging, so pixels stay honest).
    """
    r0, c0, r1, c1 = close_up.box_px
    crop = Image.fromarray(np.ascontiguousarray(rgb[r0:r1, c0:c1], dtype=np.uint8), mode="RGB")
    method = Image.Resampling.NEAREST if crop.width < size_px else Image.Resampling.LANCZOS
    out = np.array(crop.resize((size_px, size_px), method))
    scale, thickness = text_style(int(round(size_px * PRINT_WIDTH_MM / CLOSE_UP_PRINT_MM)))
    white, black = (255, 255, 255), (0, 0, 0)
    length_nm = close_up_scale_bar_nm(close_up)
    draw_scale_bar(
        out, length_nm, close_up.width_nm / size_px, scale=scale, thickness=thickness, white=white, black=black
    )
    return out
