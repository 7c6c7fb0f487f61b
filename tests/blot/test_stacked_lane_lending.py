"""Stacked membranes whose lanes line up share one numbered lane set; membranes whose lanes do not stay apart.

Two membranes imaged one above the other carry the same lanes, and lane k must be lane k in both (the
analyst pairs marker A above with marker B below, sample by sample). When the lane finder reads the lower
membrane's lanes worse (two adjacent empty lanes, bands that nearly touch), that membrane used to keep its own
lanes at another pitch, numbered on their own, without a word. Two gels of different combs stacked in one
frame must keep their own lanes, and the user is told that their numbers do not correspond.
"""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot

#: A reported lane holds a true lane when their centres lie within half a lane width (px; lanes are 50 px wide).
NEAR_PX = 25
#: The lower membrane's empty lanes (0-based): two adjacent ones.
EMPTY_LOWER = (6, 7)


def _packed_frame(seed: int):
    """Two membranes of one gel, ten uneven lanes 50 px wide with 10 px gaps; lanes 7 and 8 empty below."""
    g = np.random.default_rng(seed)
    top = list(10 ** g.uniform(5.3, 6.3, 10))
    low = list(10 ** g.uniform(5.3, 6.3, 10))
    for k in EMPTY_LOWER:
        low[k] = 0.0
    specs = [StripSpec("A", top, height_px=220, band_sigma_px=4), StripSpec("B", low, height_px=220, band_sigma_px=4)]
    return make_synthetic_blot(
        specs, spacing_jitter=0.35, lane_width_px=50, lane_gap_px=10, margin_px=80, strip_gap_px=40, rng=seed
    )


def _lane_numbers(res, blot) -> dict[tuple[int, int], int]:
    """(strip, true lane) -> the number of the reported lane whose centre lies nearest the true lane centre (when
    that lane holds it)."""
    out = {}
    for row in blot.truth.itertuples():
        lanes = [lane for lane in res.lanes if lane.strip == row.strip]
        near = min(lanes, key=lambda lane: abs(lane.x_centre_px - row.x_centre_px))
        if abs(near.x_centre_px - row.x_centre_px) <= NEAR_PX:
            out[(row.strip, row.lane)] = near.index
    return out


@pytest.mark.parametrize("seed", [4, 8, 10])
def test_lower_membrane_with_two_adjacent_empty_lanes_keeps_the_top_lane_numbers(seed):
    blot = _packed_frame(seed)
    res = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value)
    assert len(res.strips) == 2
    numbers = _lane_numbers(res, blot)
    for lane in range(1, 11):
        assert (1, lane) in numbers and (2, lane) in numbers, f"true lane {lane} has no lane in a membrane"
        assert numbers[(1, lane)] == numbers[(2, lane)], f"true lane {lane} is numbered differently below"
    top = sorted(lane.x_centre_px for lane in res.lanes if lane.strip == 1)
    low = sorted(lane.x_centre_px for lane in res.lanes if lane.strip == 2)
    assert len(top) == len(low) == 10
    assert np.abs(np.array(top) - np.array(low)).max() <= 50 / 3  # a membrane keeps its own lane within a third
    # the bands of the lower membrane are reported in the lanes they were loaded in
    bands = res.bands[res.bands.present & (res.bands.strip == 2)]
    loaded = [k + 1 for k in range(10) if k not in EMPTY_LOWER]
    assert sorted(bands.lane.unique()) == loaded
    assert not any("do not line up" in w for w in res.warnings)


def _two_gels(seed: int) -> np.ndarray:
    """A frame holding two gels one above the other: ten lanes 62 px apart above, seven 92 px apart below."""
    g = np.random.default_rng(seed)
    top = make_synthetic_blot(
        [StripSpec("A", list(10 ** g.uniform(5.3, 6.3, 10)), height_px=200)],
        lane_width_px=44,
        lane_gap_px=18,
        margin_px=70,
        rng=seed,
        pen_mark=False,
    )
    low = make_synthetic_blot(
        [StripSpec("B", list(10 ** g.uniform(5.3, 6.3, 7)), height_px=200)],
        lane_width_px=56,
        lane_gap_px=36,
        margin_px=70,
        rng=seed + 1,
        pen_mark=False,
    )
    width = max(top.image.shape[1], low.image.shape[1])
    return np.vstack([np.pad(b.image, ((0, 0), (0, width - b.image.shape[1])), mode="edge") for b in (top, low)])


@pytest.mark.parametrize("seed", [0, 1])
def test_stacked_gels_whose_lanes_do_not_line_up_keep_their_own_lanes_and_say_so(seed):
    res = quantify_blot(_two_gels(seed))
    assert len(res.strips) == 2
    counts = [sum(lane.strip == s.index for lane in res.lanes) for s in res.strips]
    assert counts == [10, 7]
    assert sum("do not line up" in w for w in res.warnings) == 1
