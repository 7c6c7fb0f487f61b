"""Candidate regions on a noise-normalised contrast image ("z", vesicles positive).

A vesicle, in the vesicle-is-bright convention, is a region lighter than the
stain, closed by a dark membrane and usually surrounded by a dark stain halo.
Cup-shaped vesicles have a dark, stain-filled centre inside a bright rim; the
hole filling here makes them one solid object.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS, ClassicalParameters
from exo_vision.segmentation.morphology_ops import (
    disk,
    fill_holes,
    filled_hull,
    hysteresis,
    label_components,
    simple_solidity,
)


def thresholds(sensitivity: float, params: ClassicalParameters = DEFAULT_PARAMETERS) -> tuple[float, float]:
    """Hysteresis thresholds ``(low, high)`` in noise units for a sensitivity in [0, 1]."""
    return params.thresholds(sensitivity)


def enclosed_by_dark(
    z: np.ndarray,
    *,
    scale_nm: float,
    low: float,
    high: float,
    dark: np.ndarray | None = None,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> np.ndarray:
    """Regions fully enclosed by dark stain (membranes and halos), uint8 0/1.

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast, vesicles positive.
    scale_nm : float
        Pixel edge length in nm.
    low, high : float
        Hysteresis thresholds (noise units) for "dark".
    dark : (M, N) ndarray of uint8, optional
        ``hysteresis(-z, low, high)`` if already computed.
    params : ClassicalParameters
        Closing and opening radii.

    Returns
    -------
    (M, N) ndarray of uint8
    """
    if dark is None:
        dark = hysteresis(-z, low, high)
    dark = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, disk(params.dark_closing_radius_nm / scale_nm))
    enclosed = fill_holes(dark) & (dark == 0)
    return cv2.morphologyEx(
        enclosed.astype(np.uint8), cv2.MORPH_OPEN, disk(params.enclosed_opening_radius_nm / scale_nm)
    )


def candidate_mask(
    z: np.ndarray, *, scale_nm: float, sensitivity: float, params: ClassicalParameters = DEFAULT_PARAMETERS
) -> np.ndarray:
    """Solid bright regions: hysteresis threshold, closing, hole filling, opening (bool).

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast, vesicles positive.
    scale_nm : float
        Pixel edge length of ``z`` in nm.
    sensitivity : float
        0 (strict) to 1 (permissive).
    params : ClassicalParameters
        Thresholds and radii.
    """
    return candidate_parts(z, scale_nm=scale_nm, sensitivity=sensitivity, params=params)[0]


def candidate_parts(
    z: np.ndarray,
    *,
    scale_nm: float,
    sensitivity: float,
    thresholded: tuple[np.ndarray, np.ndarray] | None = None,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`candidate_mask` together with the dark-enclosed regions it used.

    Callers that need both (the background's object mask) compute the costly
    :func:`enclosed_by_dark` only once.

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast, vesicles positive.
    scale_nm : float
        Pixel edge length of ``z`` in nm.
    sensitivity : float
        0 (strict) to 1 (permissive).
    thresholded : tuple of two (M, N) ndarray of uint8, optional
        ``hysteresis(z, low, high)`` and ``hysteresis(-z, low, high)`` at this
        sensitivity's thresholds, if already computed (trying both polarities
        needs the same two, swapped).
    params : ClassicalParameters
        Thresholds and radii.

    Returns
    -------
    candidates : (M, N) ndarray of bool
        :func:`candidate_mask` of ``z``.
    enclosed : (M, N) ndarray of uint8
        :func:`enclosed_by_dark` of ``z`` at the same thresholds.
    """
    low, high = params.thresholds(sensitivity)
    light, dark = thresholded if thresholded is not None else (hysteresis(z, low, high), None)
    mask = light.copy()
    # Regions enclosed by a dark membrane ring count too: a faint vesicle is
    # often seen by its outline rather than by its interior.
    enclosed = enclosed_by_dark(z, scale_nm=scale_nm, low=low, high=high, dark=dark, params=params)
    mask |= enclosed
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disk(params.candidate_closing_radius_nm / scale_nm))
    mask = fill_holes(mask)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk(params.candidate_opening_radius_nm / scale_nm))
    return group_rim_pieces(mask.astype(bool), scale_nm=scale_nm, params=params), enclosed


def group_rim_pieces(
    mask: np.ndarray, *, scale_nm: float, params: ClassicalParameters = DEFAULT_PARAMETERS
) -> np.ndarray:
    """Join the pieces of a broken cup rim into one filled object.

    A faint or folded cup rim often breaks into arcs around its dark centre.
    Closing with a ``params.rim_gap_nm`` disk and filling holes joins them;
    that grouping is kept only where the pieces are arcs (not solid). Where
    every piece is already a solid body (touching vesicles), the pieces stay
    as they were.

    Parameters
    ----------
    mask : (M, N) ndarray of bool
    scale_nm : float
        Pixel edge length in nm.
    params : ClassicalParameters
        ``rim_gap_nm`` (half of it is the closing radius) and the arc rules.

    Returns
    -------
    (M, N) ndarray of bool
    """
    m8 = mask.astype(np.uint8)
    grouped = fill_holes(cv2.morphologyEx(m8, cv2.MORPH_CLOSE, disk(0.5 * params.rim_gap_nm / scale_nm)))
    count, group_labels = label_components(grouped)
    out = m8.copy()
    min_piece = max(int((params.rim_piece_min_side_nm / scale_nm) ** 2), params.rim_piece_min_px)
    # A group whose pixels are all mask pixels is a single piece left as it was;
    # only groups that gained pixels (joined pieces, or closed a ring) can change.
    pieces_area = np.bincount(group_labels[m8 > 0], minlength=count)
    areas = np.bincount(group_labels[grouped > 0], minlength=count)
    boxes = ndi.find_objects(group_labels)
    for k in np.flatnonzero(areas > pieces_area):
        if k == 0:
            continue
        box = boxes[k - 1]
        group = group_labels[box] == k
        n_pieces, piece_labels = label_components(group & (m8[box] > 0))
        if n_pieces - 1 < 2 and not areas[k] > params.rim_group_growth_ratio * pieces_area[k]:
            continue
        sizes = np.bincount(piece_labels.ravel(), minlength=n_pieces)
        arcs = any(
            pid > 0 and simple_solidity(piece_labels == pid) < params.arc_max_solidity
            for pid in np.flatnonzero(sizes >= min_piece)
        )
        if arcs:
            out[box][group] = 1
    return out.astype(bool)


def close_ring(
    region: np.ndarray, *, max_diameter_px: float = np.inf, params: ClassicalParameters = DEFAULT_PARAMETERS
) -> np.ndarray | None:
    """Fill a broken ring (a faint cup rim seen as a "C") to its convex hull.

    Parameters
    ----------
    region : (m, n) ndarray of bool
        One candidate (with some margin).
    max_diameter_px : float
        Largest equivalent diameter of the closed ring, in pixels.
    params : ClassicalParameters
        The ``ring_*`` rules: coverage of directions, empty centre, rim width.

    Returns
    -------
    (m, n) ndarray of bool or None
        The hull when the candidate surrounds an empty centre in most
        directions; None otherwise (e.g. two touching vesicles, whose centre
        is filled, or a blob).
    """
    if not region.any():
        return None
    hull = filled_hull(region)
    ys, xs = np.nonzero(hull)
    cy, cx = ys.mean(), xs.mean()
    radius = np.sqrt(hull.sum() / np.pi)
    if radius < params.ring_min_radius_px or 2 * radius > max_diameter_px:
        return None
    if region.sum() < params.ring_min_fill_fraction * hull.sum():
        return None  # a sparse scatter of specks, not a rim
    half_width = float(cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_3).max())
    if half_width > params.ring_max_half_width_fraction * radius:
        return None  # thick bodies around a gap: a cluster of vesicles, not a rim
    ry, rx = np.nonzero(region)
    r = np.hypot(ry - cy, rx - cx)
    centre_area = np.pi * (params.ring_centre_radius_fraction * radius) ** 2
    if (r < params.ring_centre_radius_fraction * radius).sum() > params.ring_max_centre_fill_fraction * centre_area:
        return None
    outer = r > params.ring_outer_fraction * radius
    angles = np.arctan2(ry[outer] - cy, rx[outer] - cx)
    n_dir = params.ring_directions
    bins = np.unique(((angles + np.pi) / (2 * np.pi) * n_dir).astype(int) % n_dir)
    if bins.size < params.ring_min_coverage * n_dir:
        return None
    return hull


def ring_mean(
    z: np.ndarray, region: np.ndarray, *, inner_px: float, outer_px: float, ignore: np.ndarray | None = None
) -> float:
    """Mean of ``z`` in a ring ``inner_px``..``outer_px`` outside ``region``.

    Parameters
    ----------
    z : (m, n) ndarray
    region : (m, n) ndarray of bool
        The object (a crop containing it with margin).
    inner_px, outer_px : float
        Ring limits in pixels from the object's edge.
    ignore : (m, n) ndarray of bool, optional
        Pixels left out of the ring (other objects).

    Returns
    -------
    float
        NaN when the ring is empty.
    """
    dist = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_3)
    ring = (dist > inner_px) & (dist <= outer_px)
    if ignore is not None:
        ring &= ~ignore
    if not ring.any():
        return float("nan")
    return float(z[ring].mean())


def rim_mean(
    z: np.ndarray,
    region: np.ndarray,
    *,
    scale_nm: float,
    ignore: np.ndarray | None = None,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> float:
    """Mean contrast of the membrane-and-halo ring just outside ``region`` (the rim rule's ring)."""
    return ring_mean(
        z, region, inner_px=params.rim_ring_inner_px, outer_px=params.rim_ring_outer_nm / scale_nm + 1, ignore=ignore
    )
