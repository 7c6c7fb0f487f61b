"""Overlay and histogram figures: content checked on pixels, bins and saved files."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from exo_vision.figures.histogram import BIN_TABLE_COLUMNS, legend_label, size_histogram_figure
from exo_vision.figures.overlay import nice_scale_bar_nm, render_overlay, to_uint8, write_png
from exo_vision.figures.style import MORPHOLOGY_RGB, figure_width_mm, journal_figure, save_figure


def two_disks() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    yy, xx = np.mgrid[:200, :300]
    labels = np.zeros((200, 300), dtype=np.uint16)
    labels[(yy - 60) ** 2 + (xx - 60) ** 2 < 30**2] = 1
    labels[(yy - 120) ** 2 + (xx - 200) ** 2 < 40**2] = 2
    image = (labels > 0).astype(np.float32) * 100 + 50
    table = pd.DataFrame(
        {
            "label": [1, 2],
            "centroid_x_nm": [60 * 2.0, 200 * 2.0],
            "centroid_y_nm": [60 * 2.0, 120 * 2.0],
            "morphology": ["round", "cup"],
        }
    )
    return image, labels, table


def test_overlay_outlines_are_coloured_by_morphology():
    image, labels, table = two_disks()
    rgb = render_overlay(image, labels, table, pixel_size_nm=2.0, show_ids=False, line_width_px=1)
    assert rgb.shape == (200, 300, 3) and rgb.dtype == np.uint8
    # The rightmost pixel of disk 1 (row 60, col 89) is on its outline: round = blue.
    assert tuple(rgb[60, 89]) == MORPHOLOGY_RGB["round"]
    assert tuple(rgb[120, 239]) == MORPHOLOGY_RGB["cup"]
    # Inside and outside the disks stay grey.
    assert rgb[60, 60, 0] == rgb[60, 60, 1] == rgb[60, 60, 2]
    assert rgb[5, 150, 0] == rgb[5, 150, 2]


def test_overlay_scale_bar_has_the_right_length():
    image, labels, table = two_disks()
    # 300 px x 2 nm = 600 nm wide -> a 100 nm bar is 50 px.
    assert nice_scale_bar_nm(600.0) == 100.0
    rgb = render_overlay(np.zeros_like(image), np.zeros_like(labels), table.iloc[:0], pixel_size_nm=2.0)
    bottom = rgb[150:, :, :]
    white = np.all(bottom == 255, axis=2)
    widths = white.sum(axis=1)
    assert widths.max() in (50, 51)


def test_overlay_ids_drawn_and_shape_mismatch_refused():
    image, labels, table = two_disks()
    with_ids = render_overlay(image, labels, table, pixel_size_nm=2.0, show_ids=True)
    without = render_overlay(image, labels, table, pixel_size_nm=2.0, show_ids=False)
    # Yellow id text appears near the centroid of vesicle 2.
    assert np.any(with_ids[100:140, 190:230] != without[100:140, 190:230])
    with pytest.raises(ValueError, match="same shape|shape of `image`"):
        render_overlay(image[:10], labels, table, pixel_size_nm=2.0)


def test_to_uint8_stretches_and_write_png_roundtrips(tmp_path):
    data = np.linspace(0, 4095, 100 * 100).reshape(100, 100).astype(np.uint16)
    out = to_uint8(data)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    rgb = np.dstack([out, out, out])
    write_png(tmp_path / "a.png", rgb)
    import cv2

    back = cv2.cvtColor(cv2.imread(str(tmp_path / "a.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, rgb)


def test_histogram_bins_and_legend():
    d = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    fig, bins = size_histogram_figure({"A": d, "B": d + 100}, bin_width_nm=20, percent=True, kde=True)
    assert list(bins.columns) == list(BIN_TABLE_COLUMNS)
    a = bins[bins["group"] == "A"]
    # Common range 0..160 nm for both groups, 8 bins of 20 nm.
    assert a["bin_left_nm"].tolist() == [0, 20, 40, 60, 80, 100, 120, 140]
    assert a["count"].tolist() == [1, 2, 2, 0, 0, 0, 0, 0]
    assert a["percent"].sum() == pytest.approx(100.0)
    label = legend_label("A", d)
    assert "n = 5" in label and "30.0 ± 15.8 nm" in label and "D10/D50/D90 14/30/46 nm" in label
    ax = fig.axes[0]
    assert "bin width 20 nm" in ax.get_xlabel()
    assert ax.get_ylabel() == "Vesicles (%)"
    # Figure is a single journal column (85 mm).
    assert fig.get_figwidth() * 25.4 == pytest.approx(85.0)


@pytest.mark.parametrize("weighting", ["number", "volume", "intensity"])
def test_one_vesicle_legend_gives_its_diameter_and_no_mode(weighting):
    # before, a weighted legend of one vesicle gave a "mode" (its diameter) as if a distribution had a peak
    label = legend_label("A", np.array([118.6]), weighting=weighting)
    assert label.startswith("A: n = 1, 118.6 nm") and "mode" not in label and "mean" not in label


@pytest.mark.parametrize("layout", ["overlay", "side-by-side", "violin", "box"])
@pytest.mark.slow
def test_every_layout_saves_svg_pdf_png(layout):
    rng = np.random.default_rng(0)
    groups = {"ctrl": rng.normal(90, 20, 200).clip(20), "treated": rng.normal(120, 25, 150).clip(20)}
    weighting = "number" if layout in ("violin", "box") else "volume"  # the others refuse a weighting
    fig, _ = size_histogram_figure(groups, layout=layout, width="double", weighting=weighting, kde=True)
    assert fig.get_figwidth() * 25.4 == pytest.approx(180.0)
    if weighting == "number":
        with pytest.raises(ValueError, match=f"a {layout} plot shows every vesicle once"):
            size_histogram_figure(groups, layout=layout, weighting="volume")
    if layout == "side-by-side":
        assert len(fig.axes) == 2
    svg = io.BytesIO()
    save_figure(fig, svg, fmt="svg")
    text = svg.getvalue().decode()
    ET.fromstring(text)  # well-formed
    assert "ctrl" in text and "treated" in text
    pdf = io.BytesIO()
    save_figure(fig, pdf, fmt="pdf")
    assert pdf.getvalue().startswith(b"%PDF")
    png = io.BytesIO()
    save_figure(fig, png, fmt="png")
    assert png.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_figures_are_reproducible_and_300_dpi():
    fig, _ = size_histogram_figure(np.array([50.0, 60, 70, 80]), bin_width_nm=5)
    outs = []
    for _ in range(2):
        buf = io.BytesIO()
        save_figure(fig, buf, fmt="svg")
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    from PIL import Image

    buf = io.BytesIO()
    save_figure(fig, buf, fmt="png")
    img = Image.open(io.BytesIO(buf.getvalue()))
    # 85 mm at 300 dpi = 1004 px
    assert abs(img.size[0] - 85 / 25.4 * 300) <= 2
    assert round(img.info["dpi"][0]) == 300


def test_svg_bytes_do_not_depend_on_matplotlib_hashed_ids(monkeypatch):
    """Regression (issue 11): with matplotlib 3.11 two SVG saves of one figure differed in their
    clip-path ids. The ids are now numbered by appearance, so even random ids give identical bytes."""
    import uuid

    from matplotlib.backends import backend_svg

    monkeypatch.setattr(
        backend_svg.RendererSVG, "_make_id", lambda self, kind, content: f"{kind}{uuid.uuid4().hex[:10]}"
    )
    fig, _ = size_histogram_figure(np.array([50.0, 60, 70, 80]), bin_width_nm=5)
    outs = []
    for _ in range(2):
        buf = io.BytesIO()
        save_figure(fig, buf, fmt="svg")
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    root = ET.fromstring(outs[0])
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    assert "p_1" in ids or "m_1" in ids  # renamed, and every reference still resolves
    text = outs[0].decode()
    for ref in set(re.findall(r"#([a-z]_[0-9]+)", text)):
        assert ref in ids


def test_bad_arguments_named():
    with pytest.raises(ValueError, match="layout"):
        size_histogram_figure([1.0, 2.0], layout="pie")
    with pytest.raises(ValueError, match="width"):
        figure_width_mm("triple")
    with pytest.raises(ValueError, match="cannot save"):
        save_figure(journal_figure(), "x.gif")


def test_indexed_png_matches_the_rgb_overlay(tmp_path):
    from PIL import Image

    from exo_vision.figures.overlay import render_overlay_indexed, write_indexed_png

    image, labels, table = two_disks()
    index, palette = render_overlay_indexed(image.astype(np.uint16), labels, table, pixel_size_nm=2.0)
    write_indexed_png(tmp_path / "o.png", index, palette)
    back = np.asarray(Image.open(tmp_path / "o.png").convert("RGB"))
    assert np.array_equal(back, render_overlay(image.astype(np.uint16), labels, table, pixel_size_nm=2.0))
    assert tuple(back[60, 89]) == MORPHOLOGY_RGB["round"]


def test_a_small_micrograph_is_drawn_enlarged_by_a_whole_factor():
    from exo_vision.figures.overlay import overlay_palette, render_overlay_indexed

    image, labels, table = two_disks()  # 200 x 300 px at 2 nm/px
    index, _ = render_overlay_indexed(image, labels, table, pixel_size_nm=2.0, show_ids=False, min_side_px=1000)
    assert index.shape == (800, 1200)  # ceil(1000 / 300) = 4
    rgb = overlay_palette()[index]
    # disk 1's rightmost pixel (row 60, col 89) becomes the 4 x 4 block at rows 240-243, cols 356-359
    assert tuple(rgb[241, 359]) == MORPHOLOGY_RGB["round"]
    assert rgb[240, 300, 0] == rgb[240, 300, 1] == rgb[240, 300, 2]  # inside stays grey
    # the scale bar keeps its length in nm: 100 nm = 50 px at 2 nm/px, 200 px once enlarged
    white = np.all(rgb[720:] == 255, axis=2).sum(axis=1)  # below both disks
    assert white.max() in (200, 201)
    same, _ = render_overlay_indexed(image, labels, table, pixel_size_nm=2.0, min_side_px=300)
    assert same.shape == (200, 300)


def test_vesicles_left_out_of_the_statistics_are_outlined_apart_and_named_in_the_legend():
    from exo_vision.figures.overlay import NOT_COUNTED_RGB, overlay_palette, render_overlay_indexed

    image, labels, table = two_disks()
    plain, _ = render_overlay_indexed(image, labels, table, pixel_size_nm=2.0, show_ids=False)
    marked, _ = render_overlay_indexed(image, labels, table, pixel_size_nm=2.0, show_ids=False, not_counted=[2])
    rgb = overlay_palette()[marked]
    assert tuple(rgb[60, 89]) == MORPHOLOGY_RGB["round"]  # vesicle 1 keeps its morphology colour
    assert tuple(rgb[120, 239]) == NOT_COUNTED_RGB  # vesicle 2's outline is set apart
    # the legend's fourth entry is written in teal away from both disks (the top right corner is free)
    away = (labels == 0) & (np.hypot(*np.mgrid[:200, :300] - np.array([120, 200])[:, None, None]) > 45)
    legend = np.all(rgb == NOT_COUNTED_RGB, axis=2) & away
    assert legend.any() and not (np.all(overlay_palette()[plain] == NOT_COUNTED_RGB, axis=2) & away).any()


def test_the_legend_names_pixels_without_a_value_when_they_cut_a_vesicle_left_out(nan_block_tem):
    """Before, a vesicle cut by a NaN block in the middle of the micrograph was listed as "edge: not counted"."""
    from exo_vision.figures.overlay import NOT_COUNTED, NOT_COUNTED_MISSING, draw_overlay, legend_entries
    from exo_vision.io.image_data import ImageData
    from exo_vision.tem_analysis import analyse_micrograph

    image, px, (r, c) = nan_block_tem
    data = ImageData(image, pixel_size_nm=px, pixel_size_source="user", pixel_size_yx_nm=(px, px), kind="tem")
    result = analyse_micrograph(data, method="classical", n_boot=50)
    table = result.table
    # per vesicle: the one under the NaN block touches pixels without a value, another only the image edge
    missing = table.loc[table["touches_missing"]]
    assert len(missing) == 1 and bool(missing["touches_border"].iloc[0])
    assert np.hypot(missing["centroid_x_nm"].iloc[0] / px - c, missing["centroid_y_nm"].iloc[0] / px - r) < 5
    edge = table.loc[table["touches_border"] & ~table["touches_missing"], "label"].tolist()
    assert len(edge) >= 1
    not_counted = table.loc[table["touches_border"], "label"].tolist()
    assert legend_entries(table, not_counted)[-1][0] == NOT_COUNTED_MISSING == "edge or no-value pixels: not counted"
    assert legend_entries(table, edge)[-1][0] == NOT_COUNTED  # only vesicles cut by the edge set aside
    assert [name for name, _ in legend_entries(table)] == ["round", "cup", "irregular"]  # none set aside
    # the overlay draws those words: its legend is wider than the one that names the edge alone
    words = draw_overlay(image, result.labels, table, pixel_size_nm=px, not_counted=not_counted)
    edge_only = draw_overlay(
        image, result.labels, table.assign(touches_missing=False), pixel_size_nm=px, not_counted=not_counted
    )
    assert words.legend_box_px is not None and edge_only.legend_box_px is not None
    assert words.legend_box_px[3] - words.legend_box_px[1] > edge_only.legend_box_px[3] - edge_only.legend_box_px[1]


def test_overlay_axis_holds_the_tallest_group_and_its_legend():
    # Regression: the y limit was frozen at the first group's height, clipping a taller second group.
    short = np.linspace(30.0, 150.0, 40)  # spread out: low bins
    tall = np.full(20, 105.0)  # every vesicle in one bin: 100 % there
    fig, bins = size_histogram_figure({"short": short, "tall": tall}, bin_width_nm=10.0, percent=True, layout="overlay")
    ax = fig.axes[0]
    tallest = bins.loc[bins["group"] == "tall", "percent"].max()
    assert tallest == pytest.approx(100.0)
    low, high = ax.get_ylim()
    assert low == 0.0
    assert high > tallest * 1.2  # the bar fits, with headroom for the legend above it


def test_a_weighted_legend_fits_inside_a_single_column_axis_and_ticks_do_not_run_together():
    """The two-line weighted legend was wider than the axis and covered the y axis; ticks read 140.0142.5145.0."""
    d = np.random.default_rng(4).normal(150.0, 3.0, 71)
    fig, _ = size_histogram_figure(d, bin_width_nm=10.0, weighting="volume", kde=False)
    fig.canvas.draw()
    ax = fig.axes[0]
    box, legend = ax.get_window_extent(), ax.get_legend().get_window_extent()
    assert box.x0 <= legend.x0 and legend.x1 <= box.x1 and legend.y1 <= box.y1
    ticks = [label.get_text() for label in ax.get_xticklabels() if label.get_text()]
    assert len(ticks) <= 7 and not any(t.endswith(".0") for t in ticks)


def test_a_count_axis_has_whole_numbers_only():
    """Three vesicles in bins of 1, 1 and 1: matplotlib's default ticks would read 0.5 and 1.5 vesicles."""
    fig, _ = size_histogram_figure(np.array([50.0, 75.0, 110.0]), bin_width_nm=10, kde=False)
    ticks = fig.axes[0].get_yticks()
    assert len(ticks) >= 2 and np.allclose(ticks, np.round(ticks))
    fig, _ = size_histogram_figure(np.array([50.0, 75.0, 110.0]), bin_width_nm=10, kde=False, percent=True)
    assert fig.axes[0].get_ylabel() == "Vesicles (%)"


def test_ids_legend_and_scale_bar_label_are_drawn_in_whole_palette_colours():
    """Text on the palette overlay uses only the drawing colours: no smoothed edge becomes a grey or another class."""
    from exo_vision.figures.overlay import GREY_LEVELS, render_overlay_indexed

    image, labels, table = two_disks()
    flat = np.full(image.shape, 7, np.uint8)  # one grey level everywhere
    index, palette = render_overlay_indexed(flat, labels, table, pixel_size_nm=2.0, not_counted=[2], min_side_px=900)
    grey = int(index[0, -1])  # the top right corner holds no drawing
    values = set(np.unique(index).tolist())
    assert grey < GREY_LEVELS and values - {grey} <= set(range(GREY_LEVELS, GREY_LEVELS + 8))
    # the black edge of the text is drawn: the legend's first word sits on black pixels
    assert np.any(np.all(palette[index[:80, :160]] == 0, axis=2))


def test_violin_names_carry_their_n_and_a_long_title_is_wrapped_to_the_column():
    """The n of every group was one title line that ran off both edges (the last group's n unseen), and a title
    of 50 characters was cut at both sides of an 85 mm figure."""
    rng = np.random.default_rng(0)
    names = ["hrml_ev_negative_stain", "tem_medium_0.8nm", "tem_dark_1.2nm", "tem_hard_0.8nm"]
    groups = {name: rng.normal(90, 20, 10 + i).clip(20) for i, name in enumerate(names)}
    fig, _ = size_histogram_figure(
        groups, layout="violin", title="EV size distribution of the three grids imaged on 3 December"
    )
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [f"{name}\nn={10 + i}" for i, name in enumerate(names)]
    assert "\n" in fig._suptitle.get_text()


@pytest.mark.parametrize("layout", ["overlay", "side-by-side"])
def test_the_legend_lies_above_every_bar(layout):
    """With four groups the legend's eight lines reached down over bars of two counts (the headroom was a fixed
    share of the axis per line, while a line is a fixed number of points)."""
    rng = np.random.default_rng(0)
    names = ["hrml_ev_negative_stain", "tem_medium_0.8nm", "tem_dark_1.2nm", "tem_hard_0.8nm"]
    groups = {n: rng.normal(70 + 10 * i, 15, 5 + i).clip(20) for i, n in enumerate(names)}
    fig, bins = size_histogram_figure(groups, layout=layout, kde=True)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        bottom = ax.transData.inverted().transform(legend.get_window_extent(renderer))[0, 1]
        tallest = max(patch.get_path().vertices[:, 1].max() for patch in ax.patches)
        assert bottom > tallest


def _synthetic_overlay_inputs(shape=(1024, 1024), *, corner_vesicle=True, seed=0):
    """A generated micrograph, its truth labels (all called round) and, optionally, a vesicle in the top left corner."""
    from exo_vision.synthetic.tem import make_synthetic_tem

    image, truth = make_synthetic_tem(shape, pixel_size_nm=1.0, difficulty="easy", n_vesicles=12, rng=seed)
    labels = truth.labels.astype(np.int32)
    table = truth.vesicles[["label", "centroid_x_nm", "centroid_y_nm"]].assign(morphology="round")
    if corner_vesicle:
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        corner = (yy - 60) ** 2 + (xx - 60) ** 2 < 55**2
        new = int(labels.max()) + 1
        labels[corner] = new
        row = {"label": new, "centroid_x_nm": 60.0, "centroid_y_nm": 60.0, "morphology": "round"}
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    return image, labels, table


def test_the_morphology_legend_covers_no_vesicle_and_no_id():
    """The legend was always written at the top left, across a vesicle there and over its id."""
    from exo_vision.figures.overlay import GREY_LEVELS, render_overlay_indexed

    image, labels, table = _synthetic_overlay_inputs()
    index, _ = render_overlay_indexed(image, labels, table, pixel_size_nm=1.0)
    assert index.shape == labels.shape  # a free corner was found: no strip
    cup, irregular, text = GREY_LEVELS + 1, GREY_LEVELS + 2, GREY_LEVELS + 4
    # every vesicle is round: cup and irregular pixels are the legend's words, "round" one line above them
    rows, cols = np.nonzero((index == cup) | (index == irregular))
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    top -= bottom - top  # the "round" line
    window = np.s_[max(0, top - 3) : bottom + 4, max(0, left - 3) : right + 4]
    assert not labels[window].any()  # no vesicle pixel under the legend
    assert not (index[window] == text).any()  # no id under it
    assert 0 not in (index[labels == labels[60, 60]] == text).nonzero()[0].shape  # the corner vesicle's id is drawn


def test_without_a_free_corner_the_legend_goes_into_a_strip_below_the_micrograph():
    from exo_vision.figures.overlay import GREY_LEVELS, render_overlay_indexed

    image, labels, table = _synthetic_overlay_inputs((600, 600))
    yy, xx = np.mgrid[:600, :600]
    for k, (cy, cx) in enumerate([(60, 540), (540, 60)], start=int(labels.max()) + 1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 < 55**2] = k
    index, _ = render_overlay_indexed(image, labels, table, pixel_size_nm=1.0)
    assert index.shape[0] > 600 and index.shape[1] == 600
    cup, irregular = GREY_LEVELS + 1, GREY_LEVELS + 2
    assert not np.isin(index[:600], [cup, irregular]).any()
    assert np.isin(index[600:], [cup, irregular]).any()


def test_ids_stay_off_the_outlines_where_the_vesicle_is_too_small_to_hold_them():
    """Ids were written from the centroid up and right, across the outline of every small vesicle."""
    from exo_vision.figures.overlay import GREY_LEVELS, render_overlay_indexed

    image, labels, table = _synthetic_overlay_inputs(corner_vesicle=False)
    without, _ = render_overlay_indexed(image, labels, table, pixel_size_nm=1.0, show_ids=False)
    with_ids, _ = render_overlay_indexed(image, labels, table, pixel_size_nm=1.0)
    outline = (without >= GREY_LEVELS) & (without <= GREY_LEVELS + 3) & (labels > 0)
    assert (with_ids == GREY_LEVELS + 4).sum() > 100 * len(table) // 4  # the ids are drawn
    assert not (outline & (with_ids != without)).any()


@pytest.mark.parametrize("size", [1024, 3072])
def test_ids_print_at_7_pt_on_an_85_mm_column(size):
    """Ids were size/93 px tall (3.7 pt at 85 mm). Rule: a digit is at least size x 7 pt x 0.72 / 85 mm tall
    (21.3 px at 1024 px, 63.9 px at 3072 px) and outlines at least size x 0.1 mm / 85 mm wide."""
    from exo_vision.figures.overlay import GREY_LEVELS, min_digit_height_px, render_overlay_indexed

    assert min_digit_height_px(1024) == pytest.approx(1024 * 7 * 0.72 * 25.4 / 72 / 85)
    yy, xx = np.mgrid[:size, :size]
    radius = size // 5
    labels = (((yy - size // 2) ** 2 + (xx - size // 2) ** 2) < radius**2).astype(np.int32) * 8
    table = pd.DataFrame(
        {"label": [8], "centroid_x_nm": [size / 2], "centroid_y_nm": [size / 2], "morphology": ["cup"]}
    )
    index, _ = render_overlay_indexed(np.zeros((size, size), np.uint8), labels, table, pixel_size_nm=1.0)
    rows, cols = np.nonzero(index == GREY_LEVELS + 4)  # the yellow "8" on the centroid
    height = rows.max() - rows.min() + 1
    assert min_digit_height_px(size) <= height <= 1.2 * min_digit_height_px(size)
    assert abs((rows.max() + rows.min()) / 2 - size / 2) <= 2 and abs((cols.max() + cols.min()) / 2 - size / 2) <= 2
    # the outline across row size/2, left edge of the disk: at least 0.1 mm printed
    across = index[size // 2, : size // 2] == GREY_LEVELS + 1
    assert across.sum() >= size * 0.1 / 85


def test_a_weighted_range_counts_the_hidden_weight_and_marks_statistics_off_the_axis():
    # before: "n = 5 (1 outside the axis); intensity-weighted mean 398.6 nm, mode ... nm" while the one hidden
    # vesicle carried almost all the d^6 weight the y axis is a fraction of
    d = np.array([60.0, 80.0, 100.0, 120.0, 400.0])
    weights = d**6
    share = weights[-1] / weights.sum()  # 0.99976...: by hand, (400^6) / sum(d^6)
    mean = (d**7).sum() / weights.sum()
    label = legend_label("A", d, weighting="intensity", range_nm=(50.0, 150.0))
    assert f"1 outside the axis: {100 * share:.1f} % of the intensity weight" in label
    assert f"mean {mean:.1f} nm (off the axis)" in label and "(off the axis)\n" in label  # the mode too
    # number weighting: the hidden count is the hidden share; a mean inside the axis is not marked
    number = legend_label("A", d, weighting="number", range_nm=(50.0, 160.0))
    assert number.startswith("A: n = 5 (1 outside the axis), 152.0 ± ") and "off the axis" not in number
    # the number mean (152 nm) beyond a 50-140 nm axis is marked; the mode (about 90 nm) is not
    marked = legend_label("A", d, weighting="number", range_nm=(50.0, 140.0))
    assert marked.startswith("A: n = 5 (1 outside the axis), 152.0 (off the axis) ± ") and marked.count("off") == 1
    fig, bins = size_histogram_figure({"A": d}, weighting="intensity", range_nm=(50.0, 150.0), percent=True)
    assert bins["percent"].sum() == pytest.approx(100 * (1 - share))


def test_a_wide_legend_goes_below_the_axis_clear_of_the_tick_labels_and_bars():
    # before: a legend wider than the axis slid left over the y tick labels ("20.0all vesicles: n = 24 ...")
    rng = np.random.default_rng(4)
    d = np.r_[rng.normal(80.0, 15.0, 24), [30.0, 35.0, 150.0, 190.0, 210.0, 230.0, 250.0]]
    fig, _ = size_histogram_figure({"all vesicles": d}, range_nm=(50.0, 120.0), percent=True)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = fig.legends[0] if fig.legends else ax.get_legend()
    box = legend.get_window_extent(renderer)
    for label in ax.get_yticklabels() + [ax.yaxis.label]:
        assert not box.overlaps(label.get_window_extent(renderer))
    assert box.y1 <= ax.get_window_extent(renderer).y0  # below the axis: over no bar
    low, high = ax.get_xlim()
    shown = [t for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    for text in [ax.yaxis.label, *shown]:  # and nothing drawn is cut off the figure
        extent = text.get_window_extent(renderer)
        assert extent.x0 >= 0 and extent.x1 <= fig.bbox.x1 + 0.5


@pytest.mark.parametrize("title", [None, "Intensity-weighted (d⁶)"])
def test_the_legend_stays_clear_of_the_bars_with_a_title_and_an_edge_line(title):
    # before: the title was added after the legend was fitted, shrinking the axis under it: the legend's last
    # line sat on the tallest (last) bar of the report's histogram
    d = np.array([35.0, 42, 45, 62, 65, 72, 74, 76, 78, 85, 104, 106, 112, 125])
    fig, bins = size_histogram_figure(
        {"": d}, weighting="intensity", percent=True, kde=True, title=title, edge_cut={"": 4}
    )
    fig.draw_without_rendering()
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend.get_texts()[0].get_text().endswith("incl. 4 cut by the image edge (sizes truncated)")
    box = legend.get_window_extent(fig.canvas.get_renderer()).transformed(ax.transData.inverted())
    for row in bins.itertuples(index=False):
        if row.bin_right_nm > box.x0 and row.bin_left_nm < box.x1:
            assert row.percent < box.y0, (row, box)


def test_the_kde_line_is_the_expected_count_per_bin_computed_by_hand():
    """The curve over count bars is n x bin width x the KDE density: the count a bin centred there would hold.

    d = 40, 50, 60, 70, 80 nm: SD (n - 1) = sqrt(250) = 15.811 nm, IQR (midpoint quartiles 47.5, 72.5) = 25 nm,
    25 / 1.34 = 18.66 > SD, so Silverman's h = 0.9 x 15.811 x 5**-0.2 = 10.3137 nm. At 60 nm the five kernels
    give phi(0) + 2 phi(10 / h) + 2 phi(20 / h) = 0.398942 + 2 x 0.249328 + 2 x 0.060872 = 1.019342, so the
    density is 1.019342 / (5 h) = 0.0197668 per nm, and a 10-nm bin there holds 5 x 10 x 0.0197668 = 0.98834.
    """
    d = np.array([40.0, 50.0, 60.0, 70.0, 80.0])
    fig, bins = size_histogram_figure({"g": d}, bin_width_nm=10.0, kde=True, range_nm=(0.0, 140.0))
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    assert np.interp(60.0, x, y) == pytest.approx(0.98834, rel=1e-3)
    # the area under the curve, in bins, is the number of vesicles (the bars' total)
    assert np.trapezoid(y, x) / 10.0 == pytest.approx(bins["count"].sum(), rel=1e-3)
    assert "KDE bandwidth 10.3 nm" in ax.get_xlabel()
    percent, _ = size_histogram_figure({"g": d}, bin_width_nm=10.0, kde=True, percent=True, range_nm=(0.0, 140.0))
    line = percent.axes[0].get_lines()[0]
    assert np.interp(60.0, line.get_xdata(), line.get_ydata()) == pytest.approx(0.98834 / 5 * 100, rel=1e-3)
