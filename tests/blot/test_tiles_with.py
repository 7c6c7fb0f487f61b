"""Tiles holding a marked pixel, found rows of tiles first, are the tiles a 4-D reshape finds."""

from __future__ import annotations

import numpy as np

from exo_vision.blot.signal import _tiles_with


def _reference(mask: np.ndarray, tile: int) -> np.ndarray:
    h, w = mask.shape
    th, tw = -(-h // tile), -(-w // tile)
    pad = np.zeros((th * tile, tw * tile), bool)
    pad[:h, :w] = mask
    return np.argwhere(pad.reshape(th, tile, tw, tile).any(axis=(1, -1)))


def test_tiles_with_equal_the_reshaped_reference():
    rng = np.random.default_rng(57)
    for shape in [(1, 1), (31, 33), (64, 64), (65, 1), (100, 257), (300, 97)]:
        for p in (0.0, 0.001, 0.05):
            mask = rng.random(shape) < p
            for tile in (32, 7):
                np.testing.assert_array_equal(_tiles_with(mask, tile), _reference(mask, tile))


def test_tiles_with_hand_made():
    mask = np.zeros((70, 40), bool)
    mask[0, 0] = mask[65, 39] = True
    assert _tiles_with(mask, 32).tolist() == [[0, 0], [2, 1]]
