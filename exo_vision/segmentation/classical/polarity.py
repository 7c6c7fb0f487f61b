"""Which way round is the contrast: vesicles lighter or darker than the stain?

Both hypotheses are tried on the noise-normalised contrast image. Under the
right one, candidates are closed by a dark membrane and stain halo, so the
ring just outside them is darker than bare stain. Under the wrong one, what
gets detected are stain halos seen the wrong way round (bright rings that hole
filling closes), which fade into bare stain: no darker surround. The hypothesis with the larger summed
evidence wins; ties go to "bright", the usual negative stain.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy import ndimage as ndi

from exo_vision.segmentation.classical.candidates import candidate_mask, rim_mean, ring_mean
from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS, ClassicalParameters
from exo_vision.segmentation.morphology_ops import label_components


def polarity_evidence(
    z: np.ndarray,
    *,
    scale_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    sensitivity: float,
    mask: np.ndarray | None = None,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> float:
    """Summed evidence that objects lighter than the stain (z > 0) are vesicles.

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast at ``scale_nm`` per pixel.
    scale_nm : float
        Pixel edge length of ``z`` in nm.
    min_diameter_nm, max_diameter_nm : float
        Size range of vesicles in nm.
    sensitivity : float
        Detection sensitivity in [0, 1].
    mask : (M, N) ndarray of bool, optional
        ``candidate_mask(z, ...)`` if the caller already has it (saves
        recomputing it).
    params : ClassicalParameters
        The ``polarity_*`` rules.

    Returns
    -------
    float
        Non-negative score; compare the score of ``z`` with that of ``-z``.
    """
    if mask is None:
        mask = candidate_mask(z, scale_nm=scale_nm, sensitivity=sensitivity, params=params)
    n, labels = label_components(mask)
    n -= 1
    if n == 0:
        return 0.0
    min_area = np.pi * (0.5 * min_diameter_nm / scale_nm) ** 2 * params.polarity_min_area_fraction
    max_area = np.pi * (0.5 * max_diameter_nm / scale_nm) ** 2 * params.polarity_max_area_ratio
    margin = int(np.ceil(params.polarity_margin_nm / scale_nm)) + 1
    score = 0.0
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        r0 = max(sl[0].start - margin, 0)
        r1 = min(sl[0].stop + margin, z.shape[0])
        c0 = max(sl[1].start - margin, 0)
        c1 = min(sl[1].stop + margin, z.shape[1])
        region = labels[r0:r1, c0:c1] == i
        area = int(region.sum())
        if not min_area <= area <= max_area:
            continue
        zc = z[r0:r1, c0:c1]
        outside = rim_mean(zc, region, scale_nm=scale_nm, params=params)
        if not np.isfinite(outside):
            continue
        # a vesicle is closed by a dark membrane and halo: the surround is darker
        # than bare stain. A filled-in bright ring (a halo seen the wrong way
        # round) fades into bare stain instead.
        inside = float(zc[region].mean())
        if inside <= 0.0 or inside - outside < params.polarity_min_step_z:
            continue  # not lighter than the stain and its surround: not a vesicle
        # Seen the wrong way round, a cup's dark centre looks like a small light
        # object in a dark ring (the cup's rim), but beyond that ring lie the
        # membrane and halo, now light. Around a real vesicle the halo fades to
        # bare stain, never to something lighter than it.
        far = ring_mean(
            zc,
            region,
            inner_px=params.polarity_far_inner_nm / scale_nm,
            outer_px=params.polarity_far_outer_nm / scale_nm,
        )
        if np.isfinite(far) and far > params.polarity_max_far_z:
            continue
        score += max(-outside, 0.0) * np.sqrt(area)
    return score


def detect_vesicle_polarity(
    z: np.ndarray,
    *,
    scale_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    sensitivity: float,
    masks: tuple[np.ndarray, np.ndarray] | None = None,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> tuple[Literal["bright", "dark"], dict[str, float]]:
    """Decide whether vesicles are lighter ("bright") or darker ("dark") than the stain.

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast (lighter = positive) at ``scale_nm`` per pixel.
    scale_nm : float
        Pixel edge length of ``z`` in nm.
    min_diameter_nm, max_diameter_nm : float
        Vesicle size range in nm.
    sensitivity : float
        Detection sensitivity in [0, 1].
    masks : tuple of two (M, N) ndarray of bool, optional
        ``candidate_mask`` of ``z`` and of ``-z`` if the caller already has them.
    params : ClassicalParameters
        The ``polarity_*`` rules.

    Returns
    -------
    polarity : {"bright", "dark"}
    scores : dict
        ``{"bright": float, "dark": float}``, the evidence for each.
    """
    kwargs: dict[str, Any] = dict(
        scale_nm=scale_nm,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        sensitivity=sensitivity,
        params=params,
    )
    bright_mask, dark_mask = masks if masks is not None else (None, None)
    bright = polarity_evidence(z, mask=bright_mask, **kwargs)
    dark = polarity_evidence(-z, mask=dark_mask, **kwargs)
    return ("dark" if dark > bright else "bright"), {"bright": bright, "dark": dark}
