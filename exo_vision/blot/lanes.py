"""Lane geometry: automatic detection, explicit lanes, and the lane's pixels.

A lane is a (possibly tilted) vertical band of constant width inside a strip.
It is kept as editable geometry: :meth:`Lane.polygon_yx` gives its four corners
(row, column), which the napari widget shows as a Shapes layer and can turn
back into a lane with :meth:`Lane.from_polygon` after the user edits it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from exo_vision.blot.strips import Strip, block_mean

logger = logging.getLogger(__name__)

#: Default fraction of the lane width that is quantified (the centre), to avoid neighbour bleed.
CENTRAL_FRACTION = 0.65
#: Largest tilt of lanes relative to the membrane's edges accepted by automatic detection, degrees.
MAX_TILT_DEG = 3.0
#: Narrowest lane accepted by automatic detection, in pixels.
MIN_LANE_WIDTH_PX = 6.0


@dataclass
class Lane:
    """One lane: a straight, possibly tilted, band of constant width.

    Coordinates are pixel centres: column ``x`` covers ``x - 0.5 .. x + 0.5``.

    Attributes
    ----------
    strip : int
        1-based strip number.
    index : int
        1-based lane number within the strip, left to right.
    y_top_px, y_bottom_px : int
        First row and one past the last row of the lane.
    x_top_px, x_bottom_px : float
        Column of the lane centre at ``y_top_px`` and at ``y_bottom_px - 1``.
    width_px : float
        Full lane width in pixels.
    name : str
        Sample name (e.g. ``"lysate"``); empty when not given.
    """

    strip: int
    index: int
    y_top_px: int
    y_bottom_px: int
    x_top_px: float
    x_bottom_px: float
    width_px: float
    name: str = ""

    @property
    def slope(self) -> float:
        """Change of the centre column per row (0 for a vertical lane)."""
        span = max(self.y_bottom_px - 1 - self.y_top_px, 1)
        return (self.x_bottom_px - self.x_top_px) / span

    def centre_x(self, y: np.ndarray | float) -> np.ndarray:
        """Centre column of the lane at row(s) ``y``."""
        return self.x_top_px + self.slope * (np.asarray(y, dtype=float) - self.y_top_px)

    @property
    def x_centre_px(self) -> float:
        """Centre column at the middle row."""
        return float(self.centre_x((self.y_top_px + self.y_bottom_px - 1) / 2))

    def polygon_yx(self) -> np.ndarray:
        """Corners as a (4, 2) array of (row, column), clockwise from top-left.

        Edges lie on pixel borders, so a napari rectangle drawn from these
        corners covers exactly the lane's pixels.
        """
        half = self.width_px / 2
        top = self.y_top_px - 0.5
        bottom = self.y_bottom_px - 0.5
        xt = self.centre_x(self.y_top_px)
        xb = self.centre_x(self.y_bottom_px - 1)
        return np.array([[top, xt - half], [top, xt + half], [bottom, xb + half], [bottom, xb - half]])

    @classmethod
    def from_polygon(cls, polygon_yx: np.ndarray, *, strip: int, index: int, name: str = "") -> "Lane":
        """Build a lane from four (row, column) corners as :meth:`polygon_yx` returns them.

        Parameters
        ----------
        polygon_yx : (4, 2) array_like
            Corners in any order (e.g. edited in napari); the lane is the
            best-fitting tilted box through them.
        strip, index : int
            1-based strip and lane numbers.
        name : str
            Sample name.
        """
        poly = np.asarray(polygon_yx, dtype=float)
        if poly.shape != (4, 2) or not np.all(np.isfinite(poly)):
            raise ValueError(f"a lane polygon needs 4 finite (row, column) corners, got array of shape {poly.shape}")
        order = np.argsort(poly[:, 0])
        top, bottom = poly[order[:2]], poly[order[2:]]
        y_top = int(np.floor(top[:, 0].mean() + 0.5 + 0.5))
        y_bottom = int(np.floor(bottom[:, 0].mean() + 0.5 + 0.5))
        if y_bottom - y_top < 2:
            raise ValueError(f"lane polygon {poly.tolist()} is less than 2 rows tall; draw it over the whole lane")
        width = float((np.ptp(top[:, 1]) + np.ptp(bottom[:, 1])) / 2)
        if width < 2:
            raise ValueError(f"lane polygon {poly.tolist()} is less than 2 columns wide")
        return cls(strip, index, y_top, y_bottom, float(top[:, 1].mean()), float(bottom[:, 1].mean()), width, name)

    def columns(self, rows: np.ndarray, *, fraction: float = 1.0) -> np.ndarray:
        """Integer columns covered by the central ``fraction`` of the lane at each row.

        Parameters
        ----------
        rows : (R,) ndarray of int
            Rows to sample.
        fraction : float
            Fraction of the width to keep, centred (1.0 = whole lane).

        Returns
        -------
        (R, W) ndarray of int
            ``W = max(1, round(width_px * fraction))`` columns per row.
        """
        n = max(1, int(np.floor(self.width_px * fraction + 0.5)))
        first = np.floor(self.centre_x(rows) - (n - 1) / 2 + 0.5).astype(int)
        return first[:, None] + np.arange(n)[None, :]


def lane_pixels(image: np.ndarray, lane: Lane, *, fraction: float = CENTRAL_FRACTION) -> np.ndarray:
    """Straightened pixels of a lane: one row per image row, central columns only.

    Parameters
    ----------
    image : (M, N) ndarray
        Any image aligned with the blot (signal, background, masks).
    lane : Lane
        The lane.
    fraction : float
        Fraction of the lane width sampled, centred on the lane.

    Returns
    -------
    (R, W) ndarray
        ``R = y_bottom_px - y_top_px`` rows; columns outside the image are
        clipped to its edge.
    """
    rows = np.arange(lane.y_top_px, lane.y_bottom_px)
    cols = np.clip(lane.columns(rows, fraction=fraction), 0, image.shape[1] - 1)
    return image[rows[:, None], cols]


def lanes_from_ranges(
    x_ranges_px: Sequence[tuple[float, float]], strip: Strip, *, names: Sequence[str] | None = None
) -> list[Lane]:
    """Vertical lanes from explicit column ranges.

    Parameters
    ----------
    x_ranges_px : sequence of (x_left, x_right)
        First column and one past the last column of each lane.
    strip : Strip
        Strip the lanes belong to (gives their rows).
    names : sequence of str, optional
        Lane names, one per range.

    Returns
    -------
    list of Lane
    """
    lanes = []
    for i, (a, b) in enumerate(x_ranges_px):
        if not (np.isfinite(a) and np.isfinite(b)) or b - a < 2:
            raise ValueError(f"lane x-range {i + 1} ({a}, {b}) must be at least 2 px wide with left < right")
        if a < strip.x_left_px - 0.5 or b > strip.x_right_px + 0.5:
            raise ValueError(
                f"lane x-range {i + 1} ({a}, {b}) lies outside strip {strip.index} "
                f"(columns {strip.x_left_px}..{strip.x_right_px}); give ranges inside the image"
            )
        centre = (a + b - 1) / 2
        name = names[i] if names is not None else ""
        lanes.append(Lane(strip.index, i + 1, strip.y_top_px, strip.y_bottom_px, centre, centre, float(b - a), name))
    return lanes


def lanes_from_count(n_lanes: int, strip: Strip, *, names: Sequence[str] | None = None) -> list[Lane]:
    """``n_lanes`` equal, touching lanes across the strip (a fallback, no detection).

    Parameters
    ----------
    n_lanes : int
        Number of lanes.
    strip : Strip
        Strip to divide.
    names : sequence of str, optional
        Lane names.
    """
    edges = np.linspace(strip.x_left_px, strip.x_right_px, n_lanes + 1)
    return lanes_from_ranges(list(zip(edges[:-1], edges[1:])), strip, names=names)


def _profile_noise(profile: np.ndarray) -> float:
    diff = np.diff(profile)
    mad = float(1.4826 * np.median(np.abs(diff - np.median(diff))) / np.sqrt(2.0))
    # quantised (8-bit) profiles can have a zero MAD: keep a floor
    return max(mad, 1e-4 * float(np.ptp(profile)), 1e-9)


def _tophat_rows(block: np.ndarray, *, mark_width_px: int | None = None,
                 quantised: bool = False, size_px: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Remove the slowly varying background along each column (vertical white top-hat).

    Bands are at most about half a strip tall, so an opening along y with a
    window of 70 % of the strip height keeps them and drops the membrane
    background and its blotches; a light smoothing then lowers the noise.

    With ``mark_width_px``, pen marks and specks are dropped first (before the
    smoothing spreads them): a grey opening with a flat box 3 rows tall and
    ``mark_width_px`` columns wide keeps bands (several rows tall, a lane
    wide) and removes pen strokes (written lane numbers, lines: 1-3 px thick)
    and dots narrower than the box.

    With ``quantised`` (whole grey levels, noise below a level), the opening
    runs on a 3 x 3 median of the block: an isolated pixel one level low would
    otherwise set the opening's minimum for every window that holds it, and
    lift whole column stretches by one level in the top-hat (a false faint
    "lane" one level high, and a half-level floor on faint lanes to reject it).

    With ``size_px`` the opening window is that many rows instead (at least
    15, at most 70 % of the strip): see :func:`_band_window`.

    Returns
    -------
    th : (R, C) ndarray
        Top-hat, marks removed (when asked) and smoothed.
    th_raw : (R, C) ndarray
        Top-hat smoothed the same way without the mark removal (its noise is
        the true pixel noise; the opening's output is smoother).
    """
    size = max(15, int(0.7 * block.shape[0]))
    if size_px is not None:
        size = min(size, max(15, int(size_px)))
    size = min(size, block.shape[0])
    base = ndi.median_filter(block, size=3, mode="nearest") if quantised else block
    opened = ndi.maximum_filter1d(ndi.minimum_filter1d(base, size, axis=0, mode="nearest"), size, axis=0, mode="nearest")
    diff = block - opened
    raw = ndi.gaussian_filter(diff, sigma=(2.0, 1.0))
    if mark_width_px is None:
        return raw, raw
    # outside the block counts as empty (a stroke on the edge row must not be extended by it)
    return ndi.gaussian_filter(ndi.grey_opening(diff, size=(3, mark_width_px), mode="constant", cval=0.0),
                               sigma=(2.0, 1.0)), raw


#: The lane finder's background window is this many times the strongest band's height (rows at half height).
BAND_WINDOW_HEIGHTS = 5.0


def _band_window(th: np.ndarray) -> int | None:
    """Rows of a background window that keeps the strip's bands but not its blotches, from its strongest band.

    The strongest band (the top-hat's maximum, a few columns wide) is measured down its column: the rows
    where it stays above half its height. A window :data:`BAND_WINDOW_HEIGHTS` times that is taller than
    any sharp band and much shorter than a strongly blotchy background's blotches, which a window of
    70 % of the strip keeps (they then look like lanes, or drown the faint ones). A smear is tall, so its
    window stays long. None when there is no clear band.
    """
    if th.size == 0 or th.max() <= 0:
        return None
    r, c = np.unravel_index(int(np.argmax(th)), th.shape)
    col = th[:, max(0, c - 2):c + 3].mean(axis=1)
    half = col[r] / 2
    top = r
    while top > 0 and col[top - 1] > half:
        top -= 1
    bottom = r
    while bottom < col.size - 1 and col[bottom + 1] > half:
        bottom += 1
    return int(np.ceil(BAND_WINDOW_HEIGHTS * (bottom - top + 1)))


def _column_profile(th: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Column profile of a top-hat block: the maximum over rows, or the mean over the given rows."""
    prof = th.max(axis=0).astype(np.float64) if rows is None else th[rows].mean(axis=0, dtype=np.float64)
    size = max(5, prof.size // 3)
    base = ndi.grey_opening(prof, size=size, mode="nearest")
    base = ndi.uniform_filter1d(base, max(3, size // 2), mode="nearest")
    return prof - np.minimum(base, prof)


@dataclass
class _Peak:
    x: float
    width: float
    prominence: float


def _detect_peaks(profile: np.ndarray, *, min_width_px: float, k_noise: float, noise: float | None = None) -> list[_Peak]:
    from scipy.signal import find_peaks, peak_widths  # slow to import: keep `exo-vision --help` fast

    smooth = ndi.gaussian_filter1d(profile, 1.0)
    noise = _profile_noise(profile) if noise is None else noise
    idx, props = find_peaks(smooth, prominence=k_noise * noise, width=min_width_px * 0.5)
    if idx.size == 0:
        return []
    widths, _, left, right = peak_widths(
        smooth, idx, rel_height=0.5, prominence_data=(props["prominences"], props["left_bases"], props["right_bases"])
    )
    # The centre is midway between the half-prominence crossings: a flat-topped lane's
    # maximum can sit anywhere on its plateau.
    # Two maxima on one lane's plateau share its half-prominence crossings: keep the stronger
    # peak of any whose centre lies within another, stronger peak's half-height span.
    kept: list[int] = []
    for i in np.argsort(-props["prominences"]):
        centre = (left[i] + right[i]) / 2
        if all(not (left[j] <= centre <= right[j]) for j in kept):
            kept.append(int(i))
    return [_Peak(float((left[i] + right[i]) / 2), float(widths[i]), float(props["prominences"][i])) for i in sorted(kept)]


def _pitch(xs: np.ndarray) -> float | None:
    if xs.size < 2:
        return None
    d = np.diff(np.sort(xs))
    d = d[d > 1.0]  # the same lane seen twice is not a pitch
    if d.size == 0:
        return None
    small = d[d <= 1.6 * d.min()]
    return float(np.median(small))


def find_lanes(
    signal: np.ndarray,
    strip: Strip,
    *,
    n_lanes: int | None = None,
    min_lane_width_px: float = MIN_LANE_WIDTH_PX,
    warnings: list[str] | None = None,
    infer_end_lanes: bool = True,
) -> list[Lane]:
    """Detect the lanes of one strip automatically.

    1. Background along each column is removed (vertical top-hat), then pen
       marks: a flat opening 3 rows tall and ``2 x min_lane_width_px + 1``
       columns wide drops pen strokes (written lane numbers, lines) and dots,
       which are thinner or narrower than bands.
    2. Strong lanes are peaks of the column profile (maximum over rows); the
       lane width is their median full width at half height, and the centre of
       a lane is midway between its half-height crossings (unbiased on
       rectangular and soft-edged lanes). A ladder lane is one plateau, so one
       lane.
    3. The band rows of the strong lanes give a second, more sensitive
       profile that finds faint lanes on the same pitch (or, when the strong
       lanes are several pitches apart, shows the pitch). A faint lane lies
       on the membrane (a lane width about it fits in the strip). In an
       8-bit export (whole grey levels) a faint band is a patchy scatter of
       one-level pixels: there this profile keeps them (only what the mark
       removal took away by more than a level is dropped), stands each column
       on its own level in the rows without bands, and must rise above the
       tallest bump the same profile shows over as many band-free rows; the
       lane width and centre of a strong lane come from whichever profile
       shows it wider (the maximum over rows shows only the few columns of a
       faint lane or smear that reach the next level).
    4. Gaps of about two or more pitches get the missing (blank) lanes.
    5. Blank lanes at one end are added when the membrane margins show them
       (see :func:`_end_lanes`: the margins outside the outermost lane
       positions are equal on both sides of a membrane, so extra room of k
       pitches on one side holds k blank lanes); when a lane would fit but
       the rule cannot decide, a message is added to ``warnings``.
    6. With ``n_lanes`` the list is trimmed or extended to that count instead.
    7. A common tilt is fitted from the band centroids, within
       :data:`MAX_TILT_DEG` of the membrane's rotation (``strip.angle_deg``).

    Parameters
    ----------
    signal : (M, N) ndarray of float
        Blot in signal orientation.
    strip : Strip
        Where to look.
    n_lanes : int, optional
        Expected number of lanes.
    min_lane_width_px : float
        Narrowest lane accepted.
    warnings : list of str, optional
        Messages for the user are appended here (logged as warnings when not
        given): blank end lanes that could not be told from the margin.
    infer_end_lanes : bool
        Step 5 on (default). Off for a strip stacked with others of the same
        membrane: :func:`share_lanes` adds end lanes where every strip of the
        stack shows room for them.

    Returns
    -------
    list of Lane
        Left to right, possibly empty when nothing lane-like is found.
    """
    full = signal[strip.slices()]
    # Lanes are wide: find them on a block-averaged copy of at most ~0.3 MP (speed).
    f = max(1, int(np.sqrt(full.size / 3e5)))
    block = block_mean(full, f) if f > 1 else np.asarray(full, dtype=np.float32)
    min_lane_width_px = min_lane_width_px / f
    probe = full[:: max(1, full.shape[0] // 32), :: max(1, full.shape[1] // 64)]
    quantised = f == 1 and float(np.mean(probe == np.round(probe))) > 0.9 and float(np.ptp(probe)) < 1024
    mark = max(5, 2 * int(np.ceil(min_lane_width_px)) + 1)
    th, th_raw = _tophat_rows(block, mark_width_px=mark, quantised=quantised)
    window = _band_window(th)
    if window is not None and window < int(0.7 * block.shape[0]):
        th, th_raw = _tophat_rows(block, mark_width_px=mark, quantised=quantised, size_px=window)
    prof = _column_profile(th)
    # The noise of the maximum profile: column-to-column scatter of the top-hat before the
    # mark removal (which smooths), and never below the top-hat's pixel noise (a maximum over
    # rows of smoothed, quantised 8-bit noise can be smooth from column to column).
    sample = th_raw[:: max(1, th_raw.shape[0] // 64), :: max(1, th_raw.shape[1] // 256)]
    pixel_sd = 1.4826 * float(np.median(np.abs(sample - np.median(sample))))
    noise = max(_profile_noise(_column_profile(th_raw)), pixel_sd)
    peaks = [p for p in _detect_peaks(prof, min_width_px=min_lane_width_px, k_noise=8.0, noise=noise)
             if p.width >= min_lane_width_px]
    if not peaks:
        return []
    # "Strong" lanes set the width and pitch. They are compared with the third strongest
    # sizeable peak (>= 2 % of the strongest), not the strongest, so one or two saturated
    # lanes do not make the rest "weak", while noise bumps never set the scale.
    proms = sorted((p.prominence for p in peaks), reverse=True)
    big = [v for v in proms if v >= 0.02 * proms[0]]
    ref = big[min(2, len(big) - 1)]
    strong = [p for p in peaks if p.prominence >= 0.1 * ref]
    width = float(np.median([p.width for p in strong]))
    strong = [p for p in strong if p.width >= 0.5 * width]
    # Band rows of the strong lanes: the rows where faint lanes carry their signal too.
    cols = np.concatenate([np.arange(int(p.x - p.width / 4), int(p.x + p.width / 4) + 1) for p in strong])
    cols = np.clip(cols, 0, block.shape[1] - 1)
    row_prof = th[:, cols].mean(axis=1)
    band_rows = ndi.binary_dilation(row_prof > 0.1 * row_prof.max(), iterations=10)
    if band_rows.sum() >= 3:
        faint = th
        floor = 0.0
        if quantised:
            # A faint 8-bit band is a patchy scatter of one-level pixels, which the flat mark
            # opening removes: here only what the opening took away by more than a grey level
            # (pen strokes, dots) is replaced, the rest of the top-hat is kept as it is.
            marks = ndi.binary_dilation(th_raw - th > 1.0, iterations=2)
            faint = np.where(marks, th, th_raw)
            # Where a smooth background crosses a grey level, rounding leaves a one-level
            # plateau over all rows of some columns: a faint lane must stand above its own
            # column's level in the rows without bands.
            # The floor: the tallest bump that the same profile shows over as many rows without
            # bands (above, or below, the band rows); without such rows, half a grey level.
            n_band = int(band_rows.sum())
            free = np.flatnonzero(~band_rows)
            floor = 0.5
            if free.size >= n_band + 3:
                faint = faint - faint[free].mean(axis=0, dtype=np.float64)
                floor = max(float(_column_profile(faint, rows).max()) for rows in (free[:n_band], free[-n_band:]))
        prof2 = _column_profile(faint, band_rows)
        noise2 = _profile_noise(_column_profile(th_raw, band_rows))
        if quantised:
            noise2 = max(noise2, floor / 6.0)
        # a faint lane lies on the membrane: a lane width about it fits inside the strip (a rise
        # of the profile at the membrane's edge is no lane)
        found2 = _detect_peaks(prof2, min_width_px=min_lane_width_px, k_noise=6.0, noise=noise2)
        if quantised:
            # The maximum over rows of a faint 8-bit lane (or smear) shows only its few columns
            # that reach the next grey level; the mean over its band rows shows the whole lane:
            # the wider of the two measures of each strong lane gives its width and centre.
            both = [max((p, q), key=lambda r: r.width) for p in strong for q in found2
                    if abs(p.x - q.x) <= q.width / 2 and q.width <= 3.0 * p.width]
            if len(both) == len(strong):
                strong = both
                width = float(np.median([p.width for p in strong]))
        weak = [p for p in found2
                if 0.5 * width <= p.width <= 2.0 * width and width / 2 <= p.x + 0.5 <= block.shape[1] - width / 2]
    else:
        weak, noise2 = [], noise
    xs = [p.x for p in strong]
    pitch = _pitch(np.array(xs))
    # Two strong lanes several pitches apart give a multiple of the pitch: clear, lane-shaped
    # faint peaks may show the true pitch, if the strong lanes sit on its grid.
    clear = [p.x for p in weak if 0.7 * width <= p.width <= 1.4 * width and p.prominence >= 10.0 * noise2
             and min(abs(p.x - x) for x in xs) >= 0.6 * width]
    finer = _pitch(np.array(xs + clear))
    if finer is not None and finer >= width and (pitch is None or finer < 0.75 * pitch):
        steps = np.diff(sorted(xs)) / finer
        if np.all(np.abs(steps - np.round(steps)) <= 0.25):
            pitch = finer
    for p in weak:
        near = min(abs(p.x - x) for x in xs)
        if near < 0.6 * (pitch or width):
            continue
        if pitch is not None:
            k = near / pitch
            if abs(k - round(k)) > 0.25:
                continue
        elif not (0.7 * width <= p.width <= 1.4 * width and p.prominence >= 10.0 * noise2 and near >= 1.2 * width):
            # one strong lane gives no pitch to check a faint one against: keep only a clear
            # peak as wide as the strong lane, at least a lane width away from it
            continue
        xs.append(p.x)
    xs = sorted(xs)
    pitch = _pitch(np.array(xs)) or pitch
    if pitch is not None:
        filled = [xs[0]]
        for x in xs[1:]:
            gap = x - filled[-1]
            k = int(round(gap / pitch))
            if k >= 2 and abs(gap / k - pitch) < 0.25 * pitch:
                last = filled[-1]
                filled.extend([last + gap * j / k for j in range(1, k)])
            filled.append(x)
        xs = filled
    lane_width = min(width, 0.95 * pitch) if pitch is not None else width
    if n_lanes is not None:
        xs = _fit_count(xs, n_lanes, pitch or lane_width * 1.3, block.shape[1], lane_width, prof)
    slope = _common_slope(th, xs, lane_width)
    # Lanes run square to the membrane, give or take a slight tilt of the gel: the band fit is
    # kept within MAX_TILT_DEG of the membrane's rotation (few bands can give a wild slope), and
    # too few band rows for a fit leave the lanes square to the membrane.
    square = float(np.tan(np.deg2rad(strip.angle_deg)))
    tilt = float(np.tan(np.deg2rad(MAX_TILT_DEG)))
    slope = square if slope == 0.0 else float(np.clip(slope, square - tilt, square + tilt))
    # back to full-resolution pixel centres
    xs = [(x + 0.5) * f - 0.5 + strip.x_left_px for x in xs]
    lane_width = lane_width * f
    if n_lanes is None and pitch is not None and infer_end_lanes:
        xs, message = _end_lanes(xs, pitch * f, lane_width, strip)
        if message:
            if warnings is not None:
                warnings.append(message)
            else:
                logger.warning("%s", message)
    mid = (strip.y_top_px + strip.y_bottom_px - 1) / 2
    lanes = []
    for i, x in enumerate(xs):
        xt = x + slope * (strip.y_top_px - mid)
        xb = x + slope * (strip.y_bottom_px - 1 - mid)
        lanes.append(Lane(strip.index, i + 1, strip.y_top_px, strip.y_bottom_px, float(xt), float(xb), float(lane_width)))
    return lanes


#: A blank end lane is added when the two margins differ by a whole number of pitches within this fraction.
END_LANE_TOLERANCE = 0.3


def _end_lanes(xs: list[float], pitch: float, width: float, strip: Strip) -> tuple[list[float], str]:
    """Add blank lanes at the ends of a strip where its membrane margins show them.

    The rule: the margins between the outermost lane positions (loaded or
    empty) and the membrane edges are equal on both sides, because wells are
    centred on the gel and a strip keeps the gel's full width. The margin is
    therefore the smaller of the two rooms left and right of the found lanes
    (from a lane's outer edge to the membrane edge, at the strip's middle
    row). When the other side has more room by k pitches (k >= 1, within
    :data:`END_LANE_TOLERANCE` of a pitch), k blank lanes are added there.
    Otherwise nothing is added; if a whole lane would still fit at an end
    (room >= one pitch), a message says the count could not be inferred.
    Both membrane edges must be seen (``strip.membrane_left_px`` and
    ``membrane_right_px``); blank lanes at both ends are never inferred.

    Returns
    -------
    xs : list of float
        Lane centres, full-resolution columns, left to right.
    message : str
        Empty, or what the user must know.
    """
    left, right = strip.membrane_left_px, strip.membrane_right_px
    if left is None and right is None:
        return xs, ""
    room_left = xs[0] - width / 2 - left if left is not None else None
    room_right = right - (xs[-1] + width / 2) if right is not None else None
    fits = [r is not None and r >= pitch for r in (room_left, room_right)]
    why = ""
    if room_left is not None and room_right is not None:
        excess = room_right - room_left
        k = int(round(abs(excess) / pitch))
        if k >= 1 and abs(abs(excess) / pitch - k) <= END_LANE_TOLERANCE:
            if excess > 0:
                xs = xs + [xs[-1] + pitch * j for j in range(1, k + 1)]
            else:
                xs = [xs[0] - pitch * j for j in range(k, 0, -1)] + xs
            room_left = room_right = min(room_left, room_right)
            fits = [room_left >= pitch] * 2
            if not any(fits):
                logger.debug("strip %d: %d blank end lane(s) added from unequal margins", strip.index, k)
                return xs, ""
            why = "blank lanes may lie at both ends"
        elif any(fits) and k == 0:
            why = "the margins are equal (blank lanes at both ends look like a wide margin)"
        elif any(fits):
            why = f"the margins differ by {abs(excess):.0f} px, not a whole number of lane pitches"
    elif any(fits):
        why = "only one membrane edge is visible"
    if not any(fits):
        return xs, ""
    rooms = " and ".join(f"{name} {r:.0f} px" for name, r in (("left", room_left), ("right", room_right)) if r is not None)
    return xs, (f"strip {strip.index}: {len(xs)} lanes found; the membrane has room for a further lane at an end "
                f"(margins {rooms}; lane pitch {pitch:.0f} px) but {why}, so blank end lanes were not inferred; "
                "if end lanes are blank, give the lane count (--lanes N)")


def _fit_count(xs: list[float], n: int, pitch: float, ncols: int, width: float, prof: np.ndarray) -> list[float]:
    xs = list(xs)
    while len(xs) > n:
        strengths = [prof[int(np.clip(round(x), 0, prof.size - 1))] for x in xs]
        # drop the weakest lane at an end first; a weak lane inside the run is kept as a blank lane
        end = 0 if strengths[0] <= strengths[-1] else -1
        xs.pop(end)
    while len(xs) < n:
        left_room = xs[0] - width / 2
        right_room = ncols - (xs[-1] + width / 2)
        if max(left_room, right_room) < pitch - width / 2 + width / 2 * 0.5:
            break
        if right_room >= left_room:
            xs.append(xs[-1] + pitch)
        else:
            xs.insert(0, xs[0] - pitch)
    return xs


def _common_slope(th: np.ndarray, xs: list[float], width: float) -> float:
    """Shared lane tilt (columns per row) from band centroids in row chunks of the top-hat block.

    Returns 0 when the bands span too few rows for a reliable slope.
    """
    h = th.shape[0]
    chunk = max(6, h // 12)
    slopes: list[float] = []
    half = int(0.75 * width)
    for x in xs:
        lo, hi = int(round(x)) - half, int(round(x)) + half + 1
        if lo < 0 or hi > th.shape[1]:
            continue
        pts = []
        for a in range(0, h - chunk + 1, chunk):
            col = th[a:a + chunk, lo:hi].mean(axis=0)
            if col.max() <= 0:
                continue
            w = np.clip(col - 0.5 * col.max(), 0, None)
            pts.append((a + chunk / 2, float((np.arange(lo, hi) * w).sum() / w.sum()), float(col.max())))
        if len(pts) < 2:
            continue
        arr = np.array(pts)
        arr = arr[arr[:, 2] >= 0.3 * arr[:, 2].max()]
        if len(arr) < 2:
            continue
        y = arr[:, 0] - np.average(arr[:, 0], weights=arr[:, 2])
        d = arr[:, 1] - np.average(arr[:, 1], weights=arr[:, 2])
        if np.ptp(y) < 15:
            continue
        slopes.append(float((arr[:, 2] * y * d).sum() / (arr[:, 2] * y * y).sum()))
    # A gel tilt moves every lane the same way; the smile tilts bands of the left and
    # right lanes in opposite directions, which the median over lanes cancels.
    if not slopes:
        return 0.0
    slope = float(np.median(slopes))
    return float(np.clip(slope, -0.2, 0.2))


def gap_lanes(lanes: Sequence[Lane], strip: Strip, *, central_fraction: float = CENTRAL_FRACTION) -> list[Lane]:
    """Band-free pseudo-lanes between the lanes (and in the margins) of a strip.

    Each is as wide as the quantified centre of a lane, centred in a gap wide
    enough to hold it with 2 px to spare on each side, and tilted like its
    neighbour. They give background boxes for the limit of detection when
    lanes are full of bands.

    Parameters
    ----------
    lanes : sequence of Lane
        Lanes of one strip, left to right.
    strip : Strip
        The strip.
    central_fraction : float
        Fraction of the lane width quantified.

    Returns
    -------
    list of Lane
        Pseudo-lanes with ``index`` 0.
    """
    if not lanes:
        return []
    ordered = sorted(lanes, key=lambda l: l.x_centre_px)
    w = max(1.0, float(np.floor(ordered[0].width_px * central_fraction + 0.5)))
    out = []
    bounds = [(strip.x_left_px - 0.5, ordered[0].x_centre_px - ordered[0].width_px / 2, ordered[0])]
    for a, b in zip(ordered[:-1], ordered[1:]):
        bounds.append((a.x_centre_px + a.width_px / 2, b.x_centre_px - b.width_px / 2, a))
    last = ordered[-1]
    bounds.append((last.x_centre_px + last.width_px / 2, strip.x_right_px - 0.5, last))
    for lo, hi, ref in bounds:
        if hi - lo < w + 4:
            continue
        centre = (lo + hi) / 2
        shift = centre - ref.x_centre_px
        out.append(replace(ref, index=0, x_top_px=ref.x_top_px + shift, x_bottom_px=ref.x_bottom_px + shift,
                           width_px=w, name=""))
    return out


def gap_profiles(signal: np.ndarray, lanes: Sequence[Lane], strip: Strip, *, margin_px: int = 3,
                 smooth_rows: float = 3.0) -> list[list[np.ndarray] | None]:
    """Mean background profile of the gap on each side of each lane.

    The gap columns run from ``margin_px`` outside a lane's edge to
    ``margin_px`` before the neighbouring lane (or ``2 x margin_px`` wide
    strips at the strip ends); they follow the lane's tilt.

    Parameters
    ----------
    signal : (M, N) ndarray
        Blot in signal orientation (dust removed).
    lanes : sequence of Lane
        Lanes of one strip, left to right.
    strip : Strip
        The strip.
    margin_px : int
        Columns kept clear of each lane edge.
    smooth_rows : float
        Gaussian smoothing of the profile along rows (SD, rows).

    Returns
    -------
    list of (list of (R,) ndarray) or None
        Per lane, one profile per side whose gap is at least 3 px wide (None
        when neither is).
    """
    out: list[np.ndarray | None] = []
    ordered = list(lanes)
    for i, lane in enumerate(ordered):
        rows = np.arange(lane.y_top_px, lane.y_bottom_px)
        centre = lane.centre_x(rows)
        half = lane.width_px / 2
        sides = []
        left_end = ordered[i - 1].centre_x(rows) + ordered[i - 1].width_px / 2 if i > 0 else centre - half - 2 * margin_px - 6
        right_end = ordered[i + 1].centre_x(rows) - ordered[i + 1].width_px / 2 if i + 1 < len(ordered) else centre + half + 2 * margin_px + 6
        for lo, hi in ((left_end + margin_px, centre - half - margin_px), (centre + half + margin_px, right_end - margin_px)):
            width = int(np.floor(np.min(hi - lo)))
            if width < 3:
                continue
            first = np.ceil(lo).astype(int)
            cols = first[:, None] + np.arange(width)[None, :]
            if cols.min() < max(0, strip.x_left_px) or cols.max() >= min(signal.shape[1], strip.x_right_px):
                continue
            sides.append(signal[rows[:, None], cols].mean(axis=1, dtype=np.float64))
        out.append([ndi.gaussian_filter1d(p, smooth_rows, mode="nearest") for p in sides] or None)
    return out


def stacked(strips: Sequence[Strip]) -> list[bool]:
    """Whether each strip shares its columns with another strip (at least half the narrower one's width)."""
    return [any(j != i and min(s.x_right_px, o.x_right_px) - max(s.x_left_px, o.x_left_px) >= 0.5 * min(s.width_px, o.width_px)
                for j, o in enumerate(strips)) for i, s in enumerate(strips)]


def share_lanes(lanes_per_strip: list[list[Lane]], strips: Sequence[Strip]) -> list[list[Lane]]:
    """Give strips cut from one membrane the same lanes: the union of what each strip shows.

    Strips share a membrane when they are stacked: their columns overlap by
    at least half the narrower one (side-by-side strips never share). The
    strip with most lanes in a stack is the reference; another strip of the
    stack is aligned with it when all its lanes but at most one (and at least
    half) sit on reference lanes (within a third of a lane width) after
    removing their offset (at most half a pitch). The stack's layout is the union of the reference lanes
    and the aligned strips' other lanes (a lane blank on one strip, e.g.
    calnexin in EV lanes, shows on another), extended by blank end lanes when
    the union's margins show them (see :func:`find_lanes`). Each aligned
    strip keeps its own lanes and gets the others shifted by its offset, with
    their width and tilt, over its own rows. A strip that does not align
    keeps its own lanes.

    Parameters
    ----------
    lanes_per_strip : list of list of Lane
        Lanes detected on each strip.
    strips : sequence of Strip
        The strips, same order.

    Returns
    -------
    list of list of Lane
    """
    out = [list(lanes) for lanes in lanes_per_strip]
    if len(out) < 2:
        return out
    done: set[int] = set()
    for i, strip in enumerate(strips):
        if i in done:
            continue
        stack = [j for j, other in enumerate(strips)
                 if min(strip.x_right_px, other.x_right_px) - max(strip.x_left_px, other.x_left_px)
                 >= 0.5 * min(strip.width_px, other.width_px)]
        done.update(stack)
        best = max(stack, key=lambda j: len(out[j]))
        ref = sorted(out[best], key=lambda l: l.x_centre_px)
        if len(stack) < 2 or not ref:
            continue
        tol = ref[0].width_px / 3
        ref_x = np.array([r.x_centre_px for r in ref])
        ref_pitch = _pitch(ref_x)
        # union of lane centres (reference frame): (centre, lane it came from, strip index)
        union = [(r.x_centre_px, r, best) for r in ref]
        offsets = {best: 0.0}
        for j in stack:
            if j == best:
                continue
            if not out[j]:
                offsets[j] = 0.0  # a membrane without a band in any lane: the lanes run on through it
                continue
            xs_j = np.array([lane.x_centre_px for lane in out[j]])
            shift, hits = _best_shift(xs_j, ref_x, tol, 0.5 * (ref_pitch or 2 * ref[0].width_px))
            if hits == 0 or hits < len(xs_j) - 1 or hits * 2 < len(xs_j):
                continue  # a different layout: more than one lane off the reference
            offsets[j] = shift
            for lane in out[j]:
                c = lane.x_centre_px - shift
                if ref_pitch is None or any(abs(c - u) < 0.6 * min(ref_pitch, 2 * lane.width_px) for u, _, _ in union):
                    continue
                k = (c - ref_x[np.argmin(np.abs(ref_x - c))]) / ref_pitch
                if abs(k - round(k)) <= 0.25 or _on_finer_grid([u for u, _, _ in union] + [c], lane.width_px):
                    union.append((c, lane, j))  # a lane blank in the reference (whose pitch may be a multiple)
        union.sort(key=lambda u: u[0])
        centres = [c for c, _, _ in union]
        pitch = _pitch(np.array(centres))
        # blank end lanes (reference frame) only where every strip of the stack shows room for them: a
        # blotch can hide one membrane's edge, never the same edge of every membrane
        # (strips that show both membrane edges judge; one whose edge runs off the image cannot)
        proposals = []
        for j, shift in offsets.items():
            if pitch is None or strips[j].membrane_left_px is None or strips[j].membrane_right_px is None:
                continue
            grown = _end_lanes([c + shift for c in centres], pitch, ref[0].width_px, strips[j])[0]
            proposals.append([x - shift for x in grown if min(abs(x - shift - c) for c in centres) >= tol])
        common = [x for x in proposals[0] if all(any(abs(x - y) < tol for y in p) for p in proposals[1:])] if proposals else []
        for j, shift in offsets.items():
            s_j = strips[j]
            mid = (s_j.y_top_px + s_j.y_bottom_px - 1) / 2
            own = {k: lane for lane in out[j] for k, c in enumerate(centres) if abs(lane.x_centre_px - shift - c) < tol}
            xs = [c + shift for c in centres]
            extra = [x + shift for x in common]
            merged = []
            for k, (c, src, _) in enumerate(union):
                if k in own:
                    merged.append(own[k])
                    continue
                merged.append(_moved(src, s_j, c + shift, mid))
            for x in extra:
                src = ref[0] if x < xs[0] else ref[-1]
                merged.append(_moved(src, s_j, x, mid))
            out[j] = sorted(merged, key=lambda l: l.x_centre_px)
        for j in stack:
            if j not in offsets:
                out[j] = _own_end_lanes(out[j], strips[j])  # a layout of its own: its own margins decide
    return out


def _on_finer_grid(xs: list[float], width: float) -> bool:
    """Whether lane centres ``xs`` sit on one regular grid whose pitch is at least a lane width."""
    pitch = _pitch(np.array(xs))
    if pitch is None or pitch < width:
        return False
    steps = np.diff(np.sort(xs)) / pitch
    return bool(np.all(np.abs(steps - np.round(steps)) <= 0.25) and np.all(np.round(steps) >= 1))


def _own_end_lanes(lanes: list[Lane], strip: Strip) -> list[Lane]:
    """``lanes`` of one strip plus the blank end lanes its membrane margins show (see :func:`_end_lanes`)."""
    xs = [lane.x_centre_px for lane in sorted(lanes, key=lambda l: l.x_centre_px)]
    pitch = _pitch(np.array(xs))
    if pitch is None:
        return lanes
    grown, _ = _end_lanes(xs, pitch, lanes[0].width_px, strip)
    mid = (strip.y_top_px + strip.y_bottom_px - 1) / 2
    extra = [_moved(lanes[0] if x < xs[0] else lanes[-1], strip, x, mid) for x in grown if x not in xs]
    return sorted(lanes + extra, key=lambda l: l.x_centre_px)


def _best_shift(xs: np.ndarray, ref_x: np.ndarray, tol: float, max_shift: float) -> tuple[float, int]:
    """Offset of lane centres ``xs`` from reference centres that puts most of them on a reference lane.

    Offsets up to ``max_shift`` are tried (pieces of one membrane are laid out
    within half a lane of each other; a shift by a whole pitch would fit a
    regular grid just as well). Returns the offset (the median residual of
    the matched lanes, smallest candidate first on ties) and how many lanes
    it matches.
    """
    best = (0.0, 0)
    for d in sorted({float(x - r) for x in xs for r in ref_x if abs(x - r) <= max_shift}, key=abs):
        hit = [x - d - ref_x[np.argmin(np.abs(ref_x - (x - d)))] for x in xs]
        n = sum(abs(h) < tol for h in hit)
        if n > best[1]:
            best = (d + float(np.median([h for h in hit if abs(h) < tol])), n)
    return best


def _moved(lane: Lane, strip: Strip, centre: float, mid: float) -> Lane:
    """A copy of ``lane`` over ``strip``'s rows, centred at column ``centre`` on row ``mid``, same tilt."""
    return replace(lane, strip=strip.index, y_top_px=strip.y_top_px, y_bottom_px=strip.y_bottom_px,
                   x_top_px=centre + lane.slope * (strip.y_top_px - mid),
                   x_bottom_px=centre + lane.slope * (strip.y_bottom_px - 1 - mid), name="")
