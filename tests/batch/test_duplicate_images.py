"""Identical copies of one micrograph under other names are pooled once and named where the user looks.

Before, a copy was analysed and pooled twice (its vesicles twice in vesicles.csv, the pooled row and the
histogram) and only a stderr warning said so. Now run.json lists the copies (``duplicate_images``),
summary.csv's ``duplicate_of`` column names the input each copy is pooled as, the printed summary line names
them, and the pooled statistics count each micrograph once (as its first input); every copy keeps its own
outputs and summary row.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import tifffile

from exo_vision.batch.config import TemBatchConfig
from exo_vision.batch.runner import run_tem_batch
from exo_vision.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


@pytest.fixture
def grid(tmp_path) -> Path:
    """a.tif and its byte copy c.tif; b.tif and d.tif, the same pixels saved with and without compression."""
    folder = tmp_path / "grid"
    folder.mkdir()
    shutil.copy(SAMPLES / "tem_medium_0.8nm.tif", folder / "a.tif")
    shutil.copy(SAMPLES / "tem_medium_0.8nm.tif", folder / "c.tif")
    shutil.copy(SAMPLES / "tem_hard_0.8nm.tif", folder / "d.tif")
    pixels = tifffile.imread(folder / "d.tif")
    tifffile.imwrite(
        folder / "b.tif",
        pixels,
        compression="zlib",
        imagej=True,
        resolution=(1 / 0.8, 1 / 0.8),
        metadata={"unit": "nm"},
    )
    assert (folder / "b.tif").read_bytes() != (folder / "d.tif").read_bytes()
    return folder


def test_copies_are_pooled_once_and_named_in_run_json_summary_and_the_printed_line(grid, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["tem", str(grid), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    names = {n: str(grid / f"{n}.tif") for n in "abcd"}
    assert (
        f"4 input(s): 4 analysed, 0 already complete, 0 failed, 2 copies of another input (the same micrograph) "
        f"counted once in the pooled statistics ({names['c']} = {names['a']}, ...; run.json: duplicate_images)"
        in printed
    )
    run = json.loads((out / "run.json").read_text())
    assert run["duplicate_images"] == [[names["a"], names["c"]], [names["b"], names["d"]]]
    assert {r["stem"]: r.get("duplicate_of") for r in run["images"]} == {
        "a": None,
        "b": None,
        "c": names["a"],
        "d": names["b"],
    }
    # every copy keeps its own outputs ...
    for stem in "abcd":
        assert (out / f"{stem}_done.json").is_file() and (out / f"{stem}_vesicles.csv").is_file()
    # ... and its own row; the pooled row counts each micrograph once
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert list(summary.columns[-2:]) == ["duplicate_of", "source_file"]
    rows = summary.set_index("image")
    assert rows.loc["c", "duplicate_of"] == names["a"] and rows.loc["d", "duplicate_of"] == names["b"]
    assert rows.loc["a", "duplicate_of"] == rows.loc["pooled", "duplicate_of"] == ""
    assert rows.loc["a", "n"] == rows.loc["c", "n"] and rows.loc["b", "n"] == rows.loc["d", "n"]
    assert rows.loc["pooled", "n"] == rows.loc["a", "n"] + rows.loc["b", "n"]  # before: a + b + c + d
    pooled = pd.read_csv(out / "vesicles.csv")
    per_image = {s: pd.read_csv(out / f"{s}_vesicles.csv") for s in "ab"}
    assert pooled["image"].tolist() == ["a"] * len(per_image["a"]) + ["b"] * len(per_image["b"])
    # the density's area counts each micrograph once too: the same as a run over a.tif and b.tif alone
    alone = tmp_path / "alone"
    run_tem_batch([grid / "a.tif", grid / "b.tif"], out_dir=alone, config=TemBatchConfig(workers=1))
    assert (alone / "vesicles.csv").read_bytes() == (out / "vesicles.csv").read_bytes()
    single = pd.read_csv(alone / "summary.csv", keep_default_na=False).set_index("image").loc["pooled"]
    assert rows.loc["pooled", single.index].to_dict() == single.to_dict()  # every statistic, the density too
    # the report, which pools vesicles.csv over the images run.json lists, counts each micrograph's area once
    from exo_vision.report.collect import collect_tem

    density = collect_tem([out]).statistics["vesicles_per_um2"]
    assert density == pytest.approx(collect_tem([alone]).statistics["vesicles_per_um2"]) and density > 0

    # a resumed run finds the same copies from the completion markers, and writes the same tables
    before = {n: (out / n).read_bytes() for n in ("vesicles.csv", "summary.csv", "size_histogram.svg")}
    assert main(["tem", str(grid), "--out", str(out), "--workers", "1", "--resume"]) == 0
    assert json.loads((out / "run.json").read_text())["duplicate_images"] == run["duplicate_images"]
    assert {n: (out / n).read_bytes() for n in before} == before


def test_a_run_without_copies_has_an_empty_duplicate_of_column(tmp_path):
    out = tmp_path / "out"
    result = run_tem_batch([SAMPLES / "tem_medium_0.8nm.tif"], out_dir=out, config=TemBatchConfig(workers=1))
    assert result.duplicate_images == []
    # the column is there, empty, so that summaries of several runs appended into one sheet keep their columns
    assert pd.read_csv(out / "summary.csv", keep_default_na=False)["duplicate_of"].eq("").all()
    assert json.loads((out / "run.json").read_text())["duplicate_images"] == []
