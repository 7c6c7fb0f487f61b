"""Shared by the segmentation, curation, calibration and grid-session widgets:
put a vesicle table on a Labels layer, colour it by morphology, re-measure after edits."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd
from napari.utils.notifications import show_warning

from exo_vision._shared.validation import check_pixel_size
from exo_vision.measure.tables import cut_by_missing_flags, truth_values
from exo_vision.measure.vesicles import carry_confidence, confidence_reference
from exo_vision.plugins._layers import (
    SOURCE_KEY,
    derived_layers,
    find_derived,
    image_data_from_layer,
    layer_id,
    layer_pixel_size,
    rescaled_without_units,
    restore_frame_units,
)
from exo_vision.session.curation import edit_log_table, edit_record
from exo_vision.tem_analysis import cut_where, measure_micrograph_vesicles
from exo_vision.tem_parameters import DEFAULT_TEM_PARAMETERS

#: metadata key of the vesicle layer's :func:`~exo_vision.measure.vesicles.confidence_reference`: the outlines and
#: confidence of its vesicles as segmented (or saved), which re-measuring after an edit keeps for unchanged ones.
CONFIDENCE_KEY = "confidence_reference"
#: metadata role of the vesicle Labels layer.
ROLE = "vesicles"
#: RGBA colour of each morphology class (round blue, cup orange, irregular magenta).
MORPHOLOGY_COLORS = {
    "round": (0.20, 0.55, 1.00, 1.0),
    "cup": (1.00, 0.60, 0.10, 1.0),
    "irregular": (0.90, 0.20, 0.80, 1.0),
}
#: Colour of a label whose morphology is unknown.
OTHER_COLOR = (0.7, 0.7, 0.7, 1.0)
#: Opacity of a vesicle cut by the image edge while the statistics leave it out (``touches_border``, the
#: default ``exclude_border``): it keeps its morphology's hue but is drawn faded, as the batch overlay's teal
#: outline says. Counted (``exclude_border`` false, ``--include-border``), it is drawn like any other.
EDGE_ALPHA = 0.35


def excludes_border(metadata: dict[str, Any] | None) -> bool:
    """Whether the statistics of a vesicle layer leave out the vesicles cut by the image edge.

    Parameters
    ----------
    metadata : dict or None
        The layer's ``metadata``; its ``parameters`` (the analysis parameters the layer was made with) give
        ``exclude_border``.

    Returns
    -------
    bool
        ``parameters["exclude_border"]``; True (the command line's default) when the layer records none
        (a layer opened from a file, or made by an older version).
    """
    parameters = (metadata or {}).get("parameters") or {}
    value = parameters.get("exclude_border", DEFAULT_TEM_PARAMETERS.exclude_border)
    return bool(value)


def layer_statistics(layer: Any, *, n_boot: int) -> dict[str, Any]:
    """:func:`~exo_vision.measure.size_stats.size_statistics` of a vesicle layer's table, with the border
    rule, size range and bootstrap seed the layer was made with (those of ``exo-vision tem`` when it records
    none), and ``n_boot`` resamples for the confidence intervals."""
    from exo_vision.measure.size_stats import size_statistics

    parameters = layer.metadata.get("parameters") or {}
    size_range = parameters.get("size_range_nm") or DEFAULT_TEM_PARAMETERS.size_range_nm
    return size_statistics(
        vesicle_table(layer),
        exclude_border=excludes_border(layer.metadata),
        size_range_nm=(float(size_range[0]), float(size_range[1])),
        n_boot=n_boot,
        rng=int(parameters.get("seed", DEFAULT_TEM_PARAMETERS.seed)),
    )


def morphology_colormap(table: pd.DataFrame, *, exclude_border: bool = True) -> Any:
    """A napari ``DirectLabelColormap`` colouring each label by its ``morphology``.

    Vesicles cut by the image edge (``touches_border``) keep their colour at opacity ``EDGE_ALPHA``
    when the statistics leave them out (``exclude_border``).

    Parameters
    ----------
    table : pandas.DataFrame
        Vesicle table with ``label`` and ``morphology`` columns (and
        optionally ``touches_border``).
    exclude_border : bool
        The ``exclude_border`` the layer's statistics use (:func:`excludes_border`).
    """
    from napari.utils.colormaps import DirectLabelColormap

    colors: dict[Any, tuple] = {None: OTHER_COLOR, 0: (0.0, 0.0, 0.0, 0.0)}
    if "morphology" in table.columns:
        edge = (
            truth_values(table["touches_border"]).to_numpy()
            if exclude_border and "touches_border" in table.columns
            else np.zeros(len(table), bool)
        )
        for label, morph, cut in zip(table["label"].to_numpy(), table["morphology"].astype(str), edge, strict=True):
            rgba = MORPHOLOGY_COLORS.get(morph, OTHER_COLOR)
            colors[int(label)] = (*rgba[:3], EDGE_ALPHA) if cut else rgba
    return DirectLabelColormap(color_dict=colors)


def apply_overrides(table: pd.DataFrame, overrides: dict[int, str]) -> pd.DataFrame:
    """Return ``table`` with the user's morphology overrides applied (labels that still exist)."""
    if not overrides or table.empty:
        return table
    out = table.copy()
    for label, morph in overrides.items():
        out.loc[out["label"] == int(label), "morphology"] = morph
    return out


def layer_tables(table: pd.DataFrame, overrides: dict[int, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The vesicle table with ``overrides`` applied, and the ``features`` frame napari shows for it.

    Returns
    -------
    (table, features)
        ``features`` is ``table`` plus the ``index`` column holding each row's label value,
        through which napari looks a label's row up.
    """
    table = apply_overrides(table.reset_index(drop=True), overrides or {})
    features = table.assign(index=table["label"].to_numpy()) if "label" in table.columns else table
    return table, features


def set_vesicle_table(layer: Any, table: pd.DataFrame, *, colormap: Any = None) -> None:
    """Store ``table`` as the layer's ``features`` and recolour by morphology.

    ``colormap`` is :func:`morphology_colormap` of ``table`` (with the layer's :func:`excludes_border`) when
    the caller built it already (e.g. in a worker thread); it must not be passed when the layer has morphology
    overrides.
    """
    overrides = layer.metadata.get("morphology_overrides", {})
    if overrides and "label" in table.columns:
        # Overrides of vesicles no longer in the table (deleted, merged away, erased) go, so that an id
        # given to a new vesicle later (a split takes the highest id plus one) does not inherit one.
        present = set(table["label"].astype(int))
        overrides = {label: morph for label, morph in overrides.items() if int(label) in present}
        layer.metadata["morphology_overrides"] = overrides
    table, features = layer_tables(table, overrides)
    # the table first: setting features tells listeners (the histogram dock) to read it
    layer.metadata["vesicle_table"] = table
    layer.features = features
    if colormap is None or overrides:
        colormap = morphology_colormap(table, exclude_border=excludes_border(layer.metadata))
    layer.colormap = colormap


def set_exclude_border(layer: Any, exclude_border: bool) -> None:
    """Record on a vesicle layer whether its statistics leave out the vesicles cut by the image edge (its
    ``parameters["exclude_border"]``; the labels do not depend on it), and redraw those vesicles faded or not.

    Its table is set again, so that the docks following it (histogram, curation, segmentation summary)
    recount.
    """
    layer.metadata["parameters"] = {**(layer.metadata.get("parameters") or {}), "exclude_border": bool(exclude_border)}
    set_vesicle_table(layer, vesicle_table(layer))


def vesicle_table(layer: Any) -> pd.DataFrame:
    """The per-vesicle table of a vesicle Labels layer (its ``features``)."""
    table = layer.metadata.get("vesicle_table")
    if isinstance(table, pd.DataFrame):
        return table
    return pd.DataFrame(layer.features)


def measure_layer(labels_layer: Any, image_layer: Any) -> pd.DataFrame:
    """Re-measure every vesicle of ``labels_layer`` against its image, in the image's calibration.

    Returns
    -------
    pandas.DataFrame
        The core's :func:`~exo_vision.tem_analysis.measure_micrograph_vesicles` table
        (overrides applied; the confidence of each vesicle whose outline is as segmented kept,
        :func:`~exo_vision.measure.vesicles.carry_confidence`), also stored on the layer.
    """

    image = image_data_from_layer(image_layer)
    polarity = labels_layer.metadata.get("polarity") or image.polarity or "dark"
    labels = np.asarray(labels_layer.data)
    table = measure_micrograph_vesicles(labels, image, polarity=polarity)
    # an outline no edit changed keeps the segmentation's confidence; an edited or new one has none (NaN)
    table = carry_confidence(table, labels, labels_layer.metadata.get(CONFIDENCE_KEY))
    set_vesicle_table(labels_layer, table)
    return vesicle_table(labels_layer)


def add_vesicle_layer(
    viewer: Any,
    image_layer: Any,
    labels: np.ndarray,
    table: pd.DataFrame,
    *,
    polarity: str | None,
    extra_metadata: dict[str, Any] | None = None,
    colormap: Any = None,
    visible: bool = True,
) -> Any:
    """Show ``labels`` as the image's one vesicle Labels layer (replaced on re-run).

    Parameters
    ----------
    viewer : napari.Viewer
    image_layer : napari.layers.Image
        The micrograph the labels belong to (its scale is copied).
    labels : (M, N) ndarray of int
        Best already in its smallest dtype (:func:`compact_labels`, e.g. done by the worker).
    table : pandas.DataFrame
        One row per label (``features``).
    polarity : {"dark", "bright"} or None
        Stain polarity used, kept for re-measurement.
    extra_metadata : dict, optional
        More entries for the layer's ``metadata``; its ``parameters`` (the analysis parameters) say whether
        the vesicles cut by the image edge are counted or drawn faded (:func:`excludes_border`).
    colormap : napari DirectLabelColormap, optional
        :func:`morphology_colormap` of ``table``, when built already off the GUI thread.
    visible : bool
        Visibility of a new layer (a replaced layer keeps its own).

    Returns
    -------
    napari.layers.Labels
        The existing vesicle layer of ``image_layer`` with new data, else a new one
        (:func:`new_vesicle_layer`) added to ``viewer``.
    """

    follow_scale(viewer, image_layer)
    existing = find_derived(viewer, image_layer, ROLE)
    if existing is None:
        layer = new_vesicle_layer(
            image_layer,
            labels,
            table,
            polarity=polarity,
            extra_metadata=extra_metadata,
            colormap=colormap,
            visible=visible,
        )
        return viewer.add_layer(layer)
    existing.metadata.update(_vesicle_metadata(image_layer, polarity, extra_metadata))
    existing.metadata[CONFIDENCE_KEY] = confidence_reference(labels, table)
    existing.data = compact_labels(labels)
    existing.scale = image_layer.scale
    existing.units = image_layer.units
    existing.translate = image_layer.translate
    set_vesicle_table(existing, table, colormap=colormap)
    return existing


def new_vesicle_layer(
    image_layer: Any,
    labels: np.ndarray,
    table: pd.DataFrame,
    *,
    polarity: str | None,
    extra_metadata: dict[str, Any] | None = None,
    colormap: Any = None,
    visible: bool = True,
) -> Any:
    """A vesicle Labels layer for ``image_layer``, not yet in a viewer (parameters as :func:`add_vesicle_layer`).

    It gets its features and colours at creation, so that napari, when the layer is added,
    builds its visual and uploads the label texture once. A layer created hidden and shown in
    a later event-loop turn keeps that first texture upload out of the turn that adds it.
    """
    from napari.layers import Labels

    metadata = _vesicle_metadata(image_layer, polarity, extra_metadata)
    if colormap is None:
        colormap = morphology_colormap(table, exclude_border=excludes_border(metadata))
    # the segmentation's confidence in each vesicle, kept through edits for the vesicles they leave as they are
    metadata[CONFIDENCE_KEY] = confidence_reference(labels, table)
    table, features = layer_tables(table)
    metadata["vesicle_table"] = table
    return Labels(
        compact_labels(labels),
        name=f"{image_layer.name} vesicles",
        scale=image_layer.scale,
        units=image_layer.units,
        translate=image_layer.translate,  # drawn on the image where it sits (a stage offset, a moved layer)
        metadata=metadata,
        opacity=0.5,
        features=features,
        colormap=colormap,
        visible=visible,
    )


def _vesicle_metadata(image_layer: Any, polarity: str | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata of a (re-)made vesicle layer: its image, polarity, a fresh edit log and no overrides."""
    return {
        SOURCE_KEY: layer_id(image_layer),
        "exo_vision_role": ROLE,
        "polarity": polarity,
        "pixel_size_nm": image_layer.metadata.get("pixel_size_nm"),
        "pixel_size_source": image_layer.metadata.get("pixel_size_source"),
        "edit_log": [],
        "morphology_overrides": {},
        **(extra or {}),
    }


def compact_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` in the smallest unsigned dtype that holds them (uint8 / uint16, else unchanged).

    napari draws small-dtype label images without remapping them on the CPU: a direct
    colormap is a lookup table over the whole dtype range (256 entries for uint8,
    65536 for uint16). uint8 and uint16 input is returned as is, without a pass over it.
    """
    labels = np.asarray(labels)
    if labels.dtype in (np.uint8, np.uint16) or not labels.size or labels.min() < 0:
        return labels
    top = int(labels.max())
    for dtype in (np.uint8, np.uint16):
        if top <= np.iinfo(dtype).max:
            return labels.astype(dtype, copy=False)
    return labels


def log_edit(layer: Any, action: str, label: int | None, detail: str = "") -> None:
    """Append one curation edit (what, which label, when) to the layer's edit log."""
    # a new list each time (not an append): a duplicated layer shares its original's metadata objects
    layer.metadata["edit_log"] = [*layer.metadata.get("edit_log", []), edit_record(action, label, detail)]


def edit_log_frame(layer: Any) -> pd.DataFrame:
    """The layer's edit log as a tidy table (columns :data:`exo_vision.session.curation.EDIT_LOG_COLUMNS`)."""
    return edit_log_table(layer.metadata.get("edit_log", []))


#: Metadata key of a vesicle layer: pixels without a value cut some of its vesicles (flagged ``touches_border``).
CUT_BY_MISSING_KEY = "cut_by_missing_pixels"


def layer_cut_by_missing(layer: Any) -> bool:
    """Whether pixels without a value cut vesicles of a vesicle layer: its run's warnings said so
    (:data:`CUT_BY_MISSING_KEY`) or its table flags some ``touches_missing`` (a saved micrograph brought back
    by the grid session has no run's warnings)."""
    return bool(layer.metadata.get(CUT_BY_MISSING_KEY)) or bool(cut_by_missing_flags(vesicle_table(layer)).any())


def statistics_text(stats: dict[str, Any], *, exclude_border: bool = True, missing: bool = False) -> str:
    """One-paragraph summary of :func:`~exo_vision.measure.size_stats.size_statistics`.

    Parameters
    ----------
    stats : dict
        The statistics.
    exclude_border : bool
        The ``exclude_border`` they were computed with: the text says how many vesicles cut by the image
        edge were left out, or that they are counted.
    missing : bool
        Whether pixels without a value cut some of them too (they are flagged as cut by the edge;
        :func:`exo_vision.tem_analysis.cut_by_missing`): the text then names both.
    """
    n, cut = stats.get("n", 0), stats.get("n_excluded_border", 0)
    where = cut_where(missing=missing)
    if not exclude_border:
        border = f"\nvesicles {where} counted" if n else ""
    else:
        border = f"\n{cut} {where} not counted" if cut else ""
    if not n:
        return "no vesicles" + border
    parts = [
        f"n = {n}",
        f"mean {stats['mean_diameter_nm']:.1f} nm"
        + (f" (SD {stats['sd_diameter_nm']:.1f})" if np.isfinite(stats["sd_diameter_nm"]) else " (one vesicle: no SD)"),
        f"median {stats['median_diameter_nm']:.1f} nm",
        f"D10/D50/D90 {stats['d10_nm']:.0f}/{stats['d50_nm']:.0f}/{stats['d90_nm']:.0f} nm",
    ]
    morph = [f"{m} {stats.get(f'n_{m}', 0)}" for m in ("round", "cup", "irregular")]
    touching = stats.get("fraction_touching", float("nan"))
    if np.isfinite(touching):  # NaN for the table of an older run (no touches_other column)
        morph.append(f"touching another {100 * touching:.0f} %")
    return "; ".join(parts) + "\n" + ", ".join(morph) + border


def apply_pixel_size(viewer: Any, image_layer: Any, pixel_size_nm: float, *, source: str) -> None:
    """Calibrate ``image_layer`` to ``pixel_size_nm`` and propagate it.

    Sets the image's ``scale``/``units`` and metadata, gives every derived layer the
    same scale, and re-measures every vesicle Labels layer made from it, so all
    tables are in the new nm.

    Parameters
    ----------
    viewer : napari.Viewer
    image_layer : napari.layers.Image
    pixel_size_nm : float
        Pixel edge length in nanometres (positive).
    source : str
        Provenance shown to the user and saved with results.

    Raises
    ------
    ValueError
        When ``pixel_size_nm`` is not a positive finite number, or the layer is not one 2-D
        image (nothing is changed then).
    """
    try:
        value = check_pixel_size(pixel_size_nm)
    except ValueError as err:
        raise ValueError(f"{err}; the calibration was not changed") from None
    image_data_from_layer(image_layer)  # refuses a stack before anything changes
    layers = [image_layer, *derived_layers(viewer, image_layer)]
    saved = [_layer_state(layer) for layer in layers]
    try:
        image_layer.metadata.update(
            {"pixel_size_nm": value, "pixel_size_yx_nm": (value, value), "pixel_size_source": source}
        )
        # units before scale: the scale's event (followed by follow_scale) must read the new value in nm, not in
        # the unit the layer had (an image from another reader in µm)
        image_layer.units = ("nm", "nm")
        image_layer.scale = (value, value)
        for layer in layers[1:]:
            layer.units = ("nm", "nm")
            layer.scale = (value, value)
            layer.metadata["pixel_size_nm"] = value
            layer.metadata["pixel_size_source"] = source
            if layer.metadata.get("exo_vision_role") == ROLE:
                measure_layer(layer, image_layer)
    except ValueError as err:  # a re-measurement refused the new size: every layer goes back as it was
        for state in saved:
            _restore_layer_state(state)
        raise ValueError(f"{err}; the calibration was not changed") from None
    viewer.reset_view()


def _layer_state(layer: Any) -> tuple[Any, tuple, tuple, dict, Any]:
    """What :func:`apply_pixel_size` changes on a layer: its units, scale, metadata and features."""
    features = layer.features.copy() if hasattr(layer, "features") else None
    return layer, tuple(layer.units), tuple(layer.scale), dict(layer.metadata), features


def _restore_layer_state(state: tuple[Any, tuple, tuple, dict, Any]) -> None:
    """Put back a layer's state saved by :func:`_layer_state`."""
    layer, units, scale, metadata, features = state
    layer.units = units
    layer.scale = scale
    layer.metadata.clear()
    layer.metadata.update(metadata)
    if features is not None:
        layer.features = features


#: Image layers whose napari scale is followed (:func:`follow_scale`), held weakly.
_FOLLOWED: weakref.WeakSet = weakref.WeakSet()


def follow_scale(viewer: Any, image_layer: Any) -> None:
    """Recalibrate ``image_layer`` and re-measure its vesicles when its napari ``scale`` is set outside the
    Calibration dock (console, script, another plugin), so that the numbers follow what napari shows."""
    target = getattr(image_layer, "__wrapped__", image_layer)
    restore_frame_units(target)  # a frame split from a stack: its nm units first, so its scale reads as nm
    if target in _FOLLOWED:
        return
    _FOLLOWED.add(target)
    _say_unit_less_rescale(target)
    viewer_ref, layer_ref = weakref.ref(getattr(viewer, "__wrapped__", viewer)), weakref.ref(target)
    target.events.scale.connect(lambda _event=None: _adopt_scale(viewer_ref(), layer_ref()))


def _say_unit_less_rescale(image_layer: Any) -> None:
    """Warn when a layer's napari scale, in pixel units, was changed from the nm/px the reader recorded before any
    exo_vision dock saw it (a split frame rescaled by hand): napari's pixel units say no length, so exo_vision
    keeps measuring at the recorded value, and says so."""
    if not rescaled_without_units(image_layer):
        return
    recorded = image_layer.metadata["pixel_size_yx_nm"]
    show_warning(
        f"the scale of {image_layer.name!r} was changed in napari to {tuple(float(v) for v in image_layer.scale)} "
        f"in pixel units, which give no length: exo_vision measures it at its file's "
        f"{float(np.mean(recorded)):.4g} nm/px. To measure at another pixel size, set it in the Calibration dock"
    )


def _adopt_scale(viewer: Any, image_layer: Any) -> None:
    if viewer is None or image_layer is None or image_layer not in viewer.layers:
        return
    before = (image_layer.metadata or {}).get("pixel_size_nm")
    px, source = layer_pixel_size(image_layer)
    if before is None or px is None or np.isclose(px, float(before), rtol=1e-9, atol=0.0):
        return
    try:
        apply_pixel_size(viewer, image_layer, px, source=source)
    except ValueError as error:
        show_warning(str(error))
        return
    show_warning(
        f"the scale of {image_layer.name!r} was set in napari to {px:.4g} nm/px (it was {float(before):.4g} nm/px): "
        "exo_vision measures at it now, and re-measured the vesicles made from it; use the Calibration dock to "
        "set it back"
    )


#: Viewers whose inserted layers :func:`watch_split_frames` checks, held weakly.
_WATCHED: weakref.WeakSet = weakref.WeakSet()


def watch_split_frames(viewer: Any) -> None:
    """Restore the nm units of split frames (:func:`restore_frame_units`) in ``viewer`` now and whenever a
    layer is added, once per viewer whichever docks ask."""
    target = getattr(viewer, "__wrapped__", viewer)
    if target in _WATCHED:
        return
    _WATCHED.add(target)
    for layer in list(target.layers):
        restore_frame_units(layer)
    target.layers.events.inserted.connect(lambda event: restore_frame_units(event.value))
