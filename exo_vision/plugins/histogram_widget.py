"""Size histogram dock: the current image, a grid's results folder, or several tables by condition."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, Label, PushButton
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer

from exo_vision._shared.atomic import atomic_write_text
from exo_vision._shared.csv_tables import csv_text
from exo_vision.measure.size_stats import size_statistics, weighted_histogram
from exo_vision.measure.tables import DIAMETER_COLUMN as DIAMETER
from exo_vision.measure.tables import NotAVesicleTable, read_vesicle_table, table_group_names, truth_values
from exo_vision.plugins._layers import active_image_layer, enum_choices, find_derived, same_layer
from exo_vision.plugins._vesicles import ROLE, vesicle_table

logger = logging.getLogger(__name__)


class Source(Enum):
    """Where the histogram's vesicles come from."""

    IMAGE = "current image"
    FOLDER = "results folder (grid)"
    TABLES = "tables by condition"


class Weighting(Enum):
    """How each vesicle counts in its bin (d**0, d**3, d**6)."""

    NUMBER = "number"
    VOLUME = "volume"
    INTENSITY = "intensity"


def read_vesicle_tables(paths: list[Path]) -> dict[str, pd.DataFrame]:
    """Read per-vesicle CSV tables, keyed by the group name ``exo-vision histogram`` gives them (a
    ``vesicles.csv`` after its folder, names that would clash extended by more folders); files without a
    diameter column are skipped.

    Raises
    ------
    ValueError
        When none of ``paths`` is a vesicle table, or one cannot be read or
        holds a diameter that is not a positive number
        (:func:`~exo_vision.measure.tables.read_vesicle_table`).
    """
    tables = {}
    names = table_group_names([Path(p) for p in paths])
    for path in paths:
        try:
            tables[names[Path(path)]] = read_vesicle_table(path)
        except NotAVesicleTable:
            logger.info("%s has no %s column; not a vesicle table, skipped", path, DIAMETER)
    if not tables:
        names = ", ".join(str(p) for p in paths) or "(no files)"
        raise ValueError(
            f"no vesicle table among {names}: expected CSV files with an {DIAMETER!r} column, "
            "as written by `exo-vision tem` or the Grid session widget."
        )
    return tables


class HistogramPlot:
    """A matplotlib figure on a Qt canvas drawing weighted size histograms of several groups.

    The bin table of the last draw is kept in :attr:`bins` (tidy: ``group`` first).
    """

    def __init__(self) -> None:
        self.figure = Figure(figsize=(5, 3.2), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.bins = pd.DataFrame(columns=["group", "bin_left_nm", "bin_right_nm", "count", "weight", "fraction"])
        self.statistics: dict[str, dict[str, Any]] = {}

    def draw(
        self,
        groups: dict[str, pd.DataFrame],
        *,
        bin_width_nm: float,
        weighting: str,
        statistics: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Redraw for ``groups`` (name -> vesicle table) with the given bins and weighting (``statistics``:
        each group's :func:`size_statistics` when the caller has them already)."""

        self.figure.clear()
        ax = self.figure.add_subplot(111)
        frames = []
        self.statistics = {}
        self.bins = self.bins.iloc[0:0]  # an export gives what is drawn, even when nothing is
        all_d = [
            t.loc[~truth_values(t.get("touches_border", pd.Series(False, index=t.index))), DIAMETER]
            for t in groups.values()
        ]
        all_d = np.concatenate([np.asarray(d, dtype=float) for d in all_d]) if all_d else np.array([])
        all_d = all_d[np.isfinite(all_d)]
        # One set of bins for every group, aligned on zero as a single group's own bins are.
        range_nm = (
            (float(all_d.min() // bin_width_nm * bin_width_nm), float((all_d.max() // bin_width_nm + 1) * bin_width_nm))
            if all_d.size
            else None
        )
        for i, (name, table) in enumerate(groups.items()):
            stats = (statistics or {}).get(name) or size_statistics(table, n_boot=200)
            self.statistics[name] = stats
            keep = ~truth_values(table.get("touches_border", pd.Series(False, index=table.index)))
            d = table.loc[keep, DIAMETER].to_numpy(dtype=float)
            hist = weighted_histogram(d, bin_width_nm=bin_width_nm, weighting=weighting, range_nm=range_nm)
            frames.append(hist.assign(group=name))
            if not len(hist):
                continue
            label = f"{name}: n={stats['n']}"
            if stats["n"]:
                label += (
                    f", mean {stats['mean_diameter_nm']:.0f}±{np.nan_to_num(stats['sd_diameter_nm']):.0f} nm"
                    f", median {stats['median_diameter_nm']:.0f} nm, mode {stats['mode_diameter_nm']:.0f} nm"
                )
            color = f"C{i % 10}"
            ax.stairs(
                hist["fraction"].to_numpy() * 100,
                np.append(hist["bin_left_nm"].to_numpy(), hist["bin_right_nm"].to_numpy()[-1]),
                fill=len(groups) == 1,
                alpha=0.6 if len(groups) == 1 else 1.0,
                color=color,
                label=label,
            )
        ax.set_xlabel("diameter (nm)")
        ax.set_ylabel(f"{weighting}-weighted fraction (%)")
        if groups:
            ax.legend(fontsize="x-small", loc="upper right")
        else:
            ax.text(0.5, 0.5, "no vesicles", ha="center", va="center", transform=ax.transAxes)
        if frames:
            bins = pd.concat(frames, ignore_index=True)
            self.bins = bins[["group", *[c for c in bins.columns if c != "group"]]]
        self.canvas.draw_idle()

    def export(self, path: str | Path) -> Path:
        """Save the figure (``.png`` at 300 dpi, ``.svg``, ``.pdf``) or the bin table (``.csv``)."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".csv":
            atomic_write_text(target, csv_text(self.bins))
        elif suffix in (".png", ".svg", ".pdf"):
            self.figure.savefig(target, dpi=300)
        else:
            raise ValueError(
                f"cannot export the histogram to {target}: use a .png (300 dpi), .svg, .pdf or .csv (bin table) name."
            )
        return target


class HistogramWidget(Container):
    """Docked size histogram with bin width in nm, weighting, statistics and export."""

    def __init__(self, napari_viewer: Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = viewer = napari_viewer
        self._source = ComboBox(label="vesicles from", choices=enum_choices(Source), value=Source.IMAGE)
        self._folder = FileEdit(label="results folder", mode="d", visible=False)
        self._tables = FileEdit(label="tables (CSV)", mode="rm", filter="*.csv", visible=False)
        self._bin_width = FloatSpinBox(label="bin width (nm)", value=10.0, min=0.5, max=1000.0, step=1.0)
        self._weighting = ComboBox(label="weighting", choices=enum_choices(Weighting), value=Weighting.NUMBER)
        self._update = PushButton(text="Update histogram")
        self._status = Label(value="")
        self._export_path = FileEdit(label="export to", mode="w", filter="*.png *.svg *.pdf *.csv")
        self._export = PushButton(text="Export (PNG 300 dpi / SVG / PDF / bin CSV)")
        self.extend(
            [self._source, self._folder, self._tables, self._bin_width, self._weighting, self._update, self._status]
        )
        self.plot = HistogramPlot()
        self.native.layout().addWidget(self.plot.canvas)
        self.extend([self._export_path, self._export])
        self._watched: Any = None

        self._source.changed.connect(self._on_source)
        self._update.changed.connect(self.refresh)
        self._bin_width.changed.connect(self.refresh)
        self._weighting.changed.connect(self.refresh)
        self._export.changed.connect(self._on_export)
        viewer.layers.selection.events.active.connect(self._on_active)
        self._on_active()

    # -- data ---------------------------------------------------------------------------------
    def groups(self) -> dict[str, pd.DataFrame]:
        """The vesicle tables to plot, keyed by group name, for the chosen source."""
        source = self._source.value
        if source is Source.IMAGE:
            layer = self._vesicle_layer()
            return {} if layer is None else {layer.name: vesicle_table(layer)}
        if source is Source.FOLDER:
            folder = Path(self._folder.value)
            if not folder.is_dir():
                raise ValueError(f"results folder {folder} does not exist; choose the output folder of a grid session.")
            # per-image tables only: a pooled run-level table in the same folder would count twice
            tables = read_vesicle_tables(sorted(folder.glob("*_vesicles.csv")))
            return {folder.name: pd.concat(tables.values(), ignore_index=True)}
        paths = [Path(p) for p in (self._tables.value or [])]
        return read_vesicle_tables(paths) if paths else {}

    def set_tables(self, paths: list[str | Path]) -> None:
        """Show several result tables, one histogram per condition (file stem)."""
        self._source.value = Source.TABLES
        self._tables.value = [str(p) for p in paths]
        self.refresh()

    def set_folder(self, folder: str | Path) -> None:
        """Show the pooled histogram of a results folder (e.g. a grid session's output)."""
        self._source.value = Source.FOLDER
        self._folder.value = str(folder)
        self.refresh()

    def _vesicle_layer(self) -> Any:
        from napari.layers import Labels

        active = self._viewer.layers.selection.active
        if isinstance(active, Labels) and active.metadata.get("exo_vision_role") == ROLE:
            return active
        image = active_image_layer(self._viewer)
        return None if image is None else find_derived(self._viewer, image, ROLE)

    # -- events -------------------------------------------------------------------------------
    def _on_source(self, _value: Any = None) -> None:
        self._folder.visible = self._source.value is Source.FOLDER
        self._tables.visible = self._source.value is Source.TABLES
        self.refresh()

    def _on_active(self, _event: Any = None) -> None:
        layer = self._vesicle_layer()
        if same_layer(layer, self._watched):
            return
        if self._watched is not None:
            self._watched.events.features.disconnect(self.refresh)
        self._watched = layer
        if layer is not None:
            layer.events.features.connect(self.refresh)
        if self._source.value is Source.IMAGE:
            self.refresh()

    def refresh(self, _value: Any = None) -> None:
        """Recompute and redraw the histogram; problems are shown as notifications."""
        try:
            groups = self.groups()
        except (ValueError, OSError) as error:
            show_warning(str(error))
            return
        # a vesicle layer being made or restored may not be measured yet: it is drawn when it is
        groups = {name: table for name, table in groups.items() if DIAMETER in table.columns}
        self.plot.draw(groups, bin_width_nm=self._bin_width.value, weighting=self._weighting.value.value)
        counts = ", ".join(f"{name}: {s['n']}" for name, s in self.plot.statistics.items())
        self._status.value = f"vesicles (border excluded) {counts}" if counts else "no vesicle table yet"

    def _on_export(self, _value: Any = None) -> None:
        path = Path(self._export_path.value)
        if not path.name or path.is_dir():
            show_warning("choose a file name ending in .png, .svg, .pdf or .csv to export the histogram")
            return
        try:
            target = self.plot.export(path)
        except (ValueError, OSError) as error:
            show_warning(str(error))
            return
        show_info(f"histogram exported to {target}")
