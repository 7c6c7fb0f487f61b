"""How much a micrograph's numbers move when the same image is given slightly differently (a stability probe).

Users round a scale bar's pixel size differently, and turn or flip micrographs before they analyse them; the
vesicles are the same, so the count and the mean diameter should barely move. This probe analyses each real
micrograph with truth (``hrml`` at its scale-bar pixel size, the FRU-Net full fields and patches at the pixel
sizes ``tem_real.py`` uses) in eight views: the pixel size times 0.98, 0.99, 1, 1.01 and 1.02, and the image
turned by 90 and 270 degrees and flipped left-right. Per image it prints the counted vesicles (not cut by the
edge) of each view, their range, and the range of the mean equivalent diameter (nm); then, pooled over the
images, the mean count range and the mean relative spread of the mean diameter ((max - min) / median).

``--flips N`` also runs the shipped model with test-time flips (``exo-vision model --flips N``: the network
averaged over N input flips), side by side. No figure here was used to choose anything in the product, and no
bar is attached.

``--translation`` measures translation instead: each image is cropped by k rows and columns at its top left
(k = 0..7 full-resolution px, then 1, 2 and 4 whole working-scale px of the model: same pixel size, no vesicle
information lost; the truth is cropped alike) and analysed as read. Per image it prints the count of reported
vesicles, their median equivalent diameter (nm) and the detection F1 (``exo_vision.evaluation``, IoU >= 0.5) at
every shift; per set, the mean over its images of the count range (max - min over the shifts), of the relative
spread of the median diameter ((max - min) / median) and of the F1 range, and the spread of the set's pooled F1.
Sets: generated micrographs of the project generator (``make_synthetic_tem``, 1024 px at 0.8 nm/px, seeds from
3000) and of the randomised generator (``tem_random`` random-1, 768 px at 1.5 nm/px, seeds from 930000): seeds
never used in training (the model card's validation seed is 10000019) nor by the decision rules' sets (1000, 2000,
900000, 910000); then, unless ``--generated-only``, the real images with truth (hrml, the FRU-Net full fields and
patches). ``--model`` runs a candidate model instead of the shipped one.

Usage::

    python benchmarks/tem_stability.py [--data ../shared/data] [--flips 4] [--patches 20]
    python benchmarks/tem_stability.py --translation [--generated-only] [--model CANDIDATE.onnx]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from exo_vision.evaluation import score_detection
from exo_vision.io import read_image
from exo_vision.io.image_data import ImageData
from exo_vision.segmentation.learned.variants import write_model_variant
from exo_vision.tem_analysis import analyse_micrograph

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tem_real  # noqa: E402  (the real sets and their pixel sizes, as scored there)

#: The views: (name, how the image is stored, pixel-size factor).
VIEWS = (
    ("x0.98", lambda a: a, 0.98),
    ("x0.99", lambda a: a, 0.99),
    ("x1", lambda a: a, 1.0),
    ("x1.01", lambda a: a, 1.01),
    ("x1.02", lambda a: a, 1.02),
    ("rot90", np.rot90, 1.0),
    ("rot270", lambda a: np.rot90(a, 3), 1.0),
    ("flip", np.fliplr, 1.0),
)


def real_images(data: Path, n_patches: int) -> list[tuple[str, np.ndarray, float]]:
    """(name, grey image, pixel size nm) of hrml and the FRU-Net full fields and first ``n_patches`` patches."""
    hrml = read_image(tem_real.HRML_IMAGE)
    out = [("hrml", hrml.data, float(hrml.pixel_size_nm))]
    root = data / "tem" / "frunet_notebook"
    for _, sub, px in tem_real.FRUNET_SETS.values():
        pairs = tem_real._png_pairs(root / sub)
        for image_path, _ in pairs if sub == "full_fields" else pairs[:n_patches]:
            out.append((image_path.name.replace("_image.png", ""), np.asarray(Image.open(image_path).convert("L")), px))
    return out


def view_figures(image: np.ndarray, pixel_size_nm: float, model: str | None) -> tuple[list[int], np.ndarray]:
    """Counted vesicles and their mean equivalent diameter (nm) in each view."""
    counts, means = [], []
    for _, store, factor in VIEWS:
        data = ImageData(
            data=np.ascontiguousarray(store(image)),
            pixel_size_nm=pixel_size_nm * factor,
            pixel_size_source="user",
            path="view",
        )
        result = analyse_micrograph(data, method="unet", n_boot=10, **({"model": model} if model else {}))
        kept = result.table[~result.table["touches_border"].astype(bool)]
        counts.append(len(kept))
        means.append(float(kept["equivalent_diameter_nm"].mean()) if len(kept) else float("nan"))
    return counts, np.array(means)


#: ``--translation``: crops of this many full-resolution px at the top left ...
SHIFTS_PX = tuple(range(8))
#: ... and of this many whole working-scale px (3 nm each for the shipped model).
SHIFTS_WORKING_PX = (1, 2, 4)
#: Working scale of the shipped model, nm/px (the whole-pixel offsets are read against it).
WORKING_SCALE_NM = 3.0
#: Generated sets: (name, generator, images, side px, pixel size nm, first seed).
GENERATED_SETS = (("project generator", "project", 8, 1024, 0.8, 3000), ("random-1", "random", 12, 768, 1.5, 930000))

#: One image of a translation set: (name, grey image, truth labels, don't-care ids, pixel size nm).
Sample = tuple[str, np.ndarray, np.ndarray, list[int], float]


def shifts_for(pixel_size_nm: float) -> list[int]:
    """Crop widths (full-resolution px): 0..7 and whole working pixels, without repeats, in increasing order."""
    whole = [int(round(j * WORKING_SCALE_NM / pixel_size_nm)) for j in SHIFTS_WORKING_PX]
    return sorted(set(SHIFTS_PX) | set(whole))


def generated_samples(kind: str, count: int, side: int, px: float, seed: int) -> list[Sample]:
    """Generated micrographs (uint8 or uint16) with their truth labels."""
    out: list[Sample] = []
    for i in range(count):
        if kind == "random":
            from exo_vision.synthetic.tem_random import make_random_tem

            sample = make_random_tem((side, side), pixel_size_nm=px, rng=seed + i)
            out.append((f"random seed {seed + i}", (sample.image * 255).astype(np.uint8), sample.labels, [], px))
        else:
            from exo_vision.synthetic.tem import make_synthetic_tem

            level = ("medium", "hard")[i % 2]
            image, truth = make_synthetic_tem((side, side), pixel_size_nm=px, difficulty=level, rng=seed + i)
            out.append((f"project seed {seed + i} {level}", image, truth.labels, [], px))
    return out


def real_samples(data: Path, n_patches: int) -> dict[str, list[Sample]]:
    """hrml (its truth ellipses, low-confidence ids as don't care) and the FRU-Net sets with their labels."""
    hrml = read_image(tem_real.HRML_IMAGE, kind="tem")
    truth, _, dont_care = tem_real.hrml_truth_labels(hrml.data.shape[:2])
    sets = {"hrml": [("hrml", hrml.data, truth, dont_care, float(hrml.pixel_size_nm))]}
    root = data / "tem" / "frunet_notebook"
    for key, (name, sub, px) in tem_real.FRUNET_SETS.items():
        pairs = tem_real._png_pairs(root / sub)
        sets[name] = [
            (
                image_path.name.replace("_image.png", ""),
                np.asarray(Image.open(image_path).convert("L")),
                np.asarray(Image.open(label_path)).astype(np.int32),
                [],
                px,
            )
            for image_path, label_path in (pairs if key == "full_fields" else pairs[:n_patches])
        ]
    return sets


def shifted_figures(sample: Sample, model: str | None) -> list[tuple[int, int, float, tuple[int, int, int]]]:
    """(shift px, reported vesicles, their median equivalent diameter nm, (tp, fp, fn)) at every shift."""
    _, image, truth, dont_care, px = sample
    rows = []
    for k in shifts_for(px):
        data = ImageData(
            data=np.ascontiguousarray(image[k:, k:]), pixel_size_nm=px, pixel_size_source="user", path="shifted"
        )
        result = analyse_micrograph(data, method="unet", n_boot=10, **({"model": model} if model else {}))
        diameters = result.table["equivalent_diameter_nm"].to_numpy(float)
        score = score_detection(truth[k:, k:], result.labels, dont_care=dont_care)
        median = float(np.median(diameters)) if diameters.size else float("nan")
        rows.append((k, int(diameters.size), median, (score.tp, score.fp, score.fn)))
    return rows


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / max(2 * tp + fp + fn, 1)


def translation_set(name: str, samples: list[Sample], model: str | None) -> dict[str, float]:
    """Print every image's figures over the shifts and the set's spreads; return the spreads."""
    count_ranges, median_spreads, f1_ranges = [], [], []
    pooled: dict[int, np.ndarray] = {}
    for sample in samples:
        rows = shifted_figures(sample, model)
        counts = np.array([r[1] for r in rows])
        medians = np.array([r[2] for r in rows])
        f1s = np.array([_f1(*r[3]) for r in rows])
        for k, _, _, counted in rows:
            pooled[k] = pooled.get(k, np.zeros(3, int)) + np.array(counted)
        found = np.isfinite(medians)
        spread = float(np.ptp(medians[found]) / np.median(medians[found])) if found.any() else 0.0
        count_ranges.append(int(np.ptp(counts)))
        median_spreads.append(spread)
        f1_ranges.append(float(np.ptp(f1s)))
        print(
            f"  {sample[0]:28s} shifts {' '.join(str(r[0]) for r in rows)}\n"
            f"  {'':28s} counts {' '.join(str(c) for c in counts)}  (range {np.ptp(counts)})\n"
            f"  {'':28s} median nm {' '.join(f'{m:.1f}' for m in medians)}  (spread {100 * spread:.1f} %)\n"
            f"  {'':28s} F1 {' '.join(f'{f:.3f}' for f in f1s)}  (range {np.ptp(f1s):.3f})",
            flush=True,
        )
    set_f1 = np.array([_f1(*v) for v in pooled.values()])
    figures = {
        "count_range": float(np.mean(count_ranges)),
        "median_spread_pct": 100 * float(np.mean(median_spreads)),
        "f1_range": float(np.mean(f1_ranges)),
        "set_f1_min": float(set_f1.min()),
        "set_f1_max": float(set_f1.max()),
        "set_f1_shift0": float(set_f1[0]),
    }
    print(
        f"{name}: {len(samples)} images, mean count range {figures['count_range']:.2f}, mean median-diameter spread "
        f"{figures['median_spread_pct']:.1f} %, mean F1 range {figures['f1_range']:.3f}; pooled F1 "
        f"{figures['set_f1_shift0']:.3f} unshifted, {figures['set_f1_min']:.3f}-{figures['set_f1_max']:.3f} "
        "over the shifts",
        flush=True,
    )
    return figures


def run_translation(data: Path, n_patches: int, model: str | None, generated_only: bool) -> None:
    """The ``--translation`` probe over the generated sets and (unless ``generated_only``) the real ones."""
    sets = {name: generated_samples(*spec) for name, *spec in GENERATED_SETS}
    if not generated_only:
        sets.update(real_samples(data, n_patches))
    summary = {name: translation_set(name, samples, model) for name, samples in sets.items()}
    print("\nset                   count range  median spread %  F1 range  pooled F1 (0 px; min-max)")
    for name, f in summary.items():
        print(
            f"{name:22s} {f['count_range']:11.2f} {f['median_spread_pct']:16.1f} {f['f1_range']:9.3f}  "
            f"{f['set_f1_shift0']:.3f}; {f['set_f1_min']:.3f}-{f['set_f1_max']:.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--flips", type=int, choices=(2, 4), help="also run the model with N test-time flips")
    parser.add_argument("--patches", type=int, default=20, help="FRU-Net patches to include (default all 20)")
    parser.add_argument("--translation", action="store_true", help="measure translation (crops of 0-7 px) instead")
    parser.add_argument("--generated-only", action="store_true", help="--translation on the generated sets only")
    parser.add_argument("--model", help="--translation with this model instead of the shipped one")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    if args.translation:
        run_translation(args.data, args.patches, args.model, args.generated_only)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        models: dict[str, str | None] = {"shipped": None}
        if args.flips:
            models[f"flips {args.flips}"] = str(write_model_variant(Path(tmp) / "flips.onnx", flips=args.flips))
        print(f"views: {', '.join(name for name, _, _ in VIEWS)}")
        pooled: dict[str, list[tuple[int, float]]] = {name: [] for name in models}
        for name, image, px in real_images(args.data, args.patches):
            for label, model in models.items():
                counts, means = view_figures(image, px, model)
                found = np.isfinite(means)
                spread = (
                    float((np.max(means[found]) - np.min(means[found])) / np.median(means[found]))
                    if found.any()
                    else 0.0
                )
                pooled[label].append((max(counts) - min(counts), spread))
                diameters = (
                    f"{np.min(means[found]):6.1f}-{np.max(means[found]):6.1f} nm" if found.any() else "no vesicle"
                )
                shown = " ".join(f"{c:3d}" for c in counts)
                moved = max(counts) - min(counts)
                print(f"{name:24s} {label:9s} counts {shown}  range {moved}  mean diameter {diameters}", flush=True)
        for label, rows in pooled.items():
            ranges, spreads = np.array([r for r, _ in rows]), np.array([s for _, s in rows])
            print(
                f"pooled {label}: {len(rows)} images, mean count range {ranges.mean():.2f}, images whose count moves "
                f"{np.count_nonzero(ranges)}, mean spread of the mean diameter {100 * spreads.mean():.1f} %"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
