"""The library under a scripting user's arguments: what is accepted is measured right, and what is not is
refused with the argument and the fix named (found by a user-style probe of the Python API)."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision import measure_vesicles
from exo_vision.io.image_data import ImageData
from exo_vision.segmentation.api import segment_vesicles
from exo_vision.tem_analysis import analyse_micrograph
from exo_vision.tem_parameters import TemParameters


def _disks(shape=(128, 128), value=2):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int64)
    labels[(yy - 30) ** 2 + (xx - 30) ** 2 <= 12**2] = 1
    labels[(yy - 90) ** 2 + (xx - 90) ** 2 <= 16**2] = value
    return labels, np.where(labels > 0, 0.7, 0.3) + np.random.default_rng(0).normal(0, 0.02, shape)


def test_label_ids_far_above_the_pixel_count_are_measured_under_their_own_ids():
    labels, image = _disks(value=2**31 - 1)  # one box per id up to it did not fit in memory (MemoryError)
    table = measure_vesicles(labels.astype(np.uint32), image, pixel_size_nm=2.0)
    reference = measure_vesicles(_disks()[0], image, pixel_size_nm=2.0)
    assert table["label"].tolist() == [1, 2**31 - 1]
    np.testing.assert_allclose(table["equivalent_diameter_nm"], reference["equivalent_diameter_nm"])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (-_disks()[0], "`labels` hold negative values"),
        (_disks(value=2**40)[0], "`labels` go up to 1099511627776, beyond the 2\\*\\*31 - 1 ids"),
    ],
)
def test_label_ids_a_table_cannot_hold_are_refused_not_dropped(labels, message):
    with pytest.raises(ValueError, match=message):
        measure_vesicles(labels, _disks()[1], pixel_size_nm=2.0)


def test_analyse_micrograph_names_a_bad_pixel_size_or_parameters():
    image = _disks()[1]
    assert analyse_micrograph(ImageData(data=image, pixel_size_nm="1.0")).image_data is not None
    for bad in (0, -1.0, True, "one"):
        with pytest.raises(ValueError, match="is not a positive number of nm per pixel"):
            analyse_micrograph(ImageData(data=image, pixel_size_nm=bad))
    with pytest.raises(TypeError, match="params must be a TemParameters, got dict"):
        analyse_micrograph(ImageData(data=image, pixel_size_nm=1.0), {"method": "classical"})


def test_a_crop_too_small_for_a_scale_bar_is_segmented_without_one():
    """It failed with 'too small to hold a scale bar', a bar nobody asked for."""
    result = segment_vesicles(np.random.default_rng(1).normal(0.5, 0.05, (30, 30)), pixel_size_nm=1.0)
    assert result.labels.shape == (30, 30)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"exclude_border": "no"}, "exclude_border must be True or False, got 'no'"),
        ({"n_boot": 10.5}, "n_boot must be a whole number, got 10.5"),
        ({"seed": 1.5}, "seed must be a whole number, got 1.5"),
    ],
)
def test_parameters_of_the_wrong_type_are_refused(changes, message):
    """exclude_border='no' ran with the border excluded; 10.5 resamples ran as 10."""
    with pytest.raises(ValueError, match=message):
        TemParameters(**changes)


def test_a_truth_value_is_no_pixel_size():
    with pytest.raises(ValueError, match="must be a number of nanometres, got True"):
        measure_vesicles(*_disks(), pixel_size_nm=True)


def test_a_scale_bar_found_but_not_read_is_said_so_where_the_pixel_size_is_missing():
    """'calibrate from the scale bar' read as if no bar had been seen; the reason was kept but never shown."""
    bar = {"status": "unreadable", "bar_length_px": 154.1, "reason": "label read as '200 nm' with confidence 0.23"}
    image = ImageData(data=_disks()[1], metadata={"scale_bar": bar})
    with pytest.raises(ValueError, match=r"a scale bar 154 px long was found but its label could not be read .*0\.23"):
        analyse_micrograph(image)
