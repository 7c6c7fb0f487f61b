"""Stage 3 of the classical method: decide on each candidate at the working scale, with a reason when rejected.

Each rule is a function of one :class:`Candidate` that returns a rejection
reason (the text users see) or None. The shape rule may also strip a rod off
a vesicle or close a broken cup rim, changing the candidate's region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exo_vision.segmentation.classical.candidates import close_ring, rim_mean
from exo_vision.segmentation.classical.parameters import ClassicalParameters
from exo_vision.segmentation.classical.shape import region_elongation, strip_thin_parts
from exo_vision.segmentation.morphology_ops import percentile, solidity

#: Rejection reasons (the text users see).
REASON_TOO_SMALL = "too small: below min_diameter_nm (small particle, e.g. lipoprotein)"
REASON_TOO_LARGE = "too large: above max_diameter_nm"
REASON_ELONGATED = "elongated: tubular debris or filament"
REASON_NOT_SOLID = "not solid: protein aggregate or stain debris"
REASON_NO_RIM = "no dark membrane or stain halo around it"
REASON_PRECIPITATE = "stain precipitate: dark dense blob without membrane"
REASON_EXCLUDED = "lies on the excluded area (scale bar, label or data strip)"
REASON_NOT_LIGHTER = "not lighter than the stain (a dark region enclosed by darker stain)"
REASON_BACKGROUND = "covers a fifth of the image: uneven stain, not a vesicle"
REASON_LOW_CONTRAST = "too faint: contrast below the detection threshold"
REASON_NO_MEMBRANE = "small particle without a membrane (e.g. lipoprotein): only a faint halo around it"


@dataclass
class Candidate:
    """One candidate in its crop ``[r0:r1, c0:c1]`` of the working grid.

    Attributes
    ----------
    label : int
        Its label in the candidate image.
    r0, r1, c0, c1 : int
        The crop (the candidate plus a margin).
    region : (r1 - r0, c1 - c0) ndarray of bool
        The candidate now (shape rules may change it).
    first : ndarray of bool
        The candidate as first found (rejections are placed at its centroid).
    coarse_diameter_nm : float
        Equivalent diameter of ``first`` at the working scale.
    """

    label: int
    r0: int
    r1: int
    c0: int
    c1: int
    region: np.ndarray
    first: np.ndarray
    coarse_diameter_nm: float

    @property
    def crop(self) -> tuple[slice, slice]:
        """The crop's slices into the working grid."""
        return slice(self.r0, self.r1), slice(self.c0, self.c1)


@dataclass(frozen=True)
class RimEvidence:
    """Contrast of a candidate's interior and of the membrane-and-halo ring around it (noise units)."""

    outside: float
    inside_mean: float
    upper: float
    reason: str | None


def screen(
    cand: Candidate,
    *,
    working_shape: tuple[int, int],
    excluded: np.ndarray | None,
    min_diameter_nm: float,
    params: ClassicalParameters,
) -> tuple[str, float] | None:
    """The cheap checks: uneven stain, the excluded area, far too small. ``(reason, diameter_nm)`` or None."""
    area_px = int(cand.region.sum())
    if area_px > params.max_image_fraction * working_shape[0] * working_shape[1]:
        return REASON_BACKGROUND, cand.coarse_diameter_nm
    if excluded is not None and excluded[cand.crop][cand.region].mean() > params.max_excluded_fraction:
        return REASON_EXCLUDED, cand.coarse_diameter_nm
    # the interior seen by the detector is about one membrane smaller than the vesicle
    with_membrane_nm = cand.coarse_diameter_nm + 2 * params.membrane_thickness_nm
    if with_membrane_nm + params.coarse_size_allowance_nm < min_diameter_nm:
        return REASON_TOO_SMALL, with_membrane_nm
    return None


def shape_rules(
    cand: Candidate,
    *,
    coarse: np.ndarray,
    territory: np.ndarray,
    scale_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters,
) -> tuple[str | None, list[tuple[str, float]]]:
    """Rods and aggregates: strip a rod lying across a vesicle, close a broken cup rim, reject the rest.

    ``coarse`` and ``territory`` (working-grid labels) are updated in place
    when the region changes. Returns the rejection reason of the candidate
    (or None) and the rejections of parts stripped off it as
    ``(reason, diameter_nm)``.
    """
    p = params
    stripped: list[tuple[str, float]] = []
    if int(cand.region.sum()) < p.shape_min_area_px:
        return None, stripped
    crop, region = cand.crop, cand.region
    if region_elongation(region, p) > p.max_elongation:
        # a vesicle with a filament or rod lying across it: strip thin parts
        body = strip_thin_parts(region, radius_px=p.rod_strip_radius_nm / scale_nm)
        min_body = np.pi * (0.5 * min_diameter_nm / scale_nm) ** 2 * p.rod_min_body_fraction
        if body is None or body.sum() < min_body or region_elongation(body, p) > p.rod_max_body_elongation:
            return REASON_ELONGATED, stripped
        stripped.append((REASON_ELONGATED, 2.0 * np.sqrt((region & ~body).sum() / np.pi) * scale_nm))
        coarse[crop][region & ~body] = 0
        territory[crop][region & ~body] = 0
        region = body
    if solidity(region) < p.min_solidity:
        hull = close_ring(region, max_diameter_px=max_diameter_nm / scale_nm, params=p)
        if hull is None:
            cand.region = region
            return REASON_NOT_SOLID, stripped
        # a faint cup rim seen as a broken ring: the cup is the whole disc
        region = hull & ((coarse[crop] == 0) | (coarse[crop] == cand.label))
        coarse[crop][region] = cand.label
        territory[crop][region] = cand.label
    cand.region = region
    return None, stripped


def rim_evidence(
    cand: Candidate,
    *,
    vesicle_z: np.ndarray,
    coarse: np.ndarray,
    scale_nm: float,
    min_diameter_nm: float,
    high: float,
    params: ClassicalParameters,
) -> RimEvidence:
    """Is the candidate lighter than the stain, ringed by a dark membrane and halo, and above the noise?"""
    p = params
    zc = vesicle_z[cand.crop]
    others = (coarse[cand.crop] != 0) & ~cand.region
    outside = rim_mean(zc, cand.region, scale_nm=scale_nm, ignore=others, params=p)
    inside_z = zc[cand.region]
    inside_mean = float(inside_z.mean())
    # a cup's dark centre may pull the mean below zero; its rim is still light
    # (a faint vesicle inside a dark halo may sit near the stain level: what
    # matters then is that it is lighter than its own rim, checked next)
    upper = percentile(inside_z, p.interior_percentile)
    if upper < 0.0:
        return RimEvidence(outside, inside_mean, upper, REASON_NOT_LIGHTER)
    if (
        not np.isfinite(outside)
        or outside > -p.min_rim_darkness_fraction * abs(inside_mean)
        or inside_mean - outside < p.min_rim_step_z
    ):
        return RimEvidence(outside, inside_mean, upper, REASON_NO_RIM)
    # A faint vesicle is seen by its outline: the step from its light interior
    # (upper quartile, as a cup's dark centre pulls lower ones down) to the dark
    # membrane and halo ring around it. Averaged over the whole interior and
    # ring, that step is far less noisy than any one pixel: it must reach the
    # detection threshold by itself. Only for candidates above the
    # small-particle size (membrane included): a small grain of a protein
    # aggregate, or a lipoprotein, has too few pixels for the average to mean much.
    with_membrane_nm = cand.coarse_diameter_nm + 2 * p.membrane_thickness_nm
    outlined = with_membrane_nm >= p.small_particle_diameter_nm(min_diameter_nm) and upper - outside >= high
    if float(inside_z.max()) < high and not outside < -high and not outlined:
        return RimEvidence(outside, inside_mean, upper, REASON_LOW_CONTRAST)
    return RimEvidence(outside, inside_mean, upper, None)


def final_size_rules(
    cand: Candidate,
    diameter_nm: float,
    *,
    vesicle_z: np.ndarray,
    outside: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters,
) -> str | None:
    """Size limits on the refined outline, and the membrane test for small particles."""
    if diameter_nm < min_diameter_nm:
        return REASON_TOO_SMALL
    if diameter_nm > max_diameter_nm:
        return REASON_TOO_LARGE
    # A lipoprotein-sized particle passes the size test once the refinement
    # adds the membrane it does not have; it is told apart by its rim: a
    # vesicle's membrane and stain halo are deep, its halo faint.
    if diameter_nm < params.small_particle_diameter_nm(min_diameter_nm):
        interior = percentile(vesicle_z[cand.crop][cand.region], params.rim_depth_interior_percentile)
        if -outside < params.min_rim_depth_fraction * interior:
            return REASON_NO_MEMBRANE
    return None
