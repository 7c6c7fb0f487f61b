"""PNG, JPEG, BMP and GIF exports: pixels only, no physical calibration.

These formats carry at most a print resolution (dpi), which says nothing about
the specimen; it is kept in ``metadata["dpi"]`` for the record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from exo_vision.io.image_data import ImageReadError
from exo_vision.io.limits import check_decoded_size
from exo_vision.io.raw import RawImage

#: Extensions handled here (lower case, with the dot).
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def read_raster(path: str | Path, *, max_megapixels: float | None = None) -> RawImage:
    """Decode a PNG/JPEG/BMP/GIF/WebP file with Pillow.

    Parameters
    ----------
    path : str or Path
        Image file.
    max_megapixels : float or None
        Limit on the decoded size, checked from the header before decoding
        (:func:`exo_vision.io.limits.check_decoded_size`). Pillow's own limit
        (about 179 MP) still applies above it.

    Returns
    -------
    RawImage
        ``(M, N)`` for gray images, ``(M, N, 3|4)`` with ``rgb=True`` for colour;
        8-bit unless the file is 16-bit gray (``I;16`` PNG). Multi-frame files
        (animated GIF) come back as ``(F, M, N[, C])``. No pixel size.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            n_frames = getattr(img, "n_frames", 1)
            check_decoded_size(
                path, (n_frames, img.size[1], img.size[0], len(img.getbands())), max_megapixels=max_megapixels
            )
            return _decode(img)
    except Image.DecompressionBombError as err:
        raise ImageReadError(
            path, f"is larger than Pillow decodes ({err})", "Crop or downsample the image before analysing it"
        ) from None


def _decode(img: Image.Image) -> RawImage:
    """Pixels and dpi of an opened Pillow image (every frame)."""
    img.load()
    metadata: dict[str, Any] = {"format": img.format, "pil_mode": img.mode}
    dpi = img.info.get("dpi")
    if dpi:
        metadata["dpi"] = round(float(dpi[0]), 3)
    frames = []
    n_frames = getattr(img, "n_frames", 1)
    for index in range(n_frames):
        img.seek(index)
        frames.append(_as_array(img))
    data = frames[0] if len(frames) == 1 else np.stack(frames)
    rgb = data.ndim >= 3 and data.shape[-1] in (3, 4) and frames[0].ndim == 3
    return RawImage(data=data, rgb=rgb, metadata=metadata)


def _as_array(img: Image.Image) -> np.ndarray:
    """One Pillow frame as a numpy array in a sensible mode."""
    mode = img.mode
    if mode in ("L", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(img)
        if mode == "I" and array.size and array.min() >= 0 and array.max() <= 65535:
            array = array.astype(np.uint16)
        return array
    if mode in ("1", "LA"):
        return np.asarray(img.convert("L"))
    if mode in ("P", "PA"):
        keeps_alpha = mode == "PA" or "transparency" in img.info
        return np.asarray(img.convert("RGBA" if keeps_alpha else "RGB"))
    return np.asarray(img.convert("RGB"))
