"""Lanes of a blot: geometry, and automatic lane finding split along its jobs.

* :mod:`~exo_vision.blot.lanes.geometry` - the :class:`Lane`, its pixels, lanes from ranges or a count
* :mod:`~exo_vision.blot.lanes.profile` - a strip's vertical top-hat, column profile, side profiles
* :mod:`~exo_vision.blot.lanes.peaks` - strong and faint lane peaks, the lane pitch
* :mod:`~exo_vision.blot.lanes.blanks` - blank lanes (gaps, ends, a given count), band-free gap lanes
* :mod:`~exo_vision.blot.lanes.count` - lanes placed for a given count from the lanes that show bands
* :mod:`~exo_vision.blot.lanes.tilt` - the lanes' common slope
* :mod:`~exo_vision.blot.lanes.stacks` - lanes shared by strips cut from one membrane
* :mod:`~exo_vision.blot.lanes.find` - :func:`find_lanes`, the steps in order
"""

from exo_vision.blot.lanes.blanks import END_LANE_TOLERANCE, gap_lanes
from exo_vision.blot.lanes.find import find_lanes
from exo_vision.blot.lanes.geometry import CENTRAL_FRACTION, Lane, lane_pixels, lanes_from_count, lanes_from_ranges
from exo_vision.blot.lanes.profile import gap_profiles
from exo_vision.blot.lanes.stacks import share_lanes, stacked
from exo_vision.blot.lanes.tilt import MAX_TILT_DEG

__all__ = [
    "CENTRAL_FRACTION",
    "END_LANE_TOLERANCE",
    "MAX_TILT_DEG",
    "Lane",
    "find_lanes",
    "gap_lanes",
    "gap_profiles",
    "lane_pixels",
    "lanes_from_count",
    "lanes_from_ranges",
    "share_lanes",
    "stacked",
]
