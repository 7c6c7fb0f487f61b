"""Western-blot quantification (pure functions over arrays, no GUI).

One job per module:

* :mod:`~exo_vision.blot.signal` - polarity, signal orientation, dust specks
* :mod:`~exo_vision.blot.strips` - membrane strips in an image
* :mod:`~exo_vision.blot.parameters` - :class:`~exo_vision.blot.parameters.BlotParameters`, every method setting
* :mod:`~exo_vision.blot.constants` - fixed numbers shared by the modules (MAD to SD, background window bounds)
* :mod:`~exo_vision.blot.lanes` - lane geometry (:class:`~exo_vision.blot.lanes.Lane`), automatic or explicit
  (a package: geometry, profile, peaks, blanks, count, tilt, stacks, find)
* :mod:`~exo_vision.blot.bands` - bands from lane profiles, band rows across lanes
* :mod:`~exo_vision.blot.background` - lane-profile baseline (default), border median, rolling ball/disk
* :mod:`~exo_vision.blot.volume` - background-subtracted band volume
* :mod:`~exo_vision.blot.saturation` - clipped pixels, 8-bit export warnings
* :mod:`~exo_vision.blot.detection` - blank-box noise, limit of detection, present/absent
* :mod:`~exo_vision.blot.flank` - a neighbour's glow across the lane boundary, called absent
* :mod:`~exo_vision.blot.ladder` - molecular-weight fit from a ladder lane
* :mod:`~exo_vision.blot.panel` - EV/lysate enrichment, replicate statistics, MISEV verdict
* :mod:`~exo_vision.blot.quantify` - :func:`~exo_vision.blot.quantify.quantify_blot`, the one high-level call
* :mod:`~exo_vision.blot.gel` - gels: the gel's extent, well rows, comb tiers; :func:`~exo_vision.blot.gel.quantify_gel`

The public API is importable from here (``from exo_vision.blot import quantify_blot, BlotParameters``);
names are loaded on first use, so importing :mod:`exo_vision.blot.parameters` alone (the CLI's
``--help``) stays light.
"""

from importlib import import_module
from typing import Any

_API = {
    "BlotParameters": "exo_vision.blot.parameters",
    "DEFAULT_BLOT_PARAMETERS": "exo_vision.blot.parameters",
    "BlotResult": "exo_vision.blot.quantify",
    "quantify_blot": "exo_vision.blot.quantify",
    "quantify_gel": "exo_vision.blot.gel",
    "find_gel_layout": "exo_vision.blot.gel",
    "Lane": "exo_vision.blot.lanes",
    "find_lanes": "exo_vision.blot.lanes",
    "lanes_from_ranges": "exo_vision.blot.lanes",
    "Strip": "exo_vision.blot.strips",
    "find_strips": "exo_vision.blot.strips",
    "enrichment_table": "exo_vision.blot.panel",
    "panel_summary": "exo_vision.blot.panel",
    "misev_verdict": "exo_vision.blot.panel",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'exo_vision.blot' has no attribute {name!r}")
