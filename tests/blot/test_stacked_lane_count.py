"""A lane count (--lanes N) on a frame of stacked membranes applies to the lanes they share.

Two membranes imaged one above the other carry the same lanes; lane k must be lane k in both.
The count used to be applied to each membrane before they shared their lanes: below the lanes
shown it failed (one membrane kept N, the union of both gave more) or kept different lanes per
membrane, and at the lanes shown it could move a membrane's lanes off those found without a count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import make_two_membrane_frame

#: Lane k of one membrane lies within this many px of lane k of the other (lanes are 40-56 px wide,
#: the generated lanes run straight through both membranes).
SAME_LANE_PX = 6


def _run(blot, n_lanes=None):
    return quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, n_lanes=n_lanes)


def _centres(res) -> list[list[float]]:
    """Lane centres (px) per strip, in lane-number order (numbers checked to run 1..n)."""
    out = []
    for s in res.strips:
        lanes = sorted((lane for lane in res.lanes if lane.strip == s.index), key=lambda lane: lane.index)
        assert [lane.index for lane in lanes] == list(range(1, len(lanes) + 1))
        out.append([lane.x_centre_px for lane in lanes])
    return out


def _shown(blot) -> tuple[int, list[list[float]], list[str]]:
    """Lanes per membrane found without a count, their centres, and the run's warnings."""
    res = _run(blot)
    centres = _centres(res)
    assert len(centres) == 2 and len(centres[0]) == len(centres[1])
    return len(centres[0]), centres, res.warnings


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_a_count_below_the_lanes_shown_keeps_the_same_lanes_in_both_membranes_and_says_so(seed):
    blot = make_two_membrane_frame(rng=seed)
    k, shown, _ = _shown(blot)
    assert k == blot.truth.groupby("strip").size().iloc[0]  # the generated frame's lanes, all found
    res = _run(blot, k - 2)
    top, bottom = _centres(res)
    assert len(top) == len(bottom) == k - 2
    assert np.abs(np.subtract(top, bottom)).max() < SAME_LANE_PX
    # the kept lanes are one run of the lanes found without a count, the same run in both membranes
    first = int(np.argmin(np.abs(np.array(shown[0]) - top[0])))
    for found, kept in zip(shown, (top, bottom), strict=True):
        assert np.abs(np.array(found[first : first + k - 2]) - kept).max() < 1.0
    told = [w for w in res.warnings if f"{k} lanes were found" in w]
    assert len(told) == 1 and "strips 1, 2" in told[0]


@pytest.mark.parametrize("seed", [1, 4])
def test_a_count_equal_to_the_lanes_shown_changes_nothing(seed):
    blot = make_two_membrane_frame(rng=seed)
    k, shown, warnings = _shown(blot)
    res = _run(blot, k)
    top, bottom = _centres(res)
    assert np.abs(np.subtract(top, bottom)).max() < SAME_LANE_PX
    assert np.abs(np.array([top, bottom]) - np.array(shown)).max() < 1e-9
    assert res.warnings == warnings
    pd.testing.assert_frame_equal(res.bands, _run(blot).bands)


def test_a_count_above_the_lanes_shown_adds_the_same_lane_to_both_membranes_as_on_one_membrane():
    blot = make_two_membrane_frame(rng=2)
    k, shown, _ = _shown(blot)
    res = _run(blot, k + 1)
    top, bottom = _centres(res)
    assert len(top) == len(bottom) == k + 1
    assert np.abs(np.subtract(top, bottom)).max() < SAME_LANE_PX
    assert np.abs(np.array(top[:k]) - shown[0]).max() < 1.0  # the lanes shown stay, one lane is added at the end
    # the top membrane cropped alone (one strip) gets the same extra lane, a pitch beyond the last one
    cut = (res.strips[0].y_bottom_px + res.strips[1].y_top_px) // 2
    alone = quantify_blot(blot.image[:cut], polarity=blot.polarity, max_value=blot.max_value, n_lanes=k + 1)
    assert abs(max(lane.x_centre_px for lane in alone.lanes) - top[-1]) < SAME_LANE_PX
    # as on one membrane, a lane placed by a pitch beyond the others is named a guess
    (guess,) = [w for w in res.warnings if f"{k} of the {k + 1} lanes show a band" in w and "a guess" in w]
    assert "--lane-ranges X0-X1" in guess and "{LANE_COLUMNS}" not in guess  # the option, not its placeholder


def _two_membranes(shift_px: int, trim_right_px: int = 0):
    """Two membranes of 8 loaded lanes (pitch 64 px), the lower one laid ``shift_px`` to the right and cut
    ``trim_right_px`` narrower on its right; the frame, and each membrane's true lane centres (px)."""
    from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot

    volumes = [4e5, 8e5, 1e6, 3e5, 6e5, 1.5e6, 5e5, 9e5]
    base = make_synthetic_blot(
        [StripSpec("CD9", volumes, height_px=180), StripSpec("CD63", volumes[::-1], height_px=180)],
        lane_width_px=44,
        lane_gap_px=20,
        margin_px=80,
        strip_gap_px=40,
        n_dust=0,
        pen_mark=False,
        rng=3,
    )
    truth = base.truth
    floor = np.median(base.image[:10])
    image = np.hstack([base.image, np.full((base.image.shape[0], shift_px), floor, base.image.dtype)])
    cut = int(truth[truth.strip == 2].strip_y_top_px.iloc[0]) - 20
    image[cut:] = np.roll(image[cut:], shift_px, axis=1)
    image[cut:, :shift_px] = floor
    lower = truth[truth.strip == 2]
    right = int(lower.x_centre_px.max() + lower.lane_width_px.max() / 2 + 80) + shift_px  # the membrane's edge
    if trim_right_px:
        image[cut:, right - trim_right_px :] = floor
    kept = lower[lower.x_centre_px + shift_px < right - trim_right_px]
    return base, image, [sorted(truth[truth.strip == 1].x_centre_px), sorted(kept.x_centre_px + shift_px)]


@pytest.mark.parametrize(("shift_pitches", "trim_lanes"), [(0.8, 0), (1.0, 0), (2.0, 0), (0.0, 1), (1.5, 0)])
def test_a_membrane_laid_to_the_side_or_cut_narrower_keeps_its_own_lanes(shift_pitches, trim_lanes):
    # the lower of two membranes of 8 lanes laid to the side and/or cut narrower by its margin and a lane on the
    # right: lanes alone fit a shift by whole pitches as well, and the two side edges then disagree. Before, a
    # membrane one pitch to the side made a 9-lane union (--lanes 8 dropped a real lane of the upper membrane and
    # renumbered it), and after a first fix that averaged the edges a narrower membrane had its lanes numbered
    # one too high
    trim = 80 + 64 * trim_lanes if trim_lanes else 0
    base, image, expected = _two_membranes(round(shift_pitches * 64), trim_right_px=trim)
    for n_lanes in (None, 8):
        res = quantify_blot(image, polarity=base.polarity, max_value=base.max_value, n_lanes=n_lanes)
        centres = _centres(res)
        assert len(centres) == 2
        assert centres[0] == pytest.approx(expected[0], abs=SAME_LANE_PX)
        assert centres[1][: len(expected[1])] == pytest.approx(expected[1], abs=SAME_LANE_PX)  # lane k is sample k
        present = res.bands[res.bands.present]
        lanes = present.groupby("strip").lane.apply(sorted).tolist()
        assert lanes == [list(range(1, 9)), list(range(1, len(expected[1]) + 1))]


def test_membranes_a_lane_apart_with_no_side_edge_seen_in_both_are_warned():
    # the lower membrane laid one lane (64 px) to the right, the frame cut through the upper membrane's left edge
    # and the lower one's right edge: no edge seen in both, and the lanes fit "laid as cut" one lane short. Before,
    # they were numbered so without a word
    base, image, _ = _two_membranes(64)
    crop = image[:, 30:680]  # upper membrane 0-644 px, lower 64-708 px
    res = quantify_blot(crop, polarity=base.polarity, max_value=base.max_value)
    (message,) = [w for w in res.warnings if "no side edge seen in both" in w]
    assert "strips 1 and 2" in message and "lay a lane" in message and "crop them" in message
    aligned = quantify_blot(image, polarity=base.polarity, max_value=base.max_value)  # both edges seen
    assert not any("no side edge seen in both" in w for w in aligned.warnings)
