"""A band's horizontal extent, read from its own cross-lane profile, and the volume it holds there.

A lane's band is detected and called present or absent on the lane's central columns
(``central_fraction`` of a width shared by the lanes of a set), but a chemiluminescent band's signal is
spread over its own width: a wide (over-loaded, spread) band holds more of its volume outside those columns
than a narrow one, so a fixed share of the lane reads wide bands low against narrow ones, biasing the
ratios between lanes. Here each band's *net column profile* (per column: the window's rows summed, less a
straight background line per column between the rows just above and just below the band's run of touching
bands) is read across the lane and past its edges, up to the centres of the neighbouring lanes (never past
the strip), and the band's extent runs from the central columns over the band's body and down its falling
flank to its foot (:data:`FOOT_FRACTION` of its height over the central columns), or to where the flank stops
falling before that: the valley before a neighbour's band on the same row, or the floor a blotch leaves.

The central-column measurement keeps its background, LoD and present/absent call; the band's *width gain*
(its net column profile summed over its extent over the same sum over the central columns) carries it to the
whole band: ``volume``, ``lod_volume`` and ``noise_sd_volume`` are multiplied by it (so ``snr`` and the call
are unchanged), and the band's box spans its extent. Only a band whose foot stands clear of the profile's noise
(:data:`RELIABLE_NOISE_SDS`) and, on an 8-bit export whose noise is under a grey level, of the rounding (one level
per pixel) is measured so: a foot in the noise ends where the noise happens to dip, and flanks under a grey level
round away (a faint lane of a dilution series read 12 % high or 1.5 % low on an 8-bit export). Every other window
(faint, absent, interpolated, below its LoD) takes the median gain and extent of its band row's reliable bands
(the row's bands share their shape), or with none there of the strip's: a faint member of a row is carried to its
whole band as the row's strong ones are, the ratios between the lanes of such a row stay those of their central
columns, and an absent window's LoD and upper bound are those of a band shaped as its row's, in the units its
present neighbours are measured in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.robust import mad_sd
from exo_vision.blot.lanes import Lane

#: A band's extent ends where its smoothed net column profile falls to this fraction of its highest value over
#: the lane's central columns: its foot, so that the volume summed holds nearly all of the band.
FOOT_FRACTION = 0.05
#: The band's body: the columns where its smoothed net column profile stands over this fraction of its height. Past
#: it the extent follows the band's falling flank only: where the profile rises again before the foot, a neighbour's
#: band or the membrane's floor (a blotch left by the straight background line) begins.
BODY_FRACTION = 0.25
#: ... and where it falls by less than this fraction of the band's height per column (its knee: the flank of a band
#: falls steeply to its foot, a floor left by a blotch does not fall)
KNEE_SLOPE_FRACTION = 0.02
#: Gaussian smoothing (SD, columns) of the net column profile before its foot is looked for: the background line
#: of each column is read from a few rows only, and one noisy column must not end the band.
PROFILE_SMOOTH_PX = 1.5
#: Variance of the second differences of white noise, in units of its variance: the profile's noise is read from
#: them (robust), which a band's own slopes and its uneven loading across the well barely raise.
SECOND_DIFFERENCE_VARIANCE = 6.0
#: The noise SD of the smoothed profile over that of the profile (white noise under a Gaussian of
#: :data:`PROFILE_SMOOTH_PX`: the root of the sum of its squared weights, 1 / sqrt(2 sqrt(pi) SD)).
SMOOTHED_NOISE_SHARE = 1 / np.sqrt(2 * np.sqrt(np.pi) * PROFILE_SMOOTH_PX)
#: A band's own extent is used only when its foot (:data:`FOOT_FRACTION` of its height) stands at least this many
#: noise SDs of the smoothed net column profile (read from its second differences, robust): a foot in the noise
#: ends where the noise happens to dip, which biases faint bands.
RELIABLE_NOISE_SDS = 2.0
#: Two bands of neighbouring lanes that touch part at the lowest column between them where the profile dips there
#: under this fraction of the lower band's height (and :data:`RELIABLE_NOISE_SDS` noise SDs below it): the two bands
#: are resolved. A shallower dip is the noise on the weaker band's plateau, or its shoulder under the stronger band's
#: flank, and says nothing of where one band ends.
VALLEY_DEPTH_FRACTION = 0.5
#: A band's edges are its own (its extent reliable) while its foot, the higher of :data:`FOOT_FRACTION` of its height
#: and :data:`RELIABLE_NOISE_SDS` noise SDs of the smoothed profile, stays at most this fraction of its height: a
#: flank read down to there leaves under it at most 5 % of a band whose cross-lane profile is a Gaussian (1.4 % at
#: :data:`FOOT_FRACTION`), where a width borrowed from the band row's other members, loaded differently and spread
#: to another width, is off by as much as their widths differ.
OWN_EDGE_FRACTION = 0.15
#: An end lane (no neighbour on one side) is searched on that side as far as on its other side, or, alone in
#: its strip, this many lane widths from its centre.
LONE_LANE_WIDTHS = 1.0


@dataclass(frozen=True)
class BandExtent:
    """Where a band lies across its lane and how much of it the central columns hold.

    Attributes
    ----------
    left, right : int
        Columns added to the lane's central columns on the left and on the right (>= 0).
    gain : float
        The band's net column profile summed over its extent over the same sum over the central columns
        (NaN when the central columns hold no net signal).
    reliable : bool
        Whether the band's edges are its own (see :func:`band_extent`).
    profile : ProfileSpan, optional
        The net column profile the extent was read from, for :func:`parted` and for a borrowed width summed on the
        band's own profile (None on a median or fixed extent).
    """

    left: int
    right: int
    gain: float
    reliable: bool = True
    profile: ProfileSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ProfileSpan:
    """A band's net column profile as :func:`band_extent` read it, kept so that neighbouring bands can be parted.

    Attributes
    ----------
    net, smooth : (K,) ndarray
        The net column profile and its smoothed copy (:data:`PROFILE_SMOOTH_PX`).
    x0 : int
        Image column of ``net[0]`` at the window's middle row.
    c0, n_central : int
        Index of the first central column in ``net``, and the number of central columns.
    central : float
        ``net`` summed over the central columns (the gain's denominator).
    open_sides : (bool, bool)
        Whether the extent's left and right side stopped short of the band's foot (at a valley or knee before a
        neighbour's band, or at the end of the search): such a side may be carried on to the parting.
    neighbours : (bool, bool)
        Whether a lane of the strip lies to the left and to the right of the band's lane.
    """

    net: np.ndarray
    smooth: np.ndarray
    x0: int
    c0: int
    n_central: int
    central: float
    open_sides: tuple[bool, bool]
    neighbours: tuple[bool, bool] = (True, True)


def _search_span(lane: Lane, lanes: Sequence[Lane], mid: float, n_central: int) -> tuple[float, float]:
    """Columns (px from the first central column) the extent may reach: up to the neighbouring lanes' centres
    at row ``mid``; an end lane as far on its open side as on its other (:data:`LONE_LANE_WIDTHS` lane widths
    alone)."""
    c = float(lane.centre_x(mid))
    others = [float(o.centre_x(mid)) - c for o in lanes if o is not lane]
    lone = LONE_LANE_WIDTHS * lane.width_px
    left = max((d for d in others if d < 0), default=-np.inf)
    right = min((d for d in others if d > 0), default=np.inf)
    if not np.isfinite(left) and not np.isfinite(right):
        left, right = -lone, lone
    elif not np.isfinite(left):
        left = -right
    elif not np.isfinite(right):
        right = -left
    centre = (n_central - 1) / 2
    return centre + left, centre + right


def _lane_room(lane: Lane, mid: float, n_central: int) -> tuple[int, int]:
    """Columns between the lane's central columns and its edges (left, right) at row ``mid``, as
    :meth:`~exo_vision.blot.lanes.Lane.columns` places both."""
    n_full = max(n_central, int(np.floor(lane.width_px + 0.5)))
    centre = float(lane.centre_x(mid))
    full = int(np.floor(centre - (n_full - 1) / 2 + 0.5))
    central = int(np.floor(centre - (n_central - 1) / 2 + 0.5))
    return max(0, central - full), max(0, full + n_full - central - n_central)


def net_column_profile(
    signal: np.ndarray,
    lane: Lane,
    rows: tuple[int, int],
    outside: tuple[int, int],
    offsets: np.ndarray,
    *,
    n_central: int,
    border_px: int,
    x_range_px: tuple[int, int],
    bend: np.ndarray | None = None,
) -> np.ndarray | None:
    """Net signal per column of a band window, following the lane's tilt.

    Parameters
    ----------
    signal : (M, N) ndarray
        Blot in signal orientation (dust and writing removed).
    lane : Lane
        The band's lane.
    rows : (int, int)
        Image rows of the band window (first, one past last).
    outside : (int, int)
        Image rows of the band's run of touching bands; the ``border_px`` rows just outside them give each
        column's background (a straight line between the two, or the one side that lies on the lane).
    offsets : (K,) ndarray of int
        Columns read, from the lane's first central column at each row (0 .. ``n_central`` - 1 are the central
        columns of :func:`~exo_vision.blot.lanes.lane_pixels`).
    n_central : int
        Central columns of the lane.
    border_px : int
        Background rows on each side.
    x_range_px : (int, int)
        Columns (first, one past last) that may be read (the strip); columns outside read as their nearest.
    bend : (R,) ndarray, optional
        Per window row, what the lane's background bends off its straight line (the curvature of a blotchy
        membrane that the strips beside the lane show, :func:`~exo_vision.blot.background.band_background`): taken
        off every column too.

    Returns
    -------
    (K,) ndarray of float64, or None
        Per column, the window's rows summed less their background (intensity x rows); None without
        background rows on either side.
    """
    top, bottom = rows
    above = np.arange(max(lane.y_top_px, outside[0] - border_px), max(lane.y_top_px, outside[0]))
    below = np.arange(min(lane.y_bottom_px, outside[1]), min(lane.y_bottom_px, outside[1] + border_px))
    if not above.size and not below.size:
        return None
    first = np.floor(lane.centre_x(np.arange(lane.y_top_px, lane.y_bottom_px)) - (n_central - 1) / 2 + 0.5)
    first = first.astype(int)

    def read(r: np.ndarray) -> np.ndarray:
        cols = np.clip(first[r - lane.y_top_px][:, None] + offsets[None, :], x_range_px[0], x_range_px[1] - 1)
        return signal[r[:, None], cols].astype(np.float64)

    window = read(np.arange(top, bottom))
    levels = [(read(r).mean(axis=0), float(r.mean())) for r in (above, below) if r.size]
    if len(levels) == 1:
        line = np.repeat(levels[0][0][None, :], bottom - top, axis=0)
    else:
        (a, ya), (b, yb) = levels
        t = ((np.arange(top, bottom) - ya) / (yb - ya))[:, None]
        line = a[None, :] + t * (b - a)[None, :]
    net = window - line
    if bend is not None:
        net = net - np.asarray(bend, dtype=np.float64)[:, None]
    return net.sum(axis=0)


def band_extent(
    signal: np.ndarray,
    lane: Lane,
    lanes: Sequence[Lane],
    rows: tuple[int, int],
    outside: tuple[int, int],
    *,
    n_central: int,
    border_px: int,
    x_range_px: tuple[int, int],
    step: float | None = None,
    bend: np.ndarray | None = None,
    clipped: bool = False,
) -> BandExtent:
    """The extent of the band in ``rows`` of ``lane`` across the lane, and its width gain (see the module).

    From each edge of the central columns the extent grows outward while the smoothed net column profile
    (:func:`net_column_profile`) stays above :data:`FOOT_FRACTION` of its highest value over the central
    columns, up to the neighbouring lane's centre (``lanes``: the strip's lanes); where it never falls that low
    before that centre (a neighbour's band on the same row touches it), it stops at the lowest column between
    them: the valley between the two bands. A dip inside the band (uneven loading across the well) does not end
    it, nor does a band lying off its lane's centre. On a band holding clipped pixels (``clipped``) a side whose body
    (:data:`BODY_FRACTION` of the height) runs on to the neighbour's centre ends at the lane's edge at most: clipping
    flattens the bands of a joined run and the bridges between them alike, and the valley left is no edge of the
    band. A band whose body runs on to both ends of the search (a glow across the lanes) has no edge of its own: its
    extent is not reliable (the band takes its row's, :func:`widened`).

    Otherwise the extent is reliable when its foot stands :data:`RELIABLE_NOISE_SDS` noise SDs of the smoothed profile
    and, given ``step`` (the grey-level step of an image whose pixel noise is under a step, so that rounding is not
    dithered: an 8-bit export's staircase), at least one step per pixel of the window's rows: a foot under it is
    rounded away.

    Returns
    -------
    BandExtent
        No columns added and a NaN gain when the central columns hold no net signal.
    """
    mid = (rows[0] + rows[1] - 1) / 2
    lo, hi = _search_span(lane, lanes, mid, n_central)
    # never past the strip: the first central column of each of the window's rows, read from there
    starts = np.floor(lane.centre_x(np.arange(*rows)) - (n_central - 1) / 2 + 0.5)
    first = max(int(np.ceil(lo)) + 1, int(x_range_px[0] - starts.min()))
    last = min(int(np.floor(hi)) - 1, int(x_range_px[1] - 1 - starts.max()))
    first, last = min(first, 0), max(last, n_central - 1)
    offsets = np.arange(first, last + 1)
    net = net_column_profile(
        signal, lane, rows, outside, offsets, n_central=n_central, border_px=border_px, x_range_px=x_range_px, bend=bend
    )
    none = BandExtent(0, 0, float("nan"), False)
    if net is None:
        return none
    c0 = -first  # index of the first central column in ``offsets``
    central = float(net[c0 : c0 + n_central].sum())
    smooth = ndi.gaussian_filter1d(net, PROFILE_SMOOTH_PX, mode="nearest")
    height = float(smooth[c0 : c0 + n_central].max())
    if not central > 0 or not height > 0:
        return none
    # the foot is judged against the noise as well as the band's height: a weaker band's foot sits where its flank
    # stands clear of the noise, and its edges are its own when that level is still low on the band
    noise = mad_sd(np.diff(net, n=2)) / np.sqrt(SECOND_DIFFERENCE_VARIANCE)
    foot = max(FOOT_FRACTION * height, RELIABLE_NOISE_SDS * noise * SMOOTHED_NOISE_SHARE)
    body, slope = BODY_FRACTION * height, KNEE_SLOPE_FRACTION * height
    left_out = smooth[c0 - 1 :: -1] if c0 > 0 else smooth[:0]
    reach_left, joined_left = _reach(left_out, foot, body, slope)
    reach_right, joined_right = _reach(smooth[c0 + n_central :], foot, body, slope)
    open_sides = (_open(left_out, reach_left, foot), _open(smooth[c0 + n_central :], reach_right, foot))
    hide_left, hide_right = (
        _hidden(left_out, joined_left, height),
        _hidden(smooth[c0 + n_central :], joined_right, height),
    )
    # one edge hidden under a stronger neighbour's flank: the band's width is read on its other edge, the band taken
    # as centred on its lane (as the lane finder placed it)
    if hide_left and not hide_right:
        reach_left = min(reach_right, left_out.size)
    elif hide_right and not hide_left:
        reach_right = min(reach_left, net.size - c0 - n_central)
    hidden = hide_left and hide_right
    if clipped:
        # clipping flattens a joined run of over-exposed bands and the bridges between them alike: the valley left is
        # no edge of the band, and a joined side ends at the lane's edge
        room = _lane_room(lane, mid, n_central)
        reach_left = min(reach_left, room[0]) if joined_left else reach_left
        reach_right = min(reach_right, room[1]) if joined_right else reach_right
        # a side capped at the lane's edge is never carried on past it
        open_sides = (open_sides[0] and not joined_left, open_sides[1] and not joined_right)
    # a band whose body runs on to both ends of the search (a glow across the lanes) shows no edge of its own
    right_size = net.size - c0 - n_central
    edgeless = joined_left and joined_right and reach_left == left_out.size and reach_right == right_size
    a, b = c0 - reach_left, c0 + n_central + reach_right
    # the smoothing carries a sharp edge a column or two past the band: columns that plainly hold less than the
    # foot are no part of it (a column under the foot by less than the noise may be, and stays)
    clear = foot - RELIABLE_NOISE_SDS * noise
    while a < c0 and net[a] <= clear:
        a += 1
    while b > c0 + n_central and net[b - 1] <= clear:
        b -= 1
    # where noise is under a grey level, a foot under one step per pixel is rounded away (an 8-bit export's faint band)
    above_step = step is None or foot >= step * (rows[1] - rows[0])
    reliable = bool(foot <= OWN_EDGE_FRACTION * height and above_step and not edgeless and not hidden)
    gain = float(net[a:b].sum()) / central
    x0 = int(np.floor(lane.centre_x(mid) - (n_central - 1) / 2 + 0.5)) + first
    centre = float(lane.centre_x(mid))
    sides = [float(o.centre_x(mid)) - centre for o in lanes if o is not lane]
    neighbours = (any(d < 0 for d in sides), any(d > 0 for d in sides))
    span = ProfileSpan(net, smooth, x0, c0, n_central, central, open_sides, neighbours)
    return BandExtent(c0 - a, b - c0 - n_central, gain, reliable, span)


def _open(outward: np.ndarray, reach: int, foot: float) -> bool:
    """Whether a side that reached ``reach`` columns of ``outward`` stopped short of the band's foot (``foot``)."""
    return bool(reach >= outward.size or outward[reach] > foot)


def _reach(outward: np.ndarray, foot: float, body: float, slope: float) -> tuple[int, bool]:
    """Columns of ``outward`` (a smoothed net column profile read from a central edge out to the neighbouring lane's
    centre, or to the strip's edge) that belong to the band.

    The band's body (the columns over ``body``; a dip there is the band's own) and then its falling flank, up to
    the first column at or under ``foot`` or to the lowest before the profile rises again (the valley before a
    neighbour's band, or the membrane's floor where a blotch holds it over the foot). When the body runs on to the
    end, the columns before the lowest (the valley between two bands that run together), or all of them when the
    lowest is the last (the band runs on to the strip's edge); the flag says the body ran on so (the band is
    joined to its neighbour's, or to a glow).
    """
    n = outward.size
    j = 0
    while j < n and outward[j] > body:
        j += 1
    if j == n:
        if not n:
            return 0, False
        valley = int(np.flatnonzero(outward == outward.min())[-1])
        return (n if valley == n - 1 else valley), True
    while j < n and outward[j] > foot:
        if j > 0 and outward[j] > outward[j - 1] - slope:
            return j, False
        j += 1
    return j, False


def _central_span(span: ProfileSpan) -> tuple[int, int]:
    """Image columns (first, one past last) of the central columns of ``span`` at the window's middle row."""
    return span.x0 + span.c0, span.x0 + span.c0 + span.n_central


def _parting(a: ProfileSpan, b: ProfileSpan, reach_a: int, reach_b: int) -> int:
    """The image column where the band of ``b`` begins and that of ``a`` (its left neighbour in the row) ends.

    Read on the two profiles' mean over the stretch between the bands' central columns. Where it dips there under
    :data:`VALLEY_DEPTH_FRACTION` of the lower band's height (the bands are resolved), the lowest column: the valley
    between them. Otherwise the stretch holds the falling flank of one band and the rising flank of the other with no
    column that tells them apart, and it is shared by what each band holds on its other side over the same distances
    from its lane's centre (its far flank, read no further than its extent there, ``reach_a`` columns left of ``a``'s
    central columns and ``reach_b`` right of ``b``'s): a band's two flanks are alike, and bands of one row need not
    share their width (a wide, overloaded lysate beside a narrow EV band). Where either band's far side stops short of
    its foot (a neighbour's flank joins it there), by the bands' own heights (their central columns' mean net
    signal), as bands of one row alike in shape hold them. ``a`` takes the columns from its side whose sum comes
    nearest to its share of the stretch.
    """
    lo = max(_central_span(a)[1], b.x0)
    hi = min(_central_span(b)[0], a.x0 + a.net.size)
    if hi <= lo:
        return (lo + hi) // 2
    x = np.arange(lo, hi)
    smooth = (a.smooth[x - a.x0] + b.smooth[x - b.x0]) / 2
    heights = [float(s.smooth[s.c0 : s.c0 + s.n_central].max()) for s in (a, b)]
    noise = max(mad_sd(np.diff(s.net, n=2)) / np.sqrt(SECOND_DIFFERENCE_VARIANCE) for s in (a, b))
    lowest = int(np.argmin(smooth))
    resolved = float(smooth[lowest]) < VALLEY_DEPTH_FRACTION * min(heights)
    if resolved and min(heights) - float(smooth[lowest]) > RELIABLE_NOISE_SDS * noise * SMOOTHED_NOISE_SHARE:
        return int(x[lowest])
    levels = [_far_flank(a, x, reach_a, right=True), _far_flank(b, x, reach_b, right=False)]
    if not (np.isfinite(levels).all() and min(levels) > 0):
        levels = [s.central / s.n_central for s in (a, b)]
    net = (a.net[x - a.x0] + b.net[x - b.x0]) / 2
    total = float(net.sum())
    if not (total > 0 and min(levels) > 0):
        return (lo + hi) // 2
    share = total * levels[0] / (levels[0] + levels[1])
    sums = np.concatenate([[0.0], np.cumsum(net)])
    return lo + int(np.argmin(np.abs(sums - share)))


def _far_flank(span: ProfileSpan, x: np.ndarray, reach: int, *, right: bool) -> float:
    """What the band of ``span`` holds on its far side at the distances from its lane's centre of image columns
    ``x``, which lie to its right (``right``) or left: its smoothed net profile mirrored about the centre of its
    central columns, read no further than ``reach`` columns past them (its extent on that side), negative values
    taken as 0. NaN when that side stopped short of the band's foot (``open_sides``) towards a neighbouring lane:
    the neighbour's flank joins it there, and it holds more than the band's own flank (an end lane's open side, cut
    short by the strip's edge, holds less, and still tells a wide band from a narrow one)."""
    side = 0 if right else 1
    if span.open_sides[side] and span.neighbours[side]:
        return float("nan")
    mirror = np.rint(2 * (span.c0 + (span.n_central - 1) / 2) - (x - span.x0)).astype(int)
    if right:
        inside = mirror >= max(0, span.c0 - reach)
    else:
        inside = mirror < min(span.net.size, span.c0 + span.n_central + reach)
    return float(np.clip(span.smooth[mirror[inside]], 0, None).sum())


def _carried(e: BandExtent, left: int | None, right: int | None) -> BandExtent:
    """``e`` with its left and right added columns set to ``left`` and ``right`` (None: kept), its gain read again."""
    s = e.profile
    if s is None:
        return e
    n_left = e.left if left is None else int(np.clip(left, 0, s.c0))
    n_right = e.right if right is None else int(np.clip(right, 0, s.net.size - s.c0 - s.n_central))
    gain = float(s.net[s.c0 - n_left : s.c0 + s.n_central + n_right].sum()) / s.central
    return replace(e, left=n_left, right=n_right, gain=gain)


def parted(measured: list[dict], lanes: Sequence[Lane]) -> None:
    """Part the extents of neighbouring bands of one band row that meet or overlap, in place (``extent`` of each
    record of ``measured``, as :func:`widened` reads them).

    Each band's extent is read from its own profile up to the neighbouring lanes' centres, so a strong band's flank
    runs on into a weaker neighbour's shoulder, and the weaker band's extent stops where the stronger band's flank
    begins to rise. Where two bands of neighbouring lanes in one row (both present, detected, with an extent of their
    own) overlap, meet, or both stopped short of their feet towards each other, they part at the column
    :func:`_parting` gives: a side past it is cut back to it, and a side that stopped short of its foot is carried on
    to it, so every column is summed into one lane at most and each band holds its whole side up to the parting.
    A parted record's ``parting`` holds the image columns it was parted at (first, one past last; None: not parted on
    that side), which bound its box: the box's rows of a tilted lane reach a column or two past the parting read at
    the window's middle row, and a record that takes its row's extent (a band whose foot lies in the noise) is drawn
    no further than its parting.
    """
    order = sorted(lanes, key=lambda lane: float(lane.centre_x((lane.y_top_px + lane.y_bottom_px) / 2)))
    rank = {lane.index: i for i, lane in enumerate(order)}
    rows: dict[object, dict[int, dict]] = {}
    for m in measured:
        if _own(m, reliable=False) and m["extent"].profile is not None and m["lane"] in rank:
            rows.setdefault(m["band"], {})[rank[m["lane"]]] = m
    for row in rows.values():
        for i in sorted(row):
            if i + 1 not in row:
                continue
            ma, mb = row[i], row[i + 1]
            ea, eb = ma["extent"], mb["extent"]
            a, b = ea.profile, eb.profile
            end_a = _central_span(a)[1] + ea.right
            start_b = _central_span(b)[0] - eb.left
            if end_a < start_b and not (a.open_sides[1] and b.open_sides[0]):
                # apart, and one of them ends at its foot: what stopped the other short is no band of this pair
                continue
            cut = _parting(a, b, ea.left, eb.right)
            right = cut - _central_span(a)[1] if end_a > cut or a.open_sides[1] else None
            left = _central_span(b)[0] - cut if start_b < cut or b.open_sides[0] else None
            ma["extent"], mb["extent"] = _carried(ea, None, right), _carried(eb, left, None)
            ma["parting"] = (ma.get("parting", (None, None))[0], cut)
            mb["parting"] = (cut, mb.get("parting", (None, None))[1])


def _hidden(outward: np.ndarray, joined: bool, height: float) -> bool:
    """Whether a side of a band (``outward``: its smoothed net column profile read from a central edge outward,
    ``joined``: its body ran on to the end, :func:`_reach`) hides the band's edge: the band shows no flank there (the
    profile never falls :data:`BODY_FRACTION` of ``height`` under it) before a neighbour's band rises whose own foot
    stands over this band's ceiling for a foot of its own (:data:`OWN_EDGE_FRACTION`). The valley between the two
    lies where the stronger flank meets this band's top, not at its edge."""
    if not (joined and outward.size):
        return False
    flat = float(outward.min()) > (1.0 - BODY_FRACTION) * height
    return bool(flat and FOOT_FRACTION * float(outward.max()) > OWN_EDGE_FRACTION * height)


def _median_extent(extents: list[BandExtent]) -> BandExtent | None:
    """The median added columns and gain of ``extents`` (None when there are none)."""
    if not extents:
        return None
    return BandExtent(
        int(round(float(np.median([e.left for e in extents])))),
        int(round(float(np.median([e.right for e in extents])))),
        float(np.median([e.gain for e in extents])),
    )


def _own(m: dict, *, reliable: bool) -> bool:
    """Whether record ``m`` is a present detected band with an extent of its own (a reliable one if ``reliable``)."""
    e = m.get("extent")
    if e is None or not (m["present"] and m["detected"]):
        return False
    return bool(np.isfinite(e.gain) and e.gain > 0 and (e.reliable or not reliable))


def _extent_of(m: dict, measured: list[dict]) -> tuple[BandExtent, str]:
    """The extent record ``m`` of the strip's records ``measured`` is carried by (see :func:`widened`), and where it
    comes from: "own", "row", "strip" or "central" (no extent at all: the central columns)."""
    if _own(m, reliable=True):
        return m["extent"], "own"
    for reliable in (True, False):
        own = [o for o in measured if _own(o, reliable=reliable)]
        for source, pool in (("row", [o for o in own if o["band"] == m["band"]]), ("strip", own)):
            shared = _median_extent([o["extent"] for o in pool])
            if shared is not None:
                return shared, source
    return BandExtent(0, 0, 1.0), "central"


def _box(m: dict, lane: Lane, e: BandExtent, fraction: float) -> np.ndarray:
    """Per window row of record ``m``, the columns of ``lane``'s central ``fraction`` widened by ``e``."""
    cols = lane.columns(np.arange(m["y_top_px"], m["y_bottom_px"]), fraction=fraction)
    return np.concatenate(
        [cols[:, :1] - np.arange(e.left, 0, -1)[None, :], cols, cols[:, -1:] + np.arange(1, e.right + 1)[None, :]],
        axis=1,
    )


def _fitted(m: dict, e: BandExtent, lane: Lane, fraction: float, others: list[tuple[int, int, int]]) -> BandExtent:
    """A borrowed extent ``e`` of record ``m`` kept off the boxes of its row's own-width bands
    in the neighbouring lanes (``others``: lane index, first column, one past the last).

    Where it is cut back, the gain is the band's own net column profile summed over the cut extent (a band measured
    on its own profile, :func:`band_extent`), or the borrowed gain cut by the share of columns it loses (a window
    without a profile of its own)."""
    cols = lane.columns(np.arange(m["y_top_px"], m["y_bottom_px"]), fraction=fraction)
    n_central = cols.shape[1]
    left, right = e.left, e.right
    for index, x0, x1 in others:
        if index < lane.index:
            left = min(left, max(0, int(cols[:, 0].min()) - x1))
        elif index > lane.index:
            right = min(right, max(0, x0 - 1 - int(cols[:, -1].max())))
    if (left, right) == (e.left, e.right):
        return e
    own = m.get("extent")
    if own is not None and own.profile is not None:
        c0, net = own.profile.c0, own.profile.net
        central = float(net[c0 : c0 + n_central].sum())
        lo, hi = max(0, c0 - left), min(net.size, c0 + n_central + right)
        if central > 0:
            return BandExtent(left, right, float(net[lo:hi].sum()) / central, False)
    share = (n_central + left + right) / (n_central + e.left + e.right)
    return BandExtent(left, right, 1.0 + (e.gain - 1.0) * share if e.gain > 1 else e.gain, False)


def widened(measured: list[dict], lanes: Sequence[Lane], saturated: np.ndarray, *, fraction: float) -> None:
    """Carry each band record of one strip from the lane's central columns to the band's extent, in place.

    A present detected band with a reliable extent of its own (``extent``, :func:`band_extent`) takes its own.
    Every other record (faint, absent, interpolated, under its LoD) takes the median of those of its band row
    (the row's bands share their shape), or with none there of the strip's (one gain for the whole row, so the
    ratios between its lanes stay those of their central columns); in a strip with no reliable extent at all, the
    median of its bands' own extents (row, then strip), and with none of those the central columns. A borrowed
    extent never reaches into the box of an own-width band of its row in the
    neighbouring lanes (:func:`_fitted`): the row's members are other samples at other loads, spread to other widths.
    ``volume``, ``lod_volume`` and ``noise_sd_volume`` are multiplied by the extent's gain; the box
    (``x_left_px``, ``x_right_px``) spans the extent, ``width_source`` says where the extent came from ("own",
    "row", "strip", or "central": no extent, the central columns), and ``saturated_px`` (``saturated``) counts the
    clipped pixels of ``saturated`` (bool image) inside it over the window's rows. Neighbouring bands of a row that
    meet are parted first (:func:`parted`), and a box never runs past its band's parting. Records need ``band``,
    ``lane`` (the index of one of ``lanes``, the strip's lanes), ``y_top_px``, ``y_bottom_px`` and ``extent``
    (BandExtent, or None: no extent of its own); ``fraction`` is the central fraction the records were measured on.
    """
    by_index = {lane.index: lane for lane in lanes}
    parted(measured, lanes)
    chosen = [_extent_of(m, measured) for m in measured]
    boxes = []
    for m, (e, source) in zip(measured, chosen, strict=True):
        if source == "own":
            cols = _box(m, by_index[m["lane"]], e, fraction)
            boxes.append((m["band"], m["lane"], int(cols.min()), int(cols.max()) + 1))
    for m, (e, source) in zip(measured, chosen, strict=True):
        lane = by_index[m["lane"]]
        if source in ("row", "strip"):
            others = [(li, x0, x1) for band, li, x0, x1 in boxes if band == m["band"]]
            e = _fitted(m, e, lane, fraction, others)
        for key in ("volume", "lod_volume", "noise_sd_volume"):
            m[key] = float(m[key]) * e.gain
        r = np.arange(m["y_top_px"], m["y_bottom_px"])
        cols = _box(m, lane, e, fraction)
        lo, hi = m.pop("parting", (None, None))
        keep = (cols >= (cols.min() if lo is None else lo)) & (cols <= (cols.max() if hi is None else hi - 1))
        if not keep.any():
            keep[:] = True
        m["x_left_px"], m["x_right_px"] = int(cols[keep].min()), int(cols[keep].max()) + 1
        m["width_source"] = source
        inside = np.clip(cols, 0, saturated.shape[1] - 1)
        m["saturated_px"] = int((saturated[r[:, None], inside] & keep).sum())
        m["saturated"] = m["saturated_px"] > 0
