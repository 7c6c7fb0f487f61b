"""Lanes of a generated MISEV frame (an EV-marker membrane over a calnexin membrane): given lane columns are
measured as given, and a lane count does not lay the calnexin membrane's lanes a lane aside."""

from __future__ import annotations

import pytest

from exo_vision.blot.lanes import lanes_from_ranges
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.strips import Strip
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


def test_misev_frame_true_lane_columns_are_measured_where_a_dark_margin_hides_the_membrane_edge():
    # seed 0: the calnexin membrane's right third is a dark blotch, read as off the membrane
    blot = make_misev_frame("CD9", rng=0)
    res = quantify_blot(
        blot.image,
        lane_x_ranges_px=_truth_ranges(blot),
        lane_names=list(MISEV_FRAME_LANES),
        markers=["CD9", "calnexin"],
    )
    assert _calnexin_lanes(res) == ["lysate"]
    assert any("reaches past the membrane found" in w for w in res.warnings)
    assert all(s.x_right_px >= 617 for s in res.strips)
