"""Which micrographs a napari grid session saved are one micrograph, as ``exo-vision tem`` finds them.

A grid folder may hold a micrograph twice: a byte copy, the same pixels in another file format, or an export at
another bit depth or value scale. ``exo-vision tem`` counts each micrograph once in its pooled numbers, as the
first of its inputs (:func:`~exo_vision.batch.runner.mark_copies`); the grid session, the report and the
histogram of a session's folder count it the same way, from the facts each done-marker records: the input's
checksum (``input_sha256``), its pixels' checksum (``pixels_sha256``) and its pixels signature
(``pixels_signature``, :func:`~exo_vision.batch.duplicates.pixels_signature`). A marker written before the last
two were recorded has them computed from its input file, when that file is still where the session read it and
unchanged (same checksum); otherwise it can be matched by its bytes only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from exo_vision._shared.atomic import sha256_file

logger = logging.getLogger(__name__)

#: The done-marker keys that identify a micrograph's pixels (written by the grid session and ``exo-vision tem``).
PIXEL_KEYS = ("pixels_sha256", "pixels_signature")


def input_pixels(record: dict[str, Any]) -> np.ndarray | None:
    """The pixels of a done-marker's input, read as the session (or run) read them, or None when the file is not
    where it was read or has changed since (its checksum differs from ``input_sha256``)."""
    from exo_vision.batch.input_reading import read_as_run

    path = Path(str(record.get("input") or ""))
    try:
        if not str(record.get("input") or "") or not path.is_file():
            return None
        if sha256_file(path) != record.get("input_sha256"):
            return None
        return read_as_run(path, record.get("parameters") or {}, max_megapixels=None).data
    except (OSError, ValueError):
        logger.debug("could not read %s again to compare it", path, exc_info=True)
        return None


def pixel_facts(pixels: np.ndarray) -> dict[str, str]:
    """``pixels_sha256`` and ``pixels_signature`` of a micrograph's pixels, as ``exo-vision tem`` records them."""
    from exo_vision.batch.duplicates import pixels_signature
    from exo_vision.batch.runner import pixels_sha256

    return {"pixels_sha256": pixels_sha256(pixels), "pixels_signature": pixels_signature(pixels)}


def with_pixel_facts(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (a done-marker) with :data:`PIXEL_KEYS` computed from its input file when it lacks them and
    that file is still in place and unchanged; as it is otherwise."""
    if all(record.get(key) for key in PIXEL_KEYS):
        return record
    pixels = input_pixels(record)
    return record if pixels is None else {**pixel_facts(pixels), **record}


def mark_saved_copies(records: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Mark the done-markers (in the grid's order) that are copies of a micrograph met earlier, as ``exo-vision
    tem`` marks them: ``duplicate_of`` (the first one's ``input``) and ``duplicate_reason``; changed in place.

    Parameters
    ----------
    records : sequence of dict
        Done-markers of the saved micrographs (``input`` as the session read it). Markers without
        :data:`PIXEL_KEYS` get them from their input file when it is still in place (:func:`with_pixel_facts`).

    Returns
    -------
    list of list of int
        The positions of each micrograph held more than once, the counted one first.
    """
    from exo_vision.batch.runner import mark_copies

    by_index: dict[int, dict[str, Any]] = {}
    for index, record in enumerate(records):
        facts = with_pixel_facts(record)
        for key in PIXEL_KEYS:
            if facts.get(key) and not record.get(key):
                record[key] = facts[key]
        record.setdefault("status", "done")
        by_index[index] = record

    def read(index: int) -> np.ndarray | None:
        return input_pixels(by_index[index])

    return mark_copies(by_index, read)
