"""Lanes placed for a given count when only a few lanes show a band (exo_vision.blot.lanes.count)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exo_vision.blot.lanes.count import place_count
from exo_vision.blot.quantify import quantify_blot

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / ".." / "shared" / "data" / "blots" / "imagequant_raw" / "antiActin 20240710_131425_Ch_Chemi.tif"
#: Rows of the band region replaced (the actin bands lie in rows 866-1035) ...
BAND_ROWS = (750, 1198)
#: ... by the same columns' empty membrane from these rows on.
EMPTY_ROW = 100
#: The EV band's volume as a share of the lysate band's (a faint MISEV calnexin band).
EV_SHARE = 0.005


def test_two_anchors_set_the_pitch_the_count_and_the_room_the_rest():
    # lanes 40 wide; anchors 244 apart: 4 steps of 61 (1.5 widths) or 5 of 48.8 (1.22 widths, the prior's)
    placed = place_count([60.0, 304.0], 8, 40.0, (-0.5, 499.5), membrane=False)
    assert placed.pitch == pytest.approx(48.8)
    assert placed.anchors == [0, 5] and placed.centres[0] == 60.0 and placed.centres[5] == 304.0
    assert not placed.settled  # the strip's edges only: a guess
    # a membrane seen from 20 to 500 centres the 61 px grid (lanes at 46.5, 107.5, ..., 473.5) with the
    # anchors as lanes 2 and 6 of 8; on the 48.8 px grid no set comes within a pitch of centred
    on_membrane = place_count([107.5, 351.5], 8, 40.0, (20.0, 500.0), membrane=True)
    assert on_membrane.pitch == pytest.approx(61.0) and on_membrane.anchors == [1, 5] and on_membrane.settled
    assert on_membrane.centres == pytest.approx(list(np.arange(8) * 61.0 + 46.5))
    # 8 lanes at least a lane width apart do not fit beside the anchors in 300 columns
    assert place_count([60.0, 304.0], 8, 40.0, (-0.5, 299.5), membrane=False) is None


@pytest.fixture(scope="module")
def calnexin_frames():
    """The real ImageQuant blot made a calnexin blot: lane 1 (lysate) keeps its bands, one EV lane keeps
    0.5 % of the lysate's band volume (blended with empty membrane from higher up the same columns), every
    other lane gets empty membrane in its band rows; and the truth lane centres."""
    if not RAW.is_file():
        pytest.skip(f"real blot not present at {RAW}")
    import tifffile

    raw = tifffile.imread(RAW).astype(np.float64)
    truth = pd.read_csv(ROOT / "benchmarks" / "blot_truth" / "imagequant_actin.csv")
    lanes = truth[truth.record == "lane"].sort_values("lane")[["x_left_px", "x_right_px"]].to_numpy(float)
    centres = (lanes[:, 0] + lanes[:, 1] - 1) / 2
    cuts = [0, *((lanes[:-1, 1] + lanes[1:, 0]) // 2).astype(int), 1100]
    r0, r1 = BAND_ROWS
    empty = raw[EMPTY_ROW : EMPTY_ROW + r1 - r0]

    def volume(j):
        a, b = cuts[j], cuts[j + 1]
        return (raw[r0:r1, a:b] - empty[:, a:b]).sum()

    def frame(ev):
        f = raw.copy()
        for j in range(1, len(centres)):
            a, b = cuts[j], cuts[j + 1]
            keep = EV_SHARE * volume(0) / volume(j) if j == ev else 0.0
            f[r0:r1, a:b] = empty[:, a:b] + keep * (raw[r0:r1, a:b] - empty[:, a:b])
        return np.round(f).astype(np.uint16)

    return frame, centres


@pytest.mark.parametrize("ev_lane", [2, 4, 7, 8])
def test_a_count_places_the_lanes_of_a_calnexin_blot_from_its_two_loaded_lanes(calnexin_frames, ev_lane):
    """Probe M1: with --lanes 8 on a calnexin blot where only the lysate lane and one EV lane hold a band, lanes
    were refused ('found 2 lanes ... but 8 were expected') or placed up to 73 px off, and the EV band was not
    called. The two loaded lanes are anchors on the comb's grid; the count and the strip place the rest."""
    frame, centres = calnexin_frames
    names = ["lysate", *(f"exo{i}" for i in range(1, 8))]
    res = quantify_blot(frame(ev_lane - 1), polarity="bright", n_lanes=8, markers="calnexin", lane_names=names)
    found = np.array(sorted(lane.x_centre_px for lane in res.lanes))
    assert np.abs(found - centres).max() < 12.0
    # the calnexin row; the lysate lane's real second band (the actin doublet's lower band) is reported on its own
    present = res.bands[res.bands.requested].set_index("lane")["present"]
    assert present[1] and present[ev_lane]
    assert (res.bands[~res.bands.requested].lane == 1).all()
    assert not present.drop([1, ev_lane]).any()
    (guess,) = [w for w in res.warnings if "2 of the 8 lanes show a band" in w]
    assert f"taken as lane(s) 1, {ev_lane} of 8" in guess and "a guess" in guess


def test_a_count_with_only_the_lysate_lane_loaded_places_the_lanes_at_the_usual_pitch(calnexin_frames):
    """One anchor: the lanes lie about 1.2 lane widths apart from it, within the strip."""
    frame, centres = calnexin_frames
    res = quantify_blot(frame(None), polarity="bright", n_lanes=8, markers="calnexin")
    found = np.array(sorted(lane.x_centre_px for lane in res.lanes))
    assert np.abs(found - centres).max() < 25.0
    assert res.bands[res.bands.requested].set_index("lane")["present"].tolist() == [True] + [False] * 7


def test_a_count_that_does_not_fit_names_the_strip_what_was_found_and_the_ranges():
    """Probe M2: 'found 3 lanes in strip 1 but 5 were expected' named neither where the strip lies nor the lanes
    found; the message gives both, and their columns as lane ranges to start from."""
    rng = np.random.default_rng(5)
    img = 1000.0 + rng.normal(0, 5, (100, 200))
    for x in (20, 80, 140):
        img[40:50, x : x + 30] += 500
    with pytest.raises(ValueError) as refused:
        quantify_blot(img, polarity="bright", n_lanes=5)
    message = str(refused.value)
    assert "found 3 lanes in strip 1 (rows 0..100, columns 0..200) but 5 were expected" in message
    assert "(30 px wide, 60 px apart or more)" in message and "do not fit in the strip" in message
    assert "--lane-ranges X0-X1" in message and "the lanes found span columns 20-50, 80-110, 140-170" in message


#: The real ChemiDoc alpha-tubulin blot: 4 lanes about 2.2 lane widths apart (wide gaps), the truth lanes' columns.
CHEMIDOC = ROOT / ".." / "shared" / "data" / "blots" / "chemidoc_aTub 2022-07-12 13h11m29s(Chemiluminescence).tif"
CHEMIDOC_LANES = ((155, 250), (355, 437), (540, 640), (740, 840))


@pytest.mark.parametrize("loaded", [(1, 2), (3, 4), (1, 3), (1, 4)])
def test_a_count_keeps_found_lanes_a_wide_pitch_apart_as_neighbours(loaded):
    """On a blot with wide gaps (pitch 2.2 lane widths), two neighbouring loaded lanes are taken as neighbours,
    not as lanes 1 and 3 with a blank lane squeezed between them (the pitch prior of 1.2 widths alone would);
    lanes 1 and 3, or 1 and 4, loaded were refused ('found 2 lanes ... but 4 were expected')."""
    if not CHEMIDOC.is_file():
        pytest.skip(f"real blot not present at {CHEMIDOC}")
    from exo_vision.io.read import read_image

    img = read_image(CHEMIDOC, kind="blot")
    frame = img.data.copy()
    cuts = (0, 300, 488, 690, 1122)
    for lane in range(1, 5):
        if lane not in loaded:  # the band rows of an unloaded lane get the membrane from higher up
            frame[300:520, cuts[lane - 1] : cuts[lane]] = img.data[40:260, cuts[lane - 1] : cuts[lane]]
    res = quantify_blot(frame, polarity=img.polarity, max_value=img.max_value, n_lanes=4)
    centres = np.array([(a + b - 1) / 2 for a, b in CHEMIDOC_LANES])
    assert np.abs(np.sort([lane.x_centre_px for lane in res.lanes]) - centres).max() < 12.0


def _lone_saturated_lane_crop(seed: int):
    """A generated calnexin strip cropped inside its membrane: only lane 1 (the lysate) holds a band, clipped at
    the 16-bit level; 6 lanes 60 px wide, 70 px apart (1.17 lane widths), the crop ending 6 px past lane 6."""
    from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot

    blot = make_synthetic_blot(
        [StripSpec("calnexin", [1.5e8, 0, 0, 0, 0, 0], "sharp", band_sigma_px=6.0, height_px=200)],
        lane_width_px=60.0,
        lane_gap_px=10.0,
        spacing_jitter=0.0,
        n_dust=0,
        pen_mark=False,
        tilt_deg=0.0,
        smile_px=0.0,
        rng=seed,
    )
    xs = blot.truth.sort_values("lane").x_centre_px.to_numpy()
    c0, c1 = int(xs[0] - 30 - 40), int(np.ceil(xs[-1] + 30 + 6))
    return blot.image[:, c0:c1], xs - c0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_count_beside_a_lone_saturated_lane_keeps_the_lanes_in_the_frame(seed):
    """Probe blot50 M3: one loaded (saturated) lane and --lanes N on a crop without membrane edges put the lanes
    at the prior pitch of 1.2 lane widths, the last lane running past the crop's edge (5 px here, 8 px on the
    real ImageQuant crop). A lane the count adds lies within the frame: the pitch narrows to the widest that
    fits, nearer the true one."""
    img, truth = _lone_saturated_lane_crop(seed)
    res = quantify_blot(img, polarity="bright", max_value=65535, n_lanes=6)
    assert res.bands.saturated_px.max() > 0  # the lysate band is clipped
    found = np.sort([lane.x_centre_px for lane in res.lanes])
    width = res.lanes[0].width_px
    assert found[-1] + width / 2 <= img.shape[1] - 0.5 + 0.01  # no lane runs past the crop's edge
    assert np.abs(found - truth).max() < 8.0  # was 10-11 px at lane 6


def test_a_count_beside_a_lone_saturated_lane_of_the_real_blot_stays_in_the_crop():
    """Probe blot50 M3 on the real blot: the ImageQuant crop of lanes 1-6 (rows 760-1139, columns 60-779), lane 1
    4.5 times brighter (527 pixels clipped), lanes 2-6 empty membrane from higher up the same columns. With
    --lanes 6 the lanes lay 108 px apart (truth 102), lane 6 29 px right of its true centre and 8 px past the
    crop; the count's lanes now end at the crop's edge (lane 6 21 px off)."""
    if not RAW.is_file():
        pytest.skip(f"real blot not present at {RAW}")
    import tifffile

    raw = tifffile.imread(RAW).astype(np.float64)
    truth = pd.read_csv(ROOT / "benchmarks" / "blot_truth" / "imagequant_actin.csv")
    lanes = truth[truth.record == "lane"].sort_values("lane")[["x_left_px", "x_right_px"]].to_numpy(float)[:6]
    rows, cols = slice(760, 1140), slice(60, 780)
    crop = raw[rows, cols]
    empty = raw[300:680, cols]
    lysate_end = int((lanes[0, 1] + lanes[1, 0]) / 2) - 60  # between lanes 1 and 2
    background = np.median(crop[:60], axis=0)  # rows above the bands
    frame = empty.copy()
    frame[:, :lysate_end] += 4.5 * (crop[:, :lysate_end] - background[:lysate_end])
    frame = np.clip(np.round(frame), 0, 65535).astype(np.uint16)
    assert (frame == 65535).sum() > 100
    res = quantify_blot(frame, polarity="bright", n_lanes=6, markers="calnexin")
    found = np.sort([lane.x_centre_px for lane in res.lanes])
    centres = (lanes[:, 0] + lanes[:, 1] - 1) / 2 - 60
    assert found[-1] + res.lanes[0].width_px / 2 <= frame.shape[1] - 0.5 + 0.01
    assert np.abs(found - centres).max() < 25.0
    assert res.bands[res.bands.requested].set_index("lane")["present"].tolist() == [True] + [False] * 5
    assert (res.bands[~res.bands.requested].lane == 1).all()


def test_two_anchors_on_two_equally_plausible_grids_are_named_as_rivals():
    """Lanes 2 and 4 of the wide-gap ChemiDoc blot (centres 395 and 788, 79 px wide, strip 1122 px): 4 lanes fit
    them 196 px apart (lanes 2, 4) or 131 px apart (lanes 1, 4) about as well, both pitches far from the prior,
    and the strip's edges do not decide; the membrane's edges, where seen (here 100-890 px), do."""
    placed = place_count([395.0, 788.0], 4, 79.0, (-0.5, 1121.5), membrane=False)
    grids = sorted([(round(placed.pitch), placed.anchors)] + [(round(p), a) for p, a in placed.rivals])
    assert grids == [(131, [0, 3]), (196, [1, 3])]
    on_membrane = place_count([395.0, 788.0], 4, 79.0, (100.0, 890.0), membrane=True)
    assert on_membrane.rivals == [] and on_membrane.anchors == [1, 3] and on_membrane.settled
    assert on_membrane.centres == pytest.approx([198.5, 395.0, 591.5, 788.0])


def test_a_count_on_two_equally_plausible_grids_is_refused_with_the_lane_ranges():
    """The wide-gap ChemiDoc blot with lanes 2 and 4 of 4 loaded and --lanes 4 was placed on the 131 px grid
    (lanes 1 and 4, 194 px off the truth) with only the 'a guess' warning. Two grids fit equally well and
    the image has no membrane edge to choose: the count is refused with both grids, the lanes found and their
    columns as --lane-ranges to start from."""
    if not CHEMIDOC.is_file():
        pytest.skip(f"real blot not present at {CHEMIDOC}")
    from exo_vision.io.read import read_image

    img = read_image(CHEMIDOC, kind="blot")
    frame = img.data.copy()
    cuts = (0, 300, 488, 690, 1122)
    for lane in (1, 3):  # the band rows of an unloaded lane get the membrane from higher up
        frame[300:520, cuts[lane - 1] : cuts[lane]] = img.data[40:260, cuts[lane - 1] : cuts[lane]]
    with pytest.raises(ValueError) as refused:
        quantify_blot(frame, polarity=img.polarity, max_value=img.max_value, n_lanes=4, image_name="aTub")
    message = str(refused.value)
    assert "aTub: found 2 lanes in strip 1 (rows 0..897, columns 0..1122) but 4 were expected" in message
    assert "131 px apart with them as lanes 1, 4 or 196 px apart with them as lanes 2, 4" in message
    assert "no membrane edge is seen" in message
    assert "--lane-ranges X0-X1" in message and "the lanes found span columns 357-435, 749-828" in message
