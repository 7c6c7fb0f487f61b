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


def tem_synthetic() -> list[tuple]:
    """Synthetic negative-stain micrograph with known vesicle sizes (``sample_images/tem_*.tif``)."""
    return _open("tem_*.tif", kind="tem")


def tem_real() -> list[tuple]:
    """Real EV micrograph (HRML, MIT licence), calibrated from its 500 nm scale bar."""
    return _open("hrml_ev_negative_stain.jpg", kind="tem")


def blot_synthetic() -> list[tuple]:
    """Synthetic MISEV marker blot: CD9/CD63 in EV lanes, calnexin in lysate (``sample_images/blot_*.tif``)."""
    return _open("blot_*.tif", kind="blot")
