"""A lane whose only signal is the glow of a saturated neighbour's band is absent (exo_vision.blot.flank)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from exo_vision.blot.quantify import quantify_blot

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / ".." / "shared" / "data" / "blots" / "imagequant_raw" / "antiActin 20240710_131425_Ch_Chemi.tif"
#: Rows of the band region (the actin bands lie in rows 866-1035) and where empty membrane is taken from.
BAND_ROWS, EMPTY_ROW = (750, 1198), 100
#: Lane 5's bands are made this many times stronger (clipped at 65535: saturated) ...
GAIN = 20.0
#: ... and glow: this share of them, blurred by a Gaussian this wide (px), is added around them.
GLOW, GLOW_SIGMA = 0.3, 12.0


@pytest.fixture(scope="module")
def five_lane_blot():
    """The real ImageQuant blot cut after lane 6 (room for 6 lanes), lane 6's bands replaced by empty membrane (a
    5-lane blot), lane 5's bands saturated with a glow; with ``keep_lane6`` lane 6 keeps its own bands."""
    if not RAW.is_file():
        pytest.skip(f"real blot not present at {RAW}")
    import tifffile

    raw = tifffile.imread(RAW).astype(np.float64)
    truth = pd.read_csv(ROOT / "benchmarks" / "blot_truth" / "imagequant_actin.csv")
    lanes = truth[truth.record == "lane"].sort_values("lane")[["x_left_px", "x_right_px"]].to_numpy(float)
    cuts = ((lanes[:-1, 1] + lanes[1:, 0]) // 2).astype(int)
    r0, r1 = BAND_ROWS
    empty = raw[EMPTY_ROW : EMPTY_ROW + r1 - r0]

    def frame(keep_lane6=False):
        f = raw.copy()
        a5, a6, b6 = cuts[3], cuts[4], cuts[5]
        if not keep_lane6:
            f[r0:r1, a6:b6] = empty[:, a6:b6]
        net = np.zeros_like(f)
        net[r0:r1, a5:a6] = GAIN * (raw[r0:r1, a5:a6] - empty[:, a5:a6])
        f[r0:r1, a5:a6] = empty[:, a5:a6]
        f = f + net + GLOW * ndi.gaussian_filter(net, GLOW_SIGMA)
        return np.round(np.minimum(f, 65535.0)[:, : int(lanes[5, 1]) + 60]).astype(np.uint16)

    return frame


@pytest.mark.parametrize("markers", [None, "calnexin"])
def test_the_glow_of_a_saturated_band_in_an_empty_lane_is_absent_and_named(five_lane_blot, markers):
    """Probe H5: --lanes 6 on a 5-lane blot called the glow of lane 5's saturated band, spilling into the empty
    6th lane, present (a calnexin band in an EV lane: a false MISEV failure)."""
    names = ["lysate", "exo1", "exo2", "exo3", "exo4", "exo5"]
    res = quantify_blot(five_lane_blot(), polarity="bright", n_lanes=6, markers=markers, lane_names=names)
    bands = res.bands
    assert bands[(bands.lane == 5) & bands.saturated].present.all()
    assert not bands[bands.lane == 6].present.any()
    (flank,) = [w for w in res.warnings if "flank" in w]
    assert flank.startswith("strip 1 lane 6 (exo5): ") and "saturated band of lane 5 (exo4)" in flank


def test_a_band_of_its_own_beside_a_saturated_band_stays_present(five_lane_blot):
    res = quantify_blot(five_lane_blot(keep_lane6=True), polarity="bright", n_lanes=6, markers="calnexin")
    lane6 = res.bands[res.bands.lane == 6]
    assert lane6.present.any() and (lane6.volume > 0.2 * res.bands[res.bands.lane == 4].volume.max()).any()
    assert not any("flank" in w for w in res.warnings)


def test_a_gels_round_bands_beside_strong_ones_are_not_taken_for_glow():
    """The flank rule dropped 2 real bands of this lab gel (and 1 of another: development recall 0.913 -> 0.902 in
    benchmarks/blot_real.py): a gel's round sample bands spread past the lanes their wells give. It is off on gels."""
    from exo_vision.blot.gel import quantify_gel
    from exo_vision.io.read import read_image

    path = ROOT / ".." / "shared" / "data" / "gels" / "lab_gels_with_masks" / "Pair_4and5 Wk9 GelRed.jpg"
    if not path.is_file():
        pytest.skip(f"lab gel not present at {path}")
    img = read_image(path, kind="blot")
    res = quantify_gel(img.data, polarity=img.polarity, max_value=img.max_value)
    # 44 bands: 42, and two more of the tier-2 ladder's packed bands parted by a clear dip (gel_split_clear_dips)
    assert int(res.bands.present.sum()) == 44 and not any("flank" in w for w in res.warnings)


def test_a_real_band_beside_a_far_stronger_one_with_a_dip_between_them_stays_present():
    """Probe F1 (stop 51): on a generated two-membrane frame, lane 9's own band (truth 1.8e5, 6 times its LoD) beside
    lane 10's 13 times stronger band was called absent as its glow: the gap between the lanes falls to the membrane,
    but the test of "no dip" read the gap's highest column, which is the rising edge of the neighbour's band."""
    from exo_vision.synthetic.blot import make_two_membrane_frame

    blot = make_two_membrane_frame(rng=100)
    res = quantify_blot(blot.image, n_lanes=11, markers=["marker1", "marker2"])
    truth = blot.truth
    assert truth[(truth.strip == 1) & (truth.lane == 9)].present.all()
    row = res.bands[(res.bands.strip == 1) & (res.bands.lane == 9) & (res.bands.marker == "marker1")]
    assert len(row) == 1 and bool(row.present.iloc[0])
    assert not any("flank (glow)" in w and "strip 1 lane 9" in w for w in res.warnings)
