"""TIFF calibration tags written by hand into small files with known truth."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from exo_vision.io import ImageReadError, read_image


def _ramp(shape=(40, 50), dtype=np.uint16) -> np.ndarray:
    values = np.arange(shape[0] * shape[1]).reshape(shape) % 200
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_imagej_nm_calibration_each_bit_depth(tmp_path, dtype):
    path = tmp_path / "micrograph.tif"
    data = _ramp(dtype=dtype)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.75, 1 / 0.75), metadata={"unit": "nm"})
    image = read_image(path)
    np.testing.assert_array_equal(image.data, data)
    assert image.data.dtype == dtype
    assert image.pixel_size_nm == pytest.approx(0.75, rel=1e-6)
    assert image.pixel_size_source == "file metadata: ImageJ unit (nm) + XResolution/YResolution"
    assert image.kind == "tem"  # a sub-100 nm metadata pixel is electron microscopy


def test_imagej_micron_with_escaped_micro_sign(tmp_path):
    # ImageJ writes the micro sign as the six characters "\u00B5" in its ASCII description.
    path = tmp_path / "um.tif"
    tifffile.imwrite(path, _ramp(), imagej=True, resolution=(500.0, 500.0), metadata={"unit": "\\u00B5m"})
    assert read_image(path).pixel_size_nm == pytest.approx(2.0, rel=1e-6)


def test_ome_physical_size_with_unit(tmp_path):
    path = tmp_path / "ome.ome.tif"
    tifffile.imwrite(
        path,
        _ramp(),
        ome=True,
        metadata={"PhysicalSizeX": 4.5, "PhysicalSizeXUnit": "Å", "PhysicalSizeY": 4.5, "PhysicalSizeYUnit": "Å"},
    )
    image = read_image(path)
    assert image.pixel_size_nm == pytest.approx(0.45)
    assert image.pixel_size_source == "file metadata: OME-XML PhysicalSizeX/PhysicalSizeY"


def test_ome_default_unit_is_micrometre(tmp_path):
    path = tmp_path / "ome_um.ome.tif"
    tifffile.imwrite(path, _ramp(), ome=True, metadata={"PhysicalSizeX": 0.002, "PhysicalSizeY": 0.002})
    assert read_image(path).pixel_size_nm == pytest.approx(2.0)


def test_an_ome_file_of_two_images_is_calibrated_by_the_image_read(tmp_path):
    """An overview (128 px at 2 nm) written before the micrograph (512 px at 0.5 nm): the larger is read, and its
    own <Pixels> element calibrates it (the first one in the XML, the overview's, made every diameter 4x too big)."""
    path = tmp_path / "two.ome.tif"
    big = np.random.default_rng(1).normal(30000, 3000, (512, 512)).clip(0, 65535).astype(np.uint16)
    with tifffile.TiffWriter(path, ome=True) as writer:
        for data, size in ((big[::4, ::4].copy(), 2.0), (big, 0.5)):
            units = {"PhysicalSizeXUnit": "nm", "PhysicalSizeYUnit": "nm"}
            writer.write(data, metadata={"axes": "YX", "PhysicalSizeX": size, "PhysicalSizeY": size, **units})
    image = read_image(path, scale_bar=False)
    assert image.data.shape == (512, 512) and image.pixel_size_nm == pytest.approx(0.5)


def test_fine_resolution_in_cm_is_a_physical_pixel(tmp_path):
    path = tmp_path / "cm.tif"
    # 1e7 px/cm -> 1 nm pixels: far finer than any print resolution.
    tifffile.imwrite(path, _ramp(), resolution=(1e7, 1e7), resolutionunit="CENTIMETER")
    image = read_image(path)
    assert image.pixel_size_nm == pytest.approx(1.0)
    assert image.pixel_size_source == "file metadata: TIFF XResolution/YResolution per cm"


def test_300_dpi_export_is_not_a_pixel_size(tmp_path):
    path = tmp_path / "export.tif"
    tifffile.imwrite(path, _ramp(), resolution=(300, 300), resolutionunit="INCH")
    image = read_image(path, scale_bar=False)
    assert image.pixel_size_nm is None
    assert image.pixel_size_source == "none"
    assert image.metadata["dpi"] == pytest.approx(300)


def test_slightly_non_square_pixels_warn_and_use_the_mean(tmp_path):
    path = tmp_path / "nonsquare.tif"
    tifffile.imwrite(path, _ramp(), imagej=True, resolution=(1 / 1.00, 1 / 1.03), metadata={"unit": "nm"})
    image = read_image(path, kind="tem")
    assert image.pixel_size_yx_nm == pytest.approx((1.03, 1.00), rel=1e-6)
    assert image.pixel_size_nm == pytest.approx(1.015, rel=1e-6)
    assert any("non-square" in w for w in image.warnings)


def test_square_within_one_percent_has_no_warning(tmp_path):
    path = tmp_path / "almost.tif"
    tifffile.imwrite(path, _ramp(), imagej=True, resolution=(1 / 1.000, 1 / 1.005), metadata={"unit": "nm"})
    image = read_image(path, kind="tem")
    assert not any("non-square" in w for w in image.warnings)


def test_strongly_non_square_tem_refused_unless_user_gives_size(tmp_path):
    path = tmp_path / "stretched.tif"
    tifffile.imwrite(path, _ramp(), imagej=True, resolution=(1 / 1.0, 1 / 1.2), metadata={"unit": "nm"})
    with pytest.raises(ImageReadError, match="non-square") as info:
        read_image(path, kind="tem")
    assert str(path) in str(info.value) and "pixel_size_nm" in str(info.value)
    image = read_image(path, kind="tem", pixel_size_nm=1.1)
    assert image.pixel_size_nm == 1.1 and image.pixel_size_source == "user"


def test_user_pixel_size_overrides_metadata(tmp_path):
    path = tmp_path / "calibrated.tif"
    tifffile.imwrite(path, _ramp(), imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    image = read_image(path, pixel_size_nm=0.62)
    assert image.pixel_size_nm == 0.62
    assert image.pixel_size_yx_nm == (0.62, 0.62)
    assert image.pixel_size_source == "user"
    assert image.metadata["file_pixel_size_yx_nm"] == pytest.approx([1.0, 1.0])


def test_leica_scn_is_a_bigtiff_recognised_by_magic(tmp_path):
    path = tmp_path / "slide.scn"
    data = _ramp(dtype=np.uint8)
    tifffile.imwrite(path, data, bigtiff=True)
    image = read_image(path, scale_bar=False)
    np.testing.assert_array_equal(image.data, data)
    assert image.metadata["format"] == "TIFF"


def test_image_lab_software_tag_means_blot(tmp_path):
    path = tmp_path / "scan.tif"
    data = np.full((30, 40), 1000, np.uint16)
    data[10:15, 5:35] = 30000
    tifffile.imwrite(path, data, software="Image Lab 6.1")
    image = read_image(path)
    assert image.kind == "blot"
    assert image.polarity == "bright"
    assert image.max_value == 65535


def test_coloured_palette_tiff_is_expanded_and_judged_as_colour(tmp_path):
    path = tmp_path / "palette.tif"
    indices = (np.arange(40 * 50).reshape(40, 50) % 4).astype(np.uint8)
    colormap = np.zeros((3, 256), np.uint16)
    colormap[0, :4] = [0, 65535, 0, 0]
    colormap[1, :4] = [0, 0, 65535, 0]
    colormap[2, :4] = [0, 0, 0, 65535]
    tifffile.imwrite(path, indices, photometric="palette", colormap=colormap)
    with pytest.raises(ImageReadError, match="colour"):
        read_image(path, kind="tem")
    image = read_image(path, kind="blot")
    assert image.data.dtype == np.uint8
    assert any("luminance" in w for w in image.warnings)


def test_big_endian_tiff_comes_back_in_native_byte_order(tmp_path):
    path = tmp_path / "motorola.tif"
    data = _ramp()
    tifffile.imwrite(path, data, byteorder=">")
    image = read_image(path, scale_bar=False)
    assert image.data.dtype.isnative
    assert str(image.data.dtype) == "uint16"
    np.testing.assert_array_equal(image.data, data)


def test_pages_written_one_by_one_are_frames_that_frame_reaches(tmp_path):
    """Before, only page 0 was read ("the largest" of equal pages) and --frame 1 was refused: 'has 1 frame(s)'."""
    rng = np.random.default_rng(0)
    pages = [rng.integers(0, 60000, (64, 80)).astype(np.uint16) for _ in range(3)]
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as writer:
        for page in pages:
            writer.write(page)  # each page its own series
    with pytest.raises(ImageReadError, match=r"is a stack of 3 images .*--frame K"):
        read_image(path, kind="tem")
    for k in range(3):
        assert np.array_equal(read_image(path, kind="tem", frame=k).data, pages[k])
    blot = read_image(path, kind="blot")  # a blot export's pages (signal, marker image): the first, as before
    assert np.array_equal(blot.data, pages[0]) and any("3 pages of one shape" in w for w in blot.warnings)


def test_a_calibration_unit_that_is_no_length_is_named_not_dropped(tmp_path):
    """Before, unit 'parsec' left the file uncalibrated without a word about the unit."""
    path = tmp_path / "parsec.tif"
    tifffile.imwrite(
        path,
        np.arange(64 * 64, dtype=np.uint16).reshape(64, 64),
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"unit": "parsec"},
    )
    image = read_image(path)
    assert image.pixel_size_nm is None
    assert any("calibration unit 'parsec' is not a length unit exo_vision reads" in w for w in image.warnings)


def test_a_zero_y_resolution_is_taken_as_square_and_said(tmp_path):
    path = tmp_path / "damaged.tif"
    tifffile.imwrite(path, _ramp(), imagej=True, resolution=(1 / 0.8, 1 / 0.8), metadata={"unit": "nm"})
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["YResolution"].overwrite((0, 1))
    image = read_image(path)
    assert image.pixel_size_yx_nm == pytest.approx((0.8, 0.8))
    assert any("YResolution tag holds no usable value" in w for w in image.warnings)
