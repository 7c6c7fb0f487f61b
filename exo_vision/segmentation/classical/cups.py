"""Cups whose faint rim broke into pieces, found from their dark, stain-filled centre.

A cup is a dark centre inside a lighter rim at a nearly constant distance.
From each dark local minimum of the contrast image not already inside an
object, rays look for the rim: the brightest point within the largest cup
radius, lighter than both the centre and the stain just beyond it. Where
that holds in most directions at a consistent radius, the filled outline is
a cup (:func:`find_faint_cups`); :func:`add_faint_cups` makes it one
candidate in place of the rim pieces the detector saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS, ClassicalParameters
from exo_vision.segmentation.classical.shape import is_round_body, strip_thin_parts
from exo_vision.segmentation.morphology_ops import local_maxima

#: Offsets within this distance of a half-integer are rounded in floating point (see :func:`_ray_positions`).
_HALF_INTEGER_TOLERANCE = 1e-6


@dataclass(frozen=True)
class RayGeometry:
    """Where the rays of the cup search run, in working pixels."""

    angles: np.ndarray
    radii: np.ndarray
    r_min_px: float
    r_max_px: float
    beyond_px: float
    centre_radius_px: float


@dataclass(frozen=True)
class RimTrace:
    """The rim seen around one centre: per-direction profiles, peaks and the stain beyond."""

    cy: float
    cx: float
    profiles: np.ndarray
    centre: float
    k_peak: np.ndarray
    peak: np.ndarray
    beyond: np.ndarray
    seen: np.ndarray
    r_peak: np.ndarray


def ray_geometry(
    *, scale_nm: float, min_diameter_nm: float, max_diameter_nm: float, params: ClassicalParameters
) -> RayGeometry:
    """The rays' directions, sample radii and search limits for one working scale."""
    p = params
    r_min_px = max(
        0.5 * max(min_diameter_nm, p.cup_min_diameter_nm) / scale_nm * p.cup_min_radius_fraction, p.cup_min_radius_px
    )
    r_max_px = 0.5 * min(max_diameter_nm, p.cup_max_diameter_nm) / scale_nm
    beyond_px = max(p.cup_beyond_nm / scale_nm, p.cup_beyond_min_px)
    angles = np.arange(p.cup_directions) * (2 * np.pi / p.cup_directions)
    radii = np.arange(0.0, p.cup_ray_length_ratio * r_max_px + beyond_px + 1.0)
    centre_radius_px = max(p.cup_centre_radius_nm / scale_nm, p.cup_centre_min_radius_px)
    return RayGeometry(angles, radii, r_min_px, r_max_px, beyond_px, centre_radius_px)


def find_faint_cups(
    z: np.ndarray,
    coarse: np.ndarray,
    *,
    scale_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> list[tuple[int, int, np.ndarray]]:
    """Whole cups whose faint rim broke into separate pieces, found from their dark centre.

    Parameters
    ----------
    z : (M, N) ndarray of float32
        Noise-normalised contrast, vesicles positive.
    coarse : (M, N) ndarray of int32
        Objects found so far (0 = background); a minimum inside one is skipped.
    scale_nm : float
        Pixel edge length of ``z`` in nm.
    min_diameter_nm, max_diameter_nm : float
        Vesicle size limits in nm (cups under ``params.cup_min_diameter_nm`` do not collapse visibly).
    params : ClassicalParameters
        The ``cup_*`` thresholds (rim contrast, coverage, consistency of the radius).

    Returns
    -------
    list of (row, col, disc)
        One filled outline per cup found: ``disc`` (bool) is a crop whose
        top-left pixel is ``(row, col)`` of ``z``.
    """
    p = params
    ray_z = cv2.GaussianBlur(z, (0, 0), max(p.cup_ray_smooth_nm / scale_nm, p.cup_min_blur_px))
    centre_field = cv2.GaussianBlur(z, (0, 0), max(p.cup_centre_smooth_nm / scale_nm, p.cup_min_blur_px))
    geo = ray_geometry(scale_nm=scale_nm, min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm, params=p)
    minima = local_maxima(
        -centre_field, min_distance=max(int(geo.r_min_px), 2), threshold=p.cup_rim_contrast_z, border=int(geo.r_min_px)
    )
    # a minimum inside an object found so far is skipped: drop it before the costly ray test
    minima = minima[coarse[minima[:, 0], minima[:, 1]] == 0] if len(minima) else minima
    if len(minima):
        minima = minima[_screen_minima(ray_z, minima, geo, p)]
    cups: list[tuple[int, int, np.ndarray]] = []
    taken = np.zeros(z.shape, bool)
    for cy0, cx0 in minima:
        if coarse[cy0, cx0] != 0 or taken[cy0, cx0]:
            continue
        trace = _trace_rim(ray_z, float(cy0), float(cx0), geo, p)
        if (
            trace.centre > -p.cup_centre_depth_fraction * p.cup_rim_contrast_z
            or trace.seen.sum() < p.cup_min_rim_directions
        ):
            continue
        cup = _cup_outline(
            trace,
            z.shape,
            geo,
            scale_nm=scale_nm,
            min_diameter_nm=min_diameter_nm,
            max_diameter_nm=max_diameter_nm,
            params=p,
        )
        if cup is None:
            continue
        r0, c0, disc = cup
        taken[r0 : r0 + disc.shape[0], c0 : c0 + disc.shape[1]] |= disc
        cups.append(cup)
    return cups


def _screen_minima(ray_z: np.ndarray, minima: np.ndarray, geo: RayGeometry, p: ClassicalParameters) -> np.ndarray:
    """Quick test of every minimum at once (bool per minimum): is a rim seen in enough directions?"""
    m, n = ray_z.shape
    radii = geo.radii
    centre_px = radii <= geo.centre_radius_px
    keep = np.zeros(len(minima), bool)
    ray_rows, ray_cols = np.sin(geo.angles)[:, None] * radii, np.cos(geo.angles)[:, None] * radii
    zb_flat = ray_z.ravel()
    for start in range(0, len(minima), p.cup_batch_size):
        batch = minima[start : start + p.cup_batch_size]
        ys = _ray_positions(batch[:, 0], ray_rows, m)
        xs = _ray_positions(batch[:, 1], ray_cols, n)
        if m * n > np.iinfo(np.int32).max:
            ys = ys.astype(np.int64)
        ys *= n
        ys += xs
        prof = zb_flat.take(ys)  # (minima, directions, radii)
        centre = prof[:, :, centre_px].mean(axis=(1, 2))
        k_peak, _, _ = _rim_peaks(prof, radii, geo.r_min_px, geo.r_max_px, geo.beyond_px)
        # second pass near each minimum's typical rim radius, as in _trace_rim
        r_med = np.median(radii[k_peak], axis=1)[:, None, None]
        near = (radii >= np.maximum(p.cup_rim_search_low_fraction * r_med, geo.r_min_px)) & (
            radii <= np.minimum(p.cup_rim_search_high_fraction * r_med, geo.r_max_px)
        )
        k_peak, peak, _ = _rim_peaks(
            np.where(near, prof, -np.inf),
            radii,
            geo.r_min_px,
            geo.r_max_px,
            max(geo.beyond_px, p.cup_reach_radius_fraction * float(r_med.max())),
        )
        beyond = _min_after(prof, k_peak, int(geo.beyond_px))  # darkest beyond the rim, from the real profile
        seen = peak - np.maximum(beyond, centre[:, None]) >= p.cup_rim_contrast_z
        r_peak = radii[k_peak]
        n_seen = seen.sum(axis=1, keepdims=True)
        # median rim radius over the directions where a rim is seen (rows with none give 0)
        ordered = np.sort(np.where(seen, r_peak, np.inf), axis=1)
        mid = np.take_along_axis(ordered, np.maximum((n_seen - 1) // 2, 0), axis=1)
        r_typ = np.where(n_seen > 0, mid, 0.0)
        consistent = seen & (np.abs(r_peak - r_typ) <= p.cup_radius_tolerance_fraction * r_typ)
        keep[start : start + p.cup_batch_size] = (
            consistent.mean(axis=1) >= p.cup_screen_coverage_fraction * p.cup_min_coverage
        ) & (centre <= -p.cup_centre_depth_fraction * p.cup_rim_contrast_z)
    return keep


def _trace_rim(ray_z: np.ndarray, cy: float, cx: float, geo: RayGeometry, p: ClassicalParameters) -> RimTrace:
    """The rim around one minimum, re-centred on the rim seen (the darkest point need not be the centre)."""
    m, n = ray_z.shape
    radii, angles = geo.radii, geo.angles
    for recentre in range(p.cup_recentre_passes):
        ys = np.clip(np.rint(cy + np.outer(np.sin(angles), radii)).astype(int), 0, m - 1)
        xs = np.clip(np.rint(cx + np.outer(np.cos(angles), radii)).astype(int), 0, n - 1)
        prof = ray_z[ys, xs]  # (directions, radii)
        centre = float(prof[:, radii <= geo.centre_radius_px].mean())
        k_peak, peak, beyond = _rim_peaks(prof, radii, geo.r_min_px, geo.r_max_px, geo.beyond_px)
        # second pass near the typical rim radius, so a brighter neighbour farther out is not taken
        r_med = float(np.median(radii[k_peak]))
        k_peak, peak, beyond = _rim_peaks(
            prof,
            radii,
            max(p.cup_rim_search_low_fraction * r_med, geo.r_min_px),
            min(p.cup_rim_search_high_fraction * r_med, geo.r_max_px),
            max(geo.beyond_px, p.cup_reach_radius_fraction * r_med),
        )
        seen = peak - np.maximum(beyond, centre) >= p.cup_rim_contrast_z
        r_peak = radii[k_peak]
        trace = RimTrace(cy, cx, prof, centre, k_peak, peak, beyond, seen, r_peak)
        if seen.mean() < p.cup_screen_coverage_fraction * p.cup_min_coverage:
            break  # no rim around this minimum (even seen off-centre)
        if seen.sum() < p.cup_min_rim_directions or recentre == p.cup_recentre_passes - 1:
            break
        cy = float(np.clip(np.mean(cy + r_peak[seen] * np.sin(angles[seen])), 0, m - 1))
        cx = float(np.clip(np.mean(cx + r_peak[seen] * np.cos(angles[seen])), 0, n - 1))
    return trace


def _cup_outline(
    trace: RimTrace,
    shape: tuple[int, ...],
    geo: RayGeometry,
    *,
    scale_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters,
) -> tuple[int, int, np.ndarray] | None:
    """The filled outline at the rim's outer half-level, or None when the rim is inconsistent or off-size."""
    p = params
    radii, angles, prof = geo.radii, geo.angles, trace.profiles
    seen, r_peak, k_peak, beyond = trace.seen, trace.r_peak, trace.k_peak, trace.beyond
    r_med = float(np.median(r_peak[seen]))
    consistent = seen & (np.abs(r_peak - r_med) <= p.cup_radius_tolerance_fraction * r_med)
    if consistent.mean() < p.cup_min_coverage:
        return None
    # outer edge: where the profile falls half-way from the rim to the stain beyond
    n_dir = len(angles)
    edge = np.empty(n_dir)
    reach = max(geo.beyond_px, p.cup_reach_radius_fraction * r_med)
    for d in range(n_dir):
        k = k_peak[d] if consistent[d] else int(np.argmin(np.abs(radii - r_med)))
        half = 0.5 * (prof[d, k] + beyond[d])
        after = np.flatnonzero(prof[d, k : k + 1 + int(reach)] < half)
        edge[d] = radii[k + after[0]] if after.size else radii[k] + 0.5 * reach
    window = p.cup_outline_median_directions
    padded = np.concatenate([edge[-(window // 2) :], edge, edge[: window // 2]])
    edge = np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)
    e_med = float(np.median(edge))
    edge = np.clip(edge, p.cup_outline_low_fraction * e_med, p.cup_outline_high_fraction * e_med)
    diameter_nm = 2.0 * e_med * scale_nm
    if not max(min_diameter_nm, p.cup_min_diameter_nm) <= diameter_nm <= max_diameter_nm:
        return None
    m, n = shape[0], shape[1]
    cy, cx = trace.cy, trace.cx
    poly = np.rint(np.stack([cx + edge * np.cos(angles), cy + edge * np.sin(angles)], axis=1)).astype(np.int32)
    r0, c0 = max(int(poly[:, 1].min()), 0), max(int(poly[:, 0].min()), 0)
    r1, c1 = min(int(poly[:, 1].max()) + 1, m), min(int(poly[:, 0].max()) + 1, n)
    disc = np.zeros((r1 - r0, c1 - c0), np.uint8)
    cv2.fillPoly(disc, [poly - np.array([c0, r0], np.int32)], 1)
    return r0, c0, disc.astype(bool)


def _ray_positions(centres: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """``clip(rint(centre + offsets), 0, size - 1)`` for each integer centre, as int32.

    For an integer centre, ``rint(centre + x) == centre + rint(x)`` unless
    ``x`` lies within rounding error of a half-integer (then the sum's
    rounding decides): those few offsets are computed in floating point as
    written, all others from one rounded table.

    Parameters
    ----------
    centres : (K,) ndarray of int
    offsets : (D, R) ndarray of float64
    size : int
        Length of the axis (positions are clipped to ``0 .. size - 1``).

    Returns
    -------
    (K, D, R) ndarray of int32
    """
    base = np.rint(offsets).astype(np.int32)
    out = centres.astype(np.int32)[:, None, None] + base[None]
    near_half = np.abs(offsets - np.floor(offsets) - 0.5) < _HALF_INTEGER_TOLERANCE
    if near_half.any():
        exact = np.rint(centres.astype(np.float64)[:, None] + offsets[near_half][None, :])
        out[:, near_half] = exact.astype(np.int32)
    return np.clip(out, 0, size - 1, out=out)


def _rim_peaks(
    prof: np.ndarray, radii: np.ndarray, r_lo: float, r_hi: float, beyond_px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ray (last axis = radius): index of the brightest point in ``[r_lo, r_hi]``,
    its value, and the darkest value within ``beyond_px`` beyond it."""
    search = np.flatnonzero((radii >= r_lo) & (radii <= r_hi))
    if search.size == 0:
        search = np.array([int(np.argmin(np.abs(radii - r_lo)))])
    k_peak = search[0] + np.argmax(prof[..., search[0] : search[-1] + 1], axis=-1)
    peak = np.take_along_axis(prof, k_peak[..., None], axis=-1)[..., 0]
    return k_peak, peak, _min_after(prof, k_peak, max(int(beyond_px), 1))


def _min_after(prof: np.ndarray, index: np.ndarray, reach: int) -> np.ndarray:
    """Per ray (last axis), the smallest value in ``(index, index + reach]``.

    Positions past the end of a ray repeat its last value; only the samples
    after each given index are gathered.
    """
    steps = index[..., None] + 1 + np.arange(max(reach, 1))
    return np.take_along_axis(prof, np.minimum(steps, prof.shape[-1] - 1), axis=-1).min(axis=-1)


def add_faint_cups(
    coarse: np.ndarray,
    vesicle_z: np.ndarray,
    *,
    scale_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    params: ClassicalParameters = DEFAULT_PARAMETERS,
) -> np.ndarray:
    """Make each cup whose faint rim broke into pieces one candidate (working scale; ``coarse`` changed in place).

    A cup already found as one object, or a "cup" holding a solid vesicle (a
    cluster around a gap), is left alone. Otherwise the filled outline becomes
    one new object; a neighbour it cut keeps its body (thin slivers of rim
    are stripped off), and rim fragments left outside too small to be a
    vesicle are dropped.
    """
    p = params
    next_label = int(coarse.max()) + 1
    min_part = p.min_part_area_fraction * np.pi * (0.5 * min_diameter_nm / scale_nm) ** 2
    for r0, c0, disc in find_faint_cups(
        vesicle_z, coarse, scale_nm=scale_nm, min_diameter_nm=min_diameter_nm, max_diameter_nm=max_diameter_nm, params=p
    ):
        h, w = disc.shape
        view = coarse[r0 : r0 + h, c0 : c0 + w]
        area = int(disc.sum())
        ids, counts = np.unique(view[disc], return_counts=True)
        counts, ids = counts[ids > 0], ids[ids > 0]
        if counts.size and counts.max() >= p.cup_one_object_fraction * area:
            continue  # already one object
        pad = int(np.ceil(0.5 * max_diameter_nm / scale_nm))
        br0, bc0 = max(r0 - pad, 0), max(c0 - pad, 0)
        big = coarse[br0 : r0 + h + pad, bc0 : c0 + w + pad]
        if not _is_broken_rim(big, ids, counts, area, p):
            continue
        view[disc] = next_label
        next_label += 1
        for k in ids.tolist():
            rest = big == k
            # a neighbour keeps its body, not the sliver of rim it had taken
            body = (
                strip_thin_parts(rest, radius_px=p.cup_neighbour_strip_radius_nm / scale_nm)
                if rest.sum() >= min_part
                else None
            )
            if body is None or body.sum() < min_part:
                big[rest] = 0
            else:
                big[rest & ~body] = 0
    return coarse


def _is_broken_rim(big: np.ndarray, ids: np.ndarray, counts: np.ndarray, area: int, p: ClassicalParameters) -> bool:
    """Whether the candidates under a cup's outline are a few arcs of its rim (not a cluster of bodies)."""
    rim_seen, n_pieces = 0, 0
    for k, inside in zip(ids.tolist(), counts.tolist()):
        own = big == k
        if inside < p.cup_piece_inside_fraction * own.sum():
            continue  # a neighbour overlapping the outline: it keeps the rest
        rim_seen += inside
        if inside < p.cup_piece_min_fraction * area:
            continue
        n_pieces += 1
        # pieces of a rim are arcs; a round, solid body inside means a cluster of vesicles around a gap
        if is_round_body(own, p):
            return False
    # the detector must already have seen part of the rim, in a few arcs
    return n_pieces <= p.cup_max_pieces and rim_seen >= p.cup_min_rim_seen_fraction * area
