"""Blot quantification on real third-party images (../shared/data, see its README).

Prints:

1. DNA ladder gel (``gels/ladder_reference_gel.tif``, 4 replicate lanes of NEB
   1 kb Plus ladder, known ng per band): lanes found automatically; the
   3 kb band is the strongest band row of the upper half, the rows above it
   are 10/8/6/5/4 kb and below it 2/1.5/1.2 kb. Per lane: Pearson correlation
   of volume with mass over these 9 bands, the 3 kb / 1.5 kb volume ratio
   (true mass ratio 2.1; bar: within 5 %).
2. ChemiDoc 8-bit inverted exports (``blots/chemidoc_*``): the warnings, and
   which alpha-tubulin bands are flagged saturated (with clipped-pixel counts).
3. Panels cropped from the PLOS raw-blot TIFF (4800 x 4800 RGB, LZW): the
   beta-actin strip (4 visible bands) and the KR strip (3 visible bands, lane 1
   blank; run with 4 lanes): bands found and present calls.

Usage::

    .venv/bin/python benchmarks/blot_real.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import tifffile

from exo_vision.blot.quantify import quantify_blot
from exo_vision.io.read import read_image

#: ng per band of NEB 1 kb Plus ladder, 10 kb (top) to 0.1 kb (bottom).
LADDER_NG = (40, 40, 48, 40, 32, 120, 40, 57, 45, 122, 34, 31, 27, 23, 124, 49, 37, 32, 61)
LADDER_KB = (10, 8, 6, 5, 4, 3, 2, 1.5, 1.2, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
#: Crops (rows, columns) of the PLOS raw-blot TIFF holding one panel each, chosen by eye
#: on a 4x-downsampled copy: the grey membrane box of each panel.
PLOS_CROPS = {
    "beta-actin (Fig 1B)": ((1552, 1858), (414, 1380), None, 4),
    "KR (Fig 1B, lane 1 blank)": ((790, 1430), (420, 1375), 4, 3),
}


def ladder_table(result):
    """Volumes of the 9 resolved bands (10 kb .. 1.2 kb) per lane, matched by the 3 kb anchor."""
    b = result.bands
    rows = b.groupby("band").agg(y=("y_px", "median"), vol=("volume", "mean")).sort_values("y")
    upper = rows[rows.y < rows.y.median()]
    anchor = int(upper.vol.idxmax())
    order = list(rows.index)
    k = order.index(anchor)
    if k < 5 or k + 3 >= len(order):
        raise RuntimeError(f"expected 5 band rows above the 3 kb band and 3 below, got {k} above")
    picked = order[k - 5:k + 4]
    masses = np.array(LADDER_NG[:9], float)
    out = {}
    for lane, g in b.groupby("lane"):
        v = g.set_index("band").loc[picked, "volume"].to_numpy(float)
        out[lane] = v
    return picked, masses, out, len(order)


def run(data: Path) -> int:
    gel = data / "gels" / "ladder_reference_gel.tif"
    if not gel.exists():
        print(f"{data} not found: nothing to do (real images are not shipped)")
        return 1
    img = read_image(gel, kind="blot")
    res = quantify_blot(img.data, polarity="bright", max_value=img.max_value)
    picked, masses, vols, n_rows = ladder_table(res)
    print(f"1. {gel.name}: {len(res.lanes)} lanes found, {n_rows} band rows (19 ladder bands; "
          "0.9-0.6 kb run together in this gel)")
    ratios = []
    for lane, v in vols.items():
        r = float(np.corrcoef(v, masses)[0, 1])
        ratio = v[5] / v[7]
        ratios.append(ratio)
        print(f"   lane {lane}: r(volume, ng) over 10..1.2 kb = {r:.3f}; 3 kb/1.5 kb = {ratio:.3f} "
              f"(true 2.1, error {100 * (ratio / 2.1 - 1):+.1f} %)")
    mean = float(np.mean(ratios))
    print(f"   mean 3 kb/1.5 kb = {mean:.3f} vs 2.1 -> error {100 * (mean / 2.1 - 1):+.1f} % (bar within 5 %; "
          "authors: ImageJ 2.08, GelAnalyzer 2.04)")
    allv = np.concatenate([v / v.sum() for v in vols.values()])
    allm = np.tile(masses / masses.sum(), len(vols))
    print(f"   pooled r(volume share, mass share) = {np.corrcoef(allv, allm)[0, 1]:.3f}")

    print("2. ChemiDoc exports")
    for f in sorted((data / "blots").glob("chemidoc_*Chemiluminescence*.tif")):
        img = read_image(f, kind="blot")
        res = quantify_blot(img.data, polarity=img.polarity, max_value=img.max_value)
        sat = res.bands[res.bands.saturated]
        print(f"   {f.name}: {len(res.lanes)} lanes at x = {[round(l.x_centre_px) for l in res.lanes]}")
        for w in dict.fromkeys(img.warnings + res.warnings):
            print(f"     WARNING: {w}")
        print(f"     saturated bands: {len(sat)} of {len(res.bands)} "
              + ", ".join(f"lane {r.lane} band {r.band} ({r.saturated_px} px)" for r in sat.itertuples()))

    print("3. PLOS raw-blot crops (4800x4800 RGB LZW TIFF, grey = mean of RGB)")
    raw = tifffile.imread(data / "blots" / "plos_pone.0237759.s005_raw_blots.tif")
    grey = raw[..., :3].mean(axis=-1).round().astype(np.uint8)
    for name, ((y0, y1), (x0, x1), n_lanes, visible) in PLOS_CROPS.items():
        res = quantify_blot(grey[y0:y1, x0:x1], polarity="dark", n_lanes=n_lanes)
        present = res.bands[res.bands.present]
        print(f"   {name}: crop rows {y0}:{y1}, cols {x0}:{x1}; {len(res.lanes)} lanes, "
              f"{len(present)} bands present (visible: {visible}); per lane present = "
              f"{res.bands.sort_values('lane').present.tolist()}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"),
                        help="folder holding gels/ and blots/ (default ../shared/data)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    sys.exit(run(Path(args.data)))


if __name__ == "__main__":
    main()
