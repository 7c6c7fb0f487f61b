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


def _three_lanes(dtype, amplitudes=(2000.0, 1000.0, 500.0), seed=0):
    """A flat membrane (1000, noise SD 10) with three 40-px lanes of Gaussian bands (sigma 4 rows) at row 80."""
    rows = np.arange(160)[:, None]
    image = np.full((160, 280), 1000.0)
    for i, amplitude in enumerate(amplitudes):
        x = 50 + 70 * i
        image[:, x : x + 40] += amplitude * np.exp(-0.5 * ((rows - 80) / 4.0) ** 2)
    image += np.random.default_rng(seed).normal(0, 10, image.shape)
    return np.round(image).astype(dtype)


def test_the_brightest_pixel_of_a_float_image_is_not_saturation():
    from exo_vision.blot.signal import default_saturation_level

    image = _three_lanes(np.float32)
    assert default_saturation_level(image, polarity="bright") is None
    res = quantify_blot(image, n_lanes=3)
    assert not res.bands["saturated"].any() and not any("saturated" in w for w in res.warnings)
    clipped = np.minimum(image, 2500.0)  # a flat top of many pixels is a clip
    assert default_saturation_level(clipped, polarity="bright") == 2500.0
    assert quantify_blot(clipped, n_lanes=3).bands.sort_values("lane")["saturated"].tolist()[0]


def test_a_12_bit_camera_clipped_in_a_16_bit_file_is_flagged():
    from exo_vision.blot.signal import default_saturation_level

    image = np.minimum(_three_lanes(np.uint16, amplitudes=(4000.0, 1000.0, 500.0)), 4095)
    assert default_saturation_level(image, polarity="bright") == 4095.0
    bands = quantify_blot(image, n_lanes=3).bands.sort_values("lane")
    assert bands["saturated"].tolist() == [True, False, False]
    # unclipped, its maximum is just its brightest pixel: the dtype's maximum stays the level
    assert default_saturation_level(_three_lanes(np.uint16), polarity="bright") == 65535.0


def test_a_16_bit_export_clipped_by_its_display_range_is_flagged():
    """probe56 F16: a 16-bit TIFF clipped flat at 5000 (not a camera's 2**k - 1) was never flagged, and its clipped
    band's ratios read 25-35 % low with a PASS. A flat top of touching pixels is a clip; equal noise pixels are not."""
    from exo_vision.blot.signal import default_saturation_level

    image = np.minimum(_three_lanes(np.uint16, amplitudes=(6000.0, 1000.0, 500.0)), 5000)
    assert default_saturation_level(image, polarity="bright") == 5000.0
    bands = quantify_blot(image, n_lanes=3).bands.sort_values("lane")
    assert bands["saturated"].tolist() == [True, False, False]
    scattered = _three_lanes(np.uint16, amplitudes=(3000.0, 1000.0, 500.0))
    top = int(scattered.max())
    rows, cols = np.nonzero(scattered < top - 100)
    scattered[rows[::997][:9], cols[::997][:9]] = top  # nine lone pixels at the maximum, none touching
    assert default_saturation_level(scattered, polarity="bright") == 65535.0


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int64, np.float64])
def test_a_clipped_16_bit_blot_in_a_wider_type_or_with_a_hot_pixel_keeps_its_saturation(dtype):
    from exo_vision.blot.signal import default_saturation_level

    image = np.minimum(_three_lanes(np.int64, amplitudes=(70000.0, 1000.0, 500.0)), 65535).astype(dtype)
    assert default_saturation_level(image, polarity="bright") == 65535.0
    hot = image.copy()
    hot[0, 0] = 70000  # one hot pixel above the clipped plateau, in a corner
    assert default_saturation_level(hot, polarity="bright") == 65535.0
    bands = quantify_blot(hot, n_lanes=3).bands.sort_values("lane")
    assert bands["saturated"].tolist() == [True, False, False]
    # unclipped: no plateau with only hot pixels above it, so the type's maximum (integers) or nothing (float)
    unclipped = default_saturation_level(_three_lanes(dtype), polarity="bright")
    assert unclipped == (float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else None)


def test_the_rolling_ball_reads_hand_computed_volumes_on_a_noisy_membrane():
    """A flat membrane at 1000 with pixel noise SD 10: the ball background must not rest on the noise's low
    excursions (it read 962-969 and volumes +8 / +16 / +24 %). Volume of a Gaussian band (sigma 4 rows) across
    its whole 40-px lane = amplitude x sqrt(2 pi) x 4 x 40 = 401.1 x amplitude."""
    from exo_vision.blot.parameters import BlotParameters

    image = _three_lanes(np.uint16)
    bands = quantify_blot(image, n_lanes=3, params=BlotParameters(background="rolling_ball")).bands
    volumes = bands.sort_values("lane")["volume"].to_numpy()
    assert volumes == pytest.approx(401.1 * np.array([2000.0, 1000.0, 500.0]), rel=0.02)


def _ladder_strip():
    """One strip of four lanes: a ladder of seven bands (130-15 kDa, log-linear in row) and three CD9 lanes."""
    kda = [130, 100, 70, 55, 35, 25, 15]
    row = lambda k: 30 + 255.9 * np.log10(130 / k)  # noqa: E731
    rows = np.arange(300)[:, None]
    image = np.full((300, 320), 1000.0)
    lanes = [[(row(k), 1500.0) for k in kda], [(row(25), 2000.0)], [(row(25), 1000.0)], [(row(25), 500.0)]]
    for i, bands in enumerate(lanes):
        x = 50 + 70 * i
        for y, amplitude in bands:
            image[:, x : x + 40] += amplitude * np.exp(-0.5 * ((rows - y) / 4.0) ** 2)
    image += np.random.default_rng(0).normal(0, 10, image.shape)
    return np.round(image).astype(np.uint16), kda


def test_fewer_ladder_sizes_than_ladder_bands_are_named():
    image, kda = _ladder_strip()
    full = quantify_blot(image, n_lanes=4, ladder_lane=1, ladder_kda=kda, markers="CD9")
    assert not any("ladder lane 1 shows" in w for w in full.warnings)
    short = quantify_blot(image, n_lanes=4, ladder_lane=1, ladder_kda=kda[:-1], markers="CD9")
    assert any("ladder lane 1 shows 7 bands but 6 sizes were given" in w for w in short.warnings)


def test_the_ladder_lane_is_not_a_sample_of_the_panel():
    from exo_vision.blot.panel import enrichment_table

    image, kda = _ladder_strip()
    names = ["ladder", "lysate", "exo1", "exo2"]
    res = quantify_blot(image, n_lanes=4, lane_names=names, ladder_lane=1, ladder_kda=kda, markers="CD9")
    ladder_rows = res.bands[res.bands["lane"] == 1]
    assert (ladder_rows["marker"] == "").all()  # the ladder's bands carry no marker
    enrichment = enrichment_table(res.bands, reference_lane="lysate")
    assert sorted(enrichment.loc[~enrichment["is_reference"], "lane_name"]) == ["exo1", "exo2"]
    ratios = enrichment.set_index("lane_name")["ratio_to_reference"]
    assert ratios["exo1"] == pytest.approx(0.5, abs=0.02) and ratios["exo2"] == pytest.approx(0.25, abs=0.02)


def test_a_marker_strip_without_any_band_is_named_not_dropped_silently():
    rows = np.arange(160)[:, None]
    image = np.full((420, 280), 300.0)  # two membranes (1000) on a dark floor with a gap between them
    image[30:190, 20:260] = 1000.0
    image[230:390, 20:260] = 1000.0
    for i, amplitude in enumerate((2000.0, 1000.0, 500.0)):
        x = 50 + 70 * i
        image[30:190, x : x + 40] += amplitude * np.exp(-0.5 * ((rows - 80) / 4.0) ** 2)
    image = np.round(image + np.random.default_rng(0).normal(0, 10, image.shape)).astype(np.uint16)
    res = quantify_blot(image, n_lanes=3, markers=["CD9", "calnexin"])
    assert set(res.bands.loc[res.bands["strip"] == 1, "marker"]) == {"CD9"}
    assert any("strip 2 (calnexin): no lane shows a band" in w for w in res.warnings)


def _membrane_on_floor(amplitudes, seed):
    """The helper strip above laid on a membrane (columns 20-260) on a dark floor: its edges are seen."""
    image = np.full((200, 280), 300.0)
    rows = np.arange(160)[:, None]
    image[20:180, 20:260] = 1000.0
    for i, amplitude in enumerate(amplitudes):
        x = 50 + 70 * i
        image[20:180, x : x + 40] += amplitude * np.exp(-0.5 * ((rows - 80) / 4.0) ** 2)
    image += np.random.default_rng(seed).normal(0, 10, image.shape)
    return np.round(image).astype(np.uint16)


def test_lanes_without_a_visible_band_are_placed_by_the_membrane_not_a_guessed_pitch():
    """With --lanes 3 and only the lysate lane seen, the EV lanes were put 1.3 lane widths apart (52 px, true
    70) and a real calnexin band in each (volume ~8000, LoD ~3500) was called absent: a false MISEV pass."""
    image = _membrane_on_floor((2000.0, 30.7, 30.7), seed=3)
    bands = quantify_blot(image, n_lanes=3, markers="calnexin").bands.sort_values("lane")
    centres = ((bands["x_left_px"] + bands["x_right_px"]) / 2).tolist()
    assert centres == pytest.approx([70.0, 140.0, 210.0], abs=2.0)
    assert bands["present"].tolist() == [True, True, True]
    # a blank middle lane: the two found lanes are the first and the third of three
    middle = quantify_blot(_membrane_on_floor((2000.0, 0.0, 1000.0), seed=1), n_lanes=3, markers="CD9").bands
    assert middle.sort_values("lane")["present"].tolist() == [True, False, True]


def test_a_lane_named_ladder_is_the_ladder_lane_and_ladder_sizes_need_a_ladder_lane():
    image, kda = _ladder_strip()
    res = quantify_blot(image, n_lanes=4, lane_names=["MW Ladder", "lysate", "exo1", "exo2"], markers="CD9")
    assert res.parameters["ladder_lane"] == 1
    assert (res.bands.loc[res.bands["lane"] == 1, "marker"] == "").all()
    assert set(res.bands.loc[res.bands["marker"] == "CD9", "lane_name"]) == {"lysate", "exo1", "exo2"}
    # two lanes named as ladders: none is guessed
    two = quantify_blot(image, n_lanes=4, lane_names=["ladder", "ladder 2", "exo1", "exo2"], markers="CD9")
    assert two.parameters["ladder_lane"] is None
    with pytest.raises(ValueError, match="ladder_kda needs ladder_lane"):
        quantify_blot(image, n_lanes=4, ladder_kda=kda, markers="CD9")
    with pytest.raises(ValueError, match="ladder lane 5 does not exist; strip 1 has lanes 1..4"):
        quantify_blot(image, n_lanes=4, ladder_lane=5, markers="CD9")


def test_a_marker_window_from_the_ladder_that_holds_no_band_is_named():
    """The sample lanes hold CD9 (25 kDa) only: the calnexin window (80-100 kDa) is empty in every lane, which
    is what a ladder read from specks looks like too; the user is told which rows the fit rests on."""
    image, kda = _ladder_strip()
    cd9 = quantify_blot(image, n_lanes=4, ladder_lane=1, ladder_kda=kda, markers="CD9")
    assert not any("no lane shows a band in the window" in w for w in cd9.warnings)
    res = quantify_blot(image, n_lanes=4, ladder_lane=1, ladder_kda=kda, markers="calnexin")
    (message,) = [w for w in res.warnings if "no lane shows a band in the window" in w]
    # the window spans 80-100 kDa to the row (rows 59-85 read back as 79-100 kDa)
    assert message.startswith("strip 1 (calnexin):") and "(rows 59-85, 79-100 kDa)" in message
    assert "rows 30, 59, 99, 126, 176, 213, 270 taken as 130, 100, 70, 55, 35, 25, 15 kDa" in message


def test_a_saturation_level_given_flags_every_pixel_at_or_beyond_it():
    """A camera said to clip at 2500: the band peaking at 3000 (membrane 1000 + 2000) is above it on the rows
    near its peak, the others (2000, 1500) are not (only pixels equal to the level were flagged). Not a number:
    refused with the fix."""
    image = _three_lanes(np.uint16)
    bands = quantify_blot(image, n_lanes=3, max_value=2500).bands.sort_values("lane")
    assert bands["saturated"].tolist() == [True, False, False]
    assert bands["saturated_px"].iloc[0] > 0
    with pytest.raises(ValueError, match="max_value must be the finite grey level the camera saturates at, got nan"):
        quantify_blot(image, n_lanes=3, max_value=float("nan"))


def test_a_lysate_only_band_on_a_membrane_above_a_dark_floor_is_read_as_raw():
    """A calnexin blot has its band in the lysate lane only: the off-membrane camera floor filled the low tail
    and the image read as an inverted export; the band was then removed as pen writing and nothing was called."""
    rows = np.arange(600)[:, None]
    image = np.full((600, 700), 200.0)
    image[100:500, 50:650] = 300.0  # the membrane, 100 counts above the camera floor
    image[100:500, 80:140] += 3000.0 * np.exp(-0.5 * ((rows[100:500] - 300) / 5.0) ** 2)  # lane 1 only
    image = np.round(image + np.random.default_rng(0).normal(0, 8, image.shape)).astype(np.uint16)
    names = ["lysate", "exo1", "exo2", "exo3", "exo4", "exo5"]
    res = quantify_blot(image, n_lanes=6, lane_names=names, markers="calnexin")
    assert res.parameters["polarity"] == "bright"
    calls = res.bands.set_index("lane_name")["present"]
    assert calls["lysate"] and not calls.drop("lysate").any()


def test_a_ruler_drawn_across_the_blot_is_no_lane_and_no_band():
    """A ruler (a bar at one grey level with ticks) drawn across the membrane became extra lanes on the pitch of
    its ticks and a row of 'present' bands, and shrank the real lanes' boxes (volumes 5-22 % off)."""
    clean = _three_lanes(np.uint16)
    ruled = np.pad(clean, ((0, 40), (0, 0)), mode="reflect")
    ruled[170:174, 10:270] = 5000
    for x in range(10, 270, 25):
        ruled[174:184, x : x + 2] = 5000
    before = quantify_blot(clean, polarity="bright").bands.sort_values("lane")
    after = quantify_blot(ruled, polarity="bright")
    bands = after.bands.sort_values("lane")
    assert len(after.lanes) == 3 and len(bands) == 3
    np.testing.assert_allclose(bands["volume"], before["volume"], rtol=0.01)
    assert any("a line drawn at one grey level" in w and "rows 168-185" in w for w in after.warnings)


def test_a_lane_count_that_is_no_whole_number_is_refused():
    with pytest.raises(ValueError, match="n_lanes must be a positive whole number of lanes, got 2.5"):
        quantify_blot(_three_lanes(np.uint16), n_lanes=2.5)


def test_a_marker_window_whose_edge_cuts_a_band_is_warned_and_a_volume_far_below_zero_too():
    """blot49 M4: a window ending inside a band row called the same volume present in one lane and absent in the
    next, and a volume of -420 018 (noise SD 256) absent, all without a word."""
    from exo_vision.synthetic.blot import StripSpec, make_synthetic_blot

    blot = make_synthetic_blot(
        [StripSpec("calnexin", [2.0e6, 0.0, 0.0])], lane_names=["lysate", "exo1", "exo2"], lane_width_px=48.0, rng=1
    )
    y = int(blot.truth.y_px.iloc[0])
    kw = dict(polarity=blot.polarity, max_value=blot.max_value, n_lanes=3, markers="calnexin")
    kw["lane_names"] = ["lysate", "exo1", "exo2"]
    cut = quantify_blot(blot.image, marker_windows_px={"calnexin": (y - 60, y)}, **kw)
    (edge,) = [w for w in cut.warnings if "cuts through a band" in w]
    assert edge.startswith(f"strip 1: the calnexin window (rows {y - 60}-{y}) cuts through a band in lane 1 (lysate)")
    assert "bottom edge" in edge and "exo1" not in edge
    (deep,) = [w for w in cut.warnings if "read far below zero" in w]
    assert "strip 1 lane 1 (lysate) band 1 (calnexin)" in deep
    lysate = cut.bands[cut.bands.lane == 1].iloc[0]
    assert lysate.volume < -5 * lysate.noise_sd_volume
    # the whole band inside the window: neither warning
    whole = quantify_blot(blot.image, marker_windows_px={"calnexin": (y - 60, y + 60)}, **kw)
    assert not [w for w in whole.warnings if "cuts through a band" in w or "below zero" in w]
    assert whole.bands.sort_values("lane").present.tolist() == [True, False, False]
