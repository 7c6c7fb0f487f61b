"""Per-pixel training targets from instance labels: foreground, boundary and a normalised distance map."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: Order of the network's output channels.
TARGET_CHANNELS = ("foreground", "boundary", "distance")


def instance_boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels of an instance whose 4-neighbourhood holds another label or background.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.

    Returns
    -------
    (M, N) ndarray of bool
        A one-pixel band just inside every outline (including contacts between instances).
    """
    lab = np.asarray(labels)
    padded = np.pad(lab, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    differs = np.zeros(lab.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        differs |= padded[dy : dy + lab.shape[0], dx : dx + lab.shape[1]] != centre
    return differs & (lab > 0)


def make_targets(labels: np.ndarray) -> np.ndarray:
    """Targets of the three output channels for one labelled image.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = background.

    Returns
    -------
    (3, M, N) ndarray of float32
        ``foreground`` (1 inside a vesicle), ``boundary`` (1 on a two-pixel band
        across every outline and contact) and ``distance`` (Euclidean distance to
        the instance's outline divided by its largest value: 1 at each vesicle's
        centre, so touching vesicles have separate peaks).
    """
    lab = np.asarray(labels)
    fg = lab > 0
    inner = instance_boundaries(lab)
    band = inner | (ndi.binary_dilation(inner) & ~fg)  # the pixel inside and the one outside
    core = fg & ~inner
    dist = ndi.distance_transform_edt(core).astype(np.float32) + core.astype(np.float32) * 0.5
    peak = ndi.maximum(dist, lab, index=np.arange(lab.max() + 1)) if lab.max() > 0 else np.zeros(1)
    peak = np.asarray(peak, np.float32)
    peak[peak <= 0] = 1.0
    norm = np.where(fg, dist / peak[lab], 0.0).astype(np.float32)
    return np.stack([fg.astype(np.float32), band.astype(np.float32), norm])


def known_near_outlines(labels: np.ndarray, *, ring_px: float) -> np.ndarray:
    """Pixels an annotation that outlines only some vesicles speaks for: the vesicles and a ring around them.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        Instance labels, 0 = not outlined (vesicle or background: unknown).
    ring_px : float
        Width (pixels) of the background ring around every outline that counts as known.

    Returns
    -------
    (M, N) ndarray of bool
        True inside every outlined vesicle and within ``ring_px`` of one.
    """
    outlined = np.asarray(labels) > 0
    if not outlined.any():
        return outlined
    return ndi.distance_transform_edt(~outlined) <= ring_px


def with_known(targets: np.ndarray, known: np.ndarray | None) -> np.ndarray:
    """The three target channels with a fourth, the loss weight: 1 where the targets are known, else 0.

    ``known=None`` means every pixel is known (a generated sample).
    """
    weight = np.ones(targets.shape[1:], np.float32) if known is None else np.asarray(known, np.float32)
    return np.concatenate([targets, weight[None]], axis=0)
