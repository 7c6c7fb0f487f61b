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


class StopRequest:
    """Whether SIGTERM or SIGINT arrived within :func:`signals_request_stop` (call it: True once one did).

    The handler only sets a flag: nothing is raised at an arbitrary point of the program, so an interrupt
    can never land inside a library's import or clean-up (where it is turned into an ImportError, lost,
    or left to end the interpreter with a signal of its own). The program polls the flag where stopping is
    clean and stops as on Ctrl-C.
    """

    def __init__(self) -> None:
        self.signals: list[int] = []

    def __call__(self) -> bool:
        return bool(self.signals)

    def note(self, signum: int, _frame: Any) -> None:
        """The signal handler: record the signal (a second or third one as well, and nothing else)."""
        self.signals.append(signum)

    def raise_if_requested(self) -> None:
        """Raise :class:`KeyboardInterrupt` when a stop was requested."""
        if self.signals:
            raise KeyboardInterrupt


@contextlib.contextmanager
def signals_request_stop() -> Iterator[StopRequest]:
    """Within the block, SIGTERM and SIGINT (Ctrl-C) only set the yielded :class:`StopRequest`.

    For work that polls the request between clean steps (a training step, one segmentation). In a thread
    other than the main one no handler can be set: the request then stays unset.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {signum: signal.signal(signum, request.note) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
