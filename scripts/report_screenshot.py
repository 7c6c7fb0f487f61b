"""Regenerate docs/report_example.png: an `exo-vision report` rendered by headless Chromium.

Inputs (outputs go to a temporary folder):

* TEM grid "real_sample": the bundled real micrograph ``sample_images/hrml_ev_negative_stain.jpg``
  (calibrated from its burnt-in scale bar);
* TEM grid "generated_samples": the bundled generated micrographs ``sample_images/tem_*nm.tif``
  (calibrated from their ImageJ tags), or three seeded ``make_synthetic_tem`` images if absent;
* blot: ``sample_images/blot_panel.toml`` (CD9/CD63/calnexin over lysate, exo1, exo2), or a
  seeded ``make_marker_panel`` if absent.

Each runs through the real CLIs (`exo-vision tem`, `exo-vision blot`, `exo-vision report`),
then Chromium takes a 1280 px wide full-page screenshot, trimmed of trailing white space
and stored with a 256-colour palette.

Usage::

    .venv/bin/python scripts/report_screenshot.py [--out docs/report_example.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from exo_vision.cli.main import main as exo_vision
from exo_vision.synthetic.blot import make_marker_panel
from exo_vision.synthetic.tem import make_synthetic_tem

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_images"
PANEL_TOML = """\
lane_names = ["lysate", "exo1", "exo2"]
reference_lane = "lysate"
ug_loaded = [20.0, 10.0, 10.0]
[[marker]]
name = "CD9"
image = "panel.tif"
strip = 1
[[marker]]
name = "CD63"
image = "panel.tif"
strip = 2
[[marker]]
name = "calnexin"
image = "panel.tif"
strip = 3
"""
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _run(argv: list[str]) -> None:
    status = exo_vision(argv)
    if status != 0:
        raise SystemExit(f"exo-vision {' '.join(argv)} exited with status {status}")


def make_inputs(work: Path) -> tuple[list[Path], Path]:
    """Run `exo-vision tem` per grid and `exo-vision blot`; return the TEM folders and the blot folder."""
    tem_dirs = []
    real = SAMPLES / "hrml_ev_negative_stain.jpg"
    if real.is_file():
        _run(["tem", str(real), "--workers", "1", "--out", str(work / "real_sample")])
        tem_dirs.append(work / "real_sample")
    generated = sorted(SAMPLES.glob("tem_*nm.tif"))
    if generated:
        # Calibrated by their ImageJ tags: no --pixel-size-nm.
        _run(["tem", *map(str, generated), "--workers", "2", "--out", str(work / "generated_samples")])
        tem_dirs.append(work / "generated_samples")
    else:
        synthetic = work / "synthetic_inputs"
        synthetic.mkdir()
        for seed in range(3):
            image, _ = make_synthetic_tem((1024, 1024), pixel_size_nm=0.8, difficulty="medium", rng=seed)
            tifffile.imwrite(synthetic / f"synthetic_{seed}.tif", image)
        _run(["tem", str(synthetic), "--pixel-size-nm", "0.8", "--workers", "2", "--out", str(work / "synthetic")])
        tem_dirs.append(work / "synthetic")

    toml = SAMPLES / "blot_panel.toml"
    if not toml.is_file():
        blot_inputs = work / "blot_inputs"
        blot_inputs.mkdir()
        tifffile.imwrite(blot_inputs / "panel.tif", make_marker_panel(rng=0).image)
        toml = blot_inputs / "panel.toml"
        toml.write_text(PANEL_TOML, encoding="utf-8")
    _run(["blot", "--panel", str(toml), "--out", str(work / "blot")])
    return tem_dirs, work / "blot"


def screenshot(html: Path, png: Path, *, profile: Path, height_px: int = 9000) -> None:
    """Render ``html`` in headless Chromium at 1280 px width and trim the white space below the page."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed: apt-get install -y --no-install-recommends chromium")
    raw = png.with_suffix(".raw.png")
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={raw}",
            f"--window-size=1280,{height_px}",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    rgb = np.asarray(Image.open(raw).convert("RGB"))
    raw.unlink()
    rows = np.flatnonzero((rgb < 250).any(axis=(1, 2)))
    bottom = int(rows[-1]) + 40 if rows.size else rgb.shape[0]
    page = Image.fromarray(rgb[: min(bottom, rgb.shape[0])])
    # 256 colours (octree keeps the overlay and badge colours; no dithering): ~3x smaller for the README.
    page.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(png, optimize=True)


def main(argv: list[str] | None = None) -> int:
    """Build the example report and its screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "report_example.png"), help="PNG to write")
    parser.add_argument("--keep", metavar="DIR", help="also copy the report HTML and its inputs to DIR")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="exo_vision_report_") as tmp:
        work = Path(tmp)
        tem_dirs, blot_dir = make_inputs(work)
        html = work / "report.html"
        argv_report = ["report"]
        for d in tem_dirs:
            argv_report += ["--tem", str(d)]
        argv_report += [
            "--blot",
            str(blot_dir),
            "--dls",
            "z_avg_nm=128.4,sd_nm=3.1,pdi=0.19,instrument=Zetasizer Nano ZS",
            "--zeta",
            "mean_mv=-21.7,sd_mv=3.9",
            "--protein",
            "ug_per_ml=412,sd_ug_per_ml=18,method=micro-BCA",
            "--title",
            "Example EV preparation (exo-vision sample images)",
            "--out",
            str(html),
        ]
        _run(argv_report)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(html, out, profile=work / "chromium-profile")
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("chromium-profile"))
    sys.stdout.write(f"wrote {out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
