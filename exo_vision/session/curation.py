"""A curated micrograph as plain data: its labels, vesicle table, morphology overrides and edit log, and
how the grid session writes and reads it (the CLI's per-image files plus ``<stem>_edits.csv`` and
``<stem>_curation.json``)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exo_vision._shared.atomic import atomic_write_text
from exo_vision._shared.csv_tables import csv_text, read_written_csv
from exo_vision.io.image_data import ImageData

#: Columns of the edit log saved with curated results.
EDIT_LOG_COLUMNS = ("time_utc", "action", "label", "detail")
#: Edit-log action of a person saying a micrograph's outlines are right as they are (no edit needed): such a
#: micrograph counts as curated for fine-tuning, as an edited one does (:func:`curation_counts`).
CHECKED_ACTION = "checked"


def curation_counts(edit_log: list[dict[str, Any]]) -> tuple[int, bool]:
    """The edits a person made (the log's records other than :data:`CHECKED_ACTION`) and whether they marked the
    outlines as checked."""
    checked = any(str(row.get("action")) == CHECKED_ACTION for row in edit_log)
    return sum(str(row.get("action")) != CHECKED_ACTION for row in edit_log), checked


def edit_record(action: str, label: int | None, detail: str = "") -> dict[str, Any]:
    """One curation edit (what, which label, when, in UTC to the second); ``label`` None is stored as -1."""
    return {
        "time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "action": action,
        "label": -1 if label is None else int(label),
        "detail": detail,
    }


def edit_log_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Edit records as a tidy table (columns :data:`EDIT_LOG_COLUMNS`)."""
    frame = pd.DataFrame.from_records(rows, columns=list(EDIT_LOG_COLUMNS))
    return frame.astype({"time_utc": str, "action": str, "label": "int64", "detail": str})


@dataclass
class CuratedResult:
    """What the user left on screen for one micrograph, ready to be saved.

    Attributes
    ----------
    image : ImageData
        The micrograph with the calibration in use (possibly changed by the user).
    labels : (M, N) ndarray of int
        Vesicle labels after curation.
    table : pandas.DataFrame
        Per-vesicle measurements of ``labels`` (morphology overrides applied).
    polarity : str or None
        ``"dark"`` or ``"bright"`` vesicles; None when unknown (saved as ``"bright"`` in the marker, as before).
    analysed_area_nm2 : float or None
        Area the counts refer to; None or a non-positive value when unknown.
    parameters : dict
        Analysis parameters the labels were made with (``MicrographResult.parameters``).
    morphology_overrides : dict of int to str
        Morphology the user set by hand, by label.
    edit_log : list of dict
        Edit records (:func:`edit_record`), oldest first.
    segmenter : dict or None
        The method and model that made the labels before curation
        (``MicrographResult.segmenter``); None when unknown.
    rejected_by_reason : dict of str to int or None
        Candidates the segmentation left out, counted by reason
        (:func:`~exo_vision.tem_analysis.rejected_by_reason`); None when unknown.
    rejected : pandas.DataFrame or None
        Those candidates one per row: ``centroid_x_nm``, ``centroid_y_nm`` (nm), ``equivalent_diameter_nm`` and
        ``reason``, as :attr:`~exo_vision.segmentation.result.VesicleSegmentation.rejected` gives them or
        ``S_rejected.csv`` holds them; saved as ``S_rejected.csv``. None when unknown (no file is written).
    """

    image: ImageData
    labels: np.ndarray
    table: pd.DataFrame
    polarity: str | None = None
    analysed_area_nm2: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    morphology_overrides: dict[int, str] = field(default_factory=dict)
    edit_log: list[dict[str, Any]] = field(default_factory=list)
    segmenter: dict[str, Any] | None = None
    rejected_by_reason: dict[str, int] | None = None
    rejected: pd.DataFrame | None = None


@dataclass
class SavedMicrograph:
    """A micrograph saved by the session, as read back to resume its curation.

    ``pixel_size_nm`` / ``pixel_size_source`` are the calibration saved with the curation (None when the
    curation file is missing); ``parameters``, ``segmenter`` and ``rejected_by_reason`` are None when the
    done-marker records none; ``rejected`` (the rows of ``S_rejected.csv``) and ``table`` (the saved vesicle table
    of ``labels``, ``S_vesicles.csv``) are None without their file.
    """

    labels: np.ndarray
    polarity: str | None
    analysed_area_nm2: float | None
    parameters: dict[str, Any] | None
    morphology_overrides: dict[int, str]
    edit_log: list[dict[str, Any]]
    pixel_size_nm: float | None
    pixel_size_source: str | None
    segmenter: dict[str, Any] | None = None
    rejected_by_reason: dict[str, int] | None = None
    rejected: pd.DataFrame | None = None
    table: pd.DataFrame | None = None


def curation_json(curated: CuratedResult) -> str:
    """Text of ``<stem>_curation.json``: polarity, morphology overrides and the calibration used."""
    return json.dumps(
        {
            "polarity": curated.polarity,
            "morphology_overrides": {str(k): v for k, v in curated.morphology_overrides.items()},
            "pixel_size_nm": curated.image.pixel_size_nm,
            "pixel_size_source": curated.image.pixel_size_source,
        },
        indent=2,
    )


def write_curation_record(curated: CuratedResult, *, edits: Path, curation: Path) -> None:
    """Atomically write the edit log CSV and the curation JSON of one micrograph."""
    atomic_write_text(edits, csv_text(edit_log_table(curated.edit_log)))
    atomic_write_text(curation, curation_json(curated))


def read_saved(paths: dict[str, Path]) -> SavedMicrograph:
    """Read a saved micrograph back from its files (``labels``, ``marker``, ``curation``, ``edits``,
    ``rejected``, ``vesicles``).

    The labels file must exist; the others are optional.
    """
    import tifffile

    labels = tifffile.imread(paths["labels"]).astype(np.int32)
    curation = json.loads(paths["curation"].read_text()) if paths["curation"].is_file() else {}
    marker = json.loads(paths["marker"].read_text()) if paths["marker"].is_file() else {}
    rejected = paths.get("rejected")
    table = paths.get("vesicles")
    edit_log: list[dict[str, Any]] = []
    if paths["edits"].is_file():
        edit_log = read_written_csv(paths["edits"], keep_default_na=False).to_dict("records")
    return SavedMicrograph(
        labels=labels,
        polarity=curation.get("polarity") or marker.get("polarity"),
        analysed_area_nm2=marker.get("analysed_area_nm2"),
        parameters=marker.get("parameters"),
        morphology_overrides={int(k): v for k, v in curation.get("morphology_overrides", {}).items()},
        edit_log=edit_log,
        pixel_size_nm=curation.get("pixel_size_nm"),
        pixel_size_source=curation.get("pixel_size_source"),
        segmenter=marker.get("segmenter"),
        rejected_by_reason=marker.get("rejected_by_reason"),
        rejected=read_written_csv(rejected) if rejected is not None and rejected.is_file() else None,
        table=read_written_csv(table) if table is not None and table.is_file() else None,
    )
