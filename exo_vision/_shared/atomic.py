"""Atomic file writes and checksums: a reader never sees a half-written output.

Every output goes to a temporary file in the destination folder (same file
system, so the rename is atomic) and is moved into place with
:func:`os.replace` only once it is complete. A killed process therefore never
leaves a half-written file under an output name.

A temporary name says which process writes it (``TEMP_PREFIX``, a tag of
the machine's name, the process id, a random part, the destination's suffix),
so that a later run can tell a file left by a killed writer from one that a
live process is still writing: :func:`remove_stale_temp_files` removes the
former once it has not changed for a while (a writer in another container
of this machine has a process id this process cannot see). The batch
runner, which locks its output folder, does so at its start and end.

Files are not fsync'ed: that guards only against power loss, costs time on
network file systems, and is not needed for --resume, which trusts an image's
outputs only when their SHA-256 matches the completion marker (a file torn by
a power cut is detected and redone).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

#: Prefix of temporary files; a crashed run may leave some behind, and they are never outputs.
TEMP_PREFIX = ".exo-vision-tmp-"

#: A temporary name's writer: 8 hex digits of the machine's name (a folder on a network drive is shared by
#: machines whose process ids mean nothing to each other), then the writing process's id.
_WRITER = re.compile(re.escape(TEMP_PREFIX) + r"(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-")


@functools.cache
def _host_tag() -> str:
    """8 hex digits of this machine's name (its SHA-256), part of every temporary name written here."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _temp_file(path: Path) -> Path:
    """Create an empty private temporary file beside ``path`` named after this machine and process."""
    fd, tmp_name = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{_host_tag()}-{os.getpid()}-", suffix=path.suffix, dir=path.parent
    )
    os.close(fd)
    return Path(tmp_name)


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (another user's counts; so does an unreaped one)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # no process has such an id
        return False
    return True


#: A temporary file of another machine (a folder on a network drive) is taken as left by a stopped writer once
#: it has not changed for this long (s): a write takes seconds, and that machine's process ids mean nothing here.
OTHER_MACHINE_STALE_S = 24 * 3600.0
#: A temporary file of this machine whose writer's process id runs no process is taken as left by a stopped
#: writer only once it has not changed for this long (s). A process in another container of this machine (its
#: own process ids, the same machine name) is not seen from here, however alive; a writer touches its file as
#: it writes, and a write takes seconds.
THIS_MACHINE_STALE_S = 10 * 60.0


def _unchanged_for(path: Path, seconds: float) -> bool:
    """Whether ``path`` has not been modified for more than ``seconds`` (False when it cannot be looked at)."""
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def stale_temp_file(path: Path) -> bool:
    """Whether ``path``, a file named with :data:`TEMP_PREFIX`, was left by a writer that is gone.

    A name of this machine whose process id runs no process is stale once the file has not changed for
    :data:`THIS_MACHINE_STALE_S` (a process of another container may be writing it); a name without a writer
    (written by exo_vision before temporary names carried one) is stale at once. A name of another machine is
    stale only when the file has not changed for :data:`OTHER_MACHINE_STALE_S` (a worker of a cluster run that
    was stopped).
    """
    if not path.name.startswith(TEMP_PREFIX):
        return False
    writer = _WRITER.match(path.name)
    if writer is None:
        return True
    if writer["host"] != _host_tag():
        return _unchanged_for(path, OTHER_MACHINE_STALE_S)
    return not _process_alive(int(writer["pid"])) and _unchanged_for(path, THIS_MACHINE_STALE_S)


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files in ``folder`` whose writer was stopped mid-write; log and return them.

    Files that a live process (of this machine, or any on another machine) may still be writing stay.
    Folders with the prefix (staging folders of a fine-tuning) are not touched. A folder that cannot be
    listed is left as it is (the write that follows reports the problem).
    """
    removed: list[Path] = []
    try:
        candidates = sorted(Path(folder).glob(f"{TEMP_PREFIX}*"))
    except OSError:
        return removed
    for candidate in candidates:
        if candidate.is_file() and not candidate.is_symlink() and stale_temp_file(candidate):
            try:
                candidate.unlink()
            except OSError:
                continue
            removed.append(candidate)
    if removed:
        logger.info(
            "removed %d temporary file(s) that an exo-vision process stopped while writing left in %s: %s",
            len(removed),
            folder,
            ", ".join(p.name for p in removed),
        )
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Permissions of a written file: what ``open`` would give it under the process's umask (read at import,
#: before any thread runs), not the private 0600 of the staged temporary file.
FILE_MODE = 0o666 & ~_umask()


def _write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Write ``path`` atomically through ``writer``.

    Parameters
    ----------
    path : str or Path
        Final destination. Its folder must exist.
    writer : callable(Path) -> None
        Writes the complete file to the temporary path it is given. The
        temporary name keeps ``path``'s suffix, so libraries that choose the
        format from the extension (matplotlib, OpenCV, tifffile) still work.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    tmp = _temp_file(path)
    try:
        writer(tmp)
        os.chmod(tmp, FILE_MODE)
        _replace(tmp, path)
    finally:
        # Only reached with the temp file still present when the writer raised.
        if tmp.exists():
            tmp.unlink()
    return path


def _replace(tmp: Path, path: Path) -> None:
    """:func:`os.replace`, its error naming the destination (a temporary name means nothing to a user)."""
    try:
        os.replace(tmp, path)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from err


class FileGroup:
    """Files that appear together or not at all (one input's outputs).

    :meth:`stage` writes each file completely under a temporary name in its
    destination folder; :meth:`commit` then moves them all into place, in the
    order staged (put a completion marker last). :meth:`discard`, or an
    exception inside :func:`file_group`, removes the temporary files and any
    file of the group already moved into place.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._placed: list[Path] = []

    def stage(self, path: str | Path, writer: Callable[[Path], None]) -> Path:
        """Write ``path``'s content through ``writer`` to a temporary file; return that file."""
        path = Path(path)
        tmp = _temp_file(path)
        self._staged.append((tmp, path))
        writer(tmp)
        os.chmod(tmp, FILE_MODE)
        return tmp

    def stage_bytes(self, path: str | Path, data: bytes) -> Path:
        """:meth:`stage` for bytes already in memory."""
        return self.stage(path, lambda tmp: _write_bytes(tmp, data))

    def commit(self) -> None:
        """Move every staged file into place."""
        for tmp, path in self._staged:
            _replace(tmp, path)
            self._placed.append(path)
        self._staged = []

    def discard(self) -> None:
        """Remove staged temporary files and the files of this group already placed."""
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        for path in self._placed:
            path.unlink(missing_ok=True)
        self._staged, self._placed = [], []


@contextlib.contextmanager
def file_group() -> Iterator[FileGroup]:
    """A :class:`FileGroup` committed on a clean exit and discarded on an exception."""
    group = FileGroup()
    try:
        yield group
        group.commit()
    except BaseException:
        group.discard()
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: _write_bytes(tmp, data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (``\\n`` line endings)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_if_changed(path: str | Path, data: bytes) -> bool:
    """Atomically write ``data`` unless ``path`` already holds exactly these bytes.

    Keeps the modification time of up-to-date outputs, so a resumed run that
    has nothing to do leaves the folder untouched.

    Returns
    -------
    bool
        True when the file was (re)written.
    """
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def sha256_file(path: str | Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks of ``chunk_bytes``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()
