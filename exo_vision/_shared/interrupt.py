"""A termination request (SIGTERM) or a closed terminal (SIGHUP) handled as Ctrl-C.

``kill``, ``timeout`` and cluster schedulers (SLURM's time limit) stop a
program with SIGTERM, and closing the terminal (or a dropped SSH session)
sends SIGHUP; the default action of both ends the process at once: no
"interrupted" message, temporary files and the process pool left behind.
Within :func:`terminated_as_interrupted` they raise :class:`KeyboardInterrupt`
instead, so a command stops exactly as on Ctrl-C and its clean-up runs. A
signal that was ignored when the block began stays ignored (``nohup`` ignores
SIGHUP so that the command outlives the terminal).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

#: Signals handled as Ctrl-C: SIGTERM, and SIGHUP where the platform has it (not on Windows).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextlib.contextmanager
def terminated_as_interrupted() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread (elsewhere: no change;
    a signal ignored on entry, as ``nohup`` ignores SIGHUP, stays ignored)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous: dict[signal.Signals, Any] = {}
    for number in STOP_SIGNALS:
        if signal.getsignal(number) is not signal.SIG_IGN:
            previous[number] = signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
