"""A model card edited by hand: every field checked on loading (file, field and fix named), and the card's
own checksum in what a batch run's --resume compares."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from exo_vision.segmentation.learned.weights import MODELS_DIR, load_card


def _copy_model(folder: Path) -> Path:
    """The shipped float model and its card, copied to ``folder``; the card's path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(MODELS_DIR / "ev_unet.onnx", folder / "ev_unet.onnx")
    shutil.copy(MODELS_DIR / "ev_unet.json", folder / "ev_unet.json")
    return folder / "ev_unet.json"


def _edit(card_path: Path, change) -> None:
    card = json.loads(card_path.read_text())
    change(card)
    card_path.write_text(json.dumps(card, indent=1))


def _set(path: tuple[str, ...], value):
    def change(card):
        node = card
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (
            _set(("thresholds", "foreground"), "0.5"),
            '"thresholds.foreground"',
            "must be a number at least 0 and at most 1",
        ),
        (_set(("thresholds", "foreground"), 1.5), '"thresholds.foreground"', "got 1.5"),
        (_set(("thresholds", "seed"), -0.1), '"thresholds.seed"', "at most 1, got -0.1"),
        (_set(("thresholds", "flips"), 3), '"thresholds.flips"', "must be one of 1, 2, 4, got 3"),
        (_set(("thresholds", "join_rounder"), "yes"), '"thresholds.join_rounder"', "must be true or false"),
        (_set(("thresholds", "coarse_factor"), None), '"thresholds.coarse_factor"', "must be a number at least 0"),
        (_set(("thresholds", "foregound"), 0.4), '"thresholds.foregound"', "is not a threshold exo_vision knows"),
        (_set(("input", "working_scale_nm"), 0), '"input.working_scale_nm"', "must be a number above 0, got 0"),
        (_set(("input", "multiple_of"), 8.5), '"input.multiple_of"', "must be a whole number of at least 1"),
        (_set(("architecture", "depth"), "4"), '"architecture.depth"', "must be a whole number of at least 1"),
        (_set(("file",), "../elsewhere/ev_unet.onnx"), '"file"', "must be the name of a .onnx file beside the card"),
        (_set(("thresholds",), [0.5]), '"thresholds"', "must be a JSON object"),
        (lambda card: card["input"].pop("working_scale_nm"), '"input.working_scale_nm"', "is missing"),
        (lambda card: card.pop("input"), '"input"', "is missing"),
    ],
)
def test_a_hand_edited_card_is_refused_naming_the_file_the_field_and_the_fix(tmp_path, change, field, problem):
    card_path = _copy_model(tmp_path / "models")
    _edit(card_path, change)
    with pytest.raises(ValueError) as caught:
        load_card(card_path.with_suffix(".onnx"))
    message = str(caught.value)
    assert str(card_path) in message and field in message and problem in message, message
    assert "write" in message or "restore" in message or "remove" in message  # the fix


def test_a_card_edited_within_its_ranges_loads_with_its_own_checksum(tmp_path):
    card_path = _copy_model(tmp_path / "models")
    before = load_card(card_path.with_suffix(".onnx"))
    _edit(card_path, _set(("thresholds", "foreground"), 0.45))
    after = load_card(card_path.with_suffix(".onnx"))
    assert after.thresholds.foreground == 0.45
    assert after.sha256 == before.sha256  # the same weights ...
    assert after.card_sha256 != before.card_sha256  # ... under another card
    assert after.summary()["card_sha256"] == after.card_sha256


def test_resume_compares_the_cards_checksum_not_only_the_weights(tmp_path):
    """A card edited by hand (here only its notes: same weights, version and thresholds) changes what --resume
    compares, so the earlier results are not taken as made by the same model."""
    from exo_vision.batch.config import TemBatchConfig

    card_path = _copy_model(tmp_path / "models")
    model = str(card_path.with_suffix(".onnx"))
    before = TemBatchConfig(method="unet", model=model).analysis_parameters()
    _edit(card_path, lambda card: card.setdefault("notes", []).append("checked on our grids"))
    after = TemBatchConfig(method="unet", model=model).analysis_parameters()
    assert before["model_sha256"] == after["model_sha256"] and before["model_version"] == after["model_version"]
    assert before["model_settings_sha256"] == after["model_settings_sha256"]
    assert before["model_card_sha256"] != after["model_card_sha256"]
    # the classical method records no model: its parameters are those of earlier runs
    assert "model_card_sha256" not in TemBatchConfig(method="classical").analysis_parameters()
