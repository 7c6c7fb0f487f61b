"""Calibration: pixel size from burnt-in scale bars, and masks of burnt-in annotations."""

from exo_vision.calibration.scalebar import (
    ScaleBarReading,
    annotation_mask,
    calibration_from_line,
    read_scale_bar,
)

__all__ = ["ScaleBarReading", "annotation_mask", "calibration_from_line", "read_scale_bar"]
