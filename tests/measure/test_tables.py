"""read_vesicle_table: per-vesicle tables read back, with a message naming the file and row of a bad diameter."""

from __future__ import annotations

import pytest

from exo_vision.measure.tables import NotAVesicleTable, read_vesicle_table


def test_a_blank_diameter_is_named_with_its_row(tmp_path):
    table = tmp_path / "a_vesicles.csv"
    table.write_text("label,equivalent_diameter_nm\n1,80.5\n2,\n3,120\n")
    with pytest.raises(ValueError, match="a_vesicles.csv, data row 2: equivalent_diameter_nm is blank; fill it in"):
        read_vesicle_table(table)


def test_touches_border_is_read_as_truth_values(tmp_path):
    table = tmp_path / "v.csv"
    table.write_text("equivalent_diameter_nm,touches_border\n80,no\n90,YES\n100,\n110,1\n120,False\n")
    assert read_vesicle_table(table)["touches_border"].tolist() == [False, True, False, True, False]
    table.write_text("equivalent_diameter_nm;touches_border\n80;WAHR\n90;FALSCH\n100;VRAI\n110;faux\n")
    assert read_vesicle_table(table)["touches_border"].tolist() == [True, False, True, False]
    table.write_text("equivalent_diameter_nm,touches_border\n80,no\n90,maybe\n")
    with pytest.raises(ValueError, match="v.csv, data row 2: touches_border is 'maybe', not a truth value"):
        read_vesicle_table(table)


def test_a_folder_is_not_a_table(tmp_path):
    with pytest.raises(ValueError, match="is a folder; pass the vesicle tables inside it"):
        read_vesicle_table(tmp_path)


def test_a_summary_table_is_not_a_vesicle_table(tmp_path):
    summary = tmp_path / "summary.csv"
    summary.write_text("image,n\npooled,3\n")
    with pytest.raises(NotAVesicleTable, match="summary.csv has no equivalent_diameter_nm column"):
        read_vesicle_table(summary)


@pytest.mark.parametrize("cell", ["abc", "0", "-5", "inf"])
def test_a_diameter_that_is_not_a_positive_number_is_named(tmp_path, cell):
    table = tmp_path / "v.csv"
    table.write_text(f"equivalent_diameter_nm\n80\n90\n{cell}\n")
    with pytest.raises(ValueError, match=f"v.csv, data row 3: equivalent_diameter_nm is '{cell}', not a positive"):
        read_vesicle_table(table)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_vesicle_table(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv is not a readable CSV table"):
        read_vesicle_table(empty)
