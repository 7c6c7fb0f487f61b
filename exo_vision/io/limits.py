"""How much a file may decode to, checked from its header before any pixel is decoded.

A 979 KB deflate TIFF can announce 30000 x 30000 pixels (a decompression
bomb): decoding it took 11.9 GB. Every reader therefore asks
:func:`check_decoded_size` with the shape its header announces before it
decodes. The limit counts every value (frames x rows x columns x channels)
and can be raised by the caller (``--max-megapixels`` on the command line).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from exo_vision.io.image_data import ImageReadError

#: Default limit on decoded values, in millions (a 16000 x 16000 image).
DEFAULT_MAX_MEGAPIXELS = 256.0


def max_values(max_megapixels: float | None) -> int:
    """The limit in values for a limit in megapixels (None: the default)."""
    value = DEFAULT_MAX_MEGAPIXELS if max_megapixels is None else float(max_megapixels)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"`max_megapixels` must be a positive number, got {max_megapixels!r}")
    return int(value * 1e6)


def check_decoded_size(path: str | Path, shape: Sequence[int], *, max_megapixels: float | None = None) -> None:
    """Refuse a file whose announced data would exceed the limit.

    Parameters
    ----------
    path : str or Path
        The file (named in the message).
    shape : sequence of int
        Shape of the data the header announces (all frames and channels).
    max_megapixels : float or None
        Limit in millions of values; None uses :data:`DEFAULT_MAX_MEGAPIXELS`.

    Raises
    ------
    ImageReadError
        When the product of ``shape`` exceeds the limit.
    """
    count = 1
    for size in shape:
        count *= max(int(size), 0)
    limit = max_values(max_megapixels)
    if count > limit:
        raise ImageReadError(
            path,
            f"announces {count / 1e6:,.3g} megapixels (shape {tuple(int(s) for s in shape)}), more than the "
            f"{limit / 1e6:,.3g} MP limit on decoded size (a damaged header or a decompression bomb?)",
            "If the file is genuine, raise the limit with --max-megapixels N (max_megapixels=N), "
            "or crop the image first",
        )
