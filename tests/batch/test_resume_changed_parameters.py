"""``tem --resume`` with a changed option says which parameter differs from the earlier results it re-analyses
(facility51 F9: a mistyped option on a resume redid the whole folder, said only "0 of 13 already complete")."""

from __future__ import annotations

import logging

import imageio.v3 as iio
import numpy as np
import tifffile

from exo_vision.batch import runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.synthetic.tem import make_synthetic_tem


def _folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in (0, 1):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        tifffile.imwrite(folder / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    uncalibrated, _ = make_synthetic_tem(
        (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=2
    )
    scaled = (uncalibrated - uncalibrated.min()) / (uncalibrated.max() - uncalibrated.min())
    iio.imwrite(folder / "p.png", np.round(scaled * 255).astype(np.uint8))
    return folder


def test_a_resume_with_another_option_names_the_changed_parameter(tmp_path, caplog):
    folder, out = _folder(tmp_path), tmp_path / "out"
    runner.run_tem_batch([folder], out_dir=out, config=TemBatchConfig(workers=1, pixel_size_nm_if_missing=1.0))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        again = runner.run_tem_batch(
            [folder], out_dir=out, config=TemBatchConfig(workers=1, pixel_size_nm_if_missing=5.0), resume=True
        )
    assert [r["status"] for r in again.records] == ["done"] * 3
    (line,) = [r.getMessage() for r in caplog.records if "other parameters" in r.getMessage()]
    assert line.startswith(
        "resume: 3 input(s) have results made with other parameters than this run's "
        "(pixel_size_nm_if_missing 1.0 -> 5.0): they are analysed again"
    )
    # the same options again: everything complete, nothing said about parameters
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        third = runner.run_tem_batch(
            [folder], out_dir=out, config=TemBatchConfig(workers=1, pixel_size_nm_if_missing=5.0), resume=True
        )
    assert [r["status"] for r in third.records] == ["skipped"] * 3
    assert "other parameters" not in caplog.text


def test_changed_parameters_are_named_old_to_new():
    assert runner.changed_parameters({"a": 1.0, "b": [1, 2], "c": "x"}, {"a": 1.0, "b": [1, 3], "d": True}) == [
        "b [1, 2] -> [1, 3]",
        'c "x" -> null',
        "d null -> true",
    ]
