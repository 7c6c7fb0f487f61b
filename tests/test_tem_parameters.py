"""TemParameters: one place for the analysis defaults and their validation."""

from __future__ import annotations

import inspect

import pytest

from exo_vision.batch.config import TemBatchConfig
from exo_vision.segmentation.api import segment_vesicles
from exo_vision.segmentation.classical import segment_classical
from exo_vision.segmentation.learned.method import segment_unet
from exo_vision.tem_parameters import TemParameters


def test_round_trips_through_dict_and_toml():
    params = TemParameters(method="classical", min_diameter_nm=25.0, size_range_nm=(40, 120), seed=3)
    assert TemParameters.from_dict(params.to_dict()) == params
    assert TemParameters.from_toml(params.to_toml()) == params
    assert params.to_dict()["size_range_nm"] == [40.0, 120.0]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(min_diameter_nm=0.0), "0 < min_diameter_nm < max_diameter_nm"),
        (dict(min_diameter_nm=300.0, max_diameter_nm=200.0), "0 < min_diameter_nm < max_diameter_nm"),
        (dict(sensitivity=1.5), "sensitivity"),
        (dict(polarity="up"), "polarity"),
        (dict(method="nope"), "nope"),
        (dict(n_boot=0), "n_boot"),
        (dict(method="classical", model="x.onnx"), "takes no model"),
    ],
)
def test_bad_values_are_refused_with_the_rule(change, message):
    with pytest.raises(ValueError, match=message):
        TemParameters(**change)


def test_one_minimum_diameter_rule_everywhere():
    """Zero passed the segmenter but failed the batch config; now every entry refuses it with one message."""
    import numpy as np

    image = np.zeros((64, 64), np.float32)
    for call in (
        lambda: TemParameters(min_diameter_nm=0.0),
        lambda: TemBatchConfig(min_diameter_nm=0.0),
        lambda: segment_vesicles(image, pixel_size_nm=1.0, method="classical", min_diameter_nm=0.0),
        lambda: segment_classical(image, pixel_size_nm=1.0, min_diameter_nm=0.0),
    ):
        with pytest.raises(ValueError, match="0 < min_diameter_nm < max_diameter_nm"):
            call()


def test_batch_config_and_core_functions_take_their_defaults_from_tem_parameters():
    defaults = TemParameters()
    assert TemBatchConfig().analysis() == defaults
    for function in (segment_vesicles, segment_classical, segment_unet):
        signature = inspect.signature(function)
        for name in ("min_diameter_nm", "max_diameter_nm", "sensitivity", "polarity"):
            assert signature.parameters[name].default == getattr(defaults, name), (function.__name__, name)
    assert inspect.signature(segment_vesicles).parameters["method"].default == defaults.method
