"""Figures: vesicle overlays, size histograms, blot annotations and panels, in one journal style."""

from exo_vision._shared.lazy import lazy_exports

_EXPORTS = {
    "render_overlay": "exo_vision.figures.overlay",
    "size_histogram_figure": "exo_vision.figures.histogram",
    "annotated_blot": "exo_vision.figures.blot",
    "panel_figure": "exo_vision.figures.blot",
    "save_figure": "exo_vision.figures.style",
    "journal_figure": "exo_vision.figures.style",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
