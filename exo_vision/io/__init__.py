"""Reading images with their physical calibration.

One public entry point, :func:`read_image`, used by the GUI reader, the CLI
and batch processing alike; it returns an :class:`ImageData`. Names are
imported on first use, so importing a light module of this package (the
:class:`ImageData` container, units, limits) loads no image library.
"""

from exo_vision._shared.lazy import lazy_exports

_EXPORTS = {
    "ImageData": "exo_vision.io.image_data",
    "ImageReadError": "exo_vision.io.image_data",
    "metadata_source": "exo_vision.io.image_data",
    "read_image": "exo_vision.io.read",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
