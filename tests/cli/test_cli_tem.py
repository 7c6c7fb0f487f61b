"""`exo-vision tem` on a small folder of generated micrographs with one corrupt file."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.io import read_image
from exo_vision.measure.size_stats import STATISTICS_KEYS
from exo_vision.measure.vesicles import VESICLE_COLUMNS
from exo_vision.synthetic.tem import make_synthetic_tem

GOOD = ("grid_a", "grid_b", "grid_c")
PER_IMAGE = ("_labels.tif", "_vesicles.csv", "_overlay.png", "_done.json")
RUN_FILES = ("vesicles.csv", "summary.csv", "size_histogram.png", "size_histogram.svg", "run.json", "errors.csv")


def write_micrograph(path: Path, seed: int, *, px: float = 1.0, shape=(512, 512)) -> None:
    image, _ = make_synthetic_tem(shape, pixel_size_nm=px, difficulty="easy", n_vesicles=5, scale_bar=False, rng=seed)
    tifffile.imwrite(path, image, imagej=True, resolution=(1 / px, 1 / px), metadata={"unit": "nm"})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("micrographs")
    for seed, name in enumerate(GOOD):
        write_micrograph(folder / f"{name}.tif", seed)
    (folder / "broken.tif").write_bytes(b"II*\x00 this is not really a TIFF")
    (folder / "notes.txt").write_text("not an image: ignored when scanning the folder")
    return folder


def _two_good(inputs: Path, tmp_path: Path) -> Path:
    """A folder holding copies of the first two good micrographs."""
    single = tmp_path / "in"
    single.mkdir()
    for name in GOOD[:2]:
        shutil.copy(inputs / f"{name}.tif", single)
    return single


@pytest.fixture(scope="module")
def first_run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    rc = main(["tem", str(inputs), "--out", str(out), "--workers", "1"])
    return rc, out


def test_run_completes_and_names_the_corrupt_file(first_run):
    rc, out = first_run
    assert rc == 1
    errors = pd.read_csv(out / "errors.csv")
    assert list(errors.columns) == ["input", "stem", "error"]
    assert len(errors) == 1
    assert errors["input"].iloc[0].endswith("broken.tif")
    assert "broken.tif" in errors["error"].iloc[0]
    assert not errors["error"].iloc[0].startswith(("ImageReadError", "ValueError"))  # the message, not the class
    for name in GOOD:
        for suffix in PER_IMAGE:
            assert (out / f"{name}{suffix}").is_file(), name + suffix
    assert not list(out.glob("broken_*"))
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert not list(out.glob(".exo-vision-tmp-*"))


def test_labels_tif_is_calibrated_and_matches_the_table(first_run, inputs):
    _, out = first_run
    pooled = pd.read_csv(out / "vesicles.csv")
    total = 0
    for name in GOOD:
        with tifffile.TiffFile(out / f"{name}_labels.tif") as tif:
            labels = tif.asarray()
            assert tif.imagej_metadata["unit"] == "nm"
        assert labels.shape == (512, 512)
        assert labels.dtype == np.uint16
        # Our own reader sees 1 nm/px from the ImageJ tags.
        assert read_image(out / f"{name}_labels.tif").pixel_size_nm == pytest.approx(1.0)
        table = pd.read_csv(out / f"{name}_vesicles.csv")
        assert list(table.columns) == list(VESICLE_COLUMNS)
        ids = np.unique(labels)
        assert sorted(table["label"]) == ids[ids > 0].tolist()
        assert len(table) > 0
        assert (table["pixel_size_source"].str.startswith("file metadata")).all()
        assert (pooled["image"] == name).sum() == len(table)
        total += len(table)
    assert len(pooled) == total
    assert list(pooled.columns) == ["image", *VESICLE_COLUMNS, "source_file"]


def test_summary_run_json_and_histogram(first_run, inputs):
    _, out = first_run
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == [
        "image",
        *STATISTICS_KEYS,
        "pixel_size_nm",
        "pixel_size_source",
        "n_split_groups",
        "n_warnings",
        "warnings",
        "duplicate_of",
        "source_file",
    ]
    assert summary["image"].tolist() == [*GOOD, "pooled"]
    assert [Path(f).name for f in summary["source_file"].iloc[:-1]] == [f"{g}.tif" for g in GOOD]
    assert pd.isna(summary["source_file"].iloc[-1])  # the pooled row measured every file
    assert summary["n"].iloc[-1] == summary["n"].iloc[:-1].sum()
    pooled = pd.read_csv(out / "vesicles.csv")
    inside = pooled[~pooled["touches_border"]]
    assert summary["mean_diameter_nm"].iloc[-1] == pytest.approx(inside["equivalent_diameter_nm"].mean())
    assert summary["analysed_area_um2"].iloc[-1] == pytest.approx(3 * 0.512 * 0.512)

    run = json.loads((out / "run.json").read_text())
    assert run["exo_vision_version"]
    assert run["parameters"]["min_diameter_nm"] == 20.0
    assert run["n_inputs"] == 4 and run["n_failed"] == 1 and run["n_done"] == 3
    assert run["software"]["onnxruntime"]
    assert run["machine"]["architecture"] == platform.machine()  # the kernels onnxruntime ran depend on it
    from exo_vision.segmentation.learned.weights import load_card

    card = load_card()
    assert run["parameters"]["method"] == "unet" and run["parameters"]["model"] is None
    for image in run["images"]:
        if image.get("status") == "done":
            assert image["segmenter"] == {"method": "unet", "model": card.summary()}
            marker = json.loads((out / f"{image['stem']}_done.json").read_text())
            assert marker["parameters"]["model_sha256"] == card.sha256  # --resume compares it
    # the test venv is installed from requirements/lock.txt (README, .ci/run): the run says so
    # (scripts/check_latest.sh runs the suite on unlocked versions and sets EXO_VISION_UNLOCKED=1)
    expected = os.environ.get("EXO_VISION_UNLOCKED") != "1"
    assert run["environment_lock"]["locked"] is expected, run["environment_lock"]["differences"]
    by_stem = {im["stem"]: im for im in run["images"]}
    for name in GOOD:
        entry = by_stem[name]
        assert entry["input_sha256"] == hashlib.sha256((inputs / f"{name}.tif").read_bytes()).hexdigest()
        assert entry["pixel_size_source"].startswith("file metadata")
        assert entry["timings"]["total_s"] > 0
        rejected = entry["rejected_by_reason"]  # the candidates left out, by reason (no other file lists them)
        assert isinstance(rejected, dict) and all(isinstance(n, int) and n > 0 for n in rejected.values())
    assert "error" in by_stem["broken"]

    from PIL import Image

    png = Image.open(out / "size_histogram.png")
    assert round(png.info["dpi"][0]) == 300
    ET.fromstring((out / "size_histogram.svg").read_text())


def test_resume_redoes_nothing(first_run, inputs):
    rc, out = first_run
    watched = [out / f"{name}{suffix}" for name in GOOD for suffix in PER_IMAGE]
    watched += [out / name for name in ("vesicles.csv", "summary.csv", "errors.csv", "size_histogram.png")]
    before = {p: p.stat().st_mtime_ns for p in watched}
    assert main(["tem", str(inputs), "--out", str(out), "--workers", "1", "--resume"]) == 1
    assert {p: p.stat().st_mtime_ns for p in watched} == before
    run = json.loads((out / "run.json").read_text())
    assert run["n_skipped"] == 3 and run["n_done"] == 0 and run["n_failed"] == 1


@pytest.mark.slow
def test_resume_redoes_only_what_is_incomplete(inputs, tmp_path):
    out = tmp_path / "out"
    single = _two_good(inputs, tmp_path)
    assert main(["tem", str(single), "--out", str(out), "--workers", "1"]) == 0
    keep = (out / f"{GOOD[0]}_vesicles.csv").stat().st_mtime_ns
    reference = (out / f"{GOOD[1]}_vesicles.csv").read_bytes()
    # A half-finished image: its overlay is missing (as after a crash before the marker).
    (out / f"{GOOD[1]}_overlay.png").unlink()
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert (out / f"{GOOD[0]}_vesicles.csv").stat().st_mtime_ns == keep
    assert (out / f"{GOOD[1]}_overlay.png").is_file()
    assert (out / f"{GOOD[1]}_vesicles.csv").read_bytes() == reference
    # Other parameters: the earlier results no longer count.
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--resume", "--min-diameter-nm", "25"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["n_done"] == 2 and run["parameters"]["min_diameter_nm"] == 25.0


@pytest.mark.slow
def test_method_and_model_options(inputs, tmp_path, caplog):
    single = tmp_path / "in"
    single.mkdir()
    shutil.copy(inputs / f"{GOOD[0]}.tif", single)
    out = tmp_path / "classical"
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--method", "classical"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["parameters"]["method"] == "classical"
    assert run["images"][0]["segmenter"] == {"method": "classical", "model": None}
    # the same output folder with the other method re-analyses instead of trusting the old results
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert json.loads((out / "run.json").read_text())["n_done"] == 1
    # a model file is honoured and recorded; a missing one is an error that names it
    from exo_vision.segmentation.learned.weights import load_card

    copy = tmp_path / "lab_model"
    copy.mkdir()
    card = load_card()
    shutil.copy(card.onnx_path, copy / card.onnx_path.name)
    shutil.copy(card.card_path, copy / card.card_path.name)
    out2 = tmp_path / "model"
    model = copy / card.onnx_path.name
    assert main(["tem", str(single), "--out", str(out2), "--workers", "1", "--model", str(model)]) == 0
    image = json.loads((out2 / "run.json").read_text())["images"][0]
    assert image["segmenter"]["model"]["file"] == str(model) and image["segmenter"]["model"]["sha256"] == card.sha256
    caplog.clear()
    assert main(["tem", str(single), "--out", str(tmp_path / "o3"), "--model", str(tmp_path / "none.onnx")]) == 2
    assert "none.onnx does not exist; pass the path of a .onnx" in caplog.text
    assert (
        main(["tem", str(single), "--out", str(tmp_path / "o4"), "--method", "classical", "--model", str(model)]) == 2
    )


@pytest.mark.slow
def test_subprocess_with_two_workers_matches_the_in_process_run(first_run, inputs, tmp_path):
    _, reference = first_run
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "exo_vision.cli.main", "tem", str(inputs), "--out", str(out), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "4 input(s): 3 analysed, 0 already complete, 1 failed" in proc.stdout
    assert "broken.tif" in proc.stderr
    # stderr is no terminal here (a log file, a cluster job): plain progress lines instead of a bar
    assert "INFO: 0 of 4 input(s) done" in proc.stderr and "INFO: 4 of 4 input(s) done" in proc.stderr
    for name in ("vesicles.csv", "summary.csv", "errors.csv", *(f"{g}_vesicles.csv" for g in GOOD)):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    for name in GOOD:
        a = tifffile.imread(out / f"{name}_labels.tif")
        assert np.array_equal(a, tifffile.imread(reference / f"{name}_labels.tif"))


@pytest.mark.slow
def test_stem_collisions_and_output_inside_the_inputs(inputs, tmp_path):
    for grid in ("g1", "g2"):
        (tmp_path / "data" / grid).mkdir(parents=True)
        shutil.copy(inputs / "grid_a.tif", tmp_path / "data" / grid / "img.tif")
    out = tmp_path / "data" / "results"
    args = ["tem", str(tmp_path / "data"), "--recursive", "--out", str(out), "--workers", "1"]
    assert main(args) == 0
    assert (out / "g1_img_labels.tif").is_file() and (out / "g2_img_labels.tif").is_file()
    summary = pd.read_csv(out / "summary.csv")
    sources = dict(zip(summary["image"], summary["source_file"].fillna(""), strict=True))
    assert Path(sources["g1_img"]).parent.name == "g1" and Path(sources["g2_img"]).parent.name == "g2"
    # A second run must not take its own outputs (inside the input folder) as inputs.
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["n_inputs"] == 2


def test_a_link_to_a_missing_file_in_a_folder_is_reported_not_skipped(inputs, tmp_path):
    """Before, a dangling link (a moved share, a deleted target) vanished from the batch without a trace."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(inputs / "grid_a.tif", folder / "a.tif")
    (folder / "gone.tif").symlink_to(tmp_path / "nowhere" / "gone.tif")
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1"]) == 1
    errors = pd.read_csv(out / "errors.csv")
    assert errors["input"].tolist() == [str(folder / "gone.tif")]
    assert (
        "a symbolic link to" in errors["error"].iloc[0] and "restore the file it points to" in errors["error"].iloc[0]
    )
    assert (out / "a_done.json").is_file()


def test_refuses_to_overwrite_an_input_and_bad_options(inputs, tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(inputs / "grid_a.tif", folder / "a.tif")
    victim = folder / "a_overlay.png"
    victim.write_bytes(b"precious")
    rc = main(["tem", str(folder / "a.tif"), str(victim), "--out", str(folder), "--workers", "1"])
    assert rc == 2
    assert "would overwrite the input" in caplog.text
    assert victim.read_bytes() == b"precious"
    assert main(["tem", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in caplog.text
    assert main(["tem", str(folder), "--out", str(tmp_path / "o"), "--min-diameter-nm", "600"]) == 2
    assert "min_diameter_nm" in caplog.text


def test_uncalibrated_input_fails_with_the_fix_and_override_works(tmp_path):
    image, _ = make_synthetic_tem(
        (384, 384), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=5
    )
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "plain.tif", image)  # no calibration at all
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--no-scale-bar"]) == 1
    reason = pd.read_csv(out / "errors.csv")["error"].iloc[0]
    assert "pixel size" in reason and "--pixel-size-nm" in reason
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--pixel-size-nm", "1.0"]) == 0
    assert pd.read_csv(out / "errors.csv").empty
    table = pd.read_csv(out / "plain_vesicles.csv")
    assert (table["pixel_size_source"] == "user").all()


def test_save_rois_writes_an_imagej_roi_set_per_image_with_the_table_ids(inputs, tmp_path):
    import zipfile

    from exo_vision.annotations import read_imagej_rois

    single = tmp_path / "in"
    single.mkdir()
    shutil.copy(inputs / f"{GOOD[0]}.tif", single)
    out = tmp_path / "out"
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--save-rois"]) == 0
    stem = GOOD[0]
    table = pd.read_csv(out / f"{stem}_vesicles.csv")
    with zipfile.ZipFile(out / f"{stem}_rois.zip") as archive:
        assert sorted(int(n[:-4]) for n in archive.namelist()) == sorted(table["label"])
    labels = tifffile.imread(out / f"{stem}_labels.tif")
    back = read_imagej_rois(out / f"{stem}_rois.zip", labels.shape)
    assert back.table["name"].astype(int).tolist() == sorted(table["label"])
    marker = json.loads((out / f"{stem}_done.json").read_text())
    assert set(marker["outputs"]) == {"labels", "vesicles", "rejected", "overlay", "rois"}
    assert marker["parameters"]["save_rois"] is True
    # --resume with the same options trusts the result; without --save-rois the parameters differ
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--save-rois", "--resume"]) == 0
    assert json.loads((out / "run.json").read_text())["n_skipped"] == 1
    # a run without the option records what it always did (no save_rois key) and writes no ROI set
    plain = tmp_path / "plain"
    assert main(["tem", str(single), "--out", str(plain), "--workers", "1"]) == 0
    assert "save_rois" not in json.loads((plain / f"{stem}_done.json").read_text())["parameters"]
    assert not (plain / f"{stem}_rois.zip").exists()
    # re-analysed in the same folder without the option: the old ROI set (other ids) goes
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--min-diameter-nm", "60"]) == 0
    assert not (out / f"{stem}_rois.zip").exists()


def test_a_coarse_micrograph_is_analysed_with_a_warning_on_screen_and_in_run_json(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in (1, 2):
        image, _ = make_synthetic_tem((384, 384), pixel_size_nm=3.0, difficulty="easy", scale_bar=False, rng=5 + k)
        tifffile.imwrite(folder / f"coarse{k}.tif", image)
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--pixel-size-nm", "3.0"]) == 0
    for record in json.loads((out / "run.json").read_text())["images"]:
        assert record["status"] == "done" and len(record["warnings"]) == 1
        assert "coarser than 2.31 nm/px" in record["warnings"][0]
    # printed once with the first micrograph's name, then counted over the run
    assert caplog.text.count("is coarser than 2.31 nm/px") == 2
    assert "coarse1.tif: pixel size 3 nm/px is coarser than 2.31 nm/px" in caplog.text
    assert "2 images in all gave the warning 'pixel size 3 nm/px is coarser than 2.31 nm/px' (run.json lists them)" in (
        caplog.text
    )
    caplog.clear()
    assert main(["tem", str(folder), "--out", str(tmp_path / "fine"), "--workers", "1", "--pixel-size-nm", "2.0"]) == 0
    assert json.loads((tmp_path / "fine" / "run.json").read_text())["images"][0]["warnings"] == []
    assert "coarser" not in caplog.text


def test_label_images_beside_the_micrographs_are_refused_not_pooled(tmp_path):
    """A folder of annotated micrographs: the label image fails with the fix; only the micrograph is measured."""
    folder = tmp_path / "annotated"
    folder.mkdir()
    image, truth = make_synthetic_tem(
        (512, 512), pixel_size_nm=1.0, difficulty="easy", n_vesicles=5, scale_bar=False, rng=3
    )
    tifffile.imwrite(folder / "grid_a_image.tif", image, imagej=True, resolution=(1, 1), metadata={"unit": "nm"})
    tifffile.imwrite(folder / "grid_a_labels.tif", truth.labels.astype(np.uint16))
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--pixel-size-nm", "1"]) == 1
    errors = pd.read_csv(out / "errors.csv")
    assert errors["input"].tolist() == [str(folder / "grid_a_labels.tif")]
    assert "looks like a label image or mask" in errors["error"].iloc[0]
    assert pd.read_csv(out / "vesicles.csv")["image"].unique().tolist() == ["grid_a_image"]


@pytest.mark.slow
def test_resume_redoes_an_image_when_the_model_card_changes_under_the_same_path(inputs, tmp_path):
    """Variants share their weights (one sha256): the card's version and settings must count too."""
    single = tmp_path / "in"
    single.mkdir()
    shutil.copy(inputs / f"{GOOD[0]}.tif", single)
    model = tmp_path / "m" / "m.onnx"
    assert main(["model", "--join-cups", "--out", str(model)]) == 0
    out = tmp_path / "out"
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--model", str(model)]) == 0
    other = tmp_path / "m2" / "m.onnx"
    assert main(["model", "--invert-dark", "--out", str(other)]) == 0
    for path in other.parent.iterdir():  # the new card, and its copies of the weights, at the old path
        shutil.copy(path, model.parent / path.name)
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--model", str(model), "--resume"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["n_done"] == 1 and run["n_skipped"] == 0
    assert run["images"][0]["segmenter"]["model"]["version"].endswith("+invert_dark")


def test_run_json_records_the_command_with_every_option(inputs, tmp_path):
    single = tmp_path / "in"
    single.mkdir()
    shutil.copy(inputs / f"{GOOD[0]}.tif", single)
    out = tmp_path / "out"
    argv = ["tem", str(single), "--out", str(out), "--workers", "1", "--min-diameter-nm", "25", "--sensitivity", "0.6"]
    assert main(argv) == 0
    assert json.loads((out / "run.json").read_text())["command"] == ["exo-vision", *argv]


def test_a_relative_model_path_is_recorded_whole_and_a_missing_one_is_named(inputs, tmp_path, caplog, monkeypatch):
    single = tmp_path / "in"
    single.mkdir()
    shutil.copy(inputs / f"{GOOD[0]}.tif", single)
    monkeypatch.chdir(tmp_path)
    assert main(["model", "--join-cups", "--out", "models/cups.onnx"]) == 0
    assert main(["tem", "in", "--out", "out", "--workers", "1", "--model", "models/cups.onnx"]) == 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["parameters"]["model"] == str(tmp_path / "models" / "cups.onnx")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the run reproduced from another folder
    config = str(tmp_path / "out" / "run.json")
    assert main(["tem", str(single), "--out", "again", "--workers", "1", "--config", config]) == 0
    assert main(["tem", str(single), "--out", "typo", "--workers", "1", "--model", "models/cupz.onnx"]) == 2
    assert f"model file {elsewhere / 'models' / 'cupz.onnx'} does not exist; pass the path of a .onnx" in caplog.text
    assert "reinstall" not in caplog.text


def test_messages_name_the_config_file_and_a_folder_in_the_way(inputs, tmp_path, caplog):
    single = tmp_path / "in"
    single.mkdir()
    shutil.copy(inputs / f"{GOOD[0]}.tif", single)
    config = tmp_path / "lab.toml"
    config.write_text("[tem]\nmin_diameter_nm = 200\nmax_diameter_nm = 100\n")
    assert main(["tem", str(single), "--out", str(tmp_path / "o1"), "--config", str(config)]) == 2
    assert f"got 200 and 100 (the values come from {config} and the command line" in caplog.text
    (tmp_path / "o2" / "summary.csv").mkdir(parents=True)
    assert main(["tem", str(single), "--out", str(tmp_path / "o2"), "--workers", "1"]) == 2
    assert f"{tmp_path / 'o2' / 'summary.csv'} is a folder where the run writes a file" in caplog.text
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["summary.csv"]  # nothing half-written


def test_switches_a_config_turns_on_can_be_turned_off_on_the_command_line(tmp_path):
    from exo_vision.batch.config import build_config, read_config
    from exo_vision.cli.main import build_parser
    from exo_vision.cli.tem import _command_line_values

    config = tmp_path / "lab.toml"
    config.write_text("[tem]\nexclude_border = false\nscale_bar = false\nrecursive = true\nsave_rois = true\n")
    argv = ["tem", "x", "--out", "o", "--exclude-border", "--scale-bar", "--no-recursive", "--no-save-rois"]
    merged = build_config(read_config(config), _command_line_values(build_parser().parse_args(argv)))
    assert (merged.exclude_border, merged.scale_bar, merged.recursive, merged.save_rois) == (True, True, False, False)
    unset = build_config(read_config(config), _command_line_values(build_parser().parse_args(argv[:4])))
    assert (unset.exclude_border, unset.scale_bar, unset.recursive, unset.save_rois) == (False, False, True, True)


def test_a_run_json_whose_model_is_no_longer_there_is_not_reproduced_silently(tmp_path, caplog):
    """--config run.json took the parameters but not the model checksum it records: another model at the path
    gave other vesicles, exit 0."""
    import shutil

    sample = Path(__file__).resolve().parents[2] / "sample_images" / "tem_medium_0.8nm.tif"
    shutil.copy(sample, tmp_path / "a.tif")
    first = tmp_path / "first"
    assert main(["tem", str(tmp_path / "a.tif"), "--out", str(first)]) == 0
    assert (
        main(["tem", str(tmp_path / "a.tif"), "--out", str(tmp_path / "again"), "--config", str(first / "run.json")])
        == 0
    )
    run = json.loads((first / "run.json").read_text())
    run["images"][0]["segmenter"]["model"]["sha256"] = "0" * 64  # as if made with another model
    (tmp_path / "other.json").write_text(json.dumps(run))
    out = tmp_path / "other"
    assert main(["tem", str(tmp_path / "a.tif"), "--out", str(out), "--config", str(tmp_path / "other.json")]) == 2
    assert "that run segmented with ev-unet" in caplog.text and "(sha256 000000000000...)" in caplog.text
    assert not out.exists()


def test_run_json_records_the_scale_bar_reading_and_the_ocr_program(tmp_path):
    """A pixel size read from a burnt-in scale bar rests on tesseract, a system package the lock cannot pin:
    neither its version nor the reading was recorded."""
    import shutil

    from exo_vision.environment import tesseract_version

    sample = Path(__file__).resolve().parents[2] / "sample_images" / "hrml_ev_negative_stain.jpg"
    shutil.copy(sample, tmp_path / "hrml.jpg")
    out = tmp_path / "out"
    assert main(["tem", str(tmp_path / "hrml.jpg"), "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    (image,) = run["images"]
    assert image["pixel_size_source"] == "scale bar" and image["scale_bar"]["status"] == "ok"
    assert image["scale_bar"]["length_nm"] == 500.0 and image["scale_bar"]["label_text"]
    assert run["software"]["tesseract"] == tesseract_version() is not None
    assert run["working_directory"] == str(Path.cwd())  # where its relative paths lead


def test_a_micrograph_named_like_a_formula_is_no_formula_in_the_tables_and_keeps_its_name(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_micrograph(folder / "=1+1.tif", 0, shape=(256, 256))
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1"]) == 0
    for name in ("summary.csv", "vesicles.csv"):
        cells = pd.read_csv(out / name, dtype=str)["image"]
        assert set(cells) - {"pooled"} == {"'=1+1"}, name
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert set(pd.read_csv(out / "vesicles.csv", dtype=str)["image"]) == {"'=1+1"}
    report = tmp_path / "report.html"
    assert main(["report", "--tem", str(out), "--out", str(report)]) == 0
    assert "=1+1" in report.read_text() and "&#x27;=1+1" not in report.read_text()


def test_resume_redoes_a_result_made_by_other_code_and_keeps_a_curated_one_saying_so(inputs, tmp_path, caplog):
    # an upgrade that changes a measurement under the same parameters: the marker's code fingerprint differs
    single = _two_good(inputs, tmp_path)
    out = tmp_path / "out"
    assert main(["tem", str(single), "--out", str(out), "--workers", "1"]) == 0
    for name, curated in zip(GOOD[:2], (False, True), strict=True):
        path = out / f"{name}_done.json"
        marker = json.loads(path.read_text())
        assert marker["code_sha256"] == json.loads((out / "run.json").read_text())["software"]["exo_vision_code_sha256"]
        marker.update(code_sha256="0" * 64, curated_in_gui=curated)
        path.write_text(json.dumps(marker))
    with caplog.at_level("WARNING"):
        assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--resume"]) == 0
    run = json.loads((out / "run.json").read_text())
    status = {r["stem"]: r["status"] for r in run["images"]}
    assert status == {GOOD[0]: "done", GOOD[1]: "skipped"}
    assert not [r for r in run["images"] if "code_sha256" in r]  # skipped and done records alike
    assert "made by another version of exo_vision" in caplog.text and GOOD[1] in caplog.text


def test_a_run_stopped_half_way_leaves_no_run_json_vouching_for_the_folder(inputs, tmp_path, monkeypatch, caplog):
    import exo_vision.batch.runner as runner

    single = _two_good(inputs, tmp_path)
    out = tmp_path / "out"
    assert main(["tem", str(single), "--out", str(out), "--workers", "1"]) == 0
    real = runner.analyse_micrograph
    calls = []

    def stopped_at_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "analyse_micrograph", stopped_at_the_second)
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--min-diameter-nm", "40"]) == 130
    assert not (out / "run.json").exists()  # one image is of the new settings, the other of the old
    caplog.clear()
    assert main(["report", "--tem", str(out), "--out", str(tmp_path / "r.html")]) == 2
    assert "no run.json, so a run into it did not finish" in caplog.text and "--resume" in caplog.text
    monkeypatch.setattr(runner, "analyse_micrograph", real)
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--min-diameter-nm", "40", "--resume"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert [r["status"] for r in run["images"]] == ["skipped", "done"]


def test_an_image_a_run_died_in_goes_last_and_twice_is_left_out_saying_why(inputs, tmp_path, monkeypatch):
    # the operating system ends a process that takes more memory than the machine has, without a word to it:
    # the count the run keeps while it analyses an image is what tells the next run
    import exo_vision.batch.runner as runner

    single = _two_good(inputs, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    counts = out / runner.DEATHS_FILE
    counts.write_text(json.dumps({GOOD[0]: 1}))  # a run died once in the first image
    order, real = [], runner.process_image

    def noting(job):
        order.append((job.stem, json.loads(counts.read_text())))
        return real(job)

    monkeypatch.setattr(runner, "process_image", noting)
    assert main(["tem", str(single), "--out", str(out), "--workers", "1"]) == 0
    assert order == [(GOOD[1], {GOOD[0]: 1, GOOD[1]: 1}), (GOOD[0], {GOOD[0]: 2})]  # the suspect last
    assert not counts.exists()  # both done: nothing left to remember
    counts.write_text(json.dumps({GOOD[1]: 2}))  # twice in the second
    assert main(["tem", str(single), "--out", str(out), "--workers", "1"]) == 1
    (record,) = [r for r in json.loads((out / "run.json").read_text())["images"] if r["status"] == "failed"]
    assert record["stem"] == GOOD[1] and "more memory than this machine has" in record["error"]
    assert f"remove '{GOOD[1]}' from {counts}" in record["error"]
    # resumed with no result of it (the runs died in it): not counted as complete, but as left out
    import logging

    (out / f"{GOOD[1]}_done.json").unlink()
    with caplog_records(logging.INFO) as seen:
        main(["tem", str(single), "--out", str(out), "--workers", "1", "--resume"])
    assert any("resume: 1 of 2 input(s) already complete, 0 to do, 1 left out" in m for m in seen)


def test_workers_that_cannot_start_are_said_with_the_fix(inputs, tmp_path, monkeypatch, caplog):
    import exo_vision.batch.runner as runner

    def stopped(pending, workers):
        raise EOFError  # the fork server the workers start from was killed
        yield

    monkeypatch.setattr(runner, "_pool_rounds", stopped)
    monkeypatch.setattr(runner, "default_workers", lambda: 2)
    assert main(["tem", str(_two_good(inputs, tmp_path)), "--out", str(tmp_path / "out"), "--workers", "2"]) == 2
    assert "worker processes could not be started" in caplog.text and "--resume" in caplog.text
    assert "unexpected error" not in caplog.text


def test_a_long_micrograph_without_a_bar_gets_lines_that_it_is_still_running(inputs, tmp_path, monkeypatch, caplog):
    import time

    import exo_vision.batch.runner as runner
    import exo_vision.cli.tem as cli_tem

    real = runner.analyse_micrograph

    def slow(*args, **kwargs):
        time.sleep(0.8)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "analyse_micrograph", slow)
    monkeypatch.setattr(cli_tem, "PLAIN_PROGRESS_INTERVAL_S", 0.3)
    with caplog.at_level("INFO"):
        assert main(["tem", str(_two_good(inputs, tmp_path)), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    beats = [r.getMessage() for r in caplog.records if "still analysing" in r.getMessage()]
    assert beats and beats[0].startswith("0 of 2 input(s) done")
    assert any(b.startswith("1 of 2 input(s) done") and "s left at this pace" in b for b in beats)


class caplog_records:  # noqa: N801 - used as a context manager like pytest's caplog, in a test that has none
    """Collect the messages logged by exo_vision at ``level`` and above inside a with block."""

    def __init__(self, level: int) -> None:
        self.level, self.messages = level, []

    def __enter__(self) -> list[str]:
        import logging

        self.handler = logging.Handler(self.level)
        self.handler.emit = lambda record: self.messages.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("exo_vision").addHandler(self.handler)
        return self.messages

    def __exit__(self, *exc) -> None:
        import logging

        logging.getLogger("exo_vision").removeHandler(self.handler)


def test_a_folder_with_a_tiff_a_gif_and_a_webp_analyses_all_three(tmp_path, capsys):
    # the GIF and the WebP, which the reader reads as it reads PNG, vanished from a folder scan without a word:
    # "1 input(s): 1 analysed"
    from PIL import Image

    image, _ = make_synthetic_tem((256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, rng=2)
    grey = (image / image.max() * 255).astype(np.uint8)
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", grey)
    Image.fromarray(grey).save(folder / "b.gif")
    Image.fromarray(grey).save(folder / "c.webp", lossless=True)
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--pixel-size-nm", "1", "--workers", "1"]) == 0
    assert "3 input(s): 3 analysed" in capsys.readouterr().out
    assert sorted(pd.read_csv(out / "summary.csv")["image"]) == ["a", "b", "c", "pooled"]


def _mixed_folder(tmp_path: Path) -> Path:
    """A TIFF calibrated at 0.8 nm/px beside a TIFF with no calibration at all."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_micrograph(folder / "own.tif", 1, px=0.8)
    image, _ = make_synthetic_tem(
        (384, 384), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=5
    )
    tifffile.imwrite(folder / "plain.tif", image)
    return folder


def test_a_pixel_size_for_the_uncalibrated_files_only_leaves_the_calibrated_ones_theirs(tmp_path):
    folder = _mixed_folder(tmp_path)
    out = tmp_path / "out"
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--no-scale-bar"]) == 1
    reason = pd.read_csv(out / "errors.csv")["error"].iloc[0]
    assert "plain.tif" in reason and "--pixel-size-nm-if-missing" in reason  # the advice for a folder
    args = ["tem", str(folder), "--out", str(out), "--workers", "1", "--no-scale-bar"]
    assert main([*args, "--pixel-size-nm-if-missing", "1.0"]) == 0
    run = json.loads((out / "run.json").read_text())
    by_stem = {r["stem"]: r for r in run["images"]}
    assert by_stem["own"]["pixel_size_nm"] == pytest.approx(0.8)
    assert by_stem["own"]["pixel_size_source"].startswith("file metadata")
    assert by_stem["plain"]["pixel_size_nm"] == 1.0 and by_stem["plain"]["pixel_size_source"] == "user"
    assert run["parameters"]["pixel_size_nm_if_missing"] == 1.0
    assert main([*args, "--pixel-size-nm-if-missing", "1.0", "--resume"]) == 0  # complete: nothing redone
    assert {r["status"] for r in json.loads((out / "run.json").read_text())["images"]} == {"skipped"}
    assert main([*args, "--pixel-size-nm-if-missing", "1.0", "--pixel-size-nm", "1.0"]) == 2  # one or the other


def test_a_typed_pixel_size_that_replaces_a_files_own_is_warned_and_recorded(tmp_path, caplog):
    folder = _mixed_folder(tmp_path)
    out = tmp_path / "out"
    caplog.clear()
    assert main(["tem", str(folder), "--out", str(out), "--workers", "1", "--pixel-size-nm", "5"]) == 0
    warned = [r.getMessage() for r in caplog.records if "replaces the file's own pixel size" in r.getMessage()]
    assert len(warned) == 1 and "own.tif" in warned[0] and "0.8 nm" in warned[0] and "file metadata" in warned[0]
    by_stem = {r["stem"]: r for r in json.loads((out / "run.json").read_text())["images"]}
    assert by_stem["own"]["pixel_size_nm"] == 5.0 and by_stem["own"]["pixel_size_source"] == "user"
    assert by_stem["own"]["file_pixel_size_nm"] == pytest.approx(0.8)
    assert by_stem["own"]["file_pixel_size_source"].startswith("file metadata")
    assert "file_pixel_size_nm" not in by_stem["plain"]
    assert any("replaces the file's own" in w for w in by_stem["own"]["warnings"])


def test_a_rerun_stopped_half_way_leaves_no_pooled_tables_of_the_earlier_run(inputs, tmp_path, monkeypatch):
    import exo_vision.batch.runner as runner

    single = _two_good(inputs, tmp_path)
    out = tmp_path / "out"
    assert main(["tem", str(single), "--out", str(out), "--workers", "1"]) == 0
    pooled = ("vesicles.csv", "summary.csv", "size_histogram.png", "size_histogram.svg", "errors.csv", "run.json")
    assert all((out / name).is_file() for name in pooled)
    real = runner.analyse_micrograph
    seen = []

    def stopped_at_the_second(*args, **kwargs):
        seen.append([name for name in pooled if (out / name).exists()])  # what is there while images are made
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "analyse_micrograph", stopped_at_the_second)
    assert main(["tem", str(single), "--out", str(out), "--workers", "1", "--sensitivity", "0.8"]) == 130
    assert seen == [[], []]  # gone before the first image was analysed
    assert not [name for name in pooled if (out / name).exists()]
    assert main(["histogram", str(out / f"{GOOD[0]}_vesicles.csv"), "--out", str(tmp_path / "h.svg")]) == 2


def test_config_run_json_without_input_reruns_the_recorded_inputs(inputs, tmp_path, caplog, monkeypatch):
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    shutil.copy(inputs / f"{GOOD[0]}.tif", data / "in")
    monkeypatch.chdir(data)  # typed relative to here
    assert main(["tem", "in", "--out", "out", "--workers", "1", "--min-diameter-nm", "25"]) == 0
    first = pd.read_csv(data / "out" / "vesicles.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = data / "out" / "run.json"
    assert main(["tem", "--config", str(config), "--out", "again", "--workers", "1"]) == 0
    again = pd.read_csv(elsewhere / "again" / "vesicles.csv")
    assert json.loads((elsewhere / "again" / "run.json").read_text())["parameters"]["min_diameter_nm"] == 25
    assert len(again) == len(first) > 0
    assert again["equivalent_diameter_nm"].tolist() == first["equivalent_diameter_nm"].tolist()
    # a rerun of the rerun (its command has no INPUT) takes the images the rerun analysed
    assert main(["tem", "--config", str(elsewhere / "again" / "run.json"), "--out", "third", "--workers", "1"]) == 0
    assert len(pd.read_csv(elsewhere / "third" / "vesicles.csv")) == len(first)

    # a run.json moved beside its inputs (the recorded working directory gone) reads them from its own folder
    moved = tmp_path / "moved"
    shutil.copytree(data / "in", moved / "in")
    record = json.loads(config.read_text())
    record["working_directory"] = str(tmp_path / "gone")
    (moved / "run.json").write_text(json.dumps(record))
    assert main(["tem", "--config", str(moved / "run.json"), "--out", "from_moved", "--workers", "1"]) == 0
    assert len(pd.read_csv(elsewhere / "from_moved" / "vesicles.csv")) == len(first)

    # an input that is gone is named with the run.json; no INPUT and no run.json says what to give
    shutil.rmtree(moved / "in")
    caplog.clear()
    assert main(["tem", "--config", str(moved / "run.json"), "--out", "nothing", "--workers", "1"]) == 2
    assert f"input 'in' recorded in {moved / 'run.json'} no longer exists" in caplog.text
    assert not (elsewhere / "nothing").exists()
    toml = tmp_path / "lab.toml"
    toml.write_text("[tem]\nmin_diameter_nm = 25\n")
    assert main(["tem", "--config", str(toml), "--out", "nothing"]) == 2
    assert "is a TOML config, which holds parameters only" in caplog.text
