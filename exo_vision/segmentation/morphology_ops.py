"""Fast, generic binary-morphology and labelling primitives used by the segmenters.

Nothing here knows about vesicles: disks, dilation, connected components,
hysteresis, hole filling, label growth, local maxima and convex-hull shape
measures. Each gives the same result as the scikit-image/SciPy function named
in its docstring, computed with OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max

#: Disks of a smaller radius (px) are dilated by OpenCV directly (as fast as the rectangle decomposition).
SMALL_DISK_RADIUS_PX = 10
#: Pixels touching by a corner are one component (8-connectivity).
CONNECTIVITY = 8
#: cv2's distance transforms use the 5 x 5 mask: exact Euclidean distance for DIST_L2.
DISTANCE_MASK_SIZE = 5
#: A pixel's four edge midpoints, (x, y) offsets from its centre on the half-pixel grid (pixel (r, c) at (2c, 2r)).
EDGE_MIDPOINTS_HALF_PX = np.array([[0, -1], [0, 1], [-1, 0], [1, 0]])
#: A pixel and its 8 neighbours: the dilation that finds what touches a mask (8-connected).
EIGHT_NEIGHBOURS = np.ones((3, 3), np.uint8)
#: Columns of OpenCV's component statistics: left, top, width, height, area.
N_COMPONENT_STATS = 5


def labels_touching(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ids (> 0, sorted) of the labels with a pixel in ``mask`` or 8-connected to one.

    The same as ``np.unique(labels[ndi.binary_dilation(mask, np.ones((3, 3)))])`` without the 0.
    """
    near = cv2.dilate(np.ascontiguousarray(mask, dtype=np.uint8), EIGHT_NEIGHBOURS).astype(bool)
    ids = np.unique(labels[near])
    return ids[ids > 0]


def disk(radius_px: float) -> np.ndarray:
    """A disk structuring element (uint8) of the given radius in pixels."""
    r = max(int(round(radius_px)), 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def dilate_disk(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Binary dilation by :func:`disk` of ``radius_px`` (bool in, bool out).

    The disk is the union of the nested rectangles its rows form (all rows
    at least ``w`` wide make one rectangle, for each width ``w``), and
    dilation by a union is the union of the dilations; nested, the row and
    column passes share their work. The result is exactly ``cv2.dilate``
    with the disk (the exact disk matters: a chamfer approximation changes
    which background a large faint vesicle sits on).
    """
    m8 = np.asarray(mask, np.uint8)
    kernel = disk(radius_px)
    r = kernel.shape[0] // 2
    if r < SMALL_DISK_RADIUS_PX:
        return cv2.dilate(m8, kernel).astype(bool)
    # Rectangles (w_k, h_k) by growing width (shrinking height). With H_w the row
    # dilation to half-width w and V_h the column one, the union is
    # V_hK(max(H_wK, V_(hK-1 - hK)(max(H_wK-1, ... V_(h1 - h2)(H_w1))))): each
    # H_w grows from the previous one, so every pass has a short kernel.
    rects = _disk_rectangles(r)
    first_w = rects[0][0]
    grown = cv2.dilate(m8, np.ones((1, 2 * first_w + 1), np.uint8)) if first_w > 0 else m8
    acc, prev_w = grown.copy(), first_w
    for k in range(1, len(rects)):
        w, h = rects[k]
        if w > prev_w:
            grown = cv2.dilate(grown, np.ones((1, 2 * (w - prev_w) + 1), np.uint8))
            prev_w = w
        step = rects[k - 1][1] - h
        acc = cv2.dilate(acc, np.ones((2 * step + 1, 1), np.uint8)) if step > 0 else acc
        acc = cv2.max(acc, grown, dst=acc)
    last_h = rects[-1][1]
    if last_h > 0:
        acc = cv2.dilate(acc, np.ones((2 * last_h + 1, 1), np.uint8))
    return acc.astype(bool)


def _disk_rectangles(r: int) -> list[tuple[int, int]]:
    """(half width, half height) of the nested rectangles whose union is ``disk(r)``."""
    kernel = disk(float(r))
    widths = kernel.sum(axis=1).astype(int) // 2  # half-width of each row, rows -r..r
    rects = []
    for w in sorted(set(widths[: r + 1].tolist())):
        rows = np.flatnonzero(widths >= w)
        rects.append((w, r - int(rows[0])))
    return rects


def label_components(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """8-connected components of a binary mask: ``(count including background, int32 labels)``.

    OpenCV's Grana (BBDT) algorithm: the same labels, in the same raster
    order, as ``cv2.connectedComponents``.
    """
    return cv2.connectedComponentsWithAlgorithm(np.asarray(mask, np.uint8), CONNECTIVITY, cv2.CV_32S, cv2.CCL_GRANA)


def label_components_with_stats(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """:func:`label_components` plus each component's box and area.

    Parameters
    ----------
    mask : (M, N) ndarray of bool or uint8

    Returns
    -------
    count : int
        Number of labels including the background (0).
    labels : (M, N) ndarray of int32
    stats : (count, 5) ndarray of int32
        Columns as OpenCV's ``CC_STAT_LEFT, TOP, WIDTH, HEIGHT, AREA``; rows
        1.. equal ``cv2.connectedComponentsWithStats``'s. Row 0 (background)
        holds its area and, as box, the whole image. Boxes come from
        ``scipy.ndimage.find_objects`` and areas from a bincount.
    """
    m8 = np.asarray(mask, np.uint8)
    count, labels = label_components(m8)
    stats = np.zeros((count, N_COMPONENT_STATS), np.int32)
    stats[0, cv2.CC_STAT_WIDTH], stats[0, cv2.CC_STAT_HEIGHT] = m8.shape[1], m8.shape[0]
    if count > 1:
        areas = np.bincount(labels[m8 > 0], minlength=count)
        stats[:, cv2.CC_STAT_AREA] = areas
        stats[0, cv2.CC_STAT_AREA] = m8.size - int(areas[1:].sum())
        boxes = np.array([(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop) for sl in ndi.find_objects(labels)])
        left, top, right, bottom = boxes.T
        stats[1:, cv2.CC_STAT_LEFT] = left
        stats[1:, cv2.CC_STAT_TOP] = top
        stats[1:, cv2.CC_STAT_WIDTH] = right - left
        stats[1:, cv2.CC_STAT_HEIGHT] = bottom - top
    else:
        stats[0, cv2.CC_STAT_AREA] = m8.size
    return count, labels, stats


def hysteresis(z: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels above ``low`` connected (8-connectivity) to a pixel above ``high`` (uint8 0/1)."""
    count, lab = label_components(z > low)
    if count <= 1:
        return np.zeros(z.shape, np.uint8)
    seeded = np.zeros(count, np.uint8)
    seeded[lab[z > high]] = 1  # repeated indices are fine; no sort needed
    seeded[0] = 0
    return seeded[lab]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill every hole of a binary mask (uint8 0/1 in, uint8 0/1 out).

    Background reachable from the image border stays background; everything
    else becomes foreground (as ``scipy.ndimage.binary_fill_holes``).
    """
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    ff_mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, ff_mask, (0, 0), 2)
    return (flood != 2)[1:-1, 1:-1].astype(np.uint8)


def expand_labels_fast(labels: np.ndarray, distance_px: float) -> np.ndarray:
    """Grow every label by up to ``distance_px`` into the background (nearest label wins).

    Parameters
    ----------
    labels : (M, N) ndarray of int32
    distance_px : float

    Returns
    -------
    (M, N) ndarray of int32
    """
    background = (labels == 0).astype(np.uint8)
    if background.all() or not background.any():
        return labels.copy()
    dist, nearest = cv2.distanceTransformWithLabels(
        background, cv2.DIST_L2, DISTANCE_MASK_SIZE, labelType=cv2.DIST_LABEL_PIXEL
    )
    # map each seed pixel index to its label
    seed_labels = np.zeros(int(nearest.max()) + 1, dtype=np.int32)
    seed_labels[nearest[background == 0]] = labels[background == 0]
    out = seed_labels[nearest]
    out[dist > distance_px] = 0
    return out


def local_maxima(image: np.ndarray, *, min_distance: int, threshold: float, border: int = 0) -> np.ndarray:
    """Local maxima of a float image, brightest first.

    A pixel is a maximum when it equals the maximum of the square window of
    half-width ``min_distance`` around it and exceeds ``threshold``. Two maxima
    can then be closer than ``min_distance`` only on an exact plateau, which a
    smoothed float image does not have; this is why no extra spacing pass is
    needed (the same peaks as ``skimage.feature.peak_local_max`` with
    ``exclude_border=border``).

    Parameters
    ----------
    image : (M, N) ndarray of float32
    min_distance : int
        Half-width of the window, in pixels.
    threshold : float
        Maxima must be strictly above it.
    border : int
        Maxima within this many pixels of the image edge are dropped.

    Returns
    -------
    (K, 2) ndarray of int
        Row, column of each maximum, highest value first (ties in row-major order).
    """
    img = np.ascontiguousarray(image, dtype=np.float32)
    size = 2 * int(min_distance) + 1
    is_max = (img == cv2.dilate(img, np.ones((size, size), np.uint8))) & (img > threshold)
    if border > 0:
        is_max[:border] = False
        is_max[-border:] = False
        is_max[:, :border] = False
        is_max[:, -border:] = False
    coords = np.argwhere(is_max)
    order = np.argsort(-img[is_max], kind="stable")
    return coords[order]


def masked_peaks(image: np.ndarray, mask: np.ndarray, *, min_distance: int, threshold: float) -> np.ndarray:
    """Local maxima of ``image`` inside ``mask``, spaced apart, highest first.

    The peaks of ``skimage.feature.peak_local_max(image, min_distance=...,
    threshold_abs=..., labels=mask, exclude_border=False)`` for one label:
    pixels equal to the maximum of the mask's pixels in the square window of
    half-width ``min_distance`` and above ``threshold``, ordered by value
    (ties in row-major order); a peak closer than ``min_distance``
    (Chebyshev) to a higher one already kept is dropped. One OpenCV dilation
    and a short greedy pass instead of a per-label filter and a k-d tree.

    Parameters
    ----------
    image : (m, n) ndarray of float32
    mask : (m, n) ndarray of bool
    min_distance : int
        Half-width of the window and smallest spacing, in pixels (>= 2).
    threshold : float
        Peaks must be strictly above it.

    Returns
    -------
    (K, 2) ndarray of int
        Row, column of each peak.
    """
    img = np.where(mask, image, -np.inf).astype(np.float32)
    size = 2 * int(min_distance) + 1
    is_max = img == cv2.dilate(img, np.ones((size, size), np.uint8))
    if is_max[mask].all():
        # every pixel a maximum (a flat object): skimage has a rule of its own for that
        return peak_local_max(
            image,
            min_distance=min_distance,
            threshold_abs=threshold,
            labels=mask.astype(np.int32),
            exclude_border=False,
        )
    is_max &= img > threshold
    coords = np.argwhere(is_max)
    coords = coords[np.argsort(-img[is_max], kind="stable")]
    kept = np.ones(len(coords), bool)
    for k in range(len(coords)):
        if kept[k]:
            near = np.abs(coords[k + 1 :] - coords[k]).max(axis=1) < min_distance
            kept[k + 1 :] &= ~near
    return coords[kept]


def filled_hull(region: np.ndarray) -> np.ndarray:
    """The convex hull of a binary region, filled (bool, same shape; the region itself is always in it)."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros(region.shape, np.uint8)
    if contours:
        cv2.fillConvexPoly(hull, cv2.convexHull(np.concatenate(contours)), 1)
    return hull.astype(bool) | region


def solidity(region: np.ndarray) -> float:
    """Area over convex-hull area of a binary region, the hull measured through pixel edges.

    Contour areas run through pixel centres, so half a pixel of the hull's
    perimeter (plus one pixel) is added to the hull area.
    """
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return 1.0
    points = np.concatenate(contours)
    hull_area = cv2.contourArea(cv2.convexHull(points))
    perimeter = cv2.arcLength(cv2.convexHull(points), True)
    return float(region.sum()) / max(hull_area + 0.5 * perimeter + 1.0, 1.0)


def simple_solidity(region: np.ndarray) -> float:
    """:func:`solidity` from the simplified (corner-point) contour, as the rim-grouping rule uses it."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 1.0
    hull = cv2.convexHull(np.concatenate(contours))
    return float(region.sum()) / max(cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0, 1.0)


def convex_hull_pixel_count(region: np.ndarray) -> int:
    """Pixels of ``skimage.morphology.convex_hull_image(region)``, counted without drawing the hull.

    The hull is that of the midpoints of every region pixel's four edges (pixel ``(r, c)`` gives
    ``(r +- 1/2, c)`` and ``(r, c +- 1/2)``); a pixel belongs to it when its centre lies inside the hull or on
    its outline. On a grid of half pixels every vertex and every test is a whole number, so the hull
    (:func:`cv2.convexHull` on integer points) and the count of centres between each row's two hull crossings
    are exact: the same pixels as scikit-image's point-in-polygon test over the whole box, at the cost of one
    pass over the rows rather than one per pixel and hull edge.

    Parameters
    ----------
    region : (m, n) ndarray of bool
        The pixels of one or several objects.

    Returns
    -------
    int
        Pixels of the convex hull (0 for an empty region).
    """
    region = np.asarray(region, dtype=bool)
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return 0
    width = region.shape[1]
    sub = region[rows]
    ends = np.stack([sub.argmax(axis=1), width - 1 - sub[:, ::-1].argmax(axis=1)], axis=1)  # each row's first, last
    # vertices can only be the rows' end pixels; their edge midpoints on the half-pixel grid, as (x, y) = (2c, 2r)
    centres = np.stack([2 * ends.ravel(), 2 * np.repeat(rows, 2)], axis=1)
    points = (centres[:, None, :] + EDGE_MIDPOINTS_HALF_PX[None, :, :]).reshape(-1, 2)
    hull = cv2.convexHull(points.astype(np.int32)).reshape(-1, 2).astype(np.int64)
    hx, hy = hull[:, 0], hull[:, 1]
    dx, dy = np.roll(hx, -1) - hx, np.roll(hy, -1) - hy
    turn = 1 if int((hx * np.roll(hy, -1) - np.roll(hx, -1) * hy).sum()) > 0 else -1  # 1: counter-clockwise
    # a centre (2c, 2r) is in the hull when turn * (dx * (2r - hy) - dy * (2c - hx)) >= 0 on every edge,
    # i.e. a * c <= b with a = turn * dy * 2 and b = turn * (dx * (2r - hy) + dy * hx)
    ys = 2 * np.arange(rows[0], rows[-1] + 1)[:, None]
    a = turn * 2 * dy[None, :]
    b = turn * (dx[None, :] * (ys - hy[None, :]) + dy[None, :] * hx[None, :])
    a_full = np.broadcast_to(a, b.shape)
    upper = np.where(a_full > 0, b // np.where(a_full > 0, a_full, 1), width - 1).min(axis=1)
    lower = np.where(a_full < 0, -(b // np.where(a_full < 0, -a_full, 1)), 0).max(axis=1)
    feasible = np.where(a_full == 0, b >= 0, True).all(axis=1)
    return int(np.where(feasible, np.maximum(upper - lower + 1, 0), 0).sum())


def elongation(region: np.ndarray, *, min_area_px: float, eigen_floor: float, eigen_epsilon: float) -> float:
    """Ratio of the principal axes (square roots of the covariance eigenvalues) of a binary region.

    Parameters
    ----------
    region : (m, n) ndarray of bool
    min_area_px : float
        Regions with fewer pixels have elongation 1.
    eigen_floor, eigen_epsilon : float
        The smaller eigenvalue is at least ``eigen_floor`` times the larger
        (itself at least ``eigen_epsilon``), so a one-pixel line stays finite.
    """
    mom = cv2.moments(region.astype(np.uint8), binaryImage=True)
    if mom["m00"] < min_area_px:
        return 1.0
    a, b, c = mom["mu20"], mom["mu11"], mom["mu02"]
    root = np.sqrt(max((a - c) ** 2 + (2 * b) * (2 * b), 0.0))
    big, small = 0.5 * (a + c + root), 0.5 * (a + c - root)
    return float(np.sqrt(big / max(small, eigen_floor * max(big, eigen_epsilon))))


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) of a 1-D array, from one partial sort.

    Equal to numpy's to the last bit but, rarely, one unit in the last place.
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
