"""A closed terminal (SIGHUP) stops a `tem` run as Ctrl-C and SIGTERM do: the resume hint, exit status 130,
finished images whole, nothing staged left, and --resume finishes the run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest
import tifffile

from exo_vision._shared.interrupt import terminated_as_interrupted
from exo_vision.synthetic.tem import make_synthetic_tem

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")

#: The run, in a process of its own (before the fix SIGHUP ended it without a word): the second image hangs up.
VICTIM = textwrap.dedent(
    """
    import os, signal, sys
    from exo_vision.batch import runner
    from exo_vision.cli.main import main

    real = runner.process_image

    def hang_up_on_the_second(job):
        if job.index == 1:
            os.kill(os.getpid(), signal.SIGHUP)  # the terminal was closed while this image was analysed
        return real(job)

    runner.process_image = hang_up_on_the_second
    sys.exit(main(["tem", sys.argv[1], "--out", sys.argv[2], "--workers", "1"]))
    """
)


def test_sighup_stops_a_run_as_ctrl_c_does_and_resume_finishes_it(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for seed in range(3):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        tifffile.imwrite(inputs / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    victim = subprocess.run(
        [sys.executable, "-c", VICTIM, str(inputs), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        # SIGHUP at its default, as for a program started from a terminal: a suite run under nohup passes it on
        # ignored, and an ignored hang-up stays ignored by design
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )
    assert victim.returncode == 130, (victim.returncode, victim.stderr)  # before: -1 (killed by SIGHUP), no word
    assert "interrupted: finished images are complete; rerun the same command with --resume" in victim.stderr
    assert sorted(p.name for p in out.glob("*_done.json")) == ["m0_done.json"]  # what finished is whole
    assert all((out / f"m0{s}").is_file() for s in ("_labels.tif", "_vesicles.csv", "_overlay.png"))
    assert not list(out.glob(".exo-vision-tmp-*")) and not (out / "run.json").exists()
    deaths = out / ".exo-vision-analysing.json"  # a hang-up is no death in the image
    assert not deaths.exists() or not any(json.loads(deaths.read_text()).values())

    from exo_vision.cli.main import main

    assert main(["tem", str(inputs), "--out", str(out), "--workers", "1", "--resume"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert (run["n_skipped"], run["n_done"], run["n_failed"]) == (1, 2, 0)


def test_a_hangup_ignored_by_nohup_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with terminated_as_interrupted():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # nohup: the run outlives the terminal
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_progress_bar_on_a_closed_terminal_keeps_the_interrupted_exit(tmp_path, monkeypatch, caplog):
    """With the terminal gone, drawing the bar one last time fails (EIO): the run still ends as interrupted
    (130, the resume hint), not as a failed command (2)."""
    import errno

    from exo_vision.batch import runner
    from exo_vision.cli import tem
    from exo_vision.cli.main import main

    class _Bar:
        total = n = 0

        def refresh(self):
            pass

        def close(self):
            raise OSError(errno.EIO, "Input/output error")

    def hung_up(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tem, "_progress_bar", lambda total_hint=0: _Bar())
    monkeypatch.setattr(tem, "_logs_above_the_bar", lambda bar: __import__("contextlib").nullcontext())
    monkeypatch.setattr(runner, "run_tem_batch", hung_up)
    image = tmp_path / "m.tif"
    tifffile.imwrite(image, make_synthetic_tem((64, 64), pixel_size_nm=1.0, n_vesicles=1, scale_bar=False, rng=0)[0])
    assert main(["tem", str(image), "--out", str(tmp_path / "out")]) == 130
    assert "rerun the same command with --resume" in caplog.text
