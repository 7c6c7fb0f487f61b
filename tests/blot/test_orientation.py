"""A blot turned by 90 degrees is said, not quantified silently as tall slabs of sideways lanes."""

import logging

import numpy as np
import pytest

from exo_vision.blot.orientation import edge_ratio
from exo_vision.blot.quantify import quantify_blot
from exo_vision.io.read import read_image
from exo_vision.synthetic.blot import make_random_blot

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
