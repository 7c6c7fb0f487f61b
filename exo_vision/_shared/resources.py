"""Resource measurement of the running process (peak memory)."""

from __future__ import annotations

import sys

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
