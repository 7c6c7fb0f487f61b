"""Two membranes imaged one above the other across a narrow gap at the camera floor are two strips.

A dim membrane or a narrow gap used to be read as one strip whose lanes ran through the gap: (1) bright band rows
made the row profile's range so wide that the dim membrane's level (the profile's median) passed for the floor,
and the band rows were taken for the membrane; (2) the gap test compared a row's 80th percentile with the darkest
single pixels of the frame, which over a noisy floor lie about two noise SDs lower, more than a quarter of a dim
membrane's step. A dark stripe inside one membrane that stays above the floor stays inside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.signal import to_signal
from exo_vision.blot.strips import find_strips
from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot

#: Camera floor and dim membrane background (counts; shot noise plus 12 counts read noise: ~24 counts SD).
FLOOR, MEMBRANE = 300.0, 420.0
#: Lane k of the upper membrane lies within this many px of lane k of the lower (lanes 40 px wide, straight).
SAME_LANE_PX = 6


def _dim_frame(seed: int, n_membranes: int, height_px: int, kind: str = "smear", log_volumes=(6.6, 7.2)):
    """Membranes 120 counts over the floor, 12 rows apart, with bright smears (their rows make most of the range)."""
    g = np.random.default_rng(seed)
    specs = [
        StripSpec(
            f"marker{i + 1}", list(10 ** g.uniform(*log_volumes, 9)), kind, smear_height_px=60.0, height_px=height_px
        )
        for i in range(n_membranes)
    ]
    return make_synthetic_blot(
        specs,
        background_counts=MEMBRANE,
        dark_counts=FLOOR,
        gradient_fraction=0.05,
        strip_gap_px=12,
        margin_px=90,
        rng=g,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_two_dim_membranes_across_a_narrow_floor_gap_are_two_strips_with_the_same_lanes(seed):
    blot = _dim_frame(seed, 2, 240)
    res = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value)
    truth = blot.truth.groupby("strip")[["strip_y_top_px", "strip_y_bottom_px"]].first().to_numpy()
    found = np.array([(s.y_top_px, s.y_bottom_px) for s in res.strips])
    assert found.shape == (2, 2)
    np.testing.assert_allclose(found, truth, atol=4)
    centres = [
        [lane.x_centre_px for lane in sorted(res.lanes, key=lambda lane: lane.index) if lane.strip == s.index]
        for s in res.strips
    ]
    assert len(centres[0]) == len(centres[1]) == 9
    assert np.abs(np.subtract(*centres)).max() < SAME_LANE_PX


@pytest.mark.parametrize("depth", [0.35, 0.5])
def test_a_dark_stripe_inside_a_dim_membrane_that_stays_above_the_floor_is_no_gap(depth):
    blot = _dim_frame(0, 1, 480, kind="sharp", log_volumes=(5.0, 6.4))
    signal = to_signal(blot.image, polarity=blot.polarity).astype(float)
    # 30 membrane rows across the whole width dimmed to ``depth`` of the membrane's step above the floor
    signal[250:280] = FLOOR + depth * (signal[250:280] - FLOOR)
    (strip,) = find_strips(signal)
    top, bottom = blot.truth[["strip_y_top_px", "strip_y_bottom_px"]].iloc[0]
    assert abs(strip.y_top_px - top) <= 4 and abs(strip.y_bottom_px - bottom) <= 4


@pytest.mark.parametrize("export", ["raw", "inverted8"])
def test_two_membranes_five_noise_sds_over_a_noisy_floor_are_two_strips(export):
    img = np.random.default_rng(0).normal(100.0, 20.0, (500, 700))
    img[20:240, 80:620] += 100.0
    img[260:480, 80:620] += 100.0
    if export == "inverted8":
        img = 255 - np.clip(img * 0.5, 0, 255).round()
    strips = find_strips(img if export == "raw" else 255 - img)
    assert [(s.y_top_px, s.y_bottom_px, s.x_left_px, s.x_right_px) for s in strips] == [
        (22, 238, 82, 618),
        (262, 478, 82, 618),
    ]


DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
RAW = DATA / "blots" / "imagequant_raw" / "antiActin 20240710_131425_Ch_Chemi.tif"


@pytest.mark.skipif(not RAW.is_file(), reason=f"real test image not present at {RAW}")
def test_two_crops_of_a_real_raw_blot_stacked_over_a_40_row_floor_gap_are_two_strips():
    import tifffile

    # two 340-row crops of a real ImageQuant raw frame (membrane ~57 counts) over the camera floor (22 +- 4 counts)
    raw = tifffile.imread(RAW).astype(float)
    frame = np.random.default_rng(54).normal(22.0, 4.0, (736, 1092))
    frame[8:348] = raw[700:1040, 40:1132]
    frame[388:728] = raw[780:1120, 40:1132]
    strips = find_strips(to_signal(np.round(frame).astype(np.uint16), polarity="bright"))
    found = np.array([(s.y_top_px, s.y_bottom_px) for s in strips])
    assert found.shape == (2, 2)
    np.testing.assert_allclose(found, [(10, 346), (390, 726)], atol=4)
