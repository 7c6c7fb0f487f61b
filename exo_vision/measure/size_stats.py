"""Size statistics of a set of vesicles, as a paper reports them.

Everything here is a pure function over a vesicle table (one row per vesicle,
see :func:`exo_vision.measure.vesicles.measure_vesicles`) or over an array of
diameters in nanometres.

Definitions used throughout (stated once, here):

* SD is the sample standard deviation (``ddof=1``); it is NaN for one vesicle.
* CV = SD / mean; PDI = (SD / mean)**2 (the number-weighted analogue of the
  DLS polydispersity index).
* Percentiles D10/D50/D90 use linear interpolation between order statistics
  (numpy's default, Hyndman & Fan type 7): the p-th percentile of ``n`` sorted
  values sits at fractional rank ``(n - 1) * p / 100`` (0-based). For diameters
  ``[10, 20, 30, 40, 50]`` nm this gives D10 = 14, D50 = 30, D90 = 46 nm.
* span = (D90 - D10) / D50.
* The mode is the arg-max of a Gaussian kernel density estimate evaluated on
  a 1024-point grid spanning the data +- 3 bandwidths. The bandwidth is
  Silverman's rule of thumb, 0.9 x min(SD, IQR / 1.34) x n**(-1/5) (R's
  ``bw.nrd0``): on a skewed or two-population sample Scott's SD-based
  bandwidth put the mode where no vesicle lies (48.9 nm for 38 real vesicles,
  15 of them at 30-40 nm and none at 50-60 nm); this one gives 37.4 nm.
* Bootstrap 95 % confidence intervals are percentile intervals (2.5th and
  97.5th percentiles of the statistic over ``n_boot`` resamples with
  replacement), given only from :data:`MIN_N_FOR_INTERVAL` vesicles on (NaN
  below): a percentile interval of few values undercovers (of two it is
  exactly the two values).
* With one vesicle there is no spread: SD, CV, PDI, span and the KDE mode are
  NaN (the mean, median and D10/D50/D90 are its diameter).
* Volume-weighted mean diameter = sum(d**4) / sum(d**3) (the De Brouckere
  mean D[4,3]); intensity-weighted mean diameter = sum(d**7) / sum(d**6)
  (Rayleigh scattering intensity grows as d**6, which is what DLS weights by).
* vesicles_per_um2 = (vesicles inside the field + half the vesicles cut by
  its edge) / analysed area. A vesicle the edge cuts has its centre inside the
  field about half the time, so this estimates the density of vesicle centres
  without the edge's bias; counting whole vesicles only reads low by the share
  the edge cuts (10-18 % on 2 µm fields of 100-150 nm vesicles). It is the
  same whether or not the border vesicles enter the other statistics.
* fraction_touching is the share of the counted vesicles that share outline
  pixels with another vesicle (``touches_other``): there the segmenter drew
  the contact, and on crowded fields the learned method merges some touching
  vesicles, so a high share asks for a look at the overlay.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from exo_vision.measure.tables import truth_values
from exo_vision.tem_parameters import DEFAULT_TEM_PARAMETERS

#: Coverage of the bootstrap confidence intervals (the ``*_ci95_*`` keys).
CONFIDENCE = 0.95
#: Fewest vesicles that get a bootstrap confidence interval (NaN below). The percentile bootstrap of the mean
#: undercovers at small n: over 2000 seeded samples of a lognormal size distribution (median 80 nm, sigma 0.35,
#: an EV-like spread) its nominal 95 % interval held the true mean in 48 % of samples at n = 2 (the interval is
#: then the two values), 75 % at 3, 81 % at 5, 89 % at 10 and 92 % at 20.
MIN_N_FOR_INTERVAL = 10
#: Most bins a histogram may have (a finer bin width is a mistake, not a request).
MAX_HISTOGRAM_BINS = 100_000
#: Rule-of-thumb bandwidths scale as the effective sample size to this power.
SCOTT_EXPONENT = -1.0 / 5.0
#: Silverman's rule of thumb: the bandwidth is this factor times the spread times n**(-1/5) ...
SILVERMAN_FACTOR = 0.9
#: ... the spread being the smaller of the SD and the interquartile range over its normal value (1.349 SD).
NORMAL_IQR_PER_SD = 1.34
#: The quartiles of the interquartile range.
QUARTILES = (0.25, 0.75)
#: The KDE's mode is searched on a grid of this many points ...
KDE_GRID_POINTS = 1024
#: ... reaching this many bandwidths beyond the smallest and largest diameter.
KDE_GRID_MARGIN_BANDWIDTHS = 3
#: The KDE is evaluated in chunks of about this many grid-by-sample products (~32 MB of float64).
KDE_CHUNK_ELEMENTS = 4_000_000
#: Bootstrap resamples are drawn in chunks of about this many diameters (~8 MB of float64).
BOOTSTRAP_CHUNK_ELEMENTS = 1_000_000
#: Square nanometres in a square micrometre.
NM2_PER_UM2 = 1e6
#: Percentiles reported as d10, d50 and d90.
DECILE_PERCENTILES = (10, 50, 90)

#: Rayleigh scattering grows as d**6: the weight of a vesicle in a DLS Z-average.
Z_AVERAGE_EXPONENT = 6

#: Weight of a vesicle cut by the image edge in ``vesicles_per_um2``: the chance that its centre lies inside.
EDGE_CUT_WEIGHT = 0.5

#: Morphology classes counted by :func:`size_statistics`, in report order.
MORPHOLOGIES = ("round", "cup", "irregular")

#: Exponent of the diameter used by each weighting of a size distribution.
WEIGHT_EXPONENTS = {"number": 0, "volume": 3, "intensity": 6}

Weighting = Literal["number", "volume", "intensity"]

#: A given histogram range that is a whole number of bins within this relative rounding is not given an extra bin.
RANGE_BIN_TOLERANCE = 1e-9

#: Columns of :func:`weighted_histogram`, in order.
HISTOGRAM_COLUMNS = ("bin_left_nm", "bin_right_nm", "count", "weight", "fraction")

#: Keys of :func:`size_statistics`, in order (also the columns of ``summary.csv``).
STATISTICS_KEYS = (
    "n",
    "n_excluded_border",
    "mean_diameter_nm",
    "sd_diameter_nm",
    "median_diameter_nm",
    "mode_diameter_nm",
    "d10_nm",
    "d50_nm",
    "d90_nm",
    "span",
    "cv",
    "pdi",
    "mean_ci95_low_nm",
    "mean_ci95_high_nm",
    "median_ci95_low_nm",
    "median_ci95_high_nm",
    "volume_weighted_mean_diameter_nm",
    "intensity_weighted_mean_diameter_nm",
    *(f"n_{m}" for m in MORPHOLOGIES),
    *(f"fraction_{m}" for m in MORPHOLOGIES),
    "fraction_touching",
    "size_range_low_nm",
    "size_range_high_nm",
    "fraction_in_size_range",
    "analysed_area_um2",
    "vesicles_per_um2",
)


def too_few_for_interval(n: int) -> str:
    """What stands in place of a bootstrap interval of ``n`` vesicles, below :data:`MIN_N_FOR_INTERVAL`.

    Parameters
    ----------
    n : int
        Vesicles counted.

    Returns
    -------
    str
        ``"too few vesicles for an interval (n = 2; at least 10)"``.
    """
    return f"too few vesicles for an interval (n = {n}; at least {MIN_N_FOR_INTERVAL})"


def _diameters(values: Any, *, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array, refusing non-finite or negative entries."""
    d = np.asarray(values, dtype=float).ravel()
    bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        raise ValueError(
            f"`{name}` holds {int(bad.sum())} non-finite or negative diameter(s) "
            f"(first: {float(d[bad][0])}); drop those rows before computing statistics"
        )
    return d


def z_average_equivalent_diameter(diameters_nm: Any) -> float:
    """The diameter a DLS Z-average reports for these vesicles: the intensity-weighted harmonic mean.

    The cumulant Z-average (ISO 22412) is the harmonic mean of the diameters weighted by scattered
    intensity; for Rayleigh scatterers (intensity ∝ d**6) that is sum(d**6) / sum(d**5), somewhat below
    the arithmetic intensity-weighted mean sum(d**7) / sum(d**6).

    Parameters
    ----------
    diameters_nm : (N,) array_like of float
        Vesicle diameters in nanometres.

    Returns
    -------
    float
        In nanometres; NaN for no vesicles.
    """
    d = _diameters(diameters_nm, name="diameters_nm")
    if d.size == 0 or d.max() <= 0:
        return float("nan")
    s = d / d.max()  # scaled so that d**6 cannot overflow
    return float(d.max() * (s**Z_AVERAGE_EXPONENT).sum() / (s ** (Z_AVERAGE_EXPONENT - 1)).sum())


def weighted_mean_diameter(diameters_nm: Any, *, weighting: Weighting = "number") -> float:
    """Mean diameter of a distribution weighted by number, volume or intensity.

    Parameters
    ----------
    diameters_nm : (N,) array_like of float
        Vesicle diameters in nanometres.
    weighting : {"number", "volume", "intensity"}
        ``"number"`` gives the arithmetic mean; ``"volume"`` weights each
        vesicle by d**3, giving sum(d**4) / sum(d**3); ``"intensity"`` weights
        by d**6, giving sum(d**7) / sum(d**6).

    Returns
    -------
    float
        The weighted mean in nanometres; NaN for no vesicles.
    """
    k = _exponent(weighting)
    d = _diameters(diameters_nm, name="diameters_nm")
    if d.size == 0:
        return float("nan")
    # Scale by the largest diameter so d**7 cannot overflow for any sensible input.
    scale = d.max() if d.max() > 0 else 1.0
    s = d / scale
    w = s**k
    total = w.sum()
    if total == 0:
        return float("nan")
    return float(scale * (w * s).sum() / total)


def _exponent(weighting: str) -> int:
    try:
        return WEIGHT_EXPONENTS[weighting]
    except KeyError:
        raise ValueError(f"unknown weighting {weighting!r}; use one of {', '.join(WEIGHT_EXPONENTS)}") from None


def weighted_histogram(
    diameters_nm: Any,
    *,
    bin_width_nm: float,
    weighting: Weighting = "number",
    range_nm: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Histogram of diameters with number, volume or intensity weighting.

    Without ``range_nm`` the bins are ``[k * bin_width_nm, (k + 1) *
    bin_width_nm)`` aligned on zero, so that histograms of different samples
    share edges. With ``range_nm`` they start at its lower end and run in steps
    of the bin width until they reach its upper end (the last bin ends past it
    when the range is not a whole number of bins).

    Parameters
    ----------
    diameters_nm : (N,) array_like of float
        Vesicle diameters in nanometres.
    bin_width_nm : float
        Bin width in nanometres (positive).
    weighting : {"number", "volume", "intensity"}
        Each vesicle contributes d**0, d**3 or d**6 to its bin.
    range_nm : (float, float), optional
        Lower and upper diameter covered by the bins; by default the bins
        span the data.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin_left_nm``, ``bin_right_nm``, ``count`` (number
        of vesicles in the bin, int), ``weight`` (sum of the weights) and
        ``fraction`` (weight / total weight of *all* the diameters given: it
        sums to 1 when the bins hold every vesicle, to less when ``range_nm``
        leaves some out; 0 when empty).
    """
    width = float(bin_width_nm)
    if not np.isfinite(width) or width <= 0:
        raise ValueError(f"bin width must be a positive number of nm, got {bin_width_nm!r}")
    k = _exponent(weighting)
    d = _diameters(diameters_nm, name="diameters_nm")
    if range_nm is not None:
        lo, hi = float(range_nm[0]), float(range_nm[1])
        if not hi > lo:
            raise ValueError(f"range_nm must be (low, high) with high > low, got {range_nm!r}")
    elif d.size:
        lo, hi = float(d.min()), float(d.max())
    else:
        return pd.DataFrame(
            {
                "bin_left_nm": pd.Series(dtype=float),
                "bin_right_nm": pd.Series(dtype=float),
                "count": pd.Series(dtype="int64"),
                "weight": pd.Series(dtype=float),
                "fraction": pd.Series(dtype=float),
            }
        )
    if range_nm is not None:
        # A given range is where the reader's axis starts: the bins start there too.
        n_bins = max(1.0, np.ceil((hi - lo) / width * (1 - RANGE_BIN_TOLERANCE)))
        if n_bins > MAX_HISTOGRAM_BINS:
            raise ValueError(f"bin width {width} nm gives {n_bins:.0f} bins over {lo:g}-{hi:g} nm; use a wider bin")
        edges = lo + np.arange(n_bins + 1) * width
    else:
        # Data-driven bins are aligned on zero and hold the maximum.
        first = np.floor(lo / width)
        last = np.floor(hi / width) + 1
        if last - first > MAX_HISTOGRAM_BINS:
            raise ValueError(
                f"bin width {width} nm gives {last - first:.0f} bins over {lo:g}-{hi:g} nm; use a wider bin"
            )
        edges = np.arange(first, last + 1) * width
    scale = d.max() if d.size and d.max() > 0 else 1.0
    weights = (d / scale) ** k
    counts, _ = np.histogram(d, bins=edges)
    summed, _ = np.histogram(d, bins=edges, weights=weights)
    total = weights.sum()
    fraction = summed / total if total > 0 else np.zeros_like(summed)
    return pd.DataFrame(
        {
            "bin_left_nm": edges[:-1],
            "bin_right_nm": edges[1:],
            "count": counts.astype("int64"),
            # Report weights in nm**k so they mean something on their own.
            "weight": summed * scale**k,
            "fraction": fraction,
        }
    )


def gaussian_kde_1d(samples: np.ndarray, *, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Normalised weights and Silverman's rule-of-thumb bandwidth of a 1-D Gaussian KDE.

    Bandwidth = 0.9 x min(SD, IQR / 1.34) x n_eff**(-1/5) (R's ``bw.nrd0``),
    with the weighted SD (``aweights`` convention of :func:`numpy.cov`), the
    weighted quartiles, and n_eff = 1 / sum(w**2) for weights normalised to
    sum 1; the SD alone when the quartiles coincide. The interquartile range
    keeps a long tail or a second population from widening the kernel until
    the mode leaves the data.

    Parameters
    ----------
    samples : (N,) array_like of float
        Data points (e.g. diameters in nm); at least two distinct values.
    weights : (N,) array_like of float, optional
        Non-negative weight per point (e.g. d**3 for volume weighting).

    Returns
    -------
    samples : (N,) ndarray
    weights : (N,) ndarray, summing to 1
    bandwidth : float, in the units of ``samples``
    """
    x = np.asarray(samples, dtype=float).ravel()
    w = np.full(x.size, 1.0 / x.size) if weights is None else np.asarray(weights, dtype=float).ravel()
    w = w / w.sum()
    n_eff = 1.0 / np.sum(w**2)
    mean = np.sum(w * x)
    variance = np.sum(w * (x - mean) ** 2) / (1.0 - np.sum(w**2))
    sd = float(np.sqrt(variance))
    spread = min(sd, _weighted_iqr(x, w) / NORMAL_IQR_PER_SD) or sd
    return x, w, float(SILVERMAN_FACTOR * spread * n_eff**SCOTT_EXPONENT)


def _weighted_iqr(x: np.ndarray, w: np.ndarray) -> float:
    """Interquartile range of ``x`` under weights ``w`` (summing to 1), by midpoint interpolation."""
    order = np.argsort(x)
    positions = np.cumsum(w[order]) - 0.5 * w[order]
    low, high = np.interp(QUARTILES, positions, x[order])
    return float(high - low)


def _kde_evaluate(x: np.ndarray, w: np.ndarray, bandwidth: float, grid: np.ndarray) -> np.ndarray:
    """Evaluate a Gaussian KDE on ``grid`` in chunks (bounded memory)."""
    out = np.empty(grid.size)
    chunk = max(1, KDE_CHUNK_ELEMENTS // max(1, x.size))
    norm = 1.0 / (bandwidth * np.sqrt(2.0 * np.pi))
    for start in range(0, grid.size, chunk):
        g = grid[start : start + chunk, None]
        out[start : start + chunk] = norm * (np.exp(-0.5 * ((g - x[None, :]) / bandwidth) ** 2) @ w)
    return out


def kde_mode(diameters_nm: Any, *, weighting: Weighting = "number") -> float:
    """Most probable diameter from a Gaussian kernel density estimate.

    Parameters
    ----------
    diameters_nm : (N,) array_like of float
        Vesicle diameters in nanometres.
    weighting : {"number", "volume", "intensity"}
        Weight each vesicle by d**0, d**3 or d**6 (the peak of a volume- or
        intensity-weighted distribution).

    Returns
    -------
    float
        The arg-max of the KDE (Silverman's bandwidth) in nanometres. For one
        vesicle, or all diameters equal, that diameter; NaN for none.
    """
    k = _exponent(weighting)
    d = _diameters(diameters_nm, name="diameters_nm")
    if d.size == 0:
        return float("nan")
    if d.size == 1 or np.ptp(d) == 0:
        return float(d[0])
    x, w, bandwidth = gaussian_kde_1d(d, weights=(d / d.max()) ** k if k else None)
    margin = KDE_GRID_MARGIN_BANDWIDTHS * bandwidth
    grid = np.linspace(d.min() - margin, d.max() + margin, KDE_GRID_POINTS)
    return float(grid[np.argmax(_kde_evaluate(x, w, bandwidth, grid))])


def kde_curve(diameters_nm: Any, grid_nm: Any, *, weighting: Weighting = "number") -> np.ndarray:
    """Gaussian KDE (Silverman's bandwidth) of the diameters evaluated on ``grid_nm``.

    Parameters
    ----------
    diameters_nm : (N,) array_like of float
        Vesicle diameters in nanometres; at least two distinct values.
    grid_nm : (M,) array_like of float
        Diameters at which to evaluate the density, in nanometres.
    weighting : {"number", "volume", "intensity"}
        Weight each vesicle by d**0, d**3 or d**6.

    Returns
    -------
    (M,) ndarray of float
        Probability density in 1/nm (integrates to 1 over all diameters);
        zeros when fewer than two distinct diameters are given.
    """
    d = _diameters(diameters_nm, name="diameters_nm")
    grid = np.asarray(grid_nm, dtype=float)
    k = _exponent(weighting)
    if d.size < 2 or np.ptp(d) == 0:
        return np.zeros_like(grid)
    x, w, bandwidth = gaussian_kde_1d(d, weights=(d / d.max()) ** k if k else None)
    return _kde_evaluate(x, w, bandwidth, grid.ravel()).reshape(grid.shape)


def kde_bandwidth(diameters_nm: Any, *, weighting: Weighting = "number") -> float:
    """The bandwidth (nm) of the Gaussian KDE that :func:`kde_curve` and :func:`kde_mode` use.

    Parameters
    ----------
    diameters_nm : (N,) array_like of float
        Vesicle diameters in nanometres.
    weighting : {"number", "volume", "intensity"}
        Weight each vesicle by d**0, d**3 or d**6.

    Returns
    -------
    float
        Silverman's bandwidth in nanometres (:func:`gaussian_kde_1d`); NaN for fewer than two distinct
        diameters.
    """
    d = _diameters(diameters_nm, name="diameters_nm")
    k = _exponent(weighting)
    if d.size < 2 or np.ptp(d) == 0:
        return float("nan")
    return gaussian_kde_1d(d, weights=(d / d.max()) ** k if k else None)[2]


def bootstrap_ci(
    diameters_nm: Any,
    *,
    statistic: Literal["mean", "median"] = "mean",
    n_boot: int = DEFAULT_TEM_PARAMETERS.n_boot,
    confidence: float = CONFIDENCE,
    rng: int | np.random.Generator | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean or median diameter.

    Parameters
    ----------
    diameters_nm : (N,) array_like of float
        Vesicle diameters in nanometres.
    statistic : {"mean", "median"}
        Which statistic to bootstrap.
    n_boot : int
        Number of resamples (with replacement, each of size N).
    confidence : float
        Coverage of the interval, in (0, 1).
    rng : int or numpy.random.Generator, optional
        Seed or generator for the resampling.

    Returns
    -------
    (float, float)
        Lower and upper bounds in nanometres; NaN for fewer than 2 vesicles. The same for any order of
        ``diameters_nm`` (they are sorted before resampling).
    """
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    if isinstance(n_boot, (bool, np.bool_)) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a whole number of resamples, at least 1, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    # sorted: the interval depends on the vesicles, not on the order of the table's rows (the same micrographs
    # given in another order moved the pooled interval by 0.7 nm)
    d = np.sort(_diameters(diameters_nm, name="diameters_nm"))
    if d.size < 2:
        return float("nan"), float("nan")
    generator = np.random.default_rng(rng)
    func = np.mean if statistic == "mean" else np.median
    # Resample in chunks so memory stays bounded for large tables.
    chunk = max(1, min(int(n_boot), BOOTSTRAP_CHUNK_ELEMENTS // d.size))
    values = np.empty(int(n_boot))
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        idx = generator.integers(0, d.size, size=(m, d.size))
        values[done : done + m] = func(d[idx], axis=1)
        done += m
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def _morphologies(cells: pd.Series) -> np.ndarray:
    """Morphology cells in lower case without surrounding spaces ("Cup " is a cup); ValueError naming a
    value that is none of :data:`MORPHOLOGIES` (blank cells are left uncounted)."""
    words = cells.map(lambda v: str(v).strip().lower() if pd.notna(v) else "")
    unknown = sorted(set(words) - set(MORPHOLOGIES) - {""})
    if unknown:
        raise ValueError(
            f"morphology {', '.join(map(repr, unknown))} is none of {', '.join(MORPHOLOGIES)}; correct those cells "
            "(or blank them to leave the vesicles uncounted by morphology)"
        )
    return words.to_numpy()


def size_statistics(
    table: pd.DataFrame,
    *,
    analysed_area_nm2: float | None = None,
    exclude_border: bool = True,
    size_range_nm: tuple[float, float] = DEFAULT_TEM_PARAMETERS.size_range_nm,
    n_boot: int = DEFAULT_TEM_PARAMETERS.n_boot,
    rng: int | np.random.Generator | None = 0,
    diameter_column: str = "equivalent_diameter_nm",
) -> dict[str, Any]:
    """Size statistics of a vesicle table, as reported in EV papers.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per vesicle with at least ``diameter_column``; optional
        ``morphology`` (``"round"``/``"cup"``/``"irregular"``) and
        ``touches_border`` (bool) columns are used when present, and
        ``touches_other`` (bool) for ``fraction_touching`` (NaN without it, or when a row lacks it).
    analysed_area_nm2 : float, optional
        Area of the micrograph that was searched for vesicles, in nm**2; gives
        ``vesicles_per_um2``. NaN in the result when not given.
    exclude_border : bool
        Drop vesicles with ``touches_border`` true before computing anything
        (their diameters are truncated). They are counted in
        ``n_excluded_border``.
    size_range_nm : (float, float)
        Closed diameter interval whose fraction is reported as
        ``fraction_in_size_range`` (30-150 nm, the exosome range, by default).
    n_boot : int
        Bootstrap resamples for the 95 % confidence intervals.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the bootstrap.
    diameter_column : str
        Column holding the diameter in nanometres.

    Returns
    -------
    dict
        Keys :data:`STATISTICS_KEYS` in that order (see the module docstring
        for every definition): counts are ints, everything else floats (NaN
        where undefined, e.g. SD of one vesicle or any statistic of none).
        Densities are per µm**2 (1 µm**2 = 1e6 nm**2).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"`table` must be a pandas DataFrame, got {type(table).__name__}")
    if diameter_column not in table.columns:
        raise ValueError(
            f"vesicle table has no {diameter_column!r} column (columns: {list(table.columns)}); "
            "pass the table from measure_vesicles or name the diameter column"
        )
    low_nm, high_nm = (float(v) for v in size_range_nm)
    if not high_nm >= low_nm:
        raise ValueError(f"size_range_nm must be (low, high) with high >= low, got {size_range_nm!r}")
    if analysed_area_nm2 is not None and not (np.isfinite(analysed_area_nm2) and analysed_area_nm2 > 0):
        raise ValueError(f"analysed_area_nm2 must be a positive area in nm^2, got {analysed_area_nm2!r}")

    border = (
        truth_values(table["touches_border"]).to_numpy()
        if "touches_border" in table.columns
        else np.zeros(len(table), dtype=bool)
    )
    keep = ~border if exclude_border else np.ones(len(table), dtype=bool)
    kept = table.loc[keep]
    d = _diameters(kept[diameter_column].to_numpy(), name=diameter_column)
    n = int(d.size)

    nan = float("nan")
    out: dict[str, Any] = dict.fromkeys(STATISTICS_KEYS, nan)
    out["n"] = n
    out["n_excluded_border"] = int((~keep).sum())
    out["size_range_low_nm"] = low_nm
    out["size_range_high_nm"] = high_nm
    area_um2 = nan if analysed_area_nm2 is None else float(analysed_area_nm2) / NM2_PER_UM2
    out["analysed_area_um2"] = area_um2
    n_cut = int(border.sum())
    density = (len(table) - n_cut + EDGE_CUT_WEIGHT * n_cut) / area_um2 if np.isfinite(area_um2) else nan
    out["vesicles_per_um2"] = density

    morph = _morphologies(kept["morphology"]) if "morphology" in kept.columns else None
    for m in MORPHOLOGIES:
        count = int((morph == m).sum()) if morph is not None else 0
        out[f"n_{m}"] = count
        out[f"fraction_{m}"] = count / n if (n and morph is not None) else nan

    # unknown (NaN) when any counted vesicle lacks the flag: a table of an older run pooled with newer ones
    if "touches_other" in kept.columns and n and kept["touches_other"].notna().all():
        out["fraction_touching"] = float(truth_values(kept["touches_other"]).mean())

    if n == 0:
        return out

    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else nan
    d10, d50, d90 = (float(v) for v in np.percentile(d, DECILE_PERCENTILES))
    out["mean_diameter_nm"] = mean
    out["sd_diameter_nm"] = sd
    out["median_diameter_nm"] = float(np.median(d))
    # one vesicle has no distribution: no peak of one and no spread (NaN, not a "mode" or "span 0")
    out["mode_diameter_nm"] = kde_mode(d) if n > 1 else nan
    out["d10_nm"], out["d50_nm"], out["d90_nm"] = d10, d50, d90
    out["span"] = (d90 - d10) / d50 if d50 > 0 and n > 1 else nan
    out["cv"] = sd / mean if mean > 0 else nan
    out["pdi"] = (sd / mean) ** 2 if mean > 0 else nan
    if n >= MIN_N_FOR_INTERVAL:
        generator = np.random.default_rng(rng)
        out["mean_ci95_low_nm"], out["mean_ci95_high_nm"] = bootstrap_ci(
            d, statistic="mean", n_boot=n_boot, rng=generator
        )
        out["median_ci95_low_nm"], out["median_ci95_high_nm"] = bootstrap_ci(
            d, statistic="median", n_boot=n_boot, rng=generator
        )
    out["volume_weighted_mean_diameter_nm"] = weighted_mean_diameter(d, weighting="volume")
    out["intensity_weighted_mean_diameter_nm"] = weighted_mean_diameter(d, weighting="intensity")
    out["fraction_in_size_range"] = float(((d >= low_nm) & (d <= high_nm)).mean())
    return out


def statistics_frame(rows: dict[str, dict[str, Any]], *, index_name: str = "image") -> pd.DataFrame:
    """Stack several :func:`size_statistics` results into one tidy table.

    Parameters
    ----------
    rows : dict of str -> dict
        Group name (e.g. image stem, or ``"pooled"``) to its statistics.
    index_name : str
        Name of the first column, holding the group names.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``index_name`` then :data:`STATISTICS_KEYS`.
    """
    records = [{index_name: name, **{k: stats_[k] for k in STATISTICS_KEYS}} for name, stats_ in rows.items()]
    frame = pd.DataFrame.from_records(records, columns=[index_name, *STATISTICS_KEYS])
    int_keys = ["n", "n_excluded_border", *(f"n_{m}" for m in MORPHOLOGIES)]
    frame[int_keys] = frame[int_keys].astype("int64")
    return frame
