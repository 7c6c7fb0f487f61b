"""Sample data under File > Open Sample > exo_vision."""

from __future__ import annotations

import pytest

pytest.importorskip("napari")


def test_synthetic_tem_sample_is_calibrated(make_napari_viewer):
    viewer = make_napari_viewer()
    (layer,) = viewer.open_sample("exo-vision", "tem_synthetic")
    assert layer.data.ndim == 2 and min(layer.data.shape) >= 512
    assert layer.metadata["pixel_size_nm"] > 0
    assert tuple(layer.scale) == pytest.approx((layer.metadata["pixel_size_nm"],) * 2)
    assert layer.metadata["kind"] == "tem"


def test_synthetic_blot_sample_notes_polarity(make_napari_viewer):
    viewer = make_napari_viewer()
    (layer,) = viewer.open_sample("exo-vision", "blot_synthetic")
    assert layer.metadata["kind"] == "blot"
    assert layer.metadata["polarity"] in ("bright", "dark")
    assert layer.metadata["max_value"] is not None
