"""Shape rules of the classical segmenter: round bodies, rim arcs that hug a body, rods to strip off."""

from __future__ import annotations

import cv2
import numpy as np

from exo_vision.segmentation.classical.parameters import ClassicalParameters
from exo_vision.segmentation.morphology_ops import disk, elongation, filled_hull, label_components_with_stats, solidity


def region_elongation(region: np.ndarray, params: ClassicalParameters) -> float:
    """Ratio of the principal axes of a binary region (1 for a disk), with the parameters' numerical guards."""
    return elongation(
        region,
        min_area_px=params.elongation_min_area_px,
        eigen_floor=params.elongation_eigen_floor,
        eigen_epsilon=params.elongation_eigen_epsilon,
    )


def is_round_body(region: np.ndarray, params: ClassicalParameters) -> bool:
    """The round-body rule: a vesicle body is solid and round, a rim arc or a rod is not.

    True when the region's solidity is at least ``params.round_body_min_solidity``
    and its elongation under ``params.round_body_max_elongation``.
    """
    return bool(
        solidity(region) >= params.round_body_min_solidity
        and region_elongation(region, params) < params.round_body_max_elongation
    )


def hugs(arc: np.ndarray, body: np.ndarray, params: ClassicalParameters) -> bool:
    """Whether ``arc`` runs round ``body`` close to it, as a folded cup's raised rim does.

    True when the arc's pixels lie within ``hug_max_gap_fraction`` of the
    body's equivalent radius from the body (median), and at
    ``hug_min_radius_fraction``-``hug_max_radius_fraction`` of the equivalent
    radius of the convex hull of both from that hull's centroid, with a spread
    under ``hug_max_spread_fraction`` of that radius (a rod or a neighbour's
    rim sticks out or lies apart).
    """
    body_radius = np.sqrt(body.sum() / np.pi)
    ys, xs = np.nonzero(arc)
    gap = cv2.distanceTransform((~body).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_3)[ys, xs]
    if float(np.median(gap)) > params.hug_max_gap_fraction * body_radius:
        return False
    hull = filled_hull(arc | body)
    mom = cv2.moments(hull.view(np.uint8), binaryImage=True)
    cy, cx = mom["m01"] / mom["m00"], mom["m10"] / mom["m00"]
    radius = np.sqrt(mom["m00"] / np.pi)
    dist = np.hypot(ys - cy, xs - cx)
    return bool(
        params.hug_min_radius_fraction * radius <= float(np.median(dist)) <= params.hug_max_radius_fraction * radius
        and float(dist.std()) < params.hug_max_spread_fraction * radius
    )


def strip_thin_parts(region: np.ndarray, *, radius_px: float) -> np.ndarray | None:
    """Largest part of ``region`` that survives an opening with a disk of ``radius_px`` (None if nothing does).

    The one-pixel rim the opening shaved off that part is given back.
    """
    opened = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, disk(radius_px))
    count, lab, stats = label_components_with_stats(opened)
    if count <= 1:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return cv2.dilate((lab == k).astype(np.uint8), disk(1.0)).astype(bool) & region
