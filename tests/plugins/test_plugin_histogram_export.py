"""The Size histogram dock's figure (what its Export writes): the legend's statistics are weighted as the bars
are and say so, and the legend covers no bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("napari")

from exo_vision.measure.size_stats import kde_mode, weighted_mean_diameter  # noqa: E402
from exo_vision.plugins.histogram_widget import HistogramPlot  # noqa: E402


def _table(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = np.r_[rng.lognormal(np.log(75.0), 0.25, n - 2), 190.0, 196.0]  # two large vesicles: the tallest volume bar
    return pd.DataFrame({"equivalent_diameter_nm": d, "touches_border": np.r_[np.zeros(n - 1, bool), True]})


def _legend_clear_of_bars(plot: HistogramPlot) -> None:
    """No bar's top lies inside the legend's box (both in data coordinates)."""
    fig = plot.figure
    fig.canvas.draw()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent().transformed(ax.transData.inverted())
    for row in plot.bins.itertuples(index=False):
        overlaps_x = row.bin_right_nm > box.x0 and row.bin_left_nm < box.x1
        assert not (overlaps_x and 100 * row.fraction > box.y0), (row, box)


@pytest.mark.parametrize("weighting", ["volume", "intensity"])
def test_a_weighted_export_names_and_shows_the_weighted_statistics_clear_of_the_bars(qtbot, tmp_path, weighting):
    # before: "n=40, mean 80±30 nm, median .., mode .. nm" (number-weighted, unlabelled) on a volume-weighted
    # axis, in a fixed upper-right legend over the tallest (190-200 nm) bar
    table = _table(1)
    plot = HistogramPlot()
    plot.draw({"all": table}, bin_width_nm=10, weighting=weighting)
    d = table.loc[~table["touches_border"], "equivalent_diameter_nm"].to_numpy()
    (text,) = [t.get_text() for t in plot.figure.axes[0].get_legend().get_texts()]
    assert text == (
        f"all: n = {d.size}; {weighting}-weighted\n"
        f"mean {weighted_mean_diameter(d, weighting=weighting):.1f} nm, "
        f"mode {kde_mode(d, weighting=weighting):.1f} nm\n"
        f"number mean {d.mean():.1f} nm"
    )
    assert plot.figure.axes[0].get_ylabel() == f"{weighting.capitalize()}-weighted fraction (%)"
    assert "bin width 10 nm" in plot.figure.axes[0].get_xlabel()
    _legend_clear_of_bars(plot)
    plot.export(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0


def test_the_number_legend_covers_no_bar_and_counts_edge_cut_vesicles_it_includes(qtbot):
    plot = HistogramPlot()
    plot.draw({"a": _table(2), "b": _table(3)}, bin_width_nm=5, weighting="number", exclude_border={"a": False})
    a, b = (t.get_text() for t in plot.figure.axes[0].get_legend().get_texts())
    assert a.startswith("a: n = 40, ") and a.endswith("\nincl. 1 cut by the image edge (sizes truncated)")
    assert b.startswith("b: n = 39, ") and "cut by the image edge" not in b and "D10/D50/D90" in b
    _legend_clear_of_bars(plot)
