"""Where a grid session writes a fine-tuned model, and how its before/after figures read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

from exo_vision.learn.grid_models import MODELS_FOLDER, comparison_text, new_model_path, verdict_text


def test_new_models_go_in_the_grids_output_folder_named_by_time(tmp_path):
    path = new_model_path(tmp_path, now=dt.datetime(2026, 3, 4, 5, 6, 7))
    assert path == Path(tmp_path) / MODELS_FOLDER / "grid_model_20260304_050607.onnx"


def test_comparison_reads_before_to_after_with_missing_figures_as_dashes():
    result = SimpleNamespace(
        before={"f1": 0.5, "precision": float("nan"), "recall": None, "tp": 5, "fn": 5},
        after={"f1": 0.75, "precision": 0.8, "recall": 0.123456, "tp": 8, "fn": 2},
        validation=[SimpleNamespace(name="a.tif"), SimpleNamespace(name="b.tif")],
    )
    assert comparison_text(result) == (
        "held-out curated micrographs (a.tif, b.tif):\nF1 0.500 -> 0.750, precision - -> 0.800, recall - -> 0.123\n"
        "the new model scores higher than the model it started from (F1 0.500 -> 0.750 on 10 held-out vesicles)"
    )


def test_comparison_names_the_checkpoint_kept_and_where_it_was_chosen():
    result = SimpleNamespace(
        before={"f1": 0.5, "precision": 0.5, "recall": 0.5, "tp": 5, "fn": 5},
        after={"f1": 0.6, "precision": 0.6, "recall": 0.6, "tp": 6, "fn": 4},
        validation=[SimpleNamespace(name="a.tif")],
        selection={"chosen_step": 150, "micrographs": ["c.tif"]},
    )
    assert comparison_text(result).splitlines()[2] == "kept step 150, chosen on c.tif"


def test_verdict_tells_a_lower_score_from_one_vesicles_worth_of_change():
    # 9 held-out vesicles: one vesicle moves F1 by about 1/9 = 0.111 (the leave-one-out fold of benchmarks/finetune.py
    # that fell from 0.778 to 0.476)
    before = {"f1": 0.778, "tp": 7, "fn": 2}
    lower = verdict_text(before, {"f1": 0.476, "tp": 5, "fn": 4})
    assert lower.startswith("the new model scores LOWER than the model it started from (F1 0.778 -> 0.476 on 9 ")
    assert "keep the model you started from" in lower
    assert "about the same" in verdict_text(before, {"f1": 0.778 - 0.1, "tp": 7, "fn": 2})
    assert "about the same" in verdict_text(before, {"f1": 0.778 + 0.1, "tp": 7, "fn": 2})
    assert "higher" in verdict_text(before, {"f1": 0.778 + 0.112, "tp": 8, "fn": 1})
    assert (
        verdict_text({"f1": 0.0, "tp": 0, "fn": 0}, {"f1": 0.0})
        == "no held-out curated vesicle to compare the two models on"
    )
