"""8-bit inverted exports: the grey-level staircase, its correction, and what the export still holds."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.parameters import BlotParameters
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.quantisation import expected_quantised, linearise, staircase_noise_sd
from exo_vision.synthetic.blot import make_dilution_series, make_marker_panel, make_random_blot


def test_expected_quantised_by_hand():
    # no rounding bias at an integer or a half level (symmetry)
    assert expected_quantised(np.array([3.0, 3.5]), noise_sd=0.12) == pytest.approx([3.0, 3.5], abs=1e-9)
    # 2.43 with SD 0.12: a pixel rounds up with P = Phi(-0.07 / 0.12) = 0.2798
    assert expected_quantised(np.array([2.43]), noise_sd=0.12)[0] == pytest.approx(2.2798, abs=1e-4)
    # large noise dithers: the mean of rounded values is the value itself
    assert expected_quantised(np.array([2.43]), noise_sd=1.0)[0] == pytest.approx(2.43, abs=1e-3)


@pytest.mark.parametrize("noise_sd", [0.08, 0.12, 0.25])
def test_linearise_inverts_the_staircase(noise_sd):
    x = np.linspace(1.0, 4.0, 301)
    back = linearise(expected_quantised(x, noise_sd=noise_sd), noise_sd=noise_sd)
    # exact wherever the noise dithers; on a plateau (every pixel rounds to L) the midpoint L
    dithered = np.abs(x - np.round(x)) > 0.5 - 3.5 * noise_sd
    np.testing.assert_allclose(back[dithered], x[dithered], atol=0.01)
    assert np.all(np.abs(back - x) <= 0.5 - 2.0 * noise_sd + 0.01)
    # integers (plateau means) stay integers, even for a noise too small to dither at all
    assert linearise(np.array([2.0, 7.0]), noise_sd=0.01) == pytest.approx([2.0, 7.0], abs=1e-6)


def _quantised_lanes(noise_sd, *, rng=0, n_lanes=8):
    """Straightened 8-bit lanes: Gaussian bands (gentle flanks) of several heights on a 2.3-level background."""
    rng = np.random.default_rng(rng)
    rows = np.arange(240)[:, None]
    lanes = []
    for i in range(n_lanes):
        level = 2.3 + (1.5 + 1.3 * i) * np.exp(-0.5 * ((rows - 120) / (8.0 + i)) ** 2)
        lanes.append(np.round(level + rng.normal(0, noise_sd, (240, 26))))
    return lanes


@pytest.mark.parametrize("noise_sd", [0.08, 0.15])
def test_staircase_noise_sd_is_measured_on_band_flanks(noise_sd):
    # Rough by design (documented in exo_vision.blot.quantisation): the band tails that sweep
    # gently through the levels hug the background, so their phases are not evenly spread;
    # here (background 0.2 below a half level) it reads high, within a factor of ~2.5.
    estimate = staircase_noise_sd(_quantised_lanes(noise_sd))
    assert noise_sd <= estimate <= 2.6 * noise_sd
    assert staircase_noise_sd(_quantised_lanes(0.04)) < estimate


def test_staircase_noise_sd_is_none_when_noise_dithers_or_nothing_sweeps():
    assert staircase_noise_sd(_quantised_lanes(0.8)) is None  # dithered by its own noise
    flat = [np.round(2.3 + np.random.default_rng(0).normal(0, 0.1, (240, 26)))]
    assert staircase_noise_sd(flat) is None  # no band flank: not measurable


def _worst_dilution_deviation(result, blot):
    vols = []
    for t in blot.truth.itertuples():
        if t.saturated:
            continue
        row = result.bands[(result.bands.lane == t.lane)]
        vols.append((float(row.volume.iloc[0]), t.true_volume))
    ratio = np.array([v / t for v, t in vols])
    return float(np.max(np.abs(ratio / np.median(ratio) - 1)))


def test_8bit_dilution_series_no_longer_biased_by_rounding():
    # Seed 4: the faintest lane (peak 4.3 grey levels) sits on a background of 2.43 levels that
    # reads as 2.28; every band pixel gained ~0.15 level and lane 8 came out ~25 % high.
    blot = make_dilution_series(rng=4, export="inverted8")
    fixed = quantify_blot(blot.image, polarity="dark", max_value=0.0, markers="target")
    plain = quantify_blot(
        blot.image,
        polarity="dark",
        max_value=0.0,
        markers="target",
        lanes=fixed.lanes,
        params=BlotParameters(undo_staircase=False),
    )
    assert fixed.parameters["staircase_noise_sd"] == pytest.approx(blot.pixel_noise_sd, rel=0.5)
    assert any("below one grey level" in w for w in fixed.warnings)
    # the uncorrected faintest lane reads high (> 0.2 with the former lane-slab windows; with windows
    # on each band's own peak extent the bias is smaller but still larger than after the correction)
    assert _worst_dilution_deviation(plain, blot) > _worst_dilution_deviation(fixed, blot)
    assert _worst_dilution_deviation(fixed, blot) < 0.1


def test_16bit_images_are_not_touched():
    blot = make_dilution_series(rng=4, export="raw")
    found = quantify_blot(blot.image, polarity="bright", max_value=blot.max_value, markers="target")
    result = quantify_blot(blot.image, polarity="bright", max_value=blot.max_value, markers="target", lanes=found.lanes)
    assert result.parameters["staircase_noise_sd"] is None
    same = quantify_blot(
        blot.image,
        polarity="bright",
        max_value=blot.max_value,
        markers="target",
        lanes=found.lanes,
        params=BlotParameters(undo_staircase=False),
    )
    np.testing.assert_array_equal(result.bands.volume.to_numpy(), same.bands.volume.to_numpy())


def test_visible_in_export_truth():
    # Random blot 208, strip 3: four faint smears (0.18-0.55 grey level at their peak) whose noise-free
    # export rounds to the background's level everywhere, on a background with 0.12-level noise:
    # the export keeps < 25 % of their signal, so they are present but not visible in the export.
    blot = make_random_blot(rng=208, export="inverted8")
    truth = blot.truth
    hidden = truth[truth.present & ~truth.visible_in_export]
    assert sorted(zip(hidden.strip, hidden.lane)) == [(3, 7), (3, 8), (3, 9), (3, 11)]
    assert blot.pixel_noise_sd == pytest.approx(0.12, abs=0.01)
    assert (hidden.true_volume * blot.counts_per_raw_count < 500).all()  # grey levels x px
    assert not truth[~truth.present].visible_in_export.any()
    # the noise-free export really holds nothing of them: same grey level with and without the band
    for t in hidden.itertuples():
        lo, hi = t.strip_y_top_px, t.strip_y_bottom_px
        cols = slice(int(t.x_centre_px - t.lane_width_px / 2), int(t.x_centre_px + t.lane_width_px / 2))
        rendered = np.round(blot.noise_free[lo:hi, cols].astype(np.float64))
        without = np.round(blot.noise_free[lo:hi, cols].astype(np.float64) + blot.band_signal[lo:hi, cols])
        np.testing.assert_array_equal(rendered, without)
    # the 16-bit raw image shows every present band
    raw = make_random_blot(rng=208, export="raw").truth
    assert (raw.visible_in_export == raw.present).all()


def test_white_noise_floor_of_the_blank_volume_by_hand():
    from exo_vision.blot.detection import free_pixel_noise_sd, white_noise_volume_sd

    rng = np.random.default_rng(1)
    lanes = [rng.normal(100.0, 2.0, (400, 20)) for _ in range(4)]
    lanes[0][100:130] += 500.0  # a band: its rows are left out
    sd_px = free_pixel_noise_sd(lanes, [[(100, 130)], [], [], []])
    assert sd_px == pytest.approx(2.0, rel=0.03)
    # 2 x sqrt(30 x 20 x (1 + 30 / 6)) = 120
    assert white_noise_volume_sd(2.0, height_px=30, width_px=20, method="profile", border_px=3) == pytest.approx(120.0)
    assert white_noise_volume_sd(2.0, height_px=30, width_px=20, method="rolling_ball") == pytest.approx(
        2.0 * np.sqrt(600)
    )


def test_empty_calnexin_windows_of_an_8bit_panel_stay_absent():
    # Regression (generated 8-bit panel, seed 101): 15 overlapping blank boxes read a volume SD of 26
    # where the pixel noise alone gives 42, so an empty calnexin window in exo2 (98, i.e. 3.8 "SD")
    # was called present. The LoD now never falls below the pixel-noise model.
    from exo_vision.blot.strips import Strip

    blot = make_marker_panel(rng=101, export="inverted8")
    first = blot.truth.groupby("strip").first()
    strips = [
        Strip(int(i), int(t.strip_y_top_px), int(t.strip_y_bottom_px), 0, blot.image.shape[1])
        for i, t in first.iterrows()
    ]
    xs = blot.truth.groupby("lane").x_centre_px.first().to_numpy()
    result = quantify_blot(
        blot.image,
        polarity="dark",
        max_value=0.0,
        markers=["CD9", "CD63", "calnexin"],
        strips=strips,
        lane_x_ranges_px=[(x - 24, x + 24) for x in xs],
    )
    calnexin = result.bands[result.bands.marker == "calnexin"].set_index("lane")
    assert calnexin.loc[1, "present"]
    assert not calnexin.loc[2, "present"] and not calnexin.loc[3, "present"]
    assert (calnexin.noise_sd_volume > 35).all()


def test_faint_8bit_lanes_next_to_a_saturated_lane_are_found():
    # Seed 200, 8-bit: strip 1 holds a saturated lane that sets the export's range, a faint band
    # (export keeps ~78 % of it, under one grey level high: a patchy scatter of one-level pixels)
    # and a band the export loses; strip 2 has only faint lanes (a smear and a sharp band).
    blot = make_random_blot(rng=200, export="inverted8")
    # the strips' band rows are requested (markers): a faint band is called at its row's position
    res = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=["m1", "m2"])
    truth = blot.truth
    for strip in (1, 2):
        lanes = sorted((lane for lane in res.lanes if lane.strip == strip), key=lambda lane: lane.x_centre_px)
        true_x = truth[truth.strip == strip].sort_values("lane").x_centre_px.to_numpy()
        assert len(lanes) == true_x.size == 3
        err = np.abs(np.array([lane.x_centre_px for lane in lanes]) - true_x)
        # every lane within half a lane width; the lanes whose bands the export shows within a quarter
        assert err.max() < 0.5 * lanes[0].width_px
        shown = truth[truth.strip == strip].sort_values("lane").visible_in_export.to_numpy()
        assert err[shown].max() < 0.25 * lanes[0].width_px
    faint = truth[(truth.strip == 1) & (truth.lane == 2)].iloc[0]
    assert faint.visible_in_export and not faint.saturated
    band = res.bands[(res.bands.strip == 1) & (res.bands.lane == 2)]
    assert band.present.any()


def test_quantisation_step_of_integer_and_float_exports():
    from exo_vision.blot.quantisation import quantisation_step

    levels = np.arange(120).reshape(10, 12) % 40
    assert quantisation_step(levels.astype(np.uint8)) == 1.0
    assert quantisation_step((levels * 257).astype(np.uint16)) == 257.0  # an 8-bit export widened to 16 bits
    assert quantisation_step((levels / 255).astype(np.float32)) == pytest.approx(1 / 255)
    assert quantisation_step(np.random.default_rng(0).random((10, 12))) is None
    # a noise-free drawing of two values is no export in steps of 50
    drawn = np.where(levels > 20, 150, 100)
    assert quantisation_step(drawn.astype(np.uint8)) == 1.0 and quantisation_step(drawn.astype(float)) is None


def test_a_plateau_bounds_the_lod_by_what_rounding_can_hide():
    """blot49 H3: blank boxes of a membrane on one grey level all read 0; their spread gave an LoD of ~0.95 x
    sqrt(N) (64 grey level x px over 4560 pixels), while a band adding under half a level to each pixel
    rounds away everywhere (up to 2280)."""
    from exo_vision.blot.detection import NoiseEstimate, quantisation_floors

    box = np.full((80, 57), 225.0)
    band = 0.45 * np.exp(-0.5 * ((np.arange(80)[:, None] - 40) / 12.0) ** 2) * np.ones((1, 57))
    assert (np.round(box + band) == box).all()  # 0.45 x peak over the box: not one pixel changes
    hidden = float(band.sum())
    flat = NoiseEstimate(0.0, 0.0, 20, "blank boxes")
    nz = quantisation_floors(flat, n_pixels=box.size, step=1.0)
    assert nz.sd_volume == pytest.approx(np.sqrt(box.size / 12)) and nz.lod_floor == 0.5 * box.size
    assert nz.lod() == 0.5 * box.size > hidden and "rounding floor" in nz.source
    # wider steps scale both floors; blank boxes that vary more than rounding does keep their own LoD
    assert quantisation_floors(flat, n_pixels=box.size, step=257.0).lod() == 257.0 * 0.5 * box.size
    noisy = NoiseEstimate(200.0, 3.0, 20, "blank boxes")
    assert quantisation_floors(noisy, n_pixels=box.size, step=1.0) is noisy and noisy.lod() == 3.0 + 3.3 * 200.0


def test_levels_present_equal_numpy_bincount():
    from exo_vision.blot.quantisation import _levels_present

    rng = np.random.default_rng(57)
    for dtype in (np.uint8, np.uint16):
        top = np.iinfo(dtype).max
        for shape in [(1, 1), (4, 9), (300, 401)]:
            image = rng.integers(0, top + 1, shape).astype(dtype)
            image.flat[0] = top
            for view in (image, image[:, ::2], image.astype(image.dtype.newbyteorder(">"))):
                np.testing.assert_array_equal(_levels_present(view), np.flatnonzero(np.bincount(view.ravel())))
    # hand-made: an 8-bit export widened to 16 bits holds multiples of 257
    widened = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 257)[:, ::2]
    assert _levels_present(widened).tolist() == [0, 514, 1028, 1542, 2056, 2570]
