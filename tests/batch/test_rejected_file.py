"""``S_rejected.csv``: where the candidates a run did not count lie (lab51 F11: before, only their counts by reason
reached run.json and the report)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.batch import image_outputs, runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.synthetic.tem import make_synthetic_tem

PX = 1.0


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    image, _ = make_synthetic_tem(
        (512, 512), pixel_size_nm=PX, difficulty="easy", diameters_nm=[50.0, 60.0, 130.0, 140.0], rng=5, scale_bar=False
    )
    tifffile.imwrite(folder / "m.tif", image, imagej=True, resolution=(1 / PX, 1 / PX), metadata={"unit": "nm"})
    return folder


def _run(folder, out, **kwargs):
    config = TemBatchConfig(workers=1, max_diameter_nm=100.0)  # the two large vesicles are rejected by size
    return runner.run_tem_batch([folder], out_dir=out, config=config, **kwargs)


def test_the_rejected_candidates_are_written_with_their_place_size_and_reason(folder, tmp_path):
    out = tmp_path / "out"
    result = _run(folder, out)
    (record,) = result.records
    table = pd.read_csv(out / "m_rejected.csv")
    assert tuple(table.columns) == image_outputs.REJECTED_FILE_COLUMNS
    assert len(table) == sum(record["rejected_by_reason"].values()) >= 2
    assert (
        (table["reason"] == "larger than max_diameter_nm").sum()
        == record["rejected_by_reason"]["larger than max_diameter_nm"]
        >= 2
    )
    np.testing.assert_allclose(table["centroid_x_px"], table["centroid_x_nm"] / PX)
    assert (table.loc[table["reason"] == "larger than max_diameter_nm", "equivalent_diameter_nm"] > 100).all()
    marker = json.loads((out / "m_done.json").read_text())
    assert marker["outputs"]["rejected"]["file"] == "m_rejected.csv"


def test_resume_keeps_a_complete_result_and_redoes_one_whose_rejected_table_is_gone(folder, tmp_path):
    out = tmp_path / "out"
    _run(folder, out)
    reference = (out / "m_rejected.csv").read_bytes()
    assert [r["status"] for r in _run(folder, out, resume=True).records] == ["skipped"]
    (out / "m_rejected.csv").unlink()
    assert [r["status"] for r in _run(folder, out, resume=True).records] == ["done"]
    assert (out / "m_rejected.csv").read_bytes() == reference
    # a marker that lists no rejected table (a result curated in the grid session) is complete without one
    marker = json.loads((out / "m_done.json").read_text())
    del marker["outputs"]["rejected"]
    (out / "m_done.json").write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n")
    (out / "m_rejected.csv").unlink()
    assert [r["status"] for r in _run(folder, out, resume=True).records] == ["skipped"]


def test_a_rejected_table_that_cannot_be_written_leaves_none_of_the_image_outputs(folder, tmp_path, monkeypatch):
    out = tmp_path / "out"

    written = image_outputs.table_csv_text

    def broken(table):  # the labels and the vesicle table are staged by then
        if "centroid_x_px" in table.columns:
            raise OSError(28, "No space left on device")
        return written(table)

    monkeypatch.setattr(image_outputs, "table_csv_text", broken)
    (record,) = _run(folder, out).records
    assert record["status"] == "failed"
    assert sorted(p.name for p in out.glob("m_*")) == []


def test_a_result_without_candidate_positions_writes_no_rejected_table():
    empty = pd.DataFrame({"reason": pd.Series(dtype=str)})
    assert image_outputs.rejected_file_table(empty, pixel_size_nm=1.0) is None
