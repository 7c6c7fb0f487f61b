"""Robust spread: the standard deviation of Gaussian noise read from the median absolute deviation.

Every noise estimate of the package (pixel noise, profile noise, blank-box volumes) is read this
way, so that bands, vesicles and specks in the sample do not inflate it.
"""

from __future__ import annotations

import numpy as np

from exo_vision._shared.order_stats import median_of

#: Median absolute deviation to standard deviation for Gaussian noise (1 / Phi^-1(3/4)).
MAD_TO_SD = 1.4826


def mad_sd(values: np.ndarray) -> float:
    """Standard deviation of ``values`` estimated from their median absolute deviation, in float64.

    Parameters
    ----------
    values : ndarray
        Samples (any shape; NaN-free).

    Returns
    -------
    float
        ``MAD_TO_SD`` times the median of ``|values - median(values)|``, in the units of ``values``.
        For neighbour differences of white noise, divide by sqrt(2) to get the per-pixel SD.
    """
    return MAD_TO_SD * float(median_of(np.abs(values - median_of(values))))
