"""Sample data for File > Open Sample: the images shipped in ``sample_images/``."""

from __future__ import annotations

from pathlib import Path

from exo_vision.plugins._layers import image_layer_data

#: Where the shipped sample images live (the repository's ``sample_images/`` folder).
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_images"


def sample_path(pattern: str) -> Path:
    """First file in :data:`SAMPLE_DIR` matching ``pattern`` (sorted by name).

    Raises
    ------
    ValueError
        When no such file exists (e.g. an installed wheel without the repository).
    """
    matches = sorted(SAMPLE_DIR.glob(pattern)) if SAMPLE_DIR.is_dir() else []
    if not matches:
        raise ValueError(
            f"no sample image matching {pattern!r} in {SAMPLE_DIR}; the samples ship with the "
            "exo_vision repository: run napari from a source checkout (pip install -e .)."
        )
    return matches[0]


def _open(pattern: str, *, kind: str) -> list[tuple]:
    from exo_vision.io import read_image

    path = sample_path(pattern)
    return [image_layer_data(read_image(path, kind=kind))]


def _has(pattern: str) -> bool:
    return SAMPLE_DIR.is_dir() and any(SAMPLE_DIR.glob(pattern))


def tem_synthetic() -> list[tuple]:
    """Synthetic negative-stain micrograph with known vesicle sizes.

    The first ``sample_images/tem_*.tif`` when the repository ships one, else drawn
    by the seeded generator (1024 x 1024 px at 1 nm/px, so the same picture every time).
    """
    if _has("tem_*.tif"):
        return _open("tem_*.tif", kind="tem")
    from exo_vision.io.image_data import ImageData
    from exo_vision.synthetic.tem import make_synthetic_tem

    pixels, _ = make_synthetic_tem((1024, 1024), pixel_size_nm=1.0, difficulty="medium", rng=0)
    image = ImageData(
        data=pixels,
        pixel_size_nm=1.0,
        pixel_size_source="user (synthetic sample, 1 nm/px)",
        pixel_size_yx_nm=(1.0, 1.0),
        kind="tem",
    )
    return [image_layer_data(image, name="synthetic_tem")]


def tem_real() -> list[tuple]:
    """Real EV micrograph (HRML, MIT licence), calibrated from its 500 nm scale bar."""
    return _open("hrml_ev_negative_stain.jpg", kind="tem")


def blot_synthetic() -> list[tuple]:
    """Synthetic MISEV marker blot: CD9/CD63 in EV lanes, calnexin only in the lysate.

    The first ``sample_images/blot_*.tif`` when the repository ships one, else drawn by
    the seeded generator (raw 16-bit, lanes lysate / exo1 / exo2).
    """
    if _has("blot_*.tif"):
        return _open("blot_*.tif", kind="blot")
    from exo_vision.io.image_data import ImageData
    from exo_vision.synthetic.blot import make_marker_panel

    panel = make_marker_panel(rng=0)
    image = ImageData(data=panel.image, kind="blot", polarity=panel.polarity, max_value=panel.max_value)
    return [image_layer_data(image, name="synthetic_misev_blot")]
