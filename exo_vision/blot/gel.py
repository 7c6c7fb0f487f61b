"""Gel layout: the gel's extent, its well rows (combs) and the tiers of lanes below them.

An agarose or polyacrylamide gel photographed on a transilluminator is not a membrane: it sits in a
dark surround or beside a glove or a white label strip, its cut edges shine, and each comb leaves a row
of wells (short dark slots with bright rims, one at the top of every lane). A gel may hold two combs:
it is then two tiers, each with its own lanes running down from its wells. :func:`find_gel_layout`
finds these from the image; :func:`quantify_gel` measures bands only inside the tiers (below their
wells, inside the gel, away from its edges), with :func:`exo_vision.blot.quantify.quantify_blot`.
Every setting is a field of :class:`exo_vision.blot.parameters.BlotParameters` (``gel_*``, ``well_*``,
``min_tier_height_fraction``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from exo_vision._shared.runs import true_runs
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters
from exo_vision.blot.signal import check_image, guess_polarity, to_signal
from exo_vision.blot.strips import Strip

logger = logging.getLogger(__name__)

#: Percentile of the smoothed image taken as its top level (a glove or label strip reaches it).
TOP_PERCENTILE = 99.9
#: A tier whose widest lane is more than this many times its narrowest was not read from a comb (on the 18
#: GelGenie gels the ratio is 1.0-2.6; on the ladder reference gel, whose faint wells are misread, 16).
MAX_WELL_WIDTH_RATIO = 4.0

#: A gel kept after its surround is dropped spans at least 1/MIN_GEL_SPAN_DIVISOR of each axis; less
#: means nothing gel-like stands out of a surround, and the whole axis is kept.
MIN_GEL_SPAN_DIVISOR = 4
#: The gel's level is the median of the image's centre: from 1/GEL_LEVEL_CENTRE_DIVISOR to
#: (GEL_LEVEL_CENTRE_DIVISOR - 1)/GEL_LEVEL_CENTRE_DIVISOR of each axis (its central quarter).
GEL_LEVEL_CENTRE_DIVISOR = 4
#: Shortest vertical closing (rows) that wells are read against: a median-filter footprint.
MIN_WELL_WINDOW_ROWS = 3
#: Floor of the gel's level in the well depth test (a black image), so the depth bound stays positive.
LEVEL_FLOOR = 1e-9
#: Well rows one row apart (a missed row in a tilted comb) are joined by a closing this many rows long.
WELL_ROW_CLOSING_ROWS = 3


@dataclass(frozen=True)
class GelLayout:
    """Where a gel is in an image (end-exclusive pixel boxes and row ranges).

    Attributes
    ----------
    box_px : (int, int, int, int)
        The gel: ``(y_top, y_bottom, x_left, x_right)``.
    well_rows_px : list of (int, int)
        Rows ``(top, bottom)`` of each row of wells (one per comb), top to bottom, without margins.
    tiers : list of Strip
        The strips where bands are called: one per comb, below its wells, inside the gel's edges.
    tier_wells_px : list of list of (int, int)
        Per tier, the columns ``(left, right)`` of the wells of the well row just above it (its lanes);
        empty when the tier has no well row above it (its lanes are then found from its bands).
    comb_slope : float
        Rows per column of the well rows (positive: down to the right); each well row's rows span its tilt.
    """

    box_px: tuple[int, int, int, int]
    well_rows_px: list[tuple[int, int]]
    tiers: list[Strip]
    tier_wells_px: list[list[tuple[int, int]]]
    comb_slope: float = 0.0


def _gel_span(off_fraction: np.ndarray, bridge_px: int, gap_fraction: float = 1.0) -> tuple[int, int]:
    """First and one-past-last index of the gel along one axis: the on-gel run over the axis' centre.

    An index (a column or a row) is off the gel when more than half its pixels are off-gel
    (``off_fraction`` over one half). On-runs shorter than ``bridge_px`` next to an off run or the
    image's end are not gel (gaps between the text lines of a label strip); off runs shorter than
    ``bridge_px`` between on-runs do not part the gel (a row of wells, a scratch), unless an index of
    the run has at least ``gap_fraction`` of its pixels off: a line that dark all along is the gap
    between the gel's edge and a glove or another gel laid beside it, however narrow. The gel is the on-run
    left with the most indices in the axis' central half: it is grown out from the centre, so whatever
    lies beyond the first off run on either side (a dark gap, then a glove or a bench at any grey level)
    is not gel, as well as the off runs at the ends.
    """
    n = len(off_fraction)
    line = np.ones(bridge_px + 1, bool)
    off = ndi.binary_closing(np.pad(off_fraction > 0.5, bridge_px, constant_values=True), line)
    off = ndi.binary_opening(np.pad(off[bridge_px : bridge_px + n], bridge_px, constant_values=True), line)
    off = off[bridge_px : bridge_px + n]
    gaps, _ = ndi.label(off_fraction > 0.5)
    off |= np.isin(gaps, np.unique(gaps[off_fraction >= gap_fraction])) & (gaps > 0)
    runs, n_runs = ndi.label(~off)
    q = GEL_LEVEL_CENTRE_DIVISOR
    central = np.bincount(runs[n // q : (q - 1) * n // q], minlength=n_runs + 1)[1:]
    if n_runs == 0 or central.max() == 0:
        return 0, n
    on = np.flatnonzero(runs == 1 + int(np.argmax(central)))
    start, stop = int(on[0]), int(on[-1]) + 1
    if stop - start < max(1, n // MIN_GEL_SPAN_DIVISOR):
        return 0, n  # nothing like a gel in a surround: keep the whole axis
    return start, stop


def _off_gel_pixels(smooth: np.ndarray, params: BlotParameters = DEFAULT_BLOT_PARAMETERS) -> np.ndarray:
    """Pixels of a smoothed signal image that are not gel: the dark surround and bright objects beside the gel.

    The gel's level is the median of the image's central quarter. A pixel darker than ``gel_dark_fraction``
    of it is the dark surround (a bench, the transilluminator's frame). A pixel at least
    ``gel_bright_fraction`` of the image's top level (99.9th percentile; only when the top is above the
    gel's level) is a bright object when its connected bright region reaches the image border: a glove or a
    label strip lies beside the gel and comes in from outside the frame, while a saturated band lies
    inside the gel and stays gel, however bright.

    Parameters
    ----------
    smooth : (M, N) ndarray
        Signal (bands bright), median-filtered.
    params : BlotParameters
        ``gel_dark_fraction``, ``gel_bright_fraction``.

    Returns
    -------
    (M, N) ndarray of bool
        True where the pixel is off the gel.
    """
    h, w = smooth.shape
    q = GEL_LEVEL_CENTRE_DIVISOR
    level = float(np.median(smooth[h // q : (q - 1) * h // q, w // q : (q - 1) * w // q]))
    top = float(np.percentile(smooth, TOP_PERCENTILE))
    off = smooth < params.gel_dark_fraction * level
    if top > level:
        bright, _ = ndi.label(smooth >= params.gel_bright_fraction * top)
        at_border = np.unique(np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]]))
        off |= np.isin(bright, at_border[at_border > 0])
    return off


def find_gel_box(smooth: np.ndarray, params: BlotParameters = DEFAULT_BLOT_PARAMETERS) -> tuple[int, int, int, int]:
    """The gel's box in a smoothed signal image: border columns and rows that are mostly not gel dropped.

    Each pixel is judged on its own: off the gel when it is darker than ``gel_dark_fraction`` of the gel's
    level (the dark surround) or part of a bright region that reaches the image border (a glove, a label
    strip; a saturated band inside the gel stays gel). A column across a glove lying on a dark bench is
    bright in part and dark in part, and its median may fall at a gel's level. The gel is the one slab
    over the image's centre: its columns, then rows, then columns again are the run of lines over the
    centre in which at most half the pixels are off, ended on each side by the first run of off lines
    (:func:`_gel_span`), so a glove beyond a dark gap is dropped whatever its grey level.

    Parameters
    ----------
    smooth : (M, N) ndarray
        Signal (bands bright), median-filtered.
    params : BlotParameters
        ``gel_dark_fraction``, ``gel_bright_fraction``, ``gel_edge_margin_fraction`` (as a fraction of
        the axis: the shortest run of off columns or rows that ends the gel, and the shortest run of
        gel-like ones that is not enclosed in an off run).

    Returns
    -------
    (int, int, int, int)
        ``(y_top, y_bottom, x_left, x_right)``, end-exclusive.
    """
    off = _off_gel_pixels(smooth, params)

    def span(off_fraction: np.ndarray) -> tuple[int, int]:
        bridge = max(1, round(params.gel_edge_margin_fraction * len(off_fraction)))
        return _gel_span(off_fraction, bridge, params.gel_gap_off_fraction)

    x0, x1 = span(off.mean(axis=0))
    y0, y1 = span(off[:, x0:x1].mean(axis=1))
    x0, x1 = span(off[y0:y1].mean(axis=0))
    return y0, y1, x0, x1


def _well_depth(smooth: np.ndarray, box: tuple[int, int, int, int], params: BlotParameters) -> np.ndarray:
    """Depth of each gel-box pixel below a vertical grey closing (the gel above and below it), per gel level."""
    y0, y1, x0, x1 = box
    gel = smooth[y0:y1, x0:x1]
    window = max(MIN_WELL_WINDOW_ROWS, round(params.well_window_fraction * (y1 - y0)))
    depth = ndi.grey_closing(gel, size=(window, 1)) - gel
    return depth / max(float(np.median(gel)), LEVEL_FLOOR)


def sheared(a: np.ndarray, slope: float) -> np.ndarray:
    """``a`` with column ``x`` shifted up by ``slope`` x (x - centre) rows: a line of that slope becomes a row.

    Rows read past the top or bottom repeat the edge row.
    """
    h, w = a.shape
    shift = np.round(slope * (np.arange(w) - (w - 1) / 2)).astype(int)
    rows = np.clip(np.arange(h)[:, None] + shift[None, :], 0, h - 1)
    return a[rows, np.arange(w)[None, :]]


def comb_slope(in_wells: np.ndarray, params: BlotParameters = DEFAULT_BLOT_PARAMETERS) -> float:
    """Rows per column of the well rows: the shear (up to ``max_lane_tilt_deg``) that stacks well pixels sharpest.

    A gel laid a little crooked on the transilluminator, or a comb set in askew, tilts its row of wells;
    the row histogram of the well pixels is sharpest (largest sum of squares) along the comb.
    """
    ys, xs = np.nonzero(in_wells)
    h, w = in_wells.shape
    steps = int(np.ceil(np.tan(np.radians(params.max_lane_tilt_deg)) * w / 2))
    if ys.size == 0 or steps == 0:
        return 0.0
    best, best_score = 0.0, -1.0
    for k in sorted(range(-steps, steps + 1), key=abs):  # ties go to the level comb
        slope = k / (w / 2)
        rows = ys - np.round(slope * (xs - (w - 1) / 2)).astype(int)
        counts = np.bincount(rows - rows.min()).astype(np.float64)
        score = float((counts**2).sum())
        if score > best_score:
            best, best_score = slope, score
    return best


def well_columns(
    depth: np.ndarray, x_left_px: int, rows: tuple[int, int], params: BlotParameters = DEFAULT_BLOT_PARAMETERS
) -> list[tuple[int, int]]:
    """Image columns ``(left, right)`` of the wells in one well row of a (sheared) depth image.

    A column is in a well when it is dark over more than ``well_dark_row_fraction`` of the row's rows (a
    slot's inner edge may shine across part of it). Dark runs split by a light gap narrower than
    ``well_split_gap_fraction`` of the row's height (a speck or a crease in the slot) are one well,
    unless the joined run is over 1 / ``well_min_width_fraction`` times as wide as the median joined
    run (two wells whose tooth is thin). Runs narrower than ``min_lane_width_px`` or
    ``well_min_width_fraction`` of the median run are dropped; each well is the top of one lane.
    ``x_left_px`` is the image column of ``depth[:, 0]``.
    """
    a, b = rows
    dark = (depth[a:b] > params.well_min_depth_fraction).mean(axis=0) > params.well_dark_row_fraction
    runs = true_runs(dark)
    if runs:
        gap = max(1, round(params.well_split_gap_fraction * (b - a)))
        joined = true_runs(ndi.binary_closing(np.pad(dark, gap), np.ones(gap + 1, bool))[gap:-gap] | dark)
        widest = float(np.median([q - p for p, q in joined])) / params.well_min_width_fraction
        runs = [r for p, q in joined for r in ([(p, q)] if q - p <= widest else true_runs(dark[p:q], p))]
    runs = [(x_left_px + p, x_left_px + q) for p, q in runs if q - p >= params.min_lane_width_px]
    if not runs:
        return runs
    # a comb's wells are all of one width: a much narrower dark run is a scratch or a glove's edge
    typical = float(np.median([q - p for p, q in runs]))
    return [(p, q) for p, q in runs if q - p >= params.well_min_width_fraction * typical]


def _whole_wells(wells: list[tuple[int, int]], params: BlotParameters) -> tuple[list[tuple[int, int]], float]:
    """The runs at least ``well_regular_width_fraction`` of the typical well wide, and that width (px).

    The typical width is the median of the runs at least ``well_min_width_fraction`` as wide as the widest.
    """
    widths = np.array([b - a for a, b in wells], dtype=np.float64)
    width = float(np.median(widths[widths >= params.well_min_width_fraction * widths.max()]))
    return [(a, b) for a, b in wells if b - a >= params.well_regular_width_fraction * width], width


def regular_wells(
    wells: list[tuple[int, int]], params: BlotParameters = DEFAULT_BLOT_PARAMETERS, pitch_px: float | None = None
) -> list[tuple[int, int]]:
    """The wells of one comb on its regular grid: runs of a well's width kept, gaps of whole pitches filled.

    A comb's teeth are of one width and evenly spaced. The typical width is the median of the runs at
    least ``well_min_width_fraction`` as wide as the widest; runs at least ``well_regular_width_fraction``
    of it wide are wells, the rest (pieces of a speckled or loaded well) are dropped. The pitch is
    ``pitch_px`` when given (px; the comb was found on another comb's pitch, see
    :func:`find_combs`), else the median spacing of the wells (at least ``min_wells_per_row`` of them; else
    the runs stand); a gap of n pitches (rounded) between two wells gets n - 1 wells of the typical width
    at even spacing (wells whose slot a loaded sample or a bright rim hides).
    """
    if len(wells) < params.min_wells_per_row:
        return wells
    good, width = _whole_wells(wells, params)
    if len(good) < params.min_wells_per_row:
        return wells  # too few whole wells to set the grid
    centres = np.array([(a + b) / 2 for a, b in good])
    pitch = float(np.median(np.diff(centres))) if pitch_px is None else pitch_px
    out = [good[0]]
    for (a, b), left, right in zip(good[1:], centres[:-1], centres[1:]):
        n = round((right - left) / pitch)
        for k in range(1, n):
            c = left + k * (right - left) / n
            out.append((round(c - width / 2), round(c + width / 2)))
        out.append((a, b))
    return out


def comb_periodicity(profile: np.ndarray, min_pitch_px: float, max_pitch_px: float) -> float:
    """How strongly a row's column profile repeats at one pitch.

    The profile's autocorrelation (mean removed, normalised to 1 at lag 0, each lag by its overlap) is
    read at its local maxima between ``min_pitch_px`` and ``max_pitch_px``; a maximum's strength is its
    height over the lowest autocorrelation at shorter lags (for a comb, half a pitch: well against
    tooth). A row of wells at one pitch scores near 1 or above (a square wave 2), a dark stripe, a smear
    or noise near 0, whatever their depth (whole multiples of the pitch score as high). 0 for a flat
    profile or an empty range.
    """
    p = np.asarray(profile, dtype=np.float64) - float(np.mean(profile))
    n = p.size
    energy = float((p * p).sum())
    lo, hi = max(2, int(np.ceil(min_pitch_px))), min(n - 2, int(max_pitch_px))
    if energy <= 0 or hi <= lo:
        return 0.0
    c = np.correlate(p, p, "full")[n - 1 :] / energy * n / (n - np.arange(n))
    lags = np.arange(lo, hi + 1)
    trough = np.minimum.accumulate(c[1:])[lags - 2]  # lowest at lags 1 .. L-1
    peak = (c[lags] >= c[lags - 1]) & (c[lags] >= c[lags + 1])
    if not peak.any():
        return 0.0
    return float(np.max((c[lags] - trough)[peak]))


def find_combs(
    depth: np.ndarray, x_left_px: int, params: BlotParameters = DEFAULT_BLOT_PARAMETERS
) -> list[tuple[tuple[int, int], float | None]]:
    """Rows of wells in a (sheared) depth image of the gel box: short row runs whose columns repeat at a pitch.

    A pixel is in a well when it lies ``well_min_depth_fraction`` of the gel's level below a vertical grey
    closing (the gel above and below it); a row is a candidate when ``well_min_column_fraction`` of the
    gel's columns are. A run of candidate rows up to ``well_max_height_fraction`` of the gel's height that
    holds ``min_wells_per_row`` wells on the comb's grid (:func:`regular_wells`) is a comb when its mean
    depth profile across the gel repeats at one pitch (:func:`comb_periodicity`; a pitch holds a well and a
    tooth, each at least ``min_lane_width_px``, and ``min_wells_per_row`` pitches fit in the gel) strongly
    enough (:func:`combs_on_one_pitch`). A dark stripe, the gaps between two rows of bands or a label's
    edge are dark but do not repeat at a pitch.

    Returns
    -------
    list of ((int, int), float or None)
        Per well row, top to bottom: its rows ``(top, bottom)`` in ``depth``, and the pitch (px) its wells
        are placed on (:func:`regular_wells`): the sure comb's for a row found on that pitch, None for a
        sure comb (its own wells' spacing).
    """
    height, width = depth.shape
    # a comb may bow a little: a column counts for a row when a well pixel lies within a few rows
    reach = max(1, round(params.well_tilt_reach_fraction * height))
    in_wells = depth > params.well_min_depth_fraction
    fraction = ndi.binary_dilation(in_wells, np.ones((2 * reach + 1, 1), bool)).mean(axis=1)
    rows = fraction >= params.well_min_column_fraction
    rows = ndi.binary_closing(rows, np.ones(WELL_ROW_CLOSING_ROWS, bool)) | rows
    runs, profiles, wells, even = [], [], [], []
    for sl in ndi.find_objects(ndi.label(rows)[0]):
        a, b = sl[0].start, sl[0].stop
        if b - a > params.well_max_height_fraction * height:
            continue
        read = well_columns(depth, x_left_px, (a, b), params)
        grid = regular_wells(read, params)
        if len(grid) >= params.min_wells_per_row:
            runs.append((a, b))
            profiles.append(depth[a:b].mean(axis=0))
            wells.append(grid)
            even.append(evenly_cut(read, params))
    return [(runs[i], pitch) for i, pitch in sorted(comb_pitches(profiles, wells, params, even).items())]


def evenly_cut(wells: list[tuple[int, int]], params: BlotParameters = DEFAULT_BLOT_PARAMETERS) -> bool:
    """Whether a row's dark column runs are a comb's slots: many, of one width, at one pitch.

    True when there are at least ``well_even_min_count`` runs, every run's width is within
    ``well_even_tolerance`` of the median width, and every spacing between neighbouring centres, divided
    by the whole number of pitches it spans (rounded against the median spacing), is within that
    tolerance of the pitch (the spacings' sum over the pitches they span). A missing well (two pitches
    between neighbours) is allowed; bands, specks and stain edges are neither that many nor that even.
    """
    if len(wells) < max(2, params.well_even_min_count):
        return False
    widths = np.array([b - a for a, b in wells], dtype=np.float64)
    spacings = np.diff([(a + b) / 2 for a, b in wells])
    pitches = np.maximum(1.0, np.round(spacings / float(np.median(spacings))))
    pitch = float(spacings.sum() / pitches.sum())
    tol = params.well_even_tolerance
    return bool(
        np.all(np.abs(widths / np.median(widths) - 1) <= tol) and np.all(np.abs(spacings / pitches / pitch - 1) <= tol)
    )


def combs_on_one_pitch(
    profiles: list[np.ndarray],
    wells: list[list[tuple[int, int]]],
    params: BlotParameters = DEFAULT_BLOT_PARAMETERS,
    even: list[bool] | None = None,
) -> list[int]:
    """Indices of the candidate well rows that are combs: the sure ones, and weaker ones on the sure ones' pitch.

    A row whose depth profile repeats at least ``well_min_periodicity`` strongly (:func:`comb_periodicity`
    over pitches from two ``min_lane_width_px`` to the profile's length over ``min_wells_per_row``) is a
    comb. A gel's combs are cut alike (one comb type, one pitch), so once the gel shows a sure comb, a row
    that repeats at that comb's pitch (the median spacing of its wells, give or take half its typical well
    width) is a comb when it does so ``well_min_periodicity / well_depth_search_step`` strongly: the margin
    by which the wells' depth is read either side of its set value. This test reads the row's profile
    capped at the sure comb's deepest column: wells cut by one comb in one gel read no deeper than its
    wells do, and a column deeper than that lies beside a bright speck or band that the closing takes in,
    which would otherwise outweigh the row's wells. A weaker row of a gel without a sure comb stays out.
    A row whose wells as read are evenly cut (:func:`evenly_cut`, flagged in ``even``) is a sure comb when
    it repeats that weaker strength: its even slots corroborate it as a sure comb's pitch would. (The gaps
    between two rows of bands are evenly cut too, one slot per lane, but their depth follows the bands'
    strengths from lane to lane and does not repeat.)

    Parameters
    ----------
    profiles : list of (N,) ndarray
        Mean depth profile across the gel of each candidate row.
    wells : list of list of (int, int)
        Each candidate row's wells on its grid (:func:`regular_wells`), image columns.
    params : BlotParameters
        ``well_min_periodicity``, ``well_depth_search_step``, ``min_lane_width_px``, ``min_wells_per_row``.
    even : list of bool, optional
        Per candidate row, whether its wells as read are evenly cut (:func:`evenly_cut`); None: none is.

    Returns
    -------
    list of int
        Indices into ``profiles``, ascending.
    """
    return sorted(comb_pitches(profiles, wells, params, even))


def comb_pitches(
    profiles: list[np.ndarray],
    wells: list[list[tuple[int, int]]],
    params: BlotParameters = DEFAULT_BLOT_PARAMETERS,
    even: list[bool] | None = None,
) -> dict[int, float | None]:
    """The candidate well rows that are combs (:func:`combs_on_one_pitch`), each with the pitch of its wells.

    A gel's combs are cut alike, so a row taken because it repeats at the sure comb's pitch has its wells
    placed on that pitch (px: the median spacing of the strongest sure comb's wells): a gap of whole
    pitches between its wells is filled at that spacing even when few of its wells were read, all at two
    or more pitches apart. A sure comb's pitch is None: its own wells' median spacing.

    Returns
    -------
    dict of int to float or None
        Index into ``profiles`` of each comb, and its pitch (px) or None.
    """
    if not profiles:
        return {}
    strengths = [comb_periodicity(p, 2 * params.min_lane_width_px, p.size / params.min_wells_per_row) for p in profiles]
    even = even or [False] * len(profiles)
    weak = params.well_min_periodicity / params.well_depth_search_step
    sure = [i for i, s in enumerate(strengths) if s >= params.well_min_periodicity or (even[i] and s >= weak)]
    if not sure:
        return {}
    strongest = max(sure, key=lambda i: strengths[i])
    best = wells[strongest]
    pitch = float(np.median(np.diff([(a + b) / 2 for a, b in best])))
    half_well = float(np.median([b - a for a, b in best])) / 2
    deepest = float(np.max(profiles[strongest]))
    combs: dict[int, float | None] = dict.fromkeys(sure)
    for i, p in enumerate(profiles):
        if i not in combs and comb_periodicity(np.minimum(p, deepest), pitch - half_well, pitch + half_well) >= weak:
            combs[i] = pitch
    return combs


def gel_tiers(
    box: tuple[int, int, int, int], wells: list[tuple[int, int]], params: BlotParameters = DEFAULT_BLOT_PARAMETERS
) -> list[Strip]:
    """Strips between the gel's top edge, its well rows (with their rims) and its bottom edge.

    Each strip spans the gel's columns less the edge margin; strips shorter than
    ``min_tier_height_fraction`` of the gel (the sliver above the first comb) are dropped.
    """
    y0, y1, x0, x1 = box
    my = round(params.gel_edge_margin_fraction * (y1 - y0))
    mx = round(params.gel_edge_margin_fraction * (x1 - x0))
    cuts = [(y0, y0 + my)]
    below = round(params.well_margin_fraction * (y1 - y0))
    above = round(params.well_margin_above_fraction * (y1 - y0))
    cuts.extend((a - above, b + below) for a, b in wells)
    cuts.append((y1 - my, y1))
    tiers: list[Strip] = []
    for (_, top), (bottom, _) in zip(cuts[:-1], cuts[1:]):
        if bottom - top >= max(params.min_tier_height_fraction * (y1 - y0), params.min_strip_height_px):
            tiers.append(
                Strip(
                    index=len(tiers) + 1,
                    y_top_px=int(top),
                    y_bottom_px=int(bottom),
                    x_left_px=int(x0 + mx),
                    x_right_px=int(x1 - mx),
                )
            )
    return tiers


def find_gel_layout(
    image: np.ndarray, *, polarity: str | None = None, params: BlotParameters = DEFAULT_BLOT_PARAMETERS
) -> GelLayout:
    """The gel's box, well rows and tiers in a gel image.

    How deep a well reads against the gel around it depends on the stain, the exposure and the comb, so
    the wells are read at ``well_min_depth_fraction`` and at that depth divided and multiplied by
    ``well_depth_search_step``; the reading with the most wells under its tiers is kept (ties: the set
    depth). A comb that a single depth sees in pieces, or merged with the dark rows next to it, is then
    still read as a comb.

    Parameters
    ----------
    image : (M, N) ndarray
        Gel image (grey).
    polarity : {"bright", "dark"}, optional
        Bands brighter (fluorescent stain) or darker (Coomassie) than the gel; guessed when omitted.
    params : BlotParameters
        The ``gel_*``, ``well_*`` and ``min_tier_height_fraction`` fields.

    Returns
    -------
    GelLayout
    """
    image = check_image(image)
    signal = to_signal(image, polarity=polarity or guess_polarity(image))
    smooth = ndi.median_filter(signal, size=max(1, round(params.gel_smoothing_px)))
    box = find_gel_box(smooth, params)
    depth = _well_depth(smooth, box, params)
    step = params.well_depth_search_step
    layouts = [
        _layout_at_depth(
            depth, box, replace(params, well_min_depth_fraction=min(1.0, params.well_min_depth_fraction * f))
        )
        for f in (1.0, 1.0 / step, step)
    ]
    # the reading that shows the most wells; ties go to the set depth (max keeps the first)
    return max(layouts, key=lambda layout: sum(map(len, layout.tier_wells_px)))


def _layout_at_depth(depth: np.ndarray, box: tuple[int, int, int, int], params: BlotParameters) -> GelLayout:
    """The gel's well rows, tiers and wells read from its depth image at ``params.well_min_depth_fraction``."""
    slope = comb_slope(depth > params.well_min_depth_fraction, params)
    flat = sheared(depth, slope)
    combs = find_combs(flat, box[2], params)
    rows = [r for r, _ in combs]
    # a tilted row of wells spans the rows it reaches at either end of the gel
    width = box[-1] - box[-2]
    lean = int(np.ceil(abs(slope) * (width - 1) / 2))
    wells = [(box[0] + max(0, a - lean), box[0] + min(flat.shape[0], b + lean)) for a, b in rows]
    tiers = gel_tiers(box, wells, params)
    tier_wells = []
    for t in tiers:
        above = [c for c, w in zip(combs, wells) if w[1] <= t.y_top_px]
        ws = regular_wells(well_columns(flat, box[2], above[-1][0], params), params, above[-1][1]) if above else []
        ws = [(max(a, t.x_left_px), min(b, t.x_right_px)) for a, b in ws]
        tier_wells.append([(a, b) for a, b in ws if b - a >= 2])
    return GelLayout(box, wells, tiers, tier_wells, slope)


def _tier_lanes(image: np.ndarray, polarity: str, layout: GelLayout, params: BlotParameters) -> list:
    """Lanes of every tier: one per well above it, plus the lane finder's lanes that lie on no well.

    A well may be missed (a loaded ladder well shines, a tilted comb is caught in part): a lane the finder
    places more than half a well pitch from every well, and about as wide as a well, is added. Without
    wells the finder's lanes stand.
    """
    from exo_vision.blot.lanes import find_lanes, lanes_from_ranges

    signal = to_signal(image, polarity=polarity)
    lanes = []
    for tier, wells in zip(layout.tiers, layout.tier_wells_px):
        found = find_lanes(signal, tier, params=params)
        if len(wells) < 2:
            lanes.extend(side_by_side(tier, lanes_on_pitch_to_edges(signal, tier, found)))
            continue
        centres = np.array([(a + b - 1) / 2 for a, b in wells])
        pitch = float(np.median(np.diff(centres)))
        narrowest = params.well_min_width_fraction * float(np.median([b - a for a, b in wells]))
        ranges = list(wells)
        for lane in found:
            x = lane.centre_x((tier.y_top_px + tier.y_bottom_px) / 2)
            if np.abs(centres - x).min() > pitch / 2 and lane.width_px >= narrowest:
                half = lane.width_px / 2
                ranges.append(
                    (max(tier.x_left_px, round(float(x) - half)), min(tier.x_right_px, round(float(x) + half + 1)))
                )
        lanes.extend(lanes_from_ranges(sorted(r for r in ranges if r[1] - r[0] >= 2), tier))
    return lanes


def lanes_on_pitch_to_edges(signal: np.ndarray, tier: Strip, lanes: list) -> list:
    """The lane finder's lanes of a tier without wells, continued on their pitch out to the tier's edges.

    A gel's lanes were loaded from one comb, so they lie at one pitch; a ladder lane at an end may be
    missed by the finder (its many thin bands make a lower, wider column profile than the samples'). From
    each outermost lane, lanes are added a pitch (the median spacing) further out while the tier's column
    profile (mean over its rows) there is higher than at every midpoint between two found lanes (a lane
    holds more stain than the gel between lanes) and the centre lies inside the tier (:func:`side_by_side`
    then keeps such a lane inside the tier). Lanes are renumbered left to right; fewer than two lanes are
    returned unchanged.
    """
    if len(lanes) < 2:
        return lanes
    mid = (tier.y_top_px + tier.y_bottom_px) / 2
    xs = [float(lane.centre_x(mid)) for lane in lanes]
    pitch = float(np.median(np.diff(xs)))
    profile = signal[tier.y_top_px : tier.y_bottom_px, tier.x_left_px : tier.x_right_px].mean(axis=0)

    def level(x: float) -> float:
        return float(profile[int(np.clip(round(x) - tier.x_left_px, 0, profile.size - 1))])

    gap = max(level((p + q) / 2) for p, q in zip(xs[:-1], xs[1:]))
    added = []
    for step, x in ((-pitch, xs[0] - pitch), (pitch, xs[-1] + pitch)):
        while tier.x_left_px <= x < tier.x_right_px and level(x) > gap:
            added.append(x)
            x += step
    if not added:
        return lanes
    first = lanes[0]
    moved = [
        replace(first, x_top_px=first.x_top_px + x - xs[0], x_bottom_px=first.x_bottom_px + x - xs[0]) for x in added
    ]
    out = sorted(lanes + moved, key=lambda lane: float(lane.centre_x(mid)))
    return [replace(lane, index=i + 1) for i, lane in enumerate(out)]


def side_by_side(tier: Strip, lanes: list) -> list:
    """Lanes of a tier without wells, each as wide as the spacing to its nearest neighbour (never narrower).

    A gel's lanes lie side by side, like the comb's wells they were loaded from, and a band spans its lane;
    without a well row the spacing of the lane finder's lanes is the only measure of that width (the finder's
    own width is the core of a blot's band, and a speck may then fill a lane). A lane keeps its centre and
    tilt, and stays inside the tier.
    """
    if len(lanes) < 2:
        return lanes
    mid = (tier.y_top_px + tier.y_bottom_px) / 2
    xs = np.array([float(lane.centre_x(mid)) for lane in lanes])
    steps = np.diff(xs)
    nearest = np.minimum(np.r_[steps[0], steps], np.r_[steps, steps[-1]])
    room = 2 * np.minimum(xs - tier.x_left_px, tier.x_right_px - xs)
    return [replace(lane, width_px=float(min(max(lane.width_px, w), r))) for lane, w, r in zip(lanes, nearest, room)]


#: A gel's bands are checked for running across their lane on the whole band table (:func:`lane_wide`, with the
#: lanes its wells give), not inside each lane as a blot's: the in-lane rule is off for gels.
GEL_LANE_WIDE_IN_LANE = 0.0


def lane_wide(signal: np.ndarray, bands, params: BlotParameters = DEFAULT_BLOT_PARAMETERS) -> np.ndarray:
    """Per band row, whether the band runs across its lane: a gel band is loaded from a whole well.

    The band's box is opened (grey opening) along its rows with a footprint half the box's width: a band
    that spans the lane keeps its volume above the band's background, a speck, a fibre or a scratch loses
    it. A band keeps at least ``gel_band_lane_wide_fraction`` of its volume.
    """
    out = np.ones(len(bands), bool)
    for i, b in enumerate(bands.itertuples()):
        y0, y1, x0, x1 = int(b.y_top_px), int(b.y_bottom_px), int(b.x_left_px), int(b.x_right_px)
        box = signal[y0:y1, x0:x1].astype(np.float64) - float(b.background_per_px)
        volume = float(box.sum())
        if volume > 0 and x1 - x0 >= 2:
            opened = ndi.grey_opening(box, size=(1, (x1 - x0) // 2))
            out[i] = float(opened.sum()) >= params.gel_band_lane_wide_fraction * volume
    return out


def steepness(signal: np.ndarray, bands) -> np.ndarray:
    """Per band row, the rise of its row profile (mean over its columns) per row of its half-height width.

    The rise is the profile's highest row over its lowest inside the band's box; the width is the run of
    rows around the highest that stay above half of it. A band of DNA is a sharp step up and down; the glow
    of a smear or of unbound stain rises as high only over many more rows.
    """
    out = np.zeros(len(bands))
    for i, b in enumerate(bands.itertuples()):
        box = signal[int(b.y_top_px) : int(b.y_bottom_px), max(0, int(b.x_left_px)) : max(0, int(b.x_right_px))]
        if box.size == 0:
            continue
        profile = box.mean(axis=1)
        r = int(np.argmax(profile))
        rise = float(profile[r] - profile.min())
        above = profile > profile.min() + rise / 2
        top, bottom = r, r
        while top > 0 and above[top - 1]:
            top -= 1
        while bottom < profile.size - 1 and above[bottom + 1]:
            bottom += 1
        out[i] = rise / (bottom - top + 1)
    return out


def _gel_bands(signal: np.ndarray, bands, params: BlotParameters):
    """The band table less the detected bands that are not a gel's bands.

    Dropped: bands that do not run across their lane (:func:`lane_wide`: specks, fibres, scratches), then
    bands less steep than ``gel_band_min_steepness_fraction`` of the steepest band of their strip
    (:func:`steepness`: glow). Requested positions stay (their present/absent call is the LoD's); band
    rows and labels are renumbered.
    """
    if not len(bands):
        return bands
    requested = bands.requested.astype(bool).to_numpy()
    out = bands[lane_wide(signal, bands, params) | requested].reset_index(drop=True)
    steep = pd.Series(steepness(signal, out), index=out.index)
    steepest = steep.groupby(out.strip).transform("max")
    out = out[(steep >= params.gel_band_min_steepness_fraction * steepest) | out.requested.astype(bool)]
    out = out.reset_index(drop=True)
    for strip in out.strip.unique():
        rows = out.strip == strip
        numbers = {b: i + 1 for i, b in enumerate(sorted(out.loc[rows, "band"].unique()))}
        out.loc[rows, "band"] = out.loc[rows, "band"].map(numbers)
    out["label"] = np.arange(1, len(out) + 1)
    return out


def _uneven_well_warnings(lanes) -> list[str]:
    """A message for each tier whose lanes (one per well) differ in width more than a comb's wells can."""
    out = []
    for tier in sorted({lane.strip for lane in lanes}):
        widths = [lane.width_px for lane in lanes if lane.strip == tier]
        if min(widths) > 0 and max(widths) / min(widths) > MAX_WELL_WIDTH_RATIO:
            out.append(
                f"tier {tier}: its {len(widths)} wells give lanes from {min(widths):.0f} to {max(widths):.0f} px wide, "
                "more uneven than a comb's teeth: the wells were probably not read (a band row or the gel's edge "
                "taken for them). Check the annotated image; if its lanes are wrong, quantify the gel as a blot "
                "(without --gel)"
            )
    return out


def quantify_gel(
    image: np.ndarray, *, polarity: str | None = None, params: BlotParameters = DEFAULT_BLOT_PARAMETERS, **kwargs
):
    """Bands of a gel: :func:`~exo_vision.blot.quantify.quantify_blot` on the tiers of its layout.

    Nothing is reported off the gel, on its edges or on its well rows, and a detected band must run across
    its lane (:func:`lane_wide`: specks, fibres and scratches are dropped) and be a sharp peak
    (:func:`steepness`: glow is dropped). A lane profile's noise is read from differences of order
    ``gel_profile_noise_difference_order`` (second differences: the flanks of a ladder's packed bands are
    not noise, so each band of it clears the peak threshold). A band much taller than the strip's
    strongest is dropped only when ``gel_drop_tall_bands`` is set (by default it is kept: a gel's sample
    bands are often round and several times as tall as its ladder's), and bumps in a run of clipped rows stay
    separate bands unless ``gel_merge_clipped_runs`` is set (a ladder runs clipped bands together), two maxima
    parted by a clear dip are two bands (``gel_split_clear_dips``: a ladder's packed bands); pen writing
    is removed only when ``gel_remove_writing`` is set (wells are rings like a written "0"), a band is not
    dropped for rising beside its lane too unless ``gel_max_side_share`` is set (a gel's round sample bands and
    its glow reach past the lanes its wells give), and a band's volume and box are its lane's central columns'
    unless ``gel_measure_band_extent`` is set (the filters above were set on those), and a clipped band's window
    holds its glow unless ``gel_trim_saturated_glow`` is set. ``kwargs``
    go to ``quantify_blot`` (``image_name``, ``n_lanes``, ``max_value`` ...; not ``strips``). The layout is
    recorded in the result's ``parameters["gel_box_px"]`` and ``parameters["gel_well_rows_px"]``.

    Raises
    ------
    ValueError
        When no tier is found (no gel area below the wells).
    """
    from exo_vision.blot.quantify import quantify_blot

    params = replace(
        params,
        profile_noise_difference_order=params.gel_profile_noise_difference_order,
        drop_tall_bands=params.gel_drop_tall_bands,
        merge_clipped_runs=params.gel_merge_clipped_runs,
        split_clear_dips=params.gel_split_clear_dips,
        trim_saturated_glow=params.gel_trim_saturated_glow,
        remove_writing=params.gel_remove_writing,
        max_side_share=params.gel_max_side_share,
        band_lane_wide_fraction=GEL_LANE_WIDE_IN_LANE,
        measure_band_extent=params.gel_measure_band_extent,
    )
    if "strips" in kwargs or "lanes" in kwargs:
        raise ValueError("quantify_gel finds the gel's tiers itself; call quantify_blot to give strips or lanes")
    polarity = polarity or guess_polarity(check_image(image))
    layout = find_gel_layout(image, polarity=polarity, params=params)
    if not layout.tiers:
        name = kwargs.get("image_name") or "image"
        raise ValueError(
            f"{name}: no gel area below the wells was found (gel box {layout.box_px}, well rows "
            f"{layout.well_rows_px}); quantify it as a blot, or crop the image to the gel"
        )
    lanes = _tier_lanes(image, polarity, layout, params)
    result = quantify_blot(image, polarity=polarity, lanes=lanes, params=params, **kwargs)
    uneven = _uneven_well_warnings(lanes)
    for message in uneven:  # quantify_blot has logged its own warnings already
        logger.warning("%s%s", f"{kwargs['image_name']}: " if kwargs.get("image_name") else "", message)
    result.warnings.extend(uneven)
    signal = to_signal(image, polarity=polarity, max_value=kwargs.get("max_value"))  # the band table's units
    result.bands = _gel_bands(signal, result.bands, params)
    result.parameters["gel_box_px"] = [int(v) for v in layout.box_px]
    result.parameters["gel_well_rows_px"] = [[int(a), int(b)] for a, b in layout.well_rows_px]
    return result
