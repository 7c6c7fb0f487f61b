"""The overlay of the shipped real EV micrograph, downscaled for the README.

Analyses ``sample_images/hrml_ev_negative_stain.jpg`` (calibrated from its
burnt-in scale bar) exactly as ``exo-vision tem`` does and writes the overlay
(outlines coloured by morphology, ids matching the table, scale bar) at
1100 px to ``docs/real_tem_overlay.png``::

    .venv/bin/python scripts/real_overlay.py

The micrograph is © 2020 Ruslan Dulimov, Dmitry Bagrov, Igor Nikishin, MIT
licence (``sample_images/LICENSE-hrml_ev_negative_stain.txt``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from exo_vision.figures.overlay import render_overlay
from exo_vision.io import read_image
from exo_vision.tem_analysis import analyse_micrograph

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "sample_images" / "hrml_ev_negative_stain.jpg"
TARGET = REPO / "docs" / "real_tem_overlay.png"
SIDE_PX = 1100


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    image = read_image(SOURCE, kind="tem")
    result = analyse_micrograph(image)
    rgb = render_overlay(image.data, result.labels, result.table, pixel_size_nm=image.pixel_size_nm)
    picture = Image.fromarray(np.ascontiguousarray(rgb))
    picture.thumbnail((SIDE_PX, SIDE_PX), Image.Resampling.LANCZOS)
    picture.save(TARGET, optimize=True)
    logging.info("%d vesicles; wrote %s", len(result.table), TARGET)


if __name__ == "__main__":
    main()
