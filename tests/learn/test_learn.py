"""Training data, targets and a tiny training run that writes a usable model with its card."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from exo_vision.learn.targets import instance_boundaries, make_targets
from exo_vision.synthetic.tem_random import MIN_VESICLE_NM, make_random_tem


def test_random_generator_is_seeded_and_labels_real_vesicles():
    a = make_random_tem((128, 128), pixel_size_nm=3.0, rng=5)
    b = make_random_tem((128, 128), pixel_size_nm=3.0, rng=5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert a.image.dtype == np.float32 and 0 <= a.image.min() and a.image.max() <= 1
    sizes = []
    for seed in range(20):
        sample = make_random_tem((160, 160), pixel_size_nm=3.0, rng=seed)
        counts = np.bincount(sample.labels.ravel())[1:]
        assert (counts > 0).all()  # numbered 1..K without gaps
        sizes.extend(counts.tolist())
    smallest_area = np.pi * (MIN_VESICLE_NM / 2 / 3.0) ** 2
    assert min(sizes) >= 0.6 * smallest_area
    assert len(sizes) > 20


def test_generator_versions_differ_only_where_documented():
    """random-3 keeps its unlabelled particles below the smallest vesicle; an unknown version is refused."""
    from exo_vision.synthetic import tem_random

    rng = np.random.default_rng(0)
    for version, (low, high) in tem_random.PARTICLE_SIGMA_NM.items():
        canvas = np.zeros((200, 200), np.float32)
        tem_random._particles(canvas, rng, pixel_size_nm=1.0, count=30, version=version)
        # a lone Gaussian spot's half-maximum disc: diameter 2.355 sigma; overlaps only make it larger
        widest = 2.355 * high
        assert low < high
        if version != "random-1":
            assert widest < MIN_VESICLE_NM
        else:
            assert widest > MIN_VESICLE_NM  # the inconsistency random-3 removes
        assert np.abs(canvas).max() > 0
    a = make_random_tem((96, 96), pixel_size_nm=3.0, rng=3, version="random-3")
    b = make_random_tem((96, 96), pixel_size_nm=3.0, rng=3, version="random-3")
    assert np.array_equal(a.image, b.image)
    assert tem_random.GENERATOR_VERSION in tem_random.GENERATOR_VERSIONS
    with pytest.raises(ValueError, match="random-1"):
        make_random_tem((96, 96), rng=0, version="random-9")


def test_plain_small_vesicles_are_light_discs_without_a_membrane_line():
    from exo_vision.synthetic.tem_random import _image_style, _vesicle_style

    rng = np.random.default_rng(1)
    style = dict(_image_style(rng, "random-3"), plain_fraction=1.0, membrane=-0.3, inner_rim=0.2)
    small = _vesicle_style(rng, style, diameter_nm=40.0)
    large = _vesicle_style(rng, style, diameter_nm=200.0)
    assert small["body"] >= 0.1 and abs(small["membrane"]) <= 0.3 * 0.3 + 0.2 and small["inner_rim"] == 0.0
    assert not small["cup"]
    assert large["inner_rim"] > 0 and abs(large["membrane"]) > 0.1
    old = _vesicle_style(rng, dict(style, version="random-1"), diameter_nm=40.0)
    assert old["inner_rim"] > 0


def test_random4_folds_keep_a_cup_whole_and_pool_debris_stays_unlabelled():
    """random-4's creases lie inside one labelled cup; its debris lies only in pools and is not labelled."""
    from exo_vision.synthetic import tem_random as t

    rng = np.random.default_rng(2)
    style = dict(t._image_style(rng, "random-4"), cup_fraction=1.0, fold_fraction=1.0, membrane=-0.25)
    look = t._vesicle_style(rng, style, diameter_nm=300.0)
    assert look["cup"] and look["fold"]
    canvas = np.full((160, 160), 0.4, np.float32)
    labels = np.zeros((160, 160), np.int32)
    t._draw_vesicle(canvas, labels, 1, centre=(80, 80), radius_px=50, style=look, rng=rng)
    assert set(np.unique(labels)) == {0, 1}
    yy, xx = np.mgrid[-60:61, -60:61].astype(np.float32)
    rho = np.hypot(yy, xx) / 50
    crease = t._fold_lines(yy, xx, rho, radius_px=50, membrane=-0.25, rng=np.random.default_rng(3))
    assert np.abs(crease).max() > 0.05 and np.abs(crease[rho >= 1.05]).max() < 1e-6
    assert t._vesicle_style(rng, dict(style, version="random-3"), diameter_nm=300.0).get("fold") is None

    pools = np.zeros((200, 200), np.float32)
    pools[:, :100] = 1.0
    canvas = np.zeros((200, 200), np.float32)
    t._pool_debris(canvas, pools, np.random.default_rng(0), pixel_size_nm=3.0, density=400.0)
    assert canvas[:, :90].max() > 0.05  # debris lies in the pool (lobes may spill a few pixels over its edge)
    assert np.abs(canvas[:, 120:]).max() == 0.0
    a = make_random_tem((96, 96), pixel_size_nm=3.0, rng=4, version="random-4")
    b = make_random_tem((96, 96), pixel_size_nm=3.0, rng=4, version="random-4")
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)


def test_targets_of_two_touching_squares():
    labels = np.zeros((12, 20), np.int32)
    labels[2:10, 2:10] = 1
    labels[2:10, 10:18] = 2
    boundary = instance_boundaries(labels)
    assert boundary[5, 9] and boundary[5, 10]  # the contact belongs to the band
    assert not boundary[5, 5]
    targets = make_targets(labels)
    assert targets.shape == (3, 12, 20)
    assert targets[0].sum() == 128
    assert targets[1][5, 1] == 1  # the band reaches one pixel outside
    assert targets[2].max() == pytest.approx(1.0)
    assert targets[2][labels == 0].max() == 0
    for k in (1, 2):
        assert targets[2][labels == k].max() == pytest.approx(1.0)


def test_tiny_training_run_writes_a_model_the_segmenter_can_use(tmp_path):
    torch = pytest.importorskip("torch")  # the [train] extra, part of the test extra
    from exo_vision.learn.export import export_model
    from exo_vision.learn.train import TrainConfig, train
    from exo_vision.segmentation.api import segment_vesicles
    from exo_vision.segmentation.learned.weights import load_card

    config = TrainConfig(
        base=4, depth=3, patch_px=64, batch=2, steps=3, pool_size=4, refresh_every=2, refresh_count=1, threads=1
    )
    net, history = train(config, checkpoint_dir=tmp_path / "ckpt", log=lambda line: None)
    assert history["steps_done"] == 3
    onnx_path, card_path = export_model(
        net, tmp_path / "tiny", config=asdict(config), history=history, validation={}, command="test"
    )
    card = json.loads(card_path.read_text())
    assert card["training"]["steps"] == 3 and card["training"]["config"]["base"] == 4
    assert card["training"]["data"]["source"].startswith("generated")
    assert card["training"]["data"]["generators"]["exo_vision.synthetic.tem_random"] == config.generator
    assert load_card(onnx_path).sha256 == card["sha256"]
    result = segment_vesicles(
        np.random.default_rng(0).normal(100, 5, (96, 96)), pixel_size_nm=3.0, method="unet", model=onnx_path
    )
    assert result.labels.shape == (96, 96)
    assert result.parameters["model"]["sha256"] == card["sha256"]
    assert isinstance(torch.__version__, str)


def test_training_resumes_from_its_checkpoint(tmp_path):
    pytest.importorskip("torch")
    from exo_vision.learn.train import TrainConfig, train

    small = dict(
        base=4,
        depth=3,
        patch_px=64,
        batch=2,
        pool_size=4,
        refresh_every=2,
        refresh_count=1,
        threads=1,
        checkpoint_every=2,
    )
    train(TrainConfig(steps=4, **small), checkpoint_dir=tmp_path, log=lambda line: None)
    assert (tmp_path / "last.pt").is_file()
    lines = []
    _, history = train(TrainConfig(steps=5, **small), checkpoint_dir=tmp_path, log=lines.append)
    assert lines[0] == "resumed at step 4"
    assert history["steps_done"] == 5


class _RunsCodeWhenUnpickled:
    """A pickle that would call ``touch`` on a file when loaded with full unpickling."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_a_checkpoint_runs_no_code_when_loaded_and_other_files_are_named(tmp_path):
    torch = pytest.importorskip("torch")
    from exo_vision.learn.train import initial_weights, load_checkpoint

    planted = tmp_path / "ran.txt"
    crafted = tmp_path / "crafted.pt"
    torch.save({"net": _RunsCodeWhenUnpickled(planted)}, crafted)
    with pytest.raises(ValueError, match=r"crafted\.pt: not a training checkpoint"):
        initial_weights(crafted, None)
    assert not planted.exists()
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes\.pt: not a training checkpoint"):
        load_checkpoint(text)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other\.pt: holds no network weights"):
        load_checkpoint(tmp_path / "other.pt")


def test_tone_curve_maps_grey_levels_through_its_knots_and_extends_its_end_slopes():
    torch = pytest.importorskip("torch")
    from exo_vision.learn.train import tone_curve

    images = torch.tensor([-0.1, 0.0, 0.125, 0.5, 0.875, 1.0, 1.2]).view(1, 1, 1, 7)
    out = tone_curve(images, torch.tensor([[0.1, 0.5, 0.9]]))
    # slopes 0.4, 1.6, 1.6, 0.4 per unit grey level on the four quarters
    expected = torch.tensor([-0.04, 0.0, 0.05, 0.5, 0.95, 1.0, 1.08]).view(1, 1, 1, 7)
    assert torch.allclose(out, expected, atol=1e-6)
    # a turned batch (not contiguous in memory, as in training) maps the same way
    turned = tone_curve(torch.rot90(images, 1, (2, 3)), torch.tensor([[0.1, 0.5, 0.9]]))
    assert torch.allclose(turned, torch.rot90(expected, 1, (2, 3)), atol=1e-6)


def test_random_tone_curves_keep_order_and_ends_and_leave_unchosen_images_alone():
    torch = pytest.importorskip("torch")
    from exo_vision.learn.train import _augment, random_tone_curves

    ramp = torch.linspace(0, 1, 101).view(1, 1, 1, 101).repeat(64, 1, 1, 1)
    out = random_tone_curves(ramp, 0.5, torch.Generator().manual_seed(3))
    assert torch.all(out[..., 1:] >= out[..., :-1] - 1e-6)  # increasing: polarity kept
    assert torch.allclose(out[..., 0], torch.zeros(64, 1, 1)) and torch.allclose(out[..., -1], torch.ones(64, 1, 1))
    changed = (out - ramp).abs().amax(dim=(1, 2, 3)) > 1e-6
    assert 16 <= int(changed.sum()) <= 48  # about half the images, the rest untouched
    assert torch.equal(out[~changed], ramp[~changed])
    # probability 0 draws nothing more than the turn, the flip, the gains and the offsets, so the
    # random stream of a recipe without curves (the shipped model's) is the one it always was
    used = torch.Generator().manual_seed(5)
    _augment(ramp, torch.zeros(64, 3, 1, 101), used, tone_curves=0.0)
    by_hand = torch.Generator().manual_seed(5)
    torch.randint(0, 4, (1,), generator=by_hand), torch.randint(0, 2, (1,), generator=by_hand)
    torch.rand(64, 1, 1, 1, generator=by_hand), torch.rand(64, 1, 1, 1, generator=by_hand)
    assert torch.equal(torch.rand(4, generator=used), torch.rand(4, generator=by_hand))


def test_tone_curve_share_outside_0_to_1_is_refused_with_the_fix():
    pytest.importorskip("torch")
    from exo_vision.learn.train import TrainConfig

    with pytest.raises(ValueError, match="between 0 and 1, got 50"):
        TrainConfig(tone_curves=50)


def test_checkpoint_average_is_the_mean_of_float_tensors():
    torch = pytest.importorskip("torch")
    from exo_vision.learn.average import average_state_dicts

    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(7)}
    mean = average_state_dicts([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0]))
    assert int(mean["n"]) == 7  # counters come from the last checkpoint


@pytest.mark.slow
def test_training_continues_from_an_exported_model_and_records_it_as_the_base(tmp_path):
    """`train --init MODEL.onnx`: starts from exactly the model's weights, refuses another shape, names its base."""
    torch = pytest.importorskip("torch")
    from exo_vision.learn.export import export_model
    from exo_vision.learn.onnx_weights import freeze_batchnorm
    from exo_vision.learn.train import TrainConfig, initial_weights, main, train
    from exo_vision.learn.unet import UNet

    config = TrainConfig(
        base=4, depth=3, patch_px=64, batch=2, steps=2, pool_size=4, refresh_every=2, refresh_count=1, threads=1
    )
    net, history = train(config, checkpoint_dir=tmp_path / "ckpt", log=lambda line: None)
    onnx_path, _ = export_model(
        net, tmp_path / "first", config=asdict(config), history=history, validation={}, command="t"
    )
    weights, base = initial_weights(onnx_path, config)
    assert base is not None and base["file"] == "first.onnx" and len(base["sha256"]) == 64
    rebuilt = UNet(base=4, depth=3)
    rebuilt.load_state_dict(weights)
    freeze_batchnorm(rebuilt.eval())
    x = torch.from_numpy(np.random.default_rng(1).normal(0.5, 0.2, (1, 1, 64, 64)).astype(np.float32))
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), net(x), atol=1e-4)
    with pytest.raises(ValueError, match="--base 4 --depth 3"):
        initial_weights(onnx_path, TrainConfig(base=8, depth=3))
    out = tmp_path / "second"
    small = ["--base", "4", "--depth", "3", "--patch-px", "64", "--batch", "2", "--steps", "1", "--pool-size", "4"]
    assert main(["--out", str(out), "--init", str(onnx_path), "--version", "1.1", *small]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["version"] == "1.1"
    assert card["base_model"]["sha256"] == base["sha256"]
