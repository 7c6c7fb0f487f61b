"""Confidence intervals of detection scores: hand-computed values and their coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.evaluation import DetectionScore, f1_interval, wilson_interval


def test_wilson_interval_matches_the_hand_computed_bounds():
    # p = 0.5, n = 10, z = 1.959964: centre 0.5, half-width z * sqrt(0.025 + z^2 / 400) / (1 + z^2 / 10) = 0.263407
    assert wilson_interval(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    # no success: the lower bound is 0 and the upper bound z^2 / (n + z^2) = 3.841459 / 13.841459
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.277533, abs=1e-6)
    # a wider coverage gives a wider interval around the same centre
    narrow, wide = wilson_interval(29, 39, 0.8), wilson_interval(29, 39, 0.99)
    assert wide[0] < narrow[0] < 29 / 39 < narrow[1] < wide[1]


def test_wilson_interval_covers_the_true_recall_about_as_often_as_it_says():
    rng = np.random.default_rng(7)
    p, n = 0.74, 39  # the size of the FRU-Net full-field truth
    hits = [lo <= p <= hi for lo, hi in (wilson_interval(int(k), n) for k in rng.binomial(n, p, size=4000))]
    assert 0.93 <= np.mean(hits) <= 0.975


def test_f1_interval_holds_the_estimate_and_narrows_with_more_objects():
    tp, fp, fn = 29, 11, 10
    low, high = f1_interval(tp, fp, fn)
    assert low < 2 * tp / (2 * tp + fp + fn) < high
    assert f1_interval(tp, fp, fn) == (low, high)  # fixed seed: the same counts give the same interval
    low10, high10 = f1_interval(10 * tp, 10 * fp, 10 * fn)
    assert high10 - low10 < 0.5 * (high - low)  # ten times the objects: about a third of the width
    low, high = f1_interval(12, 0, 0)  # twelve of twelve found, nothing false: still not certain
    assert 0.8 < low < 0.95 and 0.99 < high <= 1.0
    assert all(np.isnan(f1_interval(0, 0, 0)))


def test_detection_score_intervals_follow_its_counts():
    s = DetectionScore(tp=29, fp=11, fn=10)
    assert s.interval("recall") == wilson_interval(29, 39)
    assert s.interval("precision") == wilson_interval(29, 40)
    assert s.interval("f1") == f1_interval(29, 11, 10)
    assert all(np.isnan(DetectionScore().interval("recall")))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: wilson_interval(5, 4), "successes <= trials"),
        (lambda: wilson_interval(1, 4, coverage=95), "between 0 and 1"),
        (lambda: f1_interval(-1, 0, 0), "not be negative"),
        (lambda: f1_interval(1, 1, 1, resamples=0), "at least 1"),
        (lambda: DetectionScore(1, 1, 1).interval("accuracy"), "'precision', 'recall' or 'f1'"),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()
