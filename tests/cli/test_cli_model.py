"""`exo-vision model`: a copy of the vesicle model with other settings, used by `exo-vision tem`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.segmentation.learned.weights import load_card
from exo_vision.synthetic.tem import make_synthetic_tem


def test_model_variant_is_written_used_by_tem_and_recorded(tmp_path, capsys, caplog):
    out_model = tmp_path / "models" / "ev_unet_cups.onnx"
    assert main(["model", "--join-cups", "--out", str(out_model)]) == 0
    printed = capsys.readouterr().out
    assert (
        f"{load_card().version}+join_rounder" in printed
        and "join_rounder false -> true" in printed
        and "--model" in printed
    )
    assert load_card(out_model).thresholds.join_rounder is True

    folder = tmp_path / "in"
    folder.mkdir()
    image, _ = make_synthetic_tem(
        (512, 512), pixel_size_nm=1.0, difficulty="easy", n_vesicles=5, scale_bar=False, rng=4
    )
    tifffile.imwrite(folder / "g.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    out = tmp_path / "results"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--model", str(out_model)]) == 0
    segmenter = json.loads((out / "run.json").read_text())["images"][0]["segmenter"]
    assert segmenter["method"] == "unet" and segmenter["model"]["version"] == f"{load_card().version}+join_rounder"

    # an existing model is never overwritten; a value out of range is refused; both name the problem
    caplog.clear()
    assert main(["model", "--join-cups", "--out", str(out_model)]) == 2
    assert "ev_unet_cups.onnx exists" in caplog.text
    assert main(["model", "--flips", "3", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "flips must be 1, 2 or 4" in caplog.text and not (tmp_path / "x.onnx").exists()


def test_model_variant_with_subpixel_membrane_and_join_cups_together(tmp_path, capsys):
    out_model = tmp_path / "coarse.onnx"
    assert main(["model", "--subpixel-membrane", "--join-cups", "--out", str(out_model)]) == 0
    assert f"{load_card().version}+join_rounder+subpixel_membrane" in capsys.readouterr().out
    card = load_card(out_model)
    assert card.thresholds.subpixel_membrane is True and card.thresholds.join_rounder is True
    assert card.card["variant"]["changed"]["subpixel_membrane"] == [False, True]


def test_model_variant_with_a_second_fine_scale(tmp_path, capsys, caplog):
    out_model = tmp_path / "two_scale.onnx"
    assert main(["model", "--second-scale", "0.8", "--out", str(out_model)]) == 0
    assert f"{load_card().version}+second_scale_factor" in capsys.readouterr().out
    card = load_card(out_model)
    assert card.thresholds.second_scale_factor == 0.8
    assert card.card["variant"]["changed"]["second_scale_factor"] == [0.0, 0.8]
    assert main(["model", "--second-scale", "0.1", "--out", str(tmp_path / "y.onnx")]) == 2
    assert "second_scale_factor must be 0" in caplog.text and not (tmp_path / "y.onnx").exists()


def test_model_variant_with_grid_shifts(tmp_path, capsys, caplog):
    out_model = tmp_path / "shifts.onnx"
    assert main(["model", "--grid-shifts", "2", "--out", str(out_model)]) == 0
    assert f"{load_card().version}+grid_shifts" in capsys.readouterr().out
    card = load_card(out_model)
    assert card.thresholds.grid_shifts == 2 and card.card["variant"]["changed"]["grid_shifts"] == [1, 2]
    assert main(["model", "--grid-shifts", "3", "--out", str(tmp_path / "y.onnx")]) == 2
    assert "grid_shifts must be 1, 2 or 4" in caplog.text and not (tmp_path / "y.onnx").exists()


def test_an_out_that_is_a_folder_or_under_a_file_is_refused_with_the_fix(tmp_path, caplog):
    """Before, --out models/ wrote models.onnx, models.json and models_float.onnx beside the folder."""
    from exo_vision.cli.main import main

    folder = tmp_path / "models"
    folder.mkdir()
    assert main(["model", "--join-cups", "--out", str(folder)]) == 2
    assert f"--out {folder} is a folder; give a file name inside it, such as {folder / 'lab_model.onnx'}" in caplog.text
    (tmp_path / "notes").write_text("x")
    assert main(["model", "--join-cups", "--out", str(tmp_path / "notes" / "a.onnx")]) == 2
    assert f"{tmp_path / 'notes'} is a file, not a folder" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "notes"]


def test_flips_cost_in_help_is_the_one_the_readmes_quote(capsys):
    """`model --help`, the README and the models' README give the same cost for four flips."""
    root = Path(__file__).resolve().parents[2]
    with pytest.raises(SystemExit):
        main(["model", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "N times slower" not in help_text
    assert "4 flips: about 1.9 times the default's time per micrograph" in help_text
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    models_readme = " ".join(
        (root / "exo_vision/segmentation/learned/models/README.md").read_text(encoding="utf-8").split()
    )
    assert "at about 1.9 times the default's time per micrograph end to end" in readme
    assert "Four flips cost about 1.9 times the default's time per micrograph end to end" in models_readme


def test_the_float_network_written_beside_an_int8_copy_is_announced(tmp_path, capsys):
    out_model = tmp_path / "m" / "cups.onnx"
    assert main(["model", "--join-cups", "--out", str(out_model)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    float_copy = tmp_path / "m" / "cups_float.onnx"
    assert float_copy.is_file() and load_card(out_model).card["float_file"] == float_copy.name
    assert f"wrote {out_model}, {out_model.with_suffix('.json')} and {float_copy}" in printed
    assert "keep the three files together" in printed
    with pytest.raises(SystemExit):
        main(["model", "--help"])
    assert "also gets MODEL_float.onnx" in " ".join(capsys.readouterr().out.split())
