"""Noise of an integrated volume, limit of detection and present/absent calls.

The noise is measured, not modelled: boxes of the band's own size (rows x
central lane width) are placed in the rows of every lane of the same strip that
hold none of its peaks (the caller says which rows are busy) and measured like a
band (same background method). The
robust spread of those blank volumes (1.4826 x MAD) is the volume noise SD (on a blotchy membrane
at least the spread of their central 95 %, :func:`tail_sd`, so the blotches' heavy tails count),
but never less than what the strip's pixel noise alone gives through the
same measurement (:func:`white_noise_volume_sd`): a handful of overlapping
boxes can read low by chance, and an empty window then passes the LoD.

Limit of detection (ICH Q2 style, documented here and in the CSV)::

    LoD = max(mean_blank, 0) + 3.3 x SD_blank

A band is ``present`` only when its volume exceeds the LoD; its SNR is
``volume / SD_blank``. For a Gaussian blank 3.3 SD leaves 0.05 % false positives.

On an image quantised to whole grey levels (an 8-bit export) the noise is
never taken as less than rounding gives, and where rounding is not dithered
by noise (a flat membrane on one level) the LoD is never less than what
rounding can hide in the box (:func:`quantisation_floors`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from exo_vision._shared.order_stats import median_along
from exo_vision._shared.robust import mad_sd
from exo_vision.blot.background import BALL_METHODS, BORDER_PX, check_method
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS

logger = logging.getLogger(__name__)

#: LoD = mean_blank + LOD_FACTOR x SD_blank.
LOD_FACTOR = DEFAULT_BLOT_PARAMETERS.lod_factor
#: Fewer blank boxes than this and the estimate falls back to shorter boxes.
MIN_BOXES = 6
#: At most this many blank boxes per lane.
MAX_BOXES_PER_LANE = 60

#: Blank boxes slide along a lane's free runs by 1/BOX_STEP_DIVISOR of their height (overlapping boxes,
#: so a short run still yields several).
BOX_STEP_DIVISOR = 4
#: At most this many free pixels are pooled for the pixel-noise SD (a subsample; the SD is stable long
#: before).
MAX_NOISE_SAMPLE_PIXELS = 200_000

#: Blank volumes' SD is also read from their central 1 - 2 x TAIL_QUANTILE (:func:`tail_sd`) ...
TAIL_QUANTILE = 0.025
#: ... whose ends lie this many SDs from the median for a Gaussian.
TAIL_Z = float(norm.ppf(1.0 - TAIL_QUANTILE))

#: The variance of a uniform rounding error of one grey-level step is step**2 / UNIFORM_VARIANCE_DIVISOR.
UNIFORM_VARIANCE_DIVISOR = 12.0
#: Share of a grey-level step per pixel that a band can add to a plateau without changing one pixel
#: (:func:`quantisation_floors`).
HIDDEN_STEP_SHARE = 0.5


@dataclass
class NoiseEstimate:
    """Noise of a band volume measured on blank boxes.

    Attributes
    ----------
    sd_volume : float
        Standard deviation of a blank volume (intensity x px).
    mean_volume : float
        Mean blank volume (should be near 0).
    n_boxes : int
        Number of blank boxes used.
    source : str
        ``"blank boxes"``, ``"shorter blank boxes, scaled"`` or ``"pixel noise model"`` (with the floors
        applied in brackets).
    lod_floor : float
        Least LoD (intensity x px): what rounding to whole grey levels can hide in a box of the band's
        size where the membrane sits on one level (:func:`quantisation_floors`); 0 elsewhere.
    blotchy : bool
        Whether the blank boxes vary far more than the pixel noise gives (structure of the membrane at the
        box's scale, set by the caller that knows the pixel noise).
    tail_sd : float
        SD of the blank volumes read from their central 95 % (:func:`tail_sd`; 0 without boxes).
    peak_sd : float
        On a blotchy membrane, the SD a window holding a peak of its own is judged against: the blank boxes'
        central-half spread, before their tails raised :attr:`sd_volume` (NaN: :attr:`sd_volume`).
    """

    sd_volume: float
    mean_volume: float
    n_boxes: int
    source: str
    lod_floor: float = 0.0
    blotchy: bool = False
    tail_sd: float = 0.0
    peak_sd: float = float("nan")

    def lod(self, factor: float = LOD_FACTOR) -> float:
        """Limit of detection: ``max(mean, 0) + factor * sd``, never below :attr:`lod_floor`."""
        return max(max(self.mean_volume, 0.0) + factor * self.sd_volume, self.lod_floor)

    def part_lod(self, share: float, factor: float = LOD_FACTOR) -> float:
        """Limit of detection of a volume summed over ``share`` (0-1] of a box's pixels (a part of its columns).

        The mean and the rounding floor scale with the pixels summed; the SD scales with their square root, as
        for independent pixels: noise shared by the columns (a blotch, a banding row) scales with the pixels
        themselves and gives a lower SD, so the square root is the stricter of the two.
        """
        if not 0 < share <= 1:
            raise ValueError(f"share of a box's pixels must be in (0, 1], got {share!r}")
        spread = factor * self.sd_volume * float(np.sqrt(share))
        return max(max(self.mean_volume, 0.0) * share + spread, self.lod_floor * share)


def tail_sd(volumes: np.ndarray) -> float:
    """SD of blank volumes read from their central 95 % (2.5 % to 97.5 % quantiles, :data:`TAIL_QUANTILE`).

    The MAD reads the central half of the boxes and ignores the few that hold an undetected band. On a
    mottled membrane the blotches are no such few: a sizeable share of the boxes sits on them, and their
    volumes form heavy tails the central half does not see. The central 95 % over twice their Gaussian
    distance from the median takes those tails in and still leaves a few boxes on a band out.

    Parameters
    ----------
    volumes : ndarray
        Blank-box volumes (intensity x px).

    Returns
    -------
    float
        Volume SD (intensity x px).
    """
    lo, hi = np.quantile(np.asarray(volumes, dtype=np.float64), [TAIL_QUANTILE, 1.0 - TAIL_QUANTILE])
    return float(hi - lo) / (2.0 * TAIL_Z)


def quantisation_floors(nz: NoiseEstimate, *, n_pixels: int, step: float) -> NoiseEstimate:
    """The noise of a volume over ``n_pixels`` pixels of an image quantised in ``step``, never below rounding's.

    Two floors, both from rounding each pixel to a multiple of ``step``:

    * The volume SD is never below ``step x sqrt(n_pixels / 12)``: independent rounding errors, each uniform
      over one step (variance ``step**2 / 12``), add that much to any sum of ``n_pixels`` pixels.
    * When the blank boxes vary *less* than that (the SD had to be raised to it), the pixels do not round
      independently: the noise is too small to dither the rounding, and the membrane reads one level over
      whole boxes (a plateau: an 8-bit export whose display range a strong band set). A band that adds less
      than half a step to every pixel of such a box, over a background that sits on a level, rounds back to
      that level everywhere and leaves no trace; over a background just below a half level even a band of
      nearly a whole step vanishes, and half a step is what vanishes on average over where the background
      sits. Such a box can therefore hide a volume of ``0.5 x step x n_pixels``, and the LoD is never below
      it (:attr:`NoiseEstimate.lod_floor`): blank boxes of a plateau all read about 0, and an LoD from their
      spread (3.3 x the first floor, ~0.95 x sqrt(n_pixels)) would claim to see bands hundreds of times
      fainter than rounding lets through. Where the noise dithers the rounding (the blank boxes vary more
      than rounding alone gives: a raw camera file, or an export with noise of a grey level or more) the
      rounding errors average out and no such floor applies.

    Parameters
    ----------
    nz : NoiseEstimate
        Blank-box noise of the band height (after the pixel-noise floor).
    n_pixels : int
        Pixels a band volume sums (band rows x quantified lane width).
    step : float
        Grey-level step of the image (:func:`exo_vision.blot.quantisation.quantisation_step`).

    Returns
    -------
    NoiseEstimate
        ``nz`` itself, or with its SD raised and its LoD floored (``source`` says which).
    """
    floor_sd = float(step * np.sqrt(n_pixels / UNIFORM_VARIANCE_DIVISOR))
    if nz.sd_volume >= floor_sd:
        return nz
    hidden = HIDDEN_STEP_SHARE * step * n_pixels
    return NoiseEstimate(
        floor_sd, nz.mean_volume, nz.n_boxes, nz.source + " (quantisation floor; rounding floor on the LoD)", hidden
    )


def free_rows(n_rows: int, busy: Sequence[tuple[int, int]], *, border_px: int = BORDER_PX) -> np.ndarray:
    """Rows of a lane holding no band (bands widened by ``border_px``).

    Parameters
    ----------
    n_rows : int
        Lane length in rows.
    busy : sequence of (int, int)
        Band rows ``(top, bottom)`` lane-relative.
    border_px : int
        Extra rows blocked on each side of a band.

    Returns
    -------
    (n_rows,) ndarray of bool
    """
    free = np.ones(n_rows, bool)
    for top, bottom in busy:
        free[max(0, top - border_px) : min(n_rows, bottom + border_px)] = False
    return free


#: :func:`off_membrane_ends` reads a lane's row medians from each end this many rows at a time (most lanes start
#: on the membrane: one chunk each; speed only, the runs found do not depend on it).
END_ROWS_CHUNK = 16


def off_membrane_ends(pixels: np.ndarray, level: float | None) -> list[tuple[int, int]]:
    """Rows at either end of a lane that lie off the membrane: its camera-floor corners.

    A turned membrane's top and bottom edges run at a slant across the strip's box, so a lane drawn over the
    box's rows starts or ends on the camera floor beside the membrane for a few rows (more at the lanes far
    from the middle). A blank box there holds the step from floor to membrane: no membrane noise. The runs of
    rows, from the lane's first row down and from its last row up, whose median over the lane's columns lies
    under ``level`` are returned as lane-relative ``(first, one past last)``, to be left out like band rows.

    Parameters
    ----------
    pixels : (R, W) ndarray
        Straightened pixels of one lane (signal orientation).
    level : float or None
        Signal level between the camera floor and the membrane; None (the floor was not seen) returns no run.

    Returns
    -------
    list of (int, int)
        At most two runs: one at the top end, one at the bottom end.
    """
    if level is None or pixels.size == 0:
        return []
    n = pixels.shape[0]
    top = _rows_under(pixels, level)
    if top == n:
        return [(0, n)]
    bottom = n - _rows_under(pixels[::-1], level)
    return [run for run in ((0, top), (bottom, n)) if run[1] > run[0]]


def _rows_under(pixels: np.ndarray, level: float) -> int:
    """How many rows of ``pixels``, from its first down, have their median under ``level`` (a row's median is
    read only until one is not: :data:`END_ROWS_CHUNK` rows at a time)."""
    n = pixels.shape[0]
    for start in range(0, n, END_ROWS_CHUNK):
        below = median_along(np.asarray(pixels[start : start + END_ROWS_CHUNK], dtype=np.float64), 1) < level
        if not below.all():
            return start + int(np.argmin(below))
    return n


def true_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Start and stop (end-exclusive) of each run of True in a 1-D array, first to last.

    The runs :func:`scipy.ndimage.label` and :func:`scipy.ndimage.find_objects` give, found by differencing.
    """
    edges = np.diff(np.concatenate(([0], np.asarray(flags, dtype=bool).view(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _box_volumes(pixels, free, height, method, border_px, bg_pixels):
    n, w = pixels.shape
    rows = pixels.sum(axis=1, dtype=np.float64)
    cs = np.concatenate([[0.0], np.cumsum(rows)])
    if method in BALL_METHODS:
        cd = np.concatenate([[0.0], np.cumsum(bg_pixels.sum(axis=1, dtype=np.float64))])
    need = height + (2 * border_px if method in ("profile", "border") else 0)
    out = []
    for a, b in true_runs(free):
        if b - a < need:
            continue
        off = border_px if method in ("profile", "border") else 0
        starts = np.arange(a + off, b - off - height + 1, max(1, height // BOX_STEP_DIVISOR))
        if starts.size > MAX_BOXES_PER_LANE:
            starts = starts[np.linspace(0, starts.size - 1, MAX_BOXES_PER_LANE).astype(int)]
        for t in starts:
            s = cs[t + height] - cs[t]
            if method == "none":
                out.append(s)
            elif method in BALL_METHODS:
                out.append(s - (cd[t + height] - cd[t]))
            elif method == "profile":
                # blank boxes have no neighbour tails: the bands' edge rule reads the outside rows
                va = (cs[t] - cs[t - border_px]) / (border_px * w)
                vb = (cs[t + height + border_px] - cs[t + height]) / (border_px * w)
                out.append(s - w * height * (va + vb) / 2)
            else:
                border = np.concatenate(
                    [pixels[t - border_px : t].ravel(), pixels[t + height : t + height + border_px].ravel()]
                )
                out.append(s - w * height * float(np.median(border)))
    return out


def blank_volume_noise(
    lanes_pixels: Sequence[np.ndarray],
    lanes_busy: Sequence[Sequence[tuple[int, int]]],
    *,
    height_px: int,
    method: str = "profile",
    border_px: int = BORDER_PX,
    lanes_background: Sequence[np.ndarray] | None = None,
) -> NoiseEstimate:
    """Measure the noise of a band volume from blank boxes in one strip.

    Parameters
    ----------
    lanes_pixels : sequence of (R, W) ndarray
        Straightened central pixels of every lane of the strip.
    lanes_busy : sequence of sequence of (int, int)
        Band rows of each lane (lane-relative), excluded from the boxes.
    height_px : int
        Band height: boxes are ``height_px`` rows by the lane's central width.
    method : str
        Background method, as used for the bands.
    border_px : int
        Border rows of the profile/border methods.
    lanes_background : sequence of (R, W) ndarray, optional
        Rolled-ball background per lane (``"rolling_ball"`` / ``"rolling_disk"`` only).

    Returns
    -------
    NoiseEstimate
    """
    check_method(method)
    if height_px < 1:
        raise ValueError(f"box height must be at least 1 px, got {height_px}")
    bgs = lanes_background if lanes_background is not None else [None] * len(lanes_pixels)
    frees = [free_rows(p.shape[0], busy, border_px=border_px) for p, busy in zip(lanes_pixels, lanes_busy)]

    def collect(h):
        vols = []
        for p, f, bg in zip(lanes_pixels, frees, bgs):
            vols.extend(_box_volumes(p, f, h, method, border_px, bg))
        return np.asarray(vols)

    def robust(v):
        return mad_sd(v), float(np.median(v)), tail_sd(v)

    vols = collect(height_px)
    if vols.size >= MIN_BOXES:
        sd, mean, tail = robust(vols)
        return NoiseEstimate(sd, mean, int(vols.size), "blank boxes", tail_sd=tail)
    h = height_px
    while h > 2:
        h = max(2, h // 2)
        vols = collect(h)
        if vols.size >= MIN_BOXES:
            sd, mean, tail = robust(vols)
            scale = height_px / h
            return NoiseEstimate(
                sd * scale, mean * scale, int(vols.size), "shorter blank boxes, scaled", tail_sd=tail * scale
            )
    # No room for blank boxes: white-noise model from pixel differences.
    pix = np.concatenate(
        [np.diff(p.astype(np.float64), axis=1).ravel() for p in lanes_pixels if p.shape[1] > 1] or [np.zeros(1)]
    )
    sd_px = mad_sd(pix) / np.sqrt(2.0)
    w = lanes_pixels[0].shape[1] if lanes_pixels else 1
    sd = sd_px * np.sqrt(height_px * w * (1.0 + height_px / (2.0 * border_px)))
    logger.warning("no band-free rows for blank boxes; volume noise taken from a white-noise model (less reliable)")
    return NoiseEstimate(float(sd), 0.0, 0, "pixel noise model")


def free_pixel_noise_sd(
    lanes_pixels: Sequence[np.ndarray],
    lanes_busy: Sequence[Sequence[tuple[int, int]]],
    *,
    border_px: int = BORDER_PX,
    max_pixels: int = MAX_NOISE_SAMPLE_PIXELS,
) -> float:
    """Pixel noise SD from side-by-side differences in the band-free rows of a strip's lanes.

    A plain SD, not a robust one: rounded 8-bit pixels whose differences are
    mostly 0 still carry their +-1 steps. At most ``max_pixels`` pixels are
    read (every k-th free row).

    Parameters
    ----------
    lanes_pixels : sequence of (R, W) ndarray
        Straightened central pixels of every lane of the strip.
    lanes_busy : sequence of sequence of (int, int)
        Band rows of each lane (lane-relative), left out.
    border_px : int
        Extra rows left out around each band.
    max_pixels : int
        Pixel budget.

    Returns
    -------
    float
        Pixel noise SD, intensity units (0 without band-free pixels).
    """
    frees = [
        np.flatnonzero(free_rows(p.shape[0], busy, border_px=border_px)) for p, busy in zip(lanes_pixels, lanes_busy)
    ]
    total = sum(f.size * p.shape[1] for f, p in zip(frees, lanes_pixels))
    step = max(1, int(np.ceil(total / max_pixels)))
    pieces = [
        np.diff(np.asarray(p[f[::step]], dtype=np.float64), axis=1).ravel()
        for f, p in zip(frees, lanes_pixels)
        if p.shape[1] > 1 and f.size
    ]
    diffs = np.concatenate(pieces) if pieces else np.zeros(0)
    return float(np.std(diffs)) / np.sqrt(2.0) if diffs.size > 1 else 0.0


def white_noise_volume_sd(
    pixel_sd: float, *, height_px: int, width_px: int, method: str = "profile", border_px: int = BORDER_PX
) -> float:
    """SD of a blank volume if the pixel noise were white: the least the blank boxes may show.

    A band volume over ``height_px x width_px`` pixels minus a background line
    between two borders of ``border_px x width_px`` pixels has variance
    ``pixel_sd**2 x h x W x (1 + h / (2 x border_px))`` (the border term is
    ``pi/2`` larger for the median of ``"border"``; ball backgrounds are
    smooth and add none). Few, overlapping blank boxes can read lower than
    this by chance (15 boxes read 26 for a model 42 on a generated 8-bit
    panel, and an empty calnexin window at 3.8 "SD" was called present).

    Parameters
    ----------
    pixel_sd : float
        Pixel noise SD (:func:`free_pixel_noise_sd`), intensity units.
    height_px, width_px : int
        Band height (rows) and quantified lane width (columns).
    method : str
        Background method.
    border_px : int
        Border rows of the profile/border methods.

    Returns
    -------
    float
        Volume SD, intensity x px.
    """
    border_term = {"profile": 1.0, "border": np.pi / 2}.get(method, 0.0) * height_px / (2.0 * border_px)
    return float(pixel_sd * np.sqrt(height_px * width_px * (1.0 + border_term)))
