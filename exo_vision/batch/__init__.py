"""Batch TEM analysis: many micrographs, atomic outputs, resume, local pool or Dask.

* :mod:`~exo_vision.batch.runner`        inputs, stems, jobs, local pool / Dask, :func:`run_tem_batch`
* :mod:`~exo_vision.batch.image_outputs` per-image labels/table/overlay and the completion marker
* :mod:`~exo_vision.batch.run_outputs`   vesicles.csv, summary.csv, histogram, errors.csv, run.json
* :mod:`~exo_vision.batch.config`        every parameter; TOML and run.json configuration files
"""

from exo_vision._shared.lazy import lazy_exports

_EXPORTS = {
    "run_tem_batch": "exo_vision.batch.runner",
    "TemBatchConfig": "exo_vision.batch.config",
    "read_config": "exo_vision.batch.config",
    "build_config": "exo_vision.batch.config",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
