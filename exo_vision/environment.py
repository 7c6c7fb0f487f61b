"""The environment a run used: library versions, whether they are the locked set, and the processor.

The repository keeps exact versions of every package the tests passed with in
``requirements/lock.txt``; the README's install command installs that set. A run
records whether the installed versions match it, so a result made with drifted
packages is recognisable later. It also records the processor's vector features,
which choose the kernels onnxruntime, OpenCV and numpy run with: they set the speed,
and floating-point results (the float network's maps, OpenCV's resampling) differ in
their last bits between kernels (``benchmarks/tem_runtime_isa.py``,
``benchmarks/tem_kernels_arm.py``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from exo_vision import __version__

#: Distributions whose versions run.json records.
#: Seconds ``tesseract --version`` may take.
TESSERACT_VERSION_TIMEOUT_S = 10

SOFTWARE = (
    "numpy",
    "scipy",
    "scikit-image",
    "pandas",
    "opencv-python-headless",
    "tifffile",
    "imagecodecs",
    "matplotlib",
    "rosettasciio",
    "mrcfile",
    "h5py",
    "pillow",
    "dask",
    "distributed",
    "onnxruntime",
)

#: Processor features run.json records when present (numpy's names): the vector extensions that choose
#: onnxruntime's and numpy's kernels on x86 (AVX2, FMA3, AVX-512, VNNI) and on ARM (ASIMD, dot product).
PROCESSOR_FEATURES = ("SSE41", "AVX2", "FMA3", "AVX512F", "AVX512_SKX", "AVX512VNNI", "AVX512_ICL", "ASIMD", "ASIMDDP")

#: The lock file of a source checkout (absent from a wheel install) ...
LOCK_FILE = Path(__file__).resolve().parents[1] / "requirements" / "lock.txt"
#: ... and the environment variable that names it for an installation from a wheel (set it to the lock file the
#: wheel was installed with, ``pip install -c lock.txt``).
LOCK_FILE_VARIABLE = "EXO_VISION_LOCK_FILE"

_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


#: Parts of the package whose code cannot change a result: the napari docks (they only call the core).
#: Everything else counts in :func:`code_sha256`.
CODE_NOT_COUNTED = ("plugins",)


@functools.cache
def code_sha256() -> str:
    """A fingerprint of the installed exo_vision code that makes the numbers (sha256, hex).

    The package's version string does not change with every change of a measurement, so a result is tied to
    the code that made it by this digest of its Python files (relative path and bytes, in path order; the
    napari docks left out) and its model cards and weights. ``--resume`` re-analyses a result made by other
    code, and ``--config run.json`` says when the recorded run's code differs.
    """
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    files = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in (".py", ".json", ".onnx")
        and p.relative_to(root).parts[0] not in CODE_NOT_COUNTED
    ]
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def software_versions() -> dict[str, str | None]:
    """Installed versions of Python, exo_vision and the libraries that shape the results."""
    out: dict[str, str | None] = {
        "python": platform.python_version(),
        "exo_vision": __version__,
        "exo_vision_code_sha256": code_sha256(),
    }
    for name in SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["tesseract"] = tesseract_version()
    return out


def tesseract_version() -> str | None:
    """The version of the tesseract OCR program that reads scale-bar labels (a system package, which the
    lock file cannot pin), or None when it is not installed."""
    import subprocess

    from exo_vision.calibration.ocr import TesseractError, find_tesseract

    try:
        done = subprocess.run(
            [find_tesseract(), "--version"], capture_output=True, text=True, timeout=TESSERACT_VERSION_TIMEOUT_S
        )
    except (TesseractError, OSError, subprocess.SubprocessError):
        return None
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].removeprefix("tesseract ").strip() if first else None


def processor_features() -> list[str]:
    """The features of :data:`PROCESSOR_FEATURES` that this processor has, as numpy detected them at import.

    Returns an empty list when numpy does not expose its detection (it is not public API).
    """
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        return []
    return [name for name in PROCESSOR_FEATURES if __cpu_features__.get(name)]


def machine_description() -> dict[str, Any]:
    """The machine a run used: operating system, architecture, logical processors and vector features."""
    return {
        "platform": platform.platform(),
        "architecture": platform.machine(),
        "logical_processors_count": os.cpu_count(),
        "processor_features": processor_features(),
    }


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """Exact pins ``name == version`` of a requirements lock file, names normalised (PEP 503)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            pins[_normalise(match.group(1))] = match.group(2)
    return pins


def _public(version: str) -> str:
    """The public part of a version (``2.13.0+cpu`` -> ``2.13.0``), as ``==`` compares them."""
    return version.split("+", 1)[0]


def lock_status(lock_file: Path | None = None) -> dict[str, Any]:
    """Whether the installed packages are exactly the locked set.

    Parameters
    ----------
    lock_file : Path, optional
        The lock file; by default the one :data:`LOCK_FILE_VARIABLE` names, else
        ``requirements/lock.txt`` of the source checkout.

    Returns
    -------
    dict
        ``lock_file`` (path or None when there is none, e.g. a wheel install),
        ``locked`` (True when every locked package that is installed is at its pinned
        version, False when any differs, None without a lock file),
        ``differences`` (``"name: locked X, installed Y"`` strings) and
        ``not_installed`` (locked packages left out: extras such as the training framework).
    """
    path = Path(lock_file if lock_file is not None else os.environ.get(LOCK_FILE_VARIABLE) or LOCK_FILE)
    if not path.is_file():
        return {"lock_file": None, "locked": None, "differences": [], "not_installed": []}
    differences, absent = [], []
    for name, pinned in sorted(read_lock(path).items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            absent.append(name)  # an extra this installation left out (the training framework, the test tools)
            continue
        if _public(installed) != _public(pinned):
            differences.append(f"{name}: locked {pinned}, installed {installed}")
    return {"lock_file": str(path), "locked": not differences, "differences": differences, "not_installed": absent}
