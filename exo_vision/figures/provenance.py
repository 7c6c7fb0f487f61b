"""Where a size histogram's diameters come from, said on the figure and in its bin table.

A histogram that leaves the tool (``size_histogram.png``, ``exo-vision histogram``'s figure and bin CSV) carries the
pixel size (or range) and its source, the method and model, the smallest diameter counted, how many vesicles cut by
the image edge were left out, and, when some or all micrographs were segmented too coarse for the outer half
membrane, a note saying so (:mod:`~exo_vision.segmentation.learned.coarse_outlines`).
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exo_vision.segmentation.learned.coarse_outlines import limit_words, measured_without_half_membrane

if TYPE_CHECKING:
    import pandas as pd

#: Columns the provenance adds to a bin table, after its own (every row holds the same values).
PROVENANCE_COLUMNS = ("pixel_size_nm", "pixel_size_source", "segmenter", "min_diameter_nm", "edge_cut_left_out", "note")

#: Caption characters per mm of figure width (6 pt text).
CAPTION_CHARS_PER_MM = 0.8
#: Fewest caption characters per line.
MIN_CAPTION_CHARS = 20
#: Caption font size (pt).
CAPTION_PT = 6


def segmenter_words(record: Any) -> str:
    """A run.json image record's ``segmenter`` as text: ``"unet, model ev-unet 1.0-int8.2"``, ``"classical"``, or
    "" for a record without one."""
    if not isinstance(record, Mapping) or not record.get("method"):
        return ""
    model = record.get("model")
    name = " ".join(str(model[k]) for k in ("name", "version") if model.get(k)) if isinstance(model, Mapping) else ""
    return f"{record['method']}, model {name}" if name else str(record["method"])


def _span(values: Iterable[float]) -> str:
    found = sorted({float(v) for v in values if v is not None and math.isfinite(float(v)) and float(v) > 0})
    if not found:
        return ""
    low, high = f"{found[0]:.3g}", f"{found[-1]:.3g}"
    return low if low == high else f"{low}-{high}"


def coarse_figure_note(n_coarse: int, n_images: int) -> str:
    """A short note for a figure pooling ``n_images`` micrographs of which ``n_coarse`` were segmented without the
    outer half membrane; "" when none was."""
    if n_coarse <= 0:
        return ""
    which = "every micrograph" if n_coarse >= n_images else f"{n_coarse} of {n_images} micrographs"
    return (
        f"{which} coarser than {limit_words()}: outlines without the outer half membrane (generated vesicles under "
        "50 nm 12-19 % small; real patches did not show it: no correction factor)"
    )


def histogram_provenance(
    records: Sequence[Mapping[str, Any]],
    *,
    min_diameters_nm: Iterable[float | None] = (),
    n_edge_left_out: int | None = None,
    pixel_sizes_nm: Iterable[float] = (),
    pixel_sources: Iterable[str] = (),
) -> dict[str, str]:
    """The provenance of a histogram of the micrographs whose run.json image ``records`` are given (each once).

    Parameters
    ----------
    records : sequence of mapping
        run.json image records (``pixel_size_nm``, ``pixel_size_source``, ``segmenter``, ``warnings``).
    min_diameters_nm : iterable of float or None
        The runs' ``min_diameter_nm`` (nm): vesicles under it were not counted.
    n_edge_left_out : int, optional
        Vesicles cut by the image edge left out of the histogram; None when not known.
    pixel_sizes_nm, pixel_sources : iterable
        Pixel sizes (nm) and their sources read from a table without run records (its ``pixel_size_nm`` and
        ``pixel_size_source`` columns), added to the records'.

    Returns
    -------
    dict of str to str
        :data:`PROVENANCE_COLUMNS` to text ("" where not known).
    """
    sizes = [*(r.get("pixel_size_nm") for r in records), *pixel_sizes_nm]
    sources = [*(str(r.get("pixel_size_source") or "") for r in records), *map(str, pixel_sources)]
    segmenters = [segmenter_words(r.get("segmenter")) for r in records]
    minima = _span(m for m in min_diameters_nm if m is not None)
    n_coarse = sum(measured_without_half_membrane(r.get("warnings")) for r in records)
    return {
        "pixel_size_nm": _span(v for v in sizes if v is not None),
        "pixel_size_source": ", ".join(dict.fromkeys(s for s in sources if s)),
        "segmenter": "; ".join(dict.fromkeys(s for s in segmenters if s)),
        "min_diameter_nm": minima,
        "edge_cut_left_out": "" if n_edge_left_out is None else str(int(n_edge_left_out)),
        "note": coarse_figure_note(n_coarse, len(records)),
    }


def provenance_caption(fields: Mapping[str, str], *, width_mm: float) -> str:
    """The provenance as a caption wrapped to a figure ``width_mm`` wide; "" when nothing is known."""
    parts = []
    if fields.get("pixel_size_nm"):
        source = f" ({fields['pixel_size_source']})" if fields.get("pixel_size_source") else ""
        parts.append(f"pixel size {fields['pixel_size_nm']} nm/px{source}")
    if fields.get("segmenter"):
        parts.append(fields["segmenter"])
    if fields.get("min_diameter_nm"):
        parts.append(f"vesicles under {fields['min_diameter_nm']} nm not counted")
    if fields.get("edge_cut_left_out"):
        parts.append(f"{fields['edge_cut_left_out']} vesicle(s) touching the image edge left out")
    if fields.get("note"):
        parts.append(fields["note"])
    if not parts:
        return ""
    # a number stays on the line of its unit
    text = "; ".join(parts).replace(" nm", "\u00a0nm").replace(" %", "\u00a0%")
    return textwrap.fill(text, max(MIN_CAPTION_CHARS, int(width_mm * CAPTION_CHARS_PER_MM)))


def run_record_of(path: Path, session_runs: Mapping[Path, dict]) -> dict | None:
    """The run record of a vesicle table: a grid session's (``session_runs``), or the run.json beside it; None
    without one."""
    if path in session_runs:
        return session_runs[path]
    try:
        run = json.loads((path.parent / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return run if isinstance(run, dict) and isinstance(run.get("images"), list) else None


def table_provenance(
    tables: Sequence[tuple[Path, pd.DataFrame]], keep_edge: Mapping[Path, bool], session_runs: Mapping[Path, dict]
) -> tuple[dict[str, str], list[str]]:
    """The provenance of a histogram of vesicle ``tables`` and the warnings to give about it.

    Parameters
    ----------
    tables : sequence of (Path, DataFrame)
        Each vesicle table drawn, with its path (a run's ``vesicles.csv`` or a per-image ``<stem>_vesicles.csv``:
        the records of its micrographs are read from the run record beside it).
    keep_edge : mapping of Path to bool
        Per table, True when its vesicles cut by the image edge are counted (not left out); False when absent.
    session_runs : mapping of Path to dict
        Run records of tables that have no run.json beside them (a grid session's).

    Returns
    -------
    fields : dict of str to str
        :func:`histogram_provenance` of the tables' run records; a table without one gives its own
        ``pixel_size_nm`` and ``pixel_size_source`` columns.
    warnings : list of str
        That some or all pooled micrographs were segmented without the outer half membrane, and per table without
        a run record whose pixel sizes are coarser than the limit, that it may have been.
    """
    from exo_vision.measure.tables import truth_values
    from exo_vision.segmentation.learned.coarse_outlines import half_membrane_limit_nm, pooled_coarse_note_of

    records: list[dict] = []
    minima: list[float | None] = []
    sizes: list[float] = []
    sources: list[str] = []
    messages = []
    for path, table in tables:
        run = run_record_of(path, session_runs)
        if run is None:
            px = table["pixel_size_nm"].astype(float) if "pixel_size_nm" in table.columns else None
            sizes += [] if px is None else px.dropna().tolist()
            if "pixel_size_source" in table.columns:
                sources += table["pixel_size_source"].dropna().astype(str).tolist()
            if px is not None and (px > half_membrane_limit_nm()).any():
                messages.append(
                    f"{path}: pixel sizes up to {px.max():.3g} nm/px, coarser than {limit_words()} (no run.json "
                    "beside it says how it was segmented): if by the default unet, its outlines lack the outer "
                    "half membrane and come out small (see `exo-vision model --subpixel-membrane`)"
                )
            continue
        stem = path.name[: -len("_vesicles.csv")] if path.name.endswith("_vesicles.csv") else None
        records += [
            r
            for r in run["images"]
            if isinstance(r, dict)
            and r.get("status") in ("done", "skipped")
            and not r.get("duplicate_of")
            and (stem is None or str(r.get("stem")) == stem)
        ]
        minima.append((run.get("parameters") or {}).get("min_diameter_nm"))
    edge_left = sum(
        int(truth_values(t["touches_border"]).sum())
        for p, t in tables
        if not keep_edge.get(p, False) and "touches_border" in t.columns
    )
    fields = histogram_provenance(
        records, min_diameters_nm=minima, n_edge_left_out=edge_left, pixel_sizes_nm=sizes, pixel_sources=sources
    )
    note = pooled_coarse_note_of(r.get("warnings") for r in records)
    return fields, ([note] if note else []) + messages
