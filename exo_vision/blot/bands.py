"""Bands from lane profiles, and band rows shared by the lanes of a strip.

Bands are peaks of a lane's profile (mean of its central columns per row).
A band extends to where the profile falls to 3 % of the peak's prominence, so
a broad CD63-like smear with several bumps becomes ONE band. Bands at the
same height in different lanes form a *band row*; every lane of the strip is
measured in every band row (absent bands included), with a window of common
height following the smile of the gel.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.robust import mad_sd
from exo_vision.blot.constants import BACKGROUND_WINDOW_MAX_FRACTION, BACKGROUND_WINDOW_MIN_ROWS, MIN_PROFILE_ROWS
from exo_vision.blot.lanes import CENTRAL_FRACTION, Lane, lane_pixels
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS

#: Peaks must rise this many profile-noise SDs above their surroundings.
PEAK_K_NOISE = DEFAULT_BLOT_PARAMETERS.band_peak_noise_sds
#: Peaks are one band when the valley between them stays above this fraction of the lower peak.
MERGE_VALLEY = DEFAULT_BLOT_PARAMETERS.merge_valley_fraction
#: The same for markers that run as a smear (glycosylated CD63): bumps of a smear are one band.
SMEAR_MERGE_VALLEY = DEFAULT_BLOT_PARAMETERS.smear_merge_valley_fraction
#: Markers integrated as one smear (lower-case).
SMEAR_MARKERS = DEFAULT_BLOT_PARAMETERS.smear_markers
#: A band row is kept when its strongest lane reaches this fraction of the strip's strongest band.
MIN_RELATIVE_PROMINENCE = DEFAULT_BLOT_PARAMETERS.min_relative_prominence

#: Variance of the differences of order 1 or 2 of white noise, in units of its variance.
DIFFERENCE_VARIANCE_FACTOR = {1: 2.0, 2: 6.0}

#: A flat stretch holds no peak: a prominence below this fraction of the profile's range is refused ...
MIN_PROMINENCE_OF_RANGE = 1e-6
#: ... and the range itself is floored at this (a constant profile), so the bound stays positive.
RANGE_FLOOR = 1e-12
#: Shortest window (rows) over which a peak's prominence is measured: wider than a sharp band and its
#: shoulders.
MIN_PEAK_WINDOW_ROWS = 31
#: Peaks are first collected at this fraction of the noise threshold, so the shoulders of a band that
#: merge into it are found; the full threshold is applied to the merged band.
CANDIDATE_PROMINENCE_FRACTION = 0.6
#: A band's extent is where the profile crosses this fraction of its prominence (its foot, not its
#: half height), so the integrated volume holds nearly all the band.
BAND_EDGE_REL_HEIGHT = 0.97
#: Within merged peaks, the extent is set by members at least this fraction of the strongest's
#: prominence (noise bumps on a band's flank do not widen it).
MERGED_MEMBER_PROMINENCE_FRACTION = 0.25
#: A band's slow tail is trimmed where its smoothed profile, past the rows over this fraction of its crest ...
KNEE_BODY_FRACTION = 0.25
#: ... falls by less than this fraction of its height over the band's lowest row ...
KNEE_RELATIVE_FALL = 0.5
#: ... over the next this many lengths of its flank (the rows from the band's outermost over this fraction of its
#: crest ...
KNEE_SHOULDER_FRACTION = 0.75
#: ... to its outermost over :data:`KNEE_BODY_FRACTION`) ...
KNEE_SPAN_FLANKS = 1.0
#: ... or at least this many rows ...
KNEE_MIN_ROWS = 2
#: ... when its crest stands at least this many profile-noise SDs, and while its tail stands at least this many ...
KNEE_MIN_NOISE_SDS = 30.0
#: ... profile-noise SDs ...
KNEE_TAIL_NOISE_SDS = 10.0
#: ... and this fraction of its crest over the band's lowest row (see :func:`_knee_trimmed`).
KNEE_TAIL_FRACTION = 0.01
#: Touching bands form one cluster when the valley between them stays above this fraction of the lower
#: one ...
CLUSTER_VALLEY_FRACTION = 0.25
#: ... and above this many profile-noise SDs.
CLUSTER_VALLEY_NOISE_SDS = 3
#: A band row's window height is set by its members at least this fraction of its strongest member's
#: prominence (faint bands have noisy extents).
WINDOW_MEMBER_PROMINENCE_FRACTION = 0.1
#: A faint member of a band row still fixes where the row runs (and keeps its own window) when its
#: prominence is at least this many profile-noise SDs. The noise bumps tall enough to join a band row on the
#: empty lanes of real 16-bit blots reach about 12 SDs (the detection threshold ``band_peak_noise_sds`` is 6);
#: the faintest real bands of the pinned synthetic tables that clear their LoD sit at 15 SDs and more.
ROW_ANCHOR_NOISE_SDS = 14.0
#: A band row under the relative bar (``min_relative_prominence``) is still kept when its strongest member stands
#: this many times above the strip's bare-membrane bumps: the median prominence of the candidates of every row
#: under that bar (noise bumps, blotches). A faint band in the only loaded lane of a membrane (a second band,
#: 2 % of the lane's main band, at 200 profile-noise SDs) stands about 50 times above them; the tallest bump of the
#: bare lanes beside it about 2 times.
FAINT_ROW_BUMP_FACTOR = 10.0
#: ... when at least this many candidates give that median (fewer say nothing of the membrane's bumps) ...
FAINT_ROW_MIN_BUMPS = 5
#: ... when it reaches this fraction of the relative bar (on the real 8-bit PLOS crops, rows of 0.2-0.36 of the bar,
#: 10-26 times their few flat bumps, are unannotated pieces beside a faint doublet), and when each member touches
#: no other band of its lane (not a piece of a band beside it).
FAINT_ROW_MIN_BAR_FRACTION = 0.4
#: A band row dropped under the relative bar is named in a warning when at least :data:`FAINT_ROW_MIN_LANES` of its
#: members stand this many profile-noise SDs (noise bumps of bare lanes reach about 12 SDs only one lane at a time).
FAINT_ROW_TELL_NOISE_SDS = 12.0
#: The relative bar such a warning suggests (a faint row at 1-4 % of a saturated one clears it).
LOW_RELATIVE_BAND = 0.005
#: A band row under the relative bar is also kept when it recurs: it holds a member in at least this many lanes ...
FAINT_ROW_MIN_LANES = 3
#: ... whose centres lie on one smooth curve across the lanes (a straight line through three members, a parabola
#: through more: the row's smile and tilt), none further from it than this fraction of the members' median height
#: (a noise bump or a blotch that joins a row by overlap sits anywhere in it), counting the members that touch no
#: other band of their lane. Each lane of a kept row is then called present only when its window's volume clears
#: that lane's own LoD, as in every row.
FAINT_ROW_MAX_OFF_CURVE = 0.15
#: ... counting only members at most this many times as tall as the median member of the rows over the bar: a band
#: run faintly is as tall as the strip's bands, a blotch of the membrane that recurs across the lanes several times
#: taller (on generated MISEV frames 140-row blotches beside a 30-row calnexin band).
FAINT_ROW_MAX_HEIGHTS = 2.0
#: ... and whose median prominence stands at least this many times above the membrane's bumps: the median prominence
#: of the members of the other rows under the bar, when there are at least :data:`FAINT_ROW_MIN_BUMPS` of them (an
#: 8-bit export's sub-level staircase bumps line up across a few lanes by chance).
FAINT_ROW_RECUR_BUMP_FACTOR = 3.0
#: ... and at least this many profile-noise SDs (the median over them): the noise bumps that join a band row on the
#: empty lanes of real 16-bit blots reach about 12 (:data:`ROW_ANCHOR_NOISE_SDS`); a DNA gel's wells, a row of real
#: signal in every lane that no analyst boxes, stand 8-9.
FAINT_ROW_MIN_NOISE_SDS = 12.0
#: ... and that stays in its lanes: the median over its members of the mean rise in the two strips beside the lane
#: (:func:`~exo_vision.blot.background.side_profiles`, unsmoothed) over the rise in the lane, each read over the
#: member's rows against the rows just outside them, is at most this. A band loaded in a lane falls off in the gap
#: beside it; a crease, a drying line, a cut edge or a roller's track of the membrane runs through the gaps as
#: through the lanes (share about 1). The mean of both strips, not the lower, so that a roller's row of dots, which
#: one 6-px strip can fall between, still counts.
FAINT_ROW_MAX_GAP_SHARE = 0.5
#: The rows outside a member that its rise is read against: half its height, at least this many (rows).
FAINT_ROW_FEET_MIN_ROWS = 3
#: The faint members that carry a band row (:func:`_faint_cores`) are measured in windows this many times their median
#: half-height width, centred on their own cores: 1.5 widths either side hold 99.9 % of a Gaussian band.
FAINT_CORE_WINDOW_HALF_HEIGHTS = 3.0
#: In a smear marker's band row (CD63) a lane's window reaches at most this many times the row's median reach from
#: the band's centre, up and down (the median over the row's strong members) ...
SMEAR_REACH_FACTOR = 1.15
#: ... when the row has at least this many strong members. A smear's faint foot is followed down a falling profile,
#: and on a blotchy membrane a blotch's flank carried one lane's foot 30-40 rows past the same smear's in the other
#: lanes: the straight background line under that taller window lies under the blotch, and the lysate's CD63 read
#: 19 % high (every EV/lysate ratio 13-19 % low).
SMEAR_REACH_MIN_LANES = 3
#: Decimals a band row's fitted centre (px) is rounded to before its window's rows are taken.
ROW_MID_DECIMALS = 6


@dataclass
class BandCandidate:
    """A band found in one lane profile (rows relative to the image).

    Attributes
    ----------
    y_top_px, y_bottom_px : int
        First row and one past the last row of the band.
    y_px : float
        Intensity-weighted centre row.
    prominence : float
        Peak height above its surroundings in the lane profile (intensity per pixel).
    cluster_top_px, cluster_bottom_px : int
        Rows of the run of touching bands this band belongs to (its own rows
        when isolated); the background is read just outside it.
    noise_sd : float
        Noise SD of the lane profile the band was found on (intensity per pixel; NaN when unknown).
    core_top_px, core_bottom_px : int
        First row and one past the last row of the run around the band's highest row that stays above half its
        rise over its lowest row (-1 when unknown).
    glow_top_px, glow_bottom_px : int
        First row and one past the last row of the band with its glow: its rows before the slow tails beyond its
        knees were left out (:func:`_knee_trimmed`; its own rows when none were, -1 when unknown). No blank box
        of the LoD lies there.
    """

    y_top_px: int
    y_bottom_px: int
    y_px: float
    prominence: float
    cluster_top_px: int = -1
    cluster_bottom_px: int = -1
    noise_sd: float = float("nan")
    core_top_px: int = -1
    core_bottom_px: int = -1
    glow_top_px: int = -1
    glow_bottom_px: int = -1


@dataclass
class BandWindow:
    """Where one band row is measured in one lane.

    Attributes
    ----------
    lane : Lane
        The lane.
    band : int
        1-based band-row number within the strip, top to bottom.
    y_top_px, y_bottom_px : int
        First row and one past the last row measured.
    detected : bool
        Whether a peak was found in this lane (False: position interpolated).
    marker : str
        Marker name assigned to the band row, or ``""``.
    bg_top_px, bg_bottom_px : int
        Rows between which the background is interpolated (the band's
        cluster of touching bands); equal to the band rows when isolated.
    prominence : float
        Height of the lane's peak in this row above its surroundings (intensity per pixel; 0 where no peak
        was found).
    busy_top_px, busy_bottom_px : int
        Rows the band and its glow take (:attr:`BandCandidate.glow_top_px`), where no blank box of the LoD lies;
        the background rows when -1.
    """

    lane: Lane
    band: int
    y_top_px: int
    y_bottom_px: int
    detected: bool
    marker: str = ""
    bg_top_px: int = -1
    bg_bottom_px: int = -1
    prominence: float = 0.0
    busy_top_px: int = -1
    busy_bottom_px: int = -1

    def __post_init__(self) -> None:
        if self.bg_top_px < 0:
            self.bg_top_px = self.y_top_px
        if self.bg_bottom_px < 0:
            self.bg_bottom_px = self.y_bottom_px
        self.busy_top_px = self.bg_top_px if self.busy_top_px < 0 else min(self.busy_top_px, self.bg_top_px)
        self.busy_bottom_px = max(self.busy_bottom_px, self.bg_bottom_px)


def lane_profile(signal: np.ndarray, lane: Lane, *, fraction: float = CENTRAL_FRACTION) -> np.ndarray:
    """Mean signal per row over the central part of a lane.

    Parameters
    ----------
    signal : (M, N) ndarray
        Blot in signal orientation.
    lane : Lane
        The lane.
    fraction : float
        Central fraction of the lane width used.

    Returns
    -------
    (R,) ndarray of float64
        One value per lane row (``R = lane.y_bottom_px - lane.y_top_px``), intensity per pixel.
    """
    return lane_pixels(signal, lane, fraction=fraction).mean(axis=1, dtype=np.float64)


def profile_noise_sd(profile: np.ndarray, *, order: int = 1) -> float:
    """Noise SD of a 1-D profile from its differences of ``order`` 1 or 2 (robust).

    Neighbour differences of white noise have variance 2 sigma^2, second differences 6 sigma^2. Second
    differences cancel the straight flanks of bands, so a profile made mostly of band flanks (a ladder
    of packed bands) does not read as noisy.
    """
    diff = np.diff(np.asarray(profile, dtype=np.float64), n=order)
    if diff.size == 0:
        return 0.0
    return float(mad_sd(diff) / np.sqrt(DIFFERENCE_VARIANCE_FACTOR[order]))


def detect_bands(
    profile: np.ndarray,
    *,
    y_offset_px: int = 0,
    k_noise: float = PEAK_K_NOISE,
    merge_valley: float = MERGE_VALLEY,
    background_window_px: int | None = None,
    max_height_px: int | None = None,
    noise_difference_order: int = 1,
    split_clear_dips: bool = False,
    saturated_rows: np.ndarray | None = None,
    trim_glow: bool = False,
) -> list[BandCandidate]:
    """Find bands in one lane profile.

    Parameters
    ----------
    profile : (R,) ndarray
        Lane profile (see :func:`lane_profile`).
    y_offset_px : int
        Image row of ``profile[0]``.
    k_noise : float
        Minimum prominence in units of the profile noise SD.
    merge_valley : float
        Neighbouring peaks are one band when the valley between them stays
        above this fraction of the lower peak (:data:`MERGE_VALLEY`; use
        :data:`SMEAR_MERGE_VALLEY` for smears such as CD63).
    background_window_px : int, optional
        Window (rows) of the grey opening that gives the slow background;
        default 70 % of the profile (capped at 70 % in any case, at least 15).
    max_height_px : int, optional
        Bands taller than this (rows) are dropped: a plateau is not a band.
    noise_difference_order : {1, 2}
        Order of the differences the profile noise is read from (:func:`profile_noise_sd`).
    split_clear_dips : bool
        Two neighbouring maxima are also two bands, however high the valley between them, when the dip between
        them is clear (:func:`_clear_dip`: both rise ``k_noise`` noise SDs above it, the weaker at least
        :data:`MERGED_MEMBER_PROMINENCE_FRACTION` as far as the stronger). Two DNA fragments of close length
        run as a doublet (a ladder's packed bands); a blot's smear keeps its bumps together (False).
    saturated_rows : (R,) ndarray of bool, optional
        Rows of the profile that hold a saturated pixel. A maximum on such a row is parted from its neighbour by
        the valley rule only, never by a clear dip: clipping shapes its rows' means (how many of a row's pixels
        clip), so a dip beside it need not be a gap between two fragments.
    trim_glow : bool
        A band holding a row of ``saturated_rows`` ends at the knees of its flanks (:func:`_knee_trimmed`): the
        glow around an over-exposed band is no part of it.

    Returns
    -------
    list of BandCandidate
        Top to bottom.
    """
    from scipy.signal import find_peaks, peak_widths  # slow to import: keep `exo-vision --help` fast

    profile = np.asarray(profile, dtype=np.float64)
    if profile.size < MIN_PROFILE_ROWS:
        return []
    noise = profile_noise_sd(profile, order=noise_difference_order)
    flat, size = flattened_profile(profile, background_window_px)
    # a flat stretch (an 8-bit export's constant background has no noise at all) holds no peak:
    # never accept a prominence below a millionth of the profile's range
    tiny = MIN_PROMINENCE_OF_RANGE * max(float(np.ptp(profile)), RANGE_FLOOR)
    wlen = max(MIN_PEAK_WINDOW_ROWS, size)
    with warnings.catch_warnings():
        # a flat-topped peak (a clipped band) wider than the window reads prominence 0 on the way; the prominence
        # floor drops it, and the user need not see scipy's warning about it
        warnings.filterwarnings("ignore", message="some peaks have a prominence of 0", category=RuntimeWarning)
        idx, props = find_peaks(flat, prominence=max(k_noise * noise * CANDIDATE_PROMINENCE_FRACTION, tiny), wlen=wlen)
    if idx.size == 0:
        return []
    data = (props["prominences"], props["left_bases"], props["right_bases"])
    _, _, left, right = peak_widths(flat, idx, rel_height=BAND_EDGE_REL_HEIGHT, prominence_data=data, wlen=wlen)
    order = np.argsort(idx)
    peaks = _Peaks(idx[order], props["prominences"][order], left[order], right[order])
    clear = k_noise * noise if split_clear_dips else np.inf
    merged = _grouped(flat, peaks, merge_valley, clear, saturated_rows)
    spans = _followed(
        flat,
        merged,
        min_prominence=max(k_noise * noise, tiny),
        max_height_px=max_height_px,
        noise=noise,
        glow_rows=saturated_rows if trim_glow else None,
    )
    return _candidates(flat, spans, noise, y_offset_px)


def flattened_profile(profile: np.ndarray, background_window_px: int | None) -> tuple[np.ndarray, int]:
    """The smoothed profile minus its slow background (a grey opening), and the opening's window.

    The opening is longer than any band, so a band's extent is measured from its local floor, not from
    a distant blotch: 70 % of the profile (at least 15 rows), or ``background_window_px`` when shorter.
    The window is odd: with an even one the minimum and maximum filters are centred one row apart, and
    the opening lags a step (a membrane edge) by a row, which reads as a peak on the step.
    """
    smooth = ndi.gaussian_filter1d(profile, 1.0)
    size = min(profile.size, max(BACKGROUND_WINDOW_MIN_ROWS, int(BACKGROUND_WINDOW_MAX_FRACTION * profile.size)))
    if background_window_px is not None:
        size = min(size, max(BACKGROUND_WINDOW_MIN_ROWS, int(background_window_px)))
    size = size - 1 if size % 2 == 0 else size
    base = ndi.maximum_filter1d(ndi.minimum_filter1d(smooth, size, mode="nearest"), size, mode="nearest")
    return smooth - base, size


@dataclass
class _Peaks:
    """Peaks of a flattened profile, top to bottom: rows, prominences, 97 %-height crossings."""

    idx: np.ndarray
    prominence: np.ndarray
    left: np.ndarray
    right: np.ndarray


def _grouped(
    flat: np.ndarray,
    peaks: _Peaks,
    merge_valley: float,
    clear_dip: float = np.inf,
    saturated_rows: np.ndarray | None = None,
) -> list[list[float]]:
    """Neighbouring peaks grouped into bands: ``[top, bottom, prominence, top limit, bottom limit]`` each.

    Two peaks stay one band (a smear's bumps) when the valley between them stays above
    ``merge_valley`` x the lower peak, unless the dip is clear (:func:`_clear_dip` with ``clear_dip``, the
    least rise over the valley; ``inf``: never) and neither peak lies on a row of ``saturated_rows``; a deep
    valley or a clear dip separates two bands (a ladder) and becomes a hard limit. A much weaker peak (< 25 %
    of the band) never stretches a band: it is dropped.
    """
    idx, prom, left, right = peaks.idx, peaks.prominence, peaks.left, peaks.right
    heights = flat[idx]
    groups: list[list[int]] = [[0]]
    limits: list[int] = [0]
    for i in range(1, idx.size):
        j = groups[-1][-1]
        vpos = int(idx[j] + np.argmin(flat[idx[j] : idx[i] + 1]))
        high = flat[vpos] >= merge_valley * min(heights[j], heights[i])
        clipped = saturated_rows is not None and bool(saturated_rows[idx[j]] or saturated_rows[idx[i]])
        if high and (clipped or not _clear_dip(heights[j], heights[i], float(flat[vpos]), clear_dip)):
            groups[-1].append(i)
        else:
            groups.append([i])
            limits.append(vpos)
    limits.append(flat.size)
    merged: list[list[float]] = []
    for g, members in enumerate(groups):
        top = max(prom[m] for m in members)
        keep = [m for m in members if prom[m] >= MERGED_MEMBER_PROMINENCE_FRACTION * top]
        a = max(limits[g], int(np.floor(min(left[m] for m in keep))))
        b = min(limits[g + 1] + 1, int(np.ceil(max(right[m] for m in keep))) + 1)
        merged.append([a, b, float(top), limits[g], limits[g + 1] + 1])
    return merged


def _clear_dip(first: float, second: float, valley: float, least_rise: float) -> bool:
    """Whether the valley between two maxima (heights ``first``, ``second``; ``valley``, the lowest row between
    them) parts two bands: both rise at least ``least_rise`` above it, and the weaker rises at least
    :data:`MERGED_MEMBER_PROMINENCE_FRACTION` as far as the stronger (a much weaker bump on a band's flank, its
    glow or a shoulder, stays part of it)."""
    low, high = sorted((first - valley, second - valley))
    return low >= least_rise and low >= MERGED_MEMBER_PROMINENCE_FRACTION * high


def _followed(
    flat: np.ndarray,
    merged: list[list[float]],
    *,
    min_prominence: float,
    max_height_px: int | None,
    noise: float = np.inf,
    glow_rows: np.ndarray | None = None,
) -> list[tuple[int, int, float, float, int, int]]:
    """Bands prominent enough, their tails followed down to the floor: ``[top, bottom, prominence, height, glow top,
    glow bottom]`` (the glow rows: the band's rows before its knees were trimmed).

    A smear's faint edges are followed at most half the band's height again, never past a hard limit;
    a band taller than ``max_height_px`` (a plateau) is dropped. A band holding a row of ``glow_rows`` (saturated
    rows) then ends at the knees of its flanks (:func:`_knee_trimmed`, a band ``noise`` profile-noise SD).
    """
    walk = ndi.gaussian_filter1d(flat, 2.0)
    spans: list[tuple[int, int, float, float, int, int]] = []
    for a, b, p, lim_a, lim_b in merged:
        if p < min_prominence:
            continue
        a, b = max(0, int(a)), min(flat.size, int(b))
        extra = max(2, (b - a) // 2)
        a_stop, b_stop = max(0, lim_a, a - extra), min(flat.size, lim_b, b + extra)
        while a > a_stop and walk[a - 1] < walk[a]:
            a -= 1
        while b < b_stop and walk[b] < walk[b - 1]:
            b += 1
        a, b = max(0, a - 1), min(flat.size, b + 1)
        if max_height_px is not None and b - a > max_height_px:
            continue
        ga, gb = a, b
        if glow_rows is not None and bool(np.any(glow_rows[a:b])):
            a, b = _knee_trimmed(walk, a, b, noise)
        spans.append((a, b, float(p), float(flat[a:b].max()), ga, gb))
    return spans


def _knee_trimmed(walk: np.ndarray, a: int, b: int, noise: float) -> tuple[int, int]:
    """Rows ``a:b`` of a band on the smoothed flattened profile ``walk``, without the slow tail (a glow) beyond its
    knees.

    Only a band whose crest (its height over the lowest row of ``a:b``) stands :data:`KNEE_MIN_NOISE_SDS` profile-noise
    SDs (``noise``) is trimmed: a fainter tail's shape is lost in the noise. Each side's flank runs from the band's
    outermost row over :data:`KNEE_SHOULDER_FRACTION` of the crest to its outermost over :data:`KNEE_BODY_FRACTION`;
    past that, the side ends at the first row from which the profile falls by less than :data:`KNEE_RELATIVE_FALL`
    of its own height (over the lowest row) in the next :data:`KNEE_SPAN_FLANKS` flank lengths (at least
    :data:`KNEE_MIN_ROWS` rows), unless its tail falls under :data:`KNEE_TAIL_NOISE_SDS` noise SDs or
    :data:`KNEE_TAIL_FRACTION` of the crest before that (then the side keeps its rows). A Gaussian band's flank
    falls ever faster (past a quarter of its crest, by 85 % and more over a flank length), so its rows are kept;
    the glow around an over-exposed band falls slowly for a hundred rows, and stays out.
    """
    seg = walk[a:b]
    if not seg.size:
        return a, b
    low = float(seg.min())
    crest = float(seg.max()) - low
    if not crest >= KNEE_MIN_NOISE_SDS * noise or not crest > 0:
        return a, b
    body = a + np.flatnonzero(seg - low > KNEE_BODY_FRACTION * crest)
    shoulder = a + np.flatnonzero(seg - low > KNEE_SHOULDER_FRACTION * crest)
    # a tail this low holds little of the band, and its shape is the noise's or the rounding's: it stays
    floor = max(KNEE_TAIL_NOISE_SDS * noise, KNEE_TAIL_FRACTION * crest)

    def knee(start: int, stop: int, step: int, span: int) -> int | None:
        """The first row from ``start`` (towards ``stop``, by ``step``) where the profile falls slowly, or None."""
        for j in range(start, stop, step):
            height = walk[j] - low
            if height < floor:
                return None
            if walk[j] - walk[int(np.clip(j + step * span, 0, walk.size - 1))] < KNEE_RELATIVE_FALL * height:
                return j
        return None

    def span(flank: int) -> int:
        return max(KNEE_MIN_ROWS, int(round(KNEE_SPAN_FLANKS * flank)))

    down = knee(int(body[-1]) + 1, b, 1, span(int(body[-1] - shoulder[-1])))
    up = knee(int(body[0]) - 1, a - 1, -1, span(int(shoulder[0] - body[0])))
    return (a if up is None else up), (b if down is None else down + 1)


def _candidates(
    flat: np.ndarray, spans: list[tuple[int, int, float, float, int, int]], noise: float, y_offset_px: int
) -> list[BandCandidate]:
    """Band candidates of the spans, with the run of touching bands each belongs to.

    Touching bands (the valley between them never returns to the floor) form a cluster; their
    background is read outside the cluster, not on a neighbour.
    """
    clusters: list[list[int]] = []
    for i, (a, _b, _p, h, _ga, _gb) in enumerate(spans):
        if clusters:
            pa, pb, _, ph, _, _ = spans[clusters[-1][-1]]
            gap = flat[pb - 1 : a + 1] if a + 1 > pb - 1 else flat[a:pb]
            valley = float(gap.min()) if gap.size else 0.0
            if a <= pb + 1 and valley > max(CLUSTER_VALLEY_FRACTION * min(h, ph), CLUSTER_VALLEY_NOISE_SDS * noise):
                clusters[-1].append(i)
                continue
        clusters.append([i])
    out = []
    for members in clusters:
        ca, cb = spans[members[0]][0], spans[members[-1]][1]
        for i in members:
            a, b, p, _, ga, gb = spans[i]
            seg = flat[a:b] - flat[a:b].min()
            y = float((np.arange(a, b) * seg).sum() / seg.sum()) if seg.sum() > 0 else (a + b - 1) / 2
            ha, hb = _core(seg)
            out.append(
                BandCandidate(
                    a + y_offset_px,
                    b + y_offset_px,
                    y + y_offset_px,
                    p,
                    ca + y_offset_px,
                    cb + y_offset_px,
                    noise,
                    a + ha + y_offset_px,
                    a + hb + y_offset_px,
                    ga + y_offset_px,
                    gb + y_offset_px,
                )
            )
    return out


def _core(seg: np.ndarray) -> tuple[int, int]:
    """First row and one past the last of the run around ``seg``'s highest row that stays above half its maximum
    (``seg`` is a band's rows less their lowest)."""
    r = int(np.argmax(seg))
    above = seg > seg[r] / 2
    a, b = r, r + 1
    while a > 0 and above[a - 1]:
        a -= 1
    while b < seg.size and above[b]:
        b += 1
    return a, b


def band_rows(
    lanes: Sequence[Lane],
    candidates: Sequence[Sequence[BandCandidate]],
    *,
    min_relative_prominence: float = MIN_RELATIVE_PROMINENCE,
    smear: bool = False,
    beside: Sequence[tuple[np.ndarray, list[np.ndarray] | None]] | None = None,
    dropped: list[dict] | None = None,
) -> list[list[BandWindow]]:
    """Group bands of the lanes of one strip into band rows, and place a window in every lane.

    Parameters
    ----------
    lanes : sequence of Lane
        Lanes of one strip, left to right.
    candidates : sequence of list of BandCandidate
        Bands detected in each lane (same order).
    min_relative_prominence : float
        Band rows whose strongest band is weaker than this fraction of the
        strip's strongest band are dropped (blotches, faint cross-reactions),
        unless it stands :data:`FAINT_ROW_BUMP_FACTOR` times above the strip's
        bare-membrane bumps or recurs across the lanes on one smooth curve
        (:func:`_rows_kept`).
    smear : bool
        The strip's marker runs as a smear (CD63): a lane's window reaches no further from its band's centre than
        :data:`SMEAR_REACH_FACTOR` times the row's median reach (:func:`_smear_reach`).
    beside : sequence of (ndarray, list of ndarray or None), optional
        Per lane, its own profile and the unsmoothed profiles of the strips beside it (lane rows): a faint row
        kept because it recurs must also stay in its lanes (:data:`FAINT_ROW_MAX_GAP_SHARE`). Without them a
        recurring faint row is never kept.
    dropped : list of dict, optional
        Band rows left out under the relative bar that stand :data:`FAINT_ROW_TELL_NOISE_SDS` profile-noise SDs,
        with members of band-like height (:func:`_tall_limit`), in at least :data:`FAINT_ROW_MIN_LANES` lanes are
        appended here (``strip``; ``lanes``: the lanes' numbers;
        ``y_top_px``, ``y_bottom_px``: rows; ``noise_sds``: the members' prominences in noise SDs; ``fraction``:
        the relative bar), so that the caller can name them.

    Returns
    -------
    list of list of BandWindow
        One list per band row (top to bottom), one window per lane.
    """
    items = [(c.prominence, li, c) for li, cands in enumerate(candidates) for c in cands]
    if not items:
        return []
    items.sort(key=lambda t: -t[0])
    groups: list[dict[int, BandCandidate]] = []
    for _, li, c in items:
        best, best_overlap = None, 0.0
        for g in groups:
            if li in g:
                continue
            top = np.median([m.y_top_px for m in g.values()])
            bottom = np.median([m.y_bottom_px for m in g.values()])
            overlap = min(bottom, c.y_bottom_px) - max(top, c.y_top_px)
            frac = overlap / max(1.0, min(bottom - top, c.y_bottom_px - c.y_top_px))
            # same band in another lane: overlapping, of similar height, centred near the row
            similar = 0.5 <= (c.y_bottom_px - c.y_top_px) / max(1.0, bottom - top) <= 2.0
            centred = abs((c.y_top_px + c.y_bottom_px) / 2 - (top + bottom) / 2) <= 0.5 * (bottom - top) + 2
            if frac > 0.5 and similar and centred and frac > best_overlap:
                best, best_overlap = g, frac
        if best is None:
            groups.append({li: c})
        else:
            best[li] = c
    xs = np.array([lane.x_centre_px for lane in lanes])
    kept = _rows_kept(groups, min_relative_prominence, xs, lanes, beside)
    if dropped is not None:
        left_out = [g for g in groups if not any(g is k for k in kept)]
        peaks = [max(m.prominence for m in g.values()) for g in groups]
        tall = _tall_limit(groups, peaks, min_relative_prominence * max(peaks))
        dropped.extend(_standing_rows(left_out, min_relative_prominence, lanes, tall, max(peaks)))
    groups = kept
    groups.sort(key=lambda g: np.median([m.y_px for m in g.values()]))
    if smear:
        groups = [_smear_reach(g) for g in groups]
    rows = []
    for number, g in enumerate(groups, start=1):
        mids = {li: (m.y_top_px + m.y_bottom_px) / 2 for li, m in g.items()}
        # the strong members define the window height (faint bands have noisy extents)
        peak = max(m.prominence for m in g.values())
        strong = {li: m for li, m in g.items() if m.prominence >= WINDOW_MEMBER_PROMINENCE_FRACTION * peak}
        rel_top = min(m.y_top_px - mids[li] for li, m in strong.items())
        rel_bottom = max(m.y_bottom_px - mids[li] for li, m in strong.items())
        rel_ctop = min(rel_top, min(m.cluster_top_px - mids[li] for li, m in strong.items()))
        rel_cbottom = max(rel_bottom, max(m.cluster_bottom_px - mids[li] for li, m in strong.items()))
        rel_glow = _relative_glow(strong, mids)
        # the lanes that surely hold the band: the strong members, and faint ones far above their noise
        anchors = {li: m for li, m in g.items() if li in strong or m.prominence >= ROW_ANCHOR_NOISE_SDS * m.noise_sd}
        cores = {} if smear else _faint_cores(g, strong, xs, lanes, beside)
        windows = []
        for li, lane in enumerate(lanes):
            glow = (-1, -1)
            if li in cores:
                top, bottom = cores[li]
                ctop, cbottom = top, bottom
            elif li in strong:
                # a clear band keeps its own extent, so its window never depends on the other lanes
                # (editing a neighbour lane must not change this lane's numbers)
                m = strong[li]
                top, bottom = m.y_top_px, m.y_bottom_px
                ctop, cbottom = min(m.cluster_top_px, top), max(m.cluster_bottom_px, bottom)
                glow = (m.glow_top_px, m.glow_bottom_px)
            else:
                # an empty lane is measured where the lanes holding the band put the row, never at a faint
                # candidate of its own (noise, on an empty lane)
                mid = mids[li] if li in anchors else _row_mid(xs, li, anchors, mids)
                top = int(np.floor(mid + rel_top))
                bottom = int(np.ceil(mid + rel_bottom))
                ctop, cbottom = int(np.floor(mid + rel_ctop)), int(np.ceil(mid + rel_cbottom))
                glow = (int(np.floor(mid + rel_glow[0])), int(np.ceil(mid + rel_glow[1])))
            top = int(np.clip(top, lane.y_top_px, lane.y_bottom_px - 1))
            bottom = int(np.clip(bottom, top + 1, lane.y_bottom_px))
            ctop = int(np.clip(ctop, lane.y_top_px, top))
            cbottom = int(np.clip(cbottom, bottom, lane.y_bottom_px))
            prominence = g[li].prominence if li in g else 0.0
            busy = (max(glow[0], lane.y_top_px), min(glow[1], lane.y_bottom_px)) if glow[0] >= 0 else (-1, -1)
            windows.append(BandWindow(lane, number, top, bottom, li in g, "", ctop, cbottom, prominence, *busy))
        rows.append(windows)
    return rows


def _relative_glow(strong: dict[int, BandCandidate], mids: dict[int, float]) -> tuple[float, float]:
    """Rows of the band row's strong members with their glow (:attr:`BandCandidate.glow_top_px`; their clusters
    where unknown), from each member's centre ``mids``: the widest reach up and down."""
    tops = [(m.glow_top_px if m.glow_top_px >= 0 else m.cluster_top_px) - mids[li] for li, m in strong.items()]
    bottoms = [
        (m.glow_bottom_px if m.glow_bottom_px >= 0 else m.cluster_bottom_px) - mids[li] for li, m in strong.items()
    ]
    return min(tops), max(bottoms)


def _faint_cores(
    group: dict[int, BandCandidate],
    strong: dict[int, BandCandidate],
    xs: np.ndarray,
    lanes: Sequence[Lane],
    beside: Sequence[tuple[np.ndarray, list[np.ndarray] | None]] | None,
) -> dict[int, tuple[int, int]]:
    """Windows ``{lane index: (top, bottom)}`` (rows) of the faint members of a band row that carry the row.

    When the row's members under its strong ones (``strong``) recur across the lanes (:func:`_recurs`), outnumber
    them, and the strong ones all lie in lanes beyond either end of the faint ones' lanes (a faint band in the
    sample lanes at the row of the broad marks of ladders beside them), each is measured in a window of
    :data:`FAINT_CORE_WINDOW_HALF_HEIGHTS` times the faint members' median half-height width, centred on its own
    core (:attr:`BandCandidate.core_top_px`), not in the strong members' height: a ladder mark's or a saturated
    band's feet reach far past a faint band, and on the tail of a band above the straight background under so tall a
    window lies over the faint band. Under a majority of strong members (a dilution's tail), or beside a strong
    member among them (one saturated lane of a smear row, whose weaker lanes' feet reach as far), the faint ones
    keep the strong height, as they do when the faint members do not fall off beside their lanes
    (:func:`_in_lanes`: a crease of the membrane at a reference lane's band row). Empty otherwise.
    """
    faint = {li: m for li, m in group.items() if li not in strong and m.core_top_px >= 0}
    if len(faint) <= len(strong) or len(faint) < FAINT_ROW_MIN_LANES or not _recurs(faint, xs, np.inf, 0.0):
        return {}
    if not _in_lanes(faint, lanes, beside):  # a crease through the gaps at a band's row is no faint band
        return {}
    if any(min(faint) < li < max(faint) for li in strong):
        return {}
    core = float(np.median([m.core_bottom_px - m.core_top_px for m in faint.values()]))
    half = FAINT_CORE_WINDOW_HALF_HEIGHTS * core / 2
    mids = {li: (m.core_top_px + m.core_bottom_px) / 2 for li, m in faint.items()}
    return {li: (int(np.floor(c - half)), int(np.ceil(c + half))) for li, c in mids.items()}


def _smear_reach(group: dict[int, BandCandidate]) -> dict[int, BandCandidate]:
    """A smear marker's band row (lane index -> candidate) with each member's extent cut to at most
    :data:`SMEAR_REACH_FACTOR` times the row's median reach above and below its centre (``y_px``), the median over
    the strong members (:data:`WINDOW_MEMBER_PROMINENCE_FRACTION` of the row's strongest); unchanged with fewer than
    :data:`SMEAR_REACH_MIN_LANES` of them. A member's cluster bounds that were its own extent follow the cut."""
    peak = max(m.prominence for m in group.values())
    strong = [m for m in group.values() if m.prominence >= WINDOW_MEMBER_PROMINENCE_FRACTION * peak]
    if len(strong) < SMEAR_REACH_MIN_LANES:
        return group
    up = float(np.median([m.y_px - m.y_top_px for m in strong]))
    down = float(np.median([m.y_bottom_px - m.y_px for m in strong]))
    out = {}
    for li, m in group.items():
        top = max(m.y_top_px, int(np.floor(m.y_px - SMEAR_REACH_FACTOR * up)))
        bottom = min(m.y_bottom_px, int(np.ceil(m.y_px + SMEAR_REACH_FACTOR * down)))
        ctop = top if m.cluster_top_px >= m.y_top_px else m.cluster_top_px
        cbottom = bottom if 0 <= m.cluster_bottom_px <= m.y_bottom_px else m.cluster_bottom_px
        out[li] = replace(m, y_top_px=top, y_bottom_px=bottom, cluster_top_px=ctop, cluster_bottom_px=cbottom)
    return out


def _rows_kept(
    groups: list[dict[int, BandCandidate]],
    min_relative_prominence: float,
    xs: np.ndarray,
    lanes: Sequence[Lane],
    beside: Sequence[tuple[np.ndarray, list[np.ndarray] | None]] | None,
) -> list[dict[int, BandCandidate]]:
    """The band rows ``groups`` (lane index -> candidate) kept by :func:`band_rows`.

    A row is kept when its strongest member reaches ``min_relative_prominence`` of the strip's strongest band,
    or when it stands :data:`FAINT_ROW_BUMP_FACTOR` times above the strip's bare-membrane bumps (the median
    prominence of the members of the rows under that bar, at least :data:`FAINT_ROW_MIN_BUMPS` of them), reaches
    :data:`FAINT_ROW_MIN_BAR_FRACTION` of the bar, and each of its members touches no other band of its lane: a
    faint band that shows in one lane only (a second band of the one loaded lane) is no bump of the membrane.
    A row under the bar that recurs across the lanes (:func:`_recurs`; lane centres ``xs``, px; members at most
    :data:`FAINT_ROW_MAX_HEIGHTS` times as tall as the median member of the rows over the bar) is kept too: a
    faint band run in several lanes under much stronger ones, when it stays in its lanes (:func:`_in_lanes`).
    """
    peaks = [max(m.prominence for m in g.values()) for g in groups]
    bar = min_relative_prominence * max(peaks)
    low = [m.prominence for g, p in zip(groups, peaks, strict=True) if p < bar for m in g.values()]
    bumps = float(np.median(low)) if len(low) >= FAINT_ROW_MIN_BUMPS else np.inf
    floor = max(FAINT_ROW_BUMP_FACTOR * bumps, FAINT_ROW_MIN_BAR_FRACTION * bar)
    tall = _tall_limit(groups, peaks, bar)
    kept = []
    for i, (g, p) in enumerate(zip(groups, peaks, strict=True)):
        if p >= bar or (p >= floor and _alone(g)):
            kept.append(g)
            continue
        others = [
            m.prominence
            for j, (h, q) in enumerate(zip(groups, peaks, strict=True))
            if q < bar and j != i
            for m in h.values()
        ]
        bump = float(np.median(others)) if len(others) >= FAINT_ROW_MIN_BUMPS else 0.0
        if _recurs(g, xs, tall, FAINT_ROW_RECUR_BUMP_FACTOR * bump) and _in_lanes(g, lanes, beside):
            kept.append(g)
    return kept


def _tall_limit(groups: list[dict[int, BandCandidate]], peaks: list[float], bar: float) -> float:
    """The tallest member (rows) a faint band row may have: :data:`FAINT_ROW_MAX_HEIGHTS` times the median height of
    the members of the rows ``groups`` whose strongest member (``peaks``) reaches the relative ``bar``."""
    heights = [m.y_bottom_px - m.y_top_px for g, p in zip(groups, peaks, strict=True) if p >= bar for m in g.values()]
    return FAINT_ROW_MAX_HEIGHTS * float(np.median(heights))


def _standing_rows(
    groups: list[dict[int, BandCandidate]], fraction: float, lanes: Sequence[Lane], tall: float, strongest: float
) -> list[dict]:
    """The dropped band rows ``groups`` (lane index -> candidate) whose members stand at least
    :data:`FAINT_ROW_TELL_NOISE_SDS` profile-noise SDs and are at most ``tall`` rows tall (band-like: see
    :func:`_tall_limit`; a recurring blotch of the membrane is several times taller) in at least
    :data:`FAINT_ROW_MIN_LANES` lanes (see :func:`band_rows`, ``dropped``). Each record also holds the row's
    strongest member as a share of ``strongest``, the strip's strongest band's prominence (``relative``)."""
    out = []
    for g in groups:
        standing = {
            li: m.prominence / m.noise_sd
            for li, m in g.items()
            if m.noise_sd > 0 and m.y_bottom_px - m.y_top_px <= tall
        }
        standing = {li: sd for li, sd in standing.items() if sd >= FAINT_ROW_TELL_NOISE_SDS}
        if len(standing) < FAINT_ROW_MIN_LANES:
            continue
        out.append(
            dict(
                strip=lanes[0].strip,
                lanes=[lanes[li].index for li in sorted(standing)],
                y_top_px=min(g[li].y_top_px for li in standing),
                y_bottom_px=max(g[li].y_bottom_px for li in standing),
                noise_sds=[standing[li] for li in sorted(standing)],
                fraction=fraction,
                relative=max(m.prominence for m in g.values()) / strongest,
            )
        )
    return out


def faint_row_warnings(rows: Sequence[dict]) -> list[str]:
    """One warning per band row left out under the relative bar that stands clear of the noise in several lanes.

    ``rows`` are the records :func:`band_rows` appends to ``dropped`` (with ``strip`` and the lanes' numbers). The
    bar each suggests reports the row: :data:`LOW_RELATIVE_BAND`, or for a row fainter than that the power of ten
    at or under its share of the strip's strongest band.
    """
    out = []
    for r in rows:
        sds = r["noise_sds"]
        relative = r["relative"]
        # under the usual bar: the power of ten at or under the row's share
        bar = LOW_RELATIVE_BAND if relative >= LOW_RELATIVE_BAND else _power_of_ten_under(relative)
        out.append(
            f"strip {r['strip']}: a faint band row at rows {r['y_top_px']}-{r['y_bottom_px']} (lanes "
            f"{', '.join(map(str, r['lanes']))}; {min(sds):.0f}-{max(sds):.0f} profile-noise SDs) was not reported "
            f"because it is under {_percent(r['fraction'])} of the strip's strongest band (it reaches "
            f"{_percent(relative)}); if it is a band, rerun with --min-relative-band {bar:g} ('min relative band' "
            "in the napari dock, min_relative_prominence in Python) or ask for the marker at that position"
        )
    return out


def _power_of_ten_under(value: float) -> float:
    """The largest power of ten at or under ``value`` (> 0): 0.0032 -> 0.001."""
    return float(f"1e{int(np.floor(np.log10(value)))}")


def _percent(share: float) -> str:
    """``share`` (a fraction) as a percentage with two significant digits: 0.04 -> "4%", 0.0007 -> "0.07%"."""
    return f"{100.0 * share:.2g}%"


def _recurs(group: dict[int, BandCandidate], xs: np.ndarray, tall: float, bump: float) -> bool:
    """Whether a band row (lane index -> candidate) runs across the lanes: members at most ``tall`` rows tall that
    touch no other band of their lane (pieces of a band beside them recur too) in at least
    :data:`FAINT_ROW_MIN_LANES` lanes, their median prominence over ``bump`` (intensity per pixel) and
    :data:`FAINT_ROW_MIN_NOISE_SDS` profile-noise SDs (where the noise is known), their centres
    (px) within :data:`FAINT_ROW_MAX_OFF_CURVE` of their median height of a smooth curve over the lane centres ``xs``
    (px): a straight line through three, a parabola through more."""
    lanes = sorted(li for li, m in group.items() if _alone({li: m}) and m.y_bottom_px - m.y_top_px <= tall)
    if len(lanes) < FAINT_ROW_MIN_LANES or np.median([group[li].prominence for li in lanes]) <= bump:
        return False
    sds = [group[li].prominence / group[li].noise_sd for li in lanes if group[li].noise_sd > 0]
    if sds and np.median(sds) < FAINT_ROW_MIN_NOISE_SDS:
        return False
    x = xs[lanes]
    mids = np.array([(group[li].y_top_px + group[li].y_bottom_px) / 2 for li in lanes])
    height = float(np.median([group[li].y_bottom_px - group[li].y_top_px for li in lanes]))
    coef = np.polyfit(x, mids, 1 if len(lanes) == FAINT_ROW_MIN_LANES else 2)
    return bool(np.abs(mids - np.polyval(coef, x)).max() <= FAINT_ROW_MAX_OFF_CURVE * height)


def _in_lanes(
    group: dict[int, BandCandidate],
    lanes: Sequence[Lane],
    beside: Sequence[tuple[np.ndarray, list[np.ndarray] | None]] | None,
) -> bool:
    """Whether a band row (lane index -> candidate) falls off beside its lanes: the median over its members of the
    side strips' mean rise over the lane's own rise (:func:`_rise`) is at most :data:`FAINT_ROW_MAX_GAP_SHARE`.
    False when ``beside`` is not given or no member has a side strip and a rise of its own."""
    if beside is None:
        return False
    shares = []
    for li, m in group.items():
        own, sides = beside[li]
        a, b = m.y_top_px - lanes[li].y_top_px, m.y_bottom_px - lanes[li].y_top_px
        lane_rise = _rise(own, a, b)
        if not sides or not lane_rise > 0:
            continue
        shares.append(float(np.mean([_rise(side, a, b) for side in sides])) / lane_rise)
    return bool(shares) and float(np.median(shares)) <= FAINT_ROW_MAX_GAP_SHARE


def _rise(profile: np.ndarray, a: int, b: int) -> float:
    """Mean of ``profile`` over rows ``a:b`` less the mean of the rows just outside them (half the height on
    each side, at least :data:`FAINT_ROW_FEET_MIN_ROWS`); NaN without rows outside."""
    pad = max(FAINT_ROW_FEET_MIN_ROWS, (b - a) // 2)
    feet = np.concatenate([profile[max(0, a - pad) : max(0, a)], profile[b : b + pad]])
    inside = profile[max(0, a) : b]
    if feet.size == 0 or inside.size == 0:
        return float("nan")
    return float(inside.mean() - feet.mean())


def _alone(group: dict[int, BandCandidate]) -> bool:
    """Whether every member of a band row touches no other band of its lane (its cluster is itself)."""
    return all(
        (m.cluster_top_px < 0 or m.cluster_top_px >= m.y_top_px)
        and (m.cluster_bottom_px < 0 or m.cluster_bottom_px <= m.y_bottom_px)
        for m in group.values()
    )


def _row_mid(xs: np.ndarray, li: int, anchors: dict[int, BandCandidate], mids: dict[int, float]) -> float:
    """Centre row (px) of a band row's window in lane ``li``, which holds no band the row can follow.

    The row follows the ``anchors`` only (the members that surely hold the band; a faint candidate may be
    noise, and its rows say nothing of where the band runs): a fit of their centres ``mids`` (px) over the
    lane centres ``xs`` (px), straight for two lanes and quadratic for more, read at the lane's centre
    clipped to the anchors' range: a lane beyond the first or last anchor holds the fit's row there (a fit
    is never extrapolated). With one anchor, its row is held across the strip.
    """
    known = np.array(sorted(anchors), dtype=int)
    if known.size == 1:
        return mids[int(known[0])]
    ends = xs[known]
    coef = np.polyfit(ends, [mids[i] for i in known], min(2, known.size - 1))
    # rounded to a millionth of a pixel: a line held at its end row must not gain a row from rounding error
    return round(float(np.polyval(coef, np.clip(xs[li], ends.min(), ends.max()))), ROW_MID_DECIMALS)


def fixed_windows(lanes: Sequence[Lane], windows_px: dict[str, tuple[int, int]]) -> list[list[BandWindow]]:
    """Band rows from explicit windows (e.g. molecular-weight windows from a ladder).

    Parameters
    ----------
    lanes : sequence of Lane
        Lanes of one strip.
    windows_px : dict of str to (int, int)
        Marker name -> (first row, one past last row) in image coordinates.

    Returns
    -------
    list of list of BandWindow
        One band row per window, top to bottom.
    """
    rows = []
    ordered = sorted(windows_px.items(), key=lambda kv: kv[1][0])
    for number, (name, (top, bottom)) in enumerate(ordered, start=1):
        if not bottom > top:
            raise ValueError(f"window for {name!r} ({top}, {bottom}) must have top < bottom (rows, px)")
        row = []
        for lane in lanes:
            t = int(np.clip(top, lane.y_top_px, lane.y_bottom_px - 1))
            b = int(np.clip(bottom, t + 1, lane.y_bottom_px))
            row.append(BandWindow(lane, number, t, b, False, name))
        rows.append(row)
    return rows
