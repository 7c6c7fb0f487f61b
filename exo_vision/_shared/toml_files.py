"""TOML files written by people: UTF-8 with or without Excel's and Notepad's byte-order mark."""

from __future__ import annotations

import tomllib
from typing import Any

#: What editors on Windows put before UTF-8 text, and TOML does not allow.
BYTE_ORDER_MARK = "\ufeff"


def parse_problem(err: Exception) -> str:
    """What a parser's error says, in words (a nesting too deep for any parser gives no message of its own)."""
    if isinstance(err, RecursionError):
        return "nested too deeply to be a configuration"
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text at byte {err.start}; save it as UTF-8"
    return str(err)


def parse_toml(raw: bytes) -> dict[str, Any]:
    """The table of a TOML file's bytes (a leading byte-order mark is no content).

    Raises
    ------
    tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError
        As the text and parser raise them; :func:`parse_problem` words them.
    """
    return tomllib.loads(raw.decode("utf-8").removeprefix(BYTE_ORDER_MARK))
