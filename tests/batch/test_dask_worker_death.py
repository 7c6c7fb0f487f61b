"""A Dask worker that dies (its nanny kills it past its memory limit: distributed's KilledWorker) costs only the
images it held: each is named in errors.csv with the likely cause and the fix, the others finish, and --resume
analyses only those again.

The death is stood for by a task that raises the exception the client gets when workers die (the memory is not
actually exhausted). Before, errors.csv said "unexpected error (...); please report it" or, when the exception
could not even be printed, the run stopped with a traceback.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pandas as pd
import pytest
import tifffile

from exo_vision.batch import runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.synthetic.tem import make_synthetic_tem

distributed = pytest.importorskip("distributed")


@dataclass
class _WorkerState:
    """What the scheduler puts into KilledWorker: the last worker that held the task."""

    address: str


@pytest.fixture
def cluster():
    # threads of this process, so that the task below is the one the workers run
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, memory_limit="2GB", dashboard_address=None
    ) as local:
        yield local


def test_images_of_a_dead_worker_are_named_with_the_cause_and_the_rest_finish(tmp_path, cluster, monkeypatch, caplog):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for seed in range(3):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        tifffile.imwrite(folder / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    (worker,) = cluster.scheduler_info["workers"]
    real = runner.process_image

    def out_of_memory_on_m1(job):
        if job.stem == "m1":
            raise distributed.KilledWorker(f"exo-vision-{job.index}-x", _WorkerState(worker), 3)
        record = real(job)
        if job.stem == "m2":  # its outputs were written, whole; the worker died before it returned the result
            raise distributed.KilledWorker(f"exo-vision-{job.index}-x", _WorkerState(worker), 3)
        return record

    monkeypatch.setattr(runner, "process_image", out_of_memory_on_m1)
    config = TemBatchConfig(scheduler=cluster.scheduler_address)
    with caplog.at_level(logging.WARNING, logger="exo_vision"):
        result = runner.run_tem_batch([folder], out_dir=out, config=config)
    assert [r["status"] for r in result.records] == ["done", "failed", "done"]  # the rest finished
    assert pd.read_csv(out / "summary.csv")["image"].tolist() == ["m0", "m2", "pooled"]  # m2's result was kept
    errors = pd.read_csv(out / "errors.csv")
    assert errors["stem"].tolist() == ["m1"]
    assert errors["error"].iloc[0] == (
        f"the Dask worker analysing this image died 4 times (distributed's KilledWorker; the last one was {worker}), "
        "most likely out of memory: this micrograph has 0.1 megapixels, and a worker's nanny restarts it when it "
        "passes 95 % of its memory limit (2.0 GB per worker here, shared by its 1 thread(s)). To analyse it, start "
        "the Dask workers with fewer threads each (dask worker --nthreads 1) and a larger --memory-limit, or run "
        "without --scheduler on a machine with enough memory (the local process pool fits the number of workers to "
        "the memory), or crop it into tiles; --resume analyses it again and keeps the other images' results"
    )
    assert f"{folder / 'm1.tif'} failed: the Dask worker analysing this image died 4 times" in caplog.text
    assert (
        f"1 image(s) were lost with Dask workers that died while analysing them, most likely out of memory: "
        f"{folder / 'm1.tif'}; the other images were analysed" in caplog.text
    )
    assert not list(out.glob("m1_*"))  # all or nothing

    monkeypatch.setattr(runner, "process_image", real)
    again = runner.run_tem_batch([folder], out_dir=out, config=config, resume=True)
    assert [r["status"] for r in again.records] == ["skipped", "done", "skipped"]
    assert json.loads((out / "run.json").read_text())["n_failed"] == 0
    assert pd.read_csv(out / "errors.csv").empty


class _Client:
    """A client whose scheduler lists the workers running now (the nanny gave the dead one a new address)."""

    def scheduler_info(self):
        return {"workers": {"tcp://10.0.0.5:41002": {"memory_limit": 4_000_000_000, "nthreads": 2}}}


def test_a_worker_restarted_under_a_new_address_is_described_by_the_limit_seen_before(tmp_path):
    image = tmp_path / "m.tif"
    tifffile.imwrite(image, make_synthetic_tem((512, 256), pixel_size_nm=1.0, n_vesicles=2, scale_bar=False, rng=1)[0])
    job = runner.ImageJob(index=0, path=str(image), stem="m", out_dir=str(tmp_path), parameters={})
    died = distributed.KilledWorker("exo-vision-0-x", _WorkerState("tcp://10.0.0.5:40001"), 0)
    seen = {"tcp://10.0.0.5:40001": {"memory_limit": 8_000_000_000, "nthreads": 4}}  # before it died
    message = runner._worker_death_message(died, job, _Client(), seen, local=True)
    assert message.startswith(
        "the Dask worker analysing this image died once (distributed's KilledWorker; the last one was "
        "tcp://10.0.0.5:40001), most likely out of memory: this micrograph has 0.1 megapixels, and a worker's nanny "
        "restarts it when it passes 95 % of its memory limit (8.0 GB per worker here, shared by its 4 thread(s)). "
        "To analyse it, run with fewer --workers (each worker of --scheduler local gets an equal share of the memory)"
    )
    # not seen before either: the limit every worker has now
    message = runner._worker_death_message(died, job, _Client(), {}, local=True)
    assert "(4.0 GB per worker here, shared by its 2 thread(s))" in message
