"""How often a large vesicle (>= 150 nm) is lost or cut when a generated micrograph is turned, flipped or cropped.

Generated micrographs only: the project generator (``make_synthetic_tem``) with a few vesicles of 150-480 nm among
smaller ones, at 2.5-5 nm/px (seeds from 5400), and the randomised generator (``tem_random`` random-1, at 4-5 nm/px,
seeds from 954000, only images holding a vesicle of >= 150 nm away from the edge); none of these seeds is used in
training or by the decision rules' sets. Each image is analysed in the 8 dihedral views (the identity, turns by 90,
180 and 270 degrees, flips left-right and up-down, the transpose and the antitranspose) and cropped by k = 1..7 rows
and columns at its top left; the truth is moved alike. For every truth vesicle of >= 150 nm that does not touch the
edge, each view counts as "whole" when one reported object overlaps it with IoU >= 0.8, "found" at IoU >= 0.5,
"lost" otherwise. Prints, per configuration, the fraction of (vesicle, view) pairs whole / found / lost, and the
number of vesicles found whole in all 15 views.

``--real IMAGE --pixel-size NM [--model CANDIDATE.onnx]`` analyses a real micrograph whose annotation is the
matching ``_labels.png`` (the FRU-Net full fields) in the 8 dihedral views with the shipped model and the candidate,
end to end (``analyse_micrograph``), and prints each annotated object's best IoU and the object's diameter (nm).

``--model CANDIDATE.onnx`` runs a candidate model (a card made by ``exo-vision model``) beside the shipped one.
The coarse pass averaged over the eight turns and reflections (``coarse_views`` 8, decision rules addenda 65-66) was
measured with this script and not kept.

Usage::

    python benchmarks/tem_large_vesicles.py [--images 10] [--model CANDIDATE.onnx] [--verbose]
    python benchmarks/tem_large_vesicles.py --real .../dataset03_img04_image.png --pixel-size 5 [--model CANDIDATE.onnx]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from exo_vision.segmentation.learned.method import segment_unet
from exo_vision.segmentation.learned.weights import load_card
from exo_vision.synthetic.tem import make_synthetic_tem
from exo_vision.synthetic.tem_random import make_random_tem

#: Smallest truth vesicle followed, nm (the coarse pass's own lower limit).
LARGE_NM = 150.0
WHOLE_IOU = 0.8
FOUND_IOU = 0.5

DIHEDRAL = {
    "id": lambda a: a,
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 3),
    "fliplr": np.fliplr,
    "flipud": np.flipud,
    "transpose": lambda a: a.T,
    "antitranspose": lambda a: np.rot90(a, 2).T,
}


def views():
    yield from DIHEDRAL.items()
    for k in range(1, 8):
        yield f"crop{k}", (lambda a, k=k: a[k:, k:])


def project_images(count: int, seed0: int = 5400):
    rng = np.random.default_rng(seed0)
    for i in range(count):
        px = float(rng.choice([2.5, 3.5, 5.0]))
        large = rng.uniform(LARGE_NM + 20, 480, size=int(rng.integers(1, 3)))
        small = rng.lognormal(np.log(80), 0.4, size=int(rng.integers(4, 12)))
        level = str(rng.choice(["easy", "medium", "hard"]))
        img, truth = make_synthetic_tem(
            (512, 512),
            pixel_size_nm=px,
            difficulty=level,
            diameters_nm=np.r_[large, small],
            scale_bar=False,
            rng=seed0 + i,
        )
        yield f"project {seed0 + i} {level} {px} nm/px", img.astype(np.float32), truth.labels, px


def random_images(count: int, seed0: int = 954000):
    found, seed = 0, seed0
    while found < count and seed < seed0 + 400:
        px = 4.0 if seed % 2 else 5.0
        r = make_random_tem((512, 512), pixel_size_nm=px, rng=seed)
        seed += 1
        if large_ids(r.labels, px):
            found += 1
            yield f"random-1 {seed - 1} {px} nm/px", r.image, r.labels, px


def large_ids(labels: np.ndarray, px: float) -> list[int]:
    area = np.bincount(labels.ravel())
    edge = np.unique(np.r_[labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    diam = 2 * np.sqrt(area / np.pi) * px
    return [k for k in range(1, area.size) if diam[k] >= LARGE_NM and k not in edge]


def best_iou(truth: np.ndarray, pred: np.ndarray, k: int) -> float:
    mask = truth == k
    ids, overlap = np.unique(pred[mask], return_counts=True)
    best = 0.0
    for j, o in zip(ids, overlap, strict=True):
        if j == 0:
            continue
        best = max(best, o / (mask.sum() + np.count_nonzero(pred == j) - o))
    return float(best)


def run(card, images, *, verbose=False):
    pairs = {"whole": 0, "found": 0, "lost": 0}
    per_vesicle = []
    per_view: dict[str, list[int]] = {}
    for name, img, truth, px in images:
        ids = large_ids(truth, px)
        status = {k: [] for k in ids}
        for vname, f in views():
            im, tr = np.ascontiguousarray(f(img)), np.ascontiguousarray(f(truth))
            labels, *_ = segment_unet(
                im, pixel_size_nm=px, exclude=np.zeros(im.shape, bool), model=card, polarity="bright"
            )
            for k in ids:
                iou = best_iou(tr, labels, k)
                s = "whole" if iou >= WHOLE_IOU else "found" if iou >= FOUND_IOU else "lost"
                pairs[s] += 1
                status[k].append((vname, s, iou))
                per_view.setdefault(vname, []).append(s == "whole")
        for k, st in status.items():
            bad = [f"{v}:{s}{iou:.2f}" for v, s, iou in st if s != "whole"]
            per_vesicle.append(len(st) - len(bad))
            if verbose and bad:
                d = 2 * np.sqrt((truth == k).sum() / np.pi) * px
                print(f"  {name} vesicle {k} ({d:.0f} nm): {len(st) - len(bad)}/{len(st)} whole  {' '.join(bad)}")
    n = sum(pairs.values())
    return pairs, n, per_vesicle, per_view


def real_views(path: str, pixel_size_nm: float, model: str | None) -> None:
    """Each annotated object's best IoU (and the matched object's diameter) in the 8 dihedral views."""
    from PIL import Image

    from exo_vision.io.image_data import ImageData
    from exo_vision.tem_analysis import analyse_micrograph

    grey = np.asarray(Image.open(path).convert("L"))
    truth = np.asarray(Image.open(path.replace("_image.png", "_labels.png"))).astype(np.int32)
    for name, c in (("default", None), ("candidate", model)) if model else (("default", None),):
        found = 0
        for vname, f in DIHEDRAL.items():
            img, t = np.ascontiguousarray(f(grey)), np.ascontiguousarray(f(truth))
            data = ImageData(data=img, pixel_size_nm=pixel_size_nm, pixel_size_source="user", path=vname)
            r = analyse_micrograph(data, model=c, n_boot=10)
            parts = []
            for k in np.unique(t)[1:]:
                iou = best_iou(t, r.labels, int(k))
                ids, overlap = np.unique(r.labels[t == k], return_counts=True)
                j = ids[ids > 0][np.argmax(overlap[ids > 0])] if (ids > 0).any() else 0
                d = 2 * np.sqrt(np.count_nonzero(r.labels == j) / np.pi) * pixel_size_nm if j else 0.0
                found += iou >= FOUND_IOU
                parts.append(f"object {k}: IoU {iou:.2f} ({d:.0f} nm)")
            print(f"{name} {vname}: {r.labels.max()} reported; {'; '.join(parts)}")
        print(f"{name}: annotated objects found (IoU >= {FOUND_IOU}) in {found} (object, view) pairs of the 8 views")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6, help="images of each generator")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--real", help="a real micrograph ..._image.png with its ..._labels.png")
    parser.add_argument("--pixel-size", type=float, default=5.0, help="its pixel size, nm (--real)")
    parser.add_argument("--model", help="a candidate model file (.onnx with its card)")
    args = parser.parse_args()
    if args.real:
        real_views(args.real, args.pixel_size, args.model)
        return
    card = load_card(None)
    images = list(project_images(args.images)) + list(random_images(args.images))
    n_large = sum(len(large_ids(t, px)) for _, _, t, px in images)
    print(f"{len(images)} images, {n_large} large vesicles, 15 views each")
    runs = {"default": card, **({"candidate": load_card(args.model)} if args.model else {})}
    for name, c in runs.items():
        t0 = time.time()
        pairs, n, per_vesicle, per_view = run(c, images, verbose=args.verbose)
        views_line = " ".join(f"{v} {np.mean(w):.2f}" for v, w in per_view.items())
        steady = sum(w == 15 for w in per_vesicle)
        unsteady = sum(0 < w < 15 for w in per_vesicle)
        print(
            f"{name}: whole {pairs['whole'] / n:.3f} found {(pairs['whole'] + pairs['found']) / n:.3f} "
            f"lost {pairs['lost'] / n:.3f} ({n} pairs); whole in all views {steady}, in none "
            f"{per_vesicle.count(0)}, unstable {unsteady} of {len(per_vesicle)}  [{time.time() - t0:.0f} s]"
        )
        print(f"   whole by view: {views_line}")


if __name__ == "__main__":
    main()
