"""Every kind of bad input gets an ImageReadError naming the file, the problem and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from exo_vision.io import ImageReadError, read_image
from exo_vision.synthetic.scn import write_scn

REPO = Path(__file__).resolve().parents[2]
FORMATS = REPO.parent / "shared" / "data" / "formats"
needs_formats = pytest.mark.skipif(not FORMATS.is_dir(), reason="../shared/data/formats is not available")


def check(exc: ImageReadError, path: Path, problem: str, fix: str) -> None:
    """The message names the file, states the problem and says what to do."""
    message = str(exc)
    assert str(path) in message
    assert problem.lower() in message.lower(), message
    assert fix.lower() in message.lower(), message


def _noise(shape=(32, 32), dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 200, shape).astype(dtype)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.tif"
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "does not exist", "check the path")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(ImageReadError) as info:
        read_image(tmp_path)
    check(info.value, tmp_path, "is a folder", "one image file")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.dm3"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "empty", "export the file again")


def test_text_file_renamed_tif(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("sample 3, grid 2, 30k magnification\n")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "not a TIF image", "open the original file")


def test_text_file_with_unknown_extension(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "not in a recognised image format", "export it as one of")


def test_truncated_tiff_is_converted_and_chained(tmp_path):
    full = tmp_path / "full.tif"
    tifffile.imwrite(full, _noise((256, 256), np.uint16), compression="zlib")
    path = tmp_path / "truncated.tif"
    path.write_bytes(full.read_bytes()[:600])
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "could not be decoded", "export the file again")
    assert info.value.__cause__ is not None  # the library error is chained, not hidden


def test_tiff_signature_followed_by_garbage(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"II*\x00garbage that is not a tiff")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "corrupt", "export the file again")


@needs_formats
def test_truncated_dm3(tmp_path):
    path = tmp_path / "cut.dm3"
    data = (FORMATS / "rosettasciio/digitalmicrograph/2D/test_STEM_image.dm3").read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "could not be decoded as DM", "export the file again")


def test_text_file_renamed_dm3(tmp_path):
    path = tmp_path / "fake.dm3"
    path.write_text("not a DigitalMicrograph file at all")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "DigitalMicrograph", "open the original")


def test_truncated_mrc(tmp_path):
    import mrcfile

    full = tmp_path / "full.mrc"
    with mrcfile.new(full) as mrc:
        mrc.set_data(_noise((64, 64), np.float32))
    path = tmp_path / "cut.mrc"
    path.write_bytes(full.read_bytes()[:2000])
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "MRC", "again")


def test_an_mrc_whose_voxel_size_is_not_a_number_is_read_uncalibrated_and_can_be_calibrated(tmp_path):
    import mrcfile

    path = tmp_path / "inf.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(_noise((64, 64), np.float32))
        mrc.header.cella.x = float("inf")
        mrc.header.cella.y = float("inf")
    image = read_image(path, scale_bar=False)
    assert image.pixel_size_nm is None and any(
        "voxel size (inf x inf Å) is not a pixel size" in w for w in image.warnings
    )
    assert read_image(path, pixel_size_nm=0.5, scale_bar=False).pixel_size_nm == 0.5


def test_truncated_scn(tmp_path):
    full = write_scn(tmp_path / "full.scn", _noise((40, 60), np.uint16), exposure_s=1.0)
    path = tmp_path / "cut.scn"
    path.write_bytes(full.read_bytes()[:-1500])
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "truncated", "copy the .scn file again")


def test_scn_without_pixel_part(tmp_path):
    path = tmp_path / "nopixels.scn"
    path.write_bytes(
        b"Generated by Image Lab 6.1\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b'--b\r\nContent-Type: text/xml\r\n\r\n<a><size_pix width="2" height="2"/></a>\r\n--b--\r\n'
    )
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "pixels are missing", "export the blot again")


@needs_formats
def test_spectrum_1d(tmp_path):
    path = FORMATS / "ncempy" / "08_carbon.dm3"
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "spectrum", "open an image file")


def test_single_row_tiff_is_not_an_image(tmp_path):
    path = tmp_path / "profile.tif"
    tifffile.imwrite(path, np.arange(100, dtype=np.uint16)[None, :])
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "line profile", "2-D image")


def test_stack_names_the_frame_option_and_frame_reads(tmp_path):
    path = tmp_path / "stack.tif"
    stack = np.stack([_noise(), _noise() + 1, _noise() + 2])
    tifffile.imwrite(path, stack, photometric="minisblack")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "stack of 3 images", "--frame")
    assert "frame=" in str(info.value)
    np.testing.assert_array_equal(read_image(path, frame=2).data, stack[2])


def test_4d_stack_frames_are_flattened(tmp_path):
    path = tmp_path / "hyper.tif"
    hyper = np.arange(2 * 3 * 8 * 9, dtype=np.uint16).reshape(2, 3, 8, 9)
    tifffile.imwrite(path, hyper, photometric="minisblack", metadata={"axes": "TZYX"})
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "stack of 6 images", "--frame")
    np.testing.assert_array_equal(read_image(path, frame=4).data, hyper[1, 1])


def test_frame_beyond_the_stack(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.stack([_noise(), _noise() + 1]), photometric="minisblack")
    with pytest.raises(ImageReadError) as info:
        read_image(path, frame=7)
    check(info.value, path, "frame 7", "from 0 to 1")


def test_frame_on_a_single_image(tmp_path):
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, _noise())
    assert read_image(path, frame=0).shape == (32, 32)
    with pytest.raises(ImageReadError) as info:
        read_image(path, frame=1)
    check(info.value, path, "1 frame", "from 0 to 0")


def test_planar_rgb_tiff_is_read_as_colour(tmp_path):
    path = tmp_path / "planar.tif"
    gray = _noise()
    tifffile.imwrite(path, np.stack([gray, gray, gray]), photometric="rgb", planarconfig="separate")
    image = read_image(path, kind="tem", scale_bar=False)
    np.testing.assert_array_equal(image.data, gray)


def test_colour_image_refused_for_tem(tmp_path):
    path = tmp_path / "overlay.png"
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0] = _noise()
    rgb[8:20, 8:20, 1] = 255
    Image.fromarray(rgb).save(path)
    with pytest.raises(ImageReadError) as info:
        read_image(path, kind="tem")
    check(info.value, path, "colour image", "export the micrograph as gray")


def test_colour_image_from_tem_format_refused_in_auto(tmp_path):
    # A DM-tagged colour TIFF is TEM by format; its colour content is refused all the same.
    path = tmp_path / "colour.tif"
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 2] = _noise()
    tifffile.imwrite(path, rgb, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "colour image", "export the micrograph as gray")


def test_gray_content_rgb_is_converted_exactly(tmp_path):
    path = tmp_path / "gray_rgb.png"
    gray = _noise()
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(path)
    image = read_image(path, kind="tem", scale_bar=False)
    assert image.data.dtype == np.uint8
    np.testing.assert_array_equal(image.data, gray)


@pytest.mark.parametrize("value", [0, 255])
def test_all_one_value(tmp_path, value):
    path = tmp_path / f"flat{value}.png"
    Image.fromarray(np.full((32, 32), value, np.uint8)).save(path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, f"every pixel equal to {value}", "export the image again")


def test_all_nan_float_image(tmp_path):
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, np.full((16, 16), np.nan, np.float32))
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "no finite pixel", "export the image again")


def test_hdf5_that_is_not_emd(tmp_path):
    import h5py

    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as h5:
        h5["x"] = np.arange(4)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "HDF5", "export the image as one of")


def test_corrupt_emd(tmp_path):
    import h5py

    path = tmp_path / "empty.emd"
    with h5py.File(path, "w") as h5:
        h5["nothing"] = np.arange(3)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "EMD", "export the file again")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "sem"}, "`kind`"),
        ({"frame": -1}, "`frame`"),
        ({"frame": 1.5}, "`frame`"),
        ({"pixel_size_nm": 0.0}, "positive"),
        ({"pixel_size_nm": float("nan")}, "positive"),
        ({"pixel_size_nm": "abc"}, "number of nanometres"),
    ],
)
def test_invalid_arguments_are_value_errors(tmp_path, kwargs, match):
    path = tmp_path / "ok.png"
    Image.fromarray(_noise()).save(path)
    with pytest.raises(ValueError, match=match):
        read_image(path, **kwargs)


@needs_formats
def test_emi_without_its_ser(tmp_path):
    path = tmp_path / "lonely.emi"
    shutil.copy(FORMATS / "ncempy" / "16_STOimage.emi", path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    check(info.value, path, "could not be decoded as TIA", "export the file again")


def test_a_label_image_read_as_a_micrograph_is_refused(tmp_path):
    labels = np.zeros((300, 300), np.uint16)
    labels[40:90, 50:100] = 1
    labels[150:230, 120:200] = 2
    path = tmp_path / "grid1_labels.png"
    Image.fromarray(labels).save(path)
    with pytest.raises(ImageReadError) as info:
        read_image(path, kind="tem", pixel_size_nm=1.0)
    check(info.value, path, "looks like a label image or mask", "keep label images and masks out of the inputs")
    assert "3 distinct values" in str(info.value)
    # read for what it is (a label image, say in napari), it opens
    assert read_image(path, pixel_size_nm=1.0).data.max() == 2


def test_real_micrographs_are_not_taken_for_label_images(shared_data):
    """Every real micrograph of ../shared/data/tem reads as one; every FRU-Net label image is refused."""
    tem = shared_data / "tem"
    micrographs = [tem / "hrml_ev_negative_stain.jpg", *sorted(tem.glob("frunet_notebook/*/*_image.png"))]
    labels = sorted(tem.glob("frunet_notebook/*/*_labels.png"))
    assert len(micrographs) == 24 and len(labels) == 23
    for path in micrographs:
        read_image(path, kind="tem", pixel_size_nm=1.0)
    for path in labels:  # patches 01, 11 and 16 hold no vesicle: all zero, refused as blank
        with pytest.raises(ImageReadError, match="looks like a label image or mask|has every pixel equal to 0"):
            read_image(path, kind="tem", pixel_size_nm=1.0)


def test_band_masks_read_as_blots_are_refused_and_every_real_blot_and_gel_reads(shared_data):
    """The lab gels' band masks (2 values) are refused; no real blot or gel is, the 98 % flat PLOS scan included."""
    images = [
        *sorted((shared_data / "blots").rglob("*.tif")),
        *sorted((shared_data / "blots").glob("*.png")),
        *sorted((shared_data / "gels").glob("*.tif")),
        *sorted((shared_data / "gels" / "lab_gels_with_masks").glob("*.jpg")),
        *sorted((shared_data / "gels" / "lab_gels_with_masks").glob("*.png")),
    ]
    masks = sorted((shared_data / "gels" / "lab_gels_with_masks").glob("*SegMaps.tif"))
    assert len(images) == 26 and len(masks) == 18
    for path in images:
        read_image(path, kind="blot")
    for path in masks:
        with pytest.raises(ImageReadError, match="looks like a label image or mask, not a blot.*pass the blots"):
            read_image(path, kind="blot")
