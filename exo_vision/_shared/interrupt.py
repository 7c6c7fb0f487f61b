"""A termination request (SIGTERM) or a closed terminal (SIGHUP) handled as Ctrl-C.

``kill``, ``timeout`` and cluster schedulers (SLURM's time limit) stop a
program with SIGTERM, and closing the terminal (or a dropped SSH session)
sends SIGHUP; the default action of both ends the process at once: no
"interrupted" message, temporary files and the process pool left behind.
Within :func:`terminated_as_interrupted` they raise :class:`KeyboardInterrupt`
instead, so a command stops exactly as on Ctrl-C and its clean-up runs. A
signal that was ignored when the block began stays ignored (``nohup`` ignores
SIGHUP so that the command outlives the terminal).

A KeyboardInterrupt raised inside a library's import or initialisation can be
turned into another error there (onnxruntime's import raises
``ImportError: initialization failed``, the interrupt lost). Such a stretch runs
within :func:`interrupts_deferred`: a stop asked for meanwhile is raised as
KeyboardInterrupt as soon as the stretch ends.
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


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    """The handler of :func:`terminated_as_interrupted`: stop as on Ctrl-C."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminated_as_interrupted() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread (elsewhere: no change;
    a signal ignored on entry, as ``nohup`` ignores SIGHUP, stays ignored)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    previous: dict[signal.Signals, Any] = {}
    for number in STOP_SIGNALS:
        if signal.getsignal(number) is not signal.SIG_IGN:
            previous[number] = signal.signal(number, _raise_interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class StopRequest:
    """Whether SIGTERM, SIGHUP or SIGINT arrived within :func:`signals_request_stop` (call it: True once one did).

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
    """Within the block, SIGTERM, SIGHUP and SIGINT (Ctrl-C) only set the yielded :class:`StopRequest`.

    For work that polls the request between clean steps (a training step, one segmentation). In a thread
    other than the main one no handler can be set: the request then stays unset. A signal ignored on entry
    (``nohup`` ignores SIGHUP) stays ignored.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous: dict[signal.Signals, Any] = {}
    for number in (*STOP_SIGNALS, signal.SIGINT):
        if signal.getsignal(number) is not signal.SIG_IGN:
            previous[number] = signal.signal(number, request.note)
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within the block, a signal that would raise KeyboardInterrupt (Ctrl-C, and SIGTERM and SIGHUP within
    :func:`terminated_as_interrupted`) is only recorded; leaving the block raises KeyboardInterrupt if one came.

    For a short stretch that a KeyboardInterrupt must not land in: a library's import or initialisation, which
    may turn it into an error of its own. Signals with another handler (the default action, ignored, a
    :func:`signals_request_stop` request) and threads other than the main one are left as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []

    def record(signum: int, _frame: Any) -> None:
        came.append(signum)

    previous: dict[signal.Signals, Any] = {}
    for number in (signal.SIGINT, *STOP_SIGNALS):
        if signal.getsignal(number) in (signal.default_int_handler, _raise_interrupt):
            previous[number] = signal.signal(number, record)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if came:
            raise KeyboardInterrupt


def caused_by_interrupt(error: BaseException) -> bool:
    """Whether ``error`` was raised because of a KeyboardInterrupt (found among its causes and contexts): a
    library that turns an interrupt into an error of its own, as onnxruntime's import does."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


#: Signals a terminal sends to its whole foreground process group: Ctrl-C (SIGINT) and, when it closes, SIGHUP.
GROUP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGHUP") if hasattr(signal, name)
)


@contextlib.contextmanager
def children_ignore_group_signals() -> Iterator[None]:
    """Processes started within the block ignore Ctrl-C (SIGINT) and a closed terminal (SIGHUP); this one does not.

    A terminal sends both to its whole process group, helper processes included (multiprocessing's fork
    server and resource tracker, pool workers), which then die or print tracebacks of their own while the
    main process stops. An ignored signal stays ignored across fork and exec, so the block sets both to
    ignored; it also blocks them, so that one arriving meanwhile waits (Linux never discards a blocked
    signal) and reaches this process's own handler when the block ends. A child inherits the block as well:
    :func:`ignore_group_signals` in the child clears it. Outside the main thread (no handlers can be set there)
    or without ``pthread_sigmask`` (Windows, which has no process groups of this kind) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in GROUP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def ignore_group_signals() -> None:
    """Ignore Ctrl-C (SIGINT) and a closed terminal (SIGHUP) in this process, which a process coordinating it
    stops instead (a pool worker: its main process takes the stop and ends it), and clear an inherited block of
    them (:func:`children_ignore_group_signals`)."""
    for number in GROUP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, GROUP_SIGNALS)
