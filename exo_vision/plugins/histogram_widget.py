"""Size histogram dock: the current image, a grid's results folder, or several tables by condition."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, PushButton
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.utils.notifications import show_info, show_warning
from napari.viewer import Viewer

from exo_vision._shared.atomic import atomic_write_text
from exo_vision._shared.csv_tables import csv_text
from exo_vision.figures.histogram import legend_above_the_bars, legend_label
from exo_vision.figures.provenance import (
    CAPTION_PT,
    PROVENANCE_COLUMNS,
    histogram_provenance,
    provenance_caption,
    table_provenance,
)
from exo_vision.figures.style import save_figure
from exo_vision.measure.size_stats import size_statistics, weighted_histogram
from exo_vision.measure.tables import DIAMETER_COLUMN as DIAMETER
from exo_vision.measure.tables import (
    TABLE_SUFFIX,
    NotAVesicleTable,
    read_vesicle_table,
    recorded_exclude_border,
    table_group_names,
    truth_values,
)
from exo_vision.plugins._layers import active_image_layer, enum_choices, find_derived, same_layer
from exo_vision.plugins._text import result_text
from exo_vision.plugins._vesicles import ROLE, excludes_border, vesicle_table
from exo_vision.report.session_folder import is_session_folder, read_session_folder
from exo_vision.report.table_copies import CopiesLeftOut, leave_out_copies
from exo_vision.tem_parameters import DEFAULT_TEM_PARAMETERS

logger = logging.getLogger(__name__)

#: Millimetres per inch (a caption is wrapped to the figure's width in mm).
MM_PER_INCH = 25.4


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


def _kept(table: pd.DataFrame, exclude_border: bool) -> pd.Series:
    """Which rows of a vesicle table the statistics count: all, or those not cut by the image edge."""
    if not exclude_border:
        return pd.Series(True, index=table.index)
    return ~truth_values(table.get("touches_border", pd.Series(False, index=table.index)))


class HistogramPlot:
    """A matplotlib figure on a Qt canvas drawing weighted size histograms of several groups.

    The bin table of the last draw is kept in :attr:`bins` (tidy: ``group`` first), where its vesicles come
    from in :attr:`provenance` (:data:`~exo_vision.figures.provenance.PROVENANCE_COLUMNS`): the figure carries it as a
    caption and the exported bin table as its last columns, as ``exo-vision histogram`` writes them.
    """

    def __init__(self) -> None:
        self.figure = Figure(figsize=(5, 3.2), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.bins = pd.DataFrame(columns=["group", "bin_left_nm", "bin_right_nm", "count", "weight", "fraction"])
        self.statistics: dict[str, dict[str, Any]] = {}
        self.provenance: dict[str, str] = dict.fromkeys(PROVENANCE_COLUMNS, "")

    def draw(
        self,
        groups: dict[str, pd.DataFrame],
        *,
        bin_width_nm: float,
        weighting: str,
        statistics: dict[str, dict[str, Any]] | None = None,
        exclude_border: bool | Mapping[str, bool] = True,
        provenance: Mapping[str, str] | None = None,
    ) -> None:
        """Redraw for ``groups`` (name -> vesicle table) with the given bins (nm) and weighting.

        ``statistics`` are each group's :func:`size_statistics` when the caller has them already.
        ``exclude_border`` (one value, or one per group name; True for a group not named) leaves the vesicles
        cut by the image edge (``touches_border``) out of a group's bins and statistics, as ``exo-vision tem``
        does unless ``--include-border``. ``provenance`` (:func:`~exo_vision.figures.provenance.table_provenance`)
        is written under the axes as a caption and kept for the exported bin table ("" where not given).
        """

        def excluded(name: str) -> bool:
            if isinstance(exclude_border, Mapping):
                return bool(exclude_border.get(name, True))
            return bool(exclude_border)

        self.figure.clear()
        self.provenance = {column: str((provenance or {}).get(column, "")) for column in PROVENANCE_COLUMNS}
        caption = provenance_caption(self.provenance, width_mm=self.figure.get_figwidth() * MM_PER_INCH)
        if caption:  # under the axes, where constrained layout keeps room for it
            self.figure.supxlabel(caption, fontsize=CAPTION_PT, x=0.01, ha="left", multialignment="left")
        ax = self.figure.add_subplot(111)
        frames = []
        self.statistics = {}
        self.bins = self.bins.iloc[0:0]  # an export gives what is drawn, even when nothing is
        all_d = [t.loc[_kept(t, excluded(name)), DIAMETER] for name, t in groups.items()]
        all_d = np.concatenate([np.asarray(d, dtype=float) for d in all_d]) if all_d else np.array([])
        all_d = all_d[np.isfinite(all_d)]
        # One set of bins for every group, aligned on zero as a single group's own bins are.
        range_nm = (
            (float(all_d.min() // bin_width_nm * bin_width_nm), float((all_d.max() // bin_width_nm + 1) * bin_width_nm))
            if all_d.size
            else None
        )
        tallest = 0.0
        for i, (name, table) in enumerate(groups.items()):
            stats = (statistics or {}).get(name) or size_statistics(table, exclude_border=excluded(name), n_boot=200)
            self.statistics[name] = stats
            d = table.loc[_kept(table, excluded(name)), DIAMETER].to_numpy(dtype=float)
            hist = weighted_histogram(d, bin_width_nm=bin_width_nm, weighting=weighting, range_nm=range_nm)
            frames.append(hist.assign(group=name))
            if not len(hist):
                continue
            # the statistics weighted as the bars are (a volume-weighted figure labelled with the number mean
            # and mode misread as its own); the figures' legend text, so the dock's export matches the CLI's
            cut = (
                int(truth_values(table["touches_border"]).sum())
                if not excluded(name) and "touches_border" in table.columns
                else 0
            )
            label = legend_label(name, d, weighting=weighting, edge_cut=cut)
            heights = hist["fraction"].to_numpy() * 100
            tallest = max(tallest, float(np.max(heights, initial=0.0)))
            color = f"C{i % 10}"
            ax.stairs(
                heights,
                np.append(hist["bin_left_nm"].to_numpy(), hist["bin_right_nm"].to_numpy()[-1]),
                fill=len(groups) == 1,
                alpha=0.6 if len(groups) == 1 else 1.0,
                color=color,
                label=label,
            )
        ax.set_xlabel(f"Diameter (nm); bin width {bin_width_nm:g} nm")
        ax.set_ylabel(f"{weighting.capitalize()}-weighted fraction (%)")
        if groups:
            # above the tallest bar (the y limit leaves it room), never over one
            legend_above_the_bars(self.figure, ax, max(tallest, 1e-12), fontsize="x-small")
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
        if suffix == ".csv":  # where the diameters come from, as the last columns (every row the same)
            atomic_write_text(target, csv_text(self.bins.assign(**self.provenance)))
        elif suffix in (".png", ".svg", ".pdf"):
            save_figure(self.figure, target)  # as the CLI saves its figures: text stays text in an SVG/PDF
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
        self._status = result_text(value="")
        self._export_path = FileEdit(label="export to", mode="w", filter="*.png *.svg *.pdf *.csv")
        self._export = PushButton(text="Export (PNG 300 dpi / SVG / PDF / bin CSV)")
        self.extend(
            [self._source, self._folder, self._tables, self._bin_width, self._weighting, self._update, self._status]
        )
        self.plot = HistogramPlot()
        self.native.layout().addWidget(self.plot.canvas)
        self.extend([self._export_path, self._export])
        self._watched: Any = None
        #: Per group drawn: whether the vesicles cut by the image edge are left out (the setting its vesicles
        #: were made with: the layer's parameters, or the done markers / run.json beside the tables).
        self.exclude_border: dict[str, bool] = {}
        #: The copies of micrographs left out of the tables drawn last (each micrograph counted once, as
        #: ``exo-vision tem``, ``report`` and ``histogram`` count it); None for the current image.
        self.copies: CopiesLeftOut | None = None
        #: Per condition (table) that holds only copies of micrographs counted under another, the sentence
        #: saying so (shown in the status instead of an empty group).
        self.only_copies: list[str] = []
        self._warned_copies: list[str] = []
        #: Where the vesicles drawn last come from (:func:`~exo_vision.figures.provenance.table_provenance`, as
        #: ``exo-vision histogram`` finds it for the same tables; for the current image, its layer's record).
        self.provenance: dict[str, str] = {}

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
        return self._groups_and_rules()[0]

    def _groups_and_rules(self) -> tuple[dict[str, pd.DataFrame], dict[str, bool]]:
        """The vesicle tables to plot by group name, and for each whether the vesicles cut by the image edge
        are left out: as its layer was made, or as recorded beside its tables (``exo-vision tem``'s default,
        leave them out, when nothing is recorded)."""
        default = DEFAULT_TEM_PARAMETERS.exclude_border
        source = self._source.value
        self.copies = None
        self.only_copies = []
        self.provenance = {}
        if source is Source.IMAGE:
            layer = self._vesicle_layer()
            if layer is None:
                return {}, {}
            self.provenance = layer_provenance(layer.metadata, vesicle_table(layer))
            return {layer.name: vesicle_table(layer)}, {layer.name: excludes_border(layer.metadata)}
        if source is Source.FOLDER:
            folder = Path(self._folder.value)
            if not folder.is_dir():
                raise ValueError(f"results folder {folder} does not exist; choose the output folder of a grid session.")
            # per-image tables only: a pooled run-level table in the same folder would count twice
            paths = sorted(folder.glob(f"*{TABLE_SUFFIX}"))
            tables = self._counted_once(paths, read_vesicle_tables(paths))
            recorded = {value for path in paths if (value := recorded_exclude_border(path)) is not None}
            if len(recorded) > 1:
                show_warning(
                    f"the results in {folder} were made partly counting the vesicles cut by the image edge and "
                    "partly not: the histogram leaves them out, as exo-vision tem does by default; "
                    f"`exo-vision tem <micrographs folder> --out {folder} --resume --include-border` counts them "
                    "in every micrograph"
                )
            rule = recorded.pop() if len(recorded) == 1 else default
            self.provenance = self._tables_provenance(dict.fromkeys(paths, not rule), _session_runs(folder, paths))
            return {folder.name: pd.concat(tables.values(), ignore_index=True)}, {folder.name: rule}
        paths = [Path(p) for p in (self._tables.value or [])]
        if not paths:
            return {}, {}
        tables = self._counted_once(paths, read_vesicle_tables(paths))
        names = table_group_names(paths)
        if self.copies is not None:  # a condition of copies only: said in the status, not drawn as an empty group
            self.only_copies = self.copies.only_copies_lines(names)
            for path in self.copies.only_copies:
                tables.pop(names[path], None)
        rules = {}
        for path in paths:
            if names[path] in tables:
                recorded_rule = recorded_exclude_border(path)
                rules[names[path]] = default if recorded_rule is None else recorded_rule
        self.provenance = self._tables_provenance({path: not rules.get(names[path], default) for path in paths}, {})
        return tables, rules

    def _tables_provenance(self, keep_edge: dict[Path, bool], session_runs: dict[Path, dict]) -> dict[str, str]:
        """The provenance of the tables left after the copies (:attr:`copies`), as ``exo-vision histogram`` gives
        it for them."""
        if self.copies is None:
            return {}
        return table_provenance(self.copies.tables, keep_edge, session_runs)[0]

    def _counted_once(self, paths: list[Path], tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """``tables`` (by group name) without the vesicles of copies of a micrograph counted from an earlier
        table (:func:`~exo_vision.report.table_copies.leave_out_copies`); what was left out in :attr:`copies`."""
        names = table_group_names(paths)
        read = [(path, tables[names[path]]) for path in paths if names[path] in tables]
        self.copies = leave_out_copies(read)
        return {names[path]: table for path, table in self.copies.tables}

    def set_tables(self, paths: list[str | Path]) -> None:
        """Show several result tables, one histogram per condition (file stem)."""
        self._source.value = Source.TABLES
        self._tables.value = [str(p) for p in paths]
        self.refresh()

    def set_folder(self, folder: str | Path) -> None:
        """Show the pooled histogram of a results folder (e.g. a grid session's output)."""
        self._folder.value = str(folder)  # first: switching the source draws the folder it names
        if self._source.value is Source.FOLDER:
            self.refresh()
        else:
            self._source.value = Source.FOLDER

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
        if self._source.value is Source.FOLDER and str(self._folder.value) in ("", "."):
            return  # no folder chosen yet: nothing to draw, and nothing to warn about
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
            groups, rules = self._groups_and_rules()
        except (ValueError, OSError) as error:
            show_warning(str(error))
            return
        # a vesicle layer being made or restored may not be measured yet: it is drawn when it is
        groups = {name: table for name, table in groups.items() if DIAMETER in table.columns}
        self.exclude_border = {name: rules.get(name, True) for name in groups}
        self.plot.draw(
            groups,
            bin_width_nm=self._bin_width.value,
            weighting=self._weighting.value.value,
            exclude_border=self.exclude_border,
            provenance=self.provenance,
        )
        self._status.value = _status_text(self.plot.statistics, self.exclude_border) + _copies_text(
            self.copies, self.only_copies
        )
        lines = self.copies.lines if self.copies is not None else []
        if lines and lines != self._warned_copies:  # named once per set of copies, not on every redraw
            show_warning(
                f"{len(lines)} copied micrograph(s) left out, each micrograph counted once: " + "; ".join(lines)
            )
        self._warned_copies = lines

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


def _session_runs(folder: Path, paths: list[Path]) -> dict[Path, dict]:
    """For a napari grid session's output folder, its run record (as ``exo-vision histogram <folder>`` builds it:
    :func:`~exo_vision.report.session_folder.read_session_folder`) for each of its per-image tables; {} for any
    other folder, or a session with a micrograph not saved yet."""
    if not is_session_folder(folder):
        return {}
    try:
        run = read_session_folder(folder, option="the Size histogram dock's results folder")[0]
    except (ValueError, OSError):
        return {}
    return dict.fromkeys(paths, run)


def layer_provenance(metadata: Mapping[str, Any], table: pd.DataFrame) -> dict[str, str]:
    """The provenance of a vesicle layer's histogram from its ``metadata`` (pixel size and source, segmenter,
    parameters, warnings) and its vesicle ``table`` (the vesicles cut by the image edge it leaves out)."""
    record = {key: metadata.get(key) for key in ("pixel_size_nm", "pixel_size_source", "segmenter", "warnings")}
    parameters = metadata.get("parameters") or {}
    left_out = (
        int(truth_values(table["touches_border"]).sum())
        if excludes_border(dict(metadata)) and "touches_border" in table.columns
        else 0
    )
    return histogram_provenance(
        [record], min_diameters_nm=[parameters.get("min_diameter_nm")], n_edge_left_out=left_out
    )


def _status_text(statistics: dict[str, dict[str, Any]], exclude_border: dict[str, bool]) -> str:
    """The dock's line under the buttons: vesicles counted per group, and whether those cut by the image edge
    are among them."""
    if not statistics:
        return "no vesicle table yet"
    rules = {exclude_border.get(name, True) for name in statistics}
    if len(rules) == 1:
        which = "cut by the image edge left out" if rules.pop() else "cut by the image edge counted"
        return f"vesicles ({which}) " + ", ".join(f"{name}: {s['n']}" for name, s in statistics.items())
    return "vesicles " + ", ".join(
        f"{name}: {s['n']} (edge-cut {'left out' if exclude_border.get(name, True) else 'counted'})"
        for name, s in statistics.items()
    )


def _copies_text(copies: CopiesLeftOut | None, only_copies: Sequence[str] = ()) -> str:
    """The dock's line on copies of a micrograph left out of the tables drawn (empty when there are none), then
    ``only_copies``: a line per condition not drawn because it holds only copies of micrographs counted under
    another."""
    if copies is None or not copies.lines:
        return ""
    return (
        f"\n{len(copies.lines)} copied micrograph(s) left out ({copies.n_vesicles} counted vesicle(s)): each "
        "micrograph counted once, as exo-vision tem, report and histogram count it"
        + "".join(f"\n{line}" for line in only_copies)
    )
