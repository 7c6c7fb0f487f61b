"""The ``unet`` segmentation method: network maps at the working scale, instances, full-resolution outlines.

Flow: the image goes to the model's working scale (nm/px) and is normalised
(:mod:`~exo_vision.segmentation.learned.network_input`, the same function
training used); the network predicts foreground, boundary and distance maps tile
by tile; a seeded watershed turns them into instances; each instance's outline is
then placed at full resolution where the enlarged foreground probability crosses
its threshold, inside the instance's own territory, so diameters do not carry the
working scale's coarseness.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.segmentation import expand_labels

from exo_vision.segmentation.learned.network_input import normalise_for_network, to_working_scale
from exo_vision.segmentation.learned.postprocess import InstanceThresholds, maps_to_instances
from exo_vision.segmentation.learned.runtime import predict_maps, session_for
from exo_vision.segmentation.learned.weights import ModelCard, load_card

REASON_TOO_SMALL = "smaller than min_diameter_nm"
REASON_TOO_LARGE = "larger than max_diameter_nm"
REASON_ANNOTATION = "on the scale bar, its label or the data strip"
REASON_LOW_CONFIDENCE = "low network confidence (mean foreground probability under the threshold band)"

#: An instance whose mean foreground probability is not this far above the foreground
#: threshold is reported as rejected.
MIN_MEAN_PROBABILITY_MARGIN = 0.1
#: An instance with more than this fraction of its area on the excluded annotations is rejected.
MAX_ANNOTATION_FRACTION = 0.2
#: How far (working-scale pixels) each instance's territory reaches into the background
#: for its full-resolution outline.
TERRITORY_PX = 2
#: The network outlines vesicles along their membrane's darkest line (as the generator draws
#: them); the reported outline lies half a membrane further out, at the membrane's outer edge,
#: as the classical method places it (its ``membrane_thickness_nm`` = 4).
MEMBRANE_THICKNESS_NM = 4.0


def foreground_threshold(base: float, sensitivity: float) -> float:
    """Foreground threshold for a sensitivity in [0, 1]: 0.5 gives the model's own, 1 the most permissive."""
    return float(np.clip(base + 0.4 * (0.5 - sensitivity), 0.1, 0.9))


def _upsample(map_small: np.ndarray, shape: tuple[int, int], interpolation: int) -> np.ndarray:
    return cv2.resize(map_small, (shape[1], shape[0]), interpolation=interpolation)


def full_resolution_labels(
    labels_small: np.ndarray, foreground_small: np.ndarray, *, shape: tuple[int, int], threshold: float
) -> np.ndarray:
    """Outlines at full resolution: the enlarged foreground map above ``threshold`` within each territory.

    Parameters
    ----------
    labels_small : (m, n) ndarray of int32
        Instances at the working scale.
    foreground_small : (m, n) ndarray of float32
        Foreground probability at the working scale.
    shape : (int, int)
        Full-resolution shape (M, N).
    threshold : float
        Foreground threshold.

    Returns
    -------
    (M, N) ndarray of int32
        Same label ids; an instance lost entirely keeps its nearest-neighbour footprint.
    """
    if labels_small.max() == 0:
        return np.zeros(shape, np.int32)
    territory = expand_labels(labels_small, distance=TERRITORY_PX)
    big_territory = _upsample(territory.astype(np.int32), shape, cv2.INTER_NEAREST)
    if shape == labels_small.shape:
        return np.where(foreground_small > threshold, territory, 0).astype(np.int32)
    big_fg = _upsample(foreground_small.astype(np.float32), shape, cv2.INTER_LINEAR) > threshold
    labels = np.where(big_fg, big_territory, 0).astype(np.int32)
    # an instance the threshold removed at full resolution keeps its coarse footprint
    present = np.zeros(int(labels_small.max()) + 1, bool)
    present[np.unique(labels)] = True
    missing = ~present
    missing[0] = False
    if missing.any():
        coarse = _upsample(labels_small.astype(np.int32), shape, cv2.INTER_NEAREST)
        fill = missing[coarse] & (labels == 0)
        labels[fill] = coarse[fill]
    return labels


def grow_labels(labels: np.ndarray, *, radius_px: float) -> np.ndarray:
    """Grow every instance into the background by ``radius_px`` (a disk), never over another instance.

    Where two instances grow into the same background pixel the larger label wins.
    """
    if radius_px < 0.5 or labels.max() == 0:
        return labels
    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (yy**2 + xx**2 <= radius_px**2 + 0.25).astype(np.uint8)
    grown = cv2.dilate(labels.astype(np.float32), disk)  # exact for ids below 2**24
    return np.where(labels > 0, labels, grown.astype(np.int32))


def _polarity_of(image: np.ndarray, labels: np.ndarray) -> str:
    """"bright" when the vesicles' median grey level lies above their surroundings', else "dark"."""
    if labels.max() == 0:
        return "bright"
    inside = labels > 0
    ring = cv2.dilate(inside.view(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~inside
    if not ring.any():
        return "bright"
    return "bright" if float(np.median(image[inside])) >= float(np.median(image[ring])) else "dark"


def _reject_and_renumber(
    labels: np.ndarray,
    *,
    pixel_size_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    mean_probability: np.ndarray,
    min_mean_probability: float,
    annotation_fraction: np.ndarray,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Apply the size, annotation and confidence rules; number the survivors 1..K."""
    n = int(labels.max())
    index = np.arange(1, n + 1)
    area = ndi.sum_labels(np.ones(labels.shape, np.float32), labels, index)
    diameter_nm = 2 * np.sqrt(area / np.pi) * pixel_size_nm
    centres = ndi.center_of_mass(np.ones(labels.shape, np.float32), labels, index) if n else []
    reasons: list[str | None] = []
    for k in range(n):
        if area[k] == 0:
            reasons.append("")
        elif annotation_fraction[k] > MAX_ANNOTATION_FRACTION:
            reasons.append(REASON_ANNOTATION)
        elif diameter_nm[k] < min_diameter_nm:
            reasons.append(REASON_TOO_SMALL)
        elif diameter_nm[k] > max_diameter_nm:
            reasons.append(REASON_TOO_LARGE)
        elif mean_probability[k] < min_mean_probability:
            reasons.append(REASON_LOW_CONFIDENCE)
        else:
            reasons.append(None)
    keep = np.array([r is None for r in reasons], bool)
    lut = np.zeros(n + 1, np.int32)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    rejected = pd.DataFrame(
        {
            "centroid_x_nm": pd.Series([centres[k][1] * pixel_size_nm for k in range(n) if reasons[k]], dtype="float64"),
            "centroid_y_nm": pd.Series([centres[k][0] * pixel_size_nm for k in range(n) if reasons[k]], dtype="float64"),
            "equivalent_diameter_nm": pd.Series([diameter_nm[k] for k in range(n) if reasons[k]], dtype="float64"),
            "reason": pd.Series([reasons[k] for k in range(n) if reasons[k]], dtype="object"),
        }
    )
    return lut[labels], rejected


def segment_unet(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    exclude: np.ndarray,
    min_diameter_nm: float = 20.0,
    max_diameter_nm: float = 500.0,
    sensitivity: float = 0.5,
    polarity: str = "auto",
    model: str | ModelCard | None = None,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, pd.DataFrame, str, dict[str, Any]]:
    """Segment vesicles with the learned model.

    Parameters
    ----------
    image : (M, N) ndarray of float32
        Validated micrograph.
    pixel_size_nm : float
        Its pixel edge length, nm.
    exclude : (M, N) ndarray of bool
        Scale bar, label and data strip: not analysed.
    min_diameter_nm, max_diameter_nm : float
        Size limits of reported vesicles (equivalent diameter, nm).
    sensitivity : float
        0 (strict) to 1 (permissive); moves the foreground threshold.
    polarity : {"auto", "bright", "dark"}
        The network sees both polarities; "auto" reports the one found.
    model : str, Path or ModelCard, optional
        The model (default: the shipped ``ev-unet``).
    threads : int
        onnxruntime CPU threads.
    progress : callable(int, int), optional
        Called after each network tile.

    Returns
    -------
    labels, rejected, polarity, parameters
        Full-resolution labels, the rejected candidates with reasons, the
        polarity, and the derived parameters (model, working scale, thresholds).
    """
    card = model if isinstance(model, ModelCard) else load_card(model)
    shape = image.shape
    small = to_working_scale(image, pixel_size_nm=pixel_size_nm, working_scale_nm=card.working_scale_nm)
    excluded_small = None
    if exclude.any():
        excluded_small = cv2.resize(exclude.view(np.uint8), (small.shape[1], small.shape[0]),
                                    interpolation=cv2.INTER_AREA) > 0
        small = small.copy()
        small[excluded_small] = float(np.median(small[~excluded_small])) if (~excluded_small).any() else 0.0
    valid = None if excluded_small is None else ~excluded_small
    net_input = normalise_for_network(small, valid=valid)
    maps = predict_maps(session_for(card, threads=threads), net_input, multiple_of=card.multiple_of, progress=progress)
    scale_nm = pixel_size_nm * shape[1] / small.shape[1]
    thresholds = InstanceThresholds(
        foreground=foreground_threshold(card.thresholds.foreground, sensitivity),
        seed=card.thresholds.seed,
        min_seed_fraction=card.thresholds.min_seed_fraction,
        merge_boundary=card.thresholds.merge_boundary,
    )
    min_area_small = np.pi * (0.5 * min_diameter_nm / scale_nm) ** 2 * 0.5
    labels_small = maps_to_instances(maps, min_area_px=max(min_area_small, 2.0), thresholds=thresholds)
    n = int(labels_small.max())
    index = np.arange(1, n + 1)
    mean_probability = np.asarray(ndi.mean(maps[0], labels_small, index)) if n else np.zeros(0)
    annotation_fraction = (
        np.asarray(ndi.mean(excluded_small.astype(np.float32), labels_small, index))
        if n and excluded_small is not None else np.zeros(n)
    )
    labels = full_resolution_labels(labels_small, maps[0], shape=shape, threshold=thresholds.foreground)
    labels = grow_labels(labels, radius_px=0.5 * MEMBRANE_THICKNESS_NM / pixel_size_nm)
    labels, rejected = _reject_and_renumber(
        labels, pixel_size_nm=pixel_size_nm, min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm,
        mean_probability=mean_probability,
        min_mean_probability=thresholds.foreground + MIN_MEAN_PROBABILITY_MARGIN,
        annotation_fraction=annotation_fraction,
    )
    found = _polarity_of(image, labels) if polarity == "auto" else polarity
    parameters = {
        "model": card.summary(),
        "working_scale_nm": float(scale_nm),
        "membrane_thickness_nm": MEMBRANE_THICKNESS_NM,
        "thresholds": {"foreground": thresholds.foreground, "seed": thresholds.seed,
                       "min_seed_fraction": thresholds.min_seed_fraction,
                       "merge_boundary": thresholds.merge_boundary,
                       "min_mean_probability": thresholds.foreground + MIN_MEAN_PROBABILITY_MARGIN},
        "pixel_noise_std": None,
    }
    return labels, rejected, found, parameters
