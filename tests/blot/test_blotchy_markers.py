"""Marker calls on seeded blotchy two-membrane MISEV frames: no false present on clean preps, contamination found.

The frames are the synthetic generator's own blotch range (fraction 0.15-0.3, scale 25-60 px) with a CD9 (or CD63)
membrane above a calnexin membrane and lanes lysate, exo1..exo4, blank, exo5, exo6, PBS, empty.
"""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import MISEV_FRAME_LANES, StripSpec, make_misev_frame, make_synthetic_blot

NAMES = list(MISEV_FRAME_LANES)


def _clean_prep(seed: int):
    """A CD9 membrane over a calnexin membrane whose only calnexin band is the lysate's (a clean EV prep)."""
    return make_misev_frame("CD9", rng=seed)


def _calls(blot, markers):
    res = quantify_blot(blot.image, n_lanes=10, lane_names=NAMES, markers=markers)
    t = res.bands
    return t[t["requested"].astype(bool)], res


def test_lysate_only_calnexin_row_is_the_lysate_band_not_a_blotch_row():
    """Seed 710: a blotch row turns up as low, tall "peaks" in five empty lanes; their volumes outweigh the
    lysate's sharp calnexin band, but the marker row is the band's (its peak stands far higher)."""
    blot = _clean_prep(710)
    req, _ = _calls(blot, ["CD9", "calnexin"])
    cnx = req[req["marker"] == "calnexin"].set_index("lane")
    truth = blot.truth[(blot.truth["marker"] == "calnexin") & (blot.truth["lane"] == 1)].iloc[0]
    lysate = cnx.loc[1]
    assert lysate["y_top_px"] <= truth["y_px"] < lysate["y_bottom_px"]
    assert bool(lysate["present"]) and bool(lysate["detected"])
    # a sigma 2.5-4 px band is measured in a window of its own extent, not a blotch's 80-130 rows
    assert lysate["height_px"] < 60
    assert not cnx.loc[2:, "present"].astype(bool).any()


def _cd63_over_calnexin(seed: int):
    """A CD63 smear membrane over a calnexin membrane whose only calnexin band is the lysate's."""
    return make_misev_frame("CD63", rng=seed)


def test_blotch_ramp_in_an_empty_calnexin_window_is_no_band():
    """Seed 600: exo6's calnexin window (no peak of its own) sits on a blotch's rising edge and reads 7.6
    MAD-SDs of the blank boxes; on this blotchy membrane it is called absent (no band-shaped rise, and the LoD
    takes the blank boxes' heavy tails), the lysate's band stays present."""
    blot = _cd63_over_calnexin(600)
    req, _ = _calls(blot, ["CD63", "calnexin"])
    cnx = req[req["marker"] == "calnexin"].set_index("lane")
    assert bool(cnx.loc[1, "present"])
    assert not cnx.loc[2:, "present"].astype(bool).any()


def _contaminated(seed: int):
    """A CD9 membrane over a calnexin membrane with 6 % of the lysate's calnexin in exo1 (beside it) and exo3."""
    g = np.random.default_rng(seed)
    cd9 = [1e6, 2.0e6, 2.5e6, 3.0e6, 1.5e6, 0, 2.2e6, 2.8e6, 0, 0]
    common = dict(
        lane_width_px=float(g.uniform(40, 52)),
        lane_gap_px=float(g.uniform(8, 20)),
        margin_px=90,
        strip_gap_px=40,
        smile_px=5,
        tilt_deg=0.5,
        band_tilt_px=float(g.uniform(-15, 15)),
        blotch_fraction=0.15,
        blotch_scale_px=50,
        gradient_fraction=0.3,
        ladder_marks=True,
        lane_names=NAMES,
    )
    cnx = [4e6, 2.4e5, 0, 2.4e5, 0, 0, 0, 0, 0, 0]
    specs = [
        StripSpec("CD9", cd9, "sharp", height_px=220),
        StripSpec("calnexin", cnx, "sharp", band_sigma_px=3.5, height_px=220),
    ]
    return make_synthetic_blot(specs, rng=g, **common)


@pytest.mark.parametrize("seed", [300, 303])
def test_six_percent_calnexin_contamination_is_still_found(seed):
    blot = _contaminated(seed)
    req, _ = _calls(blot, ["CD9", "calnexin"])
    cnx = req[req["marker"] == "calnexin"].set_index("lane")["present"].astype(bool)
    assert cnx.loc[1] and cnx.loc[2] and cnx.loc[4]
    assert not cnx.loc[[3, 5, 6, 7, 8, 9, 10]].any()


def test_band_shape_of_a_window_profile():
    """A Gaussian band inside the window is band-shaped; a ramp to the window's edge and a flat hump are not."""
    from exo_vision.blot.strip_measure import _band_shaped

    rows = np.arange(40, dtype=float)
    assert _band_shaped(100 * np.exp(-0.5 * ((rows - 20) / 3) ** 2))
    assert not _band_shaped(np.linspace(0, 100, 40))
    assert not _band_shaped(100 - 0.05 * (rows - 20) ** 2)


def _smear_panel(seed: int, blotch_fraction: float):
    """CD63 smears (80 rows) in six EV lanes and the lysate; nothing in blank, PBS and empty."""
    cd63 = [4e6, 8e6, 1.0e7, 6e6, 9e6, 0, 7e6, 1.2e7, 0, 0]
    common = dict(
        lane_width_px=44,
        lane_gap_px=18,
        margin_px=90,
        strip_gap_px=40,
        smile_px=5,
        tilt_deg=0.5,
        band_tilt_px=10,
        blotch_fraction=blotch_fraction,
        blotch_scale_px=40,
        gradient_fraction=0.3,
        ladder_marks=True,
        lane_names=NAMES,
    )
    specs = [
        StripSpec("CD63", cd63, "smear", smear_height_px=80, height_px=260),
        StripSpec("calnexin", [2e6] + [0.0] * 9, "sharp", height_px=220),
    ]
    return make_synthetic_blot(specs, rng=seed, **common)


@pytest.mark.parametrize("seed", [403, 404])
def test_every_loaded_cd63_lane_of_a_blotchy_membrane_stays_present(seed):
    """A 140-row smear window on a blotchy membrane: the LoD of windows without a peak of their own takes the
    blank boxes' tails and the empty lanes' band rows, but every loaded lane (a peak of its own) is judged against
    the boxes' central spread and stays present. (The empty control lanes' blotches, peaks of their own, can still
    read present here: a known limitation the README names.)"""
    blot = _smear_panel(seed, 0.2)
    req, _ = _calls(blot, ["CD63", "calnexin"])
    cd63 = req[req["marker"] == "CD63"].set_index("lane")["present"].astype(bool)
    assert cd63.loc[[1, 2, 3, 4, 5, 7, 8]].all()


def test_a_blotch_does_not_stretch_one_lanes_cd63_smear_window():
    """blot51 F2 (seed 8, blotches 0.2 of 40 px): the same 80-row CD63 smear in every lane, but a blotch's flank above
    the lysate's smear carried its window's top 30 rows past the EV lanes' (130 rows against about 100); the straight
    background under it lay under the blotch, the lysate read 19 % high and every EV/lysate ratio 13-19 % low. A
    smear row's window now reaches at most 1.15 times the row's median reach from its centre. The ratios stay off by
    up to 0.119 on the lanes' central columns and 0.138 over each band's extent (``measure_band_extent``): the blotch
    that raises the lysate's central columns 10 % lies under its flanks too (+1.6 % more)."""
    cd63 = [4e6, 8e6, 1.0e7, 6e6, 9e6, 0, 7e6, 1.2e7, 0, 0]
    blot = make_synthetic_blot(
        [
            StripSpec("CD63", cd63, "smear", smear_height_px=80, height_px=260),
            StripSpec("calnexin", [2e6] + [0.0] * 9, "sharp", band_sigma_px=3.0, height_px=220),
        ],
        rng=8,
        lane_width_px=44,
        lane_gap_px=18,
        margin_px=90,
        strip_gap_px=40,
        smile_px=5,
        tilt_deg=0.5,
        band_tilt_px=10,
        blotch_fraction=0.2,
        blotch_scale_px=40,
        gradient_fraction=0.3,
        ladder_marks=True,
        lane_names=NAMES,
    )
    res = quantify_blot(blot.image, lane_names=NAMES, markers=["CD63", "calnexin"])
    b = res.bands[(res.bands.strip == 1) & res.bands.present].set_index("lane")
    ev = [2, 3, 4, 5, 7, 8]
    heights = b.y_bottom_px - b.y_top_px
    assert heights.loc[1] <= 1.15 * float(np.median(heights.loc[ev]))
    truth = blot.truth[blot.truth.strip == 1].set_index("lane").true_volume
    errors = [(b.volume[k] / b.volume[1]) / (truth[k] / truth[1]) - 1 for k in ev]
    assert max(abs(e) for e in errors) < 0.14, np.round(errors, 3)
