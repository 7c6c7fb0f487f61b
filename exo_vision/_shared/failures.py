"""One wording for a failure that is reported to the user instead of raised.

Expected problems (:class:`ValueError` and its subclasses such as
``ImageReadError``, and :class:`OSError`) already carry a message that names
the file, the problem and the fix, so that message is shown as it is, without
the exception's class name. Anything else is a defect of exo_vision, and says
so.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from exo_vision._shared.atomic import TEMP_PREFIX
from exo_vision._shared.paths import display_path

#: What to do about a failure that is not the input's fault.
REPORT_HINT = "rerun with -v for the details and please report it"

#: Errors of a device with no room left (a full disk, a full quota).
FULL_DEVICE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
#: What to do about them.
FULL_DEVICE_HINT = "free space there, then run the same command again (with --resume for exo-vision tem)"

#: What to do when memory runs out.
MEMORY_HINT = (
    "out of memory: this image needs more than the machine could give; crop it into tiles, run it on a machine "
    "with more memory, or (when several workers run) use fewer (--workers 1)"
)
#: How OpenCV words a failed allocation (it raises its own ``cv2.error``, not MemoryError).
OPENCV_OUT_OF_MEMORY = ("Insufficient memory", "Failed to allocate")
#: Line breaks (with the spaces around them) in library messages; a table cell and a log line hold one line.
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def _dangling(path: object) -> bool:
    """Whether ``path`` is a symbolic link whose target does not exist."""
    try:
        return os.path.islink(path) and not os.path.exists(path)  # type: ignore[arg-type]
    except (TypeError, ValueError, OSError):
        return False


def describe_failure(err: BaseException) -> str:
    """A one-line, printable message for an exception caught at a command's edge.

    Parameters
    ----------
    err : BaseException
        The exception caught.

    Returns
    -------
    str
        For a :class:`ValueError`, its message; for a full disk or quota, where and what to do; for an
        :class:`OSError` that names a file,
        ``"<file>: <reason>; check the path and your permissions"``; for a :class:`MemoryError`,
        what to run instead; otherwise ``"unexpected error (<class>: <message>); ..."``.
        Undecodable bytes in file names are shown as U+FFFD.
    """
    if isinstance(err, OSError) and err.errno in FULL_DEVICE_ERRNOS:
        name = None if err.filename is None else Path(os.fsdecode(err.filename))
        place = (
            "the output folder"
            if name is None
            else str(name.parent if name.name.startswith(TEMP_PREFIX) else name)  # a staged file: its folder
        )
        message = f"{place}: no space left (the disk or your quota is full); {FULL_DEVICE_HINT}"
    elif isinstance(err, OSError) and err.filename is not None and _dangling(err.filename):
        message = (
            f"{err.filename}: a symbolic link to {os.readlink(err.filename)}, which does not exist; "
            "restore the file it points to, or remove the link"
        )
    elif isinstance(err, OSError) and err.filename is not None:
        message = f"{err.filename}: {err.strerror or err}; check the path and your permissions"
    elif isinstance(err, UnicodeEncodeError):  # a name the locale's encoding (ASCII, Latin-1) cannot hold
        message = (
            f"a name holds characters this system's locale cannot encode ({err.object[err.start : err.end]!r}); "
            "run exo-vision under a UTF-8 locale (e.g. LANG=C.UTF-8) or rename the file"
        )
    elif isinstance(err, (ValueError, OSError)):
        message = str(err)
    elif isinstance(err, MemoryError) or any(words in str(err) for words in OPENCV_OUT_OF_MEMORY):
        message = MEMORY_HINT
    else:
        message = f"unexpected error ({type(err).__name__}: {err}); {REPORT_HINT}"
    return _LINE_BREAKS.sub(" ", display_path(message)).strip()
