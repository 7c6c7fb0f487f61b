"""The ``unet`` segmentation method: network maps at the working scale, instances, full-resolution outlines.

Flow: the image goes to the model's working scale (nm/px) and is normalised
(:mod:`~exo_vision.segmentation.learned.network_input`, the same function
training used); the network predicts foreground, boundary and distance maps tile
by tile; a seeded watershed turns them into instances; each instance's outline is
then placed at full resolution where the enlarged foreground probability crosses
its threshold, inside the instance's own territory, so diameters do not carry the
working scale's coarseness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from functools import partial
from typing import Any

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.segmentation import expand_labels

from exo_vision.segmentation.learned.card_check import TRAINED_PIXEL_SIZES_KEY
from exo_vision.segmentation.learned.coarse_outlines import (
    DEFAULT_BIAS_WORDS,
    DISK_SQUARED_SLACK_PX2,
    MEMBRANE_THICKNESS_NM,
    REAL_DATA_WORDS,
    VARIANT_BIAS_WORDS,
    half_membrane_limit_nm,
)
from exo_vision.segmentation.learned.network_input import normalise_for_network, to_working_scale
from exo_vision.segmentation.learned.parameters import FLIP_COUNTS, GRID_SHIFT_COUNTS, InstanceThresholds
from exo_vision.segmentation.learned.postprocess import fuse_scales, large_convex_instances, maps_to_instances
from exo_vision.segmentation.learned.runtime import predict_maps, session_for
from exo_vision.segmentation.learned.weights import ModelCard, load_card
from exo_vision.segmentation.morphology_ops import labels_touching

REASON_TOO_SMALL = "smaller than min_diameter_nm"
REASON_TOO_LARGE = "larger than max_diameter_nm"
REASON_ANNOTATION = "on the scale bar, its label or the data strip"
REASON_LOW_CONFIDENCE = "low network confidence (mean foreground probability under the threshold band)"

#: A fine-tuned model is warned of on a micrograph whose pixel size lies more than this factor outside the range
#: of pixel sizes it was trained on.
TRAINED_RANGE_FACTOR = 2.0
#: Input flips of test-time augmentation, in the order they are added (``InstanceThresholds.flips``).
FLIP_AXES: tuple[tuple[int, ...], ...] = ((), (1,), (0,), (0, 1))
#: Input offsets of ``InstanceThresholds.grid_shifts`` (rows, columns) in units of half the network's pooling
#: period, in the order they are added.
GRID_SHIFT_STEPS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (1, 0), (0, 1))
#: An instance whose mean foreground probability is not this far above the foreground
#: threshold is reported as rejected.
MIN_MEAN_PROBABILITY_MARGIN = 0.1
#: An instance with more than this fraction of its area on the excluded annotations is rejected.
MAX_ANNOTATION_FRACTION = 0.2
#: How far (working-scale pixels) each instance's territory reaches into the background
#: for its full-resolution outline.
TERRITORY_PX = 2
#: Sigma (working-scale px) of the Gaussian that smooths a territory's signed distance before it is enlarged: a
#: contact drawn by the watershed zigzags by single working pixels (addenda 24-26 of the decision rules).
CONTACT_SMOOTHING_PX = 1.0
#: The foreground threshold moves by this much per unit of sensitivity away from 0.5 (sensitivity 1
#: lowers the model's own threshold by 0.2, sensitivity 0 raises it by 0.2).
SENSITIVITY_THRESHOLD_SPAN = 0.4
#: ... and stays within these bounds (a threshold near 0 or 1 keeps noise or loses every vesicle).
FOREGROUND_THRESHOLD_BOUNDS = (0.1, 0.9)
#: Label ids below this fit the 16-bit image cv2 dilates fastest (float32 above it, exact below 2**24).
UINT16_LABEL_LIMIT = 2**16
#: The polarity is read against a ring this many px wide around the instances (the dilation square's
#: side is 2 * 4 + 1 px): wider than a membrane, close enough to be the local stain.
POLARITY_RING_SQUARE_PX = 9


def coarse_outline_warning(pixel_size_nm: float, thresholds: InstanceThresholds) -> str | None:
    """The warning for a micrograph too coarse for the outer half membrane, or None.

    The figures quoted are ``benchmarks/tem_coarse_sizes.py``'s for both ways of making a coarse generated
    micrograph (rendered at 1 nm/px and downscaled, or rendered at the coarse pixel size), with the real
    FRU-Net patches' result (:mod:`~exo_vision.segmentation.learned.coarse_outlines`; docs/benchmarks.md).
    """
    limit = half_membrane_limit_nm()
    if thresholds.subpixel_membrane or pixel_size_nm <= limit:
        return None
    return (
        f"pixel size {pixel_size_nm:.3g} nm/px is coarser than {limit:.2f} nm/px: the outer half of the stained "
        f"membrane (2 nm) is under one pixel and is not added, so outlines come out small ({DEFAULT_BIAS_WORDS}; "
        f"{REAL_DATA_WORDS}). Acquire at {limit:.2f} nm/px or finer, or segment with a model made by "
        f"`exo-vision model --subpixel-membrane` (on the same scenes: {VARIANT_BIAS_WORDS})"
    )


def dark_vesicles_warning(polarity: str, thresholds: InstanceThresholds) -> str | None:
    """The warning for vesicles darker than the stain segmented as read, or None.

    The figures quoted are ``benchmarks/tem_real_views.py``'s and the decision
    rules' addendum 56 (the models' README, "Dark vesicles read inverted").
    """
    if polarity != "dark" or thresholds.invert_dark:
        return None
    return (
        "the vesicles read darker than the stain: the default network finds fewer of them on such micrographs "
        "(the FRU-Net full fields stored inverted: 25 of 39 vesicles found, against 29 as read). A model made by "
        "`exo-vision model --invert-dark` segments them with reversed grey levels (one more network pass; on those "
        "fields it finds the 29 again); check the polarity on the overlay first"
    )


def trained_pixel_range(card: ModelCard) -> tuple[float, float] | None:
    """The smallest and largest pixel size (nm) of the micrographs a model was fine-tuned on, or None.

    Read from the card's ``trained_pixel_size_nm``; a card written before that
    was recorded gives its training micrographs' pixel sizes
    (``training.data.training_micrographs``). None for a model trained on
    generated micrographs only (the shipped ones).
    """
    recorded = card.card.get(TRAINED_PIXEL_SIZES_KEY)
    if recorded is not None:  # checked on loading: [smallest, largest], both above 0
        return float(recorded[0]), float(recorded[1])
    data = (card.card.get("training") or {}).get("data") or {}
    entries = data.get("training_micrographs") if isinstance(data, dict) else None
    sizes = [
        float(m["pixel_size_nm"])
        for m in (entries if isinstance(entries, list) else [])
        if isinstance(m, dict)
        and isinstance(m.get("pixel_size_nm"), (int, float))
        and not isinstance(m.get("pixel_size_nm"), bool)
        and m["pixel_size_nm"] > 0
    ]
    return (min(sizes), max(sizes)) if sizes else None


def trained_range_warning(pixel_size_nm: float, card: ModelCard) -> str | None:
    """The warning for a micrograph whose pixel size lies more than :data:`TRAINED_RANGE_FACTOR` times outside the
    range a fine-tuned model was trained on (:func:`trained_pixel_range`), or None."""
    span = trained_pixel_range(card)
    if span is None:
        return None
    low, high = span
    if low / TRAINED_RANGE_FACTOR <= pixel_size_nm <= high * TRAINED_RANGE_FACTOR:
        return None
    trained = f"{low:.3g} nm/px" if f"{low:.3g}" == f"{high:.3g}" else f"{low:.3g}-{high:.3g} nm/px"
    return (
        f"model {card.name} ({card.onnx_path.name}) was trained on micrographs of {trained}; this "
        f"micrograph's pixel size, {pixel_size_nm:.3g} nm/px, is more than {TRAINED_RANGE_FACTOR:g}x outside that "
        "range, where its validation figures say nothing. Check the calibration, or use a model fine-tuned on "
        "micrographs near this pixel size"
    )


def segmentation_warnings(pixel_size_nm: float, polarity: str, thresholds: InstanceThresholds) -> list[str]:
    """Every warning of :func:`coarse_outline_warning` and :func:`dark_vesicles_warning` that applies."""
    found = (coarse_outline_warning(pixel_size_nm, thresholds), dark_vesicles_warning(polarity, thresholds))
    return [w for w in found if w]


def foreground_threshold(base: float, sensitivity: float) -> float:
    """Foreground threshold for a sensitivity in [0, 1]: 0.5 gives the model's own, 1 the most permissive."""
    return float(np.clip(base + SENSITIVITY_THRESHOLD_SPAN * (0.5 - sensitivity), *FOREGROUND_THRESHOLD_BOUNDS))


def _upsample(map_small: np.ndarray, shape: tuple[int, int], interpolation: int) -> np.ndarray:
    return cv2.resize(map_small, (shape[1], shape[0]), interpolation=interpolation)


def _sample(crop: np.ndarray, maps: tuple[np.ndarray, np.ndarray], interpolation: int) -> np.ndarray:
    """``crop`` sampled at the (x, y) positions ``maps`` (edge values repeated beyond it)."""
    return cv2.remap(crop, maps[0], maps[1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def _signed_distance(region: np.ndarray) -> np.ndarray:
    """Distance to the edge of ``region`` in pixels, positive inside and negative outside, smoothed (float32).

    Its zero level lies on the pixel edges of the region's border, smoothed by a Gaussian of
    :data:`CONTACT_SMOOTHING_PX`, so sampled with linear interpolation at a finer grid it gives the border
    as a curve rather than a staircase of whole pixels.
    """
    if region.all():
        return np.ones(region.shape, np.float32)
    inside = ndi.distance_transform_edt(region)
    outside = ndi.distance_transform_edt(~region)
    return ndi.gaussian_filter((inside - outside).astype(np.float32), CONTACT_SMOOTHING_PX, mode="nearest")


def full_resolution_labels(
    labels_small: np.ndarray, foreground_small: np.ndarray, *, shape: tuple[int, int], threshold: float
) -> np.ndarray:
    """Outlines at full resolution: the enlarged foreground map above ``threshold`` within each territory.

    Territories (instances grown by :data:`TERRITORY_PX`) are enlarged as smoothed signed distances with
    linear interpolation, so where two instances touch the line between them is a smooth curve, not a
    staircase of working-scale pixels.

    Parameters
    ----------
    labels_small : (m, n) ndarray of int32
        Instances at the working scale.
    foreground_small : (m, n) ndarray of float32
        Foreground probability at the working scale.
    shape : (int, int)
        Full-resolution shape (M, N).
    threshold : float
        Foreground threshold.

    Returns
    -------
    (M, N) ndarray of int32
        Same label ids; an instance lost entirely keeps its nearest-neighbour footprint.
    """
    if labels_small.max() == 0:
        return np.zeros(shape, np.int32)
    territory = expand_labels(labels_small, distance=TERRITORY_PX)
    if shape == labels_small.shape:
        return np.where(foreground_small > threshold, territory, 0).astype(np.int32)
    scale_y, scale_x = shape[0] / labels_small.shape[0], shape[1] / labels_small.shape[1]
    labels = np.zeros(shape, np.int32)
    small_m, small_n = labels_small.shape
    for label, box in enumerate(ndi.find_objects(territory), start=1):
        if box is None:
            continue
        # the instance's box at full resolution, sampled where cv2.resize would sample
        rows = np.arange(int(box[0].start * scale_y), min(int(np.ceil(box[0].stop * scale_y)), shape[0]))
        cols = np.arange(int(box[1].start * scale_x), min(int(np.ceil(box[1].stop * scale_x)), shape[1]))
        if rows.size == 0 or cols.size == 0:
            continue
        # a crop of the working-scale maps one pixel wider than the box, for the interpolation
        r0, r1 = max(box[0].start - 1, 0), min(box[0].stop + 1, small_m)
        c0, c1 = max(box[1].start - 1, 0), min(box[1].stop + 1, small_n)
        src_y = np.clip((rows + 0.5) / scale_y - 0.5, 0, small_m - 1) - r0
        src_x = np.clip((cols + 0.5) / scale_x - 0.5, 0, small_n - 1) - c0
        map_x, map_y = np.meshgrid(src_x.astype(np.float32), src_y.astype(np.float32))
        maps = (map_x, map_y)
        fg = _sample(foreground_small[r0:r1, c0:c1], maps, cv2.INTER_LINEAR) > threshold
        inside = fg & (_sample(_signed_distance(territory[r0:r1, c0:c1] == label), maps, cv2.INTER_LINEAR) > 0)
        if not inside.any():  # an instance the threshold removes keeps its coarse footprint
            inside = _sample((labels_small[r0:r1, c0:c1] == label).view(np.uint8), maps, cv2.INTER_NEAREST) > 0
        block = labels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        block[inside & (block == 0)] = label
    return labels


def membrane_offset_map(foreground: np.ndarray, *, threshold: float, radius_px: float) -> np.ndarray:
    """A map whose zero level lies ``radius_px`` outside the foreground map's ``threshold`` contour (float32).

    ``(foreground - threshold) + radius_px * |grad foreground|``: near the contour the foreground changes by about
    its gradient per pixel, so this is the first-order signed distance to the contour (in units of the gradient)
    moved outwards by ``radius_px``. Unlike a dilation of the thresholded mask it moves an outline by a fraction
    of a pixel too, which is what half a membrane is on a coarse grid.

    Parameters
    ----------
    foreground : (m, n) ndarray of float32
        Foreground probability at the working scale.
    threshold : float
        Foreground threshold (its contour is the network's outline).
    radius_px : float
        How far out to move the outline, working-scale pixels.

    Returns
    -------
    (m, n) ndarray of float32
        Positive inside the moved outline.
    """
    fg = np.asarray(foreground, dtype=np.float32)
    gy, gx = np.gradient(fg)
    return ((fg - threshold) + radius_px * np.hypot(gy, gx)).astype(np.float32)


def grow_labels(labels: np.ndarray, *, radius_px: float) -> np.ndarray:
    """Grow every instance into the background by ``radius_px`` (a disk), never over another instance.

    Where two instances grow into the same background pixel the larger label wins.
    """
    if radius_px < 0.5 or labels.max() == 0:
        return labels
    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (yy**2 + xx**2 <= radius_px**2 + DISK_SQUARED_SLACK_PX2).astype(np.uint8)
    # cv2 dilates 16-bit or float images: 16 bits hold the ids of almost every micrograph
    work_type = np.uint16 if labels.max() < UINT16_LABEL_LIMIT else np.float32  # float32 is exact for ids below 2**24
    grown = cv2.dilate(labels.astype(work_type), disk)
    return np.where(labels == 0, grown, labels).astype(labels.dtype, copy=False)


def _polarity_of(image: np.ndarray, labels: np.ndarray, exclude: np.ndarray | None = None) -> str:
    """Polarity from the labels: "bright" when the vesicles' median grey level lies above their surroundings'.

    Labels touching (8-connected) ``exclude`` (the scale bar, its label, the data strip, pixels without a value)
    are left out, and so are the excluded pixels from the surroundings: an object hanging from a burnt-in bar is
    read against the bar, not the stain. "bright" when no label is left.
    """
    if exclude is not None and (exclude.shape != labels.shape or not exclude.any()):
        exclude = None  # nothing excluded (an empty mask of any shape means that, as for the network's input)
    if exclude is not None and labels.max() > 0:
        labels = np.where(np.isin(labels, labels_touching(labels, exclude)), 0, labels)
    if labels.max() == 0:
        return "bright"
    inside = labels > 0
    square = np.ones((POLARITY_RING_SQUARE_PX, POLARITY_RING_SQUARE_PX), np.uint8)
    ring = cv2.dilate(inside.view(np.uint8), square).astype(bool) & ~inside
    if exclude is not None:
        ring &= ~exclude
    if not ring.any():
        return "bright"
    return "bright" if float(np.median(image[inside])) >= float(np.median(image[ring])) else "dark"


def _instance_masks(labels: np.ndarray) -> list[tuple[tuple[slice, slice], np.ndarray] | None]:
    """Each label's box (``ndi.find_objects``) and its pixels in that box, index label - 1; None for an absent id."""
    return [
        None if box is None else (box, labels[box] == label)
        for label, box in enumerate(ndi.find_objects(labels), start=1)
    ]


def _centroid_px(instance: tuple[tuple[slice, slice], np.ndarray] | None) -> tuple[float, float]:
    """(row, column) centroid of one of :func:`_instance_masks`' entries, px; NaN for an absent id."""
    if instance is None:
        return float("nan"), float("nan")
    box, mask = instance
    rows, cols = np.nonzero(mask)
    return float(rows.mean() + box[0].start), float(cols.mean() + box[1].start)


def _reject_and_renumber(
    labels: np.ndarray,
    *,
    pixel_size_nm: float,
    min_diameter_nm: float,
    max_diameter_nm: float,
    mean_probability: np.ndarray,
    min_mean_probability: float,
    annotation_fraction: np.ndarray,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, list[tuple[slice, slice]]]:
    """Apply the size, annotation and confidence rules; number the survivors 1..K.

    Every step works in each label's box, so the image is passed over once (to find the boxes).

    Returns the renumbered labels, the rejected candidates, the survivors' ``mean_probability`` (by new id) and
    the renumbered labels' boxes (``ndi.find_objects`` of them).
    """
    instances = _instance_masks(labels)
    n = len(instances)
    area = np.array([0 if inst is None else np.count_nonzero(inst[1]) for inst in instances], dtype=np.float64)
    diameter_nm = 2 * np.sqrt(area / np.pi) * pixel_size_nm
    reasons: list[str | None] = []
    for k in range(n):
        if area[k] == 0:
            reasons.append("")
        elif annotation_fraction[k] > MAX_ANNOTATION_FRACTION:
            reasons.append(REASON_ANNOTATION)
        elif diameter_nm[k] < min_diameter_nm:
            reasons.append(REASON_TOO_SMALL)
        elif diameter_nm[k] > max_diameter_nm:
            reasons.append(REASON_TOO_LARGE)
        elif mean_probability[k] < min_mean_probability:
            reasons.append(REASON_LOW_CONFIDENCE)
        else:
            reasons.append(None)
    keep = np.array([r is None for r in reasons], bool)
    lut = np.zeros(n + 1, np.int32)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    renumbered = labels.astype(np.int32, copy=True)
    for k, inst in enumerate(instances, start=1):
        if inst is not None and lut[k] != k:
            renumbered[inst[0]][inst[1]] = lut[k]
    rejected_ids = [k for k in range(n) if reasons[k]]
    centres = [_centroid_px(instances[k]) for k in rejected_ids]
    rejected = pd.DataFrame(
        {
            "centroid_x_nm": pd.Series([c[1] * pixel_size_nm for c in centres], dtype="float64"),
            "centroid_y_nm": pd.Series([c[0] * pixel_size_nm for c in centres], dtype="float64"),
            "equivalent_diameter_nm": pd.Series([diameter_nm[k] for k in rejected_ids], dtype="float64"),
            "reason": pd.Series([reasons[k] for k in rejected_ids], dtype="object"),
        }
    )
    boxes = [inst[0] for inst, kept in zip(instances, keep, strict=True) if kept and inst is not None]
    return renumbered, rejected, np.asarray(mean_probability, dtype=np.float64)[keep], boxes


def _excluded_at(exclude: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """The excluded annotations resampled to ``shape``, or None when nothing is excluded."""
    if not exclude.any():
        return None
    return cv2.resize(exclude.view(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_AREA) > 0


def network_maps(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    exclude: np.ndarray,
    working_scale_nm: float,
    card: ModelCard,
    flips: int = 1,
    grid_shifts: int = 1,
    window_px: int = 0,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The network's maps for ``image`` seen at ``working_scale_nm``, averaged over ``flips`` input flips and
    ``grid_shifts`` input offsets (:func:`flip_averaged_maps`).

    ``window_px`` is the normalisation window (:func:`normalise_for_network`; 0: the whole image).

    Returns
    -------
    maps : (3, m, n) ndarray of float32
        Foreground, boundary and normalised distance.
    excluded : (m, n) ndarray of bool or None
        The excluded annotations on that grid (their pixels were set to the
        median grey level before normalisation).
    scale_nm : float
        The grid's actual pixel size, nm.
    """
    small = to_working_scale(image, pixel_size_nm=pixel_size_nm, working_scale_nm=working_scale_nm)
    excluded = _excluded_at(exclude, small.shape)
    if excluded is not None:
        small = small.copy()
        small[excluded] = float(np.median(small[~excluded])) if (~excluded).any() else 0.0
    net_input = normalise_for_network(small, valid=None if excluded is None else ~excluded, window_px=window_px)
    maps = flip_averaged_maps(
        session_for(card, threads=threads),
        net_input,
        multiple_of=card.multiple_of,
        flips=flips,
        grid_shifts=grid_shifts,
        progress=progress,
    )
    return maps, excluded, pixel_size_nm * image.shape[1] / small.shape[1]


def flip_averaged_maps(
    session,
    net_input: np.ndarray,
    *,
    multiple_of: int,
    flips: int = 1,
    grid_shifts: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The network's maps averaged over the first ``flips`` of :data:`FLIP_AXES` and the first ``grid_shifts``
    offsets of :data:`GRID_SHIFT_STEPS`, each moved back.

    An offset of ``(a, b)`` steps pads the input at its top by ``a * multiple_of / 2`` rows and at its left by
    ``b * multiple_of / 2`` columns (mirrored) and drops them from the maps: the network then sees every pixel
    at another phase of its pooling grid. ``flips = grid_shifts = 1`` is one plain pass (:func:`predict_maps`).
    Progress counts the tiles of every pass.
    """
    if flips not in FLIP_COUNTS:
        raise ValueError(f"the model card's 'flips' must be 1, 2 or 4, got {flips}")
    if grid_shifts not in GRID_SHIFT_COUNTS:
        raise ValueError(f"the model card's 'grid_shifts' must be 1, 2 or 4, got {grid_shifts}")
    half = multiple_of // 2
    passes = [(axes, step) for axes in FLIP_AXES[:flips] for step in GRID_SHIFT_STEPS[:grid_shifts]]

    def one_pass(k: int, axes: tuple[int, ...], step: tuple[int, int]) -> np.ndarray:
        def counted(done: int, count: int) -> None:
            if progress is not None:
                progress(k * count + done, len(passes) * count)

        top, left = step[0] * half, step[1] * half
        seen = np.flip(net_input, axes)
        if top or left:
            seen = np.pad(seen, ((top, 0), (left, 0)), mode="symmetric")
        maps = predict_maps(session, np.ascontiguousarray(seen), multiple_of=multiple_of, progress=counted)
        return np.flip(maps[:, top:, left:], tuple(a + 1 for a in axes))

    total = sum(one_pass(k, axes, step) for k, (axes, step) in enumerate(passes))
    return np.ascontiguousarray(total / len(passes), dtype=np.float32)


def mean_on_grid(maps: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The mean of two passes' (3, m, n) maps on the grid of ``maps``; ``other`` is resampled linearly to it."""
    shape = maps.shape[1:]
    resampled = np.stack([_upsample(m, shape, cv2.INTER_LINEAR) for m in other])
    return ((maps + resampled) * np.float32(0.5)).astype(np.float32)


def two_scale_instances(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    exclude: np.ndarray,
    card: ModelCard,
    thresholds: InstanceThresholds,
    min_diameter_nm: float,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float]:
    """Instances at the working scale, with large convex vesicles taken from a coarse pass.

    The fine pass (the model's working scale) resolves small vesicles and
    contacts; the network outlines vesicles much larger than its training
    patches less surely there (their bodies break into pieces), so a second pass
    at ``thresholds.coarse_factor`` times the working scale supplies the
    vesicles of at least ``thresholds.coarse_min_diameter_nm`` that it sees as
    one convex object (:func:`large_convex_instances`, :func:`fuse_scales`).

    Returns
    -------
    labels : (m, n) ndarray of int32
        Instances on the fine grid.
    foreground : (m, n) ndarray of float32
        Foreground probability on the fine grid (the coarse pass's where it
        supplied the instance).
    excluded : (m, n) ndarray of bool or None
        Excluded annotations on the fine grid.
    scale_nm : float
        The fine grid's pixel size, nm.
    """
    network_pass = partial(
        network_maps,
        image,
        pixel_size_nm=pixel_size_nm,
        exclude=exclude,
        card=card,
        flips=thresholds.flips,
        window_px=thresholds.normalise_window_px,
        threads=threads,
    )
    maps, excluded, scale_nm = network_pass(
        working_scale_nm=card.working_scale_nm, grid_shifts=thresholds.grid_shifts, progress=progress
    )
    if thresholds.second_scale_factor > 0:
        second, _, _ = network_pass(working_scale_nm=card.working_scale_nm * thresholds.second_scale_factor)
        maps = mean_on_grid(maps, second)
    min_area_px = max(np.pi * (0.5 * min_diameter_nm / scale_nm) ** 2 * 0.5, 2.0)
    labels = maps_to_instances(maps, min_area_px=min_area_px, thresholds=thresholds)
    foreground = maps[0]
    if thresholds.coarse_factor <= 0:
        return labels, foreground, excluded, scale_nm
    coarse_maps, _, coarse_scale_nm = network_pass(working_scale_nm=card.working_scale_nm * thresholds.coarse_factor)
    coarse_min_px = min_area_px * (scale_nm / coarse_scale_nm) ** 2
    coarse = maps_to_instances(coarse_maps, min_area_px=max(coarse_min_px, 2.0), thresholds=thresholds)
    large = large_convex_instances(
        coarse,
        min_area_px=np.pi * (0.5 * thresholds.coarse_min_diameter_nm / coarse_scale_nm) ** 2,
        min_solidity=thresholds.coarse_min_solidity,
    )
    if large.max() == 0:
        return labels, foreground, excluded, scale_nm
    shape = labels.shape
    large_fine = _upsample(large, shape, cv2.INTER_NEAREST)
    coarse_fg = _upsample(coarse_maps[0], shape, cv2.INTER_LINEAR)
    reach = expand_labels(large_fine, distance=TERRITORY_PX) > 0
    foreground = np.where(reach, np.maximum(foreground, coarse_fg), foreground).astype(np.float32)
    return fuse_scales(labels, large_fine), foreground, excluded, scale_nm


def inverted_grey(image: np.ndarray) -> np.ndarray:
    """``image`` with its grey levels reversed (maximum plus minimum minus each pixel), same range and dtype."""
    img = np.asarray(image)
    if np.issubdtype(img.dtype, np.integer):  # the sum of the extremes may not fit the dtype
        return (int(img.max()) + int(img.min()) - img.astype(np.int64)).astype(img.dtype)
    return (img.max() + img.min() - img).astype(img.dtype, copy=False)


def _outlines(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    exclude: np.ndarray,
    card: ModelCard,
    thresholds: InstanceThresholds,
    min_diameter_nm: float,
    max_diameter_nm: float,
    threads: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, list[tuple[slice, slice]], float]:
    """Both network passes, full-resolution outlines with the outer half membrane, and the rejected candidates.

    Returns the full-resolution labels, the rejected candidates, each label's mean foreground probability
    (index label - 1), the labels' boxes (``ndi.find_objects`` of them) and the working scale (nm/px).
    """
    shape = image.shape
    labels_small, foreground_small, excluded_small, scale_nm = two_scale_instances(
        image,
        pixel_size_nm=pixel_size_nm,
        exclude=exclude,
        card=card,
        thresholds=thresholds,
        min_diameter_nm=min_diameter_nm,
        threads=threads,
        progress=progress,
    )
    n = int(labels_small.max())
    index = np.arange(1, n + 1)
    mean_probability = np.asarray(ndi.mean(foreground_small, labels_small, index)) if n else np.zeros(0)
    annotation_fraction = (
        np.asarray(ndi.mean(excluded_small.astype(np.float32), labels_small, index))
        if n and excluded_small is not None
        else np.zeros(n)
    )
    half_membrane_nm = 0.5 * MEMBRANE_THICKNESS_NM
    if thresholds.subpixel_membrane and half_membrane_nm < pixel_size_nm:
        # a dilation cannot move an outline by less than a pixel: move the contour on the working grid instead
        outside = membrane_offset_map(
            foreground_small, threshold=thresholds.foreground, radius_px=half_membrane_nm / scale_nm
        )
        labels = full_resolution_labels(labels_small, outside, shape=shape, threshold=0.0)
    else:
        labels = full_resolution_labels(labels_small, foreground_small, shape=shape, threshold=thresholds.foreground)
        labels = grow_labels(labels, radius_px=half_membrane_nm / pixel_size_nm)
    labels, rejected, confidence, boxes = _reject_and_renumber(
        labels,
        pixel_size_nm=pixel_size_nm,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        mean_probability=mean_probability,
        min_mean_probability=thresholds.foreground + MIN_MEAN_PROBABILITY_MARGIN,
        annotation_fraction=annotation_fraction,
    )
    return labels, rejected, confidence, boxes, float(scale_nm)


def segment_unet(
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    exclude: np.ndarray,
    min_diameter_nm: float = 20.0,
    max_diameter_nm: float = 500.0,
    sensitivity: float = 0.5,
    polarity: str = "auto",
    model: str | ModelCard | None = None,
    threads: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, pd.DataFrame, str, dict[str, Any]]:
    """Segment vesicles with the learned model.

    Parameters
    ----------
    image : (M, N) ndarray of float32
        Validated micrograph.
    pixel_size_nm : float
        Its pixel edge length, nm.
    exclude : (M, N) ndarray of bool
        Scale bar, label and data strip: not analysed.
    min_diameter_nm, max_diameter_nm : float
        Size limits of reported vesicles (equivalent diameter, nm).
    sensitivity : float
        0 (strict) to 1 (permissive); moves the foreground threshold.
    polarity : {"auto", "bright", "dark"}
        Vesicles lighter ("bright") or darker ("dark") than the stain; "auto"
        reads it from the first pass's outlines and reports it. With the card's
        ``invert_dark``, a "dark" micrograph is segmented inverted (for "auto",
        by a second pass that replaces the first).
    model : str, Path or ModelCard, optional
        The model (default: the shipped ``ev-unet``).
    threads : int
        onnxruntime CPU threads.
    progress : callable(int, int), optional
        Called after each network tile (a second pass counts its tiles again from 0).

    Returns
    -------
    labels, rejected, polarity, parameters
        Full-resolution labels, the rejected candidates with reasons, the
        polarity, and the derived parameters (model, working scale, thresholds,
        ``network_input``: "inverted" or "as read", ``instance_confidence``: each label's mean foreground
        probability on the network's grid, index label - 1; ``instance_boxes``: ``scipy.ndimage.find_objects``
        of the labels).
    """
    card = model if isinstance(model, ModelCard) else load_card(model)
    base = card.thresholds
    thresholds = replace(base, foreground=foreground_threshold(base.foreground, sensitivity))
    outline = partial(
        _outlines,
        pixel_size_nm=pixel_size_nm,
        exclude=exclude,
        card=card,
        thresholds=thresholds,
        min_diameter_nm=min_diameter_nm,
        max_diameter_nm=max_diameter_nm,
        threads=threads,
        progress=progress,
    )
    inverted = thresholds.invert_dark and polarity == "dark"
    labels, rejected, confidence, boxes, scale_nm = outline(inverted_grey(image) if inverted else image)
    found = _polarity_of(image, labels, np.asarray(exclude, bool)) if polarity == "auto" else polarity
    if thresholds.invert_dark and polarity == "auto" and found == "dark":
        # the network learnt vesicles lighter than the stain about twice as often as darker ones
        inverted = True
        labels, rejected, confidence, boxes, scale_nm = outline(inverted_grey(image))
    parameters = {
        "model": card.summary(),
        "working_scale_nm": float(scale_nm),
        "membrane_thickness_nm": MEMBRANE_THICKNESS_NM,
        "thresholds": {
            **asdict(thresholds),
            "min_mean_probability": thresholds.foreground + MIN_MEAN_PROBABILITY_MARGIN,
        },
        "pixel_noise_std": None,
        "network_input": "inverted" if inverted else "as read",
        "instance_confidence": confidence,
        "instance_boxes": boxes,
    }
    return labels, rejected, found, parameters
