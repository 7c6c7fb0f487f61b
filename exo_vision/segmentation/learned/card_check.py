"""Checks of a model card's fields (the ``.json`` beside a model's ``.onnx``).

A card is written by ``exo-vision train`` or ``exo-vision model``, but it is a
text file a person can edit. :func:`check_card` refuses one whose fields have
the wrong type or lie outside their range, naming the file, the field and what
to write there, before any of them is used.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

from exo_vision.segmentation.learned.parameters import FLIP_COUNTS, GRID_SHIFT_COUNTS, InstanceThresholds

#: A sha256 as cards write it: 64 lower- or upper-case hex digits.
SHA256_PATTERN = re.compile(r"[0-9a-fA-F]{64}")
#: Thresholds that are probabilities or fractions: from 0 to 1.
UNIT_INTERVAL_THRESHOLDS = ("foreground", "seed", "min_seed_fraction", "merge_boundary", "coarse_min_solidity")
#: Card keys naming a file beside the card.
FILE_KEYS = ("file", "float_file")
#: Card key of the range of pixel sizes (nm) a model was trained or fine-tuned on: [smallest, largest].
TRAINED_PIXEL_SIZES_KEY = "trained_pixel_size_nm"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Raises the ValueError naming the card file, the field and the fix."""

    def __init__(self, card_path: Path) -> None:
        self.card_path = card_path

    def fail(self, field: str, problem: str, fix: str) -> NoReturn:
        raise ValueError(
            f"model card {self.card_path}: {field} {problem}; {fix} (a card edited by hand must keep the types and "
            "ranges exo_vision wrote; if it was not edited, copy the model's .onnx and .json again together)"
        )

    def obj(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"must be a JSON object {{...}}, got {json_type(value)}", f"restore {field}")
        return value

    def sha256(self, value: Any, field: str) -> None:
        if not isinstance(value, str) or not SHA256_PATTERN.fullmatch(value):
            self.fail(
                field,
                f"must be a sha256 (64 hex digits in quotes), got {value!r}",
                f"write the weights' checksum (what sha256sum MODEL.onnx prints) in {field}",
            )

    def number(self, value: Any, field: str, *, low: float, high: float = math.inf, low_open: bool = False) -> None:
        inside = _is_number(value) and (value > low if low_open else value >= low) and value <= high
        if not inside:
            bounds = f"{'above' if low_open else 'at least'} {low:g}" + (
                f" and at most {high:g}" if high < math.inf else ""
            )
            self.fail(field, f"must be a number {bounds}, got {value!r}", f"write such a number in {field}")

    def integer(self, value: Any, field: str, *, low: int, allowed: tuple[int, ...] = ()) -> None:
        if not _is_integer(value) or value < low or (allowed and value not in allowed):
            what = f"one of {', '.join(map(str, allowed))}" if allowed else f"a whole number of at least {low}"
            self.fail(field, f"must be {what}, got {value!r}", f"write {what} in {field} (no quotes, no decimals)")

    def boolean(self, value: Any, field: str) -> None:
        if not isinstance(value, bool):
            self.fail(field, f"must be true or false, got {value!r}", f"write true or false (no quotes) in {field}")


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (``string``, ``number``, ...), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def check_card(card: Any, card_path: Path) -> None:
    """Refuse a model card whose fields are missing, of the wrong type or out of range.

    Required: ``sha256`` and ``input`` with ``working_scale_nm`` (nm/px, above 0) and ``multiple_of`` (at least
    1). Checked when present: ``name``, ``version``, ``file`` and ``float_file`` (plain ``.onnx`` file names),
    ``float_sha256`` (required with ``float_file``), every ``thresholds`` field
    (:class:`~exo_vision.segmentation.learned.parameters.InstanceThresholds`), ``architecture`` sizes and
    ``trained_pixel_size_nm`` ([smallest, largest] nm/px).

    Raises
    ------
    ValueError
        Naming ``card_path``, the field, the problem and the fix.
    """
    check = _Checker(card_path)
    card = check.obj(card, "the card")
    for key in ("sha256", "input"):
        if key not in card:
            check.fail(f'"{key}"', "is missing", f'restore "{key}"')
    check.sha256(card["sha256"], '"sha256"')
    given = check.obj(card["input"], '"input"')
    for key in ("working_scale_nm", "multiple_of"):
        if key not in given:
            check.fail(f'"input.{key}"', "is missing", f'restore "input.{key}"')
    check.number(given["working_scale_nm"], '"input.working_scale_nm"', low=0, low_open=True)
    check.integer(given["multiple_of"], '"input.multiple_of"', low=1)
    if "name" in card and (not isinstance(card["name"], str) or not card["name"].strip()):
        check.fail('"name"', f"must be a non-empty string, got {card['name']!r}", 'write the name in quotes in "name"')
    version = card.get("version", "")
    if not isinstance(version, (str, int, float)) or isinstance(version, bool):
        check.fail(
            '"version"', f"must be a string, got {card['version']!r}", 'write the version in quotes in "version"'
        )
    _check_files(check, card)
    _check_thresholds(check, card.get("thresholds", {}))
    if "architecture" in card:
        arch = check.obj(card["architecture"], '"architecture"')
        for key in ("base_channels", "depth"):
            if key in arch:
                check.integer(arch[key], f'"architecture.{key}"', low=1)
    if TRAINED_PIXEL_SIZES_KEY in card:
        _check_pixel_range(check, card[TRAINED_PIXEL_SIZES_KEY])


def _check_files(check: _Checker, card: dict[str, Any]) -> None:
    for key in FILE_KEYS:
        if key not in card:
            continue
        name = card[key]
        if not isinstance(name, str) or not name.lower().endswith(".onnx") or Path(name).name != name or "\\" in name:
            check.fail(
                f'"{key}"',
                f"must be the name of a .onnx file beside the card (no folder), got {name!r}",
                f'write the file name in quotes in "{key}", e.g. "{check.card_path.stem}.onnx"',
            )
    if "float_file" in card:
        if "float_sha256" not in card:
            check.fail('"float_sha256"', 'is missing (the card has "float_file")', 'restore "float_sha256"')
        check.sha256(card["float_sha256"], '"float_sha256"')


def _check_thresholds(check: _Checker, thresholds: Any) -> None:
    values = check.obj(thresholds, '"thresholds"')
    known = {f.name: f for f in fields(InstanceThresholds)}
    for key, value in values.items():
        field = f'"thresholds.{key}"'
        if key not in known:
            check.fail(field, "is not a threshold exo_vision knows", f"remove it (known: {', '.join(known)})")
        kind = type(getattr(InstanceThresholds(), key))
        if kind is bool:
            check.boolean(value, field)
        elif kind is int:
            allowed = {"flips": FLIP_COUNTS, "grid_shifts": GRID_SHIFT_COUNTS}.get(key, ())
            check.integer(value, field, low=1 if allowed else 0, allowed=allowed)
        elif key in UNIT_INTERVAL_THRESHOLDS:
            check.number(value, field, low=0, high=1)
        else:
            check.number(value, field, low=0)


def _check_pixel_range(check: _Checker, value: Any) -> None:
    field = f'"{TRAINED_PIXEL_SIZES_KEY}"'
    if not isinstance(value, list) or len(value) != 2:
        check.fail(field, f"must be [smallest, largest] in nm/px, got {value!r}", f"write two numbers in {field}")
    for k, v in enumerate(value):
        check.number(v, f"{field}[{k}]", low=0, low_open=True)
    if value[0] > value[1]:
        check.fail(field, f"lists the largest pixel size first ({value!r})", f"write [smallest, largest] in {field}")
