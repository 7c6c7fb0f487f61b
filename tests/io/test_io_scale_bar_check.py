"""A file calibration is checked against the scale bar burnt into the same micrograph."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from exo_vision.io import read_image
from exo_vision.synthetic.scalebar import draw_scale_bar, tem_like_background

REPO = Path(__file__).resolve().parents[2]
HRML = REPO.parent / "shared" / "data" / "tem" / "hrml_ev_negative_stain.jpg"
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")


def _imagej_tiff(path: Path, data: np.ndarray, pixel_size_nm: float) -> Path:
    resolution = (1 / pixel_size_nm, 1 / pixel_size_nm)
    tifffile.imwrite(path, data, imagej=True, resolution=resolution, metadata={"unit": "nm", "axes": "YX"})
    return path


def _barred_micrograph(pixel_size_nm: float) -> tuple[np.ndarray, dict]:
    """A seeded TEM-like field with a 200 nm bar drawn for ``pixel_size_nm`` (bar 250 px at 0.8 nm/px)."""
    background = tem_like_background((600, 800), rng=3)
    return draw_scale_bar(background, pixel_size_nm=pixel_size_nm, length_nm=200.0, font_px=28, rng=5)


@needs_tesseract
def test_tags_that_agree_with_the_bar_do_not_warn(tmp_path):
    image, truth = _barred_micrograph(0.8)
    read = read_image(_imagej_tiff(tmp_path / "agree.tif", image, 0.8))
    assert read.pixel_size_nm == pytest.approx(0.8)
    assert read.warnings == []
    check = read.metadata["scale_bar_check"]  # the bar was read and compared
    assert check["status"] == "ok", check["reason"]
    assert check["pixel_size_nm"] == pytest.approx(0.8, rel=0.01)
    assert check["bar_length_px"] == pytest.approx(truth["bar_length_px"], abs=0.5)


@needs_tesseract
def test_tags_that_contradict_the_bar_warn_and_stay_used(tmp_path):
    image, _ = _barred_micrograph(0.8)
    read = read_image(_imagej_tiff(tmp_path / "contradict.tif", image, 1.0))  # 25 % off the bar's 0.8 nm/px
    assert read.pixel_size_nm == pytest.approx(1.0)  # the file's value is still the one used
    assert read.pixel_size_source.startswith("file metadata")
    (message,) = read.warnings
    assert "disagrees with the burnt-in scale bar" in message
    assert "1 nm/px" in message and "0.8" in message and "--pixel-size-nm" in message


def test_a_file_read_without_scale_bars_is_not_checked(tmp_path):
    image, _ = _barred_micrograph(0.8)
    read = read_image(_imagej_tiff(tmp_path / "off.tif", image, 1.0), scale_bar=False)
    assert read.warnings == [] and "scale_bar_check" not in read.metadata


def test_the_tolerance_follows_the_bar_length():
    from exo_vision.io.read import scale_bar_tolerance

    assert scale_bar_tolerance(801.0) == pytest.approx(0.02 + 1.5 / 801.0)
    assert scale_bar_tolerance(100.0) == pytest.approx(0.035)


@needs_tesseract
@pytest.mark.skipif(not HRML.is_file(), reason="../shared/data/tem is not available")
def test_real_micrograph_tagged_1_nm_warns_with_both_values(tmp_path):
    """micro50 HIGH-3: the hrml micrograph's 500 nm bar is 801 px (0.624 nm/px); tagged 1 nm/px it warned nothing."""
    data = np.array(Image.open(HRML).convert("L"))
    read = read_image(_imagej_tiff(tmp_path / "hrml_wrongmeta.tif", data, 1.0))
    assert read.pixel_size_nm == pytest.approx(1.0)
    (message,) = read.warnings
    assert "1 nm/px, file metadata: ImageJ unit (nm)" in message
    assert "'500 nm' over 801.0 px: 0.6242 nm/px, 60% apart" in message
    assert "--pixel-size-nm 0.6242" in message
    assert read.metadata["scale_bar_check"]["pixel_size_nm"] == pytest.approx(500 / 801, rel=0.002)
