"""Lane peaks: strong lanes in the column profile, faint lanes on the strong lanes' band rows, the pitch.

Strong lanes are peaks of the column profile (maximum over rows); their median full width at half
height is the lane width and their spacing the pitch. The band rows of the strong lanes give a second,
more sensitive profile that shows faint lanes; a faint lane is kept where it lies on the pitch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.robust import mad_sd
from exo_vision.blot.constants import ON_GRID_TOLERANCE_PITCHES, SAME_LANE_PITCHES
from exo_vision.blot.lanes.profile import StripTophat, column_profile, profile_noise
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters

#: The pitch is the median of the spacings up to this many times the smallest (spacings of two or more
#: pitches, over blank lanes, are left out).
PITCH_SPACING_SPREAD = 1.6
#: The top-hat's pixel noise is read on a subsample of about this many rows ...
NOISE_SAMPLE_ROWS = 64
#: ... and this many columns.
NOISE_SAMPLE_COLUMNS = 256
#: The band rows are read on the central 2/BAND_ROW_COLUMNS_DIVISOR of each strong lane (its middle half).
BAND_ROW_COLUMNS_DIVISOR = 4
#: A row is a band row when the strong lanes' mean there reaches this fraction of its maximum ...
BAND_ROW_FRACTION = 0.1
#: ... widened by this many rows each way (a faint lane's band may sit a little off a strong lane's).
BAND_ROW_REACH_ROWS = 10
#: The floor of an 8-bit faint top-hat is read only when at least this many more rows are free of bands
#: than hold them (one block above and one below).
MIN_EXTRA_FREE_ROWS = 3
#: Fewer band rows than this: no faint lane is looked for.
MIN_BAND_ROWS = 3
#: The 8-bit floor (tallest bump without bands) is about this many noise SDs.
FLOOR_TO_NOISE = 6.0
#: A faint 8-bit peak replaces a strong lane's measure only while at most this many times as wide.
MAX_FAINT_WIDTH_LANES = 3.0
#: A clear faint peak is this wide, in strong-lane widths (within 30-40 %) ...
CLEAR_WIDTH_RANGE_LANES = (0.7, 1.4)
#: ... and at least this many noise SDs high.
CLEAR_PEAK_NOISE_SDS = 10.0
#: Clear faint peaks give a finer pitch only when it is below this fraction of the strong lanes' pitch.
FINER_PITCH_FRACTION = 0.75
#: With one strong lane (no pitch), a clear faint lane is kept at least this many lane widths away.
LONE_LANE_MIN_DISTANCE_WIDTHS = 1.2


@dataclass
class LanePeak:
    """A lane in a column profile: centre (column), full width at half height, prominence."""

    x: float
    width: float
    prominence: float


@dataclass
class StrongLanes:
    """The strong lanes of a strip and what they set.

    Attributes
    ----------
    peaks : list of LanePeak
        Strong lanes, left to right.
    width : float
        Lane width (median of the strong lanes' widths), top-hat pixels.
    profile : (C,) ndarray
        Column profile (maximum over rows).
    noise : float
        Noise of that profile.
    """

    peaks: list[LanePeak]
    width: float
    profile: np.ndarray
    noise: float


def detect_peaks(
    profile: np.ndarray, *, min_width_px: float, k_noise: float, noise: float | None = None
) -> list[LanePeak]:
    """Peaks of a column profile at least ``k_noise`` noise SDs high and ``min_width_px / 2`` wide.

    The centre is midway between the half-prominence crossings (a flat-topped lane's maximum can sit
    anywhere on its plateau); of two maxima on one lane's plateau (the centre of one inside the other's
    half-height span) the stronger is kept.
    """
    from scipy.signal import find_peaks, peak_widths  # slow to import: keep `exo-vision --help` fast

    smooth = ndi.gaussian_filter1d(profile, 1.0)
    noise = profile_noise(profile) if noise is None else noise
    idx, props = find_peaks(smooth, prominence=k_noise * noise, width=min_width_px * 0.5)
    if idx.size == 0:
        return []
    widths, _, left, right = peak_widths(
        smooth, idx, rel_height=0.5, prominence_data=(props["prominences"], props["left_bases"], props["right_bases"])
    )
    kept: list[int] = []
    for i in np.argsort(-props["prominences"]):
        centre = (left[i] + right[i]) / 2
        if all(not (left[j] <= centre <= right[j]) for j in kept):
            kept.append(int(i))
    return [
        LanePeak(float((left[i] + right[i]) / 2), float(widths[i]), float(props["prominences"][i]))
        for i in sorted(kept)
    ]


def pitch_of(xs: np.ndarray) -> float | None:
    """Lane pitch: the median of the smallest spacings (within 1.6x the smallest) of centres ``xs``."""
    if xs.size < 2:
        return None
    d = np.diff(np.sort(xs))
    d = d[d > 1.0]  # the same lane seen twice is not a pitch
    if d.size == 0:
        return None
    small = d[d <= PITCH_SPACING_SPREAD * d.min()]
    return float(np.median(small))


def strong_lanes(top: StripTophat, params: BlotParameters = DEFAULT_BLOT_PARAMETERS) -> StrongLanes | None:
    """Strong lanes of a strip's top-hat (None when nothing lane-like is found).

    "Strong" lanes set the width and pitch. They are compared with the third strongest sizeable peak
    (``params.lane_sizeable_peak_fraction`` of the strongest, 2 % by default), not the strongest, so
    one or two saturated lanes do not make the rest "weak", while noise bumps never set the scale; a
    strong lane reaches ``params.strong_lane_prominence_fraction`` (10 %) of that reference.
    """
    prof = column_profile(top.th)
    # The noise of the maximum profile: column-to-column scatter of the top-hat before the mark
    # removal (which smooths), and never below the top-hat's pixel noise (a maximum over rows of
    # smoothed, quantised 8-bit noise can be smooth from column to column).
    th_raw = top.th_raw
    sample = th_raw[:: max(1, th_raw.shape[0] // NOISE_SAMPLE_ROWS), :: max(1, th_raw.shape[1] // NOISE_SAMPLE_COLUMNS)]
    pixel_sd = mad_sd(sample)
    noise = max(profile_noise(column_profile(th_raw)), pixel_sd)
    peaks = [
        p
        for p in detect_peaks(prof, min_width_px=top.min_lane_width, k_noise=params.lane_peak_noise_sds, noise=noise)
        if p.width >= top.min_lane_width
    ]
    if not peaks:
        return None
    proms = sorted((p.prominence for p in peaks), reverse=True)
    big = [v for v in proms if v >= params.lane_sizeable_peak_fraction * proms[0]]
    ref = big[min(2, len(big) - 1)]
    strong = [p for p in peaks if p.prominence >= params.strong_lane_prominence_fraction * ref]
    width = float(np.median([p.width for p in strong]))
    strong = [p for p in strong if p.width >= 0.5 * width]
    return StrongLanes(strong, width, prof, noise)


def _band_rows(top: StripTophat, strong: StrongLanes) -> np.ndarray:
    """Rows where the strong lanes carry bands (where faint lanes carry their signal too)."""
    cols = np.concatenate(
        [
            np.arange(int(p.x - p.width / BAND_ROW_COLUMNS_DIVISOR), int(p.x + p.width / BAND_ROW_COLUMNS_DIVISOR) + 1)
            for p in strong.peaks
        ]
    )
    cols = np.clip(cols, 0, top.th.shape[1] - 1)
    row_prof = top.th[:, cols].mean(axis=1)
    return ndi.binary_dilation(row_prof > BAND_ROW_FRACTION * row_prof.max(), iterations=BAND_ROW_REACH_ROWS)


def _quantised_faint_tophat(top: StripTophat, band_rows: np.ndarray) -> tuple[np.ndarray, float]:
    """The top-hat for faint lanes of an 8-bit export, and the floor a faint lane must rise above.

    A faint 8-bit band is a patchy scatter of one-level pixels, which the flat mark opening removes:
    only what the opening took away by more than a grey level (pen strokes, dots) is replaced. Where a
    smooth background crosses a grey level, rounding leaves a one-level plateau over all rows of some
    columns: each column stands on its own level in the rows without bands. The floor is the tallest
    bump the same profile shows over as many rows without bands (above, or below, the band rows);
    without such rows, half a grey level.
    """
    marks = ndi.binary_dilation(top.th_raw - top.th > 1.0, iterations=2)
    faint = np.where(marks, top.th, top.th_raw)
    n_band = int(band_rows.sum())
    free = np.flatnonzero(~band_rows)
    floor = 0.5
    if free.size >= n_band + MIN_EXTRA_FREE_ROWS:
        faint = faint - faint[free].mean(axis=0, dtype=np.float64)
        floor = max(float(column_profile(faint, rows).max()) for rows in (free[:n_band], free[-n_band:]))
    return faint, floor


def faint_lanes(
    top: StripTophat, strong: StrongLanes, params: BlotParameters = DEFAULT_BLOT_PARAMETERS
) -> tuple[list[LanePeak], float]:
    """Faint lane peaks on the strong lanes' band rows, and the noise of that profile.

    A faint lane lies on the membrane (a lane width about it fits inside the strip: a rise of the
    profile at the membrane's edge is no lane). In an 8-bit export the maximum over rows of a faint
    lane (or smear) shows only its few columns that reach the next grey level, while the mean over its
    band rows shows the whole lane: there the wider of the two measures of each strong lane gives its
    width and centre (``strong`` is updated in place).
    """
    band_rows = _band_rows(top, strong)
    if band_rows.sum() < MIN_BAND_ROWS:
        return [], strong.noise
    if not top.quantised:
        _drop_bare_strong(top, strong, band_rows, params.strong_lane_prominence_fraction)
    faint, floor = _quantised_faint_tophat(top, band_rows) if top.quantised else (top.th, 0.0)
    prof2 = column_profile(faint, band_rows)
    noise2 = profile_noise(column_profile(top.th_raw, band_rows))
    if top.quantised:
        noise2 = max(noise2, floor / FLOOR_TO_NOISE)
    found = detect_peaks(prof2, min_width_px=top.min_lane_width, k_noise=params.faint_lane_peak_noise_sds, noise=noise2)
    if top.quantised:
        both = [
            max((p, q), key=lambda r: r.width)
            for p in strong.peaks
            for q in found
            if abs(p.x - q.x) <= q.width / 2 and q.width <= MAX_FAINT_WIDTH_LANES * p.width
        ]
        if len(both) == len(strong.peaks):
            strong.peaks = both
            strong.width = float(np.median([p.width for p in both]))
    width, ncols = strong.width, top.th.shape[1]
    floor = 0.0 if top.quantised else membrane_floor(top.th, band_rows, strong.peaks)
    weak = [
        p
        for p in found
        if 0.5 * width <= p.width <= 2.0 * width
        and width / 2 <= p.x + 0.5 <= ncols - width / 2
        and p.prominence > floor
    ]
    return weak, noise2


def _drop_bare_strong(top: StripTophat, strong: StrongLanes, band_rows: np.ndarray, fraction: float) -> None:
    """Leave out of ``strong`` (in place) the weak peaks that show nothing at the band rows: membrane blotches.

    With one or two loaded lanes (calnexin in the lysate lane only), a smooth blotch off the band rows can be
    among the few sizeable peaks of the maximum profile and so count as a strong lane, and then set the pitch
    and the lane width. A peak under ``fraction`` of the strongest one whose band-row profile does not rise
    above the bare membrane's (:func:`membrane_floor`) is such a blotch; the lane width is then the median of
    the others.
    """
    if len(strong.peaks) < 2:
        return
    top_prominence = max(p.prominence for p in strong.peaks)
    prof = column_profile(top.th, band_rows)
    floor = membrane_floor(top.th, band_rows, strong.peaks)
    kept = [
        p
        for p in strong.peaks
        if p.prominence >= fraction * top_prominence or prof[int(np.clip(round(p.x), 0, prof.size - 1))] > floor
    ]
    if len(kept) < len(strong.peaks):
        strong.peaks = kept
        strong.width = float(np.median([p.width for p in kept]))


def membrane_floor(th: np.ndarray, band_rows: np.ndarray, peaks: list[LanePeak]) -> float:
    """The tallest bump the band-row profile shows on bare membrane: the same profile over as many band-free rows.

    A blotchy membrane (uneven blocking or wetting, smooth patches tens of pixels across) puts bumps in the
    column profile that the profile's column-to-column noise does not measure. The profile is taken over as
    many rows without bands (the block above the band rows and the block below; all band-free rows when fewer),
    as their median (a blotch covers most of such a block; a pen stroke a few rows thick across it does not),
    on the columns off the strong lanes (more than a lane width from each one's centre, so neither their bands
    nor their edges count): a faint lane is a band at the band rows and must rise above that. 0 when no such
    rows or columns remain.
    """
    free = np.flatnonzero(~band_rows)
    n_band = int(band_rows.sum())
    cols = np.arange(th.shape[1])
    off = np.ones(cols.size, bool)
    for p in peaks:
        off &= np.abs(cols - p.x) > p.width
    if free.size == 0 or not off.any():
        return 0.0
    blocks = (free[:n_band], free[-n_band:]) if free.size >= n_band else (free,)
    return max(float(column_profile(th, rows, median=True)[off].max()) for rows in blocks)


def _clear(p: LanePeak, width: float, noise: float) -> bool:
    """A lane-shaped faint peak: as wide as a strong lane (within 30-40 %) and 10 noise SDs high."""
    return (
        CLEAR_WIDTH_RANGE_LANES[0] * width <= p.width <= CLEAR_WIDTH_RANGE_LANES[1] * width
        and p.prominence >= CLEAR_PEAK_NOISE_SDS * noise
    )


def lanes_on_pitch(strong: StrongLanes, weak: list[LanePeak], noise2: float) -> tuple[list[float], float | None]:
    """Centres of the strong lanes and of the faint lanes that sit on their pitch; and the pitch.

    Two strong lanes several pitches apart give a multiple of the pitch: clear, lane-shaped faint peaks
    may show the true pitch, if the strong lanes sit on its grid. With a single strong lane there is no
    pitch to check a faint one against: only a clear peak as wide as the strong lane, at least a lane
    width away from it, is kept.
    """
    width = strong.width
    xs = [p.x for p in strong.peaks]
    pitch = pitch_of(np.array(xs))
    clear = [
        p.x for p in weak if _clear(p, width, noise2) and min(abs(p.x - x) for x in xs) >= SAME_LANE_PITCHES * width
    ]
    finer = pitch_of(np.array(xs + clear))
    if finer is not None and finer >= width and (pitch is None or finer < FINER_PITCH_FRACTION * pitch):
        steps = np.diff(sorted(xs)) / finer
        if np.all(np.abs(steps - np.round(steps)) <= ON_GRID_TOLERANCE_PITCHES):
            pitch = finer
    if pitch is not None:
        xs = sorted(x for p in strong.peaks for x in split_merged(p, pitch, width))
    for p in weak:
        near = min(abs(p.x - x) for x in xs)
        if near < SAME_LANE_PITCHES * (pitch or width):
            continue
        if pitch is not None:
            k = near / pitch
            if abs(k - round(k)) > ON_GRID_TOLERANCE_PITCHES:
                continue
        elif not (_clear(p, width, noise2) and near >= LONE_LANE_MIN_DISTANCE_WIDTHS * width):
            continue
        xs.append(p.x)
    xs = sorted(xs)
    return xs, pitch_of(np.array(xs)) or pitch


#: A strong peak is split into lanes on the pitch only when at least this many pitches wide ...
MERGED_MIN_PITCHES = 1.5
#: ... and this many lane widths (:func:`split_merged`).
MERGED_MIN_WIDTHS = 2.0


def split_merged(peak: LanePeak, pitch: float, width: float) -> list[float]:
    """Centres of the lanes one strong peak holds: two or more neighbouring lanes can run together.

    Bright neighbours whose gap never falls to half their height (a gel's round blobs, a ladder beside a
    sample) make one column-profile peak. A peak at least :data:`MERGED_MIN_PITCHES` pitches and
    :data:`MERGED_MIN_WIDTHS` lane widths wide holds ``k = round(width / pitch)`` lanes, placed a pitch
    apart about its centre; any other peak is one lane. A ladder lane is one plateau about a lane wide,
    never split.

    Parameters
    ----------
    peak : LanePeak
        A strong lane peak (top-hat columns).
    pitch : float
        Lane pitch, top-hat columns.
    width : float
        Lane width (median of the strong peaks' widths), top-hat columns.

    Returns
    -------
    list of float
        Lane centres, left to right.
    """
    if peak.width < MERGED_MIN_PITCHES * pitch or peak.width < MERGED_MIN_WIDTHS * width:
        return [peak.x]
    k = int(round(peak.width / pitch))
    return [peak.x + (i - (k - 1) / 2) * pitch for i in range(k)]


#: An end lane is judged against the pitch of the lanes beside it only when at least this many remain.
MIN_LANES_FOR_END_PITCH = 3


def off_grid_end_lanes(xs: list[float]) -> tuple[list[float], list[float]]:
    """Lane centres ``xs`` (sorted) without the end lanes that lie off the other lanes' pitch; and those.

    The lanes of one strip were loaded from one comb, so they lie on one grid; a bright column at an
    end of the lane set that is not a whole number of pitches (within ``ON_GRID_TOLERANCE_PITCHES``)
    from its neighbour is a mark on the membrane (a pen-written ladder or a number beside the first
    lane), not a lane. The pitch is that of the lanes without the end lane, so the mark cannot set it;
    an end is judged only while :data:`MIN_LANES_FOR_END_PITCH` lanes remain. The ends are checked
    repeatedly, so a mark two strokes wide goes too.

    Returns
    -------
    kept : list of float
        The lane centres on the grid.
    dropped : list of float
        The end columns left out, for the message to the user.
    """
    kept = sorted(xs)
    dropped: list[float] = []
    changed = True
    while changed and len(kept) > MIN_LANES_FOR_END_PITCH:
        changed = False
        for end, neighbour, rest in ((0, 1, kept[1:]), (-1, -2, kept[:-1])):
            pitch = pitch_of(np.array(rest))
            if pitch is None:
                continue
            gap = abs(kept[end] - kept[neighbour])
            steps = round(gap / pitch)
            if steps == 0 or abs(gap / steps - pitch) > ON_GRID_TOLERANCE_PITCHES * pitch:
                dropped.append(kept.pop(end))
                changed = True
                break
    return kept, dropped
