"""Accuracy of every segmentation method on real micrographs with truth (``../shared/data/tem``).

Real images from other labs are what exo_vision is judged on, so this table
comes first. For each method of ``exo_vision.segmentation.api.available_methods``:

* ``hrml`` — the real EV micrograph (3072², 0.624 nm/px from its burnt-in
  500 nm bar, read as ``exo-vision tem`` reads it). Truth: the project's
  ellipses (``tests/data/hrml_truth/``); low-confidence objects are "don't
  care". Also printed: each confident EV's diameter error, and whether
  anything was reported on the scale bar or the listed look-alikes.
* ``frunet full fields`` — renders of three whole micrographs of another lab
  (435², about 5 nm/px) with manual instance annotations.
* ``frunet patches`` — 20 crops of another data set (about 3.83 nm/px). Their
  annotations are selective, so recall is the reliable figure.

Detection: one-to-one matching at IoU >= 0.5 (``exo_vision.evaluation``).
``recall_95ci`` and ``F1_95ci`` are 95 % intervals from the counts (Wilson; a
Jeffreys-prior draw of the three outcome shares for F1). They treat every vesicle as independent, so
they are the least uncertainty a set of this size carries.
The model was trained on generated images only; none of these images was used
to train or tune it.

Usage::

    python benchmarks/tem_real.py [--data ../shared/data] [--methods unet classical] [--overlays DIR] [--json [PATH]]
    python benchmarks/tem_real.py --methods unet --model CANDIDATE.onnx --sets patches
    python benchmarks/tem_real.py --sets full_fields patches --pixel-size-spread   # figures at 0.94-1.06 x the estimate
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from bench_record import write_json
from PIL import Image
from size_classes import class_names, diameter_class, equivalent_diameters_nm

from exo_vision.evaluation import DetectionScore, score_detection
from exo_vision.io import read_image
from exo_vision.io.image_data import ImageData
from exo_vision.segmentation.api import available_methods
from exo_vision.tem_analysis import analyse_micrograph

REPO = Path(__file__).resolve().parents[1]
HRML_IMAGE = REPO / "sample_images" / "hrml_ev_negative_stain.jpg"
HRML_TRUTH = REPO / "tests" / "data" / "hrml_truth"
#: Area-equivalent diameter of the large irregular EV's hand-traced outline (nm), see the data README.
HRML_LARGE_EV_NM = 261.0
FULL_FIELD_NM = 5.0
PATCH_NM = 3.83
#: ``--pixel-size-spread``: the FRU-Net sets' pixel sizes are estimates (from the EVs' sizes), so their figures
#: are also printed at these multiples of the estimate.
SPREAD_FACTORS = (0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06)
#: The FRU-Net sets: (name in the table, folder, estimated pixel size in nm).
FRUNET_SETS = {
    "full_fields": ("frunet full fields", "full_fields", FULL_FIELD_NM),
    "patches": ("frunet patches", "patches", PATCH_NM),
}
#: Sets whose annotators outlined no object cut by the image edge (none of the full fields' 39 objects touches
#: it, though vesicles are cut by the edge in img02 and img03; the patches are crops and are annotated across it).
EDGE_CUT_UNANNOTATED = ("frunet full fields",)


#: The real sets, in the order they are scored.
SETS = ("hrml", "full_fields", "patches")


def hrml_truth_labels(shape: tuple[int, int]) -> tuple[np.ndarray, pd.DataFrame, list[int]]:
    """Truth ellipses rasterised to labels (label = id), the table, and the don't-care ids."""
    table = pd.read_csv(HRML_TRUTH / "hrml_truth.csv")
    labels = np.zeros(shape, np.int32)
    for row in table.itertuples():
        cv2.ellipse(
            labels,
            (round(row.cx), round(row.cy)),
            (round(row.major_px / 2), round(row.minor_px / 2)),
            row.angle_deg,
            0,
            360,
            int(row.id),
            -1,
        )
    dont_care = table.loc[table.confidence == "low", "id"].astype(int).tolist()
    return labels, table, dont_care


def _overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, path: Path, *, max_side: int = 1100) -> None:
    grey = image.astype(np.float32)
    lo, hi = np.percentile(grey, [0.5, 99.5])
    grey = np.clip((grey - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    rgb = np.stack([grey] * 3, -1)
    kernel = np.ones((3, 3), np.uint8)
    width = max(1, int(round(max(image.shape) / max_side)))
    for labels, colour in ((truth, (255, 40, 40)), (pred, (40, 255, 80))):
        edge = cv2.morphologyEx(labels.astype(np.uint16), cv2.MORPH_GRADIENT, kernel) > 0
        if width > 1:
            edge = cv2.dilate(edge.view(np.uint8), np.ones((width, width), np.uint8)).astype(bool)
        rgb[edge] = colour
    scale = min(1.0, max_side / max(image.shape))
    if scale < 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    elif max(image.shape) < 500:
        rgb = cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    Image.fromarray(rgb).save(path)


def _analyse(image: ImageData, method: str, model: Path | None):
    """The run-time analysis, with ``model`` for the learned method (the shipped one when None)."""
    changes = {"model": str(model)} if model is not None and method == "unet" else {}
    return analyse_micrograph(image, method=method, n_boot=10, **changes)


def run_hrml(method: str, overlays: Path | None, model: Path | None = None) -> dict:
    image = read_image(HRML_IMAGE, kind="tem")  # calibrated from its scale bar, as exo-vision tem does
    t = time.perf_counter()
    result = _analyse(image, method, model)
    seconds = time.perf_counter() - t
    truth, table, dont_care = hrml_truth_labels(result.labels.shape)
    score = score_detection(truth, result.labels, dont_care=dont_care)
    px = image.pixel_size_nm
    errors = {}
    pred_d = dict(zip(result.table["label"], result.table["equivalent_diameter_nm"], strict=True))
    for a, b, _ in score.matches:
        if a in dont_care:
            continue
        true_d = HRML_LARGE_EV_NM if a == 2 else float(table.loc[table.id == a, "d_nm"].iloc[0])
        errors[a] = 100 * (pred_d[b] - true_d) / true_d
    excluded = pd.read_csv(HRML_TRUTH / "hrml_excluded.csv")
    on_lookalikes = []
    for row in excluded.itertuples():
        half = row.size_px / 2
        r0, r1 = int(max(row.cy - half, 0)), int(row.cy + half)
        c0, c1 = int(max(row.cx - half, 0)), int(row.cx + half)
        box = result.labels[r0:r1, c0:c1]
        ids = [int(v) for v in np.unique(box[box > 0])]
        # an object counts as "on" a look-alike when most of it lies in the look-alike's box
        hits = [v for v in ids if (box == v).sum() > 0.5 * (result.labels == v).sum()]
        if hits:
            on_lookalikes.append(int(row.id))
    if overlays is not None:
        _overlay(image.data, truth, result.labels, overlays / f"hrml_{method}.png")
    confident = [i for i in table.id if i not in dont_care]
    found_whole = sum(1 for i in confident if i in errors)
    return {
        "set": "hrml",
        "method": method,
        "images": 1,
        "score": score,
        "seconds": seconds,
        "pixel_size_nm": px,
        "diameter_errors_pct": errors,
        "confident_found": f"{found_whole}/{len(confident)}",
        "objects_on_lookalikes": on_lookalikes,
    }


def _png_pairs(folder: Path) -> list[tuple[Path, Path]]:
    return [(p, p.with_name(p.name.replace("_image.png", "_labels.png"))) for p in sorted(folder.glob("*_image.png"))]


#: A way of storing an image again: (grey image, truth labels, pixel size nm, rng) -> the same three
#: (``tem_real_views.py``).
View = Callable[[np.ndarray, np.ndarray, float, np.random.Generator], tuple[np.ndarray, np.ndarray, float]]


def run_set(
    name: str,
    folder: Path,
    pixel_size_nm: float,
    method: str,
    overlays: Path | None,
    model: Path | None = None,
    view: View | None = None,
) -> dict:
    """Every image of a FRU-Net set scored; ``view`` stores each image (and its truth) another way first."""
    total = DetectionScore()
    per_image = {}
    sizes: list[tuple[str, str, bool]] = []
    errors: list[float] = []
    seconds = 0.0
    rng = np.random.default_rng(0)  # the views' noise, drawn image after image
    for image_path, label_path in _png_pairs(folder):
        grey = np.asarray(Image.open(image_path).convert("L"))
        truth = np.asarray(Image.open(label_path)).astype(np.int32)
        nm = pixel_size_nm
        if view is not None:
            grey, truth, nm = view(grey, truth, pixel_size_nm, rng)
        data = ImageData(data=grey, pixel_size_nm=nm, pixel_size_source="user", path=str(image_path))
        t = time.perf_counter()
        result = _analyse(data, method, model)
        seconds += time.perf_counter() - t
        score = score_detection(truth, result.labels)
        per_image[image_path.name.replace("_image.png", "")] = score
        total = total + score
        sizes.extend(_sizes(truth, result.labels, score, nm))
        errors.extend(_matched_diameter_errors(truth, result.labels, score))
        if overlays is not None:
            _overlay(grey, truth, result.labels, overlays / f"{image_path.stem.replace('_image', '')}_{method}.png")
    return {
        "set": name,
        "method": method,
        "images": len(per_image),
        "score": total,
        "seconds": seconds,
        "per_image": per_image,
        "sizes": sizes,
        "diameter_errors_pct": errors,
    }


def _matched_diameter_errors(truth: np.ndarray, pred: np.ndarray, score: DetectionScore) -> list[float]:
    """Signed error (%) of each matched prediction's area-equivalent diameter against its truth object's (the
    ratio of diameters does not depend on the pixel size)."""
    d_truth = equivalent_diameters_nm(truth, 1.0)
    d_pred = equivalent_diameters_nm(pred, 1.0)
    return [100.0 * (d_pred[b] / d_truth[a] - 1.0) for a, b, _ in score.matches]


def _sizes(
    truth: np.ndarray, pred: np.ndarray, score: DetectionScore, pixel_size_nm: float
) -> list[tuple[str, str, bool]]:
    """``(kind, diameter class, matched)`` of every truth ("truth") and predicted ("pred") object."""
    out = []
    for kind, labels, matched in (
        ("truth", truth, {a for a, _, _ in score.matches}),
        ("pred", pred, {b for _, b, _ in score.matches}),
    ):
        for i, d in equivalent_diameters_nm(labels, pixel_size_nm).items():
            out.append((kind, diameter_class(d), i in matched))
    return out


def size_table(entries: list[dict]) -> pd.DataFrame:
    """Recall by the truth objects' diameter class and false positives by the predictions' class."""
    rows = []
    for e in (e for e in entries if e.get("sizes")):
        for name in class_names():
            truth = [m for k, c, m in e["sizes"] if k == "truth" and c == name]
            pred = [m for k, c, m in e["sizes"] if k == "pred" and c == name]
            rows.append(
                {
                    "set": e["set"],
                    "method": e["method"],
                    "diameter_nm": name,
                    "truth": len(truth),
                    "found": sum(truth),
                    "recall": round(sum(truth) / len(truth), 3) if truth else float("nan"),
                    "predicted": len(pred),
                    "false_pos": len(pred) - sum(pred),
                }
            )
    return pd.DataFrame(rows)


def _interval_text(score: DetectionScore, metric: str) -> str:
    """A 95 % interval of ``metric`` as ``"low-high"`` (objects taken as independent: the least uncertainty)."""
    low, high = score.interval(metric)
    return "-" if np.isnan(low) else f"{low:.2f}-{high:.2f}"


def _row(entry: dict) -> dict:
    s: DetectionScore = entry["score"]
    return {
        "set": entry["set"],
        "method": entry["method"],
        "images": entry["images"],
        "truth": s.tp + s.fn,
        "found": s.tp,
        "false_pos": s.fp,
        "fp_on_edge": s.fp_at_edge,
        "precision": round(s.precision, 3),
        "recall": round(s.recall, 3),
        "recall_95ci": _interval_text(s, "recall"),
        "F1": round(s.f1, 3),
        "F1_95ci": _interval_text(s, "f1"),
        "s_per_image": round(entry["seconds"] / max(entry["images"], 1), 2),
    }


def _record_in_card(rows: list[dict], entries: list[dict]) -> None:
    """Store the real-image figures of the shipped model in its card (the checksum covers the weights only)."""
    from exo_vision.segmentation.learned.weights import SHIPPED_MODELS, load_card

    card_path = SHIPPED_MODELS["ev-unet"]
    card = json.loads(card_path.read_text(encoding="utf-8"))
    hrml = next(e for e in entries if e["set"] == "hrml" and e["method"] == "unet")
    card.setdefault("validation", {})["real_images"] = {
        "benchmark": "benchmarks/tem_real.py (IoU >= 0.5, one-to-one); none of these images was used in training",
        "sets": [
            {k: r[k] for k in ("set", "images", "truth", "found", "false_pos", "precision", "recall", "F1")}
            for r in rows
        ],
        "hrml_diameter_errors_pct": {f"EV{k}": round(v, 1) for k, v in hrml["diameter_errors_pct"].items()},
    }
    card_path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    load_card()  # still valid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--methods", nargs="+", default=available_methods(), choices=available_methods())
    parser.add_argument("--overlays", type=Path, help="write truth (red) / prediction (green) overlays here")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="also write the table to this JSON file (with the command line and versions); "
        "--json alone prints it as JSON instead of the table",
    )
    parser.add_argument("--per-image", action="store_true", help="also print each image's scores")
    parser.add_argument(
        "--by-size",
        action="store_true",
        help="also print recall and false positives by equivalent-diameter class (FRU-Net sets; their pixel "
        "sizes are approximate, so the classes are too)",
    )
    parser.add_argument("--model", type=Path, help="a model file (.onnx with its card) for the unet method")
    parser.add_argument(
        "--sets", nargs="+", default=list(SETS), choices=SETS, help="which real sets to score (default: all)"
    )
    parser.add_argument(
        "--pixel-size-spread",
        action="store_true",
        help="also score the FRU-Net sets, whose pixel sizes are estimates, at "
        + ", ".join(f"{f:g}" for f in SPREAD_FACTORS)
        + " times the estimate, and print how much their figures move",
    )
    parser.add_argument(
        "--record-in-card",
        action="store_true",
        help="write the unet figures into the shipped model card's validation section",
    )
    args = parser.parse_args(argv)
    frunet = args.data / "tem" / "frunet_notebook"
    if args.overlays:
        args.overlays.mkdir(parents=True, exist_ok=True)
    entries = []
    if args.record_in_card and (args.model is not None or set(args.sets) != set(SETS)):
        parser.error("--record-in-card records the shipped model on every set: drop --model and --sets")
    for method in args.methods:
        if "hrml" in args.sets:
            entries.append(run_hrml(method, args.overlays, args.model))
        if not frunet.is_dir():
            print(f"note: {frunet} is absent; only the shipped real micrograph is scored", file=sys.stderr)
            continue
        for key in (k for k in FRUNET_SETS if k in args.sets):
            name, folder, pixel_size_nm = FRUNET_SETS[key]
            entries.append(run_set(name, frunet / folder, pixel_size_nm, method, args.overlays, args.model))
    rows = [_row(e) for e in entries]
    if args.record_in_card:
        _record_in_card([r for r in rows if r["method"] == "unet"], entries)
    if args.json == "-":
        print(json.dumps(rows, indent=1))
        return 0
    if args.json is not None:
        write_json(Path(args.json), {"methods": args.methods, "rows": rows})
    table = pd.DataFrame(rows)
    print("Real micrographs (IoU >= 0.5, one-to-one):")
    print(table.to_string(index=False))
    print()
    for e in entries:
        if e["set"] == "hrml":
            errs = ", ".join(f"EV{k} {v:+.1f}%" for k, v in sorted(e["diameter_errors_pct"].items()))
            print(
                f"hrml [{e['method']}]: confident EVs found {e['confident_found']}; diameter errors: {errs or '-'}; "
                f"objects on look-alikes/scale bar: {e['objects_on_lookalikes'] or 'none'}"
            )
    for e in entries:
        if e["set"] != "hrml" and e["diameter_errors_pct"]:
            q = np.percentile(e["diameter_errors_pct"], [25, 50, 75])
            print(
                f"{e['set']} [{e['method']}]: diameter error of the {len(e['diameter_errors_pct'])} matched objects "
                f"(area-equivalent, against the annotators' outlines): median {q[1]:+.1f} % (quartiles {q[0]:+.1f} "
                f"to {q[2]:+.1f} %)"
            )
    _print_edge_convention(entries)
    if args.by_size:
        print("\nBy equivalent diameter (truth objects by their class, predictions by theirs):")
        print(size_table(entries).to_string(index=False))
    if args.pixel_size_spread and frunet.is_dir():
        print_spread(frunet, args.methods, [n for n in args.sets if n in FRUNET_SETS], args.model)
    if args.per_image:
        for e in entries:
            for name, s in e.get("per_image", {}).items():
                print(
                    f"  {e['method']:9s} {name:22s} truth {s.tp + s.fn:3d} found {s.tp:3d} fp {s.fp:3d} "
                    f"P {s.precision:.2f} R {s.recall:.2f} F1 {s.f1:.2f}"
                )
    return 0


def print_spread(frunet: Path, methods: list[str], sets: list[str], model: Path | None) -> None:
    """Each FRU-Net set scored at :data:`SPREAD_FACTORS` times its estimated pixel size.

    The pixel size moves every outline by a fraction of a pixel; on objects 6-10 px across a one-pixel ring
    decides whether IoU clears 0.5, so the spread shows how much of a figure is that knife edge.
    """
    rows = []
    for key in sets:
        name, folder, estimate = FRUNET_SETS[key]
        for method in methods:
            for factor in SPREAD_FACTORS:
                entry = run_set(name, frunet / folder, estimate * factor, method, None, model)
                rows.append({**_row(entry), "factor": factor, "nm_per_px": round(estimate * factor, 3)})
    table = pd.DataFrame(rows)
    print("\nFRU-Net sets at multiples of their estimated pixel size (IoU >= 0.5):")
    print(table[["set", "method", "factor", "nm_per_px", "found", "false_pos", "recall", "F1"]].to_string(index=False))
    summary = table.groupby(["set", "method"], sort=False).agg(
        recall_min=("recall", "min"),
        recall_median=("recall", "median"),
        recall_max=("recall", "max"),
        F1_min=("F1", "min"),
        F1_median=("F1", "median"),
        F1_max=("F1", "max"),
    )
    print(summary.reset_index().to_string(index=False))


def _print_edge_convention(entries: list[dict]) -> None:
    """The sets whose truth leaves edge-cut objects unannotated, scored with and without such predictions."""
    for e in entries:
        if e["set"] not in EDGE_CUT_UNANNOTATED:
            continue
        s: DetectionScore = e["score"]
        aside = s.edge_cut_unannotated()
        print(
            f"{e['set']} [{e['method']}]: its annotators outlined no object cut by the image edge, and exo_vision "
            f"leaves such objects out of its size statistics (touches_border); not counting the {s.fp_at_edge} "
            f"unmatched predictions cut by the edge: P {aside.precision:.3f} R {aside.recall:.3f} F1 {aside.f1:.3f} "
            f"(strict F1 {s.f1:.3f}, the figure in the table)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
