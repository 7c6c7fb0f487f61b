"""The band tables of a fixed set of blots are pinned, so a refactor that changes a result fails here.

The set: seeded generated blots (dilution series, marker panel, random blot and two-membrane frame; raw
16-bit and 8-bit inverted exports; each strip's band row requested as its marker) and the generated blots
shipped in ``sample_images/``. The pinned tables are in ``tests/blot/pinned/``. A deliberate change of
behaviour re-writes them with ``python tests/blot/test_pinned_band_tables.py`` and says why in its commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.io.read import read_image
from exo_vision.synthetic.blot import make_dilution_series, make_marker_panel, make_random_blot, make_two_membrane_frame

PINNED = Path(__file__).resolve().parent / "pinned"
SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"
#: Columns compared exactly (integers, booleans, names); the rest (floats) to a relative 1e-6.
EXACT = (
    "strip",
    "lane",
    "band",
    "marker",
    "x_left_px",
    "x_right_px",
    "y_top_px",
    "y_bottom_px",
    "height_px",
    "present",
    "detected",
    "requested",
    "saturated",
    "saturated_px",
)

GENERATORS = {
    "dilution": make_dilution_series,
    "panel": make_marker_panel,
    "random": make_random_blot,
    "frame": make_two_membrane_frame,
}
SYNTHETIC = [(kind, export, seed) for kind in GENERATORS for export in ("raw", "inverted8") for seed in (0, 1)]
SAMPLE_FILES = ["blot_dilution.tif", "blot_panel.tif", "blot_panel_export8.tif"]


def _strip_markers(blot) -> list[str]:
    return blot.truth.groupby("strip").marker.first().tolist()


def synthetic_table(kind: str, export: str, seed: int) -> pd.DataFrame:
    """Band table of one seeded generated blot, each strip's band row requested as its marker."""
    blot = GENERATORS[kind](rng=seed, export=export)
    res = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=_strip_markers(blot))
    return res.bands


def sample_table(name: str) -> pd.DataFrame:
    """Band table of one generated blot shipped in sample_images/ (lanes and bands found automatically)."""
    img = read_image(SAMPLES / name, kind="blot")
    return quantify_blot(img.data, polarity=img.polarity, max_value=img.max_value).bands


def _cases() -> dict[str, callable]:
    cases = {f"{k}_{e}_{s}": (lambda k=k, e=e, s=s: synthetic_table(k, e, s)) for k, e, s in SYNTHETIC}
    cases.update({Path(n).stem: (lambda n=n: sample_table(n)) for n in SAMPLE_FILES})
    return cases


CASES = _cases()


def _as_text(column: pd.Series) -> list[str]:
    """A column of marker names as text, missing ones as "" (an all-empty column reads back as float NaN)."""
    return ["" if pd.isna(v) else str(v) for v in column]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_band_table_is_unchanged(name):
    pinned = pd.read_csv(PINNED / f"{name}.csv", keep_default_na=False, na_values=[""])
    table = CASES[name]().reset_index(drop=True)
    assert len(table) == len(pinned), f"{name}: {len(table)} bands, pinned {len(pinned)}"
    for col in EXACT:
        got = _as_text(table[col]) if col == "marker" else table[col].to_numpy()
        want = _as_text(pinned[col]) if col == "marker" else pinned[col].to_numpy()
        assert list(got) == list(want), f"{name}: column {col} changed"
    floats = [c for c in table.columns if table[c].dtype == np.float64]
    for col in floats:
        np.testing.assert_allclose(
            table[col].to_numpy(),
            pinned[col].to_numpy(dtype=float),
            rtol=1e-6,
            atol=1e-9,
            equal_nan=True,
            err_msg=f"{name}: column {col} changed",
        )


def write_pinned() -> None:
    """Re-write every pinned table (after a deliberate change of behaviour)."""
    PINNED.mkdir(exist_ok=True)
    for name, make in CASES.items():
        make().to_csv(PINNED / f"{name}.csv", index=False, float_format="%.12g")
        print(f"wrote {name}.csv")


if __name__ == "__main__":
    sys.exit(write_pinned())
