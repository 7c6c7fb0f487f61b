"""Blot quantification on membrane backgrounds drawn unlike the project's generator (a robustness probe).

The project's generator (:mod:`exo_vision.synthetic.blot`) draws a blotchy membrane as one smooth Gaussian
field. Labs' membranes also show other textures, so this probe adds to the background of the generator's
MISEV marker panels (16-bit raw; CD9 sharp, CD63 smear, calnexin absent from the EV lanes) one texture
built another way, bounded to +-``amplitude`` of the membrane's background level so that the membrane never
turns darker than the camera's level off it:

- ``patches``: sharp-edged blotches (smoothed noise, 30 px, pushed through a steep tanh);
- ``stains``: a few round dark-or-bright stains 20-70 px across with soft edges (drying marks, bubbles);
- ``vstreaks``: streaks down the membrane (uneven transfer along the lanes), stronger towards the bottom;
- ``hbands``: horizontal banding across the whole membrane (a film's or scanner's row pattern), 4 px rows.

The bands themselves are untouched, so the true volumes do not change. Printed per texture and amplitude over
``--seeds`` panels: frames quantified (a frame whose strips are miscounted raises an error, because one marker
name is given per strip), lane counts right, true bands found, calnexin called absent in the EV lanes, the
median and worst EV/lysate ratio error of CD9 and CD63, and phantom bands (present reports off every truth
band). No bar is attached: it shows where the lane, band and background models stop holding.

Usage::

    .venv/bin/python benchmarks/blot_background_probe.py [--seeds 10] [--textures patches stains ...]
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd
from blot_accuracy import match
from scipy import ndimage as ndi

from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import make_marker_panel

TEXTURES = ("none", "patches", "stains", "vstreaks", "hbands")
AMPLITUDES = (0.15, 0.3)
MARKERS = ["CD9", "CD63", "calnexin"]


def texture(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A background texture in [-1, 1] of the given kind."""
    h, w = shape
    if kind == "patches":
        f = ndi.gaussian_filter(rng.standard_normal(shape), 30)
        return np.tanh(3 * f / (f.std() + 1e-12))
    if kind == "stains":
        yy, xx = np.mgrid[:h, :w]
        f = np.zeros(shape)
        for _ in range(6):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(10, 35)
            f += rng.choice([-1.0, 1.0]) * np.exp(-((((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) ** 2))
        return np.clip(f, -1, 1)
    if kind == "vstreaks":
        col = ndi.gaussian_filter1d(rng.standard_normal(w), 6)
        return np.tanh(col / (col.std() + 1e-12))[None, :] * np.linspace(0.6, 1.0, h)[:, None]
    if kind == "hbands":
        row = ndi.gaussian_filter1d(rng.standard_normal(h), 4)
        return np.broadcast_to(np.tanh(row / (row.std() + 1e-12))[:, None], shape)
    return np.zeros(shape)


def panel_with_texture(kind: str, amplitude: float, seed: int):
    """A generated marker panel and its image with ``kind`` added to the membrane's background."""
    blot = make_marker_panel(rng=100 + seed, export="raw")
    img = blot.image.astype(np.float64)
    level = float(np.median(img[img > np.percentile(img, 20)]))
    membrane = img > 0.5 * level
    added = amplitude * level * texture(kind, img.shape, np.random.default_rng(5000 + seed))
    img = np.where(membrane, img + added, img)
    return blot, np.clip(np.rint(img), 0, blot.max_value).astype(blot.image.dtype)


def score(kind: str, amplitude: float, seeds: int) -> dict:
    """The probe's figures for one texture and amplitude over ``seeds`` panels."""
    tables, failed, lanes_right, phantoms = [], 0, 0, 0
    for seed in range(seeds):
        blot, img = panel_with_texture(kind, amplitude, seed)
        try:
            res = quantify_blot(img, polarity=blot.polarity, max_value=blot.max_value, markers=MARKERS)
        except ValueError:
            failed += 1
            continue
        expected = blot.truth.groupby("strip").lane.nunique()
        found = pd.Series([lane.strip for lane in res.lanes]).value_counts()
        lanes_right += int(all(found.get(s, 0) == n for s, n in expected.items()))
        m = match(blot, res).assign(panel=seed)
        phantoms += int((res.bands.present & ~res.bands.label.isin(m.hit_label)).sum())
        tables.append(m)
    out = {"texture": kind, "amplitude": amplitude, "frames": f"{seeds - failed}/{seeds}"}
    out["lane_counts_right"] = f"{lanes_right}/{seeds}"
    if not tables:
        return out
    m = pd.concat(tables, ignore_index=True)
    errors = []
    for _, g in m[m.marker.isin(["CD9", "CD63"])].groupby(["panel", "strip"]):
        g = g.sort_values("lane")
        ref = g.iloc[0]
        errors += [
            abs((r.volume / ref.volume) / (r.true_volume / ref.true_volume) - 1) for r in g.iloc[1:].itertuples()
        ]
    calnexin = m[(m.marker == "calnexin") & (m.lane > 1)]
    out["bands_found"] = float(m[m.present].found.mean())
    out["calnexin_absent_in_ev_lanes"] = float((~calnexin.present_call).mean())
    out["ratio_error_median_pct"] = 100 * float(np.nanmedian(errors))
    out["ratio_error_worst_pct"] = 100 * float(np.nanmax(errors))
    out["phantoms"] = phantoms
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="panels per texture and amplitude (default 10)")
    parser.add_argument("--textures", nargs="+", choices=TEXTURES, default=list(TEXTURES))
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the per-frame notes (pen writing, LoD models) would drown the table
    rows = [
        score(kind, amp, args.seeds) for kind in args.textures for amp in ((0.0,) if kind == "none" else AMPLITUDES)
    ]
    pd.set_option("display.width", 200)
    print(f"MISEV marker panels (16-bit raw), {args.seeds} seeds, a background texture added (+-amplitude x level):")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
