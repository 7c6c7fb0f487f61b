"""Files opened to be looked at, not analysed: stacks and non-square pixels kept as they are.

:func:`exo_vision.io.read.read_image` gives one 2-D image with square pixels, the only kind exo_vision
measures; it refuses a tilt series, a DigitalMicrograph stack, an MRC volume or a micrograph whose pixels
are not square. A viewer should still show them (napari handles N-D data and per-axis scales), so the user
can look and pick a frame. :func:`read_for_viewing` decodes such a file with the same format readers and
limits, and keeps every axis with its calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exo_vision.io.image_data import SOURCE_NONE, ImageReadError, metadata_source
from exo_vision.io.limits import max_values
from exo_vision.io.read import _check_file, _decode, real_native


@dataclass
class ViewData:
    """Pixels of a file as stored, with the calibration of their two image axes.

    Attributes
    ----------
    data : ndarray
        Spatial axes last, ``(..., M, N)``, or ``(..., M, N, C)`` when :attr:`rgb`; leading axes are frames.
    path : Path
        The file.
    pixel_size_yx_nm : (float or None, float or None)
        Nanometres per pixel along rows and columns (``None`` when the file has no length calibration).
    rgb : bool
        Whether the last axis holds colour channels.
    pixel_size_source : str
        Where the calibration came from (``"file metadata: <tag>"``), or ``"none"``.
    notes : list of str
        What the reader noticed (the format readers' warnings).
    slice_spacing_nm : float or None
        Nanometres between consecutive frames when the one frame axis is depth through a volume (an MRC
        tomogram's voxel depth); ``None`` when the frames are separate images (tilts, exposures) or the
        file gives no depth.
    """

    data: np.ndarray
    path: Path
    pixel_size_yx_nm: tuple[float | None, float | None]
    rgb: bool = False
    pixel_size_source: str = SOURCE_NONE
    notes: list[str] = field(default_factory=list)
    slice_spacing_nm: float | None = None

    @property
    def n_frame_axes(self) -> int:
        """Number of leading (frame) axes before the image's rows and columns."""
        return self.data.ndim - (3 if self.rgb else 2)


def read_for_viewing(path: str | Path, *, max_megapixels: float | None = None) -> ViewData:
    """Decode an image file for display, keeping stacks and non-square pixels.

    Parameters
    ----------
    path : str or Path
        Any file :func:`~exo_vision.io.read.read_image` reads.
    max_megapixels : float or None
        Limit on the decoded size, as for ``read_image``.

    Returns
    -------
    ViewData

    Raises
    ------
    ImageReadError
        For a file that holds no picture to show: missing, corrupt, a spectrum, complex numbers, no pixels.
    """
    path = Path(path)
    max_values(max_megapixels)
    _check_file(path)
    raw = _decode(path, max_megapixels=max_megapixels)
    data = np.asarray(raw.data)
    spatial = 3 if raw.rgb else 2
    if data.size == 0 or raw.signal_ndim != 2 or data.ndim < spatial:
        raise ImageReadError(
            path,
            f"holds no 2-D picture to show (array shape {tuple(data.shape)})",
            "Open an image, a stack of images or a volume",
        )
    data = real_native(data, path)
    y_nm, x_nm = raw.pixel_size_yx_nm
    if y_nm is None:
        y_nm = x_nm
    notes = list(raw.warnings)
    if raw.metadata.get("reciprocal_unit"):
        notes.append(f"calibrated in {raw.metadata['reciprocal_unit']} (reciprocal space): shown in pixels")
        y_nm = x_nm = None
    source = SOURCE_NONE if x_nm is None else metadata_source(raw.calibration_tag or "pixel size")
    depth = raw.metadata.get("slice_spacing_nm")
    one_depth_axis = data.ndim - (3 if raw.rgb else 2) == 1 and x_nm is not None
    return ViewData(
        data=data,
        path=path,
        pixel_size_yx_nm=(y_nm, x_nm),
        rgb=bool(raw.rgb),
        pixel_size_source=source,
        notes=notes,
        slice_spacing_nm=float(depth) if depth is not None and one_depth_axis else None,
    )
