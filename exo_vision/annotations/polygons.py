"""Instance labels to outline polygons and back, in image-corner coordinates.

Both ImageJ and QuPath place pixel ``(row, col)`` on the square from ``(x, y) =
(col, row)`` to ``(col + 1, row + 1)``; a pixel belongs to a polygon when its
centre ``(col + 0.5, row + 0.5)`` lies inside. Outlines are traced along pixel
edges, so labels -> polygons -> labels gives back the same pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import polygon as fill_polygon
from skimage.measure import find_contours

#: Label ids named in :func:`outline_warning` before "...".
OUTLINE_IDS_SHOWN = 8


def _outline(mask: np.ndarray) -> np.ndarray:
    """The outline of the largest part of ``mask`` as (K, 2) x, y corner coordinates (not closed)."""
    padded = np.pad(mask, 1).astype(np.float32)
    # 2x enlargement puts the 0.5 iso-line exactly on the pixel edges
    big = np.repeat(np.repeat(padded, 2, axis=0), 2, axis=1)
    contours = find_contours(big, 0.5)
    contour = max(contours, key=len)
    rows = (contour[:, 0] + 0.5) / 2 - 1
    cols = (contour[:, 1] + 0.5) / 2 - 1
    xy = np.stack([cols, rows], axis=1)
    xy = xy[:-1] if len(xy) > 1 and np.allclose(xy[0], xy[-1]) else xy
    return _drop_collinear(xy)


def _drop_collinear(xy: np.ndarray) -> np.ndarray:
    """Remove vertices that lie on the straight line through their neighbours."""
    if len(xy) < 4:
        return xy
    prev, nxt = np.roll(xy, 1, axis=0), np.roll(xy, -1, axis=0)
    cross = (xy[:, 0] - prev[:, 0]) * (nxt[:, 1] - xy[:, 1]) - (xy[:, 1] - prev[:, 1]) * (nxt[:, 0] - xy[:, 0])
    keep = np.abs(cross) > 1e-9
    return xy[keep] if keep.sum() >= 3 else xy


def labels_to_polygons(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Outline polygon of every instance.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.

    Returns
    -------
    dict of int to (K, 2) ndarray of float64
        Label id -> vertices ``(x, y)`` in image-corner pixel coordinates along
        the pixel edges of the instance's largest connected part (holes filled).
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"`labels` must be 2-D, got shape {lab.shape}")
    out: dict[int, np.ndarray] = {}
    for value, sl in enumerate(ndi.find_objects(lab.astype(np.int64, copy=False)), start=1):
        if sl is None:
            continue
        mask = lab[sl] == value
        xy = _outline(mask)
        xy[:, 0] += sl[1].start
        xy[:, 1] += sl[0].start
        out[value] = xy
    return out


def fragmented_labels(labels: np.ndarray) -> list[int]:
    """Labels whose pixels form more than one part (4-connected: pixels joined only at a corner are
    separate parts, as the outline tracer sees them).

    Such a label is measured as one vesicle from all its pixels, but an outline
    (:func:`labels_to_polygons`, ImageJ ROI, GeoJSON polygon) holds only its largest part.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.

    Returns
    -------
    list of int
        The label ids in several parts, ascending.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"`labels` must be 2-D, got shape {lab.shape}")
    found = []
    for value, sl in enumerate(ndi.find_objects(lab.astype(np.int64, copy=False)), start=1):
        if sl is not None and ndi.label(lab[sl] == value)[1] > 1:
            found.append(value)
    return found


def outline_mismatches(labels: np.ndarray, polygons: dict[int, np.ndarray] | None = None) -> dict[int, int]:
    """Labels whose outline polygon does not hold exactly their pixels, and by how many pixels it differs.

    An outline follows the edge of a label's largest part and fills its holes, so a label with a hole, or
    with pixels joined to it only at a corner, is exported (ImageJ ROI, GeoJSON) as a slightly different
    shape than the one measured.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.
    polygons : dict of int to (K, 2) ndarray, optional
        :func:`labels_to_polygons` of ``labels``, if already made.

    Returns
    -------
    dict of int to int
        Label id -> pixels in the label but not in its outline, or the reverse; only labels that differ.
    """
    lab = np.asarray(labels)
    polygons = labels_to_polygons(lab) if polygons is None else polygons
    out: dict[int, int] = {}
    for value, sl in enumerate(ndi.find_objects(lab.astype(np.int64, copy=False)), start=1):
        if sl is None or value not in polygons:
            continue
        region = lab[sl] == value
        inside = polygon_mask(polygons[value] - np.array([sl[1].start, sl[0].start]), region.shape)
        if differ := int((inside != region).sum()):
            out[value] = differ
    return out


def polygon_mask(xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies inside the polygon ``xy`` (image-corner x, y coordinates)."""
    xy = np.asarray(xy, dtype=np.float64)
    mask = np.zeros(shape, bool)
    if len(xy) < 3:
        return mask
    rr, cc = fill_polygon(xy[:, 1] - 0.5, xy[:, 0] - 0.5, shape)
    mask[rr, cc] = True
    return mask


def polygons_to_labels(
    polygons: list[np.ndarray], shape: tuple[int, int], *, ids: list[int] | None = None
) -> np.ndarray:
    """Rasterise polygons into instance labels.

    Parameters
    ----------
    polygons : list of (K, 2) ndarray
        Vertices ``(x, y)`` in image-corner pixel coordinates.
    shape : (int, int)
        Shape (M, N) of the image they outline.
    ids : list of int, optional
        Label of each polygon (default 1, 2, ...). Where polygons overlap, the later one wins.

    Returns
    -------
    (M, N) ndarray of int32
    """
    labels = np.zeros(shape, np.int32)
    ids = list(range(1, len(polygons) + 1)) if ids is None else list(ids)
    if len(ids) != len(polygons):
        raise ValueError(f"{len(polygons)} polygons but {len(ids)} ids")
    for value, xy in zip(ids, polygons, strict=True):
        labels[polygon_mask(xy, shape)] = value
    return labels


def outline_warning(mismatches: dict[int, int]) -> str:
    """What to tell the user about :func:`outline_mismatches` (non-empty) of an exported label image."""
    ids = sorted(mismatches)
    shown = ", ".join(str(v) for v in ids[:OUTLINE_IDS_SHOWN]) + (" ..." if len(ids) > OUTLINE_IDS_SHOWN else "")
    return (
        f"the outline of {len(ids)} vesicle(s) ({shown}) is not exactly their pixels ({sum(mismatches.values())} px "
        "in all): an outline fills a hole and leaves out a part that is apart or joined at a corner only. The "
        "tables measure the pixels; split, delete or repaint those parts to export them as measured"
    )
