"""A stacked membrane takes the reference membrane's lanes only when they are plausibly the same comb.

Lending the reference's lanes to a membrane whose own lanes do not line up helps when the lane finder read one gel's
lanes worse on that membrane (lanes it merged in pairs). A share of the band signal inside the lanes alone always
favours a denser grid: it handed a membrane the other membrane's wrong, denser grid (a strong band at the end of the
membrane left outside every lane), or the grid of another gel stacked above it (bands split between two lanes).
The lane geometries below are those the lane finder gave on generated frames where this happened.
"""

from __future__ import annotations

import numpy as np

from exo_vision.blot.lanes.geometry import Lane
from exo_vision.blot.lanes.stacks import _lent_shift
from exo_vision.blot.strips import Strip

#: The strip's rows and columns (end-exclusive).
ROWS, LEFT, RIGHT = 200, 100, 1050
#: Half-width (px) of a band's flat top across its lane, and its Gaussian sigma (rows) down the lane.
BAND_HALF_WIDTH_PX, BAND_SIGMA_ROWS = 22.0, 6.0


def _signal(centres, strengths, smear=(0.0, 0, 0)) -> tuple[np.ndarray, Strip]:
    """A membrane with one band row at row 100: a band of the given strength at each column centre (px), over a
    smear of strength ``smear[0]`` from column ``smear[1]`` to ``smear[2]`` (end-exclusive)."""
    y, x = np.mgrid[0:ROWS, 0:1100].astype(float)
    level, lo, hi = smear
    img = level * 1000.0 * ((x >= lo) & (x < hi)) * np.exp(-0.5 * ((y - 100) / BAND_SIGMA_ROWS) ** 2)
    for c, s in zip(centres, strengths, strict=True):
        img += (
            s * 1000.0 * np.exp(-0.5 * ((x - c) / BAND_HALF_WIDTH_PX) ** 8 - 0.5 * ((y - 100) / BAND_SIGMA_ROWS) ** 2)
        )
    return img, Strip(2, 0, ROWS, LEFT, RIGHT)


def _lanes(centres, width) -> list[Lane]:
    return [Lane(2, k + 1, 0, ROWS, float(c), float(c), float(width)) for k, c in enumerate(centres)]


def _pitch(centres) -> float:
    return float(np.median(np.diff(centres)))


def test_a_denser_wrong_grid_is_not_lent_over_the_first_lane():
    # the membrane's own lanes are near its true lanes; the reference grid is 61 px apart (the true pitch is ~88)
    # and starts right of the first lane; a smear runs under the bands from the second lane on, and the dense grid
    # holds more of it than the membrane's own lanes do
    truth = [205, 309, 403, 501, 573, 658, 768, 842, 910]
    img, strip = _signal(truth, [1.0, 2.0, 0.0, 0.0, 1.5, 2.0, 1.5, 0.8, 0.5], (0.4, 280, 930))
    own = _lanes([222, 310, 397, 485, 573, 662, 769, 846], 54.9)
    ref_x = [309, 370, 431, 491, 553, 614, 676, 723, 770, 845, 893]
    assert _lent_shift(img, _lanes(ref_x, 58.5), own, strip, _pitch(ref_x)) is None


def test_another_gels_comb_is_not_lent():
    # another gel's 87-px comb over this membrane's lanes (the lane finder read 453 over the true lanes 419 and
    # 471): the reference's lanes cut the left bands in two
    truth = [294, 362, 419, 471, 526, 610, 695, 773, 849, 933]
    img, strip = _signal(truth, [1.0, 1.2, 2.0, 1.5, 2.0, 1.0, 2.0, 1.6, 1.6, 1.0])
    own_x = [295, 362, 453, 531, 610, 695, 773, 849, 933]
    ref_x = [247, 325, 403, 497, 592, 678, 767, 848, 939]
    assert _lent_shift(img, _lanes(ref_x, 64.0), _lanes(own_x, 56.5), strip, _pitch(ref_x)) is None


def test_the_same_comb_read_worse_on_this_membrane_is_still_lent():
    # one gel: the membrane's own lanes merged two pairs of lanes (418, 767); the reference holds every lane
    ref_x = [200, 297, 387, 448, 547, 634, 724, 813, 901, 977]
    img, strip = _signal(ref_x, [1.5, 2.0, 1.0, 1.2, 2.0, 1.5, 0.6, 0.6, 1.4, 0.0])
    own = _lanes([203, 298, 418, 543, 634, 767, 900], 66.1)
    shift = _lent_shift(img, _lanes(ref_x, 59.4), own, strip, _pitch(ref_x))
    assert shift is not None and abs(shift) <= 5


def test_the_same_pitch_is_lent_past_a_lane_the_reference_missed_at_its_end():
    # one gel at one pitch (~66 px): the reference read no lane over the first loaded lane, the membrane's own lanes
    # stop in the middle; the reference's lanes hold every band but the first
    truth = [284, 338, 403, 471, 539, 597, 669, 749, 831]
    img, strip = _signal(truth, [1.0, 1.0, 1.0, 0.0, 0.7, 1.1, 1.0, 0.6, 0.7])
    own = _lanes([220, 284, 338, 403, 471, 539, 597], 42.7)
    ref_x = [331, 398, 465, 531, 590, 670, 751, 831]
    shift = _lent_shift(img, _lanes(ref_x, 42.9), own, strip, _pitch(ref_x))
    assert shift is not None and abs(shift) <= 10
