"""ImageJ ROI and QuPath GeoJSON in and out: hand-built files of every ROI type, round trips, bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import roifile

from exo_vision.annotations import (
    fragmented_labels,
    labels_to_polygons,
    outline_mismatches,
    polygons_to_labels,
    read_geojson,
    read_imagej_rois,
    write_geojson,
    write_imagej_rois,
)
from exo_vision.evaluation import match_instances
from exo_vision.synthetic.tem_random import make_random_tem

SHAPE = (60, 80)


def _assert_same_objects(truth: np.ndarray, back: np.ndarray) -> None:
    matches = match_instances(truth, back, min_iou=0.98)
    assert len(matches) == len(np.unique(truth[truth > 0])) == len(np.unique(back[back > 0]))


def test_polygons_trace_pixel_edges_exactly():
    labels = np.zeros((7, 7), np.int32)
    labels[2:5, 1:3] = 1  # a 3x2 block: its outline is the rectangle x 1..3, y 2..5
    labels[0, 6] = 2  # one pixel in the corner
    polygons = labels_to_polygons(labels)
    xy = polygons[1]
    assert xy[:, 0].min() == 1 and xy[:, 0].max() == 3 and xy[:, 1].min() == 2 and xy[:, 1].max() == 5
    np.testing.assert_array_equal(polygons_to_labels([polygons[1], polygons[2]], labels.shape, ids=[1, 2]), labels)


@pytest.mark.parametrize("seed", [0, 2])
def test_imagej_roundtrip_of_generated_vesicles(tmp_path, seed):
    labels = make_random_tem((256, 256), pixel_size_nm=2.0, rng=seed).labels
    path = write_imagej_rois(tmp_path / "RoiSet.zip", labels)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    ids = [int(v) for v in np.unique(labels[labels > 0])]
    assert sorted(names) == sorted(f"{v}.roi" for v in ids)  # ROI names are the table's ids
    back = read_imagej_rois(path, labels.shape)
    assert list(back.table["name"].astype(int)) == ids
    # every object whose largest part is whole comes back with IoU >= 0.98
    _assert_same_objects(_largest_parts(labels), back.labels)


def _largest_parts(labels: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    out = np.zeros_like(labels)
    for value in np.unique(labels[labels > 0]):
        parts, n = ndi.label(labels == value)
        sizes = np.bincount(parts.ravel())[1:]
        out[parts == (np.argmax(sizes) + 1)] = value
    return out


def _roi_of(kind: str) -> roifile.ImagejRoi:
    if kind == "polygon":
        roi = roifile.ImagejRoi.frompoints(np.array([[10, 10], [30, 10], [30, 25], [10, 25]], np.float32))
        roi.roitype = roifile.ROI_TYPE.POLYGON
    elif kind == "freehand":
        t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        roi = roifile.ImagejRoi.frompoints(np.stack([40 + 8 * np.cos(t), 30 + 8 * np.sin(t)], 1).astype(np.float32))
        roi.roitype = roifile.ROI_TYPE.FREEHAND
    elif kind == "traced":
        roi = roifile.ImagejRoi.frompoints(np.array([[50, 40], [60, 40], [60, 50], [50, 50]], np.int32))
        roi.roitype = roifile.ROI_TYPE.TRACED
    elif kind == "ellipse":
        t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        roi = roifile.ImagejRoi.frompoints(np.stack([40 + 12 * np.cos(t), 30 + 6 * np.sin(t)], 1).astype(np.float32))
        roi.roitype = roifile.ROI_TYPE.FREEHAND
        roi.subtype = roifile.ROI_SUBTYPE.ELLIPSE
    elif kind in ("oval", "rectangle"):
        roi = roifile.ImagejRoi()
        roi.roitype = roifile.ROI_TYPE.OVAL if kind == "oval" else roifile.ROI_TYPE.RECT
        roi.left, roi.top, roi.right, roi.bottom = 20, 30, 40, 50
    roi.name = kind
    return roi


#: Pixels each hand-built ROI covers, counted by hand from its geometry (pixel centre inside).
EXPECTED_AREA = {
    "polygon": 20 * 15,
    "traced": 10 * 10,
    "rectangle": 20 * 20,
    "oval": None,  # compared with pi * 10 * 10 below
    "freehand": None,  # pi * 8 * 8
    "ellipse": None,  # pi * 12 * 6
}


@pytest.mark.parametrize("kind", list(EXPECTED_AREA))
def test_every_roi_type_single_file(tmp_path, kind):
    path = tmp_path / f"{kind}.roi"
    _roi_of(kind).tofile(path)
    result = read_imagej_rois(path, SHAPE)
    area = int((result.labels == 1).sum())
    assert result.table["name"].tolist() == [kind]
    assert result.table["roi_type"].tolist() == [kind if kind != "rectangle" else "rect"]
    expected = EXPECTED_AREA[kind] or {"oval": np.pi * 100, "freehand": np.pi * 64, "ellipse": np.pi * 72}[kind]
    assert abs(area - expected) <= 0.04 * expected


def test_roi_positions_are_image_pixels(tmp_path):
    path = tmp_path / "rect.roi"
    _roi_of("rectangle").tofile(path)
    labels = read_imagej_rois(path, SHAPE).labels
    rows, cols = np.nonzero(labels)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (30, 49, 20, 39)


def test_roiset_zip_of_all_types_and_a_line(tmp_path):
    kinds = ["polygon", "traced", "oval"]
    rois = [_roi_of(k) for k in kinds]
    line = roifile.ImagejRoi()
    line.roitype = roifile.ROI_TYPE.LINE
    line.name = "scale"
    path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(path, [*rois, line])
    result = read_imagej_rois(path, SHAPE)
    assert result.table["name"].tolist() == kinds
    assert result.skipped == ["scale (line)"]


def test_corrupt_zip_gives_a_clear_error(tmp_path):
    path = tmp_path / "RoiSet.zip"
    path.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(ValueError, match="not a readable zip archive"):
        read_imagej_rois(path, SHAPE)
    truncated = tmp_path / "bad.zip"
    with zipfile.ZipFile(truncated, "w") as archive:
        archive.writestr("1.roi", b"Iout\x00\xe3")
    with pytest.raises(ValueError, match="damaged ImageJ ROI"):
        read_imagej_rois(truncated, SHAPE)
    with pytest.raises(ValueError, match="does not exist"):
        read_imagej_rois(tmp_path / "missing.zip", SHAPE)


def test_rois_off_the_image_are_refused(tmp_path):
    path = tmp_path / "rect.roi"
    _roi_of("rectangle").tofile(path)
    with pytest.raises(ValueError, match="no area ROI"):
        read_imagej_rois(path, (10, 10))


def test_geojson_roundtrip_keeps_classes_and_measurements(tmp_path):
    labels = make_random_tem((256, 256), pixel_size_nm=2.0, rng=2).labels
    ids = [int(v) for v in np.unique(labels[labels > 0])]
    table = pd.DataFrame(
        {
            "label": ids,
            "equivalent_diameter_nm": [10.0 + k for k in range(len(ids))],
            "morphology": ["cup" if k % 2 else "round" for k in range(len(ids))],
        }
    )
    path = write_geojson(tmp_path / "vesicles.geojson", labels, table)
    doc = json.loads(path.read_text())
    first = doc["features"][0]
    assert first["geometry"]["type"] == "Polygon"
    assert first["properties"]["classification"]["name"] == "round"
    assert first["properties"]["measurements"]["equivalent_diameter_nm"] == 10.0
    back, back_table = read_geojson(path, labels.shape)
    _assert_same_objects(_largest_parts(labels), back)
    assert back_table["morphology"].tolist() == table["morphology"].tolist()
    assert back_table["name"].astype(int).tolist() == ids


def test_geojson_reads_qupath_multipolygon_with_hole(tmp_path):
    outer = [[0, 0], [20, 0], [20, 20], [0, 20], [0, 0]]
    hole = [[5, 5], [15, 5], [15, 15], [5, 15], [5, 5]]
    square = [[30, 30], [40, 30], [40, 40], [30, 40], [30, 30]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "MultiPolygon", "coordinates": [[outer, hole], [square]]},
                "properties": {
                    "objectType": "annotation",
                    "classification": {"name": "irregular"},
                    "measurements": [{"name": "Area", "value": 400.0}],
                },
            }
        ],
    }
    path = tmp_path / "qupath.geojson"
    path.write_text(json.dumps(doc))
    labels, table = read_geojson(path, SHAPE)
    assert int((labels == 1).sum()) == 400 - 100 + 100
    assert table.loc[0, "morphology"] == "irregular" and table.loc[0, "Area"] == 400.0


def test_geojson_bad_file(tmp_path):
    path = tmp_path / "bad.geojson"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        read_geojson(path, SHAPE)
    path.write_text(json.dumps({"type": "Topology"}))
    with pytest.raises(ValueError, match="not GeoJSON"):
        read_geojson(path, SHAPE)


def test_fragmented_labels_names_labels_in_separate_pieces_only():
    labels = np.zeros((20, 30), np.int32)
    labels[2:6, 2:6] = 1  # one square
    labels[10:14, 2:6] = 2
    labels[10:14, 20:24] = 2  # the same label twice, far apart
    labels[15, 10] = 3
    labels[16, 11] = 3  # touching at a corner only: two pieces, as the outline tracer sees them
    labels[2:4, 20:22] = 5
    labels[2:4, 24:26] = 5  # a column of background between: two pieces
    assert fragmented_labels(labels) == [2, 3, 5]
    assert fragmented_labels(labels == 1) == []
    with pytest.raises(ValueError, match="2-D"):
        fragmented_labels(labels[None])


def test_outline_mismatches_name_labels_whose_outline_is_not_their_pixels():
    """A ring's hole is filled by its outline and a part joined at a corner only is left out: the README
    promised labels -> ROI -> labels gives the same pixels."""
    labels = np.zeros((30, 40), np.int32)
    labels[2:10, 2:10] = 1  # a plain square: exact
    labels[12:21, 2:11] = 2
    labels[15:18, 5:8] = 0  # a 3 x 3 hole
    labels[22:26, 20:24] = 3
    labels[26:30, 24:28] = 3  # a second square joined at one corner
    assert outline_mismatches(labels) == {2: 9, 3: 16}


def test_an_roi_set_is_the_same_bytes_every_time(tmp_path):
    """Wall-clock dates in the zip made its checksum (recorded in _done.json) change on every run."""
    import time

    labels = np.zeros((40, 40), np.int32)
    labels[5:15, 5:15] = 1
    labels[20:30, 20:35] = 2
    first = write_imagej_rois(tmp_path / "a.zip", labels).read_bytes()
    time.sleep(2.1)  # zip dates count in 2 s steps
    assert write_imagej_rois(tmp_path / "b.zip", labels).read_bytes() == first


def test_a_small_zip_that_would_unpack_to_gigabytes_is_refused_unread(tmp_path, monkeypatch):
    import exo_vision.annotations.imagej_roi as imagej_roi

    path = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.roi", b"\x00" * (imagej_roi.MAX_ROI_BYTES + 1))
    assert path.stat().st_size < 100_000
    read = []
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, pwd=None: read.append(name))
    with pytest.raises(ValueError, match="would unpack to 16 MB of ROIs .* is not one"):
        read_imagej_rois(path, SHAPE)
    assert read == []
