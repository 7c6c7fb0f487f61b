"""The TEM generator: seeded, with truth that matches what it drew."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.synthetic.tem import DEBRIS_COLUMNS, TRUTH_COLUMNS, make_synthetic_tem


def test_same_seed_same_image_different_seed_different_image():
    a, ta = make_synthetic_tem((384, 384), pixel_size_nm=1.0, difficulty="medium", rng=7, scale_bar=False)
    b, tb = make_synthetic_tem((384, 384), pixel_size_nm=1.0, difficulty="medium", rng=7, scale_bar=False)
    c, _ = make_synthetic_tem((384, 384), pixel_size_nm=1.0, difficulty="medium", rng=8, scale_bar=False)
    assert np.array_equal(a, b)
    assert np.array_equal(ta.labels, tb.labels)
    assert not np.array_equal(a, c)


def test_truth_table_matches_labels_and_requested_diameters():
    diameters = [40.0, 80.0, 120.0, 160.0]
    image, truth = make_synthetic_tem(
        (768, 768), pixel_size_nm=1.0, difficulty="easy", diameters_nm=diameters, rng=3, scale_bar=False
    )
    assert image.shape == (768, 768) and image.dtype == np.uint16
    assert truth.labels.dtype == np.int32 and truth.labels.shape == image.shape
    assert tuple(truth.vesicles.columns) == TRUTH_COLUMNS
    assert tuple(truth.debris.columns) == DEBRIS_COLUMNS
    assert len(truth.vesicles) == 4
    assert truth.vesicles["label"].tolist() == [1, 2, 3, 4]
    # generated diameters follow the request (shapes are slightly non-circular)
    got = np.sort(truth.vesicles["equivalent_diameter_nm"].to_numpy())
    assert np.allclose(got, diameters, rtol=0.06)
    # the drawn label area agrees with the truth diameter for vesicles fully inside
    for row in truth.vesicles.itertuples():
        area_px = int((truth.labels == row.label).sum())
        d_px = 2 * np.sqrt(area_px / np.pi)
        r = row.equivalent_diameter_nm / 2
        inside = r < row.centroid_x_nm < 768 - r and r < row.centroid_y_nm < 768 - r
        if inside:
            assert d_px == pytest.approx(row.equivalent_diameter_nm, rel=0.02)
            ys, xs = np.nonzero(truth.labels == row.label)
            assert xs.mean() == pytest.approx(row.centroid_x_nm, abs=1.5)
            assert ys.mean() == pytest.approx(row.centroid_y_nm, abs=1.5)


def test_vesicles_are_lighter_than_stain_and_dark_polarity_reverses_it():
    kwargs = dict(pixel_size_nm=1.0, difficulty="easy", diameters_nm=[100.0, 120.0], rng=11, scale_bar=False)
    bright, truth_b = make_synthetic_tem((512, 512), polarity="bright", **kwargs)
    dark, truth_d = make_synthetic_tem((512, 512), polarity="dark", **kwargs)
    assert np.array_equal(truth_b.labels, truth_d.labels)
    core_b = bright[truth_b.labels > 0].astype(float)
    core_d = dark[truth_d.labels > 0].astype(float)
    background = truth_b.labels == 0
    assert np.median(core_b) > np.median(bright[background].astype(float))
    assert np.median(core_d) < np.median(dark[background].astype(float))


def test_hard_levels_have_cups_touching_vesicles_and_debris():
    _, truth = make_synthetic_tem((1024, 1024), pixel_size_nm=1.5, difficulty="extreme", rng=2)
    v = truth.vesicles
    assert (v["morphology"] == "cup").sum() >= 3
    assert v["touching"].sum() >= 2
    assert set(v["morphology"]) <= {"round", "cup", "irregular"}
    assert len(truth.debris) >= 5
    assert set(truth.debris["kind"]) <= {"stain_precipitate", "small_particle", "protein_aggregate", "tubular_debris"}


def test_scale_bar_truth_and_no_vesicle_under_it():
    image, truth = make_synthetic_tem((768, 768), pixel_size_nm=1.0, difficulty="medium", rng=4)
    bar = truth.scale_bar
    assert bar["length_nm"] > 0
    assert bar["bar_length_px"] == pytest.approx(bar["length_nm"] / 1.0)
    r0, c0, r1, c1 = bar["exclude_box"]
    assert not truth.labels[r0:r1, c0:c1].any()
    br0, bc0, br1, bc1 = bar["bar_box"]
    assert image[br0:br1, bc0 + 2 : bc1 - 2].std() < image.std()  # the bar is uniform


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(difficulty="impossible"), "difficulty"),
        (dict(polarity="grey"), "polarity"),
        (dict(pixel_size_nm=-1.0), "pixel_size_nm"),
        (dict(diameters_nm=[50.0, -3.0]), "diameters_nm"),
        (dict(dtype=np.int8), "dtype"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        make_synthetic_tem((128, 128), scale_bar=False, **kwargs)
