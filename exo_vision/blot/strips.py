"""Find the membrane strips in a blot image.

Membranes are often cut into strips (one per antibody) and imaged together:
stacked top to bottom, side by side, or both (a cut membrane laid out in a
grid). Between strips there is no membrane, only the camera floor, which is
darker (in signal orientation) and flat.

The image is cut recursively along such floor-level gaps (rows, then
columns, then rows again ... an "XY cut"): a gap is a run of rows (or
columns) whose 80th-percentile level drops to near the camera floor and stays
flat there. Each resulting cell holds at most one strip; the strip is the
largest solid membrane region in the cell (pixels above the midpoint between
the gap level and the membrane level), which gives its bounding box, its
rotation (from the slope of its long edges) and where its left and right
edges are. Text, pen marks and dust in a cell are too thin or too small to be
a strip. Without any floor-level gap the whole image is one strip whose edges
are not seen.

Strips are numbered in reading order: grid rows top to bottom (strips whose
vertical centre lies within another's rows share a grid row), then left to
right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from exo_vision._shared.order_stats import median_along, percentile_along, sorted_rows_median, sorted_rows_percentile
from exo_vision._shared.robust import MAD_TO_SD
from exo_vision._shared.runs import true_runs
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS

#: A strip must be at least this many pixels tall (and wide).
MIN_STRIP_HEIGHT_PX = DEFAULT_BLOT_PARAMETERS.min_strip_height_px
#: A strip must span at least this fraction of the image height (rows) or width (columns).
MIN_STRIP_FRACTION = 0.06
#: Strips found must cover at least this fraction of the image (else the image is one strip).
MIN_COVERAGE = 0.15
#: Edge rows/columns of a membrane are half membrane, half gap: this many are trimmed off the box.
EDGE_TRIM_PX = 2
#: A membrane's interior spread (40th minus 5th percentile) stays below this fraction of its step above
#: the gap: a lone band on a flat background is all slope. A strongly blotchy membrane (relative SD
#: of the background up to ~0.3) reaches ~0.8, so the bound sits above that.
MAX_INTERIOR_SPREAD = 0.95
#: A membrane's interior never falls to the gap: its 5th percentile stands this fraction of its step above
#: the gap level (a lane of gel bands has valleys down to the gel between its bands).
MIN_INTERIOR_LEVEL = 0.1
#: Membrane pixels stand above this fraction of the step from the gap level to the membrane level
#: (low enough that a dark blotch at a membrane's edge stays membrane).
MEMBRANE_THRESHOLD = 0.3
#: A membrane edge at half the step is kept unless the whole membrane (above :data:`MEMBRANE_THRESHOLD`) reaches more
#: than this many search blocks further out: then its margin is darker than half the step (graded or blotchy), and
#: the whole membrane's outline is the edge.
DARK_MARGIN_BLOCKS = 2
#: Pieces of one membrane (split by dark blotches) at least this fraction of the largest piece are joined to it.
MIN_PIECE_FRACTION = 0.1
#: A piece of a cell's membrane mask whose rows overlap the largest piece's by less than half its own, and at least
#: this fraction of the largest piece's size, is a second membrane stacked below or above it across a gap too
#: tilted for any row to lie in it (:func:`_stacked_rows`).
STACKED_PIECE_FRACTION = 0.3

#: A gap is a run of at least this many profile samples below the midpoint to the membrane level.
MIN_GAP_SAMPLES = 3
#: Profiles shorter than this hold no gap (too few samples for a floor and a membrane level).
MIN_GAP_PROFILE_SAMPLES = 8
#: The profile's high level (the membrane's upper range) is this percentile.
HIGH_PERCENTILE = 90
#: When the profile's median lies within this fraction of its range above its lowest level, gaps are most
#: of the profile and the membrane level is the median of the upper half of the range.
FLOOR_MEDIAN_FRACTION = 0.1
#: ... unless the median stands more than this many scatters (robust SD of the profile's lower half) above the
#: profile's lowest level: then the median is a dim membrane (bright band rows make the range) over a few floor rows.
MEDIAN_OVER_FLOOR_SPREADS = 5.0
#: Floor of a gap's scatter (a noise-free export's gap is constant), so the flatness test stays strict.
GAP_SPREAD_FLOOR = 1e-6
#: The membrane beside a gap is read this many samples away from it (skipping the 2 of its edge).
NEAR_SIDE_REACH = 12
#: A gap is flat: the membrane next to it stands at least this many gap-scatter SDs above it ...
GAP_FLATNESS_SPREADS = 5.0
#: ... and it sits within this fraction of the floor-to-membrane step of the image's darkest level.
GAP_FLOOR_FRACTION = 0.25
#: A cell's profile is read on about this many rows (columns) across it ...
PROFILE_SAMPLES = 128
#: ... as this percentile (a row that crosses membrane over a fifth of its length stays above the floor).
PROFILE_PERCENTILE = 80
#: Smoothing (px) of the profiles and of the block-averaged image the regions are found on.
SMOOTHING_PX = 3
#: Deepest recursion of the gap cuts (2^8 cells is far beyond any blot figure).
MAX_CUT_DEPTH = 8
#: An edge's slope needs at least this many columns (rows) where the edge is seen.
MIN_EDGE_COLUMNS = 10
#: Edge samples further than this many robust SDs from the fitted line (pen marks, bands on the edge)
#: are dropped before the slope is refitted.
EDGE_OUTLIER_SDS = 3
#: Thin things (text, pen strokes, bridges across a gap) narrower than this opening are not membrane.
MEMBRANE_OPENING = np.ones((5, 5), bool)
#: A hole's background is joined side by side (4-connected), as scipy's binary_fill_holes joins it.
HOLE_CONNECTIVITY = 4
#: A membrane fills at least this fraction of its bounding box (solid, not a scatter of pieces).
MIN_SOLIDITY = 0.6
#: The interior of a membrane's box is the box less 1/INNER_MARGIN_DIVISOR at each side (its central 80 %).
INNER_MARGIN_DIVISOR = 10
#: Percentiles of the interior: the low one stays above the gap, the two are close (a flat membrane).
INTERIOR_PERCENTILES = (5, 40)
#: The two long edges give a rotation only when their angles agree within this many degrees ...
MAX_EDGE_DISAGREEMENT_DEG = 0.3
#: ... and a rotation below this many degrees is taken as none.
MIN_ROTATION_DEG = 0.2
#: The membrane's side edges are read on its middle rows: from MIDDLE_ROWS[0] / MIDDLE_ROWS[2] to
#: MIDDLE_ROWS[1] / MIDDLE_ROWS[2] of its height (the central fifth).
MIDDLE_ROWS = (2, 3, 5)
#: The end 1/EDGE_END_DIVISOR of an edge at each side is left out of its slope (rounded corners).
EDGE_END_DIVISOR = 10
#: Strip regions are found on a block-averaged copy of at most about this many pixels.
REGION_SEARCH_PIXELS = 2.5e5
#: The image's darkest level (the camera floor) is this percentile of the 80th percentiles of short runs of
#: FLOOR_RUN_SAMPLES pixels along its rows and columns (the statistic the gap profiles read: over a noisy floor,
#: an 80th percentile stands well above the darkest single pixels).
FLOOR_PERCENTILE = 0.1
FLOOR_RUN_SAMPLES = 128
#: The camera floor's pixel noise is read on the darkest runs: those up to this percentile of the runs' levels.
FLOOR_NOISE_PERCENTILE = 1.0
#: A membrane stands at least this many pixel-noise SDs of the camera floor above a gap beside it (a fainter one is
#: not told from the floor pixel by pixel, and its edges are not found).
MIN_STEP_NOISE_SDS = 4.0
#: Gaps are looked for at GAP_SEARCH_DIVISOR times the resolution of the region search (a cut line
#: between strips can be a few pixels wide).
GAP_SEARCH_DIVISOR = 4


@dataclass
class Strip:
    """One membrane strip: a box in pixel coordinates (end-exclusive).

    Attributes
    ----------
    index : int
        1-based strip number in reading order (top to bottom, then left to right).
    y_top_px, y_bottom_px : int
        First row and one past the last row.
    x_left_px, x_right_px : int
        First column and one past the last column.
    angle_deg : float
        Rotation of the membrane in the image, degrees; the strip's lanes run
        ``tan(angle_deg)`` columns to the right per row down (0 = upright or
        not measured).
    membrane_left_px, membrane_right_px : float or None
        Column of the membrane's left and right edge at the strip's middle row
        (pixel-centre coordinates: a membrane whose first column is ``c`` has
        its left edge at ``c - 0.5``); None where the edge is not seen (the
        membrane runs off the image, or fills it).
    floor_level, membrane_level : float or None
        Signal level of the camera floor between the strips and of the
        membranes (image units, signal orientation); None when no floor-level
        gap was seen (one strip filling the image).
    """

    index: int
    y_top_px: int
    y_bottom_px: int
    x_left_px: int
    x_right_px: int
    angle_deg: float = 0.0
    membrane_left_px: float | None = None
    membrane_right_px: float | None = None
    floor_level: float | None = None
    membrane_level: float | None = None

    @property
    def lowest_membrane_level(self) -> float | None:
        """Signal level that a membrane's interior never falls under (:data:`MIN_INTERIOR_LEVEL` of the step from
        floor to membrane), or None when the floor is not seen."""
        if self.floor_level is None or self.membrane_level is None:
            return None
        return self.floor_level + MIN_INTERIOR_LEVEL * (self.membrane_level - self.floor_level)

    @property
    def height_px(self) -> int:
        """Number of rows."""
        return self.y_bottom_px - self.y_top_px

    @property
    def width_px(self) -> int:
        """Number of columns."""
        return self.x_right_px - self.x_left_px

    def slices(self) -> tuple[slice, slice]:
        """Row and column slices selecting the strip from the image."""
        return slice(self.y_top_px, self.y_bottom_px), slice(self.x_left_px, self.x_right_px)


def whole_image_strip(shape: tuple[int, int]) -> Strip:
    """A single strip covering an image of ``shape`` (rows, columns)."""
    return Strip(1, 0, int(shape[0]), 0, int(shape[1]))


@dataclass
class _Gap:
    start: int
    stop: int
    level: float
    membrane: float


def _find_gaps(
    profile: np.ndarray,
    *,
    floor: float,
    min_gap: int = MIN_GAP_SAMPLES,
    membrane_cap: float | None = None,
    floor_noise: float = 0.0,
) -> list[_Gap]:
    """Floor-level gaps in a 1-D low-percentile profile (rows or columns of a cell).

    A gap is a run of samples below the midpoint between the profile's lowest
    level and the membrane level (the profile's median, or the median of the
    upper half of its range when the median is at the floor) that is (1) flat: the membrane stands
    at least 5 x the gap's own scatter above it, and (2) at the camera floor:
    within 25 % of the floor-to-membrane step of the image's darkest level (a
    gel's slightly darker rim or background between bright lanes, a shadow or
    a gradient is not a gap between strips). ``membrane_cap``: the membrane level of the gaps that cut the
    enclosing box; inside one strip's cell the profile's median can be its bands' (a CD63 strip of bright
    smears), and the dim membrane between two smears would pass for the floor against it. ``floor_noise``: pixel
    noise SD of the camera floor; the membrane beside a gap stands at least :data:`MIN_STEP_NOISE_SDS` of it above.
    """
    if profile.size < MIN_GAP_PROFILE_SAMPLES:
        return []
    low = float(profile.min())
    high = float(np.percentile(profile, HIGH_PERCENTILE))
    if high - low <= 0:
        return []
    # The membrane level: the median of the profile (membrane covers most of a blot), or,
    # when that median sits at the floor (gaps are most of the profile, as in a figure
    # montage), the median of the upper half of the range.
    membrane = float(np.median(profile))
    if membrane - low < FLOOR_MEDIAN_FRACTION * (high - low) and not _median_above_floor(profile, membrane, low):
        membrane = float(np.median(profile[profile > low + 0.5 * (high - low)]))
    off = profile < low + 0.5 * (membrane - low)
    gaps = []
    for a, b in true_runs(off):
        if b - a < min_gap:
            continue
        gap = profile[a:b]
        level = float(np.median(gap))
        spread = MAD_TO_SD * float(np.median(np.abs(gap - level))) + GAP_SPREAD_FLOOR
        # the membrane next to this gap (a few samples each side) sets the step
        side = np.concatenate(
            [profile[max(0, a - NEAR_SIDE_REACH) : max(0, a - 2)], profile[b + 2 : b + NEAR_SIDE_REACH]]
        )
        near = float(np.median(side)) if side.size else membrane
        step = min(near, membrane) - level
        reference = membrane if membrane_cap is None else min(membrane, membrane_cap)
        if (
            step < GAP_FLATNESS_SPREADS * spread
            or step < MIN_STEP_NOISE_SDS * floor_noise
            or step < 0.5 * (reference - floor)
            or level - floor > GAP_FLOOR_FRACTION * (reference - floor)
        ):
            continue
        gaps.append(_Gap(a, b, level, membrane))
    return gaps


def _median_above_floor(profile: np.ndarray, median: float, low: float) -> bool:
    """Whether a profile's ``median`` stands clear of its lowest level ``low`` (a membrane, not the floor).

    The lower half of the profile holds the floor rows and the dimmer membrane rows; its scatter (robust SD) is
    small when that half is all floor (a figure montage, gaps most of the profile), and the median then lies
    within it. A dim membrane stands more than :data:`MEDIAN_OVER_FLOOR_SPREADS` such scatters above the few
    floor rows of a frame whose bright band rows make the profile's range.
    """
    lower = profile[profile <= median]
    spread = MAD_TO_SD * float(np.median(np.abs(lower - np.median(lower)))) + GAP_SPREAD_FLOOR
    return median - low > MEDIAN_OVER_FLOOR_SPREADS * spread


def _profile(block: np.ndarray, axis: int) -> np.ndarray:
    """80th-percentile profile along ``axis`` (0: one value per column, 1: one per row), lightly smoothed.

    A row (column) that crosses membrane over at least a fifth of its length
    stays above the floor; text, pen strokes and dust cover less and do not.
    """
    other = block.shape[axis]
    step = max(1, other // PROFILE_SAMPLES)
    sample = block[::step] if axis == 0 else block[:, ::step]
    return ndi.uniform_filter1d(percentile_along(sample, PROFILE_PERCENTILE, axis), SMOOTHING_PX)


def _cut(
    signal: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    floor: tuple[float, float],
    min_size: tuple[int, int],
    gaps_seen: list[_Gap],
    depth: int = 0,
    membrane_cap: float | None = None,
) -> list[tuple[int, int, int, int]]:
    """Recursively split ``box`` (y0, y1, x0, x1) at floor-level gaps; the leaves are cells of at most one strip.

    ``floor`` is the camera floor's level and pixel noise SD (:func:`_floor_level`); ``membrane_cap`` is the
    membrane level of the gaps that cut the enclosing box (see :func:`_find_gaps`).
    """
    y0, y1, x0, x1 = box
    block = signal[y0:y1, x0:x1]
    if depth > MAX_CUT_DEPTH or block.shape[0] < min_size[0] or block.shape[1] < min_size[1]:
        return [box]
    found = {}
    for axis in (1, 0):  # rows first (stacked strips), then columns (side by side)
        prof = _profile(block, axis)
        gaps = found[axis] = _find_gaps(prof, floor=floor[0], membrane_cap=membrane_cap, floor_noise=floor[1])
        # cut at the middle of each inner gap; cells too small for a strip are dropped later
        inner = [g for g in gaps if g.start > 0 and g.stop < prof.size]
        if not inner:
            continue
        gaps_seen.extend(gaps)
        edges = [0] + [(g.start + g.stop) // 2 for g in inner] + [prof.size]
        cap = float(np.median([g.membrane for g in inner]))
        cap = cap if membrane_cap is None else min(cap, membrane_cap)
        out = []
        for a, b in zip(edges[:-1], edges[1:]):
            sub = (y0 + a, y0 + b, x0, x1) if axis == 1 else (y0, y1, x0 + a, x0 + b)
            out.extend(
                _cut(
                    signal, sub, floor=floor, min_size=min_size, gaps_seen=gaps_seen, depth=depth + 1, membrane_cap=cap
                )
            )
        return out
    # no inner gap: a gap may still border the cell on one side (membrane ends before the image does)
    gaps_seen.extend(found[0] + found[1])
    return [box]


def _edge_slope(first: np.ndarray) -> float | None:
    """Robust slope (rows per column) of an edge given its row at each column (NaN = unknown)."""
    x = np.flatnonzero(np.isfinite(first))
    if x.size < MIN_EDGE_COLUMNS:
        return None
    y = first[x]
    # discard columns where the edge is broken (pen marks, bands touching the edge)
    for _ in range(2):
        coef = np.polyfit(x, y, 1)
        res = y - np.polyval(coef, x)
        keep = np.abs(res) <= max(2.0, EDGE_OUTLIER_SDS * MAD_TO_SD * np.median(np.abs(res)))
        x, y = x[keep], y[keep]
        if x.size < MIN_EDGE_COLUMNS:
            return None
    return float(np.polyfit(x, y, 1)[0])


def _refine_box(
    signal: np.ndarray, box: tuple[int, int, int, int], cell: tuple[int, int, int, int], f: int, threshold: float
) -> tuple[int, int, int, int]:
    """Move each edge of a box found on an f-times block-averaged copy to the full-resolution membrane edge.

    Each edge is looked for within ``2 f`` pixels of its coarse position, on
    the 80th-percentile profile across the box.
    """
    top, bottom, left, right = box
    cy0, cy1, cx0, cx1 = cell

    def first_on(lo: int, hi: int, axis: int, sl: slice) -> tuple[int, int] | None:
        block = signal[lo:hi, sl] if axis == 1 else signal[sl, lo:hi]
        on = np.flatnonzero(_profile(block, axis) > threshold) if block.size else np.empty(0, int)
        return (lo + int(on[0]), lo + int(on[-1]) + 1) if on.size else None

    def near(edge: int, lo: int, hi: int) -> tuple[int, int]:
        return max(lo, edge - 2 * f), min(hi, edge + 2 * f)

    cols = slice(left, right)
    if top > cy0:
        hit = first_on(*near(top, cy0, cy1), 1, cols)
        top = hit[0] if hit else top
    if bottom < cy1:
        hit = first_on(*near(bottom, cy0, cy1), 1, cols)
        bottom = hit[1] if hit else bottom
    rows = slice(top, bottom)
    if left > cx0:
        hit = first_on(*near(left, cx0, cx1), 0, rows)
        left = hit[0] if hit else left
    if right < cx1:
        hit = first_on(*near(right, cx0, cx1), 0, rows)
        right = hit[1] if hit else right
    return top, bottom, left, right


def _small_box(cell: tuple[int, int, int, int], f: int) -> tuple[int, int, int, int]:
    """``cell`` (y0, y1, x0, x1 in pixels) on the copy block-averaged by ``f``: at least one block each way."""
    y0, y1, x0, x1 = cell
    return y0 // f, max(y0 // f + 1, y1 // f), x0 // f, max(x0 // f + 1, x1 // f)


def _membrane_mask(small: np.ndarray, threshold: float) -> np.ndarray:
    """Membrane pixels of a block-averaged, smoothed cell: above ``threshold``, holes filled, thin things opened away.

    Dark blotches inside a membrane are still membrane (enclosed by it); text, pen strokes and bridges across a gap
    are not.
    """
    import cv2  # slow to import: keep `exo-vision --help` fast

    # the same pixels as ndi.binary_opening(ndi.binary_fill_holes(...), structure=MEMBRANE_OPENING), with
    # OpenCV's labelling and flat binary morphology (outside the cell counts as empty, as scipy's)
    filled = fill_holes(small > threshold).view(np.uint8)
    kernel = MEMBRANE_OPENING.view(np.uint8)
    border = {"borderType": cv2.BORDER_CONSTANT, "borderValue": 0}
    return cv2.dilate(cv2.erode(filled, kernel, **border), kernel, **border).view(bool)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled: background not joined (side by side, 4-connected) to the image's edge.

    The pixels of :func:`scipy.ndimage.binary_fill_holes` with its default structure, found by one labelling
    of the background.

    Parameters
    ----------
    mask : (M, N) ndarray of bool

    Returns
    -------
    (M, N) ndarray of bool
    """
    import cv2  # slow to import: keep `exo-vision --help` fast

    background = np.logical_not(mask)
    n, labels = cv2.connectedComponents(background.view(np.uint8), connectivity=HOLE_CONNECTIVITY)
    outside = np.zeros(n, bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[edge] = True
    outside[0] = False  # label 0: the mask itself
    return ~outside[labels]


def _stacked_rows(small: np.ndarray, f: int, cell: tuple[int, int, int, int], threshold: float) -> list[int]:
    """Rows (full resolution) at which to cut a cell between membranes stacked across a tilted gap.

    Two membranes imaged one above the other are cut apart at a gap row; when the frame is turned by a degree
    or more, no row lies in the gap all the way across, and the cell holds both. Its membrane mask then falls
    into pieces, and a sizeable piece (:data:`STACKED_PIECE_FRACTION` of the largest) whose rows overlap another
    sizeable piece's by less than half is a membrane of its own. The cut lies midway between two such pieces'
    row spans (their spans overlap by the tilt). Pieces of one blotchy membrane share their rows and give no
    cut.
    """
    sy0, sy1, sx0, sx1 = _small_box(cell, f)
    lab, n = ndi.label(_membrane_mask(small[sy0:sy1, sx0:sx1], threshold))
    if n < 2:
        return []
    sizes = ndi.sum_labels(lab > 0, lab, index=np.arange(1, n + 1))
    boxes = ndi.find_objects(lab)
    big = [i for i in np.argsort(-sizes) if sizes[i] >= STACKED_PIECE_FRACTION * sizes.max()]
    groups: list[list[int]] = []
    for i in big:
        a, b = boxes[i][0].start, boxes[i][0].stop
        home = next(
            (
                g
                for g in groups
                if min(b, max(boxes[j][0].stop for j in g)) - max(a, min(boxes[j][0].start for j in g)) >= 0.5 * (b - a)
            ),
            None,
        )
        if home is None:
            groups.append([int(i)])
        else:
            home.append(int(i))
    if len(groups) < 2:
        return []
    spans = sorted((min(boxes[j][0].start for j in g), max(boxes[j][0].stop for j in g)) for g in groups)
    return [int((sy0 + (upper[1] + lower[0]) / 2) * f) for upper, lower in zip(spans[:-1], spans[1:])]


def _split_stacked(
    small: np.ndarray, f: int, cells: list[tuple[int, int, int, int]], threshold: float
) -> list[tuple[int, int, int, int]]:
    """``cells`` with every cell that holds membranes stacked across a tilted gap cut between them."""
    out: list[tuple[int, int, int, int]] = []
    for cell in cells:
        y0, y1, x0, x1 = cell
        cuts = [r for r in _stacked_rows(small, f, cell, threshold) if y0 < r < y1]
        edges = [y0, *cuts, y1]
        out.extend((a, b, x0, x1) for a, b in zip(edges[:-1], edges[1:]))
    return out


def _membrane_in_cell(
    small: np.ndarray,
    f: int,
    cell: tuple[int, int, int, int],
    threshold: float,
    gap_level: float,
    shape: tuple[int, int],
    min_size: tuple[int, int],
    signal: np.ndarray | None = None,
    edge_threshold: float | None = None,
) -> Strip | None:
    """The strip in one cell: largest solid region above ``threshold`` (None when there is no strip)."""
    y0, y1, x0, x1 = cell
    sy0, sy1, sx0, sx1 = _small_box(cell, f)
    sub = _membrane_mask(small[sy0:sy1, sx0:sx1], threshold)
    lab, n = ndi.label(sub)
    if n == 0:
        return None
    sizes = ndi.sum_labels(sub, lab, index=np.arange(1, n + 1))
    # a strongly blotchy, dim membrane can fall apart into pieces at the threshold: the membrane is the
    # largest piece and every sizeable piece overlapping its rows (in one cell there is one strip)
    k = int(np.argmax(sizes)) + 1
    comp = lab == k
    rows_k = comp.any(axis=1)
    for j in np.flatnonzero(sizes >= MIN_PIECE_FRACTION * sizes[k - 1]) + 1:
        piece = lab == j
        if j != k and (piece.any(axis=1) & rows_k).sum() >= 0.5 * piece.any(axis=1).sum():
            comp |= piece
    ((rs, cs),) = ndi.find_objects(comp.astype(np.int8))
    h, w = (rs.stop - rs.start) * f, (cs.stop - cs.start) * f
    if h < min_size[0] or w < min_size[1] or comp.sum() < MIN_SOLIDITY * (rs.stop - rs.start) * (cs.stop - cs.start):
        return None
    # A membrane is solid and flat between its bands: its interior (central 80 % of the box)
    # stays above the gap (a lane of gel bands has valleys down to the gel between its
    # bands) and its lower half sits at one level (a lone band on a flat background is all slope).
    bh, bw = rs.stop - rs.start, cs.stop - cs.start
    inner = small[
        sy0 + rs.start + bh // INNER_MARGIN_DIVISOR : sy0 + rs.stop - bh // INNER_MARGIN_DIVISOR,
        sx0 + cs.start + bw // INNER_MARGIN_DIVISOR : sx0 + cs.stop - bw // INNER_MARGIN_DIVISOR,
    ]
    if inner.size:
        p5, p40 = np.percentile(inner, INTERIOR_PERCENTILES)
        if p5 <= gap_level + MIN_INTERIOR_LEVEL * (p40 - gap_level) or p40 - p5 > MAX_INTERIOR_SPREAD * (
            p40 - gap_level
        ):
            return None
    # full-resolution box, trimmed of the half-membrane edge pixels where the edge is seen
    top, bottom = (sy0 + rs.start) * f, min((sy0 + rs.stop) * f, y1)
    left, right = (sx0 + cs.start) * f, min((sx0 + cs.stop) * f, x1)
    seen = dict(top=top > 0, bottom=bottom < shape[0], left=left > 0, right=right < shape[1])
    if signal is not None:
        # edges where the 80th-percentile profile across the box crosses the edge threshold (a
        # blotch covering part of the edge does not move it)
        top, bottom, left, right = _refine_box(
            signal, (top, bottom, left, right), cell, f, threshold if edge_threshold is None else edge_threshold
        )
    trim = EDGE_TRIM_PX
    top, bottom = top + trim * seen["top"], bottom - trim * seen["bottom"]
    left, right = left + trim * seen["left"], right - trim * seen["right"]
    # rotation from the long edges (top and bottom for a wide strip, left and right for a tall one)
    c = comp[rs, cs]
    if edge_threshold is not None:
        # edges and rotation from the membrane above the edge threshold (holes filled)
        c = ndi.binary_fill_holes(c & (small[sy0:sy1, sx0:sx1][rs, cs] > edge_threshold))
    slopes = _long_edge_slopes_deg(c, seen)
    # both long edges must be seen, straight, and agree: a fading or torn edge gives no angle
    angle = (
        float(np.mean(slopes)) if len(slopes) == 2 and abs(slopes[0] - slopes[1]) < MAX_EDGE_DISAGREEMENT_DEG else 0.0
    )
    if abs(angle) < MIN_ROTATION_DEG:
        angle = 0.0
    # left/right membrane edges at the middle rows (median over the central fifth)
    edges = _middle_edges(c, ndi.binary_fill_holes(comp[rs, cs]))
    m_left = m_right = None
    if edges is not None:
        if seen["left"]:
            m_left = float((sx0 + cs.start + edges[0]) * f - 0.5)
        if seen["right"]:
            m_right = float((sx0 + cs.start + edges[1] + 1) * f - 0.5)
    return Strip(0, int(top), int(bottom), int(left), int(right), angle, m_left, m_right)


def _widen_over_dim_margins(signal: np.ndarray, strip: Strip, gap_level: float, membrane_level: float) -> None:
    """Widen ``strip`` (in place) over a dim margin: membrane darker than the level its edges are read at.

    A blotch or a gradient can leave a membrane's margin under that level, and the membrane then seems to end
    inside itself. A membrane's interior never falls to the gap (it stands at least :data:`MIN_INTERIOR_LEVEL` of
    the step from ``gap_level`` to ``membrane_level`` above it), so outward of each seen side edge the columns whose
    median over the strip's rows stays above that level, up to the first that falls under it (the camera floor
    beside the membrane), are membrane too. An edge moves only by more than :data:`DARK_MARGIN_BLOCKS` smoothing
    widths (a soft edge's foot is no margin); the box's columns follow the edge.
    """
    low = gap_level + MIN_INTERIOR_LEVEL * (membrane_level - gap_level)
    rows = signal[strip.y_top_px : strip.y_bottom_px]

    def columns(cut: slice) -> np.ndarray:
        # only the columns outward of an edge are read (a median per column over the strip's rows)
        return median_along(rows[:, cut], 0) > low

    reach = DARK_MARGIN_BLOCKS * SMOOTHING_PX
    if strip.membrane_left_px is not None:
        start = int(np.floor(strip.membrane_left_px + 0.5))
        first = start - _run_length(columns(np.s_[:start])[::-1])
        if first - 0.5 < strip.membrane_left_px - reach:
            strip.membrane_left_px = first - 0.5
            strip.x_left_px = min(strip.x_left_px, first + EDGE_TRIM_PX)
    if strip.membrane_right_px is not None:
        stop = int(np.ceil(strip.membrane_right_px + 0.5))
        past = stop + _run_length(columns(np.s_[stop:]))
        if past - 0.5 > strip.membrane_right_px + reach:
            strip.membrane_right_px = past - 0.5
            strip.x_right_px = max(strip.x_right_px, past - EDGE_TRIM_PX)


def _run_length(on: np.ndarray) -> int:
    """Length of the run of True at the start of ``on``."""
    off = np.flatnonzero(~on)
    return int(off[0]) if off.size else int(on.size)


def _middle_edges(half: np.ndarray, whole: np.ndarray) -> tuple[float, float] | None:
    """First and last membrane column (median over the middle rows) of mask ``half`` (the membrane above half
    its step); where the whole membrane ``whole`` reaches more than :data:`DARK_MARGIN_BLOCKS` further out (a
    graded or blotchy margin darker than half the step), its column. None when no middle row holds membrane."""
    lo = half.shape[0] * MIDDLE_ROWS[0] // MIDDLE_ROWS[2]
    hi = max(half.shape[0] * MIDDLE_ROWS[1] // MIDDLE_ROWS[2], lo + 1)
    found = []
    for mask in (half[lo:hi], whole[lo:hi]):
        rows = mask[mask.any(axis=1)]
        if rows.size == 0:
            return None
        firsts = np.argmax(rows, axis=1)
        lasts = rows.shape[1] - 1 - np.argmax(rows[:, ::-1], axis=1)
        found.append((float(np.median(firsts)), float(np.median(lasts))))
    (first, last), (outer_first, outer_last) = found
    if first - outer_first > DARK_MARGIN_BLOCKS:
        first = outer_first
    if outer_last - last > DARK_MARGIN_BLOCKS:
        last = outer_last
    return first, last


def _long_edge_slopes_deg(c: np.ndarray, seen: dict[str, bool]) -> list[float]:
    """Rotation (degrees) of each seen long edge of membrane mask ``c`` (top/bottom when wide, else left/right)."""
    slopes = []
    if c.shape[1] >= c.shape[0]:
        any_col = c.any(axis=0)
        for edge, seen_it in (
            (np.argmax(c, axis=0), seen["top"]),
            (c.shape[0] - 1 - np.argmax(c[::-1], axis=0), seen["bottom"]),
        ):
            if seen_it:
                e = np.where(any_col, edge.astype(float), np.nan)
                e[: c.shape[1] // EDGE_END_DIVISOR] = np.nan
                e[c.shape[1] - c.shape[1] // EDGE_END_DIVISOR :] = np.nan
                s = _edge_slope(e)
                if s is not None:
                    slopes.append(-np.degrees(np.arctan(s)))
    else:
        any_row = c.any(axis=1)
        for edge, seen_it in (
            (np.argmax(c, axis=1), seen["left"]),
            (c.shape[1] - 1 - np.argmax(c[:, ::-1], axis=1), seen["right"]),
        ):
            if seen_it:
                e = np.where(any_row, edge.astype(float), np.nan)
                e[: c.shape[0] // EDGE_END_DIVISOR] = np.nan
                e[c.shape[0] - c.shape[0] // EDGE_END_DIVISOR :] = np.nan
                s = _edge_slope(e)
                if s is not None:
                    slopes.append(np.degrees(np.arctan(s)))
    return slopes


def _reading_order(strips: list[Strip]) -> list[Strip]:
    """Number strips by grid row (top to bottom), then left to right."""
    rows: list[list[Strip]] = []
    for s in sorted(strips, key=lambda s: s.y_top_px):
        centre = (s.y_top_px + s.y_bottom_px) / 2
        for row in rows:
            if any(
                o.y_top_px <= centre < o.y_bottom_px or s.y_top_px <= (o.y_top_px + o.y_bottom_px) / 2 < s.y_bottom_px
                for o in row
            ):
                row.append(s)
                break
        else:
            rows.append([s])
    out: list[Strip] = []
    for row in rows:
        for s in sorted(row, key=lambda s: s.x_left_px):
            s.index = len(out) + 1
            out.append(s)
    return out


def block_mean(image: np.ndarray, f: int) -> np.ndarray:
    """Mean of each ``f`` x ``f`` block of a (M, N) image, as float32 (partial blocks at the end are dropped)."""
    if f == 1:
        return image
    import cv2  # slow to import: keep `exo-vision --help` fast

    h, w = (image.shape[0] // f) * f, (image.shape[1] // f) * f
    # area interpolation by a whole factor is the exact block mean (4x faster than numpy's)
    return cv2.resize(
        np.ascontiguousarray(image[:h, :w], dtype=np.float32), (w // f, h // f), interpolation=cv2.INTER_AREA
    )


def _floor_level(image: np.ndarray) -> tuple[float, float]:
    """The camera floor as a gap's profile reads it, and its pixel noise SD (image units).

    The level is :data:`FLOOR_PERCENTILE` of the 80th percentiles of runs of :data:`FLOOR_RUN_SAMPLES` pixels
    along the rows and along the columns of ``image`` (a gap a row or a column wide holds such runs); the noise
    is the robust SD of the pixels about their run's median over the darkest runs (up to
    :data:`FLOOR_NOISE_PERCENTILE` of the levels).
    """
    levels, runs = [], []
    for img in (image, image.T):
        n = min(FLOOR_RUN_SAMPLES, img.shape[1])
        # one sort of the runs serves their level and, for the darkest, their median (the deviations about
        # it do not depend on the order of a run's pixels)
        r = np.sort(img[:, : (img.shape[1] // n) * n].reshape(-1, n), axis=1)
        runs.append(r)
        levels.append(sorted_rows_percentile(r, PROFILE_PERCENTILE))
    level = np.concatenate(levels)
    cut = np.percentile(level, FLOOR_NOISE_PERCENTILE)
    # the runs along the rows and along the columns differ in length when a side is shorter than a run
    deviation = np.concatenate(
        [(d - sorted_rows_median(d)[:, None]).ravel() for r, lv in zip(runs, levels) if (d := r[lv <= cut]).size]
    )
    return float(np.percentile(level, FLOOR_PERCENTILE)), MAD_TO_SD * float(np.median(np.abs(deviation)))


def find_strips(signal: np.ndarray, *, min_height_px: int = MIN_STRIP_HEIGHT_PX) -> list[Strip]:
    """Find the membrane strips in a blot image: stacked, side by side, or in a grid.

    Parameters
    ----------
    signal : (M, N) ndarray
        Blot in signal orientation (see :func:`exo_vision.blot.signal.to_signal`).
    min_height_px : int
        Shortest (and narrowest) strip kept, in pixels; a strip must also span
        at least :data:`MIN_STRIP_FRACTION` of the image height and width.

    Returns
    -------
    list of Strip
        At least one strip, in reading order; the whole image (edges not
        seen) when no floor-level gap is found.
    """
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 2 or min(signal.shape) < 2:
        raise ValueError(
            f"find_strips needs a 2-D image of at least 2 x 2 pixels, got an array of shape {signal.shape}"
        )
    shape = signal.shape
    # strips are big: their regions are found on a block-averaged copy of at most ~0.25 MP (speed),
    # their boxes to within f px
    f = max(1, int(np.sqrt(signal.size / REGION_SEARCH_PIXELS)))
    small = block_mean(signal, f)
    min_size = (
        max(min_height_px, int(MIN_STRIP_FRACTION * shape[0])),
        max(min_height_px, int(MIN_STRIP_FRACTION * shape[1])),
    )
    # gaps are looked for at up to half the resolution of the region search (a cut line between
    # strips can be a few pixels wide)
    g = max(1, f // GAP_SEARCH_DIVISOR)
    mid = block_mean(signal, g)
    floor = _floor_level(mid)
    gaps: list[_Gap] = []
    cells = _cut(
        mid,
        (0, mid.shape[0], 0, mid.shape[1]),
        floor=floor,
        min_size=(max(2, min_size[0] // g), max(2, min_size[1] // g)),
        gaps_seen=gaps,
    )
    if not gaps:
        return [whole_image_strip(shape)]
    cells = [
        (a * g, b * g if b < mid.shape[0] else shape[0], c * g, d * g if d < mid.shape[1] else shape[1])
        for a, b, c, d in cells
    ]
    gap_level = float(np.median([g.level for g in gaps]))
    membrane_level = float(np.median([g.membrane for g in gaps]))
    threshold = gap_level + MEMBRANE_THRESHOLD * (membrane_level - gap_level)
    edge = gap_level + 0.5 * (membrane_level - gap_level)
    smooth = ndi.uniform_filter(small, SMOOTHING_PX)
    cells = _split_stacked(smooth, f, cells, threshold)
    strips = [
        s
        for s in (_membrane_in_cell(smooth, f, c, threshold, gap_level, shape, min_size, signal, edge) for c in cells)
        if s is not None
    ]
    # Strips are most of a blot image; a few small bright islands on a flat background are
    # bands or lanes on a membrane (or gel) that fills the image.
    if sum(s.height_px * s.width_px for s in strips) < MIN_COVERAGE * signal.size:
        return [whole_image_strip(shape)]
    for s in strips:
        s.floor_level, s.membrane_level = gap_level, membrane_level
        _widen_over_dim_margins(signal, s, gap_level, membrane_level)
    return _reading_order(strips)
