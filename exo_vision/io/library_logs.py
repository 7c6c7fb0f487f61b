"""Keep third-party readers' console chatter out of the user's terminal, naming the file it concerns.

rosettasciio attaches its own stderr handler to the ``"rsciio"`` logger and
prints warnings such as "Could not determine pixel size"; tifffile logs
``ERROR: <TiffTag.fromfile> raised ...`` for a damaged tag even when the image
reads fine. exo_vision reports calibration problems itself (in
``ImageData.warnings``), so while one of our readers runs, those records are
re-logged at DEBUG level under ``exo_vision.io``, prefixed with the file being
read, and Python ``warnings`` are captured the same way. A reader may also
collect the library's warnings and errors, to fold them into that file's own
warnings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from exo_vision._shared.paths import display_path

logger = logging.getLogger("exo_vision.io")


class _Relay(logging.Handler):
    """Re-log a library's records at DEBUG, prefixed with the file they concern; collect the serious ones."""

    def __init__(self, prefix: str, collected: list[str] | None) -> None:
        super().__init__()
        self._prefix = prefix
        self._collected = collected

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        logger.debug("%s%s: %s", self._prefix, record.name, message)
        if self._collected is not None and record.levelno >= logging.WARNING and message not in self._collected:
            self._collected.append(message)


@contextlib.contextmanager
def quiet_library_logs(
    *names: str, path: str | Path | None = None, collected: list[str] | None = None
) -> Iterator[None]:
    """Route the named libraries' log records and Python warnings to DEBUG.

    Parameters
    ----------
    *names : str
        Logger names to quieten; ``"rsciio"``, ``"mrcfile"`` and ``"tifffile"`` by
        default (tifffile logs ``ERROR: <TiffTag ...>`` for a damaged tag even
        when the image reads fine).
    path : str or Path, optional
        The file being read: each relayed line starts with it.
    collected : list of str, optional
        Receives the text of each distinct record at WARNING level or above (the
        caller folds them into the file's own warnings).
    """
    prefix = "" if path is None else f"{display_path(os.fspath(path))}: "
    targets = [logging.getLogger(name) for name in (names or ("rsciio", "mrcfile", "tifffile"))]
    saved = [(lib, list(lib.handlers), lib.propagate) for lib in targets]
    relay = _Relay(prefix, collected)
    for lib in targets:
        lib.handlers = [relay]
        lib.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for item in caught:
            logger.debug("%slibrary warning: %s", prefix, item.message)
    finally:
        for lib, handlers, propagate in saved:
            lib.handlers = handlers
            lib.propagate = propagate
