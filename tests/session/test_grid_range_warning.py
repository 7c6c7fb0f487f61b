"""The grid session records in a micrograph's done-marker the warning that a fine-tuned model was used more than
twice outside the pixel sizes it was trained on, as ``exo-vision tem`` records it; a single trained pixel size reads
"2 nm/px", not "2-2 nm/px".

Before, the dock showed the warning but the saved marker held only the pixel-size one, so the report and summaries
of a session folder could not say that the lab model was used outside its range.
"""

from __future__ import annotations

import json

import tifffile

from exo_vision.cli.main import main
from exo_vision.session.grid import GridSession, GridSettings
from exo_vision.synthetic.tem_random import make_random_tem
from tests._helpers import curated_as_analysed
from tests.segmentation.test_trained_pixel_range import _model, _range_warnings, _warnings

PIXEL_SIZE_NM = 5.0


def test_one_trained_pixel_size_reads_as_one(tmp_path):
    model = _model(tmp_path, lambda card: card.update(trained_pixel_size_nm=[2.0, 2.0]))
    found = _range_warnings(_warnings(model, PIXEL_SIZE_NM))
    assert len(found) == 1 and "trained on micrographs of 2 nm/px; this micrograph's pixel size, 5 nm/px" in found[0]


def _far_grid(tmp_path):
    """A grid folder holding one calibrated generated micrograph, far.tif, at PIXEL_SIZE_NM."""
    grid = tmp_path / "grid"
    grid.mkdir()
    image = make_random_tem((192, 192), pixel_size_nm=PIXEL_SIZE_NM, rng=5).image
    resolution = (1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM)
    tifffile.imwrite(grid / "far.tif", image, imagej=True, resolution=resolution, metadata={"unit": "nm"})
    return grid


def test_the_session_saves_the_trained_range_warning_as_tem_does(tmp_path):
    model = _model(tmp_path / "model", lambda card: card.update(trained_pixel_size_nm=[2.0, 2.0]))
    grid = _far_grid(tmp_path)

    session = GridSession.open(grid, tmp_path / "out", GridSettings(method="unet", model=str(model)))
    session.index = 0
    path = session.files[0]
    data = session.read(path)
    result = session.analyse(data)
    assert _range_warnings(result.warnings)  # shown in the dock from the segmentation
    session.save(path, curated_as_analysed(data, result))
    saved = _range_warnings(json.loads((tmp_path / "out" / "far_done.json").read_text())["warnings"])
    assert len(saved) == 1 and "2 nm/px" in saved[0] and "5 nm/px" in saved[0]

    assert main(["tem", str(grid), "--out", str(tmp_path / "tem"), "--model", str(model), "--workers", "1"]) == 0
    tem = _range_warnings(json.loads((tmp_path / "tem" / "far_done.json").read_text())["warnings"])
    assert saved == tem


def test_a_resave_reads_a_relative_model_file_from_the_output_folder_not_the_working_directory(tmp_path, monkeypatch):
    """A done-marker whose segmenter names its model relative to the output folder (as ``exo-vision tem --resume``
    and ``report`` read it): re-saved for a new border rule from another working directory, the marker kept the
    trained-range warning. Before, the model was looked for from the working directory, not found, and the
    warning was dropped from the re-saved marker."""
    from dataclasses import replace

    out = tmp_path / "out"
    model = _model(out / "models", lambda card: card.update(trained_pixel_size_nm=[2.0, 2.0]))
    grid = _far_grid(tmp_path)
    session = GridSession.open(grid, out, GridSettings(method="unet", model=str(model)))
    session.index = 0
    path = session.files[0]
    data = session.read(path)
    result = session.analyse(data)
    curated = curated_as_analysed(data, result)
    session.save(path, curated)
    marker_path = out / "far_done.json"
    marker = json.loads(marker_path.read_text())
    assert len(_range_warnings(marker["warnings"])) == 1
    # the folder's record names its model relative to the folder (moved, or written so by hand)
    marker["segmenter"]["model"].update(file="models/lab.onnx", card="models/lab.json")
    marker_path.write_text(json.dumps(marker, indent=1))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    session.settings = replace(session.settings, exclude_border=not session.settings.exclude_border)
    assert session.apply_border_rule() == ([path], [])
    resaved = json.loads(marker_path.read_text())
    assert resaved["parameters"]["exclude_border"] == session.settings.exclude_border
    assert _range_warnings(resaved["warnings"]) == _range_warnings(marker["warnings"])  # before: []
    assert resaved["segmenter"]["model"]["file"] == "models/lab.onnx"  # the record itself is kept as it was
