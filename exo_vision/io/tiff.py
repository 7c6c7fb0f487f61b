"""TIFF reading: pixels with tifffile, calibration from every tag family we know.

Calibration is looked for in this order (the first that gives a real-space
length wins):

1. vendor tags, read through rosettasciio: FEI/Thermo (``FEI_HELIOS``/``FEI_SFEG``),
   Zeiss SEM (``CZ_SEM``), TVIPS, JEOL SightX, Olympus SIS, Hamamatsu streak and
   DigitalMicrograph-written TIFFs;
2. ImageJ ``unit`` in the ImageJ description plus ``XResolution``/``YResolution``;
3. OME-XML ``PhysicalSizeX``/``PhysicalSizeY`` with their units;
4. baseline ``XResolution``/``YResolution`` with ``ResolutionUnit`` cm or inch, but
   only when the pixel it implies is smaller than :data:`PRINT_RESOLUTION_LIMIT_NM`.
   A coarser value (72, 300, 600 dpi...) is a print resolution written by a
   desktop export, not a physical pixel size: it is kept in ``metadata["dpi"]``
   and the image is treated as uncalibrated.
"""

from __future__ import annotations

import logging
import math
import re
import struct
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tifffile

from exo_vision.io.library_logs import quiet_library_logs
from exo_vision.io.limits import check_decoded_size
from exo_vision.io.raw import RawImage
from exo_vision.io.units import is_length_unit, is_reciprocal_unit, length_to_nm, normalise_unit

logger = logging.getLogger(__name__)

#: A resolution-tag pixel coarser than this (10 µm, i.e. finer than 2540 dpi) is
#: taken to be a print resolution, not a physical pixel size.
PRINT_RESOLUTION_LIMIT_NM = 10_000.0

#: Units in which a resolution is a print resolution (dpi, dots per cm) when coarse.
_PRINT_UNITS = frozenset({"in", "inch", "cm", "centimeter", "centimetre"})

#: The first four bytes of a TIFF (little- and big-endian) and a BigTIFF file.
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

#: DigitalMicrograph private TIFF tags (as rosettasciio recognises them).
_DM_TAGS = {65003, 65004, 65005, 65009, 65010, 65011, 65006, 65007, 65008}


def is_tiff(path: str | Path) -> bool:
    """Tell whether a file starts with a TIFF or BigTIFF signature.

    Parameters
    ----------
    path : str or Path
        File to sniff; only its first four bytes are read.

    Returns
    -------
    bool
        ``True`` for classic TIFF and BigTIFF in either byte order, whatever the
        extension (Leica ``.scn`` slides are BigTIFFs).
    """
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head in TIFF_MAGICS


def _vendor(tif: tifffile.TiffFile) -> tuple[str, str] | None:
    """Return ``(vendor key, tag description)`` for vendor-calibrated TIFFs."""
    page = tif.pages[0]
    flags = tif.flags
    tag_codes = {tag.code for tag in page.tags}
    make = str(page.tags["Make"].value) if "Make" in page.tags else ""
    if "fei" in flags:
        return "fei", "FEI/Thermo TIFF tag (FEI_HELIOS/FEI_SFEG) PixelWidth/PixelHeight"
    if "sem" in flags:
        return "zeiss", "Zeiss SEM TIFF tag CZ_SEM pixel size"
    if "tvips" in flags:
        return "tvips", "TVIPS TIFF tag PixelSizeX/PixelSizeY"
    if "streak" in flags:
        return "hamamatsu", "Hamamatsu streak TIFF description"
    if make == "JEOL Ltd.":
        return "jeol", "JEOL SightX TIFF tags"
    if make.startswith("Olympus Soft Imaging") or any(p.is_sis for p in tif.pages):
        return "olympus", "Olympus SIS TIFF tag pixelsizex/pixelsizey"
    if tag_codes & _DM_TAGS:
        return "dm", "DigitalMicrograph TIFF tags"
    return None


#: Pages per series whose data extents are checked against the file size.
_PAGES_CHECKED = 4096


#: Most image directories followed when checking the chain.
_MAX_IFDS = 100_000


def _check_ifd_chain(path: Path) -> None:
    """Raise ValueError when the chain of image directories (IFDs) leads past the end of the file.

    tifffile stops quietly at such a link, so a truncated file whose main
    image came second would be read as its first (overview) image.
    """

    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(16)
        order = "<" if head[:2] == b"II" else ">"
        big = struct.unpack(order + "H", head[2:4])[0] == 43
        offset = struct.unpack(order + ("Q" if big else "I"), head[8:16] if big else head[4:8])[0]
        count_fmt, entry, next_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
        count_size, next_size = struct.calcsize(count_fmt), struct.calcsize(next_fmt)
        seen: set[int] = set()
        while offset and offset not in seen and len(seen) < _MAX_IFDS:
            seen.add(offset)
            handle.seek(offset)
            raw = handle.read(count_size)
            if len(raw) < count_size:
                break
            n = struct.unpack(order + count_fmt, raw)[0]
            end = offset + count_size + n * entry + next_size
            if end > size:
                raise ValueError(
                    f"truncated file: image directory {len(seen)} at byte {offset} ends past the end of the file "
                    f"({size} bytes), so the images after it are missing"
                )
            handle.seek(offset + count_size + n * entry)
            offset = struct.unpack(order + next_fmt, handle.read(next_size))[0]
            if offset >= size:
                raise ValueError(
                    f"truncated file: image directory {len(seen)} points to a next image at byte {offset}, past "
                    f"the end of the file ({size} bytes)"
                )


def _check_complete(tif: tifffile.TiffFile, path: Path) -> None:
    """Refuse a truncated file (ValueError): image data of any series reaching past the end of the file.

    Without this, a truncated two-series file (a gray image plus an RGB
    overview) was silently read as whichever series survived.
    """
    size = path.stat().st_size
    for number, series in enumerate(tif.series):
        for page in list(series.pages)[:_PAGES_CHECKED]:
            offsets = getattr(page, "dataoffsets", None) or ()
            counts = getattr(page, "databytecounts", None) or ()
            if any(o + c > size for o, c in zip(offsets, counts, strict=False) if o and c):
                # read_image turns this into an ImageReadError naming the file and the fix.
                raise ValueError(
                    f"truncated file: the pixels of image series {number} (shape {tuple(series.shape)}) "
                    f"reach past the end of the file ({size} bytes)"
                )


#: ``metadata["tiff_series"]["read"]`` of a file whose equal pages were read as the frames of a stack.
PAGES_AS_FRAMES = "all, as frames"


def _pages_as_frames(tif: tifffile.TiffFile) -> bool:
    """Whether the file's several series are single 2-D pages of one shape and type (a stack written
    page by page, which ``--frame`` should reach), rather than an image with its thumbnails or overviews."""
    if len(tif.series) < 2:
        return False
    first = tif.series[0]
    return all(
        s.shape == first.shape and s.dtype == first.dtype and s.axes == first.axes and len(s.shape) == 2
        for s in tif.series
    )


def _pick_series(tif: tifffile.TiffFile) -> int:
    """Index of the series holding the main image (largest; gray wins ties)."""

    def score(index: int) -> tuple[int, int, int]:
        series = tif.series[index]
        axes = series.axes
        shape = dict(zip(axes, series.shape))
        plane = shape.get("Y", 1) * shape.get("X", 1)
        gray = 0 if "S" in axes else 1
        return (plane, gray, -index)

    return max(range(len(tif.series)), key=score)


def _vendor_calibration(
    path: Path, series_index: int, n_series: int, warnings_out: list[str]
) -> tuple[tuple[float | None, float | None], dict[str, Any]]:
    """Read vendor-tag calibration through rosettasciio's TIFF reader (lazily: the pixels are not decoded)."""
    from rsciio.tiff import file_reader

    with quiet_library_logs(path=path):
        signals = file_reader(str(path), lazy=True)
    index = series_index if len(signals) == n_series else 0
    axes = [ax for ax in signals[index]["axes"] if not ax.get("navigate", False)]
    spatial = axes[-2:]
    info: dict[str, Any] = {
        "vendor_axes": [
            {"name": ax.get("name"), "scale": float(ax.get("scale", 1.0)), "units": ax.get("units")} for ax in spatial
        ]
    }
    if len(spatial) != 2:
        return (None, None), info
    units = [ax.get("units") for ax in spatial]
    if any(is_reciprocal_unit(u) for u in units if u):
        info["reciprocal_unit"] = str(next(u for u in units if u and is_reciprocal_unit(u)))
        return (None, None), info
    if not all(is_length_unit(u) for u in units):
        if any(u for u in units):
            warnings_out.append(
                f"the vendor tags calibrate the axes in {units[0]!r} x {units[1]!r}, which are "
                "not both lengths (a streak camera or spectrum image?): pixel size left unknown"
            )
        return (None, None), info
    y_nm, x_nm = (length_to_nm(float(ax["scale"]), ax["units"]) for ax in spatial)
    return (y_nm, x_nm), info


def _resolution_nm(page: tifffile.TiffPage, unit_nm: float) -> tuple[float | None, float | None]:
    """Pixel size from X/YResolution (pixels per ``unit``) in nanometres."""
    out: list[float | None] = []
    for name in ("YResolution", "XResolution"):
        if name not in page.tags:
            out.append(None)
            continue
        try:
            num, den = page.tags[name].value
            value = unit_nm * den / num if num and den else None
        except (TypeError, ValueError, ZeroDivisionError):
            value = None
        # A negative or non-finite resolution (a signed rational -1, a damaged tag) is no calibration.
        out.append(value if value is not None and math.isfinite(value) and value > 0 else None)
    return out[0], out[1]


def _imagej_calibration(
    tif: tifffile.TiffFile, metadata: dict[str, Any]
) -> tuple[float | None, float | None, str] | None:
    meta = tif.imagej_metadata or {}
    unit = meta.get("unit")
    if not unit or "XResolution" not in tif.pages[0].tags:
        return None
    unit = str(unit).replace("\\u00B5", "µ")
    if not is_length_unit(unit):
        metadata["unknown_unit"] = unit  # named in a warning when nothing else calibrates the file
        return None
    y_nm, x_nm = _resolution_nm(tif.pages[0], length_to_nm(1.0, unit))
    if x_nm is None:
        return None
    if x_nm >= PRINT_RESOLUTION_LIMIT_NM and normalise_unit(unit) in _PRINT_UNITS:
        # unit=inch at 300 dpi is a print resolution (ImageJ's default for desktop exports), not a pixel size.
        metadata["dpi"] = round(2.54e7 / x_nm, 3)
        return None
    if y_nm is None:
        y_nm = x_nm
    return y_nm, x_nm, f"ImageJ unit ({unit}) + XResolution/YResolution"


def _ome_pixels_attributes(xml: str, series: int) -> dict[str, str]:
    """The attributes of the OME ``<Pixels>`` element of image ``series`` (OME images are the file's series, in
    order); the whole document's first ones when the XML cannot be parsed or holds a single image."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {
            key: match.group(1)
            for key in ("PhysicalSizeX", "PhysicalSizeY", "PhysicalSizeXUnit", "PhysicalSizeYUnit")
            if (match := re.search(rf'{key}="([^"]+)"', xml)) is not None
        }
    pixels = [element for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Pixels"]
    if not pixels:
        return {}
    return dict(pixels[series].attrib) if series < len(pixels) else dict(pixels[0].attrib)


def _ome_calibration(
    tif: tifffile.TiffFile, notes: list[str], series: int = 0
) -> tuple[float | None, float | None, str] | None:
    xml = tif.ome_metadata
    if not xml:
        return None
    attributes = _ome_pixels_attributes(xml, series)
    values: dict[str, float] = {}
    for axis in ("X", "Y"):
        size = attributes.get(f"PhysicalSize{axis}")
        if size is None:
            continue
        unit = attributes.get(f"PhysicalSize{axis}Unit", "µm")  # the OME schema default
        if is_length_unit(unit):
            try:
                values[axis] = length_to_nm(size, unit)
            except ValueError:
                notes.append(
                    f"OME-XML PhysicalSize{axis}={size!r} {unit} is not a positive length: ignored, pixel size unknown"
                )
                return None
    if "X" not in values:
        return None
    return values.get("Y", values["X"]), values["X"], "OME-XML PhysicalSizeX/PhysicalSizeY"


def _baseline_calibration(
    page: tifffile.TiffPage, metadata: dict[str, Any]
) -> tuple[float | None, float | None, str] | None:
    if "ResolutionUnit" not in page.tags or "XResolution" not in page.tags:
        return None
    unit_code = int(page.tags["ResolutionUnit"].value)
    unit_nm = {2: 2.54e7, 3: 1e7}.get(unit_code)
    if unit_nm is None:
        return None
    y_nm, x_nm = _resolution_nm(page, unit_nm)
    if x_nm is None:
        return None
    if x_nm >= PRINT_RESOLUTION_LIMIT_NM:
        metadata["dpi"] = round(2.54e7 / x_nm, 3)
        return None
    name = "inch" if unit_code == 2 else "cm"
    return (y_nm if y_nm is not None else x_nm), x_nm, f"TIFF XResolution/YResolution per {name}"


def _apply_palette(colormap: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Map palette indices through a TIFF colormap ``(3, 2**bits)`` to RGB.

    TIFF colormaps are 16-bit; when every entry is an 8-bit value scaled by 257
    (the usual case) the result is uint8.
    """
    rgb = np.moveaxis(colormap[:, indices], 0, -1)
    if np.all(colormap % 257 == 0):
        return (rgb // 257).astype(np.uint8)
    return rgb.astype(np.uint16)


#: tifffile's wording of an exception it caught: ``<TiffTag.fromfile> raised TiffFileError('<what>')``.
_RAISED = re.compile(r"^<[\w.]+> raised \w+\((['\"])(.*)\1\)$")
#: Messages of tifffile quoted in a file's warnings (the others are counted).
LIBRARY_MESSAGES_QUOTED = 3


def _library_notes(messages: list[str]) -> list[str]:
    """One warning for what tifffile logged while reading the file (a damaged or unreadable tag it skipped)."""
    if not messages:
        return []
    quoted = "; ".join(_RAISED.sub(r"\2", m) for m in messages[:LIBRARY_MESSAGES_QUOTED])
    more = len(messages) - LIBRARY_MESSAGES_QUOTED
    return [
        f"tifffile reported a damaged part of the file and skipped it ({quoted}"
        + (f"; and {more} more" if more > 0 else "")
        + "); the image was read without it. If its calibration or metadata look wrong, resave the file from the "
        "acquisition software, or give the pixel size (--pixel-size-nm)"
    ]


def read_tiff(path: str | Path, *, max_megapixels: float | None = None) -> RawImage:
    """Decode a TIFF/BigTIFF file and the calibration its tags state.

    Parameters
    ----------
    path : str or Path
        TIFF file (any extension).
    max_megapixels : float or None
        Limit on the decoded size (:func:`exo_vision.io.limits.check_decoded_size`),
        checked from the tags before decoding.

    Returns
    -------
    RawImage
        ``data`` is ``(..., M, N)`` or ``(..., M, N, C)`` (``rgb=True``) in the
        file's dtype; palette images with a coloured palette are expanded to
        RGB, gray palettes keep their indices.
    """
    path = Path(path)
    metadata: dict[str, Any] = {"format": "TIFF"}
    notes: list[str] = []
    library: list[str] = []  # what tifffile logged of this file (a damaged tag it skipped)
    with quiet_library_logs(path=path, collected=library), tifffile.TiffFile(path) as tif:
        n_series = len(tif.series)
        _check_ifd_chain(path)
        _check_complete(tif, path)
        index = _pick_series(tif)
        series = tif.series[index]
        frames = _pages_as_frames(tif)
        if frames:
            # pages written one by one (each its own series), all of one shape: frames of one stack
            metadata["tiff_series"] = {"read": PAGES_AS_FRAMES, "count": n_series}
            check_decoded_size(path, (n_series, *series.shape), max_megapixels=max_megapixels)
            data = np.stack([s.asarray() for s in tif.series])
            axes = "Q" + series.axes
        else:
            if n_series > 1:
                metadata["tiff_series"] = {"read": index, "count": n_series}
                notes.append(
                    f"the file holds {n_series} image series of different shapes; read series {index} "
                    f"(shape {tuple(series.shape)}), the largest"
                )
            check_decoded_size(path, series.shape, max_megapixels=max_megapixels)
            data = series.asarray()
            axes = series.axes
        page = series.pages[0] if series.pages else tif.pages[0]
        metadata["tiff_axes"] = axes
        metadata["photometric"] = page.photometric.name
        software = str(page.tags["Software"].value) if "Software" in page.tags else ""
        description = str(page.tags["ImageDescription"].value) if "ImageDescription" in page.tags else ""
        metadata["software"] = software
        if "S" in axes and not axes.endswith("S"):
            # Planar (separate) colour planes: put the samples last like contiguous RGB.
            data = np.moveaxis(data, axes.index("S"), -1)
            axes = axes.replace("S", "") + "S"
        rgb = axes.endswith("S") and data.shape[-1] in (3, 4)
        if page.photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None:
            data = _apply_palette(np.asarray(page.colormap), data)
            rgb = True
        if axes.endswith("S") and not rgb:
            notes.append(f"the last axis holds {data.shape[-1]} samples per pixel, not RGB")

        pixel: tuple[float | None, float | None] = (None, None)
        tag: str | None = None
        format_kind: Literal["tem", "blot"] | None = None
        vendor = _vendor(tif)
        if vendor is not None:
            key, description_of_tag = vendor
            metadata["vendor"] = key
            format_kind = "tem" if key in ("fei", "zeiss", "tvips", "jeol", "dm") else None
            pixel, info = _vendor_calibration(path, index, n_series, notes)
            metadata.update(info)
            if pixel[0] is not None:
                tag = description_of_tag
        if tag is None:
            for found in (_imagej_calibration(tif, metadata), _ome_calibration(tif, notes, index)):
                if found is not None:
                    pixel, tag = (found[0], found[1]), found[2]
                    break
        if tag is None:
            found = _baseline_calibration(page, metadata)
            if found is not None:
                pixel, tag = (found[0], found[1]), found[2]
        if (
            tag is not None
            and "XResolution" in tag
            and "YResolution" in page.tags
            and _resolution_nm(page, 1.0)[0] is None
        ):
            notes.append(
                "the file's YResolution tag holds no usable value (zero or damaged), so the pixels were taken as "
                "square from XResolution; check the calibration, or give the pixel size (--pixel-size-nm)"
            )
        if tag is None and metadata.get("unknown_unit"):
            notes.append(
                f"the file's calibration unit {metadata['unknown_unit']!r} is not a length unit exo_vision reads "
                "(nm, µm, mm, cm, m, Å, pm, inch), so its calibration was not used; give the pixel size "
                "(--pixel-size-nm) or calibrate from the scale bar"
            )
        if "Image Lab" in software or "Image Lab" in description:
            format_kind = "blot"
            metadata["image_lab"] = True
    return RawImage(
        data=data,
        rgb=rgb,
        signal_ndim=2,
        pixel_size_yx_nm=pixel,
        calibration_tag=tag,
        format_kind=format_kind,
        metadata=metadata,
        warnings=notes + _library_notes(library),
    )
