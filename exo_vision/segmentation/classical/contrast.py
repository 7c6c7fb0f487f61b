"""Stage 1 of the classical method: the micrograph as contrast in noise units at the working scale.

The image is shrunk to the working scale, annotations are painted with the
stain level, the stain background is subtracted (a wide Gaussian, then twice
a masked Gaussian that ignores the objects found so far, so it follows stain
pools without being lifted by vesicles) and the result divided by the local
noise. The polarity (vesicles lighter or darker than the stain) is decided
on the first contrast image unless given. The result, :class:`WorkingContrast`,
has vesicles positive whatever their polarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from exo_vision.segmentation.classical.candidates import candidate_parts
from exo_vision.segmentation.classical.parameters import ClassicalParameters
from exo_vision.segmentation.classical.polarity import detect_vesicle_polarity
from exo_vision.segmentation.classical.preprocess import (
    normalised_contrast,
    resample_to_scale,
    shrink_mask,
    smooth_and_noise,
)
from exo_vision.segmentation.morphology_ops import (
    dilate_disk,
    disk,
    hysteresis,
    label_components,
    label_components_with_stats,
    solidity,
)


@dataclass(frozen=True)
class WorkingImage:
    """The micrograph at the working scale with its annotations painted over."""

    small: np.ndarray
    scale_nm: float
    excluded: np.ndarray | None


@dataclass(frozen=True)
class WorkingContrast:
    """Contrast in noise units at the working scale, vesicles positive.

    Attributes
    ----------
    vesicle_z : (m, n) ndarray of float32
        Contrast with vesicles positive (the sign of the polarity applied).
    scale_nm : float
        Pixel edge length of ``vesicle_z`` in nm.
    excluded : (m, n) ndarray of bool or None
        The excluded area (annotations) at the working scale, grown by a pixel.
    polarity : {"bright", "dark"}
    scores : dict
        Polarity evidence ``{"bright": float, "dark": float}`` (empty when the polarity was given).
    """

    vesicle_z: np.ndarray
    scale_nm: float
    excluded: np.ndarray | None
    polarity: str
    scores: dict[str, float]


def to_working_image(
    img: np.ndarray, exclude: np.ndarray, *, pixel_size_nm: float, params: ClassicalParameters
) -> WorkingImage:
    """Shrink to the working scale and paint the excluded area with the stain's median level."""
    m, n = img.shape
    small, scale_nm = resample_to_scale(img, pixel_size_nm=pixel_size_nm, working_scale_nm=params.working_scale_nm)
    sm, sn = small.shape
    if not exclude.any():
        return WorkingImage(small, scale_nm, None)
    excluded = shrink_mask(exclude, (sm, sn)) if (sm, sn) != (m, n) else exclude.copy()
    grow = 2 * params.annotation_grow_px + 1
    excluded = cv2.dilate(excluded.astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)
    small = small.copy()
    step = params.annotation_fill_sample_step_px
    free = ~excluded[::step, ::step]
    small[excluded] = float(np.median(small[::step, ::step][free])) if free.any() else 0.0
    return WorkingImage(small, scale_nm, excluded)


def working_contrast(
    work: WorkingImage,
    *,
    polarity: str,
    sensitivity: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters,
) -> WorkingContrast:
    """Background-subtracted, noise-normalised contrast with vesicles positive, and the polarity used.

    Parameters
    ----------
    work : WorkingImage
        From :func:`to_working_image`.
    polarity : {"auto", "bright", "dark"}
        "auto" decides from the image.
    sensitivity : float
        0 (strict) to 1 (permissive).
    min_diameter_nm, max_diameter_nm : float
        Vesicle size range in nm.
    params : ClassicalParameters
        Background, noise, polarity and object-mask settings.
    """
    small, scale_nm, excluded = work.small, work.scale_nm, work.excluded
    sm, sn = small.shape
    # the smoothed image and its noise do not change between background passes
    smoothed = smooth_and_noise(small, pixel_size_nm=scale_nm, params=params)
    z, coarse_bg = normalised_contrast(small, pixel_size_nm=scale_nm, smoothed=smoothed, params=params)
    if excluded is not None:
        z[excluded] = 0.0
    # The polarity is one decision summed over every candidate, and the objects
    # left out of the background are masked with a wide margin: for both, every
    # other pixel of z (noise still in its units, as z is smoothed over more
    # than a pixel) is plenty.
    step = params.coarse_step_px
    if not (scale_nm * step <= params.coarse_max_spacing_nm and min(sm, sn) >= params.coarse_min_side_px * step):
        step = 1
    scores: dict[str, float] = {}
    first_parts = None
    if polarity == "auto":
        polarity, scores, first_parts = _choose_polarity(
            np.ascontiguousarray(z[::step, ::step]),
            scale_nm=scale_nm * step,
            sensitivity=sensitivity,
            min_diameter_nm=min_diameter_nm,
            max_diameter_nm=max_diameter_nm,
            params=params,
        )
    sign = 1.0 if polarity == "bright" else -1.0
    # Two more passes: a background that follows stain pools while ignoring the
    # objects found so far. The last pass also leaves out anything even faintly
    # lighter than the stain at a vesicle's scale, or a big faint vesicle would
    # lift the background under itself.
    for broad_objects in (False, True):
        objects = object_mask(
            np.ascontiguousarray((sign * z)[::step, ::step]),
            scale_nm=scale_nm * step,
            sensitivity=sensitivity,
            max_diameter_nm=max_diameter_nm,
            broad=broad_objects,
            parts=None if broad_objects else first_parts,
            params=params,
        )
        if step > 1:
            objects = np.repeat(np.repeat(objects, step, axis=0), step, axis=1)[:sm, :sn]
        if excluded is not None:
            objects |= excluded
        z, _ = normalised_contrast(
            small, pixel_size_nm=scale_nm, objects=objects, background=coarse_bg, smoothed=smoothed, params=params
        )
        if excluded is not None:
            z[excluded] = 0.0
    return WorkingContrast(sign * z, scale_nm, excluded, polarity, scores)


def _choose_polarity(
    coarse_z: np.ndarray,
    *,
    scale_nm: float,
    sensitivity: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters,
) -> tuple[str, dict[str, float], tuple[np.ndarray, np.ndarray]]:
    """The polarity, its evidence, and the candidates of the winning hypothesis (reused by the first pass)."""
    low, high = params.thresholds(sensitivity)
    # each hypothesis thresholds z both ways: compute the two thresholdings once
    light, dark = hysteresis(coarse_z, low, high), hysteresis(-coarse_z, low, high)
    common: dict[str, Any] = dict(scale_nm=scale_nm, sensitivity=sensitivity, params=params)
    parts_bright = candidate_parts(coarse_z, thresholded=(light, dark), **common)
    parts_dark = candidate_parts(-coarse_z, thresholded=(dark, light), **common)
    polarity, scores = detect_vesicle_polarity(
        coarse_z,
        scale_nm=scale_nm,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        sensitivity=sensitivity,
        masks=(parts_bright[0], parts_dark[0]),
        params=params,
    )
    return polarity, scores, parts_bright if polarity == "bright" else parts_dark


def object_mask(
    z: np.ndarray,
    *,
    scale_nm: float,
    sensitivity: float,
    max_diameter_nm: float,
    broad: bool,
    parts: tuple[np.ndarray, np.ndarray] | None,
    params: ClassicalParameters,
) -> np.ndarray:
    """Vesicle-like objects (with a margin for halos) to leave out of the background.

    Only objects with an edge count: a dark membrane/halo around much of them,
    or a contrast far above the threshold. A light patch without an edge is
    uneven stain, which the background must follow. Larger-than-vesicle regions
    stay in too. ``parts`` is ``candidate_parts(z, ...)`` if already computed.
    """
    p = params
    low, high = p.thresholds(sensitivity)
    if parts is None:
        parts = candidate_parts(z, scale_nm=scale_nm, sensitivity=sensitivity, params=p)
    found = parts[0].astype(np.uint8)
    if broad:
        smooth = cv2.GaussianBlur(z, (0, 0), p.broad_smooth_nm / scale_nm)
        found |= cv2.morphologyEx(
            (smooth > p.broad_threshold_fraction * low).astype(np.uint8),
            cv2.MORPH_OPEN,
            disk(p.broad_opening_radius_nm / scale_nm),
        )
    count, lab = label_components(found)
    if count <= 1:
        return np.zeros(z.shape, bool)
    # very large light regions are more likely stain than vesicle; a real large
    # vesicle is still found by its membrane even if the background rises under it
    max_area = p.object_max_area_ratio * np.pi * (0.5 * min(max_diameter_nm, p.object_max_diameter_nm) / scale_nm) ** 2
    keep = (np.bincount(lab[found > 0], minlength=count) <= max_area) & _edged_or_strong(
        lab, count, z, low, high, scale_nm, p
    )
    keep[0] = False
    kept = keep[lab].astype(np.uint8)
    # Vesicles in a cluster, or next to light stain, can merge with it into one
    # sprawling region that was dropped above; each is still enclosed by its own
    # dark membrane and halo, so keep those enclosed, vesicle-sized regions.
    count, elab, estats = label_components_with_stats(parts[1])
    for k in range(1, count):
        x, y, w, h, area = (int(v) for v in estats[k])
        if area <= max_area and solidity(elab[y : y + h, x : x + w] == k) >= p.object_min_enclosed_solidity:
            kept[y : y + h, x : x + w][elab[y : y + h, x : x + w] == k] = 1
    return dilate_disk(kept, p.object_margin_nm / scale_nm)


def _edged_or_strong(
    lab: np.ndarray, count: int, z: np.ndarray, low: float, high: float, scale_nm: float, p: ClassicalParameters
) -> np.ndarray:
    """Per label: a dark ring around much of it, or a contrast far above the high threshold."""
    # labels dilate as uint16 when they fit (same maxima as float32)
    lab_dtype = np.uint16 if count <= np.iinfo(np.uint16).max else np.float32
    grown = cv2.dilate(lab.astype(lab_dtype), disk(p.object_ring_nm / scale_nm)).astype(np.int32)
    ring = (grown > 0) & (lab == 0)
    dark = ring & (z < -low)
    ring_n = np.bincount(grown[ring], minlength=count)
    dark_n = np.bincount(grown[dark], minlength=count)
    strong = np.bincount(lab[z > p.object_strong_thresholds * high], minlength=count) > 0
    edged = (ring_n > 0) & (dark_n >= p.object_min_dark_ring_fraction * ring_n)
    return edged | strong
