"""A neighbour's flank: signal in a lane that is only the glow of a saturated or much stronger band beside it.

A saturated (or very strong) chemiluminescent band glows: its halo spreads tens of pixels past its lane, across
the gap and into the next lane's columns. A lane with no band of its own (an empty EV lane beside a saturated
lysate band, or a lane placed for a lane count beside the last loaded lane) then reads a volume over its
limit of detection that is nothing but that flank. The flank has a shape a band has not: across the lane it
rises toward the neighbour and keeps rising through the gap, and the lane's far side holds almost nothing,
where a band of the lane's own fills the lane evenly and dips in the gap. :func:`flank_only` finds such
calls, which are then called absent with a warning (:func:`flank_message`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from exo_vision.blot.lanes.geometry import Lane

#: A neighbour glows over a lane when its band is saturated, or this many times the lane's volume in the same rows.
NEIGHBOUR_VOLUME_RATIO = 10.0
#: A band is only a flank when its lane's far third (away from the neighbour) holds at most this share of its
#: near third's net signal ...
FAR_SHARE = 0.3
#: ... the two windows overlap by at least this share of the shorter one's rows ...
MIN_ROW_OVERLAP = 0.5
#: ... and the signal does not dip in the gap toward the neighbour below this share of the near third's (a band
#: of the lane's own is set apart from its neighbour by a dip).
GAP_SHARE = 1.0
#: The near and far parts of a lane are its outer 1/LANE_PARTS of the width on each side.
LANE_PARTS = 3


def flank_only(image: np.ndarray, lanes: Sequence[Lane], measured: list[dict]) -> list[tuple[dict, dict]]:
    """Present, unsaturated band records of a strip whose only signal is the flank of a neighbour's band.

    For each such record (a dict with the columns of the band table: ``lane``, ``y_top_px``, ``y_bottom_px``,
    ``volume``, ``present``, ``saturated``), the neighbour lane's record over the same rows (overlap at least
    :data:`MIN_ROW_OVERLAP`) must be present and saturated, or :data:`NEIGHBOUR_VOLUME_RATIO` times its volume.
    Across the lane, on the window's rows net of each column's median over the strip's rows (the membrane),
    the far third (away from the neighbour) holds at most :data:`FAR_SHARE` of the near third, and no column
    of the gap toward the neighbour holds less than :data:`GAP_SHARE` of it (no dip between the lanes).

    Parameters
    ----------
    image : (M, N) ndarray
        Blot in signal orientation.
    lanes : sequence of Lane
        The strip's lanes.
    measured : list of dict
        The strip's band records.

    Returns
    -------
    list of (dict, dict)
        Each flank record with the neighbour record it comes from.
    """
    by_index = {lane.index: lane for lane in lanes}
    out = []
    for m in measured:
        if not m["present"] or m["saturated"] or m["lane"] not in by_index:
            continue
        for side in (-1, 1):
            neighbour = _glowing_neighbour(m, measured, m["lane"] + side)
            if neighbour is None or neighbour["lane"] not in by_index:
                continue
            if _is_flank(image, by_index[m["lane"]], by_index[neighbour["lane"]], m):
                out.append((m, neighbour))
                break
    return out


def _glowing_neighbour(m: dict, measured: list[dict], lane: int) -> dict | None:
    """The record of lane ``lane`` over the rows of ``m`` that is present and saturated or far stronger."""
    for o in measured:
        if o["lane"] != lane or not o["present"]:
            continue
        overlap = min(o["y_bottom_px"], m["y_bottom_px"]) - max(o["y_top_px"], m["y_top_px"])
        shorter = min(o["y_bottom_px"] - o["y_top_px"], m["y_bottom_px"] - m["y_top_px"])
        if overlap < MIN_ROW_OVERLAP * shorter:
            continue
        if o["saturated"] or o["volume"] >= NEIGHBOUR_VOLUME_RATIO * max(m["volume"], 0.0):
            return o
    return None


def _is_flank(image: np.ndarray, lane: Lane, neighbour: Lane, m: dict) -> bool:
    """Whether record ``m`` of ``lane`` is shaped as the flank of ``neighbour``'s band (see :func:`flank_only`)."""
    rows = np.arange(max(m["y_top_px"], lane.y_top_px), min(m["y_bottom_px"], lane.y_bottom_px))
    if rows.size == 0:
        return False
    mid = float(rows.mean())
    c, n = float(lane.centre_x(mid)), float(neighbour.centre_x(mid))
    d = 1.0 if n > c else -1.0
    half = lane.width_px / 2
    near_edge, far_edge = c + d * half, c - d * half
    gap_end = n - d * neighbour.width_px / 2
    lo = int(np.floor(min(far_edge, gap_end, near_edge))) - 1
    hi = int(np.ceil(max(far_edge, gap_end, near_edge))) + 2
    lo, hi = max(lo, 0), min(hi, image.shape[1])
    strip_rows = image[lane.y_top_px : lane.y_bottom_px, lo:hi]
    net = image[rows, lo:hi].mean(axis=0) - np.median(strip_rows, axis=0)
    cols = np.arange(lo, hi)
    part = lane.width_px / LANE_PARTS
    toward = d * (cols - c)  # columns' distance from the lane centre toward the neighbour
    near = net[(toward >= half - part) & (toward <= half)]
    far = net[(toward >= -half) & (toward <= -half + part)]
    gap = net[(toward >= half) & (toward <= abs(gap_end - c))]
    if near.size == 0 or far.size == 0:
        return False
    near_level = float(near.mean())
    if near_level <= 0:
        return False
    gap_level = float(gap.min()) if gap.size else float(near.max())
    return float(far.mean()) <= FAR_SHARE * near_level and gap_level >= GAP_SHARE * near_level


def flank_message(flanks: list[tuple[dict, dict]]) -> list[str]:
    """One warning per band called absent as a neighbour's flank, naming the lane and the neighbour."""
    out = []
    for m, o in flanks:
        name = f" ({m['lane_name']})" if m.get("lane_name") else ""
        other = f" ({o['lane_name']})" if o.get("lane_name") else ""
        what = "saturated" if o["saturated"] else f"{o['volume'] / m['volume']:.0f}x stronger"
        out.append(
            f"strip {m['strip']} lane {m['lane']}{name}: the signal at rows {m['y_top_px']}-{m['y_bottom_px']} is only "
            f"the flank (glow) of the {what} band of lane {o['lane']}{other} reaching across the lanes' boundary "
            "(it rises toward that lane and fills nothing of this lane's far side), so it was called absent. A "
            "band of this lane's own may hide under the glow: check the annotated image, or take a shorter exposure"
        )
    return out
