"""The parameters of one TEM analysis: one frozen, validated object with every default in one place.

:class:`TemParameters` is what :func:`exo_vision.tem_analysis.analyse_micrograph`
takes; the command line, the batch configuration, the segmentation dock and
the grid session build one and read their defaults from it. It serialises to
a plain dict (``run.json``) and to TOML, and reads back from both.
"""

from __future__ import annotations

import numbers
import tomllib
from dataclasses import asdict, dataclass, fields
from typing import Any

from exo_vision._shared.validation import check_diameter_range, is_bool
from exo_vision.segmentation.api import DEFAULT_METHOD, METHODS, check_method

#: Most bootstrap resamples.
MAX_N_BOOT = 1_000_000
#: Polarities a user may ask for.
POLARITIES = ("auto", "bright", "dark")


@dataclass(frozen=True)
class TemParameters:
    """Every parameter that changes the result of analysing one micrograph.

    Attributes
    ----------
    method : str
        Segmentation method (:func:`exo_vision.segmentation.api.available_methods`).
    model : str or None
        For a learned method: a shipped model's name or a ``.onnx`` path (None: the shipped model).
    min_diameter_nm, max_diameter_nm : float
        Vesicle size limits in nm (``0 < min < max``).
    sensitivity : float
        Segmentation sensitivity in [0, 1].
    polarity : {"auto", "bright", "dark"}
        Vesicles lighter or darker than the stain; "auto" detects it.
    exclude_border : bool
        Leave border-touching vesicles out of the statistics.
    size_range_nm : (float, float)
        Range whose fraction is reported (exosomes: 30-150 nm).
    n_boot : int
        Bootstrap resamples for the confidence intervals.
    seed : int
        Seed of the bootstrap.
    """

    method: str = DEFAULT_METHOD
    model: str | None = None
    min_diameter_nm: float = 20.0
    max_diameter_nm: float = 500.0
    sensitivity: float = 0.5
    polarity: str = "auto"
    exclude_border: bool = True
    size_range_nm: tuple[float, float] = (30.0, 150.0)
    n_boot: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate every value, naming the parameter and the fix."""
        check_diameter_range(self.min_diameter_nm, self.max_diameter_nm)
        if not 0 <= float(self.sensitivity) <= 1:
            raise ValueError(f"sensitivity must lie in [0, 1], got {self.sensitivity!r}")
        check_method(self.method)
        if self.model is not None:
            if not METHODS[self.method].uses_model:
                raise ValueError(f"the {self.method} method takes no model; drop --model or choose --method unet")
            object.__setattr__(self, "model", str(self.model))
        if self.polarity not in POLARITIES:
            raise ValueError(f"polarity must be 'auto', 'bright' or 'dark', got {self.polarity!r}")
        if len(self.size_range_nm) != 2 or not float(self.size_range_nm[0]) <= float(self.size_range_nm[1]):
            raise ValueError(
                f"size_range_nm must be [low, high] in nm with 0 <= low < high, got {self.size_range_nm!r}; "
                "e.g. [30, 150]"
            )
        if not is_bool(self.exclude_border):
            raise ValueError(f"exclude_border must be True or False, got {self.exclude_border!r}")
        for name in ("n_boot", "seed"):
            value = getattr(self, name)
            if is_bool(value) or not isinstance(value, numbers.Integral):  # numpy's integers are Integral
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if not 1 <= int(self.n_boot) <= MAX_N_BOOT:
            raise ValueError(f"n_boot must lie in [1, {MAX_N_BOOT}], got {self.n_boot!r}")
        if int(self.seed) < 0:
            raise ValueError(f"seed must be a non-negative whole number, got {self.seed!r}")
        object.__setattr__(self, "size_range_nm", tuple(float(v) for v in self.size_range_nm))

    def to_dict(self) -> dict[str, Any]:
        """Every parameter as a JSON-serialisable value (what ``run.json`` records)."""
        return {
            "method": str(self.method),
            "model": None if self.model is None else str(self.model),
            "min_diameter_nm": float(self.min_diameter_nm),
            "max_diameter_nm": float(self.max_diameter_nm),
            "sensitivity": float(self.sensitivity),
            "polarity": str(self.polarity),
            "exclude_border": bool(self.exclude_border),
            "size_range_nm": [float(v) for v in self.size_range_nm],
            "n_boot": int(self.n_boot),
            "seed": int(self.seed),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TemParameters:
        """Parameters from a dict such as :meth:`to_dict` gives; keys that are not parameters are ignored."""
        known = {f.name for f in fields(cls)}
        chosen = {k: v for k, v in values.items() if k in known and v is not None}
        if "size_range_nm" in chosen:
            chosen["size_range_nm"] = tuple(chosen["size_range_nm"])
        return cls(**chosen)

    def to_toml(self) -> str:
        """The parameters as a ``[tem]`` TOML table (``model`` left out when unset: TOML has no null)."""
        lines = ["[tem]"]
        for key, value in self.to_dict().items():
            if value is None:
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> TemParameters:
        """Parameters from TOML text (a ``[tem]`` table or top-level keys)."""
        doc = tomllib.loads(text)
        return cls.from_dict(doc.get("tem", doc))

    def replace(self, **changes: Any) -> TemParameters:
        """A copy with some parameters changed (validated again)."""
        values = asdict(self)
        values.update(changes)
        return TemParameters(**values)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


#: The defaults, for callers that show them (docks, --help).
DEFAULT_TEM_PARAMETERS = TemParameters()
