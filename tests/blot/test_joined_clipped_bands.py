"""Over-exposed bands joined along their row and sitting in a glow keep to their own band and lane.

Issue 14 on the ChemiDoc Orb2/alpha-tubulin export: clipped bands joined by a clipped bridge, in a glow that fades
over a hundred rows. Each window ran from valley to valley through the glow (boxes about 300 rows tall for 55-row
bands), and each band's extent ran along the joined run to the neighbouring lane's centre (boxes 1.7 times the
analysts' width, lying across two lanes).
"""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.bands import detect_bands
from exo_vision.blot.lanes import lanes_from_ranges
from exo_vision.blot.parameters import BlotParameters
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.strips import whole_image_strip

#: The generated strip's clipping level (16-bit).
CLIP = 65535.0


def _clipped_band_profile(rows: int = 400, *, glow: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """A lane profile: a band clipped flat over rows 180-220 with soft edges (SD 3 rows), in a glow of ``glow`` of the
    clipped level fading with a 40-row decay length, on a flat membrane; and the rows that clip."""
    y = np.arange(rows, dtype=float)
    edge = 3.0
    band = 3.0 * CLIP * np.exp(-0.5 * (np.maximum(0.0, np.maximum(180 - y, y - 220)) / edge) ** 2)
    halo = glow * CLIP * np.exp(-np.maximum(0.0, np.maximum(180 - y, y - 220)) / 40.0)
    profile = np.minimum(1000.0 + band + halo, CLIP)
    return profile, profile >= CLIP


def test_a_clipped_bands_window_ends_at_its_knees_not_down_the_glow():
    profile, clipped = _clipped_band_profile()
    rng = np.random.default_rng(0)
    noisy = profile + rng.normal(0.0, 30.0, profile.size)
    kw = dict(saturated_rows=clipped, background_window_px=300)
    (band,) = detect_bands(noisy, trim_glow=True, **kw)
    # the clipped run and its soft edges (3 SDs: 9 rows) lie inside; the glow's hundred rows do not
    assert 165 <= band.y_top_px <= 172 and 228 <= band.y_bottom_px <= 236
    (untrimmed,) = detect_bands(noisy, **kw)
    assert untrimmed.y_bottom_px - untrimmed.y_top_px > 100


def test_a_gaussian_band_on_a_clipped_row_keeps_its_tails():
    """The knee rule reads the flank's shape: a Gaussian band falls ever faster, and keeps its rows to its foot."""
    y = np.arange(300, dtype=float)
    profile = 1000.0 + 40000.0 * np.exp(-0.5 * ((y - 150) / 6.0) ** 2)
    rng = np.random.default_rng(1)
    noisy = profile + rng.normal(0.0, 20.0, y.size)
    clipped = np.abs(y - 150) <= 1
    (trimmed,) = detect_bands(noisy, saturated_rows=clipped, trim_glow=True)
    (plain,) = detect_bands(noisy, saturated_rows=clipped)
    # 3.5 SDs each side at least: 99.95 % of the band
    assert trimmed.y_top_px <= 150 - 3.5 * 6 and trimmed.y_bottom_px >= 150 + 3.5 * 6
    assert plain.y_bottom_px - plain.y_top_px - (trimmed.y_bottom_px - trimmed.y_top_px) <= 0.25 * (
        plain.y_bottom_px - plain.y_top_px
    )


def _joined_strip() -> tuple[np.ndarray, list]:
    """Three 60-px lanes 100 px apart; a clipped band 50 px wide in each, joined to the next by a clipped bridge 24 px
    tall, all in a glow (16-bit)."""
    rng = np.random.default_rng(2)
    shape = (400, 320)
    y = np.arange(shape[0], dtype=float)[:, None]
    x = np.arange(shape[1], dtype=float)[None, :]
    centres = (60, 160, 260)
    run = (x >= 35) & (x < 285)  # the joined run, bands and bridges
    in_band = np.zeros(shape[1], bool)
    for c in centres:
        in_band[c - 25 : c + 25] = True
    half = np.where(in_band[None, :], 20.0, 12.0)  # band rows 180-220, bridge rows 188-212
    beyond = np.maximum(0.0, np.abs(y - 200) - half)
    signal = 3.0 * CLIP * np.exp(-0.5 * (beyond / 3.0) ** 2) * run
    glow = (
        0.12
        * CLIP
        * np.exp(-np.maximum(0.0, np.abs(y - 200) - 20.0) / 40.0)
        * np.exp(-np.maximum(0.0, np.maximum(35 - x, x - 285)) / 15.0)
    )
    img = np.minimum(1000.0 + signal + glow + rng.normal(0, 30.0, shape), CLIP)
    lanes = lanes_from_ranges([(c - 30, c + 30) for c in centres], whole_image_strip(shape))
    return img.astype(np.uint16), lanes


def test_joined_clipped_bands_keep_to_their_lanes_and_rows():
    img, lanes = _joined_strip()
    params = BlotParameters(remove_dust_specks=False)
    b = quantify_blot(img, polarity="bright", max_value=CLIP, lanes=lanes, params=params).bands
    b = b[b.present].sort_values("lane")
    assert len(b) == 3 and b.saturated.all()
    # each box lies in its lane (60 px) and over the band's rows (180-220 and soft edges), not down the glow
    for row, lane in zip(b.itertuples(), lanes, strict=True):
        centre = lane.x_centre_px
        assert centre - 31 <= row.x_left_px and row.x_right_px <= centre + 31, (row.lane, row.x_left_px, row.x_right_px)
        assert 165 <= row.y_top_px and row.y_bottom_px <= 236, (row.lane, row.y_top_px, row.y_bottom_px)
    # the middle band's box is its lane, as the end bands' inner sides
    assert b.x_right_px.iloc[1] - b.x_left_px.iloc[1] == pytest.approx(60, abs=2)


def test_a_glow_with_no_edge_of_its_own_is_no_reliable_extent():
    """A broad glow in an outer lane (the real g006 BiP crop's ladder lane, at the membrane's foot) never falls to a
    quarter of its height before the neighbouring lane's centre, nor before the strip's edge: its extent ran across
    two lanes and off the membrane. It shows no edge of its own, so it is not reliable, and the band takes its row's
    extent (:func:`~exo_vision.blot.band_extent.widened`); a band of the same width with edges is."""
    from exo_vision.blot.band_extent import band_extent

    rng = np.random.default_rng(4)
    shape = (200, 300)
    y = np.arange(shape[0], dtype=float)[:, None]
    x = np.arange(shape[1], dtype=float)[None, :]
    rows = np.exp(-0.5 * ((y - 100) / 6.0) ** 2)
    lanes = lanes_from_ranges([(35, 85), (145, 195)], whole_image_strip(shape))
    kw = dict(n_central=33, border_px=3, x_range_px=(0, shape[1]))

    def extent(across):
        img = 1000.0 + rng.normal(0, 10.0, shape) + 3000.0 * rows * across
        return band_extent(img, lanes[0], lanes, (80, 121), (80, 121), **kw)

    glow = extent(np.exp(-0.5 * ((x - 60) / 150.0) ** 2))
    assert not glow.reliable
    band = extent(np.exp(-0.5 * ((x - 60) / 20.0) ** 2))
    assert band.reliable and band.left > 0 and band.right > 0
