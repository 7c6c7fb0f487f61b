"""How long ``read_image`` takes per format (prints figures; not a test).

Run: ``.venv/bin/python benchmarks/read_image_speed.py [--size 4096] [--repeat 3] [--json PATH]``

Synthetic files are written to a temporary folder (TIFF 16-bit, LZW TIFF, RGB
JPEG with gray content, Bio-Rad .scn); the real images in ../shared/data are
timed too when present. Each figure is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from bench_record import write_json
from PIL import Image

from exo_vision.io import read_image
from exo_vision.synthetic.scn import write_scn

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_of(repeat: int, func) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="edge of the synthetic images in px")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.size
    data16 = rng.integers(0, 60000, (n, n)).astype(np.uint16)
    gray8 = rng.integers(0, 255, (n, n)).astype(np.uint8)
    cases: list[tuple[str, Path, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tifffile.imwrite(folder / "tem16.tif", data16, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
        cases.append((f"ImageJ TIFF uint16 {n}x{n}", folder / "tem16.tif", {}))
        tifffile.imwrite(folder / "lzw.tif", data16, compression="lzw")
        cases.append((f"LZW TIFF uint16 {n}x{n}", folder / "lzw.tif", {"scale_bar": False}))
        Image.fromarray(np.stack([gray8] * 3, axis=-1)).save(folder / "rgb.jpg", quality=95)
        cases.append((f"RGB JPEG (gray content) {n}x{n}, no scale bar", folder / "rgb.jpg", {"scale_bar": False}))
        write_scn(folder / "blot.scn", data16, exposure_s=1.0)
        cases.append((f"Bio-Rad .scn uint16 {n}x{n}", folder / "blot.scn", {}))
        real = [
            ("real EV JPEG 3072x3072 + scale bar", SHARED / "tem" / "hrml_ev_negative_stain.jpg", {"kind": "tem"}),
            (
                "real EV JPEG 3072x3072, no scale bar",
                SHARED / "tem" / "hrml_ev_negative_stain.jpg",
                {"scale_bar": False},
            ),
            ("real PLOS LZW RGB 4800x4800 blot", SHARED / "blots" / "plos_pone.0237759.s005_raw_blots.tif", {}),
            ("real Velox EMD 512x512", SHARED / "formats" / "ncempy" / "Camera Ceta Imaging Micro.emd", {}),
            ("real TIA SER 1024x1024", SHARED / "formats" / "ncempy" / "16_STOimage_1.ser", {}),
            (
                "real DM3 512x512",
                SHARED / "formats" / "rosettasciio" / "digitalmicrograph" / "2D" / "multi_signal.dm3",
                {},
            ),
        ]
        cases += [case for case in real if case[1].is_file()]
        print(f"{'case':48s} {'seconds':>8s} {'MPx/s':>8s}  calibration")
        rows = []
        for label, path, kwargs in cases:
            image = read_image(path, **kwargs)
            seconds = best_of(args.repeat, lambda path=path, kwargs=kwargs: read_image(path, **kwargs))
            mpx = image.data.size / 1e6 / seconds
            size = "-" if image.pixel_size_nm is None else f"{image.pixel_size_nm:.4g} nm"
            print(f"{label:48s} {seconds:8.3f} {mpx:8.1f}  {size} ({image.pixel_size_source})")
            rows.append(
                {
                    "case": label,
                    "best_s": seconds,
                    "megapixels_per_s": mpx,
                    "pixel_size_nm": image.pixel_size_nm,
                    "pixel_size_source": image.pixel_size_source,
                }
            )
    if args.json is not None:
        write_json(args.json, {"synthetic_side_px": n, "repeats_count": args.repeat, "cases": rows})


if __name__ == "__main__":
    main()
