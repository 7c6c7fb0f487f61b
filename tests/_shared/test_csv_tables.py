"""Tables re-saved by spreadsheets: semicolons with decimal commas, tabs."""

from __future__ import annotations

import pandas as pd

from exo_vision._shared.csv_tables import read_csv_table


def test_semicolons_with_decimal_commas_tabs_and_commas_read_alike(tmp_path):
    (tmp_path / "eu.csv").write_text("image;n;mean_diameter_nm\nA;3;96,5\npooled;3;96,5\n")
    (tmp_path / "tab.csv").write_text("image\tn\tmean_diameter_nm\nA\t3\t96.5\npooled\t3\t96.5\n")
    (tmp_path / "plain.csv").write_text("image,n,mean_diameter_nm\nA,3,96.5\npooled,3,96.5\n")
    tables = [read_csv_table(tmp_path / f, expected_column="image") for f in ("eu.csv", "tab.csv", "plain.csv")]
    for table in tables:
        pd.testing.assert_frame_equal(table, tables[-1])
    assert tables[0]["mean_diameter_nm"].iloc[0] == 96.5


def test_a_table_without_the_column_is_returned_as_read(tmp_path):
    (tmp_path / "other.csv").write_text("x;y\n1;2\n")  # semicolons, but not the expected table
    table = read_csv_table(tmp_path / "other.csv", expected_column="image")
    assert list(table.columns) == ["x;y"]


FORMULAS = ['=HYPERLINK("http://x")', "@SUM(1+1)*cmd|' -c calc'!A0", "+cmd", "-2+3", "\t=1", "'=1+1", "''@x"]
PLAIN = ["grid A", "-2.5", "1e-3", "it's", "", "a=b"]


def test_formula_cells_are_written_behind_an_apostrophe_and_read_back_as_they_were(tmp_path):
    from exo_vision._shared.csv_tables import csv_text, read_written_csv

    table = pd.DataFrame({"image": FORMULAS + PLAIN, "n": range(len(FORMULAS) + len(PLAIN))})
    text = csv_text(table)
    path = tmp_path / "t.csv"
    path.write_text(text)
    cells = pd.read_csv(path, dtype=str, keep_default_na=False)["image"].tolist()
    assert all(c.startswith("'") for c in cells[: len(FORMULAS)])
    assert cells[len(FORMULAS) :] == PLAIN
    assert read_written_csv(path, keep_default_na=False)["image"].tolist() == FORMULAS + PLAIN
    assert read_csv_table(path, expected_column="image")["image"].tolist() == FORMULAS + PLAIN
    assert read_written_csv(path)["n"].tolist() == list(range(len(table)))


def test_a_spreadsheet_s_own_encodings_are_read_or_named_with_the_fix(tmp_path):
    import pytest

    text = "image;n;mean_diameter_nm\nGröße;3;96,5\n"
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))  # Excel's "Unicode text", with its mark
    table = read_csv_table(tmp_path / "u16.csv", expected_column="image")
    assert table["image"].tolist() == ["Größe"] and table["mean_diameter_nm"].iloc[0] == 96.5
    (tmp_path / "cp1252.csv").write_bytes(text.encode("cp1252"))
    with pytest.raises(ValueError, match=r"cp1252.csv is not UTF-8 text .*save it again as 'CSV UTF-8'"):
        read_csv_table(tmp_path / "cp1252.csv", expected_column="image")
