"""Blot figures: annotated image (lanes, numbered boxes, saturated pixels) and the panel chart."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import ndimage

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
    # the id of the first present, unsaturated band: its colour in the rows just above its box
    band = res.bands.loc[res.bands["present"] & ~res.bands["saturated"]].iloc[0]
    edge = int(round(scale)) + 1
    top = int((band.y_top_px - 0.5) * scale)
    c0, c1 = int((band.x_left_px - 0.5) * scale), int((band.x_right_px - 0.5) * scale) + 1
    ink = np.all(rgb[max(0, top - int(2 * rule)) : top, c0:c1] == PRESENT_RGB, axis=2)
    rows = np.nonzero(ink.any(axis=1))[0]
    assert rule - 2 <= rows.max() - rows.min() + 1 <= rule + 4
    # the lane label "1.1" at the top of the first lane, same height
    lane = res.lanes[0]
    x, y = (lane.polygon_yx()[0, ::-1] * scale).astype(int)
    window = np.all(rgb[y + edge : y + edge + int(2 * rule), x : x + int(4 * rule)] == LANE_RGB, axis=2)
    window[:, window.sum(axis=0) > 1.5 * rule] = False  # the lane's own (slanted) side line
    rows = np.nonzero(window.any(axis=1))[0]
    assert rule - 2 <= rows.max() - rows.min() + 1 <= rule + 4


def _weak_and_strong_blot(dtype) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Two lanes on a dark membrane: a band at full scale and one at 4 % of it (as raw chemiluminescence)."""
    top = np.iinfo(dtype).max
    img = np.full((120, 160), 0.02 * top, np.float64)
    img[50:60, 20:60] = top * 0.9
    img[50:60, 100:140] = 0.02 * top + 0.04 * 0.88 * top
    return np.round(img).astype(dtype), [(15, 65), (95, 145)]


@pytest.mark.parametrize("dtype, shown_at_least", [(np.uint16, 0.15), (np.uint8, 0.0)])
def test_a_raw_blots_weak_band_is_shown_brightened_and_an_export_as_exported(dtype, shown_at_least):
    """A band at 4 % of the strongest showed at 4 % grey on a raw 16-bit blot: invisible under its box."""
    img, ranges = _weak_and_strong_blot(dtype)
    res = quantify_blot(img, polarity="bright", lanes=lanes_from_ranges(ranges, whole_image_strip(img.shape)))
    rgb = annotated_blot(img, res, scale=1.0).astype(float)
    weak = rgb[53:57, 112:128].mean() / 255.0
    membrane = rgb[90:110, 112:128].mean() / 255.0
    if shown_at_least:
        assert weak - membrane >= shown_at_least  # gamma 0.5: sqrt(0.04) = 0.2 above the membrane
    else:
        assert weak - membrane == pytest.approx(0.04, abs=0.02)  # linear, as the export was saved


def test_band_ids_are_written_beside_their_boxes_and_fit_narrow_lanes():
    """Ids were written inside the boxes, over the bands; on a frame of narrow lanes "76*77*78" ran together."""
    from exo_vision.figures.blot import ABSENT_RGB, PRESENT_RGB

    img = np.full((400, 1200), 2000, np.uint16)
    ranges = [(20 + 60 * k, 60 + 60 * k) for k in range(19)]
    for x0, x1 in ranges:
        img[200:210, x0 + 4 : x1 - 4] = 30000
    # noise-free flat bands would read as a clipped top (the camera's 65535 is the level here)
    lanes = lanes_from_ranges(ranges, whole_image_strip(img.shape))
    res = quantify_blot(img, polarity="bright", max_value=65535, lanes=lanes)
    assert res.bands["present"].sum() == 19
    rgb = annotated_blot(img, res, scale=2.0)
    ink = np.all(rgb == PRESENT_RGB, axis=2) | np.all(rgb == ABSENT_RGB, axis=2)
    for r in res.bands.itertuples():  # inside each box, clear of its lines: no id
        r0, r1 = int((r.y_top_px - 0.5) * 2) + 3, int((r.y_bottom_px - 0.5) * 2) - 2
        c0, c1 = int((r.x_left_px - 0.5) * 2) + 3, int((r.x_right_px - 0.5) * 2) - 2
        assert not ink[r0:r1, c0:c1].any()
    # the ids' row above the bands: 19 separate words, none wider than a lane (40 px shown 80 px wide)
    word_rows = ink[: int((res.bands["y_top_px"].min() - 0.5) * 2)]
    cols = word_rows.any(axis=0)
    starts = np.flatnonzero(np.diff(np.concatenate([[0], cols.astype(int)])) == 1)
    ends = np.flatnonzero(np.diff(np.concatenate([cols.astype(int), [0]])) == -1)
    assert len(starts) == 19
    assert (ends - starts + 1).max() <= 80


def test_a_lane_label_never_covers_a_band_at_the_top_of_its_strip():
    """The lane label "1.1" was written inside the lane's top corner, over a band lying right there."""
    from exo_vision.figures.blot import LANE_RGB

    img = np.full((200, 160), 1000, np.uint16)
    img[4:16, 15:65] = 30000  # a band across the very top of lane 1
    img[120:132, 100:140] = 30000
    lanes = lanes_from_ranges([(15, 65), (95, 145)], whole_image_strip(img.shape))
    res = quantify_blot(img, polarity="bright", lanes=lanes)
    rgb = annotated_blot(img, res, scale=3.0)
    lane_ink = np.all(rgb == LANE_RGB, axis=2)
    # the band's own pixels, inside the lane's outline (3 px wide at scale 3)
    assert not lane_ink[4 * 3 : 16 * 3, 15 * 3 + 4 : 65 * 3 - 4].any(), "a lane label covers the band"
    # lane 2, whose band lies lower, keeps its label in its top corner, where labels go
    assert lane_ink[: 4 * 3 + 30, 95 * 3 + 4 : 145 * 3 - 4].any()
    assert not lane_ink[100 * 3 : 200 * 3 - 6, 95 * 3 + 4 : 145 * 3 - 4].any()
    # both labels are still drawn: lane ink beyond the two lanes' outlines
    outlines = np.zeros_like(lane_ink)
    for lane in res.lanes:
        poly = np.round(lane.polygon_yx()[:, ::-1] * 3).astype(np.int32)
        cv2.polylines(outlines.view(np.uint8), [poly], True, 1, 5)
    labels, n = ndimage.label(lane_ink & ~outlines)
    assert n >= 2


def test_a_lane_label_with_room_stays_in_the_top_corner_even_where_its_box_reaches_above_the_picture():
    """The ChemiDoc Orb2 export (scale 1): the label's box with its baseline (25 px) is taller than the corner's
    inset (24 px), and a frame check counting the whole box sent every lane's label to the bottom."""
    from exo_vision.figures.blot import _lane_label_origin

    poly = np.array([[23.1, -0.5], [132.3, -0.5], [93.3, 896.5], [-15.8, 896.5]])
    assert _lane_label_origin(poly, (42, 25), (4, 24), [], (897, 1122)) == (27, 24)


def test_the_panel_legend_keeps_every_symbol_and_word_on_the_canvas_when_bands_are_saturated(tmp_path):
    """review50 M12: with a saturated lysate band the two-column legend was wider than the 85 mm figure: its
    left column lost its symbols and the right one was cut ("95 9")."""
    bands = pd.DataFrame(
        {
            "marker": ["CD9"] * 3 + ["CD63"] * 3 + ["calnexin"] * 3,
            "lane_name": ["lysate", "exo1", "exo2"] * 3,
            "volume": [2000.0, 1200.0, 1600.0, 400.0, 800.0, 1000.0, 2000.0, 1.0, 2.0],
            "lod_volume": [10.0] * 9,
            "present": [True, True, True, True, True, True, True, False, False],
            "saturated": [True, False, True] + [False] * 6,
        }
    )
    e = enrichment_table(bands, reference_lane="lysate")
    fig = panel_figure(e, panel_summary(e), title="MISEV panel: PASS")
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    canvas = fig.bbox
    legend = fig.legends[0]
    box = legend.get_window_extent(renderer)
    assert canvas.x0 <= box.x0 and box.x1 <= canvas.x1 and canvas.y0 <= box.y0
    texts = [t.get_text() for t in legend.get_texts()]
    assert "exo1 (lysate saturated: upper bound)" in texts and "exo2 (both saturated: undetermined)" in texts
    for handle in legend.legend_handles:  # every symbol drawn inside the figure
        h = handle.get_window_extent(renderer)
        assert canvas.x0 <= h.x0 and h.x1 <= canvas.x1
    ylabel = fig.axes[0].yaxis.label.get_window_extent(renderer)
    assert canvas.y0 <= ylabel.y0 and ylabel.y1 <= canvas.y1
    ax = fig.axes[0].get_window_extent(renderer)
    assert box.y1 <= ax.y0  # still below the axes


def test_an_unproven_absence_reads_inconclusive_under_its_marker_not_fail():
    """blot50 M1: an inconclusive calnexin (no EV lane shows it, the bound too high) was labelled "calnexin fail"
    under the chart, which reads as contamination."""
    from exo_vision.figures.blot import _shown_verdict

    row = pd.Series({"verdict": "fail", "expected_in_ev": "absent", "n_ev_present": 0})
    assert _shown_verdict(next(pd.DataFrame([row]).itertuples())) == "inconclusive"
    seen = pd.DataFrame([{**row, "n_ev_present": 1}])
    assert _shown_verdict(next(seen.itertuples())) == "fail"


def test_a_lane_label_sent_to_the_bottom_stays_whole_inside_the_picture():
    """blot50 L5: labels moved to a lane's bottom (a band at the strip's top) had their lower edge cut off by the
    picture's edge: the baseline was put 3 px above the edge, with the label's edge and baseline room below it."""
    from exo_vision.figures.blot import _lane_label_origin

    poly = np.array([[100.0, -0.5], [200.0, -0.5], [200.0, 599.5], [100.0, 599.5]])
    size, inset = (60, 40), (4, 30)  # 40 px tall with its edge and baseline room; digits 26 px
    band_at_top = [(100, 0, 200, 80)]
    ox, oy = _lane_label_origin(poly, size, inset, band_at_top, (600, 400))
    assert oy > 300 and oy + (size[1] - (inset[1] - inset[0])) <= 600 - 1


def test_a_band_id_goes_where_no_other_id_lies_when_its_first_places_are_taken():
    """probe56 F8: on a packed lane of the PLOS BiP crop two ids were drawn over each other ("31" over "22"): the
    four places beside a box were taken, and the first clear of band boxes was used whatever label lay there."""
    from exo_vision.figures.blot import LABEL_GAP_PX, _band_label_origin, _overlaps

    box = (100, 100, 160, 120)
    w, h = 20, 10
    # ids already drawn above and below the box's left end, and left and right of it
    labels = [(100, 97 - h, 100 + w, 97), (100, 133 - h, 100 + w, 133), (77, 110, 97, 120), (163, 110, 183, 120)]
    ox, oy = _band_label_origin(box, (w, h), labels, [], (400, 400))
    assert not _overlaps((ox, oy - h, ox + w, oy), labels)
    assert (ox, oy) == (160 - w, 100 - LABEL_GAP_PX)  # above the box's right end
