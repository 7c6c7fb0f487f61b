"""The robust noise SD shared by blots and segmentation, on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision._shared.robust import MAD_TO_SD, mad_sd


def test_mad_sd_ignores_an_outlier():
    # median 3; absolute deviations 2, 1, 0, 1, 97 -> median 1
    assert mad_sd(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == pytest.approx(MAD_TO_SD)


def test_mad_sd_of_gaussian_noise_is_its_sd():
    noise = np.random.default_rng(0).normal(0.0, 2.5, 200_000).astype(np.float32)
    value = mad_sd(noise)
    assert isinstance(value, float)
    assert value == pytest.approx(2.5, rel=0.01)
