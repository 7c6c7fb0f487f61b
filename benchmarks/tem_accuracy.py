"""Accuracy of TEM vesicle segmentation on generated micrographs with known truth.

Generates a seeded set of negative-stain micrographs (``make_synthetic_tem``)
across difficulty levels and pixel sizes, runs ``segment_vesicles`` +
``measure_vesicles`` on each (with the default annotation masking, i.e. the
scale bar is found by the calibration module) and prints, per difficulty level
and overall:

- detection precision, recall and F1 (one-to-one matching at IoU >= 0.5);
- median relative error of ``equivalent_diameter_nm`` (matched vesicles that do
  not touch the image border; signed bias and absolute error);
- cup accuracy: ``morphology == "cup"`` against truth on matched vesicles;
- polarity detection accuracy and mean time per image.

Bar (issue 3): F1 >= 0.95 overall and >= 0.90 on the hardest level, median
diameter error <= 3 %, cup accuracy >= 90 %.

Usage::

    python benchmarks/tem_accuracy.py               # 32 images of 2048x2048
    python benchmarks/tem_accuracy.py --n 8 --size 1024 --workers 2
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

LEVELS = ("easy", "medium", "hard", "extreme")
PIXEL_SIZES_NM = (0.35, 0.5, 0.8, 1.1, 1.5)


def match_instances(truth: np.ndarray, pred: np.ndarray, *, min_iou: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(truth_label, pred_label, iou)`` with IoU >= ``min_iou``.

    Greedy on IoU, highest first (for IoU > 0.5 any match is already unique).
    """
    nt, npred = int(truth.max()), int(pred.max())
    if nt == 0 or npred == 0:
        return []
    both = (truth > 0) & (pred > 0)
    pair = truth[both].astype(np.int64) * (npred + 1) + pred[both]
    keys, inter = np.unique(pair, return_counts=True)
    area_t = np.bincount(truth.ravel(), minlength=nt + 1)
    area_p = np.bincount(pred.ravel(), minlength=npred + 1)
    t_ids, p_ids = np.divmod(keys, npred + 1)
    iou = inter / (area_t[t_ids] + area_p[p_ids] - inter)
    order = np.argsort(-iou)
    used_t, used_p, out = set(), set(), []
    for k in order:
        if iou[k] < min_iou:
            break
        a, b = int(t_ids[k]), int(p_ids[k])
        if a in used_t or b in used_p:
            continue
        used_t.add(a)
        used_p.add(b)
        out.append((a, b, float(iou[k])))
    return out


def run_one(spec: dict) -> dict:
    """Generate, segment and score one image; return per-image counts and errors."""
    from exo_vision.measure.vesicles import measure_vesicles
    from exo_vision.segmentation.vesicles import segment_vesicles
    from exo_vision.synthetic.tem import make_synthetic_tem

    image, truth = make_synthetic_tem(
        (spec["size"], spec["size"]), pixel_size_nm=spec["pixel_size_nm"], difficulty=spec["difficulty"],
        polarity=spec["polarity"], rng=spec["seed"],
    )
    t0 = time.perf_counter()
    seg = segment_vesicles(image, pixel_size_nm=spec["pixel_size_nm"])
    table = measure_vesicles(seg.labels, image, pixel_size_nm=spec["pixel_size_nm"], polarity=seg.polarity)
    elapsed = time.perf_counter() - t0
    matches = match_instances(truth.labels, seg.labels)
    n_truth = int(len(np.unique(truth.labels[truth.labels > 0])))
    n_pred = int(len(table))
    by_label = table.set_index("label")
    errors, cup_ok = [], []
    for a, b, _ in matches:
        row_t = truth.vesicles.iloc[a - 1]
        row_p = by_label.loc[b]
        if not row_p["touches_border"]:
            errors.append((row_p["equivalent_diameter_nm"] - row_t["equivalent_diameter_nm"]) / row_t["equivalent_diameter_nm"])
        cup_ok.append((row_p["morphology"] == "cup") == (row_t["morphology"] == "cup"))
    return dict(
        difficulty=spec["difficulty"], pixel_size_nm=spec["pixel_size_nm"], polarity=spec["polarity"],
        polarity_ok=seg.polarity == spec["polarity"], tp=len(matches), n_truth=n_truth, n_pred=n_pred,
        errors=errors, cup_ok=cup_ok, seconds=elapsed,
    )


def summarise(rows: list[dict]) -> pd.DataFrame:
    """Per-level and overall precision, recall, F1, diameter error and cup accuracy."""
    out = []
    groups = [(level, [r for r in rows if r["difficulty"] == level]) for level in LEVELS]
    groups.append(("overall", rows))
    for name, group in groups:
        if not group:
            continue
        tp = sum(r["tp"] for r in group)
        n_pred = sum(r["n_pred"] for r in group)
        n_truth = sum(r["n_truth"] for r in group)
        precision = tp / n_pred if n_pred else float("nan")
        recall = tp / n_truth if n_truth else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        errors = np.concatenate([np.asarray(r["errors"], dtype=float) for r in group])
        cups = np.concatenate([np.asarray(r["cup_ok"], dtype=bool) for r in group])
        out.append(dict(
            level=name, images=len(group), truth=n_truth, detected=n_pred, matched=tp,
            precision=precision, recall=recall, f1=f1,
            median_abs_diameter_error_pct=100 * float(np.median(np.abs(errors))) if errors.size else float("nan"),
            median_diameter_bias_pct=100 * float(np.median(errors)) if errors.size else float("nan"),
            cup_accuracy=float(cups.mean()) if cups.size else float("nan"),
            polarity_accuracy=float(np.mean([r["polarity_ok"] for r in group])),
            seconds_per_image=float(np.mean([r["seconds"] for r in group])),
        ))
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32, help="number of images (default 32, >= 30 for the bar)")
    parser.add_argument("--size", type=int, default=2048, help="image side in pixels (default 2048)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed (default 1000)")
    args = parser.parse_args()
    if args.n < 1 or args.size < 256 or args.workers < 1:
        parser.error("need --n >= 1, --size >= 256 and --workers >= 1")
    specs = []
    for i in range(args.n):
        specs.append(dict(
            size=args.size, difficulty=LEVELS[i % len(LEVELS)],
            pixel_size_nm=PIXEL_SIZES_NM[(i // len(LEVELS)) % len(PIXEL_SIZES_NM)],
            polarity="dark" if i % 8 == 7 else "bright", seed=args.seed + i,
        ))
    t0 = time.perf_counter()
    if args.workers == 1:
        rows = [run_one(s) for s in specs]
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(run_one, specs))
    summary = summarise(rows)
    pd.set_option("display.width", 200)
    print(f"TEM accuracy: {args.n} images of {args.size}x{args.size}, pixel sizes {sorted({s['pixel_size_nm'] for s in specs})} nm, "
          f"{sum(s['polarity'] == 'dark' for s in specs)} with dark polarity; wall time {time.perf_counter() - t0:.0f} s")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    per_image = pd.DataFrame([{k: v for k, v in r.items() if k not in ("errors", "cup_ok")} for r in rows])
    worst = per_image.assign(f1=2 * per_image.tp / (per_image.n_truth + per_image.n_pred)).nsmallest(5, "f1")
    print("\nworst images:")
    print(worst.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
