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

On the randomised generator (``--generator random``) it also prints the scores
against the truth a person could see: vesicles whose signal-to-noise ratio lies
under the Rose criterion (``exo_vision.evaluation.visibility``) or that a burnt-in
scale bar, label or data strip mostly covers are "don't care" there. With
``--by-kind`` it breaks recall down by that ratio as well.

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
from pathlib import Path

import numpy as np
import pandas as pd
from bench_record import add_method_option, write_json
from size_classes import class_names, diameter_class, equivalent_diameters_nm

from exo_vision.evaluation.visibility import ROSE_THRESHOLD, rose_snr
from exo_vision.measure.vesicles import touching_labels

LEVELS = ("easy", "medium", "hard", "extreme")
PIXEL_SIZES_NM = (0.35, 0.5, 0.8, 1.1, 1.5)
#: Pixel sizes of the randomised set (nm): its look-space is drawn at the scales a network works at.
RANDOM_PIXEL_SIZES_NM = (1.5, 2.0, 3.0)


#: Classes of the truth vesicles' signal-to-noise ratio (Rose; ``exo_vision.evaluation.visibility``).
SNR_CLASSES = (ROSE_THRESHOLD, 10.0, 20.0, 50.0)

#: A truth vesicle lying at least this share under a burnt-in scale bar, label or data strip is hidden by it.
HIDDEN_SHARE = 0.5


def _random_set_image(spec: dict) -> tuple[np.ndarray, np.ndarray, None, dict[int, tuple[float, bool]]]:
    """The randomised generator's micrograph (a seed never used in training), its labels and truth visibility.

    The visibility of each truth vesicle is ``(signal-to-noise ratio, hidden)``: the ratio by
    the Rose criterion read against the generator's noise-free image, and whether a burnt-in
    annotation covers at least :data:`HIDDEN_SHARE` of it.
    """
    from exo_vision.synthetic.tem_random import GENERATOR_VERSION, make_random_tem

    sample = make_random_tem(
        (spec["size"], spec["size"]),
        pixel_size_nm=spec["pixel_size_nm"],
        rng=spec["seed"],
        version=spec["look"] or GENERATOR_VERSION,
    )
    image8 = (sample.image * 255).astype(np.uint8)
    snr = rose_snr(sample.labels, image8 / 255.0, sample.noise_free)
    area = np.bincount(sample.labels.ravel())
    covered = np.bincount(sample.labels[sample.annotation].ravel(), minlength=area.size)
    visibility = {k: (v, bool(covered[k] >= HIDDEN_SHARE * area[k])) for k, v in snr.items()}
    return image8, sample.labels, None, visibility


def run_one(spec: dict) -> dict:
    """Generate, segment and score one image; return per-image counts and errors."""
    from exo_vision.evaluation import match_instances, score_detection
    from exo_vision.measure.vesicles import measure_vesicles
    from exo_vision.segmentation.api import segment_vesicles
    from exo_vision.synthetic.tem import make_synthetic_tem

    visibility: dict[int, tuple[float, bool]] = {}
    if spec["generator"] == "random":
        image, truth_labels, truth_table, visibility = _random_set_image(spec)
    else:
        image, truth = make_synthetic_tem(
            (spec["size"], spec["size"]),
            pixel_size_nm=spec["pixel_size_nm"],
            difficulty=spec["difficulty"],
            polarity=spec["polarity"],
            rng=spec["seed"],
        )
        truth_labels, truth_table = truth.labels, truth.vesicles
    t0 = time.perf_counter()
    seg = segment_vesicles(image, pixel_size_nm=spec["pixel_size_nm"], method=spec["method"], model=spec.get("model"))
    table = measure_vesicles(seg.labels, image, pixel_size_nm=spec["pixel_size_nm"], polarity=seg.polarity)
    elapsed = time.perf_counter() - t0
    matches = match_instances(truth_labels, seg.labels)
    n_truth = int(len(np.unique(truth_labels[truth_labels > 0])))
    n_pred = int(len(table))
    by_label = table.set_index("label")
    truth_area = np.bincount(truth_labels.ravel())
    errors, cup_ok = [], []
    for a, b, _ in matches:
        row_p = by_label.loc[b]
        if truth_table is not None:
            row_t = truth_table.iloc[a - 1]
            true_d = row_t["equivalent_diameter_nm"]
            cup_ok.append((row_p["morphology"] == "cup") == (row_t["morphology"] == "cup"))
        else:
            true_d = 2 * np.sqrt(truth_area[a] / np.pi) * spec["pixel_size_nm"]
        if not row_p["touches_border"]:
            errors.append((row_p["equivalent_diameter_nm"] - true_d) / true_d)
    unseeable = [k for k, (snr, hidden) in visibility.items() if snr < ROSE_THRESHOLD or hidden]
    seeable = score_detection(truth_labels, seg.labels, dont_care=unseeable)
    return dict(
        truth_kinds=_truth_kinds(truth_labels, {a for a, _, _ in matches}, spec["pixel_size_nm"], visibility),
        seeable=(seeable.tp, seeable.fp, seeable.fn),
        difficulty=spec["difficulty"],
        pixel_size_nm=spec["pixel_size_nm"],
        polarity=spec["polarity"],
        polarity_ok=spec["polarity"] is None or seg.polarity == spec["polarity"],
        tp=len(matches),
        n_truth=n_truth,
        n_pred=n_pred,
        errors=errors,
        cup_ok=cup_ok,
        seconds=elapsed,
    )


def _truth_kinds(
    truth: np.ndarray, matched: set[int], pixel_size_nm: float, visibility: dict[int, tuple[float, bool]]
) -> list[tuple[str, bool, bool, float, bool]]:
    """``(diameter class, touches another, found, signal-to-noise ratio, hidden)`` of every truth vesicle.

    The ratio is ``nan`` and hidden ``False`` where ``visibility`` has no entry (the project's generator).
    """
    touching = set(touching_labels(truth).tolist())
    return [
        (diameter_class(d), k in touching, k in matched, *visibility.get(k, (float("nan"), False)))
        for k, d in equivalent_diameters_nm(truth, pixel_size_nm).items()
    ]


def recall_by_kind(rows: list[dict]) -> pd.DataFrame:
    """Recall of the truth vesicles by diameter class, by whether they touch or overlap another and,
    on the randomised generator, by signal-to-noise ratio and whether a burnt-in annotation hides them."""
    kinds = [k for r in rows for k in r["truth_kinds"]]
    limits = (0.0, *SNR_CLASSES, np.inf)
    by_snr = [
        (f"signal-to-noise {lo:g}-{hi:g}", lambda k, lo=lo, hi=hi: not k[4] and lo <= k[3] < hi)
        for lo, hi in zip(limits[:-1], limits[1:], strict=True)
    ]
    out = []
    for name, select in (
        *((f"diameter {c} nm", lambda k, c=c: k[0] == c) for c in class_names()),
        ("touching or overlapping another", lambda k: k[1]),
        ("isolated", lambda k: not k[1]),
        *(by_snr if any(np.isfinite(k[3]) for k in kinds) else ()),
        *((("hidden by a burnt-in annotation", lambda k: k[4]),) if any(k[4] for k in kinds) else ()),
    ):
        found = [k[2] for k in kinds if select(k)]
        out.append({"truth vesicles": name, "n": len(found), "recall": np.mean(found) if found else float("nan")})
    return pd.DataFrame(out)


def summarise(rows: list[dict]) -> pd.DataFrame:
    """Per-level and overall precision, recall, F1, diameter error and cup accuracy."""
    out = []
    groups = [(level, [r for r in rows if r["difficulty"] == level]) for level in (*LEVELS, "random")]
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
        out.append(
            dict(
                level=name,
                images=len(group),
                truth=n_truth,
                detected=n_pred,
                matched=tp,
                precision=precision,
                recall=recall,
                f1=f1,
                median_abs_diameter_error_pct=100 * float(np.median(np.abs(errors))) if errors.size else float("nan"),
                median_diameter_bias_pct=100 * float(np.median(errors)) if errors.size else float("nan"),
                cup_accuracy=float(cups.mean()) if cups.size else float("nan"),
                polarity_accuracy=float(np.mean([r["polarity_ok"] for r in group])),
                seconds_per_image=float(np.mean([r["seconds"] for r in group])),
            )
        )
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=32, help="number of images (default 32, >= 30 for the bar)")
    parser.add_argument("--size", type=int, default=2048, help="image side in pixels (default 2048)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed (default 1000)")
    add_method_option(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write the summary table to this JSON file")
    parser.add_argument(
        "--by-kind",
        action="store_true",
        help="also print recall by truth diameter class and by whether a vesicle touches another",
    )
    parser.add_argument("--model", default=None, help="a model file (.onnx with its card) for the unet method")
    parser.add_argument(
        "--generator",
        choices=("project", "random"),
        default="project",
        help="the project's generator (levels easy..extreme) or the domain-randomised one "
        "(exo_vision.synthetic.tem_random; pick a --seed the training never used, e.g. 900000)",
    )
    parser.add_argument(
        "--look",
        default=None,
        help="look-space of the randomised generator (random-1 .. random-4; default: the training default)",
    )
    args = parser.parse_args()
    if args.n < 1 or args.size < 256 or args.workers < 1:
        parser.error("need --n >= 1, --size >= 256 and --workers >= 1")
    specs = []
    for i in range(args.n):
        if args.generator == "random":
            specs.append(
                dict(
                    size=args.size,
                    difficulty="random",
                    pixel_size_nm=RANDOM_PIXEL_SIZES_NM[i % 3],
                    polarity=None,
                    seed=args.seed + i,
                    method=args.method,
                    generator="random",
                    model=args.model,
                    look=args.look,
                )
            )
            continue
        specs.append(
            dict(
                size=args.size,
                difficulty=LEVELS[i % len(LEVELS)],
                pixel_size_nm=PIXEL_SIZES_NM[(i // len(LEVELS)) % len(PIXEL_SIZES_NM)],
                polarity="dark" if i % 8 == 7 else "bright",
                seed=args.seed + i,
                method=args.method,
                generator="project",
                model=args.model,
            )
        )
    t0 = time.perf_counter()
    if args.workers == 1:
        rows = [run_one(s) for s in specs]
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(run_one, specs))
    summary = summarise(rows)
    pd.set_option("display.width", 200)
    print(
        f"TEM accuracy [{args.method}, {args.generator} generator]: {args.n} images of {args.size}x{args.size}, "
        f"pixel sizes {sorted({s['pixel_size_nm'] for s in specs})} nm, "
        f"{sum(s['polarity'] == 'dark' for s in specs)} with dark polarity; wall time {time.perf_counter() - t0:.0f} s"
    )
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.json is not None:
        figures = {"method": args.method, "model": args.model, "generator": args.generator, "seed": args.seed}
        figures |= {"images_count": args.n, "image_side_px": args.size}
        write_json(args.json, {**figures, "summary": summary.to_dict(orient="records")})
    if args.generator == "random":
        tp, fp, fn = (sum(r["seeable"][i] for r in rows) for i in range(3))
        print(
            f"\nagainst the truth a person could see (vesicles with a signal-to-noise ratio under "
            f"{ROSE_THRESHOLD:g} or at least {HIDDEN_SHARE:.0%} under a burnt-in annotation are don't care): "
            f"matched {tp}, false {fp}, missed {fn}; precision {tp / max(tp + fp, 1):.3f}, "
            f"recall {tp / max(tp + fn, 1):.3f}, F1 {2 * tp / max(2 * tp + fp + fn, 1):.3f}"
        )
    if args.by_kind:
        print("\nrecall by kind of truth vesicle:")
        print(recall_by_kind(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    per_image = pd.DataFrame(
        [{k: v for k, v in r.items() if k not in ("errors", "cup_ok", "truth_kinds", "seeable")} for r in rows]
    )
    worst = per_image.assign(f1=2 * per_image.tp / (per_image.n_truth + per_image.n_pred)).nsmallest(5, "f1")
    print("\nworst images:")
    print(worst.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
