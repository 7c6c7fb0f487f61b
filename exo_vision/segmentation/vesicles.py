"""Instance segmentation of extracellular vesicles in negative-stain TEM.

Method (classical, CPU, all sizes in nm so it works at any pixel size):

1. Mask burnt-in annotations (scale bar, label, data strip).
2. Shrink to a fixed working scale (2 nm/px), subtract the stain background
   (a wide Gaussian, then twice a masked Gaussian that ignores the objects
   found so far, so it follows stain pools without being lifted by vesicles;
   those objects are found on every other pixel, as they are masked with a
   30 nm margin), smooth and divide by the local noise: the result ``z`` is
   contrast in noise units.
3. Detect the polarity (vesicles lighter or darker than the stain) unless
   given, also on every other pixel of ``z``.
4. Candidates: hysteresis threshold of ``z`` plus every region enclosed by a
   dark membrane/halo ring (faint vesicles are often seen by their outline),
   closing, hole filling (so a cup's dark, stain-filled centre belongs to the
   cup), opening; the arcs of a broken cup rim (gaps up to 12 nm) are grouped
   into one filled object. A faint vesicle squeezed between brighter
   neighbours, closed by its dark halo and their light bodies together, is
   added as a candidate of its own when it is round, solid and larger than a
   small particle.
5. Split touching vesicles with a distance-transform watershed, but only
   where the shape says two convex bodies meet at a narrow neck; a cup or a
   folded rim (a thin ring around an empty centre) is closed to its hull and
   never split; a thin arc that runs round a body close to it (a large cup's
   raised rim standing off its collapsed body) stays with that body, and the
   vesicle is the hull of both, fold included. A cup whose faint rim broke into arcs (or merged with a
   neighbour) is found from its dark centre: rays find a rim of consistent
   radius lighter than centre and surroundings; the filled outline becomes one
   object and the neighbour keeps only its own body.
6. Reject non-vesicles with a reason: too small (lipoprotein-sized
   particles; a small candidate, under twice ``min_diameter_nm``, must also be
   ringed by a dark membrane and halo at least a fifth as deep as its interior
   is light, which membrane-less particles are not), too large, elongated (tubular debris; a rod lying across a
   vesicle is stripped off instead), not solid (protein aggregate), darker
   than the stain, no dark membrane/halo around it; dark dense blobs away from
   light objects are reported as stain precipitate.
7. Refine each outline at full resolution: the mean intensity profile across
   the coarse edge (averaged along the whole outline, which beats the noise)
   gives the half-level where the light interior meets the dark membrane (its
   inner face); the outline is placed one membrane thickness
   (``membrane_thickness_nm``, 4 nm) further out, at the outer membrane edge.
   This gives diameters accurate to about 1 %.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from exo_vision.segmentation.detect import (
    candidate_parts,
    close_ring,
    dilate_disk,
    disk,
    enclosed_by_dark,
    expand_labels_fast,
    filled_hull,
    find_faint_cups,
    hysteresis,
    label_components,
    label_components_with_stats,
    masked_peaks,
    ring_mean,
    thresholds,
)
from exo_vision.segmentation.polarity import detect_polarity
from exo_vision.segmentation.preprocess import (
    as_float_image,
    check_pixel_size,
    check_working_scale,
    normalised_contrast,
    resample_to_scale,
    shrink_mask,
    smooth_and_noise,
)

logger = logging.getLogger(__name__)

#: Columns of :attr:`VesicleSegmentation.rejected`.
REJECTED_COLUMNS = ("centroid_x_nm", "centroid_y_nm", "equivalent_diameter_nm", "reason")

#: Rejection reasons (the text users see).
REASON_TOO_SMALL = "too small: below min_diameter_nm (small particle, e.g. lipoprotein)"
REASON_TOO_LARGE = "too large: above max_diameter_nm"
REASON_ELONGATED = "elongated: tubular debris or filament"
REASON_NOT_SOLID = "not solid: protein aggregate or stain debris"
REASON_NO_RIM = "no dark membrane or stain halo around it"
REASON_PRECIPITATE = "stain precipitate: dark dense blob without membrane"
REASON_EXCLUDED = "lies on the excluded area (scale bar, label or data strip)"
REASON_NOT_LIGHTER = "not lighter than the stain (a dark region enclosed by darker stain)"
REASON_BACKGROUND = "covers a fifth of the image: uneven stain, not a vesicle"
REASON_LOW_CONTRAST = "too faint: contrast below the detection threshold"
REASON_NO_MEMBRANE = "small particle without a membrane (e.g. lipoprotein): only a faint halo around it"

#: A small candidate must be ringed by stain darker than the background by at
#: least this fraction of its interior contrast (its 90th percentile). Vesicles'
#: membrane plus halo give 0.27 and more; membrane-less particles 0.05-0.24.
MIN_RIM_DEPTH_FRACTION = 0.2

#: Polarity and the background's object masks use every COARSE_STEP-th pixel of the
#: working grid (at most 4.5 nm apart).
COARSE_STEP = 2

#: How far (nm) around a candidate its outline may be refined (its territory).
TERRITORY_NM = 14.0
#: Gaussian sigma (nm) of the full-resolution crops whose edge profile places the outline.
REFINE_SMOOTH_NM = 0.8


@dataclass
class VesicleSegmentation:
    """Result of :func:`segment_vesicles`.

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
    """

    labels: np.ndarray
    rejected: pd.DataFrame
    polarity: str
    analysed_mask: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "centroid_x_nm": pd.Series(dtype="float64"),
            "centroid_y_nm": pd.Series(dtype="float64"),
            "equivalent_diameter_nm": pd.Series(dtype="float64"),
            "reason": pd.Series(dtype="object"),
        }
    )


def default_exclude_mask(image: np.ndarray) -> np.ndarray:
    """Annotation mask from the calibration module, or the local fallback."""
    try:
        from exo_vision.calibration.scalebar import annotation_mask
    except ImportError:
        from exo_vision.segmentation.preprocess import fallback_annotation_mask

        return fallback_annotation_mask(image)
    return np.asarray(annotation_mask(image), dtype=bool)


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) of a 1-D array, with one partial sort.

    The same value as numpy's (to the last bit but rarely one unit in the last
    place), four times faster on the small arrays of one vesicle.
    """
    n = values.size
    index = q / 100.0 * (n - 1)
    lo = int(np.floor(index))
    hi = min(lo + 1, n - 1)
    part = np.partition(values, [lo, hi]) if hi != lo else np.partition(values, lo)
    a, b = part[lo], part[hi]
    t = np.asarray(index - lo, dtype=part.dtype)
    # numpy's interpolation formula, in the array's precision, for the same rounding
    return float(a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t))


def _solidity(region: np.ndarray) -> float:
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return 1.0
    pts = np.concatenate(contours)
    hull_area = cv2.contourArea(cv2.convexHull(pts))
    # contour areas run through pixel centres: add half a pixel of perimeter
    perim = cv2.arcLength(cv2.convexHull(pts), True)
    return float(region.sum()) / max(hull_area + 0.5 * perim + 1.0, 1.0)


def _elongation(region: np.ndarray) -> float:
    """Ratio of the principal axes (sqrt of covariance eigenvalues) of a region."""
    mom = cv2.moments(region.astype(np.uint8), binaryImage=True)
    if mom["m00"] < 3:
        return 1.0
    a, b, c = mom["mu20"], mom["mu11"], mom["mu02"]
    root = np.sqrt(max((a - c) ** 2 + 4 * b * b, 0.0))
    big, small = 0.5 * (a + c + root), 0.5 * (a + c - root)
    return float(np.sqrt(big / max(small, 1e-6 * max(big, 1e-12))))


def _hugs(arc: np.ndarray, body: np.ndarray) -> bool:
    """Whether ``arc`` runs round ``body`` close to it, as a folded cup's raised rim does.

    True when the arc's pixels lie within half the body's equivalent radius
    from the body (median), and at 0.7-1.1 of the equivalent radius of the
    convex hull of both from that hull's centroid, with a spread under 15 %
    of that radius (a rod or a neighbour's rim sticks out or lies apart).
    """
    body_radius = np.sqrt(body.sum() / np.pi)
    ys, xs = np.nonzero(arc)
    gap = cv2.distanceTransform((~body).view(np.uint8), cv2.DIST_L2, 3)[ys, xs]
    if float(np.median(gap)) > 0.5 * body_radius:
        return False
    hull = filled_hull(arc | body)
    mom = cv2.moments(hull.view(np.uint8), binaryImage=True)
    cy, cx = mom["m01"] / mom["m00"], mom["m10"] / mom["m00"]
    radius = np.sqrt(mom["m00"] / np.pi)
    dist = np.hypot(ys - cy, xs - cx)
    return bool(0.7 * radius <= float(np.median(dist)) <= 1.1 * radius and float(dist.std()) < 0.15 * radius)


def _strip_thin_parts(region: np.ndarray, *, radius_px: float) -> np.ndarray | None:
    """Largest part of ``region`` that survives an opening with a disk of ``radius_px``."""
    opened = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, disk(radius_px))
    count, lab, stats = label_components_with_stats(opened)
    if count <= 1:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    # give back the rim that the opening shaved off the body
    body = cv2.dilate((lab == k).astype(np.uint8), disk(1.0)).astype(bool) & region
    return body


def _object_mask(
    z: np.ndarray, *, scale_nm: float, sensitivity: float, max_diameter_nm: float, broad: bool,
    parts: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Vesicle-like objects (with a 30 nm margin for halos) to leave out of the background.

    Only objects with an edge count: a dark membrane/halo around much of them,
    or a contrast far above the threshold. A light patch without an edge is
    uneven stain, which the background must follow. Larger-than-vesicle regions
    stay in too. ``parts`` is ``candidate_parts(z, ...)`` if already computed.
    """
    low, high = thresholds(sensitivity)
    if parts is None:
        parts = candidate_parts(z, scale_nm=scale_nm, sensitivity=sensitivity)
    found = parts[0].astype(np.uint8)
    if broad:
        smooth = cv2.GaussianBlur(z, (0, 0), 4.0 / scale_nm)
        found |= cv2.morphologyEx((smooth > 0.6 * low).astype(np.uint8), cv2.MORPH_OPEN, disk(6.0 / scale_nm))
    count, lab = label_components(found)
    if count <= 1:
        return np.zeros(z.shape, bool)
    areas = np.bincount(lab[found > 0], minlength=count)
    # fraction of a ring 1-8 nm outside each object that is dark
    # labels dilate as uint16 when they fit (several times faster than float32, same maxima)
    lab_dtype = np.uint16 if count <= np.iinfo(np.uint16).max else np.float32
    grown = cv2.dilate(lab.astype(lab_dtype), disk(8.0 / scale_nm)).astype(np.int32)
    ring = (grown > 0) & (lab == 0)
    dark = ring & (z < -low)
    ring_n = np.bincount(grown[ring], minlength=count)
    dark_n = np.bincount(grown[dark], minlength=count)
    strong = np.bincount(lab[z > 2.0 * high], minlength=count) > 0
    # very large light regions are more likely stain than vesicle; a real large
    # vesicle is still found by its membrane even if the background rises under it
    max_area = 1.5 * np.pi * (0.5 * min(max_diameter_nm, 300.0) / scale_nm) ** 2
    edged = (ring_n > 0) & (dark_n >= 0.4 * ring_n)
    keep = (areas <= max_area) & (edged | strong)
    keep[0] = False
    kept = keep[lab].astype(np.uint8)
    # Vesicles in a cluster, or next to light stain, can merge with it into one
    # sprawling region that was dropped above; each is still enclosed by its own
    # dark membrane and halo, so keep those enclosed, vesicle-sized regions.
    enclosed = parts[1]
    count, elab, estats = label_components_with_stats(enclosed)
    for k in range(1, count):
        x, y, w, h, area = (int(v) for v in estats[k])
        if area <= max_area and _solidity(elab[y:y + h, x:x + w] == k) >= 0.6:
            kept[y:y + h, x:x + w][elab[y:y + h, x:x + w] == k] = 1
    return dilate_disk(kept, 30.0 / scale_nm)


def _round_bodies(region: np.ndarray, *, min_r_px: float) -> int:
    """Number of round, solid, vesicle-thick bodies a candidate is made of.

    The candidate is cut by a watershed of its distance transform; a part
    counts if it is at least ``min_r_px`` (half the smallest vesicle
    diameter, in pixels) thick and is round and solid, as a vesicle body is.
    The arcs of a cup's broken rim are thin or curved and do not count.

    Parameters
    ----------
    region : (m, n) ndarray of bool
        One candidate (with some margin).
    min_r_px : float
        Half the smallest vesicle diameter, in pixels.

    Returns
    -------
    int
    """
    dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
    peaks = masked_peaks(dist, region, min_distance=max(int(0.6 * min_r_px), 2), threshold=min_r_px)
    if len(peaks) < 2:
        return len(peaks)
    markers = np.zeros(region.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    parts = watershed(-dist, markers, mask=region)
    n_round = 0
    for k in range(1, len(peaks) + 1):
        part = parts == k
        if part.any() and _solidity(part) >= 0.85 and _elongation(part) < 1.6:
            n_round += 1
    return n_round


def split_touching(
    mask: np.ndarray, *, scale_nm: float, min_diameter_nm: float, max_diameter_nm: float = 500.0
) -> np.ndarray:
    """Label ``mask``, splitting touching convex bodies along their neck.

    A component is split only if it is not convex (solidity < 0.95),
    has two or more distance-transform maxima, and each neck between parts is
    narrower than 70 % of the smaller part's width. Cups and folded rims are
    one convex body and stay whole.

    Parameters
    ----------
    mask : (M, N) ndarray of bool
    scale_nm : float
        Pixel edge length of ``mask`` in nm.
    min_diameter_nm : float
        Smallest vesicle diameter in nm (sets the smallest part kept).
    max_diameter_nm : float
        Largest vesicle diameter in nm (a broken ring is closed only up to it).

    Returns
    -------
    (M, N) ndarray of int32
    """
    count, labels = label_components(mask)
    out = labels.astype(np.int32)  # labels need not be consecutive
    next_label = count
    min_r_px = max(0.5 * min_diameter_nm / scale_nm, 2.0)
    areas = np.bincount(labels.ravel(), minlength=count)
    slices = ndi.find_objects(labels)
    for i in np.flatnonzero(areas >= 4 * min_r_px**2):
        if i == 0 or slices[i - 1] is None:
            continue
        sl = slices[i - 1]
        r0, r1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, mask.shape[0])
        c0, c1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, mask.shape[1])
        region = labels[r0:r1, c0:c1] == i
        view = out[r0:r1, c0:c1]
        # (0.95, not 0.9: a small vesicle touching a much larger one hardly
        # dents their convex hull; the neck test below keeps single vesicles whole)
        if _solidity(region) >= 0.95:
            continue
        hull = close_ring(region, max_diameter_px=max_diameter_nm / scale_nm)
        if hull is not None and _round_bodies(region, min_r_px=min_r_px) < 2:
            # a cup whose rim was seen as a broken ring: one object, never split
            # (a chain of vesicles around a gap also looks like a ring, but is
            # made of round bodies as thick as a vesicle: it is split below)
            hull &= (labels[r0:r1, c0:c1] == 0) | region
            view[hull & (view == 0)] = i
            continue
        view[region] = 0
        dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
        peaks = masked_peaks(dist, region, min_distance=max(int(0.6 * min_r_px), 2), threshold=0.6 * min_r_px)
        if len(peaks) < 2:
            view[region] = next_label
            next_label += 1
            continue
        markers = np.zeros(region.shape, dtype=np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        parts = watershed(-dist, markers, mask=region)
        parent = list(range(len(peaks) + 1))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        peak_height = {k + 1: float(dist[tuple(p)]) for k, p in enumerate(peaks)}
        # necks: for each pair of touching parts, the widest point of their border
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
        for (a, b), neck in sorted(necks.items(), key=lambda kv: -kv[1]):
            if neck > 0.7 * min(peak_height[a], peak_height[b]):
                parent[find(a)] = find(b)
        # A part that is a thin arc (a folded cup's raised rim standing off its body)
        # is no vesicle of its own: it stays with the body it touches.
        roots = np.array([find(k) for k in range(len(peaks) + 1)])
        grouped = roots[parts]
        groups = set(roots[1:].tolist())
        size = {r: int((grouped == r).sum()) for r in groups}
        width = {r: max(h for k, h in peak_height.items() if roots[k] == r) for r in groups}
        arcs = {r for r in groups if _elongation(grouped == r) > 3.0}
        folded = set()
        for a, b in necks:
            ra, rb = find(a), find(b)
            if ra == rb or (ra in arcs) == (rb in arcs):
                continue
            arc, body = (ra, rb) if ra in arcs else (rb, ra)
            # a rim arc is thin and small beside its body (two vesicles are alike)
            # and curves round it (a rod or a neighbour's rim sticks out instead)
            if width[arc] < 0.6 * width[body] and size[arc] < 0.5 * size[body] and _hugs(
                grouped == arc, grouped == body
            ):
                parent[arc] = body
                folded.add(body)
        roots = np.array([find(k) for k in range(len(peaks) + 1)])
        merged = roots[parts]
        free = (labels[r0:r1, c0:c1] == 0) | region
        for root in np.unique(merged[region]):
            group = region & (merged == root)
            if root in folded:
                # the vesicle's outline runs round its body and rim arc, over the fold between
                group = filled_hull(group) & free & (view == 0)
            view[group] = next_label
            next_label += 1
    return out


def _add_faint_cups(
    coarse: np.ndarray, zs: np.ndarray, *, scale_nm: float, min_diameter_nm: float, max_diameter_nm: float
) -> np.ndarray:
    """Make each cup whose faint rim broke into pieces one object (working scale).

    The cups come from :func:`~exo_vision.segmentation.detect.find_faint_cups`.
    A cup already found as one object, or a "cup" holding a solid vesicle (a
    cluster around a gap), is left alone. Otherwise the filled outline becomes
    one new object; a neighbour it cut keeps its body (thin slivers of rim
    are stripped off), and rim fragments left outside too small to be a
    vesicle are dropped.
    """
    next_label = int(coarse.max()) + 1
    min_part = 0.5 * np.pi * (0.5 * min_diameter_nm / scale_nm) ** 2
    for r0, c0, disc in find_faint_cups(
        zs, coarse, scale_nm=scale_nm, min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm
    ):
        h, w = disc.shape
        view = coarse[r0:r0 + h, c0:c0 + w]
        area = int(disc.sum())
        ids, counts = np.unique(view[disc], return_counts=True)
        counts, ids = counts[ids > 0], ids[ids > 0]
        if counts.size and counts.max() >= 0.6 * area:
            continue  # already one object
        pad = int(np.ceil(0.5 * max_diameter_nm / scale_nm))
        br0, bc0 = max(r0 - pad, 0), max(c0 - pad, 0)
        big = coarse[br0:r0 + h + pad, bc0:c0 + w + pad]
        rim_seen, n_pieces = 0, 0
        body_inside = False
        for k, inside in zip(ids.tolist(), counts.tolist()):
            own = big == k
            if inside < 0.5 * own.sum():
                continue  # a neighbour overlapping the outline: it keeps the rest
            rim_seen += inside
            if inside < 0.05 * area:
                continue
            n_pieces += 1
            # pieces of a rim are arcs; a round, solid body inside means a
            # cluster of vesicles around a gap, not a cup
            if _solidity(own) >= 0.85 and _elongation(own) < 1.6:
                body_inside = True
        # the detector must already have seen part of the rim, in a few arcs
        if body_inside or n_pieces > 4 or rim_seen < 0.15 * area:
            continue
        view[disc] = next_label
        next_label += 1
        for k in ids.tolist():
            rest = big == k
            # a neighbour keeps its body, not the sliver of rim it had taken
            body = _strip_thin_parts(rest, radius_px=6.0 / scale_nm) if rest.sum() >= min_part else None
            if body is None or body.sum() < min_part:
                big[rest] = 0
            else:
                big[rest & ~body] = 0
    return coarse


def _add_between_bodies(
    coarse: np.ndarray, zs: np.ndarray, *, light: np.ndarray, dark: np.ndarray, scale_nm: float,
    low: float, high: float, min_diameter_nm: float,
) -> np.ndarray:
    """Add faint vesicles squeezed between brighter neighbours (working scale).

    Such a vesicle is too faint to seed the hysteresis, and its dark membrane
    and halo do not close around it: where it touches a neighbour the two
    membranes meet and the stain between them is too thin to be dark. It is
    closed, though, by its dark ring together with the neighbours' light
    bodies (grown by one membrane thickness, 4 nm). Regions so enclosed that
    no candidate covers yet become new candidates if they are round and solid
    like a vesicle body (thin slivers between a body and its own halo, or a
    notch in a stain blob, are not) and above the small-particle size (twice
    ``min_diameter_nm``, membrane included: a small particle must show its
    own membrane); the per-candidate checks then decide on them like on any
    other.

    Parameters
    ----------
    coarse : (M, N) ndarray of int32
        Candidate labels so far (changed in place and returned).
    zs : (M, N) ndarray of float32
        Contrast in noise units, vesicles positive.
    light, dark : (M, N) ndarray of uint8
        ``hysteresis(zs, low, high)`` and ``hysteresis(-zs, low, high)``.
    scale_nm : float
        Pixel edge length in nm.
    low, high : float
        Hysteresis thresholds in noise units.
    min_diameter_nm : float
        Smallest vesicle diameter in nm.

    Returns
    -------
    (M, N) ndarray of int32
    """
    bodies = cv2.dilate(light, disk(4.0 / scale_nm))
    walls = dark | bodies
    enclosed = enclosed_by_dark(zs, scale_nm=scale_nm, low=low, high=high, dark=walls)
    enclosed[coarse > 0] = 0
    # above the small-particle size (twice min_diameter_nm, membrane included)
    min_area = np.pi * (0.5 * (2.0 * min_diameter_nm - 8.0) / scale_nm) ** 2
    next_label = int(coarse.max()) + 1
    # the few regions are found from their outlines (far cheaper than labelling
    # the whole image with statistics)
    contours, _ = cv2.findContours(enclosed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if w * h < min_area:
            continue
        outline = np.zeros((h, w), np.uint8)
        cv2.drawContours(outline, [contour], 0, 1, thickness=cv2.FILLED, offset=(-x, -y))
        part = (outline > 0) & (enclosed[y:y + h, x:x + w] > 0)
        if part.sum() < min_area or _solidity(part) < 0.85 or _elongation(part) > 1.6:
            continue
        coarse[y:y + h, x:x + w][part] = next_label
        next_label += 1
    return coarse


def _crop_maps(*, rows: np.ndarray, cols: np.ndarray, fy: float, fx: float) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps that sample a working-scale crop at full-resolution pixel centres."""
    map_y = ((rows + 0.5) / fy - 0.5).astype(np.float32)
    map_x = ((cols + 0.5) / fx - 0.5).astype(np.float32)
    mx, my = np.meshgrid(map_x, map_y)
    return mx, my


def _edge_offset_nm(
    profile_d_nm: np.ndarray,
    profile_v: np.ndarray,
    *,
    membrane_thickness_nm: float,
    noise: float,
    radius_nm: float = np.inf,
) -> float | None:
    """Outer membrane edge (nm, relative to the coarse edge) from a radial profile.

    The profile (mean intensity against signed distance to the coarse outline,
    vesicle-is-bright convention) runs from inside (negative) to outside. The
    vesicle's light interior ends where the profile falls half-way from the
    interior level to the dark valley of membrane and halo: that is the inner
    face of the membrane. The outline is placed one membrane thickness further
    out. Half-level crossings are far more robust to noise than locating the
    darkest point, and do not depend on how dark the halo is.

    ``radius_nm`` (the coarse object's radius) keeps the interior sample inside
    small objects. Returns None when the interior is not clearly lighter than
    the valley.
    """
    deep = min(10.0, 0.8 * radius_nm)
    shallow = min(3.0, 0.3 * radius_nm)
    inner = (profile_d_nm >= -deep) & (profile_d_nm <= -shallow)
    valley_zone = (profile_d_nm >= -2.0) & (profile_d_nm <= 12.0)
    if inner.sum() < 2 or valley_zone.sum() < 3:
        return None
    level_in = float(np.median(profile_v[inner]))
    level_out = float(profile_v[valley_zone].min())
    if level_in - level_out < 2.0 * noise:
        return None
    half = 0.5 * (level_in + level_out)
    start = int(np.flatnonzero(profile_d_nm >= -shallow)[0])
    for k in range(start, len(profile_v)):
        if profile_v[k] < half:
            if k == 0:
                return float(profile_d_nm[0]) + membrane_thickness_nm
            v0, v1 = profile_v[k - 1], profile_v[k]
            d0, d1 = profile_d_nm[k - 1], profile_d_nm[k]
            frac = (v0 - half) / (v0 - v1) if v0 != v1 else 0.5
            return float(d0 + frac * (d1 - d0)) + membrane_thickness_nm
    return None


def segment_vesicles(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    min_diameter_nm: float = 20.0,
    max_diameter_nm: float = 500.0,
    sensitivity: float = 0.5,
    polarity: Literal["auto", "bright", "dark"] = "auto",
    exclude_mask: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    membrane_thickness_nm: float = 4.0,
) -> VesicleSegmentation:
    """Segment every extracellular vesicle in a negative-stain TEM micrograph.

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
        0 (strict, fewer faint objects) to 1 (permissive); 0.5 by default.
    polarity : {"auto", "bright", "dark"}
        "bright": vesicles lighter than the stain (usual); "dark": darker;
        "auto": detect.
    exclude_mask : (M, N) ndarray of bool, optional
        True where the image must not be analysed (scale bar, label, data
        strip). By default found with
        ``exo_vision.calibration.scalebar.annotation_mask`` when available,
        else with :func:`~exo_vision.segmentation.preprocess.fallback_annotation_mask`.
    progress : callable, optional
        Called as ``progress(done, total)`` between steps.
    membrane_thickness_nm : float
        Apparent thickness of the dark membrane line in nm; the outline is
        placed half of it outside the membrane's darkest line.

    Returns
    -------
    VesicleSegmentation
    """
    img = as_float_image(image)
    px = check_pixel_size(pixel_size_nm)
    check_working_scale(img.shape, pixel_size_nm=px)
    if not (np.isfinite(min_diameter_nm) and np.isfinite(max_diameter_nm) and 0 <= min_diameter_nm < max_diameter_nm):
        raise ValueError(
            f"need 0 <= min_diameter_nm < max_diameter_nm, got {min_diameter_nm!r} and {max_diameter_nm!r}"
        )
    low, high = thresholds(sensitivity)
    if polarity not in ("auto", "bright", "dark"):
        raise ValueError(f"`polarity` must be 'auto', 'bright' or 'dark', got {polarity!r}")
    m, n = img.shape
    if exclude_mask is None:
        exclude = default_exclude_mask(img)  # float32 already: no second conversion
    else:
        exclude = np.asarray(exclude_mask, dtype=bool)
        if exclude.shape != img.shape:
            raise ValueError(
                f"`exclude_mask` (shape {exclude.shape}) must have the same shape as `image` (shape {img.shape})"
            )
    total_steps = 5

    def report(step: int) -> None:
        if progress is not None:
            progress(step, total_steps)

    # 2. working scale, background, contrast in noise units
    small, scale_nm = resample_to_scale(img, pixel_size_nm=px)
    sm, sn = small.shape
    fy, fx = m / sm, n / sn
    excl_small = None
    if exclude.any():
        excl_small = shrink_mask(exclude, (sm, sn)) if (sm, sn) != (m, n) else exclude.copy()
        excl_small = cv2.dilate(excl_small.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        small = small.copy()
        # the stain level to paint over annotations: a median of every third row and column is plenty
        free = ~excl_small[::3, ::3]
        small[excl_small] = float(np.median(small[::3, ::3][free])) if free.any() else 0.0
    # the smoothed image and its noise do not change between background passes
    smoothed = smooth_and_noise(small, pixel_size_nm=scale_nm)
    z, coarse_bg = normalised_contrast(small, pixel_size_nm=scale_nm, smoothed=smoothed)
    if excl_small is not None:
        z[excl_small] = 0.0
    report(1)

    # 3. polarity
    scores: dict[str, float] = {}
    first_parts = None
    # The polarity is one decision summed over every candidate, and the objects
    # left out of the background are masked with a 30 nm margin: for both, every
    # other pixel of z (noise still in its units, as z is smoothed over 1.5
    # pixels) is plenty, at a quarter of the cost.
    step = COARSE_STEP if scale_nm * COARSE_STEP <= 4.5 and min(sm, sn) >= 32 * COARSE_STEP else 1
    if polarity == "auto":
        zp = np.ascontiguousarray(z[::step, ::step])
        # each hypothesis thresholds z both ways: compute the two thresholdings once
        light, dark = hysteresis(zp, low, high), hysteresis(-zp, low, high)
        parts_bright = candidate_parts(zp, scale_nm=scale_nm * step, sensitivity=sensitivity, thresholded=(light, dark))
        parts_dark = candidate_parts(-zp, scale_nm=scale_nm * step, sensitivity=sensitivity, thresholded=(dark, light))
        polarity, scores = detect_polarity(
            zp, scale_nm=scale_nm * step, min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm,
            sensitivity=sensitivity, masks=(parts_bright[0], parts_dark[0]),
        )
        # the first background pass looks at this same z: reuse its candidates
        first_parts = parts_bright if polarity == "bright" else parts_dark
    sign = 1.0 if polarity == "bright" else -1.0
    # Two more passes: a background that follows stain pools while ignoring the
    # objects found so far. The last pass also leaves out anything even faintly
    # lighter than the stain at a vesicle's scale, or a big faint vesicle would
    # lift the background under itself.
    for broad_objects in (False, True):
        objects = _object_mask(
            np.ascontiguousarray((sign * z)[::step, ::step]), scale_nm=scale_nm * step, sensitivity=sensitivity,
            max_diameter_nm=max_diameter_nm, broad=broad_objects, parts=None if broad_objects else first_parts,
        )
        if step > 1:
            objects = np.repeat(np.repeat(objects, step, axis=0), step, axis=1)[:sm, :sn]
        if excl_small is not None:
            objects |= excl_small
        z, _ = normalised_contrast(
            small, pixel_size_nm=scale_nm, objects=objects, background=coarse_bg, smoothed=smoothed
        )
        if excl_small is not None:
            z[excl_small] = 0.0
    zs = sign * z
    report(2)

    # 4-5. candidates and splitting
    light, dark = hysteresis(zs, low, high), hysteresis(-zs, low, high)
    mask = candidate_parts(zs, scale_nm=scale_nm, sensitivity=sensitivity, thresholded=(light, dark))[0]
    coarse = split_touching(mask, scale_nm=scale_nm, min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm)
    coarse = _add_faint_cups(
        coarse, zs, scale_nm=scale_nm, min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm
    )
    coarse = _add_between_bodies(
        coarse, zs, light=light, dark=dark, scale_nm=scale_nm, low=low, high=high, min_diameter_nm=min_diameter_nm
    )
    territory = expand_labels_fast(coarse, max(TERRITORY_NM / scale_nm, 2.0))
    report(3)

    # 6-7. per-candidate checks and refinement at full resolution
    labels = np.zeros((m, n), dtype=np.int32)
    rejected: list[dict[str, Any]] = []
    # Crops reach past a candidate by its territory plus the reach of the
    # refinement's smoothing (4 sigma), so nothing used is cut by the crop's edge.
    margin = int(np.ceil((max(TERRITORY_NM, 2.0 * scale_nm) + 4.0 * REFINE_SMOOTH_NM) / scale_nm)) + 2
    pix_noise = raw_noise = None
    next_label = 1
    accepted: list[int] = []
    lighter: list[int] = []
    # specks far below the smallest vesicle are noise: not even reported
    speck_area = np.pi * (0.25 * min_diameter_nm / scale_nm) ** 2
    areas = np.bincount(coarse.ravel())
    for i, sl in enumerate(ndi.find_objects(coarse), start=1):
        if sl is None or areas[i] < speck_area:
            continue
        r0, r1 = max(sl[0].start - margin, 0), min(sl[0].stop + margin, sm)
        c0, c1 = max(sl[1].start - margin, 0), min(sl[1].stop + margin, sn)
        region = coarse[r0:r1, c0:c1] == i
        area_px = int(region.sum())
        coarse_d_nm = 2.0 * np.sqrt(area_px / np.pi) * scale_nm

        def reject(reason: str, diameter_nm: float = coarse_d_nm, first: np.ndarray = region,
                   r0: int = r0, c0: int = c0) -> None:
            # the centroid of the candidate as first found (only rejected ones need it)
            ys, xs = np.nonzero(first)
            rejected.append(dict(
                centroid_x_nm=(float(xs.mean()) + c0 + 0.5) * fx * px - 0.5 * px,
                centroid_y_nm=(float(ys.mean()) + r0 + 0.5) * fy * px - 0.5 * px,
                equivalent_diameter_nm=diameter_nm, reason=reason,
            ))

        if float(zs[r0:r1, c0:c1][region].mean()) > 0:
            lighter.append(i)
        if area_px > 0.2 * sm * sn:
            reject(REASON_BACKGROUND, coarse_d_nm)
            continue
        if excl_small is not None and excl_small[r0:r1, c0:c1][region].mean() > 0.2:
            reject(REASON_EXCLUDED)
            continue
        # the interior seen by the detector is ~one membrane smaller than the vesicle
        if coarse_d_nm + 2 * membrane_thickness_nm + 4.0 < min_diameter_nm:
            reject(REASON_TOO_SMALL, coarse_d_nm + 2 * membrane_thickness_nm)
            continue
        zc = zs[r0:r1, c0:c1]
        if area_px >= 12:
            if _elongation(region) > 3.0:
                # a vesicle with a filament or rod lying across it: strip thin parts
                body = _strip_thin_parts(region, radius_px=7.0 / scale_nm)
                min_body = np.pi * (0.5 * min_diameter_nm / scale_nm) ** 2 * 0.5
                if body is None or body.sum() < min_body or _elongation(body) > 2.0:
                    reject(REASON_ELONGATED)
                    continue
                reject(REASON_ELONGATED, 2.0 * np.sqrt((region & ~body).sum() / np.pi) * scale_nm)
                coarse[r0:r1, c0:c1][region & ~body] = 0
                territory[r0:r1, c0:c1][region & ~body] = 0
                region = body
                area_px = int(region.sum())
            if _solidity(region) < 0.7:
                hull = close_ring(region, max_diameter_px=max_diameter_nm / scale_nm)
                if hull is None:
                    reject(REASON_NOT_SOLID)
                    continue
                # a faint cup rim seen as a broken ring: the cup is the whole disc
                region = hull & ((coarse[r0:r1, c0:c1] == 0) | (coarse[r0:r1, c0:c1] == i))
                coarse[r0:r1, c0:c1][region] = i
                territory[r0:r1, c0:c1][region] = i
        others = (coarse[r0:r1, c0:c1] != 0) & ~region
        outside = ring_mean(zc, region, inner_px=0.5, outer_px=8.0 / scale_nm + 1, ignore=others)
        inside_z = zc[region]
        inside_mean = float(inside_z.mean())
        # a cup's dark centre may pull the mean below zero; its rim is still light
        # (a faint vesicle inside a dark halo may sit near the stain level: what
        # matters then is that it is lighter than its own rim, checked next)
        upper = _percentile(inside_z, 75.0)
        if upper < 0.0:
            reject(REASON_NOT_LIGHTER)
            continue
        if not np.isfinite(outside) or outside > -0.1 * abs(inside_mean) or inside_mean - outside < 2.0:
            reject(REASON_NO_RIM)
            continue
        # A faint vesicle is seen by its outline: the step from its light
        # interior (upper quartile, as a cup's dark centre pulls lower ones
        # down) to the dark membrane and halo ring around it. Averaged over
        # the whole interior and ring, that step is far less noisy than any
        # one pixel: it must reach the detection threshold by itself. Only
        # for candidates above the small-particle size (twice min_diameter_nm,
        # membrane included): a small grain of a protein aggregate, or a
        # lipoprotein, has too few pixels for the average to mean much.
        outlined = coarse_d_nm + 2 * membrane_thickness_nm >= 2.0 * min_diameter_nm and upper - outside >= high
        if float(inside_z.max()) < high and not outside < -high and not outlined:
            reject(REASON_LOW_CONTRAST)
            continue

        # full-resolution refinement
        fr0, fr1 = int(np.floor(r0 * fy)), min(int(np.ceil(r1 * fy)), m)
        fc0, fc1 = int(np.floor(c0 * fx)), min(int(np.ceil(c1 * fx)), n)
        rows = np.arange(fr0, fr1, dtype=np.float64) - r0 * fy
        cols = np.arange(fc0, fc1, dtype=np.float64) - c0 * fx
        maps = _crop_maps(rows=rows, cols=cols, fy=fy, fx=fx)
        up = cv2.remap(region.astype(np.float32), *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        terr = cv2.remap(
            (territory[r0:r1, c0:c1] == i).view(np.uint8), *maps, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
        ).view(bool)
        inside_up = up >= 0.5
        if not inside_up.any():
            reject(REASON_TOO_SMALL)
            continue
        d_in = cv2.distanceTransform(inside_up.astype(np.uint8), cv2.DIST_L2, 5)
        d_out = cv2.distanceTransform((~inside_up).astype(np.uint8), cv2.DIST_L2, 5)
        sd_nm = np.where(inside_up, 0.5 - d_in, d_out - 0.5) * px
        crop = img[fr0:fr1, fc0:fc1] if sign > 0 else -img[fr0:fr1, fc0:fc1]
        sigma = REFINE_SMOOTH_NM / px
        if sigma > 0.4:
            crop = cv2.GaussianBlur(crop, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        if pix_noise is None:
            from exo_vision.segmentation.preprocess import pixel_noise_std

            # the same for the image and its negative
            raw_noise = pixel_noise_std(img[:: max(m // 512, 1), :])
            pix_noise = max(raw_noise, 1e-9)
        bin_nm = max(0.5, 0.5 * px)
        use = terr & (sd_nm > -15.0) & (sd_nm < 15.0)
        idx = np.floor((sd_nm[use] + 15.0) / bin_nm).astype(np.int64)
        nb = int(np.ceil(30.0 / bin_nm)) + 1
        counts = np.bincount(idx, minlength=nb)
        sums = np.bincount(idx, weights=crop[use], minlength=nb)
        ok = counts > 0
        centres = -15.0 + (np.arange(nb) + 0.5) * bin_nm
        prof = np.where(ok, sums / np.maximum(counts, 1), np.nan)
        # smooth the profile over ~1 nm, ignoring empty bins
        good = np.isfinite(prof)
        if good.sum() < 5:
            reject(REASON_TOO_SMALL)
            continue
        pd_nm, pv = centres[good], prof[good]
        w = max(int(round(1.0 / bin_nm)), 1)
        if w > 1:
            kern = np.ones(w) / w
            pv = np.convolve(np.pad(pv, (w // 2, w - 1 - w // 2), mode="edge"), kern, mode="valid")
        noise = pix_noise / np.sqrt(max(float(np.median(counts[good])), 1.0)) * 3.0
        offset = _edge_offset_nm(
            pd_nm, pv, membrane_thickness_nm=membrane_thickness_nm, noise=noise, radius_nm=0.5 * coarse_d_nm
        )
        if offset is None:
            offset = membrane_thickness_nm  # no resolvable membrane: assume one just outside
        final = terr & (sd_nm < offset)
        area_full = int(final.sum())
        d_nm = 2.0 * np.sqrt(area_full / np.pi) * px
        if d_nm < min_diameter_nm:
            reject(REASON_TOO_SMALL, d_nm)
            continue
        if d_nm > max_diameter_nm:
            reject(REASON_TOO_LARGE, d_nm)
            continue
        # A lipoprotein-sized particle (up to ~20 nm) passes the size test once
        # the refinement adds the membrane it does not have; it is told apart by
        # its rim: a vesicle's membrane and stain halo are deep, its halo faint.
        if d_nm < 2.0 * min_diameter_nm and -outside < MIN_RIM_DEPTH_FRACTION * _percentile(zc[region], 90.0):
            reject(REASON_NO_MEMBRANE, d_nm)
            continue
        view = labels[fr0:fr1, fc0:fc1]
        free = final & (view == 0) & ~exclude[fr0:fr1, fc0:fc1]
        view[free] = next_label
        next_label += 1
        accepted.append(i)
    report(4)

    # stain precipitate: dark, compact blobs away from every candidate
    dark = zs < -2.0 * high
    if dark.any():
        # halos of vesicles and the dark outlines of light debris are not precipitate
        kept, light = np.zeros(int(coarse.max()) + 1, np.uint8), np.zeros(int(coarse.max()) + 1, np.uint8)
        kept[accepted], light[lighter] = 1, 1
        kept, light = kept[coarse], light[coarse]
        near = dilate_disk(kept, 30.0 / scale_nm) | dilate_disk(light, 10.0 / scale_nm)
        dark &= ~near
        if excl_small is not None:
            dark &= ~excl_small
        _, dlab = label_components(dark)
        for j, sl in enumerate(ndi.find_objects(dlab), start=1):
            if sl is None:
                continue
            reg = dlab[sl] == j
            d_nm = 2.0 * np.sqrt(reg.sum() / np.pi) * scale_nm
            if d_nm < 8.0 or d_nm > 400.0 or float(zs[sl][reg].mean()) > -3.0 * high:
                continue
            ys, xs = np.nonzero(reg)
            rejected.append(dict(
                centroid_x_nm=(float(xs.mean()) + sl[1].start + 0.5) * fx * px - 0.5 * px,
                centroid_y_nm=(float(ys.mean()) + sl[0].start + 0.5) * fy * px - 0.5 * px,
                equivalent_diameter_nm=d_nm, reason=REASON_PRECIPITATE,
            ))
    report(5)

    rejected_df = pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS)) if rejected else _empty_rejected()
    params = dict(
        pixel_size_nm=px, min_diameter_nm=float(min_diameter_nm), max_diameter_nm=float(max_diameter_nm),
        sensitivity=float(sensitivity), polarity=polarity, polarity_evidence=scores,
        membrane_thickness_nm=float(membrane_thickness_nm), working_scale_nm=scale_nm,
        threshold_low=low, threshold_high=high, n_vesicles=next_label - 1, n_rejected=len(rejected_df),
        pixel_noise_std=raw_noise,
    )
    logger.info("segmented %d vesicles, rejected %d candidates", next_label - 1, len(rejected_df))
    return VesicleSegmentation(
        labels=labels, rejected=rejected_df, polarity=polarity, analysed_mask=~exclude, parameters=params
    )
