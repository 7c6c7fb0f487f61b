"""A run made with a model named by a relative path records that path in run.json and in each done-marker; reused
from another working directory (``tem --resume``, ``tem --config run.json``, ``report``) the path is read from the
run's folder, not from the working directory (before: ``--resume`` analysed every image again, its recorded model
"differing" from the same model named absolutely; a card path recorded relative was looked for from the working
directory by the report)."""

from __future__ import annotations

import json
import re

import tifffile

from exo_vision.batch import runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.cli.main import main
from exo_vision.segmentation.learned.weights import parameters_from_folder, run_from_folder
from exo_vision.synthetic.tem import make_synthetic_tem


def test_recorded_relative_model_paths_are_read_from_the_record_folder(tmp_path):
    folder = tmp_path / "run"
    run = {
        "parameters": {"model": "models/lab.onnx", "seed": 0},
        "images": [
            {
                "stem": "m",
                "parameters": {"model": "models/lab.onnx"},
                "segmenter": {"method": "unet", "model": {"file": "models/lab.onnx", "card": "models/lab.json"}},
            },
            {"stem": "n", "segmenter": {"model": {"file": "/abs/lab.onnx", "card": "/abs/lab.json"}}},
            {"stem": "o", "parameters": {"model": "ev-unet"}},
        ],
    }
    out = run_from_folder(run, folder)
    expected = str((folder / "models" / "lab.onnx").resolve())
    assert out["parameters"] == {"model": expected, "seed": 0} and out["images"][0]["parameters"]["model"] == expected
    model = out["images"][0]["segmenter"]["model"]
    assert model == {"file": expected, "card": str((folder / "models" / "lab.json").resolve())}
    assert out["images"][1] == run["images"][1] and out["images"][2] == run["images"][2]  # absolute, shipped: kept
    assert run["parameters"]["model"] == "models/lab.onnx"  # the record read is not changed
    assert parameters_from_folder({"model": None}, folder) == {"model": None}


def test_a_run_made_with_a_relative_model_is_reused_from_another_working_directory(tmp_path, tiny_base, monkeypatch):
    from exo_vision.learn.finetune import copy_model

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    image, _ = make_synthetic_tem(
        (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=5, scale_bar=False, rng=3
    )
    tifffile.imwrite(inputs / "m.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    model = copy_model(tiny_base, out / "models" / "lab.onnx")
    card = json.loads(model.with_suffix(".json").read_text())  # as a fine-tuned model's card says it
    card["base_model"] = {"name": "ev-unet", "version": "1.0", "sha256": "0" * 64}
    model.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")

    monkeypatch.chdir(out)  # the model named relative to the working directory, which is the output folder
    config = TemBatchConfig(workers=1, method="unet", model="models/lab.onnx")
    result = runner.run_tem_batch([inputs], out_dir=out, config=config)
    assert [r["status"] for r in result.records] == ["done"]
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["parameters"]["model"] == "models/lab.onnx"
    assert json.loads((out / "m_done.json").read_text())["parameters"]["model"] == "models/lab.onnx"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    args = ["--workers", "1", "--method", "unet", "--model", str(model)]
    assert main(["tem", str(inputs), "--out", str(out), "--resume", *args]) in (0, 1)
    statuses = [r["status"] for r in json.loads((out / "run.json").read_text())["images"]]
    assert statuses == ["skipped"]  # before: "done", analysed again

    assert main(["tem", str(inputs), "--out", str(tmp_path / "again"), "--config", str(out / "run.json")]) in (0, 1)
    assert json.loads((tmp_path / "again" / "run.json").read_text())["parameters"]["model"] == str(model.resolve())

    page = tmp_path / "report.html"
    assert main(["report", "--tem", str(out), "--out", str(page)]) == 0
    text = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
    assert "is not where the run read it" not in text  # before: the card was looked for in the working directory
    assert "lab" in text
