"""Turn a blot image into "signal" (bright bands, zero-ish background) and find its defects.

Every other blot module works on signal orientation: larger value = more
chemiluminescence. Raw ChemiDoc images already are; inverted "for
publication" exports (dark bands on white) are flipped here.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.order_stats import median_of, percentile_one
from exo_vision._shared.robust import mad_sd
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS
from exo_vision.io.polarity import camera_background

logger = logging.getLogger(__name__)

#: Dust specks are outlier blobs no larger than this (rows and columns, px).
DUST_MAX_SIZE_PX = DEFAULT_BLOT_PARAMETERS.dust_max_size_px

#: A speck stands this many pixel-noise SDs above its local opening (see BlotParameters.dust_noise_sds).
DUST_NOISE_SDS = DEFAULT_BLOT_PARAMETERS.dust_noise_sds
#: Where cameras and exports of 8 to 16 bits clip, stored in a wider integer file: 2**k - 1 (a 12-bit camera in
#: a 16-bit file clips at 4095; a 16-bit image kept in int32 or int64, as numpy pipelines save it, at 65535).
CAMERA_CLIP_LEVELS = frozenset(2**bits - 1 for bits in range(8, 17))
#: The clip level is looked for among this many of the image's brightest pixels (hot pixels may lie above it).
CLIP_SEARCH_PX = 10_000
#: An image's maximum is a clip level when at least this many pixels sit exactly at it (an unclipped
#: band of a 16-bit or float image peaks in one or two pixels; a clipped one in a flat top of dozens).
MIN_CLIP_PLATEAU_PX = 8
#: An integer image's top plateau at a level other than 2**k - 1 is a clip when it holds a flat area at least this
#: many px across both ways (a clipped band's top; a ruler or frame drawn at one level is a few px thick).
MIN_CLIP_TOP_SIDE_PX = 5
#: Smallest image side, px: fewer rows or columns cannot hold lanes.
MIN_IMAGE_SIDE_PX = 8
#: Percentiles and medians of a whole image are read on a subsample of about this many rows and columns.
SAMPLE_SIDE = 256
#: Low and high levels of the image for the polarity guess (robust to a few hot or dead pixels).
POLARITY_PERCENTILES = (0.5, 99.5)
#: The polarity guess reads the median on every MEDIAN_STRIDE-th row and column.
MEDIAN_STRIDE = 4
#: The image's spread (for the dust and ink thresholds) is this percentile less its median.
SPREAD_PERCENTILE = 99.9
#: A speck also stands this fraction of the image's spread above its opening (noise-free exports) ...
DUST_SPREAD_FRACTION = 0.05
#: ... and the threshold never falls to zero (a constant image).
DUST_THRESHOLD_FLOOR = 1e-6
#: Outliers are examined tile by tile, tiles of this many px a side ...
TILE_PX = 32
#: ... with this margin (px) around each (a speck on a tile's edge is seen whole) ...
DUST_TILE_MARGIN_PX = 10
#: ... and this one when specks are replaced (room for the ring around a speck on the margin).
REPAIR_TILE_MARGIN_PX = 12
#: The ring around a speck: its dilation by a square this many px a side, less the speck.
RING_PX = 5
#: Pixels touching by a corner are one speck.
EIGHT_CONNECTED = np.ones((3, 3), bool)
#: A component is a speck when this percentile of its ring's excess over the opening stays below half
#: the threshold (a band's corner has band in a quarter or more of its ring).
RING_EXCESS_PERCENTILE = 75
#: The dust mask is dilated by this square (the blurred rim of a speck).
MASK_DILATION = np.ones((3, 3), np.uint8)
#: The pixel noise is read on a subsample of about this many pixels.
NOISE_SAMPLE_PIXELS = 250_000


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate a blot image and return it as a 2-D array.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey-level blot image (any real dtype).

    Returns
    -------
    (M, N) ndarray
        The same array (not copied).

    Raises
    ------
    ValueError
        For an image that is not 2-D, too small, not real numbers, or has
        pixels without a value (NaN or infinite).
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(
            f"a blot image must be 2-D (rows, columns), got shape {image.shape}; "
            "convert RGB exports to grey (exo_vision.io.read_image does) before quantifying"
        )
    if image.shape[0] < MIN_IMAGE_SIDE_PX or image.shape[1] < MIN_IMAGE_SIDE_PX:
        raise ValueError(f"a blot image of shape {image.shape} is too small to hold lanes; pass the whole blot")
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"a blot image must hold real numbers, got dtype {image.dtype}")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        missing = int(np.count_nonzero(~np.isfinite(image)))
        raise ValueError(
            f"{missing} pixels of the blot hold no value (NaN or infinite); band volumes need a value at every "
            "pixel of the lanes: crop the image to the membrane, or export it again from the imager's software"
        )
    return image


def default_saturation_level(image: np.ndarray, *, polarity: str) -> float | None:
    """Saturation level when the file does not say.

    - Dark bands (an inverted export): 0.
    - Integer images: the dtype maximum, or for images of more than 8 bits a camera's or an
      export's 2**k - 1 (k = 8-16: a 12-bit camera stored in a 16-bit file clips at 4095, a
      16-bit image kept in int32 at 65535) when the image's highest plateau of at least
      :data:`MIN_CLIP_PLATEAU_PX` pixels sits there (hot pixels above it do not hide it), or
      that plateau at any other level when at least :data:`MIN_CLIP_PLATEAU_PX` of its pixels
      lie in a flat area :data:`MIN_CLIP_TOP_SIDE_PX` across (a 16-bit export clipped by its
      display range; equal pixels of noise lie apart, a drawn line is thinner).
    - Floating-point images: their highest such plateau (a clipped band's flat top), else
      ``None``: nothing is known to be clipped (the brightest pixel of a float image is not a
      saturated one).

    Parameters
    ----------
    image : (M, N) ndarray
        Raw blot image.
    polarity : {"bright", "dark"}
        Whether bands are brighter or darker than the background.

    Returns
    -------
    float or None
        The pixel value at which the detector (or the export) clipped; None when unknown.
    """
    if polarity == "dark":
        return 0.0
    plateau = _highest_plateau(image)
    if np.issubdtype(image.dtype, np.integer):
        dtype_max = int(np.iinfo(image.dtype).max)
        if image.dtype.itemsize > 1 and plateau is not None:
            if int(plateau) in CAMERA_CLIP_LEVELS or _flat_top_px(image, plateau) >= MIN_CLIP_PLATEAU_PX:
                return float(plateau)
        return float(dtype_max)
    return plateau


def _flat_top_px(image: np.ndarray, level: float) -> int:
    """Pixels of ``image`` at exactly ``level`` that lie in a flat area at least :data:`MIN_CLIP_TOP_SIDE_PX` across
    both ways (an opening by that square: a clipped band's top; a line drawn at one level is thinner)."""
    top = ndi.binary_opening(np.asarray(image) == level, structure=np.ones((MIN_CLIP_TOP_SIDE_PX,) * 2, bool))
    return int(np.count_nonzero(top))


def _highest_plateau(image: np.ndarray) -> float | None:
    """The image's clipped level: the highest value at least :data:`MIN_CLIP_PLATEAU_PX` pixels sit exactly
    at, with fewer than that many (hot pixels) above it; None when there is none."""
    flat = np.asarray(image).ravel()
    if flat.size > CLIP_SEARCH_PX:
        flat = np.partition(flat, flat.size - CLIP_SEARCH_PX)[-CLIP_SEARCH_PX:]
    values, counts = np.unique(flat, return_counts=True)
    above = np.cumsum(counts[::-1])[::-1] - counts  # pixels brighter than each value
    clipped = np.flatnonzero((counts >= MIN_CLIP_PLATEAU_PX) & (above < MIN_CLIP_PLATEAU_PX))
    return float(values[clipped[-1]]) if clipped.size else None


def guess_polarity(image: np.ndarray) -> str:
    """Guess whether bands are bright on dark or dark on bright.

    The background covers most of a blot, so the median pixel tells: on an
    integer image, a median in the lower half of the dtype's range is a
    camera's background (raw, bright bands); otherwise a median in the upper
    half of the range used means a light background (inverted export, dark
    bands).

    Parameters
    ----------
    image : (M, N) ndarray
        Raw blot image.

    Returns
    -------
    {"bright", "dark"}
    """
    image = check_image(image)
    median = float(np.median(image[::MEDIAN_STRIDE, ::MEDIAN_STRIDE]))
    if camera_background(image.dtype, median):
        return "bright"
    lo, hi = np.percentile(
        image[:: max(1, image.shape[0] // SAMPLE_SIDE), :: max(1, image.shape[1] // SAMPLE_SIDE)], POLARITY_PERCENTILES
    )
    if hi <= lo:
        return "bright"
    return "dark" if (median - lo) / (hi - lo) > 0.5 else "bright"


def to_signal(image: np.ndarray, *, polarity: str, max_value: float | None = None) -> np.ndarray:
    """Return the image as float32 signal: larger value = more protein.

    Parameters
    ----------
    image : (M, N) ndarray
        Raw blot image.
    polarity : {"bright", "dark"}
        ``"bright"``: bands brighter than background (raw chemiluminescence);
        ``"dark"``: inverted export, bands darker.
    max_value : float, optional
        For ``"dark"`` the white level the export was inverted from (defaults
        to the dtype maximum, 255 for 8-bit). Ignored for ``"bright"``.

    Returns
    -------
    (M, N) ndarray of float32
        Signal in the image's own intensity units.
    """
    image = check_image(image)
    if polarity not in ("bright", "dark"):
        raise ValueError(f"polarity must be 'bright' or 'dark', got {polarity!r}")
    data = image.astype(np.float32, copy=False)
    if polarity == "bright":
        return data
    if np.issubdtype(image.dtype, np.integer):
        white = float(np.iinfo(image.dtype).max)
    else:
        white = float(np.nanmax(image))
    return np.float32(white) - data


def dust_mask(
    signal: np.ndarray,
    *,
    noise_sd: float | None = None,
    max_size_px: int = DUST_MAX_SIZE_PX,
    noise_sds: float = DUST_NOISE_SDS,
) -> np.ndarray:
    """Find dust specks: small bright blobs far above their local floor.

    Bands and smears are wider than a lane's few pixels of rows and columns,
    so they never qualify; a speck is a connected group of outlier pixels
    whose bounding box is at most ``max_size_px`` in both directions.

    Parameters
    ----------
    signal : (M, N) ndarray of float32
        Blot in signal orientation.
    noise_sd : float, optional
        Pixel noise standard deviation (estimated from the image if omitted).
    max_size_px : int
        Largest speck edge in pixels.
    noise_sds : float
        A speck pixel stands at least this many ``noise_sd`` above the image's grey opening.

    Returns
    -------
    (M, N) ndarray of bool
        True on dust pixels (dilated by one pixel).
    """
    signal = np.ascontiguousarray(signal, dtype=np.float32)
    # a 9 x 9 grey opening removes every bright thing smaller than 9 px (specks) and keeps
    # anything larger (bands, smears; their thin parts are long, not small, components)
    size = max_size_px + 2
    med = cv2.morphologyEx(signal, cv2.MORPH_OPEN, np.ones((size, size), np.uint8))
    if noise_sd is None:
        noise_sd = pixel_noise_sd(signal)
    sample = signal[:: max(1, signal.shape[0] // SAMPLE_SIDE), :: max(1, signal.shape[1] // SAMPLE_SIDE)]
    spread = image_spread(sample)
    threshold = max(noise_sds * noise_sd, DUST_SPREAD_FRACTION * spread, DUST_THRESHOLD_FLOOR)
    outlier = (signal - med) > threshold
    mask = np.zeros(signal.shape, bool)
    # Examine each 32 x 32 tile holding outliers (few on a real blot): a speck is a small
    # component whose surroundings are background. A band's corner also stands out from
    # its median, but a quarter or more of its surroundings is band, so it is kept.
    tiles = _tiles_with(outlier)
    if tiles.size == 0:
        return mask
    ring_k = np.ones((RING_PX, RING_PX), np.uint8)
    for ty, tx in tiles:
        y0, y1 = _tile_span(ty, margin_px=DUST_TILE_MARGIN_PX, length=signal.shape[0])
        x0, x1 = _tile_span(tx, margin_px=DUST_TILE_MARGIN_PX, length=signal.shape[1])
        labels, n = ndi.label(outlier[y0:y1, x0:x1], structure=EIGHT_CONNECTED)
        for i, sl in enumerate(ndi.find_objects(labels), start=1):
            if sl is None:
                continue
            if sl[0].stop - sl[0].start > max_size_px or sl[1].stop - sl[1].start > max_size_px:
                continue
            if _cut_by_window(sl, (y0, y1, x0, x1), signal.shape):
                continue  # a larger component (a band's end) cut by the window: the window of its own tile judges it
            comp = labels == i
            ring = cv2.dilate(comp.astype(np.uint8), ring_k).astype(bool) & ~comp
            excess = (signal[y0:y1, x0:x1] - med[y0:y1, x0:x1])[ring]
            if excess.size and np.percentile(excess, RING_EXCESS_PERCENTILE) < 0.5 * threshold:
                mask[y0:y1, x0:x1] |= comp
    if not mask.any():
        return mask
    return cv2.dilate(mask.astype(np.uint8), MASK_DILATION).astype(bool)


def _cut_by_window(sl: tuple[slice, slice], window: tuple[int, int, int, int], shape: tuple[int, ...]) -> bool:
    """Whether a component (``sl``, in window coordinates) touches an edge of its window that is not the image's."""
    y0, y1, x0, x1 = window
    return (
        (sl[0].start == 0 and y0 > 0)
        or (sl[0].stop == y1 - y0 and y1 < shape[0])
        or (sl[1].start == 0 and x0 > 0)
        or (sl[1].stop == x1 - x0 and x1 < shape[1])
    )


def image_spread(sample: np.ndarray) -> float:
    """The spread of an image's levels: its :data:`SPREAD_PERCENTILE` less its median (read on ``sample``)."""
    return float(percentile_one(sample, SPREAD_PERCENTILE) - median_of(sample))


def _tile_span(index: int, *, margin_px: int, length: int) -> tuple[int, int]:
    """Start and stop (px) of tile ``index`` along an axis of ``length`` px, widened by ``margin_px`` each side."""
    return max(0, index * TILE_PX - margin_px), min(length, (index + 1) * TILE_PX + margin_px)


def _tiles_with(mask: np.ndarray, tile: int = TILE_PX) -> np.ndarray:
    """(row, column) indices of the ``tile`` x ``tile`` tiles holding any True pixel."""
    h, w = mask.shape
    th, tw = -(-h // tile), -(-w // tile)
    # rows of tiles first (a whole-row reduction), then the tiles along each (on an array `tile` times smaller)
    rows = np.zeros((th * tile, w), np.uint8)
    rows[:h] = mask
    band = np.zeros((th, tw * tile), np.uint8)
    band[:, :w] = np.bitwise_or.reduce(rows.reshape(th, tile, w), axis=1)
    return np.argwhere(band.reshape(th, tw, tile).any(axis=2))


def remove_dust(signal: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Replace each dust speck by the median of the pixels just around it.

    Parameters
    ----------
    signal : (M, N) ndarray of float32
        Blot in signal orientation.
    mask : (M, N) ndarray of bool
        Dust pixels from :func:`dust_mask`.

    Returns
    -------
    (M, N) ndarray of float32
        A cleaned copy (the input is returned unchanged when ``mask`` is empty).
    """
    if not mask.any():
        return signal
    clean = np.array(signal, dtype=np.float32, copy=True)
    tiles = _tiles_with(mask)
    ring_k = np.ones((RING_PX, RING_PX), np.uint8)
    for ty, tx in tiles:
        y0, y1 = _tile_span(ty, margin_px=REPAIR_TILE_MARGIN_PX, length=signal.shape[0])
        x0, x1 = _tile_span(tx, margin_px=REPAIR_TILE_MARGIN_PX, length=signal.shape[1])
        sub = mask[y0:y1, x0:x1]
        labels, _ = ndi.label(sub, structure=EIGHT_CONNECTED)
        patch = clean[y0:y1, x0:x1]
        for i, sl in enumerate(ndi.find_objects(labels), start=1):
            if sl is None:
                continue
            comp = labels == i
            ring = cv2.dilate(comp.astype(np.uint8), ring_k).astype(bool) & ~sub
            if ring.any():
                patch[comp] = np.median(signal[y0:y1, x0:x1][ring])
    return clean


def pixel_noise_sd(signal: np.ndarray) -> float:
    """Robust pixel noise from horizontal neighbour differences (MAD / sqrt 2).

    Parameters
    ----------
    signal : (M, N) ndarray
        Any image.

    Returns
    -------
    float
        Standard deviation of the pixel noise, in intensity units.
    """
    step = max(1, int(np.sqrt(signal.size / NOISE_SAMPLE_PIXELS)))
    sub = np.asarray(signal[::step, : signal.shape[1] // step * step], dtype=np.float32)
    diff = np.diff(sub, axis=1).ravel()
    return mad_sd(diff) / np.sqrt(2.0)
