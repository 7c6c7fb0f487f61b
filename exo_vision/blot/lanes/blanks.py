"""Blank lanes: lane positions without bands, and band-free pseudo-lanes for the detection limit.

A blank lane is found from the lanes around it: a gap of about two or more pitches between found
lanes holds the missing lanes; unequal membrane margins hold blank lanes at one end; a lane count
given by the user trims or extends the run. The gaps between lanes give background boxes for the LoD.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from exo_vision.blot.advice import LANE_COUNT
from exo_vision.blot.constants import ON_GRID_TOLERANCE_PITCHES
from exo_vision.blot.lanes.count import place_count
from exo_vision.blot.lanes.geometry import CENTRAL_FRACTION, Lane
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS
from exo_vision.blot.strips import Strip

logger = logging.getLogger(__name__)

#: A blank end lane is added when the two margins differ by a whole number of pitches within this fraction.
END_LANE_TOLERANCE = DEFAULT_BLOT_PARAMETERS.end_lane_tolerance_pitches

#: A lane is judged on or off the membrane by this central fraction of its width (its band-free core reads the
#: membrane or the floor beside it, not the pen strokes that cross the lane's edge).
ON_MEMBRANE_CORE_FRACTION = 0.5

#: A gap between lanes takes a blank lane only when it is this many pixels wider than a lane (room for
#: the lane and a little margin on each side).
MIN_BLANK_GAP_SPARE_PX = 4


def fill_gaps(xs: list[float], pitch: float | None) -> list[float]:
    """Lane centres ``xs`` (sorted) with the missing lanes of every gap of about k >= 2 pitches added."""
    if pitch is None:
        return xs
    filled = [xs[0]]
    for x in xs[1:]:
        gap = x - filled[-1]
        k = int(round(gap / pitch))
        if k >= 2 and abs(gap / k - pitch) < ON_GRID_TOLERANCE_PITCHES * pitch:
            last = filled[-1]
            filled.extend([last + gap * j / k for j in range(1, k)])
        filled.append(x)
    return filled


def off_membrane_lanes(
    signal: np.ndarray, xs: list[float], width: float, strip: Strip
) -> tuple[list[float], list[float]]:
    """Lane centres ``xs`` (full-resolution columns at the strip's middle row) that lie on the membrane; and the others.

    Lanes run on the membrane: a bright column whose central part (:data:`ON_MEMBRANE_CORE_FRACTION`
    of ``width``), read down the strip's rows, stands at the camera floor for most of them (its median
    row lies under :attr:`Strip.lowest_membrane_level`, which a membrane's interior never falls under)
    is a mark beside the membrane (a pen-written ladder or a lane number), not a lane. A strip whose
    floor was not seen removes nothing.

    Returns
    -------
    kept : list of float
        The centres on the membrane, in their order.
    dropped : list of float
        The others, for the message to the user.
    """
    threshold = strip.lowest_membrane_level
    if threshold is None:
        return list(xs), []
    rows = signal[strip.y_top_px : strip.y_bottom_px]
    half = max(0.5 * ON_MEMBRANE_CORE_FRACTION * width, 0.5)
    kept: list[float] = []
    dropped: list[float] = []
    for x in xs:
        c0, c1 = max(int(round(x - half)), 0), min(int(round(x + half)) + 1, signal.shape[1])
        level = float(np.median(rows[:, c0:c1].mean(axis=1))) if c1 > c0 else -np.inf
        (kept if level > threshold else dropped).append(x)
    return kept, dropped


def end_lanes(
    xs: list[float], pitch: float, width: float, strip: Strip, *, tolerance_pitches: float = END_LANE_TOLERANCE
) -> tuple[list[float], str]:
    """Add blank lanes at the ends of a strip where its membrane margins show them.

    The rule: the margins between the outermost lane positions (loaded or
    empty) and the membrane edges are equal on both sides, because wells are
    centred on the gel and a strip keeps the gel's full width. The margin is
    therefore the smaller of the two rooms left and right of the found lanes
    (from a lane's outer edge to the membrane edge, at the strip's middle
    row). When the other side has more room by k pitches (k >= 1, within
    ``tolerance_pitches`` of a pitch), k blank lanes are added there.
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
        if k >= 1 and abs(abs(excess) / pitch - k) <= tolerance_pitches:
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
    rooms = " and ".join(
        f"{name} {r:.0f} px" for name, r in (("left", room_left), ("right", room_right)) if r is not None
    )
    return xs, (
        f"strip {strip.index}: {len(xs)} lanes found; the membrane has room for a further lane at an end "
        f"(margins {rooms}; lane pitch {pitch:.0f} px) but {why}, so blank end lanes were not inferred; "
        f"if end lanes are blank, give {LANE_COUNT}"
    )


class CountFit(NamedTuple):
    """Lane centres fitted to a count (:func:`fit_count`): the centres, whether they are a guess, and, when
    sets on other grids are as plausible (the count is ambiguous), every such grid (pitch, 0-based places of
    the found lanes), the one placed first; else empty."""

    centres: list[float]
    guessed: bool
    grids: list[tuple[float, list[int]]]


def fit_count(
    xs: list[float],
    n: int,
    pitch: float,
    ncols: int,
    width: float,
    prof: np.ndarray,
    membrane: tuple[float, float] | None = None,
) -> CountFit:
    """Trim or extend lane centres ``xs`` to ``n`` lanes (a count given by the user).

    The weakest lane at an end is dropped first (a weak lane inside the run is kept as a blank lane).
    Missing lanes are placed by :func:`~exo_vision.blot.lanes.count.place_count`: the found lanes are
    anchors on one grid, and the count, the room on the membrane (its edges ``membrane`` when known,
    else the ``ncols`` columns of the strip) and the margins place the rest; the second value says the
    set is only the most plausible of several (a guess), the third the sets on other grids as plausible
    (the count is then ambiguous: the caller refuses it). When no set fits, lanes are added a pitch beyond
    the end with more room while one fits (also a guess).
    """
    xs = list(xs)
    if len(xs) < n:
        extent = membrane if membrane is not None else (-0.5, ncols - 0.5)
        placed = place_count(xs, n, width, extent, membrane=membrane is not None)
        if placed is not None:
            grids = [(placed.pitch, placed.anchors), *placed.rivals] if placed.rivals else []
            return CountFit(placed.centres, not placed.settled, grids)
    guessed = len(xs) < n
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
    return CountFit(xs, guessed, [])


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
    ordered = sorted(lanes, key=lambda item: item.x_centre_px)
    w = max(1.0, float(np.floor(ordered[0].width_px * central_fraction + 0.5)))
    out = []
    bounds = [(strip.x_left_px - 0.5, ordered[0].x_centre_px - ordered[0].width_px / 2, ordered[0])]
    for a, b in zip(ordered[:-1], ordered[1:]):
        bounds.append((a.x_centre_px + a.width_px / 2, b.x_centre_px - b.width_px / 2, a))
    last = ordered[-1]
    bounds.append((last.x_centre_px + last.width_px / 2, strip.x_right_px - 0.5, last))
    for lo, hi, ref in bounds:
        if hi - lo < w + MIN_BLANK_GAP_SPARE_PX:
            continue
        centre = (lo + hi) / 2
        shift = centre - ref.x_centre_px
        out.append(
            replace(
                ref, index=0, x_top_px=ref.x_top_px + shift, x_bottom_px=ref.x_bottom_px + shift, width_px=w, name=""
            )
        )
    return out
