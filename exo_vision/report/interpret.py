"""What the report concludes from the evidence: MISEV marker calls, the panel verdict, the calnexin bound.

Rendering (:mod:`exo_vision.report.html`) only formats these decisions.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from exo_vision.blot.panel import MISEV_PANEL, misev_verdict
from exo_vision.report.collect import BlotEvidence


def marker_calls(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(marker, call) per marker: ``"+"`` present in every EV lane, ``"−"`` in none, ``"±"`` in some, and
    ``"?"`` for a marker expected absent that no EV lane shows but whose absence the blot cannot establish
    (not detected in the reference lane either, or an upper bound at or above the reference's level: its
    verdict fails although no EV lane shows it).

    Markers of the MISEV panel come first in panel order, then the others as listed.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``panel_summary.csv`` (``marker``, ``n_ev_lanes``, ``n_ev_present``; ``expected_in_ev`` and
        ``verdict`` when present).
    """
    rows = list(summary.itertuples(index=False))
    order = {m.lower(): i for i, m in enumerate(MISEV_PANEL)}
    rows.sort(key=lambda r: order.get(str(r.marker).lower(), len(order)))
    calls = []
    for r in rows:
        n, k = int(r.n_ev_lanes), int(r.n_ev_present)
        call = "+" if n and k == n else ("\u2212" if k == 0 else "\u00b1")
        unproven = getattr(r, "expected_in_ev", "") == "absent" and getattr(r, "verdict", "pass") == "fail"
        if k == 0 and unproven:
            call = "?"
        calls.append((str(r.marker), call))
    return calls


def verdict_text(summary: pd.DataFrame) -> str:
    """Compact panel verdict such as ``"CD9+ CD63+ calnexin−"``.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``panel_summary.csv``.
    """
    return " ".join(f"{m}{c}" for m, c in marker_calls(summary))


def calnexin_bound(panel: pd.DataFrame) -> tuple[float, list[str]] | None:
    """Largest calnexin EV/lysate upper bound over the EV lanes where it was not detected.

    Parameters
    ----------
    panel : pandas.DataFrame
        ``panel.csv`` (``marker``, ``lane_name``, ``is_reference``, ``present``, ``ratio_upper_bound``).

    Returns
    -------
    (float, list of str) or None
        The bound as a fraction of the reference-lane signal and the EV lanes
        it covers; None when calnexin is not in the panel or was detected in
        every EV lane.
    """
    rows = panel.loc[
        (panel["marker"].astype(str).str.lower() == "calnexin")
        & ~panel["is_reference"].astype(bool)
        & ~panel["present"].astype(bool)
        & panel["ratio_upper_bound"].notna()
    ]
    if rows.empty:
        return None
    return float(rows["ratio_upper_bound"].max()), [str(v) for v in rows["lane_name"]]


#: What every statement of a panel verdict adds when the panel was measured on an export (CLI, panel.png, dock).
INDICATIVE = "indicative only: an 8-bit or rescaled export"


def panel_caveat(blot: BlotEvidence) -> str:
    """:data:`INDICATIVE` when the blot panel was measured on an export (8-bit, or grey levels in steps), else "".

    Read from the run's verdict (``panel_verdict.caveats`` in run.json) or, for a run that recorded none, from
    the ``caveat`` column of ``panel.csv``.
    """
    verdict = blot.run.get("panel_verdict")
    if isinstance(verdict, Mapping) and verdict.get("caveats"):
        return INDICATIVE
    panel = blot.panel
    if (
        panel is not None
        and "caveat" in panel.columns
        and panel["caveat"].dropna().astype(str).str.strip().ne("").any()
    ):
        return INDICATIVE
    return ""


def panel_pass(blot: BlotEvidence) -> bool:
    """Whether the blot panel passes the MISEV check: the run's own verdict, else one computed from its summary."""
    verdict = blot.run.get("panel_verdict")
    if isinstance(verdict, Mapping) and "pass" in verdict:
        return bool(verdict["pass"])
    ok, _ = misev_verdict(blot.panel_summary)
    return bool(ok)
