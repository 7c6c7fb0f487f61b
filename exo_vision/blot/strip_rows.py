"""The band rows of one strip: fixed marker windows (given, or from the ladder fit) or detected bands.

:func:`strip_band_rows` detects each lane's bands on its side-corrected profile (:func:`detection_profiles`) and
applies the rules of :mod:`exo_vision.blot.band_rules`; :class:`StripSettings` holds what every strip of one
:func:`exo_vision.blot.quantify.quantify_blot` call shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from exo_vision.blot.background import side_profiles
from exo_vision.blot.band_rules import band_scale, longest_run, not_on_floor, not_taller, one_band_per_clipped_run
from exo_vision.blot.bands import band_rows, detect_bands, fixed_windows
from exo_vision.blot.ladder import fit_ladder
from exo_vision.blot.lanes import Lane
from exo_vision.blot.parameters import BlotParameters
from exo_vision.blot.strips import Strip

#: A lane profile's background opening is at least this many times as long as the lane's longest run of rows
#: holding a saturated pixel, so an over-exposed band's plateau is never taken for background.
SATURATED_RUN_WINDOWS = 2.0


@dataclass(frozen=True)
class StripSettings:
    """Measurement settings shared by every strip of one quantify_blot call."""

    params: BlotParameters
    ladder_lane: int | None
    ladder_kda: list[float] | None
    marker_windows_px: dict[str, tuple[int, int]] | None
    marker_windows_kda: Mapping[str, tuple[float, float]]
    image_name: str
    #: Grey-level step of an image of whole levels (None: continuous values); see
    #: :func:`~exo_vision.blot.detection.quantisation_floors`.
    quantisation_step: float | None
    staircase_sd: float | None = None


def strip_band_rows(
    profiles,
    s: Strip,
    ls,
    marker: str,
    st: StripSettings,
    calibrations,
    detection_profiles=None,
    image=None,
    sides: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    saturated_rows: Sequence[np.ndarray] | None = None,
    clipped_rows: Sequence[np.ndarray] | None = None,
    dropped: list[dict] | None = None,
) -> tuple[list, bool]:
    """Band rows of one strip: fixed marker windows (given, or from the ladder fit) or detected bands.

    Bands are detected on ``detection_profiles`` (one per lane; default the lane profiles); ``sides``
    are each lane's side-third profiles for the band-scale vote
    (:func:`~exo_vision.blot.band_rules.band_scale`); ``saturated_rows`` flag each lane's rows that hold a
    saturated pixel (:func:`~exo_vision.blot.band_rules.not_taller`, and the background opening is longer
    than their longest run), ``clipped_rows`` those whose central pixels are mostly saturated
    (:func:`~exo_vision.blot.band_rules.one_band_per_clipped_run`). Detected rows left out under the relative
    bar that stand clear of the noise in several lanes go to ``dropped`` (:func:`~exo_vision.blot.bands.band_rows`).
    """
    windows = None
    if st.marker_windows_px:
        windows = {k: v for k, v in st.marker_windows_px.items() if v[1] > s.y_top_px and v[0] < s.y_bottom_px}
    if st.ladder_lane is not None:
        windows = _ladder_window(st, s, ls, profiles, marker, calibrations) or windows
    if windows:
        return fixed_windows(ls, windows), True
    valley = (
        st.params.smear_merge_valley_fraction
        if marker.strip().lower() in st.params.smear_markers
        else st.params.merge_valley_fraction
    )
    det = detection_profiles or [profiles[(s.index, lane.index)] for lane in ls]
    params = st.params
    scale = band_scale(
        det,
        k_noise=params.band_peak_noise_sds,
        noise_order=params.profile_noise_difference_order,
        sides=sides,
        min_fill=params.band_scale_min_side_fill,
    )
    cands = []
    sat = saturated_rows if saturated_rows is not None else [None] * len(ls)
    clipped = clipped_rows if clipped_rows is not None else [None] * len(ls)
    for lane, prof, sat_rows, clip_rows in zip(ls, det, sat, clipped):
        window = params.background_window_lane_widths * lane.width_px
        if scale is not None:
            window = min(window, params.background_window_band_heights * scale)
        # a saturated run is signal, never background: the opening must be longer than it, or it flattens an
        # over-exposed band's plateau away (or leaves only its two edges as "bands")
        window = max(window, SATURATED_RUN_WINDOWS * longest_run(sat_rows))
        kw = dict(
            y_offset_px=lane.y_top_px,
            k_noise=params.band_peak_noise_sds,
            merge_valley=valley,
            background_window_px=int(window),
            max_height_px=int(params.max_band_fraction * (lane.y_bottom_px - lane.y_top_px)),
            noise_difference_order=params.profile_noise_difference_order,
            split_clear_dips=params.split_clear_dips,
            saturated_rows=sat_rows,
            trim_glow=params.trim_saturated_glow,
        )
        found = detect_bands(prof, **kw)
        if prof is not profiles[(s.index, lane.index)]:
            # a band is a peak of the lane's own profile too: the edge of a membrane (a step, which
            # the smoothed side background turns into a bump) is not
            own = detect_bands(profiles[(s.index, lane.index)], **kw)
            found = [b for b in found if any(o.y_top_px <= b.y_px < o.y_bottom_px for o in own)]
            if params.merge_clipped_runs:
                found = one_band_per_clipped_run(found, own, clip_rows, lane.y_top_px)
        cands.append(found)
    if image is not None:
        cands = not_on_floor(cands, image, ls, s)
    beside = None
    if image is not None:
        # the unsmoothed strips beside each lane: a faint row that recurs must fall off there (a crease does not)
        x_range = (s.x_left_px, s.x_right_px)
        beside = [
            (profiles[(s.index, lane.index)], side_profiles(image, lane, x_range_px=x_range, smooth_rows=0.0))
            for lane in ls
        ]
    return band_rows(
        ls,
        not_taller(cands, det, ls, scale, params, saturated_rows),
        min_relative_prominence=params.min_relative_prominence,
        smear=marker.strip().lower() in params.smear_markers,
        beside=beside,
        dropped=dropped,
    ), False


def detection_profiles(clean, s: Strip, ls, profiles, side_bg, st: StripSettings) -> list[np.ndarray]:
    """Lane profiles minus the lower of their two side-background profiles (a blotch runs beside the lane too)."""
    out = []
    for li, lane in enumerate(ls):
        prof = profiles[(s.index, lane.index)]
        sides = (
            side_bg[li]
            if st.params.background == "profile"
            else side_profiles(clean, lane, x_range_px=(s.x_left_px, s.x_right_px))
        )
        if st.params.subtract_sides and sides:
            # only the slow part of the side background: a band wider than the lane (or tilted
            # across it) reaches into the side strips, and must not be subtracted from itself
            size = max(st.params.side_window_min_px, int(st.params.side_window_lane_widths * lane.width_px)) | 1
            side = ndi.grey_opening(np.min(np.vstack(sides), axis=0), size=size, mode="nearest")
            prof = prof - ndi.uniform_filter1d(side, size, mode="nearest")
        out.append(prof)
    return out


def _ladder_window(st: StripSettings, s: Strip, ls: Sequence[Lane], profiles, marker: str, calibrations: dict):
    """``{marker: (top, bottom)}`` from the strip's ladder fit (stored in ``calibrations``), or None without
    ladder sizes or a kDa window for ``marker``."""
    ladder = int(st.ladder_lane or 0)
    if not 1 <= ladder <= len(ls):
        raise ValueError(
            f"{st.image_name or 'image'}: ladder lane {st.ladder_lane} does not exist; strip {s.index} "
            f"has lanes 1..{len(ls)}"
        )
    if st.ladder_kda is None:
        return None
    cal = _ladder_calibration(profiles, s, ls, ladder, st.ladder_kda, st.image_name)
    calibrations[s.index] = cal
    table_kda = {k.lower(): v for k, v in st.marker_windows_kda.items()}
    if not marker or marker.strip().lower() not in table_kda:
        return None
    lo, hi = table_kda[marker.strip().lower()]
    top, bottom = cal.window_px(lo, hi)
    top, bottom = max(top, s.y_top_px + st.params.border_px), min(bottom, s.y_bottom_px - st.params.border_px)
    if bottom - top < 2:
        raise ValueError(
            f"{st.image_name or 'image'}: the {marker} window {lo}-{hi} kDa falls outside strip {s.index} "
            f"according to the ladder fit; check ladder_kda and the ladder lane"
        )
    return {marker: (top, bottom)}


def _ladder_calibration(profiles, strip: Strip, lanes: Sequence[Lane], ladder_lane: int, ladder_kda, image_name: str):
    """Fit the MW calibration of one strip from its ladder lane's bands."""
    lane = lanes[ladder_lane - 1]
    cands = detect_bands(profiles[(strip.index, lane.index)], y_offset_px=lane.y_top_px)
    n = len(ladder_kda)
    if len(cands) < n:
        raise ValueError(
            f"{image_name or 'image'}: found {len(cands)} bands in ladder lane {ladder_lane} of strip {strip.index} "
            f"but {n} ladder sizes were given; give the sizes of the visible ladder bands only, heaviest first"
        )
    strongest = sorted(sorted(cands, key=lambda c: -c.prominence)[:n], key=lambda c: c.y_px)
    unmatched = tuple(sorted(float(c.y_px) for c in cands if c not in strongest))
    return replace(fit_ladder([c.y_px for c in strongest], list(ladder_kda)), unmatched_y_px=unmatched)
