"""A blot turned by 90 degrees is said, not quantified silently as tall slabs of sideways lanes."""

import logging

import numpy as np
import pytest

from exo_vision.blot.orientation import edge_ratio
from exo_vision.blot.quantify import quantify_blot
from exo_vision.io.read import read_image
from exo_vision.synthetic.blot import make_misev_frame, make_random_blot

ACTIN = ("blots", "imagequant_raw", "antiActin 20240710_131425_Ch_Chemi.tif")


def _sideways(result) -> list[str]:
    return [w for w in result.warnings if "seem to run left to right" in w]


def test_edge_ratio_of_horizontal_and_vertical_stripes():
    rows = np.zeros((60, 60))
    rows[20:30] = 1.0
    assert edge_ratio(rows) > 100 and edge_ratio(rows.T) < 0.01
    assert edge_ratio(np.ones((20, 20))) == float("inf")


def test_a_real_blot_turned_sideways_is_said_and_upright_is_not(shared_data, caplog):
    img = read_image(shared_data.joinpath(*ACTIN), kind="blot")
    upright = quantify_blot(img.data, polarity=img.polarity, max_value=img.max_value)
    assert not _sideways(upright) and len(upright.lanes) == 8
    with caplog.at_level(logging.WARNING):
        turned = quantify_blot(np.ascontiguousarray(np.rot90(img.data)), polarity=img.polarity, max_value=img.max_value)
    (msg,) = _sideways(turned)
    assert "turn the image by 90 degrees" in msg and msg in caplog.text
    given = quantify_blot(np.ascontiguousarray(np.rot90(img.data)), polarity=img.polarity, n_lanes=2)
    assert not _sideways(given)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_blots_upright_are_not_called_sideways(seed):
    blot = make_random_blot(rng=seed)
    assert not _sideways(quantify_blot(blot.image))


def test_lane_names_on_a_frame_turned_sideways_are_refused_with_the_turn_named():
    """probe56 F11: with lane names (the MISEV workflow) a frame turned by 90 degrees was refused for its lane
    count only ("10 lane names for 1 lanes found"), and --lanes 10 then for "no lanes found"; the one message
    that names the turn came only without names. Both refusals now name it too; an upright frame's do not."""
    frame = make_misev_frame("CD9", rng=0)
    names = [f"lane{i}" for i in range(1, 11)]
    turned = np.ascontiguousarray(np.rot90(frame.image))
    markers = ["CD9", "calnexin"]
    for kwargs in ({"lane_names": names}, {"lane_names": names, "n_lanes": 10, "markers": markers}):
        with pytest.raises(ValueError, match="turn it by 90 degrees"):
            quantify_blot(turned, **kwargs)
    with pytest.raises(ValueError) as upright:
        quantify_blot(frame.image, lane_names=names[:4])
    assert "90 degrees" not in str(upright.value)
