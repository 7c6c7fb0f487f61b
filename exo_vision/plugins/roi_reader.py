"""napari reader for ImageJ/Fiji ROI files: a ``RoiSet.zip`` or ``.roi`` dropped on an image becomes a Labels layer.

The ROIs are rasterised on the grid of the image shown (the selected image
layer, else the top one), with its scale and position, so they sit on it. With
no image open, the labels are just large enough to hold every ROI.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_warning


def get_roi_reader(path: str | list[str]) -> Callable[[str | list[str]], list[tuple[Any, dict, str]] | None] | None:
    """Return :func:`read_roi_layers` when every path is an ImageJ ROI file, else None (never raises)."""
    from exo_vision.annotations.imagej_roi import is_roi_file

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(is_roi_file(p) for p in paths):
        return None
    return read_roi_layers


def _target_image() -> Any:
    """The image layer the ROIs belong to: the selected image, else the top image, else None."""
    import napari
    from napari.layers import Image

    viewer = napari.current_viewer()
    if viewer is None:
        return None
    active = viewer.layers.selection.active
    if isinstance(active, Image) and active.ndim == 2:
        return active
    images = [layer for layer in viewer.layers if isinstance(layer, Image) and layer.ndim == 2]
    return images[-1] if images else None


def read_roi_layers(path: str | list[str]) -> list[tuple[Any, dict, str]] | None:
    """One Labels layer per ROI file, on the grid of the image shown; features hold each ROI's name and type."""
    from exo_vision.annotations.imagej_roi import read_imagej_rois, roi_extent

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    image = _target_image()
    layers = []
    for item in paths:
        try:
            shape = tuple(image.data.shape[-2:]) if image is not None else roi_extent(item)
            result = read_imagej_rois(item, shape)
        except ValueError as error:
            show_warning(f"exo_vision could not open {item}: {error}")
            continue
        kwargs: dict[str, Any] = {
            "name": f"{Path(item).stem} ROIs",
            "features": result.table,
            "metadata": {"source": str(item), "skipped_rois": result.skipped},
        }
        if image is not None:
            kwargs["scale"] = tuple(image.scale)
            kwargs["translate"] = tuple(image.translate)
            kwargs["units"] = tuple(str(u) for u in image.units)
        layers.append((result.labels, kwargs, "labels"))
    return layers or None
