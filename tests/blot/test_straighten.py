"""Straightening a blot whose membranes lie turned in the frame (generated truth, and every real blot left alone)."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot
from exo_vision.blot.signal import guess_polarity, to_signal
from exo_vision.blot.straighten import STRAIGHTEN_MIN_DEG, frame_rotation_deg, straighten_if_turned, straightened
from exo_vision.io import read_image
from exo_vision.synthetic.blot import make_marker_panel, make_random_blot, make_two_membrane_frame, turned_blot


def signal_of(blot) -> np.ndarray:
    return to_signal(blot.image, polarity=blot.polarity, max_value=blot.max_value)


@pytest.mark.parametrize("make", [make_two_membrane_frame, make_random_blot, make_marker_panel])
@pytest.mark.parametrize("angle", [-5.0, 3.0])
def test_the_rotation_of_turned_membranes_is_read_from_their_edges(make, angle):
    blot = make(rng=11, export="raw")
    assert abs(frame_rotation_deg(signal_of(blot)) or 0.0) < 0.3
    assert frame_rotation_deg(signal_of(turned_blot(blot, angle))) == pytest.approx(angle, abs=0.2)


def test_straightening_keeps_the_signal_and_undoes_the_turn():
    blot = make_marker_panel(rng=12, export="raw")
    turned = turned_blot(blot, 5.0)
    image, rotation = straighten_if_turned(turned.image, polarity=turned.polarity, max_value=turned.max_value)
    assert rotation == pytest.approx(5.0, abs=0.2) and image.dtype == turned.image.dtype
    floor = np.percentile(blot.image, 0.1)
    # the bands' signal above the floor is kept (bilinear turns, twice: a fraction of a per cent)
    assert (image.astype(float) - floor).clip(0).sum() == pytest.approx(
        (blot.image.astype(float) - floor).clip(0).sum(), rel=0.01
    )
    assert abs(frame_rotation_deg(to_signal(image, polarity="bright")) or 0.0) < 0.3
    # a turn under the threshold is left to the lanes' own tilt: the same array comes back
    slight = turned_blot(blot, 0.5 * STRAIGHTEN_MIN_DEG)
    same, none = straighten_if_turned(slight.image, polarity=slight.polarity)
    assert none is None and same is slight.image


def test_a_saturated_plateau_stays_at_the_saturation_level():
    image = np.full((200, 300), 100, np.uint16)
    image[80:120, 60:240] = 65535
    turned = straightened(image, 4.0, polarity="bright")
    assert turned[95:105, 120:180].min() == 65535 and turned[:5, :5].max() == 100


def test_a_panel_turned_by_six_degrees_gives_the_calls_and_ratios_of_the_straight_one():
    """Before straightening, the turned panel called calnexin present in an EV lane (the lysate band's lane moved)."""
    blot = make_marker_panel(rng=3, export="raw")
    markers = ["CD9", "CD63", "calnexin"]
    straight = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=markers)
    turned = turned_blot(blot, 6.0)
    image, rotation = straighten_if_turned(turned.image, polarity=turned.polarity, max_value=turned.max_value)
    assert rotation is not None
    result = quantify_blot(image, polarity=turned.polarity, max_value=turned.max_value, markers=markers)

    def calls(res):
        requested = res.bands[res.bands.requested].sort_values(["strip", "lane"])
        return requested.present.tolist(), requested.volume.to_numpy()

    (present_straight, volume_straight), (present_turned, volume_turned) = calls(straight), calls(result)
    assert present_turned == present_straight == [True] * 7 + [False, False]
    ratios = volume_turned[:6].reshape(2, 3) / volume_turned[[0, 3]][:, None]
    expected = volume_straight[:6].reshape(2, 3) / volume_straight[[0, 3]][:, None]
    np.testing.assert_allclose(ratios, expected, rtol=0.02)


def test_no_real_blot_or_gel_is_straightened(shared_data):
    """Every real image of ../shared/data reads under the threshold (the largest, a lab gel, 1.5 degrees)."""
    paths = [
        *sorted((shared_data / "blots").rglob("*.tif")),
        *sorted((shared_data / "blots").glob("*.png")),
        *sorted((shared_data / "gels").glob("*.tif")),
        *sorted((shared_data / "gels" / "lab_gels_with_masks").glob("*.jpg")),
    ]
    assert len(paths) == 25
    for path in paths:
        image = read_image(path, kind="blot")
        polarity = image.polarity or guess_polarity(image.data)
        data, rotation = straighten_if_turned(image.data, polarity=polarity, max_value=image.max_value)
        assert rotation is None and data is image.data, path.name


def test_straightening_keeps_the_pixel_noise_that_the_detection_limits_are_read_from():
    """Interpolating neighbours would lower the noise, hence the LoD, and let noise be called a band."""
    noise = np.random.default_rng(7).normal(1000, 20, (400, 400)).round().astype(np.uint16)
    turned = straightened(noise, 4.0, polarity="bright")[40:-40, 40:-40].astype(float)
    assert turned.std() == pytest.approx(20, rel=0.05)
    # neighbours stay independent (a repeated pixel now and then)
    assert np.corrcoef(turned[:, 1:].ravel(), turned[:, :-1].ravel())[0, 1] < 0.1


def test_an_eight_bit_export_turned_keeps_its_rows_after_straightening():
    """Nearest-neighbour resampling broke the rounding steps an 8-bit export's LoD rests on: this panel's calnexin
    row was lost (no requested band at all in strip 3); 8-bit exports are interpolated bilinearly instead."""
    turned = turned_blot(make_marker_panel(rng=1101, export="inverted8"), -4.0)
    image, rotation = straighten_if_turned(turned.image, polarity=turned.polarity, max_value=turned.max_value)
    assert rotation == pytest.approx(-4.0, abs=0.2) and image.dtype == np.uint8
    result = quantify_blot(
        image, polarity=turned.polarity, max_value=turned.max_value, markers=["CD9", "CD63", "calnexin"]
    )
    calnexin = result.bands[result.bands.requested & (result.bands.strip == 3)].sort_values("lane")
    assert calnexin.present.tolist() == [True, False, False]
