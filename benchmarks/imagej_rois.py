"""Does a real ImageJ open exo_vision's ROI sets with the right ROIs? (Debian's ``imagej``, headless.)

Writes the vesicles of generated micrographs as ``RoiSet.zip``
(:func:`exo_vision.annotations.write_imagej_rois`), then runs ImageJ 1 under
``xvfb-run``: a macro opens each zip in the ROI Manager on a blank image of the
micrograph's size and prints every ROI's name and pixel count. Compared with
exo_vision's own labels: the ROI count, the names (= vesicle ids) and each
vesicle's area in pixels.

Needs ``apt-get install imagej xvfb`` (the script says so when they are missing).

Usage::

    python benchmarks/imagej_rois.py [--images 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import roifile

from exo_vision.annotations import write_imagej_rois
from exo_vision.annotations.imagej_roi import roi_mask
from exo_vision.synthetic.tem_random import make_random_tem

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when a test loads this file by its path
from bench_record import write_json  # noqa: E402

IJ_JAR = Path("/usr/share/java/ij.jar")

MACRO = """
args = split(getArgument(), " ");
newImage("blank", "8-bit black", parseInt(args[1]), parseInt(args[2]), 1);
roiManager("reset");
roiManager("Open", args[0]);
n = roiManager("count");
print("COUNT " + n);
for (i = 0; i < n; i++) {
    roiManager("select", i);
    getStatistics(area);
    print("ROI " + Roi.getName + " " + area);
}
"""


def imagej_available() -> str | None:
    """None when ImageJ can run headless here, else what is missing."""
    missing = [name for name in ("java", "xvfb-run") if shutil.which(name) is None]
    if not IJ_JAR.is_file():
        missing.append(str(IJ_JAR))
    return ", ".join(missing) or None


def imagej_roi_areas(zip_path: Path, shape: tuple[int, int], *, timeout_s: float = 120) -> dict[str, int]:
    """ROI name -> pixel count, as ImageJ's ROI Manager reads ``zip_path`` on an image of ``shape``."""
    with tempfile.TemporaryDirectory() as tmp:
        macro = Path(tmp) / "count.ijm"
        macro.write_text(MACRO)
        run = subprocess.run(
            [
                "xvfb-run",
                "-a",
                "java",
                "-Djava.awt.headless=false",
                "-jar",
                str(IJ_JAR),
                "-batch",
                str(macro),
                f"{zip_path} {shape[1]} {shape[0]}",
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    lines = (run.stdout + run.stderr).splitlines()
    count = [int(line.split()[1]) for line in lines if line.startswith("COUNT ")]
    if not count:
        raise RuntimeError(f"ImageJ printed no ROI count (exit {run.returncode}): {' | '.join(lines[-5:])}")
    areas = {}
    for line in lines:
        if line.startswith("ROI "):
            _, name, area = line.split()
            areas[name] = int(round(float(area)))
    if len(areas) != count[0]:
        raise RuntimeError(f"ImageJ counted {count[0]} ROIs but listed {len(areas)}")
    return areas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    missing = imagej_available()
    if missing:
        print(f"ImageJ cannot run here: missing {missing}; install with apt-get install imagej xvfb")
        if args.json is not None:
            write_json(args.json, {"imagej_missing": missing, "images": []})
        return 1
    rows = []
    failures = 0
    seed, done = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        while done < args.images:
            labels = make_random_tem((512, 512), pixel_size_nm=2.0, rng=seed).labels
            seed += 1
            if labels.max() < 5:
                continue
            done += 1
            path = write_imagej_rois(Path(tmp) / f"RoiSet_{seed - 1}.zip", labels)
            t = time.perf_counter()
            areas = imagej_roi_areas(path, labels.shape)
            # exo_vision's own reading of each ROI alone (as ImageJ measures it; overlaps counted in both)
            ours = {roi.name: int(roi_mask(roi, labels.shape).sum()) for roi in roifile.roiread(path)}
            worst = max(abs(areas.get(k, 0) - v) / v for k, v in ours.items())
            ok = sorted(areas) == sorted(ours)
            failures += not ok
            seconds = time.perf_counter() - t
            print(
                f"seed {seed - 1}: exo_vision {int(labels.max())} vesicles, ImageJ ROI Manager {len(areas)} ROIs, "
                f"names match: {ok}, largest area difference from exo_vision's reading {100 * worst:.1f} % "
                f"({seconds:.1f} s)"
            )
            rows.append(
                {
                    "seed": seed - 1,
                    "vesicles_count": int(labels.max()),
                    "imagej_rois_count": len(areas),
                    "names_match": ok,
                    "largest_area_difference_fraction": worst,
                    "check_s": seconds,
                }
            )
    if args.json is not None:
        write_json(args.json, {"imagej_missing": None, "images": rows, "failures_count": failures})
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
