"""Fine-tuning on curated micrographs: data collection, the split, ONNX weights back in PyTorch,
a tiny run that writes a valid model with its card, refusal with too little data, and Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from exo_vision.annotations import write_geojson, write_imagej_rois
from exo_vision.learn.curated import CuratedMicrograph, collect_curated
from exo_vision.learn.finetune import FineTuneSettings, check_enough, shrink_labels, split_micrographs
from exo_vision.synthetic.tem_random import make_random_tem

torch = pytest.importorskip("torch")  # the [train] extra, part of the test extra

PIXEL_SIZE_NM = 3.0


def _micrograph(seed: int, name: str | None = None) -> CuratedMicrograph:
    sample = make_random_tem((96, 96), pixel_size_nm=PIXEL_SIZE_NM, rng=seed)
    return CuratedMicrograph(
        name=name or f"m{seed}.tif",
        image=sample.image,
        pixel_size_nm=PIXEL_SIZE_NM,
        labels=sample.labels,
        source="generated",
        kind="label image",
    )


def _with_vesicles(count: int, *, shape=(128, 128), at_least: int = 3) -> list:
    out, seed = [], 0
    while len(out) < count:
        sample = make_random_tem(shape, pixel_size_nm=PIXEL_SIZE_NM, rng=seed)
        seed += 1
        if sample.labels.max() >= at_least:
            out.append(sample)
    return out


def test_onnx_weights_rebuild_the_exported_network(tiny_base):
    import onnxruntime as ort

    from exo_vision.learn.onnx_weights import unet_from_onnx

    net = unet_from_onnx(tiny_base, base=4, depth=2)
    x = np.random.default_rng(1).random((1, 1, 32, 48)).astype(np.float32)
    with torch.no_grad():
        ours = torch.sigmoid(net(torch.from_numpy(x))).numpy()
    reference = ort.InferenceSession(str(tiny_base)).run(None, {"image": x})[0]
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    with pytest.raises(ValueError, match="does not describe it"):
        unet_from_onnx(tiny_base, base=4, depth=3)


def test_split_never_shares_a_micrograph():
    items = [_micrograph(s) for s in range(7)]
    items.append(_micrograph(3, name="copy_of_m3.tif"))  # the same micrograph under another name
    for seed in range(10):
        train, validation = split_micrographs(items, validation_fraction=0.3, seed=seed)
        assert train and validation
        assert not {m.key for m in train} & {m.key for m in validation}
        assert len(train) + len(validation) == len(items)
    with pytest.raises(ValueError, match="at least 2 different curated micrographs"):
        split_micrographs([_micrograph(1), _micrograph(1, name="again.tif")])


def test_too_little_data_is_refused_with_the_numbers():
    train, validation = [_micrograph(0)], [_micrograph(2)]
    with pytest.raises(ValueError, match=r"too little curated data: .*\(need 20\)"):
        check_enough(train, validation, FineTuneSettings())


def test_shrink_labels_by_hand():
    labels = np.zeros((9, 12), np.int32)
    labels[1:8, 1:6] = 1
    labels[1:8, 6:11] = 2
    shrunk = shrink_labels(labels, radius_px=1.0)
    assert (shrunk == 1).sum() == 5 * 3 and (shrunk == 2).sum() == 5 * 3  # one pixel off every side and the contact


def test_collect_pairs_of_every_annotation_kind_and_grid_sessions(tmp_path):
    samples = _with_vesicles(3)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for k, sample in enumerate(samples):
        tifffile.imwrite(pairs / f"img{k}.tif", (sample.image * 255).astype(np.uint8))
    write_imagej_rois(pairs / "img0_rois.zip", samples[0].labels)
    write_geojson(pairs / "img1.geojson", samples[1].labels)
    tifffile.imwrite(pairs / "img2_labels.tif", samples[2].labels.astype(np.uint16))
    found = collect_curated([pairs], pixel_size_nm=PIXEL_SIZE_NM)
    assert [m.kind for m in found] == ["imagej rois", "geojson", "label image"]
    for m, sample in zip(found, samples, strict=True):
        assert m.n_vesicles == int(sample.labels.max()) and m.pixel_size_nm == PIXEL_SIZE_NM
    # a grid-session folder: only the micrographs the session saved count
    session = tmp_path / "session"
    session.mkdir()
    for k, curated in enumerate((True, False)):
        tifffile.imwrite(session / f"g{k}_labels.tif", samples[k].labels.astype(np.uint16))
        (session / f"g{k}_done.json").write_text(
            json.dumps(
                {
                    "input": str(pairs / f"img{k}.tif"),
                    "pixel_size_nm": PIXEL_SIZE_NM,
                    "curated_in_gui": curated,
                    "n_edits": 4,
                }
            )
        )
    found = collect_curated([session])
    assert [(m.kind, m.n_edits, m.name) for m in found] == [("grid session", 4, "img0.tif")]
    with pytest.raises(ValueError, match="is not a folder"):
        collect_curated([tmp_path / "nowhere"])


def _write_pairs(folder: Path, count: int, **kwargs) -> None:
    folder.mkdir()
    for k, sample in enumerate(_with_vesicles(count, **kwargs)):
        tifffile.imwrite(
            folder / f"m{k}.tif",
            sample.image,
            imagej=True,
            resolution=(1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM),
            metadata={"unit": "nm"},
        )
        tifffile.imwrite(folder / f"m{k}_labels.tif", sample.labels.astype(np.uint16))


TINY = dict(steps=3, patch_px=32, batch=2, threads=1, min_train_vesicles=1, min_validation_vesicles=1)


def test_tiny_fine_tuning_writes_a_valid_model_whose_card_records_its_data(tmp_path, tiny_base):
    from exo_vision.learn.finetune import fine_tune
    from exo_vision.segmentation.api import segment_vesicles
    from exo_vision.segmentation.learned.weights import load_card

    _write_pairs(tmp_path / "data", 3)
    micrographs = collect_curated([tmp_path / "data"])
    steps = []
    result = fine_tune(
        micrographs,
        out=tmp_path / "models" / "lab.onnx",
        base_model=tiny_base,
        settings=FineTuneSettings(**TINY),
        progress=lambda done, total: steps.append((done, total)),
    )
    assert steps == [(1, 3), (2, 3), (3, 3)]
    card = load_card(result.onnx_path)  # the checksum matches
    assert card.card["file"] == "lab.onnx" and card.name.endswith("-finetuned")
    data = card.card["training"]["data"]
    assert data["curated_vesicles"] == sum(m.n_vesicles for m in micrographs)
    names = {m["name"] for m in data["training_micrographs"]} | {m["name"] for m in data["validation_micrographs"]}
    assert names == {"m0.tif", "m1.tif", "m2.tif"}
    assert card.card["base_model"]["sha256"] == load_card(tiny_base).sha256
    # the pixel sizes it was trained on, against which the images it segments are checked
    assert card.card["trained_pixel_size_nm"] == [PIXEL_SIZE_NM, PIXEL_SIZE_NM]
    figures = card.card["validation"]["curated_validation"]
    assert set(figures) >= {"before", "after", "micrographs"} and "f1" in figures["after"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["lab.json", "lab.onnx"]
    labels = segment_vesicles(micrographs[0].image, pixel_size_nm=PIXEL_SIZE_NM, model=result.onnx_path).labels
    assert labels.shape == micrographs[0].image.shape


def test_fine_tuning_is_bit_reproducible_for_one_seed_and_thread_count(tmp_path, tiny_base):
    """The same data, settings and seed give the same weights (sha256) on one machine; another seed does not."""
    from exo_vision.learn.finetune import fine_tune
    from exo_vision.segmentation.learned.weights import load_card

    _write_pairs(tmp_path / "data", 3)
    micrographs = collect_curated([tmp_path / "data"])

    def digest(name: str, seed: int) -> str:
        settings = FineTuneSettings(**{**TINY, "seed": seed, "generated_fraction": 0.5})
        return load_card(
            fine_tune(micrographs, out=tmp_path / name, base_model=tiny_base, settings=settings).onnx_path
        ).sha256

    first = digest("a.onnx", 7)
    assert digest("b.onnx", 7) == first
    assert digest("c.onnx", 8) != first


def test_interrupting_fine_tuning_leaves_no_file(tmp_path, tiny_base):
    from exo_vision.learn.finetune import FineTuneCancelled, fine_tune

    _write_pairs(tmp_path / "data", 3)
    micrographs = collect_curated([tmp_path / "data"])
    out = tmp_path / "models"
    out.mkdir()

    def ctrl_c(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fine_tune(
            micrographs, out=out / "lab.onnx", base_model=tiny_base, settings=FineTuneSettings(**TINY), progress=ctrl_c
        )
    assert list(out.iterdir()) == []
    with pytest.raises(FineTuneCancelled):
        fine_tune(
            micrographs,
            out=out / "lab.onnx",
            base_model=tiny_base,
            settings=FineTuneSettings(**TINY),
            should_stop=lambda: True,
        )
    assert list(out.iterdir()) == []


def test_cli_train_prints_before_and_after_and_refuses_too_little(tmp_path, tiny_base, capsys, caplog):
    from exo_vision.cli.main import main

    _write_pairs(tmp_path / "few", 3)
    out = tmp_path / "lab.onnx"
    args = ["--out", str(out), "--base-model", str(tiny_base), "--steps", "2", "--threads", "1"]
    assert main(["train", "--from", str(tmp_path / "few"), *args]) == 2
    assert "too little curated data" in caplog.text and not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--from", str(empty), "--out", str(out)]) == 2
    assert "no curated micrograph" in caplog.text
    _write_pairs(tmp_path / "enough", 3, shape=(256, 256), at_least=12)
    capsys.readouterr()
    assert main(["train", "--from", str(tmp_path / "enough"), *args]) == 0
    printed = capsys.readouterr().out
    assert "before" in printed and "after" in printed and "precision" in printed
    assert "the new model scores" in printed and "the model it started from (F1 " in printed
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert "kept the checkpoint" not in printed  # 2 training micrographs: no selection


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--validation-fraction", "1.5", "validation_fraction must be a share between 0 and 1, got 1.5"),
        ("--validation-fraction", "0", "validation_fraction must be a share between 0 and 1, got 0.0"),
        ("--select-every", "-1", "must be 0 (keep the last step) or more, got -1 (--select-every)"),
        ("--learning-rate", "0", "the learning rate must be positive, got 0.0"),
        ("--threads", "0", "at least one thread, got 0"),
    ],
)
def test_cli_train_names_a_wrong_option_before_reading_any_data(tmp_path, caplog, monkeypatch, option, value, message):
    """Before, --validation-fraction 1.5 was blamed on 'too little curated data'; --select-every -1 trained."""
    import exo_vision.learn.curated as curated
    from exo_vision.cli.main import main

    monkeypatch.setattr(curated, "collect_curated", lambda *a, **k: pytest.fail("data read before the options"))
    out = tmp_path / "lab.onnx"
    assert main(["train", "--from", str(tmp_path), "--out", str(out), option, value]) == 2
    assert message in caplog.text and not out.exists()


def test_cli_train_says_which_checkpoint_it_kept(tmp_path, tiny_base, capsys):
    from exo_vision.cli.main import main

    _write_pairs(tmp_path / "five", 5, shape=(256, 256), at_least=12)
    out = tmp_path / "lab.onnx"
    args = ["--out", str(out), "--base-model", str(tiny_base), "--steps", "2", "--threads", "1", "--select-every", "1"]
    assert main(["train", "--from", str(tmp_path / "five"), *args]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.with_suffix(".json").read_text())["training"]["checkpoint_selection"]
    assert [s["step"] for s in record["scores"]] == [0, 1, 2]
    assert f"kept the checkpoint of step {record['chosen_step']} " in printed
    assert record["micrographs"][0] in printed


def _curated(count: int, *, first: int = 0) -> list[CuratedMicrograph]:
    samples = _with_vesicles(first + count)[first:]
    return [
        CuratedMicrograph(
            name=f"c{first + k}.tif",
            image=s.image,
            pixel_size_nm=PIXEL_SIZE_NM,
            labels=s.labels,
            source="generated",
            kind="label image",
        )
        for k, s in enumerate(samples)
    ]


def test_selection_micrographs_are_held_out_of_training_only_with_three_or_more():
    from exo_vision.learn.finetune import split_selection

    items = _curated(10)
    settings = FineTuneSettings(select_every_steps=25)
    for n, expected in ((2, 0), (3, 1), (5, 1), (10, 2)):
        fit, selection = split_selection(items[:n], settings)
        assert len(selection) == expected and len(fit) == n - expected
        assert not {m.key for m in fit} & {m.key for m in selection}
    fit, selection = split_selection(items[:5], FineTuneSettings(select_every_steps=0))
    assert selection == [] and len(fit) == 5
    fit, selection = split_selection(items[:3], FineTuneSettings(select_every_steps=25, select_fraction=0.9))
    assert len(selection) == 1 and len(fit) == 2  # at least two are left to train on


SELECT = dict(TINY, steps=4, select_every_steps=2)


def test_checkpoint_choice_never_depends_on_the_validation_micrographs(tmp_path, tiny_base):
    from exo_vision.learn.finetune import fine_tune
    from exo_vision.segmentation.learned.weights import load_card

    items = _curated(7)
    train = items[:4]
    chosen = []
    for k, validation in enumerate((items[4:5], items[5:7])):
        result = fine_tune(
            train + validation,
            out=tmp_path / f"m{k}.onnx",
            base_model=tiny_base,
            settings=FineTuneSettings(**SELECT),
            split=(train, validation),
        )
        record = load_card(result.onnx_path).card["training"]["checkpoint_selection"]
        assert record == result.selection
        assert [s["step"] for s in record["scores"]] == [0, 2, 4]
        assert len(record["micrographs"]) == 1 and record["micrographs"][0] in {m.name for m in train}
        assert record["chosen_step"] in (0, 2, 4) and record["every_steps"] == 2
        data = load_card(result.onnx_path).card["training"]["data"]
        assert data["selection_micrographs"] == record["micrographs"]
        assert not set(record["micrographs"]) & {m["name"] for m in data["validation_micrographs"]}
        chosen.append(record)
    assert chosen[0] == chosen[1]  # same training micrographs: same scores and step, whatever is validated on


def test_the_best_checkpoint_on_the_selection_micrograph_is_the_model_written(tmp_path, tiny_base, monkeypatch):
    import onnxruntime as ort

    import exo_vision.learn.finetune as finetune

    items = _curated(5)
    train, validation = items[:4], items[4:]
    selection_name = finetune.split_selection(train, FineTuneSettings(**SELECT))[1][0].name
    real = finetune.evaluate_model
    made_up_f1 = {0: 0.2, 2: 0.9, 4: 0.5}  # the checkpoint at step 2 is the best
    x = np.random.default_rng(3).random((1, 1, 32, 32)).astype(np.float32)
    outputs = {}

    def spy(model, micrographs, **kwargs):
        figures, predictions = real(model, micrographs, **kwargs)
        if [m.name for m in micrographs] == [selection_name]:
            step = int(Path(model).stem.split("_")[1])
            outputs[step] = ort.InferenceSession(str(model)).run(None, {"image": x})[0]
            figures = {**figures, "f1": made_up_f1[step]}
        return figures, predictions

    monkeypatch.setattr(finetune, "evaluate_model", spy)
    result = finetune.fine_tune(
        items,
        out=tmp_path / "lab.onnx",
        base_model=tiny_base,
        settings=FineTuneSettings(**SELECT),
        split=(train, validation),
    )
    assert result.selection["chosen_step"] == 2
    assert [s["f1"] for s in result.selection["scores"]] == [0.2, 0.9, 0.5]
    written = ort.InferenceSession(str(result.onnx_path)).run(None, {"image": x})[0]
    np.testing.assert_allclose(written, outputs[2], atol=1e-6)
    assert not np.allclose(outputs[2], outputs[4], atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.json", "lab.onnx"]  # no scoring file left


def test_interrupting_fine_tuning_with_selection_leaves_no_file(tmp_path, tiny_base):
    from exo_vision.learn.finetune import FineTuneCancelled, fine_tune

    items = _curated(5)
    out = tmp_path / "models"
    out.mkdir()

    def ctrl_c(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    settings = FineTuneSettings(**SELECT)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(items, out=out / "lab.onnx", base_model=tiny_base, settings=settings, progress=ctrl_c)
    assert list(out.iterdir()) == []
    with pytest.raises(FineTuneCancelled):
        fine_tune(items, out=out / "lab.onnx", base_model=tiny_base, settings=settings, should_stop=lambda: True)
    assert list(out.iterdir()) == []


def test_cli_train_int8_writes_a_copy_calibrated_on_training_micrographs_only(tmp_path, tiny_base, capsys):
    from exo_vision.cli.main import main
    from exo_vision.segmentation.learned.weights import load_card

    _write_pairs(tmp_path / "enough", 3, shape=(256, 256), at_least=12)
    out = tmp_path / "lab.onnx"
    args = ["--out", str(out), "--base-model", str(tiny_base), "--steps", "2", "--threads", "1", "--int8"]
    assert main(["train", "--from", str(tmp_path / "enough"), *args]) == 0
    printed = capsys.readouterr().out
    assert "int8 copy" in printed and "lab_int8.onnx" in printed
    copy = load_card(tmp_path / "lab_int8.onnx")
    assert copy.checked_float_network() == out  # the new float model beside it, named, not copied
    card = copy.card
    validated = card["validation"]["curated_validation"]
    calibrated = card["quantisation"]["calibration"]["micrographs"]
    assert calibrated and not set(calibrated) & set(validated["micrographs"])
    assert card["quantisation"]["command"].startswith("exo-vision train ... --int8")  # not the generated recipe
    assert {"precision", "recall", "f1"} <= set(validated["int8"])
    assert card["validation_of_float"] == json.loads(out.with_suffix(".json").read_text())["validation"]
    # a second run with the same --out is refused before it trains: nothing is overwritten
    out.unlink()
    out.with_suffix(".json").unlink()
    assert main(["train", "--from", str(tmp_path / "enough"), *args]) == 2
    assert not out.exists()


def test_cli_train_int8_interrupted_leaves_the_new_model_and_no_copy(tmp_path, tiny_base, monkeypatch, caplog):
    from exo_vision.cli.main import main
    from exo_vision.learn import quantise

    def half_written(float_onnx, out_onnx, inputs, **options):
        out_onnx.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(quantise, "quantise_network", half_written)
    _write_pairs(tmp_path / "enough", 3, shape=(256, 256), at_least=12)
    out = tmp_path / "lab.onnx"
    args = ["--out", str(out), "--base-model", str(tiny_base), "--steps", "2", "--threads", "1", "--int8"]
    assert main(["train", "--from", str(tmp_path / "enough"), *args]) == 130
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert sorted(p.name for p in tmp_path.glob("lab_int8*")) == []
    assert "its int8 copy is not" in caplog.text


def test_outlines_exo_vision_tem_wrote_itself_are_not_curated_data(tmp_path, caplog):
    """``exo-vision tem`` with --out set to the image folder leaves S_labels.tif beside S.tif: the model's own
    outlines. Read as annotations they trained the model on itself (its "before" F1 was 1.000)."""
    samples = _with_vesicles(2)
    folder = tmp_path / "analysed"
    folder.mkdir()
    for k, sample in enumerate(samples):
        tifffile.imwrite(folder / f"m{k}.tif", (sample.image * 255).astype(np.uint8))
        tifffile.imwrite(folder / f"m{k}_labels.tif", sample.labels.astype(np.uint16))
    (folder / "m0_done.json").write_text(json.dumps({"input": str(folder / "m0.tif"), "pixel_size_nm": 2.0}))
    found = collect_curated([folder], pixel_size_nm=PIXEL_SIZE_NM)
    assert [m.name for m in found] == ["m1.tif"]  # m1's labels were drawn by someone: no marker beside them
    assert "1 micrograph(s) only analysed by exo-vision tem (m0.tif) were left out" in caplog.text


def test_label_images_in_colour_or_with_negative_values(tmp_path):
    sample = _with_vesicles(1)[0]
    folder = tmp_path / "pairs"
    folder.mkdir()
    tifffile.imwrite(folder / "c.tif", (sample.image * 255).astype(np.uint8))
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]], np.uint8)
    ids = sample.labels % (len(palette) - 1) + (sample.labels > 0)  # colours repeat only far apart: 1..5
    from PIL import Image

    Image.fromarray(palette[np.where(sample.labels > 0, ids, 0)]).save(folder / "c_labels.png")
    (found,) = collect_curated([folder], pixel_size_nm=PIXEL_SIZE_NM)
    assert found.n_vesicles == min(int(sample.labels.max()), len(palette) - 1)  # one label per colour
    (folder / "c_labels.png").unlink()
    negative = sample.labels.astype(np.int32)
    negative[0, 0] = -1
    tifffile.imwrite(folder / "c_labels.tif", negative)
    with pytest.raises(ValueError, match="c_labels.tif holds negative values; background must be 0"):
        collect_curated([folder], pixel_size_nm=PIXEL_SIZE_NM)


def test_train_never_overwrites_a_model_and_refuses_no_steps(tmp_path, tiny_base, caplog):
    from exo_vision.cli.main import main

    _write_pairs(tmp_path / "data", 3, shape=(256, 256), at_least=12)
    base = ["train", "--from", str(tmp_path / "data"), "--threads", "1"]
    before = tiny_base.read_bytes()
    assert main([*base, "--base-model", str(tiny_base), "--out", str(tiny_base), "--steps", "1"]) == 2
    assert "exists: choose another --out name (a model is never overwritten)" in caplog.text
    assert tiny_base.read_bytes() == before
    assert main([*base, "--out", str(tmp_path / "new.onnx"), "--steps", "0"]) == 2
    assert "the training needs at least one step, got 0" in caplog.text
    assert main([*base, "--out", str(tmp_path / "new.onnx"), "--minutes", "-1"]) == 2
    assert "the time limit must be 0 (no limit) or a positive number of minutes" in caplog.text
    assert not (tmp_path / "new.onnx").exists()


@pytest.mark.slow
def test_a_terminated_training_leaves_nothing_behind(tmp_path, tiny_base):
    import signal
    import subprocess
    import sys
    import time

    _write_pairs(tmp_path / "data", 3, shape=(256, 256), at_least=12)
    out = tmp_path / "out" / "lab.onnx"
    command = [sys.executable, "-m", "exo_vision.cli.main", "train", "--from", str(tmp_path / "data"), "--out"]
    command += [str(out), "--base-model", str(tiny_base), "--steps", "100000", "--threads", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait for training to start: its staging folder appears beside the model
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.parent.is_dir() and any(out.parent.iterdir())):
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted: no model written" in stderr
    assert not out.exists() and not list(out.parent.iterdir())  # no staging folder, no checkpoints


#: Run in a child process: ``exo-vision train`` whose first onnxruntime session (scoring the starting model)
#: behaves as onnxruntime's import does when an interrupt lands inside it (an ImportError, the interrupt
#: lost), and waits there until the test has sent its signals.
_BLOCKING_SCORING = """
import sys, time
from pathlib import Path
from exo_vision.segmentation.learned import runtime
from exo_vision.cli.main import main

entered, sent = Path(sys.argv[1]), Path(sys.argv[2])
real_session = runtime._session

def importing_session(*args):
    entered.touch()
    try:
        while not sent.exists():
            time.sleep(0.01)
    except KeyboardInterrupt as err:
        raise ImportError("initialization failed") from err
    return real_session(*args)

runtime._session = importing_session
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGTERM", "SIGTERM"), ("SIGTERM", "SIGINT")])
def test_a_signal_while_the_starting_model_is_scored_stops_cleanly(tmp_path, tiny_base, signals):
    import signal
    import subprocess
    import sys
    import time

    _write_pairs(tmp_path / "data", 3, shape=(256, 256), at_least=12)
    out = tmp_path / "out" / "lab.onnx"
    entered, sent = tmp_path / "entered", tmp_path / "sent"
    command = [sys.executable, "-c", _BLOCKING_SCORING, str(entered), str(sent), "train", "--from"]
    command += [str(tmp_path / "data"), "--out", str(out), "--base-model", str(tiny_base), "--steps", "100000"]
    process = subprocess.Popen([*command, "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not entered.exists() and process.poll() is None:  # the scoring stage has begun
        time.sleep(0.05)
    for name in signals:
        process.send_signal(getattr(signal, name))
    sent.touch()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "interrupted: no model written" in stderr
    assert "scoring the starting model" in stderr
    assert not out.exists() and not list(out.parent.iterdir())  # no staging folder, no checkpoints


@pytest.mark.parametrize("where", ["unwritable", "shipped", "shipped-below", "no-suffix"])
def test_cli_train_refuses_a_wrong_out_before_reading_any_data(tmp_path, caplog, monkeypatch, where):
    """--out was checked for a folder that cannot be written, a folder below the shipped models and a name
    without .onnx only when the model was about to be written: after reading and scoring every micrograph."""
    import exo_vision.learn.curated as curated
    from exo_vision.cli.main import main
    from exo_vision.segmentation.learned.weights import MODELS_DIR

    unwritable = Path("/proc/exo_vision_no_such_folder")  # no file can be made in /proc, not even by root
    if where == "unwritable" and not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc")
    out = {
        "unwritable": unwritable / "lab.onnx",
        "shipped": MODELS_DIR / "lab.onnx",
        "shipped-below": MODELS_DIR / "ours" / "lab.onnx",
        "no-suffix": tmp_path / "lab",
    }[where]
    message = {
        "unwritable": "cannot write in /proc",
        "shipped": "exo_vision's own models folder",
        "shipped-below": "exo_vision's own models folder",
        "no-suffix": "the new model's file must end in .onnx, e.g. lab.onnx",
    }[where]
    monkeypatch.setattr(curated, "collect_curated", lambda *a, **k: pytest.fail("data read before --out was checked"))
    assert main(["train", "--from", str(tmp_path), "--out", str(out)]) == 2
    assert message in caplog.text
    assert not out.exists() and not (MODELS_DIR / "ours").exists()
