"""The core never imports the GUI: napari, Qt and magicgui stay out of it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

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
