"""Runs of free rows found by differencing are the runs scipy's labelling finds."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from exo_vision.blot.detection import true_runs


def test_true_runs_equal_scipy_label_runs():
    rng = np.random.default_rng(57)
    for n in [1, 2, 5, 40, 473]:
        for p in (0.1, 0.5, 0.9, 1.0):
            flags = rng.random(n) < p
            labels, _ = ndi.label(flags)
            want = [(s.start, s.stop) for (s,) in ndi.find_objects(labels)]
            assert true_runs(flags) == want


def test_true_runs_hand_computed():
    flags = np.array([True, True, False, False, True, False, True, True, True])
    assert true_runs(flags) == [(0, 2), (4, 5), (6, 9)]
    assert true_runs(np.zeros(4, bool)) == []
    assert true_runs(np.zeros(0, bool)) == []  # scipy's find_objects fails on an empty array
