"""Membrane strips on hand-built images with exactly known boxes, and on generated layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.draw import polygon

from exo_vision.blot.signal import to_signal
from exo_vision.blot.strips import find_strips
from exo_vision.synthetic.blot import make_marker_panel
from exo_vision.synthetic.blot_layout import make_random_layout


def floor_image(shape, rng=0):
    """Camera floor at 100 counts with read noise."""
    return np.random.default_rng(rng).normal(100.0, 3.0, shape)


def boxes(strips):
    return [(s.y_top_px, s.y_bottom_px, s.x_left_px, s.x_right_px) for s in strips]


def test_side_by_side_strips_are_two_strips_with_exact_boxes_and_edges():
    img = floor_image((200, 440))
    img[20:180, 20:200] += 700.0
    img[20:180, 240:420] += 700.0
    strips = find_strips(img)
    # each box is the membrane minus its 2 half-membrane edge pixels
    assert boxes(strips) == [(22, 178, 22, 198), (22, 178, 242, 418)]
    assert [s.index for s in strips] == [1, 2]
    # membrane edges (pixel-centre coordinates) at the middle row
    assert [(s.membrane_left_px, s.membrane_right_px) for s in strips] == [(19.5, 199.5), (239.5, 419.5)]
    assert all(s.angle_deg == 0.0 for s in strips)


def test_a_cut_membrane_in_a_grid_is_numbered_in_reading_order_and_a_pen_line_does_not_join_strips():
    img = floor_image((400, 440), rng=1)
    for a, b, c, d in [(20, 180, 20, 200), (20, 160, 240, 420), (220, 380, 20, 200), (230, 390, 240, 420)]:
        img[a:b, c:d] += 700.0
    img[178:232, 300:302] += 2000.0  # a pen line drawn across the gap between two strips
    strips = find_strips(img)
    assert boxes(strips) == [(22, 178, 22, 198), (22, 158, 242, 418), (222, 378, 22, 198), (232, 388, 242, 418)]
    assert [s.index for s in strips] == [1, 2, 3, 4]


def test_a_rotated_strip_gives_its_angle_and_bounding_box():
    img = floor_image((300, 500), rng=2)
    angle = np.deg2rad(2.0)  # counter-clockwise as displayed
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[-80, -200], [-80, 200], [80, 200], [80, -200]]) @ rot.T + [150, 250]
    rr, cc = polygon(corners[:, 0], corners[:, 1], img.shape)
    img[rr, cc] += 700.0
    (strip,) = find_strips(img)
    # lanes of a counter-clockwise rotated membrane run to the right going down
    assert strip.angle_deg == pytest.approx(2.0, abs=0.1)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    assert abs(strip.y_top_px - (lo[0] + 2)) <= 3 and abs(strip.y_bottom_px - (hi[0] - 2)) <= 3
    assert abs(strip.x_left_px - (lo[1] + 2)) <= 3 and abs(strip.x_right_px - (hi[1] - 2)) <= 3


def test_bright_lanes_on_a_darker_gel_and_bands_on_a_membrane_stay_one_strip():
    # a gel: dark background (not the camera floor) with four bright lanes of dense bands
    gel = floor_image((400, 600), rng=3) + 40.0
    gel[:, :60] -= 35.0  # camera floor beside the gel
    for x in (120, 240, 360, 480):
        for y in range(100, 260, 12):
            gel[y : y + 8, x - 30 : x + 30] += 2000.0
    (strip,) = find_strips(gel)
    assert (strip.y_top_px, strip.y_bottom_px) == (0, 400) and strip.membrane_left_px is None
    # a cropped membrane: flat, with four saturated bands (no floor at all)
    crop = np.full((300, 900), 30.0)
    for x in (150, 380, 610, 840):
        crop[100:130, x - 80 : x + 60] = 255.0
    assert boxes(find_strips(crop)) == [(0, 300, 0, 900)]


def test_image_without_gaps_is_one_whole_strip():
    img = np.full((300, 200), 800.0) + np.linspace(0, 300, 300)[:, None]  # a gradient is not a gap
    assert boxes(find_strips(img)) == [(0, 300, 0, 200)]


@pytest.mark.parametrize("export", ["raw", "inverted8"])
def test_generated_layouts_every_strip_found_within_4_px(export):
    for seed in (1002, 1013, 1000):  # 2x2 grid of rotated strips, three side by side, two side by side (one rotated)
        layout = make_random_layout(rng=seed, export=export)
        found = boxes(find_strips(to_signal(layout.image, polarity=layout.polarity)))
        truth = layout.strips[["y_top_px", "y_bottom_px", "x_left_px", "x_right_px"]].to_numpy()
        assert len(found) == len(truth) >= 2
        assert np.abs(np.array(found) - truth).max() <= 4


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2-D image"):
        find_strips(np.zeros((10, 10, 3)))


DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.skipif(not (DATA / "blots").is_dir(), reason=f"real test images not present at {DATA}")
def test_real_figure_of_eight_blot_panels_in_two_columns():
    import tifffile

    from exo_vision.blot.lanes import find_lanes, share_lanes

    # PLOS ONE 0237759 S5: two panels (KR, beta-actin; 4 lanes) beside six panels (gH2AX/H4, 7 lanes + ladder)
    raw = tifffile.imread(DATA / "blots" / "plos_pone.0237759.s005_raw_blots.tif")
    grey = raw[..., :3].mean(axis=-1).round().astype(np.uint8)
    signal = to_signal(grey, polarity="dark")
    strips = find_strips(signal)
    assert len(strips) == 8
    left = [s for s in strips if s.x_right_px < 2000]
    assert [s.index for s in left] == [1, 3]  # reading order: the KR panel sits beside the first right panel
    assert all(abs(s.x_left_px - 412) <= 4 and abs(s.x_right_px - 1383) <= 4 for s in left)
    per_strip = share_lanes([find_lanes(signal, s) for s in strips], strips)
    assert [len(lanes) for lanes in per_strip] == [4, 8, 4, 8, 8, 8, 8, 8]
    # beta-actin lanes (four bands), and the KR panel's blank first lane placed on the pitch
    assert [lane.x_centre_px for lane in per_strip[2]] == pytest.approx([570, 800, 1028, 1266], abs=8)
    assert per_strip[0][0].x_centre_px == pytest.approx(570, abs=40)


def test_a_membrane_whose_margin_is_darker_than_half_its_step_keeps_its_edges():
    # a membrane (700 above the floor of 100) that fades at both sides: its outer 60 columns stand only 40 % of the
    # step above the floor, under the half-step level that places a sharp edge
    img = floor_image((200, 440))
    img[20:180, 20:420] += 700.0
    img[20:180, 20:80] -= 420.0
    img[20:180, 360:420] -= 420.0
    (strip,) = find_strips(img)
    assert (strip.membrane_left_px, strip.membrane_right_px) == pytest.approx((19.5, 419.5), abs=1.0)
    assert strip.floor_level == pytest.approx(100.0, abs=5.0)


def test_a_strip_of_bright_smears_on_a_dim_membrane_is_one_strip():
    """Bug: the CD63 strip of generated panel 1104 was cut in two between its smears' lobes.

    Inside that strip's cell the row profile's median is the smears' level, and the dim membrane between
    the lobes (2.5 x the floor, far above any gap) passed for the floor against it. A gap inside a cell is
    now judged against the membrane level of the gaps that cut the frame.
    """
    blot = make_marker_panel(rng=1104, export="raw")
    strips = find_strips(to_signal(blot.image, polarity="bright"))
    truth = blot.truth.groupby("strip")[["strip_y_top_px", "strip_y_bottom_px"]].first().to_numpy()
    found = np.array([(s.y_top_px, s.y_bottom_px) for s in strips])
    assert found.shape == (3, 2)
    np.testing.assert_allclose(found, truth, atol=3)
