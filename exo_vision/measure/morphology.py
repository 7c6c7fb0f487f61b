"""Vesicle morphology: how cup-shaped, and round / cup / irregular.

Negative-stained EVs often collapse while drying into "cups": a darker,
stain-filled centre inside a raised, lighter rim. :func:`cup_score` measures
that depression; :func:`classify_morphology` turns a measurement table into
``"round"``, ``"cup"`` or ``"irregular"``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

#: Default cup-score threshold (depression in units of the noise of a 2 nm x 2 nm mean).
#: Chosen on generated micrographs of all difficulty levels at 0.5-1.5 nm/px: flat and
#: domed vesicles score below about 0.2, cups above about 0.7 (99 % correct at 0.5).
CUP_THRESHOLD = 0.5
#: Below this solidity (area / convex-hull area) an outline is irregular.
IRREGULAR_SOLIDITY = 0.85
#: Below this circularity (4 pi A / P^2, Crofton perimeter) an outline is irregular: the 0.6 chosen
#: with the 4-connected boundary-pixel perimeter, which reads vesicle-sized round outlines about 5 %
#: long (circularity x 0.904), carried over to the unbiased perimeter (0.6 / 0.904).
IRREGULAR_CIRCULARITY = 0.66
#: At or above this ratio of the fitted ellipse's axes (major / minor) an outline is irregular: an
#: elongated outline is not a round vesicle even when it is convex and smooth. Whole generated vesicles
#: reach 1.17 when round or cup-shaped; on the real hrml micrograph the annotated round vesicles reach 1.34
#: and the large irregular EV (two lobes, solidity 0.96, circularity 0.82) reads 1.56 annotated, 1.72 as
#: outlined after joining its two unet pieces.
IRREGULAR_ASPECT_RATIO = 1.5

#: Physical area whose mean defines the noise unit of the cup score, in nm.
_NOISE_CELL_NM = 2.0
#: Outer band of a vesicle ignored as membrane by :func:`cup_score`, nm (a stained bilayer and its halo).
MEMBRANE_NM = 5.0
#: A vesicle needs at least this much depth (distance to its edge, nm) beyond the membrane band to
#: have both a centre and a rim; shallower ones score NaN.
MIN_DEPTH_BEYOND_MEMBRANE_NM = 3.0
#: The centre is where the distance to the edge is at least this fraction of the deepest point's
#: (the inner third of the depth) ...
CENTRE_MIN_RELATIVE_DEPTH = 0.66
#: ... and the rim from this fraction up to half the depth (inside the membrane band's inner edge).
RIM_MIN_RELATIVE_DEPTH = 0.15
#: The noise of a cell mean never falls below this (a noise-free image does not divide by zero).
NOISE_FLOOR = 1e-12
#: cv2's distance transform uses the 5 x 5 mask: exact Euclidean distance for DIST_L2.
DISTANCE_MASK_SIZE = 5


def cup_score(
    region: np.ndarray, image: np.ndarray, *, pixel_size_nm: float, noise_std: float, membrane_nm: float = MEMBRANE_NM
) -> float:
    """How strongly a vesicle's centre is depressed relative to its rim.

    Parameters
    ----------
    region : (m, n) ndarray of bool
        The vesicle (a crop of the label image).
    image : (m, n) ndarray of float
        Matching crop of the image, in the vesicle-is-bright convention (negate
        a dark-polarity image first).
    pixel_size_nm : float
        Pixel edge length in nm.
    noise_std : float
        Per-pixel noise standard deviation of the whole image.
    membrane_nm : float
        Outer band (nm) ignored as membrane.

    Returns
    -------
    float
        ``(mean(rim) - mean(centre)) / noise`` where the centre is the inner
        third of the vesicle's depth (distance to its edge), the rim the band
        from the membrane to half depth, and ``noise`` is the noise of a mean
        over a 2 nm x 2 nm patch. About 0 for a flat vesicle, negative for a
        domed one, several units for a cup. NaN when the vesicle is too small
        to have a centre and a rim.
    """
    dist = cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, DISTANCE_MASK_SIZE)[1:-1, 1:-1]
    depth = float(dist.max())
    if depth * pixel_size_nm < membrane_nm + MIN_DEPTH_BEYOND_MEMBRANE_NM:
        return float("nan")
    rel = dist / depth
    d_nm = dist * pixel_size_nm
    centre = region & (rel >= CENTRE_MIN_RELATIVE_DEPTH)
    rim = region & (rel >= RIM_MIN_RELATIVE_DEPTH) & (rel <= 0.5) & (d_nm >= membrane_nm)
    if not centre.any() or not rim.any():
        return float("nan")
    pixels_per_cell = max((_NOISE_CELL_NM / pixel_size_nm) ** 2, 1.0)
    noise = max(noise_std / np.sqrt(pixels_per_cell), NOISE_FLOOR)
    return float((image[rim].mean() - image[centre].mean()) / noise)


#: The columns :func:`classify_morphology` reads.
MORPHOLOGY_COLUMNS = ("cup_score", "solidity", "circularity", "major_axis_nm", "minor_axis_nm")


def classify_morphology(
    table: pd.DataFrame,
    *,
    cup_threshold: float = CUP_THRESHOLD,
    irregular_solidity: float = IRREGULAR_SOLIDITY,
    irregular_circularity: float = IRREGULAR_CIRCULARITY,
    irregular_aspect_ratio: float = IRREGULAR_ASPECT_RATIO,
) -> pd.Series:
    """Classify vesicles as ``"round"``, ``"cup"`` or ``"irregular"``.

    A vesicle is a cup when ``cup_score >= cup_threshold`` (a cup may have a
    folded, non-convex rim: cup-shape wins). Otherwise it is irregular when
    ``solidity < irregular_solidity``, ``circularity < irregular_circularity``
    or ``major_axis_nm / minor_axis_nm >= irregular_aspect_ratio`` (elongated),
    else round.

    Parameters
    ----------
    table : DataFrame
        Needs columns ``cup_score``, ``solidity``, ``circularity``,
        ``major_axis_nm`` and ``minor_axis_nm`` (as made by
        :func:`exo_vision.measure.vesicles.measure_vesicles`).
    cup_threshold : float
        Minimum cup score of a cup (noise units of a 2 nm x 2 nm mean).
    irregular_solidity : float
        Solidity below which an outline is irregular.
    irregular_circularity : float
        Circularity below which an outline is irregular.
    irregular_aspect_ratio : float
        Ratio of the fitted ellipse's major to minor axis at or above which an outline is irregular.

    Returns
    -------
    Series of str
        Same index as ``table``, named ``"morphology"``.
    """
    missing = [c for c in MORPHOLOGY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"`table` lacks column(s) {missing}; pass the table made by measure_vesicles")
    cup = table["cup_score"].to_numpy(dtype=float) >= cup_threshold
    major, minor = table["major_axis_nm"].to_numpy(dtype=float), table["minor_axis_nm"].to_numpy(dtype=float)
    elongated = major >= irregular_aspect_ratio * minor  # no division: a one-pixel-wide outline has minor 0
    irregular = (
        (table["solidity"].to_numpy(dtype=float) < irregular_solidity)
        | (table["circularity"].to_numpy(dtype=float) < irregular_circularity)
        | elongated
    )
    values = np.where(cup, "cup", np.where(irregular, "irregular", "round"))
    return pd.Series(values, index=table.index, name="morphology", dtype="object")
