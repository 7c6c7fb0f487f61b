"""The groups of touching vesicles flagged as possibly one vesicle cut in pieces are recorded as label lists, in
run.json and in each image's done-marker (a resumed run carries them on), beside the warning that names them."""

from __future__ import annotations

import json

import tifffile

from exo_vision.synthetic.tem import make_synthetic_tem


def test_run_json_records_the_split_groups_as_label_lists(tmp_path, monkeypatch):
    from exo_vision import tem_analysis
    from exo_vision.cli.main import main

    flagged = {"m0": [(2, 3), (1, 3, 4)], "m1": []}
    calls = []

    def pairs_of(labels, **_):
        calls.append(labels.max())
        return flagged["m0"] if len(calls) == 1 else flagged["m1"]

    monkeypatch.setattr(tem_analysis, "possibly_split_groups", pairs_of)
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for seed in range(2):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=4, scale_bar=False, rng=seed
        )
        tifffile.imwrite(inputs / f"m{seed}.tif", image)
    base = ["tem", str(inputs), "--out", str(out), "--workers", "1", "--pixel-size-nm", "1"]
    assert main(base) == 0
    records = {r["stem"]: r for r in json.loads((out / "run.json").read_text())["images"]}
    assert records["m0"]["split_groups"] == [[2, 3], [1, 3, 4]]  # before: only in the warning's words
    assert any(
        w.startswith("vesicles 2+3 (together ") and " nm), 1+3+4 (together " in w for w in records["m0"]["warnings"]
    )
    assert records["m1"]["split_groups"] == []
    assert json.loads((out / "m0_done.json").read_text())["split_groups"] == [[2, 3], [1, 3, 4]]
    assert main([*base, "--resume"]) == 0  # a result taken as complete keeps its pairs
    records = {r["stem"]: r for r in json.loads((out / "run.json").read_text())["images"]}
    assert records["m0"]["status"] == "skipped" and records["m0"]["split_groups"] == [[2, 3], [1, 3, 4]]
