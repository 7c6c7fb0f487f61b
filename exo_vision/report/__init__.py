"""The MISEV characterization report: one self-contained HTML page per EV preparation.

* :mod:`~exo_vision.report.collect`     reads ``exo-vision tem`` / ``exo-vision blot`` output folders;
* :mod:`~exo_vision.report.table_copies` leaves copies of one micrograph out of pooled vesicle tables;
* :mod:`~exo_vision.report.instruments` parses values typed in from DLS, zeta and protein assays;
* :mod:`~exo_vision.report.embed`       downscales and embeds pictures as ``data:`` URIs;
* :mod:`~exo_vision.report.interpret`   decides the MISEV marker calls, panel verdict and calnexin bound;
* :mod:`~exo_vision.report.html`        renders the page.

:func:`build_report` ties them together (it is what ``exo-vision report`` calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from exo_vision.report.collect import BlotEvidence, TemEvidence, check_distinct_blots, collect_blot, collect_tem
from exo_vision.report.html import InstrumentValues, ReportInputs, render_report
from exo_vision.report.instruments import parse_instrument_values
from exo_vision.report.interpret import calnexin_bound, marker_calls, verdict_text

__all__ = [
    "BlotEvidence",
    "InstrumentValues",
    "ReportInputs",
    "TemEvidence",
    "build_report",
    "calnexin_bound",
    "collect_blot",
    "collect_tem",
    "marker_calls",
    "parse_instrument_values",
    "render_report",
    "verdict_text",
]


def build_report(
    *,
    tem_dirs: Sequence[str | Path] = (),
    blot_dir: str | Path | Sequence[str | Path] | None = None,
    dls: str | None = None,
    zeta: str | None = None,
    protein: str | None = None,
    title: str = "EV characterization report",
    created_utc: str | None = None,
) -> str:
    """Read the output folders, parse the instrument values and render the report.

    Parameters
    ----------
    tem_dirs : sequence of str or Path
        ``exo-vision tem`` output folders, one per grid (may be empty).
    blot_dir : str or Path, or a sequence of them, optional
        ``exo-vision blot`` output folder, or several (replicate blots, one run each): each gets its own
        section, verdict and provenance, in the order given.
    dls, zeta, protein : str, optional
        ``key=value`` text as on the command line (see
        :func:`~exo_vision.report.instruments.parse_instrument_values`).
    title : str
        Page title.
    created_utc : str, optional
        Timestamp to print (now by default; fix it for reproducible pages).

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    ValueError
        For a folder that is not an exo-vision output of the right kind, for two blot runs of the same image, for
        malformed instrument values, or when neither TEM nor blot folders are given.
    """
    blot_dirs = [] if blot_dir is None else [blot_dir] if isinstance(blot_dir, str | Path) else list(blot_dir)
    if not tem_dirs and not blot_dirs:
        raise ValueError("nothing to report: give at least one --tem DIR or a --blot DIR")
    seen: dict[Path, str] = {}
    for folder in blot_dirs:
        key = Path(folder).resolve()
        if key in seen:
            raise ValueError(
                f"--blot {folder}: given twice ({seen[key]} and {folder}); give each blot run's folder once"
            )
        seen[key] = str(folder)
    instruments = InstrumentValues(
        dls=parse_instrument_values(dls, kind="dls") if dls is not None else None,
        zeta=parse_instrument_values(zeta, kind="zeta") if zeta is not None else None,
        protein=parse_instrument_values(protein, kind="protein") if protein is not None else None,
    )
    tem = collect_tem(tem_dirs) if tem_dirs else None
    blots = [collect_blot(folder) for folder in blot_dirs]
    check_distinct_blots(blots)
    inputs = ReportInputs(
        tem=tem,
        blot=blots[0] if blots else None,
        instruments=instruments,
        title=title,
        created_utc=created_utc,
        more_blots=blots[1:],
    )
    return render_report(inputs, blot_missing_reason=None if blots else "No --blot folder was given.")
