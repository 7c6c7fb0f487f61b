"""Render the MISEV characterization report as one self-contained HTML page.

Everything is inside the page: inline CSS, pictures as ``data:`` URIs, system
fonts, no script. It opens in a browser with no network access and prints on
A4. Every key number is wrapped as
``<span class="num" data-key="tem.mean_diameter_nm" data-value="80.03...">80.0</span>``
so that tests and scripts can read the exact value behind the rounded text.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exo_vision import __version__
from exo_vision._shared.atomic import sha256_file
from exo_vision.blot.panel import (
    LOWER_BOUND,
    MAX_NEGATIVE_UPPER_BOUND,
    MEASURED,
    MISEV_PANEL,
    UNDETERMINED,
    UPPER_BOUND,
    ratio_as_read,
    ratio_censoring,
)
from exo_vision.figures.histogram import size_histogram_figure
from exo_vision.figures.overlay import NOT_COUNTED_RGB, OTHER_RGB, overlay_scale_bar_box
from exo_vision.figures.provenance import provenance_caption
from exo_vision.figures.style import MORPHOLOGY_RGB, figure_width_mm
from exo_vision.measure.size_stats import (
    MIN_N_FOR_INTERVAL,
    MORPHOLOGIES,
    Weighting,
    too_few_for_interval,
    z_average_equivalent_diameter,
)
from exo_vision.measure.tables import truth_values
from exo_vision.report.collect import (
    BlotEvidence,
    TemEvidence,
    only_copies_counted_under,
    pooled_coarse_outline_note,
    pooled_histogram_provenance,
)
from exo_vision.report.embed import (
    WIDE_FIELD_MAX_PX,
    choose_close_up,
    close_up_rgb,
    close_up_scale_bar_nm,
    figure_data_uri,
    mark_box,
    read_rgb,
    rgb_data_uri,
)
from exo_vision.report.instruments import FIELDS
from exo_vision.report.interpret import calnexin_bound, panel_caveat, panel_pass, verdict_text
from exo_vision.report.models import FineTunedModel, fine_tuned_models
from exo_vision.session.grid import SESSION_FILE
from exo_vision.tem_analysis import cut_where

#: Why a DLS Z-average and a TEM diameter differ, in one line.
DLS_TEM_EXPLANATION = (
    "DLS reports an intensity-weighted hydrodynamic diameter of hydrated vesicles in suspension: scattering grows "
    "as d\u2076, so a few large particles dominate, and the hydration shell adds size. Negative-stain TEM measures "
    "dried, often flattened vesicles one by one. The Z-average is the intensity-weighted harmonic mean (ISO 22412), "
    "so compare it with the TEM diameters' \u03a3d\u2076/\u03a3d\u2075, not with the number mean; with few "
    "vesicles that TEM figure rests on the largest ones and is itself uncertain."
)

CSS = """
:root { --ink:#1b1f24; --muted:#5b6470; --line:#d8dde3; --bg:#f6f8fa; --ok:#1a7f37; --bad:#c62828; --warn:#9a6700; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p { margin: 6px 0; }
.sub { color: var(--muted); margin-bottom: 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 14px 0 4px; }
.card { flex: 1 1 150px; background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .k { color: var(--muted); font-size: 12.5px; text-transform: uppercase; letter-spacing: .03em; }
.card .v { font-size: 21px; font-weight: 600; margin-top: 2px; }
.card.wide { flex: 2 1 260px; }
.card .v small { font-size: 13px; font-weight: 400; color: var(--muted); }
.card .v small.line { display: block; line-height: 1.3; margin-top: 3px; }
.card .v small.warn { color: var(--warn); }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: "DejaVu Sans Mono", "Liberation Mono", Consolas, monospace; font-size: 12.5px;
        overflow-wrap: anywhere; }
.pass { color: var(--ok); font-weight: 700; }
.fail { color: var(--bad); font-weight: 700; }
.warn { color: var(--warn); }
.badge { display: inline-block; padding: 3px 12px; border-radius: 14px; font-weight: 700; color: #fff; }
.badge.pass { background: var(--ok); color: #fff; } .badge.fail { background: var(--bad); color: #fff; }
.missing { border: 2px dashed #b9c0c8; border-radius: 8px; padding: 12px 16px; color: var(--muted);
           background: #fbfbfc; }
.missing b { color: var(--ink); }
.note { color: var(--muted); font-size: 13px; }
.figs { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; max-width: 560px; }
.bar { display: inline-block; height: 10px; border-radius: 2px; vertical-align: middle; margin-right: 6px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; vertical-align: -1px;
          margin: 0 3px 0 8px; }
details { margin: 6px 0; } summary { cursor: pointer; color: var(--muted); }
@media print { main { padding: 0; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
"""


@dataclass
class InstrumentValues:
    """Values typed in from other instruments (each None when not given).

    Attributes
    ----------
    dls, zeta, protein : dict or None
        Outputs of :func:`exo_vision.report.instruments.parse_instrument_values`.
    """

    dls: dict[str, Any] | None = None
    zeta: dict[str, Any] | None = None
    protein: dict[str, Any] | None = None


@dataclass
class ReportInputs:
    """What the report is built from.

    Attributes
    ----------
    tem : TemEvidence or None
        TEM evidence; None when no ``--tem`` folder was given.
    blot : BlotEvidence or None
        Blot evidence; None when no ``--blot`` folder was given. With several ``--blot`` folders, the first.
    instruments : InstrumentValues
        Values from other instruments.
    title : str
        Page title (the preparation's name).
    created_utc : str, optional
        Timestamp printed on the page; now by default.
    more_blots : list of BlotEvidence
        The blots of the second and later ``--blot`` folders (replicate membranes): each gets a section, a
        summary card and a provenance part of its own, after the first's.
    """

    tem: TemEvidence | None
    blot: BlotEvidence | None
    instruments: InstrumentValues = field(default_factory=InstrumentValues)
    title: str = "EV characterization report"
    created_utc: str | None = None
    more_blots: list[BlotEvidence] = field(default_factory=list)

    @property
    def blots(self) -> list[BlotEvidence]:
        """Every blot given, in the order of the ``--blot`` options."""
        return ([self.blot] if self.blot is not None else []) + list(self.more_blots)


# ---------------------------------------------------------------- formatting


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}f}" if _finite(value) else "n/a"


def num(key: str, value: Any, digits: int = 1, *, unit: str = "", percent: bool = False) -> str:
    """A number as HTML carrying its exact value in ``data-value`` (``data-key`` names it).

    Parameters
    ----------
    key : str
        Stable name, e.g. ``"tem.mean_diameter_nm"``.
    value : int or float
        The exact value (fractions when ``percent``).
    digits : int
        Decimals shown.
    unit : str
        Unit appended to the text (e.g. ``" nm"``).
    percent : bool
        Show ``100 * value`` followed by ``%``.
    """
    shown = _fmt(100 * float(value), digits) + " %" if percent and _finite(value) else _fmt(value, digits)
    if shown != "n/a":
        shown += unit
    exact = repr(float(value)) if _finite(value) and not isinstance(value, (int, np.integer)) else str(value)
    return f'<span class="num" data-key="{_e(key)}" data-value="{_e(exact)}">{_e(shown)}</span>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> str:
    """HTML table from already-escaped cells; columns in ``right`` are right-aligned."""
    head = "".join(f'<th class="r">{h}</th>' if i in right else f"<th>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="r">{c}</td>' if i in right else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _missing(what: str, why: str, how: str) -> str:
    return f'<div class="missing"><b>{_e(what)}: not provided.</b> {_e(why)} {_e(how)}</div>'


def _card(key: str, value: str, *, wide: bool = False) -> str:
    css = "card wide" if wide else "card"
    return f'<div class="{css}"><div class="k">{_e(key)}</div><div class="v">{value}</div></div>'


# ---------------------------------------------------------------- sections


def _header(inputs: ReportInputs) -> str:
    created = inputs.created_utc or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    cards = []
    tem = inputs.tem
    if tem is not None:
        s = tem.statistics
        grids_images = f"{num('tem.n_grids', len(tem.grids))} / {num('tem.n_images', tem.n_images)}"
        cards.append(_card("Grids / images", grids_images))
        copies = len(tem.copies)
        cards.append(
            _card(
                "Vesicles counted",
                num("tem.n", s["n"])
                + (
                    f' <small class="line">each micrograph once ({copies} copied input(s) left out)</small>'
                    if copies
                    else ""
                )
                + _split_pairs_words(tem, card=True),
            )
        )
        cards.append(
            _card(
                "TEM diameter (mean ± SD)",
                f"{num('tem.mean_diameter_nm', s['mean_diameter_nm'])} ± "
                f"{num('tem.sd_diameter_nm', s['sd_diameter_nm'])} <small>nm</small>",
            )
        )
        # The card beside the DLS Z-average is what DLS would report for these diameters: the cumulant
        # Z-average (ISO 22412; Koppel 1972, J. Chem. Phys. 57, 4814) is the intensity-weighted harmonic mean,
        # 1/Z = sum(I_i / d_i) / sum(I_i); for Rayleigh scatterers I ∝ d**6, so Z = Σd⁶/Σd⁵
        # (z_average_equivalent_diameter), not the intensity-weighted arithmetic mean Σd⁷/Σd⁶ (in the table).
        cards.append(
            _card(
                "TEM Z-average equivalent (Σd⁶/Σd⁵)",
                num("tem.z_average_equivalent_nm", z_average_equivalent_diameter(tem.diameters_nm))
                + " <small>nm</small>",
            )
        )
    dls = inputs.instruments.dls
    if dls is not None:
        cards.append(_card("DLS Z-average", f"{num('dls.z_avg_nm', dls['z_avg_nm'])} <small>nm</small>"))
    blots = inputs.blots
    for k, blot in enumerate(blots, start=1):
        if not blot.has_panel:
            continue
        ok = panel_pass(blot)
        caveat = panel_caveat(blot)
        cards.append(
            _card(
                "Marker panel" + (f" (blot {k}: {_e(blot.path.name)})" if len(blots) > 1 else ""),
                f'<span data-key="blot.verdict">{_e(verdict_text(blot.panel_summary))}</span> '
                f'<span class="badge {"pass" if ok else "fail"}" data-key="blot.pass">'
                f"{'PASS' if ok else 'FAIL'}</span>"
                + (f' <small class="warn" data-key="blot.caveat">({_e(caveat)})</small>' if caveat else ""),
                wide=True,
            )
        )
    return (
        f"<h1>{_e(inputs.title)}</h1>"
        f'<p class="sub">Characterization of one extracellular-vesicle preparation in the spirit of MISEV2023 '
        f"(minimal information for studies of extracellular vesicles). Generated {_e(created)} by exo-vision "
        f"{_e(__version__)} from the output folders listed under Provenance.</p>"
        f'<div class="cards">{"".join(cards)}</div>'
    )


def _size_vs_instruments(inputs: ReportInputs) -> str:
    tem, ins = inputs.tem, inputs.instruments
    out = ["<h2>Size and other instruments</h2>"]
    s = tem.statistics if tem is not None else None
    na = '<span class="note">not provided</span>'
    z_equivalent = z_average_equivalent_diameter(tem.diameters_nm) if tem is not None else float("nan")

    def tem_cell(key: str, digits: int = 1, unit: str = " nm") -> str:
        return num(f"tem.{key}", s[key], digits, unit=unit) if s is not None else na

    dls = ins.dls
    rows = [
        [
            "Number-weighted mean ± SD (TEM counts every vesicle once)",
            f"{tem_cell('mean_diameter_nm', unit='')} ± {tem_cell('sd_diameter_nm')}" if s is not None else na,
            "—",
        ],
        [
            "Z-average equivalent (intensity-weighted harmonic mean, \u03a3d\u2076/\u03a3d\u2075) vs DLS Z-average",
            num("tem.z_average_equivalent_nm", z_equivalent, unit=" nm") if s is not None else na,
            (
                num("dls.z_avg_nm", dls["z_avg_nm"], unit=" nm")
                + (f" ± {num('dls.sd_nm', dls['sd_nm'], unit=' nm')}" if "sd_nm" in dls else "")
            )
            if dls
            else na,
        ],
        [
            "Polydispersity index (TEM: (SD/mean)\u00b2 of the number distribution; DLS: cumulant PDI)",
            tem_cell("pdi", 3, unit=""),
            num("dls.pdi", dls["pdi"], 3) if dls and "pdi" in dls else na,
        ],
    ]
    out.append(_table(["Quantity", "TEM (this report)", "DLS (entered by the user)"], rows, right=(1, 2)))
    if dls and s is not None and _finite(z_equivalent):
        ratio = float(dls["z_avg_nm"]) / z_equivalent
        out.append(
            f"<p>DLS Z-average / TEM Z-average equivalent = {num('dls.ratio_to_tem_z_average', ratio, 2)}. "
            f"{_e(DLS_TEM_EXPLANATION)}"
            + (
                f' <span class="warn">The TEM figures include {tem.n_split_pairs_counted} group(s) of touching '
                "vesicles flagged as possibly one vesicle cut in pieces (see Size statistics).</span>"
                if tem is not None and tem.n_split_pairs_counted
                else ""
            )
            + "</p>"
        )
    else:
        out.append(f'<p class="note">{_e(DLS_TEM_EXPLANATION)}</p>')
    if dls and "instrument" in dls:
        out.append(f'<p class="note">DLS instrument: {_e(dls["instrument"])}</p>')
    if not dls:
        out.append(
            _missing("DLS", "No DLS values were entered.", 'Add them with --dls "z_avg_nm=121.3,sd_nm=23.7,pdi=0.21".')
        )

    out.append("<h3>Other measurements of the preparation</h3>")
    other_rows = []
    for kind, data, option in (
        ("zeta", ins.zeta, '--zeta "mean_mv=-23.5,sd_mv=4.1"'),
        ("protein", ins.protein, '--protein "ug_per_ml=850,method=BCA"'),
    ):
        first = FIELDS[kind][0]
        if data is None:
            other_rows.append([_e(first.label), f'<span class="note">not provided (add {_e(option)})</span>'])
            continue
        sd_key = FIELDS[kind][1].key
        text = num(f"{kind}.{first.key}", data[first.key], 1 if kind == "zeta" else 0)
        if sd_key in data:
            text += f" ± {num(f'{kind}.{sd_key}', data[sd_key], 1 if kind == 'zeta' else 0)}"
        extra = [str(data[f.key]) for f in FIELDS[kind] if f.text and f.key in data]
        if extra:
            text += f' <span class="note">({_e(", ".join(extra))})</span>'
        other_rows.append([_e(first.label), text])
    out.append(_table(["Quantity", "Value (entered by the user)"], other_rows))
    return "".join(out)


def _calibration(tem: TemEvidence) -> str:
    images = tem.images.loc[tem.images["status"].isin(["done", "skipped"])]
    out = ["<h2>Calibration</h2>"]
    if images.empty:
        return "".join(out) + '<p class="fail">No image was analysed successfully.</p>'
    rows = []
    for source, group in images.groupby("pixel_size_source", sort=False):
        px = group["pixel_size_nm"].to_numpy(dtype=float)
        lo, hi = float(np.nanmin(px)), float(np.nanmax(px))
        span = f"{lo:.4g}" if lo == hi else f"{lo:.4g} – {hi:.4g}"
        rows.append([_e(source or "unknown"), num(f"calibration.n_images.{source}", len(group)), f"{span} nm/px"])
    out.append(
        "<p>Pixel size of every analysed image and where it came from (<i>user</i>: given on the command line; "
        "<i>scale bar</i>: read from the burnt-in bar; file tags otherwise).</p>"
    )
    out.append(_table(["Pixel size source", "Images", "Pixel size"], rows, right=(1, 2)))
    per_image = [
        [
            _e(r.grid),
            _e(r.image),
            _fmt(r.pixel_size_nm, 4),
            _e(r.pixel_size_source),
            str(int(r.n_vesicles)),
            f'<span class="warn">{_e(r.warnings)}</span>' if r.warnings else "",
        ]
        for r in tem.images.itertuples(index=False)
    ]
    out.append(
        "<details><summary>Per image ("
        + str(len(tem.images))
        + ")</summary>"
        + _table(
            ["Grid", "Image", "nm/px", "Source", "Vesicles outlined (with border)", "Warnings / error"],
            per_image,
            right=(2, 4),
        )
        + "</details>"
    )
    return "".join(out)


#: Images named in the report's sentence on vesicles cut by pixels without a value (the rest as "and N more").
MAX_IMAGES_NAMED = 5
#: What pixels without a value are, in the report's words.
NO_VALUE_WORDS = "pixels without a value (NaN or infinite, as in the padding of an aligned or stitched micrograph)"


def _cut_by_missing_images(tem: TemEvidence) -> pd.DataFrame:
    """The rows of ``tem.images`` whose vesicles pixels without a value cut (a count above 0, or unknown)."""
    if "n_cut_by_missing" not in tem.images.columns:
        return tem.images.iloc[:0]
    counts = pd.to_numeric(tem.images["n_cut_by_missing"], errors="coerce")
    return tem.images.loc[counts.isna() | (counts > 0)]


def _cut_by_missing_words(tem: TemEvidence) -> str:
    """The words that follow "N of them touch the image border" when pixels without a value cut some of the
    vesicles left out: how many (when every table says) and in which images; "" when none did or none were
    left out."""
    cut = _cut_by_missing_images(tem)
    if cut.empty or not int(tem.statistics.get("n_excluded_border") or 0):
        return ""
    several_grids = tem.images["grid"].nunique() > 1
    names = [f"{r.grid}/{r.image}" if several_grids else str(r.image) for r in cut.itertuples(index=False)]
    where = ", ".join(_e(n) for n in names[:MAX_IMAGES_NAMED]) + (
        f" and {len(names) - MAX_IMAGES_NAMED} more" if len(names) > MAX_IMAGES_NAMED else ""
    )
    counts = pd.to_numeric(cut["n_cut_by_missing"], errors="coerce")
    if counts.isna().any():  # a table of a run older than touches_missing: its run's warning says it, not how many
        return f" or {NO_VALUE_WORDS} in {where},"
    return f" or, {num('tem.n_excluded_missing', int(counts.sum()))} of them, {NO_VALUE_WORDS} in {where},"


def _edge_cut_counted(grid: Any) -> int:
    """Vesicles of a grid's vesicles.csv cut by the image edge (``touches_border``)."""
    table = grid.vesicles
    return int(truth_values(table["touches_border"]).sum()) if "touches_border" in table.columns else 0


def _size_limits(tem: TemEvidence) -> tuple[float, float]:
    """The run's size limits ``min_diameter_nm`` and ``max_diameter_nm`` (nm; NaN when not recorded)."""
    parameters = tem.grids[0].run.get("parameters") or {}
    low, high = (parameters.get(key) for key in ("min_diameter_nm", "max_diameter_nm"))
    return (float(low) if _finite(low) else math.nan, float(high) if _finite(high) else math.nan)  # type: ignore[arg-type]


def _rejected_words(tem: TemEvidence) -> str:
    """The sentence naming the candidates the runs rejected before measuring, by reason with counts (size
    limits with their values); "" when none were."""
    if not tem.rejected_by_reason:
        return ""
    low, high = _size_limits(tem)
    parts = []
    for reason, count in tem.rejected_by_reason.items():
        limit = ""
        if "min_diameter_nm" in reason and _finite(low):
            limit = f" ({low:g} nm)"
        elif "max_diameter_nm" in reason and _finite(high):
            limit = f" ({high:g} nm)"
        parts.append(f"{count} {_e(reason)}{limit}")
    total = sum(tem.rejected_by_reason.values())
    return (
        f" Besides, the runs rejected {num('tem.n_rejected', total)} candidate object(s) before measuring, so they "
        f"are in none of the numbers: {'; '.join(parts)}."
    )


def _only_copies_words(under: list[str]) -> str:
    """What a grid holding only copies of micrographs counted in other grids says instead of its numbers."""
    where = " and ".join(f"grid {_e(name)}" for name in under) or "an earlier grid"
    return f"none: it holds only copies of micrographs counted under {where}"


def _sampling(tem: TemEvidence) -> str:
    rows = []
    only_copies = only_copies_counted_under(tem.grids, tem.copies)
    for g in tem.grids:
        pooled = g.summary.loc[g.summary["image"].astype(str) == "pooled"].iloc[-1]
        n_ok = sum(r.get("status") in ("done", "skipped") for r in g.run["images"])
        n_failed = sum(r.get("status") == "failed" for r in g.run["images"])
        if g.name in only_copies:  # its own summary counts the copies, which the pooled numbers leave out
            failed = f'<span class="fail">{n_failed}</span>' if n_failed else "0"
            rows.append([_e(g.name), str(n_ok), failed, _only_copies_words(only_copies[g.name]), "–", "–"])
            continue
        rows.append(
            [
                _e(g.name),
                str(n_ok),
                f'<span class="fail">{n_failed}</span>' if n_failed else "0",
                str(int(pooled["n"])),
                str(_edge_cut_counted(g) if tem.n_edge_cut_counted else int(pooled["n_excluded_border"])),
                _mean_sd(pooled["mean_diameter_nm"], pooled["sd_diameter_nm"]),
            ]
        )
    s = tem.statistics
    if tem.n_edge_cut_counted:  # exo-vision tem --include-border: edge-cut outlines are in the statistics
        border = (
            f"{int(s['n'])} vesicles outlined, all counted: {num('tem.n_edge_cut_counted', tem.n_edge_cut_counted)} "
            "of them are cut by the image edge and are included (<code>exo-vision tem --include-border</code>), "
            f"so their sizes are truncated (they read small); the statistics count {num('tem.n', s['n'])}."
        )
    else:
        border = (
            f"{int(s['n']) + int(s['n_excluded_border'])} vesicles outlined; "
            f"{num('tem.n_excluded_border', s['n_excluded_border'])} of them touch the image border"
            f"{_cut_by_missing_words(tem)} and were excluded from the statistics (their size is truncated), which "
            f"count {num('tem.n', s['n'])}."
        )
    out = [
        "<h2>Grids, images and vesicles</h2>",
        f"<p>{num('tem.n_grids', len(tem.grids))} grid(s) (one <code>--tem</code> folder per grid), "
        f"{num('tem.n_images', tem.n_images)} image(s) analysed, {border}{_rejected_words(tem)}"
        + (
            f" {num('tem.fraction_touching', s['fraction_touching'], percent=True)} of the counted vesicles share "
            "an outline with another vesicle: there the segmenter divided a contact (the overlay PNGs show "
            "where, when the run wrote them).</p>"
            if _finite(s.get("fraction_touching"))
            else "</p>"
        ),
        _table(
            [
                "Grid",
                "Images",
                "Failed",
                "Vesicles counted",
                "Border (counted, truncated)"
                if tem.n_edge_cut_counted
                else "Border (excluded)"
                if _cut_by_missing_images(tem).empty
                else "Border or no value (excluded)",
                "Mean ± SD (nm)",
            ],
            rows,
            right=(1, 2, 3, 4, 5),
        ),
    ]
    out.append(_segmenters_sentence(tem))
    out.append(_curation_sentence(tem))
    out.append(_copies_sentence(tem))
    failed = tem.images.loc[tem.images["status"] == "failed"]
    if len(failed):
        out.append(
            f'<p class="fail">{len(failed)} input(s) failed and are not in the statistics: '
            + ", ".join(_e(v) for v in failed["input"])
            + " (reasons in errors.csv).</p>"
        )
    out.extend(_not_in_run_notes(tem))
    if tem.parameter_conflicts:
        out.append(
            '<p class="warn">The grids were analysed with different '
            + ", ".join(_e(k) for k in tem.parameter_conflicts)
            + "; pooled statistics use the first grid's settings.</p>"
        )
    return "".join(out)


#: Copies of a micrograph named one by one in the report (the rest as "and N more").
MAX_COPIES_NAMED = 8


def _copies_sentence(tem: TemEvidence) -> str:
    """Which inputs are the same micrograph as an earlier one (in an earlier grid or earlier in their run), and
    that each is pooled once; "" when no input is a copy."""
    copies = tem.copies
    if copies.empty:
        return ""
    several_grids = len(tem.grids) > 1

    def name(grid: str, image: str) -> str:
        return f"{image} (grid {grid})" if several_grids else image

    named = [
        f"{_e(name(r.grid, r.image))} = {_e(name(r.counted_grid, r.counted_image))} ({_e(r.same)})"
        for r in copies.itertuples(index=False)
    ]
    shown = "; ".join(named[:MAX_COPIES_NAMED]) + (
        f"; and {len(named) - MAX_COPIES_NAMED} more" if len(named) > MAX_COPIES_NAMED else ""
    )
    across = int((copies["grid"] != copies["counted_grid"]).sum())
    where = f", {across} of them across runs" if across else ""
    return (
        f'<p class="warn">{num("tem.n_copies", len(copies))} input(s) are the same micrograph '
        f"as an input before them{where}: {shown}. Each micrograph is pooled once, as its first input: the "
        f"copies' {num('tem.n_copy_vesicles', int(copies['n_vesicles'].sum()))} outlined vesicles and their area "
        "are left out of every pooled number, histogram and card of this report (their own rows stay in each "
        "run's summary.csv).</p>"
    )


def _segmenter_counts(tem: TemEvidence) -> list[tuple[str, str, int]]:
    """(segmenter, model sha256, images) over the analysed images, most images first."""
    done = tem.images.loc[tem.images["status"].isin(["done", "skipped"])]
    counts = done.groupby(["segmenter", "model_sha256"], sort=False).size().sort_values(ascending=False, kind="stable")
    return [(str(name), str(sha), int(n)) for (name, sha), n in counts.items()]


#: Images named in the note on results a grid's folder holds beyond its last run.
NOT_IN_RUN_NAMED = 5


def _not_in_run_notes(tem: TemEvidence) -> list[str]:
    """A warning per grid whose folder holds results of images its last run did not cover (run.json's
    ``images_not_in_run``): they are in none of the report's figures."""
    notes = []
    for grid in tem.grids:
        earlier = [e for e in grid.run.get("images_not_in_run") or [] if isinstance(e, Mapping)]
        if not earlier:
            continue
        names = [str(e.get("input") or e.get("stem") or "?") for e in earlier]
        shown = ", ".join(_e(n) for n in names[:NOT_IN_RUN_NAMED]) + (", ..." if len(names) > NOT_IN_RUN_NAMED else "")
        notes.append(
            f'<p class="warn">{_e(grid.name)}: the folder also holds results of {len(names)} image(s) that its last '
            f"run did not cover ({shown}); they are not in this report. To include them, run exo-vision tem over "
            "all the images into that folder (--resume keeps the finished ones).</p>"
        )
    return notes


def curation_counts(run: Mapping[str, Any]) -> dict[str, Any]:
    """How the outlines of one run's analysed micrographs were reviewed, from their run.json records.

    A micrograph saved by the napari grid session has ``curated_in_gui`` (its done marker, kept in the record
    by ``exo-vision tem --resume`` and in a session folder), ``n_edits`` (the edits of the Curation dock, listed
    in ``S_edits.csv``) and ``checked_in_gui`` (marked "Outlines checked"); a micrograph analysed by
    ``exo-vision tem`` has none of them: its outlines are the segmentation's own.

    Returns
    -------
    dict
        ``n`` micrographs analysed (failed ones left out); ``edited``: stems of those a person edited, with
        ``n_edits`` their edits in total; ``checked``: stems marked checked without an edit; ``saved``: stems the
        grid session saved with neither; ``automatic``: stems no person reviewed (not from the grid session).
    """
    out: dict[str, Any] = {"n": 0, "edited": [], "n_edits": 0, "checked": [], "saved": [], "automatic": []}
    for record in run.get("images") or []:
        if not isinstance(record, Mapping) or record.get("status") not in ("done", "skipped"):
            continue
        out["n"] += 1
        stem = str(record.get("stem", ""))
        edits = int(record.get("n_edits") or 0)
        if not record.get("curated_in_gui"):
            out["automatic"].append(stem)
        elif edits > 0:
            out["edited"].append(stem)
            out["n_edits"] += edits
        elif record.get("checked_in_gui"):
            out["checked"].append(stem)
        else:
            out["saved"].append(stem)
    return out


def _named(stems: Sequence[str]) -> str:
    shown = ", ".join(_e(s) for s in stems[:MAX_COPIES_NAMED])
    return shown + (f" and {len(stems) - MAX_COPIES_NAMED} more" if len(stems) > MAX_COPIES_NAMED else "")


def _curation_sentence(tem: TemEvidence) -> str:
    """Per grid, whether a person reviewed the outlines: how many micrographs were edited in the napari grid
    session (and how many edits), marked checked, saved from it unchanged, or segmented automatically."""
    parts = []
    for g in tem.grids:
        c = curation_counts(g.run)
        if not c["n"]:
            continue
        where = f"Grid {_e(g.name)}: " if len(tem.grids) > 1 else ""
        if len(c["automatic"]) == c["n"]:
            parts.append(
                f"{where}outlines not reviewed by a person (automatic segmentation; none of its {c['n']} "
                "micrograph(s) was curated in the napari grid session)"
            )
            continue
        words = []
        if c["edited"]:
            words.append(
                f"{len(c['edited'])} of {c['n']} micrograph(s) curated by a person in the napari grid session "
                f"({c['n_edits']} edit(s), listed in its &lt;stem&gt;_edits.csv: {_named(c['edited'])})"
            )
        if c["checked"]:
            words.append(f"{len(c['checked'])} marked as checked without an edit ({_named(c['checked'])})")
        if c["saved"]:
            words.append(
                f"{len(c['saved'])} saved from the grid session without an edit or a check mark ({_named(c['saved'])})"
            )
        if c["automatic"]:
            words.append(
                f"{len(c['automatic'])} segmented automatically, outlines not reviewed by a person "
                f"({_named(c['automatic'])})"
            )
        parts.append(where + "; ".join(words))
    if not parts:
        return ""
    return f"<p>Outline review: {'. '.join(parts)}.</p>"


def _validation_words(scores: Any) -> str:
    """One validation row of a model card (precision, recall, F1, TP/FP/FN) as words, or "" without one."""
    if not isinstance(scores, Mapping):
        return ""
    figures = [f"{key} {float(scores[key]):.3f}" for key in ("precision", "recall", "f1") if _finite(scores.get(key))]
    counts = "/".join(str(scores.get(k, "?")) for k in ("tp", "fp", "fn"))
    return f"{', '.join(figures).replace('f1', 'F1')} (TP/FP/FN {counts})"


def _fine_tuned_model_words(model: FineTunedModel) -> str:
    """A paragraph on one fine-tuned model: what it is, its base, its curated data, partial outlines and its
    validation figures, as its card records them."""
    base = model.base
    text = (
        f"{_e(model.name)} {_e(model.version)} ({model.images} image(s); SHA-256 "
        f'<span class="mono">{_e(model.sha256)}</span>; card <span class="mono">{_e(model.card or "not recorded")}'
        f"</span>) is a fine-tuned model: fine-tuned from {_e(base.get('name', '?'))} {_e(base.get('version', ''))} "
        f'(SHA-256 <span class="mono">{_e(base.get("sha256", "?"))}</span>)'
    )
    if model.training is None:
        return (
            f'<p class="warn">{text}; {_e(model.card_problem)}, so its training data and validation figures are '
            "not shown.</p>"
        )
    data = model.training.get("data") or {}
    n = model.micrographs
    text += (
        f" on {_e(data.get('curated_vesicles', '?'))} curated vesicles of "
        f"{n.get('training', 0) + n.get('validation', 0) + n.get('selection', 0)} micrograph(s) "
        f"({_e(data.get('training_vesicles', '?'))} in {n.get('training', 0)} training micrograph(s), "
        f"{_e(data.get('validation_vesicles', '?'))} in {n.get('validation', 0)} validation micrograph(s)), "
        f"{_e(model.training.get('steps', '?'))} steps, {_e(model.training.get('date_utc', '?'))}"
    )
    partial = model.partial_outlines()
    if partial:
        text += (
            ", on <b>partial outlines</b> (only some vesicles of each micrograph outlined: the validation precision "
            "and F1 below are lower bounds, since vesicles nobody outlined count as false positives)"
        )
    validation = model.validation or {}
    before, after = _validation_words(validation.get("before")), _validation_words(validation.get("after"))
    if after:
        text += (
            f". Validation on {len(validation.get('micrographs') or [])} curated micrograph(s) never used for "
            f"training (IoU &ge; 0.5): the starting model {before or 'not recorded'}; the fine-tuned model {after}"
        )
    else:
        text += ". Its card records no validation figures"
    return f"<p>{text}.</p>"


def _fine_tuned_paragraphs(tem: TemEvidence) -> list[str]:
    """The paragraphs on the fine-tuned models the runs used (none when they used shipped models only)."""
    return [_fine_tuned_model_words(m) for m in fine_tuned_models([g.run for g in tem.grids])]


def _segmenters_sentence(tem: TemEvidence) -> str:
    """Which segmentation method (and model version) outlined the vesicles, with image counts."""
    counts = _segmenter_counts(tem)
    if not counts:
        return ""
    parts = [
        f"{_e(name) if name else 'not recorded (a run.json older than that record)'}: {n} image(s)"
        for name, _, n in counts
    ]
    warn = ' class="warn"' if len(counts) > 1 else ""
    mixed = " The images were outlined by different segmenters, so their sizes may not be comparable." if warn else ""
    tuned = fine_tuned_models([g.run for g in tem.grids])
    bases = "; ".join(
        f"{_e(m.name)} {_e(m.version)} was fine-tuned from {_e(m.base.get('name', '?'))} "
        f"{_e(m.base.get('version', ''))}" + (" on partial outlines" if m.partial_outlines() else "")
        for m in tuned
    )
    tuned_words = f" {bases} (its training data and validation figures under Provenance)." if tuned else ""
    return (
        f"<p{warn}>Segmentation: method {'; method '.join(parts)} (checksums under Provenance).{tuned_words}{mixed}</p>"
    )


def _mean_sd(mean: Any, sd: Any) -> str:
    """``"mean ± SD"`` (one decimal), ``"mean"`` alone for one vesicle, ``"—"`` for none."""
    if not _finite(mean):
        return "—"
    return f"{_fmt(mean)} ± {_fmt(sd)}" if _finite(sd) else _fmt(mean)


def _size_limit_cut_words(tem: TemEvidence) -> str:
    """A warning when the run's size limits cut inside the reported size range (e.g. ``--min-diameter-nm 60``
    inside 30–150 nm): the fraction in that range is then of what the cut left; "" otherwise."""
    s = tem.statistics
    lo, hi = float(s["size_range_low_nm"]), float(s["size_range_high_nm"])
    min_nm, max_nm = _size_limits(tem)
    cuts = []
    if _finite(min_nm) and min_nm > lo:
        cuts.append(f"objects under min_diameter_nm = {min_nm:g} nm")
    if _finite(max_nm) and max_nm < hi:
        cuts.append(f"objects over max_diameter_nm = {max_nm:g} nm")
    if not cuts:
        return ""
    removed = sum(n for reason, n in tem.rejected_by_reason.items() if "_diameter_nm" in reason)
    return (
        f'<p class="warn">The size limits cut inside {lo:g}–{hi:g} nm: {" and ".join(cuts)} were removed before '
        f"the statistics ({removed} object(s) recorded), so the fraction in {lo:g}–{hi:g} nm and every other "
        "number describe what the cut left, not all the particles in the field.</p>"
    )


def _statistics(tem: TemEvidence) -> str:
    s = tem.statistics

    def v(key: str, digits: int = 1, unit: str = "", percent: bool = False) -> str:
        return num(f"tem.{key}", s[key], digits, unit=unit, percent=percent)

    lo, hi = s["size_range_low_nm"], s["size_range_high_nm"]
    min_nm, max_nm = _size_limits(tem)
    n = int(s["n"])
    few = f'<span class="note">{_e(too_few_for_interval(n))}</span>'
    one = '<span class="note">none for one vesicle</span>'
    rows = [
        ["n (vesicles)", v("n")],
        ["Mean ± SD", f"{v('mean_diameter_nm')} ± {v('sd_diameter_nm', unit=' nm')}"],
        [
            "95 % CI of the mean (bootstrap)",
            f"{v('mean_ci95_low_nm')} – {v('mean_ci95_high_nm', unit=' nm')}" if n >= MIN_N_FOR_INTERVAL else few,
        ],
        [
            "Median (95 % CI)",
            f"{v('median_diameter_nm', unit=' nm')} ("
            + (f"{v('median_ci95_low_nm')} – {v('median_ci95_high_nm')}" if n >= MIN_N_FOR_INTERVAL else few)
            + ")",
        ],
        ["Mode (KDE peak)", v("mode_diameter_nm", unit=" nm") if n != 1 else one],
        ["D10 / D50 / D90", f"{v('d10_nm')} / {v('d50_nm')} / {v('d90_nm', unit=' nm')}"],
        ["Span (D90 − D10) / D50", v("span", 2) if n != 1 else one],
        ["CV (SD / mean)", v("cv", 3)],
        ["PDI ((SD / mean)²)", v("pdi", 3)],
        ["Volume-weighted mean (Σd⁴/Σd³)", v("volume_weighted_mean_diameter_nm", unit=" nm")],
        ["Intensity-weighted mean (Σd⁷/Σd⁶)", v("intensity_weighted_mean_diameter_nm", unit=" nm")],
        [
            f'Fraction in {_fmt(lo, 0)}–{_fmt(hi, 0)} nm <span class="note">(of the counted vesicles, after '
            f"the size limits {_fmt(min_nm, 0)}–{_fmt(max_nm, 0)} nm)</span>",
            v("fraction_in_size_range", percent=True),
        ],
        ["Vesicles per µm² of analysed area", v("vesicles_per_um2", 2)],
    ]
    empty = ""
    if int(s["n"]) == 0:
        reasons = sorted({w for g in tem.grids for r in g.run.get("images", []) for w in r.get("warnings") or []})
        said = f" The runs said: {_e(' '.join(reasons))}" if reasons else ""
        empty = f'<p class="fail">No vesicle was counted, so there are no size statistics (n/a below).{said}</p>'
    return (
        "<h2>Size statistics (TEM, equivalent-circle diameter)</h2>"
        + empty
        + _split_pairs_words(tem)
        + _calibration_conflict_words(tem)
        + _coarse_outline_words(tem)
        + _size_limit_cut_words(tem)
        + _table(["Statistic", "Value"], rows, right=(1,))
        + '<p class="note">SD with n − 1; percentiles by linear interpolation; mode = peak of a Gaussian KDE '
        "(Silverman's bandwidth, robust to a long tail); confidence intervals are bootstrap percentile intervals, "
        f"given from {MIN_N_FOR_INTERVAL} vesicles on (below, a percentile interval undercovers: of two vesicles "
        "it is the two values); PDI is the number-based analogue of the DLS polydispersity index.</p>"
    )


#: Groups named one by one in the report's note on groups possibly cut from one vesicle (the rest as "and N more").
MAX_PAIRS_NAMED = 10


def _split_pairs_words(tem: TemEvidence, *, card: bool = False) -> str:
    """How many groups the pooled statistics hold that the runs flagged as possibly one vesicle cut in pieces; on the
    n card a short line, else a paragraph naming them by image and label. "" when they hold none."""
    k = tem.n_split_pairs_counted
    if not k:
        return ""
    if card:
        return (
            f' <small class="line warn">including {num("tem.n_split_pairs", k)} flagged group(s) that may each be '
            "one vesicle cut in pieces</small>"
        )
    counted = tem.split_pairs.loc[tem.split_pairs["counted"].astype(bool)]
    several_grids = len(tem.grids) > 1
    named = [
        f"{_e(f'{r.grid}/{r.image}' if several_grids else r.image)}: {_e(str(r.labels))}"
        for r in counted.itertuples(index=False)
    ]
    shown = "; ".join(named[:MAX_PAIRS_NAMED]) + (
        f"; and {len(named) - MAX_PAIRS_NAMED} more" if len(named) > MAX_PAIRS_NAMED else ""
    )
    distinct = len(
        {(r.grid, r.image, label) for r in counted.itertuples(index=False) for label in str(r.labels).split("+")}
    )
    return (
        f'<p class="warn">The pooled statistics include {k} group(s) of touching vesicles ({distinct} of the '
        f"{int(tem.statistics['n'])} counted) that together form one round, convex outline, flagged by the run as "
        f"possibly one vesicle cut in pieces ({shown}; vesicle labels as in vesicles.csv). Each such group, if it is "
        "one vesicle, counts two or more times at a fraction of its size in n, the mean, the percentiles and the "
        "weighted means (and the Z-average equivalent compared with DLS). The numbers here are as measured: look at "
        "the groups (overlay PNG or napari) and join those that are one vesicle in napari's Curation dock before "
        "publishing.</p>"
    )


def _coarse_outline_words(tem: TemEvidence) -> str:
    """A paragraph saying that some or all pooled images were measured without the outer half membrane (their
    pixels coarser than the limit), with the measured figures; "" when none was."""
    note = pooled_coarse_outline_note(tem)
    return f'<p class="warn">The pooled statistics: {_e(note)}.</p>' if note else ""


def _calibration_conflict_words(tem: TemEvidence) -> str:
    """A paragraph naming the pooled images whose file calibration disagrees with their burnt-in scale bar (both
    values, and the factor their diameters would change by at the bar's); "" when there are none."""
    conflicts = tem.calibration_conflicts
    if not len(conflicts):
        return ""
    several_grids = len(tem.grids) > 1
    named = [
        f"{_e(f'{r.grid}/{r.image}' if several_grids else r.image)} (file {r.file_pixel_size_nm:.4g} nm/px, "
        f"bar {r.bar_pixel_size_nm:.4g} nm/px: at the bar's value its diameters would be "
        f"{r.bar_pixel_size_nm / r.file_pixel_size_nm:.3g} times these)"
        for r in conflicts.itertuples(index=False)
    ]
    return (
        f'<p class="warn">The pooled statistics include {len(conflicts)} image(s) whose file calibration disagrees '
        f"with the scale bar burnt into the image, measured at the file's value: {'; '.join(named)}. If the bar is "
        "right, their diameters are off by that factor, and with them the mean, the percentiles and the weighted "
        "means. Check which is right and rerun those images with --pixel-size-nm (the run's warning names "
        "the bar's value) before publishing.</p>"
    )


def _histograms(tem: TemEvidence) -> str:
    out = ["<h2>Size distribution</h2>"]
    d = tem.diameters_nm
    if d.size == 0:
        return "".join(out) + '<p class="fail">No vesicles to plot.</p>'
    bin_nm = float(tem.grids[0].run["parameters"].get("bin_width_nm") or 10.0)
    edge = (
        f", {tem.n_edge_cut_counted} of them cut by the image edge (--include-border: sizes truncated)"
        if tem.n_edge_cut_counted
        else ""
    )
    figs = []
    weightings: tuple[tuple[Weighting, str, str], ...] = (
        ("number", "Number-weighted", "Each vesicle counts once (what TEM measures)."),
        ("intensity", "Intensity-weighted (d⁶)", "Each vesicle weighted by d⁶, as light scattering (DLS) weights it."),
    )
    # under each figure, as the run's own size_histogram carries it: pixel size, method, size limit, the coarse note
    provenance = provenance_caption(pooled_histogram_provenance(tem), width_mm=figure_width_mm("single"))
    # the same words in the page's text (screen readers, copying), unwrapped: the image holds them only as pixels
    said = provenance.replace("\n", " ").rstrip(".")
    said = f" {_e(said[:1].upper() + said[1:])}." if said else ""
    for weighting, title, caption in weightings:
        fig, _ = size_histogram_figure(
            {"": d},
            bin_width_nm=bin_nm,
            weighting=weighting,
            percent=weighting != "number",
            kde=d.size > 1,
            title=title,
            edge_cut={"": tem.n_edge_cut_counted},
            caption=provenance,
        )
        figs.append(
            f'<figure><img alt="{_e(title)} size histogram" src="{figure_data_uri(fig)}" width="520">'
            f"<figcaption>{_e(caption)} Bin width {bin_nm:g} nm; n = {d.size}{edge}.{said}</figcaption></figure>"
        )
    return "".join(out) + f'<div class="figs">{"".join(figs)}</div>'


def _morphology(tem: TemEvidence) -> str:
    s = tem.statistics
    rows = []
    for m in MORPHOLOGIES:
        frac = s[f"fraction_{m}"]
        width = int(round(200 * float(frac))) if _finite(frac) else 0
        rgb = MORPHOLOGY_RGB.get(m, OTHER_RGB)
        bar = f'<span class="bar" style="width:{width}px;background:rgb{tuple(int(c) for c in rgb)}"></span>'
        rows.append([_e(m), num(f"tem.n_{m}", s[f"n_{m}"]), bar + num(f"tem.fraction_{m}", frac, percent=True)])
    return (
        "<h2>Morphology</h2>"
        + _table(["Class", "Vesicles", "Fraction"], rows, right=(1,))
        + '<p class="note">round: closed, convex outline; cup: the collapsed, cup-shaped form typical of '
        "negative-stained EVs; irregular: neither (aggregates, debris-like or deformed objects).</p>"
    )


def _image_shape(grid, stem: str, overlay_shape: tuple[int, ...]) -> tuple[int, int]:
    """The micrograph's (rows, columns) as run.json records them, else the overlay's."""
    shape = _image_record(grid, stem).get("shape")
    if isinstance(shape, list) and len(shape) >= 2:
        return int(shape[0]), int(shape[1])
    return int(overlay_shape[0]), int(overlay_shape[1])


def _image_record(grid, stem: str) -> dict[str, Any]:
    """The run.json record of image ``stem`` of a grid ({} when it has none)."""
    for record in grid.run.get("images", []):
        if isinstance(record, dict) and record.get("stem") == stem:
            return record
    return {}


def _legend_box(grid, stem: str) -> tuple[int, int, int, int] | None:
    """Where the overlay of ``stem`` holds its legend (overlay pixels), as its run recorded it
    (``overlay_legend_box_px``); None when the legend is below the micrograph or the run is older than that."""
    box = _image_record(grid, stem).get("overlay_legend_box_px")
    if isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) for v in box):
        return box[0], box[1], box[2], box[3]
    return None


def _not_counted_words(tem: TemEvidence, grid, stem: str, table: pd.DataFrame) -> str:
    """The wide-field caption's legend entry of the vesicles outlined but not counted (teal), or "" when the
    image has none or its run counted them."""
    if not (grid.run.get("parameters") or {}).get("exclude_border", True) or "touches_border" not in table.columns:
        return ""
    if not truth_values(table["touches_border"]).any():
        return ""
    cut = _cut_by_missing_images(tem)
    missing = bool(((cut["grid"] == grid.name) & (cut["image"] == stem)).any()) if len(cut) else False
    swatch = f'<span class="swatch" style="background:rgb{tuple(int(c) for c in NOT_COUNTED_RGB)}"></span>'
    return f"{swatch}not counted ({_e(cut_where(missing=missing))})"


def _overlays(tem: TemEvidence) -> str:
    out = ["<h2>Example micrographs</h2>"]
    best = None
    for g in tem.grids:
        for stem, path in g.overlays.items():
            table = g.vesicles
            if "image" in table.columns:
                table = table.loc[table["image"].astype(str) == stem]
            whole = len(table)
            if "touches_border" in table.columns:
                whole = int((~table["touches_border"].astype(bool)).sum())
            if best is None or whole > best[0]:
                best = (whole, g, stem, path, table)
    if best is None:
        if tem.grids and all((g.run.get("parameters") or {}).get("overlay") is False for g in tem.grids):
            return "".join(out) + _missing(
                "Overlays",
                "The TEM run(s) were made with --no-overlay, which writes no <stem>_overlay.png.",
                "Rerun exo-vision tem without --no-overlay to draw them.",
            )
        return "".join(out) + _missing(
            "Overlays", "No <stem>_overlay.png in the TEM folder(s).", "Rerun exo-vision tem to write them."
        )
    _, grid, stem, path, table = best
    rgb = read_rgb(path)
    px = (
        float(table["pixel_size_nm"].iloc[0])
        if len(table) and "pixel_size_nm" in table.columns
        else float(
            tem.images.loc[(tem.images["grid"] == grid.name) & (tem.images["image"] == stem), "pixel_size_nm"].iloc[0]
        )
    )
    m, n = _image_shape(grid, stem, rgb.shape[:2])
    drawn_px = px * n / rgb.shape[1]  # small micrographs' overlays are drawn enlarged by a whole factor
    # the micrograph's rows; those below them are the overlay's legend strip
    drawn_shape = (min(rgb.shape[0], int(round(m * rgb.shape[1] / n))), rgb.shape[1])
    # the close-up keeps clear of the overlay's scale bar: a cut-off copy of it would sit beside its own
    # and of its legend (a cut-off copy of that was no better), where the run recorded it
    avoid = [overlay_scale_bar_box(drawn_shape, drawn_px)]
    if (legend_box := _legend_box(grid, stem)) is not None:
        avoid.append(legend_box)
    close = (
        choose_close_up(table, image_shape=drawn_shape, pixel_size_nm=drawn_px, avoid_px=avoid) if len(table) else None
    )
    wide = mark_box(rgb, close.box_px) if close is not None else rgb
    legend = "".join(
        f'<span class="swatch" style="background:rgb{tuple(int(c) for c in MORPHOLOGY_RGB[k])}"></span>{k}'
        for k in MORPHOLOGIES
    ) + _not_counted_words(tem, grid, stem, table)
    figs = [
        f'<figure><img alt="wide-field overlay of {_e(stem)}" src="{rgb_data_uri(wide, max_px=WIDE_FIELD_MAX_PX)}" '
        f'width="560"><figcaption>Wide field: {_e(grid.name)} / {_e(stem)}, {n} × {m} px at {px:.4g} nm/px '
        f"({n * px / 1000:.2f} × {m * px / 1000:.2f} µm). Outlines by class:{legend}; numbers are vesicle labels "
        "in the CSV." + (" The yellow box marks the close-up." if close is not None else "") + "</figcaption></figure>"
    ]
    if close is not None:
        figs.append(
            f'<figure><img alt="close-up of {_e(stem)}" src="{rgb_data_uri(close_up_rgb(rgb, close))}" width="420">'
            f"<figcaption>Close-up: {close.width_nm:.0f} nm wide field around vesicles "
            f"{', '.join(map(str, close.labels))}; scale bar {close_up_scale_bar_nm(close):g} nm."
            "</figcaption></figure>"
        )
    return "".join(out) + f'<div class="figs">{"".join(figs)}</div>'


#: Longest side (px) of an embedded annotated blot: PNG (line art and numbers stay sharp, JPEG blurred them).
ANNOTATED_BLOT_MAX_PX = 1200
#: Width (CSS px) an annotated blot is shown at at most, and the height a tall one is shown at: its labels,
#: 1/60 of the longer side, are then 9-11 CSS px tall.
ANNOTATED_BLOT_DISPLAY_PX = (560, 640)


def annotated_blot_width_css(shape: tuple[int, int]) -> int:
    """Display width (CSS px) of an annotated blot of ``shape`` (rows, columns): 560 px wide, or 640 px tall.

    Parameters
    ----------
    shape : (int, int)
        The picture's rows and columns.

    Returns
    -------
    int
        ``min(560, round(640 * columns / rows))``.
    """
    rows, cols = shape
    max_width, tall = ANNOTATED_BLOT_DISPLAY_PX
    return int(min(max_width, round(tall * cols / max(rows, 1))))


def _blot_section(blot: BlotEvidence | None, missing_reason: str | None, label: str = "") -> str:
    """The blot section of one ``--blot`` folder; ``label`` ("2 of 3, folder rep2") tells replicate blots apart."""
    out = [f"<h2>Western blot{' ' + _e(label) if label else ''}: MISEV marker panel</h2>"]
    if blot is None:
        return "".join(out) + _missing(
            "Western blot",
            missing_reason or "No blot folder was given.",
            "Add --blot DIR, the --out folder of `exo-vision blot --panel FILE.toml`.",
        )
    summary, panel = blot.panel_summary, blot.panel
    if summary is None or panel is None or not blot.has_panel:
        out.append(
            _missing(
                "Marker panel",
                f"{blot.path} has no panel.csv / panel_summary.csv (the blot run had no marker names, "
                "lane names or reference lane).",
                "Rerun exo-vision blot with --panel FILE.toml (or --marker, --lane-names and --reference-lane).",
            )
        )
    else:
        ok = panel_pass(blot)
        caveat = panel_caveat(blot)
        out.append(
            f'<p><span class="badge {"pass" if ok else "fail"}">{"PASS" if ok else "FAIL"}</span> '
            f'&nbsp;<b data-key="blot.verdict">{_e(verdict_text(summary))}</b> '
            + (f'<b class="warn">({_e(caveat)}: quantify the raw 16-bit image)</b> ' if caveat else "")
            + "&nbsp;(expected for EVs: CD9+ and CD63+ in every EV lane, calnexin− in every EV lane while present "
            "in the cell lysate)</p>"
        )
        indicative = (
            " Indicative only: measured on an 8-bit or rescaled export; quantify the raw 16-bit image."
            if caveat
            else ""
        )
        bound = calnexin_bound(panel)
        calnexin = panel.loc[panel["marker"].astype(str).str.lower() == "calnexin"]
        detected = calnexin.loc[~calnexin["is_reference"].astype(bool) & calnexin["present"].astype(bool), "lane_name"]
        if calnexin.empty:
            out.append(
                '<p class="fail">Calnexin was not probed: the negative marker of the MISEV panel is missing, '
                "so cellular (endoplasmic-reticulum) contamination is not assessed.</p>"
            )
        elif len(detected):
            out.append(
                f'<p class="fail">Calnexin was detected in {_e(", ".join(map(str, detected)))}: the '
                f"preparation carries cellular (endoplasmic-reticulum) material.{indicative}</p>"
            )
        elif not calnexin.loc[calnexin["is_reference"].astype(bool), "present"].astype(bool).any():
            out.append(
                '<p class="fail">Calnexin was probed but not detected even in the lysate (reference) lane: '
                "inconclusive. The control of the negative marker failed (antibody, transfer or too little lysate), "
                "so its absence from the EV lanes proves nothing about cellular contamination.</p>"
            )
        out.extend(_unprobed_markers(summary))
        if bound is not None:
            value, lanes = bound
            per_ug = " per µg loaded" if panel["ug_loaded"].notna().any() else ""
            shown = num("blot.calnexin_upper_bound", value, 2, percent=True)
            if value > MAX_NEGATIVE_UPPER_BOUND:
                out.append(
                    f'<p class="fail">Calnexin was not detected in {_e(", ".join(lanes))}, but that proves no '
                    f"depletion: the limit of detection allows up to {shown} of the lysate signal{per_ug} there "
                    f"(95 % upper bound; inconclusive: an absence call needs at most "
                    f"{100 * MAX_NEGATIVE_UPPER_BOUND:g} %, a {1 / MAX_NEGATIVE_UPPER_BOUND:g}-fold depletion). Load "
                    f"more protein, or expose longer, until the lysate band lies well above the LoD.{indicative}</p>"
                )
            else:
                out.append(
                    f"<p>Calnexin was not detected in {_e(', '.join(lanes))}: its signal there is below {shown} of "
                    f"the lysate signal{per_ug} (95 % upper bound: a band that strong is detected 95 % of the time; "
                    f"it is the limit of detection, LoD = mean blank + 3.3 SD blank, plus 1.645 SD blank).{indicative}"
                    "</p>"
                )
        out.append(_summary_table(summary))
        lane_rows = []
        clipped_reference = set(
            panel.loc[panel["is_reference"].astype(bool) & panel["saturated"].astype(bool), "marker"].astype(str)
        )
        read = ratio_as_read(panel) if {"volume", "ug_loaded"} <= set(panel.columns) else None
        for k, r in zip(panel.index, panel.itertuples(index=False), strict=True):
            ratio = _lane_ratio(r, clipped_reference, float(read[k]) if read is not None else math.nan)
            lane_rows.append(
                [
                    _e(r.marker),
                    _e(r.lane_name),
                    f"{float(r.volume):.3g}" if _finite(r.volume) else "not measured",
                    f"{float(r.lod_volume):.3g}" if _finite(r.lod_volume) else "—",
                    "yes" if bool(r.present) else "no",
                    '<span class="fail">yes</span>' if bool(r.saturated) else "no",
                    ratio,
                ]
            )
        out.append(
            "<details><summary>Per lane ("
            + str(len(panel))
            + " rows of panel.csv)</summary>"
            + _table(
                [
                    "Marker",
                    "Lane",
                    "Volume (grey level × px)",
                    "LoD (grey level × px)",
                    "Present",
                    "Saturated",
                    "Ratio to lysate",
                ],
                lane_rows,
                right=(2, 3, 6),
            )
            + "</details>"
        )
        out.extend(_saturation_notes(panel))
    figs = []
    if blot.panel_figure is not None:
        chart = rgb_data_uri(read_rgb(blot.panel_figure), max_px=900, fmt="PNG")
        figs.append(
            f'<figure><img alt="marker panel chart" src="{chart}" '
            'width="520"><figcaption>EV/lysate ratio per marker on a log axis: black line with whiskers, the '
            "geometric mean of the replicate EV lanes' ratios and its t-based 95 % CI (whiskers when n ≥ 2); "
            "dots, each EV lane; open downward triangles, the 95 % upper "
            "bound of a lane below the LoD; upward triangles, lower bounds (saturated EV band); filled downward "
            "triangles, upper bounds (saturated lysate band); crosses, undetermined (both saturated); dashed "
            "line, the lysate level (ratio 1).</figcaption></figure>"
        )
    for stem, path in blot.annotated.items():
        picture = read_rgb(path)
        width = annotated_blot_width_css(picture.shape[:2])
        figs.append(
            f'<figure><img alt="annotated blot {_e(stem)}" '
            f'src="{rgb_data_uri(picture, max_px=ANNOTATED_BLOT_MAX_PX, fmt="PNG")}" '
            f'width="{width}"><figcaption>{_e(stem)}: lanes (strip.lane) and numbered bands (numbers = label in '
            f"{_e(stem)}_bands.csv); present bands bluish green, absent grey, saturated vermillion with '*' "
            "after the number; saturated pixels vermillion.</figcaption></figure>"
        )
    if figs:
        out.append(f'<div class="figs">{"".join(figs)}</div>')
    errors = blot.run.get("errors") or []
    if errors:
        items = "".join(
            f"<li>{_e(e.get('input', '?'))}: {_e(e.get('error', ''))}</li>" for e in errors if isinstance(e, Mapping)
        )
        out.append(f'<p class="fail">{len(errors)} blot input(s) failed:</p><ul class="fail">{items}</ul>')
    warnings = blot.run.get("warnings") or {}
    if warnings:
        items = "".join(f"<li>{_e(k)}: {_e('; '.join(map(str, v)))}</li>" for k, v in warnings.items())
        out.append(f'<p class="warn">Warnings of the blot run:</p><ul class="warn">{items}</ul>')
    return "".join(out)


def _blot_code_note(blots: list[BlotEvidence]) -> str:
    """A warning when replicate blot runs were made by different code: their volumes were measured over the lane's
    central columns by runs before the band-width change (no ``measure_band_extent`` in their parameters) and over
    each band's own width since, so their volumes differ by 1.2-2.8 times band by band; other code alone is named
    too (its numbers may differ)."""

    def volumes(blot: BlotEvidence) -> str:
        parameters = (blot.run.get("parameters") or {}).get("blot_parameters") or {}
        return "each band's own width" if parameters.get("measure_band_extent", False) else "the lane's central columns"

    def code(blot: BlotEvidence) -> str:
        return str((blot.run.get("software") or {}).get("exo_vision_code_sha256") or "not recorded")

    ways = {volumes(b) for b in blots}
    codes = {code(b) for b in blots}
    if len(ways) > 1:
        named = "; ".join(f"{_e(b.path.name)}: over {volumes(b)}" for b in blots)
        return (
            f'<p class="warn">These blot runs measured band volumes two ways ({named}): volumes and ratios of the '
            "older runs are not comparable with the newer ones; re-run exo-vision blot on the older folders.</p>"
        )
    if len(codes) > 1:
        named = "; ".join(f"{_e(b.path.name)}: {_e(code(b)[:12])}" for b in blots)
        return (
            f'<p class="warn">These blot runs were made by different exo_vision code (code sha256 {named}); their '
            "numbers may differ for reasons other than the membranes: re-run them with one version to compare.</p>"
        )
    return ""


def _unprobed_markers(summary: pd.DataFrame) -> list[str]:
    """A FAIL paragraph for each EV marker of the MISEV panel (CD9, CD63) the blot's panel did not measure: the
    verdict fails for it, and a badge with two passing rows said nothing of why."""
    probed = {str(m).strip().casefold() for m in summary["marker"]}
    return [
        f'<p class="fail">{_e(marker)} was not probed on this blot: the MISEV panel needs it present in every EV '
        "lane, so the verdict fails. A panel file (exo-vision blot --panel FILE.toml, an image line per marker) "
        "combines markers probed on other membranes or blots into one panel.</p>"
        for marker in MISEV_PANEL
        if marker.casefold() != "calnexin" and marker.casefold() not in probed
    ]


def _lock_state(lock: Mapping[str, Any]) -> str:
    """What run.json's ``environment_lock`` says, in words."""
    if lock.get("locked") is None:
        return (
            "not known: the installation had no lock file to compare with (a wheel install; set "
            "EXO_VISION_LOCK_FILE to the lock file it was installed with)"
        )
    if not lock["locked"]:
        return f"not the locked set ({len(lock.get('differences') or [])} package(s) differ)"
    absent = lock.get("not_installed") or []
    return "the locked set (requirements/lock.txt)" + (
        f"; {len(absent)} locked package(s) of extras not installed" if absent else ""
    )


def _run_environment(run: Mapping[str, Any], label: str) -> list[str]:
    """A run's software versions, whether they were the locked set, and its machine, as recorded in run.json."""
    out = []
    software = run.get("software") or {}
    if software:
        out.append(f"<h3>Software versions ({_e(label)})</h3>")
        out.append(
            '<p class="mono">'
            + " &middot; ".join(f"{_e(k)} {_e(v if v is not None else 'not installed')}" for k, v in software.items())
            + "</p>"
        )
    lock = run.get("environment_lock") or {}
    if isinstance(lock, Mapping) and "locked" in lock:
        out.append(f'<p class="mono">Installed versions ({_e(label)}): {_e(_lock_state(lock))}</p>')
    machine = run.get("machine") or {}
    if machine:
        # the processor's vector features choose onnxruntime's kernels: speed, and the float network's last bits
        features = ", ".join(machine.get("processor_features") or []) or "not recorded"
        cores = machine.get("logical_processors_count", "?")
        described = f"{machine.get('platform', '?')} · {cores} logical processors"
        out.append(
            f'<p class="mono">Machine ({_e(label)}): {_e(described)} &middot; vector features {_e(features)}</p>'
        )
    return out


def _summary_table(summary: pd.DataFrame) -> str:
    """The per-marker table: presence, the ratio's geometric mean with its 95 % CI and n, mean ± SD, verdict."""
    rows = []
    for r in summary.itertuples(index=False):
        n_ratios = getattr(r, "n_ratios", None)
        if _finite(getattr(r, "ratio_geomean", None)):
            ci = f" ({_fmt(r.ratio_ci95_low, 2)}–{_fmt(r.ratio_ci95_high, 2)})" if _finite(r.ratio_ci95_low) else ""
            geometric = f"{_fmt(r.ratio_geomean, 2)}{ci}, n = {int(n_ratios) if n_ratios is not None else '?'}"
        elif "ratio_geomean" not in summary.columns:
            geometric = "not recorded (a blot run older than it: re-run exo-vision blot)"
        else:
            geometric = "—"
        spread = f"{_fmt(r.ratio_mean, 2)} ± {_fmt(r.ratio_sd, 2)}" if _finite(r.ratio_sd) else "—"
        cls = "pass" if str(r.verdict) == "pass" else ("fail" if str(r.verdict) == "fail" else "")
        rows.append(
            [
                _e(r.marker),
                _e(r.expected_in_ev),
                f"{int(r.n_ev_present)} / {int(r.n_ev_lanes)}",
                "yes" if bool(r.present_in_reference) else "no",
                geometric,
                spread,
                f'<span class="{cls}">{_e(r.verdict)}</span>',
                _e(r.reason),
            ]
        )
    header = [
        "Marker",
        "Expected in EVs",
        "EV lanes present",
        "In lysate",
        "EV/lysate ratio: geometric mean (95 % CI), n",
        "Mean ± SD",
        "Verdict",
        "Reason",
    ]
    note = (
        '<p class="note">The 95 % CI is t-based on the logarithms of the replicate ratios (so it stays positive)'
        f"{_interval_width_words(summary)}. Statistics are left empty (—) when a replicate is censored: a band below "
        "the LoD, or a saturated one; the reason says which.</p>"
    )
    return _table(header, rows, right=(2, 4, 5)) + note


def _interval_width_words(summary: pd.DataFrame) -> str:
    """What the number of ratios ``n`` of the table's markers means for their 95 % CI, as a clause that starts
    with "; " (empty when the table records no ``n_ratios``): one ratio gives no interval, two a wide one
    (one degree of freedom), more rest on n − 1 degrees of freedom."""
    if "n_ratios" not in summary.columns or "ratio_geomean" not in summary.columns:
        return ""
    shown = summary[[_finite(g) for g in summary["ratio_geomean"]]]
    counts = sorted({int(n) for n in shown["n_ratios"] if _finite(n) and int(n) > 0})
    words = []
    for n in counts:
        if n == 1:
            words.append("one lane's ratio (n = 1) gives no interval")
        elif n == 2:
            words.append("with two lanes (n = 2) it is wide: one degree of freedom")
        else:
            words.append(f"with n = {n} lanes it rests on {n - 1} degrees of freedom")
    return "".join(f"; {w}" for w in words)


def _lane_ratio(row: Any, clipped_reference: set[str], as_read: float) -> str:
    """A lane's ratio to the lysate as the table shows it: the measured value, ``≥``/``≤`` a bound of a saturated
    band, ``<`` the bound of a band below the LoD, or the quotient as read with "undetermined".

    ``panel.csv`` files written before the bounds had their own columns (no ``ratio_censoring``) gave a
    saturated band's quotient as ``ratio_to_reference``; those are marked from the saturation flags."""
    present = bool(row.present)
    lower, upper = getattr(row, "ratio_lower_bound", math.nan), getattr(row, "ratio_upper_bound", math.nan)
    if _finite(row.ratio_to_reference):
        if not hasattr(row, "ratio_censoring"):
            return _bounded_ratio(row, clipped_reference)
        return _fmt(row.ratio_to_reference, 2)
    if present and _finite(lower):
        return _CENSORED_RATIO[LOWER_BOUND].format(_fmt(lower, 2))
    if present and _finite(upper):
        return _CENSORED_RATIO[UPPER_BOUND].format(_fmt(upper, 2))
    if present and str(getattr(row, "ratio_censoring", "")) == UNDETERMINED and _finite(as_read):
        return _CENSORED_RATIO[UNDETERMINED].format(_fmt(as_read, 2))
    if not present and _finite(upper):
        return f"&lt; {_fmt(upper, 4)}"
    return "—"


def _bounded_ratio(row: Any, clipped_reference: set[str]) -> str:
    """A lane's ratio with its sign of censoring: ≥ for a saturated EV band, ≤ when the reference band is
    saturated (its volume, the divisor, reads low), undetermined when both are."""
    value = _fmt(row.ratio_to_reference, 2)
    if bool(row.is_reference):
        return value
    kind = ratio_censoring(bool(row.saturated), str(row.marker) in clipped_reference)
    return _CENSORED_RATIO[kind].format(value)


#: How a lane's ratio is written for each kind of censoring (:func:`exo_vision.blot.panel.ratio_censoring`).
_CENSORED_RATIO = {
    MEASURED: "{}",
    LOWER_BOUND: "≥ {}",
    UPPER_BOUND: "≤ {}",
    UNDETERMINED: "{}? (both saturated: undetermined)",
}


def _saturation_notes(panel: pd.DataFrame) -> list[str]:
    """What saturated bands mean for the ratios: lower bounds in EV lanes, upper bounds under a clipped reference."""
    saturated = panel.loc[panel["saturated"].astype(bool)]
    notes = []
    reference = saturated.loc[saturated["is_reference"].astype(bool)]
    # under a saturated lysate band an EV band's ratio is undetermined, not a lower bound: the note below says so
    ev = saturated.loc[~saturated["is_reference"].astype(bool) & ~saturated["marker"].isin(set(reference["marker"]))]
    if len(ev):
        pairs = ", ".join(f"{m} in {lane}" for m, lane in zip(ev["marker"], ev["lane_name"], strict=True))
        notes.append(
            f'<p class="fail">Saturated bands ({_e(pairs)}): their volumes, and their ratios to the lysate, are lower '
            "bounds (≥). Use a shorter exposure.</p>"
        )
    if len(reference):
        markers = ", ".join(map(str, reference["marker"]))
        notes.append(
            f'<p class="fail">The lysate band of {_e(markers)} is saturated: its volume reads low, so every '
            "EV/lysate ratio of that marker is an upper bound (≤), and undetermined where the EV band is saturated "
            "too. Use a shorter exposure.</p>"
        )
    return notes


def _json_value(value: Any) -> str:
    """A parameter value as JSON text (null, true, [30.0, 150.0]) so it reads as in run.json."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return str(value)


def _kv_table(mapping: Mapping[str, Any]) -> str:
    rows = [[_e(k), f'<span class="mono">{_e(_json_value(v))}</span>'] for k, v in mapping.items()]
    return _table(["Name", "Value"], rows)


def _provenance(inputs: ReportInputs) -> str:
    out = ["<h2>Provenance: parameters, software and checksums</h2>"]
    tem, blots = inputs.tem, inputs.blots
    if tem is not None:
        out.append("<h3>TEM runs</h3>")
        run_rows = [
            [
                _e(g.name),
                f'<span class="mono">{_e(g.path)}</span>',
                _e(g.run.get("exo_vision_version", "?")),
                _e(g.run.get("created_utc", "?")),
                f'<span class="mono">{_e(" ".join(map(str, g.run.get("command") or [])))}</span>',
            ]
            for g in tem.grids
        ]
        out.append(_table(["Grid", "Folder", "exo-vision", "Run (UTC)", "Command"], run_rows))
        keys = list(dict.fromkeys(k for g in tem.grids for k in (g.run.get("parameters") or {})))
        param_rows = []
        for k in keys:
            values = [_json_value((g.run.get("parameters") or {}).get(k)) for g in tem.grids]
            cls = "mono warn" if len(set(values)) > 1 else "mono"
            param_rows.append([_e(k)] + [f'<span class="{cls}">{_e(v)}</span>' for v in values])
        out.append("<h3>TEM parameters (from run.json)</h3>")
        out.append(_table(["Parameter", *(_e(g.name) for g in tem.grids)], param_rows))
        out.extend(_run_environment(tem.grids[0].run, "TEM run"))
        rows = [
            [
                _e(r.grid),
                _e(r.image),
                f'<span class="mono">{_e(r.input)}</span>',
                f'<span class="mono">{_e(r.input_sha256)}</span>',
            ]
            for r in tem.images.itertuples(index=False)
        ]
        out.append("<h3>Segmentation (from run.json)</h3>")
        out.append(
            _table(
                ["Segmenter", "Model SHA-256", "Images"],
                [
                    [_e(name or "not recorded"), f'<span class="mono">{_e(sha or "—")}</span>', str(n)]
                    for name, sha, n in _segmenter_counts(tem)
                ],
                right=(2,),
            )
        )
        out.extend(_fine_tuned_paragraphs(tem))
        out.append("<h3>TEM input checksums (SHA-256, recorded by the run)</h3>")
        out.append(_table(["Grid", "Image", "Input", "SHA-256"], rows))
    for k, blot in enumerate(blots, start=1):
        which = f" {k} of {len(blots)} ({_e(blot.path.name)})" if len(blots) > 1 else ""
        out.append(f"<h3>Western blot run{which} and parameters (from run.json)</h3>")
        command = blot.run.get("argv") or blot.run.get("command") or []
        command_text = " ".join(map(str, command)) if isinstance(command, list) else str(command)
        out.append(
            f'<p class="note">Folder <span class="mono">{_e(blot.path)}</span>, exo-vision '
            f"{_e(blot.run.get('exo_vision_version', '?'))}; command "
            f'<span class="mono">{_e(command_text or "not recorded")}</span></p>'
        )
        out.append(_kv_table(blot.run.get("parameters", {})))
        out.extend(_run_environment(blot.run, "blot run"))
        out.extend(_blot_input_checksums(blot))
    sources = []
    if tem is not None:
        for g in tem.grids:
            if (g.path / "run.json").is_file():
                sources += [g.path / "run.json", g.path / "summary.csv", g.path / "vesicles.csv"]
            else:  # a napari grid session's folder: its session file and each saved micrograph's marker and table
                sources.append(g.path / SESSION_FILE)
                for record in g.run["images"]:
                    sources += [g.path / f"{record['stem']}_done.json", g.path / f"{record['stem']}_vesicles.csv"]
    for blot in blots:
        sources += [
            p for p in (blot.path / "run.json", blot.path / "panel.csv", blot.path / "panel_summary.csv") if p.is_file()
        ]
    if sources:
        out.append("<h3>Files this report was built from (SHA-256)</h3>")
        out.append(
            _table(
                ["File", "SHA-256"],
                [
                    [f'<span class="mono">{_e(p)}</span>', f'<span class="mono">{sha256_file(p)}</span>']
                    for p in sources
                ],
            )
        )
    return "".join(out)


def _blot_input_checksums(blot: BlotEvidence) -> list[str]:
    """The blot inputs' checksums as the run recorded them, with a warning for each file that now differs or is
    gone (the report shows what was quantified, not what lies there today)."""
    rows, changed, gone = [], [], []
    for r in blot.inputs.itertuples(index=False):
        recorded, now = str(r.sha256 or ""), str(r.sha256_now or "")
        if not now:
            state = '<span class="fail">file not found at report time</span>'
            gone.append(str(r.input))
        elif not recorded:
            state = f"not recorded by the run; now {_e(now)}"
        elif now != recorded:
            state = f'<span class="fail">CHANGED since the run: now {_e(now)}</span>'
            changed.append(str(r.input))
        else:
            state = "unchanged"
        rows.append(
            [
                f'<span class="mono">{_e(r.input)}</span>',
                f'<span class="mono">{_e(recorded) if recorded else "not recorded"}</span>',
                f'<span class="mono">{state}</span>',
            ]
        )
    out = ["<h3>Blot input checksums (SHA-256, recorded by the run)</h3>"]
    if changed:
        out.append(
            f'<p class="fail">{_e(", ".join(changed))}: the file now differs from the one the blot run quantified '
            "(its SHA-256 no longer matches run.json); the results above are of the file as it was.</p>"
        )
    if gone:
        out.append(
            f'<p class="warn">{_e(", ".join(gone))}: no longer where the blot run read it, so its checksum could not '
            "be checked against run.json.</p>"
        )
    out.append(_table(["Input", "SHA-256 (run.json)", "File now"], rows))
    return out


def render_report(inputs: ReportInputs, *, blot_missing_reason: str | None = None) -> str:
    """Render the whole report as one self-contained HTML document.

    Parameters
    ----------
    inputs : ReportInputs
        TEM and blot evidence (either may be None: its section then says
        "not provided"), values from other instruments and the title.
    blot_missing_reason : str, optional
        Why there is no blot section (shown in the "not provided" box).

    Returns
    -------
    str
        The HTML page (UTF-8 text, no external resources).
    """
    parts = [_header(inputs)]
    tem = inputs.tem
    parts.append(_size_vs_instruments(inputs))
    if tem is None:
        parts.append(
            "<h2>Transmission electron microscopy</h2>"
            + _missing("TEM", "No TEM folder was given.", "Add --tem DIR, the --out folder of `exo-vision tem`.")
        )
    else:
        parts += [
            _sampling(tem),
            _calibration(tem),
            _statistics(tem),
            _histograms(tem),
            _morphology(tem),
            _overlays(tem),
        ]
    blots = inputs.blots
    if len(blots) > 1:
        parts.append(
            f'<p class="note">{len(blots)} blot runs were given (replicate membranes, each with its own lysate '
            "lane): each has its section below, with its own verdict; their ratios are not pooled across blots.</p>"
        )
        parts.append(_blot_code_note(blots))
        for k, blot in enumerate(blots, start=1):
            parts.append(_blot_section(blot, None, f"{k} of {len(blots)} ({blot.path.name})"))
    else:
        parts.append(_blot_section(inputs.blot, blot_missing_reason))
    parts.append(_provenance(inputs))
    body = "".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(inputs.title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
