"""How segmentations are scored: one-to-one instance matching, detection metrics and their confidence intervals."""

from exo_vision.evaluation.intervals import f1_interval, wilson_interval
from exo_vision.evaluation.matching import DetectionScore, match_instances, score_detection

__all__ = ["DetectionScore", "f1_interval", "match_instances", "score_detection", "wilson_interval"]
