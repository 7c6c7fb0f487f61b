"""Lane-profile bands: the profile's noise SD."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.bands import profile_noise_sd


@pytest.mark.parametrize("order", [1, 2])
def test_noise_of_a_flat_profile_is_its_sd(order):
    noise = np.random.default_rng(0).normal(0, 1.5, 4000)
    assert profile_noise_sd(100 + noise, order=order) == pytest.approx(1.5, rel=0.08)


def test_second_differences_are_not_fooled_by_packed_band_flanks():
    rows = np.arange(400)
    ladder = sum(20 * np.exp(-0.5 * ((rows - y) / 3.0) ** 2) for y in range(20, 380, 8))
    profile = 100 + ladder + np.random.default_rng(1).normal(0, 0.5, rows.size)
    # bands 40 noise SDs high, 8 rows apart: neighbour differences read their flanks as noise
    assert profile_noise_sd(profile, order=2) == pytest.approx(0.5, rel=0.35)
    assert profile_noise_sd(profile, order=1) > 2 * 0.5


def wide_bands_with_a_pen_ladder_lane(pen: bool) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Six lanes (pitch 60 px, 30 px wide) on a membrane; lanes 2-6 hold one band (Gaussian, sigma 7 rows)
    at row 100, lane 1 holds a hand-written ladder: six bright pen dashes 3 rows tall (when ``pen``)."""
    g = np.random.default_rng(3)
    img = g.normal(800.0, 5.0, (200, 400))
    y = np.arange(200)[:, None]
    ranges = [(35.0 + 60 * k, 65.0 + 60 * k) for k in range(6)]
    for a, b in ranges[1:]:
        img[:, int(a) : int(b)] += 3000.0 * np.exp(-0.5 * ((y - 100) / 7.0) ** 2)
    if pen:
        for row in (20, 45, 70, 120, 145, 170):
            img[row : row + 3, 40:60] += 30000.0
    return img.astype(np.float32), ranges


def test_a_pen_ladder_in_one_lane_does_not_set_what_a_band_is_for_the_others():
    from exo_vision.blot.quantify import quantify_blot

    for pen in (False, True):
        img, ranges = wide_bands_with_a_pen_ladder_lane(pen)
        bands = quantify_blot(img, polarity="bright", lane_x_ranges_px=ranges).bands
        sample = bands[(bands.lane > 1) & bands.present]
        assert sorted(sample.lane.tolist()) == [2, 3, 4, 5, 6], (pen, sample)
        assert sample.y_px.to_numpy() == pytest.approx(100.0, abs=1.5)


def test_a_pen_mark_in_one_lane_passes_the_scale_to_the_strongest_band_another_lane_shares():
    from exo_vision.blot.band_rules import band_scale

    rows = np.arange(400.0)
    g = np.random.default_rng(5)

    def lane(height: float, sigma: float) -> np.ndarray:
        return 100 + height * np.exp(-0.5 * ((rows - 200) / sigma) ** 2) + g.normal(0, 2.0, rows.size)

    # lane 1: a thin, very bright pen dash (about 3 rows at half height); lanes 2-3: the strip's two bands
    # (sigma 5 rows: about 12 rows at half height); lanes 4-9: empty lanes of a mottled membrane, whose
    # highest bumps are blotches (about 60 rows at half height) that outnumber the bands
    profiles = [lane(20000, 1.3), lane(3000, 5.0), lane(2800, 5.0)] + [lane(400, 25.0) for _ in range(6)]
    assert band_scale(profiles) == pytest.approx(2.355 * 5.0, abs=2.0)
    # without the dash the strongest band sets it, as always
    assert band_scale(profiles[1:]) == pytest.approx(2.355 * 5.0, abs=2.0)


def test_a_pen_dash_in_the_side_of_two_lanes_does_not_set_theband_scale():
    from exo_vision.blot.band_rules import band_scale

    rows = np.arange(400.0)
    g = np.random.default_rng(6)

    def bump(height: float, sigma: float, centre: float = 200.0) -> np.ndarray:
        return height * np.exp(-0.5 * ((rows - centre) / sigma) ** 2)

    def noisy(p: np.ndarray) -> np.ndarray:
        return 100 + p + g.normal(0, 2.0, rows.size)

    # lanes 1-2: a very bright pen dash (about 4 rows at half height) at row 300 that lies in the left
    # third of both lanes (the same stroke crosses their boundary), so both lanes share its width;
    # lanes 3-6: the strip's bands (sigma 6 rows: about 14 rows at half height), weaker than the dash
    dash, band = bump(20000, 1.7, 300), bump(3000, 6.0)
    profiles = [noisy(dash / 3)] * 2 + [noisy(band) for _ in range(4)]
    sides = [(noisy(dash), noisy(np.zeros_like(rows)))] * 2 + [(noisy(band), noisy(band)) for _ in range(4)]
    assert band_scale(profiles) == pytest.approx(2.355 * 1.7, abs=1.5)  # the dash sets it without sides
    assert band_scale(profiles, sides=sides, min_fill=0.25) == pytest.approx(2.355 * 6.0, abs=2.0)
    # when no lane's bump fills its lane, the vote is as before (no lane is left out)
    assert band_scale(profiles[:2], sides=sides[:2], min_fill=0.25) == pytest.approx(2.355 * 1.7, abs=1.5)


def test_weaker_bands_survive_a_bright_pen_dash_across_two_lanes():
    from exo_vision.blot.quantify import quantify_blot

    # a membrane (800) on the camera floor (300) from column 40; six lanes 40 px wide on a 70 px pitch with one
    # band each at row 120 (sigma 7 rows) of different strengths; a pen dash (3 rows, far brighter than every
    # band) at row 250 drawn across the gap between lanes 1 and 2, into the facing sides of both
    g = np.random.default_rng(3)
    img = g.normal(300.0, 5.0, (320, 520))
    img[20:300, 40:500] = g.normal(800.0, 5.0, (280, 460))
    rows = np.arange(320)[:, None]
    centres = (95, 165, 235, 305, 375, 445)
    for c, height in zip(centres, (2500, 900, 700, 2400, 800, 1000), strict=True):
        img[20:300, c - 20 : c + 20] += height * np.exp(-0.5 * ((rows[20:300] - 120) / 7.0) ** 2)
    img[249:252, 100:160] += 20000.0
    ranges = [(c - 20, c + 20) for c in centres]  # the lanes are given: this is about band calling only
    bands = quantify_blot(img.astype(np.float32), polarity="bright", lane_x_ranges_px=ranges).bands
    at_band = bands[bands.present & (np.abs(bands.y_px - 120) < 4)]
    assert sorted(at_band.lane.unique().tolist()) == [1, 2, 3, 4, 5, 6], bands


def test_a_band_beside_a_slanted_membrane_edge_is_not_a_pen_stroke():
    from exo_vision.blot.quantify import quantify_blot

    # a turned membrane on the camera floor (300): its left edge runs from column 40 at the top to 80 at the
    # bottom, so columns 48-79 are floor for most rows but membrane (800) beside the band row (row 45) of six
    # lanes; lane 1's band must not be taken for a stroke written from the floor over the edge
    g = np.random.default_rng(8)
    yy, xx = np.mgrid[0:300, 0:520]
    on = (xx >= 40 + 40 * yy / 300) & (xx < 500)
    img = g.normal(300.0, 5.0, (300, 520))
    img[on] = g.normal(800.0, 5.0, on.sum())
    centres = (115, 185, 255, 325, 395, 465)
    for c in centres:
        img += 3000.0 * np.exp(-0.5 * ((yy - 45) / 6.0) ** 2) * (np.abs(xx - c) <= 20) * on
    bands = quantify_blot(
        img.astype(np.float32), polarity="bright", lane_x_ranges_px=[(c - 20, c + 20) for c in centres]
    ).bands
    at_band = bands[bands.present]
    assert sorted(at_band.lane.tolist()) == [1, 2, 3, 4, 5, 6]
    assert np.allclose(at_band.y_px, 45, atol=1.5)


def test_pen_strokes_that_cross_the_membrane_edge_into_lane_1_are_not_bands():
    from exo_vision.blot.quantify import quantify_blot

    # camera floor (300) beside a membrane (800) that starts at column 60; five lanes with one band at row
    # 100; a hand-written ladder: four strokes 4 rows tall from the floor (column 35) into lane 1's centre
    g = np.random.default_rng(2)
    img = g.normal(300.0, 5.0, (200, 420))
    img[20:180, 60:400] = g.normal(800.0, 5.0, (160, 340))
    rows = np.arange(200)[:, None]
    for c in (95, 155, 215, 275, 335):
        img[20:180, c - 15 : c + 15] += 3000.0 * np.exp(-0.5 * ((rows[20:180] - 100) / 3.0) ** 2)
    for row in (40, 60, 140, 160):
        img[row : row + 4, 35:100] += 15000.0
    result = quantify_blot(img.astype(np.float32), polarity="bright")
    bands = result.bands[result.bands.present]
    assert sorted(bands.lane.tolist()) == [1, 2, 3, 4, 5]
    assert bands.y_px.to_numpy() == pytest.approx(100.0, abs=1.0)


def test_a_band_spans_its_lane_and_a_dot_does_not():
    from exo_vision.blot.band_rules import spans_lane

    rows, cols = 12, 64
    uniform = np.ones((rows, cols))  # equivalent width 64 of 64 columns
    assert spans_lane(uniform, fraction=0.25)
    ramp = np.tile(np.linspace(1.0, 3.0, cols), (rows, 1))  # twice as strong at one edge: width ~2/3 of the lane
    assert spans_lane(ramp, fraction=0.6) and not spans_lane(ramp, fraction=0.8)
    gapped = uniform.copy()
    gapped[:, 20:44] = 0.0  # transfer failed in the middle: two parts of 20 columns, 40 of 64 in all
    assert spans_lane(gapped, fraction=0.25)
    x = np.arange(cols)
    dot = np.tile(np.exp(-((x - 30) ** 2) / (2 * 2.5**2)), (rows, 1))  # sd 2.5 columns: width about 6 of 64
    assert not spans_lane(dot, fraction=0.25)
    assert spans_lane(dot, fraction=0.0)  # 0 turns the rule off
    # noise only widens: a faint band at 0.4 noise SDs per column is never refused, whatever the noise
    g = np.random.default_rng(0)
    faint = [spans_lane(0.4 / np.sqrt(rows) + g.normal(0, 1, (rows, cols)), fraction=0.25) for _ in range(200)]
    assert all(faint)


def test_a_band_uneven_across_its_lane_clears_its_lod_in_every_third_and_a_dot_does_not():
    from exo_vision.blot.band_rules import clears_every_part, spans_lane
    from exo_vision.blot.detection import NoiseEstimate

    # LoD of a third of a box: mean and floor scale with the pixels, the SD with their square root
    nz = NoiseEstimate(sd_volume=30.0, mean_volume=6.0, n_boxes=40, source="blank boxes")
    assert nz.part_lod(1 / 3) == pytest.approx(2.0 + 3.3 * 30.0 / np.sqrt(3))
    assert NoiseEstimate(1.0, 0.0, 40, "blank boxes", lod_floor=900.0).part_lod(1 / 3) == pytest.approx(300.0)
    with pytest.raises(ValueError, match="share"):
        nz.part_lod(0.0)
    rows, cols = 12, 60
    x = np.arange(cols)
    # 1 per pixel across the lane, 40 more over 4 columns at its right edge: equivalent width 0.16 of the lane
    uneven = np.ones((rows, cols)) + np.tile(40.0 * np.exp(-((x - 57) ** 2) / (2 * 2.0**2)), (rows, 1))
    assert not spans_lane(uneven, fraction=0.25)
    assert clears_every_part(uneven, part_lod=0.8 * rows * cols / 3)  # each third holds 240 or more
    assert not clears_every_part(uneven, part_lod=1.2 * rows * cols / 3)  # under the LoD in the left thirds
    dot = np.tile(40.0 * np.exp(-((x - 57) ** 2) / (2 * 2.0**2)), (rows, 1))
    assert not clears_every_part(dot, part_lod=1.0)  # nothing to detect in two thirds of the lane
    gapped = np.ones((rows, cols))
    gapped[:, 20:40] = 0.0  # nothing transferred in the middle third
    assert not clears_every_part(gapped, part_lod=1.0)
    assert not clears_every_part(np.ones((rows, 2)), part_lod=0.0)  # fewer columns than parts


def test_a_faint_band_of_one_lane_far_above_the_membranes_bumps_keeps_its_row():
    """blot51 F4: a band row whose strongest member is under 4 % of the strip's strongest band is dropped as a
    blotch or cross-reaction, unless it stands 10x above the bare membrane's bumps (the median of the dropped
    rows' candidates): a second band at 2.2 % of the main band of the only loaded lane, 50x the bumps, is kept;
    the bumps (and one 2x their median) are not."""
    from exo_vision.blot.bands import BandCandidate, band_rows
    from exo_vision.blot.lanes import Lane

    lanes = [Lane(1, i + 1, 0, 400, 50.0 + 60 * i, 50.0 + 60 * i, 40.0) for i in range(6)]
    cands = [
        [BandCandidate(100, 160, 130.0, 9000.0, noise_sd=1.0), BandCandidate(230, 290, 260.0, 200.0, noise_sd=1.0)]
    ]
    rng = np.random.default_rng(3)
    for _lane in range(1, 6):
        cands.append(
            [
                BandCandidate(int(y), int(y) + 20, y + 10.0, float(p), noise_sd=0.5)
                for y, p in zip(rng.choice(np.arange(20, 360, 25), 4, replace=False), rng.uniform(3.0, 5.0, 4))
            ]
        )
    cands[1].append(BandCandidate(330, 350, 340.0, 8.0, noise_sd=0.5))
    rows = band_rows(lanes, cands)
    kept = sorted((w.lane.index, w.y_top_px) for row in rows for w in row if w.detected)
    assert kept == [(1, 100), (1, 230)]
