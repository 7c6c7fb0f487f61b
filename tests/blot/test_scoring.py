"""Band scores against truth boxes: counts, recall, precision and F1 worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from exo_vision.blot.scoring import BandScore


def _score(n_truth: int, n_found: int, n_reported: int) -> BandScore:
    return BandScore(
        n_truth, n_found, n_truth, n_found, n_reported, n_reported - n_found, pd.DataFrame(), pd.DataFrame()
    )


def test_precision_recall_and_f1_of_a_band_score():
    score = _score(n_truth=10, n_found=8, n_reported=16)
    assert score.recall == pytest.approx(0.8)
    assert score.precision == pytest.approx(0.5)
    assert score.f1 == pytest.approx(2 * 0.5 * 0.8 / 1.3)  # 0.6154


def test_a_score_without_reports_has_no_precision_and_f1_zero():
    score = _score(n_truth=5, n_found=0, n_reported=0)
    assert np.isnan(score.precision)
    assert score.recall == 0.0
    assert score.f1 == 0.0
