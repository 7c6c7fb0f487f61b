"""The Size histogram dock's export says where its diameters come from, as ``exo-vision histogram`` does for the
same tables: a caption under the figure (pixel size and source, method and model, smallest diameter counted, edge
vesicles left out, the coarse-outline note) and the same facts as the bin table's last columns.

Before, the dock's figure had no caption and its bin CSV no provenance columns.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("napari")

from exo_vision.cli.main import main  # noqa: E402
from exo_vision.figures.provenance import PROVENANCE_COLUMNS  # noqa: E402
from tests.plugins.test_plugin_tem import _dock  # noqa: E402
from tests.report.test_coarse_pool import _tem_run  # noqa: E402


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> Path:
    """A tem run of a 2 nm/px and a 3 nm/px micrograph (one finer, one coarser than 2.31 nm/px)."""
    return _tem_run(tmp_path_factory.mktemp("mixed_dock"), "mixed", (2.0, 3.0))


def _svg_text(path: Path) -> str:
    return " ".join(
        html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))).replace("\xa0", " ").split()
    )


def _provenance(bins_csv: Path) -> dict[str, str]:
    bins = pd.read_csv(bins_csv, dtype=str, keep_default_na=False)
    assert list(bins.columns[-len(PROVENANCE_COLUMNS) :]) == list(PROVENANCE_COLUMNS)
    rows = {tuple(row) for row in bins[list(PROVENANCE_COLUMNS)].itertuples(index=False)}
    assert len(rows) == 1  # every row says the same
    return dict(zip(PROVENANCE_COLUMNS, rows.pop(), strict=True))


@pytest.mark.parametrize("source", ["folder", "tables"])
def test_the_docks_export_carries_the_provenance_the_cli_gives_the_same_tables(
    make_napari_viewer, mixed_run, tmp_path, source
):
    cli_figure = tmp_path / "cli.svg"
    assert main(["histogram", str(mixed_run), "--out", str(cli_figure)]) == 0
    cli = _provenance(tmp_path / "cli_bins.csv")
    assert cli["pixel_size_nm"] == "2-3" and cli["segmenter"].startswith("unet, model ev-unet ")
    assert cli["note"].startswith("1 of 2 micrographs coarser than 2.31 nm/px")

    viewer = make_napari_viewer()
    _, hist = _dock(viewer, "Size histogram")
    if source == "folder":
        hist.set_folder(mixed_run)  # the per-image tables, each read with its run.json record
    else:
        hist.set_tables([mixed_run / "vesicles.csv"])
    hist.plot.export(tmp_path / "dock.csv")
    hist.plot.export(tmp_path / "dock.svg")
    assert _provenance(tmp_path / "dock.csv") == cli
    caption = _svg_text(tmp_path / "dock.svg")
    assert "pixel size 2-3 nm/px (file metadata" in caption and "; unet, model ev-unet" in caption
    assert "vesicles under 20 nm not counted" in caption and "touching the image edge left out" in caption
    assert "1 of 2 micrographs coarser than 2.31 nm/px" in caption
    assert f"{cli['edge_cut_left_out']} vesicle(s) touching the image edge left out" in caption


def test_the_current_images_histogram_says_what_its_layer_records():
    from exo_vision.plugins.histogram_widget import layer_provenance

    metadata = {
        "pixel_size_nm": 3.0,
        "pixel_size_source": "file metadata",
        "segmenter": {"method": "unet", "model": {"name": "ev-unet", "version": "1.0"}},
        "warnings": ["pixel size 3 nm/px: the outer half of the stained membrane (2 nm) is not added"],
        "parameters": {"min_diameter_nm": 20.0, "exclude_border": True},
    }
    table = pd.DataFrame({"equivalent_diameter_nm": [40.0, 50.0, 60.0], "touches_border": [True, False, True]})
    fields = layer_provenance(metadata, table)
    assert fields["pixel_size_nm"] == "3" and fields["pixel_size_source"] == "file metadata"
    assert (fields["segmenter"], fields["min_diameter_nm"], fields["edge_cut_left_out"]) == (
        "unet, model ev-unet 1.0",
        "20",
        "2",
    )
    assert fields["note"].startswith("every micrograph coarser than 2.31 nm/px")
    counted = layer_provenance({**metadata, "parameters": {"exclude_border": False}}, table)
    assert counted["edge_cut_left_out"] == "0" and counted["min_diameter_nm"] == ""


def test_a_grid_session_folder_in_the_dock_carries_the_provenance_the_cli_gives_it(make_napari_viewer, tmp_path):
    """A napari grid session's output folder (done-markers, no run.json): the dock reads the session's record as
    ``exo-vision histogram <folder>`` does, so the method, model and size limit are named, not only the pixel size."""
    from exo_vision.session.grid import GridSession
    from tests.report.test_session_folder import _grid, _save

    grid, out = _grid(tmp_path, 2)
    session = GridSession.open(grid, out)
    for index, path in enumerate(session.files):
        session.index = index
        _save(session, path, delete_first=index == 0)
    assert main(["histogram", str(out), "--out", str(tmp_path / "cli.png")]) == 0
    cli = _provenance(tmp_path / "cli_bins.csv")
    assert cli["segmenter"].startswith("unet, model ev-unet ") and cli["min_diameter_nm"] != ""

    viewer = make_napari_viewer()
    _, hist = _dock(viewer, "Size histogram")
    hist.set_folder(out)
    hist.plot.export(tmp_path / "dock.csv")
    assert _provenance(tmp_path / "dock.csv") == cli
