"""Set-ups shared by several test files (import as ``from tests._helpers import ...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tifffile

from exo_vision.session.curation import CuratedResult
from exo_vision.synthetic.tem import make_synthetic_tem


def curated_as_analysed(image: Any, result: Any, **changes: Any) -> CuratedResult:
    """A micrograph's analysis ``result`` as a :class:`CuratedResult` of ``image``: as the analysis gave it (no edit),
    with the fields named in ``changes`` (curated labels and table, an edit log, morphology overrides, the rejected
    candidates) replaced."""
    fields: dict[str, Any] = dict(
        image=image,
        labels=result.labels,
        table=result.table,
        polarity=result.polarity,
        analysed_area_nm2=result.analysed_area_nm2,
        parameters=result.parameters,
        segmenter=result.segmenter,
    )
    fields.update(changes)
    return CuratedResult(**fields)


def calibrated_grid(tmp_path: Path, n: int, *, first_seed: int, pixel_size_nm: float = 2.0) -> tuple[Path, Path]:
    """A grid folder of ``n`` generated micrographs g0.tif, g1.tif, ... (384 x 384 px, six vesicles, seeds
    ``first_seed``, ``first_seed + 1``, ...; ImageJ nm calibration of ``pixel_size_nm``) under ``tmp_path``, and an
    output folder path beside it."""
    grid = tmp_path / "grid"
    grid.mkdir()
    for i in range(n):
        image, _ = make_synthetic_tem(
            (384, 384),
            pixel_size_nm=pixel_size_nm,
            difficulty="easy",
            n_vesicles=6,
            scale_bar=False,
            rng=first_seed + i,
        )
        resolution = (1 / pixel_size_nm, 1 / pixel_size_nm)
        tifffile.imwrite(grid / f"g{i}.tif", image, imagej=True, resolution=resolution, metadata={"unit": "nm"})
    return grid, tmp_path / "out"
