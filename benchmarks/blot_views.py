"""The real blots and gels of ``blot_real.py`` re-read in views: turned, padded, scaled, flipped, cropped, gamma, noise.

None of the real images with truth is blind any more, so a change to blot or gel code is judged by how it holds
when the same images are shown differently, as other labs' cameras and exports would show them. Truth moves with
each view.

1. The hand-checked blots (``blot_truth/``), per image and view: lanes found / expected, band recall and phantom
   bands (the scoring of ``blot_real.py`` section 1). Views:

   * ``orig``: as read; ``flip``: left-right;
   * ``x0.9``, ``x1.1`` ...: scaled (area interpolation down, linear up), truth boxes scaled;
   * ``pad``: a margin of 10 % of the longer side in the border's median grey (a wider field of view);
   * ``rot1``, ``rot-1`` ...: turned by that many degrees about the centre (edges replicated), truth box centres
     turned with the image (the boxes keep their size);
   * ``gamma0.8`` ...: an 8-bit export's display gamma (value / white) ** gamma;
   * ``noise``: Gaussian noise of SD 1 % of the 0.5-99.5 percentile range (seed 0);
   * ``stack``: two membranes in one frame, the image above itself with a gap of 6 % of its height darker than
     any membrane (half the image's 0.1 percentile of signal, as off-membrane in a raw frame of two
     membranes); ``side``: the same side by side with a gap of 4 % of the width (lanes then number twice as many);
   * ``pen1``, ``pen3`` ...: a margin of 12 % of the width on the left in the border's grey, holding a
     hand-written ladder (marker masses and dashes at the bands' own grey level) in strokes that many pixels
     thick per 900 rows of frame, as pen marks beside a membrane show in a merged chemiluminescence frame (a fine
     marker, 0.3-0.5 mm, is 3-5 px at a ChemiDoc's resolution). Nothing may be reported there.

2. The 18 lab gels with band masks, per view: the mean and the lowest per-gel F1 (the scoring of ``blot_real.py``
   section 2, strays left out). Views as above, plus ``left``, ``right``, ``top``, ``bottom``: 15 % cropped off
   that side (``top`` cuts off the comb, so lanes come from the lane finder alone). The mask moves with the
   image (nearest-neighbour).

Usage::

    .venv/bin/python benchmarks/blot_views.py [--data ../shared/data] [--blot-views V,...] [--gel-views V,...]
        [--per-gel] [--json PATH]

Takes about five minutes on 2 cores with the default views.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from bench_record import write_json
from blot_real import TRUTH, load, mask_component_boxes, masked_gel_images, truth_of

from exo_vision.blot.gel import quantify_gel
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.scoring import score_bands, score_lanes
from exo_vision.blot.signal import guess_polarity
from exo_vision.blot.straighten import straighten_if_turned

BLOT_VIEWS = "orig,flip,x0.9,x1.1,pad,rot1,rot-1,rot2,stack,side,pen1,pen3"
GEL_VIEWS = "orig,x0.9,x1.1,flip,left,right,top,bottom"
#: A padded view adds this fraction of the image's longer side on every side.
PAD_FRACTION = 0.1
#: A cropped gel view cuts this fraction of the image off one side.
CROP_FRACTION = 0.15
#: Noise SD of the ``noise`` view, as a fraction of the image's 0.5-99.5 percentile range.
NOISE_FRACTION = 0.01
#: ``stack`` and ``side``: the gap between the two copies, as a fraction of the image's height / width.
STACK_GAP_FRACTION = 0.06
SIDE_GAP_FRACTION = 0.04
#: ``pen``: the written margin's width as a fraction of the image's width, and the marks it holds.
PEN_MARGIN_FRACTION = 0.12
PEN_LABELS = ("250", "150", "100", "75", "50", "37")
BOX = ["x_left_px", "x_right_px", "y_top_px", "y_bottom_px"]


def _turn(image: np.ndarray, degrees: float, interpolation: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned about its centre, edges replicated, and the 2 x 3 matrix that maps (x, y) into it."""
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=interpolation, borderMode=cv2.BORDER_REPLICATE), matrix


def _scaled_size(shape: tuple[int, ...], factor: float) -> tuple[int, int]:
    return round(shape[1] * factor), round(shape[0] * factor)


def _signal_ends(image: np.ndarray, polarity: str | None) -> tuple[float, float]:
    """The grey of no membrane and the bands' grey (99.9 percentile of signal).

    Off the membrane a camera sees less than the membrane's own glow: half the image's lowest signal (its
    0.1 percentile of signal), halfway to the export's zero signal.
    """
    low, high = np.percentile(image, [0.1, 99.9])
    if (polarity or guess_polarity(image)) == "dark":
        white = float(np.iinfo(image.dtype).max) if np.issubdtype(image.dtype, np.integer) else float(image.max())
        return white - 0.5 * (white - float(high)), float(low)
    return 0.5 * float(low), float(high)


def _two_membranes(
    image: np.ndarray, truth: pd.DataFrame, polarity: str | None, axis: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """``image`` twice along ``axis`` (0: one above the other), a no-signal gap between, truth repeated."""
    empty, _ = _signal_ends(image, polarity)
    side = image.shape[axis]
    gap_px = round((STACK_GAP_FRACTION if axis == 0 else SIDE_GAP_FRACTION) * side)
    gap_shape = (gap_px, image.shape[1]) if axis == 0 else (image.shape[0], gap_px)
    gap = np.full(gap_shape, empty, dtype=image.dtype)
    second = truth.copy()
    columns = ["y_top_px", "y_bottom_px"] if axis == 0 else ["x_left_px", "x_right_px"]
    second[columns] = second[columns] + side + gap_px
    if axis == 0:
        second["strip"] = second["strip"] + truth["strip"].max()
    else:
        second["lane"] = second["lane"] + truth["lane"].max()
    return np.concatenate([image, gap, image], axis=axis), pd.concat([truth, second], ignore_index=True)


def _pen_margin(
    image: np.ndarray, truth: pd.DataFrame, polarity: str | None, stroke_px: float
) -> tuple[np.ndarray, pd.DataFrame]:
    """A margin on the left holding a hand-written ladder at the bands' grey level, strokes ``stroke_px`` thick."""
    h, w = image.shape
    margin = round(PEN_MARGIN_FRACTION * w)
    grey = np.median(image[:, : max(1, w // 50)])
    _, ink = _signal_ends(image, polarity)
    ink_mask = np.zeros((h, margin), np.uint8)  # cv2 writes text into 8-bit images only
    scale = max(0.4, h / 900)
    stroke = max(1, round(stroke_px * scale))
    for i, label in enumerate(PEN_LABELS):
        y = round((i + 1) * h / (len(PEN_LABELS) + 1))
        cv2.putText(ink_mask, label, (2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, stroke)
        cv2.line(ink_mask, (round(0.7 * margin), y - 4), (margin - 3, y - 6), 255, stroke)
    canvas = np.where(ink_mask > 0, ink, grey)
    t = truth.copy()
    t[["x_left_px", "x_right_px"]] = t[["x_left_px", "x_right_px"]] + margin
    return np.concatenate([canvas.round().astype(image.dtype), image], axis=1), t


def blot_view(
    image: np.ndarray, truth: pd.DataFrame, name: str, polarity: str | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """``image`` and its truth records shown as view ``name`` (see the module docstring)."""
    h, w = image.shape
    t = truth.copy()
    t[BOX] = t[BOX].astype(float)
    if name == "orig":
        return image, t
    if name in ("stack", "side"):
        return _two_membranes(image, t, polarity, 0 if name == "stack" else 1)
    if name.startswith("pen"):
        return _pen_margin(image, t, polarity, float(name[3:]))
    if name == "flip":
        t["x_left_px"], t["x_right_px"] = w - truth.x_right_px, w - truth.x_left_px
        return image[:, ::-1].copy(), t
    if name.startswith("x"):
        factor = float(name[1:])
        t[BOX] = t[BOX] * factor
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        return cv2.resize(image, _scaled_size(image.shape, factor), interpolation=interpolation), t
    if name == "pad":
        p = int(PAD_FRACTION * max(h, w))
        grey = np.median(np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]))
        t[BOX] = t[BOX] + p
        return np.pad(image, p, constant_values=grey.astype(image.dtype)), t
    if name.startswith("rot"):
        turned, m = _turn(image, float(name[3:]), cv2.INTER_LINEAR)
        cx, cy = (t.x_left_px + t.x_right_px) / 2, (t.y_top_px + t.y_bottom_px) / 2
        hw, hh = (t.x_right_px - t.x_left_px) / 2, (t.y_bottom_px - t.y_top_px) / 2
        nx, ny = m[0, 0] * cx + m[0, 1] * cy + m[0, 2], m[1, 0] * cx + m[1, 1] * cy + m[1, 2]
        t["x_left_px"], t["x_right_px"], t["y_top_px"], t["y_bottom_px"] = nx - hw, nx + hw, ny - hh, ny + hh
        return turned, t
    if name.startswith("gamma"):
        white = float(np.iinfo(image.dtype).max)
        return (white * (image / white) ** float(name[5:])).round().astype(image.dtype), t
    if name == "noise":
        lo, hi = np.percentile(image, [0.5, 99.5])
        noisy = image + np.random.default_rng(0).normal(0.0, NOISE_FRACTION * (hi - lo), image.shape)
        info = np.iinfo(image.dtype)
        return np.clip(noisy, info.min, info.max).round().astype(image.dtype), t
    raise ValueError(f"unknown blot view {name!r}; see the module docstring")


def gel_view(grey: np.ndarray, mask: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A gel and its band mask shown as view ``name``."""
    h, w = grey.shape
    m8 = mask.astype(np.uint8)
    if name == "orig":
        return grey, mask
    if name == "flip":
        return grey[:, ::-1].copy(), mask[:, ::-1].copy()
    if name.startswith("x"):
        factor = float(name[1:])
        size = _scaled_size(grey.shape, factor)
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        scaled_mask = cv2.resize(m8, size, interpolation=cv2.INTER_NEAREST) > 0
        return cv2.resize(grey, size, interpolation=interpolation), scaled_mask
    if name.startswith("rot"):
        turned, _ = _turn(grey, float(name[3:]), cv2.INTER_LINEAR)
        return turned, _turn(m8, float(name[3:]), cv2.INTER_NEAREST)[0] > 0
    cut = {
        "left": (slice(None), slice(int(CROP_FRACTION * w), None)),
        "right": (slice(None), slice(0, w - int(CROP_FRACTION * w))),
        "top": (slice(int(CROP_FRACTION * h), None), slice(None)),
        "bottom": (slice(0, h - int(CROP_FRACTION * h)), slice(None)),
    }
    if name not in cut:
        raise ValueError(f"unknown gel view {name!r}; see the module docstring")
    return grey[cut[name]].copy(), mask[cut[name]].copy()


def blot_table(data: Path, views: list[str], *, straighten: bool = False) -> pd.DataFrame:
    """Section 1: one record per hand-checked image and view.

    With ``straighten``, a view whose membranes read turned by 2 degrees or more is straightened first, as
    ``exo-vision blot`` does, and its truth turned back with it.
    """
    rows = []
    for row in pd.read_csv(TRUTH / "images.csv").itertuples():
        image0, polarity, level = load(data, row)
        truth0 = truth_of(row)
        for v in views:
            image, truth = blot_view(image0, truth0, v, polarity)
            record = dict(image=row.image_id, view=v)
            if straighten:
                image, undone = straighten_if_turned(image, polarity=polarity, max_value=level)
                if undone is not None:
                    _, truth = blot_view(image, truth, f"rot{-undone}", polarity)
                    record["straightened_deg"] = round(undone, 2)
            try:
                res = quantify_blot(image, polarity=polarity, max_value=level, image_name=row.image_id)
            except ValueError as err:
                rows.append({**record, "error": str(err)})
                continue
            score = score_bands(res.bands, truth)
            expected, found, extra = score_lanes(res.lanes, truth)
            rows.append(
                {
                    **record,
                    "lanes_expected": expected,
                    "lanes_found": found,
                    "lanes_extra": extra,
                    "recall": score.recall,
                    "phantoms": score.n_phantom,
                    "error": "",
                }
            )
    return pd.DataFrame(rows)


def gel_table(data: Path, views: list[str]) -> pd.DataFrame:
    """Section 2: one record per lab gel and view (F1 0 when the gel is refused)."""
    rows = []
    for stem, grey, mask, _ in masked_gel_images(data):
        for v in views:
            g, m = gel_view(grey, mask, v)
            every = mask_component_boxes(m)
            boxes = every[~every.stray]
            try:
                f1 = score_bands(quantify_gel(g, image_name=stem).bands, boxes).f1
            except ValueError:
                f1 = 0.0
            rows.append(dict(gel=stem.strip(), view=v, f1=f1))
    return pd.DataFrame(rows)


def _cell(r) -> str:
    if r.error:
        return "error"
    turned = "*" if pd.notna(getattr(r, "straightened_deg", np.nan)) else ""
    return f"{r.lanes_found}/{r.lanes_expected}+{r.lanes_extra} R {r.recall:.2f} ph {r.phantoms}{turned}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    parser.add_argument("--blot-views", default=BLOT_VIEWS, help=f"comma-separated (default {BLOT_VIEWS}); '' skips")
    parser.add_argument("--gel-views", default=GEL_VIEWS, help=f"comma-separated (default {GEL_VIEWS}); '' skips")
    parser.add_argument("--per-gel", action="store_true", help="also print each gel's F1 in each view")
    parser.add_argument(
        "--straighten",
        action="store_true",
        help="straighten blot views whose membranes read turned by 2 degrees or more first, as exo-vision blot does",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the tables to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if not (args.data / "blots").is_dir():
        print(f"{args.data} not found: nothing to do (real images are not shipped)")
        return 1
    pd.set_option("display.width", 250)
    figures = {}
    blot_views = [v for v in args.blot_views.split(",") if v]
    if blot_views:
        blots = blot_table(args.data, blot_views, straighten=args.straighten)
        blots["cell"] = [_cell(r) for r in blots.itertuples()]
        print(
            "1. Hand-checked blots in views: lanes found/expected+extra, band recall R, phantom bands ph"
            + (" (* straightened first)" if args.straighten else "")
        )
        print(blots.pivot(index="image", columns="view", values="cell")[blot_views].to_string())
        figures["blots"] = blots.drop(columns=["cell"]).to_dict(orient="records")
    gel_views = [v for v in args.gel_views.split(",") if v]
    if gel_views:
        gels = gel_table(args.data, gel_views)
        print("2. Lab gels in views: per-gel band F1 against the masks")
        summary = gels.groupby("view", sort=False).f1.agg(mean_f1="mean", lowest_f1="min")
        print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
        if args.per_gel:
            per_gel = gels.pivot(index="gel", columns="view", values="f1")[gel_views]
            print(per_gel.to_string(float_format="{:.3f}".format))
        figures["gels"] = gels.rename(columns={"f1": "f1_fraction"}).to_dict(orient="records")
    if args.json is not None:
        write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
