"""How the blot core's messages name the settings that fix a problem: in ``exo-vision blot``'s words, and
translated for the napari blot dock (:func:`in_dock_words`), whose controls have other names.

A message that tells the user to give the lane count or the lanes' columns uses :data:`LANE_COUNT` and
:data:`LANE_COLUMNS` word for word, so that the dock can show its own controls in their place.
"""

from __future__ import annotations

#: The lane count, as ``exo-vision blot`` takes it.
LANE_COUNT = "the lane count (--lanes N)"
#: The lanes' columns, as ``exo-vision blot`` takes them (pixel columns, first to one past the last, per lane).
LANE_COLUMNS = "the lanes' columns (--lane-ranges X0-X1,X0-X1,...)"
#: The lane names, as ``exo-vision blot`` takes them.
LANE_NAMES = "the lane names (--lane-names)"
#: The same advice in the napari blot dock's words.
DOCK_WORDS = {
    LANE_NAMES: "the lane names ('lane names' in the blot dock)",
    LANE_COUNT: "the lane count ('lanes per strip' in the blot dock)",
    LANE_COLUMNS: "the lanes' columns (in the blot dock: set 'lanes per strip', run, then move or redraw the "
    "rectangles of the lanes layer)",
}


def in_dock_words(message: str) -> str:
    """``message`` with the command line's advice (:data:`DOCK_WORDS`) put as the napari blot dock gives it."""
    for cli, dock in DOCK_WORDS.items():
        message = message.replace(cli, dock)
    return message
