"""Per-vesicle measurements: exact values on hand-built label images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk, ellipse

from exo_vision.measure.morphology import classify_morphology, cup_score
from exo_vision.measure.vesicles import (
    VESICLE_COLUMNS,
    feret_min_max,
    measure_vesicles,
    noise_floor,
    perimeter_crofton,
    touching_labels,
)


def test_columns_are_exactly_the_contract():
    assert VESICLE_COLUMNS == (
        "label",
        "centroid_x_nm",
        "centroid_y_nm",
        "area_nm2",
        "perimeter_nm",
        "equivalent_diameter_nm",
        "feret_max_nm",
        "feret_min_nm",
        "major_axis_nm",
        "minor_axis_nm",
        "eccentricity",
        "circularity",
        "solidity",
        "mean_intensity",
        "cup_score",
        "morphology",
        "touches_border",
        "touches_missing",
        "touches_other",
        "confidence",
        "pixel_size_nm",
        "pixel_size_source",
    )


def test_touches_other_marks_vesicles_that_share_an_outline():
    labels = np.zeros((60, 60), np.int32)
    labels[5:15, 5:15] = 1
    labels[5:15, 15:25] = 2  # shares its left column's edge with 1
    labels[30:40, 30:40] = 3
    labels[40:50, 40:50] = 4  # meets 3 only at a corner (not 4-connected): not touching
    labels[5:15, 40:50] = 6  # label 5 is absent
    labels[15:20, 40:50] = 7  # touches 6 along a row
    table = measure_vesicles(labels, np.full(labels.shape, 10.0), pixel_size_nm=2.0)
    assert dict(zip(table.label, table.touches_other, strict=True)) == {
        1: True,
        2: True,
        3: False,
        4: False,
        6: True,
        7: True,
    }
    assert table.touches_other.dtype == bool
    assert touching_labels(labels).tolist() == [1, 2, 6, 7]
    assert touching_labels(np.zeros((4, 4), int)).size == 0


@pytest.mark.parametrize("radius_px, px", [(40, 0.8), (25, 1.5), (100, 0.35)])
def test_disk_of_known_radius_gives_its_diameter_within_one_percent(radius_px, px):
    labels = np.zeros((300, 300), np.int32)
    labels[disk((150, 140), radius_px)] = 1
    image = np.full(labels.shape, 100.0)
    table = measure_vesicles(labels, image, pixel_size_nm=px, pixel_size_source="user")
    row = table.iloc[0]
    true_d = 2 * radius_px * px
    assert row["equivalent_diameter_nm"] == pytest.approx(true_d, rel=0.01)
    assert row["feret_max_nm"] == pytest.approx(true_d, rel=0.03)
    assert row["feret_min_nm"] == pytest.approx(true_d, rel=0.03)
    assert row["major_axis_nm"] == pytest.approx(true_d, rel=0.02)
    assert row["area_nm2"] == pytest.approx(np.pi * (radius_px * px) ** 2, rel=0.02)
    assert row["centroid_x_nm"] == pytest.approx(140 * px)
    assert row["centroid_y_nm"] == pytest.approx(150 * px)
    assert 0.9 < row["circularity"] <= 1.05
    assert row["solidity"] > 0.97
    assert row["eccentricity"] < 0.1
    assert row["pixel_size_nm"] == px and row["pixel_size_source"] == "user"
    assert row["morphology"] == "round"
    assert not row["touches_border"]


def test_hand_computed_rectangle():
    # a 10 x 40 pixel rectangle at 2 nm/px: 20 x 80 nm
    labels = np.zeros((60, 80), np.int32)
    labels[20:30, 10:50] = 7
    image = np.zeros(labels.shape)
    image[labels == 7] = 5.0
    row = measure_vesicles(labels, image, pixel_size_nm=2.0).iloc[0]
    assert row["label"] == 7
    assert row["area_nm2"] == pytest.approx(400 * 4.0)
    assert row["equivalent_diameter_nm"] == pytest.approx(2 * np.sqrt(1600 / np.pi))
    assert row["feret_min_nm"] == pytest.approx(20.0)
    assert row["feret_max_nm"] == pytest.approx(np.hypot(20.0, 80.0))
    assert row["centroid_x_nm"] == pytest.approx(29.5 * 2.0)
    assert row["centroid_y_nm"] == pytest.approx(24.5 * 2.0)
    assert row["mean_intensity"] == pytest.approx(5.0)
    assert row["solidity"] == pytest.approx(1.0)


def test_feret_of_a_single_pixel_and_a_diagonal_line():
    one = np.zeros((5, 5), bool)
    one[2, 2] = True
    assert feret_min_max(one) == pytest.approx((1.0, np.sqrt(2.0)))
    line = np.eye(10, dtype=bool)
    fmin, fmax = feret_min_max(line)
    assert fmax == pytest.approx(10 * np.sqrt(2.0))
    assert fmin == pytest.approx(np.sqrt(2.0))


def test_ellipse_axes_and_eccentricity():
    labels = np.zeros((200, 200), np.int32)
    labels[ellipse(100, 100, 30, 60)] = 1  # semi-axes 30 rows, 60 cols
    row = measure_vesicles(labels, np.ones(labels.shape), pixel_size_nm=1.0).iloc[0]
    assert row["major_axis_nm"] == pytest.approx(120, rel=0.02)
    assert row["minor_axis_nm"] == pytest.approx(60, rel=0.02)
    assert row["eccentricity"] == pytest.approx(np.sqrt(1 - 0.25), rel=0.01)


def test_border_flag_and_several_labels_in_order():
    labels = np.zeros((100, 100), np.int32)
    labels[disk((50, 50), 10)] = 3
    labels[0:10, 40:60] = 1  # touches the top edge
    table = measure_vesicles(labels, np.ones(labels.shape), pixel_size_nm=1.0)
    assert table["label"].tolist() == [1, 3]
    assert table["touches_border"].tolist() == [True, False]


def test_empty_labels_give_empty_table_with_all_columns_and_dtypes():
    table = measure_vesicles(np.zeros((50, 50), np.int32), np.zeros((50, 50)), pixel_size_nm=1.0)
    assert len(table) == 0
    assert tuple(table.columns) == VESICLE_COLUMNS
    assert table["label"].dtype == np.int32
    assert table["equivalent_diameter_nm"].dtype == np.float64
    assert table["touches_border"].dtype == bool
    assert table["morphology"].dtype == object


def test_cup_score_sees_a_dark_centre_and_respects_polarity():
    px = 1.0
    labels = np.zeros((200, 200), np.int32)
    labels[disk((100, 100), 50)] = 1
    rng = np.random.default_rng(0)
    flat = 100 + rng.normal(0, 4, labels.shape)
    flat[labels == 1] += 30
    cup = flat.copy()
    cup[disk((100, 100), 22)] -= 40  # stain-filled centre
    t_flat = measure_vesicles(labels, flat, pixel_size_nm=px)
    t_cup = measure_vesicles(labels, cup, pixel_size_nm=px)
    assert abs(t_flat["cup_score"].iloc[0]) < 1.0
    # depression 40 over the noise of a 2x2 nm mean (4 / 2 = 2): about 20
    assert t_cup["cup_score"].iloc[0] == pytest.approx(20, rel=0.2)
    assert t_cup["morphology"].iloc[0] == "cup"
    # the same cup in a dark-polarity image (contrast reversed)
    t_dark = measure_vesicles(labels, 300 - cup, pixel_size_nm=px, polarity="dark")
    assert t_dark["cup_score"].iloc[0] == pytest.approx(t_cup["cup_score"].iloc[0], rel=1e-4)
    assert t_dark["morphology"].iloc[0] == "cup"


def test_cup_score_is_nan_for_tiny_vesicles():
    region = np.zeros((9, 9), bool)
    region[disk((4, 4), 3)] = True
    assert np.isnan(cup_score(region, np.zeros((9, 9)), pixel_size_nm=1.0, noise_std=1.0))


def test_classify_morphology_rules():
    table = pd.DataFrame(
        {
            "cup_score": [0.0, 5.0, 0.2, 6.0, np.nan],
            "solidity": [0.98, 0.97, 0.7, 0.75, 0.95],
            "circularity": [0.95, 0.9, 0.5, 0.6, 0.9],
            "major_axis_nm": [100.0, 100.0, 100.0, 200.0, 100.0],
            "minor_axis_nm": [90.0, 90.0, 90.0, 100.0, 90.0],
        }
    )
    got = classify_morphology(table).tolist()
    assert got == ["round", "cup", "irregular", "cup", "round"]
    assert classify_morphology(table, cup_threshold=10).tolist()[1] == "round"
    with pytest.raises(ValueError, match="cup_score"):
        classify_morphology(table.drop(columns="cup_score"))
    with pytest.raises(ValueError, match="minor_axis_nm"):
        classify_morphology(table.drop(columns="minor_axis_nm"))


def test_an_elongated_smooth_convex_outline_is_irregular_not_round():
    """The large EV of the hrml micrograph (two lobes, 1.72 : 1) is convex enough (solidity 0.96) and smooth
    enough (circularity 0.82) to pass both outline tests; its elongation makes it irregular."""
    table = pd.DataFrame(
        {
            "cup_score": [-5.4, -5.4, -5.4, 3.0, 0.0],
            "solidity": [0.956] * 5,
            "circularity": [0.816] * 5,
            "major_axis_nm": [344.3, 149.0, 151.0, 344.3, 10.0],
            "minor_axis_nm": [200.2, 100.0, 100.0, 200.2, 0.0],
        }
    )
    # 1.72 : 1 irregular; 1.49 round; 1.51 irregular; a cup stays a cup; a one-pixel-wide line irregular
    assert classify_morphology(table).tolist() == ["irregular", "round", "irregular", "cup", "irregular"]
    assert classify_morphology(table, irregular_aspect_ratio=2.0).tolist()[0] == "round"


def test_measured_ellipses_are_round_up_to_the_aspect_limit_and_irregular_beyond():
    labels = np.zeros((120, 240), np.int32)
    labels[ellipse(60, 60, 40, 40 * 1.2)] = 1  # 1.2 : 1, a slightly flattened vesicle
    labels[ellipse(60, 170, 25, 50)] = 2  # 2 : 1, convex and smooth, but twice as long as wide
    table = measure_vesicles(labels, np.zeros(labels.shape), pixel_size_nm=1.0, noise_std=1.0)
    row = table.set_index("label")
    assert row.loc[2, "major_axis_nm"] / row.loc[2, "minor_axis_nm"] == pytest.approx(2.0, rel=0.02)
    assert row.loc[2, "solidity"] > 0.95 and row.loc[2, "circularity"] > 0.8  # the outline tests pass it
    assert row["morphology"].tolist() == ["round", "irregular"]


@pytest.mark.parametrize(
    "labels, image, kwargs, fragment",
    [
        (np.zeros((5, 5), np.int32), np.zeros((6, 5)), dict(pixel_size_nm=1.0), "same shape"),
        (np.zeros((5, 5), float), np.zeros((5, 5)), dict(pixel_size_nm=1.0), "integer"),
        (np.zeros((5, 5), np.int32), np.zeros((5, 5)), dict(pixel_size_nm=0.0), "pixel_size_nm"),
        (np.zeros((5, 5), np.int32), np.zeros((5, 5)), dict(pixel_size_nm=1.0, polarity="up"), "polarity"),
        (np.zeros((5, 5), np.int32), np.zeros((5, 5)), dict(pixel_size_nm=1.0, noise_std=-1.0), "noise_std"),
    ],
)
def test_bad_input_names_the_problem(labels, image, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        measure_vesicles(labels, image, **kwargs)


def test_perimeter_by_hand_and_round_shapes_at_any_size():
    from skimage.measure import perimeter_crofton as skimage_crofton

    # a 2 x 2 square: 4 row and 4 column crossings, 6 + 6 diagonal ones;
    # pi/8 * (4 + 4 + 12 / sqrt 2) = 6.4740
    square = np.zeros((4, 4), bool)
    square[1:3, 1:3] = True
    assert perimeter_crofton(square) == pytest.approx(np.pi / 8 * (8 + 12 / np.sqrt(2)))
    assert perimeter_crofton(np.ones((2, 2), bool)) == perimeter_crofton(square)  # the array edge counts as outside
    for radius in (5, 10, 20, 50, 100, 200):
        n = 2 * radius + 7
        y, x = np.mgrid[:n, :n]
        disk = (y - n / 2 - 0.3) ** 2 + (x - n / 2 + 0.17) ** 2 <= radius**2
        assert perimeter_crofton(disk) == pytest.approx(2 * np.pi * radius, rel=0.01)
        assert perimeter_crofton(disk) == pytest.approx(skimage_crofton(disk, 4))  # the same estimator


def test_circularity_of_a_disk_is_about_one_at_any_pixel_size_and_never_above():
    """The 4-connected boundary count read a 40 nm disk 0.92 at 0.5 nm/px and 1.14 at 4 nm/px."""
    for px in (0.5, 1.0, 2.0, 4.0):
        n = int(round(120 / px))
        y, x = np.mgrid[:n, :n] * px
        labels = (((y - 60.2) ** 2 + (x - 59.7) ** 2) <= 20.0**2).astype(np.int32)
        table = measure_vesicles(labels, np.ones(labels.shape), pixel_size_nm=px)
        assert table["circularity"].iloc[0] == pytest.approx(1.0, abs=0.05), px
    tiny = np.zeros((8, 8), np.int32)
    tiny[2:6, 2:6] = [[0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 0]]  # 12 pixels: 4 pi A / P^2 = 1.076
    assert measure_vesicles(tiny, np.ones(tiny.shape), pixel_size_nm=1.0)["circularity"].iloc[0] == 1.0


def test_recorded_noise_gives_the_same_table_as_estimating_it():
    from exo_vision.segmentation.classical import segment_classical as segment_vesicles
    from exo_vision.synthetic.tem import make_synthetic_tem

    image, _ = make_synthetic_tem((512, 512), pixel_size_nm=1.0, difficulty="easy", rng=5)
    seg = segment_vesicles(image, pixel_size_nm=1.0)
    assert seg.labels.max() > 0
    estimated = measure_vesicles(seg.labels, image, pixel_size_nm=1.0, polarity=seg.polarity)
    given = measure_vesicles(
        seg.labels, image, pixel_size_nm=1.0, polarity=seg.polarity, noise_std=seg.parameters["pixel_noise_std"]
    )
    pd.testing.assert_frame_equal(estimated, given, check_exact=True)
    assert estimated["pixel_size_source"].dtype == object  # as in the empty table


def test_given_boxes_give_the_same_table_and_wrong_ones_are_refused():
    from scipy import ndimage as ndi

    labels = np.zeros((80, 90), np.int32)
    labels[disk((20, 25), 9)] = 1
    labels[disk((55, 60), 12)] = 3  # label 2 unused: its box is None
    image = np.random.default_rng(1).normal(100.0, 5.0, labels.shape)
    plain = measure_vesicles(labels, image, pixel_size_nm=1.0)
    given = measure_vesicles(labels, image, pixel_size_nm=1.0, objects=ndi.find_objects(labels))
    pd.testing.assert_frame_equal(plain, given, check_exact=True)
    with pytest.raises(ValueError, match="find_objects"):
        measure_vesicles(labels, image, pixel_size_nm=1.0, objects=ndi.find_objects(labels)[:1])


def test_a_noise_free_or_finely_quantised_image_does_not_make_flat_disks_cups():
    """The noise of such images reads 0; the cup score divided by 1e-12 and float rounding of the rim and
    centre means (6e-8) made cups with scores of 6e4-2e10. A real depression still reads as a cup."""
    yy, xx = np.mgrid[:512, :512]
    lab = np.zeros((512, 512), np.int32)
    lab[(yy - 128) ** 2 + (xx - 128) ** 2 <= 20**2] = 1
    lab[(yy - 300) ** 2 + (xx - 350) ** 2 <= 35**2] = 2
    flat = np.where(lab > 0, 0.7, 0.3)
    rng = np.random.default_rng(1)
    u8 = np.clip(np.round(np.where(lab > 0, 140.0, 100.0) + rng.normal(0, 0.4, lab.shape)), 0, 255).astype(np.uint8)
    for image in (flat, u8):
        table = measure_vesicles(lab, image, pixel_size_nm=2.0)
        assert (table["morphology"] == "round").all() and (table["cup_score"].abs() < 0.2).all()
        # an explicit noise of 0 is raised to the same floor
        assert (measure_vesicles(lab, image, pixel_size_nm=2.0, noise_std=0.0)["morphology"] == "round").all()
    cup = u8.copy()
    cup[(yy - 300) ** 2 + (xx - 350) ** 2 <= 12**2] = 120  # a stain-filled centre 20 grey levels below the rim
    table = measure_vesicles(lab, cup, pixel_size_nm=2.0).set_index("label")
    assert table.loc[2, "morphology"] == "cup" and table.loc[1, "morphology"] == "round"
    assert noise_floor(u8) == pytest.approx(12**-0.5) and noise_floor(flat) == pytest.approx(0.4e-3)


def test_carry_confidence_keeps_it_for_unchanged_outlines_only():
    """Hand-built labels: 1 untouched, 2 and 3 merged into 2, 4 lost a pixel, 5 moved by one pixel, 6 new."""
    from exo_vision.measure.vesicles import carry_confidence, confidence_reference

    before = np.zeros((12, 12), np.int32)
    before[1:3, 1:3] = 1
    before[5:7, 1:3] = 2
    before[5:7, 3:5] = 3
    before[9:11, 1:4] = 4
    before[1:3, 8:10] = 5
    table = pd.DataFrame({"label": [1, 2, 3, 4, 5], "confidence": [0.9, 0.8, 0.7, 0.6, 0.5]})
    reference = confidence_reference(before, table)
    after = before.copy()
    after[after == 3] = 2
    after[10, 3] = 0
    after[1:3, 8:10] = 0
    after[2:4, 8:10] = 5
    after[8:10, 8:10] = 6
    measured = pd.DataFrame({"label": [1, 2, 4, 5, 6], "confidence": np.nan})
    carried = carry_confidence(measured, after, reference)
    np.testing.assert_array_equal(carried["confidence"].to_numpy(), [0.9, np.nan, np.nan, np.nan, np.nan])
    assert measured["confidence"].isna().all()  # a copy: the table given is left as it was
    # a table without confidence (classical method, an older run) carries none
    assert confidence_reference(before, table.drop(columns="confidence")) == {}
    assert carry_confidence(measured, after, None)["confidence"].isna().all()
