"""The local process pool survives a worker process dying: only the input that kills it fails."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import tifffile

from exo_vision.batch import runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.synthetic.tem import make_synthetic_tem

ORIGINAL = runner.process_image


def crashing_process_image(job):
    """Kill the worker process outright (as the OOM killer would) on inputs named 'crash'."""
    if "crash" in os.path.basename(job.path):
        os._exit(9)
    return ORIGINAL(job)


def test_a_dying_worker_fails_only_its_input(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed, name in enumerate(("a", "b", "crash", "c", "d")):
        image, _ = make_synthetic_tem((256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=2,
                                      scale_bar=False, rng=seed)
        tifffile.imwrite(folder / f"{name}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    # fork (not forkserver) so the workers inherit the patched function.
    monkeypatch.setattr(runner, "POOL_START_METHOD", "fork")
    monkeypatch.setattr(runner, "process_image", crashing_process_image)
    result = runner.run_tem_batch([folder], out_dir=tmp_path / "out", config=TemBatchConfig(workers=2))
    status = {r["stem"]: r["status"] for r in result.records}
    assert status == {"a": "done", "b": "done", "crash": "failed", "c": "done", "d": "done"}
    errors = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert errors["stem"].tolist() == ["crash"]
    assert "worker process died" in errors["error"].iloc[0]
    assert (tmp_path / "out" / "d_done.json").is_file()


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_pool_and_serial_paths_report_in_input_order(tmp_path, workers):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(3):
        image, _ = make_synthetic_tem((256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=2,
                                      scale_bar=False, rng=seed)
        tifffile.imwrite(folder / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    result = runner.run_tem_batch([folder], out_dir=tmp_path / "out", config=TemBatchConfig(workers=workers))
    assert [r["stem"] for r in result.records] == ["m0", "m1", "m2"]
    assert all(r["status"] == "done" for r in result.records)
