"""Candidate detection on a noise-normalised contrast image ("z").

A vesicle, in the vesicle-is-bright convention, is a region lighter than the
stain, closed by a dark membrane and usually surrounded by a dark stain halo.
Cup-shaped vesicles have a dark, stain-filled centre inside a bright rim; the
hole filling here makes them one solid object.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi


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
    with the disk, 2-4x faster for large radii. A chamfer distance transform would be
    faster still, but its slightly different disk changed which background a
    large faint vesicle sits on in the real micrograph (and lost it): keep
    the exact disk.
    """
    m8 = np.asarray(mask, np.uint8)
    kernel = disk(radius_px)
    r = kernel.shape[0] // 2
    if r < 10:  # small disks: OpenCV's own pass is as fast
        return cv2.dilate(m8, kernel).astype(bool)
    # Rectangles (w_k, h_k) by growing width (shrinking height). With H_w the row
    # dilation to half-width w and V_h the column one, the union is
    # V_hK(max(H_wK, V_(hK-1 - hK)(max(H_wK-1, ... V_(h1 - h2)(H_w1))))): each
    # H_w grows from the previous one, so every pass has a short kernel.
    rects = _disk_rectangles(r)
    grown, acc, prev_w = m8, None, 0
    for k, (w, h) in enumerate(rects):
        if w > prev_w:
            grown = cv2.dilate(grown, np.ones((1, 2 * (w - prev_w) + 1), np.uint8))
            prev_w = w
        if acc is None:
            acc = grown.copy()
        else:
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
    order, as ``cv2.connectedComponents``, up to twice as fast on the sparse
    masks segmentation makes.
    """
    return cv2.connectedComponentsWithAlgorithm(np.asarray(mask, np.uint8), 8, cv2.CV_32S, cv2.CCL_GRANA)


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
        holds its area and, as box, the whole image. OpenCV's own statistics
        cost fifteen times its labelling with one thread; boxes from
        ``scipy.ndimage.find_objects`` and areas from a bincount cost a third.
    """
    m8 = np.asarray(mask, np.uint8)
    count, labels = label_components(m8)
    stats = np.zeros((count, 5), np.int32)
    stats[0, cv2.CC_STAT_WIDTH], stats[0, cv2.CC_STAT_HEIGHT] = m8.shape[1], m8.shape[0]
    if count > 1:
        areas = np.bincount(labels[m8 > 0], minlength=count)
        stats[:, cv2.CC_STAT_AREA] = areas
        stats[0, cv2.CC_STAT_AREA] = m8.size - int(areas[1:].sum())
        boxes = np.array([(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop) for sl in ndi.find_objects(labels)])
        stats[1:, cv2.CC_STAT_LEFT] = boxes[:, 0]
        stats[1:, cv2.CC_STAT_TOP] = boxes[:, 1]
        stats[1:, cv2.CC_STAT_WIDTH] = boxes[:, 2] - boxes[:, 0]
        stats[1:, cv2.CC_STAT_HEIGHT] = boxes[:, 3] - boxes[:, 1]
    else:
        stats[0, cv2.CC_STAT_AREA] = m8.size
    return count, labels, stats


def thresholds(sensitivity: float) -> tuple[float, float]:
    """Hysteresis thresholds (low, high) in noise units for a sensitivity in [0, 1]."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError(f"`sensitivity` must be between 0 and 1, got {sensitivity!r}")
    high = 8.0 - 6.0 * sensitivity  # 0.5 -> 5.0 noise units
    low = 0.5 * high
    return low, high


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
    else becomes foreground. Faster than ``scipy.ndimage.binary_fill_holes``.
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
    dist, nearest = cv2.distanceTransformWithLabels(background, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
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
    ``exclude_border=border``, several times faster).

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
    from skimage.feature import peak_local_max

    img = np.where(mask, image, -np.inf).astype(np.float32)
    size = 2 * int(min_distance) + 1
    is_max = img == cv2.dilate(img, np.ones((size, size), np.uint8))
    if is_max[mask].all():
        # every pixel a maximum (a flat object): skimage has a rule of its own for that
        return peak_local_max(image, min_distance=min_distance, threshold_abs=threshold,
                              labels=mask.astype(np.int32), exclude_border=False)
    is_max &= img > threshold
    coords = np.argwhere(is_max)
    coords = coords[np.argsort(-img[is_max], kind="stable")]
    kept = np.ones(len(coords), bool)
    for k in range(len(coords)):
        if kept[k]:
            near = np.abs(coords[k + 1:] - coords[k]).max(axis=1) < min_distance
            kept[k + 1:] &= ~near
    return coords[kept]


def enclosed_by_dark(
    z: np.ndarray, *, scale_nm: float, low: float, high: float, dark: np.ndarray | None = None
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

    Returns
    -------
    (M, N) ndarray of uint8
    """
    if dark is None:
        dark = hysteresis(-z, low, high)
    dark = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, disk(2.0 / scale_nm))
    enclosed = fill_holes(dark) & (dark == 0)
    return cv2.morphologyEx(enclosed.astype(np.uint8), cv2.MORPH_OPEN, disk(3.0 / scale_nm))


def candidate_mask(z: np.ndarray, *, scale_nm: float, sensitivity: float = 0.5) -> np.ndarray:
    """Solid bright regions: hysteresis threshold, closing, hole filling, opening.

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast, vesicles positive.
    scale_nm : float
        Pixel edge length of ``z`` in nm.
    sensitivity : float
        0 (strict) to 1 (permissive).

    Returns
    -------
    (M, N) ndarray of bool
    """
    return candidate_parts(z, scale_nm=scale_nm, sensitivity=sensitivity)[0]


def candidate_parts(
    z: np.ndarray, *, scale_nm: float, sensitivity: float = 0.5,
    thresholded: tuple[np.ndarray, np.ndarray] | None = None,
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

    Returns
    -------
    candidates : (M, N) ndarray of bool
        :func:`candidate_mask` of ``z``.
    enclosed : (M, N) ndarray of uint8
        :func:`enclosed_by_dark` of ``z`` at the same thresholds.
    """
    low, high = thresholds(sensitivity)
    light, dark = thresholded if thresholded is not None else (hysteresis(z, low, high), None)
    mask = light.copy()
    # Regions enclosed by a dark membrane ring count too: a faint vesicle is
    # often seen by its outline rather than by its interior.
    enclosed = enclosed_by_dark(z, scale_nm=scale_nm, low=low, high=high, dark=dark)
    mask |= enclosed
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disk(3.0 / scale_nm))
    mask = fill_holes(mask)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk(2.5 / scale_nm))
    return group_rim_pieces(mask.astype(bool), scale_nm=scale_nm), enclosed


def group_rim_pieces(mask: np.ndarray, *, scale_nm: float, gap_nm: float = 12.0) -> np.ndarray:
    """Join the pieces of a broken cup rim into one filled object.

    A faint or folded cup rim often breaks into arcs around its dark centre.
    Closing with a ``gap_nm`` disk and filling holes joins them; that grouping
    is kept only where the pieces are arcs (not solid). Where every piece is
    already a solid body (touching vesicles), the pieces stay as they were.

    Parameters
    ----------
    mask : (M, N) ndarray of bool
    scale_nm : float
        Pixel edge length in nm.
    gap_nm : float
        Largest gap between arcs that is bridged, in nm (half of it is the
        closing radius).

    Returns
    -------
    (M, N) ndarray of bool
    """
    m8 = mask.astype(np.uint8)
    grouped = fill_holes(cv2.morphologyEx(m8, cv2.MORPH_CLOSE, disk(0.5 * gap_nm / scale_nm)))
    count, glab = label_components(grouped)
    out = m8.copy()
    min_piece = max(int((4.0 / scale_nm) ** 2), 4)
    # A group whose pixels are all mask pixels is a single piece left as it was;
    # only groups that gained pixels (joined pieces, or closed a ring) can change.
    pieces_area = np.bincount(glab[m8 > 0], minlength=count)
    areas = np.bincount(glab[grouped > 0], minlength=count)
    boxes = ndi.find_objects(glab)  # slices built in C; only the changed groups' are used
    for k in np.flatnonzero(areas > pieces_area):
        if k == 0:
            continue
        box = boxes[k - 1]
        g = glab[box] == k
        n_pieces, plab = label_components(g & (m8[box] > 0))
        if n_pieces - 1 < 2 and not areas[k] > 1.05 * pieces_area[k]:
            continue
        arcs = False
        for pid in np.flatnonzero(np.bincount(plab.ravel(), minlength=n_pieces) >= min_piece):
            if pid > 0 and _region_solidity(plab == pid) < 0.8:
                arcs = True
                break
        if arcs:
            out[box][g] = 1
    return out.astype(bool)


def _region_solidity(region: np.ndarray) -> float:
    """Area over convex-hull area (pixel-corner corrected), for grouping decisions."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 1.0
    hull = cv2.convexHull(np.concatenate(contours))
    return float(region.sum()) / max(cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0, 1.0)


def filled_hull(region: np.ndarray) -> np.ndarray:
    """The convex hull of a binary region, filled (bool, same shape; the region itself is always in it)."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros(region.shape, np.uint8)
    if contours:
        cv2.fillConvexPoly(hull, cv2.convexHull(np.concatenate(contours)), 1)
    return hull.astype(bool) | region


def close_ring(
    region: np.ndarray, *, min_coverage: float = 0.65, max_diameter_px: float = np.inf
) -> np.ndarray | None:
    """Fill a broken ring (a faint cup rim seen as a "C") to its convex hull.

    Parameters
    ----------
    region : (m, n) ndarray of bool
        One candidate (with some margin).
    min_coverage : float
        Fraction of directions around the hull centre in which the candidate
        must have pixels in the outer half of the hull.
    max_diameter_px : float
        Largest equivalent diameter of the closed ring, in pixels.

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
    if radius < 3 or 2 * radius > max_diameter_px:
        return None
    if region.sum() < 0.2 * hull.sum():
        return None  # a sparse scatter of specks, not a rim
    half_width = float(cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, 3).max())
    if half_width > 0.4 * radius:
        return None  # thick bodies around a gap: a cluster of vesicles, not a rim
    ry, rx = np.nonzero(region)
    r = np.hypot(ry - cy, rx - cx)
    centre_area = np.pi * (0.3 * radius) ** 2
    if (r < 0.3 * radius).sum() > 0.3 * centre_area:
        return None
    outer = r > 0.5 * radius
    angles = np.arctan2(ry[outer] - cy, rx[outer] - cx)
    bins = np.unique(((angles + np.pi) / (2 * np.pi) * 36).astype(int) % 36)
    if bins.size < min_coverage * 36:
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

    Returns
    -------
    float
        NaN when the ring is empty.
    """
    dist = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (dist > inner_px) & (dist <= outer_px)
    if ignore is not None:
        ring &= ~ignore
    if not ring.any():
        return float("nan")
    return float(z[ring].mean())


def find_faint_cups(
    z: np.ndarray,
    coarse: np.ndarray,
    *,
    scale_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    rim_contrast: float = 2.0,
    min_coverage: float = 0.75,
) -> list[tuple[int, int, np.ndarray]]:
    """Whole cups whose faint rim broke into separate pieces, found from their dark centre.

    A cup is a dark, stain-filled centre inside a lighter rim at a nearly
    constant distance. From each dark local minimum of ``z`` not already inside
    an object, 36 rays look for the rim: the brightest point within the largest
    cup radius, lighter than both the centre and the stain just beyond it by
    ``rim_contrast`` noise units. Where that holds in ``min_coverage`` of the
    directions and the rim radius is consistent, the filled outline (rim's outer
    half-level, median-smoothed over neighbouring directions) is returned.

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast, vesicles positive.
    coarse : (M, N) ndarray of int32
        Objects found so far (0 = background); a minimum inside one is skipped.
    scale_nm : float
        Pixel edge length of ``z`` in nm.
    min_diameter_nm, max_diameter_nm : float
        Vesicle size limits in nm (cups under 40 nm do not collapse visibly).
    rim_contrast : float
        How much lighter the rim must be than centre and surroundings (noise units).
    min_coverage : float
        Fraction of directions in which a rim must be seen.

    Returns
    -------
    list of (row, col, disc)
        One filled outline per cup found: ``disc`` (bool) is a crop whose
        top-left pixel is ``(row, col)`` of ``z``.
    """
    zb = cv2.GaussianBlur(z, (0, 0), max(3.0 / scale_nm, 0.5))
    centre_field = cv2.GaussianBlur(z, (0, 0), max(8.0 / scale_nm, 0.5))
    r_min_px = max(0.5 * max(min_diameter_nm, 40.0) / scale_nm * 0.6, 3.0)
    r_max_px = 0.5 * min(max_diameter_nm, 300.0) / scale_nm
    beyond_px = max(16.0 / scale_nm, 3.0)
    minima = local_maxima(-centre_field, min_distance=max(int(r_min_px), 2), threshold=rim_contrast,
                          border=int(r_min_px))
    n_dir = 36
    angles = np.arange(n_dir) * (2 * np.pi / n_dir)
    radii = np.arange(0.0, 1.5 * r_max_px + beyond_px + 1.0)
    m, n = z.shape
    cups: list[tuple[int, int, np.ndarray]] = []
    taken = np.zeros((m, n), bool)
    # a minimum inside an object found so far is skipped below: drop it before the costly ray test
    minima = minima[coarse[minima[:, 0], minima[:, 1]] == 0] if len(minima) else minima
    # quick test of every minimum at once: is a rim seen in enough directions?
    if len(minima):
        centre_px = radii <= max(8.0 / scale_nm, 1.0)
        keep = np.zeros(len(minima), bool)
        ray_rows, ray_cols = np.sin(angles)[:, None] * radii, np.cos(angles)[:, None] * radii
        zb_flat = zb.ravel()
        for start in range(0, len(minima), 256):
            batch = minima[start:start + 256]
            ys = _ray_positions(batch[:, 0], ray_rows, m)
            xs = _ray_positions(batch[:, 1], ray_cols, n)
            if m * n > np.iinfo(np.int32).max:
                ys = ys.astype(np.int64)
            ys *= n
            ys += xs
            prof = zb_flat.take(ys)  # (minima, directions, radii); a flat take gathers 2x faster
            centre = prof[:, :, centre_px].mean(axis=(1, 2))
            k_peak, _, _ = _rim_peaks(prof, radii, r_min_px, r_max_px, beyond_px)
            # second pass near each minimum's typical rim radius, as below
            r_med = np.median(radii[k_peak], axis=1)[:, None, None]
            near = (radii >= np.maximum(0.6 * r_med, r_min_px)) & (radii <= np.minimum(1.5 * r_med, r_max_px))
            k_peak, peak, beyond = _rim_peaks(
                np.where(near, prof, -np.inf), radii, r_min_px, r_max_px, max(beyond_px, 0.5 * float(r_med.max()))
            )
            beyond = _min_after(prof, k_peak, int(beyond_px))  # darkest beyond the rim, from the real profile
            seen = peak - np.maximum(beyond, centre[:, None]) >= rim_contrast
            r_peak = radii[k_peak]
            n_seen = seen.sum(axis=1, keepdims=True)
            # median rim radius over the directions where a rim is seen (rows with none give 0)
            ordered = np.sort(np.where(seen, r_peak, np.inf), axis=1)
            mid = np.take_along_axis(ordered, np.maximum((n_seen - 1) // 2, 0), axis=1)
            r_typ = np.where(n_seen > 0, mid, 0.0)
            consistent = seen & (np.abs(r_peak - r_typ) <= 0.3 * r_typ)
            keep[start:start + 256] = (consistent.mean(axis=1) >= 0.5 * min_coverage) & (centre <= -0.5 * rim_contrast)
        minima = minima[keep]
    for cy0, cx0 in minima:
        if coarse[cy0, cx0] != 0 or taken[cy0, cx0]:
            continue
        cy, cx = float(cy0), float(cx0)
        for _recentre in range(3):
            # the darkest point need not be the cup's centre: re-centre on the rim seen
            ys = np.clip(np.rint(cy + np.outer(np.sin(angles), radii)).astype(int), 0, m - 1)
            xs = np.clip(np.rint(cx + np.outer(np.cos(angles), radii)).astype(int), 0, n - 1)
            prof = zb[ys, xs]  # (directions, radii)
            centre = float(prof[:, radii <= max(8.0 / scale_nm, 1.0)].mean())
            k_peak, peak, beyond = _rim_peaks(prof, radii, r_min_px, r_max_px, beyond_px)
            # second pass near the typical rim radius, so a brighter neighbour farther out is not taken
            r_med = float(np.median(radii[k_peak]))
            k_peak, peak, beyond = _rim_peaks(
                prof, radii, max(0.6 * r_med, r_min_px), min(1.5 * r_med, r_max_px), max(beyond_px, 0.5 * r_med)
            )
            seen = peak - np.maximum(beyond, centre) >= rim_contrast
            r_peak = radii[k_peak]
            if seen.mean() < 0.5 * min_coverage:
                break  # no rim around this minimum (even seen off-centre)
            if seen.sum() < 3 or _recentre == 2:
                break
            cy = float(np.clip(np.mean(cy + r_peak[seen] * np.sin(angles[seen])), 0, m - 1))
            cx = float(np.clip(np.mean(cx + r_peak[seen] * np.cos(angles[seen])), 0, n - 1))
        if centre > -0.5 * rim_contrast or seen.sum() < 3:
            continue
        r_med = float(np.median(r_peak[seen]))
        consistent = seen & (np.abs(r_peak - r_med) <= 0.3 * r_med)
        if consistent.mean() < min_coverage:
            continue
        # outer edge: where the profile falls half-way from the rim to the stain beyond
        edge = np.empty(n_dir)
        reach = max(beyond_px, 0.5 * r_med)
        for d in range(n_dir):
            k = k_peak[d] if consistent[d] else int(np.argmin(np.abs(radii - r_med)))
            half = 0.5 * (prof[d, k] + beyond[d])
            after = np.flatnonzero(prof[d, k:k + 1 + int(reach)] < half)
            edge[d] = radii[k + after[0]] if after.size else radii[k] + 0.5 * reach
        padded = np.concatenate([edge[-2:], edge, edge[:2]])
        edge = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)
        e_med = float(np.median(edge))
        edge = np.clip(edge, 0.8 * e_med, 1.2 * e_med)
        diameter_nm = 2.0 * e_med * scale_nm
        if not max(min_diameter_nm, 40.0) <= diameter_nm <= max_diameter_nm:
            continue
        poly = np.rint(np.stack([cx + edge * np.cos(angles), cy + edge * np.sin(angles)], axis=1)).astype(np.int32)
        r0, c0 = max(int(poly[:, 1].min()), 0), max(int(poly[:, 0].min()), 0)
        r1, c1 = min(int(poly[:, 1].max()) + 1, m), min(int(poly[:, 0].max()) + 1, n)
        disc = np.zeros((r1 - r0, c1 - c0), np.uint8)
        cv2.fillPoly(disc, [poly - np.array([c0, r0], np.int32)], 1)
        disc = disc.astype(bool)
        taken[r0:r1, c0:c1] |= disc
        cups.append((r0, c0, disc))
    return cups


def _ray_positions(centres: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """``clip(rint(centre + offsets), 0, size - 1)`` for each integer centre, as int32.

    For an integer centre, ``rint(centre + x) == centre + rint(x)`` unless
    ``x`` lies within rounding error of a half-integer (then the sum's
    rounding decides): those few offsets are computed in floating point as
    written, all others from one rounded table. The same integers as the
    direct formula, without a float array per centre.

    Parameters
    ----------
    centres : (K,) ndarray of int
    offsets : (D, R) ndarray of float64
    size : int
        Length of the axis (positions are clipped to ``0 .. size - 1``).

    Returns
    -------
    (K, D, R) ndarray of int32
    """
    base = np.rint(offsets).astype(np.int32)
    out = centres.astype(np.int32)[:, None, None] + base[None]
    near_half = np.abs(offsets - np.floor(offsets) - 0.5) < 1e-6
    if near_half.any():
        exact = np.rint(centres.astype(np.float64)[:, None] + offsets[near_half][None, :])
        out[:, near_half] = exact.astype(np.int32)
    return np.clip(out, 0, size - 1, out=out)


def _rim_peaks(
    prof: np.ndarray, radii: np.ndarray, r_lo: float, r_hi: float, beyond_px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ray (last axis = radius): index of the brightest point in ``[r_lo, r_hi]``,
    its value, and the darkest value within ``beyond_px`` beyond it."""
    search = np.flatnonzero((radii >= r_lo) & (radii <= r_hi))
    if search.size == 0:
        search = np.array([int(np.argmin(np.abs(radii - r_lo)))])
    k_peak = search[0] + np.argmax(prof[..., search[0]:search[-1] + 1], axis=-1)
    peak = np.take_along_axis(prof, k_peak[..., None], axis=-1)[..., 0]
    return k_peak, peak, _min_after(prof, k_peak, max(int(beyond_px), 1))


def _min_after(prof: np.ndarray, index: np.ndarray, reach: int) -> np.ndarray:
    """Per ray (last axis), the smallest value in ``(index, index + reach]``.

    Positions past the end of a ray repeat its last value. Only the samples
    after each given index are gathered (a sliding minimum over whole rays
    cost ten times more).
    """
    steps = index[..., None] + 1 + np.arange(max(reach, 1))
    return np.take_along_axis(prof, np.minimum(steps, prof.shape[-1] - 1), axis=-1).min(axis=-1)
