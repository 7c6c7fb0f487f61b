"""summary.csv carries each image's warnings (count and text), so that a spreadsheet filter finds the images
whose numbers need a look without opening run.json."""

from __future__ import annotations

import json

import pandas as pd
import tifffile

from exo_vision._shared.csv_tables import read_written_csv
from exo_vision.synthetic.tem import make_synthetic_tem


def test_summary_csv_counts_and_names_each_images_warnings(tmp_path):
    from exo_vision.cli.main import main

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for seed, own_nm in ((0, 2.0), (1, 1.0)):  # m0's file says 2 nm/px, the run is told 1 nm/px: a warning
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=4, scale_bar=False, rng=seed
        )
        tifffile.imwrite(
            inputs / f"m{seed}.tif", image, imagej=True, resolution=(1 / own_nm, 1 / own_nm), metadata={"unit": "nm"}
        )
    assert main(["tem", str(inputs), "--out", str(out), "--workers", "1", "--pixel-size-nm", "1"]) == 0
    records = {r["stem"]: r for r in json.loads((out / "run.json").read_text())["images"]}
    raw = pd.read_csv(out / "summary.csv", keep_default_na=False)
    # a warning that starts with "-" goes behind an apostrophe (a spreadsheet would take it for a formula)
    assert raw.set_index("image").loc["m0", "warnings"].startswith("'--pixel-size-nm 1 replaces")
    summary = read_written_csv(out / "summary.csv", keep_default_na=False)
    assert list(summary.columns[-7:]) == [
        "pixel_size_nm",
        "pixel_size_source",
        "n_split_groups",
        "n_warnings",
        "warnings",
        "duplicate_of",
        "source_file",
    ]
    rows = summary.set_index("image")
    assert any("2" in w and "--pixel-size-nm" in w for w in records["m0"]["warnings"])
    assert rows.loc["m0", "n_warnings"] == len(records["m0"]["warnings"]) >= 1  # before: no such column
    assert rows.loc["m0", "warnings"] == " | ".join(records["m0"]["warnings"])
    assert rows.loc["m1", "n_warnings"] == len(records["m1"]["warnings"])
    assert rows.loc["m1", "warnings"] == " | ".join(records["m1"]["warnings"])
    n_all = len(records["m0"]["warnings"]) + len(records["m1"]["warnings"])
    assert (rows.loc["pooled", "n_warnings"], rows.loc["pooled", "warnings"]) == (n_all, "")


def test_summary_csv_names_each_images_calibration_and_warns_of_a_typed_fallback(tmp_path):
    """A pixel size from --pixel-size-nm-if-missing is a guess: its row names it and counts a warning (facility51
    F6: a 5 nm/px field measured at the typed 1.0 had n_warnings 0 and no pixel size in summary.csv)."""
    import imageio.v3 as iio

    from exo_vision.cli.main import main

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    image, _ = make_synthetic_tem(
        (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=4, scale_bar=False, rng=0
    )
    tifffile.imwrite(inputs / "tagged.tif", image, imagej=True, resolution=(1 / 1.5, 1 / 1.5), metadata={"unit": "nm"})
    iio.imwrite(inputs / "bare.png", image)  # no calibration of its own
    assert main(["tem", str(inputs), "--out", str(out), "--workers", "1", "--pixel-size-nm-if-missing", "1"]) == 0
    records = {r["stem"]: r for r in json.loads((out / "run.json").read_text())["images"]}
    summary = read_written_csv(out / "summary.csv", keep_default_na=False)
    assert list(summary.columns[-7:]) == [
        "pixel_size_nm",
        "pixel_size_source",
        "n_split_groups",
        "n_warnings",
        "warnings",
        "duplicate_of",
        "source_file",
    ]
    rows = summary.set_index("image")
    assert float(rows.loc["bare", "pixel_size_nm"]) == 1.0
    assert rows.loc["bare", "pixel_size_source"] == "user (--pixel-size-nm-if-missing)"
    assert float(rows.loc["tagged", "pixel_size_nm"]) == 1.5
    assert rows.loc["tagged", "pixel_size_source"].startswith("file metadata")
    assert (rows.loc["pooled", "pixel_size_nm"], rows.loc["pooled", "pixel_size_source"]) == ("", "")
    fallback = "pixel size 1 nm/px from --pixel-size-nm-if-missing: the file carries none; check it"
    assert any(w.startswith(fallback) for w in records["bare"]["warnings"])
    assert not any("if-missing" in w for w in records["tagged"]["warnings"])
    assert int(rows.loc["bare", "n_warnings"]) == len(records["bare"]["warnings"]) >= 1
    assert fallback in rows.loc["bare", "warnings"]


def test_the_pooled_row_counts_each_micrograph_once_and_the_columns_stay_in_place(tmp_path):
    """The pooled row's counts leave out a copy's repeats of its original's warnings and split groups, as its
    statistics do (facility51 F8), summary.csv has an ``n_split_groups`` column (F16), and ``duplicate_of`` is
    there in a run without copies too, empty, so that appended summaries keep their columns in place (F13)."""
    import shutil

    from exo_vision.cli.main import main

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for seed in (0, 1):  # the files say 2 nm/px, the run is told 1 nm/px: a warning each
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=4, scale_bar=False, rng=seed
        )
        tifffile.imwrite(inputs / f"m{seed}.tif", image, imagej=True, resolution=(0.5, 0.5), metadata={"unit": "nm"})
    command = ["tem", str(inputs), "--out", str(out), "--workers", "1", "--pixel-size-nm", "1"]
    assert main(command) == 0
    alone = read_written_csv(out / "summary.csv", keep_default_na=False).set_index("image")
    assert (alone["duplicate_of"] == "").all()  # before: no such column without copies
    shutil.copy(inputs / "m0.tif", inputs / "m2.tif")  # a byte copy of m0, after it
    assert main([*command[:3], str(tmp_path / "out2"), *command[4:]]) == 0
    records = {r["stem"]: r for r in json.loads((tmp_path / "out2" / "run.json").read_text())["images"]}
    summary = read_written_csv(tmp_path / "out2" / "summary.csv", keep_default_na=False)
    assert list(summary.columns) == list(alone.reset_index().columns)  # the same columns with and without copies
    rows = summary.set_index("image")
    assert rows.loc["m2", "duplicate_of"].endswith("m0.tif")
    for stem in ("m0", "m1", "m2"):
        assert int(rows.loc[stem, "n_split_groups"]) == len(records[stem]["split_groups"])
    assert int(rows.loc["m2", "n_warnings"]) == len(records["m2"]["warnings"]) >= 1  # the copy repeats m0's
    distinct = ("m0", "m1")
    assert int(rows.loc["pooled", "n_warnings"]) == sum(len(records[s]["warnings"]) for s in distinct)  # before: +m2
    assert int(rows.loc["pooled", "n_split_groups"]) == sum(len(records[s]["split_groups"]) for s in distinct)
    assert int(rows.loc["pooled", "n_warnings"]) == int(alone.loc["pooled", "n_warnings"])


def _calibrated_micrographs(folder, pixel_sizes_nm):
    folder.mkdir()
    for seed, nm in enumerate(pixel_sizes_nm):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=nm, difficulty="easy", n_vesicles=4, scale_bar=False, rng=seed
        )
        tifffile.imwrite(
            folder / f"m{seed}.tif", image, imagej=True, resolution=(1 / nm, 1 / nm), metadata={"unit": "nm"}
        )


def test_a_pool_mixing_micrographs_on_both_sides_of_the_half_membrane_limit_says_so(tmp_path, caplog):
    """size53 F2: the same vesicles at 2.30 and 2.35 nm/px give medians 5.4 % apart (the outer half membrane is
    added finer than 2.31 nm/px only); a pool of both kinds said nothing where its numbers are read."""
    from exo_vision.cli.main import main

    _calibrated_micrographs(tmp_path / "in", (2.0, 3.0, 3.0))
    out = tmp_path / "out"
    assert main(["tem", str(tmp_path / "in"), "--out", str(out), "--workers", "1"]) == 0
    run = json.loads((out / "run.json").read_text())
    pooled = read_written_csv(out / "summary.csv", keep_default_na=False).set_index("image").loc["pooled"]
    assert len(run["pooled_warnings"]) == 1
    note = run["pooled_warnings"][0]
    assert note.startswith("2 of the 3 pooled micrographs have pixels coarser than 2.31 nm/px")
    assert "mixes two outline constructions" in note and "not a correction factor" in note
    assert pooled["warnings"] == note
    assert f"pooled statistics (vesicles.csv, the pooled row, size_histogram): {note}" in caplog.text

    _calibrated_micrographs(tmp_path / "coarse", (3.0, 4.0))
    assert main(["tem", str(tmp_path / "coarse"), "--out", str(tmp_path / "c"), "--workers", "1"]) == 0
    (note,) = json.loads((tmp_path / "c" / "run.json").read_text())["pooled_warnings"]
    assert note.startswith("every pooled micrograph (2) has pixels coarser than 2.31 nm/px: its sizes come from")
    assert "12-19 %" in note

    _calibrated_micrographs(tmp_path / "fine", (1.0, 2.0))
    assert main(["tem", str(tmp_path / "fine"), "--out", str(tmp_path / "f"), "--workers", "1"]) == 0
    assert json.loads((tmp_path / "f" / "run.json").read_text())["pooled_warnings"] == []
