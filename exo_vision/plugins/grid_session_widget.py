"""Grid session dock, the daily workflow: one folder of micrographs (one grid), step
previous / next, each image segmented on arrival (the next one pre-computed in the
background), curated, and saved on leaving in the files the CLI writes; a running
grid histogram and summary; reopening the folder resumes where the user left off.

The grid's state, its files and resuming are :class:`exo_vision.session.grid.GridSession`
(GUI-free); this dock holds the widgets, layers and workers and calls it."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSlider, FloatSpinBox, PushButton
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer
from qtpy.QtCore import QEvent, QObject

from exo_vision.batch.config import TemBatchConfig
from exo_vision.measure.size_stats import size_statistics
from exo_vision.measure.vesicles import carry_confidence, confidence_reference
from exo_vision.plugins._layers import (
    draw_now,
    enum_choices,
    find_derived,
    image_data_from_layer,
    image_layer_data,
    stale_calibration,
)
from exo_vision.plugins._learning import LearningPanel
from exo_vision.plugins._text import result_text
from exo_vision.plugins._vesicles import (
    ROLE,
    add_vesicle_layer,
    apply_overrides,
    log_edit,
    set_exclude_border,
    statistics_text,
    vesicle_table,
)
from exo_vision.plugins._workers import release_when_finished
from exo_vision.plugins.histogram_widget import HistogramPlot
from exo_vision.plugins.segmentation_widget import Polarity, run_analysis
from exo_vision.segmentation.api import METHODS, available_methods
from exo_vision.segmentation.learned.coarse_outlines import limit_words
from exo_vision.session.curation import CHECKED_ACTION, CuratedResult, curation_counts
from exo_vision.session.grid import GridSession, GridSettings
from exo_vision.tem_analysis import cut_where, measure_micrograph_vesicles, rejected_by_reason
from exo_vision.tem_parameters import TemParameters

logger = logging.getLogger(__name__)

#: Keys bound on the viewer while a session is open.
NEXT_KEY = "PageDown"
PREVIOUS_KEY = "PageUp"


class _VisibilityWatcher(QObject):
    """Calls ``shown()`` / ``hidden()`` when ``widget`` is shown or hidden (its dock closed or removed)."""

    def __init__(self, widget: Any, *, shown: Callable[[], None], hidden: Callable[[], None]) -> None:
        super().__init__(widget)
        self._shown = shown
        self._hidden = hidden
        widget.installEventFilter(self)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Show:
            self._shown()
        elif event.type() == QEvent.Type.Hide:
            self._hidden()
        return False


class _CloseWatcher(QObject):
    """Calls ``closing()`` when ``window`` is about to close (before its layers go).

    ``closing`` is held weakly: the watcher lives with the window, and held strongly it kept every closed
    session dock (its widgets, figure and learning panel) alive for as long as napari was open.
    """

    def __init__(self, window: Any, *, closing: Callable[[], None]) -> None:
        super().__init__(window)
        self._closing = weakref.WeakMethod(closing)  # type: ignore[arg-type]
        self._window = window
        window.installEventFilter(self)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Close and (closing := self._closing()) is not None:
            closing()
        return False

    def stop(self) -> None:
        """Stop watching (the dock is gone)."""
        try:
            self._window.removeEventFilter(self)
            self.deleteLater()
        except RuntimeError:  # the window went first
            pass


#: What a user does about a micrograph without a pixel size, in this dock's words.
CALIBRATE_FIX = "calibrate it in the Calibration dock: the session segments it then, and saves it when you move on"

#: What a user does about settings that cannot segment, in this dock's words.
MODEL_FIX = "choose another model file, or empty the 'model (.onnx)' field for the shipped model"


class GridSessionWidget(Container):
    """Step through one grid's micrographs, segment, curate, save, and see the grid's histogram."""

    def __init__(self, napari_viewer: Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._input = FileEdit(label="micrographs folder", mode="d")
        self._output = FileEdit(label="output folder", mode="d")
        # The CLI's defaults: the session writes the files `exo-vision tem` writes, with the same parameters.
        cli = TemParameters()  # the analysis defaults
        self._method = ComboBox(
            label="method",
            choices=available_methods(),
            value=cli.method,
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
        self._method.changed.connect(
            lambda _v=None: setattr(self._model, "visible", METHODS[self._method.value].uses_model)
        )
        self._min_d = FloatSpinBox(label="min diameter (nm)", value=cli.min_diameter_nm, min=1.0, max=5000.0, step=5.0)
        self._max_d = FloatSpinBox(
            label="max diameter (nm)", value=cli.max_diameter_nm, min=2.0, max=20000.0, step=10.0
        )
        self._sensitivity = FloatSlider(label="sensitivity", value=cli.sensitivity, min=0.0, max=1.0, step=0.05)
        self._polarity = ComboBox(
            label="vesicles appear",
            choices=enum_choices(Polarity),
            value=Polarity(cli.polarity),
            tooltip="auto: read from each micrograph; bright or dark: as the command line's --polarity",
        )
        self._include_border = CheckBox(
            label="count vesicles cut by the image edge",
            value=not cli.exclude_border,
            tooltip="as the command line's --include-border: vesicles cut by the image edge are counted in the "
            "statistics and the histogram, and the saved results record it as exo-vision tem does. Off (the "
            "default): they are outlined, drawn faded and left out. A change applies to the micrograph shown, "
            "the grid summary and the micrographs not yet saved",
        )
        self._open = PushButton(text="Open grid (resumes a saved session)")
        self._previous = PushButton(text=f"< Previous ({PREVIOUS_KEY})", enabled=False)
        self._next = PushButton(text=f"Next ({NEXT_KEY}) >", enabled=False)
        self._save = PushButton(text="Save this micrograph now", enabled=False)
        self._checked = PushButton(
            text="Outlines checked (learn from them as they are)",
            enabled=False,
            tooltip="the micrograph's outlines are right without an edit: Learn from curated micrographs takes it "
            "(it takes only micrographs you edited or marked so; the others hold the model's own outlines)",
        )
        self._position = result_text("micrograph", "no grid open")
        self._summary = result_text("grid so far", "")
        self.extend(
            [
                self._input,
                self._output,
                self._method,
                self._model,
                self._min_d,
                self._max_d,
                self._sensitivity,
                self._polarity,
                self._include_border,
                self._open,
                self._previous,
                self._next,
                self._save,
                self._checked,
                self._position,
                self._summary,
            ]
        )
        self.plot = HistogramPlot()
        self.native.layout().addWidget(self.plot.canvas)
        self.learning = LearningPanel(self)
        self.native.layout().addWidget(self.learning.native)

        #: Run segmentation in the GUI thread (tests, scripts) instead of thread workers.
        self.synchronous = False
        #: The open grid (files, position, saved results, settings); None before one is opened.
        self.core: GridSession | None = None
        self.statistics: dict[str, Any] | None = None
        self.image_layer: Any = None
        self.labels_layer: Any = None
        self.worker: Any = None
        self.precompute_worker: Any = None
        #: Re-saves the micrographs saved before when the edge rule changes (:meth:`_reapply_border_rule`).
        self.border_worker: Any = None
        #: The micrograph shown without a pixel size, segmented as soon as it is calibrated; None otherwise.
        self.awaiting_calibration: Path | None = None

        for setting in (
            self._method,
            self._model,
            self._min_d,
            self._max_d,
            self._sensitivity,
            self._polarity,
            self._include_border,
        ):
            setting.changed.connect(self._sync_settings)
        self._open.changed.connect(lambda: self.open_grid())
        self._previous.changed.connect(lambda: self.previous())
        self._next.changed.connect(lambda: self.next())
        self._save.changed.connect(lambda: self.save_current())
        self._checked.changed.connect(lambda: self.mark_checked())
        self._keys = {NEXT_KEY: lambda _viewer: self.next(), PREVIOUS_KEY: lambda _viewer: self.previous()}
        self.bind_keys()
        # PageUp/PageDown belong to the session only while its dock is on screen: released when
        # the dock is closed, removed or hidden (e.g. tabbed away), taken back when shown again.
        self._visibility = _VisibilityWatcher(self.native, shown=self._shown, hidden=self.unbind_keys)
        self.native.destroyed.connect(self.unbind_keys)
        self._close_watcher: _CloseWatcher | None = None
        self._input.changed.connect(self._folder_changed)
        self._output.changed.connect(self._folder_changed)

    def _shown(self) -> None:
        """The dock is on screen: take the keys, and watch its window so that closing napari saves first."""
        self.bind_keys()
        window = self.native.window()
        if self._close_watcher is None and window is not None and window is not self.native:
            # closing napari saves the micrograph shown, as leaving it does (its edits were lost before)
            self._close_watcher = _CloseWatcher(window, closing=self._viewer_closing)

    def _viewer_closing(self) -> None:
        """Save the micrograph shown before the viewer and its layers go."""
        try:
            self.save_current()
        except (ValueError, OSError, RuntimeError) as error:  # a closing window must still close
            logger.warning("could not save the current micrograph on closing: %s", error)

    def _folder_changed(self, _value: Any = None) -> None:
        """A folder typed while a grid is open only takes effect on Open grid: say so."""
        core = self.core
        if core is None:
            return
        typed = (Path(str(self._input.value)), Path(str(self._output.value)))
        if typed != (core.input_dir, core.output_dir):
            show_info(
                f"still curating {core.input_dir.name} into {core.output_dir}; click Open grid to switch to the "
                "folders typed (the micrograph shown is saved first)"
            )

    @property
    def keys_bound(self) -> bool:
        """Whether PageUp/PageDown currently step this session."""
        from app_model.types import KeyBinding

        return all(self._viewer.keymap.get(KeyBinding.from_str(key)) is func for key, func in self._keys.items())

    def bind_keys(self) -> None:
        """Bind PageDown (next) and PageUp (previous) on the viewer to this session."""
        for key, func in self._keys.items():
            self._viewer.bind_key(key, func, overwrite=True)

    def unbind_keys(self, _obj: Any = None) -> None:
        """Release PageUp/PageDown (unless another session took them since), and stop watching the window."""
        from app_model.types import KeyBinding

        if self._close_watcher is not None and _obj is not None:  # the dock's widget is destroyed
            self._close_watcher.stop()
            self._close_watcher = None
        for key, func in self._keys.items():
            if self._viewer.keymap.get(KeyBinding.from_str(key)) is func:
                self._viewer.bind_key(key, None)

    # -- the open grid (state lives in the GUI-free GridSession) ------------------------------------
    @property
    def files(self) -> list[Path]:
        """Micrographs of the open grid (empty before one is opened)."""
        return self.core.files if self.core is not None else []

    @property
    def index(self) -> int:
        """Position of the micrograph shown; -1 when none is."""
        return self.core.index if self.core is not None else -1

    @property
    def output_dir(self) -> Path | None:
        """Output folder of the open grid, or None."""
        return self.core.output_dir if self.core is not None else None

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Vesicle tables of the saved micrographs, by stem."""
        return self.core.tables if self.core is not None else {}

    @property
    def precomputed(self) -> dict[Path, Any]:
        """Results computed ahead for micrographs not yet shown."""
        return self.core.precomputed if self.core is not None else {}

    @precomputed.setter
    def precomputed(self, value: dict[Path, Any]) -> None:
        if self.core is not None:
            self.core.precomputed = value

    # -- settings -----------------------------------------------------------------------------------
    def settings(self) -> GridSettings:
        """The settings the widgets show."""
        return GridSettings(
            method=str(self._method.value),
            model=str(self._model.value or ""),
            min_diameter_nm=float(self._min_d.value),
            max_diameter_nm=float(self._max_d.value),
            sensitivity=float(self._sensitivity.value),
            polarity=self._polarity.value.value,
            exclude_border=not self._include_border.value,
        )

    def _sync_settings(self, _value: Any = None) -> None:
        core = self.core
        if core is None or self.settings() == core.settings:
            return
        border_changed = self.settings().exclude_border != core.settings.exclude_border
        core.settings = self.settings()
        self.precomputed = {}  # made with the old settings
        if border_changed:
            # the labels do not depend on it: the micrograph shown is counted the new way, and so is every
            # micrograph saved before (their markers, overlays and statistics re-written), so the grid is
            # counted one way, as `exo-vision tem` counts a run
            layer = find_derived(self._viewer, self.image_layer, ROLE) if self.image_layer is not None else None
            if layer is not None:
                set_exclude_border(layer, core.settings.exclude_border)
            self._reapply_border_rule(core)
        else:
            self.update_summary()

    def _reapply_border_rule(self, core: GridSession) -> None:
        """Re-save the micrographs saved before with the session's edge rule, in a worker unless synchronous.

        One read, overlay and write per saved micrograph: a long grid takes a while, so the check box waits
        (disabled) until they are written, and the GUI stays responsive.
        """
        rule = "left out" if core.settings.exclude_border else "counted"

        def done(outcome: tuple[list[Path], list[str]]) -> None:
            resaved, problems = outcome
            self._include_border.enabled = True
            for problem in problems:
                show_warning(problem)
            if resaved:
                show_info(
                    f"vesicles {cut_where(missing=core.cut_by_missing())} are now {rule} in the {len(resaved)} "
                    "micrograph(s) saved before too (their done markers, overlays and statistics were written again)"
                )
            self.update_summary()

        def failed(error: BaseException) -> None:
            self._include_border.enabled = True
            show_warning(f"the micrographs saved before keep their edge rule: re-saving them failed ({error})")
            self.update_summary()

        if self.synchronous:
            done(core.apply_border_rule(skip=core.current))
            return
        self._include_border.enabled = False
        self.border_worker = create_worker(
            core.apply_border_rule,
            skip=core.current,
            _progress={"desc": f"Re-saving the saved micrographs with edge vesicles {rule}"},
            _ignore_errors=True,
        )
        self.border_worker.returned.connect(done)
        self.border_worker.errored.connect(failed)
        release_when_finished(self.border_worker).start()

    def _show_settings(self, settings: GridSettings) -> None:
        self.set_method(settings.method, settings.model)
        self._min_d.value = settings.min_diameter_nm
        self._max_d.value = settings.max_diameter_nm
        self._sensitivity.value = settings.sensitivity
        self._polarity.value = Polarity(settings.polarity)
        self._include_border.value = not settings.exclude_border

    def config(self, **overrides: Any) -> TemBatchConfig:
        """The ``exo-vision tem`` configuration matching the session's settings (plus ``overrides``)."""
        return self.settings().config(**overrides)

    def model_path(self) -> str | None:
        """The chosen model file, or None for the shipped model (or a method without a model)."""
        return self.settings().model_path()

    def set_method(self, method: str, model: str | None = None) -> None:
        """Choose the segmentation method (and model file) for the micrographs not yet segmented."""
        self._method.value = method
        self._model.value = model or ""

    def parameters(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~exo_vision.tem_analysis.analyse_micrograph` for every micrograph."""
        return self.settings().parameters()

    # -- opening, navigation ----------------------------------------------------------------------
    def open_grid(self, input_dir: str | Path | None = None, output_dir: str | Path | None = None) -> None:
        """Open a grid folder; resume at the saved position when the output folder holds a session."""
        if input_dir is not None:
            self._input.value = str(input_dir)
        if output_dir is not None:
            self._output.value = str(output_dir)
        if self.worker is not None and self.worker.is_running:
            show_warning("still segmenting the current micrograph; wait for it before opening a grid")
            return
        chosen = self.settings()
        try:
            core = GridSession.open(self._input.value, self._output.value, chosen)
        except (ValueError, OSError) as error:
            fix = f"; {MODEL_FIX}, then Open grid again" if chosen.problem() else ""
            show_warning(f"{error}{fix}")
            return
        if not self.leave_current():  # the grid open until now: its micrograph saved, its layers removed
            return
        for message in core.warnings:
            show_warning(message)
        self.core = core
        if core.resumed_done is not None:
            self._show_settings(core.settings)
            changed = "" if core.settings == chosen else " (the settings it was started with, not those chosen here)"
            show_info(
                f"resuming grid session at {core.files[core.start].name} ({core.resumed_done} saved) with "
                f"{core.settings.describe(missing=core.cut_by_missing())}{changed}; changed settings apply to the "
                "micrographs not yet saved"
            )
        self.update_summary()
        self.go_to(core.start)

    def leave_current(self) -> bool:
        """Save the micrograph shown and remove its layers; False (it stays shown) when saving failed."""
        core = self.core
        if core is None or core.current is None:
            return True
        if not self._save_or_warn():
            return False
        self._remove_layers()
        draw_now(self._viewer)
        core.index = -1
        return True

    def _save_or_warn(self) -> bool:
        """:meth:`save_current`, with a failure (a file that cannot be written, the model file gone) shown
        as a warning; False then, and the micrograph stays shown with its edits."""
        name = self.core.current.name if self.core is not None and self.core.current is not None else "micrograph"
        try:
            self.save_current()
        except (ValueError, OSError) as error:
            show_warning(f"{name} could not be saved ({error}); it stays open with its edits")
            return False
        return True

    def next(self) -> None:
        """Save the current micrograph and open the next one."""
        if self.index + 1 < len(self.files):
            self.go_to(self.index + 1)
        elif self.files:
            if self.worker is not None and self.worker.is_running:
                show_warning("still segmenting the last micrograph; wait for it, then save it")
            elif self.save_current():
                show_info("last micrograph of the grid: saved")

    def previous(self) -> None:
        """Save the current micrograph and open the previous one."""
        if self.index > 0:
            self.go_to(self.index - 1)

    def go_to(self, index: int) -> None:
        """Leave the current micrograph (saving it) and show micrograph ``index``."""
        core = self.core
        if core is None or not 0 <= index < len(core.files):
            return
        if self.worker is not None and self.worker.is_running:
            show_warning("still segmenting the current micrograph; wait for it before moving on")
            return
        problem = self.settings().problem()
        if problem is not None:  # e.g. a model file name mistyped: stay, nothing is lost
            show_warning(f"{problem}; {MODEL_FIX}")
            return
        if core.current is not None:
            if not self._save_or_warn():
                return
            # the layers of the micrograph left are removed and drawn away before the next one's are made: their
            # OpenGL objects released and the next ones created in one frame can end napari with SIGSEGV in
            # glDrawArrays (Mesa llvmpipe; paging onto an uncalibrated micrograph, shown without a vesicle layer)
            with self._viewer.layers.batched_update():
                self._remove_layers()
            draw_now(self._viewer)
        # one scene-graph update for the layers added (napari collects garbage after each)
        with self._viewer.layers.batched_update():
            core.index = index
            path = core.files[index]
            self._position.value = f"{index + 1}/{len(core.files)}: {path.name}"
            self._previous.enabled = index > 0
            self._next.enabled = True
            self._save.enabled = self._checked.enabled = True
            core.write_state()
            try:
                self._show_image(path)
            except ValueError as error:
                show_warning(f"{path.name} cannot be analysed: {error}")
                return
        self._precompute(index + 1)

    def _remove_layers(self) -> None:
        self.awaiting_calibration = None
        for layer in (self.labels_layer, self.image_layer):
            if layer is not None and layer in self._viewer.layers:
                self._viewer.layers.remove(layer)
        self.labels_layer = None
        self.image_layer = None

    # -- layers and workers ------------------------------------------------------------------------
    def _open_session(self) -> GridSession:
        """The open grid's session core (micrographs are only shown once a grid is open)."""
        if self.core is None:
            raise RuntimeError("no grid is open: choose the micrograph folder and the output folder, then Open")
        return self.core

    def _show_image(self, path: Path) -> None:
        core = self._open_session()
        image = core.read(path)
        data, kwargs, _ = image_layer_data(image)
        self.image_layer = self._viewer.add_image(data, **kwargs)
        if core.is_saved(path):
            self._restore(path)
            return
        result = self.precomputed.pop(path, None)
        if result is not None:
            self._show_result(result)
            return
        if image.pixel_size_nm is None:
            # not segmented until calibrated: the Calibration dock sets the layer's units and scale, which
            # segments it (:meth:`_calibrated`); the grid summary names it meanwhile
            self.awaiting_calibration = path
            self.image_layer.events.units.connect(self._calibrated)
            self.image_layer.events.scale.connect(self._calibrated)
            show_warning(f"{path.name} has no pixel size, so it is not analysed; {CALIBRATE_FIX}")
            self.update_summary()
            return
        self._segment(image, path.name)

    def _calibrated(self, _event: Any = None) -> None:
        """The micrograph shown without a pixel size was calibrated: segment it (once, at the new scale)."""
        core, layer, path = self.core, self.image_layer, self.awaiting_calibration
        if core is None or path is None or core.current != path or layer is None or layer not in self._viewer.layers:
            return
        value = layer.metadata.get("pixel_size_nm")
        # the units change before the scale: wait for the scale unless it already is the new one (1 nm/px)
        if value is None or not np.allclose(layer.scale, value):
            return
        self.awaiting_calibration = None
        if find_derived(self._viewer, layer, ROLE) is not None:  # segmented in the segmentation dock already
            return
        core.not_analysed.pop(path, None)
        show_info(f"{path.name} calibrated ({value:g} nm/px): segmenting it")
        self.update_summary()
        try:
            self._segment(image_data_from_layer(layer), path.name)
        except ValueError as error:
            show_warning(f"{path.name} cannot be analysed: {error}")

    def _segment(self, image: Any, name: str) -> None:
        """Segment the micrograph shown (in a worker unless synchronous) and show its vesicles."""
        if self.synchronous:
            self._show_result(run_analysis(image, self.parameters()))
            return
        self.worker = create_worker(
            run_analysis,
            image,
            self.parameters(),
            in_subprocess=True,
            _progress={"desc": f"Segmenting {name}"},
            _ignore_errors=True,  # shown as a warning below, not re-raised in the GUI thread
        )
        self.worker.returned.connect(self._show_result)
        self.worker.errored.connect(lambda error: show_warning(f"{name}: segmentation failed: {error}"))
        release_when_finished(self.worker).start()

    def _show_result(self, result: Any) -> None:
        if self.image_layer is None or self.image_layer not in self._viewer.layers:
            return
        stale = stale_calibration(self.image_layer, result)
        if stale is not None:
            # Recalibrated while it was being segmented: segment it again at the new nm/px.
            show_info(f"{stale}: segmenting it again")
            self._segment(image_data_from_layer(self.image_layer), self.image_layer.name)
            return
        self.labels_layer = add_vesicle_layer(
            self._viewer,
            self.image_layer,
            result.labels,
            result.table,
            polarity=getattr(result, "polarity", None),
            extra_metadata={
                "parameters": self._shown_parameters(result.parameters),
                "analysed_area_nm2": result.analysed_area_nm2,
                "segmenter": getattr(result, "segmenter", None),
                "warnings": list(getattr(result, "warnings", None) or []),
                "rejected_by_reason": rejected_by_reason(getattr(result, "rejected", None)),
                "rejected": getattr(result, "rejected", None),
            },
        )
        self._viewer.layers.selection.active = self.labels_layer
        for message in getattr(result, "warnings", None) or []:
            show_warning(f"{self.core.current.name if self.core and self.core.current else 'micrograph'}: {message}")

    def _shown_parameters(self, made_with: dict[str, Any] | None) -> dict[str, Any]:
        """The parameters recorded on the vesicle layer of the micrograph shown: those its labels were made with
        (the session's when unknown), with the session's border rule, which only the statistics depend on (the
        setting may have changed since, while it was segmented or after it was saved)."""
        parameters = dict(made_with) if made_with is not None else self.parameters()
        if self.core is not None:
            parameters["exclude_border"] = self.core.settings.exclude_border
        return parameters

    def _restore(self, path: Path) -> None:
        """Bring back a saved, curated micrograph: its labels, calibration, overrides and edit log."""
        saved = self._open_session().load_saved(path)
        if saved.pixel_size_nm and self.image_layer.metadata.get("pixel_size_nm") != saved.pixel_size_nm:
            from exo_vision.plugins.calibration_widget import apply_pixel_size

            apply_pixel_size(self._viewer, self.image_layer, saved.pixel_size_nm, source=saved.pixel_size_source)
        # measured before the layer is added: docks that follow the active layer (the histogram) read its table
        # at once, and a placeholder table without diameters cut the restore short and lost the curation on save
        image = image_data_from_layer(self.image_layer)
        polarity = saved.polarity or image.polarity or "dark"
        labels = np.asarray(saved.labels)
        table = measure_micrograph_vesicles(labels, image, polarity=polarity)
        # the saved table measured these labels: each vesicle keeps the confidence saved with it
        table = carry_confidence(table, labels, confidence_reference(labels, saved.table))
        self.labels_layer = add_vesicle_layer(
            self._viewer,
            self.image_layer,
            saved.labels,
            apply_overrides(table, saved.morphology_overrides),
            polarity=saved.polarity,
            extra_metadata={
                "analysed_area_nm2": saved.analysed_area_nm2,
                "parameters": self._shown_parameters(saved.parameters),
                "segmenter": saved.segmenter,
                "rejected_by_reason": saved.rejected_by_reason,
                "rejected": saved.rejected,
                "morphology_overrides": saved.morphology_overrides,
                "edit_log": saved.edit_log,
            },
        )
        self._viewer.layers.selection.active = self.labels_layer

    def _precompute(self, index: int) -> None:
        """Segment micrograph ``index`` in the background so it is ready on arrival."""
        core = self.core
        if core is None or not 0 <= index < len(core.files):
            return
        path = core.files[index]
        if path in core.precomputed or core.is_saved(path):
            return
        if self.precompute_worker is not None and self.precompute_worker.is_running:
            return
        parameters = self.parameters()

        def work() -> tuple[Path, Any]:
            from exo_vision.io import read_image

            image = read_image(path, kind="tem")
            return path, run_analysis(image, parameters, in_subprocess=not self.synchronous)

        stale = {"settings": False}

        def store(item: tuple[Path, Any]) -> None:
            if parameters != self.parameters():  # the settings changed while it ran
                stale["settings"] = True
                return
            self.precomputed[item[0]] = item[1]

        def again() -> None:
            if stale["settings"]:
                self._precompute(self.index + 1)

        if self.synchronous:
            try:
                store(work())
            except ValueError as error:
                logger.info("pre-computing %s failed: %s", path, error)
            return
        self.precompute_worker = create_worker(work, _ignore_errors=True)
        self.precompute_worker.returned.connect(store)
        self.precompute_worker.finished.connect(again)
        self.precompute_worker.errored.connect(lambda error: logger.info("pre-computing %s failed: %s", path, error))
        release_when_finished(self.precompute_worker).start()

    # -- saving -----------------------------------------------------------------------------------
    def save_current(self) -> bool:
        """Save the current micrograph's (curated) results and update the grid summary.

        Returns
        -------
        bool
            Whether it was saved (not when no micrograph is shown, or it has no vesicle layer yet).
        """
        core = self.core
        if core is None or core.current is None or self.image_layer not in self._viewer.layers:
            return False
        path = core.current
        # the session's own layer, or one made since (e.g. re-run in the segmentation widget after recalibrating)
        layer = find_derived(self._viewer, self.image_layer, ROLE)
        if layer is None:
            if self.labels_layer is not None:
                show_warning(f"{path.name}: its vesicle layer was deleted; nothing saved")
            elif self.awaiting_calibration == path:
                show_warning(f"{path.name} is not saved: it has no pixel size, so it was not analysed; {CALIBRATE_FIX}")
            elif self.worker is not None and self.worker.is_running:
                show_warning(f"{path.name} is not saved yet: it is still being segmented")
            return False
        self.labels_layer = layer
        core.save(path, curated_from_layer(layer, image_data_from_layer(self.image_layer)))
        self.update_summary()
        return True

    def mark_checked(self) -> bool:
        """Record in the edit log of the micrograph shown that a person found its outlines right as they are, so
        that learning takes it as curated truth without an edit; False when it has no vesicle layer yet."""
        core = self.core
        layer = None
        if core is not None and core.current is not None and self.image_layer in self._viewer.layers:
            layer = find_derived(self._viewer, self.image_layer, ROLE)
        if layer is None:
            show_warning("no segmented micrograph to mark: wait for its vesicles to be shown")
            return False
        if curation_counts(layer.metadata.get("edit_log", []))[1]:
            show_info(f"{core.current.name if core and core.current else 'micrograph'} is already marked as checked")
            return True
        log_edit(layer, CHECKED_ACTION, None, "outlines checked by eye; learning takes them as they are")
        show_info(f"{core.current.name if core and core.current else 'micrograph'}: outlines marked as checked")
        return True

    def update_summary(self) -> None:
        """Redraw the running grid histogram and summary from every saved micrograph."""
        pooled = self.core.pooled_table() if self.core is not None else None
        skipped = self.core.not_analysed_text() if self.core is not None else ""
        # the micrographs shown but not analysed, by name, with what to do (they are not in the numbers)
        not_analysed = f"\nnot analysed: {skipped} (open it, {CALIBRATE_FIX})" if skipped else ""
        if pooled is None:
            self._summary.value = "nothing saved yet" + not_analysed
            return
        # vesicles cut by the image edge left out or counted as the session is set, as `exo-vision tem` (with
        # --include-border or not) counts them in the run's summary.csv and size histogram
        exclude = self.core.settings.exclude_border if self.core is not None else True
        self.statistics = stats = size_statistics(pooled, n_boot=200, exclude_border=exclude)
        missing = self.core.cut_by_missing() if self.core is not None else False
        copies = self.core.copies() if self.core is not None else {}
        # a micrograph saved twice (a copy, another bit depth) is counted once, as exo-vision tem and report count it
        counted_once = (
            f" ({len(copies)} the same micrograph as one before them, counted once: {self.core.copies_text()})"
            if copies and self.core is not None
            else ""
        )
        self._summary.value = (
            f"{len(self.tables)} micrograph(s) saved{counted_once}; "
            + statistics_text(stats, exclude_border=exclude, missing=missing)
            + not_analysed
        )
        # the statistics once per step (a bootstrap over the whole grid: 0.2 s at 10 000 vesicles)
        self.plot.draw(
            {"grid": pooled},
            bin_width_nm=TemBatchConfig().bin_width_nm,
            weighting="number",
            statistics={"grid": stats},
            exclude_border=exclude,
        )


def curated_from_layer(layer: Any, image: Any) -> CuratedResult:
    """What the session saves for a vesicle Labels layer on ``image``: labels, table, metadata, edit log."""
    return CuratedResult(
        image=image,
        labels=np.asarray(layer.data),
        table=vesicle_table(layer),
        polarity=layer.metadata.get("polarity"),
        analysed_area_nm2=layer.metadata.get("analysed_area_nm2"),
        parameters=layer.metadata.get("parameters") or {},
        morphology_overrides=layer.metadata.get("morphology_overrides", {}),
        edit_log=layer.metadata.get("edit_log", []),
        segmenter=layer.metadata.get("segmenter"),
        rejected_by_reason=layer.metadata.get("rejected_by_reason"),
        rejected=layer.metadata.get("rejected"),
    )
