"""Seeded images holding several membrane strips in a 2-D arrangement, with strip and lane truth.

Each strip is drawn by :func:`exo_vision.synthetic.blot.make_synthetic_blot`
(one strip per call: blotchy membrane, noise, smile, tilted lanes, dust) and
the strips are then placed on one dark camera frame in a grid: side by side,
stacked, or both (a cut membrane). A strip can be slightly rotated as a whole,
carry a pre-stained ladder lane (many sharp bands), pen marks (lane numbers
written above the lanes and dots on the membrane edge) and blank lanes (at the
ends or inside; give a zero volume).

Pen marks and ladder bands are drawn in signal orientation (they add counts,
like bands): dark marker ink on the usual dark-on-white display is exactly
what an inverted 8-bit export or a merged colorimetric image shows, and it is
the case that can fool a lane finder.

Truth (``strips`` and ``lanes`` tables) is in pixel-centre coordinates of the
final image: column ``x`` covers ``x - 0.5 .. x + 0.5``; a lane's
``x_centre_px`` is its centre at the strip's middle row and it covers
``x_centre_px +- lane_width_px / 2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from exo_vision.synthetic.blot import SATURATION_16BIT, StripSpec, _rng, make_synthetic_blot

#: Sizes of a pre-stained ladder drawn in a ladder lane (kDa, heaviest first).
LADDER_KDA = (250.0, 150.0, 100.0, 75.0, 50.0, 37.0, 25.0, 20.0, 15.0, 10.0)


@dataclass
class LayoutStrip:
    """One strip to place on the frame.

    Attributes
    ----------
    spec : StripSpec
        Marker, band volume per lane (0 = blank lane), band kind, strip height.
    grid_row, grid_col : int
        Position in the arrangement (0-based; strips sharing a grid row sit side by side).
    lane_width_px, lane_gap_px : float
        Lane width and mean gap between lanes, px.
    margin_px : int
        Distance from the image edge of the strip's own drawing to the first
        lane edge; the membrane edge sits at a third of it, so the membrane
        extends ``2/3 x margin_px`` beyond the outer lane edges.
    smile_px, tilt_deg : float
        Band smile and lane tilt inside the strip (see ``make_synthetic_blot``).
    rotation_deg : float
        Rotation of the whole strip (membrane and lanes) on the frame,
        degrees, positive = counter-clockwise as displayed (rows down).
    ladder_lane : int, optional
        1-based lane holding a pre-stained ladder (:data:`LADDER_KDA`, sharp
        bands over the strip height); its ``spec`` volume should be 0.
    pen_numbers : bool
        Write each lane's number (1-3 pen strokes, 2 px wide) above the lane,
        at the top edge of the membrane.
    pen_dots : int
        Number of round pen dots (radius 2-4 px) on the membrane's left and
        right edges.
    membrane : int, optional
        Strips with the same membrane number are cut from one membrane: drawn
        together (same lanes, spacing, smile; lane geometry from the first of
        them) and then placed apart. None: a membrane of its own.
    """

    spec: StripSpec
    grid_row: int = 0
    grid_col: int = 0
    lane_width_px: float = 40.0
    lane_gap_px: float = 16.0
    margin_px: int = 60
    smile_px: float = 4.0
    tilt_deg: float = 0.0
    rotation_deg: float = 0.0
    ladder_lane: int | None = None
    pen_numbers: bool = False
    pen_dots: int = 0
    membrane: int | None = None


@dataclass
class SyntheticLayout:
    """A generated multi-strip image and its truth.

    Attributes
    ----------
    image : (M, N) ndarray
        uint16 raw image, or uint8 inverted export.
    polarity : {"bright", "dark"}
        Band polarity of ``image``.
    max_value : float
        Saturation level of ``image``.
    strips : pandas.DataFrame
        One row per strip in reading order (grid rows top to bottom, then
        left to right): ``label, strip, grid_row, grid_col, y_top_px,
        y_bottom_px, x_left_px, x_right_px`` (axis-aligned bounding box of the
        membrane, end-exclusive), ``rotation_deg, n_lanes, marker``.
    lanes : pandas.DataFrame
        One row per lane: ``label, strip, lane, x_centre_px, y_centre_px``
        (lane centre at the strip's middle row), ``lane_width_px, slope``
        (columns per row), ``x_left_px, x_right_px`` (lane edges at the middle
        row), ``blank, ladder, true_volume``.
    counts_per_raw_count : float
        Signal units of ``image`` per raw count (1 raw, > 1 for the 8-bit export).
    """

    image: np.ndarray
    polarity: str
    max_value: float
    strips: pd.DataFrame
    lanes: pd.DataFrame
    counts_per_raw_count: float = 1.0
    extra: dict = field(default_factory=dict)


def _stroke(
    canvas: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], *, value: float, width_px: float = 2.0
) -> None:
    """Add a straight pen stroke from ``p0`` to ``p1`` (row, column) of ``width_px`` to ``canvas``."""
    n = int(np.ceil(np.hypot(p1[0] - p0[0], p1[1] - p0[1]))) + 1
    ys = np.linspace(p0[0], p1[0], n)
    xs = np.linspace(p0[1], p1[1], n)
    r = width_px / 2
    for y, x in zip(ys, xs):
        y0, y1 = int(np.floor(y - r + 0.5)), int(np.floor(y + r + 0.5))
        x0, x1 = int(np.floor(x - r + 0.5)), int(np.floor(x + r + 0.5))
        sub = canvas[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
        sub[...] = np.maximum(sub, value)


def _write_number(canvas: np.ndarray, k: int, *, top: float, centre_x: float, height_px: float, value: float) -> None:
    """Write a crude digit-like glyph for lane ``k`` (a few strokes) into ``canvas``."""
    h = height_px
    w = 0.5 * h
    left, right = centre_x - w / 2, centre_x + w / 2
    bottom = top + h
    mid = top + h / 2
    shapes = {
        1: [((top, centre_x), (bottom, centre_x))],
        2: [
            ((top, left), (top, right)),
            ((top, right), (mid, right)),
            ((mid, right), (bottom, left)),
            ((bottom, left), (bottom, right)),
        ],
        3: [
            ((top, left), (top, right)),
            ((top, right), (bottom, right)),
            ((mid, left), (mid, right)),
            ((bottom, left), (bottom, right)),
        ],
        4: [((top, left), (mid, left)), ((mid, left), (mid, right)), ((top, right), (bottom, right))],
        5: [
            ((top, right), (top, left)),
            ((top, left), (mid, left)),
            ((mid, left), (mid, right)),
            ((mid, right), (bottom, right)),
            ((bottom, right), (bottom, left)),
        ],
        7: [((top, left), (top, right)), ((top, right), (bottom, left))],
        0: [
            ((top, left), (top, right)),
            ((top, right), (bottom, right)),
            ((bottom, right), (bottom, left)),
            ((bottom, left), (top, left)),
        ],
    }
    strokes = shapes.get(k % 10, shapes[0 if k % 10 in (6, 8, 9) else 1])
    for p0, p1 in strokes:
        _stroke(canvas, p0, p1, value=value)


def _draw_pieces(
    items: list[LayoutStrip],
    *,
    rng: np.random.Generator,
    dark_counts: float,
    read_noise_counts: float,
    background_counts: float,
) -> list[tuple[np.ndarray, dict, list[dict]]]:
    """Draw one membrane holding ``items`` top to bottom, cut into pieces: each piece's raw image
    (membrane plus a thin dark border) and its truth in its own coordinates.

    The pieces share the membrane's lanes (same centres, width, tilt, smile);
    lane geometry comes from the first item.
    """
    pad = 8
    first = items[0]
    blot = make_synthetic_blot(
        [item.spec for item in items],
        lane_width_px=first.lane_width_px,
        lane_gap_px=first.lane_gap_px,
        margin_px=first.margin_px,
        strip_gap_px=2 * pad,
        smile_px=first.smile_px,
        tilt_deg=first.tilt_deg,
        pen_mark=False,
        background_counts=background_counts,
        dark_counts=dark_counts,
        read_noise_counts=read_noise_counts,
        rng=rng,
    )
    return [
        _piece(blot, k + 1, item, pad, margin_px=first.margin_px, rng=rng, background_counts=background_counts)
        for k, item in enumerate(items)
    ]


def _piece(
    blot, strip: int, item: LayoutStrip, pad: int, *, margin_px: int, rng: np.random.Generator, background_counts: float
) -> tuple[np.ndarray, dict, list[dict]]:
    """Cut strip ``strip`` (1-based) out of a generated blot and add its ladder and pen marks."""
    truth = blot.truth[blot.truth.strip == strip]
    y_cut = int(truth.strip_y_top_px.iloc[0]) - pad
    raw = blot.image[y_cut : int(truth.strip_y_bottom_px.iloc[0]) + pad].astype(np.float64)
    height, width = raw.shape
    y_mid = (truth.strip_y_top_px.iloc[0] + truth.strip_y_bottom_px.iloc[0]) / 2 - y_cut
    slope = float(np.tan(np.deg2rad(item.tilt_deg)))
    membrane = dict(
        y_top=float(pad), y_bottom=float(height - pad), x_left=margin_px / 3 - 0.5, x_right=width - margin_px / 3 - 0.5
    )
    lanes = []
    for t in truth.itertuples():
        lanes.append(
            dict(
                lane=int(t.lane),
                x_centre_px=float(t.x_centre_px),
                y_centre_px=float(y_mid),
                lane_width_px=float(t.lane_width_px),
                slope=slope,
                blank=not bool(t.present),
                ladder=False,
                true_volume=float(t.true_volume),
            )
        )
    extra = np.zeros_like(raw)
    if item.ladder_lane is not None:
        lane = lanes[item.ladder_lane - 1]
        lane["ladder"] = True
        lane["blank"] = False
        top, bottom = membrane["y_top"] + 8, membrane["y_bottom"] - 8
        logk = np.log10(LADDER_KDA)
        ys = top + (logk[0] - logk) / (logk[0] - logk[-1]) * (bottom - top)
        rows = np.arange(height, dtype=float)[:, None]
        cols = np.arange(width, dtype=float)[None, :]
        xc = lane["x_centre_px"] + slope * (rows - y_mid)
        inside = np.abs(cols - xc) <= lane["lane_width_px"] / 2
        amp = 6.0 * background_counts
        for k, y in enumerate(ys):
            extra += inside * amp * (0.5 + 0.5 * (k % 3 == 0)) * np.exp(-0.5 * ((rows - y) / 1.6) ** 2)
    if item.pen_numbers:
        glyph_h = min(22.0, 0.18 * (membrane["y_bottom"] - membrane["y_top"]))
        for lane in lanes:
            xc = lane["x_centre_px"] + slope * (membrane["y_top"] + 4 - y_mid)
            _write_number(
                extra,
                int(lane["lane"]),
                top=membrane["y_top"] + 3,
                centre_x=xc,
                height_px=glyph_h,
                value=5.0 * background_counts,
            )
    for _ in range(item.pen_dots):
        side = rng.integers(0, 2)
        x = membrane["x_left"] + rng.uniform(3, 10) if side == 0 else membrane["x_right"] - rng.uniform(3, 10)
        y = rng.uniform(membrane["y_top"] + 5, membrane["y_bottom"] - 5)
        r = rng.uniform(2, 4)
        yy, xx = np.ogrid[:height, :width]
        extra[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = 5.0 * background_counts
    if extra.any():
        # Poisson(a) + Poisson(b) is Poisson(a + b): shot noise stays right
        raw = np.clip(raw + rng.poisson(extra), 0, SATURATION_16BIT)
    return raw, membrane, lanes


def _rotate(raw: np.ndarray, angle_deg: float, *, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate ``raw`` about its centre into a larger frame; returns the image and the 2x3 map (row, col, 1) -> new."""
    h, w = raw.shape
    a = np.deg2rad(angle_deg)
    # counter-clockwise as displayed with rows pointing down: a point right of the centre moves up
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # (row, col) -> (row, col)
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], float)
    c = np.array([(h - 1) / 2, (w - 1) / 2])
    moved = (corners - c) @ rot.T
    out_h = int(np.ceil(np.ptp(moved[:, 0]))) + 1
    out_w = int(np.ceil(np.ptp(moved[:, 1]))) + 1
    c_out = np.array([(out_h - 1) / 2, (out_w - 1) / 2])
    inv = rot.T
    offset = c - inv @ c_out
    out = ndi.affine_transform(raw, inv, offset=offset, output_shape=(out_h, out_w), order=1, cval=fill)
    forward = np.hstack([rot, (c_out - rot @ c)[:, None]])
    return out, forward


def make_strip_layout(
    strips: Sequence[LayoutStrip],
    *,
    gap_px: int = 30,
    dark_counts: float = 300.0,
    read_noise_counts: float = 12.0,
    background_counts: float = 800.0,
    export: str = "raw",
    rng: int | np.random.Generator | None = 0,
) -> SyntheticLayout:
    """Place strips in a grid on one dark frame.

    Parameters
    ----------
    strips : sequence of LayoutStrip
        The strips and their grid cells; strips sharing ``grid_row`` sit side
        by side (left to right by ``grid_col``), grid rows are stacked.
    gap_px : int
        Dark camera-floor gap between neighbouring strips and around them, px.
    dark_counts, read_noise_counts, background_counts : float
        Camera floor, read-noise SD and mean membrane background, counts.
    export : {"raw", "inverted8"}
        16-bit raw image or an 8-bit inverted "for publication" export
        (stretched from the camera floor to 1.15 x the brightest non-saturated
        level, or to the saturation level when any pixel clips).
    rng : int or numpy.random.Generator, optional
        Seed or generator.

    Returns
    -------
    SyntheticLayout
    """
    rng = _rng(rng)
    if not strips:
        raise ValueError("give at least one LayoutStrip")
    if export not in ("raw", "inverted8"):
        raise ValueError(f"export must be 'raw' or 'inverted8', got {export!r}")
    cells = {}
    for item in strips:
        key = (int(item.grid_row), int(item.grid_col))
        if key in cells:
            raise ValueError(f"two strips were given grid cell (row {key[0]}, column {key[1]}); give each its own cell")
        cells[key] = item
    # strips sharing a membrane id are cut from one membrane (drawn together, top to bottom)
    groups: dict[object, list[tuple[int, int]]] = {}
    for key in sorted(cells):
        membrane_id = cells[key].membrane
        groups.setdefault(("own", key) if membrane_id is None else membrane_id, []).append(key)
    drawn = {}
    for keys in groups.values():
        n = {len(cells[k].spec.volumes) for k in keys}
        if len(n) > 1:
            raise ValueError(f"strips cut from one membrane must have the same lane count, got {sorted(n)}")
        pieces = _draw_pieces(
            [cells[k] for k in keys],
            rng=rng,
            dark_counts=dark_counts,
            read_noise_counts=read_noise_counts,
            background_counts=background_counts,
        )
        for key, (raw, membrane, lanes) in zip(keys, pieces):
            forward = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            if cells[key].rotation_deg:
                raw, forward = _rotate(raw, cells[key].rotation_deg, fill=dark_counts)
            drawn[key] = (raw, membrane, lanes, forward)
    grid_rows = sorted({k[0] for k in drawn})
    # every grid row is as tall as its tallest strip; strips are top-aligned with a random offset
    row_heights = {r: max(d[0].shape[0] for k, d in drawn.items() if k[0] == r) for r in grid_rows}
    row_widths = {r: sum(d[0].shape[1] + gap_px for k, d in drawn.items() if k[0] == r) for r in grid_rows}
    height = gap_px + sum(row_heights[r] + gap_px for r in grid_rows)
    width = gap_px + max(row_widths.values())
    frame = np.full((height, width), float(dark_counts))
    frame += rng.normal(0, read_noise_counts, frame.shape)
    placed_strips, placed_lanes = [], []
    y0 = gap_px
    for r in grid_rows:
        x0 = gap_px
        for key in sorted(k for k in drawn if k[0] == r):
            raw, membrane, lanes, fwd = drawn[key]
            h, w = raw.shape
            dy = int(rng.integers(0, row_heights[r] - h + 1))
            sub = frame[y0 + dy : y0 + dy + h, x0 : x0 + w]
            # the strip's own frame already holds camera floor and noise: paste it, but keep
            # the canvas noise where the rotated frame is filled with the flat camera level
            own = raw != dark_counts
            sub[own] = raw[own]
            shift = np.array([y0 + dy, x0], float)

            def to_frame(y, x, fwd=fwd, shift=shift):
                p = fwd[:, :2] @ np.array([y, x], float) + fwd[:, 2]
                return p + shift

            corners = np.array(
                [
                    to_frame(y, x)
                    for y in (membrane["y_top"] - 0.5, membrane["y_bottom"] - 0.5)
                    for x in (membrane["x_left"], membrane["x_right"])
                ]
            )
            item = cells[key]
            placed_strips.append(
                dict(
                    grid_row=key[0],
                    grid_col=key[1],
                    y_top_px=int(np.floor(corners[:, 0].min() + 0.5)),
                    y_bottom_px=int(np.floor(corners[:, 0].max() + 0.5)),
                    x_left_px=int(np.floor(corners[:, 1].min() + 0.5)),
                    x_right_px=int(np.floor(corners[:, 1].max() + 0.5)),
                    rotation_deg=float(item.rotation_deg),
                    n_lanes=len(lanes),
                    marker=item.spec.marker,
                )
            )
            for lane in lanes:
                yc, xc = to_frame(lane["y_centre_px"], lane["x_centre_px"])
                # a unit step down the lane in the strip's frame, mapped to the image frame
                y2, x2 = to_frame(lane["y_centre_px"] + 1.0, lane["x_centre_px"] + lane["slope"])
                slope = (x2 - xc) / (y2 - yc)
                placed_lanes.append(
                    dict(
                        key=key,
                        lane=lane["lane"],
                        x_centre_px=float(xc),
                        y_centre_px=float(yc),
                        lane_width_px=lane["lane_width_px"],
                        slope=float(slope),
                        x_left_px=float(xc - lane["lane_width_px"] / 2),
                        x_right_px=float(xc + lane["lane_width_px"] / 2),
                        blank=lane["blank"],
                        ladder=lane["ladder"],
                        true_volume=lane["true_volume"],
                    )
                )
            x0 += w + gap_px
        y0 += row_heights[r] + gap_px
    strips_df = pd.DataFrame(placed_strips)
    strips_df.insert(0, "strip", np.arange(1, len(strips_df) + 1))
    strips_df.insert(0, "label", strips_df["strip"])
    number = {(r.grid_row, r.grid_col): r.strip for r in strips_df.itertuples()}
    lanes_df = pd.DataFrame(placed_lanes)
    lanes_df.insert(0, "strip", [number[k] for k in lanes_df.pop("key")])
    lanes_df.insert(0, "label", np.arange(1, len(lanes_df) + 1))
    raw_image = np.clip(np.round(frame), 0, SATURATION_16BIT)
    if export == "raw":
        return SyntheticLayout(raw_image.astype(np.uint16), "bright", float(SATURATION_16BIT), strips_df, lanes_df)
    low = float(dark_counts - 3 * read_noise_counts)
    clipped = raw_image >= SATURATION_16BIT
    high = float(SATURATION_16BIT) if clipped.sum() > 4 else float(np.percentile(raw_image, 99.99) * 1.15)
    scaled = np.clip((raw_image - low) / (high - low), 0, 1)
    out = (255 - np.round(scaled * 255)).astype(np.uint8)
    return SyntheticLayout(out, "dark", 0.0, strips_df, lanes_df, 255.0 / (high - low))


def make_random_layout(*, export: str = "raw", rng: int | np.random.Generator | None = 0) -> SyntheticLayout:
    """A random arrangement: 1-4 strips side by side, stacked or in a 2x2 grid, 3-10 lanes each.

    Strips of one grid column are cut from one membrane (same lanes, spacing
    and smile). Lanes are blank at random, including the end lanes (lane 1 or
    the last lane blank in about a third of the strips); some strips carry a
    ladder lane, pen-written lane numbers and pen dots; some are rotated by up
    to 1.5 degrees.

    Parameters
    ----------
    export : {"raw", "inverted8"}
        Output format.
    rng : int or numpy.random.Generator, optional
        Seed or generator.
    """
    g = _rng(rng)
    arrangement = ["side", "stacked", "grid", "single"][int(g.integers(0, 4))]
    cells = {
        "side": [(0, 0), (0, 1)] + ([(0, 2)] if g.random() < 0.4 else []),
        "stacked": [(0, 0), (1, 0)],
        "grid": [(0, 0), (0, 1), (1, 0), (1, 1)],
        "single": [(0, 0)],
    }[arrangement]
    columns: dict[int, dict[str, Any]] = {}
    for c in sorted({c for _, c in cells}):
        n = int(g.integers(3, 11 if arrangement in ("single", "stacked") else 8))
        columns[c] = dict(
            n=n,
            lane_width_px=float(g.uniform(28, 48)),
            lane_gap_px=float(g.uniform(12, 24)),
            margin_px=int(g.uniform(45, 75)),
            tilt_deg=float(g.uniform(-0.8, 0.8)),
            rotation_deg=float(g.uniform(-1.5, 1.5)) if g.random() < 0.3 else 0.0,
            ladder=int(g.integers(0, 2)) * (n - 1) + 1 if g.random() < 0.3 else None,
        )
    items: list[LayoutStrip] = []
    for r, c in cells:
        col = columns[c]
        n = col["n"]
        vols = 10 ** g.uniform(5.3, 6.5, n)
        vols[g.random(n) < 0.15] = 0.0
        u = g.random()
        if u < 0.2:
            vols[0] = 0.0
        elif u < 0.35:
            vols[-1] = 0.0
        if col["ladder"] is not None:
            vols[col["ladder"] - 1] = 0.0
        if (vols > 0).sum() < 2:
            vols[n // 2] = 10**6
        kind = "smear" if g.random() < 0.25 else "sharp"
        spec = StripSpec(
            f"marker{len(items) + 1}",
            list(vols),
            kind,
            band_sigma_px=float(g.uniform(2.5, 4.0)),
            smear_height_px=float(g.uniform(40, 60)),
            height_px=int(g.integers(150, 220)),
        )
        items.append(
            LayoutStrip(
                spec,
                r,
                c,
                lane_width_px=col["lane_width_px"],
                lane_gap_px=col["lane_gap_px"],
                margin_px=col["margin_px"],
                smile_px=float(g.uniform(0, 6)),
                tilt_deg=col["tilt_deg"],
                rotation_deg=col["rotation_deg"],
                ladder_lane=col["ladder"],
                pen_numbers=bool(g.random() < 0.4),
                pen_dots=int(g.integers(0, 3)),
                membrane=c,
            )
        )
    return make_strip_layout(items, gap_px=int(g.integers(20, 45)), export=export, rng=g)
