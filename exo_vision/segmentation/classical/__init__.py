"""The classical (filter-and-rules) vesicle segmenter; every threshold lives in :class:`ClassicalParameters`.

Stages, each its own module: :mod:`.preprocess` and :mod:`.contrast` (working
scale, background, contrast in noise units, polarity), :mod:`.candidates`,
:mod:`.split` and :mod:`.cups` (candidate regions), :mod:`.checks` (rules with
rejection reasons), :mod:`.refine` (outlines at full resolution);
:mod:`.pipeline` runs them in order.
"""

from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS, ClassicalParameters
from exo_vision.segmentation.classical.pipeline import segment_classical
from exo_vision.segmentation.classical.polarity import detect_vesicle_polarity
from exo_vision.segmentation.classical.split import split_touching

__all__ = [
    "DEFAULT_PARAMETERS",
    "ClassicalParameters",
    "detect_vesicle_polarity",
    "segment_classical",
    "split_touching",
]
