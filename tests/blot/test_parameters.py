"""BlotParameters: one validated, frozen model of the blot method settings, taken by the core, CLI and dock."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from exo_vision.blot.lanes import lanes_from_ranges
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, BlotParameters
from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.strips import whole_image_strip
from exo_vision.cli.blot import blot_parameters
from exo_vision.cli.main import build_parser


def test_frozen_and_round_trips_through_json():
    p = BlotParameters(background="border", lod_factor=3.0, smear_markers=("CD63", "Alix"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.lod_factor = 2.0  # type: ignore[misc]
    assert p.smear_markers == ("cd63", "alix")  # compared in lower case
    again = BlotParameters.from_dict(json.loads(json.dumps(p.to_dict())))
    assert again == p


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("background", "magic", "unknown background method"),
        ("central_fraction", 0.0, "central_fraction must be a fraction"),
        ("central_fraction", 1.5, "central_fraction must be a fraction"),
        ("lod_factor", -1.0, "lod_factor must be a positive number"),
        ("min_lane_width_px", float("nan"), "min_lane_width_px must be a positive number"),
        ("border_px", 0, "border_px must be a whole number of pixels"),
        ("border_px", 2.5, "border_px must be a whole number of pixels"),
        ("max_lane_tilt_deg", 60.0, "max_lane_tilt_deg must be in"),
        ("strong_lane_prominence_fraction", 1.5, "strong_lane_prominence_fraction must be a fraction"),
        ("lane_sizeable_peak_fraction", 0.0, "lane_sizeable_peak_fraction must be a fraction"),
        ("dust_noise_sds", -8.0, "dust_noise_sds must be a positive number"),
        ("side_window_min_px", 0, "side_window_min_px must be a whole number of pixels"),
    ],
)
def test_bad_values_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        BlotParameters(**{field: value})


def test_unknown_keys_are_refused():
    with pytest.raises(ValueError, match="unknown blot parameter.*lod"):
        BlotParameters.from_dict({"lod": 3.3})


def test_the_result_records_the_parameters_used():
    img = np.full((80, 60), 100.0)
    img[30:40, 10:30] += 50.0
    lanes = lanes_from_ranges([(10, 30)], whole_image_strip(img.shape))
    params = BlotParameters(central_fraction=0.5, remove_dust_specks=False, measure_band_extent=False)
    r = quantify_blot(img, polarity="bright", max_value=1e6, lanes=lanes, params=params)
    assert BlotParameters.from_dict({k: r.parameters[k] for k in params.to_dict()}) == params
    assert (r.bands.x_right_px - r.bands.x_left_px).tolist() == [10]  # half of a 20-px lane
    assert r.bands.volume.iloc[0] == pytest.approx(10 * 10 * 50.0)


def test_the_dust_threshold_reaches_the_speck_finder():
    rng = np.random.default_rng(3)
    img = rng.normal(100.0, 2.0, (80, 60))
    img[20:23, 40:43] += 60.0  # a 3 x 3 speck, 30 noise SDs above the background
    lanes = lanes_from_ranges([(10, 30)], whole_image_strip(img.shape))
    found = quantify_blot(img, polarity="bright", max_value=1e6, lanes=lanes)
    assert found.dust_mask[21, 41]
    blind = quantify_blot(
        img, polarity="bright", max_value=1e6, lanes=lanes, params=BlotParameters(dust_noise_sds=50.0)
    )
    assert not blind.dust_mask.any()


def test_quantify_refuses_anything_but_blot_parameters():
    with pytest.raises(TypeError, match="BlotParameters"):
        quantify_blot(np.zeros((50, 50)), polarity="bright", params={"background": "border"})  # type: ignore[arg-type]


def test_cli_options_become_blot_parameters():
    args = build_parser().parse_args(
        [
            "blot",
            "x.tif",
            "--out",
            "o",
            "--background",
            "border",
            "--central-fraction",
            "0.5",
            "--rolling-ball-radius-px",
            "30",
        ]
    )
    p = blot_parameters(args)
    assert p == dataclasses.replace(
        DEFAULT_BLOT_PARAMETERS, background="border", central_fraction=0.5, rolling_ball_radius_px=30.0
    )
    defaults = blot_parameters(build_parser().parse_args(["blot", "x.tif", "--out", "o"]))
    assert defaults == DEFAULT_BLOT_PARAMETERS
