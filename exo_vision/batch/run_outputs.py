"""Run-level outputs of ``exo-vision tem``, built from the per-image files on disk.

* ``vesicles.csv``  every vesicle of every successful input: ``image`` (the
  output stem), then the vesicle table columns, then ``source_file``; an
  input that is a copy of an earlier one (the same micrograph: identical
  bytes, or identical pixels and pixel size) is left out, so that each
  micrograph is pooled once;
* ``summary.csv``   :func:`~exo_vision.measure.size_stats.size_statistics`
  per image (copies too) and a last ``pooled`` row (each micrograph once),
  then ``pixel_size_nm`` and ``pixel_size_source`` (the calibration the image
  was measured at, :data:`FALLBACK_SOURCE` for ``--pixel-size-nm-if-missing``;
  empty on the ``pooled`` row), then ``n_split_groups`` (the image's
  ``split_groups`` of run.json: touching vesicles flagged as possibly one cut
  in pieces), ``n_warnings`` and ``warnings`` (the image's warnings of
  run.json, joined by :data:`WARNINGS_SEPARATOR`); on the ``pooled`` row
  the counts summed over the images it pools (copies left out) and, as
  text, the note of :func:`pooled_warnings` (empty when none applies);
  then ``duplicate_of`` (the input a copy is pooled as; empty for
  the others and when the run has no copies), then ``source_file`` (the input as given; empty on the
  ``pooled`` row);
* ``size_histogram.png`` (300 dpi) and ``.svg``: pooled number-weighted
  histogram (border vesicles excluded when the statistics exclude them),
  with its provenance under the axes
  (:func:`~exo_vision.figures.provenance.provenance_caption`);
* ``errors.csv``    ``input``, ``stem``, ``error``; header only when all succeeded;
* ``run.json``      version, command, every parameter, software versions,
  per-image checksum, calibration source, timings and status, and
  ``images_not_in_run``: images whose outputs of earlier runs are in the
  folder but which are no input of this run (left there, in no table;
  ``now_analysed_as`` names the input and stem of this run when they are
  an input of it under an output stem that changed since; None, with
  ``same_content_as`` listing them, when several inputs of this run have
  the file content of a file no longer there), and
  ``duplicate_images``: the inputs that are one micrograph, in groups, and
  ``pooled_warnings``: what the pooled statistics must be read with
  (:func:`pooled_warnings`; also logged).

Tables are always rebuilt from the per-image CSVs, so a resumed run writes
exactly the bytes an uninterrupted run writes. Files whose content did not
change keep their modification time.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exo_vision import __version__
from exo_vision._shared.atomic import atomic_write_text, write_if_changed
from exo_vision._shared.paths import display_path
from exo_vision._shared.resources import peak_rss_mb
from exo_vision.batch.config import TemBatchConfig
from exo_vision.batch.image_outputs import output_names, read_table_csv, table_csv_text
from exo_vision.environment import lock_status, machine_description, software_versions
from exo_vision.figures.histogram import size_histogram_figure
from exo_vision.figures.provenance import histogram_provenance, provenance_caption
from exo_vision.figures.style import figure_width_mm, save_figure
from exo_vision.io.image_data import SOURCE_USER
from exo_vision.measure.size_stats import size_statistics, statistics_frame
from exo_vision.measure.vesicles import VESICLE_COLUMNS
from exo_vision.segmentation.learned.coarse_outlines import pooled_coarse_note_of
from exo_vision.tem_analysis import recorded_split_groups

logger = logging.getLogger(__name__)

#: Columns of errors.csv.
ERROR_COLUMNS = ("input", "stem", "error")


#: Between two warnings of an image in summary.csv's ``warnings`` cell (a warning's own words hold ``;`` and ``,``).
WARNINGS_SEPARATOR = " | "


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return table_csv_text(frame).encode("utf-8")


def pooled_warnings(warned: dict[str, list[str]], pooled_images: Sequence[str]) -> list[str]:
    """What the pooled statistics of ``pooled_images`` (each micrograph once) must be read with: that some or all
    of them were segmented too coarse for the outer half membrane
    (:func:`~exo_vision.segmentation.learned.coarse_outlines.pooled_coarse_note`), read from each image's
    warnings in ``warned``."""
    note = pooled_coarse_note_of(warned.get(name) for name in pooled_images)
    return [note] if note else []


def pooled_tables(records: Sequence[dict[str, Any]], *, out_dir: Path) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """(record, per-image table) for each successful record, read back from disk."""
    out = []
    for record in records:
        if record["status"] in ("done", "skipped"):
            out.append((record, read_table_csv(out_dir / output_names(record["stem"])["vesicles"])))
    return out


def write_run_outputs(result: Any, *, out_dir: Path, config: TemBatchConfig, argv: Sequence[str] | None = None) -> None:
    """Write vesicles.csv, summary.csv, the histogram, errors.csv and run.json.

    Parameters
    ----------
    result : BatchResult
        Records of the run, in input order.
    out_dir : Path
        Output folder.
    config : TemBatchConfig
        The run's parameters.
    argv : sequence of str, optional
        Command line to record.
    """

    out_dir = Path(out_dir)
    stats_kwargs: dict[str, Any] = {
        "exclude_border": config.exclude_border,
        "size_range_nm": config.size_range_nm,
        "n_boot": config.n_boot,
        "rng": config.seed,
    }
    pairs = pooled_tables(result.records, out_dir=out_dir)
    per_image: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    warned: dict[str, list[str]] = {}  # image -> its warnings, as run.json records them
    calibration: dict[str, tuple[float, str]] = {}  # image -> (pixel size in nm, where it came from)
    n_split: dict[str, int] = {}  # image -> groups of touching vesicles flagged as possibly one cut in pieces
    frames = []
    total_area = 0.0
    copies: dict[str, str] = {}  # image -> the input counted for it in the pool (a copy of that micrograph)
    for record, table in pairs:
        area = record.get("analysed_area_nm2")
        area = float(area) if area is not None and np.isfinite(area) and area > 0 else None
        name = display_path(record["stem"])
        per_image[name] = size_statistics(table, analysed_area_nm2=area, **stats_kwargs)
        sources[name] = display_path(record["input"])
        warned[name] = [str(w) for w in record.get("warnings") or []]
        calibration[name] = _calibration_cells(record, config)
        n_split[name] = len(recorded_split_groups(record))
        if record.get("duplicate_of"):  # the same micrograph as an earlier input: pooled once, as that one
            copies[name] = display_path(record["duplicate_of"])
            continue
        total_area += area or 0.0
        frame = table.copy()
        frame.insert(0, "image", name)
        frame["source_file"] = sources[name]
        frames.append(frame)
    columns = ["image", *VESICLE_COLUMNS, "source_file"]
    if frames:
        pooled = pd.concat(frames, ignore_index=True)
        pooled = pooled[[c for c in columns if c in pooled.columns] + [c for c in pooled.columns if c not in columns]]
    else:
        pooled = pd.DataFrame({c: pd.Series(dtype=object if c in ("image", "source_file") else float) for c in columns})
    per_image["pooled"] = size_statistics(pooled, analysed_area_nm2=total_area or None, **stats_kwargs)
    write_if_changed(out_dir / "vesicles.csv", _csv_bytes(pooled))
    summary = statistics_frame(per_image)
    images = list(summary["image"])[:-1]  # the last row is the pooled one
    # the calibration each row was measured at (a typed fallback is a guess to check); none for the pooled row
    summary["pixel_size_nm"] = [*(calibration[name][0] for name in images), np.nan]
    summary["pixel_size_source"] = [*(calibration[name][1] for name in images), ""]
    # the pooled row sums over each micrograph once, as its statistics count it (a copy repeats its original's)
    distinct = [name for name in images if name not in copies]
    summary["n_split_groups"] = [*(n_split[name] for name in images), sum(n_split[name] for name in distinct)]
    # a spreadsheet filters the images with warnings on the count, and reads them in the text beside it
    summary["n_warnings"] = [*(len(warned[name]) for name in images), sum(len(warned[name]) for name in distinct)]
    pooled_notes = pooled_warnings(warned, distinct)
    summary["warnings"] = [*(WARNINGS_SEPARATOR.join(warned[name]) for name in images), *(pooled_notes[:1] or [""])]
    for note in pooled_notes:
        logger.warning("pooled statistics (vesicles.csv, the pooled row, size_histogram): %s", note)
    # the input each copy's numbers are pooled as; always there (empty without copies), so that summaries of
    # several runs appended into one sheet keep their columns in place
    summary["duplicate_of"] = [copies.get(name, "") for name in summary["image"]]
    # which file each row measured (stems of same-named inputs in different folders differ only by a suffix)
    summary["source_file"] = [sources.get(name, "") for name in summary["image"]]
    write_if_changed(out_dir / "summary.csv", _csv_bytes(summary))

    errors = pd.DataFrame(
        [
            {k: display_path(str(r.get(k, ""))) for k in ERROR_COLUMNS}
            for r in result.records
            if r["status"] == "failed"
        ],
        columns=list(ERROR_COLUMNS),
    )
    write_if_changed(out_dir / "errors.csv", _csv_bytes(errors))

    diameters = pooled["equivalent_diameter_nm"].to_numpy(dtype=float) if len(pooled) else np.zeros(0)
    edge = pooled["touches_border"].astype(bool).to_numpy() if len(pooled) and "touches_border" in pooled else None
    if config.exclude_border and edge is not None:
        diameters = diameters[~edge]
    # with --include-border the legend says how many of the sizes the image edge truncates
    edge_cut = 0 if config.exclude_border or edge is None else int(edge.sum())
    provenance = histogram_provenance(
        [record for record, _ in pairs if not record.get("duplicate_of")],
        min_diameters_nm=[config.min_diameter_nm],
        n_edge_left_out=int(edge.sum()) if config.exclude_border and edge is not None else 0,
    )
    fig, _ = size_histogram_figure(
        {"all images": diameters},
        bin_width_nm=config.bin_width_nm,
        kde=diameters.size > 1,
        edge_cut={"all images": edge_cut},
        caption=provenance_caption(provenance, width_mm=figure_width_mm("single")),
    )
    for suffix in ("png", "svg"):
        buffer = io.BytesIO()
        save_figure(fig, buffer, fmt=suffix)
        write_if_changed(out_dir / f"size_histogram.{suffix}", buffer.getvalue())

    images = []
    for record in result.records:
        entry = {k: v for k, v in record.items() if k not in ("parameters", "index")}
        images.append(entry)
    run = {
        "exo_vision_version": __version__,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": list(argv) if argv is not None else None,
        "working_directory": display_path(str(Path.cwd())),  # where the command's relative paths lead
        "parameters": config.to_dict(),
        "software": software_versions(),
        "environment_lock": lock_status(),
        "machine": machine_description(),
        "n_inputs": len(result.records),
        "n_done": sum(r["status"] == "done" for r in result.records),
        "n_skipped": sum(r["status"] == "skipped" for r in result.records),
        "n_failed": sum(r["status"] == "failed" for r in result.records),
        "wall_s": result.wall_s,
        "workers_used": result.workers,  # after the memory check: fewer than asked when the memory was short
        "memory_available_mb": result.available_memory_mb,
        "peak_rss_mb_main_process": peak_rss_mb(),
        "images": images,
        # results of earlier runs in the folder for images this run does not cover: left there, in no table
        "images_not_in_run": list(getattr(result, "not_in_run", [])),
        # inputs that are one micrograph (the first of each list is pooled; the others are in no pooled table)
        "duplicate_images": list(getattr(result, "duplicate_images", [])),
        # what the pooled statistics must be read with (micrographs measured without the outer half membrane)
        "pooled_warnings": pooled_notes,
    }
    if getattr(result, "dask_workers", None):  # the workers made the numbers: their code was checked
        run["dask_workers"] = result.dask_workers
    atomic_write_text(out_dir / "run.json", json.dumps(run, indent=1, default=_json_default) + "\n")


#: summary.csv's ``pixel_size_source`` of an input measured at ``--pixel-size-nm-if-missing``.
FALLBACK_SOURCE = "user (--pixel-size-nm-if-missing)"


def _calibration_cells(record: dict[str, Any], config: TemBatchConfig) -> tuple[float, str]:
    """(pixel size in nm, its source) of one image's record; a typed value given only to the inputs without a
    calibration of their own (``pixel_size_nm_if_missing``, which excludes ``pixel_size_nm``) is named as such."""
    px = record.get("pixel_size_nm")
    source = str(record.get("pixel_size_source") or "")
    if source == SOURCE_USER and config.pixel_size_nm_if_missing is not None:
        source = FALLBACK_SOURCE
    return (float(px) if px is not None else np.nan), source


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in run.json")
