"""A termination request (SIGTERM) handled as Ctrl-C.

``kill``, ``timeout`` and cluster schedulers (SLURM's time limit) stop a
program with SIGTERM, whose default action ends the process at once: no
"interrupted" message, temporary files and the process pool left behind.
Within :func:`terminated_as_interrupted` it raises :class:`KeyboardInterrupt`
instead, so a command stops exactly as on Ctrl-C and its clean-up runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def terminated_as_interrupted() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
