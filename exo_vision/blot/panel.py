"""EV/lysate enrichment per marker and the MISEV panel verdict.

Per marker and lane the band volume is divided by the µg loaded (when given)
and by the same quantity in the reference (lysate) lane: the EV/lysate ratio.
An absent band gets an upper bound instead: its LoD (or its measured volume,
when that is higher) in place of the volume, reported as a sentence such as
"calnexin not detected in exo1: < LoD = 1.2e+04 grey level x px, i.e. < 0.8% of the lysate signal per µg
loaded".

Only EV lanes are pooled as replicates. A lane's role is ``"reference"``,
``"EV"`` or ``"other"``: the lanes named by ``ev_lanes`` (``--ev-lanes``, or
``ev_lanes`` in a panel file) are the EV lanes; without that list every lane
but the reference is one, except a lane with a word of its name starting with
one of :data:`NOT_EV_WORDS` (``lysate2``, ``HEK cells``, ``blank``,
``Empty``, ``negative ctrl``). Those are left out of the statistics and the
verdict, and the summary names them and why (``ev_lanes``,
``left_out_lanes``, and the reason).

Replicate EV lanes give a mean, SD and CV, and a 95 % confidence interval
computed on the logarithm of the ratios (a ratio is positive and its spread
multiplicative: the interval is the geometric mean's, t-based, n >= 2). The
statistics are left empty when a replicate is censored: a band below the LoD
(its ratio is only an upper bound) or a saturated band (in an EV lane its ratio
is a lower bound; in the reference lane every ratio is an upper bound). The
reason says so; ``n_ratios`` counts the lanes the statistics use.

MISEV verdict: the EV markers CD9 and CD63 must be present in every EV lane
and calnexin (endoplasmic reticulum) absent from every EV lane while present
in the lysate (otherwise its absence proves nothing), with a 95 % upper bound in
every EV lane at most :data:`MAX_NEGATIVE_UPPER_BOUND` (10 %) of the lysate's level (otherwise the blot
cannot show that the EVs carry at least 10-fold less calnexin than the cells: inconclusive).
Marker names are compared without letter case. An EV marker whose ratios' geometric mean lies below 1 (depleted in EVs
relative to the lysate) passes, as MISEV asks for presence, with a warning in its reason, whether or not its
confidence interval spans 1 (with 2-3 lanes it nearly always does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from exo_vision.blot.advice import LANE_NAMES
from exo_vision.blot.constants import (
    CONTROL_WORDS,
    EV_WORD_STARTS,
    EV_WORDS_WHOLE,
    MAX_ABSENCE_BOUND_FRACTION,
    NOT_EV_WORDS,
    UPPER_BOUND_CONFIDENCE,
    UPPER_BOUND_Z,
)
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS

#: Significant digits of a percentage beside the absence limit (more, up to the next, where it would read as it).
SHOWN_DIGITS = 3
MAX_SHOWN_DIGITS = 7
#: A geometric mean ratio below 1 is warned as depletion when more than this share of the EV lanes read below 1.
DEPLETED_LANE_SHARE = 0.5
#: Markers expected present in EV lanes (lower-case names).
EV_POSITIVE = ("cd9", "cd63", "cd81", "tsg101", "alix", "syntenin")
#: Markers expected absent from EV lanes (lower-case names).
EV_NEGATIVE = ("calnexin", "canx", "gm130", "cytochrome c")
#: The minimal MISEV panel checked by :func:`misev_verdict`.
MISEV_PANEL = ("CD9", "CD63", "calnexin")
#: Name of the reference lane taken when none is given (compared without letter case).
REFERENCE_NAME = "lysate"
#: An absent negative marker shows depletion only when every EV lane's upper bound is at most this ratio to the
#: reference lane (:data:`~exo_vision.blot.constants.MAX_ABSENCE_BOUND_FRACTION`: at least 10-fold depleted).
MAX_NEGATIVE_UPPER_BOUND = MAX_ABSENCE_BOUND_FRACTION

#: Lane roles (``role`` column of ``panel.csv``).
REFERENCE_ROLE, EV_ROLE, OTHER_ROLE = "reference", "EV", "other"
#: An absent band whose volume lies this many noise SDs below zero gets no call: a blank box reads that low
#: with a chance of about 3e-7, so the background subtracted there is signal (a band cut by the window's edge).
NEGATIVE_VOLUME_SDS = 5.0
#: Why a lane gets no call (:func:`unreliable_volume`), as the verdict says it.
NO_CALL_REASON = "its window's volume lies far below zero, so the background read there is not background"
#: How a marker no lane shows gets measured (the statement of each of its lanes, :func:`enrichment_table`).
UNMEASURED_HINT = (
    "give its position (--ladder-lane with --ladder-kda, or a marker window) to have it measured with its "
    "detection limit"
)
#: What a marker detected in no lane, the reference included, is called (its absence, or presence, unproven).
NOT_IN_REFERENCE = "not detected even in the reference (lysate) lane: inconclusive"
#: What a panel without EV lanes is told.
NO_EV_LANES = (
    "every lane but the reference is named as no EV sample, or left out of the EV lanes given; name the EV lanes "
    "(--ev-lanes, or ev_lanes in the panel file)"
)

#: Columns of the panel table (``panel.csv``): ``label`` numbers its rows; ``image``, ``strip`` and
#: ``band_label`` name the band each row measured (``band_label`` is its ``label`` in ``<image>_bands.csv``).
ENRICHMENT_COLUMNS: dict[str, str] = {
    "label": "int64",
    "marker": "object",
    "lane_name": "object",
    "image": "object",
    "strip": "int64",
    "band_label": "int64",
    "is_reference": "bool",
    "role": "object",
    "role_reason": "object",
    "ug_loaded": "float64",
    "volume": "float64",
    "lod_volume": "float64",
    "upper_bound_volume": "float64",
    "present": "bool",
    "saturated": "bool",
    "volume_per_ug": "float64",
    "ratio_to_reference": "float64",
    "ratio_lower_bound": "float64",
    "ratio_upper_bound": "float64",
    "ratio_censoring": "object",
    "statement": "object",
    "caveat": "object",
}

SUMMARY_COLUMNS: dict[str, str] = {
    "label": "int64",
    "marker": "object",
    "expected_in_ev": "object",
    "n_ev_lanes": "int64",
    "n_ev_present": "int64",
    "ev_lanes": "object",
    "left_out_lanes": "object",
    "present_in_reference": "bool",
    "n_ratios": "int64",
    "ratio_mean": "float64",
    "ratio_sd": "float64",
    "ratio_cv": "float64",
    "ratio_geomean": "float64",
    "ratio_ci95_low": "float64",
    "ratio_ci95_high": "float64",
    "verdict": "object",
    "reason": "object",
}

#: Default two-sided confidence level of the replicate ratios' interval.
DEFAULT_CONFIDENCE = 0.95


#: Unit of band volumes and detection limits: grey levels above the background, summed over the band's pixels.
VOLUME_UNIT = "grey level x px"


def expected_in_ev(marker: str) -> str:
    """``"present"``, ``"absent"`` or ``"unknown"`` for a marker name (case-insensitive)."""
    name = marker.strip().lower()
    if name in EV_POSITIVE:
        return "present"
    if name in EV_NEGATIVE:
        return "absent"
    return "unknown"


#: What a measured ratio is when its bands are clipped (:func:`ratio_censoring`).
MEASURED, LOWER_BOUND, UPPER_BOUND, UNDETERMINED = "measured", "lower bound", "upper bound", "undetermined"
#: ``ratio_censoring`` of a lane whose band is below the LoD (``ratio_upper_bound`` from its LoD), of a lane
#: without a call, and of every lane of a marker whose reference band is absent (nothing to divide by).
BELOW_LOD, NO_CALL, NO_REFERENCE = "below LoD: upper bound", "no call", "no reference band"


def ratio_censoring(ev_saturated: bool, reference_saturated: bool) -> str:
    """What a measured EV/reference ratio is, given which of its two bands are saturated.

    A saturated band reads low: in the EV lane the ratio is a lower bound, in the reference lane (the
    divisor) an upper bound, in both bounded in neither direction.
    """
    if ev_saturated and reference_saturated:
        return UNDETERMINED
    if ev_saturated:
        return LOWER_BOUND
    return UPPER_BOUND if reference_saturated else MEASURED


def ratio_as_read(enrichment: pd.DataFrame) -> pd.Series:
    """Each present band's EV/reference ratio as its volumes read, whatever their saturation.

    ``ratio_to_reference`` holds only measurements; a saturated band's quotient goes to ``ratio_lower_bound`` or
    ``ratio_upper_bound``, and where both bands are saturated to neither (undetermined). This is the quotient
    itself, for drawing such a lane where it read (per µg when ``ug_loaded`` is given).

    Parameters
    ----------
    enrichment : pandas.DataFrame
        Output of :func:`enrichment_table`.

    Returns
    -------
    pandas.Series
        Indexed like ``enrichment``; NaN for absent bands, lanes given 0 µg, and where the reference band is
        absent.
    """
    ug = enrichment["ug_loaded"].astype(float).fillna(1.0)
    per_ug = enrichment["volume"].astype(float) / ug.where(ug > 0)
    ref = enrichment["is_reference"].astype(bool) & enrichment["present"].astype(bool)
    ref_per_ug = per_ug[ref].groupby(enrichment.loc[ref, "marker"]).first()
    out = per_ug / enrichment["marker"].map(ref_per_ug).astype(float)
    return out.where(enrichment["present"].astype(bool))


def clipped_reference_markers(enrichment: pd.DataFrame) -> set[str]:
    """Markers whose reference band is saturated (every ratio of theirs an upper bound, or undetermined)."""
    rows = enrichment.loc[enrichment["is_reference"].astype(bool) & enrichment["saturated"].astype(bool)]
    return set(rows["marker"].astype(str))


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _pct_beside_limit(fraction: float) -> str:
    """``100 * fraction`` to 3 significant digits, or more where that would read as the absence limit itself
    (a bound of 10.004 % printed "10" beside "at most 10 %" contradicted the verdict)."""
    value, limit = 100 * fraction, 100 * MAX_NEGATIVE_UPPER_BOUND
    for digits in range(SHOWN_DIGITS, MAX_SHOWN_DIGITS + 1):
        shown = f"{value:.{digits}g}"
        if value == limit or shown != f"{limit:.{digits}g}":
            return shown
    return shown


def default_reference_lane(lane_names: Sequence[str] | None) -> str | None:
    """The lane to divide by when no reference lane is named.

    Parameters
    ----------
    lane_names : sequence of str or None
        Lane names, left to right.

    Returns
    -------
    str or None
        The lane named "lysate" in any letter case; else the only lane whose name contains
        "lysate" ("cell lysate", "Lysate_HEK"); else None (the caller must ask for one).
    """
    names = list(lane_names or [])
    exact = [n for n in names if n.strip().casefold() == REFERENCE_NAME]
    if exact:
        return exact[0]
    containing = [n for n in names if REFERENCE_NAME in n.casefold()]
    return containing[0] if len(containing) == 1 else None


def _check_marker_spellings(rows: pd.DataFrame) -> None:
    """Refuse marker names that differ only in letter case: they are one marker to the verdict."""
    spellings: dict[str, list[str]] = {}
    for name in dict.fromkeys(rows["marker"].astype(str)):
        spellings.setdefault(name.strip().casefold(), []).append(name)
    clashes = [names for names in spellings.values() if len(names) > 1]
    if clashes:
        shown = "; ".join(" and ".join(repr(n) for n in names) for names in clashes)
        raise ValueError(
            f"marker names {shown} differ only in letter case, so they name one marker; spell it the same way "
            "everywhere (a replicate blot of the same marker, with its own lysate lane, goes in a run of its own)"
        )


def _several_bands_message(marker: str, group: pd.DataFrame) -> str:
    """Why one marker with several bands per lane name cannot be divided by its reference."""
    lanes = sorted(set(group["lane_name"][group["lane_name"].duplicated()]))
    images = sorted(set(group["image"].astype(str))) if "image" in group.columns else []
    if len(images) > 1:
        return (
            f"marker {marker!r} is in several images ({', '.join(images)}) with the same lane names {lanes}: "
            "replicate blots of one marker are not pooled in one run, since each has its own lysate lane; "
            "quantify each blot in a run of its own (its own --out) and compare the runs' panel_summary.csv"
        )
    return (
        f"marker {marker!r} has several bands in lane(s) {lanes}; "
        "give each marker once per lane (one strip or image per marker)"
    )


def not_ev_word(name: str) -> str | None:
    """The word of :data:`NOT_EV_WORDS` that a word of ``name`` starts with, or None.

    Words start at a letter after a non-letter (``lysate2``: "lysate"; ``HEK-blank``: "blank") or at an
    upper-case letter after a lower-case one (``exoBlank``: "blank"); letter case is ignored. ``extracellular``
    has no word starting with "cell".
    """
    low = name.casefold()
    for start in _word_starts(name):
        for word in NOT_EV_WORDS:
            if low.startswith(word, start):
                return word
    return None


def _word_starts(name: str) -> list[int]:
    """Where the words of a lane name start (see :func:`not_ev_word`)."""
    return [m.start() for m in re.finditer(r"(?<![^\W\d_])[^\W\d_]|(?<=[a-z])[A-Z]", name)]


def says_ev(name: str) -> bool:
    """Whether a lane name calls the lane an EV sample (:data:`EV_WORDS_WHOLE`, :data:`EV_WORD_STARTS`).

    ``mock EVs``, ``EVs in PBS``, ``sEV-vehicle`` and ``exo1`` do; ``cell lysate``, ``PBS`` and ``every`` do not
    (a whole word "ev", or a word starting with "exo" or "vesicle", letters only).
    """
    low = name.casefold()
    for start in _word_starts(name):
        word = re.match(r"[^\W\d_]+", low[start:])
        if word and (word.group() in EV_WORDS_WHOLE or word.group().startswith(EV_WORD_STARTS)):
            return True
    return False


def lane_roles(
    lane_names: Sequence[str], *, reference_lane: str, ev_lanes: Sequence[str] | None = None
) -> dict[str, tuple[str, str]]:
    """Role of each lane in the panel: the reference, an EV replicate, or another lane left out of the pool.

    Parameters
    ----------
    lane_names : sequence of str
        Lane names, left to right.
    reference_lane : str
        The lysate lane the ratios divide by.
    ev_lanes : sequence of str, optional
        The EV lanes (all others but the reference are ``"other"``). Default: every lane but the reference,
        except those with a word of :data:`NOT_EV_WORDS` in their name and none that calls them EVs
        (:func:`says_ev`: "mock EVs" and "EVs in PBS" are EV lanes, "PBS" and "cell lysate" are not).

    Returns
    -------
    dict of str to (str, str)
        Lane name -> ``(role, why)``: role :data:`REFERENCE_ROLE`, :data:`EV_ROLE` or :data:`OTHER_ROLE`; ``why``
        says why an ``"other"`` lane is left out ("" for the rest).

    Raises
    ------
    ValueError
        When ``ev_lanes`` names a lane that is not among ``lane_names``, names the reference lane, or repeats one.
    """
    names = list(lane_names)
    if ev_lanes is not None:
        ev = list(ev_lanes)
        unknown = [n for n in ev if n not in names]
        twice = sorted({n for n in ev if ev.count(n) > 1})
        if unknown or twice or reference_lane in ev or not ev:
            problem = (
                f"{', '.join(map(repr, unknown))} not among the lane names ({', '.join(names)})"
                if unknown
                else f"{', '.join(map(repr, twice))} given twice"
                if twice
                else f"the reference lane {reference_lane!r} is among them"
                if ev
                else "none is given"
            )
            raise ValueError(
                f"EV lanes: {problem}; name each EV lane (replicate) once, and not the reference (lysate) lane "
                "(--ev-lanes, or ev_lanes in the panel file)"
            )
    roles: dict[str, tuple[str, str]] = {}
    for name in names:
        word = not_ev_word(name)
        if name == reference_lane:
            roles[name] = (REFERENCE_ROLE, "")
        elif ev_lanes is not None:
            roles[name] = (EV_ROLE, "") if name in ev_lanes else (OTHER_ROLE, "not among the EV lanes given")
        elif word is not None and not says_ev(name):
            roles[name] = (OTHER_ROLE, f"its name says {word!r}")
        else:
            roles[name] = (EV_ROLE, "")
    return roles


def _checked_loads(
    names: list[str], ug_loaded: Mapping[str, float] | None, roles: Mapping[str, tuple[str, str]], reference_lane: str
) -> None:
    """Refuse µg amounts missing for a lane, negative, or zero for the reference or an EV lane (a lane that is not
    pooled, such as a blank or PBS lane, may have had nothing loaded: 0 µg)."""
    if ug_loaded is None:
        return
    absent = [n for n in names if n not in ug_loaded]
    if absent:
        raise ValueError(f"µg loaded missing for lanes {absent}; give one amount per lane name")
    pooled = {n for n in names if n == reference_lane or roles[n][0] == EV_ROLE}
    bad = {
        k: v
        for k, v in ug_loaded.items()
        if k in names and not (np.isfinite(v) and (v > 0 or (v == 0 and k not in pooled)))
    }
    if bad:
        raise ValueError(
            f"µg loaded must be positive numbers for the reference lane and every EV lane (0 is accepted for a lane "
            f"that is not pooled, such as a blank or PBS lane), got {bad}"
        )


def _missing_reference_message(bands: pd.DataFrame, reference_lane: str, names: list[str]) -> str:
    """Why the reference lane has no marker row: it is the ladder lane (its bands carry no marker), or misnamed."""
    unnamed = bands[(bands["lane_name"].astype(str) == reference_lane) & (bands["marker"].astype(str) == "")]
    if len(unnamed):
        return (
            f"reference lane {reference_lane!r} carries no marker: it is the ladder lane (no sample, so no marker "
            "is called there); a lane cannot be both the ladder and the lysate: give the ladder lane's number "
            "(--ladder-lane) or name the lysate lane (--reference-lane)"
        )
    return f"reference lane {reference_lane!r} is not among the lane names ({', '.join(names)}); check {LANE_NAMES}"


def unreliable_volume(row) -> bool:
    """Whether an absent band's volume lies :data:`NEGATIVE_VOLUME_SDS` noise SDs below zero (no call there).

    ``row`` needs ``volume`` and, for the test to apply, ``noise_sd_volume`` (a table without it never is).
    """
    sd = float(getattr(row, "noise_sd_volume", np.nan))
    return bool(np.isfinite(sd) and sd > 0 and float(row.volume) < -NEGATIVE_VOLUME_SDS * sd)


def volume_noise_sd(row) -> float:
    """The blank-volume noise SD of a band row: ``noise_sd_volume``, or for a table without it (or without a
    positive value there) the LoD's share of it, ``lod_volume / lod_factor`` (a blank mean of 0)."""
    sd = float(getattr(row, "noise_sd_volume", np.nan))
    if np.isfinite(sd) and sd > 0:
        return sd
    return float(row.lod_volume) / DEFAULT_BLOT_PARAMETERS.lod_factor


def upper_bound_volume(row) -> float:
    """The 95 % upper bound on the true volume of an absent band: the volume detected with 95 % probability.

    A band whose true volume equals the LoD reads above it only half the time (its measured volume scatters by
    the blank-volume noise SD around it), so the LoD itself bounds nothing. A band of ``LoD + z x SD``
    (:data:`~exo_vision.blot.constants.UPPER_BOUND_Z`, the one-sided 95 % normal quantile) is detected 95 % of the
    time: that is the bound of a band that was not. Where the window holds more than the LoD without a band peak,
    the bound starts from its volume instead. The LoD stays the detection threshold (``lod_volume``).

    Parameters
    ----------
    row
        A band row with ``volume`` and ``lod_volume`` (grey level x px) and, ideally, ``noise_sd_volume``
        (:func:`volume_noise_sd`).

    Returns
    -------
    float
        ``max(lod_volume, volume) + UPPER_BOUND_Z x noise SD`` (grey level x px).
    """
    return max(float(row.lod_volume), float(row.volume)) + UPPER_BOUND_Z * volume_noise_sd(row)


def _absent_statement(marker: str, r, bound: float, upper: float, reference_lane: str, per_ug_text: str) -> str:
    """The sentence of an absent band: its LoD, its 95 % upper bound and what share of the reference signal that
    allows."""
    lod = float(r.lod_volume)
    limit = (
        f"< LoD = {_fmt(lod)} {VOLUME_UNIT}"
        if float(r.volume) <= lod
        else f"no band peak there, but the window holds {_fmt(float(r.volume))} {VOLUME_UNIT} (above the LoD "
        f"{_fmt(lod)})"
    )
    return (
        f"{marker} not detected in {r.lane_name}: {limit}; {UPPER_BOUND_CONFIDENCE} upper bound {_fmt(bound)} "
        f"{VOLUME_UNIT} (a band that strong is detected {UPPER_BOUND_CONFIDENCE} of the time), i.e. < "
        f"{_pct_beside_limit(upper)}% of the {reference_lane} signal{per_ug_text}"
    )


def _no_call_statement(marker: str, r) -> str:
    """The sentence of a window whose volume lies far below zero: no present/absent call."""
    sds = -float(r.volume) / float(r.noise_sd_volume)
    return (
        f"{marker} in {r.lane_name}: no call: the window's volume ({_fmt(float(r.volume))} {VOLUME_UNIT}) lies "
        f"{sds:.0f} noise SDs below zero, so the background read beside it is not background (a band cut by the "
        "window's edge?); move the window (or the ladder sizes that place it)"
    )


def enrichment_table(
    bands: pd.DataFrame,
    *,
    reference_lane: str,
    ug_loaded: Mapping[str, float] | None = None,
    ev_lanes: Sequence[str] | None = None,
    caveats: Mapping[str, str] | None = None,
    unmeasured: Mapping[str, tuple[str, int]] | None = None,
) -> pd.DataFrame:
    """EV/reference ratio per marker and lane.

    Parameters
    ----------
    bands : pandas.DataFrame
        Band table(s) from :func:`exo_vision.blot.quantify.quantify_blot`;
        rows with an empty ``marker`` are ignored. Needs columns ``marker,
        lane_name, volume, lod_volume, present, saturated``; one row per
        marker and lane name. With ``noise_sd_volume``, an absent band whose
        volume lies :data:`NEGATIVE_VOLUME_SDS` noise SDs below zero gets no
        call (no upper bound; the statement says why).
    reference_lane : str
        Name of the lysate lane.
    ug_loaded : mapping of str to float, optional
        µg of protein loaded per lane name (all lanes, or none).
    ev_lanes : sequence of str, optional
        The EV lanes pooled as replicates (:func:`lane_roles`; default: by their names).
    caveats : mapping of str to str, optional
        Image name (``image`` column) -> what a result measured on it must add (an 8-bit export's;
        :attr:`exo_vision.blot.quantify.BlotResult.panel_caveat`): the ``caveat`` of its rows, appended to the
        statement of its absent bands and to the reason of their markers (:func:`panel_summary`).
    unmeasured : mapping of str to (str, int), optional
        Markers named for a strip that got no band row (no lane showed a band and no position was given, so no
        window was measured; :func:`exo_vision.blot.quantify.unmeasured_markers`) -> the image and strip they
        were probed on. Each gets one row per lane: absent, with no volume and no LoD (NaN), and a
        statement saying so; its verdict is then inconclusive (not detected even in the reference lane).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`ENRICHMENT_COLUMNS`. ``ratio_to_reference`` holds measured ratios only: it is NaN
        for absent bands, which get ``ratio_upper_bound`` (from the LoD) and a ``statement``, and for saturated
        bands, whose ratio goes to ``ratio_lower_bound`` (EV band saturated) or ``ratio_upper_bound``
        (reference band saturated), or to neither when both are (undetermined: the statement gives it as
        read). ``ratio_censoring`` names which (:data:`MEASURED`, :data:`LOWER_BOUND`, :data:`UPPER_BOUND`,
        :data:`UNDETERMINED`, :data:`BELOW_LOD`, :data:`NO_CALL`, :data:`NO_REFERENCE`); ``role`` and
        ``role_reason`` are each lane's (:func:`lane_roles`).
    """
    need = {"marker", "lane_name", "volume", "lod_volume", "present", "saturated"}
    missing = need - set(bands.columns)
    if missing:
        raise ValueError(f"band table lacks columns {sorted(missing)}; pass the table from quantify_blot")
    rows = bands[bands["marker"].astype(str) != ""]
    if rows.empty:
        raise ValueError("no band carries a marker name; give markers (e.g. --marker CD9 or a panel file)")
    _check_marker_spellings(rows)
    names = list(dict.fromkeys(rows["lane_name"].astype(str)))
    if reference_lane not in names:
        raise ValueError(_missing_reference_message(bands, reference_lane, names))
    roles = lane_roles(names, reference_lane=reference_lane, ev_lanes=ev_lanes)
    _checked_loads(names, ug_loaded, roles, reference_lane)
    out = []
    for marker, group in rows.groupby("marker", sort=False):
        if group["lane_name"].duplicated().any():
            raise ValueError(_several_bands_message(str(marker), group))
        ref = group[group["lane_name"] == reference_lane]
        if ref.empty:
            raise ValueError(f"marker {marker!r} has no band in the reference lane {reference_lane!r}")
        for r in group.itertuples():
            out.append(_enrichment_row(str(marker), r, ref.iloc[0], reference_lane, ug_loaded, caveats or {}))
            out[-1]["role"], out[-1]["role_reason"] = roles[str(r.lane_name)]
    measured = {str(m).strip().casefold() for m in rows["marker"]}
    for marker, (image, strip) in (unmeasured or {}).items():
        if marker.strip().casefold() not in measured:
            out.extend(_unmeasured_rows(marker, (image, strip), names, reference_lane, ug_loaded, roles))
    table = pd.DataFrame.from_records(out)
    table.insert(0, "label", np.arange(1, len(table) + 1))
    return table[list(ENRICHMENT_COLUMNS)].astype(ENRICHMENT_COLUMNS)


def _enrichment_row(
    marker: str, r, ref, reference_lane: str, ug_loaded: Mapping[str, float] | None, caveats: Mapping[str, str]
) -> dict[str, object]:
    """One row of :func:`enrichment_table`: band ``r`` of ``marker`` divided by its reference band ``ref``."""
    ref_ug = float(ug_loaded[reference_lane]) if ug_loaded is not None else 1.0
    ref_per_ug = float(ref["volume"]) / ref_ug
    ug = float(ug_loaded[r.lane_name]) if ug_loaded is not None else np.nan
    scale = ug if ug_loaded is not None else 1.0
    per_ug = float(r.volume) / scale if scale > 0 else np.nan
    ratio = lower = upper = np.nan
    statement, censoring = "", NO_REFERENCE
    if scale == 0:
        found = "detected" if bool(r.present) else "not detected"
        statement, censoring = f"{marker} {found} in {r.lane_name} (0 µg loaded: no ratio per µg)", NO_CALL
    elif not bool(ref["present"]):
        statement = f"{marker} not detected in the reference lane {reference_lane}: no ratio"
    elif bool(r.present):
        read = per_ug / ref_per_ug
        censoring = (
            MEASURED if r.lane_name == reference_lane else ratio_censoring(bool(r.saturated), bool(ref["saturated"]))
        )
        ratio, lower, upper = (
            (read, np.nan, np.nan)
            if censoring == MEASURED
            else (np.nan, read, np.nan)
            if censoring == LOWER_BOUND
            else (np.nan, np.nan, read)
            if censoring == UPPER_BOUND
            else (np.nan, np.nan, np.nan)
        )
        if censoring == UNDETERMINED:
            statement = (
                f"{marker} in {r.lane_name}: both bands saturated, so the ratio ({_fmt(read)} as read) is undetermined"
            )
    elif unreliable_volume(r):
        statement, censoring = _no_call_statement(marker, r), NO_CALL
    else:
        censoring = BELOW_LOD
        bound = upper_bound_volume(r)
        upper = (bound / scale) / ref_per_ug
        per_ug_text = " per µg loaded" if ug_loaded is not None else ""
        statement = _absent_statement(marker, r, bound, upper, reference_lane, per_ug_text)
    caveat = caveats.get(str(getattr(r, "image", "")), "")
    if caveat and np.isfinite(upper):
        statement += f" ({caveat})"
    return dict(
        marker=marker,
        lane_name=str(r.lane_name),
        image=str(getattr(r, "image", "")),
        strip=int(getattr(r, "strip", 0)),
        band_label=int(getattr(r, "label", 0)),
        is_reference=r.lane_name == reference_lane,
        ug_loaded=ug,
        volume=float(r.volume),
        lod_volume=float(r.lod_volume),
        upper_bound_volume=upper_bound_volume(r) if not bool(r.present) else np.nan,
        present=bool(r.present),
        saturated=bool(r.saturated),
        volume_per_ug=per_ug if ug_loaded is not None else np.nan,
        ratio_to_reference=ratio,
        ratio_lower_bound=lower,
        ratio_upper_bound=upper,
        ratio_censoring=censoring,
        statement=statement,
        caveat=caveat,
    )


def _unmeasured_rows(
    marker: str,
    where: tuple[str, int],
    names: Sequence[str],
    reference_lane: str,
    ug_loaded: Mapping[str, float] | None,
    roles: Mapping[str, tuple[str, str]],
) -> list[dict[str, object]]:
    """The rows of a marker probed on ``where`` (image, strip) that no lane shows and whose window nobody placed:
    each lane absent, with no volume and no LoD (nothing was integrated)."""
    image, strip = where
    out = []
    for name in names:
        out.append(
            dict(
                marker=marker,
                lane_name=name,
                image=image,
                strip=int(strip),
                band_label=0,
                is_reference=name == reference_lane,
                ug_loaded=float(ug_loaded[name]) if ug_loaded is not None else np.nan,
                volume=np.nan,
                lod_volume=np.nan,
                upper_bound_volume=np.nan,
                present=False,
                saturated=False,
                volume_per_ug=np.nan,
                ratio_to_reference=np.nan,
                ratio_lower_bound=np.nan,
                ratio_upper_bound=np.nan,
                ratio_censoring=NO_REFERENCE,
                statement=(
                    f"{marker} not detected in {name} (absent; no LoD: no lane of strip {strip} of {image} shows a "
                    "band and no position was given for it, so no window was measured)"
                ),
                caveat="",
                role=roles[name][0],
                role_reason=roles[name][1],
            )
        )
    return out


def replicate_stats(values: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, float]:
    """Mean, SD, CV, geometric mean and its confidence interval of replicate ratios.

    Parameters
    ----------
    values : sequence of float
        Replicate ratios (NaN ignored; all positive).
    confidence : float
        Confidence level of the interval.

    Returns
    -------
    dict
        ``n, mean, sd, cv, geomean, ci_low, ci_high``. The interval is t-based on the logarithms
        (``exp(mean(log r) -/+ t * sd(log r) / sqrt(n))``), so it is positive and brackets the
        geometric mean. SD, CV and the interval are NaN when n < 2.

    Raises
    ------
    ValueError
        When a value is zero or negative (not a ratio of two detected bands).
    """
    from scipy import stats

    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if (v <= 0).any():
        raise ValueError(f"ratios must be positive, got {v[v <= 0].tolist()}")
    n = int(v.size)
    out = dict(n=n, mean=np.nan, sd=np.nan, cv=np.nan, geomean=np.nan, ci_low=np.nan, ci_high=np.nan)
    if n == 0:
        return out
    logs = np.log(v)
    out.update(mean=float(v.mean()), geomean=float(np.exp(logs.mean())))
    if n < 2:
        return out
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(logs.std(ddof=1)) / np.sqrt(n)
    out.update(
        sd=sd, cv=sd / out["mean"], ci_low=float(np.exp(logs.mean() - half)), ci_high=float(np.exp(logs.mean() + half))
    )
    return out


def _all_lanes(n: int) -> str:
    """'all 3 EV lanes', or 'the one EV lane'."""
    return "the one EV lane" if n == 1 else f"all {n} EV lanes"


def _no_call_lanes(ev: pd.DataFrame, ref_present: bool) -> list[str]:
    """EV lanes without a call: absent, yet without an upper bound while the reference shows a band
    (:func:`unreliable_volume`)."""
    if not ref_present:
        return []
    return ev.loc[~ev["present"] & ev["ratio_upper_bound"].isna(), "lane_name"].tolist()


def _presence_reason(marker: str, ev: pd.DataFrame, ref_present: bool = True) -> tuple[bool, str]:
    """Verdict and reason of a marker expected present in every EV lane."""
    if ev.empty:
        return False, f"{marker}: no EV lane to check ({NO_EV_LANES})"
    absent_lanes = ev.loc[~ev["present"], "lane_name"].tolist()
    if absent_lanes:
        no_call = _no_call_lanes(ev, ref_present)
        why = f" (no call in {', '.join(no_call)}: {NO_CALL_REASON})" if no_call else ""
        if not ref_present and len(absent_lanes) == len(ev):
            why += f", and {NOT_IN_REFERENCE} (a failed antibody or transfer?)"
        return False, f"{marker} not detected in EV lane(s) {', '.join(absent_lanes)}{why}"
    return True, f"{marker} present in {_all_lanes(len(ev))}"


def _absence_reason(marker: str, ev: pd.DataFrame, ref_present: bool) -> tuple[bool, str]:
    """Verdict and reason of a marker expected absent from every EV lane and present in the reference."""
    if ev.empty:
        return False, f"{marker}: no EV lane to check ({NO_EV_LANES})"
    present_lanes = ev.loc[ev["present"], "lane_name"].tolist()
    if present_lanes:
        where = "" if ref_present else " (and not detected in the reference lane)"
        return False, f"{marker} detected in EV lane(s) {', '.join(present_lanes)}{where}: cellular contamination"
    if not ref_present:
        return False, (
            f"{marker} {NOT_IN_REFERENCE} (the lysate, the control that the antibody and transfer work, shows no "
            "band, so its absence from the EV lanes proves nothing)"
        )
    no_call = _no_call_lanes(ev, ref_present)
    if no_call:
        lanes = ", ".join(no_call)
        return False, f"{marker} not detected in the EV lanes, but inconclusive: no call in {lanes} ({NO_CALL_REASON})"
    worst = float(ev["ratio_upper_bound"].max())
    level = "signal per µg loaded" if ev["ug_loaded"].notna().all() else "signal"
    if np.isfinite(worst) and worst > MAX_NEGATIVE_UPPER_BOUND:
        return False, (
            f"{marker} not detected in the EV lanes, but inconclusive: the blot can only show {marker} below "
            f"{_pct_beside_limit(worst)}% of the reference lane's {level} ({UPPER_BOUND_CONFIDENCE} upper bound), "
            f"short of the {_fmt(1 / MAX_NEGATIVE_UPPER_BOUND)}-fold depletion "
            f"(at most {_fmt(100 * MAX_NEGATIVE_UPPER_BOUND)}%) an absence call needs; load more protein or expose "
            "longer until the reference band is well above the LoD"
        )
    return True, (
        f"{marker} absent from {_all_lanes(len(ev))} ({'each ' if len(ev) > 1 else ''}< {_fmt(100 * worst)}% of "
        f"the reference lane's {level}, "
        f"a {UPPER_BOUND_CONFIDENCE} upper bound) and present in the reference lane"
    )


def _statistics_note(ev: pd.DataFrame, reference_saturated: bool, reference_present: bool = True) -> str:
    """Why replicate statistics are withheld (censored replicates), or "" when every ratio is measured."""
    no_call = _no_call_lanes(ev, reference_present)
    below = [n for n in ev.loc[~ev["present"], "lane_name"] if n not in no_call]
    saturated = ev.loc[ev["present"] & ev["saturated"], "lane_name"].tolist()
    if not reference_present:
        return "no ratios: the reference lane shows no band to divide by"
    if reference_saturated and len(ev) > len(below) + len(no_call):
        both = f"; undetermined where the EV band is saturated too ({', '.join(saturated)})" if saturated else ""
        return f"no replicate statistics: the reference band is saturated, so every ratio is only an upper bound{both}"
    parts = []
    if below and len(below) < len(ev):
        parts.append(f"{', '.join(below)} below the LoD (ratio only an upper bound)")
    if no_call and len(no_call) < len(ev):
        parts.append(f"{', '.join(no_call)} without a call")
    if saturated:
        parts.append(f"{', '.join(saturated)} saturated (ratio only a lower bound)")
    return f"no replicate statistics: {'; '.join(parts)}" if parts else ""


def _depletion_warning(ev: pd.DataFrame, st: dict[str, float], reference_saturated: bool) -> str:
    """The warning of an EV marker whose ratios lie below 1 (depleted in EVs), or ""."""
    if st["n"] and np.isfinite(st["ci_high"]) and st["ci_high"] < 1:
        return (
            f"; WARNING: depleted in EVs relative to the reference lane (geometric mean ratio "
            f"{_fmt(st['geomean'])}, 95 % CI below 1), not enriched"
        )
    measured = ev["ratio_to_reference"].dropna() if "ratio_to_reference" in ev.columns else ev.iloc[0:0]
    if st["n"] and st["geomean"] < 1 and len(measured) and float((measured < 1).mean()) > DEPLETED_LANE_SHARE:
        # with 2-3 lanes the t-based interval nearly always spans 1: a geometric mean below 1 is warned all the same
        # where most EV lanes read below the reference (0.3, 0.4 and 1.3 are; lanes at 2 and 0.5 are not)
        spans = f", CI {_fmt(st['ci_low'])}-{_fmt(st['ci_high'])} spans 1" if np.isfinite(st["ci_high"]) else ""
        shown = _fmt(st["geomean"]) if _fmt(st["geomean"]) != "1" else f"{st['geomean']:.4f}"  # never "below 1: 1"
        return (
            f"; WARNING: depleted, not enriched: geometric mean ratio to the reference lane {shown} "
            f"(n {st['n']}{spans})"
        )
    if reference_saturated and len(ev) and bool((ev["ratio_upper_bound"] < 1).all()):
        # every ratio is an upper bound (the reference clipped), and all lie below 1: depleted for certain
        return (
            f"; WARNING: depleted in EVs relative to the reference lane (every ratio at most "
            f"{_fmt(float(ev['ratio_upper_bound'].max()))}, an upper bound), not enriched"
        )
    return ""


def _roles_of(g: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    """The EV rows of one marker's enrichment rows, the pooled lanes' names, and the lanes left out with why."""
    role = (
        g["role"] if "role" in g.columns else pd.Series(np.where(g["is_reference"], REFERENCE_ROLE, EV_ROLE), g.index)
    )
    ev = g[role == EV_ROLE]
    other = g[role == OTHER_ROLE]
    whys = other["role_reason"] if "role_reason" in other.columns else pd.Series("", other.index)
    left_out = "; ".join(f"{n} ({why})" if why else str(n) for n, why in zip(other["lane_name"], whys))
    return ev, ", ".join(map(str, ev["lane_name"])), left_out


def _control_lane_warning(marker: str, g: pd.DataFrame) -> str:
    """The warning of a negative-control lane left out of the pool (PBS, blank, ...) in which ``marker`` is present.

    Such a lane should show no marker at all: a band there means spill-over from the next lane, a loading
    mix-up or a contaminated buffer, which an analyst checks before signing the panel.
    """
    if "role" not in g.columns:
        return ""
    shown = []
    for r in g[(g["role"] == OTHER_ROLE) & g["present"].astype(bool)].itertuples():
        word = not_ev_word(str(r.lane_name))
        if word in CONTROL_WORDS:
            ratio = getattr(r, "ratio_to_reference", np.nan)
            size = f" at {_fmt(float(ratio))} of the reference lane" if pd.notna(ratio) else ""
            shown.append(f"{r.lane_name}{size}")
    if not shown:
        return ""
    return (
        f"; WARNING: {marker} is present in control lane(s) that should show no marker: {', '.join(shown)} "
        "(spill-over from the next lane, a loading mix-up or a contaminated buffer?)"
    )


def _summary_row(marker: str, g: pd.DataFrame) -> dict[str, object]:
    """One row of :func:`panel_summary`: statistics, verdict and reason of one marker."""
    ev, pooled, left_out = _roles_of(g)
    ref = g[g["is_reference"]]
    ref_present = bool(ref["present"].any())
    expect = expected_in_ev(marker)
    reference_saturated = bool((ref["present"] & ref["saturated"]).any())
    note = _statistics_note(ev, reference_saturated, ref_present)
    st = replicate_stats([] if note else ev["ratio_to_reference"].tolist())
    if expect == "present":
        ok, reason = _presence_reason(marker, ev, ref_present)
        reason += _depletion_warning(ev, st, reference_saturated) if ok else ""
    elif expect == "absent":
        ok, reason = _absence_reason(marker, ev, ref_present)
    else:
        ok, reason = True, f"{marker} is not part of the MISEV panel check"
    if note and expect != "absent" and not ev.empty:
        reason += f"; {note}"
    if g["lod_volume"].isna().all():
        reason += f"; no lane shows a band and no window was measured, so there is no LoD: {UNMEASURED_HINT}"
    if g["saturated"].any():
        reason += "; WARNING: saturated band(s), ratios unreliable"
    if left_out:
        reason += f"; not pooled as EV lanes: {left_out}" + _control_lane_warning(marker, g)
    caveats = [c for c in dict.fromkeys(g["caveat"]) if c] if "caveat" in g.columns else []
    if caveats:
        reason += "; CAVEAT: " + "; ".join(caveats)
    return dict(
        marker=marker,
        expected_in_ev=expect,
        n_ev_lanes=int(len(ev)),
        n_ev_present=int(ev["present"].sum()),
        ev_lanes=pooled,
        left_out_lanes=left_out,
        present_in_reference=ref_present,
        n_ratios=int(st["n"]),
        ratio_mean=st["mean"],
        ratio_sd=st["sd"],
        ratio_cv=st["cv"],
        ratio_geomean=st["geomean"],
        ratio_ci95_low=st["ci_low"],
        ratio_ci95_high=st["ci_high"],
        verdict="pass" if ok else "fail",
        reason=reason,
    )


def panel_summary(enrichment: pd.DataFrame) -> pd.DataFrame:
    """Per-marker replicate statistics and verdict.

    Parameters
    ----------
    enrichment : pandas.DataFrame
        Output of :func:`enrichment_table`.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`SUMMARY_COLUMNS`, one row per marker. Only the EV lanes (``role`` "EV") are
        pooled: ``ev_lanes`` names them, ``left_out_lanes`` the others but the reference, with why (the
        reason repeats it). The statistics (``n_ratios`` of them) are empty when a replicate is censored;
        the reason then says which.
    """
    out = [_summary_row(str(marker), g) for marker, g in enrichment.groupby("marker", sort=False)]
    table = pd.DataFrame.from_records(out, columns=[c for c in SUMMARY_COLUMNS if c != "label"])
    table.insert(0, "label", np.arange(1, len(table) + 1))
    return table.astype(SUMMARY_COLUMNS)


def pooled_lanes_line(summary: pd.DataFrame) -> str:
    """One line naming the EV lanes pooled as replicates and those left out, with why (for the printed verdict).

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`panel_summary`.

    Returns
    -------
    str
        ``"EV lanes pooled as replicates: exo1, exo2; left out: lysate2 (its name says 'lysate')"``, one such
        part per marker when markers differ in their lanes.
    """
    parts: list[str] = []
    for (pooled, left_out), rows in summary.groupby(["ev_lanes", "left_out_lanes"], sort=False):
        which = "" if len(parts) == 0 and rows.shape[0] == summary.shape[0] else f" ({', '.join(rows['marker'])})"
        text = f"EV lanes pooled as replicates{which}: {pooled or 'none'}"
        parts.append(text + (f"; left out: {left_out}" if left_out else ""))
    return "; ".join(parts)


def misev_verdict(summary: pd.DataFrame) -> tuple[bool, list[str]]:
    """Overall MISEV panel verdict: CD9+, CD63+, calnexin- (and calnexin+ in lysate).

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`panel_summary`.

    Returns
    -------
    (bool, list of str)
        Whether the panel passes, and one reason per checked marker (missing
        markers are reasons to fail).
    """
    reasons = []
    ok = True
    for marker in MISEV_PANEL:
        rows = [r for r in summary.itertuples() if str(r.marker).strip().casefold() == marker.casefold()]
        if not rows:
            ok = False
            reasons.append(f"{marker} missing from the panel")
        for row in rows:  # one per marker from enrichment_table; every row counts if a caller made several
            ok &= row.verdict == "pass"
            reasons.append(f"{row.verdict.upper()}: {row.reason}")
    return bool(ok), reasons
