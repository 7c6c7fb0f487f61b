"""How uncertain a detection score is: confidence intervals of precision, recall and F1 from their counts.

A real benchmark with a few dozen annotated vesicles measures recall to within several hundredths at best, so a
figure and a bar a few hundredths apart may not differ. The intervals here treat each annotated vesicle and each
unmatched prediction as an independent trial. Vesicles of one micrograph share its stain, focus and crowding and
are not independent, so these intervals are the *least* uncertainty the counts allow; the spread between
images, or across pixel-size estimates, can be wider.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

#: Coverage of the intervals reported by the benchmarks.
DEFAULT_COVERAGE = 0.95
#: Draws of the F1 interval (its percentiles move by under 0.005 between seeds at this count).
F1_RESAMPLES = 20_000
#: Pseudo-count added to each outcome of the F1 interval (Jeffreys' prior).
JEFFREYS = 0.5


def _check_coverage(coverage: float) -> float:
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must lie strictly between 0 and 1 (0.95 for a 95 % interval), got {coverage}")
    return float(norm.ppf(0.5 + coverage / 2))


def wilson_interval(successes: int, trials: int, coverage: float = DEFAULT_COVERAGE) -> tuple[float, float]:
    """Wilson score interval of a proportion (recall: found of annotated; precision: true of reported).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or ``trials`` successes.

    Parameters
    ----------
    successes : int
        Matched objects (true positives).
    trials : int
        Annotated objects (for recall) or reported objects (for precision).
    coverage : float
        Probability the interval covers the true proportion, in (0, 1).

    Returns
    -------
    (float, float)
        Lower and upper bound; ``(nan, nan)`` when ``trials`` is 0.

    Raises
    ------
    ValueError
        If the counts are negative, ``successes > trials``, or ``coverage`` is outside (0, 1).
    """
    z = _check_coverage(coverage)
    if successes < 0 or trials < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} successes of {trials}")
    if trials == 0:
        return float("nan"), float("nan")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def f1_interval(
    tp: int, fp: int, fn: int, coverage: float = DEFAULT_COVERAGE, *, resamples: int = F1_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Interval of F1 = 2 tp / (2 tp + fp + fn) from the counts of its three outcomes.

    A found vesicle, a false object and a missed vesicle are the three outcomes of one draw. Their shares are
    drawn from a Dirichlet(tp + 1/2, fp + 1/2, fn + 1/2) (Jeffreys' prior: a Bayesian bootstrap that, unlike
    redrawing the counts, does not collapse to a single value when one count is 0), F1 is computed on each
    draw, and the central ``coverage`` of the draws is returned. The seed is fixed, so the same counts
    always give the same interval.

    Parameters
    ----------
    tp, fp, fn : int
        Matched predictions, unmatched predictions, unmatched truth objects.
    coverage : float
        Coverage of the interval, in (0, 1).
    resamples : int
        Draws of the three shares.
    seed : int
        Seed of the draws.

    Returns
    -------
    (float, float)
        Lower and upper bound; ``(nan, nan)`` when all three counts are 0.

    Raises
    ------
    ValueError
        If a count is negative, ``resamples`` < 1, or ``coverage`` is outside (0, 1).
    """
    _check_coverage(coverage)
    if min(tp, fp, fn) < 0:
        raise ValueError(f"counts must not be negative, got tp={tp} fp={fp} fn={fn}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    n = tp + fp + fn
    if n == 0:
        return float("nan"), float("nan")
    shares = np.random.default_rng(seed).dirichlet([tp + JEFFREYS, fp + JEFFREYS, fn + JEFFREYS], size=resamples)
    f1 = 2 * shares[:, 0] / (2 * shares[:, 0] + shares[:, 1] + shares[:, 2])
    tail = 100 * (1 - coverage) / 2
    low, high = np.percentile(f1, [tail, 100 - tail])
    return float(low), float(high)
