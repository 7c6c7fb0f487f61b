"""Speed of the TEM pipeline: per image on one process, batch throughput, memory, scaling.

Prints, for generated negative-stain micrographs (``make_synthetic_tem``,
"medium" difficulty, 0.8 nm/px, uint16 ImageJ TIFFs):

1. the median wall time per 2048 x 2048 image end to end on one process
   (read, segment, measure, statistics, write labels/table/overlay/marker),
   with the median of each stage and the median CPU time of the process,
   with OpenCV limited to one thread (the bar is per image on one core);
2. the throughput of ``exo-vision tem`` (a real subprocess) on a folder of
   ``--n-images`` such images with ``--workers`` = the core count, and the
   peak resident memory of the largest process;
3. the time per image at 1, 4 and 16 MP (1024^2, 2048^2, 4096^2) and the time
   per megapixel, to show how time grows with pixel count. The sizes are timed
   in interleaved rounds (one image of each size per round), so a slow spell of
   the virtual machine does not land on one size only.

Usage::

    .venv/bin/python benchmarks/tem_speed.py                 # full: 50 images
    .venv/bin/python benchmarks/tem_speed.py --n-images 6 --repeats 3   # quick look

Generated inputs are cached in ``--work-dir`` (default: a folder under the
system temp dir) so repeated runs skip generation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import tifffile
from bench_record import add_method_option, write_json

from exo_vision._shared.resources import peak_rss_mb
from exo_vision.batch.config import TemBatchConfig
from exo_vision.batch.runner import ImageJob, default_workers, process_image
from exo_vision.synthetic.tem import make_synthetic_tem

PIXEL_SIZE_NM = 0.8


def make_inputs(folder: Path, n: int, side: int, *, seed0: int = 0) -> list[Path]:
    """Generate (or reuse) ``n`` calibrated side x side micrographs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        path = folder / f"tem_{side}_{seed0 + k:03d}.tif"
        if not path.is_file():
            image, _ = make_synthetic_tem((side, side), pixel_size_nm=PIXEL_SIZE_NM, difficulty="medium", rng=seed0 + k)
            tmp = path.with_suffix(".part.tif")
            tifffile.imwrite(tmp, image, imagej=True, resolution=(1 / PIXEL_SIZE_NM,) * 2, metadata={"unit": "nm"})
            os.replace(tmp, path)
        paths.append(path)
    return paths


def peak_memory_from_run(run_json: Path) -> tuple[float, float]:
    """(main process, largest worker) peak resident memory in MB, as recorded in run.json."""
    run = json.loads(run_json.read_text())
    workers = [im.get("peak_rss_mb") or 0.0 for im in run["images"]]
    return float(run.get("peak_rss_mb_main_process") or float("nan")), max(workers, default=float("nan"))


def time_one_process(paths: list[Path], out: Path, *, method: str, model: str | None = None) -> list[dict]:
    """Run :func:`process_image` in this process on each path (``model``: see ``--model``); return the records."""
    out.mkdir(parents=True, exist_ok=True)
    params = TemBatchConfig(method=method, model=model).analysis_parameters()
    records = []
    for k, path in enumerate(paths):
        start, cpu_start = time.perf_counter(), time.process_time()
        record = process_image(ImageJob(index=k, path=str(path), stem=path.stem, out_dir=str(out), parameters=params))
        record["wall_s"] = time.perf_counter() - start
        record["cpu_s"] = time.process_time() - cpu_start
        if record["status"] != "done":
            raise RuntimeError(f"{path}: {record.get('error')}")
        records.append(record)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=50, help="images in the throughput folder (default 50)")
    parser.add_argument(
        "--repeats", type=int, default=7, help="images timed per size, in interleaved rounds (default 7)"
    )
    parser.add_argument("--workers", type=int, default=default_workers(), help="workers for the batch run")
    parser.add_argument(
        "--work-dir",
        default=str(Path(tempfile.gettempdir()) / "exo_vision_bench"),
        help="cache folder for generated inputs",
    )
    parser.add_argument("--skip-16mp", action="store_true", help="leave out the 4096 x 4096 size")
    parser.add_argument("--skip-batch", action="store_true", help="leave out the exo-vision tem throughput run")
    add_method_option(parser)
    parser.add_argument(
        "--model",
        default=None,
        help="for --method unet: a shipped model's name (ev-unet, ev-unet-float) or a .onnx path (default: ev-unet)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the per-size figures to this JSON file")
    args = parser.parse_args()

    work = Path(args.work_dir)
    print(f"exo_vision TEM speed benchmark; {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")
    print(f"method: {args.method}" + (f", model {args.model}" if args.model else ""))
    print(f"inputs: synthetic 'medium' micrographs, {PIXEL_SIZE_NM} nm/px, uint16 ImageJ TIFF, cached in {work}")

    # 1 + 3: one process on one core, per image, per size. OpenCV would otherwise spread
    # some filters over every core; the bar is per image on one core.
    cv2.setNumThreads(1)
    sizes = [1024, 2048] + ([] if args.skip_16mp else [4096])
    print(
        "\n== one process on one core (OpenCV limited to 1 thread), end to end "
        "(read, segment, measure, statistics, write) =="
    )
    print(f"sizes interleaved image by image ({args.repeats} rounds, after one untimed warm-up image), so that the")
    print("virtual machine's drift in speed falls on every size alike")
    print(f"{'size':>11} {'MP':>5} {'median s':>9} {'min s':>7} {'cpu s':>6} {'s/MP':>6}  stage medians (s)")
    paths = {side: make_inputs(work / "single", args.repeats, side, seed0=1000) for side in sizes}
    out = work / "single_out"
    shutil.rmtree(out, ignore_errors=True)
    time_one_process(paths[sizes[0]][:1], out, method=args.method, model=args.model)  # warm-up: imports, first calls
    records: dict[int, list[dict]] = {side: [] for side in sizes}
    for k in range(args.repeats):
        for side in sizes:
            records[side] += time_one_process(paths[side][k : k + 1], out, method=args.method, model=args.model)
    per_size, per_size_cpu, per_size_min = {}, {}, {}
    for side in sizes:
        walls = [r["wall_s"] for r in records[side]]
        mp = side * side / 1e6
        stages = {}
        for key in ("read_s", "segment_s", "measure_s", "statistics_s", "write_s"):
            stages[key] = statistics.median(r["timings"][key] for r in records[side])
        med = statistics.median(walls)
        per_size[side], per_size_min[side] = med, min(walls)
        stage_text = ", ".join(f"{k[:-2]} {v:.3f}" for k, v in stages.items())
        cpu = statistics.median(r["cpu_s"] for r in records[side])
        per_size_cpu[side] = cpu
        print(f"{side:>5}x{side:<5} {mp:5.1f} {med:9.3f} {min(walls):7.3f} {cpu:6.3f} {med / mp:6.3f}  {stage_text}")
    if 1024 in per_size and 2048 in per_size:
        print(
            f"time ratio 4 MP / 1 MP = {per_size[2048] / per_size[1024]:.2f} of the medians, "
            f"{per_size_min[2048] / per_size_min[1024]:.2f} of the fastest runs (linear = 4.0)"
        )
    if 4096 in per_size:
        print(
            f"time ratio 16 MP / 4 MP = {per_size[4096] / per_size[2048]:.2f} of the medians, "
            f"{per_size_min[4096] / per_size_min[2048]:.2f} of the fastest runs (linear = 4.0)"
        )
    print(
        f"peak resident memory of this process (up to the largest size): {peak_rss_mb():.0f} MB "
        "(a high-water mark over all sizes, interleaved)"
    )
    print(
        "bar: <= 0.6 s (unet) / 0.5 s (classical) per 2048x2048 image on one core; "
        f"measured median {per_size.get(2048, float('nan')):.3f} s "
        f"wall, {per_size_cpu.get(2048, float('nan')):.3f} s CPU"
    )

    if args.json is not None:
        figures = {
            str(side): {"median_s": per_size[side], "min_s": per_size_min[side], "cpu_s": per_size_cpu[side]}
            for side in sizes
        }
        write_json(
            args.json, {"method": args.method, "model": args.model, "per_size": figures, "peak_rss_mb": peak_rss_mb()}
        )
    if args.skip_batch:
        return
    # 2: throughput of the real command.
    # one folder per count: a folder left by a larger earlier run would otherwise be timed whole
    folder = work / f"folder_{args.n_images}"
    paths = make_inputs(folder, args.n_images, 2048, seed0=0)
    out = work / "folder_out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "exo_vision.cli.main",
        "tem",
        str(folder),
        "--out",
        str(out),
        "--workers",
        str(args.workers),
        "--method",
        args.method,
    ] + (["--model", args.model] if args.model else [])
    print(f"\n== exo-vision tem on {len(paths)} images of 2048x2048 with --workers {args.workers} ==")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        raise SystemExit(f"exo-vision tem failed with status {proc.returncode}")
    print(proc.stdout.strip())
    print(f"wall {wall:.1f} s including start-up: {len(paths) / wall:.2f} images/s, {wall / len(paths):.3f} s/image")
    main_mb, worker_mb = peak_memory_from_run(out / "run.json")
    print(f"peak resident memory (from run.json): main process {main_mb:.0f} MB, largest worker {worker_mb:.0f} MB")


if __name__ == "__main__":
    main()
