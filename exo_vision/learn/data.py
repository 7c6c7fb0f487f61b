"""Training samples: generated micrographs at the working scale, normalised, with their targets."""

from __future__ import annotations

from typing import Literal, cast

import cv2
import numpy as np

from exo_vision.learn.targets import make_targets
from exo_vision.segmentation.learned.network_input import normalise_for_network, to_working_scale
from exo_vision.synthetic.tem import make_synthetic_tem
from exo_vision.synthetic.tem_random import GENERATOR_VERSION, make_random_tem

#: Fraction of samples drawn from the project's first generator (:mod:`exo_vision.synthetic.tem`).
LEGACY_FRACTION = 0.08


def _fit(array: np.ndarray, size: int, rng: np.random.Generator, *, fill: float) -> tuple[np.ndarray, tuple]:
    """Random crop (or pad) of ``array`` to ``size`` x ``size``; returns the slices used."""
    m, n = array.shape
    out = np.full((size, size), fill, array.dtype)
    r0 = int(rng.integers(0, max(m - size, 0) + 1))
    c0 = int(rng.integers(0, max(n - size, 0) + 1))
    crop = array[r0 : r0 + size, c0 : c0 + size]
    out[: crop.shape[0], : crop.shape[1]] = crop
    return out, (r0, c0)


def legacy_sample(size: int, *, working_scale_nm: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A crop of the first generator's micrograph, resampled to the working scale."""
    px = float(rng.uniform(0.8, 2.5))
    side = int(size * working_scale_nm / px * 1.1)
    level = cast(Literal["easy", "medium", "hard", "extreme"], str(rng.choice(["easy", "medium", "hard", "extreme"])))
    polarity = cast(Literal["bright", "dark"], str(rng.choice(["bright", "dark"], p=[0.75, 0.25])))
    image, truth = make_synthetic_tem(
        (side, side), pixel_size_nm=px, difficulty=level, polarity=polarity, scale_bar=False, dtype=np.float32, rng=rng
    )
    small = to_working_scale(image, pixel_size_nm=px, working_scale_nm=working_scale_nm)
    labels = cv2.resize(
        truth.labels.astype(np.int32), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST
    )
    img, (r0, c0) = _fit(small, size, rng, fill=float(np.median(small)))
    lab = np.zeros((size, size), np.int32)
    crop = labels[r0 : r0 + size, c0 : c0 + size]
    lab[: crop.shape[0], : crop.shape[1]] = crop
    return img, lab


def make_sample(
    size: int, *, working_scale_nm: float, rng: np.random.Generator, generator: str = GENERATOR_VERSION
) -> tuple[np.ndarray, np.ndarray]:
    """One normalised training image and its (3, size, size) targets.

    ``generator`` is the look-space of :func:`exo_vision.synthetic.tem_random.make_random_tem`;
    a share :data:`LEGACY_FRACTION` of the samples comes from the first generator instead.

    Returns
    -------
    image : (size, size) ndarray of float32
        After :func:`normalise_for_network`, as at inference.
    targets : (3, size, size) ndarray of float32
        See :func:`exo_vision.learn.targets.make_targets`.
    """
    if rng.random() < LEGACY_FRACTION:
        image, labels = legacy_sample(size, working_scale_nm=working_scale_nm, rng=rng)
    else:
        sample = make_random_tem((size, size), pixel_size_nm=working_scale_nm, rng=rng, version=generator)
        image, labels = sample.image, sample.labels
    return normalise_for_network(image), make_targets(labels)


def make_pool(
    count: int, *, size: int, working_scale_nm: float, seed: int, generator: str = GENERATOR_VERSION
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` samples from ``seed``: images (count, size, size) and targets (count, 3, size, size), float16."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size), np.float16)
    targets = np.empty((count, 3, size, size), np.float16)
    for k in range(count):
        images[k], targets[k] = make_sample(size, working_scale_nm=working_scale_nm, rng=rng, generator=generator)
    return images, targets
