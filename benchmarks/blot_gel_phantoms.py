"""Where the unmatched band reports on the GelGenie lab gels lie (a hand check of three gels).

The GelGenie masks (``../shared/data/gels/lab_gels_with_masks``) were checked by eye against the
images (``blot_truth/ANNOTATION.md``): they hold the clearly visible bands. This script sorts the
reports that match no mask component (the "phantoms" of ``blot_real.py`` section 2) on three gels by
where they sit, from geometry read by eye off full-resolution overlays (``HAND``: the rows of the well
combs, the gel's rows and its left edge): off the gel (glove, label strip, dark surround), on a well
row (within 25 px of a comb's centre row), on the gel's top/bottom edge (within 40 px), in a lane that
holds no mask band, or in a sample lane (pieces of smears, split bands, faint unmasked material).

Usage::

    .venv/bin/python benchmarks/blot_gel_phantoms.py [--data ../shared/data] [--png DIR] [--json PATH]

With ``--png`` an overlay per gel is written: mask outlines green, matched reports red, unmatched
magenta, lanes blue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from bench_record import write_json
from blot_real import main_for, masked_gel_images

from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.scoring import score_bands

#: Read by eye from full-resolution overlays: well-comb centre rows, gel rows (top, bottom), gel left edge (px).
HAND = {
    "Pair_2and3 Wk9 GelRed": dict(wells=[138, 527], gel=(40, 950), left=45),
    "Pair_6and7 Wk10 GelRed": dict(wells=[124, 581], gel=(40, 965), left=150),
    "Ivan-gels ": dict(wells=[], gel=(82, 523), left=0),
}
CATEGORIES = (
    "off the gel (glove, label, dark surround)",
    "on a well row",
    "on the gel's top/bottom edge",
    "in a lane with no mask band",
    "in a sample lane (smear piece, split band, faint unmasked)",
)


def category(report, lanes, boxes: pd.DataFrame, hand: dict) -> str:
    """Where one unmatched report lies (see the module docstring)."""
    x, y = (report.x_left_px + report.x_right_px) / 2, report.y_px
    lane = next(lane for lane in lanes if lane.strip == report.strip and lane.index == report.lane)
    x0, x1 = lane.x_centre_px - lane.width_px / 2, lane.x_centre_px + lane.width_px / 2
    top, bottom = hand["gel"]
    if x < hand["left"] or y < top or y > bottom:
        return CATEGORIES[0]
    if any(abs(y - w) <= 25 for w in hand["wells"]):
        return CATEGORIES[1]
    if y < top + 40 or y > bottom - 40:
        return CATEGORIES[2]
    if not ((boxes.x_right_px > x0) & (boxes.x_left_px < x1)).any():
        return CATEGORIES[3]
    return CATEGORIES[4]


def draw(path: Path, grey: np.ndarray, mask: np.ndarray, result, unmatched: set[int]) -> None:
    """Overlay: mask outlines green, matched reports red, unmatched magenta, lanes blue."""
    import cv2

    g = grey.astype(float)
    lo, hi = np.percentile(g, [1, 99.7])
    rgb = cv2.cvtColor((np.clip((g - lo) / max(hi - lo, 1), 0, 1) ** 0.7 * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(rgb, contours, -1, (0, 220, 0), 1)
    for lane in result.lanes:
        cv2.polylines(rgb, [np.array([[x, y] for y, x in lane.polygon_yx()], np.int32)], True, (255, 128, 0), 1)
    for r in result.bands[result.bands.present].itertuples():
        colour = (255, 0, 255) if r.label in unmatched else (0, 0, 255)
        cv2.rectangle(
            rgb, (int(r.x_left_px), int(r.y_top_px)), (int(r.x_right_px) - 1, int(r.y_bottom_px) - 1), colour, 1
        )
    cv2.imwrite(str(path), rgb)


def run(data: Path, png: Path | None, json_path: Path | None = None) -> int:
    if not (data / "gels" / "lab_gels_with_masks").is_dir():
        print(f"{data}/gels/lab_gels_with_masks not found: nothing to do (real images are not shipped)")
        return 1
    totals = dict.fromkeys(CATEGORIES, 0)
    gels = []
    for stem, grey, mask, boxes in masked_gel_images(data):
        if stem not in HAND:
            continue
        res = quantify_blot(grey, image_name=stem)
        score = score_bands(res.bands, boxes)
        counts = dict.fromkeys(CATEGORIES, 0)
        for r in score.phantoms.itertuples():
            counts[category(r, res.lanes, boxes, HAND[stem])] += 1
        print(
            f"{stem.strip()}: mask bands {len(boxes)}, reported {score.n_reported}, matched {score.n_found}, "
            f"unmatched {score.n_phantom}"
        )
        for name, k in counts.items():
            print(f"   {k:4d}  {name}")
            totals[name] += k
        gels.append(
            {
                "gel": stem.strip(),
                "mask_bands_count": len(boxes),
                "reported_count": score.n_reported,
                "matched_count": score.n_found,
                "unmatched_count": score.n_phantom,
                "unmatched_count_by_place": counts,
            }
        )
        if png is not None:
            png.mkdir(parents=True, exist_ok=True)
            draw(png / f"{stem.strip().replace(' ', '_')}.png", grey, mask, res, set(score.phantoms.label))
    n = sum(totals.values())
    print(
        f"all three: {n} unmatched reports; "
        + "; ".join(f"{name} {k} ({100 * k / max(n, 1):.0f} %)" for name, k in totals.items())
    )
    if json_path is not None:
        fractions = {name: k / max(n, 1) for name, k in totals.items()}
        figures = {"gels": gels, "unmatched_count": n, "unmatched_count_by_place": totals}
        write_json(json_path, {**figures, "unmatched_fraction_by_place": fractions})
    return 0


def main() -> None:
    main_for(run, __doc__, "write an overlay per gel into this folder")


if __name__ == "__main__":
    main()
