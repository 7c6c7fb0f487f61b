"""The window of an empty lane follows the band row of the lanes that hold the band (exo_vision.blot.bands.band_rows).

Frames cut from the real 16-bit ImageQuant actin blot: rows 760-1140, columns 60-780 (its lanes 1-6), each lane's
net signal scaled by a factor (0: the lane is replaced by empty membrane from rows 300-680 of the same columns).
The band row runs downhill from lane 1 to lane 6 (its rows move about 25 px), so a window extrapolated from a
noise bump, or placed at one, misses it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exo_vision.blot.quantify import quantify_blot

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / ".." / "shared" / "data" / "blots" / "imagequant_raw" / "antiActin 20240710_131425_Ch_Chemi.tif"
#: Rows and columns of the frame in the blot; rows the empty membrane is taken from start here.
ROWS, COLS, EMPTY_ROW = (760, 1140), (60, 780), 300
#: Columns of the blot's lanes 1-6 (the band's true rows are read over them).
LANES = [(158, 250), (262, 355), (365, 455), (465, 557), (567, 660), (668, 760)]
#: The first band row (actin) lies within these rows of the blot; its true rows in a lane are those whose mean
#: net signal is at least this fraction of the lane's peak.
BAND, BAND_LEVEL = (850, 950), 0.25
NAMES = ["lysate", "exo1", "exo2", "exo3", "PBS", "exo4"]


@pytest.fixture(scope="module")
def blot():
    """(net signal of the frame, empty membrane of the frame), floats."""
    if not RAW.is_file():
        pytest.skip(f"real blot not present at {RAW}")
    import tifffile

    raw = tifffile.imread(RAW).astype(np.float64)
    (r0, r1), (c0, c1) = ROWS, COLS
    band = raw[r0:r1, c0:c1]
    # the net signal: each column less its median over the 60 rows above the bands
    net = band - np.median(band[:60], axis=0)[None, :]
    return net, raw[EMPTY_ROW : EMPTY_ROW + r1 - r0, c0:c1]


def _frame(blot, factors):
    net, empty = blot
    cuts = [0] + [(a[1] + b[0]) // 2 - COLS[0] for a, b in zip(LANES[:-1], LANES[1:])] + [net.shape[1]]
    out = empty.copy()
    for k, f in enumerate(factors):
        out[:, cuts[k] : cuts[k + 1]] += f * net[:, cuts[k] : cuts[k + 1]]
    return np.clip(np.round(out), 0, 65535).astype(np.uint16)


def _true_rows(blot, lane):
    """First and one past the last row (frame rows) of the band row in blot lane ``lane`` (0-based)."""
    net, _ = blot
    a, b = LANES[lane][0] - COLS[0], LANES[lane][1] - COLS[0]
    prof = net[BAND[0] - ROWS[0] : BAND[1] - ROWS[0], a:b].mean(axis=1)
    rows = np.nonzero(prof >= BAND_LEVEL * prof.max())[0] + BAND[0] - ROWS[0]
    return int(rows.min()), int(rows.max()) + 1


@pytest.mark.parametrize(
    "factors",
    [
        # only the lysate lane loaded: a noise bump in exo1 made the windows climb 13 px a lane
        [1, 0, 0, 0, 0, 0],
        # a saturated lysate lane alone: the windows wandered to noise bumps
        [4.5, 0, 0, 0, 0, 0],
        # a saturated lysate and a real exo1 band at 1 %: the windows ran on past exo1 along their line
        [4.5, 0.045, 0, 0, 0, 0],
    ],
    ids=["lysate_only", "saturated_lysate", "saturated_lysate_exo1"],
)
def test_an_empty_lane_is_measured_on_the_band_row(blot, factors):
    """Probe blot50 M2/M3: with --lanes 6 the windows of the empty lanes lay off the band row (exo4's window in
    rows 17-94 where its band would lie in 136-152), so the 'absent, < X %' bound was measured on empty membrane
    beside the row."""
    res = quantify_blot(_frame(blot, factors), n_lanes=6, markers="calnexin", lane_names=NAMES)
    b = res.bands
    row = b[b.marker == "calnexin"].sort_values("lane")
    assert list(row.lane) == [1, 2, 3, 4, 5, 6]
    assert row.iloc[0].present and not row.iloc[2:].present.any()
    for k in range(2, 6):
        top, bottom = _true_rows(blot, k)
        w = row.iloc[k]
        assert w.y_top_px <= top and w.y_bottom_px >= bottom, (NAMES[k], (w.y_top_px, w.y_bottom_px), (top, bottom))


def _lanes(n):
    from exo_vision.blot.lanes import Lane

    return [Lane(1, i + 1, 0, 300, 50.0 + 100 * i, 50.0 + 100 * i, 60.0) for i in range(n)]


def test_a_noise_bump_neither_tilts_the_row_nor_places_its_own_lane():
    """One strong band (rows 100-140) and a faint bump 12 rows higher in lane 2 (its noise unknown: no anchor):
    every other lane's window (and lane 2's) holds the strong band's rows (the old code ran a line through
    both, 12 px a lane, and placed lane 2 at the bump)."""
    from exo_vision.blot.bands import BandCandidate, band_rows

    strong = BandCandidate(100, 140, 120.0, 1000.0, 100, 140)
    bump = BandCandidate(88, 128, 108.0, 6.0, 88, 128)
    (row,) = band_rows(_lanes(5), [[strong], [bump], [], [], []])
    assert [(w.y_top_px, w.y_bottom_px) for w in row] == [(100, 140)] * 5
    assert [w.detected for w in row] == [True, True, False, False, False]


def test_the_row_is_held_beyond_the_last_lane_holding_the_band():
    """Bands in lanes 1 (rows 100-140, mid 120) and 2 (rows 110-150, mid 130): lanes 3-5 lie beyond lane 2 and
    hold its rows (the old straight line ran on: mids 140, 150, 160)."""
    from exo_vision.blot.bands import BandCandidate, band_rows

    a = BandCandidate(100, 140, 120.0, 1000.0, 100, 140)
    b = BandCandidate(110, 150, 130.0, 500.0, 110, 150)
    (row,) = band_rows(_lanes(5), [[a], [b], [], [], []])
    assert [(w.y_top_px, w.y_bottom_px) for w in row] == [(100, 140)] + [(110, 150)] * 4


@pytest.mark.parametrize("noise_sd, held", [(1.0, False), (10.0, True)])
def test_a_faint_band_far_above_its_noise_places_the_row(noise_sd, held):
    """A faint member (5 % of the strong band, rows 110-150) 50 noise SDs high is a band: it keeps its rows and the
    lanes beyond it hold them; at 5 SDs it may be noise, and the strong band's rows (100-140) are held."""
    from exo_vision.blot.bands import BandCandidate, band_rows

    a = BandCandidate(100, 140, 120.0, 1000.0, 100, 140, 1.0)
    b = BandCandidate(110, 150, 130.0, 50.0, 110, 150, noise_sd)
    (row,) = band_rows(_lanes(4), [[a], [b], [], []])
    want = (100, 140) if held else (110, 150)
    assert [(w.y_top_px, w.y_bottom_px) for w in row] == [(100, 140)] + [want] * 3
