"""The source distribution holds the package, its model and sample files, the user documents, nothing stray."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

setuptools = pytest.importorskip("setuptools")


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to copy the tracked files from")
    done = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    return [name for name in done.stdout.decode().split("\0") if name and (REPO / name).is_file()]


@pytest.mark.skipif(
    int(setuptools.__version__.split(".")[0]) < 77, reason="pyproject.toml needs setuptools >= 77 (license-files)"
)
def test_the_sdist_holds_what_a_user_needs_and_nothing_stray(tmp_path):
    tracked = _tracked_files()
    checkout = tmp_path / "checkout"
    for name in tracked:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    # what a developer's checkout collects besides the tracked files
    strays = {
        "exo_vision/__pycache__/atomic.cpython-311.pyc": b"\0",
        "exo_vision/scratch/notes.py": b"x = 1\n",  # a folder without __init__.py: no package
        "exo_vision_old/__init__.py": b"",  # a copy beside the package
        "tests/__pycache__/conftest.cpython-311.pyc": b"\0",
        "notes.txt": b"todo\n",
    }
    for name, data in strays.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(data)
    dist = tmp_path / "dist"
    dist.mkdir()
    subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})"],
        cwd=checkout,
        capture_output=True,
        check=True,
    )
    (archive,) = dist.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile() and "/" in m.name}
    top = {name.split("/", 1)[0] for name in members}
    assert top == {
        "CHANGELOG.md",
        "LICENSE",
        "MANIFEST.in",
        "PKG-INFO",
        "README.md",
        "docs",
        "exo_vision",
        "exo_vision.egg-info",
        "pyproject.toml",
        "requirements",
        "sample_images",
        "setup.cfg",
    }
    package = {name for name in tracked if name.startswith(("exo_vision/", "sample_images/"))}
    assert package <= members  # every module, the napari manifest, the model cards and weights, the samples
    for model in ("ev_unet.onnx", "ev_unet.json", "ev_unet_int8.onnx", "ev_unet_int8.json", "README.md"):
        assert f"exo_vision/segmentation/learned/models/{model}" in members
    assert "requirements/lock.txt" in members
    docs = {name for name in tracked if name.startswith("docs/")}
    assert docs and docs <= members  # the pages the README links to
    extra = members - package - docs - {name for name in members if name.startswith("exo_vision.egg-info/")}
    assert extra == {
        "CHANGELOG.md",
        "LICENSE",
        "MANIFEST.in",
        "PKG-INFO",
        "README.md",
        "pyproject.toml",
        "requirements/lock.txt",
        "setup.cfg",
    }
