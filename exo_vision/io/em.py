"""Electron-microscopy formats through rosettasciio and mrcfile.

Gatan DigitalMicrograph DM3/DM4, Thermo Fisher Velox EMD, FEI TIA SER/EMI
(rosettasciio) and MRC (mrcfile). Each returns a :class:`RawImage` whose
calibration comes from the file's own axis scales and units.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exo_vision.io.library_logs import quiet_library_logs
from exo_vision.io.limits import check_decoded_size
from exo_vision.io.raw import RawImage
from exo_vision.io.units import is_length_unit, is_reciprocal_unit, length_to_nm

logger = logging.getLogger(__name__)

#: Calibration tag names recorded per format.
_TAGS = {
    "dm": "DigitalMicrograph ImageData.Calibrations.Dimension scale/units",
    "emd": "Velox EMD PixelSize",
    "tia": "FEI TIA SER calibration (CalibrationDelta)",
}


def _plain_array(data: Any) -> tuple[np.ndarray, bool]:
    """Turn rosettasciio data (maybe a structured RGB(A) array) into a plain array."""
    array = np.asarray(data)
    names = array.dtype.names
    if names and set(names) >= {"R", "G", "B"}:
        channels = [array[name] for name in names if name in ("R", "G", "B", "A")]
        return np.stack(channels, axis=-1), True
    return array, False


_SPECTRAL_NAMES = ("energy", "wavelength", "energy loss", "wavenumber", "raman shift")
_SPECTRAL_UNITS = ("ev", "kev", "mev", "cm-1", "1/cm", "cm^-1")


def _is_spectral(axis: dict[str, Any]) -> bool:
    """Whether an axis runs over energy or wavelength rather than position."""
    name = str(axis.get("name") or "").strip().lower()
    unit = str(axis.get("units") or "").strip().lower()
    return name in _SPECTRAL_NAMES or unit in _SPECTRAL_UNITS


def _signal_to_raw(signal: dict[str, Any], fmt: str) -> RawImage:
    """Convert one rosettasciio signal dictionary into a :class:`RawImage`."""
    data, rgb = _plain_array(signal["data"])
    axes = list(signal["axes"])
    signal_axes = [ax for ax in axes if not ax.get("navigate", False)]
    metadata: dict[str, Any] = {
        "format": fmt,
        "axes": [
            {
                "name": ax.get("name"),
                "size": int(ax.get("size", 0)),
                "scale": float(ax.get("scale", 1.0)),
                "units": ax.get("units") or None,
                "navigate": bool(ax.get("navigate", False)),
            }
            for ax in axes
        ],
    }
    signal_type = (signal.get("metadata") or {}).get("Signal", {}).get("signal_type")
    if signal_type:
        metadata["signal_type"] = signal_type
    spectral = [ax.get("name") for ax in axes if _is_spectral(ax)]
    signal_ndim = len(signal_axes)
    if spectral:
        # A wavelength or energy axis means spectra (an EELS/EDS/CL spectrum or
        # spectrum image), whichever axes rosettasciio calls navigation.
        metadata["spectral_axes"] = spectral
        signal_ndim = 1
    raw = RawImage(data=data, rgb=rgb, signal_ndim=signal_ndim, format_kind="tem", metadata=metadata)
    if signal_ndim != 2:
        return raw
    units = [ax.get("units") or None for ax in signal_axes]
    reciprocal = [u for u in units if u and is_reciprocal_unit(u)]
    if reciprocal:
        raw.metadata["reciprocal_unit"] = str(reciprocal[0])
        return raw
    if all(is_length_unit(u) for u in units):
        raw.pixel_size_yx_nm = tuple(  # type: ignore[assignment]
            length_to_nm(float(ax["scale"]), ax["units"]) for ax in signal_axes
        )
        raw.calibration_tag = _TAGS[fmt]
    elif any(units):
        raw.warnings.append(
            f"the axes are calibrated in {units[0]!r} x {units[1]!r}, which are not both "
            "lengths: pixel size left unknown"
        )
    return raw


def _choose(signals: list[dict[str, Any]], fmt: str, *, path: Path, max_megapixels: float | None = None) -> RawImage:
    """Pick the main image among the signals a file holds (read lazily: decoded only here, within the limit)."""
    for signal in signals:
        check_decoded_size(path, getattr(signal["data"], "shape", ()), max_megapixels=max_megapixels)
    raws = [_signal_to_raw(s, fmt) for s in signals]
    if not raws:
        raise ValueError("the file holds no data")

    def score(index: int) -> tuple[int, int, int]:
        raw = raws[index]
        image_like = int(raw.signal_ndim == 2)
        calibrated = int(raw.pixel_size_yx_nm[0] is not None)
        return (image_like, calibrated, -index)

    best = max(range(len(raws)), key=score)
    chosen = raws[best]
    if len(raws) > 1:
        chosen.metadata["signals"] = {"read": best, "count": len(raws)}
        chosen.warnings.append(f"the file holds {len(raws)} signals; read signal {best}, the first 2-D image")
    return chosen


def _quiet_read(reader: Any, path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    """Run a rosettasciio reader lazily (the header only), quietly.

    Where rosettasciio cannot read lazily (RGBA DigitalMicrograph images) the
    file is read at once: those formats store their pixels uncompressed, so
    the data cannot be much larger than the file.
    """
    with quiet_library_logs():
        try:
            return reader(str(path), lazy=True, **kwargs)
        except ValueError as err:
            if "lazy" not in str(err).lower():
                raise
            return reader(str(path), **kwargs)


def read_dm(path: str | Path, *, max_megapixels: float | None = None) -> RawImage:
    """Decode a Gatan DigitalMicrograph DM3/DM4 file.

    Parameters
    ----------
    path : str or Path
        ``.dm3`` or ``.dm4`` file.

    Returns
    -------
    RawImage
        The first 2-D image signal (a file can hold several), with the
        calibration of its two signal axes; decimal-comma locales are handled
        by rosettasciio, which reads the binary scale values.
    """
    from rsciio.digitalmicrograph import file_reader

    return _choose(_quiet_read(file_reader, Path(path)), "dm", path=Path(path), max_megapixels=max_megapixels)


def read_emd(path: str | Path, *, max_megapixels: float | None = None) -> RawImage:
    """Decode a Velox (Thermo Fisher) or Berkeley EMD file (HDF5).

    Parameters
    ----------
    path : str or Path
        ``.emd`` file.

    Returns
    -------
    RawImage
        The first 2-D image signal with its pixel size.
    """
    from rsciio.emd import file_reader

    return _choose(_quiet_read(file_reader, Path(path)), "emd", path=Path(path), max_megapixels=max_megapixels)


def read_tia(path: str | Path, *, max_megapixels: float | None = None) -> RawImage:
    """Decode an FEI TIA ``.ser`` file or its ``.emi`` companion.

    Parameters
    ----------
    path : str or Path
        ``.emi`` or ``.ser`` file (an ``.emi`` needs its ``_1.ser`` beside it).

    Returns
    -------
    RawImage
        The image with the SER calibration.
    """
    from rsciio.tia import file_reader

    return _choose(_quiet_read(file_reader, Path(path)), "tia", path=Path(path), max_megapixels=max_megapixels)


#: MRC data modes mrcfile knows (int8, int16, float32, complex int16, complex64, uint16, float16, packed 4-bit).
_MRC_MODES = {0, 1, 2, 3, 4, 6, 12, 101}
#: Bytes per value of each MRC mode (101: two 4-bit values per byte).
_MRC_MODE_BYTES = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2, 101: 0.5}


def _check_mrc_header(path: Path) -> None:
    """Refuse an MRC header whose extended header is larger than the file (ValueError).

    mrcfile allocates the announced extended header before reading it: a
    damaged ``nsymbt`` field made it allocate 1.9 GB and take seconds on a
    27 KB file.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if len(head) < 1024:
        raise ValueError(f"the MRC header is {len(head)} bytes long instead of 1024: the file is truncated")
    for order in ("<", ">"):
        mode = int(np.frombuffer(head[12:16], dtype=order + "i4")[0])
        if mode in _MRC_MODES:
            nsymbt = int(np.frombuffer(head[92:96], dtype=order + "i4")[0])
            if nsymbt < 0 or 1024 + nsymbt > size:
                raise ValueError(
                    f"the MRC header announces an extended header of {nsymbt} bytes, but the file holds only "
                    f"{size} bytes: the header is damaged or the file truncated"
                )
            return


def read_mrc(path: str | Path, *, max_megapixels: float | None = None) -> RawImage:
    """Decode an MRC/CCP4 file with mrcfile.

    Parameters
    ----------
    path : str or Path
        ``.mrc``, ``.mrcs``, ``.map``, ``.st`` or ``.rec`` file.

    Returns
    -------
    RawImage
        ``(M, N)`` or ``(Z, M, N)`` data. The voxel size is stored in Å; a zero
        voxel size means "not calibrated". A volume (space group 1 or more: a
        tomogram, whose slices are a voxel depth apart) with a calibrated voxel
        records that depth in nm as ``metadata["slice_spacing_nm"]``; the frames
        of an image stack (space group 0: a tilt series, a frame series) are
        separate images and get none.
    """
    import mrcfile

    _check_mrc_header(Path(path))
    with quiet_library_logs():
        with mrcfile.open(path, permissive=True, header_only=True) as mrc:
            header = mrc.header
            check_decoded_size(path, (int(header.nz), int(header.ny), int(header.nx)), max_megapixels=max_megapixels)
        with mrcfile.open(path, permissive=True) as mrc:
            if mrc.data is None:
                raise ValueError("the MRC header is unreadable and no data could be read")
            data = np.array(mrc.data)
            voxel = mrc.voxel_size
            y_angstrom, x_angstrom, z_angstrom = float(voxel.y), float(voxel.x), float(voxel.z)
            is_stack = bool(mrc.is_image_stack()) or data.ndim == 3
            is_volume = bool(mrc.is_volume())
    raw = RawImage(data=data, format_kind="tem", metadata={"format": "MRC", "image_stack": is_stack})
    if not (np.isfinite(y_angstrom) and np.isfinite(x_angstrom)) or min(y_angstrom, x_angstrom) < 0:
        raw.warnings.append(
            f"the MRC header's voxel size ({y_angstrom:g} x {x_angstrom:g} Å) is not a pixel size; the image is read "
            "without one: give it yourself (--pixel-size-nm)"
        )
    elif y_angstrom > 0 and x_angstrom > 0:
        raw.pixel_size_yx_nm = (length_to_nm(y_angstrom, "Å"), length_to_nm(x_angstrom, "Å"))
        raw.calibration_tag = "MRC header voxel size (Å)"
        if is_volume and np.isfinite(z_angstrom) and z_angstrom > 0:
            raw.metadata["slice_spacing_nm"] = length_to_nm(z_angstrom, "Å")
    return raw


# --- sizes from the headers alone (the memory estimate before a batch) --------------------------------------

#: File suffixes read as MRC/CCP4 (as :mod:`exo_vision.io.read` dispatches them).
MRC_HEADER_SUFFIXES = frozenset({".mrc", ".mrcs", ".map", ".st", ".rec", ".ali"})
#: File suffixes read through rosettasciio, and the reader module of each.
RSCIIO_HEADER_SUFFIXES = {
    ".dm3": "digitalmicrograph",
    ".dm4": "digitalmicrograph",
    ".ser": "tia",
    ".emi": "tia",
    ".emd": "emd",
}
#: Bytes of the fixed MRC header (the MRC2014 standard).
MRC_HEADER_BYTES = 1024


@dataclass(frozen=True)
class MrcHeader:
    """What an MRC file's fixed header says of its image.

    Attributes
    ----------
    shape : tuple of int
        ``(nz, ny, nx)``: sections (frames), rows, columns.
    mode : int
        MRC data mode (2 = float32, 1 = int16, 6 = uint16 ...).
    pixel_size_yx_nm : tuple of float or None
        Pixel edge lengths along y and x in nm (``cella / (my, mx)``, stored in Å); None when the header
        gives no positive finite voxel size (an uncalibrated file).
    """

    shape: tuple[int, int, int]
    mode: int
    pixel_size_yx_nm: tuple[float, float] | None
    extended_bytes: int = 0

    @property
    def data_bytes(self) -> int:
        """Bytes of the pixel data the header announces (every section)."""
        return int(np.ceil(int(np.prod(self.shape)) * _MRC_MODE_BYTES.get(self.mode, 4)))

    @property
    def file_bytes(self) -> int:
        """Bytes the whole file holds when complete: header, extended header and data."""
        return MRC_HEADER_BYTES + self.extended_bytes + self.data_bytes


def read_mrc_header(path: str | Path) -> MrcHeader:
    """Read an MRC file's size, data mode and voxel size from its first 1024 bytes (no pixel is read).

    The byte order is the one in which the mode is a known MRC mode and the three sizes are positive (what
    mrcfile reads in its permissive mode); the voxel size is ``cella / (mx, my)`` as mrcfile computes it.

    Raises
    ------
    ValueError
        When the header is shorter than 1024 bytes, or in neither byte order has a known mode and positive
        sizes (the message names the file).
    OSError
        When the file cannot be read.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(MRC_HEADER_BYTES)
    if len(head) < MRC_HEADER_BYTES:
        raise ValueError(f"{path}: the MRC header is {len(head)} bytes long instead of 1024: the file is truncated")
    for order in ("<", ">"):
        nx, ny, nz, mode = (int(v) for v in np.frombuffer(head[0:16], dtype=order + "i4"))
        if mode not in _MRC_MODES or min(nx, ny, nz) <= 0:
            continue
        mx, my = (int(v) for v in np.frombuffer(head[28:36], dtype=order + "i4"))
        x_len, y_len = (float(v) for v in np.frombuffer(head[40:48], dtype=order + "f4"))
        pixel = None
        if mx > 0 and my > 0:
            y_angstrom, x_angstrom = y_len / my, x_len / mx
            if np.isfinite(y_angstrom) and np.isfinite(x_angstrom) and y_angstrom > 0 and x_angstrom > 0:
                pixel = (length_to_nm(y_angstrom, "Å"), length_to_nm(x_angstrom, "Å"))
        extended = max(int(np.frombuffer(head[92:96], dtype=order + "i4")[0]), 0)
        return MrcHeader(shape=(nz, ny, nx), mode=mode, pixel_size_yx_nm=pixel, extended_bytes=extended)
    raise ValueError(
        f"{path}: the MRC header gives no known data mode and image size in either byte order: the file is damaged "
        "or not an MRC file"
    )


def _rsciio_frame_pixels(path: Path, module: str) -> int | None:
    """Pixels of the largest 2-D image among the signals a DM, SER or EMD file holds, from rosettasciio's lazy
    read (the header, tag tree or HDF5 layout; pixels are only mapped, never decoded)."""
    import importlib

    reader = importlib.import_module(f"rsciio.{module}").file_reader
    planes = []
    for signal in _quiet_read(reader, path):
        sizes = [int(ax.get("size", 0)) for ax in signal["axes"] if not ax.get("navigate", False)]
        if len(sizes) == 2 and not any(_is_spectral(ax) for ax in signal["axes"]):
            planes.append(sizes[0] * sizes[1])
    return max(planes) if planes else None


def header_frame_pixels(path: str | Path) -> int | None:
    """Pixels of one frame of an EM file as its header announces them, without decoding the image.

    MRC from its fixed header (``ny * nx``); DM3/DM4, SER/EMI and EMD from rosettasciio's lazy read of the
    header (the largest 2-D image the file holds, spectra left out). Other formats give None, as does a header
    that cannot be read or announces no 2-D image: the caller then reads the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in MRC_HEADER_SUFFIXES:
            header = read_mrc_header(path)
            return header.shape[1] * header.shape[2]
        if suffix in RSCIIO_HEADER_SUFFIXES:
            return _rsciio_frame_pixels(path, RSCIIO_HEADER_SUFFIXES[suffix])
    except Exception:  # noqa: BLE001 - an unreadable header is reported when the image is read
        logger.debug("no size from the header of %s", path, exc_info=True)
    return None
