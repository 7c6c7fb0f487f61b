"""Vesicle segmentation dock: parameters in nm, Run / Cancel, progress; one Labels layer
per image whose ``features`` are the per-vesicle table, coloured by morphology."""

from __future__ import annotations

import functools
import gc
import logging
import threading
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSlider, FloatSpinBox, ProgressBar, PushButton
from napari.qt.threading import create_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer
from qtpy.QtCore import QObject, QTimer, Signal

from exo_vision.plugins._layers import (
    active_image_layer,
    colour_micrograph_problem,
    enum_choices,
    find_derived,
    image_data_from_layer,
    stale_calibration,
)
from exo_vision.plugins._subprocess import Cancelled, analyse_in_subprocess
from exo_vision.plugins._text import result_text
from exo_vision.plugins._vesicles import (
    CUT_BY_MISSING_KEY,
    ROLE,
    add_vesicle_layer,
    excludes_border,
    follow_scale,
    layer_cut_by_missing,
    layer_statistics,
    morphology_colormap,
    new_vesicle_layer,
    statistics_text,
    vesicle_table,
    watch_split_frames,
)
from exo_vision.plugins._workers import release_when_finished
from exo_vision.segmentation.api import METHODS, available_methods
from exo_vision.segmentation.learned.coarse_outlines import limit_words
from exo_vision.tem_analysis import cut_by_missing, rejected_by_reason, rejected_text
from exo_vision.tem_parameters import TemParameters

logger = logging.getLogger(__name__)

#: Delay (ms) between the display steps: long enough for Qt to handle input and timers in between.
SHOW_DELAY_MS = 10


def _layer_options(result: Any, colormap: Any, parameters: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of a vesicle layer for an analysis ``result`` (new or replaced alike)."""
    return {
        "polarity": getattr(result, "polarity", None) or parameters.get("polarity"),
        "extra_metadata": {
            "parameters": dict(parameters),
            "segmenter": getattr(result, "segmenter", None),
            "warnings": list(getattr(result, "warnings", None) or []),
            "rejected_by_reason": rejected_by_reason(getattr(result, "rejected", None)),
            "rejected": getattr(result, "rejected", None),
            CUT_BY_MISSING_KEY: cut_by_missing(getattr(result, "warnings", None)),
        },
        "colormap": colormap,
    }


class Polarity(Enum):
    """Stain polarity: negative stain shows vesicles bright on a dark rim, or dark on bright."""

    AUTO = "auto"
    DARK = "dark"
    BRIGHT = "bright"


@functools.cache
def warm_up_label_visuals() -> None:
    """Fill vispy's line-dash pattern cache once per process, from a worker thread.

    napari's first Labels layer creates line visuals (its polygon tool overlay) whose dash
    atlas computes 13 patterns in Python (~100-250 ms) the first time; done here while the
    analysis runs, the GUI thread finds them cached.
    """
    from vispy.visuals.line.dash_atlas import DashAtlas

    DashAtlas()


class SegmentationSignals(QObject):
    """Signals of the segmentation dock.

    ``progressed(done, total)`` carries progress from the worker thread to the GUI thread
    (queued); ``shown(layer)`` fires once a result is on screen (the Labels layer, with its
    features and colours).
    """

    progressed = Signal(int, int)
    shown = Signal(object)


def run_analysis(
    image: Any, parameters: dict[str, Any], progress: Any = None, *, in_subprocess: bool = False, cancelled: Any = None
) -> Any:
    """Run :func:`exo_vision.tem_analysis.analyse_micrograph` on an :class:`ImageData`.

    Parameters
    ----------
    image : ImageData
        Calibrated micrograph.
    parameters : dict
        ``min_diameter_nm``, ``max_diameter_nm``, ``sensitivity``, ``polarity``
        (``"auto"``, ``"dark"`` or ``"bright"``).
    progress : callable(int, int), optional
        Called with (steps done, steps total).
    in_subprocess : bool
        Run in a child process (GUI workers: keeps the event loop free of the GIL).
    cancelled : callable() -> bool, optional
        With ``in_subprocess``: polled, and the child is stopped when it returns True.

    Raises
    ------
    ValueError
        When the image is not calibrated (sizes in nm need nm/px).
    """
    from exo_vision.tem_analysis import analyse_micrograph

    if image.pixel_size_nm is None:
        name = image.path.name if image.path is not None else "the image"
        raise ValueError(
            f"{name} has no pixel size: calibrate it first with the Calibration widget "
            "(detect the scale bar, draw a line over it, or type nm/px)."
        )
    if in_subprocess:
        return analyse_in_subprocess(image, parameters, progress=progress, cancelled=cancelled)
    return analyse_micrograph(image, progress=progress, **parameters)


class SegmentationWidget(Container):
    """Collects nm parameters, runs the core in a thread worker, shows one vesicle Labels layer."""

    def __init__(self, napari_viewer: Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = napari_viewer
        watch_split_frames(napari_viewer)  # frames split from a stack keep its nm units
        # the analysis defaults (TemParameters), so the dock and `exo-vision tem` report the same vesicles
        defaults = TemParameters()
        self._method = ComboBox(
            label="method",
            choices=available_methods(),
            value=defaults.method,
            tooltip="\n".join(f"{m}: {METHODS[m].description}" for m in available_methods()),
        )
        self._model = FileEdit(
            label="model (.onnx)",
            mode="r",
            filter="*.onnx",
            value="",
            tooltip="empty: the shipped model; or a model made by fine-tuning (exo-vision train) or with an opt-in "
            "setting turned on (exo-vision model, e.g. --join-cups to keep folded cups whole, --subpixel-membrane for "
            f"sizes from micrographs coarser than {limit_words()}: there the default's outlines of generated vesicles "
            "under 50 nm came out 12-19 % small, the variant's 5-11 %; not a correction factor, real patches did not "
            "show it)",
        )
        self._method.changed.connect(self._on_method)
        self._min_d = FloatSpinBox(
            label="min diameter (nm)", value=defaults.min_diameter_nm, min=1.0, max=5000.0, step=5.0
        )
        self._max_d = FloatSpinBox(
            label="max diameter (nm)", value=defaults.max_diameter_nm, min=2.0, max=20000.0, step=10.0
        )
        self._sensitivity = FloatSlider(label="sensitivity", value=0.5, min=0.0, max=1.0, step=0.05)
        self._polarity = ComboBox(label="vesicles appear", choices=enum_choices(Polarity), value=Polarity.AUTO)
        self._include_border = CheckBox(
            label="count vesicles cut by the image edge",
            value=not defaults.exclude_border,
            tooltip="as the command line's --include-border: vesicles cut by the image edge are counted in the "
            "statistics and the histogram (their diameters are truncated). Off (the default): they are outlined, "
            "drawn faded and left out, and the table flags them in touches_border",
        )
        self._run = PushButton(text="Run")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._bar = ProgressBar(label="progress", value=0, min=0, max=1, visible=True)
        # napari's activity progress animates a spinner in the status bar for as long as it is open;
        # under software OpenGL (Xvfb, remote desktops) that repaint costs most of the GUI thread.
        self._activity = CheckBox(label="also show in napari's activity bar", value=True)
        self._summary = result_text("result", "")
        self.extend(
            [
                self._method,
                self._model,
                self._min_d,
                self._max_d,
                self._sensitivity,
                self._polarity,
                self._include_border,
                self._run,
                self._cancel,
                self._bar,
                self._activity,
                self._summary,
            ]
        )
        self.worker: Any = None
        self.labels_layer: Any = None
        self._watched: Any = None
        self._run_text = ("", "")  # (method prefix, statistics text) of the last run shown
        self._left_out = ""  # the line naming what the last run left out, or ""
        #: Statistics of the last run shown (``size_statistics`` with the run's parameters), or None.
        self.statistics: dict[str, Any] | None = None
        self._cancel_event = threading.Event()
        #: Qt signals: ``progressed`` and ``shown`` (see :class:`SegmentationSignals`).
        self.signals = SegmentationSignals()
        self.signals.progressed.connect(self._on_progress)
        self._pbar: Any = None
        self._run.changed.connect(lambda: self.run())
        self._cancel.changed.connect(self.cancel)
        # napari closed (or the dock removed) during a run: the run stops, and its callbacks find no widgets
        self._gone = False
        self.native.destroyed.connect(self._dock_gone)

    def parameters(self) -> dict[str, Any]:
        """The core's keyword arguments from the widget values (all lengths in nm); ``exclude_border`` is
        false when vesicles cut by the image edge are counted (the command line's ``--include-border``)."""
        if self._max_d.value <= self._min_d.value:
            raise ValueError(
                f"max diameter ({self._max_d.value} nm) must exceed min diameter ({self._min_d.value} nm); "
                "widen the range."
            )
        polarity = self._polarity.value
        return {
            "method": str(self._method.value),
            "model": self.model_path(),
            "min_diameter_nm": float(self._min_d.value),
            "max_diameter_nm": float(self._max_d.value),
            "sensitivity": float(self._sensitivity.value),
            "polarity": polarity.value,
            "exclude_border": not self._include_border.value,
        }

    def model_path(self) -> str | None:
        """The chosen model file, or None for the shipped model (or a method without a model)."""
        if not METHODS[str(self._method.value)].uses_model:
            return None
        value = str(self._model.value or "").strip()
        # an empty file field reads as the current folder
        return None if value in ("", ".") or Path(value).is_dir() else value

    def _on_method(self, value: Any = None) -> None:
        self._model.visible = METHODS[str(self._method.value)].uses_model

    def set_parameters(
        self,
        *,
        method: str | None = None,
        model: str | None = None,
        min_diameter_nm: Annotated[float, "nm"] | None = None,
        max_diameter_nm: Annotated[float, "nm"] | None = None,
        sensitivity: float | None = None,
        include_border: bool | None = None,
    ) -> None:
        """Set widget values programmatically (scripts, tests); ``include_border`` ticks "count vesicles cut by
        the image edge" (the command line's ``--include-border``)."""
        if method is not None:
            self._method.value = method
        if model is not None:
            self._model.value = model
        if min_diameter_nm is not None:
            self._min_d.value = min_diameter_nm
        if max_diameter_nm is not None:
            self._max_d.value = max_diameter_nm
        if sensitivity is not None:
            self._sensitivity.value = sensitivity
        if include_border is not None:
            self._include_border.value = include_border

    def run(self, *, sync: bool = False) -> Any:
        """Segment the active image; in a thread worker unless ``sync`` (then returns the layer)."""
        image_layer = active_image_layer(self._viewer)
        if image_layer is None:
            show_warning("open a micrograph first (File > Open, or File > Open Sample > exo_vision)")
            return None
        if problem := colour_micrograph_problem(image_layer):
            show_warning(problem)
            return None
        try:
            image = image_data_from_layer(image_layer)
            parameters = self.parameters()
        except ValueError as error:
            show_warning(str(error))
            return None
        self._cancel_event.clear()

        last = {"time": 0.0, "done": -1}

        def report(done: int, total: int) -> None:
            # The core may report thousands of steps; repaint the bars at most 10 times a second.
            now = time.monotonic()
            if done >= total or now - last["time"] >= 0.1:
                last["time"] = now
                self.signals.progressed.emit(int(done), int(total))

        def work() -> Any:
            try:
                result = run_analysis(
                    image, parameters, report, in_subprocess=True, cancelled=self._cancel_event.is_set
                )
            except Cancelled:
                return None
            # Off the GUI thread: vispy's first-use cache, and the layer's colours (labels came back compacted).
            warm_up_label_visuals()
            return result, morphology_colormap(result.table, exclude_border=parameters["exclude_border"])

        if sync:
            try:
                result = run_analysis(image, parameters, None)
            except ValueError as error:
                show_warning(str(error))
                return None
            return self._show(image_layer, (result, None), parameters)

        self._run.enabled = False
        self._cancel.enabled = True
        self._bar.value = 0
        if self._activity.value:
            self._pbar = napari_progress(total=1, desc=f"Segmenting {image_layer.name}")
        # Errors are shown by _on_error; without _ignore_errors the worker would also re-raise them
        # in the GUI thread (a traceback dialog in napari, an abort in a plain Qt script).
        self.worker = create_worker(work, _ignore_errors=True)
        self.worker.returned.connect(lambda outcome: self._show_soon(image_layer, outcome, parameters))
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        release_when_finished(self.worker).start()
        return self.worker

    def cancel(self, _value: Any = None) -> None:
        """Stop the running segmentation (its child process is terminated within 50 ms)."""
        self._cancel_event.set()
        self._summary.value = "cancelling..."

    # -- GUI-thread callbacks --------------------------------------------------------------------
    def _dock_gone(self, _obj: Any = None) -> None:
        self._gone = True
        self._cancel_event.set()

    def _on_progress(self, done: int, total: int) -> None:
        if self._gone:
            return
        self._bar.max = max(total, 1)
        self._bar.value = min(done, max(total, 1))
        if self._pbar is not None:
            if self._pbar.total != total:
                self._pbar.total = total
            self._pbar.n = done
            self._pbar.refresh()

    def _on_error(self, error: Exception) -> None:
        if self._gone:
            return
        show_warning(f"vesicle segmentation failed: {error}")

    def _on_finished(self) -> None:
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        if self._gone:
            return
        self._run.enabled = True
        self._cancel.enabled = False

    def _show_soon(self, image_layer: Any, outcome: Any, parameters: dict[str, Any]) -> None:
        """Show a worker's result over several event-loop turns, none of which freezes the GUI long.

        Measured with ``benchmarks/gui_responsiveness.py`` (napari 0.9, Xvfb): creating a Labels
        layer costs the GUI thread ~150-250 ms of CPU whatever the size of its data (its visual,
        the paint/polygon tool overlays, the layer controls); the first one also allocates enough
        objects to set off a full garbage collection (~150 ms) in the middle of it; and updating
        the dock's progress bar repaints the window at once, canvas included. Replacing the data
        of an existing layer costs ~60-80 ms. So a new layer is shown in steps, one per turn:
        the dock's summary, a garbage collection, the layer object made (hidden), the layer
        added to the viewer, the layer shown (its texture uploaded in that repaint).
        """
        if self._gone:
            return
        if outcome is not None and (stale := stale_calibration(image_layer, outcome[0])) is not None:
            self._summary.value = "result dropped: the image was recalibrated during the run"
            show_warning(f"{stale}; that result is dropped: click Run again")
            return
        if outcome is None or find_derived(self._viewer, image_layer, ROLE) is not None:
            self._show(image_layer, outcome, parameters)  # cancelled, or new data for the existing layer
            return
        result, colormap = outcome
        made: dict[str, Any] = {}

        def make_layer() -> None:
            made["layer"] = new_vesicle_layer(
                image_layer, result.labels, result.table, **_layer_options(result, colormap, parameters), visible=False
            )

        def add_layer() -> None:
            if image_layer not in self._viewer.layers:
                self.labels_layer = None
            elif find_derived(self._viewer, image_layer, ROLE) is not None:  # made meanwhile: replace its data
                self._add_layer(image_layer, result, colormap, parameters, visible=False)
            else:
                self.labels_layer = self._viewer.add_layer(made["layer"])
                follow_scale(self._viewer, image_layer)
            self._watch(self.labels_layer)

        _in_turns([lambda: self._show_summary(result), gc.collect, make_layer, add_layer, self._reveal])

    def _show(self, image_layer: Any, outcome: Any, parameters: dict[str, Any]) -> Any:
        """Show a result in this event-loop turn (``None``: the run was cancelled)."""
        if outcome is None:
            self._summary.value = "cancelled"
            show_info("vesicle segmentation cancelled")
            return None
        result, colormap = outcome
        layer = self._add_layer(image_layer, result, colormap, parameters, visible=True)
        self._show_summary(result)
        if layer is not None:
            self.signals.shown.emit(layer)
        return layer

    def _add_layer(
        self, image_layer: Any, result: Any, colormap: Any, parameters: dict[str, Any], *, visible: bool
    ) -> Any:
        if image_layer not in self._viewer.layers:
            self.labels_layer = None
            return None
        self.labels_layer = add_vesicle_layer(
            self._viewer,
            image_layer,
            result.labels,
            result.table,
            **_layer_options(result, colormap, parameters),
            visible=visible,
        )
        self._watch(self.labels_layer)
        return self.labels_layer

    def _show_summary(self, result: Any) -> None:
        segmenter = getattr(result, "segmenter", {}) or {}
        model = segmenter.get("model") or {}
        method = segmenter.get("method", "")
        if model:
            method += f" ({model.get('name')} {model.get('version')})"
        self.statistics = result.statistics
        exclude_border = bool((getattr(result, "parameters", None) or {}).get("exclude_border", True))
        self._run_text = (
            f"{method}: " if method else "",
            statistics_text(
                result.statistics,
                exclude_border=exclude_border,
                missing=cut_by_missing(getattr(result, "warnings", None)),
            ),
        )
        left_out = rejected_text(rejected_by_reason(getattr(result, "rejected", None)))
        self._left_out = f"\n{left_out}" if left_out else ""
        self._summary.value = "".join(self._run_text) + self._left_out
        for message in getattr(result, "warnings", None) or []:
            show_warning(message)
        self._bar.max = 1
        self._bar.value = 1

    def _watch(self, layer: Any) -> None:
        """Follow the table of ``layer`` (the last run's vesicles), so that the summary says what the
        layer holds after a curation edit or a recalibration rather than what the run found."""
        if self._watched is not None:
            try:
                self._watched.events.features.disconnect(self._on_table)
            except (TypeError, ValueError, RuntimeError):  # already gone with its layer
                pass
        self._watched = layer
        if layer is not None:
            layer.events.features.connect(self._on_table)

    def _on_table(self, _event: Any = None) -> None:
        layer = self._watched
        if layer is None or layer not in self._viewer.layers:
            return
        table = vesicle_table(layer)
        if "equivalent_diameter_nm" not in table.columns:
            return
        prefix, at_run = self._run_text
        # with the border rule the layer was made with, as its run's statistics
        now = statistics_text(
            layer_statistics(layer, n_boot=1),
            exclude_border=excludes_border(layer.metadata),
            missing=layer_cut_by_missing(layer),
        )
        if now == at_run:
            self._summary.value = prefix + now + self._left_out
            return
        run_n = at_run.split(";")[0] if at_run.startswith("n = ") else at_run.split("\n")[0]
        self._summary.value = (
            f"{prefix}{now}\n(the table now, after edits or a recalibration; the run gave {run_n})" + self._left_out
        )

    def _reveal(self) -> None:
        layer = self.labels_layer
        if layer is None or layer not in self._viewer.layers:
            return
        layer.visible = True
        self.signals.shown.emit(layer)


def _in_turns(steps: list[Callable[[], Any]]) -> None:
    """Run ``steps`` one per event-loop turn, :data:`SHOW_DELAY_MS` apart, so that Qt handles
    input, timers and repaints between them (zero-delay timers would run before those)."""
    if not steps:
        return
    first, rest = steps[0], steps[1:]

    def run() -> None:
        first()
        _in_turns(rest)

    QTimer.singleShot(SHOW_DELAY_MS, run)
