"""PNG/JPEG/BMP exports and the scale-bar fallback for uncalibrated TEM images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from exo_vision.io import read_image

REPO = Path(__file__).resolve().parents[2]
EV_JPG = REPO / "sample_images" / "hrml_ev_negative_stain.jpg"  # shipped (MIT), so every clone runs these


def _gray(shape=(48, 64)) -> np.ndarray:
    return np.random.default_rng(1).integers(10, 240, shape).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".gif"])
def test_lossless_raster_formats_round_trip(tmp_path, suffix):
    data = _gray()
    path = tmp_path / f"export{suffix}"
    Image.fromarray(data).save(path)
    image = read_image(path, scale_bar=False)
    np.testing.assert_array_equal(image.data, data)
    assert image.pixel_size_nm is None
    assert image.pixel_size_source == "none"
    assert image.kind == "unknown"


def test_16bit_png_keeps_16_bits(tmp_path):
    data = (np.arange(48 * 64).reshape(48, 64) * 20).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(data).save(path)
    image = read_image(path, scale_bar=False)
    assert image.data.dtype == np.uint16
    np.testing.assert_array_equal(image.data, data)


def test_jpeg_gray_rgb_with_compression_noise_is_gray(tmp_path):
    gray = _gray((96, 96))
    path = tmp_path / "micrograph.jpg"
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(path, quality=90)
    image = read_image(path, kind="tem", scale_bar=False)
    assert image.shape == (96, 96)
    assert image.metadata["converted_from"] == "rgb with gray content"


def test_png_dpi_is_recorded_not_used(tmp_path):
    path = tmp_path / "figure.png"
    Image.fromarray(_gray()).save(path, dpi=(300, 300))
    image = read_image(path, scale_bar=False)
    assert image.pixel_size_nm is None
    assert image.metadata["dpi"] == pytest.approx(300, abs=0.1)


@pytest.mark.skipif(not EV_JPG.is_file(), reason="sample_images/hrml_ev_negative_stain.jpg is missing")
def test_real_ev_jpeg_rgb_is_converted_to_gray():
    image = read_image(EV_JPG, scale_bar=False)
    assert image.shape == (3072, 3072)
    assert image.data.dtype == np.uint8
    assert image.metadata["original_shape"] == [3072, 3072, 3]
    assert image.metadata["converted_from"] == "rgb with gray content"
    assert image.pixel_size_source == "none"


@pytest.mark.skipif(not EV_JPG.is_file(), reason="sample_images/hrml_ev_negative_stain.jpg is missing")
def test_real_ev_jpeg_calibrated_by_its_scale_bar():
    pytest.importorskip("exo_vision.calibration.scalebar")
    image = read_image(EV_JPG, kind="tem")
    assert image.pixel_size_source == "scale bar"
    assert image.pixel_size_nm == pytest.approx(500 / 801, rel=0.005)  # 500 nm = 801 px
    assert image.metadata["scale_bar"]["status"] == "ok"


@pytest.mark.skipif(not EV_JPG.is_file(), reason="sample_images/hrml_ev_negative_stain.jpg is missing")
def test_real_ev_jpeg_auto_kind_becomes_tem_through_its_scale_bar():
    pytest.importorskip("exo_vision.calibration.scalebar")
    image = read_image(EV_JPG)
    assert image.kind == "tem"
    assert image.pixel_size_source == "scale bar"
    assert image.metadata["kind_reason"] == "a scale bar in physical units was read"


@dataclass
class FakeReading:
    status: str
    pixel_size_nm: float | None
    confidence: float
    label_text: str | None
    bar_length_px: float | None


@pytest.fixture
def fake_scale_bar(monkeypatch):
    """Install a stand-in scale-bar reader (the one ``read_image`` calls) returning a chosen reading."""
    calls = []

    def install(reading: FakeReading | Exception):
        def read_scale_bar(image):
            calls.append(image.shape)
            if isinstance(reading, Exception):
                raise reading
            return reading

        monkeypatch.setattr("exo_vision.io.read.read_scale_bar", read_scale_bar)
        return calls

    return install


def _plain_png(tmp_path) -> Path:
    path = tmp_path / "exported.png"
    Image.fromarray(_gray()).save(path)
    return path


def test_scale_bar_ok_is_used(tmp_path, fake_scale_bar):
    calls = fake_scale_bar(FakeReading("ok", 0.624, 0.95, "500 nm", 801.0))
    image = read_image(_plain_png(tmp_path), kind="tem")
    assert calls == [(48, 64)]
    assert image.pixel_size_nm == 0.624
    assert image.pixel_size_yx_nm == (0.624, 0.624)
    assert image.pixel_size_source == "scale bar"
    assert image.metadata["scale_bar"]["label_text"] == "500 nm"


def test_scale_bar_ok_turns_unknown_into_tem(tmp_path, fake_scale_bar):
    fake_scale_bar(FakeReading("ok", 2.0, 0.9, "1 µm", 500.0))
    image = read_image(_plain_png(tmp_path))
    assert image.kind == "tem"
    assert image.pixel_size_source == "scale bar"


def test_scale_bar_unreadable_is_not_used_and_warns(tmp_path, fake_scale_bar):
    fake_scale_bar(FakeReading("unreadable", None, 0.3, "5?0 nm", 801.0))
    image = read_image(_plain_png(tmp_path), kind="tem")
    assert image.pixel_size_nm is None
    assert image.pixel_size_source == "none"
    assert image.metadata["scale_bar"]["status"] == "unreadable"
    assert any("could not be read reliably" in w for w in image.warnings)


def test_scale_bar_not_found_leaves_none_without_warning(tmp_path, fake_scale_bar):
    fake_scale_bar(FakeReading("not found", None, 0.0, None, None))
    image = read_image(_plain_png(tmp_path), kind="tem")
    assert image.pixel_size_source == "none"
    assert image.warnings == []


def test_scale_bar_failure_is_reported_not_raised(tmp_path, fake_scale_bar):
    fake_scale_bar(RuntimeError("tesseract crashed"))
    image = read_image(_plain_png(tmp_path), kind="tem")
    assert image.pixel_size_source == "none"
    assert any("tesseract crashed" in w for w in image.warnings)


def test_scale_bar_skipped_when_disabled_metadata_or_user(tmp_path, fake_scale_bar):
    calls = fake_scale_bar(FakeReading("ok", 9.0, 0.99, "1 µm", 111.0))
    path = _plain_png(tmp_path)
    assert read_image(path, kind="tem", scale_bar=False).pixel_size_source == "none"
    assert read_image(path, kind="tem", pixel_size_nm=0.5).pixel_size_source == "user"
    assert read_image(path, kind="blot").pixel_size_source == "none"
    assert calls == []


def test_scale_bar_not_tried_on_tiny_images(tmp_path, fake_scale_bar):
    calls = fake_scale_bar(FakeReading("ok", 1.0, 0.99, "10 nm", 10.0))
    path = tmp_path / "tiny.png"
    Image.fromarray(_gray((16, 40))).save(path)
    image = read_image(path, kind="tem")
    assert calls == []
    assert image.pixel_size_source == "none"
    assert image.warnings == []


def test_a_colour_image_says_why_its_scale_bar_was_not_read(tmp_path):
    # A yellow scale bar on a gray micrograph: the image counts as colour and its bar is not read; the
    # user is told so, and how to get it read.
    from exo_vision.io.read import COLOUR_SCALE_BAR_NOTE

    gray = np.full((200, 300), 120, np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    rgb[170:176, 40:140] = (255, 255, 0)
    path = tmp_path / "yellow_bar.png"
    Image.fromarray(rgb).save(path)
    image = read_image(path)
    assert image.pixel_size_nm is None
    assert COLOUR_SCALE_BAR_NOTE in image.warnings
    assert image.metadata["scale_bar"] == {"status": "not tried: colour image"}
    assert not any("scale bar" in warning for warning in read_image(path, pixel_size_nm=1.0).warnings)
