"""Runs of True in a 1-D mask (exo_vision._shared.runs), against runs counted by hand."""

from __future__ import annotations

import numpy as np

from exo_vision._shared.runs import true_runs


def test_runs_are_end_exclusive_and_reach_both_ends():
    mask = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert true_runs(mask) == [(0, 2), (4, 5), (6, 9)]
    assert true_runs(mask, offset=100) == [(100, 102), (104, 105), (106, 109)]


def test_no_run_in_an_empty_or_all_false_mask_and_one_in_an_all_true_mask():
    assert true_runs(np.zeros(5, bool)) == []
    assert true_runs(np.zeros(0, bool)) == []
    assert true_runs(np.ones(4, bool)) == [(0, 4)]
