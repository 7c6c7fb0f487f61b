"""The shipped TEM samples (sample_images/tem_*.tif) are segmented in agreement with their truth CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exo_vision.io import read_image
from exo_vision.measure.vesicles import measure_vesicles
from exo_vision.segmentation.classical import segment_classical as segment_vesicles

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"
NAMES = ["tem_medium_0.8nm", "tem_hard_0.8nm", "tem_dark_1.2nm"]


@pytest.mark.parametrize("name", NAMES)
def test_sample_matches_its_truth(name):
    data = read_image(SAMPLES / f"{name}.tif")
    truth = pd.read_csv(SAMPLES / f"{name}_truth.csv")
    expected_px = float(name.split("_")[-1].removesuffix("nm"))
    assert data.pixel_size_nm == pytest.approx(expected_px)
    seg = segment_vesicles(data.data, pixel_size_nm=data.pixel_size_nm)
    assert seg.polarity == ("dark" if "dark" in name else "bright")
    table = measure_vesicles(seg.labels, data.data, pixel_size_nm=data.pixel_size_nm, polarity=seg.polarity)
    extent = np.array(data.shape[::-1]) * data.pixel_size_nm
    found = 0
    inside = 0
    for row in truth.itertuples():
        r = row.equivalent_diameter_nm / 2
        if not (r < row.centroid_x_nm < extent[0] - r and r < row.centroid_y_nm < extent[1] - r):
            continue  # cut by the image edge
        inside += 1
        d = np.hypot(table["centroid_x_nm"] - row.centroid_x_nm, table["centroid_y_nm"] - row.centroid_y_nm)
        if len(d) and d.min() < 0.25 * row.equivalent_diameter_nm:
            k = int(d.idxmin())
            if abs(table["equivalent_diameter_nm"][k] / row.equivalent_diameter_nm - 1) < 0.08:
                found += 1
                assert (table["morphology"][k] == "cup") == (row.morphology == "cup") or row.equivalent_diameter_nm < 50
    assert inside >= 3
    assert found >= inside - 1
    assert len(table) <= len(truth) + 2
