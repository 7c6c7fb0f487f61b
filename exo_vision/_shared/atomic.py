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

Several files that belong together (:class:`FileGroup`: a figure and its bin
table, one image's outputs) cannot be moved in by one atomic step. Before the
first move, a commit record (a temporary file, :data:`COMMIT_RECORD_SUFFIX`)
lists them, and every earlier file of the group is removed; the record goes
after the last move. A writer killed in between leaves some new files and no
old one beside them, and its record: the next :func:`remove_stale_temp_files`
in the folder, once the writer is taken as gone, moves the rest in, or removes
the group's new files when the rest is gone (written again since, or removed).

Files are not fsync'ed: that guards only against power loss, costs time on
network file systems, and is not needed for --resume, which trusts an image's
outputs only when their SHA-256 matches the completion marker (a file torn by
a power cut is detected and redone).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
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
    """Whether a process ``pid`` runs on this machine (another user's counts).

    A process that has ended but is not yet reaped by its parent (a zombie) runs no code and writes nothing:
    it is not alive here. A batch run's workers are children of the fork server, and when a stop ends the fork
    server too they wait for the system to reap them, which under load takes a moment after the run looks at
    their staged files.
    """
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
    return not _ended_unreaped(pid)


def _ended_unreaped(pid: int) -> bool:
    """Whether ``pid`` is a zombie (or dead) process, read from ``/proc/<pid>/stat`` (False where there is none)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[:1]  # the field after the command name, which may hold spaces
    return state in (["Z"], ["X"])


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


def stale_temp_file(path: Path, own_writers: Collection[int] = ()) -> bool:
    """Whether ``path``, a file named with :data:`TEMP_PREFIX`, was left by a writer that is gone.

    A name of this machine whose process id runs no process is stale once the file has not changed for
    :data:`THIS_MACHINE_STALE_S` (a process of another container may be writing it), at once when that id is
    one of ``own_writers`` (worker processes the caller started itself, now gone); a name without a writer
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
    pid = int(writer["pid"])
    return not _process_alive(pid) and (pid in own_writers or _unchanged_for(path, THIS_MACHINE_STALE_S))


def remove_stale_temp_files(folder: str | Path, own_writers: Collection[int] = ()) -> list[Path]:
    """Delete the temporary files in ``folder`` whose writer was stopped mid-write; log and return them.

    Files that a live process (of this machine, or any on another machine) may still be writing stay.
    ``own_writers``: ids of processes the caller started and knows to be gone (a batch run's workers), whose
    files are stale at once (:func:`stale_temp_file`).
    A group of files whose writer was stopped while moving them into place is first finished (its other
    files moved in) or, when that cannot be, its new files removed: :data:`COMMIT_RECORD_SUFFIX`.
    Folders with the prefix (staging folders of a fine-tuning) are not touched. A folder that cannot be
    listed is left as it is (the write that follows reports the problem).
    """
    removed: list[Path] = []
    try:
        candidates = sorted(Path(folder).glob(f"{TEMP_PREFIX}*"))
    except OSError:
        return removed
    candidates = [c for c in candidates if c.is_file() and not c.is_symlink()]
    in_commit: set[str] = set()  # files of a group that a live writer is moving into place
    for record in (c for c in candidates if c.suffix == COMMIT_RECORD_SUFFIX):
        if stale_temp_file(record, own_writers):
            removed.extend(_finish_commit(record))
        else:
            in_commit.update(f.staged for f in _commit_record_files(record))
    for candidate in candidates:
        if candidate.name not in in_commit and candidate.exists() and stale_temp_file(candidate, own_writers):
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


#: Suffix of a group's commit record (:class:`FileGroup`), a temporary file that lists the group's files while
#: they are moved into place.
COMMIT_RECORD_SUFFIX = ".commit"


@dataclass(frozen=True)
class _RecordedFile:
    """One file of a commit record: its name, its staged temporary name, and the identity of the staged file
    (inode number, size, modification time in ns), which a move into place keeps."""

    name: str
    staged: str
    identity: tuple[int, int, int]


def _identity(path: Path) -> tuple[int, int, int] | None:
    """The identity of the file ``path`` (see :class:`_RecordedFile`), None when there is none."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _write_commit_record(staged: list[tuple[Path, Path]]) -> Path:
    """Write the commit record of the staged files ``(temporary, destination)`` in their folder; return it."""
    files = [{"name": path.name, "staged": tmp.name, "identity": _identity(tmp)} for tmp, path in staged]
    record = _temp_file(staged[0][1].parent / f"group{COMMIT_RECORD_SUFFIX}")
    record.write_text(json.dumps({"files": files}), encoding="utf-8")
    return record


def _commit_record_files(record: Path) -> list[_RecordedFile]:
    """The files a commit record lists; none when it cannot be read (its writer stopped while writing it,
    before moving any file)."""
    try:
        entries = json.loads(record.read_text(encoding="utf-8"))["files"]
        return [_RecordedFile(e["name"], e["staged"], tuple(e["identity"])) for e in entries]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _finish_commit(record: Path) -> list[Path]:
    """Finish the move into place that a stopped writer's commit ``record`` describes; return the temporary
    files removed (the record among them).

    When each file of the group is either in place (as its writer moved it) or still staged, the staged ones
    are moved in: the group is whole, as its writer meant it. Otherwise (a file written again since, or
    removed) the group cannot be whole, and its files still as the writer left them are removed, in place or
    staged. The record goes either way.
    """
    folder = record.parent
    files = _commit_record_files(record)
    placed = [f for f in files if _identity(folder / f.name) == f.identity]
    staged = [f for f in files if _identity(folder / f.staged) == f.identity]
    removed: list[Path] = []
    try:
        if files and len(placed) + len(staged) == len(files):
            for f in staged:
                _replace(folder / f.staged, folder / f.name)
            if staged:
                logger.info(
                    "%s: moved %s into place beside %s: an exo-vision process stopped while moving this group of "
                    "files into place had left it incomplete",
                    folder,
                    ", ".join(f.name for f in staged),
                    ", ".join(f.name for f in placed) or "nothing",
                )
        elif placed or staged:
            for f in placed:
                (folder / f.name).unlink(missing_ok=True)
            for f in staged:
                (folder / f.staged).unlink(missing_ok=True)
                removed.append(folder / f.staged)
            if placed:
                logger.warning(
                    "%s: removed %s: an exo-vision process stopped while moving them into place, and the rest "
                    "of their group is gone or was written again since; run the command that wrote them again",
                    folder,
                    ", ".join(f.name for f in placed),
                )
        record.unlink(missing_ok=True)
    except OSError as err:
        logger.warning("%s: could not finish the group of files %s lists (%s)", folder, record.name, err)
        return removed
    return [*removed, record]


def _unlink(path: Path) -> None:
    """Remove the file ``path`` if it exists, an error naming it."""
    try:
        path.unlink(missing_ok=True)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from err


class FileGroup:
    """Files that appear together or not at all (one input's outputs), all in one folder.

    :meth:`stage` writes each file completely under a temporary name in its
    destination folder; :meth:`commit` then moves them all into place, in the
    order staged (put a completion marker last). :meth:`discard`, or an
    exception inside :func:`file_group`, removes the temporary files and any
    file of the group already moved into place.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._placed: list[Path] = []
        self._record: Path | None = None

    def stage(self, path: str | Path, writer: Callable[[Path], None]) -> Path:
        """Write ``path``'s content through ``writer`` to a temporary file; return that file.

        Raises
        ------
        ValueError
            If ``path`` is in another folder than the files staged before it.
        """
        path = Path(path)
        if self._staged and path.parent != self._staged[0][1].parent:
            raise ValueError(
                f"{path} is in another folder than {self._staged[0][1]}: the files of one group share a folder; "
                "write the others as a group of their own"
            )
        tmp = _temp_file(path)
        self._staged.append((tmp, path))
        writer(tmp)
        os.chmod(tmp, FILE_MODE)
        return tmp

    def stage_bytes(self, path: str | Path, data: bytes) -> Path:
        """:meth:`stage` for bytes already in memory."""
        return self.stage(path, lambda tmp: _write_bytes(tmp, data))

    def commit(self) -> None:
        """Move every staged file into place.

        A group of several files first gets a commit record, and loses its earlier files (the last staged,
        a completion marker, first): a writer stopped while moving them in leaves no new file beside an old
        one, and :func:`remove_stale_temp_files` finishes the move from the record.
        """
        if len(self._staged) > 1:
            self._record = _write_commit_record(self._staged)
            for _, path in reversed(self._staged):
                _unlink(path)
        for tmp, path in self._staged:
            _replace(tmp, path)
            self._placed.append(path)
        self._staged = []
        if self._record is not None:
            self._record.unlink(missing_ok=True)
            self._record = None

    def discard(self) -> None:
        """Remove staged temporary files, the files of this group already placed, and its commit record."""
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        for path in self._placed:
            path.unlink(missing_ok=True)
        if self._record is not None:
            self._record.unlink(missing_ok=True)
        self._staged, self._placed, self._record = [], [], None


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
