"""Every TEM format fixture in ../shared/data/formats reads with its known calibration.

Expected values come from the fixtures' README and were cross-checked against
rosettasciio's own readers (see the report of issue 2).
"""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from exo_vision.io import ImageReadError, read_image
from exo_vision.io.tiff import read_tiff

REPO = Path(__file__).resolve().parents[2]
FORMATS = REPO.parent / "shared" / "data" / "formats"
NCEMPY = FORMATS / "ncempy"
RSCIIO = FORMATS / "rosettasciio"
DM2D = RSCIIO / "digitalmicrograph" / "2D"
TIFFS = RSCIIO / "tiff"

pytestmark = pytest.mark.skipif(not FORMATS.is_dir(), reason="../shared/data/formats is not available")


def assert_error_names_file_and_fix(exc: ImageReadError, path: Path, *fix_words: str) -> None:
    message = str(exc)
    assert str(path) in message
    for word in fix_words:
        assert word in message, f"{word!r} missing from: {message}"


# --- Gatan DigitalMicrograph ------------------------------------------------------------


def test_dm3_stem_image_pixel_size_from_dm_tags():
    image = read_image(DM2D / "test_STEM_image.dm3")
    assert image.kind == "tem"
    assert image.shape == (68, 68)
    assert image.data.dtype == np.uint32
    assert image.pixel_size_nm == pytest.approx(0.2485, abs=5e-5)
    assert image.pixel_size_source.startswith("file metadata: DigitalMicrograph")


def test_dm3_with_two_signals_reads_the_image_one():
    image = read_image(DM2D / "multi_signal.dm3")
    assert image.shape == (512, 512)
    assert image.data.dtype == np.uint16
    assert image.pixel_size_nm == pytest.approx(0.01775, abs=5e-6)
    assert image.metadata["signals"]["count"] == 2


@pytest.mark.parametrize("locale", ["DE", "FR", "MX", "UK"])
def test_dm3_saved_under_decimal_comma_locales_gives_5_506_nm(locale):
    image = read_image(RSCIIO / "digitalmicrograph" / f"Fei HAADF-{locale}_location.dm3")
    assert image.shape == (4, 16)
    assert image.pixel_size_nm == pytest.approx(5.506, abs=1e-3)
    assert image.pixel_size_yx_nm[0] == pytest.approx(image.pixel_size_yx_nm[1])


def test_dm3_in_micrometres_converts_to_nm():
    image = read_image(TIFFS / "test_dm_image_um_unit.dm3")
    assert image.pixel_size_nm == pytest.approx(168.7, abs=0.05)


@pytest.mark.parametrize("suffix", ["dm3", "dm4"])
def test_dm_non_square_pixels_refused_for_tem_with_both_sizes(suffix):
    path = NCEMPY / f"dmTest_float32_nonSquare_diffPixelSize.{suffix}"
    with pytest.raises(ImageReadError, match="non-square") as info:
        read_image(path)
    assert_error_names_file_and_fix(info.value, path, "y 0.2 nm", "x 1 nm", "pixel_size_nm")


@pytest.mark.parametrize("suffix", ["dm3", "dm4"])
def test_dm_non_square_pixels_kept_per_axis_when_not_tem(suffix):
    image = read_image(NCEMPY / f"dmTest_float32_nonSquare_diffPixelSize.{suffix}", kind="blot")
    assert image.shape == (64, 128)
    assert image.pixel_size_yx_nm == pytest.approx((0.2, 1.0))
    assert image.pixel_size_nm == pytest.approx(0.6)
    assert any("non-square" in w for w in image.warnings)
    assert image.info()["pixel_size_yx_nm"] == pytest.approx([0.2, 1.0])


def test_dm_non_square_pixels_user_override():
    image = read_image(NCEMPY / "dmTest_float32_nonSquare_diffPixelSize.dm4", pixel_size_nm=0.5)
    assert image.pixel_size_nm == 0.5
    assert image.pixel_size_source == "user"
    assert image.metadata["file_pixel_size_yx_nm"] == pytest.approx([0.2, 1.0])


@pytest.mark.parametrize("suffix", ["dm3", "dm4"])
def test_dm_3d_stack_needs_a_frame(suffix):
    path = NCEMPY / f"dmTest_3D_int16_64,65,66.{suffix}"
    with pytest.raises(ImageReadError, match="stack of 66") as info:
        read_image(path)
    assert_error_names_file_and_fix(info.value, path, "frame=", "--frame")


def test_dm_3d_stack_frame_pick_has_per_axis_calibration():
    # z 4 µm (navigation), y 3 nm, x 2 pm: the spatial axes differ 1500x -> refused for TEM ...
    path = NCEMPY / "dmTest_3D_int16_64,65,66.dm3"
    with pytest.raises(ImageReadError, match="non-square"):
        read_image(path, frame=5)
    # ... and reported per axis otherwise.
    image = read_image(path, frame=5, kind="blot")
    assert image.shape == (65, 64)
    assert image.pixel_size_yx_nm == pytest.approx((3.0, 0.002))


def test_dm_stack_frame_out_of_range():
    path = NCEMPY / "dmTest_3D_int16_64,65,66.dm4"
    with pytest.raises(ImageReadError, match="66 frame") as info:
        read_image(path, frame=66)
    assert_error_names_file_and_fix(info.value, path, "0 to 65")


def test_dm_stackbuilder_stack_frame_is_read():
    path = RSCIIO / "digitalmicrograph" / "test_stackbuilder_imagestack.dm3"
    with pytest.raises(ImageReadError, match="stack of 3"):
        read_image(path)
    image = read_image(path, frame=2)
    assert image.shape == (2, 16)
    assert image.pixel_size_nm == pytest.approx(59.98290, rel=1e-5)


def test_eels_spectrum_is_refused_clearly():
    path = NCEMPY / "08_carbon.dm3"
    with pytest.raises(ImageReadError, match="spectrum") as info:
        read_image(path)
    assert_error_names_file_and_fix(info.value, path, "Open an image file")


@pytest.mark.parametrize("name", ["test-MonarcCL_spectrum-SI.dm4", "test-MonoCL_spectrum-SI.dm4"])
def test_cl_spectrum_images_are_refused(name):
    with pytest.raises(ImageReadError, match="spectrum"):
        read_image(DM2D / name)


@pytest.mark.parametrize("name", ["test_diffraction_pattern.dm3", "test_diffraction_pattern_tags_removed.dm3"])
def test_diffraction_pattern_in_reciprocal_nm_is_refused(name):
    path = DM2D / name
    with pytest.raises(ImageReadError, match="reciprocal") as info:
        read_image(path)
    assert_error_names_file_and_fix(info.value, path, "1/nm", "real-space", "pixel_size_nm")


def test_diffraction_pattern_user_pixel_size_wins_with_warning():
    image = read_image(DM2D / "test_diffraction_pattern.dm3", pixel_size_nm=1.0)
    assert image.pixel_size_source == "user"
    assert any("reciprocal" in w for w in image.warnings)


# Each DigitalMicrograph data type: integers and floats read in their own dtype, RGB(A)
# with gray content becomes one channel, bool becomes uint8, complex is refused.
DM_DTYPES = {
    "test-1": np.int16,
    "test-2": np.float32,
    "test-6": np.uint8,
    "test-7": np.int32,
    "test-9": np.int8,
    "test-10": np.uint16,
    "test-11": np.uint32,
    "test-12": np.float64,
    "test-8": np.uint8,
    "test-23": np.uint8,
}


@pytest.mark.parametrize("suffix", ["dm3", "dm4"])
@pytest.mark.parametrize("stem", sorted(DM_DTYPES))
def test_dm_data_types_read_as_2d(stem, suffix):
    image = read_image(DM2D / f"{stem}.{suffix}")
    assert image.shape == (2, 2)
    assert image.data.dtype == DM_DTYPES[stem]
    assert image.pixel_size_source == "none"  # these tiny files are uncalibrated


@pytest.mark.parametrize(
    "name", ["test-3.dm3", "test-5.dm4", "test-13.dm3", "test-27.dm4", "test_fft_packed_complex8.dm4"]
)
def test_dm_complex_images_are_refused(name):
    path = DM2D / name
    with pytest.raises(ImageReadError, match="complex") as info:
        read_image(path)
    assert_error_names_file_and_fix(info.value, path, "Export the real-space image")


def test_dm_bool_image_of_one_value_is_refused():
    path = DM2D / "test-14.dm3"
    with pytest.raises(ImageReadError, match="every pixel equal") as info:
        read_image(path)
    assert_error_names_file_and_fix(info.value, path, "export the image again")


# --- FEI TIA, Velox EMD, MRC ------------------------------------------------------------


@pytest.mark.parametrize("name", ["16_STOimage.emi", "16_STOimage_1.ser"])
def test_tia_emi_and_ser(name):
    image = read_image(NCEMPY / name)
    assert image.kind == "tem"
    assert image.shape == (1024, 1024)
    assert image.data.dtype == np.uint16
    assert image.pixel_size_nm == pytest.approx(0.010013, abs=1e-6)
    assert "TIA" in image.pixel_size_source


def test_velox_emd():
    image = read_image(NCEMPY / "Camera Ceta Imaging Micro.emd")
    assert image.shape == (512, 512)
    assert image.data.dtype == np.int16
    assert image.pixel_size_nm == pytest.approx(3.1388, abs=1e-4)
    assert "EMD" in image.pixel_size_source


def test_mrc_stack_refused_then_frame_read_in_angstrom_converted():
    path = NCEMPY / "temp.mrc"
    with pytest.raises(ImageReadError, match="stack of 3") as info:
        read_image(path)
    assert_error_names_file_and_fix(info.value, path, "--frame")
    image = read_image(path, frame=2)
    assert image.shape == (128, 128)
    assert image.data.dtype == np.float32
    assert image.pixel_size_nm == pytest.approx(0.2)
    assert image.pixel_size_source == "file metadata: MRC header voxel size (Å)"


# --- TIFF: ImageJ, DigitalMicrograph, vendors ---------------------------------------------


def test_imagej_tiff_micron_calibration():
    image = read_image(TIFFS / "test_loading_image_saved_with_imageJ.tif")
    assert image.shape == (68, 68)
    assert image.pixel_size_nm == pytest.approx(1000 / 5.928571, rel=1e-6)  # 168.675 nm
    assert image.pixel_size_source.startswith("file metadata: ImageJ unit")


def test_imagej_tiff_without_scale_is_uncalibrated():
    image = read_image(TIFFS / "test_loading_image_saved_with_imageJ_no_scale.tif", scale_bar=False)
    assert image.pixel_size_nm is None
    assert image.pixel_size_source == "none"


def test_imagej_stack_frame():
    path = TIFFS / "test_loading_image_saved_with_imageJ_stack.tif"
    with pytest.raises(ImageReadError, match="stack of 2"):
        read_image(path)
    image = read_image(path, frame=1)
    assert image.pixel_size_nm == pytest.approx(168.675, abs=1e-3)


def test_dm_written_tiff_reads_dm_private_tags():
    image = read_image(TIFFS / "test_loading_image_saved_with_DM.tif")
    assert image.kind == "tem"
    assert image.data.dtype == np.int32
    assert image.pixel_size_nm == pytest.approx(168.7, abs=0.05)
    assert image.pixel_size_source == "file metadata: DigitalMicrograph TIFF tags"


def test_dm_written_tiff_stack_has_non_square_frames():
    path = TIFFS / "test_loading_image_saved_with_DM_stack.tif"
    with pytest.raises(ImageReadError, match="stack of 2"):
        read_image(path)
    with pytest.raises(ImageReadError, match="non-square"):
        read_image(path, frame=0)


def test_olympus_sis_tiff_reads_the_calibrated_gray_series():
    image = read_image(TIFFS / "olympus_SIS.tif")
    assert image.shape == (101, 112)
    assert image.data.dtype == np.uint16
    assert image.pixel_size_nm == pytest.approx(0.023928)
    assert "Olympus SIS" in image.pixel_size_source


def test_zeiss_axiovision_optical_tiffs_have_no_length_calibration():
    gray = read_image(TIFFS / "optical_Zeiss_AxioVision_BW.tif", scale_bar=False)
    assert gray.shape == (10, 13)
    assert gray.pixel_size_source == "none"
    assert gray.metadata["dpi"] == pytest.approx(150)  # a print resolution, not a pixel size
    colour = read_image(TIFFS / "optical_Zeiss_AxioVision_RGB.tif", scale_bar=False)
    assert colour.shape == (10, 13)
    with pytest.raises(ImageReadError, match="colour"):
        read_image(TIFFS / "optical_Zeiss_AxioVision_RGB.tif", kind="tem")


@pytest.fixture(scope="module")
def vendor_dir(tmp_path_factory):
    """Unpack the zipped/gzipped vendor TIFFs once per module."""
    out = tmp_path_factory.mktemp("vendor_tiffs")
    wanted = {
        "tiff_FEI_Helios.zip": [
            "FEI-Helios-Ebeam-16bits.tif",
            "FEI-Helios-Ebeam-8bits.tif",
            "FEI-Helios-navcam.tif",
            "FEI-Helios-navcam-with-no-IRBeam.tif",
            "FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif",
        ],
        "tiff_Zeiss_SEM.zip": ["test_tiff_Zeiss_SEM_1k.tif", "test_tiff_Zeiss_SEM_512pix.tif"],
        "TVIPS_bin4.zip": ["TVIPS_bin4.tif"],
        "tiff_hamamatsu.zip": ["test_hamamatsu_streak_FOCUS.tif", "test_hamamatsu_streak_SCAN.tif"],
        "test_rgba16.zip": ["test_rgba16.tif"],
    }
    for archive, members in wanted.items():
        with zipfile.ZipFile(TIFFS / archive) as zf:
            for member in members:
                zf.extract(member, out)
    for name in ("JEOL-SightX-TEM-mag-dummy.tif", "JEOL-SightX-SAED-dummy.tif", "JEOL-SightX-Ronchigram-dummy.tif"):
        with gzip.open(TIFFS / f"{name}.gz") as src, open(out / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out


@pytest.mark.parametrize(
    ("name", "expected_nm", "tag_word"),
    [
        ("FEI-Helios-Ebeam-16bits.tif", 3372.4, "FEI"),
        ("FEI-Helios-Ebeam-8bits.tif", 3372.4, "FEI"),
        ("test_tiff_Zeiss_SEM_1k.tif", 2614.514, "CZ_SEM"),
        ("test_tiff_Zeiss_SEM_512pix.tif", 11.649976, "CZ_SEM"),
        ("TVIPS_bin4.tif", 1.4208036661, "TVIPS"),
    ],
)
def test_vendor_tiffs_pixel_size(vendor_dir, name, expected_nm, tag_word):
    image = read_image(vendor_dir / name)
    assert image.kind == "tem"
    assert image.pixel_size_nm == pytest.approx(expected_nm, rel=1e-6)
    assert tag_word in image.pixel_size_source


def test_zeiss_palette_tiff_reads_as_gray_pixels(vendor_dir):
    image = read_image(vendor_dir / "test_tiff_Zeiss_SEM_512pix.tif")
    assert image.data.dtype == np.uint8
    assert image.shape == (384, 512)


def test_fei_navcam_calibration_read_though_pixels_are_blank(vendor_dir):
    # The fixture's pixels were blanked; the calibration still decodes (0.264 mm pixels).
    raw = read_tiff(vendor_dir / "FEI-Helios-navcam.tif")
    assert raw.pixel_size_yx_nm[1] == pytest.approx(263974.609375, rel=1e-9)
    assert raw.pixel_size_yx_nm[0] == pytest.approx(263973.95833, rel=1e-9)
    with pytest.raises(ImageReadError, match="every pixel equal"):
        read_image(vendor_dir / "FEI-Helios-navcam.tif")


@pytest.mark.parametrize(
    "name", ["FEI-Helios-navcam-with-no-IRBeam.tif", "FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif"]
)
def test_fei_tiff_without_beam_geometry_is_uncalibrated(vendor_dir, name):
    raw = read_tiff(vendor_dir / name)
    assert raw.metadata["vendor"] == "fei"
    assert raw.pixel_size_yx_nm == (None, None)
    assert raw.calibration_tag is None


def test_jeol_sightx_ronchigram_is_uncalibrated(vendor_dir):
    raw = read_tiff(vendor_dir / "JEOL-SightX-Ronchigram-dummy.tif")
    assert raw.metadata["vendor"] == "jeol"
    assert raw.pixel_size_yx_nm == (None, None)


def test_jeol_sightx_tem_and_saed(vendor_dir):
    tem = read_tiff(vendor_dir / "JEOL-SightX-TEM-mag-dummy.tif")
    assert tem.format_kind == "tem"
    assert tem.pixel_size_yx_nm == pytest.approx((1.8207885304659497, 1.8207885304659497))
    assert "JEOL" in tem.calibration_tag
    saed = read_tiff(vendor_dir / "JEOL-SightX-SAED-dummy.tif")
    assert saed.pixel_size_yx_nm == (None, None)
    assert saed.metadata["reciprocal_unit"] == "1 / nm"


def test_hamamatsu_streak_axes_are_not_lengths(vendor_dir):
    image = read_image(vendor_dir / "test_hamamatsu_streak_SCAN.tif", scale_bar=False)
    assert image.pixel_size_nm is None
    assert any("not both lengths" in w for w in image.warnings)
    focus = read_image(vendor_dir / "test_hamamatsu_streak_FOCUS.tif", scale_bar=False)
    assert focus.pixel_size_nm is None


def test_rgba16_tiff_is_a_stack_of_colour_frames(vendor_dir):
    path = vendor_dir / "test_rgba16.tif"
    with pytest.raises(ImageReadError, match="stack of 3") as info:
        read_image(path)
    assert_error_names_file_and_fix(info.value, path, "--frame")
    image = read_image(path, frame=0, kind="blot")
    assert image.shape == (128, 128)
    assert image.data.dtype == np.uint16


def test_zeiss_multipage_tiff_frame(tmp_path):
    with zipfile.ZipFile(TIFFS / "tiff_Zeiss_SEM.zip") as zf:
        zf.extract("ZEISS_SEM_multipage.tif", tmp_path)
    path = tmp_path / "ZEISS_SEM_multipage.tif"
    with pytest.raises(ImageReadError, match="stack of 2"):
        read_image(path)
    image = read_image(path, frame=1)
    assert image.shape == (1536, 2048)
    assert image.pixel_size_nm == pytest.approx(12.326225, rel=1e-6)


def test_stacks_and_non_square_pixels_are_read_for_viewing_as_stored():
    from exo_vision.io.view import read_for_viewing

    stack = read_for_viewing(NCEMPY / "dmTest_3D_int16_64,65,66.dm3")
    assert stack.data.shape == (66, 65, 64) and stack.n_frame_axes == 1
    assert stack.pixel_size_yx_nm == pytest.approx((3.0, 0.002))
    volume = read_for_viewing(NCEMPY / "temp.mrc")
    assert volume.data.shape == (3, 128, 128) and volume.data.dtype == np.float32
    assert volume.pixel_size_yx_nm == pytest.approx((0.2, 0.2))
    assert volume.pixel_size_source == "file metadata: MRC header voxel size (Å)"
    flat = read_for_viewing(NCEMPY / "dmTest_float32_nonSquare_diffPixelSize.dm4")
    assert flat.data.shape == (64, 128) and flat.n_frame_axes == 0
    assert flat.pixel_size_yx_nm == pytest.approx((0.2, 1.0))
    for refused in ("dmTest_3D_int16_64,65,66.dm3", "dmTest_float32_nonSquare_diffPixelSize.dm4"):
        with pytest.raises(ImageReadError) as info:
            read_image(NCEMPY / refused)
        assert info.value.viewable
    with pytest.raises(ImageReadError, match="no 2-D picture") as info:
        read_for_viewing(NCEMPY / "08_carbon.dm3")
    assert not info.value.viewable
