"""Blots imaged a few degrees off square: the project's generated blots turned in the camera frame.

A membrane laid by hand in the imager is often a few degrees off square, and analysts straighten it
in Image Lab before boxing lanes. Here the project's generated blots (marker panels of three stacked
strips, random blots, two-membrane frames; 16-bit raw) are turned about the image centre by each
angle (bilinear; the corners filled with the camera floor, the image's 0.1th percentile), their truth
moved with them, and quantified with each strip's marker requested, as ``blot_accuracy.py`` does. The
seeds are not those of ``blot_accuracy.py`` (first seed 700 by default).

Printed per angle: images that fail (with the first message), present/absent calls correct at the
truth bands (absent bands, and present bands clearly above the detection limit), **phantom present
calls** (a "present" at an absent truth band: calnexin called present in an EV lane, say), calnexin
absent in the panels' EV lanes, and the median and worst |EV/lysate ratio error| of the panels' CD9
and CD63 lanes.

Usage::

    .venv/bin/python benchmarks/blot_rotation.py [--angles -6 -4 -2 0 2 4 6] [--seeds 5] [--first-seed 700]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd
from blot_accuracy import match, strip_markers

from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.straighten import straighten_if_turned
from exo_vision.synthetic.blot import (
    SyntheticBlot,
    make_marker_panel,
    make_random_blot,
    make_two_membrane_frame,
    turned_blot,
)


def blots(seeds: int, first: int, export: str = "raw") -> list[tuple[str, SyntheticBlot]]:
    """The generated blots of every kind (``export``: 16-bit ``raw`` or 8-bit ``inverted8``)."""
    out = []
    for seed in range(first, first + seeds):
        out.append(("panel", make_marker_panel(rng=seed, export=export)))
        out.append(("random", make_random_blot(rng=seed, export=export)))
        out.append(("frame", make_two_membrane_frame(rng=seed, export=export)))
    return out


def score(kind_blots: list[tuple[str, SyntheticBlot]], angle: float, *, straighten: bool = True) -> dict:
    """Quantify every blot turned by ``angle``; the figures of one row of the table."""
    matched, failures, straightened_by = [], [], []
    for kind, blot in kind_blots:
        moved = turned_blot(blot, angle)
        markers = strip_markers(moved)
        try:
            image, undone = (
                straighten_if_turned(moved.image, polarity=moved.polarity, max_value=moved.max_value)
                if straighten
                else (moved.image, None)
            )
            res = quantify_blot(image, polarity=moved.polarity, max_value=moved.max_value, markers=markers)
        except ValueError as err:
            failures.append(f"{kind}: {err}")
            continue
        straightened_by.append(0.0 if undone is None else undone)
        m = match(turned_blot(moved, -undone) if undone is not None else moved, res)
        m["kind"], m["blot"], m["gain"] = kind, id(blot), blot.counts_per_raw_count
        matched.append(m)
    m = pd.concat(matched, ignore_index=True)
    # a truth band's volume in the image's units over the quantified central part of its lane
    expected = m.true_volume * m.gain * m.scale.fillna(0.65)
    lod = m.lod.fillna(m.groupby("blot").lod.transform("median")).fillna(0.0)
    absent = ~m.present
    clear = m.present & (m.saturated | (expected >= 2 * lod))
    correct = (absent & ~m.present_call) | (clear & m.present_call)
    errors = []
    for (_, _strip), g in m[(m.kind == "panel") & m.marker.isin(["CD9", "CD63"])].groupby(["blot", "strip"]):
        g = g.sort_values("lane")
        ref = g.iloc[0]
        errors += [
            abs((r.volume / ref.volume) / (r.true_volume / ref.true_volume) - 1) for r in g.iloc[1:].itertuples()
        ]
    errors = np.array(errors, float)
    calnexin = m[(m.kind == "panel") & (m.marker == "calnexin") & (m.lane > 1)]
    return {
        "angle_deg": angle,
        "images": len(kind_blots),
        "failed": len(failures),
        "present_absent_correct": float(correct[absent | clear].mean()),
        "phantom_present_calls": int((absent & m.present_call).sum()),
        "missed_clear_bands": int((clear & ~m.present_call).sum()),
        "calnexin_absent_in_ev_lanes": float((~calnexin.present_call).mean()) if len(calnexin) else np.nan,
        "ratio_error_median": float(np.nanmedian(errors)) if errors.size else np.nan,
        "ratio_error_worst": float(np.nanmax(errors)) if errors.size else np.nan,
        "straightened": int(np.count_nonzero(straightened_by)),
        "first_failure": failures[0] if failures else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--angles", type=float, nargs="+", default=[-6, -4, -2, -1, 0, 1, 2, 4, 6])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per blot kind (default 5)")
    parser.add_argument("--first-seed", type=int, default=700, help="first seed (default 700)")
    parser.add_argument(
        "--export",
        choices=("raw", "inverted8"),
        default="raw",
        help="16-bit raw frames (default) or 8-bit inverted 'for publication' exports",
    )
    parser.add_argument(
        "--no-straighten", action="store_true", help="quantify the turned images as they are (as before straightening)"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    kind_blots = blots(args.seeds, args.first_seed, args.export)
    start = time.perf_counter()
    rows = [score(kind_blots, angle, straighten=not args.no_straighten) for angle in args.angles]
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 90)
    print(
        f"{len(kind_blots)} generated {'16-bit' if args.export == 'raw' else '8-bit inverted'} blots ({args.seeds} "
        f"seeds from {args.first_seed} x marker panel / random "
        "blot / two-membrane frame), each turned by every angle (counter-clockwise on screen)"
    )
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
