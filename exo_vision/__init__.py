"""exo_vision: extracellular-vesicle image analysis.

Two jobs, each a set of pure functions over numpy arrays with lengths in
nanometres:

* TEM vesicle analysis (:mod:`exo_vision.segmentation`, :mod:`exo_vision.measure`)
* western-blot marker quantification (:mod:`exo_vision.blot`)

The napari side lives in :mod:`exo_vision.plugins` and is the only part that
imports napari, Qt or magicgui.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
