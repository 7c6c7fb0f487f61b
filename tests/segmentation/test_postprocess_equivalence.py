"""The post-network steps written for speed give what their first versions gave, on generated micrographs.

Each reference below is the first version of a step (scikit-image's regionprops and convex_hull_image, whole-image
passes), kept here only to compare against; the labels come from the seeded generator
(:func:`exo_vision.synthetic.tem.make_synthetic_tem`), with vesicles cut in two to four pieces the way the network
sometimes cuts them, so that the split and join rules meet unions that pass and unions that fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import regionprops
from skimage.morphology import convex_hull_image

from exo_vision.segmentation.learned import postprocess
from exo_vision.segmentation.learned.postprocess import (
    SPLIT_MAX_PIECES,
    SPLIT_MIN_CIRCULARITY,
    SPLIT_MIN_SOLIDITY,
    join_rounder_unions,
    possibly_split_groups,
    possibly_split_pairs,
)
from exo_vision.segmentation.morphology_ops import convex_hull_pixel_count
from exo_vision.synthetic.tem import make_synthetic_tem


def cut_vesicles(seed: int, shape=(768, 768)) -> np.ndarray:
    """The generator's vesicles, each second one cut by one or two straight lines through it into new ids."""
    rng = np.random.default_rng(seed)
    _, truth = make_synthetic_tem(shape, pixel_size_nm=0.8, difficulty="hard", n_vesicles=40, scale_bar=False, rng=seed)
    labels = truth.labels.astype(np.int32).copy()
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    next_id = int(labels.max()) + 1
    for k in range(1, int(truth.labels.max()) + 1):
        inside = truth.labels == k
        if not inside.any() or rng.random() < 0.5:
            continue
        cy, cx = yy[inside].mean(), xx[inside].mean()
        for _ in range(rng.integers(1, 3)):
            angle = rng.uniform(0, np.pi)
            offset = rng.normal(0, 3)  # near the centre: a fold or a cut across the body
            side = inside & (np.cos(angle) * (yy - cy) + np.sin(angle) * (xx - cx) > offset)
            labels[side & (labels > 0)] += next_id  # every piece on that side gets an id of its own
            next_id = int(labels.max()) + 1
    _, dense = np.unique(labels, return_inverse=True)  # ids 1..K again (0 stays 0: it is the smallest)
    return dense.reshape(shape).astype(np.int32)


def regionprops_roundness(mask: np.ndarray) -> tuple[float, float]:
    """The first version: circularity (capped at 1) and solidity from regionprops of the mask."""
    region = regionprops(mask.astype(np.uint8))[0]
    perimeter = max(float(region.perimeter), 1.0)
    return min(4 * np.pi * float(region.area) / perimeter**2, 1.0), float(region.solidity)


def reference_split_groups(labels: np.ndarray) -> list[tuple[int, ...]]:
    """The first version of possibly_split_groups: regionprops of every connected group's union."""
    from scipy import ndimage as ndi

    if labels.max() < 2:
        return []
    boxes = ndi.find_objects(labels)
    passing = {}
    neighbours = postprocess._touching_neighbours(labels)
    for group in postprocess._connected_groups(neighbours, SPLIT_MAX_PIECES):
        members = [boxes[k - 1] for k in group]
        box = tuple(slice(min(b[i].start for b in members), max(b[i].stop for b in members)) for i in range(2))
        circularity, solidity = regionprops_roundness(np.isin(labels[box], list(group)))
        if solidity >= SPLIT_MIN_SOLIDITY and circularity >= SPLIT_MIN_CIRCULARITY:
            passing[group] = circularity
    rounder = [g for g, c in passing.items() if all(c > c_in for h, c_in in passing.items() if h < g)]
    named = [g for g in rounder if not any(g < other for other in rounder)]
    return sorted(tuple(sorted(int(k) for k in g)) for g in named)


def reference_join(labels: np.ndarray, min_solidity: float) -> np.ndarray:
    """The first version of join_rounder_unions: regionprops of each piece and each touching pair's union."""
    from scipy import ndimage as ndi

    out = labels.copy()
    pending = postprocess._touching_pairs(out)
    while pending:
        boxes = ndi.find_objects(out)
        piece = {k: regionprops_roundness(out[boxes[k - 1]] == k)[0] for pair in pending for k in pair}
        candidates = []
        for a, b in pending:
            box = tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(boxes[a - 1], boxes[b - 1]))
            crop = out[box]
            union_round, union_solidity = regionprops_roundness((crop == a) | (crop == b))
            if union_solidity >= min_solidity and union_round > max(piece[a], piece[b]):
                candidates.append((union_round, a, b))
        joined: set[int] = set()
        for _, a, b in sorted(candidates, reverse=True):
            if a in joined or b in joined:
                continue
            out[out == b] = a
            joined.update((a, b))
        pending = {pair for pair in postprocess._touching_pairs(out) if joined.intersection(pair)}
    return out


@pytest.fixture(scope="module")
def cut_fields() -> list[np.ndarray]:
    return [cut_vesicles(seed) for seed in range(4)]


def test_convex_hull_pixel_count_is_the_pixel_count_of_scikit_images_hull(cut_fields):
    from scipy import ndimage as ndi

    checked = 0
    for labels in cut_fields:
        neighbours = postprocess._touching_neighbours(labels)
        boxes = ndi.find_objects(labels)
        for k, box in enumerate(boxes, start=1):  # every piece, and every piece with its touching neighbours
            group = [k, *sorted(neighbours.get(k, ()))]
            members = [boxes[j - 1] for j in group]
            union_box = tuple(slice(min(b[i].start for b in members), max(b[i].stop for b in members)) for i in (0, 1))
            for mask in (labels[box] == k, np.isin(labels[union_box], group)):
                assert convex_hull_pixel_count(mask) == int(convex_hull_image(mask).sum())
                checked += 1
    assert checked > 200
    rng = np.random.default_rng(7)
    for _ in range(300):  # scattered pixels: hull edges at every slope, pixel centres on the outline
        mask = rng.random(tuple(rng.integers(1, 30, 2))) < rng.uniform(0.02, 0.6)
        if mask.any():
            assert convex_hull_pixel_count(mask) == int(convex_hull_image(mask).sum())
    assert convex_hull_pixel_count(np.zeros((5, 5), bool)) == 0


def test_split_groups_and_pairs_match_the_regionprops_rule_on_cut_vesicles(cut_fields):
    named = 0
    for labels in cut_fields:
        groups = possibly_split_groups(labels)
        assert groups == reference_split_groups(labels)
        named += len(groups)
    for labels in cut_fields[:1]:
        pairs = possibly_split_pairs(labels)
        reference_pairs = [
            (a, b)
            for a, b in sorted(postprocess._touching_pairs(labels))
            if all(
                value >= limit
                for value, limit in zip(
                    regionprops_roundness(np.isin(labels, [a, b])), (SPLIT_MIN_CIRCULARITY, SPLIT_MIN_SOLIDITY)
                )
            )
        ]
        assert pairs == reference_pairs
    assert named >= 4  # the cut vesicles are found: the comparison met groups that pass


def test_join_rounder_unions_matches_the_regionprops_rule_on_cut_vesicles(cut_fields):
    changed = 0
    for labels in cut_fields[:2]:
        joined = join_rounder_unions(labels, min_solidity=0.9)
        assert np.array_equal(joined, reference_join(labels, 0.9))
        changed += int(not np.array_equal(joined, labels))
    assert changed >= 1
