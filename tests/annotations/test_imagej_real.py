"""A ROI set written by exo_vision opens in a real ImageJ (Debian's ``imagej``, headless under xvfb-run)
with one ROI per vesicle, named by its id, covering the same pixels. Skipped where ImageJ is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import roifile

from exo_vision.annotations import write_imagej_rois
from exo_vision.annotations.imagej_roi import roi_mask
from exo_vision.synthetic.tem_random import make_random_tem

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("imagej_rois", ROOT / "benchmarks" / "imagej_rois.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_imagej_opens_the_roi_set_with_every_vesicle(tmp_path):
    bench = _benchmark()
    missing = bench.imagej_available()
    if missing:
        pytest.skip(f"ImageJ cannot run here (missing {missing}); apt-get install imagej xvfb")
    labels = make_random_tem((512, 512), pixel_size_nm=2.0, rng=1).labels
    assert labels.max() >= 10
    path = write_imagej_rois(tmp_path / "RoiSet.zip", labels)
    areas = bench.imagej_roi_areas(path, labels.shape)
    assert sorted(areas, key=int) == [str(v) for v in range(1, int(labels.max()) + 1)]
    ours = {roi.name: int(roi_mask(roi, labels.shape).sum()) for roi in roifile.roiread(path)}
    assert areas == ours
