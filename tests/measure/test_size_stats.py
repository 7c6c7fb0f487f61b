"""Size statistics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exo_vision.measure.size_stats import (
    HISTOGRAM_COLUMNS,
    MIN_N_FOR_INTERVAL,
    STATISTICS_KEYS,
    bootstrap_ci,
    kde_mode,
    size_statistics,
    statistics_frame,
    weighted_histogram,
    weighted_mean_diameter,
)

FIVE = [10.0, 20.0, 30.0, 40.0, 50.0]


def five_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": [1, 2, 3, 4, 5, 6],
            "equivalent_diameter_nm": FIVE + [500.0],
            "morphology": ["round", "cup", "cup", "irregular", "round", "round"],
            # The 500 nm vesicle is cut by the border and must not count.
            "touches_border": [False] * 5 + [True],
        }
    )


def test_hand_computed_values_for_five_diameters():
    s = size_statistics(five_table(), analysed_area_nm2=2e6, n_boot=200)
    assert list(s) == list(STATISTICS_KEYS)
    assert s["n"] == 5
    assert s["n_excluded_border"] == 1
    assert s["mean_diameter_nm"] == pytest.approx(30.0)
    # Sample SD (ddof=1): sqrt((400+100+0+100+400)/4) = sqrt(250)
    assert s["sd_diameter_nm"] == pytest.approx(15.8113883)
    assert s["median_diameter_nm"] == pytest.approx(30.0)
    # Linear interpolation: rank (5-1)*0.1 = 0.4 -> 10 + 0.4*10
    assert s["d10_nm"] == pytest.approx(14.0)
    assert s["d50_nm"] == pytest.approx(30.0)
    assert s["d90_nm"] == pytest.approx(46.0)
    assert s["span"] == pytest.approx(32.0 / 30.0)
    assert s["cv"] == pytest.approx(15.8113883 / 30.0)
    assert s["pdi"] == pytest.approx(250.0 / 900.0)
    # sum d^4 / sum d^3 = 979e4 / 225e3 ; sum d^7 / sum d^6 = 968250 / 20515
    assert s["volume_weighted_mean_diameter_nm"] == pytest.approx(979e4 / 225e3)
    assert s["intensity_weighted_mean_diameter_nm"] == pytest.approx(968250 / 20515)
    # Symmetric data: the KDE peaks at the centre.
    assert s["mode_diameter_nm"] == pytest.approx(30.0, abs=0.2)
    assert s["fraction_in_size_range"] == pytest.approx(3 / 5)
    assert (s["n_round"], s["n_cup"], s["n_irregular"]) == (2, 2, 1)
    assert s["fraction_cup"] == pytest.approx(0.4)
    assert s["analysed_area_um2"] == pytest.approx(2.0)
    # 5 vesicles inside and the border one counted as half, over 2 µm²
    assert s["vesicles_per_um2"] == pytest.approx(5.5 / 2.0)
    # 5 vesicles: below MIN_N_FOR_INTERVAL, so no bootstrap interval (it would undercover)
    for key in ("mean_ci95_low_nm", "mean_ci95_high_nm", "median_ci95_low_nm", "median_ci95_high_nm"):
        assert np.isnan(s[key]), key


def test_fraction_touching_counts_only_the_counted_vesicles():
    table = five_table().assign(touches_other=[True, False, True, False, False, True])
    # the 500 nm border vesicle touches another but is excluded: 2 of the 5 counted
    assert size_statistics(table, n_boot=10)["fraction_touching"] == pytest.approx(2 / 5)
    assert size_statistics(table, exclude_border=False, n_boot=10)["fraction_touching"] == pytest.approx(3 / 6)
    assert np.isnan(size_statistics(five_table(), n_boot=10)["fraction_touching"])  # a table without the column
    # an older run's table (no flag) pooled with a newer one: not known, rather than "not touching"
    pooled = pd.concat([table, five_table()], ignore_index=True)
    assert np.isnan(size_statistics(pooled, n_boot=10)["fraction_touching"])


def test_density_counts_a_vesicle_cut_by_the_edge_as_half_and_is_unbiased():
    """Counting whole vesicles only read 10-18 % low: the edge cuts off a share of them."""
    s = size_statistics(five_table(), exclude_border=False, analysed_area_nm2=2e6, n_boot=10)
    assert s["vesicles_per_um2"] == pytest.approx(5.5 / 2.0)  # the same whether border vesicles are counted or not
    # Vesicle centres uniform over a plane (density 10 per µm²), seen through a 2 x 2 µm field:
    # 150 nm vesicles cut by the field's edge weigh one half.
    rng = np.random.default_rng(3)
    field, diameter, density = 2000.0, 150.0, 10.0
    reach = field + 2 * diameter
    estimates, whole_only = [], []
    for _ in range(400):
        n = rng.poisson(density * reach**2 / 1e6)
        centres = rng.uniform(-diameter, field + diameter, size=(n, 2))
        r = diameter / 2
        seen = np.all((centres > -r) & (centres < field + r), axis=1)
        cut = np.any((centres[seen] < r) | (centres[seen] > field - r), axis=1)
        table = pd.DataFrame({"equivalent_diameter_nm": np.full(int(seen.sum()), diameter), "touches_border": cut})
        stats_ = size_statistics(table, analysed_area_nm2=field**2, n_boot=1)
        estimates.append(stats_["vesicles_per_um2"])
        whole_only.append(stats_["n"] / 4.0)
    assert np.mean(estimates) == pytest.approx(density, rel=0.02)
    assert np.mean(whole_only) < 0.88 * density  # what the whole-vesicle count gave


def test_border_vesicles_counted_when_not_excluded():
    s = size_statistics(five_table(), exclude_border=False, n_boot=10)
    assert s["n"] == 6
    assert s["n_excluded_border"] == 0
    assert s["mean_diameter_nm"] == pytest.approx(650.0 / 6)
    assert np.isnan(s["vesicles_per_um2"])


def test_empty_table_gives_every_key_without_crashing():
    empty = pd.DataFrame({"label": pd.Series(dtype="int64"), "equivalent_diameter_nm": pd.Series(dtype=float)})
    s = size_statistics(empty, analysed_area_nm2=1e6)
    assert list(s) == list(STATISTICS_KEYS)
    assert s["n"] == 0
    assert s["vesicles_per_um2"] == 0.0
    assert s["n_cup"] == 0
    for key in ("mean_diameter_nm", "sd_diameter_nm", "mode_diameter_nm", "d10_nm", "pdi", "mean_ci95_low_nm"):
        assert np.isnan(s[key]), key


def test_one_vesicle_has_mean_but_no_sd_mode_or_span():
    # before, one vesicle had a "mode" (its diameter) and a span of 0.00, printed as if measured
    s = size_statistics(pd.DataFrame({"equivalent_diameter_nm": [80.0]}))
    assert s["mean_diameter_nm"] == s["median_diameter_nm"] == s["d50_nm"] == 80.0
    for key in ("sd_diameter_nm", "mode_diameter_nm", "span", "cv", "pdi", "mean_ci95_low_nm"):
        assert np.isnan(s[key]), key


def test_bootstrap_intervals_need_min_n_for_interval_vesicles():
    # two vesicles gave a "95 % CI" that was exactly the two diameters (57.58-77.64 nm for 57.58 and 77.64)
    two = size_statistics(pd.DataFrame({"equivalent_diameter_nm": [57.58, 77.64]}))
    assert two["mean_diameter_nm"] == pytest.approx(67.61)
    assert np.isfinite(two["mode_diameter_nm"]) and two["span"] == pytest.approx((77.64 - 57.58) * 0.8 / 67.61)
    for key in ("mean_ci95_low_nm", "mean_ci95_high_nm", "median_ci95_low_nm", "median_ci95_high_nm"):
        assert np.isnan(two[key]), key
    rng = np.random.default_rng(5)
    d = rng.lognormal(np.log(80.0), 0.35, MIN_N_FOR_INTERVAL)
    below = size_statistics(pd.DataFrame({"equivalent_diameter_nm": d[:-1]}), n_boot=200)
    at = size_statistics(pd.DataFrame({"equivalent_diameter_nm": d}), n_boot=200)
    assert np.isnan(below["mean_ci95_low_nm"]) and np.isnan(below["median_ci95_high_nm"])
    assert at["mean_ci95_low_nm"] < d.mean() < at["mean_ci95_high_nm"]
    assert at["median_ci95_low_nm"] <= np.median(d) <= at["median_ci95_high_nm"]


def test_bad_input_named_in_the_error():
    with pytest.raises(ValueError, match="equivalent_diameter_nm"):
        size_statistics(pd.DataFrame({"diameter": [1.0]}))
    with pytest.raises(ValueError, match="non-finite or negative"):
        size_statistics(pd.DataFrame({"equivalent_diameter_nm": [10.0, np.nan]}))
    with pytest.raises(ValueError, match="analysed_area_nm2"):
        size_statistics(pd.DataFrame({"equivalent_diameter_nm": [10.0]}), analysed_area_nm2=-1)


def test_number_and_volume_weighted_histogram_by_hand():
    h = weighted_histogram(FIVE, bin_width_nm=20)
    assert list(h.columns) == list(HISTOGRAM_COLUMNS)
    assert h["bin_left_nm"].tolist() == [0.0, 20.0, 40.0]
    assert h["bin_right_nm"].tolist() == [20.0, 40.0, 60.0]
    assert h["count"].tolist() == [1, 2, 2]
    assert h["fraction"].tolist() == pytest.approx([0.2, 0.4, 0.4])
    v = weighted_histogram(FIVE, bin_width_nm=20, weighting="volume")
    assert v["count"].tolist() == [1, 2, 2]
    assert v["weight"].tolist() == pytest.approx([1e3, 35e3, 189e3])
    assert v["fraction"].tolist() == pytest.approx([1 / 225, 35 / 225, 189 / 225])
    i = weighted_histogram(FIVE, bin_width_nm=20, weighting="intensity")
    assert i["fraction"].sum() == pytest.approx(1.0)
    assert i["fraction"].iloc[-1] == pytest.approx((4**6 + 5**6) / 20515)


def test_histogram_empty_and_bad_arguments():
    h = weighted_histogram([], bin_width_nm=5)
    assert list(h.columns) == list(HISTOGRAM_COLUMNS)
    assert len(h) == 0
    assert h["count"].dtype == np.int64
    fixed = weighted_histogram([], bin_width_nm=50, range_nm=(0, 200))
    assert len(fixed) == 4 and fixed["fraction"].sum() == 0
    with pytest.raises(ValueError, match="bin width"):
        weighted_histogram(FIVE, bin_width_nm=0)
    with pytest.raises(ValueError, match="weighting"):
        weighted_histogram(FIVE, bin_width_nm=5, weighting="mass")


def test_weighted_means_order_and_single_size():
    d = np.array([40.0, 80.0, 120.0])
    number = weighted_mean_diameter(d)
    volume = weighted_mean_diameter(d, weighting="volume")
    intensity = weighted_mean_diameter(d, weighting="intensity")
    assert number == pytest.approx(80.0)
    assert number < volume < intensity < 120.0
    assert weighted_mean_diameter([70.0] * 4, weighting="intensity") == pytest.approx(70.0)
    assert np.isnan(weighted_mean_diameter([]))


def test_kde_mode_of_a_skewed_sample_is_near_its_peak():
    rng = np.random.default_rng(1)
    d = rng.lognormal(mean=np.log(100), sigma=0.25, size=4000)
    # Lognormal mode = exp(mu - sigma^2) = 100 * exp(-0.0625) = 93.9 nm; the mean is 103.2 nm.
    assert 90.0 < kde_mode(d) < 98.0


def test_bootstrap_ci_width_matches_standard_error():
    rng = np.random.default_rng(2)
    d = rng.normal(100.0, 20.0, size=400)
    low, high = bootstrap_ci(d, statistic="mean", n_boot=2000, rng=3)
    half_width = (high - low) / 2
    # 1.96 * 20 / sqrt(400) = 1.96
    assert 1.6 < half_width < 2.35
    assert low < d.mean() < high
    # Same seed, same interval.
    assert bootstrap_ci(d, n_boot=300, rng=5) == bootstrap_ci(d, n_boot=300, rng=5)


def test_statistics_frame_is_tidy():
    frame = statistics_frame(
        {"a": size_statistics(five_table(), n_boot=10), "b": size_statistics(five_table().iloc[:0], n_boot=10)}
    )
    assert list(frame.columns) == ["image", *STATISTICS_KEYS]
    assert frame["image"].tolist() == ["a", "b"]
    assert frame["n"].dtype == np.int64
    assert frame["n"].tolist() == [5, 0]


def test_kde_is_scipys_with_silvermans_robust_bandwidth():
    from scipy.stats import gaussian_kde

    from exo_vision.measure.size_stats import kde_curve

    rng = np.random.default_rng(4)
    d = rng.normal(80, 15, 300).clip(20)
    grid = np.linspace(0, 160, 50)
    # 0.9 x min(SD, IQR / 1.34) x n^(-1/5), quartiles at (i - 0.5) / n (Hazen); scipy scales its factor by the SD
    sd = d.std(ddof=1)
    q1, q3 = np.percentile(d, [25, 75], method="hazen")
    bandwidth = 0.9 * min(sd, (q3 - q1) / 1.34) * d.size ** (-0.2)
    np.testing.assert_allclose(kde_curve(d, grid), gaussian_kde(d, bw_method=bandwidth / sd)(grid), rtol=1e-9)
    volume = kde_curve(d, grid, weighting="volume")
    assert np.trapezoid(volume, grid) == pytest.approx(1.0, abs=1e-3) and grid[np.argmax(volume)] > 80
    # Integrates to 1 over a wide grid.
    wide = np.linspace(-100, 300, 4001)
    assert np.trapezoid(kde_curve(d, wide), wide) == pytest.approx(1.0, abs=1e-6)


def test_the_mode_of_a_sample_with_a_long_tail_lies_in_its_crowded_bin():
    """Scott's SD-based bandwidth put it at 48.9 nm: 15 of 38 vesicles at 30-40 nm, none at 50-60 nm."""
    d = np.r_[np.full(3, 27.0), np.linspace(31.0, 39.0, 15), 44.0, 75.0, 78.0, np.linspace(92, 118, 8), 161.0]
    d = np.r_[d, 205.0, 212.0, 225.0, 140.0, 150.0, 101.0, 99.0, 120.0, 88.0]
    assert 30.0 <= kde_mode(d) <= 40.0


def test_flags_and_morphologies_written_as_a_spreadsheet_leaves_them_are_read():
    """A table read with dtype=str holds "True"/"False": every non-empty string was True, so every vesicle was
    left out as cut by the border (n = 0); "Cup " and "ROUND" were counted as no morphology at all."""
    table = pd.DataFrame(
        {
            "equivalent_diameter_nm": ["50", "60", "70", "999"],
            "touches_border": ["False", "false", "0", "True"],
            "touches_other": ["yes", "no", "", "no"],
            "morphology": ["Cup ", "ROUND", "round", "irregular"],
        }
    )
    table["equivalent_diameter_nm"] = table["equivalent_diameter_nm"].astype(float)
    stats = size_statistics(table, n_boot=10)
    assert stats["n"] == 3 and stats["n_excluded_border"] == 1
    assert stats["mean_diameter_nm"] == pytest.approx(60.0)
    assert (stats["n_cup"], stats["n_round"], stats["n_irregular"]) == (1, 2, 0)
    assert stats["fraction_touching"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="morphology 'vesicle' is none of round, cup, irregular"):
        size_statistics(table.assign(morphology=["vesicle", "round", "round", "cup"]), n_boot=10)
    with pytest.raises(ValueError, match="data row 2: touches_border is 'maybe', not a truth value"):
        size_statistics(table.assign(touches_border=["False", "maybe", "0", "1"]), n_boot=10)


def test_the_bootstrap_interval_does_not_depend_on_the_order_of_the_rows():
    """The same micrographs given in another order moved the pooled 95 % interval (72.17-103.28 -> 71.44-102.71)."""
    d = np.random.default_rng(3).gamma(4.0, 20.0, 150)
    for statistic in ("mean", "median"):
        ci = bootstrap_ci(d, statistic=statistic, n_boot=500, rng=1)
        assert bootstrap_ci(d[::-1], statistic=statistic, n_boot=500, rng=1) == ci
        assert bootstrap_ci(np.random.default_rng(9).permutation(d), statistic=statistic, n_boot=500, rng=1) == ci
    with pytest.raises(ValueError, match="n_boot must be a whole number of resamples"):
        bootstrap_ci(d, n_boot=100.5)
