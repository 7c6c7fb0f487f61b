"""Row percentiles read off one sort equal numpy's own per-row percentiles and medians."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision._shared.order_stats import sorted_rows_median, sorted_rows_percentile


@pytest.mark.parametrize("n", [1, 2, 7, 128, 129])
@pytest.mark.parametrize("q", [0.0, 0.1, 10.0, 50.0, 80.0, 99.9, 100.0])
def test_percentile_of_sorted_rows_equals_numpy(n: int, q: float) -> None:
    rows = np.random.default_rng(n).normal(300.0, 20.0, (50, n))
    ours = sorted_rows_percentile(np.sort(rows, axis=1), q)
    np.testing.assert_allclose(ours, np.percentile(rows, q, axis=1), rtol=1e-13, atol=0)


def test_percentile_of_whole_numbers_is_exact() -> None:
    # camera pixels are whole numbers: the 80th percentile of runs of 128 lies 0.6 of a step past the 102nd value
    rows = np.random.default_rng(3).integers(0, 65536, (400, 128)).astype(np.float64)
    assert np.array_equal(sorted_rows_percentile(np.sort(rows, axis=1), 80), np.percentile(rows, 80, axis=1))
    hand = np.arange(128, dtype=np.float64)[None, :]
    assert sorted_rows_percentile(hand, 80)[0] == pytest.approx(101.6, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 128])
def test_median_of_sorted_rows_equals_numpy(n: int) -> None:
    rows = np.random.default_rng(n).integers(0, 1000, (30, n)).astype(np.float64)
    assert np.array_equal(sorted_rows_median(np.sort(rows, axis=1)), np.median(rows, axis=1))
    assert sorted_rows_median(np.array([[1.0, 2.0, 4.0, 10.0]]))[0] == 3.0


def test_percentile_outside_0_100_is_refused() -> None:
    with pytest.raises(ValueError, match="0-100"):
        sorted_rows_percentile(np.zeros((1, 3)), 101.0)
