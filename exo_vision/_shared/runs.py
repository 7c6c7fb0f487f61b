"""Runs of True in a 1-D mask: the one helper the blot, gel and strip code share to read rows and columns."""

from __future__ import annotations

import numpy as np


def true_runs(mask: np.ndarray, offset: int = 0) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in a 1-D mask, end-exclusive, plus ``offset``.

    Parameters
    ----------
    mask : (N,) array_like of bool
    offset : int
        Added to every index (the mask's first index in a longer axis).

    Returns
    -------
    list of (int, int)
        Left to right; empty when the mask holds no True.
    """
    flags = np.asarray(mask, dtype=bool).ravel()
    edges = np.flatnonzero(np.diff(np.r_[False, flags, False].astype(np.int8)))
    return [(int(a) + offset, int(b) + offset) for a, b in zip(edges[::2], edges[1::2])]
