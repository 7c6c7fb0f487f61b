"""The default number of workers is capped by the memory the micrographs need; oversized ones are named."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import tifffile

from exo_vision.batch import memory, runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.batch.memory import memory_workers, workers_that_fit
from exo_vision.synthetic.tem import make_synthetic_tem

#: A 512 x 512 micrograph at 1 nm/px seen by the network at 3 nm/px: 262144 image pixels and 262144 / 9
#: working pixels, 400 + 14 x 0.262144 + 55 x 0.029127 = 405.27 MB.
SMALL_PEAK_MB = 400 + 14 * 0.262144 + 55 * 0.262144 / 9


def _micrographs(folder, count, *, side=512, pixel_size_nm=1.0):
    folder.mkdir()
    paths = []
    for seed in range(count):
        image, _ = make_synthetic_tem(
            (side, side), pixel_size_nm=pixel_size_nm, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        path = folder / f"m{seed}.tif"
        tifffile.imwrite(
            path, image, imagej=True, resolution=(1 / pixel_size_nm, 1 / pixel_size_nm), metadata={"unit": "nm"}
        )
        paths.append(path)
    return paths


def _jobs(paths):
    params = TemBatchConfig().analysis_parameters()
    return [SimpleNamespace(path=str(p), parameters=params, max_megapixels=None) for p in paths]


def test_workers_that_fit_by_hand():
    # the two largest (3000 + 2000 MB) do not fit in 4500 MB; the largest alone does
    assert workers_that_fit([1000, 3000, 2000], 4500, 3) == 1
    assert workers_that_fit([1000, 3000, 2000], 5000, 3) == 2
    assert workers_that_fit([1000, 3000, 2000], 6000, 3) == 3
    assert workers_that_fit([1000, 3000, 2000], 6000, 2) == 2  # never more than wanted
    assert workers_that_fit([1000, 3000, 2000], 100, 3) == 1  # at least one, even when none fits


def test_image_need_from_size_and_pixel_size(tmp_path):
    (path,) = _micrographs(tmp_path / "in", 1)
    scale, enlarges = memory.working_scale("unet", None)
    assert (scale, enlarges) == (3.0, True)
    need = memory.image_need(
        str(path), TemBatchConfig().analysis_parameters(), scale_nm=scale, enlarges=True, max_megapixels=None
    )
    assert need.shape == (512, 512)
    assert need.pixel_size_nm == pytest.approx(1.0)
    assert need.peak_mb == pytest.approx(SMALL_PEAK_MB)


def test_default_workers_lowered_to_what_memory_holds(tmp_path, caplog):
    paths = _micrographs(tmp_path / "in", 3)
    with caplog.at_level(logging.INFO, logger="exo_vision.batch.memory"):
        workers = memory_workers(
            _jobs(paths), workers=2, requested=False, available_mb=600.0, method="unet", model=None
        )
    assert workers == 1
    assert "using 1 worker process(es) instead of 2 (one per core)" in caplog.text
    assert (
        "the 2 largest micrographs analysed at once would need about 0.8 GB" in caplog.text
        and "0.6 GB of memory is available" in caplog.text
    )
    assert "alone need" not in caplog.text  # each fits alone


def test_unreadable_micrographs_do_not_count_among_those_analysed_at_once(tmp_path, caplog):
    # before: one readable micrograph (0.4 GB) and two unreadable ones, 2 workers and 0.5 GB free gave "the 2
    # largest micrographs analysed at once would need about 0.4 GB ... 0.5 GB of memory is available" and 1 worker
    paths = _micrographs(tmp_path / "in", 1)
    for name in ("broken1.tif", "broken2.tif"):
        (tmp_path / "in" / name).write_bytes(b"II*\x00 not a TIFF after all")
        paths.append(tmp_path / "in" / name)
    with caplog.at_level(logging.INFO, logger="exo_vision.batch.memory"):
        workers = memory_workers(
            _jobs(paths), workers=2, requested=False, available_mb=500.0, method="unet", model=None
        )
    assert workers == 2 and "largest micrographs" not in caplog.text and "alone need" not in caplog.text


def test_explicit_workers_kept_with_a_warning(tmp_path, caplog):
    paths = _micrographs(tmp_path / "in", 3)
    with caplog.at_level(logging.INFO, logger="exo_vision.batch.memory"):
        workers = memory_workers(_jobs(paths), workers=3, requested=True, available_mb=900.0, method="unet", model=None)
    assert workers == 3
    assert "--workers 3: the 3 largest micrographs analysed at once need about 1.2 GB" in caplog.text
    assert "--workers 2 would fit" in caplog.text


def test_a_micrograph_larger_than_memory_is_named_with_the_fixes(tmp_path, caplog):
    paths = _micrographs(tmp_path / "in", 2)
    with caplog.at_level(logging.WARNING, logger="exo_vision.batch.memory"):
        workers = memory_workers(
            _jobs(paths), workers=2, requested=False, available_mb=300.0, method="unet", model=None
        )
    assert workers == 1
    warning = [r.getMessage() for r in caplog.records if "alone need" in r.getMessage()]
    assert len(warning) == 1
    assert "m0.tif (about 0.4 GB: 512 x 512 px at 1 nm/px)" in warning[0]
    assert "m1.tif" in warning[0]
    assert "close other programs, crop them into tiles" in warning[0]
    assert "--workers 1" not in warning[0]  # the run uses one worker already


def test_plenty_of_memory_reads_no_micrograph_twice(tmp_path, monkeypatch):
    paths = _micrographs(tmp_path / "in", 2)

    def no_read(*args, **kwargs):
        raise AssertionError("the header bound shows that everything fits")

    monkeypatch.setattr(memory, "image_need", no_read)
    assert memory_workers(_jobs(paths), workers=2, requested=False, available_mb=1e5, method="unet", model=None) == 2
    # memory unknown: today's default
    assert memory_workers(_jobs(paths), workers=2, requested=False, available_mb=None, method="unet", model=None) == 2


def test_run_uses_the_workers_memory_allows(tmp_path, monkeypatch, caplog):
    _micrographs(tmp_path / "in", 2)
    monkeypatch.setattr(runner, "default_workers", lambda: 2)
    monkeypatch.setattr(runner, "available_memory_mb", lambda: 600.0)

    def no_pool(*args, **kwargs):
        raise AssertionError("two micrographs of 0.4 GB do not fit in 0.6 GB at once")

    monkeypatch.setattr(runner, "_run_pool", no_pool)
    with caplog.at_level(logging.INFO):
        result = runner.run_tem_batch([tmp_path / "in"], out_dir=tmp_path / "out", config=TemBatchConfig())
    assert [r["status"] for r in result.records] == ["done", "done"]
    assert "using 1 worker process(es) instead of 2" in caplog.text
    import json

    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert (run["workers_used"], run["memory_available_mb"]) == (1, 600.0)


def test_explicit_workers_when_not_even_one_fits(tmp_path, caplog):
    paths = _micrographs(tmp_path / "in", 2)
    with caplog.at_level(logging.WARNING, logger="exo_vision.batch.memory"):
        workers = memory_workers(_jobs(paths), workers=2, requested=True, available_mb=300.0, method="unet", model=None)
    assert workers == 2
    assert "--workers 2: the 2 largest micrographs analysed at once need about 0.8 GB" in caplog.text
    assert "would fit" not in caplog.text  # not even one does: the next warning says what to do
    assert "run with --workers 1, close other programs" in caplog.text


def test_a_micrograph_too_large_for_the_machine_is_analysed_last(tmp_path, monkeypatch, caplog):
    # m0 is 1024 x 1024 (421 MB), m1 and m2 512 x 512 (405 MB) in 415 MB: m0 goes after the others, so
    # that the system stopping the run on it loses none of them
    folder = tmp_path / "in"
    (big,) = _micrographs(folder, 1, side=1024)
    small = _micrographs(tmp_path / "small", 2)
    for i, path in enumerate(small, start=1):
        path.rename(folder / f"m{i}.tif")
    monkeypatch.setattr(runner, "available_memory_mb", lambda: 415.0)
    order = []
    real = runner._run_serial

    def serial(todo):
        order.extend(job.stem for job in todo)
        return real(todo)

    monkeypatch.setattr(runner, "_run_serial", serial)
    with caplog.at_level(logging.WARNING, logger="exo_vision.batch.memory"):
        result = runner.run_tem_batch([folder], out_dir=tmp_path / "out", config=TemBatchConfig(workers=1))
    assert order == ["m1", "m2", "m0"]
    assert [r["stem"] for r in result.records] == ["m0", "m1", "m2"]  # the tables keep the inputs' order
    assert "m0.tif (about 0.4 GB" in caplog.text and "(analysed last, after the others)" in caplog.text
