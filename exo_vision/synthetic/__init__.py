"""Seeded generators of micrographs and blots with their truth (tests, benchmarks, samples)."""

from exo_vision._shared.lazy import lazy_exports

_EXPORTS = {
    "make_synthetic_tem": "exo_vision.synthetic.tem",
    "SyntheticTruth": "exo_vision.synthetic.tem",
    "make_marker_panel": "exo_vision.synthetic.blot",
    "draw_scale_bar": "exo_vision.synthetic.scalebar",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
