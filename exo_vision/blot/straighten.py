"""Straighten a blot whose membranes lie turned in the frame, as analysts do in Image Lab before boxing lanes.

A membrane laid by hand in the imager is often a few degrees off square. Lanes and bands are followed
along a slight tilt (:mod:`exo_vision.blot.lanes.tilt`), but from about 4 degrees the gaps between
stacked membranes no longer run across the frame and a strip's lanes drift sideways by half a pitch
from one membrane to the next (``benchmarks/blot_rotation.py``: generated blots turned by 4 and 6
degrees lose lanes, miss bands and misplace EV/lysate ratios). :func:`frame_rotation_deg` reads the
membranes' rotation from their straight long edges; :func:`straightened` turns the image back.

Only a rotation that every membrane with two straight long edges shows, within
:data:`MAX_MEMBRANE_DISAGREEMENT_DEG`, counts: membranes laid separately at different angles, a
membrane that fills the frame (its edges are the frame's) or a cropped gel give no rotation and the
image is analysed as it is.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.robust import MAD_TO_SD
from exo_vision.blot.signal import check_image, guess_polarity, to_signal
from exo_vision.blot.strips import EDGE_END_DIVISOR, EDGE_OUTLIER_SDS

#: Rotations smaller than this (degrees) are left to the lanes' own tilt (generated blots turned by
#: 1-2 degrees keep their calls; ``benchmarks/blot_rotation.py``).
STRAIGHTEN_MIN_DEG = 2.0
#: Membranes are looked for on a copy whose longer side is at most this many pixels.
SEARCH_SIDE_PX = 500
#: The copy is smoothed with a Gaussian of this SD (px of the copy) before the membrane threshold.
SMOOTHING_SD_PX = 2.0
#: A membrane covers at least this fraction of the frame (a row of bands on a dark frame covers 2-5 %).
MIN_MEMBRANE_FRACTION = 0.08
#: Most of a membrane lies at its background level, under this fraction of its brightest percent (its bands,
#: the percentile below); a region that is all band (a saturated band row) is not a membrane.
MAX_MEMBRANE_LEVEL_FRACTION = 0.5
#: See :data:`MAX_MEMBRANE_LEVEL_FRACTION`.
MEMBRANE_BAND_PERCENTILE = 99
#: The membrane threshold (Otsu's) is found on the log level scaled to 8 bits, its top at this percentile.
LEVEL_TOP_PERCENTILE = 99.5
#: Grey levels of the 8-bit scale the threshold is found on.
EIGHT_BIT_MAX = 255
#: The mask is opened by a square this many pixels a side (thin pen marks and band tails fall away).
OPENING_PX = 5
#: The two long edges of one membrane agree within this many degrees, or it gives no rotation.
MAX_EDGE_DISAGREEMENT_DEG = 0.5
#: A long edge is straight: its rows lie within this RMS (px of the reduced copy) of the fitted line (cut
#: membranes: 0.2-0.5 px; the glow around a row of saturated bands: 5-17 px) ...
MAX_EDGE_RMS_PX = 1.0
#: ... over at least this fraction of its columns (the rest: pen marks, bands touching the edge).
MIN_EDGE_KEPT_FRACTION = 0.8
#: Columns whose row is EDGE_OUTLIER_SDS robust SDs (and at least this many px) off the line are left out of the
#: fit; EDGE_OUTLIER_SDS and EDGE_END_DIVISOR (the ends of an edge left out) are the strip finder's, whose
#: membrane edges these are too (:mod:`exo_vision.blot.strips`).
EDGE_OUTLIER_MIN_PX = 2.0
#: A frame-rotation edge needs at least this many columns of the reduced copy for a line.
MIN_FRAME_EDGE_COLUMNS = 20
#: Every membrane's rotation lies within this many degrees of their median, or the frame has none.
MAX_MEMBRANE_DISAGREEMENT_DEG = 1.0
#: Rotations beyond this many degrees are not read (a membrane laid across the frame).
MAX_ROTATION_DEG = 20.0
#: The corners a turn brings into the frame are filled with this percentile of the signal (the camera floor).
FLOOR_PERCENTILE = 0.1


def _membrane_mask(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Membranes (above the camera floor) on a reduced, smoothed copy of ``signal`` (less its floor), and the copy."""
    h, w = signal.shape
    f = min(1.0, SEARCH_SIDE_PX / max(h, w))
    small = cv2.resize(signal, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), SMOOTHING_SD_PX)
    small = np.clip(small - np.percentile(small, 0.5), 0, None)
    # on a log scale the membrane's level lies between the floor and the bands, whatever the bands' strength
    level = np.log1p(small)
    top = float(np.percentile(level, LEVEL_TOP_PERCENTILE))
    if top <= 0:
        return np.zeros(level.shape, bool), small
    u8 = np.clip(level / top * EIGHT_BIT_MAX, 0, EIGHT_BIT_MAX).astype(np.uint8)
    _, mask = cv2.threshold(u8, 0, EIGHT_BIT_MAX, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((OPENING_PX, OPENING_PX), np.uint8))
    return mask > 0, small


def _edge_rotation_deg(rows: np.ndarray, inside: np.ndarray) -> float | None:
    """Rotation (degrees, counter-clockwise on screen) of a straight edge given its row at each column, or None.

    Only columns where the edge lies ``inside`` the frame count (a turned membrane's corner can run
    off the frame). None when the edge is too short or not straight (see :data:`MAX_EDGE_RMS_PX`).
    """
    n = rows.size
    x = np.arange(n)[n // EDGE_END_DIVISOR : n - n // EDGE_END_DIVISOR]
    x = x[inside[x]]
    if x.size < MIN_FRAME_EDGE_COLUMNS:
        return None
    y = rows[x].astype(float)
    keep = np.ones(x.size, bool)
    for _ in range(2):
        coef = np.polyfit(x[keep], y[keep], 1)
        residual = y - np.polyval(coef, x)
        spread = MAD_TO_SD * np.median(np.abs(residual[keep]))
        keep = np.abs(residual) <= max(EDGE_OUTLIER_MIN_PX, EDGE_OUTLIER_SDS * spread)
        if keep.sum() < max(MIN_FRAME_EDGE_COLUMNS, MIN_EDGE_KEPT_FRACTION * x.size):
            return None
    coef = np.polyfit(x[keep], y[keep], 1)
    rms = float(np.sqrt(np.mean((y[keep] - np.polyval(coef, x[keep])) ** 2)))
    return None if rms > MAX_EDGE_RMS_PX else float(-np.degrees(np.arctan(coef[0])))


def _membrane_rotation_deg(mask: np.ndarray, box: tuple[slice, slice]) -> float | None:
    """Rotation of one membrane (``mask`` of the frame, the membrane alone) from its two long edges, or None.

    The long edges are the top and bottom ones when the membrane's ``box`` is wider than tall, else
    the left and right ones; both must be straight and agree where they lie inside the frame.
    """
    rows, cols = box
    wide = cols.stop - cols.start >= rows.stop - rows.start
    # a tall membrane is read transposed: its left edge becomes a top edge turned the other way
    m = mask[rows, cols] if wide else mask[rows, cols].T
    start, height = (rows.start, mask.shape[0]) if wide else (cols.start, mask.shape[1])
    present = m.any(axis=0)
    first = np.argmax(m, axis=0)
    last = m.shape[0] - 1 - np.argmax(m[::-1], axis=0)
    # where an edge lies on the frame's border it is the frame's, not the membrane's
    near = _edge_rotation_deg(first, present & (start + first > 0))
    far = _edge_rotation_deg(last, present & (start + last < height - 1))
    if near is None or far is None or abs(near - far) > MAX_EDGE_DISAGREEMENT_DEG:
        return None
    angle = (near + far) / 2
    return angle if wide else -angle


def frame_rotation_deg(signal: np.ndarray) -> float | None:
    """The rotation (degrees, counter-clockwise on screen) of the membranes in the frame, or None.

    Parameters
    ----------
    signal : (M, N) ndarray
        The blot in signal orientation (bright bands; :func:`exo_vision.blot.signal.to_signal`).

    Returns
    -------
    float or None
        The median rotation of the membranes whose two long edges are
        straight and parallel where they lie inside the frame (a stretch on
        the frame's border is the frame's edge); None when no membrane shows
        one, or when they disagree by more than
        :data:`MAX_MEMBRANE_DISAGREEMENT_DEG` (laid separately).
    """
    mask, small = _membrane_mask(np.asarray(signal, dtype=np.float32))
    labels, n = ndi.label(mask)
    if n == 0:
        return None
    boxes = ndi.find_objects(labels)
    sizes = ndi.sum_labels(mask, labels, index=np.arange(1, n + 1))
    angles = []
    for k, (rows, cols) in enumerate(boxes, start=1):
        if sizes[k - 1] < MIN_MEMBRANE_FRACTION * mask.size:
            continue
        inside = small[rows, cols][labels[rows, cols] == k]
        if np.median(inside) >= MAX_MEMBRANE_LEVEL_FRACTION * np.percentile(inside, MEMBRANE_BAND_PERCENTILE):
            continue
        membrane = np.zeros_like(mask)
        membrane[rows, cols] = ndi.binary_fill_holes(labels[rows, cols] == k)
        angle = _membrane_rotation_deg(membrane, (rows, cols))
        if angle is not None:
            angles.append(angle)
    if not angles:
        return None
    median = float(np.median(angles))
    if abs(median) > MAX_ROTATION_DEG or any(abs(a - median) > MAX_MEMBRANE_DISAGREEMENT_DEG for a in angles):
        return None
    return median


def straightened(image: np.ndarray, rotation_deg: float, *, polarity: str) -> np.ndarray:
    """``image`` turned clockwise by ``rotation_deg`` about its centre (undoing that rotation); same dtype.

    In an image of more than 8 bits each pixel takes the value of the nearest pixel of ``image``:
    the pixel noise keeps its SD, so the detection limits measured on the straightened image stay
    honest (bilinear interpolation averages neighbours, lowers the blank-box noise by 20-40 % and
    let a faint residual in an EV lane be called "present" on generated raw panels), and saturated
    pixels keep the saturation level; a band's volume moves by the few pixels a turn repeats or
    skips. An 8-bit export is interpolated bilinearly and rounded: its noise is below one grey
    level, its detection limits rest on the rounding (:mod:`exo_vision.blot.quantisation`), and
    repeated pixels would break the rounding steps that measurement reads (on one generated
    8-bit panel the calnexin row was lost). Figures: ``benchmarks/blot_rotation.py``. The corners
    brought into the frame hold the camera floor (the image's 0.1th percentile, or 99.9th for dark
    bands on a light export).

    Parameters
    ----------
    image : (M, N) ndarray
        The blot as read.
    rotation_deg : float
        The membranes' rotation, counter-clockwise on screen (:func:`frame_rotation_deg`).
    polarity : {"bright", "dark"}
        Whether bands are brighter (raw chemiluminescence) or darker (inverted export) than the floor.
    """
    data = np.asarray(image)
    h, w = data.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -float(rotation_deg), 1.0)
    floor = float(np.percentile(data, FLOOR_PERCENTILE if polarity == "bright" else 100 - FLOOR_PERCENTILE))
    turned = cv2.warpAffine(
        data.astype(np.float32),
        matrix,
        (w, h),
        flags=cv2.INTER_NEAREST if data.dtype.itemsize > 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=floor,
    )
    if data.dtype.kind in "ui":
        info = np.iinfo(data.dtype)
        return np.clip(np.round(turned), info.min, info.max).astype(data.dtype)
    return turned.astype(data.dtype, copy=False)


def straightening_warning(rotation_deg: float, *, as_it_is: str = "--no-straighten", given: bool = False) -> str:
    """What the user is told when a blot was straightened before quantification.

    ``as_it_is`` names the option that analyses the image without straightening it; ``given`` says the angle was
    the user's (``--rotate``), not read from the membranes' edges.
    """
    if given:
        return (
            f"the image was turned back by {rotation_deg:+.1f} degrees, as --rotate asked, before lanes and bands were "
            "found; lanes, band boxes and the annotated image are those of the turned image (leave out --rotate to "
            "analyse it as it is)"
        )
    return (
        f"the membranes lie turned by {rotation_deg:+.1f} degrees in the frame: the image was straightened (turned "
        f"back by {abs(rotation_deg):.1f} degrees) before lanes and bands were found; lanes, band boxes and the "
        f"annotated image are those of the straightened image ({as_it_is} analyses it as it is)"
    )


def straighten_if_turned(
    image: np.ndarray, *, polarity: str | None = None, max_value: float | None = None
) -> tuple[np.ndarray, float | None]:
    """The blot straightened when its membranes lie turned by :data:`STRAIGHTEN_MIN_DEG` or more.

    Parameters
    ----------
    image : (M, N) ndarray
        The blot as read.
    polarity : {"bright", "dark"} or None
        Band polarity (guessed when None, as :func:`~exo_vision.blot.quantify.quantify_blot` does).
    max_value : float, optional
        The white level of an inverted export (see :func:`~exo_vision.blot.signal.to_signal`).

    Returns
    -------
    image : (M, N) ndarray
        The straightened image, or ``image`` itself.
    rotation_deg : float or None
        The rotation undone (counter-clockwise on screen), or None when the image is returned as it is.
    """
    data = check_image(image)
    polarity = polarity or guess_polarity(data)
    rotation = frame_rotation_deg(to_signal(data, polarity=polarity, max_value=max_value))
    if rotation is None or abs(rotation) < STRAIGHTEN_MIN_DEG:
        return data, None
    return straightened(data, rotation, polarity=polarity), rotation
