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


def micrograph_with_vertical_line(
    feature: str, *, seed: int, size: int = 512, scale_bar: bool = False, unlabelled_bar: bool = False
) -> tuple[Any, Any]:
    """A generated micrograph (1.6 nm/px, "medium") with one straight vertical feature drawn in, no scale bar.

    ``feature``: "streak" (a dark stain streak 8 px wide, 40 % of the height), "filament" (a bright line 4 px wide,
    half the height), "ruler" (a column of dark ticks beside a thin dark line) or "none". ``unlabelled_bar``: the
    generator's bar is kept but its label is painted over with the background above it. Returns the float image
    and the generator's truth.
    """
    import numpy as np

    image, truth = make_synthetic_tem(
        (size, size), pixel_size_nm=1.6, scale_bar=scale_bar or unlabelled_bar, rng=seed, difficulty="medium"
    )
    image = image.astype(np.float64)
    out = image.copy()
    if unlabelled_bar:
        r0, c0, r1, c1 = truth.scale_bar["label_box"]
        height = r1 - r0 + 4
        out[r0 - 2 : r1 + 2, c0 - 2 : c1 + 2] = image[r0 - 2 - height - 8 : r1 + 2 - height - 8, c0 - 2 : c1 + 2]
    top = size // 5
    if feature == "streak":
        out[top : top + int(0.4 * size), int(0.68 * size) : int(0.68 * size) + 8] = image.min()
    elif feature == "filament":
        out[top // 2 : top // 2 + size // 2, size * 3 // 10 : size * 3 // 10 + 4] = image.max()
    elif feature == "ruler":
        for k in range(8):
            out[top + 25 * k : top + 25 * k + 20, size - 32 : size - 20] = image.min()
        out[top : top + 200, size - 17 : size - 14] = image.min()
    elif feature != "none":
        raise ValueError(f"`feature` must be 'streak', 'filament', 'ruler' or 'none', got {feature!r}")
    return out, truth
