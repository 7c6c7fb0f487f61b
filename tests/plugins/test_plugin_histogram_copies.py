"""The histogram dock counts each micrograph once, as ``exo-vision tem``, ``report`` and ``histogram`` do: copies
of one micrograph (the same bytes renamed, an 8-bit export of a 16-bit file) that a run's ``run.json`` (or the
done-markers of a folder without one) records as one micrograph are left out, and the dock says how many.

Before, the dock pooled every per-image table of a results folder: a copy's vesicles were counted again.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile

pytest.importorskip("napari")

from exo_vision.cli.main import main  # noqa: E402
from exo_vision.synthetic.tem import make_synthetic_tem  # noqa: E402
from tests.plugins.test_plugin_tem import _dock  # noqa: E402

PIXEL_SIZE_NM = 1.0


@pytest.fixture
def run_with_copies(tmp_path):
    """A run of two micrographs, a renamed byte copy of the first and an 8-bit export of its 16-bit pixels."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    resolution = (1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM)
    for seed in (0, 1):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", n_vesicles=5, scale_bar=False, rng=seed
        )
        scaled = (image - image.min()) / (image.max() - image.min())
        raw = np.round(scaled * 60000 + 2000).astype(np.uint16)
        tifffile.imwrite(inputs / f"m{seed}.tif", raw, imagej=True, resolution=resolution, metadata={"unit": "nm"})
        if seed == 0:
            export = (raw // 257).astype(np.uint8)
            tifffile.imwrite(
                inputs / "m0_8bit.tif", export, imagej=True, resolution=resolution, metadata={"unit": "nm"}
            )
    shutil.copy(inputs / "m0.tif", inputs / "renamed.tif")
    out = tmp_path / "out"
    assert main(["tem", str(inputs), "--out", str(out), "--workers", "1", "--include-border"]) == 0
    return out


def _counted(hist) -> int:
    return int(sum(s["n"] for s in hist.plot.statistics.values()))


def test_the_dock_counts_each_micrograph_once_and_says_how_many_copies_it_left_out(
    make_napari_viewer, run_with_copies, tmp_path, monkeypatch
):
    import exo_vision.plugins.histogram_widget as widget

    out = run_with_copies
    pooled = pd.read_csv(out / "vesicles.csv")  # the run's own pooled table counts each micrograph once
    assert set(pooled["image"]) == {"m0", "m1"} and len(pooled) > 0
    copies = [len(pd.read_csv(out / f"{stem}_vesicles.csv")) for stem in ("m0_8bit", "renamed")]
    assert min(copies) > 0
    shown: list[str] = []
    monkeypatch.setattr(widget, "show_warning", shown.append)
    viewer = make_napari_viewer()
    _, hist = _dock(viewer, "Size histogram")

    hist.set_folder(out)
    assert _counted(hist) == len(pooled)  # before: len(pooled) + the copies' vesicles
    assert hist.copies is not None and len(hist.copies.lines) == 2 and hist.copies.n_vesicles == sum(copies)
    assert f"2 copied micrograph(s) left out ({sum(copies)} counted vesicle(s))" in hist._status.value
    assert len(shown) == 1 and "renamed.tif" in shown[0] and "m0_8bit.tif" in shown[0]
    hist.refresh()
    assert len(shown) == 1  # named once, not on every redraw

    # tables by condition: the copy's table given beside its original's is left out too; a condition of copies
    # only is not drawn as an empty group (before: "renamed_vesicles: 0", unexplained) but named in the status
    hist.set_tables([out / "m0_vesicles.csv", out / "renamed_vesicles.csv", out / "m1_vesicles.csv"])
    assert set(hist.plot.statistics) == {"m0_vesicles", "m1_vesicles"} and _counted(hist) == len(pooled)
    assert "1 copied micrograph(s) left out" in hist._status.value
    assert "renamed_vesicles holds only copies of micrographs counted under m0_vesicles" in hist._status.value

    # a folder without run.json (as a napari grid session's): the done-markers beside the tables say it
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in out.glob("*_*"):
        if path.name.endswith(("_vesicles.csv", "_done.json")):
            shutil.copy(path, bare / path.name)
    hist.set_folder(bare)
    assert _counted(hist) == len(pooled)
