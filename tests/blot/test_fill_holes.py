"""Membrane masks filled and opened with OpenCV hold the pixels scipy's fill-holes and opening give."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from exo_vision.blot.strips import MEMBRANE_OPENING, _membrane_mask, fill_holes


def test_fill_holes_and_membrane_mask_equal_scipy():
    rng = np.random.default_rng(57)
    for _ in range(200):
        shape = (int(rng.integers(1, 50)), int(rng.integers(1, 50)))
        small = ndi.gaussian_filter(rng.random(shape), float(rng.uniform(0.5, 3.0))).astype(np.float32)
        threshold = float(np.quantile(small, rng.uniform(0.1, 0.9)))
        mask = small > threshold
        np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
        want = ndi.binary_opening(ndi.binary_fill_holes(mask), structure=MEMBRANE_OPENING)
        np.testing.assert_array_equal(_membrane_mask(small, threshold), want)


def test_fill_holes_hand_made():
    # a 5 x 5 square at rows/columns 1-5 with: an enclosed hole at (3, 3); a notch at column 5, rows 1-2, open to
    # the empty top row; and an empty corner pixel (5, 5) whose only empty neighbour inside is none: it touches
    # the outside (row 6, column 6) side by side, so it is not a hole
    mask = np.zeros((7, 7), bool)
    mask[1:6, 1:6] = True
    mask[3, 3] = False
    mask[1:3, 5] = False
    mask[5, 5] = False
    # a pixel reaching the outside only through a corner (diagonally) is a hole for 4-connectivity
    mask[2, 2] = False
    mask[1, 1] = True
    filled = fill_holes(mask)
    assert filled[3, 3] and filled[2, 2]
    assert not filled[1:3, 5].any()
    assert not filled[5, 5]
    np.testing.assert_array_equal(filled, ndi.binary_fill_holes(mask))
