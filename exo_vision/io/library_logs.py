"""Keep third-party readers' console chatter out of the user's terminal.

rosettasciio attaches its own stderr handler to the ``"rsciio"`` logger and
prints warnings such as "Could not determine pixel size". exo_vision reports
calibration problems itself (in ``ImageData.warnings``), so while one of our
readers runs, those records are re-logged at DEBUG level under
``exo_vision.io`` instead and Python ``warnings`` are captured the same way.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

logger = logging.getLogger("exo_vision.io")


class _Relay(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        logger.debug("%s: %s", record.name, record.getMessage())


@contextlib.contextmanager
def quiet_library_logs(*names: str) -> Iterator[None]:
    """Route the named libraries' log records and Python warnings to DEBUG.

    Parameters
    ----------
    *names : str
        Logger names to quieten; ``"rsciio"``, ``"mrcfile"`` and ``"tifffile"`` by
        default (tifffile logs ``ERROR: <TiffTag ...>`` for a damaged tag even
        when the image reads fine).
    """
    targets = [logging.getLogger(name) for name in (names or ("rsciio", "mrcfile", "tifffile"))]
    saved = [(lib, list(lib.handlers), lib.propagate) for lib in targets]
    relay = _Relay()
    for lib in targets:
        lib.handlers = [relay]
        lib.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for item in caught:
            logger.debug("library warning: %s", item.message)
    finally:
        for lib, handlers, propagate in saved:
            lib.handlers = handlers
            lib.propagate = propagate
