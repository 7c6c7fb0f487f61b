"""A stop asked for while `tem` loads the network (``import onnxruntime``, the session) ends the run as any other
stop does: exit 130, the resume hint, no image reported failed, nothing staged or half-written left."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import tifffile

from exo_vision.synthetic.tem import make_synthetic_tem

#: Run in a child process: ``exo-vision tem`` whose first onnxruntime session behaves as onnxruntime's import
#: does when an interrupt lands inside it (pybind11 turns it into ``ImportError: initialization failed``, the
#: interrupt lost), and waits there until the test has sent its signals.
LOADING_VICTIM = """
import sys, time
from pathlib import Path
from exo_vision.segmentation.learned import runtime
from exo_vision.cli.main import main

entered, sent = Path(sys.argv[1]), Path(sys.argv[2])
real_session = runtime._session

def importing_session(*args):
    entered.touch()
    try:
        while not sent.exists():
            time.sleep(0.01)
    except KeyboardInterrupt as err:
        raise ImportError("initialization failed") from err
    return real_session(*args)

runtime._session = importing_session
sys.exit(main(sys.argv[3:]))
"""


def _as_on_a_terminal() -> None:
    """SIGHUP and SIGINT at their defaults in the child, as for a program started from a terminal (a suite run
    under nohup or in the background passes them on ignored, and an ignored signal stays ignored by design)."""
    for name in ("SIGHUP", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    "signals", [("SIGTERM",), ("SIGHUP",), ("SIGINT",), ("SIGTERM", "SIGTERM")], ids=lambda s: "-".join(s)
)
def test_a_stop_while_the_network_loads_is_a_clean_interruption(tmp_path, signals):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for seed in range(2):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=1.0, difficulty="easy", n_vesicles=3, scale_bar=False, rng=seed
        )
        tifffile.imwrite(inputs / f"m{seed}.tif", image, imagej=True, resolution=(1.0, 1.0), metadata={"unit": "nm"})
    entered, sent = tmp_path / "entered", tmp_path / "sent"
    command = [sys.executable, "-c", LOADING_VICTIM, str(entered), str(sent)]
    command += ["tem", str(inputs), "--out", str(out), "--workers", "1", "--method", "unet"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_as_on_a_terminal
    )
    while not entered.exists() and process.poll() is None:  # the first image loads the network
        time.sleep(0.05)
    for name in signals:
        process.send_signal(getattr(signal, name))
    sent.touch()
    stdout, stderr = process.communicate(timeout=300)
    # before: the interrupted import was an image that failed ("onnxruntime cannot load model"), and the run
    # went on
    assert process.returncode == 130, stderr
    assert "interrupted: finished images are complete; rerun the same command with --resume" in stderr
    assert "cannot load model" not in stderr and "failed" not in stdout
    assert not list(out.glob("*_done.json")) and not list(out.glob("m0_*"))  # nothing of the image it was in
    assert not list(out.glob(".exo-vision-tmp-*")) and not (out / "run.json").exists()
    assert not (out / "errors.csv").exists()


def test_an_interrupt_a_library_turned_into_an_error_is_an_interruption(tmp_path, monkeypatch, caplog):
    """Any import in an image's analysis may be interrupted; an error raised because of the interrupt stops the
    run as the interrupt would have (before: the image failed and the run went on, exit 1)."""
    import exo_vision.io as io
    from exo_vision.cli.main import main

    def interrupted_import(*_args, **_kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            raise ImportError("initialization failed") from err

    monkeypatch.setattr(io, "read_image", interrupted_import)
    image = tmp_path / "m.tif"
    tifffile.imwrite(image, make_synthetic_tem((64, 64), pixel_size_nm=1.0, n_vesicles=1, scale_bar=False, rng=0)[0])
    out = tmp_path / "out"
    assert main(["tem", str(image), "--out", str(out), "--workers", "1", "--pixel-size-nm", "1"]) == 130
    assert "rerun the same command with --resume" in caplog.text
    assert "failed" not in caplog.text
    assert not (out / "errors.csv").exists() and not (out / "run.json").exists()


def test_a_stop_within_a_deferred_stretch_is_raised_at_its_end():
    import os

    from exo_vision._shared.interrupt import caused_by_interrupt, interrupts_deferred, terminated_as_interrupted

    finished = []
    with pytest.raises(KeyboardInterrupt), terminated_as_interrupted(), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # a handler would run here, between two bytecodes
        finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
    with interrupts_deferred():  # nothing came: nothing raised
        pass
    try:
        raise ValueError("x") from ImportError("y")
    except ValueError as err:
        assert not caused_by_interrupt(err)
