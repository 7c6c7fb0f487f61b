"""Seeded generator of negative-stain TEM micrographs of extracellular vesicles.

The image is built in physical units as a *transmission* map (1 = bare
stain-free carbon) and then imaged with Poisson (shot) noise at a dose given in
electrons per nm², so that noise behaves the same way at any pixel size.

What is drawn, following real uranyl-acetate micrographs:

- vesicles lighter than the stain, with a dark membrane at their edge and a
  dark stain halo decaying outside it;
- cup-shaped vesicles: a darker, stain-filled centre (often off-centre) and a
  raised bright rim, sometimes with a bright fold across it;
- irregular vesicles (lobed outlines) and touching clusters;
- an uneven background: a stain-thickness gradient, dark stain pools and
  carbon-film texture;
- non-vesicles: stain precipitate (dark dense blobs without a membrane), small
  5–20 nm particles (lipoproteins), protein aggregates (clumps of small bright
  grains without membrane or halo), tubular debris;
- a burnt-in scale bar with its label (sometimes on a backing box or inside an
  instrument data strip), drawn by :func:`exo_vision.synthetic.scalebar.draw_scale_bar`.

Every vesicle comes with its truth (instance label, centroid, equivalent
diameter, morphology, whether it touches another vesicle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd

from exo_vision.synthetic.scalebar import draw_scale_bar

Difficulty = Literal["easy", "medium", "hard", "extreme"]

#: Columns of :attr:`SyntheticTruth.vesicles`.
TRUTH_COLUMNS = ("label", "centroid_x_nm", "centroid_y_nm", "equivalent_diameter_nm", "morphology", "touching")

#: Columns of :attr:`SyntheticTruth.debris`.
DEBRIS_COLUMNS = ("kind", "centroid_x_nm", "centroid_y_nm", "size_nm")

# Per-difficulty physics. Contrasts are fractions of the background transmission;
# dose is electrons per nm² (lower = noisier).
_LEVELS: dict[str, dict[str, Any]] = {
    "easy": dict(
        dose_e_per_nm2=120.0,
        vesicle_contrast=(0.25, 0.40),
        membrane_contrast=(0.30, 0.40),
        halo_contrast=(0.10, 0.20),
        gradient=0.05,
        n_pools=0,
        texture=0.01,
        density_per_um2=6.0,
        touching_fraction=0.1,
        cup_fraction=0.3,
        irregular_fraction=0.05,
        n_debris_per_um2=2.0,
        read_noise=0.01,
        psf_nm=1.0,
    ),
    "medium": dict(
        dose_e_per_nm2=50.0,
        vesicle_contrast=(0.15, 0.30),
        membrane_contrast=(0.25, 0.35),
        halo_contrast=(0.10, 0.25),
        gradient=0.12,
        n_pools=2,
        texture=0.02,
        density_per_um2=9.0,
        touching_fraction=0.25,
        cup_fraction=0.4,
        irregular_fraction=0.1,
        n_debris_per_um2=5.0,
        read_noise=0.02,
        psf_nm=1.3,
    ),
    "hard": dict(
        dose_e_per_nm2=25.0,
        vesicle_contrast=(0.10, 0.22),
        membrane_contrast=(0.18, 0.30),
        halo_contrast=(0.10, 0.30),
        gradient=0.2,
        n_pools=4,
        texture=0.03,
        density_per_um2=12.0,
        touching_fraction=0.35,
        cup_fraction=0.45,
        irregular_fraction=0.1,
        n_debris_per_um2=9.0,
        read_noise=0.03,
        psf_nm=1.6,
    ),
    "extreme": dict(
        dose_e_per_nm2=15.0,
        vesicle_contrast=(0.08, 0.16),
        membrane_contrast=(0.15, 0.25),
        halo_contrast=(0.10, 0.35),
        gradient=0.3,
        n_pools=6,
        texture=0.04,
        density_per_um2=15.0,
        touching_fraction=0.45,
        cup_fraction=0.5,
        irregular_fraction=0.15,
        n_debris_per_um2=14.0,
        read_noise=0.04,
        psf_nm=2.0,
    ),
}

#: Physical bilayer-plus-stain thickness of the dark membrane line, in nm.
MEMBRANE_THICKNESS_NM = (3.5, 5.0)

_N_ANGLES = 720


@dataclass
class SyntheticTruth:
    """Ground truth of one synthetic micrograph.

    Attributes
    ----------
    labels : (M, N) ndarray of int32
        Instance mask of the vesicles (0 = background); a vesicle's region ends
        at its outer membrane edge. Label ``k`` is row ``k - 1`` of
        :attr:`vesicles`.
    vesicles : DataFrame
        One row per vesicle: ``label``, ``centroid_x_nm``, ``centroid_y_nm``,
        ``equivalent_diameter_nm`` (from the exact drawn area),
        ``morphology`` (``"round"``, ``"cup"`` or ``"irregular"``) and
        ``touching`` (bool, the vesicle is in contact with another one).
    debris : DataFrame
        One row per non-vesicle object: ``kind`` (``"stain_precipitate"``,
        ``"small_particle"``, ``"protein_aggregate"``, ``"tubular_debris"``),
        ``centroid_x_nm``, ``centroid_y_nm``, ``size_nm`` (diameter or length).
    pixel_size_nm : float
        Pixel edge length in nanometres.
    scale_bar : dict
        ``{}`` when no bar was drawn, else the truth returned by
        :func:`exo_vision.synthetic.scalebar.draw_scale_bar` (``length_nm``,
        ``bar_length_px``, ``bar_box``, ``label_box``, ``backing_box``,
        ``strip_box``, ...) plus ``exclude_box`` = (row0, col0, row1, col1), the
        union of all of them, half-open.
    parameters : dict
        The physical parameters used (dose, contrasts, polarity, ...).
    """

    labels: np.ndarray
    vesicles: pd.DataFrame
    debris: pd.DataFrame
    pixel_size_nm: float
    scale_bar: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)


def _empty_truth_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": pd.Series(dtype="int32"),
            "centroid_x_nm": pd.Series(dtype="float64"),
            "centroid_y_nm": pd.Series(dtype="float64"),
            "equivalent_diameter_nm": pd.Series(dtype="float64"),
            "morphology": pd.Series(dtype="object"),
            "touching": pd.Series(dtype="bool"),
        }
    )


def _smooth_noise(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian-filtered white noise of ``shape`` (float32)."""
    noise = rng.standard_normal(shape).astype(np.float32)
    if sigma_px > 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    std = float(noise.std())
    return noise / std if std > 0 else noise


def _low_frequency_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth field in [-1, 1]: a tilted plane plus one slow bump."""
    m, n = shape
    yy, xx = np.mgrid[0:m, 0:n].astype(np.float32)
    yy /= max(m - 1, 1)
    xx /= max(n - 1, 1)
    angle = rng.uniform(0, 2 * np.pi)
    plane = np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)
    cy, cx = rng.uniform(0.2, 0.8, size=2)
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * rng.uniform(0.15, 0.35) ** 2))
    field_ = plane + 0.6 * (bump - bump.mean())
    peak = float(np.abs(field_).max())
    return field_ / peak if peak > 0 else field_


def _radius_profile(radius_nm: float, morphology: str, rng: np.random.Generator) -> np.ndarray:
    """Outer membrane radius (nm) as a function of angle, ``_N_ANGLES`` samples."""
    theta = np.linspace(0, 2 * np.pi, _N_ANGLES, endpoint=False)
    ellipticity = rng.uniform(0.0, 0.08) if morphology != "irregular" else rng.uniform(0.08, 0.18)
    phase = rng.uniform(0, 2 * np.pi)
    r = 1.0 + ellipticity * np.cos(2 * (theta - phase))
    harmonics = (3, 4, 5) if morphology == "irregular" else (3, 4)
    for k in harmonics:
        amp = rng.uniform(0.06, 0.12) if morphology == "irregular" else rng.uniform(0.0, 0.015)
        r += amp * np.cos(k * (theta - rng.uniform(0, 2 * np.pi)))
    return radius_nm * r


def _equivalent_diameter(radii_nm: np.ndarray) -> float:
    """Equivalent-circle diameter (nm) of a star-shaped polar outline."""
    area = 0.5 * float(np.mean(radii_nm**2)) * 2 * np.pi
    return 2.0 * np.sqrt(area / np.pi)


def _polar_grid(
    cy_px: float, cx_px: float, reach_px: float, shape: tuple[int, int]
) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
    """Bounding box around a centre and the (r, theta) of its pixel centres."""
    m, n = shape
    r0 = max(int(np.floor(cy_px - reach_px)), 0)
    r1 = min(int(np.ceil(cy_px + reach_px)) + 1, m)
    c0 = max(int(np.floor(cx_px - reach_px)), 0)
    c1 = min(int(np.ceil(cx_px + reach_px)) + 1, n)
    if r0 >= r1 or c0 >= c1:
        return None
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32)
    dy = yy - cy_px
    dx = xx - cx_px
    return slice(r0, r1), slice(c0, c1), np.hypot(dy, dx), np.arctan2(dy, dx)


def _radius_at(radii_nm: np.ndarray, theta: np.ndarray) -> np.ndarray:
    idx = ((theta % (2 * np.pi)) / (2 * np.pi) * _N_ANGLES).astype(np.int64) % _N_ANGLES
    return radii_nm[idx]


def _place(
    radii_nm: np.ndarray,
    *,
    extent_nm: tuple[float, float],
    keep_out_nm: tuple[float, float, float, float] | None,
    touching_fraction: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (nm) for vesicles of the given mean radii; some in contact.

    Returns centres (K, 2) as (y, x) and a bool array ``touching``. Vesicles that
    cannot be placed get NaN centres.
    """
    height, width = extent_nm
    k = len(radii_nm)
    centres = np.full((k, 2), np.nan)
    touching = np.zeros(k, dtype=bool)
    gap_nm = 25.0  # halo room between non-touching vesicles

    def free(c: np.ndarray, r: float, ignore: int, min_gap: float) -> bool:
        if keep_out_nm is not None:
            y0, y1, x0, x1 = keep_out_nm
            if y0 - r - gap_nm < c[0] < y1 + r + gap_nm and x0 - r - gap_nm < c[1] < x1 + r + gap_nm:
                return False
        placed = ~np.isnan(centres[:, 0])
        placed[ignore] = False
        if not placed.any():
            return True
        d = np.hypot(*(centres[placed] - c).T)
        return bool(np.all(d >= radii_nm[placed] + r + min_gap))

    for i in rng.permutation(k):
        r = radii_nm[i]
        done = False
        placed_idx = np.flatnonzero(~np.isnan(centres[:, 0]))
        if placed_idx.size and rng.random() < touching_fraction:
            for _ in range(30):
                j = int(rng.choice(placed_idx))
                angle = rng.uniform(0, 2 * np.pi)
                dist = radii_nm[j] + r - rng.uniform(0.5, 2.0)
                c = centres[j] + dist * np.array([np.sin(angle), np.cos(angle)])
                if not (r < c[0] < height - r and r < c[1] < width - r):
                    continue
                placed = ~np.isnan(centres[:, 0])
                placed[j] = False
                ok = True
                if placed.any():
                    d = np.hypot(*(centres[placed] - c).T)
                    ok = bool(np.all(d >= radii_nm[placed] + r + gap_nm))
                if ok and free(c, r, j, -1e9):
                    centres[i] = c
                    touching[i] = touching[j] = True
                    done = True
                    break
        if done:
            continue
        for _ in range(200):
            c = np.array([rng.uniform(-0.3 * r, height + 0.3 * r), rng.uniform(-0.3 * r, width + 0.3 * r)])
            if free(c, r, i, gap_nm):
                centres[i] = c
                break
    return centres, touching


def make_synthetic_tem(
    shape: tuple[int, int] = (2048, 2048),
    *,
    pixel_size_nm: float = 0.8,
    difficulty: Difficulty = "medium",
    n_vesicles: int | None = None,
    diameters_nm: np.ndarray | list[float] | None = None,
    polarity: Literal["bright", "dark"] = "bright",
    scale_bar: bool = True,
    dtype: type | np.dtype = np.uint16,
    rng: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, SyntheticTruth]:
    """Generate a negative-stain TEM micrograph of EVs with per-vesicle truth.

    Parameters
    ----------
    shape : tuple of int
        Image shape (M, N) in pixels.
    pixel_size_nm : float
        Pixel edge length in nanometres (0.2–5).
    difficulty : {"easy", "medium", "hard", "extreme"}
        Dose (noise), contrast, background unevenness, crowding and debris.
    n_vesicles : int, optional
        Number of vesicles; by default from the level's density and the
        field of view. Ignored when ``diameters_nm`` is given.
    diameters_nm : array_like, optional
        Target equivalent diameters in nm (one per vesicle); by default drawn
        from a log-normal with median 75 nm, clipped to 30–400 nm.
    polarity : {"bright", "dark"}
        ``"bright"``: vesicles lighter than the stain (the usual negative stain);
        ``"dark"``: contrast reversed (vesicles darker than the background).
    scale_bar : bool
        Burn a scale bar and its label into the bottom-left corner.
    dtype : numpy dtype
        ``uint8``, ``uint16`` or a float dtype.
    rng : int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same image.

    Returns
    -------
    image : (M, N) ndarray of ``dtype``
        The micrograph.
    truth : SyntheticTruth
        Instance labels and per-object truth tables.
    """
    if difficulty not in _LEVELS:
        raise ValueError(f"difficulty must be one of {sorted(_LEVELS)}, got {difficulty!r}")
    if polarity not in ("bright", "dark"):
        raise ValueError(f"polarity must be 'bright' or 'dark', got {polarity!r}")
    if len(shape) != 2 or min(shape) < 32:
        raise ValueError(f"shape must be two sizes of at least 32 pixels, got {shape!r}")
    px = float(pixel_size_nm)
    if not np.isfinite(px) or not 0.05 <= px <= 20:
        raise ValueError(f"pixel_size_nm must be between 0.05 and 20 nm, got {pixel_size_nm!r}")
    rng = np.random.default_rng(rng)
    p = dict(_LEVELS[difficulty])
    m, n = int(shape[0]), int(shape[1])
    extent_nm = (m * px, n * px)
    area_um2 = extent_nm[0] * extent_nm[1] / 1e6

    # --- background transmission ------------------------------------------
    transmission = np.ones((m, n), dtype=np.float32)
    transmission *= 1.0 + p["gradient"] * _low_frequency_field((m, n), rng)
    for _ in range(p["n_pools"]):
        cy, cx = rng.uniform(0, m), rng.uniform(0, n)
        sigma_px = rng.uniform(80, 300) / px
        depth = rng.uniform(0.15, 0.35)
        pr = _polar_grid(cy, cx, 3 * sigma_px, (m, n))
        if pr is None:
            continue
        rs, cs, r, _ = pr
        transmission[rs, cs] *= 1.0 - depth * np.exp(-0.5 * (r / sigma_px) ** 2)
    transmission *= 1.0 + p["texture"] * _smooth_noise((m, n), 1.5 / px, rng)

    bar_truth: dict[str, Any] = {}
    keep_out = None
    if scale_bar:
        # The bar's layout depends only on its seed: draw it once on a blank
        # canvas to reserve its corner, so no object lies under bar or label.
        bar_options: dict[str, Any] = dict(
            pixel_size_nm=px,
            polarity="dark" if rng.random() < 0.7 else "light",
            data_strip=bool(difficulty in ("hard", "extreme") and rng.random() < 0.3),
            rng=int(rng.integers(2**31)),
        )
        _, layout = draw_scale_bar(np.zeros((m, n), dtype=np.uint8), **bar_options)
        boxes = [b for b in (layout["bar_box"], layout["label_box"], layout["backing_box"], layout["strip_box"]) if b]
        r0 = min(b[0] for b in boxes)
        c0 = min(b[1] for b in boxes)
        r1 = max(b[2] for b in boxes)
        c1 = max(b[3] for b in boxes)
        keep_out = (r0 * px - 20, r1 * px + 20, c0 * px - 20, c1 * px + 20)

    # --- vesicles -----------------------------------------------------------
    if diameters_nm is not None:
        diam = np.asarray(diameters_nm, dtype=float).ravel()
        if diam.size and (not np.all(np.isfinite(diam)) or diam.min() <= 0):
            raise ValueError("diameters_nm must be positive finite numbers of nanometres")
    else:
        if n_vesicles is None:
            n_vesicles = int(np.clip(round(p["density_per_um2"] * area_um2), 3, 400))
        if n_vesicles < 0:
            raise ValueError(f"n_vesicles must be >= 0, got {n_vesicles}")
        diam = np.clip(rng.lognormal(np.log(75.0), 0.45, size=n_vesicles), 30.0, 400.0)
    k = diam.size
    u = rng.random(k)
    morph = np.where(
        u < p["cup_fraction"], "cup", np.where(u < p["cup_fraction"] + p["irregular_fraction"], "irregular", "round")
    )
    morph[(morph == "cup") & (diam < 40)] = "round"  # tiny vesicles do not collapse visibly
    profiles = [_radius_profile(d / 2, mo, rng) for d, mo in zip(diam, morph)]
    mean_r = np.array([float(np.mean(pr)) for pr in profiles]) if k else np.zeros(0)
    centres, touching = _place(
        mean_r, extent_nm=extent_nm, keep_out_nm=keep_out, touching_fraction=p["touching_fraction"], rng=rng
    )

    halo = np.zeros((m, n), dtype=np.float32)
    body = np.zeros((m, n), dtype=np.float32)  # additive change inside vesicles
    alpha = np.zeros((m, n), dtype=np.float32)  # 1 where a vesicle body covers the pixel
    labels = np.zeros((m, n), dtype=np.int32)
    best = np.full((m, n), np.inf, dtype=np.float32)  # normalised distance owning each pixel
    rows = []
    label = 0
    for i in range(k):
        if np.isnan(centres[i, 0]):
            continue
        radii = profiles[i]
        cy_px, cx_px = centres[i, 0] / px, centres[i, 1] / px  # pixel i is centred at i * px
        halo_len = rng.uniform(8.0, 20.0)
        reach = (radii.max() + 4 * halo_len) / px
        grid = _polar_grid(cy_px, cx_px, reach, (m, n))
        if grid is None:
            continue
        rs, cs, r_px, th = grid
        big_r = _radius_at(radii, th)
        d_nm = r_px * px - big_r  # signed distance to the outer membrane edge
        inside = np.clip(0.5 - d_nm / px, 0.0, 1.0)  # anti-aliased coverage
        own = inside >= 0.5
        if not own.any():
            continue
        label += 1
        # truth: a pixel belongs to the vesicle whose edge it is deepest inside
        norm_d = d_nm / big_r
        take = own & (norm_d < best[rs, cs])
        labels[rs, cs][take] = label
        best[rs, cs][take] = norm_d[take]

        c_v = rng.uniform(*p["vesicle_contrast"])
        c_m = rng.uniform(*p["membrane_contrast"])
        c_h = rng.uniform(*p["halo_contrast"])
        m_nm = rng.uniform(*MEMBRANE_THICKNESS_NM)
        halo[rs, cs] += c_h * np.exp(-np.clip(d_nm, 0, None) / halo_len) * (d_nm > -m_nm)
        rel = np.clip(r_px * px / big_r, 0, 2)
        interior = np.full_like(d_nm, c_v)
        if morph[i] == "cup":
            # collapsed disc: stain-filled (dark) centre, raised bright rim
            depth = rng.uniform(1.3, 2.2) * c_v
            off = rng.uniform(0, 0.15, size=2) * big_r.mean() / px
            sy, sx = rng.uniform(0.75, 1.0), rng.uniform(0.75, 1.0)
            rc = np.hypot((r_px * np.sin(th) - off[0]) / sy, (r_px * np.cos(th) - off[1]) / sx) * px / big_r
            core = rng.uniform(0.45, 0.6)
            interior -= depth * np.clip((core + 0.12 - rc) / 0.24, 0, 1)
            interior += 0.5 * c_v * np.exp(-0.5 * ((rel - 0.78) / 0.08) ** 2)
            if rng.random() < 0.4:  # a fold: bright line across the rim
                a = rng.uniform(0, np.pi)
                offset = rng.uniform(0.3, 0.6) * big_r.mean()
                line = np.abs(r_px * px * np.cos(th - a) - offset)
                interior += 0.6 * c_v * np.exp(-0.5 * (line / 2.5) ** 2) * (rel < 0.95)
        elif morph[i] == "round":
            interior *= 1.0 + 0.15 * (1 - rel**2)  # slightly domed
        membrane = np.clip((d_nm + m_nm) / px + 0.5, 0, 1) * inside
        delta = interior * (1 - membrane) - c_m * membrane
        cover = inside > 0
        body[rs, cs][cover] = np.where(inside[cover] > alpha[rs, cs][cover], delta[cover], body[rs, cs][cover])
        alpha[rs, cs] = np.maximum(alpha[rs, cs], inside)
        rows.append(
            dict(
                label=label,
                centroid_x_nm=float(centres[i, 1]),
                centroid_y_nm=float(centres[i, 0]),
                equivalent_diameter_nm=_equivalent_diameter(radii),
                morphology=str(morph[i]),
                touching=bool(touching[i]),
            )
        )
    halo = np.minimum(halo, 0.45)
    transmission *= (1.0 - halo) * (1.0 - alpha) + alpha * (1.0 + body)

    # --- debris ------------------------------------------------------------
    debris_rows = []
    n_debris = int(round(p["n_debris_per_um2"] * area_um2))
    occupied = cv2.dilate((labels > 0).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(int(10 / px), 1))
    for _ in range(n_debris):
        kind = str(
            rng.choice(
                ["stain_precipitate", "small_particle", "protein_aggregate", "tubular_debris"], p=[0.3, 0.4, 0.15, 0.15]
            )
        )
        cy, cx = rng.uniform(0, m), rng.uniform(0, n)
        if keep_out is not None:
            y0, y1, x0, x1 = keep_out
            if y0 < cy * px < y1 and x0 < cx * px < x1:
                continue
        iy, ix = int(cy), int(cx)
        if occupied[min(iy, m - 1), min(ix, n - 1)]:
            continue
        if kind == "stain_precipitate":
            size = rng.uniform(10, 60)
            prof = _radius_profile(size / 2, "irregular", rng)
            grid = _polar_grid(cy, cx, prof.max() / px + 3, (m, n))
            if grid is None:
                continue
            rs, cs, r_px, th = grid
            cov = np.clip(0.5 - (r_px * px - _radius_at(prof, th)) / px, 0, 1)
            transmission[rs, cs] *= 1.0 - rng.uniform(0.4, 0.7) * cov
        elif kind == "small_particle":
            size = rng.uniform(6, 18)
            grid = _polar_grid(cy, cx, size / px + 3, (m, n))
            if grid is None:
                continue
            rs, cs, r_px, _ = grid
            d_nm = r_px * px - size / 2
            cov = np.clip(0.5 - d_nm / px, 0, 1)
            ring = np.exp(-np.clip(d_nm, 0, None) / 4.0) * (1 - cov)
            c = rng.uniform(*p["vesicle_contrast"])
            transmission[rs, cs] *= (1 + c * cov) * (1 - 0.5 * p["halo_contrast"][1] * ring)
        elif kind == "protein_aggregate":
            size = rng.uniform(30, 80)
            grains = rng.integers(4, 9)
            c = rng.uniform(*p["vesicle_contrast"])
            for _g in range(grains):
                gy = cy + rng.normal(0, size / 4) / px
                gx = cx + rng.normal(0, size / 4) / px
                gr = rng.uniform(4, 8)
                grid = _polar_grid(gy, gx, gr / px + 2, (m, n))
                if grid is None:
                    continue
                rs, cs, r_px, _ = grid
                cov = np.clip(0.5 - (r_px * px - gr) / px, 0, 1)
                transmission[rs, cs] *= 1 + c * cov
        else:
            size = rng.uniform(80, 300)
            width = rng.uniform(8, 15)
            angle = rng.uniform(0, np.pi)
            grid = _polar_grid(cy, cx, size / 2 / px + width / px + 3, (m, n))
            if grid is None:
                continue
            rs, cs, r_px, th = grid
            along = r_px * px * np.cos(th - angle)
            across = np.abs(r_px * px * np.sin(th - angle))
            inside = np.clip(0.5 - (across - width / 2) / px, 0, 1) * np.clip(
                0.5 - (np.abs(along) - size / 2) / px, 0, 1
            )
            edge = (
                np.clip(0.5 - (across - width / 2 - 2.5) / px, 0, 1)
                * np.clip(0.5 - (np.abs(along) - size / 2 - 2.5) / px, 0, 1)
                - inside
            )
            c = rng.uniform(*p["vesicle_contrast"])
            transmission[rs, cs] *= (1 + c * inside) * (1 - p["membrane_contrast"][0] * edge)
        debris_rows.append(dict(kind=kind, centroid_x_nm=cx * px, centroid_y_nm=cy * px, size_nm=size))

    # --- imaging: PSF, contrast polarity, shot noise, scale bar -------------
    transmission = cv2.GaussianBlur(transmission, (0, 0), p["psf_nm"] / px, borderType=cv2.BORDER_REFLECT)
    if polarity == "dark":
        transmission = np.clip(2.0 * float(np.median(transmission)) - transmission, 0.02, None)
    transmission = np.clip(transmission, 0.0, None)
    electrons_per_px = p["dose_e_per_nm2"] * px * px
    counts = rng.poisson(transmission * electrons_per_px).astype(np.float32) / electrons_per_px
    counts += p["read_noise"] * rng.standard_normal((m, n)).astype(np.float32)
    dt = np.dtype(dtype)
    if dt == np.uint8:
        image = np.clip(np.round(counts * 110.0 + 10.0), 0, 255).astype(np.uint8)
    elif dt == np.uint16:
        image = np.clip(np.round(counts * 20000.0 + 500.0), 0, 65535).astype(np.uint16)
    elif np.issubdtype(dt, np.floating):
        image = counts.astype(dt)
    else:
        raise ValueError(f"dtype must be uint8, uint16 or a float type, got {dt}")
    if scale_bar:
        image, bar_truth = draw_scale_bar(image, **bar_options)
        bar_truth["exclude_box"] = (r0, c0, r1, c1)

    vesicles = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS)) if rows else _empty_truth_table()
    vesicles = vesicles.astype({"label": "int32", "touching": "bool"})
    debris = pd.DataFrame(debris_rows, columns=list(DEBRIS_COLUMNS))
    params = dict(p, polarity=polarity, difficulty=difficulty, pixel_size_nm=px, shape=(m, n))
    return image, SyntheticTruth(
        labels=labels, vesicles=vesicles, debris=debris, pixel_size_nm=px, scale_bar=bar_truth, parameters=params
    )
