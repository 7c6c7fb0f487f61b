"""Issue 11 items 2, 3, 7, 8, 9 and parts of 10: file names, output plans, tracebacks, partial outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import tifffile

from exo_vision._shared.paths import assign_stems, check_output_plan, display_path
from exo_vision.cli.main import main
from exo_vision.synthetic.tem import make_synthetic_tem

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def write_micrograph(path: str | Path, seed: int = 0, px: float = 1.0) -> None:
    image, _ = make_synthetic_tem(
        (256, 256), pixel_size_nm=px, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
    )
    tifffile.imwrite(path, image, imagej=True, resolution=(1 / px, 1 / px), metadata={"unit": "nm"})


@pytest.fixture(scope="module")
def micrograph(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "m.tif"
    write_micrograph(path)
    return path


def latin1_name(folder: Path, name: bytes) -> Path:
    return Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))


@pytest.mark.slow
def test_item2_non_utf8_file_name_does_not_abort_the_batch(micrograph, tmp_path):
    """Regression (issue 11.2): café.tif named in latin-1 ended the run with a UnicodeEncodeError, no tables."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(micrograph, latin1_name(folder, b"caf\xe9.tif"))
    shutil.copy(micrograph, folder / "plain.tif")
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1"]) == 0
    for name in ("vesicles.csv", "summary.csv", "run.json", "errors.csv"):
        assert (out / name).is_file()
    table = pd.read_csv(out / "vesicles.csv")
    assert {"caf\ufffd", "plain"} <= set(table["image"]) or "caf\ufffd" in set(
        pd.read_csv(out / "summary.csv").iloc[:, 0]
    )
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert json.loads((out / "run.json").read_text())["n_skipped"] == 2


@pytest.mark.slow
def test_item2_info_with_strict_utf8_stdout_reports_every_file(micrograph, tmp_path):
    odd = latin1_name(tmp_path, b"caf\xe9.tif")
    shutil.copy(micrograph, odd)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    run = subprocess.run(
        [sys.executable, "-m", "exo_vision.cli.main", "info", odd, str(micrograph)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert b"Traceback" not in run.stderr
    lines = run.stdout.decode("utf-8").splitlines()
    assert len(lines) == 2 and "caf\ufffd.tif" in json.loads(lines[0])["path"]
    assert run.returncode == 0


def test_display_path_replaces_undecodable_bytes():
    assert display_path(os.fsdecode(b"/x/caf\xe9.tif")) == "/x/caf\ufffd.tif"
    assert display_path("ok é") == "ok é"


def _blot_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "blots"
    folder.mkdir()
    shutil.copy(SAMPLES / "blot_dilution.tif", folder / "cd9.tif")
    return folder


def test_item3_blot_out_on_the_input_folder_never_overwrites_an_input(tmp_path, caplog):
    """Regression (issue 11.3): the user's cd9_annotated.png was replaced and then quantified, exit 0."""
    folder = _blot_folder(tmp_path)
    precious = folder / "cd9_annotated.png"
    shutil.copy(SAMPLES / "blot_dilution.tif", precious)
    before = precious.read_bytes()
    assert main(["blot", str(folder), "--out", str(folder)]) == 2
    assert "input folder" in caplog.text
    assert main(["blot", str(folder / "cd9.tif"), str(precious), "--out", str(folder)]) == 2
    assert "would overwrite the input" in caplog.text
    assert precious.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["cd9.tif", "cd9_annotated.png"]


def test_item10_tem_out_on_the_input_folder_says_so(micrograph, tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(micrograph, folder / "a.tif")
    assert main(["tem", str(folder), "--out", str(folder)]) == 2
    assert "also an input folder" in caplog.text


@pytest.mark.slow
def test_item9_blot_inputs_with_the_same_stem_get_distinct_outputs(tmp_path):
    """Regression (issue 11.9): dup1/blot.tif and dup2/blot.tif wrote one set of outputs."""
    for name in ("dup1", "dup2"):
        (tmp_path / name).mkdir()
        shutil.copy(SAMPLES / "blot_dilution.tif", tmp_path / name / "blot.tif")
    out = tmp_path / "out"
    assert (
        main(["blot", str(tmp_path / "dup1" / "blot.tif"), str(tmp_path / "dup2" / "blot.tif"), "--out", str(out)]) == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert "dup1_blot_bands.csv" in names and "dup2_blot_bands.csv" in names
    assert assign_stems([Path("d1/a.tif"), Path("d2/a.tif")]) == ["d1_a", "d2_a"]


@pytest.mark.slow
def test_item8_long_stem_writes_all_outputs_or_none(micrograph, tmp_path):
    """Regression (issue 11.8): a 243-character stem left <stem>_labels.tif after failing at _vesicles.csv."""
    folder = tmp_path / "in"
    folder.mkdir()
    long_name = "v" * 243 + ".tif"
    shutil.copy(micrograph, folder / long_name)
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1"]) == 0
    produced = [p.name for p in out.iterdir() if p.name.startswith("vvv")]
    assert len(produced) == 5 and all(
        len(os.fsencode(n)) <= 255 for n in produced
    )  # labels, vesicles, rejected, done, overlay
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--resume"]) == 0


def test_item8_failed_image_leaves_no_partial_outputs(micrograph, tmp_path, monkeypatch):
    import exo_vision.batch.image_outputs as image_outputs

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(micrograph, folder / "a.tif")

    def broken_png(path, index, palette):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(image_outputs, "write_indexed_png", broken_png)
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1"]) == 1
    assert not [p for p in out.iterdir() if p.name.startswith("a_") or p.name.startswith(".exo-vision-tmp")]


def test_item8_blot_failure_leaves_no_bands_csv(tmp_path, monkeypatch):
    import exo_vision.cli.blot as blot_cli

    folder = _blot_folder(tmp_path)

    def broken(tmp, rgb):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(blot_cli, "_png_writer", broken)
    out = tmp_path / "out"
    assert main(["blot", str(folder), "--out", str(out)]) == 1
    assert not list(out.glob("cd9_*"))
    assert json.loads((out / "run.json").read_text())["errors"]


def test_item7_251_character_input_name_is_analysed(micrograph, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(micrograph, folder / ("n" * 251 + ".tif"))
    assert main(["tem", str(folder), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0


def test_item7_unwritable_out_is_a_message(micrograph, tmp_path, caplog, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    out = blocker / "sub"  # cannot be created: its parent is a file
    assert main(["tem", str(micrograph), "--out", str(out)]) == 2
    assert main(["blot", str(SAMPLES / "blot_dilution.tif"), "--out", str(out)]) == 2
    assert main(["blot", str(SAMPLES / "blot_dilution.tif"), "--out", str(blocker)]) == 2
    assert "not a folder" in caplog.text
    assert main(["histogram", str(micrograph), "--out", str(out / "h.svg")]) == 2
    assert main(["report", "--out", str(out / "r.html")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_item7_unwritable_out_folder_is_a_message(micrograph, tmp_path, caplog, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(kwargs.get("dir", "")))

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert main(["tem", str(micrograph), "--out", str(tmp_path / "o1")]) == 2
    assert main(["blot", str(SAMPLES / "blot_dilution.tif"), "--out", str(tmp_path / "o2")]) == 2
    assert caplog.text.count("cannot write in the output folder") == 2


def test_item7_unreadable_blot_folder_and_panel_are_messages(tmp_path, caplog, monkeypatch):
    folder = _blot_folder(tmp_path)
    panel = tmp_path / "panel.toml"
    panel.write_text('lane_names = ["a"]\n[[marker]]\nname = "CD9"\nimage = "blots/cd9.tif"\n')
    real_iterdir, real_read_bytes = Path.iterdir, Path.read_bytes

    def iterdir(self):
        if self == folder:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    def read_bytes(self):
        if self == panel:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert main(["blot", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert main(["blot", "--panel", str(panel), "--out", str(tmp_path / "o")]) == 2
    assert caplog.text.count("Permission denied") >= 2


def test_item7_numeric_limits_are_usage_errors(micrograph, tmp_path, caplog):
    out = tmp_path / "out"
    assert main(["tem", str(micrograph), "--out", str(out), "--bin-width-nm", "1e-9"]) == 2
    assert "bin" in caplog.text
    assert not out.exists()
    assert main(["blot", str(SAMPLES / "blot_dilution.tif"), "--out", str(out), "--rolling-ball-radius-px", "1e9"]) == 2
    assert "rolling-ball-radius-px" in caplog.text
    table = tmp_path / "t.csv"
    table.write_text("equivalent_diameter_nm,touches_border\n50,False\n80,False\n")
    assert main(["histogram", str(table), "--out", str(tmp_path / "h.svg"), "--bin-width-nm", "1e-9"]) == 2


@pytest.mark.slow
def test_item7_unreachable_scheduler_is_a_message(micrograph, tmp_path, caplog):
    assert main(["tem", str(micrograph), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "cannot reach the Dask scheduler" in caplog.text


def test_item10_blot_without_images_is_an_error(tmp_path, caplog):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["blot", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no images found" in caplog.text


@pytest.mark.slow
def test_item10_recursive_rerun_skips_earlier_outputs(micrograph, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(micrograph, folder / "a.tif")
    assert main(["tem", str(folder), "--out", str(tmp_path / "r1"), "--workers", "1"]) == 0
    shutil.copytree(tmp_path / "r1", folder / "old_results")
    assert main(["tem", str(folder), "--recursive", "--out", str(tmp_path / "r2"), "--workers", "1"]) == 0
    assert json.loads((tmp_path / "r2" / "run.json").read_text())["n_inputs"] == 1


def test_item10_symlink_loop_is_named(tmp_path, caplog):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert main(["tem", str(loop), "--out", str(tmp_path / "o")]) == 2
    assert "symbolic link" in caplog.text


def test_output_plan_refuses_collisions(tmp_path):
    with pytest.raises(ValueError, match="two outputs"):
        check_output_plan(out_dir=tmp_path, inputs=[], outputs=["a.csv", "A.csv"])


def test_item7_unwritable_figure_and_report_are_messages(micrograph, tmp_path, caplog, monkeypatch):
    import tempfile

    table = tmp_path / "t.csv"
    table.write_text("equivalent_diameter_nm,touches_border\n50,False\n80,False\n")
    assert main(["tem", str(micrograph), "--out", str(tmp_path / "tem"), "--workers", "1"]) == 0

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(kwargs.get("dir", "")))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main(["histogram", str(table), "--out", str(tmp_path / "h.svg")]) == 2
    assert main(["report", "--tem", str(tmp_path / "tem"), "--out", str(tmp_path / "r.html")]) == 2
    assert caplog.text.count("Permission denied") == 2


def test_item10_workers_capped_at_the_cores(micrograph, tmp_path, caplog):
    """Regression (issue 11.10): --workers 1000 started one process per input."""
    assert main(["tem", str(micrograph), "--out", str(tmp_path / "o"), "--workers", "1000"]) == 0
    assert "more than the" in caplog.text and "core(s) available" in caplog.text
