"""Run the TEM analysis in a child process, so the napari GUI never waits for the GIL.

A thread worker alone is not enough: parts of the core hold the GIL for hundreds of
milliseconds, freezing the event loop. Here the thread worker only waits on a child
process (spawned, so no Qt state is inherited), relays its progress and can stop it
at once on Cancel. This module imports no GUI code: the child imports only the core.

When napari was started by a script without ``if __name__ == "__main__":``, a spawned child would
run that script again; the analysis then runs in the calling thread, with one napari warning.
"""

from __future__ import annotations

import ast
import multiprocessing as mp
import os
import queue as queue_module
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
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
    result.burnt_in = None  # one byte per pixel more to send; an overlay drawn from the result finds it again
    messages.put(("ok", result))


class UnguardedScriptWarning(UserWarning):
    """The script that started napari would run again in a spawned child; the analysis runs in-process."""


#: Scripts already warned about (one warning per script and session).
_WARNED: set[str] = set()


def _is_main_guard(node: ast.stmt) -> bool:
    """True for ``if __name__ == "__main__":`` (either operand order)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.comparators) != 1:
        return False
    sides = [node.test.left, node.test.comparators[0]]
    names = [n for n in sides if isinstance(n, ast.Name) and n.id == "__name__"]
    texts = [n for n in sides if isinstance(n, ast.Constant) and n.value == "__main__"]
    return isinstance(node.test.ops[0], ast.Eq) and len(names) == 1 and len(texts) == 1


def unguarded_main_script() -> Path | None:
    """The script that started this Python, when a spawned child process would run its work again.

    A spawned child re-runs the main script's top-level code to rebuild ``__main__`` (as ``__mp_main__``).
    A script that starts napari at top level, without ``if __name__ == "__main__":``, then starts a second
    viewer in the child (which never reads the job sent to it: the parent waits forever in
    ``Process.start``). A script is flagged when it has no such guard and calls anything at its top level
    (outside functions and classes); an interactive session, a notebook or the ``napari`` command is not.

    Returns
    -------
    Path or None
        The script, or None when a spawned child is safe (or the script cannot be read).
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return None
    if any(_is_main_guard(node) for node in tree.body):
        return None
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
    top_level = [node for node in tree.body if not isinstance(node, definitions)]
    if any(isinstance(inner, ast.Call) for node in top_level for inner in ast.walk(node)):
        return Path(path)
    return None


def _say(message: str) -> None:
    """Show ``message`` as a napari warning notification (from any thread), or warn when napari is absent.

    napari is imported here, in the GUI process only: the spawned child imports only the core. A Python warning
    alone is not enough: raised in a napari thread worker, it reached no notification.
    """
    try:
        from napari.utils.notifications import show_warning
    except ImportError:
        warnings.warn(UnguardedScriptWarning(message), stacklevel=3)
        return
    show_warning(message)


def _analyse_here(
    image: Any,
    parameters: dict[str, Any],
    script: Path,
    *,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> Any:
    """The analysis in the calling thread (Cancel is honoured between progress steps), after one warning."""
    if str(script) not in _WARNED:
        _WARNED.add(str(script))
        _say(
            f'{script.name} starts napari without `if __name__ == "__main__":`, so a separate analysis process '
            "would run the whole script again (a second viewer) and never start. The analysis runs inside napari "
            f"instead, and the viewer may pause while it works. To analyse in a separate process, put the code of "
            f'{script} that starts napari under `if __name__ == "__main__":`.'
        )

    def report(done: int, total: int) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled
        if progress is not None:
            progress(done, total)

    result = analyse_micrograph(image, progress=report, **parameters)
    if cancelled is not None and cancelled():
        raise Cancelled
    result.labels = compact_labels(result.labels)
    return result


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

    Notes
    -----
    When napari was started by a script without ``if __name__ == "__main__":`` (:func:`unguarded_main_script`),
    a spawned child would run that script again and never start: the analysis then runs in the calling thread
    instead (stopped by ``cancelled`` between progress steps), and a napari warning says so once per script.
    """
    script = unguarded_main_script()
    if script is not None:
        return _analyse_here(image, parameters, script, progress=progress, cancelled=cancelled)
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
