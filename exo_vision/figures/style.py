"""Journal figure style: sans-serif 7-9 pt, single (85 mm) and double (180 mm) column widths.

Titles 9 pt, axis labels 8 pt, tick labels 7.5 pt, legends 7 pt.

Used through :func:`journal_figure`, which makes a :class:`matplotlib.figure.Figure`
directly (never pyplot, so nothing here touches a GUI backend).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Literal

import matplotlib
from matplotlib.figure import Figure

MM_PER_INCH = 25.4
#: Figure widths of the common journal layouts, in millimetres.
COLUMN_WIDTHS_MM = {"single": 85.0, "double": 180.0}
#: Raster resolution for PNG output, dots per inch.
PRINT_DPI = 300

#: Morphology colours shared by the overlay and the figures (RGB 0-255).
MORPHOLOGY_RGB = {"round": (51, 140, 255), "cup": (255, 153, 26), "irregular": (230, 51, 204)}

#: A colour-blind-safe cycle (Okabe & Ito) for groups.
GROUP_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

#: rcParams applied while a figure is built.
JOURNAL_RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["Arial", "Helvetica", "Liberation Sans", "DejaVu Sans"],
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "lines.linewidth": 1.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "exo-vision",  # stable element ids: identical SVG bytes between runs
    "pdf.fonttype": 42,
    "savefig.dpi": PRINT_DPI,
}

#: Metadata that keeps saved files byte-identical between runs (no creation dates).
REPRODUCIBLE_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}, "png": {}}


@contextmanager
def journal_style() -> Iterator[None]:
    """Context in which new matplotlib artists take the journal style."""
    with matplotlib.rc_context(JOURNAL_RC):  # type: ignore[arg-type]  # matplotlib types rc keys as a Literal union
        yield


def figure_width_mm(width: Literal["single", "double"] | float) -> float:
    """Width in mm of a named column layout, or the number itself.

    Parameters
    ----------
    width : {"single", "double"} or float
        Named layout, or a width in millimetres.
    """
    if isinstance(width, str):
        try:
            return COLUMN_WIDTHS_MM[width]
        except KeyError:
            raise ValueError(f"unknown figure width {width!r}; use 'single', 'double' or a number of mm") from None
    value = float(width)
    if not value > 0:
        raise ValueError(f"figure width must be a positive number of mm, got {width!r}")
    return value


def journal_figure(width: Literal["single", "double"] | float = "single", *, height_mm: float | None = None) -> Figure:
    """A new Figure sized for a journal column.

    Parameters
    ----------
    width : {"single", "double"} or float
        85 mm, 180 mm, or a width in millimetres.
    height_mm : float, optional
        Height in millimetres; 0.75 x width by default (at most 120 mm).

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save with :func:`save_figure`.
    """
    w = figure_width_mm(width)
    h = float(height_mm) if height_mm is not None else min(0.75 * w, 120.0)
    with journal_style():
        return Figure(figsize=(w / MM_PER_INCH, h / MM_PER_INCH), dpi=PRINT_DPI, layout="constrained")


def save_figure(fig: Figure, path: str | Path | BinaryIO, *, fmt: str | None = None) -> None:
    """Save ``fig`` reproducibly (no embedded dates) at 300 dpi.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str, Path or binary file object
        Destination; the format comes from ``fmt`` or the suffix (png, svg, pdf).
    fmt : str, optional
        Override of the format.
    """
    if fmt is None and not isinstance(path, (str, Path)):
        raise ValueError("pass fmt= ('png', 'svg' or 'pdf') when saving to a file object")
    kind = (fmt or str(path).rsplit(".", 1)[-1]).lower()
    if kind not in REPRODUCIBLE_METADATA:
        raise ValueError(f"cannot save a figure as {kind!r} ({path}); use .png, .svg or .pdf")
    with journal_style():
        if kind != "svg":
            fig.savefig(path, format=kind, dpi=PRINT_DPI, metadata=REPRODUCIBLE_METADATA[kind] or None)
            return
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", dpi=PRINT_DPI, metadata=REPRODUCIBLE_METADATA["svg"])
    data = canonical_svg_ids(buffer.getvalue()).encode("utf-8")
    if isinstance(path, (str, Path)):
        Path(path).write_bytes(data)
    else:
        path.write(data)


#: matplotlib's hashed SVG element ids: clip paths (``p``), path markers (``m``),
#: hatches (``h``) and images, ten hex digits after the prefix.
_HASHED_SVG_ID = re.compile(r"\b([a-zA-Z]{1,3})([0-9a-f]{10})\b")


def canonical_svg_ids(svg: str) -> str:
    """Replace matplotlib's hashed element ids by ids numbered in order of appearance.

    matplotlib derives clip-path and marker ids from a hash of the object's
    string form, which for some objects includes memory addresses, so two saves
    of one figure can differ. Numbering the ids by first appearance makes the
    bytes depend on the drawing alone.

    Parameters
    ----------
    svg : str
        SVG text written by matplotlib.

    Returns
    -------
    str
        The same document with every hashed id (and every reference to it)
        renamed ``<prefix>_<n>``.
    """
    declared = re.findall(r'id="([a-zA-Z]{1,3}[0-9a-f]{10})"', svg)
    renames: dict[str, str] = {}
    for old in declared:
        if old not in renames:
            prefix = old[:-10]
            renames[old] = f"{prefix}_{len(renames) + 1}"
    if not renames:
        return svg
    return _HASHED_SVG_ID.sub(lambda m: renames.get(m.group(0), m.group(0)), svg)
