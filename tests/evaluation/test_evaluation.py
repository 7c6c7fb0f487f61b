"""Instance matching and detection scores on hand-built label images."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.evaluation import match_instances, score_detection


def _boxes(shape, boxes):
    labels = np.zeros(shape, np.int32)
    for k, (r0, r1, c0, c1) in enumerate(boxes, start=1):
        labels[r0:r1, c0:c1] = k
    return labels


def test_matching_is_one_to_one_at_the_iou_threshold():
    truth = _boxes((50, 50), [(0, 10, 0, 10), (20, 30, 20, 30)])
    # prediction 1 covers truth 1 exactly; prediction 2 covers half of truth 2 (IoU 0.5); 3 is alone
    pred = _boxes((50, 50), [(0, 10, 0, 10), (20, 30, 20, 25), (40, 45, 40, 45)])
    matches = match_instances(truth, pred)
    assert [(a, b) for a, b, _ in matches] == [(1, 1), (2, 2)]
    assert matches[1][2] == pytest.approx(0.5)
    score = score_detection(truth, pred)
    assert (score.tp, score.fp, score.fn) == (2, 1, 0)
    assert score.precision == pytest.approx(2 / 3) and score.recall == 1.0 and score.f1 == pytest.approx(0.8)
    strict = score_detection(truth, pred, min_iou=0.6)
    assert (strict.tp, strict.fp, strict.fn) == (1, 2, 1)


def test_dont_care_objects_are_neither_missed_nor_false():
    truth = _boxes((40, 40), [(0, 10, 0, 10), (20, 30, 20, 30)])
    pred = _boxes((40, 40), [(21, 29, 21, 29)])  # only the ambiguous object 2 is found
    score = score_detection(truth, pred, dont_care=[2])
    assert (score.tp, score.fp, score.fn) == (0, 0, 1)
    unmatched_on_ambiguous = _boxes((40, 40), [(20, 30, 20, 23)])  # IoU 0.3 with object 2, lies on it
    assert score_detection(truth, unmatched_on_ambiguous, dont_care=[2]).fp == 0


def test_pooled_scores_add_counts_not_ratios():
    a = score_detection(_boxes((10, 10), [(0, 5, 0, 5)]), _boxes((10, 10), [(0, 5, 0, 5)]))
    b = score_detection(_boxes((10, 10), [(0, 5, 0, 5)]), np.zeros((10, 10), np.int32))
    total = a + b
    assert (total.tp, total.fp, total.fn) == (1, 0, 1)
    assert total.recall == 0.5


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="same shape"):
        match_instances(np.zeros((3, 3), int), np.zeros((3, 4), int))


def test_false_positives_on_the_image_edge_are_counted_and_can_be_set_aside():
    truth = _boxes((40, 40), [(10, 20, 10, 20)])
    # 1 matches, 2 is a false object inside the image, 3 and 4 are false objects cut by the top and right edges
    pred = _boxes((40, 40), [(10, 20, 10, 20), (25, 30, 25, 30), (0, 5, 5, 10), (30, 35, 36, 40)])
    score = score_detection(truth, pred)
    assert (score.tp, score.fp, score.fn, score.fp_at_edge) == (1, 3, 0, 2)
    aside = score.edge_cut_unannotated()
    assert (aside.tp, aside.fp, aside.fn, aside.fp_at_edge) == (1, 1, 0, 0)
    assert aside.f1 == pytest.approx(2 / 3)
    # a matched object on the edge stays a match, and a missed one stays a miss
    edge_truth = _boxes((40, 40), [(0, 10, 0, 10), (30, 40, 30, 40)])
    edge_pred = _boxes((40, 40), [(0, 10, 0, 10)])
    kept = score_detection(edge_truth, edge_pred).edge_cut_unannotated()
    assert (kept.tp, kept.fp, kept.fn) == (1, 0, 1)
    assert (score + score).fp_at_edge == 4
