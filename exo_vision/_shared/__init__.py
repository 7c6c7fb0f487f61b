"""The base layer every package may use: input validation, atomic files, resources, paths, a robust SD.

* :mod:`~exo_vision._shared.validation` the image, the pixel size, the size range, the work bound
* :mod:`~exo_vision._shared.atomic`     atomic writes and checksums
* :mod:`~exo_vision._shared.resources`  peak memory of the process
* :mod:`~exo_vision._shared.paths`      output names and plans
* :mod:`~exo_vision._shared.schema`     typed parameter tables (TOML, run.json)
* :mod:`~exo_vision._shared.robust`     the robust (median absolute deviation) noise SD
"""

from exo_vision._shared.lazy import lazy_exports

_EXPORTS = {
    "atomic_write": "exo_vision._shared.atomic",
    "atomic_write_text": "exo_vision._shared.atomic",
    "atomic_write_bytes": "exo_vision._shared.atomic",
    "sha256_file": "exo_vision._shared.atomic",
    "peak_rss_mb": "exo_vision._shared.resources",
    "as_float_image": "exo_vision._shared.validation",
    "check_pixel_size": "exo_vision._shared.validation",
    "check_diameter_range": "exo_vision._shared.validation",
    "mad_sd": "exo_vision._shared.robust",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
