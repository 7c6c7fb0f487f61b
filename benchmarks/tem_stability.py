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

Usage::

    python benchmarks/tem_stability.py [--data ../shared/data] [--flips 4] [--patches 20]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--flips", type=int, choices=(2, 4), help="also run the model with N test-time flips")
    parser.add_argument("--patches", type=int, default=20, help="FRU-Net patches to include (default all 20)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
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
