"""A run that cannot write (a full disk or quota) keeps the earlier complete result of a micrograph, names the
folder and the fix, and leaves no earlier run's tables to be read as its own."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

from exo_vision.batch import runner
from exo_vision.cli.main import main

SAMPLE = Path(__file__).resolve().parents[2] / "sample_images" / "tem_medium_0.8nm.tif"


def _full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/nowhere/.exo-vision-tmp-x.tif")


def test_a_rerun_on_a_full_disk_keeps_the_earlier_result_and_says_so(tmp_path, monkeypatch, caplog):
    shutil.copy(SAMPLE, tmp_path / "a.tif")
    out = tmp_path / "out"
    assert main(["tem", str(tmp_path / "a.tif"), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.glob("a_*")}
    assert set(before) == {"a_done.json", "a_labels.tif", "a_overlay.png", "a_rejected.csv", "a_vesicles.csv"}
    monkeypatch.setattr(runner, "write_image_outputs", _full)
    assert main(["tem", str(tmp_path / "a.tif"), "--out", str(out), "--sensitivity", "0.3"]) == 1
    assert {p.name: p.read_bytes() for p in out.glob("a_*")} == before  # the failed rerun cost nothing
    (error,) = json.loads((out / "run.json").read_text())["images"]
    assert error["error"] == (
        "/nowhere: no space left (the disk or your quota is full); free space there, then run the same command "
        "again (with --resume for exo-vision tem); the result of an earlier run is kept"
    )


def test_run_tables_that_cannot_be_written_are_not_left_from_the_earlier_run(tmp_path, monkeypatch, caplog):
    shutil.copy(SAMPLE, tmp_path / "a.tif")
    out = tmp_path / "out"
    assert main(["tem", str(tmp_path / "a.tif"), "--out", str(out)]) == 0
    monkeypatch.setattr(runner, "write_run_outputs", _full)
    assert main(["tem", str(tmp_path / "a.tif"), "--out", str(out), "--sensitivity", "0.3"]) == 2
    assert "The run's tables (vesicles.csv, summary.csv, run.json) could not be written" in caplog.text
    assert not any((out / name).exists() for name in runner.RUN_FILES)
    assert (out / "a_done.json").is_file()  # the micrograph's own files are complete
