"""Lane geometry: the :class:`Lane`, its pixels, and lanes from explicit ranges or a count.

A lane is a (possibly tilted) vertical band of constant width inside a strip.
It is kept as editable geometry: :meth:`Lane.polygon_yx` gives its four corners
(row, column), which the napari widget shows as a Shapes layer and can turn
back into a lane with :meth:`Lane.from_polygon` after the user edits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS
from exo_vision.blot.strips import Strip

#: Default fraction of the lane width that is quantified (the centre), to avoid neighbour bleed.
CENTRAL_FRACTION = DEFAULT_BLOT_PARAMETERS.central_fraction

#: A lane's pixels are copied run by run (rows starting at one column) when it has at most this many runs per row.
MAX_SLICED_RUNS_PER_ROW = 0.125

#: A lane polygon: four (row, column) corners.
POLYGON_SHAPE = (4, 2)


@dataclass
class Lane:
    """One lane: a straight, possibly tilted, band of constant width.

    Coordinates are pixel centres: column ``x`` covers ``x - 0.5 .. x + 0.5``.

    Attributes
    ----------
    strip : int
        1-based strip number.
    index : int
        1-based lane number within the strip, left to right.
    y_top_px, y_bottom_px : int
        First row and one past the last row of the lane.
    x_top_px, x_bottom_px : float
        Column of the lane centre at ``y_top_px`` and at ``y_bottom_px - 1``.
    width_px : float
        Full lane width in pixels.
    name : str
        Sample name (e.g. ``"lysate"``); empty when not given.
    """

    strip: int
    index: int
    y_top_px: int
    y_bottom_px: int
    x_top_px: float
    x_bottom_px: float
    width_px: float
    name: str = ""

    @property
    def slope(self) -> float:
        """Change of the centre column per row (0 for a vertical lane)."""
        span = max(self.y_bottom_px - 1 - self.y_top_px, 1)
        return (self.x_bottom_px - self.x_top_px) / span

    def centre_x(self, y: np.ndarray | float) -> np.ndarray:
        """Centre column of the lane at row(s) ``y``."""
        return self.x_top_px + self.slope * (np.asarray(y, dtype=float) - self.y_top_px)

    @property
    def x_centre_px(self) -> float:
        """Centre column at the middle row."""
        return float(self.centre_x((self.y_top_px + self.y_bottom_px - 1) / 2))

    def polygon_yx(self) -> np.ndarray:
        """Corners as a (4, 2) array of (row, column), clockwise from top-left.

        Edges lie on pixel borders, so a napari rectangle drawn from these
        corners covers exactly the lane's pixels.
        """
        half = self.width_px / 2
        top = self.y_top_px - 0.5
        bottom = self.y_bottom_px - 0.5
        xt = self.centre_x(self.y_top_px)
        xb = self.centre_x(self.y_bottom_px - 1)
        return np.array([[top, xt - half], [top, xt + half], [bottom, xb + half], [bottom, xb - half]])

    @classmethod
    def from_polygon(cls, polygon_yx: np.ndarray, *, strip: int, index: int, name: str = "") -> Lane:
        """Build a lane from four (row, column) corners as :meth:`polygon_yx` returns them.

        Parameters
        ----------
        polygon_yx : (4, 2) array_like
            Corners in any order (e.g. edited in napari); the lane is the
            best-fitting tilted box through them.
        strip, index : int
            1-based strip and lane numbers.
        name : str
            Sample name.
        """
        poly = np.asarray(polygon_yx, dtype=float)
        if poly.shape != POLYGON_SHAPE or not np.all(np.isfinite(poly)):
            raise ValueError(f"a lane polygon needs 4 finite (row, column) corners, got array of shape {poly.shape}")
        order = np.argsort(poly[:, 0])
        top, bottom = poly[order[:2]], poly[order[2:]]
        y_top = int(np.floor(top[:, 0].mean() + 0.5 + 0.5))
        y_bottom = int(np.floor(bottom[:, 0].mean() + 0.5 + 0.5))
        if y_bottom - y_top < 2:
            raise ValueError(f"lane polygon {poly.tolist()} is less than 2 rows tall; draw it over the whole lane")
        width = float((np.ptp(top[:, 1]) + np.ptp(bottom[:, 1])) / 2)
        if width < 2:
            raise ValueError(f"lane polygon {poly.tolist()} is less than 2 columns wide")
        return cls(strip, index, y_top, y_bottom, float(top[:, 1].mean()), float(bottom[:, 1].mean()), width, name)

    def columns(self, rows: np.ndarray, *, fraction: float = 1.0) -> np.ndarray:
        """Integer columns covered by the central ``fraction`` of the lane at each row.

        Parameters
        ----------
        rows : (R,) ndarray of int
            Rows to sample.
        fraction : float
            Fraction of the width to keep, centred (1.0 = whole lane).

        Returns
        -------
        (R, W) ndarray of int
            ``W = max(1, round(width_px * fraction))`` columns per row.
        """
        first, n = self.first_columns(rows, fraction=fraction)
        return first[:, None] + np.arange(n)[None, :]

    def first_columns(self, rows: np.ndarray, *, fraction: float = 1.0) -> tuple[np.ndarray, int]:
        """First column of the central ``fraction`` of the lane at each row, and how many columns it spans.

        Returns
        -------
        first : (R,) ndarray of int
            ``columns(rows, fraction=fraction)[:, 0]``.
        n : int
            ``max(1, round(width_px * fraction))``.
        """
        n = max(1, int(np.floor(self.width_px * fraction + 0.5)))
        return np.floor(self.centre_x(rows) - (n - 1) / 2 + 0.5).astype(int), n


def lane_pixels(image: np.ndarray, lane: Lane, *, fraction: float = CENTRAL_FRACTION) -> np.ndarray:
    """Straightened pixels of a lane: one row per image row, central columns only.

    Parameters
    ----------
    image : (M, N) ndarray
        Any image aligned with the blot (signal, background, masks).
    lane : Lane
        The lane.
    fraction : float
        Fraction of the lane width sampled, centred on the lane.

    Returns
    -------
    (R, W) ndarray
        ``R = y_bottom_px - y_top_px`` rows; columns outside the image are
        clipped to its edge.
    """
    rows = np.arange(lane.y_top_px, lane.y_bottom_px)
    first, n = lane.first_columns(rows, fraction=fraction)
    inside = rows.size > 0 and rows[0] >= 0 and rows[-1] < image.shape[0]
    inside = inside and first.min() >= 0 and first.max() + n <= image.shape[1]
    starts = np.flatnonzero(np.diff(first)) + 1
    if inside and starts.size <= MAX_SLICED_RUNS_PER_ROW * rows.size:
        # a lane is vertical or gently tilted: its rows come in a few runs that start at one column, each copied
        # as one rectangle (the same pixels as the indexing below, many times faster)
        out = np.empty((rows.size, n), image.dtype)
        bounds = [0, *starts.tolist(), rows.size]
        y0 = int(rows[0])
        for a, b in zip(bounds[:-1], bounds[1:]):
            x0 = int(first[a])
            out[a:b] = image[y0 + a : y0 + b, x0 : x0 + n]
        return out
    cols = np.clip(first[:, None] + np.arange(n)[None, :], 0, image.shape[1] - 1)
    return image[rows[:, None], cols]


def lanes_from_ranges(
    x_ranges_px: Sequence[tuple[float, float]],
    strip: Strip,
    *,
    names: Sequence[str] | None = None,
    image_width_px: int | None = None,
    warnings: list[str] | None = None,
) -> list[Lane]:
    """Vertical lanes from explicit column ranges.

    Parameters
    ----------
    x_ranges_px : sequence of (x_left, x_right)
        First column and one past the last column of each lane.
    strip : Strip
        Strip the lanes belong to (gives their rows).
    names : sequence of str, optional
        Lane names, one per range.
    image_width_px : int, optional
        Width of the image the strip lies in (columns). Given, a range need only lie inside the image: one
        that reaches past the strip's columns (a membrane edge read inside a dark margin) is measured as given
        and named in ``warnings``. Not given, every range must lie inside the strip.
    warnings : list of str, optional
        Messages for ranges reaching past the strip are appended here (with ``image_width_px``).

    Returns
    -------
    list of Lane

    Raises
    ------
    ValueError
        A range narrower than 2 px, or outside the image (outside the strip without ``image_width_px``).
    """
    lanes = []
    for i, (a, b) in enumerate(x_ranges_px):
        if not (np.isfinite(a) and np.isfinite(b)) or b - a < 2:
            raise ValueError(f"lane x-range {i + 1} ({a}, {b}) must be at least 2 px wide with left < right")
        outside_strip = a < strip.x_left_px - 0.5 or b > strip.x_right_px + 0.5
        if image_width_px is not None and (a < -0.5 or b > image_width_px + 0.5):
            raise ValueError(
                f"lane x-range {i + 1} ({a}, {b}) lies outside the image (columns 0..{image_width_px}); give each "
                f"lane's first column and one past its last, within 0..{image_width_px}"
            )
        if outside_strip and image_width_px is None:
            raise ValueError(
                f"lane x-range {i + 1} ({a}, {b}) lies outside strip {strip.index} "
                f"(columns {strip.x_left_px}..{strip.x_right_px}); give ranges inside the strip"
            )
        if outside_strip and warnings is not None:
            warnings.append(
                f"strip {strip.index}: lane x-range {i + 1} ({a:g}-{b:g}) reaches past the membrane found "
                f"(columns {strip.x_left_px}..{strip.x_right_px}); it was measured as given. Check the lane on the "
                "annotated image (a dark margin can hide the membrane's edge)"
            )
        centre = (a + b - 1) / 2
        name = names[i] if names is not None else ""
        lanes.append(Lane(strip.index, i + 1, strip.y_top_px, strip.y_bottom_px, centre, centre, float(b - a), name))
    return lanes


def lanes_from_count(n_lanes: int, strip: Strip, *, names: Sequence[str] | None = None) -> list[Lane]:
    """``n_lanes`` equal, touching lanes across the strip (a fallback, no detection).

    Parameters
    ----------
    n_lanes : int
        Number of lanes.
    strip : Strip
        Strip to divide.
    names : sequence of str, optional
        Lane names.
    """
    edges = np.linspace(strip.x_left_px, strip.x_right_px, n_lanes + 1)
    return lanes_from_ranges(list(zip(edges[:-1], edges[1:])), strip, names=names)
