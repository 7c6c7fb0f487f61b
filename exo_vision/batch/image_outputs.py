"""Per-image output files of a TEM run and the completion marker that --resume trusts.

For an input with output stem ``S`` the run writes, in this order and each
atomically:

* ``S_labels.tif``   instance labels (uint16, or uint32 beyond 65535 vesicles),
  same shape as the input, calibrated with ImageJ ``unit=nm`` plus
  X/YResolution in pixels per nm;
* ``S_vesicles.csv`` the vesicle table;
* ``S_rejected.csv`` the candidates the segmentation did not count (:data:`REJECTED_FILE_COLUMNS`: centroid in nm
  and in pixels, equivalent diameter, reason); header only when none was rejected. The napari grid session
  writes it too (the segmentation's candidates, which curation leaves as they are); a result saved by an
  earlier session has none, so a marker without it is complete;
* ``S_overlay.png``  unless ``overlay`` is off: outlines coloured by morphology (teal: cut by the edge or by
  pixels without a value, not counted), ids, scale bar (palette PNG; micrographs under ``OVERLAY_MIN_SIDE_PX``
  drawn enlarged);
* ``S_rois.zip``     with ``save_rois``: the vesicles as an ImageJ ROI set named by their ids;
* ``S_done.json``    the completion marker, written last: input checksum,
  parameters, the SHA-256 of every output above and what the run-level
  outputs need (calibration, analysed area, timings), and with an overlay
  ``overlay_legend_box_px``: where its legend is (see :func:`write_image_outputs`).

An input is complete when its marker parses, names the same input checksum and
parameters, and every listed output exists with the listed checksum.

A marker with ``"curated_in_gui": true`` was written by the napari grid session for a
result the user curated; the batch runner never replaces such a result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import pandas as pd
import tifffile

from exo_vision._shared.atomic import atomic_write_text, file_group, sha256_file
from exo_vision._shared.csv_tables import csv_text, read_written_csv
from exo_vision.environment import code_sha256
from exo_vision.figures.overlay import draw_overlay, write_indexed_png
from exo_vision.segmentation.learned.weights import parameters_from_folder
from exo_vision.tem_analysis import MicrographResult

MARKER_VERSION = 1
#: Overlays of micrographs whose longer side is under this many pixels are drawn enlarged (whole factor)
#: so that outlines, ids and the legend stay legible on small renders and exports.
OVERLAY_MIN_SIDE_PX = 1000


def output_names(stem: str, *, rois: bool = False, overlay: bool = True) -> dict[str, str]:
    """File names of the per-image outputs for ``stem`` (``marker`` is written last).

    ``rois`` adds the ImageJ ROI set ``rois`` (``exo-vision tem --save-rois``); ``overlay=False`` leaves
    out the overlay PNG (``exo-vision tem --no-overlay``).
    """
    names = {"labels": f"{stem}_labels.tif", "vesicles": f"{stem}_vesicles.csv", "rejected": f"{stem}_rejected.csv"}
    if overlay:
        names["overlay"] = f"{stem}_overlay.png"
    if rois:
        names["rois"] = f"{stem}_rois.zip"
    names["marker"] = f"{stem}_done.json"
    return names


def write_labels_tiff(path: str | Path, labels: np.ndarray, *, pixel_size_nm: float) -> None:
    """Write instance labels as a calibrated TIFF that ImageJ/Fiji and exo_vision read in nm.

    Parameters
    ----------
    path : str or Path
        Destination (``.tif``).
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.
    pixel_size_nm : float
        Pixel edge length in nanometres, stored as X/YResolution (pixels per
        nm) with ImageJ ``unit=nm``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    top = int(labels.max()) if labels.size else 0
    if labels.size and int(labels.min()) < 0:
        raise ValueError("labels must be non-negative integers")
    resolution = (1.0 / pixel_size_nm, 1.0 / pixel_size_nm)
    if top <= np.iinfo(np.uint16).max:
        data = np.ascontiguousarray(labels, dtype=np.uint16)
        tifffile.imwrite(path, **_deflated_strips(data), imagej=True, resolution=resolution, metadata={"unit": "nm"})
    else:
        # ImageJ hyperstacks cannot hold uint32; keep the same description and tags so readers agree.
        data = np.ascontiguousarray(labels, dtype=np.uint32)
        tifffile.imwrite(
            path,
            **_deflated_strips(data),
            resolution=resolution,
            resolutionunit="NONE",
            description="ImageJ=1.11a\nunit=nm\n",
            metadata=None,
        )


#: Rows per TIFF strip of a label image.
_ROWS_PER_STRIP = 256


def _deflated_strips(data: np.ndarray) -> dict[str, Any]:
    """``tifffile.imwrite`` arguments that store ``data`` as deflate (zlib) strips.

    The strips are compressed with zlib-ng at level 1 when imagecodecs has it:
    the standard TIFF deflate format (ImageJ, libtiff and tifffile read it),
    about ten times faster than tifffile's default deflate encoder on label
    images, for files a few times larger (still ~0.1 MB per 4 MP).
    """
    encode = getattr(imagecodecs, "zlibng_encode", None)
    if encode is None or data.size == 0:
        return {"data": data, "compression": "zlib", "compressionargs": {"level": 1}}
    strips = (
        encode(data[row : row + _ROWS_PER_STRIP].tobytes(), level=1) for row in range(0, data.shape[0], _ROWS_PER_STRIP)
    )
    return {
        "data": strips,
        "shape": data.shape,
        "dtype": data.dtype,
        "compression": "zlib",
        "rowsperstrip": _ROWS_PER_STRIP,
    }


#: printf format of floats in output tables: 12 significant digits. Far beyond
#: any measurement's precision, and it hides last-bit differences that numpy's
#: BLAS gives for different thread counts, so the local pool, Dask and a
#: resumed run write the same bytes.
FLOAT_FORMAT = "%.12g"


def table_csv_text(table: pd.DataFrame) -> str:
    """CSV text of a table: no index, ``\n`` line ends, :data:`FLOAT_FORMAT` floats."""
    return csv_text(table, float_format=FLOAT_FORMAT)


def write_table_csv(path: str | Path, table: pd.DataFrame) -> None:
    """Write a table as CSV atomically (:func:`table_csv_text`)."""
    atomic_write_text(path, table_csv_text(table))


def read_table_csv(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table_csv` (pandas >= 3 parses floats with exact round trip)."""
    return read_written_csv(path)


def _not_counted(result: MicrographResult) -> list[int]:
    """Labels of the vesicles the statistics leave out (cut by the image edge or by pixels without a value,
    unless they are counted)."""
    table = result.table
    if not result.parameters.get("exclude_border", True) or "touches_border" not in table.columns:
        return []
    return table.loc[table["touches_border"].astype(bool), "label"].astype(int).tolist()


#: Columns of ``S_rejected.csv``: the segmentation's rejected candidates, their centroid also in pixels.
REJECTED_FILE_COLUMNS = (
    "centroid_x_nm",
    "centroid_y_nm",
    "centroid_x_px",
    "centroid_y_px",
    "equivalent_diameter_nm",
    "reason",
)

#: Outputs a result is complete without (an overlay may be left out or deleted; a result curated by an earlier
#: grid session has no rejected table).
OPTIONAL_OUTPUTS = frozenset({"overlay", "rejected"})


def _as_written(values: pd.Series) -> pd.Series:
    """``values`` as float64, each rounded as :data:`FLOAT_FORMAT` writes it (so written, read and written again
    it gives the same text)."""
    return pd.Series([float(FLOAT_FORMAT % v) for v in values.astype("float64")], index=values.index, dtype="float64")


def rejected_file_table(rejected: pd.DataFrame, *, pixel_size_nm: float) -> pd.DataFrame | None:
    """The rows of ``S_rejected.csv`` (:data:`REJECTED_FILE_COLUMNS`), or None when ``rejected`` does not hold
    the candidates' positions (the grid session's curated results).

    Parameters
    ----------
    rejected : DataFrame
        :attr:`~exo_vision.segmentation.result.VesicleSegmentation.rejected`: centroid (nm), equivalent
        diameter (nm) and reason of each candidate not counted.
    pixel_size_nm : float
        The micrograph's pixel size, nm (the centroid in pixels is the one in nm divided by it).
    """
    needed = ("centroid_x_nm", "centroid_y_nm", "equivalent_diameter_nm", "reason")
    if not set(needed) <= set(rejected.columns):
        return None
    # the centroid in pixels from the one in nm as written: a table read back and written again is the same bytes
    x_nm, y_nm = _as_written(rejected["centroid_x_nm"]), _as_written(rejected["centroid_y_nm"])
    table = pd.DataFrame(
        {
            "centroid_x_nm": x_nm,
            "centroid_y_nm": y_nm,
            "centroid_x_px": x_nm / pixel_size_nm,
            "centroid_y_px": y_nm / pixel_size_nm,
            "equivalent_diameter_nm": _as_written(rejected["equivalent_diameter_nm"]),
            "reason": rejected["reason"].astype("object"),
        },
        columns=list(REJECTED_FILE_COLUMNS),
    )
    return table.reset_index(drop=True)


def write_image_outputs(
    result: MicrographResult,
    *,
    out_dir: Path,
    stem: str,
    record: dict[str, Any],
    save_rois: bool = False,
    overlay: bool = True,
) -> dict[str, Any]:
    """Write labels, table and overlay of one micrograph, then its completion marker.

    Parameters
    ----------
    result : MicrographResult
        The analysis of the micrograph.
    out_dir : Path
        Output folder (exists).
    stem : str
        Unique output stem of this input.
    record : dict
        Facts about the input to keep in the marker (input path, checksum,
        parameters, timings); completed with the output checksums.
    save_rois : bool
        Also write the vesicles as an ImageJ ROI set (ROI names = the table's ``label``).
    overlay : bool
        Draw and write the overlay PNG; without it an overlay of an earlier analysis is removed.

    Returns
    -------
    dict
        The marker content as written. With an overlay, ``overlay_legend_box_px`` is ``[row0, col0, row1,
        col1]`` (overlay pixels, end exclusive) of the corner its legend covers, or None when the legend is in
        a strip below the micrograph: the report's close-up keeps clear of it.
    """
    names = output_names(stem, rois=save_rois, overlay=overlay)
    px = float(result.image_data.pixel_size_nm or "nan")  # analysed images always carry a pixel size
    drawn = None
    if overlay:
        drawn = draw_overlay(
            result.image_data.data,
            result.labels,
            result.table,
            pixel_size_nm=px,
            objects=result.objects,
            min_side_px=OVERLAY_MIN_SIDE_PX,
            not_counted=_not_counted(result),
            burnt_in=result.burnt_in,
        )
    marker = dict(record)
    if drawn is not None:
        marker["overlay_legend_box_px"] = None if drawn.legend_box_px is None else list(drawn.legend_box_px)
    marker["marker_version"] = MARKER_VERSION
    marker["code_sha256"] = code_sha256()
    if not save_rois:  # an ROI set of an earlier analysis would number other vesicles than this table
        (out_dir / output_names(stem, rois=True)["rois"]).unlink(missing_ok=True)
    if not overlay:  # nor may an overlay of an earlier analysis outline other vesicles than these labels
        (out_dir / output_names(stem)["overlay"]).unlink(missing_ok=True)
    rejected = rejected_file_table(result.rejected, pixel_size_nm=px)
    if rejected is None:  # nor may the rejected candidates of an earlier analysis stand beside these labels
        (out_dir / names["rejected"]).unlink(missing_ok=True)
    # All the files appear together or not at all; the marker is moved into place last.
    with file_group() as group:
        staged = {
            "labels": group.stage(
                out_dir / names["labels"], lambda tmp: write_labels_tiff(tmp, result.labels, pixel_size_nm=px)
            ),
            "vesicles": group.stage_bytes(out_dir / names["vesicles"], table_csv_text(result.table).encode("utf-8")),
        }
        if rejected is not None:
            staged["rejected"] = group.stage_bytes(out_dir / names["rejected"], table_csv_text(rejected).encode())
        if drawn is not None:
            index, palette = drawn.index, drawn.palette
            staged["overlay"] = group.stage(
                out_dir / names["overlay"], lambda tmp: write_indexed_png(tmp, index, palette)
            )
        if save_rois:
            from exo_vision.annotations.imagej_roi import labels_to_rois, write_roi_zip

            rois = labels_to_rois(result.labels)
            staged["rois"] = group.stage(out_dir / names["rois"], lambda tmp: write_roi_zip(tmp, rois))
        marker["outputs"] = {key: {"file": names[key], "sha256": sha256_file(tmp)} for key, tmp in staged.items()}
        group.stage_bytes(out_dir / names["marker"], (json.dumps(marker, indent=1, sort_keys=True) + "\n").encode())
    return marker


def intact_outputs(*, out_dir: Path, stem: str) -> bool:
    """Whether ``stem`` has an earlier complete result: a marker whose every output file is there with the
    checksum it records (whatever input and parameters made it)."""
    marker = read_marker(out_dir=out_dir, stem=stem)
    outputs = None if marker is None else marker.get("outputs")
    return isinstance(outputs, dict) and bool(outputs) and _files_match(out_dir, outputs)


def _files_match(out_dir: Path, outputs: dict[str, Any]) -> bool:
    """Whether every output a marker records is in ``out_dir`` with the checksum the marker gives it."""
    for entry in outputs.values():
        target = out_dir / str(entry.get("file", ""))
        if not target.is_file() or sha256_file(target) != entry.get("sha256"):
            return False
    return True


def remove_image_outputs(*, out_dir: Path, stem: str) -> None:
    """Delete every per-image output of ``stem`` (after a failure: none may stay without the others)."""
    for name in output_names(stem, rois=True).values():
        (out_dir / name).unlink(missing_ok=True)


def read_marker(*, out_dir: Path, stem: str) -> dict[str, Any] | None:
    """The parsed completion marker of ``stem`` in ``out_dir``, or None when absent or unreadable."""
    path = out_dir / output_names(stem)["marker"]
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(marker, dict) or marker.get("marker_version") != MARKER_VERSION:
        return None
    return marker


def completed_marker(
    *,
    out_dir: Path,
    stem: str,
    input_sha256: str,
    parameters: dict[str, Any],
    same_code: bool = True,
    overlay: bool = True,
) -> dict[str, Any] | None:
    """The marker of a complete earlier result for this input, or None if it must be (re)done.

    With ``same_code`` the result must also have been made by this installation's code
    (:func:`exo_vision.environment.code_sha256`): after an upgrade, a measurement changed under the same
    parameters would otherwise pool old numbers with new ones.

    Parameters
    ----------
    out_dir : Path
        Output folder.
    stem : str
        Output stem of the input.
    input_sha256 : str
        Checksum of the input now.
    parameters : dict
        Analysis parameters now (JSON values).
    overlay : bool
        Whether this run wants the overlay PNG. Without it a result is complete with or without one, and
        its overlay is not checked (an overlay drawn from the same labels is no other result, and one
        deleted to free disk space is not needed).
    """
    marker = read_marker(out_dir=out_dir, stem=stem)
    if marker is None:
        return None
    if marker.get("input_sha256") != input_sha256:
        return None
    if same_code and marker.get("code_sha256") != code_sha256():
        return None
    # a relative model file in the marker is read from the output folder, whatever the working directory now
    recorded = parameters_from_folder(marker.get("parameters"), out_dir)
    if json.dumps(recorded, sort_keys=True) != json.dumps(parameters, sort_keys=True):
        return None
    outputs = marker.get("outputs")
    expected = set(output_names(stem, rois=bool(parameters.get("save_rois")), overlay=overlay)) - {"marker"}
    if not isinstance(outputs, dict) or set(outputs) - OPTIONAL_OUTPUTS != expected - OPTIONAL_OUTPUTS:
        return None
    if overlay and "overlay" not in outputs:
        return None
    if not _files_match(out_dir, outputs if overlay else {k: v for k, v in outputs.items() if k != "overlay"}):
        return None
    return marker


#: Name endings of the per-image outputs (``S_labels.tif`` ... ``S_done.json``), which tell the stems a folder
#: holds results of.
PER_IMAGE_SUFFIXES = tuple(name[1:] for name in output_names("S", rois=True).values())


def images_not_in_run(out_dir: Path, stems: Iterable[str]) -> list[dict[str, Any]]:
    """The images whose per-image outputs are in ``out_dir`` but whose stem is none of ``stems``.

    These are results of earlier runs into the folder of images the current run does not cover (removed from
    the input folder, or left out of a run over part of it). They are left in place and are in none of the
    run's tables.

    Parameters
    ----------
    out_dir : Path
        Output folder.
    stems : iterable of str
        Output stems of the current run's inputs (compared ignoring case, as on a disk that ignores it).

    Returns
    -------
    list of dict
        Sorted by stem: ``stem``, ``input`` (the input its completion marker records, or None without a
        readable marker) and ``files`` (the names of its outputs in ``out_dir``).
    """
    current = {stem.casefold() for stem in stems}
    found: dict[str, list[str]] = {}
    try:
        names = sorted(p.name for p in Path(out_dir).iterdir() if p.is_file())
    except OSError:
        return []
    for name in names:
        suffix = next((s for s in PER_IMAGE_SUFFIXES if name.endswith(s) and len(name) > len(s)), None)
        if suffix is None:
            continue
        stem = name[: -len(suffix)]
        if stem.casefold() not in current:
            found.setdefault(stem, []).append(name)
    earlier = []
    for stem, files in sorted(found.items()):
        marker = read_marker(out_dir=Path(out_dir), stem=stem)
        recorded = marker.get("input") if marker is not None else None
        earlier.append({"stem": stem, "input": recorded if isinstance(recorded, str) else None, "files": files})
    return earlier
