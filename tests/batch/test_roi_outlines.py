"""`tem --save-rois` names the vesicles whose ROI outline is not exactly their pixels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from exo_vision.batch import runner
from exo_vision.cli.main import main

SAMPLE = Path(__file__).resolve().parents[2] / "sample_images" / "tem_medium_0.8nm.tif"


def test_a_vesicle_with_a_hole_is_named_when_its_roi_is_written(tmp_path, monkeypatch):
    real = runner.analyse_micrograph

    def with_a_hole(image, params):
        result = real(image, params)
        label = int(result.table["label"].iloc[0])
        rows, cols = np.nonzero(result.labels == label)
        result.labels[int(rows.mean()), int(cols.mean())] = 0  # one pixel in its middle
        return result

    monkeypatch.setattr(runner, "analyse_micrograph", with_a_hole)
    shutil.copy(SAMPLE, tmp_path / "a.tif")
    out = tmp_path / "out"
    assert main(["tem", str(tmp_path / "a.tif"), "--out", str(out), "--save-rois"]) == 0
    (image,) = json.loads((out / "run.json").read_text())["images"]
    (warning,) = [w for w in image["warnings"] if w.startswith("ROI set:")]
    assert "the outline of 1 vesicle(s) (" in warning and "(1 px in all)" in warning
