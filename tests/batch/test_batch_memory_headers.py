"""The memory estimate takes the size of EM files from their headers, without a second full read."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import mrcfile
import numpy as np
import pytest

from exo_vision.batch import memory
from exo_vision.batch.config import TemBatchConfig
from exo_vision.io import em

FORMATS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "formats"
NCEMPY = FORMATS / "ncempy"
needs_formats = pytest.mark.skipif(not NCEMPY.is_dir(), reason="../shared/data/formats is not available")

#: A 512 x 512 micrograph at 1 nm/px seen by the network at 3 nm/px (as in test_batch_memory.py): 405.27 MB.
SMALL_PEAK_MB = 400 + 14 * 0.262144 + 55 * 0.262144 / 9


def _mrc(path: Path, shape: tuple[int, ...], *, voxel_angstrom: float) -> Path:
    with mrcfile.new(path) as handle:
        handle.set_data(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) % 251)
        handle.voxel_size = voxel_angstrom
    return path


def _jobs(paths, **parameters):
    params = {**TemBatchConfig().analysis_parameters(), **parameters}
    return [SimpleNamespace(path=str(p), parameters=params, max_megapixels=None) for p in paths]


@needs_formats
def test_the_mrc_fixture_header_gives_the_full_reads_shape_and_pixel_size():
    path = NCEMPY / "temp.mrc"
    header = em.read_mrc_header(path)
    raw = em.read_mrc(path)
    assert header.shape == raw.data.shape == (3, 128, 128)
    assert header.mode == 2
    assert header.pixel_size_yx_nm == pytest.approx(raw.pixel_size_yx_nm)
    assert header.pixel_size_yx_nm == pytest.approx((0.2, 0.2))  # 2 Å
    assert em.header_frame_pixels(path) == 128 * 128


def test_written_mrc_headers_match_the_full_read(tmp_path):
    image = _mrc(tmp_path / "one.mrc", (300, 200), voxel_angstrom=7.5)
    stack = _mrc(tmp_path / "stack.mrcs", (4, 64, 96), voxel_angstrom=0.0)  # uncalibrated
    for path in (image, stack):
        raw = em.read_mrc(path)
        header = em.read_mrc_header(path)
        assert (header.shape[0], *header.shape[1:]) == ((1, *raw.data.shape) if raw.data.ndim == 2 else raw.data.shape)
        assert header.pixel_size_yx_nm == (pytest.approx(raw.pixel_size_yx_nm) if raw.pixel_size_yx_nm[0] else None)
    assert em.read_mrc_header(image).pixel_size_yx_nm == pytest.approx((0.75, 0.75))
    assert memory.header_pixels(image) == 300 * 200 and memory.header_pixels(stack) == 64 * 96
    truncated = tmp_path / "cut.mrc"
    truncated.write_bytes(image.read_bytes()[:500])
    with pytest.raises(ValueError, match="cut.mrc: the MRC header is 500 bytes long"):
        em.read_mrc_header(truncated)
    assert memory.header_pixels(truncated) is None


@needs_formats
@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("16_STOimage_1.ser", em.read_tia),
        ("16_STOimage.emi", em.read_tia),
        ("Camera Ceta Imaging Micro.emd", em.read_emd),
        ("dmTest_3D_int16_64,65,66.dm4", em.read_dm),
        ("dmTest_float32_nonSquare_diffPixelSize.dm3", em.read_dm),
    ],
)
def test_rosettasciio_headers_give_the_full_reads_frame_size(name, reader):
    raw = reader(NCEMPY / name)
    assert em.header_frame_pixels(NCEMPY / name) == raw.data.shape[-2] * raw.data.shape[-1]


@needs_formats
def test_a_spectrum_announces_no_image():
    assert em.header_frame_pixels(NCEMPY / "08_carbon.dm3") is None  # 1 x 2048: read in full, and refused there


def test_the_estimate_of_mrc_files_reads_only_their_headers(tmp_path, monkeypatch, caplog):
    paths = [_mrc(tmp_path / f"m{i}.mrc", (512, 512), voxel_angstrom=10.0) for i in range(2)]

    full_reads = []

    def no_full_read(path, *args, **kwargs):
        full_reads.append(Path(path).name)
        raise AssertionError("an MRC file's size and voxel size are in its header")

    import exo_vision.io as io

    monkeypatch.setattr(io, "read_image", no_full_read)
    monkeypatch.setattr(em, "read_mrc", no_full_read)
    scale, enlarges = memory.working_scale("unet", None)
    need = memory.image_need(
        str(paths[0]), TemBatchConfig().analysis_parameters(), scale_nm=scale, enlarges=enlarges, max_megapixels=None
    )
    assert need.shape == (512, 512) and need.pixel_size_nm == pytest.approx(1.0)
    assert need.peak_mb == pytest.approx(SMALL_PEAK_MB)
    # 600 MB hold one of the two 405 MB micrographs: the header bound does not settle it, the exact estimate does
    with caplog.at_level(logging.INFO, logger="exo_vision.batch.memory"):
        workers = memory.memory_workers(
            _jobs(paths), workers=2, requested=False, available_mb=600.0, method="unet", model=None
        )
    assert workers == 1 and "would need about 0.8 GB" in caplog.text
    # a pixel size given for the run is the one estimated with (2 nm/px: 4/9 of the working pixels at 3 nm)
    given = memory.image_need(
        str(paths[0]), {"pixel_size_nm": 2.0}, scale_nm=scale, enlarges=enlarges, max_megapixels=None
    )
    assert given.peak_mb == pytest.approx(400 + 14 * 0.262144 + 55 * 0.262144 * 4 / 9)
    assert full_reads == []


def test_mrc_files_the_run_refuses_get_no_estimate_and_no_full_read(tmp_path, monkeypatch):
    # before, a stack without --frame, a file past the megapixel limit and non-square pixels were estimated from
    # the header and could cut the workers or be named as needing more memory than the machine has
    def no_full_read(path, *args, **kwargs):
        raise AssertionError("the header alone shows the run refuses it")

    import exo_vision.io as io

    monkeypatch.setattr(io, "read_image", no_full_read)
    scale, enlarges = memory.working_scale("unet", None)
    stack = tmp_path / "stack.mrc"
    with mrcfile.new(stack) as mrc:
        mrc.set_data(np.zeros((3, 64, 64), np.float32))
        mrc.voxel_size = 10.0
    oblong = tmp_path / "oblong.mrc"
    with mrcfile.new(oblong) as mrc:
        mrc.set_data(np.zeros((64, 64), np.float32))
        mrc.voxel_size = (10.0, 14.0, 10.0)  # x, y, z in Angstrom: y 40 % larger
    big = _mrc(tmp_path / "big.mrc", (512, 512), voxel_angstrom=10.0)

    def need(path, params, megapixels=None):
        return memory.image_need(str(path), params, scale_nm=scale, enlarges=enlarges, max_megapixels=megapixels)

    assert need(stack, {}) is None
    assert need(stack, {"frame": 3}) is None
    assert need(stack, {"frame": 2}).shape == (64, 64)
    assert need(oblong, {}) is None
    assert need(oblong, {"pixel_size_nm": 1.0}).shape == (64, 64)  # a pixel size given for the run is square
    assert need(big, {}, megapixels=0.2) is None
    assert need(big, {}, megapixels=0.3).shape == (512, 512)


def test_a_truncated_mrc_gets_no_estimate_and_a_stack_frame_counts_the_whole_stack(tmp_path, monkeypatch):
    # a file whose header is intact but whose data is cut short fails at once: before, it was estimated (1.8 GB
    # for an 8192^2 header) and named as needing more memory than the machine has. The reader holds a whole stack
    # (read, then copied) before it takes a frame: 24 frames of 512^2 float32 are 25 MB twice, not one frame
    def no_full_read(path, *args, **kwargs):
        raise AssertionError("the header and the file size settle it")

    import exo_vision.io as io

    monkeypatch.setattr(io, "read_image", no_full_read)
    scale, enlarges = memory.working_scale("unet", None)
    whole = _mrc(tmp_path / "whole.mrc", (512, 512), voxel_angstrom=10.0)
    cut = tmp_path / "cut.mrc"
    cut.write_bytes(whole.read_bytes()[: 1024 + 1000])
    stack = _mrc(tmp_path / "stack.mrc", (24, 512, 512), voxel_angstrom=10.0)

    def need(path, params):
        return memory.image_need(str(path), params, scale_nm=scale, enlarges=enlarges, max_megapixels=None)

    assert need(cut, {}) is None
    assert need(whole, {}).peak_mb == pytest.approx(SMALL_PEAK_MB)
    assert need(stack, {"frame": 3}).peak_mb == pytest.approx(SMALL_PEAK_MB + 2 * 24 * 512 * 512 * 4 / 1e6)
