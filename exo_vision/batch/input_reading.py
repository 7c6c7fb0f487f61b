"""Reading one input of an `exo-vision tem` run as the run reads it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exo_vision import io
from exo_vision.io.image_data import ImageData


def read_as_run(path: str | Path, parameters: Mapping[str, Any], *, max_megapixels: float | None) -> ImageData:
    """Read the micrograph ``path`` with a run's reading parameters.

    Parameters
    ----------
    path : str or Path
        The input file.
    parameters : mapping
        The run's parameters (``run.json``'s ``parameters``); ``frame`` (default the first), ``pixel_size_nm``
        (nm/px, default the file's own calibration) and ``scale_bar`` (default True) are used.
    max_megapixels : float or None
        The largest image read, megapixels (None: the reader's default).

    Returns
    -------
    ImageData
        What :func:`~exo_vision.io.read_image` returns for a TEM micrograph. The run's
        ``pixel_size_nm_if_missing`` is not applied here.
    """
    return io.read_image(  # looked up at each call: the reader in use, as a test may replace it
        path,
        kind="tem",
        frame=parameters.get("frame"),
        pixel_size_nm=parameters.get("pixel_size_nm"),
        scale_bar=bool(parameters.get("scale_bar", True)),
        max_megapixels=max_megapixels,
    )
