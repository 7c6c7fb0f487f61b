"""Lane tilt: one slope shared by the lanes of a strip, from their band centroids.

A gel tilt moves every lane the same way; the smile tilts bands of the left and right lanes in
opposite directions, which the median over lanes cancels. Lanes run square to the membrane, give or
take a slight tilt: the fit is kept within ``max_lane_tilt_deg`` of the membrane's rotation.
"""

from __future__ import annotations

import numpy as np

from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS
from exo_vision.blot.strips import Strip

#: Largest tilt of lanes relative to the membrane's edges accepted by automatic detection, degrees.
MAX_TILT_DEG = DEFAULT_BLOT_PARAMETERS.max_lane_tilt_deg

#: Band centroids are taken in about CHUNKS_PER_STRIP row chunks of the strip ...
CHUNKS_PER_STRIP = 12
#: ... each at least this many rows.
MIN_CHUNK_ROWS = 6
#: A centroid is read over this many lane widths each side of the lane centre (a tilted lane stays in).
CENTROID_HALF_WIDTH_LANES = 0.75
#: Chunks weaker than this fraction of the lane's strongest chunk are left out (noise centroids).
MIN_CHUNK_SIGNAL_FRACTION = 0.3
#: A lane whose chunks span fewer rows than this gives no slope.
MIN_SLOPE_SPAN_ROWS = 15
#: Largest shared slope, columns per row (about 11 degrees): a safety cap beyond any lane tilt fitted.
MAX_COMMON_SLOPE = 0.2


def common_slope(th: np.ndarray, xs: list[float], width: float) -> float:
    """Shared lane tilt (columns per row) from band centroids in row chunks of the top-hat block.

    Returns 0 when the bands span too few rows for a reliable slope.
    """
    h = th.shape[0]
    chunk = max(MIN_CHUNK_ROWS, h // CHUNKS_PER_STRIP)
    slopes: list[float] = []
    half = int(CENTROID_HALF_WIDTH_LANES * width)
    for x in xs:
        lo, hi = int(round(x)) - half, int(round(x)) + half + 1
        if lo < 0 or hi > th.shape[1]:
            continue
        pts = []
        for a in range(0, h - chunk + 1, chunk):
            col = th[a : a + chunk, lo:hi].mean(axis=0)
            if col.max() <= 0:
                continue
            w = np.clip(col - 0.5 * col.max(), 0, None)
            pts.append((a + chunk / 2, float((np.arange(lo, hi) * w).sum() / w.sum()), float(col.max())))
        if len(pts) < 2:
            continue
        arr = np.array(pts)
        arr = arr[arr[:, 2] >= MIN_CHUNK_SIGNAL_FRACTION * arr[:, 2].max()]
        if len(arr) < 2:
            continue
        y = arr[:, 0] - np.average(arr[:, 0], weights=arr[:, 2])
        d = arr[:, 1] - np.average(arr[:, 1], weights=arr[:, 2])
        if np.ptp(y) < MIN_SLOPE_SPAN_ROWS:
            continue
        slopes.append(float((arr[:, 2] * y * d).sum() / (arr[:, 2] * y * y).sum()))
    # A gel tilt moves every lane the same way; the smile tilts bands of the left and
    # right lanes in opposite directions, which the median over lanes cancels.
    if not slopes:
        return 0.0
    slope = float(np.median(slopes))
    return float(np.clip(slope, -MAX_COMMON_SLOPE, MAX_COMMON_SLOPE))


def lane_slope(
    th: np.ndarray, xs: list[float], width: float, strip: Strip, *, max_tilt_deg: float = MAX_TILT_DEG
) -> float:
    """Slope (columns per row) of the lanes at centres ``xs`` of a strip's top-hat ``th``.

    The band fit (:func:`common_slope`) is kept within ``max_tilt_deg`` of the membrane's rotation
    (``strip.angle_deg``): few bands can give a wild slope. Too few band rows for a fit leave the lanes
    square to the membrane.
    """
    slope = common_slope(th, xs, width)
    square = float(np.tan(np.deg2rad(strip.angle_deg)))
    tilt = float(np.tan(np.deg2rad(max_tilt_deg)))
    return square if slope == 0.0 else float(np.clip(slope, square - tilt, square + tilt))
