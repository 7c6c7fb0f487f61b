"""Equivalent-diameter classes of the TEM benchmarks' breakdowns (``tem_real.py --by-size``,
``tem_accuracy.py --by-kind``), so that both split vesicles at the same diameters."""

from __future__ import annotations

import numpy as np

#: Limits between the classes (nm): under 50, 50-100, 100 and over.
SIZE_CLASSES_NM = (50.0, 100.0)


def class_names() -> list[str]:
    """The classes' names, smallest first (``"0-50"``, ``"50-100"``, ``">=100"``)."""
    lows = (0.0, *SIZE_CLASSES_NM)
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(lows[:-1], SIZE_CLASSES_NM, strict=True)] + [f">={lows[-1]:g}"]


def diameter_class(diameter_nm: float) -> str:
    """The name of the class holding ``diameter_nm``."""
    return class_names()[int(np.searchsorted(SIZE_CLASSES_NM, diameter_nm, side="right"))]


def equivalent_diameters_nm(labels: np.ndarray, pixel_size_nm: float) -> dict[int, float]:
    """Area-equivalent diameter (nm) of every object of an instance-label image, by label."""
    ids, area = np.unique(labels[labels > 0], return_counts=True)
    return {int(k): 2.0 * float(np.sqrt(n / np.pi)) * pixel_size_nm for k, n in zip(ids, area, strict=True)}
