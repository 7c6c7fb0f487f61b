"""From the network's maps to vesicle instances: a seeded watershed on the distance map."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import perimeter, regionprops
from skimage.segmentation import watershed

from exo_vision.measure.vesicles import CIRCULARITY_FACTOR
from exo_vision.segmentation.learned.parameters import DEFAULT_INSTANCE_THRESHOLDS, InstanceThresholds
from exo_vision.segmentation.morphology_ops import convex_hull_pixel_count


def maps_to_instances(
    maps: np.ndarray, *, min_area_px: float, thresholds: InstanceThresholds = DEFAULT_INSTANCE_THRESHOLDS
) -> np.ndarray:
    """Instance labels from foreground, boundary and distance maps.

    Parameters
    ----------
    maps : (3, M, N) ndarray of float
        Foreground probability, boundary probability and normalised distance, in [0, 1].
    min_area_px : float
        Area of the smallest vesicle to keep, in pixels of ``maps``.
    thresholds : InstanceThresholds
        See :class:`InstanceThresholds`.

    Returns
    -------
    (M, N) ndarray of int32
        Labels 1..K; a foreground region without a seed of its own becomes one instance.
    """
    fg_prob, boundary, distance = maps[0], maps[1], maps[2]
    foreground = fg_prob > thresholds.foreground
    if not foreground.any():
        return np.zeros(foreground.shape, np.int32)
    score = distance * (1.0 - boundary)
    seeds, n_seeds = ndi.label((score > thresholds.seed) & foreground)
    if n_seeds:
        sizes = np.bincount(seeds.ravel(), minlength=n_seeds + 1)
        small = sizes < max(thresholds.min_seed_fraction * min_area_px, 1.0)
        small[0] = False
        seeds[small[seeds]] = 0
    # foreground regions that hold no seed get one: their whole region
    regions, n_regions = ndi.label(foreground)
    seeded = np.zeros(n_regions + 1, bool)
    seeded[np.unique(regions[seeds > 0])] = True
    unseeded = ~seeded[regions] & foreground
    offset = int(seeds.max(initial=0))
    seeds = np.where(unseeded, regions + offset, seeds)
    labels = watershed(-score, markers=seeds, mask=foreground).astype(np.int32)
    if thresholds.merge_boundary > 0:
        labels = merge_without_contact(labels, boundary, threshold=thresholds.merge_boundary)
    if thresholds.join_rounder:
        labels = join_rounder_unions(labels, min_solidity=thresholds.coarse_min_solidity)
    return _drop_small_and_renumber(labels, min_area_px=min_area_px)


#: Neighbourhood of the boundary pixels in the perimeter estimate (``regionprops``' own).
PERIMETER_NEIGHBOURHOOD = 4

#: The two 4-neighbour pairings of an image's pixels: (left, right) and (above, below).
NEIGHBOUR_PAIRS = ((np.s_[:, :-1], np.s_[:, 1:]), (np.s_[:-1, :], np.s_[1:, :]))


def _contacts(labels: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, tuple, tuple, tuple]]:
    """Every pair of 4-neighbour pixels of two instances: (lower ids, higher ids, first side, second side, where).

    ``first side`` and ``second side`` index the image (``NEIGHBOUR_PAIRS``); ``where`` (row and column indices,
    in row-major order) selects the contacts in them, so a map's values at the contacts are ``map[first][where]``
    and ``map[second][where]``.
    """
    for first, second in NEIGHBOUR_PAIRS:
        a, b = labels[first], labels[second]
        differ = a != b  # few pixels (the outlines): the ids are read there only
        rows, cols = np.divmod(np.flatnonzero(differ), differ.shape[1])
        a_ids, b_ids = a[rows, cols], b[rows, cols]
        both = (a_ids > 0) & (b_ids > 0)
        a_ids, b_ids = a_ids[both], b_ids[both]
        yield np.minimum(a_ids, b_ids), np.maximum(a_ids, b_ids), first, second, (rows[both], cols[both])


def _touching_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (a, b), a < b, of instances that touch along a row or a column."""
    found: set[tuple[int, int]] = set()
    for lo, hi, *_ in _contacts(labels):
        found.update(zip(lo.tolist(), hi.tolist(), strict=True))
    return found


def _circularity(mask: np.ndarray) -> float:
    """4 pi area / perimeter squared (perimeter as ``regionprops``' ``perimeter``), capped at 1, of one binary
    object (``mask`` holds it with any margin of background)."""
    boundary = max(float(perimeter(mask, PERIMETER_NEIGHBOURHOOD)), 1.0)
    return min(CIRCULARITY_FACTOR * np.pi * float(np.count_nonzero(mask)) / boundary**2, 1.0)


def _solidity(mask: np.ndarray) -> float:
    """Area over convex-hull area of one binary object, as ``regionprops``' ``solidity``."""
    return float(np.count_nonzero(mask)) / float(convex_hull_pixel_count(mask))


def _union_mask(labels: np.ndarray, boxes: list, group) -> np.ndarray:
    """The pixels of the instances ``group`` in the box that holds them all (``boxes`` from ``ndi.find_objects``)."""
    members = [boxes[k - 1] for k in group]
    crop = labels[tuple(slice(min(b[i].start for b in members), max(b[i].stop for b in members)) for i in range(2))]
    if len(members) == 2:
        a, b = group
        return (crop == a) | (crop == b)
    return np.isin(crop, list(group))


def _rounder_unions(labels: np.ndarray, pairs, *, min_solidity: float) -> list[tuple[float, int, int]]:
    """``(union circularity, a, b)`` of the touching ``pairs`` whose union is convex (solidity at least
    ``min_solidity``) and rounder than each piece, roundest first."""
    boxes = ndi.find_objects(labels)
    piece_round = {k: _circularity(labels[boxes[k - 1]] == k) for pair in pairs for k in pair}
    candidates = []
    for a, b in pairs:
        union = _union_mask(labels, boxes, (a, b))
        union_round = _circularity(union)
        if union_round > max(piece_round[a], piece_round[b]) and _solidity(union) >= min_solidity:
            candidates.append((union_round, a, b))
    return sorted(candidates, reverse=True)


#: A touching pair whose union is at least this convex (area over its convex hull's) ...
SPLIT_MIN_SOLIDITY = 0.9
#: ... and at least this round (4 pi area / perimeter squared; two equal touching disks give 0.5) may be one
#: vesicle cut in two. On the real images of ``benchmarks/tem_real.py`` the rule names 8 of the 10 pairs the
#: shipped model cut out of one annotated vesicle and none of the 5 pairs of two annotated vesicles that touch
#: (chosen by looking at those same images: a warning, which changes no figure).
SPLIT_MIN_CIRCULARITY = 0.6


def possibly_split_pairs(labels: np.ndarray) -> list[tuple[int, int]]:
    """Touching instances ``(a, b)`` whose union is one convex, round outline: perhaps one vesicle cut in two.

    A cup cut along its fold, or a large vesicle cut across its body, gives two pieces whose union is
    convex and round; two touching vesicles give a waisted union (solidity near 0.88 and circularity near
    0.5 for two equal disks). A small vesicle lying at the edge of a large one can pass too, so this is
    for a warning that asks the user to look, not for joining.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instances, 0 = background.

    Returns
    -------
    list of (int, int)
        The pairs, lower id first, in id order.
    """
    labels = np.asarray(labels)
    if labels.max() < 2:
        return []
    boxes = ndi.find_objects(labels)
    found = []
    for a, b in sorted(_touching_pairs(labels)):
        if _group_circularity(labels, boxes, (a, b)) is not None:
            found.append((int(a), int(b)))
    return found


#: The most pieces :func:`possibly_split_groups` joins into one candidate outline (a cup cut by two lines is three).
SPLIT_MAX_PIECES = 4


def _touching_neighbours(labels: np.ndarray) -> dict[int, set[int]]:
    """Each instance's touching instances (4-neighbour contact)."""
    neighbours: dict[int, set[int]] = {}
    for a, b in _touching_pairs(labels):
        neighbours.setdefault(int(a), set()).add(int(b))
        neighbours.setdefault(int(b), set()).add(int(a))
    return neighbours


def _connected_groups(neighbours: dict[int, set[int]], max_pieces: int) -> set[frozenset[int]]:
    """Every set of 2 to ``max_pieces`` instances that the touching graph ``neighbours`` connects."""
    level = {frozenset((a, b)) for a, others in neighbours.items() for b in others}
    groups = set(level)
    for _ in range(max_pieces - 2):
        level = {group | {n} for group in level for k in group for n in neighbours[k] if n not in group}
        groups |= level
    return groups


def _group_circularity(labels: np.ndarray, boxes: list, group) -> float | None:
    """The circularity of the union of the instances ``group`` when it passes the split rule
    (:data:`SPLIT_MIN_SOLIDITY`, :data:`SPLIT_MIN_CIRCULARITY`), else None."""
    union = _union_mask(labels, boxes, group)
    circularity = _circularity(union)
    if circularity < SPLIT_MIN_CIRCULARITY:  # the cheaper test first: most groups of touching vesicles fail it
        return None
    return circularity if _solidity(union) >= SPLIT_MIN_SOLIDITY else None


def possibly_split_groups(
    labels: np.ndarray, *, max_pieces: int = SPLIT_MAX_PIECES, boxes: list[tuple[slice, slice] | None] | None = None
) -> list[tuple[int, ...]]:
    """Groups of touching instances whose union is one convex, round outline: perhaps one vesicle cut in pieces.

    The rule of :func:`possibly_split_pairs` applied to every connected group of 2 to ``max_pieces``
    touching instances: a cup cut by two lines gives three pieces none of whose pairs is convex, while
    the three together are. A group is named only when its union is rounder than that of every passing
    group inside it (a small vesicle lying on a cut cup keeps the union convex but makes it less round
    than the cup's two halves: the halves are named, not the three), and not when a larger named group
    holds it. Two named groups may share a piece.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instances, 0 = background.
    max_pieces : int
        The most instances one group may hold.
    boxes : list of (slice, slice) or None, optional
        ``scipy.ndimage.find_objects(labels)`` if the caller already has it (it costs a whole pass over the labels).

    Returns
    -------
    list of tuple of int
        Each group's labels in increasing order; the groups in order of their labels.
    """
    labels = np.asarray(labels)
    if (len(boxes) if boxes is not None else labels.max()) < 2:
        return []
    boxes = ndi.find_objects(labels) if boxes is None else boxes
    passing = {}
    for group in _connected_groups(_touching_neighbours(labels), max_pieces):
        circularity = _group_circularity(labels, boxes, group)
        if circularity is not None:
            passing[group] = circularity
    rounder = [g for g, c in passing.items() if all(c > c_in for h, c_in in passing.items() if h < g)]
    named = [g for g in rounder if not any(g < other for other in rounder)]
    return sorted(tuple(sorted(int(k) for k in g)) for g in named)


def join_rounder_unions(labels: np.ndarray, *, min_solidity: float) -> np.ndarray:
    """Join touching instances whose union is rounder than each of them and convex, until none is left.

    A cup cut along its fold gives two half-moons whose union is the round cup:
    the union's circularity exceeds both pieces'. Two touching round vesicles, or
    a small vesicle on a large one, give a union less round than the round
    piece, so they stay apart. Each round joins every qualifying pair once (the
    roundest unions first), then looks again at the joined instances.

    Parameters
    ----------
    labels : (M, N) ndarray of int32
        Instances, 0 = background.
    min_solidity : float
        A union is joined only when its area over its convex hull's is at least this.

    Returns
    -------
    (M, N) ndarray of int32
        Labels with the joined instances under the smaller id (not renumbered).
    """
    out = labels.copy()
    pending = _touching_pairs(out)
    while pending:
        joined: set[int] = set()
        for _, a, b in _rounder_unions(out, pending, min_solidity=min_solidity):
            if a in joined or b in joined:
                continue
            out[out == b] = a
            joined.update((a, b))
        pending = {pair for pair in _touching_pairs(out) if joined.intersection(pair)}
    return out


def merge_without_contact(labels: np.ndarray, boundary: np.ndarray, *, threshold: float) -> np.ndarray:
    """Merge neighbouring regions whose shared border's mean boundary probability is under ``threshold``.

    Parameters
    ----------
    labels : (M, N) ndarray of int32
        Regions, 0 = background.
    boundary : (M, N) ndarray of float
        Boundary probability.
    threshold : float
        Borders with a lower mean are not contacts between two vesicles.

    Returns
    -------
    (M, N) ndarray of int32
        Merged regions (ids of the merged groups are those of their smallest member).
    """
    n = int(labels.max())
    if n < 2:
        return labels
    pairs = []
    values = []
    for lo, hi, first, second, where in _contacts(labels):
        pairs.append(lo.astype(np.int64) * (n + 1) + hi.astype(np.int64))
        values.append(0.5 * (boundary[first][where] + boundary[second][where]))
    keys = np.concatenate(pairs)
    if keys.size == 0:
        return labels
    probability = np.concatenate(values)
    unique, inverse = np.unique(keys, return_inverse=True)
    mean = np.bincount(inverse, weights=probability) / np.bincount(inverse)
    parent = np.arange(n + 1)

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for key in unique[mean < threshold]:
        ra, rb = root(int(key // (n + 1))), root(int(key % (n + 1)))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    lut = np.array([root(k) for k in range(n + 1)], np.int32)
    return lut[labels]


def large_convex_instances(labels: np.ndarray, *, min_area_px: float, min_solidity: float) -> np.ndarray:
    """The instances of ``labels`` with at least ``min_area_px`` pixels and solidity ``min_solidity``.

    Parameters
    ----------
    labels : (M, N) ndarray of int32
        Instances, 0 = background.
    min_area_px : float
        Smallest area kept, pixels.
    min_solidity : float
        Smallest area / convex-hull area kept.

    Returns
    -------
    (M, N) ndarray of int32
        The kept instances, numbered 1..K.
    """
    kept = np.zeros(labels.shape, np.int32)
    count = 0
    for region in regionprops(labels):
        if region.area >= min_area_px and region.solidity >= min_solidity:
            count += 1
            r0, c0, r1, c1 = region.bbox
            kept[r0:r1, c0:c1][region.image] = count
    return kept


def fuse_scales(fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Instances of two passes on one grid: every ``coarse`` instance, then the ``fine`` ones it leaves.

    A fine instance with half or more of its area under a coarse instance is
    replaced by it (the pieces of a large vesicle the fine pass split); the
    others keep their pixels outside the coarse instances.

    Parameters
    ----------
    fine : (M, N) ndarray of int32
        Fine-pass instances.
    coarse : (M, N) ndarray of int32
        The coarse-pass instances that win (see :func:`large_convex_instances`).

    Returns
    -------
    (M, N) ndarray of int32
        Labels 1..K: the coarse instances first.
    """
    n_coarse = int(coarse.max())
    if n_coarse == 0:
        return fine
    n_fine = int(fine.max())
    area = np.bincount(fine.ravel(), minlength=n_fine + 1).astype(np.float64)
    covered = np.bincount(fine[coarse > 0].ravel(), minlength=n_fine + 1).astype(np.float64)
    survives = covered < 0.5 * np.maximum(area, 1.0)
    survives[0] = False
    lut = np.zeros(n_fine + 1, np.int32)
    lut[survives] = np.arange(n_coarse + 1, n_coarse + 1 + int(survives.sum()), dtype=np.int32)
    return np.where(coarse > 0, coarse, lut[fine]).astype(np.int32)


def _drop_small_and_renumber(labels: np.ndarray, *, min_area_px: float) -> np.ndarray:
    counts = np.bincount(labels.ravel())
    keep = counts >= min_area_px
    keep[0] = False
    lut = np.zeros(counts.size, np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lut[labels]
