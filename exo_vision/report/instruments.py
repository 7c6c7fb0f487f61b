"""Values a user types in from other instruments: DLS, zeta potential, protein assay.

Each is given on the command line as comma-separated ``key=value`` pairs, for
example ``--dls "z_avg_nm=121.3,sd_nm=23.7,pdi=0.21"``. A bare number stands
for the first (required) key, so ``--zeta -23.5`` means ``mean_mv=-23.5``.
Text keys (``instrument``, ``method``) take free text without commas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One accepted key: its meaning, whether it is required, and its valid range."""

    key: str
    label: str
    required: bool = False
    low: float | None = None
    high: float | None = None
    text: bool = False


#: Accepted keys per instrument kind, the required one first.
FIELDS: dict[str, tuple[Field, ...]] = {
    "dls": (
        Field("z_avg_nm", "Z-average diameter (nm)", required=True, low=1.0, high=10_000.0),
        Field("sd_nm", "SD of the Z-average over replicates (nm)", low=0.0, high=10_000.0),
        Field("pdi", "Polydispersity index", low=0.0, high=1.0),
        Field("instrument", "Instrument", text=True),
    ),
    "zeta": (
        Field("mean_mv", "Zeta potential (mV)", required=True, low=-500.0, high=500.0),
        Field("sd_mv", "SD (mV)", low=0.0, high=500.0),
        Field("instrument", "Instrument", text=True),
    ),
    "protein": (
        Field("ug_per_ml", "Protein concentration (µg/mL)", required=True, low=0.0, high=1e7),
        Field("sd_ug_per_ml", "SD (µg/mL)", low=0.0, high=1e7),
        Field("method", "Assay", text=True),
    ),
}

_EXAMPLES = {
    "dls": '--dls "z_avg_nm=121.3,sd_nm=23.7,pdi=0.21"',
    "zeta": '--zeta "mean_mv=-23.5,sd_mv=4.1"',
    "protein": '--protein "ug_per_ml=850,method=BCA"',
}


def parse_instrument_values(text: str, *, kind: str) -> dict[str, float | str]:
    """Parse ``key=value`` pairs typed in from another instrument.

    Parameters
    ----------
    text : str
        Comma-separated ``key=value`` pairs, or one bare number for the
        required key (see :data:`FIELDS` for the keys of each kind).
    kind : {"dls", "zeta", "protein"}
        Which instrument the values come from.

    Returns
    -------
    dict
        Key -> float (numbers, checked against their valid range) or str
        (text keys). The required key is always present.

    Raises
    ------
    ValueError
        Naming the option, the offending item and an example of valid input,
        for an unknown key, a repeated key, a value that is not a finite
        number, a value out of range, or a missing required key.
    """
    if kind not in FIELDS:
        raise ValueError(f"unknown instrument kind {kind!r}; use one of {', '.join(FIELDS)}")
    fields = {f.key: f for f in FIELDS[kind]}
    required = FIELDS[kind][0]
    option = f"--{kind}"
    example = _EXAMPLES[kind]
    keys = ", ".join(fields)
    text = str(text).strip()
    if not text:
        raise ValueError(f"{option} is empty; give key=value pairs (keys: {keys}), e.g. {example}")
    out: dict[str, float | str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise ValueError(f"{option} {text!r}: empty item between commas; e.g. {example}")
        if "=" in item:
            key, _, raw = (s.strip() for s in item.partition("="))
        elif not out:
            key, raw = required.key, item
        else:
            raise ValueError(f"{option} {text!r}: item {item!r} is not key=value (keys: {keys}); e.g. {example}")
        if key not in fields:
            raise ValueError(f"{option} {text!r}: unknown key {key!r}; use {keys}; e.g. {example}")
        if key in out:
            raise ValueError(f"{option} {text!r}: key {key!r} given twice; give each value once")
        spec = fields[key]
        if spec.text:
            if not raw:
                raise ValueError(f"{option} {text!r}: {key} is empty; give some text or leave the key out")
            out[key] = raw
            continue
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(
                f"{option} {text!r}: {key}={raw!r} is not a number; write e.g. {example} (decimal point, no unit)"
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"{option} {text!r}: {key}={raw!r} must be a finite number")
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise ValueError(
                f"{option} {text!r}: {key}={value:g} is outside the valid range "
                f"{spec.low:g} to {spec.high:g} for {spec.label}; check the value and its unit"
            )
        out[key] = value
    if required.key not in out:
        raise ValueError(f"{option} {text!r}: {required.key} ({required.label}) is required; e.g. {example}")
    return out
