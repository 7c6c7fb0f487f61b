"""Blot figures: annotated image (lanes, numbered boxes, saturated pixels) and the panel chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exo_vision.blot.lanes import lanes_from_ranges
from exo_vision.blot.panel import enrichment_table, panel_summary
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.strips import whole_image_strip
from exo_vision.figures.blot import SATURATED_RGB, annotated_blot, panel_figure


def test_annotated_blot_marks_saturated_pixels_and_lanes():
    img = np.full((100, 120), 1000, np.uint16)
    img[40:50, 10:40] = 65535
    img[40:50, 70:100] = 20000
    lanes = lanes_from_ranges([(10, 40), (70, 100)], whole_image_strip(img.shape))
    res = quantify_blot(img, polarity="bright", lanes=lanes)
    rgb = annotated_blot(img, res, scale=2.0)
    assert rgb.shape == (200, 240, 3) and rgb.dtype == np.uint8
    red = np.all(rgb == SATURATED_RGB, axis=2)
    assert red[80:100, 30:70].mean() > 0.5  # the clipped band, upscaled 2x
    assert not red[80:100, 150:190].any()


def test_panel_figure_draws_the_geometric_mean_with_its_ci_points_and_upper_bounds():
    """The chart drew arithmetic-mean bars on a log axis (their length meaningless), labelled only 0.1 and 1, put
    its legend on a bar and did not name its statistic."""
    from scipy import stats

    bands = pd.DataFrame(
        {
            "marker": ["CD9"] * 3 + ["calnexin"] * 3,
            "lane_name": ["lysate", "exo1", "exo2"] * 2,
            "volume": [100.0, 300.0, 500.0, 1000.0, 1.0, 2.0],
            "lod_volume": [10.0] * 6,
            "present": [True, True, True, True, False, False],
            "saturated": [False] * 6,
        }
    )
    e = enrichment_table(bands, reference_lane="lysate")
    fig = panel_figure(e, panel_summary(e), title="MISEV panel")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert not ax.patches  # no bars
    # CD9 ratios 3 and 5: geometric mean sqrt(15); 95 % CI exp(mean log -/+ t(0.975, 1) * sd log / sqrt 2)
    logs = np.log([3.0, 5.0])
    half = stats.t.ppf(0.975, 1) * logs.std(ddof=1) / np.sqrt(2)
    mean_mark = [line for line in ax.get_lines() if line.get_marker() == "_" and line.get_markersize() > 10]  # not caps
    assert len(mean_mark) == 1 and mean_mark[0].get_ydata()[0] == pytest.approx(np.sqrt(15.0))
    whisker = ax.collections[0].get_segments()[0][:, 1]
    assert sorted(whisker) == pytest.approx(sorted(np.exp(logs.mean() + np.array([-half, half]))))
    assert ax.get_yscale() == "log"  # the 1 % upper bounds and a ratio of 99 need a log axis
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # lays the figure out
    labels = {t.get_text() for t in ax.get_yticklabels() if ax.get_ylim()[0] <= t.get_position()[1] <= ax.get_ylim()[1]}
    assert {"1", "2", "5", "10"} <= labels
    assert "geometric mean, 95 % CI" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["CD9\npass", "calnexin\npass"]
    legend = fig.legends[0].get_window_extent(renderer)
    assert legend.y1 <= ax.get_window_extent(renderer).y0  # below the axes, clear of every point


def test_band_and_lane_numbers_are_a_sixtieth_of_the_picture_tall():
    """The numbers were ~8 px in a 600 x 1471 px picture (4 CSS px once the report showed it 300 px wide)."""
    from exo_vision.figures.blot import LABEL_HEIGHT_FRACTION, LANE_RGB, PRESENT_RGB
    from exo_vision.synthetic.blot import make_marker_panel

    blot = make_marker_panel(rng=7)
    res = quantify_blot(
        blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=["CD9", "CD63", "calnexin"]
    )
    rgb = annotated_blot(blot.image, res)
    rule = LABEL_HEIGHT_FRACTION * max(rgb.shape[:2])
    assert rule > 20  # the test is about a picture whose numbers were under 10 px
    scale = rgb.shape[0] / blot.image.shape[0]
    # the id of the first present, unsaturated band: its colour inside its box, clear of the box lines
    band = res.bands.loc[res.bands["present"] & ~res.bands["saturated"]].iloc[0]
    edge = int(round(scale)) + 1
    r0, r1 = int((band.y_top_px - 0.5) * scale) + edge, int((band.y_bottom_px - 0.5) * scale) - edge + 1
    c0, c1 = int((band.x_left_px - 0.5) * scale) + edge, int((band.x_right_px - 0.5) * scale) - edge + 1
    ink = np.all(rgb[r0:r1, c0:c1] == PRESENT_RGB, axis=2)
    rows = np.nonzero(ink.any(axis=1))[0]
    assert rule - 2 <= rows.max() - rows.min() + 1 <= rule + 4
    # the lane label "1.1" at the top of the first lane, same height
    lane = res.lanes[0]
    x, y = (lane.polygon_yx()[0, ::-1] * scale).astype(int)
    window = np.all(rgb[y + edge : y + edge + int(2 * rule), x : x + int(4 * rule)] == LANE_RGB, axis=2)
    window[:, window.sum(axis=0) > 1.5 * rule] = False  # the lane's own (slanted) side line
    rows = np.nonzero(window.any(axis=1))[0]
    assert rule - 2 <= rows.max() - rows.min() + 1 <= rule + 4
