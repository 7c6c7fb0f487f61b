"""How segmentations are scored: one-to-one instance matching, detection metrics, their confidence
intervals, and how visible each object of a generated truth is."""

from exo_vision.evaluation.intervals import f1_interval, wilson_interval
from exo_vision.evaluation.matching import DetectionScore, match_instances, score_detection
from exo_vision.evaluation.visibility import ROSE_THRESHOLD, invisible_labels, rose_snr

__all__ = [
    "ROSE_THRESHOLD",
    "DetectionScore",
    "f1_interval",
    "invisible_labels",
    "match_instances",
    "rose_snr",
    "score_detection",
    "wilson_interval",
]
