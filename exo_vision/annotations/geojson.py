"""QuPath-compatible GeoJSON: vesicles as polygon features, classification = morphology, measurements as properties.

The layout is what QuPath (0.4 and later) exports and imports: a
``FeatureCollection`` whose features have a ``Polygon`` geometry in image
pixel coordinates (corners, as in QuPath and ImageJ) and ``properties`` with
``objectType``, ``name``, ``classification`` ``{"name", "color"}`` and
``measurements`` (a name -> number object).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exo_vision.annotations.polygons import labels_to_polygons, polygon_mask

#: QuPath class colours (RGB) of the morphology classes, as the curation dock draws them.
MORPHOLOGY_COLOURS = {"round": [31, 119, 180], "cup": [255, 127, 14], "irregular": [214, 39, 160]}


def _number(value: Any) -> float | int | None:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(float(value)):
        return float(value)
    return None


def labels_to_geojson(
    labels: np.ndarray, table: pd.DataFrame | None = None, *, object_type: str = "annotation"
) -> dict[str, Any]:
    """A GeoJSON ``FeatureCollection`` of every instance's outline.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.
    table : pandas.DataFrame, optional
        The vesicle table (``label`` column): its ``morphology`` becomes the
        feature's classification and its numeric columns its measurements.
    object_type : {"annotation", "detection"}
        QuPath object type of the features (annotations are editable in QuPath).

    Returns
    -------
    dict
        JSON-serialisable GeoJSON.
    """
    rows: dict[int, dict[str, Any]] = {}
    if table is not None and len(table):
        if "label" not in table.columns:
            raise ValueError("the vesicle table needs a `label` column to match its rows to the labels")
        rows = {int(r["label"]): r for r in table.to_dict("records")}
    features = []
    for value, xy in labels_to_polygons(labels).items():
        ring = np.vstack([xy, xy[:1]]).round(3).tolist()
        row = rows.get(value, {})
        properties: dict[str, Any] = {"objectType": object_type, "name": str(value)}
        morphology = row.get("morphology")
        if isinstance(morphology, str) and morphology:
            properties["classification"] = {
                "name": morphology,
                "color": MORPHOLOGY_COLOURS.get(morphology, [128, 128, 128]),
            }
        measurements = {k: _number(v) for k, v in row.items() if k != "label" and _number(v) is not None}
        if measurements:
            properties["measurements"] = measurements
        features.append(
            {
                "type": "Feature",
                "id": f"exo-vision-{value}",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": properties,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def write_geojson(
    path: str | Path, labels: np.ndarray, table: pd.DataFrame | None = None, *, object_type: str = "annotation"
) -> Path:
    """Write :func:`labels_to_geojson` to ``path`` (atomically); QuPath imports it with File > Import objects."""
    from exo_vision._shared.atomic import atomic_write_text

    doc = labels_to_geojson(labels, table, object_type=object_type)
    return atomic_write_text(Path(path), json.dumps(doc) + "\n")


def _polygons_of(geometry: dict[str, Any]) -> list[list[np.ndarray]]:
    """Polygons (outer ring then holes) of a Polygon or MultiPolygon geometry."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        return [[np.asarray(ring, np.float64)[:, :2] for ring in coords]]
    if kind == "MultiPolygon":
        return [[np.asarray(ring, np.float64)[:, :2] for ring in poly] for poly in coords]
    return []


def read_geojson(path: str | Path, shape: tuple[int, int]) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a GeoJSON file of polygon features (QuPath's export, or :func:`write_geojson`) into labels.

    Parameters
    ----------
    path : str or Path
        ``.geojson`` / ``.json`` file: a FeatureCollection, a list of features or one feature.
    shape : (int, int)
        Shape (M, N) of the image the features outline.

    Returns
    -------
    labels : (M, N) ndarray of int32
        Feature ``k`` (among those with an area on the image) is label ``k``; later features win overlaps.
    table : pandas.DataFrame
        ``label``, ``name``, ``morphology`` (the classification name, or empty) and every measurement.

    Raises
    ------
    ValueError
        When the file is unreadable, not GeoJSON, or has no polygon on the image.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"cannot read {path} as GeoJSON ({error}); export it again from QuPath (File > Export objects as GeoJSON)."
        ) from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features", [])
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, list):
        features = doc
    else:
        raise ValueError(f"{path} is not GeoJSON (expected a FeatureCollection or a list of features).")
    shape = (int(shape[0]), int(shape[1]))
    labels = np.zeros(shape, np.int32)
    rows = []
    for feature in features:
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            continue
        mask = np.zeros(shape, bool)
        try:
            for rings in _polygons_of(feature["geometry"]):
                part = polygon_mask(rings[0], shape)
                for hole in rings[1:]:
                    part &= ~polygon_mask(hole, shape)
                mask |= part
        except (TypeError, ValueError, IndexError) as error:
            raise ValueError(f"{path}: a feature has malformed coordinates ({error}).") from None
        if not mask.any():
            continue
        value = len(rows) + 1
        labels[mask] = value
        props = feature.get("properties") or {}
        cls = props.get("classification") or {}
        row = {
            "label": value,
            "name": str(props.get("name", value)),
            "morphology": str(cls.get("name", "")) if isinstance(cls, dict) else "",
        }
        measurements = props.get("measurements") or {}
        if isinstance(measurements, list):  # QuPath 0.2/0.3: [{"name": ..., "value": ...}]
            measurements = {m.get("name"): m.get("value") for m in measurements if isinstance(m, dict)}
        row.update({str(k): v for k, v in measurements.items() if _number(v) is not None})
        rows.append(row)
    if not rows:
        raise ValueError(
            f"{path} has no polygon on a {shape[1]}x{shape[0]} image; check that it belongs to this image."
        )
    return labels, pd.DataFrame(rows).astype({"label": "int32"})
