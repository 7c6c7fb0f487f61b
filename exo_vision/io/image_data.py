"""The one container every reader returns: pixels plus calibration provenance."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the container itself needs no numpy: the CLI's parsers read its constants
    import numpy as np

Kind = Literal["tem", "blot", "unknown"]
Polarity = Literal["bright", "dark"]

#: Source string used when no calibration is known.
SOURCE_NONE = "none"
#: Channels of a colour image, in the order they are stored (``read_image(channel=...)``).
COLOUR_CHANNELS = ("red", "green", "blue")
#: Source string used when the user typed the pixel size.
SOURCE_USER = "user"
#: Source string used when the pixel size was read from a burnt-in scale bar.
SOURCE_SCALE_BAR = "scale bar"


def metadata_source(tag: str) -> str:
    """Return the provenance string for a calibration read from file metadata.

    Parameters
    ----------
    tag : str
        Which tag or field held the value, e.g. ``"ImageJ unit + XResolution"``.

    Returns
    -------
    str
        ``"file metadata: <tag>"``.
    """
    return f"file metadata: {tag}"


class ImageReadError(ValueError):
    """A file could not be turned into a usable 2-D image.

    The message always names the file, what is wrong and what to do. ``viewable`` is True when the file
    holds pictures that can be shown as they are but not analysed as one 2-D image (a stack, non-square
    pixels): :func:`exo_vision.io.view.read_for_viewing` reads those.
    """

    def __init__(self, path: str | Path | None, problem: str, fix: str, *, viewable: bool = False) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.fix = fix
        self.viewable = viewable
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}. {fix}")


@dataclass
class ImageData:
    """A 2-D image with its physical calibration and where it came from.

    Attributes
    ----------
    data : (M, N) ndarray
        The pixels, in the file's own dtype (never rescaled).
    path : Path or None
        File the image came from.
    pixel_size_nm : float or None
        Pixel edge length in nanometres (``None`` when unknown). For
        non-square pixels this is the mean of the two axes and
        :attr:`pixel_size_yx_nm` holds both.
    pixel_size_source : str
        ``"file metadata: <tag>"``, ``"scale bar"``, ``"user"`` or ``"none"``.
    pixel_size_yx_nm : tuple of (float or None, float or None)
        Pixel size along rows (y) and columns (x) in nanometres.
    kind : {"tem", "blot", "unknown"}
        What the image is believed to be.
    polarity : {"bright", "dark"} or None
        For blots: whether bands are brighter (raw chemiluminescence) or darker
        (inverted "for publication" export) than the background.
    max_value : float or None
        Saturation level: pixels at this value are clipped. For inverted
        8-bit exports clipped pixels sit at 0 and this is 0.
    exposure_s : float or None
        Exposure time in seconds when the file records it.
    metadata : dict
        Anything else worth keeping (original dtype, frame picked, vendor tags).
    warnings : list of str
        Non-fatal problems the user should see (e.g. non-square pixels).
    """

    data: np.ndarray
    path: Path | None = None
    pixel_size_nm: float | None = None
    pixel_size_source: str = SOURCE_NONE
    pixel_size_yx_nm: tuple[float | None, float | None] = (None, None)
    kind: Kind = "unknown"
    polarity: Polarity | None = None
    max_value: float | None = None
    exposure_s: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`."""
        return tuple(self.data.shape)

    def with_pixel_size(self, pixel_size_nm: float, source: str = SOURCE_USER) -> ImageData:
        """Return a copy calibrated to ``pixel_size_nm`` (square pixels).

        Parameters
        ----------
        pixel_size_nm : float
            Pixel edge length in nanometres; must be positive and finite.
        source : str
            Provenance to record, ``"user"`` by default.
        """
        value = float(pixel_size_nm)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"pixel size must be a positive number of nanometres, got {pixel_size_nm!r}; "
                "pass e.g. --pixel-size-nm 0.62"
            )
        return ImageData(
            data=self.data,
            path=self.path,
            pixel_size_nm=value,
            pixel_size_source=source,
            pixel_size_yx_nm=(value, value),
            kind=self.kind,
            polarity=self.polarity,
            max_value=self.max_value,
            exposure_s=self.exposure_s,
            metadata=dict(self.metadata),
            warnings=list(self.warnings),
        )

    def info(self) -> dict[str, Any]:
        """Summary used by ``exo-vision info`` (JSON-serialisable)."""
        out: dict[str, Any] = {
            "path": None if self.path is None else str(self.path),
            "kind": self.kind,
            "shape": list(self.shape),
            "dtype": str(self.data.dtype),
            "pixel_size_nm": self.pixel_size_nm,
            "pixel_size_source": self.pixel_size_source,
        }
        if self.pixel_size_yx_nm[0] != self.pixel_size_yx_nm[1]:
            out["pixel_size_yx_nm"] = list(self.pixel_size_yx_nm)
        if self.kind == "blot":
            out["polarity"] = self.polarity
            out["max_value"] = self.max_value
            out["exposure_s"] = self.exposure_s
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out
