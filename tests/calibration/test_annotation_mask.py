"""Masking burnt-in annotations (scale bar, label, backing box, data strip) out of analysis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exo_vision.calibration.annotations import find_data_strip, flat_backing, grow_backing_box
from exo_vision.calibration.mask import annotation_mask
from exo_vision.calibration.scalebar import ScaleBarReading, read_scale_bar
from exo_vision.synthetic.scalebar import draw_scale_bar, tem_like_background

REPO = Path(__file__).resolve().parents[2]
REAL_TEM = REPO / "sample_images" / "hrml_ev_negative_stain.jpg"  # shipped (MIT), so every clone runs these


def _covered(mask: np.ndarray, box) -> float:
    r0, c0, r1, c1 = box
    return float(mask[r0:r1, c0:c1].mean())


def _reading(bar_box, label_box) -> ScaleBarReading:
    return ScaleBarReading(
        status="unreadable",
        pixel_size_nm=None,
        bar_length_px=None,
        length_nm=None,
        label_text="",
        confidence=0.0,
        bar_box=bar_box,
        label_box=label_box,
        reason="test",
    )


@pytest.mark.slow
def test_real_micrograph_mask_covers_bar_and_label_only():
    if not REAL_TEM.exists():
        pytest.skip(f"real test image not found at {REAL_TEM} (../shared/data is absent)")
    from PIL import Image

    gray = np.asarray(Image.open(REAL_TEM)).astype(np.float64).mean(axis=2)
    mask = annotation_mask(gray)
    assert mask.shape == gray.shape and mask.dtype == bool
    assert _covered(mask, (2860, 192, 2880, 993)) == 1.0  # the bar
    assert _covered(mask, (2725, 215, 2828, 710)) == 1.0  # "500 nm"
    # Nothing else: the vesicles and the rest of the field stay in.
    assert mask.mean() < 0.02
    assert not mask[:2600].any()


@pytest.mark.parametrize("polarity", ["dark", "light"])
@pytest.mark.parametrize("position", ["bottom-left", "top-right"])
def test_synthetic_mask_covers_strip_bar_label_and_box(polarity, position):
    background = tem_like_background((640, 880), rng=21)
    image, truth = draw_scale_bar(
        background, pixel_size_nm=1.0, length_nm=200.0, polarity=polarity, position=position, data_strip=True, rng=3
    )
    # Use the true boxes as the reading, so this tests the masking, not the OCR.
    mask = annotation_mask(image, reading=_reading(truth["bar_box"], truth["label_box"]), dilation_px=3)
    for key in ("bar_box", "label_box", "strip_box"):
        assert _covered(mask, truth[key]) == 1.0, key
    if truth["backing_box"] is not None:
        assert _covered(mask, truth["backing_box"]) == 1.0
    # Everything masked lies within the annotation boxes grown by the dilation (and a little slack).
    allowed = np.zeros_like(mask)
    for key in ("bar_box", "label_box", "strip_box", "backing_box"):
        if truth[key] is not None:
            r0, c0, r1, c1 = truth[key]
            allowed[max(r0 - 6, 0) : r1 + 6, max(c0 - 6, 0) : c1 + 6] = True
    r0 = min(truth["bar_box"][0], truth["label_box"][0])
    r1 = max(truth["bar_box"][2], truth["label_box"][2])
    c0 = min(truth["bar_box"][1], truth["label_box"][1])
    c1 = max(truth["bar_box"][3], truth["label_box"][3])
    allowed[max(r0 - 6, 0) : r1 + 6, max(c0 - 6, 0) : c1 + 6] = True
    assert not (mask & ~allowed).any()


def test_mask_reads_the_bar_itself_when_no_reading_is_given():
    background = tem_like_background((600, 800), rng=4)
    image, truth = draw_scale_bar(background, pixel_size_nm=1.0, length_nm=200.0, rng=4)
    mask = annotation_mask(image)
    assert _covered(mask, truth["bar_box"]) == 1.0
    assert _covered(mask, truth["label_box"]) == 1.0


def test_plain_image_has_an_empty_mask():
    image = tem_like_background((500, 700), rng=8)
    mask = annotation_mask(image, reading=read_scale_bar(image))
    assert mask.shape == image.shape and not mask.any()


def test_find_data_strip_on_a_hand_built_image():
    image = np.random.default_rng(0).normal(120, 15, (400, 500))
    image[360:] = 0.0  # a 40-row black strip
    image[370:385, 20:200] = 255.0  # with some text-like marks
    assert find_data_strip(image) == (360, 0, 400, 500)
    image[:30] = 255.0  # and a white strip at the top, shorter
    assert find_data_strip(image) == (360, 0, 400, 500)
    assert find_data_strip(np.random.default_rng(1).normal(120, 15, (400, 500))) is None


def test_grow_backing_box_finds_the_white_box():
    image = np.random.default_rng(0).normal(120, 15, (300, 400))
    image[200:260, 50:250] = 255.0  # a white box
    image[240:245, 70:230] = 0.0  # a bar on it
    image[215:235, 100:200] = 0.0  # and its label
    assert grow_backing_box(image, (215, 70, 245, 230)) == (200, 50, 260, 250)
    # On a noisy field nothing is grown.
    plain = np.random.default_rng(1).normal(120, 15, (300, 400))
    assert grow_backing_box(plain, (215, 70, 245, 230)) == (215, 70, 245, 230)


def test_bad_dilation_is_refused():
    with pytest.raises(ValueError, match="dilation_px"):
        annotation_mask(np.zeros((64, 64)), reading=_reading(None, None), dilation_px=-1)


def test_flat_backing_finds_the_box_around_a_bar_and_its_label():
    image = np.random.default_rng(0).normal(120, 15, (300, 400))
    image[200:260, 50:250] = 255.0  # a white box
    image[240:245, 70:230] = 0.0  # a bar on it
    image[215:235, 100:200:8] = 0.0  # and its label's strokes
    assert flat_backing(image, (240, 70, 245, 230)) == (200, 50, 260, 250)
    # A bar drawn straight onto a noisy micrograph has no flat backing.
    plain = np.random.default_rng(1).normal(120, 15, (300, 400))
    plain[240:245, 70:230] = 0.0
    assert flat_backing(plain, (240, 70, 245, 230)) is None


TURNS = {
    "rot90": lambda a: np.rot90(a, 1),
    "rot270": lambda a: np.rot90(a, -1),
    "transpose": lambda a: a.T,
    "antitranspose": lambda a: np.rot90(a, 2).T,
}


@pytest.mark.slow
@pytest.mark.parametrize("turn", sorted(TURNS))
def test_real_micrograph_stored_turned_masks_its_vertical_bar_and_label(turn):
    if not REAL_TEM.exists():
        pytest.skip(f"real test image not found at {REAL_TEM}")
    from PIL import Image

    gray = np.asarray(Image.open(REAL_TEM)).astype(np.float64).mean(axis=2)
    as_read = annotation_mask(gray)
    turned = annotation_mask(TURNS[turn](gray))
    # The same pixels are masked as in the image as read (a vertical bar was left unmasked but for a digit).
    assert abs(int(turned.sum()) - int(as_read.sum())) <= 0.03 * as_read.sum()
    label = np.zeros(gray.shape, bool)
    label[2725:2828, 215:710] = True  # "500 nm"
    label[2860:2880, 192:993] = True  # the bar
    assert turned[TURNS[turn](label)].all()


@pytest.mark.parametrize("turn", ["rot90", "transpose"])
def test_synthetic_vertical_bar_and_label_are_masked(turn):
    background = tem_like_background((600, 800), rng=4)
    image, truth = draw_scale_bar(background, pixel_size_nm=1.0, length_nm=200.0, rng=4)
    mask = annotation_mask(TURNS[turn](image))
    for key in ("bar_box", "label_box"):
        r0, c0, r1, c1 = truth[key]
        marked = np.zeros(image.shape, bool)
        marked[r0:r1, c0:c1] = True
        assert mask[TURNS[turn](marked)].all(), key
    assert mask.mean() < 0.05


def test_turned_view_boxes_map_back_to_the_same_pixels():
    from exo_vision.calibration.orientation import TURNED_FRAMES, box_to_image, view

    image = np.arange(7 * 11, dtype=np.float32).reshape(7, 11)
    for frame in TURNED_FRAMES:
        turned = view(image, frame)
        box = (2, 1, 5, 3)  # rows 2..4, columns 1..2 of the turned view
        r0, c0, r1, c1 = box_to_image(box, frame, image.shape)
        assert sorted(turned[2:5, 1:3].ravel()) == sorted(image[r0:r1, c0:c1].ravel()), frame


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("feature", ["streak", "filament", "ruler"])
def test_a_vertical_line_without_a_label_is_not_masked_as_a_scale_bar(feature, seed):
    """A stain streak, a filament or a ruler of ticks on a micrograph without a bar has no label: nothing masked."""
    from exo_vision.calibration.mask import locate_scale_bar
    from tests._helpers import micrograph_with_vertical_line

    image, _ = micrograph_with_vertical_line(feature, seed=seed)
    assert locate_scale_bar(image) == (None, [])  # before: the line's box, and up to 21 % of the field masked
    assert not annotation_mask(image).any()


@pytest.mark.parametrize("feature", ["streak", "filament"])
def test_calibrated_file_masks_its_horizontal_bar_not_a_longer_vertical_line(feature):
    """No reading is made for a calibrated file: the mask keeps to the real (horizontal, labelled) bar."""
    from tests._helpers import micrograph_with_vertical_line

    image, truth = micrograph_with_vertical_line(feature, seed=0, size=1024, scale_bar=True)
    mask = annotation_mask(image)
    r0, c0, r1, c1 = truth.scale_bar["bar_box"]
    assert mask[r0:r1, c0 + 1 : c1 - 1].all()  # before: the bar was left unmasked, the line masked instead
    assert _covered(mask, truth.scale_bar["label_box"]) == 1.0
    plain, _ = micrograph_with_vertical_line("none", seed=0, size=1024, scale_bar=True)
    assert np.array_equal(mask, annotation_mask(plain))


def test_an_unlabelled_bar_reading_keeps_the_horizontal_bar_beside_a_longer_vertical_line():
    """The bar's label is painted over: the reading is "unreadable" and names the real bar, not the streak."""
    from tests._helpers import micrograph_with_vertical_line

    image, truth = micrograph_with_vertical_line("streak", seed=0, size=1024, unlabelled_bar=True)
    reading = read_scale_bar(image)
    assert reading.status == "unreadable"
    r0, c0, r1, c1 = truth.scale_bar["bar_box"]
    assert reading.bar_box is not None and reading.bar_box[0] == r0 and abs(reading.bar_box[1] - c0) <= 2
    mask = annotation_mask(image, reading=reading)
    assert mask[r0:r1, c0 + 1 : c1 - 1].all()
    streak = np.zeros(image.shape, bool)
    streak[204:613, 696:704] = True
    assert not mask[streak].any()  # before: the streak and the box grown around it were masked


def test_a_vertical_bar_of_an_unconfirmed_reading_is_not_masked():
    """A reading whose vertical bar's label did not read (say, stored by an earlier version) masks nothing."""
    image = tem_like_background((400, 400), rng=2)
    image[50:300, 200:206] = image.min()
    assert not annotation_mask(image, reading=_reading((50, 200, 300, 206), (120, 210, 160, 260))).any()
    assert annotation_mask(image, reading=_reading((300, 50, 306, 300), None))[300:306, 50:300].all()
