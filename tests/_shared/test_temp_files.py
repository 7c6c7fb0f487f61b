"""Temporary files left by a report or histogram killed mid-write are removed by the next run, and named."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd

from exo_vision._shared import atomic
from exo_vision._shared.atomic import TEMP_PREFIX, atomic_write_text
from exo_vision.cli.main import main


def _dead_pid() -> int:
    """The id of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _left_unchanged(path: Path, seconds: float | None = None) -> Path:
    """``path``, its modification time moved ``seconds`` back (as a file last written that long ago; by default
    a minute longer than a file of this machine's unseen writer is spared)."""
    then = path.stat().st_mtime - (atomic.THIS_MACHINE_STALE_S + 60 if seconds is None else seconds)
    os.utime(path, (then, then))
    return path


def _table(path: Path) -> Path:
    pd.DataFrame({"equivalent_diameter_nm": [40.0, 60.0, 80.0], "touches_border": [False] * 3}).to_csv(
        path, index=False
    )
    return path


def test_the_next_histogram_removes_a_killed_writers_files_and_spares_live_ones(tmp_path, caplog):
    table = _table(tmp_path / "vesicles.csv")
    host = atomic._host_tag()
    killed = tmp_path / f"{TEMP_PREFIX}{host}-{_dead_pid()}-k2j4h1.svg"
    killed.write_text("<svg half")
    _left_unchanged(killed)
    unseen = tmp_path / f"{TEMP_PREFIX}{host}-{_dead_pid()}-u7v6w5.csv"  # a writer of another container, perhaps
    unseen.write_text("bin_left_nm,bin_right_nm")
    older = tmp_path / f"{TEMP_PREFIX}q8w7e6r5.csv"  # named before temporary names carried their writer
    older.write_text("bin_left")
    live = tmp_path / f"{TEMP_PREFIX}{host}-{os.getppid()}-a1b2c3.png"  # a process still running (pytest's parent)
    live.write_bytes(b"being written")
    elsewhere = tmp_path / f"{TEMP_PREFIX}{'0' * 8 if host != '0' * 8 else '1' * 8}-{_dead_pid()}-z9y8x7.svg"
    elsewhere.write_text("another machine's")  # its process ids mean nothing here
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        assert main(["histogram", str(table), "--out", str(tmp_path / "fig.svg")]) == 0
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["vesicles.csv", "fig.svg", "fig_bins.csv", live.name, elsewhere.name, unseen.name])
    assert killed.name in caplog.text and older.name in caplog.text and "removed 2 temporary file(s)" in caplog.text


def test_the_next_report_removes_a_killed_reports_file(tmp_path, monkeypatch, caplog):
    import exo_vision.report as report

    monkeypatch.setattr(report, "build_report", lambda **kwargs: "<html><body>report</body></html>\n")
    killed = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-{_dead_pid()}-m3n4b5.html"
    killed.write_text("<html><body>half a rep")
    _left_unchanged(killed)
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        assert main(["report", "--tem", str(tmp_path), "--out", str(tmp_path / "report.html")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert killed.name in caplog.text


def test_written_temporary_names_carry_machine_and_process(tmp_path):
    seen: list[Path] = []
    atomic.atomic_write(tmp_path / "a.csv", lambda tmp: (seen.append(tmp), tmp.write_text("x")))
    assert seen[0].name.startswith(f"{TEMP_PREFIX}{atomic._host_tag()}-{os.getpid()}-")
    assert seen[0].suffix == ".csv"
    from exo_vision._shared.atomic import remove_stale_temp_files

    # this process's own file is never stale, and folders with the prefix are not touched
    own = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-{os.getpid()}-x.csv"
    own.write_text("mine")
    (tmp_path / f"{TEMP_PREFIX}staging").mkdir()
    assert remove_stale_temp_files(tmp_path) == []
    atomic_write_text(tmp_path / "b.csv", "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.csv", "b.csv", own.name, f"{TEMP_PREFIX}staging"])


#: A histogram run whose figure write stops half-way and waits to be killed (it says so on stdout first).
_KILLED_HISTOGRAM = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import exo_vision._shared.atomic as atomic
    from exo_vision.cli.main import main

    def half_then_wait(tmp, data):
        Path(tmp).write_bytes(data[: len(data) // 2])
        print("half written", flush=True)
        sys.stdin.read()  # until killed

    atomic._write_bytes = half_then_wait
    main(["histogram", sys.argv[1], "--out", sys.argv[2]])
    """
)


def test_a_histogram_killed_while_writing_leaves_nothing_after_the_next_run(tmp_path, caplog):
    table = _table(tmp_path / "vesicles.csv")
    fig = tmp_path / "fig.svg"
    env = {**os.environ, "PYTHONPATH": str(Path(atomic.__file__).parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_HISTOGRAM, str(table), str(fig)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "half written"
        leftovers = [p.name for p in tmp_path.glob(f"{TEMP_PREFIX}*")]
        assert len(leftovers) == 1 and leftovers[0].endswith(".svg")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert sorted(tmp_path.glob(f"{TEMP_PREFIX}*")) != []  # the kill left it behind
    assert main(["histogram", str(table), "--out", str(fig)]) == 0
    assert (tmp_path / leftovers[0]).exists()  # just written: its writer may run in another container
    _left_unchanged(tmp_path / leftovers[0])
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        assert main(["histogram", str(table), "--out", str(fig)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.svg", "fig_bins.csv", "vesicles.csv"]
    assert leftovers[0] in caplog.text


def test_the_next_blot_run_removes_a_killed_runs_temporary_files(tmp_path, caplog):
    import tifffile

    from exo_vision.synthetic.blot import make_dilution_series

    tifffile.imwrite(tmp_path / "dilution.tif", make_dilution_series(rng=1).image)
    out = tmp_path / "out"
    out.mkdir()
    killed = out / f"{TEMP_PREFIX}{atomic._host_tag()}-{_dead_pid()}-p0o9i8.png"
    killed.write_bytes(b"\x89PNG half an annotated blot")
    _left_unchanged(killed)
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        assert main(["blot", str(tmp_path / "dilution.tif"), "--out", str(out)]) == 0
    assert not killed.exists() and killed.name in caplog.text
    assert not [p for p in out.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_a_tem_run_spares_the_temporary_files_of_a_live_writer_in_its_folder(tmp_path, caplog):
    # before, tem removed every temporary file in its output folder at its start and end: a histogram or report
    # written into the folder meanwhile lost its file and failed ("cannot write ...: No such file or directory")
    import tifffile

    from exo_vision.synthetic.tem import make_synthetic_tem

    image, _ = make_synthetic_tem((256, 256), pixel_size_nm=1.0, n_vesicles=2, scale_bar=False, rng=0)
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "m.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    out = tmp_path / "out"
    out.mkdir()
    host = atomic._host_tag()
    live = out / f"{TEMP_PREFIX}{host}-{os.getppid()}-h1s2t3.png"  # pytest's parent is running
    live.write_bytes(b"a histogram being written")
    killed = out / f"{TEMP_PREFIX}{host}-{_dead_pid()}-k1l2d3.csv"
    killed.write_text("label,equivalent_diameter_nm\n1,4")
    _left_unchanged(killed)
    with caplog.at_level(logging.INFO, logger="exo_vision"):
        assert main(["tem", str(folder), "--out", str(out), "--workers", "1"]) == 0
    assert live.exists() and not killed.exists() and killed.name in caplog.text


def test_another_machines_temporary_file_is_stale_only_when_left_unchanged_for_a_day(tmp_path):
    other = "0" * 8 if atomic._host_tag() != "0" * 8 else "1" * 8
    path = tmp_path / f"{TEMP_PREFIX}{other}-{_dead_pid()}-r4e5m6.png"
    path.write_bytes(b"written on a cluster node")
    assert not atomic.stale_temp_file(path)  # that machine may be writing it now
    day_ago = path.stat().st_mtime - atomic.OTHER_MACHINE_STALE_S - 60
    os.utime(path, (day_ago, day_ago))
    assert atomic.stale_temp_file(path)


def test_this_machines_temporary_file_of_an_unseen_writer_is_stale_only_when_left_unchanged_for_a_while(tmp_path):
    # a process of another container on this machine (same machine name, its own process ids) is not seen from
    # here: its file, being written, was taken for a killed writer's and removed under it
    path = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-{_dead_pid()}-c0n7a1.tif"
    path.write_bytes(b"written from another container")
    assert not atomic.stale_temp_file(path)
    assert atomic.remove_stale_temp_files(tmp_path) == [] and path.exists()
    _left_unchanged(path, atomic.THIS_MACHINE_STALE_S - 60)
    assert not atomic.stale_temp_file(path)  # touched within the guard: a writer may still be at it
    _left_unchanged(path, 120)
    assert atomic.stale_temp_file(path)
    assert atomic.remove_stale_temp_files(tmp_path) == [path] and not path.exists()
    live = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-{os.getppid()}-l1v3e0.tif"  # pytest's parent runs
    live.write_bytes(b"being written")
    _left_unchanged(live, atomic.OTHER_MACHINE_STALE_S)
    assert not atomic.stale_temp_file(live)  # a live writer's file is never stale, however old


def test_a_batch_run_removes_its_own_dead_workers_files_at_once(tmp_path):
    """The guard for writers of other containers kept a killed worker's commit record in the output folder after
    a run stopped by SIGTERM: the run knows its own workers, and their files are stale as soon as they are gone."""
    dead = _dead_pid()
    record = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-{dead}-w0rk3r.commit"
    record.write_text('{"files": []}')
    staged = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-{dead}-w0rk3r.tif"
    staged.write_bytes(b"staged by a worker that was killed")
    assert atomic.remove_stale_temp_files(tmp_path) == [] and record.exists() and staged.exists()
    removed = atomic.remove_stale_temp_files(tmp_path, own_writers={dead})
    assert sorted(removed) == sorted([record, staged]) and not record.exists() and not staged.exists()
    live = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-{os.getpid()}-l1v3e0.tif"
    live.write_bytes(b"being written")
    assert atomic.remove_stale_temp_files(tmp_path, own_writers={os.getpid()}) == [] and live.exists()


def test_the_runner_notes_the_ids_of_the_worker_processes_it_starts(tmp_path):
    """Which processes were this run's workers: the pool's own processes, noted as jobs are submitted."""
    import concurrent.futures as cf

    from exo_vision.batch import runner

    with cf.ProcessPoolExecutor(max_workers=1) as pool:
        pid = pool.submit(os.getpid).result()
        runner._note_workers(pool)
    assert pid in runner._OWN_WORKERS


def test_a_worker_that_ended_but_is_not_yet_reaped_leaves_stale_files(tmp_path):
    """A stop ends a batch run's workers and their fork server; until the system reaps them they are zombies,
    whose staged files the run must still remove (a clean clone's CI run under load left two of them)."""
    from exo_vision._shared.atomic import remove_stale_temp_files

    child = os.fork()
    if child == 0:  # the child ends at once and stays unreaped until waited for below
        os._exit(0)
    try:
        state = ""
        for _ in range(200):  # until the child has ended (its /proc state is Z)
            state = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()[0]
            if state == "Z":
                break
            time.sleep(0.01)
        assert state == "Z"
        staged = tmp_path / f"{TEMP_PREFIX}{atomic._host_tag()}-{child}-x.tif"
        staged.write_bytes(b"half")
        assert not atomic._process_alive(child)
        assert remove_stale_temp_files(tmp_path, own_writers={child}) == [staged]
    finally:
        os.waitpid(child, 0)
    assert atomic._process_alive(os.getpid()) and atomic._process_alive(os.getppid())
