"""Scale-bar reading: the real EV micrograph, failure modes, label parsing, manual calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exo_vision.calibration.ocr import find_tesseract, parse_scale_label
from exo_vision.calibration.scalebar import calibration_from_line, read_scale_bar
from exo_vision.synthetic.scalebar import draw_scale_bar, tem_like_background

REPO = Path(__file__).resolve().parents[2]
REAL_TEM = REPO / "sample_images" / "hrml_ev_negative_stain.jpg"  # shipped (MIT), so every clone runs these


def _has_tesseract() -> bool:
    try:
        find_tesseract()
    except RuntimeError:
        return False
    return True


needs_tesseract = pytest.mark.skipif(not _has_tesseract(), reason="tesseract-ocr is not installed")


@pytest.fixture(scope="module")
def real_gray() -> np.ndarray:
    if not REAL_TEM.exists():
        pytest.skip(f"real test image not found at {REAL_TEM} (../shared/data is absent)")
    from PIL import Image

    return np.asarray(Image.open(REAL_TEM)).astype(np.float64).mean(axis=2)


@needs_tesseract
def test_real_micrograph_reads_500_nm_over_801_px(real_gray):
    reading = read_scale_bar(real_gray)
    assert reading.status == "ok", reading.reason
    assert reading.length_nm == 500.0
    assert 798.0 <= reading.bar_length_px <= 804.0
    assert reading.pixel_size_nm == pytest.approx(0.624, abs=0.003)
    assert reading.confidence >= 0.8
    row0, col0, row1, col1 = reading.bar_box
    assert 2850 <= row0 <= 2870 and row1 <= 2885
    assert abs(col0 - 192) <= 3 and abs(col1 - 993) <= 3
    # The label "500 nm" sits above the bar.
    assert reading.label_box[2] <= row0


def test_image_without_a_bar_is_not_found():
    image = tem_like_background((600, 800), rng=3)
    reading = read_scale_bar(image)
    assert reading.status == "not found"
    assert reading.pixel_size_nm is None
    assert reading.bar_box is None
    assert "--pixel-size-nm" in reading.reason


@needs_tesseract
def test_bar_without_a_legible_label_is_unreadable_never_a_number():
    background = tem_like_background((700, 900), rng=5)
    image, truth = draw_scale_bar(background, pixel_size_nm=2.0, length_nm=500.0, rng=5)
    r0, c0, r1, c1 = truth["label_box"]
    # Scribble over the label: solid dark blocks of glyph size, not text.
    image[r0:r1, c0:c1] = background[r0:r1, c0:c1]
    for k, col in enumerate(range(c0, c1 - 6, 12)):
        image[r0 + (k % 3) : r1 - ((k + 1) % 3), col : col + 6] = 0
    reading = read_scale_bar(image)
    assert reading.status == "unreadable", reading
    assert reading.pixel_size_nm is None
    assert reading.bar_length_px == pytest.approx(truth["bar_length_px"], abs=0.5)
    assert reading.bar_box is not None


def test_missing_tesseract_is_a_clear_unreadable_reason():
    background = tem_like_background((600, 800), rng=1)
    image, truth = draw_scale_bar(background, pixel_size_nm=1.0, length_nm=200.0, rng=1)
    reading = read_scale_bar(image, tesseract_cmd="/nonexistent/bin/tesseract")
    assert reading.status == "unreadable"
    assert reading.pixel_size_nm is None
    assert "apt-get install tesseract-ocr" in reading.reason
    # The bar itself is still measured.
    assert reading.bar_length_px == pytest.approx(truth["bar_length_px"], abs=0.5)


@needs_tesseract
def test_rgb_input_is_averaged_to_gray():
    background = tem_like_background((600, 800), rng=2)
    image, truth = draw_scale_bar(background, pixel_size_nm=0.5, length_nm=100.0, rng=2)
    reading = read_scale_bar(np.stack([image] * 3, axis=-1))
    assert reading.status == "ok", reading.reason
    assert reading.pixel_size_nm == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 20, 30, 2)), "2-D"),
        (np.zeros((10, 10)), "too small"),
        (np.full((64, 64), np.nan), "NaN"),
        (np.array([["a"] * 40] * 40), "numeric"),
    ],
)
def test_bad_images_are_refused_with_a_fix(image, message):
    with pytest.raises(ValueError, match=message):
        read_scale_bar(image)


def test_min_confidence_out_of_range_is_refused():
    with pytest.raises(ValueError, match="min_confidence"):
        read_scale_bar(np.zeros((64, 64)), min_confidence=1.5)


@pytest.mark.parametrize(
    ("text", "length_nm"),
    [
        ("500 nm", 500.0),
        ("500nm", 500.0),
        ("200nm", 200.0),
        ("0.5 µm", 500.0),
        ("0.5um", 500.0),
        ("1um", 1000.0),
        ("2 μm", 2000.0),  # Greek mu, not the micro sign
        ("0,5 µm", 500.0),
        ("2,5 µm", 2500.0),
        # thousands separators (read as decimal commas they gave pixel sizes 1000x too small)
        ("1,000 nm", 1000.0),
        ("10,000 nm", 10000.0),
        ("2,500 nm", 2500.0),
        ("1.000 nm", 1000.0),
    ],
)
def test_label_parsing(text, length_nm):
    label = parse_scale_label(text)
    assert label is not None
    assert label.length_nm == pytest.approx(length_nm)


def test_label_parsing_is_cautious():
    assert parse_scale_label("1 pm").length_nm == pytest.approx(1000.0)
    assert parse_scale_label("1 pm").confidence < 1.0
    assert parse_scale_label("500 nm").confidence == 1.0
    assert parse_scale_label("137 nm").confidence < 0.8  # not a length a microscope picks
    assert parse_scale_label("05 nm").confidence < 0.8
    for junk in ("", "nm", "500", "abc", "500 mm", "5x00 nm", "1.2.3 nm"):
        assert parse_scale_label(junk) is None, junk


def test_calibration_from_line_arithmetic():
    assert calibration_from_line(801.0, 500.0) == pytest.approx(0.62422, abs=1e-5)
    assert calibration_from_line(200, 1000) == 5.0
    assert calibration_from_line(length_px=400.0, length_nm=100.0) == 0.25


@pytest.mark.parametrize(
    ("length_px", "length_nm", "name"),
    [
        (0.0, 500.0, "length_px"),
        (-10.0, 500.0, "length_px"),
        (float("nan"), 500.0, "length_px"),
        (1.0, 500.0, "too short"),
        (800.0, 0.0, "length_nm"),
        (800.0, float("inf"), "length_nm"),
        ("abc", 500.0, "length_px"),
        (800.0, None, "length_nm"),
    ],
)
def test_calibration_from_line_refuses_bad_values(length_px, length_nm, name):
    with pytest.raises(ValueError, match=name):
        calibration_from_line(length_px, length_nm)


@needs_tesseract
def test_a_longer_unlabelled_line_beside_a_labelled_bar_does_not_take_its_label():
    """A 100 nm bar of 200 px at the bottom right with its label over it, and a 400 px line without a label at
    the bottom left on the same row: the longer line is tried first and reached the label (0.25 nm/px)."""
    from exo_vision.synthetic.scalebar import render_text

    image = np.random.default_rng(0).normal(140, 18, (800, 800)).clip(0, 255)
    image[740:748, 500:700] = 0  # the scale bar: 200 px
    image[740:748, 60:460] = 0  # a longer line with no label
    ink = render_text("100 nm", font="DejaVu Sans", font_px=24)
    top, left = 740 - 12 - ink.shape[0], 600 - ink.shape[1] // 2
    region = image[top : top + ink.shape[0], left : left + ink.shape[1]]
    region[:] = region * (1 - ink)  # dark text centred over the bar
    reading = read_scale_bar(image.astype(np.uint8))
    assert reading.status == "ok" and reading.pixel_size_nm == pytest.approx(0.5, rel=0.01)


def test_a_decimal_point_the_ocr_left_out_makes_the_label_unreadable():
    """'2.5 nm' in a small font was read '25 nm' (10x off) with confidence 0.85: the point is below the glyph
    height the glyph count looks at. A point on the baseline between a digit and a digit-plus-unit is seen."""
    from exo_vision.calibration.label import LabelRead, _with_its_point
    from exo_vision.calibration.ocr import shows_decimal_point

    def label(point_after: int | None) -> np.ndarray:
        binary = np.full((40, 200), 255, np.uint8)
        for k, x in enumerate((10, 40, 80, 110)):  # four glyphs: "2", "5", "n", "m" (digits 30 px tall, unit 20)
            top = 5 if k < 2 else 15
            binary[top:35, x : x + 20] = 0
        if point_after is not None:
            x = (10, 40, 80)[point_after] + 23
            binary[31:35, x : x + 4] = 0  # a 4 x 4 point on the baseline
        return binary

    assert shows_decimal_point(label(0))  # "2.5nm"
    assert not shows_decimal_point(label(None))  # "25nm"
    assert not shows_decimal_point(label(1))  # a speck in the gap before the unit is no decimal point
    read = LabelRead("25nm", 25.0, 0.85, "")
    assert _with_its_point(read, [label(0)] * 3).length_nm is None
    assert _with_its_point(read, [label(None)] * 3) == read
    assert _with_its_point(LabelRead("2.5nm", 2.5, 0.95, ""), [label(0)] * 3).length_nm == 2.5


#: The four ways a micrograph is stored with its bar vertical: turned by 90 / 270 degrees, transposed, and
#: transposed about the other diagonal (the label then reads mirrored).
TURNS = {
    "rot90": lambda a: np.rot90(a, 1),
    "rot270": lambda a: np.rot90(a, -1),
    "transpose": lambda a: a.T,
    "antitranspose": lambda a: np.rot90(a, 2).T,
}


@needs_tesseract
@pytest.mark.slow
@pytest.mark.parametrize("turn", sorted(TURNS))
def test_real_micrograph_stored_turned_reads_the_same_pixel_size(real_gray, turn):
    as_read = read_scale_bar(real_gray)
    turned = TURNS[turn](real_gray)
    reading = read_scale_bar(turned)
    assert reading.status == "ok", reading.reason
    assert reading.pixel_size_nm == pytest.approx(as_read.pixel_size_nm, rel=1e-6)
    # The boxes are in the turned image's own pixels: the bar box there is the as-read bar box turned.
    marked = np.zeros(real_gray.shape, bool)
    r0, c0, r1, c1 = as_read.bar_box
    marked[r0:r1, c0:c1] = True
    rows, cols = np.nonzero(TURNS[turn](marked))
    assert reading.bar_box == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)


@needs_tesseract
@pytest.mark.parametrize("turn", ["rot90", "rot270"])
def test_synthetic_vertical_bar_is_read(turn):
    background = tem_like_background((600, 800), rng=5)
    image, truth = draw_scale_bar(background, pixel_size_nm=1.25, length_nm=200.0, rng=5)
    reading = read_scale_bar(TURNS[turn](image))
    assert reading.status == "ok", reading.reason
    assert reading.pixel_size_nm == pytest.approx(1.25, rel=0.01)
