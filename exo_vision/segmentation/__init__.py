"""Vesicle segmentation: methods chosen by name behind one interface.

* :mod:`~exo_vision.segmentation.api`             the method registry and :func:`segment_vesicles`
* :mod:`~exo_vision.segmentation.result`          :class:`VesicleSegmentation`, what every method returns
* :mod:`~exo_vision.segmentation.classical`       the filter-and-rules method (:class:`ClassicalParameters`)
* :mod:`~exo_vision.segmentation.learned`         the U-Net method (onnxruntime)
* :mod:`~exo_vision.segmentation.morphology_ops`  fast binary-morphology primitives both use

Names are imported on first use, so listing methods stays instant.
"""

from exo_vision._shared.lazy import lazy_exports

_EXPORTS = {
    "segment_vesicles": "exo_vision.segmentation.api",
    "available_methods": "exo_vision.segmentation.api",
    "DEFAULT_METHOD": "exo_vision.segmentation.api",
    "METHODS": "exo_vision.segmentation.api",
    "Segmenter": "exo_vision.segmentation.api",
    "VesicleSegmentation": "exo_vision.segmentation.result",
    "REJECTED_COLUMNS": "exo_vision.segmentation.result",
    "ClassicalParameters": "exo_vision.segmentation.classical.parameters",
    "segment_classical": "exo_vision.segmentation.classical.pipeline",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
