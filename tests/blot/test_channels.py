"""Two-colour fluorescence blots: one target per channel, read one channel at a time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.io import read_image
from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot


@pytest.fixture
def two_colour(tmp_path):
    """A 16-bit RGB TIFF: a 4-lane CD9 blot in green (800 nm) and calnexin in lane 1 only in red (700 nm)."""
    green = make_synthetic_blot(
        [StripSpec("CD9", [1e6, 8e5, 6e5, 9e5], "sharp", height_px=200)], rng=2, n_dust=0, spacing_jitter=0.0
    )
    red = make_synthetic_blot(
        [StripSpec("calnexin", [1.2e6, 0.0, 0.0, 0.0], "sharp", height_px=200)], rng=3, n_dust=0, spacing_jitter=0.0
    )
    assert green.image.shape == red.image.shape
    blue = np.full_like(green.image, int(np.median(green.image)))
    path = tmp_path / "odyssey.tif"
    tifffile.imwrite(path, np.stack([red.image, green.image, blue], axis=-1), photometric="rgb")
    return path, red, green


def test_one_channel_is_read_as_it_is(two_colour):
    path, red, green = two_colour
    for name, blot in (("red", red), ("green", green)):
        image = read_image(path, kind="blot", channel=name)
        np.testing.assert_array_equal(image.data, blot.image)
        assert any(f"the {name} channel" in w for w in image.warnings)
    mixed = read_image(path, kind="blot")
    assert any("--channel red|green|blue" in w for w in mixed.warnings)
    with pytest.raises(ValueError, match="`channel` must be one of red, green, blue"):
        read_image(path, kind="blot", channel="700")


def test_blot_channel_quantifies_one_target_per_run(two_colour, tmp_path):
    path, red, green = two_colour
    counts = {}
    for name in ("green", "red"):
        out = tmp_path / name
        assert main(["blot", str(path), "--out", str(out), "--channel", name]) == 0
        bands = pd.read_csv(out / "odyssey_bands.csv")
        counts[name] = len(bands)
        assert json.loads((out / "run.json").read_text())["parameters"]["channel"] == name
    assert counts == {"green": 4, "red": 1}  # the red target lies in lane 1 only
