"""The grid session without a GUI: one folder of micrographs (one grid), which one is current, which are
saved, the settings and model in use, saving each curated micrograph in the files ``exo-vision tem``
writes, and resuming a half-done session from its output folder.

The napari dock (:mod:`exo_vision.plugins.grid_session_widget`) shows layers and runs workers; every
decision about files and state is here, so a script or a test can drive a whole session.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exo_vision._shared.atomic import TEMP_PREFIX, atomic_write_text, sha256_file
from exo_vision._shared.csv_tables import read_written_csv
from exo_vision._shared.paths import assign_stems
from exo_vision.batch.config import PARAMETER_NAMES, TemBatchConfig
from exo_vision.io.image_data import ImageData
from exo_vision.session.curation import (
    CuratedResult,
    SavedMicrograph,
    curation_counts,
    read_saved,
    write_curation_record,
)
from exo_vision.tem_parameters import TemParameters

logger = logging.getLogger(__name__)

#: Session state file written in the output folder (what is done, where the user was).
SESSION_FILE = "exo_vision_session.json"
#: Keys of :meth:`TemBatchConfig.analysis_parameters` that concern reading the file, not analysing it.
READING_PARAMETERS = (
    "pixel_size_nm",
    "frame",
    "scale_bar",
    "model_sha256",
    "model_version",
    "model_settings_sha256",
    "model_card_sha256",
    "save_rois",
)


def list_micrographs(folder: str | Path) -> list[Path]:
    """Micrograph files of a grid folder, sorted by name (non-recursive).

    Exactly the files ``exo-vision tem <folder>`` analyses, so both name their outputs alike.

    Raises
    ------
    ValueError
        When the folder does not exist or holds no readable image.
    """
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
    return {k: v for k, v in cli_parameters.items() if k not in READING_PARAMETERS}


@dataclass(frozen=True)
class GridSettings:
    """The settings a user chooses for a grid: segmentation method, model file, size range, sensitivity,
    stain polarity (``"auto"``, ``"bright"`` or ``"dark"`` vesicles) and whether the statistics leave out the
    vesicles cut by the image edge (``exclude_border``; False is the command line's ``--include-border``).

    ``model`` is the model file as typed; empty, ``"."``, a folder and the shipped default model's own file all
    mean the shipped model and are stored as ``""``, so two settings that segment alike compare equal.
    The defaults are the CLI's (:class:`~exo_vision.tem_parameters.TemParameters`).
    """

    method: str = TemParameters().method
    model: str = ""
    min_diameter_nm: float = TemParameters().min_diameter_nm
    max_diameter_nm: float = TemParameters().max_diameter_nm
    sensitivity: float = TemParameters().sensitivity
    polarity: str = TemParameters().polarity
    exclude_border: bool = TemParameters().exclude_border

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _model_as_typed(self.model))

    def model_path(self) -> str | None:
        """The chosen model file, or None for the shipped model (or a method without a model)."""
        from exo_vision.segmentation.api import METHODS

        if not METHODS[self.method].uses_model:
            return None
        return self.model or None

    def config(self, **overrides: Any) -> TemBatchConfig:
        """The ``exo-vision tem`` configuration matching these settings (plus ``overrides``)."""
        values: dict[str, Any] = {
            "method": self.method,
            "model": self.model_path(),
            "min_diameter_nm": float(self.min_diameter_nm),
            "max_diameter_nm": float(self.max_diameter_nm),
            "sensitivity": float(self.sensitivity),
            "polarity": self.polarity,
            "exclude_border": bool(self.exclude_border),
        }
        values.update(overrides)
        return TemBatchConfig(**values)

    def parameters(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~exo_vision.tem_analysis.analyse_micrograph` for every micrograph
        (lengths in nm): exactly those ``exo-vision tem`` passes for the same settings."""
        return analysis_kwargs(self.config().analysis_parameters())

    def problem(self) -> str | None:
        """Why these settings cannot segment (a model file missing or broken, a size range reversed), or None."""
        try:
            self.parameters()
        except ValueError as error:
            return str(error)
        return None

    def describe(self, *, missing: bool = False) -> str:
        """These settings in a few words, for the user: method, model, size range, sensitivity, and the
        polarity and the border rule when they are not the defaults.

        ``missing``: pixels without a value cut vesicles of the grid (:meth:`GridSession.cut_by_missing`),
        which the border rule counts or leaves out with those cut by the image edge; the words then say both.
        """
        from exo_vision.tem_analysis import cut_where

        path = self.model_path()
        model = f", model {Path(path).name}" if path else ""
        return (
            f"{self.method}{model}, {self.min_diameter_nm:g}-{self.max_diameter_nm:g} nm, "
            f"sensitivity {self.sensitivity:g}"
            + ("" if self.polarity == "auto" else f", vesicles {self.polarity}")
            + ("" if self.exclude_border else f", vesicles {cut_where(missing=missing)} counted")
        )

    def resumed(self, saved: dict[str, Any]) -> GridSettings:
        """These settings updated from a session file's ``parameters`` (unknown methods, polarities and a
        non-boolean ``exclude_border`` ignored)."""
        from exo_vision.segmentation.api import METHODS

        settings = self
        if saved.get("method") in METHODS:
            settings = replace(settings, method=saved["method"], model=saved.get("model") or "")
        sizes: dict[str, Any] = {
            k: saved[k] for k in ("min_diameter_nm", "max_diameter_nm", "sensitivity") if k in saved
        }
        if saved.get("polarity") in ("auto", "bright", "dark"):
            sizes["polarity"] = saved["polarity"]
        if isinstance(saved.get("exclude_border"), bool):
            sizes["exclude_border"] = saved["exclude_border"]
        return replace(settings, **sizes)


def _model_as_typed(model: str | None) -> str:
    """A model field's value with every spelling of the shipped model (empty, ``"."``, a folder, the shipped
    default model's files) as ``""``; any other file name stripped of surrounding spaces."""
    from exo_vision.segmentation.learned.weights import DEFAULT_MODEL, SHIPPED_MODELS

    value = str(model or "").strip()
    if value in ("", ".") or Path(value).is_dir():
        return ""
    shipped = SHIPPED_MODELS[DEFAULT_MODEL]
    try:
        if Path(value).resolve() in (shipped.resolve(), shipped.with_suffix(".onnx").resolve()):
            return ""
    except OSError:  # a name the file system cannot resolve: kept as typed, checked when it is used
        pass
    return value


def check_output_folder(input_dir: str | Path, output_dir: str | Path | None) -> Path:
    """The output folder of a session, created if missing.

    Raises
    ------
    ValueError
        When no output folder is chosen, or it is the micrographs folder (the results would be read back
        as micrographs).
    """
    if output_dir is None or not str(output_dir) or Path(output_dir) == Path("."):
        raise ValueError("choose an output folder for the grid's results")
    out = Path(output_dir)
    if out.resolve() == Path(input_dir).resolve():
        raise ValueError(
            "choose an output folder other than the micrographs folder (the results would be read back as micrographs)"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


class GridSession:
    """One grid being curated: its micrographs, the current one, the saved ones and the settings in use.

    Open one with :meth:`open`; it resumes where the session file in the output folder says the user was.

    Attributes
    ----------
    input_dir, output_dir : Path
        The micrographs folder and the results folder.
    files : list of Path
        The micrographs, sorted by name (:func:`list_micrographs`).
    index : int
        Position of the current micrograph in ``files``; -1 before the first is shown.
    settings : GridSettings
        Method, model and size range used for micrographs not yet segmented.
    tables : dict of str to pandas.DataFrame
        Vesicle table of every saved micrograph, by the stem of its outputs (:meth:`stem`).
    file_pixel_size_nm : dict of Path to float or None
        Pixel size each micrograph's own file gives (what the CLI uses without ``--pixel-size-nm``).
    not_analysed : dict of Path to str
        Micrographs read that cannot be segmented as they are (no pixel size), with the reason; a micrograph
        leaves it when it is saved.
    precomputed : dict of Path to MicrographResult
        Results computed ahead of time, used (and dropped) when their micrograph is shown.
    """

    def __init__(
        self, input_dir: str | Path, output_dir: str | Path, files: list[Path], settings: GridSettings | None = None
    ) -> None:
        self.input_dir = Path(input_dir)
        self.output_dir = Path(output_dir)
        self.files = list(files)
        self.settings = settings or GridSettings()
        self.index = -1
        self.tables: dict[str, pd.DataFrame] = {}
        self._stems: dict[Path, str] = {}
        self.file_pixel_size_nm: dict[Path, float | None] = {}
        self.precomputed: dict[Path, Any] = {}
        #: Micrographs shown but not analysed, with the reason (e.g. "no pixel size"), until they are saved.
        self.not_analysed: dict[Path, str] = {}
        #: Messages for the user about the session file (e.g. it could not be read).
        self.warnings: list[str] = []
        #: Number of micrographs the session file listed as saved when the session was resumed; None if new.
        self.resumed_done: int | None = None
        #: Where the user was when the session was last saved (0 for a new session).
        self.start = 0
        self._copies: dict[str, tuple[str, str]] = {}
        self._copies_key: tuple[tuple[str, str, str], ...] | None = None

    @classmethod
    def open(
        cls, input_dir: str | Path, output_dir: str | Path | None, settings: GridSettings | None = None
    ) -> GridSession:
        """Open a grid folder; resume the position and settings saved in the output folder's session file.

        Raises
        ------
        ValueError
            When the folder holds no micrographs, the output folder is missing or the micrographs folder, or
            the settings cannot segment (e.g. the model file chosen does not exist). Settings saved by an
            earlier session that cannot be used any more give way to ``settings``, with a message in
            :attr:`warnings`.
        OSError
            When the output folder cannot be created.
        """
        files = list_micrographs(input_dir)
        out = check_output_folder(input_dir, output_dir)
        session = cls(input_dir, out, files, settings)
        state = session.read_state()
        if state.get("input_dir") == str(session.input_dir.resolve()):
            resumed = session.settings.resumed(state.get("parameters", {}))
            problem = resumed.problem()
            if problem is None:
                session.settings = resumed
            else:  # e.g. its model file was moved: the settings chosen now take over for what is not saved yet
                session.warnings.append(
                    f"the settings this grid was started with cannot be used now ({problem}); the micrographs not "
                    f"yet saved are analysed with the settings chosen now ({session.settings.describe()}); "
                    "the saved ones keep their results"
                )
            session.resumed_done = len(state.get("done", []))
            names = [f.name for f in files]
            current = state.get("current")
            session.start = names.index(current) if current in names else 0
        problem = session.settings.problem()
        if problem is not None:
            raise ValueError(problem)
        session.tables = session.load_saved_tables()
        session.warnings.extend(session.other_models_saved())
        return session

    def other_models_saved(self) -> list[str]:
        """A message when micrographs saved here were segmented by another model than the one chosen now
        (an upgrade changes the shipped model): the grid's statistics would mix two segmenters."""
        from exo_vision.batch.image_outputs import read_marker
        from exo_vision.segmentation.api import model_summary

        now = (model_summary(self.settings.method, self.settings.model_path()) or {}).get("sha256")
        others = []
        for path in self.files:
            marker = read_marker(out_dir=self.output_dir, stem=self.stem(path)) or {}
            saved = (marker.get("parameters") or {}).get("model_sha256")
            if saved and saved != now:
                others.append(f"{path.name} ({str(saved)[:12]}...)")
        if not others:
            return []
        return [
            f"{len(others)} saved micrograph(s) were segmented by another model than the one chosen now "
            f"({str(now)[:12] + '...' if now else self.settings.method}): {', '.join(others[:5])}"
            f"{' ...' if len(others) > 5 else ''}; the micrographs not yet saved would be segmented differently and "
            "the grid's statistics mix the two. To keep one segmenter, choose the model file the saved ones used "
            "(their _done.json names it), or re-analyse the saved ones"
        ]

    @property
    def current(self) -> Path | None:
        """The micrograph shown, or None."""
        return self.files[self.index] if 0 <= self.index < len(self.files) else None

    # -- session file ------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        """The session file in the output folder."""
        return self.output_dir / SESSION_FILE

    def read_state(self) -> dict[str, Any]:
        """The session file's content; empty (with a message in :attr:`warnings`) when missing or unreadable."""
        path = self.state_path
        if not path.is_file():
            return {}
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            self.warnings.append(f"{path} is not valid JSON ({error}); starting the session from the first micrograph.")
            return {}
        return state

    def write_state(self) -> None:
        """Atomically record where the user is, what is saved, and the settings in use."""
        state = {
            "input_dir": str(self.input_dir.resolve()),
            "current": self.current.name if self.current is not None else None,
            "done": sorted(self.tables),
            "parameters": self.settings.parameters(),
        }
        atomic_write_text(self.state_path, json.dumps(state, indent=2))

    # -- per-image files ---------------------------------------------------------------------------
    def output_paths(self, path: Path) -> dict[str, Path]:
        """Files saved for one micrograph: the CLI's per-image outputs plus the curation record.

        ``labels``/``vesicles``/``rejected``/``overlay``/``marker`` are exactly what ``exo-vision tem``
        writes (same stems); ``edits`` (the edit log CSV) and ``curation`` (morphology
        overrides, JSON) are the curation additions; ``table`` is ``vesicles``.
        """
        from exo_vision.batch.image_outputs import output_names

        stem = self.stem(path)
        paths = {key: self.output_dir / name for key, name in output_names(stem).items()}
        paths["edits"] = self.output_dir / f"{stem}_edits.csv"
        paths["curation"] = self.output_dir / f"{stem}_curation.json"
        paths["table"] = paths["vesicles"]
        return paths

    def stem(self, path: Path) -> str:
        """The name of a micrograph's outputs: its file stem, made unique in the grid as ``exo-vision tem``
        makes it (``img01.tif`` and ``img01.jpg`` -> ``img01_tif``, ``img01_jpg``)."""
        if len(self._stems) != len(self.files):
            self._stems = dict(zip(self.files, assign_stems(self.files), strict=True))
        return self._stems.get(path, path.stem)

    def is_saved(self, path: Path) -> bool:
        """Whether the micrograph's labels are saved in the output folder."""
        return self.output_paths(path)["labels"].is_file()

    def load_saved_tables(self) -> dict[str, pd.DataFrame]:
        """The vesicle table of every micrograph saved in the output folder, by its outputs' stem."""
        tables = {}
        for path in self.files:
            table_path = self.output_paths(path)["table"]
            if table_path.is_file():
                tables[self.stem(path)] = read_written_csv(table_path)
        return tables

    def load_saved(self, path: Path) -> SavedMicrograph:
        """Read a saved micrograph back (labels, overrides, edit log, calibration) to go on curating it."""
        return read_saved(self.output_paths(path))

    # -- analysing ---------------------------------------------------------------------------------
    def read(self, path: Path) -> ImageData:
        """Read micrograph ``path`` and remember the pixel size its file gives; one without a pixel size (not
        saved yet) is listed in :attr:`not_analysed`."""
        from exo_vision.io import read_image

        image = read_image(path, kind="tem")
        self.file_pixel_size_nm[path] = image.pixel_size_nm
        if image.pixel_size_nm is None and not self.is_saved(path):
            self.not_analysed[path] = "no pixel size"
        return image

    def not_analysed_text(self) -> str:
        """The micrographs read but not analysed, grouped by reason ("no pixel size: a.png, b.png"), or ""."""
        by_reason: dict[str, list[str]] = {}
        for path in self.files:
            if path in self.not_analysed and not self.is_saved(path):
                by_reason.setdefault(self.not_analysed[path], []).append(path.name)
        return "; ".join(f"{reason}: {', '.join(names)}" for reason, names in by_reason.items())

    def analyse(self, image: ImageData) -> Any:
        """Segment and measure ``image`` with the session's settings, in this process.

        Returns
        -------
        MicrographResult
        """
        from exo_vision.tem_analysis import analyse_micrograph

        return analyse_micrograph(image, **self.settings.parameters())

    # -- saving ------------------------------------------------------------------------------------
    def recorded_parameters(self, path: Path, made_with: dict[str, Any], image: ImageData) -> dict[str, Any]:
        """The parameters saved in a micrograph's done-marker, in the form ``exo-vision tem`` records.

        They are the analysis parameters the labels were made with (``made_with``), and the pixel size as
        an override only when the user changed the file's own calibration; so ``exo-vision tem <grid>
        --out <out> --resume`` with the same settings finds these results complete and skips them.
        """
        known = {k: v for k, v in made_with.items() if k in PARAMETER_NAMES}
        overrides: dict[str, Any] = {**self.settings.config().to_dict(), **known}
        file_px = self.file_pixel_size_nm.get(path)
        overrides["pixel_size_nm"] = (
            None
            if image.pixel_size_nm is None or (file_px is not None and np.isclose(image.pixel_size_nm, file_px))
            else float(image.pixel_size_nm)
        )
        return TemBatchConfig(**overrides).analysis_parameters()

    def save(self, path: Path, curated: CuratedResult) -> None:
        """Save one curated micrograph: the edit log and curation record, then the CLI's per-image files
        (done-marker last), then the session file.

        Every file is written atomically, and the marker only after the rest, so a micrograph with a
        marker always has its whole record.
        """
        saved = self.output_paths(path)
        # everything is computed (and so checked) before the first file is written: a save that fails
        # rewrote the edit log and overrides with an empty record
        write_outputs = self._prepared_outputs(path, curated)
        write_curation_record(curated, edits=saved["edits"], curation=saved["curation"])
        write_outputs()
        self.tables[self.stem(path)] = curated.table
        self.not_analysed.pop(path, None)
        self.write_state()

    def apply_border_rule(self, *, skip: Path | None = None) -> tuple[list[Path], list[str]]:
        """Re-save every saved micrograph whose done-marker records another border rule than the session's.

        Whether the vesicles cut by the image edge are counted (``exclude_border``) changes no label and no
        measurement, only each micrograph's statistics, overlay (those vesicles outlined "not counted") and
        done-marker. So that every square of a grid is counted one way, as ``exo-vision tem`` counts a run,
        each saved micrograph is written again from its saved labels, vesicle table, curation record and
        calibration, its other parameters kept, as stepping back to it and saving would.

        Parameters
        ----------
        skip : Path, optional
            The micrograph shown, saved with the new rule when it is left.

        Returns
        -------
        resaved : list of Path
            Micrographs written again.
        problems : list of str
            Micrographs left as they were, each with the reason (the micrograph file was changed or removed
            since it was saved, or its outputs cannot be read or written).
        """
        resaved: list[Path] = []
        problems: list[str] = []
        rule = bool(self.settings.exclude_border)
        for path in self.files:
            if path == skip or not self.is_saved(path):
                continue
            paths = self.output_paths(path)
            try:
                marker = json.loads(paths["marker"].read_text()) if paths["marker"].is_file() else {}
                if (marker.get("parameters") or {}).get("exclude_border") == rule:
                    continue
                if marker.get("input_sha256") not in (None, sha256_file(path)):
                    problems.append(
                        f"{path.name} was changed since it was saved; its results keep the border rule they were "
                        "saved with: open it to segment it again"
                    )
                    continue
                saved = self.load_saved(path)
                image = self.read(path)
                if saved.pixel_size_nm and not np.isclose(image.pixel_size_nm or np.nan, saved.pixel_size_nm):
                    image = image.with_pixel_size(saved.pixel_size_nm, source=saved.pixel_size_source or "user")
                curated = CuratedResult(
                    image=image,
                    labels=saved.labels,
                    table=read_written_csv(paths["table"]),
                    polarity=saved.polarity,
                    analysed_area_nm2=saved.analysed_area_nm2,
                    parameters={**(saved.parameters or {}), "exclude_border": rule},
                    morphology_overrides=saved.morphology_overrides,
                    edit_log=saved.edit_log,
                    segmenter=saved.segmenter,
                    rejected_by_reason=saved.rejected_by_reason,
                    rejected=saved.rejected,
                )
                self.save(path, curated)
            except (ValueError, OSError) as error:
                problems.append(f"{path.name} keeps the border rule it was saved with ({error})")
                continue
            resaved.append(path)
        return resaved, problems

    def _prepared_outputs(self, path: Path, curated: CuratedResult) -> Callable[[], object]:
        """Compute the CLI's per-image files (labels TIFF, vesicle CSV, rejected candidates, overlay, done marker)
        and return what writes them (all together or none); ValueError (nothing written) when the curated result
        cannot be measured."""
        from exo_vision.batch.image_outputs import write_image_outputs
        from exo_vision.measure.size_stats import size_statistics
        from exo_vision.session.copies import pixel_facts
        from exo_vision.tem_analysis import MicrographResult, flag_cut_by_missing

        stem = self.output_paths(path)["marker"].name[: -len("_done.json")]
        area = curated.analysed_area_nm2
        area = float(area) if area is not None and np.isfinite(area) and area > 0 else None
        image = curated.image
        # the vesicles pixels without a value cut, flagged as exo-vision tem flags them (a table read back from
        # an older save has no touches_missing) and counted in the marker's warnings as exo-vision tem counts them
        table, cut_warnings = flag_cut_by_missing(curated.table, curated.labels, image)
        parameters = self.recorded_parameters(path, curated.parameters, image)
        polarity = curated.polarity or "bright"
        result = MicrographResult(
            labels=curated.labels,
            table=table,
            # the candidates not counted, written as S_rejected.csv with the other files (none when unknown)
            rejected=curated.rejected
            if curated.rejected is not None
            else pd.DataFrame({"reason": pd.Series(dtype=str)}),
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
            warnings=cut_warnings,
        )
        record = {
            "input": str(path),
            "stem": stem,
            "input_sha256": sha256_file(path),
            # what exo-vision tem records to find the same micrograph saved twice (other bytes, another bit depth)
            **pixel_facts(image.data),
            "parameters": parameters,
            **self._marker_facts(curated, polarity, cut_warnings, self.output_dir),
            "analysed_area_nm2": result.analysed_area_nm2 if area is not None else None,
            "n_vesicles": int(len(table)),
        }
        return lambda: write_image_outputs(result, out_dir=self.output_dir, stem=stem, record=record)

    @staticmethod
    def _marker_facts(
        curated: CuratedResult, polarity: str, cut_warnings: list[str], output_dir: Path
    ) -> dict[str, Any]:
        """What a curated micrograph's done-marker records beside its files, parameters and counts, as
        ``exo-vision tem`` records it: calibration, polarity, warnings, what the segmentation left out, the
        segmenter and the curation. A relative model file in the segmenter record is read from ``output_dir``,
        the folder of the done-marker, as ``exo-vision tem --resume`` and ``report`` read it."""
        from exo_vision.segmentation.api import segmenter_warnings
        from exo_vision.segmentation.learned.weights import segmenter_from_folder
        from exo_vision.tem_analysis import coarse_pixel_warnings, missing_values_warnings, small_field_warnings

        image = curated.image
        n_edits, checked = curation_counts(curated.edit_log)
        facts: dict[str, Any] = {
            "shape": list(image.shape),
            "pixel_size_nm": image.pixel_size_nm,
            "pixel_size_source": image.pixel_size_source,
            # the scale-bar reading behind a pixel size read from the image, as exo-vision tem records it
            **({"scale_bar": image.metadata["scale_bar"]} if image.metadata.get("scale_bar") else {}),
            "polarity": polarity,
            "warnings": [
                *image.warnings,
                *segmenter_warnings(
                    image.pixel_size_nm, segmenter_from_folder(curated.segmenter, output_dir), polarity
                ),
                *coarse_pixel_warnings(float(image.pixel_size_nm or "nan")),
                *(small_field_warnings(image, float(image.pixel_size_nm)) if image.pixel_size_nm else []),
                *missing_values_warnings(image.data),
                *cut_warnings,
            ],
            # what the segmentation left out, as exo-vision tem records it (curation changes only the vesicles)
            **(
                {"rejected_by_reason": dict(curated.rejected_by_reason)}
                if curated.rejected_by_reason is not None
                else {}
            ),
            # saved by the grid session; which micrographs a person changed or marked as checked is what
            # fine-tuning takes as curated truth (the others hold the model's own outlines)
            "curated_in_gui": True,
            "n_edits": n_edits,
            "checked_in_gui": checked,
        }
        if curated.segmenter:
            facts["segmenter"] = curated.segmenter
        return facts

    # -- summary -----------------------------------------------------------------------------------
    def cut_by_missing(self) -> bool:
        """Whether pixels without a value (NaN or infinite padding, a padding frame) cut vesicles of a saved
        micrograph: its table flags them ``touches_missing``, or, for a table older than that column, its
        done-marker's warnings say so (:func:`~exo_vision.tem_analysis.cut_by_missing`). Those vesicles are
        flagged ``touches_border`` too: the border rule counts or leaves them out with those cut by the edge."""
        from exo_vision.batch.image_outputs import read_marker
        from exo_vision.measure.tables import MISSING_COLUMN, cut_by_missing_flags
        from exo_vision.tem_analysis import cut_by_missing

        for stem, table in self.tables.items():
            if MISSING_COLUMN in table.columns:
                if cut_by_missing_flags(table).any():
                    return True
            elif cut_by_missing((read_marker(out_dir=self.output_dir, stem=stem) or {}).get("warnings")):
                return True
        return False

    def copies(self) -> dict[str, tuple[str, str]]:
        """The saved micrographs that are a copy of one saved before them in the grid's order (a byte copy, the
        same pixels in another file, the same pixels at another bit depth or value scale), as ``exo-vision tem``
        finds them (:func:`~exo_vision.session.copies.mark_saved_copies`): by stem, the stem counted for it and
        why they are one. The pooled numbers count each micrograph once, as that first one."""
        from exo_vision.batch.image_outputs import read_marker
        from exo_vision.session.copies import mark_saved_copies

        saved: list[tuple[str, dict[str, Any]]] = []
        for path in self.files:
            marker = read_marker(out_dir=self.output_dir, stem=self.stem(path))
            if marker is not None and self.stem(path) in self.tables:
                saved.append((self.stem(path), marker))
        key = tuple((stem, str(m.get("input_sha256")), str(m.get("pixels_signature"))) for stem, m in saved)
        if self._copies_key != key:
            records = [dict(marker) for _, marker in saved]
            mark_saved_copies(records)
            stems = {str(r.get("input")): stem for (stem, _), r in zip(saved, records, strict=True)}
            self._copies = {
                stem: (stems.get(str(r["duplicate_of"]), str(r["duplicate_of"])), str(r.get("duplicate_reason")))
                for (stem, _), r in zip(saved, records, strict=True)
                if r.get("duplicate_of")
            }
            self._copies_key = key
        return dict(self._copies)

    def copies_text(self) -> str:
        """The copies counted once, in the words of the report ("new_0_copy = new_0 (identical bytes)"), or ""."""
        copies = self.copies()
        return "; ".join(f"{stem} = {first} ({why})" for stem, (first, why) in copies.items())

    def pooled_table(self) -> pd.DataFrame | None:
        """Every saved micrograph's vesicles in one table, each micrograph once (:meth:`copies` left out), or None
        when nothing is saved."""
        if not self.tables:
            return None
        left_out = self.copies()
        return pd.concat([t for stem, t in self.tables.items() if stem not in left_out], ignore_index=True)
