"""Screenshots of every exo_vision napari widget in use, for the README.

Drives a real napari window (run it headless under Xvfb) and writes
``docs/screenshots/<widget>.png``:

    xvfb-run -a .venv/bin/python scripts/screenshots.py

Images come from the project's seeded generators (and the shipped real EV
micrograph for the calibration shot), so the pictures are reproducible.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]
PLUGIN = "exo-vision"
WINDOW_SIZE = (1700, 1000)


def _tem_tiff(path: Path, *, seed: int, size: int = 1024, pixel_size_nm: float = 1.0, n_vesicles: int = 14) -> None:
    from exo_vision.synthetic.tem import make_synthetic_tem

    image, _ = make_synthetic_tem(
        (size, size), pixel_size_nm=pixel_size_nm, difficulty="easy", n_vesicles=n_vesicles, scale_bar=False, rng=seed
    )
    tifffile.imwrite(
        path,
        image,
        imagej=True,
        resolution=(1 / pixel_size_nm, 1 / pixel_size_nm),
        metadata={"unit": "nm", "axes": "YX"},
    )


def _viewer():
    import napari

    viewer = napari.Viewer(show=True, title="exo_vision")
    viewer.window.resize(*WINDOW_SIZE)
    return viewer


def _save(viewer, out: Path, name: str) -> Path:
    from qtpy.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()
    viewer.reset_view()  # fit the image to the canvas left after docking the widgets
    for _ in range(5):
        QApplication.processEvents()
    target = out / f"{name}.png"
    viewer.screenshot(str(target), canvas_only=False, flash=False)
    logging.info("wrote %s", target)
    viewer.close()
    return target


def calibration(out: Path, work: Path) -> Path:
    """Real micrograph: scale bar detected, reading shown, a line drawn over the bar."""
    sample = REPO / "sample_images" / "hrml_ev_negative_stain.jpg"
    viewer = _viewer()
    (image,) = viewer.open(str(sample), plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Calibration")
    viewer.layers.selection.active = image
    widget.detect_scale_bar(sync=True)
    line = widget.start_line()
    reading = widget.reading
    if reading is not None and reading.bar_box is not None:
        r0, c0, r1, c1 = reading.bar_box
        row = (r0 + r1) / 2
        line.add_lines(np.array([[row, c0], [row, c1]], dtype=float), edge_color="yellow", edge_width=12)
    widget._line_nm.value = 500.0
    line.mode = "pan_zoom"
    viewer.reset_view()
    return _save(viewer, out, "calibration")


def segmentation_and_curation(out: Path, work: Path) -> list[Path]:
    """Synthetic micrograph segmented; then curated; then its histogram."""
    path = work / "grid_a_01.tif"
    _tem_tiff(path, seed=1)
    shots = []
    for name in ("segmentation", "curation", "histogram"):
        viewer = _viewer()
        viewer.open(str(path), plugin=PLUGIN)
        _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Vesicle segmentation")
        seg.set_parameters(min_diameter_nm=25.0, max_diameter_nm=400.0)
        labels = seg.run(sync=True)
        if name == "curation":
            _, cur = viewer.window.add_plugin_dock_widget(PLUGIN, "Curation")
            table = labels.features
            first = int(table.loc[~table["touches_border"], "label"].iloc[0])  # changes the statistics
            cur._label.value = first
            cur.delete(first)
            second = int(labels.features["label"].iloc[0])
            cur._label.value = second
            cur.set_morphology(second, "cup")
            labels.mode = "paint"
        if name == "histogram":
            _, hist = viewer.window.add_plugin_dock_widget(PLUGIN, "Size histogram")
            viewer.layers.selection.active = labels
            hist._bin_width.value = 10.0
            hist.refresh()
        shots.append(_save(viewer, out, name))
    return shots


def grid_session(out: Path, work: Path) -> Path:
    """Three micrographs of a grid: the session stepped to the second one, grid histogram growing."""
    grid = work / "grid"
    grid.mkdir()
    for i in range(3):
        _tem_tiff(grid / f"grid_b_{i + 1:02d}.tif", seed=20 + i, size=768)
    viewer = _viewer()
    _, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    session.synchronous = True
    session._min_d.value = 25.0
    session.open_grid(grid, work / "grid_results")
    session.next()
    session.next()
    return _save(viewer, out, "grid_session")


def blot(out: Path, work: Path) -> Path:
    """Synthetic MISEV panel (CD9 / CD63 / calnexin over lysate, exo1, exo2) quantified; the lysate's
    calnexin band is drawn strong enough to clip, so the saturated-pixel overlay shows."""
    from exo_vision.io.image_data import ImageData
    from exo_vision.plugins._layers import image_layer_data
    from exo_vision.synthetic.blot import make_marker_panel

    panel = make_marker_panel(lysate_volumes={"CD9": 2.0e6, "CD63": 1.0e7, "calnexin": 4.0e7}, rng=0)
    image = ImageData(data=panel.image, kind="blot", polarity=panel.polarity, max_value=panel.max_value)
    viewer = _viewer()
    data, kwargs, _ = image_layer_data(image, name="misev_panel")
    viewer.add_image(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blot quantification")
    widget.synchronous = True
    widget._n_lanes.value = len(panel.lane_names)
    widget._names.value = ", ".join(panel.lane_names)
    widget._markers.value = "CD9, CD63, calnexin"
    widget.quantify()
    return _save(viewer, out, "blot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="output folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        calibration(args.out, work)
        segmentation_and_curation(args.out, work)
        grid_session(args.out, work)
        blot(args.out, work)


if __name__ == "__main__":
    main()
