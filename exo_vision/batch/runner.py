"""Run the TEM analysis over many micrographs: local process pool or Dask, resumable.

The runner plans one job per input (unique output stem, planned outputs
checked against the inputs), skips inputs already complete when resuming,
runs the rest with bounded work in flight, and then writes the run-level
outputs (see :mod:`exo_vision.batch.run_outputs`) from the per-image files on
disk, so that a resumed run and an uninterrupted run give identical tables.

One failing input never stops the run: :func:`process_image` turns any
exception raised while reading, analysing or writing that input into a failed
record (type and message, logged with its traceback at debug level) that ends
up in ``errors.csv``.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from exo_vision._shared.atomic import TEMP_PREFIX, atomic_write_text, remove_stale_temp_files, sha256_file
from exo_vision._shared.failures import describe_failure
from exo_vision._shared.interrupt import (
    caused_by_interrupt,
    children_ignore_group_signals,
    ignore_group_signals,
    interrupts_deferred,
)
from exo_vision._shared.paths import (
    HIDDEN_NAMED_AT_MOST,
    assign_stems,
    check_output_plan,
    display_path,
    hidden_files_note,
    is_hidden,
    is_previous_output,
    prepare_output_folder,
)
from exo_vision._shared.resources import available_memory_mb, peak_rss_mb
from exo_vision._shared.run_lock import output_lock
from exo_vision.batch.config import TemBatchConfig
from exo_vision.batch.duplicates import pixels_signature, rescaled_copies
from exo_vision.batch.image_outputs import (
    completed_marker,
    images_not_in_run,
    intact_outputs,
    output_names,
    read_marker,
    remove_image_outputs,
    write_image_outputs,
)
from exo_vision.batch.input_reading import read_as_run
from exo_vision.batch.memory import header_pixels, memory_workers
from exo_vision.batch.run_outputs import write_run_outputs
from exo_vision.environment import code_sha256
from exo_vision.io.image_data import ImageData
from exo_vision.io.read import READABLE_SUFFIXES
from exo_vision.segmentation.learned.weights import parameters_from_folder
from exo_vision.tem_analysis import MicrographResult, analyse_micrograph, rejected_by_reason
from exo_vision.tem_parameters import TemParameters

logger = logging.getLogger(__name__)

#: Suffixes of MRC volumes and tilt series (tomograms, aligned stacks, maps): read by exo_vision, one frame at a
#: time with ``--frame``, but no micrographs; a folder scan names them and leaves them out.
VOLUME_SUFFIXES = frozenset({".map", ".st", ".rec", ".ali"})
#: Suffixes of Bio-Rad Image Lab blots: read by exo_vision, but no micrographs; a folder scan names them.
BLOT_SUFFIXES = frozenset({".scn"})
#: Suffix of a TIA image's description: its ``.ser`` file beside it holds the image (and is taken).
TIA_DESCRIPTION_SUFFIX = ".emi"
#: File suffixes picked up when a folder is given as input: what the reader reads but volumes, blots and a TIA
#: file's description. Every file the reader reads that a scan leaves out is named, with why and what to do.
IMAGE_SUFFIXES = READABLE_SUFFIXES - VOLUME_SUFFIXES - BLOT_SUFFIXES - {TIA_DESCRIPTION_SUFFIX}
#: How many times Dask resubmits a task that raised (a lost worker is governed by
#: Dask's ``distributed.scheduler.allowed-failures``, 3 by default).
WORKER_DEATH_RETRIES = 1
#: Start method of the local process pool.
POOL_START_METHOD = "forkserver"
#: Characters of a warning quoted in the end-of-run count of micrographs that gave it.
WARNING_SUMMARY_CHARS = 100
#: Images named in the end-of-run note on outputs of images not in the run (run.json lists them all).
NOT_IN_RUN_NAMES_SHOWN = 5
#: Seconds between checks that the main process is alive, where it cannot be waited on directly.
PARENT_POLL_S = 1.0
#: Bytes in a gigabyte and pixels in a megapixel, for the message on a Dask worker that died.
BYTES_PER_GB = 1e9
PIXELS_PER_MEGAPIXEL = 1e6
#: Seconds to wait for a remote Dask scheduler to answer.
DASK_CONNECT_TIMEOUT_S = 10
#: Run-level outputs.
RUN_FILES = ("vesicles.csv", "summary.csv", "size_histogram.png", "size_histogram.svg", "run.json", "errors.csv")
#: Earlier outputs never taken as inputs: ``S_labels.tif``/``S_overlay.png`` beside ``S_done.json``.
PREVIOUS_OUTPUTS = {"_labels.tif": "_done.json", "_overlay.png": "_done.json", "size_histogram.png": "run.json"}


@dataclass(frozen=True)
class ImageJob:
    """One input to analyse.

    Attributes
    ----------
    index : int
        Position in the input list (results are reported in this order).
    path : str
        Input file.
    stem : str
        Unique output stem.
    out_dir : str
        Output folder.
    parameters : dict
        :meth:`TemBatchConfig.analysis_parameters`.
    max_megapixels : float or None
        Limit on the input's decoded size (None: the reader's default).
    overlay : bool
        Write the overlay PNG (``--no-overlay`` turns it off).
    """

    index: int
    path: str
    stem: str
    out_dir: str
    parameters: dict[str, Any]
    max_megapixels: float | None = None
    overlay: bool = True


@dataclass
class BatchResult:
    """Outcome of :func:`run_tem_batch`.

    Attributes
    ----------
    records : list of dict
        One record per input, in input order: ``input``, ``stem``, ``status``
        (``"done"``, ``"skipped"`` = complete from an earlier run, ``"failed"``),
        ``error``, and for successes the marker facts (checksum, calibration,
        timings, analysed area).
    wall_s : float
        Wall time of the whole run in seconds.
    workers : int
        Worker processes the run used (1: one image at a time; 0: nothing to analyse).
    available_memory_mb : float or None
        Memory available when the run started, MB (what the worker count was fitted to); None when unknown.
    not_in_run : list of dict
        Images whose outputs from earlier runs are in the output folder but which are no input of this run
        (:func:`~exo_vision.batch.image_outputs.images_not_in_run`): left in place, in none of the tables.
    dask_workers : dict or None
        On a Dask cluster: the workers' addresses, their exo_vision code fingerprints (checked equal to this
        process's) and the library versions that differ from this process's; None otherwise.
    duplicate_images : list of list of str
        Inputs that are the same micrograph (identical file bytes, or identical pixels at the same pixel size),
        one list per micrograph in input order: the first is counted in the pooled statistics, the others
        (their records hold ``duplicate_of``) keep their own outputs and summary row only.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    workers: int = 0
    available_memory_mb: float | None = None
    not_in_run: list[dict[str, Any]] = field(default_factory=list)
    dask_workers: dict[str, Any] | None = None
    duplicate_images: list[list[str]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Records of inputs that failed."""
        return [r for r in self.records if r["status"] == "failed"]


def _folder_files(folder: Path, *, recursive: bool) -> list[Path]:
    """The entries of ``folder`` (with ``recursive``, of its sub-folders too, symbolic links to folders
    followed, each real folder once), sorted by path."""
    if not recursive:
        return sorted(folder.iterdir())
    files: list[Path] = []
    visited: set[Path] = set()
    hidden: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = Path(root).resolve()
        if real in visited:  # a link back up the tree, or two links to one folder
            dirs[:] = []
            continue
        visited.add(real)
        # hidden folders (a NAS's .snapshot, a .Trash, thumbnails) hold copies, older versions, not the grid
        hidden.extend(Path(root) / d for d in dirs if is_hidden(Path(d)))
        dirs[:] = [d for d in dirs if not is_hidden(Path(d))]
        files.extend(Path(root) / name for name in names)
    if hidden:
        logger.info(
            "%s: left out %d hidden folder(s) (name starting with '.', such as a snapshot or trash folder): %s; "
            "give a folder's path to analyse it",
            display_path(folder),
            len(hidden),
            ", ".join(display_path(h.relative_to(folder)) for h in sorted(hidden)[:HIDDEN_NAMED_AT_MOST])
            + ("" if len(hidden) <= HIDDEN_NAMED_AT_MOST else f" and {len(hidden) - HIDDEN_NAMED_AT_MOST} more"),
        )
    return sorted(files)


def collect_inputs(
    paths: Iterable[str | Path], *, recursive: bool = False, exclude_dir: str | Path | None = None
) -> list[Path]:
    """Expand files and folders into the list of images to analyse.

    Parameters
    ----------
    paths : iterable of str or Path
        Files (always taken, whatever their suffix) and folders (their files
        with a suffix in :data:`IMAGE_SUFFIXES`, sorted by name; hidden files,
        such as macOS ``._name.tif`` resource forks, are left out; a link to a
        missing file is taken, so that the run reports it). Files the reader
        reads that are no micrographs (MRC volumes, Bio-Rad blots, a TIA
        description without its image) are left out and named in the log.
    recursive : bool
        Descend into sub-folders of the given folders, following symbolic
        links to folders (each real folder once, so a link loop ends).
    exclude_dir : str or Path, optional
        Folder whose contents are never inputs (the output folder).

    Returns
    -------
    list of Path
        Existing files, each once, in the order given.

    Raises
    ------
    ValueError
        If a path does not exist, or nothing is found.
    """
    excluded = Path(exclude_dir).resolve() if exclude_dir is not None else None
    found: list[Path] = []
    seen: set[Path] = set()

    inodes: dict[tuple[int, int], Path] = {}

    def add(path: Path) -> None:
        key = path.resolve()
        if key in seen:
            return
        try:
            stat = key.stat()
        except OSError:  # a link to nothing: taken, so that the run reports it
            stat = None
        inode = None if stat is None else (stat.st_dev, stat.st_ino)
        if inode is not None and inode in inodes:  # a hard link: the same file under another name
            logger.warning(
                "%s is the same file as %s (a hard link): analysed once",
                display_path(path),
                display_path(inodes[inode]),
            )
            return
        seen.add(key)
        if inode is not None:
            inodes[inode] = path
        found.append(path)

    for raw in paths:
        path = Path(raw)
        shown = display_path(path)
        try:
            if path.is_file():
                add(path)
            elif path.is_dir():
                hidden: list[Path] = []
                readable_left_out: list[Path] = []
                for child in _folder_files(path, recursive=recursive):
                    dangling = child.is_symlink() and not child.exists()  # reported in errors.csv, not skipped
                    suffix = child.suffix.lower()
                    if suffix in READABLE_SUFFIXES - IMAGE_SUFFIXES and child.is_file() and not is_hidden(child):
                        readable_left_out.append(child)
                    if not (child.is_file() or dangling) or suffix not in IMAGE_SUFFIXES:
                        continue
                    if is_hidden(child):
                        hidden.append(child)
                        continue
                    if child.name.startswith(TEMP_PREFIX) or is_previous_output(child, PREVIOUS_OUTPUTS):
                        continue
                    if excluded is not None and excluded in child.resolve().parents:
                        continue
                    add(child)
                if (note := hidden_files_note(path, hidden)) is not None:
                    logger.info(note)
                _note_left_out(path, readable_left_out)
            elif path.is_symlink():
                raise ValueError(
                    f"input {shown} is a symbolic link that leads nowhere (a loop or a missing target); "
                    "pass the file or folder it should point to"
                )
            else:
                raise ValueError(f"input {shown} does not exist; check the path (files and folders are accepted)")
        except OSError as err:
            raise ValueError(
                f"cannot list input {shown}: {err.strerror or err}; check the path and your permission to read it"
            ) from err
    if not found:
        raise ValueError(
            "no images found in the inputs given "
            f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))}{' recursively' if recursive else ''}); "
            "pass image files or folders holding them, or --recursive"
        )
    return found


#: Files named in each note on those a folder scan left out.
LEFT_OUT_NAMED = 5


def _note_left_out(folder: Path, files: list[Path]) -> None:
    """Name the files of ``folder`` that the reader reads but a folder scan leaves out: MRC volumes and tilt
    series, Bio-Rad blots and TIA descriptions whose image (``.ser``) is not beside them; say how to analyse
    each kind."""
    volumes = [f for f in files if f.suffix.lower() in VOLUME_SUFFIXES]
    _note(
        folder,
        volumes,
        f"MRC volume(s) or tilt series ({', '.join(sorted(VOLUME_SUFFIXES))})",
        "they are no micrographs. To measure one of their images, pass the file with --frame K",
    )
    _note(
        folder,
        [f for f in files if f.suffix.lower() in BLOT_SUFFIXES],
        "Bio-Rad Image Lab blot(s) (.scn)",
        "they are no micrographs; quantify them with exo-vision blot",
    )
    descriptions = [f for f in files if f.suffix.lower() == TIA_DESCRIPTION_SUFFIX and not _tia_images(f)]
    _note(
        folder,
        descriptions,
        "TIA description(s) (.emi) without their image file (.ser) beside them",
        "copy each one's .ser file (NAME_1.ser) into the same folder",
    )


def _tia_images(description: Path) -> list[Path]:
    """The ``.ser`` files beside a TIA ``.emi`` description that hold its images (``NAME.ser``, ``NAME_1.ser``)."""
    stem = description.stem.lower()
    return [
        p
        for p in description.parent.iterdir()
        if p.suffix.lower() == ".ser" and (p.stem.lower() == stem or p.stem.lower().startswith(f"{stem}_"))
    ]


def _note(folder: Path, files: list[Path], what: str, fix: str) -> None:
    """One INFO line naming ``files`` (some of them), what they are and how to analyse them."""
    if not files:
        return
    names = ", ".join(display_path(f) for f in files[:LEFT_OUT_NAMED]) + (
        ", ..." if len(files) > LEFT_OUT_NAMED else ""
    )
    logger.info("%s: %d %s left out: %s; %s", display_path(folder), len(files), what, names, fix)


def plan_jobs(
    inputs: Sequence[Path], *, out_dir: Path, config: TemBatchConfig, input_folders: Sequence[Path] = ()
) -> list[ImageJob]:
    """One job per input, refusing outputs that would overwrite an input or collide.

    Raises
    ------
    ValueError
        If any planned output path is one of the inputs, two outputs share a
        name, or ``out_dir`` is one of ``input_folders``
        (:func:`exo_vision._shared.paths.check_output_plan`).
    """
    stems = assign_stems(inputs)
    outputs = [
        name for stem in stems for name in output_names(stem, rois=config.save_rois, overlay=config.overlay).values()
    ]
    check_output_plan(out_dir=out_dir, inputs=inputs, outputs=[*RUN_FILES, *outputs], input_folders=input_folders)
    params = config.analysis_parameters()
    return [
        ImageJob(
            index=index,
            path=str(path),
            stem=stem,
            out_dir=str(out_dir),
            parameters=params,
            max_megapixels=config.max_megapixels,
            overlay=config.overlay,
        )
        for index, (path, stem) in enumerate(zip(inputs, stems, strict=True))
    ]


def process_image(job: ImageJob) -> dict[str, Any]:
    """Read, analyse and write one input; never raises for a bad input.

    Returns
    -------
    dict
        ``status="done"`` with the marker facts, or ``status="failed"`` with
        ``error`` = ``"<ExceptionType>: <message>"``.
    """

    record: dict[str, Any] = {"input": display_path(job.path), "stem": job.stem, "index": job.index}
    out_dir = Path(job.out_dir)
    p = job.parameters
    start = time.perf_counter()
    writing = False
    try:
        # (an earlier marker vouches for its own outputs by their checksums, so it may stay until the new one
        # replaces it: a result that cannot be written keeps the earlier complete one)
        record["input_sha256"] = sha256_file(job.path)
        t0 = time.perf_counter()
        image = _apply_run_pixel_size(read_as_run(job.path, p, max_megapixels=job.max_megapixels), p)
        record["pixels_sha256"] = pixels_sha256(image.data)  # the same micrograph exported twice: other bytes
        record["pixels_signature"] = pixels_signature(image.data)  # ... or at another bit depth: other pixels
        t1 = time.perf_counter()
        result = analyse_micrograph(image, TemParameters.from_dict(p))
        t2 = time.perf_counter()
        timings = {"read_s": t1 - t0, **result.timings}
        timings.pop("total_s", None)
        record.update(_result_facts(image, result, p))
        if p.get("save_rois"):
            from exo_vision.annotations.polygons import outline_mismatches, outline_warning

            if differ := outline_mismatches(result.labels):
                record["warnings"].append(f"ROI set: {outline_warning(differ)}")
        marker_facts = dict(record)
        marker_facts["timings"] = timings
        writing = True
        marker = write_image_outputs(
            result,
            out_dir=out_dir,
            stem=job.stem,
            record=marker_facts,
            save_rois=bool(p.get("save_rois")),
            overlay=job.overlay,
        )
        if "overlay_legend_box_px" in marker:  # where the report's close-up must not go, as a resumed run has it
            record["overlay_legend_box_px"] = marker["overlay_legend_box_px"]
        timings["write_s"] = time.perf_counter() - t2
        timings["total_s"] = time.perf_counter() - start
        record["timings"] = timings
        record["peak_rss_mb"] = peak_rss_mb()
        record["status"] = "done"
    except Exception as err:  # noqa: BLE001 - reported in errors.csv, the run goes on
        if caused_by_interrupt(err):  # a stop asked for, turned into an error by a library (an import): no failure
            raise KeyboardInterrupt from err
        logger.debug("failed on %s", display_path(job.path), exc_info=True)
        record["status"] = "failed"
        record["error"] = describe_failure(err)
        if writing and isinstance(err, OSError) and intact_outputs(out_dir=out_dir, stem=job.stem):
            # nothing of the new result was written (a full disk): the earlier complete one stays, as it was
            record["error"] += "; the result of an earlier run is kept"
            return record
        # An input's outputs exist all together or not at all: none may outlive a failure.
        try:
            remove_image_outputs(out_dir=out_dir, stem=job.stem)
        except OSError:
            logger.debug("could not remove the outputs of %s", job.stem, exc_info=True)
    return record


def pixels_sha256(pixels: np.ndarray) -> str:
    """SHA-256 of an image's pixels with their dtype and shape: equal for the same micrograph saved twice
    (another format, other metadata or compression), whose files' checksums differ."""
    array = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.reshape(-1).view(np.uint8).data)  # the buffer itself: no copy of the image
    return digest.hexdigest()


#: Relative difference between a typed pixel size and the file's own above which the override is warned of.
OVERRIDE_WARN_RELATIVE = 0.01


def _apply_run_pixel_size(image: ImageData, parameters: dict[str, Any]) -> ImageData:
    """Give ``pixel_size_nm_if_missing`` to an input without a calibration of its own (with a warning that
    says so), and warn when ``pixel_size_nm`` replaces a file's own calibration by a different value (its value
    is kept in ``metadata`` and recorded in run.json)."""
    fallback = parameters.get("pixel_size_nm_if_missing")
    if fallback is not None and image.pixel_size_nm is None:
        filled = image.with_pixel_size(float(fallback))
        # a typed guess: warned, so that the summary's n_warnings filter finds the image
        filled.warnings.append(fallback_warning(float(fallback)))
        return filled
    own = image.metadata.get("file_pixel_size_yx_nm")
    typed = parameters.get("pixel_size_nm")
    if typed is None or not own or None in own:
        return image
    own_nm = 0.5 * (float(own[0]) + float(own[1]))
    if own_nm > 0 and abs(float(typed) - own_nm) / own_nm > OVERRIDE_WARN_RELATIVE:
        source = image.metadata.get("file_pixel_size_source") or "file metadata"
        image.warnings.append(
            f"--pixel-size-nm {float(typed):g} replaces the file's own pixel size of {own_nm:.4g} nm "
            f"({source}), {float(typed) / own_nm:.3g} times it; if only the uncalibrated files need a pixel "
            "size, pass --pixel-size-nm-if-missing instead"
        )
    return image


def fallback_warning(pixel_size_nm: float) -> str:
    """The warning of an input measured at ``--pixel-size-nm-if-missing`` (``pixel_size_nm``, nm/px)."""
    return (
        f"pixel size {pixel_size_nm:g} nm/px from --pixel-size-nm-if-missing: the file carries none; check it "
        "(a wrong value scales every diameter by the same factor)"
    )


def _own_calibration(image: ImageData) -> dict[str, Any]:
    """The file's own pixel size and its source, when a typed one replaced it (else nothing)."""
    own = image.metadata.get("file_pixel_size_yx_nm")
    if image.pixel_size_source != "user" or not own or None in own:
        return {}
    return {
        "file_pixel_size_nm": 0.5 * (float(own[0]) + float(own[1])),
        "file_pixel_size_source": image.metadata.get("file_pixel_size_source") or "file metadata",
    }


def _result_facts(image: ImageData, result: MicrographResult, parameters: dict[str, Any]) -> dict[str, Any]:
    """What run.json and the completion marker record of one analysed micrograph."""
    return {
        "parameters": parameters,
        "shape": list(image.shape),
        "pixel_size_nm": image.pixel_size_nm,
        "pixel_size_source": image.pixel_size_source,
        **_own_calibration(image),
        # the scale-bar reading behind a pixel size read from the image (bar, label, OCR text)
        **({"scale_bar": image.metadata["scale_bar"]} if image.metadata.get("scale_bar") else {}),
        "polarity": result.polarity,
        "segmenter": result.segmenter,
        "analysed_area_nm2": result.analysed_area_nm2,
        "n_vesicles": int(len(result.table)),
        "rejected_by_reason": rejected_by_reason(result.rejected),
        "warnings": [*image.warnings, *result.warnings],
        # touching vesicles that may be one cut in two, as label pairs (the warnings name them in words)
        "split_groups": [list(group) for group in result.split_groups],
    }


def _first_words(message: str, limit: int = WARNING_SUMMARY_CHARS) -> str:
    """``message`` cut after its first clause (at most ``limit`` characters), to name it in a summary line."""
    head = message.split(":")[0]
    return head if len(head) <= limit else head[: limit - 3] + "..."


#: Keys of a completion marker that describe the files, not the image: left out of run.json's image record
#: (the run records its code once, under ``software``).
MARKER_ONLY_KEYS = ("outputs", "marker_version", "code_sha256")


def _skip_if_complete(job: ImageJob) -> dict[str, Any] | None:
    """The record of an input whose outputs from an earlier run are complete, else None."""
    try:
        checksum = sha256_file(job.path)
    except OSError:
        return None
    marker = completed_marker(
        out_dir=Path(job.out_dir), stem=job.stem, input_sha256=checksum, parameters=job.parameters, overlay=job.overlay
    )
    if marker is None:
        return None
    record = {k: v for k, v in marker.items() if k not in MARKER_ONLY_KEYS}
    record.update({"input": display_path(job.path), "stem": job.stem, "index": job.index, "status": "skipped"})
    return record


def _curated_record(job: ImageJob) -> dict[str, Any] | None:
    """The record of an input whose result was curated in the napari grid session, else None.

    A curated result is never replaced by an uncurated re-analysis, with or without --resume:

    * same input file and complete outputs: kept, ``status="skipped"`` (with a warning when it
      was made with other parameters than this run's);
    * input changed since, or outputs missing or altered: ``status="failed"``, files left as they are.
    """
    marker = read_marker(out_dir=Path(job.out_dir), stem=job.stem)
    if marker is None or not marker.get("curated_in_gui"):
        return None
    base = {"input": display_path(job.path), "stem": job.stem, "index": job.index}
    try:
        checksum = sha256_file(job.path)
    except OSError as err:
        return {**base, "status": "failed", "error": f"cannot read {display_path(job.path)}: {err.strerror}"}
    complete = completed_marker(
        out_dir=Path(job.out_dir),
        stem=job.stem,
        input_sha256=checksum,
        parameters=marker.get("parameters") or {},
        same_code=False,
    )
    if complete is None:
        reason = (
            "the input file changed since"
            if marker.get("input_sha256") != checksum
            else "its output files are missing or were altered"
        )
        return {
            **base,
            "status": "failed",
            "error": (
                f"{display_path(job.stem)} in {display_path(job.out_dir)} holds a result curated "
                f"in the GUI, but {reason}; it was left untouched. To re-analyse, move its "
                f"{display_path(job.stem)}_* files away or choose another --out."
            ),
        }
    if complete.get("code_sha256") != code_sha256():
        logger.warning(
            "%s: kept the result curated in the GUI, made by another version of exo_vision (its measurements may "
            "differ from this version's); to re-measure it, move its %s_* files out of %s or choose another --out",
            job.path,
            job.stem,
            job.out_dir,
        )
    elif json.dumps(complete.get("parameters"), sort_keys=True) != json.dumps(job.parameters, sort_keys=True):
        logger.warning(
            "%s: kept the result curated in the GUI (made with other parameters than this run's); "
            "to re-analyse it, move its %s_* files out of %s or choose another --out",
            job.path,
            job.stem,
            job.out_dir,
        )
    record = {k: v for k, v in complete.items() if k not in MARKER_ONLY_KEYS}
    record.update({**base, "status": "skipped"})
    return record


#: Changed parameters named at most in the resume line about them.
CHANGED_PARAMETERS_SHOWN = 6


def changed_parameters(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The parameters whose value differs between an earlier result's marker and this run, as ``name old -> new``
    (JSON values, sorted by name; a parameter one of them lacks reads ``null``)."""
    changed = []
    for name in sorted(set(recorded) | set(now)):
        old, new = json.dumps(recorded.get(name), sort_keys=True), json.dumps(now.get(name), sort_keys=True)
        if old != new:
            changed.append(f"{name} {old} -> {new}")
    return changed


def _note_changed_parameters(todo: Sequence[ImageJob]) -> None:
    """Say in one line why a resume analyses again inputs whose earlier result is there: this run's parameters
    differ from those it was made with (named, old -> new); and in another, how many other exo_vision code made."""
    changes: dict[str, None] = {}
    n_other, n_code = 0, 0
    for job in todo:
        marker = read_marker(out_dir=Path(job.out_dir), stem=job.stem)
        if marker is None or not isinstance(marker.get("parameters"), dict):
            continue
        changed = changed_parameters(parameters_from_folder(marker["parameters"], job.out_dir), job.parameters)
        if changed:
            n_other += 1
            changes.update(dict.fromkeys(changed))
        elif marker.get("code_sha256") != code_sha256():
            n_code += 1
    if n_other:
        names = list(changes)
        shown = "; ".join(names[:CHANGED_PARAMETERS_SHOWN]) + ("; ..." if len(names) > CHANGED_PARAMETERS_SHOWN else "")
        logger.warning(
            "resume: %d input(s) have results made with other parameters than this run's (%s): they are analysed "
            "again; if an option was mistyped, stop and rerun with the earlier value",
            n_other,
            shown,
        )
    if n_code:
        logger.info("resume: %d input(s) have results made by another version of exo_vision: analysed again", n_code)


def _one_thread_per_worker() -> None:
    """Pool initializer: each worker process uses one OpenCV thread.

    With N worker processes on N cores, OpenCV's own thread pool (N threads per
    process) only adds contention.
    """

    cv2.setNumThreads(1)


def _worker_init(main_pid: int, temp_dir: str | None) -> None:
    """Pool initializer: one OpenCV thread, and exit when the main process is gone.

    A process-pool worker blocks on its task queue, whose write end it holds
    itself, so it never notices that the main process was killed (kill -9,
    out-of-memory killer): the workers, and through them the fork server and
    the resource tracker, would run on as orphans. A daemon thread watches the
    main process; when it is gone it removes the main process's
    multiprocessing temporary folder (``pymp-*``, which only the main process's
    exit handler would remove) and ends this worker. Ctrl-C and a closed
    terminal, which reach the whole process group, are ignored here: the main
    process takes the stop and ends the workers (:func:`_end_workers`).
    """
    ignore_group_signals()
    _one_thread_per_worker()

    threading.Thread(
        target=_exit_with_parent, args=(main_pid, temp_dir), daemon=True, name="exo-vision-parent-watch"
    ).start()


def _exit_with_parent(main_pid: int, temp_dir: str | None) -> None:
    """Block until process ``main_pid`` ends; then clean its temp folder and exit this process."""

    try:
        fd = os.pidfd_open(main_pid)  # Linux >= 5.3: wait without polling, immune to pid reuse
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        import select

        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll(None):
            pass
    else:
        while True:
            time.sleep(PARENT_POLL_S)
            try:
                os.kill(main_pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                continue
    if temp_dir and Path(temp_dir).name.startswith("pymp-"):
        shutil.rmtree(temp_dir, ignore_errors=True)
    os._exit(3)


def _process_image_single_threaded(job: ImageJob) -> dict[str, Any]:
    """:func:`process_image` in a Dask worker, limited to one OpenCV thread like the local pool."""
    _one_thread_per_worker()
    return process_image(job)


#: File in the output folder that counts, per image stem, the runs that died while analysing it in their own
#: process: an image's count goes up when it starts and the image is forgotten when it ends, so a count left
#: behind means the run died in that image (the operating system ends a process that takes more memory than
#: the machine has, without a word to it).
DEATHS_FILE = ".exo-vision-analysing.json"
#: A run that died this many times in one image leaves it out (failed, said why), so that the others finish.
DEATHS_BEFORE_LEFT_OUT = 2


def _death_counts(out_dir: Path) -> dict[str, int]:
    try:
        counts = json.loads((out_dir / DEATHS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return {str(k): int(v) for k, v in counts.items() if isinstance(v, int)} if isinstance(counts, dict) else {}


def _note_deaths(out_dir: Path, stem: str, change: int | None) -> None:
    """Add ``change`` to ``stem``'s count, or forget ``stem`` (``change=None``); the file goes when empty."""
    counts = _death_counts(out_dir)
    if change is None:
        if counts.pop(stem, None) is None:
            return
    else:
        counts[stem] = counts.get(stem, 0) + change
    if counts:
        atomic_write_text(out_dir / DEATHS_FILE, json.dumps(counts, indent=1, sort_keys=True) + "\n")
    else:
        (out_dir / DEATHS_FILE).unlink(missing_ok=True)


def _run_serial(jobs: Sequence[ImageJob]) -> Iterator[dict[str, Any]]:
    """Each job in this process, counted while it runs (a pool's workers die alone, this process not)."""
    for job in jobs:
        out_dir = Path(job.out_dir)
        _note_deaths(out_dir, job.stem, 1)
        try:
            record = process_image(job)
        except KeyboardInterrupt:  # a stop asked for (Ctrl-C, SIGTERM, a time limit) is no death in the image
            _note_deaths(out_dir, job.stem, -1)
            raise
        _note_deaths(out_dir, job.stem, None)
        yield record


def _after_earlier_deaths(todo: list[ImageJob], records: dict[int, dict[str, Any]]) -> list[ImageJob]:
    """Jobs a dead run was analysing go last (the others finish first); after
    :data:`DEATHS_BEFORE_LEFT_OUT` deaths a job is left out as failed, saying why and how to try it again."""
    fine, suspect = [], []
    counts = {folder: _death_counts(Path(folder)) for folder in {job.out_dir for job in todo}}  # one read per folder
    for job in todo:
        deaths = counts[job.out_dir].get(job.stem, 0)
        if deaths >= DEATHS_BEFORE_LEFT_OUT:
            records[job.index] = {
                "input": display_path(job.path),
                "stem": job.stem,
                "index": job.index,
                "status": "failed",
                "error": (
                    f"{deaths} earlier runs stopped without a word while analysing this image, most likely because "
                    "it needs more memory than this machine has (the operating system then ends the process); it is "
                    "left out so that the other images finish. Crop it into tiles or run it on a machine with more "
                    f"memory; to try it here again, remove {job.stem!r} from "
                    f"{display_path(Path(job.out_dir) / DEATHS_FILE)}"
                ),
            }
        elif deaths:
            suspect.append(job)
        else:
            fine.append(job)
    return fine + suspect


#: Environment of worker processes: one BLAS/OpenMP thread each, as Dask's
#: nanny sets for its workers (N processes x N threads only contend on N cores,
#: and numpy's BLAS sums in a thread-count-dependent order).
WORKER_ENVIRONMENT = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _pool_context() -> multiprocessing.context.BaseContext:
    """Start method of the local pool (forkserver: safe with threads, modules imported once).

    The fork server is started here with :data:`WORKER_ENVIRONMENT`, so that
    numpy in every worker comes up single-threaded; this process's own
    environment is restored afterwards. It and multiprocessing's resource
    tracker start ignoring Ctrl-C and a closed terminal, which reach the whole
    process group: this process takes the stop (without that they die, or
    print tracebacks of their own into the log, while it stops).
    """
    context = multiprocessing.get_context(POOL_START_METHOD)
    if POOL_START_METHOD == "forkserver":
        from multiprocessing import forkserver, resource_tracker

        context.set_forkserver_preload(["exo_vision.batch.runner", "exo_vision.tem_analysis", "exo_vision.io"])
        saved = {key: os.environ.get(key) for key in WORKER_ENVIRONMENT}
        os.environ.update(WORKER_ENVIRONMENT)
        try:
            with children_ignore_group_signals():
                resource_tracker.ensure_running()
                forkserver.ensure_running()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return context


def _worker_init_args() -> tuple[int, str | None]:
    """Arguments of :func:`_worker_init`: this process's id and its multiprocessing temp folder."""
    from multiprocessing import util

    return os.getpid(), util.get_temp_dir()


#: Process ids of the worker processes this process started: their temporary files are a killed worker's as
#: soon as the worker is gone (:func:`_remove_temp_files`).
_OWN_WORKERS: set[int] = set()


def _note_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Add the ids of ``pool``'s worker processes to :data:`_OWN_WORKERS`."""
    _OWN_WORKERS.update(getattr(pool, "_processes", None) or {})


def _end_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Terminate ``pool``'s worker processes (the run was stopped: their images are left to --resume).

    The workers ignore Ctrl-C and a closed terminal (:func:`_worker_init`), and the pool's shutdown would wait
    for every image in flight; ended here, the stop is taken at once, and their staged files are removed by
    :func:`_remove_temp_files`.
    """
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def _submit(pool: cf.ProcessPoolExecutor, job: ImageJob) -> cf.Future:
    """``pool.submit(process_image, job)``; call it within :func:`~exo_vision._shared.interrupt.interrupts_deferred`.

    A submit may start a worker process, which waits for the fork server (still importing its modules at the
    start of a run). Interrupted there, the worker would be forked all the same but never known to the pool:
    it would read the pool's queues after this process removed them, and print a FileNotFoundError traceback
    into the log. Deferred, the stop comes when the worker is the pool's, and :func:`_end_workers` ends it.
    """
    return pool.submit(process_image, job)


def _run_isolated(job: ImageJob, context: multiprocessing.context.BaseContext) -> dict[str, Any]:
    """Run one job alone in a fresh one-process pool; a death there is this input's fault."""
    with cf.ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_worker_init, initargs=_worker_init_args()
    ) as pool:
        try:
            with interrupts_deferred():
                future = _submit(pool, job)
                _note_workers(pool)
            return future.result()
        except KeyboardInterrupt:
            _end_workers(pool)
            raise
        except cf.process.BrokenProcessPool:
            return {
                "input": display_path(job.path),
                "stem": job.stem,
                "index": job.index,
                "status": "failed",
                "error": "the worker process died while analysing this input, also when retried alone in its own "
                "process (out of memory, or a crash inside a library); close other programs or use a machine with "
                "more memory, crop it into tiles, or try the other method (--method classical)",
            }


def _run_pool(jobs: Sequence[ImageJob], workers: int) -> Iterator[dict[str, Any]]:
    """Run jobs on a process pool with at most 2 x workers in flight.

    If a worker process dies (killed, out of memory, a crash in compiled code)
    the pool breaks and every job in flight is lost. Those jobs are retried
    one at a time, each alone in a fresh process, so that only the input that
    kills its worker again is reported as failed; then the remaining inputs
    continue on a fresh pool.
    """
    try:
        yield from _pool_rounds(collections.deque(jobs), workers)
    except (EOFError, ConnectionError) as err:  # the process the workers start from was stopped
        raise ValueError(
            f"the worker processes could not be started ({type(err).__name__}: the process they start from was "
            "stopped); run the same command again with --resume (finished micrographs are kept), or with --workers 1"
        ) from None


def _pool_rounds(pending: collections.deque[ImageJob], workers: int) -> Iterator[dict[str, Any]]:
    """The rounds of :func:`_run_pool`: a pool until a worker dies, its jobs retried alone, a fresh pool."""
    context = _pool_context()
    while pending:
        suspects: list[ImageJob] = []
        with cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_worker_init, initargs=_worker_init_args()
        ) as pool:
            in_flight: dict[cf.Future, ImageJob] = {}
            try:
                while (pending or in_flight) and not suspects:
                    with interrupts_deferred():  # a worker being started is one the stop can end (_submit)
                        while pending and len(in_flight) < 2 * workers:
                            job = pending.popleft()
                            in_flight[_submit(pool, job)] = job
                        _note_workers(pool)
                    done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                    for future in done:
                        job = in_flight.pop(future)
                        try:
                            yield future.result()
                        except cf.process.BrokenProcessPool:
                            suspects.append(job)
            except (KeyboardInterrupt, GeneratorExit):  # stopped (GeneratorExit: the caller closed this stream)
                _note_workers(pool)
                _end_workers(pool)
                raise
            suspects.extend(in_flight.values())
        if suspects:
            logger.warning("a worker process died; retrying its %d input(s) one at a time", len(suspects))
            for job in sorted(suspects, key=lambda j: j.index):
                yield _run_isolated(job, context)


#: Name prefix of an earlier run's pooled tables while a run that may change them is under way.
SET_ASIDE_PREFIX = ".exo-vision-earlier-"


def _set_aside_run_files(out: Path) -> None:
    """Remove ``out``'s run.json and move its pooled tables to hidden names (an earlier set-aside copy, left
    by a run that was stopped, stays where the tables are missing)."""
    (out / "run.json").unlink(missing_ok=True)
    for name in RUN_FILES:
        if name != "run.json" and (out / name).is_file():
            os.replace(out / name, out / f"{SET_ASIDE_PREFIX}{name}")


def _put_back_run_files(out: Path) -> None:
    """Return the tables :func:`_set_aside_run_files` moved, to be compared with (and kept if equal to) the
    new ones."""
    for name in RUN_FILES:
        aside = out / f"{SET_ASIDE_PREFIX}{name}"
        if aside.is_file():
            os.replace(aside, out / name)


def _worker_software() -> dict[str, str | None]:
    """:func:`~exo_vision.environment.software_versions` where a Dask worker runs."""
    from exo_vision.environment import software_versions

    return software_versions()


def check_worker_software(client: Any, facts: dict[str, Any]) -> None:
    """Refuse Dask workers whose exo_vision code differs from this process's, warn of other library versions,
    and put what was found in ``facts`` (recorded in run.json as ``dask_workers``).

    Raises
    ------
    ValueError
        When a worker's code fingerprint differs: its numbers would be recorded as made by this code.
    """
    from exo_vision.environment import software_versions

    mine = software_versions()
    theirs: dict[str, dict[str, str | None]] = client.run(_worker_software)
    facts["workers"] = sorted(theirs)
    facts["exo_vision_code_sha256"] = sorted({str(v.get("exo_vision_code_sha256")) for v in theirs.values()})
    other_code = sorted(
        a for a, v in theirs.items() if v.get("exo_vision_code_sha256") != mine["exo_vision_code_sha256"]
    )
    if other_code:
        raise ValueError(
            f"{len(other_code)} of the {len(theirs)} Dask worker(s) run other exo_vision code than this command "
            f"(code sha256 {str(theirs[other_code[0]].get('exo_vision_code_sha256'))[:12]}... on {other_code[0]}, "
            f"{str(mine['exo_vision_code_sha256'])[:12]}... here), so their numbers would be recorded as made by this "
            "code; install the same exo_vision on every worker and restart them, or use --scheduler local"
        )
    differences: dict[str, dict[str, Any]] = {
        name: {"here": value, "workers": sorted({str(v.get(name)) for v in theirs.values()})}
        for name, value in mine.items()
        if any(v.get(name) != value for v in theirs.values())
    }
    facts["software_differences"] = differences
    for name, found in differences.items():
        logger.warning(
            "the Dask workers have %s %s, this command %s: results may differ from a local run's",
            name,
            ", ".join(found["workers"]),
            found["here"],
        )


def _run_dask(
    jobs: Sequence[ImageJob], scheduler: str, workers: int, facts: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Run jobs on a Dask cluster (``"local"`` starts a LocalCluster), retrying lost tasks; ``facts`` receives
    what :func:`check_worker_software` found."""
    from dask.distributed import Client, LocalCluster, as_completed

    # the cluster's own start-up and shut-down notes (some 30 INFO lines) are not the user's business
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).getEffectiveLevel()))
    cluster = None
    scratch: tempfile.TemporaryDirectory[str] | None = None
    loop_levels: dict[str, int] = {}
    if scheduler == "local":
        # a stop (Ctrl-C, SIGTERM) inside the client's wait can leave a callback on distributed's event loop to
        # fail on its own (a NameError in distributed.utils.sync's cancel), which asyncio prints as "Exception in
        # callback" with a traceback: the local cluster ends with the run, which reports every image itself
        loop_levels = {name: logging.getLogger(name).level for name in LOCAL_LOOP_LOGGERS}
        for name in LOCAL_LOOP_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        # the cluster's scratch folders (dask-scratch-space) in a temp folder of this run's, removed at its end
        scratch = tempfile.TemporaryDirectory(prefix="exo-vision-dask-")
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            local_directory=scratch.name,
            scheduler_kwargs={"local_directory": scratch.name},
        )
        client = Client(cluster)
        client.run(_quiet_dask_worker_logs)
    else:
        try:
            client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise ValueError(
                f"cannot reach the Dask scheduler at {scheduler} ({type(err).__name__}: {err}); check the address "
                "and that the scheduler runs, or use --scheduler local"
            ) from None
    try:
        check_worker_software(client, facts if facts is not None else {})
        resources = _worker_resources(client)  # a worker that dies is gone from the list: its limit is kept here
        by_index = {job.index: job for job in jobs}
        # Keys unique to this run, so a long-lived cluster never hands back another run's result.
        run_token = uuid.uuid4().hex
        # a worker has its own working directory: a relative input or output folder would be looked up, and
        # written, there (files "not found", results beside the worker and not in --out)
        pending = [_with_absolute_paths(job) for job in jobs][::-1]
        limit = 2 * max(1, sum(client.nthreads().values()))
        futures = as_completed()

        def _submit_next() -> None:
            if not pending:
                return
            job = pending.pop()
            futures.add(
                client.submit(
                    _process_image_single_threaded,
                    job,
                    key=f"exo-vision-{job.index}-{run_token}",
                    retries=WORKER_DEATH_RETRIES,
                    pure=False,
                )
            )

        while pending and futures.count() < limit:
            _submit_next()
        lost: list[str] = []  # images whose workers died (out of memory, most likely)
        for future in futures:
            if future.status == "error":
                failure = future.exception()
                index = int(future.key.split("-")[2])
                job = by_index[index]
                if _worker_died(failure) and (written := _skip_if_complete(job)) is not None:
                    # the worker wrote this image's outputs, whole, and died before it returned the result
                    yield {**written, "status": "done"}
                    future.release()
                    _submit_next()
                    continue
                if _worker_died(failure):
                    lost.append(display_path(job.path))
                    error = _worker_death_message(failure, job, client, resources, local=scheduler == "local")
                else:
                    error = describe_failure(failure)
                yield {
                    "input": display_path(job.path),
                    "stem": job.stem,
                    "index": index,
                    "status": "failed",
                    "error": _paths_as_typed(error, job),
                }
            else:
                record = future.result()
                job = by_index[int(record["index"])]
                # the input as the user named it, in the record and in its messages, as a local run has it
                yield _record_as_typed({**record, "input": display_path(job.path)}, job)
            future.release()
            _submit_next()
        if lost:
            logger.warning(
                "%d image(s) were lost with Dask workers that died while analysing them, most likely out of memory: "
                "%s; the other images were analysed. errors.csv says what to change, and --resume analyses only "
                "the images that failed again",
                len(lost),
                ", ".join(lost[:NOT_IN_RUN_NAMES_SHOWN]) + (", ..." if len(lost) > NOT_IN_RUN_NAMES_SHOWN else ""),
            )
    finally:
        with _dask_logs_quiet(cluster is not None):
            client.close()
            if cluster is not None:
                cluster.close()
        if scratch is not None:
            scratch.cleanup()
        for name, level in loop_levels.items():
            logging.getLogger(name).setLevel(level)


#: Loggers of the event loops a local Dask cluster's client runs in this process, silent for the run.
LOCAL_LOOP_LOGGERS = ("asyncio", "tornado.application")

#: Loggers of Dask's worker side that report its connections failing: a local cluster's workers whose scheduler
#: closes (the run stopped: Ctrl-C, SIGTERM) print some 45 lines of tracebacks of theirs
#: (``Failed to communicate with scheduler during heartbeat``, ``CommClosedError``) into the run's log.
DASK_WORKER_LOGGERS = (
    "distributed.worker",
    "distributed.worker.state_machine",
    "distributed.core",
    "distributed.comm",
    "distributed.batched",
    "distributed.nanny",
)


def _quiet_dask_worker_logs() -> None:
    """In a worker of this run's local Dask cluster: :data:`DASK_WORKER_LOGGERS` print nothing (the run reports
    every image's failure itself, and the cluster ends with the run)."""
    for name in DASK_WORKER_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


@contextlib.contextmanager
def _dask_logs_quiet(local: bool) -> Iterator[None]:
    """Within the block, the shutdown of this run's local Dask cluster prints nothing in this process (the
    scheduler and the workers' nannies run here); the levels are restored after. A remote cluster's
    client keeps its messages."""
    if not local:
        yield
        return
    names = ("distributed", "tornado", "asyncio", *DASK_WORKER_LOGGERS)
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _worker_died(failure: BaseException | None) -> bool:
    """Whether a Dask task failed because the workers running it died (distributed's ``KilledWorker``: a
    nanny restarts a worker that passes 95 % of its memory limit, and the scheduler gives a task up after the
    workers holding it died ``allowed-failures`` + 1 times)."""
    try:
        from distributed import KilledWorker
    except ImportError:  # pragma: no cover - only reached with Dask installed
        return False
    return isinstance(failure, KilledWorker)


def _worker_resources(client: Any) -> dict[str, dict[str, Any]]:
    """Each Dask worker's ``memory_limit`` (bytes, 0: none) and ``nthreads``, by address (empty when the
    scheduler does not answer)."""
    try:
        workers = client.scheduler_info().get("workers", {})
    except Exception:  # noqa: BLE001 - a scheduler that does not answer: messages go without the limit
        return {}
    return {
        str(address): {"memory_limit": w.get("memory_limit"), "nthreads": w.get("nthreads")}
        for address, w in workers.items()
    }


def _worker_death_message(
    failure: BaseException | None, job: ImageJob, client: Any, known: dict[str, dict[str, Any]], *, local: bool
) -> str:
    """errors.csv's line for an image whose Dask workers died: how often and where, the likely cause (its size
    against the workers' memory limit) and what to change. ``known`` holds the workers' resources seen so far
    (:func:`_worker_resources`; the dead worker is no longer listed) and receives the present ones."""
    args: tuple[Any, ...] = tuple(getattr(failure, "args", ()))
    last = args[1] if len(args) > 1 else None
    address = str(getattr(last, "address", last or "a worker"))
    times = int(args[2]) + 1 if len(args) > 2 and isinstance(args[2], int) else 0
    deaths = {0: "repeatedly", 1: "once"}.get(times, f"{times} times")
    known.update(_worker_resources(client))
    # a worker the nanny restarted has a new address: then the limit all the workers share, when they share one
    worker = known.get(address) or {}
    if not worker and len({(w.get("memory_limit"), w.get("nthreads")) for w in known.values()}) == 1:
        worker = next(iter(known.values()))
    limit_bytes, threads = worker.get("memory_limit"), worker.get("nthreads")
    limit = (
        f"{limit_bytes / BYTES_PER_GB:.1f} GB"
        if isinstance(limit_bytes, (int, float)) and limit_bytes > 0
        else "unknown"
    )
    pixels = header_pixels(job.path)
    size = f"this micrograph has {pixels / PIXELS_PER_MEGAPIXEL:.1f} megapixels, " if pixels else ""
    fix = (
        "run with fewer --workers (each worker of --scheduler local gets an equal share of the memory), or "
        "without --scheduler (the local process pool fits the number of workers to the memory)"
        if local
        else "start the Dask workers with fewer threads each (dask worker --nthreads 1) and a larger "
        "--memory-limit, or run without --scheduler on a machine with enough memory (the local process pool fits "
        "the number of workers to the memory)"
    )
    return (
        f"the Dask worker analysing this image died {deaths} (distributed's KilledWorker; the last one was "
        f"{address}), most likely out of memory: {size}and a worker's nanny restarts it when it passes 95 % of its "
        f"memory limit ({limit} per worker here, shared by its {threads or 'unknown number of'} thread(s)). To "
        f"analyse it, {fix}, or crop it into tiles; --resume analyses it again and keeps the other images' results"
    )


def _paths_as_typed(text: str, job: ImageJob) -> str:
    """``text`` of a Dask worker (which got :func:`_with_absolute_paths`) with the job's absolute input path and
    output folder written as the user gave them, as the local pool's messages have them."""
    for typed in (job.path, job.out_dir):
        absolute = display_path(os.path.abspath(typed))
        if absolute != display_path(typed):
            text = text.replace(absolute, display_path(typed))
    return text


def _record_as_typed(record: dict[str, Any], job: ImageJob) -> dict[str, Any]:
    """A Dask worker's image record with its ``error`` and ``warnings`` naming paths as :func:`_paths_as_typed`."""
    out = dict(record)
    if isinstance(out.get("error"), str):
        out["error"] = _paths_as_typed(out["error"], job)
    if isinstance(out.get("warnings"), list):
        out["warnings"] = [_paths_as_typed(w, job) if isinstance(w, str) else w for w in out["warnings"]]
    return out


def _with_absolute_paths(job: ImageJob) -> ImageJob:
    """``job`` with its input and output folder as absolute paths (of this process's working directory)."""
    return replace(job, path=os.path.abspath(job.path), out_dir=os.path.abspath(job.out_dir))


def default_workers() -> int:
    """Cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run_tem_batch(
    inputs: Sequence[str | Path],
    *,
    out_dir: str | Path,
    config: TemBatchConfig,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
    argv: Sequence[str] | None = None,
) -> BatchResult:
    """Analyse every input and write per-image and run-level outputs to ``out_dir``.

    Parameters
    ----------
    inputs : sequence of str or Path
        Image files and/or folders.
    out_dir : str or Path
        Output folder (created if needed; never one that would overwrite an input).
    config : TemBatchConfig
        Every parameter of the run.
    resume : bool
        Skip inputs whose outputs from an earlier run with the same input
        checksum and parameters are complete. Results curated in the napari
        grid session are never replaced, with or without ``resume``.
    progress : callable(int, int), optional
        Called as ``progress(done, total)`` after each input.
    argv : sequence of str, optional
        Command line, recorded in run.json.

    Returns
    -------
    BatchResult
    """

    start = time.perf_counter()
    out = Path(out_dir)
    folders = [Path(p) for p in inputs if Path(p).is_dir()]
    check_output_plan(out_dir=out, inputs=[], outputs=[], input_folders=folders)
    files = collect_inputs(inputs, recursive=config.recursive, exclude_dir=out)
    jobs = plan_jobs(files, out_dir=out, config=config, input_folders=folders)
    prepare_output_folder(out)
    with output_lock(out, command="exo-vision tem"):
        return _run_jobs(jobs, out, config, resume=resume, progress=progress, argv=argv, start=start)


def _run_jobs(
    jobs: list[ImageJob],
    out: Path,
    config: TemBatchConfig,
    *,
    resume: bool,
    progress: Callable[[int, int], None] | None,
    argv: Sequence[str] | None,
    start: float,
) -> BatchResult:
    """Run the planned jobs into ``out`` (whose lock the caller holds) and write the run's tables."""
    _remove_temp_files(out)  # left by a killed run

    records: dict[int, dict[str, Any]] = {}
    todo: list[ImageJob] = []
    for job in jobs:
        skipped = _curated_record(job)
        if skipped is None and resume:
            skipped = _skip_if_complete(job)
        if skipped is not None:
            records[job.index] = skipped
        else:
            todo.append(job)
    todo = _after_earlier_deaths(todo, records)
    if todo:
        # The run-level files describe the previous run: a run killed before it rewrites them at its end must
        # leave neither its run.json vouching for newer per-image results nor pooled tables and a histogram of
        # the earlier run's numbers beside them (a folder without run.json is unfinished: `report` and
        # `histogram` say so). They go before any image is written: run.json away, the tables set aside under
        # hidden names, put back just before the new ones are written so that an unchanged table keeps its file.
        _set_aside_run_files(out)
    total = len(jobs)
    if progress is not None:
        progress(len(records), total)
    if resume:
        complete = sum(r.get("status") == "skipped" for r in records.values())
        left_out = len(records) - complete  # left out after earlier runs died on them (said above)
        logger.info(
            "resume: %d of %d input(s) already complete, %d to do%s",
            complete,
            total,
            len(todo),
            f", {left_out} left out" if left_out else "",
        )
        _note_changed_parameters(todo)

    workers = int(config.workers or default_workers())
    if workers > default_workers() and not config.scheduler:
        logger.warning(
            "--workers %d is more than the %d core(s) available: using %d",
            workers,
            default_workers(),
            default_workers(),
        )
        workers = default_workers()
    memory_mb = available_memory_mb()
    if not config.scheduler and todo:
        too_large: list[str] = []
        workers = memory_workers(
            todo,
            workers=workers,
            requested=config.workers is not None,
            available_mb=memory_mb,
            method=config.method,
            model=config.model,
            too_large=too_large,
        )
        # the system may stop the run on these: the others first, so that none of them is lost with it
        todo = [j for j in todo if str(j.path) not in too_large] + [j for j in todo if str(j.path) in too_large]
    used = min(workers, len(todo))  # processes analysing at once (0: nothing to do)
    cluster_facts: dict[str, Any] = {}
    if config.scheduler and todo:  # nothing left to do (--resume): no cluster to start
        stream = _run_dask(todo, config.scheduler, workers, cluster_facts)
    elif used <= 1:
        stream = _run_serial(todo)
    else:
        stream = _run_pool(todo, used)
    warned: collections.Counter[str] = collections.Counter()
    try:
        _gather(stream, records, warned, progress=progress, total=total)
    except KeyboardInterrupt:
        # Ctrl-C, or SIGTERM to the whole process group: workers killed mid-write leave staged files
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # the pool shuts down first: no writer is left when the staged files go
        _remove_temp_files(out)
        raise
    _remove_temp_files(out)  # a worker that died mid-write left its staged files (its image was retried)
    remembered = _death_counts(out)
    for job in jobs:  # an image done (by a pool's worker too) has no earlier deaths to remember
        if job.stem in remembered and records[job.index].get("status") != "failed":
            _note_deaths(out, job.stem, None)
    duplicates = _mark_identical_inputs(records, jobs)
    for message, count in warned.items():
        if count > 1:
            logger.warning("%d images in all gave the warning %r (run.json lists them)", count, _first_words(message))

    result = BatchResult(
        records=[records[j.index] for j in jobs],
        workers=used,
        available_memory_mb=memory_mb,
        not_in_run=images_not_in_run(out, [j.stem for j in jobs]),
        dask_workers=cluster_facts or None,
        duplicate_images=duplicates,
    )
    _note_renamed_outputs(result.not_in_run, jobs, records, out, resume=resume)
    _note_images_not_in_run([e for e in result.not_in_run if "now_analysed_as" not in e])
    result.wall_s = time.perf_counter() - start
    try:
        _put_back_run_files(out)
        write_run_outputs(result, out_dir=out, config=config, argv=argv)
    except OSError as err:
        # an earlier run's tables would read as this run's: they go (which also frees some room)
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
            (out / f"{SET_ASIDE_PREFIX}{name}").unlink(missing_ok=True)
        raise ValueError(
            f"{describe_failure(err)}. The run's tables (vesicles.csv, summary.csv, run.json) could not be written, "
            "and the earlier run's were removed; every finished micrograph's own files are complete"
        ) from None
    return result


def _same_file(recorded: str, path: str) -> bool:
    """Whether the input a marker recorded (as the user named it) is ``path`` (as this run names it)."""
    return recorded == display_path(path) or os.path.normcase(os.path.abspath(recorded)) == os.path.normcase(
        os.path.abspath(path)
    )


def _note_renamed_outputs(
    earlier: list[dict[str, Any]],
    jobs: Sequence[ImageJob],
    records: dict[int, dict[str, Any]],
    out: Path,
    *,
    resume: bool,
) -> None:
    """Find, among the outputs of images not in this run, those of an input of this run under another output
    stem (its stem changed: another input with its file name came or went, or the file was renamed or moved),
    add ``now_analysed_as`` (this run's input and stem) to each, and say so with what to do.

    A completion marker names its input and that input's checksum: an earlier result belongs to a job of this
    run when it names the job's file, or when the job's file has its checksum (a renamed or moved copy). Of
    several inputs with that checksum (copies of one file), one whose own result was complete before this run
    (skipped) is not the renamed file; when more than one remains, the content cannot tell which (if any) it is:
    ``now_analysed_as`` is None, ``same_content_as`` lists them, and the warning says so.
    """
    for entry in earlier:
        marker = read_marker(out_dir=out, stem=entry["stem"]) or {}
        recorded, checksum = marker.get("input"), marker.get("input_sha256")
        same_path = [j for j in jobs if isinstance(recorded, str) and _same_file(recorded, j.path)]
        same_bytes = [j for j in jobs if checksum and records.get(j.index, {}).get("input_sha256") == checksum]
        fresh = [j for j in same_bytes if records.get(j.index, {}).get("status") != "skipped"]
        matches = same_path or fresh or same_bytes
        if not matches:
            continue
        if len(matches) > 1 and not same_path:
            _note_copies_of_earlier_input(entry, matches, out)
            continue
        job = matches[0]
        entry["now_analysed_as"] = {"input": display_path(job.path), "stem": job.stem}
        status = records.get(job.index, {}).get("status")
        logger.warning(
            "%s: %s; %s%s. The earlier %s_* files in %s "
            "are left as they are and are in none of this run's tables: delete them, or move them out of the "
            "folder, when you no longer need them",
            display_path(job.path),
            _why_the_stem_changed(entry, job, jobs, renamed=not same_path),
            "--resume finds a result under its own output name only, so " if resume else "",
            {
                "done": f"it was analysed again, as {job.stem}_*",
                "skipped": f"this run used the result under {job.stem}_*",
            }.get(str(status), f"it has no result under {job.stem}_* (errors.csv says why)"),
            display_path(entry["stem"]),
            display_path(out),
        )


def _note_copies_of_earlier_input(entry: dict[str, Any], copies: Sequence[ImageJob], out: Path) -> None:
    """Record and say that the earlier outputs ``entry`` of a file no longer there have the content of several
    inputs of this run (copies of one file), so which of them, if any, is that file renamed cannot be told."""
    entry["now_analysed_as"] = None
    entry["same_content_as"] = [display_path(j.path) for j in copies]
    logger.warning(
        "%s_* in %s: an earlier run wrote them for %s, whose file content %s of this run share (copies of one "
        "file: which of them, if any, is that file renamed or moved cannot be told from the content). They are "
        "left as they are and are in none of this run's tables: delete them, or move them out of the folder, when "
        "you no longer need them",
        display_path(entry["stem"]),
        display_path(out),
        display_path(entry["input"] or entry["stem"]),
        " and ".join(entry["same_content_as"]),
    )


def _why_the_stem_changed(entry: dict[str, Any], job: ImageJob, jobs: Sequence[ImageJob], *, renamed: bool) -> str:
    """Which input maps to which output stem now and before, and why it changed."""
    before = f"an earlier run wrote its results as {display_path(entry['stem'])}_*"
    if renamed:
        earlier = display_path(entry["input"] or entry["stem"])
        return f"{before}, as {earlier} (the same file content, renamed or moved since)"
    namesakes = [j for j in jobs if j is not job and Path(j.path).stem.casefold() == Path(job.path).stem.casefold()]
    if namesakes:
        return (
            f"{before}; this run names them {job.stem}_*, because "
            f"{', '.join(display_path(j.path) for j in namesakes)} (also an input of this run) has the same file "
            "name, and same-named inputs are told apart by their folder or extension"
        )
    return (
        f"{before}, told apart from inputs with the same file name that are not in this run; without them it "
        f"is named {job.stem}_*"
    )


def _note_images_not_in_run(earlier: Sequence[dict[str, Any]]) -> None:
    """Say that the output folder holds results of images this run does not cover, and that they stay."""
    if not earlier:
        return
    names = [display_path(e["input"] or e["stem"]) for e in earlier]
    # the same input under two earlier stems: the stems tell them apart
    names = [f"{n} (as {display_path(e['stem'])}_*)" if names.count(n) > 1 else n for n, e in zip(names, earlier)]
    shown = ", ".join(names[:NOT_IN_RUN_NAMES_SHOWN]) + (", ..." if len(names) > NOT_IN_RUN_NAMES_SHOWN else "")
    logger.info(
        "outputs of %d image(s) from earlier runs belong to no input of this run: %s; they are left as they are "
        "and are not in vesicles.csv, summary.csv or the histogram (run.json lists them under images_not_in_run)",
        len(names),
        shown,
    )


def _remove_temp_files(out: Path) -> None:
    """Delete the staged files (:data:`~exo_vision._shared.atomic.TEMP_PREFIX`) in ``out`` whose writer is gone.

    Called while this run holds the folder's lock and no worker of it is writing: at the start (files of a
    killed run), after the last image (files of a worker that died mid-write) and on an interruption. A file
    that a live process is writing (a histogram or report written into the folder meanwhile, which take no
    lock) stays, and so does one of this machine for some minutes after its writer is gone (a process of
    another container may be writing it), unless that writer was a worker of this run (:data:`_OWN_WORKERS`):
    :func:`~exo_vision._shared.atomic.remove_stale_temp_files`.
    """
    remove_stale_temp_files(out, own_writers=_OWN_WORKERS)


def _identical_groups(records: dict[int, dict[str, Any]], linked: Sequence[tuple[int, int]] = ()) -> list[list[int]]:
    """Indices of the successful records that are one micrograph, one sorted list per micrograph with copies:
    identical file bytes (``input_sha256``), or identical pixels (``pixels_sha256``) at the same pixel size, or
    a pair in ``linked`` (the same pixels at another bit depth: :func:`~exo_vision.batch.duplicates.affine_match`)."""
    parent: dict[int, int] = {}

    def root(index: int) -> int:
        while parent[index] != index:
            index = parent[index]
        return index

    first_with: dict[tuple[Any, ...], int] = {}
    for index in sorted(records):
        record = records[index]
        if record.get("status") not in ("done", "skipped"):
            continue
        parent[index] = index
        keys = [
            ("file", record.get("input_sha256")),
            ("pixels", record.get("pixels_sha256"), record.get("pixel_size_nm")),
        ]
        for key in keys:
            if key[1] is None:
                continue
            if key in first_with:
                a, b = root(first_with[key]), root(index)
                parent[max(a, b)] = min(a, b)
            else:
                first_with[key] = index
    for i, j in linked:
        a, b = root(i), root(j)
        parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for index in parent:
        groups.setdefault(root(index), []).append(index)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _mark_identical_inputs(records: dict[int, dict[str, Any]], jobs: Sequence[ImageJob]) -> list[list[str]]:
    """Mark each copy of a micrograph met earlier in the inputs (``duplicate_of``: the input counted for it;
    ``duplicate_reason``: why they are one), warn of them, and return the groups of input names (run.json's
    ``duplicate_images``).

    Copies are identical bytes, identical pixels at the same pixel size, or the same pixels at another bit depth
    or value scale (:mod:`exo_vision.batch.duplicates`: candidates by their signature, confirmed by reading both
    inputs again). The pooled statistics count each micrograph once, as its first input; every copy keeps its
    own outputs and its own row in summary.csv.
    """
    named: list[list[str]] = []
    for group in mark_copies(records, _pixel_reader(jobs)):
        first = records[group[0]]
        reasons = [str(records[index]["duplicate_reason"]) for index in group[1:]]
        names = [records[i]["input"] for i in group]
        logger.warning(
            "%s are the same micrograph (%s): each keeps its own outputs and summary row, and the pooled statistics "
            "(vesicles.csv, the pooled row, the histogram) count it once, as %s; leave the copies out of the inputs "
            "(run.json lists them under duplicate_images)",
            ", ".join(names),
            "; ".join(dict.fromkeys(reasons)),
            display_path(first["input"]),
        )
        named.append(names)
    return named


def mark_copies(records: dict[int, dict[str, Any]], read: Callable[[int], np.ndarray | None]) -> list[list[int]]:
    """Mark each successful record that is a copy of a micrograph met earlier (by index): ``duplicate_of`` (the
    ``input`` of the first) and ``duplicate_reason`` (why they are one), and return the groups of indices.

    Copies are identical bytes (``input_sha256``), identical pixels at the same pixel size (``pixels_sha256``),
    or the same pixels at another bit depth or value scale (alike ``pixels_signature``, confirmed on the pixels
    ``read`` returns: :func:`~exo_vision.batch.duplicates.rescaled_copies`).

    Parameters
    ----------
    records : dict of int to dict
        Image records (run.json's, or a grid session's done-markers) by input order; changed in place.
    read : callable
        Index -> the input's pixels, or None when they cannot be read (the pair is then not confirmed).
    """
    exact = {i: n for n, group in enumerate(_identical_groups(records)) for i in group}
    successful = {i: r for i, r in records.items() if r.get("status") in ("done", "skipped")}
    rescaled = rescaled_copies(successful, read, skip=lambda i, j: i in exact and exact.get(j) == exact[i])
    why = {j: match.reason() for _, j, match in rescaled}
    why.update({i: match.reason() for i, _, match in rescaled if i not in why})
    groups = _identical_groups(records, [(i, j) for i, j, _ in rescaled])
    for group in groups:
        first = records[group[0]]
        for index in group[1:]:
            record = records[index]
            record["duplicate_of"] = first["input"]
            if record.get("input_sha256") and record.get("input_sha256") == first.get("input_sha256"):
                record["duplicate_reason"] = "identical bytes"
            elif record.get("pixels_sha256") and record.get("pixels_sha256") == first.get("pixels_sha256"):
                record["duplicate_reason"] = "identical pixels and pixel size"
            else:
                record["duplicate_reason"] = why.get(index) or why.get(group[0]) or RESCALED_COPY
    return groups


#: The reason recorded for a copy at another bit depth whose comparison was made for another copy of its group.
RESCALED_COPY = "the same pixels at another bit depth or value scale"


def _pixel_reader(jobs: Sequence[ImageJob]) -> Callable[[int], np.ndarray | None]:
    """Index -> the input's pixels, read as :func:`process_image` reads them (the two used last kept), or None when
    the file cannot be read now."""
    by_index = {job.index: job for job in jobs}
    cache: dict[int, np.ndarray | None] = {}

    def read(index: int) -> np.ndarray | None:
        if index in cache:  # most recently used last: the earlier input of the pairs compared stays read
            cache[index] = cache.pop(index)
        else:
            job = by_index.get(index)
            if len(cache) >= 2:
                cache.pop(next(iter(cache)))
            try:
                cache[index] = (
                    None
                    if job is None
                    else read_as_run(job.path, job.parameters, max_megapixels=job.max_megapixels).data
                )
            except (OSError, ValueError):
                logger.debug("could not read %s again to compare it", index, exc_info=True)
                cache[index] = None
        return cache[index]

    return read


def _gather(
    stream: Iterator[dict[str, Any]],
    records: dict[int, dict[str, Any]],
    warned: collections.Counter[str],
    *,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> None:
    """Collect the records as they arrive, printing failures and each distinct warning once."""
    for record in stream:
        records[record["index"]] = record
        if record["status"] == "failed":
            shown = display_path(record["input"])
            if record["error"].startswith(f"{shown}:"):  # the message names the file already
                logger.warning("%s", record["error"])
            else:
                logger.warning("%s failed: %s", shown, record["error"])
        elif record["status"] == "done":
            for message in record.get("warnings") or []:
                if not warned[message]:  # a batch of like micrographs prints each warning once, then counts it
                    logger.warning("%s: %s", display_path(record["input"]), message)
                warned[message] += 1
        if progress is not None:
            progress(len(records), total)
