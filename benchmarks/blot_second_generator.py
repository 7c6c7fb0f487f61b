"""Blot quantification on frames of a second generator, written apart from ``exo_vision.synthetic``.

The project's own blot generator (``exo_vision.synthetic.blot``) was developed together with the
quantification it tests. This one was written later, without reusing it, to look like the raw frames
issue 14 describes: 16-bit chemiluminescence, 1092 x 736 px, 8-11 lanes, bands that smile across the
lane set and a lane set that tilts, a film-grain and Poisson background, and in 60 % of the frames a
hand-written ladder (short bright pen dashes) on the membrane margin beside the first lane. Three kinds:

* ``single``  — one membrane; one or two band rows;
* ``two``     — two membranes one above the other with a dark gap, the same lanes through both;
* ``blotchy`` — one membrane with a strongly blotchy, graded background (40 blotches of 15-90 px).

Each band row is one of: a 2-fold dilution over the first 8 lanes, a band in the first two lanes only
(calnexin in the lysate lanes), or bands of random strength in every lane. A band's profile is a flat top
with soft edges across its lane and a skewed Gaussian along it. Truth: every band whose peak is at least
1/16 of the strongest band's (``faint`` under 0.1, else ``strong``); weaker ones and the pen dashes are
don't-care. Lanes with a band in some membrane are sample lanes; lanes between them without a band are
blank lanes (their place follows from the pitch); empty lanes at the ends are don't-care (nothing shows
where they are).

Printed per frame and pooled: lanes found / expected, band recall, phantom bands per lane, and the volume
agreement of matched bands with the bands' true integrated signal (Pearson r, and the median deviation of
volume / true signal from its median). ``--no-pen`` leaves the pen dashes out.

Usage::

    .venv/bin/python benchmarks/blot_second_generator.py [--per-kind 8] [--seed 4242] [--no-pen] [--png DIR]
"""

from __future__ import annotations

import argparse
import logging
from math import erf
from pathlib import Path

import numpy as np
import pandas as pd
from blot_real import draw
from scipy import ndimage as ndi

from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.scoring import pearson, score_bands, score_lanes

FRAME_SHAPE = (736, 1092)
KINDS = ("single", "two", "blotchy")
#: Bands weaker than this fraction of the frame's strongest band are don't-care (about the blank-box LoD).
VISIBLE_FRACTION = 1 / 16
#: Bands under this fraction of the strongest are "faint".
FAINT_FRACTION = 0.1
#: Rows of a band's truth box: where its profile stays above this fraction of its peak.
BOX_LEVEL = 0.15
#: Camera offset and read noise (counts), and counts per photon-like event for the shot noise.
OFFSET, READ_SD, GAIN = 200.0, 25.0, 4.0
PEN_PROBABILITY = 0.6

_erf = np.vectorize(erf)


#: Columns kept free left of the first lane (room for the pen ladder) and right of the last.
LEFT_ROOM_PX, RIGHT_ROOM_PX = 120, 40


def _blotches(g: np.random.Generator, n: int, sigma_px: tuple[float, float], amplitude: float) -> np.ndarray:
    """Sum of ``n`` Gaussian blotches of random size and strength over the frame."""
    yy, xx = np.mgrid[: FRAME_SHAPE[0], : FRAME_SHAPE[1]]
    out = np.zeros(FRAME_SHAPE)
    for _ in range(n):
        cy, cx, s = g.uniform(0, FRAME_SHAPE[0]), g.uniform(0, FRAME_SHAPE[1]), g.uniform(*sigma_px)
        out += g.uniform(0.2, 1.0) * amplitude * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return out


def _layout(kind: str, g: np.random.Generator) -> dict:
    """Lanes (centres, width), membranes (row ranges) and the membrane's columns of one frame."""
    h, w = FRAME_SHAPE
    n_lanes = int(g.integers(8, 12))
    width = g.uniform(38, 62)
    pitch = width + g.uniform(10, 26)
    pitch = min(pitch, (w - LEFT_ROOM_PX - RIGHT_ROOM_PX) / n_lanes)  # the lane set fits the frame
    x0 = g.uniform(LEFT_ROOM_PX, max(LEFT_ROOM_PX, w - n_lanes * pitch - RIGHT_ROOM_PX))
    if kind == "two":
        height, gap, top = int(g.uniform(0.36, 0.42) * h), int(g.uniform(25, 60)), int(g.uniform(20, 50))
        membranes = [(top, top + height), (top + height + gap, min(top + 2 * height + gap, h - 15))]
    else:
        membranes = [(int(g.uniform(20, 60)), h - int(g.uniform(20, 60)))]
    return dict(
        centres=[x0 + (k + 0.5) * pitch for k in range(n_lanes)],
        width=width,
        membranes=membranes,
        columns=(int(x0 - g.uniform(30, 80)), int(min(x0 + n_lanes * pitch + g.uniform(20, 60), w - 5))),
    )


def _background(kind: str, lay: dict, peak: float, g: np.random.Generator) -> np.ndarray:
    """Membrane level with a left-right gradient and blotches; the camera floor off the membrane."""
    level = g.uniform(300, 1500)
    c0, c1 = lay["columns"]
    on = np.zeros(FRAME_SHAPE, bool)
    for a, b in lay["membranes"]:
        on[a:b, c0:c1] = True
    xx = np.arange(FRAME_SHAPE[1])[None, :]
    img = level * (1 + 0.4 * g.uniform(-1, 1) * (xx - c0) / max(c1 - c0, 1))
    blotchy = kind == "blotchy"
    n, sizes, strength = (40, (15, 90), 0.3) if blotchy else (12, (20, 80), 0.08)
    img = img + _blotches(g, n, sizes, strength * peak)
    return np.where(on, img, 0.0)


def _amounts(pattern: str, n_lanes: int, g: np.random.Generator) -> list[float]:
    if pattern == "dilution":
        return [2.0**-k if k < 8 else 0.0 for k in range(n_lanes)]
    if pattern == "lysate_only":
        return [1.0 if k < 2 else 0.0 for k in range(n_lanes)]
    return [float(g.uniform(0.3, 1.0)) for _ in range(n_lanes)]


def _bands(img: np.ndarray, lay: dict, peak: float, g: np.random.Generator) -> list[dict]:
    """Add every band row of every membrane to ``img``; return one record per band."""
    yy = np.arange(FRAME_SHAPE[0]).astype(float)
    xx = np.arange(FRAME_SHAPE[1]).astype(float)
    n = len(lay["centres"])
    smile, tilt = g.uniform(-12, 12), g.uniform(-0.03, 0.03)
    records = []
    for strip, (a, b) in enumerate(lay["membranes"], start=1):
        rows = int(g.integers(1, 3))
        for r in range(rows):
            y_row = a + (b - a) * (r + 1) / (rows + 1) + g.uniform(-10, 10)
            sigma, skew = g.uniform(3, 8), g.uniform(0.8, 1.6)
            amounts = _amounts(str(g.choice(["dilution", "lysate_only", "random"])), n, g)
            for k, (c, amount) in enumerate(zip(lay["centres"], amounts, strict=True)):
                if amount == 0:
                    continue
                u = (k - (n - 1) / 2) / max((n - 1) / 2, 1)
                yc = y_row + smile * u * u
                xc = c + tilt * (yc - FRAME_SHAPE[0] / 2)
                half = lay["width"] / 2 * g.uniform(0.85, 0.98)
                across = 0.5 * (_erf((xx - (xc - half)) / 3.0) - _erf((xx - (xc + half)) / 3.0))
                s = np.where(yy < yc, sigma, sigma * skew)
                along = np.exp(-0.5 * ((yy - yc) / s) ** 2)
                img += peak * amount * np.outer(along, across)
                reach = np.sqrt(2 * np.log(1 / BOX_LEVEL))
                records.append(
                    dict(
                        record="band",
                        strip=strip,
                        lane=k + 1,
                        x_left_px=c - lay["width"] / 2,
                        x_right_px=c + lay["width"] / 2,
                        y_top_px=yc - sigma * reach,
                        y_bottom_px=yc + sigma * skew * reach,
                        amount=amount,
                        signal=peak * amount * across.sum() * along.sum(),
                    )
                )
    return records


def _pen_ladder(img: np.ndarray, lay: dict, peak: float, g: np.random.Generator) -> None:
    """Bright pen dashes (3 px wide strokes, 15-35 px long) on and beside the membrane's left margin."""
    c0 = lay["columns"][0]
    top, bottom = lay["membranes"][0][0], lay["membranes"][-1][1]
    for _ in range(int(g.integers(4, 9))):
        y, x, length = g.uniform(top, bottom), g.uniform(max(c0 - 60, 5), c0 + 15), g.uniform(15, 35)
        for t in np.linspace(0, 1, 60):
            cy, cx = int(y + g.normal(0, 0.6)), int(x + t * length)
            if 0 <= cy < FRAME_SHAPE[0] and 0 <= cx < FRAME_SHAPE[1]:
                img[max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2] += 0.7 * peak


def _truth(lay: dict, bands: list[dict]) -> pd.DataFrame:
    """Truth records: bands (strong / faint / ignore by strength), lanes (sample / blank / ignore)."""
    strongest = max(b["amount"] for b in bands)
    for b in bands:
        rel = b["amount"] / strongest
        b["kind"] = "ignore" if rel < VISIBLE_FRACTION else ("faint" if rel < FAINT_FRACTION else "strong")
    loaded = sorted({b["lane"] for b in bands if b["kind"] != "ignore"})
    lanes = []
    for strip, (a, b) in enumerate(lay["membranes"], start=1):
        for k, c in enumerate(lay["centres"], start=1):
            kind = "sample" if k in loaded else ("blank" if loaded and loaded[0] < k < loaded[-1] else "ignore")
            lanes.append(
                dict(
                    record="lane",
                    strip=strip,
                    lane=k,
                    x_left_px=c - lay["width"] / 2,
                    x_right_px=c + lay["width"] / 2,
                    y_top_px=a,
                    y_bottom_px=b,
                    kind=kind,
                )
            )
    return pd.DataFrame(lanes + bands)


def make_frame(kind: str, rng: np.random.Generator, *, pen: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """One 16-bit frame of ``kind`` and its truth table (``exo_vision.blot.scoring`` format)."""
    lay = _layout(kind, rng)
    peak = rng.uniform(3000, 12000)
    img = _background(kind, lay, peak, rng)
    bands = _bands(img, lay, peak, rng)
    if pen and rng.random() < PEN_PROBABILITY:
        _pen_ladder(img, lay, peak, rng)
    img = ndi.gaussian_filter(img, 0.8)
    img = rng.poisson(np.clip(img, 0, None) / GAIN) * GAIN + rng.normal(OFFSET, READ_SD, img.shape)
    return np.clip(img, 0, 65535).astype(np.uint16), _truth(lay, bands)


def score_frame(kind: str, index: int, image: np.ndarray, truth: pd.DataFrame, png: Path | None) -> dict:
    """Quantify one frame automatically (no lane count, no marker) and score it against its truth."""
    result = quantify_blot(image, polarity="bright", image_name=f"{kind}{index}")
    score = score_bands(result.bands, truth.drop(columns=["amount", "signal"]))
    expected, found, extra = score_lanes(result.lanes, truth)
    r, deviation = float("nan"), float("nan")
    if len(score.matched):
        table = result.bands.set_index("label")
        ok = ~table.loc[score.matched.label, "saturated"].to_numpy()
        volume = score.matched.volume.to_numpy()[ok]
        signal = truth.loc[score.matched.truth_index, "signal"].to_numpy()[ok]
        if ok.sum() > 2:
            r = pearson(volume, signal)
        if ok.any():
            ratio = volume / signal
            deviation = float(np.median(np.abs(ratio / np.median(ratio) - 1)))
    if png is not None:
        png.mkdir(parents=True, exist_ok=True)
        draw(png / f"{kind}{index}.png", image, "bright", result, truth, score)
    return dict(
        kind=kind,
        frame=index,
        strips=len(result.strips),
        lanes_expected=expected,
        lanes_found=found,
        lanes_extra=extra,
        truth_bands=score.n_truth,
        found_bands=score.n_found,
        recall=score.recall,
        phantoms=score.n_phantom,
        phantoms_per_lane=score.n_phantom / max(expected, 1),
        volume_r=r,
        volume_deviation=deviation,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=8, help="frames of each kind (default 8)")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--no-pen", action="store_true", help="no pen dashes on the membrane margin")
    parser.add_argument("--png", type=Path, help="write annotated frames here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rows = []
    for k, kind in enumerate(KINDS):
        for i in range(args.per_kind):
            image, truth = make_frame(kind, np.random.default_rng([args.seed, k, i]), pen=not args.no_pen)
            rows.append(score_frame(kind, i, image, truth, args.png))
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\npooled by kind and in all:")
    for name, part in [*table.groupby("kind", sort=False), ("all", table)]:
        lanes = f"{int(part.lanes_found.sum())}/{int(part.lanes_expected.sum())}"
        recall = part.found_bands.sum() / part.truth_bands.sum()
        phantoms = part.phantoms.sum() / part.lanes_expected.sum()
        print(
            f"  {name:8s} frames {len(part):3d}  lanes {lanes} (extra {int(part.lanes_extra.sum())})  "
            f"band recall {recall:.3f}  phantoms per lane {phantoms:.3f}  volume r median "
            f"{part.volume_r.median():.3f}  volume deviation median {part.volume_deviation.median():.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
