"""A band is loaded in its lane: a rise the gaps beside the lane share is the membrane's, not a band."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage as ndi

from exo_vision.blot.background import band_background, side_shares
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters
from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import make_marker_panel


def test_side_shares_by_hand():
    # a lane of 4 columns at level 10 with a bump of 6 over rows 10..13; the window is rows 10..14
    pixels = np.full((30, 4), 10.0)
    pixels[10:14] += 6.0
    line = band_background(pixels, 10, 14, method="profile", border_px=3)
    assert np.allclose(line, 10.0)  # the border rows are flat
    flat = np.full(30, 5.0)
    half = flat.copy()
    half[10:14] += 3.0
    same = flat.copy()
    same[10:14] += 6.0
    # the net signal is 4 rows x 6 = 24; a side that rises 3 per row shares 12 / 24, one that rises 6 all of it
    shares = side_shares(pixels, 10, 14, gap_profile=[flat, half], line=line, border_px=3)
    assert shares == pytest.approx([0.0, 0.5])
    assert side_shares(pixels, 10, 14, gap_profile=[same, same], line=line, border_px=3) == pytest.approx([1.0, 1.0])
    # no net signal: nothing to share
    assert side_shares(np.full((30, 4), 10.0), 10, 14, gap_profile=[same], line=line, border_px=3) == []


def _banded_panel(seed: int, amplitude: float):
    """A MISEV marker panel (16-bit raw) with horizontal 4-px banding across the whole membrane."""
    blot = make_marker_panel(rng=100 + seed, export="raw")
    img = blot.image.astype(np.float64)
    level = float(np.median(img[img > np.percentile(img, 20)]))
    row = ndi.gaussian_filter1d(np.random.default_rng(5000 + seed).standard_normal(img.shape[0]), 4)
    banding = np.tanh(row / row.std())[:, None] * np.ones((1, img.shape[1]))
    img = np.where(img > 0.5 * level, img + amplitude * level * banding, img)
    return blot, np.clip(np.rint(img), 0, blot.max_value).astype(blot.image.dtype)


def _calnexin_in_ev_lanes(bands):
    rows = bands[(bands.marker == "calnexin") & (bands.lane > 1)]
    assert len(rows) >= 2, "the calnexin window must be measured in every EV lane"
    return rows


def test_banding_across_the_membrane_is_not_called_calnexin_present():
    # seed 0 at 30 % banding called calnexin present in both EV lanes before the rule
    blot, img = _banded_panel(0, 0.3)
    markers = ["CD9", "CD63", "calnexin"]
    res = quantify_blot(img, polarity=blot.polarity, max_value=blot.max_value, markers=markers)
    assert not _calnexin_in_ev_lanes(res.bands).present.any()
    assert res.bands[(res.bands.marker == "calnexin") & (res.bands.lane == 1)].present.all()  # the lysate keeps it
    off = replace(DEFAULT_BLOT_PARAMETERS, max_side_share=0.0)
    res_off = quantify_blot(img, polarity=blot.polarity, max_value=blot.max_value, markers=markers, params=off)
    assert _calnexin_in_ev_lanes(res_off.bands).present.any()  # without the rule the banding reads as a band


def test_max_side_share_is_checked():
    with pytest.raises(ValueError, match="max_side_share must be a number >= 0"):
        BlotParameters(max_side_share=-0.5)
    with pytest.raises(ValueError, match="gel_max_side_share must be a number >= 0"):
        BlotParameters(gel_max_side_share=float("nan"))
    assert BlotParameters.from_dict({"max_side_share": 0}).max_side_share == 0


def test_bands_of_lanes_packed_edge_to_edge_are_kept():
    # lanes with no gap: each lane's side strips hold its neighbours' bands, but the membrane beyond the
    # outermost lanes stays flat, so every CD9 and CD63 band of the EV lanes is still present
    for seed in (200, 201, 202):
        blot = make_marker_panel(rng=seed, export="raw", lane_gap_px=0)
        res = quantify_blot(
            blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=["CD9", "CD63", "calnexin"]
        )
        ev = res.bands[(res.bands.lane > 1) & res.bands.marker.isin(["CD9", "CD63"])]
        assert len(ev) >= 4 and ev.present.all(), seed
