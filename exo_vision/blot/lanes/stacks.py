"""Stacked strips: strips cut from one membrane get the same lanes (the union of what each shows).

Strips are stacked when their columns overlap by at least half the narrower one (two membranes one
above the other, or pieces of one membrane); side-by-side strips never share lanes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from exo_vision.blot.advice import LANE_COLUMNS, LANE_COUNT
from exo_vision.blot.constants import ON_GRID_TOLERANCE_PITCHES, SAME_LANE_PITCHES
from exo_vision.blot.lanes.blanks import end_lanes, fit_count
from exo_vision.blot.lanes.count import AmbiguousCount, grids_text
from exo_vision.blot.lanes.find import FOUND_LANES, UNKNOWN_PITCH_LANE_WIDTHS, _tell
from exo_vision.blot.lanes.geometry import Lane, lane_pixels
from exo_vision.blot.lanes.peaks import pitch_of
from exo_vision.blot.lanes.profile import column_profile, strip_tophat
from exo_vision.blot.strips import Strip

#: Lanes of stacked strips match the reference strip's within 1/MATCH_TOLERANCE_DIVISOR of a lane width.
MATCH_TOLERANCE_DIVISOR = 3
#: A stacked strip whose own lanes do not line up with the reference's takes the reference's lanes when
#: those hold at least this fraction of the band signal its own lanes hold (:func:`_lent_shift`).
LEND_CAPTURE_RATIO = 0.95
#: Lent lanes must hold, lane by lane, at least this fraction of the band signal inside each of the strip's own
#: lanes that holds :data:`LEND_LANE_MIN_SHARE` of the strip's signal (a denser grid of another comb leaves some
#: own lane's band in its gaps or beyond its ends).
LEND_LANE_HELD = 0.7
#: Own lanes holding less than this fraction of the strip's band signal (a dim edge lane) are not judged lane by lane.
LEND_LANE_MIN_SHARE = 0.05
#: When the reference's pitch lies within this fraction of the strip's own pitch (one comb, read with the same
#: spacing), an own lane beyond the reference's end lanes (a lane the reference missed) is not judged lane by lane.
LEND_SAME_PITCH_TOLERANCE = 0.1
#: Lent lanes are at most this many times wider or narrower than the strip's own lanes (one comb; own lanes read
#: over two adjacent lanes are wider).
LEND_WIDTH_RATIO = 2.0


def stacked(strips: Sequence[Strip]) -> list[bool]:
    """Whether each strip shares its columns with another strip (at least half the narrower one's width)."""
    return [
        any(
            j != i
            and min(s.x_right_px, o.x_right_px) - max(s.x_left_px, o.x_left_px) >= 0.5 * min(s.width_px, o.width_px)
            for j, o in enumerate(strips)
        )
        for i, s in enumerate(strips)
    ]


def share_lanes(
    lanes_per_strip: list[list[Lane]],
    strips: Sequence[Strip],
    *,
    n_lanes: int | None = None,
    signal: np.ndarray | None = None,
    warnings: list[str] | None = None,
) -> list[list[Lane]]:
    """Give strips cut from one membrane the same lanes: the union of what each strip shows.

    Strips share a membrane when they are stacked: their columns overlap by
    at least half the narrower one (side-by-side strips never share). The
    strip with most lanes in a stack is the reference; another strip of the
    stack is aligned with it when all its lanes but at most one (and at least
    half) sit on reference lanes (within a third of a lane width) after
    removing their offset (at most half a pitch). The stack's layout is the union of the reference lanes
    and the aligned strips' other lanes (a lane blank on one strip, e.g.
    calnexin in EV lanes, shows on another), extended by blank end lanes when
    the union's margins show them (see :func:`exo_vision.blot.lanes.blanks.end_lanes`). Each aligned
    strip keeps its own lanes and gets the others shifted by its offset, with
    their width and tilt, over its own rows. A strip that does not align
    takes the reference's lanes (shifted by up to half a pitch) when, given
    ``signal``, they hold its bands at least :data:`LEND_CAPTURE_RATIO` as
    well as its own lanes do (:func:`_lent_shift`: one gel whose lanes were
    read worse on one membrane, e.g. beside two adjacent empty lanes);
    otherwise it keeps its own lanes and a message in ``warnings`` says that
    its lane numbers do not correspond to the reference's.

    With ``n_lanes`` (the user's count) the shared layout is then trimmed or
    extended to that count, the same lanes in every aligned strip
    (:func:`fit_shared_count`), so lane k is lane k in every membrane of the
    stack; a strip that does not align gets the count on its own.

    Parameters
    ----------
    lanes_per_strip : list of list of Lane
        Lanes detected on each strip (found without a count).
    strips : sequence of Strip
        The strips, same order.
    n_lanes : int, optional
        Lanes per stack asked for by the user.
    signal : (M, N) ndarray of float, optional
        Blot in signal orientation; needed with ``n_lanes`` (the weakest end lanes are left out). Without it a
        strip that does not align keeps its own lanes.
    warnings : list of str, optional
        Messages for the user (lanes left out or placed by a guess) are appended here (logged when not given).

    Returns
    -------
    list of list of Lane
    """
    if n_lanes is not None and signal is None:
        raise ValueError("share_lanes needs the signal image to fit the shared lanes to n_lanes")
    out = [list(lanes) for lanes in lanes_per_strip]
    if len(out) < 2:
        return out
    done: set[int] = set()
    for i, strip in enumerate(strips):
        if i in done:
            continue
        stack = [
            j
            for j, other in enumerate(strips)
            if min(strip.x_right_px, other.x_right_px) - max(strip.x_left_px, other.x_left_px)
            >= 0.5 * min(strip.width_px, other.width_px)
        ]
        done.update(stack)
        if len(stack) < 2:
            continue
        offsets = _share_stack(out, strips, stack, warnings, tell_end_lanes=n_lanes is None, signal=signal)
        if n_lanes is not None and signal is not None:
            for group in [offsets] + [{j: 0.0} for j in stack if j not in offsets]:
                if group:
                    fit_shared_count(out, strips, group, n_lanes, signal, warnings)
    return out


def _share_stack(
    out: list[list[Lane]],
    strips: Sequence[Strip],
    stack: list[int],
    warnings: list[str] | None = None,
    *,
    tell_end_lanes: bool = True,
    signal: np.ndarray | None = None,
) -> dict[int, float]:
    """Share the lanes of the strips ``stack`` in place (see :func:`share_lanes`).

    Returns the aligned strips (the reference among them) and the offset (columns) of each one's
    lanes from the reference's; empty when no strip of the stack has a lane. A strip whose lanes would
    match more of the reference's laid a whole lane to the side, with no side edge seen in both to tell,
    is named in ``warnings`` (:func:`_unchecked_alignment`); so are blank end lanes the membranes' margins disagree
    on (:func:`_tell_end_lanes`), unless ``tell_end_lanes`` is off (a lane count decides them).
    """
    best = max(stack, key=lambda j: len(out[j]))
    ref = sorted(out[best], key=lambda item: item.x_centre_px)
    if not ref:
        return {}
    tol = ref[0].width_px / MATCH_TOLERANCE_DIVISOR
    union, offsets = _aligned_union(out, strips, stack, best, signal, warnings)
    union.sort(key=lambda u: u[0])
    centres = [c for c, _, _ in union]
    pitch = pitch_of(np.array(centres))
    # blank end lanes (reference frame) only where every strip of the stack shows room for them: a
    # blotch can hide one membrane's edge, never the same edge of every membrane
    # (strips that show both membrane edges judge; one whose edge runs off the image cannot)
    proposals, messages = [], []
    for j, shift in offsets.items():
        if pitch is None or strips[j].membrane_left_px is None or strips[j].membrane_right_px is None:
            continue
        grown, message = end_lanes([c + shift for c in centres], pitch, ref[0].width_px, strips[j])
        proposals.append([x - shift for x in grown if min(abs(x - shift - c) for c in centres) >= tol])
        messages.append(message)
    common = (
        [x for x in proposals[0] if all(any(abs(x - y) < tol for y in p) for p in proposals[1:])] if proposals else []
    )
    if tell_end_lanes:
        _tell_end_lanes(strips, list(offsets), len(centres), proposals, common, messages, warnings)
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
        out[j] = sorted(merged, key=lambda item: item.x_centre_px)
    for j in stack:
        if j not in offsets:
            out[j] = _ownend_lanes(out[j], strips[j])  # a layout of its own: its own margins decide
    return offsets


def _aligned_union(
    out: list[list[Lane]],
    strips: Sequence[Strip],
    stack: list[int],
    best: int,
    signal: np.ndarray | None,
    warnings: list[str] | None,
) -> tuple[list[tuple[float, Lane, int]], dict[int, float]]:
    """The union of the lanes of the strips of ``stack`` aligned with the reference strip ``best`` (reference
    frame: centre, the lane it came from, its strip), and each aligned strip's offset (columns) from the
    reference (see :func:`_share_stack`). A strip whose lanes do not align takes the reference's lanes when they
    hold its bands as well as its own do (:func:`_lent_shift`); otherwise it is named in ``warnings``."""
    ref = sorted(out[best], key=lambda item: item.x_centre_px)
    tol = ref[0].width_px / MATCH_TOLERANCE_DIVISOR
    ref_x = np.array([r.x_centre_px for r in ref])
    ref_pitch = pitch_of(ref_x)
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
        shift, hits = _stack_shift(xs_j, ref_x, tol, ref_pitch, ref[0].width_px, strips[best], strips[j])
        if hits == 0 or hits < len(xs_j) - 1 or hits * 2 < len(xs_j):
            # more than one lane off the reference: the reference's lanes are lent when they hold the strip's
            # bands as well as its own lanes do (one gel, a lane set found worse on one membrane)
            lent = _lent_shift(signal, ref, out[j], strips[j], ref_pitch)
            if lent is not None:
                offsets[j] = lent
            else:
                _tell(warnings, _apart_message(strips[best], strips[j]))
            continue
        if ref_pitch is not None and not _edge_offsets(strips[best], strips[j]):
            _unchecked_alignment(xs_j, ref_x, tol, ref_pitch, shift, hits, (strips[best], strips[j]), warnings)
        offsets[j] = shift
        for lane in out[j]:
            c = lane.x_centre_px - shift
            if ref_pitch is None or any(
                abs(c - u) < SAME_LANE_PITCHES * min(ref_pitch, 2 * lane.width_px) for u, _, _ in union
            ):
                continue
            k = (c - ref_x[np.argmin(np.abs(ref_x - c))]) / ref_pitch
            if abs(k - round(k)) <= ON_GRID_TOLERANCE_PITCHES or _on_finer_grid(
                [u for u, _, _ in union] + [c], lane.width_px
            ):
                union.append((c, lane, j))  # a lane blank in the reference (whose pitch may be a multiple)
    return union, offsets


def _lent_shift(
    signal: np.ndarray | None, ref: list[Lane], own: list[Lane], strip: Strip, pitch: float | None
) -> float | None:
    """Offset (columns) at which the reference strip's lanes ``ref`` hold ``strip``'s bands, or None.

    On the strip's column profile of band signal (mean over its rows of the lane finder's top-hat,
    :func:`~exo_vision.blot.lanes.profile.column_profile`), the share of the signal inside the
    reference's lanes (full lane width, shifted by up to half a pitch) is compared with the share inside
    the strip's ``own`` lanes: the best offset is returned when the reference's lanes hold at least
    :data:`LEND_CAPTURE_RATIO` of what the strip's own lanes hold (its bands sit in the reference's
    lanes: one gel whose lanes were found worse on this membrane). None without ``signal`` or a pitch,
    or when the reference's lanes miss more of the bands or are not plausibly the strip's comb
    (:func:`_same_comb`: another gel, another layout, or a wrong, denser grid).
    """
    if signal is None or pitch is None or not own:
        return None
    top = strip_tophat(signal, strip)
    prof = column_profile(top.th, np.arange(top.th.shape[0]))
    cols = strip.x_left_px + (np.arange(prof.size) + 0.5) * top.factor - 0.5
    total = float(prof.sum())
    if total <= 0:
        return None

    def held(centres: np.ndarray, width: float) -> float:
        inside = np.any(np.abs(cols[:, None] - centres[None, :]) <= width / 2, axis=1)
        return float(prof[inside].sum()) / total

    mine = held(np.array([lane.x_centre_px for lane in own]), own[0].width_px)
    ref_x = np.array([lane.x_centre_px for lane in ref])
    half = int(pitch // 2)
    shifts = sorted(range(-half, half + 1, top.factor), key=abs)
    shares = [held(ref_x + d, ref[0].width_px) for d in shifts]
    best = int(np.argmax(shares))
    if shares[best] < LEND_CAPTURE_RATIO * mine:
        return None
    lent = ref_x + shifts[best]
    return float(shifts[best]) if _same_comb(prof, cols, own, lent, (ref[0].width_px, pitch)) else None


def _same_comb(
    prof: np.ndarray, cols: np.ndarray, own: list[Lane], ref_x: np.ndarray, ref_comb: tuple[float, float]
) -> bool:
    """Whether lanes centred at ``ref_x`` (columns, already shifted), of width and pitch ``ref_comb`` (px), are
    plausibly the comb of the strip's ``own`` lanes: widths within :data:`LEND_WIDTH_RATIO` of each other, and every
    own lane holding at least :data:`LEND_LANE_MIN_SHARE` of the column profile ``prof`` (sampled at ``cols``)
    keeping at least :data:`LEND_LANE_HELD` of its signal inside the lent lanes (an own lane read over two adjacent
    lanes keeps its bands in both; a band in the gaps or beyond the ends of a denser grid of another comb does not).
    When the two pitches agree within :data:`LEND_SAME_PITCH_TOLERANCE`, own lanes beyond the lent end lanes are
    not judged (a lane the reference missed at an end)."""
    ref_width, ref_pitch = ref_comb
    own_width = float(np.median([lane.width_px for lane in own]))
    if not 1 / LEND_WIDTH_RATIO <= ref_width / own_width <= LEND_WIDTH_RATIO:
        return False
    own_pitch = pitch_of(np.array(sorted(lane.x_centre_px for lane in own)))
    same_pitch = own_pitch is not None and abs(ref_pitch / own_pitch - 1) <= LEND_SAME_PITCH_TOLERANCE
    lo, hi = float(ref_x.min()) - ref_width / 2, float(ref_x.max()) + ref_width / 2
    inside = np.any(np.abs(cols[:, None] - ref_x[None, :]) <= ref_width / 2, axis=1)
    total = float(prof.sum())
    for lane in own:
        if same_pitch and not lo <= lane.x_centre_px <= hi:
            continue
        in_lane = np.abs(cols - lane.x_centre_px) <= lane.width_px / 2
        signal = float(prof[in_lane].sum())
        if signal >= LEND_LANE_MIN_SHARE * total and prof[in_lane & inside].sum() < LEND_LANE_HELD * signal:
            return False
    return True


def _apart_message(ref: Strip, other: Strip) -> str:
    """The message for stacked strips whose lanes do not line up (each keeps its own numbering)."""
    return (
        f"strips {ref.index} and {other.index} are stacked (one above the other) but their lanes do not line up "
        f"(strip {other.index}'s bands lie off strip {ref.index}'s lanes), so each strip's lanes are found and "
        f"numbered on their own: lane k of one strip need not be lane k of the other. If both membranes come from "
        f"one gel, give {LANE_COLUMNS} so that the lanes are the same in both"
    )


def _tell_end_lanes(
    strips: Sequence[Strip],
    members: list[int],
    n_found: int,
    proposals: list[list[float]],
    common: list[float],
    messages: list[str],
    warnings: list[str] | None,
) -> None:
    """Say when blank end lanes of a stack were not inferred although a membrane's margins leave room for them.

    ``proposals`` are the end lanes each membrane's margins show (:func:`~exo_vision.blot.lanes.blanks.end_lanes`),
    ``common`` those every membrane shows (the ones added); ``messages`` what each membrane's margins could not
    decide. A blank end lane shows no band, so without this message an unnamed run would lose it without a word.
    """
    names = _strip_names(strips, sorted(members))
    shown = max((len(p) for p in proposals), default=0)
    if shown > len(common):
        _tell(
            warnings,
            f"{names}: {n_found} lanes found; one membrane's margins leave room for {shown} blank end lane(s) but "
            f"another's do not (a blotch or a dark margin can hide an edge), so {len(common)} were added; if end "
            f"lanes are blank, give {LANE_COUNT}",
        )
    elif not common and any(messages):
        _tell(warnings, f"{names}: " + next(m for m in messages if m).split(": ", 1)[1])


def fit_shared_count(
    out: list[list[Lane]],
    strips: Sequence[Strip],
    offsets: dict[int, float],
    n_lanes: int,
    signal: np.ndarray,
    warnings: list[str] | None = None,
) -> None:
    """Trim or extend, in place, the lanes shared by the aligned strips ``offsets`` to ``n_lanes``.

    The strips' lanes correspond one to one, left to right (:func:`share_lanes`). With more
    lanes than asked for, the weaker end lane is left out until ``n_lanes`` remain, in every
    strip at once; a lane's strength is the sum over the strips of its tallest row mean above its
    median row (central part of the lane, signal units), so a lane blank in one membrane but loaded
    in another is kept. With fewer, the missing lanes are placed on the strip that shows both
    membrane edges (the first one, else the first strip) by
    :func:`~exo_vision.blot.lanes.blanks.fit_count` (centred on the membrane, else a pitch beyond
    the end with more room: a guess, named in ``warnings``) and shifted by each strip's offset
    (columns) onto the others. A message names lanes left out or guessed. Raises
    :class:`~exo_vision.blot.lanes.count.AmbiguousCount` when the found lanes fit the count on more than one
    grid equally well.

    Parameters
    ----------
    out : list of list of Lane
        Lanes of every strip (changed in place for the strips in ``offsets``).
    strips : sequence of Strip
        The strips, same order.
    offsets : dict of int to float
        Index of each aligned strip -> offset (columns) of its lanes from the reference strip's.
    n_lanes : int
        Lanes asked for.
    signal : (M, N) ndarray of float
        Blot in signal orientation (lane strengths).
    warnings : list of str, optional
        Messages are appended here (logged as warnings when not given).
    """
    members = sorted(offsets)
    found = len(out[members[0]])
    if found in (0, n_lanes) or any(len(out[j]) != found for j in members):
        return
    for j in members:
        out[j] = sorted(out[j], key=lambda item: item.x_centre_px)
    names = _strip_names(strips, members)
    if found > n_lanes:
        strength = [sum(_lane_strength(signal, out[j][k]) for j in members) for k in range(found)]
        lo, hi = 0, found
        while hi - lo > n_lanes:
            if strength[lo] <= strength[hi - 1]:
                lo += 1
            else:
                hi -= 1
        first = out[members[0]]
        dropped = ", ".join(f"{lane.x_centre_px:.0f}" for lane in first[:lo] + first[hi:])
        for j in members:
            out[j] = out[j][lo:hi]
        _tell(
            warnings,
            f"{names}: {found} lanes were found ({FOUND_LANES}) but {n_lanes} were asked for, "
            "so the weakest at the ends were left "
            f"out (centred at columns {dropped}{' in the first strip' if len(members) > 1 else ''}); if they are "
            f"lanes, give {LANE_COUNT} or {LANE_COLUMNS}",
        )
        return
    _extend_shared(out, strips, offsets, n_lanes, names, warnings)


def _extend_shared(out, strips: Sequence[Strip], offsets: dict[int, float], n_lanes: int, names: str, warnings):
    """Add the missing lanes of :func:`fit_shared_count` to every aligned strip, in place."""
    members = sorted(offsets)
    edged = [j for j in members if strips[j].membrane_left_px is not None and strips[j].membrane_right_px is not None]
    base = (edged or members)[0]
    s = strips[base]
    lanes = out[base]
    width = lanes[0].width_px
    xs = [lane.x_centre_px - s.x_left_px for lane in lanes]
    pitch = pitch_of(np.array(xs)) or width * UNKNOWN_PITCH_LANE_WIDTHS
    membrane = (
        (s.membrane_left_px - s.x_left_px, s.membrane_right_px - s.x_left_px)
        if s.membrane_left_px is not None and s.membrane_right_px is not None
        else None
    )
    # no lane is left out here (fewer found than asked), so no strength profile is needed
    placed, guessed, grids = fit_count(xs, n_lanes, pitch, s.width_px, width, np.zeros(1), membrane)
    if grids:
        why = grids_text(n_lanes, grids, membrane=membrane is not None)
        raise AmbiguousCount(s, [lane.x_centre_px for lane in lanes], width, why)
    new = [x + s.x_left_px for x in placed if min(abs(x - y) for y in xs) >= width / MATCH_TOLERANCE_DIVISOR]
    for j in members:
        s_j = strips[j]
        mid = (s_j.y_top_px + s_j.y_bottom_px - 1) / 2
        own = out[j]
        moved = [x - offsets[base] + offsets[j] for x in new]
        extra = [_moved(own[0] if x < own[0].x_centre_px else own[-1], s_j, x, mid) for x in moved]
        out[j] = sorted(own + extra, key=lambda item: item.x_centre_px)
    if guessed:
        pitch = pitch_of(np.array(placed)) or pitch
        _tell(
            warnings,
            f"{names}: {len(lanes)} of the {n_lanes} lanes show a band and the membrane's edges do not place the "
            f"others, so they were put {pitch:.0f} px apart on the grid of the lanes with bands: a guess. An 'absent' "
            f"call in those lanes is only as good as their position; check the annotated image, or give {LANE_COLUMNS}",
        )


def _strip_names(strips: Sequence[Strip], members: list[int]) -> str:
    """'strip 1' or 'strips 1, 2 (one membrane's lanes)' for the messages of :func:`fit_shared_count`."""
    if len(members) == 1:
        return f"strip {strips[members[0]].index}"
    numbers = ", ".join(str(strips[j].index) for j in members)
    return f"strips {numbers} (stacked, one set of lanes)"


def _lane_strength(signal: np.ndarray, lane: Lane) -> float:
    """A lane's tallest row mean above its median row mean (central part of the lane; signal units)."""
    rows = lane_pixels(signal, lane).mean(axis=1)
    return float(rows.max() - np.median(rows)) if rows.size else 0.0


def _on_finer_grid(xs: list[float], width: float) -> bool:
    """Whether lane centres ``xs`` sit on one regular grid whose pitch is at least a lane width."""
    pitch = pitch_of(np.array(xs))
    if pitch is None or pitch < width:
        return False
    steps = np.diff(np.sort(xs)) / pitch
    return bool(np.all(np.abs(steps - np.round(steps)) <= ON_GRID_TOLERANCE_PITCHES) and np.all(np.round(steps) >= 1))


def _ownend_lanes(lanes: list[Lane], strip: Strip) -> list[Lane]:
    """``lanes`` of one strip plus the blank end lanes its membrane margins show (see :func:`_end_lanes`)."""
    xs = [lane.x_centre_px for lane in sorted(lanes, key=lambda item: item.x_centre_px)]
    pitch = pitch_of(np.array(xs))
    if pitch is None:
        return lanes
    grown, _ = end_lanes(xs, pitch, lanes[0].width_px, strip)
    mid = (strip.y_top_px + strip.y_bottom_px - 1) / 2
    extra = [_moved(lanes[0] if x < xs[0] else lanes[-1], strip, x, mid) for x in grown if x not in xs]
    return sorted(lanes + extra, key=lambda item: item.x_centre_px)


def _edge_offsets(ref: Strip, other: Strip) -> list[float]:
    """Columns by which ``other``'s membrane lies right of ``ref``'s, by each side edge both strips show."""
    return [
        b - a
        for a, b in ((ref.membrane_left_px, other.membrane_left_px), (ref.membrane_right_px, other.membrane_right_px))
        if a is not None and b is not None
    ]


def _stack_shift(
    xs: np.ndarray, ref_x: np.ndarray, tol: float, pitch: float | None, width: float, ref: Strip, other: Strip
) -> tuple[float, int]:
    """Offset of strip ``other``'s lane centres ``xs`` from the reference strip's ``ref_x``, and the lanes it matches.

    Offsets are looked for near 0 (pieces of one membrane laid as it was cut) and near each offset a side edge
    shows (:func:`_edge_offsets`; a piece laid a lane or more to the side). The offset matching most lanes wins;
    among equals, the one most side edges agree with (within half a pitch), then the smallest. Lanes alone
    cannot tell a shift by a whole pitch (a strip may hold lanes the other lacks), and one edge can mislead (a
    narrower strip, a dark margin read as the edge): each is one piece of evidence. Without an edge seen in
    both strips, a strip laid a whole lane to the side is taken as laid as cut.
    """
    half = 0.5 * (pitch or 2 * width)
    edges = _edge_offsets(ref, other)
    found = [_best_shift(xs, ref_x, tol, half, about=prior) for prior in (0.0, *edges)]
    # the first of equal candidates wins, as 0 is tried first
    return max(found, key=lambda c: (c[1], sum(abs(c[0] - e) <= half for e in edges), -abs(c[0])))


def _unchecked_alignment(
    xs: np.ndarray,
    ref_x: np.ndarray,
    tol: float,
    pitch: float,
    shift: float,
    hits: int,
    pair: tuple[Strip, Strip],
    warnings: list[str] | None,
) -> None:
    """Warn when a strip's lanes ``xs``, aligned to the reference's ``ref_x`` at ``shift`` matching ``hits``
    lanes, would match more of them a whole lane further to either side, and no side edge seen in both strips
    can tell: they are numbered as laid as cut, which is wrong if the membrane was laid a lane aside."""
    better = [k for k in (-1, 1) if _best_shift(xs, ref_x, tol, 0.5 * pitch, about=shift + k * pitch)[1] > hits]
    if not better:
        return
    side = "left" if better[0] < 0 else "right"
    _tell(
        warnings,
        f"strips {pair[0].index} and {pair[1].index} (stacked, one set of lanes): strip {pair[1].index}'s lanes "
        f"would match more of strip {pair[0].index}'s if that membrane lay a lane {side} "
        "of where it was cut, and no side edge seen in both tells which; they are numbered as laid as cut. Check the "
        "annotated image; if the membranes were laid apart, crop them and quantify each alone",
    )


def _best_shift(
    xs: np.ndarray, ref_x: np.ndarray, tol: float, max_shift: float, *, about: float = 0.0
) -> tuple[float, int]:
    """Offset of lane centres ``xs`` from reference centres that puts most of them on a reference lane.

    Offsets within ``max_shift`` of ``about`` (one of :func:`_stack_shift`'s candidates) are tried. Returns
    the offset (the median residual of the matched lanes, the candidate nearest ``about`` first on ties) and
    how many lanes it matches.
    """
    best = (about, 0)
    candidates = {float(x - r) for x in xs for r in ref_x if abs(x - r - about) <= max_shift}
    for d in sorted(candidates, key=lambda c: abs(c - about)):
        hit = [x - d - ref_x[np.argmin(np.abs(ref_x - (x - d)))] for x in xs]
        n = sum(abs(h) < tol for h in hit)
        if n > best[1]:
            best = (d + float(np.median([h for h in hit if abs(h) < tol])), n)
    return best


def _moved(lane: Lane, strip: Strip, centre: float, mid: float) -> Lane:
    """A copy of ``lane`` over ``strip``'s rows, centred at column ``centre`` on row ``mid``, same tilt."""
    return replace(
        lane,
        strip=strip.index,
        y_top_px=strip.y_top_px,
        y_bottom_px=strip.y_bottom_px,
        x_top_px=centre + lane.slope * (strip.y_top_px - mid),
        x_bottom_px=centre + lane.slope * (strip.y_bottom_px - 1 - mid),
        name="",
    )
