"""Blot figures: annotated image (lanes, numbered boxes, saturated pixels) and the panel chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
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


def test_panel_figure_draws_bars_points_and_upper_bounds():
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
    assert len(ax.patches) == 1  # one bar: CD9 (calnexin has no ratio, only bounds)
    assert ax.patches[0].get_height() == 4.0
    assert ax.get_yscale() == "log"  # the 1 % upper bounds need a log axis
    assert [t.get_text() for t in ax.get_xticklabels()] == ["CD9\npass", "calnexin\npass"]
