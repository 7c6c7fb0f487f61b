"""Every parameter of a TEM batch run, and reading them from TOML or a previous run.json.

A configuration file is TOML with the parameters at the top level or under a
``[tem]`` table, for example::

    [tem]
    pixel_size_nm = 0.624      # omit to use the file's own calibration
    min_diameter_nm = 20.0
    max_diameter_nm = 500.0
    sensitivity = 0.5
    polarity = "auto"
    workers = 2

A ``run.json`` written by ``exo-vision tem`` is accepted too: its
``"parameters"`` object is exactly this set, so ``--config run.json``
reproduces that run.
"""

from __future__ import annotations

import json
import logging
import math
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from exo_vision._shared.paths import display_path
from exo_vision._shared.schema import check_table
from exo_vision._shared.toml_files import parse_problem, parse_toml
from exo_vision._shared.validation import MIN_PIXEL_SIZE_NM
from exo_vision.segmentation.api import model_summary
from exo_vision.segmentation.learned.weights import absolute_model
from exo_vision.tem_parameters import TemParameters

logger = logging.getLogger(__name__)

#: The analysis defaults, from the one place that holds them.
_ANALYSIS = TemParameters()


@dataclass(frozen=True)
class TemBatchConfig:
    """Parameters of ``exo-vision tem``.

    Attributes
    ----------
    pixel_size_nm : float or None
        Override of the pixel size in nm for every input (None: use each file's calibration).
    pixel_size_nm_if_missing : float or None
        Pixel size in nm for the inputs that carry no calibration of their own (no metadata, no readable
        scale bar); the others keep theirs. Cannot be combined with ``pixel_size_nm``.
    frame : int or None
        Frame to analyse in multi-frame files.
    scale_bar : bool
        Try to calibrate from a burnt-in scale bar when the file carries no calibration.
    method : str
        Segmentation method (see ``exo_vision.segmentation.api.available_methods``).
    model : str or None
        For the ``unet`` method: a shipped model's name or a ``.onnx`` path (None: the shipped model).
    min_diameter_nm, max_diameter_nm : float
        Vesicle size limits in nm.
    sensitivity : float
        Segmentation sensitivity in [0, 1].
    polarity : {"auto", "bright", "dark"}
        Vesicles lighter or darker than the stain.
    exclude_border : bool
        Leave border-touching vesicles out of the statistics.
    size_range_nm : (float, float)
        Range whose fraction is reported (exosomes: 30-150 nm).
    n_boot : int
        Bootstrap resamples for the confidence intervals.
    seed : int
        Seed of the bootstrap.
    bin_width_nm : float
        Bin width of the run's size histogram, nm.
    recursive : bool
        Descend into sub-folders of input folders.
    workers : int or None
        Local worker processes (None: all cores).
    scheduler : str or None
        Dask scheduler address, ``"local"`` for a LocalCluster, None for the local process pool.
    max_megapixels : float or None
        Limit on an input's decoded size in millions of values (None: the reader's default).
    save_rois : bool
        Also write each image's vesicles as an ImageJ ROI set ``<stem>_rois.zip``.
    overlay : bool
        Write each image's overlay ``<stem>_overlay.png`` (about a byte per micrograph pixel). It does not
        change the measurements, so it is no analysis parameter: a result with an overlay is complete for a
        run without one.
    """

    pixel_size_nm: float | None = None
    pixel_size_nm_if_missing: float | None = None
    frame: int | None = None
    scale_bar: bool = True
    method: str = _ANALYSIS.method
    model: str | None = _ANALYSIS.model
    min_diameter_nm: float = _ANALYSIS.min_diameter_nm
    max_diameter_nm: float = _ANALYSIS.max_diameter_nm
    sensitivity: float = _ANALYSIS.sensitivity
    polarity: str = _ANALYSIS.polarity
    exclude_border: bool = _ANALYSIS.exclude_border
    size_range_nm: tuple[float, float] = _ANALYSIS.size_range_nm
    n_boot: int = _ANALYSIS.n_boot
    seed: int = _ANALYSIS.seed
    bin_width_nm: float = 10.0
    recursive: bool = False
    workers: int | None = None
    scheduler: str | None = None
    max_megapixels: float | None = None
    save_rois: bool = False
    overlay: bool = True

    def __post_init__(self) -> None:
        """Validate every value, naming the parameter and the fix."""
        values = {name: getattr(self, name) for name in PARAMETER_TYPES}
        check_table(values, PARAMETER_TYPES, where="parameters", nullable=NULLABLE, noun="parameter")
        for name in ("pixel_size_nm", "pixel_size_nm_if_missing"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(float(value)) or float(value) < MIN_PIXEL_SIZE_NM):
                raise ValueError(
                    f"{name} must be a number of nm of at least {MIN_PIXEL_SIZE_NM:g} (finer than any "
                    f"electron micrograph), got {value!r}; pass e.g. 0.62"
                )
        if self.pixel_size_nm is not None and self.pixel_size_nm_if_missing is not None:
            raise ValueError(
                "pixel_size_nm (every input) and pixel_size_nm_if_missing (only inputs without a calibration) "
                "are both set; keep one of them"
            )
        analysis = self.analysis()  # validates the analysis parameters (the one rule for each)
        object.__setattr__(self, "model", analysis.model)
        if not float(self.bin_width_nm) > 0:
            raise ValueError(f"bin_width_nm must be positive, got {self.bin_width_nm!r}")
        if float(self.max_diameter_nm) / float(self.bin_width_nm) > MAX_HISTOGRAM_BINS:
            raise ValueError(
                f"bin_width_nm = {self.bin_width_nm!r} would give more than {MAX_HISTOGRAM_BINS} histogram bins "
                f"up to max_diameter_nm = {self.max_diameter_nm!r}; use at least "
                f"{float(self.max_diameter_nm) / MAX_HISTOGRAM_BINS:g} nm (default 10)"
            )
        if self.scheduler is not None and self.scheduler != "local" and "://" not in self.scheduler:
            raise ValueError(
                f"scheduler must be 'local' or a Dask address such as tcp://host:8786, got {self.scheduler!r}"
            )
        if self.workers is not None and int(self.workers) < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers!r}")
        if self.max_megapixels is not None and not float(self.max_megapixels) > 0:
            raise ValueError(f"max_megapixels must be positive, got {self.max_megapixels!r}")
        if self.frame is not None and int(self.frame) < 0:
            raise ValueError(f"frame must be a non-negative index, got {self.frame!r}")
        object.__setattr__(self, "size_range_nm", analysis.size_range_nm)

    def analysis(self) -> TemParameters:
        """The analysis parameters of this run, as the core takes them."""
        return TemParameters.from_dict({f: getattr(self, f) for f in TEM_PARAMETER_NAMES})

    def analysis_parameters(self) -> dict[str, Any]:
        """The parameters that change the per-image results (what --resume compares).

        ``save_rois`` appears only when set, so runs without it record what they always did.
        """
        model = model_summary(self.method, self.model) or {}
        out = {
            "pixel_size_nm": self.pixel_size_nm,
            "frame": self.frame,
            "scale_bar": self.scale_bar,
            "method": self.method,
            "model": self.model,
            # the checksum makes --resume re-analyse when the weights change under the same name, and the
            # version and settings digest when the card does (variants share their weights)
            "model_sha256": model.get("sha256"),
            "model_version": model.get("version"),
            "model_settings_sha256": model.get("thresholds_sha256"),
            "min_diameter_nm": float(self.min_diameter_nm),
            "max_diameter_nm": float(self.max_diameter_nm),
            "sensitivity": float(self.sensitivity),
            "polarity": self.polarity,
            "exclude_border": bool(self.exclude_border),
            "size_range_nm": [float(v) for v in self.size_range_nm],
            "n_boot": int(self.n_boot),
            "seed": int(self.seed),
        }
        if self.save_rois:
            out["save_rois"] = True
        if model.get("card_sha256"):  # the card itself, edited by hand under the same weights and version
            out["model_card_sha256"] = model["card_sha256"]
        if self.pixel_size_nm_if_missing is not None:  # only when set: earlier runs' results stay complete
            out["pixel_size_nm_if_missing"] = float(self.pixel_size_nm_if_missing)
        return out

    def to_dict(self) -> dict[str, Any]:
        """All parameters as JSON-serialisable values."""
        out = asdict(self)
        out["size_range_nm"] = list(self.size_range_nm)
        return out


PARAMETER_NAMES = tuple(f.name for f in fields(TemBatchConfig))
#: The fields that are analysis parameters (:class:`~exo_vision.tem_parameters.TemParameters`).
TEM_PARAMETER_NAMES = tuple(f.name for f in fields(TemParameters))
#: Type of every parameter in a config file (:mod:`exo_vision._shared.schema`).
PARAMETER_TYPES = {
    "pixel_size_nm": "number",
    "pixel_size_nm_if_missing": "number",
    "frame": "int",
    "scale_bar": "bool",
    "method": "str",
    "model": "str",
    "min_diameter_nm": "number",
    "max_diameter_nm": "number",
    "sensitivity": "number",
    "polarity": "str",
    "exclude_border": "bool",
    "size_range_nm": "number_pair",
    "n_boot": "int",
    "seed": "int",
    "bin_width_nm": "number",
    "recursive": "bool",
    "workers": "int",
    "scheduler": "str",
    "max_megapixels": "number",
    "save_rois": "bool",
    "overlay": "bool",
}
#: Parameters a run.json may hold as null ("not set").
NULLABLE = frozenset(
    {"pixel_size_nm", "pixel_size_nm_if_missing", "frame", "model", "workers", "scheduler", "max_megapixels"}
)
#: Most bins the run's size histogram may have (max_diameter_nm / bin_width_nm).
MAX_HISTOGRAM_BINS = 10_000


def read_config(path: str | Path) -> dict[str, Any]:
    """Read parameters from a TOML file or a previous ``run.json``.

    Parameters
    ----------
    path : str or Path
        ``*.toml`` (parameters at the top level or under ``[tem]``) or a
        ``run.json`` written by ``exo-vision tem``.

    Returns
    -------
    dict
        Parameter name -> value, only the keys the file sets.

    Raises
    ------
    ValueError
        If the file cannot be read or parsed, or names an unknown parameter.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(
            f"cannot read config file {display_path(path)}: {err.strerror or err}; check the path and permissions"
        ) from err
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as err:
            raise ValueError(
                f"{display_path(path)} is not valid JSON ({parse_problem(err)}); pass a TOML config or a run.json"
            ) from None
        values = doc.get("parameters") if isinstance(doc, dict) else None
        if not isinstance(values, dict):
            raise ValueError(
                f"{display_path(path)} has no 'parameters' object; pass a run.json written by exo-vision tem"
            )
        if "method" not in values:
            # run.json has recorded the method since there were several; before, classical was the only one
            values = {**values, "method": "classical"}
            logger.warning(
                "--config %s records no segmentation method: it was written when the classical method was the "
                "only one, so the run is reproduced with the classical method (unless --method says otherwise)",
                display_path(path),
            )
    else:
        try:
            doc = parse_toml(raw)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as err:
            raise ValueError(
                f"{display_path(path)} is not valid TOML ({parse_problem(err)}); fix the line named"
            ) from None
        values = doc.get("tem", doc)
        if not isinstance(values, dict):
            raise ValueError(f"{display_path(path)}: [tem] must be a table of parameters")
        if "tem" in doc and len(doc) > 1:
            extra = next(k for k in doc if k != "tem")
            raise ValueError(
                f"{display_path(path)}: {extra!r} lies outside the [tem] table; move it under [tem] or remove it"
            )
    values = check_table(values, PARAMETER_TYPES, where=display_path(path), nullable=NULLABLE, noun="parameter")
    if values.get("model") is not None:  # a model file named in a config is read from the config's folder
        values["model"] = absolute_model(values["model"], folder=path.parent)
    return values


def recorded_models(path: str | Path) -> list[dict[str, Any]]:
    """The models (name, version, sha256) a previous ``run.json`` segmented with; empty for a TOML config
    or a run that recorded none."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return []
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError):
        return []
    found: dict[str, dict[str, Any]] = {}
    for record in doc.get("images") or [] if isinstance(doc, dict) else []:
        model = ((record or {}).get("segmenter") or {}).get("model") if isinstance(record, dict) else None
        if isinstance(model, dict) and model.get("sha256"):
            found.setdefault(str(model["sha256"]), model)
    return list(found.values())


def check_recorded_model(path: str | Path, config: TemBatchConfig) -> None:
    """Refuse to reproduce a ``run.json`` with a model other than the one it records.

    Raises
    ------
    ValueError
        When the model the config names (its file, or the shipped one) has another checksum than the run
        used: the results would not be reproduced, silently.
    """
    from exo_vision.segmentation.api import METHODS
    from exo_vision.segmentation.learned.weights import SHIPPED_MODELS, load_card

    used = recorded_models(path)
    if not used or not METHODS[config.method].uses_model:
        return
    card = load_card(config.model)
    if card.sha256 in {m["sha256"] for m in used}:
        return
    then = used[0]
    shipped = next((name for name in SHIPPED_MODELS if load_card(name).sha256 in {m["sha256"] for m in used}), None)
    fix = (
        f"the same network still ships: add --model {shipped} to reproduce it"
        if shipped
        else "restore that model file, or pass --model for the one you mean to use"
    )
    raise ValueError(
        f"--config {display_path(path)}: that run segmented with {then.get('name')} {then.get('version')} "
        f"(sha256 {str(then['sha256'])[:12]}...), but {display_path(str(card.onnx_path))} is now "
        f"{card.name} {card.version} (sha256 {card.sha256[:12]}...), so its results would not be reproduced; {fix}"
    )


def check_recorded_code(path: str | Path) -> None:
    """Say when a ``run.json`` was written by other exo_vision code than this installation's.

    The parameters and model are reproduced, but a measurement changed since (an upgrade) gives other
    numbers under them; the log names the difference so the user does not expect identical tables.
    """
    from exo_vision.environment import code_sha256

    path = Path(path)
    if path.suffix.lower() != ".json":
        return
    try:
        software = json.loads(path.read_text(encoding="utf-8")).get("software") or {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, RecursionError):
        return
    recorded = software.get("exo_vision_code_sha256") if isinstance(software, dict) else None
    if recorded != code_sha256():
        logger.warning(
            "--config %s: that run was made by %s exo_vision code than this installation's (%s); the same "
            "parameters and model are used, but measurements changed since give other numbers",
            display_path(path),
            "other" if recorded else "older",
            f"code sha256 {str(recorded)[:12]}... vs {code_sha256()[:12]}..."
            if recorded
            else "no code fingerprint recorded",
        )


def build_config(*layers: dict[str, Any]) -> TemBatchConfig:
    """Merge parameter dicts (later ones win, ``None`` values skipped) into a config.

    Typical use: ``build_config(read_config(file), command_line_values)``.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None})
    if "size_range_nm" in merged:
        merged["size_range_nm"] = tuple(merged["size_range_nm"])
    return TemBatchConfig(**merged)
