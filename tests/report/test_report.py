"""`exo-vision report`: numbers in the page equal the tem/blot outputs; it renders in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.report import build_report
from exo_vision.report.collect import BlotEvidence, collect_tem
from exo_vision.report.embed import choose_close_up
from exo_vision.report.html import InstrumentValues, ReportInputs, render_report
from exo_vision.report.instruments import parse_instrument_values
from exo_vision.report.interpret import calnexin_bound, verdict_text
from exo_vision.synthetic.blot import make_marker_panel
from exo_vision.synthetic.tem import make_synthetic_tem

DLS = "z_avg_nm=121.3,sd_nm=23.7,pdi=0.21"
PANEL_TOML = """\
lane_names = ["lysate", "exo1", "exo2"]
reference_lane = "lysate"
[[marker]]
name = "CD9"
image = "panel.tif"
strip = 1
[[marker]]
name = "CD63"
image = "panel.tif"
strip = 2
[[marker]]
name = "calnexin"
image = "panel.tif"
strip = 3
"""


class _NumberParser(HTMLParser):
    """Collect every element with a data-key: key -> list of (data-value, text); also img srcs and tags seen."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[tuple[str | None, str]]] = {}
        self.srcs: list[str] = []
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self._open: list[tuple[str, str | None, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.srcs.append(a.get("src", ""))
        if "href" in a:
            self.hrefs.append(a["href"])
        if "data-key" in a:
            self._open.append((a["data-key"], a.get("data-value"), []))

    def handle_data(self, data):
        for _, _, buffer in self._open:
            buffer.append(data)

    def handle_endtag(self, tag):
        if self._open and tag in ("span", "b"):
            key, value, buffer = self._open.pop()
            self.values.setdefault(key, []).append((value, "".join(buffer).strip()))


def _parse(page: str) -> _NumberParser:
    parser = _NumberParser()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """Real `exo-vision tem` and `exo-vision blot` output folders from small generated inputs.

    Running both CLIs takes ~6 s on an idle 2-core machine (much more when shared), so the
    tests that use this fixture are marked slow.
    """
    root = tmp_path_factory.mktemp("report")
    inputs = root / "inputs"
    inputs.mkdir()
    for seed in (1, 2):
        image, _ = make_synthetic_tem((256, 256), pixel_size_nm=2.0, difficulty="easy", n_vesicles=10, rng=seed)
        tifffile.imwrite(inputs / f"grid_a_{seed}.tif", image)
    blot = make_marker_panel(rng=0)
    tifffile.imwrite(inputs / "panel.tif", blot.image)
    (inputs / "panel.toml").write_text(PANEL_TOML, encoding="utf-8")
    (inputs / "grid_a_3.tif").write_bytes(b"not a TIFF")  # one failed input: the report must say so
    tem_dir, blot_dir = root / "tem_grid_a", root / "blot"
    assert (
        main(
            [
                "tem",
                str(inputs / "grid_a_1.tif"),
                str(inputs / "grid_a_2.tif"),
                str(inputs / "grid_a_3.tif"),
                "--pixel-size-nm",
                "2.0",
                "--workers",
                "1",
                "--out",
                str(tem_dir),
            ]
        )
        == 1
    )
    assert main(["blot", "--panel", str(inputs / "panel.toml"), "--out", str(blot_dir)]) == 0
    report = root / "report.html"
    assert (
        main(
            [
                "report",
                "--tem",
                str(tem_dir),
                "--blot",
                str(blot_dir),
                "--dls",
                DLS,
                "--zeta",
                "-23.5",
                "--protein",
                "ug_per_ml=850,method=BCA",
                "--title",
                "Test prep",
                "--out",
                str(report),
            ]
        )
        == 0
    )
    return {"root": root, "tem": tem_dir, "blot": blot_dir, "report": report}


def _pooled(tem_dir: Path) -> pd.Series:
    summary = pd.read_csv(tem_dir / "summary.csv")
    return summary.loc[summary["image"] == "pooled"].iloc[0]


def _only(values: dict, key: str) -> tuple[str | None, str]:
    """The (data-value, text) of a key; every occurrence on the page must agree."""
    assert key in values, f"{key} missing from the report"
    shown = {(value, text.split()[0] if text else text) for value, text in values[key]}
    assert len(shown) == 1, f"{key} shown with different values: {values[key]}"
    return values[key][0]


@pytest.mark.slow
def test_report_numbers_equal_summary_and_panel(outputs):
    page = outputs["report"].read_text(encoding="utf-8")
    parsed = _parse(page)
    pooled = _pooled(outputs["tem"])
    assert pooled["n"] >= 5  # the fixture must give a real distribution

    value, text = _only(parsed.values, "tem.n")
    assert int(value) == int(pooled["n"]) and text == str(int(pooled["n"]))
    for key in ("mean_diameter_nm", "sd_diameter_nm", "intensity_weighted_mean_diameter_nm", "d50_nm"):
        value, text = _only(parsed.values, f"tem.{key}")
        # recomputed from the vesicle table; summary.csv holds 12 significant digits
        assert float(value) == pytest.approx(pooled[key], rel=1e-10)
        assert text.split()[0] == f"{pooled[key]:.1f}"
    value, _ = _only(parsed.values, "tem.pdi")
    assert float(value) == pytest.approx(pooled["pdi"], rel=1e-10)
    # The headline count is the counted vesicles; the sentence says how many were outlined with the border ones.
    outlined = int(pooled["n"] + pooled["n_excluded_border"])
    assert f"{outlined} vesicles outlined; " in page and "Vesicles counted" in page
    assert int(_only(parsed.values, "tem.n_images")[0]) == 2
    assert int(_only(parsed.values, "tem.n_grids")[0]) == 1
    assert "1 input(s) failed and are not in the statistics" in page and "grid_a_3.tif" in page

    summary = pd.read_csv(outputs["blot"] / "panel_summary.csv")
    panel = pd.read_csv(outputs["blot"] / "panel.csv")
    assert _only(parsed.values, "blot.verdict")[1] == "CD9+ CD63+ calnexin\u2212" == verdict_text(summary)
    assert _only(parsed.values, "blot.pass")[1] == "PASS"
    calnexin_ev = panel.loc[(panel["marker"] == "calnexin") & ~panel["is_reference"]]
    bound = calnexin_ev["ratio_upper_bound"].max()
    value, text = _only(parsed.values, "blot.calnexin_upper_bound")
    assert float(value) == bound and text == f"{100 * bound:.2f} %"
    assert "Calnexin was not detected in exo1, exo2" in page

    assert float(_only(parsed.values, "dls.z_avg_nm")[0]) == 121.3
    assert float(_only(parsed.values, "dls.pdi")[0]) == 0.21
    # the Z-average is the intensity-weighted harmonic mean: sum d^6 / sum d^5 of the counted vesicles
    vesicles = pd.read_csv(outputs["tem"] / "vesicles.csv")
    d = vesicles.loc[~vesicles["touches_border"], "equivalent_diameter_nm"].to_numpy()
    z_equivalent = float((d**6).sum() / (d**5).sum())
    assert float(_only(parsed.values, "tem.z_average_equivalent_nm")[0]) == pytest.approx(z_equivalent)
    ratio = float(_only(parsed.values, "dls.ratio_to_tem_z_average")[0])
    assert ratio == pytest.approx(121.3 / z_equivalent)
    assert float(_only(parsed.values, "zeta.mean_mv")[0]) == -23.5
    assert float(_only(parsed.values, "protein.ug_per_ml")[0]) == 850.0

    # Provenance: every input checksum recorded by the TEM run is on the page.
    import json

    run = json.loads((outputs["tem"] / "run.json").read_text())
    for record in run["images"]:
        assert record["input_sha256"] in page
    assert "scikit-image" in page and run["software"]["numpy"] in page
    machine = run["machine"]
    assert f"{machine['logical_processors_count']} logical processors" in page
    assert ", ".join(machine["processor_features"]) in page


@pytest.mark.slow
def test_report_is_self_contained(outputs):
    page = outputs["report"].read_text(encoding="utf-8")
    parsed = _parse(page)
    # wide field, close-up, two histograms, panel chart, annotated blot
    assert len(parsed.srcs) == 6
    assert all(src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for src in parsed.srcs)
    assert not parsed.tags & {"script", "link", "iframe", "object"}
    assert not parsed.hrefs
    assert "http://" not in page and "https://" not in page and "@import" not in page and "url(" not in page


@pytest.mark.slow
def test_the_wide_field_caption_gives_the_micrograph_not_its_enlarged_overlay(outputs):
    """The 256 px inputs' overlays are drawn 4x enlarged; the caption and close-up keep the micrograph's scale."""
    from PIL import Image

    overlay = next(outputs["tem"].glob("grid_a_*_overlay.png"))
    width, height = Image.open(overlay).size
    assert width == 1024 and height >= 1024  # rows below 1024: the legend strip, when no corner was free
    page = outputs["report"].read_text(encoding="utf-8")
    assert "256 × 256 px at 2 nm/px (0.51 × 0.51 µm)" in page
    width_nm = float(re.search(r"Close-up: (\d+) nm wide", page).group(1))
    assert 0 < width_nm <= 512


@pytest.mark.slow
def test_missing_blot_and_blot_without_panel_say_not_provided(outputs, tmp_path):
    page = build_report(tem_dirs=[outputs["tem"]])
    assert "Western blot: not provided." in page and "DLS: not provided." in page
    assert "blot.verdict" not in page

    no_panel = tmp_path / "blot_no_panel"
    shutil.copytree(outputs["blot"], no_panel)
    for name in ("panel.csv", "panel_summary.csv", "panel.png", "panel.svg"):
        (no_panel / name).unlink()
    page = build_report(tem_dirs=[outputs["tem"]], blot_dir=no_panel)
    assert "Marker panel: not provided." in page and "panel_annotated" not in page.split("Marker panel")[0]
    assert 'alt="annotated blot panel"' in page  # the quantified blot is still shown

    page = build_report(blot_dir=outputs["blot"])
    assert "TEM: not provided." in page and 'data-key="blot.verdict"' in page


@pytest.mark.slow
def test_folders_that_are_not_exo_vision_outputs_are_refused(outputs, tmp_path, caplog):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "r.html"
    assert main(["report", "--tem", str(empty), "--out", str(out)]) == 2
    assert f"--tem {empty}: not an exo-vision output folder (no run.json)" in caplog.text
    assert not out.exists()
    caplog.clear()
    assert main(["report", "--tem", str(outputs["blot"]), "--out", str(out)]) == 2
    assert "this is an `exo-vision blot` output folder; pass it with --blot" in caplog.text
    caplog.clear()
    assert main(["report", "--tem", str(outputs["tem"]), "--blot", str(outputs["tem"]), "--out", str(out)]) == 2
    assert "pass it with --tem" in caplog.text
    caplog.clear()
    assert main(["report", "--tem", str(outputs["tem"]), "--tem", str(outputs["tem"]), "--out", str(out)]) == 2
    assert "is given twice" in caplog.text
    caplog.clear()
    assert main(["report", "--tem", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "folder not found" in caplog.text
    caplog.clear()
    assert main(["report", "--tem", str(outputs["tem"]), "--dls", "z_avg_nm=12l", "--out", str(out)]) == 2
    assert "--dls 'z_avg_nm=12l': z_avg_nm='12l' is not a number" in caplog.text
    caplog.clear()
    assert main(["report", "--tem", str(outputs["tem"]), "--out", str(tmp_path / "r.pdf")]) == 2
    assert "ending in .html" in caplog.text
    assert not out.exists()


def test_one_blot_run_given_from_two_folders_is_refused_as_no_replicate(outputs, tmp_path, caplog):
    """blot50 M4: a copied blot folder (same image, same checksum) was reported as a second replicate membrane."""
    copy = tmp_path / "blot_copy"
    shutil.copytree(outputs["blot"], copy)
    out = tmp_path / "r.html"
    assert main(["report", "--blot", str(outputs["blot"]), "--blot", str(copy), "--out", str(out)]) == 2
    digest = json.loads((copy / "run.json").read_text())["images"][0]["input_sha256"]
    assert f"--blot {outputs['blot']} and --blot {copy} quantify the same image" in caplog.text
    assert "panel.tif" in caplog.text and digest[:12] in caplog.text
    assert "not a replicate" in caplog.text and not out.exists()


@pytest.mark.slow
def _as_other_micrographs(folder: Path) -> None:
    """Make a copied grid folder's run.json record other checksums: its images become other micrographs."""
    path = folder / "run.json"
    run = json.loads(path.read_text(encoding="utf-8"))
    for record in run["images"]:
        for key in ("input_sha256", "pixels_sha256"):
            if record.get(key):
                record[key] = record[key][::-1]
    path.write_text(json.dumps(run), encoding="utf-8")


def test_two_grids_pool_their_vesicles(outputs, tmp_path):
    # A grid with the same vesicles under other checksums: twice the vesicles, the same mean and weighted means.
    twin = tmp_path / "tem_grid_b"
    shutil.copytree(outputs["tem"], twin)
    _as_other_micrographs(twin)
    tem = collect_tem([outputs["tem"], twin])
    pooled = _pooled(outputs["tem"])
    assert [g.name for g in tem.grids] == ["tem_grid_a", "tem_grid_b"]
    assert tem.statistics["n"] == 2 * pooled["n"]
    assert tem.statistics["n_excluded_border"] == 2 * pooled["n_excluded_border"]
    for key in ("mean_diameter_nm", "median_diameter_nm", "intensity_weighted_mean_diameter_nm"):
        # summary.csv holds 12 significant digits: a re-computed value may differ by a few units in the 12th
        assert tem.statistics[key] == pytest.approx(pooled[key], rel=1e-10)
    assert tem.statistics["vesicles_per_um2"] == pytest.approx(pooled["vesicles_per_um2"], rel=1e-9)
    assert tem.n_images == 4 and tem.n_failed == 2 and len(tem.images) == 6
    page = build_report(tem_dirs=[outputs["tem"], twin])
    values = _parse(page).values
    assert int(_only(values, "tem.n_grids")[0]) == 2 and int(_only(values, "tem.n")[0]) == 2 * pooled["n"]

    same_name = tmp_path / "x" / "tem_grid_a"
    shutil.copytree(outputs["tem"], same_name)
    assert [g.name for g in collect_tem([outputs["tem"], same_name]).grids] == ["tem_grid_a-1", "tem_grid_a-2"]


def test_a_micrograph_analysed_into_two_grid_folders_is_pooled_once_and_named(outputs, tmp_path):
    # The same two micrographs (same recorded sha256) in a second run: before, the report counted their
    # vesicles twice ("Vesicles counted 2n") and said nothing; now once, and the page names the copies.
    twin = tmp_path / "tem_grid_b"
    shutil.copytree(outputs["tem"], twin)
    pooled = _pooled(outputs["tem"])
    tem = collect_tem([outputs["tem"], twin])
    assert tem.statistics["n"] == pooled["n"]
    assert tem.statistics["n_excluded_border"] == pooled["n_excluded_border"]
    assert tem.statistics["vesicles_per_um2"] == pytest.approx(pooled["vesicles_per_um2"], rel=1e-9)
    assert tem.diameters_nm.size == pooled["n"]
    assert tem.copies[["grid", "image", "counted_grid", "counted_image", "same"]].values.tolist() == [
        ["tem_grid_b", f"grid_a_{i}", "tem_grid_a", f"grid_a_{i}", "identical bytes"] for i in (1, 2)
    ]
    outlined = int(pooled["n"] + pooled["n_excluded_border"])
    assert int(tem.copies["n_vesicles"].sum()) == outlined
    page = build_report(tem_dirs=[outputs["tem"], twin])
    values = _parse(page).values
    assert int(_only(values, "tem.n")[0]) == pooled["n"]
    assert int(_only(values, "tem.n_copies")[0]) == 2 and int(_only(values, "tem.n_copy_vesicles")[0]) == outlined
    text = re.sub(r"<[^>]+>", "", page)
    assert (
        "grid_a_1 (grid tem_grid_b) = grid_a_1 (grid tem_grid_a) (identical bytes); "
        "grid_a_2 (grid tem_grid_b) = grid_a_2 (grid tem_grid_a) (identical bytes)" in text
    )
    assert "2 of them across runs" in text and "each micrograph once (2 copied input(s) left out)" in text
    # the same pixels saved as other bytes (only pixels_sha256 and the pixel size agree) are one micrograph too
    run = json.loads((twin / "run.json").read_text(encoding="utf-8"))
    for record in run["images"]:
        if record.get("input_sha256"):
            record["input_sha256"] = record["input_sha256"][::-1]
    (twin / "run.json").write_text(json.dumps(run), encoding="utf-8")
    again = collect_tem([outputs["tem"], twin])
    assert again.statistics["n"] == pooled["n"]
    assert set(again.copies["same"]) == {"identical pixels and pixel size"}


def test_the_report_names_the_segmenter_and_its_model_checksum(outputs, tmp_path):
    import json

    from exo_vision.segmentation.api import model_summary

    shipped = model_summary("unet")
    tem = collect_tem([outputs["tem"]])
    done = tem.images.loc[tem.images["status"] == "done"]
    assert set(done["segmenter"]) == {f"unet, model {shipped['name']} {shipped['version']}"}
    assert set(done["model_sha256"]) == {shipped["sha256"]}
    page = build_report(tem_dirs=[outputs["tem"]])
    assert f"Segmentation: method unet, model {shipped['name']} {shipped['version']}: 2 image(s)" in page
    assert page.count(shipped["sha256"]) == 1  # the provenance table; the failed input has no segmenter
    assert "may not be comparable" not in page

    # a second grid outlined by the classical method: both named, and the mix flagged
    other = tmp_path / "tem_grid_c"
    shutil.copytree(outputs["tem"], other)
    run = json.loads((other / "run.json").read_text(encoding="utf-8"))
    for record in run["images"]:
        if "segmenter" in record:
            record["segmenter"] = {"method": "classical", "model": None}
    (other / "run.json").write_text(json.dumps(run), encoding="utf-8")
    page = build_report(tem_dirs=[outputs["tem"], other])
    assert "method unet, model" in page and "method classical: 2 image(s)" in page
    assert "may not be comparable" in page


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("z_avg_nm=121.3,sd_nm=23.7,pdi=0.21", "dls", {"z_avg_nm": 121.3, "sd_nm": 23.7, "pdi": 0.21}),
        (" 98.5 , pdi = 0.1 ", "dls", {"z_avg_nm": 98.5, "pdi": 0.1}),
        ("-23.5", "zeta", {"mean_mv": -23.5}),
        ("ug_per_ml=850,method=BCA", "protein", {"ug_per_ml": 850.0, "method": "BCA"}),
    ],
)
def test_instrument_values_parse(text, kind, expected):
    assert parse_instrument_values(text, kind=kind) == expected


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("z_avg=121", "dls", "unknown key 'z_avg'; use z_avg_nm, sd_nm, pdi, instrument"),
        ("z_avg_nm=121,z_avg_nm=130", "dls", "key 'z_avg_nm' given twice"),
        ("z_avg_nm=121 nm", "dls", "z_avg_nm='121 nm' is not a number"),
        ("z_avg_nm=121,pdi=1.5", "dls", "pdi=1.5 is outside the valid range 0 to 1"),
        ("pdi=0.2", "dls", "z_avg_nm (Z-average diameter (nm)) is required"),
        ("", "zeta", "--zeta is empty"),
        ("mean_mv=nan", "zeta", "must be a finite number"),
        ("850,BCA", "protein", "item 'BCA' is not key=value"),
        ("ug_per_ml=-3", "protein", "outside the valid range"),
    ],
)
def test_instrument_values_refused_with_a_clear_message(text, kind, message):
    with pytest.raises(ValueError, match=None) as err:
        parse_instrument_values(text, kind=kind)
    assert message in str(err.value)


def test_close_up_centres_on_the_crowded_group():
    # Four 40 nm vesicles 60 nm apart around (300, 300) nm, one far away, one touching the border.
    px = 2.0
    table = pd.DataFrame(
        {
            "label": [1, 2, 3, 4, 5, 6],
            "centroid_x_nm": [300.0, 360.0, 300.0, 360.0, 1500.0, 5.0],
            "centroid_y_nm": [300.0, 300.0, 360.0, 360.0, 1500.0, 300.0],
            "equivalent_diameter_nm": [40.0] * 6,
            "touches_border": [False, False, False, False, False, True],
        }
    )
    close = choose_close_up(table, image_shape=(1000, 1000), pixel_size_nm=px)
    assert sorted(close.labels) == [1, 2, 3, 4]
    r0, c0, r1, c1 = close.box_px
    assert r1 - r0 == c1 - c0  # square
    # Encloses the group with a margin of one radius: x from (300-20-20)/2 = 130 px to (360+20+20)/2 = 200 px.
    assert (r0, c0, r1, c1) == (130, 130, 200, 200)
    assert close.width_nm == 70 * px
    assert choose_close_up(table.iloc[5:], image_shape=(1000, 1000), pixel_size_nm=px) is None


def test_verdict_and_calnexin_bound_from_hand_built_tables():
    summary = pd.DataFrame(
        {"marker": ["calnexin", "CD63", "CD9", "TSG101"], "n_ev_lanes": [2, 2, 2, 2], "n_ev_present": [1, 2, 2, 0]}
    )
    assert verdict_text(summary) == "CD9+ CD63+ calnexin\u00b1 TSG101\u2212"
    panel = pd.DataFrame(
        {
            "marker": ["calnexin", "calnexin", "calnexin", "CD9"],
            "lane_name": ["lysate", "exo1", "exo2", "exo1"],
            "is_reference": [True, False, False, False],
            "present": [True, False, False, False],
            "ratio_upper_bound": [np.nan, 0.004, 0.007, 0.5],
        }
    )
    assert calnexin_bound(panel) == (0.007, ["exo1", "exo2"])
    assert calnexin_bound(panel.assign(present=True)) is None


def _blot_evidence(tmp_path: Path, *, calnexin_in_ev: bool) -> BlotEvidence:
    """A hand-built blot panel: CD9/CD63 in both EV lanes; calnexin in the lysate and, optionally, in exo1."""
    rows = []
    for marker in ("CD9", "CD63", "calnexin"):
        for lane in ("lysate", "exo1", "exo2"):
            present = marker != "calnexin" or lane == "lysate" or (calnexin_in_ev and lane == "exo1")
            ref = lane == "lysate"
            rows.append(
                {
                    "label": len(rows) + 1,
                    "marker": marker,
                    "lane_name": lane,
                    "is_reference": ref,
                    "ug_loaded": np.nan,
                    "volume": 1e5 if present else 10.0,
                    "lod_volume": 1e3,
                    "present": present,
                    "saturated": False,
                    "volume_per_ug": np.nan,
                    "ratio_to_reference": 1.0 if present else np.nan,
                    "ratio_upper_bound": np.nan if present else 0.01,
                    "statement": "",
                }
            )
    panel = pd.DataFrame(rows)
    summary = pd.DataFrame(
        {
            "label": [1, 2, 3],
            "marker": ["CD9", "CD63", "calnexin"],
            "expected_in_ev": ["present", "present", "absent"],
            "n_ev_lanes": [2, 2, 2],
            "n_ev_present": [2, 2, 1 if calnexin_in_ev else 0],
            "present_in_reference": [True, True, True],
            "ratio_mean": [1.0, 1.0, np.nan],
            "ratio_sd": [0.0, 0.0, np.nan],
            "ratio_cv": [0.0, 0.0, np.nan],
            "ratio_ci95_low": [1.0, 1.0, np.nan],
            "ratio_ci95_high": [1.0, 1.0, np.nan],
            "verdict": ["pass", "pass", "fail" if calnexin_in_ev else "pass"],
            "reason": ["", "", ""],
        }
    )
    return BlotEvidence(
        path=tmp_path,
        run={"command": "exo-vision blot", "parameters": {}},
        bands=pd.DataFrame(),
        annotated={},
        panel=panel,
        panel_summary=summary,
        panel_figure=None,
        inputs=pd.DataFrame(columns=["input", "sha256"]),
    )


def test_blot_verdict_fail_and_calnexin_in_ev_lane_are_stated(tmp_path):
    page = render_report(
        ReportInputs(
            tem=None,
            blot=_blot_evidence(tmp_path, calnexin_in_ev=True),
            instruments=InstrumentValues(dls={"z_avg_nm": 110.0}),
        )
    )
    values = _parse(page).values
    assert _only(values, "blot.verdict")[1] == "CD9+ CD63+ calnexin±"
    assert _only(values, "blot.pass")[1] == "FAIL"
    assert "Calnexin was detected in exo1" in page and "Calnexin was not detected in exo2" in page
    assert "TEM: not provided." in page and _only(values, "dls.z_avg_nm")[1].split()[0] == "110.0"

    page = render_report(
        ReportInputs(
            tem=None, blot=_blot_evidence(tmp_path, calnexin_in_ev=False), title="<script>alert(1)</script> & co"
        )
    )
    values = _parse(page).values
    assert _only(values, "blot.pass")[1] == "PASS"
    assert float(_only(values, "blot.calnexin_upper_bound")[0]) == 0.01
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page


def _render_blot(evidence: BlotEvidence) -> str:
    return render_report(ReportInputs(tem=None, blot=evidence))


def test_an_inconclusive_calnexin_is_not_headlined_negative(tmp_path):
    """Before: "CD9+ CD63+ calnexin−" beside FAIL, and the 376 % bound quoted as if it showed absence."""
    evidence = _blot_evidence(tmp_path, calnexin_in_ev=False)
    panel, summary = evidence.panel, evidence.panel_summary
    panel.loc[(panel.marker == "calnexin") & ~panel.is_reference, "ratio_upper_bound"] = 3.76
    summary.loc[summary.marker == "calnexin", "verdict"] = "fail"
    evidence.run["panel_verdict"] = {"pass": False}
    page = _render_blot(evidence)
    assert _only(_parse(page).values, "blot.verdict")[1] == "CD9+ CD63+ calnexin?"
    assert "Calnexin was not detected in exo1, exo2, but that proves no depletion" in page
    assert 'data-value="3.76">376.00 %</span> of the lysate signal there (95 % upper bound; inconclusive' in page


def test_saturated_bands_make_lower_or_upper_bounds_as_the_band_says(tmp_path):
    """Before: 'ratios are lower bounds' also when the lysate band, the divisor, was the saturated one."""
    evidence = _blot_evidence(tmp_path, calnexin_in_ev=False)
    panel = evidence.panel
    panel.loc[(panel.marker == "CD9") & panel.is_reference, "saturated"] = True
    panel.loc[(panel.marker == "CD63") & (panel.lane_name == "exo1"), "saturated"] = True
    page = _render_blot(evidence)
    assert "The lysate band of CD9 is saturated: its volume reads low, so every EV/lysate ratio" in page
    assert "Saturated bands (CD63 in exo1): their volumes, and their ratios to the lysate, are lower bounds" in page
    assert '<td class="r">≤ 1.00</td>' in page and '<td class="r">≥ 1.00</td>' in page
    panel.loc[(panel.marker == "CD9") & (panel.lane_name == "exo2"), "saturated"] = (
        True  # clipped over a clipped lysate
    )
    page = _render_blot(evidence)
    assert '<td class="r">1.00? (both saturated: undetermined)</td>' in page


def test_the_marker_table_shows_the_geometric_mean_its_interval_and_n(tmp_path):
    evidence = _blot_evidence(tmp_path, calnexin_in_ev=False)
    summary = evidence.panel_summary
    summary["n_ratios"] = [2, 2, 0]
    summary["ratio_geomean"] = [4.916, 5.1, np.nan]
    summary.loc[0, ["ratio_mean", "ratio_sd", "ratio_ci95_low", "ratio_ci95_high"]] = [5.05, 1.64, 0.2502, 96.57]
    page = _render_blot(evidence)
    assert "EV/lysate ratio: geometric mean (95 % CI), n" in page
    assert "4.92 (0.25–96.57), n = 2" in page and "5.05 ± 1.64" in page
    # an older blot run wrote no geometric mean: said as such, not as a censored replicate
    evidence.panel_summary = summary.drop(columns=["ratio_geomean", "n_ratios"])
    assert "not recorded (a blot run older than it: re-run exo-vision blot)" in _render_blot(evidence)


@pytest.mark.parametrize(
    ("n_ratios", "said", "not_said"),
    [
        ([2, 2, 0], "with two lanes (n = 2) it is wide", "no interval"),
        ([4, 4, 0], "with n = 4 lanes it rests on 3 degrees of freedom", "wide"),
        ([1, 1, 0], "one lane's ratio (n = 1) gives no interval", "wide"),
    ],
)
def test_the_interval_note_says_what_n_gives_and_wide_only_for_two_lanes(tmp_path, n_ratios, said, not_said):
    """blot50 L2: "with two lanes it is wide" was printed under every blot, n = 4 and n = 1 alike."""
    evidence = _blot_evidence(tmp_path, calnexin_in_ev=False)
    evidence.panel_summary["n_ratios"] = n_ratios
    evidence.panel_summary["ratio_geomean"] = [1.0, 1.0, np.nan]
    page = _render_blot(evidence)
    note = page[page.index("The 95 % CI is t-based") :]
    note = note[: note.index("</p>")]
    assert said in note and not_said not in note


def test_the_blot_run_provenance_gives_its_command_versions_and_lock(tmp_path):
    evidence = _blot_evidence(tmp_path, calnexin_in_ev=False)
    evidence.run.update(
        argv=["exo-vision", "blot", "--panel", "p.toml"],
        software={"numpy": "2.3.5"},
        environment_lock={"locked": False, "differences": ["numpy"]},
    )
    page = _render_blot(evidence)
    assert "exo-vision blot --panel p.toml" in page and "numpy 2.3.5" in page
    assert "Installed versions (blot run): not the locked set (1 package(s) differ)" in page
    evidence.run.update(environment_lock={"lock_file": None, "locked": None, "differences": []})
    assert "Installed versions (blot run): not known: the installation had no lock file" in _render_blot(evidence)
    evidence.run.update(environment_lock={"locked": True, "differences": [], "not_installed": ["torch", "pytest"]})
    page = _render_blot(evidence)
    assert "the locked set (requirements/lock.txt); 2 locked package(s) of extras not installed" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(outputs, tmp_path):
    from PIL import Image

    url = outputs["report"].resolve().as_uri()
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    pooled = _pooled(outputs["tem"])
    parsed = _parse(dom)
    assert _only(parsed.values, "tem.n")[1] == str(int(pooled["n"]))
    assert _only(parsed.values, "tem.mean_diameter_nm")[1] == f"{pooled['mean_diameter_nm']:.1f}"
    assert _only(parsed.values, "tem.intensity_weighted_mean_diameter_nm")[1].split()[0] == (
        f"{pooled['intensity_weighted_mean_diameter_nm']:.1f}"
    )
    assert _only(parsed.values, "blot.verdict")[1] == "CD9+ CD63+ calnexin\u2212"
    assert _only(parsed.values, "dls.z_avg_nm")[1].split()[0] == "121.3"

    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1280,4000",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (4000, 1280)
    # Not blank: text and micrographs cover a good part of the page, and the page has real contrast.
    assert (pixels < 200).mean() > 0.05
    assert pixels.std() > 30


@pytest.mark.slow
def test_report_cli_subprocess(outputs, tmp_path):
    out = tmp_path / "sub.html"
    done = subprocess.run(
        [sys.executable, "-m", "exo_vision.cli.main", "report", "--tem", str(outputs["tem"]), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"report written to {out}")
    assert 'data-key="tem.n"' in out.read_text(encoding="utf-8")


def test_a_grid_without_vesicles_says_why_instead_of_n_a_plus_minus_n_a(tmp_path):
    grid = tmp_path / "grid"
    grid.mkdir()
    noise = np.random.default_rng(1).normal(1000, 5, (256, 256)).astype(np.uint16)
    tifffile.imwrite(grid / "blank.tif", noise, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    out = tmp_path / "tem"
    assert main(["tem", str(grid), "--out", str(out), "--workers", "1"]) == 0
    page = render_report(ReportInputs(tem=collect_tem([out]), blot=None))
    assert "n/a ± n/a" not in page
    assert "No vesicle was counted, so there are no size statistics" in page and "no vesicle found:" in page


@pytest.mark.slow
def test_one_grid_statistics_come_from_its_vesicles_not_an_older_summary(outputs, tmp_path):
    # an older version's summary.csv keeps its own mode and density; the report recomputes them as now defined
    old = tmp_path / "tem_old"
    shutil.copytree(outputs["tem"], old)
    summary = pd.read_csv(old / "summary.csv")
    pooled_row = summary["image"] == "pooled"
    fresh = summary.loc[pooled_row].iloc[0]
    summary.loc[pooled_row, ["vesicles_per_um2", "mode_diameter_nm"]] = [0.77 * fresh["vesicles_per_um2"], 1.0]
    summary.to_csv(old / "summary.csv", index=False)
    tem = collect_tem([old])
    assert tem.statistics["vesicles_per_um2"] == pytest.approx(fresh["vesicles_per_um2"], rel=1e-9)
    assert tem.statistics["mode_diameter_nm"] == pytest.approx(fresh["mode_diameter_nm"], rel=1e-9)


@pytest.mark.parametrize("width_px", [183, 457, 1200])
def test_the_close_up_carries_a_scale_bar_of_its_own(width_px):
    """The close-up was a crop without a scale bar (its size only in the caption): every micrograph panel needs one."""
    from exo_vision.report.embed import CLOSE_UP_PX, CloseUp, close_up_rgb, close_up_scale_bar_nm

    rgb = np.full((2000, 2000, 3), 90, np.uint8)  # a grey overlay at 1 nm/px
    close = CloseUp(box_px=(100, 300, 100 + width_px, 300 + width_px), labels=[1], width_nm=float(width_px))
    out = close_up_rgb(rgb, close)
    assert out.shape == (CLOSE_UP_PX, CLOSE_UP_PX, 3)
    length_nm = close_up_scale_bar_nm(close)
    # a round value near a fifth of the field: 183 nm -> 50 nm, 457 nm -> 100 nm, 1200 nm -> 250 nm
    assert length_nm == {183: 50.0, 457: 100.0, 1200: 250.0}[width_px]
    white = np.all(out == 255, axis=2)
    longest = white.sum(axis=1).max()
    assert longest == round(length_nm / (close.width_nm / CLOSE_UP_PX))  # value / pixel size of the close-up
    bar_rows = np.nonzero(white.sum(axis=1) == longest)[0]
    assert bar_rows.min() > CLOSE_UP_PX * 0.9  # at the bottom
    assert white[: bar_rows.min() - 1].any()  # its label above it


@pytest.mark.parametrize(("shape", "width"), [((1471, 600), 261), ((897, 1122), 560), ((1648, 1200), 466)])
def test_annotated_blot_numbers_are_shown_at_least_9_css_px_tall(shape, width):
    """The 600 x 1471 px annotated blot was a 367 x 900 JPEG shown 300 px wide: its numbers were 4 px and blurred."""
    from exo_vision.figures.blot import LABEL_HEIGHT_FRACTION
    from exo_vision.report.html import annotated_blot_width_css

    assert annotated_blot_width_css(shape) == width  # 560 px wide, or 640 px tall
    shown_digit = LABEL_HEIGHT_FRACTION * max(shape) * width / shape[1]
    assert 9 <= shown_digit <= 12


@pytest.mark.slow
def test_the_annotated_blot_is_embedded_as_png_at_its_display_width(outputs):
    from exo_vision.report.html import annotated_blot_width_css

    page = outputs["report"].read_text(encoding="utf-8")
    found = re.search(r'<img alt="annotated blot [^"]*" src="data:image/(\w+);base64,[^"]*" width="(\d+)"', page)
    annotated = next(outputs["blot"].glob("*_annotated.png"))
    from PIL import Image

    with Image.open(annotated) as im:
        shape = (im.height, im.width)
    assert found.group(1) == "png" and int(found.group(2)) == annotated_blot_width_css(shape)


def test_vesicles_cut_by_pixels_without_a_value_are_named_as_such(tmp_path, nan_block_tem):
    """Before, the report said every vesicle left out touched the image border, the one a block of NaN pixels in
    the middle of the micrograph cut too, and the wide-field caption had no word for the teal outlines."""
    import json

    image, px, _ = nan_block_tem
    grid = tmp_path / "grid"
    grid.mkdir()
    tifffile.imwrite(grid / "p.tif", image, imagej=True, resolution=(1 / px, 1 / px), metadata={"unit": "nm"})
    out = tmp_path / "tem"
    assert main(["tem", str(grid), "--out", str(out), "--method", "classical", "--workers", "1"]) == 0
    vesicles = pd.read_csv(out / "vesicles.csv")
    assert vesicles["touches_missing"].sum() == 1 and vesicles["touches_border"].sum() >= 2

    page = render_report(ReportInputs(tem=collect_tem([out]), blot=None))
    parsed = _parse(page)
    assert parsed.values["tem.n_excluded_missing"] == [("1", "1")]
    assert (
        " of them, pixels without a value (NaN or infinite, as in the padding of an aligned or stitched "
        "micrograph) in p, and were excluded from the statistics"
    ) in page
    assert '<th class="r">Border or no value (excluded)</th>' in page
    caption = page.split("<figcaption>Wide field: ")[1].split("</figcaption>")[0]
    assert "</span>not counted (cut by the image edge or by pixels without a value); numbers are" in caption

    # a table of a run older than touches_missing: its run's warning still names the image, without a count
    vesicles.drop(columns="touches_missing").to_csv(out / "vesicles.csv", index=False)
    page = render_report(ReportInputs(tem=collect_tem([out]), blot=None))
    assert "tem.n_excluded_missing" not in page
    assert "touch the image border or pixels without a value (NaN or infinite" in page
    # and without that warning, the words of before
    run = json.loads((out / "run.json").read_text())
    run["images"][0]["warnings"] = [w for w in run["images"][0]["warnings"] if "touch pixels without" not in w]
    (out / "run.json").write_text(json.dumps(run))
    page = render_report(ReportInputs(tem=collect_tem([out]), blot=None))
    assert "without a value" not in page.split("<h2>Grids, images and vesicles</h2>")[1].split("</p>")[0]
    assert "touch the image border and were excluded from the statistics" in page
    assert "</span>not counted (cut by the image edge); numbers are" in page


def _grid_with_vesicles(outputs, tmp_path: Path, n: int) -> Path:
    """A copy of the fixture's grid whose vesicles.csv keeps its first ``n`` vesicles not cut by the edge."""
    folder = tmp_path / f"grid_{n}"
    shutil.copytree(outputs["tem"], folder)
    table = pd.read_csv(folder / "vesicles.csv")
    table = table.loc[~table["touches_border"].astype(bool)].head(n)
    table.to_csv(folder / "vesicles.csv", index=False)
    return folder


@pytest.mark.parametrize("n", [1, 2])
def test_few_vesicles_get_no_bootstrap_interval_and_one_no_mode_or_span(outputs, tmp_path, n):
    # before: n = 2 printed a "95 % CI" equal to the two diameters, n = 1 "Span 0.00" and a mode
    page = build_report(tem_dirs=[_grid_with_vesicles(outputs, tmp_path, n)])
    values = _parse(page).values
    assert int(_only(values, "tem.n")[0]) == n
    for key in ("tem.mean_ci95_low_nm", "tem.mean_ci95_high_nm", "tem.median_ci95_low_nm", "tem.median_ci95_high_nm"):
        assert key not in values
    text = re.sub(r"<[^>]+>", "", page)
    assert f"95 % CI of the mean (bootstrap)too few vesicles for an interval (n = {n}; at least 10)" in text
    assert ("tem.mode_diameter_nm" in values) == (n > 1) and ("tem.span" in values) == (n > 1)
    if n == 1:
        assert "Mode (KDE peak)none for one vesicle" in text and "Span (D90 − D10) / D50none for one vesicle" in text


def test_the_headline_says_how_many_flagged_split_pairs_the_statistics_hold(outputs, tmp_path):
    # before: "vesicles 1+2 touch along a cut ... may be one vesicle" stood only in the per-image Warnings column
    from exo_vision.tem_analysis import split_pairs_in, split_warnings

    yy, xx = np.mgrid[:64, :64]
    disk = (yy - 32) ** 2 + (xx - 32) ** 2 <= 20**2
    labels = np.where(disk, np.where(xx < 32, 1, 2), 0)
    assert split_pairs_in(split_warnings(labels, pixel_size_nm=1.0)) == [(1, 2)]

    folder = tmp_path / "grid"
    shutil.copytree(outputs["tem"], folder)
    table = pd.read_csv(folder / "vesicles.csv")
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    record = next(r for r in run["images"] if r.get("status") == "done")
    rows = table.loc[table["image"] == record["stem"]]
    inside = rows.loc[~rows["touches_border"].astype(bool), "label"].astype(int).tolist()
    edge = rows.loc[rows["touches_border"].astype(bool), "label"].astype(int).tolist()
    assert len(inside) >= 4 and edge
    text = split_warnings(labels, pixel_size_nm=1.0)[0].replace(
        "1+2", f"{inside[0]}+{inside[1]}, {inside[2]}+{inside[3]}, {inside[0]}+{edge[0]}, {inside[1]}+{inside[2]}"
    )
    record["warnings"] = [*(record.get("warnings") or []), text]
    record.pop("split_groups", None)  # a run.json written before the groups had a field of their own
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")

    tem = collect_tem([folder])
    # the third has a half cut by the edge; the fourth joins two vesicles of other pairs
    assert tem.split_pairs["counted"].tolist() == [True, True, False, True]
    assert tem.n_split_pairs_counted == 3
    page = build_report(tem_dirs=[folder])
    values = _parse(page).values
    assert int(_only(values, "tem.n_split_pairs")[0]) == 3
    text = re.sub(r"<[^>]+>", "", page)
    assert "including 3 flagged group(s) that may each be one vesicle cut in pieces" in text
    n = int(_only(values, "tem.n")[0])
    assert f"The pooled statistics include 3 group(s) of touching vesicles (4 of the {n} counted)" in text
    assert f"({record['stem']}: {inside[0]}+{inside[1]}; {record['stem']}: {inside[2]}+{inside[3]};" in text
    # the numbers themselves are as measured (a method choice left to the user)
    assert tem.statistics["n"] == collect_tem([outputs["tem"]]).statistics["n"]


def test_the_report_reads_split_groups_from_their_own_field_before_the_warning_text(outputs, tmp_path):
    # before: the pairs were parsed back from the warning's words only (a reworded warning lost them)
    folder = tmp_path / "grid"
    shutil.copytree(outputs["tem"], folder)
    table = pd.read_csv(folder / "vesicles.csv")
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    done = [r for r in run["images"] if r.get("status") == "done"]
    assert all(r["split_groups"] == [] for r in done)  # every analysed image records its groups, none here
    record = done[0]
    rows = table.loc[(table["image"] == record["stem"]) & ~table["touches_border"].astype(bool)]
    a, b, c = rows["label"].astype(int).tolist()[:3]
    record["split_groups"] = [[a, b], [b, "x"], [c], [a, b, c], [c, 10**6]]  # malformed entries are left out
    # words that name other pairs, or a warning reworded by another version, change nothing
    record["warnings"] = [
        *(record.get("warnings") or []),
        f"vesicles {a}+{c} touch along a cut and together form one round, convex outline: ...",
    ]
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    tem = collect_tem([folder])
    assert tem.split_pairs[["labels", "counted"]].values.tolist() == [
        [f"{a}+{b}", True],
        [f"{a}+{b}+{c}", True],
        [f"{c}+{10**6}", False],
    ]
    assert tem.n_split_pairs_counted == 2


def test_every_exclusion_is_named_with_its_count_and_the_size_cut_flagged(outputs, tmp_path):
    # before: only the edge exclusions were named; objects removed by --min-diameter-nm, low confidence or the
    # scale bar never reached the page, and "Fraction in 30-150 nm" did not say it came after a 60 nm cut
    folder = tmp_path / "grid"
    shutil.copytree(outputs["tem"], folder)
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    run["parameters"]["min_diameter_nm"] = 60.0
    done = [r for r in run["images"] if r.get("status") == "done"]
    done[0]["rejected_by_reason"] = {
        "smaller than min_diameter_nm": 2,
        "on the scale bar, its label or the data strip": 1,
    }
    done[1]["rejected_by_reason"] = {"smaller than min_diameter_nm": 1}
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    tem = collect_tem([folder])
    assert tem.rejected_by_reason == {
        "smaller than min_diameter_nm": 3,
        "on the scale bar, its label or the data strip": 1,
    }
    page = build_report(tem_dirs=[folder])
    assert int(_only(_parse(page).values, "tem.n_rejected")[0]) == 4
    text = re.sub(r"<[^>]+>", "", page)
    assert (
        "the runs rejected 4 candidate object(s) before measuring, so they are in none of the numbers: "
        "3 smaller than min_diameter_nm (60 nm); 1 on the scale bar, its label or the data strip." in text
    )
    assert "The size limits cut inside 30–150 nm: objects under min_diameter_nm = 60 nm were removed" in text
    assert "Fraction in 30–150 nm (of the counted vesicles, after the size limits 60–500 nm)" in text


def test_include_border_says_how_many_counted_sizes_the_edge_truncates(outputs, tmp_path):
    # before: "0 of them touch the image border and were excluded" while the edge-cut sizes were counted
    folder = tmp_path / "grid"
    shutil.copytree(outputs["tem"], folder)
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    run["parameters"]["exclude_border"] = False
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    table = pd.read_csv(folder / "vesicles.csv")
    cut = int(table["touches_border"].astype(bool).sum())
    assert cut > 0
    tem = collect_tem([folder])
    assert tem.n_edge_cut_counted == cut and tem.statistics["n"] == len(table)
    page = build_report(tem_dirs=[folder])
    assert int(_only(_parse(page).values, "tem.n_edge_cut_counted")[0]) == cut
    text = re.sub(r"<[^>]+>", "", page)
    assert (
        f"{len(table)} vesicles outlined, all counted: {cut} of them are cut by the image edge and are included "
        "(exo-vision tem --include-border), so their sizes are truncated" in text
    )
    assert "touch the image border and were excluded" not in text
    assert f"n = {len(table)}, {cut} of them cut by the image edge (--include-border: sizes truncated)" in text


def test_the_card_beside_the_dls_z_average_is_the_tem_z_average_equivalent(outputs):
    # before: the card beside "DLS Z-average" was the intensity-weighted arithmetic mean Σd⁷/Σd⁶ while the text
    # (rightly: a cumulant Z-average is the intensity-weighted harmonic mean) compared it with Σd⁶/Σd⁵
    page = outputs["report"].read_text(encoding="utf-8")
    cards = page[page.index('<div class="cards">') : page.index("<h2>")]
    assert "TEM Z-average equivalent (Σd⁶/Σd⁵)" in cards and "intensity-weighted mean" not in cards
    assert 'data-key="tem.z_average_equivalent_nm"' in cards and "tem.intensity_weighted" not in cards
    d = pd.read_csv(outputs["tem"] / "vesicles.csv")
    d = d.loc[~d["touches_border"].astype(bool), "equivalent_diameter_nm"].to_numpy()
    value, _ = _only(_parse(page).values, "tem.z_average_equivalent_nm")  # the card and the table agree
    assert float(value) == pytest.approx((d**6).sum() / (d**5).sum(), rel=1e-12)


def test_the_report_names_a_flagged_group_of_three_pieces(outputs, tmp_path):
    # before: the report read pairs only, so "5+6+7" (one cup cut in three) was left out of its note
    folder = tmp_path / "grid"
    shutil.copytree(outputs["tem"], folder)
    table = pd.read_csv(folder / "vesicles.csv")
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    record = next(r for r in run["images"] if r.get("status") == "done")
    rows = table.loc[table["image"] == record["stem"]]
    inside = rows.loc[~rows["touches_border"].astype(bool), "label"].astype(int).tolist()
    group = "+".join(str(k) for k in inside[:3])
    record["warnings"] = [
        *(record.get("warnings") or []),
        f"vesicles {group} (together 114 nm) touch along a cut and together form one round, convex outline: each",
    ]
    record["split_groups"] = [inside[:3]]
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    tem = collect_tem([folder])
    assert tem.split_pairs["labels"].tolist() == [group] and tem.n_split_pairs_counted == 1
    record.pop("split_groups")  # a run.json of an earlier version: the warning's words are read
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    assert collect_tem([folder]).split_pairs["labels"].tolist() == [group]
    text = re.sub(r"<[^>]+>", "", build_report(tem_dirs=[folder]))
    n = int(tem.statistics["n"])
    assert f"The pooled statistics include 1 group(s) of touching vesicles (3 of the {n} counted)" in text
    assert f"({record['stem']}: {group}; vesicle labels as in vesicles.csv)" in text


def test_a_file_calibration_the_scale_bar_contradicts_is_named_beside_the_pooled_statistics(tmp_path):
    """An image measured at its file's pixel size while its burnt-in bar says another is pooled into the headline
    numbers; the statistics section names it with both values, as it names split groups (facility51 F7: the
    report's top said nothing of a file tagged 1.6 nm/px whose bar says 0.8)."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    image, _ = make_synthetic_tem((512, 512), pixel_size_nm=0.8, difficulty="easy", n_vesicles=6, rng=4)
    tifffile.imwrite(inputs / "wrong.tif", image, imagej=True, resolution=(1 / 1.6, 1 / 1.6), metadata={"unit": "nm"})
    right, _ = make_synthetic_tem((512, 512), pixel_size_nm=0.8, difficulty="easy", n_vesicles=6, rng=5)
    tifffile.imwrite(inputs / "right.tif", right, imagej=True, resolution=(1 / 0.8, 1 / 0.8), metadata={"unit": "nm"})
    assert main(["tem", str(inputs), "--out", str(out), "--workers", "1"]) == 0
    records = {r["stem"]: r for r in json.loads((out / "run.json").read_text())["images"]}
    assert any("disagrees with the burnt-in scale bar" in w for w in records["wrong"]["warnings"])
    evidence = collect_tem([out])
    rows = evidence.calibration_conflicts
    assert rows["image"].tolist() == ["wrong"]  # before: no such attribute
    assert rows["file_pixel_size_nm"].iloc[0] == 1.6
    assert rows["bar_pixel_size_nm"].iloc[0] == pytest.approx(0.8, rel=0.01)
    page = (tmp_path / "r.html").resolve()
    assert main(["report", "--tem", str(out), "--out", str(page)]) == 0
    text = re.sub(r"<[^>]+>", "", page.read_text())
    statistics = text[text.index("Size statistics (TEM") :]
    assert "The pooled statistics include 1 image(s) whose file calibration disagrees with the scale bar" in statistics
    bar = rows["bar_pixel_size_nm"].iloc[0]
    assert f"wrong (file 1.6 nm/px, bar {bar:.4g} nm/px: at the bar's value its diameters would be" in statistics
    assert "right (file" not in statistics
