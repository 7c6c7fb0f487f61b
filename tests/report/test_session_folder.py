"""A napari grid session's output folder (no run.json) is read by `exo-vision report` and `histogram`, and the
report says per run whether a person reviewed the outlines (grid-session edits) or not (an automatic run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exo_vision.cli.main import main
from exo_vision.report.collect import collect_tem
from exo_vision.report.html import ReportInputs, render_report
from exo_vision.session.curation import edit_record
from exo_vision.session.grid import SESSION_FILE, GridSession
from tests._helpers import calibrated_grid, curated_as_analysed

PIXEL_SIZE_NM = 2.0
EDIT_TIME = "2026-01-01T00:00:00+00:00"


def _grid(tmp_path: Path, n: int) -> tuple[Path, Path]:
    return calibrated_grid(tmp_path, n, first_seed=70, pixel_size_nm=PIXEL_SIZE_NM)


def _save(session: GridSession, path: Path, *, delete_first: bool) -> int:
    """Analyse ``path`` and save it as the grid session does, deleting its first vesicle (one edit) or not."""
    image = session.read(path)
    result = session.analyse(image)
    labels, table, log = result.labels, result.table, []
    if delete_first:
        victim = int(table["label"].iloc[0])
        labels = np.where(labels == victim, 0, labels)
        table = table[table["label"] != victim].reset_index(drop=True)
        log = [{**edit_record("delete", victim), "time_utc": EDIT_TIME}]
    curated = curated_as_analysed(image, result, labels=labels, table=table, edit_log=log)
    session.save(path, curated)
    session.write_state()
    return len(table)


@pytest.fixture(scope="module")
def session_folder(tmp_path_factory) -> tuple[Path, Path, dict[str, int]]:
    """A finished grid session of two generated micrographs: g0 curated (one vesicle deleted), g1 saved as
    segmented. The session writes its per-image files and its session file, no run.json."""
    grid, out = _grid(tmp_path_factory.mktemp("session"), 2)
    session = GridSession.open(grid, out)
    counts = {}
    for index, path in enumerate(session.files):
        session.index = index
        counts[path.stem] = _save(session, path, delete_first=index == 0)
    assert (out / SESSION_FILE).is_file() and not (out / "run.json").exists()
    return grid, out, counts


@pytest.mark.slow
def test_the_report_reads_a_finished_grid_session_folder_and_says_what_a_person_curated(session_folder):
    _, out, counts = session_folder
    tem = collect_tem([out])  # refused before: "a run into it did not finish (it was stopped or failed)"
    assert tem.n_images == 2 and tem.n_failed == 0
    for stem in ("g0", "g1"):
        saved = pd.read_csv(out / f"{stem}_vesicles.csv")
        assert len(saved) == counts[stem]
        pooled = tem.grids[0].vesicles
        assert len(pooled.loc[pooled["image"] == stem]) == counts[stem]
        # the pooled statistics count each saved table's vesicles, border ones left out as the run's rule says
    kept = sum(
        int((~pd.read_csv(out / f"{s}_vesicles.csv")["touches_border"].astype(bool)).sum()) for s in ("g0", "g1")
    )
    assert tem.statistics["n"] == kept
    page = render_report(ReportInputs(tem=tem, blot=None))
    text = " ".join(page.split())
    assert "Outline review: 1 of 2 micrograph(s) curated by a person in the napari grid session (1 edit(s)" in text
    assert "1 saved from the grid session without an edit or a check mark (g1)" in text
    assert "outlines not reviewed by a person" not in text


@pytest.mark.slow
def test_report_and_histogram_commands_accept_a_finished_grid_session_folder(session_folder, tmp_path):
    _, out, _ = session_folder
    assert main(["report", "--tem", str(out), "--out", str(tmp_path / "r.html")]) == 0
    assert main(["histogram", str(out / "g0_vesicles.csv"), "--out", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").is_file()


@pytest.mark.slow
def test_a_grid_session_with_a_micrograph_not_saved_yet_is_named_with_the_fix(tmp_path):
    grid, out = _grid(tmp_path, 2)
    session = GridSession.open(grid, out)
    session.index = 0
    _save(session, session.files[0], delete_first=False)
    with pytest.raises(ValueError, match=r"has saved 1 of its 2 micrographs \(not saved: g1\.tif\).*--resume"):
        collect_tem([out])


@pytest.mark.slow
def test_an_automatic_run_says_its_outlines_were_not_reviewed(session_folder, tmp_path):
    grid, _, _ = session_folder
    out = tmp_path / "cli"
    assert main(["tem", str(grid / "g1.tif"), "--out", str(out), "--workers", "1"]) == 0
    page = " ".join(render_report(ReportInputs(tem=collect_tem([out]), blot=None)).split())
    assert (
        "Outline review: outlines not reviewed by a person (automatic segmentation; none of its 1 micrograph(s) "
        "was curated in the napari grid session)" in page
    )


@pytest.mark.slow
def test_the_resumed_cli_run_of_a_session_keeps_the_curation_in_the_report(session_folder, tmp_path):
    grid, out, _ = session_folder
    copy = tmp_path / "resumed"
    copy.mkdir()
    for path in out.iterdir():
        copy.joinpath(path.name).write_bytes(path.read_bytes())
    assert main(["tem", str(grid), "--out", str(copy), "--resume", "--workers", "1"]) == 0
    run = json.loads((copy / "run.json").read_text())
    assert run["n_skipped"] == 2
    page = " ".join(render_report(ReportInputs(tem=collect_tem([copy]), blot=None)).split())
    assert "1 of 2 micrograph(s) curated by a person in the napari grid session (1 edit(s)" in page
