"""Gel handling: the gel's extent, its well rows and comb tiers; no band on wells or off the gel."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exo_vision.blot.gel import find_gel_layout, lane_wide, quantify_gel, regular_wells, sheared, steepness
from exo_vision.blot.parameters import BlotParameters

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
GELS = DATA / "gels" / "lab_gels_with_masks"

#: synthetic gel: rows / columns of the gel in the frame, the two well rows, the lane pitch.
GEL_Y, GEL_X = (40, 400), (60, 520)
WELL_ROWS = ((70, 80), (230, 240))
PITCH, WELL_W, N_LANES = 50, 26, 8
#: planted bands: (tier, lane, centre row)
BANDS = ((0, 0, 140), (0, 2, 180), (0, 5, 120), (1, 1, 300), (1, 4, 340), (1, 7, 280))


def lane_centre(k: int) -> int:
    return GEL_X[0] + 45 + PITCH * k


def synthetic_gel(rng: int = 0, *, slot: float = 35.0, rim: float = 110.0) -> np.ndarray:
    """A 2-comb gel (GelRed-like, bands bright) in a dark surround, a bright glove at the left border.

    The gel is at level 80; its wells are dark slots at ``slot`` inside bright rims at ``rim``.
    """
    g = np.random.default_rng(rng)
    img = np.full((440, 560), 6.0)
    img[GEL_Y[0] : GEL_Y[1], GEL_X[0] : GEL_X[1]] = 80.0
    img[:, :40] = 255.0  # glove
    for a, b in WELL_ROWS:
        for k in range(N_LANES):
            c = lane_centre(k)
            img[a - 2 : b + 2, c - WELL_W // 2 - 2 : c + WELL_W // 2 + 2] = rim  # bright rim
            img[a:b, c - WELL_W // 2 : c + WELL_W // 2] = slot  # dark slot
    yy = np.arange(img.shape[0])[:, None]
    xx = np.arange(img.shape[1])[None, :]
    for _, k, y in BANDS:
        c = lane_centre(k)
        img += 150.0 * np.exp(-0.5 * ((yy - y) / 3.0) ** 2) * (np.abs(xx - c) < WELL_W // 2)
    img += g.normal(0, 2.0, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def lane_bands(result, *, strip: int, lane: int) -> pd.DataFrame:
    """The reported (present) bands of one lane of a quantify result."""
    b = result.bands
    return b[b.present & (b.strip == strip) & (b.lane == lane)]


def on_wells(bands, wells, margin: int) -> list[float]:
    return [y for y in bands.y_px for a, b in wells if a - margin <= y < b + margin]


def test_synthetic_gel_gives_two_tiers_with_lanes_from_the_wells():
    layout = find_gel_layout(synthetic_gel(), polarity="bright")
    y0, y1, x0, x1 = layout.box_px
    assert abs(y0 - GEL_Y[0]) <= 3 and abs(y1 - GEL_Y[1]) <= 3
    assert abs(x0 - GEL_X[0]) <= 3 and abs(x1 - GEL_X[1]) <= 3  # glove and surround dropped
    assert len(layout.well_rows_px) == 2
    for (a, b), (ta, tb) in zip(layout.well_rows_px, WELL_ROWS):
        assert abs(a - ta) <= 3 and abs(b - tb) <= 3
    assert len(layout.tiers) == 2
    assert layout.tiers[0].y_top_px > WELL_ROWS[0][1] and layout.tiers[0].y_bottom_px < WELL_ROWS[1][0]
    assert layout.tiers[1].y_top_px > WELL_ROWS[1][1]
    for wells in layout.tier_wells_px:
        assert len(wells) == N_LANES
        assert np.allclose([(a + b - 1) / 2 for a, b in wells], [lane_centre(k) for k in range(N_LANES)], atol=2)


def test_a_glove_behind_a_narrow_dark_gap_is_not_gel():
    # a grey, mottled glove (no pixel at the image's top level) fills the frame's left, parted from the
    # gel by a dark gap of 12 columns: narrower than the 3 % of the width (17 columns) that would end the
    # gel as a plain off run; 17 of every 20 rows of those columns are the dark surround
    img = synthetic_gel().astype(float)
    glove = 60.0 + 40.0 * np.random.default_rng(3).random((img.shape[0], GEL_X[0] - 12))
    img[:, : GEL_X[0] - 12] = glove
    img[:, GEL_X[0] - 12 : GEL_X[0]] = 6.0
    for y in range(0, img.shape[0], 20):
        img[y : y + 3, GEL_X[0] - 12 : GEL_X[0]] = 80.0  # lit specks across the gap
    img = np.clip(img, 0, 255).round().astype(np.uint8)
    assert abs(find_gel_layout(img, polarity="bright").box_px[2] - GEL_X[0]) <= 3
    # when the gap must be darker all along than it is, it is read as a row of wells or a scratch: the
    # glove stays in the gel's box
    params = BlotParameters(gel_gap_off_fraction=0.95)
    assert find_gel_layout(img, polarity="bright", params=params).box_px[2] < GEL_X[0] - 12


def test_a_round_diffuse_gel_band_several_times_a_ladder_bands_height_is_kept():
    img = synthetic_gel().astype(float)
    yy = np.arange(img.shape[0])[:, None]
    xx = np.arange(img.shape[1])[None, :]
    blob = 90.0 * np.exp(-0.5 * (((yy - 160) / 14.0) ** 2 + ((xx - lane_centre(6)) / 14.0) ** 2))
    img = np.clip(img + blob, 0, 255).round().astype(np.uint8)  # ~33 rows at half height; the bands 7
    found = lane_bands(quantify_gel(img, polarity="bright"), strip=1, lane=7)
    assert len(found) == 1 and abs(float(found.y_px.iloc[0]) - 160) <= 3
    # a western blot strip's rule (bands of one antibody are alike) drops it as a blotch
    dropped = quantify_gel(img, polarity="bright", params=BlotParameters(gel_drop_tall_bands=True))
    assert lane_bands(dropped, strip=1, lane=7).empty


def test_a_glove_on_a_dark_bench_beside_the_gel_is_not_gel():
    # a glove comes in over the frame's left: saturated above, its shaded side at the gel's level (80)
    # further down, the dark bench below; each of those columns has its median at a gel's level
    img = synthetic_gel(3).astype(np.float64)
    img[:, : GEL_X[0]] = 6.0
    img[:150, : GEL_X[0]] = 255.0
    img[150:220, : GEL_X[0]] = 80.0
    layout = find_gel_layout(img.astype(np.uint8), polarity="bright")
    y0, y1, x0, x1 = layout.box_px
    assert abs(x0 - GEL_X[0]) <= 3 and abs(x1 - GEL_X[1]) <= 3
    assert abs(y0 - GEL_Y[0]) <= 3 and abs(y1 - GEL_Y[1]) <= 3
    assert all(len(wells) == N_LANES for wells in layout.tier_wells_px)


def test_a_grey_glove_beyond_a_dark_gap_is_not_gel():
    # a glove at the gel's own grey level lies at the frame's left, a 30 px dark gap between it and the
    # gel: no column of the glove is off the gel, but the gap parts it from the gel over the centre
    g = np.random.default_rng(5)
    img = synthetic_gel(5).astype(np.float64)
    img[:, : GEL_X[0] - 30] = 80.0 + g.normal(0, 4.0, (img.shape[0], GEL_X[0] - 30))
    img[:, GEL_X[0] - 30 : GEL_X[0]] = 6.0
    layout = find_gel_layout(np.clip(img, 0, 255).astype(np.uint8), polarity="bright")
    y0, y1, x0, x1 = layout.box_px
    assert abs(x0 - GEL_X[0]) <= 3 and abs(x1 - GEL_X[1]) <= 3
    assert abs(y0 - GEL_Y[0]) <= 3 and abs(y1 - GEL_Y[1]) <= 3
    assert all(len(wells) == N_LANES for wells in layout.tier_wells_px)
    assert all(t.x_left_px >= GEL_X[0] for t in layout.tiers)


def test_a_saturated_band_row_at_the_gels_dim_top_stays_in_the_gel():
    # the gel's top left is dim (below the surround threshold) and its top band row saturated: those rows
    # are 28 % dark and 37 % saturated band; the bands lie inside the gel, so they are gel, not a glove
    img = synthetic_gel(4).astype(np.float64)
    top = GEL_Y[0]
    img[top : top + 30, GEL_X[0] : GEL_X[0] + 200] = 20.0
    for k in range(N_LANES):
        c = lane_centre(k)
        img[top + 8 : top + 22, c - WELL_W // 2 : c + WELL_W // 2] = 255.0
    y0, y1, x0, x1 = find_gel_layout(img.astype(np.uint8), polarity="bright").box_px
    assert y0 <= top + 8  # the band row is kept
    assert abs(x0 - GEL_X[0]) <= 3 and abs(x1 - GEL_X[1]) <= 3  # the glove at the left border is not


def test_a_tilted_comb_is_followed_and_still_gives_one_well_per_lane():
    # the gel tilted 1.5 degrees: its comb runs ~12 rows down across the gel, more than a well is tall
    slope = 0.026
    tilted = sheared(synthetic_gel(1), -slope)
    layout = find_gel_layout(tilted, polarity="bright")
    assert abs(layout.comb_slope - slope) <= 0.004
    assert len(layout.well_rows_px) == 2
    for wells in layout.tier_wells_px:
        assert len(wells) == N_LANES
        assert np.allclose([(a + b - 1) / 2 for a, b in wells], [lane_centre(k) for k in range(N_LANES)], atol=2)


def test_shallow_wells_are_read_at_a_smaller_depth():
    # rimless slots 7 levels under the gel (80): 0.0875 of its level, under well_min_depth_fraction = 0.1
    shallow = synthetic_gel(2, slot=73.0, rim=80.0)
    assert (
        find_gel_layout(shallow, polarity="bright", params=BlotParameters(well_depth_search_step=1.0)).well_rows_px
        == []
    )
    layout = find_gel_layout(shallow, polarity="bright")  # also read at 0.1 / sqrt(2)
    assert len(layout.well_rows_px) == 2
    for wells in layout.tier_wells_px:
        assert len(wells) == N_LANES
    with pytest.raises(ValueError, match="well_depth_search_step"):
        BlotParameters(well_depth_search_step=0.5)


def test_regular_wells_fill_a_hidden_well_and_drop_pieces_of_one():
    # wells 20 px wide every 30 px; the one at 90-110 is hidden, the one at 120-140 is broken in two pieces
    runs = [(0, 20), (30, 50), (60, 80), (120, 127), (131, 140), (150, 170)]
    assert regular_wells(runs) == [(0, 20), (30, 50), (60, 80), (90, 110), (120, 140), (150, 170)]
    # too few whole wells to set a grid: the runs stand
    assert regular_wells([(0, 20), (40, 47), (90, 110)]) == [(0, 20), (40, 47), (90, 110)]


def test_synthetic_gel_reports_its_bands_and_nothing_on_wells_or_off_the_gel():
    res = quantify_gel(synthetic_gel(), polarity="bright", image_name="synthetic gel")
    bands = res.bands[res.bands.present]
    assert len(bands) == len(BANDS)
    for tier, k, y in BANDS:
        hit = bands[(bands.strip == tier + 1) & (bands.lane == k + 1)]
        assert len(hit) == 1 and abs(float(hit.y_px.iloc[0]) - y) <= 2
    assert not on_wells(bands, WELL_ROWS, margin=5)
    assert (bands.x_left_px >= GEL_X[0]).all() and (bands.x_right_px <= GEL_X[1]).all()


def test_a_comb_repeats_at_its_pitch_a_dark_stripe_does_not():
    from exo_vision.blot.gel import comb_periodicity

    x = np.arange(600)
    comb = ((x % 40) < 24).astype(float)  # wells 24 px wide at a 40 px pitch
    strength = comb_periodicity(comb, 12, 200)
    assert strength > 1.2
    # depth does not matter, only the pitch: a faint comb scores the same
    assert comb_periodicity(0.01 * comb, 12, 200) == pytest.approx(strength)
    assert comb_periodicity(comb, 12, 30) == 0.0  # no pitch in the range
    # a dark stripe over part of the row, a smooth dip and noise have no pitch
    stripe = ((x > 100) & (x < 450)).astype(float)
    dip = np.exp(-(((x - 300) / 120.0) ** 2))
    noise = np.random.default_rng(1).normal(size=x.size)
    for profile in (stripe, dip, noise):
        assert comb_periodicity(profile, 12, 200) < 0.3
    assert comb_periodicity(np.ones(600), 12, 200) == 0.0


def test_a_weak_comb_counts_on_the_pitch_of_the_gels_sure_comb():
    from exo_vision.blot.gel import combs_on_one_pitch

    params = BlotParameters()
    x = np.arange(600)
    noise = np.random.default_rng(0).normal(size=x.size)
    sure = ((x % 40) < 24).astype(float)  # wells 24 px wide at a 40 px pitch
    weak = sure + 0.9 * noise  # the same comb, half drowned
    elsewhere = ((x % 70) < 40).astype(float) + 0.8 * noise  # as weak, at another pitch
    grid = [(40 * k, 40 * k + 24) for k in range(15)]
    bar = params.well_min_periodicity
    from exo_vision.blot.gel import comb_periodicity

    for profile in (weak, elsewhere):  # both under the bar, over the margin
        assert bar / params.well_depth_search_step < comb_periodicity(profile, 12, 200) < bar
    assert combs_on_one_pitch([sure, weak], [grid, grid], params) == [0, 1]
    assert combs_on_one_pitch([sure, elsewhere], [grid, grid], params) == [0]
    assert combs_on_one_pitch([weak], [grid], params) == []  # no sure comb to lean on
    assert combs_on_one_pitch([], [], params) == []


def test_a_second_comb_beside_a_bright_speck_counts_on_the_sure_combs_pitch():
    from exo_vision.blot.gel import comb_periodicity, combs_on_one_pitch

    params = BlotParameters()
    x = np.arange(600)
    rng = np.random.default_rng(0)
    wells = (x % 40) < 24  # wells 24 px wide at a 40 px pitch
    grid = [(40 * k, 40 * k + 24) for k in range(15)]
    sure = 0.15 * wells
    second = 0.1 * wells + 0.01 * rng.normal(size=x.size)
    second[300:306] = 1.2  # beside one well a bright speck: the closing takes it in, 12x a well's depth
    # by depth the speck's columns outweigh the 15 wells: the row does not repeat at the pitch
    assert comb_periodicity(second, 28, 52) < params.well_min_periodicity / params.well_depth_search_step
    assert combs_on_one_pitch([sure, second], [grid, grid], params) == [0, 1]
    # a row at another pitch with the same speck stays out
    elsewhere = 0.1 * ((x % 70) < 40) + 0.01 * rng.normal(size=x.size)
    elsewhere[300:306] = 1.2
    assert combs_on_one_pitch([sure, elsewhere], [grid, grid], params) == [0]


def test_evenly_cut_slots_are_a_comb_whatever_their_depth_profile():
    from exo_vision.blot.gel import comb_periodicity, comb_pitches, evenly_cut

    params = BlotParameters()
    # seven wells of 50-58 px at a 70 px pitch, the slot between the 3rd and 4th not read (two pitches)
    centres = [100, 170, 240, 380, 450, 520, 590]
    wells = [(c - w // 2, c + w - w // 2) for c, w in zip(centres, (54, 50, 58, 55, 52, 56, 53))]
    assert evenly_cut(wells, params)
    assert not evenly_cut(wells[:4], params)  # four slots: too few to call a comb by their look alone
    assert not evenly_cut([*wells[:3], (336, 424), *wells[4:]], params)  # one run 88 px wide: not a slot
    assert not evenly_cut([*wells[:4], (439, 491), *wells[5:]], params)  # one slot 15 px off: spacings 85, 55
    # a weakly repeating row (wells half drowned in noise) is a comb when its slots are even; one that
    # does not repeat (the gaps between two rows of bands of unequal strength) is not, however even
    x = np.arange(700)
    noise = np.random.default_rng(0).normal(size=x.size)
    weak, flat = ((x % 70) < 54) + 0.6 * noise, ((x % 70) < 54) + 1.5 * noise
    bar = params.well_min_periodicity
    assert bar / params.well_depth_search_step < comb_periodicity(weak, 12, 700 / 3) < bar
    assert comb_periodicity(flat, 12, 700 / 3) < bar / params.well_depth_search_step
    assert comb_pitches([weak], [wells], params) == {}
    assert comb_pitches([weak], [wells], params, [True]) == {0: None}
    assert comb_pitches([flat], [wells], params, [True]) == {}


def test_a_band_runs_across_its_lane_a_speck_does_not():
    signal = np.full((60, 100), 10.0)
    signal[10:16, 5:45] += 50.0  # a band across its 40 px lane box
    signal[40:46, 58:64] += 200.0  # a 6 px speck in the next lane box, more volume than the band
    bands = pd.DataFrame(
        dict(
            y_top_px=[8, 38],
            y_bottom_px=[18, 48],
            x_left_px=[5, 55],
            x_right_px=[45, 95],
            background_per_px=[10.0, 10.0],
        )
    )
    assert lane_wide(signal, bands).tolist() == [True, False]
    # width decides, not brightness: the same spot over 25 of the 40 px runs across the lane
    signal[40:46, 58:83] += 200.0
    assert lane_wide(signal, bands).tolist() == [True, True]


def test_a_sharp_band_is_steep_a_glow_as_high_is_not():
    rows = np.arange(200)[:, None]
    signal = np.full((200, 60), 10.0)
    signal[:, :30] += 80.0 * np.exp(-0.5 * ((rows - 50) / 3.0) ** 2)  # a band: 7 rows at half height
    signal[:, 30:] += 80.0 * np.exp(-0.5 * ((rows - 120) / 30.0) ** 2)  # glow: 70 rows at half height
    bands = pd.DataFrame(dict(y_top_px=[35, 40], y_bottom_px=[65, 200], x_left_px=[0, 30], x_right_px=[30, 60]))
    sharp, glow = steepness(signal, bands)
    assert 8 <= sharp <= 13  # ~80 over 7 rows
    assert glow < sharp / 8


def test_a_gel_without_a_gel_area_is_a_clear_error():
    flat = np.full((100, 100), 20, np.uint8)
    params = BlotParameters(min_tier_height_fraction=1.0)
    with pytest.raises(ValueError, match="no gel area below the wells"):
        quantify_gel(flat, polarity="bright", params=params, image_name="flat")


@pytest.mark.skipif(not GELS.is_dir(), reason=f"real gels not present at {GELS}")
def test_real_two_comb_gel_has_two_tiers_and_no_band_on_its_wells_or_off_it():
    from PIL import Image

    grey = np.asarray(Image.open(GELS / "Pair_2and3 Wk9 GelRed.jpg").convert("L"))
    layout = find_gel_layout(grey)
    assert len(layout.tiers) == 2
    # the two combs sit at about rows 140-160 and 515-540 (read off the image); a well row is found at each
    for row in (150, 525):
        assert any(a - 15 <= row < b + 15 for a, b in layout.well_rows_px)
    res = quantify_gel(grey, image_name="Pair_2and3 Wk9")
    bands = res.bands[res.bands.present]
    assert len(bands) > 10
    assert not on_wells(bands, [w for w in layout.well_rows_px if 100 < w[0] < 900], margin=10)
    y0, y1, x0, x1 = layout.box_px
    assert y0 > 5 and y1 < grey.shape[0] - 50  # the dark band below the gel is off it
    inside = (bands.y_top_px >= y0) & (bands.y_bottom_px <= y1) & (bands.x_left_px >= x0) & (bands.x_right_px <= x1)
    assert inside.all()


def packed_ladder_gel() -> tuple[np.ndarray, list[int]]:
    """The synthetic gel plus a ladder of ten bands 8 rows apart (valleys ~15 % deep) in tier 1, lane 4."""
    img = synthetic_gel().astype(float)
    yy = np.arange(img.shape[0])[:, None]
    xx = np.arange(img.shape[1])[None, :]
    rows = list(range(110, 190, 8))
    for y in rows:
        img += 60.0 * np.exp(-0.5 * ((yy - y) / 3.0) ** 2) * (np.abs(xx - lane_centre(3)) < WELL_W // 2)
    return np.clip(img, 0, 255).round().astype(np.uint8), rows


def test_a_packed_ladder_is_resolved_into_its_bands():
    img, rows = packed_ladder_gel()
    res = quantify_gel(img, polarity="bright")
    bands = res.bands[res.bands.present]
    ladder = bands[(bands.strip == 1) & (bands.lane == 4)]
    assert np.allclose(sorted(ladder.y_px), rows, atol=1.5)
    assert len(bands) == len(BANDS) + len(rows)  # nothing else added
    # read against neighbour differences, the ladder's flanks count as noise and no band clears it
    old = quantify_gel(img, polarity="bright", params=BlotParameters(gel_profile_noise_difference_order=1))
    assert len(old.bands[old.bands.present & (old.bands.strip == 1) & (old.bands.lane == 4)]) < len(rows)


def gel_with_lane_bands(peaks: list[tuple[float, float, float]], lane: int = 3) -> np.ndarray:
    """The synthetic gel plus Gaussian bands ``(centre row, height, SD rows)`` in tier 1, lane ``lane`` + 1."""
    img = synthetic_gel().astype(float)
    yy = np.arange(img.shape[0])[:, None]
    xx = np.arange(img.shape[1])[None, :]
    for y, height, sd in peaks:
        img += height * np.exp(-0.5 * ((yy - y) / sd) ** 2) * (np.abs(xx - lane_centre(lane)) < WELL_W // 2)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def test_a_doublet_parted_by_a_clear_dip_is_two_bands():
    # two fragments 9 rows apart (SD 3 rows): the valley between them is only ~17 % below the weaker, far
    # above the blots' merge fraction (0.7 of the lower peak), but ~20 profile-noise SDs deep
    img = gel_with_lane_bands([(150, 70, 3.0), (159, 55, 3.0)])
    found = lane_bands(quantify_gel(img, polarity="bright"), strip=1, lane=4)
    assert len(found) == 2
    assert np.allclose(sorted(found.y_px), [150, 159], atol=1.5)
    # as one smear's bumps (the blots' rule) they are one band
    merged = quantify_gel(img, polarity="bright", params=BlotParameters(gel_split_clear_dips=False))
    assert len(lane_bands(merged, strip=1, lane=4)) == 1


def test_a_weak_bump_on_a_bands_flank_stays_part_of_the_band():
    # a bump 12 rows above a strong band (its glow): a maximum of its own, the dip below it over 6 profile-noise
    # SDs deep (without the quarter rule it is a band of its own), but it rises above the dip less than a
    # quarter as far as the band does
    img = gel_with_lane_bands([(160, 120, 3.0), (148, 30, 4.0)])
    found = lane_bands(quantify_gel(img, polarity="bright"), strip=1, lane=4)
    assert len(found) == 1 and abs(float(found.y_px.iloc[0]) - 160) <= 3


def test_clipped_maxima_are_parted_by_the_valley_rule_only():
    # two bands 9 rows apart, each clipped at 255 over its central rows: the valley reads ~0.74 of the clipped
    # maxima (the blots' rule keeps them one) and its dip is clear, but clipping set those maxima's heights
    img = gel_with_lane_bands([(150, 200, 3.0), (159, 200, 3.0)])
    assert (img == 255).any()
    found = lane_bands(quantify_gel(img, polarity="bright"), strip=1, lane=4)
    assert len(found) == 1


@pytest.mark.skipif(not GELS.is_dir(), reason=f"real gels not present at {GELS}")
def test_real_ladder_bands_eight_rows_apart_are_each_a_band():
    # development gel Pair_2and3 Wk9, tier 1, ladder lane 2: bands at rows ~317, 323, 331, 340, 349, 357
    # (read off the lane profile: valleys 13-29 % below the lower neighbour, the hand-edited mask holds each)
    from PIL import Image

    grey = np.asarray(Image.open(GELS / "Pair_2and3 Wk9 GelRed.jpg").convert("L"))
    result = quantify_gel(grey, image_name="Pair_2and3 Wk9")
    ladder = lane_bands(result, strip=1, lane=2)
    centres = ladder.y_px[(ladder.y_px > 311) & (ladder.y_px < 362)]
    assert len(centres) >= 4  # 317 / 323 stay one (their valley is under 6 noise SDs); one band before
    # a sample lane's glow above its band stays part of the band (lane 7: one band over rows 250-350)
    lane7 = lane_bands(result, strip=1, lane=7)
    assert ((lane7.y_px > 250) & (lane7.y_px < 350)).sum() == 1


def test_lanes_without_wells_lie_side_by_side():
    from exo_vision.blot.gel import side_by_side
    from exo_vision.blot.lanes import lanes_from_ranges
    from exo_vision.blot.strips import Strip

    # the lane finder gave lanes 40 px wide at centres 150 px apart, then one 75 px further on
    tier = Strip(index=1, y_top_px=0, y_bottom_px=200, x_left_px=0, x_right_px=600)
    narrow = lanes_from_ranges([(c - 20, c + 20) for c in (100, 250, 400, 475)], tier)
    wide = side_by_side(tier, narrow)
    assert [lane.x_centre_px for lane in wide] == pytest.approx([lane.x_centre_px for lane in narrow])
    # each as wide as the spacing to its nearest neighbour
    assert [lane.width_px for lane in wide] == pytest.approx([150, 150, 75, 75], abs=1)
    # never narrower than found, never past the tier's edge
    edge = side_by_side(tier, lanes_from_ranges([(0, 60), (540, 600)], tier))
    assert [lane.width_px for lane in edge] == pytest.approx([60, 60], abs=1)
    # a lane continued on the pitch to 10 px from the edge, with the finder's 60 px, is cut to stay inside
    near = [replace(edge[0], x_top_px=10.0, x_bottom_px=10.0), edge[1]]
    assert side_by_side(tier, near)[0].width_px == pytest.approx(20, abs=1)
    assert side_by_side(tier, narrow[:1]) == narrow[:1]


def test_lanes_without_wells_continue_on_their_pitch_to_the_edges():
    from exo_vision.blot.gel import lanes_on_pitch_to_edges
    from exo_vision.blot.lanes import lanes_from_ranges
    from exo_vision.blot.strips import Strip

    # six stained lanes at a 90 px pitch; the finder gave only the middle four
    tier = Strip(index=1, y_top_px=0, y_bottom_px=100, x_left_px=0, x_right_px=560)
    signal = np.zeros((100, 560))
    centres = [55, 145, 235, 325, 415, 505]
    for c in centres:
        signal[:, c - 25 : c + 25] = 1.0
    found = lanes_from_ranges([(c - 20, c + 20) for c in centres[1:5]], tier)
    lanes = lanes_on_pitch_to_edges(signal, tier, found)
    assert [lane.index for lane in lanes] == [1, 2, 3, 4, 5, 6]
    assert [lane.x_centre_px for lane in lanes] == pytest.approx(centres, abs=1)
    # gel between lanes beyond the outermost lanes: nothing added
    signal[:, :100] = 0.0
    signal[:, 460:] = 0.0
    assert len(lanes_on_pitch_to_edges(signal, tier, found)) == 4


def test_a_comb_found_on_the_sure_combs_pitch_has_its_wells_on_that_pitch():
    from exo_vision.blot.gel import _layout_at_depth, comb_periodicity

    params = BlotParameters()
    # a depth image (per gel level): two combs of 15 wells 28 px wide at a 40 px pitch
    depth = np.zeros((400, 600))
    for k in range(15):
        depth[20:26, 40 * k + 6 : 40 * k + 34] = 0.3  # the sure comb: every well read
        # the second comb: wells 0, 1, 3, 5 ... read, the others just under the well depth (a loaded sample)
        depth[200:206, 40 * k + 6 : 40 * k + 34] = 0.3 if k == 0 or k % 2 == 1 else 0.09
    depth[200:206, 337:343] = 2.0  # a bright speck in well 8: the second comb is not sure by itself
    strength = comb_periodicity(depth[200:206].mean(axis=0), 12, 200)
    assert params.well_min_periodicity / params.well_depth_search_step < strength < params.well_min_periodicity
    layout = _layout_at_depth(depth, (0, 400, 0, 600), params)
    assert len(layout.well_rows_px) == 2
    # its read wells lie 1 and 2 pitches apart (median 80 px): the gaps are filled at the sure comb's 40 px
    second = layout.tier_wells_px[-1]
    assert len(second) == 14
    assert np.allclose(np.diff([(a + b) / 2 for a, b in second[1:]]), 40, atol=1)


@pytest.mark.skipif(not GELS.is_dir(), reason=f"real gels not present at {GELS}")
def test_real_gel_with_thin_teeth_gets_one_lane_per_well():
    """Pair_1 Wk10: eight wide wells, two of them run together, read as a weak repeat (periodicity ~0.5)."""
    from PIL import Image

    grey = np.asarray(Image.open(GELS / "Pair_1 Wk10 GelRed.jpg").convert("L"))
    layout = find_gel_layout(grey)
    # the comb sits at rows ~135-170; its eight wells' centres read off the image at full resolution
    assert len(layout.well_rows_px) == 1 and 125 <= layout.well_rows_px[0][0] <= 145
    centres = [490, 562, 631, 700, 770, 838, 909, 982]
    wells = layout.tier_wells_px[0]
    assert len(wells) == len(centres)
    assert np.allclose([(a + b) / 2 for a, b in wells], centres, atol=12)


@pytest.mark.skipif(not GELS.is_dir(), reason=f"real gels not present at {GELS}")
def test_real_gel_beside_a_glove_parted_by_a_narrow_gap_leaves_the_glove_out():
    """Pair_10and11 Wk10: a crumpled glove fills columns 0-140, a dark gap (columns ~143-163) parts it from the gel."""
    from PIL import Image

    grey = np.asarray(Image.open(GELS / "Pair_10and11 Wk10 GelRed.jpg").convert("L"))
    x0 = find_gel_layout(grey).box_px[2]
    assert 150 <= x0 <= 175


@pytest.mark.skipif(not GELS.is_dir(), reason=f"real gels not present at {GELS}")
def test_real_gel_cropped_below_its_wells_gets_a_lane_on_each_well():
    """Pair_12 Wk10 without its top 15 % (the comb cut off): a ladder and a sample run together, and so do two
    sample lanes further on; each pair is one column-profile peak two pitches wide, and is two lanes."""
    from PIL import Image

    grey = np.asarray(Image.open(GELS / "Pair_12 Wk10 GelRed.jpg").convert("L"))
    cut = grey[int(0.15 * grey.shape[0]) :].copy()
    result = quantify_gel(cut)
    # the wells' centres, read off the uncropped gel (one comb, eight wells)
    centres = [501, 577, 649, 714, 785, 856, 925, 996]
    mid = [lane.centre_x((lane.y_top_px + lane.y_bottom_px) / 2) for lane in result.lanes]
    assert len(mid) == len(centres)
    assert np.allclose(mid, centres, atol=15)
