"""napari side of issue 13: ImageJ ROI sets open as labels on the image shown, the Curation dock exports
ROI sets and GeoJSON, and the grid session learns from curated micrographs in a worker (progress, cancel,
before/after on held-out micrographs, use and save the new model)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from scipy import ndimage as ndi

pytest.importorskip("napari")
pytest.importorskip("torch")

from test_plugin_tem import PLUGIN, _dock, _segmented, write_micrograph  # noqa: E402

from exo_vision.annotations import write_imagej_rois  # noqa: E402
from exo_vision.learn.finetune import FineTuneSettings  # noqa: E402
from exo_vision.plugins.roi_reader import get_roi_reader  # noqa: E402


def test_roi_set_dropped_on_an_image_becomes_labels_on_its_grid(make_napari_viewer, tmp_path):
    labels = np.zeros((60, 80), np.int32)
    labels[10:20, 5:25] = 1
    labels[30:50, 40:70] = 2
    path = write_imagej_rois(tmp_path / "RoiSet.zip", labels)
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((60, 80), np.float32), scale=(2.0, 2.0), name="micrograph")
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    assert layer.data.shape == (60, 80) and tuple(layer.scale) == (2.0, 2.0)
    np.testing.assert_array_equal(np.asarray(layer.data), labels)
    assert layer.features["name"].tolist() == ["1", "2"]
    # a zip that holds no ROI is left to other readers
    other = tmp_path / "data.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert get_roi_reader(str(other)) is None and get_roi_reader(str(tmp_path / "x.tif")) is None


def test_curation_dock_exports_imagej_rois_and_geojson(make_napari_viewer, tmp_path, monkeypatch):
    from exo_vision.plugins import curation_widget

    path = tmp_path / "mic.tif"
    write_micrograph(path, seed=3)
    viewer, _image, _seg, labels = _segmented(make_napari_viewer, path)
    _, cur = _dock(viewer, "Curation")
    shown: list[str] = []
    monkeypatch.setattr(curation_widget, "show_warning", shown.append)
    ids = sorted(int(v) for v in labels.features["label"])
    rois = cur.export(tmp_path / "vesicles", kind="imagej")
    with zipfile.ZipFile(rois) as archive:
        assert sorted(int(n[:-4]) for n in archive.namelist()) == ids
    geo = cur.export(tmp_path / "vesicles", kind="geojson")
    doc = json.loads(geo.read_text())
    assert sorted(int(f["properties"]["name"]) for f in doc["features"]) == ids
    assert {f["properties"]["classification"]["name"] for f in doc["features"]} <= {"round", "cup", "irregular"}
    assert shown == []
    # merging two vesicles that do not touch makes one label in two pieces: said on merge and on export
    keep, other = ids[0], ids[-1]
    assert not np.any(ndi.binary_dilation(np.asarray(labels.data) == keep, np.ones((3, 3))) & (labels.data == other))
    cur.merge(keep, other)
    assert len(shown) == 1 and f"vesicle {keep} is now in separate pieces" in shown[0]
    cur.export(tmp_path / "merged", kind="imagej")
    assert len(shown) == 2 and shown[1].startswith(f"merged.zip: the outline of 1 vesicle(s) ({keep}) is not exactly")


def _curated_grid(make_napari_viewer, tmp_path, count=3, extra=0, *, check=True):
    """A grid session over ``count + extra`` micrographs, the first ``count`` seen (and so saved), each marked
    as checked (``check``; learning takes only micrographs edited or marked so)."""
    grid, out = tmp_path / "grid", tmp_path / "out"
    grid.mkdir()
    for i in range(count + extra):
        write_micrograph(grid / f"g{i}.tif", seed=20 + i)
    viewer = make_napari_viewer()
    _, session = _dock(viewer, "Grid session")
    session.synchronous = True
    session._min_d.value = 20.0
    session.open_grid(grid, out)
    for k in range(count):
        if check:
            assert session.mark_checked()
        if k < count - 1:
            session.next()
    return viewer, session, out


TINY = FineTuneSettings(steps=3, patch_px=32, batch=2, threads=1, min_train_vesicles=1, min_validation_vesicles=1)


def test_grid_session_learns_in_a_worker_and_offers_the_new_model(
    make_napari_viewer, tmp_path, qtbot, tiny_base, monkeypatch
):
    viewer, session, out = _curated_grid(make_napari_viewer, tmp_path, extra=1)
    panel = session.learning
    panel.settings = TINY
    panel.learn(base_model=str(tiny_base))
    assert panel.running and not panel._learn.enabled  # the GUI thread is free while it learns
    qtbot.waitUntil(lambda: panel.result is not None, timeout=120_000)
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)
    result = panel.result
    assert result.onnx_path.is_file() and result.onnx_path.parent == out / "learned_models"
    assert "F1" in panel._status.value and result.validation[0].name in panel._status.value
    # a progress tick queued before the worker's finished signal (a loaded machine) keeps the outcome shown
    panel._running, panel._stage = True, ("writing the new model", 0, 1)
    panel._show_progress()
    panel._running = False
    assert "F1" in panel._status.value
    assert "the new model scores" in panel._status.value
    names = [layer.name for layer in viewer.layers]
    held_out = f"held out: {result.validation[0].name}"
    assert {f"{held_out} before", f"{held_out} after", f"{held_out} curated"} <= set(names)
    panel.use_model()
    assert session.model_path() == str(result.onnx_path)
    sha = json.loads(result.card_path.read_text())["sha256"]
    assert session.config().analysis_parameters()["model_sha256"] == sha
    session.next()  # the micrograph not yet seen is segmented with the new model, and recorded so
    session.save_current()
    marker = json.loads((out / "g3_done.json").read_text())
    assert marker["parameters"]["model"] == str(result.onnx_path) and marker["parameters"]["model_sha256"] == sha
    saved = panel.save_model(tmp_path / "lab_model")
    assert saved.name == "lab_model.onnx"
    assert json.loads(saved.with_suffix(".json").read_text())["file"] == "lab_model.onnx"
    from exo_vision.segmentation.learned.weights import load_card

    assert load_card(saved).sha256 == load_card(result.onnx_path).sha256
    # saving again under that name is refused: a model is never overwritten (H3 of probe lab49)
    warnings: list[str] = []
    monkeypatch.setattr("exo_vision.plugins._learning.show_warning", warnings.append)
    assert panel.save_model(tmp_path / "lab_model.onnx") is None
    assert len(warnings) == 1 and "exists: choose another name (a model is never overwritten)" in warnings[0]


def test_learning_leaves_out_micrographs_nobody_edited_or_checked(make_napari_viewer, tmp_path, qtbot, monkeypatch):
    """H4 of probe lab49: paging through a grid and clicking Learn used the model's own outlines as truth (held-out
    F1 1.000 before fine-tuning)."""
    _viewer, session, out = _curated_grid(make_napari_viewer, tmp_path, count=3, check=False)
    warnings: list[str] = []
    monkeypatch.setattr("exo_vision.plugins._learning.show_warning", warnings.append)
    session.learning.learn()
    qtbot.waitUntil(lambda: not session.learning.running, timeout=60_000)
    assert any(
        "3 micrograph(s) saved by the grid session with no edit and not marked as checked" in w for w in warnings
    )
    assert any("found 0" in w for w in warnings)  # nothing left to learn from: refused, no model
    assert not (out / "learned_models").exists() or not list((out / "learned_models").glob("*.onnx"))
    markers = [json.loads(path.read_text()) for path in sorted(out.glob("g*_done.json"))]
    assert [(m["n_edits"], m["checked_in_gui"]) for m in markers] == [(0, False)] * 3


def _learning_under_way(make_napari_viewer, tmp_path, qtbot, tiny_base):
    """A grid session learning without end (no step or time limit reached), two steps in: (viewer, panel, out)."""
    viewer, session, out = _curated_grid(make_napari_viewer, tmp_path)
    panel = session.learning
    panel.settings = FineTuneSettings(
        steps=100_000, max_minutes=0, patch_px=32, batch=2, threads=1, min_train_vesicles=1, min_validation_vesicles=1
    )
    panel.learn(base_model=str(tiny_base))
    qtbot.waitUntil(lambda: panel._progress[0] >= 2, timeout=120_000)
    return viewer, panel, out


def test_cancelling_learning_writes_no_model(make_napari_viewer, tmp_path, qtbot, tiny_base):
    _viewer, panel, out = _learning_under_way(make_napari_viewer, tmp_path, qtbot, tiny_base)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
    assert panel.result is None and "cancelled" in panel._status.value
    assert not list((out / "learned_models").glob("*.onnx"))
    assert panel._learn.enabled


def test_closing_the_viewer_while_learning_stops_it_without_errors(make_napari_viewer, tmp_path, qtbot, tiny_base):
    """Before, late worker signals set the deleted status label and buttons: RuntimeError in the Qt loop."""
    viewer, panel, out = _learning_under_way(make_napari_viewer, tmp_path, qtbot, tiny_base)
    viewer.close()
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
    qtbot.wait(300)  # the worker's last signals arrive; an error in a slot would fail the test here
    assert not list((out / "learned_models").glob("*.onnx"))


def test_learning_with_too_little_curated_data_says_so(make_napari_viewer, tmp_path, qtbot, monkeypatch):
    _viewer, session, _out = _curated_grid(make_napari_viewer, tmp_path, count=1)
    warnings = []
    monkeypatch.setattr("exo_vision.plugins._learning.show_warning", warnings.append)
    session.learning.learn()
    qtbot.waitUntil(lambda: not session.learning.running, timeout=60_000)
    qtbot.waitUntil(lambda: bool(warnings), timeout=10_000)
    assert "at least 2 different curated micrographs" in warnings[0]


def test_the_first_framework_import_is_announced_before_it_stalls(make_napari_viewer, tmp_path, qtbot, monkeypatch):
    import sys

    import exo_vision.learn.finetune as finetune

    _viewer, session, _out = _curated_grid(make_napari_viewer, tmp_path, count=1)
    panel = session.learning
    seen = []
    monkeypatch.delitem(sys.modules, "torch")  # as in a session that has not imported it yet; restored after
    monkeypatch.setattr(finetune, "load_training_framework", lambda: seen.append(panel._status.value))
    monkeypatch.setattr("exo_vision.plugins._learning.show_warning", lambda message: None)
    panel.learn()
    assert seen and "loading the training framework" in seen[0]
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)  # one curated micrograph is too few
    assert panel._status.value == "not learnt (see the message)"


def test_a_new_model_that_scores_lower_is_named_in_a_warning(make_napari_viewer, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import exo_vision.plugins._learning as learning

    _viewer, session, _out = _curated_grid(make_napari_viewer, tmp_path, count=1)
    panel = session.learning
    warnings: list[str] = []
    monkeypatch.setattr(learning, "show_warning", warnings.append)
    figures = {"precision": 0.8, "recall": 0.8, "tp": 8, "fn": 2}
    labels = np.zeros((40, 40), np.int32)
    labels[10:20, 10:20] = 1
    held_out = SimpleNamespace(name="g0.tif", image=np.zeros((40, 40), np.float32), labels=labels, pixel_size_nm=2.0)
    result = SimpleNamespace(
        before={**figures, "f1": 0.8},
        after={**figures, "f1": 0.4},
        validation=[held_out],
        predictions_before=[labels],
        predictions_after=[np.zeros_like(labels)],
    )
    panel._finished(result)
    assert len(warnings) == 1 and "LOWER" in warnings[0] and "keep the model you started from" in warnings[0]
    assert "LOWER" in panel._status.value and panel._use.enabled  # the choice stays the user's
    panel._finished(SimpleNamespace(**{**vars(result), "after": {**figures, "f1": 0.85}}))
    assert len(warnings) == 1  # within one vesicle of 10: no warning


def test_a_cancel_while_the_new_model_is_scored_writes_nothing(
    make_napari_viewer, tmp_path, qtbot, tiny_base, monkeypatch
):
    """M1 of probe lab49: Cancel after the last training step was ignored (the model was written a minute later)
    and the dock showed 'step 5 of at most 5' while it scored."""
    import time

    import exo_vision.learn.finetune as finetune

    _viewer, session, out = _curated_grid(make_napari_viewer, tmp_path)
    panel = session.learning
    panel.settings = TINY
    real = finetune.tune_foreground_threshold

    def after_a_cancel(*args, **kwargs):  # the scoring after training starts only once Cancel was clicked
        deadline = time.monotonic() + 60
        while not panel._stop and time.monotonic() < deadline:
            time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(finetune, "tune_foreground_threshold", after_a_cancel)
    panel.learn(base_model=str(tiny_base))
    qtbot.waitUntil(lambda: panel._progress[0] == TINY.steps, timeout=120_000)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
    assert panel.result is None and panel._status.value == "cancelled; no model written"
    assert not list((out / "learned_models").glob("*.onnx"))
    # the stages around the training are named in the dock, not as the last step
    panel._running, panel._stop, panel._ended = True, False, False  # as a new run under way
    panel._stage = (finetune.STAGE_AFTER, 1, 3)
    panel._show_progress()
    assert panel._status.value == "scoring held-out micrographs with the new model (1 of 3 done)"
    panel._running = False


def test_the_learn_panel_offers_partial_outlines_as_exo_vision_train_does(
    make_napari_viewer, tmp_path, qtbot, tiny_base, monkeypatch
):
    """Before, the panel had no partial-outlines choice: partly outlined micrographs taught every vesicle nobody
    outlined as background (``exo-vision train --partial-outlines`` was the only way)."""
    import exo_vision.learn.finetune as finetune
    from exo_vision.learn.settings import PARTIAL_GENERATED_FRACTION

    _viewer, session, _out = _curated_grid(make_napari_viewer, tmp_path)
    panel = session.learning
    choice = panel._partial
    assert choice.value is False and "only the outlined vesicles and a ring around each" in choice.tooltip.lower()
    assert "lower bounds" in choice.tooltip and "the rest of each micrograph is not used" in choice.tooltip
    seen = []
    real = finetune.fine_tune
    monkeypatch.setattr(finetune, "fine_tune", lambda *a, **k: seen.append(k["settings"]) or real(*a, **k))
    monkeypatch.setattr("exo_vision.plugins._learning.show_warning", lambda message: None)
    panel.settings = TINY
    choice.value = True
    panel.learn(base_model=str(tiny_base))
    qtbot.waitUntil(lambda: not panel.running, timeout=120_000)
    assert panel.result is not None
    (settings,) = seen
    assert settings.partial_outlines and settings.generated_fraction == PARTIAL_GENERATED_FRACTION
    assert settings.steps == TINY.steps  # the panel's other settings are kept
    card = json.loads(panel.result.card_path.read_text())
    recorded = card["training"]["fine_tuning_settings"]
    assert recorded["partial_outlines"] is True and recorded["generated_fraction"] == PARTIAL_GENERATED_FRACTION
    assert card["validation"]["curated_validation"]["outlines"] == finetune.PARTIAL_FIGURES_NOTE
    assert card["training"]["foreground_threshold"] == finetune.PARTIAL_THRESHOLD_NOTE
    assert finetune.PARTIAL_FIGURES_NOTE in panel._status.value
    assert "outlined held-out vesicle" in panel._status.value and "the new model scores" not in panel._status.value
