"""Bands of neighbouring lanes that touch across a narrow gap part between them: no column is summed into two lanes.

Probe 56's finding F3: with 44 px lanes 3 px apart and strong and weak bands alternating, each band's extent was read
up to the neighbouring lanes' centres on its own, so a strong band's box ran into its weak neighbour's shoulder and the
weak band's own extent stopped where the strong band's flank began to rise: weak lanes read 0.75-0.85 of their
volumes, and on the real ChemiDoc Orb2 blot neighbouring boxes overlapped by up to 62 columns.
"""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot


def _touching_strip(seed: int, ratio: float):
    """Six 44 px lanes 3 px apart, bands of 4e6 and 4e6 / ``ratio`` alternating; the table with the true lanes."""
    vols = [4e6, 4e6 / ratio] * 3
    blot = make_synthetic_blot(
        [StripSpec("CD9", vols, "sharp", band_sigma_px=3.0, height_px=160)],
        lane_width_px=44,
        lane_gap_px=3.0,
        blotch_fraction=0.02,
        n_dust=0,
        pen_mark=False,
        smile_px=0,
        tilt_deg=0,
        rng=seed,
    )
    truth = blot.truth
    ranges = [(round(c - w / 2), round(c + w / 2)) for c, w in zip(truth.x_centre_px, truth.lane_width_px, strict=True)]
    bands = quantify_blot(blot.image, lane_x_ranges_px=ranges).bands
    return bands.merge(truth[["lane", "true_volume"]], on="lane")


@pytest.mark.parametrize(("seed", "ratio"), [(2, 4.0), (1, 10.0)])
def test_weak_bands_between_strong_ones_keep_their_volume(seed, ratio):
    """Each weak lane within 4 % of its true volume, each strong lane within 2 % (before: weak lanes 0.745 and
    0.827 of truth on seed 2, 0.816 on seed 1 with a tenfold ratio)."""
    t = _touching_strip(seed, ratio)
    assert len(t) == 6
    read = (t.volume / t.true_volume).to_numpy()
    weak = t.lane.to_numpy() % 2 == 0
    assert np.all(np.abs(read[weak] - 1) < 0.04), read
    assert np.all(np.abs(read[~weak] - 1) < 0.02), read


def test_no_two_boxes_of_a_row_share_a_column():
    """The boxes of one band row do not overlap (``x_right_px`` is one past the box's last column)."""
    t = _touching_strip(2, 4.0)
    for _, row in t.groupby(["strip", "band"]):
        row = row.sort_values("x_left_px")
        assert np.all(row.x_left_px.to_numpy()[1:] >= row.x_right_px.to_numpy()[:-1]), row[
            ["lane", "x_left_px", "x_right_px"]
        ]
