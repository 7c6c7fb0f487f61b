"""Order statistics found faster than numpy finds them, with numpy's values.

Percentiles and medians of many short rows at once, read off one sort of them:
``numpy.percentile(x, q, axis=1)`` selects each row's order statistics with a
partition of its own, which on arrays of many short rows (runs of about a hundred
pixels over a whole 5 MP frame) costs about four times one ``numpy.sort`` of the
array along its rows. :func:`sorted_rows_percentile` and :func:`sorted_rows_median`
take rows already sorted (so that one sort serves several percentiles and the median)
and interpolate as numpy's default ``"linear"`` method does, so their values equal
numpy's to rounding.

The median and percentiles of one large sample (:func:`median_of`, :func:`percentile_of`):
``numpy.median`` and ``numpy.percentile`` partition the whole sample around the ranks they
need. A strided subsample brackets the values at those ranks, and only the few values inside
the bracket are partitioned; the ranks are counted, so the result is exactly numpy's (the same
values, combined by the same arithmetic). When the bracket misses (an unusual ordering of the
sample), or the sample is small, not floating point, or holds NaN or infinite values, numpy's
own function answers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Samples smaller than this are left to numpy (the bracketing would not pay).
MIN_BRACKETED_SIZE = 50_000
#: The bracketing subsample holds about this many values.
SUBSAMPLE_SIZE = 16_384
#: The bracket reaches this many subsample standard errors of a rank each side of it ...
BRACKET_ERRORS = 6.0
#: ... and at least this many subsample values.
MIN_BRACKET_VALUES = 16
#: Floating-point types handled (others go to numpy).
FLOAT_TYPES = (np.float32, np.float64)


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


def percentile_along(values: np.ndarray, q: float, axis: int) -> np.ndarray:
    """``np.percentile(values, q, axis=axis)`` of a 2-D float array and one percentile, read off one sort.

    numpy partitions each line of ``values`` on its own; one sort of the lines (made contiguous) is several
    times faster on the short lines of a subsampled strip. The two order statistics around ``q / 100 (n - 1)``
    are combined as numpy does for one percentile: in the values' own floating-point type, ``a + (b - a) t``
    (``b - (b - a)(1 - t)`` from ``t = 0.5``). Other dtypes and shapes go to numpy.

    Parameters
    ----------
    values : (M, N) ndarray of float32 or float64
    q : float
        Percentile, 0-100.
    axis : {0, 1}
        Axis the percentile runs along (a line holding NaN gives NaN, as numpy's).

    Returns
    -------
    ndarray
        One value per line, in the values' dtype: exactly ``np.percentile(values, q, axis=axis)``.
    """
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.dtype.type not in FLOAT_TYPES or not 0 <= q <= 100 or arr.shape[axis] == 0:
        return np.percentile(values, q, axis=axis)
    lines = np.sort(arr.T if axis == 0 else arr, axis=1)
    n = lines.shape[1]
    position = (n - 1) * (q / 100)
    lo = int(np.floor(position))
    hi = min(lo + 1, n - 1)
    t = float(position - lo)
    a, b = lines[:, lo], lines[:, hi]
    step = b - a
    out = b - step * (1 - t) if t >= 0.5 else a + step * t
    out[np.isnan(lines[:, -1])] = np.nan  # numpy answers NaN for a line holding NaN (it sorts last)
    return out


def median_along(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.median(values, axis=axis)`` of a 2-D float array, read off one sort of its lines.

    The middle value of each line, or the mean (in the values' type) of its two middle values, as numpy
    takes them; a line holding NaN gives NaN. Other dtypes and shapes go to numpy.

    Parameters
    ----------
    values : (M, N) ndarray of float32 or float64
    axis : {0, 1}
        Axis the median runs along.

    Returns
    -------
    ndarray
        One value per line, in the values' dtype: exactly ``np.median(values, axis=axis)``.
    """
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.dtype.type not in FLOAT_TYPES or arr.shape[axis] == 0:
        return np.median(values, axis=axis)
    lines = np.sort(arr.T if axis == 0 else arr, axis=1)
    n = lines.shape[1]
    middle = lines[:, n // 2 : n // 2 + 1] if n % 2 else lines[:, n // 2 - 1 : n // 2 + 1]
    out = np.mean(middle, axis=1)
    out[np.isnan(lines[:, -1])] = np.nan  # NaN sorts last
    return out


def median_of(values: np.ndarray) -> np.floating:
    """``np.median(values)`` (all values, any shape), found by bracketing.

    Parameters
    ----------
    values : ndarray
        Samples.

    Returns
    -------
    numpy scalar
        Exactly ``np.median(values)``: the middle value, or the mean of the two middle values (in the values'
        floating-point type).
    """
    flat = _bracketable(values)
    if flat is None:
        return np.median(values)
    n = flat.size
    ranks = [n // 2 - 1, n // 2] if n % 2 == 0 else [(n - 1) // 2]
    middle = _order_values(flat, ranks)
    if middle is None:
        return np.median(values)
    return np.mean(middle, axis=0)


def percentile_of(values: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """``np.percentile(np.asarray(values, dtype=np.float64), q)`` for a sequence ``q``, found by bracketing.

    The values at the neighbouring ranks of each percentile are found exactly and combined as numpy's
    ``"linear"`` method does: virtual index ``(n - 1) q / 100``, weight ``gamma`` its fraction, ``a + (b - a)
    gamma`` (``b - (b - a)(1 - gamma)`` from ``gamma = 0.5``), in float64.

    Parameters
    ----------
    values : ndarray
        Samples (any shape, any real type).
    q : sequence of float
        Percentiles, 0-100.

    Returns
    -------
    (len(q),) ndarray of float64
    """
    flat = _bracketable(values)
    quantiles = np.true_divide(np.asarray(q, dtype=np.float64), 100)
    if flat is None or quantiles.ndim != 1 or np.any(~((quantiles >= 0) & (quantiles <= 1))):
        return np.percentile(np.asarray(values, dtype=np.float64), q)
    n = flat.size
    virtual = (n - 1) * quantiles
    previous = np.floor(virtual)
    following = previous + 1
    previous[virtual >= n - 1] = n - 1
    following[virtual >= n - 1] = n - 1
    gamma = virtual - previous
    prev_i, next_i = previous.astype(np.intp), following.astype(np.intp)
    at: dict[int, float] = {}
    for pair in sorted(set(zip(prev_i.tolist(), next_i.tolist()))):  # each percentile's two neighbouring ranks
        ranks = sorted(set(pair))
        found = _order_values(flat, ranks)
        if found is None:
            return np.percentile(np.asarray(values, dtype=np.float64), q)
        at.update(zip(ranks, found.astype(np.float64).tolist()))
    a = np.array([at[i] for i in prev_i.tolist()], dtype=np.float64)
    b = np.array([at[i] for i in next_i.tolist()], dtype=np.float64)
    diff = b - a
    out = a + diff * gamma
    upper = gamma >= 0.5
    out[upper] = (b - diff * (1 - gamma))[upper]
    return out


def percentile_one(values: np.ndarray, q: float) -> np.floating:
    """``np.percentile(values, q)`` for one percentile ``q`` (a Python number), found by bracketing.

    numpy combines the two order statistics around ``(n - 1) q / 100`` in the values' own floating-point type
    for a Python-number ``q``: ``a + (b - a) gamma`` (``b - (b - a)(1 - gamma)`` from ``gamma = 0.5``); so does
    this.

    Parameters
    ----------
    values : ndarray
        Samples (any shape).
    q : float
        Percentile, 0-100.

    Returns
    -------
    numpy scalar
        Exactly ``np.percentile(values, q)``.
    """
    flat = _bracketable(values)
    if flat is None or not isinstance(q, (int, float)) or not 0 <= q <= 100:
        return np.percentile(values, q)
    n = flat.size
    virtual = (n - 1) * np.true_divide(q, 100)
    lo = min(int(np.floor(virtual)), n - 1)
    hi = min(lo + 1, n - 1)
    ranks = sorted({lo, hi})
    found = _order_values(flat, ranks)
    if found is None:
        return np.percentile(values, q)
    a, b = found[0], found[-1]
    gamma = float(virtual - lo)
    step = b - a
    return b - step * (1 - gamma) if gamma >= 0.5 else a + step * gamma


def _bracketable(values: np.ndarray) -> np.ndarray | None:
    """``values`` flattened when bracketing applies: large enough, float32/float64 and all finite; else None."""
    arr = np.asarray(values)
    if arr.size < MIN_BRACKETED_SIZE or arr.dtype.type not in FLOAT_TYPES:
        return None
    flat = arr.reshape(-1)
    # one pass: the sum is finite only when every value is (NaN and infinities go to numpy)
    if not np.isfinite(flat.sum(dtype=np.float64)):
        return None
    return flat


def _order_values(flat: np.ndarray, ranks: list[int]) -> np.ndarray | None:
    """The values of ``flat`` at sorted positions ``ranks`` (ascending, close to each other), or None on a miss."""
    n = flat.size
    step = max(1, n // SUBSAMPLE_SIZE)
    sample = np.sort(flat[::step])
    m = sample.size
    lo_rank, hi_rank = ranks[0], ranks[-1]
    p_lo, p_hi = lo_rank / max(n - 1, 1), hi_rank / max(n - 1, 1)
    reach = max(MIN_BRACKET_VALUES, BRACKET_ERRORS * np.sqrt(m * max(p_lo, 1 / m) * max(1 - p_lo, 1 / m)))
    i_lo = int(np.floor(p_lo * (m - 1) - reach))
    i_hi = int(np.ceil(p_hi * (m - 1) + reach))
    inside = np.ones(n, bool) if i_lo < 0 else flat >= sample[i_lo]
    below = 0 if i_lo < 0 else n - int(np.count_nonzero(inside))
    if i_hi < m:
        inside &= flat <= sample[i_hi]
    band = flat[inside]
    if not (below <= lo_rank and hi_rank < below + band.size):
        return None
    local = [r - below for r in ranks]
    return np.partition(band, local)[local]
