"""A re-run names the outputs of images it does not cover, leaves them, and keeps them out of its tables."""

from __future__ import annotations

import json
import logging

import pandas as pd
import tifffile

from exo_vision.batch import runner
from exo_vision.batch.config import TemBatchConfig
from exo_vision.synthetic.tem import make_synthetic_tem


def _micrographs(folder, count):
    folder.mkdir()
    for seed in range(count):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        tifffile.imwrite(folder / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})


def test_outputs_of_a_removed_image_are_named_kept_and_left_out_of_the_tables(tmp_path, caplog):
    folder, out = tmp_path / "in", tmp_path / "out"
    _micrographs(folder, 3)
    first = runner.run_tem_batch([folder], out_dir=out, config=TemBatchConfig(workers=1))
    assert [r["status"] for r in first.records] == ["done"] * 3 and first.not_in_run == []
    per_image = {s: pd.read_csv(out / f"{s}_vesicles.csv") for s in ("m0", "m1", "m2")}
    m1_files = sorted(p.name for p in out.glob("m1_*"))
    assert m1_files == ["m1_done.json", "m1_labels.tif", "m1_overlay.png", "m1_rejected.csv", "m1_vesicles.csv"]

    (folder / "m1.tif").unlink()
    (out / "m7_vesicles.csv").write_text("label,equivalent_diameter_nm\n1,50\n")  # a table without its marker
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        again = runner.run_tem_batch([folder], out_dir=out, config=TemBatchConfig(workers=1), resume=True)
    assert [r["status"] for r in again.records] == ["skipped", "skipped"]

    expected = [
        {"stem": "m1", "input": str(folder / "m1.tif"), "files": m1_files},
        {"stem": "m7", "input": None, "files": ["m7_vesicles.csv"]},
    ]
    assert json.loads((out / "run.json").read_text()).get("images_not_in_run") == expected
    assert again.not_in_run == expected
    assert "outputs of 2 image(s) from earlier runs belong to no input of this run" in caplog.text
    assert f"{folder / 'm1.tif'}, m7;" in caplog.text
    # left as they were
    assert sorted(p.name for p in out.glob("m1_*")) == m1_files
    # ... and in none of the tables: the pooled rows are m0's and m2's, the summary has their rows and the pool
    pooled = pd.read_csv(out / "vesicles.csv")
    assert pooled["image"].tolist() == ["m0"] * len(per_image["m0"]) + ["m2"] * len(per_image["m2"])
    assert pooled["equivalent_diameter_nm"].tolist() == [
        *per_image["m0"]["equivalent_diameter_nm"],
        *per_image["m2"]["equivalent_diameter_nm"],
    ]
    assert pd.read_csv(out / "summary.csv")["image"].tolist() == ["m0", "m2", "pooled"]
    # the report of the folder says which results it leaves out (before: "2 images" and not a word of m1)
    from exo_vision.report import build_report

    page = build_report(tem_dirs=[out])
    assert "also holds results of 2 image(s) that its last run did not cover" in page
    assert str(folder / "m1.tif") in page and "--resume" in page


def test_only_per_image_outputs_of_other_stems_count(tmp_path):
    from exo_vision.batch.image_outputs import images_not_in_run

    for name in ("a_done.json", "a_labels.tif", "B_vesicles.csv", "vesicles.csv", "run.json", "_done.json", "x.txt"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "c_overlay.png").mkdir()  # a folder is no output
    # b is a current stem on a disk that ignores case; a's marker is not a marker of this version
    assert images_not_in_run(tmp_path, ["b"]) == [
        {"stem": "a", "input": None, "files": ["a_done.json", "a_labels.tif"]}
    ]


def test_an_input_whose_output_stem_changed_is_named_with_both_stems_and_what_to_do(tmp_path, caplog):
    """Before: "outputs of 1 image(s) from earlier runs belong to no input of this run: in/g1/img.tif" while
    in/g1/img.tif was an input of that very run (now under another stem, because a namesake came)."""
    folder, out = tmp_path / "in", tmp_path / "out"
    _micrographs(folder, 2)
    (folder / "g1").mkdir()
    (folder / "g2").mkdir()
    (folder / "m0.tif").rename(folder / "g1" / "img.tif")
    (folder / "m1.tif").rename(tmp_path / "other.tif")
    config = TemBatchConfig(workers=1, recursive=True)
    first = runner.run_tem_batch([folder], out_dir=out, config=config)
    assert [r["stem"] for r in first.records] == ["img"]

    (tmp_path / "other.tif").rename(folder / "g2" / "img.tif")  # a namesake comes: g1/img.tif is now g1_img
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        again = runner.run_tem_batch([folder], out_dir=out, config=config, resume=True)
    assert [r["stem"] for r in again.records] == ["g1_img", "g2_img"]
    g1 = str(folder / "g1" / "img.tif")
    assert again.not_in_run[0]["now_analysed_as"] == {"input": g1, "stem": "g1_img"}
    assert "belong to no input of this run" not in caplog.text
    (message,) = [r.getMessage() for r in caplog.records if "an earlier run wrote" in r.getMessage()]
    assert message == (
        f"{g1}: an earlier run wrote its results as img_*; this run names them g1_img_*, because "
        f"{folder / 'g2' / 'img.tif'} (also an input of this run) has the same file name, and same-named inputs are "
        "told apart by their folder or extension; --resume finds a result under its own output name only, so it was "
        f"analysed again, as g1_img_*. The earlier img_* files in {out} are left as they are and are in none of this "
        "run's tables: delete them, or move them out of the folder, when you no longer need them"
    )

    # a renamed file: matched by its content, and said so
    (folder / "g2" / "img.tif").unlink()
    (folder / "g1" / "img.tif").rename(folder / "g1" / "renamed.tif")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        third = runner.run_tem_batch([folder], out_dir=out, config=config, resume=True)
    assert [r["stem"] for r in third.records] == ["renamed"]
    moved = {e["stem"]: e.get("now_analysed_as") for e in third.not_in_run}
    renamed = {"input": str(folder / "g1" / "renamed.tif"), "stem": "renamed"}
    assert moved == {"g1_img": renamed, "g2_img": None, "img": renamed}
    warnings = [r.getMessage() for r in caplog.records if "an earlier run wrote" in r.getMessage()]
    assert len(warnings) == 2 and all(
        "(the same file content, renamed or moved since); --resume finds a result under its own output name only, "
        "so it was analysed again, as renamed_*" in w
        for w in warnings
    )
    # only g2/img.tif, gone from the folder, is named as belonging to no input
    assert f"belong to no input of this run: {folder / 'g2' / 'img.tif'};" in caplog.text


def test_a_renamed_copy_is_told_from_the_copy_that_kept_its_name(tmp_path, caplog):
    """facility51 F10: m0.tif and its byte copy b.tif; b.tif renamed z.tif (after m0.tif in the input order).
    Before, the warning and run.json said that m0.tif (which always had its own results) was b.tif renamed, as the
    first input with its content."""
    import shutil

    folder, out = tmp_path / "in", tmp_path / "out"
    _micrographs(folder, 1)
    shutil.copy(folder / "m0.tif", folder / "b.tif")
    config = TemBatchConfig(workers=1)
    runner.run_tem_batch([folder], out_dir=out, config=config)
    (folder / "b.tif").rename(folder / "z.tif")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        again = runner.run_tem_batch([folder], out_dir=out, config=config, resume=True)
    assert {r["stem"]: r["status"] for r in again.records} == {"m0": "skipped", "z": "done"}
    (entry,) = again.not_in_run
    assert entry["stem"] == "b" and entry["now_analysed_as"] == {"input": str(folder / "z.tif"), "stem": "z"}
    (message,) = [r.getMessage() for r in caplog.records if "an earlier run wrote" in r.getMessage()]
    assert message.startswith(f"{folder / 'z.tif'}: an earlier run wrote its results as b_*, as {folder / 'b.tif'} ")

    # without --resume both copies are analysed afresh: the content cannot tell which one b.tif became
    (folder / "z.tif").rename(folder / "y.tif")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        third = runner.run_tem_batch([folder], out_dir=out, config=config)
    entries = {e["stem"]: e for e in third.not_in_run}
    assert entries["z"]["now_analysed_as"] is None
    assert entries["z"]["same_content_as"] == [str(folder / "m0.tif"), str(folder / "y.tif")]
    (message,) = [r.getMessage() for r in caplog.records if "z_* in" in r.getMessage()]
    assert f"an earlier run wrote them for {folder / 'z.tif'}, whose file content" in message
    assert "cannot be told from the content" in message
    assert "belong to no input of this run" not in caplog.text  # b_* and z_* are named above, not again
