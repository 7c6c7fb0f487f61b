"""How visible each truth object of a generated image is: its signal-to-noise ratio by the Rose criterion.

A generator that draws objects near the noise on purpose can label objects that
no observer could see. Scoring a segmenter against them measures the generator,
not the segmenter. For a generated image the noise-free image is known, so the
visibility of each labelled object can be read from its own pixels:

* its **signal** is the noise-free image inside the object minus the local
  background ``b`` (the median of the noise-free image in a ring around the
  object, whatever lies there: film, stain or a larger vesicle it rests on);
* the **noise** ``sigma`` is the standard deviation of (image - noise-free
  image) over the object and its ring;
* its **signal-to-noise ratio** is ``sqrt(sum((noise_free - b) ** 2)) / sigma``
  over the object's pixels: the ratio an ideal observer who knows the object's
  exact shape reaches against white noise (A. Rose, *J. Opt. Soc. Am.* 38, 196,
  1948, for a uniform disc: contrast x sqrt(pixel count) / noise).

Rose found that human observers need a ratio of about 5 to see an object
reliably (:data:`ROSE_THRESHOLD`). The measure is an upper bound on what any
observer can do: it credits the observer with knowing the shape and the
background exactly, and where the noise is correlated (a render enlarged from a
coarser one) the per-pixel ``sigma`` understates the noise of a sum. So an
object below the threshold is below what a person can see, not merely hard.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: Signal-to-noise ratio an observer needs to see an object reliably (Rose 1948).
ROSE_THRESHOLD = 5.0


def rose_snr(
    labels: np.ndarray, image: np.ndarray, noise_free: np.ndarray, *, ring_fraction: float = 0.5, min_ring_px: int = 2
) -> dict[int, float]:
    """Signal-to-noise ratio of every labelled object (see the module docstring).

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels of the truth objects, 0 = background.
    image : (M, N) ndarray of float
        The image as a segmenter sees it (with its noise).
    noise_free : (M, N) ndarray of float
        The same image without its noise, on the same grey scale.
    ring_fraction : float
        Width of the background ring around an object as a fraction of its
        equivalent radius.
    min_ring_px : int
        Smallest ring width, pixels.

    Returns
    -------
    dict of int to float
        Label -> ratio (``inf`` where the image holds no noise at the object).

    Raises
    ------
    ValueError
        When the three arrays differ in shape or the ring settings are not positive.
    """
    labels = np.asarray(labels)
    image = np.asarray(image, dtype=np.float64)
    noise_free = np.asarray(noise_free, dtype=np.float64)
    if not labels.shape == image.shape == noise_free.shape or labels.ndim != 2:
        raise ValueError(
            f"labels, image and noise_free must be 2-D arrays of one shape, got {labels.shape}, "
            f"{image.shape} and {noise_free.shape}"
        )
    if ring_fraction <= 0 or min_ring_px < 1:
        raise ValueError(f"ring_fraction must be > 0 and min_ring_px >= 1, got {ring_fraction} and {min_ring_px}")
    noise = image - noise_free
    out: dict[int, float] = {}
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        inside_box = labels[box] == index
        radius = np.sqrt(inside_box.sum() / np.pi)
        width = max(int(round(ring_fraction * radius)), int(min_ring_px))
        grown = tuple(
            slice(max(s.start - width, 0), min(s.stop + width, size)) for s, size in zip(box, labels.shape, strict=True)
        )
        inside = labels[grown] == index
        disk = np.hypot(*np.mgrid[-width : width + 1, -width : width + 1]) <= width
        ring = ndi.binary_dilation(inside, structure=disk) & ~inside
        clean = noise_free[grown]
        background = float(np.median(clean[ring])) if ring.any() else float(np.median(clean[inside]))
        signal = float(np.sqrt(np.sum((clean[inside] - background) ** 2)))
        sigma = float(noise[grown][inside | ring].std())
        out[index] = signal / sigma if sigma > 1e-9 else float("inf")
    return out


def invisible_labels(
    labels: np.ndarray, image: np.ndarray, noise_free: np.ndarray, *, threshold: float = ROSE_THRESHOLD
) -> set[int]:
    """Labels whose signal-to-noise ratio (:func:`rose_snr`) lies below ``threshold``."""
    return {k for k, snr in rose_snr(labels, image, noise_free).items() if snr < threshold}
