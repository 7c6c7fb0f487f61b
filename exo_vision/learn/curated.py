"""Curated micrographs for fine-tuning: grid-session folders and image + annotation pairs.

Two kinds of input folder are understood:

* a grid session's output folder (or ``exo-vision tem --out``): every
  micrograph the grid session saved (its completion marker says
  ``"curated_in_gui": true``) that a person edited (``"n_edits"`` above 0; its
  edit log, ``S_edits.csv``, lists what they changed) or marked as checked
  (``"checked_in_gui": true``: the outlines are right as the model drew them).
  Its labels are ``S_labels.tif``, its image the input the marker names, its
  pixel size the marker's. A micrograph the session saved with neither (only
  paged through, or saved by *Learn* as it was shown) holds the model's own
  outlines: it is left out, with a warning naming it. Micrographs only analysed
  by the command line are not curated and are skipped.
* a folder of images with their annotations beside them: for an image
  ``X.tif`` (or ``X_image.png``...), the first of ``X_rois.zip``, ``X.zip``,
  ``X.roi``, ``X.geojson``, ``X_labels.tif``, ``X_labels.tiff``,
  ``X_labels.png`` (an ImageJ ROI set, QuPath GeoJSON or a label image).

No training framework is imported here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Annotation file name endings tried, in order, after an image's stem.
ANNOTATION_SUFFIXES = ("_rois.zip", ".zip", ".roi", ".geojson", "_labels.tif", "_labels.tiff", "_labels.png")
#: Image file endings read as micrographs of image + annotation pairs.
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".dm3", ".dm4", ".mrc", ".emd", ".bmp")


@dataclass
class CuratedMicrograph:
    """One micrograph and the vesicles a person checked.

    Attributes
    ----------
    name : str
        Short name (file name of the image).
    image : (M, N) ndarray of float32
        Grey levels.
    pixel_size_nm : float
        Pixel edge length, nm.
    labels : (M, N) ndarray of int32
        The curated vesicles, 0 = background.
    source : str
        Where the annotation came from (file path).
    kind : str
        ``"grid session"``, ``"imagej rois"``, ``"geojson"`` or ``"label image"``.
    n_edits : int
        Edits a person made in the grid session (0 for annotation files).
    checked : bool
        A person marked the outlines as right in the grid session (with or without edits).
    key : str
        SHA-256 of the image's grey levels: the micrograph's identity (two
        copies of one micrograph share it, so a split can never use both).
    """

    name: str
    image: np.ndarray
    pixel_size_nm: float
    labels: np.ndarray
    source: str
    kind: str
    n_edits: int = 0
    checked: bool = False
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            self.key = hashlib.sha256(np.ascontiguousarray(self.image, np.float32).tobytes()).hexdigest()

    @property
    def n_vesicles(self) -> int:
        """Curated vesicles in this micrograph."""
        return int(np.count_nonzero(np.bincount(self.labels.ravel())[1:]))


def _read_labels_image(path: Path, shape: tuple[int, int]) -> np.ndarray:
    import tifffile
    from PIL import Image
    from skimage.measure import label as connected

    try:
        labels = tifffile.imread(path) if path.suffix.lower() in (".tif", ".tiff") else np.asarray(Image.open(path))
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the label image {path} ({error}).") from None
    if labels.ndim == 3 and labels.shape[-1] in (3, 4):
        labels = _colour_labels(labels[..., :3])
    if labels.ndim != 2:
        raise ValueError(f"label image {path} has shape {labels.shape}; save it as one 2-D grey-level image.")
    if np.issubdtype(labels.dtype, np.signedinteger) and labels.min() < 0:
        raise ValueError(
            f"label image {path} holds negative values; background must be 0 and each vesicle 1, 2, 3, ... "
            "(save it as an unsigned 8-, 16- or 32-bit image)."
        )
    if labels.shape != shape:
        raise ValueError(
            f"label image {path} is {labels.shape[1]}x{labels.shape[0]}, its image "
            f"{shape[1]}x{shape[0]}; they must have the same size."
        )
    labels = labels.astype(np.int64)
    if labels.max() == 1 or np.unique(labels).size == 2:  # a binary mask: one vesicle per connected part
        labels = connected(labels > 0, connectivity=1)
    return labels.astype(np.int32)


def _colour_labels(rgb: np.ndarray) -> np.ndarray:
    """A label map saved in colour (one colour per vesicle, black background) as label ids; a grey image saved as
    RGB (three equal channels) keeps its grey levels."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0]
    colours, ids = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    black = np.flatnonzero((colours == 0).all(axis=1))
    ids = ids.reshape(rgb.shape[:2]) + 1
    if black.size:
        ids[ids == black[0] + 1] = 0
    return ids


def annotation_for(image_path: Path) -> Path | None:
    """The annotation file beside ``image_path``, or None (see :data:`ANNOTATION_SUFFIXES`)."""
    stems = [image_path.stem]
    if image_path.stem.endswith("_image"):
        stems.append(image_path.stem[: -len("_image")])
    for stem in stems:
        for suffix in ANNOTATION_SUFFIXES:
            candidate = image_path.with_name(stem + suffix)
            if candidate.is_file() and candidate != image_path:
                return candidate
    return None


#: A pixel size given for uncalibrated files that differs from a calibrated file's own by more than this share is
#: named in a warning (the file keeps its own).
PIXEL_SIZE_AGREEMENT = 0.01


def _read_calibrated(image_path: Path, pixel_size_nm: float | None, *, override: bool) -> Any:
    """The image with its pixel size: the file's own calibration, else ``pixel_size_nm``, else its scale bar.

    With ``override`` (or a file that can only be read with a pixel size given, e.g. a reciprocal-space
    calibration), ``pixel_size_nm`` replaces the file's calibration.
    """
    from exo_vision.io import ImageReadError, read_image

    if pixel_size_nm is None or override:
        return read_image(image_path, kind="tem", pixel_size_nm=pixel_size_nm)
    try:
        image = read_image(image_path, kind="tem", scale_bar=False)
    except ImageReadError:
        return read_image(image_path, kind="tem", pixel_size_nm=pixel_size_nm)
    if image.pixel_size_nm is not None and str(image.pixel_size_source).startswith("file metadata"):
        return image
    return image.with_pixel_size(pixel_size_nm)


def _check_outlines_on_image(
    image_path: Path, annotation: Path, shape: tuple[int, int], say: Callable[[str], None]
) -> None:
    """Refuse an annotation whose outlines mostly miss the image; name those clipped or left out in a warning."""
    from exo_vision.annotations.extent import outlines_off_image

    off = outlines_off_image(annotation, shape)
    if off.n_outlines and len(off.mostly) * 2 > off.n_outlines:
        raise ValueError(
            f"{annotation}: {len(off.mostly)} of its {off.n_outlines} outlines lie mostly or wholly off the "
            f"{shape[1]}x{shape[0]} px image {image_path.name} ({_outlines_named(off.mostly)}): they were probably "
            "drawn on another image, or on a binned or rescaled copy of it (another pixel size). Export the "
            "outlines from the image they were drawn on, or pair them with that image; as truth they would teach "
            "the model wrong outlines"
        )
    if off.partly or off.wholly:
        said = [
            f"{len(off.partly)} cross the image's edge and were clipped to it ({_outlines_named(off.partly)})"
            if off.partly
            else "",
            f"{len(off.wholly)} lie wholly off the image and were left out ({_outlines_named(off.wholly)})"
            if off.wholly
            else "",
        ]
        say(
            f"{annotation.name}: of its {off.n_outlines} outlines on the {shape[1]}x{shape[0]} px image "
            f"{image_path.name}, {' and '.join(part for part in said if part)}; check that they belong to this "
            "image if that is not where they were drawn"
        )


def _read_pair(
    image_path: Path,
    annotation: Path,
    pixel_size_nm: float | None,
    *,
    override: bool = False,
    say: Callable[[str], None] = logger.warning,
) -> CuratedMicrograph:
    from exo_vision.annotations import read_geojson, read_imagej_rois

    image = _read_calibrated(image_path, pixel_size_nm, override=override)
    if image.pixel_size_nm is None:
        raise ValueError(
            f"{image_path} carries no calibration and has no readable scale bar; pass its pixel size (--pixel-size-nm)."
        )
    shape = image.data.shape
    name = annotation.name.lower()
    if name.endswith((".zip", ".roi", ".geojson")):
        _check_outlines_on_image(image_path, annotation, shape, say)
    if name.endswith((".zip", ".roi")):
        labels, kind = read_imagej_rois(annotation, shape).labels, "imagej rois"
    elif name.endswith(".geojson"):
        labels, kind = read_geojson(annotation, shape)[0], "geojson"
    else:
        labels, kind = _read_labels_image(annotation, shape), "label image"
    return CuratedMicrograph(
        name=image_path.name,
        image=np.asarray(image.data, np.float32),
        pixel_size_nm=image.pixel_size_nm,
        labels=labels,
        source=str(annotation),
        kind=kind,
    )


def _read_session_micrograph(marker_path: Path, marker: dict) -> CuratedMicrograph:
    import tifffile

    from exo_vision.io import read_image

    stem = marker_path.name[: -len("_done.json")]
    labels_path = marker_path.with_name(f"{stem}_labels.tif")
    if not marker.get("input"):
        raise ValueError(
            f"{marker_path} does not name its micrograph ('input'); it was not written by exo_vision's grid session: "
            "curate that micrograph again, or move the file out of the folder."
        )
    image_path = Path(marker["input"])
    if not image_path.is_absolute() and not image_path.is_file():
        image_path = (marker_path.parent / image_path).resolve()
    if not image_path.is_file():
        raise ValueError(
            f"{marker_path.name} names the micrograph {marker['input']}, which is not there any more; "
            "put the grid's images back where they were curated."
        )
    px = marker.get("pixel_size_nm")
    image = read_image(image_path, kind="tem", pixel_size_nm=px)
    if image.pixel_size_nm is None:
        raise ValueError(f"{marker_path} names no pixel size and {image_path} carries none; re-run its analysis.")
    try:
        labels = tifffile.imread(labels_path).astype(np.int32)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"cannot read the curated labels {labels_path} ({error}); open the micrograph in the grid session "
            "and save it again."
        ) from None
    if labels.shape != image.data.shape:
        raise ValueError(f"{labels_path} does not match its micrograph {image_path} in size.")
    return CuratedMicrograph(
        name=image_path.name,
        image=np.asarray(image.data, np.float32),
        pixel_size_nm=float(image.pixel_size_nm),
        labels=labels,
        source=str(labels_path),
        kind="grid session",
        n_edits=int(marker.get("n_edits", 0)),
        checked=bool(marker.get("checked_in_gui", False)),
    )


def _is_annotation(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(("_labels.tif", "_labels.tiff", "_labels.png", "_overlay.png")) or "-tmp-" in name


def collect_curated(
    folders: list[str | Path],
    *,
    pixel_size_nm: float | None = None,
    override_calibration: bool = False,
    warn: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[CuratedMicrograph]:
    """Every curated micrograph in ``folders`` (see the module docstring).

    Parameters
    ----------
    folders : list of str or Path
        Grid-session output folders and/or folders of image + annotation pairs.
    pixel_size_nm : float, optional
        Pixel size (nm) of image + annotation pairs whose files carry no calibration (it wins over a scale bar
        read from the image). Files with a calibration in their metadata keep it; those that differ from
        ``pixel_size_nm`` by more than :data:`PIXEL_SIZE_AGREEMENT` are named in a warning.
    override_calibration : bool
        Apply ``pixel_size_nm`` to every image + annotation pair, calibrated files too.
    warn : callable(str), optional
        Receives each warning (micrographs left out, calibrations kept); default: the module's logger.
    should_stop : callable, optional
        Polled before each micrograph is read; True stops the reading with :class:`ReadingCancelled`.

    Returns
    -------
    list of CuratedMicrograph
        In folder and name order; duplicates of one micrograph (same grey levels) kept once.

    Raises
    ------
    ValueError
        When a folder does not exist, or an annotation cannot be read (the message names the file).
    ReadingCancelled
        When ``should_stop`` returned True.
    """
    say = warn if warn is not None else logger.warning
    stop = should_stop if should_stop is not None else _never
    found: list[CuratedMicrograph] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ValueError(
                f"{folder} is not a folder; pass grid-session output folders or folders of images "
                "with their annotations."
            )
        markers = sorted(folder.glob("*_done.json"))
        session = _session_micrographs(folder, markers, say, stop)
        if session is not None:
            found += session
            continue
        analysed_only = {path.name[: -len("_done.json")] for path in markers}
        left_out: list[str] = []
        unannotated: list[str] = []
        taken = len(found)
        for image_path in sorted(folder.iterdir()):
            if image_path.suffix.lower() not in IMAGE_SUFFIXES or _is_annotation(image_path):
                continue
            annotation = annotation_for(image_path)
            if (
                annotation is not None
                and annotation.name == f"{image_path.stem}_labels.tif"
                and (image_path.stem in analysed_only)
            ):
                left_out.append(image_path.name)  # exo-vision tem's own outlines, never curated
            elif annotation is not None:
                _check_stop(stop)
                found.append(_read_pair(image_path, annotation, pixel_size_nm, override=override_calibration, say=say))
            else:
                unannotated.append(image_path.name)
        if unannotated and len(found) > taken:
            say(
                f"{folder}: {len(unannotated)} image(s) without an annotation beside them ({_names(unannotated)}) "
                "were left out; an image's outlines are read from X_rois.zip, X.zip, X.roi, X.geojson or "
                "X_labels.tif/.png next to X (a Fiji RoiSet.zip holding the outlines of several images is not "
                "read: save one ROI set per image)"
            )
        if left_out:
            say(
                f"{folder}: {len(left_out)} micrograph(s) only analysed by exo-vision tem ({_names(left_out)}) were "
                "left out: their labels are the model's own outlines, not curated ones; curate them in the grid "
                "session first"
            )
    unique: dict[str, CuratedMicrograph] = {}
    for item in found:
        kept = unique.setdefault(item.key, item)
        if kept is not item and not np.array_equal(kept.labels, item.labels):
            say(
                f"{kept.name} and {item.name} are the same micrograph (the same grey levels) with different outlines: "
                f"only those of {kept.name} ({kept.n_vesicles} vesicles, {kept.source}) are used, those of "
                f"{item.name} ({item.n_vesicles}, {item.source}) are left out; keep one annotation per micrograph "
                "(merge them first if two people outlined it)"
            )
    if pixel_size_nm is not None and not override_calibration:
        _warn_calibration_kept(list(unique.values()), float(pixel_size_nm), say)
    return list(unique.values())


class ReadingCancelled(Exception):
    """Reading the curated micrographs was stopped (``should_stop`` of :func:`collect_curated`)."""


def _never() -> bool:
    return False


def _check_stop(stop: Callable[[], bool]) -> None:
    if stop():
        raise ReadingCancelled("reading the curated micrographs was cancelled")


#: Micrograph names spelt out in a warning before "...".
NAMES_SHOWN = 3


def _names(names: list[str]) -> str:
    return ", ".join(names[:NAMES_SHOWN]) + (" ..." if len(names) > NAMES_SHOWN else "")


def _outlines_named(names: list[str]) -> str:
    """Outline (ROI) names as words that cannot be read as a count: ``outline named 2``, ``outlines named 2, 5``."""
    return f"outline{'s' if len(names) != 1 else ''} named {_names([str(n) for n in names])}"


def _session_micrographs(
    folder: Path, markers: list[Path], say: Callable[[str], None], stop: Callable[[], bool]
) -> list[CuratedMicrograph] | None:
    """The micrographs of a grid-session folder a person edited or marked as checked; None for another folder."""
    session = False
    taken: list[CuratedMicrograph] = []
    unedited: list[str] = []
    for marker_path in markers:
        try:
            marker = json.loads(marker_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            say(f"{marker_path} is not readable; skipped")
            continue
        if not marker.get("curated_in_gui"):
            continue
        session = True
        if int(marker.get("n_edits", 0) or 0) <= 0 and not marker.get("checked_in_gui"):
            unedited.append(Path(str(marker.get("input") or marker_path.name)).name)
            continue
        _check_stop(stop)
        taken.append(_read_session_micrograph(marker_path, marker))
    if unedited:
        say(
            f"{folder}: {len(unedited)} micrograph(s) saved by the grid session with no edit and not marked as "
            f"checked were left out ({_names(unedited)}): their outlines are the model's own, not curated truth. "
            "Correct them in the grid session, or click 'Outlines checked' there when they are right as they are"
        )
    return taken if session else None


def _warn_calibration_kept(
    micrographs: list[CuratedMicrograph], pixel_size_nm: float, say: Callable[[str], None]
) -> None:
    """Name the annotated files whose own calibration differs from the pixel size given for uncalibrated ones."""
    differ = [
        m
        for m in micrographs
        if m.kind != "grid session" and abs(m.pixel_size_nm - pixel_size_nm) > PIXEL_SIZE_AGREEMENT * pixel_size_nm
    ]
    if differ:
        say(
            f"--pixel-size-nm {pixel_size_nm:g} applies only to files without a calibration; {len(differ)} "
            "calibrated file(s) keep their own: "
            + ", ".join(f"{m.name} ({m.pixel_size_nm:.4g} nm/px)" for m in differ)
            + ". If a file's calibration is wrong, correct it (Fiji: Image > Properties) or pass "
            f"--override-calibration to use {pixel_size_nm:g} nm/px for every file"
        )
