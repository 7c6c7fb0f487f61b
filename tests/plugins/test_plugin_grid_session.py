"""Grid session: its PageUp/PageDown shortcuts follow the dock, and `exo-vision tem --resume`
on a folder the session wrote keeps the curated results instead of redoing them.

Images are small (512 x 512) synthetic micrographs from the project's seeded generator.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

pytest.importorskip("napari")

from app_model.types import KeyBinding  # noqa: E402

from exo_vision.batch.config import TemBatchConfig  # noqa: E402
from exo_vision.cli.main import main  # noqa: E402
from exo_vision.plugins.grid_session_widget import NEXT_KEY, PREVIOUS_KEY  # noqa: E402
from exo_vision.synthetic.tem import make_synthetic_tem  # noqa: E402

PIXEL_SIZE_NM = 2.0
PLUGIN = "exo-vision"


def write_micrograph(path: Path, *, seed: int) -> None:
    """A 512x512 synthetic micrograph as a calibrated ImageJ TIFF."""
    image, _ = make_synthetic_tem(
        (512, 512), pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", n_vesicles=8, scale_bar=False, rng=seed
    )
    tifffile.imwrite(
        path, image, imagej=True, resolution=(1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM), metadata={"unit": "nm"}
    )


def _bound(viewer, key):
    return viewer.keymap.get(KeyBinding.from_str(key))


def test_page_keys_are_released_when_the_dock_is_hidden_or_removed(make_napari_viewer, qtbot):
    # regression: PageUp/PageDown stayed bound after the grid dock was removed, until Qt destroyed the widget
    viewer = make_napari_viewer(show=True)
    dock, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    qtbot.waitUntil(session.native.isVisible, timeout=5_000)
    assert session.keys_bound
    stepped = []
    session.next = lambda: stepped.append("next")
    _bound(viewer, NEXT_KEY)(viewer)
    assert stepped == ["next"]

    dock.hide()  # the dock's close button hides it
    assert _bound(viewer, NEXT_KEY) is None and _bound(viewer, PREVIOUS_KEY) is None
    dock.show()
    qtbot.waitUntil(session.native.isVisible, timeout=5_000)
    assert session.keys_bound

    viewer.window.remove_dock_widget(dock)
    assert _bound(viewer, NEXT_KEY) is None and _bound(viewer, PREVIOUS_KEY) is None


def test_page_keys_belong_to_the_newest_visible_session(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    first_dock, first = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    qtbot.waitUntil(first.native.isVisible, timeout=5_000)
    viewer.window.remove_dock_widget(first_dock)
    _, second = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    assert second.keys_bound and not first.keys_bound
    first.unbind_keys()  # the old session never releases keys it does not hold
    assert second.keys_bound


def _curated_grid_session(viewer, grid: Path, out: Path) -> dict[str, int]:
    """Run the grid session over ``grid``: delete one vesicle of the first micrograph, save all.

    Returns the deleted label per stem.
    """
    _, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    _, curation = viewer.window.add_plugin_dock_widget(PLUGIN, "Curation")
    session.synchronous = True
    session.open_grid(grid, out)
    viewer.layers.selection.active = session.labels_layer
    victim = int(session.labels_layer.features["label"].iloc[0])
    curation.delete(victim)
    while session.index < len(session.files) - 1:
        session.next()
    session.save_current()
    return {"g0": victim}


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("g*_*"))}


def _grid_of(tmp_path: Path, n: int, *, seed: int) -> tuple[Path, Path]:
    """A folder of ``n`` generated micrographs g0.tif, g1.tif, ... and an output folder path beside it."""
    grid = tmp_path / "grid"
    grid.mkdir()
    for i in range(n):
        write_micrograph(grid / f"g{i}.tif", seed=seed + i)
    return grid, tmp_path / "out"


def _run_json(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


@pytest.mark.slow
def test_cli_resume_skips_the_grid_sessions_curated_micrographs(make_napari_viewer, tmp_path):
    grid, out = _grid_of(tmp_path, 3, seed=20)
    viewer = make_napari_viewer()
    deleted = _curated_grid_session(viewer, grid, out)
    before = _snapshot(out)
    assert {f"g{i}_done.json" for i in range(3)} <= set(before)
    curated = pd.read_csv(out / "g0_vesicles.csv")
    assert deleted["g0"] not in set(curated["label"])
    marker = json.loads((out / "g0_done.json").read_text())
    assert marker["parameters"] == TemBatchConfig().analysis_parameters()  # what the CLI records by default
    from exo_vision.segmentation.api import model_summary

    # the GUI records the method and model that drew the labels, as the CLI does
    assert marker["segmenter"] == {"method": "unet", "model": model_summary("unet")}

    assert main(["tem", str(grid), "--out", str(out), "--resume", "--workers", "1"]) == 0
    run = _run_json(out)
    assert (run["n_done"], run["n_skipped"], run["n_failed"]) == (0, 3, 0)
    assert all(r["segmenter"] == marker["segmenter"] for r in run["images"])
    assert _snapshot(out) == before  # nothing redone: every per-image file byte for byte the same
    pooled = pd.read_csv(out / "vesicles.csv")
    assert len(pooled[pooled["image"] == "g0"]) == len(curated)  # run-level tables use the curated result

    # a re-run without --resume, or with other parameters, still keeps the curated results
    assert main(["tem", str(grid), "--out", str(out), "--workers", "1", "--min-diameter-nm", "25"]) == 0
    assert _run_json(out)["n_skipped"] == 3
    assert _snapshot(out) == before


@pytest.mark.slow
def test_cli_never_overwrites_a_curated_result_whose_input_changed(make_napari_viewer, tmp_path):
    grid, out = _grid_of(tmp_path, 2, seed=30)
    viewer = make_napari_viewer()
    _curated_grid_session(viewer, grid, out)
    before = _snapshot(out)
    write_micrograph(grid / "g0.tif", seed=99)  # the micrograph was replaced after curation

    assert main(["tem", str(grid), "--out", str(out), "--resume", "--workers", "1"]) == 1
    run = _run_json(out)
    assert (run["n_done"], run["n_skipped"], run["n_failed"]) == (0, 1, 1)
    errors = pd.read_csv(out / "errors.csv")
    assert errors["stem"].tolist() == ["g0"] and "curated in the GUI" in errors["error"].iloc[0]
    assert _snapshot(out) == before


def test_grid_session_analyses_with_the_cli_parameters(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    cli = TemBatchConfig()
    expected = {
        k: v
        for k, v in cli.analysis_parameters().items()
        if k
        not in (
            "pixel_size_nm",
            "frame",
            "scale_bar",
            "model_sha256",
            "model_version",
            "model_settings_sha256",
            "model_card_sha256",
        )
    }
    assert session.parameters() == expected
    assert session.parameters()["method"] == cli.method
    session.set_method("classical")
    assert session.config().analysis_parameters()["method"] == "classical"
    assert session.config().analysis_parameters()["model_sha256"] is None
    session.set_method("unet")
    session._sensitivity.value = 0.7
    assert session.config().analysis_parameters()["sensitivity"] == pytest.approx(0.7)
    # the output folder must not be the micrographs folder (results would be read back as micrographs)
    grid = tmp_path / "grid"
    grid.mkdir()
    write_micrograph(grid / "g0.tif", seed=1)
    session.open_grid(grid, grid)
    assert session.files == [] and not list(grid.glob("*_done.json"))
    assert np.isclose(cli.min_diameter_nm, session._min_d.value)


def _synchronous_session(make_napari_viewer):
    """A new viewer with the Grid session dock, segmenting in the GUI thread: (viewer, dock)."""
    viewer = make_napari_viewer()
    _, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    session.synchronous = True
    return viewer, session


def _notes(monkeypatch) -> list[str]:
    """Every info and warning the grid dock shows, in order."""
    shown: list[str] = []
    for name in ("show_info", "show_warning"):
        monkeypatch.setattr(f"exo_vision.plugins.grid_session_widget.{name}", shown.append)
    return shown


def test_closing_napari_saves_the_curated_micrograph_shown(make_napari_viewer, tmp_path, qtbot):
    from qtpy.QtGui import QCloseEvent
    from qtpy.QtWidgets import QApplication

    """Before, closing the viewer threw the edits on the micrograph shown away; reopening re-segmented it."""
    grid, out = _grid_of(tmp_path, 2, seed=40)
    viewer = make_napari_viewer(show=True)
    _, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    _, curation = viewer.window.add_plugin_dock_widget(PLUGIN, "Curation")
    qtbot.waitUntil(session.native.isVisible, timeout=5_000)
    session.synchronous = True
    session.open_grid(grid, out)
    viewer.layers.selection.active = session.labels_layer
    victim = int(session.labels_layer.features["label"].iloc[0])
    curation.delete(victim)
    # what the window's close button sends (napari's viewer.close() clears the layers before it)
    QApplication.sendEvent(session.native.window(), QCloseEvent())
    saved = pd.read_csv(out / "g0_vesicles.csv")
    assert victim not in set(saved["label"])
    assert json.loads((out / "g0_done.json").read_text())["curated_in_gui"]


def test_opening_a_grid_while_one_is_open_saves_it_first_and_drops_its_layers(
    make_napari_viewer, tmp_path, monkeypatch
):
    grid, out = _grid_of(tmp_path, 2, seed=42)
    viewer = make_napari_viewer()
    _, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    _, curation = viewer.window.add_plugin_dock_widget(PLUGIN, "Curation")
    session.synchronous = True
    notes = _notes(monkeypatch)
    session.open_grid(grid, out)
    viewer.layers.selection.active = session.labels_layer
    victim = int(session.labels_layer.features["label"].iloc[0])
    curation.delete(victim)
    session._output.value = str(tmp_path / "elsewhere")  # typed while the grid is open: said to wait for Open
    assert any("click Open grid to switch" in n for n in notes)
    session.open_grid()
    assert victim not in set(pd.read_csv(out / "g0_vesicles.csv")["label"])  # saved in the grid it belonged to
    assert [layer.name for layer in viewer.layers] == ["g0", "g0 vesicles"]  # the new grid's, no orphans
    assert session.output_dir == tmp_path / "elsewhere" and session.tables == {}
    assert session._summary.value == "nothing saved yet"


def test_a_grid_whose_model_is_gone_resumes_with_the_settings_chosen_now(make_napari_viewer, tmp_path, monkeypatch):
    """Before, a session whose model file had moved could not be reopened: a traceback, an empty dock."""
    import shutil

    from exo_vision.segmentation.learned.weights import DEFAULT_MODEL, SHIPPED_MODELS

    grid, out = _grid_of(tmp_path, 2, seed=44)
    card = SHIPPED_MODELS[DEFAULT_MODEL]
    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".onnx", ".json"):
        shutil.copy(card.with_suffix(suffix), models / card.with_suffix(suffix).name)
    viewer = make_napari_viewer()
    _, first = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    first.synchronous = True
    notes = _notes(monkeypatch)
    first.set_method("unet", str(models / card.with_suffix(".onnx").name))
    first.open_grid(grid, out)
    first.next()
    shutil.move(models, tmp_path / "moved")
    first.set_method("unet", "")
    first.open_grid()  # g1's model is gone while it is shown: it cannot be saved, so it stays open
    assert "g1.tif could not be saved" in notes[-1] and first.index == 1 and first.labels_layer in viewer.layers
    _viewer2, session = _synchronous_session(make_napari_viewer)
    session.open_grid(grid, out)  # another day, the shipped model chosen
    assert any("cannot be used now" in n and "the saved ones keep their results" in n for n in notes)
    assert session.core is not None and session.core.settings.model_path() is None
    assert session.labels_layer is not None  # the micrograph it resumed at is shown and segmented
    # a mistyped model file stops Next with the fix in this dock's words; nothing is lost
    session.set_method("unet", str(tmp_path / "typo.onnx"))
    index = session.index
    session.previous()
    assert session.index == index and "empty the 'model (.onnx)' field" in notes[-1]


def test_resuming_says_with_which_settings_and_shows_the_summary(make_napari_viewer, tmp_path, monkeypatch):
    grid, out = _grid_of(tmp_path, 2, seed=46)
    viewer, session = _synchronous_session(make_napari_viewer)
    session.open_grid(grid, out)
    session.next()
    _viewer2, again = _synchronous_session(make_napari_viewer)
    notes = _notes(monkeypatch)
    again.set_method("classical")
    again.open_grid(grid, out)
    resumed = next(n for n in notes if n.startswith("resuming grid session at g1.tif (1 saved) with unet"))
    assert "not those chosen here" in resumed
    assert again._summary.value.startswith("1 micrograph(s) saved")  # was empty until the next save


def test_next_on_the_last_micrograph_while_it_is_segmented_claims_no_save(make_napari_viewer, tmp_path, monkeypatch):
    from types import SimpleNamespace

    grid, out = _grid_of(tmp_path, 1, seed=48)
    viewer, session = _synchronous_session(make_napari_viewer)
    session.open_grid(grid, out)
    notes = _notes(monkeypatch)
    session.worker = SimpleNamespace(is_running=True)  # as while its segmentation runs
    session.next()
    assert notes == ["still segmenting the last micrograph; wait for it, then save it"]
    session.worker = None
    session.next()
    assert notes[-1] == "last micrograph of the grid: saved" and (out / "g0_done.json").is_file()


def test_stepping_back_with_the_histogram_open_restores_the_curation_and_keeps_it_on_disk(make_napari_viewer, tmp_path):
    """The restored layer was added with a table of labels only; the histogram dock read its diameters at once
    (KeyError), the restore stopped half way, and the next save rewrote the edit log and overrides empty."""
    from tests.plugins.test_plugin_tem import _dock

    grid, out = _grid_of(tmp_path, 3, seed=10)
    viewer, session = _synchronous_session(make_napari_viewer)
    _, cur = _dock(viewer, "Curation")
    _, hist = _dock(viewer, "Size histogram")
    session._min_d.value = 20.0
    session.open_grid(grid, out)
    viewer.layers.selection.active = session.labels_layer
    labels = session.labels_layer.features["label"].astype(int).tolist()
    cur.delete(labels[0])
    cur.set_morphology(labels[1], "cup")
    session.next()
    edits_before = (out / "g0_edits.csv").read_text()
    # the candidates not counted are saved with the other outputs, as `exo-vision tem` writes them
    rejected_before = (out / "g0_rejected.csv").read_bytes()
    marker = json.loads((out / "g0_done.json").read_text())
    assert marker["outputs"]["rejected"]["file"] == "g0_rejected.csv"
    assert len(pd.read_csv(out / "g0_rejected.csv")) == sum((marker.get("rejected_by_reason") or {}).values())
    session.previous()
    restored = session.labels_layer
    assert session.index == 0 and restored is not None
    assert [e["action"] for e in restored.metadata["edit_log"]] == ["delete", "set morphology"]
    assert restored.metadata["morphology_overrides"] == {labels[1]: "cup"}
    table = restored.features.set_index("label")
    assert labels[0] not in table.index and table.loc[labels[1], "morphology"] == "cup"
    assert "equivalent_diameter_nm" in table.columns
    assert hist.plot.statistics  # the histogram drew the restored table
    session.next()
    assert session.index == 1
    assert (out / "g0_edits.csv").read_text() == edits_before
    assert (out / "g0_rejected.csv").read_bytes() == rejected_before  # restored with the curation, saved again
    saved = pd.read_csv(out / "g0_vesicles.csv").set_index("label")
    assert saved.loc[labels[1], "morphology"] == "cup"


def test_a_closed_grid_session_dock_is_freed_while_napari_stays_open(make_napari_viewer, qtbot):
    """Its window watcher (which saves on closing napari) held the dock: every open/close of the Grid session
    dock kept 66 widgets, a figure and a learning panel alive until napari closed."""
    import gc
    import weakref

    from tests.plugins.test_plugin_tem import _dock

    viewer = make_napari_viewer(show=True)
    closed = []
    for _ in range(3):
        dock, widget = _dock(viewer, "Grid session")
        qtbot.wait(10)
        assert widget._close_watcher is not None  # shown: it watches the window
        closed.append(weakref.ref(widget))
        viewer.window.remove_dock_widget(dock)
        del dock, widget
        qtbot.wait(10)
    gc.collect()
    qtbot.wait(10)
    gc.collect()
    assert [ref() for ref in closed] == [None, None, None]


def test_a_grid_step_computes_the_grid_statistics_once(make_napari_viewer, tmp_path, monkeypatch):
    """The summary and its histogram each ran the bootstrap over the whole grid (0.2 s at 10 000 vesicles)."""
    from exo_vision.plugins import grid_session_widget, histogram_widget

    grid, out = _grid_of(tmp_path, 2, seed=10)
    _, session = _synchronous_session(make_napari_viewer)
    session._min_d.value = 20.0
    session.open_grid(grid, out)
    calls = []
    for module in (grid_session_widget, histogram_widget):
        real = module.size_statistics
        monkeypatch.setattr(module, "size_statistics", lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    session.next()
    assert len(calls) == 1 and session.plot.statistics["grid"] is session.statistics


def test_the_dock_chooses_the_stain_polarity_as_the_command_line_does(make_napari_viewer):
    from exo_vision.plugins.segmentation_widget import Polarity
    from exo_vision.session.grid import GridSettings

    viewer = make_napari_viewer()
    _, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    assert session.settings().polarity == "auto"
    session._polarity.value = Polarity.DARK
    assert session.settings().polarity == "dark" and session.config().polarity == "dark"
    session._show_settings(GridSettings(polarity="bright"))
    assert session._polarity.value is Polarity.BRIGHT


def test_the_grid_summary_names_pixels_without_a_value_that_cut_a_saved_vesicle(
    make_napari_viewer, tmp_path, nan_block_tem
):
    """Before, the grid summary (and the Curation dock on a micrograph brought back) said "cut by the image
    edge" of a vesicle that a block of NaN pixels in the middle of the micrograph cut."""
    from tests.plugins.test_plugin_tem import _dock

    image, px, _ = nan_block_tem
    grid, out = tmp_path / "grid", tmp_path / "out"
    grid.mkdir()
    for name in ("a", "b"):
        tifffile.imwrite(grid / f"{name}.tif", image, imagej=True, resolution=(1 / px, 1 / px), metadata={"unit": "nm"})
    viewer, session = _synchronous_session(make_napari_viewer)
    _, cur = _dock(viewer, "Curation")
    session.open_grid(grid, out)
    session.next()  # a.tif saved
    assert session._summary.value.startswith("1 micrograph(s) saved")
    assert "cut by the image edge or by pixels without a value not counted" in session._summary.value
    session.previous()  # a.tif brought back from its saved files, without its run's warnings
    viewer.layers.selection.active = session.labels_layer
    assert "cut by the image edge or by pixels without a value not counted" in cur._stats.value


def test_resuming_with_the_settings_untouched_does_not_say_they_differ(make_napari_viewer, tmp_path, monkeypatch):
    """The empty model field reads "." while the session saved "": every reopening claimed other settings."""
    grid, out = _grid_of(tmp_path, 2, seed=48)
    _viewer, session = _synchronous_session(make_napari_viewer)
    session.open_grid(grid, out)
    session.next()
    _viewer2, again = _synchronous_session(make_napari_viewer)
    notes = _notes(monkeypatch)
    again.open_grid(grid, out)
    resumed = next(n for n in notes if n.startswith("resuming grid session at g1.tif (1 saved)"))
    assert "not those chosen here" not in resumed


def test_an_uncalibrated_micrograph_is_named_and_segmented_once_calibrated(make_napari_viewer, tmp_path, monkeypatch):
    """Before, a micrograph without a pixel size was skipped with a passing warning: the grid summary never named
    it, calibrating it did not segment it, and Save returned False without a word."""
    from PIL import Image

    from exo_vision.plugins._vesicles import apply_pixel_size

    grid, out = _grid_of(tmp_path, 1, seed=50)
    image, _ = make_synthetic_tem(
        (512, 512), pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", n_vesicles=8, scale_bar=False, rng=51
    )
    gray = np.clip((image - image.min()) / np.ptp(image) * 255, 0, 255).astype(np.uint8)
    Image.fromarray(gray).save(grid / "g1_nocal.png")  # no calibration in the file, no scale bar
    viewer, session = _synchronous_session(make_napari_viewer)
    notes = _notes(monkeypatch)
    session.open_grid(grid, out)
    session.next()
    assert session.core.current.name == "g1_nocal.png" and session.labels_layer is None
    assert any("g1_nocal.png has no pixel size" in n and "Calibration dock" in n for n in notes)
    assert "not analysed: no pixel size: g1_nocal.png" in session._summary.value
    assert session._summary.value.startswith("1 micrograph(s) saved")
    assert not session.save_current()
    assert "g1_nocal.png is not saved: it has no pixel size" in notes[-1]
    apply_pixel_size(viewer, session.image_layer, PIXEL_SIZE_NM, source="user")  # as the Calibration dock does
    assert session.labels_layer is not None and session.labels_layer in viewer.layers
    assert tuple(session.labels_layer.scale) == (PIXEL_SIZE_NM, PIXEL_SIZE_NM)
    assert len(session.labels_layer.features) > 0
    assert session.save_current()
    marker = json.loads((out / "g1_nocal_done.json").read_text())
    assert marker["pixel_size_nm"] == PIXEL_SIZE_NM and marker["pixel_size_source"] == "user"
    assert "not analysed" not in session._summary.value
    assert session._summary.value.startswith("2 micrograph(s) saved")
