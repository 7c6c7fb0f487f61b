"""One micrograph stored at another bit depth (a raw 16-bit file and its 8-bit export; uint8/uint16/int16/float32
copies) is pooled once, with the reason, in a run and across runs in the report; two different micrographs of
the same look, equal-sized crops of one field, and a crop and its field are never merged.

Before, only identical bytes or identical pixels were recognised: a 16-bit file and its 8-bit export were pooled
twice, silently.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from exo_vision.batch.duplicates import MAX_RESIDUAL_STEPS, affine_match, pixels_signature, signatures_alike
from exo_vision.cli.main import main
from exo_vision.report.collect import collect_tem
from exo_vision.synthetic.tem import make_synthetic_tem

PIXEL_SIZE_NM = 2.0


def _field(seed: int, shape: tuple[int, int] = (384, 384)) -> np.ndarray:
    image, _ = make_synthetic_tem(
        shape, pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", n_vesicles=6, scale_bar=False, rng=seed
    )
    return image.astype(np.float64)


def _bit_depths(field: np.ndarray) -> dict[str, np.ndarray]:
    """A raw 16-bit camera file spanning most of its range, its 8-bit export (raw // 257), an int16 copy with
    negative values and a float32 copy scaled to 0-1."""
    scaled = (field - field.min()) / (field.max() - field.min())
    raw = np.round(scaled * 60000 + 2000).astype(np.uint16)
    return {
        "raw16": raw,
        "export8": (raw // 257).astype(np.uint8),
        "int16": (raw.astype(np.int32) - 30000).astype(np.int16),
        "float32": ((raw - 2000) / 60000.0).astype(np.float32),
    }


def _save(path: Path, pixels: np.ndarray) -> None:
    resolution = (1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM)
    tifffile.imwrite(path, pixels, imagej=pixels.dtype != np.int16, resolution=resolution, metadata={"unit": "nm"})


def test_bit_depth_copies_match_pixel_by_pixel_and_their_signatures_agree():
    copies = _bit_depths(_field(11))
    names = list(copies)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert signatures_alike(pixels_signature(copies[a]), pixels_signature(copies[b])), (a, b)
            match = affine_match(copies[a], copies[b])
            assert match.same, (a, b, match)
    # raw // 257 rounds down to whole 8-bit steps: the residual of a uniform rounding is 1/sqrt(12) = 0.289 step
    match = affine_match(copies["raw16"], copies["export8"])
    assert match.residual_steps == pytest.approx(1 / np.sqrt(12), abs=0.02)
    assert match.residual_steps < MAX_RESIDUAL_STEPS
    assert "another bit depth" in match.reason()


def test_different_micrographs_of_the_same_look_and_crops_are_never_one():
    one, other = _field(11, (512, 512)), _field(12, (512, 512))
    assert not affine_match(one, other).same  # two seeded fields of one generator: same look, same shape
    for shift in (1, 3, 16, 128):  # equal-sized crops of one field, overlapping more or less
        a, b = one[0:384, 0:384], one[0:384, shift : 384 + shift]
        match = affine_match(a, b)
        assert not match.same and match.residual_steps > 2 * MAX_RESIDUAL_STEPS, (shift, match)
    # a crop is never a candidate for its field (another shape), at any bit depth
    assert not signatures_alike(pixels_signature(one), pixels_signature(one[:384, :384]))
    assert not affine_match(one, one[:384, :384]).same
    inverted = one.max() - one  # a decreasing map is another picture for the analysis
    assert not affine_match(one, inverted).same
    assert not signatures_alike(pixels_signature(one), pixels_signature(inverted))


@pytest.mark.slow
def test_a_16_bit_file_and_its_8_bit_export_are_pooled_once_with_the_reason(tmp_path):
    grid = tmp_path / "grid"
    grid.mkdir()
    copies = _bit_depths(_field(21))
    _save(grid / "a_raw16.tif", copies["raw16"])
    _save(grid / "b_export8.tif", copies["export8"])
    _save(grid / "c_float32.tif", copies["float32"])
    other = _bit_depths(_field(22))  # another field of the same look, at both depths
    _save(grid / "d_other16.tif", other["raw16"])
    _save(grid / "e_crop8.tif", copies["export8"][:320, :320])  # a crop of the first field: another micrograph
    out = tmp_path / "out"
    assert main(["tem", str(grid), "--out", str(out), "--workers", "1"]) == 0
    run = json.loads((out / "run.json").read_text())
    name = {p.stem: str(p) for p in grid.iterdir()}
    assert run["duplicate_images"] == [[name["a_raw16"], name["b_export8"], name["c_float32"]]]
    records = {r["stem"]: r for r in run["images"]}
    for stem in ("b_export8", "c_float32"):
        assert records[stem]["duplicate_of"] == name["a_raw16"]
        assert records[stem]["duplicate_reason"].startswith("the same pixels at another bit depth or value scale")
    assert not any(records[s].get("duplicate_of") for s in ("a_raw16", "d_other16", "e_crop8"))
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False).set_index("image")
    expected = sum(int(summary.loc[s, "n"]) for s in ("a_raw16", "d_other16", "e_crop8"))
    assert int(summary.loc["a_raw16", "n"]) > 0
    assert int(summary.loc["pooled", "n"]) == expected  # before: the first field counted three times


@pytest.mark.slow
def test_the_report_pools_a_bit_depth_copy_analysed_in_another_run_once(tmp_path):
    copies = _bit_depths(_field(31))
    folders = []
    for name in ("raw16", "export8"):
        grid = tmp_path / f"grid_{name}"
        grid.mkdir()
        _save(grid / f"field_{name}.tif", copies[name])
        out = tmp_path / f"out_{name}"
        assert main(["tem", str(grid), "--out", str(out), "--workers", "1"]) == 0
        folders.append(out)
    tem = collect_tem(folders)
    assert len(tem.copies) == 1
    row = tem.copies.iloc[0]
    assert (row["image"], row["counted_image"]) == ("field_export8", "field_raw16")
    assert str(row["same"]).startswith("the same pixels at another bit depth")
    alone = collect_tem(folders[:1])
    assert tem.statistics["n"] == alone.statistics["n"]  # before: twice the one field's count
