"""Blot quantification dock: strips and lanes as an editable Shapes layer (move / resize /
add / delete a lane and the numbers update), lane names, one marker per strip, bands drawn
with their ids, saturated pixels highlighted, the band table and the marker-panel verdict."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import replace
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    LineEdit,
    PushButton,
    SpinBox,
    Widget,
)
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer

from exo_vision import __version__
from exo_vision._shared.atomic import atomic_write, atomic_write_text, sha256_file
from exo_vision._shared.csv_tables import csv_text
from exo_vision._shared.paths import display_path, printable
from exo_vision.blot.advice import in_dock_words
from exo_vision.blot.constants import NOT_EV_WORDS, PANEL_FILES
from exo_vision.blot.ladder import named_ladder_lane
from exo_vision.blot.parameters import DEFAULT_BLOT_PARAMETERS, KEEP_SPOTS, MAX_ROLLING_BALL_RADIUS_PX, BlotParameters
from exo_vision.blot.straighten import STRAIGHTEN_MIN_DEG, straighten_if_turned, straightening_warning
from exo_vision.environment import lock_status, machine_description, software_versions
from exo_vision.figures.blot import annotated_blot, panel_figure
from exo_vision.figures.style import save_figure
from exo_vision.io.image_data import COLOUR_CHANNELS, ImageData
from exo_vision.plugins._layers import (
    FRAME_KEY,
    ID_KEY,
    SOURCE_KEY,
    active_image_layer,
    enum_choices,
    find_derived,
    image_data_from_layer,
    image_layer_data,
    layer_id,
    own_layer_id,
    same_layer,
    source_image,
    split_frame_index,
)
from exo_vision.plugins._text import result_text
from exo_vision.plugins._workers import release_when_finished

logger = logging.getLogger(__name__)

LANES_ROLE = "blot_lanes"
BANDS_ROLE = "blot_bands"
SATURATION_ROLE = "blot_saturation"
#: Largest value of the dock's whole-number fields (Qt's integer spin-box limit): ``exo-vision blot --lanes`` and
#: ``--frame`` have no cap, so the dock sets none below what Qt can hold.
MAX_SPIN_INT = 2**31 - 1
#: Smallest rolling-ball radius the dock takes, px (the field shows 2 decimals; the CLI takes any radius > 0).
MIN_ROLLING_BALL_RADIUS_PX = 0.01
#: Step and smallest value of the central-fraction field (3 decimals; the CLI takes any fraction in (0, 1]).
CENTRAL_FRACTION_STEP = 0.001
#: The reference-lane field's default: the CLI's rule without ``--reference-lane`` (the lane named lysate).
DEFAULT_REFERENCE = "lysate"
#: Who wrote an export's ``run.json`` (the CLI's has no such key).
PRODUCER = "napari blot dock"
#: The keys of ``parameters`` in ``exo-vision blot``'s ``run.json``, in its order.
RUN_PARAMETER_KEYS = (
    "lanes",
    "lane_ranges",
    "gel",
    "lane_names",
    "reference_lane",
    "ug_loaded",
    "ev_lanes",
    "marker",
    "panel",
    "background",
    "ladder_lane",
    "ladder_kda",
    "rolling_ball_radius_px",
    "central_fraction",
    "polarity",
    "lod",
    "max_megapixels",
    "frame",
    "channel",
    "blot_parameters",
)
#: Layer metadata key of an image taken from a stack by the dock: the stack layer's id (its frame: FRAME_KEY).
FRAME_SOURCE_KEY = "frame_of"
#: Layer metadata keys of one channel of a colour image taken by the dock: the channel ("red", "green", "blue") ...
CHANNEL_KEY = "colour_channel"
#: ... and the colour layer's id.
CHANNEL_SOURCE_KEY = "channel_of"
#: The channel note under the channel choice when the active layer is gray.
GRAY_LAYER_NOTE = "the active layer is gray: a channel applies to colour images only (the gray image is quantified)"


class Polarity(Enum):
    """Bands brighter (raw chemiluminescence) or darker (inverted export) than the membrane."""

    AUTO = "auto"
    BRIGHT = "bright"
    DARK = "dark"


class Channel(Enum):
    """What of a colour image is quantified: gray by luminance (``exo-vision blot`` without ``--channel``), or one
    channel as it is (``--channel``; one target of a two-colour export)."""

    GRAY = "gray (luminance)"
    RED = COLOUR_CHANNELS[0]
    GREEN = COLOUR_CHANNELS[1]
    BLUE = COLOUR_CHANNELS[2]


class Background(Enum):
    """Background subtraction method of the core."""

    PROFILE = "profile"
    BORDER = "border"
    ROLLING_BALL = "rolling_ball"
    ROLLING_DISK = "rolling_disk"
    NONE = "none"


def split_names(text: str) -> list[str]:
    """Comma-separated names -> list (blank items kept as empty names)."""
    return [item.strip() for item in text.split(",")] if text.strip() else []


def lanes_from_shapes(
    shapes_data: list[np.ndarray], strips: list[Any], names: list[str], known: list[str | None] | None = None
) -> list[Any]:
    """Turn edited lane polygons back into core ``Lane`` objects.

    Each polygon goes to the strip whose box contains its centre (the strip
    whose box is nearest otherwise; strips may be stacked or side by side); lanes
    are numbered left to right within their strip. A lane keeps the name it had
    (``known``, the layer's ``lane_name`` feature), so deleting a lane renames no
    other; lanes without one (drawn since) take the name at their position in
    ``names`` that no lane of their strip holds yet.

    Parameters
    ----------
    shapes_data : list of (4, 2) ndarray
        Lane corners (row, column) in pixels, as napari holds them.
    strips : list of Strip
        Strips of the last quantification (empty: every lane in strip 1).
    names : list of str
        Lane names, left to right (shorter lists leave the rest unnamed).
    known : list of (str or None), optional
        The name each polygon carried before the edit (None or "" for a new one).
    """
    from exo_vision.blot.lanes import Lane

    placed: dict[int, list[tuple[float, np.ndarray, str | None]]] = {}
    known = list(known) if known is not None and len(known) == len(shapes_data) else [None] * len(shapes_data)
    for poly, kept in zip(shapes_data, known, strict=True):
        poly = np.asarray(poly, dtype=float)[:, -2:]
        if poly.shape[0] != 4:
            raise ValueError(
                f"a lane must be a rectangle (4 corners), got {poly.shape[0]} points; redraw it as a rectangle"
            )
        y_c, x_c = poly.mean(axis=0)
        strip = 1
        if strips:
            # strips can sit side by side: a lane belongs to the strip whose box holds its centre
            inside = [
                s.index for s in strips if s.y_top_px <= y_c < s.y_bottom_px and s.x_left_px <= x_c < s.x_right_px
            ]
            nearest = min(
                strips,
                key=lambda s: np.hypot(
                    max(s.y_top_px - y_c, 0.0, y_c - s.y_bottom_px), max(s.x_left_px - x_c, 0.0, x_c - s.x_right_px)
                ),
            )
            strip = inside[0] if inside else nearest.index
        placed.setdefault(strip, []).append((x_c, poly, kept or None))
    lanes = []
    for strip in sorted(placed):
        ordered = sorted(placed[strip], key=lambda item: item[0])
        taken = {kept for _, _, kept in ordered if kept}
        for i, (_, poly, kept) in enumerate(ordered):
            name = kept or (names[i] if i < len(names) and names[i] not in taken else "")
            taken.add(name)
            lanes.append(Lane.from_polygon(poly, strip=strip, index=i + 1, name=name))
    return lanes


def band_rectangles(bands: pd.DataFrame) -> list[np.ndarray]:
    """One (4, 2) rectangle (row, column corners on pixel borders) per band row."""
    rects = []
    for row in bands.itertuples():
        top, bottom = row.y_top_px - 0.5, row.y_bottom_px - 0.5
        left, right = row.x_left_px - 0.5, row.x_right_px - 0.5
        rects.append(np.array([[top, left], [top, right], [bottom, right], [bottom, left]]))
    return rects


class BlotWidget(Container):
    """Quantify a blot; lanes stay editable and every edit re-quantifies."""

    def __init__(self, napari_viewer: Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = napari_viewer
        defaults = DEFAULT_BLOT_PARAMETERS
        self._polarity = ComboBox(label="bands appear", choices=enum_choices(Polarity), value=Polarity.AUTO)
        self._channel = ComboBox(label="colour channel", choices=enum_choices(Channel), value=Channel.GRAY)
        self._channel_note = result_text(value="")
        self._n_lanes = SpinBox(label="lanes per strip (0 = auto)", value=0, min=0, max=MAX_SPIN_INT)
        self._names = LineEdit(label="lane names (comma-separated)", value="")
        self._markers = LineEdit(label="marker per strip (reading order)", value="")
        self._reference = LineEdit(label="reference (lysate) lane", value=DEFAULT_REFERENCE)
        self._ug_loaded = LineEdit(label="µg loaded per lane (comma-separated; empty: equal loads)", value="")
        self._ev_lanes = LineEdit(label="EV lanes pooled (comma-separated; empty: by their names)", value="")
        self._background = ComboBox(label="background", choices=enum_choices(Background), value=Background.PROFILE)
        self._keep_writing = CheckBox(text="keep pen writing (do not remove written masses and dashes)", value=False)
        self._straighten = CheckBox(
            text=f"straighten membranes turned by {STRAIGHTEN_MIN_DEG:g}° or more (into a new image layer)", value=True
        )
        # the settings fewer runs need, shown on demand (each is the CLI option named in its tooltip)
        self._frame = SpinBox(label="frame of a stack (0-based; -1: none)", value=-1, min=-1, max=MAX_SPIN_INT)
        self._ladder_lane = SpinBox(label="ladder lane (1-based; 0: a lane named 'ladder')", value=0, min=0)
        self._ladder_kda = LineEdit(label="ladder sizes, kDa (heaviest first)", value="")
        self._radius = FloatSpinBox(
            label="rolling-ball radius (px)",
            value=defaults.rolling_ball_radius_px,
            min=MIN_ROLLING_BALL_RADIUS_PX,
            max=MAX_ROLLING_BALL_RADIUS_PX,
            step=1.0,
        )
        self._central_fraction = FloatSpinBox(
            label="central fraction of lane width",
            value=defaults.central_fraction,
            min=CENTRAL_FRACTION_STEP,
            max=1.0,
            step=CENTRAL_FRACTION_STEP,
        )
        self._min_relative_band = FloatSpinBox(
            label="min relative band (of the strip's strongest)",
            value=defaults.min_relative_prominence,
            min=CENTRAL_FRACTION_STEP,  # a share of the strongest band: 0 would report every bump
            max=1.0,
            step=CENTRAL_FRACTION_STEP,
        )
        self._keep_spots = CheckBox(
            text="keep spots (report peaks narrower than a quarter of their lane: dust, specks)", value=False
        )
        for widget, option in (
            (self._frame, "--frame K: one page of a multi-page file (e.g. the other channel)"),
            (self._ladder_lane, "--ladder-lane K"),
            (self._ladder_kda, "--ladder-kda A,B,...: calibrates each strip's marker window in kDa"),
            (self._radius, "--rolling-ball-radius-px (background rolling_ball / rolling_disk)"),
            (
                self._central_fraction,
                "--central-fraction: the share of each lane's width on which bands are detected and tested against "
                "the LoD (a band's volume spans its own width)",
            ),
            (
                self._min_relative_band,
                "--min-relative-band: a band row is reported when its strongest band reaches this share of the "
                "strip's strongest band (lower it for a faint marker beside a saturated one)",
            ),
            (self._keep_spots, "--keep-spots"),
            (self._n_lanes, "--lanes N"),
            (
                self._ev_lanes,
                "--ev-lanes: the EV replicates (empty: all but the reference and lanes with a word starting with "
                + ", ".join(NOT_EV_WORDS)
                + ", unless the name also says EV, sEV, exo... or vesicle)",
            ),
            (self._background, "--background"),
            (self._channel, "--channel red|green|blue: one channel of a colour image (gray: by luminance)"),
        ):
            widget.tooltip = f"exo-vision blot {option}"
        #: The advanced settings: rows of the dock (labels aligned with the rest), shown by one tick box.
        self._advanced: tuple[Widget, ...] = (
            self._frame,
            self._ladder_lane,
            self._ladder_kda,
            self._radius,
            self._central_fraction,
            self._min_relative_band,
            self._keep_spots,
        )
        for widget in self._advanced:
            widget.visible = False
        self._show_advanced = CheckBox(
            text="advanced settings (frame, ladder kDa, rolling ball, lane share, faint rows, spots)"
        )
        self._show_advanced.changed.connect(self._on_show_advanced)
        self._background.changed.connect(self._on_background)
        self._on_background()
        self._run = PushButton(text="Find lanes and quantify")
        self._verdict = result_text("verdict", "")
        self._summary = result_text("bands", "")
        self._export_dir = FileEdit(label="export folder", mode="d")
        self._export = PushButton(text="Export band table + figure + run.json")
        self.extend(
            [
                self._polarity,
                self._channel,
                self._channel_note,
                self._n_lanes,
                self._names,
                self._markers,
                self._reference,
                self._ug_loaded,
                self._ev_lanes,
                self._background,
                self._keep_writing,
                self._straighten,
                self._show_advanced,
                *self._advanced,
                self._run,
                self._summary,
                self._verdict,
                self._export_dir,
                self._export,
            ]
        )
        #: Run the core in the GUI thread (tests, scripts) instead of a thread worker.
        self.synchronous = False
        self.result: Any = None
        #: The last result of every blot quantified, by its image's id (lane edits re-quantify their own blot).
        self._results: dict[str, Any] = {}
        #: The settings each blot's last result was computed with, by its image's id (for its run.json).
        self._settings: dict[str, dict[str, Any]] = {}
        self.image_layer: Any = None
        self.lanes_layer: Any = None
        self.bands_layer: Any = None
        self.worker: Any = None
        self._updating = False
        self._run.changed.connect(lambda: self.quantify())
        self._export.changed.connect(lambda: self.export())
        napari_viewer.layers.selection.events.active.connect(self._on_active_layer)
        self._on_active_layer()

    def _on_active_layer(self, _event: Any = None) -> None:
        """The channel choice is enabled for a colour image only; a gray one gets a note saying it is not used."""
        layer = active_image_layer(self._viewer)
        colour = layer is None or _is_colour(layer)
        self._channel.enabled = colour
        self._channel_note.value = "" if colour else GRAY_LAYER_NOTE
        self._channel_note.visible = not colour

    def _on_show_advanced(self, *_: Any) -> None:
        for widget in self._advanced:
            widget.visible = bool(self._show_advanced.value)

    def _on_background(self, *_: Any) -> None:
        """The radius applies to the rolling-ball and rolling-disk backgrounds only."""
        self._radius.enabled = self._background.value in (Background.ROLLING_BALL, Background.ROLLING_DISK)

    # -- parameters ---------------------------------------------------------------------------
    def blot_parameters(self) -> BlotParameters:
        """The method settings chosen in the widget (the rest at their defaults), as ``exo-vision blot`` builds
        them from its options."""
        return BlotParameters(
            background=self._background.value.value,
            rolling_ball_radius_px=float(self._radius.value),
            central_fraction=float(self._central_fraction.value),
            min_relative_prominence=float(self._min_relative_band.value),
            remove_writing=not self._keep_writing.value,
            band_lane_wide_fraction=(
                KEEP_SPOTS if self._keep_spots.value else DEFAULT_BLOT_PARAMETERS.band_lane_wide_fraction
            ),
        )

    def ladder(self) -> tuple[int | None, list[float] | None]:
        """The ladder lane (1-based; the lane named 'ladder' when the field is 0) and its sizes in kDa.

        Raises
        ------
        ValueError
            When the sizes are not numbers, or are given without a ladder lane.
        """
        typed = split_names(self._ladder_kda.value)
        try:
            kda = [float(v) for v in typed] if typed else None
        except ValueError:
            raise ValueError(
                "'ladder sizes, kDa' must be numbers separated by commas (heaviest first), got "
                f"{self._ladder_kda.value!r}"
            ) from None
        lane = self._ladder_lane.value or named_ladder_lane(split_names(self._names.value))
        if kda is not None and lane is None:
            raise ValueError(
                "'ladder sizes, kDa' need the ladder's lane: set 'ladder lane' to its number (1 = leftmost), "
                "or name it 'ladder' in 'lane names'"
            )
        return lane, kda

    def parameters(self) -> dict[str, Any]:
        """Keyword arguments of :func:`exo_vision.blot.quantify.quantify_blot` from the widget.

        Raises
        ------
        ValueError
            When the ladder fields do not fit together (see :meth:`ladder`).
        """
        markers = split_names(self._markers.value)
        ladder_lane, ladder_kda = self.ladder()
        return {
            "polarity": None if self._polarity.value is Polarity.AUTO else self._polarity.value.value,
            "n_lanes": self._n_lanes.value or None,
            "markers": markers or None,
            "ladder_lane": ladder_lane,
            "ladder_kda": ladder_kda,
            "params": self.blot_parameters(),
        }

    def frame(self) -> int | None:
        """The frame (page) of a stack to quantify, 0-based; None when the field is -1."""
        return None if self._frame.value < 0 else int(self._frame.value)

    def channel(self) -> str | None:
        """The colour channel to quantify ("red", "green", "blue"); None: gray by luminance."""
        return None if self._channel.value is Channel.GRAY else str(self._channel.value.value)

    # -- running ------------------------------------------------------------------------------
    def quantify(self, *, lanes: list[Any] | None = None, strips: list[Any] | None = None) -> None:
        """Quantify the active blot image (lanes found automatically unless given).

        Edited ``lanes`` come with the ``strips`` of the result they were drawn on, so that the membrane's
        extent stays as that run found it: lanes put back where they were measure as that run did.
        """
        from exo_vision.blot.quantify import quantify_blot

        image_layer = self.image_layer if lanes is not None else active_image_layer(self._viewer)
        if image_layer is None:
            show_warning("open a blot image first (File > Open, or File > Open Sample > exo_vision)")
            return
        try:
            if lanes is None:
                image_layer = self._layer_for_channel(self._layer_for_frame(image_layer, self.frame()), self.channel())
            image = image_data_from_layer(image_layer)
            kwargs = self.parameters()
        except ValueError as error:
            show_warning(str(error))
            return
        own_layer_id(self._viewer, image_layer)  # frames split from one stack share its id: each gets its own
        if FRAME_KEY not in image_layer.metadata and (frame := split_frame_index(image_layer)) is not None:
            image_layer.metadata = {**image_layer.metadata, FRAME_KEY: frame}  # the command repeats it with --frame
        self.image_layer = image_layer
        forced = kwargs["polarity"]
        if forced is None and image.polarity is not None:
            kwargs["polarity"] = image.polarity
        # as exo-vision blot does: the file's saturation level holds for the polarity the file was read with
        if image.max_value is not None and (forced is None or forced == image.polarity):
            kwargs["max_value"] = image.max_value
        names = split_names(self._names.value)
        self._names_applied = names  # lanes edited later keep these names unless other names are typed
        if lanes is not None:
            kwargs["lanes"] = lanes
            kwargs["strips"] = strips
            kwargs.pop("n_lanes")
        elif names:
            kwargs["lane_names"] = names
        markers = kwargs["markers"]
        if markers is not None and len(markers) == 1:
            kwargs["markers"] = markers[0]
        if lanes is None and self._straighten.value:
            data, rotation = straighten_if_turned(
                image.data, polarity=kwargs["polarity"], max_value=kwargs.get("max_value")
            )
            if rotation is not None:
                image_layer = self._straightened_layer(image_layer, data, rotation)
                self.image_layer = image_layer
                image = image_data_from_layer(image_layer)
        # the file's name, as exo-vision blot writes it in the `image` column (the layer's name lacks the suffix)
        source = image_layer.metadata.get("path") or getattr(getattr(image_layer, "source", None), "path", None)
        kwargs["image_name"] = Path(str(source)).name if source else image_layer.name
        settings = self._run_settings(image_layer, kwargs, edited=lanes is not None)
        # a straightened layer says so with every result (shown as a warning, as the CLI prints it)
        turned = (image_layer.metadata or {}).get("straightened_deg")

        def work() -> Any:
            result = quantify_blot(image.data, **kwargs)
            if turned is not None:
                note = straightening_warning(float(turned), as_it_is="unticking 'straighten membranes'")
                result.warnings.insert(0, f"{(image_layer.metadata or {}).get('straightened_from')}: {note}")
            return result

        if self.synchronous:
            try:
                self._show(work(), settings)
            except ValueError as error:
                show_warning(in_dock_words(str(error)))
            return
        if self.worker is not None and self.worker.is_running:
            self.worker.quit()
        self.worker = create_worker(work, _progress={"desc": f"Quantifying {image_layer.name}"}, _ignore_errors=True)
        self.worker.returned.connect(lambda result: self._show(result, settings))
        self.worker.errored.connect(lambda error: show_warning(in_dock_words(f"blot quantification failed: {error}")))
        release_when_finished(self.worker).start()

    def _run_settings(self, image_layer: Any, kwargs: dict[str, Any], *, edited: bool) -> dict[str, Any]:
        """What a result was computed with, in the words of ``exo-vision blot``'s ``run.json`` ``parameters``
        (the per-run ones, the panel's reference and loads, are read at export), and the dock's own facts."""
        meta = image_layer.metadata or {}
        names = split_names(self._names.value)
        markers = split_names(self._markers.value)
        kda = split_names(self._ladder_kda.value)
        frame = meta.get(FRAME_KEY, self.frame())
        return {
            "parameters": {
                "lanes": self._n_lanes.value or None,
                "gel": False,
                "lane_names": names or None,
                "marker": ",".join(markers) if markers else None,
                "panel": None,
                "background": kwargs["params"].background,
                "ladder_lane": kwargs["ladder_lane"],
                "ladder_kda": ",".join(kda) if kda else None,
                "rolling_ball_radius_px": kwargs["params"].rolling_ball_radius_px,
                "central_fraction": kwargs["params"].central_fraction,
                "polarity": self._polarity.value.value,
                "lod": f"mean blank + {DEFAULT_BLOT_PARAMETERS.lod_factor:g} SD blank",
                "max_megapixels": None,
                "frame": None if frame is None else int(frame),
                "channel": meta.get(CHANNEL_KEY),  # None: a colour layer is made gray, as the CLI does
                "blot_parameters": kwargs["params"].to_dict(),
            },
            "straighten": bool(self._straighten.value),
            "path": meta.get("path"),
            "lanes_edited": edited,
        }

    def _layer_for_frame(self, layer: Any, frame: int | None) -> Any:
        """The 2-D image layer to quantify: ``layer`` itself, or frame ``frame`` of the stack it shows, read from
        its file as ``exo-vision blot --frame`` reads it (into a layer of its own, added or updated).

        Raises
        ------
        ValueError
            When a stack is given no frame, a frame the image does not have, or a frame whose stack was closed.
        """
        meta = layer.metadata or {}
        if FRAME_KEY in meta:  # a frame taken earlier: itself, or another frame of its stack
            if frame is None or meta[FRAME_KEY] == frame:
                return layer
            stack = next((c for c in self._viewer.layers if c.metadata.get(ID_KEY) == meta.get(FRAME_SOURCE_KEY)), None)
            if stack is None:
                raise ValueError(
                    f"layer {layer.name!r} is frame {meta[FRAME_KEY]} of a stack that was closed; open the file "
                    f"again to take frame {frame}"
                )
            layer, meta = stack, stack.metadata or {}
        data = layer.data
        n_frames = int(np.prod(data.shape[:-2])) if data.ndim > 2 and not layer.rgb else 1
        if n_frames == 1 and frame in (None, 0):
            return layer
        if frame is None:
            raise ValueError(
                f"layer {layer.name!r} is a stack of {n_frames} images; set 'frame of a stack' (advanced) to the "
                f"one to quantify (0 to {n_frames - 1}), as exo-vision blot --frame K does"
            )
        if meta.get("path"):
            from exo_vision.io.read import read_image

            image = read_image(meta["path"], kind="blot", frame=frame)
        elif frame < n_frames:
            image = ImageData(data=np.asarray(data).reshape(-1, *data.shape[-2:])[frame], kind="blot")
        else:
            raise ValueError(
                f"layer {layer.name!r} has {n_frames} frame(s) but frame {frame} was asked for; set 'frame of a "
                f"stack' to 0 to {n_frames - 1}"
            )
        pixels, kwargs, _ = image_layer_data(image, name=f"{layer.name} frame {frame}")
        kwargs["metadata"].update({FRAME_KEY: frame, FRAME_SOURCE_KEY: layer_id(layer)})
        return self._added_or_updated(pixels, kwargs)

    def _layer_for_channel(self, layer: Any, channel: str | None) -> Any:
        """The image layer to quantify: ``layer`` itself, or its ``channel`` as ``exo-vision blot --channel`` reads
        it, in a layer of its own (added or updated). A colour layer (napari's RGB, (M, N, 3|4)) gives its channel
        plane; a layer the exo_vision reader made gray from a colour file gives the channel read from the file. A
        gray layer is quantified as it is, with a note that the channel was not needed.

        Raises
        ------
        ValueError
            When another channel of a channel layer is asked for and its colour layer was closed.
        """
        meta = layer.metadata or {}
        if meta.get(CHANNEL_KEY) == channel or (channel is None and CHANNEL_KEY not in meta):
            return layer
        if CHANNEL_KEY in meta:  # gray, or another channel, of the colour image this channel was taken from
            source = next(
                (c for c in self._viewer.layers if c.metadata.get(ID_KEY) == meta.get(CHANNEL_SOURCE_KEY)), None
            )
            if source is None:
                raise ValueError(
                    f"layer {layer.name!r} is the {meta[CHANNEL_KEY]} channel of a colour image that was closed; open "
                    f"the file again to take its {channel or 'gray'} image"
                )
            if channel is None:
                return source  # made gray by luminance as it is quantified, as `exo-vision blot` reads the file
            layer, meta = source, source.metadata or {}
        data = np.asarray(layer.data)
        file_colour = (meta.get("file_metadata") or {}).get("converted_from") == "colour" and meta.get("path")
        if data.ndim == 3 and data.shape[-1] in (3, 4) and getattr(layer, "rgb", False):
            from exo_vision.io.read import empty_channel

            empty = empty_channel(data, channel)
            if empty is not None:
                raise ValueError(f"layer {layer.name!r}: {empty[0]}. {empty[1]}")
            gray = image_data_from_layer(layer)  # the calibration and file facts, as for the gray image
            source_path = meta.get("path") or getattr(getattr(layer, "source", None), "path", None)
            image = replace(
                gray,
                data=np.ascontiguousarray(data[..., COLOUR_CHANNELS.index(channel)]),
                path=None if source_path is None else Path(source_path),
                kind="blot",
                metadata={**gray.metadata, "converted_from": f"{channel} channel"},
                warnings=[f"the {channel} channel of the colour image was read (the other channels were left out)"],
            )
        elif file_colour:
            from exo_vision.io.read import read_image

            image = read_image(meta["path"], kind="blot", frame=meta.get(FRAME_KEY), channel=channel)
        else:
            show_warning(
                f"layer {layer.name!r} is gray: the {channel} channel asked for was not needed (quantified as it is)"
            )
            return layer
        pixels, kwargs, _ = image_layer_data(image, name=f"{layer.name} {channel} channel")
        kwargs["metadata"].update({CHANNEL_KEY: channel, CHANNEL_SOURCE_KEY: layer_id(layer)})
        return self._added_or_updated(pixels, kwargs)

    def _added_or_updated(self, pixels: np.ndarray, kwargs: dict[str, Any]) -> Any:
        """The image layer named ``kwargs["name"]``, updated to ``pixels`` and its metadata, or added."""
        name = kwargs["name"]
        if name in self._viewer.layers:
            existing = self._viewer.layers[name]
            existing.data = pixels
            existing.metadata = {**kwargs["metadata"], ID_KEY: layer_id(existing)}
            return existing
        return self._viewer.add_image(pixels, **kwargs)

    def _straightened_layer(self, layer: Any, data: np.ndarray, rotation_deg: float) -> Any:
        """The image layer holding ``layer``'s image straightened (added, or updated when it exists)."""
        name = f"{layer.name} straightened"
        # its own id: lanes, bands and saturation layers made from it must not be taken for the original's
        metadata = {k: v for k, v in (layer.metadata or {}).items() if k != ID_KEY}
        metadata.update(straightened_from=layer.name, straightened_deg=float(rotation_deg))
        if name in self._viewer.layers:
            existing = self._viewer.layers[name]
            existing.data = data
            existing.metadata = {**metadata, ID_KEY: layer_id(existing)}
            return existing
        return self._viewer.add_image(
            data,
            name=name,
            scale=layer.scale,
            units=layer.units,
            colormap=layer.colormap,
            contrast_limits=layer.contrast_limits,
            metadata=metadata,
        )

    def _follow_edited_blot(self, lanes_layer: Any) -> bool:
        """Make the blot whose lanes were edited the current one (with two blots open, an edit of the first
        re-quantified the second); False when its image or its last result is gone."""
        if lanes_layer is None or self.lanes_layer is None or same_layer(lanes_layer, self.lanes_layer):
            return True
        image = source_image(self._viewer, lanes_layer)
        result = self._results.get(layer_id(image)) if image is not None else None
        if image is None or result is None:
            show_warning("the image of these lanes was closed; open it again and quantify it")
            return False
        self.lanes_layer, self.image_layer, self.result = lanes_layer, image, result
        return True

    def _on_lanes_edited(self, event: Any) -> None:
        action = str(getattr(event, "action", "changed"))
        if self._updating or not action.endswith(("added", "changed", "removed")):
            return
        if not self._follow_edited_blot(getattr(event, "source", None)):
            return
        if not len(self.lanes_layer.data):
            show_warning("every lane was deleted; draw at least one lane rectangle")
            return
        names = split_names(self._names.value)
        features = self.lanes_layer.features
        known = (
            [str(v) if isinstance(v, str) and v else None for v in features["lane_name"]]
            if "lane_name" in features.columns and names == getattr(self, "_names_applied", None)
            else None  # names typed since: they are given left to right
        )
        try:
            lanes = lanes_from_shapes(
                list(self.lanes_layer.data), self.result.strips if self.result is not None else [], names, known
            )
        except ValueError as error:
            show_warning(str(error))
            return
        for strip in sorted({lane.strip for lane in lanes}):
            drawn = [lane.name for lane in lanes if lane.strip == strip]
            missing = [n for n in names if n not in drawn]
            if names and (missing or len(drawn) != len(names)):
                show_warning(
                    f"strip {strip} has {len(drawn)} lanes ({', '.join(n or 'unnamed' for n in drawn)}) for "
                    f"{len(names)} lane names ({', '.join(names)}): lanes keep their names"
                    + (f"; no lane is {', '.join(missing)} now" if missing else "")
                )
        self.quantify(lanes=lanes, strips=self.result.strips if self.result is not None else None)

    # -- display ------------------------------------------------------------------------------
    def _show(self, result: Any, settings: dict[str, Any] | None = None) -> None:
        if self.image_layer is None or self.image_layer not in self._viewer.layers:
            show_warning("the image of these lanes was closed: open it again and run, to quantify it")
            return
        self.result = result
        self._results[layer_id(self.image_layer)] = result  # each open blot keeps its own last result
        if settings is not None:
            self._settings[layer_id(self.image_layer)] = settings
        for message in result.warnings:
            show_warning(in_dock_words(message))
        image = self.image_layer
        common = {"scale": image.scale, "units": image.units, "translate": image.translate}
        source = {SOURCE_KEY: layer_id(image)}
        self._updating = True
        try:
            lane_polys = [lane.polygon_yx() for lane in result.lanes]
            lane_features = pd.DataFrame(
                {
                    "strip": [lane.strip for lane in result.lanes],
                    "lane": [lane.index for lane in result.lanes],
                    "lane_name": [lane.name for lane in result.lanes],
                }
            )
            lane_text = {"string": "{strip}.{lane} {lane_name}", "anchor": "upper_left", "size": 9, "color": "cyan"}
            self.lanes_layer = find_derived(self._viewer, image, LANES_ROLE)
            if self.lanes_layer is None:
                self.lanes_layer = self._viewer.add_shapes(
                    lane_polys,
                    shape_type="polygon",
                    name=f"{image.name} lanes",
                    edge_color="cyan",
                    face_color="transparent",
                    edge_width=2,
                    features=lane_features,
                    text=lane_text,
                    metadata={**source, "exo_vision_role": LANES_ROLE},
                    **common,
                )
                self.lanes_layer.events.data.connect(self._on_lanes_edited)
            else:
                self.lanes_layer.data = lane_polys
                self.lanes_layer.shape_type = ["polygon"] * len(lane_polys)
                self.lanes_layer.features = lane_features
                self.lanes_layer.text = lane_text
            bands = result.bands
            band_colors = [
                "red" if sat else ("lime" if present else "gray")
                for sat, present in zip(bands["saturated"], bands["present"], strict=True)
            ]
            band_kwargs = {
                "features": bands,
                "edge_color": band_colors or "lime",
                "face_color": "transparent",
                "edge_width": 1,
                "text": {"string": "{label}", "anchor": "upper_right", "size": 8, "color": "yellow"},
            }
            self.bands_layer = find_derived(self._viewer, image, BANDS_ROLE)
            if self.bands_layer is not None:
                self._viewer.layers.remove(self.bands_layer)
            self.bands_layer = self._viewer.add_shapes(
                band_rectangles(bands),
                shape_type="rectangle",
                name=f"{image.name} bands",
                metadata={**source, "exo_vision_role": BANDS_ROLE},
                **band_kwargs,
                **common,
            )
            self.bands_layer.editable = False
            saturation = find_derived(self._viewer, image, SATURATION_ROLE)
            mask = result.saturation_mask.astype(np.uint8)
            if saturation is None:
                self._viewer.add_labels(
                    mask,
                    name=f"{image.name} saturated pixels",
                    colormap={None: "transparent", 0: "transparent", 1: "red"},
                    opacity=0.9,
                    metadata={**source, "exo_vision_role": SATURATION_ROLE},
                    **common,
                )
            else:
                saturation.data = mask
        finally:
            self._updating = False
        self._viewer.layers.selection.active = self.lanes_layer
        n_sat = int(result.saturation_mask.sum())
        self._summary.value = f"{result.found_summary()}; {n_sat} saturated px" + (
            " (SATURATED BANDS: volumes are lower bounds)" if bands["saturated"].any() else ""
        )
        self._verdict.value = self._verdict_text(result)

    def panel(self) -> tuple[pd.DataFrame, pd.DataFrame, bool, list[str]]:
        """MISEV panel of the last result: enrichment table, per-marker summary, pass/fail and reasons.

        Raises
        ------
        ValueError
            When no strip has a marker name or the reference lane is not among the lane names.
        """
        from exo_vision.blot.panel import (
            REFERENCE_NAME,
            default_reference_lane,
            enrichment_table,
            misev_verdict,
            panel_summary,
        )
        from exo_vision.blot.quantify import unmeasured_markers

        typed = self._reference.value.strip()
        names = list(dict.fromkeys(self.result.bands["lane_name"].astype(str)))
        reference = typed
        if typed not in names and typed.casefold() in ("", REFERENCE_NAME):  # "Lysate", "cell lysate" are found
            reference = default_reference_lane(names) or typed
        if not reference:
            raise ValueError("name the lysate lane in 'reference (lysate) lane'")
        images = set(self.result.bands["image"].astype(str))
        enrichment = enrichment_table(
            self.result.bands,
            reference_lane=reference,
            ug_loaded=self._loads(names),
            ev_lanes=split_names(self._ev_lanes.value) or None,
            caveats=dict.fromkeys(images, self.result.panel_caveat) if self.result.panel_caveat else None,
            unmeasured=unmeasured_markers(self.result, next(iter(sorted(images)), "")),
        )
        summary = panel_summary(enrichment)
        ok, reasons = misev_verdict(summary)
        return enrichment, summary, ok, reasons

    def _loads(self, names: list[str]) -> dict[str, float] | None:
        """µg loaded per lane name, from the field (one amount per lane, in lane order); None when empty.

        Raises
        ------
        ValueError
            When the field holds no numbers or another count than the lanes.
        """
        typed = split_names(self._ug_loaded.value)
        if not typed:
            return None
        try:
            amounts = [float(v) for v in typed]
        except ValueError:
            raise ValueError(f"'µg loaded per lane' must hold numbers (µg), got {self._ug_loaded.value!r}") from None
        if len(amounts) != len(names):
            raise ValueError(
                f"'µg loaded per lane' holds {len(amounts)} amount(s) for {len(names)} lanes ({', '.join(names)}); "
                "give one per lane, in lane order"
            )
        return dict(zip(names, amounts, strict=True))

    def _verdict_text(self, result: Any) -> str:
        """The core's marker-panel verdict, or what is missing to compute it."""
        try:
            _, summary, ok, reasons = self.panel()
        except ValueError as error:
            return in_dock_words(f"no panel verdict: {error}")
        from exo_vision.blot.panel import pooled_lanes_line

        caveat = " (indicative only: an 8-bit or rescaled export)" if self.result.panel_caveat else ""
        lines = [f"MISEV panel: {'PASS' if ok else 'FAIL'}{caveat}", pooled_lanes_line(summary)]
        lines += [f"{row.marker}: {row.verdict} ({row.reason})" for row in summary.itertuples()]
        lines += [reason for reason in reasons if "missing" in reason]
        return "\n".join(lines)

    def lane_volumes(self) -> pd.DataFrame:
        """Total band volume per (strip, lane) of the last result (0 for a lane that reports no band)."""
        bands = self.result.bands
        sums = bands.groupby(["strip", "lane"])["volume"].sum()
        keys = [(lane.strip, lane.index) for lane in self.result.lanes]
        return pd.DataFrame(
            {
                "strip": [k[0] for k in keys],
                "lane": [k[1] for k in keys],
                "volume": [float(sums.get(k, 0.0)) for k in keys],
            }
        )

    # -- export -------------------------------------------------------------------------------
    def export(self, folder: str | Path | None = None) -> list[Path]:
        """Write the band table (CSV) and an annotated figure (PNG) of the last result into ``folder`` (the
        dock's export folder by default), created if it does not exist."""
        if self.result is None:
            show_warning("nothing to export yet: quantify a blot first")
            return []
        out = Path(folder if folder is not None else self._export_dir.value)
        if out.exists() and not out.is_dir():
            show_warning(f"export folder {out} is a file, not a folder; choose a folder")
            return []
        try:
            out.mkdir(parents=True, exist_ok=True)  # as `exo-vision blot --out` does
        except OSError as error:
            show_warning(f"export folder {out} cannot be created ({error.strerror or error}); choose another folder")
            return []
        written = self._write(out)
        show_info(f"blot results written to {out}")
        return written

    def _write(self, out: Path) -> list[Path]:
        """Write the files ``exo-vision blot`` writes: ``<stem>_bands.csv``, ``<stem>_annotated.png``,
        ``run.json`` and, when markers and the reference lane are known, ``panel.csv``, ``panel_summary.csv``,
        ``panel.png`` and ``panel.svg``."""
        image = image_data_from_layer(self.image_layer)
        stem = image.path.stem if image.path is not None else self.image_layer.name
        written = [out / f"{stem}_bands.csv", out / f"{stem}_annotated.png"]
        atomic_write_text(written[0], csv_text(self.result.bands))
        rgb = annotated_blot(image.data, self.result)

        def write_png(tmp: Path) -> None:
            if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                raise OSError(f"could not write {written[1]}")

        atomic_write(written[1], write_png)
        try:
            enrichment, summary, ok, reasons = self.panel()
        except ValueError as error:
            # an earlier export's panel files in this folder would read as this blot's verdict
            for name in PANEL_FILES:
                (out / name).unlink(missing_ok=True)
            show_info(f"panel files not written: {error}")
            written.append(self._write_run_json(out, image, stem, verdict=None, panel_problem=str(error)))
            return written
        caveats = [c for c in dict.fromkeys(enrichment["caveat"]) if c]
        verdict = {"pass": ok, "reasons": reasons, "caveats": caveats}
        written.append(self._write_run_json(out, image, stem, verdict=verdict))
        merged = enrichment.merge(summary[["marker", "verdict", "reason"]], on="marker", how="left")
        for name, table in (("panel.csv", merged), ("panel_summary.csv", summary)):
            atomic_write_text(out / name, csv_text(table))
            written.append(out / name)
        title = f"MISEV panel: {'PASS' if ok else 'FAIL'}" + (" (indicative: export)" if caveats else "")
        figure = panel_figure(enrichment, summary, title=title)
        for suffix in ("png", "svg"):
            target = out / f"panel.{suffix}"
            atomic_write(target, partial(_save_figure_to, figure, fmt=suffix))
            written.append(target)
        return written

    # -- the run record -----------------------------------------------------------------------
    def run_record(
        self, out: Path, image: ImageData, stem: str, *, verdict: dict[str, Any] | None, panel_problem: str = ""
    ) -> dict[str, Any]:
        """The ``run.json`` of an export: what ``exo-vision blot`` records for the same image and settings, its
        ``parameters`` key for key, and as ``command`` the command line that repeats the run.

        Parameters
        ----------
        out : Path
            The export folder (the command's ``--out``).
        image : ImageData
            The quantified image (its path is the command's input).
        stem : str
            The stem of the exported ``<stem>_bands.csv``.
        verdict : dict or None
            ``{"pass": bool, "reasons": [...]}`` of the panel written, None when none was.
        panel_problem : str
            Why no panel was written (a warning of the record), if so.
        """
        from exo_vision.blot.panel import default_reference_lane

        settings = self._settings.get(layer_id(self.image_layer)) or {}
        parameters = dict(settings.get("parameters") or {})
        names = parameters.get("lane_names")
        typed_reference = self._reference.value.strip()
        explicit_reference = typed_reference.casefold() not in ("", DEFAULT_REFERENCE)
        parameters["reference_lane"] = typed_reference if explicit_reference else default_reference_lane(names)
        try:
            loads = self._loads(names) if names else None
        except ValueError:
            loads = None  # the panel says why (panel_problem)
        parameters["ug_loaded"] = loads
        parameters["ev_lanes"] = split_names(self._ev_lanes.value) or None
        parameters = {key: parameters.get(key) for key in RUN_PARAMETER_KEYS}
        source = settings.get("path") or (str(image.path) if image.path is not None else None)
        shown = display_path(source) if source else self.image_layer.name
        bands = self.result.bands
        named = bands[bands["marker"].astype(str) != ""]
        markers = {str(int(k)): str(v) for k, v in named.groupby("strip")["marker"].first().items()}
        from exo_vision.blot.saturation import without_repeats

        warnings = list(dict.fromkeys([*without_repeats(image.warnings, self.result.warnings), *self.result.warnings]))
        if settings.get("lanes_edited"):
            warnings.append(
                "lanes were drawn or edited by hand in the napari blot dock: the command finds the lanes itself "
                "and may place them otherwise"
            )
        if panel_problem:
            warnings.append(f"panel files not written: {panel_problem}")
        if names and parameters.get("marker") and parameters.get("reference_lane") is None:
            warnings.append(
                "the command refuses lane names and markers without a lysate lane, as `exo-vision blot` does: add "
                "--reference-lane NAME to it (the band table does not depend on it)"
            )
        return {
            "exo_vision_version": __version__,
            "command": self._command(out, shown, parameters, settings, explicit_reference),
            "produced_by": PRODUCER,
            "lanes_edited_in_dock": bool(settings.get("lanes_edited")),
            "parameters": parameters,
            "software": software_versions(),
            "environment_lock": lock_status(),
            "machine": machine_description(),
            "inputs": [shown],
            "images": [
                {
                    "input": shown,
                    "stem": stem,
                    "status": "done",
                    "input_sha256": sha256_file(source) if source and Path(source).is_file() else None,
                    "markers": markers,
                }
            ],
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "working_directory": display_path(str(Path.cwd())),
            "panel_file": None,
            "warnings": {display_path(Path(shown).name): warnings} if warnings else {},
            "errors": [],
            "panel_verdict": verdict,
        }

    def _command(
        self, out: Path, source: str, parameters: dict[str, Any], settings: dict[str, Any], explicit_reference: bool
    ) -> list[str]:
        """The ``exo-vision blot`` command line that quantifies ``source`` with the dock's settings (each option
        only where it differs from the command's default)."""
        p, method = parameters, parameters.get("blot_parameters") or {}
        default = DEFAULT_BLOT_PARAMETERS
        words = ["exo-vision", "blot", source, "--out", display_path(str(out))]
        optional = [
            ("--lanes", p.get("lanes")),
            ("--lane-names", ",".join(p["lane_names"]) if p.get("lane_names") else None),
            ("--reference-lane", self._reference.value.strip() if explicit_reference else None),
            ("--ug-loaded", ",".join(split_names(self._ug_loaded.value)) if p.get("ug_loaded") else None),
            ("--ev-lanes", ",".join(p["ev_lanes"]) if p.get("ev_lanes") else None),
            ("--marker", p.get("marker")),
            ("--ladder-lane", p.get("ladder_lane")),  # as quantified, not as the field reads at export
            ("--ladder-kda", p.get("ladder_kda")),
            ("--background", None if p.get("background") == default.background else p.get("background")),
            ("--rolling-ball-radius-px", _unless(p.get("rolling_ball_radius_px"), default.rolling_ball_radius_px)),
            ("--central-fraction", _unless(p.get("central_fraction"), default.central_fraction)),
            ("--min-relative-band", _unless(method.get("min_relative_prominence"), default.min_relative_prominence)),
            ("--frame", p.get("frame")),
            ("--channel", p.get("channel")),
            ("--polarity", None if p.get("polarity") == Polarity.AUTO.value else p.get("polarity")),
        ]
        for option, value in optional:
            if value is not None:
                words += [option, str(value)]
        flags = [
            ("--keep-writing", method.get("remove_writing") is False),
            ("--keep-spots", method.get("band_lane_wide_fraction") == KEEP_SPOTS),
            ("--no-straighten", settings.get("straighten") is False),
        ]
        return words + [flag for flag, on in flags if on]

    def _write_run_json(
        self, out: Path, image: ImageData, stem: str, *, verdict: dict[str, Any] | None, panel_problem: str = ""
    ) -> Path:
        """Write :meth:`run_record` to ``out/run.json``."""
        record = self.run_record(out, image, stem, verdict=verdict, panel_problem=panel_problem)
        target = out / "run.json"
        atomic_write_text(target, json.dumps(printable(record), indent=2, default=str) + "\n")
        return target


def _is_colour(layer: Any) -> bool:
    """Whether an image layer shows a colour image: napari RGB data, one the exo_vision reader made gray from a
    colour file, or a channel the dock took from one (whose other channels can be taken)."""
    meta = layer.metadata or {}
    data = layer.data
    rgb = bool(getattr(layer, "rgb", False)) and data.ndim == 3 and data.shape[-1] in (3, 4)
    return rgb or CHANNEL_KEY in meta or (meta.get("file_metadata") or {}).get("converted_from") == "colour"


def _unless(value: Any, default: Any) -> Any:
    """``value``, or None when it equals ``default``."""
    return None if value is None or value == default else value


def _save_figure_to(figure: Any, path: Path, *, fmt: str) -> None:
    """Save ``figure`` to ``path`` in format ``fmt`` (for :func:`atomic_write`)."""
    save_figure(figure, str(path), fmt=fmt)
