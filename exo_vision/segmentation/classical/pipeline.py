"""The classical vesicle segmenter as a short list of stages.

Method (CPU, every size in nm so it works at any pixel size; every threshold
in :class:`~exo_vision.segmentation.classical.parameters.ClassicalParameters`):

1. Mask burnt-in annotations (scale bar, label, data strip).
2. Contrast (:mod:`.contrast`): shrink to the working scale, subtract the
   stain background, divide by the local noise; decide the polarity unless given.
3. Candidates (:mod:`.candidates`, :mod:`.split`, :mod:`.cups`): hysteresis
   threshold plus regions enclosed by a dark membrane ring, closed, filled and
   opened; broken cup rims grouped; touching vesicles split at narrow necks;
   cups whose rim broke into arcs found from their dark centre; faint
   vesicles squeezed between brighter neighbours added.
4. Checks (:mod:`.checks`): reject non-vesicles with a reason (too small or
   large, elongated, not solid, not lighter than the stain, no dark rim, too
   faint, no membrane).
5. Refinement (:mod:`.refine`): each outline placed at the outer membrane
   edge at full resolution.
6. Dark dense blobs away from every candidate are reported as stain precipitate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.validation import as_float_image, check_diameter_range, check_pixel_size, check_working_scale
from exo_vision.segmentation.classical.candidates import candidate_parts
from exo_vision.segmentation.classical.checks import (
    REASON_PRECIPITATE,
    Candidate,
    final_size_rules,
    rim_evidence,
    screen,
    shape_rules,
)
from exo_vision.segmentation.classical.contrast import WorkingContrast, to_working_image, working_contrast
from exo_vision.segmentation.classical.cups import add_faint_cups
from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS, ClassicalParameters
from exo_vision.segmentation.classical.refine import FullResolution, PixelNoise, RefinedOutline, refine_outline
from exo_vision.segmentation.classical.split import add_between_bodies, split_touching
from exo_vision.segmentation.morphology_ops import dilate_disk, expand_labels_fast, hysteresis, label_components
from exo_vision.segmentation.result import VesicleSegmentation, exclude_mask_for, rejected_table

logger = logging.getLogger(__name__)

#: Progress steps reported by :func:`segment_classical`.
TOTAL_STEPS = 5


def segment_classical(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    min_diameter_nm: float = 20.0,
    max_diameter_nm: float = 500.0,
    sensitivity: float = 0.5,
    polarity: Literal["auto", "bright", "dark"] = "auto",
    exclude_mask: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> VesicleSegmentation:
    """Segment every extracellular vesicle in a negative-stain TEM micrograph with the classical method.

    Parameters
    ----------
    image : (M, N) ndarray
        Grey-level micrograph (any real dtype).
    pixel_size_nm : float
        Pixel edge length in nanometres (0.3–2 nm typical; any value up to
        50 nm is accepted).
    min_diameter_nm, max_diameter_nm : float
        Vesicles outside this equivalent-diameter range (nm) are rejected.
    sensitivity : float
        0 (strict, fewer faint objects) to 1 (permissive).
    polarity : {"auto", "bright", "dark"}
        "bright": vesicles lighter than the stain (usual); "dark": darker;
        "auto": detect.
    exclude_mask : (M, N) ndarray of bool, optional
        True where the image must not be analysed (scale bar, label, data
        strip). By default found with
        :func:`~exo_vision.calibration.scalebar.annotation_mask`.
    progress : callable, optional
        Called as ``progress(done, total)`` between steps.
    params : ClassicalParameters
        Every threshold of the method (:data:`DEFAULT_PARAMETERS` by default).

    Returns
    -------
    VesicleSegmentation
    """
    img = as_float_image(image)
    px = check_pixel_size(pixel_size_nm)
    check_working_scale(img.shape, pixel_size_nm=px, working_scale_nm=params.working_scale_nm)
    check_diameter_range(min_diameter_nm, max_diameter_nm)
    low, high = params.thresholds(sensitivity)
    if polarity not in ("auto", "bright", "dark"):
        raise ValueError(f"`polarity` must be 'auto', 'bright' or 'dark', got {polarity!r}")
    exclude = exclude_mask_for(img, exclude_mask)

    def report(step: int) -> None:
        if progress is not None:
            progress(step, TOTAL_STEPS)

    work = to_working_image(img, exclude, pixel_size_nm=px, params=params)
    report(1)
    sizes: dict[str, Any] = dict(min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm, params=params)
    contrast = working_contrast(work, polarity=polarity, sensitivity=sensitivity, **sizes)
    report(2)
    coarse = find_candidates(contrast, low=low, high=high, sensitivity=sensitivity, **sizes)
    report(3)
    sign = 1.0 if contrast.polarity == "bright" else -1.0
    full = FullResolution(img, sign, px, img.shape[0] / coarse.shape[0], img.shape[1] / coarse.shape[1])
    noise = PixelNoise(img, params)
    labels, rejected, accepted, lighter = decide_candidates(coarse, contrast, full, noise, exclude, high=high, **sizes)
    report(4)
    rejected += find_precipitate(contrast, coarse, full, accepted=accepted, lighter=lighter, high=high, params=params)
    report(5)

    rejected_df = rejected_table(rejected)
    n_vesicles = len(accepted)
    parameters = dict(
        pixel_size_nm=px,
        min_diameter_nm=float(min_diameter_nm),
        max_diameter_nm=float(max_diameter_nm),
        sensitivity=float(sensitivity),
        polarity=contrast.polarity,
        polarity_evidence=contrast.scores,
        membrane_thickness_nm=float(params.membrane_thickness_nm),
        working_scale_nm=contrast.scale_nm,
        threshold_low=low,
        threshold_high=high,
        n_vesicles=n_vesicles,
        n_rejected=len(rejected_df),
        pixel_noise_std=noise.raw,
    )
    logger.info("segmented %d vesicles, rejected %d candidates", n_vesicles, len(rejected_df))
    return VesicleSegmentation(
        labels=labels, rejected=rejected_df, polarity=contrast.polarity, analysed_mask=~exclude, parameters=parameters
    )


def find_candidates(
    contrast: WorkingContrast,
    *,
    low: float,
    high: float,
    sensitivity: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters,
) -> np.ndarray:
    """Candidate labels at the working scale: thresholded, split at necks, cups and squeezed vesicles added."""
    vesicle_z, scale_nm = contrast.vesicle_z, contrast.scale_nm
    light, dark = hysteresis(vesicle_z, low, high), hysteresis(-vesicle_z, low, high)
    mask = candidate_parts(
        vesicle_z, scale_nm=scale_nm, sensitivity=sensitivity, thresholded=(light, dark), params=params
    )[0]
    sizes: dict[str, Any] = dict(min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm, params=params)
    coarse = split_touching(mask, scale_nm=scale_nm, **sizes)
    coarse = add_faint_cups(coarse, vesicle_z, scale_nm=scale_nm, **sizes)
    return add_between_bodies(
        coarse,
        vesicle_z,
        light=light,
        dark=dark,
        scale_nm=scale_nm,
        low=low,
        high=high,
        min_diameter_nm=min_diameter_nm,
        params=params,
    )


def _rejection(
    region: np.ndarray, row: int, col: int, full: FullResolution, diameter_nm: float, reason: str
) -> dict[str, Any]:
    """One row of the rejected table: the centroid of a working-grid crop's region, in nm of the full image."""
    ys, xs = np.nonzero(region)
    px = full.pixel_size_nm
    return dict(
        centroid_x_nm=(float(xs.mean()) + col + 0.5) * full.fx * px - 0.5 * px,
        centroid_y_nm=(float(ys.mean()) + row + 0.5) * full.fy * px - 0.5 * px,
        equivalent_diameter_nm=diameter_nm,
        reason=reason,
    )


def decide_candidates(
    coarse: np.ndarray,
    contrast: WorkingContrast,
    full: FullResolution,
    noise: PixelNoise,
    exclude: np.ndarray,
    *,
    high: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters,
) -> tuple[np.ndarray, list[dict[str, Any]], list[int], list[int]]:
    """Check and refine every candidate in label order.

    Returns the full-resolution labels, the rejected rows, and the candidate
    labels that were accepted and that were lighter than the stain (both used
    to tell stain precipitate from vesicle halos).
    """
    p, scale_nm, vesicle_z = params, contrast.scale_nm, contrast.vesicle_z
    territory = expand_labels_fast(coarse, max(p.territory_nm / scale_nm, p.territory_min_px))
    labels = np.zeros(full.image.shape, dtype=np.int32)
    rejected: list[dict[str, Any]] = []
    accepted: list[int] = []
    lighter: list[int] = []
    # Crops reach past a candidate by its territory plus the reach of the
    # refinement's smoothing, so nothing used is cut by the crop's edge.
    reach_nm = max(p.territory_nm, p.territory_min_px * scale_nm) + p.refine_blur_reach_sigmas * p.refine_smooth_nm
    margin = int(np.ceil(reach_nm / scale_nm)) + p.refine_margin_px
    # specks far below the smallest vesicle are noise: not even reported
    speck_area = np.pi * (0.5 * p.speck_diameter_fraction * min_diameter_nm / scale_nm) ** 2
    areas = np.bincount(coarse.ravel())
    sizes: dict[str, Any] = dict(min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm, params=p)
    for i, sl in enumerate(ndi.find_objects(coarse), start=1):
        if sl is None or areas[i] < speck_area:
            continue
        cand = _candidate(coarse, i, sl, margin, scale_nm)
        if float(vesicle_z[cand.crop][cand.region].mean()) > 0:
            lighter.append(i)
        outcome = _decide_one(cand, coarse, territory, contrast, full, noise, high=high, **sizes)
        for reason, diameter_nm in outcome[1]:
            rejected.append(_rejection(cand.first, cand.r0, cand.c0, full, diameter_nm, reason))
        outline = outcome[0]
        if outline is None:
            continue
        view = labels[
            outline.row : outline.row + outline.mask.shape[0], outline.col : outline.col + outline.mask.shape[1]
        ]
        free = (
            outline.mask
            & (view == 0)
            & ~exclude[
                outline.row : outline.row + outline.mask.shape[0], outline.col : outline.col + outline.mask.shape[1]
            ]
        )
        view[free] = len(accepted) + 1
        accepted.append(i)
    return labels, rejected, accepted, lighter


def _candidate(coarse: np.ndarray, label: int, sl: tuple[slice, slice], margin: int, scale_nm: float) -> Candidate:
    """Candidate ``label`` in its bounding box grown by ``margin`` working pixels."""
    sm, sn = coarse.shape
    r0, r1 = max(sl[0].start - margin, 0), min(sl[0].stop + margin, sm)
    c0, c1 = max(sl[1].start - margin, 0), min(sl[1].stop + margin, sn)
    region = coarse[r0:r1, c0:c1] == label
    diameter_nm = 2.0 * np.sqrt(int(region.sum()) / np.pi) * scale_nm
    return Candidate(label, r0, r1, c0, c1, region, region, diameter_nm)


def _decide_one(
    cand: Candidate,
    coarse: np.ndarray,
    territory: np.ndarray,
    contrast: WorkingContrast,
    full: FullResolution,
    noise: PixelNoise,
    *,
    high: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters,
) -> tuple[RefinedOutline | None, list[tuple[str, float]]]:
    """The refined outline of one candidate (None when rejected) and its rejections as ``(reason, diameter_nm)``."""
    scale_nm = contrast.scale_nm
    screened = screen(
        cand, working_shape=coarse.shape, excluded=contrast.excluded, min_diameter_nm=min_diameter_nm, params=params
    )
    if screened is not None:
        return None, [screened]
    reason, stripped = shape_rules(
        cand,
        coarse=coarse,
        territory=territory,
        scale_nm=scale_nm,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        params=params,
    )
    if reason is not None:
        return None, stripped + [(reason, cand.coarse_diameter_nm)]
    rim = rim_evidence(
        cand,
        vesicle_z=contrast.vesicle_z,
        coarse=coarse,
        scale_nm=scale_nm,
        min_diameter_nm=min_diameter_nm,
        high=high,
        params=params,
    )
    if rim.reason is not None:
        return None, stripped + [(rim.reason, cand.coarse_diameter_nm)]
    outline = refine_outline(cand, territory, full, noise, params=params)
    if isinstance(outline, str):
        return None, stripped + [(outline, cand.coarse_diameter_nm)]
    reason = final_size_rules(
        cand,
        outline.diameter_nm,
        vesicle_z=contrast.vesicle_z,
        outside=rim.outside,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        params=params,
    )
    if reason is not None:
        return None, stripped + [(reason, outline.diameter_nm)]
    return outline, stripped


def find_precipitate(
    contrast: WorkingContrast,
    coarse: np.ndarray,
    full: FullResolution,
    *,
    accepted: list[int],
    lighter: list[int],
    high: float,
    params: ClassicalParameters,
) -> list[dict[str, Any]]:
    """Stain precipitate: dark, compact blobs away from every candidate, as rejected rows."""
    p, vesicle_z, scale_nm = params, contrast.vesicle_z, contrast.scale_nm
    dark = vesicle_z < -p.precipitate_depth_thresholds * high
    if not dark.any():
        return []
    # halos of vesicles and the dark outlines of light debris are not precipitate
    n_labels = int(coarse.max()) + 1
    kept, light = np.zeros(n_labels, np.uint8), np.zeros(n_labels, np.uint8)
    kept[accepted], light[lighter] = 1, 1
    near = dilate_disk(kept[coarse], p.precipitate_vesicle_clearance_nm / scale_nm) | dilate_disk(
        light[coarse], p.precipitate_light_clearance_nm / scale_nm
    )
    dark &= ~near
    if contrast.excluded is not None:
        dark &= ~contrast.excluded
    _, blobs = label_components(dark)
    rows = []
    for j, sl in enumerate(ndi.find_objects(blobs), start=1):
        if sl is None:
            continue
        blob = blobs[sl] == j
        diameter_nm = 2.0 * np.sqrt(blob.sum() / np.pi) * scale_nm
        if (
            diameter_nm < p.precipitate_min_diameter_nm
            or diameter_nm > p.precipitate_max_diameter_nm
            or float(vesicle_z[sl][blob].mean()) > -p.precipitate_mean_depth_thresholds * high
        ):
            continue
        rows.append(_rejection(blob, sl[0].start, sl[1].start, full, diameter_nm, REASON_PRECIPITATE))
    return rows
