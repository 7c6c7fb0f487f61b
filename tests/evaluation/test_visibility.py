"""Signal-to-noise ratio of truth objects (Rose criterion) on hand-built and generated images."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.evaluation import ROSE_THRESHOLD, invisible_labels, rose_snr
from exo_vision.synthetic.tem_random import make_random_tem


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_a_uniform_disc_in_white_noise_has_contrast_times_root_area_over_sigma():
    shape = (120, 120)
    labels = np.zeros(shape, np.int32)
    labels[_disc(shape, (40, 40), 12)] = 1
    labels[_disc(shape, (85, 85), 12)] = 2
    noise_free = np.full(shape, 0.5)
    noise_free[labels == 1] += 0.06
    noise_free[labels == 2] -= 0.01  # the same disc, a sixth of the contrast
    noise = np.random.default_rng(3).normal(0.0, 0.1, shape)
    snr = rose_snr(labels, noise_free + noise, noise_free)
    area = int((labels == 1).sum())
    # by hand: contrast x sqrt(pixels) / sigma = 0.06 x sqrt(441) / 0.1 = 12.6 and 2.1 (sigma read from the noise)
    assert snr[1] == pytest.approx(0.06 * np.sqrt(area) / 0.1, rel=0.06)
    assert snr[2] == pytest.approx(0.01 * np.sqrt(area) / 0.1, rel=0.06)
    assert invisible_labels(labels, noise_free + noise, noise_free) == {2}
    assert ROSE_THRESHOLD == 5.0


def test_the_background_is_what_surrounds_the_object_and_noise_free_objects_are_always_visible():
    shape = (100, 100)
    labels = np.zeros(shape, np.int32)
    big = _disc(shape, (50, 50), 30)
    small = _disc(shape, (50, 50), 6)
    labels[big & ~small] = 1
    labels[small] = 2
    noise_free = np.full(shape, 0.2)
    noise_free[big] = 0.7  # a large bright vesicle ...
    noise_free[small] = 0.72  # ... and a small one on it, barely brighter than what it lies on
    noise = np.random.default_rng(4).normal(0.0, 0.05, shape)
    snr = rose_snr(labels, noise_free + noise, noise_free)
    # against the large vesicle around it (not the film) the small one has 0.02 x sqrt(113) / 0.05 = 4.3
    assert snr[2] == pytest.approx(0.02 * np.sqrt((labels == 2).sum()) / 0.05, rel=0.1)
    assert snr[2] < ROSE_THRESHOLD < snr[1]
    assert rose_snr(labels, noise_free, noise_free) == {1: np.inf, 2: np.inf}


def test_rose_snr_rejects_arrays_of_different_shapes():
    with pytest.raises(ValueError, match="one shape"):
        rose_snr(np.zeros((4, 4), int), np.zeros((4, 5)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="ring_fraction"):
        rose_snr(np.zeros((4, 4), int), np.zeros((4, 4)), np.zeros((4, 4)), ring_fraction=0)


def test_generated_noise_free_twin_and_annotation_mask():
    sample = make_random_tem((256, 256), pixel_size_nm=3.0, rng=5)  # seed 5 burns in a data strip
    again = make_random_tem((256, 256), pixel_size_nm=3.0, rng=5)
    assert np.array_equal(sample.image, again.image) and np.array_equal(sample.noise_free, again.noise_free)
    assert sample.noise_free.shape == sample.image.shape and sample.noise_free.dtype == np.float32
    assert 0.0 <= sample.noise_free.min() and sample.noise_free.max() <= 1.0
    residual = sample.image - sample.noise_free
    assert 0.005 < residual.std() < 0.3  # the twin differs from the image by its noise only
    # the strip: 5-10 % of the height, whole rows at the bottom, nothing above it
    rows = np.flatnonzero(sample.annotation.any(axis=1))
    assert sample.annotation.dtype == bool and 12 <= rows.size <= 26 and rows[-1] == 255
    assert sample.annotation[rows].all() and np.array_equal(rows, np.arange(256 - rows.size, 256))
    plain = make_random_tem((256, 256), pixel_size_nm=3.0, rng=1)
    assert not plain.annotation.any()
