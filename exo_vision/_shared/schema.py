"""Strict, typed checking of parameter tables read from TOML or JSON files.

TOML happily parses ``pixel_size_nm = true`` or ``exclude_border = "false"``;
Python then takes ``True`` as 1 and any non-empty string as true. Every value
read from a user's file therefore goes through :func:`check_table`, which
knows the type of each key, refuses unknown keys (suggesting the nearest known
one: a typo such as ``ug_loded`` must not be silently ignored), and names the
file, the key, the value and the fix.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

#: Type names understood by :func:`check_value`.
TYPES = ("number", "int", "bool", "str", "number_pair", "number_list", "str_list", "table_list")

_EXAMPLES = {
    "number": "a number such as 0.62",
    "int": "a whole number such as 2",
    "bool": "true or false (without quotes)",
    "str": 'a text in quotes such as "auto"',
    "number_pair": "two numbers such as [30, 150]",
    "number_list": "a list of numbers such as [20.0, 10.0]",
    "str_list": 'a list of texts such as ["lysate", "exo1"]',
    "table_list": "one or more [[tables]]",
}


def nearest_key(key: str, known: list[str] | tuple[str, ...]) -> str | None:
    """The known key closest to ``key`` (a likely typo), or None."""
    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key_message(key: str, known: list[str] | tuple[str, ...], *, where: str, noun: str = "key") -> str:
    """The message for an unknown key, with the nearest known key when there is one."""
    guess = nearest_key(key, known)
    hint = f"did you mean {guess!r}?" if guess else f"known {noun}s: {', '.join(known)}"
    return f"{where}: unknown {noun} {key!r}; {hint} (remove or rename it)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_value(value: Any, kind: str) -> bool:
    """Whether ``value`` has the type ``kind`` (one of :data:`TYPES`)."""
    if kind == "number":
        return _is_number(value)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "number_pair":
        return isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value)
    if kind == "number_list":
        return isinstance(value, (list, tuple)) and all(_is_number(v) for v in value)
    if kind == "str_list":
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if kind == "table_list":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    raise ValueError(f"unknown schema type {kind!r}")


def check_table(
    values: Mapping[str, Any],
    schema: Mapping[str, str],
    *,
    where: str,
    nullable: frozenset[str] | set[str] = frozenset(),
    noun: str = "key",
) -> dict[str, Any]:
    """Check every key and value of a parameter table.

    Parameters
    ----------
    values : mapping
        The table as parsed.
    schema : mapping of str to str
        Key -> type name (:data:`TYPES`).
    where : str
        What to name in messages: the file, and the table inside it.
    nullable : set of str
        Keys that may be ``null`` (JSON ``None``: "not set").
    noun : str
        What a key is called in messages ("key", "parameter").

    Returns
    -------
    dict
        The same table (a copy).

    Raises
    ------
    ValueError
        For an unknown key (with the nearest known key) or a value of the
        wrong type (with an example of the right one).
    """
    if not isinstance(values, Mapping):
        raise ValueError(f"{where}: expected a table of parameters, got {type(values).__name__}")
    known = tuple(schema)
    for key, value in values.items():
        if key not in schema:
            raise ValueError(unknown_key_message(str(key), known, where=where, noun=noun))
        if value is None and key in nullable:
            continue
        kind = schema[key]
        if not check_value(value, kind):
            raise ValueError(f"{where}: {key} = {value!r} is not {_EXAMPLES[kind]}; correct it")
    return dict(values)
