"""Run the TEM analysis in a child process, so the napari GUI never waits for the GIL.

A thread worker alone is not enough: parts of the core hold the GIL for hundreds of
milliseconds, freezing the event loop. Here the thread worker only waits on a child
process (spawned, so no Qt state is inherited), relays its progress and can stop it
at once on Cancel. This module imports no GUI code: the child imports only the core.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
from collections.abc import Callable
from typing import Any

from exo_vision.plugins._vesicles import compact_labels
from exo_vision.tem_analysis import analyse_micrograph


class Cancelled(Exception):
    """The user cancelled the analysis."""


def _child(image: Any, parameters: dict[str, Any], messages: Any) -> None:
    """Child-process entry: analyse and send progress, then the result or the error, on one queue.

    Progress and result share one queue so the parent sees every progress step before the
    result (two queues gave no order: the last steps could arrive after the result and be lost).
    The child lowers its own CPU priority so that, on a busy machine, the GUI process
    (the user's interaction) is scheduled first. The labels come back in their smallest
    unsigned dtype (:func:`~exo_vision.plugins._vesicles.compact_labels`).
    """

    if hasattr(os, "nice"):
        os.nice(5)

    try:
        result = analyse_micrograph(
            image, progress=lambda done, total: messages.put(("progress", done, total)), **parameters
        )
    except Exception as error:  # noqa: BLE001 - forwarded to the parent, which raises it in the GUI
        messages.put(("error", type(error).__name__, str(error)))
        return
    # The GUI shows uint8/uint16 labels directly: convert here, off the GUI process, and send 4x fewer bytes.
    result.labels = compact_labels(result.labels)
    messages.put(("ok", result))


def analyse_in_subprocess(
    image: Any,
    parameters: dict[str, Any],
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    poll_s: float = 0.05,
) -> Any:
    """:func:`exo_vision.tem_analysis.analyse_micrograph` in a spawned child process.

    Parameters
    ----------
    image : ImageData
        Calibrated micrograph.
    parameters : dict
        Keyword arguments of ``analyse_micrograph`` (nm).
    progress : callable(int, int), optional
        Called (in the calling thread) with the child's (done, total).
    cancelled : callable() -> bool, optional
        Polled every ``poll_s`` seconds; when it returns True the child is terminated.

    Returns
    -------
    MicrographResult

    Raises
    ------
    Cancelled
        When ``cancelled()`` became true.
    ValueError
        The core's own message when the input was refused.
    RuntimeError
        When the child failed otherwise or died.
    """
    context = mp.get_context("spawn")
    messages = context.Queue()
    process = context.Process(target=_child, args=(image, parameters, messages), daemon=True)
    process.start()
    try:
        while True:
            if cancelled is not None and cancelled():
                process.terminate()
                raise Cancelled
            try:
                message = messages.get(timeout=poll_s)
            except queue_module.Empty:
                if not process.is_alive() and messages.empty():
                    raise RuntimeError(
                        f"the analysis process stopped unexpectedly (exit code {process.exitcode}); "
                        "the image may be too large for the available memory"
                    ) from None
                continue
            if message[0] == "progress":
                if progress is not None:
                    progress(message[1], message[2])
                continue
            if message[0] == "ok":
                return message[1]
            _, kind, text = message
            if kind in ("ValueError", "ImageReadError", "TypeError"):
                raise ValueError(text)
            raise RuntimeError(f"{kind}: {text}")
    finally:
        if process.is_alive():
            process.join(timeout=5)
        if process.is_alive():
            process.terminate()
        messages.close()
