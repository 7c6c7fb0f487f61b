"""The fast primitives of the segmentation agree with the slow references they replace."""

import cv2
import numpy as np
import pytest
from skimage.feature import peak_local_max

from exo_vision.segmentation.classical.cups import _ray_positions
from exo_vision.segmentation.classical.preprocess import coarse_block, from_coarse, shrink_mask, to_coarse
from exo_vision.segmentation.morphology_ops import (
    dilate_disk,
    disk,
    label_components,
    label_components_with_stats,
    labels_touching,
    local_maxima,
    masked_peaks,
    percentile,
)


def _blobs(shape: tuple[int, int], *, sigma: float, level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(size=shape).astype(np.float32), (0, 0), sigma)
    return (field / field.std()) > level


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_components_with_stats_matches_opencv(seed):
    mask = _blobs((300, 410), sigma=2.0 + seed, level=0.8, seed=seed)
    count, labels, stats = label_components_with_stats(mask)
    ref_count, ref_labels, ref_stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    assert count == ref_count > 10
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(stats[1:], ref_stats[1:])
    assert stats[0, cv2.CC_STAT_AREA] == ref_stats[0, cv2.CC_STAT_AREA]
    assert label_components(mask)[0] == count


def test_label_components_with_stats_of_empty_mask():
    count, labels, stats = label_components_with_stats(np.zeros((5, 7), bool))
    assert count == 1 and not labels.any()
    assert stats.tolist() == [[0, 0, 7, 5, 35]]


@pytest.mark.parametrize("min_distance", [2, 5, 9])
def test_local_maxima_matches_peak_local_max(min_distance):
    rng = np.random.default_rng(min_distance)
    image = cv2.GaussianBlur(rng.normal(size=(256, 300)).astype(np.float32), (0, 0), 3.0) * 10
    ours = local_maxima(image, min_distance=min_distance, threshold=0.3, border=4)
    ref = peak_local_max(image, min_distance=min_distance, threshold_abs=0.3, exclude_border=4)
    assert len(ours) > 5
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("shape", [(819, 819), (1000, 700), (358, 358)])
def test_shrink_mask_is_true_wherever_a_source_pixel_is(shape):
    mask = np.zeros((2048, 2048), bool)
    mask[1900:1990, 40:410] = True  # a scale bar box
    mask[5, 2047] = True  # one pixel in a corner
    small = shrink_mask(mask, shape)
    fy, fx = 2048 / shape[0], 2048 / shape[1]
    # brute force: target pixel (i, j) covers source rows [i fy, (i + 1) fy) and columns [j fx, (j + 1) fx)
    col_lo = np.floor(np.arange(shape[1]) * fx).astype(int)
    col_hi = np.minimum(np.ceil(np.arange(1, shape[1] + 1) * fx).astype(int), 2048)
    expected = np.zeros(shape, bool)
    for i in range(shape[0]):
        rows_any = mask[int(np.floor(i * fy)) : min(int(np.ceil((i + 1) * fy)), 2048)].any(axis=0)
        counts = np.concatenate([[0], np.cumsum(rows_any)])
        expected[i] = counts[col_hi] > counts[col_lo]
    np.testing.assert_array_equal(small, expected)
    # area resampling rounded to 0/1 never marks more than this
    area = cv2.resize(mask.astype(np.uint8), shape[::-1], interpolation=cv2.INTER_AREA) > 0
    assert not (area & ~small).any()


def test_percentile_matches_numpy():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 40, 999):
        for q in (0.0, 50.0, 75.0, 90.0, 100.0):
            values = rng.normal(size=n)
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=1e-12)
            values32 = values.astype(np.float32)
            assert percentile(values32, q) == pytest.approx(float(np.percentile(values32, q)), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("radius", [3, 9.6, 10, 15, 15.5, 24, 40])
def test_dilate_disk_matches_opencv_with_the_disk(radius):
    rng = np.random.default_rng(int(radius * 10))
    for density in (0.999, 0.97, 0.5):
        shape = (int(rng.integers(1, 200)), int(rng.integers(1, 200)))
        mask = rng.random(shape) > density
        expected = cv2.dilate(mask.astype(np.uint8), disk(radius)).astype(bool)
        assert np.array_equal(dilate_disk(mask, radius), expected)


@pytest.mark.parametrize("seed", range(6))
def test_masked_peaks_match_peak_local_max_on_distance_plateaus(seed):
    # distance transforms of merged blobs: many exactly equal values (plateaus) and ties
    mask = _blobs((120, 140), sigma=6.0, level=0.3, seed=seed)
    count, labels = label_components(mask)
    for k in range(1, count):
        region = labels == k
        if region.sum() < 30:
            continue
        dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
        for min_distance in (2, 4):
            expected = peak_local_max(
                dist, min_distance=min_distance, threshold_abs=1.5, labels=region.astype(np.int32), exclude_border=False
            )
            got = masked_peaks(dist, region, min_distance=min_distance, threshold=1.5)
            assert np.array_equal(got, expected)


def test_ray_positions_match_rounding_the_float_sums():

    angles = np.arange(36) * (2 * np.pi / 36)  # sin 30 deg etc. put offsets on half-integers
    rng = np.random.default_rng(3)
    for n_radii, size in ((30, 50), (122, 819), (300, 4096)):
        radii = np.arange(0.0, n_radii)
        for offsets in (np.sin(angles)[:, None] * radii, np.cos(angles)[:, None] * radii):
            centres = rng.integers(0, size, 300)
            expected = np.clip(np.rint(centres[:, None, None] + offsets[None]), 0, size - 1).astype(int)
            assert np.array_equal(_ray_positions(centres, offsets, size), expected)


def test_coarse_grid_block_means_and_back():

    assert coarse_block((819, 819), pixel_size_nm=2.0005, coarse_scale_nm=8.0) == 4
    assert coarse_block((9, 500), pixel_size_nm=0.5, coarse_scale_nm=8.0) == 3  # at least 3 blocks a side
    image = np.arange(7 * 10, dtype=np.float32).reshape(7, 10)
    coarse = to_coarse(image, 4)
    assert coarse.shape == (2, 3)
    assert coarse[0, 0] == pytest.approx(image[:4, :4].mean())
    # the last blocks repeat the last row and column
    padded = np.pad(image, ((0, 1), (0, 2)), mode="edge")
    assert coarse[1, 2] == pytest.approx(padded[4:8, 8:12].mean())
    back = from_coarse(np.full((2, 3), 5.0, np.float32), 4, image.shape)
    assert back.shape == image.shape and np.all(back == 5.0)


def test_labels_touching_a_mask_include_corner_neighbours_and_leave_the_rest():
    labels = np.zeros((6, 6), np.int32)
    labels[0, 0] = 1  # corner-adjacent to the mask pixel (1, 1)
    labels[1, 3] = 2  # two columns right of it: not touching
    labels[4:6, 4:6] = 3  # under the second mask pixel
    labels[3, 0] = 4  # far from both
    mask = np.zeros((6, 6), bool)
    mask[1, 1] = mask[5, 5] = True
    assert labels_touching(labels, mask).tolist() == [1, 3]
    assert labels_touching(labels, np.zeros_like(mask)).tolist() == []
