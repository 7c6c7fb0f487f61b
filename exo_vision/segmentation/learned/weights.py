"""Model files of the learned segmenter: the shipped models, their cards, and checked loading.

A model is two files side by side: ``<name>.onnx`` (the network) and
``<name>.json`` (its model card: working scale, normalisation, thresholds,
training data, validation figures and the sha256 of the ONNX file). Loading
verifies the checksum, so a damaged or swapped file is refused by name.

An int8 copy of a network (:mod:`exo_vision.learn.quantise`) runs faster; its
card also names the float network it was made from (``float_file``,
``float_sha256``), which fine-tuning starts from.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from exo_vision.segmentation.learned.card_check import check_card
from exo_vision.segmentation.learned.parameters import InstanceThresholds

#: Folder of the models shipped inside the package.
MODELS_DIR = Path(__file__).resolve().parent / "models"
#: Shipped models: name -> card file (stardist keeps a registry the same way).
SHIPPED_MODELS = {"ev-unet": MODELS_DIR / "ev_unet_int8.json", "ev-unet-float": MODELS_DIR / "ev_unet.json"}
#: The model the ``unet`` method uses unless told otherwise.
DEFAULT_MODEL = "ev-unet"

_REINSTALL = "reinstall exo_vision (pip install --force-reinstall exo-vision) or pass --model with a valid model"
#: Model cards kept loaded (keyed by path and modification times): far more than one run uses.
CARD_CACHE_SIZE = 8
#: Card keys of an int8 copy (:mod:`exo_vision.learn.quantise`) that describe its float network.
INT8_CARD_KEYS = ("float_file", "float_sha256", "quantisation")
#: Leading hex digits of a sha256 shown in the damaged-weights message (enough to tell two apart).
DIGEST_SHOWN_CHARS = 12


@dataclass(frozen=True)
class ModelCard:
    """What :func:`load_model` read and checked.

    Attributes
    ----------
    name, version : str
        From the card.
    onnx_path, card_path : Path
        The two files.
    sha256 : str
        Checksum of the ONNX file (verified).
    card_sha256 : str
        Checksum of the card file as read (a card edited by hand changes it, the weights unchanged).
    working_scale_nm : float
        Pixel edge length the network expects, nm.
    multiple_of : int
        Input height and width must be multiples of this.
    thresholds : InstanceThresholds
        Post-processing thresholds stored with the model.
    card : dict
        The whole card.
    float_onnx_path : Path
        The float network the weights come from (``onnx_path`` itself unless the
        model is an int8 copy); see :meth:`checked_float_network`.
    float_sha256 : str
        Its checksum, as the card gives it.
    """

    name: str
    version: str
    onnx_path: Path
    card_path: Path
    sha256: str
    card_sha256: str
    working_scale_nm: float
    multiple_of: int
    thresholds: InstanceThresholds
    card: dict[str, Any] = field(repr=False, compare=False)
    float_onnx_path: Path
    float_sha256: str

    def checked_float_network(self) -> Path:
        """The float network's file, its checksum verified (what fine-tuning starts from).

        Raises
        ------
        ValueError
            If the file is missing or is not the one the card names; the message names it and the fix.
        """
        path = self.float_onnx_path
        if path == self.onnx_path:
            return path
        _verify(path, self.float_sha256, named_by=self.card_path)
        return path

    def summary(self) -> dict[str, Any]:
        """Name, version, checksum, file and card (and the float network of an int8 copy, the base of a fine-tuned
        model): what run.json records.

        ``settings`` holds the card's settings that decide which warnings a
        segmentation gives (:func:`exo_vision.segmentation.api.segmenter_warnings`
        reads them from the record, so they hold after the file is gone).
        """
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "card_sha256": self.card_sha256,
            "file": str(self.onnx_path),
            "card": str(self.card_path),
            "settings": {key: bool(getattr(self.thresholds, key)) for key in WARNING_SETTINGS},
            "thresholds_sha256": hashlib.sha256(
                json.dumps(asdict(self.thresholds), sort_keys=True).encode("utf-8")
            ).hexdigest(),
        }
        if self.float_onnx_path != self.onnx_path:
            out["float_sha256"] = self.float_sha256
        base = self.card.get("base_model")
        if isinstance(base, dict):
            out["base_model"] = {k: base.get(k) for k in ("name", "version", "sha256")}
        return out


#: The :class:`InstanceThresholds` fields that decide a segmentation's warnings, recorded in :meth:`ModelCard.summary`.
WARNING_SETTINGS = ("subpixel_membrane", "invert_dark")


def _card_path(model: str | Path | None) -> Path:
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, str) and model in SHIPPED_MODELS:
        return SHIPPED_MODELS[model]
    path = Path(model)
    if path.suffix.lower() == ".onnx":
        return path.with_suffix(".json")
    if path.suffix.lower() == ".json":
        return path
    raise ValueError(
        f"unknown model {str(model)!r}: pass one of {', '.join(sorted(SHIPPED_MODELS))} or the path of a "
        "model's .onnx file (its card .json must lie beside it)"
    )


def absolute_model(model: str | Path | None, *, folder: str | Path = ".") -> str | None:
    """``model`` with a relative file path made absolute from ``folder`` (shipped names and None unchanged).

    A run record (``run.json``) keeps the model so, and can then be reused from any folder.
    """
    if model is None or (isinstance(model, str) and model in SHIPPED_MODELS):
        return None if model is None else str(model)
    path = Path(model).expanduser()
    return str(path if path.is_absolute() else (Path(folder) / path).resolve())


def _absolute_file(value: Any, folder: Path) -> Any:
    """A recorded model file path made absolute from ``folder``; shipped names, absolute paths and non-paths
    unchanged."""
    if not isinstance(value, str) or not value or value in SHIPPED_MODELS:
        return value
    return absolute_model(value, folder=folder)


def parameters_from_folder(parameters: Any, folder: str | Path) -> Any:
    """Recorded analysis parameters (a run.json's or a done-marker's ``parameters``) with a relative ``model``
    file made absolute from ``folder``, the folder of the record; as they are otherwise."""
    if not isinstance(parameters, dict) or not parameters.get("model"):
        return parameters
    return {**parameters, "model": _absolute_file(parameters["model"], Path(folder))}


def run_from_folder(run: dict[str, Any], folder: str | Path) -> dict[str, Any]:
    """A run record (``run.json``) whose relative model paths are made absolute from ``folder``, the folder
    holding it: its ``parameters.model`` and, per image record, ``parameters.model`` and the segmenter model's
    ``file`` and ``card``. A record is reused from any working directory (``tem --config``, ``--resume``,
    ``report``); absolute paths and shipped model names are kept as they are."""
    folder = Path(folder)
    out = {**run, "parameters": parameters_from_folder(run.get("parameters"), folder)}
    if "parameters" not in run:
        del out["parameters"]
    images = run.get("images")
    if isinstance(images, list):
        out["images"] = [_record_from_folder(record, folder) for record in images]
    return out


def _record_from_folder(record: Any, folder: Path) -> Any:
    if not isinstance(record, dict):
        return record
    record = {**record}
    if "parameters" in record:
        record["parameters"] = parameters_from_folder(record["parameters"], folder)
    if "segmenter" in record:
        record["segmenter"] = segmenter_from_folder(record["segmenter"], folder)
    return record


def segmenter_from_folder(segmenter: Any, folder: str | Path) -> Any:
    """A recorded segmenter (a run.json image record's or a done-marker's ``segmenter``) whose relative model
    ``file`` and ``card`` are made absolute from ``folder``, the folder of the record; as it is otherwise."""
    model = segmenter.get("model") if isinstance(segmenter, dict) else None
    if not isinstance(model, dict):
        return segmenter
    model = {**model, **{k: _absolute_file(model[k], Path(folder)) for k in ("file", "card") if k in model}}
    return {**segmenter, "model": model}


def load_card(model: str | Path | None = None) -> ModelCard:
    """Read a model card and verify its ONNX file's checksum.

    Parameters
    ----------
    model : str or Path, optional
        A shipped model's name (default ``"ev-unet"``), or the path of a
        ``.onnx`` file (with its ``.json`` card beside it) or of the card.

    Returns
    -------
    ModelCard

    Raises
    ------
    ValueError
        If a file is missing, unreadable, not a model card, or the ONNX file's
        checksum differs from the card's; the message names the file and the fix.
    """
    card_path = _card_path(model).resolve()
    if model is not None and not (isinstance(model, str) and model in SHIPPED_MODELS):
        given = Path(model)
        if not given.is_file():
            where = "" if given.is_absolute() else f" (a relative path is read from the current folder, {Path.cwd()})"
            raise ValueError(
                f"model file {given} does not exist{where}; pass the path of a .onnx written by exo-vision model or "
                "exo-vision train, or leave --model out for the shipped model"
            )
        if not card_path.is_file():
            raise ValueError(
                f"model {given} has no card {card_path.name} beside it; keep the .json a model was written with "
                "in the same folder as its .onnx"
            )
    return _load_card_cached(str(card_path), *_stamp(card_path))


def _stamp(card_path: Path) -> tuple[float, float]:
    """Modification times of the card and its model (so an edited file is read again)."""
    try:
        card_m = card_path.stat().st_mtime
    except OSError:
        card_m = -1.0
    onnx_m = -1.0
    # every network in the card's folder: an int8 copy's card names files of other stems (its float network)
    for onnx in card_path.parent.glob("*.onnx"):
        try:
            onnx_m = max(onnx_m, onnx.stat().st_mtime)
        except OSError:
            pass
    return card_m, onnx_m


def float_copy_path(onnx_path: Path) -> Path:
    """Where a copied int8 model keeps the float network it was made from: ``<stem>_float.onnx`` beside it."""
    return onnx_path.with_name(onnx_path.stem + "_float.onnx")


def refuse_overwrite(paths: tuple[Path, ...] | list[Path], *, choose: str = "another name") -> None:
    """Raise ``ValueError`` naming the first of ``paths`` that exists: a model is never overwritten."""
    for existing in paths:
        if existing.exists():
            raise ValueError(f"{existing} exists: choose {choose} (a model is never overwritten)")


def refuse_shipped_folder(path: str | Path) -> None:
    """Raise ``ValueError`` when ``path`` lies in the package's own models folder (:data:`MODELS_DIR`) or below it.

    A model written there would replace or sit among the shipped ones, and a reinstall would remove it.
    """
    if MODELS_DIR.resolve() in Path(path).resolve().parents:
        raise ValueError(
            f"{path} is in exo_vision's own models folder, which holds the shipped models only; save the model in "
            "a folder of your own (e.g. models/our_lab.onnx)"
        )


def check_model_destination(path: str | Path, *, option: str = "--out") -> Path:
    """The ``.onnx`` path a new model is written to, refusing a folder, a path under a file and the shipped
    models' folder.

    Raises
    ------
    ValueError
        When ``path`` is an existing folder (the model would land beside it as ``<folder>.onnx``), one of
        its parents is a file, it lies in the package's own models folder, or its folder cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name inside it, such as {path / 'lab_model.onnx'}")
    refuse_shipped_folder(path)
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"{option} {path}: {parent} is a file, not a folder; choose a path in a folder")
    refuse_unwritable(path, option=option)
    return path


def refuse_unwritable(path: str | Path, *, option: str = "--out") -> None:
    """Raise ``ValueError`` when no file can be made in ``path``'s folder, or in the nearest existing folder above
    it (where its folders would be made): tried with a nameless temporary file, so nothing is left behind.
    """
    path = Path(path).absolute()
    folder = next((parent for parent in path.parents if parent.is_dir()), path.anchor)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(
            f"{option} {path}: cannot write in {folder} ({err.strerror or err}); choose a folder you can write to"
        ) from None


def _is_shipped(card_path: Path) -> bool:
    """Whether ``card_path`` is one of the package's own model files (a reinstall brings those back)."""
    path = card_path.resolve()
    return path.parent == MODELS_DIR.resolve() or path in {card.resolve() for card in SHIPPED_MODELS.values()}


def _fix(card_path: Path) -> str:
    """What to do about a missing or damaged model file: reinstall for a shipped model, else its own files."""
    if _is_shipped(card_path):
        return _REINSTALL
    return (
        f"a model is two files written together, {card_path.stem}.onnx and its card {card_path.name}: copy both "
        "again from where the model was written (or a backup), or make the model again (exo-vision train or "
        "exo-vision model)"
    )


def _verify(onnx_path: Path, expected: str, *, named_by: Path) -> str:
    """The sha256 of ``onnx_path`` after checking it exists and matches ``expected``."""
    if not onnx_path.is_file():
        raise ValueError(f"model weights {onnx_path} are missing (named by {named_by.name}); {_fix(named_by)}")
    try:
        digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    except OSError as err:
        raise ValueError(f"cannot read model weights {onnx_path}: {err.strerror}; {_fix(named_by)}") from None
    if digest != expected:
        raise ValueError(
            f"model weights {onnx_path} are damaged or not the ones its card {named_by.name} describes "
            f"(sha256 {digest[:DIGEST_SHOWN_CHARS]}..., card says {expected[:DIGEST_SHOWN_CHARS]}...); "
            f"{_fix(named_by)}"
        )
    return digest


def _weights_path(card_path: Path, card: dict[str, Any]) -> Path:
    """The ``.onnx`` file a card describes: the one its ``"file"`` names; a card without ``"file"``, or one whose
    file is not there while the ``.onnx`` of the card's own name is (a pair renamed together, checked against the
    card's sha256 afterwards), gets the ``.onnx`` of its own name."""
    own = card_path.with_suffix(".onnx")
    if "file" not in card:
        return own
    named = card_path.with_name(str(card["file"]))
    if not named.is_file() and own.is_file() and not _is_shipped(card_path):
        return own
    return named


@lru_cache(maxsize=CARD_CACHE_SIZE)
def _load_card_cached(card_file: str, _card_mtime: float, _onnx_mtime: float) -> ModelCard:
    card_path = Path(card_file)
    if not card_path.is_file():
        raise ValueError(f"model card {card_path} is missing; {_fix(card_path)}")
    try:
        raw = card_path.read_bytes()
        card = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{card_path} is not a valid exo_vision model card ({err}); {_fix(card_path)}") from None
    check_card(card, card_path)  # a hand-edited card: its field, the problem and the fix
    try:
        onnx_path = _weights_path(card_path, card)
        expected = str(card["sha256"])
        scale = float(card["input"]["working_scale_nm"])
        multiple = int(card["input"]["multiple_of"])
        thresholds = InstanceThresholds(**card.get("thresholds", {}))
        float_path = card_path.with_name(card["float_file"]) if "float_file" in card else None
        float_sha = str(card["float_sha256"]) if float_path is not None else ""
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{card_path} is not a valid exo_vision model card ({err}); {_fix(card_path)}") from None
    if not onnx_path.is_file() and not _is_shipped(card_path) and onnx_path.stem != card_path.stem:
        raise ValueError(
            f'model card {card_path} names the weights {onnx_path.name} (its "file"), which are not beside it. '
            "A model's two files keep the names they were written with; if you renamed the pair, rename both back, "
            f'or set "file" in {card_path.name} to the .onnx file\'s new name'
        )
    digest = _verify(onnx_path, expected, named_by=card_path)
    return ModelCard(
        name=str(card.get("name", onnx_path.stem)),
        version=str(card.get("version", "?")),
        onnx_path=onnx_path,
        card_path=card_path,
        sha256=digest,
        card_sha256=hashlib.sha256(raw).hexdigest(),
        working_scale_nm=scale,
        multiple_of=multiple,
        thresholds=thresholds,
        card=card,
        float_onnx_path=float_path if float_path is not None else onnx_path,
        float_sha256=float_sha if float_path is not None else digest,
    )
