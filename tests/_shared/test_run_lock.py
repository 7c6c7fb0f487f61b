"""One writer per output folder: a second tem or blot run into a folder in use is refused, and a report does
not read a folder that a run is writing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tifffile

from exo_vision._shared.run_lock import LOCK_NAME, check_not_being_written, output_lock
from exo_vision.cli.main import main
from exo_vision.synthetic.blot import make_marker_panel

SAMPLE = Path(__file__).resolve().parents[2] / "sample_images" / "tem_medium_0.8nm.tif"


def test_the_lock_is_held_for_its_block_and_names_its_holder(tmp_path):
    with output_lock(tmp_path, command="exo-vision tem"):
        text = (tmp_path / LOCK_NAME).read_text()
        assert text.startswith("exo-vision tem (process ")
        with pytest.raises(ValueError, match=r"is being written by exo-vision tem \(process \d+, started"):
            with output_lock(tmp_path, command="exo-vision blot"):
                pass
        with pytest.raises(ValueError, match="--tem .* its tables are not complete yet"):
            check_not_being_written(tmp_path, option="--tem")
    with output_lock(tmp_path, command="exo-vision blot"):  # released at the end of the block
        pass
    check_not_being_written(tmp_path, option="--tem")
    check_not_being_written(tmp_path / "never_written", option="--tem")


def test_a_second_run_into_a_folder_in_use_is_refused_before_it_writes(tmp_path, caplog):
    """Two runs with different settings into one --out pooled their tables under one run.json, and one run's
    start deleted the other's staged files."""
    shutil.copy(SAMPLE, tmp_path / "a.tif")
    out = tmp_path / "out"
    out.mkdir()
    with output_lock(out, command="exo-vision tem"):
        assert main(["tem", str(tmp_path / "a.tif"), "--out", str(out), "--pixel-size-nm", "0.8"]) == 2
        assert "is being written by exo-vision tem (process" in caplog.text
        blot = tmp_path / "blot.tif"
        tifffile.imwrite(blot, make_marker_panel(rng=5).image)
        assert main(["blot", str(blot), "--out", str(out)]) == 2
        assert main(["report", "--tem", str(out), "--out", str(tmp_path / "r.html")]) == 2
        assert "make the report when that run has ended" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing was written meanwhile


def test_a_link_named_like_the_lock_never_empties_the_file_it_points_at(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(precious)
    with output_lock(out, command="exo-vision tem"):
        assert not (out / LOCK_NAME).is_symlink()
    assert precious.read_text() == "keep me\n"


def test_a_lock_name_that_is_a_folder_is_refused_with_the_fix(tmp_path):
    (tmp_path / LOCK_NAME).mkdir()
    with pytest.raises(ValueError, match="remove it, or give another --out"):
        with output_lock(tmp_path, command="exo-vision tem"):
            pass
