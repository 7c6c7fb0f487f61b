"""Lanes placed for a count the user gave: the lanes that show bands are anchors, the others follow.

When only a few lanes of a blot hold a band (a calnexin blot: the lysate lane and perhaps one EV lane;
the rest empty membrane), the lanes without bands cannot be seen. With the lane count given they can be
placed: the lanes of one comb lie on one grid, so the anchors (the lanes found, with their centres and
width) fix the grid's pitch up to which lanes of the set they are, and the count, the room on the
strip and the membrane margins fix the rest. Every lane set that holds the anchors on its grid is
scored (:func:`place_count`), and the most plausible one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from exo_vision.blot.strips import Strip

#: Lanes of a comb are about this many lane widths (band widths at half height) apart: the prior pitch
#: (the lanes found on the real blots of ``benchmarks/blot_truth`` lie 1.08-1.32 widths apart on 11 of
#: their 14 membranes, 1.7-2.4 on the other three) ...
PRIOR_PITCH_LANE_WIDTHS = 1.2
#: ... and a set's pitch lies between one lane width (lanes never overlap) and this many.
MAX_PITCH_LANE_WIDTHS = 3.0
#: Anchors sit on a candidate grid within this share of its pitch ...
ANCHOR_GRID_TOLERANCE_PITCHES = 0.2
#: ... and a set is centred on the membrane when its middle lies within this share of a pitch of the membrane's.
CENTRED_PITCHES = 0.25
#: A set's outer lanes may reach this share of a lane width past the membrane's edge (a measured edge can sit
#: inside a dark, blotchy margin) or, when they are found lanes, past the strip's; a lane the set adds must lie
#: within the strip (the image's or crop's edge: no lane runs past it) ...
EDGE_SLACK_LANE_WIDTHS = 0.3
#: ... up to this rounding (columns).
EDGE_FIT_TOLERANCE_PX = 0.01
#: Spread (SD of the log) of real pitches about the prior, for the pitch term of a set's cost.
PITCH_SPREAD_LOG = 0.1
#: Spread (SD, pitches) of the imbalance of a set's two margins when the membrane's edges were seen (wells
#: are centred on the gel, and a strip keeps its full width) ...
MEMBRANE_MARGIN_SPREAD_PITCHES = 0.15
#: ... and when only the strip's (the image's) edges bound the lanes (a crop is only roughly centred).
STRIP_MARGIN_SPREAD_PITCHES = 1.0
#: The pitch term of a set's cost is at most this (two spreads): a pitch far from the prior is no less likely
#: for being further (the wide-gap membranes) ...
MAX_PITCH_COST = 4.0
#: ... and the margin term at most this with the membrane's edges seen (three spreads: margins that centre no
#: set, e.g. a misread or cut membrane edge, tell nothing about which one it is) ...
MAX_MEMBRANE_MARGIN_COST = 9.0
#: ... or with the strip's edges (two spreads).
MAX_STRIP_MARGIN_COST = 4.0
#: Three or more evenly spaced anchors show the pitch themselves.
MIN_ANCHORS_FOR_OWN_PITCH = 3
#: Sets whose costs differ by less than this are equally plausible (one unit of twice the log-likelihood).
EQUAL_COST = 1.0


@dataclass
class CountPlacement:
    """Lanes placed for a given count.

    Attributes
    ----------
    centres : list of float
        The ``n`` lane centres, left to right (columns).
    pitch : float
        Their spacing (columns).
    anchors : list of int
        0-based places of the anchor lanes in the set.
    settled : bool
        Whether the membrane's edges (seen) centre the set. Otherwise it is only the most plausible set
        (the strip's edges bound it, but a crop need not be centred on the lanes): a guess.
    rivals : list of (float, list of int)
        With two or more anchors, the sets on other grids (another number of pitches between the anchors)
        about as plausible as this one (within :data:`EQUAL_COST`), the best of each: their pitch and the
        anchors' 0-based places. Not empty: the count is ambiguous (which lanes the loaded ones are, and
        the pitch, are not shown by the image) and the placement is not to be used.
    """

    centres: list[float]
    pitch: float
    anchors: list[int]
    settled: bool
    rivals: list[tuple[float, list[int]]] = field(default_factory=list)


def place_count(
    xs: list[float], n: int, width: float, extent: tuple[float, float], *, membrane: bool
) -> CountPlacement | None:
    """``n`` evenly spaced lanes that hold the found lanes ``xs`` (the anchors) on their grid.

    The candidate sets: with two or more anchors, each grid whose pitch puts them on it (their span a whole
    number J of pitches, J from ``len(xs) - 1`` to ``n - 1``; with three or more anchors evenly spaced, only
    their own spacing) and each place of the anchors in the set; with one anchor, the prior pitch
    (:data:`PRIOR_PITCH_LANE_WIDTHS` lane widths) or, for each place of the anchor where that set does not
    fit, the widest pitch that fits; and each pitch that centres the set in ``extent``. A set must have a pitch of
    one to :data:`MAX_PITCH_LANE_WIDTHS` lane widths and fit in ``extent``: its outer lanes may reach
    :data:`EDGE_SLACK_LANE_WIDTHS` lane widths past a membrane's edge, and past the strip's only when they
    are found lanes (a lane the set adds that runs past the edge of the image would not be in it; the
    prior pitch read off a lone saturated lane, widened by its glow, put the sixth lane of a crop 8 px past
    its edge). The pitch
    and offset are fitted to the anchors by least squares. Of the sets left, the one with the lowest cost
    is kept, the found lanes at their own centres: the squared log of its pitch over the prior pitch in units
    of :data:`PITCH_SPREAD_LOG` (at most :data:`MAX_PITCH_COST`), plus
    the squared imbalance of its two margins (pitches) in units of :data:`MEMBRANE_MARGIN_SPREAD_PITCHES`
    when ``extent`` is the membrane's (its edges were seen; at most :data:`MAX_MEMBRANE_MARGIN_COST`), else
    of :data:`STRIP_MARGIN_SPREAD_PITCHES` (at most :data:`MAX_STRIP_MARGIN_COST`)
    (twice a Gaussian negative log-likelihood of the pitch and the margins). Sets with no lane between the
    anchors (their own spacing is the pitch) are preferred: the others are scored only when none of those
    fits (found lanes a pitch apart are taken as neighbours, as they mostly are). Of sets within
    :data:`EQUAL_COST` of the lowest, the one with the anchors furthest left is kept (unused lanes are
    usually the last ones); sets among them on other grids (another pitch between two or more anchors: the
    wide-gap ChemiDoc blot with lanes 2 and 4 of 4 loaded fits lanes 196 px apart, or 131 px apart with the
    loaded lanes as 1 and 4, equally well without its membrane's edges) are named in ``rivals``.

    Parameters
    ----------
    xs : list of float
        Centres of the found lanes, sorted (columns); fewer than ``n``.
    n : int
        The lane count given by the user.
    width : float
        Lane width (columns).
    extent : (float, float)
        Left and right edge of the room the lanes lie in (columns): the membrane's edges, else the strip's.
    membrane : bool
        Whether ``extent`` is the membrane's (margin balance is then strong evidence).

    Returns
    -------
    CountPlacement or None
        None when no set of ``n`` lanes holds the anchors and fits in ``extent``.
    """
    if not xs or n <= len(xs) or width <= 0:
        return None
    left, right = extent
    spread = MEMBRANE_MARGIN_SPREAD_PITCHES if membrane else STRIP_MARGIN_SPREAD_PITCHES
    cap = MAX_MEMBRANE_MARGIN_COST if membrane else MAX_STRIP_MARGIN_COST
    prior = PRIOR_PITCH_LANE_WIDTHS * width
    slack = EDGE_SLACK_LANE_WIDTHS * width
    scored: list[_Candidate] = []
    for pitch, places, firsts in _grids(xs, n, width, extent):
        for first in firsts:
            idx = [first + k for k in places]
            p, a = _fit_grid(xs, idx, pitch)
            if not width <= p <= MAX_PITCH_LANE_WIDTHS * width:
                continue
            lanes = [a + p * k for k in range(n)]
            room_left = lanes[0] - width / 2 - left
            room_right = right - (lanes[-1] + width / 2)
            if (
                min(room_left + _reach(0 in idx, membrane, slack), room_right + _reach(n - 1 in idx, membrane, slack))
                < 0
            ):
                continue
            margins = min(((room_left - room_right) / p / spread) ** 2, cap)
            cost = min(float(np.log(p / prior) / PITCH_SPREAD_LOG) ** 2, MAX_PITCH_COST) + margins
            scored.append(_Candidate(cost, lanes, p, idx))
    if not scored:
        return None
    # no lane without a band is put between the found lanes unless the count cannot be placed otherwise
    adjacent = [c for c in scored if c.places[-1] - c.places[0] == len(xs) - 1]
    scored = adjacent or scored
    best = min(c.cost for c in scored)
    # of sets about as plausible, the one with the lanes without bands at the right end (samples are loaded
    # from the left)
    plausible = [c for c in scored if c.cost <= best + EQUAL_COST]
    _, lanes, pitch, idx = min(plausible, key=lambda c: (c.places[0], c.cost))
    middle = (left + right) / 2
    centred = abs((lanes[0] + lanes[-1]) / 2 - middle) <= CENTRED_PITCHES * pitch
    for k, x in zip(idx, xs, strict=True):
        lanes[k] = x  # a found lane keeps its measured centre
    return CountPlacement([float(x) for x in lanes], float(pitch), idx, membrane and centred, _rivals(plausible, idx))


def _rivals(plausible: list[_Candidate], chosen: list[int]) -> list[tuple[float, list[int]]]:
    """The best set of each other grid among ``plausible`` (anchors a different number of places apart than in
    the ``chosen`` set): pitch and anchor places, by cost."""
    steps = chosen[-1] - chosen[0]
    best: dict[int, _Candidate] = {}
    for c in sorted(plausible, key=lambda c: c.cost):
        j = c.places[-1] - c.places[0]
        if j != steps and j not in best and len(c.places) > 1:
            best[j] = c
    return [(float(c.pitch), list(c.places)) for c in best.values()]


def _reach(found: bool, membrane: bool, slack: float) -> float:
    """How far (columns) an outer lane of a set may run past the edge of the room: ``slack`` past a membrane's
    edge or for a ``found`` lane, else (a lane the set adds, past the strip's edge) only rounding."""
    return slack if found or membrane else EDGE_FIT_TOLERANCE_PX


class AmbiguousCount(ValueError):
    """A lane count the image does not place: its found lanes sit on more than one equally plausible grid.

    Attributes
    ----------
    strip : Strip
        The strip.
    centres : list of float
        The found lanes' centres (full-resolution columns).
    width : float
        Their width (columns).
    why : str
        The grids, for the refusal (:func:`grids_text`).
    """

    def __init__(self, strip: Strip, centres: list[float], width: float, why: str):
        super().__init__(f"strip {strip.index}: {len(centres)} lanes found{why}")
        self.strip = strip
        self.centres = centres
        self.width = width
        self.why = why


def grids_text(n: int, grids: list[tuple[float, list[int]]], *, factor: float = 1.0, membrane: bool = False) -> str:
    """Why a count of ``n`` lanes is refused: the equally plausible ``grids`` (pitch in columns of ``factor``
    image pixels each, 0-based places of the found lanes), as a clause that follows the found lanes."""
    options = " or ".join(
        f"{pitch * factor:.0f} px apart with them as lanes {', '.join(str(k + 1) for k in places)}"
        for pitch, places in grids
    )
    seen = "the membrane's edges do not tell them apart" if membrane else "no membrane edge is seen to tell them apart"
    return f", and {n} lanes hold them equally well on {len(grids)} grids ({options}): {seen}"


class _Candidate(NamedTuple):
    """A candidate set of :func:`place_count`: its cost, lane centres, pitch and the anchors' places in it."""

    cost: float
    lanes: list[float]
    pitch: float
    places: list[int]


def _grids(
    xs: list[float], n: int, width: float, extent: tuple[float, float]
) -> list[tuple[float, list[int], list[int]]]:
    """Candidate grids for :func:`place_count`: a pitch, each anchor's place relative to the first anchor, and
    the places in the set the first anchor may take on it."""
    m = len(xs)
    if m == 1:
        left, right = extent
        middle = (left + right) / 2
        prior = PRIOR_PITCH_LANE_WIDTHS * width
        pitches = [prior]
        narrowed = []
        for first in range(n):
            offset = (n - 1) / 2 - first  # pitches from the anchor to the set's middle
            if offset != 0 and (middle - xs[0]) / offset > 0:
                pitches.append((middle - xs[0]) / offset)
            # the prior pitch narrowed until the set with the anchor at this place fits between the edges
            room = [(right - width / 2 - xs[0]) / (n - 1 - first)] if first < n - 1 else []
            room += [(xs[0] - width / 2 - left) / first] if first > 0 else []
            if room and min(room) < prior:
                narrowed.append((min(room), [0], [first]))
        return [(p, [0], list(range(n))) for p in pitches] + narrowed
    span = xs[-1] - xs[0]
    steps = np.diff(xs)
    own = float(np.median(steps))
    if m >= MIN_ANCHORS_FOR_OWN_PITCH and np.all(np.abs(steps / own - 1) <= ANCHOR_GRID_TOLERANCE_PITCHES):
        spans = [m - 1]  # evenly spaced anchors show the pitch
    else:
        spans = list(range(m - 1, n))
    out = []
    for j in spans:
        pitch = span / j
        if pitch < width * (1 - ANCHOR_GRID_TOLERANCE_PITCHES):
            break
        k = [(x - xs[0]) / pitch for x in xs]
        if all(abs(v - round(v)) <= ANCHOR_GRID_TOLERANCE_PITCHES for v in k):
            places = [int(round(v)) for v in k]
            if len(set(places)) == m:
                out.append((pitch, places, list(range(n - places[-1]))))
    return out


def _fit_grid(xs: list[float], idx: list[int], pitch: float) -> tuple[float, float]:
    """Pitch and position of lane 0 of the grid through anchors ``xs`` at places ``idx`` (least squares)."""
    if len(xs) <= 2:
        return pitch, xs[0] - pitch * idx[0]  # the candidate's pitch is the anchors' span over whole steps
    p, a = np.polyfit(np.asarray(idx, dtype=float), np.asarray(xs, dtype=float), 1)
    return float(p), float(a)
