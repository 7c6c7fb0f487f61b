"""exo_vision: extracellular-vesicle image analysis.

Two jobs, each a set of pure functions over numpy arrays with lengths in
nanometres:

* TEM vesicle analysis (:mod:`exo_vision.segmentation`, :mod:`exo_vision.measure`)
* western-blot marker quantification (:mod:`exo_vision.blot`)

The napari side lives in :mod:`exo_vision.plugins` and is the only part that
imports napari, Qt or magicgui. The main functions are importable from here
(``from exo_vision import read_image, segment_vesicles``); each is imported on
first use, so ``import exo_vision`` stays instant.
"""

from importlib import metadata as _metadata

from exo_vision._shared.lazy import lazy_exports

try:  # the one version number is pyproject.toml's, as installed
    __version__ = _metadata.version("exo-vision")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "read_image": "exo_vision.io.read",
    "ImageData": "exo_vision.io.image_data",
    "read_scale_bar": "exo_vision.calibration.scalebar",
    "annotation_mask": "exo_vision.calibration.mask",
    "segment_vesicles": "exo_vision.segmentation.api",
    "available_methods": "exo_vision.segmentation.api",
    "VesicleSegmentation": "exo_vision.segmentation.result",
    "ClassicalParameters": "exo_vision.segmentation.classical.parameters",
    "measure_vesicles": "exo_vision.measure.vesicles",
    "size_statistics": "exo_vision.measure.size_stats",
    "analyse_micrograph": "exo_vision.tem_analysis",
    "TemParameters": "exo_vision.tem_parameters",
    "quantify_blot": "exo_vision.blot.quantify",
    "make_synthetic_tem": "exo_vision.synthetic.tem",
    "build_report": "exo_vision.report",
}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__, _dir = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
