"""EV/lysate enrichment per marker and the MISEV panel verdict.

Per marker and lane the band volume is divided by the µg loaded (when given)
and by the same quantity in the reference (lysate) lane: the EV/lysate ratio.
Replicate EV lanes give a mean, SD, CV and a t-based 95 % confidence interval
(n >= 2). An absent band gets an upper bound instead: its LoD in place of the
volume, reported as a sentence such as
"calnexin not detected in exo1: < LoD = 1.2e+04, i.e. < 0.8% of the lysate signal per µg loaded".

MISEV verdict: the EV markers CD9 and CD63 must be present in every EV lane
and calnexin (endoplasmic reticulum) absent from every EV lane while present
in the lysate (otherwise its absence proves nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: Markers expected present in EV lanes (lower-case names).
EV_POSITIVE = ("cd9", "cd63", "cd81", "tsg101", "alix", "syntenin")
#: Markers expected absent from EV lanes (lower-case names).
EV_NEGATIVE = ("calnexin", "canx", "gm130", "cytochrome c")
#: The minimal MISEV panel checked by :func:`misev_verdict`.
MISEV_PANEL = ("CD9", "CD63", "calnexin")

ENRICHMENT_COLUMNS: dict[str, str] = {
    "label": "int64",
    "marker": "object",
    "lane_name": "object",
    "is_reference": "bool",
    "ug_loaded": "float64",
    "volume": "float64",
    "lod_volume": "float64",
    "present": "bool",
    "saturated": "bool",
    "volume_per_ug": "float64",
    "ratio_to_reference": "float64",
    "ratio_upper_bound": "float64",
    "statement": "object",
}

SUMMARY_COLUMNS: dict[str, str] = {
    "label": "int64",
    "marker": "object",
    "expected_in_ev": "object",
    "n_ev_lanes": "int64",
    "n_ev_present": "int64",
    "present_in_reference": "bool",
    "ratio_mean": "float64",
    "ratio_sd": "float64",
    "ratio_cv": "float64",
    "ratio_ci95_low": "float64",
    "ratio_ci95_high": "float64",
    "verdict": "object",
    "reason": "object",
}

#: Default two-sided confidence level of the replicate ratios' interval.
DEFAULT_CONFIDENCE = 0.95


def expected_in_ev(marker: str) -> str:
    """``"present"``, ``"absent"`` or ``"unknown"`` for a marker name (case-insensitive)."""
    name = marker.strip().lower()
    if name in EV_POSITIVE:
        return "present"
    if name in EV_NEGATIVE:
        return "absent"
    return "unknown"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def enrichment_table(
    bands: pd.DataFrame, *, reference_lane: str, ug_loaded: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """EV/reference ratio per marker and lane.

    Parameters
    ----------
    bands : pandas.DataFrame
        Band table(s) from :func:`exo_vision.blot.quantify.quantify_blot`;
        rows with an empty ``marker`` are ignored. Needs columns ``marker,
        lane_name, volume, lod_volume, present, saturated``; one row per
        marker and lane name.
    reference_lane : str
        Name of the lysate lane.
    ug_loaded : mapping of str to float, optional
        µg of protein loaded per lane name (all lanes, or none).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`ENRICHMENT_COLUMNS`; ``ratio_to_reference`` is NaN
        for absent bands, which get ``ratio_upper_bound`` and a ``statement``.
    """
    need = {"marker", "lane_name", "volume", "lod_volume", "present", "saturated"}
    missing = need - set(bands.columns)
    if missing:
        raise ValueError(f"band table lacks columns {sorted(missing)}; pass the table from quantify_blot")
    rows = bands[bands["marker"].astype(str) != ""]
    if rows.empty:
        raise ValueError("no band carries a marker name; give markers (e.g. --marker CD9 or a panel file)")
    names = list(dict.fromkeys(rows["lane_name"].astype(str)))
    if reference_lane not in names:
        raise ValueError(f"reference lane {reference_lane!r} is not among the lane names {names}; check --lane-names")
    if ug_loaded is not None:
        absent = [n for n in names if n not in ug_loaded]
        if absent:
            raise ValueError(f"µg loaded missing for lanes {absent}; give one amount per lane name")
        bad = {k: v for k, v in ug_loaded.items() if k in names and not (np.isfinite(v) and v > 0)}
        if bad:
            raise ValueError(f"µg loaded must be positive numbers, got {bad}")
    per_ug_text = " per µg loaded" if ug_loaded is not None else ""
    out = []
    for marker, group in rows.groupby("marker", sort=False):
        dup = group["lane_name"].duplicated()
        if dup.any():
            raise ValueError(
                f"marker {marker!r} has several bands in lane(s) {sorted(set(group['lane_name'][dup]))}; "
                "give each marker once per lane (one strip or image per marker)"
            )
        ref = group[group["lane_name"] == reference_lane]
        if ref.empty:
            raise ValueError(f"marker {marker!r} has no band in the reference lane {reference_lane!r}")
        ref = ref.iloc[0]
        ref_ug = float(ug_loaded[reference_lane]) if ug_loaded is not None else 1.0
        ref_per_ug = float(ref["volume"]) / ref_ug
        for r in group.itertuples():
            ug = float(ug_loaded[r.lane_name]) if ug_loaded is not None else np.nan
            scale = ug if ug_loaded is not None else 1.0
            per_ug = float(r.volume) / scale
            is_ref = r.lane_name == reference_lane
            ratio = np.nan
            upper = np.nan
            statement = ""
            if not bool(ref["present"]):
                statement = f"{marker} not detected in the reference lane {reference_lane}: no ratio"
            elif bool(r.present):
                ratio = per_ug / ref_per_ug
            else:
                upper = (float(r.lod_volume) / scale) / ref_per_ug
                statement = (
                    f"{marker} not detected in {r.lane_name}: < LoD = {_fmt(float(r.lod_volume))}, "
                    f"i.e. < {_fmt(100 * upper)}% of the {reference_lane} signal{per_ug_text}"
                )
            out.append(
                dict(
                    marker=str(marker),
                    lane_name=str(r.lane_name),
                    is_reference=is_ref,
                    ug_loaded=ug,
                    volume=float(r.volume),
                    lod_volume=float(r.lod_volume),
                    present=bool(r.present),
                    saturated=bool(r.saturated),
                    volume_per_ug=per_ug if ug_loaded is not None else np.nan,
                    ratio_to_reference=ratio,
                    ratio_upper_bound=upper,
                    statement=statement,
                )
            )
    table = pd.DataFrame.from_records(out)
    table.insert(0, "label", np.arange(1, len(table) + 1))
    return table[list(ENRICHMENT_COLUMNS)].astype(ENRICHMENT_COLUMNS)


def replicate_stats(values: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, float]:
    """Mean, SD, CV and t-based confidence interval of replicate ratios.

    Parameters
    ----------
    values : sequence of float
        Replicate values (NaN ignored).
    confidence : float
        Confidence level of the interval.

    Returns
    -------
    dict
        ``n, mean, sd, cv, ci_low, ci_high`` (SD/CV/CI are NaN when n < 2).
    """
    from scipy import stats

    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    n = int(v.size)
    if n == 0:
        return dict(n=0, mean=np.nan, sd=np.nan, cv=np.nan, ci_low=np.nan, ci_high=np.nan)
    mean = float(v.mean())
    if n < 2:
        return dict(n=1, mean=mean, sd=np.nan, cv=np.nan, ci_low=np.nan, ci_high=np.nan)
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / np.sqrt(n)
    return dict(n=n, mean=mean, sd=sd, cv=sd / mean if mean != 0 else np.nan, ci_low=mean - half, ci_high=mean + half)


def panel_summary(enrichment: pd.DataFrame) -> pd.DataFrame:
    """Per-marker replicate statistics and verdict.

    Parameters
    ----------
    enrichment : pandas.DataFrame
        Output of :func:`enrichment_table`.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`SUMMARY_COLUMNS`, one row per marker.
    """
    out = []
    for marker, g in enrichment.groupby("marker", sort=False):
        ev = g[~g["is_reference"]]
        ref_present = bool(g.loc[g["is_reference"], "present"].any())
        st = replicate_stats(ev["ratio_to_reference"].tolist())
        expect = expected_in_ev(str(marker))
        n_present = int(ev["present"].sum())
        absent_lanes = ev.loc[~ev["present"], "lane_name"].tolist()
        present_lanes = ev.loc[ev["present"], "lane_name"].tolist()
        if expect == "present":
            ok = n_present == len(ev) and len(ev) > 0
            reason = (
                f"{marker} present in all {len(ev)} EV lanes"
                if ok
                else f"{marker} not detected in EV lane(s) {', '.join(absent_lanes)}"
            )
        elif expect == "absent":
            ok = n_present == 0 and ref_present
            if not ref_present:
                reason = (
                    f"{marker} not detected in the reference lane either, so its absence from EV lanes proves nothing"
                )
            elif present_lanes:
                reason = f"{marker} detected in EV lane(s) {', '.join(present_lanes)}: cellular contamination"
            else:
                reason = f"{marker} absent from all {len(ev)} EV lanes and present in the reference lane"
        else:
            ok, reason = True, f"{marker} is not part of the MISEV panel check"
        if g["saturated"].any():
            reason += "; WARNING: saturated band(s), ratios unreliable"
        out.append(
            dict(
                marker=str(marker),
                expected_in_ev=expect,
                n_ev_lanes=int(len(ev)),
                n_ev_present=n_present,
                present_in_reference=ref_present,
                ratio_mean=st["mean"],
                ratio_sd=st["sd"],
                ratio_cv=st["cv"],
                ratio_ci95_low=st["ci_low"],
                ratio_ci95_high=st["ci_high"],
                verdict="pass" if ok else "fail",
                reason=reason,
            )
        )
    table = pd.DataFrame.from_records(out, columns=[c for c in SUMMARY_COLUMNS if c != "label"])
    table.insert(0, "label", np.arange(1, len(table) + 1))
    return table.astype(SUMMARY_COLUMNS)


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
    names = {str(m).lower(): row for m, row in zip(summary["marker"], summary.itertuples())}
    for marker in MISEV_PANEL:
        row = names.get(marker.lower())
        if row is None:
            ok = False
            reasons.append(f"{marker} missing from the panel")
            continue
        ok &= row.verdict == "pass"
        reasons.append(f"{row.verdict.upper()}: {row.reason}")
    return bool(ok), reasons
