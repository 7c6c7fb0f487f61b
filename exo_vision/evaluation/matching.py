"""One-to-one matching of predicted and true instances, and the detection scores built on it.

Used by the tests and by every benchmark, so that they measure the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from exo_vision.evaluation.intervals import DEFAULT_COVERAGE, f1_interval, wilson_interval


def match_instances(truth: np.ndarray, pred: np.ndarray, *, min_iou: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(truth_label, pred_label, iou)`` with IoU >= ``min_iou``.

    Greedy on IoU, highest first (for ``min_iou`` >= 0.5 every match is unique anyway).

    Parameters
    ----------
    truth, pred : (M, N) ndarray of int
        Instance labels, 0 = background, same shape.
    min_iou : float
        Smallest intersection over union that counts as a match.

    Returns
    -------
    list of (int, int, float)
    """
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"`truth` (shape {truth.shape}) and `pred` (shape {pred.shape}) must have the same shape")
    nt, npred = int(truth.max(initial=0)), int(pred.max(initial=0))
    if nt == 0 or npred == 0:
        return []
    both = (truth > 0) & (pred > 0)
    pair = truth[both].astype(np.int64) * (npred + 1) + pred[both]
    keys, inter = np.unique(pair, return_counts=True)
    area_t = np.bincount(truth.ravel(), minlength=nt + 1)
    area_p = np.bincount(pred.ravel(), minlength=npred + 1)
    t_ids, p_ids = np.divmod(keys, npred + 1)
    iou = inter / (area_t[t_ids] + area_p[p_ids] - inter)
    order = np.argsort(-iou, kind="stable")
    used_t: set[int] = set()
    used_p: set[int] = set()
    out = []
    for k in order:
        if iou[k] < min_iou:
            break
        a, b = int(t_ids[k]), int(p_ids[k])
        if a in used_t or b in used_p:
            continue
        used_t.add(a)
        used_p.add(b)
        out.append((a, b, float(iou[k])))
    return out


@dataclass
class DetectionScore:
    """Counts of one or more images; precision, recall and F1 follow from them.

    Attributes
    ----------
    tp, fp, fn : int
        Matched predictions, unmatched predictions, unmatched truth objects.
    fp_at_edge : int
        How many of the ``fp`` unmatched predictions touch the image edge.
    matches : list of (int, int, float)
        ``(truth_label, pred_label, iou)`` of the last image scored (not pooled).
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    fp_at_edge: int = 0
    matches: list[tuple[int, int, float]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else float("nan")

    def interval(self, metric: str, coverage: float = DEFAULT_COVERAGE) -> tuple[float, float]:
        """Confidence interval of ``metric`` from these counts (see :mod:`exo_vision.evaluation.intervals`).

        Parameters
        ----------
        metric : {"precision", "recall", "f1"}
            Wilson intervals for precision and recall, a bootstrap of the counts for F1.
        coverage : float
            Coverage of the interval, in (0, 1).

        Returns
        -------
        (float, float)
            Lower and upper bound (``nan`` when the metric is undefined).

        Raises
        ------
        ValueError
            For an unknown ``metric`` or a ``coverage`` outside (0, 1).
        """
        if metric == "precision":
            return wilson_interval(self.tp, self.tp + self.fp, coverage)
        if metric == "recall":
            return wilson_interval(self.tp, self.tp + self.fn, coverage)
        if metric == "f1":
            return f1_interval(self.tp, self.fp, self.fn, coverage)
        raise ValueError(f"metric must be 'precision', 'recall' or 'f1', got {metric!r}")

    def __add__(self, other: DetectionScore) -> DetectionScore:
        return DetectionScore(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.fp_at_edge + other.fp_at_edge
        )

    def edge_cut_unannotated(self) -> DetectionScore:
        """The counts for truth that leaves objects cut by the image edge unannotated.

        Some annotators outline only objects that lie wholly inside the image
        (ImageJ's "exclude on edges"), as exo_vision leaves such objects out
        of its size statistics (``touches_border``). Against such truth an
        unmatched prediction on the image edge is no evidence of a false
        object, so it is not counted; matched ones and misses are unchanged.

        Returns
        -------
        DetectionScore
            ``fp`` reduced by ``fp_at_edge`` (which becomes 0).
        """
        return DetectionScore(self.tp, self.fp - self.fp_at_edge, self.fn, 0, list(self.matches))


def score_detection(
    truth: np.ndarray,
    pred: np.ndarray,
    *,
    min_iou: float = 0.5,
    dont_care: Iterable[int] = (),
    dont_care_min_overlap: float = 0.5,
) -> DetectionScore:
    """Detection counts of ``pred`` against ``truth`` by one-to-one IoU matching.

    Parameters
    ----------
    truth, pred : (M, N) ndarray of int
        Instance labels, 0 = background.
    min_iou : float
        Smallest IoU of a match.
    dont_care : iterable of int
        Truth labels that are ambiguous: neither a miss when unmatched, nor
        a false positive when a prediction lies on them.
    dont_care_min_overlap : float
        An unmatched prediction whose area lies at least this fraction on a
        don't-care object (or that matches one) is not counted.

    Returns
    -------
    DetectionScore
        With ``fp_at_edge``, the false positives that touch the image edge
        (see ``DetectionScore.edge_cut_unannotated``).
    """
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    ignore = set(int(v) for v in dont_care)
    matches = match_instances(truth, pred, min_iou=min_iou)
    matched_t = {a for a, _, _ in matches}
    matched_p = {b for _, b, _ in matches}
    tp = sum(1 for a, _, _ in matches if a not in ignore)
    true_ids = set(np.unique(truth[truth > 0]).tolist())
    fn = len(true_ids - matched_t - ignore)
    pred_ids = set(np.unique(pred[pred > 0]).tolist())
    fp = fp_at_edge = 0
    if ignore:
        on_ignored = np.isin(truth, list(ignore))
    on_edge = _labels_on_edge(pred)
    for b in pred_ids - matched_p:
        if ignore:
            region = pred == b
            if on_ignored[region].mean() >= dont_care_min_overlap:
                continue
        fp += 1
        fp_at_edge += b in on_edge
    return DetectionScore(tp=tp, fp=fp, fn=fn, fp_at_edge=fp_at_edge, matches=matches)


def _labels_on_edge(labels: np.ndarray) -> set[int]:
    """Labels with at least one pixel in the first or last row or column."""
    if labels.ndim != 2 or labels.size == 0:
        return set()
    rim = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return set(np.unique(rim[rim > 0]).tolist())
