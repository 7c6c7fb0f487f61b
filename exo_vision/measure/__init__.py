"""Per-vesicle measurement and size statistics.

* :mod:`~exo_vision.measure.vesicles`    one row per vesicle, lengths in nm
* :mod:`~exo_vision.measure.morphology`  round / cup / irregular
* :mod:`~exo_vision.measure.size_stats`  weighted means, histograms, KDE, bootstrap intervals
"""

from exo_vision._shared.lazy import lazy_exports

_EXPORTS = {
    "measure_vesicles": "exo_vision.measure.vesicles",
    "VESICLE_COLUMNS": "exo_vision.measure.vesicles",
    "classify_morphology": "exo_vision.measure.morphology",
    "size_statistics": "exo_vision.measure.size_stats",
    "weighted_histogram": "exo_vision.measure.size_stats",
    "statistics_frame": "exo_vision.measure.size_stats",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
