"""How segmentations are scored: one-to-one instance matching and detection metrics."""

from exo_vision.evaluation.matching import DetectionScore, match_instances, score_detection

__all__ = ["DetectionScore", "match_instances", "score_detection"]
