"""Automatic lane finding in one strip: the steps of :mod:`exo_vision.blot.lanes` in order."""

from __future__ import annotations

import logging

import numpy as np

from exo_vision.blot.advice import LANE_COLUMNS, LANE_COUNT
from exo_vision.blot.lanes.blanks import end_lanes, fill_gaps, fit_count, off_membrane_lanes
from exo_vision.blot.lanes.count import AmbiguousCount, grids_text
from exo_vision.blot.lanes.geometry import Lane
from exo_vision.blot.lanes.peaks import faint_lanes, lanes_on_pitch, off_grid_end_lanes, pitch_of, strong_lanes
from exo_vision.blot.lanes.profile import strip_tophat
from exo_vision.blot.lanes.tilt import lane_slope
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters
from exo_vision.blot.strips import Strip

logger = logging.getLogger(__name__)

#: A lane is at most this fraction of the pitch wide, so neighbouring lanes never share a column.
MAX_LANE_WIDTH_PITCHES = 0.95
#: Where a bright column left out of the lanes lies (:func:`_left_out_message`): beside the membrane ...
BESIDE_MEMBRANE = "beside the membrane (on the camera floor)"
#: ... or on it, off the other lanes' pitch.
OFF_PITCH = "off the lanes' pitch at the end of the lane set"
#: Without a measured pitch (a single lane), lanes requested by count are placed this many lane widths
#: apart (lanes of a comb are about a third of a lane width apart).
UNKNOWN_PITCH_LANE_WIDTHS = 1.3
#: What a count of found lanes holds (a lane count's message): blank lanes are found too, from the grid and margins.
FOUND_LANES = "lanes with bands, and blank lanes in the gaps of their grid or that the membrane's margins show"


def find_lanes(
    signal: np.ndarray,
    strip: Strip,
    *,
    n_lanes: int | None = None,
    params: BlotParameters = DEFAULT_BLOT_PARAMETERS,
    warnings: list[str] | None = None,
    infer_end_lanes: bool = True,
) -> list[Lane]:
    """Detect the lanes of one strip automatically.

    1. Background along each column is removed (vertical top-hat), then pen
       marks: a flat opening 3 rows tall and ``2 x params.min_lane_width_px + 1``
       columns wide drops pen strokes (written lane numbers, lines) and dots,
       which are thinner or narrower than bands.
    2. Strong lanes are peaks of the column profile (maximum over rows); the
       lane width is their median full width at half height, and the centre of
       a lane is midway between its half-height crossings (unbiased on
       rectangular and soft-edged lanes). A ladder lane is one plateau, so one
       lane; a peak at least 1.5 pitches and two lane widths wide is neighbouring
       lanes run together, and holds one lane per pitch
       (:func:`~exo_vision.blot.lanes.peaks.split_merged`).
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
    4. A bright column that stands on the camera floor for most of the strip's rows lies beside the
       membrane (:func:`~exo_vision.blot.lanes.blanks.off_membrane_lanes`), and a bright column at an
       end of the lane set that lies off the other lanes' pitch is a mark on the membrane
       (:func:`~exo_vision.blot.lanes.peaks.off_grid_end_lanes`): pen-written ladders and numbers, not
       lanes; a message names them.
       Gaps of about two or more pitches get the missing (blank) lanes.
    5. Blank lanes at one end are added when the membrane margins show them
       (see :func:`exo_vision.blot.lanes.blanks.end_lanes`: the margins outside the outermost lane
       positions are equal on both sides of a membrane, so extra room of k
       pitches on one side holds k blank lanes); when a lane would fit but
       the rule cannot decide, a message is added to ``warnings``.
    6. With ``n_lanes`` the list is trimmed or extended to that count instead (a strip stacked with
       others is found without the count; :func:`share_lanes` applies it to the lanes they share). When
       the lanes found fit the count on two or more grids equally well (another pitch, other lanes of
       the set), :class:`~exo_vision.blot.lanes.count.AmbiguousCount` (a ValueError) is raised.
    7. A common tilt is fitted from the band centroids, within
       ``params.max_lane_tilt_deg`` of the membrane's rotation (``strip.angle_deg``).

    Parameters
    ----------
    signal : (M, N) ndarray of float
        Blot in signal orientation.
    strip : Strip
        Where to look.
    n_lanes : int, optional
        Expected number of lanes.
    params : BlotParameters
        Lane-finding settings (``min_lane_width_px``, ``lane_peak_noise_sds``,
        ``faint_lane_peak_noise_sds``, ``lane_window_band_heights``, ``max_lane_tilt_deg``,
        ``end_lane_tolerance_pitches``).
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
    top = strip_tophat(signal, strip, params)
    strong = strong_lanes(top, params)
    if strong is None:
        return []
    weak, noise2 = faint_lanes(top, strong, params)
    xs, pitch = lanes_on_pitch(strong, weak, noise2)
    f = top.factor
    xs, beside = _on_membrane(signal, xs, strong.width, f, strip)
    if beside:
        _tell(warnings, _left_out_message(strip, beside, BESIDE_MEMBRANE))
        if not xs:
            return []
        pitch = pitch_of(np.array(xs)) or pitch
    xs, marks = off_grid_end_lanes(xs)
    if marks:
        pitch = pitch_of(np.array(xs)) or pitch
        _tell(warnings, _left_out_message(strip, _full_columns(marks, f, strip), OFF_PITCH))
    xs = fill_gaps(xs, pitch)
    width = strong.width
    lane_width = min(width, MAX_LANE_WIDTH_PITCHES * pitch) if pitch is not None else width
    if n_lanes is not None:
        xs = _to_count(xs, n_lanes, pitch, lane_width, top, strong.profile, strip, warnings)
    slope = lane_slope(top.th, xs, lane_width, strip, max_tilt_deg=params.max_lane_tilt_deg)
    # back to full-resolution pixel centres
    xs = _full_columns(xs, f, strip)
    lane_width = lane_width * f
    if n_lanes is None and pitch is not None and infer_end_lanes:
        found = xs
        xs, message = end_lanes(xs, pitch * f, lane_width, strip, tolerance_pitches=params.end_lane_tolerance_pitches)
        if message:
            _tell(warnings, message)
        # blank end lanes lie on the membrane too (its measured edge can sit inside a dark, blotchy margin)
        _, on_floor = off_membrane_lanes(signal, [x for x in xs if x not in found], lane_width, strip)
        xs = [x for x in xs if x not in on_floor]
    return _lanes_at(xs, lane_width, slope, strip)


def _to_count(xs, n_lanes, pitch, lane_width, top, profile, strip: Strip, warnings) -> list[float]:
    """The found lane centres (top-hat columns) trimmed or completed to the user's count
    (:func:`~exo_vision.blot.lanes.blanks.fit_count`); lanes placed at a guessed pitch are named. Raises
    :class:`~exo_vision.blot.lanes.count.AmbiguousCount` when the found lanes fit the count on more than one
    grid equally well."""
    f = top.factor
    left, right = strip.membrane_left_px, strip.membrane_right_px
    membrane = (
        None
        if left is None or right is None
        else ((left - strip.x_left_px + 0.5) / f - 0.5, (right - strip.x_left_px + 0.5) / f - 0.5)
    )
    found = list(xs)
    kept, guessed, grids = fit_count(
        xs, n_lanes, pitch or lane_width * UNKNOWN_PITCH_LANE_WIDTHS, top.th.shape[1], lane_width, profile, membrane
    )
    if grids:
        why = grids_text(n_lanes, grids, factor=f, membrane=membrane is not None)
        raise AmbiguousCount(strip, _full_columns(found, f, strip), lane_width * f, why)
    if len(found) > n_lanes:
        dropped = ", ".join(f"{strip.x_left_px + (x + 0.5) * f - 0.5:.0f}" for x in xs if x not in kept)
        _tell(
            warnings,
            f"strip {strip.index}: {len(found)} lanes were found ({FOUND_LANES}) but {n_lanes} were asked for, "
            "so the weakest at the "
            f"ends were left out (centred at columns {dropped}); if they are lanes, give {LANE_COUNT} or "
            f"{LANE_COLUMNS}",
        )
    xs = kept
    if guessed:
        _tell(warnings, _guessed_message(strip, found, n_lanes, xs, f))
    return xs


def _guessed_message(strip: Strip, found: list[float], n_lanes: int, xs: list[float], factor: int) -> str:
    """The message for lanes placed by a guess: the ``found`` lanes (top-hat columns) among ``xs``, the set of
    ``n_lanes`` placed."""
    numbers = sorted({1 + min(range(len(xs)), key=lambda i: abs(xs[i] - y)) for y in found}) if xs else []
    pitch = pitch_of(np.array(xs))
    apart = f"{pitch * factor:.0f} px apart" if pitch is not None else "beside them"
    return (
        f"strip {strip.index}: {len(found)} of the {n_lanes} lanes show a band and the membrane's edges do not "
        f"place the others, so they were put {apart} on the grid of the lanes with bands (taken as lane(s) "
        f"{', '.join(map(str, numbers)) or '-'} of {n_lanes}), where the strip's room makes them most likely: a "
        "guess. An 'absent' call in those lanes is only as good as their position; check the annotated image, "
        f"or give {LANE_COLUMNS}"
    )


def _tell(warnings: list[str] | None, message: str) -> None:
    """Append ``message`` to ``warnings``, or log it as a warning when no list is given."""
    if warnings is not None:
        warnings.append(message)
    else:
        logger.warning("%s", message)


def _on_membrane(
    signal: np.ndarray, xs: list[float], width: float, factor: int, strip: Strip
) -> tuple[list[float], list[float]]:
    """Lane centres ``xs`` (columns of the strip's top-hat, ``factor`` px each; lanes ``width`` of them wide)
    on the membrane; and the full-resolution columns of the others
    (:func:`~exo_vision.blot.lanes.blanks.off_membrane_lanes`)."""
    full = _full_columns(xs, factor, strip)
    _, beside = off_membrane_lanes(signal, full, width * factor, strip)
    return [x for x, xf in zip(xs, full, strict=True) if xf not in beside], beside


def _full_columns(xs: list[float], factor: int, strip: Strip) -> list[float]:
    """Full-resolution pixel-centre columns of ``xs``, columns of the strip's top-hat (``factor`` px each)."""
    return [(x + 0.5) * factor - 0.5 + strip.x_left_px for x in xs]


def _left_out_message(strip: Strip, columns_px: list[float], why: str) -> str:
    """The message for bright columns at ``columns_px`` left out of the lanes because they lie ``why``."""
    where = ", ".join(f"{x:.0f}" for x in sorted(columns_px))
    return (
        f"strip {strip.index}: a bright mark at column(s) {where} px lies {why} and was not taken as a lane (a pen "
        f"mark or a hand-written ladder); if it is a loaded lane, give {LANE_COUNT} or {LANE_COLUMNS}"
    )


def _lanes_at(xs: list[float], width: float, slope: float, strip: Strip) -> list[Lane]:
    """Lanes of ``strip`` centred at columns ``xs`` on its middle row, all of one width and slope."""
    mid = (strip.y_top_px + strip.y_bottom_px - 1) / 2
    lanes = []
    for i, x in enumerate(xs):
        xt = x + slope * (strip.y_top_px - mid)
        xb = x + slope * (strip.y_bottom_px - 1 - mid)
        lanes.append(Lane(strip.index, i + 1, strip.y_top_px, strip.y_bottom_px, float(xt), float(xb), float(width)))
    return lanes
