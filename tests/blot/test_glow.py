"""A band's own glow is no background: the side strips beside a lane rise with the band, and that rise must not
be taken off the band (it cut the same band by 6-24 % depending on the lane, and padding flipped lanes)."""

from __future__ import annotations

import numpy as np
import pytest

from exo_vision.blot.background import band_background, follows_band
from exo_vision.blot.quantify import quantify_blot

ACTIN = ("blots", "imagequant_raw", "antiActin 20240710_131425_Ch_Chemi.tif")
#: Columns of empty membrane added left and right of the ImageQuant frame (the user probe's padded copy).
PAD_COLUMNS = 400


def _gaussian_lane(rows: int = 60, width: int = 20, peak: float = 500.0, level: float = 100.0) -> np.ndarray:
    """Lane pixels: a flat membrane at ``level`` and a Gaussian band (SD 4 rows) at row 30."""
    profile = level + peak * np.exp(-0.5 * ((np.arange(rows) - 30) / 4.0) ** 2)
    return np.repeat(profile[:, None], width, axis=1)


def test_follows_band_by_hand():
    net = np.exp(-0.5 * ((np.arange(21) - 10) / 3.0) ** 2)
    assert follows_band(0.2 * net, net)  # a fifth of the band's shape: its glow
    assert not follows_band(np.linspace(-1.0, 1.0, 21), net)  # a tilt across the window: membrane
    assert not follows_band(-0.2 * net, net)  # a dip where the band rises is no glow
    assert not follows_band(0.2 * net, -net)  # no band rises: nothing glows
    assert not follows_band(np.zeros(21), net)  # a flat side


def test_a_sides_glow_is_not_taken_off_the_band_but_a_tilted_side_still_bends_the_line():
    pixels = _gaussian_lane()
    top, bottom = 15, 46
    line = band_background(pixels, top, bottom, border_px=3)
    np.testing.assert_allclose(line, 100.0, atol=0.1)  # flat membrane: the straight line is (nearly) its level
    glow = 100.0 + 0.15 * (pixels.mean(axis=1) - 100.0)  # 15 % of the band spills into both side strips
    bg = band_background(pixels, top, bottom, border_px=3, gap_profile=[glow, glow])
    np.testing.assert_allclose(bg, line)  # before: the line was raised by the glow, 15 % of the band lost
    # a side that bends against the band (a blotch dipping under the window's lower half) still corrects
    dip = 100.0 - 3.0 * np.clip(np.arange(60) - 30.0, 0, None) * (np.arange(60) < 46)
    bg_dip = band_background(pixels, top, bottom, border_px=3, gap_profile=[dip, dip])
    assert not np.allclose(bg_dip, line)


@pytest.fixture(scope="module")
def actin(shared_data):
    from exo_vision.io.read import read_image

    return read_image(shared_data.joinpath(*ACTIN), kind="blot").data


def _volumes(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volumes of the ImageQuant blot's strong (band 1) and weak (band 2) band per lane, left to right."""
    table = quantify_blot(image, polarity="bright", max_value=65535).bands
    assert len(table) == 16 and table["present"].all()
    by_band = table.set_index(["band", "lane"])["volume"]
    return by_band.loc[1].sort_index().to_numpy(), by_band.loc[2].sort_index().to_numpy()


def _straight_line_sum(signal: np.ndarray, row) -> float:
    """A band window's sum over its columns less the straight line between the means of the 3 rows above and
    below it (the lanes of this blot run straight down)."""
    cols = slice(int(row.x_left_px), int(row.x_right_px))
    top, bottom = int(row.y_top_px), int(row.y_bottom_px)
    above = signal[top - 3 : top, cols].mean()
    below = signal[bottom : bottom + 3, cols].mean()
    rows = np.arange(top, bottom)
    line = above + (below - above) * (rows - (top - 2)) / ((bottom + 1) - (top - 2))
    return float(signal[top:bottom, cols].sum() - line.sum() * (cols.stop - cols.start))


def test_imagequant_volumes_are_the_straight_line_sums_in_every_lane(actin):
    """Before, the side strips' glow was taken off: 0.76-0.94 of the straight-line sum, varying by lane."""
    table = quantify_blot(actin, polarity="bright", max_value=65535).bands
    assert len(table) == 16
    signal = actin.astype(np.float64)
    ratios = np.array([row.volume / _straight_line_sum(signal, row) for row in table.itertuples()])
    np.testing.assert_allclose(ratios, 1.0, atol=0.01)


def test_padding_the_frame_with_empty_membrane_moves_every_lane_alike(actin):
    """Before, 400 px of empty membrane each side moved lanes by -7 % to +29 % (lane 1 +26 %), which moved a
    lane ratio by a third; now every band moves by the same few per cent (the lanes' widths are found anew)."""
    level = int(np.median(actin))
    padded = np.pad(actin, ((0, 0), (PAD_COLUMNS, PAD_COLUMNS)), constant_values=level)
    strong, weak = _volumes(actin)
    strong_padded, weak_padded = _volumes(padded)
    moved = np.concatenate([strong_padded / strong, weak_padded / weak])
    assert moved.max() - moved.min() < 0.02
    np.testing.assert_allclose(moved, 1.0, atol=0.04)
