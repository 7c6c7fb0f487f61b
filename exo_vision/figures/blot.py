"""Blot figures: the annotated image (lanes, numbered bands, saturation) and the panel bar chart."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from exo_vision.blot.panel import (
    EV_ROLE,
    LOWER_BOUND,
    MEASURED,
    UNDETERMINED,
    UPPER_BOUND,
    clipped_reference_markers,
    ratio_as_read,
    ratio_censoring,
)
from exo_vision.figures.overlay import FONT_DIGIT_PX, MIN_TEXT_SCALE, TEXT_FONT, TEXT_STROKE_PER_SCALE
from exo_vision.figures.style import GROUP_COLORS, MM_PER_INCH, journal_figure, journal_style

#: Colours (RGB) of the annotated image: present and saturated bands in Okabe-Ito bluish green and
#: vermillion, which stay apart under every colour-vision deficiency (red and green did not), and a
#: saturated band's id is followed by "*" as well.
LANE_RGB = (0, 190, 255)
PRESENT_RGB = (0, 158, 115)
ABSENT_RGB = (160, 160, 160)
SATURATED_RGB = (213, 94, 0)
#: What follows the id of a saturated band.
SATURATED_MARK = "*"
#: Height of a digit of the lane and band labels as a fraction of the picture's longer side: 10 px when the
#: picture is shown 600 px tall (the report), 1.8 mm (7 pt) when printed 110 mm tall.
LABEL_HEIGHT_FRACTION = 1 / 60
#: Colour (RGB) of the edge around every label, so it reads on white (inverted) and black membrane alike.
LABEL_EDGE_RGB = (0, 0, 0)
#: Display gamma of a raw (deeper than 8-bit) blot: a band at 4 % of the strongest shows at 20 % grey, not 4 %.
RAW_DISPLAY_GAMMA = 0.5
#: Gap (px of the picture) between a band's box and its id written above or below it.
LABEL_GAP_PX = 3


def _grey8(image: np.ndarray, polarity: str = "bright") -> np.ndarray:
    """8-bit display of a blot: a 0.5-99.8 percentile stretch, then a gamma for raw (deeper than 8-bit) data.

    A raw chemiluminescence frame holds bands a few per cent of its strongest, which a linear display leaves
    black; :data:`RAW_DISPLAY_GAMMA` brightens them on the band side (bright bands for ``"bright"``, dark for
    ``"dark"``). An 8-bit export is shown as exported: it has its display curve already.
    """
    data = np.asarray(image, dtype=np.float32)
    step = max(1, data.size // 1_000_000)
    lo, hi = np.percentile(data.reshape(-1)[::step], [0.5, 99.8])
    if hi <= lo:
        hi = lo + 1
    shown = np.clip((data - lo) / (hi - lo), 0.0, 1.0)
    if np.asarray(image).dtype.itemsize > 1:
        if polarity == "dark":
            shown = 1.0 - (1.0 - shown) ** RAW_DISPLAY_GAMMA
        else:
            shown = shown**RAW_DISPLAY_GAMMA
    return np.round(shown * 255.0).astype(np.uint8)


def _label(rgb: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int], fs: float) -> None:
    """Write ``text`` at ``org`` (bottom left) in ``colour`` on a black edge one stroke wide."""
    thick = max(1, int(round(fs * TEXT_STROKE_PER_SCALE)))
    cv2.putText(rgb, text, org, TEXT_FONT, fs, LABEL_EDGE_RGB, thick + 2 * max(1, thick // 2), cv2.LINE_AA)
    cv2.putText(rgb, text, org, TEXT_FONT, fs, colour, thick, cv2.LINE_AA)


def _text_box(text: str, fs: float) -> tuple[int, int]:
    """Width and height (px) of ``text`` drawn by :func:`_label` at font scale ``fs``, its edge included."""
    thick = max(1, int(round(fs * TEXT_STROKE_PER_SCALE)))
    edge = thick + 2 * max(1, thick // 2)
    (w, h), base = cv2.getTextSize(text, TEXT_FONT, fs, edge)
    return w, h + base


def _font_scale(shape: tuple[int, int], result, scale: float) -> float:
    """Label font scale: digits :data:`LABEL_HEIGHT_FRACTION` of the picture's longer side, narrowed to the lanes.

    A label wider than the lanes' median width would run into its neighbours' ("76*77*78" on a 23 MP frame of
    narrow lanes), so the scale shrinks until the widest label fits, down to :data:`MIN_TEXT_SCALE`.
    """
    fs = LABEL_HEIGHT_FRACTION * max(shape) / FONT_DIGIT_PX
    texts = [f"{lane.strip}.{lane.index}" for lane in result.lanes]
    texts += [f"{r.label}{SATURATED_MARK if r.saturated else ''}" for r in result.bands.itertuples()]
    if not texts or not result.lanes:
        return fs
    lane_px = float(np.median([lane.width_px for lane in result.lanes])) * scale
    widest = max(_text_box(t, fs)[0] for t in texts)
    if widest > lane_px:
        fs = max(MIN_TEXT_SCALE, fs * lane_px / widest)
    return fs


def _overlaps(rect: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> bool:
    x0, y0, x1, y1 = rect
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in others)


def _band_label_origin(
    box: tuple[int, int, int, int],
    size: tuple[int, int],
    taken: list[tuple[int, int, int, int]],
    boxes: list[tuple[int, int, int, int]],
    shape: tuple[int, int],
) -> tuple[int, int]:
    """Bottom-left origin of a band's id beside its box, clear of every other box and label if it can be.

    Above the box (at its left end, then its right end), below (likewise), left, right: the first place inside
    the picture that overlaps no band box and no label in ``taken``; else, of the places that overlap no band
    box, the one that covers the least of the labels (a label partly over a label); else inside the box.
    """
    x0, y0, x1, y1 = box
    w, h = size
    middle = (y0 + y1 + h) // 2
    places = [
        (x0, y0 - LABEL_GAP_PX),
        (x1 - w, y0 - LABEL_GAP_PX),
        (x0, y1 + LABEL_GAP_PX + h),
        (x1 - w, y1 + LABEL_GAP_PX + h),
        (x0 - LABEL_GAP_PX - w, middle),
        (x1 + LABEL_GAP_PX, middle),
    ]
    inside = [(ox, oy) for ox, oy in places if ox >= 0 and oy - h >= 0 and ox + w <= shape[1] and oy <= shape[0]]
    for ox, oy in inside:
        if not _overlaps((ox, oy - h, ox + w, oy), taken):
            return ox, oy
    clear = [(ox, oy) for ox, oy in inside if not _overlaps((ox, oy - h, ox + w, oy), boxes)]
    if clear:
        return min(clear, key=lambda o: _covered((o[0], o[1] - h, o[0] + w, o[1]), taken))
    return x0 + LABEL_GAP_PX, y1 - LABEL_GAP_PX


def _covered(rect: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> int:
    """Pixels of ``rect`` under the rectangles ``others`` (summed over them)."""
    x0, y0, x1, y1 = rect
    return sum(max(0, min(x1, b[2]) - max(x0, b[0])) * max(0, min(y1, b[3]) - max(y0, b[1])) for b in others)


def annotated_blot(image: np.ndarray, result, *, scale: float | None = None) -> np.ndarray:
    """Draw lanes, numbered band boxes and saturated pixels on a blot.

    Band boxes carry the ``label`` of the band table; present bands are
    bluish green, absent grey (thin), saturated ones and saturated pixels
    vermillion (with ``*`` after the id). Each band's id is written above its
    box (below it, or inside, where another band or label is in the way), so
    that it covers no band. Lane labels ``strip.lane`` and band ids are
    :data:`LABEL_HEIGHT_FRACTION` of the picture's longer side tall, on a black
    edge, or smaller where the lanes are too narrow for them. A raw image
    (deeper than 8 bits) is shown with :data:`RAW_DISPLAY_GAMMA`, so that weak
    bands under their boxes can be checked by eye.

    Parameters
    ----------
    image : (M, N) ndarray
        The raw blot image as read.
    result : exo_vision.blot.quantify.BlotResult
        Output of :func:`~exo_vision.blot.quantify.quantify_blot` on ``image``.
    scale : float, optional
        Upscaling factor for legible labels (default: so the short side is >= 600 px).

    Returns
    -------
    (M', N', 3) ndarray of uint8
        RGB picture.
    """
    grey = _grey8(image, str(result.parameters.get("polarity", "bright")))
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[result.saturation_mask] = SATURATED_RGB
    if scale is None:
        scale = max(1.0, 600.0 / min(image.shape))
        scale = min(scale, 4.0)
    if scale != 1.0:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    fs = _font_scale(rgb.shape[:2], result, scale)
    digit = int(round(FONT_DIGIT_PX * fs))
    thick = max(1, int(round(scale)))
    boxes = _band_boxes(result.bands, scale)
    lane_labels: list[tuple[int, int, int, int]] = []
    for lane in result.lanes:
        poly = lane.polygon_yx()[:, ::-1] * scale
        cv2.polylines(rgb, [np.round(poly).astype(np.int32)], True, LANE_RGB, thick)
        text = f"{lane.strip}.{lane.index}"
        size = _text_box(text, fs)
        x0, x1 = int(poly[:, 0].min()), int(poly[:, 0].max())
        rows = [(x0, b[1], x1, b[3]) for b in boxes if b[0] < x1 and x0 < b[2]]  # a band spans its lane's width
        origin = _lane_label_origin(poly, size, (thick + 3, digit + thick + 3), rows + lane_labels, rgb.shape[:2])
        _label(rgb, text, origin, LANE_RGB, fs)
        lane_labels.append((origin[0], origin[1] - size[1], origin[0] + size[0], origin[1]))
    _draw_bands(rgb, result.bands, scale, fs, thick, lane_labels)
    return rgb


def _band_boxes(bands: pd.DataFrame, scale: float) -> list[tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` of every band's box in the picture scaled by ``scale``, in table order."""
    return [
        (
            int((r.x_left_px - 0.5) * scale),
            int((r.y_top_px - 0.5) * scale),
            int((r.x_right_px - 0.5) * scale),
            int((r.y_bottom_px - 0.5) * scale),
        )
        for r in bands.itertuples()
    ]


def _lane_label_origin(
    poly_xy: np.ndarray,
    size: tuple[int, int],
    inset: tuple[int, int],
    blocked: list[tuple[int, int, int, int]],
    shape: tuple[int, int],
) -> tuple[int, int]:
    """Bottom-left origin of a lane's label, clear of every band box and label in ``blocked`` if it can be.

    Inside the lane's top left corner (``inset``: px right, px down to the text's baseline), else just above the
    lane, else inside its bottom, else just below it: the first place inside the picture that covers no band box
    and no other label, so a band at the very top of a strip stays visible (the top corner, where labels always
    went, counts as inside). Where none is free, the label goes inside the top corner.
    """
    x0, y0 = (int(v) for v in poly_xy[0])
    y1 = int(poly_xy[:, 1].max())
    w, h = size
    top_inside = (x0 + inset[0], y0 + inset[1])
    below_baseline = max(0, h - (inset[1] - inset[0]))  # the edge and baseline room under the digits
    bottom = min(y1, shape[0] - 1) - LABEL_GAP_PX - below_baseline
    places = [top_inside, (x0, y0 - LABEL_GAP_PX), (x0 + inset[0], bottom), (x0, y1 + LABEL_GAP_PX + h)]
    for ox, oy in places:
        inside = (ox, oy) == top_inside or (ox >= 0 and oy - h >= 0 and ox + w <= shape[1] and oy <= shape[0])
        if inside and not _overlaps((ox, oy - h, ox + w, oy), blocked):
            return ox, oy
    return top_inside


def _draw_bands(
    rgb: np.ndarray, bands: pd.DataFrame, scale: float, fs: float, thick: int, taken: list[tuple[int, int, int, int]]
) -> None:
    """Draw every band's box, then its id where :func:`_band_label_origin` finds room (clear of ``taken``)."""
    rows = list(bands.itertuples())
    boxes = _band_boxes(bands, scale)
    colours = [SATURATED_RGB if r.saturated else PRESENT_RGB if r.present else ABSENT_RGB for r in rows]
    for r, box, colour in zip(rows, boxes, colours):
        cv2.rectangle(rgb, box[:2], box[2:], colour, thick if r.present else 1)
    taken = taken + boxes
    for r, box, colour in zip(rows, boxes, colours):
        text = f"{r.label}{SATURATED_MARK if r.saturated else ''}"
        size = _text_box(text, fs)
        others = [b for b in boxes if b is not box]
        ox, oy = _band_label_origin(box, size, [b for b in taken if b is not box], others, rgb.shape[:2])
        _label(rgb, text, (ox, oy), colour, fs)
        taken.append((ox, oy - size[1], ox + size[0], oy))


#: Marker shape and legend words of each kind of measured ratio (:func:`exo_vision.blot.panel.ratio_censoring`);
#: the filled ``v`` of an upper bound differs from the open ``v`` of a lane below the LoD.
CENSORING_MARKERS = {
    MEASURED: ("o", ""),
    LOWER_BOUND: ("^", "saturated: lower bound"),
    UPPER_BOUND: ("v", "lysate saturated: upper bound"),
    UNDETERMINED: ("x", "both saturated: undetermined"),
}


def censoring(ev_saturated: bool, reference_saturated: bool) -> tuple[str, str]:
    """Marker shape and legend words of a measured ratio whose bands may be clipped (lower bound ``^``,
    upper bound filled ``v``, undetermined ``x``, measured ``o``)."""
    return CENSORING_MARKERS[ratio_censoring(ev_saturated, reference_saturated)]


#: Height (mm) of the panel chart: the axes plus the legend below them, at single-column width.
PANEL_HEIGHT_MM = 75
#: Width (pt) of the horizontal mark at the geometric mean: wider than the lane dots beside it.
MEAN_MARK_PT = 14
#: Labelled ticks at 1, 2 and 5 per decade while the ratio axis spans at most this many decades (beyond: 1 only);
#: at 5 decades on a 45 mm axis, neighbouring labels are 2.7 mm apart, above their 7.5 pt height.
MAX_DECADES_WITH_2_5 = 5


def _log_ratio_axis(ax, values: np.ndarray) -> None:
    """Log y axis over ``values`` and 1, labelled in plain decimals at 1, 2 and 5 per decade."""
    values = values[np.isfinite(values) & (values > 0)]
    low, high = (min(values.min(), 1.0), max(values.max(), 1.0)) if values.size else (0.1, 10.0)
    low, high = low / 1.6, high * 1.6
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    subs = (1.0, 2.0, 5.0) if np.log10(high / low) <= MAX_DECADES_WITH_2_5 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=3 * MAX_DECADES_WITH_2_5 + 3))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=[float(k) for k in range(2, 10)]))
    ax.yaxis.set_minor_formatter(NullFormatter())
    # plain decimals (0.01, 0.2, 5), as a reader of a ratio expects, not 10^-2 typeset by mathtext
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))


def _is_ev(enrichment: pd.DataFrame) -> pd.Series:
    """Rows of EV lanes (pooled as replicates); a table without roles counts every lane but the reference."""
    if "role" in enrichment.columns:
        return enrichment["role"] == EV_ROLE
    return ~enrichment["is_reference"].astype(bool)


def _shown_verdict(row) -> str:
    """A marker's verdict under its name: "inconclusive" for an expected-absent marker that no EV lane shows but
    whose absence the blot cannot establish (its verdict is "fail", which under the name read as contamination)."""
    verdict = str(row.verdict)
    unproven = getattr(row, "expected_in_ev", "") == "absent" and int(getattr(row, "n_ev_present", 1)) == 0
    return "inconclusive" if verdict == "fail" and unproven else verdict


def panel_figure(enrichment: pd.DataFrame, summary: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Dot plot of the EV/reference ratio per marker, with the geometric mean and its 95 % CI, on a log axis.

    Dots are the EV lanes (``role`` "EV"; lanes left out of the pool are not drawn); the black mark with
    whiskers is the replicate geometric mean and its t-based 95 % confidence interval (the panel's headline
    statistic, :func:`exo_vision.blot.panel.panel_summary`; whiskers only when n >= 2), named in the y label. An
    absent band is drawn as an open downward triangle at its upper bound (LoD-based); ratios with clipped bands
    as :func:`censoring` says (lower bound ``^``, upper bound filled ``v``, undetermined ``x``). The axis is
    logarithmic (ratios are multiplicative) with labelled ticks at 1, 2 and 5 per decade; the legend sits below
    the axes, clear of the data.

    Parameters
    ----------
    enrichment : pandas.DataFrame
        From :func:`exo_vision.blot.panel.enrichment_table`.
    summary : pandas.DataFrame
        From :func:`exo_vision.blot.panel.panel_summary`.
    title : str, optional
        Figure title (e.g. the verdict).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = journal_figure("single", height_mm=PANEL_HEIGHT_MM)
    with journal_style():
        ax = fig.add_subplot()
        markers = list(summary["marker"])
        lanes = list(dict.fromkeys(enrichment.loc[_is_ev(enrichment), "lane_name"]))
        clipped_reference = clipped_reference_markers(enrichment)
        read = ratio_as_read(enrichment)
        drawn = [read.to_numpy(float), enrichment["ratio_upper_bound"].to_numpy(float)]
        for i, row in enumerate(summary.itertuples()):
            mean = float(getattr(row, "ratio_geomean", np.nan))
            low, high = float(getattr(row, "ratio_ci95_low", np.nan)), float(getattr(row, "ratio_ci95_high", np.nan))
            if np.isfinite(mean):
                whiskers = [[mean - low], [high - mean]] if np.isfinite(low) and np.isfinite(high) else None
                ax.errorbar(
                    i,
                    mean,
                    yerr=whiskers,
                    fmt="_",
                    ms=MEAN_MARK_PT,
                    mew=1.2,
                    color="0.1",
                    elinewidth=0.7,
                    capsize=2.5,
                    zorder=3,
                    label="geometric mean, 95 % CI",
                )
                drawn.append(np.array([mean, low, high]))
            ev = enrichment[(enrichment["marker"] == row.marker) & _is_ev(enrichment)]
            for j, e in enumerate(ev.itertuples()):
                x = i + (j - (len(ev) - 1) / 2) * 0.15
                c = GROUP_COLORS[lanes.index(e.lane_name) % len(GROUP_COLORS)]
                if e.present and np.isfinite(read[e.Index]):
                    shape, kind = censoring(bool(e.saturated), str(row.marker) in clipped_reference)
                    ax.plot(
                        [x],
                        [read[e.Index]],
                        shape,
                        ms=3.5 if shape == "o" else 4.5,
                        color=c,
                        label=e.lane_name if not kind else f"{e.lane_name} ({kind})",
                    )
                elif np.isfinite(e.ratio_upper_bound):
                    ax.plot(
                        [x],
                        [e.ratio_upper_bound],
                        "v",
                        ms=4,
                        color=c,
                        mfc="none",
                        label=f"{e.lane_name} (< LoD: 95 % bound)",
                    )
        ax.axhline(1.0, color="0.5", lw=0.6, ls="--")
        ax.set_xticks(range(len(markers)), [f"{m}\n{_shown_verdict(r)}" for m, r in zip(markers, summary.itertuples())])
        ax.set_xlim(-0.6, len(markers) - 0.4)
        ref = enrichment.loc[enrichment["is_reference"], "lane_name"]
        per_ug = enrichment["ug_loaded"].notna().any()
        ax.set_ylabel(
            f"EV / {ref.iloc[0] if len(ref) else 'reference'} signal"
            + (" per µg" if per_ug else "")
            + "\n(line: geometric mean, 95 % CI)"
        )
        _log_ratio_axis(ax, np.concatenate(drawn))
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        if title:
            ax.set_title(title)
        if uniq:
            _fit_legend(fig, list(uniq.values()), list(uniq.keys()))
    return fig


#: The legend's share of :data:`PANEL_HEIGHT_MM` (mm): three rows of 7 pt entries with their padding. A taller
#: legend (one column of long saturation labels) makes the figure taller by the difference, so the axes keep
#: their height and the y label its room.
LEGEND_ALLOWANCE_MM = 14.0
#: Room (mm) left between the legend and each side of the figure.
LEGEND_SIDE_MARGIN_MM = 1.0


def _fit_legend(fig: Figure, handles: list, labels: list[str]) -> None:
    """A legend below the axes, in two columns when they fit the figure's width, else in one; the figure grows
    taller when the legend needs more than :data:`LEGEND_ALLOWANCE_MM` (long labels of saturated bands were
    cut at both edges, with their symbols, by a two-column legend wider than the single column)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    width_px = fig.get_figwidth() * fig.dpi - 2 * LEGEND_SIDE_MARGIN_MM / MM_PER_INCH * fig.dpi
    legend = fig.legend(handles, labels, loc="outside lower center", ncols=2)
    if legend.get_window_extent(renderer).width > width_px:
        legend.remove()
        legend = fig.legend(handles, labels, loc="outside lower center", ncols=1)
    needed_mm = legend.get_window_extent(renderer).height / fig.dpi * MM_PER_INCH
    if needed_mm > LEGEND_ALLOWANCE_MM:
        fig.set_figheight(fig.get_figheight() + (needed_mm - LEGEND_ALLOWANCE_MM) / MM_PER_INCH)
