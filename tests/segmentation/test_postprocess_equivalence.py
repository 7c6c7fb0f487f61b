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


def reference_reject_and_renumber(
    labels,
    *,
    pixel_size_nm,
    min_diameter_nm,
    max_diameter_nm,
    mean_probability,
    min_mean_probability,
    annotation_fraction,
):
    """The first version of _reject_and_renumber: a bincount, a find_objects and a lookup over the whole image."""
    import pandas as pd
    from scipy import ndimage as ndi

    from exo_vision.segmentation.learned import method

    n = int(labels.max())
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    diameter_nm = 2 * np.sqrt(area / np.pi) * pixel_size_nm
    reasons = []
    for k in range(n):
        if area[k] == 0:
            reasons.append("")
        elif annotation_fraction[k] > method.MAX_ANNOTATION_FRACTION:
            reasons.append(method.REASON_ANNOTATION)
        elif diameter_nm[k] < min_diameter_nm:
            reasons.append(method.REASON_TOO_SMALL)
        elif diameter_nm[k] > max_diameter_nm:
            reasons.append(method.REASON_TOO_LARGE)
        elif mean_probability[k] < min_mean_probability:
            reasons.append(method.REASON_LOW_CONFIDENCE)
        else:
            reasons.append(None)
    keep = np.array([r is None for r in reasons], bool)
    lut = np.zeros(n + 1, np.int32)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    ids = [k for k in range(n) if reasons[k]]
    boxes = ndi.find_objects(labels, max_label=max([k + 1 for k in ids], default=0))
    centres = []
    for k in ids:
        box = boxes[k]
        if box is None:
            centres.append((float("nan"), float("nan")))
            continue
        rows, cols = np.nonzero(labels[box] == k + 1)
        centres.append((float(rows.mean() + box[0].start), float(cols.mean() + box[1].start)))
    rejected = pd.DataFrame(
        {
            "centroid_x_nm": pd.Series([c[1] * pixel_size_nm for c in centres], dtype="float64"),
            "centroid_y_nm": pd.Series([c[0] * pixel_size_nm for c in centres], dtype="float64"),
            "equivalent_diameter_nm": pd.Series([diameter_nm[k] for k in ids], dtype="float64"),
            "reason": pd.Series([reasons[k] for k in ids], dtype="object"),
        }
    )
    return lut[labels], rejected, np.asarray(mean_probability, dtype=np.float64)[keep]


def test_reject_and_renumber_matches_the_whole_image_version_on_generated_labels(cut_fields):
    import pandas as pd
    from scipy import ndimage as ndi

    from exo_vision.segmentation.learned.method import _reject_and_renumber

    rng = np.random.default_rng(3)
    reasons = set()
    for labels in cut_fields:
        labels = labels.copy()
        n = int(labels.max())
        labels[labels == n // 2] = 0  # an id without pixels, as the full-resolution outlines can leave one
        rules = {
            "pixel_size_nm": 0.8,
            "min_diameter_nm": 30.0,
            "max_diameter_nm": 90.0,
            "mean_probability": rng.uniform(0.3, 1.0, n),
            "min_mean_probability": 0.45,
            "annotation_fraction": np.where(rng.random(n) < 0.1, 0.9, 0.0),
        }
        new_labels, rejected, confidence, boxes = _reject_and_renumber(labels.copy(), **rules)
        old_labels, old_rejected, old_confidence = reference_reject_and_renumber(labels, **rules)
        assert new_labels.dtype == old_labels.dtype and np.array_equal(new_labels, old_labels)
        pd.testing.assert_frame_equal(rejected, old_rejected)
        assert np.array_equal(confidence, old_confidence)
        assert boxes == ndi.find_objects(new_labels)
        reasons.update(rejected["reason"])
    assert len(reasons) == 4  # every rule met: annotation, too small, too large, low confidence


def reference_merge_without_contact(labels, boundary, threshold):
    """The first version of merge_without_contact's contacts: boolean masks over the whole image."""
    n = int(labels.max())
    pairs, values = [], []
    for first, second in postprocess.NEIGHBOUR_PAIRS:
        a, b = labels[first], labels[second]
        where = (a != b) & (a > 0) & (b > 0)
        lo, hi = np.minimum(a[where], b[where]), np.maximum(a[where], b[where])
        pairs.append(lo.astype(np.int64) * (n + 1) + hi.astype(np.int64))
        values.append(0.5 * (boundary[first][where] + boundary[second][where]))
    keys, probability = np.concatenate(pairs), np.concatenate(values)
    unique, inverse = np.unique(keys, return_inverse=True)
    mean = np.bincount(inverse, weights=probability) / np.bincount(inverse)
    return dict(zip(unique.tolist(), mean.tolist(), strict=True))


def test_contacts_and_merges_match_the_whole_image_masks_on_generated_labels(cut_fields):
    from scipy import ndimage as ndi

    from exo_vision.segmentation.learned.postprocess import merge_without_contact

    rng = np.random.default_rng(5)
    for labels in cut_fields:
        boundary = ndi.gaussian_filter(rng.random(labels.shape), 3).astype(np.float32)
        n = int(labels.max())
        means = reference_merge_without_contact(labels, boundary, 0.5)
        pairs = {(key // (n + 1), key % (n + 1)) for key in means}
        assert postprocess._touching_pairs(labels) == pairs
        for (lo, hi, first, second, where), (old_first, old_second) in zip(
            postprocess._contacts(labels), postprocess.NEIGHBOUR_PAIRS, strict=True
        ):
            a, b = labels[old_first], labels[old_second]
            old_where = (a != b) & (a > 0) & (b > 0)  # the contacts as a mask: the same pixels, in the same order
            assert np.array_equal(lo, np.minimum(a[old_where], b[old_where]))
            assert np.array_equal(hi, np.maximum(a[old_where], b[old_where]))
            assert np.array_equal(boundary[first][where], boundary[old_first][old_where])
            assert np.array_equal(boundary[second][where], boundary[old_second][old_where])
        threshold = float(np.median(list(means.values())))  # about half the contacts merge
        merged = merge_without_contact(labels, boundary, threshold=threshold)
        lut = np.arange(n + 1)
        for key in sorted(k for k, m in means.items() if m < threshold):  # the same union-find, by hand
            ra, rb = lut[key // (n + 1)], lut[key % (n + 1)]
            while lut[ra] != ra:
                ra = lut[ra]
            while lut[rb] != rb:
                rb = lut[rb]
            lut[max(ra, rb)] = min(ra, rb)
        roots = np.array([k if lut[k] == k else 0 for k in range(n + 1)])
        for k in range(n + 1):
            r = k
            while lut[r] != r:
                r = lut[r]
            roots[k] = r
        assert np.array_equal(merged, roots[labels])
        assert 0 < len(np.unique(merged)) < len(np.unique(labels))


def test_the_boxes_passed_along_give_the_same_groups_and_warning(cut_fields):
    from scipy import ndimage as ndi

    from exo_vision.tem_analysis import split_groups_warnings

    for labels in cut_fields:
        boxes = ndi.find_objects(labels)
        groups = possibly_split_groups(labels, boxes=boxes)
        assert groups == possibly_split_groups(labels) != []
        with_boxes = split_groups_warnings(groups, labels, pixel_size_nm=0.8, objects=boxes)
        assert with_boxes == split_groups_warnings(groups, labels, pixel_size_nm=0.8) != []


def test_the_learned_segmenter_returns_the_boxes_of_its_labels():
    from scipy import ndimage as ndi

    from exo_vision.segmentation.api import segment_vesicles

    image, _ = make_synthetic_tem((1024, 1024), pixel_size_nm=0.8, difficulty="medium", rng=1001)
    segmentation = segment_vesicles(image.astype(np.float32), pixel_size_nm=0.8, method="unet")
    assert segmentation.labels.max() >= 5 and len(segmentation.rejected)  # some kept, some renumbered away
    assert segmentation.objects == ndi.find_objects(segmentation.labels)


def reference_grow_labels(labels: np.ndarray, radius_px: float) -> np.ndarray:
    """The first version of grow_labels: the dilated ids copied into the background through a boolean mask."""
    import cv2

    from exo_vision.segmentation.learned.method import DISK_SQUARED_SLACK_PX2, UINT16_LABEL_LIMIT

    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (yy**2 + xx**2 <= radius_px**2 + DISK_SQUARED_SLACK_PX2).astype(np.uint8)
    work_type = np.uint16 if labels.max() < UINT16_LABEL_LIMIT else np.float32
    grown = cv2.dilate(labels.astype(work_type), disk)
    out = labels.copy()
    background = out == 0
    out[background] = grown[background]
    return out


def test_grow_labels_matches_the_masked_copy_on_generated_labels(cut_fields):
    from exo_vision.segmentation.learned.method import grow_labels

    for labels in cut_fields[:2]:
        many = np.where(labels > 0, labels + 70_000, 0).astype(np.int32)  # ids past 16 bits: the float32 path
        for ids in (labels, many, labels.astype(np.int64)):
            for radius in (1.0, 2.5, 4.2):
                grown = grow_labels(ids, radius_px=radius)
                reference = reference_grow_labels(ids, radius)
                assert grown.dtype == reference.dtype and np.array_equal(grown, reference)


def test_pixels_sha256_hashes_the_same_bytes_as_a_copy_of_the_pixels():
    import hashlib

    from exo_vision.batch.runner import pixels_sha256

    image, _ = make_synthetic_tem((256, 320), pixel_size_nm=0.8, difficulty="medium", rng=4)
    for pixels in (image, image.astype(np.float32), image[::2, 1::3], np.asfortranarray(image)):
        array = np.ascontiguousarray(pixels)
        expected = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
        expected.update(array.reshape(-1).view(np.uint8).tobytes())
        assert pixels_sha256(pixels) == expected.hexdigest()


@pytest.mark.parametrize("method", ["unet", "classical"])
def test_the_analysis_hands_the_overlay_the_annotation_mask_it_would_find(method, tmp_path):
    import tifffile

    from exo_vision.calibration.mask import annotation_mask
    from exo_vision.figures.overlay import draw_overlay
    from exo_vision.io import read_image
    from exo_vision.tem_analysis import analyse_micrograph

    image, _ = make_synthetic_tem((1024, 1024), pixel_size_nm=0.8, difficulty="medium", rng=1002)
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, image, imagej=True, resolution=(1 / 0.8, 1 / 0.8), metadata={"unit": "nm"})
    result = analyse_micrograph(read_image(path), method=method)
    found = annotation_mask(result.image_data.data)
    assert found.any() and np.array_equal(result.burnt_in, found)  # the generator's scale bar and label
    drawn = [
        draw_overlay(
            result.image_data.data, result.labels, result.table, pixel_size_nm=0.8, objects=result.objects, **given
        )
        for given in ({}, {"burnt_in": result.burnt_in})
    ]
    assert np.array_equal(drawn[0].index, drawn[1].index) and drawn[0].legend_box_px == drawn[1].legend_box_px


def test_whole_number_images_pass_the_finiteness_checks_unread_and_float_ones_are_still_checked():
    from exo_vision._shared.validation import as_float_image
    from exo_vision.calibration.bar import as_gray

    image, _ = make_synthetic_tem((256, 256), pixel_size_nm=0.8, difficulty="medium", rng=6)
    for ints in (image, image.astype(np.int64) * 2**40, np.zeros((64, 64), np.uint64) + np.iinfo(np.uint64).max):
        assert np.array_equal(as_float_image(ints), ints.astype(np.float64).astype(np.float32)) or ints.max() > 2**24
        assert np.isfinite(as_gray(ints)).all() and np.isfinite(as_float_image(ints)).all()
    spoilt = image.astype(np.float32)
    spoilt[5, 7] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_float_image(spoilt)
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_gray(spoilt)
    huge = np.zeros((64, 64))
    huge[3, 4] = 1e300
    with pytest.raises(ValueError, match="beyond float32"):
        as_float_image(huge)


def test_pixels_signature_of_whole_numbers_and_of_their_float_copy_agree():
    from exo_vision.batch.duplicates import pixels_signature

    image, _ = make_synthetic_tem((512, 384), pixel_size_nm=0.8, difficulty="medium", rng=8)
    signature = pixels_signature(image)
    assert signature == pixels_signature(image.astype(np.float32)) != ""  # the float copy takes the checked path
    spoilt = image.astype(np.float32)
    spoilt[:10] = np.nan  # values without a number still take the median
    assert pixels_signature(spoilt) == pixels_signature(np.where(np.isnan(spoilt), np.median(image[10:]), spoilt))
