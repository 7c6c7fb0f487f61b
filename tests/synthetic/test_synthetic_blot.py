"""The seeded blot generator, and the blot pipeline measured against its truth."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import (
    SATURATION_16BIT,
    StripSpec,
    make_dilution_series,
    make_marker_panel,
    make_random_blot,
    make_synthetic_blot,
)


def test_generator_is_seeded_and_returns_truth():
    a = make_marker_panel(rng=7)
    b = make_marker_panel(rng=7)
    c = make_marker_panel(rng=8)
    assert np.array_equal(a.image, b.image) and not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.uint16 and a.polarity == "bright" and a.max_value == SATURATION_16BIT
    t = a.truth
    assert list(t.columns[:3]) == ["label", "strip", "lane"]
    assert len(t) == 9 and set(t.marker) == {"CD9", "CD63", "calnexin"}
    cnx = t[t.marker == "calnexin"].sort_values("lane")
    assert cnx.present.tolist() == [True, False, False] and cnx.true_volume.iloc[1:].eq(0).all()
    assert a.lane_names == ["lysate", "exo1", "exo2"]


def test_true_volume_is_the_drawn_signal():
    spec = StripSpec("x", [1e6, 0.0], "sharp", band_sigma_px=3.0, height_px=120)
    quiet = dict(
        read_noise_counts=0.0,
        photons_per_count=1e6,
        n_dust=0,
        pen_mark=False,
        blotch_fraction=0.0,
        smile_px=0.0,
        tilt_deg=0.0,
        background_counts=800.0,
        dark_counts=800.0,
        margin_px=30,
        rng=0,
    )
    blot = make_synthetic_blot([spec], **quiet)
    total = blot.image.astype(float).sum() - 800.0 * blot.image.size
    assert total == pytest.approx(1e6, rel=2e-3)  # rounding to integer counts only


def test_8bit_inverted_export():
    blot = make_dilution_series(rng=1, export="inverted8")
    assert blot.image.dtype == np.uint8 and blot.polarity == "dark" and blot.max_value == 0
    assert blot.truth.saturated.any()  # the top of a 2-fold series from 4.2e7 clips
    r = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers="target")
    assert any("UNSUITABLE" in w for w in r.warnings)


def test_dilution_series_is_proportional_and_saturation_is_flagged():
    blot = make_dilution_series(rng=3)
    r = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers="target")
    b = r.bands.sort_values("lane")
    assert len(r.lanes) == 8
    t = blot.truth.sort_values("lane")
    assert b.saturated.tolist() == t.saturated.tolist()
    ok = ~b.saturated.to_numpy() & b.present.to_numpy()
    ratio = b.volume.to_numpy()[ok] / t.true_volume.to_numpy()[ok]
    assert ok.sum() >= 5
    assert np.max(np.abs(ratio / np.median(ratio) - 1)) < 0.10


@pytest.mark.parametrize("seed", [100, 101])
def test_marker_panel_ratios_and_calls(seed):
    blot = make_marker_panel(rng=seed)
    r = quantify_blot(
        blot.image,
        polarity=blot.polarity,
        max_value=blot.max_value,
        lane_names=blot.lane_names,
        markers=["CD9", "CD63", "calnexin"],
    )
    b = r.bands[r.bands.marker != ""]
    for marker in ("CD9", "CD63"):
        m = b[b.marker == marker].sort_values("lane").volume.to_numpy()
        t = blot.truth[blot.truth.marker == marker].sort_values("lane").true_volume.to_numpy()
        assert np.allclose((m[1:] / m[0]) / (t[1:] / t[0]), 1.0, atol=0.03)
    calls = b[b.marker == "calnexin"].sort_values("lane").present.tolist()
    assert calls == [True, False, False]


def test_random_blots_have_3_to_12_lanes_and_several_strips():
    lanes, strips = set(), set()
    for seed in range(4):
        blot = make_random_blot(rng=seed)
        lanes.add(int(blot.truth.lane.max()))
        strips.add(int(blot.truth.strip.max()))
        assert 3 <= blot.truth.lane.max() <= 12
    assert len(lanes) >= 2 and max(strips) >= 2


def test_bad_generator_arguments():
    with pytest.raises(ValueError, match="same lane count"):
        make_synthetic_blot([StripSpec("a", [1.0, 2.0]), StripSpec("b", [1.0])])
    with pytest.raises(ValueError, match="export"):
        make_synthetic_blot([StripSpec("a", [1.0])], export="jpeg")
