"""The npe2 manifest is valid and every contribution resolves to real code."""

from __future__ import annotations

import subprocess
import sys

import pytest

npe2 = pytest.importorskip("npe2")


def test_npe2_validate_passes():
    out = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "exo-vision"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in (out.stdout + out.stderr).lower()


def test_every_python_name_in_the_manifest_imports():
    # what `npe2 validate exo-vision --imports` checks, in-process (napari is imported once per session)
    npe2.PluginManifest.from_distribution("exo-vision").validate_imports()


def test_manifest_lists_every_widget_and_format():
    manifest = npe2.PluginManifest.from_distribution("exo-vision")
    widgets = {w.display_name for w in manifest.contributions.widgets}
    assert widgets == {
        "Calibration",
        "Vesicle segmentation",
        "Curation",
        "Grid session",
        "Size histogram",
        "Blot quantification",
    }
    patterns = set(manifest.contributions.readers[0].filename_patterns)
    for ext in ("tif", "tiff", "dm3", "dm4", "mrc", "emd", "ser", "emi", "png", "jpg", "jpeg", "bmp", "scn"):
        assert f"*.{ext}" in patterns
    # napari offers every file the core reads (a .mrcs stack or a .rec tomogram had "no compatible reader")
    from exo_vision.io.read import READABLE_SUFFIXES
    from exo_vision.plugins.reader import EXTENSIONS

    assert patterns == {f"*{suffix}" for suffix in READABLE_SUFFIXES} == {f"*{e}" for e in EXTENSIONS}
    writer_exts = {ext for w in manifest.contributions.writers for ext in w.filename_extensions}
    assert {".tif", ".csv"} <= writer_exts
