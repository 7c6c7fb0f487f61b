"""Issue 11 items 1 and 6: a tiny pixel size and a decompression bomb are refused quickly, by name."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision._shared.validation import check_working_scale
from exo_vision.cli.main import main


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
        check_working_scale((512, 512), pixel_size_nm=px, working_scale_nm=2.0)


def test_item1_working_scale_accepts_real_pixel_sizes():
    for px in (0.01775, 0.2485, 0.624, 2.0, 50.0):
        check_working_scale((4096, 4096), pixel_size_nm=px, working_scale_nm=2.0)
    with pytest.raises(ValueError, match="MP"):
        check_working_scale((60_000, 60_000), pixel_size_nm=2.0, working_scale_nm=2.0)


def test_a_coarse_micrograph_enlarged_to_the_working_scale_counts_its_enlarged_size():
    # 512 x 512 at 50 nm/px, enlarged to 3 nm/px, is 73 MP: it took 50 s and 3.8 GB before this bound
    check_working_scale((512, 512), pixel_size_nm=50.0, working_scale_nm=3.0)  # analysed as it is: 0.26 MP
    with pytest.raises(
        ValueError, match=r"73 MP .*enlarged 16.7 times: at that pixel size a 30 nm vesicle spans 0.6 px"
    ):
        check_working_scale((512, 512), pixel_size_nm=50.0, working_scale_nm=3.0, enlarges=True)
    check_working_scale((435, 435), pixel_size_nm=5.0, working_scale_nm=3.0, enlarges=True)  # a FRU-Net render


def _deflate_bomb(path: Path, side: int = 30000) -> None:
    """A small deflate TIFF announcing side x side uint8 pixels (all zero: compresses ~1000x)."""
    import zlib

    rows = 512
    encoded = zlib.compress(bytes(rows * side), 9)
    n = side // rows
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            (encoded for _ in range(n)), shape=(n * rows, side), dtype=np.uint8, compression="zlib", rowsperstrip=rows
        )


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.tif"
    _deflate_bomb(path)
    return path


def test_item6_decompression_bomb_refused_before_decoding(bomb, tmp_path, capsys):
    """Regression (issue 11.6): a ~1 MB deflate TIFF of 30000 x 30000 made `tem` peak at 11.9 GB."""
    from exo_vision.io import ImageReadError, read_image

    assert bomb.stat().st_size < 3_000_000
    start = time.perf_counter()
    with pytest.raises(ImageReadError, match="megapixels"):
        read_image(bomb)
    assert time.perf_counter() - start < 5
    rc = main(["tem", str(bomb), "--out", str(tmp_path / "out"), "--pixel-size-nm", "1"])
    assert rc == 1
    error = pd.read_csv(tmp_path / "out" / "errors.csv")["error"].iloc[0]
    assert "--max-megapixels" in error and "bomb.tif" in error
    assert main(["info", str(bomb)]) == 1
    assert "--max-megapixels" in capsys.readouterr().out


def test_item6_limit_can_be_raised_and_every_reader_checks(tmp_path):
    from exo_vision.io import ImageReadError, read_image

    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    with pytest.raises(ImageReadError, match="megapixels"):
        read_image(small, max_megapixels=0.001)
    assert read_image(small, max_megapixels=0.01).shape == (64, 64)
    png = tmp_path / "small.png"
    from PIL import Image

    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64).astype(np.uint8)).save(png)
    with pytest.raises(ImageReadError, match="megapixels"):
        read_image(png, max_megapixels=0.001)
    import mrcfile

    mrc = tmp_path / "small.mrc"
    with mrcfile.new(mrc) as handle:
        handle.set_data(np.arange(64 * 64, dtype=np.float32).reshape(64, 64))
        handle.voxel_size = 10.0
    with pytest.raises(ImageReadError, match="megapixels"):
        read_image(mrc, max_megapixels=0.001)
    assert read_image(mrc).shape == (64, 64)


FORMATS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "formats"


@pytest.mark.skipif(not FORMATS.is_dir(), reason="../shared/data/formats is not available")
def test_item6_em_readers_check_before_decoding():
    from exo_vision.io import ImageReadError, read_image

    for name in (
        "ncempy/dmTest_float32_nonSquare_diffPixelSize.dm3",
        "ncempy/Camera Ceta Imaging Micro.emd",
        "ncempy/16_STOimage.emi",
    ):
        with pytest.raises(ImageReadError, match="megapixels"):
            read_image(FORMATS / name, max_megapixels=0.001)
