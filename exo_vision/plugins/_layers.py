"""Shared helpers: turn core results into napari layer data and find related layers.

Layers made by exo_vision carry their calibration in ``metadata``:

- every image layer: ``pixel_size_nm``, ``pixel_size_source``, ``kind``, ``polarity``,
  ``max_value``, ``path`` and a stable ``exo_vision_id``;
- every derived layer (labels, shapes, points): ``exo_vision_source_id`` = the ``exo_vision_id``
  of the image it was computed from, so a recalibration can rescale it too.

No module-level state: everything is found from the viewer's layer list.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from exo_vision.io.image_data import SOURCE_NONE, ImageData

if TYPE_CHECKING:  # pragma: no cover - typing only
    import napari

#: metadata key holding an image layer's stable id.
ID_KEY = "exo_vision_id"
#: metadata key holding, on a derived layer, the id of its source image layer.
SOURCE_KEY = "exo_vision_source_id"
#: Calibration source of a pixel size read from a layer's napari scale and units.
SOURCE_NAPARI_SCALE = "napari layer scale"
#: napari's scale and exo_vision's calibration of a layer agree within this relative difference.
SCALE_RTOL = 1e-6


def enum_choices(enum_cls: type[Enum]) -> list[tuple[str, Any]]:
    """ComboBox choices showing an Enum's values ("auto", "volume") instead of member names."""
    return [(member.value, member) for member in enum_cls]


def scale_and_units(pixel_size_yx_nm: tuple[float | None, float | None]) -> dict[str, Any]:
    """Layer ``scale``/``units`` keyword arguments for a pixel size.

    Parameters
    ----------
    pixel_size_yx_nm : (float or None, float or None)
        Pixel size along rows and columns in nanometres; ``None`` when unknown.

    Returns
    -------
    dict
        ``{"scale": (sy, sx), "units": ("nm", "nm")}``, or pixel units when uncalibrated.
    """
    py, px = pixel_size_yx_nm
    if py is None or px is None:
        return {"scale": (1.0, 1.0), "units": ("pixel", "pixel")}
    return {"scale": (float(py), float(px)), "units": ("nm", "nm")}


def image_layer_data(image: ImageData, *, name: str | None = None) -> tuple[np.ndarray, dict, str]:
    """Build the napari layer-data tuple for an :class:`ImageData`.

    Parameters
    ----------
    image : ImageData
        What a core reader returned.
    name : str, optional
        Layer name; the file stem by default.

    Returns
    -------
    (data, kwargs, "image")
        ``data`` is the (M, N) pixel array; ``kwargs`` holds ``name``, ``scale``,
        ``units`` (nm), ``contrast_limits`` and the calibration ``metadata``.
    """
    if name is None:
        name = image.path.stem if image.path is not None else "image"
    metadata = {
        ID_KEY: uuid.uuid4().hex,
        "path": None if image.path is None else str(image.path),
        "pixel_size_nm": image.pixel_size_nm,
        "pixel_size_yx_nm": tuple(image.pixel_size_yx_nm),
        "pixel_size_source": image.pixel_size_source,
        "kind": image.kind,
        "polarity": image.polarity,
        "max_value": image.max_value,
        "exposure_s": image.exposure_s,
        "warnings": list(image.warnings),
        "file_metadata": dict(image.metadata),
    }
    kwargs: dict[str, Any] = {"name": name, "metadata": metadata, **scale_and_units(image.pixel_size_yx_nm)}
    data = np.asarray(image.data)
    if data.size and data.ndim == 2:
        lo, hi = float(np.min(data)), float(np.max(data))
        if hi > lo:
            kwargs["contrast_limits"] = (lo, hi)
    return data, kwargs, "image"


def image_data_from_layer(layer: Any) -> ImageData:
    """Rebuild the :class:`ImageData` behind a napari image layer.

    Works for layers opened by the exo_vision reader (calibration in ``metadata``)
    and for plain arrays (uncalibrated unless ``metadata`` says otherwise).

    Parameters
    ----------
    layer : napari.layers.Image
        A 2-D grey image layer.

    Returns
    -------
    ImageData
    """
    data = np.asarray(layer.data)
    colour_notes: list[str] = []
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        from exo_vision.io.read import colour_to_gray

        data, colour_notes = colour_to_gray(data)  # as `exo-vision blot` reads the same file
    if data.ndim != 2:
        raise ValueError(
            f"layer {layer.name!r} has shape {data.shape}; exo_vision analyses one 2-D grey image at a time. "
            "Right-click the layer and choose Split Stack (one layer per frame), then pick a frame."
        )
    meta = layer.metadata or {}
    px, source = layer_pixel_size(layer)
    napari_yx = _napari_scale_nm(layer)
    followed = source.startswith(SOURCE_NAPARI_SCALE) and napari_yx is not None
    yx = napari_yx if followed else meta.get("pixel_size_yx_nm") or napari_yx or (px, px)
    if px is None and None not in tuple(yx):
        # non-square pixels recorded by the reader (a frame split from a stack opened for viewing): measured at
        # their mean, the core refuses them with the reason instead of calling the image uncalibrated
        px, source = float(np.mean(yx)), str(meta.get("pixel_size_source", SOURCE_NONE))

    # a file opened by another reader (napari's own, for an RGB PNG or TIFF) is known by the layer's source
    path = meta.get("path") or getattr(getattr(layer, "source", None), "path", None)
    return ImageData(
        data=data,
        path=None if path is None else Path(path),
        pixel_size_nm=px,
        pixel_size_source=source,
        pixel_size_yx_nm=tuple(yx),
        kind=meta.get("kind", "unknown"),
        polarity=meta.get("polarity"),
        max_value=meta.get("max_value"),
        exposure_s=meta.get("exposure_s"),
        metadata=dict(meta.get("file_metadata", {})),
        warnings=list(meta.get("warnings", [])) + [n for n in colour_notes if n not in meta.get("warnings", [])],
    )


def colour_micrograph_problem(layer: Any) -> str | None:
    """Why ``layer`` cannot be segmented as a TEM micrograph because it holds colour (an annotated overlay,
    a stained light-microscopy image), or None: the command line refuses such files the same way."""
    from exo_vision.io.read import channels_differ

    meta = layer.metadata or {}
    data = np.asarray(layer.data)
    colour = (meta.get("file_metadata") or {}).get("converted_from") == "colour"
    if not colour and data.ndim == 3 and data.shape[-1] in (3, 4):
        colour = channels_differ(data)
    if not colour:
        return None
    return (
        f"layer {layer.name!r} is a colour image (its RGB channels differ), not a gray TEM micrograph; export the "
        "micrograph as gray (8/16-bit): colour overlays cannot be measured"
    )


def _napari_scale_nm(layer: Any) -> tuple[float, float] | None:
    """The layer's napari ``scale`` in nm per pixel (rows, columns) when its ``units`` are lengths."""
    return scale_in_nm(getattr(layer, "scale", ()), getattr(layer, "units", ()))


def scale_in_nm(scale: Sequence[float], units: Sequence[Any]) -> tuple[float, float] | None:
    """The last two axes of a napari ``scale`` in nm per pixel (rows, columns), when their ``units`` (pint units
    or their names: "nm", "micrometer" ...) are lengths; None otherwise (napari's default unit is "pixel": a
    scale without a length is no calibration)."""
    import pint

    units, scale = tuple(units)[-2:], tuple(scale)[-2:]
    if len(units) != 2 or len(scale) != 2:
        return None
    registry = pint.get_application_registry()
    try:
        lengths = [registry(str(unit)) for unit in units]
        if any(length.dimensionality != {"[length]": 1} for length in lengths):
            return None
        yx = tuple(
            float((value * length).to("nanometer").magnitude) for value, length in zip(scale, lengths, strict=True)
        )
    except (pint.errors.PintError, AttributeError, TypeError, ValueError):  # no unit, or one pint does not know
        return None
    return (yx[0], yx[1]) if all(np.isfinite(v) and v > 0 for v in yx) else None


def layer_pixel_size(layer: Any) -> tuple[float | None, str]:
    """The pixel size (nm) of an image layer and where it came from.

    exo_vision's own calibration (``metadata["pixel_size_nm"]``, set by its reader and the
    Calibration dock) comes first, as long as napari's ``scale`` agrees with it; a napari
    ``scale`` whose ``units`` are a length (as another reader plugin or
    ``viewer.add_image(..., scale=, units=)`` sets it, or a script that changed it) comes
    otherwise: the mean of its two axes, with the source ``napari layer scale``; else
    ``(None, "none")``.
    """
    meta = layer.metadata or {}
    px = meta.get("pixel_size_nm")
    yx = _napari_scale_nm(layer)
    source = str(meta.get("pixel_size_source", SOURCE_NONE))
    recorded = meta.get("pixel_size_yx_nm")
    # a reader's calibration of slightly non-square pixels (within 5 %: px is their mean) is napari's scale per axis
    per_axis = recorded is not None and None not in tuple(recorded) and len(tuple(recorded)) == 2
    if px is not None and (
        yx is None
        or np.allclose(yx, float(px), rtol=SCALE_RTOL, atol=0.0)
        or (per_axis and np.allclose(yx, tuple(recorded), rtol=SCALE_RTOL, atol=0.0))
    ):
        return float(px), source
    if yx is not None:
        changed = "" if px is None else f" (set in napari; it was {float(px):.4g} nm/px, {source})"
        return float(np.mean(yx)), SOURCE_NAPARI_SCALE + changed
    return None, SOURCE_NONE


def stale_calibration(layer: Any, result: Any) -> str | None:
    """Why a segmentation result no longer fits its image layer, or ``None`` when it does.

    A result is computed at the pixel size the image had when the run started
    (its working scale, size limits and every diameter depend on it); if the
    layer was recalibrated meanwhile, showing it would give sizes in the old
    nm/px drawn at the new scale.
    """
    used = getattr(getattr(result, "image_data", None), "pixel_size_nm", None)
    now, _ = layer_pixel_size(layer)
    if used is None or now is None or np.isclose(float(used), float(now), rtol=1e-9, atol=0.0):
        return None
    return (
        f"the calibration of {layer.name!r} changed from {float(used):.4g} to {float(now):.4g} nm/px while it "
        "was being segmented"
    )


def same_layer(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same layer.

    Widgets get napari's public-only proxies of layers, and two proxies of one
    layer are different objects that compare equal, so ``is`` is not enough.
    """
    if a is None or b is None:
        return a is b
    return a is b or a == b


#: Metadata key of the frame of a stack file an image layer shows (``exo-vision ... --frame K``).
FRAME_KEY = "frame"
#: How napari's Split Stack names the layers it makes of a stack: "<stack name> layer <i>".
SPLIT_LAYER_NAME = re.compile(r" layer (\d+)$")


def non_square_layer(layer: Any) -> str | None:
    """Why an image layer's pixels cannot be measured as a TEM micrograph's (not square), or None.

    The pixel sizes are napari's ``scale`` when its units are lengths, else those the reader recorded.
    """
    from exo_vision.io.read import non_square_problem

    yx = _napari_scale_nm(layer) or (layer.metadata or {}).get("pixel_size_yx_nm")
    if yx is None or None in tuple(yx):
        return None
    problem = non_square_problem(*yx)
    return None if problem is None else problem.removeprefix("has ")


def split_frame_index(layer: Any) -> int | None:
    """The frame of its stack file a layer made by napari's Split Stack shows, or None.

    The reader opens a stack for viewing with ``metadata["viewing_only"]`` and the number of frames
    (``n_frames``; one frame axis); Split Stack copies that metadata into each 2-D layer it names
    "<name> layer <i>".
    """
    meta = layer.metadata or {}
    frames = meta.get("n_frames")
    match = SPLIT_LAYER_NAME.search(str(getattr(layer, "name", "")))
    if not meta.get("viewing_only") or frames is None or match is None or np.ndim(layer.data) != 2:
        return None
    index = int(match.group(1))
    return index if 0 <= index < int(frames) else None


def restore_frame_units(layer: Any) -> bool:
    """Give a 2-D frame napari's Split Stack made of a stack the reader opened its nm units back.

    Split Stack keeps each frame's scale (nm per pixel) and the reader's metadata
    but resets ``units`` to pixels. A 2-D image layer whose metadata comes from the
    reader's viewing layer (``viewing_only`` and ``pixel_size_yx_nm``), whose
    units are no length, and whose scale is still the recorded nm per pixel
    (rows, columns) gets ``units = ("nm", "nm")``. A scale set to something else
    since is left alone: it is no longer the file's calibration.

    Parameters
    ----------
    layer : napari.layers.Layer
        Any layer.

    Returns
    -------
    bool
        Whether the units were set.
    """
    meta = getattr(layer, "metadata", None) or {}
    recorded = meta.get("pixel_size_yx_nm")
    if not meta.get("viewing_only") or recorded is None or len(tuple(recorded)) != 2 or None in tuple(recorded):
        return False
    if getattr(layer, "ndim", None) != 2:
        return False
    if _napari_scale_nm(layer) is not None or not np.allclose(
        tuple(layer.scale), tuple(recorded), rtol=SCALE_RTOL, atol=0.0
    ):
        return False
    layer.units = ("nm", "nm")
    return True


def rescaled_without_units(layer: Any) -> bool:
    """Whether a 2-D frame from a stack the reader opened (see :func:`restore_frame_units`) has a napari scale,
    in pixel units, other than the nm per pixel the reader recorded: rescaled by hand before its units were
    restored, so its scale gives no length."""
    meta = getattr(layer, "metadata", None) or {}
    recorded = meta.get("pixel_size_yx_nm")
    if not meta.get("viewing_only") or recorded is None or len(tuple(recorded)) != 2 or None in tuple(recorded):
        return False
    if getattr(layer, "ndim", None) != 2 or _napari_scale_nm(layer) is not None:
        return False
    return not np.allclose(tuple(layer.scale), tuple(recorded), rtol=SCALE_RTOL, atol=0.0)


def layer_id(layer: Any) -> str:
    """Return (creating if needed) the stable exo_vision id of an image layer."""
    meta = layer.metadata
    if ID_KEY not in meta:
        meta[ID_KEY] = uuid.uuid4().hex
    return meta[ID_KEY]


def own_layer_id(viewer: napari.Viewer, image_layer: Any) -> str:
    """:func:`layer_id`, made unique in the viewer first.

    napari's *Duplicate Layer* copies the metadata, id included: without this, the copy's segmentation
    replaced the original's vesicle layer and its calibration rescaled the original's vesicles. The
    first layer in the list holding an id keeps it; any other gets a new one.
    """
    key = layer_id(image_layer)
    itself = _unwrapped(image_layer)
    holders = [_unwrapped(layer) for layer in viewer.layers if layer.metadata.get(ID_KEY) == key]
    if len(holders) > 1 and holders[0] is not itself and any(h is itself for h in holders):
        image_layer.metadata = {**image_layer.metadata, ID_KEY: uuid.uuid4().hex}
    return image_layer.metadata[ID_KEY]


def _unwrapped(layer: Any) -> Any:
    """The layer itself behind napari's public proxy (plugins are handed proxies; ``is`` compares objects)."""
    return getattr(layer, "__wrapped__", layer)


def derived_layers(viewer: napari.Viewer, image_layer: Any) -> list[Any]:
    """Layers computed from ``image_layer`` (labels, lanes, bands...)."""
    key = own_layer_id(viewer, image_layer)
    return [layer for layer in viewer.layers if layer.metadata.get(SOURCE_KEY) == key]


def find_derived(viewer: napari.Viewer, image_layer: Any, role: str) -> Any | None:
    """The derived layer of ``image_layer`` with ``metadata["exo_vision_role"] == role``."""
    for layer in derived_layers(viewer, image_layer):
        if layer.metadata.get("exo_vision_role") == role:
            return layer
    return None


def source_image(viewer: napari.Viewer, layer: Any) -> Any | None:
    """The image layer a derived layer was computed from, or ``None``."""
    key = layer.metadata.get(SOURCE_KEY)
    if key is None:
        return None
    for candidate in viewer.layers:
        if candidate.metadata.get(ID_KEY) == key:
            return candidate
    return None


def image_layers(viewer: napari.Viewer) -> list[Any]:
    """All image layers in the viewer, top-most first."""
    from napari.layers import Image

    return [layer for layer in reversed(list(viewer.layers)) if isinstance(layer, Image)]


def active_image_layer(viewer: napari.Viewer) -> Any | None:
    """The selected image layer, else the image behind the selected derived layer, else the top image."""
    from napari.layers import Image

    active = viewer.layers.selection.active
    if isinstance(active, Image):
        return active
    if active is not None:
        source = source_image(viewer, active)
        if source is not None:
            return source
    images = image_layers(viewer)
    return images[0] if images else None


def draw_now(viewer: Any) -> None:
    """Draw the viewer's canvas at once, in the GUI thread, if it is on screen.

    A repaint runs vispy's queued OpenGL commands: the objects of the layers removed
    since the last frame are deleted in it. Called between removing layers and adding
    others, it keeps their deletion and the new layers' creation in separate frames:
    the two in one frame (an image and a Labels layer removed, an image added) can make
    Mesa's llvmpipe renderer end the process with SIGSEGV in ``glDrawArrays``. Nothing
    happens for a viewer without a Qt canvas, or one not shown.
    """
    viewer = _unwrapped(viewer)
    canvas = getattr(
        getattr(getattr(getattr(viewer, "window", None), "_qt_viewer", None), "canvas", None), "native", None
    )
    if canvas is not None and canvas.isVisible():
        canvas.repaint()
