"""Lane-profile bands: the profile's noise SD."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.bands import profile_noise_sd


@pytest.mark.parametrize("order", [1, 2])
def test_noise_of_a_flat_profile_is_its_sd(order):
    noise = np.random.default_rng(0).normal(0, 1.5, 4000)
    assert profile_noise_sd(100 + noise, order=order) == pytest.approx(1.5, rel=0.08)


def test_second_differences_are_not_fooled_by_packed_band_flanks():
    rows = np.arange(400)
    ladder = sum(20 * np.exp(-0.5 * ((rows - y) / 3.0) ** 2) for y in range(20, 380, 8))
    profile = 100 + ladder + np.random.default_rng(1).normal(0, 0.5, rows.size)
    # bands 40 noise SDs high, 8 rows apart: neighbour differences read their flanks as noise
    assert profile_noise_sd(profile, order=2) == pytest.approx(0.5, rel=0.35)
    assert profile_noise_sd(profile, order=1) > 2 * 0.5
