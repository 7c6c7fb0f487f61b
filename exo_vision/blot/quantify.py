"""The one high-level blot function: image in, one row per band out."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from exo_vision._shared.runs import true_runs
from exo_vision.blot.background import band_background, profile_rolling_disk, rolling_ball_background, side_profiles
from exo_vision.blot.bands import band_rows, detect_bands, fixed_windows, flattened_profile, profile_noise_sd
from exo_vision.blot.constants import MIN_PROFILE_ROWS
from exo_vision.blot.detection import NoiseEstimate, blank_volume_noise, free_pixel_noise_sd, white_noise_volume_sd
from exo_vision.blot.ladder import MARKER_WINDOWS_KDA, MWCalibration, fit_ladder
from exo_vision.blot.lanes import Lane, find_lanes, gap_lanes, lane_pixels, lanes_from_ranges, share_lanes, stacked
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters
from exo_vision.blot.quantisation import destaircased_rows, linearise, staircase_noise_sd
from exo_vision.blot.saturation import export_warnings, saturation_mask
from exo_vision.blot.signal import (
    check_image,
    default_saturation_level,
    dust_mask,
    guess_polarity,
    pixel_noise_sd,
    remove_dust,
    to_signal,
)
from exo_vision.blot.strips import Strip, find_strips
from exo_vision.blot.volume import band_volume
from exo_vision.blot.writing import writing_mask

logger = logging.getLogger(__name__)

#: Columns of the band table, in order, with their dtypes.
BAND_COLUMNS: dict[str, str] = {
    "label": "int64",
    "image": "object",
    "strip": "int64",
    "lane": "int64",
    "lane_name": "object",
    "band": "int64",
    "marker": "object",
    "x_left_px": "int64",
    "x_right_px": "int64",
    "y_top_px": "int64",
    "y_bottom_px": "int64",
    "y_px": "float64",
    "height_px": "int64",
    "volume": "float64",
    "background_per_px": "float64",
    "noise_sd_volume": "float64",
    "snr": "float64",
    "lod_volume": "float64",
    "present": "bool",
    "detected": "bool",
    "requested": "bool",
    "saturated": "bool",
    "saturated_px": "int64",
    "mw_kda": "float64",
}

#: The bands of one antibody in one strip have half-height widths within this factor of each other: a
#: strongest bump thinner than a width other lanes share, and shared by no other lane, is a mark (:func:`_band_scale`).
BAND_WIDTH_AGREEMENT = 1.5
#: A lane's two sides, for the band-scale vote, are the outer parts of its central columns cut in this many.
LANE_SIDE_PARTS = 3
#: A bump is checked for pen strokes over the camera floor within this many lane widths of its lane's centre
#: (a hand-written ladder runs from the floor beside the membrane into the first lane) (:func:`_not_on_floor`).
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
#: The variance of a uniform rounding error of one grey level is 1/UNIFORM_VARIANCE_DIVISOR.
UNIFORM_VARIANCE_DIVISOR = 12.0
#: A lane profile's background opening is at least this many times as long as the lane's longest run of rows
#: holding a saturated pixel, so an over-exposed band's plateau is never taken for background.
SATURATED_RUN_WINDOWS = 2.0
#: A lane's row is clipped (its profile cannot show a valley) when at least this fraction of its central pixels
#: are saturated (:func:`_one_band_per_clipped_run`).
CLIPPED_ROW_FRACTION = 0.5


def empty_band_table() -> pd.DataFrame:
    """A band table with every column and no rows."""
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in BAND_COLUMNS.items()})


@dataclass
class BlotResult:
    """Everything :func:`quantify_blot` measured.

    Attributes
    ----------
    bands : pandas.DataFrame
        One row per band and lane (columns in :data:`BAND_COLUMNS`). Volumes
        are in intensity x pixel units over the central part of the lane;
        ``present`` means volume > ``lod_volume``. A row is either a
        *detected* band (``detected``: a peak of this lane's profile whose
        volume clears the LoD; its rows are the peak's extent) or a
        *requested* position (``requested``: the strip's marker row or a
        marker window, measured in every lane and called present or absent
        against the LoD). Lanes with no band and no requested position have
        no row.
    strips : list of Strip
        Membrane strips found (or given).
    lanes : list of Lane
        Lane geometry (editable; see :class:`exo_vision.blot.lanes.Lane`).
    profiles : dict of (int, int) to ndarray
        ``(strip, lane) ->`` lane profile (mean signal per row, central part).
    saturation_mask : (M, N) ndarray of bool
        Pixels at the saturation level (dust excluded).
    dust_mask : (M, N) ndarray of bool
        Dust specks and pen writing (:mod:`exo_vision.blot.writing`) removed before measuring.
    noise : dict of (int, int) to NoiseEstimate
        ``(strip, band height px) ->`` blank-volume noise.
    calibrations : dict of int to MWCalibration
        Strip -> molecular-weight fit from the ladder lane (empty without a ladder).
    warnings : list of str
        Problems the user must see (8-bit export, saturated bands ...).
    parameters : dict
        The parameters used (JSON-serialisable).
    """

    bands: pd.DataFrame
    strips: list[Strip]
    lanes: list[Lane]
    profiles: dict[tuple[int, int], np.ndarray]
    saturation_mask: np.ndarray
    dust_mask: np.ndarray
    noise: dict[tuple[int, int], NoiseEstimate] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    calibrations: dict[int, MWCalibration] = field(default_factory=dict)


def _strip_of(lanes: Sequence[Lane]) -> list[Strip]:
    out: dict[int, Strip] = {}
    for lane in lanes:
        s = out.get(lane.strip)
        half = lane.width_px / 2
        xs = [lane.centre_x(lane.y_top_px) - half, lane.centre_x(lane.y_bottom_px - 1) + half]
        x0, x1 = int(np.floor(min(xs))), int(np.ceil(max(xs)))
        if s is None:
            out[lane.strip] = Strip(lane.strip, lane.y_top_px, lane.y_bottom_px, x0, x1)
        else:
            s.y_top_px, s.y_bottom_px = min(s.y_top_px, lane.y_top_px), max(s.y_bottom_px, lane.y_bottom_px)
            s.x_left_px, s.x_right_px = min(s.x_left_px, x0), max(s.x_right_px, x1)
    return [out[k] for k in sorted(out)]


def _markers_per_strip(markers, n_strips: int) -> list[str]:
    if markers is None:
        return [""] * n_strips
    if isinstance(markers, str):
        return [markers] * n_strips
    if isinstance(markers, Mapping):
        names = [""] * n_strips
        for k, name in markers.items():
            if not 1 <= int(k) <= n_strips:
                raise ValueError(
                    f"marker {name!r} is given for strip {k} but {n_strips} strip(s) were found "
                    "(first in reading order = 1)"
                )
            names[int(k) - 1] = str(name)
        return names
    markers = list(markers)
    if len(markers) != n_strips:
        raise ValueError(
            f"{len(markers)} marker names ({', '.join(markers)}) for {n_strips} strips found; "
            "give one marker per strip in reading order (top to bottom, then left to right), or pass explicit strips"
        )
    return markers


def quantify_blot(
    image: np.ndarray,
    *,
    polarity: str | None = None,
    max_value: float | None = None,
    strips: Sequence[Strip] | None = None,
    lanes: Sequence[Lane] | None = None,
    n_lanes: int | None = None,
    lane_x_ranges_px: Sequence[tuple[float, float]] | None = None,
    lane_names: Sequence[str] | None = None,
    markers: str | Sequence[str] | Mapping[int, str] | None = None,
    marker_windows_px: dict[str, tuple[int, int]] | None = None,
    ladder_lane: int | None = None,
    ladder_kda: Sequence[float] | None = None,
    marker_windows_kda: dict[str, tuple[float, float]] | None = None,
    image_name: str = "",
    params: BlotParameters = DEFAULT_BLOT_PARAMETERS,
) -> BlotResult:
    """Find strips, lanes and bands in a blot image and measure every band.

    Parameters
    ----------
    image : (M, N) ndarray
        Raw blot image (grey; 16-bit raw chemiluminescence or an 8-bit export).
    polarity : {"bright", "dark"}, optional
        Bands brighter (raw) or darker (inverted export) than background;
        guessed from the image when omitted.
    max_value : float, optional
        Saturation level (``.scn`` ``max_value``; the dtype maximum of a raw
        image or 0 for an inverted export when omitted).
    strips : sequence of Strip, optional
        Strips to use instead of finding them.
    lanes : sequence of Lane, optional
        Lanes to use instead of finding them (e.g. edited in napari).
    n_lanes : int, optional
        Expected lanes per strip; a strip where this many cannot be placed is an error.
    lane_x_ranges_px : sequence of (float, float), optional
        Explicit lanes, ``(first column, one past last column)``, used in every strip.
    lane_names : sequence of str, optional
        Sample name per lane (e.g. ``["lysate", "exo1", "exo2"]``); must match the lane count.
    markers : str, sequence of str or mapping of int to str, optional
        Marker probed in each strip: one name for all strips, one per strip
        in reading order (top to bottom, then left to right), or
        ``{strip number: name}`` (first strip = 1). The strongest band row of a strip gets the name, unless
        ``marker_windows_px`` places it.
    marker_windows_px : dict of str to (int, int), optional
        Marker -> rows ``(top, bottom)`` to integrate as one band in every lane
        (e.g. from :meth:`exo_vision.blot.ladder.MWCalibration.window_px`).
    ladder_lane : int, optional
        1-based lane holding a molecular-weight ladder (in every strip). Its
        bands are detected and matched top to bottom to ``ladder_kda``
        (the strongest ones when more are found); ``log10(kDa)`` is fitted
        against the row, and each strip's marker is integrated as one band
        over its kDa window (``marker_windows_kda``).
    ladder_kda : sequence of float, optional
        Ladder sizes in kDa, heaviest (top) first; needed with ``ladder_lane``.
    marker_windows_kda : dict of str to (float, float), optional
        Marker -> (low, high) kDa; default
        :data:`exo_vision.blot.ladder.MARKER_WINDOWS_KDA` (CD9 20-28, CD63 30-65,
        calnexin 80-100 kDa).
    image_name : str
        Value of the ``image`` column.
    params : BlotParameters
        Method settings: background, LoD, lane finding, band calling
        (:class:`exo_vision.blot.parameters.BlotParameters`). With
        ``undo_staircase``, the pixel-noise SD used for an 8-bit export is in
        ``parameters["staircase_noise_sd"]`` of the result (None: not needed or
        not measurable).

    Returns
    -------
    BlotResult
    """
    image = check_image(image)
    _check_arguments(params, ladder_lane, ladder_kda, n_lanes)
    if polarity is None:
        polarity = guess_polarity(image)
    level = default_saturation_level(image, polarity=polarity) if max_value is None else float(max_value)
    warnings = export_warnings(image, polarity=polarity)
    clean, dust, saturated, noise_px = _prepared_signal(image, polarity, level, params, warnings)
    strips, per_strip = _place_lanes(
        clean,
        strips=strips,
        lanes=lanes,
        n_lanes=n_lanes,
        lane_x_ranges_px=lane_x_ranges_px,
        lane_names=lane_names,
        image_name=image_name,
        warnings=warnings,
        params=params,
        leave_out_empty=markers is None or isinstance(markers, str),
    )
    strip_markers = _markers_per_strip(markers, len(strips))
    integer_image = bool(np.issubdtype(image.dtype, np.integer))
    staircase_sd = _staircase_sd(clean, per_strip, noise_px, integer_image, params, warnings)
    settings = _Settings(
        params,
        ladder_lane,
        None if ladder_kda is None else list(ladder_kda),
        marker_windows_px,
        marker_windows_kda or MARKER_WINDOWS_KDA,
        image_name,
        integer_image,
        staircase_sd,
    )
    rb = _rolling_ball_image(clean, strips, params)
    records = []
    calibrations: dict[int, MWCalibration] = {}
    profiles: dict[tuple[int, int], np.ndarray] = {}
    noise_cache: dict[tuple[int, int], NoiseEstimate] = {}
    caches = dict(profiles=profiles, noise_cache=noise_cache, calibrations=calibrations)
    for s, ls, marker in zip(strips, per_strip, strip_markers):
        records.extend(_measure_strip(clean, saturated, rb, s, ls, marker, settings, **caches))
    table = _band_table(records, image_name)
    warnings.extend(_result_warnings(table, noise_cache))
    for w in warnings:
        logger.warning("%s%s", f"{image_name}: " if image_name else "", w)
    all_lanes = [lane for ls in per_strip for lane in ls]
    record = dict(
        polarity=polarity,
        max_value=level,
        n_lanes=n_lanes,
        lane_names=None if lane_names is None else list(lane_names),
        markers=strip_markers,
        marker_windows_px=None if not marker_windows_px else {k: list(v) for k, v in marker_windows_px.items()},
        ladder_lane=ladder_lane,
        ladder_kda=None if ladder_kda is None else [float(k) for k in ladder_kda],
        staircase_noise_sd=staircase_sd,
        **params.to_dict(),
    )
    return BlotResult(
        table, list(strips), all_lanes, profiles, saturated, dust, noise_cache, warnings, record, calibrations
    )


def _rolling_ball_image(clean: np.ndarray, strips: Sequence[Strip], params: BlotParameters) -> np.ndarray | None:
    """Each strip's 2-D rolling-ball background, when that is the chosen method (else None)."""
    if params.background != "rolling_ball":
        return None
    rb = np.zeros_like(clean)
    for s in strips:
        rb[s.slices()] = rolling_ball_background(clean[s.slices()], radius_px=params.rolling_ball_radius_px)
    return rb


def _check_arguments(params: BlotParameters, ladder_lane, ladder_kda, n_lanes) -> None:
    """Raise ValueError naming the fix for inconsistent per-image arguments."""
    if not isinstance(params, BlotParameters):
        raise TypeError(f"params must be a BlotParameters, got {type(params).__name__}")
    if (ladder_lane is None) != (ladder_kda is None):
        raise ValueError(
            "give both ladder_lane (1-based lane number) and ladder_kda (sizes, heaviest first), or neither"
        )
    if ladder_kda is not None and len(ladder_kda) < 2:
        raise ValueError(f"a ladder needs at least 2 sizes in kDa, got {list(ladder_kda)}")
    if n_lanes is not None and n_lanes < 1:
        raise ValueError(f"n_lanes must be a positive number of lanes, got {n_lanes}")


def _prepared_signal(image: np.ndarray, polarity: str, level: float, params: BlotParameters, warnings: list[str]):
    """Signal with dust specks and pen writing replaced, their mask, the saturation mask, and the pixel noise SD.

    Removed writing is named in ``warnings`` (where, and how to keep it).
    """
    signal = to_signal(image, polarity=polarity)
    noise_px = pixel_noise_sd(signal)
    dust = (
        dust_mask(signal, noise_sd=noise_px, max_size_px=params.dust_max_size_px, noise_sds=params.dust_noise_sds)
        if params.remove_dust_specks
        else np.zeros(signal.shape, bool)
    )
    if params.remove_writing:
        writing = writing_mask(signal, noise_sd=noise_px)
        if writing.any():
            warnings.append(_writing_message(writing))
        dust |= writing
    clean = remove_dust(signal, dust)
    return clean, dust, saturation_mask(image, level=level, exclude=dust), noise_px


def _writing_message(writing: np.ndarray) -> str:
    """The warning that names where pen writing was removed."""
    rows, cols = np.flatnonzero(writing.any(axis=1)), np.flatnonzero(writing.any(axis=0))
    return (
        f"pen writing (bright marks with the upright strokes of written digits, and the dashes beside them) at rows "
        f"{rows[0]}-{rows[-1]}, columns {cols[0]}-{cols[-1]} was replaced by the background before lanes and bands "
        "were found; if bands lie there, run again keeping it (--keep-writing; 'keep pen writing' in the napari dock; "
        "remove_writing=False)"
    )


def _staircase_sd(
    clean, per_strip, noise_px: float, integer_image: bool, params: BlotParameters, warnings: list[str]
) -> float | None:
    """Pixel-noise SD for undoing an 8-bit export's rounding staircase (None: not needed or not measurable).

    Noise below one grey level (an 8-bit export): rounding is not dithered; how the lane row means
    behave gives the noise (see :mod:`exo_vision.blot.quantisation`).
    """
    if not (params.undo_staircase and integer_image and params.background == "profile" and noise_px < 1.0):
        return None
    sd = staircase_noise_sd(
        [lane_pixels(clean, lane, fraction=params.central_fraction) for ls in per_strip for lane in ls]
    )
    if sd is not None:
        warnings.append(
            f"pixel noise is below one grey level (SD ~{sd:.2f} level), so rounding to integers "
            "biases faint bands; lane row means were corrected for rounding (exo_vision.blot.quantisation)"
        )
    return sd


def _band_table(records: list[dict], image_name: str) -> pd.DataFrame:
    """The tidy band table (:data:`BAND_COLUMNS`) of the measured records."""
    if not records:
        return empty_band_table()
    table = pd.DataFrame.from_records(records)
    table.insert(0, "image", image_name)
    table.insert(0, "label", np.arange(1, len(table) + 1))
    return table[list(BAND_COLUMNS)].astype(BAND_COLUMNS)


def _result_warnings(table: pd.DataFrame, noise_cache: dict) -> list[str]:
    """Messages about saturated bands and LoDs that came from a pixel-noise model."""
    out = []
    n_sat = int(table["saturated"].sum())
    if n_sat:
        where = ", ".join(
            f"strip {r.strip} lane {r.lane} band {r.band}" for r in table[table["saturated"]].itertuples()
        )
        out.append(f"{n_sat} band(s) contain saturated pixels and are UNDER-estimated: {where}; use a shorter exposure")
    for (strip_index, h), nz in noise_cache.items():
        if nz.source == "pixel noise model":
            out.append(
                f"strip {strip_index}: no band-free rows for blank boxes; LoD of {h}-px bands from a pixel-noise model"
            )
        elif nz.source != "blank boxes":
            logger.debug("strip %d: volume noise for %d-px bands from %s", strip_index, h, nz.source)
    return out


@dataclass(frozen=True)
class _Settings:
    """Measurement settings shared by every strip of one quantify_blot call."""

    params: BlotParameters
    ladder_lane: int | None
    ladder_kda: list[float] | None
    marker_windows_px: dict[str, tuple[int, int]] | None
    marker_windows_kda: Mapping[str, tuple[float, float]]
    image_name: str
    integer_image: bool
    staircase_sd: float | None = None


def _place_lanes(
    clean, *, strips, lanes, n_lanes, lane_x_ranges_px, lane_names, image_name, warnings, params, leave_out_empty=True
):
    """Strips and their lanes (given, explicit ranges, or found), numbered and named, checked against the counts.

    Messages of the lane finder (e.g. a blank end lane it cannot decide on) are appended to ``warnings``.
    A found strip in which no lane is found, while other strips have lanes, is left out with a message
    (a piece of empty membrane, a label, a margin read as membrane): the other strips' results stand. That
    needs ``leave_out_empty`` (markers are not given strip by strip); otherwise, and when no strip has a
    lane, a strip without lanes is an error.
    """
    if lanes is not None:
        lanes = list(lanes)
        if not lanes:
            raise ValueError("an empty list of lanes was given; pass None to find lanes automatically")
        strips = _strip_of(lanes)
        per_strip = [[lane for lane in lanes if lane.strip == s.index] for s in strips]
    else:
        strips = list(strips) if strips is not None else find_strips(clean, min_height_px=params.min_strip_height_px)
        if lane_x_ranges_px is not None:
            per_strip = [lanes_from_ranges(lane_x_ranges_px, s) for s in strips]
        else:
            many = stacked(strips)
            per_strip = [
                find_lanes(clean, s, n_lanes=n_lanes, params=params, warnings=warnings, infer_end_lanes=not m)
                for s, m in zip(strips, many)
            ]
            per_strip = share_lanes(per_strip, strips)
            if leave_out_empty and any(per_strip) and not all(per_strip):
                for s, ls in zip(strips, per_strip):
                    if not ls:
                        warnings.append(_laneless_strip_message(s))
                strips = [s for s, ls in zip(strips, per_strip) if ls]
                per_strip = [ls for ls in per_strip if ls]
    for s, ls in zip(strips, per_strip):
        if not ls:
            raise ValueError(
                f"{image_name or 'image'}: no lanes found in strip {s.index} (rows {s.y_top_px}..{s.y_bottom_px}); "
                "check the polarity, or give the lane count (--lanes N) or lane x-ranges"
            )
        if n_lanes is not None and len(ls) != n_lanes:
            raise ValueError(
                f"{image_name or 'image'}: found {len(ls)} lanes in strip {s.index} but {n_lanes} were expected; "
                "check --lanes, or give lane x-ranges"
            )
        if lane_names is not None and len(lane_names) != len(ls):
            raise ValueError(
                f"{image_name or 'image'}: {len(lane_names)} lane names ({', '.join(lane_names)}) for {len(ls)} lanes "
                f"found in strip {s.index}; give one name per lane, left to right"
            )
        for i, lane in enumerate(ls):
            lane.index = i + 1
            if lane_names is not None:
                lane.name = str(lane_names[i])
    return strips, per_strip


def _one_band_per_clipped_run(found: list, own: list, clipped_rows: np.ndarray | None, y0: int) -> list:
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


def _longest_run(flags: np.ndarray | None) -> int:
    """Length of the longest run of True in ``flags`` (0 for None or none)."""
    return max((b - a for a, b in true_runs(flags)), default=0) if flags is not None else 0


def _laneless_strip_message(s: Strip) -> str:
    """The message for a found strip left out because no lane was found in it."""
    return (
        f"no lanes found in strip {s.index} (rows {s.y_top_px}..{s.y_bottom_px}, columns "
        f"{s.x_left_px}..{s.x_right_px}); it was left out and the other strips were measured. If it holds lanes, "
        "give the lane count (--lanes N) or lane x-ranges"
    )


def _ball_backgrounds(rb, clean_pixels, profiles_rows, st: _Settings, lanes_or_gaps):
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


def _strip_windows(
    profiles,
    s: Strip,
    ls,
    marker: str,
    st: _Settings,
    calibrations,
    detection_profiles=None,
    image=None,
    sides: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    saturated_rows: Sequence[np.ndarray] | None = None,
    clipped_rows: Sequence[np.ndarray] | None = None,
) -> tuple[list, bool]:
    """Band rows of one strip: fixed marker windows (given, or from the ladder fit) or detected bands.

    Bands are detected on ``detection_profiles`` (one per lane; default the lane profiles); ``sides``
    are each lane's side-third profiles for the band-scale vote (:func:`_band_scale`); ``saturated_rows``
    flag each lane's rows that hold a saturated pixel (:func:`_not_taller`, and the background opening is
    longer than their longest run), ``clipped_rows`` those whose central pixels are mostly saturated
    (:func:`_one_band_per_clipped_run`).
    """
    windows = None
    if st.marker_windows_px:
        windows = {k: v for k, v in st.marker_windows_px.items() if v[1] > s.y_top_px and v[0] < s.y_bottom_px}
    if st.ladder_lane is not None:
        cal = _ladder_calibration(profiles, s, ls, st.ladder_lane, st.ladder_kda, st.image_name)
        calibrations[s.index] = cal
        table_kda = {k.lower(): v for k, v in st.marker_windows_kda.items()}
        if marker and marker.strip().lower() in table_kda:
            lo, hi = table_kda[marker.strip().lower()]
            top, bottom = cal.window_px(lo, hi)
            top, bottom = max(top, s.y_top_px + st.params.border_px), min(bottom, s.y_bottom_px - st.params.border_px)
            if bottom - top < 2:
                raise ValueError(
                    f"{st.image_name or 'image'}: the {marker} window {lo}-{hi} kDa falls outside strip {s.index} "
                    f"according to the ladder fit; check ladder_kda and the ladder lane"
                )
            windows = {marker: (top, bottom)}
    if windows:
        return fixed_windows(ls, windows), True
    valley = (
        st.params.smear_merge_valley_fraction
        if marker.strip().lower() in st.params.smear_markers
        else st.params.merge_valley_fraction
    )
    det = detection_profiles or [profiles[(s.index, lane.index)] for lane in ls]
    params = st.params
    scale = _band_scale(
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
        window = max(window, SATURATED_RUN_WINDOWS * _longest_run(sat_rows))
        kw = dict(
            y_offset_px=lane.y_top_px,
            k_noise=params.band_peak_noise_sds,
            merge_valley=valley,
            background_window_px=int(window),
            max_height_px=int(params.max_band_fraction * (lane.y_bottom_px - lane.y_top_px)),
            noise_difference_order=params.profile_noise_difference_order,
        )
        found = detect_bands(prof, **kw)
        if prof is not profiles[(s.index, lane.index)]:
            # a band is a peak of the lane's own profile too: the edge of a membrane (a step, which
            # the smoothed side background turns into a bump) is not
            own = detect_bands(profiles[(s.index, lane.index)], **kw)
            found = [b for b in found if any(o.y_top_px <= b.y_px < o.y_bottom_px for o in own)]
            if params.merge_clipped_runs:
                found = _one_band_per_clipped_run(found, own, clip_rows, lane.y_top_px)
        cands.append(found)
    if image is not None:
        cands = _not_on_floor(cands, image, ls, s)
    return band_rows(
        ls,
        _not_taller(cands, det, ls, scale, params, saturated_rows),
        min_relative_prominence=params.min_relative_prominence,
    ), False


class _Bump(NamedTuple):
    """A lane's highest bump in the band-scale vote: half-height rows, height, clears the noise, fills the lane."""

    rows: float
    height: float
    clear: bool
    fills: bool


def _band_scale(
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


def _side_thirds(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Profiles of the left and right thirds of a lane's pixels (its central columns, :func:`lane_pixels`)."""
    third = max(pixels.shape[1] // LANE_SIDE_PARTS, 1)
    return pixels[:, :third].mean(axis=1), pixels[:, -third:].mean(axis=1)


def _side_fill(sides: tuple[np.ndarray, np.ndarray], top: int, bottom: int, size: int) -> float:
    """The lower over the higher rise of a lane's two side thirds over rows ``top:bottom`` (0 when neither rises)."""
    rises = [max(float(flattened_profile(p, size)[0][top:bottom].max(initial=0.0)), 0.0) for p in sides]
    return min(rises) / max(rises) if max(rises) > 0 else 0.0


def _shared_width(bumps: list[_Bump]) -> float:
    """The band scale from the lanes' clear bumps (see :func:`_band_scale`)."""
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


def _half_height_rows(profile: np.ndarray, top: int, bottom: int) -> int:
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


def _not_taller(
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
            or _half_height_rows(prof, b.y_top_px - lane.y_top_px, b.y_bottom_px - lane.y_top_px) <= limit
            or (rows is not None and bool(rows[b.y_top_px - lane.y_top_px : b.y_bottom_px - lane.y_top_px].any()))
        ]
        for c, prof, lane, rows in zip(cands, profiles, lanes, sat)
    ]


def _not_on_floor(cands: list[list], image: np.ndarray, lanes, strip: Strip) -> list[list]:
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
    on_floor = np.median(image[strip.y_top_px : strip.y_bottom_px : step], axis=0) < low
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


def _detection_profiles(clean, s: Strip, ls, profiles, side_bg, st: _Settings) -> list[np.ndarray]:
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


def _side_volume(det: np.ndarray, top: int, bottom: int, outside: tuple[int, int], width: int, st: _Settings) -> float:
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


def _reported(measured: list[dict], params: BlotParameters) -> list[dict]:
    """Keep requested positions and detected bands that clear their LoD; band rows renumbered 1.. top to bottom."""
    if not params.report_undetected:
        measured = [m for m in measured if m["requested"] or (m["detected"] and m["present"])]
    numbers = {b: i + 1 for i, b in enumerate(sorted({m["band"] for m in measured}))}
    for m in measured:
        m["band"] = numbers[m["band"]]
    return measured


def _measure_strip(
    clean, saturated, rb, s: Strip, ls, marker: str, st: _Settings, *, profiles, noise_cache, calibrations
) -> list[dict]:
    """One record per band row and lane of one strip (see :data:`BAND_COLUMNS`)."""
    f = st.params.central_fraction
    pix = [lane_pixels(clean, lane, fraction=f).astype(np.float64) for lane in ls]
    full_sat = [lane_pixels(saturated, lane, fraction=1.0) for lane in ls]
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
    det = _detection_profiles(clean, s, ls, profiles, side_bg, st)
    rows, fixed = _strip_windows(
        profiles,
        s,
        ls,
        marker,
        st,
        calibrations,
        det,
        image=clean,
        sides=[_side_thirds(p) for p in pix],
        saturated_rows=[np.any(m, axis=1).reshape(-1) for m in full_sat],
        clipped_rows=[np.mean(lane_pixels(saturated, lane, fraction=f), axis=1) >= CLIPPED_ROW_FRACTION for lane in ls],
    )
    busy = [
        [(w.bg_top_px - lane.y_top_px, w.bg_bottom_px - lane.y_top_px) for row in rows for w in row if w.lane is lane]
        for lane in ls
    ]
    smear = marker.strip().lower() in st.params.smear_markers
    measured = []
    pixel_sd: dict[tuple[int, int], float] = {}
    for row in rows:
        for li, w in enumerate(row):
            p, y0 = pix[li], w.lane.y_top_px
            top, bottom = w.y_top_px - y0, w.y_bottom_px - y0
            others = [
                (o.y_top_px - y0, o.y_bottom_px - y0) for row2 in rows for o in row2 if o.lane is w.lane and o is not w
            ]
            common: dict[str, Any] = dict(
                method=st.params.background,
                border_px=st.params.border_px,
                background_pixels=None if bgs is None else bgs[li],
                outside=(w.bg_top_px - y0, w.bg_bottom_px - y0),
                avoid=others,
            )
            vol, bg = _window_volume(p, top, bottom, common, side_bg[li], side_levels[li], to_level, st)
            y = w.y_top_px + _band_row(p[top:bottom].mean(axis=1) - bg, peaked=w.detected and not smear)
            nz = _noise(noise_cache, s, bottom - top, pix, busy, gap_pix, bgs, gap_bgs, st, pixel_sd)
            cols = w.lane.columns(np.arange(w.y_top_px, w.y_bottom_px), fraction=f)
            nsat = int(full_sat[li][top:bottom].sum())
            lod = nz.lod(st.params.lod_factor)
            outside = (w.bg_top_px - y0, w.bg_bottom_px - y0)
            clears = vol > lod and (w.detected or _side_volume(det[li], top, bottom, outside, p.shape[1], st) > lod)
            present = bool(clears or (nsat > 0 and vol > 0))
            mw_kda = float(calibrations[s.index].kda_at(y)) if s.index in calibrations else float("nan")
            measured.append(
                {
                    **_window_record(s, w, cols, y, vol, float(bg.mean()), nz.sd_volume, lod),
                    **dict(present=present, requested=fixed, saturated=nsat > 0, saturated_px=nsat, mw_kda=mw_kda),
                }
            )
    if marker and not fixed and measured:
        _mark_strongest_row(measured, marker)
    return _reported(measured, st.params)


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
    p: np.ndarray, top: int, bottom: int, common: dict[str, Any], side, side_level, to_level, st: _Settings
) -> tuple[float, np.ndarray]:
    """Volume and per-row background of one band window of a lane's pixels ``p``.

    On an 8-bit export with sub-level noise (``to_level`` given) the rounding
    staircase is undone where the band stands out.
    """
    bg = band_background(p, top, bottom, gap_profile=side, **common)
    vol = band_volume(p, top, bottom, bg)
    if to_level is not None and st.staircase_sd is not None:
        level_bg = band_background(p, top, bottom, gap_profile=side_level, to_level=to_level, **common)
        net = destaircased_rows(p[top:bottom].mean(axis=1), bg, level_bg, noise_sd=st.staircase_sd)
        vol, bg = float(p.shape[1] * net.sum()), level_bg
    return vol, bg


def _window_record(
    s: Strip, w, cols: np.ndarray, y: float, vol: float, background: float, sd_volume: float, lod: float
) -> dict:
    """Where one band window lies and what it measured (the first columns of :data:`BAND_COLUMNS`)."""
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
    )


def _mark_strongest_row(measured: list[dict], marker: str) -> None:
    """Give ``marker`` to the band row with the largest total volume (the strip's marker is its strongest row)."""
    totals: dict[int, float] = {}
    for m in measured:
        totals[m["band"]] = totals.get(m["band"], 0.0) + max(m["volume"], 0.0)
    main = max(totals, key=lambda band: totals[band])
    for m in measured:
        if m["band"] == main:
            m["marker"] = marker
            m["requested"] = True


def _noise(
    cache, s: Strip, height: int, pix, busy, gap_pix, bgs, gap_bgs, st: _Settings, pixel_sd: dict
) -> NoiseEstimate:
    """Blank-volume noise of ``height``-row bands in strip ``s`` (cached per strip and height)."""
    key = (s.index, height)
    if key not in cache:
        # gaps hold no lane, but a band row's bleed (or a band whose lane was moved away) may sit
        # in them: their boxes avoid every band row of the strip
        every_row = sorted({rows for lane_busy in busy for rows in lane_busy})
        nz = blank_volume_noise(
            pix + gap_pix,
            busy + [every_row] * len(gap_pix),
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
        if st.integer_image:
            # an integer image cannot be known better than its quantisation step
            # (uniform rounding error, SD 1/sqrt(12) per pixel)
            floor_sd = float(np.sqrt(height * pix[0].shape[1] / UNIFORM_VARIANCE_DIVISOR))
            if nz.sd_volume < floor_sd:
                nz = NoiseEstimate(floor_sd, nz.mean_volume, nz.n_boxes, nz.source + " (quantisation floor)")
        cache[key] = nz
    return cache[key]


def _ladder_calibration(profiles, strip: Strip, lanes: Sequence[Lane], ladder_lane: int, ladder_kda, image_name: str):
    """Fit the MW calibration of one strip from its ladder lane's bands."""
    if not 1 <= ladder_lane <= len(lanes):
        raise ValueError(
            f"{image_name or 'image'}: ladder lane {ladder_lane} does not exist; strip {strip.index} "
            f"has lanes 1..{len(lanes)}"
        )
    lane = lanes[ladder_lane - 1]
    cands = detect_bands(profiles[(strip.index, lane.index)], y_offset_px=lane.y_top_px)
    n = len(ladder_kda)
    if len(cands) < n:
        raise ValueError(
            f"{image_name or 'image'}: found {len(cands)} bands in ladder lane {ladder_lane} of strip {strip.index} "
            f"but {n} ladder sizes were given; give the sizes of the visible ladder bands only, heaviest first"
        )
    strongest = sorted(sorted(cands, key=lambda c: -c.prominence)[:n], key=lambda c: c.y_px)
    return fit_ladder([c.y_px for c in strongest], list(ladder_kda))
