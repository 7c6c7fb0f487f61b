"""Curation dock: delete / merge / split vesicles and override morphology, on top of napari's
own paint / erase / fill tools. Measurements and statistics update after every edit, and each
edit is logged (what, which label, when) for the saved results."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, PushButton, SpinBox
from napari.layers import Labels
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer
from qtpy.QtCore import QTimer
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from exo_vision.annotations.polygons import outline_warning
from exo_vision.plugins._layers import enum_choices, same_layer, source_image
from exo_vision.plugins._text import result_text
from exo_vision.plugins._vesicles import (
    ROLE,
    excludes_border,
    layer_cut_by_missing,
    layer_statistics,
    log_edit,
    measure_layer,
    set_vesicle_table,
    statistics_text,
    vesicle_table,
)

logger = logging.getLogger(__name__)


class Morphology(Enum):
    """Morphology classes a vesicle can be assigned."""

    ROUND = "round"
    CUP = "cup"
    IRREGULAR = "irregular"


def delete_label(labels: np.ndarray, label: int) -> np.ndarray:
    """Copy of ``labels`` with ``label`` set to background.

    Raises
    ------
    ValueError
        When ``label`` is not present.
    """
    if label <= 0 or not np.any(labels == label):
        raise ValueError(f"label {label} is not in the image; pick a vesicle with the colour picker first.")
    out = labels.copy()
    out[out == label] = 0
    return out


def merge_labels(labels: np.ndarray, keep: int, other: int) -> np.ndarray:
    """Copy of ``labels`` where ``other`` becomes ``keep`` and the gap between them is closed.

    Background pixels inside the closing (3 px) of the union join the merged vesicle.
    """
    for value in (keep, other):
        if value <= 0 or not np.any(labels == value):
            raise ValueError(f"label {value} is not in the image; choose two existing vesicles to merge.")
    if keep == other:
        raise ValueError(f"cannot merge label {keep} with itself; choose two different vesicles.")
    out = labels.copy()
    union = (out == keep) | (out == other)
    closed = ndi.binary_closing(union, structure=np.ones((3, 3), bool), iterations=3)
    out[(closed & (out == 0)) | union] = keep
    return out


def split_label(labels: np.ndarray, label: int) -> tuple[np.ndarray, int]:
    """Split ``label`` in two along its watershed of the distance transform.

    Returns
    -------
    (labels, new_label)
        The edited copy and the id given to the second part.

    Raises
    ------
    ValueError
        When the vesicle has no two distinct centres to split between.
    """
    whole = labels == label
    if label <= 0 or not whole.any():
        raise ValueError(f"label {label} is not in the image; pick a vesicle with the colour picker first.")
    # Work in the vesicle's bounding box (a whole 3072 x 3072 frame took 1.3 s of the GUI thread).
    found = ndi.find_objects(whole.astype(np.uint8))[0]
    # one background pixel around it, so the distance to the outline is the whole frame's
    box = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(found, labels.shape, strict=True))
    mask = whole[box]
    distance = ndi.distance_transform_edt(mask)
    coords = np.argwhere(mask)
    # Two seeds: the two pixels of the mask farthest apart along its major axis.
    centred = coords - coords.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    along = centred @ vt[0]
    seeds = np.zeros(mask.shape, dtype=np.int32)
    first, second = coords[np.argmin(along)], coords[np.argmax(along)]
    if np.array_equal(first, second):
        raise ValueError(f"label {label} is a single pixel; nothing to split.")
    seeds[tuple(first)] = 1
    seeds[tuple(second)] = 2
    parts = watershed(-distance, seeds, mask=mask)
    new_label = int(labels.max()) + 1
    out = labels.astype(np.promote_types(labels.dtype, np.min_scalar_type(new_label)))
    out[box][parts == 2] = new_label
    return out, new_label


class CurationWidget(Container):
    """Edit the vesicle labels of the active image and keep its table, statistics and log current."""

    def __init__(self, napari_viewer: Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = viewer = napari_viewer
        self._layer_info = result_text("vesicle layer", "")
        self._label = SpinBox(label="vesicle label", value=1, min=0, max=2**31 - 1)
        self._other = SpinBox(label="merge with label", value=0, min=0, max=2**31 - 1)
        self._delete = PushButton(text="Delete vesicle")
        self._merge = PushButton(text="Merge the two")
        self._split = PushButton(text="Split vesicle in two")
        self._morphology = ComboBox(label="morphology", choices=enum_choices(Morphology), value=Morphology.ROUND)
        self._override = PushButton(text="Set morphology")
        self._stats = result_text("statistics", "")
        self._log = result_text("last edit", "")
        self._export_path = FileEdit(
            label="export to",
            mode="w",
            value="",
            filter="ImageJ ROI set (*.zip);;QuPath GeoJSON (*.geojson)",
            tooltip="RoiSet.zip for Fiji's ROI Manager, or .geojson for QuPath",
        )
        self._export_rois = PushButton(text="Export ImageJ ROIs (.zip)")
        self._export_geojson = PushButton(text="Export QuPath GeoJSON")
        self.extend(
            [
                self._layer_info,
                self._label,
                self._delete,
                self._other,
                self._merge,
                self._split,
                self._morphology,
                self._override,
                self._stats,
                self._log,
                self._export_path,
                self._export_rois,
                self._export_geojson,
            ]
        )
        self.layer: Any = None
        self._paint_pending = False
        self._measuring = False  # the dock is re-measuring the layer itself (its features event is its own)
        self._delete.changed.connect(lambda: self.delete())
        self._merge.changed.connect(lambda: self.merge())
        self._split.changed.connect(lambda: self.split())
        self._override.changed.connect(lambda: self.set_morphology())
        self._export_rois.changed.connect(lambda: self.export(self._export_path.value, kind="imagej"))
        self._export_geojson.changed.connect(lambda: self.export(self._export_path.value, kind="geojson"))
        viewer.layers.selection.events.active.connect(self._on_active)
        self._on_active()

    # -- layer tracking ------------------------------------------------------------------------
    def _find_layer(self) -> Any:
        active = self._viewer.layers.selection.active
        if isinstance(active, Labels) and active.metadata.get("exo_vision_role") == ROLE:
            return active
        for layer in reversed(list(self._viewer.layers)):
            if isinstance(layer, Labels) and layer.metadata.get("exo_vision_role") == ROLE:
                return layer
        return None

    def _on_active(self, _event: Any = None) -> None:
        layer = self._find_layer()
        if same_layer(layer, self.layer):
            if layer is not None:
                self._show_stats()  # re-selected: the layer may hold a new run since (segmented again)
            return
        if self.layer is not None:
            self.layer.events.paint.disconnect(self._on_paint)
            self.layer.events.selected_label.disconnect(self._on_selected)
            self.layer.events.features.disconnect(self._on_features)
        self.layer = layer
        if layer is None:
            self._layer_info.value = "run Vesicle segmentation first"
            return
        layer.events.paint.connect(self._on_paint)
        layer.events.selected_label.connect(self._on_selected)
        layer.events.features.connect(self._on_features)
        self._follow_undo(layer)
        self._layer_info.value = layer.name
        self._show_stats()

    def _follow_undo(self, layer: Any) -> None:
        """Re-measure and log after napari's Undo/Redo (Ctrl+Z), which emit no paint event: the table kept a
        vesicle the undo had taken away."""
        target = getattr(layer, "__wrapped__", layer)
        for name in ("undo", "redo"):
            method = getattr(target, name)
            if getattr(method, "_exo_vision_follows", False):
                continue

            def followed(original: Any = method, action: str = name) -> None:
                original()
                if self.layer is None or not same_layer(self.layer, target):
                    return
                before = set(vesicle_table(self.layer)["label"].astype(int))
                try:
                    self.update_measurements()
                    self._show_stats()
                except RuntimeError:  # the dock was closed since: the layer's undo still works
                    return
                after = set(vesicle_table(self.layer)["label"].astype(int))
                log_edit(self.layer, action, 0, f"vesicles now {len(after)} (was {len(before)})")

            followed._exo_vision_follows = True  # type: ignore[attr-defined]
            setattr(target, name, followed)

    def _on_selected(self, _event: Any = None) -> None:
        self._label.value = int(self.layer.selected_label)

    def _on_paint(self, _event: Any) -> None:
        """A napari paint / erase / fill stroke (napari emits this before writing the pixels):
        re-measure once the event loop is back, coalescing the events of one stroke."""
        if not self._paint_pending:
            self._paint_pending = True
            QTimer.singleShot(0, self._after_paint)

    def _after_paint(self) -> None:
        """Re-measure after a stroke and log which vesicles changed."""
        self._paint_pending = False
        if self.layer is None:
            return
        before = vesicle_table(self.layer)
        before_area = dict(zip(before["label"].astype(int), before["area_nm2"], strict=True)) if len(before) else {}
        self.update_measurements()
        after = vesicle_table(self.layer)
        after_area = dict(zip(after["label"].astype(int), after["area_nm2"], strict=True)) if len(after) else {}
        changed = sorted(
            label for label in set(before_area) | set(after_area) if before_area.get(label) != after_area.get(label)
        )
        new = int(self.layer.selected_label)
        action = "erase" if new == 0 else "paint"
        label = new if new in changed or not changed else changed[0]
        log_edit(self.layer, action, label, f"vesicles changed: {changed}")
        self._show_stats()

    # -- export --------------------------------------------------------------------------------
    def export(self, path: Any, *, kind: str) -> Path | None:
        """Write the vesicles as an ImageJ ROI set (``kind="imagej"``, ROI names = vesicle ids) or as
        QuPath GeoJSON (``kind="geojson"``: classification = morphology, measurements as properties).

        The suffix is set to ``.zip`` / ``.geojson`` when missing. Returns the file written, or None.
        """
        from exo_vision.annotations import outline_mismatches, write_geojson, write_imagej_rois

        layer = self._require_layer()
        if layer is None:
            return None
        path = Path(str(path or "")).expanduser()
        if str(path) in ("", ".") or path.is_dir():
            show_warning('choose a file to export to ("export to")')
            return None
        suffix = ".zip" if kind == "imagej" else ".geojson"
        if path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        labels = np.asarray(layer.data)
        try:
            if kind == "imagej":
                write_imagej_rois(path, labels)
            else:
                write_geojson(path, labels, vesicle_table(layer))
        except (OSError, ValueError) as error:
            show_warning(f"could not write {path}: {error}")
            return None
        show_info(f"{int(len(np.unique(labels[labels > 0])))} vesicles written to {path}")
        if differ := outline_mismatches(labels):
            show_warning(f"{path.name}: {outline_warning(differ)}")
        return path

    # -- edits -------------------------------------------------------------------------------
    def _require_layer(self) -> Any:
        layer = self._find_layer()
        if layer is None:
            show_warning("no vesicle layer: run the Vesicle segmentation widget first")
        elif not same_layer(layer, self.layer):
            self._on_active()
        return layer

    def _commit(self, labels: np.ndarray, action: str, label: int, detail: str = "") -> None:
        self.layer.data = labels
        # napari's undo history holds strokes on the array just replaced: replayed, they brought back part
        # of a deleted vesicle; a dock edit starts a new history (it is logged, and can be redone by hand)
        target = getattr(self.layer, "__wrapped__", self.layer)
        for history in ("_undo_history", "_redo_history"):
            queue = getattr(target, history, None)
            if hasattr(queue, "clear"):
                queue.clear()
        log_edit(self.layer, action, label, detail)
        self.update_measurements()

    def delete(self, label: int | None = None) -> None:
        """Delete one vesicle (default: the label in the widget)."""
        if self._require_layer() is None:
            return
        label = int(self._label.value if label is None else label)
        try:
            labels = delete_label(np.asarray(self.layer.data), label)
        except ValueError as error:
            show_warning(str(error))
            return
        self._commit(labels, "delete", label)

    def merge(self, keep: int | None = None, other: int | None = None) -> None:
        """Merge vesicle ``other`` into ``keep``."""
        if self._require_layer() is None:
            return
        keep = int(self._label.value if keep is None else keep)
        other = int(self._other.value if other is None else other)
        try:
            labels = merge_labels(np.asarray(self.layer.data), keep, other)
        except ValueError as error:
            show_warning(str(error))
            return
        self._commit(labels, "merge", keep, f"merged label {other} into {keep}")
        from exo_vision.annotations import fragmented_labels

        if keep in fragmented_labels(np.where(labels == keep, keep, 0)):
            show_warning(
                f"vesicle {keep} is now in separate pieces (vesicles {keep} and {other} did not touch): it is "
                "measured as one vesicle of their combined area, and exported outlines keep only its largest "
                "piece; undo with split, or merge only the parts of one vesicle"
            )

    def split(self, label: int | None = None) -> None:
        """Split one vesicle in two."""
        if self._require_layer() is None:
            return
        label = int(self._label.value if label is None else label)
        try:
            labels, new_label = split_label(np.asarray(self.layer.data), label)
        except ValueError as error:
            show_warning(str(error))
            return
        self._commit(labels, "split", label, f"new label {new_label}")

    def set_morphology(self, label: int | None = None, morphology: str | None = None) -> None:
        """Override the morphology of one vesicle (kept across re-measurements)."""
        if self._require_layer() is None:
            return
        label = int(self._label.value if label is None else label)
        morphology = self._morphology.value.value if morphology is None else Morphology(morphology).value
        table = vesicle_table(self.layer)
        if label not in set(table["label"].astype(int)):
            show_warning(f"label {label} is not in the vesicle table; pick a vesicle with the colour picker first.")
            return
        old = str(table.loc[table["label"] == label, "morphology"].iloc[0])
        # a new dict each time: napari's Duplicate Layer copies metadata shallowly, and an edit in place reached
        # the original layer too
        self.layer.metadata["morphology_overrides"] = {
            **self.layer.metadata.get("morphology_overrides", {}),
            label: morphology,
        }
        log_edit(self.layer, "set morphology", label, f"{old} -> {morphology}")
        set_vesicle_table(self.layer, table)
        self._show_stats()

    def update_measurements(self) -> None:
        """Re-measure every vesicle after an edit and refresh statistics."""
        image_layer = source_image(self._viewer, self.layer)
        if image_layer is None:
            show_warning(f"the image behind {self.layer.name!r} was closed; measurements cannot be updated.")
            return
        self._measuring = True  # the table this sets is shown once, below, not again by _on_features
        try:
            measure_layer(self.layer, image_layer)
        finally:
            self._measuring = False
        self._show_stats()

    def _on_features(self, _event: Any = None) -> None:
        """The layer's table changed from outside this dock (segmented again, recalibrated): show its statistics."""
        if not self._measuring and self.layer is not None:
            try:
                self._show_stats()
            except RuntimeError:  # the dock was closed since
                return

    def _show_stats(self) -> None:
        table = vesicle_table(self.layer)
        if "equivalent_diameter_nm" not in table.columns:
            self._stats.value = ""
            return
        # vesicles cut by the image edge counted or not as the layer was made (the command line's --include-border)
        self.statistics = layer_statistics(self.layer, n_boot=200)
        self._stats.value = statistics_text(
            self.statistics,
            exclude_border=excludes_border(self.layer.metadata),
            missing=layer_cut_by_missing(self.layer),
        )
        log = self.layer.metadata.get("edit_log", [])
        self._log.value = "" if not log else f"{log[-1]['action']} label {log[-1]['label']} at {log[-1]['time_utc']}"
