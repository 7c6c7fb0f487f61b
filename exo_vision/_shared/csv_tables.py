"""CSV tables as spreadsheets re-save them.

A table exo_vision wrote is comma-separated with a decimal point. Opened and
saved again in a spreadsheet set to a European locale it comes back separated
by semicolons with decimal commas, or by tabs; read as commas, the whole
header is one column and every check then names the wrong problem.
:func:`read_csv_table` reads such a file as its separator says.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Separators a spreadsheet writes instead of the comma, in the order tried.
OTHER_SEPARATORS = (";", "\t")
#: A number written with a decimal comma, as a spreadsheet in a European locale saves it.
DECIMAL_COMMA_NUMBER = r"[-+]?\d+,\d+(?:[eE][-+]?\d+)?"


def read_csv_table(path: str | Path, *, expected_column: str) -> pd.DataFrame:
    """Read a CSV table whose header holds ``expected_column``, whatever its separator.

    Parameters
    ----------
    path : str or Path
        The table.
    expected_column : str
        A column the table must have; when the comma-separated read lacks it and the one header cell
        holds it between semicolons or tabs, the file is read with that separator (and decimal commas,
        when the numbers use them).

    Returns
    -------
    pandas.DataFrame
        The table as read (its columns unchecked beyond ``expected_column``'s detection).

    Raises
    ------
    pandas.errors.ParserError, pandas.errors.EmptyDataError, UnicodeDecodeError
        As :func:`pandas.read_csv` does.
    """
    table = pd.read_csv(path)
    if expected_column in table.columns or len(table.columns) != 1:
        return table
    header = str(table.columns[0])
    for separator in OTHER_SEPARATORS:
        if expected_column in header.split(separator):
            table = pd.read_csv(path, sep=separator)
            if any(_decimal_commas(table[name]) for name in table.columns):
                table = pd.read_csv(path, sep=separator, decimal=",")
            return table
    return table


def _decimal_commas(column: pd.Series) -> bool:
    """Whether a column read as text holds numbers written with a decimal comma ("96,5")."""
    if pd.api.types.is_numeric_dtype(column):
        return False
    values = column.dropna().astype(str)
    return bool(len(values)) and bool(values.str.fullmatch(DECIMAL_COMMA_NUMBER).all())
