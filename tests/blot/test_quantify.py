"""quantify_blot: requested positions and present/absent calls.

Exact volumes on hand-built strips are in test_quantify_exact.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.lanes import lanes_from_ranges
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.strips import Strip
from exo_vision.synthetic.blot import make_random_blot


def test_requested_faint_smear_beside_a_lobed_row_is_present():
    """Bug: a faint smear in a lane without a peak of its own was called absent although its volume cleared the LoD.

    The strip's smear splits into two touching band rows (its two lobes); the requested (upper) row's
    side-corrected volume read its lower baseline on the lower lobe. The baseline is read outside the
    run of touching bands, as the band's own background is (generated random blot, seed 206, strip 3).
    """
    blot = make_random_blot(rng=206, export="raw")
    markers = blot.truth.groupby("strip").marker.first().tolist()
    res = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=markers)
    truth = blot.truth[(blot.truth.strip == 3) & (blot.truth.lane == 7)].iloc[0]
    assert truth.present and truth.kind == "smear"
    b = res.bands[(res.bands.strip == 3) & (res.bands.lane == 7) & res.bands.requested].iloc[0]
    assert not b.detected  # no peak of its own: the call rests on the volume
    assert b.volume > b.lod_volume
    assert b.present


def test_band_row_is_its_peak_not_the_centre_of_a_smear_above_it():
    """A band whose window also takes in the smear above it reports its peak's row, not the window's mass centre.

    Hand-built strip of three lanes on a flat background: a sharp band at row 150 with a weaker bump of
    smear at row 135 that the valley between them merges into the band's window. The window's centre of
    mass lies between the two; the band is at 150.
    """
    rows = np.arange(300, dtype=np.float64)[:, None]
    band = 100 * np.exp(-0.5 * ((rows - 150) / 3.0) ** 2)
    smear = 60 * np.exp(-0.5 * ((rows - 135) / 10.0) ** 2)
    image = np.full((300, 120), 1000.0) + np.random.default_rng(3).normal(0, 1.0, (300, 120))
    image[:, 5:35] += band + smear
    image[:, 45:75] += band
    image = np.clip(image, 0, 65535).astype(np.uint16)
    strip = Strip(index=1, y_top_px=0, y_bottom_px=300, x_left_px=0, x_right_px=120)
    lanes = lanes_from_ranges([(5, 35), (45, 75), (85, 115)], strip)
    res = quantify_blot(image, polarity="bright", lanes=lanes, max_value=65535)
    b = res.bands[(res.bands.lane == 1) & res.bands.present]
    assert len(b) == 1
    b = b.iloc[0]
    assert b.y_top_px < 135  # the smear is inside the band's window ...
    assert abs(b.y_px - 150) <= 1.0  # ... and the band's row is its peak's


def test_pixels_without_a_value_are_refused_with_the_fix():
    """A float blot with NaN pixels is refused by name, not quantified as "no lanes found"."""
    blot = make_random_blot(rng=206, export="raw")
    image = blot.image.astype(np.float32)
    image[:, :40] = np.nan
    image[0, 100] = np.inf
    with pytest.raises(ValueError, match=rf"{40 * image.shape[0] + 1} pixels of the blot hold no value.*crop"):
        quantify_blot(image, polarity=blot.polarity, max_value=blot.max_value)
