"""How often does scale-bar reading give the right pixel size, and how fast is it?

Generates seeded synthetic micrographs with burnt-in scale bars (several bar
lengths, fonts, font sizes, corners, polarities, units, with and without a data
strip, some JPEG-compressed), reads each with
:func:`exo_vision.calibration.scalebar.read_scale_bar`, and prints:

- % correct: status "ok" and pixel size within 1 % of the truth,
- % unreadable / not found: the reader declined (the safe failure),
- % WRONG: status "ok" with a pixel size off by more than 1 % (must be 0),
- seconds per image (wall clock, and CPU time including tesseract), and a breakdown of the failures by font
  and polarity.

Run::

    .venv/bin/python benchmarks/scalebar_accuracy.py            # 200 images
    .venv/bin/python benchmarks/scalebar_accuracy.py --n 40 --seed 1000
    .venv/bin/python benchmarks/scalebar_accuracy.py --json results/scalebar_accuracy.json  # also as JSON
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

from bench_record import write_json

from exo_vision.calibration.scalebar import read_scale_bar
from exo_vision.synthetic.scalebar import random_scale_bar_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of images (default 200)")
    parser.add_argument("--seed", type=int, default=100_000, help="first seed (default 100000)")
    parser.add_argument("--verbose", action="store_true", help="print every image that is not correct")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    outcomes: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    by_family: Counter[str] = Counter()
    length_errors: list[float] = []
    seconds = 0.0
    cpu_seconds = 0.0
    for seed in range(args.seed, args.seed + args.n):
        image, truth = random_scale_bar_image(rng=seed)
        start = time.perf_counter()
        cpu_start = os.times()
        reading = read_scale_bar(image)
        seconds += time.perf_counter() - start
        cpu_end = os.times()
        # CPU time of this process and of the tesseract runs it waited for: a figure that does
        # not depend on how busy the machine is.
        cpu_seconds += sum(cpu_end[i] - cpu_start[i] for i in range(4))
        family = f"{truth['font']}/{truth['polarity']}"
        by_family[family] += 1
        if reading.status == "ok":
            error = reading.pixel_size_nm / truth["pixel_size_nm"] - 1.0
            outcome = "correct" if abs(error) <= 0.01 else "WRONG"
        else:
            outcome = reading.status
        if reading.bar_length_px is not None and reading.bar_box is not None:
            length_errors.append(abs(reading.bar_length_px - truth["bar_length_px"]))
        outcomes[outcome] += 1
        if outcome != "correct":
            failures[family] += 1
            if args.verbose:
                print(
                    f"seed {seed}: {outcome}: truth {truth['label_text']!r} {truth['bar_length_px']:.1f} px "
                    f"({truth['font']}, {truth['font_px']} px, {truth['polarity']}, "
                    f"strip={truth['strip_box'] is not None}, "
                    f"jpeg={truth['jpeg']}); read {reading.label_text!r} {reading.bar_length_px} px: {reading.reason}"
                )

    n = args.n
    print(f"scale-bar reading on {n} synthetic images (seeds {args.seed}..{args.seed + n - 1})")
    print(f"  correct (within 1 %): {100 * outcomes['correct'] / n:5.1f} %  ({outcomes['correct']})")
    print(f"  unreadable:           {100 * outcomes['unreadable'] / n:5.1f} %  ({outcomes['unreadable']})")
    print(f"  not found:            {100 * outcomes['not found'] / n:5.1f} %  ({outcomes['not found']})")
    print(f"  WRONG:                {100 * outcomes['WRONG'] / n:5.1f} %  ({outcomes['WRONG']})")
    print(f"  seconds per image:    {seconds / n:.3f} wall, {cpu_seconds / n:.3f} CPU (incl. tesseract)")
    if length_errors:
        length_errors.sort()
        median = length_errors[len(length_errors) // 2]
        print(f"  bar length error:     median {median:.3f} px, max {length_errors[-1]:.3f} px")
    if failures:
        print(
            "  not correct, by font/polarity: "
            + ", ".join(f"{k} {v}/{by_family[k]}" for k, v in sorted(failures.items()))
        )
    if args.json is not None:
        write_json(
            args.json,
            {
                "images_count": n,
                "first_seed": args.seed,
                "outcomes_fraction": {k: outcomes[k] / n for k in ("correct", "unreadable", "not found", "WRONG")},
                "outcomes_count": {k: outcomes[k] for k in ("correct", "unreadable", "not found", "WRONG")},
                "correct_tolerance_fraction": 0.01,
                "seconds_per_image_wall_s": seconds / n,
                "seconds_per_image_cpu_s": cpu_seconds / n,
                "bar_length_error_median_px": length_errors[len(length_errors) // 2] if length_errors else None,
                "bar_length_error_max_px": length_errors[-1] if length_errors else None,
                "not_correct_by_font_polarity": {
                    k: {"not_correct_count": v, "images_count": by_family[k]} for k, v in sorted(failures.items())
                },
            },
        )
    return 1 if outcomes["WRONG"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
