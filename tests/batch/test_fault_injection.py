"""Fault injection: kill -9 a `tem` batch on the local pool mid-run, then --resume.

The resumed run must give byte-identical tables to an uninterrupted run, and the
killed run must leave no orphan process (workers, fork server, resource tracker)
and no temporary folder behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tifffile

from exo_vision.synthetic.tem import make_synthetic_tem

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="uses /proc")]

TABLES = ("vesicles.csv", "summary.csv", "errors.csv")


def _left_in(temp) -> list[str]:
    """What a run left in its temp folder, less onnxruntime's telemetry session marker ``.ses``
    (written by ``import onnxruntime`` itself, not by exo_vision; onnxruntime issue 32476)."""
    return [p.name for p in temp.iterdir() if p.name != ".ses"]


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_for_no_process(marker: str, timeout_s: float = 30.0) -> list[int]:
    """Wait until no process holds ``marker`` (helpers end a moment after their parent); return those left."""
    deadline = time.monotonic() + timeout_s
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _processes_with(marker)


def _hang_up_as_on_a_terminal() -> None:
    """In the child, before it runs: SIGHUP at its default action, as in a program started from a terminal.

    A test suite started under ``nohup`` (or by a service that ignores hang-ups) passes SIGHUP ignored on to its
    children, and an ignored hang-up stays ignored by design: the run would then go on to the end.
    """
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _tem(inputs: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "exo_vision.cli.main", "tem", str(inputs), "--out", str(out), "--workers", "2", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _batch(tmp_path: Path, n: int) -> tuple[Path, Path, str, dict[str, str]]:
    """``n`` generated micrographs to stop mid-run, a temp folder of the run's own, and the marker that finds
    the run's processes: (inputs, temp, marker, environment)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for seed in range(n):
        image, _ = make_synthetic_tem(
            (1536, 1536), pixel_size_nm=0.6, difficulty="easy", n_vesicles=6, scale_bar=False, rng=seed
        )
        tifffile.imwrite(
            inputs / f"m{seed}.tif", image, imagej=True, resolution=(1 / 0.6, 1 / 0.6), metadata={"unit": "nm"}
        )
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    marker = f"exo-vision-fault-{os.getpid()}-{time.time_ns()}"
    return inputs, temp, marker, {**os.environ, "TMPDIR": str(temp), "EXO_VISION_TEST_MARKER": marker}


def test_kill_9_mid_run_then_resume_is_byte_identical_and_leaves_nothing(tmp_path):
    inputs, temp, marker, env = _batch(tmp_path, 8)

    reference = tmp_path / "reference"
    assert _tem(inputs, reference, env).wait(timeout=600) == 0

    out = tmp_path / "out"
    victim = _tem(inputs, out, env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(out.glob("*_done.json"))) < 2:
        time.sleep(0.05)
    assert victim.poll() is None, "the run ended before it could be killed; give it more work"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert not (out / "run.json").exists()

    # No orphan: workers notice the main process is gone, and the fork server and resource tracker follow.
    assert _wait_for_no_process(marker) == []
    assert _left_in(temp) == []

    assert _tem(inputs, out, env, "--resume").wait(timeout=600) == 0
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert not list(out.glob(".exo-vision-tmp-*"))
    assert _wait_for_no_process(marker) == []
    assert _left_in(temp) == []


@pytest.mark.parametrize(
    ("stop", "to_group"),
    [("SIGTERM", False), ("SIGTERM", True), ("SIGHUP", True)],
    ids=["main-process", "process-group", "hangup-process-group"],
)
def test_sigterm_stops_as_ctrl_c_does_with_the_resume_hint_and_nothing_left(tmp_path, stop, to_group):
    """Before, kill/timeout/SLURM gave no message, a multiprocessing warning, and sometimes temporary files.
    ``timeout`` and SLURM signal the whole process group: workers die mid-write too. A closed terminal sends
    SIGHUP to its whole process group (before, the run ended without a word)."""
    inputs, temp, marker, env = _batch(tmp_path, 10)
    out = tmp_path / "out"
    victim = subprocess.Popen(
        [sys.executable, "-m", "exo_vision.cli.main", "tem", str(inputs), "--out", str(out), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=to_group,
        preexec_fn=_hang_up_as_on_a_terminal,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(out.glob("*_done.json"))) < 2:
        time.sleep(0.05)
    assert victim.poll() is None, "the run ended before it could be stopped; give it more work"
    if to_group:
        os.killpg(victim.pid, getattr(signal, stop))
    else:
        victim.send_signal(getattr(signal, stop))
    _stdout, stderr = victim.communicate(timeout=120)
    assert victim.returncode == 130
    assert "interrupted: finished images are complete; rerun the same command with --resume" in stderr
    assert "leaked semaphore" not in stderr
    assert _wait_for_no_process(marker) == []
    assert not list(out.glob(".exo-vision-tmp-*"))
    assert _left_in(temp) == []
    for marker_file in out.glob("*_done.json"):  # what finished is whole
        stem = marker_file.name[: -len("_done.json")]
        assert all((out / f"{stem}{suffix}").is_file() for suffix in ("_labels.tif", "_vesicles.csv", "_overlay.png"))


#: The run, in a process of its own, saying on stderr when its process pool starts: the resource tracker runs,
#: and the fork server is importing its modules (numpy is in, OpenCV and the rest take a second more), the moment
#: a closed terminal or Ctrl-C met it in a probe.
POOL_STARTS = """
import sys, time
from multiprocessing import forkserver
from exo_vision.batch import runner
from exo_vision.cli.main import main

real = runner._pool_context

def announced():
    context = real()
    maps = f"/proc/{forkserver._forkserver._forkserver_pid}/maps"
    for _ in range(3000):
        with open(maps) as f:
            if "_multiarray_umath" in f.read():
                break
        time.sleep(0.01)
    print("exo-vision-test: fork server importing", file=sys.stderr, flush=True)
    return context

noted = runner._note_workers

def workers_announced(pool):
    noted(pool)
    if len(runner._OWN_WORKERS) == 2:
        print("exo-vision-test: workers started", file=sys.stderr, flush=True)

runner._pool_context = announced
runner._note_workers = workers_announced
sys.exit(main(["tem", sys.argv[1], "--out", sys.argv[2], "--workers", "2"]))
"""


def _as_from_a_terminal() -> None:
    """In the child: Ctrl-C and SIGHUP at their default actions, as in a program started from a terminal (a
    suite run in the background or under nohup passes them on ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _hang_up_as_on_a_terminal()


@pytest.mark.parametrize(
    ("stop", "moment"),
    [
        ("SIGHUP", "fork server importing"),
        ("SIGINT", "fork server importing"),
        ("SIGHUP", "workers started"),
        ("SIGINT", "workers started"),
    ],
    ids=["closed-terminal-at-start", "ctrl-c-at-start", "closed-terminal-at-work", "ctrl-c-at-work"],
)
def test_a_stop_to_the_process_group_as_the_pool_starts_leaves_no_library_traceback(tmp_path, stop, moment):
    """A closed terminal or Ctrl-C reaches the whole process group: before, the fork server and the resource
    tracker died with it or printed their own tracebacks into the log (``resource_tracker: process died
    unexpectedly``, ``KeyError: '/mp-...'``, a KeyboardInterrupt inside the fork server's imports), after the
    right message; the main process alone now takes the stop."""
    inputs, temp, marker, env = _batch(tmp_path, 6)
    out = tmp_path / "out"
    victim = subprocess.Popen(
        [sys.executable, "-c", POOL_STARTS, str(inputs), str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_as_from_a_terminal,
    )
    assert victim.stderr is not None
    before = []
    for line in victim.stderr:
        before.append(line)
        if f"exo-vision-test: {moment}" in line:
            break
    assert victim.poll() is None, "".join(before)
    os.killpg(victim.pid, getattr(signal, stop))
    stderr = "".join(before) + victim.stderr.read()
    victim.wait(timeout=120)
    assert victim.returncode == 130, stderr
    assert stderr.rstrip().endswith("rerun the same command with --resume to finish"), stderr
    for word in ("Traceback", "KeyError", "resource_tracker", "leaked semaphore"):
        assert word not in stderr, stderr
    assert _wait_for_no_process(marker) == []
    assert not list(out.glob(".exo-vision-tmp-*"))
    assert _left_in(temp) == []
