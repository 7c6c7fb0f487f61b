"""CSV tables as spreadsheets re-save them.

A table exo_vision wrote is comma-separated with a decimal point. Opened and
saved again in a spreadsheet set to a European locale it comes back separated
by semicolons with decimal commas, or by tabs; read as commas, the whole
header is one column and every check then names the wrong problem.
:func:`read_csv_table` reads such a file as its separator says.

Text cells come from file, folder, lane and marker names that other people
chose; one that starts like a formula (``=HYPERLINK(...)``, ``@SUM(...)``,
``+cmd``) would run when the table is opened in a spreadsheet. :func:`csv_text`
writes such a cell behind an apostrophe (the spreadsheets' own mark for "text,
not a formula"), and every reader here takes it off again, so names read back
as they were.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

#: Separators a spreadsheet writes instead of the comma, in the order tried.
OTHER_SEPARATORS = (";", "\t")
#: Columns that name things (micrographs, files, conditions, lanes, markers): read as the text written,
#: so that a micrograph called "001" or "NA" keeps its name instead of becoming 1 or a missing value.
TEXT_COLUMNS = ("image", "source_file", "condition", "group", "lane_name", "marker", "name")
#: A number written with a decimal comma, as a spreadsheet in a European locale saves it.
DECIMAL_COMMA_NUMBER = r"[-+]?\d+,\d+(?:[eE][-+]?\d+)?"


#: First characters that make a spreadsheet read a cell as a formula (besides tab and carriage return).
FORMULA_STARTS = frozenset("=+-@\t\r")
#: A cell written behind :func:`csv_text`'s apostrophe: one or more apostrophes, then a formula start.
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _escaped_cell(value: Any) -> Any:
    """``value`` behind an apostrophe when a spreadsheet would run it as a formula (numbers such as "-2.5" not)."""
    if isinstance(value, str) and value.lstrip("'")[:1] in FORMULA_STARTS and not _is_number(value):
        return "'" + value
    return value


def _unescaped_cell(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and _ESCAPED.match(value) else value


def _map_text_cells(table: pd.DataFrame, function) -> pd.DataFrame:
    columns = [c for c in table.columns if table[c].dtype == object or pd.api.types.is_string_dtype(table[c])]
    if not columns:
        return table
    table = table.copy()
    for column in columns:
        table[column] = table[column].map(function).astype(object)
    return table


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose text cells a spreadsheet cannot run as formulas (see the module's note)."""
    return _map_text_cells(table, _escaped_cell)


def as_written(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` read from a CSV :func:`csv_text` wrote, its text cells as they were before the escape."""
    return _map_text_cells(table, _unescaped_cell)


def csv_text(table: pd.DataFrame, **options: Any) -> str:
    """CSV text of ``table`` (no index, ``\n`` line ends, ``options`` to :meth:`pandas.DataFrame.to_csv`),
    its text cells spreadsheet-safe (:func:`spreadsheet_safe`)."""
    return spreadsheet_safe(table).to_csv(index=False, lineterminator="\n", **options)


def read_written_csv(path: str | Path, **options: Any) -> pd.DataFrame:
    """:func:`pandas.read_csv` of a table exo_vision wrote, its text cells as they were (:func:`as_written`)."""
    return as_written(pd.read_csv(path, **options))


def read_csv_table(path: str | Path, *, expected_column: str, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV table whose header holds ``expected_column``, whatever its separator.

    Parameters
    ----------
    path : str or Path
        The table.
    expected_column : str
        A column the table must have; when the comma-separated read lacks it and the one header cell
        holds it between semicolons or tabs, the file is read with that separator (and decimal commas,
        when the numbers use them).
    text_columns : tuple of str
        Columns read as the text written (no number or missing-value conversion; a blank cell is ""),
        besides :data:`TEXT_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        The table as read (its columns unchecked beyond ``expected_column``'s detection).

    Raises
    ------
    pandas.errors.ParserError, pandas.errors.EmptyDataError
        As :func:`pandas.read_csv` does.
    ValueError
        For a file that is not UTF-8 (nor UTF-16 with its mark), naming the fix.
    """
    text = (*TEXT_COLUMNS, *text_columns)
    try:
        table = _read(path, text, **_encoding(path))
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {err.object[err.start]:#04x} at position {err.start}): a spreadsheet "
            "saved it in its own encoding; save it again as 'CSV UTF-8' (Excel: File > Save As > CSV UTF-8)"
        ) from None
    if expected_column in table.columns or len(table.columns) != 1:
        return table
    header = str(table.columns[0])
    for separator in OTHER_SEPARATORS:
        if expected_column in header.split(separator):
            table = _read(path, text, sep=separator, **_encoding(path))
            if any(_decimal_commas(table[name]) for name in table.columns if name not in text):
                table = _read(path, text, sep=separator, decimal=",", **_encoding(path))
            return table
    return table


def _encoding(path: str | Path) -> dict[str, str]:
    """``{"encoding": "utf-16"}`` for a file that starts with a UTF-16 byte-order mark (Excel's "Unicode
    text"), else no option (UTF-8, with or without its mark)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except OSError:
        return {}
    return {"encoding": "utf-16"} if head in (b"\xff\xfe", b"\xfe\xff") else {}


def _read(path: str | Path, text: tuple[str, ...], **options: str) -> pd.DataFrame:
    """``pd.read_csv(path, **options)`` with the columns named in ``text`` as the strings written."""
    table = pd.read_csv(path, **options)
    names = [name for name in table.columns if name in text]
    if names:
        written = pd.read_csv(path, usecols=names, dtype=str, keep_default_na=False, **options)
        for name in names:
            table[name] = written[name].astype(object)
    return as_written(table)


def _decimal_commas(column: pd.Series) -> bool:
    """Whether a column read as text holds numbers written with a decimal comma ("96,5")."""
    if pd.api.types.is_numeric_dtype(column):
        return False
    values = column.dropna().astype(str)
    return bool(len(values)) and bool(values.str.fullmatch(DECIMAL_COMMA_NUMBER).all())
