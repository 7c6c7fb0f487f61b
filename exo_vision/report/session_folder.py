"""Read the output folder of a napari grid session as the report reads a run of ``exo-vision tem``.

The grid session (:mod:`exo_vision.session.grid`) saves each micrograph in the per-image files ``exo-vision
tem`` writes (``S_labels.tif``, ``S_vesicles.csv``, ``S_overlay.png``, ``S_done.json`` with
``"curated_in_gui": true``) plus its session file, but no ``run.json``, ``summary.csv`` or ``vesicles.csv``:
those are what a batch run writes when it ends. A folder whose every micrograph the session saved is complete
all the same; this module builds, in memory, the run record, the per-image and pooled statistics and the pooled
vesicle table from the saved files, as ``exo-vision tem --resume`` would write them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exo_vision._shared.paths import assign_stems, display_path
from exo_vision.batch.image_outputs import intact_outputs, output_names, read_marker, read_table_csv
from exo_vision.measure.size_stats import size_statistics, statistics_frame
from exo_vision.measure.vesicles import VESICLE_COLUMNS
from exo_vision.session.copies import mark_saved_copies
from exo_vision.session.grid import SESSION_FILE, list_micrographs

#: Marker keys that describe the marker itself, not the image (a run.json image record leaves them out).
_MARKER_ONLY_KEYS = ("outputs", "marker_version", "code_sha256")

#: The ``command`` of the run record built for a grid session's folder.
SESSION_COMMAND = ["napari", "Grid session"]


def is_session_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a napari grid session's files (its session file) and no ``run.json``."""
    return (folder / SESSION_FILE).is_file() and not (folder / "run.json").is_file()


def _session_state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{folder / SESSION_FILE}: unreadable ({err}); open the grid again in the napari Grid session "
            "(it rewrites the file), or run `exo-vision tem INPUT_DIR --out DIR --resume` into the folder"
        ) from None
    return state if isinstance(state, dict) else {}


def _saved_stems(folder: Path, state: dict[str, Any], *, option: str) -> list[str]:
    """The stems of the micrographs the session saved, in the grid's order; a ValueError naming the micrographs
    of the grid not saved yet, or a saved one whose files are incomplete, and what to do."""
    input_dir = Path(str(state.get("input_dir") or ""))
    markers = {p.name[: -len("_done.json")] for p in folder.glob("*_done.json")}
    try:
        files = list_micrographs(input_dir) if state.get("input_dir") else []
    except ValueError:  # the micrographs moved since: the session's own list of what it saved stands
        files = []
    stems = assign_stems(files) if files else sorted(str(s) for s in state.get("done") or [])
    missing = [f.name for f, s in zip(files, stems, strict=True) if s not in markers] if files else []
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(
            f"{option} {folder}: a napari grid session of {display_path(str(input_dir))} that has saved "
            f"{len(files) - len(missing)} of its {len(files)} micrographs (not saved: {shown}); save the rest in "
            "the Grid session (moving on with Next saves the one shown), or let "
            f"`exo-vision tem {display_path(str(input_dir))} --out {folder} --resume` analyse them without "
            "curation (the saved ones are kept)"
        )
    saved = [s for s in stems if s in markers]
    for stem in saved:
        marker = read_marker(out_dir=folder, stem=stem)
        if marker is None or not marker.get("curated_in_gui") or not intact_outputs(out_dir=folder, stem=stem):
            raise ValueError(
                f"{option} {folder}: the files of {stem} are not those the grid session saved (its "
                f"{output_names(stem)['marker']} is missing, unreadable, not the session's, or an output it "
                "records is missing or altered); open the grid again in the napari Grid session and save "
                f"{stem} again, or move its {stem}_* files away and run `exo-vision tem INPUT_DIR --out "
                f"{folder} --resume`"
            )
    if not saved:
        raise ValueError(
            f"{option} {folder}: a napari grid session that has saved no micrograph yet; save at least one in the "
            "Grid session first"
        )
    return saved


def read_session_folder(
    folder: str | Path, *, option: str = "--tem"
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """The run record, summary table and pooled vesicle table of a finished grid session's output folder.

    Parameters
    ----------
    folder : str or Path
        The output folder of a napari grid session (its session file, no ``run.json``).
    option : str
        The command-line option that named the folder, for messages.

    Returns
    -------
    run : dict
        ``command`` :data:`SESSION_COMMAND`, ``parameters`` (the first saved micrograph's), ``images`` (one
        record per saved micrograph, from its done marker, ``status="done"``; a copy of a micrograph saved before it
        holds ``duplicate_of`` and ``duplicate_reason``: :func:`~exo_vision.session.copies.mark_saved_copies`)
        and ``duplicate_images`` (the groups of inputs that are one micrograph).
    summary : pandas.DataFrame
        :func:`~exo_vision.measure.size_stats.size_statistics` per micrograph and a last ``pooled`` row (each
        micrograph once), with ``duplicate_of`` and ``source_file``, as ``summary.csv``.
    vesicles : pandas.DataFrame
        Every saved micrograph's vesicles, each micrograph once (copies left out), ``image`` first and
        ``source_file`` last, as ``vesicles.csv``.

    Raises
    ------
    ValueError
        When a micrograph of the grid is not saved yet, or a saved one's files are incomplete: naming it and
        the fix.
    """
    folder = Path(folder)
    state = _session_state(folder)
    stems = _saved_stems(folder, state, option=option)
    records = []
    for stem in stems:
        marker = read_marker(out_dir=folder, stem=stem) or {}
        record = {k: v for k, v in marker.items() if k not in _MARKER_ONLY_KEYS}
        record.update({"stem": stem, "status": "done"})
        records.append(record)
    # the same micrograph saved twice (a byte copy, another bit depth) is pooled once, as exo-vision tem pools it
    groups = mark_saved_copies(records)
    for record in records:
        for key in ("input", "duplicate_of"):
            if record.get(key):
                record[key] = display_path(str(record[key]))
    parameters = dict(records[0].get("parameters") or {})
    for record in records:
        record.pop("parameters", None)  # a run.json records its parameters once
    stats_kwargs: dict[str, Any] = {
        "exclude_border": bool(parameters.get("exclude_border", True)),
        "size_range_nm": tuple(parameters.get("size_range_nm", (30.0, 150.0))),
        "n_boot": int(parameters.get("n_boot", 2000)),
        "rng": parameters.get("seed", 0),
    }
    per_image: dict[str, dict[str, Any]] = {}
    frames = []
    total_area = 0.0
    for record in records:
        table = read_table_csv(folder / output_names(record["stem"])["vesicles"])
        area = record.get("analysed_area_nm2")
        area = float(area) if area is not None and np.isfinite(area) and area > 0 else None
        per_image[record["stem"]] = size_statistics(table, analysed_area_nm2=area, **stats_kwargs)
        if record.get("duplicate_of"):  # the same micrograph as one saved before it: pooled once, as that one
            continue
        total_area += area or 0.0
        frame = table.copy()
        frame.insert(0, "image", record["stem"])
        frame["source_file"] = record["input"]
        frames.append(frame)
    columns = ["image", *VESICLE_COLUMNS, "source_file"]
    pooled = pd.concat(frames, ignore_index=True)
    pooled = pooled[[c for c in columns if c in pooled.columns] + [c for c in pooled.columns if c not in columns]]
    per_image["pooled"] = size_statistics(pooled, analysed_area_nm2=total_area or None, **stats_kwargs)
    summary = statistics_frame(per_image)
    sources = {r["stem"]: r["input"] for r in records}
    summary["duplicate_of"] = [
        str(next((r.get("duplicate_of") or "" for r in records if r["stem"] == name), "")) for name in summary["image"]
    ]
    summary["source_file"] = [sources.get(name, "") for name in summary["image"]]
    duplicates = [[str(records[i]["input"]) for i in group] for group in groups]
    run = {
        "command": list(SESSION_COMMAND),
        "parameters": parameters,
        "images": records,
        "duplicate_images": duplicates,
    }
    return run, summary, pooled
