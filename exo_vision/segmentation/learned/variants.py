"""A model with other post-processing settings: the same weights under a new card.

The shipped card keeps the settings that were judged best on the project's
validation rules; seven others are opt-in (the models' README gives their
figures). :func:`write_model_variant` writes a copy of a model whose card turns
them on, with a version that says so (``1.0+join_rounder``), so that every
``run.json`` made with it records what was used.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exo_vision.segmentation.learned.method import FLIP_COUNTS, GRID_SHIFT_COUNTS
from exo_vision.segmentation.learned.weights import MODELS_DIR, ModelCard, float_copy_path, load_card, refuse_overwrite

#: Card settings a variant may change, with a check and what a valid value is.
VARIANT_SETTINGS: dict[str, tuple[Any, str]] = {
    "join_rounder": (lambda v: isinstance(v, bool), "true or false"),
    "subpixel_membrane": (lambda v: isinstance(v, bool), "true or false"),
    "invert_dark": (lambda v: isinstance(v, bool), "true or false"),
    "flips": (
        lambda v: not isinstance(v, bool) and v in FLIP_COUNTS,
        f"{', '.join(map(str, FLIP_COUNTS[:-1]))} or {FLIP_COUNTS[-1]}",
    ),
    "grid_shifts": (
        lambda v: not isinstance(v, bool) and v in GRID_SHIFT_COUNTS,
        f"{', '.join(map(str, GRID_SHIFT_COUNTS[:-1]))} or {GRID_SHIFT_COUNTS[-1]}",
    ),
    "normalise_window_px": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "0 (the whole image) or a positive whole number of network pixels",
    ),
    "second_scale_factor": (
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and (v == 0 or 0.5 <= v <= 2.0),
        "0 (one fine pass) or a factor of the working scale from 0.5 to 2",
    ),
}


def _checked_changes(base: ModelCard, changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` that differ from ``base``'s settings, after checking names and values."""
    if not changes:
        raise ValueError(f"no setting to change: give one of {', '.join(sorted(VARIANT_SETTINGS))}")
    for name, value in changes.items():
        if name not in VARIANT_SETTINGS:
            raise ValueError(
                f"a model variant cannot change {name!r}; it may change {', '.join(sorted(VARIANT_SETTINGS))}"
            )
        ok, expected = VARIANT_SETTINGS[name]
        if not ok(value):
            raise ValueError(f"{name} must be {expected}, got {value!r}")
    current = asdict(base.thresholds)
    different = {k: v for k, v in changes.items() if current[k] != v}
    if not different:
        raise ValueError(
            f"nothing to change: {base.name} {base.version} already has "
            + ", ".join(f"{k} = {v}" for k, v in changes.items())
        )
    return different


def _destination(destination: str | Path) -> Path:
    """The new ``.onnx`` path; refuses the package's own folder and files that exist."""
    path = Path(destination)
    if path.suffix.lower() != ".onnx":
        path = path.with_name(path.name + ".onnx")
    if path.resolve().parent == MODELS_DIR.resolve():
        raise ValueError(f"{path}: write model variants outside the package's own models folder")
    refuse_overwrite((path, path.with_suffix(".json"), float_copy_path(path)))
    return path


def variant_card(base: ModelCard, changes: dict[str, Any], *, file_name: str) -> dict[str, Any]:
    """The card of ``base`` with ``changes`` applied to its thresholds.

    The version gains the changed names (``1.0+join_rounder``), ``variant``
    records the base model and each change as ``[before, after]``, and the
    base's validation figures move to ``validation_of_base`` (they were measured
    with the base's settings, not these).
    """
    changes = _checked_changes(base, changes)
    before = asdict(base.thresholds)
    card = json.loads(json.dumps(base.card))
    card["file"] = file_name
    card["version"] = f"{base.version}+{'+'.join(sorted(changes))}"
    card["thresholds"] = asdict(replace(base.thresholds, **changes))
    if "validation" in card:
        card["validation_of_base"] = card.pop("validation")
    card["variant"] = {
        "base": {"name": base.name, "version": base.version, "sha256": base.sha256},
        "changed": {k: [before[k], v] for k, v in sorted(changes.items())},
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d"),
        "weights": "unchanged (same sha256)",
    }
    return card


def write_model_variant(destination: str | Path, *, base: str | Path | None = None, **changes: Any) -> Path:
    """Write a copy of ``base`` whose card changes some post-processing settings.

    Parameters
    ----------
    destination : str or Path
        The new model's ``.onnx`` file (its card is written beside it with the
        suffix ``.json``). Neither file may exist yet.
    base : str or Path, optional
        The model to start from: a shipped model's name (default ``"ev-unet"``)
        or a model's ``.onnx`` path.
    **changes
        Settings of :data:`VARIANT_SETTINGS`, e.g. ``join_rounder=True``.

    Returns
    -------
    Path
        The new ``.onnx`` file; :func:`~exo_vision.segmentation.learned.weights.load_card`
        reads it with its checksum verified.

    Raises
    ------
    ValueError
        For an unknown setting, a value out of range, a change that changes
        nothing, an existing file, or a destination inside the package.
    """
    from exo_vision._shared.atomic import atomic_write_bytes

    card = load_card(base)
    path = _destination(destination)
    new_card = variant_card(card, changes, file_name=path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if card.float_onnx_path != card.onnx_path:
        # an int8 copy: its float network (what fine-tuning starts from) goes along
        float_copy = float_copy_path(path)
        atomic_write_bytes(float_copy, card.checked_float_network().read_bytes())
        new_card["float_file"] = float_copy.name
    atomic_write_bytes(path, card.onnx_path.read_bytes())
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(new_card, indent=1) + "\n").encode("utf-8"))
    return path
