"""Speed of ``quantify_blot`` on one 16-bit blot of up to 5 MP (bar: <= 0.5 s).

Generates (seeded) a 16-bit raw ChemiDoc-like blot of about 5 megapixels with
3 strips x 12 lanes (sharp bands, a CD63-like smear strip, dust, blotches)
and times ``quantify_blot`` with automatic strips, lanes and bands, default
background, end to end from the uint16 array (reading the file is not
included; ``exo_vision.io`` has its own benchmark). Also prints the time of a
1.3 MP blot (a full ChemiDoc frame) and of the rolling-ball alternatives.

Usage::

    .venv/bin/python benchmarks/blot_speed.py [--repeats 5] [--json results/blot_speed.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path

import numpy as np
from bench_record import write_json

from exo_vision.blot.parameters import BlotParameters
from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot


def make_blot(scale: float, rng: int = 0):
    """A 3-strip, 12-lane 16-bit blot; ``scale`` multiplies every length."""
    g = np.random.default_rng(rng)
    n = 12
    specs = [
        StripSpec(
            "CD9",
            list(10 ** g.uniform(6, 7, n) * scale**2),
            "sharp",
            band_sigma_px=3 * scale,
            height_px=int(200 * scale),
        ),
        StripSpec(
            "CD63",
            list(10 ** g.uniform(6.5, 7.3, n) * scale**2),
            "smear",
            smear_height_px=80 * scale,
            height_px=int(260 * scale),
        ),
        StripSpec(
            "calnexin", [3e6 * scale**2] + [0.0] * (n - 1), "sharp", band_sigma_px=3 * scale, height_px=int(200 * scale)
        ),
    ]
    return make_synthetic_blot(
        specs,
        lane_width_px=60 * scale,
        lane_gap_px=24 * scale,
        margin_px=int(60 * scale),
        strip_gap_px=int(30 * scale),
        blotch_scale_px=120 * scale,
        rng=g,
    )


def timed(image, repeats: int, **kwargs) -> tuple[float, float, float, int]:
    """Best and median wall time, best CPU time (s) and band rows of ``repeats`` runs."""
    times, cpu = [], []
    n_bands = 0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = quantify_blot(image, polarity="bright", max_value=65535, **kwargs)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        n_bands = len(res.bands)
    return min(times), statistics.median(times), min(cpu), n_bands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = []
    for label, scale in (("full ChemiDoc frame", 1.05), ("5 MP", 2.38)):
        blot = make_blot(scale)
        mp = blot.image.size / 1e6
        timed(blot.image, 1)  # warm-up: imports, caches
        best, med, cpu, n = timed(blot.image, args.repeats)
        print(
            f"{label}: {blot.image.shape[1]} x {blot.image.shape[0]} uint16 = {mp:.2f} MP, {n} band rows: "
            f"quantify_blot wall best {best:.3f} s, median {med:.3f} s; CPU best {cpu:.3f} s "
            f"over {args.repeats} runs" + ("   (bar <= 0.5 s)" if scale > 2 else "")
        )
        size = {"blot": label, "width_px": blot.image.shape[1], "height_px": blot.image.shape[0], "megapixels": mp}
        rows.append({**size, "background": "default", **timing(best, med, cpu), "runs_count": args.repeats})
        rows[-1]["band_rows_count"] = n
        if scale > 2:
            for method in ("rolling_ball", "rolling_disk"):
                best, med, cpu, _ = timed(
                    blot.image, max(1, args.repeats // 2), params=BlotParameters(background=method)
                )
                print(f"   background={method}: wall best {best:.3f} s, median {med:.3f} s; CPU best {cpu:.3f} s")
                rows.append(
                    {**size, "background": method, **timing(best, med, cpu), "runs_count": max(1, args.repeats // 2)}
                )
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores (other processes slow the wall time)")
    if args.json is not None:
        figures = {"runs": rows, "bar_s": 0.5, "load_average": load, "cores_count": os.cpu_count()}
        write_json(args.json, figures)


def timing(best: float, median: float, cpu: float) -> dict[str, float]:
    """The printed times of one ``timed`` call as JSON figures."""
    return {"wall_best_s": best, "wall_median_s": median, "cpu_best_s": cpu}


if __name__ == "__main__":
    main()
