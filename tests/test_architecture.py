"""The core never imports the GUI: napari, Qt and magicgui stay out of it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import exo_vision

GUI_MODULES = ("napari", "qtpy", "magicgui", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy")


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(exo_vision.__path__, prefix="exo_vision."):
        if info.name.startswith("exo_vision.plugins"):
            continue
        names.append(info.name)
    return names


def test_core_modules_are_found():
    names = core_modules()
    assert "exo_vision.io" in names
    assert "exo_vision.segmentation" in names
    assert "exo_vision.cli.main" in names
    assert "exo_vision.session.grid" in names  # the grid session core is held to the no-GUI rule too


@pytest.mark.slow
def test_core_imports_no_gui():
    names = core_modules()
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {GUI_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core pulled in GUI modules: {out.stdout.strip()}"


@pytest.mark.slow
def test_running_the_learned_method_needs_no_training_framework():
    """The [train] extra (PyTorch, onnx) is for training only: analysing with the unet method imports neither."""
    code = (
        "import sys, numpy as np\n"
        "from exo_vision.io.image_data import ImageData\n"
        "from exo_vision.tem_analysis import analyse_micrograph\n"
        "image = ImageData(data=np.random.default_rng(0).normal(100, 5, (128, 128)), pixel_size_nm=2.0,"
        " pixel_size_source='user')\n"
        "result = analyse_micrograph(image, method='unet', n_boot=10)\n"
        "assert result.segmenter['model']['name'] == 'ev-unet'\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'jax'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"the unet method pulled in a training framework: {out.stdout.strip()}"
