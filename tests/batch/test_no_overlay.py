"""`exo-vision tem --no-overlay`: no overlay PNGs, recorded in run.json, respected by --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tifffile

from exo_vision.batch import runner
from exo_vision.batch.config import TemBatchConfig, build_config, read_config
from exo_vision.cli.main import main
from exo_vision.synthetic.tem import make_synthetic_tem


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("in")
    for seed in range(2):
        image, _ = make_synthetic_tem(
            (384, 384), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        tifffile.imwrite(folder / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    return folder


def _run(folder: Path, out: Path, *, resume: bool = False, overlay: bool = True) -> list[str]:
    result = runner.run_tem_batch(
        [folder], out_dir=out, config=TemBatchConfig(workers=1, overlay=overlay), resume=resume
    )
    return [r["status"] for r in result.records]


def test_no_overlay_writes_the_same_results_without_the_png(folder, tmp_path):
    assert _run(folder, tmp_path / "with") == ["done", "done"]
    assert _run(folder, tmp_path / "without", overlay=False) == ["done", "done"]
    assert sorted(p.name for p in (tmp_path / "with").glob("*_overlay.png")) == ["m0_overlay.png", "m1_overlay.png"]
    assert not list((tmp_path / "without").glob("*_overlay.png"))
    for name in ("vesicles.csv", "summary.csv", "m0_vesicles.csv", "m0_labels.tif"):
        assert (tmp_path / "without" / name).read_bytes() == (tmp_path / "with" / name).read_bytes()
    run = json.loads((tmp_path / "without" / "run.json").read_text())
    assert run["parameters"]["overlay"] is False
    assert json.loads((tmp_path / "with" / "run.json").read_text())["parameters"]["overlay"] is True
    marker = json.loads((tmp_path / "without" / "m0_done.json").read_text())
    assert sorted(marker["outputs"]) == ["labels", "rejected", "vesicles"]
    # --config run.json reproduces the choice
    assert build_config(read_config(tmp_path / "without" / "run.json")).overlay is False


def test_resume_takes_a_result_without_overlay_as_complete_only_when_the_run_said_so(folder, tmp_path):
    out = tmp_path / "out"
    assert _run(folder, out, overlay=False) == ["done", "done"]
    assert _run(folder, out, overlay=False, resume=True) == ["skipped", "skipped"]
    # a run that wants overlays draws them again
    assert _run(folder, out, resume=True) == ["done", "done"]
    assert (out / "m1_overlay.png").is_file()


def test_resume_without_overlay_keeps_results_whose_overlay_was_deleted(folder, tmp_path):
    out = tmp_path / "out"
    assert _run(folder, out) == ["done", "done"]
    (out / "m0_overlay.png").unlink()  # freeing disk space
    assert _run(folder, out, overlay=False, resume=True) == ["skipped", "skipped"]
    assert (out / "m1_overlay.png").is_file()  # drawn from the same labels: kept
    assert _run(folder, out, resume=True) == ["done", "skipped"]  # with overlays again: m0 is redone


def test_a_new_analysis_without_overlay_removes_an_earlier_one(folder, tmp_path):
    out = tmp_path / "out"
    assert _run(folder, out) == ["done", "done"]
    assert _run(folder, out, overlay=False) == ["done", "done"]  # no --resume: analysed again
    assert not list(out.glob("*_overlay.png"))


def test_cli_no_overlay_and_report(folder, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["tem", "--help"])
    assert "--no-overlay" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--no-overlay"]) == 0
    assert not list(out.glob("*_overlay.png"))
    assert json.loads((out / "run.json").read_text())["parameters"]["overlay"] is False
    # --config run.json with --overlay given beside it wins
    again = tmp_path / "again"
    rc = main(["tem", str(folder), "--out", str(again), "--config", str(out / "run.json"), "--overlay"])
    assert rc == 0
    assert (again / "m0_overlay.png").is_file()
    report = tmp_path / "report.html"
    assert main(["report", "--tem", str(out), "--out", str(report)]) == 0
    page = report.read_text(encoding="utf-8")
    assert "Overlays: not provided.</b> The TEM run(s) were made with --no-overlay" in page  # said, not failed
