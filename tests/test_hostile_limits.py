"""Issue 11 items 1 and 6: a tiny pixel size and a decompression bomb are refused quickly, by name."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.segmentation.preprocess import check_working_scale


def _imagej_tiff(path: Path, px_nm: float, shape=(512, 512)) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4000, size=shape, dtype=np.uint16)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / px_nm, 1 / px_nm), metadata={"unit": "nm"})


def test_item1_tiny_metadata_pixel_fails_fast_and_the_batch_goes_on(tmp_path):
    """Regression (issue 11.1): a 512 px ImageJ TIFF at 1e-6 nm/px ran for > 300 s inside cv2.blur."""
    folder = tmp_path / "in"
    folder.mkdir()
    _imagej_tiff(folder / "tiny.tif", 1e-6)
    start = time.perf_counter()
    rc = main(["tem", str(folder), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert time.perf_counter() - start < 30
    assert rc == 1
    errors = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert "pixel" in errors["error"].iloc[0] and "nm" in errors["error"].iloc[0]
    assert errors["input"].iloc[0].endswith("tiny.tif")


def test_item1_tiny_user_pixel_size_is_a_usage_error(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    _imagej_tiff(folder / "a.tif", 1.0, shape=(64, 64))
    rc = main(["tem", str(folder), "--out", str(tmp_path / "out"), "--pixel-size-nm", "2e-5"])
    assert rc == 2
    assert "pixel_size_nm" in caplog.text


@pytest.mark.parametrize("px", [1e-9, 1e-6, 1e-4, 5e-4])
def test_item1_working_scale_bound(px):
    with pytest.raises(ValueError, match="pixel"):
        check_working_scale((512, 512), pixel_size_nm=px)


def test_item1_working_scale_accepts_real_pixel_sizes():
    for px in (0.01775, 0.2485, 0.624, 2.0, 50.0):
        check_working_scale((4096, 4096), pixel_size_nm=px)
    with pytest.raises(ValueError, match="MP"):
        check_working_scale((60_000, 60_000), pixel_size_nm=2.0)
