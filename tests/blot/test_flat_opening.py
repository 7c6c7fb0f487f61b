"""The OpenCV flat opening used by the lane finder's top-hat equals scipy's filters exactly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from exo_vision.blot.lanes.profile import flat_opening


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_opening_equals_scipy_for_odd_and_even_boxes(dtype):
    rng = np.random.default_rng(57)
    for _ in range(60):
        shape = (int(rng.integers(1, 30)), int(rng.integers(1, 30)))
        box = (int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        image = rng.normal(size=shape).astype(dtype)
        same_place = ndi.maximum_filter(ndi.minimum_filter(image, box, mode="nearest"), box, mode="nearest")
        np.testing.assert_array_equal(flat_opening(image, box, edge="nearest"), same_place)
        zero = ndi.grey_opening(image, size=box, mode="constant", cval=0.0)
        out = flat_opening(image, box, edge="zero", mirrored=True)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, zero)


def test_flat_opening_tall_window_keeps_a_band_and_drops_the_floor():
    # a column: floor 10, a 3-row band of 50 at rows 4-6 and one dark pixel of 2 at row 0; a 7-row opening reads
    # the floor under the band (the band is narrower than the window) and keeps the dark pixel (an opening never
    # rises above the image)
    column = np.full((12, 1), 10.0, np.float32)
    column[4:7] = 50.0
    column[0] = 2.0
    opened = flat_opening(column, (7, 1), edge="nearest")
    assert opened[:, 0].tolist() == [2.0] + [10.0] * 11


def test_flat_opening_rejects_unknown_edge_and_empty_box():
    image = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="edge"):
        flat_opening(image, (3, 3), edge="reflect")
    with pytest.raises(ValueError, match="box"):
        flat_opening(image, (0, 3), edge="zero")
