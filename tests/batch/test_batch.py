"""Batch building blocks: atomic writes, input collection, stems, config files, completion markers."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tifffile

from exo_vision._shared.atomic import TEMP_PREFIX, atomic_write, atomic_write_text, sha256_file, write_if_changed
from exo_vision._shared.paths import display_path
from exo_vision.batch.config import TemBatchConfig, build_config, read_config
from exo_vision.batch.image_outputs import completed_marker, output_names, write_labels_tiff
from exo_vision.batch.runner import assign_stems, collect_inputs, plan_jobs
from exo_vision.environment import code_sha256
from exo_vision.io import read_image


def test_atomic_write_replaces_whole_files_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "table.csv"
    atomic_write_text(target, "a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n"

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    # The old content survives and no temporary file is left.
    assert target.read_text() == "a,b\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]
    # The temporary file keeps the suffix, so format-by-extension writers work.
    seen = []
    atomic_write(tmp_path / "x.png", lambda tmp: (seen.append(tmp), tmp.write_bytes(b"x")))
    assert seen[0].suffix == ".png" and seen[0].name.startswith(TEMP_PREFIX)


def test_write_if_changed_keeps_mtime(tmp_path):
    path = tmp_path / "f.txt"
    assert write_if_changed(path, b"same")
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp - 10**9, stamp - 10**9))
    assert not write_if_changed(path, b"same")
    assert path.stat().st_mtime_ns == stamp - 10**9
    assert write_if_changed(path, b"other")
    assert sha256_file(path) == "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"


def test_collect_inputs_folders_files_recursion_and_exclusion(tmp_path):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    for name in ("a/1.tif", "a/2.DM4", "a/readme.txt", "a/sub/3.mrc", "b.anything"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "out").mkdir()
    (tmp_path / "a" / "out" / "x_overlay.png").write_bytes(b"x")
    flat = collect_inputs([tmp_path / "a", tmp_path / "b.anything"])
    assert [p.name for p in flat] == ["1.tif", "2.DM4", "b.anything"]
    deep = collect_inputs([tmp_path / "a"], recursive=True, exclude_dir=tmp_path / "a" / "out")
    assert [p.relative_to(tmp_path).as_posix() for p in deep] == ["a/1.tif", "a/2.DM4", "a/sub/3.mrc"]
    # The same file given twice is analysed once.
    assert len(collect_inputs([tmp_path / "a" / "1.tif", tmp_path / "a"])) == 2
    with pytest.raises(ValueError, match="does not exist"):
        collect_inputs([tmp_path / "missing"])
    with pytest.raises(ValueError, match="no images found"):
        collect_inputs([tmp_path / "a" / "out"], exclude_dir=tmp_path / "a" / "out")


def test_recursion_follows_linked_folders_once_and_skips_hidden_files(tmp_path):
    (tmp_path / "grids" / "g1").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for name in ("grids/g1/1.tif", "grids/g1/._1.tif", "elsewhere/2.tif"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "grids" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "grids" / "g1" / "loop").symlink_to(tmp_path / "grids", target_is_directory=True)
    (tmp_path / "grids" / ".snapshot" / "hourly").mkdir(parents=True)  # a NAS's copies of the grid, not the grid
    (tmp_path / "grids" / ".snapshot" / "hourly" / "1.tif").write_bytes(b"old")
    deep = collect_inputs([tmp_path / "grids"], recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in deep] == ["grids/g1/1.tif", "grids/linked/2.tif"]
    assert assign_stems([tmp_path / ".b.tif", tmp_path / "b.dm3"]) == ["b", "b_2"]  # never hidden outputs


def test_hidden_files_left_out_of_a_folder_are_named(tmp_path, caplog):
    import logging

    from exo_vision.cli.blot import _collect_inputs

    for name in ("a.tif", ".b.tif", "._a.tif", ".notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    with caplog.at_level(logging.INFO):
        assert [p.name for p in collect_inputs([tmp_path])] == ["a.tif"]
        assert [p.name for p in _collect_inputs([str(tmp_path)])] == ["a.tif"]  # blot: the same folders, the same files
        assert [p.name for p in collect_inputs([tmp_path / ".b.tif"])] == [".b.tif"]  # given by its path: analysed
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / ".c.tif").write_bytes(b"x")
        (tmp_path / ".Trash").mkdir()
        (tmp_path / ".Trash" / "d.tif").write_bytes(b"x")
        assert [p.name for p in collect_inputs([tmp_path], recursive=True)] == ["a.tif"]
    deep = [r.getMessage() for r in caplog.records if "hidden" in r.getMessage()][-2:]
    assert "sub/.c.tif" in deep[1] and "left out 1 hidden folder(s)" in deep[0] and ".Trash" in deep[0]
    notes = [r.getMessage() for r in caplog.records if "hidden file" in r.getMessage()][:2]
    assert len(notes) == 2
    assert all("left out 2 hidden file(s)" in n and "._a.tif" in n and ".b.tif" in n for n in notes)


def test_assign_stems_is_unique_and_deterministic():
    paths = [Path("g1/img.tif"), Path("g2/img.tif"), Path("g3/other.tif")]
    assert assign_stems(paths) == ["g1_img", "g2_img", "other"]
    assert assign_stems([Path("a/x.dm3"), Path("a/x.dm4")]) == ["x_dm3", "x_dm4"]
    mixed = [Path("g1/img.tif"), Path("g2/img.tif"), Path("g2/IMG.dm4"), Path("g3/other.tif")]
    assert assign_stems(mixed) == ["g1_img_tif", "g2_img_tif", "g2_IMG_dm4", "other"]
    assert assign_stems([Path("a/x.tif"), Path("a/X.tif")]) == ["a_x_tif", "a_X_tif_2"]
    assert assign_stems(paths) == assign_stems(list(paths))
    # one name written two ways (macOS decomposes "ö"; Linux and Windows keep one character): one name on a Mac disk
    nfc, nfd = (unicodedata.normalize(form, "Größe") for form in ("NFC", "NFD"))
    assert nfc != nfd
    assert assign_stems([Path(f"g1/{nfc}.tif"), Path(f"g2/{nfd}.tif")]) == [f"g1_{nfc}", f"g2_{nfd}"]


def test_stems_print_apart_and_never_as_the_pooled_row():
    assert assign_stems([Path("a/pooled.tif"), Path("a/b.tif")]) == ["pooled_2", "b"]
    # two Latin-1 names that are not UTF-8: both print as "Probe_\ufffd"
    a, b = (Path(os.fsdecode(b"Probe_" + byte + b".tif")) for byte in (b"\xe4", b"\xf6"))
    stems = assign_stems([a, b])
    assert stems[0] == a.stem and stems[1] == f"{b.stem}_2"
    assert display_path(stems[0]) != display_path(stems[1])


def test_plan_refuses_an_output_folder_that_overwrites_an_input(tmp_path):
    inputs = [tmp_path / "a.tif", tmp_path / "a_vesicles.csv"]
    for p in inputs:
        p.write_bytes(b"x")
    with pytest.raises(ValueError, match="would overwrite the input"):
        plan_jobs(inputs, out_dir=tmp_path, config=TemBatchConfig())
    assert len(plan_jobs(inputs, out_dir=tmp_path / "out", config=TemBatchConfig())) == 2


def test_config_from_toml_with_command_line_overrides(tmp_path):
    path = tmp_path / "exo.toml"
    path.write_text('[tem]\nmin_diameter_nm = 25.0\nsensitivity = 0.7\npolarity = "dark"\nsize_range_nm = [40, 160]\n')
    values = read_config(path)
    config = build_config(values, {"sensitivity": 0.4, "pixel_size_nm": None})
    assert config.min_diameter_nm == 25.0
    assert config.sensitivity == 0.4  # command line wins
    assert config.polarity == "dark"
    assert config.size_range_nm == (40.0, 160.0)
    assert config.pixel_size_nm is None
    # A run.json carrying these parameters reproduces the same configuration.
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"parameters": config.to_dict()}))
    assert build_config(read_config(run)) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tem]\nmin_diameter = 3\n", "unknown parameter"),
        ("[tem\n", "not valid TOML"),
        ("[tem]\nsensitivity = 3\n", "sensitivity must lie in"),
        ("[tem]\nmin_diameter_nm = 300\nmax_diameter_nm = 200\n", "min_diameter_nm < max_diameter_nm"),
        ('[tem]\npolarity = "up"\n', "polarity"),
    ],
)
def test_bad_config_named(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        build_config(read_config(path))
    with pytest.raises(ValueError, match="cannot read config file"):
        read_config(tmp_path / "none.toml")


def test_labels_tiff_uint16_and_uint32_carry_nm_calibration(tmp_path):
    from exo_vision.io import read_image

    small = np.zeros((20, 30), dtype=np.int32)
    small[2:5, 3:9] = 7
    write_labels_tiff(tmp_path / "s.tif", small, pixel_size_nm=0.624)
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        assert tif.pages[0].dtype == np.uint16
        assert tif.imagej_metadata["unit"] == "nm"
        assert np.array_equal(tif.asarray(), small)
    assert read_image(tmp_path / "s.tif").pixel_size_nm == pytest.approx(0.624, rel=1e-6)
    big = small.copy()
    big[10, 10] = 70_000
    write_labels_tiff(tmp_path / "b.tif", big, pixel_size_nm=2.5)
    with tifffile.TiffFile(tmp_path / "b.tif") as tif:
        assert tif.pages[0].dtype == np.uint32
        assert tif.asarray()[10, 10] == 70_000
        assert tif.imagej_metadata["unit"] == "nm"
    assert read_image(tmp_path / "b.tif").pixel_size_nm == pytest.approx(2.5, rel=1e-6)


def test_completion_marker_is_trusted_only_when_everything_matches(tmp_path):
    stem = "img"
    names = output_names(stem)
    for key in ("labels", "vesicles", "overlay"):
        (tmp_path / names[key]).write_bytes(key.encode())
    params = TemBatchConfig().analysis_parameters()
    marker = {
        "marker_version": 1,
        "code_sha256": code_sha256(),
        "input_sha256": "abc",
        "parameters": params,
        "outputs": {
            k: {"file": names[k], "sha256": sha256_file(tmp_path / names[k])} for k in ("labels", "vesicles", "overlay")
        },
    }
    (tmp_path / names["marker"]).write_text(json.dumps(marker))
    assert completed_marker(out_dir=tmp_path, stem=stem, input_sha256="abc", parameters=params) is not None
    # Made by other code (an upgrade), input changed, parameters changed, an output altered, marker damaged: redo.
    (tmp_path / names["marker"]).write_text(json.dumps({**marker, "code_sha256": "0" * 64}))
    assert completed_marker(out_dir=tmp_path, stem=stem, input_sha256="abc", parameters=params) is None
    assert completed_marker(out_dir=tmp_path, stem=stem, input_sha256="abc", parameters=params, same_code=False)
    (tmp_path / names["marker"]).write_text(json.dumps(marker))
    assert completed_marker(out_dir=tmp_path, stem=stem, input_sha256="abd", parameters=params) is None
    other = dict(params, sensitivity=0.9)
    assert completed_marker(out_dir=tmp_path, stem=stem, input_sha256="abc", parameters=other) is None
    (tmp_path / names["vesicles"]).write_bytes(b"tampered")
    assert completed_marker(out_dir=tmp_path, stem=stem, input_sha256="abc", parameters=params) is None
    (tmp_path / names["marker"]).write_text("{half")
    assert completed_marker(out_dir=tmp_path, stem=stem, input_sha256="abc", parameters=params) is None


def test_written_files_get_the_permissions_the_umask_gives(tmp_path):
    """Every file was 0644 whatever the umask: world-readable under umask 077, not group-writable under 002."""
    import subprocess
    import sys

    for mask, mode in ((0o077, 0o600), (0o002, 0o664)):
        target = tmp_path / f"f{mask:o}.txt"
        code = (
            f"import os; os.umask({mask}); from exo_vision._shared.atomic import atomic_write_text as w; "
            f"w({str(target)!r}, 'x')"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        assert target.stat().st_mode & 0o777 == mode


def test_a_hard_link_is_analysed_once_and_a_byte_identical_copy_is_named(tmp_path, caplog):
    """One micrograph under two names was analysed and pooled twice; symbolic links already were not."""
    import shutil

    from exo_vision.cli.main import main

    sample = Path(__file__).resolve().parents[2] / "sample_images" / "tem_medium_0.8nm.tif"
    grid = tmp_path / "grid"
    grid.mkdir()
    shutil.copy(sample, grid / "a.tif")
    os.link(grid / "a.tif", grid / "b.tif")
    assert [p.name for p in collect_inputs([grid])] == ["a.tif"]
    assert "b.tif is the same file as" in caplog.text
    shutil.copy(sample, grid / "c.tif")
    assert main(["tem", str(grid), "--out", str(tmp_path / "out")]) == 0
    assert "a.tif, " in caplog.text and "c.tif are the same micrograph (identical bytes)" in caplog.text


def test_configs_nested_too_deeply_or_with_a_byte_order_mark(tmp_path):
    deep = tmp_path / "run.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="run.json is not valid JSON .nested too deeply"):
        read_config(deep)
    bom = tmp_path / "excel.toml"
    bom.write_bytes("\ufeff[tem]\nmin_diameter_nm = 25\n".encode())
    assert read_config(bom) == {"min_diameter_nm": 25}
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[tem]\npolarity = "d\xe9"\n'.encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text at byte .*save it as UTF-8"):
        read_config(latin)


def test_a_run_json_from_before_the_methods_reproduces_the_classical_method(tmp_path, caplog):
    config = TemBatchConfig(pixel_size_nm=1.0)
    parameters = config.to_dict()
    parameters.pop("method")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"parameters": parameters}))
    with caplog.at_level("WARNING"):
        assert build_config(read_config(run)).method == "classical"
    assert "records no segmentation method" in caplog.text


def test_a_run_json_of_the_float_network_names_the_shipped_model_that_reproduces_it(tmp_path):
    from exo_vision.batch.config import check_recorded_model
    from exo_vision.segmentation.learned.weights import load_card

    float_card = load_card("ev-unet-float")
    run = tmp_path / "run.json"
    model = {"name": float_card.name, "version": "1.0", "sha256": float_card.sha256}
    run.write_text(json.dumps({"parameters": {}, "images": [{"segmenter": {"method": "unet", "model": model}}]}))
    with pytest.raises(ValueError, match="the same network still ships: add --model ev-unet-float"):
        check_recorded_model(run, TemBatchConfig(method="unet"))
    check_recorded_model(run, TemBatchConfig(method="unet", model="ev-unet-float"))


def test_a_run_json_of_other_code_is_said_to_give_other_numbers(tmp_path, caplog):
    from exo_vision.batch.config import check_recorded_code

    run = tmp_path / "run.json"
    for recorded, said in ((code_sha256(), False), ("f" * 64, True), (None, True)):
        run.write_text(json.dumps({"parameters": {}, "software": {"exo_vision_code_sha256": recorded}}))
        caplog.clear()
        with caplog.at_level("WARNING"):
            check_recorded_code(run)
        assert ("measurements changed since give other numbers" in caplog.text) is said


def test_a_folder_scan_names_the_mrc_volumes_it_leaves_out(tmp_path, caplog):
    # tomograms and tilt series (.rec, .st, .ali, .map) are read one frame at a time with --frame; a folder of
    # micrographs beside them took the micrographs and left the volumes out without a word
    import logging

    for name in ("a.tif", "b.mrcs", "tomo.rec", "tilt.st", "c.emi", "c_1.ser"):
        (tmp_path / name).write_bytes(b"x")
    with caplog.at_level(logging.INFO):
        assert [p.name for p in collect_inputs([tmp_path])] == ["a.tif", "b.mrcs", "c_1.ser"]
    assert "2 MRC volume(s) or tilt series" in caplog.text and "tomo.rec" in caplog.text and "tilt.st" in caplog.text
    assert "--frame K" in caplog.text


def test_a_folder_scan_takes_gif_and_webp_micrographs_and_names_what_it_leaves_out(tmp_path, caplog):
    # the reader reads GIF and WebP as it reads PNG, but a folder scan left them out without a word (a TIFF, a GIF
    # and a WebP in one folder: one micrograph analysed); a Bio-Rad blot and a TIA description without its image
    # vanished the same way
    import logging

    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", pixels)
    Image.fromarray(pixels).save(tmp_path / "b.gif")
    Image.fromarray(pixels).save(tmp_path / "c.webp", lossless=True)
    for name in ("blot.scn", "lone.emi", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    with caplog.at_level(logging.INFO):
        assert [p.name for p in collect_inputs([tmp_path])] == ["a.tif", "b.gif", "c.webp"]
    assert "1 Bio-Rad Image Lab blot(s) (.scn) left out" in caplog.text and "exo-vision blot" in caplog.text
    assert "1 TIA description(s) (.emi) without their image file (.ser)" in caplog.text and "lone.emi" in caplog.text
    assert "notes.txt" not in caplog.text  # not an image format: no note
    assert read_image(tmp_path / "b.gif", pixel_size_nm=1.0).data.shape == (64, 64)  # what the scan now hands on
