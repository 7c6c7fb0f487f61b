"""Scale-bar reading on seeded synthetic micrographs with known truth, and the bar drawer itself."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from exo_vision.calibration.bar import as_gray, bar_candidates, measure_bar_length
from exo_vision.calibration.label import end_ticks
from exo_vision.calibration.ocr import find_tesseract
from exo_vision.calibration.scalebar import read_scale_bar
from exo_vision.synthetic.scalebar import (
    FONTS,
    draw_scale_bar,
    format_label,
    random_scale_bar_image,
    tem_like_background,
)


def _has_tesseract() -> bool:
    try:
        find_tesseract()
    except RuntimeError:
        return False
    return True


needs_tesseract = pytest.mark.skipif(not _has_tesseract(), reason="tesseract-ocr is not installed")


def _outcome(reading, truth) -> str:
    if reading.status != "ok":
        return reading.status
    error = reading.pixel_size_nm / truth["pixel_size_nm"] - 1.0
    return "correct" if abs(error) <= 0.01 else "WRONG"


# One image per family: fonts, polarities, units, corners, with and without a data strip.
FAMILIES = [
    dict(font="DejaVu Sans", unit="nm", length_nm=200.0, position="bottom-left", polarity="dark", data_strip=False),
    dict(font="DejaVu Serif", unit="µm", length_nm=500.0, position="bottom-right", polarity="light", data_strip=False),
    dict(font="DejaVu Sans Mono", unit="µm", length_nm=1000.0, position="top-left", polarity="dark", data_strip=True),
    dict(
        font="hershey simplex", unit="nm", length_nm=100.0, position="bottom-right", polarity="light", data_strip=True
    ),
    dict(font="hershey duplex", unit="um", length_nm=2000.0, position="top-right", polarity="light", data_strip=False),
    dict(font="DejaVu Sans", unit="nm", length_nm=50.0, position="bottom-left", polarity="light", data_strip=True),
]


@needs_tesseract
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f"{f['font']}-{f['unit']}-{f['polarity']}-{f['position']}")
def test_each_family_reads_within_one_percent(family):
    background = tem_like_background((720, 960), rng=11)
    pixel_size_nm = family["length_nm"] / 233.7  # a bar of 233.7 px: sub-pixel ends
    image, truth = draw_scale_bar(background, pixel_size_nm=pixel_size_nm, font_px=30, rng=7, **family)
    reading = read_scale_bar(image)
    assert reading.status == "ok", reading.reason
    assert reading.pixel_size_nm == pytest.approx(pixel_size_nm, rel=0.01)
    assert reading.length_nm == pytest.approx(family["length_nm"])
    assert reading.bar_length_px == pytest.approx(233.7, abs=0.3)


@needs_tesseract
@pytest.mark.slow
def test_seeded_random_set_is_mostly_correct_and_never_wrong():
    outcomes = []
    length_errors = []
    for seed in range(24):
        image, truth = random_scale_bar_image(rng=seed)
        reading = read_scale_bar(image)
        outcomes.append(_outcome(reading, truth))
        if reading.bar_length_px is not None:
            length_errors.append(abs(reading.bar_length_px - truth["bar_length_px"]))
    assert outcomes.count("WRONG") == 0, outcomes
    assert outcomes.count("correct") >= 0.9 * len(outcomes), outcomes
    # Sub-pixel bar length: well under a pixel on every bar found.
    assert max(length_errors) < 0.5


def test_drawn_bar_has_the_promised_geometry():
    background = tem_like_background((600, 800), rng=0)
    image, truth = draw_scale_bar(background, pixel_size_nm=2.0, length_nm=300.0, position="top-right", rng=0)
    assert image.dtype == background.dtype and image.shape == background.shape
    assert truth["bar_length_px"] == pytest.approx(150.0)
    r0, c0, r1, c1 = truth["bar_box"]
    assert c1 - c0 in (150, 151)  # 150 px starting at a fractional column
    assert r0 < 300 and c0 > 400  # top-right corner
    # A dark bar: fully covered pixels are black.
    assert np.all(image[r0:r1, c0 + 1 : c1 - 1] == 0)
    # The label is drawn and reported.
    assert truth["label_text"] in ("300 nm", "300nm")
    lr0, lc0, lr1, lc1 = truth["label_box"]
    assert image[lr0:lr1, lc0:lc1].min() == 0
    assert np.array_equal(image[r1 + 40 :, :400], background[r1 + 40 :, :400])  # nothing else touched


def test_drawn_bar_end_coverage_is_fractional():
    background = np.full((300, 600), 200, np.uint8)
    image, truth = draw_scale_bar(background, pixel_size_nm=1.0, length_nm=100.25, rng=4)
    r0, c0, r1, c1 = truth["bar_box"]
    row = image[r0 + 1].astype(float)
    paper = row[c0 - 2]  # 200, or 255 when the bar got a white box
    coverage = (paper - row) / paper
    assert coverage[c0 - 1] == 0.0 and coverage[c1] == 0.0
    assert coverage[c0:c1].sum() == pytest.approx(100.25, abs=0.02)


def test_light_bar_sits_on_a_dark_box_and_strip_is_reported():
    background = tem_like_background((600, 800), rng=0)
    image, truth = draw_scale_bar(
        background,
        pixel_size_nm=1.0,
        length_nm=200.0,
        polarity="light",
        position="bottom-right",
        data_strip=True,
        rng=1,
    )
    r0, c0, r1, c1 = truth["bar_box"]
    assert np.all(image[r0:r1, c0 + 1 : c1 - 1] == 255)
    s0, sc0, s1, sc1 = truth["strip_box"]
    assert (s1, sc0, sc1) == (600, 0, 800)
    assert s0 <= r0  # the bar sits inside the strip
    assert np.median(image[s0:s1]) == 0  # a black strip behind a white bar


def test_hershey_fonts_have_no_micro_sign():
    background = tem_like_background((600, 800), rng=0)
    _, truth = draw_scale_bar(background, pixel_size_nm=4.0, length_nm=1000.0, unit="µm", font="hershey duplex", rng=0)
    assert truth["label_text"] in ("1 um", "1um")


def test_format_label():
    assert format_label(500.0, "nm") == "500 nm"
    assert format_label(500.0, "µm") == "0.5 µm"
    assert format_label(2000.0, "um", space=False) == "2um"
    assert format_label(250.0, "µm") == "0.25 µm"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(pixel_size_nm=0.0), "pixel_size_nm"),
        (dict(pixel_size_nm=1.0, length_nm=5000.0), "does not fit"),
        (dict(pixel_size_nm=1.0, unit="mm"), "unit"),
        (dict(pixel_size_nm=1.0, position="middle"), "position"),
        (dict(pixel_size_nm=1.0, polarity="red"), "polarity"),
        (dict(pixel_size_nm=1.0, font="Comic Sans"), "unknown font"),
    ],
)
def test_draw_scale_bar_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        draw_scale_bar(np.zeros((600, 800), np.uint8), **kwargs)


def test_draw_scale_bar_refuses_rgb():
    with pytest.raises(ValueError, match="2-D"):
        draw_scale_bar(np.zeros((600, 800, 3), np.uint8), pixel_size_nm=1.0)


def test_random_cases_are_reproducible_and_varied():
    a_image, a_truth = random_scale_bar_image(rng=5)
    b_image, b_truth = random_scale_bar_image(rng=5)
    assert np.array_equal(a_image, b_image) and a_truth == b_truth
    fonts = {random_scale_bar_image(rng=seed)[1]["font"] for seed in range(12)}
    assert len(fonts) >= 4 and fonts <= set(FONTS)


def test_rows_with_runs_finds_exactly_the_rows_an_erosion_finds():
    import cv2

    from exo_vision.calibration.bar import rows_with_runs as _rows_with_runs

    rng = np.random.default_rng(11)
    image = rng.random((300, 400)) > 0.7  # short random runs everywhere
    image[50, 10:60] = True  # runs of exactly 50 and 49 pixels, one at the edge
    image[120, 351:400] = True
    image[200:204, 100:300] = True
    for min_length in (12, 49, 50, 51):
        expected = np.flatnonzero(
            cv2.erode(
                image.view(np.uint8), np.ones((1, min_length), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
            ).max(axis=1)
        )
        rows, masks = _rows_with_runs(lambda r, c=slice(None): image[r, c], image.shape[0], min_length)
        assert np.array_equal(rows, expected)
        assert np.array_equal(masks.view(bool), image[rows])


# Bar styles the reader once refused: a label's pixel size must still be read within 1 %.
TICKED = dict(bar_px=180.3, font_px=40, bar_thickness_px=10)
STYLES = [
    # Ticks as wide as the bar, reaching 30 px up and down: across the text line of a label a third of
    # its height away, as wide as most of the bar.
    pytest.param(dict(tick_px=30, label_side="above", **TICKED), id="ticks-reaching-the-label-above"),
    pytest.param(dict(tick_px=30, label_side="below", polarity="light", **TICKED), id="ticks-label-below-light"),
    pytest.param(dict(tick_px=12, label_side="right"), id="ticks-label-right"),
    pytest.param(dict(outline_px=2, polarity="light", label_side="above"), id="outlined-white-bar"),
    pytest.param(dict(outline_px=2, polarity="light", label_side="below"), id="outlined-white-bar-label-below"),
    pytest.param(dict(label_side="left"), id="label-left"),
    pytest.param(dict(label_side="left", polarity="light"), id="label-left-light-box"),
    pytest.param(dict(label_side="right", polarity="light"), id="label-right-light-box"),
]


@needs_tesseract
@pytest.mark.parametrize("style", STYLES)
def test_ticked_outlined_and_side_labelled_bars_read_within_one_percent(style):
    background = tem_like_background((720, 960), rng=3)
    drawing = dict(bar_px=233.7, font_px=30, bar_thickness_px=6) | style
    pixel_size_nm = 200.0 / drawing.pop("bar_px")
    image, truth = draw_scale_bar(background, pixel_size_nm=pixel_size_nm, length_nm=200.0, rng=2, **drawing)
    reading = read_scale_bar(image)
    assert reading.status == "ok", reading.reason
    assert reading.length_nm == 200.0
    assert reading.pixel_size_nm == pytest.approx(pixel_size_nm, rel=0.01)


def test_thin_bars_in_jpeg_are_measured_to_half_a_percent():
    # A 3 px bar whose JPEG noise lowers its saturated inside: only the two ends may count fractionally.
    errors = []
    for seed in range(8):
        background = tem_like_background((512, 700), rng=seed)
        length_px = 51.3 + 7.1 * seed
        image, truth = draw_scale_bar(
            background,
            pixel_size_nm=50.0 / length_px,
            length_nm=50.0,
            bar_thickness_px=3,
            polarity="light" if seed % 2 else "dark",
            font_px=16,
            rng=seed,
        )
        for quality in (50, 75):
            ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            jpeg = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
            bar, f, _ = bar_candidates(as_gray(jpeg))[0]
            assert bar.box[0] == truth["bar_box"][0]  # the drawn bar, not something else
            errors.append(measure_bar_length(f, bar) / length_px - 1.0)
    assert max(abs(error) for error in errors) < 0.005, errors


def test_end_ticks_are_found_at_both_ends_and_a_glyph_on_the_bar_is_no_tick():
    image = np.zeros((120, 300), np.float32)
    image[60:64, 50:250] = 1.0  # the bar: rows 60-63, columns 50-249
    image[40:84, 50:54] = 1.0  # a tick at each end, 20 px above and below
    image[40:84, 246:250] = 1.0
    bar, f, threshold = bar_candidates(image)[0]
    assert bar.box == (60, 50, 64, 250)
    assert end_ticks(f, threshold, bar) == ((40, 50, 84, 54), (40, 246, 84, 250))
    one_end = image.copy()
    one_end[40:84, 246:250] = 0.0
    one_end[60:64, 246:250] = 1.0
    assert end_ticks(f.__class__(one_end, None), threshold, bar) == ()  # a stroke at one end only: a glyph
    uneven = image.copy()
    uneven[20:40, 246:250] = 1.0  # the right one reaches 20 px higher than the left one
    assert end_ticks(f.__class__(uneven, None), threshold, bar) == ()
    touching = image.copy()
    touching[70:84, 54:58] = 1.0  # a "1" touching the left tick (in its zone): that "tick" is wider
    assert end_ticks(f.__class__(touching, None), threshold, bar) == ()
    glyph = image.copy()
    glyph[44:60, 120:126] = 1.0  # a stroke standing on the middle of the bar
    assert end_ticks(f.__class__(glyph, None), threshold, bar) == ()


def test_drawn_ticks_outline_and_side_label_geometry():
    background = np.full((400, 600), 128, np.uint8)
    image, truth = draw_scale_bar(
        background, pixel_size_nm=1.0, length_nm=200.0, tick_px=10, label_side="left", bar_thickness_px=4, rng=0
    )
    r0, c0, r1, c1 = truth["bar_box"]
    assert truth["bar_length_px"] == pytest.approx(200.0) and c1 - c0 == 201  # a fractional start
    assert np.all(image[r0 - 10 : r1 + 10, c0 + 1 : c0 + 4] == 0)  # the left tick, 10 px above and below
    assert np.all(image[r0 - 10 : r1 + 10, c1 - 4 : c1 - 1] == 0)  # the right one
    assert np.all(image[r0 - 10 : r0, c0 + 6 : c1 - 6] != 0)  # nothing else above the bar
    lr0, lc0, lr1, lc1 = truth["label_box"]
    assert lc1 < c0 and lr0 < r1 and lr1 > r0  # left of the bar, on its rows
    assert truth["label_side"] == "left" and truth["tick_px"] == 10

    image, truth = draw_scale_bar(
        background, pixel_size_nm=1.0, length_nm=200.0, outline_px=2, polarity="light", bar_thickness_px=4, rng=0
    )
    r0, c0, r1, c1 = truth["bar_box"]
    assert truth["backing_box"] is None  # an outlined bar stands on the image
    assert np.all(image[r0:r1, c0 + 1 : c1 - 1] == 255)
    assert np.all(image[r0 - 2 : r0, c0 + 1 : c1 - 1] == 0) and np.all(image[r1 : r1 + 2, c0 + 1 : c1 - 1] == 0)
    assert np.all(image[r0 - 3, c0 - 3 : c1 + 3] == 128)


def test_draw_scale_bar_refuses_a_bad_style():
    background = np.full((400, 600), 128, np.uint8)
    with pytest.raises(ValueError, match="label_side"):
        draw_scale_bar(background, pixel_size_nm=1.0, label_side="inside")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tick_px"):
        draw_scale_bar(background, pixel_size_nm=1.0, tick_px=-1)


def test_a_white_bar_framed_in_black_on_a_light_field_is_never_measured_by_its_frame():
    # The frame's dark top and bottom lines are bar-like too, 2 x 3 px longer than the white bar, with the black
    # label above them: read as the bar, they gave a pixel size 2 % small at status ok. Now the white bar is the bar:
    # its length is measured right, and its label (of the frame's colour) is not taken for its own: a refusal.
    for seed in range(3):
        g = np.random.default_rng(seed)
        image = (200 + g.normal(0, 4, (900, 1200))).clip(0, 255).astype(np.uint8)
        framed, meta = draw_scale_bar(
            image, pixel_size_nm=200 / 306, length_nm=200, polarity="dark", bar_thickness_px=12, rng=seed
        )
        r0, c0, r1, c1 = meta["bar_box"]
        framed[r0 + 3 : r1 - 3, c0 + 3 : c0 + 303] = 255  # a white bar of 300 px = 200 nm in a 3 px black frame
        reading = read_scale_bar(framed)
        assert reading.status != "ok" or reading.pixel_size_nm == pytest.approx(200 / 300, rel=0.01)
        assert reading.bar_length_px == pytest.approx(300, abs=1.5)
