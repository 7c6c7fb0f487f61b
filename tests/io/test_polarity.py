"""Blot polarity on raw images whose only band sits in one lane (a lysate-only calnexin blot)."""

from __future__ import annotations

import numpy as np

from exo_vision.blot.signal import guess_polarity
from exo_vision.io.polarity import detect_band_polarity


def _lysate_only(membrane: float) -> np.ndarray:
    """A membrane ``membrane`` counts above a 200-count camera floor, one band in one lane (16-bit, raw)."""
    rows = np.arange(600)[:, None]
    image = np.full((600, 700), 200.0)
    image[100:500, 50:650] = 200.0 + membrane
    image[100:500, 80:140] += 3000.0 * np.exp(-0.5 * ((rows[100:500] - 300) / 5.0) ** 2)
    return np.round(image + np.random.default_rng(0).normal(0, 8, image.shape)).astype(np.uint16)


def test_a_raw_image_with_one_band_above_a_dark_floor_is_bright_for_both_guesses():
    """The off-membrane floor filled the low tail: both guesses said 'dark' and the band was lost."""
    for membrane in (100.0, 800.0):
        image = _lysate_only(membrane)
        assert detect_band_polarity(image) == "bright" and guess_polarity(image) == "bright"
    # an inverted 16-bit export (a white page, dark bands in every lane) stays dark
    rows = np.arange(600)[:, None]
    page = np.full((600, 700), 60000.0)
    for x in range(80, 600, 90):
        page[:, x : x + 60] -= 20000.0 * np.exp(-0.5 * ((rows - 300) / 8.0) ** 2)
    page = np.round(page + np.random.default_rng(1).normal(0, 50, page.shape)).astype(np.uint16)
    assert detect_band_polarity(page) == "dark" and guess_polarity(page) == "dark"
