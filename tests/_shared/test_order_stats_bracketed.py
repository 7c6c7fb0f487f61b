"""Bracketed order statistics equal numpy's median and percentile exactly (same values, same type)."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision._shared.order_stats import median_along, median_of, percentile_along, percentile_of, percentile_one

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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("q", [0, 0.1, 37.5, 50, 80, 99.9, 100])
def test_percentile_along_an_axis_equals_numpy(dtype, q):
    rng = np.random.default_rng(int(q * 10))
    for shape in [(1, 1), (1, 9), (146, 31), (58, 134), (7, 2)]:
        values = (800.0 + rng.normal(0, 30, shape)).astype(dtype)
        values[:, ::3] = np.round(values[:, ::3])  # ties
        for axis in (0, 1):
            want = np.percentile(values, q, axis=axis)
            got = percentile_along(values, q, axis)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_percentile_along_hand_computed():
    # columns 0..4 of 1..5: the 80th percentile of 5 values sits at position 3.2, 4 + 0.2 = 4.2
    values = np.arange(1, 6, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    np.testing.assert_allclose(percentile_along(values, 80, 0), [4.2, 4.2, 4.2], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_median_along_an_axis_equals_numpy(dtype):
    rng = np.random.default_rng(3)
    for shape in [(1, 1), (1, 8), (2, 9), (146, 31), (57, 134), (8, 3)]:
        values = (800.0 + rng.normal(0, 30, shape)).astype(dtype)
        values[:, ::3] = np.round(values[:, ::3])
        for axis in (0, 1):
            want = np.median(values, axis=axis)
            got = median_along(values, axis)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_lines_holding_nan_give_nan_as_numpy():
    values = np.arange(24, dtype=np.float32).reshape(6, 4)
    values[2, 1] = np.nan
    np.testing.assert_array_equal(median_along(values, 0), np.median(values, axis=0))
    np.testing.assert_array_equal(percentile_along(values, 80, 1), np.percentile(values, 80, axis=1))
    # hand-computed: column 0 is 0, 4, ..., 20: its median is (8 + 12) / 2
    assert median_along(values, 0)[0] == 10.0


@pytest.mark.parametrize("index", range(7))
def test_one_percentile_equals_numpy_in_the_values_type(index):
    values = _samples()[index]
    for q in (0, 0.1, 12.5, 50, 80, 99.5, 99.9, 100):
        want = np.percentile(values, q)
        got = percentile_one(values, q)
        assert type(got) is type(want)
        assert got == want
