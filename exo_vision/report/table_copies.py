"""Count each micrograph once when vesicle tables of several runs (or several per-image tables of one run) are
pooled outside a run: ``exo-vision histogram`` and the napari histogram dock.

A run's pooled ``vesicles.csv`` already leaves out its inputs that are copies of another (``duplicate_of`` in its
``run.json``), but its per-image tables, or the tables of two runs of the same micrographs, would count a copy
again. The records beside each table say which micrographs are one (:func:`~exo_vision.report.collect.find_copies`:
the same bytes, the same pixels and pixel size, the same pixels at another bit depth or value scale, or a run's
own ``duplicate_of``): the ``run.json`` of a run, or the done-markers of a napari grid session's folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from exo_vision._shared.paths import display_path
from exo_vision.batch.image_outputs import read_marker
from exo_vision.measure.tables import TABLE_SUFFIX, recorded_exclude_border, truth_values

#: Marker keys that are about the marker itself, not about the micrograph.
_MARKER_ONLY_KEYS = ("outputs", "marker_version", "code_sha256")


def _run_json(folder: Path, cache: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    """``folder/run.json`` (empty when it is missing or unreadable)."""
    if folder not in cache:
        try:
            run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            run = {}
        cache[folder] = run if isinstance(run, dict) else {}
    return cache[folder]


def _run_images(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The successful image records of a run.json."""
    images = run.get("images")
    if not isinstance(images, list):
        return []
    return [r for r in images if isinstance(r, dict) and r.get("status") in ("done", "skipped") and r.get("stem")]


def _folder_markers(folder: Path, cache: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    """The done-markers of a folder without a run.json (a napari grid session's), by stem, in the form of run.json
    image records, each copy of a micrograph saved before it (in the grid's order) marked ``duplicate_of``, as
    ``exo-vision tem`` marks them (:func:`~exo_vision.session.copies.mark_saved_copies`)."""
    if folder not in cache:
        from exo_vision.session.copies import mark_saved_copies

        stems = [p.name[: -len("_done.json")] for p in folder.glob("*_done.json")]
        order = _grid_order(folder)
        stems.sort(key=lambda stem: (order.get(stem, len(order)), stem))
        records = []
        for stem in stems:
            marker = read_marker(out_dir=folder, stem=stem)
            if marker is not None:
                records.append({**{k: v for k, v in marker.items() if k not in _MARKER_ONLY_KEYS}, "stem": stem})
        mark_saved_copies(records)
        for record in records:
            record.update({k: display_path(str(record[k])) for k in ("input", "duplicate_of") if record.get(k)})
            record["status"] = "done"
        cache[folder] = {"markers": {str(r["stem"]): r for r in records}}
    return cache[folder]["markers"]


def _grid_order(folder: Path) -> dict[str, int]:
    """Position of each output stem in the grid a napari grid session read (its session file's micrographs
    folder, in the order the session shows them); empty when that is not known."""
    from exo_vision._shared.paths import assign_stems
    from exo_vision.session.grid import SESSION_FILE, list_micrographs

    try:
        state = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
        return {stem: i for i, stem in enumerate(assign_stems(list_micrographs(str(state["input_dir"]))))}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return {}


def _marker_record(path: Path, cache: dict[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """The record of a per-image table ``<stem>_vesicles.csv`` from its done-marker beside it (a napari grid
    session's folder has no run.json), in the form of a run.json image record; for the pooled ``vesicles.csv`` of
    such a folder (:func:`~exo_vision.report.session_folder.read_session_folder`), the records of all its saved
    micrographs; empty without a marker."""
    if path.name == "vesicles.csv":
        return list(_folder_markers(path.parent, cache).values())
    if not path.name.endswith(TABLE_SUFFIX):
        return []
    record = _folder_markers(path.parent, cache).get(path.name[: -len(TABLE_SUFFIX)])
    return [] if record is None else [record]


def _table_records(path: Path, table: pd.DataFrame, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the micrographs whose vesicles ``table`` holds: its own for a ``<stem>_vesicles.csv``,
    those named in the ``image`` column of a run's ``vesicles.csv``."""
    if path.name == "vesicles.csv" and "image" in table.columns:
        names = set(table["image"].astype(str))
        return [r for r in records if display_path(str(r["stem"])) in names]
    return [r for r in records if path.name == f"{r['stem']}{TABLE_SUFFIX}"]


@dataclass(frozen=True)
class CopiesLeftOut:
    """The tables with the copies' vesicles left out, and what was left out.

    Attributes
    ----------
    tables : list of (Path, DataFrame)
        The tables in the order given, each without the rows of micrographs counted from an earlier table.
    lines : list of str
        One sentence per copy left out: the copy, the input counted for it, why they are one micrograph, and how
        many of its vesicles the pooled n loses (and how many outlined, when edge-cut ones were not counted).
    n_vesicles : int
        Vesicles left out that the pooled n would have counted (edge-cut ones only where the table's border rule
        counts them): what the pooled n loses.
    n_outlined : int
        Vesicles (table rows) left out in all, edge-cut ones included.
    only_copies : dict of Path to list of Path
        The tables whose every micrograph is a copy of one counted from an earlier table (nothing of them is
        counted), each with the tables those micrographs are counted from, in the order given.
    """

    tables: list[tuple[Path, pd.DataFrame]]
    lines: list[str]
    n_vesicles: int
    n_outlined: int = 0
    only_copies: dict[Path, list[Path]] = field(default_factory=dict)

    def only_copies_lines(self, names: Mapping[Path, str]) -> list[str]:
        """One sentence per table of :attr:`only_copies`, naming it and the tables its micrographs are counted
        from by ``names`` (a group name per table; the path where a table has none)."""
        return [
            f"{names.get(path, str(path))} holds only copies of micrographs counted under "
            f"{' and '.join(names.get(c, str(c)) for c in counted) or 'an earlier table'}: none of its vesicles is "
            "counted again, so it has no group of its own"
            for path, counted in self.only_copies.items()
        ]


def _n_counted(table: pd.DataFrame, *, include_border: bool) -> int:
    """Rows of a vesicle table the size statistics count: all with ``include_border``, else those not cut by
    the image edge (``touches_border``)."""
    if include_border or "touches_border" not in table.columns:
        return len(table)
    return int((~truth_values(table["touches_border"])).sum())


def leave_out_copies(
    tables: list[tuple[Path, pd.DataFrame]], include_border: Mapping[Path, bool] | None = None
) -> CopiesLeftOut:
    """The tables without the vesicles of micrographs counted already from a table before them, as the report
    pools them (:func:`~exo_vision.report.collect.find_copies` over the records beside each table: the image
    records of its ``run.json``, or, in a folder without one (a napari grid session's), the done-marker of a
    ``<stem>_vesicles.csv``). A table with neither beside it is kept whole.

    Parameters
    ----------
    tables : list of (Path, DataFrame)
        Vesicle tables and the files they were read from, in the order they are pooled.
    include_border : mapping of Path to bool, optional
        Per table, whether its vesicles cut by the image edge are counted (for the vesicle counts said); a table
        not named counts them as the run that wrote it did (:func:`~exo_vision.measure.tables.recorded_exclude_border`;
        left out when nothing is recorded).
    """
    from exo_vision.report.collect import TemGrid, find_copies

    cache: dict[Path, dict[str, Any]] = {}
    marker_cache: dict[Path, dict[str, Any]] = {}
    present = []
    for path, table in tables:
        run = _run_json(path.parent, cache)
        records = _run_images(run) if run else _marker_record(path, marker_cache)
        present.append((path, _table_records(path, table, records)))
    inputs = {(path.parent, str(r.get("input"))) for path, records in present for r in records}
    grids = []
    for index, (path, records) in enumerate(present):
        # a run's copy mark counts only when the input it names is among the tables too
        kept = [
            r if (path.parent, str(r.get("duplicate_of"))) in inputs else {**r, "duplicate_of": None} for r in records
        ]
        run = {**cache[path.parent], "images": kept}  # where its inputs were read, to compare their pixels
        empty = pd.DataFrame()
        grids.append(TemGrid(name=str(index), path=path.parent, run=run, summary=empty, vesicles=empty, errors=empty))
    copies = find_copies(grids)

    def inputs_of(records: list[dict[str, Any]]) -> set[str]:
        return {str(r.get("input")) for r in records}

    def counts_edge(path: Path) -> bool:
        if include_border is not None and path in include_border:
            return bool(include_border[path])
        return recorded_exclude_border(path) is False

    out, lines, n_left_out, n_outlined = [], [], 0, 0
    only_copies: dict[Path, list[Path]] = {}
    for index, (path, table) in enumerate(tables):
        mine = copies.loc[copies["grid"] == str(index)]
        counted_from: list[Path] = []
        drop = {display_path(str(stem)) for stem in mine["image"]}
        if path.name == "vesicles.csv" and "image" in table.columns:
            gone = table["image"].astype(str).isin(drop)
        else:
            gone = pd.Series(bool(drop), index=table.index)
        names = table["image"].astype(str) if "image" in table.columns else None
        for row in mine.itertuples():
            rows = table.loc[names == display_path(str(row.image))] if names is not None else table
            n, outlined = _n_counted(rows, include_border=counts_edge(path)), len(rows)
            folder = tables[int(row.counted_grid)][0].parent  # a run's own copy mark names its grid, not the table
            counted = next(
                p for p, records in present if p.parent == folder and row.counted_input in inputs_of(records)
            )
            counted_from += [counted] if counted != path and counted not in counted_from else []
            lines.append(
                f"{row.input} ({path}) is the same micrograph as {row.counted_input} ({counted}; {row.same}): "
                f"its {n} counted vesicle(s) left out"
                + (f" ({outlined} outlined, the others cut by the image edge)" if outlined != n else "")
            )
        n_left_out += _n_counted(table.loc[gone], include_border=counts_edge(path))
        n_outlined += int(gone.sum())
        out.append((path, table.loc[~gone]))
        stems = {display_path(str(r["stem"])) for r in present[index][1]}
        if stems and stems <= {display_path(str(stem)) for stem in mine["image"]}:
            order = [p for p, _ in tables]
            only_copies[path] = sorted(counted_from, key=order.index)
    return CopiesLeftOut(tables=out, lines=lines, n_vesicles=n_left_out, n_outlined=n_outlined, only_copies=only_copies)
