"""Curation keeps the segmentation's confidence of every vesicle an edit leaves as it is (same label id, same
pixels); a merged, split or new outline has none (NaN). Before, every edit re-measured the labels and the whole
``confidence`` column became NaN, also in the grid session's saved tables and on reopening a saved micrograph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("napari")

from tests.plugins.test_plugin_tem import _dock, _segmented, micrograph, write_micrograph  # noqa: E402, F401


def _confidence(layer) -> pd.Series:
    return layer.features.set_index("label")["confidence"].astype(float)


def test_an_edit_keeps_the_confidence_of_the_vesicles_it_did_not_change(make_napari_viewer, micrograph):  # noqa: F811
    path, _ = micrograph
    viewer, _, _, labels = _segmented(make_napari_viewer, path)
    before = _confidence(labels)
    assert len(before) >= 4 and np.isfinite(before).all()  # the unet gives every vesicle its confidence
    _, cur = _dock(viewer, "Curation")
    keep, other, cut = (int(x) for x in before.index[:3])
    cur.merge(keep, other)
    after = _confidence(labels)
    assert np.isnan(after[keep]) and other not in after.index  # the merged outline is another one
    untouched = [int(x) for x in before.index if int(x) not in (keep, other)]
    pd.testing.assert_series_equal(after[untouched], before[untouched], check_index_type=False)
    cur.split(cut)
    after = _confidence(labels)
    new = sorted(set(after.index) - set(before.index))
    assert new and np.isnan(after[[cut, *new]]).all()
    still = [x for x in untouched if x != cut]
    pd.testing.assert_series_equal(after[still], before[still], check_index_type=False)


def test_the_grid_session_saves_and_restores_the_kept_confidence(make_napari_viewer, tmp_path):
    grid, out = tmp_path / "grid", tmp_path / "out"
    grid.mkdir()
    for i in range(2):
        write_micrograph(grid / f"g{i}.tif", seed=10 + i)
    viewer = make_napari_viewer()
    _, session = _dock(viewer, "Grid session")
    session.synchronous = True
    session._min_d.value = 20.0
    session.open_grid(grid, out)
    _, cur = _dock(viewer, "Curation")
    viewer.layers.selection.active = session.labels_layer
    before = _confidence(session.labels_layer)
    victim = int(before.index[0])
    cur.delete(victim)
    cur.update_measurements()  # measured again from the edited labels
    session.next()
    saved = pd.read_csv(out / "g0_vesicles.csv").set_index("label")["confidence"]
    pd.testing.assert_series_equal(saved, before.drop(victim), check_names=False, check_index_type=False)
    session.previous()  # reopened from its files: the saved confidence comes back with the outlines
    pd.testing.assert_series_equal(_confidence(session.labels_layer), before.drop(victim), check_index_type=False)
