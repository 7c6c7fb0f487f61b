"""Annotations in the formats people already have: ImageJ/Fiji ROI sets and QuPath GeoJSON, to and from labels."""

from exo_vision.annotations.geojson import labels_to_geojson, read_geojson, write_geojson
from exo_vision.annotations.imagej_roi import read_imagej_rois, write_imagej_rois
from exo_vision.annotations.polygons import (
    fragmented_labels,
    labels_to_polygons,
    outline_mismatches,
    polygons_to_labels,
)

__all__ = [
    "fragmented_labels",
    "labels_to_geojson",
    "labels_to_polygons",
    "outline_mismatches",
    "polygons_to_labels",
    "read_geojson",
    "read_imagej_rois",
    "write_geojson",
    "write_imagej_rois",
]
