"""One writer per output folder: a run holds an exclusive lock on ``<out>/.exo-vision.lock`` while it writes.

Two runs writing into one ``--out`` at the same time pooled tables made with different parameters under one
``run.json``, and one run's start deleted the other's staged files; a report read a folder half rewritten.
The lock is the operating system's (``flock``), so it goes with its process: a run that is killed leaves
no stale lock behind. The lock file itself stays (an empty file, harmless): removing it would let a third
run lock a new file while a second still holds the old one.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from exo_vision._shared.paths import display_path

try:  # POSIX; elsewhere runs are not locked (said once in the log)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: Name of the lock file a run keeps in its output folder.
LOCK_NAME = ".exo-vision.lock"


def _holder(path: Path) -> str:
    """What the lock file says about the run that holds it (its process, command and start)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another exo-vision run"


def _open_lock_file(path: Path) -> int:
    """Open (creating) the lock file itself, never a file a link of that name points at.

    A results folder copied from elsewhere (a zip or tar keeps links) can hold a link named like the lock;
    writing through it would empty the file it points at. Such a link is removed (its target untouched).
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    if path.is_symlink():
        logger.warning(
            "%s was a link (to %s); removed it, not the file it points at", display_path(path), os.readlink(path)
        )
        path.unlink()
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as err:
        raise ValueError(
            f"{display_path(path)} cannot be opened as the run's lock file ({err.strerror or err}); remove it, or "
            "give another --out"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"{display_path(path)} is not a regular file; remove it, or give another --out")
    return fd


@contextmanager
def output_lock(folder: str | Path, *, command: str) -> Iterator[None]:
    """Hold the folder's lock for the duration of the block (the folder must exist).

    Parameters
    ----------
    folder : str or Path
        The output folder.
    command : str
        What is writing (``"exo-vision tem"``), written into the lock file for a refused run to show.

    Raises
    ------
    ValueError
        When another run holds the lock: the message names the folder, that run and the fix.
    """
    path = Path(folder) / LOCK_NAME
    if fcntl is None:  # pragma: no cover - Windows
        logger.debug("no file locking on this platform: %s is not locked", display_path(folder))
        yield
        return
    fd = _open_lock_file(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"{display_path(folder)} is being written by {_holder(path)}; wait until it ends, or give another --out"
            ) from None
        except OSError as err:  # a file system without locks (some network shares): run unlocked
            logger.warning(
                "%s: cannot lock the output folder (%s); make sure no other run writes into it meanwhile",
                display_path(folder),
                err.strerror or err,
            )
            yield
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        os.ftruncate(fd, 0)
        os.write(fd, f"{command} (process {os.getpid()}, started {stamp})\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def check_not_being_written(
    folder: str | Path, *, option: str, fix: str = "make the report when that run has ended"
) -> None:
    """Refuse to read a run folder that a run is writing into now.

    Parameters
    ----------
    folder : str or Path
        A run's output folder.
    option : str
        How the user named it (``"--tem"``), for the message.
    fix : str
        What to do, for the message.

    Raises
    ------
    ValueError
        When a run holds the folder's lock.
    """
    path = Path(folder) / LOCK_NAME
    if fcntl is None or not path.is_file():
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise ValueError(
            f"{option} {display_path(folder)} is being written by {_holder(path)}; its tables are not complete "
            f"yet: {fix}"
        ) from None
    except OSError:
        return
    finally:
        os.close(fd)
