"""Sample data for File > Open Sample > exo_vision: the images shipped in ``sample_images/``
(see its README for what each holds and its truth), plus two drawn on the fly by the seeded
generators, which work even without the repository's folder."""

from __future__ import annotations

import sys
from pathlib import Path

from exo_vision.io import read_image
from exo_vision.io.image_data import ImageData
from exo_vision.plugins._layers import image_layer_data
from exo_vision.synthetic.blot import make_marker_panel
from exo_vision.synthetic.tem import make_synthetic_tem

#: Where the shipped sample images live: the repository's ``sample_images/`` folder (a source checkout), or
#: where a wheel installs them (``<prefix>/share/exo_vision/sample_images``).
SAMPLE_DIRS = (
    Path(__file__).resolve().parents[2] / "sample_images",
    Path(sys.prefix) / "share" / "exo_vision" / "sample_images",
)


def sample_path(name: str) -> Path:
    """Path of a shipped sample image.

    Raises
    ------
    ValueError
        When the file is in none of :data:`SAMPLE_DIRS` (an installation that left them out).
    """
    for folder in SAMPLE_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise ValueError(
        f"sample image {name} is in none of {', '.join(map(str, SAMPLE_DIRS))}; reinstall exo_vision "
        "(the repository and its wheel ship the samples), or use the 'generated' samples."
    )


def _open(name: str, *, kind: str) -> list[tuple]:
    return [image_layer_data(read_image(sample_path(name), kind=kind))]


def tem_real() -> list[tuple]:
    """Real EV micrograph (HRML, MIT licence), calibrated from its 500 nm scale bar (0.624 nm/px)."""
    return _open("hrml_ev_negative_stain.jpg", kind="tem")


def tem_medium() -> list[tuple]:
    """Synthetic micrograph, medium difficulty: 6 EVs, 0.8 nm/px from ImageJ tags."""
    return _open("tem_medium_0.8nm.tif", kind="tem")


def tem_hard() -> list[tuple]:
    """Synthetic micrograph, hard: touching EVs, low contrast, debris; 0.8 nm/px."""
    return _open("tem_hard_0.8nm.tif", kind="tem")


def tem_dark() -> list[tuple]:
    """Synthetic micrograph with reversed polarity (vesicles darker than the stain); 1.2 nm/px."""
    return _open("tem_dark_1.2nm.tif", kind="tem")


def blot_panel() -> list[tuple]:
    """MISEV panel blot, 16-bit raw: CD9 / CD63 / calnexin strips over lysate, exo1, exo2."""
    return _open("blot_panel.tif", kind="blot")


def blot_panel_export8() -> list[tuple]:
    """The same panel as an 8-bit inverted export (flagged unsuitable for quantification)."""
    return _open("blot_panel_export8.tif", kind="blot")


def blot_dilution() -> list[tuple]:
    """2-fold dilution series of one band over 8 lanes; the two strongest lanes are saturated."""
    return _open("blot_dilution.tif", kind="blot")


def tem_generated() -> list[tuple]:
    """Synthetic micrograph drawn now by the seeded generator (1024 x 1024 px at 1 nm/px)."""

    pixels, _ = make_synthetic_tem((1024, 1024), pixel_size_nm=1.0, difficulty="medium", rng=0)
    image = ImageData(
        data=pixels,
        pixel_size_nm=1.0,
        pixel_size_source="user (generated sample, 1 nm/px)",
        pixel_size_yx_nm=(1.0, 1.0),
        kind="tem",
    )
    return [image_layer_data(image, name="generated_tem")]


def blot_generated() -> list[tuple]:
    """Synthetic MISEV blot drawn now by the seeded generator (raw 16-bit, lysate / exo1 / exo2)."""

    panel = make_marker_panel(rng=0)
    image = ImageData(data=panel.image, kind="blot", polarity=panel.polarity, max_value=panel.max_value)
    return [image_layer_data(image, name="generated_misev_blot")]
