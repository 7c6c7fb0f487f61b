"""Whether a blot's lanes run across the image instead of down it (an image turned by 90 degrees).

exo_vision reads lanes as columns. On a blot turned sideways, the lanes found are the band rows and the
"bands" are tall slabs of them, each called present: every number is wrong, and nothing else says so.
Two signs together tell it: the image's edges run mostly up and down (a blot's band edges and membrane
edges run across), and the bands reported are much taller than their lanes are wide.

On the real blots of ``benchmarks/blot_real.py`` upright, the edge ratio is 5.4-16.8 and bands are at most
1.75 lane widths tall; turned by 90 degrees, the ratio is 0.06-0.19 and the bands 1.5-8.4 lane widths
tall. Generated blots upright give ratios of 0.78 and more. DNA gels, whose lanes hold long smears, can
give ratios near 0.2 upright; :func:`~exo_vision.blot.gel.quantify_gel` gives its lanes, and the check only
runs where lanes and their number were found automatically.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from exo_vision.blot.advice import LANE_COUNT
from exo_vision.blot.lanes import Lane

#: Below this ratio of the edge energy across rows to that across columns, the edges run up and down.
SIDEWAYS_EDGE_RATIO = 0.25
#: Above this median band height (in lane widths), the reported bands are slabs of a sideways lane.
SIDEWAYS_BAND_HEIGHT_LANES = 1.4
#: A refusal of the lanes found (their count, their names) also names a turn by 90 degrees when the edge ratio is
#: under this: an upright blot's is above it (3.3 on a generated MISEV frame, 0.30 turned).
SIDEWAYS_HINT_EDGE_RATIO = 1.0
#: Gaussian smoothing (px) before the edge energies, so pixel noise does not count as edges.
EDGE_SMOOTHING_PX = 2.0


def edge_ratio(signal: np.ndarray) -> float:
    """Energy of the vertical intensity gradient over that of the horizontal one (dimensionless).

    Band and membrane edges run across a blot, so an upright blot's ratio is well above 1.
    """
    s = ndi.gaussian_filter(np.asarray(signal, dtype=np.float32), EDGE_SMOOTHING_PX)
    across_rows = float(np.sum(ndi.sobel(s, axis=0) ** 2))
    across_columns = float(np.sum(ndi.sobel(s, axis=1) ** 2))
    return across_rows / across_columns if across_columns > 0 else float("inf")


def sideways_message(signal: np.ndarray, bands: pd.DataFrame, lanes: Sequence[Lane]) -> str | None:
    """A message when the lanes seem to run left to right (the image turned by 90 degrees), else None.

    Parameters
    ----------
    signal : ndarray
        The blot as signal (bands bright), rows by columns.
    bands : DataFrame
        The band table found on it (``height_px`` column, px).
    lanes : sequence of Lane
        The lanes found on it.
    """
    if bands.empty or not lanes:
        return None
    tall = float(np.median(bands["height_px"]) / np.median([lane.width_px for lane in lanes]))
    if tall <= SIDEWAYS_BAND_HEIGHT_LANES:
        return None
    ratio = edge_ratio(signal)
    if ratio >= SIDEWAYS_EDGE_RATIO:
        return None
    return (
        f"the lanes seem to run left to right: the image's edges run mostly up and down (edge energy across rows "
        f"/ across columns {ratio:.2f}, an upright blot's is above 1) and the bands found are {tall:.1f} lane "
        "widths tall. exo_vision reads lanes as columns: turn the image by 90 degrees (Fiji: Image > Transform > "
        f"Rotate 90 Degrees) and run again; if the lanes do run top to bottom, give {LANE_COUNT} and "
        "this check is left out"
    )


def sideways_hint(signal: np.ndarray) -> str:
    """A sentence to add to a lane-count or lane-name refusal when the image's edges run mostly up and down
    (:func:`edge_ratio` under :data:`SIDEWAYS_HINT_EDGE_RATIO`: the blot may be turned by 90 degrees, so lanes
    and bands were read across each other), else an empty string."""
    ratio = edge_ratio(signal)
    if ratio >= SIDEWAYS_HINT_EDGE_RATIO:
        return ""
    return (
        f". The image's edges also run mostly up and down (edge energy across rows / across columns {ratio:.2f}, "
        "an upright blot's is above 1): if its lanes run left to right, turn it by 90 degrees (Fiji: Image > "
        "Transform > Rotate 90 Degrees) and run again"
    )
