"""Strip and lane finding on generated multi-strip blots, lanes found automatically.

Images come from :func:`exo_vision.synthetic.blot_layout.make_random_layout`
(seeded): 1-4 strips side by side, stacked or in a 2x2 grid, 3-10 lanes per
strip with uneven spacing, smile and tilt, blank lanes (lane 1 or the last
lane blank in about a third of the strips), pre-stained ladder lanes, pen-
written lane numbers and pen dots, strips rotated by up to 1.5 degrees; 16-bit
raw and 8-bit inverted exports. Strips and lanes are found exactly as
``quantify_blot`` finds them (dust removed, ``find_strips``, ``find_lanes``
per strip, ``share_lanes``), with no count given.

Prints:

* strips found: fraction of true strips matched by a found strip (box edges
  within 6 px), and extra strips;
* lanes found: fraction of true lanes with a found lane centre within half a
  lane width;
* lanes: fraction of strips whose lane count is right, split by strips with
  and without a blank end lane, with a ladder, with pen numbers, rotated;
* lane-centre error (px, at the strip's middle row) and lane-edge error (px)
  over the lanes of strips with the right count: median and max;
* the same centre/edge errors on hand-built strips with known rectangular
  lanes (exact x-ranges).

Usage::

    .venv/bin/python benchmarks/blot_lanes.py             # 40 seeds x raw/8-bit
    .venv/bin/python benchmarks/blot_lanes.py --seeds 10  # quick look
    .venv/bin/python benchmarks/blot_lanes.py --json results/blot_lanes.json  # also as JSON
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_record import write_json

from exo_vision.blot.lanes import find_lanes, share_lanes, stacked
from exo_vision.blot.signal import dust_mask, remove_dust, to_signal
from exo_vision.blot.strips import find_strips, whole_image_strip
from exo_vision.synthetic.blot_layout import make_random_layout

#: A found strip matches a true one when every box edge is within this many pixels.
STRIP_TOLERANCE_PX = 6


def detect(image: np.ndarray, polarity: str):
    """Strips and their lanes found as ``quantify_blot`` finds them."""
    signal = to_signal(image, polarity=polarity)
    clean = remove_dust(signal, dust_mask(signal))
    strips = find_strips(clean)
    many = stacked(strips)  # as quantify_blot: stacked strips get their end lanes from share_lanes
    per_strip = share_lanes([find_lanes(clean, s, infer_end_lanes=not m) for s, m in zip(strips, many)], strips)
    return strips, per_strip


def score_layout(layout, strips, per_strip) -> tuple[list[dict], list[dict]]:
    """One record per true strip and one per true lane of a strip with the right lane count."""
    strip_rows, lane_rows = [], []
    for t in layout.strips.itertuples():
        truth_box = np.array([t.y_top_px, t.y_bottom_px, t.x_left_px, t.x_right_px])
        match = None
        for s, lanes in zip(strips, per_strip):
            box = np.array([s.y_top_px, s.y_bottom_px, s.x_left_px, s.x_right_px])
            if np.abs(box - truth_box).max() <= STRIP_TOLERANCE_PX:
                match = (s, lanes)
        tl = layout.lanes[layout.lanes.strip == t.strip].sort_values("lane")
        rec = dict(
            strip=t.strip,
            found=match is not None,
            n_true=len(tl),
            n_found=np.nan,
            blank_end=bool(tl.blank.iloc[0] or tl.blank.iloc[-1]),
            ladder=bool(tl.ladder.any()),
            rotated=t.rotation_deg != 0,
            export=layout.polarity,
        )
        rec["lanes_hit"] = 0
        if match is not None:
            s, lanes = match
            rec["n_found"] = len(lanes)
            # true lanes with a found lane centre within half a lane width (whatever the count)
            rec["lanes_hit"] = sum(
                any(abs(float(f.centre_x(tr.y_centre_px)) - tr.x_centre_px) < tr.lane_width_px / 2 for f in lanes)
                for tr in tl.itertuples()
            )
            if len(lanes) == len(tl):
                for lane, tr in zip(sorted(lanes, key=lambda item: item.x_centre_px), tl.itertuples()):
                    x = float(lane.centre_x(tr.y_centre_px))
                    lane_rows.append(
                        dict(
                            centre_err=abs(x - tr.x_centre_px),
                            edge_err=max(
                                abs(x - lane.width_px / 2 - tr.x_left_px), abs(x + lane.width_px / 2 - tr.x_right_px)
                            ),
                            width_err=lane.width_px - tr.lane_width_px,
                            blank=tr.blank,
                            ladder=tr.ladder,
                        )
                    )
        strip_rows.append(rec)
    return strip_rows, lane_rows


def hand_built(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A flat strip with rectangular lanes of known column ranges (uneven spacing, 2-3 bands each)."""
    n = int(rng.integers(3, 9))
    width = int(rng.integers(20, 60))
    x = int(rng.integers(10, 40))
    ranges = []
    for _ in range(n):
        ranges.append((x, x + width))
        x += width + int(rng.integers(8, 30))
    img = rng.normal(200.0, 4.0, (200, x + int(rng.integers(10, 40))))
    rows = rng.choice(np.arange(30, 170, 12), size=3, replace=False)
    for a, b in ranges:
        for r in rows[: int(rng.integers(1, 4))]:
            img[r : r + int(rng.integers(4, 10)), a:b] += rng.uniform(100, 3000)
    return img.astype(np.float32), ranges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    t0 = time.perf_counter()
    strips_rec, lanes_rec = [], []
    extra = 0
    for seed in range(args.seeds):
        for export in ("raw", "inverted8"):
            layout = make_random_layout(rng=1000 + seed, export=export)
            strips, per_strip = detect(layout.image, layout.polarity)
            s, lanes_found = score_layout(layout, strips, per_strip)
            extra += max(0, len(strips) - sum(r["found"] for r in s))
            strips_rec += s
            lanes_rec += lanes_found
    st = pd.DataFrame(strips_rec)
    ln = pd.DataFrame(lanes_rec)
    secs = time.perf_counter() - t0
    n_img = 2 * args.seeds
    right = st.n_found == st.n_true
    print(
        f"{n_img} generated images ({args.seeds} seeds x raw 16-bit / 8-bit inverted), {len(st)} strips, "
        f"{int(st.n_true.sum())} lanes; {secs:.1f} s"
    )
    print(
        f"strips found (box within {STRIP_TOLERANCE_PX} px)        {st.found.mean():7.1%}   "
        f"({int(st.found.sum())}/{len(st)}; extra strips found: {extra})"
    )
    print(
        f"true lanes found (centre within half a lane) {st.lanes_hit.sum() / st.n_true.sum():5.1%}   "
        f"({int(st.lanes_hit.sum())}/{int(st.n_true.sum())})"
    )
    print(f"lane count right, all strips               {right.mean():7.1%}   ({int(right.sum())}/{len(st)})")
    figures: dict = {
        "seeds": args.seeds,
        "images_count": n_img,
        "strips_count": len(st),
        "lanes_count": int(st.n_true.sum()),
        "time_s": secs,
        "strip_tolerance_px": STRIP_TOLERANCE_PX,
        "strips_found_fraction": float(st.found.mean()),
        "extra_strips_count": extra,
        "true_lanes_found_fraction": float(st.lanes_hit.sum() / st.n_true.sum()),
        "lane_count_right_fraction": float(right.mean()),
        "lane_count_right_by_group_fraction": {},
    }
    for name, sel in (
        ("  strips with a blank end lane", st.blank_end),
        ("  strips without a blank end lane", ~st.blank_end),
        ("  strips with a ladder lane", st.ladder),
        ("  rotated strips", st.rotated),
        ("  16-bit raw", st.export == "bright"),
        ("  8-bit inverted", st.export == "dark"),
    ):
        if sel.any():
            print(f"{name:<43}{right[sel].mean():7.1%}   ({int(right[sel].sum())}/{int(sel.sum())})")
            figures["lane_count_right_by_group_fraction"][name.strip()] = float(right[sel].mean())
    if len(ln):
        print(
            f"lane-centre error (px), median / max        {ln.centre_err.median():.2f} / {ln.centre_err.max():.2f}"
            f"   ({len(ln)} lanes in strips with the right count)"
        )
        print(f"lane-edge error (px), median / max          {ln.edge_err.median():.2f} / {ln.edge_err.max():.2f}")
        figures.update(
            lanes_scored_count=len(ln),
            lane_centre_error_median_px=float(ln.centre_err.median()),
            lane_centre_error_max_px=float(ln.centre_err.max()),
            lane_edge_error_median_px=float(ln.edge_err.median()),
            lane_edge_error_max_px=float(ln.edge_err.max()),
            by_lane_kind={},
        )
        for name, sel in (
            ("  lanes with bands", ~ln.blank & ~ln.ladder),
            ("  ladder lanes", ln.ladder),
            ("  blank lanes (position inferred)", ln.blank),
        ):
            if sel.any():
                print(
                    f"{name:<43}centre {ln.centre_err[sel].median():.2f} / {ln.centre_err[sel].max():.2f}, "
                    f"edge {ln.edge_err[sel].median():.2f} / {ln.edge_err[sel].max():.2f}   ({int(sel.sum())} lanes)"
                )
                figures["by_lane_kind"][name.strip()] = {
                    "lanes_count": int(sel.sum()),
                    "centre_error_median_px": float(ln.centre_err[sel].median()),
                    "centre_error_max_px": float(ln.centre_err[sel].max()),
                    "edge_error_median_px": float(ln.edge_err[sel].median()),
                    "edge_error_max_px": float(ln.edge_err[sel].max()),
                }
        print(f"lane width found - true (px), median        {ln.width_err.median():+.2f}")
        figures["lane_width_error_median_px"] = float(ln.width_err.median())
    wrong = st[~right]
    if len(wrong):
        print(
            "strips with the wrong lane count (true -> found):",
            ", ".join(
                f"{int(r.n_true)}->{'missed strip' if np.isnan(r.n_found) else int(r.n_found)}"
                + ("*" if r.blank_end else "")
                for r in wrong.itertuples()
            ),
            "(* = blank end lane)",
        )
    figures["wrong_lane_counts"] = [
        {
            "true_count": int(r.n_true),
            "found_count": None if np.isnan(r.n_found) else int(r.n_found),
            "blank_end": bool(r.blank_end),
        }
        for r in wrong.itertuples()
    ]
    # hand-built strips: rectangles with exactly known column ranges
    rng = np.random.default_rng(7)
    errs = []
    n_right = 0
    n = 30
    for _ in range(n):
        img, ranges = hand_built(rng)
        lanes = find_lanes(img, whole_image_strip(img.shape))
        if len(lanes) != len(ranges):
            continue
        n_right += 1
        for lane, (a, b) in zip(lanes, ranges):
            centre = (a + b - 1) / 2
            left, right_edge = a - 0.5, b - 0.5
            errs.append(
                (
                    abs(lane.x_centre_px - centre),
                    max(
                        abs(lane.x_centre_px - lane.width_px / 2 - left),
                        abs(lane.x_centre_px + lane.width_px / 2 - right_edge),
                    ),
                )
            )
    e = np.array(errs)
    print(
        f"hand-built rectangular lanes: count right {n_right}/{n}; centre error median / max "
        f"{np.median(e[:, 0]):.2f} / {e[:, 0].max():.2f} px; edge error median / max "
        f"{np.median(e[:, 1]):.2f} / {e[:, 1].max():.2f} px"
    )
    if args.json is not None:
        figures["hand_built"] = {
            "strips_count": n,
            "count_right_count": n_right,
            "centre_error_median_px": float(np.median(e[:, 0])),
            "centre_error_max_px": float(e[:, 0].max()),
            "edge_error_median_px": float(np.median(e[:, 1])),
            "edge_error_max_px": float(e[:, 1].max()),
        }
        write_json(args.json, figures)


if __name__ == "__main__":
    main()
