"""What `exo-vision blot --panel` and `exo-vision report --blot` say about markers, bounds and caveats, checked
on generated blots whose truth is known."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.report import build_report
from exo_vision.report.collect import sha256_file
from exo_vision.synthetic.blot import make_marker_panel

PANEL_TOML = (
    'lane_names = ["lysate", "exo1", "exo2"]\nreference_lane = "lysate"\nug_loaded = [20.0, 10.0, 10.0]\n'
    '[[marker]]\nname = "CD9"\nimage = "{image}"\nstrip = 1\n'
    '[[marker]]\nname = "CD63"\nimage = "{image}"\nstrip = 2\n'
    '[[marker]]\nname = "calnexin"\nimage = "{image}"\nstrip = 3\n'
)


def _panel_run(tmp_path: Path, name: str, blot, caplog=None, toml: str = PANEL_TOML) -> Path:
    """Write ``blot`` as ``name``.tif with a three-marker panel file, run `exo-vision blot --panel`, return --out."""
    inputs = tmp_path / f"in_{name}"
    inputs.mkdir()
    tifffile.imwrite(inputs / f"{name}.tif", blot.image)
    (inputs / "panel.toml").write_text(toml.replace("{image}", f"{name}.tif"), encoding="utf-8")
    out = tmp_path / f"out_{name}"
    with caplog.at_level(logging.INFO) if caplog is not None else contextlib.nullcontext():
        assert main(["blot", "--panel", str(inputs / "panel.toml"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def no_calnexin_blot():
    """Calnexin probed on strip 3 but blank in every lane, the lysate included (a failed antibody)."""
    return make_marker_panel(
        ev_ratios={"CD9": [3, 3], "CD63": [2, 2], "calnexin": [0, 0]},
        lysate_volumes={"CD9": 2e6, "CD63": 1e7, "calnexin": 0.0},
        rng=8,
    )


def test_a_marker_probed_but_seen_in_no_lane_is_reported_as_probed_and_inconclusive(
    no_calnexin_blot, tmp_path, caplog, capsys
):
    out = _panel_run(tmp_path, "nocnx", no_calnexin_blot, caplog)
    panel = pd.read_csv(out / "panel.csv")
    calnexin = panel[panel["marker"] == "calnexin"].set_index("lane_name")
    assert list(calnexin.index) == ["lysate", "exo1", "exo2"]
    assert not calnexin["present"].any()
    assert calnexin["lod_volume"].isna().all() and calnexin["volume"].isna().all()  # nothing integrated
    assert calnexin["statement"].str.contains("absent; no LoD").all()
    summary = pd.read_csv(out / "panel_summary.csv").set_index("marker")
    row = summary.loc["calnexin"]
    assert row["verdict"] == "fail" and not row["present_in_reference"]
    assert "not detected even in the reference (lysate) lane: inconclusive" in row["reason"]
    logged = caplog.text
    assert "missing from the panel" not in logged
    assert "calnexin not detected even in the reference (lysate) lane: inconclusive" in logged
    page = build_report(blot_dir=out)
    assert "Calnexin was not probed" not in page
    assert "Calnexin was probed but not detected even in the lysate (reference) lane: inconclusive" in page
    assert "calnexin?" in page


def test_the_report_gives_the_checksum_the_blot_run_recorded_and_says_when_the_file_changed(tmp_path):
    out = _panel_run(tmp_path, "panel", make_marker_panel(rng=5))
    image = tmp_path / "in_panel" / "panel.tif"
    recorded = json.loads((out / "run.json").read_text())["images"][0]["input_sha256"]
    page = build_report(blot_dir=out)
    assert recorded in page and "unchanged" in page and "CHANGED" not in page
    tifffile.imwrite(image, make_marker_panel(rng=6).image)  # another blot saved over the one quantified
    now = sha256_file(image)
    page = build_report(blot_dir=out)
    assert recorded in page and f"CHANGED since the run: now {now}" in page
    assert "the file now differs from the one the blot run quantified" in page
    image.unlink()
    page = build_report(blot_dir=out)
    assert recorded in page and "no longer where the blot run read it" in page


def test_the_8_bit_caveat_reaches_every_verdict_of_the_report(tmp_path):
    out = _panel_run(tmp_path, "export8", make_marker_panel(rng=5, export="inverted8"))
    page = build_report(blot_dir=out)
    assert 'data-key="blot.caveat">(indicative only: an 8-bit or rescaled export)</small>' in page  # summary card
    assert "(indicative only: an 8-bit or rescaled export: quantify the raw 16-bit image)" in page  # headline
    sentence = page[page.index("<p>Calnexin was not detected") :]
    sentence = sentence[: sentence.index("</p>")]
    assert "Indicative only: measured on an 8-bit or rescaled export" in sentence


def test_a_report_of_three_blot_runs_shows_each_of_them(tmp_path):
    """review50 M3: `report --blot A --blot B --blot C` kept only C."""
    outs = [_panel_run(tmp_path, f"rep{k}", make_marker_panel(rng=20 + k)) for k in (1, 2, 3)]
    page_path = tmp_path / "reps.html"
    argv = ["report", *[a for o in outs for a in ("--blot", str(o))], "--out", str(page_path)]
    assert main(argv) == 0
    page = page_path.read_text(encoding="utf-8")
    for k, out in enumerate(outs, start=1):
        assert f"Western blot {k} of 3 ({out.name}): MISEV marker panel" in page
        assert f"Marker panel (blot {k}: {out.name})" in page
        recorded = json.loads((out / "run.json").read_text())["images"][0]["input_sha256"]
        assert recorded in page
    assert "their ratios are not pooled across blots" in page
    # the same folder twice is refused
    assert main(["report", "--blot", str(outs[0]), "--blot", str(outs[0]), "--out", str(page_path)]) == 2


def test_a_panel_without_cd63_says_in_the_report_why_it_fails(tmp_path):
    """probe56 F5: a blot probed for CD9 and calnexin only showed FAIL beside two passing rows and no reason; the
    per-lane table gave volumes and LoDs without a unit."""
    toml = PANEL_TOML.replace('[[marker]]\nname = "CD63"\nimage = "{image}"\nstrip = 2\n', "")
    out = _panel_run(tmp_path, "nocd63", make_marker_panel(rng=5), toml=toml)
    summary = pd.read_csv(out / "panel_summary.csv")
    assert sorted(summary["marker"]) == ["CD9", "calnexin"] and (summary["verdict"] == "pass").all()
    page = build_report(blot_dir=out)
    assert "FAIL" in page and "CD63 was not probed on this blot" in page and "CD9 was not probed" not in page
    assert "Volume (grey level × px)" in page and "LoD (grey level × px)" in page


def test_the_report_warns_when_replicate_blots_measured_volumes_two_ways(tmp_path):
    """probe56 F9: a run from before the band-width change (volumes over the lane's central columns) beside a new
    one was shown side by side without a word."""
    first = _panel_run(tmp_path, "rep1", make_marker_panel(rng=5))
    second = _panel_run(tmp_path, "rep2", make_marker_panel(rng=6))
    page = build_report(blot_dir=[first, second])
    assert "measured band volumes two ways" not in page and "different exo_vision code" not in page
    record = json.loads((second / "run.json").read_text())
    del record["parameters"]["blot_parameters"]["measure_band_extent"]  # as runs before stop 55 wrote it
    (second / "run.json").write_text(json.dumps(record))
    page = build_report(blot_dir=[first, second])
    assert "measured band volumes two ways (out_rep1: over each band's own width; out_rep2: over the lane's" in page
    record["parameters"]["blot_parameters"]["measure_band_extent"] = True
    record["software"]["exo_vision_code_sha256"] = "0" * 64
    (second / "run.json").write_text(json.dumps(record))
    assert "made by different exo_vision code" in build_report(blot_dir=[first, second])
