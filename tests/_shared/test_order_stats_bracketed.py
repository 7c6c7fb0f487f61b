"""Bracketed order statistics equal numpy's median and percentile exactly (same values, same type)."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision._shared.order_stats import median_of, percentile_of

PERCENTILE_SETS = [(0.1, 99.9), (50,), (0, 100), (25.0, 75.0), (99.5, 0.5), (33.3,), (1, 99)]


def _samples() -> list[np.ndarray]:
    rng = np.random.default_rng(57)
    n = 120_001
    ramp = np.sort(rng.normal(size=n)).astype(np.float32)  # sorted: the strided subsample is no random sample
    levels = rng.integers(0, 40, (300, 401)).astype(np.float32)  # whole levels, many ties
    repeating = np.tile(rng.normal(size=7), n // 7 + 1)[:n]  # a period that a stride can alias
    image = 800.0 + rng.normal(0, 8, (600, 500)).astype(np.float32)
    image[200:230, 50:450] += 5000.0
    return [rng.normal(size=n), ramp, levels, repeating, image, rng.exponential(size=n).astype(np.float32), ramp[:999]]


@pytest.mark.parametrize("index", range(7))
def test_median_and_percentiles_equal_numpy(index):
    values = _samples()[index]
    expected = np.median(values)
    got = median_of(values)
    assert type(got) is type(expected)
    assert got == expected
    for q in PERCENTILE_SETS:
        want = np.percentile(np.asarray(values, dtype=np.float64), q)
        out = percentile_of(values, q)
        assert out.dtype == want.dtype
        np.testing.assert_array_equal(out, want)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_non_finite_samples_answer_as_numpy():
    rng = np.random.default_rng(1)
    values = rng.normal(size=80_000)
    values[123] = np.nan
    assert np.isnan(median_of(values))
    assert np.isnan(percentile_of(values, (0.1, 99.9))).all()
    values[123] = np.inf
    np.testing.assert_array_equal(percentile_of(values, (50, 100)), np.percentile(values, (50, 100)))


def test_hand_computed_percentile_of_a_ramp():
    # 0 .. 99_999: the 0.1th percentile sits at virtual index 99.999 (between 99 and 100), the median at 49_999.5
    values = np.arange(100_000, dtype=np.float64)
    np.testing.assert_allclose(percentile_of(values, (0.1, 50)), [99.999, 49_999.5], rtol=0, atol=1e-9)
    assert median_of(values) == 49_999.5
