"""The docks count the vesicles cut by the image edge as `exo-vision tem --include-border` does, when asked:
the same n, statistics and histogram as the command line's folder run for the same micrograph, and the grid
session records the setting so that `exo-vision tem --resume --include-border` takes its results as its own.

Images are small (512 x 512) synthetic micrographs from the project's seeded generator (seed 3 gives 8
vesicles, one of them cut by the image edge).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("napari")

from exo_vision.batch import run_outputs  # noqa: E402
from exo_vision.batch.config import TemBatchConfig  # noqa: E402
from exo_vision.cli.main import main  # noqa: E402
from exo_vision.plugins._vesicles import EDGE_ALPHA  # noqa: E402
from exo_vision.session.grid import SESSION_FILE  # noqa: E402
from tests.plugins.test_plugin_tem import PLUGIN, _dock, write_micrograph  # noqa: E402

#: Statistics that do not depend on the number of bootstrap resamples (the docks redraw with fewer).
EXACT_STATISTICS = (
    "n",
    "n_excluded_border",
    "mean_diameter_nm",
    "sd_diameter_nm",
    "median_diameter_nm",
    "d10_nm",
    "d50_nm",
    "d90_nm",
    "n_round",
    "n_cup",
    "n_irregular",
    "fraction_touching",
    "fraction_in_size_range",
)


def _cli_run(monkeypatch, grid: Path, out: Path, *flags: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run `exo-vision tem <grid> --out <out> <flags>`: its summary.csv (by image) and the bins of the
    size histogram it drew."""
    drawn: list[pd.DataFrame] = []
    real = run_outputs.size_histogram_figure

    def spy(*args, **kwargs):
        figure, bins = real(*args, **kwargs)
        drawn.append(bins)
        return figure, bins

    monkeypatch.setattr(run_outputs, "size_histogram_figure", spy)
    assert main(["tem", str(grid), "--out", str(out), "--workers", "1", *flags]) == 0
    (bins,) = drawn
    return pd.read_csv(out / "summary.csv").set_index("image"), bins


def _counts(bins: pd.DataFrame) -> dict[float, int]:
    """Vesicles per histogram bin (by left edge in nm), empty bins left out."""
    return {float(left): int(c) for left, c in zip(bins["bin_left_nm"], bins["count"], strict=True) if c}


def _assert_same_statistics(gui: dict, cli: pd.Series) -> None:
    for key in EXACT_STATISTICS:
        assert gui[key] == pytest.approx(float(cli[key]), rel=1e-9, nan_ok=True), key


@pytest.fixture
def one_micrograph(tmp_path):
    grid = tmp_path / "grid"
    grid.mkdir()
    write_micrograph(grid / "mic.tif", seed=3)
    return grid


def test_the_segmentation_dock_counts_edge_vesicles_as_the_command_line_does(
    make_napari_viewer, one_micrograph, tmp_path, monkeypatch
):
    """Before, the dock always left the vesicles cut by the edge out: n = 7 where `--include-border` gave 8."""
    cli_in, cli_in_bins = _cli_run(monkeypatch, one_micrograph, tmp_path / "cli_in", "--include-border")
    cli_out, cli_out_bins = _cli_run(monkeypatch, one_micrograph, tmp_path / "cli_out")
    assert (cli_in.loc["mic", "n"], cli_out.loc["mic", "n"], cli_out.loc["mic", "n_excluded_border"]) == (8, 7, 1)

    viewer = make_napari_viewer()
    (image,) = viewer.open(str(one_micrograph / "mic.tif"), plugin=PLUGIN)
    _, seg = _dock(viewer, "Vesicle segmentation")
    _, hist = _dock(viewer, "Size histogram")
    assert seg.parameters()["exclude_border"] is True  # off by default, as the command line
    for include, cli, cli_bins in ((True, cli_in, cli_in_bins), (False, cli_out, cli_out_bins)):
        seg.set_parameters(include_border=include)
        labels = seg.run(sync=True)
        assert labels.metadata["parameters"]["exclude_border"] is (not include)
        _assert_same_statistics(seg.statistics, cli.loc["mic"])
        assert seg._summary.value.split(": ", 1)[1].startswith(f"n = {cli.loc['mic', 'n']};")
        # the histogram dock follows the layer's setting: the command line's bins, n and statistics
        viewer.layers.selection.active = labels
        hist.refresh()
        assert hist.exclude_border == {labels.name: not include}
        assert _counts(hist.plot.bins) == _counts(cli_bins)
        _assert_same_statistics(hist.plot.statistics[labels.name], cli.loc["mic"])
        # the vesicle cut by the edge is drawn faded only while it is left out
        cut = int(labels.features.loc[labels.features["touches_border"], "label"].item())
        assert labels.colormap.map(cut)[3] == pytest.approx(1.0 if include else EDGE_ALPHA)

    # after an edit, the summary (and the Curation dock) recount with the setting the layer was made with
    seg.set_parameters(include_border=True)
    labels = seg.run(sync=True)
    _, cur = _dock(viewer, "Curation")
    viewer.layers.selection.active = labels
    assert cur.statistics["n"] == 8
    inner = labels.features.loc[~labels.features["touches_border"], "label"]
    cur.delete(int(inner.iloc[0]))
    assert seg._summary.value.split(": ", 1)[1].startswith("n = 7;")
    assert "the run gave n = 8" in seg._summary.value and "cut by the image edge counted" in seg._summary.value
    assert cur.statistics["n"] == 7 and cur.statistics["n_excluded_border"] == 0
    # segmented again, leaving the cut vesicle out, while the Curation dock shows the layer: it follows at once
    seg.set_parameters(include_border=False)
    assert seg.run(sync=True) is labels
    assert cur.statistics["n"] == 7 and cur.statistics["n_excluded_border"] == 1
    assert "cut by the image edge not counted" in cur._stats.value


@pytest.mark.slow
def _grid_session(make_napari_viewer, tmp_path, seeds=(3, 11), *, include_border: bool = False):
    """A grid of micrographs written from ``seeds`` and a synchronous grid session (not yet opened) on it."""
    grid = tmp_path / "grid"
    grid.mkdir()
    for i, seed in enumerate(seeds):
        write_micrograph(grid / f"g{i}.tif", seed=seed)
    _, session = _dock(make_napari_viewer(), "Grid session")
    session.synchronous = True
    session._include_border.value = include_border
    return grid, tmp_path / "out", session


def test_a_grid_session_counting_edge_vesicles_is_taken_by_the_cli_with_include_border(
    make_napari_viewer, tmp_path, monkeypatch, caplog
):
    """Before, the session could not count them: its markers said exclude_border true, so the command line's
    --include-border --resume warned 'made with other parameters', and the grid summary had another n."""
    grid, out, session = _grid_session(make_napari_viewer, tmp_path, include_border=True)
    session.open_grid(grid, out)
    cut = session.labels_layer.features["touches_border"]
    assert cut.any()  # g0 has a vesicle cut by the edge: drawn like the others, since it is counted
    assert session.labels_layer.colormap.map(int(session.labels_layer.features.loc[cut, "label"].iloc[0]))[3] == 1.0
    session.next()
    session.save_current()
    recorded = TemBatchConfig(exclude_border=False).analysis_parameters()
    for stem in ("g0", "g1"):
        assert json.loads((out / f"{stem}_done.json").read_text())["parameters"] == recorded
    assert json.loads((out / SESSION_FILE).read_text())["parameters"]["exclude_border"] is False

    caplog.set_level(logging.WARNING)
    cli, cli_bins = _cli_run(monkeypatch, grid, out, "--resume", "--include-border")
    assert json.loads((out / "run.json").read_text())["n_skipped"] == 2
    cli_cut = pd.read_csv(out / "vesicles.csv")["touches_border"].sum()
    assert "other parameters" not in caplog.text  # taken as made with this run's parameters
    assert session.statistics["n"] == cli.loc["pooled", "n"] == 16 and cli_cut == 5  # g0 cuts 1, g1 cuts 4
    _assert_same_statistics(session.statistics, cli.loc["pooled"])
    assert _counts(session.plot.bins) == _counts(cli_bins)
    assert "cut by the image edge counted" in session._summary.value
    # the command line's default run over the same folder says the curated results were made otherwise
    caplog.clear()
    _cli_run(monkeypatch, grid, out, "--resume")
    assert "made with other parameters" in caplog.text

    # reopened another day (at g1): the setting comes back with the session, and unticking it recounts the grid
    _, again = _dock(make_napari_viewer(), "Grid session")
    again.synchronous = True
    again.open_grid(grid, out)
    assert again._include_border.value is True and again.core.settings.exclude_border is False
    assert "vesicles cut by the image edge counted" in again.core.settings.describe()
    assert again.statistics["n"] == cli.loc["pooled", "n"]
    again._include_border.value = False
    shown = again.labels_layer
    assert shown.metadata["parameters"]["exclude_border"] is True
    edge = int(shown.features.loc[shown.features["touches_border"], "label"].iloc[0])
    assert shown.colormap.map(edge)[3] == pytest.approx(EDGE_ALPHA)
    assert again.statistics["n"] == cli.loc["pooled", "n"] - again.statistics["n_excluded_border"]
    assert again.statistics["n_excluded_border"] == int(cli_cut) > 0
    # the micrographs shown from now on, saved ones included, are recorded the way the session is set
    again.previous()
    assert json.loads((out / "g1_done.json").read_text())["parameters"]["exclude_border"] is True
    assert again.index == 0 and again.labels_layer.metadata["parameters"]["exclude_border"] is True


def test_changing_the_edge_rule_re_saves_the_grid_in_a_worker_with_the_box_held(make_napari_viewer, tmp_path, qtbot):
    """The re-save reads, draws and writes every micrograph saved before: in the GUI thread a long grid froze
    napari. It runs in a worker; the check box waits, disabled, until every marker carries the new rule."""
    grid, out, session = _grid_session(make_napari_viewer, tmp_path, (3, 11, 5))
    session.open_grid(grid, out)
    session.next()
    session.next()  # g0 and g1 saved, g2 shown
    session.synchronous = False
    session._include_border.value = True
    assert session.border_worker is not None and not session._include_border.enabled
    qtbot.waitUntil(lambda: session._include_border.enabled, timeout=120_000)
    for stem in ("g0", "g1"):
        assert json.loads((out / f"{stem}_done.json").read_text())["parameters"]["exclude_border"] is False
    assert session.core.settings.exclude_border is False


def test_the_histogram_of_result_files_follows_what_was_recorded_beside_them(
    make_napari_viewer, one_micrograph, tmp_path, monkeypatch
):
    """Before, the histogram dock left the vesicles cut by the edge out of any results folder or table, also of
    an `--include-border` run's (7 of its 8 vesicles)."""
    import shutil

    cli_in, _ = _cli_run(monkeypatch, one_micrograph, tmp_path / "cli_in", "--include-border")
    _cli_run(monkeypatch, one_micrograph, tmp_path / "cli_out")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(tmp_path / "cli_in" / "mic_vesicles.csv", bare / "mic_vesicles.csv")  # no marker beside it
    viewer = make_napari_viewer()
    _, hist = _dock(viewer, "Size histogram")
    hist.set_folder(tmp_path / "cli_in")
    assert hist.plot.statistics["cli_in"]["n"] == cli_in.loc["pooled", "n"] == 8
    assert hist._status.value == "vesicles (cut by the image edge counted) cli_in: 8"
    hist.set_tables([tmp_path / "cli_in" / "vesicles.csv", tmp_path / "cli_out" / "mic_vesicles.csv"])
    # both runs analysed the one micrograph: it is counted once, from the first table, as exo-vision histogram does;
    # the second table holds only that copy, so it is named, not drawn as an empty group
    assert hist.exclude_border == {"cli_in": False}
    assert {name: s["n"] for name, s in hist.plot.statistics.items()} == {"cli_in": 8}
    assert hist._status.value.startswith("vesicles (cut by the image edge counted) cli_in: 8\n1 copied micrograph(s)")
    assert "mic_vesicles holds only copies of micrographs counted under cli_in" in hist._status.value
    hist.set_tables([tmp_path / "cli_out" / "mic_vesicles.csv"])  # alone: the rule its run recorded
    assert hist.exclude_border == {"mic_vesicles": True} and hist.plot.statistics["mic_vesicles"]["n"] == 7
    assert hist._status.value == "vesicles (cut by the image edge left out) mic_vesicles: 7"
    hist.set_tables([bare / "mic_vesicles.csv"])  # nothing recorded: left out, as exo-vision histogram does
    assert hist.exclude_border == {"mic_vesicles": True} and hist.plot.statistics["mic_vesicles"]["n"] == 7
    # a folder whose results were made both ways says so, and leaves them out
    shutil.copy(tmp_path / "cli_out" / "mic_vesicles.csv", tmp_path / "cli_in" / "other_vesicles.csv")
    shutil.copy(tmp_path / "cli_out" / "mic_done.json", tmp_path / "cli_in" / "other_done.json")
    warnings: list[str] = []
    monkeypatch.setattr("exo_vision.plugins.histogram_widget.show_warning", warnings.append)
    hist.set_folder(tmp_path / "cli_in")
    assert hist.plot.statistics["cli_in"]["n"] == 14
    assert "partly counting the vesicles cut by the image edge and partly not" in warnings[-1]


def test_ticking_the_edge_box_mid_grid_counts_every_saved_micrograph_the_new_way(
    make_napari_viewer, tmp_path, monkeypatch, caplog
):
    """Before, the micrographs saved before the box was ticked kept markers saying exclude_border true (and
    their edge vesicles outlined 'not counted'), so `tem --resume --include-border` said they were made with
    other parameters, while the dock's grid summary counted them the new way."""
    grid, out, session = _grid_session(make_napari_viewer, tmp_path)
    session.open_grid(grid, out)  # vesicles cut by the edge left out, as by default
    session.next()  # g0 saved the default way
    assert json.loads((out / "g0_done.json").read_text())["parameters"]["exclude_border"] is True
    shown: list[str] = []
    monkeypatch.setattr("exo_vision.plugins.grid_session_widget.show_info", shown.append)
    session._include_border.value = True  # ticked at g1
    recorded = TemBatchConfig(exclude_border=False).analysis_parameters()
    assert json.loads((out / "g0_done.json").read_text())["parameters"] == recorded
    assert shown == [
        "vesicles cut by the image edge are now counted in the 1 micrograph(s) saved before too (their done "
        "markers, overlays and statistics were written again)"
    ]
    session.save_current()
    assert json.loads((out / "g1_done.json").read_text())["parameters"] == recorded

    caplog.set_level(logging.WARNING)
    cli, _ = _cli_run(monkeypatch, grid, out, "--resume", "--include-border")
    assert json.loads((out / "run.json").read_text())["n_skipped"] == 2
    assert "other parameters" not in caplog.text  # every square counted as this run counts
    assert session.statistics["n"] == cli.loc["pooled", "n"] == 16 and session.statistics["n_excluded_border"] == 0
