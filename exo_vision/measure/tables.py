"""Per-vesicle tables read back from disk (``<image>_vesicles.csv``, ``vesicles.csv``) for histograms and figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: The column every vesicle table holds: the equivalent-circle diameter in nm.
DIAMETER_COLUMN = "equivalent_diameter_nm"


class NotAVesicleTable(ValueError):
    """A readable CSV table without the diameter column (a summary or bin table, say)."""


def read_vesicle_table(path: str | Path) -> pd.DataFrame:
    """Read a per-vesicle CSV table and check its diameters.

    Parameters
    ----------
    path : str or Path
        A table written by ``exo-vision tem`` or the grid session (or any CSV
        with an ``equivalent_diameter_nm`` column in nm).

    Returns
    -------
    DataFrame
        The table as read; blank diameter cells stay NaN.

    Raises
    ------
    NotAVesicleTable
        When the table has no ``equivalent_diameter_nm`` column.
    ValueError
        When the file does not exist or is not a readable CSV table, or a
        diameter is not a positive finite number (the message names the file
        and the data row).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"table {path} does not exist; pass vesicles.csv files written by exo-vision tem")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a readable CSV table ({err}); pass a vesicles.csv") from err
    if DIAMETER_COLUMN not in table.columns:
        raise NotAVesicleTable(
            f"{path} has no {DIAMETER_COLUMN} column (columns: {', '.join(map(str, table.columns))}); "
            "pass a vesicles.csv written by exo-vision tem"
        )
    diameters = table[DIAMETER_COLUMN]
    values = pd.to_numeric(diameters, errors="coerce")
    bad = (values.isna() & diameters.notna()) | (values <= 0) | np.isinf(values)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}, data row {row + 1}: {DIAMETER_COLUMN} is '{diameters.iloc[row]}', not a positive number "
            "of nm; pass a vesicles.csv written by exo-vision tem, or fix that row"
        )
    return table
