"""A "new microscope": appearance changes outside the ranges the shipped model was trained on.

Used by ``benchmarks/finetune.py`` to show what fine-tuning on a few curated
micrographs does for a lab whose images look unlike anything the model saw.
The transform keeps the vesicles where they are (the truth labels stay valid)
and changes only how the image looks: a wide point-spread function, a very
low electron dose, scan-line banding of the camera and a strong tone curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class MicroscopeStyle:
    """Appearance of the new microscope (all outside the generator's training ranges).

    Attributes
    ----------
    blur_nm : float
        Gaussian point-spread sigma, nm (training: 0.3-1.3 px at 1.5-6 nm/px).
    dose : float
        Electrons per pixel at grey level 1 (training: 5-500).
    banding : float
        Amplitude of horizontal scan-line banding, in grey levels of the [0, 1] image.
    band_period_nm : float
        Period of the banding, nm.
    gamma : float
        Tone curve exponent applied last (training: 0.7-1.5).
    fringe : float
        Strength of defocus (Fresnel-like) fringes: the image plus this many times its
        difference from a ``fringe_nm`` blur (none in training).
    fringe_nm : float
        Width of the fringes, nm.
    """

    blur_nm: float = 4.0
    dose: float = 10.0
    banding: float = 0.15
    band_period_nm: float = 14.0
    gamma: float = 2.2
    fringe: float = 0.0
    fringe_nm: float = 8.0


def apply_microscope_style(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    style: MicroscopeStyle = MicroscopeStyle(),
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Render ``image`` (float in [0, 1]) as the new microscope would.

    Parameters
    ----------
    image : (M, N) ndarray
        A generated micrograph, grey levels in [0, 1].
    pixel_size_nm : float
        Its pixel edge length, nm.
    style : MicroscopeStyle
        The appearance.
    rng : int or numpy.random.Generator, optional
        Seed or generator of the noise and the banding phase.

    Returns
    -------
    (M, N) ndarray of float32 in [0, 1]
    """
    rng = np.random.default_rng(rng)
    img = np.asarray(image, np.float32)
    if style.fringe:
        img = img + style.fringe * (img - cv2.GaussianBlur(img, (0, 0), style.fringe_nm / pixel_size_nm))
    img = cv2.GaussianBlur(img, (0, 0), style.blur_nm / pixel_size_nm)
    img = np.clip(img, 0.0, 1.0)
    img = rng.poisson(img * style.dose + 0.05).astype(np.float32) / style.dose
    rows = np.arange(img.shape[0], dtype=np.float32)[:, None]
    phase = rng.uniform(0, 2 * np.pi)
    img = img + style.banding * np.sign(np.sin(2 * np.pi * rows * pixel_size_nm / style.band_period_nm + phase))
    lo, hi = np.percentile(img, [0.5, 99.5])
    img = np.clip((img - lo) / max(float(hi - lo), 1e-6), 0, 1) ** style.gamma
    return img.astype(np.float32)
