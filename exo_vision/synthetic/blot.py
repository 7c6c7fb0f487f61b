"""Seeded, realistic western-blot images with per-band truth.

The model of a ChemiDoc chemiluminescence image:

* strips of membrane (one per antibody) on a dark camera background, each
  with a blotchy, uneven membrane background;
* lanes of constant width with soft edges, slightly uneven spacing and a
  common tilt; bands "smile" (edge lanes run at a different height);
* sharp bands (Gaussian rows, e.g. CD9, calnexin) and broad glycosylated
  smears (several overlapping components over a 30-65 kDa-like window, CD63);
* Poisson (shot) noise, Gaussian read noise, bright dust specks, a pen mark
  in a margin, clipping at the 16-bit saturation level;
* optionally exported as an 8-bit inverted "for publication" image (contrast
  stretched, dark bands on white).

Truth is the noise-free integrated volume of every band over its whole lane
(``true_volume``), whether it exists (``present``) and whether any of its
noise-free pixels reaches the saturation level (``saturated``).

A second, plainly separate truth says whether the image still carries the
band: ``visible_in_export``. It equals ``present`` for the 16-bit raw image.
For the 8-bit export it is False for a present band when the export keeps
less than :data:`VISIBLE_SHARE` (a quarter) of the band's signal, i.e. when

    sum over the band's lane region of  E[round(b + s + n)] - E[round(b + n)]
        < VISIBLE_SHARE x sum of s

with ``b`` the noise-free background and ``s`` the noise-free band rendered
in export grey levels (signal orientation, before rounding), and ``n``
Gaussian noise of the export's pixel noise SD at the membrane background
(``pixel_noise_sd``). A band whose noise-free rendering rounds to the
background's grey level everywhere, on a background whose noise (~0.1 grey
level when a saturated band sets the display range) is too small to dither
the rounding, keeps nothing and is not visible: no method can see it. With
noise of a grey level or more the rounding is dithered and every band keeps
its signal (visible). ``export_signal_share`` is the left side divided by
``sum of s`` (1 for every present band of the raw image, 0 for an absent
band; it can exceed 1 where rounding inflates a band). ``present`` is never
changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.special import erf

from exo_vision.blot.quantisation import expected_quantised

#: Saturation level of a 16-bit raw image.
SATURATION_16BIT = 65535
#: A band is visible in an 8-bit export when the export keeps at least this share of its signal.
VISIBLE_SHARE = 0.25


@dataclass
class StripSpec:
    """One strip to draw: a marker and its band volume in every lane.

    Attributes
    ----------
    marker : str
        Marker name (e.g. ``"CD9"``).
    volumes : sequence of float
        True integrated band volume per lane (intensity x px); 0 = absent.
    kind : {"sharp", "smear"}
        A sharp Gaussian band or a broad smear.
    band_sigma_px : float
        Gaussian SD of a sharp band (rows).
    smear_height_px : float
        Full height of a smear (rows).
    height_px : int
        Strip height in rows.
    """

    marker: str
    volumes: Sequence[float]
    kind: str = "sharp"
    band_sigma_px: float = 3.0
    smear_height_px: float = 50.0
    height_px: int = 160


@dataclass
class SyntheticBlot:
    """A generated blot and its truth.

    Attributes
    ----------
    image : (M, N) ndarray
        uint16 raw image, or uint8 inverted export.
    polarity : {"bright", "dark"}
        Band polarity of ``image``.
    max_value : float
        Saturation level of ``image`` (65535 raw, 0 for the inverted export).
    truth : pandas.DataFrame
        One row per band: ``label, strip, lane, marker, kind, true_volume,
        present, saturated, visible_in_export, export_signal_share, y_px,
        x_centre_px, lane_width_px, strip_y_top_px, strip_y_bottom_px``
        (``visible_in_export``, ``export_signal_share``: see the module docstring).
    lane_names : list of str
        Names of the lanes (all strips share them).
    counts_per_raw_count : float
        Signal units of ``image`` per raw 16-bit count: 1 for the raw image,
        255 / (white - black level) for the 8-bit export. ``true_volume`` is in
        raw counts x px; multiply by this to compare with volumes measured on
        ``image``.
    noise_free : (M, N) ndarray of float32, optional
        ``image`` as it would be without noise, dust, pen mark and rounding
        (same units and polarity as ``image``).
    band_signal : (M, N) ndarray of float32, optional
        The bands alone, in signal orientation (positive) and ``image`` units,
        unrounded.
    pixel_noise_sd : float
        Pixel noise SD (shot + read noise) at the mean membrane background, in
        ``image`` units, before rounding to integers.
    """

    image: np.ndarray
    polarity: str
    max_value: float
    truth: pd.DataFrame
    lane_names: list[str] = field(default_factory=list)
    counts_per_raw_count: float = 1.0
    noise_free: np.ndarray | None = None
    band_signal: np.ndarray | None = None
    pixel_noise_sd: float = 0.0


def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _smear_profile(n: int, height: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Relative offsets and weights of the Gaussian components of a smear (sum 1)."""
    offsets = np.sort(rng.uniform(-0.4, 0.4, n)) * height
    sigmas = rng.uniform(0.08, 0.16, n) * height
    weights = rng.uniform(0.5, 1.0, n)
    weights /= weights.sum()
    return np.stack([offsets, sigmas]), weights


def make_synthetic_blot(
    strips: Sequence[StripSpec],
    *,
    lane_width_px: float = 40.0,
    lane_gap_px: float = 16.0,
    spacing_jitter: float = 0.08,
    margin_px: int = 60,
    strip_gap_px: int = 30,
    smile_px: float = 5.0,
    tilt_deg: float = 0.8,
    background_counts: float = 800.0,
    blotch_fraction: float = 0.08,
    blotch_scale_px: float = 120.0,
    gradient_fraction: float = 0.15,
    dark_counts: float = 300.0,
    photons_per_count: float = 1.0,
    read_noise_counts: float = 12.0,
    n_dust: int = 25,
    pen_mark: bool = True,
    lane_names: Sequence[str] | None = None,
    export: str = "raw",
    rng: int | np.random.Generator | None = 0,
    band_tilt_px: float = 0.0,
    ladder_marks: bool = False,
) -> SyntheticBlot:
    """Draw a western blot with several strips and known band volumes.

    Parameters
    ----------
    strips : sequence of StripSpec
        Strips top to bottom; all must have the same number of lanes.
    lane_width_px, lane_gap_px : float
        Lane width and mean gap between lanes, px.
    spacing_jitter : float
        Random variation of lane spacing (fraction of the pitch).
    margin_px, strip_gap_px : int
        Left/right margin of the membrane; dark gap between strips, px.
    smile_px : float
        How much lower the outermost lanes run than the central ones, px.
    tilt_deg : float
        Lane tilt from vertical, degrees.
    background_counts : float
        Mean membrane background, counts.
    blotch_fraction : float
        Relative SD of the blotchy background.
    blotch_scale_px : float
        Spatial scale (Gaussian SD) of the blotches, px.
    gradient_fraction : float
        Largest left-right background gradient, as a fraction of the background.
    dark_counts : float
        Camera level outside the membranes, counts.
    photons_per_count : float
        Shot-noise scale: counts are Poisson(photons) / photons_per_count.
    read_noise_counts : float
        Gaussian read-noise SD, counts.
    n_dust : int
        Number of bright dust specks (kept off the bands).
    pen_mark : bool
        Draw a short pen mark in the left margin of the first strip.
    lane_names : sequence of str, optional
        Names of the lanes.
    export : {"raw", "inverted8"}
        16-bit raw image, or an 8-bit inverted "for publication" export.
    rng : int or numpy.random.Generator, optional
        Seed or generator.
    band_tilt_px : float
        How much lower the bands run in the last lane than in the first, px
        (a gel run unevenly: band rows slope across the lane set while the
        lanes stay upright; added to the smile).
    ladder_marks : bool
        Hand-write a ladder beside each membrane: short pen dashes with a
        scribbled size label, in the left margin off the membrane (as
        analysts mark the pre-stained ladder on a chemiluminescence frame).

    Returns
    -------
    SyntheticBlot
    """
    rng = _rng(rng)
    if not strips:
        raise ValueError("give at least one StripSpec")
    n_lanes = len(strips[0].volumes)
    if any(len(s.volumes) != n_lanes for s in strips):
        raise ValueError("every strip must give one volume per lane (same lane count)")
    if export not in ("raw", "inverted8"):
        raise ValueError(f"export must be 'raw' or 'inverted8', got {export!r}")
    if lane_names is not None and len(lane_names) != n_lanes:
        raise ValueError(f"{len(lane_names)} lane names for {n_lanes} lanes")
    pitch = lane_width_px + lane_gap_px
    steps = pitch * (1 + rng.uniform(-spacing_jitter, spacing_jitter, n_lanes - 1))
    centres = margin_px + lane_width_px / 2 + np.concatenate([[0.0], np.cumsum(steps)])
    width = int(np.ceil(centres[-1] + lane_width_px / 2 + margin_px))
    height = strip_gap_px + sum(s.height_px + strip_gap_px for s in strips)
    clean = np.full((height, width), dark_counts, np.float64)
    band_only = np.zeros((height, width), np.float64)
    x = np.arange(width, dtype=float)
    x_mid = (centres[0] + centres[-1]) / 2
    half_span = max(centres[-1] - x_mid, 1.0)
    slope = np.tan(np.deg2rad(tilt_deg))
    rows: list[dict[str, Any]] = []
    keepout = np.zeros((height, width), bool)
    y0 = strip_gap_px
    for si, spec in enumerate(strips):
        h = spec.height_px
        y_mid = y0 + h / 2
        # membrane with blotchy background
        blotch = ndi.gaussian_filter(rng.standard_normal((h, width)), sigma=blotch_scale_px, mode="wrap")
        blotch -= blotch.mean()
        blotch /= blotch.std() + 1e-12
        tilt = rng.uniform(-1, 1)  # drawn even without blotches, so the other draws do not shift
        if blotch_fraction > 0:
            blotch += gradient_fraction / blotch_fraction * tilt * (x[None, :] / width - 0.5)
        x_edge0 = margin_px / 3
        x_edge1 = width - margin_px / 3
        membrane = (x >= x_edge0) & (x < x_edge1)
        # a membrane never glows less than the camera floor plus a quarter of its mean step above it
        clean[y0 : y0 + h, membrane] = np.maximum(
            background_counts * (1 + blotch_fraction * blotch[:, membrane]),
            dark_counts + 0.25 * (background_counts - dark_counts),
        )
        band_y = y0 + h * rng.uniform(0.42, 0.55)
        if spec.kind == "smear":
            comps, weights = _smear_profile(6, spec.smear_height_px, rng)
        yy = np.arange(y0, y0 + h, dtype=float)[:, None]
        for li, vol in enumerate(spec.volumes):
            xc_rows = centres[li] + slope * (yy - y_mid)
            hx = 0.5 * (
                erf((x[None, :] - xc_rows + lane_width_px / 2) / (np.sqrt(2) * 1.5))
                - erf((x[None, :] - xc_rows - lane_width_px / 2) / (np.sqrt(2) * 1.5))
            )
            xc = centres[li]
            smile = smile_px * ((x[None, :] - x_mid) / half_span) ** 2 + _band_tilt(x[None, :], centres, band_tilt_px)
            if spec.kind == "smear":
                gy = np.zeros((h, width))
                for (off, sig), wgt in zip(comps.T, weights):
                    gy += wgt * np.exp(-0.5 * ((yy - band_y - off - smile) / sig) ** 2) / (np.sqrt(2 * np.pi) * sig)
                extent = spec.smear_height_px
            else:
                sig = spec.band_sigma_px
                gy = np.exp(-0.5 * ((yy - band_y - smile) / sig) ** 2) / (np.sqrt(2 * np.pi) * sig)
                extent = 8 * sig
            band = vol / lane_width_px * hx * gy
            band_only[y0 : y0 + h] += band
            yc = band_y + smile_px * ((xc - x_mid) / half_span) ** 2 + float(_band_tilt(xc, centres, band_tilt_px))
            lo = int(max(y0, yc - extent))
            hi = int(min(y0 + h, yc + extent + 1))
            keepout[lo:hi, int(xc - lane_width_px) : int(xc + lane_width_px) + 1] = True
            rows.append(
                dict(
                    strip=si + 1,
                    lane=li + 1,
                    marker=spec.marker,
                    kind=spec.kind,
                    true_volume=float(vol),
                    present=bool(vol > 0),
                    y_px=float(yc),
                    x_centre_px=float(xc),
                    lane_width_px=float(lane_width_px),
                    strip_y_top_px=y0,
                    strip_y_bottom_px=y0 + h,
                    _band_rows=(lo, hi),
                )
            )
        y0 += h + strip_gap_px
    clean += band_only
    # truth saturation from the noise-free image
    regions = []
    for r in rows:
        lo, hi = r.pop("_band_rows")
        xc, w = r["x_centre_px"], r["lane_width_px"]
        region = (slice(lo, hi), slice(int(xc - w / 2 - 4), int(xc + w / 2 + 5)))
        regions.append(region)
        r["saturated"] = bool(r["present"] and clean[region].max() >= SATURATION_16BIT)
    noisy = rng.poisson(np.clip(clean, 0, None) * photons_per_count) / photons_per_count
    noisy = noisy + rng.normal(0, read_noise_counts, clean.shape)
    # dust specks, never on a band
    placed = 0
    tries = 0
    while placed < n_dust and tries < 50 * max(n_dust, 1):
        tries += 1
        size = int(rng.integers(1, 4))
        yy_, xx_ = int(rng.integers(0, height - size)), int(rng.integers(0, width - size))
        if keepout[max(0, yy_ - 4) : yy_ + size + 4, max(0, xx_ - 4) : xx_ + size + 4].any():
            continue
        noisy[yy_ : yy_ + size, xx_ : xx_ + size] += rng.uniform(3, 40) * background_counts
        placed += 1
    if pen_mark:
        ys = strip_gap_px + 10 + np.arange(30)
        xs = (margin_px / 2 + 3 * np.sin(ys / 6.0)).astype(int)
        for yv, xv in zip(ys, xs):
            noisy[yv, xv : xv + 2] += 4 * background_counts
    if ladder_marks:
        _write_ladders(
            noisy,
            [(r0, r1) for r0, r1 in {(r["strip_y_top_px"], r["strip_y_bottom_px"]) for r in rows}],
            x_max=margin_px / 3 - 2,
            value=4 * background_counts,
            rng=rng,
        )
    raw = np.clip(np.round(noisy), 0, SATURATION_16BIT).astype(np.uint16)
    noise_sd = float(np.sqrt(background_counts / photons_per_count + read_noise_counts**2))
    low = float(dark_counts - 3 * read_noise_counts)
    high = float(SATURATION_16BIT) if any(r["saturated"] for r in rows) else float(clean.max() * 1.15)
    for r, region in zip(rows, regions):
        if export == "raw" or not r["present"]:
            r["visible_in_export"] = r["present"]
            r["export_signal_share"] = float(r["present"])
            continue
        level = 255.0 / (high - low)
        with_band = np.clip(clean[region] - low, 0, high - low) * level
        without = np.clip(clean[region] - band_only[region] - low, 0, high - low) * level
        kept = expected_quantised(with_band, noise_sd=noise_sd * level) - expected_quantised(
            without, noise_sd=noise_sd * level
        )
        r["export_signal_share"] = float(kept.sum() / max((with_band - without).sum(), 1e-12))
        r["visible_in_export"] = bool(r["export_signal_share"] >= VISIBLE_SHARE)
    truth = pd.DataFrame(rows)
    truth.insert(0, "label", np.arange(1, len(truth) + 1))
    truth = truth[
        [
            "label",
            "strip",
            "lane",
            "marker",
            "kind",
            "true_volume",
            "present",
            "saturated",
            "visible_in_export",
            "export_signal_share",
            "y_px",
            "x_centre_px",
            "lane_width_px",
            "strip_y_top_px",
            "strip_y_bottom_px",
        ]
    ]
    names = list(lane_names) if lane_names is not None else [f"lane{i + 1}" for i in range(n_lanes)]
    if export == "raw":
        return SyntheticBlot(
            raw,
            "bright",
            float(SATURATION_16BIT),
            truth,
            names,
            1.0,
            np.minimum(clean, SATURATION_16BIT).astype(np.float32),
            band_only.astype(np.float32),
            noise_sd,
        )
    # 8-bit inverted export: contrast stretched from the camera floor to the brightest
    # non-dust level (or the saturation level when something saturated).
    gain = 255.0 / (high - low)
    scaled = np.clip((raw.astype(np.float64) - low) / (high - low), 0, 1)
    out = (255 - np.round(scaled * 255)).astype(np.uint8)
    noise_free = 255 - np.clip((clean - low) / (high - low), 0, 1) * 255
    return SyntheticBlot(
        out,
        "dark",
        0.0,
        truth,
        names,
        gain,
        noise_free.astype(np.float32),
        (band_only * gain).astype(np.float32),
        noise_sd * gain,
    )


def _band_tilt(x, centres: np.ndarray, band_tilt_px: float):
    """Row offset of the bands at column(s) ``x``: 0 at the first lane, ``band_tilt_px`` at the last."""
    span = max(float(centres[-1] - centres[0]), 1.0)
    return band_tilt_px * (np.asarray(x, dtype=float) - centres[0]) / span


def _write_ladders(
    canvas: np.ndarray, strips_rows: Sequence[tuple[int, int]], *, x_max: float, value: float, rng: np.random.Generator
) -> None:
    """Pen-written ladders off the membrane's left edge: 3-5 dashes per membrane, each with a scribbled label."""
    if x_max < 12:
        return
    for r0, r1 in sorted(strips_rows):
        n = int(rng.integers(3, 6))
        for y in np.sort(rng.uniform(r0 + 12, r1 - 12, n)).astype(int):
            x1 = int(x_max)
            x0 = max(1, x1 - int(rng.integers(8, 16)))
            canvas[y : y + 2, x0:x1] += value  # the dash at the ladder band
            # a scribbled size label left of the dash: a few short random strokes, 2 px thick
            for _ in range(int(rng.integers(2, 4))):
                ly = y - 6 + int(rng.integers(0, 8))
                lx = max(0, x0 - 3 - int(rng.integers(2, 8)))
                length = int(rng.integers(4, 9))
                if rng.random() < 0.5:
                    canvas[max(0, ly) : ly + length, lx : lx + 2] += value
                else:
                    canvas[max(0, ly) : ly + 2, lx : min(x0 - 1, lx + length)] += value


def make_dilution_series(
    *,
    n_lanes: int = 8,
    top_volume: float = 4.2e7,
    export: str = "raw",
    rng: int | np.random.Generator | None = 0,
    **kwargs,
) -> SyntheticBlot:
    """One strip, one sharp band per lane, 2-fold dilution from ``top_volume``.

    Parameters
    ----------
    n_lanes : int
        Number of lanes (dilution steps).
    top_volume : float
        True volume of lane 1 (intensity x px).
    export : {"raw", "inverted8"}
        Output format.
    rng : int or numpy.random.Generator, optional
        Seed or generator.
    **kwargs
        Passed to :func:`make_synthetic_blot`.
    """
    volumes = top_volume / 2.0 ** np.arange(n_lanes)
    spec = StripSpec("target", list(volumes), "sharp", band_sigma_px=3.0, height_px=140)
    return make_synthetic_blot([spec], export=export, rng=rng, **kwargs)


def make_marker_panel(
    *,
    ev_ratios: dict[str, Sequence[float]] | None = None,
    lysate_volumes: dict[str, float] | None = None,
    export: str = "raw",
    rng: int | np.random.Generator | None = 0,
    **kwargs,
) -> SyntheticBlot:
    """A MISEV panel: strips CD9 (sharp), CD63 (smear), calnexin (sharp) over lanes lysate, exo1, exo2.

    Calnexin is absent from the EV lanes.

    Parameters
    ----------
    ev_ratios : dict of str to sequence of float, optional
        Marker -> true EV/lysate volume ratio for exo1 and exo2.
    lysate_volumes : dict of str to float, optional
        Marker -> true lysate volume.
    export : {"raw", "inverted8"}
        Output format.
    rng : int or numpy.random.Generator, optional
        Seed or generator.
    **kwargs
        Passed to :func:`make_synthetic_blot`.
    """
    g = _rng(rng)
    ev_ratios = ev_ratios or {
        "CD9": list(g.uniform(1.5, 4.0, 2)),
        "CD63": list(g.uniform(1.5, 4.0, 2)),
        "calnexin": [0.0, 0.0],
    }
    lysate_volumes = lysate_volumes or {"CD9": 2.0e6, "CD63": 1.0e7, "calnexin": 2.0e6}
    specs = []
    for marker, kind in (("CD9", "sharp"), ("CD63", "smear"), ("calnexin", "sharp")):
        lys = lysate_volumes[marker]
        vols = [lys] + [lys * r for r in ev_ratios[marker]]
        specs.append(
            StripSpec(
                marker,
                vols,
                kind,
                band_sigma_px=3.0,
                smear_height_px=110.0 if kind == "smear" else 55.0,
                height_px=300 if kind == "smear" else 170,
            )
        )
    kwargs.setdefault("lane_width_px", 48.0)
    kwargs.setdefault("lane_gap_px", 22.0)
    return make_synthetic_blot(specs, lane_names=["lysate", "exo1", "exo2"], export=export, rng=g, **kwargs)


def make_random_blot(*, export: str = "raw", rng: int | np.random.Generator | None = 0) -> SyntheticBlot:
    """A blot with random lane count (3-12), 1-3 strips, random absent, faint and saturated bands.

    Parameters
    ----------
    export : {"raw", "inverted8"}
        Output format.
    rng : int or numpy.random.Generator, optional
        Seed or generator.
    """
    g = _rng(rng)
    n_lanes = int(g.integers(3, 13))
    specs = []
    for si in range(int(g.integers(1, 4))):
        kind = "smear" if g.random() < 0.3 else "sharp"
        vols = 10 ** g.uniform(4.5, 6.3, n_lanes)
        vols[g.random(n_lanes) < 0.25] = 0.0
        if g.random() < 0.4:
            vols[int(g.integers(0, n_lanes))] = 6.0e7  # a saturated lane
        specs.append(
            StripSpec(
                f"marker{si + 1}",
                list(vols),
                kind,
                band_sigma_px=float(g.uniform(2.5, 4.0)),
                smear_height_px=float(g.uniform(40, 60)),
                height_px=int(g.integers(140, 200)),
            )
        )
    return make_synthetic_blot(
        specs,
        lane_width_px=float(g.uniform(28, 50)),
        lane_gap_px=float(g.uniform(12, 24)),
        smile_px=float(g.uniform(0, 8)),
        tilt_deg=float(g.uniform(-1.2, 1.2)),
        export=export,
        rng=g,
    )


def make_two_membrane_frame(*, export: str = "raw", rng: int | np.random.Generator | None = 0) -> SyntheticBlot:
    """A frame like a lab's raw chemiluminescence image: two membranes, one above the other, imaged together.

    Two membranes separated by a dark gap, 9-11 lanes running through both (same lanes,
    same spacing), a pen-written ladder beside each membrane, bands that smile and tilt
    across the lane set, a strongly blotchy, graded membrane background, 1-3 blank
    lanes per membrane and one band marker per membrane.

    Parameters
    ----------
    export : {"raw", "inverted8"}
        Output format.
    rng : int or numpy.random.Generator, optional
        Seed or generator.

    Returns
    -------
    SyntheticBlot
    """
    g = _rng(rng)
    n_lanes = int(g.integers(9, 12))
    specs = []
    for si in range(2):
        vols = 10 ** g.uniform(5.0, 6.4, n_lanes)
        blank = g.choice(n_lanes, int(g.integers(1, 4)), replace=False)
        vols[blank] = 0.0
        specs.append(
            StripSpec(
                f"marker{si + 1}",
                list(vols),
                "sharp",
                band_sigma_px=float(g.uniform(2.5, 4.0)),
                height_px=int(g.integers(200, 280)),
            )
        )
    return make_synthetic_blot(
        specs,
        lane_width_px=float(g.uniform(40, 56)),
        lane_gap_px=float(g.uniform(14, 24)),
        margin_px=90,
        strip_gap_px=int(g.integers(25, 60)),
        smile_px=float(g.uniform(2, 8)),
        tilt_deg=float(g.uniform(-0.8, 0.8)),
        band_tilt_px=float(g.uniform(-20, 20)),
        blotch_fraction=float(g.uniform(0.15, 0.3)),
        blotch_scale_px=float(g.uniform(25, 60)),
        gradient_fraction=0.3,
        ladder_marks=True,
        export=export,
        rng=g,
    )


#: Lane names of :func:`make_misev_frame`: the lysate, six EV lanes and three negative controls.
MISEV_FRAME_LANES = ("lysate", "exo1", "exo2", "exo3", "exo4", "blank", "exo5", "exo6", "PBS", "empty")


def make_misev_frame(top: str = "CD9", *, rng: int | np.random.Generator | None = 0) -> SyntheticBlot:
    """A MISEV frame as a core facility blots it: an EV-marker membrane over a calnexin membrane, imaged together.

    Ten lanes (:data:`MISEV_FRAME_LANES`): the EV marker (a CD9 band, or a CD63 smear 50-110 px tall) in the
    lysate and the six EV lanes at random levels, nothing in the blank, PBS and empty lanes; calnexin in the
    lysate lane only (a clean EV preparation). Smooth blotches cover 15-30 % of the membranes (25-60 px), with
    a grey-level gradient, smiling and tilted bands, and pen-written ladders beside both membranes.

    Parameters
    ----------
    top : {"CD9", "CD63"}
        The EV marker of the upper membrane.
    rng : int, Generator or None
        Seed or generator.

    Returns
    -------
    SyntheticBlot
        A 16-bit raw frame and its truth.
    """
    if top not in ("CD9", "CD63"):
        raise ValueError(f"top must be 'CD9' or 'CD63', got {top!r}")
    g = _rng(rng)
    if top == "CD63":
        ev = list(np.array([4e6, 8e6, 1.0e7, 6e6, 9e6, 0, 7e6, 1.2e7, 0, 0]) * g.uniform(0.3, 1.0))
    else:
        ev = list(np.array([1e6, 2.0e6, 2.5e6, 3.0e6, 1.5e6, 0, 2.2e6, 2.8e6, 0, 0]) * g.uniform(0.5, 1.5))
    # drawn in this order before the strips' own draws (the frames of a seed stay as they are)
    width, gap = float(g.uniform(40, 54)), float(g.uniform(10, 22))
    strip_gap, smile, tilt = int(g.integers(25, 60)), float(g.uniform(2, 8)), float(g.uniform(-0.8, 0.8))
    band_tilt, blotches, blotch_scale = float(g.uniform(-20, 20)), float(g.uniform(0.15, 0.3)), float(g.uniform(25, 60))
    if top == "CD63":
        upper = StripSpec("CD63", ev, "smear", smear_height_px=float(g.uniform(50, 110)), height_px=260)
    else:
        upper = StripSpec("CD9", ev, "sharp", band_sigma_px=float(g.uniform(2.5, 4)), height_px=220)
    calnexin = StripSpec(
        "calnexin",
        [float(g.uniform(1e6, 4e6))] + [0.0] * 9,
        "sharp",
        band_sigma_px=float(g.uniform(2.5, 4)),
        height_px=220,
    )
    return make_synthetic_blot(
        [upper, calnexin],
        lane_width_px=width,
        lane_gap_px=gap,
        margin_px=90,
        strip_gap_px=strip_gap,
        smile_px=smile,
        tilt_deg=tilt,
        band_tilt_px=band_tilt,
        blotch_fraction=blotches,
        blotch_scale_px=blotch_scale,
        gradient_fraction=0.3,
        ladder_marks=True,
        lane_names=list(MISEV_FRAME_LANES),
        rng=g,
    )


def turned_blot(blot: SyntheticBlot, angle_deg: float) -> SyntheticBlot:
    """``blot`` imaged with its membranes turned by ``angle_deg`` (counter-clockwise on screen) in the frame.

    The noise-free image is turned about its centre with bilinear interpolation (which keeps each band's
    integrated signal) and the noise with nearest-neighbour sampling (so it stays white, with the same
    SD, as a camera would record it on a turned membrane; the corners brought into the frame hold the
    camera floor and reflected noise). The truth's band positions are turned with it; volumes and calls
    are unchanged.
    """
    if angle_deg == 0:
        return blot
    import cv2

    if blot.noise_free is None:
        raise ValueError("turned_blot needs the blot's noise-free image (noise_free); this blot has none")
    h, w = blot.image.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), float(angle_deg), 1.0)
    clean = blot.noise_free.astype(np.float32)
    floor = float(np.percentile(clean, 0.1 if blot.polarity == "bright" else 99.9))
    signal = cv2.warpAffine(
        clean, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=floor
    )
    noise = cv2.warpAffine(
        blot.image.astype(np.float32) - clean,
        matrix,
        (w, h),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    info = np.iinfo(blot.image.dtype)
    truth = blot.truth.copy()
    xy = np.c_[truth.x_centre_px, truth.y_px, np.ones(len(truth))] @ matrix.T
    truth["x_centre_px"], truth["y_px"] = xy[:, 0], xy[:, 1]
    return replace(
        blot,
        image=np.clip(np.round(signal + noise), info.min, info.max).astype(blot.image.dtype),
        truth=truth,
        noise_free=signal,
    )
