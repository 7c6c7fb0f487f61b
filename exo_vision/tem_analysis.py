"""One call from a calibrated micrograph to labels, a vesicle table and statistics.

:func:`analyse_micrograph` is the single high-level TEM function: the CLI, the
batch runner and the napari widget all call it, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from exo_vision._shared.validation import MAX_PIXEL_SIZE_NM, MIN_IMAGE_SIDE_PX
from exo_vision.calibration.mask import annotation_mask
from exo_vision.calibration.scalebar import ScaleBarReading
from exo_vision.io.image_data import ImageData
from exo_vision.io.read import scale_bar_disagreement_in
from exo_vision.measure.size_stats import size_statistics
from exo_vision.measure.vesicles import measure_vesicles
from exo_vision.segmentation.api import segment_vesicles
from exo_vision.segmentation.learned.postprocess import possibly_split_groups
from exo_vision.segmentation.morphology_ops import labels_touching
from exo_vision.segmentation.result import VesicleSegmentation, exclude_mask_for
from exo_vision.tem_parameters import TemParameters


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
        The input, with its calibration and provenance (isolated pixels without a
        value set from their neighbours, larger groups to the median of the others).
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
    warnings : list of str
        The segmentation's warnings (what it could not do as well as usual on this image).
    split_groups : list of tuple of int
        Labels of touching vesicles that together form one convex, round outline: each group may be one vesicle
        cut in pieces (named in ``warnings`` as well).
    burnt_in : (M, N) ndarray of bool or None
        The micrograph's burnt-in scale bar, label and data strip as
        :func:`~exo_vision.calibration.mask.annotation_mask` finds them in ``image_data.data`` (the analysis left
        them out), for the overlay; None when the analysis left out another area (one rebuilt from the scale-bar
        reading, or pixels without a value).
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
    warnings: list[str] = field(default_factory=list)
    split_groups: list[tuple[int, ...]] = field(default_factory=list)
    burnt_in: np.ndarray | None = None


def _require_pixel_size(image_data: ImageData) -> float:
    """Return the pixel size in nm or raise a ValueError that names the file and the fix."""
    given = image_data.pixel_size_nm
    name = image_data.path if image_data.path is not None else "the image"
    bar = (image_data.metadata or {}).get("scale_bar") or {}
    if given is None and bar.get("status") == "unreadable":
        from exo_vision.io.read import unread_scale_bar_message

        raise ValueError(f"no pixel size for {name}: {unread_scale_bar_message(bar)}")
    if given is None:
        from exo_vision.io.read import named_like_a_blot

        if named_like_a_blot(image_data.path):
            raise ValueError(
                f"no pixel size for {name}, and its name says western blot: quantify blots with `exo-vision blot` "
                "(a micrograph needs --pixel-size-nm or a readable scale bar)"
            )
        raise ValueError(
            f"no pixel size for {name}: pass --pixel-size-nm or calibrate from the scale bar; for a folder "
            "that mixes calibrated and uncalibrated files, pass --pixel-size-nm-if-missing, which leaves the "
            "calibrated files their own pixel size (sizes in nm cannot be measured on an uncalibrated "
            "micrograph; in Python: image_data.with_pixel_size(nm))"
        )
    try:
        px = float(given) if not isinstance(given, bool) else float("nan")
    except (TypeError, ValueError):
        px = float("nan")
    if not np.isfinite(px) or px <= 0:
        raise ValueError(
            f"{name}: the pixel size {given!r} is not a positive number of nm per pixel; pass the right one "
            "(--pixel-size-nm; in Python: image_data.with_pixel_size(nm))"
        )
    yx = tuple(image_data.pixel_size_yx_nm or (None, None))
    if image_data.pixel_size_source != "user" and len(yx) == 2:
        from exo_vision.io.read import non_square_problem

        if (problem := non_square_problem(*yx)) is not None:
            raise ValueError(
                f"{name} {problem}; resample it to square pixels, or give one pixel size for both axes "
                "(--pixel-size-nm; in Python: image_data.with_pixel_size(nm))"
            )
    if px > MAX_PIXEL_SIZE_NM and image_data.pixel_size_source == "user":
        raise ValueError(
            f"{name}: the pixel size given, {px:.4g} nm/px, is too coarse to resolve vesicles (30-500 nm; at most "
            f"{MAX_PIXEL_SIZE_NM:g} nm/px); give it in nm per pixel (--pixel-size-nm), not in µm or Å"
        )
    if px > MAX_PIXEL_SIZE_NM:
        raise ValueError(
            f"{name}: its calibration ({image_data.pixel_size_source}) gives {px:.4g} nm/px, too coarse to resolve "
            "vesicles (30-500 nm); check the unit it was written in (Å, nm, µm), or pass the pixel size yourself "
            "(--pixel-size-nm)"
        )
    return float(px)


def padding_frame(image: np.ndarray) -> tuple[np.ndarray | None, float | None]:
    """The rows and columns along the edges that hold one constant value.

    Fiji's *Canvas Size*, stitching and montage tools pad a micrograph with a frame of 0, of the
    type's largest value or of a background grey; no row or column of a real micrograph is one value
    from end to end. The image's lowest and highest values are tried first, then the value of any edge
    row or column that is one value.

    Parameters
    ----------
    image : (M, N) ndarray

    Returns
    -------
    (mask, value)
        The frame's pixels and their value, or ``(None, None)`` when there is no such frame (or the whole
        image is one value).
    """
    data = np.asarray(image)
    edges = (data[0], data[-1], data[:, 0], data[:, -1])
    if not any(line.min() == line.max() for line in edges):  # the usual case, decided from four lines
        return None, None
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    if finite.size == 0:
        return None, None
    extremes = (float(finite.min()), float(finite.max()))
    if extremes[0] == extremes[1]:
        return None, None

    def run(lines: np.ndarray, value: float) -> int:
        """How many of ``lines`` (rows, from the first) are ``value`` from end to end."""
        count = 0
        while count < len(lines) and bool(np.all(lines[count] == value)):
            count += 1
        return count

    flat_edges = [float(line.flat[0]) for line in edges if line.min() == line.max()]
    for value in dict.fromkeys([*extremes, *flat_edges]):
        sides = {
            "top": run(data, value),
            "bottom": run(data[::-1], value),
            "left": run(data.T, value),
            "right": run(data.T[::-1], value),
        }
        if any(sides.values()):
            mask = np.zeros(data.shape, dtype=bool)
            m, n = data.shape
            mask[: sides["top"]] = True
            mask[m - sides["bottom"] :] = True
            mask[:, : sides["left"]] = True
            mask[:, n - sides["right"] :] = True
            if mask.all():
                return None, None
            if value in extremes or _noisy_inside(data, sides, value):
                return mask, value
    return None, None


#: A frame of a value between the image's lowest and highest is padding only when the image's outermost rows
#: and columns inside it are no one value and hold the frame's value in at most this fraction of their pixels
#: (a noise-free drawing's flat background, cut by the bounding box of what is drawn on it, is not padding).
MAX_FRAME_VALUE_INSIDE = 0.2


def _noisy_inside(data: np.ndarray, sides: dict[str, int], value: float) -> bool:
    """Whether the outermost rows and columns inside a frame (``sides``: its width on each side) look like a
    micrograph: none of them one value, and the frame's ``value`` rare in them."""
    m, n = data.shape
    inside = data[sides["top"] : m - sides["bottom"], sides["left"] : n - sides["right"]]
    lines = (inside[0], inside[-1], inside[:, 0], inside[:, -1])
    if any(line.min() == line.max() for line in lines):
        return False
    share = np.mean(np.concatenate([line == value for line in lines]))
    return bool(share <= MAX_FRAME_VALUE_INSIDE)


#: Largest group of touching (8-connected) NaN or infinite pixels that is filled from the pixels around it (px).
#: A detector's dead pixels come alone, in pairs or as a 2 x 2 cluster; a smallest vesicle at 5 nm/px
#: (30 nm) is still 6 px across, so 4 px filled from their surroundings leave its outline and mean grey level
#: where they were. Larger groups (a masked-out area, alignment padding) hold no image to fill from and are
#: left out of the analysis.
MAX_FILLED_GROUP_PX = 4

#: The 8 neighbours of a pixel, as (row, column) offsets.
_NEIGHBOURS = tuple((dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0))


def isolated_non_finite(image: np.ndarray) -> np.ndarray | None:
    """The NaN or infinite pixels that lie in groups of at most :data:`MAX_FILLED_GROUP_PX` touching pixels.

    Parameters
    ----------
    image : (M, N) ndarray

    Returns
    -------
    (M, N) ndarray of bool or None
        Those pixels (groups 8-connected), or None when there are none (an integer image has none).
    """
    data = np.asarray(image)
    if data.dtype.kind != "f":
        return None
    bad = ~np.isfinite(data)
    if not bad.any():
        return None
    groups, n = ndi.label(bad, structure=np.ones((3, 3), bool))
    sizes = np.bincount(groups.ravel(), minlength=n + 1)
    small = sizes <= MAX_FILLED_GROUP_PX
    small[0] = False
    isolated = small[groups]
    return isolated if isolated.any() else None


def fill_isolated_non_finite(image: np.ndarray) -> tuple[np.ndarray, int]:
    """The image with its isolated NaN or infinite pixels (:func:`isolated_non_finite`) set from their neighbours.

    Each such pixel takes the median of its 8 neighbours that hold a value and are no padding
    frame (:func:`padding_frame`); a pixel with no such neighbour (in a 2 x 2 group in a corner)
    takes the median of its neighbours filled before it. Larger groups stay as they are.

    Parameters
    ----------
    image : (M, N) ndarray

    Returns
    -------
    (filled, count)
        A copy of the image with those pixels set (the image itself when there are none), and how
        many pixels were set.
    """
    data = np.asarray(image)
    targets = isolated_non_finite(data)
    if targets is None:
        return data, 0
    frame, _value = padding_frame(data)
    usable = np.isfinite(data) if frame is None else np.isfinite(data) & ~frame
    out = data.copy()
    rows, cols = np.nonzero(targets)
    filled = 0
    while rows.size:
        values = np.full((len(_NEIGHBOURS), rows.size), np.nan)
        for k, (dr, dc) in enumerate(_NEIGHBOURS):
            r, c = rows + dr, cols + dc
            ok = (r >= 0) & (r < data.shape[0]) & (c >= 0) & (c < data.shape[1])
            ok[ok] = usable[r[ok], c[ok]]
            values[k, ok] = out[r[ok], c[ok]]
        have = np.isfinite(values).any(axis=0)
        if not have.any():  # a group with no usable pixel around it (inside a padding frame): left as it is
            break
        out[rows[have], cols[have]] = np.nanmedian(values[:, have], axis=0)
        usable[rows[have], cols[have]] = True
        filled += int(have.sum())
        rows, cols = rows[~have], cols[~have]
    return out, filled


def missing_pixels(image: np.ndarray) -> np.ndarray | None:
    """Pixels that hold no image content: NaN or infinite values, and a constant padding frame
    (:func:`padding_frame`); None when there are none."""
    data = np.asarray(image)
    missing = ~np.isfinite(data) if data.dtype.kind == "f" else None
    frame, _value = padding_frame(data)
    if frame is not None:
        missing = frame if missing is None else missing | frame
    return missing if missing is not None and missing.any() else None


def _without_missing_values(image_data: ImageData) -> tuple[ImageData, np.ndarray | None]:
    """The micrograph with its pixels without content set, and the mask of those left out.

    Isolated NaN or infinite pixels (a detector's dead pixels; :func:`fill_isolated_non_finite`)
    take the median of their neighbours and are image content from then on. Larger groups
    (aligned, drift-corrected or stitched micrographs are padded with NaN where no frame
    contributed) and a frame of 0 are set to the median of the other pixels and returned as
    the mask. Returns ``(image_data, None)`` when every pixel holds content.
    """
    data, n_filled = fill_isolated_non_finite(image_data.data)
    if n_filled:
        image_data = dataclasses.replace(image_data, data=data)
    missing = missing_pixels(data)
    if missing is None:
        return image_data, None
    if missing.all():
        raise ValueError(f"{image_data.path or 'the image'} has no finite pixel values (all NaN or infinite)")
    filled = np.where(missing, np.median(data[~missing]), data).astype(data.dtype, copy=False)
    return dataclasses.replace(image_data, data=filled), missing


#: What happens to pixels without content, said in the warnings.
_LEFT_OUT = (
    "they were left out of the analysis and of the analysed area, and vesicles they cut are flagged "
    "touches_missing and, like vesicles cut by the image edge, touches_border"
)


def missing_values_warnings(image: np.ndarray) -> list[str]:
    """The warnings for a micrograph with pixels that hold no content (NaN or infinite values, a constant
    padding frame), or no warning.

    Returns
    -------
    list of str
        What :func:`analyse_micrograph` does with such pixels, with their count; empty when every pixel
        holds content.
    """
    data, n_filled = fill_isolated_non_finite(image)
    messages = []
    if n_filled:
        were = "pixels were filled from their" if n_filled > 1 else "pixel was filled from its"
        messages.append(
            f"{n_filled} non-finite {were} neighbours (NaN or infinite, in groups of at most "
            f"{MAX_FILLED_GROUP_PX} touching pixels, as a camera's dead pixels leave: each took the median of the "
            "pixels around it and was measured as image)"
        )
    count = int(np.count_nonzero(~np.isfinite(data))) if data.dtype.kind == "f" else 0
    if count:
        messages.append(
            f"{count} pixels ({100.0 * count / data.size:.1f} % of the image) hold no value (NaN or infinite, as in "
            f"the padding of an aligned or stitched micrograph): {_LEFT_OUT}"
        )
    frame, value = padding_frame(data)
    if frame is not None:
        messages.append(
            f"a frame of {int(frame.sum())} pixels ({100.0 * frame.mean():.1f} % of the image) along the image "
            f"edges holds the one value {value:g} (padding, as Fiji's Canvas Size or a stitching tool leaves, or "
            f"an edge clipped at one end of the grey range): {_LEFT_OUT}"
        )
    return messages


#: Words for each polarity in the messages: which way the vesicles differ from the stain.
_POLARITY_WORDS = {"bright": "lighter", "dark": "darker"}
#: Rejection reasons named in the no-vesicle warning (the most frequent first).
MAX_REASONS_SHOWN = 3


def rejected_by_reason(rejected: pd.DataFrame) -> dict[str, int]:
    """How many candidates were rejected for each reason, the most frequent first."""
    if rejected is None or rejected.empty or "reason" not in rejected.columns:
        return {}
    counts = rejected["reason"].astype(str).value_counts()
    return {str(reason): int(n) for reason, n in counts.items()}


def rejected_text(counts: dict[str, int]) -> str:
    """One line naming the candidates left out and why, the most frequent reasons first ("" when none).

    ``counts`` is :func:`rejected_by_reason`'s mapping; at most :data:`MAX_REASONS_SHOWN` reasons are named.
    """
    if not counts:
        return ""
    items = list(counts.items())
    shown = "; ".join(f"{n} x {reason}" for reason, n in items[:MAX_REASONS_SHOWN])
    more = sum(n for _, n in items[MAX_REASONS_SHOWN:])
    return f"not counted: {sum(counts.values())} candidate(s) ({shown}" + (f"; {more} other" if more else "") + ")"


#: The coarsest pixel size (nm) the size figures of the README were measured at (``tem_coarse_sizes.py``).
COARSEST_MEASURED_NM = 5.0


def coarse_pixel_warnings(pixel_size_nm: float) -> list[str]:
    """A warning for a micrograph coarser than any the segmenters were measured on (over 5 nm/px)."""
    if not pixel_size_nm > COARSEST_MEASURED_NM:
        return []
    return [
        f"pixel size {pixel_size_nm:.3g} nm/px is coarser than {COARSEST_MEASURED_NM:g} nm/px, beyond what the "
        f"segmenters were measured on: a 50 nm vesicle spans {50 / pixel_size_nm:.1f} px. On a generated micrograph "
        "shown at 10-20 nm/px vesicles under 100 nm were lost or merged and a 129 nm one came out 47 % small at 20 "
        "nm/px, and burnt-in label characters can pass for vesicles; acquire at 5 nm/px or finer for sizes"
    ]


#: A field of view (its longer side, nm) under which a micrograph is smaller than any whole negative-stain EV
#: micrograph: those cover 1 µm and more (2048 px at 0.5 nm/px), the smallest field of the real test images is a
#: 164 px FRU-Net patch at 3.83 nm/px (628 nm), and a field under this holds at most one or two large vesicles.
MIN_FIELD_OF_VIEW_NM = 400.0


def small_field_warnings(image_data: ImageData, pixel_size_nm: float) -> list[str]:
    """A warning for a micrograph whose field of view is under :data:`MIN_FIELD_OF_VIEW_NM` (its longer side):
    most often a pixel size typed too fine (in Å, or of another magnification), which shrinks every vesicle by
    the same factor, below the smallest size counted.

    Parameters
    ----------
    image_data : ImageData
        The micrograph (its shape and ``pixel_size_source`` are named).
    pixel_size_nm : float
        The pixel size analysed with, nm.

    Returns
    -------
    list of str
        Empty for a field of :data:`MIN_FIELD_OF_VIEW_NM` or more; else one message naming the field, the
        pixel size, its source and the fix (the run's log and run.json name the file it is of).
    """
    rows, cols = image_data.data.shape[:2]
    field_nm = max(rows, cols) * pixel_size_nm
    if not field_nm < MIN_FIELD_OF_VIEW_NM:
        return []
    given = "--pixel-size-nm (or --pixel-size-nm-if-missing)" if image_data.pixel_size_source == "user" else ""
    source = given or image_data.pixel_size_source
    return [
        f"the pixel size {pixel_size_nm:.4g} nm/px (from {source}) makes the field of view "
        f"{cols * pixel_size_nm:.0f} x {rows * pixel_size_nm:.0f} nm, smaller than any whole negative-stain EV "
        f"micrograph (under {MIN_FIELD_OF_VIEW_NM:g} nm; a 2048 px frame at 0.5 nm/px covers 1 µm): unless the file "
        "is a crop around one or two vesicles, the pixel size is too fine (typed in Å, or that of another "
        "magnification) and every size is too small by the same factor; check it against the scale bar and give "
        "the right one (--pixel-size-nm)"
    ]


#: The words of :func:`split_warnings` after the groups' labels
#: ("vesicles 1+2 (together 120 nm), 5+6+7 (together 114 nm) <SPLIT_MARK>: ...").
SPLIT_MARK = "touch along a cut and together form one round, convex outline"

#: One group of labels in :func:`split_warnings`' words ("5+6+7").
_SPLIT_GROUP = re.compile(r"(?<![\d.])(\d+(?:\+\d+)+)(?![\d.])")


def split_groups_in(warnings: list[str] | None) -> list[tuple[int, ...]]:
    """The groups of labels that a result's ``warnings`` name as possibly one vesicle cut in pieces
    (:func:`split_warnings`; a warning of an earlier version names pairs only, read the same way).

    Parameters
    ----------
    warnings : list of str or None
        An image's warnings (``run.json``'s ``warnings`` of its record).

    Returns
    -------
    list of tuple of int
        The groups of two or more vesicle labels, in the order named; empty when no warning names any.
    """
    groups: list[tuple[int, ...]] = []
    for warning in warnings or []:
        text = str(warning)
        if SPLIT_MARK not in text or not text.startswith("vesicles "):
            continue
        named = text[len("vesicles ") : text.index(SPLIT_MARK)]
        groups.extend(tuple(int(k) for k in found.split("+")) for found in _SPLIT_GROUP.findall(named))
    return groups


def split_pairs_in(warnings: list[str] | None) -> list[tuple[int, int]]:
    """The groups of exactly two labels among :func:`split_groups_in`'s (a pair's two halves)."""
    return [(g[0], g[1]) for g in split_groups_in(warnings) if len(g) == 2]


def recorded_split_groups(record: dict[str, Any]) -> list[tuple[int, ...]]:
    """The label groups an image's record (in ``run.json`` or its done-marker) flags as possibly one vesicle cut
    in pieces: its ``split_groups``, or for a record written before that field, the groups its warnings name.

    Parameters
    ----------
    record : dict
        One entry of ``run.json``'s ``images``.

    Returns
    -------
    list of tuple of int
        The groups of vesicle labels; entries that are not lists of two or more whole numbers are left out.
    """
    recorded = record.get("split_groups")
    if not isinstance(recorded, list):
        return split_groups_in(record.get("warnings"))
    groups = []
    for group in recorded:
        if isinstance(group, list | tuple) and len(group) >= 2 and all(type(v) is int for v in group):
            groups.append(tuple(int(v) for v in group))
    return groups


def split_warnings(labels: np.ndarray, *, pixel_size_nm: float) -> list[str]:
    """A warning naming the groups of touching vesicles that together form one convex, round outline
    (:func:`~exo_vision.segmentation.learned.postprocess.possibly_split_groups`), each with its union's
    equivalent diameter (nm, of the labels' pixels): each group may be one vesicle cut in pieces, which
    divides its size and multiplies its count in every statistic."""
    return split_groups_warnings(possibly_split_groups(labels), labels, pixel_size_nm=pixel_size_nm)


def split_groups_warnings(
    groups: list[tuple[int, ...]],
    labels: np.ndarray,
    *,
    pixel_size_nm: float,
    objects: list[tuple[slice, slice] | None] | None = None,
) -> list[str]:
    """The warning of :func:`split_warnings` for the label ``groups`` already found; empty when there are none.

    ``objects``: ``scipy.ndimage.find_objects(labels)`` if the caller has it (the areas are then counted in each
    label's box rather than over the whole image).
    """
    if not groups:
        return []
    labels = np.asarray(labels)
    if objects is None:
        area = np.bincount(labels.ravel().astype(np.int64), minlength=max(max(g) for g in groups) + 1)
    else:
        area = np.zeros(max(max(g) for g in groups) + 1, np.int64)
        for k in {k for group in groups for k in group}:
            box = objects[k - 1] if 0 < k <= len(objects) else None
            area[k] = 0 if box is None else np.count_nonzero(labels[box] == k)
    named = ", ".join(
        "+".join(str(k) for k in group)
        + f" (together {2.0 * np.sqrt(float(area[list(group)].sum()) / np.pi) * pixel_size_nm:.0f} nm)"
        for group in groups
    )
    return [
        f"vesicles {named} {SPLIT_MARK}: each group may be one "
        "vesicle cut in pieces (a folded cup, a large vesicle), or a small vesicle lying on a large one, and then "
        "counts as several vesicles each smaller than the one; look at them (the overlay PNG, or napari), and join "
        "them in napari's Curation dock if they are one"
    ]


def no_vesicle_warnings(
    n_vesicles: int,
    *,
    polarity: str,
    requested: str,
    rejected: pd.DataFrame,
    calibration_conflict: tuple[float, float] | None = None,
    pixel_size_nm: float | None = None,
) -> list[str]:
    """The warning for a micrograph in which nothing was segmented, or no warning.

    Parameters
    ----------
    n_vesicles : int
        Vesicles found.
    polarity : {"bright", "dark"}
        The polarity segmented with.
    requested : {"auto", "bright", "dark"}
        The polarity asked for ("auto": read from the image).
    rejected : DataFrame
        The rejected candidates, with their ``reason``.
    calibration_conflict : tuple of float, optional
        The file's and the burnt-in scale bar's pixel sizes (nm/px) when they disagree
        (:func:`~exo_vision.io.read.scale_bar_disagreement_in`): a wrong pixel size puts every vesicle outside the
        sizes kept, so the message points to it before the polarity.
    pixel_size_nm : float, optional
        The micrograph's pixel size, nm. Coarser than :data:`COARSEST_MEASURED_NM`, the segmenters can miss
        vesicles whatever their polarity, and the message names that cause before the polarity.

    Returns
    -------
    list of str
        Empty when vesicles were found; else one message naming the calibration conflict (when there is one), the
        polarity, the rejected candidates by reason, a pixel size coarser than the segmenters were measured on
        (when it is), and the polarity to try if the vesicles differ from the stain the other way.
    """
    if n_vesicles:
        return []
    other = "dark" if polarity == "bright" else "bright"
    reasons = rejected_by_reason(rejected)
    shown = "; ".join(f"{n} x {reason}" for reason, n in list(reasons.items())[:MAX_REASONS_SHOWN])
    how = "read from the image as" if requested == "auto" else "given as"
    first = ""
    if calibration_conflict is not None:
        file_nm, bar_nm = calibration_conflict
        first = (
            f" at the file's {file_nm:.4g} nm/px, which its scale bar contradicts ({bar_nm:.4g} nm/px; see that "
            f"warning): a wrong pixel size puts every vesicle outside the sizes kept, so rerun with --pixel-size-nm "
            f"{bar_nm:.4g} (or the true value) first; "
        )
    last = "then, if vesicles are still missing and are" if first else "if the vesicles are"
    if not first and pixel_size_nm is not None and pixel_size_nm > COARSEST_MEASURED_NM:
        last = (
            f"the pixel size {pixel_size_nm:.3g} nm/px is coarser than the {COARSEST_MEASURED_NM:g} nm/px the "
            "segmenters were measured on (see that warning), where vesicles can be missed whatever their polarity: "
            f"if the vesicles on the image are {_POLARITY_WORDS.get(polarity, polarity)} than the stain, that is "
            f"the likelier cause (acquire at {COARSEST_MEASURED_NM:g} nm/px or finer); only if they are"
        )
    return [
        f"no vesicle found{first or ': '}the polarity was {how} {polarity!r} (vesicles "
        f"{_POLARITY_WORDS.get(polarity, polarity)} than the stain) and {sum(reasons.values())} candidate(s) were "
        f"rejected{f' ({shown})' if shown else ''}; {last} {_POLARITY_WORDS.get(other, other)} than the stain, "
        f"rerun with --polarity {other}"
    ]


def measure_micrograph_vesicles(
    labels: np.ndarray,
    image_data: ImageData,
    *,
    polarity: str,
    noise_std: float | None = None,
    objects: list[tuple[slice, slice] | None] | None = None,
    excluded: np.ndarray | None = None,
) -> pd.DataFrame:
    """Measure every labelled vesicle of a calibrated micrograph, pixels without a value included.

    :func:`~exo_vision.measure.vesicles.measure_vesicles` in the micrograph's
    calibration (1 nm/px when it has none), with its isolated NaN / infinite pixels
    set from their neighbours, larger groups set to the median of the others
    and the vesicles those cut flagged ``touches_missing`` and ``touches_border`` (the statistics leave them
    out as they leave out those cut by the image edge); vesicles reaching into the burnt-in annotations are flagged
    ``touches_border`` too (:func:`flag_cut_by_annotations`). Used after segmentation and after every curation
    edit, so an edited outline under the scale bar stays out of the statistics as the segmented one was.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Vesicle labels (0 = background).
    image_data : ImageData
        The micrograph the labels belong to.
    polarity : {"bright", "dark"}
        Vesicles lighter or darker than the stain.
    noise_std, objects
        As in :func:`~exo_vision.measure.vesicles.measure_vesicles`.
    excluded : (M, N) ndarray of bool, optional
        The pixels left out of the analysis (annotations, pixels without a value, a padding frame), as the
        segmentation recorded them; by default the burnt-in annotations found on the image and its pixels
        without a value.

    Returns
    -------
    DataFrame
        One row per label, lengths in nm.
    """
    filled, missing = _without_missing_values(image_data)
    px = filled.pixel_size_nm
    table = measure_vesicles(
        labels,
        filled.data,
        pixel_size_nm=px if px is not None else 1.0,
        pixel_size_source=filled.pixel_size_source,
        polarity=polarity,
        noise_std=noise_std,
        objects=objects,
    )
    table = table if missing is None else _flag_cut_by(table, labels, missing)
    if excluded is None:
        excluded = exclude_mask_for(filled.data, _annotation_mask(filled))
        excluded = excluded if missing is None else excluded | missing
    return flag_cut_by_annotations(table, labels, excluded, missing)


def _flag_cut_by(table: pd.DataFrame, labels: np.ndarray, missing: np.ndarray) -> pd.DataFrame:
    """Set ``touches_missing`` and ``touches_border`` for the vesicles that touch (8-connected) a pixel
    without a value (``touches_missing`` False for the others)."""
    cut = table["label"].isin(labels_touching(labels, missing)).to_numpy(dtype=bool)
    table = _with_missing_flags(table, cut)
    table.loc[cut, "touches_border"] = True
    return table


def flag_cut_by_annotations(
    table: pd.DataFrame, labels: np.ndarray, excluded: np.ndarray | None, missing: np.ndarray | None = None
) -> pd.DataFrame:
    """A copy of ``table`` with the vesicles whose outline reaches into the burnt-in annotations' mask flagged
    ``touches_border``.

    The scale bar, its label and the data strip hide what lies under them: a vesicle reaching under them is cut
    like one at the image edge, and the statistics leave it out the same way (an object hanging from the bar,
    which the network can make of the bar's filled-in edge, is not counted either). A vesicle that only borders
    the mask is whole and keeps its flag.

    Parameters
    ----------
    table : DataFrame
        Vesicle table of ``labels`` (``label`` and ``touches_border`` columns).
    labels : (M, N) ndarray of int
        The vesicle labels.
    excluded : (M, N) ndarray of bool or None
        The pixels left out of the analysis (annotations, and pixels without a value).
    missing : (M, N) ndarray of bool, optional
        The pixels without a value among them (their vesicles are flagged ``touches_missing`` instead).

    Returns
    -------
    DataFrame
    """
    if excluded is None or not len(table) or "touches_border" not in table.columns:
        return table
    burnt = excluded if missing is None else excluded & ~missing
    if not burnt.any():
        return table
    on = np.unique(labels[burnt])
    cut = table["label"].isin(on[on > 0]).to_numpy(dtype=bool)
    if not cut.any():
        return table
    table = table.copy()
    table.loc[cut, "touches_border"] = True
    return table


def _with_missing_flags(table: pd.DataFrame, cut: np.ndarray | bool) -> pd.DataFrame:
    """A copy of ``table`` whose ``touches_missing`` is ``cut``; the column is put after ``touches_border``
    (its place in :data:`~exo_vision.measure.vesicles.VESICLE_COLUMNS`) when the table had none."""
    table = table.copy()
    if "touches_missing" in table.columns:
        table["touches_missing"] = cut
    else:
        after = table.columns.get_loc("touches_border") + 1 if "touches_border" in table.columns else len(table.columns)
        table.insert(int(after), "touches_missing", np.zeros(len(table), dtype=bool) | np.asarray(cut, dtype=bool))
    return table


def flag_cut_by_missing(
    table: pd.DataFrame, labels: np.ndarray, image_data: ImageData
) -> tuple[pd.DataFrame, list[str]]:
    """A vesicle table (curated, or read from an older run) with the vesicles that pixels without a value cut
    flagged as :func:`measure_micrograph_vesicles` flags them, and the warning that says how many.

    Parameters
    ----------
    table : DataFrame
        Vesicle table of ``labels`` (``label`` and ``touches_border`` columns; ``touches_missing`` is added
        when absent, as in the table of a run older than that column).
    labels : (M, N) ndarray of int
        The vesicle labels.
    image_data : ImageData
        The micrograph they were segmented on, pixels without a value included.

    Returns
    -------
    table : DataFrame
        A copy with ``touches_missing`` set (and ``touches_border`` for those vesicles).
    warnings : list of str
        :func:`cut_by_missing_warnings`: empty when no vesicle touches a pixel without a value.
    """
    _, missing = _without_missing_values(image_data)
    if missing is None:
        return (table if "touches_missing" in table.columns else _with_missing_flags(table, False)), []
    return _flag_cut_by(table, labels, missing), cut_by_missing_warnings(labels, missing)


#: Words of the warning of :func:`cut_by_missing_warnings`, by which a result's reader tells that some vesicles
#: flagged ``touches_border`` were cut by pixels without a value rather than by the image edge.
CUT_BY_MISSING = "touch pixels without a value"


def cut_where(*, missing: bool) -> str:
    """What cut the vesicles flagged ``touches_border``, in words: "cut by the image edge", with "or by pixels
    without a value" when pixels without a value cut some of them (``touches_missing``, :func:`cut_by_missing`)."""
    return "cut by the image edge" + (" or by pixels without a value" if missing else "")


def cut_by_missing(warnings: list[str] | None) -> bool:
    """Whether a result's ``warnings`` say that pixels without a value cut vesicles (flagged ``touches_border``)."""
    return any(CUT_BY_MISSING in w for w in warnings or [])


def cut_by_missing_warnings(labels: np.ndarray, missing: np.ndarray | None) -> list[str]:
    """How many vesicles pixels without a value cut (they leave the statistics, as vesicles cut by the edge)."""
    if missing is None:
        return []
    cut = labels_touching(labels, missing)
    if not cut.size:
        return []
    return [
        f"{cut.size} of the {len(np.unique(labels[labels > 0]))} vesicles {CUT_BY_MISSING} and are left "
        "out of the statistics like vesicles cut by the image edge; if those pixels are dead pixels inside the "
        "micrograph rather than padding, replace them (e.g. with the median of their neighbours) to measure them"
    ]


def analyse_micrograph(
    image_data: ImageData,
    params: TemParameters | None = None,
    *,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
    **changes: Any,
) -> MicrographResult:
    """Segment, measure and summarise every vesicle of a calibrated micrograph.

    Parameters
    ----------
    image_data : ImageData
        The micrograph (``data`` of shape (M, N)) with ``pixel_size_nm`` set,
        as returned by :func:`exo_vision.io.read_image`. Isolated NaN or
        infinite pixels (groups of at most :data:`MAX_FILLED_GROUP_PX`, a
        camera's dead pixels) take the median of their neighbours. Larger
        groups (e.g. the padding of an aligned micrograph) are left out of the
        analysis like a scale bar and the vesicles they cut are flagged
        ``touches_border``. The result says either in its warnings.
    params : TemParameters, optional
        Method, size limits, sensitivity, polarity and statistics settings
        (the defaults of :class:`~exo_vision.tem_parameters.TemParameters` when None).
    threads : int
        CPU threads of the network runtime.
    progress : callable(int, int), optional
        Called as ``progress(done, total)`` while segmenting.
    **changes
        Fields of :class:`~exo_vision.tem_parameters.TemParameters` to change
        (``analyse_micrograph(image, method="classical")``).

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
            f"analyse_micrograph expects an ImageData (from exo_vision.io.read_image), got {type(image_data).__name__}"
        )
    pixel_size_nm = _require_pixel_size(image_data)
    if image_data.data.ndim != 2:
        raise ValueError(
            f"{image_data.path or 'image'}: expected a 2-D micrograph, got shape {image_data.data.shape}; "
            "pick one frame (--frame) or channel first"
        )
    if min(image_data.data.shape) < MIN_IMAGE_SIDE_PX:
        raise ValueError(
            f"{image_data.path or 'image'}: too small to analyse (shape {image_data.data.shape}; at least "
            f"{MIN_IMAGE_SIDE_PX} x {MIN_IMAGE_SIDE_PX} pixels are needed); pass the whole micrograph, not a "
            "line profile, a crop or a thumbnail"
        )
    if params is not None and not isinstance(params, TemParameters):
        raise TypeError(
            f"params must be a TemParameters, got {type(params).__name__}; build one with "
            "TemParameters(...) or TemParameters.from_dict(values)"
        )
    params = params or TemParameters()
    if changes:
        params = params.replace(**changes)
    parameters = params.to_dict()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    original = image_data
    image_data, missing = _without_missing_values(image_data)
    exclude = _annotation_mask(image_data)
    segmentation, exclude = _segment_inside_frame(
        image_data.data,
        exclude,
        missing,
        inside_padding_frame(missing),
        pixel_size_nm=pixel_size_nm,
        method=parameters["method"],
        model=parameters["model"],
        threads=threads,
        min_diameter_nm=parameters["min_diameter_nm"],
        max_diameter_nm=parameters["max_diameter_nm"],
        sensitivity=parameters["sensitivity"],
        polarity=parameters["polarity"],
        progress=progress,
    )
    t1 = time.perf_counter()
    timings["segment_s"] = t1 - start
    # the boxes of the labels, found once (or given by the segmenter) for the measurement, the checks and the overlay
    objects = segmentation.objects if segmentation.objects is not None else ndi.find_objects(segmentation.labels)
    table = measure_micrograph_vesicles(
        segmentation.labels,
        original,
        polarity=segmentation.polarity,
        noise_std=segmentation.parameters.get("pixel_noise_std"),
        objects=objects,
        excluded=~segmentation.analysed_mask,
    )
    if segmentation.confidence is not None and len(table):
        table["confidence"] = np.asarray(segmentation.confidence, dtype=np.float64)[table["label"].to_numpy() - 1]
    split_groups = possibly_split_groups(segmentation.labels, boxes=objects)
    warnings = [
        *segmentation.warnings,
        *split_groups_warnings(split_groups, segmentation.labels, pixel_size_nm=pixel_size_nm, objects=objects),
        *coarse_pixel_warnings(pixel_size_nm),
        *small_field_warnings(image_data, pixel_size_nm),
        *missing_values_warnings(original.data),
        *cut_by_missing_warnings(segmentation.labels, missing),
        *no_vesicle_warnings(
            len(table),
            polarity=str(segmentation.polarity),
            requested=str(parameters["polarity"]),
            rejected=segmentation.rejected,
            calibration_conflict=scale_bar_disagreement_in(original.warnings),
            pixel_size_nm=pixel_size_nm,
        ),
    ]
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
        warnings=warnings,
        split_groups=[tuple(int(v) for v in group) for group in split_groups],
        # left out by the segmenter's default: annotation_mask of the same grey levels, as the overlay needs it
        burnt_in=~mask if exclude is None and mask is not None else None,
    )


def inside_padding_frame(missing: np.ndarray | None) -> tuple[slice, slice] | None:
    """The rows and columns inside the whole edge rows and columns that hold no image (a padding frame of one
    value, :func:`padding_frame`, or of NaN), or None when there are none or what they leave is smaller than
    :data:`MIN_IMAGE_SIDE_PX` on a side.

    Parameters
    ----------
    missing : (M, N) ndarray of bool or None
        The pixels without image content (:func:`missing_pixels`).

    Returns
    -------
    (rows, columns) or None
        Slices of the image inside the frame.
    """
    if missing is None:
        return None
    rows = np.flatnonzero(~missing.all(axis=1))
    cols = np.flatnonzero(~missing.all(axis=0))
    if rows.size == 0 or cols.size == 0:
        return None
    inside = slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
    if inside[0].stop - inside[0].start < MIN_IMAGE_SIDE_PX or inside[1].stop - inside[1].start < MIN_IMAGE_SIDE_PX:
        return None
    if inside == (slice(0, missing.shape[0]), slice(0, missing.shape[1])):
        return None
    return inside


def _segment_inside_frame(
    data: np.ndarray,
    annotations: np.ndarray | None,
    missing: np.ndarray | None,
    inside: tuple[slice, slice] | None,
    **options: Any,
) -> tuple[VesicleSegmentation, np.ndarray | None]:
    """:func:`segment_vesicles` of ``data`` with the annotations and the pixels without a value left out, and the
    mask left out (None: the segmenter's default, the burnt-in annotations).

    Inside a padding frame (``inside``) only the framed micrograph is segmented and the result placed back: the
    frame takes no part in the normalisation, and the micrograph lies on the network's grid as it would without
    the frame (a frame as wide as a few pixels moves every vesicle relative to that grid, which changes outlines).
    """
    if inside is None:
        exclude = None if missing is None else exclude_mask_for(data, annotations) | missing
        return segment_vesicles(data, exclude_mask=exclude, **options), exclude
    crop = np.ascontiguousarray(data[inside])
    exclude_inside = exclude_mask_for(crop, None if annotations is None else annotations[inside])
    if missing is not None:
        exclude_inside = exclude_inside | missing[inside]
    found = segment_vesicles(crop, exclude_mask=exclude_inside, **options)
    exclude = np.ones(data.shape, bool)
    exclude[inside] = exclude_inside
    return _placed(found, inside, data.shape, float(options["pixel_size_nm"])), exclude


def _placed(
    found: VesicleSegmentation, inside: tuple[slice, slice], shape: tuple[int, int], pixel_size_nm: float
) -> VesicleSegmentation:
    """A segmentation of ``image[inside]`` as one of the whole image (nothing found outside ``inside``)."""
    rows, cols = inside
    labels = np.zeros(shape, found.labels.dtype)
    labels[inside] = found.labels
    analysed = np.zeros(shape, bool)
    analysed[inside] = found.analysed_mask
    rejected = found.rejected.copy()
    if len(rejected):
        rejected["centroid_x_nm"] = rejected["centroid_x_nm"] + cols.start * pixel_size_nm
        rejected["centroid_y_nm"] = rejected["centroid_y_nm"] + rows.start * pixel_size_nm
    objects = found.objects
    if objects is not None:
        objects = [
            None
            if box is None
            else (
                slice(box[0].start + rows.start, box[0].stop + rows.start),
                slice(box[1].start + cols.start, box[1].stop + cols.start),
            )
            for box in objects
        ]
    return dataclasses.replace(found, labels=labels, analysed_mask=analysed, rejected=rejected, objects=objects)


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
