"""The steps of lane finding alone (exo_vision.blot.lanes: peaks, blanks, tilt), on hand-built input."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.lanes.blanks import end_lanes, fill_gaps, fit_count
from exo_vision.blot.lanes.peaks import LanePeak, detect_peaks, pitch_of, split_merged
from exo_vision.blot.lanes.tilt import common_slope, lane_slope
from exo_vision.blot.strips import Strip


def test_pitch_is_the_median_of_the_smallest_spacings():
    assert pitch_of(np.array([10.0, 50.0, 90.0, 170.0])) == pytest.approx(40.0)  # 80 is a skipped lane
    assert pitch_of(np.array([10.0])) is None
    assert pitch_of(np.array([10.0, 10.5])) is None  # the same lane seen twice


def test_lane_peaks_centre_between_half_height_crossings():
    x = np.arange(200, dtype=float)
    profile = np.zeros(200)
    profile[40:61] = 10.0  # flat-topped lane, columns 40..60: centre 50
    profile[120:141] = 5.0 + 0.2 * (x[120:141] - 120)  # sloped top: maximum at its right end
    peaks = detect_peaks(profile, min_width_px=6, k_noise=8.0, noise=0.1)
    assert [p.x for p in peaks] == [pytest.approx(50.0, abs=0.01), pytest.approx(130.0, abs=1.0)]
    assert peaks[0].width == pytest.approx(21, abs=1.5)


def test_a_strong_peak_two_pitches_wide_holds_two_lanes_a_lane_wide_one_holds_one():
    # pitch 66 px, lanes 45 px wide: a peak 130 px wide is two lanes run together, a pitch apart about its centre
    assert split_merged(LanePeak(x=547.0, width=130.0, prominence=9.0), 66.0, 45.0) == pytest.approx([514.0, 580.0])
    # three pitches wide: three lanes
    assert split_merged(LanePeak(x=300.0, width=195.0, prominence=9.0), 66.0, 45.0) == pytest.approx([234, 300, 366])
    # a ladder's plateau, a lane wide, and a wide lane under one and a half pitches stay one lane each
    assert split_merged(LanePeak(x=100.0, width=60.0, prominence=9.0), 66.0, 45.0) == [100.0]
    assert split_merged(LanePeak(x=100.0, width=95.0, prominence=9.0), 66.0, 45.0) == [100.0]
    # lanes nearly a pitch wide: a peak of 1.6 pitches is still under two lane widths, one lane
    assert split_merged(LanePeak(x=100.0, width=105.0, prominence=9.0), 66.0, 60.0) == [100.0]


def test_gaps_of_whole_pitches_get_their_blank_lanes():
    assert fill_gaps([10.0, 50.0, 130.0, 170.0], 40.0) == [10.0, 50.0, 90.0, 130.0, 170.0]
    assert fill_gaps([10.0, 50.0, 110.0], 40.0) == [10.0, 50.0, 110.0]  # 1.5 pitches: not a lane
    assert fill_gaps([10.0, 50.0], None) == [10.0, 50.0]


def test_unequal_margins_hold_blank_end_lanes():
    strip = Strip(1, 0, 100, 0, 300, membrane_left_px=0.0, membrane_right_px=299.0)
    xs, message = end_lanes([30.0, 70.0, 110.0, 150.0, 190.0], 40.0, 30.0, strip)
    assert xs == [30.0, 70.0, 110.0, 150.0, 190.0, 230.0, 270.0] and message == ""
    # margins of 45 and 65 px (a lane fits at either end, but they differ by half a pitch): nothing is
    # added and the user is told to give the count
    six = [60.0, 100.0, 140.0, 180.0, 220.0, 260.0]
    xs, message = end_lanes(six, 40.0, 30.0, Strip(1, 0, 100, 0, 341, membrane_left_px=0.0, membrane_right_px=340.0))
    assert xs == six and "--lanes N" in message


def test_a_given_count_trims_the_weakest_end_lane_or_extends_the_run():
    prof = np.zeros(300)
    prof[[30, 70, 110, 150]] = [1.0, 5.0, 5.0, 5.0]
    # (centres, a guess, the rival grids of an ambiguous count: none here)
    assert fit_count([30.0, 70.0, 110.0, 150.0], 3, 40.0, 300, 30.0, prof) == ([70.0, 110.0, 150.0], False, [])
    assert fit_count([30.0, 70.0], 4, 40.0, 300, 30.0, prof) == ([30.0, 70.0, 110.0, 150.0], True, [])  # guessed
    # with the membrane's edges the set is centred on it: the found lanes are the 2nd and 3rd of four
    assert fit_count([30.0, 70.0], 4, 40.0, 300, 30.0, prof, membrane=(-40.0, 140.0)) == (
        [-10.0, 30.0, 70.0, 110.0],
        False,
        [],
    )


def test_tilted_bands_give_the_common_slope_within_the_limit():
    rows, cols = np.mgrid[0:240, 0:200]
    th = np.zeros((240, 200))
    for x0 in (50.0, 130.0):
        centre = x0 + 0.05 * (rows - 120)  # every lane leans 0.05 column per row
        for y0 in (40, 120, 200):
            th += np.exp(-0.5 * ((rows - y0) / 4.0) ** 2) * (np.abs(cols - centre) <= 12)
    assert common_slope(th, [50.0, 130.0], 24.0) == pytest.approx(0.05, abs=0.01)
    strip = Strip(1, 0, 240, 0, 200)
    assert lane_slope(th, [50.0, 130.0], 24.0, strip) == pytest.approx(0.05, abs=0.01)
    # a 1-degree limit clips the fitted slope to tan(1 deg)
    assert lane_slope(th, [50.0, 130.0], 24.0, strip, max_tilt_deg=1.0) == pytest.approx(np.tan(np.deg2rad(1.0)))
    assert lane_slope(np.zeros((240, 200)), [50.0, 130.0], 24.0, strip) == 0.0  # no bands: square to the membrane
