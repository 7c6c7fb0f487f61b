"""A group of files (a figure and its bin table, a blot's table and picture) is never left half old, half new.

A process killed between two moves of :meth:`FileGroup.commit` left the new figure beside the old bin table. Now
the earlier files go before the first move and a commit record lists the group, so the next run in the folder
finishes the move (or, when the group was written again since, leaves the newer files alone).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from exo_vision._shared import atomic
from exo_vision._shared.atomic import TEMP_PREFIX, file_group, remove_stale_temp_files
from exo_vision.cli.main import main

#: Runs the CLI (arguments after the first) and dies, as if killed, right after its Nth move into place (the
#: first argument): no clean-up of any kind runs.
_KILLED_AFTER_MOVES = textwrap.dedent(
    """
    import os
    import sys

    import exo_vision._shared.atomic as atomic
    from exo_vision.cli.main import main

    replace = atomic._replace
    moved = []

    def replace_then_die(tmp, path):
        replace(tmp, path)
        moved.append(path)
        if len(moved) == int(sys.argv[1]):
            os._exit(9)

    atomic._replace = replace_then_die
    main(sys.argv[2:])
    """
)


def _killed_after_moves(moves: int, argv: list[str]) -> int:
    """Exit status of the CLI run ``argv`` in a fresh process killed after ``moves`` moves into place."""
    env = {**os.environ, "PYTHONPATH": str(Path(atomic.__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_MOVES, str(moves), *argv], env=env, capture_output=True, check=False
    )
    return done.returncode


def _left_unchanged(folder: Path) -> list[Path]:
    """The commit records in ``folder``, made older than a stopped writer's files are spared for (as when the
    next run comes some minutes later; the files they list keep their times, as a stopped writer left them)."""
    records = sorted(folder.glob(f"{TEMP_PREFIX}*{atomic.COMMIT_RECORD_SUFFIX}"))
    for path in records:
        then = path.stat().st_mtime - atomic.THIS_MACHINE_STALE_S - 60
        os.utime(path, (then, then))
    return records


def _bin_widths_nm(path: Path) -> set[float]:
    bins = pd.read_csv(path)
    return set((bins["bin_right_nm"] - bins["bin_left_nm"]).round(6))


@pytest.fixture
def table(tmp_path) -> Path:
    path = tmp_path / "vesicles.csv"
    pd.DataFrame({"equivalent_diameter_nm": [40.0, 60.0, 80.0, 95.0], "touches_border": [False] * 4}).to_csv(
        path, index=False
    )
    return path


def test_a_histogram_killed_between_its_two_moves_leaves_no_mismatched_pair_and_the_next_run_finishes_it(
    tmp_path, table, caplog
):
    fig, bins = tmp_path / "fig.svg", tmp_path / "fig_bins.csv"
    assert main(["histogram", str(table), "--out", str(fig), "--bin-width-nm", "10"]) == 0
    assert _killed_after_moves(1, ["histogram", str(table), "--out", str(fig), "--bin-width-nm", "20"]) == 9
    # before, the new 20 nm figure stood beside the old 10 nm bin table
    assert fig.is_file() and not bins.exists()
    figure = fig.read_bytes()
    assert sorted(p.suffix for p in tmp_path.glob(f"{TEMP_PREFIX}*")) == [".commit", ".csv"]
    assert remove_stale_temp_files(tmp_path) == [] and not bins.exists()  # the writer may still be at it
    records = _left_unchanged(tmp_path)  # ... until its record has not changed for a while
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        assert remove_stale_temp_files(tmp_path) == records
    assert _bin_widths_nm(bins) == {20.0} and fig.read_bytes() == figure
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))
    assert "moved fig_bins.csv into place beside fig.svg" in caplog.text


def test_a_group_written_again_after_a_kill_keeps_its_newer_files(tmp_path, table, caplog):
    fig, bins = tmp_path / "fig.svg", tmp_path / "fig_bins.csv"
    assert main(["histogram", str(table), "--out", str(fig), "--bin-width-nm", "10"]) == 0
    assert _killed_after_moves(1, ["histogram", str(table), "--out", str(fig), "--bin-width-nm", "20"]) == 9
    assert not bins.exists()
    assert main(["histogram", str(table), "--out", str(fig), "--bin-width-nm", "5"]) == 0  # the user runs it again
    figure = fig.read_bytes()
    _left_unchanged(tmp_path)
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        remove_stale_temp_files(tmp_path)
    # the killed run's staged bin table is not moved over the newer one, nor is the newer figure removed
    assert _bin_widths_nm(bins) == {5.0} and fig.read_bytes() == figure
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))
    assert "into place beside" not in caplog.text and "run the command that wrote them again" not in caplog.text


def test_a_group_whose_staged_rest_is_gone_is_removed_whole_saying_so(tmp_path, table, caplog):
    fig, bins = tmp_path / "fig.svg", tmp_path / "fig_bins.csv"
    assert _killed_after_moves(1, ["histogram", str(table), "--out", str(fig)]) == 9
    _left_unchanged(tmp_path)
    for staged in tmp_path.glob(f"{TEMP_PREFIX}*.csv"):
        staged.unlink()  # the staged bin table lost (removed by hand, or by an older exo-vision)
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        remove_stale_temp_files(tmp_path)
    assert not fig.exists() and not bins.exists() and not list(tmp_path.glob(f"{TEMP_PREFIX}*"))
    assert "removed fig.svg" in caplog.text and "run the command that wrote them again" in caplog.text


def test_a_group_killed_after_its_last_move_is_left_whole(tmp_path, table):
    fig, bins = tmp_path / "fig.svg", tmp_path / "fig_bins.csv"
    assert _killed_after_moves(2, ["histogram", str(table), "--out", str(fig), "--bin-width-nm", "20"]) == 9
    assert [p.suffix for p in tmp_path.glob(f"{TEMP_PREFIX}*")] == [".commit"]
    _left_unchanged(tmp_path)
    remove_stale_temp_files(tmp_path)
    assert _bin_widths_nm(bins) == {20.0} and fig.is_file() and not list(tmp_path.glob(f"{TEMP_PREFIX}*"))


def test_a_blot_killed_between_its_two_moves_leaves_no_table_beside_an_older_picture(tmp_path):
    import tifffile

    from exo_vision.synthetic.blot import make_dilution_series

    image = tmp_path / "dilution.tif"
    tifffile.imwrite(image, make_dilution_series(rng=1).image)
    out = tmp_path / "out"
    assert main(["blot", str(image), "--out", str(out)]) == 0
    picture = (out / "dilution_annotated.png").read_bytes()
    assert _killed_after_moves(1, ["blot", str(image), "--out", str(out), "--central-fraction", "0.3"]) == 9
    table = pd.read_csv(out / "dilution_bands.csv")
    # before, this table (volumes over a third of each lane) stood beside the earlier run's picture
    assert not (out / "dilution_annotated.png").exists()
    _left_unchanged(out)
    remove_stale_temp_files(out)
    assert (out / "dilution_annotated.png").read_bytes() != picture  # the picture of this table
    assert pd.read_csv(out / "dilution_bands.csv").equals(table)


def test_a_torn_commit_record_is_removed_and_nothing_else(tmp_path):
    kept = tmp_path / "fig.svg"
    kept.write_text("<svg/>")
    record = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-999999999-t0rn00{atomic.COMMIT_RECORD_SUFFIX}"
    record.write_text('{"files": [{"name": "fig.svg", "sta')  # its writer was killed while writing it
    _left_unchanged(tmp_path)
    assert remove_stale_temp_files(tmp_path) == [record]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.svg"]


def test_the_files_of_a_group_share_a_folder(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="the files of one group share a folder"):
        with file_group() as group:
            group.stage_bytes(tmp_path / "fig.svg", b"<svg/>")
            group.stage_bytes(tmp_path / "a" / "fig_bins.csv", b"bin_left_nm")
    assert list(tmp_path.iterdir()) == [tmp_path / "a"] and not list((tmp_path / "a").iterdir())


def test_a_commit_record_lists_the_files_while_they_are_moved(tmp_path, monkeypatch):
    seen: list[dict] = []
    replace = atomic._replace

    def look_then_replace(tmp: Path, path: Path) -> None:
        records = list(tmp_path.glob(f"{TEMP_PREFIX}*{atomic.COMMIT_RECORD_SUFFIX}"))
        seen.append(json.loads(records[0].read_text()))
        replace(tmp, path)

    monkeypatch.setattr(atomic, "_replace", look_then_replace)
    with file_group() as group:
        group.stage_bytes(tmp_path / "a.csv", b"a")
        group.stage_bytes(tmp_path / "a_done.json", b"{}")
    assert [[f["name"] for f in s["files"]] for s in seen] == [["a.csv", "a_done.json"]] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a_done.json"]
