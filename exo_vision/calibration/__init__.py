"""Calibration: pixel size from burnt-in scale bars, and masks of burnt-in annotations.

* :mod:`~exo_vision.calibration.bar`         find and measure the bar
* :mod:`~exo_vision.calibration.label`       find the label and read it (OCR, :mod:`~exo_vision.calibration.ocr`)
* :mod:`~exo_vision.calibration.scalebar`    the reading: bar length, label value, pixel size
* :mod:`~exo_vision.calibration.mask`        the mask of the bar, label, backing box and data strip
"""

from exo_vision.calibration.mask import annotation_mask, locate_scale_bar
from exo_vision.calibration.scalebar import ScaleBarReading, calibration_from_line, read_scale_bar

__all__ = ["ScaleBarReading", "annotation_mask", "calibration_from_line", "locate_scale_bar", "read_scale_bar"]
