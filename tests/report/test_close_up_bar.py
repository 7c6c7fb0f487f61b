"""The report's close-up keeps clear of the wide-field overlay's scale bar."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exo_vision.figures import overlay
from exo_vision.figures.overlay import overlay_scale_bar_box, render_overlay_indexed, write_indexed_png
from exo_vision.report import html
from exo_vision.report.collect import TemEvidence, TemGrid
from exo_vision.report.embed import choose_close_up
from exo_vision.synthetic.tem import make_synthetic_tem

PX_NM = 2.0
SHAPE = (512, 512)


def _corner_group() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """A seeded micrograph, its labels, and a table of the vesicles in its bottom-right part only."""
    image, truth = make_synthetic_tem(SHAPE, pixel_size_nm=PX_NM, difficulty="easy", rng=3, scale_bar=False)
    table = truth.vesicles.assign(touches_border=False)
    limit_nm = 0.55 * SHAPE[0] * PX_NM
    corner = table.loc[(table["centroid_x_nm"] > limit_nm) & (table["centroid_y_nm"] > limit_nm)]
    assert corner["label"].tolist() == [3, 4]  # two whole vesicles near the bottom-right corner
    return image, truth.labels, table.loc[corner.index]


def test_the_report_close_up_holds_none_of_the_overlays_scale_bar(tmp_path, monkeypatch):
    """The close-up of a group near the bottom-right corner showed a cut-off copy of the overlay's bar."""
    image, labels, table = _corner_group()
    index, palette = render_overlay_indexed(image, labels, table, pixel_size_nm=PX_NM)
    assert index.shape == SHAPE  # a free corner held the legend: no strip below
    bar_pixels = index == overlay._WHITE  # the bar and its label are the only white-index pixels
    assert bar_pixels.sum() > 100
    rows, cols = np.nonzero(bar_pixels)
    r0, c0, r1, c1 = overlay_scale_bar_box(SHAPE, PX_NM)
    assert r0 <= rows.min() and rows.max() < r1 and c0 <= cols.min() and cols.max() < c1

    png = tmp_path / "m_overlay.png"
    write_indexed_png(png, index, palette)
    vesicles = table.assign(image="m", pixel_size_nm=PX_NM)
    grid = TemGrid(
        name="g",
        path=tmp_path,
        run={"images": [{"stem": "m", "shape": list(SHAPE)}]},
        summary=pd.DataFrame(),
        vesicles=vesicles,
        errors=pd.DataFrame(),
        overlays={"m": png},
    )
    tem = TemEvidence(grids=[grid], statistics={}, diameters_nm=np.array([]), images=pd.DataFrame())
    shown = []
    real = html.close_up_rgb

    def record(rgb, close, **kwargs):
        shown.append(close)
        return real(rgb, close, **kwargs)

    monkeypatch.setattr(html, "close_up_rgb", record)
    page = html._overlays(tem)
    assert 'alt="close-up of m"' in page
    (close,) = shown
    b0, d0, b1, d1 = close.box_px
    assert not bar_pixels[b0:b1, d0:d1].any()
    # the crop still encloses both vesicles' centroids
    for x, y in table[["centroid_x_nm", "centroid_y_nm"]].to_numpy() / PX_NM:
        assert b0 <= y < b1 and d0 <= x < d1
    assert close.width_nm == (d1 - d0) * PX_NM


def test_a_close_up_too_large_to_pass_the_bar_shrinks_beside_it():
    """A crop as tall as the room above the bar and as wide as the room left of it is made smaller, not left on it."""
    table = pd.DataFrame(
        {"label": [1], "centroid_x_nm": [90.0], "centroid_y_nm": [90.0], "equivalent_diameter_nm": [20.0]}
    )
    free = choose_close_up(table, image_shape=(100, 100), pixel_size_nm=1.0)
    assert free.box_px == (52, 52, 100, 100)  # the 48 px smallest crop, pushed into the corner
    # an avoided box that leaves 40 rows above it and 30 columns left of it: no 48 px square fits beside it
    close = choose_close_up(table, image_shape=(100, 100), pixel_size_nm=1.0, avoid_px=(40, 30, 100, 100))
    # the 40 px square above it: centred on the old centre column 76 (56..96), its rows 0..40 end at the box
    assert close.box_px == (0, 56, 40, 96)
    assert close.width_nm == 40.0
