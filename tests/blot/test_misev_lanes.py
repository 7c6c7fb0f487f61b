"""Lanes of a generated MISEV frame (an EV-marker membrane over a calnexin membrane): given lane columns are
measured as given, and a lane count does not lay the calnexin membrane's lanes a lane aside."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.lanes import lanes_from_ranges
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS
from exo_vision.blot.quantify import _prepared_signal, quantify_blot
from exo_vision.blot.strips import Strip, find_strips
from exo_vision.synthetic.blot import MISEV_FRAME_LANES, make_misev_frame


def _truth_ranges(blot) -> list[tuple[int, int]]:
    t = blot.truth
    w = float(t.lane_width_px.iloc[0])
    centres = sorted(t[t.marker == "calnexin"].x_centre_px)
    return [(round(c - w / 2), round(c + w / 2)) for c in centres]


def _calnexin_lanes(result) -> list[str]:
    tab = result.bands
    return list(tab[(tab.marker == "calnexin") & tab.present].lane_name)


def test_a_range_past_the_strip_inside_the_image_is_measured_and_named():
    strip = Strip(1, 10, 60, 20, 100)
    warnings: list[str] = []
    lanes = lanes_from_ranges([(30, 60), (90, 130)], strip, image_width_px=150, warnings=warnings)
    assert [(lane.x_centre_px, lane.width_px) for lane in lanes] == [(44.5, 30.0), (109.5, 40.0)]
    assert len(warnings) == 1 and "lane x-range 2 (90-130) reaches past the membrane found" in warnings[0]


def test_a_range_outside_the_image_is_refused_naming_the_image_width():
    strip = Strip(1, 10, 60, 20, 100)
    with pytest.raises(ValueError, match=r"lane x-range 2 \(90, 160\) lies outside the image \(columns 0\.\.150\)"):
        lanes_from_ranges([(30, 60), (90, 160)], strip, image_width_px=150)


def test_misev_frame_true_lane_columns_are_measured_past_a_strip_given_narrower():
    blot = make_misev_frame("CD9", rng=0)
    h, w = blot.image.shape
    narrow = [Strip(1, 29, 245, 32, 537), Strip(2, 276, 492, 32, 537)]  # the right third cut off
    res = quantify_blot(
        blot.image,
        strips=narrow,
        lane_x_ranges_px=_truth_ranges(blot),
        lane_names=list(MISEV_FRAME_LANES),
        markers=["CD9", "calnexin"],
    )
    assert _calnexin_lanes(res) == ["lysate"]
    assert sum("reaches past the membrane found" in m for m in res.warnings) == 4  # lanes 9 and 10, both strips
    assert all(s.x_right_px >= 617 for s in res.strips)


def test_a_dark_margin_is_membrane_when_it_stands_above_the_floor():
    # seed 0: the calnexin membrane's right fifth and the CD9 membrane's left margin lie in dark blotches (a
    # fifth of the step above the camera floor); the membranes span columns 30..677 (margin_px / 3 from the sides)
    blot = make_misev_frame("CD9", rng=0)
    clean = _prepared_signal(blot.image, "bright", 65535.0, DEFAULT_BLOT_PARAMETERS, [])[0]
    strips = find_strips(clean)
    assert [(s.membrane_left_px, s.membrane_right_px) for s in strips] == [(29.5, 677.5), (29.5, 677.5)]
    assert [(s.x_left_px, s.x_right_px) for s in strips] == [(32, 676), (32, 676)]


@pytest.mark.parametrize("n_lanes", [None, 10])
def test_misev_frame_lanes_lie_on_the_true_columns_in_both_membranes(n_lanes):
    # seed 0: the lysate's calnexin band was laid on lane 2 (exo1) of the calnexin membrane with --lanes 10
    # (a calnexin membrane edge read 54 px inside the other's took it a lane aside), and 9 lanes were found
    # without a count
    blot = make_misev_frame("CD9", rng=0)
    t = blot.truth
    res = quantify_blot(blot.image, n_lanes=n_lanes, lane_names=list(MISEV_FRAME_LANES), markers=["CD9", "calnexin"])
    assert _calnexin_lanes(res) == ["lysate"]
    for strip in (1, 2):
        found = sorted(lane.x_centre_px for lane in res.lanes if lane.strip == strip)
        true = sorted(t[t.strip == strip].x_centre_px)
        assert len(found) == 10 and np.max(np.abs(np.array(found) - true)) < 10
