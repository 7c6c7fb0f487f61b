"""Where annotation outlines lie against the image they are read onto.

An outline drawn over the image's edge is clipped when it is rasterised, and
one wholly beside the image outlines nothing; both happen quietly in
:func:`~exo_vision.annotations.read_imagej_rois` and
:func:`~exo_vision.annotations.read_geojson`. :func:`outlines_off_image`
counts them, so a reader of truth (fine-tuning) can say so, and refuse a file
whose outlines mostly miss the image (drawn on another image, or at another
pixel size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: An outline with more than this share of its bounding box beside the image counts as mostly off it.
MOSTLY_OFF_SHARE = 0.5


@dataclass(frozen=True)
class OffImage:
    """Outlines of an annotation file against an image.

    Attributes
    ----------
    n_outlines : int
        Area outlines in the file.
    partly : list of str
        Names of those crossing the image's edge (clipped to it).
    wholly : list of str
        Names of those lying wholly beside the image (outlining nothing).
    mostly : list of str
        Names of those, among both, with more than :data:`MOSTLY_OFF_SHARE` of their bounding box beside the image.
    """

    n_outlines: int
    partly: list[str] = field(default_factory=list)
    wholly: list[str] = field(default_factory=list)
    mostly: list[str] = field(default_factory=list)


def _roi_boxes(path: Path) -> list[tuple[str, tuple[float, float, float, float]]]:
    from exo_vision.annotations.imagej_roi import AREA_TYPES, _load, _type_name

    boxes = []
    for k, roi in enumerate(_load(path)):
        if _type_name(roi) not in (*AREA_TYPES, "ELLIPSE"):
            continue
        x0, x1 = sorted((float(roi.left), float(roi.right)))
        y0, y1 = sorted((float(roi.top), float(roi.bottom)))
        if _type_name(roi) not in ("RECT", "OVAL"):  # sub-pixel vertices may reach past the integer box
            points = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in roi.coordinates(multi=True)])
            if len(points):
                x0, y0 = points.min(axis=0)
                x1, y1 = points.max(axis=0)
        boxes.append((roi.name or f"roi-{k + 1}", (x0, y0, x1, y1)))
    return boxes


def _geojson_boxes(path: Path) -> list[tuple[str, tuple[float, float, float, float]]]:
    from exo_vision.annotations.geojson import _polygons_of

    doc = json.loads(path.read_text(encoding="utf-8"))
    features = doc.get("features", []) if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" else doc
    features = [features] if isinstance(features, dict) else features
    boxes = []
    for k, feature in enumerate(features if isinstance(features, list) else []):
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            continue
        outer = [rings[0] for rings in _polygons_of(feature["geometry"]) if len(rings) and len(rings[0])]
        if not outer:
            continue
        points = np.concatenate(outer)
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        name = str((feature.get("properties") or {}).get("name", k + 1))
        boxes.append((name, (float(x0), float(y0), float(x1), float(y1))))
    return boxes


def outlines_off_image(path: str | Path, shape: tuple[int, int]) -> OffImage:
    """Count the area outlines of an ImageJ ROI file (``.roi``/``.zip``) or a GeoJSON file that lie partly or
    wholly beside an image of ``shape`` (M, N), judged by their bounding boxes in image-corner coordinates.

    Raises
    ------
    ValueError
        When the file cannot be read (as the readers of these formats do).
    """
    path = Path(path)
    boxes = _geojson_boxes(path) if path.suffix.lower() in (".geojson", ".json") else _roi_boxes(path)
    height, width = float(shape[0]), float(shape[1])
    out = OffImage(n_outlines=len(boxes))
    for name, (x0, y0, x1, y1) in boxes:
        inside_w = max(0.0, min(x1, width) - max(x0, 0.0))
        inside_h = max(0.0, min(y1, height) - max(y0, 0.0))
        if inside_w <= 0 or inside_h <= 0:
            out.wholly.append(name)
            out.mostly.append(name)
            continue
        if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
            continue
        out.partly.append(name)
        area = max(x1 - x0, 1e-9) * max(y1 - y0, 1e-9)
        if 1.0 - inside_w * inside_h / area > MOSTLY_OFF_SHARE:
            out.mostly.append(name)
    return out
