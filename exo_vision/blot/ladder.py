"""Molecular-weight calibration from a ladder lane.

Migration distance is linear in log10(molecular weight) over a gel's working
range, so ``log10(kDa) = intercept + slope * y_px`` is fitted by least squares
to the ladder's band rows and their known sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Typical windows (kDa) of the MISEV marker panel (CD63 is a broad glycosylated smear).
MARKER_WINDOWS_KDA: dict[str, tuple[float, float]] = {
    "CD9": (20.0, 28.0),
    "CD63": (30.0, 65.0),
    "calnexin": (80.0, 100.0),
}

#: A lane whose name contains this word (any letter case) is taken as the ladder lane when none is given.
LADDER_LANE_WORD = "ladder"

#: The ladder fit is in log10(kDa): its inverse raises this base.
LOG_BASE = 10.0


@dataclass
class MWCalibration:
    """``log10(kDa) = intercept + slope * y_px`` fitted on ladder bands.

    Attributes
    ----------
    intercept, slope : float
        Fit coefficients (slope per pixel row; negative: heavier proteins sit higher).
    y_px : (K,) ndarray
        Ladder band rows used.
    kda : (K,) ndarray
        Their sizes in kDa.
    r_squared : float
        Coefficient of determination of the fit in log space.
    unmatched_y_px : tuple of float
        Rows of bands seen in the ladder lane but left out of the fit (more bands than sizes given).
    """

    intercept: float
    slope: float
    y_px: np.ndarray
    kda: np.ndarray
    r_squared: float
    unmatched_y_px: tuple[float, ...] = ()

    def kda_at(self, y_px: float | np.ndarray) -> np.ndarray:
        """Molecular weight (kDa) at image row(s) ``y_px``."""
        return LOG_BASE ** (self.intercept + self.slope * np.asarray(y_px, dtype=float))

    def y_at(self, kda: float | np.ndarray) -> np.ndarray:
        """Image row(s) where a protein of ``kda`` runs."""
        return (np.log10(np.asarray(kda, dtype=float)) - self.intercept) / self.slope

    def window_px(self, kda_low: float, kda_high: float) -> tuple[int, int]:
        """Rows ``(top, bottom)`` covering ``kda_low .. kda_high`` (bottom exclusive)."""
        ys = sorted(float(v) for v in self.y_at(np.array([kda_low, kda_high], dtype=float)))
        return int(np.floor(ys[0])), int(np.ceil(ys[1])) + 1


def fit_ladder(y_px: Sequence[float], kda: Sequence[float]) -> MWCalibration:
    """Fit migration distance against log10 molecular weight.

    Parameters
    ----------
    y_px : sequence of float
        Row of each ladder band in the image.
    kda : sequence of float
        Known size of each band in kDa (same order).

    Returns
    -------
    MWCalibration
    """
    y = np.asarray(y_px, dtype=float)
    m = np.asarray(kda, dtype=float)
    if y.shape != m.shape or y.ndim != 1:
        raise ValueError(f"need one ladder size per band row: got {y.size} rows and {m.size} sizes")
    if y.size < 2:
        raise ValueError(f"a ladder fit needs at least 2 bands, got {y.size}; give more ladder sizes")
    if np.any(m <= 0) or not np.all(np.isfinite(m)) or not np.all(np.isfinite(y)):
        raise ValueError(f"ladder sizes must be positive finite kDa, got {m.tolist()}")
    if np.ptp(y) == 0:
        raise ValueError("all ladder bands sit on the same row; check the ladder lane")
    logm = np.log10(m)
    slope, intercept = np.polyfit(y, logm, 1)
    pred = intercept + slope * y
    ss_res = float(((logm - pred) ** 2).sum())
    ss_tot = float(((logm - logm.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    if slope >= 0:
        raise ValueError(
            f"ladder sizes {m.tolist()} do not decrease down the gel (rows {y.tolist()}); "
            "list sizes top to bottom, heaviest first"
        )
    return MWCalibration(float(intercept), float(slope), y, m, r2)


def named_ladder_lane(lane_names: Sequence[str] | None) -> int | None:
    """The 1-based number of the lane named as a ladder, when exactly one lane's name contains
    :data:`LADDER_LANE_WORD` (any letter case); None otherwise."""
    found = [i for i, name in enumerate(lane_names or [], start=1) if LADDER_LANE_WORD in str(name).casefold()]
    return found[0] if len(found) == 1 else None
