"""Grid session dock, the daily workflow: one folder of micrographs (one grid), step
previous / next, each image segmented on arrival (the next one pre-computed in the
background), curated, and saved on leaving in the files the CLI writes; a running
grid histogram and summary; reopening the folder resumes where the user left off."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSlider, FloatSpinBox, Label, PushButton
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer
from qtpy.QtCore import QEvent, QObject

from exo_vision.batch.config import TemBatchConfig
from exo_vision.plugins._layers import find_derived, image_data_from_layer, image_layer_data
from exo_vision.plugins._learning import LearningPanel
from exo_vision.plugins._vesicles import (
    ROLE,
    add_vesicle_layer,
    edit_log_frame,
    measure_layer,
    statistics_text,
    vesicle_table,
)
from exo_vision.plugins.histogram_widget import HistogramPlot
from exo_vision.plugins.segmentation_widget import run_analysis
from exo_vision.segmentation.api import METHODS, available_methods
from exo_vision.tem_parameters import TemParameters

logger = logging.getLogger(__name__)

#: Session state file written in the output folder (what is done, where the user was).
SESSION_FILE = "exo_vision_session.json"
#: Keys bound on the viewer while a session is open.
NEXT_KEY = "PageDown"
PREVIOUS_KEY = "PageUp"


def list_micrographs(folder: str | Path) -> list[Path]:
    """Micrograph files of a grid folder, sorted by name (non-recursive).

    Exactly the files ``exo-vision tem <folder>`` analyses, so both name their outputs alike.

    Raises
    ------
    ValueError
        When the folder does not exist or holds no readable image.
    """
    from exo_vision._shared.atomic import TEMP_PREFIX
    from exo_vision.batch.runner import IMAGE_SUFFIXES

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"micrograph folder {folder} does not exist; choose the folder holding one grid's images.")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(TEMP_PREFIX)
    )
    if not files:
        raise ValueError(
            f"no micrographs in {folder}: expected files ending in {', '.join(sorted(IMAGE_SUFFIXES))}; "
            "choose another folder."
        )
    return files


def analysis_kwargs(cli_parameters: dict[str, Any]) -> dict[str, Any]:
    """The :func:`~exo_vision.tem_analysis.analyse_micrograph` keyword arguments among
    :meth:`TemBatchConfig.analysis_parameters` (the rest concern reading the file)."""
    reading = ("pixel_size_nm", "frame", "scale_bar", "model_sha256", "save_rois")
    return {k: v for k, v in cli_parameters.items() if k not in reading}


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


class GridSessionWidget(Container):
    """Step through one grid's micrographs, segment, curate, save, and see the grid's histogram."""

    def __init__(self, napari_viewer: Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = viewer = napari_viewer
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
            tooltip="empty: the shipped model; or a model made by fine-tuning",
        )
        self._method.changed.connect(
            lambda _v=None: setattr(self._model, "visible", METHODS[self._method.value].uses_model)
        )
        self._min_d = FloatSpinBox(label="min diameter (nm)", value=cli.min_diameter_nm, min=1.0, max=5000.0, step=5.0)
        self._max_d = FloatSpinBox(
            label="max diameter (nm)", value=cli.max_diameter_nm, min=2.0, max=20000.0, step=10.0
        )
        self._sensitivity = FloatSlider(label="sensitivity", value=cli.sensitivity, min=0.0, max=1.0, step=0.05)
        self._open = PushButton(text="Open grid (resumes a saved session)")
        self._previous = PushButton(text=f"< Previous ({PREVIOUS_KEY})", enabled=False)
        self._next = PushButton(text=f"Next ({NEXT_KEY}) >", enabled=False)
        self._save = PushButton(text="Save this micrograph now", enabled=False)
        self._position = Label(label="micrograph", value="no grid open")
        self._summary = Label(label="grid so far", value="")
        self.extend(
            [
                self._input,
                self._output,
                self._method,
                self._model,
                self._min_d,
                self._max_d,
                self._sensitivity,
                self._open,
                self._previous,
                self._next,
                self._save,
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
        self.files: list[Path] = []
        self.index = -1
        self.output_dir: Path | None = None
        self.precomputed: dict[Path, Any] = {}
        #: Pixel size (nm) each micrograph's file gives (what the CLI would use without --pixel-size-nm).
        self.file_pixel_size_nm: dict[Path, float | None] = {}
        self.tables: dict[str, pd.DataFrame] = {}
        self.image_layer: Any = None
        self.labels_layer: Any = None
        self.worker: Any = None
        self.precompute_worker: Any = None

        self._open.changed.connect(lambda: self.open_grid())
        self._previous.changed.connect(lambda: self.previous())
        self._next.changed.connect(lambda: self.next())
        self._save.changed.connect(lambda: self.save_current())
        self._keys = {NEXT_KEY: lambda _viewer: self.next(), PREVIOUS_KEY: lambda _viewer: self.previous()}
        self.bind_keys()
        # PageUp/PageDown belong to the session only while its dock is on screen: released when
        # the dock is closed, removed or hidden (e.g. tabbed away), taken back when shown again.
        self._visibility = _VisibilityWatcher(self.native, shown=self.bind_keys, hidden=self.unbind_keys)
        self.native.destroyed.connect(self.unbind_keys)

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
        """Release PageUp/PageDown (unless another session took them since)."""
        from app_model.types import KeyBinding

        for key, func in self._keys.items():
            if self._viewer.keymap.get(KeyBinding.from_str(key)) is func:
                self._viewer.bind_key(key, None)

    # -- session -------------------------------------------------------------------------------
    def config(self, **overrides: Any) -> TemBatchConfig:
        """The ``exo-vision tem`` configuration matching the session's settings (plus ``overrides``)."""
        values = {
            "method": str(self._method.value),
            "model": self.model_path(),
            "min_diameter_nm": float(self._min_d.value),
            "max_diameter_nm": float(self._max_d.value),
            "sensitivity": float(self._sensitivity.value),
            "polarity": "auto",
        }
        values.update(overrides)
        return TemBatchConfig(**values)

    def model_path(self) -> str | None:
        """The chosen model file, or None for the shipped model (or a method without a model)."""
        if not METHODS[str(self._method.value)].uses_model:
            return None
        value = str(self._model.value or "").strip()
        # an empty file field reads as the current folder
        return None if value in ("", ".") or Path(value).is_dir() else value

    def set_method(self, method: str, model: str | None = None) -> None:
        """Choose the segmentation method (and model file) for the micrographs not yet segmented."""
        self._method.value = method
        self._model.value = model or ""

    def parameters(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~exo_vision.tem_analysis.analyse_micrograph` for every micrograph
        (lengths in nm): exactly those ``exo-vision tem`` passes for the same settings."""
        return analysis_kwargs(self.config().analysis_parameters())

    def recorded_parameters(self, path: Path, layer: Any, image: Any) -> dict[str, Any]:
        """The parameters saved in a micrograph's done-marker, in the form ``exo-vision tem`` records.

        They are the analysis parameters the layer was made with, and the pixel size as an override
        only when the user changed the file's own calibration; so ``exo-vision tem <grid> --out <out>
        --resume`` with the same settings finds these results complete and skips them.
        """
        from exo_vision.batch.config import PARAMETER_NAMES

        made_with = {k: v for k, v in (layer.metadata.get("parameters") or {}).items() if k in PARAMETER_NAMES}
        overrides: dict[str, Any] = {**self.config().to_dict(), **made_with}
        file_px = self.file_pixel_size_nm.get(path)
        overrides["pixel_size_nm"] = (
            None
            if image.pixel_size_nm is None or (file_px is not None and np.isclose(image.pixel_size_nm, file_px))
            else float(image.pixel_size_nm)
        )
        return TemBatchConfig(**overrides).analysis_parameters()

    def open_grid(self, input_dir: str | Path | None = None, output_dir: str | Path | None = None) -> None:
        """Open a grid folder; resume at the saved position when the output folder holds a session."""
        if input_dir is not None:
            self._input.value = str(input_dir)
        if output_dir is not None:
            self._output.value = str(output_dir)
        try:
            files = list_micrographs(self._input.value)
            out = Path(self._output.value)
            if not str(self._output.value) or out == Path("."):
                raise ValueError("choose an output folder for the grid's results")
            if out.resolve() == Path(self._input.value).resolve():
                raise ValueError(
                    "choose an output folder other than the micrographs folder (the results would be read "
                    "back as micrographs)"
                )
            out.mkdir(parents=True, exist_ok=True)
        except (ValueError, OSError) as error:
            show_warning(str(error))
            return
        self.files = files
        self.output_dir = out
        self.precomputed = {}
        state = self._read_state()
        start = 0
        if state.get("input_dir") == str(Path(self._input.value).resolve()):
            names = [f.name for f in files]
            current = state.get("current")
            start = names.index(current) if current in names else 0
            saved = state.get("parameters", {})
            if saved.get("method") in METHODS:
                self.set_method(saved["method"], saved.get("model"))
            for key in ("min_diameter_nm", "max_diameter_nm", "sensitivity"):
                if key in saved:
                    {"min_diameter_nm": self._min_d, "max_diameter_nm": self._max_d, "sensitivity": self._sensitivity}[
                        key
                    ].value = state["parameters"][key]
            show_info(f"resuming grid session at {files[start].name} ({len(state.get('done', []))} saved)")
        self.tables = self._load_saved_tables()
        self.index = -1
        self.go_to(start)

    def _state_path(self) -> Path:
        return self.output_dir / SESSION_FILE

    def _read_state(self) -> dict[str, Any]:
        path = self._state_path()
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as error:
            show_warning(f"{path} is not valid JSON ({error}); starting the session from the first micrograph.")
            return {}

    def _write_state(self) -> None:
        state = {
            "input_dir": str(Path(self._input.value).resolve()),
            "current": self.files[self.index].name if 0 <= self.index < len(self.files) else None,
            "done": sorted(self.tables),
            "parameters": self.parameters(),
        }
        self._state_path().write_text(json.dumps(state, indent=2))

    # -- per-image output paths ------------------------------------------------------------------
    def output_paths(self, path: Path) -> dict[str, Path]:
        """Files saved for one micrograph: the CLI's per-image outputs plus the curation record.

        ``labels``/``vesicles``/``overlay``/``marker`` are exactly what ``exo-vision tem``
        writes (same stems); ``edits`` (the edit log CSV) and ``curation`` (morphology
        overrides, JSON) are the curation additions.
        """
        from exo_vision.batch.image_outputs import output_names
        from exo_vision.batch.runner import assign_stems

        stem = assign_stems(self.files)[self.files.index(path)] if path in self.files else path.stem
        paths = {key: self.output_dir / name for key, name in output_names(stem).items()}
        paths["edits"] = self.output_dir / f"{stem}_edits.csv"
        paths["curation"] = self.output_dir / f"{stem}_curation.json"
        paths["table"] = paths["vesicles"]
        return paths

    def _load_saved_tables(self) -> dict[str, pd.DataFrame]:
        tables = {}
        for path in self.files:
            table_path = self.output_paths(path)["table"]
            if table_path.is_file():
                tables[path.stem] = pd.read_csv(table_path)
        return tables

    # -- navigation ------------------------------------------------------------------------------
    def next(self) -> None:
        """Save the current micrograph and open the next one."""
        if self.index + 1 < len(self.files):
            self.go_to(self.index + 1)
        elif self.files:
            self.save_current()
            show_info("last micrograph of the grid: saved")

    def previous(self) -> None:
        """Save the current micrograph and open the previous one."""
        if self.index > 0:
            self.go_to(self.index - 1)

    def go_to(self, index: int) -> None:
        """Leave the current micrograph (saving it) and show micrograph ``index``."""
        if not 0 <= index < len(self.files):
            return
        if self.worker is not None and self.worker.is_running:
            show_warning("still segmenting the current micrograph; wait for it before moving on")
            return
        if 0 <= self.index < len(self.files):
            self.save_current()
            self._remove_layers()
        self.index = index
        path = self.files[index]
        self._position.value = f"{index + 1}/{len(self.files)}: {path.name}"
        self._previous.enabled = index > 0
        self._next.enabled = True
        self._save.enabled = True
        self._write_state()
        try:
            self._show_image(path)
        except ValueError as error:
            show_warning(f"{path.name} cannot be analysed: {error}")
            return
        self._precompute(index + 1)

    def _remove_layers(self) -> None:
        for layer in (self.labels_layer, self.image_layer):
            if layer is not None and layer in self._viewer.layers:
                self._viewer.layers.remove(layer)
        self.labels_layer = None
        self.image_layer = None

    def _show_image(self, path: Path) -> None:
        from exo_vision.io import read_image

        image = read_image(path, kind="tem")
        self.file_pixel_size_nm[path] = image.pixel_size_nm
        data, kwargs, _ = image_layer_data(image)
        self.image_layer = self._viewer.add_image(data, **kwargs)
        saved = self.output_paths(path)
        if saved["labels"].is_file():
            self._restore(saved)
            return
        result = self.precomputed.pop(path, None)
        if result is not None:
            self._show_result(result)
            return
        if self.synchronous:
            self._show_result(run_analysis(image, self.parameters()))
            return
        self.worker = create_worker(
            run_analysis,
            image,
            self.parameters(),
            in_subprocess=True,
            _progress={"desc": f"Segmenting {path.name}"},
            _ignore_errors=True,  # shown as a warning below, not re-raised in the GUI thread
        )
        self.worker.returned.connect(self._show_result)
        self.worker.errored.connect(lambda error: show_warning(f"{path.name}: segmentation failed: {error}"))
        self.worker.start()

    def _show_result(self, result: Any) -> None:
        if self.image_layer is None or self.image_layer not in self._viewer.layers:
            return
        self.labels_layer = add_vesicle_layer(
            self._viewer,
            self.image_layer,
            result.labels,
            result.table,
            polarity=getattr(result, "polarity", None),
            extra_metadata={"parameters": result.parameters, "analysed_area_nm2": result.analysed_area_nm2},
        )
        self._viewer.layers.selection.active = self.labels_layer

    def _restore(self, saved: dict[str, Path]) -> None:
        """Bring back a saved, curated micrograph: its labels, overrides and edit log."""
        labels = tifffile.imread(saved["labels"]).astype(np.int32)
        curation = json.loads(saved["curation"].read_text()) if saved["curation"].is_file() else {}
        marker = json.loads(saved["marker"].read_text()) if saved["marker"].is_file() else {}
        saved_px = curation.get("pixel_size_nm")
        if saved_px and self.image_layer.metadata.get("pixel_size_nm") != saved_px:
            from exo_vision.plugins.calibration_widget import apply_pixel_size

            apply_pixel_size(
                self._viewer, self.image_layer, curation["pixel_size_nm"], source=curation["pixel_size_source"]
            )
        self.labels_layer = add_vesicle_layer(
            self._viewer,
            self.image_layer,
            labels,
            pd.DataFrame({"label": pd.Series(dtype="int64")}),
            polarity=curation.get("polarity") or marker.get("polarity"),
            extra_metadata={
                "analysed_area_nm2": marker.get("analysed_area_nm2"),
                "parameters": marker.get("parameters", self.parameters()),
            },
        )
        self.labels_layer.metadata["morphology_overrides"] = {
            int(k): v for k, v in curation.get("morphology_overrides", {}).items()
        }
        if saved["edits"].is_file():
            log = pd.read_csv(saved["edits"], keep_default_na=False)
            self.labels_layer.metadata["edit_log"] = log.to_dict("records")
        measure_layer(self.labels_layer, self.image_layer)
        self._viewer.layers.selection.active = self.labels_layer

    def _precompute(self, index: int) -> None:
        """Segment micrograph ``index`` in the background so it is ready on arrival."""
        if not 0 <= index < len(self.files):
            return
        path = self.files[index]
        if path in self.precomputed or self.output_paths(path)["labels"].is_file():
            return
        if self.precompute_worker is not None and self.precompute_worker.is_running:
            return

        def work() -> tuple[Path, Any]:
            from exo_vision.io import read_image

            image = read_image(path, kind="tem")
            return path, run_analysis(image, self.parameters(), in_subprocess=not self.synchronous)

        def store(item: tuple[Path, Any]) -> None:
            self.precomputed[item[0]] = item[1]

        if self.synchronous:
            try:
                store(work())
            except ValueError as error:
                logger.info("pre-computing %s failed: %s", path, error)
            return
        self.precompute_worker = create_worker(work, _ignore_errors=True)
        self.precompute_worker.returned.connect(store)
        self.precompute_worker.errored.connect(lambda error: logger.info("pre-computing %s failed: %s", path, error))
        self.precompute_worker.start()

    # -- saving -----------------------------------------------------------------------------------
    def save_current(self) -> None:
        """Save the current micrograph's (curated) results and update the grid summary."""
        if not 0 <= self.index < len(self.files) or self.image_layer not in self._viewer.layers:
            return
        path = self.files[self.index]
        # the session's own layer, or one made since (e.g. re-run in the segmentation widget after recalibrating)
        layer = find_derived(self._viewer, self.image_layer, ROLE)
        if layer is None:
            if self.labels_layer is not None:
                show_warning(f"{path.name}: its vesicle layer was deleted; nothing saved")
            return
        self.labels_layer = layer
        saved = self.output_paths(path)
        image = image_data_from_layer(self.image_layer)
        table = vesicle_table(layer)
        self._write_outputs(path, image, np.asarray(layer.data), table, layer)
        edit_log_frame(layer).to_csv(saved["edits"], index=False)
        saved["curation"].write_text(
            json.dumps(
                {
                    "polarity": layer.metadata.get("polarity"),
                    "morphology_overrides": {
                        str(k): v for k, v in layer.metadata.get("morphology_overrides", {}).items()
                    },
                    "pixel_size_nm": image.pixel_size_nm,
                    "pixel_size_source": image.pixel_size_source,
                },
                indent=2,
            )
        )
        self.tables[path.stem] = table
        self._write_state()
        self.update_summary()

    def _write_outputs(self, path: Path, image: Any, labels: np.ndarray, table: pd.DataFrame, layer: Any) -> None:
        """Write the CLI's per-image files (labels TIFF, vesicle CSV, overlay, done marker) for the curated result."""
        from exo_vision._shared.atomic import sha256_file
        from exo_vision.batch.image_outputs import write_image_outputs
        from exo_vision.measure.size_stats import size_statistics
        from exo_vision.tem_analysis import MicrographResult

        saved = self.output_paths(path)
        stem = saved["marker"].name[: -len("_done.json")]
        area = layer.metadata.get("analysed_area_nm2")
        area = float(area) if area is not None and np.isfinite(area) and area > 0 else None
        parameters = self.recorded_parameters(path, layer, image)
        polarity = layer.metadata.get("polarity") or "bright"
        result = MicrographResult(
            labels=labels,
            table=table,
            rejected=pd.DataFrame({"reason": pd.Series(dtype=str)}),
            statistics=size_statistics(
                table,
                analysed_area_nm2=area,
                exclude_border=parameters["exclude_border"],
                size_range_nm=tuple(parameters["size_range_nm"]),
                n_boot=parameters["n_boot"],
                rng=parameters["seed"],
            ),
            image_data=image,
            parameters=parameters,
            polarity=polarity,
            analysed_area_nm2=float("nan") if area is None else area,
        )
        record = {
            "input": str(path),
            "stem": stem,
            "input_sha256": sha256_file(path),
            "parameters": parameters,
            "shape": list(image.shape),
            "pixel_size_nm": image.pixel_size_nm,
            "pixel_size_source": image.pixel_size_source,
            "polarity": polarity,
            "analysed_area_nm2": result.analysed_area_nm2 if area is not None else None,
            "n_vesicles": int(len(table)),
            "warnings": list(image.warnings),
            "curated_in_gui": True,
            "n_edits": len(layer.metadata.get("edit_log", [])),
        }
        write_image_outputs(result, out_dir=self.output_dir, stem=stem, record=record)

    def update_summary(self) -> None:
        """Redraw the running grid histogram and summary from every saved micrograph."""
        from exo_vision.measure.size_stats import size_statistics

        if not self.tables:
            self._summary.value = "nothing saved yet"
            return
        pooled = pd.concat(self.tables.values(), ignore_index=True)
        stats = size_statistics(pooled, n_boot=200)
        self.statistics = stats
        self._summary.value = f"{len(self.tables)} micrograph(s) saved; " + statistics_text(stats)
        self.plot.draw({"grid": pooled}, bin_width_nm=10.0, weighting="number")
