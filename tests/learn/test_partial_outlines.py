"""Fine-tuning on partly outlined micrographs: only the outlined vesicles and a ring around them teach the network.

An annotator who outlines only the vesicles she is sure of leaves others unoutlined; trained on as they are,
those teach the network that vesicles are background (the FRU-Net patches in ``benchmarks/finetune.py``, case (b)).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from exo_vision.learn.curated import CuratedMicrograph
from exo_vision.learn.finetune import PARTIAL_RING_NM, CropSampler, to_training_micrograph
from exo_vision.learn.settings import FineTuneSettings
from exo_vision.learn.targets import known_near_outlines, make_targets, with_known
from exo_vision.synthetic.tem_random import make_random_tem

torch = pytest.importorskip("torch")  # the [train] extra, part of the test extra

PIXEL_SIZE_NM = 3.0  # the shipped working scale: no resampling


def test_known_ring_around_an_outline_by_hand():
    labels = np.zeros((20, 20), np.int32)
    labels[8:11, 8:11] = 1  # a 3 x 3 vesicle
    known = known_near_outlines(labels, ring_px=2)
    # the 7 x 7 square around it, less the 3 pixels of each corner farther than 2 px (sqrt 5, sqrt 5, sqrt 8)
    assert known.sum() == 49 - 4 * 3
    assert known[6, 9] and known[9, 12] and not known[5, 9] and not known[6, 6]
    assert not known_near_outlines(np.zeros((5, 5), np.int32), ring_px=2).any()


def test_the_loss_is_blind_where_the_annotation_says_nothing():
    from exo_vision.learn.train import loss_terms

    rng = np.random.default_rng(0)
    labels = np.zeros((2, 32, 32), np.int32)
    labels[0, 5:15, 5:15] = 1
    labels[1, 18:28, 18:28] = 1
    targets = torch.from_numpy(np.stack([make_targets(lab) for lab in labels]))
    logits = torch.from_numpy(rng.normal(size=(2, 3, 32, 32)).astype(np.float32))

    def total(lg: torch.Tensor, tg: torch.Tensor) -> float:
        return float(sum(loss_terms(lg, tg).values()))

    every = torch.from_numpy(np.stack([with_known(t.numpy(), None) for t in targets]))
    assert total(logits, every) == pytest.approx(total(logits, targets), rel=1e-6)
    known = np.ones((32, 32), bool)
    known[:, :16] = False  # the left half unknown
    half = torch.from_numpy(np.stack([with_known(t.numpy(), known) for t in targets]))
    moved_left, moved_right = logits.clone(), logits.clone()
    moved_left[..., :16] += 3.0
    moved_right[..., 16:] += 3.0
    assert total(moved_left, half) == pytest.approx(total(logits, half), rel=1e-6)
    assert total(moved_right, half) != pytest.approx(total(logits, half), rel=1e-3)


def _write_calibrated(path: Path, image: np.ndarray) -> None:
    """An ImageJ TIFF calibrated at :data:`PIXEL_SIZE_NM` in its metadata."""
    tifffile.imwrite(
        path, image, imagej=True, resolution=(1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM), metadata={"unit": "nm"}
    )


def _half_outlined(seed: int = 3) -> tuple[CuratedMicrograph, np.ndarray]:
    """A generated micrograph whose even-numbered vesicles nobody outlined; and its full truth."""
    for s in range(seed, seed + 50):
        sample = make_random_tem((96, 96), pixel_size_nm=PIXEL_SIZE_NM, rng=s)
        if sample.labels.max() >= 4:
            break
    truth = sample.labels.astype(np.int32)
    outlined = np.where(truth % 2 == 1, truth, 0)
    curated = CuratedMicrograph(
        name="half.tif",
        image=sample.image,
        pixel_size_nm=PIXEL_SIZE_NM,
        labels=outlined,
        source="x",
        kind="label image",
    )
    return curated, truth


def test_unoutlined_vesicles_are_unknown_and_generated_crops_wholly_known():
    curated, truth = _half_outlined()
    ws = to_training_micrograph(curated, working_scale_nm=PIXEL_SIZE_NM, partial_outlines=True)
    assert ws.known is not None
    ring_px = PARTIAL_RING_NM / PIXEL_SIZE_NM
    outlined = ws.labels > 0
    assert ws.known[outlined].all()
    # each vesicle nobody outlined is unknown wherever it lies beyond the ring of an outlined one
    far = known_near_outlines(ws.labels, ring_px=ring_px + 1) == 0
    unoutlined = (truth > 0) & (truth % 2 == 0) & far
    assert unoutlined.any() and not ws.known[unoutlined].any()
    sampler = CropSampler([ws], patch_px=128, generated_fraction=0.0)  # the whole micrograph, padded
    image, targets = sampler(np.random.default_rng(0))
    assert targets.shape == (4, 128, 128)
    assert not targets[3, 96:, :].any() and not targets[3, :, 96:].any()  # padding is unknown
    assert np.array_equal(targets[3, :96, :96] > 0, ws.known)
    generated = CropSampler([ws], patch_px=64, generated_fraction=0.999, working_scale_nm=PIXEL_SIZE_NM)
    _, targets = generated(np.random.default_rng(1))
    assert targets.shape == (4, 64, 64) and targets[3].min() == 1.0
    # without the switch, the same micrograph gives the three channels of a fully outlined one
    plain = to_training_micrograph(curated, working_scale_nm=PIXEL_SIZE_NM)
    assert plain.known is None and CropSampler([plain], patch_px=32)(np.random.default_rng(0))[1].shape[0] == 3


def test_partial_outlines_need_generated_crops():
    with pytest.raises(ValueError, match="needs generated crops as its negatives"):
        FineTuneSettings(partial_outlines=True)
    assert FineTuneSettings(partial_outlines=True, generated_fraction=0.5).partial_outlines


def _write_half_outlined(folder: Path, count: int) -> None:
    folder.mkdir()
    seed = 0
    for k in range(count):
        while True:
            sample = make_random_tem((256, 256), pixel_size_nm=PIXEL_SIZE_NM, rng=seed)
            seed += 1
            if sample.labels.max() >= 24:
                break
        outlined = np.where(sample.labels % 2 == 1, sample.labels, 0).astype(np.uint16)
        _write_calibrated(folder / f"m{k}.tif", sample.image)
        tifffile.imwrite(folder / f"m{k}_labels.tif", outlined)


def test_cli_train_partial_outlines_keeps_the_starting_threshold_and_records_the_mode(tmp_path, tiny_base, capsys):
    from exo_vision.cli.main import main
    from exo_vision.learn.settings import PARTIAL_GENERATED_FRACTION
    from exo_vision.segmentation.learned.weights import load_card

    _write_half_outlined(tmp_path / "lab", 3)
    out = tmp_path / "lab.onnx"
    args = ["--out", str(out), "--base-model", str(tiny_base), "--steps", "2", "--threads", "1"]
    assert main(["train", "--from", str(tmp_path / "lab"), *args, "--partial-outlines"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["thresholds"]["foreground"] == load_card(tiny_base).thresholds.foreground
    assert "partly outlined" in card["training"]["foreground_threshold"]
    assert "foreground_threshold_f1_on_training_micrographs" not in card["training"]
    settings = card["training"]["fine_tuning_settings"]
    assert settings["partial_outlines"] is True and settings["generated_fraction"] == PARTIAL_GENERATED_FRACTION
    data = card["training"]["data"]["training_micrographs"]
    assert all(len(entry["sha256_of_annotation_file"]) == 64 for entry in data)
    assert "lower bounds" in card["validation"]["curated_validation"]["outlines"]
    printed = capsys.readouterr().out
    assert "precision and F1 are lower bounds" in printed
    assert "outlined held-out vesicles the new model finds" in printed and "precision can be judged" in printed


def test_checkpoint_selection_is_refused_with_partial_outlines():
    with pytest.raises(ValueError, match="not available with --partial-outlines"):
        FineTuneSettings(partial_outlines=True, generated_fraction=0.5, select_every_steps=40)


def test_micrographs_without_an_outline_say_nothing_with_partial_outlines():
    from exo_vision.learn.finetune import leave_out_unoutlined

    curated, _ = _half_outlined()
    empty = CuratedMicrograph(
        name="none.tif",
        image=curated.image[::-1].copy(),
        pixel_size_nm=PIXEL_SIZE_NM,
        labels=np.zeros_like(curated.labels),
        source="x",
        kind="label image",
    )
    said: list[str] = []
    partial = FineTuneSettings(partial_outlines=True, generated_fraction=0.5)
    assert leave_out_unoutlined([curated, empty], settings=partial, say=said.append) == [curated]
    assert len(said) == 1 and "none.tif" in said[0] and "left out" in said[0]
    # fully outlined micrographs: an empty one is a micrograph without vesicles, and is kept
    assert leave_out_unoutlined([curated, empty], settings=FineTuneSettings(), say=said.append) == [curated, empty]
    assert len(said) == 1


def test_an_8_bit_export_of_a_micrograph_goes_to_the_same_side_of_the_split():
    from exo_vision.learn.finetune import copy_groups, split_micrographs

    micrographs = []
    for seed in range(5):
        sample = make_random_tem((96, 96), pixel_size_nm=PIXEL_SIZE_NM, rng=100 + seed)
        micrographs.append(
            CuratedMicrograph(
                name=f"g{seed}.tif",
                image=sample.image,
                pixel_size_nm=PIXEL_SIZE_NM,
                labels=sample.labels.astype(np.int32),
                source="x",
                kind="label image",
            )
        )
    original = micrographs[0].image.astype(np.float64)
    low, high = original.min(), original.max()
    export = np.round((original - low) / (high - low) * 255).astype(np.uint8)  # the 8-bit export of g0
    micrographs.append(
        CuratedMicrograph(
            name="g0_8bit.tif",
            image=export.astype(np.float32),
            pixel_size_nm=PIXEL_SIZE_NM,
            labels=micrographs[0].labels,
            source="y",
            kind="label image",
        )
    )
    groups = copy_groups(micrographs)
    assert groups[micrographs[0].key] == groups[micrographs[-1].key]
    assert len(set(groups.values())) == 5
    for seed in range(8):
        train, validation = split_micrographs(micrographs, seed=seed)
        names = {m.name for m in validation}
        assert ("g0.tif" in names) == ("g0_8bit.tif" in names), seed


def test_two_annotations_of_one_micrograph_are_named_not_dropped_silently(tmp_path, caplog):
    from exo_vision.learn.curated import collect_curated

    sample = make_random_tem((128, 128), pixel_size_nm=PIXEL_SIZE_NM, rng=7)
    for name, labels in (("a", sample.labels), ("b", np.where(sample.labels % 2 == 1, sample.labels, 0))):
        _write_calibrated(tmp_path / f"{name}.tif", sample.image)
        tifffile.imwrite(tmp_path / f"{name}_labels.tif", labels.astype(np.uint16))
    said: list[str] = []
    found = collect_curated([tmp_path], warn=said.append)
    assert [m.name for m in found] == ["a.tif"]
    assert any("a.tif and b.tif are the same micrograph" in line and "left out" in line for line in said)


def test_images_without_an_annotation_beside_annotated_ones_are_named(tmp_path):
    from exo_vision.learn.curated import collect_curated

    for k, annotated in enumerate((True, True, False)):
        sample = make_random_tem((96, 96), pixel_size_nm=PIXEL_SIZE_NM, rng=20 + k)
        _write_calibrated(tmp_path / f"g{k}.tif", sample.image)
        if annotated:
            tifffile.imwrite(tmp_path / f"g{k}_labels.tif", sample.labels.astype(np.uint16))
    said: list[str] = []
    found = collect_curated([tmp_path], warn=said.append)
    assert [m.name for m in found] == ["g0.tif", "g1.tif"]
    assert any("1 image(s) without an annotation beside them (g2.tif)" in line for line in said)
