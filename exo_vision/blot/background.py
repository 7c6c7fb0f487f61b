"""Background under a band: lane-profile baseline, local-border median, rolling ball.

Methods (``method`` argument everywhere):

``"profile"`` (default)
    Image Studio's "lane" style: a straight line, per row, between the
    ``border_px`` lane rows just above the band and just below it (when those
    rows fall on a close neighbour band, as in a ladder, the rows just inside
    the edge: the valley). The line follows a
    sloping background and never cuts into the band, so a broad CD63 smear
    keeps its whole volume as long as its window reaches the background on
    both sides (the band finder makes sure it does). When the gaps beside the
    lane are wide enough, the line is bent by the background curvature seen
    in those gaps over the same rows, which corrects blotches under tall smears;
    not when a gap rises with the band itself (the band's glow spreading
    sideways, or a neighbour's band on the same row): that is no background.
``"border"``
    The median of the same border pixels, one constant level (Image Lab's
    "local" background / Image Studio's median border).
``"rolling_ball"``
    ImageJ's *Subtract Background*: a ball of ``radius_px`` rolled under the
    image. Anything wider than the ball survives, anything narrower is
    partly taken as background: a rolling ball of radius 50 px eats a large
    part of a 60-px CD63 smear (measured by ``benchmarks/blot_accuracy.py``).
``"rolling_disk"``
    Image Lab's lane background: a ball of ``radius_px`` rolled under each
    lane's 1-D profile (intensity in the same units as rows, as ImageJ's
    ball). It removes any part of a band wider than the ball, so it too
    shaves broad smears.
``"none"``
    No subtraction (for images that are already background-corrected).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from exo_vision.blot.parameters import BACKGROUND_METHODS, DEFAULT_BLOT_PARAMETERS
from exo_vision.blot.signal import pixel_noise_sd

#: Methods whose background comes from a rolled ball (per-pixel background arrays).
BALL_METHODS = ("rolling_ball", "rolling_disk")
#: Default background method.
DEFAULT_BACKGROUND = DEFAULT_BLOT_PARAMETERS.background
#: Rows above and below a band used for the profile and border methods.
BORDER_PX = DEFAULT_BLOT_PARAMETERS.border_px
#: Rows pooled beyond each band edge for the true level of a quantised (8-bit, sub-level noise) image.
STAIRCASE_POOL_ROWS = 20
#: Columns kept clear between a lane's edge and its side strips (``"profile"`` curvature correction).
SIDE_MARGIN_PX = 3
#: Width of each side strip beside a lane, columns.
SIDE_WIDTH_PX = 6

#: Default rolling-ball (rolling-disk) radius, px.
ROLLING_BALL_RADIUS_PX = DEFAULT_BLOT_PARAMETERS.rolling_ball_radius_px
#: ImageJ's shrink factors: balls up to 10 px roll on the full image, up to 30 px on an image shrunk
#: 2x, up to 100 px on one shrunk 4x ((largest radius px, factor) pairs) ...
SHRINK_FACTORS = ((10, 1), (30, 2), (100, 4))
#: ... and larger balls on one shrunk 8x.
MAX_SHRINK_FACTOR = 8
#: The shrunken image must keep at least this many pixels a side, else the ball rolls on the full image.
MIN_SHRUNK_SIDE_PX = 4
#: ImageJ smooths with a 3 x 3 mean before rolling the ball.
SMOOTHING_SIDE_PX = 3
#: The ball's lift off the noise floor: the first quartile of the excess over it ...
QUARTILE_PERCENT = 25
#: ... plus this many pixel-noise SDs (the first quartile of a normal distribution lies 0.674 SD under its median).
QUARTILE_SDS = 0.6745
#: Gaussian smoothing (rows) of the side profiles: takes out pixel noise, keeps a membrane's curvature.
SIDE_SMOOTH_ROWS = 3.0
#: Fewest columns in a side strip: fewer give a profile as noisy as a single column.
MIN_SIDE_WIDTH_PX = 3
#: A side-strip curvature correction is applied only while it stays below this fraction of the band's
#: net volume: a larger one means the side strip holds signal of its own (a neighbour's band).
MAX_SIDE_CORRECTION_FRACTION = 0.25
#: A side strip whose bend over a band window follows the lane's own net profile this closely (Pearson r) holds
#: the band's glow (light spread sideways from the band, or a neighbour's band on the same row), not the
#: membrane's curvature: the lane then gets no side correction. On the real ImageQuant blot the glow's r is
#: 0.75-0.98 on the side that follows the band best; a blotch under a band runs independently of it.
GLOW_CORRELATION = 0.5
#: Fewest window rows over which a side's bend is compared with the band (fewer say nothing about a shape).
MIN_GLOW_ROWS = 3
#: A reference lane's band whose volume would read more than this fraction higher or lower under another reading of
#: its background (the plain straight line, or the line bent as either side strip bends) gets a warning: a blotch
#: under the band that its side strips see differently, or the band's glow, leaves its level unknown by that much.
#: On the generated MISEV frames (rng 0-4) the lysate lanes that read 1.13-1.41 and 0.52 of their true volumes
#: had spreads of 0.20-0.39; those within 0.95-1.08 had under 0.13 (the largest: a neighbour's band in a side strip).
REFERENCE_BACKGROUND_SPREAD = 0.15


def check_method(method: str) -> str:
    """Return ``method`` if it is a known background method, else raise ValueError."""
    if method not in BACKGROUND_METHODS:
        raise ValueError(f"unknown background method {method!r}; choose one of {', '.join(BACKGROUND_METHODS)}")
    return method


def rolling_ball_background(signal: np.ndarray, *, radius_px: float = ROLLING_BALL_RADIUS_PX) -> np.ndarray:
    """ImageJ-style rolling-ball background of a bright-band image, lifted off the noise floor.

    As in ImageJ, the image is smoothed with a 3 x 3 mean, and large balls are rolled on a
    shrunken copy (block minimum, factor 2 for radius > 10 px, 4 for > 30 px, 8 for > 100 px)
    whose result is interpolated back. A ball rolled under a noisy image rests on the lowest
    noise excursions, so on its own it sits below the true background (by 2-3 pixel-noise SDs
    unsmoothed) and every volume reads high: +8-30 % for bands of 200-50 noise SDs on a flat
    membrane. The background is therefore raised by the median excess of the band-free pixels
    over it, read as the excess's first quartile plus 0.674 pixel-noise SD (the first quartile
    is background as long as bands cover under three quarters of the strip).

    Parameters
    ----------
    signal : (M, N) ndarray
        Image in signal orientation.
    radius_px : float
        Ball radius in pixels of ``signal``.

    Returns
    -------
    (M, N) ndarray of float32
        Background (not clipped to ``signal``: the noise scatters on both sides of it).
    """
    from skimage.restoration import rolling_ball  # imported on use: slow to import

    if not radius_px > 0:
        raise ValueError(f"rolling-ball radius must be positive, got {radius_px!r} px")
    signal = np.asarray(signal, dtype=np.float32)
    smooth = ndi.uniform_filter(signal, SMOOTHING_SIDE_PX, mode="nearest")
    factor = next((f for r, f in SHRINK_FACTORS if radius_px <= r), MAX_SHRINK_FACTOR)
    if factor > 1 and min(signal.shape) >= MIN_SHRUNK_SIDE_PX * factor:
        h, w = (signal.shape[0] // factor) * factor, (signal.shape[1] // factor) * factor
        small = smooth[:h, :w].reshape(h // factor, factor, w // factor, factor).min(axis=(1, -1))
        bg_small = rolling_ball(small, radius=radius_px / factor)
        zoom = (signal.shape[0] / bg_small.shape[0], signal.shape[1] / bg_small.shape[1])
        bg = ndi.zoom(bg_small, zoom, order=1, mode="nearest", grid_mode=True)
        bg = bg[: signal.shape[0], : signal.shape[1]]
        if bg.shape != signal.shape:
            bg = np.pad(bg, [(0, signal.shape[0] - bg.shape[0]), (0, signal.shape[1] - bg.shape[1])], mode="edge")
    else:
        bg = rolling_ball(smooth, radius=radius_px)
    bg = bg.astype(np.float32)
    excess = signal - bg
    lift = float(np.percentile(excess, QUARTILE_PERCENT)) + QUARTILE_SDS * pixel_noise_sd(signal)
    return bg + np.float32(max(lift, 0.0))


def profile_rolling_disk(profile: np.ndarray, *, radius_px: float = ROLLING_BALL_RADIUS_PX) -> np.ndarray:
    """Rolling-ball background of a 1-D lane profile (Image Lab's "rolling disk").

    Parameters
    ----------
    profile : (R,) ndarray
        Lane profile, intensity per pixel for each row.
    radius_px : float
        Radius in rows (and intensity units, as ImageJ's ball).

    Returns
    -------
    (R,) ndarray of float64
        Background per row, never above ``profile``.
    """
    from skimage.restoration import rolling_ball

    if not radius_px > 0:
        raise ValueError(f"rolling-disk radius must be positive, got {radius_px!r} px")
    profile = np.asarray(profile, dtype=np.float64)
    return np.minimum(rolling_ball(profile, radius=radius_px), profile)


def side_profiles(
    signal: np.ndarray,
    lane,
    *,
    x_range_px: tuple[float, float] | None = None,
    margin_px: int = SIDE_MARGIN_PX,
    width_px: int = SIDE_WIDTH_PX,
    smooth_rows: float = SIDE_SMOOTH_ROWS,
) -> list[np.ndarray] | None:
    """Background profiles of the two narrow strips just beside a lane.

    Each side strip is ``width_px`` columns wide and starts ``margin_px``
    columns outside the lane's edge; it follows the lane's tilt. Its columns
    depend on this lane's geometry only, never on where the neighbouring lanes
    are: moving another lane (e.g. editing it in napari) cannot change this
    lane's background. (The former gap profiles ran up to the neighbour's
    edge, so sliding a neighbour away put its band into this lane's "gap" and
    cut this lane's volume up to 5-fold.) A side strip that holds a
    neighbour's band bends the correction far more than a blotch does, and
    :func:`band_background` then uses the other side or none.

    Parameters
    ----------
    signal : (M, N) ndarray
        Blot in signal orientation (dust removed).
    lane : exo_vision.blot.lanes.Lane
        The lane.
    x_range_px : (float, float), optional
        Columns ``(first, one past last)`` the strips must lie in (the
        membrane strip); default the whole image.
    margin_px : int
        Columns kept clear of the lane's edge.
    width_px : int
        Columns per side strip (at least 3).
    smooth_rows : float
        Gaussian smoothing of each profile along rows (SD, rows); 0 leaves the profiles unsmoothed.

    Returns
    -------
    list of (R,) ndarray, or None
        One mean profile per side that fits inside ``x_range_px`` (None when
        neither fits); ``R`` is the lane's row count.
    """
    if width_px < MIN_SIDE_WIDTH_PX:
        raise ValueError(f"side strips need at least 3 columns, got width_px={width_px}")
    lo_x, hi_x = (0.0, float(signal.shape[1])) if x_range_px is None else x_range_px
    lo_x, hi_x = max(0.0, lo_x), min(float(signal.shape[1]), hi_x)
    rows = np.arange(lane.y_top_px, lane.y_bottom_px)
    centre = lane.centre_x(rows)
    half = lane.width_px / 2
    sides = []
    for first in (centre - half - margin_px - width_px, centre + half + margin_px):
        cols = np.ceil(first - 0.5).astype(int)[:, None] + np.arange(width_px)[None, :]
        if cols.min() < lo_x or cols.max() >= hi_x:
            continue
        profile = signal[rows[:, None], cols].mean(axis=1, dtype=np.float64)
        sides.append(ndi.gaussian_filter1d(profile, smooth_rows, mode="nearest") if smooth_rows > 0 else profile)
    return sides or None


def border_rows(n_rows: int, top: int, bottom: int, border_px: int) -> tuple[slice, slice]:
    """Rows of a lane just above ``top`` and just below ``bottom`` (lane-relative)."""
    return slice(max(0, top - border_px), top), slice(bottom, min(n_rows, bottom + border_px))


def _edge_level(
    pixels: np.ndarray, edge: int, border_px: int, *, upward: bool, avoid: list[tuple[int, int]] | None = None
) -> float | None:
    """Background level at a window edge (None at the lane end).

    The mean of the ``border_px`` rows outside the edge; when those rows fall
    on another band of the lane (``avoid``: a close ladder neighbour), the
    rows just inside the edge instead (the window ends in the valley).
    """
    n = pixels.shape[0]
    if upward:
        rows_out, rows_in = (max(0, edge - border_px), edge), (edge, min(n, edge + border_px))
    else:
        rows_out, rows_in = (edge, min(n, edge + border_px)), (max(0, edge - border_px), edge)
    if rows_out[1] <= rows_out[0]:
        return None
    hits = any(a < rows_out[1] and b > rows_out[0] for a, b in (avoid or []))
    lo, hi = rows_in if hits and rows_in[1] > rows_in[0] else rows_out
    return float(pixels[lo:hi].mean(dtype=np.float64))


def _pooled_level(
    pixels: np.ndarray, edge: int, rows: int, *, upward: bool, avoid: list[tuple[int, int]] | None
) -> tuple[float, float] | None:
    """Mean of up to ``rows`` lane rows beyond an edge, stopping at another band: (level, centre row) or None."""
    n = pixels.shape[0]
    lo, hi = (max(0, edge - rows), edge) if upward else (edge, min(n, edge + rows))
    for a, b in avoid or []:
        if a < hi and b > lo:
            if upward:
                lo = max(lo, b)
            else:
                hi = min(hi, a)
    if hi - lo < 1:
        return None
    return float(pixels[lo:hi].mean(dtype=np.float64)), (lo + hi - 1) / 2


def band_background(
    pixels: np.ndarray,
    top: int,
    bottom: int,
    *,
    method: str = DEFAULT_BACKGROUND,
    border_px: int = BORDER_PX,
    background_pixels: np.ndarray | None = None,
    outside: tuple[int, int] | None = None,
    gap_profile: np.ndarray | list[np.ndarray] | None = None,
    avoid: list[tuple[int, int]] | None = None,
    to_level: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Background level per pixel for each row of a band.

    Parameters
    ----------
    pixels : (R, W) ndarray
        Straightened lane pixels (see :func:`exo_vision.blot.lanes.lane_pixels`).
    top, bottom : int
        Band rows ``top <= r < bottom`` in lane-relative indices.
    method : {"profile", "border", "rolling_ball", "rolling_disk", "none"}
        See the module docstring.
    border_px : int
        Border rows used by ``"profile"`` and ``"border"``.
    background_pixels : (R, W) ndarray, optional
        Rolled-ball background sampled like ``pixels`` (needed for ``"rolling_ball"`` and ``"rolling_disk"``).
    outside : (int, int), optional
        Rows ``(top, bottom)`` whose outside borders give the background
        (a cluster of touching bands containing this band); default ``(top, bottom)``.
    gap_profile : (R,) ndarray or list of them, optional
        Background profile(s) of the gaps beside the lane, one per side
        (``"profile"`` only). The departure from a straight line between the
        same border rows (the curvature of a blotchy background) is added to
        the lane's line, using the side that bends it least, and only when
        that bend is under a quarter of the band's net signal and no side
        follows the band's own net profile (:func:`follows_band`: the band's
        glow spread into the side strips is no background).
    avoid : list of (int, int), optional
        Rows of the lane's other bands (lane-relative); an edge whose outside
        border rows fall on one of them reads the rows just inside instead.
    to_level : callable, optional
        ``"profile"`` only: maps a mean of quantised pixels to the true level
        (:func:`exo_vision.blot.quantisation.linearise` for an 8-bit export
        with sub-grey-level noise). Each edge level is then the mean of up to
        :data:`STAIRCASE_POOL_ROWS` lane rows beyond the edge (stopping at
        another band), mapped through ``to_level``: the more pixels, the
        better the share of pixels that round up or down is known.

    Returns
    -------
    (bottom - top,) ndarray of float64
        Background per pixel, intensity units.
    """
    check_method(method)
    n = bottom - top
    if method == "none":
        return np.zeros(n)
    if method in BALL_METHODS:
        if background_pixels is None:
            raise ValueError(
                f"method {method!r} needs background_pixels (rolling_ball_background / profile_rolling_disk)"
            )
        return background_pixels[top:bottom].mean(axis=1, dtype=np.float64)
    o_top, o_bottom = outside if outside is not None else (top, bottom)
    above, below = border_rows(pixels.shape[0], o_top, o_bottom, border_px)
    a, b = pixels[above], pixels[below]
    if a.size == 0 and b.size == 0:
        raise ValueError(
            f"band rows {o_top}..{o_bottom} fill the whole lane: no border rows for background; "
            "use a taller lane or background='rolling_ball'"
        )
    if method == "border":
        return np.full(n, float(np.median(np.concatenate([a.ravel(), b.ravel()]))))
    # Each border level is the lower of the rows just outside and just inside the edge:
    # a window that ends in the valley before a close neighbour (a ladder) reads the
    # valley, not the neighbour's tail.
    va = _edge_level(pixels, o_top, border_px, upward=True, avoid=avoid)
    vb = _edge_level(pixels, o_bottom, border_px, upward=False, avoid=avoid)
    ya = (above.start + above.stop - 1) / 2
    yb = (below.start + below.stop - 1) / 2
    if to_level is not None:
        # quantised pixels: the level comes from how many pixels round up or down, so pool
        # more band-free rows before undoing the staircase
        if va is not None:
            va, ya = _pooled_level(pixels, o_top, max(border_px, STAIRCASE_POOL_ROWS), upward=True, avoid=avoid) or (
                va,
                ya,
            )
            va = float(to_level(np.array([va]))[0])
        if vb is not None:
            vb, yb = _pooled_level(
                pixels, o_bottom, max(border_px, STAIRCASE_POOL_ROWS), upward=False, avoid=avoid
            ) or (vb, yb)
            vb = float(to_level(np.array([vb]))[0])
    if va is None or vb is None:  # the band touches a lane end: the other side's level
        for level in (va, vb):
            if level is not None:
                return np.full(n, level)
        raise ValueError(
            f"band rows {o_top}..{o_bottom} have no border rows on either side for background; "
            "use a taller lane or background='rolling_ball'"
        )
    rows = np.arange(top, bottom)
    line = va + (vb - va) * (rows - ya) / (yb - ya)
    if gap_profile is None:
        return line
    # Candidate corrections, one per gap side; the smallest wins (a side that holds a
    # neighbour's band or a moved lane's band bends the line far more than a blotch),
    # and a correction larger than a quarter of the band's net signal is not trusted.
    # Glow rule: when a side rises where the band rises, it shows the band's own glow,
    # and no side speaks for the membrane under the band.
    net_rows = pixels[top:bottom].mean(axis=1, dtype=np.float64) - line
    net = float(net_rows.sum())
    bends = _side_bends(gap_profile, top, bottom, above, below, ya, yb)
    if any(follows_band(corr, net_rows) for corr in bends):
        return line
    best = None
    for corr in bends:
        if best is None or abs(corr.sum()) < abs(best.sum()):
            best = corr
    if best is not None and abs(best.sum()) <= MAX_SIDE_CORRECTION_FRACTION * abs(net):
        line = line + best
    return line


def follows_band(bend: np.ndarray, net_rows: np.ndarray, *, min_r: float = GLOW_CORRELATION) -> bool:
    """Whether a side strip's bend over a band window is the band's glow: it follows the lane's net profile.

    Light from a band spreads sideways into the strips beside its lane (and a neighbour's band on the same
    row sits there too), so those strips rise over the band's rows with the band's own shape; a blotch of
    the membrane runs independently of the band. Taking such a rise as background would cut the band by
    its own glow, by as much as the glow reaches the strips (10-30 % on a real chemiluminescence blot,
    depending on the lane).

    Parameters
    ----------
    bend : (R,) ndarray
        The side's departure from its straight line over the window's rows (intensity per pixel).
    net_rows : (R,) ndarray
        The lane's mean signal per row over the same rows minus the lane's straight background line.
    min_r : float
        Pearson correlation from which the bend counts as the band's glow.

    Returns
    -------
    bool
        True when the band rises (net signal above zero) and the bend follows it with ``r >= min_r``.
    """
    bend = np.asarray(bend, dtype=np.float64)
    net_rows = np.asarray(net_rows, dtype=np.float64)
    if bend.size < MIN_GLOW_ROWS or not net_rows.sum() > 0:
        return False
    db, dn = bend - bend.mean(), net_rows - net_rows.mean()
    scale = float(np.sqrt((db * db).sum() * (dn * dn).sum()))
    return scale > 0 and float((db * dn).sum()) >= min_r * scale


def _side_bends(
    gap_profile: np.ndarray | list[np.ndarray], top: int, bottom: int, above: slice, below: slice, ya: float, yb: float
) -> list[np.ndarray]:
    """Each side profile over rows ``top:bottom`` minus its straight line from the mean of its ``above`` rows
    (at row ``ya``) to the mean of its ``below`` rows (at row ``yb``); sides without rows there are skipped."""
    sides = [gap_profile] if isinstance(gap_profile, np.ndarray) else list(gap_profile)
    rows = np.arange(top, bottom)
    out = []
    for g in sides:
        g = np.asarray(g, dtype=np.float64)
        if g[above].size == 0 or g[below].size == 0 or yb == ya:
            continue
        ga, gb = float(g[above].mean()), float(g[below].mean())
        out.append(g[top:bottom] - (ga + (gb - ga) * (rows - ya) / (yb - ya)))
    return out


def side_shares(
    pixels: np.ndarray,
    top: int,
    bottom: int,
    *,
    gap_profile: np.ndarray | list[np.ndarray],
    line: np.ndarray,
    outside: tuple[int, int] | None = None,
    border_px: int = BORDER_PX,
) -> list[float]:
    """How much of a band window's net signal each of some other profiles shows too.

    A band is loaded in its lane; a row of banding across the membrane rises in the gaps beside the lane
    and beyond the lane set as much as in the lane. Each profile's rise over the window (above the
    straight line between the window's border rows, as :func:`band_background` reads a side's bend) is
    divided by the lane's net signal over ``line`` (the window's background without side correction).

    Parameters
    ----------
    pixels : (R, W) ndarray
        Straightened lane pixels.
    top, bottom : int
        Window rows ``top <= r < bottom`` (lane-relative).
    gap_profile : (R,) ndarray or list of them
        Profiles on the lane's rows: the side strips (:func:`side_profiles`), or the blank margins.
    line : (bottom - top,) ndarray
        The window's background per pixel without side correction (``band_background(...,
        gap_profile=None)``).
    outside : (int, int), optional
        Rows whose outside borders give the background (default ``(top, bottom)``).
    border_px : int
        Border rows.

    Returns
    -------
    list of float
        One share per profile with border rows (1.0: it rises as much as the lane); empty when the
        window has no net signal.
    """
    net = float((pixels[top:bottom].mean(axis=1, dtype=np.float64) - line).sum())
    if not net > 0:
        return []
    o_top, o_bottom = outside if outside is not None else (top, bottom)
    above, below = border_rows(pixels.shape[0], o_top, o_bottom, border_px)
    ya, yb = (above.start + above.stop - 1) / 2, (below.start + below.stop - 1) / 2
    return [float(c.sum()) / net for c in _side_bends(gap_profile, top, bottom, above, below, ya, yb)]


def background_readings(
    pixels: np.ndarray,
    top: int,
    bottom: int,
    *,
    gap_profile: np.ndarray | list[np.ndarray] | None,
    line: np.ndarray,
    background: np.ndarray,
    outside: tuple[int, int] | None = None,
    border_px: int = BORDER_PX,
) -> list[float]:
    """A band window's net signal under each other reading of its background, as a fraction of the signal used.

    The readings are the plain straight line between the window's border rows, and that line bent as each side
    strip bends (:func:`band_background` takes one of them, or none). Where the side strips disagree, the
    membrane under the lane is not known, and neither is the band's volume: the fractions show by how much.

    Parameters
    ----------
    pixels : (R, W) ndarray
        Straightened lane pixels.
    top, bottom : int
        Window rows ``top <= r < bottom`` (lane-relative).
    gap_profile : (R,) ndarray or list of them, or None
        The side strips' profiles (:func:`side_profiles`); None: only the plain line.
    line : (bottom - top,) ndarray
        The window's background per pixel without side correction.
    background : (bottom - top,) ndarray
        The background per pixel the volume was measured over.
    outside : (int, int), optional
        Rows whose outside borders give the background (default ``(top, bottom)``).
    border_px : int
        Border rows.

    Returns
    -------
    list of float
        Net signal under the plain line, then under each side's bent line, each divided by the net signal over
        ``background`` (1.0: the same volume); empty when that net signal is not above zero.
    """
    rows = pixels[top:bottom].mean(axis=1, dtype=np.float64)
    used = float((rows - background).sum())
    if not used > 0:
        return []
    plain = float((rows - line).sum())
    shares = (
        []
        if gap_profile is None
        else side_shares(pixels, top, bottom, gap_profile=gap_profile, line=line, outside=outside, border_px=border_px)
    )
    return [plain / used] + [plain * (1.0 - share) / used for share in shares]
