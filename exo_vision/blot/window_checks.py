"""Checks of requested band windows whose present/absent call cannot be trusted.

A marker window (given in rows, or placed by the ladder fit from a kDa range) is integrated as one band in
every lane, with its background read on the rows just outside it. Two things make that call meaningless, and
each gets a warning that names the lanes:

* :func:`cut_band_warnings`: the window's edge runs through a band of the lane (the band reaches across the
  edge, or lies in the border rows the background is read from). Part of the band is then summed and part
  subtracted as background, so one band reads present in one lane and absent in the next with the same volume.
* :func:`negative_volume_warnings`: a window whose volume lies
  :data:`~exo_vision.blot.panel.NEGATIVE_VOLUME_SDS` noise SDs below zero. A blank box never reads that low; the
  background subtracted there is signal, not background (the marker panel gives such a lane no call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from exo_vision.blot.bands import BandCandidate, detect_bands
from exo_vision.blot.lanes import Lane
from exo_vision.blot.panel import NEGATIVE_VOLUME_SDS, unreliable_volume
from exo_vision.blot.parameters import BlotParameters

#: At most this many lanes are named in one warning.
MAX_LANES_NAMED = 8
#: A window's edge cuts a band when the band's profile, on the window's edge row or the border rows beyond it,
#: stands at least this share of its peak above the band's own baseline (a Gaussian band cut 1.8 SD from its
#: centre; a window reaching 2 SD past the band leaves only its tail, 0.14 of the peak, at the edge).
EDGE_SIGNAL_SHARE = 0.2


def _lane_bands(profile: np.ndarray, lane: Lane, params: BlotParameters) -> list[BandCandidate]:
    """The bands of a lane's own profile, found as the strip's band detection finds them."""
    return detect_bands(
        profile,
        y_offset_px=lane.y_top_px,
        k_noise=params.band_peak_noise_sds,
        merge_valley=params.merge_valley_fraction,
        background_window_px=int(params.background_window_lane_widths * lane.width_px),
        max_height_px=int(params.max_band_fraction * (lane.y_bottom_px - lane.y_top_px)),
        noise_difference_order=params.profile_noise_difference_order,
    )


def cut_band(band: BandCandidate, profile: np.ndarray, y0: int, top: int, bottom: int, border_px: int) -> str:
    """Which edge of the window ``top``-``bottom`` (image rows, end-exclusive) cuts ``band``: "top", "bottom" or "".

    An edge cuts a band that reaches across it, or into the ``border_px`` rows beyond it that the window's
    background is read from, without lying wholly inside the window, and whose ``profile`` (the lane's, first
    row ``y0``) stands at least :data:`EDGE_SIGNAL_SHARE` of the band's peak above the band's baseline (a
    straight line between its first and last rows) on the edge row or those border rows: a band's faint tail
    reaching past the window cuts nothing that matters.
    """
    first, last = band.y_top_px - y0, band.y_bottom_px - 1 - y0
    rows = np.arange(first, last + 1)
    net = profile[first : last + 1] - np.interp(rows, [first, last], [profile[first], profile[last]])
    peak = float(net.max()) if net.size else 0.0

    def high(a: int, b: int) -> bool:  # image rows a..b-1 of the band stand high
        inside = (rows + y0 >= a) & (rows + y0 < b)
        return bool(peak > 0 and inside.any() and net[inside].max() >= EDGE_SIGNAL_SHARE * peak)

    if band.y_top_px < top and band.y_bottom_px > top - border_px and high(top - border_px, top + 1):
        return "top"
    if band.y_bottom_px > bottom and band.y_top_px < bottom + border_px and high(bottom - 1, bottom + border_px):
        return "bottom"
    return ""


def cut_band_warnings(
    table: pd.DataFrame,
    lanes: Sequence[Lane],
    profiles: Mapping[tuple[int, int], np.ndarray],
    windows: Mapping[tuple[int, str], tuple[int, int]],
    params: BlotParameters,
) -> list[str]:
    """A warning for each requested window whose edge runs through a band of one or more lanes.

    Parameters
    ----------
    table : pandas.DataFrame
        The band table (:data:`~exo_vision.blot.quantify.BAND_COLUMNS`).
    lanes : sequence of Lane
        Every lane of every strip.
    profiles : mapping of (int, int) to ndarray
        ``(strip, lane) ->`` lane profile (mean signal per row).
    windows : mapping of (int, str) to (int, int)
        ``(strip, marker) ->`` the window's rows as asked (from rows given or the ladder fit).
    params : BlotParameters
        The band-detection settings.

    Returns
    -------
    list of str
    """
    out = []
    by_index = {(lane.strip, lane.index): lane for lane in lanes}
    for (strip, marker), _asked in windows.items():
        rows = table[(table["strip"] == strip) & (table["marker"] == marker) & table["requested"].astype(bool)]
        cuts = []
        for r in rows.itertuples():
            lane = by_index.get((strip, int(r.lane)))
            if lane is None or (strip, lane.index) not in profiles:
                continue
            profile = profiles[(strip, lane.index)]
            for band in _lane_bands(profile, lane, params):
                edge = cut_band(band, profile, lane.y_top_px, int(r.y_top_px), int(r.y_bottom_px), params.border_px)
                if edge:
                    name = f" ({r.lane_name})" if r.lane_name else ""
                    cuts.append(f"lane {lane.index}{name}: {edge} edge, band rows {band.y_top_px}-{band.y_bottom_px}")
                    break
        if cuts:
            top, bottom = int(rows["y_top_px"].min()), int(rows["y_bottom_px"].max())
            more = f" and {len(cuts) - MAX_LANES_NAMED} more" if len(cuts) > MAX_LANES_NAMED else ""
            out.append(
                f"strip {strip}: the {marker} window (rows {top}-{bottom}) cuts through a band in "
                f"{'; '.join(cuts[:MAX_LANES_NAMED])}{more}: part of the band is summed and part taken as "
                "background, so these lanes' volumes and present/absent calls are unreliable (one band can read "
                "present in one lane and absent in the next); move the window off the band (or check the ladder "
                "sizes that place it, --ladder-kda)"
            )
    return out


def negative_volume_warnings(table: pd.DataFrame) -> list[str]:
    """A warning naming the absent windows whose volume lies far below zero (:func:`~exo_vision.blot.panel.
    unreliable_volume`): the background read beside them is not background.

    Parameters
    ----------
    table : pandas.DataFrame
        The band table.

    Returns
    -------
    list of str
    """
    deep = [r for r in table[~table["present"].astype(bool)].itertuples() if unreliable_volume(r)]
    if not deep:
        return []
    named = "; ".join(
        f"strip {r.strip} lane {r.lane}{f' ({r.lane_name})' if r.lane_name else ''} band {r.band}"
        f"{f' ({r.marker})' if r.marker else ''}: volume {r.volume:.3g}, "
        f"{-r.volume / r.noise_sd_volume:.0f} noise SDs below zero"
        for r in deep[:MAX_LANES_NAMED]
    )
    more = f" and {len(deep) - MAX_LANES_NAMED} more" if len(deep) > MAX_LANES_NAMED else ""
    return [
        f"{len(deep)} window(s) read far below zero (a blank box reads below {NEGATIVE_VOLUME_SDS:g} noise SDs "
        f"almost never): {named}{more}. The background read on the rows beside them is not background (a band or "
        "smear lies there, or the window's edge cuts one), so 'absent' means nothing there and the marker panel "
        "gives these lanes no call; move the window"
    ]
