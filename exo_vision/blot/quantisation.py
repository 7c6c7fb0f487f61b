"""Undo the grey-level staircase of an 8-bit export whose noise is below one grey level.

An 8-bit "for publication" export maps the camera range onto 256 grey levels.
When a saturated band sets the display range, the membrane background sits a
few grey levels above black and its noise is a fraction of one level (0.1
grey level is typical). Rounding then no longer acts as dither: a background
of 2.43 levels shows as 2 almost everywhere (3 in a quarter of the pixels),
and a band on top of it is measured against the *rounded* background. Every
band pixel then carries the same offset (here +0.15 level), and a faint band
of a few levels over a few hundred pixels gains or loses up to ~30 % of its
volume (measured on generated dilution series: see
``benchmarks/blot_accuracy.py``).

The mean of ``W`` quantised pixels that share one true level ``x`` is not
``x`` but ``g(x) = E[round(x + noise)]``, a smoothed staircase with
``g(L) = L`` and ``g(L + 1/2) = L + 1/2`` for every integer ``L``. Where the
noise dithers (``x`` within ~2 noise SDs of a half level) ``g`` can be
inverted, which recovers ``x`` to a fraction of a level; on a plateau
(every pixel at ``L``) the inverse is the midpoint ``L``, which is what a
plain mean gives anyway. :func:`linearise` applies ``g^-1`` to the row means
of a lane (the pixels of one lane row share their level up to the lane's
tilt) and to the background beside a band, pooled over up to
:data:`exo_vision.blot.background.STAIRCASE_POOL_ROWS` band-free rows on
each side (a background 0.3 level below a half level rounds up in only ~1 %
of its pixels: hundreds of pixels are needed to see it).
:func:`destaircased_rows` undoes the staircase only in band rows that stand
out from that background, so band-free rows inside a tall window stay
unbiased. :func:`staircase_noise_sd` measures the noise SD the inverse
needs from the lanes themselves: along a band's flank the level sweeps
evenly through the grey levels, and two neighbouring pixels of one row
(same true level) round to different integers with a probability that
grows with the noise SD (1.13 x SD for small SD; tabulated). Images whose
noise is larger than ~0.3 level are dithered by their own noise and are
left alone.

Measured on generated 8-bit dilution series (faintest lane: peak 4.3
levels over ~1200 pixels, noise 0.12 level): worst deviation from
proportional volume 25.9 % without the correction, <= 10.4 % with it over
70 series (``benchmarks/blot_accuracy.py``). Limits: the noise estimate is
rough (0.07-0.19 for a true 0.12 level), because the gentle flank rows it
needs are band tails that hug the background, so their phases are not
evenly spread (with the true SD the worst series is 10.9 %: the estimate
is not what limits). Where the background sits deep on a plateau (no pixel
of the pooled rows rounds up or down) its true level is only known to
within about +-(0.5 - 3 x noise SD) of the integer; the volume of a faint
band over N pixels is then uncertain by that much times N, which no
correction can remove: the export does not hold it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from scipy.special import ndtr

#: Above this noise SD (grey levels) rounding is dithered by the noise: no correction.
MAX_STAIRCASE_SD = 0.3
#: A band row's mean must differ from the background by this many grey levels before its
#: staircase is undone; closer rows keep the plain difference (see :func:`destaircased_rows`).
SIGNIFICANT_STEP = 0.3
#: Fewer flank rows than this and the noise SD is not estimated.
MIN_FLANK_ROWS = 30
#: A row is on a flank when its smoothed profile changes by this many levels per row (at least,
#: at most). Gentle flanks only: on a steep flank a tilted lane's row spans several levels,
#: which would read as extra noise; the background, where the correction matters most, is flat.
FLANK_SLOPE = (0.1, 0.6)
#: Flank rows used are at most this many grey levels above the lane's median row (its background).
LOW_LEVELS = 2.5

#: Rounding sums run over the levels within this many noise SDs of a value (the rest weigh < 1e-9).
NOISE_REACH_SDS = 6
#: The chance that two pixels of one level round apart is averaged over this many points of a level.
DIFFER_GRID_POINTS = 2000
#: Lanes shorter than this (rows) give no staircase estimate (the smoothed slope needs rows both sides).
MIN_LANE_ROWS = 9
#: The rounding curve is inverted on a grid of this many points per grey level.
INVERSE_GRID_PER_LEVEL = 500
#: Tilt of each flat plateau about its integer centre, so the inverse of an integer is that integer.
PLATEAU_TILT = 1e-9
#: A floating-point image with at most this many distinct values is checked for a common grey-level step
#: (an 8- or 16-bit export scaled to floats); with more it is taken as continuous.
MAX_FLOAT_LEVELS = 65536
#: Every gap between a float image's distinct values must be a whole number of its smallest gap to within this
#: fraction of it for the image to count as quantised.
STEP_TOLERANCE = 1e-3
#: Integer images of at most this many bits are counted level by level (a histogram); wider ones are sorted.
MAX_HISTOGRAM_BITS = 16
#: An image must hold at least this many distinct values for their common gap to count as its step: a
#: noise-free drawing of a few values (background 100, band 150) is no export in steps of 50. With fewer, an
#: integer image's step is 1 and a floating-point image is taken as continuous.
MIN_STEP_LEVELS = 32


def quantisation_step(image: np.ndarray) -> float | None:
    """The grey-level step of an image that holds only whole multiples of one step (None: continuous values).

    An integer image's step is the greatest common divisor of the gaps between the values it holds: 1 for
    a camera's raw file or a plain 8-bit export, 257 for an 8-bit export widened to 16 bits (0, 257, 514 ...).
    A floating-point image counts as quantised when it holds at most :data:`MAX_FLOAT_LEVELS` distinct
    values, every gap between them a whole number of the smallest (an 8-bit export divided by 255). Either
    needs :data:`MIN_STEP_LEVELS` distinct values (below that an integer image's step is 1, and a float image
    is continuous).

    Parameters
    ----------
    image : (M, N) ndarray
        The image as read (before any inversion).

    Returns
    -------
    float or None
        The step in the image's grey levels; None for continuous values.
    """
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.integer):
        if image.dtype.kind == "u" and np.iinfo(image.dtype).bits <= MAX_HISTOGRAM_BITS:
            levels = _levels_present(image)
        else:
            levels = np.unique(image)
        gaps = np.diff(levels.astype(np.int64))
        return float(np.gcd.reduce(gaps)) if levels.size >= MIN_STEP_LEVELS else 1.0
    if not np.issubdtype(image.dtype, np.floating):
        return None
    values = image[np.isfinite(image)]
    levels = np.unique(values)
    if levels.size < MIN_STEP_LEVELS or levels.size > MAX_FLOAT_LEVELS:
        return None
    gaps = np.diff(np.asarray(levels, dtype=np.float64))
    step = float(gaps.min())
    multiples: np.ndarray = gaps / step
    off = np.abs(multiples - np.round(multiples))
    return step if bool((off <= STEP_TOLERANCE).all()) else None


def _levels_present(image: np.ndarray) -> np.ndarray:
    """The values an unsigned integer image of at most :data:`MAX_HISTOGRAM_BITS` bits holds, ascending.

    ``np.flatnonzero(np.bincount(image.ravel()))``; a 2-D image is counted by OpenCV's histogram (one bin per
    value, exact), about twice as fast as numpy's.
    """
    if image.ndim != 2 or image.size == 0 or not image.dtype.isnative:
        return np.flatnonzero(np.bincount(image.ravel()))
    import cv2  # slow to import: keep `exo-vision --help` fast

    bins = int(np.iinfo(image.dtype).max) + 1
    hist = cv2.calcHist([np.ascontiguousarray(image)], [0], None, [bins], [0, bins])
    return np.flatnonzero(hist.ravel())


def expected_quantised(x: np.ndarray, *, noise_sd: float) -> np.ndarray:
    """Mean of ``round(x + n)`` for Gaussian noise ``n`` of SD ``noise_sd``.

    Parameters
    ----------
    x : ndarray
        True levels, grey levels.
    noise_sd : float
        Noise SD before rounding, grey levels (> 0).

    Returns
    -------
    ndarray of float64
        ``g(x)``, same shape as ``x``.
    """
    if not noise_sd > 0:
        raise ValueError(f"noise_sd must be positive, got {noise_sd!r}")
    x = np.asarray(x, dtype=np.float64)
    reach = int(np.ceil(NOISE_REACH_SDS * noise_sd)) + 1
    base = np.floor(x) - reach
    out = base.copy()
    for j in range(2 * reach + 1):
        out += ndtr((x - base - j - 0.5) / noise_sd)
    return out


def _level_probabilities(x: np.ndarray, noise_sd: float) -> np.ndarray:
    """P(round(x + n) = floor(x) - R + j) for j = 0 .. 2R + 1, shape (len(x), 2R + 2)."""
    reach = int(np.ceil(NOISE_REACH_SDS * noise_sd)) + 1
    base = np.floor(x)[:, None] - reach + np.arange(2 * reach + 2)[None, :]
    upper = ndtr((base + 0.5 - x[:, None]) / noise_sd)
    lower = ndtr((base - 0.5 - x[:, None]) / noise_sd)
    return upper - lower


def _differ_share(noise_sd: float) -> float:
    """P(two pixels of the same uniformly spread level round to different integers)."""
    x = np.linspace(0.0, 1.0, DIFFER_GRID_POINTS + 1)[:-1]
    probs = _level_probabilities(x, noise_sd)
    return float((1.0 - (probs**2).sum(axis=1)).mean())


_SD_TABLE = np.linspace(0.01, MAX_STAIRCASE_SD, 59)
_DIFFER_TABLE = np.array([_differ_share(sd) for sd in _SD_TABLE])


def staircase_noise_sd(lanes_pixels: Sequence[np.ndarray]) -> float | None:
    """Pixel noise SD (grey levels) of an integer image, from the band flanks of its lanes.

    Along a band's flank the true level sweeps evenly through the grey levels;
    two side-by-side pixels of one lane row share their true level, and they
    round to different integers with a probability that grows with the noise
    (1.13 x SD for small SD; tabulated). The share of differing neighbour
    pairs on gentle flank rows gives the SD.

    Parameters
    ----------
    lanes_pixels : sequence of (R, W) ndarray
        Straightened central pixels of each lane, grey levels of an integer
        image (signal orientation).

    Returns
    -------
    float or None
        Noise SD before rounding, between 0.01 and :data:`MAX_STAIRCASE_SD`
        grey levels; None when the noise is larger (the image is dithered by
        its own noise) or fewer than :data:`MIN_FLANK_ROWS` flank rows exist
        (no band sweeps through several levels).
    """
    rows = 0
    pairs = 0
    differ = 0
    for pix in lanes_pixels:
        pix = np.asarray(pix, dtype=np.float64)
        if pix.shape[0] < MIN_LANE_ROWS or pix.shape[1] < 2:
            continue
        # slope of the smoothed profile, so a row's own plateau does not decide whether it counts
        profile = pix.mean(axis=1)
        slope = np.abs(np.gradient(ndi.gaussian_filter1d(profile, 2.0, mode="nearest")))
        # low flank rows only (band tails near the background): shot noise grows with the level,
        # and the background, where the correction matters most, is the lowest level
        low = profile <= np.median(profile) + LOW_LEVELS
        on = (slope >= FLANK_SLOPE[0]) & (slope <= FLANK_SLOPE[1]) & low
        block = pix[on]
        rows += int(on.sum())
        pairs += block.shape[0] * (block.shape[1] - 1)
        differ += int((np.diff(block, axis=1) != 0).sum())
    if rows < MIN_FLANK_ROWS or pairs == 0:
        return None
    share = differ / pairs
    if share >= _DIFFER_TABLE[-1]:
        return None
    return float(np.interp(share, _DIFFER_TABLE, _SD_TABLE))


def linearise(means: np.ndarray, *, noise_sd: float) -> np.ndarray:
    """Undo the staircase: the true level whose expected quantised mean is ``means``.

    Parameters
    ----------
    means : ndarray
        Means of quantised pixels sharing one true level (e.g. lane row means), grey levels.
    noise_sd : float
        Noise SD before rounding (:func:`staircase_noise_sd`), grey levels.

    Returns
    -------
    ndarray of float64
        ``g^-1(means)``; integers stay integers (a plateau's midpoint).
    """
    means = np.asarray(means, dtype=np.float64)
    if means.size == 0:
        return means.copy()
    lo, hi = np.floor(np.nanmin(means)) - 1, np.ceil(np.nanmax(means)) + 1
    grid = np.linspace(lo, hi, int((hi - lo) * INVERSE_GRID_PER_LEVEL) + 1)
    g = expected_quantised(grid, noise_sd=noise_sd)
    # g is flat to machine precision on a plateau when the noise is tiny: tilt each plateau
    # about its integer centre so the inverse of an integer is that integer (the midpoint)
    g = np.maximum.accumulate(g + PLATEAU_TILT * (grid - np.round(grid)))
    return np.interp(means, g, grid)


def destaircased_rows(
    row_means: np.ndarray, background: np.ndarray, background_level: np.ndarray, *, noise_sd: float
) -> np.ndarray:
    """Net signal per pixel of each band row, with the rounding staircase undone where it can be.

    A row that stands out from the background by at least
    :data:`SIGNIFICANT_STEP` grey levels gets ``linearise(row mean) -
    background_level`` (both true levels); the others keep the plain
    difference ``row mean - background`` of quantised means. The plain
    difference is unbiased where band and background share a plateau: a
    background row of a window whose few rounded-up pixels happen to be
    missing (mean 2.00) must not count as 0.2 level *below* a background
    whose border rows had one (2.01 -> 2.2 after undoing the staircase), or
    every band-free row of a tall window loses 0.2 level per pixel.

    Parameters
    ----------
    row_means : (R,) ndarray
        Mean of the band's quantised pixels per row, grey levels.
    background : (R,) ndarray
        Background per pixel from the quantised border rows (no correction).
    background_level : (R,) ndarray
        The same background with the staircase undone (``to_level`` in
        :func:`exo_vision.blot.background.band_background`).
    noise_sd : float
        Pixel noise SD before rounding, grey levels.

    Returns
    -------
    (R,) ndarray of float64
        Net signal per pixel for each row; the band volume is this summed
        times the number of columns.
    """
    row_means = np.asarray(row_means, dtype=np.float64)
    plain = row_means - np.asarray(background, dtype=np.float64)
    levels = linearise(row_means, noise_sd=noise_sd) - np.asarray(background_level, dtype=np.float64)
    return np.where(np.abs(plain) >= SIGNIFICANT_STEP, levels, plain)
