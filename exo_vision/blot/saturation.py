"""Saturation: pixels at the detector's (or the export's) clipping level."""

from __future__ import annotations

import numpy as np


def saturation_mask(
    image: np.ndarray, *, level: float, exclude: np.ndarray | None = None, polarity: str = "bright"
) -> np.ndarray:
    """Pixels at or beyond the saturation level.

    Parameters
    ----------
    image : (M, N) ndarray
        Raw blot image (not inverted).
    level : float
        Saturation level: ``max_value`` of a ``.scn``, the dtype maximum of a raw
        TIFF, 0 for an inverted 8-bit export, or the level a user knows their camera clips at.
    exclude : (M, N) ndarray of bool, optional
        Pixels to ignore (dust specks).
    polarity : {"bright", "dark"}
        Bands brighter than the membrane saturate at and above ``level``; dark bands (an inverted export)
        at and below it.

    Returns
    -------
    (M, N) ndarray of bool
    """
    img = np.asarray(image)
    mask = img >= level if polarity == "bright" else img <= level
    if exclude is not None:
        mask &= ~exclude
    return mask


#: The warning of an 8-bit image (:func:`export_warnings`); the reader's shorter one says the same
#: (:func:`without_repeats`).
EIGHT_BIT_EXPORT_WARNING = (
    "8-bit image: this looks like a 'for publication' export, whose contrast was stretched and "
    "clipped to 256 levels; it is UNSUITABLE FOR QUANTIFICATION (results are indicative only). "
    "Export the raw 16-bit image (.scn or 16-bit TIFF) from Image Lab instead"
)


def without_repeats(reader_warnings: list[str], result_warnings: list[str]) -> list[str]:
    """The reader's warnings less those the quantification says again in full (the 8-bit export warning) or
    anew (the clipped pixels, counted without the masked drawing and dust).

    Parameters
    ----------
    reader_warnings : list of str
        :attr:`exo_vision.io.image_data.ImageData.warnings` of the image read.
    result_warnings : list of str
        :attr:`exo_vision.blot.quantify.BlotResult.warnings` of its quantification (or the warnings it will
        give: :func:`export_warnings`).

    Returns
    -------
    list of str
    """
    from exo_vision.io.read import CLIPPED_PIXELS_ENDING, EIGHT_BIT_BLOT_WARNING, MASKED_CLIPPING_WORDS

    said = EIGHT_BIT_EXPORT_WARNING in result_warnings
    recounted = any(MASKED_CLIPPING_WORDS in w for w in result_warnings)
    return [
        w
        for w in reader_warnings
        if not (said and w == EIGHT_BIT_BLOT_WARNING) and not (recounted and w.endswith(CLIPPED_PIXELS_ENDING))
    ]


def export_warnings(image: np.ndarray, *, polarity: str) -> list[str]:
    """Warnings about images unsuitable for quantification.

    Parameters
    ----------
    image : (M, N) ndarray
        Raw blot image.
    polarity : {"bright", "dark"}
        Band polarity.

    Returns
    -------
    list of str
        Empty for a raw 16-bit image.
    """
    out = []
    if np.asarray(image).dtype == np.uint8:
        out.append(EIGHT_BIT_EXPORT_WARNING)
    if polarity == "dark":
        out.append("inverted image (dark bands on light background): signal was taken as white level minus pixel value")
    return out
