"""The grid session without a GUI: one grid's micrographs, curated one by one and saved as ``exo-vision tem``
saves them, resumable from the output folder.

* :mod:`~exo_vision.session.grid`      :class:`GridSession` (files, position, settings, saving, resuming)
* :mod:`~exo_vision.session.curation`  a curated micrograph as data, its edit log and curation record
"""

from exo_vision._shared.lazy import lazy_exports

_EXPORTS = {
    "GridSession": "exo_vision.session.grid",
    "GridSettings": "exo_vision.session.grid",
    "list_micrographs": "exo_vision.session.grid",
    "CuratedResult": "exo_vision.session.curation",
    "SavedMicrograph": "exo_vision.session.curation",
    "edit_record": "exo_vision.session.curation",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
