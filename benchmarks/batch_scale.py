"""Batch scaling of `exo-vision tem`: images/s for 1, 2 and all cores, Dask overhead, worker death.

Prints, on ``--n-images`` generated 2048 x 2048 micrographs (default 100):

1. images per second of ``exo-vision tem --workers N`` (a real subprocess) for
   N = 1, 2 and all cores, with the peak resident memory of the largest process;
2. the same run through Dask (``--scheduler local``: a LocalCluster with the
   same number of worker processes) and its overhead against the local pool;
3. a Dask run in which one worker process is killed (SIGKILL) after a third
   of the images: the run must still finish every image, and its tables must
   equal the local pool's byte for byte.

Usage::

    .venv/bin/python benchmarks/batch_scale.py                  # 100 images
    .venv/bin/python benchmarks/batch_scale.py --n-images 12    # quick look
    .venv/bin/python benchmarks/batch_scale.py --method classical --json results/batch_scale.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exo_vision.batch.config import TemBatchConfig
from exo_vision.batch.runner import default_workers, run_tem_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import add_method_option, write_json  # noqa: E402
from tem_speed import make_inputs, peak_memory_from_run  # noqa: E402  (benchmarks share the generated inputs)

TABLES = ("vesicles.csv", "summary.csv", "errors.csv")


def run_cli(folder: Path, out: Path, *extra: str) -> tuple[float, float, str]:
    """Run exo-vision tem in a subprocess; return (wall s, peak RSS MB of its largest process, stdout)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "exo_vision.cli.main", "tem", str(folder), "--out", str(out), *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    main_mb, worker_mb = peak_memory_from_run(out / "run.json")
    return wall, max(main_mb, worker_mb), proc.stdout.strip()


def same_tables(a: Path, b: Path) -> bool:
    names = [*TABLES, *(p.name for p in a.glob("*_vesicles.csv"))]
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def dask_with_a_worker_killed(folder: Path, out: Path, workers: int, method: str) -> tuple[float, dict]:
    """Run through a LocalCluster and SIGKILL one worker process after a third of the images."""
    from dask.distributed import Client, LocalCluster

    shutil.rmtree(out, ignore_errors=True)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        killed = {"pid": None, "at": None}

        def progress(done: int, total: int) -> None:
            if killed["pid"] is None and done >= max(1, total // 3):
                os.kill(victim, signal.SIGKILL)
                killed.update(pid=victim, at=done)

        start = time.perf_counter()
        result = run_tem_batch(
            [folder],
            out_dir=out,
            config=TemBatchConfig(scheduler=cluster.scheduler_address, method=method),
            progress=progress,
        )
        wall = time.perf_counter() - start
    info = {
        "killed_pid": killed["pid"],
        "killed_after": killed["at"],
        "failed": len(result.failed),
        "records": len(result.records),
    }
    return wall, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=100, help="generated 2048x2048 images (default 100)")
    parser.add_argument(
        "--work-dir",
        default=str(Path(tempfile.gettempdir()) / "exo_vision_bench"),
        help="cache folder for generated inputs",
    )
    add_method_option(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    work = Path(args.work_dir)
    cores = default_workers()
    load = os.getloadavg()[0]
    print(f"exo_vision batch scaling benchmark; {cores} core(s), load average {load:.1f}")
    print(f"method: {args.method}")
    folder = work / f"batch_{args.n_images}"
    paths = make_inputs(folder, args.n_images, 2048, seed0=5000)
    print(f"{len(paths)} generated 2048x2048 'medium' micrographs in {folder}\n")

    print(f"{'path':<24} {'workers':>7} {'wall s':>8} {'images/s':>9} {'s/image':>8} {'peak MB':>8}")
    local = {}
    rows = []
    for n in sorted({1, min(2, cores), cores}):
        wall, peak, _ = run_cli(folder, work / f"out_local_{n}", "--workers", str(n), "--method", args.method)
        local[n] = wall
        rows.append(row("local process pool", n, wall, len(paths), peak))
        print(
            f"{'local process pool':<24} {n:>7} {wall:8.1f} {len(paths) / wall:9.3f} {wall / len(paths):8.3f} "
            f"{peak:8.0f}"
        )
    wall, peak, _ = run_cli(
        folder, work / "out_dask", "--scheduler", "local", "--workers", str(cores), "--method", args.method
    )
    rows.append(row("dask LocalCluster", cores, wall, len(paths), peak))
    print(
        f"{'dask LocalCluster':<24} {cores:>7} {wall:8.1f} {len(paths) / wall:9.3f} {wall / len(paths):8.3f} "
        f"{peak:8.0f}"
    )
    overhead = wall / local[cores] - 1
    print(f"\nDask overhead against the local pool at {cores} workers: {100 * overhead:+.1f} % wall time")
    identical_dask = same_tables(work / f"out_local_{cores}", work / "out_dask")
    print(f"Dask tables identical to the local pool's: {identical_dask}")

    wall, info = dask_with_a_worker_killed(folder, work / "out_dask_killed", cores, args.method)
    identical = same_tables(work / f"out_local_{cores}", work / "out_dask_killed")
    print(
        f"\nDask run with worker pid {info['killed_pid']} SIGKILLed after {info['killed_after']} image(s): "
        f"{info['records']} inputs, {info['failed']} failed, wall {wall:.1f} s, "
        f"tables identical to the local pool's: {identical}"
    )
    if args.json is not None:
        figures = {
            "method": args.method,
            "images_count": len(paths),
            "image_side_px": 2048,
            "cores_count": cores,
            "load_average": load,
            "runs": rows,
            "dask_overhead_fraction": overhead,
            "dask_tables_identical": identical_dask,
            "worker_killed": {
                "killed_after_images_count": info["killed_after"],
                "inputs_count": info["records"],
                "failed_count": info["failed"],
                "wall_s": wall,
                "tables_identical": identical,
            },
        }
        write_json(args.json, figures)


def row(path: str, workers: int, wall_s: float, n_images: int, peak_mb: float) -> dict:
    """One printed timing row as JSON figures."""
    return {
        "path": path,
        "workers_count": workers,
        "wall_s": wall_s,
        "images_per_s": n_images / wall_s,
        "s_per_image": wall_s / n_images,
        "peak_mb": peak_mb,
    }


if __name__ == "__main__":
    main()
