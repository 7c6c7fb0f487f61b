"""Behaviour pins: the classical method's labels and the report's numbers stay identical through refactors.

The pinned values (``tests/data/behaviour_pins.json``) are sha256 digests of the label images and of the
rejected-candidate tables the classical method gives on a fixed set of micrographs (seeded generator images and the
shipped ``sample_images/``), and every ``data-key``/``data-value`` number of a report built from fixed inputs.
A refactor that changes any of them changes behaviour. To re-pin after a deliberate change of behaviour, run
``EXO_VISION_REPIN=1 python -m pytest tests/test_behaviour_pins.py`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.io.read import read_image
from exo_vision.segmentation.api import segment_vesicles
from exo_vision.synthetic.tem import make_synthetic_tem

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "tests" / "data" / "behaviour_pins.json"
SAMPLES = ROOT / "sample_images"
REPIN = os.environ.get("EXO_VISION_REPIN") == "1"

#: Generated micrographs: name -> keyword arguments of ``make_synthetic_tem``.
GENERATED = {
    "easy_bright_1.0nm": dict(shape=(384, 384), pixel_size_nm=1.0, difficulty="easy", rng=11),
    "hard_bright_0.8nm": dict(shape=(512, 512), pixel_size_nm=0.8, difficulty="hard", rng=12),
    "medium_dark_1.5nm": dict(shape=(384, 384), pixel_size_nm=1.5, difficulty="medium", polarity="dark", rng=13),
    "extreme_bright_2.0nm": dict(shape=(320, 320), pixel_size_nm=2.0, difficulty="extreme", rng=14),
}
SAMPLE_FILES = ("tem_medium_0.8nm.tif", "tem_hard_0.8nm.tif", "tem_dark_1.2nm.tif", "hrml_ev_negative_stain.jpg")


def _digest_labels(labels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int32).tobytes()).hexdigest()


def _digest_table(table: pd.DataFrame) -> str:
    return hashlib.sha256(table.to_csv(index=False, float_format="%.9g").encode()).hexdigest()


def _fingerprint(image: np.ndarray, pixel_size_nm: float) -> dict[str, object]:
    seg = segment_vesicles(image, pixel_size_nm=pixel_size_nm, method="classical")
    return {
        "n_vesicles": int(seg.labels.max()),
        "polarity": seg.polarity,
        "labels_sha256": _digest_labels(seg.labels),
        "rejected_sha256": _digest_table(seg.rejected),
    }


def _load() -> dict:
    return json.loads(PINS.read_text(encoding="utf-8")) if PINS.exists() else {}


def _check(section: str, key: str, actual: object) -> None:
    pins = _load()
    if REPIN:
        pins.setdefault(section, {})[key] = actual
        PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return
    assert key in pins.get(section, {}), f"no pin for {section}/{key}: run with EXO_VISION_REPIN=1 once"
    assert actual == pins[section][key], f"{section}/{key} changed"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(GENERATED))
def test_classical_labels_on_generated_micrographs_are_pinned(name):
    image, _ = make_synthetic_tem(**GENERATED[name])
    _check("classical_generated", name, _fingerprint(image, GENERATED[name]["pixel_size_nm"]))


@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_classical_labels_on_sample_images_are_pinned(name):
    data = read_image(SAMPLES / name)
    _check("classical_samples", name, _fingerprint(data.data, data.pixel_size_nm))


_NUMBER = re.compile(r'data-key="([^"]+)" data-value="([^"]*)"')


@pytest.mark.slow
def test_report_numbers_are_pinned(tmp_path):
    from exo_vision.cli.main import main
    from exo_vision.synthetic.blot import make_marker_panel

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for seed in (1, 2):
        image, _ = make_synthetic_tem((256, 256), pixel_size_nm=2.0, difficulty="easy", n_vesicles=10, rng=seed)
        tifffile.imwrite(inputs / f"grid_{seed}.tif", image)
    tifffile.imwrite(inputs / "panel.tif", make_marker_panel(rng=0).image)
    (inputs / "panel.toml").write_text(
        'lane_names = ["lysate", "exo1", "exo2"]\nreference_lane = "lysate"\n'
        + "".join(
            f'[[marker]]\nname = "{m}"\nimage = "panel.tif"\nstrip = {k}\n'
            for k, m in enumerate(("CD9", "CD63", "calnexin"), start=1)
        ),
        encoding="utf-8",
    )
    tem_dir, blot_dir, page = tmp_path / "tem", tmp_path / "blot", tmp_path / "report.html"
    assert (
        main(
            [
                "tem",
                str(inputs / "grid_1.tif"),
                str(inputs / "grid_2.tif"),
                "--method",
                "classical",
                "--pixel-size-nm",
                "2.0",
                "--workers",
                "1",
                "--out",
                str(tem_dir),
            ]
        )
        == 0
    )
    assert main(["blot", "--panel", str(inputs / "panel.toml"), "--out", str(blot_dir)]) == 0
    assert (
        main(
            [
                "report",
                "--tem",
                str(tem_dir),
                "--blot",
                str(blot_dir),
                "--dls",
                "z_avg_nm=121.3,pdi=0.21",
                "--out",
                str(page),
            ]
        )
        == 0
    )
    numbers = sorted(set(_NUMBER.findall(page.read_text(encoding="utf-8"))))
    assert len(numbers) > 10  # the page must carry real numbers
    _check("report", "numbers", [list(pair) for pair in numbers])
