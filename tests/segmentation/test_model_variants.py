"""Model variants: the shipped weights under a card with other post-processing settings."""

import json

import numpy as np
import pytest

from exo_vision.evaluation.matching import score_detection
from exo_vision.segmentation import api
from exo_vision.segmentation.learned.variants import write_model_variant
from exo_vision.segmentation.learned.weights import MODELS_DIR, load_card
from exo_vision.synthetic.tem import make_synthetic_tem


def test_a_variant_keeps_the_weights_and_says_what_it_changed(tmp_path):
    shipped = load_card()
    path = write_model_variant(tmp_path / "cups", join_rounder=True)
    assert path == tmp_path / "cups.onnx"
    card = load_card(path)  # the checksum is verified on loading
    assert card.sha256 == shipped.sha256 and path.read_bytes() == shipped.onnx_path.read_bytes()
    assert card.version == f"{shipped.version}+join_rounder" and card.name == shipped.name
    assert card.thresholds.join_rounder is True
    assert card.thresholds.foreground == shipped.thresholds.foreground
    assert card.card["variant"]["changed"] == {"join_rounder": [False, True]}
    assert card.card["variant"]["base"] == {"name": shipped.name, "version": shipped.version, "sha256": shipped.sha256}
    # the base's validation figures were measured with other settings: kept, but not as this model's
    assert "validation" not in card.card and card.card["validation_of_base"] == shipped.card["validation"]
    # a variant of a variant records its own base and adds to the version
    second = load_card(write_model_variant(tmp_path / "cups_flips.onnx", base=path, flips=2))
    assert second.version == f"{shipped.version}+join_rounder+flips"
    assert second.thresholds.join_rounder is True and second.thresholds.flips == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        ({}, "no setting to change"),
        ({"foreground": 0.3}, "cannot change 'foreground'"),
        ({"flips": 3}, "flips must be 1, 2 or 4"),
        ({"join_rounder": 1}, "join_rounder must be true or false"),
        ({"normalise_window_px": -5}, "normalise_window_px must be 0 .the whole image. or a positive whole number"),
        ({"second_scale_factor": 0.2}, "second_scale_factor must be 0 .one fine pass. or a factor"),
        ({"join_rounder": False}, "nothing to change"),
    ],
)
def test_a_variant_that_changes_nothing_or_something_else_is_refused(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        write_model_variant(tmp_path / "v.onnx", **changes)
    assert not any(tmp_path.iterdir())


def test_a_variant_never_overwrites_a_file_or_writes_into_the_package(tmp_path):
    (tmp_path / "v.json").write_text("{}")
    with pytest.raises(ValueError, match="v.json exists"):
        write_model_variant(tmp_path / "v.onnx", join_rounder=True)
    assert (tmp_path / "v.json").read_text() == "{}" and not (tmp_path / "v.onnx").exists()
    with pytest.raises(ValueError, match="outside the package"):
        write_model_variant(MODELS_DIR / "mine.onnx", join_rounder=True)


def test_the_variants_settings_reach_the_segmentation_and_its_record(tmp_path):
    image, truth = make_synthetic_tem((1024, 1024), pixel_size_nm=1.0, difficulty="medium", scale_bar=False, rng=12)
    path = write_model_variant(tmp_path / "cups.onnx", join_rounder=True)
    result = api.segment_vesicles(image, pixel_size_nm=1.0, method="unet", model=path)
    assert result.parameters["thresholds"]["join_rounder"] is True
    assert result.parameters["model"]["version"].endswith("+join_rounder")
    assert score_detection(truth.labels, result.labels).recall >= 0.85
    plain = api.segment_vesicles(image, pixel_size_nm=1.0, method="unet")
    # joining only ever merges instances: never more objects than without it
    assert 0 < int(result.labels.max()) <= int(plain.labels.max())
    assert json.loads(json.dumps(result.parameters["model"])) == result.parameters["model"]  # recordable in run.json


def test_a_second_scale_runs_one_more_fine_pass_and_averages_its_maps(tmp_path, monkeypatch):
    """With ``second_scale_factor`` 0.8 the network runs at 3.0, 2.4 and (the coarse pass) 6.0 nm/px, and the fine
    maps are the mean of the 3.0 nm/px maps and the 2.4 nm/px maps resampled to their grid: a map constant at 0.2
    and one constant at 0.6 average to 0.4 everywhere."""
    from exo_vision.segmentation.learned import method

    image, truth = make_synthetic_tem((1024, 1024), pixel_size_nm=1.0, difficulty="medium", scale_bar=False, rng=12)
    path = write_model_variant(tmp_path / "two.onnx", second_scale_factor=0.8)
    card = load_card(path)
    assert card.version.endswith("+second_scale_factor") and card.thresholds.second_scale_factor == 0.8
    scales: list[float] = []
    real_maps = method.network_maps

    def spy(image, **kwargs):
        scales.append(round(kwargs["working_scale_nm"], 6))
        return real_maps(image, **kwargs)

    monkeypatch.setattr(method, "network_maps", spy)
    result = api.segment_vesicles(image, pixel_size_nm=1.0, method="unet", model=path)
    assert scales == [3.0, 2.4, 6.0]
    assert result.parameters["thresholds"]["second_scale_factor"] == 0.8
    assert score_detection(truth.labels, result.labels).recall >= 0.85

    fine = np.full((3, 90, 90), 0.2, np.float32)
    finer = np.full((3, 112, 112), 0.6, np.float32)  # the same field at 2.4 nm/px
    averaged = method.mean_on_grid(fine, finer)
    assert averaged.shape == (3, 90, 90) and averaged.dtype == np.float32
    np.testing.assert_allclose(averaged, 0.4, atol=1e-6)


def test_membrane_offset_map_moves_the_contour_out_by_a_fraction_of_a_pixel():
    from exo_vision.segmentation.learned.method import membrane_offset_map

    # a foreground ramp rising 0.1 per pixel along x crosses 0.5 at x = 5; moved out by 0.6 px it crosses at 4.4
    ramp = np.tile(0.1 * np.arange(11, dtype=np.float32), (3, 1))
    moved = membrane_offset_map(ramp, threshold=0.5, radius_px=0.6)
    x = np.arange(11)
    crossing = np.interp(0.0, moved[1], x)
    assert crossing == pytest.approx(4.4, abs=1e-5)
    assert np.array_equal(moved[1] > 0, x > 4.4)


def _small_vesicle_bias_pct(image, truth, pixel_size_nm: float, model) -> float:
    """Median signed equivalent-diameter error (%) of matched generated vesicles under 60 nm."""
    from exo_vision.evaluation import match_instances
    from exo_vision.measure.vesicles import measure_vesicles

    seg = api.segment_vesicles(image, pixel_size_nm=pixel_size_nm, method="unet", model=model)
    found_d = measure_vesicles(seg.labels, image, pixel_size_nm=pixel_size_nm, polarity=seg.polarity).set_index(
        "label"
    )["equivalent_diameter_nm"]
    true_d = dict(zip(truth.vesicles["label"], truth.vesicles["equivalent_diameter_nm"], strict=True))
    errors = [
        100 * (found_d[p] - true_d[t]) / true_d[t]
        for t, p, _ in match_instances(truth.labels, seg.labels)
        if true_d[t] < 60
    ]
    assert len(errors) >= 5, "too few small vesicles matched to measure a bias"
    return float(np.median(errors))


def test_subpixel_membrane_gives_small_vesicles_their_half_membrane_on_coarse_micrographs(tmp_path):
    """At 4 nm/px the shipped outlines of small vesicles are several per cent small (the half-membrane disk is a
    single pixel); the opt-in setting moves them out. At 1 nm/px it changes nothing."""
    path = write_model_variant(tmp_path / "coarse.onnx", subpixel_membrane=True)
    assert load_card(path).thresholds.subpixel_membrane is True
    image, truth = make_synthetic_tem((640, 640), pixel_size_nm=4.0, difficulty="medium", scale_bar=False, rng=31)
    shipped = _small_vesicle_bias_pct(image, truth, 4.0, None)
    variant = _small_vesicle_bias_pct(image, truth, 4.0, path)
    assert shipped < -4.0
    assert abs(variant) < abs(shipped) - 3.0
    fine, _ = make_synthetic_tem((512, 512), pixel_size_nm=1.0, difficulty="medium", scale_bar=False, rng=32)
    assert np.array_equal(
        api.segment_vesicles(fine, pixel_size_nm=1.0, method="unet", model=path).labels,
        api.segment_vesicles(fine, pixel_size_nm=1.0, method="unet").labels,
    )


def test_inverted_grey_reverses_levels_within_the_same_range_and_dtype():
    from exo_vision.segmentation.learned.method import inverted_grey

    img = np.array([[10, 250], [100, 30]], np.uint8)
    out = inverted_grey(img)
    assert out.dtype == np.uint8 and out.tolist() == [[250, 10], [160, 230]]  # 260 - x, without wrapping at 255
    f = np.array([0.5, 2.0, 1.0], np.float32)
    assert inverted_grey(f).tolist() == [2.0, 0.5, 1.5]


def test_invert_dark_segments_a_dark_micrograph_as_its_inverse_and_leaves_a_bright_one_alone(tmp_path):
    from exo_vision.segmentation.learned.method import inverted_grey, segment_unet

    card = load_card(write_model_variant(tmp_path / "inv.onnx", invert_dark=True))
    image, truth = make_synthetic_tem(
        (1024, 1024), pixel_size_nm=1.0, difficulty="medium", polarity="dark", scale_bar=False, rng=12
    )
    image = image.astype(np.float32)
    none = np.zeros(image.shape, bool)
    labels, _, polarity, parameters = segment_unet(image, pixel_size_nm=1.0, exclude=none, model=card)
    assert polarity == "dark" and parameters["network_input"] == "inverted"
    assert parameters["thresholds"]["invert_dark"] is True
    # the second pass is the plain network on the reversed grey levels, outline for outline
    plain, _, plain_polarity, plain_parameters = segment_unet(
        inverted_grey(image), pixel_size_nm=1.0, exclude=none, polarity="bright"
    )
    assert plain_parameters["network_input"] == "as read" and plain_polarity == "bright"
    np.testing.assert_array_equal(labels, plain)
    assert score_detection(truth.labels, labels).recall >= 0.85
    # polarity given: "dark" inverts without a first pass, "bright" never inverts
    given, _, _, p_dark = segment_unet(image, pixel_size_nm=1.0, exclude=none, model=card, polarity="dark")
    np.testing.assert_array_equal(given, labels)
    assert p_dark["network_input"] == "inverted"
    _, _, _, p_bright = segment_unet(image, pixel_size_nm=1.0, exclude=none, model=card, polarity="bright")
    assert p_bright["network_input"] == "as read"
    # a bright micrograph is read as it is
    bright, _ = make_synthetic_tem((768, 768), pixel_size_nm=1.0, difficulty="medium", scale_bar=False, rng=21)
    _, _, found, p = segment_unet(bright.astype(np.float32), pixel_size_nm=1.0, exclude=none, model=card)
    assert found == "bright" and p["network_input"] == "as read"


def test_a_micrograph_too_coarse_for_the_half_membrane_is_warned_about(tmp_path):
    """The limit is where grow_labels' disk of half a membrane (2 nm) stops reaching the 4 neighbours: radius**2 +
    0.25 = 1, i.e. 2 / sqrt(0.75) = 2.309 nm/px. Finer, an outline grows by one pixel; coarser, it does not, and the
    run says so; a model with the sub-pixel half membrane is not warned about."""
    from exo_vision.segmentation.learned.method import (
        MEMBRANE_THICKNESS_NM,
        coarse_outline_warning,
        grow_labels,
        half_membrane_limit_nm,
    )

    limit = half_membrane_limit_nm()
    assert limit == pytest.approx(2 / np.sqrt(0.75))
    dot = np.zeros((5, 5), np.int32)
    dot[2, 2] = 1
    for px, grown_area in ((limit - 0.01, 5), (limit + 0.01, 1)):
        assert int((grow_labels(dot, radius_px=0.5 * MEMBRANE_THICKNESS_NM / px) > 0).sum()) == grown_area

    image, _ = make_synthetic_tem((512, 512), pixel_size_nm=3.0, difficulty="easy", scale_bar=False, rng=21)
    coarse = api.segment_vesicles(image, pixel_size_nm=3.0, method="unet")
    assert len(coarse.warnings) == 1 and "coarser than 2.31 nm/px" in coarse.warnings[0]
    assert "--subpixel-membrane" in coarse.warnings[0]
    assert api.segment_vesicles(image, pixel_size_nm=2.0, method="unet").warnings == []
    assert api.segment_vesicles(image, pixel_size_nm=3.0, method="classical").warnings == []
    sub = write_model_variant(tmp_path / "sub.onnx", subpixel_membrane=True)
    assert api.segment_vesicles(image, pixel_size_nm=3.0, method="unet", model=sub).warnings == []
    assert coarse_outline_warning(2.0, load_card().thresholds) is None


def test_vesicles_darker_than_the_stain_are_warned_about_unless_the_model_inverts_them(tmp_path):
    dark, _ = make_synthetic_tem(
        (512, 512), pixel_size_nm=1.0, difficulty="easy", polarity="dark", scale_bar=False, rng=22
    )
    found = api.segment_vesicles(dark, pixel_size_nm=1.0, method="unet")
    assert found.polarity == "dark"
    assert len(found.warnings) == 1 and "darker than the stain" in found.warnings[0]
    assert "--invert-dark" in found.warnings[0]
    inverting = write_model_variant(tmp_path / "dark.onnx", invert_dark=True)
    assert api.segment_vesicles(dark, pixel_size_nm=1.0, method="unet", model=inverting).warnings == []
    bright, _ = make_synthetic_tem((512, 512), pixel_size_nm=1.0, difficulty="easy", scale_bar=False, rng=22)
    assert api.segment_vesicles(bright, pixel_size_nm=1.0, method="unet").warnings == []
    assert api.segment_vesicles(dark, pixel_size_nm=1.0, method="classical").warnings == []
    # the record of a curated micrograph is judged the same way
    segmenter = {"method": "unet", "model": found.parameters["model"]}
    assert api.segmenter_warnings(1.0, segmenter, "dark") == found.warnings
    assert api.segmenter_warnings(3.0, segmenter, "dark")[0].startswith("pixel size 3 nm/px is coarser")
    assert api.segmenter_warnings(1.0, {"method": "classical", "model": None}, "dark") == []
    # a variant's record keeps its settings after its file is gone
    inverted = api.segment_vesicles(dark, pixel_size_nm=1.0, method="unet", model=inverting).parameters["model"]
    assert inverted["settings"] == {"subpixel_membrane": False, "invert_dark": True}
    inverting.unlink()
    assert api.segmenter_warnings(1.0, {"method": "unet", "model": inverted}, "dark") == []
    older = {key: value for key, value in inverted.items() if key != "settings"}  # a record made before settings
    assert "darker than the stain" in api.segmenter_warnings(1.0, {"method": "unet", "model": older}, "dark")[0]
