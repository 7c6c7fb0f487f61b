"""Reading images with their physical calibration.

One public entry point, :func:`read_image`, used by the GUI reader, the CLI
and batch processing alike; it returns an :class:`ImageData`.
"""

from exo_vision.io.image_data import ImageData, ImageReadError, metadata_source
from exo_vision.io.read import read_image

__all__ = ["ImageData", "ImageReadError", "metadata_source", "read_image"]
