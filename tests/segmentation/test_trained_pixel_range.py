"""A fine-tuned model on micrographs far outside the pixel sizes it was trained on: a warning naming the model,
its trained range and the image's pixel size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from exo_vision.segmentation.api import segment_vesicles
from exo_vision.segmentation.learned.weights import MODELS_DIR, load_card
from exo_vision.synthetic.tem_random import make_random_tem


def _model(folder: Path, change) -> Path:
    """The shipped float model copied to ``folder`` as lab.onnx, its card changed by ``change``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(MODELS_DIR / "ev_unet.onnx", folder / "lab.onnx")
    card = json.loads((MODELS_DIR / "ev_unet.json").read_text())
    card["file"] = "lab.onnx"
    card["name"] = "our-lab"
    change(card)
    (folder / "lab.json").write_text(json.dumps(card, indent=1))
    return folder / "lab.onnx"


def _warnings(model: Path, pixel_size_nm: float) -> list[str]:
    image = make_random_tem((128, 128), pixel_size_nm=pixel_size_nm, rng=3).image
    return segment_vesicles(image, pixel_size_nm=pixel_size_nm, model=model, threads=1).warnings


def _range_warnings(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "trained on micrographs of" in w]


@pytest.mark.parametrize(("pixel_size_nm", "warned"), [(3.0, True), (1.9, True), (1.5, False), (0.4, False)])
def test_a_pixel_size_over_twice_the_trained_range_is_warned_of(tmp_path, pixel_size_nm, warned):
    model = _model(tmp_path, lambda card: card.update(trained_pixel_size_nm=[0.5, 0.9]))
    found = _range_warnings(_warnings(model, pixel_size_nm))
    if not warned:  # 0.4 and 1.5 nm/px lie within twice the range 0.5-0.9 nm/px
        assert found == []
        return
    assert len(found) == 1, found
    assert "our-lab" in found[0] and "lab.onnx" in found[0]
    assert "0.5-0.9 nm/px" in found[0] and f"{pixel_size_nm:g} nm/px" in found[0]


def test_the_range_of_an_older_fine_tuned_card_comes_from_its_training_micrographs(tmp_path):
    def older(card):  # a card written before the range was recorded: the micrographs' pixel sizes only
        card["training"]["data"] = {
            "source": "curated micrographs (fine-tuning)",
            "training_micrographs": [{"name": "a.tif", "pixel_size_nm": 0.6}, {"name": "b.tif", "pixel_size_nm": 0.7}],
        }

    model = _model(tmp_path, older)
    found = _range_warnings(_warnings(model, 3.0))
    assert len(found) == 1 and "0.6-0.7 nm/px" in found[0] and "3 nm/px" in found[0]


def test_a_model_trained_on_generated_micrographs_only_gives_no_range_warning():
    assert load_card().card.get("trained_pixel_size_nm") is None
    image = make_random_tem((128, 128), pixel_size_nm=0.5, rng=3).image
    assert _range_warnings(segment_vesicles(image, pixel_size_nm=0.5, threads=1).warnings) == []


def test_fine_tuning_records_the_training_range_widened_by_the_starting_models(tmp_path):
    pytest.importorskip("torch")
    from exo_vision.learn.curated import CuratedMicrograph
    from exo_vision.learn.finetune import trained_pixel_sizes

    def micrograph(pixel_size_nm: float) -> CuratedMicrograph:
        sample = make_random_tem((64, 64), pixel_size_nm=pixel_size_nm, rng=1)
        return CuratedMicrograph(
            name=f"{pixel_size_nm}.tif",
            image=sample.image,
            pixel_size_nm=pixel_size_nm,
            labels=sample.labels,
            source="generated",
            kind="label image",
        )

    train = [micrograph(1.2), micrograph(0.8)]
    assert trained_pixel_sizes(train, base=load_card("ev-unet-float")) == [0.8, 1.2]  # generated only: no range
    base = load_card(_model(tmp_path, lambda card: card.update(trained_pixel_size_nm=[0.5, 0.9])))
    assert trained_pixel_sizes(train, base=base) == [0.5, 1.2]
