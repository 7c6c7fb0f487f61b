"""The locked environment: the lock file parses, run.json says whether the installed set is the locked one
and which processor features the run had."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

import numpy._core._multiarray_umath as umath

from exo_vision.environment import (
    LOCK_FILE,
    PROCESSOR_FEATURES,
    lock_status,
    machine_description,
    processor_features,
    read_lock,
)


def test_lock_file_pins_every_runtime_dependency_exactly():
    pins = read_lock(LOCK_FILE)
    for name in ("numpy", "scikit-image", "opencv-python-headless", "tifffile", "matplotlib", "onnxruntime", "napari"):
        assert name in pins, f"{name} is not pinned in requirements/lock.txt"
    assert "exo-vision" not in pins  # the project itself is installed editable, not pinned


def test_lock_status_reports_matches_and_differences(tmp_path):
    numpy_version = metadata.version("numpy")
    lock = tmp_path / "lock.txt"
    lock.write_text(f"# comment\nnumpy=={numpy_version}\n", encoding="utf-8")
    assert lock_status(lock) == {"lock_file": str(lock), "locked": True, "differences": [], "not_installed": []}
    # a package of the lock that is not installed is an extra left out (a base install has no torch), no difference
    lock.write_text(f"numpy=={numpy_version}\nno-such-package==1.0\n", encoding="utf-8")
    assert lock_status(lock) == {
        "lock_file": str(lock),
        "locked": True,
        "differences": [],
        "not_installed": ["no-such-package"],
    }
    lock.write_text("numpy==0.0.1\n", encoding="utf-8")
    status = lock_status(lock)
    assert status["locked"] is False
    assert status["differences"] == [f"numpy: locked 0.0.1, installed {numpy_version}"]
    assert lock_status(tmp_path / "absent.txt")["locked"] is None


def test_a_wheel_install_names_its_lock_file_in_the_environment(tmp_path, monkeypatch):
    from exo_vision.environment import LOCK_FILE_VARIABLE

    lock = tmp_path / "lock.txt"
    lock.write_text(f"numpy=={metadata.version('numpy')}\n", encoding="utf-8")
    monkeypatch.setenv(LOCK_FILE_VARIABLE, str(lock))
    assert lock_status() == {"lock_file": str(lock), "locked": True, "differences": [], "not_installed": []}


def test_local_build_label_matches_its_public_pin(tmp_path, monkeypatch):
    # torch installs as 2.13.0+cpu from a local wheel while the lock says ==2.13.0 (pip accepts it the same way)
    monkeypatch.setattr(metadata, "version", lambda name: "2.13.0+cpu")
    lock = tmp_path / "lock.txt"
    lock.write_text("torch==2.13.0\n", encoding="utf-8")
    assert lock_status(lock)["locked"] is True


def test_processor_features_lists_the_known_features_present_in_their_order(monkeypatch):
    detected = {"AVX512VNNI": True, "AVX2": True, "AVX512F": False, "FMA3": True, "AMX_TILE": True}
    monkeypatch.setattr(umath, "__cpu_features__", detected)
    assert processor_features() == ["AVX2", "FMA3", "AVX512VNNI"]  # AMX_TILE is not one we record


def test_processor_features_is_empty_when_numpy_hides_its_detection(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy._core._multiarray_umath", None)
    assert processor_features() == []


def test_machine_description_describes_this_machine():
    machine = machine_description()
    assert machine["architecture"] == platform.machine()
    assert machine["logical_processors_count"] == os.cpu_count()
    assert set(machine["processor_features"]) <= set(PROCESSOR_FEATURES)
    assert machine["processor_features"] == [n for n in PROCESSOR_FEATURES if umath.__cpu_features__.get(n)]
