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


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (a[2] <= b[0] or a[0] >= b[2] or a[3] <= b[1] or a[1] >= b[3])


def test_the_report_close_up_holds_none_of_the_overlays_legend(tmp_path, monkeypatch):
    """On this seeded micrograph the close-up cut through the legend in the overlay's top-left corner (35 of
    160 generated micrographs of 384-1024 px showed a cut-off piece of it)."""
    from exo_vision.figures.overlay import GREY_LEVELS, draw_overlay
    from exo_vision.measure.vesicles import measure_vesicles

    image, truth = make_synthetic_tem(SHAPE, pixel_size_nm=PX_NM, difficulty="easy", rng=18, scale_bar=False)
    table = measure_vesicles(truth.labels.astype(np.int32), image.astype(float), pixel_size_nm=PX_NM)
    not_counted = table.loc[table["touches_border"], "label"].tolist()
    drawn = draw_overlay(image, truth.labels, table, pixel_size_nm=PX_NM, not_counted=not_counted)
    legend = drawn.legend_box_px
    assert legend is not None and legend[0] < SHAPE[0] // 4 and legend[1] < SHAPE[1] // 4  # the top-left corner
    r0, c0, r1, c1 = legend
    assert (drawn.index[r0:r1, c0:c1] >= GREY_LEVELS).sum() > 200  # the legend's ink is there
    bar = overlay_scale_bar_box(SHAPE, PX_NM)
    before = choose_close_up(table, image_shape=SHAPE, pixel_size_nm=PX_NM, avoid_px=bar)
    assert before is not None and _overlap(before.box_px, legend)  # where the close-up went before

    png = tmp_path / "m_overlay.png"
    write_indexed_png(png, drawn.index, drawn.palette)
    record = {"stem": "m", "shape": list(SHAPE), "overlay_legend_box_px": list(legend)}
    grid = TemGrid(
        name="g",
        path=tmp_path,
        run={"images": [record]},
        summary=pd.DataFrame(),
        vesicles=table.assign(image="m"),
        errors=pd.DataFrame(),
        overlays={"m": png},
    )
    tem = TemEvidence(grids=[grid], statistics={}, diameters_nm=np.array([]), images=pd.DataFrame())
    shown = []
    real = html.close_up_rgb

    def record_close_up(rgb, close, **kwargs):
        shown.append(close)
        return real(rgb, close, **kwargs)

    monkeypatch.setattr(html, "close_up_rgb", record_close_up)
    assert 'alt="close-up of m"' in html._overlays(tem)
    (close,) = shown
    assert not _overlap(close.box_px, legend) and not _overlap(close.box_px, bar)
    assert close.box_px[2] - close.box_px[0] == before.box_px[2] - before.box_px[0]  # moved, not made smaller
    # the vesicles its caption names are those of the crowded group whose centre it holds, its centre vesicle
    # first (vesicle 5, beside the legend, lies just above the crop's new top)
    group = choose_close_up(table, image_shape=SHAPE, pixel_size_nm=PX_NM).labels
    centres = table.set_index("label")[["centroid_x_nm", "centroid_y_nm"]] / PX_NM
    b0, d0, b1, d1 = close.box_px
    inside = [lab for lab in group if b0 <= centres.loc[lab].iloc[1] < b1 and d0 <= centres.loc[lab].iloc[0] < d1]
    assert close.labels == inside and close.labels[0] == group[0] and len(inside) < len(group)
