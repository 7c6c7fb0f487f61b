"""Resource measurement of the running process (peak memory)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

try:
    import resource
except ImportError:  # Windows has no resource module
    resource = None  # type: ignore[assignment]


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far in MB (None where the OS does not say).

    On Linux this is ``VmHWM`` of ``/proc/self/status``: unlike
    ``getrusage().ru_maxrss`` it is not inherited from the parent across
    fork + exec, so a process started by a big parent reports its own peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if resource is None:  # Windows
        return None
    kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kilobytes / (1024 * 1024) if sys.platform == "darwin" else kilobytes / 1024


#: Peak memory of one analysis beside its micrograph, MB: Python, numpy, OpenCV, onnxruntime and the network.
#: Fitted with the two per-pixel terms below to eleven peaks of ``exo-vision tem`` (one core, default unet
#: method; 1-67 MP at 0.8-5 nm/px, measured with ``/usr/bin/time -v``) and rounded so that no measured peak
#: lies more than 3 % above the estimate (the estimate is at most 15 % above).
BASE_PEAK_MB = 400.0
#: Bytes per pixel of the micrograph at its own size: the image as float, its labels, the measurement and
#: the overlay (67 MP at 0.8 nm/px, whose working size is small: 1.6 GB).
BYTES_PER_IMAGE_PIXEL = 14.0
#: Bytes per pixel at the working scale: the network's maps at two scales, their instances and the watershed
#: (the same 67 MP at 2.4 nm/px, nine times the working pixels: 3.3 GB).
BYTES_PER_WORKING_PIXEL = 55.0
#: Bytes in a megabyte, as the estimates count them.
BYTES_PER_MB = 1e6


def working_pixels(
    shape: tuple[int, int], *, pixel_size_nm: float, working_scale_nm: float, enlarges: bool = True
) -> float:
    """Number of pixels of an image once resampled to the working scale.

    Parameters
    ----------
    shape : tuple of int
        ``(M, N)`` image shape in pixels.
    pixel_size_nm : float
        Pixel edge length of the image, nm.
    working_scale_nm : float
        Pixel edge length of the working scale, nm.
    enlarges : bool
        Whether an image coarser than the working scale is enlarged to it (the learned method) rather
        than analysed at its own size (the classical method).

    Returns
    -------
    float
        ``M * N * f**2`` with ``f = pixel_size_nm / working_scale_nm`` (at most 1 unless ``enlarges``).
    """
    factor = float(pixel_size_nm) / float(working_scale_nm)
    if not enlarges:
        factor = min(factor, 1.0)
    return float(shape[0]) * float(shape[1]) * factor * factor


def estimated_peak_mb(
    shape: tuple[int, int], *, pixel_size_nm: float, working_scale_nm: float, enlarges: bool = True
) -> float:
    """Estimated peak memory of analysing one micrograph in its own process, MB (10^6 bytes).

    ``BASE_PEAK_MB + (BYTES_PER_IMAGE_PIXEL * M * N + BYTES_PER_WORKING_PIXEL * W) / 10^6``, where ``W`` is
    :func:`working_pixels`. A micrograph coarser than the working scale costs more than its pixel count
    says: the network sees its whole field of view at the working scale.

    Parameters
    ----------
    shape : tuple of int
        ``(M, N)`` image shape in pixels.
    pixel_size_nm : float
        Pixel edge length of the image, nm.
    working_scale_nm : float
        Pixel edge length at which the segmentation works, nm (3 for the shipped network).
    enlarges : bool
        See :func:`working_pixels`.

    Returns
    -------
    float
        Estimated peak resident memory in MB.

    Examples
    --------
    >>> round(estimated_peak_mb((8192, 8192), pixel_size_nm=2.4, working_scale_nm=3.0))
    3701
    """
    image = float(shape[0]) * float(shape[1])
    working = working_pixels(shape, pixel_size_nm=pixel_size_nm, working_scale_nm=working_scale_nm, enlarges=enlarges)
    return BASE_PEAK_MB + (BYTES_PER_IMAGE_PIXEL * image + BYTES_PER_WORKING_PIXEL * working) / BYTES_PER_MB


#: Where Linux mounts the control groups (cgroup v2 unified, or v1's memory controller below it).
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: A cgroup v1 limit at or above this many bytes means "no limit" (the kernel writes the largest page multiple).
CGROUP_UNLIMITED_BYTES = 2**60


def cgroup_room_mb(root: Path = CGROUP_ROOT, self_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """Memory this process's control groups still allow, MB; None when no memory limit applies.

    A container, a SLURM job or ``systemd-run -p MemoryMax=`` limits a process's memory through its cgroup
    (and that cgroup's ancestors) whatever ``/proc/meminfo`` says of the machine. The room is the least over
    the cgroup and its ancestors of ``memory.max - memory.current`` (v2) or ``memory.limit_in_bytes -
    memory.usage_in_bytes`` (v1).
    """
    try:
        lines = self_cgroup.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    rooms = []
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":
            base, names = root, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base, names = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            room = _cgroup_room_bytes(folder, *names)
            if room is not None:
                rooms.append(room)
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return min(rooms) / BYTES_PER_MB if rooms else None


def _cgroup_room_bytes(folder: Path, limit_name: str, usage_name: str) -> float | None:
    """``limit - usage`` of one cgroup folder in bytes, or None without a limit (or files)."""
    try:
        limit_text = (folder / limit_name).read_text(encoding="ascii").strip()
        usage = int((folder / usage_name).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    if limit_text == "max":
        return None
    try:
        limit = int(limit_text)
    except ValueError:
        return None
    return None if limit >= CGROUP_UNLIMITED_BYTES else float(max(limit - usage, 0))


def available_memory_mb() -> float | None:
    """Memory the system can give new processes without swapping, MB (10^6 bytes); None when unknown.

    On Linux this is ``MemAvailable`` of ``/proc/meminfo`` (free memory plus the caches the kernel can
    drop), or less when a control group limits this process (:func:`cgroup_room_mb`: a container, a
    SLURM job); elsewhere the free physical pages of ``os.sysconf`` (which leaves the caches out, so it says
    less than is available).
    """
    machine = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    machine = int(line.split()[1]) * 1024 / BYTES_PER_MB
                    break
    except (OSError, ValueError, IndexError):
        pass
    if machine is not None:
        room = cgroup_room_mb()
        return machine if room is None else min(machine, room)
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return None
    if pages <= 0 or page_size <= 0:
        return None
    return pages * page_size / BYTES_PER_MB
