"""A turn of the blot read from its bands: the rows they lie on across the lanes of a strip.

:func:`~exo_vision.blot.straighten.frame_rotation_deg` reads a turn from the membranes' edges; a membrane that
fills the frame shows none, and the blot is then measured as it lies, with level band boxes over tilted bands
(the real ImageQuant blot turned by 5 degrees and cropped inside its membrane: an outer lane's band +29 %). The
bands tell the turn too: in a turned blot the same band sits a little higher (or lower) in each lane across the
strip, along a straight line. A gel that smiles curves instead (its slopes change sign across the strip), and a
lone row of bands says nothing, so a turn is called only where most neighbouring-lane pairs agree on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from exo_vision.blot.lanes import Lane
from exo_vision.blot.straighten import frame_rotation_deg

#: Fewest pairs of the same band in neighbouring lanes a strip's turn is read from.
MIN_PAIRS = 3
#: Two bands of neighbouring lanes are taken for the same band when their peak rows differ by at most this
#: fraction of the taller band's height.
SAME_BAND_HEIGHT_FRACTION = 0.5
#: Share of the pairs whose slope must have the sign of the median slope (a smile splits them).
AGREEING_SHARE = 0.75
#: A strip whose bands lie turned by at least this many degrees is named (the turn straightening undoes).
TURN_WARNING_DEG = 2.0


def _pair_slopes(bands: pd.DataFrame, centres: dict[int, float]) -> list[float]:
    """Slopes (rows per column) between the same band in each pair of neighbouring lanes of one strip."""
    slopes = []
    lane = bands["lane"].to_numpy()
    y = bands["y_px"].to_numpy(float)
    height = bands["height_px"].to_numpy(float)
    lanes = sorted(centres)
    for a, b in zip(lanes, lanes[1:]):
        left, right = lane == a, lane == b
        dx = centres[b] - centres[a]
        if not left.any() or not right.any() or dx <= 0:
            continue
        y_right, height_right = y[right], height[right]
        for y_left, height_left in zip(y[left], height[left]):
            gaps = y_right - y_left
            k = int(np.argmin(np.abs(gaps)))
            if abs(gaps[k]) <= SAME_BAND_HEIGHT_FRACTION * max(height_left, height_right[k]):
                slopes.append(float(gaps[k] / dx))
    return slopes


def band_turn_deg(bands: pd.DataFrame, lanes: Sequence[Lane]) -> dict[int, tuple[float, int]]:
    """The turn of each strip read from the rows of its present bands across its lanes.

    Parameters
    ----------
    bands : pandas.DataFrame
        The band table of :func:`~exo_vision.blot.quantify.quantify_blot` (``strip``, ``lane``, ``y_px``,
        ``height_px``, ``present``).
    lanes : sequence of Lane
        The lanes the table was measured in.

    Returns
    -------
    dict
        ``{strip: (turn_deg, n_pairs)}`` for every strip whose neighbouring-lane pairs of one band (at least
        :data:`MIN_PAIRS`) agree on the sign of their slope (:data:`AGREEING_SHARE`): the median slope as an
        angle in degrees, positive when the bands rise to the right on screen (the blot turned
        counter-clockwise, as :func:`~exo_vision.blot.straighten.straightened` takes it).
    """
    turns: dict[int, tuple[float, int]] = {}
    present = bands[bands["present"].astype(bool)] if len(bands) else bands
    for strip in sorted({lane.strip for lane in lanes}):
        centres = {lane.index: 0.5 * (lane.x_top_px + lane.x_bottom_px) for lane in lanes if lane.strip == strip}
        slopes = np.asarray(_pair_slopes(present[present["strip"] == strip], centres))
        if slopes.size < MIN_PAIRS:
            continue
        median = float(np.median(slopes))
        if median == 0 or np.mean(np.sign(slopes) == np.sign(median)) < AGREEING_SHARE:
            continue
        turns[strip] = (math.degrees(math.atan(-median)), int(slopes.size))
    return turns


def turned_bands_warnings(bands: pd.DataFrame, lanes: Sequence[Lane], signal: np.ndarray) -> list[str]:
    """A warning for each strip whose bands lie turned by :data:`TURN_WARNING_DEG` or more, where no membrane
    edge shows how the blot lies.

    Where the membranes' edges are seen (:func:`~exo_vision.blot.straighten.frame_rotation_deg`), they tell a
    turned blot (straightened before this) from a gel that ran askew, and nothing is said. Otherwise the band boxes
    stay level over tilted bands, which can move the outer lanes' volumes by several per cent, and the warning
    gives the angle to straighten by.

    Parameters
    ----------
    bands : pandas.DataFrame
        The band table.
    lanes : sequence of Lane
        The lanes it was measured in.
    signal : (M, N) ndarray
        The blot in signal orientation (bright bands), as measured.

    Returns
    -------
    list of str
    """
    turns = {k: v for k, v in band_turn_deg(bands, lanes).items() if abs(v[0]) >= TURN_WARNING_DEG}
    if not turns or frame_rotation_deg(signal) is not None:
        return []
    return [
        f"strip {strip}: its bands lie along a line turned {turn:+.1f} degrees across its lanes ({n} pairs of one "
        "band in neighbouring lanes agree) and no membrane edge shows how the blot lies, so it was measured as it "
        "lies, with level band boxes over tilted bands (the outer lanes' volumes can be off by several per cent). If "
        f"the blot is turned, straighten it (--rotate {turn:.1f} on the command line); a gel that ran askew is "
        "measured right as it is"
        for strip, (turn, n) in turns.items()
    ]
