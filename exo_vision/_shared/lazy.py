"""Package exports resolved on first use, so importing a package stays cheap (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` that import each exported name from its module when first asked.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (named in the error for an unknown attribute).
    exports : dict
        Public name -> the module that defines it (``"segment_vesicles": "exo_vision.segmentation.api"``).
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
