"""Regenerate docs/histogram_example.png: the README's size-histogram figure, made by the current code.

Two generated "preparations" (seeded ``make_synthetic_tem`` micrographs whose vesicle diameters are
drawn from two log-normal distributions) go through the real command line:
``exo-vision tem`` on each, then ``exo-vision histogram`` over both ``vesicles.csv`` tables with a
KDE line, one group per table. The bin table is written beside the figure
(``docs/histogram_example_bins.csv``).

Usage::

    .venv/bin/python scripts/readme_histogram.py [--out docs/histogram_example.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from exo_vision.cli.main import main as exo_vision
from exo_vision.synthetic.tem import make_synthetic_tem

ROOT = Path(__file__).resolve().parents[1]
PIXEL_SIZE_NM = 0.8
#: (name, median diameter nm, log-normal sigma, seed)
PREPARATIONS = (("prep_A_UC", 85.0, 0.30, 11), ("prep_B_SEC", 120.0, 0.25, 23))
IMAGES_PER_PREPARATION = 4


def write_micrograph(path: Path, image: np.ndarray) -> None:
    """Write a uint16 micrograph with ImageJ calibration tags (µm per pixel)."""
    px_um = PIXEL_SIZE_NM / 1000.0
    tifffile.imwrite(path, image, imagej=True, resolution=(1 / px_um, 1 / px_um), metadata={"unit": "um"})


def make_preparation(folder: Path, median_nm: float, sigma: float, seed: int) -> None:
    """Write the micrographs of one generated preparation into ``folder``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for k in range(IMAGES_PER_PREPARATION):
        diameters = np.clip(rng.lognormal(np.log(median_nm), sigma, size=9), 35.0, 220.0)
        image, _ = make_synthetic_tem(
            (1024, 1024), pixel_size_nm=PIXEL_SIZE_NM, difficulty="medium", diameters_nm=diameters, rng=seed * 100 + k
        )
        write_micrograph(folder / f"{folder.name}_{k + 1:02d}.tif", image)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "histogram_example.png")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated inputs and results here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="exo_vision_hist_")) if args.keep is None else args.keep
    tables = []
    for name, median_nm, sigma, seed in PREPARATIONS:
        make_preparation(work / "data" / name, median_nm, sigma, seed)
        out = work / "results" / name
        status = exo_vision(["tem", str(work / "data" / name), "--out", str(out), "--workers", "2"])
        if status != 0:
            raise SystemExit(f"exo-vision tem failed on {name} (status {status}); see {out / 'errors.csv'}")
        tables.append(str(out / "vesicles.csv"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    status = exo_vision(
        [
            "histogram",
            *tables,
            "--out",
            str(args.out),
            "--kde",
            "--group-by",
            "file",
            "--bin-width-nm",
            "10",
            "--percent",
            "--width",
            "single",
        ]
    )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
