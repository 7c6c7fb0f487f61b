"""The grid session's "Learn from curated micrographs" panel: fine-tune in a worker thread, show the
before/after figures on held-out curated micrographs, use the new model for the rest of the grid, save it.

All the work is :func:`exo_vision.learn.finetune.fine_tune` (GUI-free); this panel only starts it,
reports progress, cancels it and shows the result.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

from magicgui.widgets import CheckBox, Container, FileEdit, PushButton
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

from exo_vision.learn.grid_models import comparison_text, new_model_path, verdict, verdict_text
from exo_vision.plugins._text import result_text
from exo_vision.plugins._workers import release_when_finished

logger = logging.getLogger(__name__)

#: Tooltip of the partial-outlines choice (``exo-vision train --partial-outlines``).
PARTIAL_TOOLTIP = (
    "Tick when the curated micrographs outline only some of their vesicles (those you were sure of). Only the "
    "outlined vesicles and a ring around each are taught; the rest of each micrograph is not used (half the "
    "training crops come from generated micrographs instead, and micrographs with no outline are left out). "
    "Precision and F1 on the held-out micrographs are then lower bounds: a vesicle the new model finds that "
    "nobody outlined counts as a false positive. Untick when every vesicle is outlined: then everything "
    "outside an outline is taught as background."
)


class LearningPanel(Container):
    """Buttons and status of fine-tuning for one :class:`~exo_vision.plugins.grid_session_widget.GridSessionWidget`."""

    def __init__(self, session: Any) -> None:
        super().__init__(labels=True)
        self._session = session
        self._partial = CheckBox(text="only some vesicles outlined", value=False, tooltip=PARTIAL_TOOLTIP)
        self._learn = PushButton(text="Learn from curated micrographs")
        self._cancel = PushButton(text="Cancel learning", enabled=False)
        self._status = result_text("learning", "curate a few micrographs first")
        self._use = PushButton(text="Use the new model for the rest of the grid", enabled=False)
        self._save_path = FileEdit(label="save new model as", mode="w", filter="*.onnx", value="")
        self._save = PushButton(text="Save the new model", enabled=False)
        self.extend([self._partial, self._learn, self._cancel, self._status, self._use, self._save_path, self._save])
        self._learn.changed.connect(lambda: self.learn())
        self._cancel.changed.connect(lambda: self.cancel())
        self._use.changed.connect(lambda: self.use_model())
        self._save.changed.connect(lambda: self.save_model(self._save_path.value))
        #: Fine-tuning settings (tests make them tiny); None: the defaults. The partial-outlines choice is
        #: applied on top of them.
        self.settings: Any = None
        #: Whether the fine-tuning under way (or the last one) took the outlines as partial.
        self._partial_run = False
        self.worker: Any = None
        self.result: Any = None
        self.layers: list[Any] = []
        self._stop = False
        self._running = False
        #: The dock's widgets were deleted (the viewer closed): late worker signals change nothing.
        self._gone = False
        self._progress = (0, 0)
        #: The stage around the training under way (name, segmentations done, in all), None while training.
        self._stage: tuple[str, int, int] | None = None
        #: The worker returned or failed: its outcome is shown, and a progress tick still queued says nothing.
        self._ended = False
        self._timer = QTimer()
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._show_progress)
        self.native.destroyed.connect(self._closing)

    @property
    def running(self) -> bool:
        """Whether a fine-tuning is under way (from :meth:`learn` until its worker has finished)."""
        return self._running

    def _closing(self, _obj: Any = None) -> None:
        """The dock is going away: stop the progress display and any fine-tuning."""
        self._stop = True
        self._gone = True
        with contextlib.suppress(RuntimeError):  # the timer may be deleted already
            self._timer.stop()

    def learn(self, *, base_model: str | None = None) -> None:
        """Save the current micrograph, then fine-tune the session's model on every curated micrograph: those
        saved after an edit or marked as checked (the others are named in a warning and left out)."""
        from exo_vision.learn.curated import collect_curated
        from exo_vision.learn.finetune import FineTuneSettings, leave_out_unoutlined, load_training_framework
        from exo_vision.learn.settings import with_partial_outlines

        session = self._session
        if session.output_dir is None:
            show_warning("open a grid first; the model learns from the micrographs you curate in it")
            return
        if self.running:
            show_warning("already learning; cancel it first")
            return
        session.save_current()
        try:
            settings = self.settings or FineTuneSettings()
            if self._partial.value:
                settings = with_partial_outlines(settings)
            if "torch" not in sys.modules:
                # The first import of PyTorch takes a few seconds and must happen on this thread: say so first.
                self._status.value = "loading the training framework (a few seconds, once per session)..."
                QApplication.processEvents()
            load_training_framework()
            left_out: list[str] = []
            micrographs = collect_curated([session.output_dir], warn=left_out.append)
            # with partial outlines a micrograph without an outline says nothing: left out, and named
            micrographs = leave_out_unoutlined(micrographs, settings=settings, say=left_out.append)
        except ValueError as error:
            self._status.value = "not learnt (see the message)"
            show_warning(str(error))
            return
        for message in left_out:  # e.g. micrographs saved with no edit: the model's own outlines, not truth
            show_warning(message)
        self._partial_run = settings.partial_outlines
        out = new_model_path(session.output_dir)
        base = base_model if base_model is not None else session.model_path()
        self._stop = self._ended = False
        self._progress = (0, settings.steps)
        self._stage = None

        def step(done: int, total: int) -> None:
            self._stage = None
            self._progress = (done, total)

        def work() -> Any:
            from exo_vision.learn.finetune import fine_tune

            return fine_tune(
                micrographs,
                out=out,
                base_model=base,
                settings=settings,
                progress=step,
                should_stop=lambda: self._stop,
                command="napari grid session: Learn from curated micrographs",
                stage=lambda name, done, total: setattr(self, "_stage", (name, done, total)),
            )

        self._status.value = f"learning from {len(micrographs)} curated micrograph(s)..."
        self._learn.enabled, self._cancel.enabled = False, True
        self._running = True
        self.worker = create_worker(work, _ignore_errors=True)
        self.worker.returned.connect(self._finished)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._reset_buttons)
        self._timer.start()
        release_when_finished(self.worker).start()

    def cancel(self) -> None:
        """Stop the fine-tuning at the next step or segmentation, until the new model is moved into place;
        nothing is written."""
        self._stop = True
        self._status.value = "cancelling..."

    def _show_progress(self) -> None:
        if self._gone:
            return
        done, total = self._progress
        if not self.running or self._stop or self._ended:
            return
        if self._stage is not None:
            name, segmented, count = self._stage
            self._status.value = f"{name} ({segmented} of {count} done)" if count > 1 else f"{name}..."
        else:
            self._status.value = f"learning: step {done} of at most {total}"

    def _reset_buttons(self) -> None:
        self._running = False
        if self._gone:
            return
        self._timer.stop()
        self._learn.enabled, self._cancel.enabled = True, False

    def _failed(self, error: BaseException) -> None:
        from exo_vision.learn.finetune import FineTuneCancelled

        self._ended = True
        if self._gone:
            return
        if isinstance(error, FineTuneCancelled):
            self._status.value = "cancelled; no model written"
        else:
            self._status.value = "not learnt (see the message)"
            show_warning(str(error) if isinstance(error, ValueError) else f"learning failed: {error}")

    def _finished(self, result: Any) -> None:
        self.result = result
        self._ended = True  # a progress tick between this and the worker's finished signal overwrote the outcome
        if self._gone:
            return
        self._status.value = comparison_text(result, partial=self._partial_run)
        self._use.enabled = self._save.enabled = True
        self.show_comparison(result)
        # with partial outlines F1 counts unoutlined vesicles as false positives: it cannot call the new model worse
        if not self._partial_run and verdict(result.before, result.after) == "lower":
            show_warning(verdict_text(result.before, result.after))

    def show_comparison(self, result: Any) -> None:
        """Layers of the first held-out micrograph: the image, the curated outlines and both models' outlines."""
        viewer = self._session._viewer
        m = result.validation[0]
        grid = {"scale": (m.pixel_size_nm, m.pixel_size_nm), "units": ("nm", "nm")}
        name = f"held out: {m.name}"
        # one scene-graph update (napari collects garbage after each one) for the removals and additions
        with viewer.layers.batched_update():
            for layer in self.layers:
                if layer in viewer.layers:
                    viewer.layers.remove(layer)
            self.layers = [
                viewer.add_image(m.image, name=name, **grid),
                viewer.add_labels(m.labels, name=f"{name} curated", opacity=0.4, **grid),
                viewer.add_labels(result.predictions_before[0], name=f"{name} before", visible=False, **grid),
                viewer.add_labels(result.predictions_after[0], name=f"{name} after", **grid),
            ]
        for layer in self.layers[1:]:
            layer.contour = 2

    def use_model(self) -> None:
        """Segment the micrographs not yet saved with the new model (saved ones keep their curation)."""
        if self.result is None:
            return
        session = self._session
        session.set_method("unet", str(self.result.onnx_path))
        session.precomputed = {}
        show_info(f"the rest of the grid is segmented with {self.result.onnx_path.name}")

    def save_model(self, path: Any) -> Path | None:
        """Copy the new model and its card to ``path`` (``.onnx``)."""
        from exo_vision.learn.finetune import copy_model

        if self.result is None:
            return None
        target = Path(str(path or ""))
        if str(target) in ("", ".") or target.is_dir():
            show_warning('choose where to save the new model ("save new model as")')
            return None
        try:
            saved = copy_model(self.result.onnx_path, target)
        except (OSError, ValueError) as error:
            show_warning(f"could not save the model to {target}: {error}")
            return None
        show_info(f"model saved as {saved} (its card {saved.with_suffix('.json').name} beside it)")
        return saved
