"""A user's napari script without ``if __name__ == "__main__":``: Run analyses instead of hanging forever.

A spawned analysis process re-runs the main script to rebuild ``__main__``; a script that starts napari at top
level then starts a second viewer in the child, and the parent waited in ``Process.start`` for ever (the dock's
Run stayed disabled, no message).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytest.importorskip("napari")

from exo_vision.plugins import _subprocess  # noqa: E402
from exo_vision.synthetic.tem import make_synthetic_tem  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
#: Seconds the script may take at most: napari's start and a 384 x 384 analysis need a small part of it; the
#: old code never finished.
SCRIPT_LIMIT_S = 240

USER_SCRIPT = """
import sys, time
import napari
from napari.utils.notifications import notification_manager
from qtpy.QtWidgets import QApplication

notification_manager.notification_ready.connect(lambda n: print("NOTE", repr(n.message), flush=True))
viewer = napari.Viewer(show=False)
viewer.open(sys.argv[1], plugin="exo-vision")
_, seg = viewer.window.add_plugin_dock_widget("exo-vision", "Vesicle segmentation")
seg.set_parameters(min_diameter_nm=20.0, max_diameter_nm=400.0)
done = []
worker = seg.run()
worker.finished.connect(lambda: done.append(True))
while not done:
    QApplication.processEvents()
    time.sleep(0.02)
for _ in range(20):
    QApplication.processEvents()
    time.sleep(0.02)
print("VESICLES", len(seg.labels_layer.features), flush=True)
viewer.close()
"""


def _micrograph(path: Path) -> None:
    image, _ = make_synthetic_tem(
        (384, 384), pixel_size_nm=2.0, difficulty="easy", n_vesicles=6, scale_bar=False, rng=5
    )
    tifffile.imwrite(path, image, imagej=True, resolution=(0.5, 0.5), metadata={"unit": "nm", "axes": "YX"})


def test_a_script_without_a_main_guard_gets_its_analysis_and_one_clear_warning(tmp_path):
    micrograph = tmp_path / "mic.tif"
    _micrograph(micrograph)
    script = tmp_path / "my_napari_script.py"
    script.write_text(USER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "NAPARI_CONFIG": str(tmp_path / "napari_settings.yaml")}
    process = subprocess.Popen(
        [sys.executable, str(script), str(micrograph)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the old code's stuck children are stopped with it
    )
    try:
        out, err = process.communicate(timeout=SCRIPT_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"the script without a main guard hung in Run for {SCRIPT_LIMIT_S} s")
    assert process.returncode == 0, err[-3000:]
    (line,) = [x for x in out.splitlines() if x.startswith("VESICLES")]
    assert int(line.split()[1]) >= 4
    notes = [x for x in out.splitlines() if x.startswith("NOTE")]
    (warning,) = [x for x in notes if "without `if __name__" in x]
    assert "my_napari_script.py starts napari without" in warning and "the viewer may pause" in warning


def _fake_main(monkeypatch, path: Path | None) -> None:
    main = types.ModuleType("__main__")
    if path is not None:
        main.__file__ = str(path)
    monkeypatch.setitem(sys.modules, "__main__", main)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("import napari\nviewer = napari.Viewer()\nnapari.run()\n", True),
        ("import napari\n\ndef main():\n    napari.Viewer()\n\nmain()\n", True),
        ("import napari\n\ndef main():\n    napari.Viewer()\n\nif __name__ == '__main__':\n    main()\n", False),
        ("import napari\n\ndef main():\n    napari.Viewer()\n\nif '__main__' == __name__:\n    main()\n", False),
        ('"""Helpers only."""\nimport numpy as np\n\nLIMIT = 3\n\ndef f():\n    return np.zeros(LIMIT)\n', False),
    ],
)
def test_the_scripts_a_spawned_child_would_run_again_are_told_apart(tmp_path, monkeypatch, source, flagged):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    _fake_main(monkeypatch, script)
    assert (_subprocess.unguarded_main_script() == script) is flagged


def test_an_interactive_session_or_the_napari_command_is_not_flagged(monkeypatch, tmp_path):
    _fake_main(monkeypatch, None)  # python -i, IPython, a notebook: no file
    assert _subprocess.unguarded_main_script() is None
    wrapper = tmp_path / "napari"  # the console-script wrapper has no .py name
    wrapper.write_text("import sys\nfrom napari.__main__ import main\nsys.exit(main())\n")
    _fake_main(monkeypatch, wrapper)
    assert _subprocess.unguarded_main_script() is None


def test_the_in_process_analysis_reports_progress_and_stops_on_cancel(tmp_path, monkeypatch):
    from exo_vision.io import read_image

    micrograph = tmp_path / "mic.tif"
    _micrograph(micrograph)
    image = read_image(micrograph)
    script = tmp_path / "unguarded.py"
    script.write_text("import napari\nnapari.Viewer()\n")
    _fake_main(monkeypatch, script)
    monkeypatch.setattr(_subprocess, "_WARNED", set())
    steps: list[tuple[int, int]] = []
    said: list[str] = []
    monkeypatch.setattr(_subprocess, "_say", said.append)
    result = _subprocess.analyse_in_subprocess(image, {"n_boot": 10}, progress=lambda d, t: steps.append((d, t)))
    assert len(said) == 1 and said[0].startswith("unguarded.py starts napari without")
    assert result.labels.dtype == np.uint8 and len(result.table) >= 4
    assert steps and steps[-1][0] == steps[-1][1]
    with pytest.raises(_subprocess.Cancelled):
        _subprocess.analyse_in_subprocess(image, {"n_boot": 10}, cancelled=lambda: True)
    assert len(said) == 1  # once per script
