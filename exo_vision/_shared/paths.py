"""File names and output plans shared by ``exo-vision tem`` and ``exo-vision blot``.

* File names are kept as ``str`` paths exactly as the operating system gave
  them (on POSIX an undecodable byte becomes a lone surrogate, which the
  file-system calls turn back into the same byte); they are only converted for
  display, where :func:`display_path` replaces such bytes with U+FFFD.
* :func:`assign_stems` is the one naming rule for per-input outputs: unique
  (case-insensitively), deterministic, and short enough for every output name
  to fit in a file name.
* :func:`check_output_plan` is the one check that outputs never land on inputs
  and never collide.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

#: Longest file name (bytes) on the usual file systems (ext4, APFS, NTFS in UTF-16 units).
MAX_NAME_BYTES = 255


def display_path(path: str | os.PathLike[str] | bytes) -> str:
    """A printable form of a path: undecodable bytes become U+FFFD.

    Parameters
    ----------
    path : str, PathLike or bytes
        A path as the file system gave it (may hold surrogate escapes).

    Returns
    -------
    str
        Valid Unicode, safe to write as UTF-8 to a table, a JSON file or a terminal.
    """
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a surrogate that no file system produced
        raw = str(path).encode("utf-8", errors="replace")
    return raw.decode("utf-8", errors="replace")


def name_bytes(name: str) -> int:
    """Length in bytes of a file name as the file system stores it."""
    return len(os.fsencode(name))


def _fit(stem: str, limit: int) -> str:
    """``stem`` itself when it fits in ``limit`` bytes, else a prefix plus ``~`` and a short hash."""
    if name_bytes(stem) <= limit:
        return stem
    digest = hashlib.sha256(os.fsencode(stem)).hexdigest()[:8]
    keep = stem
    while keep and name_bytes(keep) > limit - 9:
        keep = keep[:-1]
    return f"{keep}~{digest}"


#: Stems no image may take: the name of the summary table's all-images row.
RESERVED_STEMS = frozenset({"pooled"})


def _same_on_any_disk(name: str) -> str:
    """``name`` as disks that ignore case and Unicode normalisation compare it (macOS writes "ö" as "o" plus a
    combining mark, Linux and Windows as one character: one name there, two here)."""
    return unicodedata.normalize("NFC", name).casefold()


def assign_stems(inputs: Sequence[Path], *, longest_suffix: str = "_annotated.png") -> list[str]:
    """Unique output stems, deterministic in the input order.

    A file stem used once is kept. Files sharing a stem (ignoring case and
    Unicode normalisation, as outputs may land on a disk that ignores them) are told apart by their
    folder when the folders differ (``g1/img.tif``, ``g2/img.tif`` ->
    ``g1_img``, ``g2_img``), by their extension when those differ
    (``a.dm3``, ``a.dm4`` -> ``a_dm3``, ``a_dm4``), else by both; anything
    still equal gets ``_2``, ``_3``, ... So does a stem that would print
    like another (undecodable bytes print as U+FFFD, and the tables name
    images by their printed stem) or like a row the tables reserve
    (:data:`RESERVED_STEMS`: ``pooled.tif`` -> ``pooled_2``). A stem too long
    for ``stem + longest_suffix`` to be a valid file name is cut and given
    ``~`` and 8 hex digits of its hash.

    Parameters
    ----------
    inputs : sequence of Path
        Input files in the order given.
    longest_suffix : str
        Longest text appended to a stem to name an output.

    Returns
    -------
    list of str
        One stem per input.
    """
    limit = MAX_NAME_BYTES - name_bytes(longest_suffix) - 4  # room for a "_NN" de-duplication suffix
    groups: dict[str, list[Path]] = {}
    for p in inputs:
        groups.setdefault(_same_on_any_disk(p.stem), []).append(p)

    def base(p: Path) -> str:
        group = groups[_same_on_any_disk(p.stem)]
        if len(group) == 1:
            return p.stem
        folder = p.parent.name or "root"
        ext = p.suffix.lstrip(".").lower()
        if len({_same_on_any_disk(q.parent.name) for q in group}) == len(group):
            return f"{folder}_{p.stem}"
        if len({q.suffix.lower() for q in group}) == len(group):
            return f"{p.stem}_{ext}"
        return f"{folder}_{p.stem}_{ext}"

    stems: list[str] = []
    used: set[str] = set(RESERVED_STEMS)
    for p in inputs:
        # a hidden input given by its path: its outputs are not hidden (".b" -> "b", made unique below)
        stem = _fit(base(p).lstrip(".") or "image", limit)
        candidate, k = stem, 2
        while _same_on_any_disk(candidate) in used or _same_on_any_disk(display_path(candidate)) in used:
            candidate = f"{stem}_{k}"
            k += 1
        used.update({_same_on_any_disk(candidate), _same_on_any_disk(display_path(candidate))})
        stems.append(candidate)
    return stems


def check_output_plan(
    *, out_dir: Path, inputs: Sequence[Path], outputs: Iterable[str], input_folders: Iterable[Path] = ()
) -> None:
    """Refuse an output plan that would overwrite an input or write two outputs to one file.

    Parameters
    ----------
    out_dir : Path
        Output folder (may not exist yet).
    inputs : sequence of Path
        Every input file.
    outputs : iterable of str
        Every output file name the run may write in ``out_dir``.
    input_folders : iterable of Path
        Folders given as inputs: ``out_dir`` may not be one of them.

    Raises
    ------
    ValueError
        Naming the problem and the fix.
    """
    shown = display_path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {shown} exists and is not a folder; pass a folder path")
    out_resolved = out_dir.resolve()
    for folder in input_folders:
        if folder.resolve() == out_resolved:
            raise ValueError(
                f"--out {shown} is also an input folder: outputs would mix with the inputs and could "
                f"overwrite them; choose another folder (e.g. {display_path(out_dir / 'results')})"
            )
    resolved_inputs = {p.resolve() for p in inputs}
    seen: dict[str, str] = {}
    for name in outputs:
        if name_bytes(name) > MAX_NAME_BYTES:
            raise ValueError(f"output name {display_path(name)!r} is longer than {MAX_NAME_BYTES} bytes")
        key = name.lower()
        if key in seen:
            raise ValueError(
                f"two outputs would both be written to {display_path(out_dir / name)}; rename one of the inputs"
            )
        seen[key] = name
        target = (out_dir / name).resolve()
        if target in resolved_inputs:
            raise ValueError(f"--out {shown} would overwrite the input {display_path(target)}; choose another folder")
        if target.is_dir():
            raise ValueError(
                f"{display_path(out_dir / name)} is a folder where the run writes a file; move it or choose another "
                "--out folder"
            )


def is_previous_output(path: Path, markers: dict[str, str]) -> bool:
    """Whether ``path`` is an output of an earlier run lying beside that run's marker file.

    Parameters
    ----------
    path : Path
        A candidate input file.
    markers : dict of str to str
        Output suffix (``"_labels.tif"``) -> the suffix of the file written
        with it for the same stem (``"_done.json"``).

    Returns
    -------
    bool
        True for ``S_labels.tif`` when ``S_done.json`` is in the same folder.
    """
    name = path.name
    for suffix, companion in markers.items():
        if name.lower().endswith(suffix.lower()):
            stem = name[: len(name) - len(suffix)]
            if (stem or not suffix.startswith("_")) and (path.parent / f"{stem}{companion}").is_file():
                return True
    return False


#: Hidden files named one by one in the note about them.
HIDDEN_NAMED_AT_MOST = 5


def is_hidden(path: Path) -> bool:
    """Whether a file's name marks it hidden (it starts with "."): macOS "._name.tif" resource forks, editors'
    and sync tools' copies. Folders are scanned without them."""
    return path.name.startswith(".")


def hidden_files_note(folder: Path, hidden: Sequence[Path]) -> str | None:
    """The line that says which image files of ``folder`` were left out as hidden, or None when none were."""
    if not hidden:
        return None
    names = ", ".join(
        display_path(p.relative_to(folder) if folder in p.parents else p) for p in hidden[:HIDDEN_NAMED_AT_MOST]
    )
    more = f" and {len(hidden) - HIDDEN_NAMED_AT_MOST} more" if len(hidden) > HIDDEN_NAMED_AT_MOST else ""
    return (
        f"{display_path(folder)}: left out {len(hidden)} hidden file(s) (name starting with '.', such as macOS '._' "
        f"copies): {names}{more}; give a file's path to analyse it"
    )


def prepare_output_folder(out_dir: Path) -> None:
    """Create ``out_dir`` if needed and make sure files can be written in it.

    Raises
    ------
    ValueError
        If the folder cannot be created or written to, naming it and the fix.
    """

    shown = display_path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except FileExistsError:
        raise ValueError(f"--out {shown} exists and is not a folder; pass a folder path") from None
    except OSError as err:
        raise ValueError(
            f"cannot write in the output folder {shown}: {err.strerror or err}; choose a folder you may write to"
        ) from None


def printable(value: object) -> object:
    """``value`` with every string in it (nested lists and dicts too) made valid Unicode by :func:`display_path`."""
    if isinstance(value, str):
        return display_path(value)
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable(v) for v in value]
    return value
