"""The one high-level blot function: image in, one row per band out."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from exo_vision.blot.advice import LANE_COLUMNS, LANE_COUNT
from exo_vision.blot.background import REFERENCE_BACKGROUND_SPREAD, rolling_ball_background
from exo_vision.blot.band_tilt import turned_bands_warnings
from exo_vision.blot.bands import faint_row_warnings
from exo_vision.blot.detection import NoiseEstimate
from exo_vision.blot.flank import flank_message
from exo_vision.blot.ladder import MARKER_WINDOWS_KDA, MWCalibration, named_ladder_lane
from exo_vision.blot.lanes import Lane, find_lanes, lane_pixels, lanes_from_ranges, share_lanes, stacked
from exo_vision.blot.lanes.count import AmbiguousCount
from exo_vision.blot.orientation import sideways_hint, sideways_message
from exo_vision.blot.panel import default_reference_lane
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters
from exo_vision.blot.quantisation import quantisation_step, staircase_noise_sd
from exo_vision.blot.rulers import drawn_line_mask, frame_line_mask
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
from exo_vision.blot.strip_measure import measure_strip
from exo_vision.blot.strip_rows import StripSettings
from exo_vision.blot.strips import Strip, find_strips
from exo_vision.blot.window_checks import cut_band_warnings, negative_volume_warnings
from exo_vision.blot.writing import lanes_over_writing, writing_mask
from exo_vision.io.read import clipped_pixels_warning

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
    "width_source": "object",
    "mw_kda": "float64",
}


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
        are in intensity x pixel units over the band's box (its own width on
        blots, the lane's central columns on gels); ``present`` means
        volume > ``lod_volume``. A row is either a
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
    panel_caveat : str
        What a marker panel must add to the results of this image ("" for a raw image): for an 8-bit export,
        that its calls are indicative and what its absence bounds rest on (:func:`panel_caveat`).
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
    panel_caveat: str = ""

    def found_summary(self) -> str:
        """What was found, in words: strips, lanes (with a band or not), band rows and how many are present."""
        present = int(self.bands["present"].sum()) if len(self.bands) else 0
        return f"{len(self.strips)} strip(s), {len(self.lanes)} lane(s), {len(self.bands)} band(s), {present} present"


def _strip_of(lanes: Sequence[Lane]) -> list[Strip]:
    """Each strip's box around its lanes (both ends of every lane, whichever way it leans), one per strip number."""
    out: dict[int, Strip] = {}
    for lane in lanes:
        s = out.get(lane.strip)
        half = lane.width_px / 2
        ends = [float(lane.centre_x(lane.y_top_px)), float(lane.centre_x(lane.y_bottom_px - 1))]
        x0, x1 = int(np.floor(min(ends) - half)), int(np.ceil(max(ends) + half))  # a lane may lean either way
        if s is None:
            out[lane.strip] = Strip(lane.strip, lane.y_top_px, lane.y_bottom_px, x0, x1)
        else:
            s.y_top_px, s.y_bottom_px = min(s.y_top_px, lane.y_top_px), max(s.y_bottom_px, lane.y_bottom_px)
            s.x_left_px, s.x_right_px = min(s.x_left_px, x0), max(s.x_right_px, x1)
    return [out[k] for k in sorted(out)]


def _strips_for_lanes(lanes: Sequence[Lane], strips: Sequence[Strip] | None) -> list[Strip]:
    """The strips that hold ``lanes``: the given ones (copies, widened to hold a lane drawn past them), or without
    ``strips`` the box around each strip's lanes; ValueError naming the fix when a lane's strip is not given."""
    around = _strip_of(lanes)
    if strips is None:
        return around
    given = {s.index: s for s in strips}
    missing = sorted(box.index for box in around if box.index not in given)
    if missing:
        raise ValueError(
            f"lanes lie in strip(s) {', '.join(map(str, missing))} but the strips given are numbered "
            f"{', '.join(map(str, sorted(given))) or 'none'}; give the strips the lanes came from "
            "(BlotResult.strips), or leave strips out to box each strip around its lanes"
        )
    out = []
    for box in around:
        s = given[box.index]
        out.append(
            replace(
                s,
                y_top_px=min(s.y_top_px, box.y_top_px),
                y_bottom_px=max(s.y_bottom_px, box.y_bottom_px),
                x_left_px=min(s.x_left_px, box.x_left_px),
                x_right_px=max(s.x_right_px, box.x_right_px),
            )
        )
    return out


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
        Saturation level (``.scn`` ``max_value``); when omitted, the dtype maximum of a raw
        image (or a 10-15-bit camera's 2**k - 1 where the image is clipped flat there), 0 for an
        inverted export, and for a floating-point image its maximum only if clipped flat
        (:func:`~exo_vision.blot.signal.default_saturation_level`).
    strips : sequence of Strip, optional
        Strips to use instead of finding them. With ``lanes``, the strips those lanes lie in (a lane's
        ``strip`` is a strip's ``index``), e.g. ``BlotResult.strips`` of the run whose lanes were edited:
        the membrane's extent then stays as that run found it (the strips beside the end lanes, the blank
        membrane beyond them), so lanes passed back unchanged measure as that run did. A strip is widened
        to hold a lane drawn past it; strips holding no lane are left out.
    lanes : sequence of Lane, optional
        Lanes to use instead of finding them (e.g. edited in napari). Without ``strips``, each strip is
        the box around its lanes.
    n_lanes : int, optional
        Expected lanes per strip; strips stacked one above the other (membranes of one frame) share one
        set of this many lanes, numbered alike in each (:func:`~exo_vision.blot.lanes.share_lanes`).
        A strip where this many cannot be placed is an error.
    lane_x_ranges_px : sequence of (float, float), optional
        Explicit lanes, ``(first column, one past last column)``, used in every strip. A range need only lie
        inside the image: a strip is widened to hold a range reaching past its found columns, with a warning.
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
        1-based lane holding a molecular-weight ladder (in every strip): no
        sample, so its bands carry no marker. Default: the one lane whose
        name in ``lane_names`` contains "ladder" (any letter case), if any. With ``ladder_kda`` its bands
        are detected and matched top to bottom to those sizes (the strongest
        ones when more are found); ``log10(kDa)`` is fitted against the row,
        and each strip's marker is integrated as one band over its kDa window
        (``marker_windows_kda``).
    ladder_kda : sequence of float, optional
        Ladder sizes in kDa, heaviest (top) first; needs ``ladder_lane``.
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
    if ladder_lane is None:
        ladder_lane = named_ladder_lane(lane_names)
    _check_arguments(params, ladder_lane, ladder_kda, n_lanes)
    if polarity is None:
        polarity = guess_polarity(image)
    level = default_saturation_level(image, polarity=polarity) if max_value is None else _checked_level(max_value)
    warnings = export_warnings(image, polarity=polarity)
    clean, dust, saturated, noise_px, writing = _prepared_signal(image, polarity, level, params, warnings)
    warnings.extend(_masked_clipping_warning(image, level, polarity, dust, saturated))
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
    warnings.extend(_lanes_over_writing_messages(writing, per_strip))
    strip_markers = _markers_per_strip(markers, len(strips))
    integer_image = bool(np.issubdtype(image.dtype, np.integer))
    staircase_sd = _staircase_sd(clean, per_strip, noise_px, integer_image, params, warnings)
    settings = StripSettings(
        params,
        ladder_lane,
        None if ladder_kda is None else list(ladder_kda),
        marker_windows_px,
        marker_windows_kda or MARKER_WINDOWS_KDA,
        image_name,
        quantisation_step(image),
        staircase_sd,
    )
    rb = _rolling_ball_image(clean, strips, params)
    records = []
    calibrations: dict[int, MWCalibration] = {}
    profiles: dict[tuple[int, int], np.ndarray] = {}
    noise_cache: dict[tuple[int, int], NoiseEstimate] = {}
    caches = dict(
        profiles=profiles, noise_cache=noise_cache, calibrations=calibrations, spots=[], flanks=[], faint_rows=[]
    )
    for s, ls, marker in zip(strips, per_strip, strip_markers):
        records.extend(measure_strip(clean, saturated, rb, s, ls, marker, settings, **caches))
    table = _band_table(records, image_name)
    warnings.extend(_measurement_warnings(table, strips, per_strip, strip_markers, settings, caches))
    warnings.extend(reference_background_warnings(records, default_reference_lane(lane_names)))
    warnings[:0] = _sideways_warning(clean, table, per_strip, given=(lanes, lane_x_ranges_px, n_lanes))
    warnings.extend(turned_bands_warnings(table, [lane for ls in per_strip for lane in ls], clean))
    _log_warnings(warnings, image_name)
    given = dict(polarity=polarity, max_value=level, n_lanes=n_lanes, lane_names=lane_names, markers=strip_markers)
    measured = (table, list(strips), [lane for ls in per_strip for lane in ls], profiles, saturated, dust, noise_cache)
    caveat = panel_caveat(image, settings.quantisation_step, noise_cache)
    return BlotResult(*measured, warnings, _parameters_record(given, settings), calibrations, caveat)


def reference_background_warnings(
    records: Sequence[Mapping], reference_lane: str | None, *, spread: float = REFERENCE_BACKGROUND_SPREAD
) -> list[str]:
    """Warnings for the reference lane's present bands whose background is uncertain.

    The reference lane (the lysate) divides every ratio of its row. A blotch under its band that the strips beside
    the lane see differently (or the band's glow in them) leaves the membrane's level under the band unknown: the
    band's volume would read differently under the plain straight-line background and under the line bent as either
    side strip bends (:func:`~exo_vision.blot.background.background_readings`).

    Parameters
    ----------
    records : sequence of mapping
        Measured band records with ``background_readings`` (:func:`~exo_vision.blot.strip_measure.measure_strip`).
    reference_lane : str or None
        The reference lane's name (None: no warning).
    spread : float
        Fraction by which another reading must move the volume for a warning.

    Returns
    -------
    list of str
        One message per such band, naming strip, lane, band and marker and the range its volume could read.
    """
    if not reference_lane:
        return []
    out = []
    for r in records:
        readings = list(r.get("background_readings") or [])
        if str(r["lane_name"]) != reference_lane or not r["present"] or not readings:
            continue
        lo, hi = min([1.0, *readings]), max([1.0, *readings])
        if hi - 1.0 <= spread and 1.0 - lo <= spread:
            continue
        marker = f" ({r['marker']})" if r.get("marker") else ""
        out.append(
            f"strip {r['strip']} lane {r['lane']} ({reference_lane}, the reference lane) band {r['band']}{marker}: "
            f"its background is uncertain: the membrane beside the lane bends differently from the straight line "
            f"under the band (a blotch under the band, or the band's glow), so its volume could read "
            f"{100 * max(lo, 0.0):.0f}-{100 * hi:.0f}% of the reported one, and every ratio to it "
            f"{1 / hi:.2f}-{(1 / lo if lo > 0 else float('inf')):.2f} times the reported ratio; check the lane in the "
            "annotated PNG, or name a reference lane on a flat part of the membrane"
        )
    return out


def _parameters_record(given: dict, settings: StripSettings) -> dict:
    """The parameters a result was computed with (``BlotResult.parameters``, JSON-serialisable): ``given``
    (polarity, saturation level, lane count and names, markers per strip) and the strip settings."""
    windows = settings.marker_windows_px
    names = given["lane_names"]
    return dict(
        **{**given, "lane_names": None if names is None else list(names)},
        marker_windows_px=None if not windows else {k: list(v) for k, v in windows.items()},
        ladder_lane=settings.ladder_lane,
        ladder_kda=None if settings.ladder_kda is None else [float(k) for k in settings.ladder_kda],
        staircase_noise_sd=settings.staircase_sd,
        **settings.params.to_dict(),
    )


def panel_caveat(image: np.ndarray, step: float | None, noise: Mapping[tuple[int, int], NoiseEstimate]) -> str:
    """What a marker panel must add to the results of an export ("" for a raw image).

    Parameters
    ----------
    image : (M, N) ndarray
        The image quantified.
    step : float or None
        Its grey-level step (:func:`~exo_vision.blot.quantisation.quantisation_step`).
    noise : mapping of (int, int) to NoiseEstimate
        Its blank-volume noise per strip and band height.

    Returns
    -------
    str
        For an 8-bit export (or one whose grey levels come in steps of more than 1) that its results are
        indicative; where its LoD is what rounding can hide (:func:`~exo_vision.blot.detection.quantisation_floors`),
        that too.
    """
    floored = any(nz.lod_floor > 0 for nz in noise.values())
    eight_bit = np.asarray(image).dtype == np.uint8
    if not (floored or eight_bit or (step is not None and step > 1)):
        return ""
    text = "8-bit export" if eight_bit else f"export in steps of {step:g} grey levels"
    if floored:
        text += (
            " whose membrane reads whole grey levels without noise: an absent band's bound is what rounding can "
            "hide in its box (half a level per pixel), not the blank boxes' spread"
        )
    text += "; indicative only, quantify the raw 16-bit image"
    return text


def unmeasured_markers(result: BlotResult, image_name: str) -> dict[str, tuple[str, int]]:
    """The markers named for a strip of ``result`` that got no band row, with the image and strip they were on.

    Such a strip shows a band in no lane and no position (ladder fit or marker window) was given for it, so
    nothing was integrated there; the marker was probed all the same, and a panel reports it
    (:func:`exo_vision.blot.panel.enrichment_table`, ``unmeasured``) rather than leaving it out.

    Parameters
    ----------
    result : BlotResult
        Output of :func:`quantify_blot`.
    image_name : str
        The image's name as the band table's ``image`` column gives it.

    Returns
    -------
    dict of str to (str, int)
        Marker -> ``(image_name, strip number)``; empty when every named marker has rows.
    """
    markers = result.parameters.get("markers") or []
    table = result.bands
    out: dict[str, tuple[str, int]] = {}
    for s, marker in zip(result.strips, markers, strict=False):
        if marker and not ((table["strip"] == s.index) & (table["marker"] == marker)).any():
            out.setdefault(str(marker), (image_name, int(s.index)))
    return out


def _log_warnings(warnings: Sequence[str], image_name: str) -> None:
    """Log each warning, prefixed with the image's name."""
    for w in warnings:
        logger.warning("%s%s", f"{image_name}: " if image_name else "", w)


def _sideways_warning(clean: np.ndarray, table: pd.DataFrame, per_strip, *, given) -> list[str]:
    """The warning of a blot turned by 90 degrees, checked only where no lanes (nor their number) were given."""
    if any(v is not None for v in given):
        return []
    message = sideways_message(clean, table, [lane for ls in per_strip for lane in ls])
    return [message] if message else []


def _rolling_ball_image(clean: np.ndarray, strips: Sequence[Strip], params: BlotParameters) -> np.ndarray | None:
    """Each strip's 2-D rolling-ball background, when that is the chosen method (else None)."""
    if params.background != "rolling_ball":
        return None
    rb = np.zeros_like(clean)
    for s in strips:
        rb[s.slices()] = rolling_ball_background(clean[s.slices()], radius_px=params.rolling_ball_radius_px)
    return rb


def _checked_level(max_value: float) -> float:
    """A saturation level given by the caller, as a float; ValueError naming the fix when it is no number."""
    try:
        level = float(max_value)
    except (TypeError, ValueError):
        level = float("nan")
    if not np.isfinite(level) or isinstance(max_value, bool):
        raise ValueError(
            f"max_value must be the finite grey level the camera saturates at, got {max_value!r}; leave it out "
            "to take the file's level (.scn) or the image type's maximum"
        )
    return level


def _check_arguments(params: BlotParameters, ladder_lane, ladder_kda, n_lanes) -> None:
    """Raise ValueError naming the fix for inconsistent per-image arguments."""
    if not isinstance(params, BlotParameters):
        raise TypeError(f"params must be a BlotParameters, got {type(params).__name__}")
    if ladder_kda is not None and ladder_lane is None:
        raise ValueError("ladder_kda needs ladder_lane: the 1-based number of the lane that holds the ladder")
    if ladder_kda is not None and len(ladder_kda) < 2:
        raise ValueError(f"a ladder needs at least 2 sizes in kDa, got {list(ladder_kda)}")
    if n_lanes is not None and (isinstance(n_lanes, bool) or int(n_lanes) != n_lanes or n_lanes < 1):
        raise ValueError(f"n_lanes must be a positive whole number of lanes, got {n_lanes!r}")


def _measurement_warnings(table, strips, per_strip, strip_markers, settings: StripSettings, caches) -> list[str]:
    """What the user must know about the measured bands: spots left out, ladder, windows off the strip or cutting
    a band, windows far below zero, markers left unmeasured, saturation, LoDs."""
    ladder_lane = settings.ladder_lane
    calibrations = caches["calibrations"]
    windows = {
        (s.index, name): rows
        for s, marker in zip(strips, strip_markers, strict=True)
        for name, rows in _asked_windows(s, marker, settings, calibrations).items()
    }
    lanes = [lane for ls in per_strip for lane in ls]
    return (
        _spot_warnings(caches["spots"], settings.params)
        + faint_row_warnings(caches["faint_rows"])
        + flank_message(caches["flanks"])
        + _ladder_warnings(calibrations, ladder_lane)
        + _empty_window_warnings(table, calibrations, ladder_lane)
        + _clipped_window_warnings(table, strips, strip_markers, settings, calibrations)
        + cut_band_warnings(table, lanes, caches["profiles"], windows, settings.params)
        + negative_volume_warnings(table)
        + _unmeasured_marker_warnings(table, strips, strip_markers)
        + _result_warnings(table, caches["noise_cache"])
    )


def _asked_windows(s: Strip, marker: str, settings: StripSettings, calibrations) -> dict[str, tuple[int, int]]:
    """The rows each requested window of strip ``s`` asked for, before they were fitted to the strip's lanes."""
    cal = calibrations.get(s.index)
    windows = {k.lower(): v for k, v in settings.marker_windows_kda.items()}
    if cal is not None and marker and marker.strip().lower() in windows:
        return {marker: cal.window_px(*windows[marker.strip().lower()])}
    return dict(settings.marker_windows_px or {})


def _clipped_window_warnings(table, strips, strip_markers, settings: StripSettings, calibrations) -> list[str]:
    """A message for each requested window that reaches past its strip (only its part on the strip is
    integrated, so the volume covers less than was asked) or that lies on no strip at all (nothing measured)."""
    out, placed = [], set()
    for s, marker in zip(strips, strip_markers, strict=True):
        for name, (top, bottom) in _asked_windows(s, marker, settings, calibrations).items():
            rows = table[(table["strip"] == s.index) & (table["marker"] == name) & table["requested"].astype(bool)]
            if rows.empty:
                continue
            placed.add(name)
            got_top, got_bottom = int(rows["y_top_px"].min()), int(rows["y_bottom_px"].max())
            if got_top > top or got_bottom < bottom:
                share = (got_bottom - got_top) / max(bottom - top, 1)
                out.append(
                    f"strip {s.index}: the {name} window asked for rows {top}-{bottom} but the strip's lanes hold only "
                    f"rows {got_top}-{got_bottom}, so its volumes cover {share:.0%} of the window; move the window "
                    "(or the ladder sizes that place it) onto the strip"
                )
    for name, (top, bottom) in (settings.marker_windows_px or {}).items():
        if name not in placed and not any(w == name for w in table.get("marker", [])):
            out.append(
                f"the {name} window, rows {top}-{bottom}, lies on no strip (strips span rows "
                + ", ".join(f"{s.y_top_px}-{s.y_bottom_px}" for s in strips)
                + f"), so {name} was not measured; give rows on a strip"
            )
    return out


def _unmeasured_marker_warnings(table: pd.DataFrame, strips: Sequence[Strip], markers: Sequence[str]) -> list[str]:
    """A message for each strip whose marker got no band row: no lane shows a band and no window was given."""
    out = []
    for s, marker in zip(strips, markers, strict=True):
        if marker and not ((table["strip"] == s.index) & (table["marker"] == marker)).any():
            out.append(
                f"strip {s.index} ({marker}): no lane shows a band and no position was given for it, so no window "
                f"was integrated: {marker} is called absent in every lane with no detection limit (inconclusive where "
                "the lysate shows nothing either); give its position (--ladder-lane with --ladder-kda, or a marker "
                "window) to have it measured with its detection limit"
            )
    return out


def _ladder_warnings(calibrations: dict[int, MWCalibration], ladder_lane: int | None) -> list[str]:
    """A message for each strip whose ladder lane showed more bands than sizes were given."""
    out = []
    for strip, cal in sorted(calibrations.items()):
        if cal.unmatched_y_px:
            rows = ", ".join(f"{y:.0f}" for y in cal.unmatched_y_px)
            out.append(
                f"strip {strip}: ladder lane {ladder_lane} shows {len(cal.kda) + len(cal.unmatched_y_px)} bands but "
                f"{len(cal.kda)} sizes were given; the {len(cal.kda)} strongest were matched to them heaviest first "
                f"and the band(s) at row(s) {rows} left out. If those are ladder bands, the kDa scale and the marker "
                "windows are wrong: give one size per visible ladder band (--ladder-kda)"
            )
    return out


def _empty_window_warnings(table: pd.DataFrame, calibrations: dict[int, MWCalibration], ladder_lane) -> list[str]:
    """A message for each strip whose marker window, placed by the ladder fit, holds a band in no sample lane.

    The usual cause is a ladder read wrong (a chemiluminescence image rarely shows a prestained ladder, and
    the fit then rests on specks or sample bands), which calls the marker absent in every lane.
    """
    out = []
    for strip, cal in sorted(calibrations.items()):
        rows = table[(table["strip"] == strip) & table["requested"].astype(bool) & (table["lane"] != ladder_lane)]
        for marker, group in rows.groupby("marker", sort=False):
            if group.empty or group["present"].astype(bool).any():
                continue
            top, bottom = int(group["y_top_px"].min()), int(group["y_bottom_px"].max())
            kda = cal.kda_at(np.array([bottom, top], dtype=float))
            ladder_rows = ", ".join(f"{y:.0f}" for y in cal.y_px)
            sizes = ", ".join(f"{k:g}" for k in cal.kda)
            out.append(
                f"strip {strip} ({marker}): no lane shows a band in the window the ladder fit gives it (rows "
                f"{top}-{bottom}, {kda[0]:.0f}-{kda[1]:.0f} kDa), so {marker} is called absent in every lane. Check "
                f"that the ladder bands were read right (rows {ladder_rows} taken as {sizes} kDa, in lane "
                f"{ladder_lane}); on an image that shows no ladder, leave the ladder sizes out (--ladder-kda), so "
                "that each strip's strongest band row is taken as its marker"
            )
    return out


def _prepared_signal(
    image: np.ndarray, polarity: str, level: float | None, params: BlotParameters, warnings: list[str]
):
    """Signal with dust specks and pen writing replaced, their mask, the saturation mask, the pixel noise SD, and
    the mask of the pen writing alone.

    Removed writing is named in ``warnings`` (where, and how to keep it).
    """
    signal = to_signal(image, polarity=polarity)
    noise_px = pixel_noise_sd(signal)
    dust = (
        dust_mask(signal, noise_sd=noise_px, max_size_px=params.dust_max_size_px, noise_sds=params.dust_noise_sds)
        if params.remove_dust_specks
        else np.zeros(signal.shape, bool)
    )
    writing = np.zeros(signal.shape, bool)
    if params.remove_writing:
        writing = writing_mask(signal, noise_sd=noise_px)
        if writing.any():
            warnings.append(_writing_message(writing))
        dust |= writing
        lines = drawn_line_mask(image, saturation_level=level)
        if lines.any():
            rows, cols = np.nonzero(lines)
            warnings.append(
                f"a line drawn at one grey level (a ruler, a frame or an underline) at rows {rows.min()}-{rows.max()}, "
                f"columns {cols.min()}-{cols.max()} was replaced by the background before lanes and bands were "
                "found; if it is signal, run again keeping it (--keep-writing)"
            )
        dust |= lines
        frame, edges = frame_line_mask(signal)
        if edges:
            warnings.append(
                f"a figure's frame line along the image's edge(s), {', '.join(edges)}, was masked with what lies "
                "outside it (replaced by the background) before lanes and bands were found, so that it neither "
                "tilts the membrane and its lanes nor reads as a band; crop inside the frame to leave it out, or "
                "run again keeping it (--keep-writing)"
            )
        dust |= frame
    clean = remove_dust(signal, dust)
    saturated = (
        np.zeros(image.shape, bool)
        if level is None
        else saturation_mask(image, level=level, exclude=dust, polarity=polarity)
    )
    return clean, dust, saturated, noise_px, writing


def _masked_clipping_warning(
    image: np.ndarray, level: float | None, polarity: str, dust: np.ndarray, saturated: np.ndarray
) -> list[str]:
    """The clipped pixels counted without the masked drawing and dust, when these held pixels at the saturation
    level (a black frame line of an inverted export); empty otherwise (the reader's count stands)."""
    if level is None:
        return []
    masked = int(np.count_nonzero(saturation_mask(image, level=level, polarity=polarity) & dust))
    if not masked:
        return []
    return [clipped_pixels_warning(int(np.count_nonzero(saturated)), image.size, level, polarity, masked=masked)]


def _writing_places(writing: np.ndarray) -> str:
    """Where ``writing`` lies: ``rows a-b, columns c-d`` of each group of columns that holds writing.

    Columns that hold writing form one group unless empty columns of at least
    :data:`WRITING_GROUP_GAP_FRACTION` of the image's width part them: writing beside the membrane on both sides
    is named as two places, not as one box over the whole blot.
    """
    cols = np.flatnonzero(writing.any(axis=0))
    gap = max(1.0, WRITING_GROUP_GAP_FRACTION * writing.shape[1])
    groups = np.split(cols, np.flatnonzero(np.diff(cols) > gap) + 1)
    places = []
    for group in groups:
        rows = np.flatnonzero(writing[:, group[0] : group[-1] + 1].any(axis=1))
        places.append(f"rows {rows[0]}-{rows[-1]}, columns {group[0]}-{group[-1]}")
    return "; ".join(places)


def _lanes_over_writing_messages(writing: np.ndarray, per_strip) -> list[str]:
    """A warning for each lane whose central part held pen writing
    (:func:`~exo_vision.blot.writing.lanes_over_writing`)."""
    out = []
    for lane, (r0, r1, c0, c1) in lanes_over_writing(writing, [lane for ls in per_strip for lane in ls]):
        name = f" ({lane.name})" if lane.name else ""
        out.append(
            f"strip {lane.strip} lane {lane.index}{name}: pen writing was removed inside the lane (rows {r0}-{r1}, "
            f"columns {c0}-{c1}); writing lies beside the lanes, not in a loaded lane, so the lanes may be laid a lane "
            f"aside (every lane name shifted by one) or a band was taken for writing. Check the annotated image; give "
            f"{LANE_COLUMNS}, or keep the writing (--keep-writing)"
        )
    return out


def _writing_message(writing: np.ndarray) -> str:
    """The warning that names where pen writing was removed."""
    return (
        f"pen writing (bright marks with the upright strokes of written digits, and the dashes beside them) at "
        f"{_writing_places(writing)} was replaced by the background before lanes and bands were found; if bands lie "
        "there, run again keeping it (--keep-writing; 'keep pen writing' in the napari dock; remove_writing=False)"
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


#: At most this many spots are named in the warning about them.
MAX_SPOTS_NAMED = 5
#: Pen writing in columns parted by at least this fraction of the image's width is named as separate places.
WRITING_GROUP_GAP_FRACTION = 0.05


def _spot_warnings(spots: list[dict], params: BlotParameters) -> list[str]:
    """A warning naming the peaks that cleared their LoD but were not reported: too narrow for their lane; and one
    naming the requested windows called absent for the same reason."""
    asked = [m for m in spots if m["requested"]]
    spots = [m for m in spots if not m["requested"]]
    out = _asked_spot_warnings(asked, params)
    if not spots:
        return out
    named = ", ".join(
        f"strip {m['strip']} lane {m['lane']} rows {m['y_top_px']}-{m['y_bottom_px']}" for m in spots[:MAX_SPOTS_NAMED]
    )
    more = f" and {len(spots) - MAX_SPOTS_NAMED} more" if len(spots) > MAX_SPOTS_NAMED else ""
    share = params.band_lane_wide_fraction
    return [
        f"{len(spots)} spot(s) narrower than {share:.0%} of their lane's width (dust, a speck, a smudge) were not "
        f"reported as bands: {named}{more}; a marker asked for there is still measured (--keep-spots, 'keep "
        "spots' in the napari dock, or band_lane_wide_fraction=0 in Python, reports them)"
    ] + out


def _asked_spot(m: dict) -> str:
    """Where a requested window called absent for a spot lies: strip, lane (name), marker, rows, columns."""
    name = f" ({m['lane_name']})" if m.get("lane_name") else ""
    marker = f" {m['marker']}" if m.get("marker") else ""
    return (
        f"strip {m['strip']} lane {m['lane']}{name}{marker} window rows {m['y_top_px']}-{m['y_bottom_px']}, "
        f"columns {m['x_left_px']}-{m['x_right_px']} (volume {m['volume']:.3g}, LoD {m['lod_volume']:.3g})"
    )


def _asked_spot_warnings(asked: list[dict], params: BlotParameters) -> list[str]:
    """A warning naming the requested windows whose signal over the LoD lies in a small part of the lane."""
    if not asked:
        return []
    named = "; ".join(_asked_spot(m) for m in asked[:MAX_SPOTS_NAMED])
    more = f" and {len(asked) - MAX_SPOTS_NAMED} more" if len(asked) > MAX_SPOTS_NAMED else ""
    share = params.band_lane_wide_fraction
    return [
        f"{len(asked)} requested window(s) called ABSENT although their volume clears the LoD: the signal lies in "
        f"a spot (dust, a speck: narrower than {share:.0%} of the lane's width, or one bright dot that leaves the "
        f"rest of the window under the LoD), not in a band across the lane: "
        f"{named}{more}. Check the annotated image; a band of the marker there would run across the lane "
        "(--keep-spots, 'keep spots' in the napari dock, or band_lane_wide_fraction=0 in Python, calls them present)"
    ]


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
        strips = _strips_for_lanes(lanes, strips)
        per_strip = [[lane for lane in lanes if lane.strip == s.index] for s in strips]
    else:
        strips = list(strips) if strips is not None else find_strips(clean, min_height_px=params.min_strip_height_px)
        if lane_x_ranges_px is not None:
            per_strip = [
                lanes_from_ranges(lane_x_ranges_px, s, image_width_px=clean.shape[1], warnings=warnings) for s in strips
            ]
            # a range reaching past a strip's found columns widens the strip (its background is measured there)
            strips = _strips_for_lanes([lane for ls in per_strip for lane in ls], strips)
        else:
            many = stacked(strips)
            # stacked strips (membranes one above the other) get the count on the lanes they share, so that
            # lane k is lane k in every membrane; a strip on its own gets it while its lanes are found
            try:
                per_strip = [
                    find_lanes(
                        clean,
                        s,
                        n_lanes=None if m else n_lanes,
                        params=params,
                        warnings=warnings,
                        infer_end_lanes=not m,
                    )
                    for s, m in zip(strips, many)
                ]
                per_strip = share_lanes(per_strip, strips, n_lanes=n_lanes, signal=clean, warnings=warnings)
            except AmbiguousCount as e:
                raise ValueError(
                    _count_refusal(image_name, e.strip, e.centres, e.width, n_lanes, e.why) + sideways_hint(clean)
                ) from None
            if leave_out_empty and any(per_strip) and not all(per_strip):
                for s, ls in zip(strips, per_strip):
                    if not ls:
                        warnings.append(_laneless_strip_message(s))
                strips = [s for s, ls in zip(strips, per_strip) if ls]
                per_strip = [ls for ls in per_strip if ls]
    for s, ls in zip(strips, per_strip):
        if not ls:
            raise ValueError(_no_lanes_message(image_name, s, n_lanes) + sideways_hint(clean))
        if n_lanes is not None and len(ls) != n_lanes:
            ordered = sorted(ls, key=lambda lane: lane.x_centre_px)
            centres = [lane.x_centre_px for lane in ordered]
            why = (
                f", and {n_lanes} lanes on their grid, at least a lane width apart, do not fit in the strip"
                if len(ls) < n_lanes
                else ""
            )
            raise ValueError(
                _count_refusal(image_name, s, centres, ordered[0].width_px, n_lanes, why) + sideways_hint(clean)
            )
        if lane_names is not None and len(lane_names) != len(ls):
            raise ValueError(
                f"{image_name or 'image'}: {len(lane_names)} lane names ({', '.join(lane_names)}) for {len(ls)} lanes "
                f"found in strip {s.index}; give one name per lane, left to right"
                + (
                    f" (lanes without a visible band count too: if they were not found, give the lane count, "
                    f"--lanes {len(lane_names)} or 'lanes per strip' in the blot dock)"
                    if len(lane_names) > len(ls)
                    else ""
                )
                + sideways_hint(clean)
            )
        for i, lane in enumerate(ls):
            lane.index = i + 1
            if lane_names is not None:
                lane.name = str(lane_names[i])
    return strips, per_strip


def _count_refusal(image_name: str | None, s: Strip, centres: list[float], width: float, n_lanes: int, why: str) -> str:
    """The message when ``n_lanes`` lanes cannot be placed in strip ``s``: the strip, the lanes found there
    (``centres`` left to right, ``width``, their pitch, their columns as ranges to start from), ``why`` (a
    clause; empty when more were found) and what to give instead."""
    steps = np.diff(centres)
    apart = f", {float(np.min(steps)):.0f} px apart or more" if steps.size else ""
    spans = ", ".join(f"{c - width / 2 + 0.5:.0f}-{c + width / 2 + 0.5:.0f}" for c in centres)
    return (
        f"{image_name or 'image'}: found {len(centres)} lanes in strip {s.index} (rows {s.y_top_px}..{s.y_bottom_px}, "
        f"columns {s.x_left_px}..{s.x_right_px}) but {n_lanes} were expected: the lanes are centred at columns "
        f"{', '.join(f'{c:.0f}' for c in centres)} ({width:.0f} px wide{apart}){why}; check {LANE_COUNT}, or "
        f"give {LANE_COLUMNS} (the lanes found span columns {spans})"
    )


def _no_lanes_message(image_name: str | None, s: Strip, n_lanes: int | None) -> str:
    """The refusal when strip ``s`` holds no lane: the strip, what to check and what to give; when the lane
    count ``n_lanes`` was given already, only the lanes' columns are suggested. It also says what to do when the
    image is not a blot or gel at all (a TEM micrograph in a blot folder)."""
    give = (
        f"check the polarity; the lane count was given ({n_lanes}) and no lane fits it, so give {LANE_COLUMNS}"
        if n_lanes is not None
        else f"check the polarity, or give {LANE_COUNT} or {LANE_COLUMNS}"
    )
    return (
        f"{image_name or 'image'}: no lanes found in strip {s.index} (rows {s.y_top_px}..{s.y_bottom_px}); "
        f"{give}. If the image is not a Western blot or gel (an electron micrograph "
        "is measured by `exo-vision tem` or the TEM dock), leave it out of the blot run"
    )


def _laneless_strip_message(s: Strip) -> str:
    """The message for a found strip left out because no lane was found in it."""
    return (
        f"no lanes found in strip {s.index} (rows {s.y_top_px}..{s.y_bottom_px}, columns "
        f"{s.x_left_px}..{s.x_right_px}); it was left out and the other strips were measured. If it holds lanes, "
        f"give {LANE_COUNT} or {LANE_COLUMNS}"
    )
