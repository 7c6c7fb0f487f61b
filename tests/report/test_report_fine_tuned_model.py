"""The report names a fine-tuned model's base model, that it was fine-tuned, on how much curated data, on partial
outlines, and its validation figures, read from the card the run recorded.

Before, the page named the model only as "<name> <version>" and its checksum: a reader could not tell that the
outlines came from a lab fine-tune whose validation precision was a lower bound.
"""

from __future__ import annotations

import html
import json
import re

import tifffile

from exo_vision.cli.main import main
from exo_vision.segmentation.learned.weights import load_card
from exo_vision.synthetic.tem_random import make_random_tem
from tests.segmentation.test_trained_pixel_range import _model

PIXEL_SIZE_NM = 2.0


def _fine_tuned(card: dict) -> None:
    """A card as `exo-vision train --partial-outlines` writes it (its settings as data and in its notes)."""
    base = load_card().summary()
    card["version"] = "1.0+ft"
    card["base_model"] = {k: base[k] for k in ("name", "version", "sha256")}
    card["training"]["data"] = {
        "source": "curated micrographs (fine-tuning)",
        "curated_vesicles": 143,
        "training_vesicles": 81,
        "validation_vesicles": 62,
        "training_micrographs": [{"name": f"t{i}.tif", "pixel_size_nm": 2.0} for i in range(6)],
        "validation_micrographs": [{"name": f"v{i}.tif", "pixel_size_nm": 2.0} for i in range(3)],
    }
    card["training"]["steps"] = 115
    card["training"]["fine_tuning_settings"] = {"steps": 200, "partial_outlines": True, "generated_fraction": 0.5}
    card["training"]["notes"] = ["fine-tuned from ev-unet on curated micrographs"]
    card["validation"] = {
        "curated_validation": {
            "micrographs": ["v0.tif", "v1.tif", "v2.tif"],
            "before": {"tp": 6, "fp": 14, "fn": 56, "precision": 0.3, "recall": 0.0968, "f1": 0.1463},
            "after": {"tp": 10, "fp": 35, "fn": 52, "precision": 0.2222, "recall": 0.1613, "f1": 0.1869},
        }
    }


def test_the_report_says_what_the_fine_tuned_model_is(tmp_path):
    model = _model(tmp_path / "model", _fine_tuned)
    grid = tmp_path / "grid"
    grid.mkdir()
    image = make_random_tem((192, 192), pixel_size_nm=PIXEL_SIZE_NM, rng=5).image
    resolution = (1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM)
    tifffile.imwrite(grid / "a.tif", image, imagej=True, resolution=resolution, metadata={"unit": "nm"})
    out = tmp_path / "out"
    assert main(["tem", str(grid), "--out", str(out), "--model", str(model), "--workers", "1"]) == 0
    recorded = json.loads((out / "run.json").read_text())["images"][0]["segmenter"]["model"]
    assert recorded["base_model"]["name"] == "ev-unet"
    page = tmp_path / "report.html"
    assert main(["report", "--tem", str(out), "--out", str(page)]) == 0
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    base = load_card().summary()
    assert f"our-lab 1.0+ft was fine-tuned from ev-unet {base['version']} on partial outlines" in text
    assert f"our-lab 1.0+ft (1 image(s); SHA-256 {recorded['sha256']}; card {recorded['card']})" in text
    assert f"is a fine-tuned model: fine-tuned from ev-unet {base['version']} (SHA-256 {base['sha256']})" in text
    assert (
        "on 143 curated vesicles of 9 micrograph(s) (81 in 6 training micrograph(s), 62 in 3 validation "
        "micrograph(s)), 115 steps" in text
    )
    assert "validation precision and F1 below are lower bounds" in text
    assert "the starting model precision 0.300, recall 0.097, F1 0.146 (TP/FP/FN 6/14/56)" in text
    assert "the fine-tuned model precision 0.222, recall 0.161, F1 0.187 (TP/FP/FN 10/35/52)" in text

    # the card changed since the run: the page says so instead of another model's facts
    card = model.with_suffix(".json")
    card.write_text(card.read_text().replace('"steps": 115', '"steps": 116'))
    assert main(["report", "--tem", str(out), "--out", str(page)]) == 0
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    assert f"its card {recorded['card']} has changed since the run (other checksum)" in text
    assert "143 curated vesicles" not in text
