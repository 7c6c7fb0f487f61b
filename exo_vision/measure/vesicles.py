"""Per-vesicle measurements in physical units.

One row per vesicle, ``label`` first, every length in nm and area in nm².
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.segmentation import relabel_sequential

from exo_vision._shared.validation import check_pixel_size
from exo_vision.measure.morphology import MORPHOLOGY_COLUMNS, classify_morphology, cup_score
from exo_vision.segmentation.classical.preprocess import pixel_noise_std

#: Fewest hull points that enclose an area (fewer: the pixels lie on a line).
MIN_POLYGON_POINTS = 3
#: A disk's squared diameter is this many times its area over pi: d = sqrt(4 A / pi).
DISK_DIAMETER_SQ_PER_AREA_PI = 4.0
#: The axes of the ellipse with the region's second moments are this many times the square roots
#: of the moments' eigenvalues (skimage's major_axis_length convention).
AXIS_PER_SQRT_MOMENT = 4.0
#: Circularity is this many times pi times area over perimeter squared (1 for a disk).
CIRCULARITY_FACTOR = 4
#: Label ids above this many times the number of pixels are renumbered consecutively to be measured.
SPARSE_LABELS_PER_PIXEL = 1
#: The image's pixel noise is read on every k-th row, k chosen to leave about this many rows.
NOISE_SAMPLE_ROWS = 512
#: The noise unit of the cup score is never below this fraction of the image's contrast (its 0.5-99.5
#: percentile range): on a noise-free image the noise reads 0, and float rounding alone made cups of flat disks.
CONTRAST_NOISE_FLOOR = 1e-3
#: Percentiles of the contrast range above.
CONTRAST_PERCENTILES = (0.5, 99.5)
#: ... nor, on an integer image, below the noise of rounding to whole grey levels (the SD of a uniform
#: error over one level, 1 / sqrt(12)): where the noise is under a grey level the neighbour differences
#: are mostly 0, and their median absolute deviation reads 0.
ROUNDING_NOISE_SD = 12.0**-0.5

#: Columns of the table returned by :func:`measure_vesicles`, in order.
VESICLE_COLUMNS: tuple[str, ...] = (
    "label",
    "centroid_x_nm",
    "centroid_y_nm",
    "area_nm2",
    "perimeter_nm",
    "equivalent_diameter_nm",
    "feret_max_nm",
    "feret_min_nm",
    "major_axis_nm",
    "minor_axis_nm",
    "eccentricity",
    "circularity",
    "solidity",
    "mean_intensity",
    "cup_score",
    "morphology",
    "touches_border",
    "touches_missing",
    "touches_other",
    "confidence",
    "pixel_size_nm",
    "pixel_size_source",
)

_DTYPES = {
    "label": "int32",
    "morphology": "object",
    "touches_border": "bool",
    "touches_missing": "bool",
    "touches_other": "bool",
    "pixel_size_source": "object",
}


def touches_other(labels: np.ndarray, value: int, box: tuple[slice, slice]) -> bool:
    """Whether label ``value`` (bounding box ``box``) has a 4-connected neighbour pixel of another non-zero label."""
    m, n = labels.shape
    grown = (
        slice(max(box[0].start - 1, 0), min(box[0].stop + 1, m)),
        slice(max(box[1].start - 1, 0), min(box[1].stop + 1, n)),
    )
    crop = labels[grown]
    mine = crop == value
    other = (crop != value) & (crop > 0)
    return bool(
        (mine[:, :-1] & other[:, 1:]).any()
        or (mine[:, 1:] & other[:, :-1]).any()
        or (mine[:-1] & other[1:]).any()
        or (mine[1:] & other[:-1]).any()
    )


def touching_labels(labels: np.ndarray) -> np.ndarray:
    """Labels that share a 4-connected edge with another non-zero label (sorted, unique).

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.

    Returns
    -------
    ndarray of int
        Every label with at least one pixel next to a pixel of a different non-zero label.
    """
    lab = np.asarray(labels)
    if lab.size == 0 or lab.max() <= 0:
        return np.zeros(0, np.int64)
    boxes = ndi.find_objects(lab.astype(np.int64, copy=False))
    return np.array([v for v, box in enumerate(boxes, start=1) if box and touches_other(lab, v, box)], np.int64)


def empty_vesicle_table() -> pd.DataFrame:
    """A table with every :data:`VESICLE_COLUMNS` column and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "float64")) for c in VESICLE_COLUMNS})


def feret_min_max(region: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum caliper (Feret) width of a pixel region, in pixels.

    Computed on the convex hull of the pixel *corners*, so a single pixel is
    1 x 1 (rotating calipers over the hull edges for the minimum).

    Parameters
    ----------
    region : (m, n) ndarray of bool

    Returns
    -------
    (float, float)
        ``(feret_min, feret_max)`` in pixels.
    """
    fmin, fmax, _ = _hull_measures(region)
    return fmin, fmax


def _hull_measures(region: np.ndarray) -> tuple[float, float, float]:
    """Feret min, Feret max and convex-hull area (pixel-corner hull), in pixels."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0, 0.0, 0.0
    xs, ys = np.concatenate(contours).reshape(-1, 2).T
    corners = np.concatenate([np.stack([xs + dx, ys + dy], axis=1) for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)]).astype(
        np.float32
    )
    hull = cv2.convexHull(corners).reshape(-1, 2).astype(np.float64)
    if len(hull) < MIN_POLYGON_POINTS:
        return 1.0, float(np.hypot(*(hull.max(0) - hull.min(0)))), float(region.sum())
    diff = hull[:, None, :] - hull[None, :, :]
    feret_max = float(np.sqrt((diff**2).sum(-1)).max())
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    keep = lengths > 0
    normals = np.stack([-edges[keep, 1], edges[keep, 0]], axis=1) / lengths[keep, None]
    # width across each hull edge = farthest hull point from that edge's line
    offsets = hull[None, :, :] - hull[keep][:, None, :]
    widths = np.abs(np.einsum("kij,kj->ki", offsets, normals)).max(axis=1)
    hull_area = float(cv2.contourArea(hull.astype(np.float32)))
    return float(widths.min()), feret_max, hull_area


#: Directions of the Crofton estimator: rows, columns and the two diagonals, each standing for pi/4 of
#: the half-turn of directions; lines of pixel centres are 1 pixel apart along rows and columns and
#: 1/sqrt(2) apart along the diagonals.
_CROFTON_DIRECTION_WEIGHT = np.pi / 4
_DIAGONAL_LINE_SPACING = 1.0 / np.sqrt(2.0)


def perimeter_crofton(region: np.ndarray) -> float:
    """Perimeter of a binary region in pixels, by the Cauchy-Crofton formula.

    A curve's length is half the integral, over all directions and offsets, of
    the number of times lines cross it. Here the lines are the rows, columns and
    both diagonals of pixel centres; a crossing is a pair of neighbours along a
    line of which one is inside the region (outside the array counts as
    background). Unlike boundary-pixel counts, it is unbiased for round shapes
    at any size: a digital disk of radius 5-200 pixels gives 2 pi r within
    1 %, where the 4-connected boundary count is 5 % long at radius 100 and
    5 % short at radius 4. An axis-aligned square reads about 6 % short.

    Parameters
    ----------
    region : (m, n) ndarray of bool

    Returns
    -------
    float
        Perimeter in pixel edge lengths.
    """
    p = np.pad(np.asarray(region, dtype=bool), 1)
    along_rows = np.count_nonzero(p[:, 1:] != p[:, :-1])
    along_columns = np.count_nonzero(p[1:, :] != p[:-1, :])
    diagonal = np.count_nonzero(p[1:, 1:] != p[:-1, :-1]) + np.count_nonzero(p[1:, :-1] != p[:-1, 1:])
    crossings = along_rows + along_columns + diagonal * _DIAGONAL_LINE_SPACING
    return float(0.5 * _CROFTON_DIRECTION_WEIGHT * crossings)


#: Columns filled by :func:`_shape_measures`.
_SHAPE_COLUMNS = (
    "label",
    "centroid_x_nm",
    "centroid_y_nm",
    "area_nm2",
    "perimeter_nm",
    "equivalent_diameter_nm",
    "major_axis_nm",
    "minor_axis_nm",
    "eccentricity",
    "mean_intensity",
)


def _shape_measures(region: np.ndarray, image: np.ndarray, box: tuple[slice, slice], *, pixel_size_nm: float) -> dict:
    """Centroid, area, perimeter, ellipse axes and mean intensity of one vesicle, in nm.

    The definitions of ``skimage.measure.regionprops`` (pixel centres at
    ``i * pixel_size_nm``; axes ``4 sqrt(eigenvalue)`` of the inertia tensor;
    perimeter from :func:`perimeter_crofton`),
    computed from OpenCV's image moments of the vesicle's crop: the same
    values, without regionprops' per-property overhead.
    """
    px = pixel_size_nm
    mom = cv2.moments(region.astype(np.uint8), binaryImage=True)
    area_px = mom["m00"]
    mu_cc, mu_rr, mu_rc = mom["mu20"] / area_px, mom["mu02"] / area_px, mom["mu11"] / area_px
    half_sum, root = 0.5 * (mu_cc + mu_rr), np.sqrt((0.5 * (mu_cc - mu_rr)) ** 2 + mu_rc**2)
    big, small = half_sum + root, max(half_sum - root, 0.0)
    return {
        "centroid_x_nm": (box[1].start + mom["m10"] / area_px) * px,
        "centroid_y_nm": (box[0].start + mom["m01"] / area_px) * px,
        "area_nm2": area_px * px * px,
        "perimeter_nm": perimeter_crofton(region) * px,
        "equivalent_diameter_nm": float(np.sqrt(DISK_DIAMETER_SQ_PER_AREA_PI * area_px / np.pi)) * px,
        "major_axis_nm": AXIS_PER_SQRT_MOMENT * float(np.sqrt(big)) * px,
        "minor_axis_nm": AXIS_PER_SQRT_MOMENT * float(np.sqrt(small)) * px,
        "eccentricity": float(np.sqrt(1.0 - small / big)) if big > 0 else 0.0,
        "mean_intensity": float(image[region].mean(dtype=np.float64)),
    }


def noise_floor(image: np.ndarray) -> float:
    """The least per-pixel noise SD (image units) the cup score divides by.

    :data:`CONTRAST_NOISE_FLOOR` of the image's contrast (0.5-99.5 percentile range), and on an integer
    image at least the rounding noise :data:`ROUNDING_NOISE_SD` (grey levels).
    """
    img = np.asarray(image)
    if img.size == 0:
        return 0.0
    low, high = np.percentile(img, CONTRAST_PERCENTILES)
    floor = CONTRAST_NOISE_FLOOR * float(high - low)
    return max(floor, ROUNDING_NOISE_SD) if img.dtype.kind in "iub" else floor


def measure_vesicles(
    labels: np.ndarray,
    image: np.ndarray,
    *,
    pixel_size_nm: float,
    pixel_size_source: str = "none",
    polarity: str = "bright",
    noise_std: float | None = None,
    objects: list[tuple[slice, slice] | None] | None = None,
) -> pd.DataFrame:
    """Measure every labelled vesicle in physical units.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels (0 = background), e.g. from
        :func:`exo_vision.segmentation.api.segment_vesicles`.
    image : (M, N) ndarray
        The micrograph the labels belong to.
    pixel_size_nm : float
        Pixel edge length in nanometres (square pixels).
    pixel_size_source : str
        Where the pixel size came from (copied into every row).
    polarity : {"bright", "dark"}
        "bright" when vesicles are lighter than the stain, "dark" otherwise;
        the cup score is computed in the vesicle-is-bright convention.
    noise_std : float, optional
        Per-pixel noise standard deviation of ``image`` (image units), the
        noise unit of the cup score. By default estimated from the image
        (:func:`~exo_vision.segmentation.classical.preprocess.pixel_noise_std` of every
        ``M // 512``-th row); ``segment_vesicles`` records that same value as
        ``parameters["pixel_noise_std"]``. Given or estimated, it is raised to
        :func:`noise_floor` of the image (a noise-free or finely quantised image reads 0).
    objects : list of (slice, slice) or None, optional
        ``scipy.ndimage.find_objects(labels)`` if the caller already has it
        (it costs a whole pass over the labels).

    Returns
    -------
    DataFrame
        One row per label, columns :data:`VESICLE_COLUMNS`: centroid (x = column,
        y = row; pixel ``i`` is centred at ``i * pixel_size_nm``), area (nm²),
        perimeter (nm), equivalent-circle diameter (nm), Feret max/min (nm),
        ellipse major/minor axes (nm), eccentricity, circularity
        (``4 pi area / perimeter²``, at most 1; about 1 for a disk at any pixel
        size), solidity (area over the area of the convex hull of the pixel
        corners), mean intensity (image units),
        cup score (see :func:`exo_vision.measure.morphology.cup_score`),
        morphology (see :func:`exo_vision.measure.morphology.classify_morphology`),
        touches_border, touches_missing (False here: the vesicle touches pixels without a value, which
        :func:`exo_vision.tem_analysis.measure_micrograph_vesicles` knows and sets), touches_other
        (the vesicle shares outline pixels with
        another labelled vesicle, 4-connected: there its outline is where the
        segmenter divided a contact, not an edge against the stain),
        confidence (NaN here: the segmenter's confidence in the vesicle, which
        :func:`exo_vision.tem_analysis.analyse_micrograph` sets for the learned method),
        pixel_size_nm and pixel_size_source. Empty labels give an empty table
        with all columns.
    """
    lab = np.asarray(labels)
    img = np.asarray(image)
    if lab.ndim != 2:
        raise ValueError(f"`labels` must be a 2-D label image, got shape {lab.shape}")
    if img.shape != lab.shape:
        raise ValueError(f"`image` (shape {img.shape}) must have the same shape as `labels` (shape {lab.shape})")
    if lab.dtype.kind not in "iu":
        raise ValueError(f"`labels` must be an integer label image, got dtype {lab.dtype}")
    if polarity not in ("bright", "dark"):
        raise ValueError(f"`polarity` must be 'bright' or 'dark', got {polarity!r}")
    px = check_pixel_size(pixel_size_nm)
    if noise_std is not None and not (np.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(
            f"`noise_std` must be a non-negative number of image units, got {noise_std!r}; "
            "leave it out to estimate it from the image"
        )
    if lab.size and int(lab.min()) < 0:
        raise ValueError(
            f"`labels` hold negative values (down to {int(lab.min())}); instance labels are 0 for the background "
            "and positive ids: relabel them (e.g. skimage.segmentation.relabel_sequential on their absolute value)"
        )
    top = int(lab.max()) if lab.size else 0
    if top > np.iinfo(np.int32).max:
        raise ValueError(
            f"`labels` go up to {top}, beyond the 2**31 - 1 ids a vesicle table holds; relabel them "
            "(skimage.segmentation.relabel_sequential)"
        )
    if objects is None and top > SPARSE_LABELS_PER_PIXEL * lab.size:
        # ids far above the number of pixels (a list of that many boxes would not fit in memory): measured
        # on consecutive ids, and reported under their own
        sequential, _, inverse = relabel_sequential(lab)
        table = measure_vesicles(
            sequential,
            image,
            pixel_size_nm=pixel_size_nm,
            pixel_size_source=pixel_size_source,
            polarity=polarity,
            noise_std=noise_std,
        )
        table["label"] = np.asarray(inverse)[table["label"].to_numpy()].astype(table["label"].dtype)
        return table
    if objects is not None and len(objects) != max(top, 0):
        raise ValueError(
            f"`objects` has {len(objects)} boxes but the labels go up to {top}; "
            "pass scipy.ndimage.find_objects(labels) of these labels, or leave it out"
        )
    if top <= 0:
        return empty_vesicle_table()
    lab = lab.astype(np.int32, copy=False)
    # the noise is the same for the image and its negative; crops are converted one by one
    sample = img[:: max(lab.shape[0] // NOISE_SAMPLE_ROWS, 1), :]
    noise = max(pixel_noise_std(sample) if noise_std is None else float(noise_std), noise_floor(sample))
    m, n = lab.shape
    rows: list[dict[str, float]] = []
    feret_min, feret_max, cups, border, solidity, touching = [], [], [], [], [], []
    for value, sl in enumerate(ndi.find_objects(lab) if objects is None else objects, start=1):
        if sl is None:
            continue
        region = lab[sl] == value
        crop = img[sl].astype(np.float32)
        rows.append(_shape_measures(region, crop, sl, pixel_size_nm=px) | {"label": value})
        fmin, fmax, hull_area = _hull_measures(region)
        solidity.append(float(region.sum()) / hull_area if hull_area > 0 else 1.0)
        feret_min.append(fmin * px)
        feret_max.append(fmax * px)
        signed = crop if polarity == "bright" else -crop
        cups.append(cup_score(region, signed, pixel_size_nm=px, noise_std=noise))
        border.append(sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == m or sl[1].stop == n)
        touching.append(touches_other(lab, value, sl))
    # one column at a time, in their final order and dtypes (no whole-table copies)
    columns: dict[str, np.ndarray | pd.Series] = {
        name: np.fromiter((row[name] for row in rows), dtype=np.float64, count=len(rows)) for name in _SHAPE_COLUMNS
    }
    columns["label"] = columns["label"].astype(np.int32)
    columns["solidity"] = np.minimum(np.asarray(solidity, dtype=float), 1.0)
    columns["feret_max_nm"] = np.asarray(feret_max, dtype=float)
    columns["feret_min_nm"] = np.asarray(feret_min, dtype=float)
    perim, area = columns["perimeter_nm"], columns["area_nm2"]
    with np.errstate(divide="ignore", invalid="ignore"):
        # at most 1 (the isoperimetric bound; a disk of a few pixels can read a little over it)
        columns["circularity"] = np.where(
            perim > 0, np.minimum(CIRCULARITY_FACTOR * np.pi * area / perim**2, 1.0), np.nan
        )
    columns["cup_score"] = np.asarray(cups, dtype=float)
    columns["morphology"] = classify_morphology(pd.DataFrame({k: columns[k] for k in MORPHOLOGY_COLUMNS}))
    columns["touches_border"] = np.asarray(border, dtype=bool)
    columns["touches_missing"] = np.zeros(len(rows), dtype=bool)
    columns["touches_other"] = np.asarray(touching, dtype=bool)
    columns["confidence"] = np.full(len(rows), np.nan)
    columns["pixel_size_nm"] = np.full(len(rows), px)
    columns["pixel_size_source"] = pd.Series([str(pixel_size_source)] * len(rows), dtype="object")
    return pd.DataFrame({name: columns[name] for name in VESICLE_COLUMNS})


#: Column of a vesicle table holding the segmentation's confidence in each vesicle (NaN when none).
CONFIDENCE_COLUMN = "confidence"


def _outline_keys(labels: np.ndarray, wanted: set[int]) -> dict[int, tuple[tuple[int, int, int, int], bytes]]:
    """Per label of ``wanted`` present in ``labels``: its bounding box and the packed mask of its pixels in it,
    which are equal for two label images exactly when the label covers the same pixels in both."""
    keys = {}
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None or index not in wanted:
            continue
        mask = labels[box] == index
        keys[index] = ((box[0].start, box[0].stop, box[1].start, box[1].stop), np.packbits(mask).tobytes())
    return keys


def confidence_reference(labels: np.ndarray, table: pd.DataFrame | None) -> dict[int, tuple[Any, float]]:
    """What :func:`carry_confidence` needs to keep the confidence of vesicles a later edit leaves as they are.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        The labels ``table`` measures (0 = background).
    table : DataFrame or None
        Their vesicle table; its ``confidence`` column (finite values only) is kept.

    Returns
    -------
    dict of int to (key, float)
        Per label with a finite confidence: the outline's key (bounding box and pixels) and the confidence.
        Empty when the table has no confidence.
    """
    if table is None or CONFIDENCE_COLUMN not in table.columns or "label" not in table.columns or not len(table):
        return {}
    values = pd.to_numeric(table[CONFIDENCE_COLUMN], errors="coerce").to_numpy(dtype=float)
    confidence = {int(label): float(v) for label, v in zip(table["label"], values, strict=True) if np.isfinite(v)}
    if not confidence:
        return {}
    keys = _outline_keys(np.asarray(labels), set(confidence))
    return {label: (keys[label], confidence[label]) for label in confidence if label in keys}


def carry_confidence(
    table: pd.DataFrame, labels: np.ndarray, reference: dict[int, tuple[Any, float]] | None
) -> pd.DataFrame:
    """``table`` with the confidence of every vesicle whose outline is unchanged since ``reference`` was made.

    A vesicle keeps its confidence when its label covers exactly the pixels it covered then (same label id,
    same pixels); a vesicle an edit changed (merged, split, painted, erased in part) or made is NaN: the
    segmentation's confidence was about another outline.

    Parameters
    ----------
    table : DataFrame
        The vesicle table of ``labels`` (:func:`measure_vesicles`), its ``confidence`` column NaN.
    labels : (M, N) ndarray of int
        The labels now (0 = background).
    reference : dict or None
        :func:`confidence_reference` of the labels and table the confidence was measured on.

    Returns
    -------
    DataFrame
        A copy of ``table`` with its ``confidence`` column set.
    """
    out = table.copy()
    values = np.full(len(out), np.nan)
    if reference and len(out) and "label" in out.columns:
        ids = out["label"].astype(int).to_numpy()
        keys = _outline_keys(np.asarray(labels), {i for i in ids.tolist() if i in reference})
        for row, label in enumerate(ids.tolist()):
            if label in keys and keys[label] == reference[label][0]:
                values[row] = reference[label][1]
    out[CONFIDENCE_COLUMN] = values
    return out
