"""Percentiles and medians of many short rows at once, read off one sort of them.

``numpy.percentile(x, q, axis=1)`` selects each row's order statistics with a
partition of its own, which on arrays of many short rows (runs of about a hundred
pixels over a whole 5 MP frame) costs about four times one ``numpy.sort`` of the
array along its rows. These functions take rows already sorted (so that one sort
serves several percentiles and the median) and interpolate as numpy's default
``"linear"`` method does, so their values equal numpy's to rounding.
"""

from __future__ import annotations

import numpy as np


def sorted_rows_percentile(sorted_rows: np.ndarray, q: float) -> np.ndarray:
    """The ``q``-th percentile of each row of ``sorted_rows`` (each row sorted in ascending order).

    Parameters
    ----------
    sorted_rows : (K, n) ndarray
        Rows sorted along axis 1, n >= 1.
    q : float
        Percentile, 0-100.

    Returns
    -------
    (K,) ndarray of float64
        ``numpy.percentile(rows, q, axis=1)`` (linear interpolation between the two order statistics that
        bracket the position ``q / 100 * (n - 1)``).
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"a percentile must lie in 0-100, got {q}")
    n = sorted_rows.shape[1]
    position = q / 100.0 * (n - 1)
    lo = int(np.floor(position))
    hi = min(lo + 1, n - 1)
    t = position - lo
    a = sorted_rows[:, lo].astype(np.float64)
    b = sorted_rows[:, hi].astype(np.float64)
    step = b - a
    # numpy's lerp: from the nearer of the two ends, so that t = 0 and t = 1 give the order statistics exactly
    return b - step * (1.0 - t) if t >= 0.5 else a + step * t


def sorted_rows_median(sorted_rows: np.ndarray) -> np.ndarray:
    """The median of each row of ``sorted_rows`` (each row sorted in ascending order), as ``numpy.median``:
    the middle value, or the mean of the two middle values of an even row. Returns (K,) float64."""
    n = sorted_rows.shape[1]
    middle = sorted_rows[:, n // 2].astype(np.float64)
    if n % 2:
        return middle
    return (sorted_rows[:, n // 2 - 1].astype(np.float64) + middle) / 2.0
