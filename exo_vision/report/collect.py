"""Gather the numbers of a characterization report from exo-vision output folders.

A report reads what ``exo-vision tem`` and ``exo-vision blot`` wrote; it never
re-analyses an image. Two kinds of folder are recognised by their
``run.json``:

* a **TEM folder** (``exo-vision tem --out DIR``): ``run.json`` with
  ``parameters`` and ``images``, plus ``summary.csv`` and ``vesicles.csv``.
  One TEM folder is one **grid**: the images of one grid are analysed in one
  run, and ``--tem`` is given once per grid.
* a **blot folder** (``exo-vision blot --out DIR``): ``run.json`` whose
  ``command`` is ``"exo-vision blot"``; ``panel.csv`` and
  ``panel_summary.csv`` are present when markers, lane names and a reference
  lane were known. A blot folder without them has no marker panel, which
  the report states instead of failing.

Statistics are recomputed from the (pooled) vesicle tables with
:func:`exo_vision.measure.size_stats.size_statistics` and the first grid's
statistics parameters, for one grid too: a ``summary.csv`` written by an older
version keeps that version's definitions (of the mode, the density), which the
report's notes would then mislabel.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exo_vision._shared.atomic import sha256_file
from exo_vision._shared.csv_tables import read_csv_table, read_written_csv
from exo_vision._shared.run_lock import check_not_being_written
from exo_vision.batch.duplicates import affine_match, same_pixel_size, signatures_alike
from exo_vision.batch.input_reading import read_as_run
from exo_vision.io.read import scale_bar_disagreement_in
from exo_vision.measure.size_stats import size_statistics
from exo_vision.measure.tables import MISSING_COLUMN, cut_by_missing_flags, truth_values
from exo_vision.report.session_folder import is_session_folder, read_session_folder
from exo_vision.segmentation.learned.weights import run_from_folder
from exo_vision.tem_analysis import cut_by_missing, recorded_split_groups
from exo_vision.tem_parameters import DEFAULT_TEM_PARAMETERS

logger = logging.getLogger(__name__)

#: Statistics parameters of a TEM run that must agree for pooled statistics to mean anything.
STATISTICS_PARAMETERS = ("exclude_border", "size_range_nm", "n_boot", "seed", "min_diameter_nm", "max_diameter_nm")

#: Columns of :attr:`TemEvidence.images`, in order.
IMAGE_COLUMNS = (
    "grid",
    "image",
    "input",
    "status",
    "pixel_size_nm",
    "pixel_size_source",
    "n_vesicles",
    "input_sha256",
    "warnings",
    "segmenter",
    "model_sha256",
    "n_cut_by_missing",
)


#: Columns of :attr:`TemEvidence.copies`: the copy (grid, image, input), the input it is pooled as
#: (``counted_grid``, ``counted_image``, ``counted_input``), ``same`` (why they are one micrograph: "identical
#: bytes", "identical pixels and pixel size", or the same pixels at another bit depth or value scale) and
#: ``n_vesicles`` (the copy's vesicles left out of the pooled statistics, border ones included).
COPY_COLUMNS = ("grid", "image", "input", "counted_grid", "counted_image", "counted_input", "same", "n_vesicles")


#: Columns of :attr:`TemEvidence.split_pairs`.
SPLIT_PAIR_COLUMNS = ("grid", "image", "labels", "counted")

#: Columns of :attr:`TemEvidence.calibration_conflicts`: the image, the pixel size it was measured at (the
#: file's, nm/px) and the one its burnt-in scale bar gives (nm/px).
CALIBRATION_CONFLICT_COLUMNS = ("grid", "image", "file_pixel_size_nm", "bar_pixel_size_nm")


def describe_segmenter(record: Any) -> tuple[str, str]:
    """The segmenter of one run.json image record as text, and its model's sha256.

    ``{"method": "unet", "model": {"name": "ev-unet", "version": "1.0", "sha256": ...}}``
    gives ``("unet, model ev-unet 1.0", sha256)``; a method without a model gives
    ``("classical", "")``; a record written before runs recorded it gives ``("", "")``.
    """
    if not isinstance(record, dict) or not record.get("method"):
        return "", ""
    model = record.get("model")
    if not isinstance(model, dict):
        return str(record["method"]), ""
    name = " ".join(str(model[k]) for k in ("name", "version") if model.get(k))
    return f"{record['method']}, model {name}" if name else str(record["method"]), str(model.get("sha256") or "")


@dataclass
class TemGrid:
    """One ``exo-vision tem`` output folder (one grid).

    Attributes
    ----------
    name : str
        Grid name (the folder name; made unique when two folders share it).
    path : Path
        The folder.
    run : dict
        Its ``run.json``.
    summary : pandas.DataFrame
        Its ``summary.csv``: one row per image and a last ``pooled`` row.
    vesicles : pandas.DataFrame
        Its ``vesicles.csv``: one row per vesicle, ``image`` first.
    errors : pandas.DataFrame
        Its ``errors.csv`` (``input``, ``stem``, ``error``); empty when all succeeded.
    overlays : dict of str to Path
        Image stem -> ``<stem>_overlay.png`` for the overlays present on disk.
    """

    name: str
    path: Path
    run: dict[str, Any]
    summary: pd.DataFrame
    vesicles: pd.DataFrame
    errors: pd.DataFrame
    overlays: dict[str, Path] = field(default_factory=dict)


@dataclass
class TemEvidence:
    """Everything the report says about TEM, over one or more grids.

    Attributes
    ----------
    grids : list of TemGrid
        One per ``--tem`` folder, in the order given.
    statistics : dict
        Pooled size statistics over all grids, keys
        :data:`~exo_vision.measure.size_stats.STATISTICS_KEYS`.
    diameters_nm : (N,) ndarray of float
        Diameters (nm) behind ``statistics`` (border vesicles dropped when the
        run excluded them), for the histograms.
    images : pandas.DataFrame
        One row per input image of every grid: :data:`IMAGE_COLUMNS`. ``n_cut_by_missing`` counts the
        image's vesicles that touch pixels without a value (``touches_missing``; they are flagged
        ``touches_border`` too): NaN when its table is older than that column but its run's warnings say
        some do (:func:`cut_by_missing_count`).
    parameter_conflicts : list of str
        Statistics parameters that differ between grids (empty when they agree).
    copies : pandas.DataFrame
        One row per input that is the same micrograph as an input met before it (in an earlier grid, or
        earlier in its own run): :data:`COPY_COLUMNS`. Each micrograph is pooled once, as its first input;
        a copy's vesicles and area are left out of ``statistics`` and ``diameters_nm``.
    split_pairs : pandas.DataFrame
        One row per group of two or more touching vesicles that an image's run flagged as possibly one vesicle
        cut in pieces (:func:`~exo_vision.tem_analysis.split_warnings`), copies left out:
        :data:`SPLIT_PAIR_COLUMNS`; ``labels`` names them as in the warning ("5+6+7"); ``counted`` is True when
        all are in ``statistics`` (none left out as cut by the edge).
    rejected_by_reason : dict of str to int
        Candidates the runs rejected before measuring, by reason (run.json's ``rejected_by_reason`` summed
        over the images pooled, copies left out): below ``min_diameter_nm``, low network confidence, on the
        scale bar, ...; the most frequent first.
    n_edge_cut_counted : int
        Vesicles cut by the image edge (``touches_border``) that ``statistics`` counts, their sizes truncated:
        0 unless the run kept them (``exo-vision tem --include-border``).
    n_edge_cut_left_out : int
        Vesicles cut by the image edge that ``statistics`` leaves out: 0 when the runs counted them.
    calibration_conflicts : pandas.DataFrame
        One row per pooled image (copies left out) whose run warned that the file's calibration disagrees with
        its burnt-in scale bar (:func:`~exo_vision.io.read.scale_bar_disagreement`; measured at the file's
        value): :data:`CALIBRATION_CONFLICT_COLUMNS`.
    """

    grids: list[TemGrid]
    statistics: dict[str, Any]
    diameters_nm: np.ndarray
    images: pd.DataFrame
    parameter_conflicts: list[str] = field(default_factory=list)
    copies: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(COPY_COLUMNS)))
    split_pairs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SPLIT_PAIR_COLUMNS)))
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    n_edge_cut_counted: int = 0
    n_edge_cut_left_out: int = 0
    calibration_conflicts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(CALIBRATION_CONFLICT_COLUMNS))
    )

    @property
    def n_split_pairs_counted(self) -> int:
        """Groups flagged as possibly one vesicle cut in pieces whose pieces are all in the pooled statistics."""
        return int(self.split_pairs["counted"].astype(bool).sum()) if len(self.split_pairs) else 0

    @property
    def n_images(self) -> int:
        """Number of images analysed successfully."""
        return int(self.images["status"].isin(["done", "skipped"]).sum())

    @property
    def n_failed(self) -> int:
        """Number of inputs that failed."""
        return int((self.images["status"] == "failed").sum())


@dataclass
class BlotEvidence:
    """Everything the report says about one ``exo-vision blot`` output folder.

    Attributes
    ----------
    path : Path
        The folder.
    run : dict
        Its ``run.json``.
    bands : pandas.DataFrame
        All ``*_bands.csv`` tables stacked (one row per band and lane).
    annotated : dict of str to Path
        Blot image stem -> ``<stem>_annotated.png``.
    panel : pandas.DataFrame or None
        ``panel.csv`` (one row per marker and lane), None when absent.
    panel_summary : pandas.DataFrame or None
        ``panel_summary.csv`` (one row per marker), None when absent.
    panel_figure : Path or None
        ``panel.png`` when present.
    inputs : pandas.DataFrame
        ``input``; ``sha256``, the checksum the run recorded in ``run.json`` (empty string when it recorded
        none: the image failed, or a run.json without checksums); ``sha256_now``, the file's checksum when the
        report is made (empty string when the file is no longer where the run read it).
    """

    path: Path
    run: dict[str, Any]
    bands: pd.DataFrame
    annotated: dict[str, Path]
    panel: pd.DataFrame | None
    panel_summary: pd.DataFrame | None
    panel_figure: Path | None
    inputs: pd.DataFrame

    @property
    def has_panel(self) -> bool:
        """True when the folder holds a MISEV marker panel."""
        return self.panel is not None and self.panel_summary is not None and len(self.panel_summary) > 0


def _read_run_json(folder: Path, *, option: str, producer: str) -> dict[str, Any]:
    """Load ``folder/run.json`` or raise a ValueError that says which command makes it."""
    if not folder.exists():
        raise ValueError(f"{option} {folder}: folder not found; check the path")
    if not folder.is_dir():
        raise ValueError(f"{option} {folder}: not a folder; pass the --out folder of `{producer}`")
    path = folder / "run.json"
    if not path.is_file():
        unfinished = any(folder.glob("*_done.json")) or any(folder.glob("*_bands.csv"))
        raise ValueError(
            f"{option} {folder}: holds results but no run.json, so a run into it did not finish (it was stopped "
            f"or failed); run `{producer}` into it again (exo-vision tem: with --resume) to complete it"
            if unfinished
            else f"{option} {folder}: not an exo-vision output folder (no run.json); pass the --out folder of "
            f"`{producer}`"
        )
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        problem = "nested too deeply" if isinstance(err, RecursionError) else err
        raise ValueError(f"{path}: not valid JSON ({problem}); rerun `{producer}` to rewrite it") from None
    if not isinstance(run, dict):
        raise ValueError(f"{path}: expected a JSON object; rerun `{producer}` to rewrite it")
    return run


def _is_blot_run(run: dict[str, Any]) -> bool:
    command = run.get("command")
    if isinstance(command, list):  # the command as typed (since 0.1); a string before
        return [str(word) for word in command[:2]] == ["exo-vision", "blot"]
    return command == "exo-vision blot"


def _is_tem_run(run: dict[str, Any]) -> bool:
    return not _is_blot_run(run) and isinstance(run.get("parameters"), dict) and isinstance(run.get("images"), list)


#: The first column of each table the report reads (found whatever the table's separator).
_FIRST_COLUMNS = {"size statistics": "image", "vesicle table": "image", "band table": "label", "panel": "label"}


def _read_csv(path: Path, *, what: str, producer: str) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: missing ({what}); the run in {path.parent} is incomplete, rerun `{producer}`")
    try:
        return read_csv_table(path, expected_column=_FIRST_COLUMNS.get(what, "label"))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: unreadable CSV ({err}); rerun `{producer}` to rewrite it") from None


def read_tem_grid(folder: str | Path, *, name: str | None = None) -> TemGrid:
    """Read one ``exo-vision tem`` output folder.

    Parameters
    ----------
    folder : str or Path
        The ``--out`` folder of ``exo-vision tem``, or the output folder of a napari grid session whose every
        micrograph is saved (read by :func:`~exo_vision.report.session_folder.read_session_folder`).
    name : str, optional
        Grid name; the folder name by default.

    Returns
    -------
    TemGrid

    Raises
    ------
    ValueError
        When the folder does not exist, is not an ``exo-vision tem`` output
        (e.g. a blot folder), or lacks ``summary.csv`` / ``vesicles.csv``.
    """
    folder = Path(folder)
    producer = "exo-vision tem INPUT... --out DIR"
    check_not_being_written(folder, option="--tem")
    if folder.is_dir() and is_session_folder(folder):  # a napari grid session writes no run files
        run, summary, vesicles = read_session_folder(folder, option="--tem")
        run = run_from_folder(run, folder)  # relative model paths are the folder's, not the working directory's
        return _grid(folder, name, run, summary, vesicles, pd.DataFrame(columns=["input", "stem", "error"]))
    run = _read_run_json(folder, option="--tem", producer=producer)
    run = run_from_folder(run, folder)  # relative model paths are the folder's, not the working directory's
    if _is_blot_run(run):
        raise ValueError(f"--tem {folder}: this is an `exo-vision blot` output folder; pass it with --blot")
    if not _is_tem_run(run):
        raise ValueError(
            f"--tem {folder}: run.json has no `parameters`/`images`, so this is not an "
            f"`exo-vision tem` output folder; pass the --out folder of `{producer}`"
        )
    summary = _read_csv(folder / "summary.csv", what="size statistics", producer=producer)
    if "image" not in summary.columns or "pooled" not in set(summary["image"].astype(str)):
        raise ValueError(f"{folder / 'summary.csv'}: no `pooled` row; rerun `{producer}` to rewrite it")
    vesicles = _read_csv(folder / "vesicles.csv", what="vesicle table", producer=producer)
    if "equivalent_diameter_nm" not in vesicles.columns:
        raise ValueError(f"{folder / 'vesicles.csv'}: no equivalent_diameter_nm column; rerun `{producer}`")
    errors_path = folder / "errors.csv"
    errors = (
        read_written_csv(errors_path) if errors_path.is_file() else pd.DataFrame(columns=["input", "stem", "error"])
    )
    return _grid(folder, name, run, summary, vesicles, errors)


def _grid(
    folder: Path,
    name: str | None,
    run: dict[str, Any],
    summary: pd.DataFrame,
    vesicles: pd.DataFrame,
    errors: pd.DataFrame,
) -> TemGrid:
    """The :class:`TemGrid` of a folder's tables (named after the folder unless ``name`` is given)."""
    return TemGrid(
        name=name or folder.resolve().name,
        path=folder,
        run=run,
        summary=summary,
        vesicles=vesicles,
        errors=errors,
        overlays=_overlays(folder, run),
    )


def _overlays(folder: Path, run: dict[str, Any]) -> dict[str, Path]:
    """Image stem -> ``<stem>_overlay.png`` for the run's images whose overlay is in ``folder``."""
    overlays = {}
    for record in run["images"]:
        stem = str(record.get("stem", ""))
        path = folder / f"{stem}_overlay.png"
        if stem and path.is_file():
            overlays[stem] = path
    return overlays


def _unique_names(folders: Sequence[Path]) -> list[str]:
    names = [f.resolve().name or str(f) for f in folders]
    out: list[str] = []
    for name in names:
        if names.count(name) > 1:
            out.append(f"{name}-{len([n for n in out if n.startswith(name + '-')]) + 1}")
        else:
            out.append(name)
    return out


def _statistics_kwargs(parameters: dict[str, Any]) -> dict[str, Any]:
    """The statistics settings a run recorded, with TemParameters' defaults for any it did not."""
    defaults = DEFAULT_TEM_PARAMETERS
    return {
        "exclude_border": bool(parameters.get("exclude_border", defaults.exclude_border)),
        "size_range_nm": tuple(parameters.get("size_range_nm", defaults.size_range_nm)),
        "n_boot": int(parameters.get("n_boot", defaults.n_boot)),
        "rng": parameters.get("seed", defaults.seed),
    }


def _kept_diameters(vesicles: pd.DataFrame, *, exclude_border: bool) -> np.ndarray:
    d = vesicles["equivalent_diameter_nm"].to_numpy(dtype=float)
    if exclude_border and "touches_border" in vesicles.columns:
        d = d[~truth_values(vesicles["touches_border"]).to_numpy()]
    return d


def cut_by_missing_count(vesicles: pd.DataFrame, stem: str, warnings: list[str] | None) -> float:
    """How many vesicles of one image touch pixels without a value (NaN or infinite, a padding frame).

    Parameters
    ----------
    vesicles : pandas.DataFrame
        The grid's ``vesicles.csv`` (``image`` names each row's image).
    stem : str
        The image.
    warnings : list of str or None
        Its run.json warnings.

    Returns
    -------
    float
        The count of its rows flagged ``touches_missing``; for a table older than that column (none, or
        blank for this image's rows), NaN when the run's warnings say that such pixels cut some vesicles
        (:func:`~exo_vision.tem_analysis.cut_by_missing`: how many the table cannot tell), else 0.
    """
    rows = vesicles.loc[vesicles["image"].astype(str) == stem] if "image" in vesicles.columns else vesicles
    if MISSING_COLUMN in rows.columns and rows[MISSING_COLUMN].notna().all():
        return float(cut_by_missing_flags(rows, where=f"vesicles.csv ({stem})").sum())
    return float("nan") if cut_by_missing(warnings) else 0.0


def _micrograph_keys(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What makes two run.json image records one micrograph: the same file bytes (``input_sha256``), or the same
    pixels (``pixels_sha256``, recorded since runs pool copies once) at the same pixel size."""
    keys: list[tuple[Any, ...]] = []
    if record.get("input_sha256"):
        keys.append(("file", str(record["input_sha256"])))
    if record.get("pixels_sha256"):
        keys.append(("pixels", str(record["pixels_sha256"]), record.get("pixel_size_nm")))
    return keys


def find_copies(grids: Sequence[TemGrid]) -> pd.DataFrame:
    """The inputs of the grids that are the same micrograph as an input met before them.

    Inputs are taken in order (grid after grid, each run's images in its order). An input whose file bytes, or
    whose pixels and pixel size, equal those of an earlier successful input is a copy of it: the report pools
    the micrograph once, as that first input. A copy inside one run (its record holds ``duplicate_of``) is
    already left out of that run's ``vesicles.csv``; one across runs (the same micrograph analysed into two
    grid folders) is found here from the checksums each ``run.json`` recorded, or, for the same pixels at
    another bit depth or value scale (a 16-bit file in one run, its 8-bit export in another), from the
    ``pixels_signature`` each recorded, confirmed by reading both input files
    (:func:`~exo_vision.batch.duplicates.affine_match`); a candidate whose files are gone or changed is counted
    twice, with a logged warning.

    Parameters
    ----------
    grids : sequence of TemGrid
        The grids, in the order given.

    Returns
    -------
    pandas.DataFrame
        One row per copy: :data:`COPY_COLUMNS`.
    """
    first_with: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
    counted_so_far: list[tuple[TemGrid, dict[str, Any]]] = []
    rows = []
    for g in grids:
        by_input = {str(r.get("input", "")): r for r in g.run["images"] if isinstance(r, dict)}
        for record in g.run["images"]:
            if not isinstance(record, dict) or record.get("status") not in ("done", "skipped"):
                continue
            keys = _micrograph_keys(record)
            reason = ""
            if record.get("duplicate_of"):  # marked by its own run
                earlier: tuple[str, dict[str, Any]] | None = (
                    g.name,
                    by_input.get(str(record["duplicate_of"]), {"input": record["duplicate_of"]}),
                )
                reason = str(record.get("duplicate_reason") or "")
            else:
                earlier = next((first_with[k] for k in keys if k in first_with), None)
            if earlier is None and (found := _rescaled_copy_of(g, record, counted_so_far)) is not None:
                earlier, reason = found
            if earlier is None:
                for key in keys:
                    first_with.setdefault(key, (g.name, record))
                counted_so_far.append((g, record))
                continue
            counted_grid, counted = earlier
            stem = str(record.get("stem", ""))
            same_file = bool(record.get("input_sha256")) and record.get("input_sha256") == counted.get("input_sha256")
            if not reason:
                reason = "identical bytes" if same_file else "identical pixels and pixel size"
            rows.append(
                {
                    "grid": g.name,
                    "image": stem,
                    "input": str(record.get("input", "")),
                    "counted_grid": counted_grid,
                    "counted_image": str(counted.get("stem", "")),
                    "counted_input": str(counted.get("input", "")),
                    "same": reason,
                    "n_vesicles": int(record.get("n_vesicles") or 0),
                }
            )
    return pd.DataFrame(rows, columns=list(COPY_COLUMNS))


def _input_pixels(grid: TemGrid, record: dict[str, Any]) -> np.ndarray | None:
    """The pixels of a record's input as its run read them, or None when the file is not where the run read it
    or has changed since (its checksum differs from the recorded one)."""
    path = Path(str(record.get("input", "")))
    base = grid.run.get("working_directory")
    if not path.is_file() and base and not path.is_absolute():
        path = Path(str(base)) / path
    try:
        if not path.is_file() or sha256_file(path) != record.get("input_sha256"):
            return None
        parameters = grid.run.get("parameters") or {}
        return read_as_run(path, parameters, max_megapixels=parameters.get("max_megapixels")).data
    except (OSError, ValueError):
        return None


def _rescaled_copy_of(
    grid: TemGrid, record: dict[str, Any], counted: Sequence[tuple[TemGrid, dict[str, Any]]]
) -> tuple[tuple[str, dict[str, Any]], str] | None:
    """The earlier counted input of another run that holds the same micrograph as ``record`` at another bit depth
    or value scale (:mod:`exo_vision.batch.duplicates`: alike signatures, confirmed on both input files), with
    the reason; None when there is none, or when a candidate's files cannot be read to confirm it (logged)."""
    signature = str(record.get("pixels_signature") or "")
    if not signature:
        return None
    for other_grid, other in counted:
        if other_grid is grid:  # its own run compared them already
            continue
        if not same_pixel_size(record.get("pixel_size_nm"), other.get("pixel_size_nm")) or not signatures_alike(
            signature, str(other.get("pixels_signature") or "")
        ):
            continue
        mine, theirs = _input_pixels(grid, record), _input_pixels(other_grid, other)
        if mine is None or theirs is None:
            logger.warning(
                "%s (grid %s) may be the same micrograph as %s (grid %s) at another bit depth (alike signatures), "
                "but the input files are not where the runs read them, or changed since, so this could not be "
                "confirmed: both are counted",
                record.get("input"),
                grid.name,
                other.get("input"),
                other_grid.name,
            )
            continue
        match = affine_match(mine, theirs)
        if match.same:
            return (other_grid.name, other), match.reason()
    return None


def _split_pairs(grids: Sequence[TemGrid], copies: pd.DataFrame, *, exclude_border: bool) -> pd.DataFrame:
    """The groups each image's run flagged as possibly one vesicle cut in pieces (its ``split_groups``; in an
    older run.json, its warnings), copies left out, and whether all of a group are in the pooled statistics
    (:data:`SPLIT_PAIR_COLUMNS`)."""
    rows = []
    for g, stem, record in _pooled_records(grids, copies):
        groups = recorded_split_groups(record)
        if not groups:
            continue
        table = g.vesicles
        if "image" in table.columns:
            table = table.loc[table["image"].astype(str) == stem]
        if exclude_border and "touches_border" in table.columns:
            table = table.loc[~truth_values(table["touches_border"])]
        kept = (
            set(pd.to_numeric(table["label"], errors="coerce").dropna().astype(int))
            if "label" in table.columns
            else set()
        )
        for group in groups:
            rows.append(
                {
                    "grid": g.name,
                    "image": stem,
                    "labels": "+".join(str(k) for k in group),
                    "counted": all(k in kept for k in group),
                }
            )
    return pd.DataFrame(rows, columns=list(SPLIT_PAIR_COLUMNS))


def _pooled_records(grids: Sequence[TemGrid], copies: pd.DataFrame) -> Iterator[tuple[TemGrid, str, dict[str, Any]]]:
    """``(grid, stem, record)`` of every analysed image record of ``grids`` that is pooled (copies left out)."""
    for g in grids:
        left_out = set(copies.loc[copies["grid"] == g.name, "image"])
        for record in g.run["images"]:
            stem = str(record.get("stem", "")) if isinstance(record, dict) else ""
            if stem and stem not in left_out and record.get("status") in ("done", "skipped"):
                yield g, stem, record


def only_copies_counted_under(grids: Sequence[TemGrid], copies: pd.DataFrame) -> dict[str, list[str]]:
    """The grids whose every analysed image is a copy of a micrograph counted in another grid (so none of their
    vesicles is pooled), each with the names of the grids those micrographs are counted under, in grid order.

    Parameters
    ----------
    grids : sequence of TemGrid
        The grids, in the order pooled.
    copies : pandas.DataFrame
        :func:`find_copies` of ``grids``.
    """
    order = [g.name for g in grids]
    out: dict[str, list[str]] = {}
    for g in grids:
        analysed = {
            str(r.get("stem", ""))
            for r in g.run["images"]
            if isinstance(r, dict) and r.get("stem") and r.get("status") in ("done", "skipped")
        }
        mine = copies.loc[copies["grid"] == g.name]
        if analysed and analysed <= set(mine["image"].astype(str)):
            counted = set(mine["counted_grid"].astype(str)) - {g.name}
            out[g.name] = [name for name in order if name in counted]
    return out


def pooled_coarse_outline_note(tem: TemEvidence) -> str | None:
    """What the pooled statistics must be read with when some or all pooled images (copies left out) were segmented
    too coarse for the outer half membrane, read from their runs' warnings
    (:func:`~exo_vision.segmentation.learned.coarse_outlines.pooled_coarse_note`); None when none was."""
    from exo_vision.segmentation.learned.coarse_outlines import pooled_coarse_note_of

    return pooled_coarse_note_of(record.get("warnings") for _, _, record in _pooled_records(tem.grids, tem.copies))


def pooled_histogram_provenance(tem: TemEvidence) -> dict[str, str]:
    """Where the pooled size histogram's diameters come from: pixel sizes and sources, method and model, the runs'
    smallest diameter counted, the edge-cut vesicles left out, and the coarse-outline note
    (:func:`~exo_vision.figures.provenance.histogram_provenance` of the pooled images' records, copies left out)."""
    from exo_vision.figures.provenance import histogram_provenance

    return histogram_provenance(
        [record for _, _, record in _pooled_records(tem.grids, tem.copies)],
        min_diameters_nm=[(g.run.get("parameters") or {}).get("min_diameter_nm") for g in tem.grids],
        n_edge_left_out=tem.n_edge_cut_left_out,
    )


def _calibration_conflicts(grids: Sequence[TemGrid], copies: pd.DataFrame) -> pd.DataFrame:
    """The pooled images (copies left out) whose run warned that the file's calibration disagrees with the burnt-in
    scale bar, with both pixel sizes (:data:`CALIBRATION_CONFLICT_COLUMNS`)."""
    rows = []
    for g, stem, record in _pooled_records(grids, copies):
        found = scale_bar_disagreement_in(record.get("warnings"))
        if found is not None:
            rows.append({"grid": g.name, "image": stem, "file_pixel_size_nm": found[0], "bar_pixel_size_nm": found[1]})
    return pd.DataFrame(rows, columns=list(CALIBRATION_CONFLICT_COLUMNS))


def collect_tem(folders: Sequence[str | Path]) -> TemEvidence:
    """Read one or more ``exo-vision tem`` folders (one per grid) and pool them.

    Parameters
    ----------
    folders : sequence of str or Path
        The ``--out`` folders of ``exo-vision tem``, one per grid.

    Returns
    -------
    TemEvidence

    Raises
    ------
    ValueError
        When no folder is given or one of them is not an ``exo-vision tem`` output.
    """
    paths = [Path(f) for f in folders]
    if not paths:
        raise ValueError("no TEM folder given; pass --tem DIR (the --out folder of exo-vision tem)")
    seen: set[Path] = set()
    for f in paths:
        if f.resolve() in seen:
            raise ValueError(f"--tem {f} is given twice; give each grid's folder once (it would be counted twice)")
        seen.add(f.resolve())
    grids = [read_tem_grid(f, name=n) for f, n in zip(paths, _unique_names(paths))]
    first = grids[0].run["parameters"]
    conflicts = [
        key for key in STATISTICS_PARAMETERS if any(g.run["parameters"].get(key) != first.get(key) for g in grids[1:])
    ]
    kwargs = _statistics_kwargs(first)
    copies = find_copies(grids)
    # recomputed from the vesicle tables for one grid too: a summary.csv written by an older version keeps
    # that version's statistics (mode, density), which this report's notes would mislabel
    tables = []
    area = 0.0
    for g in grids:
        left_out = set(copies.loc[copies["grid"] == g.name, "image"])
        table = g.vesicles
        if left_out and "image" in table.columns:  # a micrograph met before: pooled once, as its first input
            table = table.loc[~table["image"].astype(str).isin(left_out)]
        tables.append(table.assign(grid=g.name))
        area += sum(
            float(r["analysed_area_nm2"])
            for r in g.run["images"]
            # a copy of an earlier input is not pooled: its area is not counted either
            if r.get("status") in ("done", "skipped")
            and r.get("analysed_area_nm2") not in (None, 0)
            and str(r.get("stem", "")) not in left_out
        )
    pooled = pd.concat(tables, ignore_index=True)
    rejected: dict[str, int] = {}
    for g in grids:
        left_out = set(copies.loc[copies["grid"] == g.name, "image"])
        for record in g.run["images"]:
            if record.get("status") not in ("done", "skipped") or str(record.get("stem", "")) in left_out:
                continue
            for reason, count in (record.get("rejected_by_reason") or {}).items():
                rejected[str(reason)] = rejected.get(str(reason), 0) + int(count)
    rejected = dict(sorted(rejected.items(), key=lambda item: -item[1]))
    edge_cut_counted = (
        int(truth_values(pooled["touches_border"]).sum())
        if not kwargs["exclude_border"] and "touches_border" in pooled.columns
        else 0
    )
    edge_cut_left_out = (
        int(truth_values(pooled["touches_border"]).sum())
        if kwargs["exclude_border"] and "touches_border" in pooled.columns
        else 0
    )
    split_pairs = _split_pairs(grids, copies, exclude_border=kwargs["exclude_border"])
    statistics = size_statistics(pooled, analysed_area_nm2=area or None, **kwargs)
    diameters = _kept_diameters(pooled, exclude_border=kwargs["exclude_border"])

    rows = []
    for g in grids:
        for record in g.run["images"]:
            rows.append(
                {
                    "grid": g.name,
                    "image": str(record.get("stem", "")),
                    "input": str(record.get("input", "")),
                    "status": str(record.get("status", "")),
                    "pixel_size_nm": float(record["pixel_size_nm"])
                    if record.get("pixel_size_nm") is not None
                    else np.nan,
                    "pixel_size_source": str(record.get("pixel_size_source") or ""),
                    "n_vesicles": int(record["n_vesicles"]) if record.get("n_vesicles") is not None else 0,
                    "input_sha256": str(record.get("input_sha256") or ""),
                    "warnings": "; ".join(map(str, record.get("warnings") or [])) or str(record.get("error", "") or ""),
                    **dict(
                        zip(("segmenter", "model_sha256"), describe_segmenter(record.get("segmenter")), strict=True)
                    ),
                    "n_cut_by_missing": cut_by_missing_count(
                        g.vesicles, str(record.get("stem", "")), record.get("warnings")
                    ),
                }
            )
    images = pd.DataFrame(rows, columns=list(IMAGE_COLUMNS))
    return TemEvidence(
        grids=grids,
        statistics=statistics,
        diameters_nm=diameters,
        images=images,
        parameter_conflicts=conflicts,
        copies=copies,
        split_pairs=split_pairs,
        rejected_by_reason=rejected,
        n_edge_cut_counted=edge_cut_counted,
        n_edge_cut_left_out=edge_cut_left_out,
        calibration_conflicts=_calibration_conflicts(grids, copies),
    )


def collect_blot(folder: str | Path) -> BlotEvidence:
    """Read one ``exo-vision blot`` output folder.

    Parameters
    ----------
    folder : str or Path
        The ``--out`` folder of ``exo-vision blot``.

    Returns
    -------
    BlotEvidence
        ``panel`` and ``panel_summary`` are None when the run had no marker panel.

    Raises
    ------
    ValueError
        When the folder does not exist or is not an ``exo-vision blot`` output.
    """
    folder = Path(folder)
    producer = "exo-vision blot ... --out DIR"
    check_not_being_written(folder, option="--blot")
    run = _read_run_json(folder, option="--blot", producer=producer)
    if not _is_blot_run(run):
        hint = "; this is an `exo-vision tem` output folder, pass it with --tem" if _is_tem_run(run) else ""
        raise ValueError(
            f"--blot {folder}: run.json is not from `exo-vision blot`{hint}; pass the --out folder of `{producer}`"
        )
    listed = run.get("images")  # the images this run quantified (a run.json of before 0.1 lists none)
    stems = None if not isinstance(listed, list) else {i.get("stem") for i in listed if i.get("status") == "done"}
    band_files = [
        p for p in sorted(folder.glob("*_bands.csv")) if stems is None or p.name[: -len("_bands.csv")] in stems
    ]
    bands = (
        pd.concat([_read_csv(p, what="band table", producer=producer) for p in band_files], ignore_index=True)
        if band_files
        else pd.DataFrame()
    )
    annotated = {
        p.name[: -len("_annotated.png")]: p
        for p in sorted(folder.glob("*_annotated.png"))
        if stems is None or p.name[: -len("_annotated.png")] in stems
    }
    panel_path, summary_path = folder / "panel.csv", folder / "panel_summary.csv"
    panel = _read_csv(panel_path, what="panel", producer=producer) if panel_path.is_file() else None
    panel_summary = _read_csv(summary_path, what="panel summary", producer=producer) if summary_path.is_file() else None
    return BlotEvidence(
        path=folder,
        run=run,
        bands=bands,
        annotated=annotated,
        panel=panel,
        panel_summary=panel_summary,
        panel_figure=folder / "panel.png" if (folder / "panel.png").is_file() else None,
        inputs=_blot_inputs(run),
    )


def _blot_inputs(run: dict[str, Any]) -> pd.DataFrame:
    """Each input of a blot run with the checksum its run.json recorded and the file's checksum now.

    A relative input path is looked for from the report's working directory, then from the run's.
    """
    recorded = {
        str(i.get("input")): str(i.get("input_sha256") or "")
        for i in run.get("images") or []
        if isinstance(i, dict) and i.get("input") is not None
    }
    base = run.get("working_directory")
    rows = []
    for item in run.get("inputs") or []:
        path = Path(str(item))
        if not path.is_file() and base and not path.is_absolute():
            path = Path(str(base)) / path
        now = sha256_file(path) if path.is_file() else ""
        rows.append({"input": str(item), "sha256": recorded.get(str(item), ""), "sha256_now": now})
    return pd.DataFrame(rows, columns=["input", "sha256", "sha256_now"])


def check_distinct_blots(blots: Sequence[BlotEvidence]) -> None:
    """Refuse blot runs that quantified the same image: the same membrane analysed twice is not a replicate.

    Two runs share an image when an input of one has the checksum of an input of the other: the sha256 its
    ``run.json`` recorded, or, for a run.json that recorded none, the file's checksum now.

    Parameters
    ----------
    blots : sequence of BlotEvidence
        The ``--blot`` folders in the order given.

    Raises
    ------
    ValueError
        Naming both folders, the image each read and the shared checksum.
    """
    seen: dict[str, tuple[Path, str]] = {}
    for blot in blots:
        for row in blot.inputs.itertuples(index=False):
            digest = str(row.sha256 or "") or str(getattr(row, "sha256_now", "") or "")
            if not digest:
                continue
            earlier = seen.get(digest)
            if earlier is not None and earlier[0] != blot.path:
                read = f"both read {row.input}" if earlier[1] == str(row.input) else f"{earlier[1]} and {row.input}"
                raise ValueError(
                    f"--blot {earlier[0]} and --blot {blot.path} quantify the same image ({read}, sha256 "
                    f"{digest[:12]}...): the same image analysed twice is not a replicate "
                    "membrane; give each replicate blot's run once (leave one of the two folders out)"
                )
            seen.setdefault(digest, (blot.path, str(row.input)))
