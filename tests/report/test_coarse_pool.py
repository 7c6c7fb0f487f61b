"""A pooled size distribution of micrographs on both sides of the half-membrane limit (2.31 nm/px) says so where
its numbers are read: the report's size statistics and `exo-vision histogram` (size53 F2/F3)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.synthetic.tem import make_synthetic_tem


def _tem_run(tmp_path: Path, name: str, pixel_sizes_nm: tuple[float, ...]) -> Path:
    inputs, out = tmp_path / f"{name}_in", tmp_path / name
    inputs.mkdir()
    for seed, nm in enumerate(pixel_sizes_nm):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=nm, difficulty="easy", n_vesicles=4, scale_bar=False, rng=seed
        )
        tifffile.imwrite(
            inputs / f"m{seed}.tif", image, imagej=True, resolution=(1 / nm, 1 / nm), metadata={"unit": "nm"}
        )
    assert main(["tem", str(inputs), "--out", str(out), "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> Path:
    return _tem_run(tmp_path_factory.mktemp("mixed"), "mixed", (2.0, 3.0))


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_the_reports_size_statistics_name_a_pool_mixing_outline_constructions(mixed_run, tmp_path):
    page = tmp_path / "r.html"
    assert main(["report", "--tem", str(mixed_run), "--out", str(page)]) == 0
    statistics = _text(page)[_text(page).index("Size statistics (TEM") :]
    assert "The pooled statistics: 1 of the 2 pooled micrographs have pixels coarser than 2.31 nm/px" in statistics
    assert "mixes two outline constructions" in statistics and "not a correction factor" in statistics

    fine = _tem_run(tmp_path, "fine", (1.0, 2.0))
    assert main(["report", "--tem", str(fine), "--out", str(tmp_path / "f.html")]) == 0
    assert "pooled micrographs have pixels coarser" not in _text(tmp_path / "f.html")
