"""Measuring one strip: a volume, background, row, blank-box LoD and present/absent call per band and lane."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from exo_vision.blot.background import (
    background_readings,
    band_background,
    profile_rolling_disk,
    side_profiles,
    side_shares,
)
from exo_vision.blot.band_extent import band_extent, widened
from exo_vision.blot.band_rules import LANE_SIDE_PARTS, clears_every_part, one_spot, side_thirds, spans_lane
from exo_vision.blot.bands import BandWindow
from exo_vision.blot.detection import (
    NoiseEstimate,
    blank_volume_noise,
    free_pixel_noise_sd,
    off_membrane_ends,
    quantisation_floors,
    white_noise_volume_sd,
)
from exo_vision.blot.flank import flank_only
from exo_vision.blot.lanes import Lane, gap_lanes, lane_pixels
from exo_vision.blot.parameters import BlotParameters
from exo_vision.blot.quantisation import destaircased_rows, linearise
from exo_vision.blot.strip_rows import StripSettings, detection_profiles, strip_band_rows
from exo_vision.blot.strips import Strip
from exo_vision.blot.volume import band_volume

#: A lane's row is clipped (its profile cannot show a valley) when at least this fraction of its central pixels
#: are saturated (:func:`~exo_vision.blot.band_rules.one_band_per_clipped_run`).
CLIPPED_ROW_FRACTION = 0.5
#: A window's net row profile is smoothed with a Gaussian of this SD (rows) before its shape is judged
#: (:func:`_band_shaped`): pixel noise must not break a band's fall to half its height.
SHAPE_SMOOTH_ROWS = 1.5
#: Windows shorter than this many rows have no shape to judge (:func:`_band_shaped` accepts them).
SHAPE_MIN_ROWS = 5
#: A strip's membrane is blotchy at a window height when its blank windows of that height vary at least this many
#: times what its pixel noise gives (:func:`~exo_vision.blot.detection.white_noise_volume_sd`): there a window
#: without a peak of its own must hold a band-shaped rise to be called present (:func:`_band_shaped`).
BLOTCHY_EXCESS = 2.0


def _ball_backgrounds(rb, clean_pixels, profiles_rows, st: StripSettings, lanes_or_gaps):
    """Rolled-ball background sampled like the lane pixels (None for the other methods)."""
    if rb is not None:
        return [lane_pixels(rb, lane, fraction=f) for lane, f in lanes_or_gaps]
    if st.params.background == "rolling_disk":
        return [
            np.repeat(
                profile_rolling_disk(prof, radius_px=st.params.rolling_ball_radius_px)[:, None], p.shape[1], axis=1
            )
            for prof, p in zip(profiles_rows, clean_pixels)
        ]
    return None


def _side_volume(
    det: np.ndarray, top: int, bottom: int, outside: tuple[int, int], width: int, st: StripSettings
) -> float:
    """Volume of a window on the side-corrected profile (lane minus its side background), straight baseline.

    A requested position without a peak of its own is called present only when this too clears the
    LoD: a blotch or gradient under the window runs beside the lane as well and cancels here. The
    baseline is read just outside ``outside`` (rows ``(first, one past last)``: the window's run of
    touching bands, as for the band's own background), never on a touching neighbour band.
    """
    b = st.params.border_px
    a_out, b_out = outside
    above, below = det[max(0, a_out - b) : a_out], det[b_out : b_out + b]
    if not above.size or not below.size:
        return float("inf")  # no border on one side: the plain volume decides
    line = np.interp(
        np.arange(top, bottom),
        [a_out - (above.size + 1) / 2, b_out + (below.size - 1) / 2],
        [float(above.mean()), float(below.mean())],
    )
    return float(width * (det[top:bottom] - line).sum())


def _band_shaped(net: np.ndarray) -> bool:
    """Whether a window's net row profile (intensity per pixel, background removed) holds a band: a highest row
    inside the window from which the profile, smoothed over :data:`SHAPE_SMOOTH_ROWS`, falls to half on both
    sides before the window's edges.

    A window without a peak of its own on a mottled membrane reads the blotch under it: a ramp up to the
    window's edge or a hump as tall as the window, which clears a volume LoD without being a band.
    """
    net = ndi.gaussian_filter1d(np.asarray(net, dtype=np.float64), SHAPE_SMOOTH_ROWS, mode="nearest")
    if net.size < SHAPE_MIN_ROWS:
        return True
    r = int(np.argmax(net))
    half = net[r] / 2
    return bool(
        net[r] > 0 and net[:r].size and net[r + 1 :].size and net[:r].min() <= half and net[r + 1 :].min() <= half
    )


def _margin_profiles(lanes, gaps, gap_pix) -> list[tuple[int, np.ndarray]]:
    """``(first image row, row profile)`` of the blank membrane beyond the outermost lanes, left and right.

    From the band-free pseudo-lanes of :func:`~exo_vision.blot.lanes.gap_lanes` that lie outside the lane set
    (a margin too narrow to hold one gives none).
    """
    left = min(lane.x_centre_px for lane in lanes)
    right = max(lane.x_centre_px for lane in lanes)
    return [
        (g.y_top_px, pix.mean(axis=1))
        for g, pix in zip(gaps, gap_pix, strict=True)
        if g.x_centre_px < left or g.x_centre_px > right
    ]


def _on_lane_rows(lane, margins: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
    """The margin profiles read on ``lane``'s rows (image rows ``y_top_px`` to ``y_bottom_px``)."""
    rows = np.arange(lane.y_top_px, lane.y_bottom_px)
    return [np.interp(rows, y0 + np.arange(prof.size), prof) for y0, prof in margins if prof.size]


def _runs_across_membrane(
    p: np.ndarray, top: int, bottom: int, common: dict[str, Any], side, margins, st: StripSettings
) -> bool:
    """Whether a window's rise runs across the membrane: beside the lane and in its blank margins alike.

    A band loaded in a lane rises in that lane; a row of banding or a blotch across the membrane rises as
    much in the gaps beside the lane (``side``) and in the blank membrane beyond the outermost lanes
    (``margins``). Both side strips and every margin must show ``max_side_share`` of the lane's net signal:
    in lanes packed so close that their bands touch, the side strips hold the neighbours' bands, but the
    margins stay flat. Only for the ``"profile"`` background, with two side strips and a margin.
    """
    if st.params.max_side_share <= 0 or st.params.background != "profile":
        return False
    if side is None or len(side) < 2 or not margins:
        return False
    line = band_background(p, top, bottom, **{**common, "gap_profile": None})
    where = dict(line=line, outside=common["outside"], border_px=common["border_px"])
    shares = side_shares(p, top, bottom, gap_profile=side, **where)
    if len(shares) < 2 or min(shares) < st.params.max_side_share:
        return False
    beyond = side_shares(p, top, bottom, gap_profile=margins, **where)
    return len(beyond) == len(margins) and min(beyond) >= st.params.max_side_share


def _readings(
    p: np.ndarray, top: int, bottom: int, common: dict[str, Any], side, bg: np.ndarray, line, st: StripSettings
) -> list[float]:
    """The window's net signal under the other readings of its ``"profile"`` background (the plain ``line``, the
    line bent as each side strip bends) over that under ``bg`` (:func:`~exo_vision.blot.background.
    background_readings`); empty for other backgrounds and on an 8-bit export whose rounding staircase is undone."""
    if st.params.background != "profile" or st.staircase_sd is not None:
        return []
    where = dict(outside=common["outside"], border_px=common["border_px"])
    return background_readings(p, top, bottom, gap_profile=side, line=line, background=bg, **where)


def _reported(measured: list[dict], params: BlotParameters, spots: list[dict]) -> list[dict]:
    """Keep requested positions and detected bands that clear their LoD and run across their lane (the others
    that clear it go to ``spots``); band rows renumbered 1.. top to bottom.

    A requested position is always measured and kept. When its signal over the LoD lies in a small part of its
    lane (:func:`_lane_wide` fails, or :func:`~exo_vision.blot.band_rules.one_spot` finds one bright dot that
    leaves the rest of the window under the LoD: a speck of dust in an otherwise empty window), it is called absent
    and goes to ``spots`` too, flagged ``requested``: a marker loaded in the lane runs across it, and one speck
    must not turn "calnexin absent" into "calnexin present". A window holding a saturated pixel keeps its call.
    """
    for m in measured:
        if m["requested"] and m["present"] and not m["saturated"] and (m["one_spot"] or not m["lane_wide"]):
            m["present"] = False
            spots.append(m)
    if not params.report_undetected:
        peaks = [m for m in measured if not m["requested"] and m["detected"] and m["present"]]
        spots.extend(m for m in peaks if not m["lane_wide"])
        bands = {id(m) for m in peaks if m["lane_wide"]}
        measured = [m for m in measured if m["requested"] or id(m) in bands]
    numbers = {b: i + 1 for i, b in enumerate(sorted({m["band"] for m in measured}))}
    for m in measured:
        m["band"] = numbers[m["band"]]
    return measured


def measure_strip(
    clean,
    saturated,
    rb,
    s: Strip,
    ls,
    marker,
    st: StripSettings,
    *,
    profiles,
    noise_cache,
    calibrations,
    spots,
    flanks,
    faint_rows=None,
) -> list[dict]:
    """One record per band row and lane of one strip (see :data:`~exo_vision.blot.quantify.BAND_COLUMNS`).

    Peaks that clear their LoD but sit in a small part of their lane (:func:`_lane_wide`) are not reported:
    their records go to ``spots``. A band whose only signal is the flank of a saturated or much stronger
    neighbour's band (:func:`~exo_vision.blot.flank.flank_only`) is called absent; it and its neighbour's
    record go to ``flanks``. Band rows left out under the relative bar that stand clear of the noise in several
    lanes go to ``faint_rows`` when it is given (:func:`~exo_vision.blot.bands.band_rows`).
    """
    f = st.params.central_fraction
    pix = [lane_pixels(clean, lane, fraction=f).astype(np.float64) for lane in ls]
    # clipped pixels in the columns a band's volume is summed over: those it underestimates by
    measured_sat = [lane_pixels(saturated, lane, fraction=f) for lane in ls]
    for lane, p in zip(ls, pix):
        profiles[(s.index, lane.index)] = p.mean(axis=1)
    to_level = None if st.staircase_sd is None else partial(linearise, noise_sd=st.staircase_sd)
    bgs = _ball_backgrounds(rb, pix, [profiles[(s.index, lane.index)] for lane in ls], st, [(lane, f) for lane in ls])
    # side strips beside each lane depend on that lane alone: moving a neighbour changes nothing here
    side_bg = (
        [side_profiles(clean, lane, x_range_px=(s.x_left_px, s.x_right_px)) for lane in ls]
        if st.params.background == "profile"
        else [None] * len(ls)
    )
    # Blank "lanes" in the gaps between lanes (and the margins) also hold background for the LoD boxes.
    gaps = gap_lanes(ls, s, central_fraction=f)
    gap_pix = [lane_pixels(clean, g, fraction=1.0).astype(np.float64) for g in gaps]
    side_levels = (
        side_bg if to_level is None else [None if sd_ is None else [to_level(g) for g in sd_] for sd_ in side_bg]
    )
    gap_bgs = _ball_backgrounds(rb, gap_pix, [p.mean(axis=1) for p in gap_pix], st, [(g, 1.0) for g in gaps]) or []
    det = detection_profiles(clean, s, ls, profiles, side_bg, st)
    rows, fixed = _strip_rows(clean, saturated, (s, ls, marker), st, pix, det, profiles, calibrations, faint_rows)
    busy = _busy_rows(rows, ls, pix, s)
    smear = marker.strip().lower() in st.params.smear_markers
    blank_margins = _margin_profiles(ls, gaps, gap_pix)
    margins = [_on_lane_rows(lane, blank_margins) for lane in ls]
    measured = []
    pixel_sd: dict[tuple[int, int], float] = {}
    for row in rows:
        for li, w in enumerate(row):
            p, y0 = pix[li], w.lane.y_top_px
            top, bottom = w.y_top_px - y0, w.y_bottom_px - y0
            others = _other_bands(rows, w)
            common: dict[str, Any] = dict(
                method=st.params.background,
                border_px=st.params.border_px,
                background_pixels=None if bgs is None else bgs[li],
                outside=(outside := (w.bg_top_px - y0, w.bg_bottom_px - y0)),
                avoid=others,
            )
            vol, bg, lines = _window_volume(p, top, bottom, common, side_bg[li], side_levels[li], to_level, st)
            y = w.y_top_px + _band_row(p[top:bottom].mean(axis=1) - bg, peaked=w.detected and not smear)
            nz = _noise(noise_cache, s, bottom - top, pix, busy, gap_pix, bgs, gap_bgs, st, pixel_sd)
            cols = w.lane.columns(np.arange(w.y_top_px, w.y_bottom_px), fraction=f)
            nsat = int(measured_sat[li][top:bottom].sum())
            if w.detected and nz.blotchy and nz.peak_sd < nz.sd_volume:
                # a peak of the lane's own (a band the profile shows) is no blotch read by an empty window: the
                # boxes' tails, which blotches and a smear's tails beside packed lanes alike raise, do not judge it
                nz = replace(nz, sd_volume=nz.peak_sd)
            lod = nz.lod(st.params.lod_factor)
            clears = vol > lod and (w.detected or _side_volume(det[li], top, bottom, outside, p.shape[1], st) > lod)
            clears = clears and (w.detected or not nz.blotchy or _band_shaped(p[top:bottom].mean(axis=1) - bg))
            clears = clears and not _runs_across_membrane(p, top, bottom, common, side_bg[li], margins[li], st)
            present = bool(clears or (nsat > 0 and vol > 0))
            mw_kda = float(calibrations[s.index].kda_at(y)) if s.index in calibrations else float("nan")
            measured.append(
                {
                    **_window_record(s, w, cols, y, vol, float(bg.mean()), nz.sd_volume, lod),
                    **dict(present=present, requested=fixed, saturated=nsat > 0, saturated_px=nsat, mw_kda=mw_kda),
                    **_spread(p[top:bottom], bg, vol, (lod, nz, pixel_sd), (w.detected, present), st, (s, pix, busy)),
                    "extent": _extent(clean, s, ls, w, p, lines, side_bg[li], st, clipped=nsat > 0),
                    "background_readings": _readings(p, top, bottom, common, side_bg[li], bg, lines[0], st),
                }
            )
    flanks.extend(_called_absent(clean, ls, measured, st.params))
    widened(measured, ls, saturated, fraction=f)
    _name_marker_rows(measured, marker, fixed, st.ladder_lane)
    return _reported(measured, st.params, spots)


def _extent(
    clean: np.ndarray,
    s: Strip,
    ls: Sequence[Lane],
    w: BandWindow,
    p: np.ndarray,
    lines: tuple[np.ndarray | None, np.ndarray],
    side,
    st: StripSettings,
    *,
    clipped: bool = False,
):
    """The band extent of window ``w`` (:func:`~exo_vision.blot.band_extent.band_extent`; None where ``w`` holds no
    peak of its lane or with ``measure_band_extent`` off), on lane pixels ``p``; ``lines`` are the window's plain
    and side-bent backgrounds (:func:`_window_volume`): where the side profiles ``side`` bend the lane's background
    (a blotchy membrane), every column's background bends alike; ``clipped``: the window's central columns hold a
    clipped pixel."""
    if not (w.detected and st.params.measure_band_extent):
        return None
    bend = None
    if side is not None and st.params.background == "profile":
        bend = lines[1] - lines[0]
    return band_extent(
        clean,
        w.lane,
        ls,
        (w.y_top_px, w.y_bottom_px),
        (w.bg_top_px, w.bg_bottom_px),
        n_central=p.shape[1],
        border_px=st.params.border_px,
        x_range_px=(s.x_left_px, s.x_right_px),
        step=None if st.staircase_sd is None else st.quantisation_step,
        bend=bend,
        clipped=clipped,
    )


def _other_bands(rows: list[list[BandWindow]], w: BandWindow) -> list[tuple[int, int]]:
    """Rows (lane-relative) of the other bands of window ``w``'s lane: the windows of the strip's other band rows in
    this lane, less those that hold no peak of the lane, reach past both of ``w``'s edges and are centred within
    ``w``'s rows. Such a window is another band row's placement over this band's own row (a ladder mark's 120-row
    window in the sample lanes beside the ladder, at the row of a faint band in them), no neighbour band whose flank
    a border must step around: taking it for one made the faint band's window read its background inside its own
    edges, in the valleys where its profile stopped falling (volumes 1.1-1.6x)."""
    y0 = w.lane.y_top_px
    return [(o.y_top_px - y0, o.y_bottom_px - y0) for row in rows for o in row if _beside(o, w)]


def _beside(o: BandWindow, w: BandWindow) -> bool:
    """Whether window ``o`` is another band of window ``w``'s lane (see :func:`_other_bands`)."""
    if o.lane is not w.lane or o is w:
        return False
    over = o.y_top_px < w.y_top_px and o.y_bottom_px > w.y_bottom_px
    return o.detected or not (over and w.y_top_px <= (o.y_top_px + o.y_bottom_px) / 2 < w.y_bottom_px)


def _strip_rows(
    clean: np.ndarray,
    saturated: np.ndarray,
    where: tuple[Strip, Sequence[Lane], str],
    st: StripSettings,
    pix: list[np.ndarray],
    det: Any,
    profiles: dict[tuple[int, int], np.ndarray],
    calibrations: Any,
    faint_rows: list[dict] | None,
) -> tuple[list, bool]:
    """The band rows of strip ``where`` (strip, lanes, marker) and whether they are fixed windows
    (:func:`~exo_vision.blot.strip_rows.strip_band_rows`), on the lanes' central pixels ``pix`` and detection
    profiles ``det``; rows left out under the relative bar that stand clear of the noise go to ``faint_rows``."""
    s, ls, marker = where
    f = st.params.central_fraction
    full_sat = [lane_pixels(saturated, lane, fraction=1.0) for lane in ls]
    return strip_band_rows(
        profiles,
        s,
        ls,
        marker,
        st,
        calibrations,
        det,
        image=clean,
        sides=[side_thirds(p) for p in pix],
        saturated_rows=[np.any(m, axis=1).reshape(-1) for m in full_sat],
        clipped_rows=[np.mean(lane_pixels(saturated, lane, fraction=f), axis=1) >= CLIPPED_ROW_FRACTION for lane in ls],
        dropped=faint_rows,
    )


def _called_absent(clean: np.ndarray, ls, measured: list[dict], params: BlotParameters) -> list[tuple[dict, dict]]:
    """The records of ``measured`` that are only a neighbour's flank (:func:`~exo_vision.blot.flank.flank_only`),
    each called absent, with the neighbour's record. Off with ``params.max_side_share`` 0, as on gels, whose
    round sample bands spread past the lanes their wells give."""
    if params.max_side_share <= 0:
        return []
    flanks = flank_only(clean, ls, measured)
    for m, _ in flanks:
        m["present"] = False
    return flanks


def _name_marker_rows(measured: list[dict], marker: str, fixed: bool, ladder_lane: int | None) -> None:
    """Without a requested position the strip's strongest band row is its marker's; the ladder lane is no
    sample, so its bands carry no marker and are not requested."""
    if marker and not fixed and measured:
        _mark_strongest_row([m for m in measured if m["lane"] != ladder_lane] or measured, marker)
    for m in measured:
        if m["lane"] == ladder_lane:
            m["marker"] = ""
            m["requested"] = False


def _lane_wide(rows: np.ndarray, bg: np.ndarray, volume: float, st: StripSettings, nz: NoiseEstimate) -> bool:
    """Whether a detected band's pixels ``rows`` (less the per-row background ``bg``) run across its lane.

    They do when the band is wide enough (:func:`~exo_vision.blot.band_rules.spans_lane`), or when its net signal
    clears the limit of detection of a third of the lane's pixels (``nz``) in each third of its columns
    (:func:`~exo_vision.blot.band_rules.clears_every_part`): a band loaded unevenly across its lane. The net pixels
    are shifted evenly to sum to the band's measured ``volume`` (on an 8-bit export the volume undoes the rounding
    staircase, which a plain difference from the background does not).
    """
    net = rows - np.asarray(bg, dtype=np.float64).reshape(-1, 1)
    net = net + (volume - float(net.sum())) / max(net.size, 1)
    if spans_lane(net, fraction=st.params.band_lane_wide_fraction):
        return True
    return clears_every_part(net, part_lod=nz.part_lod(1.0 / LANE_SIDE_PARTS, st.params.lod_factor))


def _spread(rows, bg, vol, noise, flags: tuple[bool, bool], st: StripSettings, where) -> dict[str, bool]:
    """``lane_wide`` (:func:`_lane_wide`; True for a window without a peak that is not present) and ``one_spot``
    (:func:`_one_spot`, present windows only) of a window's pixels ``rows``; ``noise`` is (LoD, the window's noise
    estimate, the strip's pixel-noise cache), ``flags`` (detected, present)."""
    lod, nz, pixel_sd = noise
    detected, present = flags
    return dict(
        lane_wide=not (detected or present) or _lane_wide(rows, bg, vol, st, nz),
        one_spot=present and _one_spot(rows, bg, vol, lod, st, pixel_sd, where),
    )


def _one_spot(
    rows: np.ndarray, bg: np.ndarray, volume: float, lod: float, st: StripSettings, pixel_sd: dict, where
) -> bool:
    """Whether a window's pixels ``rows`` (less the per-row background ``bg``, shifted to sum to ``volume`` as in
    :func:`_lane_wide`) hold one compact spot and nothing else over the LoD
    (:func:`~exo_vision.blot.band_rules.one_spot`); never with ``band_lane_wide_fraction`` 0 (spots kept).
    ``where`` is (strip, the lanes' central pixels, their busy rows) for the strip's pixel noise."""
    if st.params.band_lane_wide_fraction <= 0:
        return False
    s, pix, busy = where
    if (s.index, 0) not in pixel_sd:
        pixel_sd[(s.index, 0)] = free_pixel_noise_sd(pix, busy[0], border_px=st.params.border_px)
    net = rows - np.asarray(bg, dtype=np.float64).reshape(-1, 1)
    net = net + (volume - float(net.sum())) / max(net.size, 1)
    return one_spot(net, pixel_sd=pixel_sd[(s.index, 0)], lod=lod)[0]


def _band_row(net: np.ndarray, *, peaked: bool) -> float:
    """Row of a band in its window (rows from the window's top), from the window's net profile (intensity per pixel).

    A band detected as a peak of its lane (``peaked``) is at its peak: the intensity-weighted centre of the
    run of rows around the window's highest row that stay above half of it, so a window that also takes in
    a smear or a neighbour's flank does not pull the row off the band. A window without a peak of its own
    (an absent or interpolated band) and a smear integrated as one band are at the intensity-weighted
    centre of the whole window; a window with no signal at its middle.
    """
    net = np.clip(np.asarray(net, dtype=np.float64), 0, None)
    if net.size == 0 or net.max() <= 0:
        return (net.size - 1) / 2
    a, b = 0, net.size
    if peaked:
        r = int(np.argmax(net))
        a, b = r, r + 1
        while a > 0 and net[a - 1] >= net[r] / 2:
            a -= 1
        while b < net.size and net[b] >= net[r] / 2:
            b += 1
    return float((np.arange(a, b) * net[a:b]).sum() / net[a:b].sum())


def _window_volume(
    p: np.ndarray, top: int, bottom: int, common: dict[str, Any], side, side_level, to_level, st: StripSettings
) -> tuple[float, np.ndarray, tuple[np.ndarray | None, np.ndarray]]:
    """Volume and per-row background of one band window of a lane's pixels ``p``, and the window's plain
    straight-line background (``"profile"`` backgrounds only, else None) and its background bent by the side
    profiles ``side`` (the band extent and the background readings use both).

    On an 8-bit export with sub-level noise (``to_level`` given) the rounding
    staircase is undone where the band stands out.
    """
    bg = band_background(p, top, bottom, gap_profile=side, **common)
    plain = None
    if st.params.background == "profile":
        plain = bg if side is None else band_background(p, top, bottom, **{**common, "gap_profile": None})
    lines = (plain, bg)
    vol = band_volume(p, top, bottom, bg)
    if to_level is not None and st.staircase_sd is not None:
        level_bg = band_background(p, top, bottom, gap_profile=side_level, to_level=to_level, **common)
        net = destaircased_rows(p[top:bottom].mean(axis=1), bg, level_bg, noise_sd=st.staircase_sd)
        vol, bg = float(p.shape[1] * net.sum()), level_bg
    return vol, bg, lines


def _window_record(
    s: Strip, w, cols: np.ndarray, y: float, vol: float, background: float, sd_volume: float, lod: float
) -> dict:
    """Where one band window lies and what it measured.

    These are the first columns of :data:`~exo_vision.blot.quantify.BAND_COLUMNS`, and the window's peak
    prominence (:attr:`~exo_vision.blot.bands.BandWindow.prominence`, which the table leaves out).
    """
    return dict(
        strip=s.index,
        lane=w.lane.index,
        lane_name=w.lane.name,
        band=w.band,
        marker=w.marker,
        x_left_px=int(cols.min()),
        x_right_px=int(cols.max()) + 1,
        y_top_px=w.y_top_px,
        y_bottom_px=w.y_bottom_px,
        y_px=y,
        height_px=w.y_bottom_px - w.y_top_px,
        volume=vol,
        background_per_px=background,
        noise_sd_volume=sd_volume,
        snr=vol / sd_volume if sd_volume > 0 else float("inf"),
        lod_volume=lod,
        detected=w.detected,
        prominence=w.prominence,
    )


def _mark_strongest_row(measured: list[dict], marker: str) -> None:
    """Give ``marker`` to the band row whose peaks stand highest in total (the strip's marker is its strongest row).

    A row is ranked by the summed prominence of its lanes' peaks (profile height above their surroundings), not
    by its summed volume: a blotch of a mottled membrane is low and tall and turns up as a "peak" in many empty
    lanes, and its volumes over those lanes can outweigh a sharp band loaded in one lane only (calnexin in the
    lysate), whose peak stands many times higher than any blotch's.
    """
    totals: dict[int, float] = {}
    for m in measured:
        totals[m["band"]] = totals.get(m["band"], 0.0) + max(float(m.get("prominence", 0.0)), 0.0)
    if not any(v > 0 for v in totals.values()):
        for m in measured:
            totals[m["band"]] = totals.get(m["band"], 0.0) + max(m["volume"], 0.0)
    main = max(totals, key=lambda band: totals[band])
    for m in measured:
        if m["band"] == main:
            m["marker"] = marker
            m["requested"] = True


def _busy_rows(rows, ls, pix, strip: Strip) -> tuple[list[list[tuple[int, int]]], list[list[tuple[int, int]]]]:
    """Per lane, the lane-relative rows ``(first, one past last)`` of its band windows (their runs of touching
    bands, and a clipped band's glow), and of only the windows that hold a peak of that lane; both also hold the
    lane's rows off a turned membrane at its ends (:func:`_off_membrane`, from the lanes' pixels ``pix``)."""
    off = [_off_membrane(p, strip) for p in pix]

    def busy(peaks_only: bool) -> list[list[tuple[int, int]]]:
        return [
            [
                (w.busy_top_px - lane.y_top_px, w.busy_bottom_px - lane.y_top_px)
                for row in rows
                for w in row
                if w.lane is lane and (w.detected or not peaks_only)
            ]
            + off[i]
            for i, lane in enumerate(ls)
        ]

    return busy(False), busy(True)


def _off_membrane(pixels: np.ndarray, strip: Strip) -> list[tuple[int, int]]:
    """Rows at the ends of a lane (or gap) whose ``pixels`` lie on the camera floor beside the strip's membrane:
    under :attr:`~exo_vision.blot.strips.Strip.lowest_membrane_level`, which a membrane's interior never falls
    under, however dim its blotches (:func:`~exo_vision.blot.detection.off_membrane_ends`)."""
    return off_membrane_ends(pixels, strip.lowest_membrane_level)


def _blotchy(nz: NoiseEstimate, pix, peak_busy, height: int, st: StripSettings, bgs, gap_bgs) -> NoiseEstimate:
    """The noise of a blotchy membrane's ``height``-row windows: blotches are no few outliers among the blank
    boxes, so their tails count (:func:`~exo_vision.blot.detection.tail_sd`), and the boxes may also lie on the
    band rows of lanes without a peak there (``peak_busy``): those are the membrane's blank windows at the rows a
    marker is measured on, and the only ones as tall as a smear's window. The larger SD of the two samples; the
    boxes' central-half SD stays as ``peak_sd``, against which a window holding a peak of its own is judged."""
    wide = blank_volume_noise(
        pix,
        peak_busy,
        height_px=height,
        method=st.params.background,
        border_px=st.params.border_px,
        lanes_background=None if bgs is None else bgs + gap_bgs,
    )
    sd = max(nz.sd_volume, nz.tail_sd, wide.sd_volume, wide.tail_sd)
    out = NoiseEstimate(
        sd, nz.mean_volume, nz.n_boxes, nz.source + " (blotchy: central 95 %, band rows of empty lanes)"
    )
    out.blotchy = True
    out.peak_sd = nz.sd_volume
    return out


def _noise(
    cache, s: Strip, height: int, pix, busy, gap_pix, bgs, gap_bgs, st: StripSettings, pixel_sd: dict
) -> NoiseEstimate:
    """Blank-volume noise of ``height``-row bands in strip ``s`` (cached per strip and height).

    ``busy`` is the pair (every band window, the windows holding a peak) per lane. Blank boxes avoid every
    band window; on a blotchy membrane (:func:`_blotchy`) the estimate is also taken from boxes that avoid only
    each lane's peaks, and the larger counts. The gaps between lanes avoid every band row.
    """
    key = (s.index, height)
    busy, peak_busy = busy
    if key not in cache:
        # gaps hold no lane, but a band row's bleed (or a band whose lane was moved away) may sit
        # in them: their boxes avoid every band row of the strip
        every_row = sorted({rows for lane_busy in busy for rows in lane_busy})
        gap_busy = [every_row + _off_membrane(g, s) for g in gap_pix]
        nz = blank_volume_noise(
            pix + gap_pix,
            busy + gap_busy,
            height_px=height,
            method=st.params.background,
            border_px=st.params.border_px,
            lanes_background=None if bgs is None else bgs + gap_bgs,
        )
        # few, overlapping boxes can read below what the pixel noise alone gives: never less than that
        if (s.index, 0) not in pixel_sd:
            pixel_sd[(s.index, 0)] = free_pixel_noise_sd(pix, busy, border_px=st.params.border_px)
        white_sd = white_noise_volume_sd(
            pixel_sd[(s.index, 0)],
            height_px=height,
            width_px=pix[0].shape[1],
            method=st.params.background,
            border_px=st.params.border_px,
        )
        if nz.sd_volume < white_sd:
            nz = NoiseEstimate(white_sd, nz.mean_volume, nz.n_boxes, nz.source + " (pixel-noise floor)")
        # blank windows that vary far more than the pixel noise explains: structure of the membrane (blotches)
        if nz.n_boxes > 0 and nz.sd_volume >= BLOTCHY_EXCESS * white_sd:
            nz = _blotchy(nz, pix + gap_pix, peak_busy + gap_busy, height, st, bgs, gap_bgs)
        if st.quantisation_step is not None:
            # an image of whole grey levels cannot be known better than its step (detection.quantisation_floors)
            nz = quantisation_floors(nz, n_pixels=height * pix[0].shape[1], step=st.quantisation_step)
        cache[key] = nz
    return cache[key]
