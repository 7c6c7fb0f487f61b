"""Touching vesicles: split a candidate along its necks, keep cups and folded rims whole, add squeezed ones."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from exo_vision.segmentation.classical.candidates import close_ring, enclosed_by_dark
from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS, ClassicalParameters
from exo_vision.segmentation.classical.shape import hugs, is_round_body, region_elongation
from exo_vision.segmentation.morphology_ops import disk, filled_hull, label_components, masked_peaks, solidity


def _watershed_parts(region: np.ndarray, dist: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Watershed of ``-dist`` inside ``region`` from one marker per peak (labels 1..len(peaks))."""
    markers = np.zeros(region.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=region)


def count_round_bodies(region: np.ndarray, *, min_r_px: float, params: ClassicalParameters) -> int:
    """Number of round, solid, vesicle-thick bodies a candidate is made of.

    The candidate is cut by a watershed of its distance transform; a part
    counts if it is at least ``min_r_px`` (half the smallest vesicle
    diameter, in pixels) thick and passes the round-body rule. The arcs of a
    cup's broken rim are thin or curved and do not count.

    Parameters
    ----------
    region : (m, n) ndarray of bool
        One candidate (with some margin).
    min_r_px : float
        Half the smallest vesicle diameter, in pixels.
    params : ClassicalParameters
        Peak spacing and the round-body rule.
    """
    dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    min_distance = max(int(params.split_peak_distance_fraction * min_r_px), params.split_peak_min_distance_px)
    peaks = masked_peaks(dist, region, min_distance=min_distance, threshold=min_r_px)
    if len(peaks) < 2:
        return len(peaks)
    parts = _watershed_parts(region, dist, peaks)
    return sum(1 for k in range(1, len(peaks) + 1) if (parts == k).any() and is_round_body(parts == k, params))


def split_touching(
    mask: np.ndarray,
    *,
    scale_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> np.ndarray:
    """Label ``mask``, splitting touching convex bodies along their neck.

    A component is split only if it is not convex (solidity under
    ``params.split_min_solidity``), has two or more distance-transform maxima,
    and each neck between parts is narrower than ``params.split_neck_fraction``
    of the smaller part's width. Cups and folded rims are one convex body and
    stay whole.

    Parameters
    ----------
    mask : (M, N) ndarray of bool
    scale_nm : float
        Pixel edge length of ``mask`` in nm.
    min_diameter_nm : float
        Smallest vesicle diameter in nm (sets the smallest part kept).
    max_diameter_nm : float
        Largest vesicle diameter in nm (a broken ring is closed only up to it).
    params : ClassicalParameters
        The ``split_*`` and ``arc_*`` rules.

    Returns
    -------
    (M, N) ndarray of int32
    """
    count, labels = label_components(mask)
    out = labels.astype(np.int32)  # labels need not be consecutive
    next_label = count
    min_r_px = max(0.5 * min_diameter_nm / scale_nm, params.split_min_radius_px)
    areas = np.bincount(labels.ravel(), minlength=count)
    slices = ndi.find_objects(labels)
    for i in np.flatnonzero(areas >= params.split_min_area_radii2 * min_r_px**2):
        if i == 0 or slices[i - 1] is None:
            continue
        sl = slices[i - 1]
        r0, r1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, mask.shape[0])
        c0, c1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, mask.shape[1])
        region = labels[r0:r1, c0:c1] == i
        view = out[r0:r1, c0:c1]
        # a small vesicle touching a much larger one hardly dents their convex
        # hull, hence the high bar; the neck test keeps single vesicles whole
        if solidity(region) >= params.split_min_solidity:
            continue
        hull = close_ring(region, max_diameter_px=max_diameter_nm / scale_nm, params=params)
        if hull is not None and count_round_bodies(region, min_r_px=min_r_px, params=params) < 2:
            # a cup whose rim was seen as a broken ring: one object, never split
            # (a chain of vesicles around a gap also looks like a ring, but is
            # made of round bodies as thick as a vesicle: it is split below)
            hull &= (labels[r0:r1, c0:c1] == 0) | region
            view[hull & (view == 0)] = i
            continue
        free = (labels[r0:r1, c0:c1] == 0) | region
        next_label = _split_component(region, view, free, next_label, min_r_px=min_r_px, params=params)
    return out


def _split_component(
    region: np.ndarray,
    view: np.ndarray,
    free: np.ndarray,
    next_label: int,
    *,
    min_r_px: float,
    params: ClassicalParameters,
) -> int:
    """Write the parts of one component into ``view`` (from ``next_label`` on); return the next free label."""
    view[region] = 0
    dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    min_distance = max(int(params.split_peak_distance_fraction * min_r_px), params.split_peak_min_distance_px)
    peaks = masked_peaks(
        dist, region, min_distance=min_distance, threshold=params.split_peak_height_fraction * min_r_px
    )
    if len(peaks) < 2:
        view[region] = next_label
        return next_label + 1
    parts = _watershed_parts(region, dist, peaks)
    parent = list(range(len(peaks) + 1))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    peak_height = {k + 1: float(dist[tuple(p)]) for k, p in enumerate(peaks)}
    necks = _neck_widths(parts, dist)
    for (a, b), neck in sorted(necks.items(), key=lambda kv: -kv[1]):
        if neck > params.split_neck_fraction * min(peak_height[a], peak_height[b]):
            parent[find(a)] = find(b)
    folded = _fold_rim_arcs(parts, necks, peak_height, parent, find, params)
    roots = np.array([find(k) for k in range(len(peaks) + 1)])
    merged = roots[parts]
    for root in np.unique(merged[region]):
        group = region & (merged == root)
        if root in folded:
            # the vesicle's outline runs round its body and rim arc, over the fold between
            group = filled_hull(group) & free & (view == 0)
        view[group] = next_label
        next_label += 1
    return next_label


def _neck_widths(parts: np.ndarray, dist: np.ndarray) -> dict[tuple[int, int], float]:
    """For each pair of touching parts, the widest point (distance-transform value) of their border."""
    right = (parts[:, :-1] != parts[:, 1:]) & (parts[:, :-1] > 0) & (parts[:, 1:] > 0)
    down = (parts[:-1, :] != parts[1:, :]) & (parts[:-1, :] > 0) & (parts[1:, :] > 0)
    necks: dict[tuple[int, int], float] = {}
    for a_arr, b_arr, d_arr in (
        (parts[:, :-1][right], parts[:, 1:][right], dist[:, :-1][right]),
        (parts[:-1, :][down], parts[1:, :][down], dist[:-1, :][down]),
    ):
        for a, b, d in zip(a_arr.tolist(), b_arr.tolist(), d_arr.tolist()):
            key = (min(a, b), max(a, b))
            necks[key] = max(necks.get(key, 0.0), d)
    return necks


def _fold_rim_arcs(parts, necks, peak_height, parent, find, params: ClassicalParameters) -> set[int]:
    """Join each thin arc (a folded cup's raised rim standing off its body) to the body it hugs.

    Returns the roots of the bodies that took an arc.
    """
    roots = np.array([find(k) for k in range(len(parent))])
    grouped = roots[parts]
    groups = set(roots[1:].tolist())
    size = {r: int((grouped == r).sum()) for r in groups}
    width = {r: max(h for k, h in peak_height.items() if roots[k] == r) for r in groups}
    arcs = {r for r in groups if region_elongation(grouped == r, params) > params.arc_min_elongation}
    folded = set()
    for a, b in necks:
        ra, rb = find(a), find(b)
        if ra == rb or (ra in arcs) == (rb in arcs):
            continue
        arc, body = (ra, rb) if ra in arcs else (rb, ra)
        # a rim arc is thin and small beside its body (two vesicles are alike)
        # and curves round it (a rod or a neighbour's rim sticks out instead)
        if (
            width[arc] < params.arc_max_width_fraction * width[body]
            and size[arc] < params.arc_max_size_fraction * size[body]
            and hugs(grouped == arc, grouped == body, params)
        ):
            parent[arc] = body
            folded.add(body)
    return folded


def add_between_bodies(
    coarse: np.ndarray,
    vesicle_z: np.ndarray,
    *,
    light: np.ndarray,
    dark: np.ndarray,
    scale_nm: float,
    low: float,
    high: float,
    min_diameter_nm: float,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> np.ndarray:
    """Add faint vesicles squeezed between brighter neighbours (working scale).

    Such a vesicle is too faint to seed the hysteresis, and its dark membrane
    and halo do not close around it: where it touches a neighbour the two
    membranes meet and the stain between them is too thin to be dark. It is
    closed, though, by its dark ring together with the neighbours' light
    bodies (grown by one membrane thickness). Regions so enclosed that no
    candidate covers yet become new candidates if they pass the round-body
    rule (thin slivers between a body and its own halo, or a notch in a stain
    blob, do not) and are above the small-particle size (twice
    ``min_diameter_nm``, membrane included); the per-candidate checks then
    decide on them like on any other.

    Parameters
    ----------
    coarse : (M, N) ndarray of int32
        Candidate labels so far (changed in place and returned).
    vesicle_z : (M, N) ndarray of float32
        Contrast in noise units, vesicles positive.
    light, dark : (M, N) ndarray of uint8
        ``hysteresis(vesicle_z, low, high)`` and ``hysteresis(-vesicle_z, low, high)``.
    scale_nm : float
        Pixel edge length in nm.
    low, high : float
        Hysteresis thresholds in noise units.
    min_diameter_nm : float
        Smallest vesicle diameter in nm.
    params : ClassicalParameters
        Growth of the bodies, the membrane allowance and the round-body rule.

    Returns
    -------
    (M, N) ndarray of int32
    """
    bodies = cv2.dilate(light, disk(params.between_body_growth_nm / scale_nm))
    walls = dark | bodies
    enclosed = enclosed_by_dark(vesicle_z, scale_nm=scale_nm, low=low, high=high, dark=walls, params=params)
    enclosed[coarse > 0] = 0
    min_diameter_px = (
        params.small_particle_diameter_nm(min_diameter_nm) - params.between_membrane_allowance_nm
    ) / scale_nm
    min_area = np.pi * (0.5 * min_diameter_px) ** 2
    next_label = int(coarse.max()) + 1
    # the few regions are found from their outlines (cheaper than labelling the whole image)
    contours, _ = cv2.findContours(enclosed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if w * h < min_area:
            continue
        outline = np.zeros((h, w), np.uint8)
        cv2.drawContours(outline, [contour], 0, 1, thickness=cv2.FILLED, offset=(-x, -y))
        part = (outline > 0) & (enclosed[y : y + h, x : x + w] > 0)
        if part.sum() < min_area or not is_round_body(part, params):
            continue
        coarse[y : y + h, x : x + w][part] = next_label
        next_label += 1
    return coarse
