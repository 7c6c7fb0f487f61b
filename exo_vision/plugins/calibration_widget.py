"""Calibration dock: see the active image's nm/px and its source; detect the scale bar,
calibrate from a drawn line, or type nm/px. Applying rescales the image, every layer made
from it and every measurement."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
from magicgui.widgets import Container, FloatSpinBox, PushButton
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer

from exo_vision.calibration.scalebar import calibration_from_line, read_scale_bar
from exo_vision.io.image_data import SOURCE_SCALE_BAR, SOURCE_USER
from exo_vision.io.read import scale_bar_disagreement
from exo_vision.plugins._layers import (
    SOURCE_KEY,
    active_image_layer,
    find_derived,
    image_data_from_layer,
    layer_id,
    layer_pixel_size,
    non_square_layer,
)
from exo_vision.plugins._text import result_text
from exo_vision.plugins._vesicles import apply_pixel_size, follow_scale, watch_split_frames
from exo_vision.plugins._workers import release_when_finished

logger = logging.getLogger(__name__)

#: metadata role of the Shapes layer the user draws the scale-bar line on.
LINE_ROLE = "scale_line"
#: Source recorded for a calibration from a line drawn by the user.
SOURCE_LINE = "user (drawn line over scale bar)"


def bar_disagreement_note(layer: Any, px: float | None) -> str:
    """What the dock adds to an image's pixel size of ``px`` nm/px that the burnt-in scale bar the reader read
    (``metadata["scale_bar_check"]``) contradicts; "" when they agree or no bar was read."""
    check = ((layer.metadata or {}).get("file_metadata") or {}).get("scale_bar_check") or {}
    if px is None or check.get("status") != "ok" or not check.get("pixel_size_nm"):
        return ""
    if scale_bar_disagreement(px, "", check) is None:
        return ""
    return (
        f"; its scale bar reads {float(check['pixel_size_nm']):.4g} nm/px: check which is right "
        "(Detect scale bar and accept it, or type the true nm/px)"
    )


def line_length_px(shapes_layer: Any) -> float:
    """Length in pixels of the last line drawn on ``shapes_layer``.

    Raises
    ------
    ValueError
        When no line has been drawn.
    """
    lines = [
        np.asarray(data, dtype=float)
        for data, kind in zip(shapes_layer.data, shapes_layer.shape_type, strict=True)
        if kind in ("line", "path")
    ]
    if not lines:
        raise ValueError(
            "no line drawn yet: click 'Draw a line', then drag from one end of the scale bar to the other."
        )
    end_points = lines[-1][[0, -1], -2:]
    return float(np.hypot(*(end_points[1] - end_points[0])))


#: Decimals kept by the typed pixel size and line length (TEM pixel sizes are often 0.1-0.5 nm/px).
TYPED_DECIMALS = 5


class CalibrationWidget(Container):
    """Show, detect, draw or type the pixel size of the active image."""

    def __init__(self, napari_viewer: Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = viewer = napari_viewer
        self._current = result_text("active image", "")
        self._detect = PushButton(text="Detect scale bar")
        self._reading_text = result_text("scale-bar reading", "-")
        self._accept = PushButton(text="Accept reading", enabled=False)
        self._draw = PushButton(text="Draw a line over the scale bar")
        self._line_nm = FloatSpinBox(label="line length (nm)", value=100.0, min=0.01, max=1e7, step=10.0)
        self._apply_line = PushButton(text="Apply line")
        self._typed = FloatSpinBox(label="pixel size (nm/px)", value=1.0, min=1e-4, max=1e6, step=0.01)
        # magicgui keeps 2 decimals: 0.335 nm/px was applied as 0.34, a file's 0.6243 shown as 0.62
        for field in (self._typed, self._line_nm):
            field.native.setDecimals(TYPED_DECIMALS)
        self._apply_typed = PushButton(text="Apply typed nm/px")
        self.extend(
            [
                self._current,
                self._detect,
                self._reading_text,
                self._accept,
                self._draw,
                self._line_nm,
                self._apply_line,
                self._typed,
                self._apply_typed,
            ]
        )
        self.reading: Any = None
        self.worker: Any = None
        #: The image layer whose scale the dock follows (its nm/px line is redrawn when napari's scale changes).
        self._watched: Any = None
        self._detect.changed.connect(lambda: self.detect_scale_bar())
        self._accept.changed.connect(self.accept_reading)
        self._draw.changed.connect(self.start_line)
        self._apply_line.changed.connect(self.apply_line)
        self._apply_typed.changed.connect(self.apply_typed)
        viewer.layers.selection.events.active.connect(self._show_current)
        watch_split_frames(viewer)  # frames split from a stack keep its nm units (before they are shown)
        viewer.layers.events.inserted.connect(self._show_current)
        self._show_current()

    # -- display -----------------------------------------------------------------------------
    def _image(self) -> Any:
        image = active_image_layer(self._viewer)
        if image is None:
            show_warning("open a micrograph first (File > Open, or File > Open Sample > exo_vision)")
        return image

    def _follow(self, image: Any) -> None:
        """Redraw the nm/px line when the scale or units of ``image`` (the active image) change in napari."""
        if image is self._watched:
            return
        if self._watched is not None:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                self._watched.events.scale.disconnect(self._show_current)
                self._watched.events.units.disconnect(self._show_current)
        if image is not None:
            image.events.scale.connect(self._show_current)
            image.events.units.connect(self._show_current)  # nm set after the scale makes the scale a length
        self._watched = image

    def _show_current(self, _event: Any = None) -> None:
        image = active_image_layer(self._viewer)
        self._follow(image)
        if image is None:
            self._current.value = "no image open"
            return
        follow_scale(self._viewer, image)
        px, source = layer_pixel_size(image)
        if (problem := non_square_layer(image)) is not None:
            # no pixel size to offer: one typed for both axes would measure every diameter in a direction wrong
            self._current.value = f"{image.name}: {problem}; resample it to square pixels before measuring"
            return
        self._current.value = (
            f"{image.name}: "
            + ("uncalibrated" if px is None else f"{px:.4g} nm/px ({source})")
            + bar_disagreement_note(image, px)
        )
        if px is not None:
            self._typed.value = float(px)

    # -- scale bar ---------------------------------------------------------------------------
    def detect_scale_bar(self, *, sync: bool = False) -> None:
        """Read the burnt-in scale bar of the active image (in a thread worker unless ``sync``)."""

        image = self._image()
        if image is None:
            return
        try:
            pixels = image_data_from_layer(image).data
        except ValueError as error:
            show_warning(str(error))
            return
        self._reading_text.value = "reading..."
        self._accept.enabled = False
        if sync:
            self._show_reading(read_scale_bar(pixels))
            return
        self.worker = create_worker(
            read_scale_bar, pixels, _progress={"desc": "Reading scale bar"}, _ignore_errors=True
        )
        self.worker.returned.connect(self._show_reading)
        self.worker.errored.connect(lambda error: show_warning(f"scale-bar detection failed: {error}"))
        release_when_finished(self.worker).start()

    def _show_reading(self, reading: Any) -> None:
        self.reading = reading
        if reading.status == "ok":
            self._reading_text.value = (
                f"{reading.label_text!r}: bar {reading.bar_length_px:.0f} px = {reading.length_nm:g} nm "
                f"-> {reading.pixel_size_nm:.4g} nm/px (confidence {reading.confidence:.2f})"
            )
            self._accept.enabled = True
        else:
            self._reading_text.value = f"{reading.status}: {reading.reason}"
            show_info(f"scale bar {reading.status}: {reading.reason}. Draw a line over it or type nm/px instead.")

    def accept_reading(self, _value: Any = None) -> None:
        """Apply the last scale-bar reading to the active image."""
        image = self._image()
        if image is None or self.reading is None or self.reading.status != "ok":
            show_warning("no accepted scale-bar reading: click 'Detect scale bar' first")
            return
        try:
            apply_pixel_size(self._viewer, image, self.reading.pixel_size_nm, source=SOURCE_SCALE_BAR)
        except ValueError as error:
            show_warning(str(error))
            return
        self._show_current()

    # -- drawn line --------------------------------------------------------------------------
    def start_line(self, _value: Any = None) -> Any:
        """Add (or select) the image's scale-line Shapes layer in line-drawing mode."""
        image = self._image()
        if image is None:
            return None
        try:
            image_data_from_layer(image)  # one 2-D image: a line on a stack has no pixel size to give
        except ValueError as error:
            show_warning(str(error))
            return None
        layer = find_derived(self._viewer, image, LINE_ROLE)
        if layer is None:
            layer = self._viewer.add_shapes(
                name=f"{image.name} scale line",
                shape_type="line",
                edge_color="yellow",
                edge_width=3,
                scale=image.scale,
                units=image.units,
                translate=image.translate,
                metadata={SOURCE_KEY: layer_id(image), "exo_vision_role": LINE_ROLE},
            )
        self._viewer.layers.selection.active = layer
        layer.mode = "add_line"
        return layer

    def apply_line(self, _value: Any = None) -> None:
        """Calibrate from the drawn line and the typed length in nm."""

        image = self._image()
        if image is None:
            return
        layer = find_derived(self._viewer, image, LINE_ROLE)
        try:
            if layer is None:
                raise ValueError("no scale line yet: click 'Draw a line over the scale bar' first")
            pixel_size_nm = calibration_from_line(line_length_px(layer), self._line_nm.value)
            apply_pixel_size(self._viewer, image, pixel_size_nm, source=SOURCE_LINE)
        except ValueError as error:
            show_warning(str(error))
            return
        self._show_current()

    def apply_typed(self, _value: Any = None) -> None:
        """Calibrate the active image to the typed nm/px."""
        image = self._image()
        if image is None:
            return
        try:
            apply_pixel_size(self._viewer, image, self._typed.value, source=SOURCE_USER)
        except ValueError as error:
            show_warning(str(error))
            return
        self._show_current()
