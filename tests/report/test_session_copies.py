"""A napari grid session of a folder holding one micrograph three times (the 16-bit file, a renamed byte copy and
an 8-bit export) counts it once, as ``exo-vision tem`` does: in the session's own pooled table, in the report of
its folder (every number of the page) and in the histogram of its per-image tables.

Before, the session pooled every saved micrograph (the copies counted again), and the report and histogram of its
folder recognised only the byte copy: the done-markers held no pixels signature, so the 8-bit export was counted
twice.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.measure.tables import truth_values
from exo_vision.report.session_folder import read_session_folder
from exo_vision.report.table_copies import leave_out_copies
from exo_vision.session.grid import GridSession
from exo_vision.synthetic.tem import make_synthetic_tem
from tests._helpers import curated_as_analysed

PIXEL_SIZE_NM = 1.0
COPIES = ("m0_8bit", "m0_copy")


def _counted(table: pd.DataFrame) -> int:
    """Vesicles the pooled statistics count (those cut by the image edge left out, the session's default)."""
    return int((~truth_values(table["touches_border"])).sum()) if len(table) else 0


@pytest.fixture(scope="module")
def grid_with_copies(tmp_path_factory) -> Path:
    """m0 (16-bit), m0_copy (its bytes renamed), m0_8bit (its 8-bit export) and m1, an other micrograph."""
    grid = tmp_path_factory.mktemp("copies") / "grid"
    grid.mkdir()
    resolution = (1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM)
    for seed in (0, 1):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", n_vesicles=6, scale_bar=False, rng=seed
        )
        scaled = (image - image.min()) / (image.max() - image.min())
        raw = np.round(scaled * 60000 + 2000).astype(np.uint16)
        tifffile.imwrite(grid / f"m{seed}.tif", raw, imagej=True, resolution=resolution, metadata={"unit": "nm"})
        if seed == 0:
            export = (raw // 257).astype(np.uint8)
            tifffile.imwrite(grid / "m0_8bit.tif", export, imagej=True, resolution=resolution, metadata={"unit": "nm"})
    shutil.copy(grid / "m0.tif", grid / "m0_copy.tif")
    return grid


def _save_all(grid: Path, out: Path) -> GridSession:
    session = GridSession.open(grid, out)
    for index, path in enumerate(session.files):
        session.index = index
        image = session.read(path)
        result = session.analyse(image)
        curated = curated_as_analysed(image, result)
        session.save(path, curated)
    session.write_state()
    return session


@pytest.fixture(scope="module")
def saved_session(grid_with_copies, tmp_path_factory) -> tuple[GridSession, Path, int]:
    """The grid saved in a session, and the pooled n of `exo-vision tem` on the same grid."""
    base = tmp_path_factory.mktemp("runs")
    assert main(["tem", str(grid_with_copies), "--out", str(base / "tem"), "--workers", "1"]) == 0
    tem_n = _counted(pd.read_csv(base / "tem" / "vesicles.csv"))
    return _save_all(grid_with_copies, base / "session"), base / "session", tem_n


def test_the_session_records_pixels_signature_and_counts_each_micrograph_once(saved_session):
    session, out, tem_n = saved_session
    for stem in ("m0", *COPIES, "m1"):
        marker = json.loads((out / f"{stem}_done.json").read_text())
        assert marker["pixels_signature"].startswith("256x256:") and len(marker["pixels_sha256"]) == 64
    copies = session.copies()
    assert set(copies) == set(COPIES) and {first for first, _ in copies.values()} == {"m0"}
    assert "identical bytes" in copies["m0_copy"][1] and "another bit depth" in copies["m0_8bit"][1]
    per_stem = {stem: _counted(table) for stem, table in session.tables.items()}
    assert per_stem["m0_8bit"] > 0 and per_stem["m0_copy"] > 0
    pooled = session.pooled_table()
    assert pooled is not None and _counted(pooled) == per_stem["m0"] + per_stem["m1"] == tem_n
    assert "m0_copy = m0 (identical bytes)" in session.copies_text()


def test_report_and_histogram_of_the_session_folder_count_as_tem_does(saved_session, tmp_path):
    session, out, tem_n = saved_session
    run, summary, vesicles = read_session_folder(out)
    pooled_row = summary.loc[summary["image"] == "pooled"].iloc[0]
    assert int(pooled_row["n"]) == tem_n and _counted(vesicles) == tem_n
    assert set(summary.loc[summary["duplicate_of"] != "", "image"]) == set(COPIES)
    assert len(run["duplicate_images"]) == 1 and len(run["duplicate_images"][0]) == 3

    page = tmp_path / "report.html"
    assert main(["report", "--tem", str(out), "--out", str(page)]) == 0
    text = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
    counted = re.search(r"Vesicles counted\s+(\d+)", text)
    assert counted is not None and int(counted.group(1)) == tem_n  # before: the 8-bit export's vesicles again
    assert {int(n) for n in re.findall(r"\bn = (\d+)", text)} == {tem_n}
    assert "m0_8bit = m0" in text and "m0_copy = m0" in text

    # the per-image tables in name order (m0_8bit before m0): counted as the grid's first input, m0
    paths = sorted(out.glob("*_vesicles.csv"))
    left = leave_out_copies([(p, pd.read_csv(p)) for p in paths])
    assert sum(_counted(t) for _, t in left.tables) == tem_n and len(left.lines) == 2


def test_older_markers_without_a_signature_are_compared_on_their_input_files(saved_session, tmp_path):
    session, out, tem_n = saved_session
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for marker_path in old.glob("*_done.json"):
        marker = json.loads(marker_path.read_text())
        marker.pop("pixels_signature", None)
        marker.pop("pixels_sha256", None)
        marker_path.write_text(json.dumps(marker))
    paths = sorted(old.glob("*_vesicles.csv"))
    left = leave_out_copies([(p, pd.read_csv(p)) for p in paths])
    assert sum(_counted(t) for _, t in left.tables) == tem_n and len(left.lines) == 2
    _, summary, _ = read_session_folder(old)
    assert int(summary.loc[summary["image"] == "pooled", "n"].iloc[0]) == tem_n


def test_the_vesicles_said_left_out_are_those_the_pooled_n_loses(saved_session):
    """Before, "copies left out (N vesicles)" counted table rows, edge-cut ones included, which the pooled n (edge-cut
    vesicles left out) never counted: N was larger than what n lost."""
    session, out, tem_n = saved_session
    paths = sorted(out.glob("*_vesicles.csv"))
    tables = [(p, pd.read_csv(p)) for p in paths]
    left = leave_out_copies(tables)
    whole = sum(_counted(t) for _, t in tables)
    copies = {stem: pd.read_csv(out / f"{stem}_vesicles.csv") for stem in COPIES}
    rows = sum(len(t) for t in copies.values())
    assert left.n_vesicles == whole - tem_n == sum(_counted(t) for t in copies.values())
    assert left.n_outlined == rows > left.n_vesicles  # the fixture's copies hold edge-cut vesicles
    counted, outlined = _counted(copies["m0_copy"]), len(copies["m0_copy"])
    line = next(line for line in left.lines if "m0_copy.tif (" in line)
    assert line.endswith(
        f"its {counted} counted vesicle(s) left out ({outlined} outlined, the others cut by the image edge)"
    )


def test_a_condition_holding_only_a_copy_says_where_its_micrograph_is_counted(grid_with_copies, tmp_path, caplog):
    """Two grid sessions as two conditions, the second holding only a byte copy of a micrograph of the first: it
    is counted once, under the first condition (grid order). Before, the report's grid table gave the second its
    own vesicle count (which no pooled number holds) and the histogram dropped its group without a word; now both
    say that it holds only copies of micrographs counted under the first."""
    ctrl, ev = tmp_path / "ctrl", tmp_path / "ev"
    ctrl.mkdir()
    ev.mkdir()
    for name in ("m0.tif", "m1.tif"):
        shutil.copy(grid_with_copies / name, ctrl / name)
    shutil.copy(grid_with_copies / "m0.tif", ev / "m0_again.tif")
    _save_all(ctrl, tmp_path / "out_ctrl")
    _save_all(ev, tmp_path / "out_ev")

    page = tmp_path / "report.html"
    assert (
        main(["report", "--tem", str(tmp_path / "out_ctrl"), "--tem", str(tmp_path / "out_ev"), "--out", str(page)])
        == 0
    )
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")))
    assert "out_ev 1 0 none: it holds only copies of micrographs counted under grid out_ctrl – –" in text

    caplog.set_level("WARNING")
    figure = tmp_path / "h.svg"
    tables = [str(tmp_path / "out_ctrl"), str(tmp_path / "out_ev")]
    assert main(["histogram", *tables, "--out", str(figure)]) == 0
    assert "out_ev holds only copies of micrographs counted under out_ctrl" in caplog.text
    assert set(pd.read_csv(tmp_path / "h_bins.csv")["group"]) == {"out_ctrl"}

    paths = [tmp_path / "out_ctrl" / "m0_vesicles.csv", tmp_path / "out_ev" / "m0_again_vesicles.csv"]
    left = leave_out_copies([(p, pd.read_csv(p)) for p in paths])
    assert left.only_copies == {paths[1]: [paths[0]]}
