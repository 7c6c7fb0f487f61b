"""ImageJ/Fiji ROI files (``RoiSet.zip`` of the ROI Manager, single ``.roi``) to labels and back.

Reading and writing the binary format is left to the maintained ``roifile``
package; this module only turns ROIs into instance labels aligned with their
image and vesicles into ROIs named by the vesicle table's ids.
"""

from __future__ import annotations

import logging
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exo_vision.annotations.polygons import labels_to_polygons, polygon_mask

logger = logging.getLogger(__name__)

#: ROI types that outline an area (the others, lines and points, are skipped when reading).
AREA_TYPES = ("POLYGON", "RECT", "OVAL", "FREEHAND", "TRACED")


@dataclass
class RoiLabels:
    """ROIs rasterised into instance labels.

    Attributes
    ----------
    labels : (M, N) ndarray of int32
        Label ``k`` is the ``k``-th area ROI of the file (later ROIs drawn over earlier ones).
    table : pandas.DataFrame
        One row per label: ``label``, ``name`` (the ROI's name), ``roi_type``.
    skipped : list of str
        Names and types of ROIs that outline no area (lines, points).
    """

    labels: np.ndarray
    table: pd.DataFrame
    skipped: list[str] = field(default_factory=list)


#: Largest unpacked ``.roi`` entry accepted (bytes): a polygon of a million subpixel points is 8 MB.
MAX_ROI_BYTES = 16 * 2**20
#: Largest unpacked ROI set accepted (bytes): 10 000 outlines of 2 000 subpixel points each is 160 MB.
MAX_ROI_SET_BYTES = 256 * 2**20


def _roifile():
    import roifile

    return roifile


def _load(path: Path) -> list:
    """The ROIs of a ``.zip`` or ``.roi`` file, with a clear error when it is not one."""
    roifile = _roifile()
    if not path.is_file():
        raise ValueError(f"ROI file {path} does not exist; check the path.")
    if path.suffix.lower() != ".zip":
        try:
            return [roifile.ImagejRoi.fromfile(path)]
        except (ValueError, struct.error) as error:
            raise ValueError(f"{path} is not an ImageJ .roi file ({error}); save the ROI again from Fiji.") from None
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if i.filename.lower().endswith(".roi")]
            _check_unpacked_sizes(path, infos)
            entries = [archive.read(i) for i in infos]
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ValueError(
            f"{path} is not a readable zip archive (damaged or not a RoiSet.zip); save the ROI Manager's "
            "ROIs again from Fiji (More > Save...)."
        ) from None
    if not entries:
        raise ValueError(f"{path} holds no .roi file; save the ROI Manager's ROIs with More > Save... in Fiji.")
    try:
        return [roifile.ImagejRoi.frombytes(data) for data in entries]
    except (ValueError, struct.error) as error:
        raise ValueError(f"{path} holds a damaged ImageJ ROI ({error}); save the ROIs again from Fiji.") from None


def _check_unpacked_sizes(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip whose ROIs would unpack to more than ImageJ ever writes, before unpacking any.

    A zip's entries declare their unpacked size and reading stops there, so a small archive that would
    unpack to gigabytes (by accident or on purpose) is refused from its directory alone.
    """
    largest = max((i.file_size for i in infos), default=0)
    total = sum(i.file_size for i in infos)
    if largest > MAX_ROI_BYTES or total > MAX_ROI_SET_BYTES:
        raise ValueError(
            f"{path} would unpack to {total / 2**20:.0f} MB of ROIs (largest {largest / 2**20:.1f} MB); an ImageJ "
            f"ROI set holds at most {MAX_ROI_SET_BYTES // 2**20} MB ({MAX_ROI_BYTES // 2**20} MB per ROI), so this "
            "is not one: save the ROI Manager's ROIs again from Fiji (More > Save...)."
        )


def _type_name(roi) -> str:
    roifile = _roifile()
    name = roifile.ROI_TYPE(roi.roitype).name
    if name == "FREEHAND" and roi.subtype == roifile.ROI_SUBTYPE.ELLIPSE:
        return "ELLIPSE"
    return name


def roi_mask(roi, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of ``shape`` inside one area ROI (pixel centre inside, ImageJ's rule).

    Parameters
    ----------
    roi : roifile.ImagejRoi
        A polygon, freehand, traced, ellipse, oval or rectangle ROI.
    shape : (int, int)
        Image shape (M, N).

    Returns
    -------
    (M, N) ndarray of bool
    """
    kind = _type_name(roi)
    rows = np.arange(shape[0])[:, None] + 0.5
    cols = np.arange(shape[1])[None, :] + 0.5
    if kind == "RECT":
        return (cols >= roi.left) & (cols < roi.right) & (rows >= roi.top) & (rows < roi.bottom)
    if kind == "OVAL":
        cx, cy = (roi.left + roi.right) / 2, (roi.top + roi.bottom) / 2
        ax, ay = max((roi.right - roi.left) / 2, 1e-9), max((roi.bottom - roi.top) / 2, 1e-9)
        return ((cols - cx) / ax) ** 2 + ((rows - cy) / ay) ** 2 <= 1.0
    mask = np.zeros(shape, bool)
    parts = roi.coordinates(multi=True)
    for xy in parts:  # composite shapes: parts combine by even-odd (holes cut out)
        mask ^= polygon_mask(np.asarray(xy, np.float64), shape)
    return mask


def roi_extent(path: str | Path) -> tuple[int, int]:
    """The smallest image shape (M, N) that holds every ROI of the file (for ROIs opened without their image)."""
    rois = _load(Path(path))
    bottom = max((int(np.ceil(max(r.bottom, r.top))) for r in rois), default=1)
    right = max((int(np.ceil(max(r.right, r.left))) for r in rois), default=1)
    return max(bottom, 1), max(right, 1)


def is_roi_file(path: str | Path) -> bool:
    """Whether ``path`` is a ``.roi`` file or a zip holding ``.roi`` entries (never raises)."""
    path = Path(path)
    if path.suffix.lower() == ".roi":
        return path.is_file()
    if path.suffix.lower() != ".zip":
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.lower().endswith(".roi") for n in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def read_imagej_rois(path: str | Path, shape: tuple[int, int]) -> RoiLabels:
    """Read an ImageJ ``RoiSet.zip`` or ``.roi`` file into instance labels.

    Parameters
    ----------
    path : str or Path
        The ROI Manager's zip or a single ``.roi`` file.
    shape : (int, int)
        Shape (M, N) of the image the ROIs were drawn on (ROI coordinates are
        that image's pixels).

    Returns
    -------
    RoiLabels

    Raises
    ------
    ValueError
        When the file is missing, damaged or holds no ROI; or when no ROI lies on the image.
    """
    path = Path(path)
    shape = (int(shape[0]), int(shape[1]))
    rois = _load(path)
    labels = np.zeros(shape, np.int32)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for roi in rois:
        kind = _type_name(roi)
        name = roi.name or f"roi-{len(rows) + len(skipped) + 1}"
        if kind not in AREA_TYPES and kind != "ELLIPSE":
            skipped.append(f"{name} ({kind.lower()})")
            continue
        mask = roi_mask(roi, shape)
        if not mask.any():
            skipped.append(f"{name} (outside the {shape[1]}x{shape[0]} image)")
            continue
        value = len(rows) + 1
        labels[mask] = value
        rows.append({"label": value, "name": name, "roi_type": kind.lower()})
    if skipped:
        logger.warning(
            "%s: %d ROI(s) outline no area on the image and were skipped: %s",
            path.name,
            len(skipped),
            ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""),
        )
    if not rows:
        raise ValueError(
            f"{path} has no area ROI on a {shape[1]}x{shape[0]} image; check that the ROIs were drawn on this "
            "image (polygon, freehand, oval, ellipse, rectangle or traced ROIs)."
        )
    table = pd.DataFrame(rows).astype({"label": "int32"})
    return RoiLabels(labels=labels, table=table, skipped=skipped)


def labels_to_rois(labels: np.ndarray, *, names: dict[int, str] | None = None) -> list:
    """One ImageJ polygon ROI per instance, traced along its pixel edges.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.
    names : dict of int to str, optional
        ROI name of each label (default: the label id).

    Returns
    -------
    list of roifile.ImagejRoi
    """
    roifile = _roifile()
    rois = []
    for value, xy in labels_to_polygons(labels).items():
        roi = roifile.ImagejRoi.frompoints(xy.astype(np.float32), name=(names or {}).get(value, str(value)))
        roi.roitype = roifile.ROI_TYPE.POLYGON
        rois.append(roi)
    return rois


def write_imagej_rois(path: str | Path, labels: np.ndarray, *, names: dict[int, str] | None = None) -> Path:
    """Write every instance as a polygon ROI in an ImageJ ``RoiSet.zip`` (Fiji's ROI Manager opens it).

    Parameters
    ----------
    path : str or Path
        Destination ``.zip`` (replaced if present; written through a temporary file).
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.
    names : dict of int to str, optional
        ROI name of each label; by default the label id, i.e. the vesicle table's ``label``.

    Returns
    -------
    Path
    """
    from exo_vision._shared.atomic import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise ValueError(f"ImageJ ROI sets are .zip files; got {path.name}. Use a name ending in .zip.")
    rois = labels_to_rois(labels, names=names)
    return atomic_write(path, lambda tmp: write_roi_zip(tmp, rois))


#: Date stamped on every ROI set entry (the earliest a zip file can hold).
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def write_roi_zip(path: Path, rois: list) -> None:
    """Write ROIs in the ROI Manager's layout: one ``<name>.roi`` entry per ROI, in order (not atomic)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        seen: set[str] = set()
        for k, roi in enumerate(rois):
            entry = f"{roi.name or k + 1}.roi"
            while entry in seen:
                entry = f"{entry[:-4]}-{k}.roi"
            seen.add(entry)
            # a fixed date: the same ROIs give the same bytes (and checksum) on every run
            info = zipfile.ZipInfo(entry, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, roi.tobytes())
