"""The docks under a user who does things in an awkward order: recalibrating during a run, changing
settings before the next micrograph, reusing label ids, stacks, stale exports, napari's own scale."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

pytest.importorskip("napari")

from tests.plugins.test_plugin_tem import PLUGIN, _dock, _segmented, open_two_micrograph_grid, write_micrograph  # noqa: E402


@pytest.fixture
def micrograph(tmp_path):
    path = tmp_path / "mic.tif"
    write_micrograph(path, seed=3)
    return path


def test_a_result_computed_before_a_recalibration_is_not_shown(make_napari_viewer, micrograph, qtbot, monkeypatch):
    import exo_vision.plugins.segmentation_widget as module

    warnings = []
    monkeypatch.setattr(module, "show_warning", warnings.append)
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(micrograph), plugin=PLUGIN)
    _, seg = _dock(viewer, "Vesicle segmentation")
    _, cal = _dock(viewer, "Calibration")
    seg.set_parameters(min_diameter_nm=20.0, max_diameter_nm=400.0)
    worker = seg.run()
    cal._typed.value = 4.0  # the user corrects the calibration while the run is under way
    cal.apply_typed()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=60_000)
    qtbot.wait(200)
    assert image.metadata["pixel_size_nm"] == 4.0
    assert seg.labels_layer is None and len(viewer.layers) == 1  # no table in 2 nm/px drawn at 4 nm/px
    assert any("changed from 2 to 4 nm/px while it was being segmented" in w for w in warnings)
    with qtbot.waitSignal(seg.signals.shown, timeout=60_000) as shown:
        seg.run()
    assert set(shown.args[0].features["pixel_size_nm"]) == {4.0}


def test_settings_changed_before_the_next_micrograph_apply_to_it(make_napari_viewer, tmp_path, qtbot):
    _, session = open_two_micrograph_grid(make_napari_viewer, tmp_path, qtbot)
    session._min_d.value = 60.0  # after the next micrograph was computed ahead
    assert session.precomputed == {}
    session.next()
    qtbot.waitUntil(lambda: session.labels_layer is not None and session.index == 1, timeout=60_000)
    layer = session.labels_layer
    assert layer.metadata["parameters"]["min_diameter_nm"] == 60.0
    assert layer.features["equivalent_diameter_nm"].min() >= 60.0


def test_a_deleted_vesicles_morphology_does_not_pass_to_a_new_one(make_napari_viewer, micrograph):
    viewer, _, _, labels = _segmented(make_napari_viewer, micrograph)
    _, cur = _dock(viewer, "Curation")
    table = labels.features
    top = int(table["label"].max())
    cur.set_morphology(top, "irregular")
    cur.delete(top)
    assert labels.metadata["morphology_overrides"] == {}
    largest = int(table.loc[table["label"] != top].sort_values("area_nm2")["label"].iloc[-1])
    cur.split(largest)
    new = int(labels.features["label"].max())
    assert new == top  # the freed id is given to the split's second part ...
    assert labels.features.loc[labels.features["label"] == new, "morphology"].item() != "irregular"  # ... alone


def test_micrographs_sharing_a_stem_are_both_counted(make_napari_viewer, tmp_path):
    grid = tmp_path / "grid"
    grid.mkdir()
    write_micrograph(grid / "img01.tif", seed=30)
    write_micrograph(grid / "img01.tiff", seed=31)
    viewer = make_napari_viewer()
    _, session = _dock(viewer, "Grid session")
    session.synchronous = True
    session._min_d.value = 20.0
    session.open_grid(grid, tmp_path / "out")
    session.next()
    session.next()  # the last one: saved
    assert sorted(session.tables) == ["img01_tif", "img01_tiff"]
    assert session._summary.value.startswith("2 micrograph(s) saved")


@pytest.mark.parametrize("dock", ["Blot quantification", "Calibration"])
def test_a_stack_layer_gets_a_warning_and_nothing_changes(make_napari_viewer, monkeypatch, dock):
    import exo_vision.plugins.blot_widget as blot_module
    import exo_vision.plugins.calibration_widget as calibration_module

    warnings = []
    for module in (blot_module, calibration_module):
        monkeypatch.setattr(module, "show_warning", warnings.append)
    viewer = make_napari_viewer()
    stack = viewer.add_image(np.zeros((2, 64, 64), np.uint16), name="stack")
    _, widget = _dock(viewer, dock)
    if dock == "Blot quantification":
        widget.quantify()
    else:
        widget.detect_scale_bar(sync=True)
        widget._typed.value = 0.8
        widget.apply_typed()
        assert "pixel_size_nm" not in stack.metadata and tuple(stack.scale) == (1.0, 1.0, 1.0)
    # the blot dock can read one frame of a stack (advanced 'frame of a stack', the CLI's --frame) and says so
    expected = (
        "is a stack of 2 images; set 'frame of a stack'" if dock == "Blot quantification" else "has shape (2, 64, 64)"
    )
    assert warnings and all(expected in w for w in warnings)


def test_the_histogram_export_is_what_is_drawn(make_napari_viewer, micrograph, tmp_path):
    viewer, _, _, labels = _segmented(make_napari_viewer, micrograph)
    _, hist = _dock(viewer, "Size histogram")
    hist.refresh()
    assert len(hist.plot.bins) > 0
    viewer.layers.remove(labels)
    hist.refresh()
    hist.plot.export(tmp_path / "bins.csv")
    assert (tmp_path / "bins.csv").read_text().strip().count("\n") == 0  # the header only


def test_a_napari_scale_in_nm_is_a_calibration(make_napari_viewer, micrograph):
    from exo_vision.plugins._layers import image_data_from_layer

    pixels = tifffile.imread(micrograph)
    viewer = make_napari_viewer()
    layer = viewer.add_image(pixels, scale=(0.002, 0.002), units=("um", "um"))
    image = image_data_from_layer(layer)
    assert image.pixel_size_nm == pytest.approx(2.0) and image.pixel_size_source == "napari layer scale"
    _, seg = _dock(viewer, "Vesicle segmentation")
    seg.set_parameters(min_diameter_nm=20.0, max_diameter_nm=400.0)
    labels = seg.run(sync=True)
    assert labels is not None and labels.features["pixel_size_nm"].to_numpy() == pytest.approx(2.0)
    plain = viewer.add_image(pixels, scale=(2.0, 2.0))  # a scale in napari's default unit, pixels
    assert image_data_from_layer(plain).pixel_size_nm is None


def test_a_duplicated_image_is_analysed_and_calibrated_apart_from_its_original(make_napari_viewer, micrograph):
    """Before, the copy's segmentation replaced the original's vesicle layer and its calibration rescaled them."""
    from napari.layers._layer_actions import _duplicate_layer

    from exo_vision.plugins._layers import find_derived
    from exo_vision.plugins._vesicles import ROLE

    viewer = make_napari_viewer()
    (original,) = viewer.open(str(micrograph), plugin="exo-vision")
    _, seg = viewer.window.add_plugin_dock_widget("exo-vision", "Vesicle segmentation")
    _, cal = viewer.window.add_plugin_dock_widget("exo-vision", "Calibration")
    viewer.layers.selection.active = original
    first = seg.run(sync=True)
    n_original = len(first.features)
    viewer.layers.selection = {original}
    _duplicate_layer(viewer.layers)
    copy = viewer.layers[viewer.layers.index(original) + 1]
    viewer.layers.selection.active = copy
    seg.set_parameters(min_diameter_nm=90.0, max_diameter_nm=400.0)
    second = seg.run(sync=True)
    # (the dock hands out napari's public proxies of its layers: compared by name)
    assert second.name != first.name and first.name in viewer.layers and len(first.features) == n_original
    assert find_derived(viewer, copy, ROLE).name == second.name
    assert find_derived(viewer, original, ROLE).name == first.name
    px = original.metadata["pixel_size_nm"]
    viewer.layers.selection.active = copy
    cal._typed.value = 2.0
    cal.apply_typed()
    assert tuple(copy.scale) == (2.0, 2.0) and tuple(second.scale) == (2.0, 2.0)
    assert original.metadata["pixel_size_nm"] == px and tuple(first.scale) == pytest.approx((px, px))


def test_curating_a_duplicated_vesicle_layer_leaves_the_original_alone(make_napari_viewer, micrograph):
    """napari's Duplicate Layer copies metadata shallowly: the copy's edits went into the original's edit log and
    morphology overrides (a deletion logged on a layer that still holds the vesicle)."""
    from napari.layers._layer_actions import _duplicate_layer

    viewer, _image, _seg, original = _segmented(make_napari_viewer, micrograph)
    _, cur = _dock(viewer, "Curation")
    labels = sorted(int(v) for v in original.features["label"])
    morphology = dict(zip(original.features["label"].astype(int), original.features["morphology"], strict=True))
    viewer.layers.selection = {original}
    _duplicate_layer(viewer.layers)
    copy = viewer.layers[viewer.layers.index(original.name) + 1]
    viewer.layers.selection.active = copy
    assert cur.layer.name == copy.name
    new = "irregular" if morphology[labels[1]] != "irregular" else "round"
    cur.set_morphology(labels[1], new)
    cur.delete(labels[0])
    assert [e["action"] for e in copy.metadata["edit_log"]] == ["set morphology", "delete"]
    assert original.metadata.get("edit_log", []) == [] and not original.metadata.get("morphology_overrides")
    viewer.layers.selection.active = original
    cur.update_measurements()
    after = dict(zip(original.features["label"].astype(int), original.features["morphology"], strict=True))
    assert after == morphology and labels[0] in np.unique(np.asarray(original.data))


def test_a_scale_set_in_napari_is_what_exo_vision_measures_at(make_napari_viewer, micrograph, monkeypatch):
    """A script set the image's napari scale to twice its calibration: napari's scale bar said one nm/px while the
    docks, the tables and the writers kept the file's."""
    from exo_vision.plugins import _vesicles

    shown: list[str] = []
    monkeypatch.setattr(_vesicles, "show_warning", shown.append)
    viewer, image, seg, labels = _segmented(make_napari_viewer, micrograph)
    px = image.metadata["pixel_size_nm"]
    before = labels.features.set_index("label")["equivalent_diameter_nm"]
    image.scale = (2 * px, 2 * px)  # e.g. from the console
    assert image.metadata["pixel_size_nm"] == pytest.approx(2 * px)
    assert image.metadata["pixel_size_source"].startswith("napari layer scale (set in napari; it was")
    assert tuple(labels.scale) == pytest.approx((2 * px, 2 * px))
    after = labels.features.set_index("label")["equivalent_diameter_nm"]
    np.testing.assert_allclose(after.loc[before.index], 2 * before, rtol=1e-9)
    assert len(shown) == 1 and f"was set in napari to {2 * px:.4g} nm/px" in shown[0]
    _, cal = _dock(viewer, "Calibration")
    viewer.layers.selection.active = image
    cal._show_current()
    assert f"{2 * px:.4g} nm/px (napari layer scale" in cal._current.value


def test_a_finished_segmentation_lets_go_of_its_micrograph(make_napari_viewer, micrograph, qtbot):
    """napari keeps every worker for the window's lifetime, and a finished worker held its function (a closure
    over the micrograph) and its result slot (the layer): each run kept its image after its layers were closed."""
    import gc
    import weakref

    viewer = make_napari_viewer()
    (image,) = viewer.open(str(micrograph), plugin=PLUGIN)
    _, seg = _dock(viewer, "Vesicle segmentation")
    seg.set_parameters(min_diameter_nm=20.0, max_diameter_nm=400.0)
    with qtbot.waitSignal(seg.signals.shown, timeout=60_000):
        worker = seg.run()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    qtbot.wait(100)
    data = weakref.ref(getattr(image, "__wrapped__", image).data)
    viewer.layers.clear()
    seg.labels_layer = None
    del image
    gc.collect()
    assert worker._func is None and worker._args == ()
    assert data() is None


def test_closing_napari_during_a_segmentation_stops_it_without_errors(make_napari_viewer, micrograph, qtbot):
    """The run went on after the window closed, and its progress and finished callbacks raised 'wrapped C/C++
    object has been deleted' in the event loop."""
    viewer = make_napari_viewer()
    viewer.open(str(micrograph), plugin=PLUGIN)
    _, seg = _dock(viewer, "Vesicle segmentation")
    worker = seg.run()
    qtbot.wait(300)
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=60_000)
    qtbot.wait(200)  # the queued callbacks run: none may raise (pytest-qt fails the test on an exception there)
    assert seg._cancel_event.is_set()


def test_a_scale_line_on_a_stack_is_refused_with_the_reason(make_napari_viewer, monkeypatch):
    from exo_vision.plugins import calibration_widget

    shown: list[str] = []
    monkeypatch.setattr(calibration_widget, "show_warning", shown.append)
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((5, 64, 64), np.float32), name="stack")
    _, cal = _dock(viewer, "Calibration")
    assert cal.start_line() is None
    assert "exo_vision analyses one 2-D grey image at a time" in shown[0] and len(viewer.layers) == 1


def test_the_vesicles_and_the_scale_line_sit_on_an_image_that_was_moved(make_napari_viewer, micrograph):
    """Derived layers copied the image's scale but not its translate: drawn off an image with a stage offset."""
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(micrograph), plugin=PLUGIN)
    image.translate = (100.0, 200.0)
    _, seg = _dock(viewer, "Vesicle segmentation")
    seg.set_parameters(min_diameter_nm=20.0, max_diameter_nm=400.0)
    labels = seg.run(sync=True)
    _, cal = _dock(viewer, "Calibration")
    viewer.layers.selection.active = image
    line = cal.start_line()
    assert tuple(labels.translate) == tuple(line.translate) == (100.0, 200.0)


def test_an_image_in_micrometres_is_calibrated_in_nm_without_a_second_rescale(make_napari_viewer, monkeypatch):
    """The scale was set before the units: its event read 0.5 in µm (500 nm/px) while the dock had set 0.5 nm."""
    from exo_vision.plugins import _vesicles

    shown: list[str] = []
    monkeypatch.setattr(_vesicles, "show_warning", shown.append)
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.float32), scale=(0.0008, 0.0008), units=("um", "um"), name="um")
    _, cal = _dock(viewer, "Calibration")
    viewer.layers.selection.active = image
    cal._show_current()  # the dock follows this image's scale from now on
    cal._typed.value = 0.5
    cal.apply_typed()
    assert image.metadata["pixel_size_nm"] == 0.5 and tuple(image.scale) == (0.5, 0.5)
    assert [str(u) for u in image.units] == ["nanometer", "nanometer"] and shown == []


def test_a_colour_overlay_is_refused_for_segmentation_as_the_command_line_refuses_it(make_napari_viewer, monkeypatch):
    import exo_vision.plugins.segmentation_widget as module

    shown = []
    monkeypatch.setattr(module, "show_warning", shown.append)
    viewer = make_napari_viewer()
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 1] = 120
    rgb[10:30, 10:30, 0] = 255  # red annotation strokes over a grey-green picture
    viewer.add_image(rgb, name="overlay", rgb=True, metadata={"pixel_size_nm": 1.0})
    _, widget = _dock(viewer, "Vesicle segmentation")
    assert widget.run(sync=True) is None
    assert shown and "is a colour image (its RGB channels differ)" in shown[0]
    assert [layer.name for layer in viewer.layers] == ["overlay"]


def test_a_refused_pixel_size_changes_nothing_and_curation_goes_on(make_napari_viewer, micrograph):
    """micro50 HIGH-1: a typed 62.4 nm/px was refused with a warning but set on the image and label layers (scale,
    metadata, the dock's reading) while the table kept the old size; the next Delete raised a ValueError."""
    viewer, image, _seg, labels = _segmented(make_napari_viewer, micrograph)
    _, cal = _dock(viewer, "Calibration")
    _, cur = _dock(viewer, "Curation")
    px = image.metadata["pixel_size_nm"]
    source = image.metadata["pixel_size_source"]
    before = labels.features.copy()
    viewer.layers.selection.active = image
    cal._typed.value = 62.4  # a slip: ten times 6.24, too coarse for vesicles
    cal.apply_typed()
    assert image.metadata["pixel_size_nm"] == px and image.metadata["pixel_size_source"] == source
    assert tuple(image.scale) == pytest.approx((px, px)) and tuple(labels.scale) == pytest.approx((px, px))
    assert labels.metadata["pixel_size_nm"] == px
    assert labels.features["equivalent_diameter_nm"].tolist() == before["equivalent_diameter_nm"].tolist()
    viewer.layers.selection.active = labels
    first = int(before["label"].iloc[0])
    cur.delete(first)  # raised "pixel_size_nm = 62.4 nm is too coarse" once the layers held the refused size
    assert first not in labels.features["label"].astype(int).tolist()
