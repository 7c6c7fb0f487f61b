"""A Dask run's messages name the inputs as the user typed them, as the local pool's do (facility51 F5: with
``--scheduler local`` the errors.csv ``error`` column started with the absolute path while its ``input`` column,
and the same run on the local pool, had ``data/grid/corrupt.png``: the two runs' tables differed)."""

from __future__ import annotations

import pandas as pd
import pytest
import tifffile

from exo_vision.batch import runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.synthetic.tem import make_synthetic_tem

distributed = pytest.importorskip("distributed")


def test_a_dask_run_names_a_failed_input_as_typed_like_the_local_pool(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    image, _ = make_synthetic_tem(
        (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=0
    )
    tifffile.imwrite(folder / "m0.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    monkeypatch.chdir(tmp_path)
    runner.run_tem_batch(["in"], out_dir="pool", config=TemBatchConfig(workers=1))
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, memory_limit="2GB", dashboard_address=None
    ) as cluster:
        runner.run_tem_batch(["in"], out_dir="dask", config=TemBatchConfig(scheduler=cluster.scheduler_address))
    pool = pd.read_csv(tmp_path / "pool" / "errors.csv")
    dask = pd.read_csv(tmp_path / "dask" / "errors.csv")
    assert list(pool["input"]) == ["in/corrupt.png"] and pool["error"].iloc[0].startswith("in/corrupt.png: ")
    assert str(tmp_path) not in dask["error"].iloc[0]  # before: /tmp/.../in/corrupt.png: ...
    pd.testing.assert_frame_equal(dask, pool)
