"""Turned views of a micrograph, so that a vertical scale bar can be searched as a horizontal one.

Camera software and Fiji often store micrographs turned by 90 degrees or
transposed: the burnt-in bar then runs vertically and its label is turned (and,
for a transpose, mirrored). The bar search in :mod:`.bar` looks for horizontal
bars only; each :data:`Frame` here shows the image with a vertical bar made
horizontal, and maps a box found in that view back to the image's own pixels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from exo_vision.calibration.bar import Box

#: A view of the image in which a vertical bar is horizontal. "transpose" swaps rows and columns;
#: "rot90" and "rot270" turn the image counter-clockwise by 90 and 270 degrees (text turned by 90 degrees
#: reads upright in one of them); "antitranspose" is the transpose about the other diagonal.
Frame = Literal["transpose", "rot90", "rot270", "antitranspose"]
#: The order in which the turned views are read: the turns (upright text in one of them) before the
#: mirrored views.
TURNED_FRAMES: tuple[Frame, ...] = ("rot90", "rot270", "transpose", "antitranspose")


def view(gray: np.ndarray, frame: Frame) -> np.ndarray:
    """``gray`` seen in ``frame`` (a C-contiguous copy, its vertical lines horizontal).

    Parameters
    ----------
    gray : (M, N) ndarray
        The image.
    frame : {"transpose", "rot90", "rot270", "antitranspose"}
        The view.

    Returns
    -------
    (N, M) ndarray
    """
    if frame == "transpose":
        turned = gray.T
    elif frame == "rot90":
        turned = np.rot90(gray, 1)
    elif frame == "rot270":
        turned = np.rot90(gray, -1)
    elif frame == "antitranspose":
        turned = np.rot90(gray, 2).T
    else:
        raise ValueError(f"`frame` must be one of {TURNED_FRAMES}, got {frame!r}")
    return np.ascontiguousarray(turned)


def box_to_image(box: Box, frame: Frame, shape: tuple[int, int]) -> Box:
    """A half-open box found in ``view(gray, frame)`` as a box of ``gray`` itself.

    Parameters
    ----------
    box : (row0, col0, row1, col1)
        Half-open box in the turned view.
    frame : {"transpose", "rot90", "rot270", "antitranspose"}
        The view the box was found in.
    shape : (M, N)
        Shape of the image itself (not of the view).

    Returns
    -------
    (row0, col0, row1, col1)
        The same pixels as a half-open box of the image.
    """
    height, width = shape
    r0, c0, r1, c1 = (int(v) for v in box)
    if frame == "transpose":
        return (c0, r0, c1, r1)
    if frame == "rot90":  # view[i, j] = image[j, width - 1 - i]
        return (c0, width - r1, c1, width - r0)
    if frame == "rot270":  # view[i, j] = image[height - 1 - j, i]
        return (height - c1, r0, height - c0, r1)
    if frame == "antitranspose":  # view[i, j] = image[height - 1 - j, width - 1 - i]
        return (height - c1, width - r1, height - c0, width - r0)
    raise ValueError(f"`frame` must be one of {TURNED_FRAMES}, got {frame!r}")


def transposed_box(box: Box) -> Box:
    """A box of the image as a box of its transpose (rows and columns swapped)."""
    r0, c0, r1, c1 = box
    return (c0, r0, c1, r1)


def is_vertical(box: Box | None) -> bool:
    """Whether a bar box is taller than it is wide (a bar drawn vertically)."""
    if box is None:
        return False
    r0, c0, r1, c1 = box
    return (r1 - r0) > (c1 - c0)
