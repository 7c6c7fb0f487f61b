"""TEM end-to-end time per 2048 x 2048 image on ONE core, by pixel size and difficulty.

The segmentation works at a fixed ~2 nm per pixel, so a 2048 x 2048 image at
1.5 nm/px is processed on a 1536 x 1536 working grid while one at 0.35 nm/px
shrinks to 358 x 358: time depends on the pixel size as much as on the pixel
count. This prints, for generated micrographs (``make_synthetic_tem``, uint16
ImageJ TIFF with its pixel size) at 0.35, 0.8 and 1.5 nm/px and the "medium"
and "extreme" levels, the median CPU time (``time.process_time``) and wall time
of :func:`exo_vision.batch.runner.process_image` (read, segment, measure,
statistics, write labels/table/overlay) with OpenCV and BLAS held to one
thread, and the median of each stage (wall).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/tem_pixel_size_speed.py
    .venv/bin/python benchmarks/tem_pixel_size_speed.py --repeats 1 --images 2   # quick look
    .venv/bin/python benchmarks/tem_pixel_size_speed.py --method classical --json results/px_speed.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import cv2  # noqa: E402
import tifffile  # noqa: E402
from bench_record import add_method_option, write_json  # noqa: E402

from exo_vision.batch.config import TemBatchConfig  # noqa: E402
from exo_vision.batch.runner import ImageJob, process_image  # noqa: E402
from exo_vision.synthetic.tem import make_synthetic_tem  # noqa: E402

PIXEL_SIZES_NM = (0.35, 0.8, 1.5)
LEVELS = ("medium", "extreme")
SIDE = 2048


def make_input(folder: Path, *, pixel_size_nm: float, difficulty: str, seed: int) -> Path:
    """Generate (or reuse) one calibrated 2048 x 2048 micrograph in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tem_{pixel_size_nm:.2f}nm_{difficulty}_{seed:03d}.tif"
    if not path.is_file():
        image, _ = make_synthetic_tem((SIDE, SIDE), pixel_size_nm=pixel_size_nm, difficulty=difficulty, rng=seed)
        tmp = path.with_suffix(".part.tif")
        tifffile.imwrite(tmp, image, imagej=True, resolution=(1 / pixel_size_nm,) * 2, metadata={"unit": "nm"})
        os.replace(tmp, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3, help="different images per pixel size and level (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per image; the fastest counts (default 2)")
    parser.add_argument(
        "--work-dir",
        default=str(Path(tempfile.gettempdir()) / "exo_vision_bench_px"),
        help="where generated inputs are cached",
    )
    add_method_option(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    work = Path(args.work_dir)
    out = work / "out"
    params = TemBatchConfig(method=args.method).analysis_parameters()
    load = os.getloadavg()[0]
    print(f"exo_vision TEM time per {SIDE}x{SIDE} image on one core; load average {load:.1f}")
    print(f"method: {args.method}")
    # warm-up (imports, OCR start-up) outside the timings
    warm = make_input(work / "in", pixel_size_nm=0.8, difficulty="medium", seed=999)
    process_image(ImageJob(index=0, path=str(warm), stem="warm", out_dir=str(out), parameters=params))
    print(f"{'nm/px':>6} {'level':>8} {'cpu s':>7} {'wall s':>7}  stage medians, wall (s)")
    worst = 0.0
    rows = []
    for px in PIXEL_SIZES_NM:
        for level in LEVELS:
            cpu, wall, stages = [], [], {}
            for k in range(args.images):
                path = make_input(work / "in", pixel_size_nm=px, difficulty=level, seed=100 + k)
                best_cpu = best_wall = float("inf")
                for _ in range(args.repeats):
                    shutil.rmtree(out, ignore_errors=True)
                    out.mkdir(parents=True)
                    c0, w0 = time.process_time(), time.perf_counter()
                    record = process_image(
                        ImageJob(index=k, path=str(path), stem=path.stem, out_dir=str(out), parameters=params)
                    )
                    c1, w1 = time.process_time(), time.perf_counter()
                    if record["status"] != "done":
                        raise SystemExit(f"{path}: {record.get('error')}")
                    if w1 - w0 < best_wall:
                        timings = record["timings"]
                    best_cpu, best_wall = min(best_cpu, c1 - c0), min(best_wall, w1 - w0)
                cpu.append(best_cpu)
                wall.append(best_wall)
                for key in ("read_s", "segment_s", "measure_s", "statistics_s", "write_s"):
                    stages.setdefault(key, []).append(timings.get(key, float("nan")))
            med_cpu, med_wall = statistics.median(cpu), statistics.median(wall)
            worst = max(worst, med_cpu)
            stage_text = ", ".join(f"{k[:-2]} {statistics.median(v):.3f}" for k, v in stages.items())
            print(f"{px:6.2f} {level:>8} {med_cpu:7.3f} {med_wall:7.3f}  {stage_text}")
            rows.append(
                {
                    "pixel_size_nm": px,
                    "difficulty": level,
                    "cpu_median_s": med_cpu,
                    "wall_median_s": med_wall,
                    **{f"{k[:-2]}_wall_median_s": statistics.median(v) for k, v in stages.items()},
                }
            )
    print(f"bar: <= 0.5 s per {SIDE}x{SIDE} image on one core; worst median CPU time {worst:.3f} s")
    if args.json is not None:
        figures = {
            "method": args.method,
            "image_side_px": SIDE,
            "images_count": args.images,
            "repeats_count": args.repeats,
            "load_average": load,
            "per_pixel_size_and_level": rows,
            "worst_cpu_median_s": worst,
            "bar_s": 0.5,
        }
        write_json(args.json, figures)


if __name__ == "__main__":
    main()
