"""Models fine-tuned inside a grid session: where they are written and how their before/after figures read.

GUI-free; the grid session's learning panel (:mod:`exo_vision.plugins._learning`) shows these.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

#: Folder (inside the grid's output folder) where fine-tuned models are written.
MODELS_FOLDER = "learned_models"


def new_model_path(output_dir: str | Path, *, now: dt.datetime | None = None) -> Path:
    """Path of a new fine-tuned model for a grid: ``<output_dir>/learned_models/grid_model_<YYYYmmdd_HHMMSS>.onnx``.

    ``now`` is the time stamped in the name (local time; the current time when None).
    """
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d_%H%M%S")
    return Path(output_dir) / MODELS_FOLDER / f"grid_model_{stamp}.onnx"


def _figure(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.3f}"


def comparison_text(result: Any) -> str:
    """The before -> after F1, precision and recall of a :class:`~exo_vision.learn.finetune.FineTuneResult`
    on its held-out curated micrographs, in two lines, and a third naming the checkpoint kept when one was
    chosen on a held-out training micrograph."""
    before, after = result.before, result.after
    changes = ", ".join(
        f"{name} {_figure(before[key])} -> {_figure(after[key])}"
        for name, key in (("F1", "f1"), ("precision", "precision"), ("recall", "recall"))
    )
    text = f"held-out curated micrographs ({', '.join(m.name for m in result.validation)}):\n{changes}"
    selection = getattr(result, "selection", None)
    if selection:
        text += f"\nkept step {selection['chosen_step']}, chosen on {', '.join(selection['micrographs'])}"
    return text
