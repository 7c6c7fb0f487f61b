"""Batch at scale: Dask gives the local results, a killed run resumes to the same bytes, config round trip."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tifffile

from exo_vision.batch.config import TemBatchConfig
from exo_vision.batch.runner import run_tem_batch
from exo_vision.cli.main import main
from exo_vision.synthetic.tem import make_synthetic_tem

N_IMAGES = 8
TABLES = ("vesicles.csv", "summary.csv", "errors.csv")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scale_inputs")
    for seed in range(N_IMAGES):
        image, _ = make_synthetic_tem(
            (512, 512), pixel_size_nm=0.8, difficulty="medium", n_vesicles=5, scale_bar=False, rng=100 + seed
        )
        tifffile.imwrite(
            path / f"m{seed:02d}.tif", image, imagej=True, resolution=(1 / 0.8, 1 / 0.8), metadata={"unit": "nm"}
        )
    return path


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "out"
    result = run_tem_batch([folder], out_dir=out, config=TemBatchConfig(workers=1))
    assert not result.failed
    return out


def same_tables(a: Path, b: Path) -> None:
    names = [*TABLES, *(p.name for p in sorted(a.glob("*_vesicles.csv")))]
    assert len(names) == len(TABLES) + N_IMAGES
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.slow
def test_dask_cluster_gives_the_local_results(folder, reference, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        out = tmp_path / "dask"
        result = run_tem_batch([folder], out_dir=out, config=TemBatchConfig(scheduler=cluster.scheduler_address))
    assert not result.failed
    same_tables(reference, out)
    run = json.loads((out / "run.json").read_text())
    assert run["parameters"]["scheduler"].startswith("tcp://")
    # with everything complete, --resume decides so without starting a cluster
    config = TemBatchConfig(scheduler="local")
    import exo_vision.batch.runner as runner

    started = []
    original = runner._run_dask
    runner._run_dask = lambda *a, **k: started.append(a) or original(*a, **k)
    try:
        again = run_tem_batch([folder], out_dir=out, config=config, resume=True)
    finally:
        runner._run_dask = original
    assert not started and all(r["status"] == "skipped" for r in again.records)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_bytes(folder, reference, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "exo_vision.cli.main", "tem", str(folder), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not list(out.glob("*_done.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    markers = list(out.glob("*_done.json"))
    assert 1 <= len(markers) < N_IMAGES, "the run must be killed part-way for this test to mean anything"
    assert not (out / "run.json").exists()

    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--resume"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["n_skipped"] >= 1 and run["n_done"] == N_IMAGES - run["n_skipped"]
    same_tables(reference, out)
    assert not [p for p in out.iterdir() if p.name.startswith(".exo-vision-tmp-")]


@pytest.mark.slow
def test_config_file_and_run_json_reproduce_a_run(folder, tmp_path):
    config = tmp_path / "exo.toml"
    config.write_text("[tem]\nmin_diameter_nm = 30.0\nsensitivity = 0.6\nbin_width_nm = 5.0\nworkers = 1\n")
    first = tmp_path / "first"
    subset = [str(folder / "m00.tif"), str(folder / "m01.tif")]
    assert main(["tem", *subset, "--out", str(first), "--config", str(config)]) == 0
    run = json.loads((first / "run.json").read_text())
    assert run["parameters"]["min_diameter_nm"] == 30.0
    assert run["parameters"]["sensitivity"] == 0.6
    assert run["parameters"]["bin_width_nm"] == 5.0
    second = tmp_path / "second"
    assert main(["tem", *subset, "--out", str(second), "--config", str(first / "run.json")]) == 0
    assert json.loads((second / "run.json").read_text())["parameters"] == run["parameters"]
    for name in ("vesicles.csv", "summary.csv", "m00_vesicles.csv", "size_histogram.svg"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.slow
def test_dask_workers_get_absolute_paths_of_the_clients_directory(folder, tmp_path, monkeypatch):
    """A worker started elsewhere finds relative inputs and writes into the client's relative --out."""
    from dask.distributed import LocalCluster

    elsewhere = tmp_path / "worker_cwd"
    elsewhere.mkdir()
    here = tmp_path / "client_cwd"
    (here / "in").mkdir(parents=True)
    for name in ("m00.tif", "m01.tif"):
        (here / "in" / name).write_bytes((folder / name).read_bytes())
    monkeypatch.chdir(elsewhere)  # the workers start (and stay) in another directory than the client works in
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        monkeypatch.chdir(here)
        result = run_tem_batch(
            ["in/m00.tif", "in/m01.tif"], out_dir="out", config=TemBatchConfig(scheduler=cluster.scheduler_address)
        )
    assert not result.failed, result.failed
    assert sorted(p.name for p in (here / "out").glob("*_done.json")) == ["m00_done.json", "m01_done.json"]
    assert not list(elsewhere.rglob("*"))  # nothing written where the worker runs
    run = json.loads((here / "out" / "run.json").read_text())
    assert [r["input"] for r in run["images"]] == ["in/m00.tif", "in/m01.tif"]  # as the user named them


@pytest.mark.slow
def test_dask_workers_running_other_code_are_refused_and_the_checked_code_is_recorded(folder, tmp_path, monkeypatch):
    from dask.distributed import LocalCluster

    import exo_vision.environment as environment

    real = environment.software_versions
    one = tmp_path / "in"
    one.mkdir()
    (one / "m00.tif").write_bytes((folder / "m00.tif").read_bytes())
    config = None
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        config = TemBatchConfig(scheduler=cluster.scheduler_address)
        # this process stands for a client whose code was changed since the workers were started
        monkeypatch.setattr(environment, "software_versions", lambda: {**real(), "exo_vision_code_sha256": "0" * 64})
        with pytest.raises(ValueError, match=r"1 of the 1 Dask worker\(s\) run other exo_vision code .*000000000000"):
            run_tem_batch([one], out_dir=tmp_path / "refused", config=config)
        assert not list((tmp_path / "refused").glob("*_done.json"))
        monkeypatch.setattr(environment, "software_versions", real)
        result = run_tem_batch([one], out_dir=tmp_path / "out", config=config)
    assert not result.failed
    workers = json.loads((tmp_path / "out" / "run.json").read_text())["dask_workers"]
    assert workers["exo_vision_code_sha256"] == [environment.code_sha256()]
    assert len(workers["workers"]) == 1 and workers["software_differences"] == {}
