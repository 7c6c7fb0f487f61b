"""Grid session paging on a shown viewer: onto an uncalibrated micrograph of another size and back.

Paging from a segmented micrograph (image + vesicle layer) onto one without a pixel size
(image only, a warning shown) killed napari with SIGSEGV in ``glDrawArrays`` under Mesa's
llvmpipe renderer. A crash kills the process that runs it, so the paging runs in a child
pytest process and the test here checks how that process ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytest.importorskip("napari")

from exo_vision.synthetic.tem import make_synthetic_tem  # noqa: E402

PIXEL_SIZE_NM = 2.0
PLUGIN = "exo-vision"
#: Set in the child process that runs the paging itself.
CHILD_ENV = "EXO_VISION_GRID_PAGING_CHILD"
#: Event-loop time given to napari after each step, so that the canvas draws the layers shown (ms).
DRAW_MS = 600


def _grid(folder: Path) -> Path:
    """g0.tif and g2.tif calibrated 512 x 512 micrographs, g1_nocal.png an uncalibrated 435 x 435 one."""
    grid = folder / "grid"
    grid.mkdir()
    for name, seed in (("g0.tif", 60), ("g2.tif", 62)):
        image, _ = make_synthetic_tem(
            (512, 512), pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", n_vesicles=8, scale_bar=False, rng=seed
        )
        tifffile.imwrite(
            grid / name, image, imagej=True, resolution=(1 / PIXEL_SIZE_NM, 1 / PIXEL_SIZE_NM), metadata={"unit": "nm"}
        )
    from PIL import Image

    image, _ = make_synthetic_tem(
        (435, 435), pixel_size_nm=PIXEL_SIZE_NM, difficulty="easy", n_vesicles=6, scale_bar=False, rng=61
    )
    gray = np.clip((image - image.min()) / np.ptp(image) * 255, 0, 255).astype(np.uint8)
    Image.fromarray(gray).save(grid / "g1_nocal.png")  # no calibration in the file, no scale bar
    return grid


@pytest.mark.skipif(os.environ.get(CHILD_ENV) != "1", reason="run by the test below, in a child process")
def test_paging_child(make_napari_viewer, qtbot, tmp_path):
    from exo_vision.plugins._vesicles import apply_pixel_size

    grid, out = _grid(tmp_path), tmp_path / "out"
    viewer = make_napari_viewer(show=True)
    _, session = viewer.window.add_plugin_dock_widget(PLUGIN, "Grid session")
    session.synchronous = True
    session._method.value = "classical"
    session.open_grid(grid, out)
    qtbot.wait(DRAW_MS)
    assert [layer.name for layer in viewer.layers] == ["g0", "g0 vesicles"]
    for _ in range(2):
        session.next()
        qtbot.wait(DRAW_MS)
        assert [layer.name for layer in viewer.layers] == ["g1_nocal"]
        assert viewer.layers[0].data.shape == (435, 435) and session.awaiting_calibration == grid / "g1_nocal.png"
        session.previous()
        qtbot.wait(DRAW_MS)
        assert [layer.name for layer in viewer.layers] == ["g0", "g0 vesicles"]
    session.next()
    qtbot.wait(DRAW_MS)
    # calibrated in the session (as the Calibration dock does): segmented at once, saved on leaving
    apply_pixel_size(viewer, session.image_layer, PIXEL_SIZE_NM, source="user")
    qtbot.wait(DRAW_MS)
    assert [layer.name for layer in viewer.layers] == ["g1_nocal", "g1_nocal vesicles"]
    assert len(session.labels_layer.features) > 0
    assert tuple(session.labels_layer.scale) == (PIXEL_SIZE_NM, PIXEL_SIZE_NM)
    session.next()
    qtbot.wait(DRAW_MS)
    assert [layer.name for layer in viewer.layers] == ["g2", "g2 vesicles"]
    assert (out / "g1_nocal_done.json").exists()
    session.previous()
    qtbot.wait(DRAW_MS)
    assert [layer.name for layer in viewer.layers] == ["g1_nocal", "g1_nocal vesicles"]
    assert session.image_layer.metadata["pixel_size_nm"] == PIXEL_SIZE_NM


@pytest.mark.gui
@pytest.mark.slow
def test_paging_onto_an_uncalibrated_micrograph_of_another_size_and_back_does_not_crash_napari(tmp_path):
    """Before, the first step onto the uncalibrated micrograph ended the process with SIGSEGV (exit -11)."""
    env = {**os.environ, CHILD_ENV: "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::test_paging_child"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    tail = output[output.find("Fatal Python error") :][:3000] if "Fatal Python error" in output else output[-3000:]
    assert done.returncode == 0, f"the paging process ended with {done.returncode}:\n{tail}"
    assert "1 passed" in done.stdout, tail
