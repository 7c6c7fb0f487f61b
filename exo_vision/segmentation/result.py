"""What every segmentation method returns: :class:`VesicleSegmentation`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exo_vision.calibration.mask import annotation_mask

#: Columns of :attr:`VesicleSegmentation.rejected`.
REJECTED_COLUMNS = ("centroid_x_nm", "centroid_y_nm", "equivalent_diameter_nm", "reason")


@dataclass
class VesicleSegmentation:
    """Result of a segmentation method.

    Attributes
    ----------
    labels : (M, N) ndarray of int32
        Instance labels, 0 = background, same shape as the input image.
    rejected : DataFrame
        Candidates that were not reported: ``centroid_x_nm``,
        ``centroid_y_nm``, ``equivalent_diameter_nm``, ``reason``.
    polarity : {"bright", "dark"}
        "bright": vesicles lighter than the stain; "dark": darker.
    analysed_mask : (M, N) ndarray of bool
        Area that was analysed (excludes scale bar, label and data strip).
    parameters : dict
        Every parameter used, plus derived values (working scale, thresholds,
        polarity evidence, ``pixel_noise_std``: the per-pixel noise of the
        image in its units, or None when no candidate needed it).
    warnings : list of str
        What the method could not do as well as usual on this image (for
        example outlines that come out small on a coarse micrograph), for the
        run record and the user.
    confidence : (K,) ndarray of float or None
        The method's confidence in each vesicle, ``confidence[i]`` for label
        ``i + 1``, in [0, 1] (``unet``: the mean foreground probability of the
        instance on the network's grid); None for a method without one
        (``classical``).
    objects : list of (slice, slice) or None
        ``scipy.ndimage.find_objects(labels)`` when the method has it at no cost (``unet``), so that measuring
        need not pass over the labels again; None otherwise (``classical``).
    """

    labels: np.ndarray
    rejected: pd.DataFrame
    polarity: str
    analysed_mask: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    confidence: np.ndarray | None = None
    objects: list[tuple[slice, slice] | None] | None = None


def empty_rejected() -> pd.DataFrame:
    """A rejected-candidates table with no rows and every column typed."""
    return pd.DataFrame(
        {
            "centroid_x_nm": pd.Series(dtype="float64"),
            "centroid_y_nm": pd.Series(dtype="float64"),
            "equivalent_diameter_nm": pd.Series(dtype="float64"),
            "reason": pd.Series(dtype="object"),
        }
    )


def rejected_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rejected-candidates table from one dict per candidate (typed and empty when there is none)."""
    return pd.DataFrame(rows, columns=list(REJECTED_COLUMNS)) if rows else empty_rejected()


def default_exclude_mask(image: np.ndarray) -> np.ndarray:
    """The burnt-in annotations (scale bar, label, data strip) of a micrograph, from the calibration package."""
    return np.asarray(annotation_mask(image), dtype=bool)


def exclude_mask_for(image: np.ndarray, exclude_mask: np.ndarray | None) -> np.ndarray:
    """The caller's excluded area checked against the image, or the detected annotations when None.

    Raises
    ------
    ValueError
        When the mask's shape differs from the image's.
    """
    if exclude_mask is None:
        return default_exclude_mask(image)
    exclude = np.asarray(exclude_mask, dtype=bool)
    if exclude.shape != image.shape:
        raise ValueError(
            f"`exclude_mask` (shape {exclude.shape}) must have the same shape as `image` (shape {image.shape})"
        )
    return exclude
