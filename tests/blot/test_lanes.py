"""Automatic lanes on hand-built strips with known lane columns, blank end lanes, pen marks, ladders, layouts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from exo_vision.blot.lanes import Lane, find_lanes, share_lanes
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.strips import Strip, find_strips, whole_image_strip
from exo_vision.synthetic.blot import StripSpec
from exo_vision.synthetic.blot_layout import LayoutStrip, make_random_layout, make_strip_layout

CENTRES = [80, 140, 200, 260, 320]  # pitch 60 px


def membrane_strip(blank=(), *, centres=CENTRES, width=30, membrane=(20, 380), rng=0):
    """Membrane (800 counts, columns ``membrane``) on a 300-count camera floor.

    One band per lane, ``blank`` lanes empty. Lane ``i`` covers columns
    ``centres[i] - width/2 .. centres[i] + width/2 - 1``, so its centre is ``centres[i] - 0.5``.
    """
    g = np.random.default_rng(rng)
    img = g.normal(300.0, 5.0, (160, 400))
    img[20:140, membrane[0] : membrane[1]] = g.normal(800.0, 5.0, (120, membrane[1] - membrane[0]))
    y = np.arange(160)[:, None]
    for i, c in enumerate(centres):
        if i not in blank:
            img[:, c - width // 2 : c + width // 2] += 3000.0 * np.exp(-0.5 * ((y - 80) / 3.0) ** 2)
    return img.astype(np.float32)


def test_lane_edges_are_exact_on_known_rectangles():
    # regression: lanes were made 10 % wider than the bands (edges ~2-5 px out on a 3-lane blot)
    g = np.random.default_rng(0)
    img = g.normal(100.0, 2.0, (120, 300))
    ranges = [(30, 70), (120, 160), (210, 250)]
    for a, b in ranges:
        img[50:60, a:b] += 200.0
    lanes = find_lanes(img, whole_image_strip(img.shape))
    assert len(lanes) == 3
    for lane, (a, b) in zip(lanes, ranges):
        assert lane.x_centre_px == pytest.approx((a + b - 1) / 2, abs=0.1)
        assert lane.x_centre_px - lane.width_px / 2 == pytest.approx(a - 0.5, abs=0.3)
        assert lane.x_centre_px + lane.width_px / 2 == pytest.approx(b - 0.5, abs=0.3)


@pytest.mark.parametrize("blank", [(), (4,), (0,), (1,)], ids=["none", "last", "first", "inner"])
def test_blank_lanes_are_placed_from_pitch_and_membrane_margins(blank):
    img = membrane_strip(blank)
    (strip,) = find_strips(img)
    assert (strip.membrane_left_px, strip.membrane_right_px) == (19.5, 379.5)
    warnings: list[str] = []
    lanes = find_lanes(img, strip, warnings=warnings)
    assert [lane.x_centre_px for lane in lanes] == pytest.approx([c - 0.5 for c in CENTRES], abs=0.3)
    assert lanes[0].width_px == pytest.approx(30.0, abs=0.5)
    assert warnings == []


def test_blank_lanes_at_both_ends_are_not_guessed_and_the_user_is_told():
    img = membrane_strip((0, 4))
    (strip,) = find_strips(img)
    warnings: list[str] = []
    lanes = find_lanes(img, strip, warnings=warnings)
    assert [lane.x_centre_px for lane in lanes] == pytest.approx([139.5, 199.5, 259.5], abs=0.3)
    assert len(warnings) == 1 and "--lanes N" in warnings[0] and "margins left 105 px and right 105 px" in warnings[0]
    # given the count, the two end lanes are placed at the pitch
    lanes = find_lanes(img, strip, n_lanes=5)
    assert [lane.x_centre_px for lane in lanes] == pytest.approx([c - 0.5 for c in CENTRES], abs=0.3)


def test_no_end_lane_without_seen_membrane_edges():
    img = membrane_strip((4,))
    # the same strip given without its membrane edges (e.g. a crop): the margin tells nothing
    strip = Strip(1, 22, 138, 22, 378)
    assert [lane.x_centre_px for lane in find_lanes(img, strip)] == pytest.approx([79.5, 139.5, 199.5, 259.5], abs=0.3)


def test_pen_numbers_and_dots_do_not_create_move_or_split_lanes():
    clean = membrane_strip((1,))
    marked = clean.copy()
    # lane numbers written above every lane (2-px strokes: "1", "2" ...), a stroke between
    # lanes 2 and 3, dots on the membrane edges, and a short line in the margin
    for i, c in enumerate(CENTRES):
        marked[22:40, c - 1 : c + 1] += 4000.0  # vertical stroke
        if i % 2:
            marked[22:24, c - 6 : c + 6] += 4000.0  # top bar
            marked[38:40, c - 6 : c + 6] += 4000.0  # base
    marked[25:45, 169:171] += 4000.0
    yy, xx = np.ogrid[:160, :400]
    for y, x in ((60, 25), (110, 374)):
        marked[(yy - y) ** 2 + (xx - x) ** 2 <= 9] += 4000.0
    marked[100:130, 35:37] += 4000.0
    (strip,) = find_strips(marked)
    ref = find_lanes(clean, find_strips(clean)[0])
    lanes = find_lanes(marked, strip)
    assert len(lanes) == len(ref) == 5
    assert [lane.x_centre_px for lane in lanes] == pytest.approx([lane.x_centre_px for lane in ref], abs=0.5)
    assert lanes[0].width_px == pytest.approx(ref[0].width_px, abs=1.0)


def pen_ladder(img: np.ndarray) -> np.ndarray:
    """``img`` with a hand-written ladder in the membrane margin left of lane 1: bright dashes 3 rows
    tall, 20 px long (columns 30-49, 0.67 pitch from lane 1), one at each of six ladder rows."""
    out = img.copy()
    for y in (30, 48, 66, 95, 112, 128):
        out[y : y + 3, 30:50] += 20000.0
    return out


def test_a_pen_written_ladder_beside_the_first_lane_is_not_a_lane_and_the_user_is_told():
    clean = membrane_strip()
    marked = pen_ladder(clean)
    ref = find_lanes(clean, find_strips(clean)[0])
    messages: list[str] = []
    lanes = find_lanes(marked, find_strips(marked)[0], warnings=messages)
    assert [lane.x_centre_px for lane in lanes] == pytest.approx([lane.x_centre_px for lane in ref], abs=0.5)
    assert any("off the lanes' pitch" in m and "--lanes N" in m for m in messages), messages


def test_a_pen_written_ladder_costs_no_band_and_reports_none():
    result = quantify_blot(pen_ladder(membrane_strip()), polarity="bright")
    bands = result.bands[result.bands.present]
    assert sorted(bands.lane.tolist()) == [1, 2, 3, 4, 5]
    assert bands.y_px.to_numpy() == pytest.approx(80.0, abs=1.5)


def test_off_grid_end_lanes_keeps_a_gap_of_whole_pitches_and_drops_a_mark():
    from exo_vision.blot.lanes.peaks import off_grid_end_lanes

    # a mark 0.45 pitch off the grid before the first lane, and a lane two pitches after the last (a blank between)
    kept, dropped = off_grid_end_lanes([13.0, 100.0, 160.0, 220.0, 280.0, 400.0])
    assert kept == [100.0, 160.0, 220.0, 280.0, 400.0]
    assert dropped == [13.0]
    # three lanes do not tell a pitch good enough to judge an end by
    assert off_grid_end_lanes([10.0, 100.0, 160.0]) == ([10.0, 100.0, 160.0], [])


def test_a_ladder_lane_is_one_lane():
    img = membrane_strip()
    # pre-stained ladder in lane 1: ten sharp, bright bands over the strip height, narrower than the lane
    for y in range(28, 136, 11):
        img[y : y + 3, 68:92] += 6000.0
    lanes = find_lanes(img, find_strips(img)[0])
    assert [lane.x_centre_px for lane in lanes] == pytest.approx([c - 0.5 for c in CENTRES], abs=1.0)


def test_two_neighbour_lanes_run_together_by_one_blob_are_two_lanes():
    # seven lanes 45 px wide at a 70 px pitch; lanes 1 and 2 hold one round blob spanning both (a ladder
    # beside a loaded sample, run together), so their column profile is one peak two pitches wide
    centres = [70, 140, 210, 280, 350, 420, 490]
    yy, xx = np.mgrid[0:300, 0:560]
    img = np.full((300, 560), 10.0)
    for i, c in enumerate(centres[2:], start=2):
        img += 100 * np.exp(-((yy - 100 - 15 * i) ** 2) / (2 * 12**2)) * (np.abs(xx - c) <= 22)
    img += 150 * np.exp(-((yy - 150) ** 2) / (2 * 25**2)) * ((xx >= 48) & (xx <= 162))
    img = ndi.gaussian_filter(img, 2) + np.random.default_rng(3).normal(0, 1, img.shape)
    strip = Strip(index=1, y_top_px=0, y_bottom_px=300, x_left_px=0, x_right_px=560)
    lanes = find_lanes(img, strip, infer_end_lanes=False)
    assert [lane.x_centre_px for lane in lanes] == pytest.approx(centres, abs=3)


def lane(strip, x):
    return Lane(strip.index, 1, strip.y_top_px, strip.y_bottom_px, float(x), float(x), 30.0)


def test_stacked_strips_share_lanes_side_by_side_strips_do_not():
    top, bottom = Strip(1, 0, 100, 0, 400), Strip(2, 120, 220, 0, 400)
    beside = Strip(3, 0, 100, 420, 820)
    per_strip = [
        [lane(top, x) for x in (80, 140, 200, 260)],
        [lane(bottom, x) for x in (142, 202, 262, 322)],
        [lane(beside, x) for x in (500, 600)],
    ]
    out = share_lanes(per_strip, [top, bottom, beside])
    # the union on the reference grid: lane 5 (blank in the top strip) and lane 1 (blank below) are
    # shared, shifted by the 2-px offset between the two pieces; own lanes are kept as found
    assert [lane.x_centre_px for lane in out[0]] == pytest.approx([80, 140, 200, 260, 320])
    assert [lane.x_centre_px for lane in out[1]] == pytest.approx([82, 142, 202, 262, 322])
    assert all(lane.strip == 2 and lane.y_top_px == 120 for lane in out[1])
    assert [lane.x_centre_px for lane in out[2]] == [500, 600]


def test_quantify_side_by_side_strips_with_a_blank_end_lane():
    specs = [
        LayoutStrip(StripSpec("CD9", [2e6, 3e6, 4e6, 0.0]), 0, 0, margin_px=60, smile_px=0.0),
        LayoutStrip(StripSpec("CD63", [5e6, 2e6, 1e6, 3e6], "smear", height_px=220), 0, 1, margin_px=60),
    ]
    layout = make_strip_layout(specs, rng=5)
    res = quantify_blot(layout.image, polarity=layout.polarity, max_value=layout.max_value, markers=["CD9", "CD63"])
    assert [(s.x_left_px < 300) for s in res.strips] == [True, False]
    for s in (1, 2):
        found = sorted(lane.x_centre_px for lane in res.lanes if lane.strip == s)
        truth = layout.lanes[layout.lanes.strip == s].x_centre_px.to_numpy()
        assert len(found) == 4
        assert np.abs(np.array(found) - truth).max() < 3.0
    cd9 = res.bands[res.bands.marker == "CD9"].sort_values("lane")
    assert cd9.present.tolist() == [True, True, True, False]


@pytest.mark.parametrize("seed", [1000, 1002, 1003, 1013])
def test_generated_layouts_right_lane_count_and_centres(seed):
    layout = make_random_layout(rng=seed)
    from exo_vision.blot.signal import to_signal

    signal = to_signal(layout.image, polarity=layout.polarity)
    strips = find_strips(signal)
    per_strip = share_lanes([find_lanes(signal, s) for s in strips], strips)
    assert len(strips) == len(layout.strips)
    for s, lanes in zip(strips, per_strip):
        truth = layout.lanes[layout.lanes.strip == s.index]
        assert len(lanes) == len(truth)
        err = np.abs(
            np.array([lane.centre_x(y) for lane, y in zip(lanes, truth.y_centre_px)]) - truth.x_centre_px.to_numpy()
        )
        # a blank lane sits on the pitch; the generator spaces lanes unevenly (+-8 % of the pitch)
        pitch = float(np.median(np.diff(truth.x_centre_px)))
        assert err[~truth.blank.to_numpy()].max() < 3.0
        assert err.max() < 0.15 * pitch


def test_a_ladder_written_on_the_camera_floor_a_pitch_beside_the_membrane_is_not_a_lane():
    # The membrane starts at column 50; a hand-written ladder lies on the camera floor a whole pitch (60 px)
    # left of lane 1, so the pitch alone takes it for a lane. The strip's box reaches over the floor to
    # the ladder, as find_strips' box does when pen strokes touch the membrane's edge.
    img = membrane_strip(membrane=(50, 380))
    for y in (30, 48, 66, 95, 112, 128):
        img[y : y + 5, 8:32] += 20000.0
    strip = Strip(1, 20, 140, 0, 400, 0.0, 49.5, 379.5, floor_level=300.0, membrane_level=800.0)
    messages: list[str] = []
    lanes = find_lanes(img, strip, warnings=messages)
    assert [lane.x_centre_px for lane in lanes] == pytest.approx([c - 0.5 for c in CENTRES], abs=0.5)
    assert any("column(s) 20 px lies beside the membrane" in m and "--lanes N" in m for m in messages), messages


def test_a_lane_on_a_dark_stretch_of_membrane_stays_a_lane():
    from exo_vision.blot.lanes.blanks import off_membrane_lanes

    img = np.full((100, 200), 300.0, np.float32)  # camera floor
    img[10:90, 20:190] = 800.0  # membrane
    img[10:90, 20:60] = 360.0  # a dark stretch of it, 12 % of the step above the floor
    img[48:52, 100:120] += 5000.0  # a band
    img[30:33, 0:15] += 9000.0  # a dash on the floor
    strip = Strip(1, 10, 90, 0, 200, floor_level=300.0, membrane_level=800.0)
    assert off_membrane_lanes(img, [7.0, 40.0, 110.0], 20.0, strip) == ([40.0, 110.0], [7.0])
    # a strip whose floor was not seen keeps every lane
    assert off_membrane_lanes(img, [7.0, 40.0], 20.0, Strip(1, 10, 90, 0, 200)) == ([7.0, 40.0], [])


def test_a_blank_end_lane_is_never_placed_on_the_camera_floor():
    # The membrane starts at column 50, but the strip's left edge reads 90 px further out (a dark, blotchy
    # margin can move it), so the margins differ by one pitch and end_lanes adds a lane at column 20,
    # on the camera floor: it is left out.
    img = membrane_strip(membrane=(50, 380))
    strip = Strip(1, 20, 140, 0, 400, 0.0, -40.5, 379.5, floor_level=300.0, membrane_level=800.0)
    lanes = find_lanes(img, strip)
    assert [lane.x_centre_px for lane in lanes] == pytest.approx([c - 0.5 for c in CENTRES], abs=0.5)
