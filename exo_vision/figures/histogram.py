"""Publication size histograms of vesicle diameters (matplotlib Figure API, no pyplot).

One function, :func:`size_histogram_figure`, draws one or more groups of
diameters as overlaid histograms, side-by-side panels, violins or boxes, and
returns the bin table behind the drawing so it can be saved beside the figure.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from exo_vision.figures.provenance import CAPTION_PT
from exo_vision.figures.style import GROUP_COLORS, figure_width_mm, journal_figure, journal_style
from exo_vision.measure.size_stats import (
    WEIGHT_EXPONENTS,
    Weighting,
    kde_bandwidth,
    kde_curve,
    kde_mode,
    weighted_histogram,
    weighted_mean_diameter,
)

Layout = Literal["overlay", "side-by-side", "violin", "box"]
LAYOUTS = ("overlay", "side-by-side", "violin", "box")

#: Columns of the bin table returned with the figure.
BIN_TABLE_COLUMNS = ("group", "bin_left_nm", "bin_right_nm", "count", "weight", "fraction", "percent")


#: Most bins one histogram may have.
MAX_BINS = 10_000


#: At most this many tick intervals on the diameter axis.
MAX_DIAMETER_TICKS = 6


def edge_cut_note(n_edge_cut: int) -> str:
    """The legend's line for a group that counts vesicles cut by the image edge (``--include-border``): their
    outlines, and so their sizes, are truncated. "" for none."""
    return f"incl. {n_edge_cut} cut by the image edge (sizes truncated)" if n_edge_cut else ""


def legend_label(
    name: str,
    diameters_nm: np.ndarray,
    *,
    weighting: Weighting = "number",
    range_nm: tuple[float, float] | None = None,
    edge_cut: int = 0,
) -> str:
    """Legend text of one group, its statistics weighted as its bars are.

    Number weighting: n, mean ± SD, KDE mode and D10/D50/D90 in nm. Volume or
    intensity weighting: n, the weighted mean (sum(d**4)/sum(d**3) or
    sum(d**7)/sum(d**6)) and the weighted KDE mode, with the number mean beside
    them, so that the numbers describe the bars they stand next to.

    Parameters
    ----------
    name : str
        Group name (empty for a single unnamed group).
    diameters_nm : (N,) ndarray of float
        The group's diameters in nanometres.
    weighting : {"number", "volume", "intensity"}
        The weighting of the bars.
    range_nm : (float, float), optional
        The drawn diameter range; vesicles outside it are counted in n and
        the legend says how many are not drawn.
    edge_cut : int
        How many of the diameters belong to vesicles cut by the image edge (counted with ``--include-border``):
        a last line says so (:func:`edge_cut_note`).
    """
    label = _statistics_label(name, diameters_nm, weighting=weighting, range_nm=range_nm)
    return f"{label}\n{edge_cut_note(edge_cut)}" if edge_cut else label


def _statistics_label(
    name: str, diameters_nm: np.ndarray, *, weighting: Weighting = "number", range_nm: tuple[float, float] | None = None
) -> str:
    """Legend text of one group's statistics (:func:`legend_label` without the edge line)."""
    d = np.asarray(diameters_nm, dtype=float)
    head = f"{name}: " if name else ""
    if d.size == 0:
        return f"{head}n = 0"
    n = f"n = {d.size}"
    hidden = ""
    if range_nm is not None:
        outside_mask = (d < range_nm[0]) | (d > range_nm[1])
        outside = int(np.count_nonzero(outside_mask))
        if outside and weighting == "number":
            n += f" ({outside} outside the axis)"
        elif outside:
            # the share of the plotted weight the axis hides: one large vesicle can carry most of it
            share = hidden_weight_fraction(d, range_nm, weighting=weighting)
            hidden = f"\n{outside} outside the axis: {100 * share:.1f} % of the {weighting} weight"
    if weighting != "number" and d.size == 1:  # one vesicle: its diameter, no distribution to have a mode
        return f"{head}{n}, {d[0]:.1f} nm; {weighting}-weighted{hidden}"

    def at(value: float) -> str:
        """A diameter, marked when it lies beyond the drawn axis (its bar is not on the figure)."""
        beyond = range_nm is not None and not (range_nm[0] <= value <= range_nm[1])
        return f"{value:.1f} nm" + (" (off the axis)" if beyond else "")

    if weighting != "number":
        # short lines: the legend stays narrower than a single-column axis
        return (
            f"{head}{n}; {weighting}-weighted{hidden}\n"
            f"mean {at(weighted_mean_diameter(d, weighting=weighting))}, "
            f"mode {at(kde_mode(d, weighting=weighting))}\n"
            f"number mean {d.mean():.1f} nm"
        )
    if d.size == 1:
        return f"{head}{n}, {d[0]:.1f} nm"
    d10, d50, d90 = np.percentile(d, [10, 50, 90])
    mean = at(d.mean()).replace(" nm", "", 1)
    return (
        f"{head}{n}, {mean} ± {d.std(ddof=1):.1f} nm\n"
        f"mode {at(kde_mode(d))}, D10/D50/D90 {d10:.0f}/{d50:.0f}/{d90:.0f} nm"
    )


def hidden_weight_fraction(
    diameters_nm: np.ndarray, range_nm: tuple[float, float], *, weighting: Weighting = "number"
) -> float:
    """The share of a group's weight (1, d**3 or d**6 per vesicle) carried by the vesicles outside ``range_nm``.

    Parameters
    ----------
    diameters_nm : (N,) ndarray of float
        Diameters in nanometres.
    range_nm : (float, float)
        The drawn diameter range (nm), ends included.
    weighting : {"number", "volume", "intensity"}
        The weighting of the bars.

    Returns
    -------
    float
        0 to 1; NaN for no vesicles.
    """
    d = np.asarray(diameters_nm, dtype=float)
    if d.size == 0:
        return float("nan")
    # relative to the largest diameter: d**6 of micrometre-sized objects stays finite
    weights = (d / d.max()) ** WEIGHT_EXPONENTS[weighting]
    outside = (d < range_nm[0]) | (d > range_nm[1])
    return float(weights[outside].sum() / weights.sum())


def _y_label(weighting: str, percent: bool) -> str:
    if weighting == "number":
        return "Vesicles (%)" if percent else "Vesicles (count)"
    return f"{weighting.capitalize()}-weighted fraction" + (" (%)" if percent else "")


def _heights(table: pd.DataFrame, weighting: str, percent: bool) -> np.ndarray:
    if weighting == "number" and not percent:
        return table["count"].to_numpy(dtype=float)
    return table["fraction"].to_numpy(dtype=float) * (100.0 if percent else 1.0)


def _kde_line(d: np.ndarray, grid: np.ndarray, weighting: Weighting, percent: bool, bin_width_nm: float) -> np.ndarray:
    """KDE scaled to the bar heights (counts, fraction or percent per bin)."""
    if d.size < 2 or np.ptp(d) == 0:
        return np.zeros_like(grid)
    density = kde_curve(d, grid, weighting=weighting)
    if weighting == "number" and not percent:
        return density * bin_width_nm * d.size
    return density * bin_width_nm * (100.0 if percent else 1.0)


#: Height (mm) of one more line of the diameter axis label (8 pt at 1.2 line spacing).
LABEL_LINE_MM = 3.4


def _bandwidth_words(data: dict[str, np.ndarray], weighting: Weighting) -> str:
    """A second line of the diameter axis label, ``"KDE bandwidth 18.6 nm"`` (one per group, in order); "" when
    no group has a curve."""
    widths = [kde_bandwidth(d, weighting=weighting) for d in data.values()]
    shown = [f"{w:.3g}" for w in widths if np.isfinite(w)]
    if not shown:
        return ""
    return f"\nKDE bandwidth{'s' if len(shown) > 1 else ''} {', '.join(shown)} nm"


#: Room above the tallest bar, as a factor of its height.
BAR_HEADROOM = 1.08
#: A legend taller than this fraction of its axis goes below the axis instead of over the bars.
MAX_LEGEND_AXIS_FRACTION = 0.6

#: Violin and box plots slant their group names by this angle (degrees) when they show more groups than
#: :data:`SLANT_ABOVE_GROUPS`.
SLANT_DEG = 35
SLANT_ABOVE_GROUPS = 3
#: The figure title's size (pt), and the width of one of its characters in ems, to wrap it to the figure.
TITLE_PT = 8
TITLE_CHAR_EM = 0.6
POINTS_PER_INCH = 72
#: A title line holds at least this many characters.
MIN_TITLE_CHARS = 20


def legend_above_the_bars(fig: Figure, ax: Any, tallest: float, *, fontsize: Any = None) -> bool:
    """Draw the legend in the upper right and set the y limit so that every bar and curve stays below it.

    The legend's size is measured as drawn (its lines are a fixed number of points, so it takes more of a
    short panel than of a tall one); a legend taller than :data:`MAX_LEGEND_AXIS_FRACTION` of the axis, or
    wider than the axis (it would cover the y tick labels), goes below the axis instead.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure of ``ax``.
    ax : matplotlib.axes.Axes
        The histogram's axes, its labelled artists drawn.
    tallest : float
        The highest bar or curve, in the y axis's units.
    fontsize : str or float, optional
        The legend's font size; matplotlib's default when None.

    Returns
    -------
    bool
        True when the legend is inside the axis (above the bars), False when it went below.
    """
    legend = ax.legend(loc="upper right", handlelength=1.0, fontsize=fontsize)
    if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure: give it the canvas it is saved with
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    fig.draw_without_rendering()  # the layout engine places the axes first: measure against where they end up
    box, axes_box = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    height = box.height / max(axes_box.height, 1.0)
    # a legend wider than its axes would run left over the y tick labels (or off the figure)
    too_wide = box.width > axes_box.width or box.x0 < axes_box.x0
    if height > MAX_LEGEND_AXIS_FRACTION or too_wide:
        legend.remove()
        if len(fig.axes) == 1:  # the figure's own legend, in a margin the layout keeps for it (never clipped)
            fig.legend(loc="outside lower center", handlelength=1.0, ncols=1, frameon=False, fontsize=fontsize)
        else:
            ax.legend(
                loc="upper center",
                bbox_to_anchor=(0.5, -0.25),
                handlelength=1.0,
                ncols=1,
                frameon=False,
                fontsize=fontsize,
            )
        ax.set_ylim(0.0, tallest * BAR_HEADROOM)
        # the layout engine adjusts from where the last layout left the axes: once more from the new legend,
        # else the saved figure clipped the y label and the last tick label
        fig.draw_without_rendering()
        return False
    ax.set_ylim(0.0, tallest * BAR_HEADROOM / (1.0 - height))
    return True


def _refit_under_legend(fig: Figure, ax: Any, tallest: float) -> None:
    """Set the y limit again so that the bars stay below the legend in the upper right, measured now (another
    panel's legend moved below its axis shrinks this axis, and the legend takes more of it)."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    legend = ax.get_legend()
    height = legend.get_window_extent(renderer).height / max(ax.get_window_extent(renderer).height, 1.0)
    ax.set_ylim(0.0, tallest * BAR_HEADROOM / (1.0 - min(height, MAX_LEGEND_AXIS_FRACTION)))


def size_histogram_figure(
    groups: Mapping[str, Any] | Any,
    *,
    bin_width_nm: float = 10.0,
    weighting: Literal["number", "volume", "intensity"] = "number",
    percent: bool = False,
    kde: bool = False,
    layout: Layout = "overlay",
    width: Literal["single", "double"] | float = "single",
    range_nm: tuple[float, float] | None = None,
    title: str | None = None,
    edge_cut: Mapping[str, int] | None = None,
    caption: str | None = None,
) -> tuple[Figure, pd.DataFrame]:
    """Draw a journal-style size distribution of one or more vesicle groups.

    Parameters
    ----------
    groups : mapping of str -> (N,) array_like, or (N,) array_like
        Diameters in nanometres per group (e.g. per image or condition); a
        bare array is one unnamed group.
    bin_width_nm : float
        Histogram bin width in nanometres (bins aligned on 0; stated on the axis).
    weighting : {"number", "volume", "intensity"}
        Weight of each vesicle: 1, d**3 or d**6 (what DLS sees).
    percent : bool
        Plot percent instead of counts (number weighting) or fractions.
    kde : bool
        Add a Gaussian kernel density line, scaled to the bars (density x bin width x n for counts); its
        bandwidth (Silverman's, nm) is given on the diameter axis.
    layout : {"overlay", "side-by-side", "violin", "box"}
        Overlaid step histograms on one axes, one histogram panel per group,
        or a violin / box plot per group (diameters, number-weighted).
    width : {"single", "double"} or float
        85 mm, 180 mm or a width in mm.
    range_nm : (float, float), optional
        Diameter range of the bins; the data range by default. Vesicles
        outside it are not drawn but stay in n and in the percentages (which
        are of all vesicles), and each legend entry says how many lie outside.
    title : str, optional
        Figure title.
    edge_cut : mapping of str -> int, optional
        Per group, how many of its diameters belong to vesicles cut by the image edge (counted with
        ``--include-border``, their sizes truncated); the group's legend entry says so (histogram layouts).
    caption : str, optional
        Text under the axes (its own line breaks kept), e.g. the provenance of
        :func:`~exo_vision.figures.provenance.provenance_caption`; the figure grows by its lines.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure (300 dpi); save with :func:`exo_vision.figures.style.save_figure`.
    bins : pandas.DataFrame
        One row per group and bin: ``BIN_TABLE_COLUMNS``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if weighting not in WEIGHT_EXPONENTS:
        raise ValueError(f"unknown weighting {weighting!r}; use number, volume or intensity")
    if layout in ("violin", "box") and weighting != "number":
        raise ValueError(
            f"a {layout} plot shows every vesicle once (by number): it cannot be weighted by {weighting}; use "
            "layout='overlay' or 'side-by-side'"
        )
    if not isinstance(groups, Mapping):
        groups = {"": groups}
    if not groups:
        raise ValueError("no groups of diameters to plot; pass at least one table with vesicles")
    data = {str(name): np.asarray(values, dtype=float).ravel() for name, values in groups.items()}
    for name, d in data.items():
        if (~np.isfinite(d)).any():
            raise ValueError(f"group {name!r} holds non-finite diameters; drop those rows first")
    if not (np.isfinite(bin_width_nm) and bin_width_nm > 0):
        raise ValueError(f"the bin width must be a positive number of nm, got {bin_width_nm!r}")
    if range_nm is not None and not (
        len(range_nm) == 2 and np.isfinite(range_nm).all() and 0 <= range_nm[0] < range_nm[1]
    ):
        raise ValueError(f"the range must be two finite diameters 0 <= LOW < HIGH in nm, got {tuple(range_nm)!r}")
    everything = np.concatenate(list(data.values())) if data else np.zeros(0)
    if range_nm is None and everything.size:
        range_nm = (
            float(np.floor(everything.min() / bin_width_nm) * bin_width_nm),
            float((np.floor(everything.max() / bin_width_nm) + 1) * bin_width_nm),
        )
    elif range_nm is None:
        range_nm = (0.0, float(bin_width_nm))

    n_bins = (range_nm[1] - range_nm[0]) / bin_width_nm
    if not np.isfinite(n_bins) or n_bins > MAX_BINS:
        raise ValueError(
            f"a bin width of {bin_width_nm:g} nm over {range_nm[0]:g}-{range_nm[1]:g} nm gives "
            f"{n_bins:.3g} bins, more than {MAX_BINS}; use a wider bin (--bin-width-nm, default 10) or a --range-nm"
        )

    tables = []
    for name, d in data.items():
        t = weighted_histogram(d, bin_width_nm=bin_width_nm, weighting=weighting, range_nm=range_nm)
        t.insert(0, "group", name)
        t["percent"] = 100.0 * t["fraction"]
        tables.append(t)
    bins = pd.concat(tables, ignore_index=True)[list(BIN_TABLE_COLUMNS)]

    # The axis spans the bins, which may end past a given range (not a whole number of bins).
    axis_nm = (float(bins["bin_left_nm"].min()), float(bins["bin_right_nm"].max()))
    names = list(data)
    n_panels = len(names) if layout == "side-by-side" else 1
    x_label = f"Diameter (nm); bin width {bin_width_nm:g} nm"
    if kde and layout in ("overlay", "side-by-side"):  # how far the curve smooths: a spike in one bin stays low
        x_label += _bandwidth_words(data, weighting)
    height_mm = min(0.75 * figure_width_mm(width), 120.0) if n_panels == 1 else min(45.0 * n_panels, 220.0)
    # a second label line gets room of its own: the axes keep their height, and the legend its place
    extra_lines = x_label.count("\n") + (caption.count("\n") + 1 if caption else 0)
    fig = journal_figure(width, height_mm=height_mm + LABEL_LINE_MM * extra_lines)
    grid = np.linspace(axis_nm[0], axis_nm[1], 512)
    with journal_style():
        if title:  # first: the legends are fitted to the axes the title leaves
            # wrapped to the figure's width (a title of 50 characters ran off both sides of a single column)
            width_chars = max(MIN_TITLE_CHARS, int(fig.get_figwidth() * POINTS_PER_INCH / (TITLE_CHAR_EM * TITLE_PT)))
            fig.suptitle(textwrap.fill(title, width_chars), fontsize=TITLE_PT)
        if caption:  # under the axes, where constrained layout keeps room for it
            fig.supxlabel(caption, fontsize=CAPTION_PT, x=0.01, ha="left", multialignment="left")
        if layout in ("overlay", "side-by-side"):
            axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]
            tallest = np.zeros(len(axes))
            for i, name in enumerate(names):
                ax = axes[i if layout == "side-by-side" else 0]
                color = GROUP_COLORS[i % len(GROUP_COLORS)]
                t = bins[bins["group"] == name]
                heights = _heights(t, weighting, percent)
                edges = np.r_[t["bin_left_nm"].to_numpy(), t["bin_right_nm"].to_numpy()[-1:]]
                label = legend_label(
                    name, data[name], weighting=weighting, range_nm=axis_nm, edge_cut=(edge_cut or {}).get(name, 0)
                )
                if layout == "overlay" and len(names) > 1:
                    ax.stairs(heights, edges, color=color, linewidth=1.0, label=label)
                    ax.stairs(heights, edges, color=color, fill=True, alpha=0.2)
                else:
                    ax.stairs(heights, edges, color=color, fill=True, alpha=0.55, label=label)
                    ax.stairs(heights, edges, color="black", linewidth=0.5)
                panel = i if layout == "side-by-side" else 0
                tallest[panel] = max(tallest[panel], float(np.max(heights, initial=0.0)))
                if kde:
                    line = _kde_line(data[name], grid, weighting, percent, bin_width_nm)
                    ax.plot(grid, line, color=color, linewidth=1.2)
                    tallest[panel] = max(tallest[panel], float(np.nanmax(line, initial=0.0)))
                ax.set_ylabel(_y_label(weighting, percent))
                if weighting == "number" and not percent:  # a count of vesicles is a whole number
                    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set_xlim(axis_nm)
                # few ticks, written without trailing zeros ("140", "142.5"): labels never run together
                ax.xaxis.set_major_locator(MaxNLocator(nbins=MAX_DIAMETER_TICKS, steps=[1, 2, 2.5, 5, 10]))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
            axes[-1].set_xlabel(x_label)  # before the legends are fitted: a two-line label shrinks the axes
            inside = []
            for panel, ax in enumerate(axes):
                # Limits are set once every group is drawn (setting them per group froze the
                # top at the first group's height and clipped taller groups).
                inside.append(legend_above_the_bars(fig, ax, max(tallest[panel], 1e-12)))
            if len(axes) > 1 and not all(inside):
                for panel, ax in enumerate(axes):
                    if inside[panel]:
                        _refit_under_legend(fig, ax, max(tallest[panel], 1e-12))
        else:
            ax = fig.subplots()
            values = [data[n] if data[n].size else np.array([np.nan]) for n in names]
            positions = np.arange(1, len(names) + 1)
            if layout == "violin":
                drawable = [v for v in values if np.isfinite(v).sum() > 1]
                pos = [p for p, v in zip(positions, values, strict=True) if np.isfinite(v).sum() > 1]
                if drawable:
                    parts = ax.violinplot(drawable, positions=pos, showmedians=True, widths=0.8)
                    bodies: list[Any] = list(parts["bodies"])  # type: ignore[call-overload]
                    for i, body in enumerate(bodies):
                        body.set_facecolor(GROUP_COLORS[i % len(GROUP_COLORS)])
                        body.set_alpha(0.6)
                # A group of one vesicle has no density to draw: its diameter is a point.
                for p, v in zip(positions, values, strict=True):
                    if np.isfinite(v).sum() == 1:
                        ax.plot([p], v[np.isfinite(v)], marker="o", markersize=3, color="black", linestyle="none")
            else:
                ax.boxplot(values, positions=positions, widths=0.6, showfliers=True, flierprops={"markersize": 2})
            # n under each group's name (one title line of every n ran off both edges); slanted names end at
            # their tick, so that long ones do not run into each other
            slant = len(names) > SLANT_ABOVE_GROUPS
            ax.set_xticks(
                positions,
                [f"{n or 'all'}\nn={data[n].size}" for n in names],
                rotation=SLANT_DEG if slant else 0,
                ha="right" if slant else "center",
                rotation_mode="anchor",
            )
            ax.set_ylabel("Diameter (nm)")
    return fig, bins
