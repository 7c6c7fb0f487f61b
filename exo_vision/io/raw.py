"""What a format reader hands to :func:`exo_vision.io.read_image` before checks.

Format readers only decode: pixels (any number of dimensions), the calibration
the file states, and facts about the file. Turning that into one validated 2-D
:class:`~exo_vision.io.image_data.ImageData` happens once, in ``read.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

FormatKind = Literal["tem", "blot"]


@dataclass
class RawImage:
    """Decoded pixels plus what the file says about them.

    Attributes
    ----------
    data : ndarray
        Pixels with spatial axes last: ``(M, N)``, ``(..., M, N)`` for stacks,
        or ``(..., M, N, C)`` when :attr:`rgb` is true.
    rgb : bool
        Whether the last axis holds colour channels (3 or 4).
    signal_ndim : int
        Number of axes that belong to one signal (2 for an image, 1 for a
        spectrum). Axes before those are navigation (frames, scan positions).
    pixel_size_yx_nm : tuple of (float or None, float or None)
        Calibration read from the file, in nanometres per pixel.
    calibration_tag : str or None
        Which tag or field held the calibration (for ``metadata_source``).
    format_kind : {"tem", "blot"} or None
        What the format itself implies (a DM3 file is TEM, a Bio-Rad ``.scn``
        is a blot); ``None`` when the format says nothing.
    max_value : float or None
        Saturation level recorded by the instrument, if any.
    exposure_s : float or None
        Exposure time in seconds, if recorded.
    metadata : dict
        Format facts worth keeping.
    warnings : list of str
        Non-fatal problems found while decoding.
    """

    data: np.ndarray
    rgb: bool = False
    signal_ndim: int = 2
    pixel_size_yx_nm: tuple[float | None, float | None] = (None, None)
    calibration_tag: str | None = None
    format_kind: FormatKind | None = None
    max_value: float | None = None
    exposure_s: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
