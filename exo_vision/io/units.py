"""Length units: turn whatever a file calls its pixel-size unit into nanometres.

Microscope software spells units many ways ("µm", "um", "micron", "Å", "A",
"angstrom", "1/nm") and some locales write decimal commas ("0,005506").
Everything here is a pure function of strings and numbers.
"""

from __future__ import annotations

import math
import re

#: Nanometres per unit, keyed by the normalised unit spelling.
NM_PER_UNIT: dict[str, float] = {
    "pm": 1e-3,
    "picometer": 1e-3,
    "picometre": 1e-3,
    "a": 0.1,
    "å": 0.1,
    "angstrom": 0.1,
    "angstroem": 0.1,
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometre": 1.0,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,
    "micron": 1e3,
    "microns": 1e3,
    "micrometer": 1e3,
    "micrometre": 1e3,
    "mm": 1e6,
    "millimeter": 1e6,
    "millimetre": 1e6,
    "cm": 1e7,
    "centimeter": 1e7,
    "centimetre": 1e7,
    "m": 1e9,
    "meter": 1e9,
    "metre": 1e9,
    "in": 2.54e7,
    "inch": 2.54e7,
}

_RECIPROCAL = re.compile(r"^\s*(1\s*/|per\s+)|\^\s*-\s*1\s*$|-1\s*$")


class UnitError(ValueError):
    """A unit string is not a length unit that can be converted to nanometres."""


def normalise_unit(unit: str) -> str:
    """Return a canonical lower-case spelling of a unit string.

    Parameters
    ----------
    unit : str
        Unit as written in a file, e.g. ``"µm"``, ``"Micron"``, ``"Å"``,
        ``"1 / nm"``.

    Returns
    -------
    str
        Lower-cased, whitespace-stripped unit with the micro sign and the
        Greek mu unified to ``"µ"`` and plurals of "micron" kept.
    """
    text = str(unit).strip().replace("\u03bc", "\u00b5").replace("\u212b", "\u00c5")
    text = text.lower()
    if text.endswith("s") and text[:-1] in NM_PER_UNIT and len(text) > 3:
        text = text[:-1]
    return text


def is_reciprocal_unit(unit: str | None) -> bool:
    """Tell whether ``unit`` is a reciprocal length such as ``1/nm``.

    Parameters
    ----------
    unit : str or None
        Unit string from a file.

    Returns
    -------
    bool
        ``True`` for reciprocal-space units (``"1/nm"``, ``"1 / Å"``,
        ``"nm^-1"``, ``"per nm"``): those calibrate diffraction patterns and
        FFTs, not real-space pixels.
    """
    if unit is None:
        return False
    return bool(_RECIPROCAL.search(normalise_unit(unit)))


def is_length_unit(unit: str | None) -> bool:
    """Tell whether ``unit`` is a real-space length unit known to this module.

    Parameters
    ----------
    unit : str or None
        Unit string from a file.

    Returns
    -------
    bool
        ``True`` when :func:`length_to_nm` can convert it.
    """
    if unit is None or is_reciprocal_unit(unit):
        return False
    return normalise_unit(unit) in NM_PER_UNIT


def parse_number(text: str | float | int) -> float:
    """Parse a number that may use a decimal comma.

    Parameters
    ----------
    text : str or float or int
        ``"0,005506"``, ``"0.005506"``, ``"1.234,5"`` (German thousands
        separator) or an already numeric value.

    Returns
    -------
    float
        The value.

    Raises
    ------
    ValueError
        If ``text`` is not a number in any of these spellings; the message
        quotes the text.
    """
    if isinstance(text, (int, float)):
        return float(text)
    raw = str(text).strip().replace("\u00a0", "").replace(" ", "")
    candidate = raw
    if "," in raw and "." in raw:
        # The later separator is the decimal one ("1.234,5" or "1,234.5").
        if raw.rfind(",") > raw.rfind("."):
            candidate = raw.replace(".", "").replace(",", ".")
        else:
            candidate = raw.replace(",", "")
    elif "," in raw:
        candidate = raw.replace(",", ".")
    try:
        return float(candidate)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a number (tried decimal point and decimal comma); write the value like 0.62"
        ) from None


def length_to_nm(value: float | str, unit: str | None) -> float:
    """Convert a length in ``unit`` to nanometres.

    Parameters
    ----------
    value : float or str
        Length (a string may use a decimal comma).
    unit : str
        Length unit: pm, Å/A/angstrom, nm, µm/um/micron/micrometer, mm, cm,
        m, inch (any case, singular or plural).

    Returns
    -------
    float
        The length in nanometres.

    Raises
    ------
    UnitError
        If ``unit`` is missing, reciprocal (``1/nm``) or not a length unit; or
        if the value is not a positive finite number.
    """
    if unit is None or str(unit).strip() == "":
        raise UnitError("the pixel size has no unit; give the pixel size in nm yourself")
    if is_reciprocal_unit(unit):
        raise UnitError(
            f"the pixel size is in reciprocal units ({unit!r}): this is a diffraction "
            "pattern or an FFT, not a real-space micrograph; open the real-space image "
            "or give the pixel size in nm yourself"
        )
    key = normalise_unit(unit)
    if key not in NM_PER_UNIT:
        raise UnitError(
            f"{unit!r} is not a length unit this reader knows (pm, Å, nm, µm, mm, cm, m, "
            "inch); give the pixel size in nm yourself"
        )
    number = parse_number(value)
    if not math.isfinite(number) or number <= 0:
        raise UnitError(f"the pixel size {value!r} {unit} is not a positive number")
    return number * NM_PER_UNIT[key]
