"""Fine-tuning as a lab does it, after the probe of a core facility adapting the model (lab49): fine-tuning a
fine-tuned model never validates on what it learnt from, calibrated files keep their pixel size, a model is never
saved over another, and micrographs nobody edited are no curated truth."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest
import tifffile
from test_finetune import PIXEL_SIZE_NM, TINY, _curated, _with_vesicles, _write_pairs

from exo_vision.learn.curated import collect_curated
from exo_vision.learn.finetune import FineTuneSettings, split_micrographs, trained_on_by

pytest.importorskip("torch")


def _card_trained_on(items, *, earlier=(), base_card=None):
    """A fine-tuned card's document as fine_tune writes it, trained on ``items``."""
    data = {
        "training_micrographs": [{"name": m.name, "sha256_of_grey_levels": m.key} for m in items],
        "earlier_training_micrographs": [{"name": m.name, "sha256_of_grey_levels": m.key} for m in earlier],
    }
    card = {"sha256": "a" * 64, "training": {"data": data}}
    if base_card is not None:
        card["base_model"] = {"card": str(base_card), "sha256": json.loads(base_card.read_text())["sha256"]}
    return card


def test_the_starting_models_training_micrographs_are_never_validated_on():
    """H1: a second fine-tuning drew its split afresh; the first model's training micrographs were scored as
    'never used for training' (5 of 7 in the probe)."""
    items = _curated(8)
    earlier = {m.key for m in items[:5]}
    drawn = set()
    for seed in range(20):
        train, validation = split_micrographs(items, validation_fraction=0.3, seed=seed, trained_on=earlier)
        assert validation and not {m.key for m in validation} & earlier
        assert {m.key for m in train} >= earlier and len(train) + len(validation) == len(items)
        drawn |= {m.name for m in validation}
    assert drawn == {m.name for m in items[5:]}
    # the split without a starting model's record is the one it always was
    assert split_micrographs(items, seed=3) == split_micrographs(items, seed=3, trained_on=())
    with pytest.raises(ValueError, match="all 5 curated micrographs were used to train the model you start from"):
        split_micrographs(items[:5], trained_on=earlier)


def test_what_a_chain_of_fine_tunings_learnt_from_is_read_from_the_cards(tmp_path):
    items = _curated(6)
    first = tmp_path / "first.json"
    first.write_text(json.dumps(_card_trained_on(items[:2])))
    # a card written before the chain was recorded: its starting model's card is followed
    second = _card_trained_on(items[2:3], base_card=first)
    assert set(trained_on_by(second, card_path=tmp_path / "second.json")) == {m.key for m in items[:3]}
    # a card that records the chain needs no other file
    third = _card_trained_on(items[3:4], earlier=items[:3])
    assert set(trained_on_by(third)) == {m.key for m in items[:4]}
    # a starting model's card replaced by another model's says nothing of this one
    second["base_model"]["sha256"] = "b" * 64
    assert set(trained_on_by(second, card_path=tmp_path / "second.json")) == {items[2].key}
    assert trained_on_by({"training": {"data": {"source": "generated micrographs only"}}}) == {}


def test_fine_tuning_a_fine_tuned_model_validates_only_on_micrographs_new_to_it(tmp_path, tiny_base, capsys):
    from exo_vision.cli.main import main
    from exo_vision.learn.finetune import fine_tune
    from exo_vision.segmentation.learned.weights import load_card

    items = _curated(5)
    first = fine_tune(
        items[:3],
        out=tmp_path / "lab.onnx",
        base_model=tiny_base,
        settings=FineTuneSettings(**TINY),
        split=(items[:2], items[2:3]),
    )
    learnt = {m.key for m in items[:2]}
    for seed in range(4):
        train, validation = split_micrographs(
            items, seed=seed, trained_on=trained_on_by(load_card(first.onnx_path).card)
        )
        assert not {m.key for m in validation} & learnt
    second = fine_tune(
        items, out=tmp_path / "lab_v2.onnx", base_model=first.onnx_path, settings=FineTuneSettings(**TINY, seed=1)
    )
    assert not {m.key for m in second.validation} & learnt
    assert set(second.seen_by_base) >= {m.name for m in items[:2]}
    card = load_card(second.onnx_path).card
    recorded = {e["sha256_of_grey_levels"] for e in card["training"]["data"]["earlier_training_micrographs"]}
    assert recorded == learnt
    assert "nor by the models it started from" in card["validation"]["curated_validation"]["method"]
    # a split given by hand that validates on what the starting model learnt from is refused
    with pytest.raises(ValueError, match=f"{items[0].name}: the model you start from .* was trained on it"):
        fine_tune(
            items,
            out=tmp_path / "lab_v3.onnx",
            base_model=first.onnx_path,
            settings=FineTuneSettings(**TINY),
            split=(items[1:], items[:1]),
        )
    # the command line says which micrographs stay on the training side
    folder = tmp_path / "pairs"
    folder.mkdir()
    for m in items:
        tifffile.imwrite(
            folder / m.name, m.image, imagej=True, resolution=(1 / PIXEL_SIZE_NM,) * 2, metadata={"unit": "nm"}
        )
        tifffile.imwrite(folder / m.name.replace(".tif", "_labels.tif"), m.labels.astype(np.uint16))
    args = ["train", "--from", str(folder), "--base-model", str(first.onnx_path), "--steps", "1", "--threads", "1"]
    capsys.readouterr()
    main([*args, "--out", str(tmp_path / "cli.onnx")])  # refused later for too little data: the split is printed
    printed = capsys.readouterr().out
    validated = printed.split("validating on ")[1].split("\n")[0]
    assert items[0].name not in validated and items[1].name not in validated
    assert f"({items[0].name}, {items[1].name}) trained the model you start from" in printed


def test_pixel_size_given_for_uncalibrated_files_leaves_calibrated_ones_theirs(tmp_path, caplog):
    """H2: --pixel-size-nm replaced the 5 nm/px of calibrated ImageJ TIFFs silently (the help says it is for files
    without calibration)."""
    from PIL import Image

    samples = _with_vesicles(2)
    folder = tmp_path / "mixed"
    folder.mkdir()
    tifffile.imwrite(
        folder / "cal.tif", samples[0].image, imagej=True, resolution=(1 / 5.0, 1 / 5.0), metadata={"unit": "nm"}
    )
    tifffile.imwrite(folder / "cal_labels.tif", samples[0].labels.astype(np.uint16))
    Image.fromarray((samples[1].image * 255).astype(np.uint8)).save(folder / "export.png")
    tifffile.imwrite(folder / "export_labels.tif", samples[1].labels.astype(np.uint16))
    with caplog.at_level(logging.WARNING):
        found = {m.name: m.pixel_size_nm for m in collect_curated([folder], pixel_size_nm=3.83)}
    assert found["cal.tif"] == pytest.approx(5.0, rel=1e-4) and found["export.png"] == 3.83
    assert "1 calibrated file(s) keep their own: cal.tif (5 nm/px)" in caplog.text
    assert "--override-calibration" in caplog.text
    caplog.clear()
    overridden = {
        m.name: m.pixel_size_nm for m in collect_curated([folder], pixel_size_nm=3.83, override_calibration=True)
    }
    assert overridden == {"cal.tif": 3.83, "export.png": 3.83} and "keep their own" not in caplog.text
    # a value that agrees with the file's calibration says nothing
    collect_curated([folder], pixel_size_nm=5.0)
    assert "keep their own" not in caplog.text


def test_cli_override_calibration_needs_a_pixel_size(tmp_path, caplog):
    from exo_vision.cli.main import main

    _write_pairs(tmp_path / "data", 2)
    assert (
        main(["train", "--from", str(tmp_path / "data"), "--out", str(tmp_path / "m.onnx"), "--override-calibration"])
        == 2
    )
    assert "--override-calibration applies the pixel size of --pixel-size-nm: give it too" in caplog.text


def test_saving_a_new_model_never_overwrites_a_model_nor_writes_into_the_shipped_folder(tmp_path, tiny_base):
    """H3: the grid session's *Save the new model* (finetune.copy_model) wrote over an earlier lab model, and over
    the shipped default ev_unet_int8.onnx in a clone."""
    from exo_vision.learn.finetune import copy_model
    from exo_vision.segmentation.learned.weights import MODELS_DIR, SHIPPED_MODELS, load_card

    saved = copy_model(tiny_base, tmp_path / "lab")
    assert saved == tmp_path / "lab.onnx" and load_card(saved).sha256 == load_card(tiny_base).sha256
    before = saved.read_bytes(), saved.with_suffix(".json").read_bytes()
    for target in (tmp_path / "lab.onnx", tmp_path / "lab"):
        with pytest.raises(ValueError, match="lab.onnx exists: choose another name .a model is never overwritten"):
            copy_model(tiny_base, target)
    assert (saved.read_bytes(), saved.with_suffix(".json").read_bytes()) == before
    (tmp_path / "card_only.json").write_text("{}")  # a card alone is not replaced either
    with pytest.raises(ValueError, match="card_only.json exists"):
        copy_model(tiny_base, tmp_path / "card_only.onnx")
    assert not (tmp_path / "card_only.onnx").exists()
    shipped = SHIPPED_MODELS["ev-unet"].with_suffix(".onnx")
    digest = load_card("ev-unet").sha256
    for target in (shipped, MODELS_DIR / "new_name.onnx"):
        with pytest.raises(ValueError, match="exo_vision's own models folder"):
            copy_model(tiny_base, target)
    assert load_card("ev-unet").sha256 == digest and not (MODELS_DIR / "new_name.onnx").exists()


def _session_folder(tmp_path, markers):
    """A grid session's output folder: one saved micrograph per (name, marker extras) with its labels."""
    samples = _with_vesicles(len(markers))
    images, out = tmp_path / "grid", tmp_path / "out"
    images.mkdir()
    out.mkdir()
    for (name, extra), sample in zip(markers, samples, strict=True):
        tifffile.imwrite(images / f"{name}.tif", (sample.image * 255).astype(np.uint8))
        tifffile.imwrite(out / f"{name}_labels.tif", sample.labels.astype(np.uint16))
        marker = {"input": str(images / f"{name}.tif"), "pixel_size_nm": PIXEL_SIZE_NM, "curated_in_gui": True}
        (out / f"{name}_done.json").write_text(json.dumps({**marker, **extra}))
    return out


def test_micrographs_saved_with_no_edit_are_not_curated_truth(tmp_path, caplog):
    """H4: every micrograph the grid session saved counted as curated, also with no edit (paged through, or saved
    by Learn as it was shown): its 'truth' was the starting model's own outlines (held-out F1 1.000 before)."""
    out = _session_folder(
        tmp_path,
        [
            ("edited", {"n_edits": 3}),
            ("checked", {"n_edits": 0, "checked_in_gui": True}),
            ("paged", {"n_edits": 0}),
            ("old_marker", {}),
        ],
    )
    with caplog.at_level(logging.WARNING):
        found = collect_curated([out])
    assert [m.name for m in found] == ["checked.tif", "edited.tif"]
    assert [(m.n_edits, m.checked) for m in found] == [(0, True), (3, False)]
    assert "2 micrograph(s) saved by the grid session with no edit and not marked as checked" in caplog.text
    assert "(old_marker.tif, paged.tif)" in caplog.text and "their outlines are the model's own" in caplog.text
    said: list[str] = []
    collect_curated([out], warn=said.append)  # the dock shows them
    assert len(said) == 1 and "paged.tif" in said[0]


def test_the_grid_session_records_edits_and_a_check_apart(tmp_path):
    from exo_vision.session.curation import CHECKED_ACTION, CuratedResult, edit_record
    from exo_vision.session.grid import GridSession, GridSettings

    grid = tmp_path / "grid"
    grid.mkdir()
    sample = _with_vesicles(1, shape=(192, 192))[0]
    tifffile.imwrite(
        grid / "g0.tif", sample.image, imagej=True, resolution=(1 / PIXEL_SIZE_NM,) * 2, metadata={"unit": "nm"}
    )
    session = GridSession.open(grid, tmp_path / "out", GridSettings(method="classical"))
    (path,) = session.files
    image = session.read(path)
    result = session.analyse(image)

    def saved(log):
        session.save(path, CuratedResult(image=image, labels=result.labels, table=result.table, edit_log=log))
        marker = json.loads((tmp_path / "out" / "g0_done.json").read_text())
        return marker["n_edits"], marker["checked_in_gui"]

    assert saved([]) == (0, False)
    assert saved([edit_record(CHECKED_ACTION, None)]) == (0, True)
    assert saved([edit_record("delete", 1), edit_record(CHECKED_ACTION, None)]) == (1, True)


def test_a_cancel_after_the_last_step_is_honoured_until_the_model_is_in_place(tmp_path, tiny_base):
    """M1: should_stop was polled only while training; a Cancel during the minute of scoring after the last step
    was ignored and the model written."""
    from exo_vision.learn.finetune import STAGE_WRITING, FineTuneCancelled, fine_tune

    items = _curated(3)
    settings = FineTuneSettings(**TINY)
    out = tmp_path / "models"
    out.mkdir()
    trained = {"done": False}

    def last_step(done: int, total: int) -> None:
        trained["done"] = done == total

    with pytest.raises(FineTuneCancelled):
        fine_tune(
            items,
            out=out / "lab.onnx",
            base_model=tiny_base,
            settings=settings,
            progress=last_step,
            should_stop=lambda: trained["done"],
        )
    assert trained["done"] and list(out.iterdir()) == []
    stages: list[str] = []
    with pytest.raises(FineTuneCancelled):
        fine_tune(
            items,
            out=out / "lab.onnx",
            base_model=tiny_base,
            settings=settings,
            stage=lambda name, done, total: stages.append(name),
            should_stop=lambda: stages[-1:] == [STAGE_WRITING],
        )
    assert stages[-1] == STAGE_WRITING and list(out.iterdir()) == []


def test_the_stages_around_training_and_a_time_limit_are_reported(tmp_path, tiny_base):
    """M1 and M2: the scoring after training showed 'step N of at most N' for a minute; --minutes cut the training
    short (14 of 20 steps in the probe) without a word."""
    from exo_vision.learn.finetune import STAGE_AFTER, STAGE_BEFORE, STAGE_THRESHOLD, STAGE_WRITING, fine_tune
    from exo_vision.learn.grid_models import comparison_text
    from exo_vision.segmentation.learned.weights import load_card

    items = _curated(3)
    seen: list[tuple[str, int, int]] = []
    result = fine_tune(
        items,
        out=tmp_path / "lab.onnx",
        base_model=tiny_base,
        settings=FineTuneSettings(**{**TINY, "steps": 50, "max_minutes": 1e-9}),
        split=(items[:2], items[2:]),
        stage=lambda name, done, total: seen.append((name, done, total)),
    )
    names = list(dict.fromkeys(name for name, _, _ in seen))
    assert names == [STAGE_BEFORE, STAGE_THRESHOLD, STAGE_AFTER, STAGE_WRITING]
    assert [(d, t) for n, d, t in seen if n == STAGE_THRESHOLD] == [(k, 8) for k in range(8)]  # 2 x 4 sensitivities
    assert result.steps_done < 50 and result.steps_asked == 50
    note = f"stopped by the 1e-09-minute time limit after {result.steps_done} of 50 steps"
    assert result.time_limit_note.startswith(note)
    assert note in comparison_text(result)
    assert any(n.startswith(note) for n in load_card(result.onnx_path).card["training"]["notes"])
    enough = fine_tune(
        items,
        out=tmp_path / "full.onnx",
        base_model=tiny_base,
        settings=FineTuneSettings(**TINY),
        split=(items[:2], items[2:]),
    )
    assert enough.time_limit_note == "" and "time limit" not in comparison_text(enough)


def test_cli_train_says_when_the_time_limit_cut_the_training_and_names_the_scoring_stages(tmp_path, tiny_base, capsys):
    from exo_vision.cli.main import main

    _write_pairs(tmp_path / "enough", 3, shape=(256, 256), at_least=12)
    out = tmp_path / "lab.onnx"
    args = ["--out", str(out), "--base-model", str(tiny_base), "--steps", "50", "--minutes", "1e-9", "--threads", "1"]
    assert main(["train", "--from", str(tmp_path / "enough"), *args]) == 0
    captured = capsys.readouterr()
    steps = json.loads(out.with_suffix(".json").read_text())["training"]["steps"]
    assert f"stopped by the 1e-09-minute time limit after {steps} of 50 steps (--minutes raises it" in captured.out
    assert re.search(rf"training took \d+\.\d min \({steps} steps\), the whole run \d+\.\d min; wrote", captured.out)
    assert "curated micrographs taken: m0.tif (label image), m1.tif (label image), m2.tif (label image)" in captured.out
    for stage in ("scoring the starting model", "choosing the new model's threshold", "scoring held-out micrographs"):
        assert captured.err.count(stage) == 1


def test_a_renamed_or_damaged_lab_model_gets_its_own_fix_not_reinstall(tmp_path, tiny_base):
    """M4: renaming a model's pair the ordinary way broke it ('weights lab.onnx are missing ... reinstall exo_vision'),
    and a damaged lab model was told to reinstall exo_vision, which does nothing for it."""
    import shutil

    from exo_vision.segmentation.learned.weights import load_card

    digest = load_card(tiny_base).sha256
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy(tiny_base, renamed / "ourlab_v1.onnx")
    shutil.copy(tiny_base.with_suffix(".json"), renamed / "ourlab_v1.json")
    card = load_card(renamed / "ourlab_v1.onnx")  # both renamed together: the checksum says it is the pair
    assert card.onnx_path == renamed / "ourlab_v1.onnx" and card.sha256 == digest
    document = json.loads((renamed / "ourlab_v1.json").read_text())
    del document["file"]  # a card without "file" describes the .onnx of its own name
    (renamed / "nofile.json").write_text(json.dumps(document))
    shutil.copy(tiny_base, renamed / "nofile.onnx")
    assert load_card(renamed / "nofile.onnx").sha256 == digest
    # only the card renamed: it names weights that are not there
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(tiny_base.with_suffix(".json"), lone / "ourlab_v2.json")
    (lone / "other.onnx").write_bytes(b"x")
    with pytest.raises(
        ValueError, match=f'card .*ourlab_v2.json names the weights {tiny_base.name} .its "file".'
    ) as info:
        load_card(lone / "ourlab_v2.json")
    assert 'rename both back, or set "file" in ourlab_v2.json' in str(info.value) and "reinstall" not in str(info.value)
    # damaged weights of a lab model
    data = bytearray((renamed / "ourlab_v1.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (renamed / "ourlab_v1.onnx").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or not the ones its card ourlab_v1.json describes") as info:
        load_card(renamed / "ourlab_v1.onnx")
    assert "copy both again from where the model was written" in str(info.value) and "reinstall" not in str(info.value)
