"""Reader, writers and sample data of the napari plugin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

pytest.importorskip("napari")

from exo_vision.plugins import reader as reader_module  # noqa: E402
from exo_vision.plugins.reader import get_reader, read_layers  # noqa: E402
from exo_vision.plugins.writers import labels_to_tiff, write_labels_tiff, write_measurements_csv  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def _imagej_tiff(path: Path, pixel_size_nm: float, shape=(64, 80)) -> np.ndarray:
    data = (np.arange(shape[0] * shape[1]) % 251).astype(np.uint16).reshape(shape)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / pixel_size_nm, 1 / pixel_size_nm),
        metadata={"unit": "nm", "axes": "YX"},
    )
    return data


def test_get_reader_declines_what_it_cannot_read(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert get_reader(str(text)) is None
    assert get_reader(str(tmp_path)) is None
    assert get_reader(str(tmp_path / "missing.tif")) is None
    assert get_reader([]) is None


def test_reader_gives_nm_scale_units_and_source(tmp_path):
    path = tmp_path / "grid1_a.tif"
    data = _imagej_tiff(path, 0.75)
    read = get_reader(str(path))
    assert read is read_layers
    (layer_data, kwargs, layer_type) = read(str(path))[0]
    assert layer_type == "image"
    np.testing.assert_array_equal(layer_data, data)
    assert kwargs["scale"] == pytest.approx((0.75, 0.75), rel=1e-4)
    assert kwargs["units"] == ("nm", "nm")
    assert kwargs["metadata"]["pixel_size_nm"] == pytest.approx(0.75, rel=1e-4)
    assert kwargs["metadata"]["pixel_size_source"].startswith("file metadata")


def test_unreadable_file_is_one_error_naming_the_file_and_the_fix(tmp_path, monkeypatch):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage that is not a tiff")
    shown = []
    monkeypatch.setattr(reader_module, "show_warning", shown.append)
    assert get_reader(str(bad)) is read_layers
    with pytest.raises(
        reader_module.ReaderRefusal, match=r"broken\.tif: could not be decoded .* export the file again"
    ):
        read_layers(str(bad))
    assert shown == []  # the error is the one message


def test_a_refused_file_opened_in_the_viewer_gives_one_clear_error_not_napari_s_generic_one(
    make_napari_viewer, tmp_path, monkeypatch
):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage that is not a tiff")
    shown = []
    monkeypatch.setattr(reader_module, "show_warning", shown.append)
    monkeypatch.setattr(reader_module, "show_info", shown.append)
    viewer = make_napari_viewer()
    with pytest.raises(ValueError) as raised:
        viewer.open(str(bad), plugin="exo-vision")
    message = str(raised.value)
    assert "returned no data" not in message
    assert "broken.tif" in message and "truncated or corrupt" in message and "export the file again" in message
    assert shown == [] and len(viewer.layers) == 0


def test_of_several_files_the_readable_ones_open_and_each_refused_one_is_named_once(tmp_path, monkeypatch):
    good = tmp_path / "good.tif"
    _imagej_tiff(good, 1.5)
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage that is not a tiff")
    shown = []
    monkeypatch.setattr(reader_module, "show_warning", shown.append)
    layers = read_layers([str(good), str(bad)])
    assert len(layers) == 1 and layers[0][1]["scale"] == pytest.approx((1.5, 1.5), rel=1e-4)
    assert len(shown) == 1 and "broken.tif" in shown[0] and "good.tif" not in shown[0]
    with pytest.raises(reader_module.ReaderRefusal) as raised:
        read_layers([str(bad), str(tmp_path / "broken.tif")])
    assert str(raised.value).count("broken.tif") == 2 and len(shown) == 1


def test_viewer_open_through_plugin_scales_layer(make_napari_viewer, tmp_path):
    path = tmp_path / "mic.tif"
    _imagej_tiff(path, 1.25)
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin="exo-vision")
    assert len(layers) == 1
    assert tuple(layers[0].scale) == pytest.approx((1.25, 1.25), rel=1e-4)
    assert layers[0].metadata["pixel_size_source"].startswith("file metadata")


def test_real_sample_opens_with_scale_bar_calibration(make_napari_viewer):
    sample = REPO / "sample_images" / "hrml_ev_negative_stain.jpg"
    if not sample.is_file():
        pytest.skip(f"{sample} not present")
    viewer = make_napari_viewer()
    layers = viewer.open_sample("exo-vision", "tem_real")
    image = layers[0]
    # 500 nm bar = 801 px -> 0.624 nm/px (see ../shared/data/README.md)
    assert 0.60 < image.scale[-1] < 0.65
    assert image.metadata["pixel_size_source"] == "scale bar"


def test_labels_tiff_round_trip_keeps_calibration(tmp_path):
    labels = np.zeros((40, 50), dtype=np.int32)
    labels[5:15, 5:15] = 1
    labels[20:30, 30:45] = 7
    path = labels_to_tiff(tmp_path / "labels.tif", labels, pixel_size_nm=0.5)
    with tifffile.TiffFile(path) as tif:
        back = tif.asarray()
        x_res = tif.pages[0].tags["XResolution"].value
        assert tif.imagej_metadata["unit"] == "nm"
    np.testing.assert_array_equal(back, labels)
    assert x_res[1] / x_res[0] == pytest.approx(0.5, rel=1e-4)
    written = write_labels_tiff(str(tmp_path / "w.tif"), labels, {"metadata": {"pixel_size_nm": 2.0}})
    with tifffile.TiffFile(written[0]) as tif:
        x_res = tif.pages[0].tags["XResolution"].value
    assert x_res[1] / x_res[0] == pytest.approx(2.0, rel=1e-4)


def test_measurements_csv_writes_features_without_napari_index(tmp_path, monkeypatch):
    from exo_vision.plugins import writers

    features = pd.DataFrame({"label": [1, 2], "equivalent_diameter_nm": [80.5, 120.0], "index": [1, 2]})
    out = write_measurements_csv(str(tmp_path / "m.csv"), None, {"name": "v", "features": features})
    back = pd.read_csv(out[0])
    assert list(back.columns) == ["label", "equivalent_diameter_nm"]
    assert back["equivalent_diameter_nm"].tolist() == [80.5, 120.0]
    # the bytes exo-vision tem writes for the same table (12 significant digits)
    from exo_vision.batch.image_outputs import table_csv_text

    precise = features.assign(equivalent_diameter_nm=[80.123456789012345, 120.0])
    out = write_measurements_csv(str(tmp_path / "p.csv"), None, {"name": "v", "features": precise})
    assert Path(out[0]).read_text() == table_csv_text(
        precise.drop(columns="index")
    ) and "80.123456789," in table_csv_text(precise)
    # napari takes a writer's ValueError for "not a valid writer": the reason is shown instead
    shown: list[str] = []
    monkeypatch.setattr(writers, "show_warning", shown.append)
    assert write_measurements_csv(str(tmp_path / "e.csv"), None, {"name": "v", "features": pd.DataFrame()}) == []
    assert "has no measurements" in shown[0] and not (tmp_path / "e.csv").exists()
    assert write_labels_tiff(str(tmp_path / "s.tif"), np.zeros((2, 4, 4), np.int32), {}) == []
    assert "must be 2-D" in shown[1]


def test_labels_tiff_writer_converts_any_length_unit_and_keeps_non_square_pixels(tmp_path):
    """µm scales were written uncalibrated, and (4, 2) nm pixels as 2 x 2 nm."""
    labels = np.zeros((20, 30), np.int32)
    labels[5:10, 5:20] = 1
    for name, attributes, expected in (
        ("um", {"scale": (0.0008, 0.0008), "units": ("micrometer", "micrometer")}, (0.8, 0.8)),
        ("aniso", {"scale": (4.0, 2.0), "units": ("nm", "nm")}, (4.0, 2.0)),
        ("px", {"scale": (1.0, 1.0), "units": ("pixel", "pixel"), "metadata": {"pixel_size_nm": 1.5}}, (1.5, 1.5)),
    ):
        (path,) = write_labels_tiff(str(tmp_path / f"{name}.tif"), labels, attributes)
        with tifffile.TiffFile(path) as tif:
            x_res, y_res = tif.pages[0].tags["XResolution"].value, tif.pages[0].tags["YResolution"].value
            assert tif.imagej_metadata["unit"] == "nm", name
        assert (y_res[1] / y_res[0], x_res[1] / x_res[0]) == pytest.approx(expected, rel=1e-4), name


def test_a_label_image_written_by_exo_vision_opens_as_labels_on_its_calibration(tmp_path, monkeypatch):
    """<stem>_labels.tif opened as a grey Image layer (it could not be curated), and `info` called it a
    micrograph; a figure of noisy blots on a white page is no label image."""
    from exo_vision.batch.image_outputs import write_labels_tiff as write_run_labels
    from exo_vision.io.read import read_image
    from exo_vision.synthetic.tem import make_synthetic_tem

    monkeypatch.setattr(reader_module, "show_warning", lambda message: None)
    _, truth = make_synthetic_tem(
        (256, 256), pixel_size_nm=2.0, difficulty="easy", n_vesicles=8, scale_bar=False, rng=4
    )
    path = tmp_path / "mic_labels.tif"
    write_run_labels(path, truth.labels, pixel_size_nm=2.0)
    image = read_image(path)
    assert image.metadata["label_image"] and image.warnings[-1].startswith("looks like a label image or mask")
    ((data, kwargs, layer_type),) = read_layers(str(path))
    assert layer_type == "labels" and tuple(kwargs["scale"]) == (2.0, 2.0)
    np.testing.assert_array_equal(data, truth.labels)
    page = np.full((300, 300), 255, np.uint8)
    page[100:200, 50:250] = np.random.default_rng(0).integers(20, 200, (100, 200))  # a noisy blot on white
    tifffile.imwrite(tmp_path / "figure.tif", page)
    assert read_layers(str(tmp_path / "figure.tif"))[0][2] == "image"


def _calibrated_tiff(path: Path, data: np.ndarray, pixel_yx_nm: tuple[float, float]) -> None:
    axes = "ZYX" if data.ndim == 3 else "YX"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / pixel_yx_nm[1], 1 / pixel_yx_nm[0]),
        metadata={"unit": "nm", "axes": axes},
    )


def test_a_stack_opens_for_viewing_and_its_split_frames_are_calibrated(make_napari_viewer, tmp_path, monkeypatch):
    from napari.layers._layer_actions import _split_stack

    from exo_vision.plugins._layers import image_data_from_layer

    rng = np.random.default_rng(7)
    stack = rng.integers(0, 4000, (3, 48, 64)).astype(np.uint16)
    path = tmp_path / "tilt_series.tif"
    _calibrated_tiff(path, stack, (0.8, 0.8))
    shown = []
    monkeypatch.setattr(reader_module, "show_info", shown.append)
    (data, kwargs, layer_type) = read_layers(str(path))[0]
    assert layer_type == "image"
    np.testing.assert_array_equal(data, stack)
    assert kwargs["scale"] == pytest.approx((1.0, 0.8, 0.8), rel=1e-4)
    assert kwargs["units"] == ("pixel", "nm", "nm")
    assert len(shown) == 1 and "tilt_series.tif: opened for viewing only" in shown[0] and "Split Stack" in shown[0]

    viewer = make_napari_viewer()
    layer = viewer.open(str(path), plugin="exo-vision")[0]
    with pytest.raises(ValueError, match="one 2-D grey image at a time"):
        image_data_from_layer(layer)
    viewer.layers.selection.active = layer
    _split_stack(viewer.layers)
    assert len(viewer.layers) == 3
    frame = image_data_from_layer(viewer.layers[1])
    np.testing.assert_array_equal(frame.data, stack[1])
    assert frame.pixel_size_nm == pytest.approx(0.8, rel=1e-4)


def test_non_square_pixels_open_for_viewing_and_are_not_measured(tmp_path, monkeypatch):
    from exo_vision.plugins._layers import image_data_from_layer
    from exo_vision.tem_analysis import analyse_micrograph

    path = tmp_path / "stretched.tif"
    data = (np.arange(64 * 96) % 211).astype(np.uint16).reshape(64, 96)
    _calibrated_tiff(path, data, (0.5, 1.0))
    shown = []
    monkeypatch.setattr(reader_module, "show_info", shown.append)
    (layer_data, kwargs, _) = read_layers(str(path))[0]
    assert kwargs["scale"] == pytest.approx((0.5, 1.0), rel=1e-4)
    assert "pixel_size_nm" not in kwargs["metadata"]
    assert "non-square pixels" in shown[0] and "resample" in shown[0]

    class Layer:  # what napari builds from the tuple
        name = "stretched"
        scale = kwargs["scale"]
        units = kwargs["units"]
        metadata = kwargs["metadata"]

    Layer.data = layer_data
    image = image_data_from_layer(Layer)
    with pytest.raises(ValueError, match=r"stretched\.tif has non-square pixels .*resample it to square pixels"):
        analyse_micrograph(image)
    assert analyse_micrograph(image.with_pixel_size(0.75)).image_data.pixel_size_nm == 0.75


def test_a_colour_layer_is_made_gray_as_the_reader_makes_the_same_file_gray(tmp_path):
    from exo_vision.io import read_image
    from exo_vision.plugins._layers import image_data_from_layer

    g = np.random.default_rng(1)
    rgb = g.integers(0, 60000, (40, 50, 3)).astype(np.uint16)  # channels differ: a colour export
    path = tmp_path / "two_colour.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    expected = read_image(path, kind="blot")

    class Layer:
        name, data, metadata, scale, units = "two_colour", rgb, {}, (1.0, 1.0), ("pixel", "pixel")

    image = image_data_from_layer(Layer)
    np.testing.assert_array_equal(image.data, expected.data)  # luminance, not the mean of the channels
    assert any("luminance" in w for w in image.warnings)


def test_a_blot_frame_split_from_a_stack_exports_the_command_that_repeats_it(make_napari_viewer, tmp_path):
    import json

    from napari.layers._layer_actions import _split_stack

    from exo_vision.cli.main import main
    from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot

    frames = [
        make_synthetic_blot([StripSpec("CD9", v, "sharp", height_px=200)], rng=9, spacing_jitter=0.0, n_dust=0).image
        for v in ([1e6, 5e5, 8e5], [2e5, 9e5, 4e5])
    ]
    path = tmp_path / "two_channels.tif"
    tifffile.imwrite(path, np.stack(frames), imagej=True, metadata={"axes": "ZYX"})
    viewer = make_napari_viewer()
    stack = viewer.open(str(path), plugin="exo-vision")[0]
    viewer.layers.selection.active = stack
    _split_stack(viewer.layers)
    second = viewer.layers["two_channels layer 1"]
    viewer.layers.selection.active = second
    _, dock = viewer.window.add_plugin_dock_widget("exo-vision", "Blot quantification")
    dock.synchronous = True
    dock.quantify()
    assert len({layer.metadata["exo_vision_id"] for layer in viewer.layers if "exo_vision_id" in layer.metadata}) >= 2
    out = tmp_path / "dock"
    out.mkdir()
    assert dock.export(out)
    run = json.loads((out / "run.json").read_text())
    assert run["parameters"]["frame"] == 1
    command = list(run["command"])
    assert command[:2] == ["exo-vision", "blot"] and "--frame" in command
    command[command.index("--out") + 1] = str(tmp_path / "cli")
    assert main(command[1:]) == 0  # the command repeats the dock's run on frame 1 of the file
    assert (tmp_path / "cli" / "two_channels_bands.csv").read_bytes() == (out / "two_channels_bands.csv").read_bytes()


def test_the_calibration_dock_offers_no_pixel_size_for_non_square_pixels(make_napari_viewer, tmp_path):
    path = tmp_path / "stretched.tif"
    _calibrated_tiff(path, (np.arange(64 * 96) % 211).astype(np.uint16).reshape(64, 96), (1.2, 0.6))
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="exo-vision")
    _, dock = viewer.window.add_plugin_dock_widget("exo-vision", "Calibration")
    dock._show_current()
    assert "non-square pixels (y 1.2 nm, x 0.6 nm" in dock._current.value and "resample" in dock._current.value
    assert dock._typed.value != pytest.approx(0.9)  # the mean of the two axes is not offered


def test_slightly_non_square_pixels_keep_the_file_as_their_source(tmp_path):
    from exo_vision.plugins._layers import layer_pixel_size

    path = tmp_path / "nearly_square.tif"
    _calibrated_tiff(path, (np.arange(64 * 96) % 211).astype(np.uint16).reshape(64, 96), (1.206, 1.194))  # 1 % apart
    (_, kwargs, _) = read_layers(str(path))[0]

    class Layer:  # what napari builds from the tuple
        scale, units, metadata = kwargs["scale"], kwargs["units"], kwargs["metadata"]

    px, source = layer_pixel_size(Layer)
    assert px == pytest.approx(1.2, rel=1e-4)
    assert source.startswith("file metadata") and "set in napari" not in source


def _mrc(path: Path, data: np.ndarray, voxel_angstrom: tuple[float, float, float], *, image_stack: bool) -> None:
    import mrcfile

    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel_angstrom  # (x, y, z) in Å
        if image_stack:
            mrc.set_image_stack()


def test_an_mrc_volume_shows_its_slice_depth_in_nm_and_a_stack_its_frames(tmp_path, monkeypatch):
    """A tomogram's z axis was shown in pixels beside x/y in nm; its slices are a voxel depth apart."""
    from exo_vision.io.view import read_for_viewing

    monkeypatch.setattr(reader_module, "show_info", lambda message: None)
    rng = np.random.default_rng(3)
    data = rng.normal(0, 1, (4, 24, 32)).astype(np.float32)
    volume, stack = tmp_path / "tomogram.mrc", tmp_path / "frames.mrcs.mrc"
    _mrc(volume, data, (12.0, 12.0, 30.0), image_stack=False)  # 1.2 nm pixels, 3 nm slices
    _mrc(stack, data, (12.0, 12.0, 30.0), image_stack=True)

    assert read_for_viewing(volume).slice_spacing_nm == pytest.approx(3.0)
    (layer_data, kwargs, _) = read_layers(str(volume))[0]
    np.testing.assert_array_equal(layer_data, data)
    assert kwargs["scale"] == pytest.approx((3.0, 1.2, 1.2))
    assert kwargs["units"] == ("nm", "nm", "nm")
    assert kwargs["metadata"]["pixel_size_nm"] == pytest.approx(1.2)  # its slices are measured at x/y's nm/px

    # the frames of an image stack are separate pictures: the header's z (Å) is no distance between them
    assert read_for_viewing(stack).slice_spacing_nm is None
    (_, kwargs, _) = read_layers(str(stack))[0]
    assert kwargs["scale"] == pytest.approx((1.0, 1.2, 1.2))
    assert kwargs["units"] == ("pixel", "nm", "nm")


def _units(layer) -> tuple[str, ...]:
    return tuple(str(unit) for unit in layer.units)


def test_frames_split_from_a_stack_keep_its_nm_units(make_napari_viewer, tmp_path, monkeypatch):
    """Split Stack gave each frame scale 0.8 in "pixel" units while the stack was in nm."""
    from napari.layers._layer_actions import _split_stack

    from exo_vision.plugins._layers import layer_pixel_size
    from exo_vision.plugins.calibration_widget import CalibrationWidget

    monkeypatch.setattr(reader_module, "show_info", lambda message: None)
    rng = np.random.default_rng(11)
    series = tmp_path / "tilt_series.tif"
    _calibrated_tiff(series, rng.integers(0, 4000, (3, 48, 64)).astype(np.uint16), (0.8, 0.8))
    tomogram = tmp_path / "tomogram.mrc"
    _mrc(tomogram, rng.normal(0, 1, (2, 24, 32)).astype(np.float32), (12.0, 12.0, 30.0), image_stack=False)

    viewer = make_napari_viewer()
    (stack,) = viewer.open(str(series), plugin="exo-vision")
    assert _units(stack) == ("pixel", "nanometer", "nanometer")
    viewer.layers.selection.active = stack
    _split_stack(viewer.layers)  # before any exo_vision dock is open
    frames = list(viewer.layers)
    assert [f.name for f in frames] == [f"tilt_series layer {i}" for i in range(3)]
    assert _units(frames[1]) == ("pixel", "pixel")  # napari drops the units; the scale stays
    assert tuple(frames[1].scale) == pytest.approx((0.8, 0.8), rel=1e-4)

    dock = CalibrationWidget(viewer)  # the dock finds the frames already there
    for frame in frames:
        assert _units(frame) == ("nanometer", "nanometer")
        assert tuple(frame.scale) == pytest.approx((0.8, 0.8), rel=1e-4)
        px, source = layer_pixel_size(frame)
        assert px == pytest.approx(0.8, rel=1e-4) and source.startswith("file metadata")
    assert "0.8 nm/px" in dock._current.value

    # with the dock open, frames split later are given nm as they arrive
    (volume,) = viewer.open(str(tomogram), plugin="exo-vision")
    viewer.layers.selection.active = volume
    _split_stack(viewer.layers)
    slices = [layer for layer in viewer.layers if layer.name.startswith("tomogram layer")]
    assert len(slices) == 2
    for piece in slices:
        assert _units(piece) == ("nanometer", "nanometer")
        assert tuple(piece.scale) == pytest.approx((1.2, 1.2))
    assert "1.2 nm/px" in dock._current.value  # the last slice is the active layer
    # a slice rescaled by hand in napari: the dock's line follows at once (it kept "1.2 nm/px (file metadata)"
    # until another layer was selected, while the analysis measured at the new scale)
    slices[-1].scale = (1.0, 1.0)
    assert dock._current.value.startswith(f"{slices[-1].name}: 1 nm/px (napari layer scale")
    assert layer_pixel_size(slices[-1])[0] == pytest.approx(1.0)


def test_a_frame_rescaled_in_napari_is_not_given_the_stacks_units(tmp_path):
    """A frame whose scale no longer is the file's pixel size keeps what the user set."""
    from exo_vision.plugins._layers import restore_frame_units

    class Frame:
        ndim = 2
        scale = (2.0, 2.0)
        units = ("pixel", "pixel")
        metadata = {"viewing_only": "holds a stack of 3 frames", "pixel_size_yx_nm": (0.8, 0.8)}

    assert not restore_frame_units(Frame)
    assert Frame.units == ("pixel", "pixel")
    Frame.scale = (0.8, 0.8)
    assert restore_frame_units(Frame)
    assert Frame.units == ("nm", "nm")


def test_a_frame_rescaled_before_any_dock_saw_it_is_measured_at_its_file_value_with_a_word(
    make_napari_viewer, tmp_path, monkeypatch
):
    """Before, a split frame rescaled by hand (its units still napari's pixels) was measured at the file's 0.8
    nm/px without a word."""
    from napari.layers._layer_actions import _split_stack

    import exo_vision.plugins._vesicles as vesicles_module
    from exo_vision.plugins._layers import image_data_from_layer
    from exo_vision.plugins.calibration_widget import CalibrationWidget

    monkeypatch.setattr(reader_module, "show_info", lambda message: None)
    said = []
    monkeypatch.setattr(vesicles_module, "show_warning", said.append)
    series = tmp_path / "series.tif"
    _calibrated_tiff(series, np.random.default_rng(2).integers(0, 4000, (2, 48, 64)).astype(np.uint16), (0.8, 0.8))
    viewer = make_napari_viewer()
    (stack,) = viewer.open(str(series), plugin="exo-vision")
    viewer.layers.selection.active = stack
    _split_stack(viewer.layers)
    frame = viewer.layers["series layer 1"]
    frame.scale = (2.0, 2.0)  # by hand, before any exo_vision dock is open
    viewer.layers.selection.active = frame
    CalibrationWidget(viewer)
    assert image_data_from_layer(frame).pixel_size_nm == pytest.approx(0.8, rel=1e-4)
    assert any("pixel units, which give no length" in s and "0.8 nm/px" in s for s in said)


def test_the_calibration_dock_follows_units_set_after_the_scale(make_napari_viewer):
    """A scale of 0.8 in pixel units, then nm set as units: segmentation measured at 0.8 nm/px while the dock
    still said "uncalibrated"."""
    from exo_vision.plugins.calibration_widget import CalibrationWidget

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.random.default_rng(4).normal(100, 5, (64, 64)).astype(np.float32), name="plain")
    dock = CalibrationWidget(viewer)
    layer.scale = (0.8, 0.8)
    assert "uncalibrated" in dock._current.value
    layer.units = ("nm", "nm")
    assert dock._current.value.startswith("plain: 0.8 nm/px")


def test_the_calibration_dock_says_when_the_scale_bar_contradicts_the_file(make_napari_viewer, tmp_path):
    """micro50 HIGH-3: tagged 1 nm/px, a micrograph whose 200 nm bar says 0.8 nm/px showed only "1 nm/px (file ...)"."""
    pytest.importorskip("shutil").which("tesseract") or pytest.skip("tesseract-ocr is not installed")
    from exo_vision.synthetic.scalebar import draw_scale_bar, tem_like_background

    image, _ = draw_scale_bar(tem_like_background((600, 800), rng=3), pixel_size_nm=0.8, length_nm=200.0, rng=5)
    path = tmp_path / "wrong_tags.tif"
    tifffile.imwrite(path, image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm", "axes": "YX"})
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="exo-vision")
    _, dock = viewer.window.add_plugin_dock_widget("exo-vision", "Calibration")
    dock._show_current()
    assert "1 nm/px (file metadata" in dock._current.value
    assert "its scale bar reads 0.8 nm/px: check which is right" in dock._current.value
    dock._typed.value = 0.8
    dock.apply_typed()
    dock._show_current()
    assert "0.8 nm/px (user)" in dock._current.value and "check which" not in dock._current.value
