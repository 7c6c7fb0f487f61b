"""The GUI-free grid session driven alone (no viewer): open a grid of generated micrographs, analyse,
record a curation edit, save, resume from the output folder, and check the files and the edit log."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.batch.config import TemBatchConfig
from exo_vision.session.curation import EDIT_LOG_COLUMNS, CuratedResult, edit_log_table, edit_record
from exo_vision.session.grid import SESSION_FILE, GridSession, GridSettings
from exo_vision.synthetic.tem import make_synthetic_tem
from tests._helpers import calibrated_grid, curated_as_analysed

PIXEL_SIZE_NM = 2.0
EDIT_TIME = "2026-01-01T00:00:00+00:00"


def _grid(tmp_path: Path, n: int) -> tuple[Path, Path]:
    return calibrated_grid(tmp_path, n, first_seed=50, pixel_size_nm=PIXEL_SIZE_NM)


def _unedited(image, result) -> CuratedResult:
    """A micrograph's result saved as the model gave it (no edit), rejected candidates included."""
    return curated_as_analysed(image, result, rejected=result.rejected)


def _curate_by_deleting(session: GridSession, path: Path) -> tuple[CuratedResult, int]:
    """Analyse ``path`` and delete its first vesicle, as a user would in the Curation dock."""
    image = session.read(path)
    result = session.analyse(image)
    assert len(result.table) >= 2, "the generated micrograph should give several vesicles"
    victim = int(result.table["label"].iloc[0])
    labels = np.where(result.labels == victim, 0, result.labels)
    table = result.table[result.table["label"] != victim].reset_index(drop=True)
    edit = {**edit_record("delete", victim), "time_utc": EDIT_TIME}
    curated = curated_as_analysed(
        image,
        result,
        labels=labels,
        table=table,
        morphology_overrides={int(table["label"].iloc[0]): "cup"},
        edit_log=[edit],
    )
    return curated, victim


@pytest.mark.slow
def test_a_session_driven_without_a_viewer_saves_resumes_and_the_cli_keeps_it(tmp_path):
    from exo_vision.cli.main import main

    grid, out = _grid(tmp_path, 2)
    session = GridSession.open(grid, out)
    g0, g1 = session.files
    assert (session.start, session.index, session.resumed_done, session.tables) == (0, -1, None, {})

    session.index = 0
    session.write_state()
    curated, victim = _curate_by_deleting(session, g0)
    session.save(g0, curated)
    names = {p.name for p in out.iterdir()}
    assert {f"g0_{s}" for s in ("labels.tif", "vesicles.csv", "overlay.png", "done.json", "edits.csv")} <= names
    assert not any(n.startswith("g1_") for n in names) and not any(n.startswith(".exo-vision-tmp") for n in names)
    np.testing.assert_array_equal(tifffile.imread(out / "g0_labels.tif"), curated.labels)
    saved_table = pd.read_csv(out / "g0_vesicles.csv")
    assert victim not in set(saved_table["label"]) and len(saved_table) == len(curated.table)
    assert (out / "g0_edits.csv").read_text() == f"time_utc,action,label,detail\n{EDIT_TIME},delete,{victim},\n"
    kept = int(curated.table["label"].iloc[0])
    curation = json.loads((out / "g0_curation.json").read_text())
    assert curation == {
        "polarity": curated.polarity,
        "morphology_overrides": {str(kept): "cup"},
        "pixel_size_nm": PIXEL_SIZE_NM,
        "pixel_size_source": curated.image.pixel_size_source,
    }
    marker = json.loads((out / "g0_done.json").read_text())
    assert marker["curated_in_gui"] is True and marker["n_edits"] == 1
    assert marker["n_vesicles"] == len(curated.table)
    assert marker["parameters"] == TemBatchConfig().analysis_parameters()  # what the CLI records by default
    # the method and model that drew the labels before curation, as exo-vision tem records them
    assert marker["segmenter"] == curated.segmenter and marker["segmenter"]["method"] == "unet"
    assert len(marker["segmenter"]["model"]["sha256"]) == 64

    session.index = 1  # the user moves on; the session file says where they are
    session.write_state()
    state = json.loads((out / SESSION_FILE).read_text())
    assert (state["current"], state["done"]) == ("g1.tif", ["g0"])
    before = {p.name: p.read_bytes() for p in out.glob("g0_*")}

    resumed = GridSession.open(grid, out, GridSettings(min_diameter_nm=99.0))
    assert (resumed.start, resumed.resumed_done, set(resumed.tables)) == (1, 1, {"g0"})
    assert resumed.settings == GridSettings()  # the saved settings replace the ones passed in
    assert resumed.is_saved(g0) and not resumed.is_saved(g1)
    saved = resumed.load_saved(g0)
    np.testing.assert_array_equal(saved.labels, curated.labels)
    assert saved.edit_log == [{"time_utc": EDIT_TIME, "action": "delete", "label": victim, "detail": ""}]
    assert saved.morphology_overrides == {kept: "cup"} and saved.polarity == curated.polarity
    assert saved.parameters == marker["parameters"] and saved.pixel_size_nm == PIXEL_SIZE_NM
    assert saved.segmenter == marker["segmenter"]

    assert main(["tem", str(grid), "--out", str(out), "--resume", "--workers", "1"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert (run["n_done"], run["n_skipped"], run["n_failed"]) == (1, 1, 0)  # g0 kept as curated, g1 analysed
    assert {p.name: p.read_bytes() for p in out.glob("g0_*")} == before
    records = {r["stem"]: r for r in run["images"]}
    assert records["g0"]["segmenter"] == marker["segmenter"] == records["g1"]["segmenter"]


def test_a_broken_session_file_starts_over_with_a_message(tmp_path):
    grid, out = _grid(tmp_path, 2)
    out.mkdir()
    (out / SESSION_FILE).write_text("{not json")
    session = GridSession.open(grid, out)
    assert session.start == 0 and session.resumed_done is None
    assert len(session.warnings) == 1 and "is not valid JSON" in session.warnings[0]


def test_a_session_from_another_grid_is_not_resumed(tmp_path):
    grid, out = _grid(tmp_path, 2)
    out.mkdir()
    state = {"input_dir": "/elsewhere", "current": "g1.tif", "done": [], "parameters": {"sensitivity": 0.9}}
    (out / SESSION_FILE).write_text(json.dumps(state))
    session = GridSession.open(grid, out)
    assert session.start == 0 and session.settings == GridSettings()


@pytest.mark.parametrize("output", [None, "", "."])
def test_opening_needs_an_output_folder(tmp_path, output):
    grid, _ = _grid(tmp_path, 1)
    with pytest.raises(ValueError, match="choose an output folder"):
        GridSession.open(grid, output)


def test_the_output_folder_cannot_be_the_micrographs_folder(tmp_path):
    grid, _ = _grid(tmp_path, 1)
    with pytest.raises(ValueError, match="other than the micrographs folder"):
        GridSession.open(grid, grid)
    assert not list(grid.glob("*.json"))


def test_settings_give_the_cli_parameters_and_the_model_in_use(tmp_path):
    cli = TemBatchConfig()
    settings = GridSettings()
    assert settings.config().analysis_parameters() == cli.analysis_parameters()
    model = tmp_path / "grid_model.onnx"
    assert GridSettings(method="unet", model=".").model_path() is None  # an empty file field
    assert GridSettings(method="unet", model=str(tmp_path)).model_path() is None
    assert GridSettings(method="unet", model=str(model)).model_path() == str(model)
    assert GridSettings(method="classical", model=str(model)).model_path() is None
    resumed = settings.resumed({"method": "classical", "sensitivity": 0.7, "min_diameter_nm": 25.0})
    assert (resumed.method, resumed.sensitivity, resumed.min_diameter_nm) == ("classical", 0.7, 25.0)
    assert settings.resumed({"method": "no-such-method"}).method == settings.method


def test_an_empty_edit_log_still_has_its_columns_and_types():
    table = edit_log_table([])
    assert tuple(table.columns) == EDIT_LOG_COLUMNS and str(table["label"].dtype) == "int64"
    record = edit_record("add", None, "drawn")
    assert (record["label"], record["detail"]) == (-1, "drawn") and record["time_utc"].endswith("+00:00")


def test_a_curated_coarse_micrograph_is_saved_with_the_coarse_outline_warning(tmp_path):
    """The warning follows the calibration in use when the curation is saved: at 3 nm/px it is in the marker, and
    the same micrograph recalibrated to 2 nm/px in the session is saved without it."""
    grid = tmp_path / "grid"
    grid.mkdir()
    image, _ = make_synthetic_tem((384, 384), pixel_size_nm=3.0, difficulty="easy", scale_bar=False, rng=60)
    tifffile.imwrite(grid / "c.tif", image, imagej=True, resolution=(1 / 3.0, 1 / 3.0), metadata={"unit": "nm"})
    out = tmp_path / "out"
    session = GridSession.open(grid, out)
    (path,) = session.files
    curated, _ = _curate_by_deleting(session, path)
    session.save(path, curated)
    marker = json.loads((out / "c_done.json").read_text())
    assert len(marker["warnings"]) == 1 and "coarser than 2.31 nm/px" in marker["warnings"][0]

    finer = dataclasses.replace(curated, image=dataclasses.replace(curated.image, pixel_size_nm=2.0))
    session.save(path, finer)
    assert json.loads((out / "c_done.json").read_text())["warnings"] == []


def test_a_curated_micrograph_with_nan_padding_is_saved_with_its_warning(tmp_path):
    grid = tmp_path / "grid"
    grid.mkdir()
    image, _ = make_synthetic_tem(
        (384, 384), pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", n_vesicles=6, scale_bar=False, rng=50
    )
    padded = image.astype(np.float32)
    padded[:40] = np.nan
    resolution = (1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM)
    tifffile.imwrite(grid / "p.tif", padded, imagej=True, resolution=resolution, metadata={"unit": "nm"})
    out = tmp_path / "out"
    session = GridSession.open(grid, out)
    (path,) = session.files
    curated, _ = _curate_by_deleting(session, path)
    session.save(path, curated)
    warnings = json.loads((out / "p_done.json").read_text())["warnings"]
    assert warnings[0] == "15360 pixels are NaN or infinite"  # the reader's note
    assert warnings[1].startswith("15360 pixels (10.4 % of the image) hold no value")


def test_a_saved_vesicle_cut_by_pixels_without_a_value_is_flagged_and_named_as_such(tmp_path, nan_block_tem):
    """Before, the grid session's done-marker left out the warning that pixels without a value cut a vesicle,
    and nothing in the saved files told that vesicle from those cut by the image edge."""
    image, px, _ = nan_block_tem
    grid = tmp_path / "grid"
    grid.mkdir()
    tifffile.imwrite(grid / "p.tif", image, imagej=True, resolution=(1 / px, 1 / px), metadata={"unit": "nm"})
    out = tmp_path / "out"
    session = GridSession.open(grid, out, GridSettings(method="classical"))
    (path,) = session.files
    curated, _ = _curate_by_deleting(session, path)
    assert not session.cut_by_missing()  # nothing saved yet
    session.save(path, curated)
    warnings = json.loads((out / "p_done.json").read_text())["warnings"]
    assert any(w.startswith("1 of the 7 vesicles touch pixels without a value") for w in warnings)
    saved = pd.read_csv(out / "p_vesicles.csv")
    assert saved["touches_missing"].sum() == 1 and saved.loc[saved["touches_missing"], "touches_border"].all()
    assert (saved["touches_border"] & ~saved["touches_missing"]).sum() >= 1  # and one cut by the image edge
    assert session.cut_by_missing() and GridSession.open(grid, out).cut_by_missing()
    assert (
        GridSettings(exclude_border=False)
        .describe(missing=True)
        .endswith(", vesicles cut by the image edge or by pixels without a value counted")
    )
    # a table saved before touches_missing existed: the done-marker's warning still tells
    saved.drop(columns="touches_missing").to_csv(out / "p_vesicles.csv", index=False)
    assert GridSession.open(grid, out).cut_by_missing()
    marker = json.loads((out / "p_done.json").read_text())
    marker["warnings"] = [w for w in marker["warnings"] if "touch pixels without a value" not in w]
    (out / "p_done.json").write_text(json.dumps(marker))
    assert not GridSession.open(grid, out).cut_by_missing()


def test_resuming_a_grid_whose_saved_micrographs_another_model_segmented_says_so(tmp_path):
    grid, out = _grid(tmp_path, 2)
    session = GridSession.open(grid, out)
    g0 = session.files[0]
    curated, _ = _curate_by_deleting(session, g0)
    session.save(g0, curated)
    assert not [w for w in GridSession.open(grid, out).warnings if "another model" in w]
    marker_path = out / "g0_done.json"
    marker = json.loads(marker_path.read_text())
    marker["parameters"]["model_sha256"] = "0d32694c" + "0" * 56  # an upgrade changed the shipped model
    marker_path.write_text(json.dumps(marker))
    (warning,) = [w for w in GridSession.open(grid, out).warnings if "another model" in w]
    assert "g0.tif (0d32694c0000...)" in warning and "mix the two" in warning


def test_a_grid_can_be_segmented_with_a_chosen_polarity_and_resumes_with_it(tmp_path):
    grid, out = _grid(tmp_path, 1)
    session = GridSession.open(grid, out, GridSettings(polarity="dark"))
    assert session.settings.parameters()["polarity"] == "dark" and "vesicles dark" in session.settings.describe()
    session.index = 0
    session.write_state()
    assert GridSession.open(grid, out).settings.polarity == "dark"  # the saved setting, as the sizes


def test_a_saved_micrograph_keeps_its_scale_bar_reading_as_the_cli_records_it(tmp_path):
    grid = tmp_path / "grid"
    grid.mkdir()
    image, _ = make_synthetic_tem((768, 768), pixel_size_nm=1.0, difficulty="easy", n_vesicles=5, scale_bar=True, rng=7)
    tifffile.imwrite(grid / "bar.tif", image)  # no calibration tags: the burnt-in bar calibrates it
    session = GridSession.open(grid, tmp_path / "out")
    path = session.files[0]
    picture = session.read(path)
    assert picture.pixel_size_source == "scale bar"
    curated, _ = _curate_by_deleting(session, path)
    session.save(path, curated)
    marker = json.loads((tmp_path / "out" / "bar_done.json").read_text())
    assert marker["scale_bar"] == picture.metadata["scale_bar"] and marker["scale_bar"]["status"] == "ok"


def test_a_grid_counting_edge_vesicles_records_and_resumes_it_as_the_cli_include_border(tmp_path):
    """Before, GridSettings had no border rule: a grid could only be analysed as `exo-vision tem` without
    --include-border, and its session file and markers said exclude_border true."""
    settings = GridSettings(exclude_border=False)
    cli = TemBatchConfig(exclude_border=False)
    assert settings.config().analysis_parameters() == cli.analysis_parameters()
    assert settings.parameters()["exclude_border"] is False
    assert settings.describe().endswith(", vesicles cut by the image edge counted")
    assert "edge" not in GridSettings().describe()
    assert GridSettings().resumed({"exclude_border": False}).exclude_border is False
    assert GridSettings().resumed({"exclude_border": "no"}).exclude_border is True  # not a bool: ignored
    grid, out = _grid(tmp_path, 1)
    session = GridSession.open(grid, out, settings)
    session.index = 0
    image = session.read(session.files[0])
    result = session.analyse(image)
    cut = int(result.table["touches_border"].sum())
    assert cut and result.statistics["n"] == len(result.table)  # counted, as with --include-border
    curated = curated_as_analysed(image, result)
    session.save(session.files[0], curated)
    marker = json.loads((out / "g0_done.json").read_text())
    assert marker["parameters"] == cli.analysis_parameters()
    assert json.loads((out / SESSION_FILE).read_text())["parameters"]["exclude_border"] is False
    assert GridSession.open(grid, out).settings.exclude_border is False  # resumed with it


def _not_counted_pixels(overlay: Path) -> int:
    """Pixels of an overlay PNG outlined in the "edge: not counted" colour."""
    from exo_vision.figures.overlay import NOT_COUNTED_RGB
    from exo_vision.report.embed import read_rgb

    return int(np.all(read_rgb(overlay) == NOT_COUNTED_RGB, axis=2).sum())


def test_changing_the_border_rule_mid_grid_re_saves_the_micrographs_saved_before(tmp_path):
    """Before, ticking 'count vesicles cut by the image edge' at g1 left g0 saved the old way (its marker
    exclude_border true, its edge vesicles outlined 'not counted'): `tem --resume --include-border` redid it."""
    grid, out = _grid(tmp_path, 2)
    session = GridSession.open(grid, out)
    g0, g1 = session.files
    session.index = 0
    curated, victim = _curate_by_deleting(session, g0)
    cut = int(curated.table["touches_border"].sum())
    assert cut > 0  # g0 has vesicles cut by the image edge
    session.save(g0, curated)
    kept = {name: (out / f"g0_{name}").read_bytes() for name in ("labels.tif", "vesicles.csv", "edits.csv")}
    curation = json.loads((out / "g0_curation.json").read_text())
    assert json.loads((out / "g0_done.json").read_text())["parameters"]["exclude_border"] is True
    assert _not_counted_pixels(out / "g0_overlay.png") > 0

    session.index = 1
    session.settings = dataclasses.replace(session.settings, exclude_border=False)  # ticked while at g1
    assert session.apply_border_rule(skip=g1) == ([g0], [])
    marker = json.loads((out / "g0_done.json").read_text())
    assert marker["parameters"] == TemBatchConfig(exclude_border=False).analysis_parameters()
    assert marker["curated_in_gui"] is True and marker["n_edits"] == 1
    assert _not_counted_pixels(out / "g0_overlay.png") == 0  # its edge vesicles are drawn as counted
    # the curation is what was saved: the same labels (the deleted vesicle stays deleted), table and edit log
    assert {name: (out / f"g0_{name}").read_bytes() for name in kept} == kept
    assert json.loads((out / "g0_curation.json").read_text()) == curation
    assert victim not in set(pd.read_csv(out / "g0_vesicles.csv")["label"])
    assert session.apply_border_rule(skip=g1) == ([], [])  # already counted the session's way

    # a micrograph replaced since it was saved is not re-saved with labels of another picture
    session.settings = dataclasses.replace(session.settings, exclude_border=True)
    image, _ = make_synthetic_tem((384, 384), pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", scale_bar=False, rng=9)
    tifffile.imwrite(g0, image, imagej=True, resolution=(0.5, 0.5), metadata={"unit": "nm"})
    resaved, problems = session.apply_border_rule(skip=g1)
    assert resaved == [] and len(problems) == 1 and "g0.tif was changed since it was saved" in problems[0]
    assert json.loads((out / "g0_done.json").read_text()) == marker


def test_every_spelling_of_the_shipped_model_is_the_same_setting(tmp_path):
    """An empty model field reads "." in the dock while the session file holds "": they compared unequal, so
    reopening a grid always said its settings differed from those chosen."""
    from exo_vision.segmentation.learned.weights import DEFAULT_MODEL, SHIPPED_MODELS

    shipped = SHIPPED_MODELS[DEFAULT_MODEL].with_suffix(".onnx")
    spellings = ["", ".", " ", str(tmp_path), str(shipped)]
    assert {GridSettings(method="unet", model=m) for m in spellings} == {GridSettings(method="unet")}
    assert all(GridSettings(method="unet", model=m).model_path() is None for m in spellings)
    other = tmp_path / "mine.onnx"
    assert GridSettings(method="unet", model=f" {other} ") == GridSettings(method="unet", model=str(other))
    assert GridSettings(method="unet", model=str(other)) != GridSettings(method="unet")


def test_a_saved_micrograph_writes_its_rejected_candidates_as_the_cli_does_and_keeps_them_on_a_re_save(tmp_path):
    """Before, the session's folder had no ``S_rejected.csv`` (only the counts by reason in the marker) while a
    ``exo-vision tem`` run writes one per image: the saved result lost where its left-out candidates lie."""
    from exo_vision.batch.image_outputs import REJECTED_FILE_COLUMNS

    grid = tmp_path / "grid"
    grid.mkdir()
    image, _ = make_synthetic_tem(
        (512, 512),
        pixel_size_nm=1.0,
        difficulty="easy",
        diameters_nm=[50.0, 60.0, 130.0, 140.0],
        rng=5,
        scale_bar=False,
    )
    tifffile.imwrite(grid / "m.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    out = tmp_path / "out"
    session = GridSession.open(grid, out, GridSettings(max_diameter_nm=100.0))  # the two large ones: too large
    (path,) = session.files
    session.index = 0
    data = session.read(path)
    result = session.analyse(data)
    too_large = result.rejected["reason"] == "larger than max_diameter_nm"
    assert too_large.sum() >= 2
    curated = _unedited(data, result)
    session.save(path, curated)
    table = pd.read_csv(out / "m_rejected.csv")
    assert tuple(table.columns) == REJECTED_FILE_COLUMNS and len(table) == len(result.rejected)
    np.testing.assert_allclose(table["centroid_x_nm"], result.rejected["centroid_x_nm"])
    np.testing.assert_allclose(table["centroid_y_px"], result.rejected["centroid_y_nm"] / 1.0)
    assert list(table["reason"]) == list(result.rejected["reason"])
    marker = json.loads((out / "m_done.json").read_text())
    assert marker["outputs"]["rejected"]["file"] == "m_rejected.csv"  # one group with labels, table and marker
    written = (out / "m_rejected.csv").read_bytes()

    # read back with the saved micrograph, and written again unchanged when the border rule re-saves it
    assert len(session.load_saved(path).rejected) == len(result.rejected)
    session.settings = dataclasses.replace(session.settings, exclude_border=False)
    assert session.apply_border_rule() == ([path], [])
    assert (out / "m_rejected.csv").read_bytes() == written
    assert json.loads((out / "m_done.json").read_text())["outputs"]["rejected"]["file"] == "m_rejected.csv"


def test_a_curated_micrograph_saved_twice_writes_byte_identical_rejected_tables(tmp_path):
    """Before, each re-save derived the centroid in pixels from the centroid in nm as read back (already rounded to
    12 digits), so ``S_rejected.csv`` drifted in its last digits at a pixel size other than 1 nm."""
    grid = tmp_path / "grid"
    grid.mkdir()
    px = 0.7317
    image, _ = make_synthetic_tem(
        (512, 512), pixel_size_nm=px, difficulty="easy", diameters_nm=[50.0, 60.0, 130.0, 140.0], rng=5, scale_bar=False
    )
    tifffile.imwrite(grid / "m.tif", image, imagej=True, resolution=(1 / px, 1 / px), metadata={"unit": "nm"})
    out = tmp_path / "out"
    session = GridSession.open(grid, out, GridSettings(max_diameter_nm=70.0))
    (path,) = session.files
    data = session.read(path)
    result = session.analyse(data)
    assert len(result.rejected) >= 2
    curated = _unedited(data, result)
    session.save(path, curated)
    first = (out / "m_rejected.csv").read_bytes()
    for _ in range(2):  # saved again as read back, unchanged, twice
        saved = session.load_saved(path)
        session.save(path, dataclasses.replace(curated, rejected=saved.rejected, table=saved.table))
        assert (out / "m_rejected.csv").read_bytes() == first
