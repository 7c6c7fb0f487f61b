"""One call from a calibrated micrograph to labels, a vesicle table and statistics.

:func:`analyse_micrograph` is the single high-level TEM function: the CLI, the
batch runner and the napari widget all call it, so they cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from exo_vision.calibration.scalebar import ScaleBarReading, annotation_mask
from exo_vision.io.image_data import ImageData
from exo_vision.measure.size_stats import size_statistics
from exo_vision.measure.vesicles import measure_vesicles
from exo_vision.segmentation.api import DEFAULT_METHOD, check_method, segment_vesicles

#: Parameters of :func:`analyse_micrograph` and their defaults.
DEFAULT_PARAMETERS: dict[str, Any] = {
    "method": DEFAULT_METHOD,
    "model": None,
    "min_diameter_nm": 20.0,
    "max_diameter_nm": 500.0,
    "sensitivity": 0.5,
    "polarity": "auto",
    "exclude_border": True,
    "size_range_nm": (30.0, 150.0),
    "n_boot": 2000,
    "seed": 0,
}


@dataclass
class MicrographResult:
    """Everything :func:`analyse_micrograph` found in one micrograph.

    Attributes
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background, same shape as the image; label ``k``
        is the row of :attr:`table` with ``label == k``.
    table : pandas.DataFrame
        One row per vesicle (``VESICLE_COLUMNS`` of
        :mod:`exo_vision.measure.vesicles`), lengths in nm.
    rejected : pandas.DataFrame
        Candidate objects the segmentation rejected, with the reason.
    statistics : dict
        :func:`exo_vision.measure.size_stats.size_statistics` of :attr:`table`
        (border-touching vesicles excluded by default).
    image_data : ImageData
        The input, with its calibration and provenance.
    parameters : dict
        The exact parameters used (JSON-serialisable).
    timings : dict
        Wall time in seconds of ``segment_s``, ``measure_s``, ``statistics_s``
        and ``total_s``.
    polarity : str
        Polarity the segmentation used (``"bright"`` or ``"dark"`` vesicles).
    analysed_area_nm2 : float
        Area searched for vesicles (image minus masked scale bar / data strip), nm**2.
    objects : list of (slice, slice) or None
        ``scipy.ndimage.find_objects(labels)`` (shared by the measurement and
        the overlay); None when not computed.
    segmenter : dict
        ``method`` and, for a learned method, ``model`` (name, version, sha256, file).
    """

    labels: np.ndarray
    table: pd.DataFrame
    rejected: pd.DataFrame
    statistics: dict[str, Any]
    image_data: ImageData
    parameters: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    polarity: str = "bright"
    analysed_area_nm2: float = float("nan")
    objects: list[tuple[slice, slice] | None] | None = None
    segmenter: dict[str, Any] = field(default_factory=dict)


def _require_pixel_size(image_data: ImageData) -> float:
    """Return the pixel size in nm or raise a ValueError that names the file and the fix."""
    px = image_data.pixel_size_nm
    name = image_data.path if image_data.path is not None else "the image"
    if px is None or not np.isfinite(px) or px <= 0:
        raise ValueError(
            f"no pixel size for {name}: pass --pixel-size-nm or calibrate from the scale bar "
            "(sizes in nm cannot be measured on an uncalibrated micrograph)"
        )
    return float(px)


def analyse_micrograph(
    image_data: ImageData,
    *,
    method: str = DEFAULT_METHOD,
    model: str | None = None,
    threads: int = 1,
    min_diameter_nm: float = 20.0,
    max_diameter_nm: float = 500.0,
    sensitivity: float = 0.5,
    polarity: str = "auto",
    exclude_border: bool = True,
    size_range_nm: tuple[float, float] = (30.0, 150.0),
    n_boot: int = 2000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> MicrographResult:
    """Segment, measure and summarise every vesicle of a calibrated micrograph.

    Parameters
    ----------
    image_data : ImageData
        The micrograph (``data`` of shape (M, N)) with ``pixel_size_nm`` set,
        as returned by :func:`exo_vision.io.read_image`.
    method : str
        Segmentation method (:func:`exo_vision.segmentation.api.available_methods`).
    model : str, optional
        For the ``unet`` method: a shipped model's name or a ``.onnx`` path
        (default: the shipped model).
    threads : int
        CPU threads of the network runtime.
    min_diameter_nm, max_diameter_nm : float
        Smallest and largest vesicle diameter to report, in nanometres.
    sensitivity : float
        Detection sensitivity in [0, 1] passed to the segmentation.
    polarity : {"auto", "bright", "dark"}
        Whether vesicles are lighter or darker than the stain; ``"auto"`` detects it.
    exclude_border : bool
        Leave border-touching vesicles out of the statistics (they stay in the
        labels and the table, flagged ``touches_border``).
    size_range_nm : (float, float)
        Interval whose fraction is reported (30-150 nm by default).
    n_boot : int
        Bootstrap resamples for the confidence intervals.
    seed : int
        Seed of the bootstrap, so that a run is reproducible.
    progress : callable(int, int), optional
        Called as ``progress(done, total)`` while segmenting.

    Returns
    -------
    MicrographResult

    Raises
    ------
    ValueError
        If the image has no pixel size, or a parameter is out of range.
    """
    if not isinstance(image_data, ImageData):
        raise TypeError(
            f"analyse_micrograph expects an ImageData (from exo_vision.io.read_image), "
            f"got {type(image_data).__name__}"
        )
    pixel_size_nm = _require_pixel_size(image_data)
    if image_data.data.ndim != 2:
        raise ValueError(
            f"{image_data.path or 'image'}: expected a 2-D micrograph, got shape {image_data.data.shape}; "
            "pick one frame (--frame) or channel first"
        )
    check_method(method)
    parameters = {
        "method": str(method),
        "model": None if model is None else str(model),
        "min_diameter_nm": float(min_diameter_nm),
        "max_diameter_nm": float(max_diameter_nm),
        "sensitivity": float(sensitivity),
        "polarity": str(polarity),
        "exclude_border": bool(exclude_border),
        "size_range_nm": [float(v) for v in size_range_nm],
        "n_boot": int(n_boot),
        "seed": int(seed),
    }
    timings: dict[str, float] = {}
    start = time.perf_counter()
    segmentation = segment_vesicles(
        image_data.data,
        pixel_size_nm=pixel_size_nm,
        method=parameters["method"],
        model=parameters["model"],
        threads=threads,
        min_diameter_nm=parameters["min_diameter_nm"],
        max_diameter_nm=parameters["max_diameter_nm"],
        sensitivity=parameters["sensitivity"],
        polarity=parameters["polarity"],
        exclude_mask=_annotation_mask(image_data),
        progress=progress,
    )
    t1 = time.perf_counter()
    timings["segment_s"] = t1 - start
    # the boxes of the labels, found once for the measurement and the overlay
    objects = ndi.find_objects(segmentation.labels)
    table = measure_vesicles(
        segmentation.labels,
        image_data.data,
        pixel_size_nm=pixel_size_nm,
        pixel_size_source=image_data.pixel_size_source,
        polarity=segmentation.polarity,
        noise_std=segmentation.parameters.get("pixel_noise_std"),
        objects=objects,
    )
    t2 = time.perf_counter()
    timings["measure_s"] = t2 - t1
    mask = segmentation.analysed_mask
    analysed_px = float(np.count_nonzero(mask)) if mask is not None else float(image_data.data.size)
    analysed_area_nm2 = analysed_px * pixel_size_nm**2
    statistics = size_statistics(
        table,
        analysed_area_nm2=analysed_area_nm2 if analysed_area_nm2 > 0 else None,
        exclude_border=parameters["exclude_border"],
        size_range_nm=tuple(parameters["size_range_nm"]),
        n_boot=parameters["n_boot"],
        rng=parameters["seed"],
    )
    t3 = time.perf_counter()
    timings["statistics_s"] = t3 - t2
    timings["total_s"] = t3 - start
    return MicrographResult(
        labels=segmentation.labels,
        table=table,
        rejected=segmentation.rejected,
        statistics=statistics,
        image_data=image_data,
        parameters=parameters,
        timings=timings,
        polarity=str(segmentation.polarity),
        analysed_area_nm2=analysed_area_nm2,
        objects=objects,
        segmenter={"method": parameters["method"], "model": segmentation.parameters.get("model")},
    )


def _annotation_mask(image_data: ImageData) -> np.ndarray | None:
    """Scale bar / label / data-strip mask from the scale-bar reading made while reading the file.

    ``read_image`` already ran the (OCR-based) scale-bar reader on uncalibrated images and
    kept its result in ``metadata["scale_bar"]``; rebuilding the reading from that record
    gives the same mask as :func:`segment_vesicles`' default without running OCR a second
    time. Returns ``None`` (segment_vesicles computes the mask itself) when no reading was made.
    """
    record = image_data.metadata.get("scale_bar")
    if not isinstance(record, dict) or record.get("status") not in ("ok", "unreadable", "not found"):
        return None
    if "bar_box" not in record or "label_box" not in record:
        return None  # a record without the boxes (older or foreign metadata) cannot rebuild the mask
    reading = ScaleBarReading(
        status=record["status"],
        pixel_size_nm=record.get("pixel_size_nm"),
        bar_length_px=record.get("bar_length_px"),
        length_nm=record.get("length_nm"),
        label_text=record.get("label_text") or "",
        confidence=record.get("confidence") or 0.0,
        bar_box=None if record.get("bar_box") is None else tuple(record["bar_box"]),
        label_box=None if record.get("label_box") is None else tuple(record["label_box"]),
        reason=record.get("reason") or "",
    )
    return annotation_mask(image_data.data, reading=reading)
