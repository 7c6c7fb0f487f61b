"""Stage 4 of the classical method: place each accepted outline at full resolution, on the outer membrane edge.

The mean intensity profile across the coarse edge (averaged along the whole
outline, which beats the noise) gives the half-level where the light interior
meets the dark membrane (its inner face); the outline is placed one membrane
thickness (``membrane_thickness_nm``) further out, at the outer membrane edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from exo_vision.segmentation.classical.checks import REASON_TOO_SMALL, Candidate
from exo_vision.segmentation.classical.parameters import ClassicalParameters
from exo_vision.segmentation.classical.preprocess import pixel_noise_std


@dataclass(frozen=True)
class FullResolution:
    """The image at full resolution (vesicles positive) and how it maps to the working grid."""

    image: np.ndarray
    sign: float
    pixel_size_nm: float
    fy: float
    fx: float


@dataclass(frozen=True)
class RefinedOutline:
    """A candidate's outline at full resolution: ``mask`` is a crop whose top-left pixel is ``(row, col)``."""

    row: int
    col: int
    mask: np.ndarray
    diameter_nm: float


class PixelNoise:
    """The image's per-pixel noise, measured once, when the first outline needs it."""

    def __init__(self, image: np.ndarray, params: ClassicalParameters) -> None:
        self._image = image
        self._params = params
        self.raw: float | None = None

    @property
    def value(self) -> float:
        """The noise in image units (never below ``params.smallest_noise``)."""
        if self.raw is None:
            rows_step = max(self._image.shape[0] // self._params.noise_sample_rows, 1)
            self.raw = pixel_noise_std(self._image[::rows_step, :])
        return max(self.raw, self._params.smallest_noise)


def crop_maps(*, rows: np.ndarray, cols: np.ndarray, fy: float, fx: float) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps that sample a working-scale crop at full-resolution pixel centres."""
    map_y = ((rows + 0.5) / fy - 0.5).astype(np.float32)
    map_x = ((cols + 0.5) / fx - 0.5).astype(np.float32)
    mx, my = np.meshgrid(map_x, map_y)
    return mx, my


def refine_outline(
    cand: Candidate, territory: np.ndarray, full: FullResolution, noise: PixelNoise, *, params: ClassicalParameters
) -> RefinedOutline | str:
    """The candidate's outline at full resolution, or :data:`REASON_TOO_SMALL` when it has no usable edge."""
    p, px = params, full.pixel_size_nm
    m, n = full.image.shape
    fr0, fr1 = int(np.floor(cand.r0 * full.fy)), min(int(np.ceil(cand.r1 * full.fy)), m)
    fc0, fc1 = int(np.floor(cand.c0 * full.fx)), min(int(np.ceil(cand.c1 * full.fx)), n)
    rows = np.arange(fr0, fr1, dtype=np.float64) - cand.r0 * full.fy
    cols = np.arange(fc0, fc1, dtype=np.float64) - cand.c0 * full.fx
    maps = crop_maps(rows=rows, cols=cols, fy=full.fy, fx=full.fx)
    up = cv2.remap(cand.region.astype(np.float32), *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    own_territory = cv2.remap(
        (territory[cand.crop] == cand.label).view(np.uint8), *maps, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
    ).view(bool)
    inside_up = up >= 0.5
    if not inside_up.any():
        return REASON_TOO_SMALL
    d_in = cv2.distanceTransform(inside_up.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    d_out = cv2.distanceTransform((~inside_up).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    signed_nm = np.where(inside_up, 0.5 - d_in, d_out - 0.5) * px
    crop = full.image[fr0:fr1, fc0:fc1] if full.sign > 0 else -full.image[fr0:fr1, fc0:fc1]
    sigma = p.refine_smooth_nm / px
    if sigma > p.refine_min_blur_px:
        crop = cv2.GaussianBlur(crop, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    noise_level = noise.value  # measured for the image once any outline gets this far
    profile = edge_profile(signed_nm, crop, own_territory, pixel_size_nm=px, params=p)
    if profile is None:
        return REASON_TOO_SMALL
    distance_nm, level, median_count = profile
    profile_noise = noise_level / np.sqrt(max(median_count, 1.0)) * p.profile_noise_sigmas
    offset = edge_offset_nm(distance_nm, level, noise=profile_noise, radius_nm=0.5 * cand.coarse_diameter_nm, params=p)
    if offset is None:
        offset = p.membrane_thickness_nm  # no resolvable membrane: assume one just outside
    final = own_territory & (signed_nm < offset)
    diameter_nm = 2.0 * np.sqrt(int(final.sum()) / np.pi) * px
    return RefinedOutline(fr0, fc0, final, diameter_nm)


def edge_profile(
    signed_nm: np.ndarray, crop: np.ndarray, use: np.ndarray, *, pixel_size_nm: float, params: ClassicalParameters
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Mean intensity against signed distance to the coarse outline (negative inside), smoothed over ~1 nm.

    Returns the bin centres (nm), the smoothed levels and the median number
    of pixels per bin, or None when fewer than ``params.profile_min_bins``
    bins hold pixels.
    """
    p = params
    half = p.profile_half_width_nm
    bin_nm = max(p.profile_bin_nm, 0.5 * pixel_size_nm)
    use = use & (signed_nm > -half) & (signed_nm < half)
    idx = np.floor((signed_nm[use] + half) / bin_nm).astype(np.int64)
    n_bins = int(np.ceil(2 * half / bin_nm)) + 1
    counts = np.bincount(idx, minlength=n_bins)
    sums = np.bincount(idx, weights=crop[use], minlength=n_bins)
    centres = -half + (np.arange(n_bins) + 0.5) * bin_nm
    profile = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    good = np.isfinite(profile)
    if good.sum() < p.profile_min_bins:
        return None
    level = profile[good]
    width = max(int(round(p.profile_smooth_nm / bin_nm)), 1)
    if width > 1:
        kernel = np.ones(width) / width
        level = np.convolve(np.pad(level, (width // 2, width - 1 - width // 2), mode="edge"), kernel, mode="valid")
    return centres[good], level, float(np.median(counts[good]))


def edge_offset_nm(
    profile_d_nm: np.ndarray,
    profile_v: np.ndarray,
    *,
    noise: float,
    radius_nm: float = np.inf,
    params: ClassicalParameters,
) -> float | None:
    """Outer membrane edge (nm, relative to the coarse edge) from a radial profile.

    The profile (mean intensity against signed distance to the coarse outline,
    vesicle-is-bright convention) runs from inside (negative) to outside. The
    vesicle's light interior ends where the profile falls half-way from the
    interior level to the dark valley of membrane and halo: that is the inner
    face of the membrane. The outline is placed one membrane thickness further
    out. Half-level crossings are robust to noise, and do not depend on how
    dark the halo is.

    ``radius_nm`` (the coarse object's radius) keeps the interior sample inside
    small objects. Returns None when the interior is not clearly lighter than
    the valley.
    """
    p = params
    deep = min(p.profile_interior_deep_nm, p.profile_interior_deep_fraction * radius_nm)
    shallow = min(p.profile_interior_shallow_nm, p.profile_interior_shallow_fraction * radius_nm)
    inner = (profile_d_nm >= -deep) & (profile_d_nm <= -shallow)
    valley_zone = (profile_d_nm >= -p.profile_valley_inner_nm) & (profile_d_nm <= p.profile_valley_outer_nm)
    if inner.sum() < p.profile_min_interior_bins or valley_zone.sum() < p.profile_min_valley_bins:
        return None
    level_in = float(np.median(profile_v[inner]))
    level_out = float(profile_v[valley_zone].min())
    if level_in - level_out < p.profile_min_step_noises * noise:
        return None
    half = 0.5 * (level_in + level_out)
    start = int(np.flatnonzero(profile_d_nm >= -shallow)[0])
    for k in range(start, len(profile_v)):
        if profile_v[k] < half:
            if k == 0:
                return float(profile_d_nm[0]) + p.membrane_thickness_nm
            v0, v1 = profile_v[k - 1], profile_v[k]
            d0, d1 = profile_d_nm[k - 1], profile_d_nm[k]
            frac = (v0 - half) / (v0 - v1) if v0 != v1 else 0.5
            return float(d0 + frac * (d1 - d0)) + p.membrane_thickness_nm
    return None
