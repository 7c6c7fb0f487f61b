"""The local process pool survives a worker process dying; results come back in input order."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest
import tifffile

from exo_vision.batch import runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.synthetic.tem import make_synthetic_tem


def descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (children, grandchildren, ...) from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find worker processes")
def test_the_run_survives_a_worker_being_killed(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(6):
        image, _ = make_synthetic_tem(
            (384, 384), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        tifffile.imwrite(folder / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    reference = runner.run_tem_batch([folder], out_dir=tmp_path / "ref", config=TemBatchConfig(workers=1))
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        # After the first result, SIGKILL one worker (a grandchild: test -> fork server -> worker).
        if done >= 1 and not killed:
            workers = sorted(set(descendants(os.getpid())) - _direct_children())
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])

    result = runner.run_tem_batch(
        [folder], out_dir=tmp_path / "out", config=TemBatchConfig(workers=2), progress=progress
    )
    assert killed, "no worker process was found to kill"
    assert [r["status"] for r in result.records] == ["done"] * 6
    assert pd.read_csv(tmp_path / "out" / "errors.csv").empty
    for name in ("vesicles.csv", "summary.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    assert not reference.failed


def _direct_children() -> set[int]:
    """Children of this process (the fork server): not to be killed, only their children."""
    me = os.getpid()
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.add(int(entry.name))
    return out


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_pool_and_serial_paths_report_in_input_order(tmp_path, workers):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(3):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=2, scale_bar=False, rng=seed
        )
        tifffile.imwrite(folder / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    result = runner.run_tem_batch([folder], out_dir=tmp_path / "out", config=TemBatchConfig(workers=workers))
    assert [r["stem"] for r in result.records] == ["m0", "m1", "m2"]
    assert all(r["status"] == "done" for r in result.records)


def test_staged_files_of_a_worker_that_died_mid_write_are_gone_after_the_run(tmp_path):
    """A pool worker killed while writing leaves its staged files; its image is retried and the run
    succeeds, so the run removes them at its end (they stayed until the next run into the folder)."""
    from exo_vision._shared.atomic import TEMP_PREFIX

    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(2):
        image, _ = make_synthetic_tem(
            (384, 384), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        tifffile.imwrite(folder / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    out = tmp_path / "out"

    def progress(done: int, total: int) -> None:
        if done == 1:  # as a worker killed mid-write leaves them, after the run's start
            (out / f"{TEMP_PREFIX}abc123.png").write_bytes(b"half a PNG")
            (out / f"{TEMP_PREFIX}def456.csv").write_text("label,area")

    result = runner.run_tem_batch([folder], out_dir=out, config=TemBatchConfig(workers=1), progress=progress)
    assert [r["status"] for r in result.records] == ["done", "done"]
    assert not list(out.glob(f"{TEMP_PREFIX}*"))
    assert (out / "run.json").is_file() and (out / "m1_overlay.png").is_file()
