"""ClassicalParameters: the classical method's thresholds as one frozen, serialisable object."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from exo_vision.segmentation.classical import ClassicalParameters, segment_classical
from exo_vision.segmentation.classical.parameters import DEFAULT_PARAMETERS


def test_frozen_and_round_trips_through_a_dict():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_PARAMETERS.working_scale_nm = 3.0  # type: ignore[misc]
    changed = dataclasses.replace(DEFAULT_PARAMETERS, membrane_thickness_nm=5.0)
    assert ClassicalParameters.from_dict(changed.to_dict()) == changed
    assert ClassicalParameters.from_dict({}) == DEFAULT_PARAMETERS


@pytest.mark.parametrize("bad", [dict(working_scale_nm=0.0), dict(rim_gap_nm=-1.0), dict(territory_nm=float("nan"))])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        ClassicalParameters(**bad)


def test_unknown_names_are_refused_by_name():
    with pytest.raises(ValueError, match="rim_gap"):
        ClassicalParameters.from_dict({"rim_gap": 12.0})


def test_thresholds_follow_the_sensitivity_as_hand_computed():
    # high = 8 - 6 s, low = high / 2
    assert DEFAULT_PARAMETERS.thresholds(0.5) == (2.5, 5.0)
    assert DEFAULT_PARAMETERS.thresholds(0.0) == (4.0, 8.0)
    with pytest.raises(ValueError, match="sensitivity"):
        DEFAULT_PARAMETERS.thresholds(1.5)


def test_the_method_reads_its_thresholds_from_the_parameters(synthetic_tem):
    """A parameter changes the result: a membrane twice as thick places every outline further out."""
    image, _, px = synthetic_tem
    thin = segment_classical(image, pixel_size_nm=px, polarity="bright")
    thick = segment_classical(
        image,
        pixel_size_nm=px,
        polarity="bright",
        params=dataclasses.replace(DEFAULT_PARAMETERS, membrane_thickness_nm=8.0),
    )
    assert thin.labels.max() >= 3
    assert thick.parameters["membrane_thickness_nm"] == 8.0
    assert np.count_nonzero(thick.labels) > np.count_nonzero(thin.labels)
