"""Annotation outlines beside the image they are read onto, as truth for fine-tuning: those clipped at the edge
or left out are counted in a warning, and a file whose outlines mostly miss the image is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from exo_vision.learn.curated import collect_curated

PIXEL_SIZE_NM = 3.0
SIDE = 100  # the micrographs are SIDE x SIDE px


def _square(x0: float, y0: float, side: float = 20) -> list[list[float]]:
    return [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]]


def _pair(folder: Path, corners: dict[str, tuple[float, float]], *, rois: bool = False) -> None:
    """A micrograph img.tif and its outlines (20 px squares with these top-left corners) as GeoJSON or ImageJ ROIs."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(folder / "img.tif", rng.integers(0, 255, (SIDE, SIDE), dtype=np.uint8))
    if rois:
        import roifile

        made = []
        for name, corner in corners.items():
            roi = roifile.ImagejRoi.frompoints(np.asarray(_square(*corner), np.float32))
            roi.name = name
            made.append(roi)
        roifile.roiwrite(folder / "img_rois.zip", made)
        return
    features = [
        {"type": "Feature", "properties": {"name": name}, "geometry": {"type": "Polygon", "coordinates": [_square(*c)]}}
        for name, c in corners.items()
    ]
    (folder / "img.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))


@pytest.mark.parametrize("rois", [False, True])
def test_outlines_clipped_or_left_out_are_counted_in_a_warning(tmp_path, rois):
    # a inside, b half over the right edge, c wholly beside the image, d inside
    _pair(tmp_path / "pairs", {"a": (10, 10), "b": (90, 40), "c": (150, 150), "d": (50, 60)}, rois=rois)
    said: list[str] = []
    (found,) = collect_curated([tmp_path / "pairs"], pixel_size_nm=PIXEL_SIZE_NM, warn=said.append)
    assert found.n_vesicles == 3  # b clipped to the image, c left out
    (warning,) = [w for w in said if "outlines" in w]
    assert f"of its 4 outlines on the {SIDE}x{SIDE} px image img.tif" in warning
    assert "1 cross the image's edge and were clipped to it (outline named b)" in warning
    assert "1 lie wholly off the image and were left out (outline named c)" in warning


@pytest.mark.parametrize("rois", [False, True])
def test_outlines_mostly_off_the_image_are_refused(tmp_path, rois):
    # as if drawn on a copy at another pixel size: b and c beside the image, d mostly beside it (12 of 20 px)
    _pair(tmp_path / "pairs", {"a": (20, 20), "b": (140, 40), "c": (90, 170), "d": (92, 30)}, rois=rois)
    with pytest.raises(ValueError) as caught:
        collect_curated([tmp_path / "pairs"], pixel_size_nm=PIXEL_SIZE_NM, warn=lambda _: None)
    message = str(caught.value)
    assert (
        f"3 of its 4 outlines lie mostly or wholly off the {SIDE}x{SIDE} px image img.tif (outlines named b, c, d)"
        in message
    )
    assert "another pixel size" in message


def test_outlines_inside_the_image_give_no_warning(tmp_path):
    _pair(tmp_path / "pairs", {"a": (0, 0), "b": (80, 80)})
    said: list[str] = []
    (found,) = collect_curated([tmp_path / "pairs"], pixel_size_nm=PIXEL_SIZE_NM, warn=said.append)
    assert found.n_vesicles == 2 and said == []
