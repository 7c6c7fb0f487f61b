"""The real FRU-Net micrographs exported other ways: how much each method's figures move (a robustness probe).

The real images exo_vision is judged on come from other microscopes and other export settings than the ones in
``../shared/data``. This probe takes the FRU-Net full fields and patches that ``tem_real.py`` scores and
exports each one again in the ways labs' micrographs differ, then scores every method on them as ``tem_real.py``
does (one-to-one matching at IoU >= 0.5):

- ``16-bit``: grey levels x40 over an offset of 3000 in a 16-bit image (a camera's raw range): the figures
  should not move at all;
- ``gamma 0.6`` and ``gamma 1.6``: a display gamma baked into the export;
- ``contrast 0.4``: the grey levels pulled to 40 % of their spread around the mean (a thin stain);
- ``inverted``: dark vesicles on a light background;
- ``JPEG 40``: a JPEG at quality 40, at the render's scale;
- ``noise 8``: Gaussian pixel noise of 8 grey levels;
- ``full resolution``: enlarged (bicubic) to 0.9658 nm/px, the pixel size of the FRU-Net data's micrographs,
  with pixel noise of 0 or 25 grey levels added at that scale; the truth is enlarged with it (nearest) and the
  scores are computed at that scale.

The views change only how the image is stored; the vesicles and the truth are the same. No figure here was
used to choose anything in the product. No bar is attached.

Usage::

    python benchmarks/tem_real_views.py [--data ../shared/data] [--methods unet classical] [--sets full_fields]
    python benchmarks/tem_real_views.py --methods unet --model CANDIDATE.onnx --views inverted
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from tem_real import FRUNET_SETS, REPO, View, _interval_text, run_set

from exo_vision.evaluation import DetectionScore
from exo_vision.segmentation.api import available_methods

#: Pixel size of the FRU-Net data's micrographs as acquired, nm (the full-resolution view).
FULL_RESOLUTION_NM = 0.9658


def _bytes8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _jpeg(grey: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def _full_resolution(noise_sd: float) -> View:
    def view(grey, truth, pixel_size_nm, rng):
        factor = pixel_size_nm / FULL_RESOLUTION_NM
        size = (round(grey.shape[1] * factor), round(grey.shape[0] * factor))
        big = cv2.resize(grey.astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
        big = big + rng.normal(0.0, noise_sd, big.shape) if noise_sd else big
        big_truth = cv2.resize(truth.astype(np.float32), size, interpolation=cv2.INTER_NEAREST).astype(np.int32)
        return _bytes8(big), big_truth, pixel_size_nm * grey.shape[1] / size[0]

    return view


def _grey_only(change: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> View:
    return lambda grey, truth, pixel_size_nm, rng: (change(grey, rng), truth, pixel_size_nm)


#: The views, in the order they are printed.
VIEWS: dict[str, View] = {
    "as read": _grey_only(lambda g, rng: g),
    "16-bit": _grey_only(lambda g, rng: (g.astype(np.uint16) * 40 + 3000).astype(np.uint16)),
    "gamma 0.6": _grey_only(lambda g, rng: _bytes8(255 * (g / 255.0) ** 0.6)),
    "gamma 1.6": _grey_only(lambda g, rng: _bytes8(255 * (g / 255.0) ** 1.6)),
    "contrast 0.4": _grey_only(lambda g, rng: _bytes8(g.mean() + 0.4 * (g - g.mean()))),
    "inverted": _grey_only(lambda g, rng: 255 - g),
    "JPEG 40": _grey_only(lambda g, rng: _jpeg(g, 40)),
    "noise 8": _grey_only(lambda g, rng: _bytes8(g + rng.normal(0.0, 8.0, g.shape))),
    "full resolution": _full_resolution(0.0),
    "full resolution, noise 25": _full_resolution(25.0),
}


def score_view(
    folder: Path, pixel_size_nm: float, view: View, method: str, model: Path | None = None
) -> DetectionScore:
    """Pooled detection counts of ``method`` (``model`` for unet) on every image of ``folder`` exported by ``view``."""
    return run_set("", folder, pixel_size_nm, method, None, model, view=view)["score"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--methods", nargs="+", default=available_methods(), choices=available_methods())
    parser.add_argument("--sets", nargs="+", default=list(FRUNET_SETS), choices=list(FRUNET_SETS))
    parser.add_argument("--views", nargs="+", default=list(VIEWS), choices=list(VIEWS))
    parser.add_argument("--model", type=Path, help="a model file (.onnx with its card) for the unet method")
    args = parser.parse_args(argv)
    frunet = args.data / "tem" / "frunet_notebook"
    if not frunet.is_dir():
        print(f"{frunet} is absent: nothing to score (give --data)", file=sys.stderr)
        return 1
    rows = []
    for key in args.sets:
        name, folder, pixel_size_nm = FRUNET_SETS[key]
        for method in args.methods:
            for view in args.views:
                s = score_view(frunet / folder, pixel_size_nm, VIEWS[view], method, args.model)
                rows.append(
                    {
                        "set": name,
                        "method": method,
                        "view": view,
                        "truth": s.tp + s.fn,
                        "found": s.tp,
                        "false_pos": s.fp,
                        "precision": round(s.precision, 3),
                        "recall": round(s.recall, 3),
                        "recall_95ci": _interval_text(s, "recall"),
                        "F1": round(s.f1, 3),
                    }
                )
                print(f"  {name} [{method}] {view}: R {s.recall:.3f} F1 {s.f1:.3f}", file=sys.stderr, flush=True)
    print("Real FRU-Net micrographs exported other ways (IoU >= 0.5, one-to-one):")
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
