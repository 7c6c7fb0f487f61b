"""How many micrographs a batch may analyse at once in the memory this machine has.

Before the local pool starts, each micrograph still to do gets an estimate of its peak memory
(:func:`exo_vision._shared.resources.estimated_peak_mb`, from its size and pixel size). The default
number of workers (one per core) is lowered until the largest micrographs analysed at the same time fit
in the memory available; an explicit ``--workers`` is kept, with a warning when it does not fit; a
micrograph that alone needs more than is available is named before the run starts.

Reading every micrograph once more costs time, so the exact estimate is made only where a bound from
the file's header (its pixel count, whatever its pixel size) does not already show that everything fits.
The headers of TIFF, PNG/JPEG, MRC, DM3/DM4, SER/EMI and EMD files give that count without decoding the
image. The exact estimate of an MRC file comes from its header too (size and voxel size); other formats are
read in full for it (their pixel size may come from a burnt-in scale bar, or from tags only their reader
interprets).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exo_vision._shared.paths import display_path
from exo_vision._shared.resources import (
    BASE_PEAK_MB,
    BYTES_PER_IMAGE_PIXEL,
    BYTES_PER_MB,
    BYTES_PER_WORKING_PIXEL,
    estimated_peak_mb,
)
from exo_vision._shared.validation import MAX_WORKING_PIXELS

logger = logging.getLogger(__name__)

#: Micrographs named one by one in the warning about those that alone need more memory than is available.
NAMED_AT_MOST = 5
#: Megabytes in a gigabyte, for the messages.
MB_PER_GB = 1000.0
#: Copies of a whole MRC stack the reader holds at once while it takes one frame (the file's data and the
#: array made of it); the probe measured 938 MB for a 24-frame stack whose frame alone peaked at 381 MB.
MRC_STACK_COPIES = 2


@dataclass(frozen=True)
class ImageNeed:
    """The estimated peak memory of analysing one micrograph.

    Attributes
    ----------
    input : str
        The input as printed.
    path : str
        The input's path as the job gives it.
    peak_mb : float
        Estimated peak resident memory of its analysis, MB.
    shape : tuple of int
        ``(M, N)`` in pixels.
    pixel_size_nm : float or None
        The pixel size the estimate used; None when the file's header does not state one (the
        estimate then takes the working scale's).
    """

    input: str
    path: str
    peak_mb: float
    shape: tuple[int, int]
    pixel_size_nm: float | None


def working_scale(method: str, model: str | None) -> tuple[float, bool]:
    """The finest scale a method analyses at, nm, and whether it enlarges coarser micrographs to it."""
    from exo_vision.segmentation.api import METHODS

    if METHODS[method].uses_model:
        from exo_vision.segmentation.learned.weights import load_card

        card = load_card(model)
        factor = card.thresholds.second_scale_factor  # an opt-in second, finer pass
        return card.working_scale_nm * (min(factor, 1.0) if factor > 0 else 1.0), True
    from exo_vision.segmentation.classical.parameters import ClassicalParameters

    return ClassicalParameters().working_scale_nm, False


def workers_that_fit(peaks_mb: Sequence[float], available_mb: float, most: int) -> int:
    """The most workers, at least 1 and at most ``most``, whose largest micrographs at once fit in memory.

    Parameters
    ----------
    peaks_mb : sequence of float
        Estimated peak memory of each micrograph to analyse, MB.
    available_mb : float
        Memory available, MB.
    most : int
        The number of workers wanted (the cores, or ``--workers``).

    Returns
    -------
    int
        The largest ``k <= most`` such that the ``k`` largest peaks add up to at most ``available_mb``
        (every worker may hold one of them at the same time); 1 when not even the largest fits.
    """
    total = 0.0
    fit = 0
    for peak in sorted(peaks_mb, reverse=True)[:most]:
        total += peak
        if total > available_mb:
            break
        fit += 1
    return max(fit, 1)


def header_pixels(path: str | Path) -> int | None:
    """The pixels of one frame as a TIFF, raster or EM file's header announces them (nothing decoded;
    :func:`exo_vision.io.em.header_frame_pixels` for MRC, DM, SER and EMD); None for other formats or a
    header that cannot be read."""
    from exo_vision.io.em import MRC_HEADER_SUFFIXES, RSCIIO_HEADER_SUFFIXES, header_frame_pixels
    from exo_vision.io.tiff import TIFF_MAGICS

    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return None
    suffix = Path(path).suffix.lower()
    if head not in TIFF_MAGICS and (suffix in MRC_HEADER_SUFFIXES or suffix in RSCIIO_HEADER_SUFFIXES):
        return header_frame_pixels(path)
    try:
        if head in TIFF_MAGICS:
            import tifffile

            from exo_vision.io.library_logs import quiet_library_logs

            # the reader reports a damaged tag in this file's warnings; here it would be an unnamed ERROR line
            with quiet_library_logs(path=path), tifffile.TiffFile(path) as tif:
                planes = [
                    int(s.shape[s.axes.index("Y")]) * int(s.shape[s.axes.index("X")])
                    for s in tif.series
                    if "Y" in s.axes and "X" in s.axes
                ]
            return max(planes) if planes else None
        from PIL import Image

        with Image.open(path) as img:  # reads the header only
            return int(img.size[0]) * int(img.size[1])
    except Exception:  # noqa: BLE001 - an unreadable header is reported when the image is analysed
        return None


def upper_bound_mb(pixels: int) -> float:
    """The most a micrograph of ``pixels`` can need, whatever its pixel size: analyses beyond
    :data:`~exo_vision._shared.validation.MAX_WORKING_PIXELS` working pixels are refused."""
    return BASE_PEAK_MB + (BYTES_PER_IMAGE_PIXEL * pixels + BYTES_PER_WORKING_PIXEL * MAX_WORKING_PIXELS) / BYTES_PER_MB


def image_need(
    path: str, parameters: dict[str, Any], *, scale_nm: float, enlarges: bool, max_megapixels: float | None
) -> ImageNeed | None:
    """Estimate one micrograph's peak memory from its size and pixel size (read as the run reads them, from a
    burnt-in scale bar too: at 5 nm/px a micrograph needs 30 % more than at the working scale the estimate took
    without it); None when it cannot be read (the run reports that). An MRC file's size and voxel size come
    from its header (:func:`mrc_need`); other formats are read in full."""
    from exo_vision.batch.input_reading import read_as_run

    try:
        if need := mrc_need(path, parameters, scale_nm=scale_nm, enlarges=enlarges, max_megapixels=max_megapixels):
            return need
    except ValueError:  # the run refuses the file, and says why when it comes to it
        return None
    try:
        image = read_as_run(path, parameters, max_megapixels=max_megapixels)
    except Exception:  # noqa: BLE001 - reported when the image is analysed
        logger.debug("no memory estimate for %s", display_path(path), exc_info=True)
        return None
    shape = (int(image.shape[0]), int(image.shape[1]))
    px = image.pixel_size_nm or parameters.get("pixel_size_nm_if_missing")
    peak = estimated_peak_mb(shape, pixel_size_nm=px or scale_nm, working_scale_nm=scale_nm, enlarges=enlarges)
    return ImageNeed(input=display_path(path), path=str(path), peak_mb=peak, shape=shape, pixel_size_nm=px)


def mrc_need(
    path: str, parameters: dict[str, Any], *, scale_nm: float, enlarges: bool, max_megapixels: float | None = None
) -> ImageNeed | None:
    """:func:`image_need` of an MRC file from its 1024-byte header (:func:`exo_vision.io.em.read_mrc_header`).

    The pixel size is the run's ``pixel_size_nm`` when given, else the mean of the header's voxel size along
    y and x (the order in which the run's reader takes them). None for other files, an unreadable header, or a
    header without a voxel size (the file is then read in full: a scale bar may calibrate it).

    Raises
    ------
    ValueError
        When the header shows that the run will refuse the file: more values than ``max_megapixels`` allows,
        a stack without the run's ``frame`` (or a frame it does not hold), or non-square pixels.
    """
    from exo_vision.io.em import MRC_HEADER_SUFFIXES, read_mrc_header
    from exo_vision.io.limits import check_decoded_size
    from exo_vision.io.read import non_square_problem

    if Path(path).suffix.lower() not in MRC_HEADER_SUFFIXES:
        return None
    try:
        header = read_mrc_header(path)
    except (OSError, ValueError):
        return None
    check_decoded_size(path, header.shape, max_megapixels=max_megapixels)
    if Path(path).stat().st_size < header.file_bytes:
        raise ValueError(f"{path}: shorter than its header announces (truncated)")
    frame = parameters.get("frame")
    if (header.shape[0] > 1 and frame is None) or (frame is not None and int(frame) >= header.shape[0]):
        raise ValueError(f"{path}: {header.shape[0]} frames, and the run asks for frame {frame}")
    user = parameters.get("pixel_size_nm")
    if user is not None:
        px = float(user)
    elif header.pixel_size_yx_nm is not None:
        if problem := non_square_problem(*header.pixel_size_yx_nm):
            raise ValueError(f"{path} {problem}")
        px = (header.pixel_size_yx_nm[0] + header.pixel_size_yx_nm[1]) / 2
    elif parameters.get("pixel_size_nm_if_missing") is not None:
        px = float(parameters["pixel_size_nm_if_missing"])
    else:
        return None
    shape = (header.shape[1], header.shape[2])
    peak = estimated_peak_mb(shape, pixel_size_nm=px, working_scale_nm=scale_nm, enlarges=enlarges)
    if header.shape[0] > 1:  # the reader holds the whole stack (read, then copied) before it takes the frame
        peak += MRC_STACK_COPIES * header.data_bytes / BYTES_PER_MB
    return ImageNeed(input=display_path(path), path=str(path), peak_mb=peak, shape=shape, pixel_size_nm=px)


def _gb(mb: float) -> str:
    return f"{mb / MB_PER_GB:.1f} GB"


def memory_workers(
    jobs: Sequence[Any],
    *,
    workers: int,
    requested: bool,
    available_mb: float | None,
    method: str,
    model: str | None,
    too_large: list[str] | None = None,
) -> int:
    """The number of workers to use for ``jobs`` in ``available_mb`` of memory, saying why when it differs.

    Parameters
    ----------
    jobs : sequence of ImageJob
        The micrographs still to analyse.
    workers : int
        Workers the run would use (the cores, or ``--workers`` bounded by them).
    requested : bool
        Whether ``workers`` was given by the user (kept, with a warning when it does not fit) rather than
        the default (lowered until it fits, with an INFO line saying why).
    available_mb : float or None
        Memory available, MB; None keeps ``workers`` without a check.
    method, model : str
        The segmentation method and model (their working scale sets the memory per pixel).
    too_large : list of str, optional
        Filled with the paths of the micrographs that alone need more than ``available_mb`` (the run
        analyses them last, so that the system stopping it there loses none of the others).

    Returns
    -------
    int
        ``workers``, or fewer when the default would not fit.
    """
    if available_mb is None or not jobs:
        return workers
    most = min(workers, len(jobs))
    bounds = [header_pixels(job.path) for job in jobs]
    if all(b is not None for b in bounds):
        worst = sorted((upper_bound_mb(int(b)) for b in bounds if b is not None), reverse=True)
        if worst[0] <= available_mb and sum(worst[:most]) <= available_mb:
            return workers  # fits whatever the pixel sizes: no need to read the micrographs
    scale_nm, enlarges = working_scale(method, model)
    needs = [
        need
        for job in jobs
        if (
            need := image_need(
                job.path, job.parameters, scale_nm=scale_nm, enlarges=enlarges, max_megapixels=job.max_megapixels
            )
        )
        is not None
    ]
    if not needs:
        return workers
    # a micrograph the run cannot read fails at once and holds no memory: only the others can be analysed at once
    most = min(most, len(needs))
    peaks = [need.peak_mb for need in needs]
    fit = workers_that_fit(peaks, available_mb, most)
    largest = sorted(peaks, reverse=True)[:most]
    at_once = _gb(sum(largest))
    if fit < most and not requested:
        logger.info(
            "using %d worker process(es) instead of %d (one per core): the %d largest micrographs analysed at once "
            "would need about %s (estimated from their size and pixel size) and %s of memory is available",
            fit,
            most,
            most,
            at_once,
            _gb(available_mb),
        )
        workers = fit
    elif fit < most:
        logger.warning(
            "--workers %d: the %d largest micrographs analysed at once need about %s (estimated from their size and "
            "pixel size), more than the %s of memory available; the system may stop a worker (its micrographs are "
            "then retried alone)%s",
            workers,
            most,
            at_once,
            _gb(available_mb),
            f". --workers {fit} would fit" if largest[0] <= available_mb else "",
        )
    over = [need for need in needs if need.peak_mb > available_mb]
    _warn_too_large(over, available_mb, workers)
    if too_large is not None:
        too_large.extend(need.path for need in over)
    return workers


def _warn_too_large(needs: list[ImageNeed], available_mb: float, workers: int) -> None:
    """Name the micrographs that alone need more memory than is available, with what to do."""
    if not needs:
        return
    named = []
    for need in sorted(needs, key=lambda n: -n.peak_mb)[:NAMED_AT_MOST]:
        px = f"{need.pixel_size_nm:.3g} nm/px" if need.pixel_size_nm else "pixel size not in the file"
        named.append(f"{need.input} (about {_gb(need.peak_mb)}: {need.shape[1]} x {need.shape[0]} px at {px})")
    more = f" and {len(needs) - NAMED_AT_MOST} more" if len(needs) > NAMED_AT_MOST else ""
    fixes = "run with --workers 1, " if workers > 1 else ""
    logger.warning(
        "%s alone need%s more memory than the %s available, so the system may stop the run while analysing %s "
        "(analysed last, after the others); %sclose other programs, crop %s into tiles, or run %s on a machine "
        "with more memory",
        "; ".join(named) + more,
        "s" if len(needs) == 1 else "",
        _gb(available_mb),
        "it" if len(needs) == 1 else "them",
        fixes,
        "it" if len(needs) == 1 else "them",
        "it" if len(needs) == 1 else "them",
    )
