"""`tem --scheduler local` keeps its Dask cluster's scratch folders in a temp folder of its own, removed when the
run ends (before, ``dask-scratch-space`` stayed in the system's temp folder), and its stop prints the
interrupted message, not Dask's worker tracebacks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import pytest
import tifffile

from exo_vision.synthetic.tem import make_synthetic_tem

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


def _inputs(folder, n):
    folder.mkdir()
    for seed in range(n):
        image, _ = make_synthetic_tem(
            (768, 768), pixel_size_nm=0.6, difficulty="easy", n_vesicles=4, scale_bar=False, rng=seed
        )
        tifffile.imwrite(
            folder / f"m{seed}.tif", image, imagej=True, resolution=(1 / 0.6, 1 / 0.6), metadata={"unit": "nm"}
        )
    return folder


def test_a_local_cluster_leaves_no_scratch_folder(tmp_path, monkeypatch):
    from exo_vision.cli.main import main

    inputs = _inputs(tmp_path / "in", 2)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where Dask puts dask-scratch-space by default
    assert main(["tem", str(inputs), "--out", str(tmp_path / "out"), "--scheduler", "local", "--workers", "1"]) == 0
    assert (tmp_path / "out" / "m1_done.json").is_file()
    left = [p.name for p in temp.iterdir() if p.name != ".ses"]  # .ses: onnxruntime's own telemetry marker
    assert left == []  # before: ['dask-scratch-space']


#: The run in a process of its own, saying when its first image is done (the cluster is then at work).
FIRST_DONE = """
import sys
from exo_vision.batch import runner
from exo_vision.cli.main import main

real = runner._gather

def announced(stream, records, warned, *, progress, total):
    def told(done, total):
        if done == 1:
            print("exo-vision-test: one done", file=sys.stderr, flush=True)
        if progress is not None:
            progress(done, total)
    return real(stream, records, warned, progress=told, total=total)

runner._gather = announced
sys.exit(main(["tem", sys.argv[1], "--out", sys.argv[2], "--scheduler", "local", "--workers", "2"]))
"""


def test_sigterm_stops_a_local_cluster_run_with_the_message_alone(tmp_path):
    inputs = _inputs(tmp_path / "in", 8)
    temp = tmp_path / "tmp"
    temp.mkdir()
    victim = subprocess.Popen(
        [sys.executable, "-c", FIRST_DONE, str(inputs), str(tmp_path / "out")],
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert victim.stderr is not None
    before = []
    for line in victim.stderr:
        before.append(line)
        if "exo-vision-test: one done" in line:
            break
    assert victim.poll() is None, "".join(before)
    victim.send_signal(signal.SIGTERM)
    stderr = "".join(before) + victim.stderr.read()
    victim.wait(timeout=120)
    assert victim.returncode == 130, stderr
    assert stderr.rstrip().endswith("rerun the same command with --resume to finish"), stderr
    for word in ("Traceback", "distributed.", "CommClosedError"):
        assert word not in stderr, stderr
    assert [p.name for p in temp.iterdir() if p.name != ".ses"] == []
