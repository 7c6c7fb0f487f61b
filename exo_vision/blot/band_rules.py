"""Which bumps of a strip's lane profiles are bands: the rules that keep marks, blotches and floor out.

One antibody per strip gives bands of one width (:func:`band_scale`); a bump much taller than that is a blotch
(:func:`not_taller`), a bump that continues onto the camera floor beside the membrane is a pen stroke
(:func:`not_on_floor`), and a clipped run of an over-exposed lane is one band (:func:`one_band_per_clipped_run`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.order_stats import median_along
from exo_vision._shared.runs import true_runs
from exo_vision.blot.bands import flattened_profile, profile_noise_sd
from exo_vision.blot.constants import MIN_PROFILE_ROWS
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters
from exo_vision.blot.strips import Strip

#: The bands of one antibody in one strip have half-height widths within this factor of each other: a
#: strongest bump thinner than a width other lanes share, and shared by no other lane, is a mark (:func:`band_scale`).
BAND_WIDTH_AGREEMENT = 1.5
#: A lane's two sides, for the band-scale vote, are the outer parts of its central columns cut in this many.
LANE_SIDE_PARTS = 3
#: A bump is checked for pen strokes over the camera floor within this many lane widths of its lane's centre
#: (a hand-written ladder runs from the floor beside the membrane into the first lane) (:func:`not_on_floor`).
FLOOR_SEARCH_LANE_WIDTHS = 1.5
#: A floor column is lit by a bump when its rows at the bump's centre stand this fraction of the way from the
#: floor to the membrane level (a band never lights the floor; a pen stroke that crosses the edge does).
FLOOR_LIT_FRACTION = 0.5
#: Floor columns are told from the median of at most about this many evenly spaced rows of the strip (speed).
FLOOR_SAMPLE_ROWS = 64
#: Rows either side of a bump's centre row read for :data:`FLOOR_LIT_FRACTION` (their median beats pixel noise).
FLOOR_CENTRE_ROWS = 1
#: A floor column counts for a bump only when it is at the floor in this many rows just above and below the bump
#: (median): a pen stroke runs from the floor, a slanted membrane edge is membrane beside the whole bump.
FLOOR_LOCAL_ROWS = 10


def one_band_per_clipped_run(found: list, own: list, clipped_rows: np.ndarray | None, y0: int) -> list:
    """Bumps of the side-corrected profile inside one clipped run of a lane, replaced by the lane's own band.

    Over a run of rows whose central pixels are mostly saturated (``clipped_rows``) the lane profile is
    clipped: no valley between two bands can be seen there. An over-exposed row runs together into the side
    strips too, and subtracting those clipped, opened sides leaves bumps at the run's edges, which would read
    as two bands. Every bump whose centre lies in a band of the lane's own profile (``own``) that covers a whole
    clipped run is that one band. Rows with a few saturated pixels (the cores of a ladder's packed bands) still
    show their valleys and are left alone. ``y0`` is the image row of ``clipped_rows[0]``.
    """
    if clipped_rows is None or not np.any(clipped_rows) or not found:
        return found
    runs = true_runs(clipped_rows, y0)
    out, used = [], set()
    for b in found:
        home = next(
            (
                i
                for i, o in enumerate(own)
                if o.y_top_px <= b.y_px < o.y_bottom_px
                and any(o.y_top_px <= r0 and r1 <= o.y_bottom_px for r0, r1 in runs)
            ),
            None,
        )
        if home is None:
            out.append(b)
        elif home not in used:
            used.add(home)
            out.append(own[home])
    return sorted(out, key=lambda c: c.y_px)


def longest_run(flags: np.ndarray | None) -> int:
    """Length of the longest run of True in ``flags`` (0 for None or none)."""
    return max((b - a for a, b in true_runs(flags)), default=0) if flags is not None else 0


class _Bump(NamedTuple):
    """A lane's highest bump in the band-scale vote: half-height rows, height, clears the noise, fills the lane."""

    rows: float
    height: float
    clear: bool
    fills: bool


def band_scale(
    profiles: list[np.ndarray],
    *,
    k_noise: float = DEFAULT_BLOT_PARAMETERS.band_peak_noise_sds,
    noise_order: int = 1,
    sides: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    min_fill: float = 0.0,
) -> float | None:
    """Rows at half height of the strip's bands: those of its strongest bump, unless no other lane shares them.

    One antibody per strip: its bands are alike (sharp, or smears), so the strongest sets the scale of
    what a band is here; a blotch of a strongly mottled membrane is much taller than a sharp band. Each
    lane offers the half-height rows of its highest bump (on its detection profile, above a slow
    background); lanes whose bump clears ``k_noise`` times the profile's noise vote. When no other lane
    shares the strongest bump's width (within a factor :data:`BAND_WIDTH_AGREEMENT`) but some lanes share
    theirs, the strongest bump whose width another lane shares sets the scale if it is wider: the
    strongest was a mark (a pen-written ladder: thin and very bright). Bands of a few lanes outweigh the
    blotches of many empty lanes here, since the strongest shared bump decides and not the width most
    lanes share. A saturated band is wider than the others, and keeps setting it. Without a clear bump
    the highest one does.

    With ``sides`` (the profiles of each lane's left and right thirds), a lane's bump that rises on one
    side of the lane by less than ``min_fill`` of the other side's rise has no vote, as long as some
    lane's bump fills its lane: a band spans the lane it was loaded in, a pen dash on the membrane's
    margin reaches into the end lane's side only (and the neighbouring end lane's), and would otherwise
    set a scale of a few rows under which every real band looks like a blotch.
    """
    bumps: list[_Bump] = []
    for i, prof in enumerate(profiles):
        if prof.size < MIN_PROFILE_ROWS:
            continue
        flat, size = flattened_profile(prof, None)
        r = int(np.argmax(flat))
        if flat[r] <= 0:
            continue
        above = flat > flat[r] / 2
        top, bottom = r, r
        while top > 0 and above[top - 1]:
            top -= 1
        while bottom < flat.size - 1 and above[bottom + 1]:
            bottom += 1
        clear = flat[r] > k_noise * profile_noise_sd(prof, order=noise_order)
        fills = sides is None or _side_fill(sides[i], top, bottom + 1, size) >= min_fill
        bumps.append(_Bump(float(bottom - top + 1), float(flat[r]), clear, fills))
    if any(b.fills for b in bumps):
        bumps = [b for b in bumps if b.fills]
    if not bumps:
        return None
    if not any(b.clear for b in bumps):  # nothing but noise: its highest bump, as for one lane
        return max(bumps, key=lambda b: b.height).rows
    return _shared_width([b for b in bumps if b.clear])


def side_thirds(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Profiles of the left and right thirds of a lane's pixels.

    ``pixels`` are the lane's central columns (:func:`~exo_vision.blot.lanes.lane_pixels`).
    """
    third = max(pixels.shape[1] // LANE_SIDE_PARTS, 1)
    return pixels[:, :third].mean(axis=1), pixels[:, -third:].mean(axis=1)


def _side_fill(sides: tuple[np.ndarray, np.ndarray], top: int, bottom: int, size: int) -> float:
    """The lower over the higher rise of a lane's two side thirds over rows ``top:bottom`` (0 when neither rises)."""
    rises = [max(float(flattened_profile(p, size)[0][top:bottom].max(initial=0.0)), 0.0) for p in sides]
    return min(rises) / max(rises) if max(rises) > 0 else 0.0


def _shared_width(bumps: list[_Bump]) -> float:
    """The band scale from the lanes' clear bumps (see :func:`band_scale`)."""
    log_widths = np.log([b.rows for b in bumps])
    alike = np.abs(log_widths[:, None] - log_widths[None, :]) <= np.log(BAND_WIDTH_AGREEMENT)
    support = alike.sum(axis=1)
    strongest = max(range(len(bumps)), key=lambda i: bumps[i].height)
    if support[strongest] > 1 or support.max() == 1:
        return bumps[strongest].rows
    shared = max(np.flatnonzero(support > 1), key=lambda i: bumps[i].height)
    if bumps[strongest].rows > bumps[shared].rows:
        return bumps[strongest].rows
    # a thinner bump than a width other lanes share, in its lane alone: a mark, not a band
    return bumps[shared].rows


def half_height_rows(profile: np.ndarray, top: int, bottom: int) -> int:
    """Rows around a band's highest point that stay above half its rise over the band's lowest row."""
    seg = ndi.gaussian_filter1d(np.asarray(profile, dtype=np.float64), 1.0)[top:bottom]
    if seg.size == 0:
        return 0
    r = int(np.argmax(seg))
    above = seg > seg.min() + (seg[r] - seg.min()) / 2
    a, b = r, r
    while a > 0 and above[a - 1]:
        a -= 1
    while b < seg.size - 1 and above[b + 1]:
        b += 1
    return b - a + 1


def not_taller(
    cands: list[list],
    profiles,
    lanes,
    scale: float | None,
    params: BlotParameters,
    saturated_rows: Sequence[np.ndarray] | None = None,
) -> list[list]:
    """Drop bumps much taller (at half height) than the strip's strongest band (a blotch), unless strong themselves.

    A bump that holds a saturated pixel (``saturated_rows``: per lane, rows with one) is kept whatever its
    height: a blotch of the membrane's background never reaches the detector's or the export's clipping
    level, and an over-exposed band runs together with its neighbours into a tall, flat-topped bump.
    """
    if scale is None or not params.drop_tall_bands:
        return cands
    strongest = max((b.prominence for c in cands for b in c), default=0.0)
    limit = params.max_height_band_heights * scale
    sat = saturated_rows if saturated_rows is not None else [None] * len(lanes)
    return [
        [
            b
            for b in c
            if b.prominence >= params.tall_keep_prominence * strongest
            or half_height_rows(prof, b.y_top_px - lane.y_top_px, b.y_bottom_px - lane.y_top_px) <= limit
            or (rows is not None and bool(rows[b.y_top_px - lane.y_top_px : b.y_bottom_px - lane.y_top_px].any()))
        ]
        for c, prof, lane, rows in zip(cands, profiles, lanes, sat)
    ]


def not_on_floor(cands: list[list], image: np.ndarray, lanes, strip: Strip) -> list[list]:
    """Drop bumps that continue onto the camera floor beside the membrane: pen strokes, never bands.

    A band lies on the membrane. Columns within :data:`FLOOR_SEARCH_LANE_WIDTHS` lane widths of a lane's
    centre that stand at the camera floor for most of the strip's rows (under
    :attr:`Strip.lowest_membrane_level`) are floor; a bump whose centre rows are lit there
    (:data:`FLOOR_LIT_FRACTION` of the way from the floor to the membrane level, in the median of
    2 x :data:`FLOOR_CENTRE_ROWS` + 1 rows) is a mark written across the membrane's edge (a hand-written
    ladder). Strips whose floor was not seen keep every bump.
    """
    low, floor, membrane = strip.lowest_membrane_level, strip.floor_level, strip.membrane_level
    if low is None or floor is None or membrane is None:
        return cands
    step = max((strip.y_bottom_px - strip.y_top_px) // FLOOR_SAMPLE_ROWS, 1)
    on_floor = median_along(image[strip.y_top_px : strip.y_bottom_px : step], 0) < low
    if not on_floor.any():
        return cands
    lit = floor + FLOOR_LIT_FRACTION * (membrane - floor)
    out = []
    for c, lane in zip(cands, lanes):
        kept = []
        for b in c:
            x = float(lane.centre_x(b.y_px))
            reach = FLOOR_SEARCH_LANE_WIDTHS * lane.width_px
            c0, c1 = max(int(np.floor(x - reach)), 0), min(int(np.ceil(x + reach)) + 1, image.shape[1])
            floor_cols = np.flatnonzero(on_floor[c0:c1]) + c0
            if floor_cols.size:
                # floor just above and below the bump too: a pen stroke crosses the floor there; a membrane edge
                # at a slant (a turned frame) is floor for most rows but membrane all along the bump's rows
                above = image[max(b.y_top_px - FLOOR_LOCAL_ROWS, strip.y_top_px) : b.y_top_px, floor_cols]
                below = image[b.y_bottom_px : min(b.y_bottom_px + FLOOR_LOCAL_ROWS, strip.y_bottom_px), floor_cols]
                near = np.vstack([a for a in (above, below) if a.size]) if (above.size or below.size) else None
                if near is not None:
                    floor_cols = floor_cols[np.median(near, axis=0) < low]
            r = int(round(b.y_px))
            centre_rows = image[max(r - FLOOR_CENTRE_ROWS, 0) : r + FLOOR_CENTRE_ROWS + 1, floor_cols]
            if floor_cols.size and np.median(centre_rows, axis=0).max() > lit:
                continue
            kept.append(b)
        out.append(kept)
    return out


#: :func:`spans_lane` reads a band's peak column from its column sums smoothed over this fraction of the columns
#: (a column's pixel noise averages out; a dot keeps its area).
LANE_WIDE_SMOOTH_FRACTION = 1 / 8


def spans_lane(net: np.ndarray, *, fraction: float) -> bool:
    """Whether a band runs across its lane rather than sitting in a small part of it (a speck, a dot, a blob).

    Parameters
    ----------
    net : (R, C) ndarray
        The band's pixels over the lane's central columns, background removed (intensity per pixel).
    fraction : float
        Least effective width of a band, as a fraction of the ``C`` columns
        (``BlotParameters.band_lane_wide_fraction``); 0 accepts every band.

    Returns
    -------
    bool
        True when the band's equivalent width (the sum of its positive column sums over the highest of them,
        smoothed over :data:`LANE_WIDE_SMOOTH_FRACTION` of the columns) is at least ``fraction * C`` columns. A band
        that fills its lane is about ``C`` wide, one twice as strong at one edge as at the other two thirds of it,
        a round dot a tenth or two. Noise adds width (its positive part spreads over every column) and barely
        raises the smoothed peak, so a faint band near its limit of detection is not refused for its noise.
    """
    columns = np.asarray(net, dtype=np.float64).sum(axis=0)
    n = columns.size
    if fraction <= 0 or n < 2:
        return True
    peak = float(ndi.uniform_filter1d(columns, max(1, int(n * LANE_WIDE_SMOOTH_FRACTION)), mode="nearest").max())
    if peak <= 0:
        return True
    return float(np.clip(columns, 0, None).sum()) >= fraction * n * peak


def clears_every_part(net: np.ndarray, *, part_lod: float, parts: int = LANE_SIDE_PARTS) -> bool:
    """Whether a band's net signal clears the limit of detection of a part of its lane in each of ``parts`` parts.

    A speck, a dot or a blob lies in a small part of its lane and leaves at least one part of the lane's columns
    with nothing to detect; a band loaded across the lane is detected in every part of it, however unevenly it
    is loaded (a band several times brighter at one edge, or patchy, reads narrow to :func:`spans_lane`).

    Parameters
    ----------
    net : (R, C) ndarray
        The band's pixels over the lane's central columns, background removed (intensity per pixel).
    part_lod : float
        Limit of detection of a volume over one part's columns (intensity x px;
        :meth:`~exo_vision.blot.detection.NoiseEstimate.part_lod`).
    parts : int
        The lane's columns are cut into this many equal parts (:data:`LANE_SIDE_PARTS`, its thirds).

    Returns
    -------
    bool
        True when the net volume over each part's columns exceeds ``part_lod`` (False with fewer columns than
        parts).
    """
    columns = np.asarray(net, dtype=np.float64).sum(axis=0)
    if columns.size < parts:
        return False
    return all(float(part.sum()) > part_lod for part in np.array_split(columns, parts))


#: :func:`one_spot` finds a window's brightest point on its net pixels smoothed by a Gaussian of this SD (px).
SPOT_SMOOTH_PX = 1.0
#: A spot's brightest point stands at least this many pixel-noise SDs (unsmoothed pixels) over the background: a
#: speck of dust is a bright dot, a band faint enough to be near its limit of detection lies within pixel noise.
SPOT_PEAK_NOISE_SDS = 6.0
#: A spot is at most this share of the lane's central columns wide at half its highest column sum ...
SPOT_MAX_COLUMN_SHARE = 1 / 3
#: ... and holds at least this share of the window's net volume in its columns: those out from its brightest column
#: while the (smoothed) column sums fall and stay this many column-sum noise SDs high (its tails included).
SPOT_MIN_VOLUME_SHARE = 0.5
SPOT_EDGE_NOISE_SDS = 2.0


def one_spot(net: np.ndarray, *, pixel_sd: float, lod: float) -> tuple[bool, int]:
    """Whether a window's net signal is one compact spot (a speck of dust) in an otherwise empty window.

    Parameters
    ----------
    net : (R, C) ndarray
        The window's pixels over the lane's central columns, background removed (intensity per pixel).
    pixel_sd : float
        The strip's pixel noise SD (intensity).
    lod : float
        The window's limit of detection (intensity x px).

    Returns
    -------
    (bool, int)
        True when the window's brightest point (net pixels smoothed over :data:`SPOT_SMOOTH_PX`) stands at least
        :data:`SPOT_PEAK_NOISE_SDS` pixel-noise SDs high, the column sums around it are at most
        :data:`SPOT_MAX_COLUMN_SHARE` of the lane wide at half height, the spot's columns (out to where its column
        sums stop falling or sink to :data:`SPOT_EDGE_NOISE_SDS` column-sum noise SDs) hold at least
        :data:`SPOT_MIN_VOLUME_SHARE` of the window's net volume, and the other columns, their volume scaled up to
        the lane's width, stay under ``lod``: a band loaded in the lane runs across it and takes more than one
        dot's columns to clear its LoD. With the brightest point's column (from the window's first column).
    """
    net = np.asarray(net, dtype=np.float64)
    rows, n = net.shape if net.ndim == 2 else (0, 0)
    if rows == 0 or n < LANE_SIDE_PARTS:
        return False, 0
    smooth = ndi.gaussian_filter(net, SPOT_SMOOTH_PX, mode="nearest")
    c = int(np.unravel_index(int(np.argmax(smooth)), smooth.shape)[1])
    if smooth.max() < SPOT_PEAK_NOISE_SDS * pixel_sd:
        return False, c
    columns = ndi.gaussian_filter1d(net.sum(axis=0), SPOT_SMOOTH_PX, mode="nearest")
    if int(np.count_nonzero(columns > columns[c] / 2)) > SPOT_MAX_COLUMN_SHARE * n:
        return False, c
    a, b = _falling_run(columns, c, SPOT_EDGE_NOISE_SDS * pixel_sd * np.sqrt(rows))
    total, inside = float(net.sum()), float(net[:, a:b].sum())
    if b - a >= n or total <= 0 or inside < SPOT_MIN_VOLUME_SHARE * total:
        return False, c
    return (total - inside) * n / (n - (b - a)) < lod, c


def _falling_run(values: np.ndarray, i: int, floor: float) -> tuple[int, int]:
    """``(first, one past last)`` index of the run around ``i`` over which ``values`` fall away from ``i`` and stay
    above ``floor``."""
    a, b = i, i + 1
    while a > 0 and floor < values[a - 1] < values[a]:
        a -= 1
    while b < values.size and floor < values[b] < values[b - 1]:
        b += 1
    return a, b
