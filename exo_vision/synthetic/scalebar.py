"""Burnt-in scale bars, labels and instrument data strips for synthetic micrographs.

Real TEM exports (PNG/JPEG/TIFF) carry a scale bar drawn into the pixels, a
label such as ``"500 nm"`` or ``"0.5 µm"`` next to it, and often an instrument
data strip (a uniform band at the bottom with magnification, voltage and date).
:func:`draw_scale_bar` draws all of these onto an image and returns exactly where
everything went, so that scale-bar reading and annotation masking can be tested
against known truth.  :func:`random_scale_bar_image` makes a whole randomised
test case (background + bar) from a seed.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import cv2
import numpy as np
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

Unit = Literal["nm", "µm", "um"]
Position = Literal["bottom-left", "bottom-right", "top-left", "top-right"]
BarPolarity = Literal["dark", "light"]
LabelSide = Literal["above", "below", "left", "right"]

#: TrueType fonts bundled with matplotlib (always available).
TRUETYPE_FONTS = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono")
#: OpenCV's built-in vector fonts (ASCII only: "µm" is written "um").
HERSHEY_FONTS = {
    "hershey simplex": cv2.FONT_HERSHEY_SIMPLEX,
    "hershey duplex": cv2.FONT_HERSHEY_DUPLEX,
    "hershey complex": cv2.FONT_HERSHEY_COMPLEX,
    "hershey triplex": cv2.FONT_HERSHEY_TRIPLEX,
}
#: Every font name :func:`draw_scale_bar` accepts.
FONTS = TRUETYPE_FONTS + tuple(HERSHEY_FONTS)

#: Bar lengths a microscope picks, in the label's unit.
NICE_LENGTHS_NM = (20.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0, 2000.0)
NICE_LENGTHS_UM = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

_POSITIONS = ("bottom-left", "bottom-right", "top-left", "top-right")


def format_label(length_nm: float, unit: str, *, space: bool = True) -> str:
    """Return the label text a microscope would print for a bar.

    Parameters
    ----------
    length_nm : float
        Bar length in nanometres.
    unit : {"nm", "µm", "um"}
        Unit to print.
    space : bool
        Whether a space separates number and unit.

    Returns
    -------
    str
        E.g. ``"500 nm"``, ``"0.5 µm"``, ``"2um"``.
    """
    value = length_nm if unit == "nm" else length_nm / 1000.0
    number = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{number}{' ' if space else ''}{unit}"


def _validate_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(
            f"`image` must be a 2-D gray image (M, N), got shape {image.shape}; "
            "convert RGB to gray first (e.g. the mean of the channels)"
        )
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"`image` must have a numeric dtype, got {image.dtype}")
    if min(image.shape) < 64:
        raise ValueError(f"`image` (shape {image.shape}) is too small for a scale bar; use at least 64x64 pixels")
    return image


def _intensity_range(image: np.ndarray) -> tuple[float, float]:
    """Darkest and lightest values an annotation may use (the dtype range for integers)."""
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return float(max(info.min, 0)), float(info.max)
    lo, hi = float(np.nanmin(image)), float(np.nanmax(image))
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def render_text(text: str, *, font: str, font_px: int) -> np.ndarray:
    """Render ``text`` as an anti-aliased coverage mask.

    Parameters
    ----------
    text : str
        The text to draw.
    font : str
        One of :data:`FONTS`.
    font_px : int
        Nominal font size in pixels (the em size; digits are about 0.73 of it).

    Returns
    -------
    (h, w) ndarray of float64
        Ink coverage in 0..1, cropped tightly to the ink.
    """
    if font in HERSHEY_FONTS:
        face = HERSHEY_FONTS[font]
        base_w, base_h = cv2.getTextSize("0", face, 1.0, 1)[0]
        scale = 0.73 * font_px / base_h
        thickness = max(1, int(round(font_px / 20)))
        (w, h), baseline = cv2.getTextSize(text, face, scale, thickness)
        pad = 4 + thickness
        canvas = np.zeros((h + baseline + 2 * pad, w + 2 * pad), np.uint8)
        cv2.putText(canvas, text, (pad, pad + h), face, scale, 255, thickness, cv2.LINE_AA)
    elif font in TRUETYPE_FONTS:
        path = font_manager.findfont(font_manager.FontProperties(family=font), fallback_to_default=False)
        truetype = ImageFont.truetype(path, size=int(font_px))
        left, top, right, bottom = truetype.getbbox(text)
        pad = 4
        pil = Image.new("L", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), 0)
        ImageDraw.Draw(pil).text((pad - left, pad - top), text, fill=255, font=truetype)
        canvas = np.asarray(pil)
    else:
        raise ValueError(f"unknown font {font!r}; choose one of {', '.join(FONTS)}")
    rows = np.flatnonzero(canvas.max(axis=1) > 0)
    cols = np.flatnonzero(canvas.max(axis=0) > 0)
    return canvas[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float64) / 255.0


def _paint(out: np.ndarray, coverage: np.ndarray, row: int, col: int, value: float) -> None:
    """Alpha-blend ``value`` into ``out`` with ``coverage`` at (row, col), clipped to the image."""
    h, w = coverage.shape
    r0, c0 = max(row, 0), max(col, 0)
    r1, c1 = min(row + h, out.shape[0]), min(col + w, out.shape[1])
    if r1 <= r0 or c1 <= c0:
        return
    a = coverage[r0 - row : r1 - row, c0 - col : c1 - col]
    region = out[r0:r1, c0:c1]
    out[r0:r1, c0:c1] = region * (1.0 - a) + value * a


def _paint_span(out: np.ndarray, x0: float, length: float, row: int, rows: int, value: float) -> None:
    """Paint ``value`` over columns ``x0 .. x0 + length`` (px, fractional ends anti-aliased) of ``rows`` rows."""
    c_first, c_last = int(math.floor(x0)), int(math.ceil(x0 + length))
    cols = np.arange(c_first, c_last, dtype=np.float64)
    coverage = np.clip(np.minimum(cols + 1.0, x0 + length) - np.maximum(cols, x0), 0.0, 1.0)
    _paint(out, np.repeat(coverage[None, :], rows, axis=0), row, c_first, value)


def _ink_box(coverage: np.ndarray, row: int, col: int, threshold: float = 0.25) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(coverage.max(axis=1) > threshold)
    cols = np.flatnonzero(coverage.max(axis=0) > threshold)
    return (row + int(rows[0]), col + int(cols[0]), row + int(rows[-1]) + 1, col + int(cols[-1]) + 1)


def _default_length_nm(pixel_size_nm: float, width_px: int, unit: str) -> float:
    nice = NICE_LENGTHS_NM if unit == "nm" else tuple(1000.0 * v for v in NICE_LENGTHS_UM)
    target = 0.2 * width_px * pixel_size_nm
    return min(nice, key=lambda v: abs(math.log(v / target)))


def draw_scale_bar(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    length_nm: float | None = None,
    unit: Unit = "nm",
    position: Position = "bottom-left",
    polarity: BarPolarity = "dark",
    font: str | None = None,
    font_px: int | None = None,
    bar_thickness_px: int | None = None,
    data_strip: bool = False,
    label_side: LabelSide | None = None,
    tick_px: int = 0,
    outline_px: int = 0,
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw a burnt-in scale bar with its label (and optionally a data strip).

    The bar is drawn with sub-pixel (anti-aliased) ends, so its true length in
    pixels is exactly ``length_nm / pixel_size_nm``.

    Parameters
    ----------
    image : (M, N) ndarray
        Gray micrograph, any integer or float dtype. Not modified.
    pixel_size_nm : float
        Pixel edge length of ``image`` in nanometres.
    length_nm : float, optional
        Bar length in nanometres. By default a round value giving a bar of about
        a fifth of the image width.
    unit : {"nm", "µm", "um"}
        Unit printed on the label. Hershey fonts have no "µ" and print "um".
    position : {"bottom-left", "bottom-right", "top-left", "top-right"}
        Corner holding the bar.
    polarity : {"dark", "light"}
        ``"dark"``: black bar and text on the image (sometimes on a white box);
        ``"light"``: white bar and text on a black box (or black data strip).
    font : str, optional
        One of :data:`FONTS`; ``"DejaVu Sans"`` by default.
    font_px : int, optional
        Font size in pixels; about ``min(M, N) / 28`` by default.
    bar_thickness_px : int, optional
        Bar thickness in pixels; about ``min(M, N) / 150`` by default (at least 2).
    data_strip : bool
        Add an instrument data strip (uniform band with text) along the bottom.
        For bottom positions the bar and label sit inside the strip.
    label_side : {"above", "below", "left", "right"}, optional
        Where the label sits; above (70 %) or below the bar at random by default.
        Beside the bar it is centred on the bar's row, a gap away from its end.
    tick_px : int
        End ticks ("|----|"): strokes as wide as the bar is thick (at least 2 px) at
        both ends, reaching this many px above and below the bar; 0 draws none.
        They lie within the bar's length, which they do not change.
    outline_px : int
        A contrasting outline this many px wide around the bar (a white bar framed
        in black, say); 0 draws none. An outlined bar gets no box behind it.
    rng : int or numpy.random.Generator, optional
        Seed for the layout choices (label above/below, spacing, box, jitter).

    Returns
    -------
    out : (M, N) ndarray
        New image, same dtype as ``image``.
    truth : dict
        ``pixel_size_nm``, ``length_nm``, ``bar_length_px`` (float),
        ``bar_box`` and ``label_box`` as ``(row0, col0, row1, col1)`` half-open,
        ``label_text``, ``backing_box`` (the box behind bar + label or ``None``),
        ``strip_box`` (or ``None``), ``polarity``, ``position``, ``font``,
        ``font_px``, ``bar_thickness_px``, ``label_side``, ``tick_px``, ``outline_px``.

    Raises
    ------
    ValueError
        If an argument is invalid or the bar does not fit in the image.
    """
    image = _validate_image(image)
    rng = np.random.default_rng(rng)
    pixel_size_nm = float(pixel_size_nm)
    if not np.isfinite(pixel_size_nm) or pixel_size_nm <= 0:
        raise ValueError(f"`pixel_size_nm` must be a positive number, got {pixel_size_nm!r}")
    if unit not in ("nm", "µm", "um"):
        raise ValueError(f"`unit` must be 'nm', 'µm' or 'um', got {unit!r}")
    if position not in _POSITIONS:
        raise ValueError(f"`position` must be one of {_POSITIONS}, got {position!r}")
    if polarity not in ("dark", "light"):
        raise ValueError(f"`polarity` must be 'dark' or 'light', got {polarity!r}")
    if label_side not in (None, "above", "below", "left", "right"):
        raise ValueError(f"`label_side` must be 'above', 'below', 'left', 'right' or None, got {label_side!r}")
    if int(tick_px) < 0 or int(outline_px) < 0:
        raise ValueError(f"`tick_px` and `outline_px` must be 0 or more, got {tick_px!r} and {outline_px!r}")
    tick_px, outline_px = int(tick_px), int(outline_px)
    font = "DejaVu Sans" if font is None else font
    if font not in FONTS:
        raise ValueError(f"unknown font {font!r}; choose one of {', '.join(FONTS)}")
    if font in HERSHEY_FONTS and unit == "µm":
        unit = "um"

    height, width = image.shape
    size = min(height, width)
    if length_nm is None:
        length_nm = _default_length_nm(pixel_size_nm, width, unit)
    length_nm = float(length_nm)
    if not np.isfinite(length_nm) or length_nm <= 0:
        raise ValueError(f"`length_nm` must be a positive number, got {length_nm!r}")
    bar_length_px = length_nm / pixel_size_nm
    if not 10.0 <= bar_length_px <= 0.6 * width:
        raise ValueError(
            f"a {length_nm:g} nm bar at {pixel_size_nm:g} nm/px is {bar_length_px:.1f} px long, "
            f"which does not fit a {width}-px-wide image (allowed 10 to {0.6 * width:.0f} px); "
            "choose another `length_nm`"
        )
    font_px = int(font_px) if font_px is not None else max(12, int(round(size / 28)))
    if font_px < 6:
        raise ValueError(f"`font_px` must be at least 6, got {font_px}")
    thickness = int(bar_thickness_px) if bar_thickness_px is not None else max(2, int(round(size / 150)))
    if thickness < 1:
        raise ValueError(f"`bar_thickness_px` must be at least 1, got {bar_thickness_px}")

    dark, light = _intensity_range(image)
    ink, paper = (dark, light) if polarity == "dark" else (light, dark)
    label_text = format_label(length_nm, unit, space=bool(rng.random() < 0.75))
    text = render_text(label_text, font=font, font_px=font_px)
    text_h, text_w = text.shape
    gap = max(2, int(round(text_h * rng.uniform(0.25, 0.7))))
    label_above = bool(rng.random() < 0.7)  # drawn even when `label_side` is given: the same seed, the same layout
    side = label_side if label_side is not None else ("above" if label_above else "below")
    beside = side in ("left", "right")
    # The bar with its ticks and outline: how far it reaches above and below its own rows. A label above
    # or below keeps its gap from the bar (and outline), not from the ticks, which may flank it.
    bar_reach = max(tick_px, outline_px)
    bar_w, bar_h = int(math.ceil(bar_length_px)) + 2 * outline_px, thickness + 2 * bar_reach
    text_reach = max(tick_px, outline_px + gap + text_h)
    if beside:
        block_w, block_h = bar_w + gap + text_w, max(bar_h, text_h)
    else:
        block_w, block_h = max(bar_w, text_w), thickness + bar_reach + text_reach
    pad = max(3, int(round(0.4 * text_h)))
    margin = int(round(size * rng.uniform(0.02, 0.05)))

    out = image.astype(np.float64, copy=True)
    strip_box = None
    backing_box = None
    bottom = position.startswith("bottom")
    left = position.endswith("left")

    if data_strip:
        strip_h = block_h + 2 * pad + int(rng.integers(0, pad + 1))
        strip_box = (height - strip_h, 0, height, width)
        out[strip_box[0] :, :] = paper
        info = render_text(
            f"HV={int(rng.choice([80, 100, 120]))}kV  Mag={int(rng.choice([15, 20, 30, 50]))}000x",
            font=font,
            font_px=max(8, int(round(font_px * 0.8))),
        )
        info_row = strip_box[0] + (strip_h - info.shape[0]) // 2
        if bottom:
            # Info text on the far side of the strip from the bar.
            info_col = width - margin - info.shape[1] if left else margin
        else:
            info_col = margin
        _paint(out, info, info_row, info_col, ink)
        if bottom:
            block_top = strip_box[0] + (strip_h - block_h) // 2
        else:
            block_top = margin
    else:
        block_top = height - margin - block_h if bottom else margin
    block_left = margin if left else width - margin - block_w

    in_strip = data_strip and bottom
    if not in_strip and (polarity == "light" or rng.random() < 0.3) and not outline_px:
        backing_box = (
            max(block_top - pad, 0),
            max(block_left - pad, 0),
            min(block_top + block_h + pad, height),
            min(block_left + block_w + pad, width),
        )
        out[backing_box[0] : backing_box[2], backing_box[1] : backing_box[3]] = paper

    if beside:
        bar_row = block_top + (block_h - thickness) // 2
        text_row = block_top + (block_h - text_h) // 2
        bar_left = block_left + (text_w + gap if side == "left" else 0) + outline_px
        x0 = bar_left + float(rng.uniform(0.0, 1.0))
    else:
        bar_row = block_top + (text_reach if side == "above" else bar_reach)
        above = side == "above"
        text_row = bar_row - outline_px - gap - text_h if above else bar_row + thickness + outline_px + gap
        x0 = block_left + (block_w - bar_length_px) / 2.0 + float(rng.uniform(0.0, 1.0))
    x0 = min(max(x0, 1.0 + outline_px), width - bar_length_px - 1.0 - outline_px)
    if outline_px:
        _paint_span(out, x0 - outline_px, bar_length_px + 2 * outline_px, bar_row - outline_px, bar_h, paper)
    _paint_span(out, x0, bar_length_px, bar_row, thickness, ink)
    if tick_px:
        tick_w = min(max(2, thickness), bar_length_px / 2)
        for start in (x0, x0 + bar_length_px - tick_w):
            _paint_span(out, start, tick_w, bar_row - tick_px, thickness + 2 * tick_px, ink)
    c_first, c_last = int(math.floor(x0)), int(math.ceil(x0 + bar_length_px))
    bar_box = (bar_row, c_first, bar_row + thickness, c_last)

    if beside:
        text_col = block_left if side == "left" else c_last + outline_px + gap
    elif rng.random() < 0.5 or tick_px:  # between the ticks, when there are some
        text_col = block_left + (block_w - text_w) // 2
    else:  # left-aligned with the bar, but never out of the block (or its box)
        text_col = min(c_first, block_left + block_w - text_w)
    text_col = min(max(text_col, 0), width - text_w)
    _paint(out, text, text_row, text_col, ink)
    label_box = _ink_box(text, text_row, text_col)

    if np.issubdtype(image.dtype, np.integer):
        info_dtype = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info_dtype.min, info_dtype.max)
    truth = {
        "pixel_size_nm": pixel_size_nm,
        "length_nm": length_nm,
        "bar_length_px": bar_length_px,
        "bar_box": bar_box,
        "label_box": label_box,
        "label_text": label_text,
        "backing_box": backing_box,
        "strip_box": strip_box,
        "polarity": polarity,
        "position": position,
        "font": font,
        "font_px": font_px,
        "bar_thickness_px": thickness,
        "label_side": side,
        "tick_px": tick_px,
        "outline_px": outline_px,
    }
    return out.astype(image.dtype), truth


def tem_like_background(shape: tuple[int, int], *, rng: int | np.random.Generator | None = None) -> np.ndarray:
    """A plausible negative-stain TEM background: gradient, grain noise and a few blobs.

    Parameters
    ----------
    shape : (int, int)
        Output shape (M, N).
    rng : int or numpy.random.Generator, optional
        Seed.

    Returns
    -------
    (M, N) ndarray of uint8
        Mid-gray image (mostly within 60..220) with dark and light blobs.
    """
    rng = np.random.default_rng(rng)
    height, width = (int(shape[0]), int(shape[1]))
    if height < 64 or width < 64:
        raise ValueError(f"`shape` {shape} is too small; use at least (64, 64)")
    rows = np.linspace(-1.0, 1.0, height)[:, None]
    cols = np.linspace(-1.0, 1.0, width)[None, :]
    base = rng.uniform(110, 170)
    image = base + rng.uniform(-30, 30) * rows + rng.uniform(-30, 30) * cols
    grain = rng.normal(0.0, 1.0, (height, width)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), rng.uniform(0.7, 2.0))
    image = image + grain * rng.uniform(8, 20) / max(float(grain.std()), 1e-6)
    for _ in range(int(rng.integers(3, 9))):
        r = rng.uniform(0.01, 0.06) * min(height, width)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        amplitude = rng.choice([-1.0, 1.0]) * rng.uniform(25, 60)
        # Only within 4 sigma of the centre, where the blob is visible.
        r0, r1 = max(int(cy - 4 * r), 0), min(int(cy + 4 * r) + 1, height)
        c0, c1 = max(int(cx - 4 * r), 0), min(int(cx + 4 * r) + 1, width)
        if r1 <= r0 or c1 <= c0:
            continue
        yy = np.arange(r0, r1)[:, None] - cy
        xx = np.arange(c0, c1)[None, :] - cx
        image[r0:r1, c0:c1] += amplitude * np.exp(-(yy**2 + xx**2) / (2 * r * r))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def random_scale_bar_image(
    *, rng: int | np.random.Generator | None = None, jpeg: bool | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """One randomised scale-bar test case: background plus bar with known truth.

    Varies image size (512..1536 px), pixel size, bar length, unit (nm/µm),
    font (:data:`FONTS`), font size, bar thickness, corner, polarity, data strip,
    and (optionally) JPEG compression.

    Parameters
    ----------
    rng : int or numpy.random.Generator, optional
        Seed; the same seed gives the same image and truth.
    jpeg : bool, optional
        Compress the result as JPEG (quality 80..95). Random (30 %) by default.

    Returns
    -------
    image : (M, N) ndarray of uint8
    truth : dict
        As from :func:`draw_scale_bar`, plus ``jpeg`` (bool).
    """
    rng = np.random.default_rng(rng)
    height = int(rng.integers(512, 1537))
    width = int(np.clip(height * rng.uniform(0.8, 1.4), 512, 2048))
    background = tem_like_background((height, width), rng=rng)
    unit = str(rng.choice(["nm", "nm", "µm", "um"]))
    nice = NICE_LENGTHS_NM if unit == "nm" else tuple(1000.0 * v for v in NICE_LENGTHS_UM)
    length_nm = float(rng.choice(nice))
    bar_length_px = float(rng.uniform(0.08, 0.35)) * width
    pixel_size_nm = length_nm / bar_length_px
    size = min(height, width)
    image, truth = draw_scale_bar(
        background,
        pixel_size_nm=pixel_size_nm,
        length_nm=length_nm,
        unit=unit,  # type: ignore[arg-type]
        position=str(rng.choice(_POSITIONS)),  # type: ignore[arg-type]
        polarity=str(rng.choice(["dark", "light"])),  # type: ignore[arg-type]
        font=str(rng.choice(FONTS)),
        font_px=int(round(size * rng.uniform(1 / 45, 1 / 18))),
        bar_thickness_px=max(2, int(round(size * rng.uniform(1 / 250, 1 / 80)))),
        data_strip=bool(rng.random() < 0.35),
        rng=rng,
    )
    if jpeg is None:
        jpeg = bool(rng.random() < 0.3)
    if jpeg:
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 96))])
        image = np.asarray(cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE))
    truth["jpeg"] = bool(jpeg)
    return image, truth
