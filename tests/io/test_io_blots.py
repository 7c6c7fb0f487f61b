"""Blots: Bio-Rad .scn round trips, 16-bit and 8-bit exports, polarity and saturation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from exo_vision.io import read_image
from exo_vision.io.polarity import detect_band_polarity
from exo_vision.io.read import EIGHT_BIT_BLOT_WARNING
from exo_vision.synthetic.scn import write_scn

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not available")

ATUB = SHARED / "blots" / "chemidoc_aTub 2022-07-12 13h11m29s(Chemiluminescence).tif"
ORB2 = SHARED / "blots" / "chemidoc_Orb2 and aTub 2022-07-12 13h12m57s(Chemiluminescence).tif"


def raw_blot(shape=(60, 90), *, dtype=np.uint16, background=800, band=20000, rng=0) -> np.ndarray:
    """Bright bands on a dark background (raw chemiluminescence), seeded noise."""
    generator = np.random.default_rng(rng)
    image = generator.normal(background, background * 0.05, shape)
    image[20:26, 10:30] = band
    image[20:26, 50:70] = band / 2
    info = np.iinfo(dtype)
    return np.clip(image, 0, info.max).astype(dtype)


@pytest.mark.parametrize("endian", ["little", "big"])
def test_scn_round_trip_uint16(tmp_path, endian):
    data = raw_blot()
    data[21, 12:18] = 65535  # saturated pixels
    path = write_scn(tmp_path / "blot.scn", data, pixel_size_mm=0.0425, exposure_s=12.5, endian=endian)
    image = read_image(path)
    np.testing.assert_array_equal(image.data, data)
    assert image.data.dtype == np.uint16
    assert image.kind == "blot"
    assert image.max_value == 65535
    assert image.exposure_s == pytest.approx(12.5)
    assert image.pixel_size_nm == pytest.approx(42500.0)
    assert image.pixel_size_source == "file metadata: Bio-Rad .scn size_mm/size_pix"
    assert image.polarity == "bright"
    assert image.metadata["saturated_pixels"] == 6
    assert image.metadata["endian"] == endian
    assert EIGHT_BIT_BLOT_WARNING not in image.warnings


@pytest.mark.parametrize("endian", ["little", "big"])
def test_scn_round_trip_uint8_with_scanner_max_value(tmp_path, endian):
    data = raw_blot(dtype=np.uint8, background=20, band=250)
    data[0, :5] = 250
    path = write_scn(tmp_path / "blot8.scn", data, max_value=250, exposure_s=0.5, endian=endian)
    image = read_image(path)
    np.testing.assert_array_equal(image.data, data)
    assert image.data.dtype == np.uint8
    assert image.max_value == 250
    assert image.metadata["saturated_pixels"] == int(np.count_nonzero(data == 250))
    assert image.exposure_s == pytest.approx(0.5)


def test_scn_without_exposure(tmp_path):
    path = write_scn(tmp_path / "noexp.scn", raw_blot(), exposure_s=None)
    image = read_image(path)
    assert image.exposure_s is None
    assert image.info()["exposure_s"] is None


def test_scn_kind_is_blot_even_with_another_extension(tmp_path):
    path = write_scn(tmp_path / "blot.dat", raw_blot())
    assert read_image(path).kind == "blot"


def test_write_scn_rejects_contradictory_max_value(tmp_path):
    with pytest.raises(ValueError, match="contradicts"):
        write_scn(tmp_path / "x.scn", raw_blot(), max_value=255)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_scn(tmp_path / "x.scn", raw_blot().astype(np.float32))


def test_16bit_export_for_analysis(tmp_path):
    data = raw_blot()
    path = tmp_path / "export (Chemiluminescence).tif"
    tifffile.imwrite(path, data)
    image = read_image(path)
    assert image.kind == "blot"
    assert image.polarity == "bright"
    assert image.max_value == 65535
    assert EIGHT_BIT_BLOT_WARNING not in image.warnings


def test_inverted_8bit_gray_export(tmp_path):
    bright = raw_blot(dtype=np.uint8, background=15, band=255)
    path = tmp_path / "pub.tif"
    tifffile.imwrite(path, 255 - bright)
    image = read_image(path, kind="blot")
    assert image.polarity == "dark"
    assert image.max_value == 0  # clipped pixels of an inverted export sit at 0
    assert image.metadata["saturated_pixels"] == int(np.count_nonzero(bright == 255))
    assert EIGHT_BIT_BLOT_WARNING in image.warnings


def test_polarity_on_hand_built_arrays():
    background = np.full((50, 50), 100.0)
    bright = background.copy()
    bright[10:15, 10:40] = 200
    dark = background.copy()
    dark[10:15, 10:40] = 0
    assert detect_band_polarity(bright) == "bright"
    assert detect_band_polarity(dark) == "dark"
    with pytest.raises(ValueError, match="2-D"):
        detect_band_polarity(np.zeros((3, 4, 5)))


@needs_shared
@pytest.mark.parametrize("path", [ATUB, ORB2], ids=["aTub", "Orb2"])
def test_real_chemidoc_rgb_exports(path):
    image = read_image(path)
    assert image.kind == "blot"  # the "(Chemiluminescence)" file name Image Lab uses
    assert image.shape == (897, 1122)
    assert image.data.dtype == np.uint8  # RGB with gray content -> one channel
    assert image.metadata["converted_from"] == "rgb with gray content"
    assert image.polarity == "dark"
    assert image.max_value == 0
    assert image.pixel_size_source == "none"  # 300 dpi is a print resolution
    assert image.metadata["dpi"] == pytest.approx(300)
    assert EIGHT_BIT_BLOT_WARNING in image.warnings
    assert image.metadata["saturated_pixels"] > 1000  # the α-tubulin bands are clipped
    assert any("saturation" in w for w in image.warnings)


@needs_shared
@pytest.mark.slow
def test_real_lzw_plos_raw_blots_tiff():
    image = read_image(SHARED / "blots" / "plos_pone.0237759.s005_raw_blots.tif")
    assert image.shape == (4800, 4800)
    assert image.kind == "blot"
    assert image.polarity == "dark"
    assert image.metadata["dpi"] == pytest.approx(600)


@needs_shared
def test_real_gel_bright_bands_on_dark():
    image = read_image(SHARED / "gels" / "ladder_reference_gel.tif", kind="blot")
    assert image.shape == (1024, 1360)
    assert image.data.dtype == np.uint8
    assert image.polarity == "bright"
    assert image.max_value == 255


def test_clipped_pixels_of_an_inverted_export_are_said_to_be_black(tmp_path):
    """blot49 L2: 'sit at the saturation level 0' did not say that 0 is black, the clip level of dark bands."""
    bright = raw_blot(dtype=np.uint8, background=15, band=255)
    tifffile.imwrite(tmp_path / "pub.tif", 255 - bright)
    (clip,) = [w for w in read_image(tmp_path / "pub.tif", kind="blot").warnings if "saturation level" in w]
    assert "saturation level 0 (black: in an export with dark bands, the darkest band pixels clip at black)" in clip
    tifffile.imwrite(tmp_path / "raw.tif", bright)
    (clip,) = [w for w in read_image(tmp_path / "raw.tif", kind="blot").warnings if "saturation level" in w]
    assert "black" not in clip


def test_an_empty_colour_channel_is_named_with_the_channels_that_hold_signal(tmp_path):
    """blot49 M7: --channel blue on a two-colour export whose blue is 0 read as a blank acquisition."""
    from exo_vision.io.image_data import ImageReadError

    bright = raw_blot(dtype=np.uint8, background=15, band=255)
    rgb = np.dstack([np.roll(bright, 7, axis=1), bright, np.zeros_like(bright)])
    tifffile.imwrite(tmp_path / "two.tif", rgb, photometric="rgb")
    with pytest.raises(ImageReadError, match="its blue channel is empty: every pixel is 0") as info:
        read_image(tmp_path / "two.tif", kind="blot", channel="blue")
    assert "Read a channel that holds signal: red or green (--channel red" in str(info.value)
    assert read_image(tmp_path / "two.tif", kind="blot", channel="green").data.max() == 255
