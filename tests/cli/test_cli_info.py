"""``exo-vision info``: one JSON line per file, errors reported, non-zero exit on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.synthetic.scn import write_scn

REPO = Path(__file__).resolve().parents[2]
FORMATS = REPO.parent / "shared" / "data" / "formats"


def _tem_tiff(path: Path, pixel_size_nm: float = 0.75) -> Path:
    data = (np.arange(40 * 50).reshape(40, 50) % 200).astype(np.uint16)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / pixel_size_nm,) * 2, metadata={"unit": "nm"})
    return path


def _blot_scn(path: Path) -> Path:
    data = np.full((30, 40), 900, np.uint16)
    data[10:14, 5:35] = 40000
    return write_scn(path, data, pixel_size_mm=0.05, exposure_s=3.0)


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_info_tem_and_blot(tmp_path, capsys):
    tem = _tem_tiff(tmp_path / "grid.tif")
    blot = _blot_scn(tmp_path / "cd63.scn")
    status = main(["info", str(tem), str(blot)])
    records = _lines(capsys.readouterr().out)
    assert status == 0
    assert [r["path"] for r in records] == [str(tem), str(blot)]
    tem_record, blot_record = records
    assert tem_record["kind"] == "tem"
    assert tem_record["shape"] == [40, 50]
    assert tem_record["dtype"] == "uint16"
    assert tem_record["pixel_size_nm"] == pytest.approx(0.75, rel=1e-6)
    assert tem_record["pixel_size_source"].startswith("file metadata: ImageJ")
    assert "polarity" not in tem_record
    assert blot_record["kind"] == "blot"
    assert blot_record["polarity"] == "bright"
    assert blot_record["max_value"] == 65535
    assert blot_record["exposure_s"] == pytest.approx(3.0)
    assert blot_record["pixel_size_nm"] == pytest.approx(50000.0)


def test_info_reports_every_file_then_fails(tmp_path, capsys, caplog):
    good = _tem_tiff(tmp_path / "good.tif")
    missing = tmp_path / "missing.tif"
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    status = main(["info", str(missing), str(good), str(text)])
    captured = capsys.readouterr()
    records = _lines(captured.out)
    assert status == 1
    assert [r["path"] for r in records] == [str(missing), str(good), str(text)]
    assert "does not exist" in records[0]["error"]
    assert records[1]["pixel_size_nm"] == pytest.approx(0.75, rel=1e-6)
    assert "not a TIF image" in records[2]["error"]
    assert "Traceback" not in captured.err
    assert "2 of 3 file(s) could not be read" in caplog.text


def test_info_frame_and_kind_options(tmp_path, capsys):
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.arange(3 * 20 * 20, dtype=np.uint16).reshape(3, 20, 20), photometric="minisblack")
    assert main(["info", str(stack)]) == 1
    assert "--frame" in _lines(capsys.readouterr().out)[0]["error"]
    assert main(["info", "--frame", "2", "--kind", "blot", "--no-scale-bar", str(stack)]) == 0
    record = _lines(capsys.readouterr().out)[0]
    assert record["shape"] == [20, 20]
    assert record["kind"] == "blot"
    assert record["max_value"] == 65535


@pytest.mark.skipif(not FORMATS.is_dir(), reason="../shared/data/formats is not available")
def test_info_on_format_fixtures(capsys):
    files = [
        FORMATS / "ncempy" / "Camera Ceta Imaging Micro.emd",
        FORMATS / "ncempy" / "08_carbon.dm3",
        FORMATS / "rosettasciio" / "digitalmicrograph" / "2D" / "test_diffraction_pattern.dm3",
    ]
    status = main(["info", *map(str, files)])
    emd, spectrum, diffraction = _lines(capsys.readouterr().out)
    assert status == 1
    assert emd["pixel_size_nm"] == pytest.approx(3.1388, abs=1e-4)
    assert "spectrum" in spectrum["error"]
    assert "reciprocal" in diffraction["error"]


def test_info_describes_a_stack_and_non_square_pixels_with_advice_info_can_follow(tmp_path, capsys):
    stack = tmp_path / "tilts.tif"
    frames = (np.arange(3 * 40 * 50).reshape(3, 40, 50) % 200).astype(np.uint16)
    tifffile.imwrite(stack, frames, imagej=True, resolution=(1 / 0.5, 1 / 0.5), metadata={"unit": "nm"})
    wide = tmp_path / "wide.tif"
    tifffile.imwrite(
        wide, frames[0], imagej=True, resolution=(1 / 2.0, 1 / 0.5), metadata={"unit": "nm"}
    )  # x 2 nm, y 0.5 nm
    assert main(["info", "--kind", "tem", str(stack), str(wide)]) == 1
    of_stack, of_wide = _lines(capsys.readouterr().out)
    assert of_stack["shape"] == [3, 40, 50] and of_stack["dtype"] == "uint16" and of_stack["frames"] == 3
    assert of_stack["pixel_size_yx_nm"] == pytest.approx([0.5, 0.5])
    assert (
        "add --frame K (0 <= K < 3)" in of_stack["error"] and f"exo-vision info --frame 0 {stack}" in of_stack["error"]
    )
    assert of_wide["shape"] == [40, 50] and of_wide["pixel_size_yx_nm"] == pytest.approx([0.5, 2.0])
    assert "resample it to square pixels" in of_wide["error"]
    assert "pass pixel_size_nm" not in of_wide["error"]  # info has no --pixel-size-nm
    assert main(["info", "--frame", "1", str(stack)]) == 0  # the advice works


@pytest.mark.skipif(not FORMATS.is_dir(), reason="../shared/data/formats is not available")
def test_info_on_a_dm_stack_and_a_non_square_dm3(capsys):
    files = [
        FORMATS / "ncempy" / "dmTest_float32_nonSquare_diffPixelSize.dm3",
        FORMATS / "ncempy" / "dmTest_3D_int16_64,65,66.dm4",
    ]
    assert main(["info", *map(str, files)]) == 1
    non_square, stack = _lines(capsys.readouterr().out)
    assert non_square["shape"] == [64, 128] and non_square["dtype"] == "float32"
    assert non_square["pixel_size_yx_nm"] == pytest.approx([0.2, 1.0])
    assert non_square["pixel_size_source"].startswith("file metadata: DigitalMicrograph")
    assert "resample it to square pixels" in non_square["error"] and "(--pixel-size-nm)" not in non_square["error"]
    assert stack["shape"] == [66, 65, 64] and stack["dtype"] == "int16" and stack["frames"] == 66
    assert "add --frame K (0 <= K < 66)" in stack["error"]


@pytest.mark.slow
def test_info_as_a_real_subprocess(tmp_path):
    tem = _tem_tiff(tmp_path / "grid.tif", pixel_size_nm=1.25)
    bad = tmp_path / "empty.dm3"
    bad.write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "exo_vision.cli.main", "info", "--no-scale-bar", str(tem), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    good, failed = _lines(done.stdout)
    assert good["pixel_size_nm"] == pytest.approx(1.25, rel=1e-6)
    assert "empty" in failed["error"]
    assert "Traceback" not in done.stderr


def test_info_help_reads_like_a_manual(capsys):
    with pytest.raises(SystemExit) as info:
        main(["info", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--kind", "--frame", "--no-scale-bar", "pixel_size_source"):
        assert option in out


def test_names_in_any_script_print_under_an_ascii_locale(tmp_path):
    # Python keeps an ASCII stdout under LC_ALL=C when locale coercion and UTF-8 mode are off
    folder = tmp_path / "Größe_日本"
    folder.mkdir()
    image = _tem_tiff(folder / "vésicule.tif")
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    code = "import sys; from exo_vision.cli.main import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "info", str(image)], capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert json.loads(done.stdout)["path"].endswith("Größe_日本/vésicule.tif")


def test_verbose_is_taken_before_or_after_the_command():
    # the messages say "rerun with -v": users add it at the end
    from exo_vision.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(["info", "x.tif", "-v"]).verbose is True
    assert parser.parse_args(["-v", "info", "x.tif"]).verbose is True
    assert parser.parse_args(["info", "x.tif"]).verbose is False
