"""`exo-vision blot` on a folder with a corrupt file, with a panel file, and as a real subprocess."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.blot import background, lanes
from exo_vision.blot.quantify import BAND_COLUMNS
from exo_vision.cli import blot as cli_blot
from exo_vision.cli.main import main
from exo_vision.synthetic.blot import make_dilution_series, make_marker_panel, turned_blot

REQUIRED = [
    "image",
    "strip",
    "lane",
    "lane_name",
    "band",
    "marker",
    "x_left_px",
    "x_right_px",
    "y_top_px",
    "y_bottom_px",
    "y_px",
    "volume",
    "background_per_px",
    "snr",
    "lod_volume",
    "present",
    "saturated",
    "saturated_px",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("blots")
    tifffile.imwrite(d / "panel.tif", make_marker_panel(rng=5).image)
    tifffile.imwrite(d / "dilution.tif", make_dilution_series(rng=1).image)
    (d / "corrupt.tif").write_bytes(b"II*\x00 not really a TIFF")
    (d / "panel.toml").write_text(
        'lane_names = ["lysate", "exo1", "exo2"]\nreference_lane = "lysate"\nug_loaded = [20.0, 10.0, 10.0]\n'
        '[[marker]]\nname = "CD9"\nimage = "panel.tif"\nstrip = 1\n'
        '[[marker]]\nname = "CD63"\nimage = "panel.tif"\nstrip = 2\n'
        '[[marker]]\nname = "calnexin"\nimage = "panel.tif"\nstrip = 3\n'
    )
    return d


def test_folder_with_a_corrupt_file(folder, tmp_path, capsys, caplog):
    out = tmp_path / "out"
    code = main(["blot", str(folder), "--out", str(out)])
    assert code == 1  # one input failed
    for stem in ("panel", "dilution"):
        table = pd.read_csv(out / f"{stem}_bands.csv")
        assert list(table.columns) == list(BAND_COLUMNS)
        assert set(REQUIRED) <= set(table.columns)
        assert (out / f"{stem}_annotated.png").stat().st_size > 1000
    dil = pd.read_csv(out / "dilution_bands.csv")
    assert len(dil) == 8 and dil.saturated.sum() == 2 and dil.image.eq("dilution.tif").all()
    run = json.loads((out / "run.json").read_text())
    assert run["exo_vision_version"] and run["parameters"]["background"] == "profile"
    assert [Path(e["input"]).name for e in run["errors"]] == ["corrupt.tif"]
    assert "corrupt.tif" not in run["errors"][0]["error"]  # the file is named once, in its column, not twice
    assert run["command"] == ["exo-vision", "blot", str(folder), "--out", str(out)]  # as tem records it
    errors = pd.read_csv(out / "errors.csv")  # as exo-vision tem writes it
    assert list(errors.columns) == ["input", "error"] and [Path(p).name for p in errors["input"]] == ["corrupt.tif"]
    assert run["machine"]["architecture"] == platform.machine()
    assert "corrupt.tif" in caplog.text
    assert "3 image(s): 2 quantified, 1 failed" in capsys.readouterr().out
    assert not list(out.glob(".exo-vision-tmp-*"))


def test_the_run_line_counts_the_lanes_found_not_the_lanes_with_a_band(folder, tmp_path, caplog):
    """The line a user checks lane finding by says what the dock says: 3 strips x 3 lanes, whatever holds a band
    (it counted the lanes with a band row: 7 on this panel, whose calnexin strip holds the lysate band only)."""
    out = tmp_path / "out"
    with caplog.at_level("INFO", logger="exo_vision"):
        assert main(["blot", str(folder / "panel.tif"), "--out", str(out)]) == 0
    table = pd.read_csv(out / "panel_bands.csv")
    assert table[["strip", "lane"]].drop_duplicates().shape[0] < 9
    line = f"panel.tif: 3 strip(s), 9 lane(s), {len(table)} band(s), {int(table['present'].sum())} present"
    assert line in caplog.text


def test_a_reused_out_folder_names_the_earlier_runs_band_tables(folder, tmp_path, caplog):
    """probe56 F13: outputs of images of an earlier run stayed beside a new run's, described by no run.json."""
    out = tmp_path / "out"
    assert main(["blot", str(folder / "dilution.tif"), "--out", str(out)]) == 0
    assert "earlier run" not in caplog.text
    assert main(["blot", str(folder / "panel.tif"), "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    (told,) = [w for ws in run["warnings"].values() for w in ws if "earlier run" in w]
    assert "dilution_annotated.png, dilution_bands.csv" in told and "panel_bands" not in told
    assert (out / "dilution_bands.csv").exists()  # named, never deleted


def test_lane_names_given_twice_are_refused_and_a_colour_export_is_said_to_be_turned_grey(folder, tmp_path, caplog):
    """Before, duplicate lane names read "marker 'CD9' has several bands in lane(s) ['lysate']"; the grey
    conversion of a colour export was only in run.json."""
    panel = str(folder / "panel.tif")
    args = ["--lane-names", "lysate,lysate,exo2", "--marker", "CD9,CD63,calnexin"]
    assert main(["blot", panel, "--out", str(tmp_path / "twice"), *args]) == 2
    assert "lane name(s) 'lysate' given more than once (lysate, lysate, exo2)" in caplog.text
    grey = tifffile.imread(folder / "panel.tif")
    colour = np.stack([grey, grey // 2, grey // 3], axis=-1)
    tifffile.imwrite(tmp_path / "colour.tif", colour, photometric="rgb")
    caplog.clear()
    main(["blot", str(tmp_path / "colour.tif"), "--out", str(tmp_path / "c")])
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "colour.tif" in r.getMessage()]
    assert any("grey" in w or "gray" in w for w in warned), warned


def test_a_link_to_a_missing_blot_in_a_folder_is_reported(folder, tmp_path):
    import shutil

    blots = tmp_path / "blots"
    blots.mkdir()
    shutil.copy(folder / "dilution.tif", blots / "dilution.tif")
    (blots / "moved.tif").symlink_to(tmp_path / "nowhere.tif")
    out = tmp_path / "out"
    assert main(["blot", str(blots), "--out", str(out)]) == 1
    (error,) = json.loads((out / "run.json").read_text())["errors"]
    assert error["input"].endswith("moved.tif") and "which does not exist. Restore the file" in error["error"]


def test_panel_file_gives_the_marker_table_and_verdict(folder, tmp_path):
    out = tmp_path / "panel_out"
    assert main(["blot", "--panel", str(folder / "panel.toml"), "--out", str(out)]) == 0
    panel = pd.read_csv(out / "panel.csv")
    assert set(panel.marker) == {"CD9", "CD63", "calnexin"}
    assert panel.verdict.eq("pass").all()
    cnx = panel[(panel.marker == "calnexin") & (panel.lane_name == "exo1")].iloc[0]
    assert not cnx.present and cnx.statement.startswith("calnexin not detected in exo1: < LoD = ")
    assert "per µg loaded" in cnx.statement
    assert (out / "panel.png").exists() and (out / "panel.svg").exists()
    summary = pd.read_csv(out / "panel_summary.csv")
    assert summary.set_index("marker").loc["CD9", "ratio_mean"] > 1
    run = json.loads((out / "run.json").read_text())
    assert run["panel_verdict"]["pass"] is True
    # what gave the verdict is on record: the image's bytes, each strip's marker, the panel file itself
    from exo_vision._shared.atomic import sha256_file

    (image,) = run["images"]
    assert image["input_sha256"] == sha256_file(folder / "panel.tif")
    assert image["markers"] == {"1": "CD9", "2": "CD63", "3": "calnexin"}
    assert run["panel_file"]["sha256"] == sha256_file(folder / "panel.toml")
    assert run["panel_file"]["text"] == (folder / "panel.toml").read_text()


def test_a_panel_imaged_turned_is_straightened_and_keeps_its_verdict(folder, tmp_path, caplog):
    turned = turned_blot(make_marker_panel(rng=5), -5.0)
    tifffile.imwrite(tmp_path / "panel.tif", turned.image)
    (tmp_path / "panel.toml").write_text((folder / "panel.toml").read_text())
    out = tmp_path / "turned"
    assert main(["blot", "--panel", str(tmp_path / "panel.toml"), "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["panel_verdict"]["pass"] is True
    (first, *_) = run["warnings"]["panel.tif"]
    assert first.startswith("the membranes lie turned by -5.0 degrees in the frame: the image was straightened")
    assert "panel.tif: the membranes lie turned by -5.0 degrees" in caplog.text
    bands = pd.read_csv(out / "panel_bands.csv")
    assert bands[bands.marker == "calnexin"].present.tolist() == [True, False, False]
    plain = tmp_path / "as_it_is"
    main(["blot", "--panel", str(tmp_path / "panel.toml"), "--out", str(plain), "--no-straighten"])
    warnings = json.loads((plain / "run.json").read_text())["warnings"].get("panel.tif", [])
    assert not any("straightened" in w for w in warnings)


def test_lane_names_markers_and_wrong_lane_count(folder, tmp_path):
    out = tmp_path / "named"
    code = main(
        [
            "blot",
            str(folder / "panel.tif"),
            "--out",
            str(out),
            "--lane-names",
            "lysate,exo1,exo2",
            "--marker",
            "CD9,CD63,calnexin",
            "--ug-loaded",
            "20,10,10",
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "panel_bands.csv")
    assert set(table.lane_name) == {"lysate", "exo1", "exo2"}
    # every panel row names its band: image and band_label join it to <image>_bands.csv (label was a row number)
    panel = pd.read_csv(out / "panel.csv")
    joined = panel.merge(table, left_on=["image", "band_label"], right_on=["image", "label"], suffixes=("", "_band"))
    assert len(joined) == len(panel) == 9
    assert (joined["volume"] == joined["volume_band"]).all() and (joined["marker"] == joined["marker_band"]).all()
    bad = tmp_path / "bad"
    assert main(["blot", str(folder / "panel.tif"), "--out", str(bad), "--lanes", "5"]) == 1
    run = json.loads((bad / "run.json").read_text())
    error = run["errors"][0]["error"]
    assert "found 3 lanes in strip 1 (rows " in error and "but 5 were expected" in error
    assert "--lane-ranges X0-X1" in error and "the lanes found span columns" in error


def test_usage_errors_exit_2(folder, tmp_path):
    assert main(["blot", "--out", str(tmp_path / "x")]) == 2
    assert main(["blot", str(folder), "--out", str(tmp_path / "y"), "--ug-loaded", "1,2"]) == 2
    (tmp_path / "broken.toml").write_text("lane_names = [")
    assert main(["blot", "--panel", str(tmp_path / "broken.toml"), "--out", str(tmp_path / "z")]) == 2


def test_panel_arguments_are_checked_before_any_image_is_quantified(folder, tmp_path, caplog):
    panel = str(folder / "panel.tif")
    names = ["--lane-names", "lysate,exo1,exo2", "--marker", "CD9,CD63,calnexin"]
    out = tmp_path / "ref"
    assert main(["blot", panel, "--out", str(out), *names, "--reference-lane", "cells"]) == 2
    assert "the reference lane 'cells' is not among the lane names (lysate, exo1, exo2)" in caplog.text
    assert not out.exists()  # refused before anything was read or written
    assert main(["blot", panel, "--out", str(tmp_path / "ug"), *names, "--ug-loaded", "20,0,10"]) == 2
    assert "µg loaded must be positive numbers for the reference lane and every EV lane" in caplog.text
    assert "got {'exo1': 0.0}" in caplog.text


def test_a_lane_that_is_not_pooled_may_have_had_nothing_loaded(folder, tmp_path):
    """Blot probe L1 (stop 51): --ug-loaded refused 0 µg for blank, PBS or empty lanes, which the panel does not
    pool; the user had to invent a load. The EV lanes keep their per-µg ratios; the blank lane gets none."""
    panel = str(folder / "panel.tif")
    out = tmp_path / "ug0"
    names = ["--lane-names", "lysate,exo1,blank", "--marker", "CD9,CD63,calnexin", "--ug-loaded", "20,10,0"]
    assert main(["blot", panel, "--out", str(out), *names]) == 0
    table = pd.read_csv(out / "panel.csv")
    blank = table[table.lane_name == "blank"]
    assert len(blank) and blank.ratio_to_reference.isna().all()
    assert blank.statement.str.contains("0 µg loaded: no ratio per µg").all()
    exo = table[(table.lane_name == "exo1") & table.present]
    assert len(exo) and exo.ratio_to_reference.notna().all()


def test_a_blot_without_a_lane_called_lysate_needs_the_reference_named(folder, tmp_path, caplog):
    """Before, the first lane (an EV sample) silently became the reference; 'Lysate' was not found."""
    panel = str(folder / "panel.tif")
    markers = ["--marker", "CD9,CD63,calnexin"]
    out = tmp_path / "noref"
    assert main(["blot", panel, "--out", str(out), "--lane-names", "exo1,exo2,exo3", *markers]) == 2
    assert "no lane is named 'lysate' (exo1, exo2, exo3)" in caplog.text and "--reference-lane NAME" in caplog.text
    assert not out.exists()
    out = tmp_path / "capital"
    assert main(["blot", panel, "--out", str(out), "--lane-names", "Lysate,exo1,exo2", *markers]) == 0
    assert json.loads((out / "run.json").read_text())["parameters"]["reference_lane"] == "Lysate"
    (tmp_path / "noref.toml").write_text(
        'lane_names = ["a", "b", "c"]\n[[marker]]\nname = "CD9"\nimage = "' + panel + '"\n'
    )
    assert main(["blot", "--panel", str(tmp_path / "noref.toml"), "--out", str(tmp_path / "p")]) == 2
    assert "add reference_lane = " in caplog.text


def test_a_run_without_a_panel_leaves_no_earlier_panel_behind(folder, tmp_path):
    """Before, an earlier run's PASS stayed in --out and the report showed it as this run's."""
    out = tmp_path / "out"
    assert main(["blot", "--panel", str(folder / "panel.toml"), "--out", str(out)]) == 0
    assert (out / "panel_summary.csv").is_file() and (out / "panel.png").is_file()
    assert main(["blot", str(folder / "dilution.tif"), "--out", str(out)]) == 0  # no markers: no panel
    assert not [name for name in cli_blot.PANEL_FILES if (out / name).exists()]
    assert json.loads((out / "run.json").read_text())["panel_verdict"] is None


def test_options_the_panel_gives_itself_are_refused_beside_it(folder, tmp_path, caplog):
    """Before, an image given beside --panel was silently not analysed (the panel's images were)."""
    panel = str(folder / "panel.toml")
    image = str(next(folder.glob("*.tif")))
    assert main(["blot", image, "--panel", panel, "--out", str(tmp_path / "a")]) == 2
    assert "so INPUT images would be ignored: write them into the panel file, or leave out --panel" in caplog.text
    assert main(["blot", "--panel", panel, "--out", str(tmp_path / "b"), "--marker", "CD9", "--lane-names", "a,b"]) == 2
    assert "so --marker, --lane-names would be ignored" in caplog.text
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cli_constants_match_the_core():
    assert cli_blot.BACKGROUND_METHODS == background.BACKGROUND_METHODS
    assert cli_blot.DEFAULT_BACKGROUND == background.DEFAULT_BACKGROUND
    assert cli_blot.CENTRAL_FRACTION == lanes.CENTRAL_FRACTION


def test_real_subprocess(folder, tmp_path):
    out = tmp_path / "sub"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "exo_vision.cli.main",
            "blot",
            str(folder / "dilution.tif"),
            "--out",
            str(out),
            "--background",
            "border",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "1 image(s): 1 quantified, 0 failed" in res.stdout
    assert (out / "dilution_bands.csv").exists()


def test_gel_option_takes_lanes_from_the_wells_and_reports_nothing_on_them(tmp_path):
    from tests.blot.test_gel import BANDS, WELL_ROWS, on_wells, synthetic_gel

    tifffile.imwrite(tmp_path / "gel.tif", synthetic_gel())
    out = tmp_path / "out"
    assert main(["blot", str(tmp_path / "gel.tif"), "--gel", "--polarity", "bright", "--out", str(out)]) == 0
    bands = pd.read_csv(out / "gel_bands.csv")
    present = bands[bands.present]
    assert len(present) == len(BANDS)  # the planted bands, each in its tier and lane
    assert sorted(zip(present.strip, present.lane)) == sorted((t + 1, k + 1) for t, k, _ in BANDS)
    assert not on_wells(present, WELL_ROWS, margin=5)
    assert json.loads((out / "run.json").read_text())["parameters"]["gel"] is True


def test_a_lane_named_ladder_is_no_sample_and_ladder_sizes_need_the_ladder_lane(folder, tmp_path, caplog):
    """A lane called 'ladder' was an EV replicate of the panel unless --ladder-kda came with --ladder-lane."""
    panel = str(folder / "panel.tif")
    markers = ["--marker", "CD9,CD63,calnexin"]
    out = tmp_path / "named"
    assert main(["blot", panel, "--out", str(out), "--lane-names", "Ladder,lysate,exo1", *markers]) == 0
    assert "lane 1 (Ladder) is taken as the ladder lane" in caplog.text
    assert json.loads((out / "run.json").read_text())["parameters"]["ladder_lane"] == 1
    enrichment = pd.read_csv(out / "panel.csv")
    assert set(enrichment["lane_name"]) == {"lysate", "exo1"}
    alone = tmp_path / "alone"  # the lane number alone is enough now
    assert (
        main(["blot", panel, "--out", str(alone), "--lane-names", "m,lysate,exo1", "--ladder-lane", "1", *markers]) == 0
    )
    assert set(pd.read_csv(alone / "panel.csv")["lane_name"]) == {"lysate", "exo1"}
    sizes = tmp_path / "sizes"
    assert (
        main(["blot", panel, "--out", str(sizes), "--lane-names", "a,lysate,b", "--ladder-kda", "100,50", *markers])
        == 2
    )
    assert "--ladder-kda needs --ladder-lane K" in caplog.text and not sizes.exists()


def test_a_rerun_leaves_no_earlier_result_of_an_image_that_failed_and_reads_no_panel_chart(folder, tmp_path):
    """An image that failed this time kept the band table and annotated PNG of an earlier run, and the report
    embedded them as this run's; `blot OUT` read the earlier run's panel.png as a blot (128 'bands')."""
    from exo_vision.report.collect import collect_blot

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.tif").write_bytes((folder / "panel.tif").read_bytes())
    (inputs / "b.tif").write_bytes((folder / "dilution.tif").read_bytes())
    out = inputs / "out"
    names = ["--lane-names", "lysate,exo1,exo2", "--marker", "CD9,CD63,calnexin"]
    assert main(["blot", str(inputs / "a.tif"), str(inputs / "b.tif"), "--out", str(out)]) == 0
    assert (out / "b_bands.csv").is_file()
    (inputs / "b.tif").write_bytes(b"II*\x00 no longer a TIFF")
    assert main(["blot", str(inputs / "a.tif"), str(inputs / "b.tif"), "--out", str(out), *names]) == 1
    assert not (out / "b_bands.csv").exists() and not (out / "b_annotated.png").exists()
    run = json.loads((out / "run.json").read_text())
    assert [(i["stem"], i["status"]) for i in run["images"]] == [("a", "done"), ("b", "failed")]
    evidence = collect_blot(out)
    assert set(evidence.bands["image"]) == {"a.tif"} and set(evidence.annotated) == {"a"}
    # the run's own chart is no blot: a folder holding it is read without it
    assert (out / "panel.png").is_file()
    shutil.copy(out / "panel.png", inputs / "panel.png")
    shutil.copy(out / "panel_summary.csv", inputs / "panel_summary.csv")
    again = tmp_path / "again"
    (inputs / "b.tif").unlink()
    assert main(["blot", str(inputs), "--out", str(again), *names]) == 0
    assert json.loads((again / "run.json").read_text())["inputs"] == [str(inputs / "a.tif")]


def test_one_channel_of_a_two_channel_stack_is_chosen_with_frame(tmp_path, caplog):
    """A two-page fluorescence stack was refused with the fix '--frame K', which blot did not take."""
    from exo_vision.synthetic.blot import make_marker_panel

    panel = make_marker_panel(rng=5).image
    stack = np.stack([np.zeros_like(panel) + 100, panel])
    tifffile.imwrite(tmp_path / "two.tif", stack)
    assert main(["blot", str(tmp_path / "two.tif"), "--out", str(tmp_path / "refused")]) == 1
    assert "--frame K" in caplog.text
    out = tmp_path / "chosen"
    assert main(["blot", str(tmp_path / "two.tif"), "--frame", "1", "--out", str(out)]) == 0
    tifffile.imwrite(tmp_path / "one.tif", panel)
    assert main(["blot", str(tmp_path / "one.tif"), "--out", str(tmp_path / "one")]) == 0
    volumes = [
        pd.read_csv(folder / f"{stem}_bands.csv")["volume"]
        for folder, stem in ((out, "two"), (tmp_path / "one", "one"))
    ]
    np.testing.assert_allclose(volumes[0], volumes[1])
    assert json.loads((out / "run.json").read_text())["parameters"]["frame"] == 1


def test_a_blot_run_stopped_half_way_leaves_no_earlier_run_json_or_verdict(folder, tmp_path, monkeypatch):
    out = tmp_path / "panel_out"
    assert main(["blot", "--panel", str(folder / "panel.toml"), "--out", str(out)]) == 0
    assert (out / "run.json").is_file() and (out / "panel.csv").is_file()

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_blot, "quantify_file", stopped)
    assert main(["blot", "--panel", str(folder / "panel.toml"), "--out", str(out), "--background", "none"]) == 130
    assert not [n for n in cli_blot.RUN_FILES if (out / n).exists()]


def test_a_panel_file_saved_with_a_byte_order_mark_is_read(folder, tmp_path):
    # Notepad and Excel on Windows save UTF-8 with a mark that TOML does not allow
    panel = tmp_path / "panel.toml"
    panel.write_bytes(b"\xef\xbb\xbf" + (folder / "panel.toml").read_bytes())
    shutil.copy(folder / "panel.tif", tmp_path / "panel.tif")
    assert main(["blot", "--panel", str(panel), "--out", str(tmp_path / "out")]) == 0


def test_lanes_on_a_frame_of_two_membranes_number_the_lanes_alike_in_both(tmp_path):
    """--lanes below the lanes shown on two stacked membranes failed ('found 10 lanes in strip 1 but 8 were
    expected'): the count was applied to each membrane before they shared their lanes."""
    from exo_vision.synthetic.blot import make_two_membrane_frame

    blot = make_two_membrane_frame(rng=1)
    k = int(blot.truth.groupby("strip").size().iloc[0])
    tifffile.imwrite(tmp_path / "frame.tif", blot.image)
    out = tmp_path / "out"
    assert main(["blot", str(tmp_path / "frame.tif"), "--lanes", str(k - 2), "--out", str(out)]) == 0
    table = pd.read_csv(out / "frame_bands.csv")
    assert sorted(table.strip.unique()) == [1, 2] and table.lane.max() <= k - 2
    centres = table.assign(x=(table.x_left_px + table.x_right_px) / 2).groupby(["lane", "strip"]).x.mean().unstack()
    both = centres.dropna()  # lanes with a band in both membranes (a blank lane has no row)
    assert len(both) >= 4
    width = float((table.x_right_px - table.x_left_px).median())
    assert (both[1] - both[2]).abs().max() < 0.25 * width
    # lane j is the frame's lane j in both membranes (here the two weakest lanes at the right end were left out)
    true_x = blot.truth[blot.truth.strip == 1].set_index("lane").x_centre_px
    assert (both[1] - true_x.reindex(both.index)).abs().max() < 0.25 * width
    warned = json.loads((out / "run.json").read_text())["warnings"]["frame.tif"]
    assert any(f"{k} lanes were found" in w for w in warned)


def test_a_folder_scan_takes_gif_and_webp_blots_and_names_micrographs_it_leaves_out(tmp_path, caplog):
    # a GIF or WebP blot export in a folder vanished from the run without a word, as did a DM4 micrograph
    from PIL import Image

    image = make_dilution_series(rng=1).image
    grey = (image / image.max() * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", image)
    Image.fromarray(grey).save(tmp_path / "b.gif")
    Image.fromarray(grey).save(tmp_path / "c.webp", lossless=True)
    (tmp_path / "grid.dm4").write_bytes(b"x")
    with caplog.at_level("INFO"):
        assert [p.name for p in cli_blot._collect_inputs([str(tmp_path)])] == ["a.tif", "b.gif", "c.webp"]
    assert "1 electron-microscope file(s) left out: grid.dm4" in caplog.text and "exo-vision tem" in caplog.text


def test_lanes_named_as_no_ev_sample_are_left_out_of_the_pool_and_ev_lanes_names_them(folder, tmp_path, caplog):
    """blot49 H6: a lane named 'blank' (or 'lysate2') was pooled as an EV replicate, with no way to say otherwise."""
    panel = str(folder / "panel.tif")
    named = ["--lane-names", "lysate,exo1,blank", "--marker", "CD9,CD63,calnexin"]
    out = tmp_path / "by_name"
    assert main(["blot", panel, "--out", str(out), *named]) == 0
    summary = pd.read_csv(out / "panel_summary.csv").set_index("marker")
    assert summary.loc["CD9", "n_ev_lanes"] == 1 and summary.loc["CD9", "ev_lanes"] == "exo1"
    assert summary.loc["CD9", "left_out_lanes"] == "blank (its name says 'blank')"
    assert "EV lanes pooled as replicates: exo1; left out: blank (its name says 'blank')" in caplog.text
    assert set(pd.read_csv(out / "panel.csv").role) == {"reference", "EV", "other"}
    out = tmp_path / "given"
    assert main(["blot", panel, "--out", str(out), *named, "--ev-lanes", "exo1,blank"]) == 0
    summary = pd.read_csv(out / "panel_summary.csv").set_index("marker")
    assert summary.loc["CD9", "ev_lanes"] == "exo1, blank" and summary.loc["CD9", "n_ratios"] == 2
    assert json.loads((out / "run.json").read_text())["parameters"]["ev_lanes"] == ["exo1", "blank"]
    assert main(["blot", panel, "--out", str(tmp_path / "bad"), *named, "--ev-lanes", "exo1,exo7"]) == 2
    assert "'exo7' not among the lane names (lysate, exo1, blank)" in caplog.text
    toml = tmp_path / "roles.toml"
    toml.write_text(
        (folder / "panel.toml")
        .read_text()
        .replace(
            'lane_names = ["lysate", "exo1", "exo2"]', ('lane_names = ["lysate", "exo1", "exo2"]\nev_lanes = ["exo2"]')
        )
        .replace('image = "panel.tif"', f'image = "{folder / "panel.tif"}"')
    )
    out = tmp_path / "toml"
    assert main(["blot", "--panel", str(toml), "--out", str(out)]) == 0
    summary = pd.read_csv(out / "panel_summary.csv").set_index("marker")
    assert summary.loc["CD9", "ev_lanes"] == "exo2" and summary.loc["CD9", "left_out_lanes"].startswith("exo1 (")


def test_a_ladder_lane_that_is_also_the_lysate_is_named_as_the_conflict(folder, tmp_path, caplog):
    """blot49 M8: '--ladder-lane 1' with lane 1 named lysate said the reference was not among the lane names."""
    code = main(
        ["blot", str(folder / "panel.tif"), "--out", str(tmp_path / "o"), "--ladder-lane", "1"]
        + ["--lane-names", "lysate,exo1,exo2", "--marker", "CD9,CD63,calnexin"]
    )
    assert code == 2
    assert "lane 1 ('lysate') is both the ladder lane (--ladder-lane 1) and the reference (lysate) lane" in caplog.text
    assert not (tmp_path / "o").exists()


def test_a_marker_without_lane_names_says_no_panel_was_made(folder, tmp_path, caplog, capsys):
    """blot49 L4: --marker without --lane-names ran and said nothing of the panel it did not make."""
    assert main(["blot", str(folder / "panel.tif"), "--out", str(tmp_path / "o"), "--marker", "CD9,CD63,calnexin"]) == 0
    assert "no marker panel (panel.csv, panel_summary.csv) was made" in caplog.text
    assert "--lane-names lysate,exo1,exo2" in caplog.text
    assert "no marker panel: --marker without --lane-names" in capsys.readouterr().out


def test_lane_ranges_give_the_lanes_and_the_messages_name_the_option(folder, tmp_path, caplog):
    """blot49 M3: messages said 'give lane x-ranges' / 'the lanes' columns', while no option took them."""
    from exo_vision.blot.quantify import quantify_blot

    image = tifffile.imread(folder / "panel.tif")
    found = quantify_blot(image)
    ranges = [(round(lane.x_centre_px - 20), round(lane.x_centre_px + 20)) for lane in found.lanes if lane.strip == 1]
    text = ",".join(f"{a}-{b}" for a, b in ranges)
    out = tmp_path / "ranges"
    markers = ["--marker", "CD9,CD63,calnexin"]  # every lane measured in every strip
    assert main(["blot", str(folder / "panel.tif"), "--out", str(out), "--lane-ranges", text, *markers]) == 0
    bands = pd.read_csv(out / "panel_bands.csv")
    for lane, (a, b) in enumerate(ranges, start=1):  # every strip's lane k sits in the k-th range, centred
        rows = bands[bands.lane == lane]
        # a band's box spans the band's own width, which may reach past the range given: its centre lies in it
        centres = (rows.x_left_px + rows.x_right_px) / 2
        assert ((centres >= a) & (centres <= b)).all() and len(rows) == 3
    assert json.loads((out / "run.json").read_text())["parameters"]["lane_ranges"] == [
        list(map(float, r)) for r in ranges
    ]
    for bad, said in [
        ("100-80", "'100-80' is not a lane's columns"),
        ("10-90,80-150", "left to right without overlap"),
    ]:
        assert main(["blot", str(folder / "panel.tif"), "--out", str(tmp_path / "x"), "--lane-ranges", bad]) == 2
        assert said in caplog.text
    assert main(["blot", str(folder), "--out", str(tmp_path / "g"), "--gel", "--lane-ranges", text]) == 2
    assert main(["blot", str(folder), "--out", str(tmp_path / "n"), "--lane-ranges", text, "--lane-names", "a,b"]) == 2
    assert "2 lane names (a, b) for the 3 lanes of --lane-ranges" in caplog.text
    # the message of a lane count that cannot be placed names both ways to give the lanes
    assert main(["blot", str(folder / "panel.tif"), "--out", str(tmp_path / "five"), "--lanes", "5"]) == 1
    error = json.loads((tmp_path / "five" / "run.json").read_text())["errors"][0]["error"]
    assert "check the lane count (--lanes N), or give the lanes' columns (--lane-ranges X0-X1,X0-X1,...)" in error


def test_the_8bit_warning_of_an_export_is_given_once(tmp_path, caplog):
    """blot49 L1: the reader's '8-bit export for publication' and the quantification's longer warning both ran."""
    from exo_vision.blot.saturation import EIGHT_BIT_EXPORT_WARNING
    from exo_vision.io.read import EIGHT_BIT_BLOT_WARNING

    tifffile.imwrite(tmp_path / "export.tif", make_marker_panel(rng=5, export="inverted8").image)
    assert main(["blot", str(tmp_path / "export.tif"), "--out", str(tmp_path / "out")]) == 0
    assert caplog.text.count(EIGHT_BIT_EXPORT_WARNING) == 1 and EIGHT_BIT_BLOT_WARNING not in caplog.text
    warnings = json.loads((tmp_path / "out" / "run.json").read_text())["warnings"]["export.tif"]
    assert EIGHT_BIT_EXPORT_WARNING in warnings and EIGHT_BIT_BLOT_WARNING not in warnings


def _clipped_counts(out: Path) -> list[int]:
    """The clipped-pixel counts the run's warnings give (one per warning that states one)."""
    warnings = [m for ms in json.loads((out / "run.json").read_text())["warnings"].values() for m in ms]
    return [int(m.split()[0]) for m in warnings if "pixels (" in m and "sit at the saturation level" in m]


def test_a_masked_frame_line_is_not_counted_as_clipped_pixels(tmp_path):
    """blot50 L4: a black frame line, masked before measuring, raised the clipped-pixel count of an inverted
    export (6139 -> 10619 on a real crop) although the volumes were the same."""
    image = make_marker_panel(rng=5, export="inverted8").image
    image = np.clip(255 - (255 - image.astype(int)) * 3, 0, 255).astype(np.uint8)  # band cores clip at black
    framed = np.pad(image, 6, constant_values=255)
    framed[2:4, 2:-2] = framed[-4:-2, 2:-2] = 0
    framed[2:-2, 2:4] = framed[2:-2, -4:-2] = 0
    counts = {}
    for name, data in (("plain", image), ("framed", framed)):
        tifffile.imwrite(tmp_path / f"{name}.tif", data)
        argv = ["blot", str(tmp_path / f"{name}.tif"), "--lane-names", "lysate,exo1,exo2", "--out"]
        assert main([*argv, str(tmp_path / name), "--marker", "CD9,CD63,calnexin"]) == 0
        counts[name] = _clipped_counts(tmp_path / name)
    bands = [pd.read_csv(tmp_path / n / f"{n}_bands.csv") for n in ("plain", "framed")]
    columns = ["volume", "saturated", "saturated_px"]  # the frame's pad moves the boxes, not what they hold
    pd.testing.assert_frame_equal(bands[0][columns], bands[1][columns])
    # one count each (the reader's gives way), the same with and without the frame, below every black pixel
    assert len(counts["plain"]) == len(counts["framed"]) == 1
    assert counts["framed"] == counts["plain"]
    assert 0 < counts["plain"][0] < int(np.count_nonzero(image == 0))
