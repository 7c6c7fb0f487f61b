"""Find the membrane strips in a blot image.

Membranes are often cut into horizontal strips (one per antibody) and imaged
together; the gaps between strips hold no membrane and are darker in signal
orientation. A strip is a run of rows (and, within it, columns) whose low
percentile stays clearly above the gap level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: A strip must be at least this many pixels tall.
MIN_STRIP_HEIGHT_PX = 16


@dataclass
class Strip:
    """One membrane strip: a box in pixel coordinates (end-exclusive).

    Attributes
    ----------
    index : int
        1-based strip number, top to bottom.
    y_top_px, y_bottom_px : int
        First row and one past the last row.
    x_left_px, x_right_px : int
        First column and one past the last column.
    """

    index: int
    y_top_px: int
    y_bottom_px: int
    x_left_px: int
    x_right_px: int

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


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start/end (exclusive) of each run of True in a 1-D boolean array."""
    labels, n = ndi.label(mask)
    return [(int(s.start), int(s.stop)) for (s,) in ndi.find_objects(labels)] if n else []


def _split_profile(profile: np.ndarray, *, min_run: int, floor: float) -> list[tuple[int, int]] | None:
    """Split a 1-D low-percentile profile into membrane runs, or None if there is no clear gap."""
    lo, hi = np.percentile(profile, [2, 98])
    if hi <= lo:
        return None
    threshold = lo + 0.3 * (hi - lo)
    on = profile > threshold
    on = ndi.binary_closing(on, structure=np.ones(5, bool)) | on
    # edge rows/columns are half membrane, half gap: trim them
    runs = [(a + 2, b - 2) for a, b in _runs(on) if b - a - 4 >= min_run]
    if not runs:
        return None
    off = ~on
    if off.sum() < 0.03 * profile.size:
        return None
    # A real gap is flat and low: membrane rows must sit well above gap rows
    # compared with how much the membrane level itself varies.
    # A real gap is flat and low (camera floor, no membrane): its rows vary little
    # compared with the step up to the membrane. A smooth gradient fails this test.
    membrane = profile[on]
    gap = profile[off]
    spread = 1.4826 * np.median(np.abs(gap - np.median(gap))) + 1e-6
    step = np.median(membrane) - np.median(gap)
    # ... and the gap is the camera floor: the membrane background stands at least twice
    # as far above the image's darkest level as the gap does (a gel's slightly darker
    # rim is not a gap between strips)
    if step < 10.0 * spread or step < 0.5 * (np.median(membrane) - floor):
        return None
    return runs


def find_strips(signal: np.ndarray, *, min_height_px: int = MIN_STRIP_HEIGHT_PX) -> list[Strip]:
    """Find membrane strips stacked top to bottom in a blot image.

    Parameters
    ----------
    signal : (M, N) ndarray
        Blot in signal orientation (see :func:`exo_vision.blot.signal.to_signal`).
    min_height_px : int
        Shortest strip kept, in pixels.

    Returns
    -------
    list of Strip
        At least one strip; the whole image when no gaps are found.
    """
    signal = np.asarray(signal, dtype=np.float32)
    step = max(1, signal.shape[1] // 256)
    rows = np.percentile(signal[:, ::step], 20, axis=1)
    rows = ndi.uniform_filter1d(rows, 3)
    sample = signal[:: max(1, signal.shape[0] // 512), ::step]
    floor = float(np.percentile(sample, 0.1))
    # a strip is a sizeable part of the image, not a single band row
    runs = _split_profile(rows, min_run=max(min_height_px, int(0.06 * signal.shape[0])), floor=floor)
    if runs is None:
        runs = [(0, signal.shape[0])]
    strips = []
    for a, b in runs:
        block = signal[a:b]
        cstep = max(1, block.shape[0] // 128)
        cols = ndi.uniform_filter1d(np.percentile(block[::cstep], 20, axis=0), 3)
        col_runs = _split_profile(cols, min_run=max(min_height_px, int(0.06 * signal.shape[1])), floor=floor)
        if col_runs is None:
            x0, x1 = 0, signal.shape[1]
        else:
            x0, x1 = col_runs[0][0], col_runs[-1][1]
        strips.append(Strip(len(strips) + 1, a, b, x0, x1))
    return strips
