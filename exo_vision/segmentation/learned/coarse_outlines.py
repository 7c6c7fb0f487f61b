"""What the user is told about outlines of micrographs coarser than the outer half membrane can be added at.

The learned method adds the outer half of the stained membrane with a disk dilation at full resolution
(:func:`~exo_vision.segmentation.learned.method.grow_labels`); coarser than
:func:`half_membrane_limit_nm` (2.31 nm/px) that disk is a single pixel
and the half membrane is not added. The figures below are ``benchmarks/tem_coarse_sizes.py``'s (docs/benchmarks.md,
"Coarse micrographs"): generated scenes made coarse two ways, rendered at 1 nm/px and area-downscaled, or rendered
directly at the coarse pixel size. The real FRU-Net patches (3.83 nm/px) did not show the bias against their
annotators' outlines, so the figures describe the construction, not a correction factor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: The network outlines vesicles along their membrane's darkest line (as the generator draws
#: them); the reported outline lies half a membrane further out, at the membrane's outer edge,
#: as the classical method places it (its ``membrane_thickness_nm`` = 4).
MEMBRANE_THICKNESS_NM = 4.0
#: A pixel is in the growing disk when its squared distance to the centre is within radius**2 plus
#: this (px**2): the disk of radius 1 is then the 3 x 3 cross, not a single pixel with ragged arms.
DISK_SQUARED_SLACK_PX2 = 0.25


def half_membrane_limit_nm() -> float:
    """The coarsest pixel size (nm) at which the outlines still grow by the outer half membrane.

    :func:`~exo_vision.segmentation.learned.method.grow_labels` adds it as a disk;
    coarser, the disk of half a membrane is a single pixel (or nothing), so the
    outline stays on the membrane's middle line.
    """
    return 0.5 * MEMBRANE_THICKNESS_NM / math.sqrt(1.0 - DISK_SQUARED_SLACK_PX2)


#: Words every coarse-outline warning holds (also the warnings of runs before the figures were re-measured): a
#: run's image record is recognised as measured without the outer half membrane by them.
COARSE_OUTLINE_MARK = "the outer half of the stained membrane"

#: The default's measured signed diameter errors at 2.5-5 nm/px, by truth diameter class.
DEFAULT_BIAS_WORDS = (
    "on generated scenes at 2.5-5 nm/px vesicles under 50 nm came out 12-14 % small when rendered at 1 nm/px and "
    "downscaled, 12-19 % when rendered directly at the coarse pixel size; 50-100 nm 7-9 %, 100 nm and over 4-5 %"
)

#: The ``--subpixel-membrane`` variant's measured errors on the same scenes.
VARIANT_BIAS_WORDS = (
    "under 50 nm 5-6 % small downscaled, 5-11 % rendered directly; 50-100 nm 3-4 %, 100 nm and over 1-2 %"
)

#: Why the figures are no correction factor.
REAL_DATA_WORDS = (
    "the real FRU-Net patches (3.83 nm/px) showed no such bias against their annotators' outlines (under 50 nm "
    "about +0 %), so these figures are not a correction factor"
)


def limit_words() -> str:
    """The pixel size (nm/px) coarser than which the outer half membrane is not added, as text: ``"2.31 nm/px"``."""
    return f"{half_membrane_limit_nm():.2f} nm/px"


def is_coarse_outline_warning(text: object) -> bool:
    """Whether a run's warning text is the coarse-outline warning
    (:func:`~exo_vision.segmentation.learned.method.coarse_outline_warning`)."""
    return COARSE_OUTLINE_MARK in str(text)


def measured_without_half_membrane(warnings: Iterable[object] | None) -> bool:
    """Whether an image's recorded warnings say its outlines lack the outer half membrane."""
    return any(is_coarse_outline_warning(w) for w in warnings or ())


def pooled_coarse_note(n_coarse: int, n_images: int) -> str | None:
    """What a pooled size distribution of ``n_images`` micrographs must say when ``n_coarse`` of them were
    segmented coarser than :func:`limit_words` without the outer half membrane, or None when none was.

    Parameters
    ----------
    n_coarse : int
        Pooled micrographs whose run warned that the outer half membrane was not added.
    n_images : int
        Pooled micrographs (each once).

    Returns
    -------
    str or None
        One sentence for a mixed pool (two outline constructions in one distribution), another for a pool
        entirely coarser than the limit; None when no pooled micrograph is coarse.
    """
    if n_coarse <= 0:
        return None
    limit = limit_words()
    if n_coarse >= n_images:
        return (
            f"every pooled micrograph ({n_images}) has pixels coarser than {limit}: its sizes come from outlines "
            f"without the outer half membrane ({DEFAULT_BIAS_WORDS}; {REAL_DATA_WORDS}); for sizes to compare with "
            "finer micrographs segment with a model made by `exo-vision model --subpixel-membrane`"
        )
    return (
        f"{n_coarse} of the {n_images} pooled micrographs have pixels coarser than {limit} and were measured without "
        f"the outer half membrane, the others with it: the pooled distribution mixes two outline constructions "
        f"({DEFAULT_BIAS_WORDS}; {REAL_DATA_WORDS}); report the two groups apart, or segment the coarse ones with "
        "a model made by `exo-vision model --subpixel-membrane`"
    )


def pooled_coarse_note_of(warnings: Iterable[Iterable[object] | None]) -> str | None:
    """:func:`pooled_coarse_note` of the pooled micrographs whose recorded warnings are ``warnings`` (one entry per
    micrograph, each once; None for a micrograph without warnings)."""
    flags = [measured_without_half_membrane(w) for w in warnings]
    return pooled_coarse_note(sum(flags), len(flags))
