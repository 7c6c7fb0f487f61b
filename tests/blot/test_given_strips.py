"""Lanes passed back with the strips they came from measure as the run that found them did."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exo_vision.blot.lanes import Lane
from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import make_two_membrane_frame


def _copied(lanes: list[Lane]) -> list[Lane]:
    """The lanes as the napari dock hands them back: rebuilt from their corners."""
    return [Lane.from_polygon(lane.polygon_yx(), strip=lane.strip, index=lane.index, name=lane.name) for lane in lanes]


@pytest.fixture(scope="module")
def frame():
    blot = make_two_membrane_frame(rng=0, export="raw")
    kwargs = dict(polarity=blot.polarity, max_value=blot.max_value)
    return blot.image, kwargs, quantify_blot(blot.image, **kwargs)


def test_unchanged_lanes_with_their_strips_give_the_automatic_table(frame):
    """Before, lanes given explicitly got strips boxed around them: the blank membrane beyond the end lanes and
    the side strips outside the box were lost, and this frame reported 17 bands instead of 13, volumes off 20 %."""
    image, kwargs, auto = frame
    again = quantify_blot(image, lanes=_copied(auto.lanes), strips=auto.strips, **kwargs)
    pd.testing.assert_frame_equal(again.bands, auto.bands)
    assert [(s.x_left_px, s.x_right_px, s.y_top_px, s.y_bottom_px) for s in again.strips] == [
        (s.x_left_px, s.x_right_px, s.y_top_px, s.y_bottom_px) for s in auto.strips
    ]


def test_a_lane_drawn_past_its_strip_widens_that_strip_and_an_unknown_strip_is_refused(frame):
    image, kwargs, auto = frame
    lanes = _copied(auto.lanes)
    first = min((lane for lane in lanes if lane.strip == 1), key=lambda lane: lane.x_centre_px)
    strip1 = next(s for s in auto.strips if s.index == 1)

    def left_edge() -> float:
        return min(first.centre_x(first.y_top_px), first.centre_x(first.y_bottom_px - 1)) - first.width_px / 2

    shift = left_edge() - strip1.x_left_px + 5  # 5 px past the strip's left edge
    first.x_top_px -= shift
    first.x_bottom_px -= shift
    res = quantify_blot(image, lanes=lanes, strips=auto.strips, **kwargs)
    widened = next(s for s in res.strips if s.index == 1)
    assert widened.x_left_px == int(np.floor(left_edge())) == strip1.x_left_px - 5
    assert widened.x_right_px == strip1.x_right_px and widened.angle_deg == strip1.angle_deg
    assert strip1.x_left_px == next(s for s in auto.strips if s.index == 1).x_left_px  # the given strip is untouched
    with pytest.raises(ValueError, match=r"lanes lie in strip\(s\) 2 but the strips given are numbered 1"):
        quantify_blot(image, lanes=_copied(auto.lanes), strips=[strip1], **kwargs)
