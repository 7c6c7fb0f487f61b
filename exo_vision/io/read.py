"""The one reading API: any supported file -> one calibrated 2-D :class:`ImageData`.

Decisions documented here (they are also in the :func:`read_image` docstring):

* **Format** is decided by the file's first bytes (TIFF/BigTIFF, Bio-Rad Image
  Lab MIME header, HDF5, PNG, JPEG, BMP, GIF), then by the extension for
  formats without a reliable signature (DM3/DM4, SER/EMI, MRC).
* **Kind** (``kind="auto"``): EM formats and TIFFs with EM vendor tags are
  ``"tem"``; Bio-Rad ``.scn``, TIFFs written by Image Lab and file names like
  ``"... (Chemiluminescence).tif"``, ``chemidoc``, ``western`` or ``blot`` are
  ``"blot"``; an image whose metadata pixel is at most
  :data:`TEM_PIXEL_LIMIT_NM` is ``"tem"``; otherwise ``"unknown"``, which
  becomes ``"tem"`` when a scale bar is read successfully.
* **Non-square pixels**: both axes are kept in ``pixel_size_yx_nm`` and
  ``pixel_size_nm`` is their mean. A difference over 1 % adds a warning; over
  5 % a TEM image is refused (diameters in nm would depend on direction)
  unless the caller gives ``pixel_size_nm``.
* **Reciprocal calibration** (``1/nm``: diffraction patterns, FFTs) is refused
  for anything but a blot unless the caller gives ``pixel_size_nm``.
* **RGB**: converted to gray when the channels agree (gray content, JPEG noise
  tolerated); otherwise refused for TEM, and converted by luminance with a
  warning for blots and unknown images.
* **File calibration vs scale bar**: a TEM image calibrated in its metadata
  that also carries a readable scale bar gets a warning when the two differ by
  more than :func:`scale_bar_tolerance`; the file's value is still used.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from exo_vision.calibration.scalebar import read_scale_bar
from exo_vision.io import em
from exo_vision.io.em import MRC_HEADER_SUFFIXES, RSCIIO_HEADER_SUFFIXES, read_mrc
from exo_vision.io.image_data import (
    COLOUR_CHANNELS,
    SOURCE_NONE,
    SOURCE_SCALE_BAR,
    SOURCE_USER,
    ImageData,
    ImageReadError,
    metadata_source,
)
from exo_vision.io.limits import max_values
from exo_vision.io.polarity import detect_band_polarity
from exo_vision.io.raster import RASTER_SUFFIXES, read_raster
from exo_vision.io.raw import RawImage
from exo_vision.io.scn import read_scn
from exo_vision.io.tiff import PAGES_AS_FRAMES, TIFF_MAGICS, read_tiff

logger = logging.getLogger(__name__)

#: A metadata pixel size at or below this marks an image as electron microscopy.
TEM_PIXEL_LIMIT_NM = 100.0
#: Relative difference between the two pixel axes that earns a warning.
NON_SQUARE_WARN = 0.01
#: Relative difference between the two pixel axes that makes TEM sizes ambiguous.
NON_SQUARE_REFUSE = 0.05
#: A file calibration and a scale bar read from the same image may differ by this fraction plus
#: :data:`SCALE_BAR_END_PX` over the bar's length without a warning: labels are round lengths drawn over a
#: whole number of pixels by the acquisition software (under 1 % for bars of 50 px or more), and a magnification
#: preset may be off by a per cent or so; a re-saved file or a wrong preset is 10 % or more off (micro50: 60 %).
SCALE_BAR_AGREEMENT = 0.02
#: Pixels of a bar's measured length that its two ends may be off by (JPEG blur, an anti-aliased end).
SCALE_BAR_END_PX = 1.5
#: Channel spread (fraction of the dtype range) still taken as gray content.
GRAY_TOLERANCE = 0.02
#: Warning put on every 8-bit blot.
#: A file read as a TEM micrograph is refused as a label image or mask when this fraction of horizontally
#: neighbouring pixels are equal and its most common value covers :data:`LABEL_IMAGE_MODE_FRACTION` of it. A
#: micrograph's shot noise makes neighbours differ: at most 10 % are equal in the real micrographs of
#: ``../shared/data/tem`` (FRU-Net renders 4-10 %, the hrml JPEG 5 %) and 16 % in its imaging-format fixtures
#: (except a vendor test file that is 97 % black); the FRU-Net label images: 99.1-99.9 %.
LABEL_IMAGE_EQUAL_NEIGHBOURS = 0.97
#: See :data:`LABEL_IMAGE_EQUAL_NEIGHBOURS` (label images and masks: their background, 90-99 % of the pixels).
LABEL_IMAGE_MODE_FRACTION = 0.5
#: A file read as a blot is refused as a mask only with at most this many distinct values as well: raw blots on a
#: black or saturated surround reach 98 % equal neighbours (the PLOS raw-blot scan, 256 values); the band masks of
#: ``../shared/data/gels`` hold 2.
LABEL_IMAGE_MAX_VALUES_BLOT = 64
EIGHT_BIT_BLOT_WARNING = "8-bit export for publication: unsuitable for quantification"

_BLOT_NAME = re.compile(r"\((chemiluminescence|colorimetric)\)|chemidoc|image\s*lab|western|blot", re.I)
_EM_SUFFIXES = {".dm3": "dm", ".dm4": "dm", ".ser": "tia", ".emi": "tia", ".emd": "emd"}
_MRC_SUFFIXES = MRC_HEADER_SUFFIXES
#: Every file suffix :func:`read_image` reads (lower case, with the dot): TIFF and the other rasters, the EM
#: formats (MRC and its stack and volume suffixes, DigitalMicrograph, TIA, EMD) and Bio-Rad's .scn; napari's
#: reader takes the same.
READABLE_SUFFIXES = (
    frozenset({".tif", ".tiff", ".scn", *RASTER_SUFFIXES}) | MRC_HEADER_SUFFIXES | frozenset(RSCIIO_HEADER_SUFFIXES)
)
_SUPPORTED = "TIFF, DM3/DM4, EMD, SER/EMI, MRC, Bio-Rad .scn, PNG, JPEG, BMP"
_FORMAT_NAMES = {
    "tiff": "TIFF",
    "biorad_scn": "Bio-Rad Image Lab .scn",
    "raster": "PNG/JPEG/BMP/GIF",
    "mrc": "MRC",
    "dm": "DM3/DM4",
    "emd": "EMD (HDF5)",
    "tia": "TIA SER/EMI",
}


def read_image(
    path: str | Path,
    *,
    kind: Literal["auto", "tem", "blot"] = "auto",
    frame: int | None = None,
    pixel_size_nm: float | None = None,
    scale_bar: bool = True,
    max_megapixels: float | None = None,
    channel: str | None = None,
) -> ImageData:
    """Read one 2-D image with its physical calibration and its provenance.

    Parameters
    ----------
    path : str or Path
        Image file: TIFF/BigTIFF (ImageJ, OME, DigitalMicrograph, FEI/Thermo,
        Zeiss SEM, TVIPS, JEOL SightX, Olympus SIS, Hamamatsu tags or plain
        resolution tags), Gatan DM3/DM4, Velox EMD, FEI TIA SER/EMI, MRC,
        Bio-Rad Image Lab ``.scn``, PNG, JPEG, BMP, GIF.
    kind : {"auto", "tem", "blot"}
        What the image is. ``"auto"`` decides from format, tags, file name and
        a readable scale bar (see the module docstring); it may give
        ``"unknown"``. ``"tem"`` and ``"blot"`` also refuse an image that is
        piecewise constant like a label image or mask (see
        :data:`LABEL_IMAGE_EQUAL_NEIGHBOURS`), which an image's noise never is.
    frame : int or None
        Which frame to read from a stack (3-D/4-D data; leading axes are
        flattened in C order). ``None`` refuses stacks.
    pixel_size_nm : float or None
        Pixel edge length in nanometres typed by the user. Overrides the file's
        calibration and the scale bar; source ``"user"``.
    scale_bar : bool
        For TEM (or unknown) images without metadata calibration, try reading a
        burnt-in scale bar (``exo_vision.calibration.scalebar``); only a reading
        with status ``"ok"`` is used. For TEM images calibrated in their
        metadata, compare that calibration with a readable bar and warn when
        they disagree (:func:`scale_bar_disagreement`); the file's value stays.
    max_megapixels : float or None
        Limit on the decoded size (millions of values over all frames and
        channels), checked from the file's header before decoding; None uses
        :data:`exo_vision.io.limits.DEFAULT_MAX_MEGAPIXELS`.
    channel : {"red", "green", "blue"} or None
        Read this channel of a colour image as it is (one target of a two-colour fluorescence export, e.g.
        700 nm in red and 800 nm in green) instead of converting the colours to gray; ignored, with a
        warning, for a gray image.

    Returns
    -------
    ImageData
        ``data`` is ``(M, N)`` in the file's dtype (gray RGB content becomes one
        channel of the same dtype; bool becomes uint8). ``pixel_size_source``
        is ``"file metadata: <tag>"``, ``"scale bar"``, ``"user"`` or
        ``"none"``. For blots ``polarity``, ``max_value`` (saturation level:
        0 for inverted integer exports) and ``exposure_s`` are filled.

    Raises
    ------
    ImageReadError
        For a missing, empty, truncated, corrupt or unsupported file, a
        spectrum, a stack without ``frame``, a colour TEM image, an image of
        one value, a reciprocal-space calibration, or strongly non-square TEM
        pixels. The message names the file, the problem and the fix.
    ValueError
        For invalid arguments (unknown ``kind``, negative ``frame``,
        non-positive ``pixel_size_nm``).

    Notes
    -----
    Calibration precedence: ``pixel_size_nm`` (user) > file metadata > scale
    bar > none. ``kind="auto"``: EM formats and EM vendor TIFF tags give
    ``"tem"``; Bio-Rad ``.scn``, Image Lab TIFF tags and blot-like file names
    (``"(Chemiluminescence)"``, ``chemidoc``, ``western``, ``blot``) give
    ``"blot"``; a metadata pixel of at most 100 nm gives ``"tem"``; else
    ``"unknown"``, turned into ``"tem"`` by a successful scale-bar reading.
    Non-square pixels: both axes go to ``pixel_size_yx_nm`` and
    ``pixel_size_nm`` is their mean; over 1 % apart adds a warning; over 5 %
    apart a TEM image is refused (a diameter in nm would depend on its
    direction) unless ``pixel_size_nm`` is given. A reciprocal-space
    calibration (``1/nm``: diffraction pattern or FFT) is refused unless the
    image is read as a blot or ``pixel_size_nm`` is given. Resolution tags in
    dpi (coarser than 10 µm per pixel) are print resolutions: recorded in
    ``metadata["dpi"]``, never used as a pixel size.

    Examples
    --------
    >>> image = read_image("grid3_30kx.dm4")  # doctest: +SKIP
    >>> image.pixel_size_nm, image.pixel_size_source  # doctest: +SKIP
    (0.2485, 'file metadata: DigitalMicrograph ImageData.Calibrations.Dimension scale/units')
    """
    path = Path(path)
    if kind not in ("auto", "tem", "blot"):
        raise ValueError(f"`kind` must be 'auto', 'tem' or 'blot', got {kind!r}")
    if frame is not None and (isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or frame < 0):
        raise ValueError(f"`frame` must be a non-negative integer frame index, got {frame!r}")
    if channel is not None and channel not in COLOUR_CHANNELS:
        raise ValueError(f"`channel` must be one of {', '.join(COLOUR_CHANNELS)} or None, got {channel!r}")
    user_px = _check_user_pixel_size(pixel_size_nm)
    max_values(max_megapixels)  # validates the argument
    _check_file(path)

    raw = _decode(path, max_megapixels=max_megapixels)
    pages_note: list[str] = []
    if frame is None and kind == "blot" and (raw.metadata.get("tiff_series") or {}).get("read") == PAGES_AS_FRAMES:
        # a blot export with its pages (chemiluminescence, marker image) of one shape: the first, as before
        frame = 0
        pages_note.append(
            f"the file holds {raw.data.shape[0]} pages of one shape; read the first (choose another with --frame K, "
            "e.g. the other channel of a fluorescence export)"
        )
    data, shaping_notes = _to_2d(raw, path=path, frame=frame, kind=kind, channel=channel)
    warnings_out = list(raw.warnings) + pages_note + shaping_notes
    metadata: dict[str, Any] = dict(raw.metadata)
    metadata["original_shape"] = list(raw.data.shape)
    metadata["original_dtype"] = str(raw.data.dtype)
    if frame is not None:
        metadata["frame"] = int(frame)

    resolved, reason = _decide_kind(kind, raw, path)
    metadata["kind_reason"] = reason
    if resolved == "tem" and metadata.get("converted_from") == "colour":
        raise ImageReadError(
            path,
            "is a colour image (its RGB channels differ), not a gray TEM micrograph",
            "Export the micrograph as gray (8/16-bit) or pass kind='blot' if it is a blot",
        )

    if kind in ("tem", "blot"):
        _refuse_label_image(data, path, max_values=LABEL_IMAGE_MAX_VALUES_BLOT if kind == "blot" else None)
    elif np.issubdtype(data.dtype, np.integer) and (why := label_image_reason(data, strict=True)) is not None:
        metadata["label_image"] = True
        warnings_out.append(f"looks like a label image or mask, not a micrograph or blot: {why}")
    image = ImageData(data=data, path=path, kind=resolved, metadata=metadata, warnings=warnings_out)
    _calibrate(image, raw, path=path, user_px=user_px, scale_bar=scale_bar)
    if image.kind == "blot":
        _describe_blot(image, raw)
    return image


def _check_user_pixel_size(pixel_size_nm: float | None) -> float | None:
    if pixel_size_nm is None:
        return None
    try:
        value = float(pixel_size_nm)
    except (TypeError, ValueError):
        raise ValueError(
            f"`pixel_size_nm` must be a number of nanometres, got {pixel_size_nm!r}; pass e.g. 0.62"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"`pixel_size_nm` must be a positive number of nanometres, got {pixel_size_nm!r}; pass e.g. 0.62"
        )
    return value


def _check_file(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise ImageReadError(
            path,
            f"is a symbolic link to {os.readlink(path)}, which does not exist",
            "Restore the file it points to, or remove the link",
        )
    if not path.exists():
        raise ImageReadError(path, "does not exist", "Check the path and the spelling of the file name")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not an image file", "Give the path of one image file inside it")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "is empty (0 bytes)", "Copy or export the file again; it was not written completely")


def _sniff(path: Path) -> str | None:
    """Format name from the first bytes, or ``None`` when they do not tell."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[:4] in TIFF_MAGICS:
        return "tiff"
    if head.lstrip().startswith(b"Generated by Image Lab") or (b"Image Lab" in head and b"MIME-Version" in head):
        return "biorad_scn"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff") or head.startswith(b"BM") or head[:4] == b"GIF8":
        return "raster"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "raster"
    return None


def _format_from_suffix(path: Path, suffix: str) -> str:
    """The reader of a file whose content has no known signature, from its extension (EM and MRC files)."""
    if suffix in _EM_SUFFIXES and suffix != ".emd":
        return _EM_SUFFIXES[suffix]
    if suffix in _MRC_SUFFIXES:
        return "mrc"
    if suffix in (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".scn", ".emd"):
        raise ImageReadError(
            path,
            f"has the extension {path.suffix} but its content is not a {path.suffix.lstrip('.').upper()} "
            "image (wrong signature: a renamed text or other file?)",
            "Open the original file exported by the instrument or imaging software",
        )
    raise ImageReadError(path, "is not in a recognised image format", f"Export it as one of: {_SUPPORTED}")


def _decode(path: Path, *, max_megapixels: float | None = None) -> RawImage:
    """Dispatch to a format reader; turn library failures into ImageReadError."""
    suffix = path.suffix.lower()
    try:
        sniffed = _sniff(path)
    except OSError as exc:
        raise ImageReadError(
            path,
            f"could not be opened ({type(exc).__name__}: {exc})",
            "Check that you may read the file and that its disk or network share is available",
        ) from exc
    fmt = sniffed if sniffed is not None else _format_from_suffix(path, suffix)
    if fmt == "hdf5":
        if suffix != ".emd":
            raise ImageReadError(
                path, "is an HDF5 file but not a Velox/EMD file (.emd)", f"Export the image as one of: {_SUPPORTED}"
            )
        fmt = "emd"
    try:
        return _run_reader(fmt, path, max_megapixels)
    except ImageReadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # library errors differ by format; each is reported, never hidden
        raise ImageReadError(
            path,
            f"could not be decoded as {_FORMAT_NAMES.get(fmt, fmt)} ({type(exc).__name__}: {exc}); "
            "the file is probably truncated or corrupt",
            "Copy or export the file again from the instrument software",
        ) from exc


def _run_reader(fmt: str, path: Path, max_megapixels: float | None = None) -> RawImage:
    limit = {"max_megapixels": max_megapixels}
    if fmt == "tiff":
        return read_tiff(path, **limit)
    if fmt == "biorad_scn":
        return read_scn(path)
    if fmt == "raster":
        return read_raster(path, **limit)
    if fmt == "mrc":
        return read_mrc(path, **limit)

    if fmt == "dm":
        with open(path, "rb") as handle:
            version = int.from_bytes(handle.read(4), "big")
        if version not in (3, 4):
            raise ImageReadError(
                path,
                "does not start with a DigitalMicrograph DM3/DM4 header",
                "Open the original .dm3/.dm4 file saved by DigitalMicrograph",
            )
        return em.read_dm(path, **limit)
    if fmt == "emd":
        return em.read_emd(path, **limit)
    return em.read_tia(path, **limit)


def _to_2d(
    raw: RawImage, *, path: Path, frame: int | None, kind: str, channel: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Apply the 2-D rules: spectra, stacks, frames, RGB (or one ``channel`` of it), dtypes, constant images."""
    notes: list[str] = []
    data = raw.data
    if data.size == 0:
        raise ImageReadError(path, "contains no pixels", "Export the image again")
    if raw.signal_ndim < 2 or data.ndim - (1 if raw.rgb else 0) < 2:
        raise ImageReadError(
            path,
            f"holds a spectrum or spectrum image (1-D signals, array shape {tuple(data.shape)}), not an image",
            "Open an image file; spectra are not analysed by exo_vision",
        )
    if raw.signal_ndim > 2:
        raise ImageReadError(
            path,
            f"holds a {raw.signal_ndim}-D signal (shape {tuple(data.shape)}), not a 2-D image",
            "Export a single 2-D image",
        )
    spatial = 3 if raw.rgb else 2
    nav_shape = data.shape[: data.ndim - spatial]
    n_frames = int(np.prod(nav_shape)) if nav_shape else 1
    if n_frames > 1 and frame is None:
        dims = data.ndim - (1 if raw.rgb else 0)
        raise ImageReadError(
            path,
            f"is a stack of {n_frames} images (a {dims}-D array of shape {tuple(data.shape)}), "
            "and only one 2-D image can be analysed at a time",
            f"Pick one with frame=K (command line: --frame K), 0 <= K < {n_frames}",
            viewable=True,
        )
    if frame is not None and frame >= n_frames:
        raise ImageReadError(
            path,
            f"has {n_frames} frame(s) but frame {frame} was asked for",
            f"Pass a frame index from 0 to {n_frames - 1}",
        )
    flat = data.reshape((n_frames,) + data.shape[data.ndim - spatial :])
    data = flat[frame or 0]
    if n_frames > 1:
        notes.append(f"read frame {frame} of {n_frames}")
    if min(data.shape[:2]) < 2:
        raise ImageReadError(
            path,
            f"is {data.shape[0]} x {data.shape[1]} pixels: a line profile or spectrum, not an image",
            "Open a 2-D image",
        )
    if raw.rgb and channel is not None:
        empty = empty_channel(data, channel)
        if empty is not None:
            raise ImageReadError(path, *empty)
        data = np.ascontiguousarray(data[..., COLOUR_CHANNELS.index(channel)])
        raw.metadata["converted_from"] = f"{channel} channel"
        notes.append(f"the {channel} channel of the colour image was read (the other channels were left out)")
    elif raw.rgb:
        data = _rgb_to_gray(data, raw, path=path, kind=kind, notes=notes)
    elif channel is not None:
        notes.append(f"the image is gray: the {channel} channel asked for was not needed (the gray image was read)")
    data = real_native(data, path)
    if data.dtype == bool:
        data = data.astype(np.uint8)
        notes.append("a boolean (mask) image was read as 0/1 uint8")
    if data.dtype.kind not in "uif":
        raise ImageReadError(path, f"has pixels of type {data.dtype}, not numbers", "Export a gray image")
    finite = np.isfinite(data) if data.dtype.kind == "f" else None
    if finite is not None and not finite.any():
        raise ImageReadError(path, "has no finite pixel values (all NaN or infinite)", "Export the image again")
    if finite is not None and not finite.all():
        notes.append(f"{int((~finite).sum())} pixels are NaN or infinite")
    values = data[finite] if finite is not None and not finite.all() else data
    low, high = values.min(), values.max()
    if low == high:
        raise ImageReadError(
            path,
            f"has every pixel equal to {low.item()!r}: there is nothing to analyse",
            "Check the exposure and export the image again (is it a blank or a failed acquisition?)",
        )
    return data, notes


def empty_channel(data: np.ndarray, channel: str) -> tuple[str, str] | None:
    """Why ``channel`` of a colour image cannot be analysed, when it holds one value everywhere, and what to read
    instead; None when it holds signal.

    Parameters
    ----------
    data : (M, N, 3|4) ndarray
        The colour image (red, green, blue and perhaps alpha planes).
    channel : {"red", "green", "blue"}
        The channel asked for.

    Returns
    -------
    (str, str) or None
        The problem ("its blue channel is empty: every pixel is 0") and the fix, which names the channels that
        hold signal (or says that none does).
    """
    planes = {name: np.asarray(data)[..., i] for i, name in enumerate(COLOUR_CHANNELS)}
    plane = planes[channel]
    low, high = plane.min(), plane.max()
    if low != high:
        return None
    signal = [name for name, p in planes.items() if p.min() != p.max()]
    fix = (
        f"Read a channel that holds signal: {' or '.join(signal)} (--channel {signal[0]}; channel= in Python; the "
        "'colour channel' choice in the blot dock)"
        if signal
        else "No channel holds signal: check the exposure and export the image again"
    )
    return f"its {channel} channel is empty: every pixel is {low.item()!r}", fix


def colour_to_gray(data: np.ndarray, *, kind: str = "blot") -> tuple[np.ndarray, list[str]]:
    """An (M, N, 3|4) image as the readers make it gray: gray content kept exactly, colour by luminance.

    The napari docks call this on a colour layer so that they quantify what ``exo-vision blot`` does with
    the same file. Returns the gray image and the warnings the reader gives.
    """
    notes: list[str] = []
    gray = _rgb_to_gray(
        np.asarray(data), RawImage(data=np.asarray(data), rgb=True), path=Path("layer"), kind=kind, notes=notes
    )
    return gray, notes


def real_native(data: np.ndarray, path: Path) -> np.ndarray:
    """``data`` in native byte order; ImageReadError for complex numbers (an FFT or exit wave)."""
    if np.iscomplexobj(data):
        raise ImageReadError(
            path,
            "holds complex numbers (an FFT or exit wave), not a real-space intensity image",
            "Export the real-space image (or its amplitude) from DigitalMicrograph",
        )
    return data if data.dtype.isnative else data.astype(data.dtype.newbyteorder("="))


def channels_differ(data: np.ndarray, channels: tuple[np.ndarray, ...] | None = None) -> bool:
    """Whether an (M, N, 3|4) image holds colour: more than 0.1 % of its pixels have RGB channels further apart
    than :data:`GRAY_TOLERANCE` of the dtype's range (JPEG chroma noise stays below it).

    ``channels`` are its red, green and blue planes when already split (contiguous), else they are taken.
    """
    red, green, blue = channels if channels is not None else np.moveaxis(np.asarray(data)[..., :3], -1, 0)
    spread = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    if data.dtype.kind in "ui":
        full_range = float(np.iinfo(data.dtype).max - np.iinfo(data.dtype).min)
    else:
        full_range = max(float(np.nanmax(data) - np.nanmin(data)), 1e-12)
    return np.count_nonzero(spread > GRAY_TOLERANCE * full_range) > 0.001 * spread.size


def _rgb_to_gray(data: np.ndarray, raw: RawImage, *, path: Path, kind: str, notes: list[str]) -> np.ndarray:
    """(M, N, 3|4) -> (M, N): keep gray content exactly; colour by luminance or refuse.

    Gray content means at most 0.1 % of pixels have channels further apart than
    :data:`GRAY_TOLERANCE` of the dtype range (JPEG chroma noise stays below it).
    """
    if data.shape[-1] == 4:
        alpha = data[..., 3]
        if alpha.min() != alpha.max():
            notes.append("the alpha (transparency) channel was ignored")
        data = data[..., :3]
    # One transposing copy makes each channel contiguous: every later pass is then fast.
    red, green, blue = np.ascontiguousarray(np.moveaxis(data, -1, 0))
    if np.array_equal(red, green) and np.array_equal(green, blue):
        raw.metadata["converted_from"] = "rgb with gray content"
        return red
    if not channels_differ(data, (red, green, blue)):
        raw.metadata["converted_from"] = "rgb with gray content"
        if data.dtype.kind in "ui" and data.dtype.itemsize <= 2:
            total = red.astype(np.uint32) + green + blue
            return ((total + 1) // 3).astype(data.dtype)
        gray = (red.astype(np.float64) + green + blue) / 3.0
    else:
        if kind == "tem":
            raise ImageReadError(
                path,
                "is a colour image (its RGB channels differ), not a gray TEM micrograph",
                "Export the micrograph as gray (8/16-bit); colour overlays cannot be measured",
            )
        raw.metadata["converted_from"] = "colour"
        notes.append(
            "colour image converted to gray by luminance (0.299 R + 0.587 G + 0.114 B); for a two-colour fluorescence "
            "export (one target per channel) read one channel with --channel red|green|blue (channel= in Python)"
        )
        gray = 0.299 * red.astype(np.float32) + 0.587 * green + 0.114 * blue
    if data.dtype.kind in "ui":
        info = np.iinfo(data.dtype)
        return np.clip(np.rint(gray), info.min, info.max).astype(data.dtype)
    return gray.astype(data.dtype)


def _refuse_label_image(data: np.ndarray, path: Path, *, max_values: int | None = None) -> None:
    """Raise an ImageReadError for an image that is piecewise constant like a label image or mask.

    Folders of annotated micrographs or gels often hold their label images or band masks beside them
    (``*_labels.png``, ``*_mask.tif``); analysed as images, their regions would be measured as vesicles or
    bands and pooled. ``max_values``: refuse only images with at most this many distinct values.
    """
    why = label_image_reason(data, max_values=max_values)
    if why is None:
        return
    what = "micrograph" if max_values is None else "blot"
    raise ImageReadError(
        path,
        f"looks like a label image or mask, not a {what}: {why}",
        f"Keep label images and masks out of the inputs: pass the {what}s by name, or move the masks to another folder",
    )


def label_image_reason(data: np.ndarray, *, max_values: int | None = None, strict: bool = False) -> str | None:
    """Why ``data`` looks like a label image or mask (piecewise constant, which an image's noise never is),
    or None when it does not. ``max_values``: only images with at most this many distinct values count.
    ``strict``: the regions other than the commonest value must be flat too (a figure of noisy blots on a
    white page is flat only in its background)."""
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] < 2:
        return None
    equal = float(np.mean(data[:, 1:] == data[:, :-1]))
    if equal < LABEL_IMAGE_EQUAL_NEIGHBOURS:
        return None
    values, counts = np.unique(data, return_counts=True)
    if counts.max() < LABEL_IMAGE_MODE_FRACTION * data.size or (max_values is not None and values.size > max_values):
        return None
    if strict:
        mode = values[np.argmax(counts)]
        left, right = data[:, :-1], data[:, 1:]
        inside = (left != mode) & (right != mode)
        if inside.any() and float(np.mean(left[inside] == right[inside])) < LABEL_IMAGE_EQUAL_NEIGHBOURS:
            return None
    return (
        f"{100 * equal:.1f} % of neighbouring pixels are equal (an image's noise makes them differ), "
        f"{values.size} distinct values, and one of them covers {100 * counts.max() / data.size:.0f} % of the image"
    )


def named_like_a_blot(path: str | Path | None) -> bool:
    """Whether a file's name says western blot (``(Chemiluminescence)``, ``chemidoc``, ``western``, ``blot``)."""
    return path is not None and bool(_BLOT_NAME.search(Path(path).name))


def _decide_kind(kind: str, raw: RawImage, path: Path) -> tuple[Any, str]:
    """Resolve ``kind="auto"``; return the kind and why."""
    if kind != "auto":
        return kind, "given by the caller"
    if raw.format_kind is not None:
        return raw.format_kind, f"{raw.metadata.get('format', 'file')} format/tags"
    if named_like_a_blot(path):
        return "blot", "file name looks like a blot/ChemiDoc export"
    y_nm, x_nm = raw.pixel_size_yx_nm
    if x_nm is not None and x_nm <= TEM_PIXEL_LIMIT_NM:
        return "tem", f"metadata pixel size {x_nm:.4g} nm <= {TEM_PIXEL_LIMIT_NM:g} nm"
    return "unknown", "no format, tag or file-name hint"


def _calibrate(image: ImageData, raw: RawImage, *, path: Path, user_px: float | None, scale_bar: bool) -> None:
    """Fill pixel_size_nm / source / yx following the documented precedence."""
    y_nm, x_nm = raw.pixel_size_yx_nm
    if x_nm is not None and y_nm is None:
        y_nm = x_nm
    if x_nm is not None:
        image.metadata["file_pixel_size_yx_nm"] = [y_nm, x_nm]
        image.metadata["file_pixel_size_source"] = metadata_source(raw.calibration_tag or "pixel size")
    if user_px is not None:
        image.pixel_size_nm = user_px
        image.pixel_size_yx_nm = (user_px, user_px)
        image.pixel_size_source = SOURCE_USER
        if "reciprocal_unit" in raw.metadata:
            image.warnings.append(
                f"the file is calibrated in {raw.metadata['reciprocal_unit']} (reciprocal space); "
                "your pixel size in nm is used instead"
            )
        return
    reciprocal = raw.metadata.get("reciprocal_unit")
    if reciprocal and image.kind != "blot":
        raise ImageReadError(
            path,
            f"is calibrated in {reciprocal} (reciprocal space): it is a diffraction pattern or an FFT, "
            "not a real-space micrograph",
            "Open the real-space image, or pass pixel_size_nm (--pixel-size-nm) if you know better",
        )
    if x_nm is not None and y_nm is not None:
        difference = abs(y_nm - x_nm) / min(y_nm, x_nm)
        if image.kind == "tem" and (problem := non_square_problem(y_nm, x_nm)) is not None:
            raise ImageReadError(
                path,
                problem,
                "Resample the image to square pixels, or pass pixel_size_nm (--pixel-size-nm) to override",
                viewable=True,
            )
        if difference > NON_SQUARE_WARN:
            image.warnings.append(
                f"non-square pixels: y {y_nm:.6g} nm, x {x_nm:.6g} nm ({100 * difference:.1f}% apart); "
                "pixel_size_nm is their mean"
            )
        image.pixel_size_yx_nm = (y_nm, x_nm)
        image.pixel_size_nm = 0.5 * (y_nm + x_nm) if difference > 0 else x_nm
        image.pixel_size_source = metadata_source(raw.calibration_tag or "pixel size")
        if scale_bar and image.kind == "tem" and image.metadata.get("converted_from") != "colour":
            _check_against_scale_bar(image)
        return
    if scale_bar and image.kind in ("tem", "unknown"):
        if image.metadata.get("converted_from") != "colour":
            _try_scale_bar(image)
            return
        image.metadata["scale_bar"] = {"status": "not tried: colour image"}
        image.warnings.append(COLOUR_SCALE_BAR_NOTE)
    image.pixel_size_source = SOURCE_NONE


def non_square_problem(y_nm: float | None, x_nm: float | None) -> str | None:
    """Why pixels of ``y_nm`` by ``x_nm`` nm cannot be measured as a TEM micrograph, or None.

    Pixels more than :data:`NON_SQUARE_REFUSE` apart make a diameter in nm depend on its direction.
    """
    if y_nm is None or x_nm is None or min(y_nm, x_nm) <= 0:
        return None
    difference = abs(y_nm - x_nm) / min(y_nm, x_nm)
    if difference <= NON_SQUARE_REFUSE:
        return None
    return (
        f"has non-square pixels (y {y_nm:.6g} nm, x {x_nm:.6g} nm, {100 * difference:.0f}% apart), "
        "so a diameter in nm would depend on its direction"
    )


#: Why a colour image (a yellow or red scale bar burnt into a gray micrograph, say) has no pixel size.
COLOUR_SCALE_BAR_NOTE = (
    "no scale bar was looked for: the image is in colour (a coloured scale bar or overlay?) and only gray "
    "images are calibrated from their bar; export the micrograph as gray with the scale bar in white or black, "
    "or pass --pixel-size-nm (pixel_size_nm in Python)"
)


def _plain_float(value: Any) -> float | None:
    """A JSON-friendly float (numpy scalars included), or None."""
    return None if value is None else float(value)


def _try_scale_bar(image: ImageData) -> None:
    """Calibrate from a burnt-in scale bar when its reading is trustworthy."""
    if min(image.data.shape) < 32:
        image.metadata["scale_bar"] = {"status": "not tried: image smaller than 32 px"}
        return
    try:
        reading = read_scale_bar(image.data)
    except Exception as exc:  # a failing optional fallback must not hide the image
        image.metadata["scale_bar"] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        if image.kind == "tem":
            logger.warning("%s: scale-bar reading failed: %s", image.path, exc)
            image.warnings.append(f"scale-bar reading failed ({type(exc).__name__}: {exc}); pixel size unknown")
        else:
            logger.debug("%s: scale-bar reading failed: %s", image.path, exc)
        return
    record = _reading_record(reading)
    image.metadata["scale_bar"] = record
    if record["status"] == "ok" and record["pixel_size_nm"]:
        value = float(record["pixel_size_nm"])
        image.pixel_size_nm = value
        image.pixel_size_yx_nm = (value, value)
        image.pixel_size_source = SOURCE_SCALE_BAR
        if image.kind == "unknown":
            image.kind = "tem"
            image.metadata["kind_reason"] = "a scale bar in physical units was read"
    elif record["status"] == "unreadable" and (image.kind == "tem" or record["bar_length_px"]):
        image.warnings.append(unread_scale_bar_message(record))


def _reading_record(reading: Any) -> dict[str, Any]:
    """A :class:`~exo_vision.calibration.scalebar.ScaleBarReading` as the JSON-friendly record kept in metadata."""
    return {
        "status": getattr(reading, "status", None),
        "pixel_size_nm": _plain_float(getattr(reading, "pixel_size_nm", None)),
        "confidence": _plain_float(getattr(reading, "confidence", None)),
        "label_text": getattr(reading, "label_text", None),
        "bar_length_px": _plain_float(getattr(reading, "bar_length_px", None)),
        "length_nm": _plain_float(getattr(reading, "length_nm", None)),
        "bar_box": _plain_box(getattr(reading, "bar_box", None)),
        "label_box": _plain_box(getattr(reading, "label_box", None)),
        "reason": getattr(reading, "reason", None),
    }


def _check_against_scale_bar(image: ImageData) -> None:
    """Compare the file's calibration with a burnt-in scale bar, when one is read, and warn on a disagreement.

    The file's value stays the one used. The reading is kept in ``metadata["scale_bar_check"]`` (not
    ``"scale_bar"``, which holds the reading the pixel size came from). An image without a bar costs the bar
    search only: the label is read (OCR) only next to a bar-like candidate.
    """
    if min(image.data.shape) < 32:
        return
    try:
        reading = read_scale_bar(image.data)
    except Exception as exc:  # the check is optional: a failing reader must not hide a calibrated image
        image.metadata["scale_bar_check"] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        logger.debug("%s: scale-bar check failed: %s", image.path, exc)
        return
    record = _reading_record(reading)
    image.metadata["scale_bar_check"] = record
    if record["status"] != "ok" or not record["pixel_size_nm"] or image.pixel_size_nm is None:
        return
    message = scale_bar_disagreement(image.pixel_size_nm, image.pixel_size_source, record)
    if message is not None:
        image.warnings.append(message)


def scale_bar_tolerance(bar_length_px: float) -> float:
    """Relative difference between a file's pixel size and its scale bar's that the bar's reading allows.

    :data:`SCALE_BAR_AGREEMENT` plus :data:`SCALE_BAR_END_PX` over the bar's length in pixels (a 801 px bar:
    2.2 %; a 100 px bar: 3.5 %).
    """
    return SCALE_BAR_AGREEMENT + SCALE_BAR_END_PX / max(float(bar_length_px), 1.0)


def scale_bar_disagreement(file_px_nm: float, file_source: str, record: dict[str, Any]) -> str | None:
    """The warning for a file calibration of ``file_px_nm`` nm/px (from ``file_source``) that a read scale bar
    (``record`` as ``metadata["scale_bar_check"]`` holds it, status ``"ok"``) contradicts, or None when they agree
    within :func:`scale_bar_tolerance`."""
    bar_px_nm = float(record["pixel_size_nm"])
    length_px = float(record.get("bar_length_px") or 0.0)
    difference = abs(float(file_px_nm) - bar_px_nm) / bar_px_nm
    tolerance = scale_bar_tolerance(length_px)
    if difference <= tolerance:
        return None
    label = record.get("label_text") or f"{record.get('length_nm'):g} nm"
    return (
        f"the file's calibration ({float(file_px_nm):.4g} nm/px, {file_source}) disagrees with the burnt-in scale "
        f"bar ({label!r} over {length_px:.1f} px: {bar_px_nm:.4g} nm/px, {100 * difference:.0f}% apart, beyond the "
        f"{100 * tolerance:.1f}% the bar can be read to); the file's {float(file_px_nm):.4g} nm/px is used. Check "
        "which is right (a re-saved file or a wrong magnification preset gives wrong tags; a bar pasted from "
        f"another image a wrong bar) and pass --pixel-size-nm {bar_px_nm:.4g} (pixel_size_nm in Python) to use "
        "the bar's, or the true value"
    )


#: The opening of :func:`scale_bar_disagreement`'s warning, with the file's and the bar's pixel sizes (nm/px).
SCALE_BAR_DISAGREEMENT_PATTERN = re.compile(
    r"^the file's calibration \(([0-9.eE+-]+) nm/px, .*?\) disagrees with the burnt-in scale bar "
    r"\(.*? over [0-9.]+ px: ([0-9.eE+-]+) nm/px, "
)


def scale_bar_disagreement_in(warnings: list[str] | None) -> tuple[float, float] | None:
    """The file's and the scale bar's pixel sizes (nm/px) of the first :func:`scale_bar_disagreement` warning among
    an image's ``warnings`` (as run.json records them), or None when none is there."""
    for warning in warnings or []:
        match = SCALE_BAR_DISAGREEMENT_PATTERN.match(str(warning))
        if match:
            return float(match.group(1)), float(match.group(2))
    return None


def unread_scale_bar_message(record: dict[str, Any]) -> str:
    """What to tell the user about a scale bar that was found but whose label was not read (``record`` as
    ``ImageData.metadata["scale_bar"]`` holds it)."""
    length = record.get("bar_length_px")
    bar = f"a scale bar {float(length):.0f} px long" if length else "a scale bar"
    reason = f" ({record['reason']})" if record.get("reason") else ""
    return (
        f"{bar} was found but its label could not be read reliably{reason}; pixel size unknown: pass "
        "--pixel-size-nm (pixel_size_nm in Python), or draw a line over the bar in napari's Calibration dock"
    )


def _plain_box(box: object) -> list[int] | None:
    """A (row0, col0, row1, col1) box as a JSON-friendly list (``None`` stays ``None``)."""
    return None if box is None else [int(v) for v in box]  # type: ignore[attr-defined]


def _describe_blot(image: ImageData, raw: RawImage) -> None:
    """Polarity, saturation level, exposure and the 8-bit warning for blots."""
    data = image.data
    image.polarity = detect_band_polarity(data)
    image.exposure_s = raw.exposure_s
    if raw.max_value is not None:
        image.max_value = float(raw.max_value)
    elif data.dtype.kind in "ui":
        info = np.iinfo(data.dtype)
        image.max_value = float(info.min if image.polarity == "dark" else info.max)
    if data.dtype.itemsize == 1 and raw.max_value is None:
        # An instrument file (.scn) records its own 8-bit range; anything else
        # 8-bit is a display export whose gray levels were rescaled.
        image.warnings.append(EIGHT_BIT_BLOT_WARNING)
    if image.max_value is not None:
        clipped = int(np.count_nonzero(data == image.max_value))
        image.metadata["saturated_pixels"] = clipped
        if clipped:
            image.warnings.append(clipped_pixels_warning(clipped, data.size, image.max_value, image.polarity))


#: How the warning of clipped pixels (:func:`clipped_pixels_warning`) ends: a blot quantification that leaves
#: masked drawing out of the count says it again, and its warning replaces the reader's
#: (:func:`exo_vision.blot.saturation.without_repeats`).
CLIPPED_PIXELS_ENDING = ": band intensities there are clipped"


#: What the quantification's count of clipped pixels (:func:`clipped_pixels_warning` with ``masked``) says of
#: the pixels at the saturation level it left out; the reader's warning gives way to it.
MASKED_CLIPPING_WORDS = (
    "in what was masked before measuring as drawing or dust (a figure's frame, a ruler, pen writing)"
)


def clipped_pixels_warning(clipped: int, n_pixels: int, level: float, polarity: str | None, *, masked: int = 0) -> str:
    """The warning of ``clipped`` pixels at the saturation ``level`` in an image of ``n_pixels`` pixels.

    ``masked`` pixels at that level lay in what the quantification masked as drawing or dust (a frame line, a
    ruler, pen writing, dust specks) and are not among ``clipped``; the warning says so when there are any, and
    that no band pixel is clipped when all of them lay there.
    """
    if masked and not clipped:
        return (
            f"the {masked} pixels at the saturation level {level:g} all lie {MASKED_CLIPPING_WORDS}: none is clipped "
            "signal"
        )
    black = (
        " (black: in an export with dark bands, the darkest band pixels clip at black)" if polarity == "dark" else ""
    )
    left_out = f", leaving out {masked} more at that level {MASKED_CLIPPING_WORDS}" if masked else ""
    share = 100 * clipped / n_pixels if n_pixels else 0.0
    return (
        f"{clipped} pixels ({share:.2f}%) sit at the saturation level {level:g}{black}{left_out}{CLIPPED_PIXELS_ENDING}"
    )
