"""Scores of a blot result against hand-made truth boxes (used by the real-blot benchmark and tests).

Truth is a tidy table with one row per record (see ``benchmarks/blot_truth/ANNOTATION.md``):
``record`` (``"lane"`` or ``"band"``), ``strip``, ``lane``, ``x_left_px``, ``x_right_px``, ``y_top_px``,
``y_bottom_px`` (end-exclusive pixel boxes in the coordinates of the image that was quantified) and
``kind``: for lanes ``sample``, ``blank``, ``ladder`` or ``ignore``; for bands ``strong``, ``faint`` or
``ignore``. Ignore boxes and ladder/ignore lanes are "don't care": nothing found there is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: A reported band matches a truth box when its centre lies in the box grown by this fraction of the
#: box height (at least :data:`MATCH_MIN_PX` rows) above and below.
MATCH_HEIGHT_FRACTION = 0.25
MATCH_MIN_PX = 4
#: Rows above and below a truth box whose mean gives its local background.
BORDER_ROWS = 4

#: Fewest pairs a Pearson r is computed from (two points always lie on a line).
MIN_PEARSON_PAIRS = 3


@dataclass
class BandScore:
    """How the reported bands of one image compare with its truth boxes.

    Attributes
    ----------
    n_truth, n_found : int
        Strong + faint truth bands, and those matched by a reported band.
    n_truth_strong, n_found_strong : int
        The same for strong bands only.
    n_reported : int
        Bands reported (``present``) by the tool.
    n_phantom : int
        Reported bands outside every truth box and don't-care zone, or a second report of a box
        already matched (a split band).
    matched : pandas.DataFrame
        One row per matched truth band: ``truth_index, label, volume`` (reported).
    phantoms : pandas.DataFrame
        The phantom rows of the band table.
    """

    n_truth: int
    n_found: int
    n_truth_strong: int
    n_found_strong: int
    n_reported: int
    n_phantom: int
    matched: pd.DataFrame
    phantoms: pd.DataFrame

    @property
    def recall(self) -> float:
        """Found / truth bands (strong and faint)."""
        return self.n_found / self.n_truth if self.n_truth else float("nan")

    @property
    def precision(self) -> float:
        """Found / reported bands (NaN when nothing was reported); with masks as truth, matched / reported."""
        return self.n_found / self.n_reported if self.n_reported else float("nan")

    @property
    def f1(self) -> float:
        """Harmonic mean of :attr:`precision` and :attr:`recall` (0 when either is 0 or undefined)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _inside(x: float, y: float, box, *, grow_rows: float = 0.0) -> bool:
    return box.x_left_px <= x < box.x_right_px and box.y_top_px - grow_rows <= y < box.y_bottom_px + grow_rows


def _dont_care(x: float, y: float, truth: pd.DataFrame) -> bool:
    zones = truth[
        ((truth.record == "band") & (truth.kind == "ignore"))
        | ((truth.record == "lane") & truth.kind.isin(["ignore", "ladder"]))
    ]
    return any(_inside(x, y, z) for z in zones.itertuples())


def score_bands(bands: pd.DataFrame, truth: pd.DataFrame) -> BandScore:
    """Match reported bands (``present`` rows of a band table) to truth band boxes, one to one.

    Parameters
    ----------
    bands : pandas.DataFrame
        Band table of :func:`exo_vision.blot.quantify.quantify_blot` (image coordinates).
    truth : pandas.DataFrame
        Truth records in the same coordinates (see the module docstring).

    Returns
    -------
    BandScore
    """
    boxes = truth[(truth.record == "band") & truth.kind.isin(["strong", "faint"])]
    reported = bands[bands.present.astype(bool)]
    taken: dict[int, int] = {}
    phantom_idx = []
    # strongest first, so a split band's main part takes the box and its fragment is the phantom
    for r in reported.sort_values("volume", ascending=False).itertuples():
        x, y = (r.x_left_px + r.x_right_px) / 2, float(r.y_px)
        hits = [
            b
            for b in boxes.itertuples()
            if _inside(x, y, b, grow_rows=max(MATCH_MIN_PX, MATCH_HEIGHT_FRACTION * (b.y_bottom_px - b.y_top_px)))
        ]
        free = [b for b in hits if b.Index not in taken]
        if free:
            best = min(free, key=lambda b: abs((b.y_top_px + b.y_bottom_px) / 2 - y))
            taken[best.Index] = r.Index
        elif hits or not _dont_care(x, y, truth):
            phantom_idx.append(r.Index)
    matched = pd.DataFrame(
        {
            "truth_index": list(taken),
            "label": [int(bands.loc[i, "label"]) for i in taken.values()],
            "volume": [float(bands.loc[i, "volume"]) for i in taken.values()],
        }
    )
    strong = boxes[boxes.kind == "strong"]
    return BandScore(
        len(boxes),
        len(taken),
        len(strong),
        sum(i in taken for i in strong.index),
        len(reported),
        len(phantom_idx),
        matched,
        bands.loc[phantom_idx],
    )


def score_lanes(lanes, truth: pd.DataFrame) -> tuple[int, int, int]:
    """Lanes found against truth lanes.

    Parameters
    ----------
    lanes : sequence of exo_vision.blot.lanes.Lane
        Lanes found.
    truth : pandas.DataFrame
        Truth records (``sample`` and ``blank`` lanes are expected; ``ladder`` and ``ignore`` lanes are
        don't-care).

    Returns
    -------
    expected, found, extra : int
        Truth lanes, truth lanes with a found lane centre inside them (at the found lane's middle row,
        which lies within the truth lane's rows), and found lanes on no truth lane and no don't-care lane.
    """
    want = truth[(truth.record == "lane") & truth.kind.isin(["sample", "blank"])]
    care = truth[(truth.record == "lane") & truth.kind.isin(["ladder", "ignore"])]
    hit: set[int] = set()
    extra = 0
    for lane in lanes:
        mid = (lane.y_top_px + lane.y_bottom_px - 1) / 2
        x = float(lane.centre_x(mid))
        on = [t.Index for t in want.itertuples() if _inside(x, mid, t) and t.Index not in hit]
        if on:
            hit.add(on[0])
        elif not any(_inside(x, mid, t) for t in care.itertuples()):
            extra += 1
    return len(want), len(hit), extra


def box_volumes(signal: np.ndarray, boxes: pd.DataFrame, *, border_rows: int = BORDER_ROWS) -> np.ndarray:
    """Sum of each box minus a local background (per column: the mean of the rows just above and below).

    Parameters
    ----------
    signal : (M, N) ndarray
        Image in signal orientation (bands positive).
    boxes : pandas.DataFrame
        ``x_left_px, x_right_px, y_top_px, y_bottom_px`` per box.
    border_rows : int
        Rows above and below each box averaged for its background.

    Returns
    -------
    (K,) ndarray of float
        Background-subtracted volumes, intensity x px.
    """
    out = []
    for b in boxes.itertuples():
        y0, y1 = max(0, int(b.y_top_px)), min(signal.shape[0], int(b.y_bottom_px))
        x0, x1 = max(0, int(b.x_left_px)), min(signal.shape[1], int(b.x_right_px))
        above = signal[max(0, y0 - border_rows) : y0, x0:x1]
        below = signal[y1 : y1 + border_rows, x0:x1]
        edge = (
            np.vstack([a for a in (above, below) if a.size]) if (above.size or below.size) else np.zeros((1, x1 - x0))
        )
        bg = edge.mean(axis=0, dtype=np.float64)
        out.append(float((signal[y0:y1, x0:x1] - bg[None, :]).sum()))
    return np.array(out)


def fixed_box_volumes(signal: np.ndarray, boxes: pd.DataFrame) -> np.ndarray:
    """ImageJ-style fixed-box volumes: one box size for all bands (the median truth box), centred on each.

    The background is the mean of the box's perimeter pixels (as a user measuring a rectangle of
    the same size on every band and taking the box edge as background would).

    Parameters
    ----------
    signal : (M, N) ndarray
        Image in signal orientation.
    boxes : pandas.DataFrame
        Truth boxes (their centres place the fixed box).

    Returns
    -------
    (K,) ndarray of float
    """
    h = int(np.median(boxes.y_bottom_px - boxes.y_top_px))
    w = int(np.median(boxes.x_right_px - boxes.x_left_px))
    out = []
    for b in boxes.itertuples():
        cy, cx = (b.y_top_px + b.y_bottom_px) // 2, (b.x_left_px + b.x_right_px) // 2
        y0, x0 = max(0, cy - h // 2), max(0, cx - w // 2)
        box = signal[y0 : y0 + h, x0 : x0 + w].astype(np.float64)
        rim = np.concatenate([box[0], box[-1], box[1:-1, 0], box[1:-1, -1]])
        out.append(float((box - rim.mean()).sum()))
    return np.array(out)


def pearson(a, b) -> float:
    """Pearson r of two sequences (NaN for fewer than 3 pairs or no spread)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < MIN_PEARSON_PAIRS or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
