"""Issue 11 item 10, reader part: print resolutions, negative resolutions, bad OME sizes, tifffile chatter."""

from __future__ import annotations

import logging

import numpy as np
import tifffile

from exo_vision.io import read_image


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 4000, (64, 64), dtype=np.uint16)


def test_item10_imagej_inch_unit_is_a_print_resolution(tmp_path):
    """Regression (issue 11.10): unit=inch at 300 dpi was an 84 667 nm pixel 'from file metadata'."""
    for dpi in (300.0, 72.0):
        path = tmp_path / f"export_{int(dpi)}.tif"
        tifffile.imwrite(path, _image(), imagej=True, resolution=(dpi, dpi), metadata={"unit": "inch"})
        image = read_image(path, scale_bar=False)
        assert image.pixel_size_nm is None
        assert image.metadata.get("dpi") == dpi


def test_item10_negative_resolution_is_no_calibration(tmp_path):
    """Regression (issue 11.10): an SRATIONAL -1 resolution was reported as pixel_size_nm -1.0."""
    path = tmp_path / "neg.tif"
    tifffile.imwrite(path, _image(), resolution=(1e7, 1e7), resolutionunit="CENTIMETER")
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        for name in ("XResolution", "YResolution"):
            tag = tif.pages[0].tags[name]
            offset = tag.valueoffset
            raw[offset : offset + 8] = np.array([-1, 1], "<i4").tobytes()
            raw[tag.offset + 2 : tag.offset + 4] = np.array([10], "<u2").tobytes()  # SRATIONAL
    path.write_bytes(bytes(raw))
    image = read_image(path, scale_bar=False)
    assert image.pixel_size_nm is None or image.pixel_size_nm > 0


def test_item10_ome_physical_size_zero_is_not_called_truncated(tmp_path):
    """Regression (issue 11.10): OME PhysicalSizeX <= 0 was reported as 'probably truncated'."""
    path = tmp_path / "ome.ome.tif"
    tifffile.imwrite(path, _image(), ome=True, metadata={"PhysicalSizeX": 0.0, "PhysicalSizeY": 0.0})
    image = read_image(path, scale_bar=False)
    assert image.pixel_size_nm is None
    assert any("PhysicalSize" in w for w in image.warnings)


def test_item10_tifffile_tag_errors_stay_out_of_the_terminal(tmp_path, caplog):
    """Regression (issue 11.10): tifffile's `ERROR: <TiffTag ...>` lines were shown although the read succeeded."""
    import struct

    path = tmp_path / "bad_tag.tif"
    tifffile.imwrite(path, _image(), extratags=[(65000, "s", 0, "a longer private text tag", True)])
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags[65000].offset
    raw[entry + 8 : entry + 12] = struct.pack("<I", 10**8)  # the tag's value now lies past the end of the file
    path.write_bytes(bytes(raw))
    caplog.clear()
    assert read_image(path, kind="tem", pixel_size_nm=1.0).shape == (64, 64)
    shown = [r for r in caplog.records if r.levelno >= logging.WARNING and "TiffTag" in r.getMessage()]
    assert shown == []


def test_item10_truncated_two_series_tiff_is_refused_not_read_as_the_other_series(tmp_path):
    """Regression (issue 11.10): a truncated two-series TIFF was silently read as its RGB overview series."""
    import pytest

    from exo_vision.io import ImageReadError

    path = tmp_path / "two.tif"
    overview = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    with tifffile.TiffWriter(path) as tif:
        tif.write(overview, photometric="rgb")
        tif.write(np.random.default_rng(2).integers(0, 4000, (512, 512), dtype=np.uint16))
    assert read_image(path, kind="tem", scale_bar=False).shape == (512, 512)
    data = path.read_bytes()
    with tifffile.TiffFile(path) as tif:
        main_ifd = tif.pages[1].offset
        main_data = tif.series[1].pages[0].dataoffsets[0]
    # Cut just before the main image's directory: tifffile then sees only the RGB overview.
    (tmp_path / "cut_ifd.tif").write_bytes(data[:main_ifd])
    with tifffile.TiffFile(tmp_path / "cut_ifd.tif") as tif:
        assert len(tif.series) == 1
    with pytest.raises(ImageReadError, match="truncated file"):
        read_image(tmp_path / "cut_ifd.tif", kind="tem", scale_bar=False)
    (tmp_path / "cut_data.tif").write_bytes(data[: main_data + 1000])
    with pytest.raises(ImageReadError, match="truncated file"):
        read_image(tmp_path / "cut_data.tif", kind="tem", scale_bar=False)


def test_fuzz_found_mrc_extended_header_larger_than_the_file_is_refused_fast(tmp_path):
    """Found by benchmarks/fuzz.py: a DM4 renamed .mrc made mrcfile allocate a 1.9 GB extended header."""
    import time

    import mrcfile
    import pytest

    from exo_vision.io import ImageReadError

    path = tmp_path / "damaged.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((16, 16), np.float32) + np.arange(16, dtype=np.float32))
    raw = bytearray(path.read_bytes())
    raw[92:96] = np.array([1_869_898_100], "<i4").tobytes()
    path.write_bytes(bytes(raw))
    start = time.perf_counter()
    with pytest.raises(ImageReadError, match="extended header"):
        read_image(path)
    assert time.perf_counter() - start < 1.0
