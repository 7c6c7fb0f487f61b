"""Per-vesicle tables read back from disk (``<image>_vesicles.csv``, ``vesicles.csv``) for histograms and figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from exo_vision._shared.csv_tables import read_csv_table

#: The column every vesicle table holds: the equivalent-circle diameter in nm.
DIAMETER_COLUMN = "equivalent_diameter_nm"
#: The flag of vesicles cut by the image border (left out of statistics by default).
BORDER_COLUMN = "touches_border"
#: The flag of those among them that touch pixels without a value (NaN or infinite groups, a padding frame)
#: rather than, or as well as, the image edge. Tables of runs older than this column have none.
MISSING_COLUMN = "touches_missing"
#: How a truth value may be written in a table cell (lower case).
TRUTH_WORDS = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    # what spreadsheets in other languages write for TRUE / FALSE (German, French, Spanish/Italian/Portuguese, Dutch)
    "wahr": True,
    "falsch": False,
    "vrai": True,
    "faux": False,
    "verdadero": True,
    "vero": True,
    "verdadeiro": True,
    "falso": False,
    "waar": True,
    "onwaar": False,
}


class NotAVesicleTable(ValueError):
    """A readable CSV table without the diameter column (a summary or bin table, say)."""


def read_vesicle_table(path: str | Path, *, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a per-vesicle CSV table and check its diameters.

    Parameters
    ----------
    path : str or Path
        A table written by ``exo-vision tem`` or the grid session (or any CSV
        with an ``equivalent_diameter_nm`` column in nm).
    text_columns : tuple of str
        Columns read as the text written, besides the naming columns
        (:data:`~exo_vision._shared.csv_tables.TEXT_COLUMNS`: ``image``, ``source_file``, ``condition`` ...),
        so that a micrograph called "001" or "NA" keeps its name.

    Returns
    -------
    DataFrame
        The table as read, with diameters as floats and a ``touches_border``
        column (if present) as booleans (blank cells False).

    Raises
    ------
    NotAVesicleTable
        When the table has no ``equivalent_diameter_nm`` column.
    ValueError
        When the file does not exist or is not a readable CSV table, a
        diameter is blank or not a positive finite number, or a
        ``touches_border`` cell is not a truth value (the message names the
        file and the data row).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder; pass the vesicle tables inside it (e.g. {path / 'vesicles.csv'} written by "
            "exo-vision tem)"
        )
    if not path.is_file():
        raise ValueError(f"table {path} does not exist; pass vesicles.csv files written by exo-vision tem")
    try:
        table = read_csv_table(path, expected_column=DIAMETER_COLUMN, text_columns=text_columns)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a readable CSV table ({err}); pass a vesicles.csv") from err
    if DIAMETER_COLUMN not in table.columns:
        raise NotAVesicleTable(
            f"{path} has no {DIAMETER_COLUMN} column (columns: {', '.join(map(str, table.columns))}); "
            "pass a vesicles.csv written by exo-vision tem"
        )
    diameters = table[DIAMETER_COLUMN]
    values = pd.to_numeric(diameters, errors="coerce")
    blank = diameters.isna()
    if blank.any():
        row = int(np.flatnonzero(blank.to_numpy())[0])
        raise ValueError(
            f"{path}, data row {row + 1}: {DIAMETER_COLUMN} is blank; fill it in, or delete the row to leave "
            "that vesicle out"
        )
    bad = values.isna() | (values <= 0) | np.isinf(values)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}, data row {row + 1}: {DIAMETER_COLUMN} is '{diameters.iloc[row]}', not a positive number "
            "of nm; pass a vesicles.csv written by exo-vision tem, or fix that row"
        )
    table[DIAMETER_COLUMN] = values.astype(float)
    if BORDER_COLUMN in table.columns:
        table[BORDER_COLUMN] = truth_values(table[BORDER_COLUMN], where=str(path))
    return table


def truth_values(cells: pd.Series, *, where: str = "the table") -> pd.Series:
    """Flag cells (``touches_border``, ``touches_other`` ...) as booleans: True/False, 1/0, yes/no in any
    case, as a spreadsheet or ``pd.read_csv(dtype=str)`` leaves them; blank is False.

    Raises
    ------
    ValueError
        For a cell that is no truth value, naming ``where``, the data row and the column.
    """
    if cells.dtype == bool:
        return cells
    words = cells.map(lambda v: str(v).strip().lower() if pd.notna(v) else "false")
    words = words.replace({"1.0": "1", "0.0": "0", "": "false"})
    known = words.isin(list(TRUTH_WORDS))
    if not known.all():
        row = int(np.flatnonzero(~known.to_numpy())[0])
        raise ValueError(
            f"{where}, data row {row + 1}: {cells.name} is '{cells.iloc[row]}', not a truth value; "
            "write True or False (1/0, yes/no and a spreadsheet's WAHR/FALSCH, VRAI/FAUX ... are read too)"
        )
    return words.map(TRUTH_WORDS).astype(bool)


def cut_by_missing_flags(table: pd.DataFrame, *, where: str = "the table") -> pd.Series:
    """Per row, whether the vesicle touches pixels without a value (:data:`MISSING_COLUMN`); all False for a
    table without the column (one of an older run, which did not record it)."""
    if MISSING_COLUMN not in table.columns:
        return pd.Series(False, index=table.index, name=MISSING_COLUMN)
    return truth_values(table[MISSING_COLUMN], where=where)


def table_group_names(paths: list[Path]) -> dict[Path, str]:
    """A group name per table file: vesicles.csv files after their folder (the run), others after their stem.

    Names that two files would share (``ctrl/results/vesicles.csv`` and
    ``ev/results/vesicles.csv``) take more of their folders until they differ
    (``ctrl/results`` and ``ev/results``), so that different samples are never pooled.
    """

    def name(path: Path, depth: int) -> str:
        parts = path.resolve().with_suffix("").parts
        if path.stem == "vesicles" and len(parts) > 1:
            parts = parts[:-1]
        return "/".join(parts[-depth:])

    names = {p: name(p, 1) for p in paths}
    for depth in range(2, max((len(p.resolve().parts) for p in paths), default=1) + 1):
        clashing = {n for n in names.values() if list(names.values()).count(n) > 1}
        if not clashing:
            break
        names = {p: name(p, depth) if n in clashing else n for p, n in names.items()}
    return names


#: End of the name of a per-image vesicle table (``<stem>_vesicles.csv``) and of its done marker.
TABLE_SUFFIX, MARKER_SUFFIX = "_vesicles.csv", "_done.json"


def recorded_exclude_border(table_path: str | Path) -> bool | None:
    """The ``exclude_border`` recorded beside a vesicle table written by ``exo-vision tem`` or the grid session.

    Parameters
    ----------
    table_path : str or Path
        A per-image ``<stem>_vesicles.csv`` (its ``<stem>_done.json`` records the parameters) or a run's
        ``vesicles.csv`` (its ``run.json`` does).

    Returns
    -------
    bool or None
        False when the vesicles cut by the image edge were counted (``--include-border``), True when they
        were left out, None when no readable record lies beside the table.
    """
    path = Path(table_path)
    if path.name.endswith(TABLE_SUFFIX):
        record = path.with_name(path.name[: -len(TABLE_SUFFIX)] + MARKER_SUFFIX)
    elif path.name == "vesicles.csv":
        record = path.with_name("run.json")
    else:
        return None
    try:
        parameters = json.loads(record.read_text(encoding="utf-8")).get("parameters") or {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    value = parameters.get("exclude_border") if isinstance(parameters, dict) else None
    return value if isinstance(value, bool) else None
