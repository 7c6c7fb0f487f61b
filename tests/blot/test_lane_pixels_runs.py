"""A lane's pixels, copied run by run for vertical and gently tilted lanes, are the pixels its columns index."""

from __future__ import annotations

import numpy as np

from exo_vision.blot.lanes.geometry import Lane, lane_pixels


def _indexed(image: np.ndarray, lane: Lane, fraction: float) -> np.ndarray:
    rows = np.arange(lane.y_top_px, lane.y_bottom_px)
    cols = np.clip(lane.columns(rows, fraction=fraction), 0, image.shape[1] - 1)
    return image[rows[:, None], cols]


def test_lane_pixels_equal_the_indexed_columns_for_any_tilt_and_position():
    rng = np.random.default_rng(57)
    image = rng.normal(size=(120, 90)).astype(np.float32)
    for _ in range(300):
        top = int(rng.integers(0, 100))
        bottom = int(rng.integers(top, 121))
        width = float(rng.uniform(1.0, 40.0))
        x_top = float(rng.uniform(-10.0, 100.0))
        # vertical, gently tilted (a few runs) and steep (a new column every row)
        x_bottom = x_top + float(rng.choice([0.0, rng.uniform(-4.0, 4.0), rng.uniform(-60.0, 60.0)]))
        lane = Lane(1, 1, top, bottom, x_top, x_bottom, width)
        fraction = float(rng.choice([1.0, 0.8, 0.5]))
        out = lane_pixels(image, lane, fraction=fraction)
        assert out.dtype == image.dtype
        np.testing.assert_array_equal(out, _indexed(image, lane, fraction))


def test_first_columns_are_the_first_of_the_lane_columns():
    # centre 10.0 at row 0 moving 3 columns over rows 0-3; 0.5 of width 9 is 5 columns (round half up)
    lane = Lane(1, 1, 0, 4, 10.0, 13.0, 9.0)
    rows = np.arange(4)
    first, n = lane.first_columns(rows, fraction=0.5)
    assert n == 5
    assert first.tolist() == [8, 9, 10, 11]
    np.testing.assert_array_equal(lane.columns(rows, fraction=0.5)[:, 0], first)


def test_lane_pixels_of_a_vertical_lane_are_its_rectangle_and_of_a_bool_mask_too():
    image = np.arange(20 * 30).reshape(20, 30)
    lane = Lane(1, 1, 2, 12, 14.0, 14.0, 6.0)
    np.testing.assert_array_equal(lane_pixels(image, lane, fraction=1.0), image[2:12, 12:18])
    mask = image % 7 == 0
    np.testing.assert_array_equal(lane_pixels(mask, lane, fraction=1.0), mask[2:12, 12:18])
