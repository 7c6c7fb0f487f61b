"""Thread workers that let go of their data when they finish.

napari keeps every worker it made for as long as its window is open (the activity dock holds ``worker.quit``).
A finished worker still held its function, arguments and signal connections, and through them the micrograph,
the result and the layers they named: each segmentation kept its image in memory after its layers were closed.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QTimer

#: Signals of a worker whose connections are dropped when it finishes (they name layers and results, and
#: napari's status updates hold the worker's function).
WORKER_SIGNALS = ("returned", "errored", "yielded", "started", "aborted", "finished")


def release_when_finished(worker: Any) -> Any:
    """Drop ``worker``'s function, arguments and signal connections once it has finished; returns ``worker``.

    The release runs in the next event-loop turn after ``finished``, when every slot connected to it has run.
    """

    def release() -> None:
        for name in ("_func", "_args", "_kwargs"):
            if hasattr(worker, name):
                setattr(worker, name, None if name == "_func" else ({} if name == "_kwargs" else ()))
        for name in WORKER_SIGNALS:
            signal = getattr(worker, name, None)
            try:
                signal.disconnect()
            except (AttributeError, TypeError, RuntimeError):  # no connection left, or no such signal
                pass

    worker.finished.connect(lambda: QTimer.singleShot(0, release))
    return worker
